"""An automatic schedule: what a pipeline runs with when it asks for one and gets no schedule.

After `auto_schedule(pipeline)`: a legal Schedule in which
  - a Func is inlined when that is cheap: it reads at most one input image and no Func (a
    boundary condition, a cast), or it is read at one place only, pointwise; every other Func
    is computed at root, once, instead of being recomputed at each of its uses;
  - every stage of a computed Func with a pure first dimension vectorizes it (in an update,
    after moving that loop inside the RVars' loops, which is legal since pure points are
    independent), and runs its last pure dimension, when it has two or more, in parallel.
Gradient pipelines ask for it (`Pipeline.auto_schedule`): their adjoints are stencils of
stencils, which inlining would recompute many times over.
"""

from __future__ import annotations

from pipelines.expr import Call, Var
from pipelines.func import Definition, Func, ImageParam
from pipelines.mutator import walk
from pipelines.pipeline import Pipeline, calls_in
from scheduler.schedule import Schedule, StageSchedule

VECTOR_WIDTH = 8  # lanes: a 512-bit vector of doubles, two 256-bit vectors of floats


def auto_schedule(pipeline: Pipeline) -> Schedule:
    """The automatic schedule of `pipeline` (module docstring)."""
    s = Schedule()
    uses = _call_sites(pipeline)
    for f in pipeline.funcs:
        root = f in pipeline.outputs or f.has_updates() or not _cheap(f, uses.get(f, []))
        if not root:
            s[f].compute_inline()
            continue
        s[f].compute_root()
        for k, d in enumerate(f.definitions):
            _loops(s[f] if k == 0 else s[f].update(k - 1), d)
    return s


def _call_sites(pipeline: Pipeline) -> dict[Func, list[Call]]:
    sites: dict[Func, list[Call]] = {}
    for f in pipeline.funcs:
        for call in calls_in(f):
            if isinstance(call.func, Func) and call.func is not f:
                sites.setdefault(call.func, []).append(call)
    return sites


def _cheap(f: Func, sites: list[Call]) -> bool:
    reads = [n for n in walk(f.definitions[0].value) if isinstance(n, Call)]
    if not any(isinstance(r.func, Func) for r in reads) and sum(isinstance(r.func, ImageParam) for r in reads) <= 1:
        return True
    return len(sites) == 1 and all(isinstance(a, Var) for a in sites[0].args)


def _loops(stage: StageSchedule, d: Definition) -> None:
    pure = [v for _, v in d.pure_vars]
    first = d.args[0] if d.args else None
    if isinstance(first, Var):
        if d.rvars:
            stage.reorder(first, *d.rvars, *[v for v in pure if v != first])
        stage.vectorize(first, VECTOR_WIDTH)
    if len(d.args) >= 2 and isinstance(d.args[-1], Var) and d.args[-1] != first:
        stage.parallel(d.args[-1])

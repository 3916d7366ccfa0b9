"""An automatic schedule: what a pipeline runs with when it asks for one and gets no schedule.

After `auto_schedule(pipeline)`: a legal Schedule in which
  - a Func is inlined only when it is read at one place, pointwise; every other Func is
    computed at root, once, instead of being recomputed at each of its uses (a boundary
    condition read by a stencil too: a padded copy read by contiguous vector loads is cheaper
    than clamping every coordinate of every tap);
  - every stage of a computed Func with a pure first dimension vectorizes it (in an update,
    after moving that loop inside the RVars' loops, which is legal since pure points are
    independent), split by the vector width (round_up in intermediates; where the extent is
    not a known multiple this becomes a guarded tail, which the "split vector tails" lowering
    pass moves out of the main vector loop), and runs its last pure dimension, when it has two
    or more, in parallel.
Gradient pipelines ask for it (`Pipeline.auto_schedule`): their adjoints are stencils of
stencils, which inlining would recompute many times over.
"""

from __future__ import annotations

from pipelines.expr import Call, Var
from pipelines.func import Definition, Func
from pipelines.pipeline import Pipeline, calls_in
from scheduler.schedule import Schedule, StageSchedule

VECTOR_WIDTH = 8  # lanes: a 512-bit vector of doubles, two 256-bit vectors of floats


def auto_schedule(pipeline: Pipeline, lanes: int = VECTOR_WIDTH) -> Schedule:
    """The automatic schedule of `pipeline` (module docstring), the innermost loops `lanes` wide."""
    s = Schedule()
    uses = _call_sites(pipeline)
    for f in pipeline.funcs:
        output = f in pipeline.outputs
        if not output and not f.has_updates() and _pointwise_once(uses.get(f, [])):
            s[f].compute_inline()
            continue
        s[f].compute_root()
        for k, d in enumerate(f.definitions):
            _loops(s[f] if k == 0 else s[f].update(k - 1), d, "auto" if output else "round_up", lanes)
    return s


def _call_sites(pipeline: Pipeline) -> dict[Func, list[Call]]:
    sites: dict[Func, list[Call]] = {}
    for f in pipeline.funcs:
        for call in calls_in(f):
            if isinstance(call.func, Func) and call.func is not f:
                sites.setdefault(call.func, []).append(call)
    return sites


def _pointwise_once(sites: list[Call]) -> bool:
    return len(sites) == 1 and all(isinstance(a, Var) for a in sites[0].args)


def _loops(stage: StageSchedule, d: Definition, tail: str, lanes: int) -> None:
    pure = [v for _, v in d.pure_vars]
    first = d.args[0] if d.args else None
    if isinstance(first, Var):
        if d.rvars:
            stage.reorder(first, *d.rvars, *[v for v in pure if v != first])
        inner = f"{first.name}_v"
        stage.split(first, first, inner, lanes, tail).vectorize(inner)
    if len(d.args) >= 2 and isinstance(d.args[-1], Var) and d.args[-1] != first:
        stage.parallel(d.args[-1])

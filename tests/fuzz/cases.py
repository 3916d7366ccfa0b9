"""Generated Specs (tests/fuzz/gen.py) made real: rendered as Python source, built, and scheduled.

`definitions(spec)` is the source that defines `pipeline`, `schedule`, `inputs` and `shape` (with
`@` for the name prefix), keeping only what the outputs reach; `build(spec)` executes it under a
prefix (`s<seed>_` the first time a seed is built in a process, so a case's C is the same in
every run and the disk cache serves it; a fresh one after that, so rebuilding never collides
with the language's name counters); `with_schedule(spec)` draws a random legal schedule for it
with `tests.scheduler.schedule_gen.draw_schedule`, seeded by the spec's seed, redrawing (up to
`DRAWS` times) a schedule whose C exceeds `C_LIMIT` characters, and keeps the lowering and C of
the schedule it chose on the `Built` (`check.compiled` compiles from them instead of lowering the
same pipeline again); `case(seed)` is both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from codegen.c_emit import emit_c
from pipelines.pipeline import Pipeline
from scheduler.lower import Lowering, lower
from scheduler.schedule import Schedule
from tests.fuzz.gen import (
    FLOAT_RTOL,
    IMAGE_SOURCE,
    VAR_NAMES,
    FuncSpec,
    InputSpec,
    Spec,
    dsl,
    generate,
    image,
    namespace,
    rdom_source,
)
from tests.scheduler.schedule_gen import RandomChooser, draw_schedule
from tests.scheduler.zoo import Case

C_LIMIT = 24_000  # characters of C a drawn schedule may produce before it is redrawn
DRAWS = 2

# ---------------------------------------------------------------- rendering and building


def _refs(text: str) -> set[str]:
    return set(re.findall(r"@(\w+)", text))


def live_parts(spec: Spec) -> tuple[list[FuncSpec], list[tuple[str, str]], list[InputSpec], list[Any]]:
    """The Funcs, boundaries, inputs and params the outputs reach, in definition order."""
    by_name = {f.name: f for f in spec.funcs}
    boundary_of = dict(spec.boundaries)
    wanted: set[str] = set()
    stack = list(spec.outputs)
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        wanted.add(name)
        if name in by_name:
            f = by_name[name]
            texts = [s.text for s in f.stmts] + [rdom_source(r) for r in f.rdoms]
            stack.extend(r for t in texts for r in _refs(t))
        elif name in boundary_of:
            stack.extend(_refs(boundary_of[name]))
    funcs = [f for f in spec.funcs if f.name in wanted]
    boundaries = [b for b in spec.boundaries if b[0] in wanted]
    inputs = [i for i in spec.inputs if i.name in wanted]
    params = [p for p in spec.params if p[0] in wanted]
    return funcs, boundaries, inputs, params


def definitions(spec: Spec) -> str:
    """Python source (with `@` for the name prefix) that defines `pipeline`, `schedule`, `inputs`
    and `shape`, given `np`, the names of `pipelines`, `image` and `Schedule`."""
    funcs, boundaries, inputs, params = live_parts(spec)
    lines = [f"{', '.join(VAR_NAMES)} = {', '.join(f'Var({v!r})' for v in VAR_NAMES)}"]
    for im in inputs:
        lines.append(f'@{im.name} = ImageParam({dsl(im.dtype)}, {spec.ndim}, "@{im.name}")')
    for name, t, value in params:
        lines.append(f'@{name} = Param({dsl(t)}, "@{name}", {value!r})')
    for name, source in boundaries:
        lines.append(f"@{name} = {source}")
    for f in funcs:
        lines.extend(rdom_source(r) for r in f.rdoms)
        lines.append(f'@{f.name} = Func("@{f.name}")')
        lines.extend(s.text for s in f.stmts)
    lines.append(f"pipeline = Pipeline([{', '.join('@' + o for o in spec.outputs)}])")
    lines.append("for k, f in enumerate(f for f in pipeline.funcs if not f.name.startswith(PREFIX)):")
    lines.append('    f.name = f"{PREFIX}red{k}"  # the anonymous Funcs of sum() and friends')
    schedule = "None" if spec.schedule is None else f"Schedule.from_json('''{spec.schedule}''')"
    lines.append(f"schedule = {schedule}")
    lines.append(f"rng = np.random.default_rng({spec.seed})")
    entries = [f'"@{im.name}": image(rng, "{im.dtype.numpy.name}", {spec.in_shape})' for im in inputs]
    entries += [f'"@{name}": {value!r}' for name, _, value in params]
    lines.append("given = {" + ", ".join(entries) + "}")
    lines.append("inputs = {k: v for k, v in given.items() if k in pipeline.inputs}")
    shapes = [spec.out_shape] * len(spec.outputs)
    lines.append(f"shape = {shapes[0] if len(shapes) == 1 else shapes}  # numpy order; one per output")
    return "\n".join(lines)


_builds = 0


@dataclass
class Built:
    """A Spec made real under one name prefix."""

    spec: Spec
    prefix: str
    pipeline: Pipeline
    schedule: Schedule | None
    inputs: dict[str, Any]
    shape: Any  # the shape= of a call
    # `lower(pipeline, schedule)` and its C, when `with_schedule` computed them to size the draw
    lowered: Lowering | None = None
    c_source: str | None = None
    refused: bool = False  # the compiled call refused wrapping int32 index arithmetic (check.outcome)


def build(spec: Spec, prefix: str | None = None) -> Built:
    """Execute the Spec's definitions. `prefix` defaults to `s<seed>_` the first time a seed is
    built in this process (so a case's C is the same in every run, and the disk cache serves it),
    and to a fresh one after that."""
    global _builds
    _builds += 1
    if prefix is None:
        prefix = f"s{spec.seed}_" if spec.seed not in _built_seeds else f"s{spec.seed}n{_builds}_"
        _built_seeds.add(spec.seed)
    ns = namespace()
    ns.update(image=image, Schedule=Schedule, PREFIX=prefix)
    exec(definitions(spec).replace("@", prefix), ns)
    schedule = ns["schedule"]
    if schedule is not None:
        schedule = _fit(schedule, ns["pipeline"])
    return Built(spec, prefix, ns["pipeline"], schedule, ns["inputs"], ns["shape"])


_built_seeds: set[int] = set()


def _fit(schedule: Schedule, pipeline: Pipeline) -> Schedule:
    """The schedule without entries for Funcs the pipeline lacks, placements at them, nor
    directives for updates they lack (a shrunk pipeline may have lost them)."""
    funcs = {f.name: f for f in pipeline.funcs}
    names = set(funcs)
    out = Schedule()
    for name, fs in schedule.funcs.items():
        if name not in names:
            continue
        stages = len(funcs[name].definitions)
        fs = replace(fs, stages={k: v for k, v in fs.stages.items() if k < stages})
        if getattr(fs.compute, "consumer", None) not in (None, *names):
            fs.compute = None
        if getattr(fs.store, "consumer", None) not in (None, *names):
            fs.store = None
        out.funcs[name] = fs
    return out


def as_case(built: Built) -> Case:
    """The zoo Case that `draw_schedule` draws for: outputs bounded to their call extents."""
    extents = {
        o.name: {v.name: n for v, n in zip(o.args, reversed(built.spec.out_shape))} for o in built.pipeline.outputs
    }
    return Case(
        f"fuzz{built.spec.seed}",
        built.pipeline,
        built.inputs,
        built.shape,
        FLOAT_RTOL,
        output_extents=extents,
    )


def with_schedule(spec: Spec) -> tuple[Spec, Built]:
    """`spec` with a random legal schedule drawn for it (seeded by the spec's seed), and its build.

    A draw whose C exceeds `C_LIMIT` characters is redrawn (up to `DRAWS` times, keeping the
    smallest): gcc's time grows with the C, and the default run must build 500 cases in minutes."""
    built = build(spec)
    best: tuple[Schedule, Lowering, str] | None = None
    for attempt in range(DRAWS):
        schedule = draw_schedule(RandomChooser(spec.seed + attempt * 1_000_003), as_case(built))
        lowered = lower(built.pipeline, schedule)
        source = emit_c(lowered)
        if best is None or len(source) < len(best[2]):
            best = (schedule, lowered, source)
        if len(source) <= C_LIMIT:
            break
    assert best is not None
    built.schedule, built.lowered, built.c_source = best
    return replace(spec, schedule=built.schedule.to_json().replace(built.prefix, "@")), built


def case(seed: int) -> tuple[Spec, Built]:
    """The scheduled case of `seed`, built."""
    return with_schedule(generate(seed))


__all__ = [
    "FLOAT_RTOL",
    "IMAGE_SOURCE",
    "Built",
    "as_case",
    "build",
    "case",
    "definitions",
    "live_parts",
    "with_schedule",
]

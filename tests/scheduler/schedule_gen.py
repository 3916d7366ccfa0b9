"""Random LEGAL schedules for a pipeline, drawn through a `Chooser` (hypothesis or a seeded RNG).

`draw_schedule(chooser, case)` returns a `Schedule` that the compiler must accept and that must
not change any result. It keeps a model of every stage's loops (names, order, which came from
RVars and in which RDom order, constant extents, kinds) as directives are added, and only adds
a directive that is legal in that model:

- placement: inline only pure non-output Funcs; compute_at(C, v) only where loop v of C's pure
  stage encloses every use of the Func (uses by C's stage 0, or by Funcs computed inside that
  loop, directly or through other computed Funcs), and at most one Func at or inside the fused
  loops of a consumer (see `compute_at_options`); store_at only at a loop of the same
  consumer outside-or-equal the compute loop with no parallel loop between them (shared
  storage would race); store_root only where no parallel loop encloses the compute level;
- split tails: shift_inwards only on pure loops of pure definitions; round_up only on pure
  loops of intermediates, or where the factor divides a constant extent;
- reorder and tile keep the loops of one RDom in their order (first RVar innermost);
- fuse only two adjacent loops, both pure or both from RVars;
- parallel and vectorize only on pure loops and RVars listed as independent (`Case.free_rvars`),
  and parallel only in Funcs not drawn for compute_at;
- bound only on outputs, at their call extents; stream (non-temporal stores) only on
  outputs without updates.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from pipelines.expr import Call, Const, RVar, Var
from pipelines.func import Func
from pipelines.mutator import walk
from pipelines.pipeline import definition_exprs
from scheduler.schedule import Schedule, StageSchedule
from tests.scheduler.zoo import Case

T = TypeVar("T")

SPLIT_FACTORS = (1, 2, 3, 4, 5, 8, 16, 64)
VECTOR_WIDTHS = (2, 4, 8, 16)
UNROLL_FACTORS = (2, 3, 4)
MAX_FULL_UNROLL = 8
# How many loop directives of each sort (structural, then marks) a stage gets, by weight: more
# nest the index expressions deeply, and the C grows to hundreds of kB that gcc takes seconds on.
DIRECTIVE_COUNTS = (0, 0, 1, 1, 1, 2)


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...

    def chance(self, percent: int) -> bool: ...


class HypothesisChooser:
    """Draws from a hypothesis `data` object (shrinks toward fewer, simpler directives)."""

    def __init__(self, data: Any):
        self.data = data

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def choice(self, options: Sequence[T]) -> T:
        return self.data.draw(st.sampled_from(list(options)))

    def chance(self, percent: int) -> bool:
        return self.data.draw(st.integers(0, 99)) >= 100 - percent


class RandomChooser:
    """Draws from a seeded `random.Random`."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(list(options))

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent


# ---------------------------------------------------------------- the loops of one stage


@dataclass
class Loop:
    name: str
    key: tuple[int, ...] | None  # RDom order key (RVar index, then 0 outer / 1 inner per split); None: pure
    free: bool  # may run in parallel or as SIMD lanes
    extent: int | None  # constant extent when known
    kind: str = "serial"
    fused: bool = False  # made by fuse, or split from such a loop


@dataclass
class StageModel:
    """The loops of one stage, innermost first, as the schedule so far makes them."""

    update: bool
    output: bool
    loops: list[Loop]
    fuses: int = 0  # fuse directives so far (to name the fused loops)

    def find(self, name: str) -> int:
        return next(k for k, loop in enumerate(self.loops) if loop.name == name)

    def names(self) -> set[str]:
        return {loop.name for loop in self.loops}

    def rvar_order_ok(self) -> bool:
        keys = [tuple(-k if n == 0 else k for n, k in enumerate(lp.key)) for lp in reversed(self.loops) if lp.key]
        return keys == sorted(keys)

    def split(self, name: str, outer: str, inner: str, factor: int) -> None:
        k = self.find(name)
        old = self.loops[k]
        count = None if old.extent is None else -(-old.extent // factor)
        okey = None if old.key is None else old.key + (0,)
        ikey = None if old.key is None else old.key + (1,)
        self.loops[k : k + 1] = [
            Loop(inner, ikey, old.free, factor, fused=old.fused),
            Loop(outer, okey, old.free, count, fused=old.fused),
        ]

    def reorder(self, names: Sequence[str]) -> None:
        slots = sorted(self.find(n) for n in names)
        chosen = [self.loops[self.find(n)] for n in names]
        for slot, loop in zip(slots, chosen, strict=True):
            self.loops[slot] = loop

    def outermost_first(self) -> list[Loop]:
        return list(reversed(self.loops))


def stage_model(func: Func, stage: int, case: Case, output: bool) -> StageModel:
    d = func.definitions[stage]
    loops = []
    for k, rv in enumerate(d.rvars):
        extent = int(rv.extent.value) if isinstance(rv.extent, Const) else None
        loops.append(Loop(rv.name, (k,), rv.name in case.free_rvars, extent))
    for a in d.args:
        if isinstance(a, Var):  # its extent is the Func's region: not a constant to the compiler
            loops.append(Loop(a.name, None, True, None))
    return StageModel(stage > 0, output, loops)


class StageDrawer:
    """Adds random legal loop directives to one stage, keeping its model in step."""

    def __init__(self, ch: Chooser, handle: StageSchedule, model: StageModel, parallel: bool = True):
        self.ch, self.handle, self.model, self.may_parallel = ch, handle, model, parallel

    def tails(self, loop: Loop, factor: int) -> list[str]:
        out = ["auto", "guard_with_if"]
        if not self.model.update and loop.key is None:
            out.append("shift_inwards")
        if (loop.extent is not None and loop.extent % factor == 0) or not (self.model.output or loop.key):
            out.append("round_up")
        return out

    def draw(self) -> None:
        if not self.model.loops:  # a 0-dimensional pure stage has no loop to schedule
            return
        for _ in range(self.ch.choice(DIRECTIVE_COUNTS)):
            kind = self.ch.choice(("split", "split", "tile", "reorder", "fuse"))
            getattr(self, kind)()
        for _ in range(self.ch.choice(DIRECTIVE_COUNTS)):
            kind = self.ch.choice(("vectorize", "vectorize", "unroll", "parallel"))
            getattr(self, kind)()

    def _fresh(self, base: str) -> str:
        taken = self.model.names()
        name = base
        while name in taken:
            name += "_"
        return name

    def split(self) -> None:
        loop = self.ch.choice(self.model.loops)
        factor = self.ch.choice(SPLIT_FACTORS)
        tail = self.ch.choice(self.tails(loop, factor))
        outer, inner = self._fresh(loop.name + "_o"), self._fresh(loop.name + "_i")
        self.model.split(loop.name, outer, inner, factor)
        self.handle.split(loop.name, outer, inner, factor, tail)

    def tile(self) -> None:
        if len(self.model.loops) < 2:
            return
        a = self.ch.choice(self.model.loops)
        b = self.ch.choice([lp for lp in self.model.loops if lp is not a])
        fa, fb = self.ch.choice(SPLIT_FACTORS), self.ch.choice(SPLIT_FACTORS)
        tails = [t for t in self.tails(a, fa) if t in self.tails(b, fb)]
        tail = self.ch.choice(tails)
        ao, ai = self._fresh(a.name + "_o"), self._fresh(a.name + "_i")
        bo, bi = self._fresh(b.name + "_o"), self._fresh(b.name + "_i")
        if len({ao, ai, bo, bi}) < 4:
            return
        trial = copy.deepcopy(self.model)
        trial.split(a.name, ao, ai, fa)
        trial.split(b.name, bo, bi, fb)
        trial.reorder((ai, bi, ao, bo))
        if trial.rvar_order_ok():
            self.model.loops = trial.loops
            self.handle.tile(a.name, b.name, ao, bo, ai, bi, fa, fb, tail)

    def reorder(self) -> None:
        names = [lp.name for lp in self.model.loops]
        if len(names) < 2:
            return
        count = self.ch.integer(2, min(4, len(names)))
        chosen = []
        for _ in range(count):
            chosen.append(self.ch.choice([n for n in names if n not in chosen]))
        trial = copy.deepcopy(self.model)
        trial.reorder(chosen)
        if trial.rvar_order_ok():
            self.model.loops = trial.loops
            self.handle.reorder(*chosen)

    def fuse(self) -> None:
        loops = self.model.loops
        pairs = [k for k in range(len(loops) - 1) if (loops[k].key is None) == (loops[k + 1].key is None)]
        if not pairs:
            return
        k = self.ch.choice(pairs)
        inner, outer = loops[k], loops[k + 1]
        self.model.fuses += 1
        name = self._fresh(f"fused{self.model.fuses}")
        extent = None if inner.extent is None or outer.extent is None else inner.extent * outer.extent
        loops[k : k + 2] = [Loop(name, outer.key, inner.free and outer.free, extent, fused=True)]
        self.handle.fuse(inner.name, outer.name, name)

    def vectorize(self) -> None:
        options = [k for k, lp in enumerate(self.model.loops) if lp.free]
        if not options:
            return
        k = self.ch.choice(options)
        loop = self.model.loops[k]
        if self.ch.chance(70) and loop.name + ".v" not in self.model.names():
            width = self.ch.choice(VECTOR_WIDTHS)
            self.model.split(loop.name, loop.name, loop.name + ".v", width)
            self.model.loops[k].kind = "vectorized"
            self.handle.vectorize(loop.name, width)
        else:
            loop.kind = "vectorized"
            self.handle.vectorize(loop.name)

    def unroll(self) -> None:
        k = self.ch.integer(0, len(self.model.loops) - 1)
        loop = self.model.loops[k]
        small = loop.extent is not None and loop.extent <= MAX_FULL_UNROLL  # bigger: slow C compiles
        if (self.ch.chance(60) or not small) and loop.name + ".u" not in self.model.names():
            factor = self.ch.choice(UNROLL_FACTORS)
            self.model.split(loop.name, loop.name, loop.name + ".u", factor)
            self.model.loops[k].kind = "unrolled"
            self.handle.unroll(loop.name, factor)
        elif small:
            loop.kind = "unrolled"
            self.handle.unroll(loop.name)

    def parallel(self) -> None:
        options = [k for k, lp in enumerate(self.model.loops) if lp.free and self.may_parallel]
        if options:
            loop = self.model.loops[self.ch.choice(options)]
            loop.kind = "parallel"
            self.handle.parallel(loop.name)


# ---------------------------------------------------------------- placement


def direct_callees(func: Func, stage: int) -> set[Func]:
    """The Funcs one definition of `func` reads (itself excluded)."""
    out = set()
    for e in definition_exprs(func.definitions[stage]):
        for n in walk(e):
            if isinstance(n, Call) and isinstance(n.func, Func) and n.func is not func:
                out.add(n.func)
            if isinstance(n, RVar):
                for m in (*walk(n.min), *walk(n.extent)):
                    if isinstance(m, Call) and isinstance(m.func, Func):
                        out.add(m.func)
    return out


def computed_callees(func: Func, stage: int, computed: set[Func]) -> set[Func]:
    """The computed Funcs one definition reads once every other Func is inlined into it."""
    out: set[Func] = set()
    stack = list(direct_callees(func, stage))
    seen: set[Func] = set()
    while stack:
        g = stack.pop()
        if g in seen:
            continue
        seen.add(g)
        if g in computed:
            out.add(g)
        else:
            stack.extend(direct_callees(g, 0))
    return out


@dataclass
class Placement:
    """Decisions so far: which Funcs are computed, and where each compute_at Func sits."""

    computed: set[Func]
    models: dict[Func, StageModel] = field(default_factory=dict)  # stage 0 of each computed Func
    anchor: dict[Func, tuple[Func, str]] = field(default_factory=dict)
    at_fused: dict[Func, Func] = field(default_factory=dict)  # consumer -> the Func at its fused loops

    def within_fused(self, f: Func) -> bool:
        """Whether `f` is computed at a fused loop, or inside a Func that is."""
        at = self.anchor.get(f)
        while at is not None:
            if self.at_fused.get(at[0]) is f:
                return True
            f = at[0]
            at = self.anchor.get(f)
        return False

    def position(self, consumer: Func, var: str) -> int:
        """Depth of loop `var` in the consumer's stage 0, 0 for the outermost."""
        return [lp.name for lp in self.models[consumer].outermost_first()].index(var)

    def inside(self, reader: Func, stages: set[int], consumer: Func, var: str) -> bool:
        """Whether every read by `reader` (in `stages`) runs inside loop `var` of `consumer`."""
        if reader is consumer:
            return stages == {0}
        at = self.anchor.get(reader)
        while at is not None:
            holder, loop = at
            if holder is consumer:
                return self.position(consumer, loop) >= self.position(consumer, var)
            at = self.anchor.get(holder)
        return False

    def parallel_above(self, consumer: Func, depth: int, start: int = 0) -> bool:
        """A parallel loop at depths [start, depth] of the consumer, or (start 0) around it."""
        loops = self.models[consumer].outermost_first()
        if any(lp.kind == "parallel" for lp in loops[start : depth + 1]):
            return True
        at = self.anchor.get(consumer)
        if start == 0 and at is not None:
            return self.parallel_above(at[0], self.position(at[0], at[1]))
        return False


def compute_at_options(p: Placement, case: Case, f: Func, readers: dict[Func, set[int]]) -> list[tuple[Func, str]]:
    """Every (consumer, loop) where `f` may be computed: the loop encloses all its reads.

    Also, to keep lowering fast: at most one Func is computed at the fused loops of a consumer
    (or inside one), and nothing inside that Func or around its readers. Regions at a fused
    loop are symbolic Div/Mod bounds that grow about 4x with each Func nested there (a known
    performance bug, see test_bounds.py): a random schedule took minutes to lower."""
    if any(p.within_fused(r) for r in readers):
        return []
    options = []
    for consumer in case.pipeline.funcs:  # in pipeline order, so that a seeded draw is reproducible
        if consumer is f or consumer not in p.computed or p.within_fused(consumer):
            continue
        fused = False
        for loop in p.models[consumer].outermost_first():
            fused = fused or loop.fused
            if fused and consumer in p.at_fused:
                break
            if all(p.inside(r, stages, consumer, loop.name) for r, stages in readers.items()):
                options.append((consumer, loop.name))
    return options


def draw_schedule(ch: Chooser, case: Case) -> Schedule:
    """A random legal schedule for `case` (see the module docstring)."""
    pipeline = case.pipeline
    s = Schedule()
    outputs = set(pipeline.outputs)
    wanted: dict[Func, str] = {}
    for f in pipeline.funcs:
        if f in outputs:
            continue
        kinds = ["root", "root", "at"]  # each Func computed at a loop adds ~30 kB of region C
        if not f.has_updates() and f.name not in case.never_inline:
            kinds += ["inline", "inline"]
        wanted[f] = ch.choice(kinds)
    computed = {f for f in pipeline.funcs if wanted.get(f) != "inline"}
    p = Placement(computed)
    for f in pipeline.funcs:
        if f not in computed:
            s[f].compute_inline()
            continue
        for stage in range(len(f.definitions)):
            model = stage_model(f, stage, case, f in outputs)
            handle = s[f] if stage == 0 else s[f].update(stage - 1)
            if stage == 0 and f in outputs:
                draw_bound(ch, handle, model, case.output_extents.get(f.name, {}))
                if not f.has_updates() and ch.chance(25):
                    handle.stream()
            # No parallel loops in a Func meant for compute_at: inside another Func's loops it
            # would start a thread team per iteration, thousands per call, each costing
            # milliseconds while the C compiler keeps both cores busy (a 2 s call took 50 s).
            StageDrawer(ch, handle, model, parallel=wanted.get(f) != "at").draw()
            if stage == 0:
                p.models[f] = model
    readers: dict[Func, dict[Func, set[int]]] = {f: {} for f in computed}
    for g in computed:
        for stage in range(len(g.definitions)):
            for f in computed_callees(g, stage, computed):
                readers[f].setdefault(g, set()).add(stage)
    for f in reversed(pipeline.funcs):  # consumers first: their places are known
        if f not in computed or f in outputs:
            continue
        options = compute_at_options(p, case, f, readers[f]) if wanted[f] == "at" else []
        if not options:
            s[f].compute_root()
            if ch.chance(10):
                s[f].store_root()  # says nothing new, and must be accepted
            continue
        consumer, var = ch.choice(options)
        p.anchor[f] = (consumer, var)
        if any(lp.fused for lp in p.models[consumer].outermost_first()[: p.position(consumer, var) + 1]):
            p.at_fused[consumer] = f
        s[f].compute_at(consumer, var)
        draw_store(ch, s, p, f, consumer, var)
    return s


def draw_bound(ch: Chooser, handle: StageSchedule, model: StageModel, extents: dict[str, int]) -> None:
    """Sometimes bound an output's var to exactly its call extent (before any split of it)."""
    known = [lp for lp in model.loops if lp.name in extents]
    if known and ch.chance(15):
        loop = ch.choice(known)
        handle.bound(loop.name, 0, extents[loop.name])


def draw_store(ch: Chooser, s: Schedule, p: Placement, f: Func, consumer: Func, var: str) -> None:
    depth = p.position(consumer, var)
    loops = p.models[consumer].outermost_first()
    options: list[str | None] = [None]
    for outer in range(depth + 1):
        if not p.parallel_above(consumer, depth, start=outer + 1):
            options.append(loops[outer].name)
    if not p.parallel_above(consumer, depth):
        options.append("<root>")
    choice = ch.choice(options) if ch.chance(40) else None
    if choice == "<root>":
        s[f].store_root()
    elif choice is not None:
        s[f].store_at(consumer, choice)

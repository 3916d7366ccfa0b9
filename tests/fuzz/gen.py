"""A seeded random pipeline generator, a differential check, and a shrinker that prints a repro.

`generate(seed)` returns a `Spec`: a small random DAG of Funcs over 1 to 3 dimensions, as data
that renders to Python source. It draws from everything the language has: stencil reads at
constant offsets, scaled (`2 * x`, `x / 2`) and data-dependent coordinates, every boundary
condition, raw input reads, pointwise ops of every numeric type and bool, casts between any
two types, selects, comparisons, min/max/clamp/lerp, floor/ceil/round/sqrt/abs, params,
update definitions over RDoms with `where` predicates (accumulations, scans, histograms with
data-dependent left-hand sides), inline `sum`/`maximum`/`minimum`, 1-d lookup tables read at
data-dependent coordinates, and one to three outputs. `with_schedule(spec)` adds a random
legal schedule drawn by `tests.scheduler.schedule_gen.draw_schedule` (through a zoo `Case`),
in tests/fuzz/cases.py, which also renders a Spec as source and builds it.

What holds: the same seed gives the same Spec, the same source text and the same schedule in
any process. Every Func name, RDom name and input name starts with a per-build prefix, so a
Spec can be built many times in one process (the shrinker does) without the language's name
counters renaming anything, and the anonymous Funcs of inline reductions are renamed
`<prefix>red<k>` so schedules can name them. Every expression is exact in both the
interpreter and C (+ - * / sqrt floor, casts ... are IEEE or integer operations) except the
transcendental functions (exp, log, sin, cos, tanh, pow), which are only ever the outermost
operation of a float output: a one-ulp difference in them is never amplified by a cast, a
comparison or a cancellation. Raw (unbounded) input reads stay inside the input: each Func
tracks how far from its point it reads inputs (`reach`), kept within `MARGIN`, and inputs are
`2 * MARGIN` larger than outputs in every dimension with raw reads shifted by `MARGIN`.
Data-dependent coordinates nest at most `MAX_NESTING` deep, so the source always parses.

Checking a case, shrinking a failing one and printing it as a program: tests/fuzz/check.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pipelines.func import DefinitionError
from pipelines.types import DType, IRTypeError, bool_, float32, float64, int8, int16, int32, uint8, uint16, uint32

NUMERIC: tuple[DType, ...] = (uint8, uint16, uint32, int8, int16, int32, float32, float64)
ALL_TYPES: tuple[DType, ...] = (*NUMERIC, bool_)
VAR_NAMES = ("x", "y", "z")
MARGIN = 4  # how far (in coordinates) a Func may read inputs from its own point
FLOAT_RTOL = 1e-5
LUT_SIZE = 16
# Data-dependent coordinates (a LUT index, a gather offset) nest at most this deep: each level
# draws a fresh expression that may read a LUT again, and Python's parser refuses source nested
# past 200 parentheses (seed 2010947 nested reads until it did). Of seeds 0 to 2999, five nest
# deeper (the deepest 48 levels) and changed when the limit came; the others are as before.
MAX_NESTING = 16
INLINE_MATH = ("exp", "log", "sin", "cos", "tanh")
OUTPUT_SHAPES = {1: [(23,), (31,), (17,)], 2: [(9, 13), (11, 7), (6, 17)], 3: [(3, 5, 7), (2, 6, 9), (4, 3, 5)]}

# Defines `image(rng, dtype, shape)`; exec'd here and copied into every printed program, so the
# test and its repro draw the same data.
IMAGE_SOURCE = '''
def image(rng, dtype, shape):
    """Random values over the type's whole range, with a few special ones."""
    t = np.dtype(dtype)
    if t.kind == "f":
        a = rng.uniform(-40, 40, shape).astype(t)
        specials = [0.0, -0.0, 0.5, -1.5, 1e30, -1e30, np.inf, np.nan]
    else:
        info = np.iinfo(t)
        a = rng.integers(info.min, info.max, shape, endpoint=True, dtype=t)
        specials = [0, 1, info.min, info.max]
    flat = a.reshape(-1)
    for k in rng.choice(flat.size, 3 if flat.size > 3 else flat.size, replace=False):  # `min` is the DSL's here
        flat[k] = specials[int(rng.integers(len(specials)))]
    return a
'''
_image_ns: dict[str, Any] = {"np": np}
exec(IMAGE_SOURCE, _image_ns)
image: Callable[[np.random.Generator, str, tuple[int, ...]], np.ndarray] = _image_ns["image"]


# ---------------------------------------------------------------- the spec


@dataclass(frozen=True)
class E:
    """Python source of an expression (or a statement) with `@` for the name prefix: `fmt` with
    `{k}` standing for the text of `kids[k]`. `dtype` is None for statements; `ref` names the Func
    a call node reads (so dropping that Func can replace the node)."""

    fmt: str
    kids: tuple[E, ...] = ()
    dtype: DType | None = None
    ref: str = ""

    @property
    def text(self) -> str:
        return self.fmt.format(*(k.text for k in self.kids)) if self.kids else self.fmt

    def nodes(self) -> Iterator[E]:
        yield self
        for k in self.kids:
            yield from k.nodes()


def dsl(t: DType) -> str:
    """The name of `t` in the language (`bool_` for bool)."""
    return "bool_" if t == bool_ else t.name


def const(t: DType, value: int | float = 0) -> E:
    return E(f"cast({dsl(t)}, {value!r})", (), t)


@dataclass(frozen=True)
class RDomSpec:
    name: str
    bounds: str  # the list of (min, extent) pairs, as source
    where: E | None = None


@dataclass(frozen=True)
class FuncSpec:
    name: str
    dtype: DType
    stmts: tuple[E, ...]  # the pure definition, then the updates
    rdoms: tuple[RDomSpec, ...] = ()  # defined before the Func


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: DType


@dataclass(frozen=True)
class Spec:
    """A generated case: the pipeline as source fragments, its data and its schedule."""

    seed: int
    ndim: int
    out_shape: tuple[int, ...]  # numpy order, the same for every output
    inputs: tuple[InputSpec, ...]
    params: tuple[tuple[str, DType, int | float], ...]  # name, type, value passed
    boundaries: tuple[tuple[str, str], ...]  # name, source of the boundary Func
    funcs: tuple[FuncSpec, ...]
    outputs: tuple[str, ...]
    schedule: str | None = None  # JSON, names with "@" for the prefix

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(n + 2 * MARGIN for n in self.out_shape)


# ---------------------------------------------------------------- generation


@dataclass
class Source:
    """Something an expression can read."""

    name: str
    kind: str  # "boundary", "raw", "func", "output", "final" (never read), "lut", "hist"
    dtype: DType
    reach: int = 0


@dataclass
class Context:
    """Where an expression is evaluated: coordinate texts per dimension, extra offsets that an
    RDom adds to reads (with their reach), the RVars usable as values."""

    coords: tuple[str, ...]
    offsets: tuple[str, ...]
    extra_reach: int = 0
    rvars: tuple[str, ...] = ()
    absolute: bool = False  # coords[0] is an absolute coordinate (a scan's RVar)


class Generator:
    """Draws one Spec from a seeded `random.Random` (see the module docstring)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(seed)
        self.ns: dict[str, Any] = namespace()
        self.prefix = f"g{seed}_"
        self.sources: list[Source] = []
        self.params: list[tuple[str, DType, int | float]] = []
        self.rdoms: list[RDomSpec] = []
        self.rdom_count = 0
        self.reach = 0  # the reach of the Func being generated
        self.in_output = False  # whether the Func being generated is an output
        self.reduce_budget = 0
        self.ndim = 1
        self.nesting = 0  # data-dependent coordinates the expression being drawn lies in

    # -- helpers
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, options: Any) -> Any:
        return self.rng.choice(list(options))

    def dtype_of(self, e: E) -> DType | None:
        """The type of `e`, or None when the language refuses it."""
        try:
            value = eval(e.text.replace("@", self.prefix), self.ns)
        except (IRTypeError, DefinitionError, TypeError, ValueError):
            return None
        return value.dtype

    def typed(self, e: E, t: DType, fallback: Callable[[], E]) -> E:
        got = self.dtype_of(e)
        if got is None:
            return fallback()
        e = replace(e, dtype=got)
        return e if got == t else E(f"cast({dsl(t)}, {{0}})", (e,), t)

    def run(self, line: str) -> None:
        exec(line.replace("@", self.prefix), self.ns)

    # -- the whole pipeline
    def generate(self) -> Spec:
        rng = self.rng
        self.ndim = rng.choice((1, 2, 2, 2, 3))
        shape = self.pick(OUTPUT_SHAPES[self.ndim])
        self.run(f"{', '.join(VAR_NAMES)} = {', '.join(f'Var({v!r})' for v in VAR_NAMES)}")
        inputs = []
        boundaries = []
        for k in range(rng.choice((1, 1, 2))):
            im = InputSpec(f"in{k}", self.pick(NUMERIC))
            inputs.append(im)
            self.run(f'@{im.name} = ImageParam({dsl(im.dtype)}, {self.ndim}, "@{im.name}")')
            self.sources.append(Source(im.name, "raw", im.dtype))
            for j in range(rng.choice((0, 1, 1))):
                kind = self.pick(("repeat_edge", "constant_exterior", "mirror_image", "mirror_interior"))
                arg = f"@{im.name}, cast({dsl(im.dtype)}, 7)" if kind == "constant_exterior" else f"@{im.name}"
                name = f"{im.name}_b{j}"
                boundaries.append((name, f"{kind}({arg})"))
                self.run(f"@{name} = {kind}({arg})")
                self.sources.append(Source(name, "boundary", im.dtype))
        for k in range(rng.choice((0, 0, 1, 2))):
            t = self.pick(NUMERIC)
            value: int | float = rng.choice((0.5, -2.25, 3.0)) if t.is_float else rng.randint(0, 9)
            self.params.append((f"p{k}", t, value))
            self.run(f'@p{k} = Param({dsl(t)}, "@p{k}", {value!r})')
        funcs: list[FuncSpec] = []
        if self.chance(0.15):
            funcs.append(self.lut(len(funcs)))
        if self.chance(0.15):
            funcs.append(self.histogram(len(funcs), inputs[0]))
        count = rng.choice((1, 1, 2, 2, 3))
        outputs = []
        for k in range(count):
            output = k == count - 1 or self.chance(0.2)
            f = self.func(len(funcs), output)
            funcs.append(f)
            if output:
                outputs.append(f.name)
        return Spec(
            self.seed,
            self.ndim,
            shape,
            tuple(inputs),
            tuple(self.params),
            tuple(boundaries),
            tuple(funcs),
            tuple(outputs),
        )

    def define(self, f: FuncSpec, source: Source) -> FuncSpec:
        for r in f.rdoms:
            self.run(rdom_source(r))
        self.run(f'@{f.name} = Func("@{f.name}")')
        for s in f.stmts:
            self.run(s.text)
        self.sources.append(source)
        return f

    def new_rdom(self, bounds: str) -> str:
        name = f"r{self.rdom_count}"
        self.rdom_count += 1
        self.run(f'@{name} = RDom({bounds}, name="@{name}")')
        return name

    # -- kinds of Func
    def lut(self, k: int) -> FuncSpec:
        """A 1-d table over x, read later at data-dependent coordinates."""
        t = self.pick(NUMERIC)
        ctx = Context(("x",), ("",))
        saved = self.sources
        self.sources = []  # reads nothing: its reads would be 1-d
        value = self.expr(t, 2, ctx)
        self.sources = saved
        name = f"f{k}"
        return self.define(FuncSpec(name, t, (E(f"@{name}[x] = {{0}}", (value,)),)), Source(name, "lut", t))

    def histogram(self, k: int, im: InputSpec) -> FuncSpec:
        """h[x] = 0; h[clamp(int(in[r]), 0, 15)] += 1 over a box of the input (a data-dependent write)."""
        name = f"f{k}"
        box = ", ".join(f"(0, {min(n, 6)})" for n in reversed(self.pick(OUTPUT_SHAPES[self.ndim])))
        rd = RDomSpec(f"r{self.rdom_count}", f"[{box}]")
        self.rdom_count += 1
        rvars = ", ".join(f"@{rd.name}.{v}" for v in "xyz"[: self.ndim])
        data = E(f"@{im.name}[{rvars}]", (), im.dtype)
        index = E(f"clamp(cast(int32, {{0}}), 0, {LUT_SIZE - 1})", (data,), int32)
        stmts = (E(f"@{name}[x] = cast(int32, 0)"), E(f"@{name}[{{0}}] = @{name}[{{0}}] + 1", (index,)))
        return self.define(FuncSpec(name, int32, stmts, (rd,)), Source(name, "hist", int32))

    def func(self, k: int, output: bool) -> FuncSpec:
        name = f"f{k}"
        t = self.pick(ALL_TYPES) if self.chance(0.1) else self.pick(NUMERIC)
        coords = VAR_NAMES[: self.ndim]
        lhs = ", ".join(coords)
        self.reach = 0
        self.in_output = output
        self.reduce_budget = 1
        self.rdoms = []
        ctx = Context(coords, ("",) * self.ndim)
        value = self.expr(t, self.rng.choice((1, 1, 2, 2, 2, 3)), ctx)
        # exp, sin, ... differ by ulps between libm and numpy: only ever the last operation of an
        # output, with no update after it and no reader (a cast or a cancellation would magnify it)
        inexact = output and t.is_float and self.chance(0.25)
        if inexact:
            value = E(f"{self.pick(INLINE_MATH)}({{0}})", (value,), t)
        stmts = [E(f"@{name}[{lhs}] = {{0}}", (value,))]
        pure = FuncSpec(name, t, tuple(stmts), tuple(self.rdoms))
        for r in pure.rdoms:
            self.run(rdom_source(r))
        self.run(f'@{name} = Func("@{name}")')
        self.run(stmts[0].text)
        kind = self.pick(("pure", "pure", "pure", "accum", "scan") if not output else ("pure", "pure", "accum"))
        kind = "pure" if inexact else kind
        rdoms = list(pure.rdoms)
        if kind == "accum" and t != bool_:
            stmt, rd = self.accumulation(name, t, coords)
            rdoms.append(rd)
            stmts.append(stmt)
        elif kind == "scan" and t != bool_:
            stmt, rd = self.scan(name, t, coords)
            rdoms.append(rd)
            stmts.append(stmt)
        for s in stmts[1:]:
            self.run(s.text)
        # an output is computed over its own box only: others read it there, at their own point
        self.sources.append(Source(name, "final" if inexact else "output" if output else "func", t, self.reach))
        return FuncSpec(name, t, tuple(stmts), tuple(rdoms))

    def accumulation(self, name: str, t: DType, coords: tuple[str, ...]) -> tuple[E, RDomSpec]:
        """f[x, y] = op(f[x, y], e) over a small RDom whose RVars offset the reads."""
        dims = self.rng.choice((1, 1, 2)) if self.ndim > 1 else 1
        bounds = [(self.rng.choice((-1, 0)), self.rng.choice((1, 2, 3))) for _ in range(dims)]
        spread = max(max(abs(lo), abs(lo + n - 1)) for lo, n in bounds)
        rname = self.new_rdom(repr(bounds))
        rvars = tuple(f"@{rname}.{v}" for v in "xy"[:dims])
        offsets = tuple(f" + {rvars[d]}" if d < dims else "" for d in range(self.ndim))
        ctx = Context(coords, offsets, spread, rvars)
        where = None
        if self.chance(0.4):
            where = self.boolean(1, ctx)
            self.run(f"@{rname}.where({where.text})")
        self.reduce_budget = 0
        value = self.expr(t, 1, ctx)
        here = f"@{name}[{', '.join(coords)}]"
        op = self.pick(("{here} + {{0}}", "max({here}, {{0}})", "min({here}, {{0}})", "{here} * {{0}}"))
        return E(f"{here} = " + op.format(here=here), (value,)), RDomSpec(rname, repr(bounds), where)

    def scan(self, name: str, t: DType, coords: tuple[str, ...]) -> tuple[E, RDomSpec]:
        """f[r, y] = f[r - 1, y] op e over r in [1, 1 + n): each point sees the one before."""
        bounds = [(1, self.rng.choice((2, 3, 5)))]
        rname = self.new_rdom(repr(bounds))
        rv = f"@{rname}.x"
        at = (rv, *coords[1:])
        ctx = Context(at, ("",) * self.ndim, 0, (rv,), absolute=True)
        self.reduce_budget = 0
        value = self.expr(t, 1, ctx)
        before = f"@{name}[{', '.join((f'{rv} - 1', *coords[1:]))}]"
        op = self.pick(("{b} + {{0}}", "max({b}, {{0}})", "{b} - {{0}}"))
        return E(f"@{name}[{', '.join(at)}] = " + op.format(b=before), (value,)), RDomSpec(rname, repr(bounds))

    # -- expressions
    def expr(self, t: DType, depth: int, ctx: Context) -> E:
        """A random expression of type `t` (see the module docstring for what it may hold)."""
        if t == bool_:
            return self.boolean(depth, ctx)
        if depth <= 0 or self.chance(0.3):
            return self.leaf(t, ctx)
        k = self.rng.random()
        sub = lambda: self.expr(t, depth - 1, ctx)  # noqa: E731 - a short local helper
        fallback = lambda: self.leaf(t, ctx)  # noqa: E731
        if k < 0.3:
            op = self.pick(("+", "-", "*", "/", "%", "+", "-", "*"))
            a, b = sub(), sub()
            if self.chance(0.2):  # a Python literal takes the other operand's type
                lit = self.pick((0.5, 2.0, -1.5, 3.25)) if t.is_float else self.rng.randint(0, 9)
                b = E(repr(lit), (), t)
            return self.typed(E(f"({{0}} {op} {{1}})", (a, b)), t, fallback)
        if k < 0.4:  # mixed types: promotion rules
            u, v = self.pick(NUMERIC), self.pick(NUMERIC)
            op = self.pick(("+", "-", "*", "/", "%"))
            a, b = self.expr(u, depth - 1, ctx), self.expr(v, depth - 1, ctx)
            return self.typed(E(f"({{0}} {op} {{1}})", (a, b)), t, fallback)
        if k < 0.5:
            fn = self.pick(("min", "max", "clamp"))
            kids = (sub(), sub(), sub()) if fn == "clamp" else (sub(), sub())
            return self.typed(E(f"{fn}({', '.join(f'{{{i}}}' for i in range(len(kids)))})", kids), t, fallback)
        if k < 0.58:
            return self.typed(E("select({0}, {1}, {2})", (self.boolean(depth - 1, ctx), sub(), sub())), t, fallback)
        if k < 0.66:
            return self.typed(
                E(f"cast({dsl(t)}, {{0}})", (self.expr(self.pick(ALL_TYPES), depth - 1, ctx),)), t, fallback
            )
        if k < 0.72:
            fn = self.pick(("-{0}", "abs({0})"))
            return self.typed(E(fn, (sub(),)), t, fallback)
        if k < 0.86 and t.is_float:
            fn = self.pick(("floor", "ceil", "round", "sqrt", "lerp"))
            kids = (sub(), sub(), sub()) if fn == "lerp" else (sub(),)
            return self.typed(E(f"{fn}({', '.join(f'{{{i}}}' for i in range(len(kids)))})", kids), t, fallback)
        if k < 0.93 and self.reduce_budget > 0 and not ctx.rvars:
            return self.inline_reduction(t, depth, ctx)
        return self.leaf(t, ctx)

    def boolean(self, depth: int, ctx: Context) -> E:
        k = self.rng.random()
        if depth <= 0 or k < 0.5:
            u = self.pick(NUMERIC)
            a, b = self.expr(u, depth - 1, ctx), self.expr(u, depth - 1, ctx)
            fmt = self.pick(("({0} < {1})", "({0} <= {1})", "({0} > {1})", "eq({0}, {1})", "ne({0}, {1})"))
            return self.typed(E(fmt, (a, b)), bool_, lambda: const(bool_, 1))
        if k < 0.65:
            return self.typed(
                E("cast(bool_, {0})", (self.expr(self.pick(NUMERIC), depth - 1, ctx),)), bool_, self.leaf_bool
            )
        if k < 0.8:
            return E("~{0}", (self.boolean(depth - 1, ctx),), bool_)
        fmt = self.pick(("({0} & {1})", "({0} | {1})"))
        return E(fmt, (self.boolean(depth - 1, ctx), self.boolean(depth - 1, ctx)), bool_)

    def leaf_bool(self) -> E:
        return const(bool_, self.rng.randint(0, 1))

    def inline_reduction(self, t: DType, depth: int, ctx: Context) -> E:
        self.reduce_budget -= 1
        lo, extent = self.rng.choice((-1, 0)), self.rng.choice((1, 2, 3))
        bounds = f"[({lo}, {extent})]"
        rname = self.new_rdom(bounds)
        rv = f"@{rname}.x"
        d = self.rng.randrange(self.ndim)
        offsets = tuple(f" + {rv}" if i == d else "" for i in range(self.ndim))
        inner = Context(ctx.coords, offsets, ctx.extra_reach + max(abs(lo), abs(lo + extent - 1)), (rv,))
        where = self.boolean(0, inner) if self.chance(0.3) else None
        if where is not None:
            self.run(f"@{rname}.where({where.text})")
        self.rdoms.append(RDomSpec(rname, bounds, where))
        u = t if t != bool_ else int32
        body = self.expr(u, depth - 1, inner)
        fn = self.pick(("sum", "maximum", "minimum"))
        return self.typed(E(f"{fn}({{0}})", (body,)), t, lambda: self.leaf(t, ctx))

    def leaf(self, t: DType, ctx: Context) -> E:
        k = self.rng.random()
        readable = [s for s in self.sources if self.can_read(s, ctx)]
        if k < 0.6 and readable:
            return self.typed(self.read(self.pick(readable), ctx), t, lambda: const(t, 1))
        if k < 0.72:
            options = [c for c in ctx.coords] + list(ctx.rvars)
            return self.typed(E(self.pick(options), (), int32), t, lambda: const(t, 1))
        if k < 0.8 and self.params:
            name, _, _ = self.pick(self.params)
            return self.typed(E(f"@{name}", (), None), t, lambda: const(t, 1))
        if t.is_float:
            return const(t, self.pick((0.0, 1.0, -2.5, 0.25, 1e20)))
        return const(t, self.pick((0, 1, 3, 7, int(t.max_value), int(t.min_value))))

    def nested(self, t: DType, ctx: Context) -> E:
        """An expression of type `t` for a data-dependent coordinate."""
        self.nesting += 1
        try:
            return self.expr(t, 1, ctx)
        finally:
            self.nesting -= 1

    def can_read(self, s: Source, ctx: Context) -> bool:
        if s.kind == "final" or (s.kind in ("lut", "hist") and self.nesting >= MAX_NESTING):
            return False
        if ctx.absolute:  # a scan: coordinates past the first are relative, and reach is not tracked
            return s.kind in ("boundary", "lut", "hist", "raw")
        if s.kind in ("lut", "hist", "boundary"):
            return True
        if s.kind == "output":  # outputs are computed over their own box: read there, by outputs only
            return self.in_output and ctx.extra_reach == 0 and not ctx.rvars
        if s.kind == "raw":
            return ctx.extra_reach <= 1 or ctx.absolute
        return ctx.absolute or s.reach + ctx.extra_reach <= MARGIN

    def read(self, s: Source, ctx: Context) -> E:
        """A read of `s` at the context's point, offset, scaled or data-dependent."""
        if s.kind == "output":
            self.reach = max(self.reach, s.reach)
            return E(f"@{s.name}[{', '.join(ctx.coords)}]", (), s.dtype, s.name)
        if s.kind in ("lut", "hist"):
            index = self.nested(self.pick(NUMERIC), ctx)
            return E(f"@{s.name}[clamp(cast(int32, {{0}}), 0, {LUT_SIZE - 1})]", (index,), s.dtype, s.name)
        coords = []
        kids: list[E] = []
        budget = MARGIN - ctx.extra_reach - (0 if s.kind == "boundary" else s.reach)
        used = 0
        gather = s.kind in ("boundary", "func") and self.chance(0.12) and self.nesting < MAX_NESTING
        for d, (c, off) in enumerate(zip(ctx.coords, ctx.offsets)):
            if s.kind == "raw":
                dx = self.rng.randint(-1, 1) if budget >= 1 and not ctx.absolute else 0
                coords.append(f"{c}{off} + {MARGIN + dx}")
                used = max(used, abs(dx))
                continue
            if s.kind == "boundary" and self.chance(0.1):
                coords.append(self.pick((f"{c}{off} * 2 - 1", f"{c}{off} / 2", f"{c}{off} * 3 + 2")))
                continue
            if gather and d == 0:
                kids.append(self.nested(self.pick(NUMERIC), ctx))
                limit = 2 if s.kind == "func" else 128
                if s.kind == "func" and budget < 2:
                    coords.append(f"{c}{off}")
                    continue
                coords.append(f"{c}{off} + clamp(cast(int32, cast(int8, {{0}})), {-limit}, {limit})")
                used = max(used, 2)
                continue
            span = budget if s.kind == "func" and not ctx.absolute else 3
            dx = self.rng.randint(-span, span) if span > 0 and self.chance(0.6) else 0
            coords.append(f"{c}{off}" + (f" + {dx}" if dx > 0 else f" - {-dx}" if dx < 0 else ""))
            used = max(used, abs(dx))
        if s.kind in ("func", "output") and not ctx.absolute:
            self.reach = max(self.reach, s.reach + used + ctx.extra_reach)
        elif s.kind == "raw" and not ctx.absolute:
            self.reach = max(self.reach, used + ctx.extra_reach)
        return E(f"@{s.name}[{', '.join(coords)}]", tuple(kids), s.dtype, s.name)


def rdom_source(r: RDomSpec) -> str:
    line = f'@{r.name} = RDom({r.bounds}, name="@{r.name}")'
    if r.where is not None:
        line += f"; @{r.name}.where({r.where.text})"
    return line


def namespace() -> dict[str, Any]:
    ns: dict[str, Any] = {"np": np}
    exec("from pipelines import *", ns)
    return ns


def generate(seed: int) -> Spec:
    """The pipeline of `seed`, without a schedule."""
    return Generator(seed).generate()


__all__ = ["ALL_TYPES", "E", "FuncSpec", "InputSpec", "RDomSpec", "Spec", "const", "dsl", "generate", "rdom_source"]

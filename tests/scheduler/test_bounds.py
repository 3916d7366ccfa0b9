"""Bounds are sound and, where the design promises it, exact (STYLE.md, "Tests", rule 3).

Soundness: hypothesis draws integer index expressions (add, subtract, multiply by constants and
by variables, Euclidean divide and modulo by constants and by expressions, min, max, select,
clamp, abs, casts to narrower, wider and unsigned types, wrapping arithmetic in narrow types)
over variables with random intervals; every value at sampled points (the corners of the box and
random points inside) must lie in `Bounds(scope).interval(e)`. The claim holds only where no
integer operation wraps: `Bounds` records an obligation for each operation it relies on not
wrapping, so the check is made only where every obligation holds (the compiled code checks them
at run time and raises INDEX_OVERFLOW otherwise). Values come from the interpreter's rules
(`pipelines.evaluate`), which define the language.

Exactness: after split and compute_at, a producer's storage extent is the constant its consumer's
tile needs (258 for a 3-tap stencil under a 256-wide tile; 8 plus the stencil width for a split
by 8), its region at root is its consumer's grown by the stencil, and the compiled code answers
"which region of the input" exactly; and loops never write outside the storage that bounds
inference sized (round_up tails, a histogram computed per tile), checked in a child process
(`isolated.py`) because such a write corrupts the process that makes it.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.compile import compile
from pipelines import (
    Func,
    ImageParam,
    Param,
    Pipeline,
    RDom,
    Var,
    cast,
    ceil,
    clamp,
    float32,
    floor,
    int32,
    repeat_edge,
    select,
)
from pipelines import abs as dsl_abs
from pipelines import max as dsl_max
from pipelines import min as dsl_min
from pipelines import round as dsl_round
from pipelines.bounds import Bounds, c64
from pipelines.evaluate import Frame, evaluate
from pipelines.expr import Const, Div, Expr, Mod, Mul
from pipelines.expr import Var as IRVar
from pipelines.mutator import substitute, walk
from pipelines.simplify import euclid_div
from pipelines.types import DType, bool_, int8, int16, int64, uint8, uint16, uint32
from scheduler.loopir import Allocate, LetStmt
from scheduler.lower import PASSES, Lowering, lower
from scheduler.schedule import Schedule
from tests.helpers import assert_matches_reference
from tests.scheduler.isolated import run_isolated

VARIABLES = ("u", "v", "w")
NARROW = (int8, int16, uint8, uint16, uint32, int64)


class _NoInputs:
    """The evaluation context of expressions that read no image, Param or Func."""

    who = "bounds test"
    images: dict[str, np.ndarray] = {}
    params: dict[str, Any] = {}

    def read_func(self, func: Any, coords: Any) -> np.ndarray:
        raise AssertionError("index expressions of this test read no Func")


def value_of(e: Expr, points: dict[str, np.ndarray]) -> np.ndarray:
    """`e` at every sample point (the interpreter's rules: wrapping, Euclidean division)."""
    return np.broadcast_to(evaluate(e, Frame(_NoInputs(), points)), next(iter(points.values())).shape)


def constant(e: Expr, symbols: dict[str, int] | None = None) -> int:
    """The value of a bound: an int64 expression of constants and the given int64 symbols."""
    values = {n: np.asarray(k, np.int64) for n, k in (symbols or {}).items()}
    free = {n.name for n in walk(e) if isinstance(n, Var)} - set(values)
    assert not free, f"bound {e} still has the variables {sorted(free)}"
    return int(evaluate(e, Frame(_NoInputs(), values)))


# ---------------------------------------------------------------- random expressions


def _int32(value: int) -> Expr:
    return Const(value, int32)


@st.composite
def index_exprs(draw: st.DrawFn, depth: int = 4) -> Expr:
    """An int32 expression over the VARIABLES."""
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        if draw(st.booleans()):
            return Var(draw(st.sampled_from(VARIABLES)))
        return _int32(draw(st.integers(-20, 20)))
    sub = index_exprs(depth - 1)
    kind = draw(
        st.sampled_from(
            ["add", "sub", "mul_const", "mul", "div_const", "mod_const", "div", "mod", "min", "max", "select"]
            + ["clamp", "abs", "cast", "narrow_arith", "neg"]
        )
    )
    a = draw(sub)
    if kind == "add":
        return a + draw(sub)
    if kind == "sub":
        return a - draw(sub)
    if kind == "mul_const":
        return Mul(a, _int32(draw(st.integers(-9, 9))))
    if kind == "mul":
        return a * draw(sub)
    if kind == "div_const":
        return Div(a, _int32(draw(st.sampled_from([-7, -3, -2, 1, 2, 3, 4, 8, 0]))))
    if kind == "mod_const":
        return Mod(a, _int32(draw(st.sampled_from([-5, -2, 1, 2, 3, 7, 16, 0]))))
    if kind == "div":
        return a / draw(sub)
    if kind == "mod":
        return a % draw(sub)
    if kind == "min":
        return dsl_min(a, draw(sub))
    if kind == "max":
        return dsl_max(a, draw(sub))
    if kind == "select":
        cond = draw(sub) < draw(sub)
        return select(cond, a, draw(sub))
    if kind == "clamp":
        return clamp(a, draw(sub), draw(sub))
    if kind == "abs":
        return dsl_abs(a)
    if kind == "neg":
        return -a
    t: DType = draw(st.sampled_from(NARROW))
    if kind == "cast":
        return cast(int32, cast(t, a))
    op = draw(st.sampled_from(["+", "-", "*"]))
    b = cast(t, draw(sub))
    narrow = {"+": cast(t, a) + b, "-": cast(t, a) - b, "*": cast(t, a) * b}[op]
    return cast(int32, narrow)


@st.composite
def intervals(draw: st.DrawFn) -> dict[str, tuple[int, int]]:
    out = {}
    for name in VARIABLES:
        if draw(st.integers(0, 9)) == 0:  # near the edges of int32 now and then: wrapping matters
            lo = draw(st.sampled_from([-(2**31), -(2**31) + 5, 2**31 - 40, 2**30]))
        else:
            lo = draw(st.integers(-60, 60))
        extent = draw(st.integers(0, 40))
        out[name] = (lo, min(lo + extent, 2**31 - 1))
    return out


bases = st.none() | st.integers(-(2**31), 2**31 - 1)  # constant intervals, or offsets from a symbol


def sample_points(ranges: dict[str, tuple[int, int]], seed: int, count: int = 200) -> dict[str, np.ndarray]:
    """Every corner of the box, then random points inside it (int32 arrays, one per variable)."""
    rng = np.random.default_rng(seed)
    corners = list(itertools.product(*(ranges[n] for n in VARIABLES)))
    columns = {}
    for k, name in enumerate(VARIABLES):
        lo, hi = ranges[name]
        inside = rng.integers(lo, hi, count, endpoint=True)
        columns[name] = np.concatenate([[c[k] for c in corners], inside]).astype(np.int32)
    return columns


BASE = Var("base", int64)


def scope_of(ranges: dict[str, tuple[int, int]], base: int | None) -> dict[str, tuple[Expr, Expr]]:
    """Variable intervals as Bounds takes them: constants, or (with `base`) offsets from the
    int64 symbol `base` whose value is `base`, as regions are during lowering; then nothing
    folds and every wrapping operation leaves an obligation."""
    if base is None:
        return {n: (c64(lo), c64(hi)) for n, (lo, hi) in ranges.items()}
    return {n: (BASE + c64(lo - base), BASE + c64(hi - base)) for n, (lo, hi) in ranges.items()}


def check_sound(e: Expr, ranges: dict[str, tuple[int, int]], seed: int, base: int | None = None) -> bool:
    """Values of `e` lie within its interval wherever the obligations hold; False when some
    obligation fails (then the compiled code would stop with INDEX_OVERFLOW instead)."""
    bounds = Bounds(scope_of(ranges, base))
    lo_e, hi_e = bounds.interval(e)
    symbols = {BASE.name: base if base is not None else 0}
    for olo, ohi, dtype in bounds.obligations:
        if not dtype.min_value <= constant(olo, symbols) <= constant(ohi, symbols) <= dtype.max_value:
            return False
    lo, hi = constant(lo_e, symbols), constant(hi_e, symbols)
    values = value_of(e, sample_points(ranges, seed)).astype(np.int64)
    outside = (values < lo) | (values > hi)
    if outside.any():
        point = {n: int(p[outside][0]) for n, p in sample_points(ranges, seed).items()}
        raise AssertionError(
            f"{e} over {ranges}: interval [{lo}, {hi}] but the value is {values[outside][0]} at {point}"
        )
    return True


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(e=index_exprs(), ranges=intervals(), seed=st.integers(0, 2**32 - 1), base=bases)
def test_interval_holds_every_sampled_value(e, ranges, seed, base):
    check_sound(e, ranges, seed, base)


@pytest.mark.slow
@settings(
    max_examples=5000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(e=index_exprs(depth=6), ranges=intervals(), seed=st.integers(0, 2**32 - 1), base=bases)
def test_interval_holds_every_sampled_value_many(e, ranges, seed, base):
    check_sound(e, ranges, seed, base)


# ---------------------------------------------------------------- hand-picked intervals

u, v = Var("u"), Var("v")


@pytest.mark.parametrize(
    "e, ranges, want",
    [
        (u + 3, {"u": (0, 10)}, (3, 13)),
        (u - v, {"u": (0, 10), "v": (-2, 5)}, (-5, 12)),
        (Mul(u, _int32(-3)), {"u": (-1, 4)}, (-12, 3)),
        (u * v, {"u": (-2, 3), "v": (-5, 4)}, (-15, 12)),
        (Div(u, _int32(4)), {"u": (-9, 9)}, (-3, 2)),  # Euclidean: -9 / 4 == -3
        (Div(u, _int32(-4)), {"u": (-9, 9)}, (-2, 3)),
        (Mod(u, _int32(8)), {"u": (-100, 100)}, (0, 7)),
        (Mod(u, _int32(-8)), {"u": (-100, 100)}, (0, 7)),
        (clamp(u, 0, 36), {"u": (-1, 40)}, (0, 36)),
        (dsl_min(u, v), {"u": (0, 10), "v": (3, 4)}, (0, 4)),
        (dsl_abs(u), {"u": (-7, 3)}, (0, 7)),
        (select(u < 3, u, v), {"u": (0, 10), "v": (20, 30)}, (0, 30)),
        (cast(int32, cast(uint8, u)), {"u": (-1, 3)}, (0, 255)),  # -1 wraps to 255
        (cast(int32, cast(uint8, u)), {"u": (2, 30)}, (2, 30)),
        (cast(int32, cast(int8, u * 2)), {"u": (0, 100)}, (-128, 127)),
    ],
)
def test_interval_of_simple_expressions(e, ranges, want):
    bounds = Bounds({n: (c64(lo), c64(hi)) for n, (lo, hi) in ranges.items()})
    lo, hi = bounds.interval(e)
    assert (constant(lo), constant(hi)) == want
    check_sound(e, {**{n: (0, 0) for n in VARIABLES}, **ranges}, seed=0)


@pytest.mark.parametrize("base", [None, -(2**31)])
def test_divide_by_minus_one_at_the_type_minimum(base):
    """int32 min / -1 wraps to int32 min: the interval must hold it (a constant interval widens
    to the whole type), or an obligation must fail so that the compiled code stops instead."""
    ranges = {"u": (-(2**31), -(2**31) + 3), "v": (0, 0), "w": (0, 0)}
    checked = check_sound(Div(u, _int32(-1)), ranges, seed=0, base=base)
    assert checked == (base is None)  # symbolic: the failed obligation is the run-time check


def test_interval_of_a_variable_outside_the_scope_is_the_variable():
    lo, hi = Bounds({}).interval(u + 1)
    assert lo == hi
    assert any(isinstance(n, Var) and n.name == "u" for n in walk(lo))


def test_wrapping_operation_leaves_an_obligation():
    bounds = Bounds({"u": (Var("n", int64), Var("n", int64) + c64(10))})
    bounds.interval(u * 1000)
    assert bounds.obligations, "an int32 multiply over a symbolic interval may wrap: it must be checked"


# ---------------------------------------------------------------- exact extents after scheduling

x, y = Var("x"), Var("y")


@functools.cache
def stencil(taps: int) -> tuple[Func, Func]:
    """producer[x, y] = 2 * im[x, y] (clamped); consumer = the sum of `taps` producer taps in x
    and (for the tile test) 3 in y."""
    im = ImageParam(float32, 2, f"stencil{taps}_im")
    clamped = repeat_edge(im)
    producer, consumer = Func(f"producer{taps}"), Func(f"consumer{taps}")
    producer[x, y] = clamped[x, y] * 2.0
    total = producer[x, y - 1] + producer[x, y + 1]
    for k in range(taps):
        total = total + producer[x + k - taps // 2, y]
    consumer[x, y] = total
    return producer, consumer


def allocations(stmt: Any, name: str) -> list[Allocate]:
    return [n for n in walk(stmt) if isinstance(n, Allocate) and n.name == name]


def let_values(stmt: Any, name: str) -> list[Expr]:
    return [n.value for n in walk(stmt) if isinstance(n, LetStmt) and n.name == name]


def extents_after(taps: int, schedule: Schedule) -> tuple[tuple[Expr, ...], list[Expr]]:
    producer, consumer = stencil(taps)
    lowered = lower(Pipeline(consumer), schedule)
    (allocation,) = {a.extents: a for a in allocations(lowered.body, producer.name)}.values()
    return allocation.extents, let_values(lowered.body, f"{producer.name}.extent.0")


def _inputs(taps: int) -> dict[str, np.ndarray]:
    return {f"stencil{taps}_im": np.random.default_rng(taps).random((29, 37), dtype=np.float32)}


def test_three_tap_stencil_in_a_256_wide_tile_has_storage_extent_258():
    producer, consumer = stencil(3)
    s = Schedule()
    s[consumer].split(x, "xo", "xi", 256)
    s[producer].compute_at(consumer, "xo")
    extents, lets = extents_after(3, s)
    assert extents[0] == Const(258, int64)
    assert lets and all(e == Const(258, int64) for e in lets)
    assert extents[1] == Const(3, int64)  # xo runs inside y: one row of the tile and its 2 neighbours
    assert_matches_reference(Pipeline(consumer), _inputs(3), shape=(29, 37), schedule=s, rtol=1e-5)
    assert "258" in compile(Pipeline(consumer), s).loop_nest


def test_tile_256_by_32_gives_258_by_34():
    producer, consumer = stencil(3)
    s = Schedule()
    s[consumer].tile(x, y, "xo", "yo", "xi", "yi", 256, 32)
    s[producer].compute_at(consumer, "xo")
    extents, _ = extents_after(3, s)
    assert extents == (Const(258, int64), Const(34, int64))


@pytest.mark.parametrize("taps, tail", [(1, "auto"), (3, "auto"), (5, "guard_with_if"), (3, "shift_inwards")])
def test_split_by_8_and_compute_at_gives_8_plus_stencil_width(taps, tail):
    producer, consumer = stencil(taps)
    s = Schedule()
    s[consumer].split(x, "xo", "xi", 8, tail).reorder("xi", "y", "xo")
    s[producer].compute_at(consumer, "xo")
    extents, _ = extents_after(taps, s)
    assert extents[0] == Const(8 + taps - 1, int64)
    assert_matches_reference(Pipeline(consumer), _inputs(taps), shape=(29, 37), schedule=s, rtol=1e-5)


def test_compute_at_the_innermost_loop_gives_the_stencil_alone():
    producer, consumer = stencil(5)
    s = Schedule()
    s[producer].compute_at(consumer, "x")
    extents, _ = extents_after(5, s)
    assert extents == (Const(5, int64), Const(3, int64))  # 5 taps in x, 3 in y, per point


def test_compute_at_a_fused_loop_matches_reference():
    producer, consumer = stencil(1)
    s = Schedule()
    s[consumer].fuse(x, y, "f")
    s[producer].compute_at(consumer, "f")
    assert_matches_reference(Pipeline(consumer), _inputs(1), shape=(29, 37), schedule=s, rtol=1e-5)


def test_compute_at_a_fused_loop_gives_one_point_of_the_stencil():
    producer, consumer = stencil(1)  # consumer[x, y] reads producer at (x, y - 1), (x, y), (x, y + 1)
    s = Schedule()
    s[consumer].fuse(x, y, "f")
    s[producer].compute_at(consumer, "f")
    extents, _ = extents_after(1, s)
    assert extents == (Const(1, int64), Const(3, int64))


def test_store_at_above_compute_at_sizes_storage_for_the_outer_loop():
    producer, consumer = stencil(3)
    s = Schedule()
    s[consumer].tile(x, y, "xo", "yo", "xi", "yi", 8, 4)
    s[producer].compute_at(consumer, "xo").store_at(consumer, "yo")
    lowered = lower(Pipeline(consumer), s)
    sizes = [a.extents for a in allocations(lowered.body, producer.name)]
    assert sizes and all(e[1] == Const(6, int64) for e in sizes)  # 4 rows of the tile plus 2
    assert_matches_reference(Pipeline(consumer), _inputs(3), shape=(29, 37), schedule=s, rtol=1e-5)


def test_root_region_is_the_consumer_region_grown_by_the_stencil():
    producer, consumer = stencil(5)
    s = Schedule()
    s[producer].compute_root()
    lets = dict(lower(Pipeline(consumer), s).lets)
    region = {"min.0": 10, "max.0": 46, "min.1": -3, "max.1": 25}  # of the consumer, made up
    known = {f"{consumer.name}.{what}": value for what, value in region.items()}
    for what, grown in {"min.0": -2, "max.0": 2, "min.1": -1, "max.1": 1}.items():
        assert resolve(lets, f"{producer.name}.{what}", known) == region[what] + grown, what


def resolve(lets: dict[str, Expr], name: str, known: dict[str, int]) -> int:
    """The value of let `name`, following the lets it uses, with the `known` symbols fixed."""
    e = lets[name]
    for _ in range(len(lets) + 1):
        symbols = {n for n in walk(e) if isinstance(n, Var)}
        if not symbols:
            return constant(e)
        e = substitute(e, {n: c64(known[n.name]) if n.name in known else lets[n.name] for n in symbols})
    raise AssertionError(f"let {name} does not resolve: {e}")


def test_required_region_of_an_input_is_exact():
    im = ImageParam(float32, 2, "region_im")
    f = Func("region_out")
    f[x, y] = im[x, y] + im[x + 2, y + 1] * im[x - 1, y]
    compiled = compile(Pipeline(f))
    regions = compiled.required_regions(shape=(10, 20), origin=(3, 5), region_im=np.zeros((40, 40), np.float32))
    assert regions == {"region_im": ((5, 11), (2, 23))}  # rows 5..15, columns 2..24


def test_clamped_reads_need_exactly_the_image():
    producer, consumer = stencil(5)
    compiled = compile(Pipeline(consumer))
    image = _inputs(5)["stencil5_im"]
    assert compiled.required_regions(shape=(29, 37), stencil5_im=image) == {"stencil5_im": ((0, 29), (0, 37))}


# ---------------------------------------------------------------- storage bugs, in a child process


@pytest.mark.parametrize("scenario", ["round_up_columns", "round_up_update", "round_up_nested"])
def test_round_up_computes_into_storage_that_holds_the_extra_points(scenario):
    result = run_isolated(scenario)
    assert result.returncode == 0 and "MATCH" in result.stdout.split(), result.stdout + result.stderr[-2000:]


def test_compute_at_region_holds_the_updates_writes():
    result = run_isolated("histogram_at_tile")
    assert result.returncode == 0 and "MATCH" in result.stdout.split(), result.stdout + result.stderr[-2000:]


def test_float_to_int_cast_of_params_alone_is_its_own_bound():
    """Regression (the bilateral grid's z extent, cast(int32, 1 / r_sigma)): a cast with no
    variable and no read is one value for the whole call, not the type's whole range."""
    from_param = cast(int32, 1.0 / Param(float32, "r_sigma", 0.1))
    lo, hi = Bounds({}).interval(from_param)
    assert lo == hi and not isinstance(lo, Const)
    data = cast(int32, ImageParam(float32, 1, "im")[0])
    assert Bounds({}).interval(data) == (c64(-(2**31)), c64(2**31 - 1))


FLOAT_CONSTANTS = [0.5, -0.5, 2.0, -3.25, 0.1, 7.0, 1e-6, -1e-30, 1e6, 3e38, 0.0, -0.0, np.inf, -np.inf, np.nan]


@st.composite
def monotone_floats(draw: st.DrawFn, depth: int = 4) -> Expr:
    """A float32 expression computed from u alone through operations monotone in it, with
    constants that include zeros, huge and tiny values, infinities and NaN."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        inner = draw(st.sampled_from([u, u * 3 - 7, -u]))
        return cast(float32, inner)
    a = draw(monotone_floats(depth - 1))
    k = Const(draw(st.sampled_from(FLOAT_CONSTANTS)), float32)
    kind = draw(st.sampled_from(["add", "sub", "rsub", "mul", "rmul", "div", "floor", "ceil", "round"]))
    ops = {
        "add": lambda: a + k,
        "sub": lambda: a - k,
        "rsub": lambda: k - a,
        "mul": lambda: a * k,
        "rmul": lambda: k * a,
        "div": lambda: a / k,
        "floor": lambda: floor(a),
        "ceil": lambda: ceil(a),
        "round": lambda: dsl_round(a),
    }
    return ops[kind]()


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    e=monotone_floats(),
    t=st.sampled_from([int32, int16, uint8, int64]),
    lo=st.sampled_from([-(2**31), -70000, -300, -5, 0, 1, 40, 2**24 - 3, 2**31 - 50]),
    extent=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_float_to_int_cast_of_a_monotone_float_holds_every_sampled_value(e, t, lo, extent, seed):
    """A resampling's source row, cast(int32, floor((y + 0.5) / scale - 0.5)): its bounds are
    the cast at the bounds of y, or the whole type where a value there is not finite (a NaN
    inside would cast to 0). Checked against the interpreter at every point sampled."""
    hi = min(lo + extent, 2**31 - 1)
    ranges = {"u": (lo, hi), "v": (0, 0), "w": (0, 0)}
    check_sound(cast(t, e), ranges, seed)


def test_float_to_int_cast_of_a_resampled_row_is_the_rows_it_samples():
    scale = Param(float32, "bounds_scale", 0.5)
    row = clamp(cast(int32, floor((cast(float32, u) + 0.5) / scale - 0.5)), -2, 1000)
    lo, hi = Bounds({"u": (c64(10), c64(20))}).interval(row)
    for value, want in [(0.5, (20, 40)), (2.0, (4, 9)), (-1.0, (-2, -2)), (np.nan, (-2, 1000)), (0.0, (-2, 1000))]:
        at = {scale: Const(value, float32)}
        got = tuple(int(evaluate(substitute(b, at), Frame(_NoInputs(), {}))) for b in (lo, hi))
        assert got == want, value
    # u used twice is no longer monotone in one value: the whole type, clamped
    twice = clamp(cast(int32, cast(float32, u) * cast(float32, u)), -2, 1000)
    assert Bounds({"u": (c64(10), c64(20))}).interval(twice) == (c64(-2), c64(1000))
    # a float cast to bool is v != 0, not monotone: true at both ends of [-1, 1], false inside
    nonzero = cast(bool_, cast(float32, u))
    assert Bounds({"u": (c64(-1), c64(1))}).interval(nonzero) == (c64(0), c64(1))


def test_division_by_a_scale_of_at_least_one_keeps_the_dividends_sign():
    # The bilateral grid reads blury[x / max(s_sigma, 1), ...]: its region was once taken as
    # [-|x|, |x|], four times the grid, and at 2560x1536 the grid's storage took gigabytes.
    s = Param(int32, "s", 8)
    u = IRVar("u", int64)
    e = Div(u, dsl_max(cast(int64, s), 1))
    lo, hi = Bounds({"u": (c64(0), c64(99))}).interval(e)
    for scale in (-3, 0, 1, 2, 7, 100, 1000):
        at = {s: Const(scale, int32)}
        low, high = (evaluate(substitute(b, at), Frame(_NoInputs(), {})) for b in (lo, hi))
        values = [euclid_div(v, max(scale, 1)) for v in range(100)]
        assert low == 0 and high == max(values), scale


def test_a_chain_of_compute_at_producers_writes_regions_with_the_consumers_symbols():
    # Each link of the chain reads the next with a 3-tap stencil, all computed at the same
    # strip loop. Their regions were once written by expanding every consumer's region into
    # the producer's, and every later pass simplified those expansions again (interpolate's
    # hand schedule did not lower in minutes). Now each producer is placed under its
    # consumers' region lets and its region is one step from theirs.
    im = ImageParam(float32, 2, "chain_im")
    funcs = [Func("link0")]
    funcs[0][x, y] = repeat_edge(im)[x, y]
    for k in range(1, 9):
        f = Func(f"link{k}")
        prev = funcs[-1]
        f[x, y] = prev[x, y - 1] + prev[x, y] + prev[x, y + 1]
        funcs.append(f)
    out = funcs[-1]
    s = Schedule()
    s[out].split(y, "yo", "yi", 8)
    for f in funcs[:-1]:
        s[f].compute_at(out, "yo")
    state = Lowering(Pipeline(out), s)
    for name, run in PASSES:
        state = run(state)
        if name == "inject compute_at":
            break
    lets = {n.name: n.value for n in walk(state.program) if isinstance(n, LetStmt)}
    for k in range(7):  # link7 reads the output, whose strip is the loop's
        names = {v.name for v in walk(lets[f"link{k}.min.1"]) if isinstance(v, IRVar)}
        assert names == {f"link{k + 1}.min.1", f"link{k}.gmin.1"}, lets[f"link{k}.min.1"]
    inputs = {"chain_im": np.random.default_rng(5).random((40, 23), dtype=np.float32)}
    assert_matches_reference(Pipeline(out), inputs, shape=(40, 23), schedule=s, rtol=1e-5)


def test_a_table_indexed_by_a_clamped_func_at_root_is_sized_by_the_clamp():
    # equalize_histogram's automatic schedule computes its bin Func at root: the histogram's
    # index was then a Func read bounded by nothing but int32, and the histogram took 16 GiB.
    # A pure Func's values are bounded by its definition (here its clamp) whatever its args.
    im = ImageParam(float32, 2, "vb_in")
    bin_, hist, out = Func("vb_bin"), Func("vb_hist"), Func("vb_out")
    bin_[x, y] = clamp(cast(int32, im[x, y] * 255.0), 0, 255)
    r = RDom([(0, im.width()), (0, im.height())], name="vb_r")
    hist[x] = 0
    hist[bin_[r.x, r.y]] += 1
    out[x] = hist[x] * 2
    s = Schedule()
    s[bin_].compute_root()
    s[hist].compute_root()
    lets = dict(lower(Pipeline(out), s).lets)
    known = {"vb_out.min.0": 10, "vb_out.max.0": 20}
    assert (resolve(lets, "vb_hist.min.0", known), resolve(lets, "vb_hist.max.0", known)) == (0, 255)
    a = np.random.default_rng(6).random((13, 17), dtype=np.float32)
    assert_matches_reference(Pipeline(out), {"vb_in": a}, shape=(256,), schedule=s)

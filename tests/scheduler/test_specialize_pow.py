"""Vector loops with a loop-invariant float32 power (scheduler/specialize_pow.py): a copy for
finite non-integer exponents, or for finite exponents where the base is known to be +0 to
+infinity, entered only for them, whose results are the same bits as the general power's for every
base, special ones included; and the interpreter's values within the powers' bounds."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Param, Pipeline, Var, clamp, fast_pow, max, min, pow, select
from pipelines.expr import LT, And, Const, Floor, Select
from pipelines.expr import Max as MaxExpr
from pipelines.expr import Min as MinExpr
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import float32
from scheduler.loopir import For, FractionalPow, IfThenElse, NonNegativePow
from scheduler.lower import lower
from scheduler.schedule import Schedule
from scheduler.specialize_pow import at_most_one, bounded_above, nonnegative, positive_operand

x = Var("x")
BASES = np.concatenate(
    [
        np.array(
            [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -3.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38, -3e38, 0.999],
            np.float32,
        ),
        np.random.default_rng(11).integers(0, 2**32, 4000, dtype=np.uint64).astype(np.uint32).view(np.float32),
    ]
)
FRACTIONAL = [1 / 2.2, -1 / 2.2, 2.5, -2.5, 1e-7, 8388607.5, -0.5]
OTHERS = [0.0, -0.0, 1.0, 2.0, -3.0, 2.0**23, 2.0**24, 1e10, -1e10, 3e38, np.inf, -np.inf, np.nan]


def _power(fn, name: str) -> Pipeline:
    base, exponent = ImageParam(float32, 1, f"{name}_in"), Param(float32, f"{name}_e", 0.5)
    out = Func(name)
    out[x] = select(base[x] > -1e30, fn(base[x], exponent), base[x])  # a select, as in a tone curve
    return Pipeline(out)


def _vector(p: Pipeline) -> Schedule:
    s = Schedule()
    s[p.outputs[0]].vectorize("x", 16)
    return s


@pytest.mark.parametrize("fn", [pow, fast_pow], ids=lambda fn: fn.__name__)
def test_the_copy_is_entered_only_for_fractional_exponents(fn) -> None:
    p = _power(fn, f"sp_shape_{fn.__name__}")
    body = lower(p, _vector(p)).body
    guards = [
        n
        for n in walk(body)
        if isinstance(n, IfThenElse) and isinstance(n.then_case, For) and isinstance(n.else_case, For)
    ]
    copies = [g for g in guards if any(isinstance(m, FractionalPow) for m in walk(g.then_case))]
    assert copies, "no copy with FractionalPow"
    for g in copies:
        assert not any(isinstance(m, FractionalPow) for m in walk(g.else_case)), "the general loop changed"
        assert any(isinstance(m, Floor) for m in walk(g.cond)), f"not a test of the exponent: {g.cond}"
    unvectorized = lower(p, Schedule()).body
    assert not any(isinstance(n, FractionalPow) for n in walk(unvectorized)), "only vector loops are copied"


@pytest.mark.parametrize("fn", [pow, fast_pow], ids=lambda fn: fn.__name__)
@pytest.mark.parametrize("e", FRACTIONAL + OTHERS)
def test_same_bits_as_the_scalar_general_power(fn, e: float) -> None:
    name = f"sp_bits_{fn.__name__}"
    p = _power(fn, name)
    args = {f"{name}_in": BASES, f"{name}_e": e}
    vector = compile(p, _vector(p))(shape=BASES.shape, **args)
    scalar = compile(p, Schedule())(shape=BASES.shape, **args)
    np.testing.assert_array_equal(vector.view(np.uint32), scalar.view(np.uint32))
    want = interpret(p, shape=BASES.shape, **args)
    with np.errstate(invalid="ignore"):
        close = np.isclose(vector, want, rtol=2e-4, atol=0, equal_nan=True) | (want == vector)
    finite = np.isfinite(want) & (np.abs(want) < 1e30) & (np.abs(want) > 1e-30)
    assert close[finite].all(), "far from the interpreter's power"


# bases through which the base is known to be +0 to +infinity; `finite`: and never infinite;
# `unit`: and never above 1 (a fast_pow of it takes the unit method where the exponent is >= +0)
NONNEGATIVE = {
    "clamp": (lambda v: clamp(v, 0.0, 3e38), True, False),
    "max": (lambda v: max(v, 0.0), False, False),
    "select": (lambda v: select(v > 1.0, max(v, 1.0), min(max(v, 0.5), 1.0)), False, False),
    "unit": (lambda v: clamp(v, 0.0, 1.0), True, True),
    "unit_select": (lambda v: select(v > 0.5, min(max(v, 0.5), 1.0), max(min(v, 0.5), 0.0)), True, True),
}


def _nonnegative_power(fn, name: str, base_of) -> Pipeline:
    base, exponent = ImageParam(float32, 1, f"{name}_in"), Param(float32, f"{name}_e", 0.5)
    out = Func(name)
    out[x] = fn(base_of(base[x]), exponent)
    return Pipeline(out)


@pytest.mark.parametrize("form", sorted(NONNEGATIVE))
def test_a_base_known_nonnegative_takes_the_copy_for_finite_exponents(form: str) -> None:
    base_of, finite, unit = NONNEGATIVE[form]
    p = _nonnegative_power(fast_pow, f"sp_nn_shape_{form}", base_of)
    body = lower(p, _vector(p)).body
    guards = [
        n
        for n in walk(body)
        if isinstance(n, IfThenElse)
        and isinstance(n.then_case, For)
        and isinstance(n.else_case, For)
        and any(isinstance(m, NonNegativePow) for m in walk(n.then_case))
    ]
    assert guards, "no copy with NonNegativePow"
    for guard in guards:
        (power,) = (m for m in walk(guard.then_case) if isinstance(m, NonNegativePow))
        assert power.finite_base == finite and power.fast and power.unit == unit
        assert any(isinstance(m, Const) and m.value == 0.0 for m in walk(guard.cond)) == unit, guard.cond
        assert not any(isinstance(m, (Floor, FractionalPow)) for m in walk(guard)), "an integer exponent is let in"
        assert not any(isinstance(m, NonNegativePow) for m in walk(guard.else_case)), "the general loop changed"


@pytest.mark.parametrize("fn", [pow, fast_pow], ids=lambda fn: fn.__name__)
@pytest.mark.parametrize("form", sorted(NONNEGATIVE))
def test_nonnegative_base_same_bits_as_the_scalar_general_power(fn, form: str) -> None:
    name = f"sp_nn_bits_{fn.__name__}_{form}"
    p = _nonnegative_power(fn, name, NONNEGATIVE[form][0])
    for e in FRACTIONAL + OTHERS:
        args = {f"{name}_in": BASES, f"{name}_e": e}
        vector = compile(p, _vector(p))(shape=BASES.shape, **args)
        scalar = compile(p, Schedule())(shape=BASES.shape, **args)
        np.testing.assert_array_equal(vector.view(np.uint32), scalar.view(np.uint32), err_msg=f"exponent {e}")


def test_nonnegative_and_bounded_above_read_the_form() -> None:
    v = Var("v", float32)
    zero, one = Const(0.0, float32), Const(1.0, float32)
    assert nonnegative(MaxExpr(v, zero)) and not bounded_above(MaxExpr(v, zero))
    assert nonnegative(MaxExpr(MinExpr(v, one), zero)) and bounded_above(MaxExpr(MinExpr(v, one), zero))
    assert not nonnegative(MaxExpr(zero, v)), "max(0, v) gives v where v is NaN"
    assert not nonnegative(MaxExpr(v, Const(-0.0, float32))), "max(v, -0.0) can be -0.0"
    assert not nonnegative(MaxExpr(v, Const(float("nan"), float32)))
    assert at_most_one(MaxExpr(MinExpr(v, one), zero)) and at_most_one(MinExpr(v, Const(0.5, float32)))
    assert not at_most_one(MinExpr(one, v)), "min(1, v) gives v where v is NaN or below 1"
    assert not at_most_one(MaxExpr(MinExpr(v, one), Const(1.5, float32)))
    assert not at_most_one(MinExpr(v, Const(float("nan"), float32)))
    assert not nonnegative(MinExpr(v, one)), "min(v, 1) can be negative"
    assert nonnegative(Select(v > zero, MaxExpr(v, one), zero)) and not nonnegative(Select(v > zero, v, zero))
    assert bounded_above(MinExpr(v, one)) and not bounded_above(Const(float("inf"), float32))


# powers used only where their base is > 0: the true value of a select on `0 < base`. `guard`
# builds the select from the base and the power; the flags are the NonNegativePow's expected
# (finite_base, unit); None where the power must not take the positive form
GUARDED = {
    "raw": (lambda v: v, lambda b, p: select(b > 0.0, p, b), (False, False)),
    "unit": (lambda v: clamp(v, 0.0, 1.0), lambda b, p: select(b > 0.0, p, 0.0), (True, True)),
    "max": (lambda v: max(v, 0.0), lambda b, p: select(b > 0.0, p, 0.0), (False, False)),
    "above_half": (lambda v: v, lambda b, p: select(b > 0.5, p, 0.0), (False, False)),
    "and": (lambda v: v, lambda b, p: select((b > 0.0) & (b < 4.0), p, 0.0), (False, False)),
    "below_zero_bound": (lambda v: v, lambda b, p: select(b > -0.5, p, 0.0), None),
    "other_base": (lambda v: v, lambda b, p: select(b * 2.0 > 0.0, p, 0.0), None),
    "also_outside": (lambda v: v, lambda b, p: select(b > 0.0, p, 0.0) + p, (False, False)),
}


def _guarded_power(fn, name: str, form: str) -> Pipeline:
    base_of, guard, _ = GUARDED[form]
    base, exponent = ImageParam(float32, 1, f"{name}_in"), Param(float32, f"{name}_e", 0.5)
    out = Func(name)
    b = base_of(base[x])
    out[x] = guard(b, fn(b, exponent))
    return Pipeline(out)


@pytest.mark.parametrize("form", sorted(GUARDED))
def test_a_power_used_only_where_its_base_is_positive_drops_the_zero_case(form: str) -> None:
    expected = GUARDED[form][2]
    p = _guarded_power(fast_pow, f"sp_pos_shape_{form}", form)
    body = lower(p, _vector(p)).body
    copies = [n for n in walk(body) if isinstance(n, IfThenElse) and isinstance(n.else_case, For)]
    powers = [m for g in copies for m in walk(g.then_case) if isinstance(m, NonNegativePow) and m.positive]
    if expected is None:
        assert not powers, "a power that can meet a base <= 0 took the positive form"
        return
    assert powers, "no positive power"
    if form == "also_outside":  # the same power outside the select keeps every case
        assert all(any(isinstance(m, FractionalPow) for m in walk(g.then_case)) for g in copies)
    for power in powers:
        assert (power.finite_base, power.unit) == expected
    for g in copies:
        assert not any(isinstance(m, NonNegativePow) for m in walk(g.else_case)), "the general loop changed"
        if form != "also_outside":  # no power outside the select: integer exponents take the copy too
            assert not any(isinstance(m, Floor) for m in walk(g.cond)), g.cond


@pytest.mark.parametrize("fn", [pow, fast_pow], ids=lambda fn: fn.__name__)
@pytest.mark.parametrize("form", sorted(GUARDED))
def test_guarded_power_same_bits_as_the_scalar_general_power(fn, form: str) -> None:
    name = f"sp_pos_bits_{fn.__name__}_{form}"
    p = _guarded_power(fn, name, form)
    vector, scalar = compile(p, _vector(p)), compile(p, Schedule())
    for e in FRACTIONAL + OTHERS:
        args = {f"{name}_in": BASES, f"{name}_e": e}
        got, want = vector(shape=BASES.shape, **args), scalar(shape=BASES.shape, **args)
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32), err_msg=f"exponent {e}")


def test_positive_operand_reads_the_condition() -> None:
    v, w = Var("v", float32), Var("w", float32)
    assert positive_operand(LT(Const(0.0, float32), v)) == v
    assert positive_operand(LT(Const(-0.0, float32), v)) == v, "-0 < v: v > 0 too"
    assert positive_operand(LT(Const(2.0, float32), v)) == v
    assert positive_operand(LT(Const(-1.0, float32), v)) is None
    assert positive_operand(LT(Const(float("nan"), float32), v)) is None
    assert positive_operand(LT(v, Const(0.0, float32))) is None, "v < 0"
    assert positive_operand(LT(w, v)) is None, "only a constant bound"
    assert positive_operand(And(LT(w, v), LT(Const(0.0, float32), v))) == v

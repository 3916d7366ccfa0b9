"""Vector loops with a loop-invariant float32 power (scheduler/specialize_pow.py): a copy for
finite non-integer exponents, entered only for them, whose results are the same bits as the
general power's for every base, special ones included; and the interpreter's values within
the powers' bounds."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Param, Pipeline, Var, fast_pow, pow, select
from pipelines.expr import Floor
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import float32
from scheduler.loopir import For, FractionalPow, IfThenElse
from scheduler.lower import lower
from scheduler.schedule import Schedule

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
OTHERS = [0.0, -0.0, 1.0, 2.0, -3.0, 2.0**23, 2.0**24, np.inf, -np.inf, np.nan]


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

"""Constants keep the sign of zero through simplification, common subexpressions and C.

Structural equality of IR constants once followed Python's float ==, under which -0.0 equals
0.0: the simplifier took `select(c, -0.0, 0.0)` for a select of two equal values and kept one
branch for every pixel."""

from __future__ import annotations

import numpy as np

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, float32, select
from pipelines.expr import Const
from pipelines.interpret import interpret
from pipelines.simplify import simplify


def test_negative_and_positive_zero_are_different_constants():
    minus, plus = Const(-0.0, float32), Const(0.0, float32)
    assert minus != plus and len({minus, plus}) == 2
    nan = Const(float("nan"), float32)
    assert nan == Const(float("nan"), float32)  # a NaN constant is itself (Python's nan != nan)


def test_select_between_signed_zeros_keeps_both_branches():
    x = Var("x")
    im = ImageParam(float32, 1, "zeros_im")
    out = Func("signed_zero")
    out[x] = select(im[x] > 0.5, Const(-0.0, float32), Const(0.0, float32))
    assert simplify(out.definitions[0].value) == out.definitions[0].value
    a = np.random.default_rng(3).random(37, dtype=np.float32)
    want = interpret(Pipeline(out), shape=(37,), zeros_im=a)
    got = compile(Pipeline(out))(shape=(37,), zeros_im=a)
    np.testing.assert_array_equal(np.signbit(want), a > 0.5)
    np.testing.assert_array_equal(np.signbit(got), a > 0.5)

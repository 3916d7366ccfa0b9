"""Bugs the fuzzer found, each shrunk to a few lines and kept as a test named after what it was.

A bug not fixed yet is a strict xfail (a fix turns it into a failure that says so: remove the
mark then). Expected values are worked
out by hand from the language's rules, not taken from the interpreter.
"""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Param, Pipeline, Var, cast, clamp
from pipelines.interpret import interpret
from pipelines.types import float32, int8, int32, uint8, uint32
from scheduler.schedule import Schedule

x = Var("x")


def test_negated_int_converted_to_float_keeps_positive_zero() -> None:
    """Fuzz seed 160758: gcc folded `0.0f - (float)i` into `-(float)i`, -0.0 for i == 0."""
    im = ImageParam(int8, 1, "negzero_in")
    f = Func("negzero")
    f[x] = cast(float32, 1.0) / -cast(float32, im[x])
    a = np.array([0, 2, -4], np.int8)
    want = np.array([np.inf, -0.5, 0.25], np.float32)  # -(float)0 is 0 - 0.0 = +0.0
    np.testing.assert_array_equal(interpret(Pipeline(f), shape=(3,), negzero_in=a), want)
    np.testing.assert_array_equal(compile(Pipeline(f))(shape=(3,), negzero_in=a), want)


@pytest.mark.parametrize(
    "index, p_value, expected",
    [
        # uint32(0) - 3 wraps to 2**32 - 3; as int32 that is -3; clamped to 0: h[0] = 0
        (lambda p: cast(int32, cast(uint32, 0) - cast(uint32, p)), 3, 0),
        # uint8: 8 + 255 wraps to 7: h[7] = 70
        (lambda p: cast(int32, p + cast(uint8, 255)), 8, 70),
    ],
    ids=["uint32_minus", "uint8_plus"],
)
def test_unsigned_wrap_inside_an_index_is_not_an_overflow(index, p_value: int, expected: int) -> None:
    p = Param(uint8, "wrap_p", 3)
    h, out = Func("wrap_table"), Func("wrap_read")
    h[x] = x * 10
    out[x] = h[clamp(index(p), 0, 15)] + x
    s = Schedule()
    s[h].compute_root()
    want = [expected, expected + 1, expected + 2]
    np.testing.assert_array_equal(interpret(Pipeline(out), shape=(3,), wrap_p=p_value), want)
    np.testing.assert_array_equal(compile(Pipeline(out), s)(shape=(3,), wrap_p=p_value), want)

"""A table read at an index made from a comparison of 8- or 16-bit integers gives the right
entries, vectorized or not.

Found by the fuzzer (seed 2000319): gcc 12.2 vectorizes `lut[max(in[i] == 0, 0)]` over int8
`in` by taking lanes of the narrow compare mask as index values, so the compiled pipeline read
the table at other places, some outside it. The C now compares narrow integers as int32 with a
zero the compiler cannot see through (codegen/c_emit.py)."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, cast, clamp, int8, int16, int32, uint16
from pipelines import max as maximum_of
from pipelines.interpret import interpret
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")


def _pipeline(dtype: object) -> Pipeline:
    im = ImageParam(dtype, 2, "narrow_in")
    lut, out = Func("narrow_lut"), Func("narrow_out")
    lut[x] = cast(uint16, x * 3 + 1000)
    flag = cast(int32, cast(int16, im[x, y] <= cast(dtype, 0)))
    out[x, y] = lut[clamp(maximum_of(flag, 0), 0, 15)] + lut[cast(int32, im[x, y] == cast(dtype, 0))]
    return Pipeline(out)


@pytest.mark.parametrize("dtype", [int8, uint16])
@pytest.mark.parametrize("vector", [None, 16])
def test_table_read_at_a_narrow_comparison_matches_interpreter(dtype: object, vector: int | None) -> None:
    pipeline = _pipeline(dtype)
    s = Schedule()
    s["narrow_lut"].compute_root()
    if vector:
        s["narrow_out"].vectorize("x", vector)
    rng = np.random.default_rng(4)
    np_type = np.int8 if dtype is int8 else np.uint16
    a = rng.integers(-100 if dtype is int8 else 0, 100, (9, 70)).astype(np_type)
    a[:, ::5] = 0
    want = interpret(pipeline, shape=(9, 70), narrow_in=a)
    got = compile(pipeline, s)(shape=(9, 70), narrow_in=a)
    np.testing.assert_array_equal(got, want)

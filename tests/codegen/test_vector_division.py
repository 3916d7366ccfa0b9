"""int32 division and remainder by a divisor known only at run time, inside vector loops
(`saline_div_vec_i32` in csrc/saline_runtime.h, through double): the loop vectorizes, and the
results are the language's Euclidean ones (b == 0 gives 0, the minimum over -1 wraps) for
extreme dividends and divisors of both signs, equal to the interpreter's."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from codegen.build import compile_flags, compiler_command
from codegen.compile import compile
from pipelines import Func, ImageParam, Param, Pipeline, Var
from pipelines.interpret import interpret
from pipelines.types import int32
from scheduler.schedule import Schedule

x = Var("x")
I32 = np.iinfo(np.int32)
DIVIDENDS = np.concatenate(
    [
        np.array([0, 1, -1, 2, -2, 7, -7, 100, -100, I32.max, I32.min, I32.min + 1, I32.max - 1], np.int32),
        np.random.default_rng(5).integers(I32.min, I32.max, 3000, dtype=np.int64, endpoint=True).astype(np.int32),
    ]
)
DIVISORS = [1, -1, 2, -2, 3, -3, 7, -7, 8, 255, -256, 65536, I32.max, I32.min, 0, 123456789]


def _pipeline(name: str, by_lane: bool) -> Pipeline:
    a = ImageParam(int32, 1, f"{name}_a")
    b = ImageParam(int32, 1, f"{name}_b")[x] if by_lane else Param(int32, f"{name}_b", 1)
    quotient, remainder = Func(f"{name}_q"), Func(f"{name}_r")
    quotient[x] = a[x] / b
    remainder[x] = a[x] % b
    return Pipeline([quotient, remainder])


def _vectorized(p: Pipeline) -> Schedule:
    s = Schedule()
    for f in p.outputs:
        s[f].vectorize("x", 16)
    return s


def test_the_vector_loops_use_the_branch_free_division_and_vectorize(tmp_path) -> None:
    p = _pipeline("vdiv_src", by_lane=False)
    source = compile(p, _vectorized(p)).c_source
    assert "saline_div_vec_i32(" in source and "saline_mod_vec_i32(" in source
    unvectorized = compile(p, Schedule()).c_source
    assert "saline_div_vec_i32(" not in unvectorized, "scalar loops keep the branching helper"
    kept = tmp_path / "division.c"
    kept.write_text(source)
    flags = [f for f in compile_flags() if f != "-shared"]
    report = subprocess.run(
        [*compiler_command(), *flags, "-fopt-info-vec-optimized", "-S", "-o", str(tmp_path / "d.s"), str(kept)],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert "loop vectorized" in report, report


@pytest.mark.parametrize("b", DIVISORS)
def test_a_run_time_divisor_gives_the_languages_results(b: int) -> None:
    p = _pipeline("vdiv_param", by_lane=False)
    args = {"vdiv_param_a": DIVIDENDS, "vdiv_param_b": b}
    got = compile(p, _vectorized(p))(shape=[DIVIDENDS.shape] * 2, **args)
    want = interpret(p, shape=[DIVIDENDS.shape] * 2, **args)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_a_divisor_per_lane_gives_the_languages_results() -> None:
    p = _pipeline("vdiv_lane", by_lane=True)
    rng = np.random.default_rng(9)
    a = np.repeat(DIVIDENDS, 4)
    b = np.concatenate([np.array(DIVISORS, np.int32), rng.integers(-300, 300, a.size - len(DIVISORS), dtype=np.int32)])
    args = {"vdiv_lane_a": a, "vdiv_lane_b": b}
    got = compile(p, _vectorized(p))(shape=[a.shape] * 2, **args)
    want = interpret(p, shape=[a.shape] * 2, **args)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)

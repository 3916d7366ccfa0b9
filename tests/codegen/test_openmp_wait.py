"""OpenMP's idle threads (codegen.compile.steady_openmp): libgomp is loaded with a short spin
before its workers sleep, and the environment is left as it was for other libraries."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, float32
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")


def test_compiling_a_parallel_pipeline_leaves_the_environment_alone():
    before = {k: os.environ.get(k) for k in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    image = ImageParam(float32, 2, "wait_in")
    out = Func("wait_out")
    out[x, y] = image[x, y] * 2
    s = Schedule()
    s[out].parallel(y)
    compiled = compile(Pipeline(out), s, threads=2)
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(compiled(shape=a.shape, wait_in=a), a * 2)
    assert {k: os.environ.get(k) for k in before} == before
    if Path("/proc/self/maps").exists():
        assert "/libgomp.so" in Path("/proc/self/maps").read_text()

"""A split whose outer loop keeps the split loop's name (`split(x, x, xi, 8)`, as Halide allows)
computes what the interpreter computes, with every tail strategy.

Regression: the guard_with_if test of such a split was rewritten together with the old loop's
uses, becoming `(x*8 + xi)*8 + xi < extent`, so most points were skipped and left unwritten.
"""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, float64
from pipelines.interpret import interpret
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")


@pytest.mark.parametrize("tail", ["round_up", "guard_with_if", "shift_inwards", "auto"])
@pytest.mark.parametrize("where", ["producer", "consumer"])
def test_split_keeping_the_loop_name_matches_the_interpreter(tail, where):
    im = ImageParam(float64, 2, "im")
    f = Func("f")
    f[x, y] = im[x, y] * 2
    g = Func("g")
    g[x, y] = f[x, y] + f[x + 1, y]
    out = Func("out")
    out[x, y] = g[x, y] * 3
    p = Pipeline(out)
    s = Schedule()
    s[f].compute_root()
    s[g].compute_root()
    s[f if where == "producer" else g].split(x, x, "xi", 8, tail).vectorize("xi")
    a = np.random.default_rng(0).standard_normal((6, 11))
    got = compile(p, s)(shape=(6, 10), im=a)
    np.testing.assert_array_equal(got, interpret(p, shape=(6, 10), im=a))

"""Gradient pipelines are scheduled like any other: by the names of their Funcs.

What holds: the adjoint Funcs of a gradient pipeline are named after the Funcs they
differentiate (`<name>_d`, `<image>_d`), a hand schedule naming them compiles, and its result
equals the interpreter's; without a schedule the automatic one is used, and it runs loops in
parallel and in SIMD.
"""

from __future__ import annotations

import numpy as np

from codegen.compile import compile
from pipelines import Func, ImageParam, RDom, Var, float64, repeat_edge, sum
from pipelines.autodiff import grad
from pipelines.interpret import interpret
from scheduler.schedule import Schedule
from tests.helpers import as_tuple

x, y = Var("x"), Var("y")


def _blur_loss() -> tuple[Func, ImageParam]:
    im = ImageParam(float64, 2, "im")
    edge = repeat_edge(im)
    blur = Func("blur")
    blur[x, y] = (edge[x - 1, y] + edge[x, y] + edge[x + 1, y]) / 3
    r = RDom([(0, im.width()), (0, im.height())])
    loss = Func("loss")
    loss[()] = sum(blur[r.x, r.y] * blur[r.x, r.y])
    return loss, im


def test_adjoints_are_named_after_what_they_differentiate():
    loss, im = _blur_loss()
    names = {f.name for f in grad(loss, [im]).funcs}
    assert {"blur_d", "im_d"} <= names


def test_a_hand_schedule_by_name_matches_the_interpreter():
    loss, im = _blur_loss()
    g = grad(loss, [im])
    s = Schedule()
    s["blur_d"].compute_root().split(x, "xo", "xi", 4).vectorize("xi").parallel(y)
    s["im_d"].parallel(y)
    a = np.random.default_rng(3).standard_normal((13, 11))
    got = compile(g, s)(im=a)
    np.testing.assert_allclose(got, interpret(g, im=a), rtol=1e-12)


def test_the_automatic_schedule_is_parallel_and_vectorized():
    loss, im = _blur_loss()
    g = grad(loss, [im], with_value=True)
    compiled = compile(g)
    nest = compiled.loop_nest
    assert "for parallel" in nest and "for vectorized" in nest
    a = np.random.default_rng(4).standard_normal((20, 17))
    for got, want in zip(as_tuple(compiled(im=a)), as_tuple(interpret(g, im=a))):
        np.testing.assert_allclose(got, want, rtol=1e-12)

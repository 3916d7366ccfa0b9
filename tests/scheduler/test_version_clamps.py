"""Vector loops versioned on their clamps (scheduler/version_clamps.py): the interior vectors run
a copy without the boundary's clamps, the edge vectors the original; both give the
interpreter's values at every size and origin, including images narrower than one vector."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, clamp
from pipelines.boundary import repeat_edge
from pipelines.expr import Cast, Max, Min
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import float32, int32, uint8
from scheduler.loopir import For, IfThenElse
from scheduler.lower import lower
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")


def _blur(name: str) -> tuple[Pipeline, Schedule]:
    im = ImageParam(float32, 2, f"{name}_in")
    edge = repeat_edge(im)
    f = Func(name)
    f[x, y] = edge[x - 1, y] + 2.0 * edge[x, y] + edge[x + 1, y] + edge[x, y - 1] + edge[x, y + 1]
    s = Schedule()
    s[f].vectorize("x", 8)
    return Pipeline(f), s


def _moving(node: object, lane: str) -> bool:
    return any(getattr(n, "name", None) == lane for n in walk(node))  # type: ignore[arg-type]


def test_an_interior_vector_loop_has_no_clamp_or_round_trip_that_moves_with_its_lanes() -> None:
    pipeline, s = _blur("vc_blur")
    body = lower(pipeline, s).body
    versions = [n for n in walk(body) if isinstance(n, IfThenElse) and isinstance(n.then_case, For)]
    fast = [v.then_case for v in versions if v.then_case.kind == "vectorized"]
    assert fast, "no vector loop was versioned"
    for loop in fast:
        for n in walk(loop.body):
            if isinstance(n, (Min, Max)) and n.dtype.is_int:
                assert not _moving(n, loop.name), f"clamp left in the fast loop: {n}"
            if isinstance(n, Cast) and isinstance(n.value, Cast) and n.value.dtype == int32:
                assert not _moving(n, loop.name), f"round trip through int32 left: {n}"


@pytest.mark.parametrize("width", [1, 3, 7, 8, 9, 15, 16, 17, 40])
@pytest.mark.parametrize("origin", [(0, 0), (-5, 2), (3, -1)])
def test_versioned_stencil_matches_the_interpreter_at_every_width(width: int, origin: tuple[int, int]) -> None:
    pipeline, s = _blur(f"vc_blur_{width}_{origin[0]}_{origin[1]}".replace("-", "m"))
    a = np.random.default_rng(width).random((5, width), dtype=np.float32)
    name = pipeline.images[0].name
    out_shape = (6, width + 4)  # wider than the input: the edges clamp on both sides
    want = interpret(pipeline, shape=out_shape, origin=origin, **{name: a})
    got = compile(pipeline, s)(shape=out_shape, origin=origin, **{name: a})
    np.testing.assert_array_equal(got, want)


def test_a_clamp_of_data_is_left_alone_and_stays_right() -> None:
    """lut[clamp(im[x], 0, 15)]: the clamped value is data, with no interval to version on."""
    im = ImageParam(uint8, 1, "vc_data_in")
    lut, out = Func("vc_data_lut"), Func("vc_data")
    lut[x] = x * 3
    out[x] = lut[clamp(Cast(int32, im[x]), 0, 15)]
    s = Schedule()
    s[lut].compute_root()
    s[out].vectorize("x", 8)
    a = np.arange(0, 250, 7, dtype=np.uint8)
    want = interpret(Pipeline(out), shape=a.shape, vc_data_in=a)
    np.testing.assert_array_equal(compile(Pipeline(out), s)(shape=a.shape, vc_data_in=a), want)
    np.testing.assert_array_equal(want, np.minimum(a, 15).astype(np.int32) * 3)

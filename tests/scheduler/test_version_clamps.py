"""Vector loops versioned on their clamps (scheduler/version_clamps.py): the interior vectors run
a copy without the boundary's clamps, the edge vectors the original; both give the
interpreter's values at every size and origin, including images narrower than one vector. In
the copy, what a clamp's operand leaves behind, `int64(int32(x) * 2 - 1)`, is done in int64, so
that its loads are contiguous or strided rather than gathered."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, clamp
from pipelines.boundary import repeat_edge
from pipelines.expr import Add, Cast, Const, Max, Min, Mul, Sub
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import float32, int32, int64, uint8
from scheduler.loopir import For, IfThenElse, Load
from scheduler.lower import lower
from scheduler.schedule import Schedule
from scheduler.version_clamps import _arithmetic_widening

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


def _fast_loops(pipeline: Pipeline, s: Schedule) -> list[For]:
    """The versioned vector loops' interior copies (at least one)."""
    body = lower(pipeline, s).body
    versions = [n for n in walk(body) if isinstance(n, IfThenElse) and isinstance(n.then_case, For)]
    fast = [v.then_case for v in versions if v.then_case.kind == "vectorized"]
    assert fast, "no vector loop was versioned"
    return fast


def test_an_interior_vector_loop_has_no_clamp_or_round_trip_that_moves_with_its_lanes() -> None:
    for loop in _fast_loops(*_blur("vc_blur")):
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


def _downsample(name: str) -> tuple[Pipeline, Schedule]:
    """1 3 3 1 / 8 in x at stride 2, reading the input clamped to its width (local_laplacian's)."""
    im = ImageParam(float32, 2, f"{name}_in")
    w = im.width()

    def tap(at):  # type: ignore[no-untyped-def]
        return im[clamp(at, 0, w - 1), y]

    f = Func(name)
    f[x, y] = (tap(2 * x - 1) + 3.0 * (tap(2 * x) + tap(2 * x + 1)) + tap(2 * x + 2)) / 8.0
    s = Schedule()
    s[f].vectorize("x", 8)
    return Pipeline(f), s


def test_the_interior_copy_does_its_index_arithmetic_in_int64() -> None:
    for loop in _fast_loops(*_downsample("vc_down")):
        for n in walk(loop.body):
            if isinstance(n, Cast) and n.value.dtype == int32 and isinstance(n.value, (Add, Sub, Mul)):
                assert not _moving(n, loop.name), f"int32 index arithmetic left in the fast loop: {n}"


@pytest.mark.parametrize("width", [1, 2, 5, 16, 17, 33, 64])
@pytest.mark.parametrize("origin", [(0, 0), (-3, 0), (5, 0), (-17, 0)])
def test_strided_reads_done_in_int64_match_the_interpreter(width: int, origin: tuple[int, int]) -> None:
    pipeline, s = _downsample(f"vc_down_{width}_{origin[0]}".replace("-", "m"))
    a = np.random.default_rng(width).random((3, width), dtype=np.float32)
    name = pipeline.images[0].name
    out_shape = (3, width // 2 + 6)  # past the input's right edge at every origin
    want = interpret(pipeline, shape=out_shape, origin=origin, **{name: a})
    got = compile(pipeline, s)(shape=out_shape, origin=origin, **{name: a})
    np.testing.assert_array_equal(got, want)


def test_index_arithmetic_on_a_loaded_value_is_not_widened() -> None:
    """int64(data + int32(x)): data has no interval, so whether the int32 sum wraps cannot be
    put in the loop's condition, and the arithmetic is left in int32; int32(x) + 1 is widened
    under the condition that x fits."""
    lane = Var("vc_lane", int64)
    scope = {lane.name: (Var("vc_lo", int64), Var("vc_hi", int64))}
    data = Load("vc_data", Cast(int64, Const(0, int32)), int32)
    assert _arithmetic_widening(Cast(int64, Add(data, Cast(int32, lane))), scope, {}) is None
    cond = _arithmetic_widening(Cast(int64, Add(Cast(int32, lane), Const(1, int32))), scope, {})
    assert cond is not None and not isinstance(cond, Const)

"""Pruning clamps (scheduler.prune_clamps): inside a ShiftInwards tile the producer's region is a
constant, so its loops have literal trip counts and no clamped indices, and results do not change.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import Func, ImageParam, Pipeline, Var, float32
from pipelines.expr import Const, Max, Min
from pipelines.expr import Var as IRVar
from pipelines.mutator import walk
from pipelines.types import float32 as f32
from pipelines.types import int64
from scheduler.loopir import For, IfThenElse, LetStmt, Store
from scheduler.lower import lower
from scheduler.prune_clamps import prune_clamps
from scheduler.schedule import Schedule
from tests.helpers import assert_matches_reference

x, y = Var("x"), Var("y")
xo, yo, xi, yi = Var("xo"), Var("yo"), Var("xi"), Var("yi")


def blur() -> tuple[Pipeline, Func, Func]:
    image = ImageParam(float32, 2, "prune_in")
    blur_x, blur_y = Func("blur_x"), Func("blur_y")
    blur_x[x, y] = (image[x, y] + image[x + 1, y] + image[x + 2, y]) / 3
    blur_y[x, y] = (blur_x[x, y] + blur_x[x, y + 1] + blur_x[x, y + 2]) / 3
    return Pipeline(blur_y), blur_x, blur_y


def tiled(blur_x: Func, blur_y: Func) -> Schedule:
    s = Schedule()
    s[blur_y].tile(x, y, xo, yo, xi, yi, 64, 8).vectorize(xi, 8).parallel(yo)
    s[blur_x].compute_at(blur_y, xo).vectorize(x, 8)
    return s


def test_tiled_producer_loops_have_constant_trip_counts():
    pipeline, blur_x, blur_y = blur()
    body = lower(pipeline, tiled(blur_x, blur_y)).body
    loops = [n for n in walk(body) if isinstance(n, For) and n.name == "blur_x.s0.x"]
    # The ShiftInwards version (the image covers a whole tile) has the literal 64 / 8 = 8 trip
    # count; the version for images smaller than a tile keeps its computed one.
    assert any(loop.extent == Const(8, int64) for loop in loops)
    steady = next(loop for loop in loops if loop.extent == Const(8, int64))
    stores = [n for n in walk(steady) if isinstance(n, Store)]
    assert stores and not any(isinstance(n, (Min, Max)) for s in stores for n in walk(s.index))
    assert not any(isinstance(n, IfThenElse) for n in walk(steady))


@pytest.mark.parametrize("shape", [(8, 64), (15, 130), (37, 203), (7, 63), (3, 5)])
def test_tiled_blur_matches_reference_at_sizes_around_the_tile(shape):
    pipeline, blur_x, blur_y = blur()
    h, w = shape
    image = np.random.default_rng(1).random((h + 2, w + 2), dtype=np.float32)
    assert_matches_reference(pipeline, {"prune_in": image}, shape=shape, schedule=tiled(blur_x, blur_y), rtol=0)


def test_min_decided_by_the_loop_range_is_dropped():
    i = IRVar("i", int64)
    store = Store("out", Min(i * 2, Const(40, int64)), Const(1.0, f32))
    loop = For("i", Const(0, int64), Const(10, int64), "serial", store)
    pruned = prune_clamps(loop, [])
    assert isinstance(pruned, For) and isinstance(pruned.body, Store)
    assert not any(isinstance(n, Min) for n in walk(pruned.body.index))


def test_min_not_decided_stays():
    i = IRVar("i", int64)
    store = Store("out", Min(i * 2, Const(10, int64)), Const(1.0, f32))
    loop = For("i", Const(0, int64), Const(10, int64), "serial", store)
    assert prune_clamps(loop, []) is loop


def test_condition_and_lets_decide_a_clamp():
    n, i = IRVar("n", int64), IRVar("i", int64)
    start = IRVar("start", int64)
    # if 16 <= n: let start = min(i * 16, n - 16); store at max(start, 0)
    inner = LetStmt("start", Min(i * 16, n - 16), Store("out", Max(start, Const(0, int64)), Const(1.0, f32)))
    loop = For("i", Const(0, int64), n, "serial", inner)
    guarded = IfThenElse(Const(16, int64) <= n, loop)
    pruned = prune_clamps(guarded, [])
    stores = [s for s in walk(pruned) if isinstance(s, Store)]
    assert stores and stores[0].index == start
    unguarded = prune_clamps(loop, [])
    assert isinstance(next(s for s in walk(unguarded) if isinstance(s, Store)).index, Max)

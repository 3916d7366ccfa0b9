"""Vector loops unswitched on lane-invariant conditions (scheduler/unswitch.py): the copies hold
no select on the channel or the row's parity, conditions on the lane or on memory stay, and the
results equal the interpreter's at sizes with partial vectors and strips."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, clamp, select
from pipelines.expr import Select
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import int32, uint16
from scheduler.loopir import For, IfThenElse, Load
from scheduler.lower import lower
from scheduler.schedule import Schedule

x, y, c = Var("x"), Var("y"), Var("c")


def _channels(name: str) -> tuple[Pipeline, Schedule]:
    """uint16 planes mixed per channel and per row parity, plus a select on the data itself."""
    image = ImageParam(uint16, 3, f"{name}_in")
    table = ImageParam(uint16, 1, f"{name}_table")
    w, h = image.width(), image.height()
    at = clamp(x, 0, w - 1), clamp(y, 0, h - 1)
    plane = [image[at[0], at[1], k] for k in range(3)]
    mixed = select(c < 1, plane[0] + plane[1], c < 2, plane[1] * 3, plane[2] - plane[0])
    parity = select(y % 2 < 1, mixed, mixed + 7)
    data = select(table[0] > 100, parity, parity * 2)  # reads memory: stays a select
    lanes = select(x % 3 < 1, data, data + 1)  # depends on the lane: stays a select
    out = Func(name)
    out[x, y, c] = lanes
    s = Schedule()
    s[out].reorder("x", "c", "y").split("y", "yo", "yi", 4).vectorize("x", 16)
    return Pipeline(out), s


def _vector_loops(pipeline: Pipeline, s: Schedule) -> list[For]:
    body = lower(pipeline, s).body
    return [n for n in walk(body) if isinstance(n, For) and n.kind == "vectorized"]


def test_copies_select_only_on_the_lane_or_on_memory() -> None:
    pipeline, s = _channels("uns_shape")
    loops = _vector_loops(pipeline, s)
    assert len(loops) >= 6, "the loop was not unswitched into copies"
    for loop in loops:
        for n in walk(loop.body):
            if isinstance(n, Select):
                reads = any(isinstance(m, Load) for m in walk(n.cond))
                lane = any(isinstance(m, Var) and m.name == loop.name for m in walk(n.cond))
                assert reads or lane, f"a lane-invariant select is left: {n.cond}"


@pytest.mark.parametrize("width", [3, 21])
@pytest.mark.parametrize("height", [1, 7])
@pytest.mark.parametrize("threshold", [50, 200])
def test_unswitched_loops_match_the_interpreter(width: int, height: int, threshold: int) -> None:
    name = f"uns_{width}_{height}_{threshold}"
    pipeline, s = _channels(name)
    rng = np.random.default_rng(width * height)
    a = rng.integers(0, 4000, (3, height, width), dtype=np.uint16)
    table = np.array([threshold], np.uint16)
    names = {f"{name}_in": a, f"{name}_table": table}
    shape = (3, height + 1, width + 2)
    want = interpret(pipeline, shape=shape, origin=(0, -1, -1), **names)
    got = compile(pipeline, s)(shape=shape, origin=(0, -1, -1), **names)
    np.testing.assert_array_equal(got, want)


def test_a_loop_with_more_conditions_keeps_the_rest_as_selects() -> None:
    image = ImageParam(int32, 1, "uns_many_in")
    out = Func("uns_many")
    value = image[clamp(x, 0, image.width() - 1)]
    for k in range(5):
        value = select(y > k, value + k, value - k)
    out[x, y] = value
    s = Schedule()
    s[out].vectorize("x", 8)
    pipeline = Pipeline(out)
    a = np.arange(13, dtype=np.int32)
    want = interpret(pipeline, shape=(7, 13), uns_many_in=a)
    np.testing.assert_array_equal(compile(pipeline, s)(shape=(7, 13), uns_many_in=a), want)


def test_an_outer_tail_test_is_lifted_out_of_the_inner_loop() -> None:
    """split(y, 1 << 20, guard_with_if) puts `yi < height` in the innermost loop: it moves above
    that loop, so the 2^20 - height failing rows skip their inner loop (the hostile test of the
    same schedule ran 3 minutes before), and the output is the interpreter's."""
    image = ImageParam(int32, 2, "uns_guard_in")
    out = Func("uns_guard")
    out[x, y] = image[x, y] * 2 + x
    s = Schedule()
    s[out].split("y", "yo", "yi", 1 << 20, "guard_with_if").split("x", "xo", "xi", 4, "guard_with_if")
    pipeline = Pipeline(out)
    body = lower(pipeline, s).body
    for loop in (n for n in walk(body) if isinstance(n, For) and n.name.endswith(".xi")):
        for n in walk(loop.body):
            if isinstance(n, IfThenElse):
                assert any(isinstance(m, Var) and m.name == loop.name for m in walk(n.cond)), n.cond
    a = np.arange(35, dtype=np.int32).reshape(5, 7)
    want = interpret(pipeline, shape=(5, 7), uns_guard_in=a)
    np.testing.assert_array_equal(compile(pipeline, s)(shape=(5, 7), uns_guard_in=a), want)

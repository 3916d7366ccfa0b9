"""Values a vector loop's store uses that do not change along the loop are computed before it
(`codegen.c_emit.loop_invariants`): the row a resize reads, computed through a float-to-int
conversion, no longer makes its contiguous loads gathers. Loads stay in the loop (their indices'
invariant parts move out), results match the interpreter, and a loop that does not run
computes nothing that could fail."""

from __future__ import annotations

import numpy as np

from codegen.c_emit import loop_invariants
from codegen.compile import compile
from pipelines import Func, ImageParam, Param, Pipeline, Var, cast, clamp, floor
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import float32, int32, int64
from scheduler.loopir import Load, Store
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")


def _row_resize() -> tuple[Pipeline, ImageParam, Param]:
    """A resize in y: output row y reads input row floor((y + 0.5) / scale - 0.5), clamped."""
    image, scale = ImageParam(float32, 2, "rows_in"), Param(float32, "rows_scale", 0.5)
    row = clamp(cast(int32, floor((cast(float32, y) + 0.5) / scale - 0.5)), 0, image.height() - 1)
    out = Func("rows_out")
    out[x, y] = image[x, row] * 2.0
    return Pipeline(out), image, scale


def test_invariant_parts_leave_the_store_and_loads_stay() -> None:
    loop, row = Var("loop.x", int64), Var("row", int64)
    index = (row * 7 + 3) * 5 + loop
    value = Load("b", (row * 7 + 3) * 5 + loop, float32) * (cast(float32, row) + 1.0)
    lets, store = loop_invariants(Store("out", index, value), "loop.x", "inv1")
    assert lets, "nothing hoisted"
    for _, hoisted in lets:
        assert not any(isinstance(n, Load) for n in walk(hoisted))
        assert not any(isinstance(n, Var) and n.name == "loop.x" for n in walk(hoisted))
    assert any(isinstance(n, Load) for n in walk(store.value)), "the load left the loop"
    assert any(isinstance(n, Var) and n.name == "loop.x" for n in walk(store.index))


def test_the_row_of_a_resize_is_computed_before_the_vector_loop() -> None:
    pipeline, image, scale = _row_resize()
    s = Schedule()
    s["rows_out"].vectorize("x", 8)
    compiled = compile(pipeline, s)
    source = compiled.c_source
    simd = source.index("#pragma omp simd")
    before = source[source.rfind("{", 0, simd - 40) : simd]
    assert "floorf" in before, "the row's float computation stayed in the vector loop"
    a = np.random.default_rng(3).random((37, 29), np.float32)
    for factor in (0.5, 0.37, 2.5):
        got = compiled(shape=(30, 21), rows_in=a, rows_scale=factor)
        want = interpret(pipeline, shape=(30, 21), rows_in=a, rows_scale=factor)
        np.testing.assert_array_equal(got, want)


def test_an_empty_output_runs_no_loop_and_fails_nothing() -> None:
    pipeline, image, scale = _row_resize()
    s = Schedule()
    s["rows_out"].vectorize("x", 8)
    a = np.ones((4, 4), np.float32)
    got = compile(pipeline, s)(shape=(3, 0), rows_in=a, rows_scale=0.0)
    assert got.shape == (3, 0)

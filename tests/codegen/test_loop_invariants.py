"""Values a loop's body uses that do not change along the loop are computed before it
(`codegen.hoist`), as far out as they stay invariant: the row a resize reads, computed through a
float-to-int conversion, no longer makes its contiguous loads gathers. Loads stay in their loop
(their indices' invariant parts move out), results match the interpreter, and a loop that does
not run computes nothing that could fail."""

from __future__ import annotations

import numpy as np

from codegen.compile import compile
from codegen.hoist import hoist_invariants
from pipelines import Func, ImageParam, Param, Pipeline, Var, cast, clamp, floor
from pipelines.expr import Const
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import float32, int32, int64
from scheduler.loopir import For, LetStmt, Load, Store
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")


def _row_resize() -> tuple[Pipeline, ImageParam, Param]:
    """A resize in y: output row y reads input row floor((y + 0.5) / scale - 0.5), clamped."""
    image, scale = ImageParam(float32, 2, "rows_in"), Param(float32, "rows_scale", 0.5)
    row = clamp(cast(int32, floor((cast(float32, y) + 0.5) / scale - 0.5)), 0, image.height() - 1)
    out = Func("rows_out")
    out[x, y] = image[x, row] * 2.0
    return Pipeline(out), image, scale


def test_invariant_parts_leave_their_loops_and_loads_stay() -> None:
    lane, vec, row = Var("lane", int64), Var("vec", int64), Var("row", int64)
    index = (row * 7 + 3) * 5 + vec * 8 + lane
    value = Load("b", (row * 7 + 3) * 5 + vec * 8 + lane, float32) * (cast(float32, row) + 1.0)
    inner = For("lane", Const(0, int64), Const(8, int64), "vectorized", Store("out", index, value))
    body = hoist_invariants(For("vec", Const(0, int64), Const(4, int64), "serial", inner))
    # (row * 7 + 3) * 5 and row + 1.0 name neither loop: computed before both
    outer_lets = []
    while isinstance(body, LetStmt):
        outer_lets.append(body.value)
        body = body.body
    assert isinstance(body, For) and body.name == "vec", "nothing left the outer loop"
    assert outer_lets
    for hoisted in outer_lets:
        assert not any(isinstance(n, Load) for n in walk(hoisted))
        assert not any(isinstance(n, Var) and n.name in ("lane", "vec") for n in walk(hoisted))
    stores = [n for n in walk(body) if isinstance(n, Store)]
    assert len(stores) == 1 and any(isinstance(n, Load) for n in walk(stores[0].value)), "the load left its loop"
    assert any(isinstance(n, Var) and n.name == "lane" for n in walk(stores[0].index))


def _vector_loop_bodies(source: str) -> list[str]:
    """The text of each `#pragma omp simd` loop's body: the lines after its `for`, up to the
    first one indented no deeper than the pragma (the loop's closing brace)."""
    lines, bodies = source.splitlines(), []
    for k, line in enumerate(lines):
        if line.strip().startswith("#pragma omp simd"):
            depth = len(line) - len(line.lstrip())
            assert lines[k + 1].lstrip().startswith("for ("), lines[k + 1]
            end = k + 2
            while end < len(lines) and len(lines[end]) - len(lines[end].lstrip()) > depth:
                end += 1
            bodies.append("\n".join(lines[k + 2 : end]))
    assert bodies and all("=" in b for b in bodies), "no vector loop, or one with an empty body"
    return bodies


def test_the_row_of_a_resize_is_computed_before_the_vector_loop() -> None:
    pipeline, image, scale = _row_resize()
    s = Schedule()
    s["rows_out"].vectorize("x", 8)
    compiled = compile(pipeline, s)
    assert "floorf" in compiled.c_source
    for body in _vector_loop_bodies(compiled.c_source):
        assert "floorf" not in body, "the row's float computation stayed in the vector loop"
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

"""Streamed outputs (`stream()`, scheduler/stream.py) and loops unrolled in the IR
(scheduler/unroll.py): which loops they change, and results equal to the interpreter's for
aligned, misaligned and strided output arrays, partial vectors and parallel strips."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, clamp, select
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import float32, uint8
from scheduler.loopir import For, StreamStore
from scheduler.lower import lower
from scheduler.schedule import Schedule, ScheduleError

x, y, c = Var("x"), Var("y"), Var("c")


def _tone(name: str, dtype=float32) -> tuple[Pipeline, Func]:
    image = ImageParam(dtype, 2, f"{name}_in")
    at = clamp(x + 1, 0, image.width() - 1), y
    out = Func(name)
    out[x, y] = image[at] * 3 - image[x, y] if dtype == float32 else image[at] // 2 + image[x, y] // 2
    return Pipeline(out), out


def _streamed(p: Pipeline, s: Schedule) -> list[StreamStore]:
    return [n for n in walk(lower(p, s).body) if isinstance(n, StreamStore)]


def _schedule(out: Func, lanes: int, parallel: bool = True) -> Schedule:
    s = Schedule()
    s[out].split("y", "yo", "yi", 4).vectorize("x", lanes).stream()
    if parallel:
        s[out].parallel("yo")
    return s


def test_whole_line_vector_stores_are_streamed_and_fenced() -> None:
    p, out = _tone("st_lines")
    assert _streamed(p, _schedule(out, 16)), "16 float32 lanes are one 64-byte line"
    source = compile(p, _schedule(out, 16)).c_source
    assert "saline_stream_store(" in source
    # a fence ends each iteration of a parallel loop that streams (its thread's stores), one
    # ends the call
    body, end = source.split("cleanup:")
    assert "saline_stream_fence();" in end
    for loop in body.split("#pragma omp parallel for")[1:]:
        assert ("saline_stream_store(" in loop) == ("saline_stream_fence();" in loop)


@pytest.mark.parametrize(
    ("dtype", "lanes", "streamed"), [(float32, 8, False), (float32, 32, True), (uint8, 16, False), (uint8, 64, True)]
)
def test_only_loops_of_whole_lines_are_streamed(dtype, lanes: int, streamed: bool) -> None:
    p, out = _tone(f"st_width_{dtype.name}_{lanes}", dtype)
    assert bool(_streamed(p, _schedule(out, lanes))) == streamed


def _inputs(dtype, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(h * 1000 + w)
    if dtype == float32:
        return rng.random((h, w), dtype=np.float32)
    return rng.integers(0, 256, (h, w), dtype=np.uint8)


@pytest.mark.parametrize("dtype", [float32, uint8])
@pytest.mark.parametrize(("h", "w"), [(1, 5), (7, 64), (9, 100), (13, 257)])
@pytest.mark.parametrize("layout", ["allocated", "misaligned", "strided"])
def test_streamed_output_equals_the_interpreter(dtype, h: int, w: int, layout: str) -> None:
    p, out = _tone(f"st_eq_{dtype.name}", dtype)
    lanes = 64 if dtype == uint8 else 16
    compiled = compile(p, _schedule(out, lanes), threads=2)
    a = _inputs(dtype, h, w)
    want = interpret(p, shape=(h, w), **{f"st_eq_{dtype.name}_in": a})
    if layout == "allocated":
        got = compiled(shape=(h, w), **{f"st_eq_{dtype.name}_in": a})
        assert got.ctypes.data % 64 == 0, "outputs a call allocates start on a cache line"
    else:
        # one element past a line: the ordinary-store path; every other column: the general
        # (non-unit stride) version of the loops, which streams nothing
        big = np.zeros((h, 2 * w + 64), dtype.numpy)
        start = (-big.ctypes.data % 64) // big.itemsize + 1
        got = big[:, start : start + w] if layout == "misaligned" else big[:, ::2][:, :w]
        compiled(out=got, **{f"st_eq_{dtype.name}_in": a})
    np.testing.assert_array_equal(got, want)


def test_stream_is_for_outputs_of_the_pure_definition() -> None:
    image = ImageParam(float32, 2, "st_err_in")
    mid, out = Func("st_err_mid"), Func("st_err_out")
    mid[x, y] = image[x, y] * 2
    out[x, y] = mid[x, y] + 1
    s = Schedule()
    s[mid].compute_root().stream()
    with pytest.raises(ScheduleError, match="'st_err_mid' is not an output"):
        lower(Pipeline(out), s)
    with pytest.raises(ScheduleError, match="stream applies to the pure definition"):
        Schedule()[out].update(0).stream()
    total = Func("st_err_total")
    total[x, y] = image[x, y]
    total[x, y] = total[x, y] + 1.0
    s = Schedule()
    s[total].stream()
    with pytest.raises(ScheduleError, match="'st_err_total' has update definitions"):
        lower(Pipeline(total), s)


def test_stream_round_trips_through_json() -> None:
    s = Schedule()
    s["f"].vectorize("x", 16).stream()
    assert Schedule.from_json(s.to_json()) == s


def _mixed(name: str) -> tuple[Pipeline, Func]:
    image = ImageParam(float32, 3, f"{name}_in")
    rows = [image[x, y, 0] * (k + 1) + image[x, y, 1] - image[x, y, 2] * k for k in range(3)]
    out = Func(name)
    out[x, y, c] = select(c <= 0, rows[0], c <= 1, rows[1], rows[2])
    return Pipeline(out), out


@pytest.mark.parametrize("inner", [True, False])
def test_unrolled_channels_are_copies_without_selects(inner: bool) -> None:
    p, out = _mixed(f"unr_{inner}")
    s = Schedule()
    s[out].bound("c", 0, 3).split("x", "xo", "xi", 8)
    order = ("c", "xi", "xo", "y") if inner else ("xi", "c", "xo", "y")
    s[out].reorder(*order).unroll("c").vectorize("xi")
    body = lower(p, s).body
    loops = [n for n in walk(body) if isinstance(n, For)]
    assert not [n for n in loops if n.kind == "unrolled"], "the channel loop was copied out"
    assert "? " not in compile(p, s).c_source.split("saline_run", 1)[1], "the channel selects folded"
    a = np.random.default_rng(3).random((3, 5, 19), dtype=np.float32)
    want = interpret(p, shape=a.shape, **{f"unr_{inner}_in": a})
    np.testing.assert_array_equal(compile(p, s)(shape=a.shape, **{f"unr_{inner}_in": a}), want)

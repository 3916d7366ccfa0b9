"""Vector loops that read narrow tables at computed indices (scheduler/split_lookups.py): split
into index, read and rest loops, with the interpreter's values at every width, tail and type;
loops where the split would not be sound are left whole."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Param, Pipeline, Var, clamp, floor
from pipelines.expr import Cast, Const
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import DType, float32, int16, int32, int64, uint8, uint16
from scheduler.loopir import Allocate, Block, For, IfThenElse, Load, LookupCopy, Stmt, Store
from scheduler.lower import lower
from scheduler.schedule import Schedule
from scheduler.split_lookups import split_lookups

x = Var("x")


def _lookup(name: str, table_type: DType, lanes: int = 8) -> tuple[Pipeline, Schedule]:
    """out[x] = lut[clamp(im[x], 0, 255)] * 2 + im[x]: a 256-entry table of `table_type`."""
    im = ImageParam(int16, 1, f"{name}_in")
    lut, out = Func(f"{name}_lut"), Func(name)
    lut[x] = Cast(table_type, x * 7 - 300)
    index = clamp(Cast(int32, im[x]), 0, 255)
    out[x] = Cast(int32, lut[index]) * 2 + Cast(int32, im[x])
    s = Schedule()
    s[lut].compute_root()
    s[out].vectorize("x", lanes)
    return Pipeline(out), s


def _index_arrays(body: Stmt) -> list[Allocate]:
    return [n for n in walk(body) if isinstance(n, Allocate) and ".lookup.index." in n.name]


@pytest.mark.parametrize("table_type", [uint8, int16, uint16])
@pytest.mark.parametrize("width", [1, 7, 8, 9, 31, 64])
def test_a_narrow_table_lookup_matches_the_interpreter(table_type: DType, width: int) -> None:
    pipeline, s = _lookup(f"sl_{table_type.name}_{width}", table_type)
    a = np.random.default_rng(width).integers(-40, 300, width).astype(np.int16)
    name = pipeline.images[0].name
    want = interpret(pipeline, shape=(width,), **{name: a})
    for threads in (None, 1):
        np.testing.assert_array_equal(compile(pipeline, s, threads=threads)(shape=(width,), **{name: a}), want)


def _split_kinds(pipeline: Pipeline, s: Schedule) -> list[list[str]]:
    """The kinds of the loops under each split's allocations, each loop's table reads checked:
    only the unrolled read loop reads the table."""
    kinds = []
    for alloc in _index_arrays(lower(pipeline, s).body):
        loops = [n for n in walk(alloc) if isinstance(n, For)]
        for loop in loops:
            reads_table = any(getattr(n, "buffer", "").endswith("_lut") for n in walk(loop.body))
            assert reads_table == (loop.kind == "unrolled"), loop
        kinds.append([loop.kind for loop in loops])
    assert kinds, "no loop was split"
    return kinds


def test_a_lookup_used_in_arithmetic_becomes_index_read_and_rest_loops() -> None:
    for kinds in _split_kinds(*_lookup("sl_shape", uint8, lanes=16)):
        assert kinds == ["vectorized", "unrolled", "vectorized"]


@pytest.mark.parametrize("width", [5, 16, 37])
def test_a_table_copy_reads_straight_into_its_destination(width: int) -> None:
    """out[x] = lut[clamp(im[x], 0, 255)]: no value array read back after the byte stores."""
    im = ImageParam(int16, 1, f"sl_copy_{width}_in")
    lut, out = Func(f"sl_copy_{width}_lut"), Func(f"sl_copy_{width}")
    lut[x] = Cast(uint8, x * 3 + 1)
    out[x] = lut[clamp(Cast(int32, im[x]), 0, 255)]
    s = Schedule()
    s[lut].compute_root()
    s[out].vectorize("x", 16)
    pipeline = Pipeline(out)
    # a byte table copied to consecutive bytes: a LookupCopy after the index loop where the
    # indices fit int32, else the unrolled reads (test_a_byte_table_copy_is_one_call)
    kinds = {tuple(k) for k in _split_kinds(pipeline, s)}
    assert kinds == {("vectorized",), ("vectorized", "unrolled")}
    a = np.random.default_rng(width).integers(-40, 300, width).astype(np.int16)
    want = interpret(pipeline, shape=a.shape, **{im.name: a})
    np.testing.assert_array_equal(compile(pipeline, s)(shape=a.shape, **{im.name: a}), want)


def test_two_tables_of_different_types_in_one_loop_match_the_interpreter() -> None:
    """out[x] = a[i(x)] * b[j(x)] + a[j(x)]: three lookups, two tables, two value types."""
    im = ImageParam(int16, 1, "sl_two_in")
    a, b, out = Func("sl_two_a_lut"), Func("sl_two_b_lut"), Func("sl_two")
    a[x] = Cast(uint8, x * 5 + 2)
    b[x] = Cast(int16, 600 - x * 9)
    i = clamp(Cast(int32, im[x]), 0, 255)
    j = clamp(Cast(int32, im[x]) / 3 + 7, 0, 255)
    out[x] = Cast(int32, a[i]) * Cast(int32, b[j]) + Cast(int32, a[j])
    s = Schedule()
    s[a].compute_root()
    s[b].compute_root()
    s[out].vectorize("x", 16)
    pipeline = Pipeline(out)
    splits = _index_arrays(lower(pipeline, s).body)
    assert len({alloc.name.rsplit(".", 1)[1] for alloc in splits}) == 3, "three lookups, three index arrays"
    values = np.random.default_rng(3).integers(-100, 900, 53).astype(np.int16)
    want = interpret(pipeline, shape=values.shape, sl_two_in=values)
    np.testing.assert_array_equal(compile(pipeline, s)(shape=values.shape, sl_two_in=values), want)


def test_a_float_table_is_left_to_the_compilers_gather() -> None:
    pipeline, s = _lookup("sl_float", float32)
    assert not _index_arrays(lower(pipeline, s).body)


def test_a_lookup_whose_index_reads_another_lookup_is_left_whole_and_right() -> None:
    """out[x] = lut[lut[im[x]]]: the outer index needs the inner value, so no index loop can
    run first."""
    im = ImageParam(uint8, 1, "sl_nested_in")
    lut, out = Func("sl_nested_lut"), Func("sl_nested")
    lut[x] = Cast(uint8, x * 5 + 3)
    out[x] = lut[Cast(int32, lut[Cast(int32, im[x])])]
    s = Schedule()
    s[lut].compute_root()
    s[out].vectorize("x", 8)
    pipeline = Pipeline(out)
    lowered = lower(pipeline, s).body
    assert not _index_arrays(lowered)
    a = np.arange(0, 256, 3, dtype=np.uint8)
    want = interpret(pipeline, shape=a.shape, sl_nested_in=a)
    np.testing.assert_array_equal(compile(pipeline, s)(shape=a.shape, sl_nested_in=a), want)


def _table_loop(store_to: str) -> For:
    """for vectorized v in [0, 8): store_to[v] = t[int64(im[v])]"""
    lane = Var("v", int64)
    read = Load("t", Cast(int64, Load("im", lane, int16)), uint8)
    return For("v", Const(0, int64), Const(8, int64), "vectorized", Store(store_to, lane, read))


def test_a_loop_that_stores_to_a_table_it_reads_is_left_whole() -> None:
    """The split would move every lane's read before every lane's write."""
    assert _index_arrays(split_lookups(_table_loop("u")))
    loop = _table_loop("t")
    assert split_lookups(loop) is loop


def _copies_loop(second_index: Load) -> For:
    """for vectorized v in [0, 8): u[v] = t[int64(im[v])]; w[v] = t[second_index]"""
    lane = Var("v", int64)
    first = Store("u", lane, Load("t", Cast(int64, Load("im", lane, int16)), uint8))
    second = Store("w", lane, Load("t", Cast(int64, second_index), uint8))
    return For("v", Const(0, int64), Const(8, int64), "vectorized", Block((first, second)))


def test_byte_table_copies_in_one_loop_share_its_index_loop() -> None:
    lane = Var("v", int64)
    split = split_lookups(_copies_loop(Load("im2", lane, int16)))
    calls = [n for n in walk(split) if isinstance(n, LookupCopy)]
    assert [(c.buffer, c.indices) for c in calls] == [("u", "v.lookup.index.0"), ("w", "v.lookup.index.1")]
    (index_loop,) = [n for n in walk(split) if isinstance(n, For)]
    assert index_loop.kind == "vectorized"
    assert {n.buffer for n in walk(index_loop) if isinstance(n, Store)} == {"v.lookup.index.0", "v.lookup.index.1"}
    # the second copy's offsets read what the first one stores: left whole
    loop = _copies_loop(Load("u", lane, int16))
    assert split_lookups(loop) is loop


def _channel_curves(name: str, lanes: int) -> tuple[Pipeline, Schedule, ImageParam]:
    """out[x, c] = curve[clamp(im[x, c], 0, 1023)] for 3 channels, unrolled inside each vector
    of x: camera_pipe's tone curve."""
    im = ImageParam(int32, 2, f"{name}_in")
    c = Var("c")
    curve, out = Func(f"{name}_lut"), Func(name)
    curve[x] = Cast(uint8, x * 7 + x / 5)
    out[x, c] = curve[clamp(im[x, c], 0, 1023)]
    s = Schedule()
    s[curve].compute_root()
    s[out].bound("c", 0, 3).reorder("c", "x").unroll("c").vectorize("x", lanes)
    return Pipeline(out), s, im


@pytest.mark.parametrize("lanes", [64, 512])
@pytest.mark.parametrize("n", [64, 700])
def test_channels_copied_from_a_byte_table_match_the_interpreter(lanes: int, n: int) -> None:
    pipeline, s, im = _channel_curves(f"sl_channels_{lanes}_{n}", lanes)
    body = lower(pipeline, s).body
    calls = [c for c in walk(body) if isinstance(c, LookupCopy)]
    assert calls and len(calls) % 3 == 0 and all(c.lanes == lanes for c in calls)
    a = np.random.default_rng(n).integers(-50, 1100, (3, n)).astype(np.int32)
    want = interpret(pipeline, shape=a.shape, **{im.name: a})
    for threads in (None, 1):
        np.testing.assert_array_equal(compile(pipeline, s, threads=threads)(shape=a.shape, **{im.name: a}), want)


def test_the_pass_leaves_a_tree_without_lookups_as_the_same_object() -> None:
    im = ImageParam(float32, 1, "sl_none_in")
    f = Func("sl_none")
    f[x] = im[x] * 2.0
    s = Schedule()
    s[f].vectorize("x", 8)
    body = lower(Pipeline(f), s).body
    assert body is not None
    assert split_lookups(body) is body


def _byte_curve(name: str, size: int, lanes: int = 64) -> tuple[Pipeline, Schedule, ImageParam]:
    """out[x] = curve[clamp(im[x], 0, size - 1)]: a uint8 table of `size` entries, copied."""
    im = ImageParam(int32, 1, f"{name}_in")
    curve, out = Func(f"{name}_lut"), Func(name)
    curve[x] = Cast(uint8, x * 7 + x / 5)
    out[x] = curve[clamp(im[x], 0, size - 1)]
    s = Schedule()
    s[curve].compute_root()
    s[out].vectorize("x", lanes)
    return Pipeline(out), s, im


def test_a_byte_table_copy_is_one_call_where_its_offsets_fit_int32() -> None:
    pipeline, s, _ = _byte_curve("sl_call", 1024)
    body = lower(pipeline, s).body
    calls = {n for n in walk(body) if isinstance(n, LookupCopy)}
    assert calls and all(c.lanes == 64 and c.table.endswith("_lut") for c in calls)
    for call in calls:
        guards = [n for n in walk(body) if isinstance(n, IfThenElse) and any(m is call for m in walk(n.then_case))]
        assert guards, "the call is not guarded by the fit of its offsets"
        unrolled = [m for m in walk(guards[-1].else_case) if isinstance(m, For) and m.kind == "unrolled"]
        assert unrolled, "no byte-by-byte branch"


def test_a_wide_byte_table_copy_is_one_call_with_a_loop_behind_it() -> None:
    # past 64 lanes only the byte copy splits (one call for all lanes), and its fallback reads
    # byte by byte in a loop, not unrolled
    pipeline, s, _ = _byte_curve("sl_wide_call", 1024, lanes=512)
    body = lower(pipeline, s).body
    calls = {n for n in walk(body) if isinstance(n, LookupCopy)}
    assert calls and all(c.lanes == 512 and c.limit != Const(0, int64) for c in calls)  # the table's length known
    guards = [n for n in walk(body) if isinstance(n, IfThenElse)]
    guards = [g for g in guards if any(isinstance(m, LookupCopy) for m in walk(g.then_case))]
    assert guards
    kinds = {m.kind for g in guards for m in walk(g.else_case) if isinstance(m, For)}
    assert "serial" in kinds and "unrolled" not in kinds


def test_a_wide_loop_with_a_lookup_in_arithmetic_is_left_whole() -> None:
    pipeline, s = _lookup("sl_wide_arith", uint8, lanes=128)
    assert not _index_arrays(lower(pipeline, s).body)


# offsets a photograph's tone curve meets (a smooth ramp, within 1024 of each other in 64 lanes),
# offsets all over a large table (the permutes cannot serve them), offsets at both ends of a
# table that ends where its last read is (the masked loads must stop there)
OFFSETS = {
    "smooth": (1024, lambda rng, n: (np.arange(n) * 3 + rng.integers(-20, 20, n)).clip(0, 1023)),
    "scattered": (4096, lambda rng, n: rng.integers(0, 4096, n)),
    "ends": (300, lambda rng, n: np.where(rng.random(n) < 0.5, rng.integers(0, 3, n), rng.integers(296, 300, n))),
    "one": (1024, lambda rng, n: np.full(n, 517)),
    "beyond": (1024, lambda rng, n: rng.integers(-5000, 5000, n)),
    # tables loaded whole that end inside a 64-byte block, or inside the first 128-byte part
    "odd": (1000, lambda rng, n: rng.integers(0, 1000, n)),
    "short": (100, lambda rng, n: rng.integers(0, 100, n)),
    "tiny": (1, lambda rng, n: rng.integers(-3, 3, n)),
    # one entry past what a table read whole may hold: read through windows
    "over": (1025, lambda rng, n: (np.arange(n) + rng.integers(-3, 3, n)).clip(0, 1024)),
}


@pytest.mark.parametrize("offsets", sorted(OFFSETS))
@pytest.mark.parametrize("n", [64, 200, 1000])
@pytest.mark.parametrize("lanes", [64, 512])
def test_a_byte_table_copy_matches_the_interpreter(offsets: str, n: int, lanes: int) -> None:
    size, draw = OFFSETS[offsets]
    pipeline, s, im = _byte_curve(f"sl_curve_{offsets}_{n}_{lanes}", size, lanes)
    a = draw(np.random.default_rng(n), n).astype(np.int32)
    want = interpret(pipeline, shape=a.shape, **{im.name: a})
    for threads in (None, 1):
        np.testing.assert_array_equal(compile(pipeline, s, threads=threads)(shape=a.shape, **{im.name: a}), want)


def _resample(name: str, lanes: int) -> tuple[Pipeline, Schedule, ImageParam, Param]:
    """out[x] = im[s0] * (1 - t) + im[s0 + 1] * t at src = (x + 0.5) / scale - 0.5, s0 = floor(src)
    clamped to the image: resize_bilinear's x pass in one dimension."""
    im, scale = ImageParam(float32, 1, f"{name}_in"), Param(float32, f"{name}_scale", 0.5)
    src = (Cast(float32, x) + 0.5) / scale - 0.5
    whole = floor(src)
    s0 = clamp(Cast(int32, whole), 0, im.width() - 2)
    out = Func(name)
    out[x] = im[s0] * (1.0 - (src - whole)) + im[s0 + 1] * (src - whole)
    s = Schedule()
    s[out].vectorize("x", lanes)
    return Pipeline(out), s, im, scale


def test_a_resampling_reads_its_taps_by_calls_where_the_offsets_fit_int32() -> None:
    pipeline, s, _, _ = _resample("sl_taps", 16)
    body = lower(pipeline, s).body
    calls = [n for n in walk(body) if isinstance(n, LookupCopy)]
    assert calls and all(c.dtype == float32 and c.lanes == 16 for c in calls)
    assert len({c.indices for c in calls}) == 2, "two taps, two index arrays"
    # each split is entered on the fit of its offsets, else the loop runs as it was
    guards = [
        n
        for n in walk(body)
        if isinstance(n, IfThenElse)
        and isinstance(n.else_case, For)
        and any(isinstance(m, LookupCopy) for m in walk(n.then_case))
    ]
    assert guards and all(not any(isinstance(m, LookupCopy) for m in walk(g.else_case)) for g in guards)


# scales whose 16 lanes span at most 32 input pixels (the permutes) and more (one by one);
# widths whose last taps end at the image's last pixel (whole-vector reads must stop there)
@pytest.mark.parametrize("scale", [0.5, 0.7, 1.0, 2.3, 0.3, 0.05])
@pytest.mark.parametrize("lanes", [8, 16])
@pytest.mark.parametrize("width", [17, 64, 1001])
def test_a_resampling_matches_the_interpreter(scale: float, lanes: int, width: int) -> None:
    pipeline, s, im, p = _resample(f"sl_resample_{lanes}_{width}", lanes)
    a = np.random.default_rng(width).random(width, dtype=np.float32)
    n = max(1, round(width * scale))
    args = {im.name: a, p.name: scale}
    want = interpret(pipeline, shape=(n,), **args)
    for threads in (None, 1):
        np.testing.assert_array_equal(compile(pipeline, s, threads=threads)(shape=(n,), **args), want)

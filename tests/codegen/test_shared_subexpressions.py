"""Consecutive stores share what they compute alike (codegen.c_emit.shared_subexpressions): the
copies of an unrolled loop compute a value they all use once, ahead of them, unless it reads a
buffer one of the copies writes, which must be read where each copy reads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from codegen.c_emit import shared_subexpressions
from pipelines import Func, ImageParam, RDom, Var, cast, clamp, min, select
from pipelines.mutator import substitute, walk
from pipelines.types import float32, int32, int64
from scheduler.loopir import Load, Store
from scheduler.schedule import Schedule
from tests.helpers import assert_matches_reference, compiled

x, y, c = Var("x"), Var("y"), Var("c")
RNG = np.random.default_rng(5)


def _i(name: str) -> Var:
    return Var(name, int64)


def test_a_value_every_store_uses_is_computed_once_and_a_written_buffer_is_not_read_early():
    i, j = _i("i"), _i("j")
    level = Load("gray", i * 2 + j, float32) * 3.0  # in both stores; reads an unwritten buffer
    own = Load("hist", i + j, float32)  # both read it, and the first store writes it
    alone = Load("gray", j, float32)  # one store uses it
    stores = [
        Store("hist", i + j, own + level),
        Store("hist", i + j + 1, own + level + 1.0),
        Store("out", i * 7, alone),
    ]
    lets, rewritten = shared_subexpressions(stores, "t")
    full: dict = {}
    for var, value in lets:  # each let's value in terms of the stores' own variables
        full[var] = substitute(value, full)
    values = set(full.values())
    assert {level, Load("gray", i * 2 + j, float32)} <= values
    assert not any(isinstance(n, Load) and n.buffer == "hist" for v in values for n in walk(v))
    assert alone not in values
    # the stores compute what they did, the shared values in place of their formulas
    assert [Store(x.buffer, substitute(x.index, full), substitute(x.value, full)) for x in rewritten] == stores
    for x in rewritten[:2]:
        assert any(isinstance(n, Load) and n.buffer == "hist" for n in walk(x.value))  # read in place
        assert level not in set(walk(x.value))


def test_stores_with_nothing_in_common_are_left_as_they_are():
    i = _i("i")
    stores = [Store("a", i, Load("b", i, float32) + 1.0), Store("c", i, Load("d", i, float32) * 2.0)]
    assert shared_subexpressions(stores, "t") == ([], stores)


def test_an_unrolled_scatter_computes_each_pixels_bin_once_and_matches_the_interpreter():
    # a histogram of 4 channels with the channels unrolled inside each pixel, as bilateral_grid's:
    # the bin (a clamp, a float-to-int conversion and the index arithmetic) is the same for the 4
    # copies, each of which writes the histogram the next one reads
    im = ImageParam(float32, 3, "im")
    r = RDom([(0, im.width()), (0, im.height())], name="px")
    level = clamp(im[r.x, r.y, 0], 0.0, 1.0)
    bin_ = clamp(cast(int32, level * 15.0 + 0.5), 0, 15)
    hist = Func("hist")
    hist[x, c] = 0.0
    hist[bin_, c] += select(c < 3, im[r.x, r.y, min(c, 2)], 1.0)
    s = Schedule()
    s[hist].bound("c", 0, 4)
    s[hist].update(0).reorder(c, r.x, r.y).unroll(c)
    data = RNG.random((3, 37, 53), dtype=np.float32)
    data[0, :3, :3] = [[-0.5, 1.5, np.nan], [0.0, 1.0, 0.5], [0.49, 0.51, 1e-8]]  # clamps, NaN's bin
    assert_matches_reference(hist, {"im": data}, shape=(4, 16), schedule=s)
    source = compiled(hist, s).c_source
    # once per loop nest of the update (the compiled code has more than one version of it), in
    # a shared let; without the sharing each of the 4 copies converts
    nests = source.count("hist_s1_px_x = ")
    conversions = [line for line in source.splitlines() if "saline_cvt_f32_i32(" in line]
    assert nests >= 1 and len(conversions) == nests
    assert all("xcse" in line for line in conversions)


def test_a_later_copy_reads_what_an_earlier_copy_wrote():
    # f[x, k] = f[x, 0] + g[x] for k = 0..3, unrolled: every copy reads f[x, 0], which the first
    # copy changes; the later copies must read the new value (sharing the read would not)
    im = ImageParam(float32, 1, "im")
    k = RDom([(0, 4)], name="k")
    f = Func("f")
    f[x, y] = cast(float32, y)
    f[x, k.x] = f[x, 0] + im[x] * 2.0
    s = Schedule()
    s[f].update(0).reorder(k.x, x).unroll(k.x)
    data = RNG.random(29, dtype=np.float32)
    (got,) = assert_matches_reference(f, {"im": data}, shape=(4, 29), schedule=s)
    np.testing.assert_array_equal(got[1], got[0] + data * np.float32(2))  # f[x, 0] after its update


COLOUR_MATRIX_SOURCE = """
from codegen.c_emit import emit_c
from pipelines.filters import FILTERS
from saline.hand_schedules import hand_schedule
from scheduler.lower import lower
f = FILTERS["colour_matrix"]()
print(emit_c(lower(f.pipeline, hand_schedule(f))))
"""


def test_the_shared_values_come_out_in_the_same_order_whatever_the_hash_seed():
    # the C source is the compile cache's key: an order that follows set iteration (string
    # hashes) would make every process compile the pipeline anew. colour_matrix's 3 channels,
    # unrolled, share the offsets of the 3 values each reads (an order that did vary once)
    root = Path(__file__).resolve().parents[2]
    sources = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        run = subprocess.run(
            [sys.executable, "-c", COLOUR_MATRIX_SOURCE], env=env, capture_output=True, text=True, check=True
        )
        assert "xcse" in run.stdout
        sources.append(run.stdout)
    assert sources[0] == sources[1] == sources[2]

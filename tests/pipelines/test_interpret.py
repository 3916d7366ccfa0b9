"""The reference interpreter against hand-written numpy and plain Python, so that the oracle
is not only checked against itself: stencils, boundary conditions, histograms, scans,
predicates, inline reductions, several outputs, origins, wrap-around, division, casts, math,
strides, and the vectorized update path against the sequential one.
"""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import math

import numpy as np
import pytest

import pipelines.expr as expr_module
from pipelines import (
    Func,
    ImageParam,
    Param,
    Pipeline,
    RDom,
    Var,
    bool_,
    cast,
    ceil,
    constant_exterior,
    cos,
    exp,
    floor,
    log,
    maximum,
    minimum,
    mirror_image,
    mirror_interior,
    repeat_edge,
    round,
    select,
    sin,
    sqrt,
    tanh,
    updates,
)
from pipelines import abs as dsl_abs
from pipelines import max as dsl_max
from pipelines import min as dsl_min
from pipelines import pow as dsl_pow
from pipelines import sum as dsl_sum
from pipelines.evaluate import NUMPY_RULES
from pipelines.interpret import interpret
from pipelines.types import float32, float64, int8, int16, int32, uint8, uint16, uint32

x, y, c = Var("x"), Var("y"), Var("c")
RNG = np.random.default_rng(1234)


def windows(a: np.ndarray, size: int) -> np.ndarray:
    """All size x size windows of a 2-d array: shape (H - size + 1, W - size + 1, size, size)."""
    return np.lib.stride_tricks.sliding_window_view(a, (size, size))


# ---------------------------------------------------------------- stencils and boundaries


def test_blur_separable_matches_numpy_slicing():
    im = ImageParam(float32, 2, "im")
    blur_x, blur_y = Func("blur_x"), Func("blur_y")
    blur_x[x, y] = (im[x - 1, y] + im[x, y] + im[x + 1, y]) / 3
    blur_y[x, y] = (blur_x[x, y - 1] + blur_x[x, y] + blur_x[x, y + 1]) / 3
    a = RNG.random((13, 17), dtype=np.float32)
    out = interpret(Pipeline(blur_y), shape=(11, 15), origin=(1, 1), im=a)
    bx = (a[:, :-2] + a[:, 1:-1] + a[:, 2:]) / np.float32(3)
    expected = (bx[:-2] + bx[1:-1] + bx[2:]) / np.float32(3)
    assert out.shape == expected.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6)


BOUNDARIES = [
    (repeat_edge, {"mode": "edge"}),
    (lambda im: constant_exterior(im, 7), {"mode": "constant", "constant_values": 7}),
    (mirror_image, {"mode": "symmetric"}),
    (mirror_interior, {"mode": "reflect"}),
]


@pytest.mark.parametrize("size", [(1, 1), (1, 4), (2, 2), (5, 6), (7, 3)])
@pytest.mark.parametrize("make, pad", BOUNDARIES, ids=["repeat_edge", "constant", "mirror_image", "mirror_interior"])
def test_boundary_condition_matches_np_pad(make, pad, size):
    im = ImageParam(uint8, 2, "im")
    wrapped = make(im)
    a = RNG.integers(0, 256, size, dtype=np.uint8)
    margin = 5  # wider than the small images: the pattern must repeat
    shape = (size[0] + 2 * margin, size[1] + 2 * margin)
    out = interpret(Pipeline(wrapped), shape=shape, origin=(-margin, -margin), im=a)
    np.testing.assert_array_equal(out, np.pad(a, margin, **pad))


def test_boundary_condition_three_channels_matches_np_pad():
    im = ImageParam(float32, 3, "im")
    a = RNG.random((3, 4, 5), dtype=np.float32)
    out = interpret(Pipeline(mirror_interior(im)), shape=(3, 8, 9), origin=(-2, -2, 0), im=a)
    np.testing.assert_array_equal(out, np.pad(a, ((0, 0), (2, 2), (2, 2)), mode="reflect"))


# ---------------------------------------------------------------- reductions and updates


def test_histogram_data_dependent_index_matches_bincount():
    im = ImageParam(uint8, 2, "im")
    r = RDom([(0, im.width()), (0, im.height())])
    hist = Func("hist")
    hist[x] = 0
    hist[cast(int32, im[r.x, r.y])] += 1
    a = RNG.integers(0, 256, (37, 41), dtype=np.uint8)
    out = interpret(Pipeline(hist), shape=(256,), im=a)
    np.testing.assert_array_equal(out, np.bincount(a.ravel(), minlength=256))


def test_scan_running_sum_matches_cumsum():
    im = ImageParam(int32, 1, "im")
    fim = ImageParam(float64, 1, "fim")
    r = RDom((1, im.width() - 1))
    scan, fscan = Func("scan"), Func("fscan")
    scan[x] = im[x]
    scan[r.x] = scan[r.x - 1] + scan[r.x]
    fr = RDom((1, fim.width() - 1))
    fscan[x] = fim[x]
    fscan[fr.x] = fscan[fr.x - 1] + fim[fr.x]
    a = RNG.integers(-1000, 1000, 200, dtype=np.int32)
    b = RNG.random(200)
    np.testing.assert_array_equal(interpret(Pipeline(scan), shape=(200,), im=a), np.cumsum(a, dtype=np.int32))
    np.testing.assert_allclose(interpret(Pipeline(fscan), shape=(200,), fim=b), np.cumsum(b), rtol=1e-12)


def test_scan_along_rows_keeps_pure_var_and_matches_cumsum():
    im = ImageParam(int16, 2, "im")
    r = RDom((1, im.width() - 1))
    f = Func("f")
    f[x, y] = im[x, y]
    f[r.x, y] = f[r.x - 1, y] + f[r.x, y]
    a = RNG.integers(-100, 100, (6, 9), dtype=np.int16)
    out = interpret(Pipeline(f), shape=a.shape, im=a)
    np.testing.assert_array_equal(out, np.cumsum(a, axis=1, dtype=np.int16))


def test_update_rdom_iterates_first_rvar_innermost():
    r = RDom([(0, 2), (0, 3)])
    digits = Func("digits")
    digits[()] = 0
    digits[()] = digits[()] * 10 + (r.x + 2 * r.y)
    expected = 0
    for ry in range(3):
        for rx in range(2):
            expected = expected * 10 + rx + 2 * ry
    assert int(interpret(Pipeline(digits), shape=())) == expected


def test_updates_apply_in_the_order_written():
    f = Func("f")
    f[x] = x
    f[x] = f[x] * 2
    f[x] = f[x] + 1
    f[3] = f[3] * f[4]  # a point update after the pure ones
    out = interpret(Pipeline(f), shape=(6,))
    expected = [2 * i + 1 for i in range(6)]
    expected[3] *= expected[4]
    np.testing.assert_array_equal(out, expected)


def test_where_predicates_match_numpy_masks():
    im = ImageParam(int32, 2, "im")
    r = RDom((0, im.width()))
    r.where(im[r.x, y] > 0)
    positive = Func("positive")
    positive[y] = dsl_sum(im[r.x, y])
    t = RDom([(0, im.width()), (0, im.height())])
    t.where(t.x <= t.y)
    lower = Func("lower")
    lower[()] = dsl_sum(im[t.x, t.y])
    a = RNG.integers(-50, 50, (8, 8), dtype=np.int32)
    got_positive, got_lower = interpret(Pipeline([positive, lower]), shape=[(8,), ()], im=a)
    np.testing.assert_array_equal(got_positive, np.where(a > 0, a, 0).sum(axis=1))
    assert int(got_lower) == int(np.tril(a).sum())


def test_where_predicate_on_pure_var_matches_lower_triangle():
    im = ImageParam(float64, 2, "im")
    r = RDom((0, im.width()))
    r.where(r.x <= y)
    rows = Func("rows")
    rows[y] = dsl_sum(im[r.x, y])
    a = RNG.random((7, 7))
    np.testing.assert_allclose(interpret(Pipeline(rows), shape=(7,), im=a), np.tril(a).sum(axis=1), rtol=1e-12)


def test_inline_reductions_over_2d_rdom_match_numpy():
    im = ImageParam(int16, 2, "im")
    r = RDom([(-1, 3), (-1, 3)])
    total, top, bottom = Func("total"), Func("top"), Func("bottom")
    total[x, y] = dsl_sum(cast(int32, im[x + r.x, y + r.y]))
    top[x, y] = maximum(im[x + r.x, y + r.y])
    bottom[x, y] = minimum(im[x + r.x, y + r.y])
    a = RNG.integers(-1000, 1000, (9, 12), dtype=np.int16)
    got = interpret(Pipeline([total, top, bottom]), shape=[(7, 10)] * 3, origin=[(1, 1)] * 3, im=a)
    w = windows(a, 3)
    np.testing.assert_array_equal(got[0], w.astype(np.int32).sum(axis=(2, 3)))
    np.testing.assert_array_equal(got[1], w.max(axis=(2, 3)))
    np.testing.assert_array_equal(got[2], w.min(axis=(2, 3)))


def test_rdom_extent_from_input_width_matches_row_sums():
    im = ImageParam(int32, 2, "im")
    r = RDom((0, im.width()))
    rows = Func("rows")
    rows[y] = dsl_sum(im[r.x, y])
    for width in (0, 1, 5, 12):
        a = RNG.integers(-9, 9, (4, width), dtype=np.int32)
        np.testing.assert_array_equal(interpret(Pipeline(rows), shape=(4,), im=a), a.sum(axis=1))


def test_func_with_updates_read_by_another_func():
    im = ImageParam(uint8, 1, "im")
    r = RDom((0, im.width()))
    hist = Func("hist")
    hist[x] = 0
    hist[cast(int32, im[r.x]) % 16] += 1  # writes [0, 15], read only at [0, 7] and [8, 15]
    folded = Func("folded")
    folded[x] = hist[x] * 100 + hist[15 - x]
    a = RNG.integers(0, 256, 500, dtype=np.uint8)
    counts = np.bincount(a % 16, minlength=16)
    out = interpret(Pipeline(folded), shape=(8,), im=a)
    np.testing.assert_array_equal(out, counts[:8] * 100 + counts[15:7:-1])


def test_zero_dimensional_total_matches_numpy_sum():
    im = ImageParam(float64, 2, "im")
    r = RDom([(0, im.width()), (0, im.height())])
    total = Func("total")
    total[()] = dsl_sum(im[r.x, r.y])
    a = RNG.random((5, 6))
    out = interpret(Pipeline(total), shape=(), im=a)
    assert out.shape == () and out.dtype == np.float64
    np.testing.assert_allclose(out, a.sum(), rtol=1e-12)


# ---------------------------------------------------------------- outputs


def test_multi_output_shares_a_producer():
    im = ImageParam(float32, 2, "im")
    gain = Param(float32, "gain", 2.0)
    scaled, rows = Func("scaled"), Func("rows")
    scaled[x, y] = im[x, y] * gain
    rows[y] = scaled[0, y] + scaled[1, y]
    a = RNG.random((4, 3), dtype=np.float32)
    got_scaled, got_rows = interpret(Pipeline([scaled, rows]), shape=[(4, 3), (4,)], im=a, gain=3.0)
    np.testing.assert_array_equal(got_scaled, a * np.float32(3))
    np.testing.assert_array_equal(got_rows, a[:, 0] * np.float32(3) + a[:, 1] * np.float32(3))
    np.testing.assert_array_equal(interpret(Pipeline([scaled, rows]), shape=[(4, 3), (4,)], im=a)[0], a * 2)


def test_output_origin_shifts_coordinates():
    f = Func("f")
    f[x, y, c] = x * 10000 + y * 100 + c
    out = interpret(Pipeline(f), shape=(2, 3, 4), origin=(-1, 5, 7))
    cc, yy, xx = np.meshgrid(np.arange(7, 9), np.arange(5, 8), np.arange(-1, 3), indexing="ij")
    np.testing.assert_array_equal(out, xx * 10000 + yy * 100 + cc)


def test_zero_size_output_evaluates_nothing():
    im = ImageParam(float32, 2, "im")
    f = Func("f")
    f[x, y] = im[x + 100, y]  # would read outside the image
    out = interpret(Pipeline(f), shape=(0, 5), im=np.zeros((3, 3), np.float32))
    assert out.shape == (0, 5) and out.dtype == np.float32


def test_strided_inputs_and_outputs_match_contiguous():
    im = ImageParam(float32, 2, "im")
    f = Func("f")
    f[x, y] = im[x, y] * 2 + cast(float32, x) - cast(float32, y) * 3
    base = RNG.random((20, 30), dtype=np.float32)
    layouts = [base[::2, ::3], base[::-1, ::-2], np.asfortranarray(base[:10, :10]), base[3:13, 5:15].T]
    for a in layouts:
        expected = interpret(Pipeline(f), shape=a.shape, im=np.ascontiguousarray(a))
        np.testing.assert_array_equal(interpret(Pipeline(f), shape=a.shape, im=a), expected)
        for out in (
            np.empty(a.shape[::-1], np.float32).T,
            np.empty((a.shape[0] * 2, a.shape[1]), np.float32)[::-2],
            np.empty(a.shape, np.float32, order="F"),
        ):
            result = interpret(Pipeline(f), out=out, im=a)
            assert result is out
            np.testing.assert_array_equal(out, expected)


# ---------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("dtype", [uint8, int8, uint16, int16, uint32, int32])
def test_integer_arithmetic_wraps_like_numpy(dtype):
    a_in, b_in = ImageParam(dtype, 1, "a"), ImageParam(dtype, 1, "b")
    f = Func("f")
    f[x] = a_in[x] * b_in[x] + a_in[x] - b_in[x] * 3
    info = np.iinfo(dtype.numpy)
    a = RNG.integers(info.min, info.max, 300, dtype=dtype.numpy, endpoint=True)
    b = RNG.integers(info.min, info.max, 300, dtype=dtype.numpy, endpoint=True)
    with np.errstate(over="ignore"):
        expected = a * b + a - b * dtype.numpy.type(3)
    np.testing.assert_array_equal(interpret(Pipeline(f), shape=(300,), a=a, b=b), expected)


def test_integer_negation_and_abs_wrap_at_the_minimum():
    im = ImageParam(int8, 1, "im")
    neg, absolute = Func("neg"), Func("absolute")
    neg[x] = -im[x]
    absolute[x] = dsl_abs(im[x])
    a = np.array([-128, -127, -1, 0, 1, 127], np.int8)
    got_neg, got_abs = interpret(Pipeline([neg, absolute]), shape=[(6,), (6,)], im=a)
    np.testing.assert_array_equal(got_neg, [-128, 127, 1, 0, -1, -127])
    np.testing.assert_array_equal(got_abs, [-128, 127, 1, 0, 1, 127])


def euclid(a: int, b: int) -> tuple[int, int]:
    """Python reference: quotient and remainder with 0 <= r < |b|; a/0 = a%0 = 0."""
    if b == 0:
        return 0, 0
    q, r = a // b, a % b  # Python: r has the sign of b
    if r < 0:
        q, r = q + 1, r - b
    return q, r


def wrap(value: int, bits: int, signed: bool) -> int:
    value %= 1 << bits
    return value - (1 << bits) if signed and value >= 1 << (bits - 1) else value


@pytest.mark.parametrize("dtype", [int8, int16, int32, uint8, uint32])
def test_division_and_modulo_are_euclidean_with_zero_divisors(dtype):
    a_in, b_in = ImageParam(dtype, 1, "a"), ImageParam(dtype, 1, "b")
    quotient, remainder = Func("quotient"), Func("remainder")
    quotient[x] = a_in[x] / b_in[x]
    remainder[x] = a_in[x] % b_in[x]
    info = np.iinfo(dtype.numpy)
    special = [info.min, info.max, 0, 1, 7, 100] + ([-1, -7, -100] if info.min < 0 else [])
    pairs = [(p, q) for p in special for q in special]
    small = RNG.integers(max(info.min, -20), min(info.max, 20), (200, 2), endpoint=True)
    pairs += [(int(p), int(q)) for p, q in small]
    a = np.array([p for p, _ in pairs], dtype.numpy)
    b = np.array([q for _, q in pairs], dtype.numpy)
    got_q, got_r = interpret(Pipeline([quotient, remainder]), shape=[a.shape, a.shape], a=a, b=b)
    signed = info.min < 0
    expected = [euclid(int(p), int(q)) for p, q in zip(a, b)]
    np.testing.assert_array_equal(got_q, [wrap(q, dtype.bits, signed) for q, _ in expected])
    np.testing.assert_array_equal(got_r, [r for _, r in expected])


def test_float_division_and_modulo_follow_floor_rule():
    a_in, b_in = ImageParam(float64, 1, "a"), ImageParam(float64, 1, "b")
    quotient, remainder = Func("quotient"), Func("remainder")
    quotient[x] = a_in[x] / b_in[x]
    remainder[x] = a_in[x] % b_in[x]
    a = np.array([7.5, -7.5, 7.5, -7.5, 0.0, 3.0])
    b = np.array([2.0, 2.0, -2.0, -2.0, 5.0, 0.0])
    got_q, got_r = interpret(Pipeline([quotient, remainder]), shape=[(6,), (6,)], a=a, b=b)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got_q, a / b)
    np.testing.assert_allclose(got_r[:5], [float(p) % float(q) for p, q in zip(a[:5], b[:5])], rtol=1e-15)
    assert math.isnan(got_r[5])


def saturate(value: float, lo: int, hi: int) -> int:
    if math.isnan(value):
        return 0
    if math.isinf(value):
        return hi if value > 0 else lo
    return builtins.max(lo, builtins.min(hi, math.trunc(value)))


def test_cast_float_to_int_truncates_saturates_and_maps_nan_to_zero():
    im = ImageParam(float32, 1, "im")
    to_u8, to_i32, to_u32 = Func("to_u8"), Func("to_u32"), Func("to_i32")
    to_u8[x] = cast(uint8, im[x])
    to_i32[x] = cast(int32, im[x])
    to_u32[x] = cast(uint32, im[x])
    values = [-5.7, -0.5, 0.4, 1.9, 254.6, 255.5, 300.0, 3e9, 5e9, -3e9, 2147483520.0, math.inf, -math.inf, math.nan]
    a = np.array(values, np.float32)
    got = interpret(Pipeline([to_u8, to_i32, to_u32]), shape=[a.shape] * 3, im=a)
    for out, dtype in zip(got, (np.uint8, np.int32, np.uint32)):
        info = np.iinfo(dtype)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, [saturate(float(v), int(info.min), int(info.max)) for v in a])


def test_cast_between_ints_wraps_and_to_bool_tests_nonzero():
    im = ImageParam(int32, 1, "im")
    low, as_bool, back = Func("low"), Func("as_bool"), Func("back")
    low[x] = cast(uint8, im[x])
    as_bool[x] = cast(bool_, im[x])
    back[x] = cast(float64, cast(bool_, im[x])) + cast(float64, cast(int8, im[x]))
    a = np.array([-1, 0, 255, 256, 300, -129, 2**31 - 1, -(2**31)], np.int32)
    got_low, got_bool, got_back = interpret(Pipeline([low, as_bool, back]), shape=[a.shape] * 3, im=a)
    np.testing.assert_array_equal(got_low, [int(v) & 0xFF for v in a])
    assert got_bool.dtype == np.bool_
    np.testing.assert_array_equal(got_bool, [int(v) != 0 for v in a])
    np.testing.assert_array_equal(got_back, [(int(v) != 0) + wrap(int(v), 8, True) for v in a])


def test_min_max_select_keep_nan_rules():
    a_in, b_in = ImageParam(float32, 1, "a"), ImageParam(float32, 1, "b")
    lo, hi, chosen = Func("lo"), Func("hi"), Func("chosen")
    lo[x] = dsl_min(a_in[x], b_in[x])
    hi[x] = dsl_max(a_in[x], b_in[x])
    chosen[x] = select(a_in[x] < b_in[x], a_in[x], b_in[x] * 2)
    a = np.array([1.0, 5.0, np.nan, 2.0, -0.0], np.float32)
    b = np.array([2.0, 3.0, 4.0, np.nan, 0.0], np.float32)
    got_lo, got_hi, got_sel = interpret(Pipeline([lo, hi, chosen]), shape=[(5,)] * 3, a=a, b=b)
    np.testing.assert_array_equal(got_lo, [1.0, 3.0, 4.0, np.nan, 0.0])
    np.testing.assert_array_equal(got_hi, [2.0, 5.0, 4.0, np.nan, 0.0])
    np.testing.assert_array_equal(got_sel, [1.0, 6.0, 8.0, np.nan, 0.0])


def test_math_functions_in_float32_match_numpy():
    im = ImageParam(float32, 1, "im")
    a = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.1, 3.7, 10.0], np.float32)
    cases = {
        "sqrt": (sqrt(dsl_abs(im[x])), np.sqrt(np.abs(a))),
        "exp": (exp(im[x]), np.exp(a)),
        "log": (log(dsl_abs(im[x])), np.log(np.abs(a))),
        "sin": (sin(im[x]), np.sin(a)),
        "cos": (cos(im[x]), np.cos(a)),
        "tanh": (tanh(im[x]), np.tanh(a)),
        "floor": (floor(im[x]), np.floor(a)),
        "ceil": (ceil(im[x]), np.ceil(a)),
        "round": (round(im[x]), np.array([0, 2, 2, -0.0, -2, 0, 4, 10], np.float32)),
        "pow": (dsl_pow(dsl_abs(im[x]), 1.5), np.abs(a) ** np.float32(1.5)),
    }
    funcs = []
    for name, (e, _) in cases.items():
        f = Func(f"math_{name}")
        f[x] = e
        funcs.append(f)
    got = interpret(Pipeline(funcs), shape=[a.shape] * len(funcs), im=a)
    for (name, (_, expected)), out in zip(cases.items(), got):
        assert out.dtype == np.float32, name
        np.testing.assert_allclose(out, expected, rtol=2e-7, err_msg=name)


def test_params_convert_and_defaults_apply():
    scale = Param(float32, "scale", 0.5)
    shift = Param(int16, "shift")
    f = Func("f")
    f[x] = cast(float32, x + cast(int32, shift)) * scale
    np.testing.assert_array_equal(interpret(Pipeline(f), shape=(4,), shift=3), [1.5, 2.0, 2.5, 3.0])
    got = interpret(Pipeline(f), shape=(2,), shift=np.int64(-1), scale=0.1)
    np.testing.assert_array_equal(got, np.array([-1, 0], np.float32) * np.float32(0.1))


# ---------------------------------------------------------------- the vectorized update path


def run_both_paths(monkeypatch, pipeline, **kwargs):
    """Results with the vectorized path, the names of the Funcs that took it, and results
    with every update forced onto the sequential loop."""
    vectorized = []
    original = updates.apply_vectorized
    monkeypatch.setattr(updates, "apply_vectorized", lambda *args: vectorized.append(args[1].name) or original(*args))
    fast = interpret(pipeline, **kwargs)
    monkeypatch.setattr(updates, "vectorized_form", lambda func, d: None)
    slow = interpret(pipeline, **kwargs)
    monkeypatch.undo()
    return fast, vectorized, slow


def test_vectorized_updates_equal_sequential_loop(monkeypatch):
    im = ImageParam(float32, 2, "im")
    keys = ImageParam(uint8, 2, "keys")
    r = RDom([(0, im.width()), (0, im.height())])
    r.where(im[r.x, r.y] > 0.1)
    acc, prod, diff, last = Func("acc"), Func("prod"), Func("diff"), Func("last")
    for f in (acc, diff, last):
        f[x, y] = cast(float32, x) * 0.5
    prod[x, y] = 1.0
    slot = cast(int32, keys[r.x, r.y]) % 4
    acc[slot, y] = acc[slot, y] + im[r.x, r.y] * cast(float32, y + 1)  # float sums: order matters
    prod[slot, y] = prod[slot, y] * (im[r.x, r.y] * 0.002 + 0.5)
    diff[slot, y] = diff[slot, y] - im[r.x, r.y]
    last[slot, y] = im[r.x, r.y] + cast(float32, r.x * 1000 + r.y)  # many writes per location
    a = RNG.random((9, 11), dtype=np.float32) * 1000
    k = RNG.integers(0, 256, (9, 11), dtype=np.uint8)
    pipeline = Pipeline([acc, prod, diff, last])
    fast, vectorized, slow = run_both_paths(monkeypatch, pipeline, shape=[(3, 4)] * 4, im=a, keys=k)
    assert sorted(vectorized) == ["acc", "diff", "last", "prod"]
    for name, f_out, s_out in zip("acc prod diff last".split(), fast, slow):
        np.testing.assert_array_equal(f_out, s_out, err_msg=name)
    kept = a > np.float32(0.1)
    expected_last = np.arange(4, dtype=np.float32) * np.float32(0.5)  # the pure definition at y = 0
    for ry in range(9):
        for rx in range(11):
            if kept[ry, rx]:
                expected_last[k[ry, rx] % 4] = a[ry, rx] + np.float32(rx * 1000 + ry)
    np.testing.assert_array_equal(fast[3][0], expected_last)  # the row y = 0


def test_vectorized_path_is_taken_for_sums_and_matches_numpy(monkeypatch):
    im = ImageParam(int32, 1, "im")
    r = RDom((0, im.width()))
    total = Func("total")
    total[()] = dsl_sum(im[r.x])
    a = RNG.integers(-(2**31), 2**31 - 1, 500, dtype=np.int32)
    fast, vectorized, slow = run_both_paths(monkeypatch, Pipeline(total), shape=(), im=a)
    assert vectorized == [total.definitions[0].value.func.name]  # the anonymous sum Func
    assert fast == slow == a.sum(dtype=np.int32)  # wraps the same way


def test_vectorized_integer_max_and_min_equal_sequential_loop(monkeypatch):
    im = ImageParam(int16, 2, "im")
    r = RDom([(0, im.width()), (0, im.height())])
    top, bottom = Func("top"), Func("bottom")
    top[x] = maximum(im[r.x, r.y] * cast(int16, x + 1))
    bottom[x] = minimum(im[r.x, r.y] - cast(int16, x))
    a = RNG.integers(-3000, 3000, (13, 17), dtype=np.int16)
    fast, vectorized, slow = run_both_paths(monkeypatch, Pipeline([top, bottom]), shape=[(5,), (5,)], im=a)
    assert len(vectorized) == 2
    for f_out, s_out in zip(fast, slow):
        np.testing.assert_array_equal(f_out, s_out)
    k = np.arange(5, dtype=np.int16)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(fast[0], (a[None] * (k + 1)[:, None, None]).max(axis=(1, 2)))
    np.testing.assert_array_equal(fast[1], (a[None] - k[:, None, None]).min(axis=(1, 2)))


# ---------------------------------------------------------------- errors


def test_image_read_outside_input_is_an_error():
    im = ImageParam(float32, 2, "im")
    f = Func("f")
    f[x, y] = im[x + 1, y]
    with pytest.raises(ValueError, match=r"'im' is read at dimension 0 .* coordinates \[1, 4\].*\[0, 3\]"):
        interpret(Pipeline(f), shape=(2, 4), im=np.zeros((2, 4), np.float32))


def test_output_update_writing_outside_output_is_an_error():
    f = Func("spill")
    f[x] = 0
    f[7] = 1
    with pytest.raises(ValueError, match=r"Func 'spill' update 0 writes dimension 0 at coordinates \[7, 7\]"):
        interpret(Pipeline(f), shape=(4,))
    np.testing.assert_array_equal(interpret(Pipeline(f), shape=(8,)), [0] * 7 + [1])


def test_output_read_by_another_output_outside_its_array_is_an_error():
    first, second = Func("first"), Func("second")
    first[x] = x * 2
    second[x] = first[x + 1]
    with pytest.raises(ValueError, match=r"output Func 'first' is read at dimension 0 coordinates \[0, 4\]"):
        interpret(Pipeline([first, second]), shape=[(4,), (4,)])
    got_first, got_second = interpret(Pipeline([first, second]), shape=[(5,), (4,)])
    np.testing.assert_array_equal(got_second, got_first[1:])


def test_update_reading_outside_an_output_is_an_error():
    f = Func("scan")
    r = RDom((0, 4))
    f[x] = x
    f[r.x] = f[r.x - 1] + 1
    with pytest.raises(ValueError, match=r"outside the output region \[0, 3\]"):
        interpret(Pipeline(f), shape=(4,))


def test_update_self_read_widens_an_intermediate():
    # The scan reads f[-1]: the intermediate's storage grows to hold it, and the pure
    # definition gives it its value (-1), as the compiled code does.
    f = Func("scan")
    r = RDom((0, 4))
    f[x] = x
    f[r.x] = f[r.x - 1] + 1
    g = Func("g")
    g[x] = f[x]
    expected = np.array([0, 1, 2, 3], dtype=np.int32)  # f[-1] = -1, then each adds 1
    np.testing.assert_array_equal(interpret(Pipeline(g), shape=(4,)), expected)


# ---------------------------------------------------------------- the rule table


def test_numpy_rules_cover_every_expression_node():
    concrete = [
        cls
        for _, cls in inspect.getmembers(expr_module, inspect.isclass)
        if issubclass(cls, expr_module.Expr)
        and dataclasses.is_dataclass(cls)
        and cls.__module__ == expr_module.__name__
        and not cls.__subclasses__()
    ]
    assert len(concrete) > 30
    missing = [cls.__name__ for cls in concrete if cls not in NUMPY_RULES]
    assert not missing, f"no interpreter rule for {missing}"

"""Camera pipeline (interpreter) against a numpy implementation written here from Halide's
`apps/camera_pipe` recipe: whole-image integer arrays, the four Bayer sites as strided slices of
the raw image, neighbours by `np.roll` (the wrapped-around borders are cropped away: the output
starts 16 and 12 pixels inside the raw image and the stencils reach 9), exact int64 arithmetic.

Tolerance: none, the outputs must be equal. The pipeline is integer arithmetic except the
colour matrix entries and the tone-curve table; the reference computes those in float32 in the
same order (each ends in a truncation to an integer, a discontinuous step, so float64 could move
an entry by one), and everything else exactly. Halide's uint16 wrap-around in the demosaic
followed by the int16 reinterpretation equals exact arithmetic for 10-bit inputs (results stay
within -1023 .. 2046), so the reference needs no wrapping there.
"""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines.filters import FILTERS
from pipelines.filters.camera_pipe import MATRIX_3200, MATRIX_7000, mosaic
from pipelines.interpret import interpret
from saline.hand_schedules import hand_schedule
from tests.filters.photos import photo

f32 = np.float32


def at(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """`a` moved so that element [y, x] holds a[y + dy, x + dx] (wrapping at the borders)."""
    return np.roll(a, (-dy, -dx), axis=(0, 1))


def avg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a + b + 1) // 2


def choose(diff_a: np.ndarray, a: np.ndarray, diff_b: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(diff_a < diff_b, a, b)


def demosaic(raw: np.ndarray) -> np.ndarray:
    """Full-resolution int64 RGB (3, H, W) of an even-sized GRBG raw image, in quad units."""
    gr, r, b, gb = raw[0::2, 0::2], raw[0::2, 1::2], raw[1::2, 0::2], raw[1::2, 1::2]
    # green at the red sites (right of gr in the same quad) and the blue sites (below gr)
    g_at_r = choose(abs(at(gr, 1, 0) - gr), avg(at(gr, 1, 0), gr), abs(at(gb, 0, -1) - gb), avg(at(gb, 0, -1), gb))
    g_at_b = choose(abs(at(gb, -1, 0) - gb), avg(at(gb, -1, 0), gb), abs(at(gr, 0, 1) - gr), avg(at(gr, 0, 1), gr))
    r_at_gr = gr - avg(g_at_r, at(g_at_r, -1, 0)) + avg(at(r, -1, 0), r)
    b_at_gr = gr - avg(g_at_b, at(g_at_b, 0, -1)) + avg(b, at(b, 0, -1))
    r_at_gb = gb - avg(g_at_r, at(g_at_r, 0, 1)) + avg(r, at(r, 0, 1))
    b_at_gb = gb - avg(g_at_b, at(g_at_b, 1, 0)) + avg(b, at(b, 1, 0))
    # the other colour at red and blue sites, along the diagonal of the smaller difference
    positive = g_at_b - avg(g_at_r, at(g_at_r, -1, 1)) + avg(r, at(r, -1, 1))
    negative = g_at_b - avg(at(g_at_r, -1, 0), at(g_at_r, 0, 1)) + avg(at(r, -1, 0), at(r, 0, 1))
    r_at_b = choose(abs(r - at(r, -1, 1)), positive, abs(at(r, -1, 0) - at(r, 0, 1)), negative)
    positive = g_at_r - avg(g_at_b, at(g_at_b, 1, -1)) + avg(b, at(b, 1, -1))
    negative = g_at_r - avg(at(g_at_b, 1, 0), at(g_at_b, 0, -1)) + avg(at(b, 1, 0), at(b, 0, -1))
    b_at_r = choose(abs(b - at(b, 1, -1)), positive, abs(at(b, 1, 0) - at(b, 0, -1)), negative)

    out = np.empty((3, *raw.shape), np.int64)
    for plane, (p00, p01, p10, p11) in zip(
        out, [(r_at_gr, r, r_at_b, r_at_gb), (gr, g_at_r, g_at_b, gb), (b_at_gr, b_at_r, b, b_at_gb)]
    ):
        plane[0::2, 0::2], plane[0::2, 1::2], plane[1::2, 0::2], plane[1::2, 1::2] = p00, p01, p10, p11
    return out


def q88_matrix(color_temp: float) -> np.ndarray:
    alpha = (f32(1) / f32(color_temp) - f32(1 / 3200)) / f32(1 / 7000 - 1 / 3200)
    blend = (np.array(MATRIX_3200, f32) * alpha + np.array(MATRIX_7000, f32) * (f32(1) - alpha)) * f32(256)
    return np.trunc(blend).astype(np.int64)


def tone_table(gamma: float, contrast: float, black: int, white: int) -> np.ndarray:
    """The 1024-entry table, in float32 as the pipeline (FCam's curve)."""
    v = np.arange(1024)
    xf = np.clip((v - black).astype(f32) * (f32(1) / f32(white - black)), f32(0), f32(1))
    g = xf ** (f32(1) / f32(gamma))
    b = f32(2) - f32(2) ** (f32(contrast) / f32(100))
    a = f32(2) - f32(2) * b
    z = np.where(g > f32(0.5), f32(1) - (a * (f32(1) - g) * (f32(1) - g) + b * (f32(1) - g)), a * g * g + b * g)
    level = np.trunc(np.clip(z * f32(255) + f32(0.5), f32(0), f32(255))).astype(np.int64)
    return np.where(v <= black, 0, np.where(v > white, 255, level))


def camera_reference(
    raw: np.ndarray,
    color_temp: float = 3700.0,
    gamma: float = 2.0,
    contrast: float = 50.0,
    sharpen_strength: float = 1.0,
    black_level: int = 25,
    white_level: int = 1023,
) -> np.ndarray:
    height, width = raw.shape
    img = np.pad(raw.astype(np.int64), ((0, height % 2), (0, width % 2)), mode="edge")
    hottest = np.maximum.reduce([at(img, -2, 0), at(img, 2, 0), at(img, 0, -2), at(img, 0, 2)])
    rgb = demosaic(np.minimum(img, hottest))
    m = q88_matrix(color_temp)
    corrected = (np.einsum("rk,khw->rhw", m[:, :3], rgb) + m[:, 3, None, None]) // 256
    curved = tone_table(gamma, contrast, black_level, white_level)[np.clip(corrected, 0, 1023)]
    strength_x32 = int(min(255, np.trunc(f32(sharpen_strength) * f32(32))))
    out = np.empty_like(curved)
    for ch in range(3):
        plane = curved[ch]
        blur_y = avg(avg(at(plane, 0, -1), at(plane, 0, 1)), plane)
        blur = avg(avg(at(blur_y, -1, 0), at(blur_y, 1, 0)), blur_y)
        weighted = ((plane - blur) * strength_x32).astype(np.int16).astype(np.int64)  # int16 wraps
        out[ch] = np.clip(plane + weighted // 32, 0, 255)
    return out[:, 12 : height - 12, 16 : width - 16].astype(np.uint8)


@pytest.mark.parametrize("stem", ["chelsea", "astronaut"])
def test_camera_pipe_matches_numpy(stem: str) -> None:
    raw = mosaic(photo(stem, 121))  # odd width: the last column is outside every stencil
    out = interpret(FILTERS["camera_pipe"]().pipeline, input=raw)
    assert out.shape == (3, raw.shape[0] - 24, raw.shape[1] - 32) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, camera_reference(raw))


def test_camera_pipe_hand_schedule_matches_numpy_in_wide_vectors() -> None:
    # wide enough that the hand schedule's tone-curve lookups run 512 lanes a call (two whole
    # vectors a row and a last one shifted back over the second), which read the curve whole
    raw = mosaic(photo("coffee", 1201))
    f = FILTERS["camera_pipe"]()
    want = camera_reference(raw)
    for threads in (None, 1):
        got = compile(f.pipeline, hand_schedule(f), threads=threads)(shape=want.shape, input=raw)
        np.testing.assert_array_equal(got, want, err_msg=f"threads={threads}")


PARAMS = {"color_temp": 5500.0, "gamma": 1.6, "contrast": 80.0, "sharpen_strength": 2.5, "black_level": 40}


def test_camera_pipe_params_match_numpy() -> None:
    raw = mosaic(photo("coffee", 100))
    rng = np.random.default_rng(3)
    raw[rng.integers(0, raw.shape[0], 40), rng.integers(0, raw.shape[1], 40)] = 1023  # hot pixels
    out = interpret(FILTERS["camera_pipe"]().pipeline, input=raw, **PARAMS)
    np.testing.assert_array_equal(out, camera_reference(raw, **PARAMS))


def test_camera_pipe_suppresses_a_hot_pixel() -> None:
    raw = mosaic(photo("chelsea", 96))
    f = FILTERS["camera_pipe"]()
    # a pixel whose 4 same-colour neighbours are each no brighter than their own brightest
    # neighbour (so they are not clamped, whatever this pixel becomes), set to its brightest
    # neighbour: as a hot pixel it is clamped back to that
    v = raw.astype(int)
    brightest = np.maximum.reduce([at(v, -2, 0), at(v, 2, 0), at(v, 0, -2), at(v, 0, 2)])
    kept = v <= brightest
    near = at(kept, -2, 0) & at(kept, 2, 0) & at(kept, 0, -2) & at(kept, 0, 2)
    y, x = np.argwhere(near[30:50, 40:60])[0] + (30, 40)
    raw[y, x] = brightest[y, x]
    before = interpret(f.pipeline, input=raw)
    raw[y, x] = 1023
    np.testing.assert_array_equal(interpret(f.pipeline, input=raw), before)
    raw[y, x - 2] = raw[y, x + 2] = raw[y - 2, x] = raw[y + 2, x] = 1023  # not hot any more: visible
    assert not np.array_equal(interpret(f.pipeline, input=raw), before)


def test_camera_pipe_of_mosaicked_photo_resembles_it() -> None:
    img = photo("astronaut", 128)
    out = interpret(FILTERS["camera_pipe"]().pipeline, input=mosaic(img), sharpen_strength=0.0) / 255
    crop = img[:, 12:-12, 16:-16].astype(np.float64)
    # mosaic undoes the colour matrix and gamma, not the contrast curve (an S-curve, default
    # contrast 50: a = 0.83, b = 0.59 below 0.5, mirrored above)
    b = 2 - 2**0.5
    a = 2 - 2 * b
    s_curve = np.where(crop > 0.5, 1 - (a * (1 - crop) ** 2 + b * (1 - crop)), a * crop**2 + b * crop)
    # demosaicing error at edges, 10-bit quantization and colours the 10-bit range clips: a
    # mean of 0.035 measured; the raw image shifted by one pixel (the wrong Bayer pattern)
    # gives 0.21 and correlations of 0.71 to 0.79
    assert np.abs(out - s_curve).mean() < 0.05
    for ch in range(3):
        assert np.corrcoef(out[ch].ravel(), s_curve[ch].ravel())[0, 1] > 0.95


def test_camera_pipe_output_shape_is_32_by_24_smaller() -> None:
    f = FILTERS["camera_pipe"]()
    assert f.input_kind == "bayer"
    assert f.output_shape((1968, 2592)) == (3, 1944, 2560)
    raw = f.prepare(photo("coffee", 64)) if f.prepare is not None else None
    assert raw is not None and raw.dtype == np.uint16 and raw.ndim == 2 and raw.max() <= 1023
    # GRBG: of a flat colour, the two green sites of each quad agree, red and blue differ
    flat = np.broadcast_to(np.array([0.8, 0.5, 0.2], np.float32)[:, None, None], (3, 4, 6))
    quad = mosaic(np.ascontiguousarray(flat))[:2, :2].astype(int)
    assert quad[0, 0] == quad[1, 1] and len({quad[0, 0], quad[0, 1], quad[1, 0]}) == 3

"""Camera pipeline on a Bayer raw image, structured as Halide's `apps/camera_pipe`.

Input: `input[x, y]`, a 2-D uint16 raw mosaic (numpy `(H, W)`) of 10-bit values in the GRBG
pattern Halide's app reads: even rows G R G R ..., odd rows B G B G ... (pixel (0, 0) is green).
Output: uint8 RGB `(3, H - 24, W - 32)`, pixel (x, y) made from the raw pixels around
(x + 16, y + 12), as Halide's `shifted`; Halide's `process` also rounds both output sides down
to multiples of 32 for its schedule's `bound`s, which Saline does not need.

Stages, all in integers as Halide's (a Func per stage that a schedule names):

1. `denoised`: hot-pixel suppression, each pixel clamped to the largest of its 4 same-colour
   neighbours two pixels away.
2. `deinterleaved[x, y, c]`: the 2x2 quads as 4 half-size planes (c: G of red rows, R, B,
   G of blue rows).
3. demosaic: green at red and blue sites (`g_r`, `g_b`) interpolated along the direction of the
   smaller difference; red and blue at green sites and at each other's sites corrected by the
   green second derivative, diagonals chosen the same way; all uint16 arithmetic wraps, and
   `demosaiced` reinterprets the result as int16, so corrections below 0 come out negative.
4. `corrected`: colour matrix in Q8.8 fixed point, interpolated between two calibrated 3x4
   matrices (Params m3200_rk and m7000_rk, row r = output channel, column 3 = offset; the
   Nokia N900 matrices by default) by inverse colour temperature `color_temp`.
5. `curved`: tone curve through the 1024-entry uint8 LUT `curve` (linear between black_level
   and white_level, gamma, then a piecewise quadratic contrast curve).
6. sharpen: unsharp mask of a 1 2 1 blur in y then x, weighted by sharpen_strength in 3.5
   fixed point (`sharpen_strength_x32`, saturated to 0..255; the int16 product wraps above
   strength ~4, as Halide's).

`mosaic` (the Filter's `prepare`) makes such a raw image from an RGB photograph.
"""

from __future__ import annotations

import numpy as np

from pipelines.expr import Expr, Param, as_expr, cast
from pipelines.filters.common import Filter, c, x, y
from pipelines.func import Func, ImageParam
from pipelines.ops import clamp, max, min, pow, select
from pipelines.pipeline import Pipeline
from pipelines.types import float32, int16, int32, uint8, uint16, uint32

MARGIN_X, MARGIN_Y = 16, 12  # Halide's shift of the output into the raw image
BLACK_LEVEL, WHITE_LEVEL = 25, 1023
MATRIX_3200 = (
    (1.6697, -0.2693, -0.4004, -42.4346),
    (-0.3576, 1.0615, 1.5949, -37.1158),
    (-0.2175, -1.8751, 6.9640, -26.6970),
)
MATRIX_7000 = (
    (2.2997, -0.4478, 0.1706, -39.0923),
    (-0.3826, 1.5906, -0.2080, -25.4311),
    (-0.0888, -0.7344, 2.2832, -20.0826),
)
"""Halide's calibrated colour matrices (the Nokia N900's, from FCam), rows are outputs."""
DEFAULTS = {"color_temp": 3700.0, "gamma": 2.0, "contrast": 50.0, "sharpen_strength": 1.0}


def _avg(a: Expr, b: Expr) -> Expr:
    """Average of two unsigned values rounding up, in the wider type (Halide's `avg`)."""
    wider = {uint8: uint16, uint16: uint32}[a.dtype]
    return cast(a.dtype, (cast(wider, a) + b + 1) / 2)


def _absd(a: Expr, b: Expr) -> Expr:
    return max(a, b) - min(a, b)


def _func(name: str, value: Expr) -> Func:
    f = Func(name)
    f[x, y] = value
    return f


def _interleave(even_even: Func, odd_even: Func, even_odd: Func, odd_odd: Func) -> Expr:
    """The full-resolution value at (x, y) from four quad planes: `odd_even` holds the pixels
    of odd x in even rows (Halide's interleave_y of two interleave_x)."""

    def row(even: Func, odd: Func) -> Expr:
        return select(x % 2 < 1, even[x / 2, y / 2], odd[x / 2, y / 2])

    return select(y % 2 < 1, row(even_even, odd_even), row(even_odd, odd_odd))


def _demosaic(deinterleaved: Func) -> Func:
    """Halide's Demosaic generator: int16 RGB `demosaiced[x, y, c]` at full resolution."""

    def g_gr(u: Expr, v: Expr) -> Expr:
        return deinterleaved[u, v, 0]

    def r_r(u: Expr, v: Expr) -> Expr:
        return deinterleaved[u, v, 1]

    def b_b(u: Expr, v: Expr) -> Expr:
        return deinterleaved[u, v, 2]

    def g_gb(u: Expr, v: Expr) -> Expr:
        return deinterleaved[u, v, 3]

    # green at red and blue sites, along the direction of the smaller difference
    gv_r, gvd_r = _avg(g_gb(x, y - 1), g_gb(x, y)), _absd(g_gb(x, y - 1), g_gb(x, y))
    gh_r, ghd_r = _avg(g_gr(x + 1, y), g_gr(x, y)), _absd(g_gr(x + 1, y), g_gr(x, y))
    g_r = _func("g_r", select(ghd_r < gvd_r, gh_r, gv_r))
    gv_b, gvd_b = _avg(g_gr(x, y + 1), g_gr(x, y)), _absd(g_gr(x, y + 1), g_gr(x, y))
    gh_b, ghd_b = _avg(g_gb(x - 1, y), g_gb(x, y)), _absd(g_gb(x - 1, y), g_gb(x, y))
    g_b = _func("g_b", select(ghd_b < gvd_b, gh_b, gv_b))

    # red and blue at green sites, corrected by green's second derivative (uint16, wrapping)
    r_gr = _func("r_gr", g_gr(x, y) - _avg(g_r[x, y], g_r[x - 1, y]) + _avg(r_r(x - 1, y), r_r(x, y)))
    b_gr = _func("b_gr", g_gr(x, y) - _avg(g_b[x, y], g_b[x, y - 1]) + _avg(b_b(x, y), b_b(x, y - 1)))
    r_gb = _func("r_gb", g_gb(x, y) - _avg(g_r[x, y], g_r[x, y + 1]) + _avg(r_r(x, y), r_r(x, y + 1)))
    b_gb = _func("b_gb", g_gb(x, y) - _avg(g_b[x, y], g_b[x + 1, y]) + _avg(b_b(x, y), b_b(x + 1, y)))

    # red at blue and blue at red, along the diagonal of the smaller difference
    rp_b = g_b[x, y] - _avg(g_r[x, y], g_r[x - 1, y + 1]) + _avg(r_r(x, y), r_r(x - 1, y + 1))
    rpd_b = _absd(r_r(x, y), r_r(x - 1, y + 1))
    rn_b = g_b[x, y] - _avg(g_r[x - 1, y], g_r[x, y + 1]) + _avg(r_r(x - 1, y), r_r(x, y + 1))
    rnd_b = _absd(r_r(x - 1, y), r_r(x, y + 1))
    r_b = _func("r_b", select(rpd_b < rnd_b, rp_b, rn_b))
    bp_r = g_r[x, y] - _avg(g_b[x, y], g_b[x + 1, y - 1]) + _avg(b_b(x, y), b_b(x + 1, y - 1))
    bpd_r = _absd(b_b(x, y), b_b(x + 1, y - 1))
    bn_r = g_r[x, y] - _avg(g_b[x + 1, y], g_b[x, y - 1]) + _avg(b_b(x + 1, y), b_b(x, y - 1))
    bnd_r = _absd(b_b(x + 1, y), b_b(x, y - 1))
    b_r = _func("b_r", select(bpd_r < bnd_r, bp_r, bn_r))

    known = {name: _func(name, deinterleaved[x, y, k]) for k, name in enumerate(("g_gr", "r_r", "b_b", "g_gb"))}
    red = _interleave(r_gr, known["r_r"], r_b, r_gb)
    green = _interleave(known["g_gr"], g_r, g_b, known["g_gb"])
    blue = _interleave(b_gr, b_r, known["b_b"], b_gb)
    demosaiced = Func("demosaiced")
    demosaiced[x, y, c] = cast(int16, select(c < 1, red, c < 2, green, blue))
    return demosaiced


def _colour_correct(demosaiced: Func, color_temp: Param, m3200: list[list[Param]], m7000: list[list[Param]]) -> Func:
    """The Q8.8 `matrix[column, row]` at `color_temp`, applied in int32 (Halide's color_correct)."""
    alpha = (1.0 / color_temp - 1.0 / 3200) / (1.0 / 7000 - 1.0 / 3200)

    def entry(r: int, k: int) -> Expr:
        return cast(int16, (m3200[r][k] * alpha + m7000[r][k] * (1.0 - alpha)) * 256.0)

    def row(r: int) -> Expr:
        return select(x < 1, entry(r, 0), x < 2, entry(r, 1), x < 3, entry(r, 2), entry(r, 3))

    matrix = _func("matrix", select(y < 1, row(0), y < 2, row(1), row(2)))
    ir, ig, ib = (cast(int32, demosaiced[x, y, k]) for k in range(3))
    out = [
        cast(int16, (matrix[3, r] + matrix[0, r] * ir + matrix[1, r] * ig + matrix[2, r] * ib) / 256) for r in range(3)
    ]
    corrected = Func("corrected")
    corrected[x, y, c] = select(c < 1, out[0], c < 2, out[1], out[2])
    return corrected


def _tone_curve(corrected: Func, gamma: Param, contrast: Param, black: Param, white: Param) -> Func:
    """`curved` = the 1024-entry uint8 LUT `curve` of the corrected value (FCam's curve)."""
    inv_range = 1.0 / cast(float32, white - black)
    b = 2.0 - pow(2.0, contrast / 100.0)
    a = 2.0 - 2.0 * b
    xf = clamp(cast(float32, x - black) * inv_range, 0.0, 1.0)
    g = pow(xf, 1.0 / gamma)
    z = select(g > 0.5, 1.0 - (a * (1.0 - g) * (1.0 - g) + b * (1.0 - g)), a * g * g + b * g)
    value = cast(uint8, clamp(z * 255.0 + 0.5, 0.0, 255.0))
    curve = Func("curve")
    curve[x] = select(x <= black, cast(uint8, 0), select(x > white, cast(uint8, 255), value))
    curved = Func("curved")
    curved[x, y, c] = curve[clamp(cast(int32, corrected[x, y, c]), 0, 1023)]
    return curved


def _sharpen(curved: Func, strength: Param) -> Func:
    """Unsharp mask: input + (input - blur121(blur121(input))) * strength (Halide's sharpen)."""
    strength_x32 = Func("sharpen_strength_x32")
    strength_x32[()] = cast(uint8, strength * 32.0)  # float to int saturates: u8_sat

    def blur121(a: Expr, b: Expr, d: Expr) -> Expr:
        return _avg(_avg(a, d), b)

    unsharp_y, unsharp, out = Func("unsharp_y"), Func("unsharp"), Func("camera_pipe")
    unsharp_y[x, y, c] = blur121(curved[x, y - 1, c], curved[x, y, c], curved[x, y + 1, c])
    unsharp[x, y, c] = blur121(unsharp_y[x - 1, y, c], unsharp_y[x, y, c], unsharp_y[x + 1, y, c])
    mask = cast(int16, curved[x, y, c]) - cast(int16, unsharp[x, y, c])
    sharpened = curved[x, y, c] + mask * strength_x32[()] / 32
    out[x, y, c] = cast(uint8, clamp(sharpened, 0, 255))
    return out


def camera_pipe() -> Filter:
    """Raw GRBG mosaic (uint16, 10 bits) to uint8 RGB, 32 x 24 pixels smaller (module docstring)."""
    raw = ImageParam(uint16, 2, "input")
    color_temp = Param(float32, "color_temp", DEFAULTS["color_temp"])
    gamma = Param(float32, "gamma", DEFAULTS["gamma"])
    contrast = Param(float32, "contrast", DEFAULTS["contrast"])
    strength = Param(float32, "sharpen_strength", DEFAULTS["sharpen_strength"])
    black = Param(int32, "black_level", BLACK_LEVEL)
    white = Param(int32, "white_level", WHITE_LEVEL)
    m3200 = [[Param(float32, f"m3200_{r}{k}", MATRIX_3200[r][k]) for k in range(4)] for r in range(3)]
    m7000 = [[Param(float32, f"m7000_{r}{k}", MATRIX_7000[r][k]) for k in range(4)] for r in range(3)]

    def shifted(u: Expr, v: Expr) -> Expr:
        return raw[u + MARGIN_X, v + MARGIN_Y]

    hottest = max(shifted(x - 2, y), shifted(x + 2, y), shifted(x, y - 2), shifted(x, y + 2))
    denoised = _func("denoised", clamp(shifted(x, y), 0, hottest))
    deinterleaved = Func("deinterleaved")
    deinterleaved[x, y, c] = select(
        c < 1, denoised[2 * x, 2 * y], c < 2, denoised[2 * x + 1, 2 * y], c < 3, denoised[2 * x, 2 * y + 1],
        denoised[2 * x + 1, 2 * y + 1],
    )  # fmt: skip
    corrected = _colour_correct(_demosaic(deinterleaved), color_temp, m3200, m7000)
    out = _sharpen(_tone_curve(corrected, gamma, contrast, black, white), strength)
    box = [
        (raw.dim(0).min(), raw.width() - 2 * MARGIN_X),
        (raw.dim(1).min(), raw.height() - 2 * MARGIN_Y),
        (as_expr(0), as_expr(3)),
    ]
    matrices = (p for m in (m3200, m7000) for row in m for p in row)
    params = (color_temp, gamma, contrast, strength, black, white, *matrices)
    return Filter(
        "camera_pipe",
        "raw Bayer mosaic (uint16 GRBG, 10 bits) to uint8 RGB: hot pixels, demosaic, colour matrix, curve, sharpen",
        Pipeline(out, [box], auto_schedule=True),
        raw,
        params,
        input_kind="bayer",
        prepare=mosaic,
        shape_of=lambda shape, params: (3, shape[0] - 2 * MARGIN_Y, shape[1] - 2 * MARGIN_X),
    )


def default_matrix() -> np.ndarray:
    """The 3x4 colour matrix the pipeline uses at the default color_temp, as float64 (Q8.8 / 256)."""
    t = np.float32(DEFAULTS["color_temp"])
    alpha = (np.float32(1) / t - np.float32(1 / 3200)) / (np.float32(1 / 7000) - np.float32(1 / 3200))
    blend = np.float32(MATRIX_3200) * alpha + np.float32(MATRIX_7000) * (np.float32(1) - alpha)
    return np.trunc(blend * np.float32(256)).astype(np.float64) / 256


def mosaic(image: np.ndarray) -> np.ndarray:
    """A GRBG raw image (uint16 (H, W), values 0..1023) from a float32 RGB photograph (3, H, W):
    undo the default tone curve's gamma (squares the values), scale to black_level..white_level,
    undo the default colour matrix, and keep one channel per pixel, so that the default
    pipeline gives back roughly the photograph (with more contrast, and colours the 10-bit
    range clips)."""
    linear = np.clip(image.astype(np.float64), 0, 1) ** DEFAULTS["gamma"]
    wanted = BLACK_LEVEL + linear * (WHITE_LEVEL - BLACK_LEVEL)
    m = default_matrix()
    camera = np.einsum("rk,khw->rhw", np.linalg.inv(m[:, :3]), wanted - m[:, 3, None, None])
    camera = np.clip(np.rint(camera), 0, WHITE_LEVEL).astype(np.uint16)
    red, green, blue = camera
    raw = green.copy()
    raw[0::2, 1::2] = red[0::2, 1::2]
    raw[1::2, 0::2] = blue[1::2, 0::2]
    return raw

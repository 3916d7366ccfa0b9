"""Resize by any scale factor, bilinear or bicubic, with OpenCV's sampling (`cv2.resize`).

Output pixel centres map to input coordinates by half-pixel alignment,
src = (dst + 0.5) / scale - 0.5; bilinear reads the 2 nearest input pixels in each direction,
bicubic the 4 nearest with Keys' cubic of parameter `a` (OpenCV's -0.75 by default; -0.5 is
Catmull-Rom-like). Reads outside the image take the nearest edge pixel, as OpenCV does. There
is no antialiasing when shrinking (OpenCV's INTER_LINEAR and INTER_CUBIC have none either).

The output's size is round(scale * size) in x and y (`Filter.output_shape`, as
`cv2.resize(img, None, fx=scale, fy=scale)`); it is not affine in the input's size, so there is
no default box: pass `shape=`. Any other shape is sampled with the same mapping. Both
filters are separable: a pass in x (`resize_x`, input rows, output columns), then one in y.
"""

from __future__ import annotations

import builtins
from typing import Any

from pipelines.boundary import repeat_edge
from pipelines.expr import Expr, Param, Var, cast
from pipelines.filters.common import Filter, c, colour_input, x, y
from pipelines.func import Func
from pipelines.ops import clamp, floor, max, select
from pipelines.pipeline import Pipeline
from pipelines.types import float32, int32


def _source(coordinate: Expr, scale: Param, size: Expr) -> tuple[Expr, Expr]:
    """(integer part, fraction) of the input coordinate an output coordinate samples.

    The integer part is clamped to [-2, size + 1]: no value changes (taps beyond it all read
    the edge pixel, as do those of the clamped coordinate), but bounds inference, which cannot
    bound a float-to-int cast, gets a finite region to compute `resize_x` over."""
    inverse = 1.0 / max(scale, 1e-6)
    src = (cast(float32, coordinate) + 0.5) * inverse - 0.5
    whole = floor(src)
    return clamp(cast(int32, whole), -2, size + 1), src - whole


def resized_shape(input_shape: tuple[int, ...], params: dict[str, Any]) -> tuple[int, ...]:
    """`(C, round(scale H), round(scale W))`, at least 1 pixel; OpenCV's size for fx = fy = scale."""
    channels, height, width = input_shape
    scale = float(params["scale"])
    # the DSL's max is imported here; these are Python ints
    return channels, builtins.max(round(height * scale), 1), builtins.max(round(width * scale), 1)


def _cubic_weights(t: Expr, a: Expr) -> tuple[Expr, Expr, Expr, Expr]:
    """Keys' cubic weights of the taps at -1, 0, 1, 2 for a fraction t, as OpenCV writes them
    (the last is 1 minus the others, so they sum to 1 exactly up to rounding)."""
    u, v = t + 1.0, 1.0 - t
    w0 = ((a * u - 5.0 * a) * u + 8.0 * a) * u - 4.0 * a
    w1 = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    w2 = ((a + 2.0) * v - (a + 3.0)) * v * v + 1.0
    return w0, w1, w2, 1.0 - w0 - w1 - w2


def resize_bilinear() -> Filter:
    """Bilinear resize by `scale` (OpenCV INTER_LINEAR sampling)."""
    image = colour_input()
    scale = Param(float32, "scale", 0.5)
    clamped = repeat_edge(image)
    sx, fx = _source(x, scale, image.width())
    sy, fy = _source(y, scale, image.height())
    rx, out = Func("resize_x"), Func("resize_bilinear")
    rx[x, y, c] = clamped[sx, y, c] * (1.0 - fx) + clamped[sx + 1, y, c] * fx
    out[x, y, c] = rx[x, sy, c] * (1.0 - fy) + rx[x, sy + 1, c] * fy
    return Filter(
        "resize_bilinear",
        "bilinear resize by scale (output round(scale * size)); OpenCV's sampling",
        Pipeline(out),
        image,
        (scale,),
        shape_of=resized_shape,
    )


def resize_bicubic() -> Filter:
    """Bicubic resize by `scale` (OpenCV INTER_CUBIC sampling, Keys' cubic with parameter a)."""
    image = colour_input()
    scale = Param(float32, "scale", 0.5)
    a = Param(float32, "a", -0.75)
    clamped = repeat_edge(image)
    sx, fx = _source(x, scale, image.width())
    sy, fy = _source(y, scale, image.height())
    wy = _cubic_weights(fy, a)
    # the 4 weights of output column x, as a Func: the same for every row and channel, so a
    # schedule can compute them once per column instead of once per pixel of the x pass
    k = Var("k")
    w = _cubic_weights(fx, a)
    taps_x = Func("taps_x")
    taps_x[x, k] = select(k < 1, w[0], k < 2, w[1], k < 3, w[2], w[3])
    wx = [taps_x[x, t] for t in range(4)]
    rx, out = Func("resize_x"), Func("resize_bicubic")
    rx[x, y, c] = (
        wx[0] * clamped[sx - 1, y, c] + wx[1] * clamped[sx, y, c]
        + wx[2] * clamped[sx + 1, y, c] + wx[3] * clamped[sx + 2, y, c]
    )  # fmt: skip
    out[x, y, c] = wy[0] * rx[x, sy - 1, c] + wy[1] * rx[x, sy, c] + wy[2] * rx[x, sy + 1, c] + wy[3] * rx[x, sy + 2, c]
    return Filter(
        "resize_bicubic",
        "bicubic resize by scale (output round(scale * size)); OpenCV's sampling, cubic a",
        Pipeline(out),
        image,
        (scale, a),
        shape_of=resized_shape,
    )

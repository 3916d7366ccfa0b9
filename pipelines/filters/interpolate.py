"""Multi-scale interpolation of an RGBA image by pyramid push-pull, as Halide's `apps/interpolate`.

Pixels with alpha 1 are known, alpha 0 unknown. Push: premultiply colour by alpha and build a
Gaussian pyramid (1 2 1 / 4 taps, `downsampled_l`) of the premultiplied colour and alpha. Pull:
from the coarsest level up, `interpolated_l` = downsampled_l + (1 - alpha_l) upsampled(
interpolated_{l+1}), so holes are filled from coarser levels; finally colour / alpha.

The input is float32 RGBA `(4, H, W)`; the output has 4 channels too (RGB, and alpha / alpha =
1). Differences from Halide's app: every level is read with its coordinates clamped to its
size ceil(size / 2^l) (Halide adds one clamp, at level 4), and `levels` is a builder argument
(10 by default, Halide's GeneratorParam).
"""

from __future__ import annotations

import numpy as np

from pipelines.boundary import repeat_edge
from pipelines.expr import Expr
from pipelines.filters.common import Filter, c, colour_input, same_box, x, y
from pipelines.func import Func
from pipelines.ops import clamp, select
from pipelines.pipeline import Pipeline

LEVELS = 10


def sparse_alpha(image: np.ndarray) -> np.ndarray:
    """An RGBA test input from an RGB photograph: about 1 pixel in 10 known (alpha 1), on a
    fixed pattern, the rest unknown (alpha 0, colour 0)."""
    _, height, width = image.shape
    yy, xx = np.mgrid[0:height, 0:width]
    alpha = ((xx * 7 + yy * 13) % 10 == 0).astype(np.float32)
    return np.concatenate([image[:3] * alpha, alpha[None]]).astype(np.float32)


def interpolate(levels: int = LEVELS) -> Filter:
    """Fill unknown pixels (alpha 0) of an RGBA image by pyramid push-pull over `levels` levels."""
    image = colour_input(4)
    clamped = repeat_edge(image)
    sizes = [(image.width(), image.height())]
    for _ in range(1, levels):
        w, h = sizes[-1]
        sizes.append(((w + 1) / 2, (h + 1) / 2))

    down = [Func("downsampled_0")]
    down[0][x, y, c] = select(c < 3, clamped[x, y, c] * clamped[x, y, 3], clamped[x, y, 3])
    for level in range(1, levels):
        prev, (w, h) = down[level - 1], sizes[level - 1]

        def px(at: Expr, prev: Func = prev, w: Expr = w) -> Expr:
            return prev[clamp(at, 0, w - 1), y, c]

        downx, downy = Func(f"downx_{level}"), Func(f"downsampled_{level}")
        downx[x, y, c] = (px(2 * x - 1) + 2.0 * px(2 * x) + px(2 * x + 1)) * 0.25
        ya, yb, yc = (clamp(2 * y + d, 0, h - 1) for d in (-1, 0, 1))
        downy[x, y, c] = (downx[x, ya, c] + 2.0 * downx[x, yb, c] + downx[x, yc, c]) * 0.25
        down.append(downy)

    interpolated: list[Func] = [down[levels - 1]] * levels
    for level in range(levels - 2, -1, -1):
        coarse, (w, h) = interpolated[level + 1], sizes[level + 1]
        upx, up = Func(f"upsampledx_{level}"), Func(f"upsampled_{level}")
        upx[x, y, c] = (coarse[clamp(x / 2, 0, w - 1), y, c] + coarse[clamp((x + 1) / 2, 0, w - 1), y, c]) / 2.0
        up[x, y, c] = (upx[x, clamp(y / 2, 0, h - 1), c] + upx[x, clamp((y + 1) / 2, 0, h - 1), c]) / 2.0
        f = Func(f"interpolated_{level}")
        f[x, y, c] = down[level][x, y, c] + (1.0 - down[level][x, y, 3]) * up[x, y, c]
        interpolated[level] = f

    out = Func("interpolate")
    out[x, y, c] = interpolated[0][x, y, c] / interpolated[0][x, y, 3]
    return Filter(
        "interpolate",
        "fill pixels of alpha 0 by pyramid push-pull (RGBA in, RGBA out)",
        Pipeline(out, [same_box(image)], auto_schedule=True),
        image,
        input_kind="rgba",
        prepare=sparse_alpha,
    )

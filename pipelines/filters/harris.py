"""Harris corner response, structured as Halide's `apps/harris`.

grey -> Sobel gradients Ix, Iy (scaled by 1/12) -> products Ixx, Iyy, Ixy -> 3x3 box sums
Sxx, Syy, Sxy -> det - k trace^2. The input is read through `repeat_edge`; the output has the
input's size (Halide's crops 2 pixels on each side instead) and holds the response in every
channel, like `sobel`, so it saves as a grey picture (responses are small: ~1e-3 at corners of
a [0, 1] image; negative on edges).

The 1/12 Sobel scale and the 3x3 block make the response exactly OpenCV's
`cornerHarris(grey, blockSize=3, ksize=3, k)` on a float image (OpenCV scales its Sobel
derivatives by 1 / (2^(ksize-1) * blockSize) = 1/12).
"""

from __future__ import annotations

from pipelines.boundary import repeat_edge
from pipelines.expr import Expr, Param
from pipelines.filters.common import Filter, c, colour_input, luminance, same_box, x, y
from pipelines.func import Func
from pipelines.pipeline import Pipeline
from pipelines.types import float32


def _sum3x3(f: Func) -> Expr:
    return (
        f[x - 1, y - 1] + f[x, y - 1] + f[x + 1, y - 1]
        + f[x - 1, y] + f[x, y] + f[x + 1, y]
        + f[x - 1, y + 1] + f[x, y + 1] + f[x + 1, y + 1]
    )  # fmt: skip


def _func(name: str, value: Expr) -> Func:
    f = Func(name)
    f[x, y] = value
    return f


def harris() -> Filter:
    """Harris corner response det(S) - k trace(S)^2 of the 3x3-summed structure tensor S."""
    image = colour_input()
    k = Param(float32, "k", 0.04)
    gray = luminance(repeat_edge(image), "gray")
    third, sixth = 1.0 / 12.0, 2.0 / 12.0
    # Sobel in y: rows below minus rows above, weights 1 2 1 across x
    iy = _func(
        "Iy",
        (gray[x - 1, y + 1] - gray[x - 1, y - 1]) * third
        + (gray[x, y + 1] - gray[x, y - 1]) * sixth
        + (gray[x + 1, y + 1] - gray[x + 1, y - 1]) * third,
    )
    ix = _func(
        "Ix",
        (gray[x + 1, y - 1] - gray[x - 1, y - 1]) * third
        + (gray[x + 1, y] - gray[x - 1, y]) * sixth
        + (gray[x + 1, y + 1] - gray[x - 1, y + 1]) * third,
    )
    ixx = _func("Ixx", ix[x, y] * ix[x, y])
    iyy = _func("Iyy", iy[x, y] * iy[x, y])
    ixy = _func("Ixy", ix[x, y] * iy[x, y])
    sxx, syy, sxy = _func("Sxx", _sum3x3(ixx)), _func("Syy", _sum3x3(iyy)), _func("Sxy", _sum3x3(ixy))
    det = _func("det", sxx[x, y] * syy[x, y] - sxy[x, y] * sxy[x, y])
    trace = _func("trace", sxx[x, y] + syy[x, y])
    response = _func("response", det[x, y] - k * trace[x, y] * trace[x, y])
    out = Func("harris")
    out[x, y, c] = response[x, y]
    return Filter(
        "harris",
        "Harris corner response (Sobel, 3x3 window, det - k trace^2), in every channel; needs RGB",
        Pipeline(out, [same_box(image)]),
        image,
        (k,),
    )

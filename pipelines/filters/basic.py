"""The first five standard filters: box and Gaussian blur, unsharp mask, Sobel, tone.

Each takes the float32 colour input of `common.colour_input` and gives an output of the
input's size; stencils read the input through `repeat_edge`, so every output pixel is defined
and no read leaves the image.
"""

from __future__ import annotations

from pipelines.boundary import repeat_edge
from pipelines.expr import Expr, Param
from pipelines.filters.common import Filter, c, colour_input, gaussian_kernel, luminance, reduction, same_box, x, y
from pipelines.func import Func
from pipelines.ops import clamp, fast_pow, max, select, sqrt
from pipelines.pipeline import Pipeline
from pipelines.types import float32


def box_blur() -> Filter:
    """3x3 box blur, separable: the mean of 3 in x, then the mean of 3 in y."""
    image = colour_input()
    clamped = repeat_edge(image)
    blur_x, blur_y = Func("blur_x"), Func("blur_y")
    blur_x[x, y, c] = (clamped[x - 1, y, c] + clamped[x, y, c] + clamped[x + 1, y, c]) / 3.0
    blur_y[x, y, c] = (blur_x[x, y - 1, c] + blur_x[x, y, c] + blur_x[x, y + 1, c]) / 3.0
    return Filter("box_blur", "3x3 box blur (mean of 3 in x, then in y)", Pipeline(blur_y, [same_box(image)]), image)


def gaussian_blur() -> Filter:
    """Separable Gaussian blur of radius ceil(3 sigma), weights normalised to sum to 1."""
    image = colour_input()
    sigma = Param(float32, "sigma", 1.5)
    clamped = repeat_edge(image)
    kernel, r = gaussian_kernel(sigma)
    blur_x = reduction("blur_x", (x, y, c), clamped[x + r.x, y, c] * kernel[r.x])
    blur_y = reduction("blur_y", (x, y, c), blur_x[x, y + r.x, c] * kernel[r.x])
    return Filter(
        "gaussian_blur",
        "Gaussian blur, separable, radius ceil(3 sigma)",
        Pipeline(blur_y, [same_box(image)]),
        image,
        (sigma,),
    )


def unsharp_mask() -> Filter:
    """Sharpen luminance and scale each channel by the same ratio, so hues are kept.

    sharpened = grey + amount (grey - gaussian(grey)); out = clamp(in * sharpened / grey, 0, 1),
    with grey floored at 1e-4 in the ratio so that black pixels stay black.
    """
    image = colour_input()
    sigma = Param(float32, "sigma", 1.5)
    amount = Param(float32, "amount", 1.0)
    clamped = repeat_edge(image)
    grey = luminance(clamped)
    kernel, r = gaussian_kernel(sigma)
    blur_x = reduction("blur_x", (x, y), grey[x + r.x, y] * kernel[r.x])
    blur_y = reduction("blur_y", (x, y), blur_x[x, y + r.x] * kernel[r.x])
    sharpened, ratio, out = Func("sharpened"), Func("ratio"), Func("unsharp")
    sharpened[x, y] = grey[x, y] + amount * (grey[x, y] - blur_y[x, y])
    ratio[x, y] = sharpened[x, y] / max(grey[x, y], 1e-4)
    out[x, y, c] = clamp(image[x, y, c] * ratio[x, y], 0.0, 1.0)
    return Filter(
        "unsharp_mask",
        "unsharp mask on luminance (Gaussian sigma, strength amount); needs RGB",
        Pipeline(out, [same_box(image)]),
        image,
        (sigma, amount),
    )


def sobel() -> Filter:
    """Sobel gradient magnitude of luminance, sqrt(gx^2 + gy^2), written to every channel.

    The output keeps the input's shape (C, H, W) with the same value in each channel, so it
    saves as a grey-looking picture; it is not clamped (a 0 -> 1 step gives 4, and
    `save_image` clips to [0, 1]).
    """
    image = colour_input()
    grey = luminance(repeat_edge(image))
    smooth_x, smooth_y = Func("smooth_x"), Func("smooth_y")
    smooth_x[x, y] = grey[x - 1, y] + 2.0 * grey[x, y] + grey[x + 1, y]
    smooth_y[x, y] = grey[x, y - 1] + 2.0 * grey[x, y] + grey[x, y + 1]
    gx, gy = Func("gx"), Func("gy")
    gx[x, y] = smooth_y[x + 1, y] - smooth_y[x - 1, y]
    gy[x, y] = smooth_x[x, y + 1] - smooth_x[x, y - 1]
    magnitude, out = Func("magnitude"), Func("sobel")
    magnitude[x, y] = sqrt(gx[x, y] * gx[x, y] + gy[x, y] * gy[x, y])
    out[x, y, c] = magnitude[x, y]
    return Filter(
        "sobel",
        "Sobel edge magnitude of luminance, in every channel; needs RGB",
        Pipeline(out, [same_box(image)]),
        image,
    )


def brightness_contrast_gamma() -> Filter:
    """out = clamp((in - 0.5) contrast + 0.5 + brightness, 0, 1) ** (1 / gamma).

    gamma is floored at 1e-3 (so the exponent stays finite), and a level of 0 gives 0 without
    calling pow (pow(0, e) is where implementations disagree). The power is `fast_pow`: within
    1.5 + 1/gamma ulp of the exact one (1.2 ulp at gamma 2.2; exact at gamma 1), in 0.75 of the
    time of `pow`'s 0.51 ulp; a tone curve's output is quantized far more coarsely than that.
    """
    image = colour_input()
    brightness = Param(float32, "brightness", 0.0)
    contrast = Param(float32, "contrast", 1.0)
    gamma = Param(float32, "gamma", 1.0)
    level, out = Func("level"), Func("tone")
    level[x, y, c] = clamp((image[x, y, c] - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)
    exponent: Expr = 1.0 / max(gamma, 1e-3)
    out[x, y, c] = select(level[x, y, c] > 0.0, fast_pow(level[x, y, c], exponent), 0.0)
    return Filter(
        "brightness_contrast_gamma",
        "brightness, contrast about 0.5, then gamma; clamped to [0, 1]",
        Pipeline(out, [same_box(image)]),
        image,
        (brightness, contrast, gamma),
    )

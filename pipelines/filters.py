"""The standard filters: small, real pipelines used by the command line, demos and tests.

Each builder returns a fresh `Filter` record around a `Pipeline` whose one input is a float32
colour image `ImageParam(float32, 3, "input")` indexed `input[x, y, c]` (numpy `(C, H, W)`,
values in [0, 1]) and whose output has the input's size. Stencils read the input through
`repeat_edge`, so every output pixel is defined and no read leaves the image.

    f = FILTERS["gaussian_blur"]()
    out = interpret(f.pipeline, shape=img.shape, input=img, sigma=2.0)

Func names are chosen so that loop nests read well (`blur_x`, `blur_y`, `grey`, ...); the
filters reading luminance use `grey = 0.299 R + 0.587 G + 0.114 B` and so need 3 channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.boundary import repeat_edge
from pipelines.expr import Expr, Param, Var, cast
from pipelines.func import Func, ImageParam, RDom
from pipelines.ops import ceil, clamp, exp, max, pow, select, sqrt
from pipelines.pipeline import Pipeline
from pipelines.types import float32, int32

__all__ = [
    "FILTERS",
    "Filter",
    "box_blur",
    "brightness_contrast_gamma",
    "gaussian_blur",
    "sobel",
    "unsharp_mask",
]

x, y, c = Var("x"), Var("y"), Var("c")


@dataclass(frozen=True, eq=False)
class Filter:
    """A built pipeline with what a caller needs to run it.

    `input` is the pipeline's one ImageParam and `params` its scalar Params, in the order a
    user would tune them; each Param carries its name, type and default.
    """

    name: str
    description: str
    pipeline: Pipeline
    input: ImageParam
    params: tuple[Param, ...] = ()

    @property
    def output(self) -> Func:
        return self.pipeline.outputs[0]

    def param(self, name: str) -> Param:
        """The Param called `name`, or a KeyError listing the filter's params."""
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise KeyError(f"filter {self.name!r} has no param {name!r} (params: {known})")

    def defaults(self) -> dict[str, Any]:
        """`{param name: default value}`."""
        return {p.name: p.default for p in self.params}


def _colour_input() -> ImageParam:
    return ImageParam(float32, 3, "input")


def _grey(clamped: Func) -> Func:
    """Luminance (ITU-R BT.601 weights) of a colour Func, as a 2-D Func."""
    grey = Func("grey")
    grey[x, y] = 0.299 * clamped[x, y, 0] + 0.587 * clamped[x, y, 1] + 0.114 * clamped[x, y, 2]
    return grey


def _gaussian_kernel(sigma: Param) -> tuple[Func, RDom]:
    """Normalised 1-D Gaussian weights `kernel[i]` over the RDom [-radius, radius].

    radius = ceil(3 sigma) is an int32 Expr, so the RDom's extent is set at run time. sigma is
    floored at 1e-3 so that sigma <= 0 gives the identity (one weight of 1) instead of NaN.
    """
    s = max(sigma, 1e-3)
    radius = cast(int32, ceil(3.0 * s))
    i = Var("i")
    weight = Func("gauss_weight")
    distance = cast(float32, i)
    weight[i] = exp(-(distance * distance) / (2.0 * s * s))
    r = RDom([(-radius, 2 * radius + 1)], name="r")
    total = Func("weight_sum")
    total[()] = 0.0
    total[()] += weight[r.x]
    # The taps are written by an update over r so that a default schedule computes them once
    # (a Func with updates is computed at the root), not once per tap per pixel (inlined).
    kernel = Func("kernel")
    kernel[i] = 0.0
    kernel[r.x] = weight[r.x] / total[()]
    return kernel, r


def _reduction(name: str, args: tuple[Var, ...], value: Expr) -> Func:
    """`name[args]` = the sum of `value` over the RDom it uses, written as an explicit update
    so that the loop nest shows `name` with its reduction loop (not an anonymous `sum` Func)."""
    f = Func(name)
    f[args] = 0.0
    f[args] += value
    return f


def box_blur() -> Filter:
    """3x3 box blur, separable: the mean of 3 in x, then the mean of 3 in y."""
    image = _colour_input()
    clamped = repeat_edge(image)
    blur_x, blur_y = Func("blur_x"), Func("blur_y")
    blur_x[x, y, c] = (clamped[x - 1, y, c] + clamped[x, y, c] + clamped[x + 1, y, c]) / 3.0
    blur_y[x, y, c] = (blur_x[x, y - 1, c] + blur_x[x, y, c] + blur_x[x, y + 1, c]) / 3.0
    return Filter("box_blur", "3x3 box blur (mean of 3 in x, then in y)", Pipeline(blur_y), image)


def gaussian_blur() -> Filter:
    """Separable Gaussian blur of radius ceil(3 sigma), weights normalised to sum to 1."""
    image = _colour_input()
    sigma = Param(float32, "sigma", 1.5)
    clamped = repeat_edge(image)
    kernel, r = _gaussian_kernel(sigma)
    blur_x = _reduction("blur_x", (x, y, c), clamped[x + r.x, y, c] * kernel[r.x])
    blur_y = _reduction("blur_y", (x, y, c), blur_x[x, y + r.x, c] * kernel[r.x])
    return Filter(
        "gaussian_blur",
        "Gaussian blur, separable, radius ceil(3 sigma)",
        Pipeline(blur_y),
        image,
        (sigma,),
    )


def unsharp_mask() -> Filter:
    """Sharpen luminance and scale each channel by the same ratio, so hues are kept.

    sharpened = grey + amount (grey - gaussian(grey)); out = clamp(in * sharpened / grey, 0, 1),
    with grey floored at 1e-4 in the ratio so that black pixels stay black.
    """
    image = _colour_input()
    sigma = Param(float32, "sigma", 1.5)
    amount = Param(float32, "amount", 1.0)
    clamped = repeat_edge(image)
    grey = _grey(clamped)
    kernel, r = _gaussian_kernel(sigma)
    blur_x = _reduction("blur_x", (x, y), grey[x + r.x, y] * kernel[r.x])
    blur_y = _reduction("blur_y", (x, y), blur_x[x, y + r.x] * kernel[r.x])
    sharpened, ratio, out = Func("sharpened"), Func("ratio"), Func("unsharp")
    sharpened[x, y] = grey[x, y] + amount * (grey[x, y] - blur_y[x, y])
    ratio[x, y] = sharpened[x, y] / max(grey[x, y], 1e-4)
    out[x, y, c] = clamp(image[x, y, c] * ratio[x, y], 0.0, 1.0)
    return Filter(
        "unsharp_mask",
        "unsharp mask on luminance (Gaussian sigma, strength amount); needs RGB",
        Pipeline(out),
        image,
        (sigma, amount),
    )


def sobel() -> Filter:
    """Sobel gradient magnitude of luminance, sqrt(gx^2 + gy^2), written to every channel.

    The output keeps the input's shape (C, H, W) with the same value in each channel, so it
    saves as a grey-looking picture; it is not clamped (a 0 -> 1 step gives 4, and
    `save_image` clips to [0, 1]).
    """
    image = _colour_input()
    grey = _grey(repeat_edge(image))
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
        Pipeline(out),
        image,
    )


def brightness_contrast_gamma() -> Filter:
    """out = clamp((in - 0.5) contrast + 0.5 + brightness, 0, 1) ** (1 / gamma).

    gamma is floored at 1e-3 (so the exponent stays finite), and a level of 0 gives 0 without
    calling pow (pow(0, e) is where implementations disagree).
    """
    image = _colour_input()
    brightness = Param(float32, "brightness", 0.0)
    contrast = Param(float32, "contrast", 1.0)
    gamma = Param(float32, "gamma", 1.0)
    level, out = Func("level"), Func("tone")
    level[x, y, c] = clamp((image[x, y, c] - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)
    exponent: Expr = 1.0 / max(gamma, 1e-3)
    out[x, y, c] = select(level[x, y, c] > 0.0, pow(level[x, y, c], exponent), 0.0)
    return Filter(
        "brightness_contrast_gamma",
        "brightness, contrast about 0.5, then gamma; clamped to [0, 1]",
        Pipeline(out),
        image,
        (brightness, contrast, gamma),
    )


FILTERS: dict[str, Callable[[], Filter]] = {
    "box_blur": box_blur,
    "gaussian_blur": gaussian_blur,
    "unsharp_mask": unsharp_mask,
    "sobel": sobel,
    "brightness_contrast_gamma": brightness_contrast_gamma,
}
"""Builders of the standard filters by name; each call builds a fresh pipeline."""

"""Histogram equalization of luminance, with OpenCV's `equalizeHist` arithmetic.

Luminance is quantized to 256 bins (round(255 Y)); a histogram is built by an update over an
RDom spanning the image (a scatter: the bin is data-dependent), its cumulative sum by a scan,
and the look-up table is OpenCV's: lut[i] = round((cdf[i] - cdf_min) * 255 / (N - cdf_min)),
where cdf_min is the count of the first non-empty bin and N the pixel count; a one-bin image is
left as it is. Colour is kept by scaling each channel by equalized / original luminance (as
`unsharp_mask` does; the floor of 1e-4 keeps black pixels black), clamped to [0, 1].
"""

from __future__ import annotations

from pipelines.expr import Var, cast, eq
from pipelines.filters.common import Filter, c, colour_input, luminance, same_box, x, y
from pipelines.func import Func, RDom
from pipelines.ops import clamp, max, min, round, select
from pipelines.pipeline import Pipeline
from pipelines.types import float32, int32

BINS = 256


def equalize_histogram() -> Filter:
    """Equalize the histogram of luminance (256 bins), keeping hues."""
    image = colour_input()
    i = Var("i")
    grey = luminance(image)
    bin_ = Func("bin")
    bin_[x, y] = clamp(cast(int32, round(grey[x, y] * float(BINS - 1))), 0, BINS - 1)
    pixels = RDom([(image.dim(0).min(), image.width()), (image.dim(1).min(), image.height())], name="p")
    hist = Func("hist")
    hist[i] = 0
    hist[bin_[pixels.x, pixels.y]] += 1
    bins = RDom([(1, BINS - 1)], name="b")
    cdf = Func("cdf")
    cdf[i] = hist[i]
    cdf[bins.x] = cdf[bins.x - 1] + hist[bins.x]
    total = image.width() * image.height()
    every = RDom([(0, BINS)], name="e")
    # cdf is nondecreasing, so the first non-empty bin has the smallest cdf of the non-empty bins
    cdf_min = Func("cdf_min")
    cdf_min[()] = total
    cdf_min[()] = min(cdf_min[()], select(hist[every.x] > 0, cdf[every.x], total))
    scale = 255.0 / cast(float32, max(total - cdf_min[()], 1))
    lut = Func("lut")
    stretched = clamp(round(cast(float32, cdf[i] - cdf_min[()]) * scale), 0.0, 255.0)
    lut[i] = select(eq(cdf_min[()], total), cast(float32, i), stretched) / 255.0
    out = Func("equalize")
    ratio = lut[bin_[x, y]] / max(grey[x, y], 1e-4)
    out[x, y, c] = clamp(image[x, y, c] * ratio, 0.0, 1.0)
    return Filter(
        "equalize_histogram",
        "histogram equalization of luminance (256 bins, OpenCV's table), hues kept; needs RGB",
        Pipeline(out, [same_box(image)]),
        image,
    )

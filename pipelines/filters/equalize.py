"""Histogram equalization of luminance, with OpenCV's `equalizeHist` arithmetic.

Luminance is quantized to 256 bins (round(255 Y)); a histogram is built by updates over an
RDom spanning the image (a scatter: the bin is data-dependent) into one partial histogram per
strip of rows, which are then added up; its cumulative sum is a scan,
and the look-up table is OpenCV's: lut[i] = round((cdf[i] - cdf_min) * 255 / (N - cdf_min)),
where cdf_min is the count of the first non-empty bin and N the pixel count; a one-bin image is
left as it is. Colour is kept by scaling each channel by equalized / original luminance (as
`unsharp_mask` does; the floor of 1e-4 keeps black pixels black), clamped to [0, 1].
"""

from __future__ import annotations

from pipelines.expr import Var, cast, eq
from pipelines.filters.common import Filter, c, colour_input, luminance, same_box, x, y
from pipelines.func import Func, RDom
from pipelines.ops import clamp, max, min, round, select, sum
from pipelines.pipeline import Pipeline
from pipelines.types import float32, int32

BINS = 256
STRIPS = 16  # strips of rows counted apart, into partial histograms


def equalize_histogram() -> Filter:
    """Equalize the histogram of luminance (256 bins), keeping hues."""
    image = colour_input()
    i = Var("i")
    grey = luminance(image)
    bin_ = Func("bin")
    bin_[x, y] = clamp(cast(int32, round(grey[x, y] * float(BINS - 1))), 0, BINS - 1)
    # Counted in STRIPS partial histograms, one per strip of rows, then added up (integer counts:
    # the same totals in any order). The strip stands alone on the left, so the partials are
    # independent and a schedule can count strips in parallel.
    x0, y0, w, h = image.dim(0).min(), image.dim(1).min(), image.width(), image.height()
    rows = (h + STRIPS - 1) / STRIPS
    p = RDom([(0, w), (0, rows), (0, STRIPS)], name="p")
    py = p.z * rows + p.y
    p.where(py < h)
    partial = Func("hist_partial")
    partial[i, y] = 0
    # the clamp changes no counted pixel (the predicate skips the rest); it keeps the reads of
    # `bin` inside the image for bounds inference, which does not use predicates
    partial[bin_[x0 + p.x, y0 + min(py, h - 1)], p.z] += 1
    strips = RDom([(0, STRIPS)], name="q")
    hist = Func("hist")
    hist[i] = sum(partial[i, strips.x])
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

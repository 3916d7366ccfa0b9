"""Bilateral filter by the bilateral grid, as Halide's `apps/bilateral_grid`, in colour.

Halide's app filters a grey image; here the grid is indexed by luminance and carries the three
colour channels and a weight, so each channel is smoothed among pixels of similar luminance
(a cross-bilateral filter guided by luminance; on a grey image it is Halide's filter exactly):

1. histogram[x, y, z, c]: each pixel adds its colour (c < 3) and 1 (c = 3) to its grid cell
   (x, y) = its coordinates / s_sigma, at the luminance bin z = int(Y / r_sigma + 0.5): an update
   over an RDom of the pixels of every cell read later (edge pixels repeat beyond the image), a
   scatter into data-dependent coordinates.
2. three 5-tap (1 4 6 4 1) blurs of the grid, in z, then x, then y.
3. trilinear slicing at (x / s, y / s, Y / r_sigma), then colour / weight.

The input is read through `repeat_edge`; luminance is clamped to [0, 1] before binning.
s_sigma is an int32 Param (Halide's is a compile-time GeneratorParam), r_sigma a float32 one.
"""

from __future__ import annotations

from pipelines.boundary import repeat_edge
from pipelines.expr import Expr, Param, Var, cast
from pipelines.filters.common import Filter, c, colour_input, luminance, same_box, x, y
from pipelines.func import Func, RDom
from pipelines.ops import clamp, lerp, max, select
from pipelines.pipeline import Pipeline
from pipelines.types import float32, int32

z = Var("z")


def _blur5(f: Func, at: tuple[Expr, ...], axis: int) -> Expr:
    """1 4 6 4 1 taps of f along argument `axis` around the point `at`."""

    def tap(d: int) -> Expr:
        args = list(at)
        args[axis] = args[axis] + d
        return f[tuple(args)]

    return tap(-2) + 4.0 * tap(-1) + 6.0 * tap(0) + 4.0 * tap(1) + tap(2)


def bilateral_grid() -> Filter:
    """Edge-preserving smoothing: spatial sigma s_sigma pixels, range sigma r_sigma (luminance)."""
    image = colour_input()
    s_sigma = Param(int32, "s_sigma", 8)
    r_sigma = Param(float32, "r_sigma", 0.1)
    s = max(s_sigma, 1)
    inv_r = 1.0 / max(r_sigma, 1e-3)
    clamped = repeat_edge(image)
    gray = luminance(clamped, "gray")

    # The pixels of grid cells -2 .. (W-1)/s + 3 in x (and likewise in y), the cells the blurs
    # and the slicing read; cell = (pixel + s/2) / s, so cell i holds pixels i s - s/2 .. i s + s/2 - 1.
    cells_x, cells_y = (image.width() - 1) / s + 6, (image.height() - 1) / s + 6
    # Cell (i, j) holds the pixels i s - s/2 .. i s + s/2 - 1 (likewise in y), the pixels nearest
    # to it; cells -2 .. (size - 1) / s + 3 are read by the blurs. The RDom walks the pixels of
    # one cell (dx innermost, then dy), then the cells; so each bin sums its pixels in scan order.
    # The cell coordinates stand alone on the left, so different cells are independent and a
    # schedule may run them in parallel (Halide's histogram(x, y, z, c) over r in [0, s)^2; a pure
    # Var may not appear inside an update argument here, so the cells are RVars).
    r = RDom([(0, s), (0, s), (-2, cells_x), (-2, cells_y)], name="r")
    px, py = r[2] * s + r[0] - s / 2, r[3] * s + r[1] - s / 2
    level = clamp(gray[px, py], 0.0, 1.0)
    histogram = Func("histogram")
    histogram[x, y, z, c] = 0.0
    # The clamp changes no value (level is in [0, 1]) but bounds the scattered z for bounds
    # inference, which cannot see through a float-to-int cast. clamped reads channel 2 for c = 3,
    # where the select takes the weight 1 instead.
    bin_z = clamp(cast(int32, level * inv_r + 0.5), 0, cast(int32, inv_r + 0.5))
    histogram[r[2], r[3], bin_z, c] += select(c < 3, clamped[px, py, c], 1.0)

    at = (x, y, z, c)
    blurz, blurx, blury = Func("blurz"), Func("blurx"), Func("blury")
    blurz[at] = _blur5(histogram, at, 2)
    blurx[at] = _blur5(blurz, at, 0)
    blury[at] = _blur5(blurx, at, 1)

    zv = clamp(gray[x, y], 0.0, 1.0) * inv_r
    zi = clamp(cast(int32, zv), 0, cast(int32, inv_r))  # a no-op clamp, for bounds inference
    zf = zv - cast(float32, zi)
    xi, yi = x / s, y / s
    xf, yf = cast(float32, x % s) / cast(float32, s), cast(float32, y % s) / cast(float32, s)

    def plane(k: Expr, ch: Expr) -> Expr:
        top = lerp(blury[xi, yi, k, ch], blury[xi + 1, yi, k, ch], xf)
        bottom = lerp(blury[xi, yi + 1, k, ch], blury[xi + 1, yi + 1, k, ch], xf)
        return lerp(top, bottom, yf)

    interpolated = Func("interpolated")
    interpolated[x, y, c] = lerp(plane(zi, c), plane(zi + 1, c), zf)
    out = Func("bilateral_grid")
    out[x, y, c] = interpolated[x, y, c] / interpolated[x, y, 3]
    return Filter(
        "bilateral_grid",
        "bilateral filter by the bilateral grid (spatial s_sigma px, range r_sigma), luminance-guided; needs RGB",
        Pipeline(out, [same_box(image)], auto_schedule=True),
        image,
        (s_sigma, r_sigma),
    )

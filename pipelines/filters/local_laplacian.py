"""Local Laplacian filter (Paris, Hasinoff, Kautz 2011), as Halide's `apps/local_laplacian`.

Luminance is remapped at `levels` intensities k/(levels-1) (detail around each intensity
scaled by alpha through remap(d) = alpha d exp(-d^2/2), the rest by beta); each remapped image
gets a Gaussian pyramid (`gPyr_j[x, y, k]`, 8 levels, 1 3 3 1 downsampling) and a Laplacian
pyramid (`lPyr_j`, bilinear upsampling); the input's own Gaussian pyramid (`inGPyr_j`) picks,
per pixel and level, the two processed levels around its intensity and interpolates
(`outLPyr_j`); the output Laplacian pyramid is collapsed (`outGPyr_j`) and colour reintroduced
by the ratio output / input luminance (eps 0.01, as Halide).

Differences from Halide's app: float32 [0, 1] input and output instead of uint16; every
pyramid level is read with its coordinates clamped to that level's size (ceil(size / 2^j)), so
no level reads beyond the image (Halide clamps only the input, and its footprint reaches
hundreds of pixels past the edges), which is also what a numpy implementation with edge
padding per level computes.
"""

from __future__ import annotations

from pipelines.boundary import repeat_edge
from pipelines.expr import Expr, Param, Var, cast
from pipelines.filters.common import Filter, c, colour_input, luminance, same_box, x, y
from pipelines.func import Func
from pipelines.ops import clamp, exp, max
from pipelines.pipeline import Pipeline
from pipelines.types import float32, int32

PYRAMID_LEVELS = 8
k = Var("k")


def _downsample(f: Func, size: tuple[Expr, Expr], name: str, more: tuple[Var, ...]) -> Func:
    """1 3 3 1 / 8 in x then y, reading f clamped to its `size` (w, h)."""
    w, h = size
    downx, downy = Func(f"{name}_downx"), Func(name)

    def fx(at: Expr) -> Expr:
        return f[(clamp(at, 0, w - 1), y, *more)]

    def dy(at: Expr) -> Expr:
        return downx[(x, clamp(at, 0, h - 1), *more)]

    downx[(x, y, *more)] = (fx(2 * x - 1) + 3.0 * (fx(2 * x) + fx(2 * x + 1)) + fx(2 * x + 2)) / 8.0
    downy[(x, y, *more)] = (dy(2 * y - 1) + 3.0 * (dy(2 * y) + dy(2 * y + 1)) + dy(2 * y + 2)) / 8.0
    return downy


def _upsample(f: Func, size: tuple[Expr, Expr], name: str, more: tuple[Var, ...]) -> tuple[Func, Func]:
    """Bilinear 2x upsampling (taps 1/4, 3/4), reading f clamped to its `size`; (upx, upy)."""
    w, h = size
    upx, upy = Func(f"{name}_x"), Func(name)

    def fx(at: Expr) -> Expr:
        return f[(clamp(at, 0, w - 1), y, *more)]

    upx[(x, y, *more)] = 0.25 * fx(x / 2 - 1 + 2 * (x % 2)) + 0.75 * fx(x / 2)
    ya, yb = clamp(y / 2 - 1 + 2 * (y % 2), 0, h - 1), clamp(y / 2, 0, h - 1)
    upy[(x, y, *more)] = 0.25 * upx[(x, ya, *more)] + 0.75 * upx[(x, yb, *more)]
    return upx, upy


def local_laplacian() -> Filter:
    """Local Laplacian filter: detail scaled by alpha, tone range by beta, `levels` intensities."""
    image = colour_input()
    levels = Param(int32, "levels", 8)
    alpha = Param(float32, "alpha", 1.0)
    beta = Param(float32, "beta", 1.0)
    n = max(levels, 2)  # levels - 1 intervals between the processed intensities
    J = PYRAMID_LEVELS
    sizes = [(image.width(), image.height())]
    for _ in range(1, J):
        w, h = sizes[-1]
        sizes.append(((w + 1) / 2, (h + 1) / 2))

    i = Var("i")
    remap = Func("remap")
    fi = cast(float32, i) / 256.0
    remap[i] = alpha * fi * exp(-fi * fi / 2.0)

    clamped = repeat_edge(image)
    gray = luminance(clamped, "gray")

    g_pyr = [Func("gPyr_0")]
    level = cast(float32, k) * (1.0 / cast(float32, n - 1))
    idx = clamp(cast(int32, gray[x, y] * cast(float32, n - 1) * 256.0), 0, (n - 1) * 256)
    g_pyr[0][x, y, k] = beta * (gray[x, y] - level) + level + remap[idx - 256 * k]
    in_g_pyr = [gray]
    for j in range(1, J):
        g_pyr.append(_downsample(g_pyr[j - 1], sizes[j - 1], f"gPyr_{j}", (k,)))
        in_g_pyr.append(_downsample(in_g_pyr[j - 1], sizes[j - 1], f"inGPyr_{j}", ()))

    l_pyr: list[Func] = [Func("lPyr_dummy")] * J
    l_pyr[J - 1] = g_pyr[J - 1]
    for j in range(J - 2, -1, -1):
        _, up = _upsample(g_pyr[j + 1], sizes[j + 1], f"gUp_{j}", (k,))
        l_pyr[j] = Func(f"lPyr_{j}")
        l_pyr[j][x, y, k] = g_pyr[j][x, y, k] - up[x, y, k]

    out_l_pyr = []
    for j in range(J):
        position = in_g_pyr[j][x, y] * cast(float32, n - 1)
        li = clamp(cast(int32, position), 0, n - 2)
        lf = position - cast(float32, li)
        f = Func(f"outLPyr_{j}")
        f[x, y] = (1.0 - lf) * l_pyr[j][x, y, li] + lf * l_pyr[j][x, y, li + 1]
        out_l_pyr.append(f)

    out_g_pyr: list[Func] = [out_l_pyr[J - 1]] * J
    for j in range(J - 2, -1, -1):
        _, up = _upsample(out_g_pyr[j + 1], sizes[j + 1], f"outUp_{j}", ())
        out_g_pyr[j] = Func(f"outGPyr_{j}")
        out_g_pyr[j][x, y] = up[x, y] + out_l_pyr[j][x, y]

    eps = 0.01
    out = Func("local_laplacian")
    out[x, y, c] = clamp(out_g_pyr[0][x, y] * (clamped[x, y, c] + eps) / (gray[x, y] + eps), 0.0, 1.0)
    return Filter(
        "local_laplacian",
        "local Laplacian filter (8-level pyramids): detail alpha, tone beta, levels intensities; needs RGB",
        Pipeline(out, [same_box(image)], auto_schedule=True),
        image,
        (levels, alpha, beta),
    )

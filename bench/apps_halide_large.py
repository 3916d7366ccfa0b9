"""Halide versions of Saline's bilateral_grid, local_laplacian, interpolate and camera_pipe.

`APPS[name](input, params, threads)` gives the two Halide rows of the `apps` suite for filter
`name`: `manual`, the CPU schedule of Halide's own app (the non-GPU, non-autoscheduled branch of
its generator in Halide's `apps/`), and `mullapudi2016`, that autoscheduler given estimates of
this input's size and these param values. `input` is what the Saline filter takes (after its
`prepare`), `params` its param values by name. Each row's `setup()` builds the Funcs afresh,
schedules them, JIT-compiles for the host and returns `run()`, which writes into one array of
exactly the Saline output's numpy shape and dtype (C order) and returns it. Saline's scalar
Params are Halide Params passed on each call (camera_pipe's colour matrices are ImageParams, as
in Halide's app, filled in setup); the pyramid depths (8 and 10 levels) are compile-time, as in
both Halide and Saline. A mullapudi2016 plugin that does not load raises Skip
(`bench.blur_halide`'s loader).

The algorithms are Saline's (`pipelines/filters/`), stage for stage: same boundary conditions,
constants, types and LUTs, and the same float expressions written in the same order (results
still differ from Saline's by float32 rounding, below 1e-6; camera_pipe matches exactly).
Where Halide's app differs, Saline wins and the schedule keeps Halide's structure:

- bilateral_grid: colour, guided by luminance (the grid carries R, G, B and a weight: 4
  channels where Halide's carries a grey value and a weight), output (3, H, W); s_sigma is a
  runtime Param (Halide's is a GeneratorParam); the histogram is Halide's gather over each
  cell's s x s pixels, which adds the same pixels in the same order as Saline's scatter.
  Schedule: c is unrolled over 4 values, and the output's loops are y, c, x (Halide's output has
  no c) so that blury is computed once per strip of 8 rows for all channels.
- local_laplacian: float32 [0, 1] input and output (no uint16 conversions); every pyramid level
  is read with its coordinates clamped to its own size; upsampling is `0.25 f(x/2 - 1 + 2(x%2))
  + 0.75 f(x/2)`, Halide's older form (its current one is a lerp of the same taps, reading 2
  rows where this reads 3), so the output pyramid's storage is folded by 8 rows, as Halide's
  app did with this form, not by 4.
- interpolate: every level is read clamped to its size (Halide clamps once, at level 4); the
  output has 4 channels (RGB and alpha / alpha), so the output's c is bound to 4, not 3.
- camera_pipe: the output is (3, H - 24, W - 32), every row and column, where Halide's app
  bounds both sides to multiples of its vector width and strip; here they are bound to the
  output's own size, and the output's x is vectorized with Halide's default tail (ShiftInwards)
  instead of RoundUp, which would write past the last column. The other RoundUp tails stay;
  the one on pairs of output rows needs an even number of rows. Halide prints a warning that
  it drops the schedule's prefetch of the raw input (its prefetched rows are always empty);
  that is Halide's own schedule, left as published.

A manual schedule whose splits do not fit the output (fewer than 64 rows for local_laplacian,
say) raises Skip with the reason rather than fail in Halide at run time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.blur_halide import _load_plugin
from bench.workload import Candidate, Skip, optional
from pipelines.filters.camera_pipe import MARGIN_X, MARGIN_Y
from pipelines.filters.interpolate import LEVELS
from pipelines.filters.local_laplacian import PYRAMID_LEVELS

VARIANTS = ("manual", "mullapudi2016")


@dataclass
class _App:
    """One app's Funcs, built for one call: the output Func, the pipeline's arguments in call
    order with their values (numpy arrays for ImageParams, the input first), `manual`, which
    applies Halide's CPU schedule to these Funcs, and `unfit`, why that schedule cannot make
    an output of this size ("" when it can)."""

    output: Any
    arguments: list[tuple[Any, Any]]
    manual: Callable[[], None]
    unfit: str = ""


def _unfit(out_shape: tuple[int, ...], width: int, height: int, even_height: bool = False) -> str:
    """Why an output of numpy shape (..., H, W) is too small for splits of `width` x `height`
    without a tail (ShiftInwards would reach outside the output), or "" when it is not."""
    h, w = out_shape[-2:]
    if w < width or h < height or (even_height and h % 2):
        parity = ", an even number of rows" if even_height else ""
        return f"Halide's manual schedule needs an output of at least {width}x{height}{parity}; this one is {w}x{h}"
    return ""


@contextmanager
def _float32_literals() -> Iterator[None]:
    """Python float literals become float32 constants, as they do in Saline; Halide warns each
    time that rounds one (0.1, 0.299, ...), which is what both mean."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The floating-point value", category=RuntimeWarning)
        yield


def _luminance(hl: Any, clamped: Any, x: Any, y: Any, name: str = "gray") -> Any:
    gray = hl.Func(name)
    gray[x, y] = 0.299 * clamped[x, y, 0] + 0.587 * clamped[x, y, 1] + 0.114 * clamped[x, y, 2]
    return gray


def _lerp(a: Any, b: Any, t: Any) -> Any:
    """Saline's lerp, `a + (b - a) t`, written out (Halide's `lerp` lowers by its own formula)."""
    return a + (b - a) * t


# ---------------------------------------------------------------- bilateral_grid


def _bilateral_grid(hl: Any, a: np.ndarray, params: dict[str, Any]) -> _App:
    x, y, z, c = (hl.Var(n) for n in "xyzc")
    image = hl.ImageParam(hl.Float(32), 3, "input")
    s_sigma, r_sigma = hl.Param(hl.Int(32), "s_sigma"), hl.Param(hl.Float(32), "r_sigma")
    s = hl.max(s_sigma, 1)
    inv_r = 1.0 / hl.max(r_sigma, 1e-3)
    clamped = hl.BoundaryConditions.repeat_edge(image)
    gray = _luminance(hl, clamped, x, y)

    # Cell (x, y) holds pixels x s - s/2 .. x s + s/2 - 1 (likewise in y), as in Saline.
    r = hl.RDom([hl.Range(0, s), hl.Range(0, s)], "r")
    px, py = x * s + r.x - s / 2, y * s + r.y - s / 2
    level = hl.clamp(gray[px, py], 0.0, 1.0)
    bin_z = hl.clamp(hl.i32(level * inv_r + 0.5), 0, hl.i32(inv_r + 0.5))
    histogram = hl.Func("histogram")
    histogram[x, y, z, c] = hl.f32(0)
    # hl.Expr around a FuncRef: given one, hl.select takes its Tuple overload (here and below).
    histogram[x, y, bin_z, c] += hl.select(c < 3, hl.Expr(clamped[px, py, c]), 1.0)

    def blur5(f: Any, axis: int) -> Any:
        def tap(d: int) -> Any:
            at = [x, y, z, c]
            at[axis] = at[axis] + d
            return f[tuple(at)]

        return tap(-2) + 4.0 * tap(-1) + 6.0 * tap(0) + 4.0 * tap(1) + tap(2)

    blurz, blurx, blury = hl.Func("blurz"), hl.Func("blurx"), hl.Func("blury")
    blurz[x, y, z, c] = blur5(histogram, 2)
    blurx[x, y, z, c] = blur5(blurz, 0)
    blury[x, y, z, c] = blur5(blurx, 1)

    zv = hl.clamp(gray[x, y], 0.0, 1.0) * inv_r
    zi = hl.clamp(hl.i32(zv), 0, hl.i32(inv_r))
    zf = zv - hl.f32(zi)
    xi, yi = x / s, y / s
    xf, yf = hl.f32(x % s) / hl.f32(s), hl.f32(y % s) / hl.f32(s)

    def plane(k: Any) -> Any:
        top = _lerp(blury[xi, yi, k, c], blury[xi + 1, yi, k, c], xf)
        bottom = _lerp(blury[xi, yi + 1, k, c], blury[xi + 1, yi + 1, k, c], xf)
        return _lerp(top, bottom, yf)

    interpolated = hl.Func("interpolated")
    interpolated[x, y, c] = _lerp(plane(zi), plane(zi + 1), zf)
    out = hl.Func("bilateral_grid")
    out[x, y, c] = interpolated[x, y, c] / interpolated[x, y, 3]

    def manual() -> None:
        blurz.compute_at(blurx, y).reorder(c, z, x, y).vectorize(x, 8).unroll(c)
        histogram.compute_at(blurz, y)
        histogram.update().reorder(c, r.x, r.y, x, y).unroll(c)
        blurx.compute_root().reorder(c, x, z, y).parallel(y).vectorize(x, 8).unroll(c)
        blury.compute_at(out, y).store_in(hl.MemoryType.Stack).reorder(c, x, y, z).reorder_storage(
            c, z, x, y
        ).vectorize(x, 8).unroll(c)
        # The bound makes c's extent in the grid a constant 4 (c and the weight's 3), for unroll.
        out.compute_root().bound(c, 0, 3).reorder(x, c, y).parallel(y, 8).vectorize(x, 8)

    arguments = [(image, a), (s_sigma, int(params["s_sigma"])), (r_sigma, float(params["r_sigma"]))]
    return _App(out, arguments, manual, _unfit(a.shape, 8, 8))


# ---------------------------------------------------------------- local_laplacian


def _downsample(hl: Any, f: Any, size: tuple[Any, Any], name: str, at: Sequence[Any]) -> Any:
    """1 3 3 1 / 8 in x then y, reading f clamped to its `size` (w, h); `at` is (x, y, *more)."""
    (w, h), (x, y, *more) = size, at
    downx, downy = hl.Func(f"{name}_downx"), hl.Func(name)

    def fx(u: Any) -> Any:
        return f[(hl.clamp(u, 0, w - 1), y, *more)]

    def dy(v: Any) -> Any:
        return downx[(x, hl.clamp(v, 0, h - 1), *more)]

    downx[tuple(at)] = (fx(2 * x - 1) + 3.0 * (fx(2 * x) + fx(2 * x + 1)) + fx(2 * x + 2)) / 8.0
    downy[tuple(at)] = (dy(2 * y - 1) + 3.0 * (dy(2 * y) + dy(2 * y + 1)) + dy(2 * y + 2)) / 8.0
    return downy


def _upsample(hl: Any, f: Any, size: tuple[Any, Any], name: str, at: Sequence[Any]) -> Any:
    """Bilinear 2x upsampling (taps 1/4, 3/4), reading f clamped to its `size`."""
    (w, h), (x, y, *more) = size, at
    upx, upy = hl.Func(f"{name}_x"), hl.Func(name)

    def fx(u: Any) -> Any:
        return f[(hl.clamp(u, 0, w - 1), y, *more)]

    upx[tuple(at)] = 0.25 * fx(x / 2 - 1 + 2 * (x % 2)) + 0.75 * fx(x / 2)
    ya, yb = hl.clamp(y / 2 - 1 + 2 * (y % 2), 0, h - 1), hl.clamp(y / 2, 0, h - 1)
    upy[tuple(at)] = 0.25 * upx[(x, ya, *more)] + 0.75 * upx[(x, yb, *more)]
    return upy


def _local_laplacian(hl: Any, a: np.ndarray, params: dict[str, Any]) -> _App:
    x, y, c, k, i = (hl.Var(n) for n in ("x", "y", "c", "k", "i"))
    image = hl.ImageParam(hl.Float(32), 3, "input")
    levels = hl.Param(hl.Int(32), "levels")
    alpha, beta = hl.Param(hl.Float(32), "alpha"), hl.Param(hl.Float(32), "beta")
    n = hl.max(levels, 2)
    J = PYRAMID_LEVELS
    sizes = [(image.width(), image.height())]
    for _ in range(1, J):
        w, h = sizes[-1]
        sizes.append(((w + 1) / 2, (h + 1) / 2))

    remap = hl.Func("remap")
    fi = hl.f32(i) / 256.0
    remap[i] = alpha * fi * hl.exp(-fi * fi / 2.0)
    clamped = hl.BoundaryConditions.repeat_edge(image)
    gray = _luminance(hl, clamped, x, y)

    g_pyr = [hl.Func("gPyramid_0")]
    level = hl.f32(k) * (1.0 / hl.f32(n - 1))
    idx = hl.clamp(hl.i32(gray[x, y] * hl.f32(n - 1) * 256.0), 0, (n - 1) * 256)
    g_pyr[0][x, y, k] = beta * (gray[x, y] - level) + level + remap[idx - 256 * k]
    in_g_pyr = [gray]
    for j in range(1, J):
        g_pyr.append(_downsample(hl, g_pyr[j - 1], sizes[j - 1], f"gPyramid_{j}", (x, y, k)))
        in_g_pyr.append(_downsample(hl, in_g_pyr[j - 1], sizes[j - 1], f"inGPyramid_{j}", (x, y)))

    l_pyr = [g_pyr[J - 1]] * J
    for j in range(J - 2, -1, -1):
        up = _upsample(hl, g_pyr[j + 1], sizes[j + 1], f"gUp_{j}", (x, y, k))
        l_pyr[j] = hl.Func(f"lPyramid_{j}")
        l_pyr[j][x, y, k] = g_pyr[j][x, y, k] - up[x, y, k]

    out_l_pyr = []
    for j in range(J):
        position = in_g_pyr[j][x, y] * hl.f32(n - 1)
        li = hl.clamp(hl.i32(position), 0, n - 2)
        lf = position - hl.f32(li)
        f = hl.Func(f"outLPyramid_{j}")
        f[x, y] = (1.0 - lf) * l_pyr[j][x, y, li] + lf * l_pyr[j][x, y, li + 1]
        out_l_pyr.append(f)

    out_g_pyr = [hl.Func(f"outGPyramid_{j}") for j in range(J)]
    out_g_pyr[J - 1][x, y] = out_l_pyr[J - 1][x, y]
    for j in range(J - 2, -1, -1):
        up = _upsample(hl, out_g_pyr[j + 1], sizes[j + 1], f"outUp_{j}", (x, y))
        out_g_pyr[j][x, y] = up[x, y] + out_l_pyr[j][x, y]

    eps = 0.01
    out = hl.Func("local_laplacian")
    out[x, y, c] = hl.clamp(out_g_pyr[0][x, y] * (clamped[x, y, c] + eps) / (gray[x, y] + eps), 0.0, 1.0)

    def manual() -> None:
        remap.compute_root()
        yo = hl.Var("yo")
        out.reorder(c, x, y).split(y, yo, y, 64).parallel(yo).vectorize(x, 8)
        gray.compute_root().parallel(y, 32).vectorize(x, 8)
        for j in range(1, 5):
            in_g_pyr[j].compute_root().parallel(y, 32).vectorize(x, 8)
            g_pyr[j].compute_root().reorder_storage(x, k, y).reorder(k, y).parallel(y, 8).vectorize(x, 8)
            # fold 8, not 4: Halide's app folded by 8 while it had this upsampling, whose
            # footprint (5 rows at level 4 for one output row) is wider than the lerp form's.
            out_g_pyr[j].store_at(out, yo).compute_at(out, y).fold_storage(y, 8).vectorize(x, 8)
        out_g_pyr[0].compute_at(out, y).vectorize(x, 8)
        for j in range(5, J):
            in_g_pyr[j].compute_root()
            g_pyr[j].compute_root().parallel(k)
            out_g_pyr[j].compute_root()

    values = (int(params["levels"]), float(params["alpha"]), float(params["beta"]))
    arguments = [(image, a), *zip((levels, alpha, beta), values, strict=True)]
    return _App(out, arguments, manual, _unfit(a.shape, 8, 64))


# ---------------------------------------------------------------- interpolate


def _interpolate(hl: Any, a: np.ndarray, params: dict[str, Any]) -> _App:
    del params  # interpolate has none
    x, y, c = (hl.Var(n) for n in "xyc")
    image = hl.ImageParam(hl.Float(32), 3, "input")
    clamped = hl.BoundaryConditions.repeat_edge(image)
    sizes = [(image.width(), image.height())]
    for _ in range(1, LEVELS):
        w, h = sizes[-1]
        sizes.append(((w + 1) / 2, (h + 1) / 2))

    downsampled = [hl.Func(f"downsampled_{level}") for level in range(LEVELS)]
    downx = [hl.Func(f"downx_{level}") for level in range(LEVELS)]
    downsampled[0][x, y, c] = hl.select(c < 3, clamped[x, y, c] * clamped[x, y, 3], hl.Expr(clamped[x, y, 3]))
    for level in range(1, LEVELS):
        prev, (w, h) = downsampled[level - 1], sizes[level - 1]
        px = [prev[hl.clamp(2 * x + d, 0, w - 1), y, c] for d in (-1, 0, 1)]
        downx[level][x, y, c] = (px[0] + 2.0 * px[1] + px[2]) * 0.25
        dy = [downx[level][x, hl.clamp(2 * y + d, 0, h - 1), c] for d in (-1, 0, 1)]
        downsampled[level][x, y, c] = (dy[0] + 2.0 * dy[1] + dy[2]) * 0.25

    interpolated = [hl.Func(f"interpolated_{level}") for level in range(LEVELS)]
    interpolated[LEVELS - 1][x, y, c] = downsampled[LEVELS - 1][x, y, c]
    for level in range(LEVELS - 2, -1, -1):
        coarse, (w, h) = interpolated[level + 1], sizes[level + 1]
        upx, up = hl.Func(f"upsampledx_{level}"), hl.Func(f"upsampled_{level}")
        upx[x, y, c] = (coarse[hl.clamp(x / 2, 0, w - 1), y, c] + coarse[hl.clamp((x + 1) / 2, 0, w - 1), y, c]) / 2.0
        up[x, y, c] = (upx[x, hl.clamp(y / 2, 0, h - 1), c] + upx[x, hl.clamp((y + 1) / 2, 0, h - 1), c]) / 2.0
        d = downsampled[level]
        interpolated[level][x, y, c] = d[x, y, c] + (1.0 - d[x, y, 3]) * up[x, y, c]

    out = hl.Func("interpolate")
    out[x, y, c] = interpolated[0][x, y, c] / interpolated[0][x, y, 3]

    vec = hl.get_jit_target_from_environment().natural_vector_size(hl.Float(32))

    def manual() -> None:
        xo, xi, yo, yi = (hl.Var(n) for n in ("xo", "xi", "yo", "yi"))
        for level in range(1, LEVELS - 1):
            downsampled[level].compute_root().never_partition([x]).reorder(x, c, y).split(y, yo, yi, 8).parallel(
                yo
            ).vectorize(x, vec)
        # Halide's app: downsampled_0 is too costly at root, so a clone is computed per strip.
        downsampled[0].clone_in(downx[1]).store_at(downsampled[1], yo).compute_at(downsampled[1], yi).reorder(
            c, x, y
        ).unroll(c).vectorize(x, vec).never_partition([y])
        out.bound(x, 0, image.width()).bound(y, 0, image.height()).bound(c, 0, 4).never_partition([y])
        out.split(x, xo, xi, vec).split(y, yo, yi, 32).reorder(xi, c, xo, yi, yo).unroll(c).vectorize(xi).parallel(yo)
        for level in range(1, LEVELS):
            interpolated[level].store_at(out, yo).compute_at(out, yi).never_partition_all().vectorize(x, vec)

    return _App(out, [(image, a)], manual, _unfit(a.shape, vec, 32))


# ---------------------------------------------------------------- camera_pipe


def _avg(hl: Any, a: Any, b: Any) -> Any:
    """Average of two unsigned values rounding up, in the wider type (Halide's `avg`)."""
    a = a if isinstance(a, hl.Expr) else hl.Expr(a)  # a FuncRef has no type()
    wider = a.type().with_bits(a.type().bits() * 2)
    return hl.cast(a.type(), (hl.cast(wider, a) + b + 1) / 2)


def _demosaic(hl: Any, deinterleaved: Any, x: Any, y: Any, c: Any) -> tuple[Any, Any, Any]:
    """Halide's Demosaic generator: (int16 RGB `demosaiced[x, y, c]`, g_r, g_b)."""
    g_gr, r_r, b_b, g_gb = (hl.Func(n) for n in ("g_gr", "r_r", "b_b", "g_gb"))
    for k, f in enumerate((g_gr, r_r, b_b, g_gb)):
        f[x, y] = deinterleaved[x, y, k]

    def avg(p: Any, q: Any) -> Any:
        return _avg(hl, p, q)

    def func(name: str, value: Any) -> Any:
        f = hl.Func(name)
        f[x, y] = value
        return f

    # green at red and blue sites, along the direction of the smaller difference
    gv_r, gvd_r = avg(g_gb[x, y - 1], g_gb[x, y]), hl.absd(g_gb[x, y - 1], g_gb[x, y])
    gh_r, ghd_r = avg(g_gr[x + 1, y], g_gr[x, y]), hl.absd(g_gr[x + 1, y], g_gr[x, y])
    g_r = func("g_r", hl.select(ghd_r < gvd_r, gh_r, gv_r))
    gv_b, gvd_b = avg(g_gr[x, y + 1], g_gr[x, y]), hl.absd(g_gr[x, y + 1], g_gr[x, y])
    gh_b, ghd_b = avg(g_gb[x - 1, y], g_gb[x, y]), hl.absd(g_gb[x - 1, y], g_gb[x, y])
    g_b = func("g_b", hl.select(ghd_b < gvd_b, gh_b, gv_b))

    # red and blue at green sites, corrected by green's second derivative (uint16, wrapping)
    r_gr = func("r_gr", g_gr[x, y] - avg(g_r[x, y], g_r[x - 1, y]) + avg(r_r[x - 1, y], r_r[x, y]))
    b_gr = func("b_gr", g_gr[x, y] - avg(g_b[x, y], g_b[x, y - 1]) + avg(b_b[x, y], b_b[x, y - 1]))
    r_gb = func("r_gb", g_gb[x, y] - avg(g_r[x, y], g_r[x, y + 1]) + avg(r_r[x, y], r_r[x, y + 1]))
    b_gb = func("b_gb", g_gb[x, y] - avg(g_b[x, y], g_b[x + 1, y]) + avg(b_b[x, y], b_b[x + 1, y]))

    # red at blue and blue at red, along the diagonal of the smaller difference
    rp_b = g_b[x, y] - avg(g_r[x, y], g_r[x - 1, y + 1]) + avg(r_r[x, y], r_r[x - 1, y + 1])
    rpd_b = hl.absd(r_r[x, y], r_r[x - 1, y + 1])
    rn_b = g_b[x, y] - avg(g_r[x - 1, y], g_r[x, y + 1]) + avg(r_r[x - 1, y], r_r[x, y + 1])
    rnd_b = hl.absd(r_r[x - 1, y], r_r[x, y + 1])
    r_b = func("r_b", hl.select(rpd_b < rnd_b, rp_b, rn_b))
    bp_r = g_r[x, y] - avg(g_b[x, y], g_b[x + 1, y - 1]) + avg(b_b[x, y], b_b[x + 1, y - 1])
    bpd_r = hl.absd(b_b[x, y], b_b[x + 1, y - 1])
    bn_r = g_r[x, y] - avg(g_b[x + 1, y], g_b[x, y - 1]) + avg(b_b[x + 1, y], b_b[x, y - 1])
    bnd_r = hl.absd(b_b[x + 1, y], b_b[x, y - 1])
    b_r = func("b_r", hl.select(bpd_r < bnd_r, bp_r, bn_r))

    def interleave(even_even: Any, odd_even: Any, even_odd: Any, odd_odd: Any) -> Any:
        def row(even: Any, odd: Any) -> Any:
            return hl.select(x % 2 == 0, hl.Expr(even[x / 2, y / 2]), hl.Expr(odd[x / 2, y / 2]))

        return hl.select(y % 2 == 0, row(even_even, odd_even), row(even_odd, odd_odd))

    red = interleave(r_gr, r_r, r_b, r_gb)
    green = interleave(g_gr, g_r, g_b, g_gb)
    blue = interleave(b_gr, b_r, b_b, b_gb)
    demosaiced = hl.Func("demosaiced")
    demosaiced[x, y, c] = hl.cast(hl.Int(16), hl.mux(c, [red, green, blue]))
    return demosaiced, g_r, g_b


def _camera_pipe(hl: Any, a: np.ndarray, params: dict[str, Any]) -> _App:
    x, y, c = (hl.Var(n) for n in "xyc")
    raw = hl.ImageParam(hl.UInt(16), 2, "input")
    m3200, m7000 = hl.ImageParam(hl.Float(32), 2, "matrix_3200"), hl.ImageParam(hl.Float(32), 2, "matrix_7000")
    color_temp, gamma, contrast, strength = (
        hl.Param(hl.Float(32), n) for n in ("color_temp", "gamma", "contrast", "sharpen_strength")
    )
    black, white = hl.Param(hl.Int(32), "black_level"), hl.Param(hl.Int(32), "white_level")

    def shifted(u: Any, v: Any) -> Any:
        return raw[u + MARGIN_X, v + MARGIN_Y]

    denoised = hl.Func("denoised")
    hottest = hl.max(shifted(x - 2, y), shifted(x + 2, y), shifted(x, y - 2), shifted(x, y + 2))
    denoised[x, y] = hl.clamp(shifted(x, y), 0, hottest)
    deinterleaved = hl.Func("deinterleaved")
    quads = [denoised[2 * x + dx, 2 * y + dy] for dy in (0, 1) for dx in (0, 1)]
    deinterleaved[x, y, c] = hl.mux(c, [hl.Expr(q) for q in quads])
    demosaiced, g_r, g_b = _demosaic(hl, deinterleaved, x, y, c)

    # colour matrix in Q8.8 at color_temp, applied in int32
    alpha = (1.0 / color_temp - 1.0 / 3200) / (1.0 / 7000 - 1.0 / 3200)
    matrix = hl.Func("matrix")
    matrix[x, y] = hl.cast(hl.Int(16), (m3200[x, y] * alpha + m7000[x, y] * (1.0 - alpha)) * 256.0)
    ir, ig, ib = (hl.i32(demosaiced[x, y, k]) for k in range(3))
    rows = [
        hl.cast(hl.Int(16), (matrix[3, r] + matrix[0, r] * ir + matrix[1, r] * ig + matrix[2, r] * ib) / 256)
        for r in range(3)
    ]
    corrected = hl.Func("corrected")
    corrected[x, y, c] = hl.mux(c, rows)

    # tone curve: the 1024-entry uint8 LUT (FCam's)
    inv_range = 1.0 / hl.f32(white - black)
    curve_b = 2.0 - hl.pow(hl.f32(2.0), contrast / 100.0)
    curve_a = 2.0 - 2.0 * curve_b
    xf = hl.clamp(hl.f32(x - black) * inv_range, 0.0, 1.0)
    g = hl.pow(xf, 1.0 / gamma)
    contrasted = hl.select(
        g > 0.5, 1.0 - (curve_a * (1.0 - g) * (1.0 - g) + curve_b * (1.0 - g)), curve_a * g * g + curve_b * g
    )
    value = hl.u8(hl.clamp(contrasted * 255.0 + 0.5, 0.0, 255.0))
    curve = hl.Func("curve")
    curve[x] = hl.select(x <= black, hl.u8(0), hl.select(x > white, hl.u8(255), value))
    curved = hl.Func("curved")
    curved[x, y, c] = curve[hl.clamp(hl.i32(corrected[x, y, c]), 0, 1023)]

    # sharpen: unsharp mask of a 1 2 1 blur in y then x, strength in 3.5 fixed point
    strength_x32 = hl.Func("sharpen_strength_x32")
    strength_x32[()] = hl.u8_sat(strength * 32.0)

    def blur121(p: Any, q: Any, r: Any) -> Any:
        return _avg(hl, _avg(hl, p, r), q)

    unsharp_y, unsharp, out = hl.Func("unsharp_y"), hl.Func("unsharp"), hl.Func("camera_pipe")
    unsharp_y[x, y, c] = blur121(curved[x, y - 1, c], curved[x, y, c], curved[x, y + 1, c])
    unsharp[x, y, c] = blur121(unsharp_y[x - 1, y, c], unsharp_y[x, y, c], unsharp_y[x + 1, y, c])
    mask = hl.i16(curved[x, y, c]) - hl.i16(unsharp[x, y, c])
    out[x, y, c] = hl.u8_sat(curved[x, y, c] + mask * strength_x32[()] / 32)

    lanes = 2 * hl.get_jit_target_from_environment().natural_vector_size(hl.UInt(16))
    strip = 32

    def manual() -> None:
        xi, yi, yo, yii = (hl.Var(n) for n in ("xi", "yi", "yo", "yii"))
        up = hl.TailStrategy.RoundUp
        for f in (matrix, curve, strength_x32):
            f.compute_root()
        # Halide bounds x and y to multiples of its vectors and strips; here to the output's own
        # size (W - 32, H - 24): knowing the output starts at 0 is what its folds need.
        size = out.output_buffer()
        out.bound(c, 0, 3).bound(x, 0, size.width()).bound(y, 0, size.height())
        out.compute_root().reorder(c, x, y).split(y, yi, yii, 2, up).split(yi, yo, yi, strip // 2)
        out.vectorize(x, lanes).unroll(c).parallel(yo)
        denoised.compute_at(out, yi).store_at(out, yo).prefetch(raw, y, y, 2).fold_storage(y, 4)
        denoised.tile(x, y, x, y, xi, yi, lanes, 2).vectorize(xi).unroll(yi)
        deinterleaved.compute_at(out, yi).store_at(out, yo).fold_storage(y, 4).reorder(c, x, y)
        deinterleaved.vectorize(x, lanes, up).unroll(c)
        curved.compute_at(out, yi).store_at(out, yo).reorder(c, x, y).tile(x, y, x, y, xi, yi, lanes, 2, up)
        curved.vectorize(xi).unroll(yi).unroll(c)
        corrected.compute_at(curved, x).reorder(c, x, y).vectorize(x).unroll(c)
        for f in (g_r, g_b):
            f.compute_at(out, yi).store_at(out, yo).vectorize(x, lanes, up).fold_storage(y, 4)
        align = hl.LoopAlignStrategy.AlignStart
        g_b.compute_with(g_r, x, [(x, align), (y, align)])
        demosaiced.compute_at(curved, x).vectorize(x).unroll(y).reorder(c, x, y).unroll(c)

    def matrix_of(name: str) -> np.ndarray:
        return np.array([[params[f"{name}_{r}{k}"] for k in range(4)] for r in range(3)], np.float32)

    floats = [(p, float(params[p.name()])) for p in (color_temp, gamma, contrast, strength)]
    ints = [(p, int(params[p.name()])) for p in (black, white)]
    arguments = [(raw, a), (m3200, matrix_of("m3200")), (m7000, matrix_of("m7000")), *floats, *ints]
    return _App(out, arguments, manual, _unfit(_camera_shape(a.shape), lanes, strip, even_height=True))


# ---------------------------------------------------------------- rows


def _same_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape


def _camera_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (3, shape[0] - 2 * MARGIN_Y, shape[1] - 2 * MARGIN_X)


def _compile(hl: Any, app: _App, variant: str, out_shape: tuple[int, ...], threads: int) -> Any:
    """Schedule `app` by `variant` and JIT-compile it; the callable takes the arguments' values
    in order, then the output buffer."""
    pipeline = hl.Pipeline(app.output)
    target = hl.get_jit_target_from_environment()
    if variant == "manual":
        app.manual()
    else:
        _load_plugin(hl, variant)
        for argument, value in app.arguments:
            if isinstance(value, np.ndarray):
                argument.set_estimates([(0, n) for n in reversed(value.shape)])
            else:
                argument.set_estimate(value)
        app.output.set_estimates([(0, n) for n in reversed(out_shape)])
        pipeline.apply_autoscheduler(target, hl.AutoschedulerParams("Mullapudi2016", {"parallelism": str(threads)}))
    return pipeline.compile_to_callable([argument for argument, _ in app.arguments], target)


def _rows(
    build: Callable[[Any, np.ndarray, dict[str, Any]], _App],
    out_shape: Callable[[tuple[int, ...]], tuple[int, ...]],
    out_dtype: type,
) -> Callable[[np.ndarray, dict[str, float], int], list[Candidate]]:
    def rows(a: np.ndarray, params: dict[str, float], threads: int) -> list[Candidate]:
        def setup(variant: str) -> Callable[[], np.ndarray]:
            hl = optional("halide", "halide")
            shape = out_shape(a.shape)
            with _float32_literals():
                app = build(hl, np.ascontiguousarray(a), params)
                if variant == "manual" and app.unfit:
                    raise Skip(app.unfit)
                call = _compile(hl, app, variant, shape, threads)
            out = np.empty(shape, out_dtype)
            # hl.Buffer wraps each array without a copy (and holds a reference to it), axes
            # reversed: buffer dimension 0 is x.
            values = [hl.Buffer(v) if isinstance(v, np.ndarray) else v for _, v in app.arguments]
            out_buffer = hl.Buffer(out)

            def run() -> np.ndarray:
                call(*values, out_buffer)
                return out

            return run

        return [Candidate("halide", v, lambda v=v: setup(v)) for v in VARIANTS]

    return rows


APPS: dict[str, Callable[[np.ndarray, dict[str, float], int], list[Candidate]]] = {
    "bilateral_grid": _rows(_bilateral_grid, _same_shape, np.float32),
    "local_laplacian": _rows(_local_laplacian, _same_shape, np.float32),
    "interpolate": _rows(_interpolate, _same_shape, np.float32),
    "camera_pipe": _rows(_camera_pipe, _camera_shape, np.uint8),
}
"""`APPS[filter name](input, params, threads)`: the Halide rows (`manual`, `mullapudi2016`)."""

"""The small apps of the `apps` suite in Halide's own Python API (the `halide` package from PyPI).

`APPS[name](input, params, threads)` gives two Candidates, system "halide": `manual` (the
schedule below) and `mullapudi2016` (Halide's Mullapudi2016 autoscheduler, with estimates of
this input's size and these params). `input` is the array the Saline filter takes (float32
(C, H, W)), `params` the Saline filter's param values by name; each run returns an array of the
Saline output's shape and layout. Every app is the same algorithm as its Saline definition in
pipelines/filters (boundary conditions, constants, float32 operation order, sums taken in the
same order from 0); the filter's scalar Params stay Halide Params, set at call time, as in
Saline (Halide's apps/unsharp bakes sigma in at compile time instead). Differences in the last
bits remain: Halide fuses multiplies and adds (Saline compiles with -ffp-contract=off), and has
its own exp and pow; equalize_histogram's grey is `strict_float`, since it is rounded to bins.
brightness_contrast_gamma's power is Saline's `fast_pow` (within 1.5 + |y| ulp) against
Halide's `pow`, which is also computed in float32 arithmetic (its `fast_pow` is coarser): on
the bench input with gamma 2.2, at most 0.95 and 2.1 ulp from the exact power respectively.

Schedules, with `vec` the target's natural float vector width (16 with AVX-512):
- box_blur: Halide's apps/blur CPU schedule: output rows in parallel strips of 32, blur_x
  stored per strip and computed per vector of the output (a sliding window);
- unsharp_mask: Halide's apps/unsharp CPU schedule: strips of 32 rows with the channels inside,
  grey, the first blur pass and the ratio stored per strip and computed per row (the first pass
  here is the x blur, Saline's order; the app blurs in y first);
- harris: Halide's apps/harris CPU schedule: strips of 32 rows, grey, Ix and Iy stored per strip
  and computed per row, Ix computed with Iy; adapted to the 3-channel output (channels inside
  the strip, the response computed per row);
- resize_bilinear, resize_bicubic: Halide's apps/resize downsampling schedule (output tiles of
  32x8, tile rows in parallel, the first pass computed per tile row), the first pass here the x
  pass (Saline's order; the app resizes in y first when shrinking);
- ours, in the same style, where Halide has no such app: gaussian_blur (apps/unsharp's blur:
  the x pass stored per strip and computed per row, the y pass inlined), sobel (grey sliding per
  strip, the magnitude per row, channels inside the strip), median3x3 (the column sorts per
  row), equalize_histogram (the serial histogram and the tables at root, the remap in strips),
  brightness_contrast_gamma (strips), colour_matrix (strips, channels unrolled inside x).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench import blur_halide
from bench.workload import Candidate, optional
from pipelines.filters import FILTERS

STRIP = 32
VARIANTS = ("manual", "mullapudi2016")


@dataclass
class Algorithm:
    """One app's fresh Funcs: the output, the input, the scalar Params in call order with their
    values, and `manual(vec)`, which applies the manual schedule."""

    output: Any
    image: Any
    manual: Callable[[int], None]
    params: list[tuple[Any, float]] = field(default_factory=list)


def _vars(hl: Any) -> tuple[Any, Any, Any]:
    return hl.Var("x"), hl.Var("y"), hl.Var("c")


def _param(hl: Any, values: dict[str, float], name: str) -> tuple[Any, float]:
    value = float(values[name])
    return hl.Param(hl.Float(32), name, value), value


def _luminance(hl: Any, clamped: Any, x: Any, y: Any, name: str = "grey", strict: bool = False) -> Any:
    """BT.601 grey; `strict`: no fused multiply-add (Halide fuses by default, Saline never does),
    for values that are rounded to bins afterwards, where a fused result can round the other way."""
    grey = hl.Func(name)
    value = hl.f32(0.299) * clamped[x, y, 0] + hl.f32(0.587) * clamped[x, y, 1] + hl.f32(0.114) * clamped[x, y, 2]
    grey[x, y] = hl.strict_float(value) if strict else value
    return grey


def _gaussian_kernel(hl: Any, sigma: Any) -> tuple[Any, Any, Any]:
    """pipelines.filters.common.gaussian_kernel: normalised weights over [-r, r], r = ceil(3 s);
    (kernel, the RDom over [-r, r], the sum of the weights)."""
    s = hl.max(sigma, hl.f32(1e-3))
    radius = hl.cast(hl.Int(32), hl.ceil(3.0 * s))
    i = hl.Var("i")
    distance = hl.cast(hl.Float(32), i)
    weight, total, kernel = hl.Func("gauss_weight"), hl.Func("weight_sum"), hl.Func("kernel")
    weight[i] = hl.exp(-(distance * distance) / (2.0 * s * s))
    r = hl.RDom([hl.Range(-radius, 2 * radius + 1)], "r")
    total[()] = hl.f32(0.0)
    total[()] += weight[r.x]
    kernel[i] = weight[i] / total[()]
    return kernel, r, total


def _strips(hl: Any, output: Any, y: Any, x: Any, vec: int) -> tuple[Any, Any]:
    """Halide's `split(y, yo, yi, 32).parallel(yo).vectorize(x, vec)`."""
    yo, yi = hl.Var("yo"), hl.Var("yi")
    output.split(y, yo, yi, STRIP).parallel(yo).vectorize(x, vec)
    return yo, yi


# ---------------------------------------------------------------- the apps


def box_blur(hl: Any, values: dict[str, float]) -> Algorithm:
    x, y, c = _vars(hl)
    image = hl.ImageParam(hl.Float(32), 3, "input")
    clamped = hl.BoundaryConditions.repeat_edge(image)
    blur_x, blur_y = hl.Func("blur_x"), hl.Func("blur_y")
    blur_x[x, y, c] = (clamped[x - 1, y, c] + clamped[x, y, c] + clamped[x + 1, y, c]) / 3.0
    blur_y[x, y, c] = (blur_x[x, y - 1, c] + blur_x[x, y, c] + blur_x[x, y + 1, c]) / 3.0

    def manual(vec: int) -> None:
        yi = hl.Var("yi")
        blur_y.split(y, y, yi, STRIP).parallel(y).vectorize(x, vec)
        blur_x.store_at(blur_y, y).compute_at(blur_y, x).vectorize(x, vec)

    return Algorithm(blur_y, image, manual)


def gaussian_blur(hl: Any, values: dict[str, float]) -> Algorithm:
    x, y, c = _vars(hl)
    image = hl.ImageParam(hl.Float(32), 3, "input")
    sigma = _param(hl, values, "sigma")
    clamped = hl.BoundaryConditions.repeat_edge(image)
    kernel, r, total = _gaussian_kernel(hl, sigma[0])
    blur_x, blur_y = hl.Func("blur_x"), hl.Func("blur_y")
    blur_x[x, y, c] = hl.sum(clamped[x + r.x, y, c] * kernel[r.x])
    blur_y[x, y, c] = hl.sum(blur_x[x, y + r.x, c] * kernel[r.x])

    def manual(vec: int) -> None:
        total.compute_root()
        kernel.compute_root()
        yo, yi = _strips(hl, blur_y, y, x, vec)
        blur_x.store_at(blur_y, yo).compute_at(blur_y, yi).vectorize(x, vec)

    return Algorithm(blur_y, image, manual, [sigma])


def unsharp_mask(hl: Any, values: dict[str, float]) -> Algorithm:
    x, y, c = _vars(hl)
    image = hl.ImageParam(hl.Float(32), 3, "input")
    sigma, amount = _param(hl, values, "sigma"), _param(hl, values, "amount")
    grey = _luminance(hl, hl.BoundaryConditions.repeat_edge(image), x, y)
    kernel, r, total = _gaussian_kernel(hl, sigma[0])
    blur_x, blur_y = hl.Func("blur_x"), hl.Func("blur_y")
    blur_x[x, y] = hl.sum(grey[x + r.x, y] * kernel[r.x])
    blur_y[x, y] = hl.sum(blur_x[x, y + r.x] * kernel[r.x])
    sharpened, ratio, out = hl.Func("sharpened"), hl.Func("ratio"), hl.Func("unsharp")
    sharpened[x, y] = grey[x, y] + amount[0] * (grey[x, y] - blur_y[x, y])
    ratio[x, y] = sharpened[x, y] / hl.max(grey[x, y], hl.f32(1e-4))
    out[x, y, c] = hl.clamp(image[x, y, c] * ratio[x, y], 0.0, 1.0)

    def manual(vec: int) -> None:
        yo, yi = hl.Var("yo"), hl.Var("yi")
        total.compute_root()
        kernel.compute_root()
        out.split(y, yo, yi, STRIP).vectorize(x, vec).parallel(yo).reorder(x, c, yi, yo)
        for f in (grey, blur_x, ratio):
            f.compute_at(out, yi).store_at(out, yo).vectorize(x, vec)

    return Algorithm(out, image, manual, [sigma, amount])


def sobel(hl: Any, values: dict[str, float]) -> Algorithm:
    x, y, c = _vars(hl)
    image = hl.ImageParam(hl.Float(32), 3, "input")
    grey = _luminance(hl, hl.BoundaryConditions.repeat_edge(image), x, y)
    smooth_x, smooth_y, gx, gy = hl.Func("smooth_x"), hl.Func("smooth_y"), hl.Func("gx"), hl.Func("gy")
    smooth_x[x, y] = grey[x - 1, y] + 2.0 * grey[x, y] + grey[x + 1, y]
    smooth_y[x, y] = grey[x, y - 1] + 2.0 * grey[x, y] + grey[x, y + 1]
    gx[x, y] = smooth_y[x + 1, y] - smooth_y[x - 1, y]
    gy[x, y] = smooth_x[x, y + 1] - smooth_x[x, y - 1]
    magnitude, out = hl.Func("magnitude"), hl.Func("sobel")
    magnitude[x, y] = hl.sqrt(gx[x, y] * gx[x, y] + gy[x, y] * gy[x, y])
    out[x, y, c] = magnitude[x, y]

    def manual(vec: int) -> None:
        yo, yi = _strips(hl, out, y, x, vec)
        out.reorder(x, c, yi, yo)
        grey.store_at(out, yo).compute_at(out, yi).vectorize(x, vec)
        magnitude.compute_at(out, yi).vectorize(x, vec)

    return Algorithm(out, image, manual)


def brightness_contrast_gamma(hl: Any, values: dict[str, float]) -> Algorithm:
    x, y, c = _vars(hl)
    image = hl.ImageParam(hl.Float(32), 3, "input")
    params = [_param(hl, values, n) for n in ("brightness", "contrast", "gamma")]
    brightness, contrast, gamma = (p for p, _ in params)
    level, out = hl.Func("level"), hl.Func("tone")
    level[x, y, c] = hl.clamp((image[x, y, c] - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)
    exponent = 1.0 / hl.max(gamma, hl.f32(1e-3))
    out[x, y, c] = hl.select(level[x, y, c] > 0.0, hl.pow(level[x, y, c], exponent), 0.0)

    def manual(vec: int) -> None:
        _strips(hl, out, y, x, vec)

    return Algorithm(out, image, manual, params)


def _sum3x3(f: Any, x: Any, y: Any) -> Any:
    return (
        f[x - 1, y - 1] + f[x, y - 1] + f[x + 1, y - 1]
        + f[x - 1, y] + f[x, y] + f[x + 1, y]
        + f[x - 1, y + 1] + f[x, y + 1] + f[x + 1, y + 1]
    )  # fmt: skip


def harris(hl: Any, values: dict[str, float]) -> Algorithm:
    x, y, c = _vars(hl)
    image = hl.ImageParam(hl.Float(32), 3, "input")
    k = _param(hl, values, "k")
    gray = _luminance(hl, hl.BoundaryConditions.repeat_edge(image), x, y, "gray")
    third, sixth = hl.f32(1.0 / 12.0), hl.f32(2.0 / 12.0)
    funcs = {n: hl.Func(n) for n in ("Ix", "Iy", "Ixx", "Iyy", "Ixy", "Sxx", "Syy", "Sxy", "det", "trace", "response")}
    ix, iy = funcs["Ix"], funcs["Iy"]
    iy[x, y] = (
        (gray[x - 1, y + 1] - gray[x - 1, y - 1]) * third
        + (gray[x, y + 1] - gray[x, y - 1]) * sixth
        + (gray[x + 1, y + 1] - gray[x + 1, y - 1]) * third
    )
    ix[x, y] = (
        (gray[x + 1, y - 1] - gray[x - 1, y - 1]) * third
        + (gray[x + 1, y] - gray[x - 1, y]) * sixth
        + (gray[x + 1, y + 1] - gray[x - 1, y + 1]) * third
    )
    funcs["Ixx"][x, y] = ix[x, y] * ix[x, y]
    funcs["Iyy"][x, y] = iy[x, y] * iy[x, y]
    funcs["Ixy"][x, y] = ix[x, y] * iy[x, y]
    sxx, syy, sxy = funcs["Sxx"], funcs["Syy"], funcs["Sxy"]
    sxx[x, y] = _sum3x3(funcs["Ixx"], x, y)
    syy[x, y] = _sum3x3(funcs["Iyy"], x, y)
    sxy[x, y] = _sum3x3(funcs["Ixy"], x, y)
    det, trace, response = funcs["det"], funcs["trace"], funcs["response"]
    det[x, y] = sxx[x, y] * syy[x, y] - sxy[x, y] * sxy[x, y]
    trace[x, y] = sxx[x, y] + syy[x, y]
    response[x, y] = det[x, y] - k[0] * trace[x, y] * trace[x, y]
    out = hl.Func("harris")
    out[x, y, c] = response[x, y]

    def manual(vec: int) -> None:
        yi = hl.Var("yi")
        out.split(y, y, yi, STRIP).parallel(y).vectorize(x, vec).reorder(x, c, yi, y)
        response.compute_at(out, yi).vectorize(x, vec)
        for f in (gray, ix, iy):
            f.store_at(out, y).compute_at(out, yi).vectorize(x, vec)
        ix.compute_with(iy, x)

    return Algorithm(out, image, manual, [k])


def _median3(hl: Any, a: Any, b: Any, c: Any) -> Any:
    return hl.max(hl.min(a, b), hl.min(hl.max(a, b), c))


def median3x3(hl: Any, values: dict[str, float]) -> Algorithm:
    x, y, c = _vars(hl)
    image = hl.ImageParam(hl.Float(32), 3, "input")
    clamped = hl.BoundaryConditions.repeat_edge(image)
    up, mid, down = clamped[x, y - 1, c], clamped[x, y, c], clamped[x, y + 1, c]
    low, middle, high = hl.Func("col_low"), hl.Func("col_mid"), hl.Func("col_high")
    low[x, y, c] = hl.min(hl.min(up, mid), down)
    middle[x, y, c] = _median3(hl, up, mid, down)
    high[x, y, c] = hl.max(hl.max(up, mid), down)
    out = hl.Func("median")
    out[x, y, c] = _median3(
        hl,
        hl.max(hl.max(low[x - 1, y, c], low[x, y, c]), low[x + 1, y, c]),
        _median3(hl, middle[x - 1, y, c], middle[x, y, c], middle[x + 1, y, c]),
        hl.min(hl.min(high[x - 1, y, c], high[x, y, c]), high[x + 1, y, c]),
    )

    def manual(vec: int) -> None:
        _, yi = _strips(hl, out, y, x, vec)
        for f in (low, middle, high):
            f.compute_at(out, yi).vectorize(x, vec)

    return Algorithm(out, image, manual)


def equalize_histogram(hl: Any, values: dict[str, float]) -> Algorithm:
    x, y, c = _vars(hl)
    i = hl.Var("i")
    bins = 256
    image = hl.ImageParam(hl.Float(32), 3, "input")
    grey = _luminance(hl, image, x, y, strict=True)
    bin_ = hl.Func("bin")
    bin_[x, y] = hl.clamp(hl.cast(hl.Int(32), hl.round(grey[x, y] * float(bins - 1))), 0, bins - 1)
    pixels = hl.RDom([hl.Range(image.dim(0).min(), image.width()), hl.Range(image.dim(1).min(), image.height())], "p")
    hist, cdf, cdf_min, lut = hl.Func("hist"), hl.Func("cdf"), hl.Func("cdf_min"), hl.Func("lut")
    hist[i] = 0
    hist[bin_[pixels.x, pixels.y]] += 1
    b = hl.RDom([hl.Range(1, bins - 1)], "b")
    cdf[i] = hist[i]
    cdf[b.x] = cdf[b.x - 1] + hist[b.x]
    total = image.width() * image.height()
    every = hl.RDom([hl.Range(0, bins)], "e")
    cdf_min[()] = total
    cdf_min[()] = hl.min(cdf_min[()], hl.select(hist[every.x] > 0, cdf[every.x], total))
    scale = 255.0 / hl.cast(hl.Float(32), hl.max(total - cdf_min[()], 1))
    stretched = hl.clamp(hl.round(hl.cast(hl.Float(32), cdf[i] - cdf_min[()]) * scale), 0.0, 255.0)
    lut[i] = hl.select(cdf_min[()] == total, hl.cast(hl.Float(32), i), stretched) / 255.0
    out = hl.Func("equalize")
    ratio = lut[bin_[x, y]] / hl.max(grey[x, y], hl.f32(1e-4))
    out[x, y, c] = hl.clamp(image[x, y, c] * ratio, 0.0, 1.0)

    def manual(vec: int) -> None:
        for f in (hist, cdf, cdf_min, lut):
            f.compute_root()
        _strips(hl, out, y, x, vec)

    return Algorithm(out, image, manual)


def _source(hl: Any, coordinate: Any, scale: Any, size: Any) -> tuple[Any, Any]:
    inverse = 1.0 / hl.max(scale, hl.f32(1e-6))
    src = (hl.cast(hl.Float(32), coordinate) + 0.5) * inverse - 0.5
    whole = hl.floor(src)
    return hl.clamp(hl.cast(hl.Int(32), whole), -2, size + 1), src - whole


def _resize(hl: Any, values: dict[str, float], cubic: bool) -> Algorithm:
    x, y, c = _vars(hl)
    image = hl.ImageParam(hl.Float(32), 3, "input")
    scale = _param(hl, values, "scale")
    clamped = hl.BoundaryConditions.repeat_edge(image)
    sx, fx = _source(hl, x, scale[0], image.width())
    sy, fy = _source(hl, y, scale[0], image.height())
    rx, out = hl.Func("resize_x"), hl.Func("resize_bicubic" if cubic else "resize_bilinear")
    params = [scale]
    if cubic:
        a = _param(hl, values, "a")
        params.append(a)
        wx, wy = _cubic_weights(fx, a[0]), _cubic_weights(fy, a[0])
        rx[x, y, c] = (
            wx[0] * clamped[sx - 1, y, c] + wx[1] * clamped[sx, y, c]
            + wx[2] * clamped[sx + 1, y, c] + wx[3] * clamped[sx + 2, y, c]
        )  # fmt: skip
        out[x, y, c] = (
            wy[0] * rx[x, sy - 1, c] + wy[1] * rx[x, sy, c] + wy[2] * rx[x, sy + 1, c] + wy[3] * rx[x, sy + 2, c]
        )
    else:
        rx[x, y, c] = clamped[sx, y, c] * (1.0 - fx) + clamped[sx + 1, y, c] * fx
        out[x, y, c] = rx[x, sy, c] * (1.0 - fy) + rx[x, sy + 1, c] * fy

    def manual(vec: int) -> None:
        xi, yi = hl.Var("xi"), hl.Var("yi")
        out.tile(x, y, xi, yi, 32, 8).parallel(y).vectorize(xi)
        rx.compute_at(out, y).vectorize(x, vec)

    return Algorithm(out, image, manual, params)


def _cubic_weights(t: Any, a: Any) -> tuple[Any, Any, Any, Any]:
    u, v = t + 1.0, 1.0 - t
    w0 = ((a * u - 5.0 * a) * u + 8.0 * a) * u - 4.0 * a
    w1 = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    w2 = ((a + 2.0) * v - (a + 3.0)) * v * v + 1.0
    return w0, w1, w2, 1.0 - w0 - w1 - w2


def resize_bilinear(hl: Any, values: dict[str, float]) -> Algorithm:
    return _resize(hl, values, cubic=False)


def resize_bicubic(hl: Any, values: dict[str, float]) -> Algorithm:
    return _resize(hl, values, cubic=True)


def colour_matrix(hl: Any, values: dict[str, float]) -> Algorithm:
    x, y, c = _vars(hl)
    image = hl.ImageParam(hl.Float(32), 3, "input")
    m = [[_param(hl, values, f"m{r}{k}") for k in range(3)] for r in range(3)]
    offset = [_param(hl, values, f"offset{r}") for r in range(3)]
    rows = [
        m[r][0][0] * image[x, y, 0] + m[r][1][0] * image[x, y, 1] + m[r][2][0] * image[x, y, 2] + offset[r][0]
        for r in range(3)
    ]
    out = hl.Func("colour_matrix")
    out[x, y, c] = hl.select(c <= 0, rows[0], c <= 1, rows[1], rows[2])

    def manual(vec: int) -> None:
        out.bound(c, 0, 3).reorder(c, x, y)
        _strips(hl, out, y, x, vec)
        out.unroll(c)

    return Algorithm(out, image, manual, [*(p for row in m for p in row), *offset])


BUILDERS: dict[str, Callable[[Any, dict[str, float]], Algorithm]] = {
    "box_blur": box_blur,
    "gaussian_blur": gaussian_blur,
    "unsharp_mask": unsharp_mask,
    "sobel": sobel,
    "brightness_contrast_gamma": brightness_contrast_gamma,
    "harris": harris,
    "median3x3": median3x3,
    "equalize_histogram": equalize_histogram,
    "resize_bilinear": resize_bilinear,
    "resize_bicubic": resize_bicubic,
    "colour_matrix": colour_matrix,
}


# ---------------------------------------------------------------- compiling and calling


def scheduled(
    name: str, variant: str, input_shape: tuple[int, ...], values: dict[str, float], threads: int
) -> tuple[Any, Algorithm, Any]:
    """(the Halide module, the app's Algorithm with `variant`'s schedule applied, its Pipeline)."""
    hl = optional("halide", "halide")
    algorithm = BUILDERS[name](hl, values)
    target = hl.get_jit_target_from_environment()
    pipeline = hl.Pipeline(algorithm.output)
    if variant == "manual":
        algorithm.manual(target.natural_vector_size(hl.Float(32)))
        return hl, algorithm, pipeline
    blur_halide._load_plugin(hl, variant)  # shares the record of plugins already loaded
    algorithm.image.set_estimates([(0, n) for n in reversed(input_shape)])
    out_shape = FILTERS[name]().output_shape(input_shape, values)
    algorithm.output.set_estimates([(0, n) for n in reversed(out_shape)])
    for p, value in algorithm.params:
        p.set_estimate(value)
    params = hl.AutoschedulerParams(blur_halide.AUTOSCHEDULERS[variant], {"parallelism": str(threads)})
    pipeline.apply_autoscheduler(target, params)
    return hl, algorithm, pipeline


def candidate(name: str, variant: str, a: np.ndarray, values: dict[str, float], threads: int) -> Candidate:
    """The Candidate of one app and variant; its run writes into one output array and returns it."""
    out_shape = FILTERS[name]().output_shape(a.shape, values)

    def setup() -> Callable[[], Any]:
        hl, algorithm, pipeline = scheduled(name, variant, a.shape, values, threads)
        arguments = [algorithm.image, *(p for p, _ in algorithm.params)]
        call = pipeline.compile_to_callable(arguments, hl.get_jit_target_from_environment())
        out = np.empty(out_shape, np.float32)
        a_buf, out_buf = hl.Buffer(a), hl.Buffer(out)
        scalars = [value for _, value in algorithm.params]

        def run() -> np.ndarray:
            call(a_buf, *scalars, out_buf)
            return out

        return run

    return Candidate("halide", variant, setup)


def _candidates(name: str) -> Callable[[np.ndarray, dict[str, float], int], list[Candidate]]:
    def make(a: np.ndarray, params: dict[str, float], threads: int) -> list[Candidate]:
        return [candidate(name, v, a, params, threads) for v in VARIANTS]

    return make


APPS: dict[str, Callable[[np.ndarray, dict[str, float], int], list[Candidate]]] = {
    name: _candidates(name) for name in BUILDERS
}
"""APPS[name](input, params, threads) -> the app's Halide Candidates (module docstring)."""

"""Eight small pipelines that random schedules are drawn for, each with its inputs: six forward
pipelines and two backward ones (gradient pipelines made by `pipelines.autodiff.grad`).

Each builder returns a `Case`: the pipeline, the call arguments (small images with odd sizes,
37 x 29, so that split tails matter), the output shape(s), the float tolerance, and what a
schedule generator cannot read from the Funcs alone: which RVars have iterations that touch
disjoint places (only those may be parallel or vectorized). Cases are built once per process
(`case(name)`), so a pipeline keeps its identity and its compiled forms are shared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines import (
    Func,
    ImageParam,
    Param,
    Pipeline,
    RDom,
    Var,
    cast,
    clamp,
    float32,
    float64,
    int16,
    int32,
    repeat_edge,
    sum,
    uint8,
    uint16,
)
from pipelines import max as dsl_max
from pipelines.autodiff import grad

WIDTH, HEIGHT = 37, 29

x, y, c, i = Var("x"), Var("y"), Var("c"), Var("i")


@dataclass(frozen=True, eq=False)
class Case:
    """A pipeline with the arguments of one call and what a schedule generator must know."""

    name: str
    pipeline: Pipeline
    inputs: dict[str, Any]
    shape: Any  # the `shape=` of a call: one tuple, or a list for several outputs
    rtol: float = 0.0
    free_rvars: frozenset[str] = frozenset()  # RVars whose iterations are independent
    output_extents: dict[str, dict[str, int]] = field(default_factory=dict)  # output -> var -> extent
    # Funcs never inlined: inlining them everywhere makes expressions so big that lowering
    # and the C compiler take seconds (the Sobel taps of Harris, repeated in 9-tap sums)
    never_inline: frozenset[str] = frozenset()


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def pointwise_chain() -> Case:
    """Integer pointwise chain; `a` is read by two consumers (b and c)."""
    im = ImageParam(uint8, 2, "im")
    a, b, cc, out = Func("a"), Func("b"), Func("c"), Func("out")
    a[x, y] = cast(int32, im[x, y]) * 3 - 200
    b[x, y] = a[x, y] * a[x, y] % 1009 - x
    cc[x, y] = b[x, y] / 7 + a[x, y] * y
    out[x, y] = cast(int16, cc[x, y] - 100)
    data = _rng(1).integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    extents = {"out": {"x": WIDTH, "y": HEIGHT}}
    return Case("pointwise", Pipeline(out), {"im": data}, (HEIGHT, WIDTH), output_extents=extents)


def separable_blur() -> Case:
    """3-tap blur in x then y of a repeat_edge input."""
    im = ImageParam(float32, 2, "im")
    clamped = repeat_edge(im)
    blur_x, blur_y = Func("blur_x"), Func("blur_y")
    blur_x[x, y] = (clamped[x - 1, y] + clamped[x, y] + clamped[x + 1, y]) / 3.0
    blur_y[x, y] = (blur_x[x, y - 1] + blur_x[x, y] + blur_x[x, y + 1]) / 3.0
    data = _rng(2).random((HEIGHT, WIDTH), dtype=np.float32)
    extents = {"blur_y": {"x": WIDTH, "y": HEIGHT}}
    return Case("blur", Pipeline(blur_y), {"im": data}, (HEIGHT, WIDTH), 1e-5, output_extents=extents)


def unsharp() -> Case:
    """Grey of a colour image, a clamped-edge blur in x then y, sharpen, ratio, times the colour
    input: grey has three readers (its boundary Func, sharpen and ratio)."""
    image = ImageParam(float32, 3, "input")
    grey, edge, blur_x, blur_y = Func("grey"), Func("grey_edge"), Func("blur_x"), Func("blur_y")
    sharpen, ratio, out = Func("sharpen"), Func("ratio"), Func("out")
    grey[x, y] = 0.299 * image[x, y, 0] + 0.587 * image[x, y, 1] + 0.114 * image[x, y, 2]
    edge[x, y] = grey[clamp(x, 0, image.width() - 1), clamp(y, 0, image.height() - 1)]
    blur_x[x, y] = (edge[x - 1, y] + 2.0 * edge[x, y] + edge[x + 1, y]) / 4.0
    blur_y[x, y] = (blur_x[x, y - 1] + 2.0 * blur_x[x, y] + blur_x[x, y + 1]) / 4.0
    sharpen[x, y] = 2.0 * grey[x, y] - blur_y[x, y]
    ratio[x, y] = sharpen[x, y] / dsl_max(grey[x, y], 0.05)
    out[x, y, c] = ratio[x, y] * image[x, y, c]
    data = _rng(3).random((3, HEIGHT, WIDTH), dtype=np.float32)
    extents = {"out": {"x": WIDTH, "y": HEIGHT, "c": 3}}
    return Case("unsharp", Pipeline(out), {"input": data}, (3, HEIGHT, WIDTH), 1e-5, output_extents=extents)


def harris() -> Case:
    """Sobel gradients, their products, 3x3 box sums, and det - k * trace^2."""
    im = ImageParam(float32, 2, "im")
    g = repeat_edge(im)
    gx, gy = Func("gx"), Func("gy")
    gx[x, y] = (g[x + 1, y - 1] + 2.0 * g[x + 1, y] + g[x + 1, y + 1]) - (
        g[x - 1, y - 1] + 2.0 * g[x - 1, y] + g[x - 1, y + 1]
    )
    gy[x, y] = (g[x - 1, y + 1] + 2.0 * g[x, y + 1] + g[x + 1, y + 1]) - (
        g[x - 1, y - 1] + 2.0 * g[x, y - 1] + g[x + 1, y - 1]
    )
    ixx, iyy, ixy = Func("ixx"), Func("iyy"), Func("ixy")
    ixx[x, y] = gx[x, y] * gx[x, y]
    iyy[x, y] = gy[x, y] * gy[x, y]
    ixy[x, y] = gx[x, y] * gy[x, y]
    sums = []
    for name, f in (("sxx", ixx), ("syy", iyy), ("sxy", ixy)):
        s = Func(name)
        total = f[x - 1, y - 1] + f[x, y - 1] + f[x + 1, y - 1]
        total = total + f[x - 1, y] + f[x, y] + f[x + 1, y]
        s[x, y] = total + f[x - 1, y + 1] + f[x, y + 1] + f[x + 1, y + 1]
        sums.append(s)
    sxx, syy, sxy = sums
    out = Func("harris")
    det = sxx[x, y] * syy[x, y] - sxy[x, y] * sxy[x, y]
    trace = sxx[x, y] + syy[x, y]
    out[x, y] = det - 0.04 * trace * trace
    data = _rng(4).random((HEIGHT, WIDTH), dtype=np.float32)
    extents = {"harris": {"x": WIDTH, "y": HEIGHT}}
    return Case(
        "harris",
        Pipeline(out),
        {"im": data},
        (HEIGHT, WIDTH),
        1e-5,
        output_extents=extents,
        never_inline=frozenset({"gx", "gy"}),
    )


def histogram() -> Case:
    """A histogram (data-dependent writes), its cumulative scan, a rescale over an RDom whose
    iterations are independent, and per-row sums (an update with a pure var)."""
    im = ImageParam(uint8, 2, "im")
    hist, cdf, scaled, rowsum, out = Func("hist"), Func("cdf"), Func("scaled"), Func("rowsum"), Func("equalized")
    r = RDom([(0, im.width()), (0, im.height())], name="rh")
    hist[i] = 0
    hist[cast(int32, im[r.x, r.y])] += 1
    s = RDom([(1, 255)], name="rs")
    cdf[i] = hist[i]
    cdf[s.x] = cdf[s.x - 1] + cdf[s.x]  # a scan: each point reads the one before
    t = RDom([(0, 256)], name="rt")
    scaled[i] = 0
    scaled[t.x] = cdf[t.x] * 255 / cdf[255]  # t.x alone on the left: independent points
    q = RDom([(0, im.width())], name="rq")
    rowsum[y] = 0
    rowsum[y] += cast(int32, im[q.x, y])
    out[x, y] = scaled[cast(int32, im[x, y])] + rowsum[y] % 7
    data = _rng(5).integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    data[:3] //= 4  # an uneven histogram
    extents = {"equalized": {"x": WIDTH, "y": HEIGHT}}
    return Case(
        "histogram",
        Pipeline(out),
        {"im": data},
        (HEIGHT, WIDTH),
        free_rvars=frozenset({t.x.name}),
        output_extents=extents,
    )


def two_outputs() -> Case:
    """Two outputs sharing producers; the second also reads the first, and a column sum."""
    im = ImageParam(uint16, 2, "im")
    clamped = repeat_edge(im)
    base, diff, colsum = Func("base"), Func("diff"), Func("colsum")
    out1, out2 = Func("out1"), Func("out2")
    base[x, y] = cast(int32, clamped[x, y])
    diff[x, y] = base[x + 1, y] - base[x - 1, y + 1]
    r = RDom([(-1, 3)], name="rc")
    colsum[x] = 0
    colsum[x] += base[x, r.x * 5]
    out1[x, y] = diff[x, y] * 2 + base[x, y] % 13
    out2[x, y] = cast(int16, out1[x, y] / 4 - diff[x, y - 1] + colsum[x])
    data = _rng(6).integers(0, 4000, (HEIGHT, WIDTH), dtype=np.uint16)
    extents = {"out1": {"x": WIDTH, "y": HEIGHT}, "out2": {"x": WIDTH, "y": HEIGHT}}
    shape = [(HEIGHT, WIDTH), (HEIGHT, WIDTH)]
    return Case("two_outputs", Pipeline([out1, out2]), {"im": data}, shape, output_extents=extents)


def conv_backward() -> Case:
    """The gradient pipeline of sum((conv3x3(repeat_edge(im), w) - t)^2) with respect to the
    image and the 3x3 weights, plus the loss: boundary folding, partial sums of a weight
    gradient, three outputs of different ranks. Its sums carry their RVars: none is free."""
    im, w, t = ImageParam(float64, 2, "im"), ImageParam(float64, 2, "w"), ImageParam(float64, 2, "t")
    edge = repeat_edge(im)
    k = RDom([(0, 3), (0, 3)], name="rk")
    conv, loss = Func("conv"), Func("loss")
    conv[x, y] = sum(edge[x + k.x - 1, y + k.y - 1] * w[k.x, k.y])
    r = RDom([(0, im.width()), (0, im.height())], name="rl")
    diff = conv[r.x, r.y] - t[r.x, r.y]
    loss[()] = sum(diff * diff)
    rng = _rng(7)
    inputs = {"im": rng.random((HEIGHT, WIDTH)), "w": rng.random((3, 3)) - 0.5, "t": rng.random((HEIGHT, WIDTH))}
    backward = grad(loss, [im, w], with_value=True)
    d_im, d_w = backward.outputs[0].name, backward.outputs[1].name
    extents = {d_im: {"x": WIDTH, "y": HEIGHT}, d_w: {"x": 3, "y": 3}}
    shape = [(HEIGHT, WIDTH), (3, 3), ()]
    return Case("conv_backward", backward, inputs, shape, 1e-5, output_extents=extents)


def scan_backward() -> Case:
    """The gradient pipeline of a causal scan along x of a downsampled, repeat_edge input,
    scaled by a Param: an anti-causal scan (its RVar carries a dependency), a gather over
    the downsampling's preimage, and a Param gradient (a sum over the image)."""
    im, t = ImageParam(float64, 2, "im"), ImageParam(float64, 2, "t")
    gain = Param(float64, "gain", 1.0)
    edge = repeat_edge(im)
    down, scan, loss = Func("down"), Func("scan"), Func("loss")
    down[x, y] = (edge[2 * x, y] + edge[2 * x + 1, y]) * gain
    scan[x, y] = down[x, y]
    s = RDom([(1, im.width() / 2 - 1)], name="rs")
    scan[s.x, y] = 0.5 * scan[s.x - 1, y] + scan[s.x, y]
    r = RDom([(0, im.width() / 2), (0, im.height())], name="rl")
    loss[()] = sum(scan[r.x, r.y] * t[r.x, r.y])
    rng = _rng(8)
    inputs = {"im": rng.random((HEIGHT, WIDTH)), "t": rng.random((HEIGHT, WIDTH // 2)), "gain": 0.8}
    backward = grad(loss, [im, gain])
    extents = {backward.outputs[0].name: {"x": WIDTH, "y": HEIGHT}}
    return Case("scan_backward", backward, inputs, [(HEIGHT, WIDTH), ()], 1e-5, output_extents=extents)


BUILDERS: dict[str, Callable[[], Case]] = {
    "pointwise": pointwise_chain,
    "blur": separable_blur,
    "unsharp": unsharp,
    "harris": harris,
    "histogram": histogram,
    "two_outputs": two_outputs,
    "conv_backward": conv_backward,
    "scan_backward": scan_backward,
}


@functools.cache
def case(name: str) -> Case:
    """The case `name`, built once per process."""
    return BUILDERS[name]()

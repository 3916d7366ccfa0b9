"""What the standard filters share: the `Filter` record, the Vars, and small building blocks.

A `Filter` wraps a built `Pipeline` with its one input and its scalar Params. Most filters take
a float32 colour image `ImageParam(float32, 3, "input")` indexed `input[x, y, c]` (numpy
`(C, H, W)`, values in [0, 1]); the exceptions say so in `input_kind` (the camera pipe takes a
2-D uint16 Bayer mosaic, interpolate takes RGBA). `Filter.output_shape` gives the output's
shape for an input shape and params; where that is affine in the input's size, the pipeline
also carries it as a default output box (`Pipeline.boxes`), so a call may leave out `shape=`.

Func names are chosen so that loop nests read well and hand schedules can name them; within
one pipeline they are unique.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.expr import Expr, Param, Var, cast
from pipelines.func import Func, ImageParam, RDom
from pipelines.ops import ceil, exp, max
from pipelines.pipeline import Pipeline
from pipelines.types import float32, int32

x, y, c = Var("x"), Var("y"), Var("c")


@dataclass(frozen=True, eq=False)
class Filter:
    """A built pipeline with what a caller needs to run it.

    `input` is the pipeline's one ImageParam and `params` its scalar Params, in the order a
    user would tune them; each Param carries its name, type and default. `input_kind` says
    what the input is: "rgb" (float32 (3, H, W) in [0, 1]), "rgba" (float32 (4, H, W)) or
    "bayer" (uint16 (H, W) raw mosaic); `prepare`, when set, turns a float32 RGB photograph
    (3, H, W) into such an input (the camera pipe mosaics it, interpolate adds an alpha). `shape_of(input
    shape, params)` gives the output's numpy shape where it is not the input's (resize).
    """

    name: str
    description: str
    pipeline: Pipeline
    input: ImageParam
    params: tuple[Param, ...] = ()
    input_kind: str = "rgb"
    prepare: Callable[[np.ndarray], np.ndarray] | None = None
    shape_of: Callable[[tuple[int, ...], dict[str, Any]], tuple[int, ...]] | None = None

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

    def output_shape(self, input_shape: tuple[int, ...], params: dict[str, Any] | None = None) -> tuple[int, ...]:
        """The numpy shape of the output for an input of `input_shape` and these params (the
        defaults for those not given): the input's shape unless `shape_of` says otherwise."""
        if self.shape_of is None:
            return tuple(input_shape)
        return tuple(self.shape_of(tuple(input_shape), {**self.defaults(), **(params or {})}))


def colour_input(channels: int = 3) -> ImageParam:
    """The float32 `(C, H, W)` input; `channels` only documents what the filter reads."""
    del channels
    return ImageParam(float32, 3, "input")


def same_box(image: ImageParam) -> list[tuple[Expr, Expr]]:
    """The output box of a filter whose output has the input's size and origin."""
    return [(image.dim(i).min(), image.dim(i).extent()) for i in range(image.ndim)]


def luminance(clamped: Func, name: str = "grey") -> Func:
    """Luminance (ITU-R BT.601 weights) of a colour Func, as a 2-D Func."""
    g = Func(name)
    g[x, y] = 0.299 * clamped[x, y, 0] + 0.587 * clamped[x, y, 1] + 0.114 * clamped[x, y, 2]
    return g


def gaussian_kernel(sigma: Param) -> tuple[Func, RDom]:
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


def reduction(name: str, args: tuple[Var, ...], value: Expr) -> Func:
    """`name[args]` = the sum of `value` over the RDom it uses, written as an explicit update
    so that the loop nest shows `name` with its reduction loop (not an anonymous `sum` Func)."""
    f = Func(name)
    f[args] = 0.0
    f[args] += value
    return f

"""The standard filters: real pipelines used by the command line, demos, tests and benchmarks.

One module per filter family; this package gathers their builders in `FILTERS`. Each builder
returns a fresh `Filter` record around a `Pipeline` (see `pipelines.filters.common`): most take
a float32 colour image `input[x, y, c]` (numpy `(C, H, W)`, values in [0, 1]) and give an
output of the input's size; `Filter.input_kind` names the exceptions, and every pipeline has a
default output box, so a call may leave out `shape=`.

    f = FILTERS["gaussian_blur"]()
    out = interpret(f.pipeline, shape=img.shape, input=img, sigma=2.0)
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.filters.basic import box_blur, brightness_contrast_gamma, gaussian_blur, sobel, unsharp_mask
from pipelines.filters.bilateral_grid import bilateral_grid
from pipelines.filters.camera_pipe import camera_pipe
from pipelines.filters.colour import colour_matrix
from pipelines.filters.common import Filter
from pipelines.filters.equalize import equalize_histogram
from pipelines.filters.harris import harris
from pipelines.filters.interpolate import interpolate
from pipelines.filters.local_laplacian import local_laplacian
from pipelines.filters.median import median3x3
from pipelines.filters.resize import resize_bicubic, resize_bilinear

__all__ = [
    "FILTERS",
    "Filter",
    "bilateral_grid",
    "box_blur",
    "camera_pipe",
    "colour_matrix",
    "equalize_histogram",
    "brightness_contrast_gamma",
    "gaussian_blur",
    "harris",
    "interpolate",
    "local_laplacian",
    "median3x3",
    "resize_bicubic",
    "resize_bilinear",
    "sobel",
    "unsharp_mask",
]

FILTERS: dict[str, Callable[[], Filter]] = {
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
    "bilateral_grid": bilateral_grid,
    "local_laplacian": local_laplacian,
    "interpolate": interpolate,
    "camera_pipe": camera_pipe,
}
"""Builders of the standard filters by name; each call builds a fresh pipeline."""

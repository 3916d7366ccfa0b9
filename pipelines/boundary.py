"""Boundary conditions: Funcs that extend an input image to all integer coordinates.

After this module: each function returns a pure Func with the image's dimensions whose every
read of the image is clamped into the image, so bounds inference needs exactly the image and
no read goes outside it. Mirror coordinates are clamped once more at the end (a no-op on the
values) for the same reason, as Halide does.
"""

from __future__ import annotations

from typing import Any

from pipelines.expr import Const, Expr, Var
from pipelines.func import Func, ImageParam, unique_name
from pipelines.ops import clamp, select
from pipelines.types import IRTypeError


def _vars(image: ImageParam) -> tuple[Var, ...]:
    return tuple(Var(f"_{'xyzw'[i] if i < 4 else 'd' + str(i)}") for i in range(image.ndim))


def _check(image: Any, name: str) -> ImageParam:
    if not isinstance(image, ImageParam):
        raise TypeError(f"{name}: expected an ImageParam, got {type(image).__name__}")
    return image


def _edges(image: ImageParam, i: int) -> tuple[Expr, Expr, Expr]:
    lo, extent = image.dim(i).min(), image.dim(i).extent()
    return lo, extent, lo + extent - 1


def repeat_edge(image: ImageParam) -> Func:
    """Coordinates outside the image read the nearest edge pixel."""
    image = _check(image, "repeat_edge")
    args = _vars(image)
    f = Func(unique_name(f"{image.name}_repeat_edge"))
    f[args] = image[tuple(clamp(v, _edges(image, i)[0], _edges(image, i)[2]) for i, v in enumerate(args))]
    return f


def constant_exterior(image: ImageParam, value: Any) -> Func:
    """Coordinates outside the image read `value` (converted to the image's type)."""
    image = _check(image, "constant_exterior")
    args = _vars(image)
    inside: Expr | None = None
    clamped = []
    for i, v in enumerate(args):
        lo, _, hi = _edges(image, i)
        clamped.append(clamp(v, lo, hi))
        test = (v >= lo) & (v <= hi)
        inside = test if inside is None else inside & test
    f = Func(unique_name(f"{image.name}_constant_exterior"))
    if isinstance(value, Expr):
        if value.dtype != image.dtype:
            raise IRTypeError(f"constant_exterior: value has type {value.dtype}, image has {image.dtype}; cast it")
        fill: Expr = value
    else:
        fill = Const(value, image.dtype)
    read = image[tuple(clamped)]
    f[args] = read if inside is None else select(inside, read, fill)
    return f


def _mirror(image: ImageParam, name: str, interior: bool) -> Func:
    args = _vars(image)
    coords = []
    for i, v in enumerate(args):
        lo, extent, hi = _edges(image, i)
        period = 2 * extent - 2 if interior else 2 * extent
        t = (v - lo) % period
        last = (2 * extent - 2 if interior else 2 * extent - 1) - t
        coords.append(clamp(select(t < extent, t, last) + lo, lo, hi))
    f = Func(unique_name(f"{image.name}_{name}"))
    f[args] = image[tuple(coords)]
    return f


def mirror_image(image: ImageParam) -> Func:
    """Reflect, repeating the edge pixel: ... 1 0 | 0 1 2 ... n-1 | n-1 n-2 ..."""
    return _mirror(_check(image, "mirror_image"), "mirror_image", interior=False)


def mirror_interior(image: ImageParam) -> Func:
    """Reflect about the edge pixel: ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ..."""
    return _mirror(_check(image, "mirror_interior"), "mirror_interior", interior=True)

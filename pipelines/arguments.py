"""Binding the arguments of a pipeline call: the one calling convention of the interpreter and
of compiled pipelines.

In: a Pipeline and what a caller passed (`shape=` or `out=`, `origin=`, and the inputs by name).
After `bind_arguments`: every input image is a numpy array of exactly its ImageParam's dtype and
rank (never copied, any strides), every Param has a Python value of its type (given or default),
and there is one writable array per output (given or freshly allocated) with the coordinate of
its element [0, ..., 0]. Every mistake is a TypeError (wrong kind of thing) or ValueError (right
kind, wrong value) whose message names the argument, what was expected and what came.

Axis order: numpy axes are the reverse of Func arguments, so `f[x, y]` is `a[y, x]` and
`f[x, y, c]` is `a[c, y, x]`. `shape` is in numpy order; `origin` is in Func argument order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from pipelines.evaluate import Frame, Plan
from pipelines.expr import Expr, Param
from pipelines.func import Func
from pipelines.types import DType, int32

Scalar = int | float | bool


@dataclass
class BoundArguments:
    """What a call is run with (see the module docstring)."""

    images: dict[str, np.ndarray]
    params: dict[str, Scalar]
    outputs: list[np.ndarray]
    origins: list[tuple[int, ...]]


def bind_arguments(
    pipeline: Any,
    shape: Any = None,
    out: Any = None,
    origin: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    who: str = "interpret",
) -> BoundArguments:
    """Check and convert the arguments of a call to `pipeline` (messages start with `who`).

    bound = bind_arguments(p, shape=(480, 640), kwargs={"input": a, "gain": 2})
    bound.outputs[0].shape  # (480, 640), a fresh array of the output's dtype
    """
    given = dict(kwargs or {})
    accepted = pipeline.inputs
    unknown = [name for name in given if name not in accepted]
    if unknown:
        expected = ", ".join(accepted) or "no inputs"
        raise TypeError(f"{who}: unexpected argument {unknown[0]!r}; this pipeline takes {expected}")
    images = {im.name: _bind_image(im, given, who) for im in pipeline.images}
    params = {p.name: _bind_param(p, given, who) for p in pipeline.params}
    boxes = _default_boxes(pipeline, images, params, who)
    if shape is None and out is None and boxes is not None:
        shapes = [tuple(extent for _, extent in reversed(box)) for box in boxes]
        shape = shapes if len(shapes) > 1 else shapes[0]
    if origin is None and boxes is not None:
        origins_given = [tuple(lo for lo, _ in box) for box in boxes]
        origin = origins_given if len(origins_given) > 1 else origins_given[0]
    outputs = _bind_outputs(pipeline.outputs, shape, out, who)
    origins = _bind_origins(pipeline.outputs, origin, who)
    for func, array, corner in zip(pipeline.outputs, outputs, origins):
        _check_coordinates(func, array.shape, corner, who)
    return BoundArguments(images, params, outputs, origins)


def results(bound: BoundArguments, pipeline: Any) -> np.ndarray | tuple[np.ndarray, ...]:
    """The output arrays as a call returns them: one array, or a tuple for several outputs."""
    if len(pipeline.outputs) == 1:
        return bound.outputs[0]
    return tuple(bound.outputs)


# ---------------------------------------------------------------- inputs


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.ndim}-d {value.dtype} array of shape {value.shape}"
    return f"{type(value).__name__} {value!r}" if isinstance(value, (int, float, str)) else type(value).__name__


def _bind_image(image: Any, given: dict[str, Any], who: str) -> np.ndarray:
    want = f"a {image.ndim}-d {image.dtype} array"
    if image.name not in given:
        raise TypeError(f"{who}: missing input image {image.name!r} ({want})")
    value = given[image.name]
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{who}: input image {image.name!r}: expected {want}, got {_describe(value)}")
    if value.dtype != image.dtype.numpy:
        raise TypeError(f"{who}: input image {image.name!r}: expected {image.dtype} array, got {value.dtype}")
    if value.ndim != image.ndim:
        raise ValueError(
            f"{who}: input image {image.name!r}: expected {want}, got a {value.ndim}-d array of shape {value.shape}"
        )
    return value


def _scalar(value: Any, what: str, who: str) -> Any:
    """A Python bool, int or float from a Python or numpy scalar or a 0-d array."""
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise TypeError(f"{who}: {what}: expected a scalar, got {_describe(value)}")
        value = value[()]
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (bool, int, float)):
        raise TypeError(f"{who}: {what}: expected a number, got {_describe(value)}")
    return value


def _bind_param(param: Param, given: dict[str, Any], who: str) -> Scalar:
    dtype: DType = param.dtype
    if param.name not in given:
        if param.default is None:
            raise TypeError(f"{who}: missing {_param_text(param)}; it has no default")
        return param.default
    raw = given[param.name]
    if type(raw) is float and dtype.is_float:  # the common case, checked without the messages
        return _float_value(raw, dtype, param, who)
    what = _param_text(param)
    value = _scalar(raw, what, who)
    if dtype.is_bool:
        if not isinstance(value, bool):
            raise TypeError(f"{who}: {what}: expected a bool, got {_describe(value)}")
        return value
    if isinstance(value, bool):
        raise TypeError(f"{who}: {what}: expected a number, got bool {value!r}")
    if dtype.is_int:
        if isinstance(value, float) and not value.is_integer():
            raise TypeError(f"{who}: {what}: expected an integer, got float {value!r}")
        number = int(value)
        if not dtype.can_represent(number):
            raise ValueError(
                f"{who}: {what}: {number} is out of range; expected [{dtype.min_value}, {dtype.max_value}]"
            )
        return number
    return _float_value(value, dtype, param, who)


def _param_text(param: Param) -> str:
    return f"param {param.name!r} ({param.dtype})"


FLOAT32_EXACT_MAX = float(np.finfo(np.float32).max)
"""Largest float32: a Python float up to it in magnitude converts to float32 without overflow."""


def _float_value(value: int | float, dtype: DType, param: Param, who: str) -> float:
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if dtype.bits == 64 or abs(number) <= FLOAT32_EXACT_MAX:
        rounded = float(dtype.numpy.type(number))  # cannot overflow: no need to silence numpy
    else:
        with np.errstate(all="ignore"):
            rounded = float(dtype.numpy.type(number))
    if math.isinf(rounded) and not (isinstance(value, float) and math.isinf(value)):
        raise ValueError(
            f"{who}: {_param_text(param)}: {value!r} is out of range; expected a magnitude up to "
            f"{dtype.max_value:g} (or inf)"
        )
    return rounded


# ---------------------------------------------------------------- outputs


def _per_output(value: Any, count: int, name: str, who: str) -> list[Any]:
    """`value` for one output, or a list/tuple with one entry per output."""
    if count == 1:
        return [value]
    if not isinstance(value, (list, tuple)) or len(value) != count:
        got = f"{type(value).__name__} of length {len(value)}" if isinstance(value, (list, tuple)) else _describe(value)
        raise TypeError(f"{who}: {name}: expected a list of {count} entries, one per output, got {got}")
    return list(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_tuple(value: Any, what: str, who: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
        raise TypeError(f"{who}: {what}: expected a tuple of ints, got {_describe(value)}")
    return tuple(int(v) for v in value)


@dataclass
class _Inputs:
    """The bound inputs as the evaluator's context: box expressions read no Func."""

    who: str
    images: dict[str, np.ndarray]
    params: dict[str, Scalar]

    def read_func(self, func: Any, coords: tuple[np.ndarray, ...]) -> np.ndarray:
        raise ValueError(f"{self.who}: an output box may not read Func {func.name!r}")


def _default_boxes(
    pipeline: Any, images: dict[str, np.ndarray], params: dict[str, Scalar], who: str
) -> list[tuple[tuple[int, int], ...]] | None:
    """The outputs' (min, extent) boxes from the pipeline's box expressions, or None."""
    boxes = getattr(pipeline, "boxes", None)
    if not boxes or any(b is None for b in boxes):
        return None
    frame = Frame(_Inputs(who, images, params), {})
    found = []
    for f, box in zip(pipeline.outputs, boxes):
        values = _box_plan(tuple(e for pair in box for e in pair)).run(frame)
        ints = [int(v) for v in values]
        found.append(tuple((ints[2 * i], max(ints[2 * i + 1], 0)) for i in range(f.ndim)))
    return found


@lru_cache(maxsize=256)
def _box_plan(exprs: tuple[Expr, ...]) -> Plan:
    """The box expressions flattened once: a call of a compiled pipeline spent a fifth of its
    Python time (10 of 52 us) building this plan again."""
    return Plan(exprs)


def _bind_outputs(funcs: Sequence[Func], shape: Any, out: Any, who: str) -> list[np.ndarray]:
    if shape is None and out is None:
        raise TypeError(f"{who}: expected shape= (numpy order) or out= (arrays to write into), got neither")
    count = len(funcs)
    shapes = _per_output(shape, count, "shape", who) if shape is not None else [None] * count
    outs = _per_output(out, count, "out", who) if out is not None else [None] * count
    arrays = []
    for i, (func, want_shape, array) in enumerate(zip(funcs, shapes, outs)):
        label = f"output {func.name!r}" if count == 1 else f"output {i} ({func.name!r})"
        if want_shape is not None:
            want_shape = _int_tuple(want_shape, f"shape of {label}", who)
            if len(want_shape) != func.ndim:
                raise ValueError(
                    f"{who}: shape of {label}: expected {func.ndim} dimensions, got {len(want_shape)}: {want_shape}"
                )
            if any(n < 0 for n in want_shape):
                raise ValueError(f"{who}: shape of {label}: expected sizes >= 0, got {want_shape}")
        if array is None:
            if want_shape is None:
                raise TypeError(f"{who}: out of {label} is None and no shape is given for it")
            array = aligned_empty(want_shape, func.dtype.numpy)
        else:
            _check_out(array, func, label, who)
            if want_shape is not None and array.shape != want_shape:
                raise ValueError(
                    f"{who}: out of {label} has shape {array.shape}, but shape= says {want_shape}; "
                    "give one of them, or make them agree"
                )
        arrays.append(array)
    return arrays


ALIGNMENT = 64
"""Bytes to which the outputs a call allocates are aligned: a cache line, and the width of an
AVX-512 register, so that full-vector stores of a row that starts on it stay within one line."""


def aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialized C-contiguous array whose first element is ALIGNMENT-aligned (numpy's own
    allocations are 16-byte aligned: a vector store then straddles two cache lines every time)."""
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    raw = np.empty(size + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + size].view(dtype).reshape(shape)


def _check_out(array: Any, func: Func, label: str, who: str) -> None:
    want = f"a writable {func.ndim}-d {func.dtype} array"
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{who}: out of {label}: expected {want}, got {_describe(array)}")
    if array.dtype != func.dtype.numpy:
        raise TypeError(f"{who}: out of {label}: expected {func.dtype} array, got {array.dtype}")
    if array.ndim != func.ndim:
        raise ValueError(f"{who}: out of {label}: expected {want}, got a {array.ndim}-d array of shape {array.shape}")
    if not array.flags.writeable:
        raise ValueError(f"{who}: out of {label}: expected {want}, got a read-only array")


def _bind_origins(funcs: Sequence[Func], origin: Any, who: str) -> list[tuple[int, ...]]:
    if origin is None:
        return [(0,) * f.ndim for f in funcs]
    corners = []
    for i, (func, corner) in enumerate(zip(funcs, _per_output(origin, len(funcs), "origin", who))):
        label = f"origin of output {func.name!r}" if len(funcs) == 1 else f"origin of output {i} ({func.name!r})"
        corner = _int_tuple(corner, f"{label} (Func argument order, x first)", who)
        if len(corner) != func.ndim:
            raise ValueError(f"{who}: {label}: expected {func.ndim} coordinates (x first), got {len(corner)}: {corner}")
        corners.append(corner)
    return corners


def _check_coordinates(func: Func, shape: tuple[int, ...], corner: tuple[int, ...], who: str) -> None:
    """Every coordinate of the output box must be an int32, as coordinates are."""
    for dim, (lo, extent) in enumerate(zip(corner, reversed(shape))):
        hi = lo + max(extent, 1) - 1
        if not (int32.min_value <= lo and hi <= int32.max_value):
            raise ValueError(
                f"{who}: output {func.name!r}: dimension {dim} spans [{lo}, {hi}], beyond the int32 coordinate range"
            )

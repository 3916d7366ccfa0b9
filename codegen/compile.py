"""`compile`: a pipeline and a schedule become a native callable over numpy arrays.

After `compile(pipeline)`: the returned `CompiledPipeline` holds the lowered loop nest, the C
source and the loaded library (built once per process, cached on disk across processes). A call
binds its arguments exactly as the interpreter does (same names, same errors), describes each
array to C by pointer, origin, extents and strides (no copy, any layout), releases the GIL for
the duration of the native call, and turns a non-zero return code into a Python exception
naming the input, output or allocation at fault. Nothing is read or written before every
region check has passed. A pipeline with parallel loops runs them on Saline's thread pool
(codegen.runtime), which is loaded with the first such pipeline.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from codegen.build import GATHERS_ALLOWED, load_library
from codegen.c_emit import CDEF, emit_c
from codegen.runtime import attach_pool
from pipelines.arguments import BoundArguments, bind_arguments, results
from pipelines.mutator import walk
from pipelines.pipeline import Pipeline
from scheduler.infer_bounds import (
    ALLOCATION_TOO_LARGE,
    INDEX_OVERFLOW,
    INPUT_TOO_SMALL,
    OUT_OF_MEMORY,
    OUTSIDE_BOUND,
    READ_OUTSIDE_OUTPUT,
    WRITE_OUTSIDE_OUTPUT,
)
from scheduler.loopir import For, loop_nest_str
from scheduler.lower import lower
from scheduler.schedule import Schedule

MAX_DIMS = 8


def default_threads() -> int:
    """SALINE_NUM_THREADS if set, else every core this process may run on."""
    env = os.environ.get("SALINE_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"SALINE_NUM_THREADS must be a positive integer, got {env!r}") from None
        if n > 0:
            return n
        raise ValueError(f"SALINE_NUM_THREADS must be a positive integer, got {env!r}")
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class CompiledPipeline:
    """A pipeline compiled to native code; call it like `interpret`.

    blur = saline.compile(saline.Pipeline(blur_y))
    out = blur(shape=(H - 2, W - 2), input=image)
    """

    def __init__(self, pipeline: Pipeline, schedule: Schedule | None = None, threads: int | None = None):
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"compile: expected a Pipeline, got {type(pipeline).__name__}")
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"compile: schedule must be a saline.Schedule or None, got {type(schedule).__name__}")
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise ValueError(f"compile: threads must be a positive int or None, got {threads!r}")
        for f in pipeline.outputs:
            if f.ndim > MAX_DIMS:
                raise ValueError(f"compile: output {f.name!r} has {f.ndim} dimensions; at most {MAX_DIMS}")
        self.pipeline = pipeline
        self.schedule = schedule
        self.threads = threads
        self.lowered = lower(pipeline, schedule)
        stmt = self.lowered.stmt()
        self.loop_nest: str = loop_nest_str(stmt)
        self.c_source: str = emit_c(self.lowered)
        gathers = (GATHERS_ALLOWED,) if schedule is not None and schedule.gathers else ()
        self._ffi, self._lib = load_library(self.c_source, CDEF, name_hint="pipeline", extra_flags=gathers)
        if any(isinstance(n, For) and n.kind == "parallel" for n in walk(stmt)):
            attach_pool(self._ffi, self._lib)  # only then: a serial pipeline needs no threads

    # ---------------------------------------------------------------- calling

    def __call__(self, shape: Any = None, out: Any = None, origin: Any = None, **inputs_and_params: Any) -> Any:
        bound = bind_arguments(self.pipeline, shape, out, origin, inputs_and_params, who="compiled pipeline")
        if all(a.size == 0 for a in bound.outputs):
            return results(bound, self.pipeline)
        self._run(bound, query=None)
        return results(bound, self.pipeline)

    def required_regions(self, shape: Any = None, out: Any = None, origin: Any = None, **inputs: Any) -> dict:
        """The region of each input needed for these outputs: {name: ((min, extent), ...)} in numpy
        axis order (axis 0 first), before any memory is read."""
        bound = bind_arguments(self.pipeline, shape, out, origin, inputs, who="required_regions")
        count = sum(i.ndim for i in self.pipeline.images)
        query = self._ffi.new("int64_t[]", max(2 * count, 1))
        self._run(bound, query=query)
        regions, k = {}, 0
        for image in self.pipeline.images:
            dims = []
            for _ in range(image.ndim):
                lo, hi = query[k], query[k + 1]
                dims.append((int(lo), max(int(hi) - int(lo) + 1, 0)))
                k += 2
            regions[image.name] = tuple(reversed(dims))
        return regions

    def _run(self, bound: BoundArguments, query: Any) -> None:
        ffi = self._ffi
        arrays = [bound.images[i.name] for i in self.pipeline.images] + list(bound.outputs)
        origins = [(0,) * a.ndim for a in arrays[: len(self.pipeline.images)]] + list(bound.origins)
        names = [i.name for i in self.pipeline.images] + [f.name for f in self.pipeline.outputs]
        _check_no_overlap(arrays[: len(self.pipeline.images)], list(bound.outputs), names)
        bufs = ffi.new("saline_buffer_t[]", max(len(arrays), 1))
        for k, (a, org, name) in enumerate(zip(arrays, origins, names, strict=True)):
            _describe(ffi, bufs[k], a, org, name)
        params = [float(bound.params[p.name]) for p in self.pipeline.params]
        param_buf = ffi.new("double[]", params or [0.0])
        error = ffi.new("int64_t[8]")
        threads = self.threads or default_threads()
        rc = self._lib.saline_run(bufs, param_buf, threads, query if query is not None else ffi.NULL, error)
        del arrays  # kept alive until the call returned
        if rc != 0:
            raise self._error(rc, [int(error[i]) for i in range(8)])

    def _error(self, rc: int, info: list[int]) -> Exception:
        images, outputs = self.pipeline.images, self.pipeline.outputs
        if rc == INPUT_TOO_SMALL:
            image = images[info[0]]
            axis = image.ndim - 1 - info[1]
            return ValueError(
                f"input {image.name!r} is too small: axis {axis} must cover [{info[2]}, {info[3]}] "
                f"but the array covers [{info[4]}, {info[5]}]"
            )
        if rc in (WRITE_OUTSIDE_OUTPUT, READ_OUTSIDE_OUTPUT):
            func = outputs[info[0]]
            axis = func.ndim - 1 - info[1]
            what = "written" if rc == WRITE_OUTSIDE_OUTPUT else "read"
            stage = "a pure definition" if info[6] == 0 else f"update {info[6] - 1}"
            return ValueError(
                f"output {func.name!r} is too small: {stage} accesses it ({what}) at [{info[2]}, {info[3]}] on "
                f"axis {axis}, but the array covers [{info[4]}, {info[5]}]; pass a larger shape or another origin"
            )
        if rc == INDEX_OVERFLOW:
            return ValueError(f"index arithmetic would overflow int32 for these sizes (range [{info[0]}, {info[1]}])")
        if rc == OUTSIDE_BOUND:
            return ValueError(
                f"a schedule bound does not hold: dimension {info[0]} is needed over [{info[1]}, {info[2]}] "
                f"but bounded to [{info[3]}, {info[4]}]"
            )
        if rc == OUT_OF_MEMORY:
            return MemoryError(f"could not allocate {info[0]} elements for an intermediate Func")
        if rc == ALLOCATION_TOO_LARGE:
            return MemoryError("an intermediate Func would need more memory than can be addressed")
        return RuntimeError(f"compiled pipeline failed with code {rc}")

    def __repr__(self) -> str:
        return f"CompiledPipeline({', '.join(f.name for f in self.pipeline.outputs)})"


def _check_no_overlap(inputs: list[np.ndarray], outputs: list[np.ndarray], names: list[str]) -> None:
    """Outputs must not share memory with inputs or with each other: the generated code reads
    inputs while it writes outputs (and declares them `restrict`)."""
    for k, o in enumerate(outputs):
        if o.size == 0:
            continue
        others = [(names[i], a) for i, a in enumerate(inputs)] + [
            (names[len(inputs) + j], b) for j, b in enumerate(outputs) if j != k
        ]
        for name, a in others:
            if a.size and np.may_share_memory(o, a):
                raise ValueError(
                    f"output {names[len(inputs) + k]!r} shares memory with {name!r}; pass a separate output array"
                )


def _describe(ffi: Any, buf: Any, a: np.ndarray, origin: tuple[int, ...], name: str) -> None:
    """Fill a saline_buffer_t for array `a` (numpy axes reversed into Func dimensions)."""
    item = a.itemsize
    if a.ndim > MAX_DIMS:
        raise ValueError(f"{name}: arrays of at most {MAX_DIMS} dimensions are supported, got {a.ndim}")
    if a.ctypes.data % item:
        raise ValueError(f"{name}: the array's data is not aligned to its {item}-byte elements")
    buf.host = ffi.cast("void *", a.ctypes.data)
    buf.dims = a.ndim
    buf.elem_size = item
    for d in range(a.ndim):
        axis = a.ndim - 1 - d
        if a.strides[axis] % item:
            raise ValueError(f"{name}: stride {a.strides[axis]} of axis {axis} is not a multiple of {item} bytes")
        if a.shape[axis] > 2**31 - 1:
            raise ValueError(f"{name}: axis {axis} has {a.shape[axis]} elements; at most 2**31 - 1 are supported")
        buf.min[d] = origin[d]
        buf.extent[d] = a.shape[axis]
        buf.stride[d] = a.strides[axis] // item


def compile(pipeline: Pipeline, schedule: Schedule | None = None, threads: int | None = None) -> CompiledPipeline:
    """Compile `pipeline` under `schedule` (None: the default schedule) to a native callable.

    `threads` fixes the thread count of parallel loops (default: SALINE_NUM_THREADS, else all cores).
    """
    return CompiledPipeline(pipeline, schedule, threads)

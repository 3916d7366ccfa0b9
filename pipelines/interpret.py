"""The numpy reference interpreter: what a pipeline means, with no schedule.

`interpret(pipeline, shape=..., **inputs)` binds the arguments (`pipelines.arguments`), then
computes each output over its box (origin and shape) and writes it into the output arrays.
Funcs are computed lazily: a read of a Func at coordinate arrays computes the Func over the
bounding box of those coordinates (united with what was computed before, if that does not
cover it) and gathers from it. Expressions follow `pipelines.evaluate.NUMPY_RULES`; update
definitions follow `pipelines.updates`. It may be slow; every compiled result is checked
against it, so it must be right.

Internally a Func's values are held in Func argument order (`buf[x - x0, y - y0]`); output
arrays are in numpy order (`out[y, x]`), so results are transposed when written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.arguments import BoundArguments, bind_arguments, results
from pipelines.evaluate import Frame, evaluate_many
from pipelines.expr import Call, Expr
from pipelines.func import Func
from pipelines.mutator import walk
from pipelines.pipeline import Pipeline
from pipelines.updates import apply_update, update_box

Box = tuple[tuple[int, ...], tuple[int, ...]]  # (lo, hi), both inclusive, Func argument order


def interpret(
    pipeline: Pipeline | Func | Sequence[Func],
    shape: Any = None,
    out: Any = None,
    origin: Any = None,
    **inputs_and_params: Any,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Evaluate `pipeline` with numpy and return its output array (a tuple for several outputs).

        x, y = Var("x"), Var("y")
        im = ImageParam(float32, 2, "im")
        f = Func("f"); f[x, y] = im[x, y] * 2
        interpret(Pipeline(f), shape=a.shape, im=a)        # == a * 2

    `shape` is in numpy order (`(height, width)`), `origin` in Func argument order (x first)
    and gives the coordinate of element [0, ..., 0]; `out=` writes into existing arrays.
    """
    if not isinstance(pipeline, Pipeline):
        pipeline = Pipeline(pipeline)
    bound = bind_arguments(pipeline, shape, out, origin, inputs_and_params, who="interpret")
    run(pipeline, bound, who="interpret")
    return results(bound, pipeline)


def run(pipeline: Pipeline, bound: BoundArguments, who: str = "interpret") -> None:
    """Compute every output of `pipeline` into `bound.outputs` (all first, then all written,
    so an output array that aliases an input does not change what later outputs read)."""
    interpreter = Interpreter(bound, who)
    values: list[np.ndarray | None] = []
    for func, array, corner in zip(pipeline.outputs, bound.outputs, bound.origins):
        if array.size == 0:
            values.append(None)
            continue
        hi = tuple(lo + n - 1 for lo, n in zip(corner, reversed(array.shape)))
        realization = interpreter.request(func, corner, hi, output=True)
        values.append(realization.view(corner, hi))
    for func, array, corner in zip(pipeline.outputs, bound.outputs, bound.origins):
        if array.size:
            _check_output_reads(interpreter.cache[func], corner, array.shape, who)
    for array, value in zip(bound.outputs, values):
        if value is not None:
            array[...] = value.transpose()


def _check_output_reads(realized: Realization, corner: Sequence[int], shape: tuple[int, ...], who: str) -> None:
    """An output Func is computed into its output array, so no stage may read it outside
    that array (the compiled code cannot either)."""
    for dim, (lo, n, m, top) in enumerate(zip(corner, reversed(shape), realized.mins, realized.maxs)):
        if m < lo or top > lo + n - 1:
            raise ValueError(
                f"{who}: output Func {realized.func.name!r} is read at dimension {dim} coordinates [{m}, {top}], "
                f"but its output covers only [{lo}, {lo + n - 1}]; pass a larger shape or origin for it"
            )


@dataclass
class Realization:
    """A Func's values over a box: `buf[i, j]` is the Func at `(mins[0] + i, mins[1] + j)`."""

    func: Func
    mins: tuple[int, ...]
    buf: np.ndarray

    @property
    def maxs(self) -> tuple[int, ...]:
        return tuple(m + n - 1 for m, n in zip(self.mins, self.buf.shape))

    def covers(self, lo: Sequence[int], hi: Sequence[int]) -> bool:
        return all(m <= a and b <= n for m, n, a, b in zip(self.mins, self.maxs, lo, hi))

    def view(self, lo: Sequence[int], hi: Sequence[int]) -> np.ndarray:
        return self.buf[tuple(slice(a - m, b - m + 1) for m, a, b in zip(self.mins, lo, hi))]

    def gather(self, coords: tuple[np.ndarray, ...], who: str) -> np.ndarray:
        """The values at `coords` (broadcast together); a coordinate outside is an error."""
        shape = np.broadcast_shapes(*(c.shape for c in coords))
        if 0 in shape:
            return np.empty(shape, self.buf.dtype)
        for dim, (c, m, n) in enumerate(zip(coords, self.mins, self.maxs)):
            lo, hi = int(c.min()), int(c.max())
            if lo < m or hi > n:
                raise ValueError(
                    f"{who}: Func {self.func.name!r} is read at dimension {dim} coordinates [{lo}, {hi}], "
                    f"outside the region [{m}, {n}] it is computed over (an update reading its own Func "
                    "must stay inside the region its definitions cover)"
                )
        return np.asarray(self.buf[tuple(c.astype(np.intp) - m for c, m in zip(coords, self.mins))])


class Interpreter:
    """Bound inputs, the Funcs computed so far, and the Funcs whose updates are running."""

    def __init__(self, bound: BoundArguments, who: str):
        self.who = who
        self.images = bound.images
        self.params = bound.params
        self.cache: dict[Func, Realization] = {}
        self.active: dict[Func, Realization] = {}

    # -- the evaluate.Context protocol
    def read_func(self, func: Func, coords: tuple[np.ndarray, ...]) -> np.ndarray:
        """Values of `func` at coordinate arrays (Func argument order), computing it if needed."""
        running = self.active.get(func)
        if running is not None:  # an update reading its own Func sees the current values
            return running.gather(coords, self.who)
        shape = np.broadcast_shapes(*(c.shape for c in coords))
        if 0 in shape:
            return np.empty(shape, func.dtype.numpy)
        lo = tuple(int(c.min()) for c in coords)
        hi = tuple(int(c.max()) for c in coords)
        return self.request(func, lo, hi).gather(coords, self.who)

    # -- computing Funcs
    def request(self, func: Func, lo: Sequence[int], hi: Sequence[int], output: bool = False) -> Realization:
        """`func` computed over a box that covers [lo, hi] (cached; recomputed over the union
        with the cached box when that does not cover it). For an output (`output=True`), an
        update writing outside [lo, hi] is an error, as the compiled code cannot do it."""
        lo, hi = tuple(lo), tuple(hi)
        cached = self.cache.get(func)
        if cached is not None and cached.covers(lo, hi):
            if output and func.has_updates():
                update_box(self, func, lo, hi, strict=True)
            return cached
        if output and func.has_updates():
            update_box(self, func, lo, hi, strict=True)
        if cached is not None:
            lo = tuple(map(min, lo, cached.mins))
            hi = tuple(map(max, hi, cached.maxs))
        realization = self.realize(func, lo, hi)
        self.cache[func] = realization
        return realization

    def realize(self, func: Func, lo: tuple[int, ...], hi: tuple[int, ...]) -> Realization:
        """Compute `func` over [lo, hi] grown by every point its updates write."""
        if func.has_updates():
            lo, hi = update_box(self, func, lo, hi, strict=False)
        extents = tuple(b - a + 1 for a, b in zip(lo, hi))
        buf = np.empty(extents, func.dtype.numpy)
        if buf.size == 0:
            return Realization(func, lo, buf)
        pure = func.definitions[0]
        axes = {
            v.name: coordinate_axis(a, n, i, len(extents)) for i, (v, a, n) in enumerate(zip(pure.args, lo, extents))
        }
        frame = Frame(self, axes)
        self.prefetch([pure.value], [frame], only_repeated=True)
        buf[...] = evaluate_many([pure.value], frame)[0]
        for stage, definition in enumerate(func.updates):
            apply_update(self, func, stage, definition, lo, buf)
        return Realization(func, lo, buf)

    def prefetch(self, exprs: Sequence[Expr], frames: Iterable[Frame], only_repeated: bool = False) -> None:
        """Compute each Func that `exprs` read once, over the union of the boxes of all its
        reads at all `frames`, instead of growing it read by read. Reads of a Func whose
        update is running (and reads whose coordinates depend on one) are left alone."""
        calls: dict[int, Call] = {}
        for e in exprs:
            for n in walk(e):
                if isinstance(n, Call) and isinstance(n.func, Func) and not self._reads_active(n):
                    calls.setdefault(id(n), n)
        if only_repeated:
            counts: dict[Func, int] = {}
            for c in calls.values():
                counts[c.func] = counts.get(c.func, 0) + 1
            calls = {k: c for k, c in calls.items() if counts[c.func] > 1}
        if not calls:
            return
        boxes: dict[Func, list[list[int]]] = {}
        for frame in frames:
            for c in calls.values():
                coords = evaluate_many(c.args, frame)
                if 0 in np.broadcast_shapes(*(a.shape for a in coords)):
                    continue
                lo, hi = [int(a.min()) for a in coords], [int(a.max()) for a in coords]
                box = boxes.setdefault(c.func, [lo, hi])
                box[0], box[1] = list(map(min, box[0], lo)), list(map(max, box[1], hi))
        for func, (lo, hi) in boxes.items():
            self.request(func, lo, hi)

    @contextmanager
    def running(self, func: Func, lo: Sequence[int], buf: np.ndarray) -> Iterator[None]:
        """While an update of `func` runs, reads of `func` see `buf` as it is being updated."""
        self.active[func] = Realization(func, tuple(lo), buf)
        try:
            yield
        finally:
            del self.active[func]

    def _reads_active(self, call: Call) -> bool:
        return any(isinstance(n, Call) and n.func in self.active for n in walk(call))


def coordinate_axis(lo: int, extent: int, axis: int, ndim: int) -> np.ndarray:
    """int32 coordinates lo, lo+1, ... laid along `axis` of an `ndim`-d broadcastable array."""
    shape = [1] * ndim
    shape[axis] = extent
    return np.arange(lo, lo + extent, dtype=np.int64).astype(np.int32).reshape(shape)

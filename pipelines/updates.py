"""Update definitions in the reference interpreter: where they write, and in which order.

In: a Func whose pure definition has been computed into `buf` over a box, and one of its
update `Definition`s. After `apply_update`: `buf` holds the values the update leaves, as if its
points ran one after the other: the RDom with its first RVar innermost (fastest), each point
seeing the values left by the points before it, points whose `where` predicates are false
skipped. The update's pure Vars range over the whole box in their dimension. Because a self-read
keeps each pure Var at its own position (func.py checks it), all pure points of one RDom point
are independent and are computed at once; the RDom points are looped over in Python.

`f[lhs] = f[lhs] + e` (also `-`, `*`, and `min`/`max` on integers) and `f[lhs] = e`, where `e`,
`lhs` and the predicates do not read `f`, take a vectorized path instead: everything is
evaluated for all points first, then applied with `ufunc.at` (sequential, in iteration order,
so float sums round exactly as the loop does) or, for `=`, by keeping the last write to each
location.

`update_box` grows a requested box by every point the updates write (data-dependent ones
included, such as a histogram's `hist[im[r.x, r.y]]`), so the pure definition covers them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pipelines.evaluate import Frame, Plan, evaluate_many
from pipelines.expr import Add, Call, Expr, Max, Min, Mul, Sub, Var
from pipelines.func import Definition, Func
from pipelines.mutator import walk

CHUNK_ELEMENTS = 1 << 22  # points x pure points evaluated at once on the vectorized paths
ASSIGN = None  # the vectorized form `f[lhs] = e`
Points = dict[str, np.ndarray]  # RVar name -> its value at each RDom point, in iteration order


def reads(e: Expr, func: Func) -> bool:
    """Whether `e` reads `func`."""
    return any(isinstance(n, Call) and n.func is func for n in walk(e))


def _label(func: Func, stage: int) -> str:
    return f"Func {func.name!r} update {stage}"


def rdom_points(ctx: Any, d: Definition) -> tuple[int, Points]:
    """Every point of the update's RDom in iteration order (an update without RVars has one)."""
    if not d.rvars:
        return 1, {}
    bounds = evaluate_many([part for rv in d.rvars for part in (rv.min, rv.extent)], Frame(ctx, {}))
    ranges = [(int(bounds[2 * i]), int(bounds[2 * i + 1])) for i in range(len(d.rvars))]
    if any(extent <= 0 for _, extent in ranges):
        return 0, {rv.name: np.empty(0, np.int32) for rv in d.rvars}
    axes = [np.arange(m, m + n, dtype=np.int64).astype(np.int32) for m, n in reversed(ranges)]
    grids = np.meshgrid(*axes, indexing="ij")  # the last RVar outermost, so the first is fastest
    return math.prod(n for _, n in ranges), {rv.name: g.ravel() for rv, g in zip(d.rvars, reversed(grids))}


def pure_axes(d: Definition, lo: Sequence[int], extents: Sequence[int], lead: int) -> tuple[Points, tuple[int, ...]]:
    """Values of the update's pure Vars, over the whole box in their dimensions, laid out for
    broadcasting after `lead` leading axes; and the shape of that grid of pure points."""
    pure = d.pure_vars
    values = {}
    for k, (pos, var) in enumerate(pure):
        shape = [1] * (lead + len(pure))
        shape[lead + k] = extents[pos]
        values[var.name] = np.arange(lo[pos], lo[pos] + extents[pos], dtype=np.int64).astype(np.int32).reshape(shape)
    return values, tuple(extents[pos] for pos, _ in pure)


def chunks(ctx: Any, count: int, points: Points, axes: Points, grid: tuple[int, ...]) -> Iterator[tuple[Frame, int]]:
    """Frames over consecutive runs of RDom points (leading axis) times the pure grid."""
    step = max(1, CHUNK_ELEMENTS // max(1, math.prod(grid)))
    for start in range(0, count, step):
        stop = min(count, start + step)
        rvars = {name: a[start:stop].reshape((-1,) + (1,) * len(grid)) for name, a in points.items()}
        yield Frame(ctx, axes, rvars), stop - start


def _all_true(masks: Sequence[np.ndarray], shape: tuple[int, ...]) -> np.ndarray | None:
    if not masks:
        return None
    return np.broadcast_to(functools.reduce(np.logical_and, masks), shape)


def kept_points(ctx: Any, func: Func, d: Definition, lo: Sequence[int], extents: Sequence[int]) -> tuple[int, Points]:
    """The RDom points, less those where a predicate that does not read `func` is false at
    every pure point (those predicates cannot change while the update runs)."""
    count, points = rdom_points(ctx, d)
    fixed = [p for p in d.predicates if not reads(p, func)]
    if not fixed or count == 0:
        return count, points
    axes, grid = pure_axes(d, lo, extents, lead=1)
    keep = []
    for frame, n in chunks(ctx, count, points, axes, grid):
        mask = _all_true(evaluate_many(fixed, frame), (n, *grid))
        keep.append(mask.reshape(n, -1).any(axis=1))
    chosen = np.concatenate(keep)
    return int(chosen.sum()), {name: a[chosen] for name, a in points.items()}


def write_bounds(
    ctx: Any, func: Func, stage: int, d: Definition, lo: Sequence[int], hi: Sequence[int]
) -> dict[tuple[int, str], tuple[int, int]]:
    """For each non-pure dimension of the update's left side, and "writes" or "reads": the
    (min, max) coordinate it writes, or reads of its own Func, over the kept RDom points;
    none when it does neither."""
    dims = [i for i, a in enumerate(d.args) if not isinstance(a, Var)]
    for i in dims:
        if reads(d.args[i], func):
            raise ValueError(
                f"{ctx.who}: {_label(func, stage)}: its left-hand side reads {func.name!r} itself "
                f"(argument {i}: {d.args[i]}); the interpreter cannot bound where such an update writes"
            )
    if not dims:
        return {}
    extents = [b - a + 1 for a, b in zip(lo, hi)]
    count, points = kept_points(ctx, func, d, lo, extents)
    if count == 0 or any(extents[i] <= 0 for i, _ in d.pure_vars):
        return {}
    # What the update writes, and what it reads of its own Func, in its non-pure dimensions: the
    # Func's storage must hold both (the compiled code sizes it the same way). Neither can use a
    # pure Var there (the language forbids it), so the RDom points alone decide them.
    exprs = [((i, "writes"), d.args[i]) for i in dims]
    for part in (d.value, *d.predicates):
        for n in walk(part):
            if isinstance(n, Call) and n.func is func:
                for i in dims:
                    if reads(n.args[i], func):
                        raise ValueError(
                            f"{ctx.who}: {_label(func, stage)} reads {func.name!r} at a position computed "
                            f"from {func.name!r} itself ({n.args[i]}); its region cannot be bounded"
                        )
                    exprs.append(((i, "reads"), n.args[i]))
    coords = evaluate_many([e for _, e in exprs], Frame(ctx, {}, points))
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for (key, _), c in zip(exprs, coords):
        c = np.broadcast_to(c, (count,)) if np.ndim(c) == 0 else c
        a, b = int(np.min(c)), int(np.max(c))
        out[key] = (min(a, out[key][0]), max(b, out[key][1])) if key in out else (a, b)
    return out


def update_box(
    ctx: Any, func: Func, lo: Sequence[int], hi: Sequence[int], strict: bool
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """[lo, hi] grown until it holds every point the updates write. With `strict` (an output),
    a write outside [lo, hi] is an error instead."""
    lo, hi = list(lo), list(hi)
    grown = True
    while grown:  # a grown box widens later pure ranges, which can change what predicates keep
        grown = False
        for stage, d in enumerate(func.updates):
            for (dim, verb), (a, b) in write_bounds(ctx, func, stage, d, lo, hi).items():
                if lo[dim] <= a and b <= hi[dim]:
                    continue
                if strict:
                    raise ValueError(
                        f"{ctx.who}: output {_label(func, stage)} {verb} dimension {dim} at coordinates "
                        f"[{a}, {b}], outside the output region [{lo[dim]}, {hi[dim]}]; the compiled code "
                        "cannot access memory outside the output buffer, so pass a larger shape or origin"
                    )
                lo[dim], hi[dim] = min(lo[dim], a), max(hi[dim], b)
                grown = True
    return tuple(lo), tuple(hi)


def vectorized_form(func: Func, d: Definition) -> tuple[Any, Expr] | None:
    """(ufunc or ASSIGN, e) when the update is `f[lhs] = f[lhs] op e` or `f[lhs] = e` with
    nothing but that one read of `f`; None otherwise."""
    if any(reads(e, func) for e in (*d.args, *d.predicates)):
        return None

    def is_self(e: Expr) -> bool:
        return isinstance(e, Call) and e.func is func and e.args == d.args

    v = d.value
    if isinstance(v, (Add, Mul)):
        ufunc = np.add if isinstance(v, Add) else np.multiply
        if is_self(v.a) and not reads(v.b, func):
            return ufunc, v.b
        if is_self(v.b) and not reads(v.a, func):  # IEEE + and * commute exactly
            return ufunc, v.a
    if isinstance(v, Sub) and is_self(v.a) and not reads(v.b, func):
        return np.subtract, v.b
    if isinstance(v, (Min, Max)) and v.dtype.is_int:  # on floats, NaN and -0.0 make the order matter
        ufunc = np.minimum if isinstance(v, Min) else np.maximum
        if is_self(v.a) and not reads(v.b, func):
            return ufunc, v.b
        if is_self(v.b) and not reads(v.a, func):
            return ufunc, v.a
    return None if reads(v, func) else (ASSIGN, v)


def apply_update(ctx: Any, func: Func, stage: int, d: Definition, lo: Sequence[int], buf: np.ndarray) -> None:
    """Run one update over `buf` (the Func over the box starting at `lo`), in place."""
    count, points = kept_points(ctx, func, d, lo, buf.shape)
    if count == 0:
        return
    form = vectorized_form(func, d)
    if form is not None:
        apply_vectorized(ctx, func, stage, d, lo, buf, count, points, form)
    else:
        apply_sequential(ctx, func, stage, d, lo, buf, count, points)


def _check_inside(ctx: Any, func: Func, stage: int, dim: int, c: np.ndarray, lo: int, extent: int) -> None:
    if c.size and (int(c.min()) < lo or int(c.max()) >= lo + extent):
        raise ValueError(
            f"{ctx.who}: {_label(func, stage)} writes dimension {dim} at [{int(c.min())}, {int(c.max())}], "
            f"outside the region [{lo}, {lo + extent - 1}] it is computed over"
        )


def apply_vectorized(ctx: Any, func: Func, stage: int, d: Definition, lo: Sequence[int], buf: np.ndarray,
                     count: int, points: Points, form: tuple[Any, Expr]) -> None:  # fmt: skip
    """All points evaluated at once (in chunks), then applied in iteration order."""
    ufunc, rhs = form
    axes, grid = pure_axes(d, lo, buf.shape, lead=1)
    dims = [i for i, a in enumerate(d.args) if not isinstance(a, Var)]
    exprs = [*d.predicates, *(d.args[i] for i in dims), rhs]
    ctx.prefetch(exprs, (frame for frame, _ in chunks(ctx, count, points, axes, grid)))
    flat = buf.reshape(-1)  # buf is C-contiguous, so this is a view
    strides = [s // buf.itemsize for s in buf.strides]
    pure = {pos: axes[var.name] for pos, var in d.pure_vars}
    for frame, n in chunks(ctx, count, points, axes, grid):
        shape = (n, *grid)
        values = evaluate_many(exprs, frame)
        mask = _all_true(values[: len(d.predicates)], shape)
        coords = dict(zip(dims, values[len(d.predicates) : -1]))
        index = np.zeros((1,) * len(shape), np.int64)
        for pos in range(buf.ndim):
            c = pure[pos] if pos in pure else coords[pos]
            if pos in coords:
                _check_inside(ctx, func, stage, pos, c if mask is None else np.broadcast_to(c, shape)[mask],
                              lo[pos], buf.shape[pos])  # fmt: skip
            index = index + (c.astype(np.int64) - lo[pos]) * strides[pos]
        index = np.broadcast_to(index, shape)
        update = np.broadcast_to(values[-1], shape)
        if mask is not None:  # boolean indexing flattens in C order: RDom points outermost
            index, update = index[mask], update[mask]
        else:
            index, update = index.ravel(), update.ravel()
        if ufunc is ASSIGN:
            first_from_end = np.unique(index[::-1], return_index=True)[1]
            last = index.size - 1 - first_from_end
            flat[index[last]] = update[last]
        else:
            with np.errstate(all="ignore"):  # wrap-around and overflow to inf are the semantics
                ufunc.at(flat, index, update)


def apply_sequential(ctx: Any, func: Func, stage: int, d: Definition, lo: Sequence[int], buf: np.ndarray,
                     count: int, points: Points) -> None:  # fmt: skip
    """One RDom point after the other; all pure points of one RDom point at once."""
    axes, grid = pure_axes(d, lo, buf.shape, lead=0)
    pure_positions = {pos for pos, _ in d.pure_vars}
    dims = [i for i in range(buf.ndim) if i not in pure_positions]
    with ctx.running(func, lo, buf):
        lead_axes, _ = pure_axes(d, lo, buf.shape, lead=1)
        everything = [*d.predicates, *(d.args[i] for i in dims), d.value]
        ctx.prefetch(everything, (frame for frame, _ in chunks(ctx, count, points, lead_axes, grid)))
        predicates, body = Plan(d.predicates), Plan([*(d.args[i] for i in dims), d.value])
        for k in range(count):
            frame = Frame(ctx, axes, {name: a[k : k + 1].reshape(()) for name, a in points.items()})
            mask = _all_true(predicates.run(frame), grid)
            if mask is not None and not mask.any():
                continue
            *coords, value = body.run(frame)
            index: list[Any] = [slice(None)] * buf.ndim
            for pos, c in zip(dims, coords):
                _check_inside(ctx, func, stage, pos, c, lo[pos], buf.shape[pos])
                index[pos] = int(c) - lo[pos]
            key = tuple(index)  # slices at pure positions: the update's grid of pure points
            buf[key] = value if mask is None else np.where(mask, value, buf[key])

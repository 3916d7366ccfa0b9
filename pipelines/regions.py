"""Symbolic regions: the box of each Func that a pipeline's outputs read, as expressions.

After `func_regions(outputs, boxes)`: for every Func reachable from `outputs`, an inclusive box
(one (lo, hi) pair of int64 Exprs per dimension, in terms of input image dimensions and Params)
that contains every point of the Func read while computing the outputs over `boxes`. The boxes
come from interval arithmetic (`pipelines.bounds`), so they may be larger than the points
actually read, never smaller; a data-dependent index gives its type's whole range, which
`bounded` detects. Automatic differentiation sums adjoints over these regions; the scheduler
does its own, exact, inference for storage.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipelines.bounds import Bounds, Interval, c64, to64, type_range, union
from pipelines.expr import Call, Cast, Const, Div, Expr, Max, Min, RVar
from pipelines.func import Definition, Func
from pipelines.mutator import walk
from pipelines.pipeline import Pipeline, definition_exprs
from pipelines.simplify import from_linear, linear, simplify
from pipelines.types import int32

Box = tuple[Interval, ...]


def rvar_interval(rv: RVar) -> Interval:
    """The inclusive range an RVar iterates."""
    lo = to64(rv.min)
    return lo, simplify(lo + to64(rv.extent) - c64(1))


def stage_scope(d: Definition, box: Box) -> dict[str, Interval]:
    """Intervals of the variables of one definition of a Func computed over `box`."""
    scope = {v.name: box[i] for i, v in d.pure_vars}
    for rv in d.rvars:
        scope[rv.name] = rvar_interval(rv)
    return scope


def func_regions(outputs: Sequence[Func], boxes: Sequence[Box]) -> dict[Func, Box]:
    """The region of every Func that computing `outputs` over `boxes` reads (module docstring)."""
    pipeline = Pipeline(list(outputs))
    regions: dict[Func, Box] = dict(zip(pipeline.outputs, boxes, strict=True))
    for f in reversed(pipeline.funcs):
        box = regions[f]
        for d in f.updates:  # an update may read points of its Func that nothing else reads
            bounds = Bounds(stage_scope(d, box))
            for n in walk(d.value):
                if isinstance(n, Call) and n.func is f:
                    box = tuple(map(union, box, (bounds.interval(a) for a in n.args)))
        regions[f] = box
        for d in f.definitions:
            bounds = Bounds(stage_scope(d, box))
            for e in definition_exprs(d):
                for n in walk(e):
                    if isinstance(n, Call) and isinstance(n.func, Func) and n.func is not f:
                        got = tuple(bounds.interval(a) for a in n.args)
                        seen = regions.get(n.func)
                        regions[n.func] = got if seen is None else tuple(map(union, seen, got))
    return regions


def bounded(interval: Interval) -> bool:
    """False when an end of the interval is the int32 range's (a data-dependent index)."""
    tmin, tmax = type_range(int32)
    lo, hi = interval
    return not (
        (isinstance(lo, Const) and lo.value <= tmin.value) or (isinstance(hi, Const) and hi.value >= tmax.value)
    )


def to32(e: Expr) -> Expr:
    """An int64 bound as an int32 coordinate expression, rebuilt in int32 arithmetic where it
    is made of widened int32 values (bounds inference sees through that; a narrowing cast
    would give it the whole int32 range). Regions of int32 coordinates fit int32."""
    e = simplify(e)
    if e.dtype == int32:
        return e
    if isinstance(e, Const):  # beyond int32, a bound says nothing about an int32 coordinate
        return Const(min(max(int(e.value), int(int32.min_value)), int(int32.max_value)), int32)
    if isinstance(e, Cast) and e.value.dtype == int32:
        return e.value
    if isinstance(e, (Min, Max)):
        return type(e)(to32(e.a), to32(e.b))
    if isinstance(e, Div) and isinstance(e.b, Const):
        return Div(to32(e.a), to32(e.b))
    terms, constant = linear(e)
    if len(terms) > 1 or constant or any(k != 1 for k in terms.values()):
        return simplify(from_linear({to32(t): k for t, k in terms.items()}, constant, int32))
    return simplify(Cast(int32, e))

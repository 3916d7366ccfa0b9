"""Storage flattening: multi-dimensional Func and image accesses become flat buffer accesses.

After `flatten_storage`: no `Provide` and no `Call` remain; each is a `Store` or `Load` at the
int64 offset sum((coord_d - min_d) * stride_d). Computed intermediates are dense (stride 1 in
dimension 0) with their region as origin; outputs and inputs use the strides and origin of the
array passed in, so any numpy layout works without a copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.bounds import c64
from pipelines.expr import Add, Call, Cast, Const, Expr, Max, Mul, Sub, Var
from pipelines.func import Func
from pipelines.mutator import Mutator
from pipelines.types import int64
from scheduler.infer_bounds import buffer_symbol
from scheduler.loopir import Load, Provide, Stmt, Store
from scheduler.realize import Names
from scheduler.simplify import simplify


@dataclass(frozen=True)
class Layout:
    """Origin and strides (int64 Exprs) of one buffer."""

    mins: tuple[Expr, ...]
    strides: tuple[Expr, ...]

    def offset(self, args: tuple[Expr, ...]) -> Expr:
        total: Expr = c64(0)
        for a, lo, stride in zip(args, self.mins, self.strides, strict=True):
            total = Add(total, Mul(Sub(widen(a), lo), stride))
        return simplify(total)


def widen(e: Expr) -> Expr:
    """`e` as int64, with the conversion pushed through + - * so that index arithmetic is
    affine in the loop counters (what the C compiler needs to vectorize). Sound because
    bounds inference checks at run time that no int32 operation of an index wraps."""
    if e.dtype == int64:
        return e
    if isinstance(e, (Add, Sub, Mul)) and e.dtype.is_int and e.dtype.is_signed:
        return type(e)(widen(e.a), widen(e.b))
    if isinstance(e, Const):
        return c64(int(e.value))
    if isinstance(e, Cast) and e.value.dtype == int64 and e.dtype.is_int:
        return e.value  # a definition variable's value: checked to fit its type
    return Cast(int64, e)


def dense_layout(
    name: str, names: Names, ndim: int, region: list[tuple[Var, Var]] | None = None
) -> tuple[Layout, list[tuple[str, Expr]], tuple[Var, ...]]:
    """Layout of a computed intermediate over `region` (default: its computed region), the lets
    that define its extents, and its extents."""
    if region is None:
        region = [(names.region_min(name, d), names.region_max(name, d)) for d in range(ndim)]
    lets: list[tuple[str, Expr]] = []
    extents, strides = [], []
    stride: Expr = c64(1)
    for d in range(ndim):
        lo, hi = region[d]
        extent = Var(f"{name}.extent.{d}", int64)
        lets.append((extent.name, simplify(Max(Sub(Add(hi, c64(1)), lo), c64(0)))))
        extents.append(extent)
        strides.append(stride)
        stride = simplify(Mul(stride, extent))
    mins = tuple(lo for lo, _ in region)
    return Layout(mins, tuple(strides)), lets, tuple(extents)


def passed_layout(name: str, ndim: int, origin_is_region: bool, names: Names) -> Layout:
    """Layout of an input or output array: its own strides; outputs' origin is their region."""
    mins = tuple(names.region_min(name, d) if origin_is_region else buffer_symbol(name, "min", d) for d in range(ndim))
    return Layout(mins, tuple(buffer_symbol(name, "stride", d) for d in range(ndim)))


class _Flatten(Mutator):
    def __init__(self, layouts: dict[str, Layout], names: Names):
        self.layouts, self.names = layouts, names

    def _buffer(self, target: object) -> str:
        if isinstance(target, Func):
            return self.names.funcs[target]
        return self.names.images[target.name]  # type: ignore[attr-defined]

    def visit_Call(self, e: Call) -> Expr:
        name = self._buffer(e.func)
        args = tuple(self.visit(a) for a in e.args)
        return Load(name, self.layouts[name].offset(args), e.dtype)

    def visit_Provide(self, s: Provide) -> Stmt:
        args = tuple(self.visit(a) for a in s.args)
        return Store(s.func, self.layouts[s.func].offset(args), self.visit(s.value))


def flatten_storage(stmt: Stmt, layouts: dict[str, Layout], names: Names) -> Stmt:
    """`stmt` with every Provide and Call replaced by flat Stores and Loads."""
    return _Flatten(layouts, names).visit(stmt)

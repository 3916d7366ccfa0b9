"""Injection of producers computed inside a consumer's loop (compute_at).

After `inject_producers`: each Func scheduled `compute_at(g, v)` is computed at the top of the
body of g's loop `v`, just over the region that one iteration of that loop reads, in storage
allocated there (so each thread of a parallel loop has its own). The region is the union of the
reads of f inside the loop body, with the loops inside it as intervals and the loops outside it
as single points, clipped to f's region at root (which bounds inference sized from every
executed point, so the clipped region still holds all that the iteration reads). When that
region's extent is a constant (a 3-tap stencil under a 256-wide tile: 258), the storage extent
is that constant. Consumers are injected before their producers, so a producer sees every
reader inside the loop, including other injected Funcs; a use outside the loop is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipelines.bounds import Bounds, Interval, c64, union
from pipelines.expr import LE, Add, Call, Cast, Const, Expr, Max, Min, Select, Sub, Var
from pipelines.func import Func
from pipelines.mutator import Mutator, map_children, substitute, walk
from pipelines.types import int64
from scheduler.loopir import Allocate, Block, For, IfThenElse, LetStmt, Provide, Stmt, block
from scheduler.schedule import ScheduleError
from scheduler.simplify import simplify


@dataclass
class LocalReads:
    """Intervals of every read of one Func inside a statement, loops inside as intervals."""

    target: Func
    ranges: dict[str, Interval]
    clip: bool = True  # intersect definition variables with their full range
    found: list[list[Interval]] = field(default_factory=list)
    bounds: Bounds = field(default_factory=lambda: Bounds({}))

    def visit(self, s: Stmt) -> None:
        match s:
            case For(name=n, min=lo, extent=ext, body=b):
                # Resolved through the scope: the bounds may use symbols bound inside the loop
                # body being analysed, which do not exist where the region lets will go.
                first = self.bounds.interval(lo)[0]
                last = self.bounds.interval(simplify(Sub(Add(lo, ext), c64(1))))[1]
                self.bounds.scope[n] = (first, last)
                self.visit(b)
            case LetStmt(name=n, value=v, body=b):
                self.bounds.scope[n] = self._let_interval(n, v)
                self.visit(b)
            case Block(stmts=ss):
                for x in ss:
                    self.visit(x)
            case Allocate(body=b):
                self.visit(b)
            case IfThenElse(cond=c, then_case=t, else_case=e):
                self._exprs((c,))
                self.visit(t)
                if e is not None:
                    self.visit(e)
            case Provide(args=args, value=v):
                self._exprs((*args, v))

    def _let_interval(self, name: str, value: Expr) -> Interval:
        if name not in self.ranges:
            lo, hi = self.bounds.interval(value)
            return lo, hi
        # A definition variable: its int64 value lies in its full range (checked at run time),
        # so the narrowing cast is transparent here.
        inner = value.value if isinstance(value, Cast) and value.value.dtype == int64 else value
        lo, hi = self.bounds.interval(inner)
        if not self.clip:
            return lo, hi
        # The range is written with region symbols that may be bound inside the loop body
        # (a producer injected further in): use their intervals, not the symbols themselves,
        # so that nothing here refers to a name that is not bound where these lets go.
        rlo, rhi = self.ranges[name]
        return simplify(Max(lo, self.bounds.interval(rlo)[0])), simplify(Min(hi, self.bounds.interval(rhi)[1]))

    def _exprs(self, exprs: tuple[Expr, ...]) -> None:
        for e in exprs:
            for n in walk(e):
                if isinstance(n, Call) and n.func is self.target:
                    self.found.append([self.bounds.interval(a) for a in n.args])


def count_reads(s: Stmt, target: Func) -> int:
    """How many Call nodes read `target` in `s`."""
    return sum(1 for n in walk(s) if isinstance(n, Call) and n.func is target)


def find_loops(s: Stmt, name: str) -> list[For]:
    """Every loop named `name` (a stage may have several versions of its loop nest)."""
    return [n for n in walk(s) if isinstance(n, For) and n.name == name]


def transform_loops(s: Stmt, name: str, fn: Callable[[For], Stmt]) -> Stmt:
    """`s` with the body of every loop `name` replaced by `fn(loop)`."""

    def visit(n: Any) -> Any:
        if isinstance(n, For) and n.name == name:
            return For(n.name, n.min, n.extent, n.kind, fn(n))
        return map_children(n, visit) if isinstance(n, Stmt) else n

    return visit(s)


def local_region(
    f: Func,
    fname: str,
    ndim: int,
    body: Stmt,
    ranges: dict[str, Interval],
    region_vars: list[tuple[Var, Var]],
    global_vars: list[tuple[Var, Var]],
    whole_dims: frozenset[int] = frozenset(),
) -> tuple[list[tuple[str, Expr]], list[Expr]]:
    """Lets defining f's region inside the loop body (clipped to root) and the storage extents."""
    reads, loose = LocalReads(f, ranges), LocalReads(f, ranges, clip=False)
    reads.visit(body)
    loose.visit(body)
    lets: list[tuple[str, Expr]] = []
    extents: list[Expr] = []
    for d in range(ndim):
        if d in whole_dims:
            # The Func's own updates write or read this dimension at places no consumer names
            # (a histogram's bins): it keeps its whole root region here.
            (lo_sym, hi_sym), (glo, ghi) = region_vars[d], global_vars[d]
            extent = Var(f"{fname}.extent.{d}", int64)
            lets += [
                (lo_sym.name, glo),
                (hi_sym.name, ghi),
                (extent.name, simplify(Max(Add(Sub(ghi, glo), c64(1)), c64(0)))),
            ]
            extents.append(extent)
            continue
        region, bigger = _union(r[d] for r in reads.found), _union(r[d] for r in loose.found)
        unclipped = simplify(Add(Sub(bigger[1], bigger[0]), c64(1)))
        (lo_sym, hi_sym), (glo, ghi) = region_vars[d], global_vars[d]
        lets += [(lo_sym.name, simplify(Max(region[0], glo))), (hi_sym.name, simplify(Min(region[1], ghi)))]
        extent = Var(f"{fname}.extent.{d}", int64)
        if isinstance(unclipped, Const):
            # Constant storage extent (fixed-size storage, constant strides): the clipped
            # region, a part of the unclipped one, never exceeds it.
            lets.append((extent.name, unclipped))
            extents.append(unclipped)
        else:
            lets.append((extent.name, simplify(Max(Add(Sub(hi_sym, lo_sym), c64(1)), c64(0)))))
            extents.append(extent)
    return lets, extents


def _union(intervals: Iterable[Interval]) -> Interval:
    ivs = list(dict.fromkeys(intervals))
    region = ivs[0]
    for iv in ivs[1:]:
        region = union(region, iv)
    return region


def storage_vars(fname: str, ndim: int) -> list[tuple[Var, Var]]:
    """Symbols of the region a Func's storage covers when it is stored above its compute level."""
    return [(Var(f"{fname}.smin.{d}", int64), Var(f"{fname}.smax.{d}", int64)) for d in range(ndim)]


def inject(
    program: Stmt,
    f: Func,
    fname: str,
    nests: list[Stmt],
    loop_name: str,
    where: str,
    ranges: dict[str, Interval],
    region_vars: list[tuple[Var, Var]],
    global_vars: list[tuple[Var, Var]],
    store_loop: str | None = None,
    whole_dims: frozenset[int] = frozenset(),
) -> Stmt:
    """`program` with f computed at the top of the body of loop `loop_name`; its storage there,
    or at the top of loop `store_loop` (which must enclose it), or at root when store_loop is ROOT."""
    loops = find_loops(program, loop_name)
    if not loops and count_reads(program, f) == 0:
        # Nothing reads f: its consumer's only use of it was simplified away (a select of two
        # equal values), so neither was placed, and there is nothing to compute.
        return program
    if not loops:
        raise ScheduleError(
            f"{where}: the consumer has no loop {loop_name.split('.', 2)[-1]!r} in its pure "
            "definition (after its splits)"
        )
    inside, total = sum(count_reads(loop.body, f) for loop in loops), count_reads(program, f)
    if inside < total:
        raise ScheduleError(
            f"{where}: that loop does not enclose every use of {f.name!r} "
            f"({total - inside} of {total} reads are outside it)"
        )
    if store_loop is not None and store_loop != ROOT:
        outers = find_loops(program, store_loop)
        if not outers or any(not find_loops(o.body, loop_name) for o in outers):
            raise ScheduleError(
                f"{where}: store_at({store_loop.split('.', 2)[-1]!r}) is not a loop outside the "
                "compute_at loop of the same consumer"
            )
    if inside == 0:
        return program
    region_names = {v.name for pair in region_vars for v in pair}

    def compute_here(loop: For) -> Stmt:
        if store_loop is None:
            return _under_lets(loop.body, f, compute_before)
        lets, extents = local_region(f, fname, f.ndim, loop.body, ranges, region_vars, global_vars, whole_dims)
        region_lets = slide([x for x in lets if x[0] in region_names], loop, region_vars)
        return _let(region_lets, block(*nests, loop.body))

    def compute_before(body: Stmt) -> Stmt:
        lets, extents = local_region(f, fname, f.ndim, body, ranges, region_vars, global_vars, whole_dims)
        return _let(lets, Allocate(fname, f.dtype, tuple(extents), block(*nests, body)))

    program = transform_loops(program, loop_name, compute_here)
    if store_loop is None or store_loop == ROOT:
        return program

    def store_here(outer: For) -> Stmt:
        slets, sextents = local_region(
            f, fname, f.ndim, outer.body, ranges, storage_vars(fname, f.ndim), global_vars, whole_dims
        )
        return _let(slets, Allocate(fname, f.dtype, tuple(sextents), outer.body))

    return transform_loops(program, store_loop, store_here)


ROOT = "<root>"


def slide(lets: list[tuple[str, Expr]], loop: For, region_vars: list[tuple[Var, Var]]) -> list[tuple[str, Expr]]:
    """Sliding window: when a Func is stored outside the serial loop it is computed in, and its
    region moves forward by whole steps in one dimension only (a stencil over rows), each
    iteration after the first computes only the part the previous ones did not: the new min is
    one past the previous iteration's max. The values at the points skipped were computed
    earlier into the same storage, so the result does not change, only the work."""
    if loop.kind != "serial":
        return lets
    var = Var(loop.name, int64)
    values = dict(lets)
    moving = [
        d
        for d, (lo, hi) in enumerate(region_vars)
        if any(n == var for n in walk(values[lo.name])) or any(n == var for n in walk(values[hi.name]))
    ]
    if len(moving) != 1:
        return lets
    lo_sym, hi_sym = region_vars[moving[0]]
    lo, hi = _unclipped(values[lo_sym.name]), _unclipped(values[hi_sym.name])
    prev = {var: Sub(var, c64(1))}
    step_hi = simplify(Sub(hi, substitute(hi, prev)))
    step_lo = simplify(Sub(lo, substitute(lo, prev)))
    gap = simplify(Sub(lo, Add(substitute(hi, prev), c64(1))))
    if not all(isinstance(e, Const) for e in (step_hi, step_lo, gap)):
        return lets
    if step_hi.value < 0 or step_lo.value < 0 or gap.value > 0:  # type: ignore[attr-defined]
        return lets
    prev_hi = substitute(values[hi_sym.name], prev)
    first = LE(var, loop.min)
    new_lo = simplify(Select(first, values[lo_sym.name], Max(values[lo_sym.name], Add(prev_hi, c64(1)))))
    return [(n, new_lo if n == lo_sym.name else v) for n, v in lets]


class _Unclip(Mutator):
    def visit_Max(self, e: Max) -> Expr:
        return self.visit(e.a) if isinstance(e.b, Var) else self.generic(e)

    def visit_Min(self, e: Min) -> Expr:
        return self.visit(e.a) if isinstance(e.b, Var) else self.generic(e)


def _unclipped(e: Expr) -> Expr:
    """The region expression without clipping to other regions (a min or max with a symbol),
    to judge how it moves from one iteration to the next."""
    return simplify(_Unclip().visit(e))


def _under_lets(body: Stmt, f: Func, place: Callable[[Stmt], Stmt]) -> Stmt:
    """`body` with `place` applied under its leading lets and allocations (those of the Funcs
    already injected at this loop, which read f), where nothing has run yet. A producer placed
    there is still computed before anything in the iteration reads it, and its region is
    written with its consumers' region symbols instead of their expansions, which grow with
    every link of a chain of compute_at Funcs."""
    match body:
        case LetStmt(name=n, value=v, body=b) if count_reads(v, f) == 0:
            return LetStmt(n, v, _under_lets(b, f, place))
        case Allocate(name=n, dtype=t, extents=e, body=b):
            return Allocate(n, t, e, _under_lets(b, f, place))
    return place(body)


def _let(lets: list[tuple[str, Expr]], body: Stmt) -> Stmt:
    for name, value in reversed(lets):
        body = LetStmt(name, value, body)
    return body

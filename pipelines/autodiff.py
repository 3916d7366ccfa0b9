"""Reverse-mode differentiation of whole pipelines: `grad(output, wrt)` is another Pipeline.

After `grad(output, wrt, adjoint=None, with_value=False)`: a Pipeline whose outputs are, in the
order of `wrt`, the gradients of `output` (a 0-dimensional loss, or any float Func together with
`adjoint`, the gradient flowing into it) with respect to ImageParams (shape of the image),
float Params (0-dimensional) and intermediate Funcs (over their region), then `output` itself if
`with_value`. It follows Halide's design (DESIGN section 5):
  - Funcs are visited consumers first, and each Func's stages last first; each Func gets an
    adjoint Func `<name>_d` holding the derivative of the output with respect to its final
    value, and one more Func per update that changes the derivative (`<name>_d<k>`).
  - Each read `g(a(x, r))` sends `adjoint * d(value)/d(read)` (`pipelines.derivative`) to g's
    adjoint, turned back into gathers where the indices can be inverted (`pipelines.gather`), so
    the backward pipeline stays data-parallel, and otherwise an update scattering over the
    region of the reader.
  - Every contribution is zero outside the region its reader is computed over (`regions`): the
    guard is a select, never a multiplication, and where the reader's value needs an input
    image, its coordinates are clamped into that region so that no read leaves the image.
  - Updates: accumulations (`f(...) += e`), min/max reductions, and updates writing each point
    once (a pure variable or one RVar per argument), including scans that read points written
    by earlier iterations, whose adjoint is the reversed scan. Anything else (an update that
    overwrites a point several times, or reads a point it overwrites later) is refused with a
    `GradientError` naming the Func and the update.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.bounds import Bounds, Interval, c64, to64
from pipelines.derivative import backprop
from pipelines.expr import Add, Call, Const, Expr, Max, Min, Param, RVar, Sub, Var, as_expr, eq, ne
from pipelines.func import Definition, Func, ImageParam, RDom
from pipelines.gather import Context, Solution, clamp_parts, occurs, solve, within
from pipelines.mutator import Mutator, map_children, substitute, walk
from pipelines.ops import clamp, minimum, select
from pipelines.ops import min as min_
from pipelines.pipeline import Pipeline, definition_exprs
from pipelines.regions import Box, bounded, func_regions, rvar_interval, to32
from pipelines.simplify import simplify
from pipelines.types import DType, int32


class GradientError(ValueError):
    """The gradient asked for cannot be built; the message names the Func and the reason."""


Target = Func | ImageParam
CHUNK = 16  # rows per partial sum of a sum over a region: one task of a parallel loop
_fresh = itertools.count()


def grad(
    output: Func,
    wrt: Any,
    adjoint: ImageParam | Func | None = None,
    with_value: bool = False,
    region: Sequence[tuple[Any, Any]] | None = None,
) -> Pipeline:
    """The gradient pipeline of `output` with respect to each entry of `wrt` (module docstring).

    `region` ((min, extent) per dimension) is needed only with a Func `adjoint`: the box of
    `output` whose values the loss uses. With an ImageParam adjoint it is the adjoint's box.
    """
    wanted = list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]
    _check_request(output, wanted, adjoint)
    box = _output_box(output, adjoint, region)
    return _Backward(output, box, adjoint).pipeline(wanted, with_value)


def _check_request(output: Any, wanted: list[Any], adjoint: Any) -> None:
    if not isinstance(output, Func) or not output.defined:
        raise TypeError(f"grad: output must be a defined Func, got {output!r}")
    if not output.dtype.is_float:
        raise GradientError(
            f"grad: output {output.name!r} has type {output.dtype}; only float Funcs are differentiated"
        )
    if not wanted:
        raise ValueError("grad: wrt is empty; name the ImageParams, Params or Funcs to differentiate by")
    names = set()
    for w in wanted:
        if not isinstance(w, (ImageParam, Param, Func)):
            raise TypeError(f"grad: wrt entries must be ImageParams, Params or Funcs, got {type(w).__name__}")
        if not w.dtype.is_float:
            kind = type(w).__name__
            raise GradientError(f"grad: {kind} {w.name!r} has type {w.dtype}; only float inputs have gradients")
        if w.name in names:
            raise ValueError(f"grad: {w.name!r} is listed twice in wrt")
        names.add(w.name)
    if output.ndim and adjoint is None:
        raise GradientError(
            f"grad: output {output.name!r} has {output.ndim} dimensions; pass adjoint= (the gradient flowing into it, "
            "an ImageParam of the same type and rank), or differentiate a 0-dimensional loss"
        )
    if adjoint is not None:
        if not isinstance(adjoint, (ImageParam, Func)):
            raise TypeError(f"grad: adjoint must be an ImageParam or a Func, got {type(adjoint).__name__}")
        if adjoint.ndim != output.ndim or adjoint.dtype != output.dtype:
            raise GradientError(
                f"grad: adjoint {adjoint.name!r} is a {adjoint.ndim}-d {adjoint.dtype}; output {output.name!r} "
                f"is a {output.ndim}-d {output.dtype}, and they must match"
            )


def _output_box(output: Func, adjoint: Any, region: Any) -> Box:
    if output.ndim == 0:
        return ()
    if isinstance(adjoint, ImageParam):
        dims = [(adjoint.dim(i).min(), adjoint.dim(i).extent()) for i in range(output.ndim)]
    elif region is None:
        raise GradientError(f"grad: with a Func adjoint, give region= ((min, extent) per dimension of {output.name!r})")
    else:
        dims = list(region)
        if len(dims) != output.ndim:
            raise ValueError(f"grad: region has {len(dims)} dimensions, output {output.name!r} has {output.ndim}")
    box = []
    for lo, extent in dims:
        lo64, ext64 = to64(as_expr(lo, int32)), to64(as_expr(extent, int32))
        box.append((lo64, simplify(lo64 + ext64 - c64(1))))
    return tuple(box)


def _clamped(e: Expr, interval: Interval) -> Expr:
    """`e` clamped into the int64 interval (as int32 coordinates)."""
    return clamp(e, to32(interval[0]), to32(interval[1]))


def _rdom_bound(lo: Expr, hi: Expr) -> tuple[Expr, Expr]:
    """(min, extent) of an RDom over the int64 interval [lo, hi]."""
    return to32(lo), to32(simplify(hi - lo + c64(1)))


def _all(conds: Sequence[Expr]) -> Expr | None:
    out: Expr | None = None
    for c in conds:
        c = simplify(c)
        if isinstance(c, Const) and c.value:
            continue
        out = c if out is None else out & c
    return out


def _guarded(conds: Sequence[Expr], value: Expr) -> Expr:
    cond = _all(conds)
    return value if cond is None else select(cond, value, Const(0, value.dtype))


def _total(values: Sequence[Expr], dtype: DType) -> Expr:
    out: Expr | None = None
    for v in values:
        out = v if out is None else out + v
    return Const(0, dtype) if out is None else out


def clamped_to_image(call: Call, i: int) -> bool:
    """Whether coordinate i of a read of an image is clamped into the image, as boundary
    conditions do: then the read is valid at any point."""
    parts = clamp_parts(call.args[i])
    if parts is None:
        return False
    _, lo, hi = parts
    dim = call.func.dim(i)
    return lo == dim.min() and hi == dim.max()


class _SelfCalls(Mutator):
    """Reads of one Func redirected to another."""

    def __init__(self, old: Func, new: Func):
        self.old, self.new = old, new

    def visit_Call(self, e: Call) -> Expr:
        e = map_children(e, self.visit)  # type: ignore[assignment]
        return Call(self.new, e.args) if e.func is self.old else e


@dataclass
class _Incoming:
    """What flows into one Func's or image's adjoint: gathers over its variables, and
    scatters (arguments and value over an RDom of their own) applied as updates."""

    gathers: list[Expr] = field(default_factory=list)
    scatters: list[tuple[tuple[Expr, ...], Expr]] = field(default_factory=list)


class _Backward:
    """The adjoints of one forward pipeline; `pipeline` gathers the requested ones."""

    def __init__(self, output: Func, box: Box, adjoint: ImageParam | Func | None):
        self.output, self.box = output, box
        self.forward = Pipeline([output])
        self.regions = func_regions([output], [box])
        self.incoming: dict[Target, _Incoming] = {}
        self.param_terms: dict[str, list[Expr]] = {}
        self.adjoints: dict[Func, Func] = {}
        self.values: dict[tuple[Func, int], Func] = {}
        self.totals: dict[Func, bool] = {}
        self.made: set[Func] = set()
        self.image_vars: dict[ImageParam, tuple[Var, ...]] = {}
        # Names are unique within this gradient pipeline and the same on every call, so that
        # schedules can name the adjoints: `conv_d`, `im_d`, ...
        self.names = {f.name for f in self.forward.funcs}
        self._seed(adjoint)
        for f in reversed(self.forward.funcs):
            if f.dtype.is_float:
                self._differentiate(f)

    # ------------------------------------------------------------ driving

    def _seed(self, adjoint: ImageParam | Func | None) -> None:
        f = self.output
        if f.ndim == 0:
            seed: Expr = Const(1, f.dtype)
        else:
            assert adjoint is not None
            args = f.args
            inside = [within(v, self.box[i]) for i, v in enumerate(args)]
            coords = tuple(clamp(v, to32(lo), to32(hi)) for v, (lo, hi) in zip(args, self.box))
            seed = _guarded(inside, adjoint[coords])
        self.incoming.setdefault(f, _Incoming()).gathers.append(seed)

    def _differentiate(self, f: Func) -> None:
        adjoint = self._collect(f, f.args, f"{f.name}_d")
        self.adjoints[f] = adjoint
        for k in range(len(f.definitions) - 1, 0, -1):
            adjoint = self._update(f, k, adjoint)
        d = f.definitions[0]
        self._send(f, self._context(f, d), backprop(d.value, adjoint[f.args]))

    def _collect(self, target: Target, args: tuple[Var, ...], name: str) -> Func:
        """The adjoint Func of `target` from everything sent to it."""
        got = self.incoming.get(target, _Incoming())
        a = Func(self._name(name))
        a[args] = _total(got.gathers, target.dtype)
        for where, value in got.scatters:
            a[where] = a[where] + value
        self.made.add(a)
        return a

    def _name(self, prefix: str) -> str:
        name, n = prefix, 0
        while name in self.names:
            n += 1
            name = f"{prefix}_{n}"
        self.names.add(name)
        return name

    def _context(self, f: Func, d: Definition) -> Context:
        box = self.regions[f]
        ranges: dict[Expr, Interval] = {v: box[i] for i, v in d.pure_vars}
        for rv in d.rvars:
            ranges[rv] = rvar_interval(rv)
        return Context(ranges, d.predicates)

    def target_vars(self, g: Target) -> tuple[Var, ...]:
        if isinstance(g, Func):
            return g.args
        if g not in self.image_vars:
            self.image_vars[g] = tuple(Var("xyzw"[i] if i < 4 else f"d{i}") for i in range(g.ndim))
        return self.image_vars[g]

    # ------------------------------------------------------------ sending contributions

    def _send(self, f: Func, ctx: Context, contributions: list[tuple[Expr, Expr]]) -> None:
        for leaf, value in contributions:
            if isinstance(leaf, Param):
                self.param_terms.setdefault(leaf.name, []).append(
                    self._gather(f, ctx, Solution(free=dict(ctx.ranges)), value, (), (), False)
                )
                continue
            assert isinstance(leaf, Call) and leaf.func is not f
            self._send_read(f, ctx, leaf, value)

    def _send_read(self, f: Func, ctx: Context, call: Call, value: Expr) -> None:
        g = call.func
        incoming = self.incoming.setdefault(g, _Incoming())
        temps = tuple(Var(f"_u{next(_fresh)}") for _ in call.args)
        solutions = solve(ctx, call.args, temps)
        if solutions is None:
            incoming.scatters.append(self._scatter(f, ctx, call, value))
            return
        real = self.target_vars(g)
        for sol in solutions:
            clamp_reads = self._needs_clamp(value, list(sol.solved))
            incoming.gathers.append(self._gather(f, ctx, sol, value, temps, real, clamp_reads))

    def _gather(
        self,
        f: Func,
        ctx: Context,
        sol: Solution,
        value: Expr,
        temps: tuple[Var, ...],
        real: tuple[Var, ...],
        clamp_reads: bool,
    ) -> Expr:
        """One solution's contribution at a point `real` of the adjoint."""
        at = dict(sol.solved)
        if clamp_reads:  # evaluate the reader only inside its region, where its reads are valid
            at = {v: _clamped(e, ctx.ranges[v]) for v, e in at.items()}
        term = substitute(value, at)
        guards = sol.guards + [substitute(p, sol.solved) for p in ctx.predicates]
        # Edges pin a target to a loop-invariant value. The targets are renamed to the adjoint's
        # own Vars last: those may share names with the reader's Vars, summed over until then.
        pin: dict[Any, Any] = dict(sol.fixed)
        term = substitute(term, pin)
        guards = [simplify(substitute(g, pin)) for g in guards]
        outer = [eq(u, value) for u, value in sol.fixed.items()]
        inner = []
        for g in guards:
            (inner if any(occurs(v, g) for v in sol.free) else outer).append(g)
        rename = dict(zip(temps, real))
        if not sol.free:
            return substitute(_guarded(outer + inner, term), rename)
        for v, interval in sol.free.items():
            if not all(bounded((e, e)) for e in interval):
                raise GradientError(
                    f"Func {f.name!r}: its gradient sums over {v} with no bound on its range "
                    "(a data-dependent index); clamp the index into a known range"
                )
        region = [v for v in sol.free if isinstance(v, Var) and v in ctx.ranges]
        if len(region) >= 2:
            total = self._partial_sums(f, sol.free, region, term, inner, rename, real)
        else:
            total = self._plain_sum(f, sol.free, term, inner, rename, real)
        return _guarded([substitute(g, rename) for g in outer], total)

    def _plain_sum(
        self,
        f: Func,
        free: dict[Expr, Interval],
        term: Expr,
        inner: list[Expr],
        rename: dict[Var, Var],
        real: tuple[Var, ...],
    ) -> Expr:
        """`sum over free of select(inner, term, 0)` as a Func of the targets it depends on."""
        rdom = RDom([_rdom_bound(*interval) for interval in free.values()], name=f"{f.name}_r")
        to_rvars = dict(zip(free, rdom.vars))
        term = substitute(substitute(term, to_rvars), rename)
        inner = [substitute(substitute(g, to_rvars), rename) for g in inner]
        args = tuple(v for v in real if occurs(v, term) or any(occurs(v, g) for g in inner))
        return self._sum(f"{f.name}_sum", args, _guarded(inner, term))[args]

    def _partial_sums(
        self,
        f: Func,
        free: dict[Expr, Interval],
        region: list[Expr],
        term: Expr,
        inner: list[Expr],
        rename: dict[Var, Var],
        real: tuple[Var, ...],
    ) -> Expr:
        """A sum over a region of two or more dimensions, in two steps so that it runs in
        parallel and in SIMD (Halide's rfactor): partial sums over chunks of CHUNK rows of the
        outermost dimension, kept apart for each point of the innermost one, then the sum of
        the partial sums. A weight or Param gradient then costs one parallel pass."""
        across, down = region[0], region[-1]
        (xlo, xhi), (ylo, yhi) = free[across], free[down]
        others = [v for v in free if v not in (across, down)]
        rdom = RDom([_rdom_bound(*free[v]) for v in others] + [(0, CHUNK)], name=f"{f.name}_r")
        taken = {v.name for v in real}
        column, chunk = (Var(next(n for n in (base, f"{base}_") if n not in taken)) for base in ("xi", "chunk"))
        row = to32(ylo) + chunk * CHUNK + rdom.vars[-1]
        # The last chunk runs past the region: its rows are masked, and their reads clamped.
        read_row = min_(row, to32(yhi)) if self._needs_clamp(term, [down]) else row
        to_parts: dict[Any, Any] = {**dict(zip(others, rdom.vars)), across: column}
        term = substitute(substitute(term, {**to_parts, down: read_row}), rename)
        to_parts[down] = row
        inner = [substitute(substitute(g, to_parts), rename) for g in inner] + [to64(row) <= yhi]
        args = tuple(v for v in real if occurs(v, term) or any(occurs(v, g) for g in inner))
        partial = self._sum(f"{f.name}_partial", (column, *args, chunk), _guarded(inner, term))
        rows = simplify(yhi - ylo + c64(1))
        chunks = to32(simplify((rows + c64(CHUNK - 1)) / c64(CHUNK)))
        over = RDom([_rdom_bound(xlo, xhi), (0, chunks)], name=f"{f.name}_r")
        return self._sum(f"{f.name}_sum", args, partial[(over.x, *args, over.y)])[args]

    def _sum(self, name: str, args: tuple[Var, ...], value: Expr) -> Func:
        """`name(args) = 0; name(args) += value` over the RDom of `value`."""
        h = Func(self._name(name))
        h[args] = Const(0, value.dtype)
        h[args] = h[args] + value
        self.made.add(h)
        return h

    def _scatter(self, f: Func, ctx: Context, call: Call, value: Expr) -> tuple[tuple[Expr, ...], Expr]:
        g = call.func
        for v, interval in ctx.ranges.items():
            if not all(bounded((e, e)) for e in interval):
                raise GradientError(f"Func {f.name!r}: its gradient scatters over {v}, whose range is not bounded")
        rdom = RDom(
            [(to32(lo), to32(simplify(hi - lo + c64(1)))) for lo, hi in ctx.ranges.values()], name=f"{f.name}_r"
        )
        to_rvars = dict(zip(ctx.ranges, rdom.vars))
        where = tuple(simplify(substitute(a, to_rvars)) for a in call.args)
        scope = {rv.name: rvar_interval(rv) for rv in rdom.vars}
        for i, a in enumerate(where):
            if not bounded(Bounds(scope).interval(a)):
                raise GradientError(
                    f"Func {f.name!r} reads {g.name!r} at coordinate {i} = {a}, a data-dependent index with no "
                    "bound: its gradient would scatter anywhere; clamp the index into a known range"
                )
        preds = [substitute(p, to_rvars) for p in ctx.predicates]
        return where, _guarded(preds, substitute(value, to_rvars))

    # ------------------------------------------------------------ where reads need clamping

    def _needs_clamp(self, e: Expr, moving: Sequence[Expr] | None = None) -> bool:
        """Whether evaluating `e` where the `moving` variables (None: any) leave the ranges the
        forward pass gave them could read outside an input image."""
        for n in walk(e):
            if isinstance(n, Call) and (moving is None or any(occurs(v, a) for v in moving for a in n.args)):
                if isinstance(n.func, ImageParam):
                    if not all(clamped_to_image(n, i) for i in range(len(n.args))):
                        return True
                elif not self._is_total(n.func):
                    return True
        return False

    def _is_total(self, f: Func) -> bool:
        """Whether `f` can be evaluated anywhere without reading outside an input image."""
        if f in self.made:
            return True
        known = self.totals.get(f)
        if known is None:
            self.totals[f] = True  # a Func reading itself does not make itself partial
            known = not any(self._needs_clamp(e) for d in f.definitions for e in definition_exprs(d))
            self.totals[f] = known
        return known

    # ------------------------------------------------------------ updates

    def _value_after(self, f: Func, stage: int) -> Func:
        """A Func holding `f`'s value after definition `stage` (f itself after the last)."""
        if stage == len(f.definitions) - 1:
            return f
        key = (f, stage)
        if key not in self.values:
            copy = Func(self._name(f"{f.name}_s{stage}"))
            swap = _SelfCalls(f, copy)
            copy.definitions = [
                Definition(d.args, swap.visit(d.value), d.rvars, tuple(swap.visit(p) for p in d.predicates))
                for d in f.definitions[: stage + 1]
            ]
            self.values[key] = copy
        return self.values[key]

    def _update(self, f: Func, k: int, adjoint: Func) -> Func:
        """Send update k's contributions; return the adjoint of f's value before update k."""
        d = f.definitions[k]
        where, value = d.args, d.value
        ctx = self._context(f, d)
        own = Call(f, where)
        reads = [n for n in walk(value) if isinstance(n, Call) and n.func is f]
        label = f"Func {f.name!r} update {k - 1}"
        if _accumulates(value, own, f):
            self._send(f, ctx, [(leaf, c) for leaf, c in backprop(value, adjoint[where]) if leaf != own])
            return adjoint
        positions = _write_positions(d)
        if positions is None:
            if (
                isinstance(value, (Max, Min))
                and own in (value.a, value.b)
                and not any(isinstance(a, RVar) for a in where)
            ):
                return self._extremum(f, k, adjoint, ctx)
            raise GradientError(
                f"{label}: writes some points more than once and is not a sum, min or max reduction, so the "
                "values it overwrites are lost; its gradient is not supported (write each point once, or use +=)"
            )
        after, before = self._value_after(f, k), self._value_after(f, k - 1)
        swaps: dict[Any, Any] = {own: Call(before, where)}
        shifts: dict[Expr, _Read] = {}
        for read in reads:
            if read != own:
                shifts[Call(after, read.args)] = _shift(read, d, label)
                swaps[read] = Call(after, read.args)
        value = substitute(value, swaps)
        scans = {leaf: read for leaf, read in shifts.items() if read.scan}
        scan = adjoint if not scans else self._reverse_scan(f, k, adjoint, value, scans)
        same: list[Expr] = []
        pulled: list[tuple[Expr, _Read]] = []
        others = []
        for leaf, c in backprop(value, scan[where]):
            if leaf == Call(before, where):
                same.append(c)
            elif leaf in shifts:
                pulled.append((c, shifts[leaf]))
            else:
                others.append((leaf, c))
        self._send(f, ctx, others)
        return self._before_update(f, k, adjoint, positions, same, pulled)

    def _before_update(
        self,
        f: Func,
        k: int,
        adjoint: Func,
        positions: dict[RVar, int],
        same: list[Expr],
        pulled: list[tuple[Expr, _Read]],
    ) -> Func:
        """The adjoint before an update that writes each point once: at a written point, what
        the update's read of the same point passes on; elsewhere the adjoint after the update
        plus what the update's other reads of unwritten points pass on."""
        d = f.definitions[k]
        p = f.args
        moving = list(positions)
        clamp_reads = any(self._needs_clamp(c, moving) for c in [*same, *(c for c, _ in pulled)])
        point = {v: p[i] for i, v in d.pure_vars}

        def at(expr: Expr, read: _Read) -> tuple[Expr, list[Expr]]:
            """`expr` at the iteration whose read `read` is the point p, and the conditions
            that the iteration ran and that p is the point it reads."""
            offset = dict(read.offset)
            exact: dict[Any, Any] = dict(point)
            values: dict[Any, Any] = dict(point)
            for rv, j in positions.items():
                exact[rv] = simplify(p[j] - offset.get(rv, 0))
                values[rv] = _clamped(exact[rv], rvar_interval(rv)) if clamp_reads else exact[rv]
            ran = [within(exact[rv], rvar_interval(rv)) for rv in positions]
            ran += [eq(p[j], a) for j, a in enumerate(read.args) if not isinstance(d.args[j], (Var, RVar))]
            ran += [substitute(q, exact) for q in d.predicates]
            return substitute(expr, values), ran

        written_value, written = at(_total(same, f.dtype), _Read(tuple(d.args), (), False))
        kept = [adjoint[p]]
        for c, read in pulled:
            term, ran = at(c, read)
            kept.append(_guarded(ran, term))
        before = Func(self._name(f"{f.name}_d{k - 1}"))
        cond = _all(written)
        # No condition: the update writes every point, and only its read of the same point
        # reaches the value from before it.
        before[p] = written_value if cond is None else select(cond, written_value, _total(kept, f.dtype))
        self.made.add(before)
        return before

    def _reverse_scan(self, f: Func, k: int, adjoint: Func, value: Expr, shifts: dict[Expr, _Read]) -> Func:
        """The adjoint of the values a scan writes: its iterations run backwards, each pulling
        from the later iterations that read the point it wrote (an anti-causal scan)."""
        d = f.definitions[k]
        scan = Func(self._name(f"{f.name}_d{k}_scan"))
        scan[f.args] = adjoint[f.args]
        self.made.add(scan)
        pulls = []
        for leaf, c in backprop(value, scan[d.args]):
            read = shifts.get(leaf)
            if read is None:
                continue
            offset = dict(read.offset)
            clamp_reads = self._needs_clamp(c, list(offset))
            exact = {rv: simplify(rv - offset.get(rv, 0)) for rv in d.rvars}
            values = {rv: _clamped(e, rvar_interval(rv)) if clamp_reads else e for rv, e in exact.items()}
            ran = [within(e, rvar_interval(rv)) for rv, e in exact.items()]
            ran += [substitute(q, exact) for q in d.predicates]
            pulls.append(_guarded(ran, substitute(c, values)))
        backwards = RDom([(rv.min, rv.extent) for rv in d.rvars], name=f"{f.name}_r")
        reverse = {rv: simplify(2 * rv.min + rv.extent - 1 - rr) for rv, rr in zip(d.rvars, backwards.vars)}
        where = tuple(simplify(substitute(a, reverse)) for a in d.args)
        step = _guarded([substitute(q, reverse) for q in d.predicates], substitute(_total(pulls, f.dtype), reverse))
        scan[where] = scan[where] + step
        return scan

    def _extremum(self, f: Func, k: int, adjoint: Func, ctx: Context) -> Func:
        """A max or min reduction into points given by pure Vars and constants: the adjoint goes
        to the value that won, the first one in iteration order on a tie (the value before the
        update first of all), as the forward pass kept it: equal candidates are often the same
        input read twice, such as an edge pixel repeated by a boundary condition."""
        d = f.definitions[k]
        own = Call(f, d.args)
        other = d.value.b if d.value.a == own else d.value.a
        after, before = self._value_after(f, k), self._value_after(f, k - 1)
        order = Const(0, int32)
        for rv in reversed(d.rvars):  # the first RVar varies fastest
            order = order * rv.extent + (rv - rv.min)
        last = Const(int32.max_value, int32)
        first_winner = minimum(select(eq(other, Call(after, d.args)), order, last))
        won = ne(Call(before, d.args), Call(after, d.args)) & eq(order, first_winner)
        routed = [(leaf, select(won, c, Const(0, c.dtype))) for leaf, c in backprop(other, adjoint[d.args])]
        self._send(f, ctx, routed)
        p = f.args
        written = _all([eq(p[j], a) for j, a in enumerate(d.args) if not isinstance(a, Var)])
        kept = select(eq(before[p], after[p]), adjoint[p], Const(0, f.dtype))
        result = Func(self._name(f"{f.name}_d{k - 1}"))
        result[p] = kept if written is None else select(written, kept, adjoint[p])
        self.made.add(result)
        return result

    # ------------------------------------------------------------ the gradient pipeline

    def pipeline(self, wanted: list[Any], with_value: bool) -> Pipeline:
        outputs: list[Func] = []
        boxes: list[tuple[tuple[Expr, Expr], ...] | None] = []
        for w in wanted:
            if isinstance(w, ImageParam):
                outputs.append(self._collect(w, self.target_vars(w), f"{w.name}_d"))
                boxes.append(tuple((w.dim(i).min(), w.dim(i).extent()) for i in range(w.ndim)))
            elif isinstance(w, Param):
                g = Func(self._name(f"{w.name}_d"))
                g[()] = _total(self.param_terms.get(w.name, []), w.dtype)
                outputs.append(g)
                boxes.append(())
            else:
                outputs.append(self._func_gradient(w))
                boxes.append(self._func_box(w))
        if with_value:
            outputs.append(self.output)
            boxes.append(self._func_box(self.output))
        forward = [*self.forward.images, *self.forward.params]
        return Pipeline(outputs, boxes=boxes, auto_schedule=True, inputs=forward)

    def _func_gradient(self, w: Func) -> Func:
        """An output Func of its own holding w's adjoint: the adjoint itself is read beyond
        w's region by other adjoints, which an output's box would not allow."""
        out = Func(self._name(f"{w.name}_grad"))
        got = self.adjoints.get(w)
        out[w.args] = got[w.args] if got is not None else Const(0, w.dtype)
        return out

    def _func_box(self, w: Func) -> tuple[tuple[Expr, Expr], ...] | None:
        """The region of `w` as (min, extent) pairs, when it is bounded."""
        box = self.regions.get(w)
        if box is None or not all(bounded(b) for b in box):
            return None
        return tuple((to32(lo), to32(simplify(hi - lo + c64(1)))) for lo, hi in box)


def _accumulates(value: Expr, own: Call, f: Func) -> bool:
    """`f(L) + e`, `e + f(L)` or `f(L) - e` with e not reading f: the adjoint passes unchanged."""
    if isinstance(value, Add):
        sides = [(value.a, value.b), (value.b, value.a)]
    elif isinstance(value, Sub):
        sides = [(value.a, value.b)]
    else:
        return False
    return any(s == own and not _reads(e, f) for s, e in sides)


def _reads(e: Expr, f: Func) -> bool:
    return any(isinstance(n, Call) and n.func is f for n in walk(e))


def _write_positions(d: Definition) -> dict[RVar, int] | None:
    """Where each RVar stands alone among the arguments, when every RVar does so exactly once
    and every other argument is a pure Var or a constant (each point written once); else None."""
    positions: dict[RVar, int] = {}
    for j, a in enumerate(d.args):
        if isinstance(a, RVar):
            if a in positions:
                return None
            positions[a] = j
        elif not isinstance(a, Var) and any(isinstance(n, (Var, RVar, Call, Param)) for n in walk(a)):
            return None
    if set(positions) != set(d.rvars):
        return None
    return positions


@dataclass(frozen=True)
class _Read:
    """How an update's read of its own Func relates to the point the iteration writes: a
    constant `offset` along RVars, at `args`. It is a scan's read (of a point an earlier
    iteration wrote) unless a constant coordinate differs from the written one (`elsewhere`:
    a point this update never writes, holding the value from before it)."""

    args: tuple[Expr, ...]
    offset: tuple[tuple[RVar, int], ...]
    elsewhere: bool

    @property
    def scan(self) -> bool:
        return not self.elsewhere and bool(self.offset)


def _shift(read: Call, d: Definition, label: str) -> _Read:
    """Classify a self-read of an update that writes each point once (see `_Read`); a scan's
    read must point to an earlier iteration (the last RVar is the outermost loop)."""
    offset: dict[RVar, int] = {}
    elsewhere = False
    for j, (a, w) in enumerate(zip(read.args, d.args)):
        delta = simplify(a - w)
        if isinstance(w, RVar) and isinstance(delta, Const):
            if delta.value:
                offset[w] = int(delta.value)
        elif isinstance(w, Const) and isinstance(a, Const):
            elsewhere = elsewhere or a.value != w.value
        elif not (isinstance(delta, Const) and delta.value == 0):
            raise GradientError(
                f"{label}: reads {read.func.name!r} at coordinate {j} = {a}, not the written point plus a constant "
                "offset along an RVar, nor another constant; its gradient is not supported"
            )
    for rv in reversed(d.rvars):
        step = offset.get(rv, 0)
        if step > 0 and not elsewhere:
            raise GradientError(
                f"{label}: reads {read.func.name!r} at a point a later iteration overwrites ({rv.name} + {step}); "
                "its gradient is not supported"
            )
        if step:
            break
    return _Read(tuple(read.args), tuple(offset.items()), elsewhere)

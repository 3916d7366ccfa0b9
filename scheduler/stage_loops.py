"""The loops of one stage under its schedule directives: split, fuse, reorder, vectorize, unroll,
parallel and bound.

After `plan_stage(...)`: a `StagePlan` lists the stage's loops from outermost to innermost (IR
name, min, extent, kind) and, for each variable of the definition, the expression that gives
its value from the loops (let-bound just inside the innermost loop) together with its full
range (what bounds inference at root uses: every executed point lies in it). Guards of
guard_with_if splits become one condition around the body. Every directive is checked against
the stage as it stands, and a conflict raises `ScheduleError` naming Func, stage and directive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.bounds import c64
from pipelines.expr import LE, LT, Add, Const, Div, Expr, Max, Min, Mod, Mul, Sub, Var
from pipelines.mutator import substitute
from pipelines.types import int64
from scheduler.schedule import (
    Bound,
    Fuse,
    Parallel,
    Reorder,
    ScheduleError,
    Split,
    Stream,
    Unroll,
    Vectorize,
    directive_text,
)
from scheduler.simplify import simplify


@dataclass
class Dim:
    """One loop of the stage: `value` of the loop is in [min, min + extent)."""

    name: str
    min: Expr
    extent: Expr
    kind: str = "serial"
    rvar: tuple | None = None  # order key for loops derived from an RVar (None: pure)


@dataclass
class StagePlan:
    loops: list[Dim]  # outermost first
    values: dict[str, Expr]  # definition variable -> value in terms of loop variables
    ranges: dict[str, tuple[Expr, Expr]]  # definition variable -> (lo, hi) over every executed point
    guards: list[Expr] = field(default_factory=list)
    loop_vars: dict[str, str] = field(default_factory=dict)  # schedule name -> IR loop name
    assumptions: list[Expr] = field(default_factory=list)  # conditions under which shifted splits are valid


def plan_stage(
    where: str,
    prefix: str,
    variables: list[tuple[str, Expr, Expr, int | None]],
    directives: list,
    is_update: bool,
    is_output: bool,
    independent_rvars: frozenset[str] = frozenset(),
    shifted: bool = True,
) -> StagePlan:
    """Loops of a stage. `variables` are (name, min, extent, rvar index or None), innermost first;
    loop IR names are `prefix + name`. See the module docstring.

    With `shifted`, a shift_inwards split assumes its extent is at least its factor and records
    that in `assumptions` (no guard in the loop); without it, such a split guards instead. The
    caller runs the first version where the assumptions hold and the second elsewhere."""
    dims = [Dim(n, lo, ext, rvar=None if r is None else (r,)) for n, lo, ext, r in variables]
    value: dict[str, Expr] = {n: _loop(prefix, n) for n, *_ in variables}  # name -> current expression
    origin = {n: n for n, *_ in variables}  # loop name -> the variable it came from
    ranges: dict[str, tuple[Expr, Expr]] = {}
    for n, lo, ext, _ in variables:
        ranges[n] = (lo, simplify(Sub(Add(lo, ext), c64(1))))
    guards: list[Expr] = []
    assumptions: list[Expr] = []

    def find(name: str, what: str) -> int:
        for i, d in enumerate(dims):
            if d.name == name:
                return i
        have = ", ".join(d.name for d in reversed(dims))
        raise ScheduleError(f"{where}.{what}: no loop named {name!r} (the loops are, outermost first: {have})")

    def substitute_var(name: str, replacement: Expr) -> None:
        target = _loop(prefix, name)
        for k, v in value.items():
            value[k] = substitute(v, {target: replacement})
        for k, g in enumerate(guards):
            guards[k] = substitute(g, {target: replacement})

    def split(d: Split, what: str) -> None:
        i = find(d.var, what)
        old = dims[i]
        taken = {x.name for x in dims} - {old.name}
        for new in (d.outer, d.inner):
            if new in taken or (d.outer == d.inner):
                raise ScheduleError(f"{where}.{what}: the new loop name {new!r} is already in use")
        tail = d.tail
        divides = isinstance(old.extent, Const) and int(old.extent.value) % d.factor == 0
        if tail == "auto" and divides:
            tail = "round_up"  # no tail at all: every strategy computes the same points
        elif tail == "auto":
            tail = "guard_with_if" if (is_update or old.rvar is not None) else "shift_inwards"
        if tail == "shift_inwards" and (is_update or old.rvar is not None):
            raise ScheduleError(
                f"{where}.{what}: shift_inwards would compute some points of an update twice; use guard_with_if"
            )
        if tail == "round_up" and is_output and not divides:
            raise ScheduleError(
                f"{where}.{what}: round_up would write past the output buffer; use guard_with_if or shift_inwards"
            )
        if tail == "round_up" and old.rvar is not None and not divides:
            raise ScheduleError(f"{where}.{what}: round_up would add reduction points; use guard_with_if")
        if tail == "round_up" and not divides:
            # Storage is sized from what consumers read, so the extra points of a rounded-up
            # loop would land outside it: guard them instead (the same values, no overrun).
            tail = "guard_with_if"
        factor = c64(d.factor)
        count = simplify(Div(Add(old.extent, c64(d.factor - 1)), factor))
        outer_v, inner_v = _loop(prefix, d.outer), _loop(prefix, d.inner)
        if tail == "shift_inwards" and not shifted:
            tail = "guard_with_if"  # the version for extents smaller than the factor
        if tail == "shift_inwards":
            assumptions.append(simplify(LE(factor, old.extent)))
            base = Min(Mul(outer_v, factor), Sub(old.extent, factor))
        else:
            base = Mul(outer_v, factor)
        # The outer loop may take the split loop's own name (`split(x, x, xi, 8)`), so the new
        # guard is added after the old loop's uses are rewritten, not rewritten with them.
        substitute_var(old.name, simplify(Add(Add(old.min, base), inner_v)))
        if tail == "guard_with_if":
            guards.append(LT(Add(base, inner_v), old.extent))
        key = old.rvar
        outer = Dim(d.outer, c64(0), count, rvar=None if key is None else key + (0,))
        inner = Dim(d.inner, c64(0), factor, rvar=None if key is None else key + (1,))
        dims[i : i + 1] = [inner, outer]
        origin[d.outer] = origin[d.inner] = origin.pop(old.name)

    def fuse(d: Fuse, what: str) -> None:
        i, j = find(d.inner, what), find(d.outer, what)
        if j != i + 1:
            raise ScheduleError(f"{where}.{what}: {d.inner!r} must be the loop just inside {d.outer!r}")
        inner, outer = dims[i], dims[j]
        if (inner.rvar is None) != (outer.rvar is None):
            raise ScheduleError(f"{where}.{what}: cannot fuse a pure loop with a reduction loop")
        fused_v = _loop(prefix, d.fused)
        substitute_var(inner.name, simplify(Add(inner.min, Mod(fused_v, inner.extent))))
        substitute_var(outer.name, simplify(Add(outer.min, Div(fused_v, inner.extent))))
        dims[i : j + 1] = [
            Dim(d.fused, c64(0), simplify(Mul(Max(inner.extent, c64(0)), Max(outer.extent, c64(0)))), rvar=outer.rvar)
        ]
        origin[d.fused] = origin.pop(outer.name)
        origin.pop(inner.name)

    def reorder(d: Reorder, what: str) -> None:
        slots = sorted(find(n, what) for n in d.vars)
        chosen = [dims[find(n, what)] for n in d.vars]
        for slot, dim in zip(slots, chosen, strict=True):
            dims[slot] = dim

    def mark(name: str, kind: str, what: str) -> None:
        i = find(name, what)
        if dims[i].rvar is not None and kind in ("parallel", "vectorized") and not rvar_independent(name):
            raise ScheduleError(
                f"{where}.{what}: {name!r} is a reduction loop that carries a dependency "
                "(iterations read or write the same places)"
            )
        dims[i].kind = kind

    def rvar_independent(name: str) -> bool:
        return origin.get(name) in independent_rvars

    for k, d in enumerate(directives):
        what = f"{type(d).__name__.lower()}[{k}]"
        if isinstance(d, Split):
            split(d, what)
        elif isinstance(d, Fuse):
            fuse(d, what)
        elif isinstance(d, Reorder):
            reorder(d, what)
        elif isinstance(d, Vectorize):
            name = d.var
            if d.width is not None:
                split(Split(d.var, d.var + ".vo", d.var + ".v", d.width), what)
                name = d.var + ".v"
                _rename(dims, origin, d.var + ".vo", d.var, value, guards, prefix)
            mark(name, "vectorized", what)
        elif isinstance(d, Unroll):
            name = d.var
            if d.factor is not None:
                split(Split(d.var, d.var + ".uo", d.var + ".u", d.factor, "guard_with_if"), what)
                name = d.var + ".u"
                _rename(dims, origin, d.var + ".uo", d.var, value, guards, prefix)
            mark(name, "unrolled", what)
        elif isinstance(d, Parallel):
            mark(d.var, "parallel", what)
        elif isinstance(d, Stream):
            if is_update:
                raise ScheduleError(f"{where}.{what}: stream applies to the pure definition (stage 0)")
        elif isinstance(d, Bound):
            if is_update:
                raise ScheduleError(f"{where}.{what}: bound applies to a Func's pure variables (use it on stage 0)")
            find(d.var, what)  # the region itself is set by bounds inference
        else:
            raise ScheduleError(f"{where}: unknown directive {d!r}")
        _check_rvar_order(f"{where}.{directive_text(d)}", dims)
    loops = [Dim(x.name, x.min, x.extent, x.kind, x.rvar) for x in reversed(dims)]
    plan = StagePlan(
        loops,
        {n: simplify(value[n]) for n, *_ in variables},
        ranges,
        [simplify(g) for g in guards],
        {x.name: prefix + x.name for x in dims},
        [a for a in assumptions if not (isinstance(a, Const) and a.value)],
    )
    return plan


def _rename(dims: list[Dim], origin: dict, old: str, new: str, value: dict, guards: list, prefix: str) -> None:
    """Give the loop `old` the name `new` (vectorize(x, 8) keeps `x` for the outer loop)."""
    for d in dims:
        if d.name == old:
            d.name = new
    origin[new] = origin.pop(old)
    mapping = {_loop(prefix, old): _loop(prefix, new)}
    for k, v in value.items():
        value[k] = substitute(v, mapping)
    for k, g in enumerate(guards):
        guards[k] = substitute(g, mapping)


def _loop(prefix: str, name: str) -> Expr:
    return Var(prefix + name, int64)


def _check_rvar_order(where: str, dims: list[Dim]) -> None:
    """Loops derived from RVars must keep the RDom's order (first RVar innermost)."""
    keyed = [d for d in reversed(dims) if d.rvar is not None]  # outermost first
    keys = [tuple(-k if i == 0 else k for i, k in enumerate(d.rvar)) for d in keyed]  # type: ignore[arg-type]
    if keys != sorted(keys):
        names = ", ".join(d.name for d in keyed)
        raise ScheduleError(
            f"{where}: reduction loops ({names}, outermost first) no longer run in the RDom's "
            "order, which can change the result"
        )

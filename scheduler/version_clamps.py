"""Version vector loops on their clamps: the vectors inside a boundary run without them.

A boundary condition reads `input[clamp(x + k, lo, hi)]`; in a vector loop over x that clamp
turns the load into a gather, although only the vectors at the image's edges ever clamp. Halide
partitions such loops; this pass does the same at the grain of one vector.

In: the loop nest after the other passes. After `version_vector_clamps`: every vectorized For
(with no loop inside it) whose body holds an integer min or max with exactly one operand that
moves with the loop's lanes, a moving `int64(int32(v))` (lowering's widening of a coordinate
back to an index), or a moving `int64(e)` of int32 `+ - *` arithmetic (what a clamp's operand
becomes once the clamp is gone: `int64(int32(v) * 2 - 1)`), is

    if (cond) <the loop with each such min/max replaced by its moving operand, each such
              widening by v, and each such arithmetic done in int64> else <the loop>

where `cond` says, for each min/max replaced, that the moving operand's interval over the lanes
lies on the side of the other operand that makes the min/max pick it (`a <= b` for `min(a, b)`,
`a >= b` for `max(a, b)`), for each widening, that v's interval fits int32, and for each
arithmetic, that none of its int32 operations wraps and each int32(v) it reads fits. Intervals are
bounds inference's (pipelines.bounds), over the lanes' range, every other variable a single
point and the loop's own lets expanded; the int32 arithmetic they assume does not wrap, and each
int64 value they narrow to int32, are part of `cond` too. So both branches compute the same
values, and the first has neither clamps nor round trips through int32 for gcc to turn into
gathers.
"""

from __future__ import annotations

from pipelines.bounds import Bounds, Interval, to64, type_range
from pipelines.expr import LE, Add, And, Cast, Const, Expr, Max, Min, Mul, Sub, Var
from pipelines.mutator import children, substitute, walk
from pipelines.simplify import simplify
from pipelines.types import DType, int32, int64
from scheduler.flatten import widen
from scheduler.loopir import Block, For, IfThenElse, LetStmt, Provide, Stmt, Store, map_loops

MAX_VERSIONED = 64  # min/max nodes one loop may drop; a body with more keeps only its clamped version


class LaneBounds(Bounds):
    """Bounds that see through a narrowing of an int64 index to int32, under the obligation that
    its value fits: lowering computes coordinates in int64 and narrows them to int32 Vars.

    Float-to-int casts keep the whole type here: bounded at the lanes' ends (Bounds'
    monotone casts), a resampling's source coordinate made each vector evaluate its float
    arithmetic twice more, with NaN tests, to pick a version (resize_bilinear at 2560x1536 with
    1 thread: 8.98 -> 17.7 ms)."""

    monotone_casts = False

    def _cast(self, t: DType, v: Expr) -> Interval:
        if t == int32 and v.dtype == int64:
            lo, hi = self._interval(v)
            lo, hi = simplify(lo), simplify(hi)
            self.obligations.append((lo, hi, int32))
            return lo, hi
        return super()._cast(t, v)


def version_vector_clamps(stmt: Stmt) -> Stmt:
    """`stmt` with its clamped vector loops versioned (module docstring)."""
    return map_loops(stmt, _versioned)


def _exprs(s: Stmt, lets: dict[Var, Expr]) -> list[tuple[Expr, dict[Var, Expr]]] | None:
    """The expressions of the loop body `s`, each with the body's lets in scope where it stands
    (their values expanded); None when the body holds a statement this pass does not look into."""
    match s:
        case LetStmt(name=n, value=v, body=b):
            inner = {**lets, Var(n, v.dtype): substitute(v, lets)}
            rest = _exprs(b, inner)
            return None if rest is None else [(v, lets), *rest]
        case Block(stmts=stmts):
            found: list[tuple[Expr, dict[Var, Expr]]] = []
            for part in stmts:
                got = _exprs(part, lets)
                if got is None:
                    return None
                found += got
            return found
        case IfThenElse(cond=c, then_case=t, else_case=e):
            parts = [_exprs(t, lets), [] if e is None else _exprs(e, lets)]
            if parts[0] is None or parts[1] is None:
                return None
            return [(c, lets), *parts[0], *parts[1]]
        case Provide(args=args, value=v):
            return [(a, lets) for a in (*args, v)]
        case Store(index=i, value=v):
            return [(i, lets), (v, lets)]
    return None


def _moves(e: Expr, lane: str, inner: dict[Var, Expr]) -> bool:
    return any(isinstance(n, Var) and (n.name == lane or n in inner) for n in walk(e))


def _condition(node: Min | Max, lane: str, scope: dict[str, Interval], lets: dict[Var, Expr]) -> Expr | None:
    """When `node` picks its moving operand on every lane, or None when that cannot be said."""
    a, b = node.a, node.b
    if _moves(b, lane, lets):
        a, b = b, a
    if not _moves(a, lane, lets) or _moves(b, lane, lets):
        return None
    moving, limit = substitute(a, lets), substitute(b, lets)
    if _moves(limit, lane, {}):  # a let of the loop names the lane
        return None
    bounds = LaneBounds(dict(scope))
    try:
        lo, hi = bounds.interval(moving)
    except TypeError:
        return None
    end = lo if isinstance(node, Max) else hi
    kind_min, kind_max = type_range(a.dtype)
    if isinstance(end, Const) and not kind_min.value < end.value < kind_max.value:
        return None  # a data-dependent operand: no bound
    picks: Expr = LE(end, to64(limit)) if isinstance(node, Min) else LE(to64(limit), end)
    fits = fit_condition(bounds.obligations)
    return simplify(picks if fits is None else And(picks, fits))


def fit_condition(obligations: list[tuple[Expr, Expr, DType]]) -> Expr | None:
    """That each (lo, hi, dtype) interval lies within its type, or None for none."""
    cond: Expr | None = None
    for lo, hi, dtype in dict.fromkeys(obligations):
        dmin, dmax = type_range(dtype)
        both = And(LE(dmin, lo), LE(hi, dmax))
        cond = both if cond is None else And(cond, both)
    return simplify(cond) if cond is not None else None


def _widening(node: Cast, lane: str, scope: dict[str, Interval], lets: dict[Var, Expr]) -> Expr | None:
    """When `int64(int32(v))` is v on every lane: v's interval fits int32. gcc cannot see that
    the round trip through int32 keeps consecutive lanes consecutive, and gathers them."""
    v = node.value.value  # type: ignore[attr-defined]
    bounds = LaneBounds(dict(scope))
    try:
        lo, hi = bounds.interval(substitute(v, lets))
    except TypeError:
        return None
    return fit_condition([(lo, hi, int32), *bounds.obligations])


def _int32_arithmetic(n: Expr) -> bool:
    """`int64(e)` with e int32 `+`, `-` or `*`: an index whose C arithmetic is int32, so gcc
    cannot see that consecutive lanes read consecutive addresses."""
    return isinstance(n, Cast) and n.dtype == int64 and n.value.dtype == int32 and isinstance(n.value, (Add, Sub, Mul))


def _arithmetic_widening(node: Cast, scope: dict[str, Interval], lets: dict[Var, Expr]) -> Expr | None:
    """When `int64(e)` equals e done in int64 (`widen`) on every lane: no `+ - *` of e's int32
    spine wraps and each int32(v) on it fits (bounds' obligations); None when an operation on the
    spine reads a value with no bound (a load), whose arithmetic may wrap with no condition to
    say so."""
    tmin, tmax = type_range(int32)
    spine, stack = [], [node.value]
    while stack:
        n = stack.pop()
        if isinstance(n, (Add, Sub, Mul)):
            spine.append(n)
            stack += [n.a, n.b]
    bounds = LaneBounds(dict(scope))
    for n in spine:
        try:
            lo, hi = bounds.interval(substitute(n, lets))
        except TypeError:
            return None
        if lo == tmin or hi == tmax:
            return None
    return fit_condition(bounds.obligations)


def _round_trip(n: Expr) -> bool:
    """`int64(int32(v))` with v int64: how lowering widens an int32 coordinate back to an index."""
    return (
        isinstance(n, Cast)
        and n.dtype == int64
        and isinstance(n.value, Cast)
        and n.value.dtype == int32
        and n.value.value.dtype == int64
    )


ROUNDS = 4  # replacing a clamp can expose a widening, or a clamp inside another's operand


def _versioned(loop: For) -> Stmt | None:
    if loop.kind != "vectorized" or any(isinstance(n, For) for n in walk(loop.body)):
        return None
    scope = {loop.name: (loop.min, simplify(Sub(Add(loop.min, loop.extent), Const(1, int64))))}
    fast, conds, count = loop.body, [], 0
    for _ in range(ROUNDS):
        found = _exprs(fast, {})
        if found is None:
            return None
        inside = {loop.name} | {n.name for n in walk(fast) if isinstance(n, LetStmt)}
        replaced = _replacements(found, loop.name, scope, conds, inside)
        if replaced is None:
            return None
        if not replaced:
            break
        count += len(replaced)
        if count > MAX_VERSIONED:
            return None
        fast = substitute(fast, replaced)
    if fast is loop.body:
        return None
    fast_loop = For(loop.name, loop.min, loop.extent, loop.kind, fast)
    if not conds:
        return fast_loop
    cond = conds[0]
    for c in conds[1:]:
        cond = And(cond, c)
    return IfThenElse(simplify(cond), fast_loop, loop)


def _candidates(expr: Expr, lane: str, lets: dict[Var, Expr]) -> list[tuple[Expr, bool]]:
    """The integer min/max and round-trip nodes of `expr` that move with the lane, each shared
    subtree looked at once, with whether its first operand is the one that moves."""
    moving: dict[int, bool] = {}
    found: list[tuple[Expr, bool]] = []
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in moving:
            continue
        kids = list(children(node))
        if not ready:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in moving)  # type: ignore[misc]
            continue
        here = isinstance(node, Var) and (node.name == lane or node in lets)
        moving[id(node)] = here or any(moving.get(id(k), False) for k in kids)
        widening = _round_trip(node) or _int32_arithmetic(node)
        if moving[id(node)] and (widening or (isinstance(node, (Min, Max)) and node.dtype.is_int)):
            first = moving.get(id(kids[0]), False) if kids else False
            found.append((node, first))
    return found


def _replacements(
    found: list[tuple[Expr, dict[Var, Expr]]],
    lane: str,
    scope: dict[str, Interval],
    conds: list[Expr],
    inside: set[str],
) -> dict[Expr, Expr] | None:
    """The min/max and widening nodes of one round that the lanes decide, each mapped to what it
    becomes; their conditions are added to `conds`. `inside` names what the loop binds, which a
    condition, evaluated before the loop, must not name. None when there are too many."""
    replaced: dict[Expr, Expr] = {}
    tried: set[Expr] = set()
    for expr, lets in found:
        for n, first_moves in _candidates(expr, lane, lets):
            if n in tried:
                continue
            tried.add(n)
            if _round_trip(n):
                cond, picked = _widening(n, lane, scope, lets), n.value.value  # type: ignore[attr-defined]
            elif _int32_arithmetic(n):
                cond, picked = _arithmetic_widening(n, scope, lets), widen(n.value)  # type: ignore[arg-type, attr-defined]
            else:
                cond, picked = _condition(n, lane, scope, lets), n.a if first_moves else n.b  # type: ignore[attr-defined]
            if cond is None or (isinstance(cond, Const) and not cond.value):
                continue
            if any(isinstance(v, Var) and v.name in inside for v in walk(cond)):
                continue  # evaluated before the loop, cond may only name what is bound outside it
            replaced[n] = picked
            if not (isinstance(cond, Const) and cond.value) and cond not in conds:
                conds.append(cond)
            if len(replaced) > MAX_VERSIONED:
                return None
    return replaced

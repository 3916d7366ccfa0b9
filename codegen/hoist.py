"""Loop-invariant code motion on the lowered statement tree, before C is emitted.

After `hoist_invariants(body)`: every loop's body computes no subexpression that names no
variable bound inside the loop (its own, an inner loop's, a let's) and reads no buffer; each such
largest subexpression of a store, a let or a condition is let-bound just outside the loop
instead, and, loop by loop from the innermost, as far out as it stays invariant.

gcc's own loop-invariant motion does not move a value that holds branches (a saturating
float-to-int conversion, a clamp, a select). Left in a vector loop, such a value made every
index that uses it look non-affine, so contiguous loads became gathers (the rows a resize reads,
for one); left in the loop over vectors around it, it was recomputed for every vector.
Computing a value before a loop that may not run is safe: without reads, no operation traps.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from pipelines.expr import Const, Expr, ImageDim, Param, RVar, Var
from pipelines.mutator import children, substitute, walk
from scheduler.loopir import Allocate, Block, Check, For, IfThenElse, LetStmt, Load, Nop, Stmt, Store


def hoist_invariants(body: Stmt) -> Stmt:
    """`body` with loop invariants computed outside their loops (module docstring)."""
    return _Hoister().stmt(body)


class _Hoister:
    def __init__(self) -> None:
        self.loops = itertools.count()

    def stmt(self, s: Stmt) -> Stmt:
        match s:
            case For(name=n, min=lo, extent=ext, kind=kind, body=b):
                body = self.stmt(b)
                bound = {n} | set(_bound_names(body))
                found: dict[Expr, None] = {}
                for e in _expressions(body):
                    _collect(e, bound, found)
                if not found:
                    return For(n, lo, ext, kind, body)
                k = next(self.loops)
                lets = [(Var(f"inv{k}.{j}", e.dtype), e) for j, e in enumerate(found)]
                mapping: dict[Expr, Expr] = {e: var for var, e in lets}
                hoisted: Stmt = For(n, lo, ext, kind, _replace(body, mapping))
                for var, e in reversed(lets):
                    hoisted = LetStmt(var.name, e, hoisted)
                return hoisted
            case Block(stmts=ss):
                return Block(tuple(self.stmt(x) for x in ss))
            case LetStmt(name=n, value=v, body=b):
                return LetStmt(n, v, self.stmt(b))
            case IfThenElse(cond=c, then_case=t, else_case=e):
                return IfThenElse(c, self.stmt(t), self.stmt(e) if e is not None else None)
            case Allocate():
                return Allocate(s.name, s.dtype, s.extents, self.stmt(s.body))
        return s


def _bound_names(s: Stmt) -> Iterator[str]:
    """Names of the variables that statements inside `s` bind (loops and lets)."""
    for n in walk(s):
        if isinstance(n, (For, LetStmt)):
            yield n.name


def _expressions(s: Stmt) -> Iterator[Expr]:
    """The expressions of the stores, lets and conditions inside `s`."""
    for n in walk(s):
        match n:
            case Store(index=i, value=v):
                yield i
                yield v
            case LetStmt(value=v):
                yield v
            case IfThenElse(cond=c):
                yield c


def _collect(e: Expr, bound: set[str], found: dict[Expr, None]) -> None:
    """Add the largest subexpressions of `e` that read nothing and name no `bound` variable
    (the index of a read is searched, the read itself kept)."""
    if isinstance(e, (Const, Var, RVar, Param, ImageDim)):
        return
    if isinstance(e, Load):
        _collect(e.index, bound, found)
        return
    if not any(isinstance(n, Load) or (isinstance(n, (Var, RVar)) and n.name in bound) for n in walk(e)):
        found[e] = None
        return
    for child in children(e):
        if isinstance(child, Expr):
            _collect(child, bound, found)


def _replace(s: Stmt, mapping: dict[Expr, Expr]) -> Stmt:
    """`s` with the keys of `mapping` replaced in its stores, lets and conditions."""
    match s:
        case Store(buffer=buf, index=i, value=v):
            return Store(buf, substitute(i, mapping), substitute(v, mapping))
        case For(name=n, min=lo, extent=ext, kind=kind, body=b):
            return For(n, lo, ext, kind, _replace(b, mapping))
        case Block(stmts=ss):
            return Block(tuple(_replace(x, mapping) for x in ss))
        case LetStmt(name=n, value=v, body=b):
            return LetStmt(n, substitute(v, mapping), _replace(b, mapping))
        case IfThenElse(cond=c, then_case=t, else_case=e):
            otherwise = _replace(e, mapping) if e is not None else None
            return IfThenElse(substitute(c, mapping), _replace(t, mapping), otherwise)
        case Allocate():
            return Allocate(s.name, s.dtype, s.extents, _replace(s.body, mapping))
        case Check() | Nop():
            return s
    return s

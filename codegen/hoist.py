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
from pipelines.mutator import children, map_children, substitute
from scheduler.loopir import For, IfThenElse, LetStmt, Load, LookupCopy, Stmt, Store, StreamStore


def hoist_invariants(body: Stmt) -> Stmt:
    """`body` with loop invariants computed outside their loops (module docstring)."""
    return _Hoister().stmt(body)


class _Hoister:
    def __init__(self) -> None:
        self.loops = itertools.count()
        # per expression: the variables it names and whether it reads a buffer, found once
        # (each loop around an expression asks again)
        self.free: dict[Expr, tuple[frozenset[str], bool]] = {}

    def stmt(self, s: Stmt) -> Stmt:
        if not isinstance(s, For):
            return map_children(s, self.stmt) if isinstance(s, Stmt) else s
        body = self.stmt(s.body)
        bound = {s.name} | set(_bound_names(body))
        found: dict[Expr, None] = {}
        for e in _expressions(body):
            self.collect(e, bound, found)
        if not found:
            return For(s.name, s.min, s.extent, s.kind, body)
        k = next(self.loops)
        lets = [(Var(f"inv{k}.{j}", e.dtype), e) for j, e in enumerate(found)]
        hoisted: Stmt = For(s.name, s.min, s.extent, s.kind, substitute(body, {e: var for var, e in lets}))
        for var, e in reversed(lets):
            hoisted = LetStmt(var.name, e, hoisted)
        return hoisted

    def names_and_reads(self, e: Expr) -> tuple[frozenset[str], bool]:
        known = self.free.get(e)
        if known is None:
            names = {e.name} if isinstance(e, (Var, RVar)) else set()
            reads = isinstance(e, Load)
            for child in children(e):
                if isinstance(child, Expr):
                    child_names, child_reads = self.names_and_reads(child)
                    names |= child_names
                    reads = reads or child_reads
            known = self.free[e] = (frozenset(names), reads)
        return known

    def collect(self, e: Expr, bound: set[str], found: dict[Expr, None]) -> None:
        """Add the largest subexpressions of `e` that read nothing and name no `bound`
        variable (the index of a read is searched, the read itself kept)."""
        if isinstance(e, (Const, Var, RVar, Param, ImageDim)):
            return
        if isinstance(e, Load):
            self.collect(e.index, bound, found)
            return
        names, reads = self.names_and_reads(e)
        if not reads and not names & bound:
            found[e] = None
            return
        for child in children(e):
            if isinstance(child, Expr):
                self.collect(child, bound, found)


def _statements(s: Stmt) -> Iterator[Stmt]:
    """Every statement of the tree `s` (its expressions are not searched)."""
    stack = [s]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(c for c in children(n) if isinstance(c, Stmt))


def _bound_names(s: Stmt) -> Iterator[str]:
    """Names of the variables that statements inside `s` bind (loops and lets)."""
    for n in _statements(s):
        if isinstance(n, (For, LetStmt)):
            yield n.name


def _expressions(s: Stmt) -> Iterator[Expr]:
    """The expressions of the stores, lets and conditions inside `s`."""
    for n in _statements(s):
        match n:
            case Store(index=i, value=v):
                yield i
                yield v
            case StreamStore(index=i):
                yield i
            case LookupCopy(index=i, limit=lim):
                yield i
                yield lim
            case LetStmt(value=v):
                yield v
            case IfThenElse(cond=c):
                yield c

"""Guarded vector loops split into a main part without the guard and a tail with it.

A split with a guard_with_if tail (every update, and intermediates whose extent the factor does
not divide) puts its test inside the vector loop:

    for x in [0, (E + 7) / 8):
      for vectorized x_v in [0, 8):
        if x*8 + x_v < E: body

The test makes every load and store of `body` a masked one, which gcc often cannot vectorize at
all (it reports "no vectype for stmt: .MASK_LOAD") or does with masks it then has to compute in
64-bit lanes. After `split_vector_tails(stmt)` each such nest becomes

    for x in [0, max(E / 8, 0)):            (the guard holds at every point: dropped)
      for vectorized x_v in [0, 8): body
    for x in [max(E / 8, 0), +(E + 7) / 8 - max(E / 8, 0)):   (at most one iteration)
      for vectorized x_v in [0, 8):
        if x*8 + x_v < E: body

which runs the same points in the same order. Only a serial outer loop, whose guard bound `E`
does not depend on it or on anything bound inside it, is rewritten; Let statements between the
two loops are kept in both copies.
"""

from __future__ import annotations

from pipelines.bounds import c64
from pipelines.expr import LT, Add, Const, Div, Expr, Max, Mul, Sub, Var
from pipelines.mutator import walk
from pipelines.types import int64
from scheduler.loopir import Block, For, IfThenElse, LetStmt, Stmt, map_loops
from scheduler.simplify import simplify


def split_vector_tails(stmt: Stmt) -> Stmt:
    """`stmt` with every guarded vector loop split (module docstring); the same object if none."""
    return map_loops(stmt, _split)


def _split(outer: For) -> Stmt | None:
    if outer.kind != "serial" or not (isinstance(outer.min, Const) and outer.min.value == 0):
        return None
    lets: list[LetStmt] = []
    inner = outer.body
    while isinstance(inner, LetStmt):
        lets.append(inner)
        inner = inner.body
    if not (isinstance(inner, For) and inner.kind == "vectorized" and isinstance(inner.extent, Const)):
        return None
    width = int(inner.extent.value)  # type: ignore[arg-type]
    if width < 2 or not (isinstance(inner.min, Const) and inner.min.value == 0):
        return None
    bound_inside = {outer.name, *(let.name for let in lets)}
    found = _find_guard(inner.body, outer.name, inner.name, width, bound_inside)
    if found is None:
        return None
    limit, unguarded = found
    main_count = simplify(Max(Div(limit, c64(width)), c64(0)))
    main_inner = For(inner.name, inner.min, inner.extent, inner.kind, unguarded)
    main = For(outer.name, outer.min, main_count, "serial", _rewrap(lets, main_inner))
    tail_count = simplify(Sub(outer.extent, main_count))
    tail = For(outer.name, main_count, tail_count, "serial", outer.body)
    return Block((main, tail))


def _find_guard(body: Stmt, outer: str, inner: str, width: int, bound_inside: set[str]) -> tuple[Expr, Stmt] | None:
    """(E, body without the guard) when `body` is a chain of ifs (without else) one of which
    tests `outer*width + inner < E` with E free of the loops and of lets bound inside them."""
    chain: list[IfThenElse] = []
    s = body
    while isinstance(s, IfThenElse) and s.else_case is None:
        chain.append(s)
        s = s.then_case
    for k, guard in enumerate(chain):
        limit = _guard_limit(guard.cond, outer, inner, width, bound_inside)
        if limit is None:
            continue
        rest: Stmt = guard.then_case
        for other in reversed(chain[:k]):
            rest = IfThenElse(other.cond, rest)
        return limit, rest
    return None


def _guard_limit(cond: Expr, outer: str, inner: str, width: int, bound_inside: set[str]) -> Expr | None:
    if not isinstance(cond, LT) or cond.a.dtype != int64:
        return None
    position = Add(Mul(Var(outer, int64), c64(width)), Var(inner, int64))
    difference = simplify(Sub(cond.a, position))
    if not (isinstance(difference, Const) and difference.value == 0):
        return None
    if any(isinstance(n, Var) and n.name in bound_inside | {inner} for n in walk(cond.b)):
        return None
    return cond.b


def _rewrap(lets: list[LetStmt], body: Stmt) -> Stmt:
    for let in reversed(lets):
        body = LetStmt(let.name, let.value, body)
    return body

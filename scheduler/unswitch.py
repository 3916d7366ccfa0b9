"""Vector loops whose body branches on a condition that is the same for every lane run one copy
per outcome.

A select on a lane-invariant condition (the channel in `select(c < 1, red, green)`, the row's
parity in a Bayer interleave, a split's tail test on an outer variable) is a blend in a vector
loop: both branches computed, and gcc 12 does not vectorize the loop at all when the values are
narrower than the condition it materialises ("relevant stmt not supported: _ifc_ = cond ? a :
b"). After `unswitch_vector_loops(stmt)`, each innermost vector loop whose body selects or
branches on up to MAX_CONDITIONS such conditions c1, c2, ... is

    if c1:
      if c2: loop[c1 := true, c2 := true]  else: loop[c1 := true, c2 := false]
    else:
      ...

each copy simplified, so its selects keep one branch. A condition qualifies when it names
neither the lane nor anything bound inside the loop and reads no memory (the loop may write
what it would read). The conditions are evaluated once per entry to the loop instead of per
lane; every point runs the same code on the same values, in the same order.

Loops of every kind also have the ifs that make up their whole body and test a condition
invariant in them moved outside (`_lift_guards`): that needs no copy, and it is what keeps a
split whose factor is far beyond its extent (an inner loop of 2^20 guarded iterations in each of
2^20 outer ones) from running its empty iterations.
"""

from __future__ import annotations

from collections import Counter

from pipelines.expr import Const, Expr, Node, Select
from pipelines.mutator import substitute, walk
from pipelines.types import bool_
from scheduler.loopir import For, IfThenElse, Nop, Stmt, invariant_in, map_loops, names_bound_in
from scheduler.simplify import simplify

MAX_CONDITIONS = 3
"""Most conditions a loop is unswitched on: 2^MAX_CONDITIONS copies of its body at most."""


def unswitch_vector_loops(stmt: Stmt) -> Stmt:
    """`stmt` with every innermost vector loop unswitched on its lane-invariant conditions
    (module docstring); the same object if there is none."""
    return map_loops(stmt, _unswitch)


def _unswitch(loop: For) -> Stmt:
    guards, loop = _lift_guards(loop)
    result: Stmt = loop
    if loop.kind == "vectorized" and not any(isinstance(n, For) for n in walk(loop.body)):
        conditions = _invariant_conditions(loop)
        result = _versions(loop, conditions) if conditions else loop
    for cond in reversed(guards):
        result = IfThenElse(cond, result)
    return result


def _lift_guards(loop: For) -> tuple[list[Expr], For]:
    """The conditions to test before `loop`, and the loop without them: for a loop of any kind
    whose whole body is a chain of ifs without else, those of the chain's conditions that are
    invariant in it (a split's tail test on an outer loop's variable, inside the inner loop).
    No copy is made, and an outer iteration whose test fails skips the inner loop instead of
    running it empty. Pure conditions commute, so the chain's order does not matter."""
    chain: list[Expr] = []
    body = loop.body
    while isinstance(body, IfThenElse) and body.else_case is None:
        chain.append(body.cond)
        body = body.then_case
    inside = names_bound_in(loop)
    fixed = [c for c in chain if _invariant(c, inside)]
    if not fixed:
        return [], loop
    for cond in reversed([c for c in chain if not _invariant(c, inside)]):
        body = IfThenElse(cond, body)
    return fixed, For(loop.name, loop.min, loop.extent, loop.kind, body)  # type: ignore[arg-type]


def _invariant(cond: Expr, inside: set[str]) -> bool:
    if isinstance(cond, Const) or cond.dtype != bool_:
        return False
    return invariant_in(cond, inside)


def _invariant_conditions(loop: For) -> list[Expr]:
    inside = names_bound_in(loop)
    counts: Counter[Expr] = Counter()
    for n in walk(loop.body):
        if isinstance(n, (Select, IfThenElse)) and _invariant(n.cond, inside):
            counts[n.cond] += 1
    return [c for c, _ in counts.most_common(MAX_CONDITIONS)]


def _versions(loop: For, conditions: list[Expr]) -> Stmt:
    if not conditions:
        return loop
    first, rest = conditions[0], conditions[1:]
    copies: list[Stmt] = []
    for outcome in (True, False):
        body = simplify(substitute(loop.body, {first: Const(outcome, bool_)}))
        if isinstance(body, Nop):  # the outcome leaves nothing to do (a tail test that fails)
            copies.append(body)
            continue
        copy = For(loop.name, loop.min, loop.extent, loop.kind, body)  # type: ignore[arg-type]
        copies.append(_versions(copy, [c for c in rest if _present(copy, c)]))
    return IfThenElse(first, copies[0], copies[1])


def _present(node: Node, cond: Expr) -> bool:
    return any(n == cond for n in walk(node))

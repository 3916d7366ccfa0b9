"""Unrolled loops with a constant trip count, copied out in the IR.

After `unroll_loops(stmt)`, every loop of kind "unrolled" whose extent is a constant of at most
MAX_UNROLL is a block of its body's copies, one per iteration in order, each with the loop
variable replaced by its constant value and simplified: a select on the variable (a channel's
formula in `select(c == 0, r, c == 1, g, b)`) keeps one branch, and a vector loop around the
copies (`reorder(c, x)` with c unrolled and x vectorized) holds straight-line code that reads
each input once for all of them. The same points run in the same order. Loops left as they are
(a trip count known only at run time, or above MAX_UNROLL) keep the `unrolled` kind, which
code generation passes on to the C compiler as an unroll hint.
"""

from __future__ import annotations

from pipelines.expr import Const, Var
from pipelines.mutator import substitute, walk
from scheduler.loopir import For, Stmt, block, map_loops
from scheduler.simplify import simplify

MAX_UNROLL = 16
"""Most copies of a loop body made in the IR; each one is lowered and compiled separately."""


def unroll_loops(stmt: Stmt) -> Stmt:
    """`stmt` with its constant-extent unrolled loops copied out (module docstring); the same
    object if there is none."""
    return map_loops(stmt, _unroll)


def _unroll(loop: For) -> Stmt | None:
    if loop.kind != "unrolled" or not isinstance(loop.extent, Const) or not isinstance(loop.min, Const):
        return None
    count = int(loop.extent.value)
    if count > MAX_UNROLL:
        return None
    uses = {n for n in walk(loop.body) if isinstance(n, Var) and n.name == loop.name}
    first = int(loop.min.value)
    copies = []
    for i in range(first, first + count):
        copies.append(simplify(substitute(loop.body, {v: Const(i, v.dtype) for v in uses})))
    return block(*copies)

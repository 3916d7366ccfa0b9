"""The simplifier over loop-nest statements as well as expressions.

After `simplify(node)`: every expression inside is simplified as `pipelines.simplify` does
(canonical linear form, constant folding), and an if-then-else on a constant condition is
replaced by the branch it takes.
"""

from __future__ import annotations

from pipelines.expr import Const, Node
from pipelines.simplify import Simplify, simplify_top
from scheduler.loopir import IfThenElse, Nop

__all__ = ["simplify", "simplify_top"]


class _StmtSimplify(Simplify):
    def visit_IfThenElse(self, s: IfThenElse) -> Node:
        if isinstance(s.cond, Const):
            return s.then_case if s.cond.value else (s.else_case if s.else_case is not None else Nop())
        return s


def simplify(node: Node) -> Node:
    """The simplified form of an expression or statement (the same object if nothing changed)."""
    return _StmtSimplify().visit(node)

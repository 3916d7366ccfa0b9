"""Prune clamps: drop min/max and comparisons that the enclosing loops and conditions decide.

In: a flat loop nest (after storage flattening and simplification) and the root lets. A tile's
region is written as the consumer's tile clamped to the region computed over the whole output
(`max(max(tile_min, f.min), f.gmin)`), so that tails of any strategy stay inside storage; a
ShiftInwards split writes its tile start as `min(xo * 256, extent - 256)` under a guard
`256 <= extent`. Inside that guard the clamps never bind, but the canonical-linear simplifier
cannot see it, so the producer's region extent stays symbolic: its vector loop runs a computed
trip count through a division, clamps every vector's index, and keeps a scalar fallback.

After `prune_clamps`: every int64 min/max whose operands are ordered by the facts in scope is
replaced by the operand it picks, every int64 comparison so decided is a constant, an if on a
constant takes its branch, and a loop bound or let value that becomes a constant once region
symbols are expanded is that constant (so tile-interior extents such as 256 and trip counts
such as 32 are literals in the C). Facts in scope: each loop variable lies in
[min, min + extent - 1] inside its body; the condition of an if holds in its then-branch; each
int64 let equals its value. All reasoning is exact over int64 (region symbols are far from
overflow, as the simplifier already assumes for int64).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.expr import LE, LT, Add, And, Const, Expr, Max, Min, Node, Sub, Var
from pipelines.mutator import Mutator, map_children, substitute
from pipelines.simplify import linear, simplify, static_range
from pipelines.types import int64
from scheduler.loopir import For, IfThenElse, LetStmt, Nop, Stmt

MAX_DEPTH = 6  # nested min/max splits tried per proof; deeper ones are left alone

Linear = tuple[dict[Expr, int], int]


@dataclass
class Facts:
    """What holds at one point of the loop nest, with every let expanded away."""

    defs: dict[Var, Expr] = field(default_factory=dict)  # int64 let -> its expanded value
    lower: dict[Expr, int] = field(default_factory=dict)  # loop variable -> constant minimum
    upper: dict[Expr, int] = field(default_factory=dict)  # loop variable -> constant maximum
    nonneg: list[Linear] = field(default_factory=list)  # linear forms known to be >= 0
    expanded: dict[Expr, Expr] = field(default_factory=dict)  # memo of `expand` under these defs
    # memo of `_nonneg` under exactly these facts (a child knows more, so it starts afresh)
    proved: dict[tuple[frozenset[tuple[Expr, int]], int], bool] = field(default_factory=dict)

    def child(self, same_defs: bool = True) -> Facts:
        memo = self.expanded if same_defs else {}  # shared: expansion depends on defs alone
        return Facts(dict(self.defs), dict(self.lower), dict(self.upper), list(self.nonneg), memo)

    def expand(self, e: Expr) -> Expr:
        """`e` with every let replaced by its value, simplified."""
        done = self.expanded.get(e)
        if done is None:
            done = simplify(substitute(e, self.defs)) if self.defs else simplify(e)  # type: ignore[arg-type]
            self.expanded[e] = done
        return done


def _nonneg(terms: dict[Expr, int], constant: int, facts: Facts, depth: int) -> bool:
    """Whether the linear form `sum(k * t) + constant` is >= 0 wherever `facts` hold. A min or
    max term is split into its two sides, kept as linear forms: rebuilding and simplifying the
    expression for each side costs time exponential in the depth of nested clamps (a chain of
    compute_at producers clamps each region to the next one's)."""
    key = (frozenset(terms.items()), constant)
    known = facts.proved.get(key)
    if known is not None:
        return known
    result = _decide(terms, constant, facts, depth)
    facts.proved[key] = result
    return result


def _decide(terms: dict[Expr, int], constant: int, facts: Facts, depth: int) -> bool:
    for t, k in terms.items():
        if isinstance(t, (Min, Max)) and k in (1, -1) and depth < MAX_DEPTH:
            rest = {u: c for u, c in terms.items() if u != t}
            # c + min(a, b) = min(c + a, c + b); c - min(a, b) = max(c - a, c - b)
            sides = [
                (_add(rest, side_terms, k), constant + k * side_constant)
                for side_terms, side_constant in (linear(t.a), linear(t.b))
            ]
            both = isinstance(t, Min) == (k == 1)
            results = (_nonneg(st, sc, facts, depth + 1) for st, sc in sides)
            return all(results) if both else any(results)
    for fact_terms, fact_constant in [({}, 0), *facts.nonneg]:
        rest = _add(terms, fact_terms, -1)
        low = constant - fact_constant
        for t, k in rest.items():
            bound = (facts.lower.get(t) if k > 0 else facts.upper.get(t)) if isinstance(t, Var) else None
            if bound is None:
                r = static_range(t)
                bound = None if r is None else (r[0] if k > 0 else r[1])
            if bound is None:
                break
            low += k * bound
        else:
            if low >= 0:
                return True
    return False


def _add(a: dict[Expr, int], b: dict[Expr, int], sign: int) -> dict[Expr, int]:
    out = dict(a)
    for t, c in b.items():
        out[t] = out.get(t, 0) + sign * c
    return {t: c for t, c in out.items() if c != 0}


def _negated(terms: dict[Expr, int]) -> dict[Expr, int]:
    return {t: -k for t, k in terms.items()}


def _difference(a: Expr, b: Expr, facts: Facts) -> Linear:
    """`a - b` expanded, as a linear form. Each side is expanded on its own (and memoized):
    the same clamp bounds recur in every access of a stencil."""
    ta, ca = linear(facts.expand(a))
    tb, cb = linear(facts.expand(b))
    return _add(ta, tb, -1), ca - cb


class _Rewrite(Mutator):
    """Expression rewrite under fixed facts (bottom-up)."""

    def __init__(self, facts: Facts):
        self.facts = facts

    def visit(self, node: Node) -> Node:
        node = map_children(node, self.visit)
        if not isinstance(node, Expr) or node.dtype != int64 and not isinstance(node, (LE, LT)):
            return node
        if isinstance(node, (Min, Max)):
            terms, constant = _difference(node.b, node.a, self.facts)  # b - a
            if _nonneg(terms, constant, self.facts, 0):  # a <= b
                return node.a if isinstance(node, Min) else node.b
            if _nonneg(_negated(terms), -constant, self.facts, 0):  # b <= a
                return node.b if isinstance(node, Min) else node.a
            return node
        if isinstance(node, (LE, LT)) and node.a.dtype == int64:
            slack = 1 if isinstance(node, LT) else 0
            terms, constant = _difference(node.b, node.a, self.facts)  # holds iff d - slack >= 0
            if _nonneg(terms, constant - slack, self.facts, 0):
                return Const(True, node.dtype)
            if _nonneg(_negated(terms), slack - 1 - constant, self.facts, 0):
                return Const(False, node.dtype)
        return node


def _constant_or(e: Expr, facts: Facts) -> Expr:
    """`e` rewritten, or the constant it expands to (a region extent inside a tile)."""
    e = _Rewrite(facts).visit(e)  # type: ignore[assignment]
    if e.dtype == int64 and not isinstance(e, Const):
        full = facts.expand(e)
        if isinstance(full, Const):
            return full
    return e


def _facts_of(cond: Expr, facts: Facts) -> None:
    """Add what `cond` (true) says about int64 differences to `facts`."""
    match cond:
        case And(a=a, b=b):
            _facts_of(a, facts)
            _facts_of(b, facts)
        case LE(a=a, b=b) | LT(a=a, b=b) if a.dtype == int64:
            terms, constant = _difference(b, a, facts)
            facts.nonneg.append((terms, constant - (1 if isinstance(cond, LT) else 0)))


def _in_loop(s: For, lo: Expr, ext: Expr, facts: Facts) -> Facts:
    """The facts inside loop `s` (which runs its body only when its extent is positive)."""
    inner = facts.child()
    var = Var(s.name, int64)
    first, count = facts.expand(lo), facts.expand(ext)
    last = simplify(Sub(Add(first, count), Const(1, int64)))
    if isinstance(first, Const):
        inner.lower[var] = int(first.value)
    if isinstance(last, Const):
        inner.upper[var] = int(last.value)
    for high, low in ((last, var), (var, first)):  # var <= last and first <= var
        terms, constant = linear(simplify(Sub(high, low)))
        inner.nonneg.append((terms, constant))
    return inner


def _prune(s: Stmt, facts: Facts) -> Stmt:
    match s:
        case For(name=n, min=lo, extent=ext, body=b) if lo.dtype == int64:
            lo, ext = _constant_or(lo, facts), _constant_or(ext, facts)
            body = _prune(b, _in_loop(s, lo, ext, facts))
            if lo is s.min and ext is s.extent and body is b:
                return s
            return For(n, lo, ext, s.kind, body)
        case LetStmt(name=n, value=v, body=b):
            v = _constant_or(v, facts)
            inner = facts
            if v.dtype == int64:
                inner = facts.child(same_defs=False)
                inner.defs[Var(n, int64)] = facts.expand(v)
            body = _prune(b, inner)
            return s if (v is s.value and body is b) else LetStmt(n, v, body)
        case IfThenElse(cond=c, then_case=t, else_case=e):
            c = _Rewrite(facts).visit(c)  # type: ignore[assignment]
            if isinstance(c, Const):
                taken = t if c.value else e
                return _prune(taken, facts) if taken is not None else Nop()
            inner = facts.child()
            _facts_of(c, inner)
            then_case = _prune(t, inner)
            else_case = _prune(e, facts) if e is not None else None
            if c is s.cond and then_case is t and else_case is e:
                return s
            return IfThenElse(c, then_case, else_case)
    rewrite = _Rewrite(facts)
    return map_children(s, lambda child: _prune(child, facts) if isinstance(child, Stmt) else rewrite.visit(child))  # type: ignore[return-value]


def prune_clamps(body: Stmt, lets: list[tuple[str, Expr]]) -> Stmt:
    """`body` with the clamps that its loops, conditions and `lets` (bound around it, in
    order) decide removed; the same object when nothing changed."""
    facts = Facts()
    for name, value in lets:
        if value.dtype == int64:
            facts.defs[Var(name, int64)] = facts.expand(value)
    return _prune(body, facts)

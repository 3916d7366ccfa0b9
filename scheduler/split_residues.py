"""Vector loops that divide their coordinate by a small constant, unrolled by its residues.

Upsampling and Bayer interleaving read `f[x / 2]` and choose by `x % 2`. In a vector loop over
x those are per-lane divisions, selects that evaluate both branches, and loads at `x / 2` that
gcc can only do as gathers. With x = base + lane and base's residue r = base % 2 known, lane
2v + p has `x % 2 = (r + p) % 2` and `x / 2 = (base - r) / 2 + v + (r + p) / 2` exactly, so after
`split_vector_residues(stmt)` each such loop becomes

    if (base % 2 == 0 [&& base within +-2^30, when x is int32]):
      for vectorized v in [0, L / 2):
        body[x % 2 := 0, x / 2 := base / 2 + v, lane := 2v]
        body[x % 2 := 1, x / 2 := base / 2 + v, lane := 2v + 1]
    else if (base % 2 == 1 [&& ...]):
      for vectorized v in [0, L / 2):
        body[x % 2 := 1, x / 2 := (base - 1) / 2 + v, lane := 2v]
        body[x % 2 := 0, x / 2 := (base - 1) / 2 + v + 1, lane := 2v + 1]
    else:
      (the loop unchanged)

which runs the same points in the same order: the selects on `x % 2` fold to one branch, the
loads at `x / 2` are contiguous in v, and the stores form an interleaved group that gcc
vectorizes with shuffles. Both parities matter: a stage read at x - 1 is computed from an odd
x. In general the divisor may be any constant d in [2, MAX_DIVISOR]; several divisors in one
loop are served by their least common multiple m (which must divide the loop's extent L and
leave at least 2 lanes), and a dividend `base + c + lane` with a constant c becomes
`(base - r) / d + (m / d) v + floor((p + r + c) / d)` and `(p + r + c) mod d`. Division and
modulo are Euclidean (floor, for positive divisors), as everywhere in Saline. An int64 index
`int64(x / 2 + k)` is computed in int64, where it is affine in v: the base's range leaves the
int32 sum no room to wrap.

A dividend is recognised when its only lane-dependent term is the lane variable itself (int64)
or an int32 cast of an int64 expression that is linear in it with coefficient 1. Several
different bases in one loop are versioned on sharing one residue. Other divisions are left as
they are and only see the lane substituted.
"""

from __future__ import annotations

import math

from pipelines.expr import EQ, LE, Add, And, Cast, Const, Div, Expr, Mod, Mul, Node, Sub, Var
from pipelines.mutator import Mutator, map_children, walk
from pipelines.simplify import from_linear, linear
from pipelines.types import DType, int32, int64
from scheduler.loopir import Block, For, IfThenElse, Stmt, map_loops
from scheduler.simplify import simplify

MAX_DIVISOR = 8
"""Largest residue count unrolled: each residue is a copy of the loop body."""

_INT32_ROOM = 1 << 30
"""An int32 base within +-2^30 leaves room for any lane and constant offset below 2^30."""

_SMALL = 1 << 20
"""Coefficients and constants up to this size keep a widened int32 sum from wrapping."""


def split_vector_residues(stmt: Stmt) -> Stmt:
    """`stmt` with every vector loop that divides its coordinate unrolled by residues (module
    docstring); the same object if there is none."""
    return map_loops(stmt, _split)


class _Dividend:
    """`base + constant + lane` in `dtype`, with `base` free of the lane."""

    def __init__(self, base: Expr, constant: int, dtype: DType) -> None:
        self.base, self.constant, self.dtype = base, constant, dtype


def _split(loop: For) -> Stmt | None:
    if loop.kind != "vectorized" or not (
        isinstance(loop.min, Const) and loop.min.value == 0 and isinstance(loop.extent, Const)
    ):
        return None
    lanes, lane = int(loop.extent.value), loop.name  # type: ignore[arg-type]
    found: dict[Node, _Dividend] = {}
    for node in walk(loop.body):
        if isinstance(node, (Div, Mod)) and node not in found:
            dividend = _dividend(node, lane)
            if dividend is not None:
                found[node] = dividend
    if not found:
        return None
    m = math.lcm(*(int(n.b.value) for n in found))  # type: ignore[attr-defined]
    if m > MAX_DIVISOR or lanes % m or lanes // m < 2:
        return None
    bases = {(d.base, d.dtype): None for d in found.values()}
    result: Stmt = loop
    for shift in reversed(range(m)):  # base % m == shift: one version each, tested in turn
        cond: Expr | None = None
        for base, dtype in bases:
            test: Expr = EQ(Mod(base, Const(m, dtype)), Const(shift, dtype))
            if dtype == int32:
                test = And(And(LE(Const(-_INT32_ROOM, int32), base), LE(base, Const(_INT32_ROOM, int32))), test)
            cond = test if cond is None else And(cond, test)
        assert cond is not None
        copies = [simplify(_Residue(lane, m, p, shift, found).visit(loop.body)) for p in range(m)]
        unrolled = For(lane, Const(0, int64), Const(lanes // m, int64), "vectorized", Block(tuple(copies)))
        result = IfThenElse(cond, unrolled, result)
    return result


def _dividend(node: Div | Mod, lane: str) -> _Dividend | None:
    """The dividend of `node` as base + constant + lane, when it has that form and a constant
    divisor in [2, MAX_DIVISOR]."""
    divisor, e = node.b, node.a
    if not (isinstance(divisor, Const) and 2 <= int(divisor.value) <= MAX_DIVISOR):
        return None
    if e.dtype not in (int32, int64) or not _uses(e, lane):
        return None
    terms, constant = linear(e)
    moving = [t for t in terms if _uses(t, lane)]
    if len(moving) != 1 or terms[moving[0]] != 1:
        return None
    term = moving[0]
    rest = {t: c for t, c in terms.items() if t is not term}
    if e.dtype == int64:
        return _Dividend(from_linear(rest, 0, int64), constant, int64) if term == Var(lane, int64) else None
    if not (isinstance(term, Cast) and term.value.dtype == int64):
        return None
    inner, inner_constant = linear(term.value)
    if inner.get(Var(lane, int64)) != 1 or any(_uses(t, lane) for t in inner if t != Var(lane, int64)):
        return None
    inner_rest = {t: c for t, c in inner.items() if t != Var(lane, int64)}
    base = Add(Cast(int32, from_linear(inner_rest, 0, int64)), from_linear(rest, 0, int32))
    return _Dividend(simplify(base), constant + inner_constant, int32)


def _uses(e: Node, lane: str) -> bool:
    return any(isinstance(n, Var) and n.name == lane for n in walk(e))


class _Residue(Mutator):
    """The loop body at lanes m v + p: recognised divisions by d become base / d + (m / d) v +
    floor((p + c) / d), their remainders the constant (p + c) mod d, and every other use of the
    lane m v + p."""

    def __init__(self, lane: str, m: int, p: int, shift: int, found: dict[Node, _Dividend]) -> None:
        self.lane, self.m, self.p, self.shift, self.found = lane, m, p, shift, found

    def _base(self, dividend: _Dividend, d: int) -> Expr:
        """(base - shift) / d: base - shift is a multiple of m, so of d."""
        t = dividend.dtype
        return Div(Sub(dividend.base, Const(self.shift, t)), Const(d, t))

    def _offset(self, dividend: _Dividend) -> int:
        return self.p + self.shift + dividend.constant

    def _divide(self, node: Div | Mod) -> Node:
        dividend = self.found.get(node)
        if dividend is None:
            return map_children(node, self.visit)
        d, t = int(node.b.value), dividend.dtype  # type: ignore[attr-defined]
        offset = self._offset(dividend)
        if isinstance(node, Mod):
            return Const(offset % d, t)
        v: Expr = Var(self.lane, int64)
        step: Expr = Mul(v if t == int64 else Cast(t, v), Const(self.m // d, t))
        return Add(Add(self._base(dividend, d), step), Const(offset // d, t))

    visit_Div = visit_Mod = _divide

    def visit_Cast(self, e: Cast) -> Node:
        """int64(q + c + k r...) of one recognised int32 quotient q, constants and remainders r
        is computed in int64: the quotient's base is within +-2^30, so the int32 sum cannot
        wrap, and an index that is affine in the lane in int64 is one gcc loads contiguously."""
        if not (e.dtype == int64 and e.value.dtype == int32):
            return map_children(e, self.visit)
        terms, constant = linear(e.value)
        quotients = [t for t in terms if isinstance(t, Div) and t in self.found]
        others = [t for t in terms if t not in quotients]
        small = abs(constant) <= _SMALL and all(abs(c) <= _SMALL for c in terms.values())
        if len(quotients) != 1 or terms[quotients[0]] != 1 or not small:
            return map_children(e, self.visit)
        if not all(isinstance(t, Mod) and t in self.found for t in others):
            return map_children(e, self.visit)
        q = quotients[0]
        d, dividend = int(q.b.value), self.found[q]  # type: ignore[attr-defined]
        widened: Expr = Cast(int64, self._base(dividend, d))
        offset = constant + self._offset(dividend) // d
        offset += sum(c * (self._offset(self.found[t]) % int(t.b.value)) for t, c in terms.items() if t in others)  # type: ignore[attr-defined]
        step = Mul(Var(self.lane, int64), Const(self.m // d, int64))
        return Add(Add(widened, step), Const(offset, int64))

    def visit_Var(self, e: Var) -> Expr:
        if e.name != self.lane:
            return e
        return Add(Mul(e, Const(self.m, int64)), Const(self.p, int64))

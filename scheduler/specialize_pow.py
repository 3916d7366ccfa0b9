"""Vector loops raising to a power that is the same for every lane get a copy for exponents that
are finite and not integers.

C's pow has special cases for both operands (a zero, infinite, NaN or negative base; an exponent
that is 0, 1, an odd or even integer, infinite or NaN), and a vector loop pays for each of them as
a blend per element, whatever the values. A tone curve's `pow(level, 1 / gamma)` has one exponent
for the whole loop, so the cases that depend on the exponent alone can be decided once. After
`specialize_pow(stmt)`, each innermost vector loop holding float32 `pow` or `fast_pow` whose
exponent names nothing bound in the loop and reads no memory is

    if every such exponent b has floor(b) != b and |b| < 2^23:   (finite, not an integer)
      the loop with those powers as FractionalPow (three blends for the base's cases)
    else:
      the loop unchanged

FractionalPow gives the same bits as the power it replaces for every base (the C function
`saline_pow_fractional_cases` is that function restricted to such exponents), so results do not
change, only the work per element. An exponent that is an integer, 0, 1, infinite or NaN runs the
general loop.
"""

from __future__ import annotations

from pipelines.expr import LT, NE, Abs, And, Const, Expr, FastPow, Floor, Pow
from pipelines.mutator import substitute, walk
from pipelines.types import float32
from scheduler.loopir import For, FractionalPow, IfThenElse, Stmt, invariant_in, map_loops, names_bound_in

INTEGERS_FROM = 2.0**23
"""Every float32 of at least this magnitude is an integer."""


def specialize_pow(stmt: Stmt) -> Stmt:
    """`stmt` with the loops described in the module docstring versioned; the same object if
    there is none."""
    return map_loops(stmt, _specialize)


def _specialize(loop: For) -> Stmt | None:
    if loop.kind != "vectorized" or any(isinstance(n, For) for n in walk(loop.body)):
        return None
    inside = names_bound_in(loop)
    powers = [
        n for n in walk(loop.body) if isinstance(n, (Pow, FastPow)) and n.dtype == float32 and invariant_in(n.b, inside)
    ]
    if not powers:
        return None
    cond: Expr | None = None
    for b in dict.fromkeys(p.b for p in powers):
        fractional = And(NE(Floor(b), b), LT(Abs(b), Const(INTEGERS_FROM, float32)))
        cond = fractional if cond is None else And(cond, fractional)
    assert cond is not None
    mapping = {p: FractionalPow(p.a, p.b, isinstance(p, FastPow), p.dtype) for p in powers}
    copy = For(loop.name, loop.min, loop.extent, loop.kind, substitute(loop.body, mapping))
    return IfThenElse(cond, copy, loop)

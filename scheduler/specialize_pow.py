"""Vector loops raising to a power that is the same for every lane get a copy for the exponents
that let most of the power's special cases go.

C's pow has special cases for both operands (a zero, infinite, NaN or negative base; an exponent
that is 0, 1, an odd or even integer, infinite or NaN), and a vector loop pays for each of them as
a blend per element, whatever the values. A tone curve's `pow(level, 1 / gamma)` has one exponent
for the whole loop, so the cases that depend on the exponent alone can be decided once; and its
base is clamped to [0, 1], which rules out a negative or NaN base whatever the input. After
`specialize_pow(stmt)`, each innermost vector loop holding float32 `pow` or `fast_pow` whose
exponent names nothing bound in the loop and reads no memory is

    if every such exponent b passes its test:
      the loop with those powers replaced
    else:
      the loop unchanged

where a power whose base is known to be +0 to +infinity (`nonnegative`) becomes a NonNegativePow
(one or two blends for the base's cases), entered where b is finite (a `fast_pow` whose base is
also known to be at most 1, `at_most_one`, where b is +0 to finite: its method then needs 3 fewer
blends: brightness_contrast_gamma at 2560x1536 in one process, 11.00 -> 9.25 ms with 1 thread,
Halide 8.86, and 6.07 -> 5.47 with 2, Halide 7.81); and any other power becomes a
FractionalPow (three blends), entered where b is finite and not an integer (floor(b) != b and
|b| < 2^23).

A power in the true value of a select on `c < a`, c a constant >= +0, whose base is that `a` is
only used where a > 0 (so not NaN either): it becomes a NonNegativePow with `positive`, which
drops the blend for a zero base, whatever its form (`_Guarded`). brightness_contrast_gamma's
`select(level > 0, fast_pow(level, e), 0)` is such a power, and with the unit method's single
scale (csrc/saline_math.h) it went 8.22 -> 6.37 ms at 2560x1536 with 1 thread (Halide 8.17 and
8.09 in the same processes).

Both give the same bits as the power they replace for each base they can meet (the C functions
`saline_pow_nonnegative_cases` and `saline_pow_fractional_cases` are the general one restricted to
such operands), so results do not change, only the work per element. An exponent that fails the
test runs the general loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from pipelines.expr import LE, LT, NE, Abs, And, Const, Expr, FastPow, Floor, Max, Min, Pow, Select
from pipelines.mutator import Mutator, substitute, walk
from pipelines.types import float32
from scheduler.loopir import (
    For,
    FractionalPow,
    IfThenElse,
    NonNegativePow,
    Stmt,
    invariant_in,
    map_loops,
    names_bound_in,
)

INTEGERS_FROM = 2.0**23
"""Every float32 of at least this magnitude is an integer."""
FLOAT32_MAX = float.fromhex("0x1.fffffep127")


def specialize_pow(stmt: Stmt) -> Stmt:
    """`stmt` with the loops described in the module docstring versioned; the same object if
    there is none."""
    return map_loops(stmt, _specialize)


def _specialize(loop: For) -> Stmt | None:
    if loop.kind != "vectorized" or any(isinstance(n, For) for n in walk(loop.body)):
        return None
    inside = names_bound_in(loop)
    if not _powers(loop.body, inside):
        return None
    tests: dict[Expr, None] = {}

    def replacement(p: Pow | FastPow, positive: bool) -> Expr:
        fast = isinstance(p, FastPow)
        if positive or nonnegative(p.a):
            unit = fast and at_most_one(p.a)
            if unit:  # 0 <= b, finite: false for NaN too
                tests[And(LE(Const(0.0, float32), p.b), LE(p.b, Const(FLOAT32_MAX, float32)))] = None
            else:
                tests[LE(Abs(p.b), Const(FLOAT32_MAX, float32))] = None  # false for NaN too
            return NonNegativePow(p.a, p.b, fast, bounded_above(p.a), unit, positive, p.dtype)
        tests[And(NE(Floor(p.b), p.b), LT(Abs(p.b), Const(INTEGERS_FROM, float32)))] = None
        return FractionalPow(p.a, p.b, fast, p.dtype)

    body = _Guarded(inside, replacement).visit(loop.body)
    # the powers left outside such selects, each with its own test (none where all were inside)
    body = substitute(body, {p: replacement(p, False) for p in _powers(body, inside)})
    first, *rest = tests
    cond = first
    for t in rest:
        cond = And(cond, t)
    return IfThenElse(cond, For(loop.name, loop.min, loop.extent, loop.kind, body), loop)


def _powers(body: Stmt | Expr, inside: set[str]) -> list[Pow | FastPow]:
    """The float32 powers in `body` whose exponent is the same in every iteration."""
    return [n for n in walk(body) if isinstance(n, (Pow, FastPow)) and n.dtype == float32 and invariant_in(n.b, inside)]


class _Guarded(Mutator):
    """Rewrites, in the true value of each select on `c < a` (c a constant >= +0, so a > 0 and
    not NaN where that value is used), the loop-invariant float32 powers of base `a` as
    `replacement(power, True)`; other powers are left to the caller."""

    def __init__(self, inside: set[str], replacement: Callable[[Pow | FastPow, bool], Expr]) -> None:
        self.inside = inside
        self.replacement = replacement

    def visit_Select(self, e: Select) -> Expr:
        e = self.generic(e)  # type: ignore[assignment]
        base = positive_operand(e.cond)
        if base is None:
            return e
        mapping = {p: self.replacement(p, True) for p in _powers(e.true_value, self.inside) if p.a == base}
        return replace(e, true_value=substitute(e.true_value, mapping)) if mapping else e


def positive_operand(cond: Expr) -> Expr | None:
    """The `a` that `cond` shows to be > 0 (hence not NaN) where it holds: `c < a` for a float
    constant c >= +0, or either side of an `and`; None if none."""
    if isinstance(cond, LT) and isinstance(cond.a, Const) and cond.a.dtype.is_float:
        c = float(cond.a.value)
        return cond.b if c >= 0.0 else None  # false for NaN too
    if isinstance(cond, And):
        left = positive_operand(cond.a)
        return left if left is not None else positive_operand(cond.b)
    return None


def nonnegative(e: Expr) -> bool:
    """Whether the float `e` has its sign bit clear and is not NaN for every input (so it is +0
    to +infinity), from its form: a constant, or min, max and select over such values. max(a, b)
    is `a > b ? a : b`, so it is b's sign unless a > b, where a is past a value >= +0; min(a, b)
    gives a or b."""
    if isinstance(e, Const):
        v = float(e.value)
        return v >= 0.0 and math.copysign(1.0, v) > 0.0
    if isinstance(e, Max):
        return nonnegative(e.b)
    if isinstance(e, Min):
        return nonnegative(e.a) and nonnegative(e.b)
    if isinstance(e, Select):
        return nonnegative(e.true_value) and nonnegative(e.false_value)
    return False


def upper_bound(e: Expr) -> float:
    """A float the float `e` never exceeds, from its form as in `nonnegative` (+infinity where
    the form shows none). min(a, b) is `a < b ? a : b`: a below b, or b (a NaN gives b); max(a,
    b) gives a or b; a NaN constant bounds nothing."""
    if isinstance(e, Const):
        v = float(e.value)
        return math.inf if math.isnan(v) else v
    if isinstance(e, Min):
        return upper_bound(e.b)
    if isinstance(e, Max):
        return max(upper_bound(e.a), upper_bound(e.b))
    if isinstance(e, Select):
        return max(upper_bound(e.true_value), upper_bound(e.false_value))
    return math.inf


def bounded_above(e: Expr) -> bool:
    """Whether the float `e` is never +infinity (`upper_bound`)."""
    return upper_bound(e) < math.inf


def at_most_one(e: Expr) -> bool:
    """Whether the float `e` is never above 1 (`upper_bound`): a level clamped to [0, 1]."""
    return upper_bound(e) <= 1.0

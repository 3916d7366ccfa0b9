"""Reverse-mode derivative of one expression: where an adjoint flowing into it goes.

After `backprop(e, adjoint)`: a list of (leaf, contribution) pairs, one per occurrence in `e` of
a float read (a `Call` of a Func or image) or a float `Param`, such that the derivative of
`adjoint * e` with respect to that occurrence is `contribution`. Index expressions (the
arguments of a Call) are never differentiated. Every Expr class is either in `RULES` or in
`NON_DIFFERENTIABLE` (zero derivative: comparisons, logic, integer and rounding operations), and
a test holds us to it. A branch that a select, min or max does not take gets exactly zero: its
contributions are wrapped in `select(chosen, contribution, 0)` rather than multiplied by a 0/1
mask, so an infinite or NaN derivative on the side not taken cannot leak in (0 * inf).
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.expr import (
    EQ,
    LE,
    LT,
    NE,
    Abs,
    Add,
    And,
    BinaryOp,
    Call,
    Cast,
    Ceil,
    Compare,
    Const,
    Cos,
    Div,
    Exp,
    Expr,
    FastPow,
    Floor,
    ImageDim,
    Log,
    Logical,
    Max,
    Min,
    Mod,
    Mul,
    Not,
    Or,
    Param,
    Pow,
    Round,
    RVar,
    Select,
    Sin,
    Sqrt,
    Sub,
    Tanh,
    UnaryMath,
    Var,
)
from pipelines.mutator import children
from pipelines.ops import cos, fast_pow, floor, log, pow, select, sin

# (child, adjoint of the child, condition under which the child is the one used or None)
Routes = list[tuple[Expr, Expr, Expr | None]]
Rule = Callable[[Expr, Expr], Routes]


def _zero(like: Expr) -> Expr:
    return Const(0, like.dtype)


def _add(e: Add, g: Expr) -> Routes:
    return [(e.a, g, None), (e.b, g, None)]


def _sub(e: Sub, g: Expr) -> Routes:
    return [(e.a, g, None), (e.b, -g, None)]


def _mul(e: Mul, g: Expr) -> Routes:
    return [(e.a, g * e.b, None), (e.b, g * e.a, None)]


def _div(e: Div, g: Expr) -> Routes:
    return [(e.a, g / e.b, None), (e.b, -(g * e) / e.b, None)]


def _mod(e: Mod, g: Expr) -> Routes:
    # a - b*floor(a/b): the floor is piecewise constant
    return [(e.a, g, None), (e.b, -(g * floor(e.a / e.b)), None)]


def _min(e: Min, g: Expr) -> Routes:
    took_a = e.a < e.b  # Min is `a < b ? a : b`
    return [(e.a, g, took_a), (e.b, g, Not(took_a))]


def _max(e: Max, g: Expr) -> Routes:
    took_a = e.a > e.b
    return [(e.a, g, took_a), (e.b, g, Not(took_a))]


def _pow(e: Pow | FastPow, g: Expr) -> Routes:
    power = fast_pow if isinstance(e, FastPow) else pow
    routes: Routes = [(e.a, g * e.b * power(e.a, e.b - 1), None)]
    if has_leaf(e.b):  # log(a) is NaN for a < 0: only where the exponent itself varies
        routes.append((e.b, g * e * log(e.a), None))
    return routes


def _select(e: Select, g: Expr) -> Routes:
    return [(e.true_value, g, e.cond), (e.false_value, g, Not(e.cond))]


def _sqrt(e: Sqrt, g: Expr) -> Routes:
    return [(e.value, g / (2 * e), None)]


def _exp(e: Exp, g: Expr) -> Routes:
    return [(e.value, g * e, None)]


def _log(e: Log, g: Expr) -> Routes:
    return [(e.value, g / e.value, None)]


def _sin(e: Sin, g: Expr) -> Routes:
    return [(e.value, g * cos(e.value), None)]


def _cos(e: Cos, g: Expr) -> Routes:
    return [(e.value, -(g * sin(e.value)), None)]


def _tanh(e: Tanh, g: Expr) -> Routes:
    return [(e.value, g * (1 - e * e), None)]


def _abs(e: Abs, g: Expr) -> Routes:
    v = e.value
    return [(v, select(v > 0, g, v < 0, -g, _zero(g)), None)]


def _cast(e: Cast, g: Expr) -> Routes:
    if not (e.dtype.is_float and e.value.dtype.is_float):
        return []  # to or from an integer: piecewise constant
    return [(e.value, Cast(e.value.dtype, g), None)]


RULES: dict[type, Rule] = {
    Add: _add,
    Sub: _sub,
    Mul: _mul,
    Div: _div,
    Mod: _mod,
    Min: _min,
    Max: _max,
    Pow: _pow,
    FastPow: _pow,
    Select: _select,
    Sqrt: _sqrt,
    Exp: _exp,
    Log: _log,
    Sin: _sin,
    Cos: _cos,
    Tanh: _tanh,
    Abs: _abs,
    Cast: _cast,
}  # type: ignore[dict-item]

# Zero derivative everywhere it exists; leaves (Call, Param) are where adjoints arrive.
NON_DIFFERENTIABLE: frozenset[type] = frozenset(
    {Const, Var, RVar, ImageDim, Compare, LT, LE, EQ, NE, Logical, And, Or, Not, Floor, Ceil, Round}
)
LEAVES: frozenset[type] = frozenset({Call, Param})
ABSTRACT: frozenset[type] = frozenset({Expr, BinaryOp, UnaryMath})

_has_leaf: dict[Expr, bool] = {}


def has_leaf(e: Expr) -> bool:
    """Whether a float read or float Param occurs in `e` where a derivative can reach it."""
    known = _has_leaf.get(e)
    if known is not None:
        return known
    if not e.dtype.is_float:
        found = False
    elif isinstance(e, (Call, Param)):
        found = True
    elif isinstance(e, Cast):
        found = e.value.dtype.is_float and has_leaf(e.value)
    elif type(e) in RULES:
        found = any(has_leaf(child) for child in children(e))
    else:
        found = False
    if len(_has_leaf) > 100_000:
        _has_leaf.clear()
    _has_leaf[e] = found
    return found


def backprop(e: Expr, adjoint: Expr) -> list[tuple[Expr, Expr]]:
    """(leaf, contribution) for every float Call or Param occurrence in `e` (module docstring)."""
    out: list[tuple[Expr, Expr]] = []
    _backprop(e, adjoint, out)
    return out


def _backprop(e: Expr, g: Expr, out: list[tuple[Expr, Expr]]) -> None:
    if not has_leaf(e):
        return
    if isinstance(e, (Call, Param)):
        out.append((e, g))
        return
    for child, adjoint, chosen in RULES[type(e)](e, g):
        found: list[tuple[Expr, Expr]] = []
        _backprop(child, adjoint, found)
        if chosen is not None:
            found = [(leaf, Select(chosen, c, _zero(c))) for leaf, c in found]
        out.extend(found)

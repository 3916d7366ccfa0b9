"""The math functions of the language and its inline reductions.

After this module: every public math function returns a well-typed Expr built from the nodes of
`pipelines.expr`; `clamp` and `lerp` are sugar over Min/Max and arithmetic; `sum`, `maximum` and
`minimum` turn their argument into an anonymous Func with one update over the argument's RDom,
evaluated at each point of the enclosing expression (DESIGN section 2).
"""

from __future__ import annotations

from typing import Any

from pipelines.expr import (
    Abs,
    Ceil,
    Cos,
    Exp,
    Expr,
    FastPow,
    Floor,
    Log,
    Max,
    Min,
    Pow,
    Round,
    RVar,
    Select,
    Sin,
    Sqrt,
    Tanh,
    Var,
    as_expr,
    binary,
    cast,
    match_types,
)
from pipelines.func import DefinitionError, Func, unique_name
from pipelines.mutator import walk
from pipelines.types import DType, IRTypeError, float32


def select(cond: Any, true_value: Any, false_value: Any, *more: Any) -> Expr:
    """`cond ? true_value : false_value`; `select(c1, a, c2, b, default)` chains."""
    if more:
        if len(more) % 2:
            raise TypeError("select takes (cond, value) pairs and one default value")
        false_value = select(false_value, more[0], more[1], *more[2:])
    if isinstance(cond, bool):  # `a != b` compares structure and gives a Python bool
        raise TypeError(
            f"select got the Python bool {cond} as its condition: == and != on expressions compare "
            "their structure; use eq(a, b) and ne(a, b)"
        )
    c = as_expr(cond, what="select condition")
    if not c.dtype.is_bool:
        raise IRTypeError(f"select condition must be bool, got {c.dtype}")
    t, f = match_types(true_value, false_value, "select")
    return Select(c, t, f)


def min(a: Any, b: Any, *more: Any) -> Expr:  # noqa: A001 - the DSL's name
    """Elementwise minimum (`a < b ? a : b`)."""
    e = binary(Min, a, b, "min")
    for m in more:
        e = binary(Min, e, m, "min")
    return e


def max(a: Any, b: Any, *more: Any) -> Expr:  # noqa: A001 - the DSL's name
    """Elementwise maximum (`a > b ? a : b`)."""
    e = binary(Max, a, b, "max")
    for m in more:
        e = binary(Max, e, m, "max")
    return e


def clamp(value: Any, lo: Any, hi: Any) -> Expr:
    """`max(min(value, hi), lo)`: lo wins if lo > hi."""
    return max(min(value, hi), lo)


def _float_operand(value: Any, name: str) -> Expr:
    e = as_expr(value, what=name)
    if e.dtype.is_bool:
        raise IRTypeError(f"{name} of a bool: cast it first")
    return e if e.dtype.is_float else cast(float32, e)


def abs(value: Any) -> Expr:  # noqa: A001 - the DSL's name
    """Absolute value, same type as the operand."""
    return Abs(as_expr(value, what="abs"))


def sqrt(value: Any) -> Expr:
    """Square root; integers are converted to float32 first (likewise exp, log, sin, cos, tanh)."""
    return Sqrt(_float_operand(value, "sqrt"))


def exp(value: Any) -> Expr:
    return Exp(_float_operand(value, "exp"))


def log(value: Any) -> Expr:
    return Log(_float_operand(value, "log"))


def sin(value: Any) -> Expr:
    return Sin(_float_operand(value, "sin"))


def cos(value: Any) -> Expr:
    return Cos(_float_operand(value, "cos"))


def tanh(value: Any) -> Expr:
    return Tanh(_float_operand(value, "tanh"))


def pow(base: Any, exponent: Any) -> Expr:  # noqa: A001 - the DSL's name
    """`base ** exponent` in floating point (integer operands become float32)."""
    return binary(Pow, base, exponent, "pow")


def fast_pow(base: Any, exponent: Any) -> Expr:
    """`base ** exponent` as `pow`, computed in float32 arithmetic: a third faster, within
    1.5 + |exponent| ulp of the exact power instead of 0.51 (the same special cases). For tone
    curves and the like, where the exponent is small; float64 operands get float64 `pow`."""
    return binary(FastPow, base, exponent, "fast_pow")


def _rounding(cls: type, value: Any, name: str) -> Expr:
    e = as_expr(value, what=name)
    if e.dtype.is_bool:
        raise IRTypeError(f"{name} of a bool: cast it first")
    return cls(e) if e.dtype.is_float else e


def floor(value: Any) -> Expr:
    """Largest integral value not above `value`, same type (integers pass through)."""
    return _rounding(Floor, value, "floor")


def ceil(value: Any) -> Expr:
    return _rounding(Ceil, value, "ceil")


def round(value: Any) -> Expr:  # noqa: A001 - the DSL's name
    """Round half to even, same type (integers pass through)."""
    return _rounding(Round, value, "round")


def lerp(a: Any, b: Any, t: Any) -> Expr:
    """`a + (b - a) * t`, in the floating type of the operands."""
    a, b = match_types(a, b, "lerp")
    if not a.dtype.is_float:
        a, b = cast(float32, a), cast(float32, b)
    return a + (b - a) * t


# ---------------------------------------------------------------- inline reductions


def _reduce(kind: str, value: Any) -> Expr:
    e = as_expr(value, what=kind)
    if e.dtype.is_bool:
        raise IRTypeError(f"{kind} of bool values: cast them to a number first")
    rdoms = {id(n.rdom): n.rdom for n in walk(e) if isinstance(n, RVar)}
    if not rdoms:
        raise DefinitionError(f"{kind}() needs an RVar of an RDom in its argument")
    free: list[Var] = []
    predicates = [p for rdom in rdoms.values() for p in rdom.predicates]
    for part in (e, *predicates):  # a where-condition may use the enclosing point's Vars too
        for n in walk(part):
            if isinstance(n, Var) and n not in free:
                free.append(n)
    acc = Func(unique_name(kind))
    args = tuple(free)
    acc[args] = _initial(kind, e.dtype)
    current = acc[args]
    acc[args] = {"sum": current + e, "maximum": max(current, e), "minimum": min(current, e)}[kind]
    return acc[args]


def _initial(kind: str, dtype: DType) -> Expr:
    if kind == "sum":
        return cast(dtype, 0)
    if dtype.is_float:
        return cast(dtype, float("-inf") if kind == "maximum" else float("inf"))
    return cast(dtype, dtype.min_value if kind == "maximum" else dtype.max_value)


def sum(value: Any) -> Expr:  # noqa: A001 - the DSL's name
    """Sum of `value` over the RDom it uses, in `value`'s type: `sum(im[x + r.x, y])`."""
    return _reduce("sum", value)


def maximum(value: Any) -> Expr:
    """Largest `value` over the RDom it uses (-inf or the type's minimum when empty)."""
    return _reduce("maximum", value)


def minimum(value: Any) -> Expr:
    """Smallest `value` over the RDom it uses (+inf or the type's maximum when empty)."""
    return _reduce("minimum", value)

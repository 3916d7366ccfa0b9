"""Expression nodes of the pipeline language.

After this module: every expression is an immutable `Expr` node (a frozen dataclass) with a
`dtype`; a node that exists is well typed, because constructors check their invariants.
Nodes compare and hash structurally, so `a == b` is structural equality returning a Python
bool (use them as dict keys); DSL comparisons are `<`, `<=`, `>`, `>=` and the functions
`eq(a, b)` / `ne(a, b)`. `bool(expr)` raises, so `if x < 3:` and `a and b` fail loudly.
Python operators on nodes apply the promotion rules of `pipelines.types`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.types import (
    DType,
    IRTypeError,
    bool_,
    float32,
    int32,
    literal_type,
    promote,
)


class Node:
    """Base of both IRs (expressions here, loop-nest statements in the scheduler)."""

    __slots__ = ()


class Expr(Node):
    """An expression over integer coordinates. Subclasses are frozen dataclasses."""

    __slots__ = ()
    dtype: DType

    def __bool__(self) -> bool:
        raise TypeError(
            "an Expr has no truth value: use select(cond, a, b) instead of if/and/or, and eq(a, b) for equality"
        )

    def __add__(self, other: Any) -> Expr:
        return binary(Add, self, other, "+")

    def __radd__(self, other: Any) -> Expr:
        return binary(Add, other, self, "+")

    def __sub__(self, other: Any) -> Expr:
        return binary(Sub, self, other, "-")

    def __rsub__(self, other: Any) -> Expr:
        return binary(Sub, other, self, "-")

    def __mul__(self, other: Any) -> Expr:
        return binary(Mul, self, other, "*")

    def __rmul__(self, other: Any) -> Expr:
        return binary(Mul, other, self, "*")

    def __truediv__(self, other: Any) -> Expr:
        return binary(Div, self, other, "/")

    def __rtruediv__(self, other: Any) -> Expr:
        return binary(Div, other, self, "/")

    def __floordiv__(self, other: Any) -> Expr:
        quotient = binary(Div, self, other, "//")
        return Floor(quotient) if quotient.dtype.is_float else quotient

    def __rfloordiv__(self, other: Any) -> Expr:
        quotient = binary(Div, other, self, "//")
        return Floor(quotient) if quotient.dtype.is_float else quotient

    def __mod__(self, other: Any) -> Expr:
        return binary(Mod, self, other, "%")

    def __rmod__(self, other: Any) -> Expr:
        return binary(Mod, other, self, "%")

    def __pow__(self, other: Any) -> Expr:
        return binary(Pow, self, other, "**")

    def __rpow__(self, other: Any) -> Expr:
        return binary(Pow, other, self, "**")

    def __neg__(self) -> Expr:
        return binary(Sub, 0, self, "unary -")

    def __pos__(self) -> Expr:
        return self

    def __abs__(self) -> Expr:
        return Abs(self)

    def __lt__(self, other: Any) -> Expr:
        return binary(LT, self, other, "<")

    def __le__(self, other: Any) -> Expr:
        return binary(LE, self, other, "<=")

    def __gt__(self, other: Any) -> Expr:
        return binary(LT, other, self, ">")

    def __ge__(self, other: Any) -> Expr:
        return binary(LE, other, self, ">=")

    def __and__(self, other: Any) -> Expr:
        return binary(And, self, other, "&")

    def __rand__(self, other: Any) -> Expr:
        return binary(And, other, self, "&")

    def __or__(self, other: Any) -> Expr:
        return binary(Or, self, other, "|")

    def __ror__(self, other: Any) -> Expr:
        return binary(Or, other, self, "|")

    def __invert__(self) -> Expr:
        return Not(as_expr(self))

    def __str__(self) -> str:
        return expr_str(self)


def node(cls: type) -> type:
    """Make `cls` a frozen dataclass node whose structural hash is computed once and cached
    (trees are hashed again and again as dict keys by the simplifier and bounds inference)."""
    cls = dataclass(frozen=True, eq=True)(cls)
    raw = cls.__hash__

    def __hash__(self: Any) -> int:
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = raw(self)
        return cached

    cls.__hash__ = __hash__  # type: ignore[method-assign]
    return cls


def _derived() -> Any:
    """A dtype field computed in __post_init__ rather than passed in."""
    return field(init=False, compare=False, repr=False)


def _set_dtype(node: Expr, dtype: DType) -> None:
    object.__setattr__(node, "dtype", dtype)


# ---------------------------------------------------------------- leaves


@node
class Const(Expr):
    """A literal. Float values are stored rounded to their type; ints must fit it."""

    value: int | float | bool
    dtype: DType

    def __post_init__(self) -> None:
        v = self.value
        if isinstance(v, (np.generic,)):
            v = v.item()
        if self.dtype.is_bool:
            if v not in (0, 1, True, False):
                raise IRTypeError(f"bool constant must be True or False, got {v!r}")
            v = bool(v)
        elif self.dtype.is_int:
            if isinstance(v, float):
                if not v.is_integer():
                    raise IRTypeError(f"constant {v} is not an integer, but its type is {self.dtype}")
                v = int(v)
            if not self.dtype.can_represent(int(v)):
                raise IRTypeError(f"int literal {v} does not fit {self.dtype}")
            v = int(v)
        else:
            v = float(self.dtype.numpy.type(v))
        object.__setattr__(self, "value", v)

    # Structural equality must tell -0.0 from 0.0 and see NaN as itself (Python's float == does
    # neither): the simplifier, substitution and common-subexpression elimination all merge
    # equal nodes, and `select(c, -0.0, 0.0)` is not `0.0`.
    def _key(self) -> tuple[Any, DType]:
        v = self.value
        return (v.hex() if isinstance(v, float) else v), self.dtype

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Const) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@node
class Var(Expr):
    """A pure variable over integer coordinates: `x = Var("x")`. Vars are equal by name."""

    name: str
    dtype: DType = int32

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Var name must be a non-empty string, got {self.name!r}")


@node
class RVar(Expr):
    """One dimension of a reduction domain: iterates over [min, min + extent)."""

    name: str
    min: Expr
    extent: Expr
    rdom: Any = field(default=None, compare=False, repr=False)
    dtype: DType = field(default=int32, compare=False, repr=False)


@node
class Param(Expr):
    """A scalar argument bound at call time: `gain = Param(float32, "gain", 1.0)`."""

    dtype: DType
    name: str
    default: int | float | bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.dtype, DType):
            raise TypeError(f"Param {self.name!r}: expected a Saline dtype, got {self.dtype!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Param name must be a non-empty string, got {self.name!r}")
        if self.default is not None:
            try:
                const = Const(self.default, self.dtype)
            except IRTypeError as err:
                raise IRTypeError(f"Param {self.name!r}: default {self.default!r}: {err}") from None
            object.__setattr__(self, "default", const.value)


@node
class Call(Expr):
    """A read of a Func or an input image at integer coordinates (innermost first)."""

    func: Any
    args: tuple[Expr, ...]
    dtype: DType = _derived()

    def __post_init__(self) -> None:
        for i, a in enumerate(self.args):
            if not isinstance(a, Expr) or not a.dtype.is_int or a.dtype != int32:
                got = a.dtype if isinstance(a, Expr) else type(a).__name__
                raise IRTypeError(f"{self.func.name}: coordinate {i} must be int32, got {got}")
        _set_dtype(self, self.func.dtype)


@node
class ImageDim(Expr):
    """The min or extent of one dimension of an input image, known at call time."""

    image: Any
    dim: int
    which: str
    dtype: DType = field(default=int32, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.which not in ("min", "extent"):
            raise ValueError(f"ImageDim.which must be 'min' or 'extent', got {self.which!r}")


# ---------------------------------------------------------------- operators


@node
class Cast(Expr):
    """Conversion. Float to int truncates toward zero and saturates (NaN gives 0);
    int to narrower int wraps; anything to bool is `!= 0`."""

    dtype: DType
    value: Expr

    def __post_init__(self) -> None:
        if not isinstance(self.dtype, DType) or not isinstance(self.value, Expr):
            raise IRTypeError(f"Cast needs a DType and an Expr, got {self.dtype!r}, {self.value!r}")


@node
class BinaryOp(Expr):
    """Two operands of one type; arithmetic results have that type."""

    a: Expr
    b: Expr
    dtype: DType = _derived()

    symbol = "?"

    def __post_init__(self) -> None:
        if self.a.dtype != self.b.dtype:
            raise IRTypeError(f"{type(self).__name__} of {self.a.dtype} and {self.b.dtype}: cast one side")
        if self.a.dtype.is_bool:
            raise IRTypeError(f"{type(self).__name__} of bool values: use select, &, | or cast")
        _set_dtype(self, self.a.dtype)


@node
class Add(BinaryOp):
    symbol = "+"


@node
class Sub(BinaryOp):
    symbol = "-"


@node
class Mul(BinaryOp):
    symbol = "*"


@node
class Div(BinaryOp):
    """Floats: IEEE division. Integers: Euclidean (floor for positive divisors), x/0 = 0."""

    symbol = "/"


@node
class Mod(BinaryOp):
    """Floats: x - y*floor(x/y). Integers: Euclidean, never negative, x%0 = 0."""

    symbol = "%"


@node
class Min(BinaryOp):
    """`a < b ? a : b` (so a NaN in `a` gives `b`)."""


@node
class Max(BinaryOp):
    """`a > b ? a : b` (so a NaN in `a` gives `b`)."""


@node
class Pow(BinaryOp):
    """Float power; integer operands are converted to float32 by `pow`."""

    def __post_init__(self) -> None:
        BinaryOp.__post_init__(self)
        if not self.a.dtype.is_float:
            raise IRTypeError(f"{type(self).__name__} needs float operands, got {self.a.dtype}")


@node
class FastPow(BinaryOp):
    """Float power, as `Pow`, computed faster and less exactly in float32 (`fast_pow`)."""

    __post_init__ = Pow.__post_init__


@node
class Compare(Expr):
    """A comparison of two operands of one type; the result is bool."""

    a: Expr
    b: Expr
    dtype: DType = _derived()

    symbol = "?"

    def __post_init__(self) -> None:
        if self.a.dtype != self.b.dtype:
            raise IRTypeError(f"{type(self).__name__} of {self.a.dtype} and {self.b.dtype}: cast one side")
        _set_dtype(self, bool_)


@node
class LT(Compare):
    symbol = "<"


@node
class LE(Compare):
    symbol = "<="


@node
class EQ(Compare):
    symbol = "=="


@node
class NE(Compare):
    symbol = "!="


@node
class Logical(Expr):
    """Boolean and / or of two bool operands."""

    a: Expr
    b: Expr
    dtype: DType = _derived()

    def __post_init__(self) -> None:
        if not (self.a.dtype.is_bool and self.b.dtype.is_bool):
            raise IRTypeError(f"{type(self).__name__} needs bool operands, got {self.a.dtype} and {self.b.dtype}")
        _set_dtype(self, bool_)


@node
class And(Logical):
    pass


@node
class Or(Logical):
    pass


@node
class Not(Expr):
    value: Expr
    dtype: DType = _derived()

    def __post_init__(self) -> None:
        if not self.value.dtype.is_bool:
            raise IRTypeError(f"Not needs a bool operand, got {self.value.dtype}")
        _set_dtype(self, bool_)


@node
class Select(Expr):
    """`cond ? true_value : false_value`, elementwise; both values are evaluated."""

    cond: Expr
    true_value: Expr
    false_value: Expr
    dtype: DType = _derived()

    def __post_init__(self) -> None:
        if not self.cond.dtype.is_bool:
            raise IRTypeError(f"select condition must be bool, got {self.cond.dtype}")
        if self.true_value.dtype != self.false_value.dtype:
            raise IRTypeError(f"select of {self.true_value.dtype} and {self.false_value.dtype}: cast one side")
        _set_dtype(self, self.true_value.dtype)


@node
class UnaryMath(Expr):
    """A math function of one operand. Subclasses say whether they need a float."""

    value: Expr
    dtype: DType = _derived()

    float_only = True

    def __post_init__(self) -> None:
        t = self.value.dtype
        if t.is_bool or (self.float_only and not t.is_float):
            raise IRTypeError(f"{type(self).__name__} needs a float operand, got {t}")
        _set_dtype(self, t)


@node
class Sqrt(UnaryMath):
    pass


@node
class Exp(UnaryMath):
    pass


@node
class Log(UnaryMath):
    pass


@node
class Sin(UnaryMath):
    pass


@node
class Cos(UnaryMath):
    pass


@node
class Tanh(UnaryMath):
    pass


@node
class Floor(UnaryMath):
    pass


@node
class Ceil(UnaryMath):
    pass


@node
class Round(UnaryMath):
    """Round half to even (the IEEE default, as numpy and C `nearbyint`)."""


@node
class Abs(UnaryMath):
    """Same type as the operand; for integers abs(min) wraps to min."""

    float_only = False


# ---------------------------------------------------------------- building


def as_expr(value: Any, like: DType | None = None, what: str = "expression") -> Expr:
    """An Expr for `value`: Exprs pass through, Python numbers become typed constants."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float)):
        if isinstance(value, float) and like is not None and like.is_int:
            return Const(value, float32)
        return Const(value, literal_type(value, like, what))
    to_expr = getattr(value, "to_expr", None)
    if to_expr is not None:
        return to_expr()
    raise IRTypeError(f"expected an expression or a Python number in {what}, got {type(value).__name__}")


def cast(dtype: DType, value: Any) -> Expr:
    """Convert `value` to `dtype` (see Cast for the rules). A no-op when already that type."""
    if not isinstance(dtype, DType):
        raise TypeError(f"cast: expected a Saline dtype first, got {dtype!r}")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # A literal that the target type holds exactly becomes a constant of that type,
        # so cast(float64, 0.1) keeps all of 0.1's bits.
        if dtype.is_float or (isinstance(value, int) and dtype.can_represent(value)):
            return Const(value, dtype)
    e = as_expr(value, what="cast")
    return e if e.dtype == dtype else Cast(dtype, e)


def match_types(a: Any, b: Any, what: str) -> tuple[Expr, Expr]:
    """Apply the promotion rules to two operands (either may be a Python number)."""
    a_is, b_is = isinstance(a, Expr), isinstance(b, Expr)
    if not a_is and hasattr(a, "to_expr"):
        a, a_is = a.to_expr(), True
    if not b_is and hasattr(b, "to_expr"):
        b, b_is = b.to_expr(), True
    if a_is and not b_is:
        b = as_expr(b, a.dtype, what)
    elif b_is and not a_is:
        a = as_expr(a, b.dtype, what)
    elif not a_is and not b_is:
        a = as_expr(a, None, what)
        b = as_expr(b, a.dtype, what)
    t = promote(a.dtype, b.dtype, what)
    return cast(t, a), cast(t, b)


def binary(cls: type, a: Any, b: Any, what: str) -> Expr:
    """Build `cls(a, b)` after promotion; Pow and FastPow convert integer operands to float32."""
    a, b = match_types(a, b, what)
    if cls in (Pow, FastPow) and a.dtype.is_bool:
        raise IRTypeError(f"{what} of bool values: cast them to a number first")
    if cls in (Pow, FastPow) and not a.dtype.is_float:
        a, b = cast(float32, a), cast(float32, b)
    return cls(a, b)


def eq(a: Any, b: Any) -> Expr:
    """DSL equality (`==` on nodes is structural equality)."""
    a, b = match_types(a, b, "eq")
    return EQ(a, b)


def ne(a: Any, b: Any) -> Expr:
    """DSL inequality."""
    a, b = match_types(a, b, "ne")
    return NE(a, b)


def is_const(e: Expr, value: int | float | None = None) -> bool:
    """Whether `e` is a constant (equal to `value`, if given)."""
    return isinstance(e, Const) and (value is None or e.value == value)


def expr_str(e: Expr) -> str:
    """Readable infix text of an expression (what error messages and loop nests show)."""
    match e:
        case Const(value=v, dtype=t):
            if t.is_float and t.bits == 32:
                return f"{v!r}f"
            return repr(v)
        case Var(name=n) | RVar(name=n) | Param(name=n):
            return n
        case ImageDim(image=im, dim=d, which=w):
            return f"{im.name}.dim({d}).{w}"
        case Call(func=f, args=args):
            return f"{f.name}[{', '.join(map(expr_str, args))}]"
        case Cast(dtype=t, value=v):
            return f"{t.name}({expr_str(v)})"
        case FastPow(a=a, b=b):
            return f"fast_pow({expr_str(a)}, {expr_str(b)})"
        case Min(a=a, b=b) | Max(a=a, b=b) | Pow(a=a, b=b):
            return f"{type(e).__name__.lower()}({expr_str(a)}, {expr_str(b)})"
        case BinaryOp(a=a, b=b) | Compare(a=a, b=b):
            return f"({expr_str(a)} {e.symbol} {expr_str(b)})"
        case And(a=a, b=b):
            return f"({expr_str(a)} && {expr_str(b)})"
        case Or(a=a, b=b):
            return f"({expr_str(a)} || {expr_str(b)})"
        case Not(value=v):
            return f"!{expr_str(v)}"
        case Select(cond=c, true_value=t, false_value=f):
            return f"select({expr_str(c)}, {expr_str(t)}, {expr_str(f)})"
        case UnaryMath(value=v):
            return f"{type(e).__name__.lower()}({expr_str(v)})"
    fields = ", ".join(str(getattr(e, n)) for n in getattr(e, "__dataclass_fields__", {}) if n != "dtype")
    return f"{type(e).__name__}({fields})"

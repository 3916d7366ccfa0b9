"""Scalar types of the pipeline language and the rules that combine them.

After this module: every value in a pipeline has one of nine `DType`s, and `promote` /
`literal_type` say, for any binary operation, which type both operands are converted to.
The rules (also in the README):

- a Python literal takes the other operand's type; an int literal that does not fit that
  type is an error; a float literal beside an integer expression is float32;
- a bare literal is int32 (ints), float32 (floats) or bool;
- int with float gives the float type; two floats give the wider;
- two ints give the wider, signed if either is signed;
- bool does not mix with numbers in arithmetic: use `cast` or `select`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


class IRTypeError(TypeError):
    """An expression combines types that the language does not convert implicitly."""


@functools.cache
def _limits(kind: str, bits: int) -> tuple[int | float, int | float]:
    """(lowest, highest) value of a scalar type; cached, since the simplifier asks constantly."""
    if kind == "b":
        return 0, 1
    if kind == "f":
        top = float(np.finfo(np.dtype(f"f{bits // 8}")).max)
        return -top, top
    info = np.iinfo(np.dtype(f"{kind}{bits // 8}"))
    return int(info.min), int(info.max)


@dataclass(frozen=True, slots=True)
class DType:
    """A scalar type: `kind` is 'b' (bool), 'u', 'i' or 'f'; `bits` its width."""

    kind: str
    bits: int

    def __post_init__(self) -> None:
        allowed = {"b": (1,), "u": (8, 16, 32), "i": (8, 16, 32, 64), "f": (32, 64)}
        if self.bits not in allowed.get(self.kind, ()):
            raise ValueError(f"no scalar type of kind {self.kind!r} with {self.bits} bits")

    @property
    def name(self) -> str:
        if self.kind == "b":
            return "bool"
        return {"u": "uint", "i": "int", "f": "float"}[self.kind] + str(self.bits)

    def __repr__(self) -> str:
        return self.name

    @property
    def is_bool(self) -> bool:
        return self.kind == "b"

    @property
    def is_int(self) -> bool:
        """True for signed and unsigned integers (not bool)."""
        return self.kind in "ui"

    @property
    def is_signed(self) -> bool:
        return self.kind in "if"

    @property
    def is_float(self) -> bool:
        return self.kind == "f"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(bool) if self.kind == "b" else np.dtype(f"{self.kind}{self.bits // 8}")

    @property
    def c_name(self) -> str:
        if self.kind == "b":
            return "bool"
        if self.kind == "f":
            return "float" if self.bits == 32 else "double"
        return f"{'u' if self.kind == 'u' else ''}int{self.bits}_t"

    @property
    def min_value(self) -> int | float:
        return _limits(self.kind, self.bits)[0]

    @property
    def max_value(self) -> int | float:
        return _limits(self.kind, self.bits)[1]

    def can_represent(self, value: int) -> bool:
        """Whether the integer `value` fits this type exactly (floats take any int)."""
        if self.kind == "f":
            return True
        if self.kind == "b":
            return value in (0, 1)
        return self.min_value <= value <= self.max_value


bool_ = DType("b", 1)
uint8 = DType("u", 8)
uint16 = DType("u", 16)
uint32 = DType("u", 32)
int8 = DType("i", 8)
int16 = DType("i", 16)
int32 = DType("i", 32)
int64 = DType("i", 64)  # internal: index arithmetic and bounds, not a user-facing type
float32 = DType("f", 32)
float64 = DType("f", 64)

USER_TYPES = (bool_, uint8, uint16, uint32, int8, int16, int32, float32, float64)
_BY_NUMPY = {t.numpy: t for t in (*USER_TYPES, int64)}


def from_numpy(dtype: np.dtype | type) -> DType:
    """The DType of a numpy dtype, or a TypeError naming the supported ones."""
    key = np.dtype(dtype)
    if key not in _BY_NUMPY:
        names = ", ".join(t.name for t in USER_TYPES)
        raise TypeError(f"numpy dtype {key} has no Saline type; expected one of {names}")
    return _BY_NUMPY[key]


def as_dtype(value: DType | np.dtype | type | str) -> DType:
    """Accept a DType, a numpy dtype or a name such as 'float32'."""
    if isinstance(value, DType):
        return value
    try:
        return from_numpy(np.dtype(value))
    except TypeError as err:
        raise TypeError(f"expected a Saline dtype such as saline.float32, got {value!r}") from err


def promote(a: DType, b: DType, what: str = "operation") -> DType:
    """The common type of two non-literal operands."""
    if a == b:
        return a
    if a.is_bool or b.is_bool:
        raise IRTypeError(f"{what} mixes {a} and {b}: bool does not mix with numbers; use cast or select")
    if a.is_float and b.is_float:
        return a if a.bits >= b.bits else b
    if a.is_float:
        return a
    if b.is_float:
        return b
    bits = max(a.bits, b.bits)
    return DType("i" if (a.is_signed or b.is_signed) else "u", bits)


def literal_type(value: bool | int | float, other: DType | None, what: str = "operation") -> DType:
    """The type a Python literal takes beside an operand of type `other` (None: bare)."""
    if isinstance(value, bool):
        if other is not None and not other.is_bool:
            raise IRTypeError(f"{what} mixes bool literal {value} with {other}; use cast or select")
        return bool_
    if isinstance(value, int):
        if other is None:
            if not int32.can_represent(value):
                raise IRTypeError(f"int literal {value} does not fit int32; cast it explicitly")
            return int32
        if other.is_bool:
            raise IRTypeError(f"{what} mixes int literal {value} with bool; use cast or select")
        if not other.can_represent(value):
            raise IRTypeError(f"int literal {value} does not fit {other} in {what}")
        return other
    if isinstance(value, float):
        if other is not None and other.is_float:
            return other
        if other is not None and other.is_bool:
            raise IRTypeError(f"{what} mixes float literal {value} with bool; use cast or select")
        return float32
    raise IRTypeError(f"expected an expression or a Python number in {what}, got {type(value).__name__}")

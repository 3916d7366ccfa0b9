"""The numpy meaning of each expression node: one rule per node class, in `NUMPY_RULES`.

In: an Expr and a `Frame` (the values of Vars and RVars as broadcastable int32 arrays, and a
context that holds the bound Params and input images and reads Funcs). After `evaluate`: a numpy
array of exactly the node's dtype (maybe 0-d), broadcastable against the Var arrays. Every rule
runs under `np.errstate(all="ignore")`: integer arithmetic wraps at the type's width, floats are
IEEE. A rule receives its operands already evaluated, so the evaluation is iterative (deep trees
are fine) and shared subtrees are evaluated once.

The rules are the semantics of the language (DESIGN section 2); where numpy's own behaviour
differs (promotion, np.minimum and NaN, floor division, float to int casts) the rule says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from pipelines.expr import (
    EQ,
    LE,
    LT,
    NE,
    Abs,
    Add,
    And,
    Call,
    Cast,
    Ceil,
    Const,
    Cos,
    Div,
    Exp,
    Expr,
    FastPow,
    Floor,
    ImageDim,
    Log,
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
    Var,
)
from pipelines.func import ImageParam
from pipelines.mutator import children
from pipelines.types import DType


class Context(Protocol):
    """What expressions read besides Vars: bound inputs, and Funcs (computed on demand)."""

    who: str
    images: dict[str, np.ndarray]
    params: dict[str, Any]

    def read_func(self, func: Any, coords: tuple[np.ndarray, ...]) -> np.ndarray: ...


class Frame:
    """The values of the variables an expression is evaluated at, and the context."""

    __slots__ = ("context", "vars", "rvars")

    def __init__(self, context: Context, vars: dict[str, np.ndarray], rvars: dict[str, np.ndarray] | None = None):
        self.context, self.vars, self.rvars = context, vars, rvars or {}


Rule = Callable[[Frame, Any, Sequence[np.ndarray]], np.ndarray]
_LEAVES = (Const, Var, RVar, Param, ImageDim)


def operands(node: Expr) -> tuple[Expr, ...]:
    """The subexpressions a rule needs evaluated first (RVar bounds are not operands)."""
    if isinstance(node, _LEAVES):
        return ()
    if isinstance(node, Call):
        return node.args
    return tuple(children(node))  # type: ignore[arg-type]


class Plan:
    """Expressions flattened once into steps, operands before users (shared subtrees once),
    to be run at many frames: the per-point loop of an update runs the same plan each time."""

    def __init__(self, exprs: Sequence[Expr]):
        slots: dict[int, int] = {}
        self.steps: list[tuple[Rule, Expr, tuple[int, ...], np.dtype]] = []
        for root in exprs:
            stack = [root]
            while stack:
                node = stack[-1]
                if id(node) in slots:
                    stack.pop()
                    continue
                args = operands(node)
                pending = [a for a in args if id(a) not in slots]
                if pending:
                    stack.extend(pending)
                    continue
                stack.pop()
                rule = NUMPY_RULES.get(type(node))
                if rule is None:
                    raise TypeError(f"no interpreter rule for {type(node).__name__} nodes")
                slots[id(node)] = len(self.steps)
                self.steps.append((rule, node, tuple(slots[id(a)] for a in args), node.dtype.numpy))
        self.results = [slots[id(e)] for e in exprs]

    def run(self, frame: Frame) -> list[np.ndarray]:
        values: list[np.ndarray] = []
        with np.errstate(all="ignore"):
            for rule, node, args, dtype in self.steps:
                value = np.asarray(rule(frame, node, [values[i] for i in args]))
                values.append(value if value.dtype == dtype else value.astype(dtype))
        return [values[i] for i in self.results]


def evaluate_many(exprs: Sequence[Expr], frame: Frame) -> list[np.ndarray]:
    """Evaluate several expressions at `frame`, sharing common subtrees."""
    return Plan(exprs).run(frame)


def evaluate(expr: Expr, frame: Frame) -> np.ndarray:
    """The value of one expression at `frame` (see the module docstring)."""
    return evaluate_many([expr], frame)[0]


# ---------------------------------------------------------------- leaves


def _var(frame: Frame, node: Var, _: Sequence[np.ndarray]) -> np.ndarray:
    if node.name not in frame.vars:
        raise ValueError(f"{frame.context.who}: Var {node.name!r} has no value here")
    return frame.vars[node.name]


def _rvar(frame: Frame, node: RVar, _: Sequence[np.ndarray]) -> np.ndarray:
    if node.name not in frame.rvars:
        raise ValueError(f"{frame.context.who}: RVar {node.name!r} is used outside its update")
    return frame.rvars[node.name]


def _image_dim(frame: Frame, node: ImageDim, _: Sequence[np.ndarray]) -> np.ndarray:
    if node.which == "min":
        return np.asarray(0, np.int32)  # numpy arrays have no origin
    array = frame.context.images[node.image.name]
    return np.asarray(array.shape[array.ndim - 1 - node.dim], np.int32)


def _call(frame: Frame, node: Call, coords: Sequence[np.ndarray]) -> np.ndarray:
    if isinstance(node.func, ImageParam):
        return gather_image(frame.context, node.func, tuple(coords))
    return frame.context.read_func(node.func, tuple(coords))


def gather_image(context: Context, image: ImageParam, coords: tuple[np.ndarray, ...]) -> np.ndarray:
    """`array[coords reversed]`, after checking that every coordinate is inside the image."""
    array = context.images[image.name]
    shape = np.broadcast_shapes(*(c.shape for c in coords))
    if 0 in shape:
        return np.empty(shape, array.dtype)
    for dim, c in enumerate(coords):
        axis = array.ndim - 1 - dim
        lo, hi, extent = int(c.min()), int(c.max()), array.shape[axis]
        if lo < 0 or hi >= extent:
            raise ValueError(
                f"{context.who}: input image {image.name!r} is read at dimension {dim} (numpy axis {axis}) "
                f"coordinates [{lo}, {hi}], but it only has [0, {extent - 1}]; pass a larger image or use a "
                "boundary condition"
            )
    return np.asarray(array[tuple(c.astype(np.intp) for c in reversed(coords))])


# ---------------------------------------------------------------- arithmetic


def _div_mod(a: np.ndarray, b: np.ndarray, dtype: DType) -> tuple[np.ndarray, np.ndarray]:
    """Integer quotient and remainder: Euclidean (0 <= r < |b|), and x/0 = x%0 = 0."""
    zero = b == 0
    if dtype.kind == "u":
        safe = np.where(zero, np.ones_like(b), b)
        return np.where(zero, 0, a // safe), np.where(zero, 0, a % safe)
    # int64 holds every quotient of the narrower types exactly; the cast back wraps
    # (int32 min / -1 is int32 min), and int64 min // -1 is already int64 min in numpy.
    wide_a, wide_b = a.astype(np.int64), np.where(zero, 1, b).astype(np.int64)
    q = np.floor_divide(wide_a, wide_b)
    r = wide_a - q * wide_b
    negative = r < 0  # floor division leaves r in (b, 0] for b < 0: step to the Euclidean one
    q = np.where(negative, q + 1, q)
    r = np.where(negative, r - wide_b, r)
    return np.where(zero, 0, q), np.where(zero, 0, r)


def _div(frame: Frame, node: Div, ops: Sequence[np.ndarray]) -> np.ndarray:
    a, b = ops
    if node.dtype.is_float:
        return np.true_divide(a, b)
    return _div_mod(a, b, node.dtype)[0]


def _mod(frame: Frame, node: Mod, ops: Sequence[np.ndarray]) -> np.ndarray:
    a, b = ops
    if node.dtype.is_float:
        # exactly this order, each step rounded to the float type, as the compiled code does
        return a - b * np.floor(a / b)
    return _div_mod(a, b, node.dtype)[1]


def _cast(frame: Frame, node: Cast, ops: Sequence[np.ndarray]) -> np.ndarray:
    (value,) = ops
    source, target = node.value.dtype, node.dtype
    if target.is_bool:
        return value != 0
    if source.is_float and target.is_int:
        return _saturate(value, target)
    return value.astype(target.numpy)  # int->int wraps, int->float and float->float round to nearest


def _saturate(value: np.ndarray, target: DType) -> np.ndarray:
    """Float to int: truncate toward zero, clamp to the target's range, NaN to 0."""
    t = np.trunc(value.astype(np.float64))  # exact for float32 and float64 inputs
    too_big = t >= float(int(target.max_value) + 1)  # a power of two, exact in float64
    too_small = t < float(target.min_value)
    safe = np.where(too_big | too_small | np.isnan(t), 0.0, t).astype(target.numpy)
    high, low = np.asarray(target.max_value, target.numpy), np.asarray(target.min_value, target.numpy)
    return np.where(too_big, high, np.where(too_small, low, safe))


def _binary(ufunc: Callable[..., Any]) -> Rule:
    def rule(frame: Frame, node: Any, ops: Sequence[np.ndarray]) -> np.ndarray:
        return ufunc(ops[0], ops[1])

    return rule


def _unary(ufunc: Callable[..., Any]) -> Rule:
    def rule(frame: Frame, node: Any, ops: Sequence[np.ndarray]) -> np.ndarray:
        return ufunc(ops[0])

    return rule


NUMPY_RULES: dict[type, Rule] = {
    Const: lambda frame, node, ops: np.asarray(node.value, node.dtype.numpy),
    Var: _var,
    RVar: _rvar,
    Param: lambda frame, node, ops: np.asarray(frame.context.params[node.name], node.dtype.numpy),
    ImageDim: _image_dim,
    Call: _call,
    Cast: _cast,
    Add: _binary(np.add),
    Sub: _binary(np.subtract),
    Mul: _binary(np.multiply),
    Div: _div,
    Mod: _mod,
    # `a < b ? a : b`, not np.minimum: a NaN in `a` gives `b`
    Min: lambda frame, node, ops: np.where(ops[0] < ops[1], ops[0], ops[1]),
    Max: lambda frame, node, ops: np.where(ops[0] > ops[1], ops[0], ops[1]),
    Pow: _binary(np.power),
    FastPow: _binary(np.power),  # the exact power: compiled code is within its bound of it
    LT: _binary(np.less),
    LE: _binary(np.less_equal),
    EQ: _binary(np.equal),
    NE: _binary(np.not_equal),
    And: _binary(np.logical_and),
    Or: _binary(np.logical_or),
    Not: _unary(np.logical_not),
    Select: lambda frame, node, ops: np.where(ops[0], ops[1], ops[2]),
    Sqrt: _unary(np.sqrt),
    Exp: _unary(np.exp),
    Log: _unary(np.log),
    Sin: _unary(np.sin),
    Cos: _unary(np.cos),
    Tanh: _unary(np.tanh),
    Floor: _unary(np.floor),
    Ceil: _unary(np.ceil),
    Round: _unary(np.rint),  # half to even
    Abs: _unary(np.abs),  # abs(int min) wraps to int min
}

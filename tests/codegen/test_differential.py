"""Compiled pipelines against the numpy interpreter (the oracle) on random and extreme inputs:
every expression node, every dtype pair, wrap-around, Euclidean division, saturating casts,
boundary conditions, reductions and scans, multi-stage and multi-output pipelines, origins,
strided and reversed layouts, 0-d to 4-d Funcs, and random expression trees.

Each pipeline is built once (functools.cache) and compiled once per session
(`tests.helpers.compiled`); tests that share a pipeline read one cached call's results.
Where the rule is simple, a plain-Python reference checks the interpreter too.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import inspect
import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest

import pipelines.expr as expr_module
from pipelines import (
    Func,
    ImageParam,
    Param,
    Pipeline,
    RDom,
    Var,
    cast,
    ceil,
    constant_exterior,
    cos,
    eq,
    exp,
    floor,
    log,
    maximum,
    minimum,
    mirror_image,
    mirror_interior,
    ne,
    repeat_edge,
    round,
    select,
    sin,
    sqrt,
    tanh,
)
from pipelines import abs as dsl_abs
from pipelines import fast_pow as dsl_fast_pow
from pipelines import max as dsl_max
from pipelines import min as dsl_min
from pipelines import pow as dsl_pow
from pipelines import sum as dsl_sum
from pipelines.expr import Expr
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.pipeline import definition_exprs
from pipelines.types import (
    DType,
    IRTypeError,
    bool_,
    float32,
    float64,
    int8,
    int16,
    int32,
    uint8,
    uint16,
    uint32,
)
from scheduler.schedule import Schedule
from tests.helpers import (
    FLOAT_RTOL,
    as_tuple,
    assert_matches_reference,
    assert_same,
    compiled,
    inputs_for,
    shape_arg,
)

x, y, z, w = Var("x"), Var("y"), Var("z"), Var("w")
INTS = (uint8, uint16, uint32, int8, int16, int32)
FLOATS = (float32, float64)
NUMERIC = (*INTS, *FLOATS)
ALL_TYPES = (bool_, *NUMERIC)
EXACT = 0.0  # rtol for results that are bit-identical in numpy and C


def type_id(t: DType) -> str:
    return t.name


# ---------------------------------------------------------------- every expression node

H, W = 6, 9
FA, FB = ImageParam(float32, 2, "fa"), ImageParam(float32, 2, "fb")
DA = ImageParam(float64, 2, "da")
IA, IB = ImageParam(int32, 2, "ia"), ImageParam(int32, 2, "ib")
I8 = ImageParam(int8, 2, "i8")
U8 = ImageParam(uint8, 2, "u8")
GAIN = Param(float32, "gain", 1.5)


@functools.cache
def node_inputs() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    fa = rng.uniform(-4, 4, (H, W)).astype(np.float32)
    fa.flat[:8] = [0.0, -0.0, 0.5, -2.5, np.inf, -np.inf, np.nan, 1e-40]
    fb = rng.uniform(-4, 4, (H, W)).astype(np.float32)
    fb.flat[:8] = [0.0, 1.0, 0.5, 2.0, 3.0, np.nan, 1.0, -0.0]
    i8 = rng.integers(-128, 128, (H, W), dtype=np.int8)
    i8.flat[:3] = [-128, 127, -1]
    return {
        "fa": fa,
        "fb": fb,
        "da": rng.uniform(-4, 4, (H, W)) * 10.0 ** rng.integers(-3, 4, (H, W)),
        "ia": rng.integers(-60, 60, (H, W), dtype=np.int32),
        "ib": rng.integers(-4, 5, (H, W), dtype=np.int32),
        "i8": i8,
        "u8": rng.integers(0, 256, (H, W), dtype=np.uint8),
        "gain": -1.25,
    }


def _func_call() -> Expr:
    g = Func("node_producer")
    g[x, y] = FA[x, y] * 2
    return g[x, y] + g[x, y]


def _rvar_sum() -> Expr:
    r = RDom((-1, 3), name="node_r")
    return dsl_sum(repeat_edge(FA)[x + r.x, y])


class NodeCase(NamedTuple):
    id: str
    node: type
    build: Callable[[], Any]
    rtol: float = EXACT


NODE_CASES = [
    NodeCase("const", expr_module.Const, lambda: 2.5),
    NodeCase("var", expr_module.Var, lambda: x * 3 - y),
    NodeCase("rvar", expr_module.RVar, _rvar_sum),
    NodeCase("param", expr_module.Param, lambda: FA[x, y] * GAIN),
    NodeCase("image_dim", expr_module.ImageDim, lambda: IA.width() * y + x - IA.height() + IA.dim(1).min()),
    NodeCase("call", expr_module.Call, _func_call),
    NodeCase("add_f32", expr_module.Add, lambda: FA[x, y] + FB[x, y]),
    NodeCase("add_u8", expr_module.Add, lambda: U8[x, y] + repeat_edge(U8)[x + 1, y]),
    NodeCase("sub_f32", expr_module.Sub, lambda: FA[x, y] - FB[x, y]),
    NodeCase("sub_i8", expr_module.Sub, lambda: I8[x, y] - repeat_edge(I8)[x, y + 1]),
    NodeCase("mul_f32", expr_module.Mul, lambda: FA[x, y] * FB[x, y]),
    NodeCase("mul_i32", expr_module.Mul, lambda: IA[x, y] * IB[x, y] * 99991),
    NodeCase("div_f32", expr_module.Div, lambda: FA[x, y] / FB[x, y]),
    NodeCase("div_i32", expr_module.Div, lambda: IA[x, y] / IB[x, y]),
    NodeCase("mod_f32", expr_module.Mod, lambda: FA[x, y] % FB[x, y]),
    NodeCase("mod_i32", expr_module.Mod, lambda: IA[x, y] % IB[x, y]),
    NodeCase("min_f32", expr_module.Min, lambda: dsl_min(FA[x, y], FB[x, y])),
    NodeCase("max_f32", expr_module.Max, lambda: dsl_max(FA[x, y], FB[x, y])),
    NodeCase("max_i8", expr_module.Max, lambda: dsl_max(I8[x, y], mirror_image(I8)[x + 1, y])),
    NodeCase("pow_f32", expr_module.Pow, lambda: dsl_pow(FA[x, y], FB[x, y]), FLOAT_RTOL),
    NodeCase("pow_int_exponent", expr_module.Pow, lambda: FA[x, y] ** 3, FLOAT_RTOL),
    # within 1.5 + |exponent| ulp: 5.5 ulp (6.6e-7) for exponents in [-4, 4]
    NodeCase("fast_pow_f32", expr_module.FastPow, lambda: dsl_fast_pow(FA[x, y], FB[x, y]), FLOAT_RTOL),
    NodeCase("lt", expr_module.LT, lambda: FA[x, y] < FB[x, y]),
    NodeCase("le", expr_module.LE, lambda: IA[x, y] <= IB[x, y] * 10),
    NodeCase("eq", expr_module.EQ, lambda: eq(IA[x, y] % 3, IB[x, y] % 3)),
    NodeCase("ne", expr_module.NE, lambda: ne(FA[x, y], FB[x, y])),
    NodeCase("and", expr_module.And, lambda: (FA[x, y] < FB[x, y]) & (IA[x, y] > 0)),
    NodeCase("or", expr_module.Or, lambda: (FA[x, y] < FB[x, y]) | (IA[x, y] > 0)),
    NodeCase("not", expr_module.Not, lambda: ~(FA[x, y] < 0)),
    NodeCase("select", expr_module.Select, lambda: select(FA[x, y] < FB[x, y], FA[x, y], FB[x, y] * 2)),
    NodeCase("cast_f32_i16", expr_module.Cast, lambda: cast(int16, FA[x, y] * 10000)),
    NodeCase("cast_i32_u8", expr_module.Cast, lambda: cast(uint8, IA[x, y] * 7)),
    NodeCase("cast_f32_bool", expr_module.Cast, lambda: cast(bool_, FA[x, y])),
    NodeCase("cast_f64_f32", expr_module.Cast, lambda: cast(float32, DA[x, y])),
    NodeCase("sqrt_f32", expr_module.Sqrt, lambda: sqrt(FA[x, y])),
    NodeCase("sqrt_int", expr_module.Sqrt, lambda: sqrt(IA[x, y])),
    NodeCase("exp_f32", expr_module.Exp, lambda: exp(FA[x, y]), FLOAT_RTOL),
    NodeCase("exp_f64", expr_module.Exp, lambda: exp(DA[x, y] / 100), FLOAT_RTOL),
    NodeCase("log_f32", expr_module.Log, lambda: log(FA[x, y]), FLOAT_RTOL),
    NodeCase("log_f64", expr_module.Log, lambda: log(DA[x, y]), FLOAT_RTOL),
    NodeCase("sin_f32", expr_module.Sin, lambda: sin(FA[x, y]), FLOAT_RTOL),
    NodeCase("sin_f64", expr_module.Sin, lambda: sin(DA[x, y]), FLOAT_RTOL),
    NodeCase("cos_f32", expr_module.Cos, lambda: cos(FA[x, y]), FLOAT_RTOL),
    NodeCase("cos_f64", expr_module.Cos, lambda: cos(DA[x, y]), FLOAT_RTOL),
    NodeCase("tanh_f32", expr_module.Tanh, lambda: tanh(FA[x, y]), FLOAT_RTOL),
    NodeCase("tanh_f64", expr_module.Tanh, lambda: tanh(DA[x, y]), FLOAT_RTOL),
    NodeCase("floor_f32", expr_module.Floor, lambda: floor(FA[x, y] * 2.5)),
    NodeCase("floor_div_f64", expr_module.Floor, lambda: DA[x, y] // 3),
    NodeCase("ceil_f32", expr_module.Ceil, lambda: ceil(FA[x, y] * 2.5)),
    NodeCase("ceil_f64", expr_module.Ceil, lambda: ceil(DA[x, y])),
    NodeCase("round_f32", expr_module.Round, lambda: round(FA[x, y] * 2)),
    NodeCase("round_f64", expr_module.Round, lambda: round(DA[x, y] - 0.5)),
    NodeCase("abs_f32", expr_module.Abs, lambda: dsl_abs(FA[x, y])),
    NodeCase("abs_i8", expr_module.Abs, lambda: dsl_abs(I8[x, y])),
    NodeCase("abs_i32", expr_module.Abs, lambda: dsl_abs(IA[x, y] - 20)),
]


def concrete_expr_classes() -> set[type]:
    """The node classes of pipelines.expr: Expr dataclasses without a subclass there."""
    return {
        cls
        for _, cls in inspect.getmembers(expr_module, inspect.isclass)
        if issubclass(cls, Expr)
        and dataclasses.is_dataclass(cls)
        and cls.__module__ == expr_module.__name__
        and not any(sub.__module__ == expr_module.__name__ for sub in cls.__subclasses__())
    }


def node_classes_in(pipeline: Pipeline) -> set[type]:
    return {type(n) for f in pipeline.funcs for d in f.definitions for e in definition_exprs(d) for n in walk(e)}


@functools.cache
def node_pipeline(case_id: str) -> Pipeline:
    case = next(c for c in NODE_CASES if c.id == case_id)
    f = Func(f"node_{case_id}")
    f[x, y] = case.build()
    return Pipeline(f)


def test_node_table_covers_every_expr_class():
    classes = concrete_expr_classes()
    assert len(classes) > 30
    missing = sorted(c.__name__ for c in classes - {case.node for case in NODE_CASES})
    assert not missing, f"no differential node case for {missing}"


@pytest.mark.parametrize("case", NODE_CASES, ids=[c.id for c in NODE_CASES])
def test_node_compiled_matches_interpreter(case: NodeCase):
    p = node_pipeline(case.id)
    assert case.node in node_classes_in(p), f"case {case.id} builds no {case.node.__name__} node"
    assert_matches_reference(p, inputs_for(p, node_inputs()), shape=(H, W), rtol=case.rtol)


PARAM_VALUES = {
    t: [t.min_value, t.max_value, 0] if t.is_int else [True, False, True] if t.is_bool else [-math.inf, math.nan, 1e-45]
    for t in ALL_TYPES
}


@functools.cache
def param_pipeline() -> Pipeline:
    funcs = []
    for t in ALL_TYPES:
        f = Func(f"param_{t.name}")
        f[x] = select(x < 1, Param(t, f"p_{t.name}"), Param(t, f"q_{t.name}", PARAM_VALUES[t][2]))
        funcs.append(f)
    return Pipeline(funcs)


@pytest.mark.parametrize("which", [0, 1])
def test_params_of_every_type_at_their_extremes_reach_the_code_exactly(which: int):
    values = {f"p_{t.name}": PARAM_VALUES[t][which] for t in ALL_TYPES}
    got = assert_matches_reference(param_pipeline(), values, shape=[(2,)] * len(ALL_TYPES), rtol=EXACT)
    for t, g in zip(ALL_TYPES, got):
        assert_same(g, np.array([PARAM_VALUES[t][which], PARAM_VALUES[t][2]], t.numpy), EXACT, what=t.name)


def test_param_in_an_index_moves_the_required_region():
    offset = Param(int32, "offset", 0)
    im = ImageParam(int16, 1, "shifted_in")
    f = Func("param_shift")
    f[x] = im[x + offset] * 2
    a = np.arange(10, dtype=np.int16)
    for k in (0, 3, 6):
        (got,) = assert_matches_reference(f, {"shifted_in": a, "offset": k}, shape=(4,))
        np.testing.assert_array_equal(got, a[k : k + 4] * 2)
    with pytest.raises(ValueError, match=r"input 'shifted_in' is too small: axis 0 must cover \[7, 10\]"):
        compiled(f)(shape=(4,), shifted_in=a, offset=7)


def test_param_default_used_when_not_passed():
    p = node_pipeline("param")
    inputs = inputs_for(p, {k: v for k, v in node_inputs().items() if k != "gain"})
    (got,) = assert_matches_reference(p, inputs, shape=(H, W))
    assert_same(got, node_inputs()["fa"] * np.float32(1.5), EXACT)


# ---------------------------------------------------------------- every dtype pair


def specials(t: DType) -> np.ndarray:
    """16 values of type t, its extremes and the usual troublemakers among them."""
    if t.is_bool:
        return np.array([False, True] * 8)
    if t.is_float:
        tiny = 1e-40 if t.bits == 32 else 1e-310
        values = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 7.0, -7.0, 1e30, -1e30, np.inf, -np.inf, np.nan, tiny, 100.25]
        return np.array(values, t.numpy)
    lo, hi = int(t.min_value), int(t.max_value)
    if t.is_signed:
        values = [lo, lo + 1, -7, -2, -1, 0, 1, 2, 3, 7, 100, hi - 1, hi, -100, 5, lo // 2]
    else:
        values = [0, 1, 2, 3, 7, 100, 127, 128, 200, 255, hi // 2, hi // 2 + 1, hi - 1, hi, 5, 9]
    return np.array(values, dtype=t.numpy)


def pair_inputs() -> dict[str, np.ndarray]:
    """For each type an `a_` image and a `b_` image such that every pair of specials meets."""
    inputs = {}
    for t in ALL_TYPES:
        s = specials(t)
        inputs[f"a_{t.name}"] = np.repeat(s, len(s))
        inputs[f"b_{t.name}"] = np.tile(s, len(s))
    return inputs


PAIR_IMAGES = {(side, t): ImageParam(t, 1, f"{side}_{t.name}") for side in "ab" for t in ALL_TYPES}
PAIR_OPS: dict[str, Callable[[Any, Any], Expr]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "mod": lambda a, b: a % b,
    "min": dsl_min,
    "max": dsl_max,
    "pow": dsl_pow,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "eq": eq,
    "ne": ne,
}
COMPARISONS = ("lt", "le", "gt", "eq", "ne")


def documented_promotion(a: DType, b: DType) -> DType | None:
    """The common type by the rules of pipelines/types.py (None: the language refuses)."""
    if a == b:
        return a
    if a.is_bool or b.is_bool:
        return None
    if a.is_float or b.is_float:
        floats = [t for t in (a, b) if t.is_float]
        return max(floats, key=lambda t: t.bits)
    return DType("i" if a.is_signed or b.is_signed else "u", max(a.bits, b.bits))


def documented_result(op: str, a: DType, b: DType) -> DType | None:
    common = documented_promotion(a, b)
    if common is None:
        return None
    if op in COMPARISONS:
        return bool_
    if common.is_bool:
        return None  # no arithmetic on bool
    if op == "pow" and not common.is_float:
        return float32
    return common


def pack(name: str, args: tuple[Var, ...], exprs: list[Expr]) -> Func:
    """One Func holding several expressions of one type along a last dimension z:
    `f[*args, z] = exprs[z]`, so that one compile and one output carry all of them."""
    choices: list[Any] = []
    for i, e in enumerate(exprs[:-1]):
        choices += [eq(z, i), e]
    f = Func(name)
    f[(*args, z)] = select(*choices, exprs[-1]) if choices else exprs[-1]
    return f


@functools.cache
def pair_pipeline(left: DType) -> tuple[Pipeline, dict[tuple[str, DType], tuple[int, int]]]:
    """Every op of `left` with every type, one output per result type: (output, z) by (op, right)."""
    by_type: dict[DType, list[tuple[tuple[str, DType], Expr]]] = {}
    a = PAIR_IMAGES["a", left][x]
    for right in ALL_TYPES:
        b = PAIR_IMAGES["b", right][x]
        for op, build in PAIR_OPS.items():
            if documented_result(op, left, right) is not None:
                e = build(a, b)
                by_type.setdefault(e.dtype, []).append(((op, right), e))
    funcs, index = [], {}
    for t, entries in by_type.items():
        for i, (key, _) in enumerate(entries):
            index[key] = (len(funcs), i)
        funcs.append(pack(f"pairs_{left.name}_to_{t.name}", (x,), [e for _, e in entries]))
    return Pipeline(funcs), index


@functools.cache
def pair_results(left: DType) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    p, index = pair_pipeline(left)
    inputs = inputs_for(p, pair_inputs())
    counts = [sum(1 for o, _ in index.values() if o == k) for k in range(len(p.outputs))]
    shapes = shape_arg([(n, len(specials(left)) ** 2) for n in counts])
    want = as_tuple(interpret(p, shape=shapes, **inputs))
    got = as_tuple(compiled(p)(shape=shapes, **inputs))
    return got, want


@pytest.mark.parametrize("right", ALL_TYPES, ids=type_id)
@pytest.mark.parametrize("left", ALL_TYPES, ids=type_id)
def test_binary_ops_every_dtype_pair_promote_and_match(left: DType, right: DType):
    p, index = pair_pipeline(left)
    got, want = pair_results(left)
    a, b = PAIR_IMAGES["a", left][x], PAIR_IMAGES["b", right][x]
    for op, build in PAIR_OPS.items():
        expected = documented_result(op, left, right)
        if expected is None:
            with pytest.raises(IRTypeError, match="bool"):
                build(a, b)
            continue
        assert build(a, b).dtype == expected, f"{op}({left}, {right})"
        k, i = index[op, right]
        assert p.outputs[k].dtype == expected
        rtol = FLOAT_RTOL if op == "pow" else EXACT
        assert_same(got[k][i], want[k][i], rtol, what=f"{op}({left}, {right})")


def test_pow_of_two_bools_is_refused_like_other_arithmetic():
    a, b = PAIR_IMAGES["a", bool_][x], PAIR_IMAGES["b", bool_][x]
    with pytest.raises(IRTypeError, match="bool"):
        a * b
    with pytest.raises(IRTypeError, match="bool"):
        dsl_pow(a, b)
    with pytest.raises(IRTypeError, match="bool"):
        dsl_fast_pow(a, b)


@pytest.mark.parametrize("left", ALL_TYPES, ids=type_id)
def test_fast_pow_takes_the_types_pow_takes(left: DType):
    for right in ALL_TYPES:
        a, b = PAIR_IMAGES["a", left][x], PAIR_IMAGES["b", right][x]
        if documented_result("pow", left, right) is None:
            with pytest.raises(IRTypeError):
                dsl_fast_pow(a, b)
        else:
            assert dsl_fast_pow(a, b).dtype == dsl_pow(a, b).dtype == documented_result("pow", left, right)


@pytest.mark.parametrize("t", [int8, int16, int32], ids=type_id)
def test_multiply_by_the_type_minimum_compiles_and_wraps(t: DType):
    a = ImageParam(t, 1, f"times_min_{t.name}")
    f, g = Func(f"times_min_{t.name}"), Func(f"doubled_half_{t.name}")
    f[x] = a[x] * int(t.min_value)
    g[x] = a[x] * (2 ** (t.bits - 2)) + a[x] * (2 ** (t.bits - 2))  # coefficient 2**(bits-1) wraps to the minimum
    values = np.array([0, 1, -1, 3], t.numpy)
    got = assert_matches_reference([f, g], {a.name: values}, shape=[(4,), (4,)])
    np.testing.assert_array_equal(got[0], [wrap(int(v) * int(t.min_value), t) for v in values])


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: PAIR_IMAGES["a", uint8][x] + 3, uint8),
        (lambda: 3 - PAIR_IMAGES["a", uint16][x], uint16),
        (lambda: PAIR_IMAGES["a", int8][x] * -127, int8),
        (lambda: PAIR_IMAGES["a", int16][x] + 2.5, float32),
        (lambda: PAIR_IMAGES["a", uint32][x] / 0.5, float32),
        (lambda: PAIR_IMAGES["a", float64][x] + 0.1, float64),
        (lambda: PAIR_IMAGES["a", float32][x] + 4, float32),
        (lambda: PAIR_IMAGES["a", bool_][x] & True, bool_),
        (lambda: x + 1, int32),
        (lambda: select(x < 2, 1.5, 2), float32),
    ],
    ids=["u8+int", "int-u16", "i8*int", "i16+float", "u32/float", "f64+float", "f32+int", "bool&True", "var", "select"],
)
def test_literal_takes_the_other_operand_type(build: Callable[[], Expr], expected: DType):
    e = build()
    assert e.dtype == expected
    f = Func("literal_rule")
    f[x] = e
    p = Pipeline(f)
    inputs = inputs_for(p, pair_inputs())
    assert_matches_reference(p, inputs, shape=(256,))


# ---------------------------------------------------------------- integer wrap-around and division


def wrap(value: int, t: DType) -> int:
    span = 1 << t.bits
    v = value % span
    return v - span if t.is_signed and v >= span // 2 else v


def euclid_div(a: int, b: int) -> int:
    if b == 0:
        return 0
    q = a // b
    return q + 1 if a - q * b < 0 else q


INT_OPS: dict[str, tuple[Callable[[Any, Any], Expr], Callable[[int, int], int]]] = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "neg": (lambda a, b: -a, lambda a, b: -a),
    "abs": (lambda a, b: dsl_abs(a), lambda a, b: builtins.abs(a)),
    "div": (lambda a, b: a / b, euclid_div),
    "mod": (lambda a, b: a % b, lambda a, b: 0 if b == 0 else a - euclid_div(a, b) * b),
}


@functools.cache
def int_pipeline(t: DType) -> Pipeline:
    a, b = ImageParam(t, 1, "a"), ImageParam(t, 1, "b")
    funcs = []
    for name, (build, _) in INT_OPS.items():
        f = Func(f"{name}_{t.name}")
        f[x] = build(a[x], b[x])
        funcs.append(f)
    return Pipeline(funcs)


@pytest.mark.parametrize("t", INTS, ids=type_id)
def test_integer_ops_wrap_and_divide_euclidean_at_every_width(t: DType):
    s = specials(t)
    a, b = np.repeat(s, len(s)), np.tile(s, len(s))  # includes min / -1, x / 0, -7 / 2, 7 / -2
    p = int_pipeline(t)
    got = assert_matches_reference(p, {"a": a, "b": b}, shape=[a.shape] * len(p.outputs))
    for (name, (_, rule)), values in zip(INT_OPS.items(), got):
        expected = np.array([wrap(rule(int(i), int(j)), t) for i, j in zip(a, b)], dtype=t.numpy)
        np.testing.assert_array_equal(values, expected, err_msg=f"{name} on {t}")


def test_integer_minimum_divided_by_minus_one_wraps_and_leaves_no_remainder():
    p = int_pipeline(int32)
    a = np.array([-(2**31), -(2**31), -7, 7, -7, 5], np.int32)
    b = np.array([-1, 0, 2, -2, -2, 0], np.int32)
    got = assert_matches_reference(p, {"a": a, "b": b}, shape=[a.shape] * len(p.outputs))
    outputs = dict(zip(INT_OPS, got))
    np.testing.assert_array_equal(outputs["div"], [-(2**31), 0, -4, -3, 4, 0])
    np.testing.assert_array_equal(outputs["mod"], [0, 0, 1, 1, 1, 0])


@pytest.mark.parametrize("t", FLOATS, ids=type_id)
def test_float_mod_negative_operands_follow_floor_rule(t: DType):
    a_im, b_im = ImageParam(t, 1, "a"), ImageParam(t, 1, "b")
    f = Func(f"fmod_{t.name}")
    f[x] = a_im[x] % b_im[x]
    a = np.array([7.5, -7.5, 7.5, -7.5, 0.3, -0.3, 5.0, np.inf, 1.0, -0.0, 1e30], t.numpy)
    b = np.array([2.0, 2.0, -2.0, -2.0, 0.1, 0.1, 0.0, 2.0, np.inf, 3.0, 7.0], t.numpy)
    (got,) = assert_matches_reference(f, {"a": a, "b": b}, shape=a.shape, rtol=EXACT)
    np.testing.assert_array_equal(got[:4], np.array([1.5, 0.5, -0.5, -1.5], t.numpy))


# ---------------------------------------------------------------- casts


CAST_LENGTH = 28


def cast_inputs() -> dict[str, np.ndarray]:
    """CAST_LENGTH values of each type: its specials, and for floats values near every bound."""
    inputs = {f"src_{t.name}": np.resize(specials(t), CAST_LENGTH) for t in ALL_TYPES}
    for t in FLOATS:
        more = [300.7, -300.7, 127.9, -128.9, 255.5, 256.0, -0.5, 0.99, 65535.9, 65536.0, 2147483520.0, 4294967040.0]
        inputs[f"src_{t.name}"] = np.concatenate([specials(t), np.array(more, t.numpy)])
    return inputs


@functools.cache
def cast_pipeline() -> Pipeline:
    """One output per target type; along z, the cast from each source type (ALL_TYPES order)."""
    images = [ImageParam(src, 1, f"src_{src.name}") for src in ALL_TYPES]
    return Pipeline([pack(f"cast_to_{dst.name}", (x,), [cast(dst, im[x]) for im in images]) for dst in ALL_TYPES])


@functools.cache
def cast_results() -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    p, inputs = cast_pipeline(), cast_inputs()
    shapes = [(len(ALL_TYPES), CAST_LENGTH)] * len(p.outputs)
    return as_tuple(compiled(p)(shape=shapes, **inputs)), as_tuple(interpret(p, shape=shapes, **inputs))


def saturate(v: float, t: DType) -> int:
    if math.isnan(v):
        return 0
    if math.isinf(v):
        return int(t.max_value) if v > 0 else int(t.min_value)
    return min(max(math.trunc(v), int(t.min_value)), int(t.max_value))


@pytest.mark.parametrize("dst", ALL_TYPES, ids=type_id)
@pytest.mark.parametrize("src", ALL_TYPES, ids=type_id)
def test_cast_every_type_pair_matches_and_follows_rules(src: DType, dst: DType):
    got, want = cast_results()
    k, i = ALL_TYPES.index(dst), ALL_TYPES.index(src)
    assert_same(got[k][i], want[k][i], EXACT, what=f"cast {src} -> {dst}")
    values = cast_inputs()[f"src_{src.name}"]
    if dst.is_bool:
        expected = [v != 0 for v in values.tolist()]
    elif src.is_float and dst.is_int:  # truncate toward zero, saturate, NaN gives 0
        expected = [saturate(v, dst) for v in values.tolist()]
    elif dst.is_int:  # from an int or bool: wraps modulo 2**bits
        expected = [wrap(int(v), dst) for v in values.tolist()]
    else:
        expected = values.astype(dst.numpy).tolist()
    assert_same(got[k][i], np.array(expected, dst.numpy), EXACT, what=f"cast {src} -> {dst} by rule")


# ---------------------------------------------------------------- boundary conditions

BOUNDARY_MAKERS = {
    "repeat_edge": repeat_edge,
    "constant_exterior": lambda im: constant_exterior(im, 7),
    "mirror_image": mirror_image,
    "mirror_interior": mirror_interior,
}


def boundary_index(kind: str, v: int, n: int) -> int | None:
    """Which pixel of an n-pixel axis coordinate v reads (None: the constant exterior)."""
    if kind == "repeat_edge":
        return min(max(v, 0), n - 1)
    if kind == "constant_exterior":
        return v if 0 <= v < n else None
    if kind == "mirror_image":
        t = v % (2 * n)
        return t if t < n else 2 * n - 1 - t
    if n == 1:
        return 0
    t = v % (2 * n - 2)
    return t if t < n else 2 * n - 2 - t


@functools.cache
def boundary_pipeline(kind: str) -> Pipeline:
    im = ImageParam(uint16, 2, "im")
    b = BOUNDARY_MAKERS[kind](im)
    near, far = Func(f"{kind}_near"), Func(f"{kind}_far")
    near[x, y] = b[x, y]
    far[x, y] = b[x - 50, y + 50] + b[x * 3 + 41, 2 - y]
    return Pipeline([near, far])


@pytest.mark.parametrize("size", [(1, 1), (1, 6), (5, 1), (2, 2), (5, 7), (6, 4)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kind", list(BOUNDARY_MAKERS))
def test_boundary_condition_far_outside_matches(kind: str, size: tuple[int, int]):
    a = (np.arange(math.prod(size), dtype=np.uint16) * 3 + 1).reshape(size)
    shape, origin = (40, 70), (-35, -20)  # x in [-35, 34], y in [-20, 19]
    near, far = assert_matches_reference(boundary_pipeline(kind), {"im": a}, shape=[shape] * 2, origin=[origin] * 2)
    height, width = size
    for j in range(shape[0]):
        for i in range(shape[1]):
            ix, iy = boundary_index(kind, origin[0] + i, width), boundary_index(kind, origin[1] + j, height)
            expected = 7 if ix is None or iy is None else a[iy, ix]
            assert near[j, i] == expected, (kind, size, origin[0] + i, origin[1] + j)


# ---------------------------------------------------------------- reductions, histograms, scans

R_IN = ImageParam(float32, 2, "rin")
R_U8 = ImageParam(uint8, 2, "ru8")
R_I16 = ImageParam(int16, 2, "ri16")
R_N = Param(int32, "n", 3)


@functools.cache
def reduction_inputs() -> dict[str, Any]:
    rng = np.random.default_rng(5)
    return {
        "rin": rng.uniform(-2, 2, (7, 10)).astype(np.float32),
        "ru8": rng.integers(0, 256, (7, 10), dtype=np.uint8),
        "ri16": rng.integers(-30000, 30000, (7, 10), dtype=np.int16),
        "n": 3,
    }


def _inline_reductions() -> list[Func]:
    r = RDom([(-1, 3), (-2, 5)], name="box")
    b, bi = repeat_edge(R_IN), mirror_image(R_I16)
    total, high, low, wrapped = Func("box_sum"), Func("box_max"), Func("box_min"), Func("box_sum_i16")
    total[x, y] = dsl_sum(b[x + r.x, y + r.y])
    high[x, y] = maximum(b[x + r.x, y + r.y] * (r.x + 1))
    low[x, y] = minimum(bi[x + r.x, y + r.y])
    wrapped[x, y] = dsl_sum(bi[x + r.x, y + r.y])  # int16 sums wrap
    return [total, high, low, wrapped]


def _histogram() -> list[Func]:
    r = RDom([(0, R_U8.width()), (0, R_U8.height())], name="pixels")
    hist = Func("hist")
    hist[x] = cast(int32, 0)
    hist[cast(int32, R_U8[r.x, r.y])] += 1
    return [hist]


def _row_scan() -> list[Func]:
    r = RDom((1, R_IN.width() - 1), name="scan_x")
    f = Func("row_scan")
    f[x, y] = R_IN[x, y]
    f[r.x, y] = f[r.x - 1, y] + f[r.x, y]
    return [f]


def _column_scan_max() -> list[Func]:
    r = RDom((1, R_I16.height() - 1), name="scan_y")
    f = Func("column_max")
    f[x, y] = R_I16[x, y]
    f[x, r.x] = dsl_max(f[x, r.x - 1], f[x, r.x])
    return [f]


def _where_predicates() -> list[Func]:
    r = RDom([(0, 5), (0, 5)], name="tri")
    r.where(r.x < r.y).where(ne((r.x + r.y) % 3, 0))
    f = Func("masked")
    f[x, y] = cast(float32, 0)
    f[x, y] += repeat_edge(R_IN)[x + r.x, y + r.y] * (r.x - r.y)
    return [f]


def _pure_var_predicate() -> list[Func]:
    r = RDom((0, 8), name="lower")
    r.where(r.x <= x)
    f = Func("prefix_until_x")
    f[x, y] = cast(int32, 0)
    f[x, y] = f[x, y] + cast(int32, repeat_edge(R_U8)[r.x, y])
    return [f]


def _inline_sum_where_pure_var() -> list[Func]:
    r = RDom((0, 6), name="upto_x")
    r.where(r.x <= x)
    f = Func("inline_prefix")
    f[x, y] = dsl_sum(cast(int32, repeat_edge(R_U8)[r.x, y]) * (y + 1))
    return [f]


def _param_extent() -> list[Func]:
    r = RDom((0, R_N), name="by_param")
    f = Func("param_window")
    f[x, y] = dsl_sum(repeat_edge(R_IN)[x - r.x, y])
    return [f]


def _several_updates() -> list[Func]:
    r = RDom((0, 4), name="steps")
    f = Func("several_updates")
    f[x, y] = cast(int32, R_U8[x, y])
    f[x, y] = f[x, y] * 3
    f[x, y] = f[x, y] - cast(int32, R_U8[x, y]) * x
    f[r.x, y] = f[r.x, y] + f[r.x + 1, y]  # reads the next point before it is updated
    f[x, y] += y
    return [f]


def _histogram_then_cdf() -> list[Func]:
    r = RDom([(0, R_U8.width()), (0, R_U8.height())], name="hist_pixels")
    hist = Func("hist_mid")
    hist[x] = cast(uint32, 0)
    hist[cast(int32, R_U8[r.x, r.y])] += 1
    s = RDom((1, 255), name="cdf_scan")
    cdf = Func("cdf")
    cdf[x] = hist[x]
    cdf[s.x] = cdf[s.x - 1] + hist[s.x]
    equalized = Func("equalized")
    equalized[x, y] = cast(uint8, cdf[cast(int32, R_U8[x, y])] * 255 / (R_U8.width() * R_U8.height()))
    return [equalized]


REDUCTIONS: dict[str, tuple[Callable[[], list[Func]], Callable[[dict[str, Any]], list[tuple[int, ...]]]]] = {
    "inline_sum_max_min": (_inline_reductions, lambda a: [a["rin"].shape] * 4),
    "histogram": (_histogram, lambda a: [(256,)]),
    "row_scan": (_row_scan, lambda a: [a["rin"].shape]),
    "column_scan_max": (_column_scan_max, lambda a: [a["ri16"].shape]),
    "where_predicates": (_where_predicates, lambda a: [(6, 8)]),
    "pure_var_predicate": (_pure_var_predicate, lambda a: [(7, 8)]),
    "inline_sum_where_pure_var": (_inline_sum_where_pure_var, lambda a: [(7, 8)]),
    "param_extent": (_param_extent, lambda a: [a["rin"].shape]),
    "several_updates": (_several_updates, lambda a: [(a["ru8"].shape[0], a["ru8"].shape[1] - 1)]),
    "histogram_then_cdf": (_histogram_then_cdf, lambda a: [a["ru8"].shape]),
}


@functools.cache
def reduction_pipeline(name: str) -> Pipeline:
    return Pipeline(REDUCTIONS[name][0]())


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_compiled_matches_interpreter(name: str):
    inputs = reduction_inputs()
    p = reduction_pipeline(name)
    shapes = shape_arg(REDUCTIONS[name][1](inputs))
    assert_matches_reference(p, inputs_for(p, inputs), shape=shapes, rtol=EXACT)


@pytest.mark.parametrize("n", [-2, 0, 1, 5])
def test_rdom_extent_from_param_matches_for_each_value(n: int):
    p = reduction_pipeline("param_extent")
    inputs = reduction_inputs()
    assert_matches_reference(p, {"rin": inputs["rin"], "n": n}, shape=inputs["rin"].shape, rtol=EXACT)


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (9, 4)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_rdom_extent_from_input_width_follows_the_input(size: tuple[int, int]):
    a = np.random.default_rng(3).integers(0, 256, size, dtype=np.uint8)
    (hist,) = assert_matches_reference(reduction_pipeline("histogram"), {"ru8": a}, shape=(256,))
    np.testing.assert_array_equal(hist, np.bincount(a.ravel(), minlength=256))


# ---------------------------------------------------------------- multi-stage and multi-output

CHAIN_IN = ImageParam(float32, 2, "chain_in")


@functools.cache
def chain_funcs() -> tuple[Func, ...]:
    b = mirror_interior(CHAIN_IN)
    s1, s2, s3, s4 = Func("stage1"), Func("stage2"), Func("stage3"), Func("stage4")
    s1[x, y] = b[x - 1, y] + b[x + 1, y] * 2
    s2[x, y] = s1[x, y - 1] - s1[x, y + 2]
    s3[x, y] = select(s2[x, y] > 0, s2[x + 1, y] * s1[x, y], s2[x - 2, y] / 4)
    s4[x, y] = s3[x, y] + s3[x, y + 1] + s1[x + 3, y]
    return s1, s2, s3, s4


CHAIN_SCHEDULES = {
    "inline_all": (),
    "root_stage2": (1,),
    "root_stage1_stage3": (0, 2),
    "root_all": (0, 1, 2),
}


@pytest.mark.parametrize("schedule_name", list(CHAIN_SCHEDULES))
def test_chain_of_four_stages_matches_under_each_schedule(schedule_name: str):
    funcs = chain_funcs()
    s = Schedule()
    for k in CHAIN_SCHEDULES[schedule_name]:
        s[funcs[k]].compute_root()
    a = np.random.default_rng(8).uniform(-1, 1, (9, 12)).astype(np.float32)
    assert_matches_reference(funcs[3], {"chain_in": a}, shape=(9, 12), schedule=s, rtol=EXACT)
    assert_matches_reference(funcs[3], {"chain_in": a}, shape=(4, 5), origin=(-3, 6), schedule=s, rtol=EXACT)


@functools.cache
def shared_producer_outputs() -> tuple[Func, Func, Func]:
    producer, left, right = Func("shared"), Func("left_out"), Func("right_out")
    producer[x, y] = repeat_edge(CHAIN_IN)[x, y] * 3 + 1
    left[x, y] = producer[x - 1, y] + producer[x, y]
    right[x, y] = cast(int32, producer[x, y + 2] * 10)
    return producer, left, right


@pytest.mark.parametrize("root", [False, True], ids=["inlined", "root"])
def test_two_outputs_sharing_a_producer_match(root: bool):
    producer, left, right = shared_producer_outputs()
    s = Schedule()
    if root:
        s[producer].compute_root()
    a = np.random.default_rng(9).uniform(-1, 1, (5, 6)).astype(np.float32)
    assert_matches_reference(
        [left, right], {"chain_in": a}, shape=[(5, 6), (3, 8)], origin=[(0, 0), (-2, 1)], schedule=s, rtol=EXACT
    )


def test_output_read_by_another_output_inside_its_buffer_matches():
    first, second = Func("first_out"), Func("second_out")
    first[x, y] = CHAIN_IN[x, y] * 2
    second[x, y] = first[x, y] + first[x, y]
    a = np.random.default_rng(10).uniform(-1, 1, (4, 5)).astype(np.float32)
    assert_matches_reference([first, second], {"chain_in": a}, shape=[(4, 5), (4, 5)], rtol=EXACT)


STAGE_IN = ImageParam(uint8, 2, "stage_in")


def stage_input() -> np.ndarray:
    return np.random.default_rng(16).integers(0, 256, (6, 7), dtype=np.uint8)


def test_root_intermediate_read_at_data_dependent_coordinates_matches():
    g, f = Func("gathered_root"), Func("gatherer")
    g[x, y] = cast(int32, STAGE_IN[x, y]) * 3
    f[x, y] = g[cast(int32, STAGE_IN[x, y]) % 7, y]
    s = Schedule()
    s[g].compute_root()
    assert_matches_reference(f, {"stage_in": stage_input()}, shape=(6, 7), schedule=s)


def test_func_with_updates_shared_by_two_outputs_matches():
    r = RDom((0, STAGE_IN.width()), name="row_r")
    rows, spread, doubled = Func("row_sums"), Func("spread"), Func("doubled")
    rows[y] = 0
    rows[y] += cast(int32, STAGE_IN[r.x, y])
    spread[x, y] = rows[y] + x
    doubled[y] = rows[y] * 2
    assert_matches_reference([spread, doubled], {"stage_in": stage_input()}, shape=[(6, 7), (6,)])


def test_output_with_updates_read_by_another_output_matches():
    r = RDom((1, 6), name="out_scan_r")
    running, twice = Func("running"), Func("running_twice")
    running[x] = cast(int32, STAGE_IN[x, 0])
    running[r.x] = running[r.x - 1] + running[r.x]
    twice[x] = running[x] * 2
    assert_matches_reference([running, twice], {"stage_in": stage_input()}, shape=[(7,), (7,)])


def test_update_at_a_constant_coordinate_of_a_3d_func_matches():
    im = ImageParam(float32, 3, "planes_in")
    r = RDom((0, 3), name="plane_r")
    f = Func("planes")
    f[x, y, z] = im[x, y, z]
    f[r.x, y, 1] = f[r.x, y, 0] * 2 + f[r.x, y, 1]
    a = np.random.default_rng(17).random((2, 3, 4), dtype=np.float32)
    assert_matches_reference(f, {"planes_in": a}, shape=(2, 3, 4), rtol=EXACT)


def test_bool_func_computed_at_root_matches():
    mask, f = Func("bright_mask"), Func("from_mask")
    mask[x, y] = STAGE_IN[x, y] > 100
    f[x, y] = select(mask[x, y] & ~mask[x - 1, y], 1, 2) + select(mask[x, y], 10, 0)
    s = Schedule()
    s[mask].compute_root()
    assert_matches_reference(f, {"stage_in": stage_input()}, shape=(6, 6), origin=(1, 0), schedule=s)


@pytest.mark.parametrize(("shape", "origin"), [((6,), (0,)), ((3,), (2,)), ((4,), (1,))], ids=str)
def test_update_of_an_output_with_origin_matches(shape: tuple[int], origin: tuple[int]):
    r = RDom((2, 3), name="mid_r")
    f = Func("scaled_middle")
    f[x] = x
    f[r.x] = f[r.x] * 100
    if origin[0] <= 2 and origin[0] + shape[0] >= 5:
        (got,) = assert_matches_reference(f, {}, shape=shape, origin=origin)
        np.testing.assert_array_equal(
            got, [v * 100 if 2 <= v < 5 else v for v in range(origin[0], origin[0] + shape[0])]
        )
    else:  # the update writes outside this output: both refuse
        with pytest.raises(ValueError, match="writes"):
            interpret(Pipeline(f), shape=shape, origin=origin)
        with pytest.raises(ValueError, match="writes"):
            compiled(f)(shape=shape, origin=origin)


# ---------------------------------------------------------------- origins

ORIGIN_IN = ImageParam(int32, 2, "origin_in")


@functools.cache
def origin_func() -> Func:
    f = Func("by_coordinate")
    f[x, y] = x * 1000 + y + repeat_edge(ORIGIN_IN)[x - 2, y + 1]
    return f


@pytest.mark.parametrize("origin", [(0, 0), (3, 5), (-7, -2), (-1000, 40), (2**31 - 20, -(2**31))], ids=str)
def test_output_origin_shifts_coordinates(origin: tuple[int, int]):
    a = np.arange(30, dtype=np.int32).reshape(5, 6)
    (got,) = assert_matches_reference(origin_func(), {"origin_in": a}, shape=(4, 3), origin=origin)
    for j in range(4):
        for i in range(3):
            cx, cy = origin[0] + i, origin[1] + j
            read = a[min(max(cy + 1, 0), 4), min(max(cx - 2, 0), 5)]
            assert got[j, i] == wrap(wrap(cx * 1000, int32) + cy + int(read), int32), (cx, cy)


def test_output_origin_without_boundary_reads_inside_the_input():
    f = Func("shifted")
    f[x, y] = ORIGIN_IN[x - 2, y + 1] * 2
    a = np.arange(30, dtype=np.int32).reshape(5, 6)
    (got,) = assert_matches_reference(f, {"origin_in": a}, shape=(4, 4), origin=(2, -1))
    np.testing.assert_array_equal(got, a[0:4, 0:4] * 2)


# ---------------------------------------------------------------- layouts

LAYOUT_IN = ImageParam(float32, 2, "layout_in")
LAYOUT_3D = ImageParam(uint8, 3, "layout_3d")


@functools.cache
def layout_func() -> Func:
    f = Func("layout_blur")
    b = repeat_edge(LAYOUT_IN)
    f[x, y] = (b[x - 1, y] + b[x, y] * 2 + b[x + 1, y + 1]) / 4
    return f


def layout_base() -> np.ndarray:
    return np.random.default_rng(12).uniform(-1, 1, (7, 9)).astype(np.float32)


INPUT_VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "every_2nd_row_3rd_col": lambda a: np.repeat(np.repeat(a, 2, axis=0), 3, axis=1)[::2, ::3],
    "negative_row_stride": lambda a: a[::-1].copy()[::-1],
    "negative_strides": lambda a: a[::-1, ::-1].copy()[::-1, ::-1],
    "fortran": np.asfortranarray,
    "columns_of_wider": lambda a: np.pad(a, ((0, 0), (2, 3)))[:, 2:-3],
}


@pytest.mark.parametrize("view", list(INPUT_VIEWS))
def test_input_views_give_the_contiguous_result(view: str):
    base = layout_base()
    a = INPUT_VIEWS[view](base)
    np.testing.assert_array_equal(a, base)
    (got,) = assert_matches_reference(layout_func(), {"layout_in": a}, shape=(7, 9), rtol=EXACT)
    np.testing.assert_array_equal(got, compiled(layout_func())(shape=(7, 9), layout_in=base))


def test_zero_stride_input_matches():
    row = layout_base()[:1]
    a = np.broadcast_to(row, (7, 9))  # read-only, stride 0 along axis 0
    assert a.strides[0] == 0
    (got,) = assert_matches_reference(layout_func(), {"layout_in": a}, shape=(7, 9), rtol=EXACT)
    np.testing.assert_array_equal(got, compiled(layout_func())(shape=(7, 9), layout_in=np.ascontiguousarray(a)))


OUT_VIEWS: dict[str, Callable[[], np.ndarray]] = {
    "every_2nd_row_3rd_col": lambda: np.zeros((14, 27), np.float32)[::2, ::3],
    "reversed_rows": lambda: np.zeros((7, 9), np.float32)[::-1],
    "reversed_both": lambda: np.zeros((7, 9), np.float32)[::-1, ::-1],
    "fortran": lambda: np.zeros((7, 9), np.float32, order="F"),
    "column_of_wider": lambda: np.zeros((7, 12), np.float32)[:, 2:11],
}


@pytest.mark.parametrize("view", list(OUT_VIEWS))
def test_out_views_receive_the_contiguous_result(view: str):
    base = layout_base()
    out = OUT_VIEWS[view]()
    backing = out.base if out.base is not None else out
    before = backing.copy()
    result = compiled(layout_func())(out=out, layout_in=base)
    assert result is out
    assert_same(out, interpret(Pipeline(layout_func()), shape=(7, 9), layout_in=base), EXACT)
    np.copyto(out, np.float32(np.nan))  # marks the elements of the view in the backing array
    outside = ~np.isnan(backing)
    np.testing.assert_array_equal(backing[outside], before[outside], err_msg="wrote outside the view")


def test_out_aliasing_an_input_matches_the_interpreter_or_is_refused():
    im = ImageParam(int32, 1, "in_place")
    f = Func("in_place_smooth")
    f[x] = repeat_edge(im)[x - 1] + repeat_edge(im)[x + 1]
    a = np.arange(6, dtype=np.int32) ** 2
    expected = interpret(Pipeline(f), shape=a.shape, in_place=a)
    shared = a.copy()
    interpret(Pipeline(f), out=shared, in_place=shared)
    np.testing.assert_array_equal(shared, expected)  # the interpreter reads everything before writing
    shared = a.copy()
    try:
        compiled(f)(out=shared, in_place=shared)
    except ValueError as err:  # refusing, with a message that says why, is fine too
        assert re.search(r"alias|overlap|share", str(err)), err
    else:
        np.testing.assert_array_equal(shared, expected)


def test_channel_first_view_of_interleaved_image_matches():
    interleaved = np.random.default_rng(13).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    planar_view = np.moveaxis(interleaved, -1, 0)  # (3, H, W), zero-copy
    f = Func("swap_channels")
    f[x, y, z] = LAYOUT_3D[x, y, 2 - z] // 2 + LAYOUT_3D[x, y, z] // 2
    out = np.moveaxis(np.zeros_like(interleaved), -1, 0)
    (got,) = assert_matches_reference(f, {"layout_3d": planar_view}, shape=planar_view.shape, out=out)
    assert got is out


# ---------------------------------------------------------------- dimensions and empty outputs

DIM_IN = ImageParam(int16, 1, "dim_in")


def test_zero_dimensional_func_matches():
    f = Func("scalar")
    f[()] = DIM_IN[3] * 2 + DIM_IN[0]
    r = RDom((0, DIM_IN.width()), name="all_of_dim_in")
    total = Func("scalar_total")
    total[()] = dsl_sum(cast(int32, DIM_IN[r.x]))
    a = np.array([5, -7, 300, 32000, 1], np.int16)
    got = assert_matches_reference([f, total], {"dim_in": a}, shape=[(), ()])
    assert got[0].shape == () and got[0] == wrap(32000 * 2 + 5, int16)
    assert got[1] == int(a.astype(np.int32).sum())


def test_zero_dimensional_input_matches():
    scalar_in = ImageParam(float64, 0, "scalar_in")
    f = Func("from_scalar")
    f[x] = scalar_in[()] * x
    assert_matches_reference(f, {"scalar_in": np.array(2.5)}, shape=(4,), rtol=EXACT)


def test_one_dimensional_func_matches():
    f = Func("line")
    f[x] = DIM_IN[x] - mirror_image(DIM_IN)[x - 3] * 3
    assert_matches_reference(f, {"dim_in": np.arange(-5, 6, dtype=np.int16)}, shape=(11,))


def test_three_dimensional_func_matches():
    im = ImageParam(float32, 3, "cube_in")
    f = Func("cube")
    b = mirror_interior(im)
    f[x, y, z] = b[x + 1, y, z] - b[x, y - 1, z + 1] * cast(float32, z)
    a = np.random.default_rng(14).uniform(-1, 1, (3, 4, 5)).astype(np.float32)
    assert_matches_reference(f, {"cube_in": a}, shape=(3, 4, 5), rtol=EXACT)
    assert_matches_reference(f, {"cube_in": a}, shape=(2, 6, 3), origin=(-1, 2, 1), rtol=EXACT)


def test_four_dimensional_func_matches():
    im = ImageParam(int32, 4, "batch_in")
    f = Func("batch")
    f[x, y, z, w] = repeat_edge(im)[x, y + 1, z, w] * (w + 1) - im[x, y, z, w] + z
    a = np.random.default_rng(15).integers(-100, 100, (2, 3, 4, 5), dtype=np.int32)
    assert_matches_reference(f, {"batch_in": a}, shape=(2, 3, 4, 5))


@pytest.mark.parametrize("shape", [(0,), (0, 5), (5, 0), (0, 0)], ids=str)
def test_zero_size_output_matches(shape: tuple[int, ...]):
    f = Func(f"empty_{len(shape)}d")
    im = ImageParam(int16, len(shape), f"empty_in_{len(shape)}")
    f[(x, y)[: len(shape)]] = im[(x, y)[: len(shape)]] + 1
    a = np.zeros((0,) * len(shape), np.int16)
    (got,) = assert_matches_reference(f, {im.name: a}, shape=shape)
    assert got.shape == shape


def test_zero_size_output_beside_a_non_empty_one_still_computes_it():
    first, second = Func("empty_first"), Func("full_second")
    first[x] = DIM_IN[x] + 1
    second[x] = DIM_IN[x] * 3
    a = np.arange(6, dtype=np.int16)
    out = [np.zeros(0, np.int16), np.full(6, -1, np.int16)]
    got = assert_matches_reference([first, second], {"dim_in": a}, shape=[(0,), (6,)])
    np.testing.assert_array_equal(got[1], a * 3)
    compiled([first, second])(out=out, dim_in=a)
    np.testing.assert_array_equal(out[1], a * 3)


# ---------------------------------------------------------------- simplifier and wrap-around


def test_comparison_of_wrapping_sum_with_its_operand_is_not_decided_at_compile_time():
    u = ImageParam(uint8, 1, "wrap_in")
    greater, larger = Func("plus_one_greater"), Func("max_plus_one")
    greater[x] = select(u[x] + 1 > u[x], 1, 0)
    larger[x] = dsl_max(u[x] + 1, u[x])
    a = np.array([0, 254, 255], np.uint8)
    got = assert_matches_reference([greater, larger], {"wrap_in": a}, shape=[(3,), (3,)])
    np.testing.assert_array_equal(got[0], [1, 1, 0])  # 255 + 1 wraps to 0
    np.testing.assert_array_equal(got[1], [1, 255, 255])


def test_index_computed_in_wrapping_uint8_arithmetic_matches():
    a, table = ImageParam(uint8, 1, "lut_index"), ImageParam(int16, 1, "lut")
    f = Func("lookup_next")
    f[x] = table[cast(int32, a[x] + 1)]  # 255 + 1 wraps to 0 in uint8
    values, lut = np.array([0, 7, 255], np.uint8), np.arange(256, dtype=np.int16) * 2
    (got,) = assert_matches_reference(f, {"lut_index": values, "lut": lut}, shape=(3,))
    np.testing.assert_array_equal(got, [2, 16, 0])


def test_data_dependent_int32_offset_through_boundary_condition_matches():
    im, q = ImageParam(int32, 1, "gather_im"), ImageParam(int32, 1, "gather_offsets")
    f = Func("gather")
    f[x] = repeat_edge(im)[x + q[x]]
    a, offsets = np.arange(4, dtype=np.int32), np.array([0, 1, -1, 5], np.int32)
    assert_matches_reference(f, {"gather_im": a, "gather_offsets": offsets}, shape=(4,))


# ---------------------------------------------------------------- random expression trees

RANDOM_GROUPS = 10
RANDOM_EXPRS_PER_GROUP = 25
RANDOM_SHAPE = (7, 11)
RANDOM_MAX_DEPTH = 4


class ExprGen:
    """Random well-typed expressions over two boundary-wrapped input images."""

    def __init__(self, rng: np.random.Generator, sources: list[Any], raw: list[ImageParam]):
        self.rng, self.sources, self.raw = rng, sources, raw

    def pick(self, options: Any) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def literal(self) -> int | float:
        if self.rng.random() < 0.6:
            return int(self.rng.integers(0, 10))
        return float(self.pick([0.5, 2.0, -1.5, 3.25, 0.1, -0.0]))

    def leaf(self, depth: int) -> Expr:
        k = self.rng.random()
        if k < 0.5:
            dx, dy = (int(v) for v in self.rng.integers(-3, 4, 2))
            return self.pick(self.sources)[x + dx, y + dy]
        if k < 0.6:
            return self.pick(self.raw)[x, y]
        if k < 0.7:  # a data-dependent read, its offset kept in int8 range
            offset = cast(int32, cast(int8, self.pick(self.raw)[x, y]))
            return self.pick(self.sources)[x + offset, y - offset]
        if k < 0.8:
            return self.pick([x, y, x * 2 - y * 3 + 1])
        t = self.pick(NUMERIC)
        return cast(t, self.pick([0, 1, 3, 7, 100, 127]) if t.is_int else self.pick([0.25, -3.5, 1e20, 0.1]))

    def num(self, depth: int) -> Expr:
        if depth <= 0 or self.rng.random() < 0.15:
            return self.leaf(depth)
        k = int(self.rng.integers(14))
        a = self.num(depth - 1)
        if k <= 6:
            b: Any = self.literal() if self.rng.random() < 0.25 else self.num(depth - 1)
            if self.rng.random() < 0.5:
                a, b = b, a
            op = (
                lambda p, q: p + q,
                lambda p, q: p - q,
                lambda p, q: p * q,
                lambda p, q: p / q,
                lambda p, q: p % q,
                dsl_min,
                dsl_max,
            )[k]
            return op(a, b)
        if k == 7:
            return -a
        if k == 8:
            return dsl_abs(a)
        if k == 9:
            return self.pick([floor, ceil, round, sqrt])(a)
        if k in (10, 11):
            return cast(self.pick(NUMERIC), a)
        return select(self.boolean(depth - 1), a, self.num(depth - 1))

    def boolean(self, depth: int) -> Expr:
        k = int(self.rng.integers(6 if depth > 0 else 4))
        if k < 4:
            a, b = self.num(depth), self.num(depth)
            return self.pick([lambda p, q: p < q, lambda p, q: p <= q, eq, ne])(a, b)
        if k == 4:
            return cast(bool_, self.num(depth))
        p, q = self.boolean(depth - 1), self.boolean(depth - 1)
        return self.pick([lambda s, t: s & t, lambda s, t: s | t, lambda s, t: ~s])(p, q)


def random_image(rng: np.random.Generator, t: DType) -> np.ndarray:
    if t.is_float:
        a = rng.uniform(-50, 50, RANDOM_SHAPE).astype(t.numpy)
    else:
        a = rng.integers(int(t.min_value), int(t.max_value), RANDOM_SHAPE, endpoint=True, dtype=t.numpy)
    flat = a.reshape(-1)
    picks = rng.choice(flat.size, 6, replace=False)
    flat[picks] = rng.choice(specials(t), 6)
    return a


@functools.cache
def random_group(seed: int) -> tuple[Pipeline, Schedule, dict[str, np.ndarray], list[list[str]]]:
    """Two outputs, each packing its share of the group's random expressions along a third
    dimension z: out[x, y, z] = float64(e_z) (exact for every type), so one compile covers all
    of them. Groups 2 and 7 inline the boundary conditions; the others compute them at root."""
    rng = np.random.default_rng(1000 + seed)
    types = [NUMERIC[int(i)] for i in rng.integers(len(NUMERIC), size=2)]
    images = [ImageParam(t, 2, f"rand{seed}_{name}") for t, name in zip(types, "pq")]
    makers = list(BOUNDARY_MAKERS.values())
    sources = [makers[int(rng.integers(len(makers)))](im) for im in images]
    gen = ExprGen(rng, sources, images)
    funcs, texts = [], []
    half = RANDOM_EXPRS_PER_GROUP // 2
    for k, count in enumerate((half, RANDOM_EXPRS_PER_GROUP - half)):
        exprs = [
            gen.boolean(3) if rng.random() < 0.1 else gen.num(int(rng.integers(1, RANDOM_MAX_DEPTH + 1)))
            for _ in range(count)
        ]
        funcs.append(pack(f"random{seed}_{k}", (x, y), [cast(float64, e) for e in exprs]))
        texts.append([str(e) for e in exprs])
    schedule = Schedule()
    if seed % 5 != 2:
        for b in sources:
            schedule[b].compute_root()
    inputs = {im.name: random_image(rng, t) for im, t in zip(images, types)}
    return Pipeline(funcs), schedule, inputs, texts


@pytest.mark.parametrize("seed", range(RANDOM_GROUPS))
def test_random_expressions_compiled_match_interpreter(seed: int):
    p, schedule, inputs, texts = random_group(seed)
    shapes = [(len(t), *RANDOM_SHAPE) for t in texts]
    want = interpret(p, shape=shapes, **inputs)
    got = compiled(p, schedule)(shape=shapes, **inputs)
    failures = []
    for out_texts, g, v in zip(texts, got, want):
        for text, g_c, v_c in zip(out_texts, g, v):
            try:
                assert_same(g_c, v_c, EXACT)
            except AssertionError as err:
                failures.append(f"{text}\n    {str(err).strip().splitlines()[0]}")
    total = sum(map(len, texts))
    assert not failures, f"{len(failures)} of {total} expressions differ:\n" + "\n".join(failures)

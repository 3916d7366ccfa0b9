"""Gradients checked against closed forms, and the derivative table checked for completeness.

What holds: the interpreter's gradient equals a gradient written by hand in numpy for
- every differentiable node class (`derivative.RULES`), elementwise, from its textbook derivative;
- sum(im^2) (exactly 2 im), a 3-tap blur through repeat_edge (the taps past the edge fold onto
  the edge pixels, and the backward pass has no scatter), a causal scan (its gradient is the
  anti-causal scan, also for the Param coefficient), duplicate-variable indexing `out[x] =
  in[x, x]` (Halide issue 7385), upsampling and downsampling, and max reductions (the adjoint
  reaches one arg-max, also on ties of the same pixel read twice past a repeat_edge border);
and every concrete Expr class of `pipelines.expr` is in RULES, NON_DIFFERENTIABLE or LEAVES.
Bugs found here keep a regression test each (the section at the end).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

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
    abs,
    cast,
    cos,
    exp,
    fast_pow,
    float32,
    float64,
    log,
    maximum,
    minimum,
    pow,
    repeat_edge,
    select,
    sin,
    sqrt,
    sum,
    tanh,
)
from pipelines import max as dsl_max
from pipelines import min as dsl_min
from pipelines.autodiff import grad
from pipelines.derivative import ABSTRACT, LEAVES, NON_DIFFERENTIABLE, RULES
from pipelines.expr import Expr, Mod
from pipelines.interpret import interpret
from tests.helpers import as_tuple, inputs_for

x, y = Var("x"), Var("y")


def gradient_of(loss: Func, wrt: list, **inputs: object) -> tuple[np.ndarray, ...]:
    g = grad(loss, wrt)
    return as_tuple(interpret(g, **inputs_for(g, inputs)))


def total_1d(f: Func, n: object) -> Func:
    """loss = sum over [0, n) of f."""
    r = RDom([(0, n)])
    loss = Func("loss")
    loss[()] = sum(f[r.x])
    return loss


def weighted_1d(f: Func, t: ImageParam) -> Func:
    """loss = sum over the box of t of f * t."""
    r = RDom([(0, t.width())])
    loss = Func("loss")
    loss[()] = sum(f[r.x] * t[r.x])
    return loss


# ---------------------------------------------------------------- the table of rules


def test_every_expr_class_has_a_rule_or_is_declared_non_differentiable() -> None:
    classes = {
        c
        for _, c in inspect.getmembers(expr_module, inspect.isclass)
        if issubclass(c, Expr) and c.__module__ == expr_module.__name__
    }
    missing = classes - set(RULES) - NON_DIFFERENTIABLE - LEAVES - ABSTRACT
    assert not missing, f"Expr classes with no derivative rule and not declared non-differentiable: {missing}"
    overlap = set(RULES) & (NON_DIFFERENTIABLE | LEAVES)
    assert not overlap, f"classes both with a rule and declared non-differentiable: {overlap}"


# node class -> (f(a, b), d f / d a, d f / d b) in numpy, for a in (-1, 1) and b in (0.5, 1.5)
Numpy = Callable[[np.ndarray, np.ndarray], np.ndarray]
NODE_CASES: dict[str, tuple[type, Callable[[Expr, Expr], Expr], Numpy, Numpy]] = {
    "add": (expr_module.Add, lambda a, b: a + b, lambda a, b: 1 + 0 * a, lambda a, b: 1 + 0 * a),
    "sub": (expr_module.Sub, lambda a, b: a - b, lambda a, b: 1 + 0 * a, lambda a, b: -1 + 0 * a),
    "mul": (expr_module.Mul, lambda a, b: a * b, lambda a, b: b, lambda a, b: a),
    "div": (expr_module.Div, lambda a, b: a / b, lambda a, b: 1 / b, lambda a, b: -a / b**2),
    "mod": (Mod, lambda a, b: a % b, lambda a, b: 1 + 0 * a, lambda a, b: -np.floor(a / b)),
    "min": (expr_module.Min, dsl_min, lambda a, b: (a < b) * 1.0, lambda a, b: (a >= b) * 1.0),
    "max": (expr_module.Max, dsl_max, lambda a, b: (a > b) * 1.0, lambda a, b: (a <= b) * 1.0),
    "pow": (expr_module.Pow, lambda a, b: pow(b, a), lambda a, b: b**a * np.log(b), lambda a, b: a * b ** (a - 1)),
    "fast_pow": (
        expr_module.FastPow,
        lambda a, b: fast_pow(b, a),
        lambda a, b: b**a * np.log(b),
        lambda a, b: a * b ** (a - 1),
    ),
    "select": (
        expr_module.Select,
        lambda a, b: select(a > 0, a * b, b),
        lambda a, b: (a > 0) * b,
        lambda a, b: np.where(a > 0, a, 1.0),
    ),
    "sqrt": (expr_module.Sqrt, lambda a, b: sqrt(b), lambda a, b: 0 * a, lambda a, b: 0.5 / np.sqrt(b)),
    "exp": (expr_module.Exp, lambda a, b: exp(a), lambda a, b: np.exp(a), lambda a, b: 0 * a),
    "log": (expr_module.Log, lambda a, b: log(b), lambda a, b: 0 * a, lambda a, b: 1 / b),
    "sin": (expr_module.Sin, lambda a, b: sin(a), lambda a, b: np.cos(a), lambda a, b: 0 * a),
    "cos": (expr_module.Cos, lambda a, b: cos(a), lambda a, b: -np.sin(a), lambda a, b: 0 * a),
    "tanh": (expr_module.Tanh, lambda a, b: tanh(a), lambda a, b: 1 - np.tanh(a) ** 2, lambda a, b: 0 * a),
    "abs": (expr_module.Abs, lambda a, b: abs(a), lambda a, b: np.sign(a), lambda a, b: 0 * a),
    "cast": (
        expr_module.Cast,
        lambda a, b: cast(float64, cast(float32, a)) + cast(float64, cast(float32, b)),
        lambda a, b: 1 + 0 * a,
        lambda a, b: 1 + 0 * a,
    ),
}


def test_every_rule_has_an_analytic_case() -> None:
    covered = {cls for cls, *_ in NODE_CASES.values()}
    assert set(RULES) <= covered, f"rules with no analytic case here: {set(RULES) - covered}"


@pytest.mark.parametrize("name", list(NODE_CASES))
def test_node_rule_matches_its_derivative(name: str) -> None:
    _, build, d_a, d_b = NODE_CASES[name]
    a_im, b_im = ImageParam(float64, 1, "a"), ImageParam(float64, 1, "b")
    f = Func("f")
    f[x] = build(a_im[x], b_im[x])
    rng = np.random.default_rng(3)
    a, b = rng.uniform(-1, 1, 40), rng.uniform(0.5, 1.5, 40)
    got_a, got_b = gradient_of(total_1d(f, a_im.width()), [a_im, b_im], a=a, b=b)
    np.testing.assert_allclose(got_a, d_a(a, b), rtol=1e-14, atol=1e-15, err_msg=f"{name}: d/da")
    np.testing.assert_allclose(got_b, d_b(a, b), rtol=1e-14, atol=1e-15, err_msg=f"{name}: d/db")


def test_float32_round_trip_rounds_only_the_adjoint() -> None:
    im = ImageParam(float64, 1, "im")
    f = Func("f")
    f[x] = cast(float64, cast(float32, im[x] * 3.0))
    (got,) = gradient_of(total_1d(f, im.width()), [im], im=np.linspace(-1, 1, 5))
    np.testing.assert_array_equal(got, np.full(5, 3.0))


def test_not_taken_branch_with_infinite_derivative_gives_zero() -> None:
    """select(a > 0, sqrt(a), 0): at a = 0 the sqrt's derivative is inf, and must not leak (0 * inf)."""
    im = ImageParam(float64, 1, "im")
    f = Func("f")
    f[x] = select(im[x] > 0, sqrt(im[x]), 0.0)
    (got,) = gradient_of(total_1d(f, im.width()), [im], im=np.array([0.0, 0.25, -1.0]))
    np.testing.assert_array_equal(got, [0.0, 1.0, 0.0])


# ---------------------------------------------------------------- whole pipelines


def test_sum_of_squares_gradient_is_twice_the_image() -> None:
    im = ImageParam(float64, 2, "im")
    r = RDom([(0, im.width()), (0, im.height())])
    loss = Func("loss")
    loss[()] = sum(im[r.x, r.y] * im[r.x, r.y])
    a = np.random.default_rng(0).uniform(-1, 1, (5, 7))
    (got,) = gradient_of(loss, [im], im=a)
    np.testing.assert_array_equal(got, 2 * a)


def test_blur_through_repeat_edge_folds_onto_the_edge_pixels_as_a_gather() -> None:
    im, t = ImageParam(float64, 1, "im"), ImageParam(float64, 1, "t")
    edge = repeat_edge(im)
    blur = Func("blur")
    blur[x] = edge[x - 1] + 2.0 * edge[x] + edge[x + 2]
    loss = weighted_1d(blur, t)
    rng = np.random.default_rng(1)
    a, weights = rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 6)
    want = np.zeros(6)
    for i in range(6):  # the scatter, by hand: each tap's weight lands on the clamped pixel
        for offset, tap in ((-1, 1.0), (0, 2.0), (2, 1.0)):
            want[np.clip(i + offset, 0, 5)] += tap * weights[i]
    (got,) = gradient_of(loss, [im], im=a, t=weights)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    g = grad(loss, [im])
    scatters = [(f.name, d.args) for f in g.funcs for d in f.updates if not all(isinstance(a, Var) for a in d.args)]
    assert not scatters, f"the backward pass of a repeat_edge blur should be gathers only, got updates {scatters}"


def test_stencil_without_boundary_condition_on_the_valid_region() -> None:
    im, t = ImageParam(float64, 1, "im"), ImageParam(float64, 1, "t")
    diff = Func("diff")
    diff[x] = im[x + 1] - im[x]
    loss = weighted_1d(diff, t)  # t is one shorter than im: no read leaves the image
    rng = np.random.default_rng(2)
    a, weights = rng.uniform(-1, 1, 7), rng.uniform(-1, 1, 6)
    want = np.zeros(7)
    want[1:] += weights
    want[:-1] -= weights
    (got,) = gradient_of(loss, [im], im=a, t=weights)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


def test_causal_scan_gradient_is_the_anti_causal_scan() -> None:
    im, t = ImageParam(float64, 1, "im"), ImageParam(float64, 1, "t")
    a = Param(float64, "a", 0.5)
    f = Func("f")
    f[x] = im[x]
    r = RDom([(1, im.width() - 1)])
    f[r.x] = a * f[r.x - 1] + f[r.x]
    loss = weighted_1d(f, t)
    rng = np.random.default_rng(4)
    values, weights, coefficient = rng.uniform(-1, 1, 8), rng.uniform(-1, 1, 8), 0.7
    forward, d_forward = np.zeros(8), np.zeros(8)  # f and df/da by the forward recursion
    forward[0] = values[0]
    for i in range(1, 8):
        forward[i] = coefficient * forward[i - 1] + values[i]
        d_forward[i] = forward[i - 1] + coefficient * d_forward[i - 1]
    backward = np.zeros(8)  # the anti-causal scan
    backward[7] = weights[7]
    for i in range(6, -1, -1):
        backward[i] = weights[i] + coefficient * backward[i + 1]
    got_im, got_a = gradient_of(loss, [im, a], im=values, t=weights, a=coefficient)
    np.testing.assert_allclose(got_im, backward, rtol=1e-13)
    np.testing.assert_allclose(got_a, np.sum(weights * d_forward), rtol=1e-13)


def test_duplicate_variable_indexing_reaches_the_diagonal_only() -> None:
    """out[x] = in[x, x] (Halide issue 7385: Halide sends the adjoint to a whole row)."""
    im, t = ImageParam(float64, 2, "im"), ImageParam(float64, 1, "t")
    out = Func("out")
    out[x] = im[x, x] * im[x, x]
    loss = weighted_1d(out, t)
    rng = np.random.default_rng(5)
    a, weights = rng.uniform(-1, 1, (5, 5)), rng.uniform(-1, 1, 5)
    (got,) = gradient_of(loss, [im], im=a, t=weights)
    np.testing.assert_allclose(got, np.diag(2 * np.diag(a) * weights), rtol=1e-14, atol=0)


def test_duplicate_variable_indexing_with_an_offset() -> None:
    im, t = ImageParam(float64, 2, "im"), ImageParam(float64, 1, "t")
    out = Func("out")
    out[x] = im[x + 1, x]
    loss = weighted_1d(out, t)
    rng = np.random.default_rng(6)
    a, weights = rng.uniform(-1, 1, (4, 5)), rng.uniform(-1, 1, 4)
    want = np.zeros((4, 5))
    want[np.arange(4), np.arange(4) + 1] = weights  # numpy [row=y, col=x]: im[x + 1, x] is a[x, x + 1]
    (got,) = gradient_of(loss, [im], im=a, t=weights)
    np.testing.assert_array_equal(got, want)


def test_upsample_gradient_sums_each_pixels_two_children() -> None:
    im, t = ImageParam(float64, 1, "im"), ImageParam(float64, 1, "t")
    up = Func("up")
    up[x] = im[x // 2]
    loss = weighted_1d(up, t)  # t has twice im's length
    rng = np.random.default_rng(7)
    a, weights = rng.uniform(-1, 1, 5), rng.uniform(-1, 1, 10)
    (got,) = gradient_of(loss, [im], im=a, t=weights)
    np.testing.assert_allclose(got, weights[0::2] + weights[1::2], rtol=1e-15)


def test_downsample_gradient_spreads_each_output_to_its_two_parents() -> None:
    im, t = ImageParam(float64, 1, "im"), ImageParam(float64, 1, "t")
    down = Func("down")
    down[x] = im[2 * x] + 3.0 * im[2 * x + 1]
    loss = weighted_1d(down, t)  # t has half im's length
    rng = np.random.default_rng(8)
    a, weights = rng.uniform(-1, 1, 10), rng.uniform(-1, 1, 5)
    want = np.zeros(10)
    want[0::2], want[1::2] = weights, 3.0 * weights
    (got,) = gradient_of(loss, [im], im=a, t=weights)
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_max_reduction_routes_the_adjoint_to_the_argmax() -> None:
    im = ImageParam(float64, 1, "im")
    r = RDom([(0, im.width())])
    for reduce, pick in ((maximum, np.argmax), (minimum, np.argmin)):
        loss = Func("loss")
        loss[()] = reduce(im[r.x]) * 3.0
        a = np.random.default_rng(9).uniform(-1, 1, 9)
        (got,) = gradient_of(loss, [im], im=a)
        want = np.zeros(9)
        want[pick(a)] = 3.0
        np.testing.assert_array_equal(got, want, err_msg=reduce.__name__)


def test_max_reduction_tie_between_pixels_sends_the_adjoint_once() -> None:
    """Two pixels with the same largest value: max is not differentiable there, but the adjoint
    must reach exactly one of them (a subgradient), not each of them."""
    im = ImageParam(float64, 1, "im")
    r = RDom([(0, im.width())])
    loss = Func("loss")
    loss[()] = maximum(im[r.x])
    (got,) = gradient_of(loss, [im], im=np.array([0.1, 0.9, 0.3, 0.9]))
    assert got.sum() == 1.0 and set(got.tolist()) == {0.0, 1.0} and got[1] + got[3] == 1.0


def test_max_reduction_over_one_pixel_read_twice_past_the_edge() -> None:
    """maximum(e[x + r]) with repeat_edge: past the edge, taps read the same pixel, so the
    function is smooth there and the gradient counts each window once."""
    im = ImageParam(float64, 1, "im")
    edge = repeat_edge(im)
    r = RDom([(0, 3)])
    f = Func("f")
    f[x] = maximum(edge[x + r.x])
    a = np.array([0.1, 0.5, 0.3, 0.9])
    (got,) = gradient_of(total_1d(f, im.width()), [im], im=a)
    np.testing.assert_array_equal(got, [0.0, 1.0, 0.0, 3.0])


def test_sum_update_with_pure_var_and_rdom() -> None:
    im = ImageParam(float64, 1, "im")
    f = Func("f")
    f[x] = im[x] * 2.0
    r = RDom([(0, 2)])
    f[x] += im[x + r.x + 1] * im[x + r.x + 1]
    a = np.random.default_rng(10).uniform(-1, 1, 8)
    (got,) = gradient_of(total_1d(f, 5), [im], im=a)
    want = np.zeros(8)
    want[:5] += 2.0
    for i in range(5):
        for k in (1, 2):
            want[i + k] += 2 * a[i + k]
    np.testing.assert_allclose(got, want, rtol=1e-14)


# ---------------------------------------------------------------- regressions (bugs found by these tests)


def test_update_reading_its_own_point() -> None:
    im = ImageParam(float64, 1, "im")
    f = Func("f")
    f[x] = im[x] + 0.5
    f[x] = f[x] * f[x]
    a = np.array([0.1, 0.5, 0.3, 0.9])
    (got,) = gradient_of(total_1d(f, im.width()), [im], im=a)
    np.testing.assert_allclose(got, 2 * (a + 0.5), rtol=1e-15)


def test_scan_read_below_the_consumers_region() -> None:
    im = ImageParam(float64, 1, "im")
    f = Func("f")
    f[x] = im[x]
    r = RDom([(1, 3)])
    f[r.x] = 0.5 * f[r.x - 1] + f[r.x]
    s = RDom([(1, 3)])  # reads f[1..3]; the scan also read f[0]
    loss = Func("loss")
    loss[()] = sum(f[s.x])
    (got,) = gradient_of(loss, [im], im=np.ones(5))
    # f1 = .5 im0 + im1, f2 = .5 f1 + im2, f3 = .5 f2 + im3
    np.testing.assert_allclose(got, [0.5 + 0.25 + 0.125, 1.75, 1.5, 1.0, 0.0], rtol=1e-15)


def test_update_of_a_constant_row_from_another_row() -> None:
    im = ImageParam(float64, 2, "im")
    f = Func("f")
    f[x, y] = im[x, y]
    f[x, 0] = f[x, 1] * 0.5
    r = RDom([(0, im.width()), (0, im.height())])
    loss = Func("loss")
    loss[()] = sum(f[r.x, r.y])
    (got,) = gradient_of(loss, [im], im=np.ones((3, 2)))
    np.testing.assert_array_equal(got, [[0.0, 0.0], [1.5, 1.5], [1.0, 1.0]])


def test_pipeline_of_the_gradient_needs_no_shape() -> None:
    im, gain = ImageParam(float64, 2, "im"), Param(float64, "gain", 1.0)
    edge = repeat_edge(im)
    f = Func("f")
    f[x, y] = edge[x, y] * gain
    r = RDom([(0, im.width()), (0, im.height())])
    loss = Func("loss")
    loss[()] = sum(f[r.x, r.y])
    g = grad(loss, [im, gain], with_value=True)
    assert isinstance(g, Pipeline)
    a = np.arange(6.0).reshape(2, 3)
    d_im, d_gain, value = as_tuple(interpret(g, im=a, gain=2.0))
    np.testing.assert_array_equal(d_im, np.full((2, 3), 2.0))
    assert d_gain.shape == () and float(d_gain) == a.sum() and float(value) == 2.0 * a.sum()


def test_param_gradient_over_an_image_read_directly() -> None:
    im, gain = ImageParam(float64, 2, "im"), Param(float64, "gain", 1.0)
    f = Func("f")
    f[x, y] = im[x, y] * gain
    r = RDom([(0, im.width()), (0, im.height())])
    loss = Func("loss")
    loss[()] = sum(f[r.x, r.y])
    a = np.arange(6.0).reshape(2, 3)
    d_im, d_gain = gradient_of(loss, [im, gain], im=a, gain=2.0)
    np.testing.assert_array_equal(d_im, np.full((2, 3), 2.0))
    assert float(d_gain) == a.sum()

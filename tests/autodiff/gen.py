"""Seeded random differentiable float64 pipelines for gradient checks.

`generate(seed)` returns a `Generated`: a 0-dimensional float64 loss Func over a random DAG of
2 to 6 Funcs, the inputs it reads (ImageParams `im`, maybe `im2`, a weight image `w`, a target
image `t`, Params `p0`, `p1`), the wrt list (every float input the loss depends on except the
target) and concrete arguments. What holds:

- the same seed gives the same pipeline structure, the same data and the same op list, and
  `generate(seed, casts=True)` makes exactly the same random choices, only wrapping some
  subexpressions in a float32 round trip (`cast(float64, cast(float32, e))`), so the two builds
  compute the same mathematical function (up to float32 rounding);
- every input image is read only through a boundary condition (repeat_edge, constant_exterior,
  mirror_image, mirror_interior), so every Func is total and the loss, a sum over the box of
  `im` (`[0, W) x [0, H)`) of the output's square or its product with `t`, is defined for any
  pipeline (downsampling reads twice as far, which the boundary condition covers);
- the functions are smooth where they are evaluated, except at the kinks of min, max, select,
  clamp, abs and maximum, which random data avoid: denominators are >= 1.5, sqrt and log
  arguments >= 0.25, pow and fast_pow bases >= 1.2 with exponents in [-1, 1], exp arguments in [-1, 1];
- `maximum` reductions add a tiny slope per tap (s * r, s drawn per reduction), so that two
  taps of a window past the image edge (equal values of the same pixel under repeat_edge),
  or two paths through nested maxima, never tie;
  ties of a max reduction are checked on their own in test_rules.py.

Func kinds: a pointwise/stencil expression over earlier Funcs (offsets -2..2 per dimension),
downsample (`g(2x) + g(2x+1)`), upsample (`g(x/2)`), a 3x3 or 5x5 convolution with the weight
image (inline sum), a maximum over three taps, an accumulating update over a small RDom (with
or without a where-predicate), a causal scan along x or y, and an update rewriting each point
from its own value.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines import (
    Expr,
    Func,
    ImageParam,
    Param,
    Pipeline,
    RDom,
    Var,
    abs,
    cast,
    clamp,
    constant_exterior,
    cos,
    exp,
    fast_pow,
    float32,
    float64,
    lerp,
    log,
    maximum,
    mirror_image,
    mirror_interior,
    ne,
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

x, y = Var("x"), Var("y")

POINTWISE_OPS = (
    "add",
    "sub",
    "mul",
    "div",
    "min",
    "max",
    "select",
    "clamp",
    "abs",
    "sqrt",
    "exp",
    "log",
    "pow",
    "fast_pow",
    "sin",
    "cos",
    "tanh",
    "lerp",
)
FUNC_KINDS = ("stencil", "down", "up", "conv", "maximum", "sum_update", "scan", "pure_update")
BOUNDARIES = ("repeat_edge", "constant_exterior", "mirror_image", "mirror_interior")


@dataclass(eq=False)
class Generated:
    """One random pipeline: its loss, what to differentiate by, and the call's arguments."""

    seed: int
    loss: Func
    wrt: tuple[ImageParam | Param, ...]
    inputs: dict[str, Any]
    ops: frozenset[str]  # pointwise ops, Func kinds, boundary conditions and loss kind used
    description: list[str] = field(default_factory=list)  # one line per Func, for failure messages

    @property
    def forward(self) -> Pipeline:
        return Pipeline(self.loss)

    def __str__(self) -> str:
        return f"seed {self.seed}: " + "; ".join(self.description)


class _Builder:
    """The random choices of one pipeline; all drawn from one seeded `random.Random`."""

    def __init__(self, seed: int, casts: bool, kinds: tuple[str, ...]):
        self.rng = random.Random(seed)
        self.casts = casts
        self.kinds = kinds
        self.ops: set[str] = set()
        self.description: list[str] = []
        self.producers: list[Func] = []
        self.params: list[Param] = []
        self.weights: ImageParam | None = None
        self.weight_size = 3
        self.images: list[ImageParam] = []
        self.labels: dict[Func, str] = {}  # stable names for descriptions (Func names get suffixes)

    # ------------------------------------------------------------ leaves

    def read(self) -> Expr:
        g = self.rng.choice(self.producers)
        return g[x + self.rng.randint(-2, 2), y + self.rng.randint(-2, 2)]

    def param(self) -> Expr:
        if not self.params or (len(self.params) < 2 and self.rng.random() < 0.3):
            self.params.append(Param(float64, f"p{len(self.params)}", 1.0))
        self.ops.add("param")
        return self.rng.choice(self.params)

    def leaf(self) -> Expr:
        roll = self.rng.random()
        if roll < 0.8:
            return self.read()
        if roll < 0.92:
            return self.param()
        return cast(float64, round(self.rng.uniform(-1, 1), 3))

    def f32(self, e: Expr) -> Expr:
        """A float32 round trip when building with casts; the same random draws either way."""
        wrap = self.rng.random() < 0.25
        if wrap and self.casts:
            self.ops.add("cast")
            return cast(float64, cast(float32, e))
        return e

    # ------------------------------------------------------------ expressions

    def expr(self, depth: int) -> Expr:
        if depth == 0:
            return self.leaf()
        op = self.rng.choice(POINTWISE_OPS)
        self.ops.add(op)
        a = self.expr(depth - 1)
        return self.f32(self._apply(op, a, depth))

    def _apply(self, op: str, a: Expr, depth: int) -> Expr:
        def other() -> Expr:
            return self.expr(self.rng.randint(0, depth - 1))

        table: dict[str, Callable[[], Expr]] = {
            "add": lambda: a + other(),
            "sub": lambda: a - other(),
            "mul": lambda: a * other(),
            "div": lambda: a / (1.5 + other() ** 2),
            "min": lambda: dsl_min(a, other()),
            "max": lambda: dsl_max(a, other()),
            "select": lambda: select(a > other(), a * 0.7, other() + 0.2),
            "clamp": lambda: clamp(a, -0.6, 0.55),
            "abs": lambda: abs(a),
            "sqrt": lambda: sqrt(0.25 + a * a),
            "exp": lambda: exp(tanh(a)),
            "log": lambda: log(0.25 + a * a),
            "pow": lambda: pow(1.2 + a * a, tanh(other())),
            "fast_pow": lambda: fast_pow(1.2 + a * a, tanh(other())),
            "sin": lambda: sin(a),
            "cos": lambda: cos(a),
            "tanh": lambda: tanh(a),
            "lerp": lambda: lerp(a, other(), 0.5 + 0.5 * tanh(other())),
        }
        return table[op]()

    # ------------------------------------------------------------ Funcs

    def func(self, k: int) -> Func:
        kind = self.rng.choice(self.kinds) if k else "stencil"
        self.ops.add(kind)
        f = Func(f"f{k}")
        g = self.rng.choice(self.producers)
        getattr(self, f"_{kind}")(f, g)
        self.labels[f] = f.name
        self.description.append(f"{f.name}: {kind} of {self.labels[g]}")
        return f

    def _stencil(self, f: Func, g: Func) -> None:
        e = self.expr(self.rng.choice((1, 1, 2, 2, 3)))
        # a read of the chosen producer: chains get long, and no Func is a constant
        e = e * g[x, y + self.rng.randint(-2, 2)] if self.rng.random() < 0.3 else e + g[x + self.rng.randint(-2, 2), y]
        f[x, y] = tanh(e) if self.rng.random() < 0.5 else e

    def _down(self, f: Func, g: Func) -> None:
        if self.rng.random() < 0.5:
            f[x, y] = (g[2 * x, y] + g[2 * x + 1, y]) * 0.5
        else:
            f[x, y] = (g[x, 2 * y] + g[x, 2 * y + 1]) * 0.5

    def _up(self, f: Func, g: Func) -> None:
        if self.rng.random() < 0.5:
            f[x, y] = g[x // 2, y] + 0.3 * g[(x + 1) // 2, y]
        else:
            f[x, y] = g[x, y // 2]

    def _conv(self, f: Func, g: Func) -> None:
        if self.weights is None:
            self.weight_size = self.rng.choice((3, 3, 5))
            self.weights = ImageParam(float64, 2, "w")
        n, half = self.weight_size, self.weight_size // 2
        r = RDom([(0, n), (0, n)])
        f[x, y] = sum(g[x + r.x - half, y + r.y - half] * self.weights[r.x, r.y])

    def _maximum(self, f: Func, g: Func) -> None:
        r = RDom([(-1, 3)])
        slope = cast(float64, round(self.rng.uniform(0.01, 0.03), 6)) * cast(float64, r.x)
        if self.rng.random() < 0.5:
            f[x, y] = maximum(g[x + r.x, y] + slope)
        else:
            f[x, y] = maximum(g[x, y + r.x] + slope)

    def _sum_update(self, f: Func, g: Func) -> None:
        r = RDom([(-1, 3)])
        if self.rng.random() < 0.3:
            r.where(ne(r.x, 0))
        f[x, y] = g[x, y]
        f[x, y] += self.f32(sin(g[x + r.x, y - r.x]) * 0.5)

    def _scan(self, f: Func, g: Func) -> None:
        f[x, y] = g[x, y]
        coefficient = self.param() if self.rng.random() < 0.5 else cast(float64, 0.6)
        r = RDom([(1, 5)])
        if self.rng.random() < 0.5:
            f[r.x, y] = tanh(coefficient * f[r.x - 1, y]) + f[r.x, y]
        else:
            f[x, r.x] = coefficient * f[x, r.x - 1] + f[x, r.x]

    def _pure_update(self, f: Func, g: Func) -> None:
        f[x, y] = g[x, y] + 0.5
        f[x, y] = f[x, y] * f[x, y] - 0.3 * sin(f[x, y])


def _boundary(b: _Builder, image: ImageParam) -> Func:
    kind = b.rng.choice(BOUNDARIES)
    b.ops.add(kind)
    if kind == "constant_exterior":
        f = constant_exterior(image, round(b.rng.uniform(-0.5, 0.5), 2))
    else:
        f = {"repeat_edge": repeat_edge, "mirror_image": mirror_image, "mirror_interior": mirror_interior}[kind](image)
    b.labels[f] = f"{kind}({image.name})"
    return f


def generate(seed: int, casts: bool = False, kinds: tuple[str, ...] = FUNC_KINDS) -> Generated:
    """The random pipeline number `seed` (module docstring), its Funcs of the given `kinds`
    (the first is always a stencil)."""
    b = _Builder(seed, casts, kinds)
    rng = b.rng
    im = ImageParam(float64, 2, "im")
    b.images.append(im)
    b.producers.append(_boundary(b, im))
    if rng.random() < 0.3:
        im2 = ImageParam(float64, 2, "im2")
        b.images.append(im2)
        b.producers.append(_boundary(b, im2))
    count = rng.randint(2, 6)
    funcs: list[Func] = []
    for k in range(count):
        funcs.append(b.func(k))
        b.producers.append(funcs[-1])
    out = funcs[-1]
    if rng.random() < 0.3 and len(funcs) > 1:  # a diamond: the output also reads an earlier Func
        joined, other = Func("joined"), rng.choice(funcs[:-1])
        joined[x, y] = out[x, y] + 0.5 * other[x, y - 1]
        b.description.append(f"joined: {out.name} + {other.name}")
        out = joined
    r = RDom([(0, im.width()), (0, im.height())])
    loss = Func("loss")
    target = None
    if rng.random() < 0.5:
        loss[()] = sum(out[r.x, r.y] * out[r.x, r.y])
        b.ops.add("square")
    else:
        target = ImageParam(float64, 2, "t")
        loss[()] = sum(out[r.x, r.y] * target[r.x, r.y])
        b.ops.add("dot")
    return Generated(seed, loss, *_arguments(b, Pipeline(loss), target, seed), frozenset(b.ops), b.description)


def _arguments(
    b: _Builder, forward: Pipeline, target: ImageParam | None, seed: int
) -> tuple[tuple[ImageParam | Param, ...], dict[str, Any]]:
    """The wrt list (every float input the loss reads but the target) and the call's arguments,
    from a generator of their own so that they do not depend on the structure's draws."""
    data = np.random.default_rng(seed)
    width, height = int(data.integers(4, 8)), int(data.integers(3, 7))
    inputs: dict[str, Any] = {}
    wrt: list[ImageParam | Param] = []
    for image in forward.images:
        if image is target:
            shape: tuple[int, ...] = (height, width)
        elif image.name == "w":
            shape = (b.weight_size, b.weight_size)
        elif image.name == "im":
            shape = (height, width)
        else:
            shape = (int(data.integers(3, 7)), int(data.integers(4, 8)))
        scale = 0.4 if image.name == "w" else 1.0
        inputs[image.name] = data.uniform(-1, 1, shape) * scale
        if image is not target:
            wrt.append(image)
    for p in forward.params:
        inputs[p.name] = float(data.uniform(0.5, 1.2))
        wrt.append(p)
    return tuple(wrt), inputs

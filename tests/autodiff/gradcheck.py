"""The finite-difference gradient check of one random pipeline (tests/autodiff/gen.py), by seed.

`check_seed(seed)` returns when the interpreter's gradient of `generate(seed, kinds=KINDS)`
agrees with central finite differences of its loss along one random direction per wrt input,
within `RTOL` (test_gradcheck.py's docstring gives the tolerance and why), and raises
AssertionError naming the pipeline and each disagreeing input otherwise. The pieces
(`gradients`, `directional_errors`) also serve the float32 round-trip check. It lives apart
from test_gradcheck.py so that `python -m tests.fuzz --backward` runs the same check on any
seeds without importing a test module; `program(seed)` is the standalone repro it prints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.autodiff import grad
from pipelines.expr import Param
from pipelines.func import ImageParam
from pipelines.interpret import interpret
from pipelines.pipeline import Pipeline
from tests.autodiff.gen import FUNC_KINDS, Generated, generate
from tests.helpers import as_tuple, inputs_for

# A Func kind with a known autodiff bug, with a strict xfail in test_rules.py, left out of the
# random draws until it is fixed; none is listed.
KNOWN_BUGS: dict[str, str] = {}
KINDS = tuple(k for k in FUNC_KINDS if k not in KNOWN_BUGS)

EPS = 1e-6
RTOL = 1e-6
CAST_RTOL = 1e-4


def loss_value(forward: Pipeline, inputs: dict[str, Any]) -> float:
    return float(interpret(forward, shape=(), **inputs_for(forward, inputs)))


def gradients(gen: Generated) -> tuple[np.ndarray, ...]:
    """The interpreter's gradients of the loss with respect to `gen.wrt`, in that order."""
    g = grad(gen.loss, list(gen.wrt))
    got = as_tuple(interpret(g, **inputs_for(g, gen.inputs)))
    assert len(got) == len(gen.wrt)
    for w, array in zip(gen.wrt, got):
        want_shape = np.shape(gen.inputs[w.name])
        assert array.shape == want_shape, f"gradient of {w.name}: shape {array.shape}, expected {want_shape}"
        assert array.dtype == np.float64
    return got


def direction(w: ImageParam | Param, value: Any, rng: np.random.Generator) -> Any:
    return float(rng.choice((-1.0, 1.0))) if isinstance(w, Param) else rng.standard_normal(np.shape(value))


def directional_errors(gen: Generated, grads: tuple[np.ndarray, ...], reference: Generated, rtol: float) -> list[str]:
    """One line per wrt whose directional derivative from finite differences of `reference`
    (the same function) disagrees with `<gradient, d>`."""
    rng = np.random.default_rng(gen.seed + 10_000)
    forward = reference.forward
    base = loss_value(forward, reference.inputs)
    failures = []
    for w, g in zip(gen.wrt, grads):
        value = reference.inputs[w.name]
        d = direction(w, value, rng)
        plus, minus = dict(reference.inputs), dict(reference.inputs)
        plus[w.name], minus[w.name] = value + EPS * d, value - EPS * d
        fd = (loss_value(forward, plus) - loss_value(forward, minus)) / (2 * EPS)
        inner = float(np.sum(g * d))
        allowed = rtol * max(abs(fd), abs(inner)) + 1e-8 * (1 + abs(base))
        if not abs(fd - inner) <= allowed:
            failures.append(f"d/d{w.name}: finite differences {fd!r}, <gradient, d> {inner!r}")
    return failures


def check_seed(seed: int) -> None:
    """Raise AssertionError unless pipeline `seed`'s gradients match finite differences."""
    gen = generate(seed, kinds=KINDS)
    failures = directional_errors(gen, gradients(gen), gen, RTOL)
    assert not failures, f"{gen}\n" + "\n".join(failures)


def program(seed: int, note: str = "") -> str:
    """A standalone program (run from the repository root) that repeats the check of `seed`."""
    return "\n".join(
        [
            f'"""Saline gradient check, seed {seed}{": " + note if note else ""}.',
            "",
            "Run from the repository root: PYTHONPATH=. python this_file.py",
            '"""',
            "from tests.autodiff.gen import generate",
            "from tests.autodiff.gradcheck import KINDS, check_seed",
            "",
            f"print(generate({seed}, kinds=KINDS))",
            f"check_seed({seed})",
            "",
        ]
    )


__all__ = [
    "CAST_RTOL",
    "EPS",
    "KINDS",
    "KNOWN_BUGS",
    "RTOL",
    "check_seed",
    "direction",
    "directional_errors",
    "gradients",
    "loss_value",
    "program",
]

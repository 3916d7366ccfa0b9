"""Gradients of random pipelines against central finite differences (JAX's check_vjp idea).

For each of 200 seeded random float64 pipelines (`tests.autodiff.gen`; 800 more under `slow`)
and each input it is differentiated by (images, the weight image, Params), the directional
derivative of the loss along a random direction d, `(L(v + eps d) - L(v - eps d)) / (2 eps)`
with eps = 1e-6, equals `<gradient, d>` with the gradient from the INTERPRETER (no C compile):

    |fd - <g, d>| <= 1e-6 * max(|fd|, |<g, d>|) + 1e-8 * (1 + |L|)

The absolute term is 100 times the rounding error of an eps = 1e-6 difference of L (about
1e-16 |L| / 1e-6) and only matters when the directional derivative is itself near zero. The
truncation error of the central difference is O(eps^2) = 1e-12 relative for these smooth
functions; kinks (min, max, select, clamp, abs, maximum) are met only by chance with random
data, with probability of order eps per comparison. Over the default run the largest relative
error seen is about 3e-8.

float32 round trips are checked apart: a pipeline built with `casts=True` is compared with the
finite differences of the same pipeline without them (the same mathematical function), at the
relative tolerance float32 rounding allows, 1e-4. A subset of gradient pipelines is compiled to C
(default schedule) and must give the interpreter's gradients.

The check of one seed lives in tests/autodiff/gradcheck.py (`python -m tests.fuzz --backward`
runs it on other seeds); a Func kind with a known autodiff bug can be listed in its `KNOWN_BUGS`
(with a strict xfail in test_rules.py) to leave it out of the random draws until the bug is
fixed; none is listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from codegen.compile import CompiledPipeline, compile
from pipelines.autodiff import grad
from pipelines.interpret import interpret
from pipelines.pipeline import Pipeline
from tests.autodiff.gen import BOUNDARIES, POINTWISE_OPS, Generated, generate
from tests.autodiff.gradcheck import CAST_RTOL, KINDS, check_seed, directional_errors, gradients
from tests.helpers import as_tuple, inputs_for

DEFAULT_SEEDS = range(200)
SLOW_SEEDS = range(200, 1000)
CAST_SEEDS = range(1000, 1030)
# Gradient pipelines take gcc 3 to 25 s each on 2 cores: a few in the default run, more under slow.
COMPILED_SEEDS = (1, 3, 5)
SLOW_COMPILED_SEEDS = tuple(range(100, 120))


@pytest.mark.parametrize("seed", DEFAULT_SEEDS)
def test_gradient_matches_finite_differences(seed: int) -> None:
    check_seed(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_gradient_matches_finite_differences_slow(seed: int) -> None:
    check_seed(seed)


def test_default_seeds_cover_every_op_kind_and_boundary() -> None:
    """The default run draws every pointwise op, Func kind, boundary condition, both losses,
    Params, and the weight image and second image as wrt, many times each."""
    counts: dict[str, int] = {}
    for seed in DEFAULT_SEEDS:
        gen = generate(seed, kinds=KINDS)
        names = set(gen.ops) | {f"wrt:{w.name}" for w in gen.wrt}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    wanted = {*POINTWISE_OPS, *KINDS, *BOUNDARIES, "square", "dot", "param", "wrt:im", "wrt:im2", "wrt:w", "wrt:p0"}
    rare = {name: counts.get(name, 0) for name in wanted if counts.get(name, 0) < 10}
    assert not rare, f"drawn fewer than 10 times in the default run: {rare}"


def test_same_seed_same_pipeline() -> None:
    a, b = generate(7), generate(7)
    assert a.description == b.description and a.ops == b.ops
    assert all(np.array_equal(a.inputs[k], b.inputs[k]) for k in a.inputs)


@pytest.mark.parametrize("seed", CAST_SEEDS)
def test_float32_round_trips_pass_the_gradient_through(seed: int) -> None:
    """float64 -> float32 -> float64 casts: d cast = 1, up to float32 rounding."""
    with_casts = generate(seed, casts=True, kinds=KINDS)
    without = generate(seed, casts=False, kinds=KINDS)
    assert without.description == with_casts.description
    failures = directional_errors(with_casts, gradients(with_casts), without, CAST_RTOL)
    assert not failures, f"{with_casts}\n" + "\n".join(failures)


def test_cast_seeds_have_casts() -> None:
    with_casts = [seed for seed in CAST_SEEDS if "cast" in generate(seed, casts=True, kinds=KINDS).ops]
    assert len(with_casts) >= len(CAST_SEEDS) // 2


# ---------------------------------------------------------------- compiled gradients


Built = tuple[Generated, Pipeline, "Future[CompiledPipeline]"]


class _Builds:
    """Gradient pipelines compiled on two threads (gcc runs outside the GIL), on first request."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="grad-build")
        self.built: dict[int, Built] = {}

    def submit(self, seeds: Iterable[int]) -> None:
        for seed in seeds:
            if seed not in self.built:
                gen = generate(seed, kinds=KINDS)
                g = grad(gen.loss, list(gen.wrt), with_value=True)
                self.built[seed] = (gen, g, self.pool.submit(compile, g))


@pytest.fixture(scope="module")
def builds() -> Iterator[_Builds]:
    b = _Builds()
    yield b
    b.pool.shutdown(wait=True, cancel_futures=True)


def check_compiled(builds: _Builds, seed: int, seeds: Iterable[int]) -> None:
    builds.submit(seeds)
    gen, g, future = builds.built[seed]
    args = inputs_for(g, gen.inputs)
    want = as_tuple(interpret(g, **args))
    got = as_tuple(future.result()(**args))
    assert len(got) == len(want) == len(gen.wrt) + 1
    for name, a, b in zip([w.name for w in gen.wrt] + ["loss"], got, want):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * scale, err_msg=f"{gen}: gradient of {name}")


@pytest.mark.parametrize("seed", COMPILED_SEEDS)
def test_compiled_gradient_matches_interpreter(builds: _Builds, seed: int) -> None:
    check_compiled(builds, seed, COMPILED_SEEDS)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_COMPILED_SEEDS)
def test_compiled_gradient_matches_interpreter_slow(builds: _Builds, seed: int) -> None:
    check_compiled(builds, seed, SLOW_COMPILED_SEEDS)

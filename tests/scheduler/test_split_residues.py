"""Vector loops that divide their coordinate by a constant run one copy of the body per residue
(scheduler/split_residues.py): the selects on `x % d` fold, the loads at `x / d` are contiguous,
and every output equals the interpreter's at even and odd origins, negative ones, sizes that
leave a partial vector, and several divisors in one loop (a loop whose divisors'
least common multiple does not divide its vector, 3 and 2 in 8 lanes, is left alone)."""

from __future__ import annotations

import numpy as np
import pytest

import scheduler.lower as lowering
from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, cast, clamp, select
from pipelines.expr import Div, Mod
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.types import float32, uint16
from scheduler.loopir import For, IfThenElse
from scheduler.lower import lower
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")


def _interleave(name: str) -> tuple[Pipeline, Schedule]:
    """Two half-width planes interleaved along x (a Bayer row), plus an upsampling that reads
    x / 2 and (x + 1) / 2 with clamps, as the pyramids do."""
    even, odd = ImageParam(uint16, 2, f"{name}_even"), ImageParam(uint16, 2, f"{name}_odd")
    w = even.width()
    at = clamp(x / 2, 0, w - 1)
    after = clamp((x + 1) / 2, 0, w - 1)
    rows = clamp(y, 0, even.height() - 1)
    out = Func(name)
    picked = select(x % 2 < 1, even[at, rows], odd[at, rows])
    out[x, y] = picked + even[after, rows] * 3
    s = Schedule()
    s[out].vectorize("x", 16)
    return Pipeline(out), s


def _fast_loops(pipeline: Pipeline, s: Schedule) -> list[For]:
    body = lower(pipeline, s).body
    return [
        n.then_case
        for n in walk(body)
        if isinstance(n, IfThenElse) and isinstance(n.then_case, For) and n.then_case.kind == "vectorized"
    ]


def test_the_residue_copies_divide_nothing_by_the_lane() -> None:
    pipeline, s = _interleave("res_shape")
    halves = [loop for loop in _fast_loops(pipeline, s) if getattr(loop.extent, "value", None) == 8]
    assert halves, "no vector loop was unrolled by residues"
    for loop in halves:
        for n in walk(loop.body):
            if isinstance(n, (Div, Mod)):
                assert not any(getattr(v, "name", None) == loop.name for v in walk(n.a)), f"lane still divided: {n}"


@pytest.mark.parametrize("width", [1, 5, 16, 17, 33, 40])
@pytest.mark.parametrize("origin", [(0, 0), (1, 0), (-7, 3), (-8, -1)])
def test_interleaving_matches_the_interpreter(width: int, origin: tuple[int, int]) -> None:
    pipeline, s = _interleave(f"res_{width}_{origin[0]}_{origin[1]}".replace("-", "m"))
    rng = np.random.default_rng(width)
    half = (width + 1) // 2
    a, b = (rng.integers(0, 1024, (4, half), dtype=np.uint16) for _ in range(2))
    names = {p.name: v for p, v in zip(pipeline.images, (a, b))}
    shape = (5, width)
    want = interpret(pipeline, shape=shape, origin=origin, **names)
    got = compile(pipeline, s)(shape=shape, origin=origin, **names)
    np.testing.assert_array_equal(got, want)


def _mixed(name: str, lanes: int, divisors: tuple[int, int]) -> tuple[Pipeline, Schedule]:
    image = ImageParam(float32, 1, f"{name}_in")
    n = image.width()
    first, second = divisors
    out = Func(name)
    low = image[clamp(x / first, 0, n - 1)]
    high = image[clamp((x + 5) / second, 0, n - 1)]
    out[x] = select(x % second < 1, low, high) + cast(float32, x % first - 1) * 0.5
    s = Schedule()
    s[out].vectorize("x", lanes)
    return Pipeline(out), s


@pytest.mark.parametrize(("lanes", "divisors"), [(16, (2, 4)), (16, (8, 2)), (8, (4, 2)), (8, (3, 2))])
@pytest.mark.parametrize("origin", [-9, -4, 0, 1, 2, 3])
def test_other_divisors_match_the_interpreter(lanes: int, divisors: tuple[int, int], origin: int) -> None:
    name = f"res_mixed_{lanes}_{divisors[0]}_{divisors[1]}_{origin}".replace("-", "m")
    pipeline, s = _mixed(name, lanes, divisors)
    m = int(np.lcm(*divisors))
    split = any(getattr(f.extent, "value", None) == lanes // m for f in _fast_loops(pipeline, s))
    assert split == (lanes % m == 0), "split where the residues do not divide the vector, or not where they do"
    a = np.random.default_rng(origin + 20).random(23, dtype=np.float32)
    want = interpret(pipeline, shape=(61,), origin=(origin,), **{f"{name}_in": a})
    got = compile(pipeline, s)(shape=(61,), origin=(origin,), **{f"{name}_in": a})
    np.testing.assert_array_equal(got, want)


def test_without_the_pass_the_same_values_come_out() -> None:
    """The split changes the code, not the result: with the pass removed from lowering, the
    interleaving gives the same output (and loads through gathers)."""
    pipeline, s = _interleave("res_unsplit")
    rng = np.random.default_rng(9)
    a, b = (rng.integers(0, 1024, (4, 20), dtype=np.uint16) for _ in range(2))
    names = {p.name: v for p, v in zip(pipeline.images, (a, b))}
    split = compile(pipeline, s)(shape=(5, 39), origin=(-3, 0), **names)
    everything = list(lowering.PASSES)
    lowering.PASSES[:] = [p for p in everything if p[0] != "split vector residues"]
    try:
        assert not any(getattr(f.extent, "value", None) == 8 for f in _fast_loops(pipeline, s))
        plain = compile(pipeline, s)(shape=(5, 39), origin=(-3, 0), **names)
    finally:
        lowering.PASSES[:] = everything
    np.testing.assert_array_equal(split, plain)

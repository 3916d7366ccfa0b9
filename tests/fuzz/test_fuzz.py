"""Differential fuzzing: random pipelines under random legal schedules, compiled vs interpreted.

Each case is `cases.case(seed)`, seeds counting up from `SALINE_FUZZ_SEED` (0): a random DAG of
Funcs (`tests/fuzz/gen.py`) with a random legal schedule, run compiled and through the numpy
interpreter on the same random inputs; integers and bools must agree exactly, floats within
rtol 1e-5 (NaN at the same places). A failing case is shrunk and the assertion message is a
standalone program that reproduces it.

The default run checks `SALINE_FUZZ_CASES` cases (500 when unset). Cases are generated on the
main thread a few ahead of the test that checks them and compiled on two worker threads (gcc
runs outside the GIL), as the schedule property test does; built libraries land in the disk
cache, so a second run is quicker. `pytest -m fuzz` selects only the fuzz tests;
`SALINE_FUZZ_CASES=20000 pytest -m fuzz` runs a long batch, and `python -m tests.fuzz` runs
any number outside pytest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from codegen.compile import CompiledPipeline
from tests.fuzz import cases, check, gen

CASES = int(os.environ.get("SALINE_FUZZ_CASES", "500"))
FIRST_SEED = int(os.environ.get("SALINE_FUZZ_SEED", "0"))
LOOKAHEAD = 6  # cases built ahead of the one being checked
SHRINK_BUDGET = int(os.environ.get("SALINE_FUZZ_SHRINK", "150"))  # candidate builds per failure

pytestmark = pytest.mark.fuzz


def _compile(built: cases.Built) -> CompiledPipeline | BaseException:
    try:
        return check.compiled(built)
    except Exception as e:  # noqa: BLE001 - judged by the test, with the shrinker
        return e


class Ahead:
    """Cases generated in order on the calling thread and compiled on worker threads."""

    def __init__(self, workers: int):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fuzz-build")
        self.pending: dict[int, tuple[gen.Spec, cases.Built, Future[CompiledPipeline | BaseException]]] = {}
        self.failed: dict[int, Exception] = {}
        self.next = FIRST_SEED

    def take(self, seed: int) -> tuple[gen.Spec, cases.Built, CompiledPipeline | BaseException]:
        """Case `seed`, compiled; generating it raises here, in its own test, if it must."""
        self.next = max(self.next, seed)
        while self.next < seed + LOOKAHEAD and self.next < FIRST_SEED + CASES:
            try:
                spec, built = cases.case(self.next)
                self.pending[self.next] = (spec, built, self.pool.submit(_compile, built))
            except Exception as e:  # noqa: BLE001 - raised again by the test of that seed
                self.failed[self.next] = e
            self.next += 1
        if seed in self.failed:
            raise self.failed.pop(seed)
        if seed not in self.pending:
            spec, built = cases.case(seed)
            return spec, built, _compile(built)
        spec, built, future = self.pending.pop(seed)
        return spec, built, future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def ahead() -> Iterator[Ahead]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    a = Ahead(workers=max(1, min(2, cores)))
    yield a
    a.close()


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + CASES))
def test_random_pipeline_compiled_matches_interpreter(ahead: Ahead, seed: int) -> None:
    spec, built, binary = ahead.take(seed)
    signature = check.outcome(built, binary)
    if signature is not None:
        pytest.fail(check.failure_report(spec, signature, SHRINK_BUDGET), pytrace=False)


# ---------------------------------------------------------------- the generator itself


def test_generator_is_reproducible() -> None:
    """The same seed gives the same source and schedule; another seed gives other ones."""
    a, b, c = cases.case(10_001)[0], cases.case(10_001)[0], cases.case(10_002)[0]
    assert check.program(a) == check.program(b)
    assert check.program(a) != check.program(c)


def test_generator_covers_the_language() -> None:
    """Across 300 seeds the generated programs use every feature the module docstring lists."""
    text = "\n".join(check.program(gen.generate(seed)) for seed in range(300))
    wanted = [
        "repeat_edge(", "constant_exterior(", "mirror_image(", "mirror_interior(", "select(", "cast(",
        "sum(", "maximum(", "minimum(", ".where(", "RDom(", "Param(", "clamp(", "lerp(", "floor(",
        "sqrt(", " % ", " / ", "eq(", "ne(", " & ", " | ", "~", "* 2 - 1", "cast(int8,", "exp(",
    ]  # fmt: skip
    missing = [w for w in wanted if w not in text]
    assert not missing, missing
    for t in gen.ALL_TYPES:
        assert f"cast({gen.dsl(t)}," in text, t.name
    assert "ImageParam(float64, 3," in text and "ImageParam(uint8, 1," in text
    assert "pipeline = Pipeline([s" in text and any(p.count(", s") for p in text.split("pipeline = Pipeline(")[1:])


def test_shrinker_reduces_a_failing_case_to_a_repro(monkeypatch: pytest.MonkeyPatch) -> None:
    """An injected 'bug' (an output is wrong whenever the pipeline divides) shrinks to a program
    that still divides and from which no single shrinking step keeps the failure (1-minimal),
    and the definitions of the printed program run."""
    seed = next(s for s in range(200) if " / " in cases.definitions(gen.generate(s)) and len(gen.generate(s).funcs) > 2)
    spec = cases.with_schedule(gen.generate(seed))[0]

    def fake_outcome(built: cases.Built, binary: object = None) -> str | None:
        return "mismatch fake" if " / " in cases.definitions(built.spec) else None

    monkeypatch.setattr(check, "outcome", fake_outcome)
    small = check.shrink(spec, "mismatch fake", budget=5000)
    before, after = cases.definitions(spec), cases.definitions(small)
    assert " / " in after
    assert len(after) < len(before)
    assert all(check.signature_of(v) != "mismatch fake" for v in check.variants(small))
    namespace: dict[str, object] = {}
    exec(check.program(small).split("want = interpret")[0], namespace)
    assert isinstance(namespace["inputs"], dict)
    assert all(isinstance(v, (np.ndarray, int, float)) for v in namespace["inputs"].values())

"""Differential fuzzing: random pipelines under random legal schedules, compiled vs interpreted.

Each case is `cases.case(seed)`, seeds counting up from `SALINE_FUZZ_SEED` (0): a random DAG of
Funcs (`tests/fuzz/gen.py`) with a random legal schedule, run compiled and through the numpy
interpreter on the same random inputs; integers and bools must agree exactly, floats within
rtol 1e-5 (NaN at the same places). A failing case is shrunk and the assertion message is a
standalone program that reproduces it.

The default run checks `SALINE_FUZZ_CASES` cases (500 when unset) on `SALINE_FUZZ_JOBS` worker
processes (every core when unset; tests/fuzz/parallel.py): the first test queues every selected
seed, in order, and each test waits for its own; a worker generates, compiles, checks and (on
failure) shrinks its case, so the Python work runs on every core and gcc beside it. Built
libraries land in the disk cache, so a second run is quicker. `pytest -m fuzz` selects only the
fuzz tests; `SALINE_FUZZ_CASES=20000 pytest -m fuzz` runs a long batch, and `python -m
tests.fuzz` runs any number outside pytest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

import numpy as np
import pytest

from codegen.c_emit import emit_c
from scheduler.lower import lower
from tests.fuzz import cases, check, gen, parallel

CASES = int(os.environ.get("SALINE_FUZZ_CASES", "500"))
FIRST_SEED = int(os.environ.get("SALINE_FUZZ_SEED", "0"))
JOBS = int(os.environ.get("SALINE_FUZZ_JOBS", "0")) or parallel.cores()
SHRINK_BUDGET = int(os.environ.get("SALINE_FUZZ_SHRINK", "150"))  # candidate builds per failure

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def checker(request: pytest.FixtureRequest) -> Iterator[parallel.Checker]:
    """Every selected seed queued at once, in order, on worker processes."""
    test = test_random_pipeline_compiled_matches_interpreter
    selected = [item for item in request.session.items if getattr(item, "function", None) is test]
    c = parallel.Checker(partial(parallel.forward, shrink=SHRINK_BUDGET), JOBS, parallel.forward_repro)
    c.submit(item.callspec.params["seed"] for item in selected)
    yield c
    c.close()


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + CASES))
def test_random_pipeline_compiled_matches_interpreter(checker: parallel.Checker, seed: int) -> None:
    result = checker.result(seed)
    if result.signature is not None:
        pytest.fail(f"{result.signature}\n{result.text}", pytrace=False)


def test_compiled_case_reuses_the_kept_lowering() -> None:
    """A case compiles from the lowering and C `with_schedule` kept, and they are what lowering
    the same pipeline and schedule again gives: reusing them changes nothing that is tested."""
    for seed in (3, 4):
        built = cases.case(seed)[1]
        binary = check.compiled(built)
        assert binary.lowered is built.lowered and binary.c_source == built.c_source
        assert emit_c(lower(built.pipeline, built.schedule)) == built.c_source


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


def test_generator_bounds_nested_data_dependent_coordinates() -> None:
    """Seed 2010947 nested LUT reads in LUT indices until Python's parser refused the source; now
    it stops at `MAX_NESTING` levels and the program compiles."""
    compile(check.program(gen.generate(2010947)), "seed-2010947.py", "exec")


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

"""Schedules never change results (STYLE.md, "Tests", rule 2).

Random LEGAL schedules (`schedule_gen`: splits with every tail, tiles, reorders, fuses,
vectorize, unroll, parallel, bound, every compute_at and store_at level, inline, compute_root)
are drawn for six pipelines (`zoo`: a pointwise integer chain, a separable blur with
repeat_edge, an unsharp mask, Harris corners, a histogram with a scan, two outputs), each
compiled and run on a 37 x 29 image (odd sizes: tails matter) and compared with the
interpreter: integers exactly, floats within rtol 1e-5. Every schedule also goes through
JSON: `from_json(to_json(s))` equals `s` and lowers to identical C.

The default run draws its schedules from seeded generators (test ids `case-k` name them:
`draw_schedule(RandomChooser(seed_of(case, k)), zoo.case(case))` rebuilds one) and builds
them two at a time, so the C compiler keeps both cores busy while the checks run;
built libraries are cached on disk, so a second run is quicker. The slow run adds hypothesis
draws, which shrink a failure to a small schedule.
"""

from __future__ import annotations

import functools
import os
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.c_emit import emit_c
from codegen.compile import CompiledPipeline, compile
from pipelines.interpret import interpret
from scheduler.lower import lower
from scheduler.schedule import Schedule
from tests.helpers import as_tuple, assert_same
from tests.scheduler import zoo
from tests.scheduler.schedule_gen import HypothesisChooser, RandomChooser, draw_schedule

# Schedules per pipeline in the default run: 313 in all, fewer for the pipelines whose C is
# biggest (a Harris schedule's C is about five times a blur's, and gcc's time follows; a
# gradient pipeline's takes gcc several seconds).
COUNTS = {
    "pointwise": 80,
    "blur": 80,
    "histogram": 55,
    "two_outputs": 50,
    "unsharp": 25,
    "harris": 15,
    "conv_backward": 4,
    "scan_backward": 4,
}
FLOAT_RTOL = 1e-5


def seed_of(name: str, k: int) -> int:
    return zlib.crc32(f"{name}:{k}".encode())


@functools.cache
def reference(name: str) -> tuple[np.ndarray, ...]:
    case = zoo.case(name)
    return as_tuple(interpret(case.pipeline, shape=case.shape, **case.inputs))


@dataclass
class Built:
    """A drawn schedule, its compiled pipeline, and the C of its JSON round trip."""

    schedule: Schedule
    compiled: CompiledPipeline
    again: Schedule
    again_source: str


def build(case: zoo.Case, schedule: Schedule) -> Built:
    compiled = compile(case.pipeline, schedule)
    again = Schedule.from_json(schedule.to_json())
    return Built(schedule, compiled, again, emit_c(lower(case.pipeline, again)))


def check(case: zoo.Case, built: Built) -> None:
    """The compiled result equals the interpreter's; the JSON round trip changes nothing."""
    print(built.schedule.to_json())  # shown when the test fails: the schedule to replay
    got = as_tuple(built.compiled(shape=case.shape, **case.inputs))
    for func, g, w in zip(case.pipeline.outputs, got, reference(case.name), strict=True):
        assert_same(g, w, rtol=FLOAT_RTOL, what=f"{case.name}: output {func.name!r}")
    assert built.again == built.schedule
    assert built.again.to_json() == built.schedule.to_json()
    assert built.again_source == built.compiled.c_source, "the JSON round trip lowers to different C"


class Builds:
    """Schedules drawn and built on worker threads ahead of the tests that check them (gcc runs
    outside the GIL); a test takes its own result, waiting for it if need be."""

    def __init__(self, workers: int):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="schedule-build")
        self.futures: dict[tuple[str, int], Future[Built]] = {}

    def submit(self, keys: list[tuple[str, int]]) -> None:
        for name, k in keys:
            if (name, k) not in self.futures:
                case = zoo.case(name)  # built here, on the main thread, once
                schedule = draw_schedule(RandomChooser(seed_of(name, k)), case)
                self.futures[name, k] = self.pool.submit(build, case, schedule)

    def take(self, name: str, k: int) -> Built:
        self.submit([(name, k)])
        return self.futures.pop((name, k)).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def builds(request: pytest.FixtureRequest):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    b = Builds(workers=max(1, min(2, cores)))
    wanted = [
        (item.callspec.params["name"], item.callspec.params["k"])
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_random_schedule_matches_reference"
    ]
    b.submit(wanted)  # in test order: the first results come first
    yield b
    b.close()


CASES = [(name, k) for name, count in COUNTS.items() for k in range(count)]


@pytest.mark.parametrize("name, k", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_random_schedule_matches_reference(builds, name, k):
    check(zoo.case(name), builds.take(name, k))


def test_default_run_draws_enough_varied_schedules():
    """At least 300 schedules, and between them every kind of directive and placement."""
    assert len(CASES) >= 300
    kinds: set[str] = set()
    tails: set[str] = set()
    for name, k in CASES:
        text = draw_schedule(RandomChooser(seed_of(name, k)), zoo.case(name)).to_json()
        kinds.update(part.split('"')[0] for part in text.split('"kind": "')[1:])
        tails.update(part.split('"')[0] for part in text.split('"tail": "')[1:])
    assert kinds >= {
        "Split", "Fuse", "Reorder", "Vectorize", "Unroll", "Parallel", "Bound",
        "ComputeRoot", "ComputeInline", "ComputeAt", "StoreAt", "StoreRoot",
    }  # fmt: skip
    assert tails == {"auto", "guard_with_if", "shift_inwards", "round_up"}


# ---------------------------------------------------------------- hypothesis


def _hypothesis_check(name: str, data: st.DataObject) -> None:
    case = zoo.case(name)
    check(case, build(case, draw_schedule(HypothesisChooser(data), case)))


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hypothesis_schedule_of_the_blur_matches_reference(data):
    _hypothesis_check("blur", data)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(zoo.BUILDERS))
@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hypothesis_schedule_matches_reference(name, data):
    _hypothesis_check(name, data)

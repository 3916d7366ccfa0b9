"""Interleaved rounds with fake systems: each round runs every system (an untimed run, then the
timed ones), the order rotates so every system takes every position, a load spike lands on one
round of every system rather than on all runs of one, and a system that fails is dropped from
later rounds with its error kept. No real timing: a fake clock advances by what each fake
system says it costs."""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable

import pytest

from bench import harness


class FakeMachine:
    """A clock, and systems that advance it by their cost (plus the spike of a busy round)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[str] = []
        self.spike_at_call: dict[int, float] = {}

    def clock(self) -> float:
        return self.now

    def system(self, name: str, cost: float) -> Callable[[], None]:
        def run() -> None:
            self.now += cost + self.spike_at_call.get(len(self.calls), 0.0)
            self.calls.append(name)

        return run


def test_round_order_rotates_through_every_position() -> None:
    orders = [harness.round_order(3, r) for r in range(6)]
    assert orders[:3] == [[0, 1, 2], [1, 2, 0], [2, 0, 1]] and orders[3:] == orders[:3]
    for position in range(3):
        assert sorted(o[position] for o in orders[:3]) == [0, 1, 2]
    assert harness.round_order(0, 5) == []


def test_each_round_runs_every_system_warm_then_timed() -> None:
    m = FakeMachine()
    fns = [m.system("a", 1.0), m.system("b", 2.0), m.system("c", 3.0)]
    timed = harness.interleaved_runs(fns, rounds=7, per_round=2, round_warmup=1, clock=m.clock)
    assert [t.times for t in timed] == [[1.0] * 14, [2.0] * 14, [3.0] * 14]
    assert all(t.error is None for t in timed)
    # Round r: each system in rotated order, one untimed run then two timed ones, back to back.
    expected = []
    for r in range(7):
        for i in harness.round_order(3, r):
            expected += ["abc"[i]] * 3
    assert m.calls == expected


def test_a_load_spike_hits_one_round_not_one_system() -> None:
    m = FakeMachine()
    fns = [m.system("a", 1.0), m.system("b", 1.0)]
    # The machine is busy for a while in the middle (calls 10 to 17: rounds 2 and 3 of 2 calls
    # per system): back to back, all of it would land on one system's runs.
    m.spike_at_call = dict.fromkeys(range(10, 18), 5.0)
    timed = harness.interleaved_runs(fns, rounds=9, clock=m.clock)
    for t in timed:
        assert len(t.times) == 9 and sum(x > 1.0 for x in t.times) == 2
        assert statistics.median(t.times) == 1.0


def test_a_failing_system_is_dropped_from_later_rounds() -> None:
    m = FakeMachine()
    broken = {"left": 3}

    def flaky() -> None:
        broken["left"] -= 1
        m.calls.append("flaky")
        if broken["left"] < 0:
            raise RuntimeError("crashed in round 1")

    timed = harness.interleaved_runs([m.system("a", 1.0), flaky], rounds=7, clock=m.clock)
    assert len(timed[0].times) == 7 and timed[0].error is None
    assert isinstance(timed[1].error, RuntimeError) and len(timed[1].times) == 1
    assert m.calls.count("flaky") == 4  # warm + timed in round 0; warm in round 1; the crash


def test_rounds_run_with_the_garbage_collector_paused_and_restore_it() -> None:
    seen = []
    assert gc.isenabled()
    harness.interleaved_runs([lambda: seen.append(gc.isenabled())], rounds=7)
    assert seen and not any(seen) and gc.isenabled()


@pytest.mark.parametrize("per_round", [1, 3])
def test_records_count_every_timed_run(per_round: int) -> None:
    m = FakeMachine()
    timed = harness.interleaved_runs([m.system("a", 0.5)], rounds=7, per_round=per_round, clock=m.clock)
    assert len(timed[0].times) == 7 * per_round

"""The fuzz driver's worker processes (tests/fuzz/parallel.py) and command line (__main__.py).

A worker that dies takes only its own seed with it: that seed fails as `crash` with its repro
program, and every other seed gets its own result exactly once. The command line checks the
seeds it is given, in either direction, and ends with the summary line.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.fuzz import __main__ as driver
from tests.fuzz import parallel

pytestmark = pytest.mark.fuzz


def _dies_on_3(seed: int) -> parallel.Result:
    if seed == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return parallel.Result(seed, "mismatch f" if seed == 5 else None)


def _repro(seed: int) -> str:
    return f"repro of {seed}"


def test_worker_that_dies_fails_only_its_seed() -> None:
    checker = parallel.Checker(_dies_on_3, jobs=2, repro=_repro)
    try:
        checker.submit(range(8))
        results = {r.seed: r for r in checker.completed()}
        late = checker.result(9)
    finally:
        checker.close()
    assert sorted(results) == list(range(8)) and late.signature is None
    assert results[3].signature == "crash" and results[3].program == "repro of 3"
    assert results[5].signature == "mismatch f"
    assert all(r.signature is None for s, r in results.items() if s not in (3, 5))


def test_backward_command_checks_its_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert driver.main(["--backward", "--cases", "2", "--seed", "1030", "--jobs", "1", "--out", str(tmp_path)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("backward: 2 cases (seeds 1030..1031) in ")
    assert last.endswith("0 failing: none; 0 confirmed refusals of wrapping int32 index arithmetic")

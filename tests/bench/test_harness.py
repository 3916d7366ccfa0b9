"""The benchmark harness on tiny images: records written as documented, Saline rows checked
against numpy and the interpreter, missing peers skipped with a note, `saline bench` and
`python -m bench` (which re-executes itself with steady malloc) both reaching it. No peer
package is needed; no timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import harness
from saline import cli

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"benchmark", "system", "variant", "threads", "size", "median_ms", "min_ms", "max_ms", "runs", "correct"}
TINY = ["--suite", "blur", "--size", "64x48", "--threads", "2", "--runs", "7", "--warmup", "1", "--no-reexec"]


@pytest.fixture(autouse=True)
def restore_thread_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness sets the thread variables in os.environ; put them back afterwards."""
    for name in harness.thread_environment(1):
        monkeypatch.delenv(name, raising=False)


def run_bench(tmp_path: Path, *extra: str) -> tuple[int, dict]:
    path = tmp_path / "bench.json"
    status = harness.main([*TINY, *extra, "--json", str(path)])
    return status, json.loads(path.read_text())


def test_harness_writes_records_with_saline_rows_correct(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, data = run_bench(tmp_path, "--peers", "numpy", "--variants", "default,hand")
    assert status == 0
    records = data["records"]
    assert all(set(r) == FIELDS for r in records)
    rows = {(r["system"], r["variant"]) for r in records}
    expected = {
        ("saline", "default"),
        ("saline", "hand"),
        ("numpy", "slicing"),
        ("floor", "copy"),
        ("floor", "copy_image"),
    }
    assert rows == expected
    for r in records:
        assert r["benchmark"] == "blur" and r["size"] == [64, 48] and r["threads"] == 2 and r["runs"] == 7
        assert r["correct"] is True, r
        assert 0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"]
    assert data["machine"]["threads"] == 2
    out = capsys.readouterr().out
    assert "blur 64x48, 2 thread(s), 7 runs" in out and "best saline:" in out


def test_missing_peers_are_skipped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in ("cv2", "halide", "torch"):
        monkeypatch.setitem(sys.modules, module, None)  # `import cv2` now raises ImportError
    status, data = run_bench(tmp_path, "--peers", "numpy,opencv,torch,torch.compile,halide", "--variants", "default")
    assert status == 0
    systems = {r["system"] for r in data["records"]}
    assert systems == {"saline", "numpy", "floor"}
    out = capsys.readouterr().out
    for row in ("opencv sepFilter2D", "opencv blur", "torch conv2d", "torch.compile slicing", "halide manual"):
        assert f"note: {row}: skipped (" in out
        assert any(f"{row}: skipped" in n for n in data["notes"])


def test_saline_auto_variant_is_a_note_and_unknown_names_are_errors(tmp_path: Path) -> None:
    status, data = run_bench(tmp_path, "--peers", "none", "--variants", "default,auto")
    assert status == 0 and {r["variant"] for r in data["records"]} == {"default", "copy", "copy_image"}
    assert any("saline auto: skipped" in n for n in data["notes"])
    with pytest.raises(SystemExit):
        harness.main([*TINY, "--peers", "numpy,nosuchpeer"])
    assert harness.main([*TINY, "--peers", "none", "--variants", "nosuchvariant"]) == 2


def test_time_runs_warms_up_then_times_each_run() -> None:
    calls = []
    times = harness.time_runs(lambda: calls.append(1), runs=7, warmup=2)
    assert len(times) == 7 and len(calls) == 9 and all(t >= 0 for t in times)


def test_saline_bench_forwards_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setattr(cli.bench_harness, "main", lambda argv: seen.append(list(argv)) or 0)
    assert cli.main(["bench", "--size", "64x48", "--peers", "numpy", "--help"]) == 0
    assert seen == [["--size", "64x48", "--peers", "numpy", "--help"]]


def test_python_m_bench_reexecutes_with_steady_malloc(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != harness.REEXEC_MARK}
    env["PYTHONPATH"] = str(ROOT)
    argv = [
        "--suite",
        "blur",
        "--size",
        "32x24",
        "--threads",
        "1",
        "--runs",
        "7",
        "--peers",
        "none",
        "--variants",
        "default",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *argv, "--json", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(path.read_text())
    assert data["machine"]["steady_malloc"] is True
    assert [(r["system"], r["correct"]) for r in data["records"]] == [
        ("saline", True),
        ("floor", True),
        ("floor", True),
    ]

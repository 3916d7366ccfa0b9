"""The `apps` suite: each Halide app (bench.apps_halide) equals the Saline interpreter on a small
photograph, the suite runs one filter alone through the harness, a filter that fails to build
does not stop the others, and the summary divides Saline hand by Halide manual and names every
missed target. Halide's JIT takes seconds per pipeline, so the default run checks the two
cheapest apps' manual schedules (equalize_histogram: where Halide's fused multiply-adds
once moved pixels to the next bin); every app and variant is marked slow. No timing is asserted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from bench import apps, apps_halide, harness
from bench.workload import Workload
from pipelines.filters import FILTERS
from pipelines.interpret import interpret

SIZE = (80, 72)  # at least one 32-row strip and one 32 x 8 output tile of the resize schedule
DEFAULT_RUN = {"colour_matrix", "equalize_histogram"}
TINY = ["--size", "64x48", "--threads", "1", "--runs", "7", "--warmup", "0", "--no-reexec"]


@pytest.fixture(autouse=True)
def restore_thread_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in harness.thread_environment(1):
        monkeypatch.delenv(name, raising=False)


def _case(name: str, variant: str) -> pytest.param:
    slow = variant != "manual" or name not in DEFAULT_RUN
    return pytest.param(name, variant, marks=[pytest.mark.slow] if slow else [], id=f"{name}-{variant}")


@pytest.mark.parametrize(("name", "variant"), [_case(n, v) for n in apps_halide.APPS for v in apps_halide.VARIANTS])
def test_halide_app_matches_interpreter(name: str, variant: str) -> None:
    pytest.importorskip("halide")
    f = FILTERS[name]()
    params = f.defaults()
    a = apps.app_input(f, *SIZE)
    want = interpret(f.pipeline, shape=f.output_shape(a.shape, params), input=a, **params)
    got = apps_halide.candidate(name, variant, a, params, threads=2).setup()()
    rtol, atol = apps.TOLERANCE.get(name, (1e-5, 1e-6))
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def test_every_small_app_has_a_halide_version() -> None:
    large = {"bilateral_grid", "local_laplacian", "interpolate", "camera_pipe"}
    assert set(apps_halide.APPS) == set(FILTERS) - large
    assert set(apps.BENCHMARKS) == set(FILTERS)


def test_filters_run_alone_and_one_that_fails_to_build_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = apps.app_input

    def broken(f: object, width: int, height: int) -> np.ndarray:
        if getattr(f, "name", "") == "brightness_contrast_gamma":
            raise OSError("no photograph")
        return photo(f, width, height)  # type: ignore[arg-type]

    monkeypatch.setattr(apps, "app_input", broken)
    path = tmp_path / "apps.json"
    argv = ["--bench", "brightness_contrast_gamma,colour_matrix", *TINY, "--peers", "numpy", "--json", str(path)]
    assert harness.main(argv) == 1
    records = json.loads(path.read_text())["records"]
    rows = {(r["benchmark"], r["system"], r["variant"]): r["correct"] for r in records}
    assert rows == {
        ("colour_matrix", "saline", "hand"): True,
        ("colour_matrix", "saline", "auto"): True,
        ("colour_matrix", "numpy", "matmul"): True,
        ("colour_matrix", "floor", "copy"): True,
        ("colour_matrix", "floor", "copy_image"): True,
    }
    out = capsys.readouterr().out
    assert "brightness_contrast_gamma 64x48: FAILED to build: OSError: no photograph" in out
    assert "summary, 1 thread(s): Saline hand over halide manual" in out
    missing = "TARGET MISSED: no saline hand / halide manual ratio (a row missing, failed or wrong) for: "
    assert missing + "brightness_contrast_gamma, colour_matrix" in out


def test_unknown_benchmark_is_an_error() -> None:
    assert harness.main(["--bench", "nosuchfilter", *TINY]) == 2


def test_time_limit_interrupts_a_long_step() -> None:
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match="sleeping took longer than 0.05 s"):
        with apps.time_limit(0.05, "sleeping"):
            time.sleep(2)
    assert time.perf_counter() - start < 1
    with apps.time_limit(None, "no limit"):
        pass


def _row(benchmark: str, system: str, variant: str, ms: float, correct: bool = True) -> harness.Row:
    record = harness.Record(benchmark, system, variant, 2, [64, 48], ms, ms, ms, 7, correct)
    return harness.Row(record, None)


def test_summary_gives_ratios_geomean_and_missed_targets() -> None:
    results = [
        ("fast", [_row("fast", "saline", "hand", 5.0), _row("fast", "halide", "manual", 10.0)]),
        ("slow", [_row("slow", "saline", "hand", 20.0), _row("slow", "halide", "manual", 10.0)]),
        ("wrong", [_row("wrong", "saline", "hand", 1.0), _row("wrong", "halide", "manual", 10.0, correct=False)]),
    ]
    text = apps.summary(results, threads=2)
    geomean = (0.5 * 2.0) ** 0.5
    assert f"geometric mean of hand/manual over 2 benchmark(s): {geomean:.2f}" in text
    assert "TARGET MISSED: slow: saline hand / halide manual = 2.00 (target <= 1)" in text
    assert f"TARGET MISSED: geometric mean {geomean:.2f} (target <= 0.9)" in text
    assert "ratio (a row missing, failed or wrong) for: wrong" in text
    assert "TARGET MISSED: fast" not in text
    met = apps.summary(results[:1], threads=2)
    assert "TARGET MISSED" not in met and "target met on all 1 benchmark(s) run" in met


def test_peer_is_compared_with_its_own_tolerance_and_crop() -> None:
    reference = np.zeros((3, 8, 8), np.float32)
    workload = Workload("w", (8, 8), reference, 0, [], rtol=0, atol=1e-6)
    border = reference.copy()
    border[:, 0, :] = 1.0
    run = lambda: border  # noqa: E731
    assert not harness._correct(border, workload, apps.Peer("opencv", "x", lambda: run))
    assert harness._correct(border, workload, apps.Peer("opencv", "x", lambda: run, crop=1))
    assert harness._correct(border, workload, apps.Peer("opencv", "x", lambda: run, atol=1.0))
    assert not harness._correct(border[:, 1:], workload, apps.Peer("opencv", "x", lambda: run, atol=1.0))

"""Whole pipelines through the disk cache: a new process reuses a compiled pipeline without the
compiler, several processes compiling the same new pipeline at once all succeed, and a damaged
entry is rebuilt."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A 3x3 blur whose Param name is unique per test, so each test starts with a new pipeline.
CHILD = """
import sys, numpy as np
import pipelines as P
from codegen.build import build_count
from codegen.compile import compile
x, y = P.Var("x"), P.Var("y")
im = P.ImageParam(P.float32, 2, "im")
gain = P.Param(P.float32, sys.argv[1], 1.0)
bx = P.Func("blur_x"); bx[x, y] = (im[x, y] + im[x + 1, y] + im[x + 2, y]) / 3
by = P.Func("blur_y"); by[x, y] = (bx[x, y] + bx[x, y + 1] + bx[x, y + 2]) / 3 * gain
c = compile(P.Pipeline(by))
a = np.arange(5 * 6, dtype=np.float32).reshape(5, 6)
out = c(shape=(3, 4), im=a)
expected = (a[:-2, :-2] + a[:-2, 1:-1] + a[:-2, 2:] + a[1:-1, :-2] + a[1:-1, 1:-1] + a[1:-1, 2:]
            + a[2:, :-2] + a[2:, 1:-1] + a[2:, 2:]) / 9
print(bool(np.allclose(out, expected, rtol=1e-6)), build_count())
"""


def child_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SALINE_CC", "SALINE_CC_ID")}
    env.update(PYTHONPATH=str(REPO), SALINE_CACHE_DIR=str(cache), SALINE_CC_ID="test-compiler", **extra)
    return env


def run(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, name], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def name() -> str:
    return "gain_" + uuid.uuid4().hex[:8]


def test_second_process_loads_cached_pipeline_without_compiler(tmp_path: Path, name: str) -> None:
    first = run(name, child_env(tmp_path / "cache"))
    assert first.stdout.split() == ["True", "1"], first.stderr
    marker = tmp_path / "compiler-ran"
    fake = tmp_path / "fake-cc"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    second = run(name, child_env(tmp_path / "cache", SALINE_CC=str(fake)))
    assert second.stdout.split() == ["True", "0"], second.stderr
    assert not marker.exists()


def test_four_processes_compiling_same_new_pipeline_all_succeed(tmp_path: Path, name: str) -> None:
    env = child_env(tmp_path / "cache")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, name],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outcomes, strict=True):
        assert p.returncode == 0, err
        assert out.split()[0] == "True", err
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_truncated_cached_pipeline_is_rebuilt(tmp_path: Path, name: str) -> None:
    cache = tmp_path / "cache"
    assert run(name, child_env(cache)).stdout.split() == ["True", "1"]
    (library,) = cache.glob("*.so")
    library.write_bytes(library.read_bytes()[:1000])
    again = run(name, child_env(cache))
    assert again.stdout.split() == ["True", "1"], again.stderr

"""SALINE_SANITIZE builds generated code with AddressSanitizer and UndefinedBehaviorSanitizer.

What holds: an unknown sanitizer name, or `address` without the ASan runtime preloaded, raises
`SanitizerError` with the command line that works; the sanitizer choice is part of the cache key
(a sanitized library is never served to a plain build or the other way round); and under the
sanitizers an out-of-bounds write or an undefined operation in a library aborts the process
with the sanitizer's report (`-fno-sanitize-recover=all`), while a correct pipeline still gives
the interpreter's result. The aborting programs run in child processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codegen import build
from codegen.build import SanitizerError, compile_flags, load_library

REPO = Path(__file__).resolve().parents[2]
ASAN = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()


def child(code: str, cache: Path, sanitize: str, preload: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SALINE_SANITIZE")}
    env.update(PYTHONPATH=str(REPO), SALINE_CACHE_DIR=str(cache), SALINE_SANITIZE=sanitize)
    if preload:
        env.update(LD_PRELOAD=ASAN, ASAN_OPTIONS="detect_leaks=0")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_unknown_sanitizer_is_refused_with_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALINE_SANITIZE", "address,memory")
    with pytest.raises(SanitizerError, match=r"unknown sanitizer 'memory'; expected .*address, undefined"):
        compile_flags()


def test_address_without_preloaded_runtime_says_how_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    if build.asan_loaded():
        pytest.skip("this process runs with AddressSanitizer preloaded")
    monkeypatch.setenv("SALINE_SANITIZE", "address")
    with pytest.raises(SanitizerError, match=r"not loaded in this process.*LD_PRELOAD=\$\(gcc -print-file-name"):
        load_library("int f(void) { return 1; }", "int f(void);", name_hint="asan_missing")


def test_sanitizer_flags_are_in_the_build_and_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SALINE_SANITIZE", raising=False)
    plain = compile_flags()
    monkeypatch.setenv("SALINE_SANITIZE", "undefined")
    sanitized = compile_flags()
    assert "-fsanitize=undefined" in sanitized and "-fno-sanitize-recover=all" in sanitized
    assert not any(f.startswith("-fsanitize") for f in plain)
    assert build._library_key("int f;", sanitized) != build._library_key("int f;", plain)
    assert sanitized[-1] == plain[-1]  # -I<csrc> stays last


def test_undefined_sanitizer_library_builds_loads_and_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """UBSan needs no preloading: its runtime comes in as a dependency of the library."""
    monkeypatch.setenv("SALINE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SALINE_SANITIZE", "undefined")
    _, lib = load_library("int twice(int a) { return 2 * a; }", "int twice(int);", name_hint="ubsan_ok")
    assert lib.twice(21) == 42
    (entry,) = tmp_path.glob("ubsan_ok-*.so")
    assert b"libubsan.so" in entry.read_bytes()  # linked against the UBSan runtime


OUT_OF_BOUNDS = """
from codegen.build import load_library
SOURCE = "#include <stdlib.h>\\nint poke(int n) { int *a = calloc(4, sizeof(int)); a[n] = 1; int v = a[0]; "
_, lib = load_library(SOURCE + "free(a); return v; }", "int poke(int);", name_hint="asan_poke")
print("in bounds", lib.poke(3), flush=True)
print("out of bounds", lib.poke(4), flush=True)
"""

SHIFT = """
from codegen.build import load_library
_, lib = load_library("int shift(int a, int b) { return a << b; }", "int shift(int, int);", name_hint="ubsan_shift")
print("fine", lib.shift(1, 3), flush=True)
print("undefined", lib.shift(1, 40), flush=True)
"""


def test_address_sanitizer_aborts_on_an_out_of_bounds_write(tmp_path: Path) -> None:
    result = child(OUT_OF_BOUNDS, tmp_path, "address", preload=True)
    assert "in bounds 0" in result.stdout, result.stderr[-2000:]
    assert "out of bounds" not in result.stdout
    assert result.returncode != 0
    assert "AddressSanitizer: heap-buffer-overflow" in result.stderr


def test_undefined_sanitizer_aborts_on_an_undefined_shift(tmp_path: Path) -> None:
    result = child(SHIFT, tmp_path, "undefined", preload=False)
    assert "fine 8" in result.stdout, result.stderr[-2000:]
    assert "undefined" not in result.stdout
    assert result.returncode != 0
    assert "runtime error: shift exponent 40" in result.stderr


def test_address_without_preload_fails_cleanly_in_a_fresh_process(tmp_path: Path) -> None:
    result = child(OUT_OF_BOUNDS, tmp_path, "address", preload=False)
    assert result.returncode == 1
    assert "SanitizerError" in result.stderr and "LD_PRELOAD" in result.stderr


SANITIZED_PIPELINE = """
from tests.scheduler import zoo
from tests.helpers import as_tuple, assert_same
from pipelines.interpret import interpret
from codegen.compile import compile
for name in ("blur", "histogram", "two_outputs"):
    c = zoo.case(name)
    got = as_tuple(compile(c.pipeline)(shape=c.shape, **c.inputs))
    for g, w in zip(got, as_tuple(interpret(c.pipeline, shape=c.shape, **c.inputs))):
        assert_same(g, w, 1e-5)
    print(name, "ok", flush=True)
"""


def test_zoo_pipelines_under_both_sanitizers_match_the_interpreter(tmp_path: Path) -> None:
    result = child(SANITIZED_PIPELINE, tmp_path, "address,undefined", preload=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["blur", "ok", "histogram", "ok", "two_outputs", "ok"]
    assert all(b"__asan_" in p.read_bytes() for p in tmp_path.glob("pipeline-*.so"))

"""Tests of codegen.build and codegen.cache: compile, load, the in-process memo and the on-disk cache."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from codegen import build, cache
from codegen.build import BuildError, build_count, cache_dir, compile_flags, csrc_dir, load_library

REPO = Path(__file__).resolve().parents[2]
ADD_CDEF = "int add(int a, int b);"
CHILD = """
import sys
from codegen.build import build_count, load_library
ffi, lib = load_library(sys.argv[1], "int add(int a, int b);", name_hint="child")
print(lib.add(2, 3), build_count())
"""


def add_source() -> str:
    """A new source each call (the comment differs), so no test sees another's in-process memo."""
    return f"/* {uuid.uuid4().hex} */\nint add(int a, int b) {{ return a + b; }}\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("SALINE_CACHE_DIR", str(directory))
    monkeypatch.delenv("SALINE_CC", raising=False)
    monkeypatch.delenv("SALINE_CC_ID", raising=False)
    return directory


def child_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SALINE_CC", "SALINE_CC_ID")}
    env.update(PYTHONPATH=str(REPO), SALINE_CACHE_DIR=str(cache), **extra)
    return env


def run_child(source: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, source], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def only_library(directory: Path) -> Path:
    (library,) = directory.glob("*.so")
    return library


def test_load_library_add_returns_sum() -> None:
    ffi, lib = load_library(add_source(), ADD_CDEF)
    assert lib.add(2, 3) == 5
    assert lib.add(-7, 4) == -3


def test_load_library_same_source_twice_builds_once(private_cache: Path) -> None:
    source = add_source()
    before = build_count()
    first = load_library(source, ADD_CDEF)
    second = load_library(source, ADD_CDEF)
    assert build_count() == before + 1
    assert second is first
    library = only_library(private_cache)
    assert library.name.startswith("pipeline-") and len(library.stem) == len("pipeline-") + 24
    assert cache.is_intact(library)
    assert (private_cache / f"{library.stem}.c").read_text() == source


def test_load_library_second_process_uses_cache_without_compiler(private_cache: Path, tmp_path: Path) -> None:
    # SALINE_CC_ID pins the compiler identity, so the failing SALINE_CC below changes only which command
    # would run on a miss: if the second process computed a miss, or ran `cc --version`, the marker appears.
    marker = tmp_path / "compiler-was-run"
    fake = tmp_path / "fake-cc"
    fake.write_text(f'#!/bin/sh\necho "$@" > {marker}\necho "fake compiler refuses" >&2\nexit 1\n')
    fake.chmod(0o755)
    source = add_source()

    built = run_child(source, child_env(private_cache, SALINE_CC_ID="test-compiler"))
    assert built.returncode == 0, built.stderr
    assert built.stdout.split() == ["5", "1"]

    cached = run_child(source, child_env(private_cache, SALINE_CC_ID="test-compiler", SALINE_CC=str(fake)))
    assert cached.returncode == 0, cached.stderr
    assert cached.stdout.split() == ["5", "0"]
    assert not marker.exists()

    # Control: on a miss the same environment does run the fake compiler.
    missed = run_child(add_source(), child_env(private_cache, SALINE_CC_ID="test-compiler", SALINE_CC=str(fake)))
    assert missed.returncode != 0
    assert "BuildError" in missed.stderr and "fake compiler refuses" in missed.stderr
    assert marker.exists()


def test_load_library_concurrent_processes_all_succeed(private_cache: Path) -> None:
    source = add_source()
    env = child_env(private_cache)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, source], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()
        assert out.split()[0] == b"5"
    assert cache.is_intact(only_library(private_cache))
    assert not list(private_cache.glob("*.tmp"))


def test_load_library_truncated_entry_is_rebuilt(private_cache: Path) -> None:
    source = add_source()
    env = child_env(private_cache)
    assert run_child(source, env).stdout.split() == ["5", "1"]
    library = only_library(private_cache)
    library.write_bytes(library.read_bytes()[: library.stat().st_size // 2])

    rebuilt = run_child(source, env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.split() == ["5", "1"]
    assert cache.is_intact(library)


def test_load_library_entry_that_fails_to_load_is_rebuilt(private_cache: Path) -> None:
    source = add_source()
    env = child_env(private_cache)
    assert run_child(source, env).returncode == 0
    library = only_library(private_cache)
    library.write_bytes(b"not an ELF file")
    cache.sidecar(library).write_text(cache.file_sha256(library) + "\n")  # checksum agrees; dlopen refuses

    rebuilt = run_child(source, env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.split() == ["5", "1"]
    assert cache.is_intact(library)


def _assert_falls_back_with_one_warning(unusable: Path) -> None:
    with pytest.warns(RuntimeWarning, match="not writable"):
        _, lib = load_library(add_source(), ADD_CDEF)
    assert lib.add(2, 3) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, lib = load_library(add_source(), ADD_CDEF)
    assert lib.add(4, 5) == 9
    assert not unusable.is_dir() or not list(unusable.glob("*.so"))


def test_load_library_read_only_cache_dir_falls_back(private_cache: Path) -> None:
    private_cache.mkdir()
    private_cache.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(private_cache, os.W_OK):
            pytest.skip("chmod does not stop this user from writing (root?); see the regular-file variant")
        _assert_falls_back_with_one_warning(private_cache)
    finally:
        private_cache.chmod(stat.S_IRWXU)


def test_load_library_cache_dir_under_regular_file_falls_back(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file cannot hold a directory")
    unusable = blocker / "cache"
    monkeypatch.setenv("SALINE_CACHE_DIR", str(unusable))
    _assert_falls_back_with_one_warning(unusable)


def test_load_library_syntax_error_raises_build_error_with_message(private_cache: Path) -> None:
    source = "int add(int a, int b) { return a + ; }\n"
    with pytest.raises(BuildError, match="expected expression") as info:
        load_library(source, ADD_CDEF, name_hint="broken")
    kept = next(line for line in str(info.value).splitlines() if "failed" in line).rsplit(" on ", 1)[1]
    assert Path(kept).read_text() == source
    assert not list(private_cache.glob("*.so")) and not list(private_cache.glob("*.tmp"))


def test_load_library_long_compiler_output_is_trimmed() -> None:
    source = "\n".join(f"int f{i}(void) {{ return }}" for i in range(100))
    with pytest.raises(BuildError, match=r"\.\.\. \(\d+ more lines\)") as info:
        load_library(source, "int f0(void);")
    assert len(str(info.value).splitlines()) <= build.STDERR_LINES + 3


def test_load_library_extra_flags_strict_warnings() -> None:
    strict = ("-Wall", "-Wextra", "-Werror")
    _, lib = load_library(add_source(), ADD_CDEF, extra_flags=strict)
    assert lib.add(20, 22) == 42
    with pytest.raises(BuildError, match="unused parameter"):
        load_library("int add(int a, int b) { return a; }\n", ADD_CDEF, extra_flags=strict)


def test_load_library_missing_compiler_raises_build_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALINE_CC", "/nonexistent/saline-cc")
    with pytest.raises(BuildError, match="cannot run the C compiler"):
        load_library(add_source(), ADD_CDEF)


def test_load_library_header_edit_invalidates_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = tmp_path / "csrc"
    headers.mkdir()
    monkeypatch.setattr(build, "csrc_dir", lambda: headers)
    source = '#include "answer.h"\nint answer(void) { return ANSWER; }\n'
    (headers / "answer.h").write_text("#define ANSWER 41\n")
    _, lib = load_library(source, "int answer(void);", name_hint="answer_a")
    assert lib.answer() == 41
    (headers / "answer.h").write_text("#define ANSWER 42\n")
    _, lib = load_library(source, "int answer(void);", name_hint="answer_b")
    assert lib.answer() == 42


def test_compile_flags_are_safe_and_include_csrc() -> None:
    flags = compile_flags()
    assert "-ffast-math" not in flags
    assert {"-O3", "-march=native", "-fopenmp-simd", "-fPIC", "-shared", "-fwrapv", "-ffp-contract=off"} <= set(flags)
    assert f"-I{csrc_dir()}" in flags
    assert csrc_dir() == REPO / "csrc"


def test_cache_dir_follows_env_then_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SALINE_CACHE_DIR", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x"
    monkeypatch.delenv("SALINE_CACHE_DIR")
    assert cache_dir() == Path(platformdirs.user_cache_dir("saline"))


def test_compiler_identity_ignores_command_when_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    default = build.compiler_identity()
    assert os.path.isabs(default.split(":")[0])
    monkeypatch.setenv("SALINE_CC", "/bin/false")
    assert build.compiler_identity() != default
    monkeypatch.setenv("SALINE_CC_ID", "gcc-12")
    assert build.compiler_identity() == "id:gcc-12"


TABLE_LOOKUP = """
void lookup(float *restrict out, const float *restrict table, const float *restrict in, int n) {
    #pragma omp simd
    for (int i = 0; i < n; i++) {
        int k = (int)(in[i] * 1000.0f);
        out[i] = table[k < 0 ? 0 : (k > 1023 ? 1023 : k)] * in[i];
    }
}
"""


def test_builds_tell_the_compiler_to_avoid_hardware_gathers(tmp_path: Path) -> None:
    """A vector table lookup compiles to gathers with the plain flags and to none with the flags a
    build adds (NO_GATHER_FLAGS), wherever the compiler takes one of them; the library computes
    the same values."""
    compiler = tuple(build.compiler_command())
    extra = build._no_gather_flags(compiler)
    if not extra:
        pytest.skip(f"{compiler[0]} takes none of NO_GATHER_FLAGS (not x86-64, or an unknown spelling)")
    assert extra in build.NO_GATHER_FLAGS
    source = tmp_path / "lookup.c"
    source.write_text(TABLE_LOOKUP)
    plain = [f for f in compile_flags() if f != "-shared"]

    def assembly(*more: str) -> str:
        out = tmp_path / "lookup.s"
        subprocess.run([*compiler, *plain, *more, "-S", "-o", str(out), str(source)], check=True)
        return out.read_text()

    if "gather" not in assembly():
        pytest.skip("this CPU's -march=native has no gather instructions to avoid")
    assert "gather" not in assembly(*extra)
    ffi, lib = load_library(TABLE_LOOKUP, "void lookup(float *, const float *, const float *, int);")
    table = ffi.new("float[1024]", [float(k) for k in range(1024)])
    values = np.arange(40, dtype=np.float32) * np.float32(0.03)
    out, inp = ffi.new("float[40]"), ffi.new("float[40]", values.tolist())
    lib.lookup(out, table, inp, 40)
    index = np.minimum((values * np.float32(1000)).astype(np.int32), 1023)
    np.testing.assert_array_equal(np.frombuffer(ffi.buffer(out), np.float32), index.astype(np.float32) * values)


def test_a_library_built_with_gathers_allowed_keeps_them(private_cache: Path, tmp_path: Path) -> None:
    """GATHERS_ALLOWED (a schedule's allow_gathers()) is a flag of its own, so it keys its own
    library, whose vector loads at computed indices may be gathers; the default library has
    none. Both compute the same values."""
    compiler = tuple(build.compiler_command())
    if not build._no_gather_flags(compiler) or shutil.which("objdump") is None:
        pytest.skip("no flag to avoid gathers here, or no objdump to read the libraries")
    source = tmp_path / "lookup.c"
    source.write_text(TABLE_LOOKUP)
    plain = [f for f in compile_flags() if f != "-shared"]
    probe = tmp_path / "lookup.s"
    subprocess.run([*compiler, *plain, "-S", "-o", str(probe), str(source)], check=True)
    if "gather" not in probe.read_text():
        pytest.skip("this CPU's -march=native has no gather instructions")
    results = {}
    fresh = f"{TABLE_LOOKUP}/* {uuid.uuid4()} */\n"  # not loaded by another test of this process
    for allowed in (False, True):
        before = set(private_cache.rglob("*.so"))
        ffi, lib = load_library(
            fresh,
            "void lookup(float *, const float *, const float *, int);",
            extra_flags=(build.GATHERS_ALLOWED,) if allowed else (),
        )
        (built,) = set(private_cache.rglob("*.so")) - before
        dump = subprocess.run(["objdump", "-d", str(built)], capture_output=True, text=True, check=True).stdout
        assert ("gather" in dump) == allowed
        table = ffi.new("float[1024]", [float(k) for k in range(1024)])
        inp = ffi.new("float[40]", (np.arange(40, dtype=np.float32) * np.float32(0.03)).tolist())
        out = ffi.new("float[40]")
        lib.lookup(out, table, inp, 40)
        results[allowed] = np.frombuffer(ffi.buffer(out), np.float32).copy()
    np.testing.assert_array_equal(results[False], results[True])

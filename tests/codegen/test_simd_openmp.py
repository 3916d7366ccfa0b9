"""Vectorized loops become SIMD instructions and parallel loops run on several threads
(DESIGN section 4).

SIMD: the C of a `vectorize(x, 8)` schedule is built again with the project's own flags plus
`-fopt-info-vec-optimized`, and gcc must report the loop under `#pragma omp simd` as vectorized;
the disassembly of the library must hold packed float instructions (`vmulps`/`vaddps` on ymm or
zmm registers where the CPU has AVX, `mulps`/`addps` on xmm otherwise).

Threads: a `parallel(y)` schedule emits a task function called through `saline_parallel_for`
(Saline's thread pool, tested on its own in test_thread_pool.py), and a call
long enough to measure (about a second) with threads=2 keeps two OS threads of this process
busy: the CPU time each thread of /proc/self/task gained during the call is compared with the
call's wall time, which does not depend on how loaded the machine is. With threads=1 only one
thread works (the control). Skipped on a machine with one core.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from codegen.build import compile_flags, compiler_command
from codegen.compile import compile
from pipelines import Func, ImageParam, Param, Pipeline, Var, clamp, fast_pow, float32, pow, repeat_edge, select, sin
from scheduler.schedule import Schedule
from tests.helpers import assert_matches_reference

x, y = Var("x"), Var("y")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.cache
def blend() -> Pipeline:
    """out = a * 0.75 + b * 0.25 + (a[x+1] - a[x-1]) * 0.5: float multiplies and adds per pixel."""
    a, b = ImageParam(float32, 2, "simd_a"), ImageParam(float32, 2, "simd_b")
    clamped = repeat_edge(a)
    out = Func("blend")
    out[x, y] = a[x, y] * 0.75 + b[x, y] * 0.25 + (clamped[x + 1, y] - clamped[x - 1, y]) * 0.5
    return Pipeline(out)


def vectorized_schedule() -> Schedule:
    s = Schedule()
    s[blend().outputs[0]].vectorize(x, 8)
    return s


def build_with_report(source: str, directory: Path) -> tuple[Path, str]:
    """Build `source` as codegen does, plus gcc's report of the loops it vectorized."""
    c_file, library = directory / "pipeline.c", directory / "pipeline.so"
    c_file.write_text(source)
    command = [*compiler_command(), *compile_flags(), "-fopt-info-vec-optimized", "-o", str(library), str(c_file)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return library, result.stderr + result.stdout


def simd_loop_lines(source: str) -> set[int]:
    """1-based numbers of the lines of every loop under `#pragma omp simd`, from its `for` to its
    closing brace (gcc reports a vectorized loop at a statement of its body)."""
    lines = source.splitlines()
    inside: set[int] = set()
    for k, line in enumerate(lines):
        if not line.strip().startswith("#pragma omp simd"):
            continue
        depth, end = 0, k + 1
        for end in range(k + 1, len(lines)):
            depth += lines[end].count("{") - lines[end].count("}")
            if depth <= 0 and end > k + 1:
                break
        inside.update(range(k + 2, end + 2))
    return inside


def test_vectorized_loop_is_reported_vectorized_by_gcc(tmp_path):
    rng = np.random.default_rng(0)
    inputs = {name: rng.random((29, 37), dtype=np.float32) for name in ("simd_a", "simd_b")}
    assert_matches_reference(blend(), inputs, shape=(29, 37), schedule=vectorized_schedule(), rtol=1e-6)
    source = compile(blend(), vectorized_schedule()).c_source
    wanted = simd_loop_lines(source)
    assert wanted, "a vectorize(x, 8) schedule must emit #pragma omp simd"
    _, report = build_with_report(source, tmp_path)
    vectorized = {int(m.group(1)) for m in re.finditer(r"pipeline\.c:(\d+):\d+: optimized: loop vectorized", report)}
    assert vectorized & wanted, f"no loop under #pragma omp simd was vectorized:\n{report}"


def test_a_vector_loop_wider_than_a_register_runs_at_its_scheduled_width(tmp_path):
    """vectorize(x, 16) asks for 16 lanes with simdlen, so gcc runs them as two AVX2 registers
    at once (a vectorization factor of 16) rather than one register twice."""
    s = Schedule()
    s[blend().outputs[0]].vectorize(x, 16)
    rng = np.random.default_rng(1)
    inputs = {name: rng.random((13, 45), dtype=np.float32) for name in ("simd_a", "simd_b")}
    assert_matches_reference(blend(), inputs, shape=(13, 45), schedule=s, rtol=1e-6)
    source = compile(blend(), s).c_source
    assert "#pragma omp simd simdlen(16)" in source
    c_file, dump = tmp_path / "pipeline.c", tmp_path / "vect.txt"
    c_file.write_text(source)
    command = [*compiler_command(), *compile_flags(), f"-fdump-tree-vect-details={dump}", "-c", "-o", "/dev/null"]
    result = subprocess.run([*command, str(c_file)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    factors = {int(f) for f in re.findall(r"vectorization_factor = (\d+)", dump.read_text())}
    assert 16 in factors, f"no loop vectorized 16 wide: factors {sorted(factors)}"


@pytest.mark.parametrize("fn", [pow, fast_pow], ids=lambda fn: fn.__name__)
def test_pow_of_a_loop_invariant_exponent_is_vectorized(tmp_path, fn):
    """A tone curve's shape: the power of a clamped value to a Param, under a select. Both pow
    functions are inlined C (csrc/saline_math.h); a call gcc chose not to inline, or a
    loop-invariant condition inside one (such as a clamp of the exponent), is enough for gcc 12
    to leave the whole loop scalar, 10x slower."""
    a, gamma = ImageParam(float32, 2, f"tone_{fn.__name__}_in"), Param(float32, "tone_gamma", 2.2)
    level = clamp(a[x, y] * 1.5 - 0.25, 0.0, 1.0)
    out = Func(f"tone_{fn.__name__}")
    out[x, y] = select(level > 0.0, fn(level, 1.0 / gamma), 0.0)
    s = Schedule()
    s[out].vectorize(x, 16)
    source = compile(Pipeline(out), s).c_source
    _, report = build_with_report(source, tmp_path)
    vectorized = {int(m.group(1)) for m in re.finditer(r"pipeline\.c:(\d+):\d+: optimized: loop vectorized", report)}
    assert vectorized & simd_loop_lines(source), f"the {fn.__name__} loop was not vectorized:\n{report}"


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump is not installed")
def test_vectorized_loop_uses_packed_float_instructions(tmp_path):
    library, _ = build_with_report(compile(blend(), vectorized_schedule()).c_source, tmp_path)
    disassembly = subprocess.run(["objdump", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if re.search(r"\bavx\b", flags):
        packed = re.findall(r"\bv(?:mul|add|sub)ps\s+[^\n]*%[yz]mm", disassembly)
    else:
        packed = re.findall(r"\b(?:mul|add|sub)ps\s+[^\n]*%xmm", disassembly)
    assert len(packed) >= 3, "no packed float arithmetic in the vectorized library"


# ---------------------------------------------------------------- threads


@functools.cache
def heavy() -> Pipeline:
    """Eighty dependent sines per pixel: about a second for a 2048 x 2048 image on one core
    with glibc's vector sine (libmvec), about 10 s without it."""
    im = ImageParam(float32, 2, "heavy_im")
    value = im[x, y]
    for _ in range(80):
        value = sin(value) * 1.5 + 0.25
    out = Func("heavy")
    out[x, y] = value
    return Pipeline(out)


def parallel_schedule() -> Schedule:
    s = Schedule()
    s[heavy().outputs[0]].parallel(y)
    return s


def task_cpu_ticks() -> dict[str, int]:
    """CPU time (user + system, in clock ticks) of each thread of this process."""
    ticks = {}
    for task in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        ticks[task] = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks


def busy_threads(threads: int, image: np.ndarray) -> tuple[int, float]:
    """Threads that worked at least a third of the call's wall time, and the call's wall time."""
    compiled = compile(heavy(), parallel_schedule(), threads=threads)
    compiled(shape=(64, 64), heavy_im=image[:64, :64])  # starts the thread pool
    before, start = task_cpu_ticks(), time.perf_counter()
    compiled(shape=image.shape, heavy_im=image)
    wall, after = time.perf_counter() - start, task_cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    gained = [(after[t] - before.get(t, 0)) / hz for t in after]
    return sum(g >= wall / 3 for g in gained), wall


def test_parallel_loop_becomes_a_task_on_the_pool():
    source = compile(heavy(), parallel_schedule()).c_source
    assert re.search(r"saline_parallel_for\(saline_task\d+, &i\d+_closure, i\d+_lo, i\d+_hi, threads\)", source)
    assert re.search(r"static void saline_task\d+\(void \*closure, int64_t i\d+\)", source)
    assert "omp parallel" not in source
    serial = compile(heavy()).c_source
    assert "saline_parallel_for(" not in serial


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc/self/task (Linux)")
@pytest.mark.skipif(cores() < 2, reason="one core: a parallel loop cannot use a second thread")
def test_parallel_loop_runs_on_two_threads():
    image = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    busy, wall = busy_threads(2, image)
    assert wall > 0.1, "the call is too short to measure"
    assert busy >= 2, f"only {busy} thread(s) did a third of the {wall:.2f} s call's work with threads=2"
    alone, wall = busy_threads(1, image)
    assert alone == 1, f"{alone} threads worked with threads=1 ({wall:.2f} s)"

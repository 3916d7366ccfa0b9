"""Concurrency: compiled pipelines called from many threads, and a cache directory that goes away.

What holds: one compiled pipeline called from 8 Python threads at once gives every thread the
numpy result for its own input; the GIL is released during the native call (a Python thread
keeps counting while another thread is inside a long call); and a cache directory removed
between builds, or removed while the C compiler is writing into it, costs at most a warning:
the build lands in a temporary directory and the pipeline works. (Four processes compiling one
new pipeline at once: tests/codegen/test_compile_cache.py; a read-only or file-blocked cache
directory: tests/codegen/test_build.py.)
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from codegen.compile import CompiledPipeline, compile
from pipelines import Func, ImageParam, Param, Pipeline, Var, repeat_edge
from pipelines.types import float32, int32
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")
THREADS = 8


def box_sum() -> Pipeline:
    """out[x, y] = the 3x3 sum around (x, y) of an int32 image with repeated edges, plus `bias`."""
    im = ImageParam(int32, 2, "conc_im")
    bias = Param(int32, "conc_bias", 0)
    e = repeat_edge(im)
    rows, out = Func("conc_rows"), Func("conc_box")
    rows[x, y] = e[x - 1, y] + e[x, y] + e[x + 1, y]
    out[x, y] = rows[x, y - 1] + rows[x, y] + rows[x, y + 1] + bias
    return Pipeline(out)


def box_sum_numpy(a: np.ndarray, bias: int) -> np.ndarray:
    p = np.pad(a, 1, mode="edge")
    h, w = a.shape
    return sum(p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) + bias


@pytest.fixture(scope="module")
def boxed() -> CompiledPipeline:
    s = Schedule()
    s["conc_rows"].compute_at("conc_box", "y")
    s["conc_box"].vectorize("x", 8)
    return compile(box_sum(), s, threads=1)


def test_eight_threads_calling_one_pipeline_each_get_their_own_result(boxed: CompiledPipeline) -> None:
    rng = np.random.default_rng(8)
    images = [rng.integers(-1000, 1000, (97 + k, 131 - k), dtype=np.int32) for k in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    failures: list[str] = []
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        barrier.wait()
        for rep in range(25):
            start = time.perf_counter()
            got = boxed(shape=images[k].shape, conc_im=images[k], conc_bias=k * 100 + rep)
            end = time.perf_counter()
            with lock:
                spans.append((start, end))
            if not np.array_equal(got, box_sum_numpy(images[k], k * 100 + rep)):
                with lock:
                    failures.append(f"thread {k} call {rep}")

    workers = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not failures, failures
    assert len(spans) == THREADS * 25
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    assert most > 1  # calls were in flight at the same time


def test_gil_is_released_during_a_native_call() -> None:
    """A Python thread counts while the main thread is inside a ~0.1 s native call; if the call
    held the GIL the count would stand still for the whole call."""
    im = ImageParam(float32, 2, "gil_im")
    f = Func("gil_slow")
    total = im[x, y]
    for k in range(1, 40):
        total = total + im[x, y] * float(k)
    f[x, y] = total
    slow = compile(Pipeline(f), threads=1)
    a = np.ones((1500, 1500), np.float32)

    def warm_call_seconds() -> float:
        slow(shape=a.shape, gil_im=a)  # the first touch of new pages is slower than the call
        start = time.perf_counter()
        slow(shape=a.shape, gil_im=a)
        return time.perf_counter() - start

    while warm_call_seconds() < 0.03 and a.shape[0] < 12000:  # a call of tens of ms, on any machine
        a = np.ones((a.shape[0] * 3 // 2,) * 2, np.float32)
    count = [0]
    stop = threading.Event()

    def counter() -> None:
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        time.sleep(0.05)
        during = []
        lengths = []
        for _ in range(3):
            before, start = count[0], time.perf_counter()
            slow(shape=a.shape, gil_im=a)
            lengths.append(time.perf_counter() - start)
            during.append(count[0] - before)
        before = count[0]
        time.sleep(sum(lengths) / len(lengths))
        idle = count[0] - before
    finally:
        stop.set()
        t.join()
    assert min(lengths) > 0.01, lengths  # long enough that holding the GIL would starve the counter
    assert sum(during) / len(during) > 0.2 * idle, (during, idle, lengths)


# ---------------------------------------------------------------- the cache directory going away


def unique_pipeline() -> tuple[Pipeline, str]:
    """A pipeline no cache has seen: its Param name is new."""
    name = "cache_gain_" + uuid.uuid4().hex[:8]
    im = ImageParam(int32, 1, "cache_im")
    gain = Param(int32, name, 3)
    f = Func("cache_out")
    f[x] = im[x] * gain + 1
    return Pipeline(f), name


def test_cache_dir_deleted_between_builds_is_recreated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SALINE_CACHE_DIR", str(cache))
    a = np.arange(5, dtype=np.int32)
    first, _ = unique_pipeline()
    np.testing.assert_array_equal(compile(first)(shape=(5,), cache_im=a), a * 3 + 1)
    shutil.rmtree(cache)
    second, name = unique_pipeline()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the directory can be made again: no warning
        got = compile(second)(shape=(5,), cache_im=a, **{name: 4})
    np.testing.assert_array_equal(got, a * 4 + 1)
    assert len(list(cache.glob("pipeline-*.so"))) == 1


def test_cache_dir_deleted_while_compiling_falls_back_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiler (a wrapper around gcc) removes the cache directory before compiling, so its
    output has nowhere to go: the build is redone in a temporary directory, with a warning."""
    cache = tmp_path / "cache"
    wrapper = tmp_path / "cc-that-deletes-the-cache"
    wrapper.write_text(f'#!/bin/sh\nrm -rf "{cache}"\nexec gcc "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("SALINE_CACHE_DIR", str(cache))
    monkeypatch.setenv("SALINE_CC", str(wrapper))
    monkeypatch.setenv("SALINE_CC_ID", "gcc-behind-a-deleting-wrapper")
    pipeline, name = unique_pipeline()
    with pytest.warns(RuntimeWarning, match=r"cache directory .*cache disappeared during a build; building into"):
        c = compile(pipeline)
    a = np.arange(7, dtype=np.int32)
    np.testing.assert_array_equal(c(shape=(7,), cache_im=a, **{name: -2}), a * -2 + 1)

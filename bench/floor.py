"""The floor: memory copy bandwidth on this machine with the benchmark's thread count.

A filter that reads its input once and writes its output once cannot run faster than those
bytes over the bandwidth of a plain copy. The bandwidth is measured STREAM-style (bytes read
plus bytes written per second, not counting write-allocate traffic) on 64 MiB float32 arrays,
twice the 32-36 MiB L3 of the development machines, so the copy goes to DRAM (and, for a
second floor, on arrays of the benchmark's own input size, which may stay in cache), by two
methods that both use `threads` threads:

- `numpy_threads`: `threads` Python threads, each `np.copyto` of its own contiguous slice
  (numpy releases the GIL while it copies);
- `saline_copy`: a compiled Saline pipeline `copy[x, y] = input[x, y]`,
  `vectorize(x, 16).parallel(y)`, run on `threads` threads.

The faster of the two (the tighter floor) is the bandwidth used; both are reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, float32
from scheduler.schedule import Schedule

MIB = 2**20
DRAM_SHAPE = (4096, 4096)  # 64 MiB of float32


@dataclass
class Bandwidth:
    method: str
    gbps: list[float]  # one per timed run
    correct: bool
    others: dict[str, float]  # median GB/s of every method tried
    mib: float

    @property
    def median(self) -> float:
        return statistics.median(self.gbps)

    def describe(self) -> str:
        tried = ", ".join(f"{m} {g:.1f}" for m, g in self.others.items())
        return f"{self.median:.1f} GB/s by {self.method} on {self.mib:.1f} MiB arrays (median GB/s: {tried})"


def _numpy_threads(src: np.ndarray, dst: np.ndarray, threads: int, pool: ThreadPoolExecutor) -> Callable[[], None]:
    flat_src, flat_dst = src.reshape(-1), dst.reshape(-1)
    bounds = np.linspace(0, flat_src.size, threads + 1).astype(int)
    chunks = [(flat_dst[a:b], flat_src[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    if threads == 1:
        return lambda: np.copyto(flat_dst, flat_src)

    def copy() -> None:
        for f in [pool.submit(np.copyto, d, s) for d, s in chunks]:
            f.result()

    return copy


def _saline_copy(src: np.ndarray, dst: np.ndarray, threads: int, pool: ThreadPoolExecutor) -> Callable[[], None]:
    x, y = Var("x"), Var("y")
    image = ImageParam(float32, 2, "input")
    copy = Func("copy")
    copy[x, y] = image[x, y]
    s = Schedule()
    s[copy].vectorize(x, 16).parallel(y)
    compiled = compile(Pipeline(copy), s, threads=threads)
    return lambda: compiled(out=dst, input=src)


METHODS = {"numpy_threads": _numpy_threads, "saline_copy": _saline_copy}


def copy_bandwidth(threads: int, shape: tuple[int, int] = DRAM_SHAPE, runs: int = 11, warmup: int = 2) -> Bandwidth:
    """Measure each method in METHODS copying a float32 array of `shape` (numpy order); the
    fastest gives the floor."""
    src = np.random.default_rng(1).random(shape, dtype=np.float32)
    dst = np.zeros_like(src)
    results: dict[str, tuple[list[float], bool]] = {}
    with ThreadPoolExecutor(threads) as pool:
        for name, make in METHODS.items():
            dst[...] = 0
            fn = make(src, dst, threads, pool)
            for _ in range(warmup):
                fn()
            correct = bool(np.array_equal(dst, src))
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            results[name] = ([2 * src.nbytes / t / 1e9 for t in times], correct)
    method = max(results, key=lambda m: statistics.median(results[m][0]))
    gbps, correct = results[method]
    others = {m: statistics.median(g) for m, (g, _) in results.items()}
    return Bandwidth(method, gbps, correct, others, src.nbytes / MIB)

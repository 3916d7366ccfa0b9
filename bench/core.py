"""The core figures of the 3x3 blur: compile and load times, interpreter, compiled default
schedule and numpy slicing, measured side by side in one run.

    python -m bench.core [--size 2560x1536] [--runs 9]

Cold compile runs in a new process with an empty cache directory; warm load in another new
process that finds the library cached. The three timed rows run in interleaved rounds
(bench.harness.interleaved_runs), so a load spike on the shared machine hits them alike.
Steady malloc settings (as in ../shared/ANCHORS.md) keep image-sized temporaries from being
page-faulted in again on every call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.harness import MIN_RUNS, interleaved_runs
from codegen.compile import compile
from pipelines.interpret import interpret

REPO = Path(__file__).resolve().parent.parent

BLUR = """
import pipelines as P
x, y = P.Var("x"), P.Var("y")
image = P.ImageParam(P.float32, 2, "input")
blur_x, blur_y = P.Func("blur_x"), P.Func("blur_y")
blur_x[x, y] = (image[x, y] + image[x + 1, y] + image[x + 2, y]) / 3
blur_y[x, y] = (blur_x[x, y] + blur_x[x, y + 1] + blur_x[x, y + 2]) / 3
pipeline = P.Pipeline(blur_y)
"""

TIME_COMPILE = (
    BLUR
    + """
import time
t = time.perf_counter()
from codegen.compile import compile
from codegen.build import build_count
compiled = compile(pipeline)
print(time.perf_counter() - t, build_count())
"""
)


def compile_in_new_process(cache: str) -> tuple[float, int]:
    env = dict(os.environ, SALINE_CACHE_DIR=cache, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", TIME_COMPILE], env=env, capture_output=True, text=True, check=True)
    seconds, builds = out.stdout.split()
    return float(seconds), int(builds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2560x1536")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as cache:
        cold, cold_builds = compile_in_new_process(cache)
        warm, warm_builds = compile_in_new_process(cache)
    print(f"compile (new process, empty cache): {cold:.3f} s ({cold_builds} build)")
    print(f"load    (new process, cached):      {warm:.3f} s ({warm_builds} builds)")

    namespace: dict = {}
    exec(BLUR, namespace)
    pipeline = namespace["pipeline"]
    compiled = compile(pipeline)
    a = np.random.default_rng(0).random((height, width), dtype=np.float32)
    out = np.empty((height - 2, width - 2), np.float32)

    def numpy_slicing() -> np.ndarray:
        bx = (a[:, :-2] + a[:, 1:-1] + a[:, 2:]) / 3
        return (bx[:-2] + bx[1:-1] + bx[2:]) / 3

    rows: dict[str, Callable[[], object]] = {
        "interpreter": lambda: interpret(pipeline, out=out, input=a),
        "compiled, default schedule": lambda: compiled(out=out, input=a),
        "numpy slicing": numpy_slicing,
    }
    reference = numpy_slicing()
    compiled(out=out, input=a)
    print(f"max |compiled - numpy| = {np.abs(out - reference).max():.2e}")
    print(f"3x3 blur, float32, {width}x{height}, median ms (threads: default schedule is serial)")
    for fn in rows.values():
        fn()  # warm-up
    timed = interleaved_runs(list(rows.values()), max(args.runs, MIN_RUNS))
    results = {name: statistics.median(t.times) * 1e3 for name, t in zip(rows, timed, strict=True)}
    base = results["numpy slicing"]
    for name, ms in results.items():
        print(f"  {name:28s} {ms:9.2f} ms  {ms / base:6.2f}x numpy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Schedules that once made the compiled code write outside its storage, run in a child process.

Such a bug corrupts the heap or smashes the stack of the process that runs it (and then fails
later, somewhere else, or not at all), so the tests that guard against its return run each
scenario here, in a fresh interpreter:

    python -m tests.scheduler.isolated <scenario>

prints MATCH when the compiled result equals the interpreter's, MISMATCH otherwise (a crash
prints neither). `run_isolated(name)` does that and returns the child's exit code and output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, RDom, Var, cast, float32, int32, repeat_edge, uint8
from pipelines.interpret import interpret
from scheduler.schedule import Schedule

ROOT = Path(__file__).resolve().parents[2]
x, y, i = Var("x"), Var("y"), Var("i")

Scenario = tuple[Pipeline, Schedule, dict[str, Any], tuple[int, ...]]


def _blur(with_update: bool = False) -> tuple[Func, Func]:
    im = ImageParam(float32, 2, "im")
    clamped = repeat_edge(im)
    blur_x, blur_y = Func("blur_x"), Func("blur_y")
    blur_x[x, y] = (clamped[x - 1, y] + clamped[x, y] + clamped[x + 1, y]) / 3.0
    if with_update:
        r = RDom([(0, 3)], name="taps")
        blur_x[x, y] += clamped[x, y + r.x]
    blur_y[x, y] = (blur_x[x, y - 1] + blur_x[x, y] + blur_x[x, y + 1]) / 3.0
    return blur_x, blur_y


def _image() -> dict[str, Any]:
    return {"im": np.random.default_rng(7).random((29, 37), dtype=np.float32)}


def round_up_columns() -> Scenario:
    """round_up on a root intermediate, loops column by column: x runs to 40 in a 37-wide
    storage, so each column's tail lands on the next row's first (already computed) points."""
    blur_x, blur_y = _blur()
    s = Schedule()
    s[blur_x].compute_root().split(x, "xo", "xi", 8, "round_up").reorder("y", "xi", "xo")
    return Pipeline(blur_y), s, _image(), (29, 37)


def round_up_update() -> Scenario:
    """round_up on the pure var of an intermediate's update."""
    blur_x, blur_y = _blur(with_update=True)
    s = Schedule()
    s[blur_x].compute_root().update(0).split(x, "xo", "xi", 8, "round_up")
    return Pipeline(blur_y), s, _image(), (29, 37)


def round_up_nested() -> Scenario:
    """round_up on a loop made by an earlier round_up split."""
    blur_x, blur_y = _blur()
    s = Schedule()
    s[blur_x].compute_root().split(x, "xo", "xi", 8, "round_up").split("xo", "xoo", "xoi", 3, "round_up")
    return Pipeline(blur_y), s, _image(), (29, 37)


def histogram_at_tile() -> Scenario:
    """A histogram computed per 64-wide tile of its reader: its update writes all 256 bins, but
    the tile's region (and storage) is 64 bins."""
    im = ImageParam(uint8, 2, "im")
    hist = Func("hist")
    hist[i] = 0
    r = RDom([(0, im.width()), (0, im.height())], name="pixels")
    hist[cast(int32, im[r.x, r.y])] += 1
    out = Func("out")
    out[i] = hist[i] * 2
    s = Schedule()
    s[out].split(i, "io", "ii", 64)
    s[hist].compute_at(out, "io")
    image = (np.arange(64 * 29).reshape(29, 64) % 251).astype(np.uint8)
    return Pipeline(out), s, {"im": image}, (256,)


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    f.__name__: f for f in (round_up_columns, round_up_update, round_up_nested, histogram_at_tile)
}


def run_isolated(name: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run scenario `name` in a child interpreter (same cache directory, same sources)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "tests.scheduler.isolated", name]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def main(name: str) -> None:
    pipeline, schedule, inputs, shape = SCENARIOS[name]()
    want = interpret(pipeline, shape=shape, **inputs)
    got = compile(pipeline, schedule)(shape=shape, **inputs)
    print("MATCH" if np.array_equal(got, want) else "MISMATCH", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])

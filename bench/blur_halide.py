"""The 3x3 blur in Halide's own Python API (the `halide` package from PyPI, JIT for the host).

Variants, each the same algorithm as bench.blur with a fresh set of Funcs:
- `manual`: the classic tiled schedule, the one Saline's `hand` variant writes:
      blur_y.tile(x, y, xo, yo, xi, yi, 256, 32).vectorize(xi, 8).parallel(yo)
      blur_x.compute_at(blur_y, xo).vectorize(x, 8)
- `apps_blur`: the schedule of Halide's apps/blur (strips of 32 rows in parallel, blur_x
  stored per strip and computed per row: a sliding window):
      blur_y.split(y, yo, yi, 32).parallel(yo).vectorize(x, 8)
      blur_x.store_at(blur_y, yo).compute_at(blur_y, yi).vectorize(x, 8)
- `mullapudi2016`, `adams2019`, `li2018`: Halide's autoschedulers, through
  `Pipeline.apply_autoscheduler(target, AutoschedulerParams(name, {"parallelism": threads}))`
  with estimates of the benchmark's size; a plugin that does not load is skipped with a note.

Halide's thread pool takes its size from HL_NUM_THREADS when it starts (the harness sets it).
Input and output are numpy arrays wrapped without a copy (`hl.Buffer` reverses the axes, so
buffer dimension 0 is x), and the pipeline is called through `compile_to_callable`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.workload import Candidate, Skip, optional

AUTOSCHEDULERS = {"mullapudi2016": "Mullapudi2016", "adams2019": "Adams2019", "li2018": "Li2018"}
_loaded: set[str] = set()


def _algorithm(hl: Any) -> tuple[Any, Any, Any, Any, Any]:
    x, y = hl.Var("x"), hl.Var("y")
    image = hl.ImageParam(hl.Float(32), 2, "input")
    blur_x, blur_y = hl.Func("blur_x"), hl.Func("blur_y")
    blur_x[x, y] = (image[x, y] + image[x + 1, y] + image[x + 2, y]) / 3
    blur_y[x, y] = (blur_x[x, y] + blur_x[x, y + 1] + blur_x[x, y + 2]) / 3
    return x, y, image, blur_x, blur_y


def _load_plugin(hl: Any, name: str) -> None:
    if name in _loaded:
        return
    base = Path(hl.__file__).resolve().parent
    found = [p for d in ("lib64", "lib") for p in (base / d).glob(f"libautoschedule_{name}.*")]
    try:
        hl.load_plugin(str(found[0]) if found else f"autoschedule_{name}")
    except Exception as err:  # Halide raises its own error type for a missing library
        raise Skip(f"autoscheduler plugin autoschedule_{name} did not load: {str(err).strip()}") from None
    _loaded.add(name)


def _schedule(hl: Any, variant: str, size: tuple[int, int], threads: int) -> tuple[Any, Any]:
    """A scheduled pipeline and its input parameter."""
    x, y, image, blur_x, blur_y = _algorithm(hl)
    if variant == "manual":
        xo, yo, xi, yi = hl.Var("xo"), hl.Var("yo"), hl.Var("xi"), hl.Var("yi")
        blur_y.tile(x, y, xo, yo, xi, yi, 256, 32).vectorize(xi, 8).parallel(yo)
        blur_x.compute_at(blur_y, xo).vectorize(x, 8)
        return hl.Pipeline(blur_y), image
    if variant == "apps_blur":
        yo, yi = hl.Var("yo"), hl.Var("yi")
        blur_y.split(y, yo, yi, 32).parallel(yo).vectorize(x, 8)
        blur_x.store_at(blur_y, yo).compute_at(blur_y, yi).vectorize(x, 8)
        return hl.Pipeline(blur_y), image
    name = AUTOSCHEDULERS[variant]
    _load_plugin(hl, variant)
    w, h = size
    image.set_estimates([(0, w), (0, h)])
    blur_y.set_estimates([(0, w - 2), (0, h - 2)])
    pipeline = hl.Pipeline(blur_y)
    target = hl.get_jit_target_from_environment()
    pipeline.apply_autoscheduler(target, hl.AutoschedulerParams(name, {"parallelism": str(threads)}))
    return pipeline, image


def candidates(a: np.ndarray, threads: int) -> list[Candidate]:
    h, w = a.shape

    def setup(variant: str) -> Callable[[], Any]:
        hl = optional("halide", "halide")
        pipeline, image = _schedule(hl, variant, (w, h), threads)
        call = pipeline.compile_to_callable([image], hl.get_jit_target_from_environment())
        out = np.empty((h - 2, w - 2), np.float32)
        a_buf, out_buf = hl.Buffer(a), hl.Buffer(out)

        def run() -> np.ndarray:
            call(a_buf, out_buf)
            return out

        return run

    variants = ("manual", "apps_blur", *AUTOSCHEDULERS)
    return [Candidate("halide", v, lambda v=v: setup(v)) for v in variants]

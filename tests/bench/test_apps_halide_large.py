"""The Halide versions of bilateral_grid, local_laplacian, interpolate and camera_pipe
(`bench.apps_halide_large`) against Saline's interpreter, on a 128x96 crop of a bundled
photograph (through each filter's `prepare`) with the filter's default params.

Tolerances: camera_pipe is integer arithmetic after its float32 LUT and colour matrix, which
both sides build with the same float32 expressions, so it must match exactly. The others are
float32 images in [0, 1] where Halide and numpy may order or fuse float operations differently
(and Halide's exp is libm's, not numpy's), through up to 8 pyramid levels: the differences
seen are below 1e-6 (a few ulps of 1.0); atol 1e-5 leaves room for that and still catches a
change of algorithm (a wrong tap, clamp or level moves values by 1e-3 or more).

A Halide JIT compile takes seconds: the manual schedules of bilateral_grid and camera_pipe run
by default; local_laplacian's and interpolate's (15-30 s each), and every mullapudi2016 row,
are marked `slow`. Everything skips when the halide package is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.workload import Skip
from pipelines.filters import FILTERS
from pipelines.interpret import interpret
from tests.filters.photos import photo

pytest.importorskip("halide")

from bench.apps_halide_large import APPS, VARIANTS  # noqa: E402 - after the skip

ATOL = RTOL = 1e-5
SLOW = pytest.mark.slow


def _input(name: str, height: int = 96, width: int = 128) -> np.ndarray:
    crop = np.ascontiguousarray(photo("chelsea", 160)[:, :height, :width])
    f = FILTERS[name]()
    return f.prepare(crop) if f.prepare else crop


def _candidate(name: str, variant: str, a: np.ndarray) -> tuple[object, np.ndarray]:
    """The Halide row `variant` of `name` on input `a`, and Saline's interpreted output."""
    f = FILTERS[name]()
    params = f.defaults()
    (row,) = [c for c in APPS[name](a, params, 2) if c.variant == variant]
    reference = interpret(f.pipeline, shape=f.output_shape(a.shape), input=a, **params)
    return row, reference


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("bilateral_grid", "manual"),
        ("camera_pipe", "manual"),
        pytest.param("local_laplacian", "manual", marks=SLOW),
        pytest.param("interpolate", "manual", marks=SLOW),
        *(pytest.param(name, "mullapudi2016", marks=SLOW) for name in APPS),
    ],
)
def test_halide_app_matches_interpreter(name: str, variant: str) -> None:
    a = _input(name)
    row, want = _candidate(name, variant, a)
    got = row.setup()()
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.flags.c_contiguous
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    else:
        np.testing.assert_array_equal(got, want, strict=True)


def test_apps_give_a_manual_and_an_autoscheduled_halide_row() -> None:
    assert set(APPS) == {"bilateral_grid", "local_laplacian", "interpolate", "camera_pipe"}
    for name, rows in APPS.items():
        f = FILTERS[name]()
        candidates = rows(_input(name), f.defaults(), 2)
        assert [(c.system, c.variant) for c in candidates] == [("halide", v) for v in VARIANTS]


def test_manual_schedule_too_big_for_the_output_skips_with_the_reason() -> None:
    # local_laplacian's manual schedule works in strips of 64 rows; this output has 48.
    row, _ = _candidate("local_laplacian", "manual", _input("local_laplacian", height=48))
    with pytest.raises(Skip, match="at least 8x64"):
        row.setup()

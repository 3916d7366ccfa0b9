"""Each standard filter compiled with its hand schedule (saline.hand_schedules) equals the
reference interpreter, with all threads and with threads=1, on a downscaled photograph whose
size divides by none of the strip sizes. Floats within rtol 1e-5 (the schedules reorder no
arithmetic, but libm and numpy exp/pow may differ by ulps); local_laplacian within atol 1e-6,
since its outputs near 0 are differences of pyramid levels near 1, where one ulp is 1.2e-7.
None is marked slow: the longest, interpolate, takes 26 s with a cold build cache on 2 cores."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines.filters import FILTERS
from pipelines.interpret import interpret
from saline.hand_schedules import HAND_SCHEDULES, hand_schedule
from scheduler.lower import lower
from scheduler.schedule import Schedule
from tests.filters.photos import photo

ATOL = {"local_laplacian": 1e-6}


# bilateral_grid once failed here: bounds inference took a float-to-int cast of Params alone
# (cast(int32, 1 / r_sigma)) for the whole int range, and the grid's extent overflowed.
@pytest.mark.parametrize("name", sorted(HAND_SCHEDULES))
def test_hand_schedule_matches_interpreter(name: str) -> None:
    f = FILTERS[name]()
    img = photo("chelsea", 133)  # 133 x 89
    if f.prepare is not None:
        img = f.prepare(img)
    shape = f.output_shape(img.shape)
    want = interpret(f.pipeline, shape=shape, input=img)
    schedule = hand_schedule(f)
    for threads in (None, 1):
        got = compile(f.pipeline, schedule, threads=threads)(shape=shape, input=img)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=ATOL.get(name, 1e-7), err_msg=f"threads={threads}")


@pytest.mark.parametrize("channels", [1, 4])
@pytest.mark.parametrize("name", sorted(n for n in HAND_SCHEDULES if FILTERS[n]().prepare is None))
def test_hand_schedule_runs_other_channel_counts(name: str, channels: int) -> None:
    # several hand schedules unroll the channels in groups of 3 inside each vector of x
    # (_channels_in_vectors): a grey or RGBA input still gives the interpreter's values, or the
    # same kind of error where the filter cannot take it
    f = FILTERS[name]()
    img = np.random.default_rng(channels).random((channels, 37, 45), dtype=np.float32)
    shape = f.output_shape(img.shape)
    try:
        want = interpret(f.pipeline, shape=shape, input=img)
    except ValueError:
        with pytest.raises(ValueError):
            compile(f.pipeline, hand_schedule(f))(shape=shape, input=img)
        return
    # atol 1e-6 (8 ulps of 1): on noise, unsharp_mask's compiled and interpreted outputs differ
    # by up to 3e-7 (also before its channels were grouped), 1.8e-7 at an output of 0.004
    got = compile(f.pipeline, hand_schedule(f))(shape=shape, input=img)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_every_filter_has_a_hand_schedule() -> None:
    assert set(HAND_SCHEDULES) == set(FILTERS)


def test_hand_schedule_of_unknown_filter_is_the_default() -> None:
    f = FILTERS["box_blur"]()
    object.__setattr__(f, "name", "not_a_filter")
    assert hand_schedule(f) == Schedule()


@pytest.mark.parametrize("name", ["bilateral_grid", "gaussian_blur", "unsharp_mask"])
def test_hand_schedule_names_rvars_of_this_build(name: str) -> None:
    # RDom names are made unique per process, so a filter built after others has RVars named
    # r_1, r_8 ...; the bilateral grid's hand schedule once spelled "r.x" and failed then.
    for other in FILTERS.values():
        other()
    f = FILTERS[name]()
    lower(f.pipeline, hand_schedule(f))

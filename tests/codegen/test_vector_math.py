"""Math functions in vectorized loops: float32 pow is Saline's own (csrc/saline_math.h), within
0.51 ulp of the exact power, and fast_pow within 1.5 + |y| ulp, both with C's special cases
exactly and the same bits in vector and scalar loops; where glibc's libmvec is there, float32 and
float64 exp, log, sin, cos and tanh in vectorized loops are its vector versions
(csrc/saline_runtime.h), within the 4 ulp its manual states. Checked on special values and on
wide random samples, vectorized and scalar, against numpy (float32 math against float64 numpy
rounded to float32: numpy's float32 loops err too)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from codegen import build
from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, cos, exp, fast_pow, log, pow, sin, tanh
from pipelines.types import float32, float64
from scheduler.schedule import Schedule

x = Var("x")
SPECIALS = np.array(
    [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45,
     2.0**-127, 1e38, -1e38, 2.0**24, 2.0**24 + 2, -(2.0**24) - 2, 0.4545, 2.2, -7.0, 1.0000001, 0.9999999],
    np.float32,
)  # fmt: skip


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in units in the last place of `want` (0 where both are the same value or NaN)."""
    same = (got == want) & (np.signbit(got) == np.signbit(want)) | (np.isnan(got) & np.isnan(want))
    spacing = np.spacing(np.abs(want).astype(want.dtype))
    with np.errstate(all="ignore"):
        ulps = np.abs(got.astype(np.float64) - want.astype(np.float64)) / spacing.astype(np.float64)
    return np.where(same, 0.0, np.where(np.isfinite(ulps), ulps, np.inf))


def _pow_inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    pairs = np.array(list(itertools.product(SPECIALS, SPECIALS)), np.float32).T
    n = 200_000
    bits = rng.integers(0, 2**32, (2, n), dtype=np.uint64).astype(np.uint32).view(np.float32)
    gamma = np.stack([rng.random(n, np.float32), rng.uniform(0.2, 5.0, n).astype(np.float32)])
    ints = np.stack([-rng.uniform(0, 100, n).astype(np.float32), rng.integers(-20, 21, n).astype(np.float32)])
    near1 = np.stack(
        [1 + rng.integers(-1000, 1001, n).astype(np.float32) * 1e-7, rng.uniform(-3e3, 3e3, n).astype(np.float32)]
    )
    a, b = np.concatenate([pairs, bits, gamma, ints, near1], axis=1)
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def _pow(fn, vectorized: bool, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a_in, b_in = ImageParam(float32, 1, "pow_a"), ImageParam(float32, 1, "pow_b")
    f = Func("pow_out")
    f[x] = fn(a_in[x], b_in[x])
    s = Schedule()
    if vectorized:
        s[f].vectorize("x", 8)
    return compile(Pipeline(f), s)(shape=a.shape, pow_a=a, pow_b=b)


# the bound on |error| in ulps of the exact power, from the operands
POW_BOUNDS = {"pow": lambda a, b: 0.51, "fast_pow": lambda a, b: 1.5 + np.abs(b.astype(np.float64))}


@pytest.mark.parametrize("fn", [pow, fast_pow], ids=lambda fn: fn.__name__)
def test_float32_pow_is_within_its_bound_with_the_special_cases_exact(fn) -> None:
    a, b = _pow_inputs()
    got = _pow(fn, True, a, b)
    scalar = _pow(fn, False, a, b)
    assert np.array_equal(got.view(np.uint32), scalar.view(np.uint32)), "vector and scalar loops differ"
    with np.errstate(all="ignore"):
        want = np.power(a, b)
        exact = np.power(a.astype(np.float64), b.astype(np.float64))
    special = ~np.isfinite(want) | (want == 0) | (a == 1) | (b == 0)  # NaN, infinities, zeros (signs), 1
    assert _ulps(got[special], want[special]).max() == 0, "special cases differ from numpy"
    finite = ~special & (np.abs(exact) <= np.finfo(np.float32).max)
    spacing = np.spacing(np.abs(exact[finite]).astype(np.float32)).astype(np.float64)
    over = np.abs(got[finite] - exact[finite]) / spacing - POW_BOUNDS[fn.__name__](a[finite], b[finite])
    at = np.flatnonzero(finite)[over.argmax()]
    assert over.max() <= 0, (
        f"{fn.__name__}({a[at]!r}, {b[at]!r}) = {got[at]!r}, exactly {exact[at]!r}: over by {over.max()}"
    )


@pytest.mark.parametrize("dtype", [float32, float64], ids=["f32", "f64"])
@pytest.mark.parametrize("fn", [exp, log, sin, cos, tanh], ids=lambda fn: fn.__name__)
def test_vectorized_math_is_within_four_ulps_of_numpy(fn, dtype) -> None:
    name = f"vm_{fn.__name__}_{dtype}"
    im = ImageParam(dtype, 1, f"{name}_in")
    f = Func(name)
    f[x] = fn(im[x])
    s = Schedule()
    s[f].vectorize("x", 8)
    rng = np.random.default_rng(3)
    values = np.concatenate([SPECIALS, rng.uniform(-90, 90, 100_000), rng.uniform(0, 2, 100_000)])
    a = values.astype(dtype.numpy)
    got = compile(Pipeline(f), s)(shape=a.shape, **{f"{name}_in": a})
    with np.errstate(all="ignore"):
        want = getattr(np, fn.__name__)(a.astype(np.float64)).astype(a.dtype)
    worst = _ulps(got, want)
    assert worst.max() <= 4, f"{fn.__name__}({a[worst.argmax()]!r}): {worst.max()} ulp"


@pytest.mark.parametrize(
    "machine, libc, expected",
    [
        ("x86_64", "glibc 2.36", True),
        ("x86_64", "glibc 2.35", True),
        ("x86_64", "glibc 2.34", False),  # no tanhf in libmvec before 2.35
        ("x86_64", "glibc 3.0", True),
        ("aarch64", "glibc 2.38", False),  # other vector ABIs
        ("x86_64", "", False),  # not glibc: musl
        ("x86_64", "glibc unknown", False),
    ],
)
def test_libmvec_is_linked_on_x86_64_glibc_2_35_and_later(monkeypatch, machine: str, libc: str, expected: bool) -> None:
    monkeypatch.setattr(build.platform, "machine", lambda: machine)
    monkeypatch.setattr(build.os, "confstr", lambda name: libc or None)
    build.has_libmvec.cache_clear()
    try:
        flags = build.compile_flags()
        assert ("-DSALINE_LIBMVEC" in flags) is expected
        assert ("-lmvec" in build._libraries(flags)) is expected
    finally:
        build.has_libmvec.cache_clear()

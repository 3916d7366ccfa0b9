"""Rounding averages of two narrow unsigned values (scheduler.averages) computed in their own type:
the forms taken and left, and the compiled values against numpy's widened arithmetic over every
pair of uint8 values and edge and random pairs of uint16 ones, vectorized and not."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import Func, ImageParam, Var, cast
from pipelines.expr import Add, Cast, Const, Div
from pipelines.types import int16, int32, uint8, uint16, uint32
from scheduler.averages import as_average
from scheduler.loopir import Average
from scheduler.schedule import Schedule
from tests.helpers import assert_matches_reference, compiled

x, y = Var("x"), Var("y")


def _sum_of(a, b, wide, one=True, order=0):
    terms = [Cast(wide, a), Cast(wide, b)] + ([Const(1, wide)] if one else [])
    terms = terms[order:] + terms[:order]
    total = terms[0]
    for t in terms[1:]:
        total = Add(total, t)
    return Div(total, Const(2, wide))


@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize(("narrow", "wide"), [(uint8, uint16), (uint8, int16), (uint16, uint32), (uint16, int32)])
def test_rounding_averages_in_a_wide_enough_type_are_taken(narrow, wide, order):
    a, b = Var("a", narrow), Var("b", narrow)
    for one in (True, False):
        found = as_average(_sum_of(a, b, wide, one, order))
        assert isinstance(found, Average) and found.up == one and found.dtype == narrow
        assert {found.a, found.b} == {a, b}


@pytest.mark.parametrize(
    ("narrow", "wide", "why"),
    [
        (uint16, int16, "the sum can overflow a signed type of the same width"),
        (int16, int32, "signed operands"),
        (uint8, uint8, "no wider type"),
    ],
)
def test_sums_that_could_overflow_or_are_signed_are_left(narrow, wide, why):
    a, b = Var("a", narrow), Var("b", narrow)
    e = Div(Add(Add(Cast(wide, a), Cast(wide, b)), Const(1, wide)), Const(2, wide))
    assert as_average(e) is None, why


def test_other_sums_and_divisors_are_left():
    a, b = Var("a", uint8), Var("b", uint8)
    wa, wb = Cast(uint16, a), Cast(uint16, b)
    assert as_average(Div(Add(Add(wa, wb), Const(2, uint16)), Const(2, uint16))) is None  # + 2
    assert as_average(Div(Add(Add(wa, wb), Const(1, uint16)), Const(4, uint16))) is None  # / 4
    assert as_average(Div(Add(Add(Add(wa, wb), wa), Const(1, uint16)), Const(2, uint16))) is None
    mixed = Div(Add(Add(wa, Cast(uint16, Var("c", uint16))), Const(1, uint16)), Const(2, uint16))
    assert as_average(mixed) is None  # operands of two types


def _average_pipeline(narrow, wide, up: bool, nested: bool):
    a, b = ImageParam(narrow, 1, "a"), ImageParam(narrow, 1, "b")

    def avg(p, q):
        s = cast(wide, p) + cast(wide, q)
        return cast(narrow, ((s + 1) if up else s) / 2)

    f = Func("avg")
    f[x, y] = avg(avg(a[x], b[y]), a[y]) if nested else avg(a[x], b[y])
    return f, a, b


def _want(a, b, up):
    s = a.astype(np.int64) + b.astype(np.int64)
    return (s + up) // 2


@pytest.mark.parametrize("vector", [False, True])
@pytest.mark.parametrize("up", [True, False])
def test_every_pair_of_bytes_averages_as_the_widened_formula(up: bool, vector: bool):
    f, _, _ = _average_pipeline(uint8, uint16, up, nested=False)
    s = Schedule()
    if vector:
        s[f].vectorize(x, 64)
    values = np.arange(256, dtype=np.uint8)
    got = compiled(f, s)(shape=(256, 256), a=values, b=values)
    assert "saline_avg_" in compiled(f, s).c_source
    np.testing.assert_array_equal(got, _want(values[None, :], values[:, None], up))


@pytest.mark.parametrize("vector", [False, True])
@pytest.mark.parametrize(("wide", "up"), [(uint32, True), (int32, False), (int32, True)])
def test_uint16_averages_and_averages_of_averages_match_the_interpreter(wide, up: bool, vector: bool):
    f, _, _ = _average_pipeline(uint16, wide, up, nested=True)
    s = Schedule()
    if vector:
        s[f].vectorize(x, 32)
    rng = np.random.default_rng(8)
    edges = np.array([0, 1, 2, 32767, 32768, 65534, 65535], dtype=np.uint16)
    a = np.concatenate([edges, rng.integers(0, 65536, 90, dtype=np.uint16)])
    b = np.concatenate([edges[::-1], rng.integers(0, 65536, 90, dtype=np.uint16)])
    got = assert_matches_reference(f, {"a": a, "b": b}, shape=(97, 97), schedule=s)[0]
    assert compiled(f, s).c_source.count("saline_avg_") >= 2
    inner = _want(a[None, :], b[:, None], up)
    np.testing.assert_array_equal(got, _want(inner, a[:, None], up))

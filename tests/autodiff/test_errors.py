"""Gradients that cannot be built are refused with an error naming the Func (or argument).

What holds: `grad` raises `GradientError` naming the Func for an update that overwrites points
several times, a data-dependent unbounded scatter, an integer wrt, and a scan reading a point a
later iteration overwrites; and `ValueError`/`TypeError`/`GradientError` for bad arguments
(empty wrt, duplicate wrt, a non-scalar output without adjoint, a wrong adjoint).
"""

from __future__ import annotations

import pytest

from pipelines import Func, ImageParam, Param, RDom, Var, cast, float64, int32, sum, uint8
from pipelines.autodiff import GradientError, grad

x, y = Var("x"), Var("y")


def total(f: Func, n: int = 4) -> Func:
    r = RDom([(0, n)])
    loss = Func("loss")
    loss[()] = sum(f[r.x])
    return loss


def test_update_overwriting_a_point_several_times_is_refused() -> None:
    im = ImageParam(float64, 1, "im")
    overwritten = Func("overwritten")
    overwritten[x] = im[x] * 2.0
    r = RDom([(0, 3)])
    overwritten[0] = im[r.x]  # each iteration overwrites the value the previous one wrote
    with pytest.raises(GradientError, match="'overwritten' update 0.*more than once"):
        grad(total(overwritten), [im])


def test_data_dependent_unbounded_scatter_is_refused() -> None:
    im, w = ImageParam(float64, 1, "im"), ImageParam(float64, 1, "w")
    lookup = Func("lookup")
    lookup[x] = w[cast(int32, im[x] * 100.0)]  # no clamp: the index can be anything
    with pytest.raises(GradientError, match="'lookup'.*data-dependent"):
        grad(total(lookup), [w])


def test_integer_image_wrt_is_refused() -> None:
    im = ImageParam(uint8, 1, "im8")
    f = Func("f")
    f[x] = cast(float64, im[x])
    with pytest.raises(GradientError, match="'im8'.*uint8"):
        grad(total(f), [im])


def test_integer_param_wrt_is_refused() -> None:
    im, k = ImageParam(float64, 1, "im"), Param(int32, "k", 1)
    f = Func("f")
    f[x] = im[x] * cast(float64, k)
    with pytest.raises(GradientError, match="'k'.*int32"):
        grad(total(f), [k])


def test_integer_output_is_refused() -> None:
    im = ImageParam(float64, 1, "im")
    f = Func("counts")
    f[()] = cast(int32, im[0])
    with pytest.raises(GradientError, match="'counts'.*int32"):
        grad(f, [im])


def test_scan_reading_a_point_a_later_iteration_overwrites_is_refused() -> None:
    im = ImageParam(float64, 1, "im")
    backwards = Func("backwards")
    backwards[x] = im[x]
    r = RDom([(0, 3)])
    backwards[r.x] = backwards[r.x + 1] * 0.5 + backwards[r.x]  # reads what iteration r + 1 rewrites
    with pytest.raises(GradientError, match="'backwards' update 0.*later iteration"):
        grad(total(backwards), [im])


def test_empty_wrt_is_refused() -> None:
    im = ImageParam(float64, 1, "im")
    f = Func("f")
    f[x] = im[x]
    with pytest.raises(ValueError, match="wrt is empty"):
        grad(total(f), [])


def test_duplicate_wrt_is_refused() -> None:
    im = ImageParam(float64, 1, "im")
    f = Func("f")
    f[x] = im[x]
    with pytest.raises(ValueError, match="'im' is listed twice"):
        grad(total(f), [im, im])


def test_wrt_of_the_wrong_kind_is_refused() -> None:
    im = ImageParam(float64, 1, "im")
    f = Func("f")
    f[x] = im[x]
    with pytest.raises(TypeError, match="wrt entries"):
        grad(total(f), [1.0])


def test_non_scalar_output_without_adjoint_is_refused() -> None:
    im = ImageParam(float64, 2, "im")
    image_out = Func("image_out")
    image_out[x, y] = im[x, y]
    with pytest.raises(GradientError, match="'image_out' has 2 dimensions; pass adjoint="):
        grad(image_out, [im])


def test_adjoint_of_the_wrong_rank_is_refused() -> None:
    im, adjoint = ImageParam(float64, 2, "im"), ImageParam(float64, 1, "adj")
    image_out = Func("image_out")
    image_out[x, y] = im[x, y]
    with pytest.raises(GradientError, match="adjoint 'adj'.*'image_out'"):
        grad(image_out, [im], adjoint=adjoint)


def test_output_that_is_not_a_func_is_refused() -> None:
    im = ImageParam(float64, 1, "im")
    with pytest.raises(TypeError, match="output must be a defined Func"):
        grad(im, [im])  # type: ignore[arg-type]

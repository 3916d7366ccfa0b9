"""Binding call arguments: every mistake is rejected with a message naming the argument, and
what is accepted is passed on without copies (any strides) and converted to the right types."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import Func, ImageParam, Param, Pipeline, Var, bool_, cast, float32, int32, uint8
from pipelines.arguments import bind_arguments, results
from pipelines.interpret import interpret

x, y = Var("x"), Var("y")


@pytest.fixture
def pipeline() -> Pipeline:
    """im (float32, 2-d) scaled by gain (float32, default 1) plus offset (uint8, no default)."""
    im = ImageParam(float32, 2, "im")
    gain = Param(float32, "gain", 1.0)
    offset = Param(uint8, "offset")
    f = Func("scaled")
    f[x, y] = im[x, y] * gain + cast(float32, offset)
    return Pipeline(f)


@pytest.fixture
def two_outputs() -> Pipeline:
    im = ImageParam(uint8, 1, "im")
    a, b = Func("a"), Func("b")
    a[x] = im[x]
    b[x, y] = cast(int32, im[x]) + y
    return Pipeline([a, b])


def image(shape=(3, 4), dtype=np.float32) -> np.ndarray:
    return np.arange(np.prod(shape), dtype=dtype).reshape(shape)


# ---------------------------------------------------------------- inputs


def test_bind_image_wrong_dtype_is_a_type_error(pipeline):
    with pytest.raises(TypeError, match=r"interpret: input image 'im': expected float32 array, got float64"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image(dtype=np.float64), "offset": 0})


def test_bind_image_byte_swapped_dtype_is_a_type_error(pipeline):
    swapped = image().astype(">f4")
    with pytest.raises(TypeError, match=r"expected float32 array, got >f4"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"im": swapped, "offset": 0})


def test_bind_image_wrong_rank_is_a_value_error(pipeline):
    with pytest.raises(ValueError, match=r"input image 'im': expected a 2-d float32 array, got a 3-d array"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image((2, 3, 4)), "offset": 0})


def test_bind_image_not_an_array_is_a_type_error(pipeline):
    with pytest.raises(TypeError, match=r"input image 'im': expected a 2-d float32 array, got list"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"im": [[1.0]], "offset": 0})


def test_bind_missing_image_is_a_type_error(pipeline):
    with pytest.raises(TypeError, match=r"missing input image 'im' \(a 2-d float32 array\)"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"offset": 0})


def test_bind_unknown_argument_lists_expected_names(pipeline):
    with pytest.raises(TypeError, match=r"unexpected argument 'imm'; this pipeline takes im, gain, offset"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"imm": image(), "im": image(), "offset": 0})


def test_bind_who_prefixes_messages(pipeline):
    with pytest.raises(TypeError, match=r"^compiled pipeline: missing input image 'im'"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"offset": 0}, who="compiled pipeline")


def test_bind_inputs_are_never_copied(pipeline):
    layouts = [image((6, 8))[::2, ::-2], np.asfortranarray(image()), image((4, 3)).T]
    for a in layouts:
        bound = bind_arguments(pipeline, shape=(3, 4), kwargs={"im": a, "offset": 0})
        assert bound.images["im"] is a


# ---------------------------------------------------------------- params


def test_bind_missing_param_without_default_is_a_type_error(pipeline):
    with pytest.raises(TypeError, match=r"missing param 'offset' \(uint8\); it has no default"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image()})


def test_bind_param_default_applies(pipeline):
    bound = bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image(), "offset": 2})
    assert bound.params == {"gain": 1.0, "offset": 2}


def test_bind_param_out_of_range_is_a_value_error(pipeline):
    with pytest.raises(ValueError, match=r"param 'offset' \(uint8\): 256 is out of range; expected \[0, 255\]"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image(), "offset": 256})
    with pytest.raises(ValueError, match=r"-1 is out of range"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image(), "offset": np.int64(-1)})


def test_bind_param_float32_overflow_is_a_value_error(pipeline):
    with pytest.raises(ValueError, match=r"param 'gain' \(float32\): 1e\+300 is out of range"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image(), "offset": 0, "gain": 1e300})


WRONG_KINDS = [
    (2.5, "expected an integer, got float 2.5"),
    (True, "expected a number, got bool"),
    ("3", "expected a number, got str"),
    (np.array([1, 2]), "expected a scalar"),
]


@pytest.mark.parametrize("value, message", WRONG_KINDS)
def test_bind_int_param_of_wrong_kind_is_a_type_error(pipeline, value, message):
    with pytest.raises(TypeError, match=rf"param 'offset' \(uint8\): {message}"):
        bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image(), "offset": value})


def test_bind_bool_param_needs_a_bool():
    flag = Param(bool_, "flag", False)
    f = Func("flagged")
    f[x] = cast(int32, flag) + x
    with pytest.raises(TypeError, match=r"param 'flag' \(bool\): expected a bool, got int 1"):
        bind_arguments(Pipeline(f), shape=(2,), kwargs={"flag": 1})
    assert bind_arguments(Pipeline(f), shape=(2,), kwargs={"flag": np.bool_(True)}).params == {"flag": True}


def test_bind_params_accept_numpy_scalars_and_convert(pipeline):
    kwargs = {"im": image(), "offset": np.array(7.0), "gain": np.float64(0.1)}
    bound = bind_arguments(pipeline, shape=(3, 4), kwargs=kwargs)
    assert bound.params["offset"] == 7 and type(bound.params["offset"]) is int
    assert bound.params["gain"] == float(np.float32(0.1)) and type(bound.params["gain"]) is float
    bound = bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image(), "offset": 3, "gain": float("nan")})
    assert np.isnan(bound.params["gain"])


# ---------------------------------------------------------------- outputs


def test_bind_neither_shape_nor_out_is_a_type_error(pipeline):
    with pytest.raises(TypeError, match=r"expected shape= \(numpy order\) or out="):
        bind_arguments(pipeline, kwargs={"im": image(), "offset": 0})


def test_bind_shape_allocates_output_of_func_dtype(pipeline):
    bound = bind_arguments(pipeline, shape=(5, 6), kwargs={"im": image(), "offset": 0})
    (out,) = bound.outputs
    assert out.shape == (5, 6) and out.dtype == np.float32 and out.flags.writeable
    assert bound.origins == [(0, 0)]


def test_bind_shape_with_wrong_rank_is_a_value_error(pipeline):
    with pytest.raises(ValueError, match=r"shape of output 'scaled': expected 2 dimensions, got 3"):
        bind_arguments(pipeline, shape=(1, 2, 3), kwargs={"im": image(), "offset": 0})


def test_bind_negative_shape_is_a_value_error(pipeline):
    with pytest.raises(ValueError, match=r"expected sizes >= 0, got \(-1, 2\)"):
        bind_arguments(pipeline, shape=(-1, 2), kwargs={"im": image(), "offset": 0})


def test_bind_shape_of_floats_is_a_type_error(pipeline):
    with pytest.raises(TypeError, match=r"shape of output 'scaled': expected a tuple of ints"):
        bind_arguments(pipeline, shape=(2.0, 3), kwargs={"im": image(), "offset": 0})


def test_bind_out_conflicting_with_shape_is_a_value_error(pipeline):
    with pytest.raises(ValueError, match=r"out of output 'scaled' has shape \(3, 4\), but shape= says \(4, 3\)"):
        bind_arguments(pipeline, shape=(4, 3), out=np.empty((3, 4), np.float32), kwargs={"im": image(), "offset": 0})


def test_bind_read_only_out_is_a_value_error(pipeline):
    out = np.empty((3, 4), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match=r"out of output 'scaled': .* got a read-only array"):
        bind_arguments(pipeline, out=out, kwargs={"im": image(), "offset": 0})


def test_bind_out_wrong_dtype_is_a_type_error(pipeline):
    with pytest.raises(TypeError, match=r"out of output 'scaled': expected float32 array, got float64"):
        bind_arguments(pipeline, out=np.empty((3, 4)), kwargs={"im": image(), "offset": 0})


def test_bind_out_wrong_rank_is_a_value_error(pipeline):
    with pytest.raises(ValueError, match=r"out of output 'scaled': expected a writable 2-d float32 array, got a 1-d"):
        bind_arguments(pipeline, out=np.empty(4, np.float32), kwargs={"im": image(), "offset": 0})


def test_bind_out_not_an_array_is_a_type_error(pipeline):
    with pytest.raises(TypeError, match=r"out of output 'scaled': expected a writable 2-d float32 array, got list"):
        bind_arguments(pipeline, out=[[0.0]], kwargs={"im": image(), "offset": 0})


def test_bind_out_of_any_layout_is_used_in_place(pipeline):
    layouts = [np.empty((8, 6), np.float32)[::-2, ::2].T, np.empty((3, 4), np.float32, order="F")]
    for out in layouts:
        bound = bind_arguments(pipeline, out=out, kwargs={"im": image(), "offset": 0})
        assert bound.outputs[0] is out


def test_bind_origin_wrong_length_is_a_value_error(pipeline):
    with pytest.raises(ValueError, match=r"origin of output 'scaled': expected 2 coordinates \(x first\), got 1"):
        bind_arguments(pipeline, shape=(3, 4), origin=(1,), kwargs={"im": image(), "offset": 0})


def test_bind_origin_beyond_int32_is_a_value_error(pipeline):
    with pytest.raises(ValueError, match=r"dimension 0 spans \[2147483647, 2147483650\], beyond the int32"):
        bind_arguments(pipeline, shape=(3, 4), origin=(2**31 - 1, 0), kwargs={"im": image(), "offset": 0})


def test_bind_several_outputs_need_one_shape_each(two_outputs):
    a = np.zeros(4, np.uint8)
    with pytest.raises(TypeError, match=r"shape: expected a list of 2 entries, one per output, got tuple of length 1"):
        bind_arguments(two_outputs, shape=((4,),), kwargs={"im": a})
    with pytest.raises(ValueError, match=r"shape of output 1 \('b'\): expected 2 dimensions, got 1"):
        bind_arguments(two_outputs, shape=[(4,), (4,)], kwargs={"im": a})
    bound = bind_arguments(two_outputs, shape=[(4,), (2, 4)], origin=[(1,), (0, 5)], kwargs={"im": a})
    assert [o.shape for o in bound.outputs] == [(4,), (2, 4)]
    assert [o.dtype for o in bound.outputs] == [np.uint8, np.int32]
    assert bound.origins == [(1,), (0, 5)]
    result = results(bound, two_outputs)
    assert isinstance(result, tuple) and result[0] is bound.outputs[0] and result[1] is bound.outputs[1]


def test_bind_several_outputs_mix_out_and_shape(two_outputs):
    given = np.empty((2, 4), np.int32)
    bound = bind_arguments(two_outputs, shape=[(4,), None], out=[None, given], kwargs={"im": np.zeros(4, np.uint8)})
    assert bound.outputs[1] is given and bound.outputs[0].shape == (4,)


def test_results_of_single_output_is_the_array(pipeline):
    bound = bind_arguments(pipeline, shape=(3, 4), kwargs={"im": image(), "offset": 0})
    assert results(bound, pipeline) is bound.outputs[0]


# ---------------------------------------------------------------- through the interpreter


def test_interpret_strided_arguments_match_contiguous(pipeline):
    base = np.random.default_rng(5).random((12, 16), dtype=np.float32)
    a = base[::-3, 1::2]  # negative and non-unit strides
    expected = np.ascontiguousarray(a) * np.float32(2) + np.float32(3)
    for out in (np.empty((8, 8), np.float32)[::2], np.empty(a.shape, np.float32, order="F")):
        assert interpret(pipeline, out=out, im=a, gain=2, offset=3) is out
        np.testing.assert_array_equal(out, expected)

"""Bad input gives a clear Python exception that names the parameter and what was expected,
never a crash or an out-of-bounds access: one test per mistake, run against the compiled
callable and, where the mistake reaches it, the interpreter (both share the calling convention).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from pipelines import (
    DefinitionError,
    Func,
    ImageParam,
    IRTypeError,
    Param,
    Pipeline,
    RDom,
    Var,
    cast,
    repeat_edge,
)
from pipelines.interpret import interpret
from pipelines.types import float32, int16, int32, uint8
from scheduler.schedule import Schedule, ScheduleError
from tests.helpers import compiled

x, y = Var("x"), Var("y")
IM = ImageParam(float32, 2, "im")
GAIN = Param(float32, "gain")  # no default
H, W = 5, 8


@functools.cache
def stencil() -> Pipeline:
    """out[x, y] = gain * (im[x - 1, y - 2] + im[x + 2, y]): needs x - 1 .. x + 2 and y - 2 .. y."""
    f = Func("stencil")
    f[x, y] = (IM[x - 1, y - 2] + IM[x + 2, y]) * GAIN
    return Pipeline(f)


def runner(kind: str, pipeline: Pipeline) -> Callable[..., Any]:
    if kind == "compiled":
        return compiled(pipeline)
    return functools.partial(interpret, pipeline)


RUNNERS = ["compiled", "interpreted"]


def good_input() -> np.ndarray:
    return np.zeros((H + 2, W + 3), np.float32)


def test_stencil_with_good_arguments_runs():
    out = compiled(stencil())(shape=(H, W), origin=(1, 2), im=good_input(), gain=2.0)
    assert out.shape == (H, W) and out.dtype == np.float32


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_wrong_dtype_names_input_and_expected_type(kind: str):
    with pytest.raises(TypeError, match=r"input image 'im': expected float32 array, got uint8"):
        runner(kind, stencil())(shape=(H, W), origin=(1, 2), im=good_input().astype(np.uint8), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_wrong_rank_names_input_and_expected_rank(kind: str):
    with pytest.raises(ValueError, match=r"input image 'im': expected a 2-d float32 array, got a 3-d array"):
        runner(kind, stencil())(shape=(H, W), origin=(1, 2), im=np.zeros((1, H + 2, W + 3), np.float32), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_list_instead_of_array_names_input(kind: str):
    with pytest.raises(TypeError, match=r"input image 'im': expected a 2-d float32 array, got list"):
        runner(kind, stencil())(shape=(H, W), im=[[0.0]], gain=1.0)


def test_compiled_input_too_small_names_input_axis_and_region():
    narrow = np.zeros((H + 2, W + 2), np.float32)  # one column short: x + 2 reaches W + 2
    message = rf"input 'im' is too small: axis 1 must cover \[0, {W + 2}\] but the array covers \[0, {W + 1}\]"
    with pytest.raises(ValueError, match=message):
        compiled(stencil())(shape=(H, W), origin=(1, 2), im=narrow, gain=1.0)


def test_compiled_input_too_small_in_first_axis_names_axis_0():
    short = np.zeros((H + 1, W + 3), np.float32)
    message = rf"input 'im' is too small: axis 0 must cover \[0, {H + 1}\] but the array covers \[0, {H}\]"
    with pytest.raises(ValueError, match=message):
        compiled(stencil())(shape=(H, W), origin=(1, 2), im=short, gain=1.0)


def test_compiled_input_too_small_leaves_out_untouched():
    out = np.full((H, W), 7.0, np.float32)
    with pytest.raises(ValueError, match="too small"):
        compiled(stencil())(out=out, origin=(0, 0), im=good_input(), gain=1.0)  # reads x - 1 = -1
    assert (out == 7.0).all()


def test_interpreter_input_too_small_names_input_and_axis():
    narrow = np.zeros((H + 2, W + 2), np.float32)
    message = rf"input image 'im' is read at dimension 0 \(numpy axis 1\) coordinates \[-?\d+, {W + 2}\]"
    with pytest.raises(ValueError, match=message):
        interpret(stencil(), shape=(H, W), origin=(1, 2), im=narrow, gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_missing_image_names_it_and_its_type(kind: str):
    with pytest.raises(TypeError, match=r"missing input image 'im' \(a 2-d float32 array\)"):
        runner(kind, stencil())(shape=(H, W), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_missing_param_without_default_names_it(kind: str):
    with pytest.raises(TypeError, match=r"missing param 'gain' \(float32\); it has no default"):
        runner(kind, stencil())(shape=(H, W), origin=(1, 2), im=good_input())


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_unknown_argument_lists_the_expected_ones(kind: str):
    with pytest.raises(TypeError, match=r"unexpected argument 'imm'; this pipeline takes im, gain"):
        runner(kind, stencil())(shape=(H, W), imm=good_input(), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_param_out_of_range_names_param_and_range(kind: str):
    p = Param(uint8, "level", 3)
    f = Func("leveled")
    f[x] = cast(int32, p) + x
    with pytest.raises(ValueError, match=r"param 'level' \(uint8\): 300 is out of range; expected \[0, 255\]"):
        runner(kind, Pipeline(f))(shape=(3,), level=300)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_param_of_wrong_kind_names_param(kind: str):
    with pytest.raises(TypeError, match=r"param 'gain' \(float32\): expected a number, got str"):
        runner(kind, stencil())(shape=(H, W), origin=(1, 2), im=good_input(), gain="2")


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_read_only_out_is_refused(kind: str):
    out = np.zeros((H, W), np.float32)
    out.flags.writeable = False
    with pytest.raises(
        ValueError, match=r"out of output 'stencil': expected a writable 2-d float32 array, got a read-only"
    ):
        runner(kind, stencil())(out=out, origin=(1, 2), im=good_input(), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_out_shape_conflicting_with_shape_is_refused(kind: str):
    out = np.zeros((H - 1, W), np.float32)
    message = rf"out of output 'stencil' has shape \({H - 1}, {W}\), but shape= says \({H}, {W}\)"
    with pytest.raises(ValueError, match=message):
        runner(kind, stencil())(shape=(H, W), out=out, origin=(1, 2), im=good_input(), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_out_of_wrong_dtype_is_refused(kind: str):
    with pytest.raises(TypeError, match=r"out of output 'stencil': expected float32 array, got float64"):
        runner(kind, stencil())(out=np.zeros((H, W)), origin=(1, 2), im=good_input(), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_without_shape_or_out_is_refused(kind: str):
    with pytest.raises(TypeError, match=r"expected shape= \(numpy order\) or out="):
        runner(kind, stencil())(im=good_input(), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_shape_of_wrong_rank_is_refused(kind: str):
    with pytest.raises(ValueError, match=r"shape of output 'stencil': expected 2 dimensions, got 3"):
        runner(kind, stencil())(shape=(1, H, W), im=good_input(), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_origin_of_wrong_length_is_refused(kind: str):
    with pytest.raises(ValueError, match=r"origin of output 'stencil': expected 2 coordinates \(x first\), got 1"):
        runner(kind, stencil())(shape=(H, W), origin=(1,), im=good_input(), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_output_box_beyond_int32_coordinates_is_refused(kind: str):
    with pytest.raises(ValueError, match=r"dimension 0 spans \[2147483645, 2147483652\], beyond the int32"):
        runner(kind, stencil())(shape=(H, W), origin=(2**31 - 3, 0), im=good_input(), gain=1.0)


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_multi_output_shape_not_a_list_is_refused(kind: str):
    a, b = Func("first"), Func("second")
    a[x] = IM[x, 0]
    b[x] = IM[x, 1]
    with pytest.raises(TypeError, match=r"shape: expected a list of 2 entries, one per output"):
        runner(kind, Pipeline([a, b]))(shape=(3,), im=good_input())


def test_compiled_unaligned_input_is_refused():
    raw = np.zeros(4 * (H + 2) * (W + 3) + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, np.float32, count=(H + 2) * (W + 3), offset=1).reshape(H + 2, W + 3)
    with pytest.raises(ValueError, match=r"im: the array's data is not aligned to its 4-byte elements"):
        compiled(stencil())(shape=(H, W), origin=(1, 2), im=unaligned, gain=1.0)


# ---------------------------------------------------------------- definition mistakes


def test_func_used_before_defined_names_it():
    g = Func("undefined_producer")
    f = Func("consumer")
    with pytest.raises(DefinitionError, match=r"Func 'undefined_producer' is used before it is defined"):
        f[x] = g[x] + 1


def test_update_to_undefined_func_names_it():
    r = RDom((0, 4), name="fresh_r")
    f = Func("fresh")
    with pytest.raises(DefinitionError, match=r"update to an undefined Func 'fresh'"):
        f[r.x] = cast(int32, r.x)


def test_update_of_another_type_without_cast_names_both_types():
    f = Func("bytes")
    f[x] = cast(uint8, x)
    with pytest.raises(IRTypeError, match=r"value has type float32 but the Func has type uint8; use cast"):
        f[x] = f[x] * 1.5


def test_int_literal_that_does_not_fit_names_value_and_type():
    u = ImageParam(uint8, 1, "small")
    with pytest.raises(IRTypeError, match=r"int literal 300 does not fit uint8"):
        u[x] + 300


def test_negative_literal_beside_unsigned_is_refused():
    u = ImageParam(uint8, 1, "small")
    with pytest.raises(IRTypeError, match=r"int literal -1 does not fit uint8"):
        u[x] - (-1)


def test_func_called_with_wrong_number_of_coordinates_names_it():
    f = Func("plane")
    f[x, y] = x + y
    with pytest.raises(DefinitionError, match=r"Func 'plane' has 2 dimensions but is called with 1"):
        f[x]


def test_expr_in_python_if_raises_type_error():
    with pytest.raises(TypeError, match=r"an Expr has no truth value: use select"):
        if x < 3:
            pass


def test_schedule_naming_unknown_func_is_refused():
    s = Schedule()
    s["no_such_func"].compute_root()
    with pytest.raises(ScheduleError, match=r"no Func 'no_such_func' in the pipeline"):
        compiled(stencil(), s)


def test_compile_inline_of_output_is_refused():
    s = Schedule()
    s["stencil"].compute_inline()
    with pytest.raises(ScheduleError, match=r"Func 'stencil': compute_inline is not possible for an output"):
        compiled(stencil(), s)


# ---------------------------------------------------------------- writes and reads outside outputs


@functools.cache
def overreaching_update() -> Pipeline:
    r = RDom((0, 10), name="overreach")
    f = Func("overreach")
    f[x] = cast(int16, 0)
    f[r.x] = cast(int16, r.x)
    return Pipeline(f)


def test_compiled_update_writing_outside_output_is_refused():
    out = np.full(5, -1, np.int16)
    with pytest.raises(
        ValueError, match=r"update 0 accesses it \(written\) at \[0, 9\] on axis 0, but the array covers \[0, 4\]"
    ):
        compiled(overreaching_update())(out=out)
    assert (out == -1).all()


def test_interpreter_update_writing_outside_output_is_refused():
    with pytest.raises(ValueError, match=r"'overreach' update 0 writes dimension 0 at coordinates \[0, 9\]"):
        interpret(overreaching_update(), shape=(5,))


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_update_reading_outside_its_output_says_it_reads(kind: str):
    r = RDom((0, 4), name="scan_from_zero")
    f = Func("scan_reads_left")
    f[x] = cast(int32, x)
    f[r.x] = f[r.x - 1] + f[r.x]  # reads f[-1]; writes only [0, 3]
    with pytest.raises(ValueError, match=r"(reads dimension 0 at coordinates|\(read\) at) \[-1, [23]\]"):
        runner(kind, Pipeline(f))(shape=(4,))


@pytest.mark.parametrize("kind", RUNNERS)
def test_call_output_read_outside_by_another_output_is_refused(kind: str):
    first, second = Func("read_first"), Func("read_second")
    first[x] = IM[x, 0] * 2
    second[x] = first[x + 1]
    with pytest.raises(
        ValueError, match=r"'read_first' (is too small: a pure definition accesses it \(read\) at \[1, 3\]|is read at)"
    ):
        runner(kind, Pipeline([first, second]))(shape=[(3,), (3,)], im=good_input())


# ---------------------------------------------------------------- required regions


def test_required_regions_match_the_stencil_by_hand():
    # x - 1 .. x + 2 and y - 2 .. y over x in [ox, ox + W), y in [oy, oy + H): numpy axis order, (min, extent)
    regions = compiled(stencil()).required_regions(shape=(H, W), origin=(3, -4), im=good_input(), gain=1.0)
    assert regions == {"im": ((-4 - 2, H + 2), (3 - 1, W + 3))}


def test_required_regions_answer_before_touching_a_too_small_input():
    tiny = np.zeros((1, 1), np.float32)
    regions = compiled(stencil()).required_regions(shape=(H, W), origin=(0, 0), im=tiny, gain=1.0)
    assert regions == {"im": ((-2, H + 2), (-1, W + 3))}


def test_required_regions_of_boundary_condition_stay_inside_the_image():
    f = Func("edge_far_right")
    f[x, y] = repeat_edge(IM)[x, y]
    image = np.zeros((6, 10), np.float32)
    c = compiled(f)
    assert c.required_regions(shape=(4, 3), origin=(50, 1), im=image) == {"im": ((1, 4), (9, 1))}
    assert c.required_regions(shape=(20, 30), origin=(-5, -5), im=image) == {"im": ((0, 6), (0, 10))}


def test_required_regions_of_each_input_of_two():
    other = ImageParam(int16, 1, "other")
    f = Func("two_inputs")
    f[x, y] = IM[x, y + 1] + cast(float32, other[x * 2])
    regions = compiled(f).required_regions(shape=(2, 4), im=good_input(), other=np.zeros(8, np.int16))
    assert regions == {"im": ((1, 2), (0, 4)), "other": ((0, 7),)}

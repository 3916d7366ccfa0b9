"""Illegal schedules are rejected with a `ScheduleError` that names the Func and the directive
(DESIGN section 3, "Legality"): one test per mistake, checked when the schedule is built (the
fluent API), read (JSON) or lowered. Each test also shows the legal neighbour being accepted,
so a check that rejects everything would not pass.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, RDom, Var, float32, repeat_edge, select
from pipelines import max as maximum_of
from scheduler.lower import lower
from scheduler.schedule import FuncSchedule, Schedule, ScheduleError, Split, Vectorize
from tests.helpers import assert_matches_reference

x, y = Var("x"), Var("y")


@functools.cache
def blur() -> dict[str, Func]:
    """blur_x -> blur_y -> out (out = 2 * blur_y), and `other`, a second reader of blur_x."""
    im = ImageParam(float32, 2, "im")
    clamped = repeat_edge(im)
    blur_x, blur_y, out, other = Func("blur_x"), Func("blur_y"), Func("out"), Func("other")
    blur_x[x, y] = (clamped[x - 1, y] + clamped[x, y] + clamped[x + 1, y]) / 3.0
    blur_y[x, y] = (blur_x[x, y - 1] + blur_x[x, y] + blur_x[x, y + 1]) / 3.0
    out[x, y] = blur_y[x, y] * 2.0
    other[x, y] = blur_y[x, y] + blur_x[x, y]
    return {"blur_x": blur_x, "blur_y": blur_y, "out": out, "other": other}


@functools.cache
def chain() -> Pipeline:
    """blur_x -> blur_y -> out: every Func has one reader."""
    return Pipeline(blur()["out"])


@functools.cache
def two_readers() -> Pipeline:
    """blur_x is read by blur_y and by other (both computed, both outputs)."""
    return Pipeline([blur()["blur_y"], blur()["other"]])


@functools.cache
def reductions() -> dict[str, Func]:
    """A scan (`scan[r.x, y] = scan[r.x - 1, y] + ...`: each r.x reads the one before), a 3x3
    box sum over a 2-D RDom computed into an intermediate, and a Func read only by an update."""
    im = ImageParam(float32, 2, "im")
    r = RDom([(1, 36)], name="scan_r")
    scan = Func("scan")
    scan[x, y] = im[x, y]
    scan[r.x, y] = scan[r.x - 1, y] + scan[r.x, y]
    b = RDom([(0, 3), (0, 3)], name="box_r")
    box = Func("box")
    box[x, y] = 0.0
    box[x, y] += im[x + b.x, y + b.y]
    smooth = Func("smooth")
    smooth[x, y] = box[x, y] / 9.0
    shifted = Func("shifted")
    shifted[x, y] = im[x, y] * 2.0
    acc = Func("acc")
    acc[x, y] = 0.0
    acc[x, y] += shifted[x + b.x, y]
    return {"scan": scan, "box": box, "smooth": smooth, "shifted": shifted, "acc": acc}


@functools.cache
def scan_pipeline() -> Pipeline:
    return Pipeline(reductions()["scan"])


@functools.cache
def box_pipeline() -> Pipeline:
    return Pipeline(reductions()["smooth"])


@functools.cache
def acc_pipeline() -> Pipeline:
    return Pipeline(reductions()["acc"])


def assert_rejected(pipeline: Pipeline, schedule: Schedule, *fragments: str) -> ScheduleError:
    """Lowering `schedule` raises a ScheduleError whose message holds every fragment."""
    with pytest.raises(ScheduleError) as info:
        lower(pipeline, schedule)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} is not in the message: {message}"
    return info.value


def assert_accepted(pipeline: Pipeline, schedule: Schedule) -> None:
    lower(pipeline, schedule)


# ---------------------------------------------------------------- unknown names


@pytest.mark.parametrize(
    "directive, apply",
    [
        ("split", lambda h: h.split("z", "zo", "zi", 4)),
        ("reorder", lambda h: h.reorder("x", "z")),
        ("fuse", lambda h: h.fuse("z", "y", "f")),
        ("vectorize", lambda h: h.vectorize("z", 8)),
        ("unroll", lambda h: h.unroll("z")),
        ("parallel", lambda h: h.parallel("z")),
        ("bound", lambda h: h.bound("z", 0, 4)),
    ],
)
def test_unknown_var_names_func_and_directive(directive, apply):
    funcs = blur()
    s = Schedule()
    s[funcs["blur_y"]].compute_root()
    apply(s[funcs["blur_y"]])
    assert_rejected(chain(), s, "'blur_y'", directive, "'z'")
    legal = Schedule()
    legal[funcs["blur_y"]].compute_root().split("x", "xo", "xi", 4).parallel("y")
    assert_accepted(chain(), legal)


def test_unknown_var_of_an_update_names_the_stage():
    scan = reductions()["scan"]
    s = Schedule()
    s[scan].update(0).split("q", "qo", "qi", 4)
    assert_rejected(scan_pipeline(), s, "'scan'", "update(0)", "split", "'q'")


def test_unknown_compute_at_var_names_func_and_directive():
    funcs = blur()
    s = Schedule()
    s[funcs["blur_y"]].compute_root()
    s[funcs["blur_x"]].compute_at(funcs["blur_y"], "zz")
    assert_rejected(chain(), s, "'blur_x'", "compute_at", "'zz'")


def test_unknown_func_names_func_and_directive():
    s = Schedule()
    s["nope"].compute_root()
    assert_rejected(chain(), s, "'nope'", "compute_root")


def test_unknown_func_lists_the_known_ones():
    s = Schedule()
    s["nope"].compute_root()
    assert_rejected(chain(), s, "'nope'", "blur_x", "blur_y")


def test_unknown_consumer_names_func_and_directive():
    s = Schedule()
    s[blur()["blur_x"]].compute_at("nope", "y")
    assert_rejected(chain(), s, "'blur_x'", "compute_at", "'nope'")


def test_unknown_var_of_an_inlined_func_is_rejected():
    s = Schedule()  # blur_y is inlined by default: it is neither an output nor has updates
    s[blur()["blur_y"]].split("z", "zo", "zi", 4)
    assert_rejected(chain(), s, "'blur_y'", "split", "'z'")


def test_directives_of_a_missing_update_are_rejected():
    s = Schedule()
    s[blur()["out"]].update(0).parallel("x")  # out has no update
    assert_rejected(chain(), s, "'out'", "update(0)")


# ---------------------------------------------------------------- placement


def test_compute_at_a_loop_that_misses_a_reader():
    funcs = blur()
    s = Schedule()
    s[funcs["blur_x"]].compute_at(funcs["blur_y"], "y")  # `other` reads blur_x too
    assert_rejected(two_readers(), s, "'blur_x'", "compute_at('blur_y', 'y')", "does not enclose every use")
    legal = Schedule()
    legal[funcs["blur_x"]].compute_root()
    assert_accepted(two_readers(), legal)


def test_compute_at_a_consumer_that_reads_it_in_an_update():
    funcs = reductions()
    s = Schedule()
    s[funcs["shifted"]].compute_at(funcs["acc"], "y")  # acc's update reads it, outside stage 0
    assert_rejected(acc_pipeline(), s, "'shifted'", "compute_at('acc', 'y')", "does not enclose every use")


def test_store_at_a_loop_inside_the_compute_loop():
    funcs = blur()
    s = Schedule()
    s[funcs["blur_y"]].compute_root().split("y", "yo", "yi", 4)
    s[funcs["blur_x"]].compute_at(funcs["blur_y"], "yo").store_at(funcs["blur_y"], "yi")
    assert_rejected(chain(), s, "'blur_x'", "compute_at('blur_y', 'yo')", "store_at('yi')")
    legal = Schedule()
    legal[funcs["blur_y"]].compute_root().split("y", "yo", "yi", 4)
    legal[funcs["blur_x"]].compute_at(funcs["blur_y"], "yi").store_at(funcs["blur_y"], "yo")
    assert_accepted(chain(), legal)


def test_store_at_another_consumer():
    funcs = blur()
    s = Schedule()
    s[funcs["blur_y"]].compute_root()
    s[funcs["blur_x"]].compute_at(funcs["blur_y"], "y").store_at(funcs["out"], "y")
    assert_rejected(chain(), s, "'blur_x'", "store_at('out', 'y')", "same consumer")


@pytest.mark.parametrize("placement", ["compute_root", "inline"])
def test_store_at_without_compute_at(placement):
    funcs = blur()
    s = Schedule()
    s[funcs["blur_y"]].compute_root()
    if placement == "compute_root":
        s[funcs["blur_x"]].compute_root()
    s[funcs["blur_x"]].store_at(funcs["blur_y"], "y")  # storage inside the loop, computed outside
    assert_rejected(chain(), s, "'blur_x'", "store_at")


def test_store_root_of_a_func_computed_at_root_is_accepted():
    funcs = blur()
    s = Schedule()
    s[funcs["blur_x"]].compute_root().store_root()  # Halide accepts this: root storage is implied
    assert_accepted(chain(), s)


def test_compute_inline_of_an_output():
    s = Schedule()
    s[blur()["out"]].compute_inline()
    assert_rejected(chain(), s, "'out'", "compute_inline", "output")


def test_compute_inline_of_a_func_with_updates():
    s = Schedule()
    s[reductions()["box"]].compute_inline()
    assert_rejected(box_pipeline(), s, "'box'", "compute_inline", "update")
    legal = Schedule()
    legal[reductions()["box"]].compute_at(reductions()["smooth"], "y")
    assert_accepted(box_pipeline(), legal)


def test_placement_of_an_update_is_rejected_by_the_fluent_api():
    with pytest.raises(ScheduleError, match=r"s\['box'\]\.update\(0\)\.compute_root.*whole Func"):
        Schedule()[reductions()["box"]].update(0).compute_root()


# ---------------------------------------------------------------- reductions


@pytest.mark.parametrize(
    "directive, apply",
    [
        ("parallel", lambda h, r: h.parallel(r)),
        ("vectorize", lambda h, r: h.vectorize(r)),
        ("vectorize", lambda h, r: h.vectorize(r, 4)),
        ("parallel", lambda h, r: h.split(r, "ro", "ri", 4).parallel("ro")),
        ("vectorize", lambda h, r: h.split(r, "ro", "ri", 4).vectorize("ri")),
    ],
)
def test_parallel_or_vectorized_scan_rvar(directive, apply):
    scan = reductions()["scan"]
    r = scan.updates[0].rvars[0]
    s = Schedule()
    apply(s[scan].update(0), r.name)
    assert_rejected(scan_pipeline(), s, "'scan'", "update(0)", directive, "carries a dependency")
    legal = Schedule()  # the pure var of the scan is independent
    legal[scan].update(0).parallel("y").vectorize("y", 4)
    assert_accepted(scan_pipeline(), legal)


def test_parallel_rvar_of_a_sum_into_one_place():
    box = reductions()["box"]
    s = Schedule()
    s[box].compute_root().update(0).parallel(box.updates[0].rvars[1].name)
    assert_rejected(box_pipeline(), s, "'box'", "update(0).parallel", "carries a dependency")


def test_shift_inwards_on_an_update():
    scan = reductions()["scan"]
    for var in ("y", scan.updates[0].rvars[0].name):
        s = Schedule()
        s[scan].update(0).split(var, "o", "i", 4, "shift_inwards")
        assert_rejected(scan_pipeline(), s, "'scan'", "update(0).split", "shift_inwards")
    legal = Schedule()
    legal[scan].update(0).split("y", "o", "i", 4, "guard_with_if")
    legal[scan].split("y", "o", "i", 4, "shift_inwards")  # the pure definition may shift
    assert_accepted(scan_pipeline(), legal)


def test_reorder_of_rvars_names_the_directive():
    box = reductions()["box"]
    rx, ry = (v.name for v in box.updates[0].rvars)
    s = Schedule()
    s[box].compute_root().update(0).reorder(ry, rx)
    assert_rejected(box_pipeline(), s, "'box'", "reorder")


@pytest.mark.parametrize("how", ["swap", "split", "tile"])
def test_reorder_that_changes_the_rdom_order(how):
    box = reductions()["box"]
    rx, ry = (v.name for v in box.updates[0].rvars)
    s = Schedule()
    h = s[box].compute_root().update(0)
    if how == "swap":
        h.reorder(ry, rx)  # r.y innermost: the RDom order is r.x innermost
        loops = [rx, ry]
    elif how == "split":
        h.split(rx, "rxo", "rxi", 2).reorder("rxi", ry, "rxo")  # r.y between the halves of r.x
        loops = ["rxo", ry, "rxi"]
    else:
        h.tile(ry, rx, "ryo", "rxo", "ryi", "rxi", 2, 2)  # r.y's inner half inside r.x's outer one
        loops = ["ryi", "rxo"]
    assert_rejected(box_pipeline(), s, "'box'", "update(0)", *loops, "RDom's order")
    legal = Schedule()  # pure loops may move inside the reduction loops
    legal[box].compute_root().update(0).reorder(rx, ry, "x", "y").split(rx, "rxo", "rxi", 2)
    assert_accepted(box_pipeline(), legal)


# ---------------------------------------------------------------- loop directives


@pytest.mark.parametrize("width", [3, 0, -8, 6, True, 2.0])
def test_vectorize_width_not_a_positive_power_of_two(width):
    with pytest.raises(ScheduleError, match=r"s\['blur_y'\]\.vectorize.*width"):
        Schedule()[blur()["blur_y"]].vectorize("x", width)


@pytest.mark.parametrize("width", [3, 0, -8])
def test_vectorize_width_in_json(width):
    text = _doc({"stages": {"0": [{"kind": "Vectorize", "var": "x", "width": width}]}})
    with pytest.raises(ScheduleError, match=r"'blur_y'.*Vectorize\.width"):
        Schedule.from_json(text)


@pytest.mark.parametrize(
    "directive", [Vectorize("x", 3), Vectorize("x", 0), Split("x", "xo", "xi", 0), Split("x", "xo", "xi", 4, "up")]
)
def test_directive_records_are_checked_when_lowered(directive):
    s = Schedule()
    s.funcs["out"] = FuncSchedule(stages={0: [directive]})
    assert_rejected(chain(), s, "'out'", type(directive).__name__.lower())


def test_round_up_on_an_output_split():
    out = blur()["out"]
    for s in (Schedule(), Schedule()):
        s[out].split("x", "xo", "xi", 8, "round_up")
        assert_rejected(chain(), s, "'out'", "split", "round_up", "output")
    nested = Schedule()
    nested[out].split("x", "xo", "xi", 8).split("xo", "a", "b", 3, "round_up")
    assert_rejected(chain(), nested, "'out'", "split[1]", "round_up")
    legal = Schedule()  # an inner loop of constant extent 8 split by 4: no tail, nothing past the buffer
    legal[out].split("x", "xo", "xi", 8).split("xi", "a", "b", 4, "round_up")
    assert_accepted(chain(), legal)


def test_fuse_of_a_pure_and_a_reduction_loop():
    box = reductions()["box"]
    s = Schedule()
    s[box].compute_root().update(0).reorder(box.updates[0].rvars[0].name, "x", box.updates[0].rvars[1].name)
    s[box].update(0).fuse(box.updates[0].rvars[0].name, "x", "f")
    assert_rejected(box_pipeline(), s, "'box'", "update(0).fuse", "pure loop with a reduction loop")


def test_parallel_inside_vectorized_is_rejected_or_compiles():
    funcs = blur()
    s = Schedule()
    s[funcs["out"]].vectorize("y", 4).parallel("x")
    try:
        compiled = compile(chain(), s)
    except ScheduleError as e:
        assert "'out'" in str(e) and "parallel" in str(e)
        return
    im = np.random.default_rng(0).random((29, 37), dtype=np.float32)
    assert_matches_reference(chain(), {"im": im}, shape=(29, 37), schedule=s, rtol=1e-5)
    assert "saline_parallel_for(" in compiled.c_source


# ---------------------------------------------------------------- JSON


def _doc(entry: object, func: str = "blur_y") -> str:
    return json.dumps({"saline_schedule": 1, "funcs": {func: entry}})


def _split(**fields: object) -> dict:
    return {"kind": "Split", "var": "x", "outer": "xo", "inner": "xi", "factor": 8, **fields}


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("{", ["malformed"]),
        ("[1, 2]", ["saline_schedule"]),
        (json.dumps({"saline_schedule": 2, "funcs": {}}), ["saline_schedule"]),
        (json.dumps({"saline_schedule": 1, "funcs": []}), ["funcs"]),
        (_doc([]), ["'blur_y'", "object"]),
        (_doc({"stages": []}), ["'blur_y'", "stages"]),
        (_doc({"stages": {"first": []}}), ["'blur_y'", "'first'"]),
        (_doc({"stages": {"0": [{"kind": "Spilt", "var": "x"}]}}), ["'blur_y'", "unknown directive", "Spilt"]),
        (_doc({"stages": {"0": [{"var": "x"}]}}), ["'blur_y'", "unknown directive"]),
        (_doc({"stages": {"0": [_split(factor="8")]}}), ["'blur_y'", "Split.factor"]),
        (_doc({"stages": {"0": [_split(factor=8.0)]}}), ["'blur_y'", "Split.factor"]),
        (_doc({"stages": {"0": [_split(factor=0)]}}), ["'blur_y'", "Split.factor"]),
        (_doc({"stages": {"0": [_split(tail="up")]}}), ["'blur_y'", "Split.tail"]),
        (_doc({"stages": {"0": [_split(var=3)]}}), ["'blur_y'", "Split.var"]),
        (_doc({"stages": {"0": [_split(colour="red")]}}), ["'blur_y'", "Split", "colour"]),
        (_doc({"stages": {"0": [{"kind": "Split", "var": "x"}]}}), ["'blur_y'", "Split", "missing"]),
        (_doc({"stages": {"0": [{"kind": "Reorder", "vars": "xy"}]}}), ["'blur_y'", "Reorder.vars"]),
        (_doc({"stages": {"0": [{"kind": "Reorder", "vars": ["x", 1]}]}}), ["'blur_y'", "Reorder.vars"]),
        (_doc({"stages": {"0": [{"kind": "Unroll", "var": "x", "factor": -1}]}}), ["'blur_y'", "Unroll.factor"]),
        (_doc({"stages": {"0": [{"kind": "Bound", "var": "x", "min": "0", "extent": 3}]}}), ["'blur_y'", "Bound.min"]),
        (_doc({"compute": {"kind": "ComputeAt", "consumer": 5, "var": "x"}}), ["'blur_y'", "ComputeAt.consumer"]),
    ],
)
def test_malformed_schedule_json(text, fragments):
    with pytest.raises(ScheduleError) as info:
        Schedule.from_json(text)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} is not in the message: {info.value}"


def test_json_directive_kind_of_the_wrong_type():
    with pytest.raises(ScheduleError, match="'blur_y'"):
        Schedule.from_json(_doc({"stages": {"0": [{"kind": ["Split"]}]}}))


def test_json_split_factor_null():
    with pytest.raises(ScheduleError, match=r"'blur_y'.*Split\.factor"):
        Schedule.from_json(_doc({"stages": {"0": [_split(factor=None)]}}))


@pytest.mark.parametrize(
    "entry",
    [{"compute": _split()}, {"compute": {"kind": "StoreRoot"}}, {"store": {"kind": "ComputeRoot"}}],
)
def test_json_placement_slot_of_the_wrong_kind(entry):
    with pytest.raises(ScheduleError, match="'blur_y'"):
        Schedule.from_json(_doc(entry))


def test_json_stage_directive_that_is_a_placement():
    with pytest.raises(ScheduleError, match="'blur_y'.*ComputeRoot"):
        Schedule.from_json(_doc({"compute": {"kind": "ComputeRoot"}, "stages": {"0": [{"kind": "ComputeRoot"}]}}))


def test_compute_at_inside_a_func_whose_only_use_was_simplified_away_is_accepted():
    # Found by the fuzzer: dead_f0 is read only inside select(c, 1.0, 1.0), which simplifies
    # to 1.0, so dead_f0 is never placed; its reduction, computed at dead_f0's loop x, once
    # raised "the consumer has no loop 'x'" for this legal schedule.
    im = ImageParam(float32, 2, "dead_in")
    r = RDom([(0, 3)], name="dead_r")
    f0, f2, red = Func("dead_f0"), Func("dead_f2"), Func("dead_red")
    red[x, y] = 0.0
    red[x, y] = maximum_of(red[x, y], repeat_edge(im)[x + r.x, y])
    f0[x, y] = red[x, y]
    f2[x, y] = select(f0[x + 2, y] > 0, 1.0, 1.0)
    s = Schedule()
    s[f0].compute_at(f2, y)
    s[red].compute_at(f0, x)
    inputs = {"dead_in": np.random.default_rng(2).random((12, 12), dtype=np.float32)}
    assert_matches_reference(Pipeline(f2), inputs, shape=(4, 4), schedule=s)
    s[red].compute_at(f2, "no_such_loop")  # a live Func at a loop that does not exist still fails
    s[f0].compute_root()
    with pytest.raises(ScheduleError, match="no loop"):
        lower(Pipeline(f2), s)


def test_allow_gathers_round_trips_and_is_checked():
    s = Schedule()
    s["blur_y"].vectorize("x", 8)
    assert '"gathers"' not in s.to_json(), "the default leaves the document as it was"
    s.allow_gathers()
    back = Schedule.from_json(s.to_json())
    assert back == s and back.gathers
    assert back != Schedule.from_json(Schedule().to_json())
    with pytest.raises(ScheduleError, match="allow_gathers: expected True or False, got 1"):
        Schedule().allow_gathers(1)  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match='"gathers" must be true or false'):
        Schedule.from_json('{"saline_schedule": 1, "funcs": {}, "gathers": "yes"}')

"""The generated C: any Func, image or Param name is safe (it reaches C only as a sanitized
identifier or inside a comment), the source of typical pipelines compiles cleanly with
-Wall -Wextra -Werror, and the printed loop nest shows every computed Func.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

from codegen.build import load_library
from codegen.c_emit import CDEF
from codegen.compile import compile as compile_pipeline
from pipelines import (
    DefinitionError,
    Func,
    ImageParam,
    Param,
    Pipeline,
    RDom,
    Var,
    abs,
    cast,
    ceil,
    constant_exterior,
    cos,
    eq,
    exp,
    fast_pow,
    floor,
    log,
    max,
    maximum,
    min,
    minimum,
    mirror_image,
    mirror_interior,
    ne,
    pow,
    repeat_edge,
    round,
    select,
    sin,
    sqrt,
    sum,
    tanh,
)
from pipelines.types import USER_TYPES, bool_, float32, float64, int8, int16, int32, uint8, uint16, uint32
from scheduler.schedule import Schedule
from tests.helpers import assert_matches_reference, compiled

x, y, c = Var("x"), Var("y"), Var("c")
WARNINGS = ("-Wall", "-Wextra", "-Werror")
RNG = np.random.default_rng(21)

ODD_NAMES = [
    "with space",
    'double"quote',
    "single'quote",
    "ends comment */ int evil;",
    "/* opens comment",
    "line\nbreak",
    "back\\slash",
    "ünïcödé ✓",
    "int",
    "return",
    "saline_run",
    "9starts_with_digit",
    "a" * 200,
]


# ---------------------------------------------------------------- names


def named_pipeline(name: str) -> tuple[Pipeline, Schedule, dict[str, np.ndarray]]:
    """Output, computed-root intermediate, image and Param all called `name` (+ a suffix)."""
    image = ImageParam(float32, 2, name)
    gain = Param(float32, name + " gain", 2.0)
    middle, out = Func(name), Func(name + "!")
    middle[x, y] = repeat_edge(image)[x - 1, y] * gain
    out[x, y] = middle[x, y] + middle[x + 1, y + 1]
    s = Schedule()
    s[middle].compute_root()
    return Pipeline(out), s, {name: RNG.uniform(-1, 1, (4, 5)).astype(np.float32)}


@pytest.mark.parametrize("name", ODD_NAMES, ids=lambda n: repr(n)[1:20])
def test_odd_names_compile_and_match_interpreter(name: str):
    p, s, inputs = named_pipeline(name)
    assert_matches_reference(p, inputs, shape=(4, 5), schedule=s, rtol=0)
    assert_matches_reference(p, {**inputs, name + " gain": -0.5}, shape=(3, 2), schedule=s, rtol=0)


NON_IDENTIFIERS = [n for n in ODD_NAMES if not re.fullmatch(r"\w+", n, re.ASCII)]  # others may sit in identifiers


@pytest.mark.parametrize("name", NON_IDENTIFIERS, ids=lambda n: repr(n)[1:20])
def test_odd_names_reach_c_only_in_comments(name: str):
    p, s, _ = named_pipeline(name)
    without_comments = [re.sub(r"/\*.*?\*/", "", line) for line in compiled(p, s).c_source.splitlines()]
    assert not any(name in line for line in without_comments)


def test_two_funcs_with_the_same_name_stay_apart():
    a = ImageParam(int32, 1, "same")
    first, second, out = Func("same"), Func("same"), Func("same")
    first[x] = a[x] * 2
    second[x] = first[x - 1] + 100
    out[x] = first[x] + second[x + 1]
    (got,) = assert_matches_reference(out, {"same": np.arange(6, dtype=np.int32)}, shape=(5,))
    np.testing.assert_array_equal(got, np.arange(5) * 2 + np.arange(5) * 2 + 100)


def test_two_computed_funcs_with_the_same_name_stay_apart():
    a = ImageParam(int32, 1, "twin_in")
    r1, r2 = RDom((0, 3), name="twin_r"), RDom((0, 3), name="twin_r")
    first, second, out = Func("twin"), Func("twin"), Func("twin")
    first[x] = a[x]
    first[r1.x] = first[r1.x] * 10  # updates make both computed at root
    second[x] = a[x] + 1
    second[r2.x] += 1000
    out[x] = first[x] - second[x]
    assert_matches_reference(out, {"twin_in": np.arange(5, dtype=np.int32)}, shape=(5,))


def test_func_named_like_another_funcs_buffer_symbol_compiles():
    a = ImageParam(int32, 1, "collide_in")
    middle, out = Func("a.buf"), Func("a")
    middle[x] = a[x] * 2
    out[x] = middle[x] + 1
    s = Schedule()
    s[middle].compute_root()
    assert_matches_reference(out, {"collide_in": np.arange(3, dtype=np.int32)}, shape=(3,), schedule=s)


def test_image_named_like_an_outputs_buffer_symbol_compiles():
    image = ImageParam(int32, 1, "b.buf")
    out = Func("b")
    out[x] = image[x] + 1
    assert_matches_reference(out, {"b.buf": np.arange(3, dtype=np.int32)}, shape=(3,))


def test_pure_var_named_like_an_rvar_is_a_clear_error():
    image = ImageParam(int32, 2, "var_clash_in")
    r = RDom((0, 4), name="clash")
    v = Var(r.x.name)  # a pure Var spelled like the RVar "clash.x"
    f = Func("var_clash")
    f[x, v] = image[x, v]
    f[r.x, v] = f[r.x, v] + r.x * 10
    # A schedule could not tell the two loops apart, so the compiler refuses the pair by name.
    with pytest.raises(DefinitionError, match="both named 'clash.x'"):
        compile_pipeline(Pipeline(f))


# ---------------------------------------------------------------- warnings


def blur() -> Pipeline:
    im = ImageParam(float32, 2, "im")
    blur_x, blur_y = Func("blur_x"), Func("blur_y")
    b = repeat_edge(im)
    blur_x[x, y] = (b[x - 1, y] + b[x, y] + b[x + 1, y]) / 3
    blur_y[x, y] = (blur_x[x, y - 1] + blur_x[x, y] + blur_x[x, y + 1]) / 3
    return Pipeline(blur_y)


def histogram() -> Pipeline:
    im = ImageParam(uint8, 2, "im")
    r = RDom([(0, im.width()), (0, im.height())], name="hist_r")
    hist = Func("hist")
    hist[x] = cast(uint32, 0)
    hist[cast(int32, im[r.x, r.y])] += 1
    return Pipeline(hist)


def scan() -> Pipeline:
    im = ImageParam(int16, 2, "im")
    r = RDom((1, im.width() - 1), name="scan_r")
    f = Func("scan")
    f[x, y] = im[x, y]
    f[r.x, y] = f[r.x - 1, y] + f[r.x, y]
    return Pipeline(f)


def where() -> Pipeline:
    im = ImageParam(int16, 2, "im")
    r = RDom([(0, 3), (0, 3)], name="where_r")
    r.where(ne(r.x, r.y))
    g = Func("masked")
    g[x, y] = maximum(mirror_interior(im)[x + r.x, y + r.y]) - minimum(mirror_image(im)[x - r.x, y])
    return Pipeline(g)


def all_nodes() -> Pipeline:
    fa, ia = ImageParam(float32, 2, "fa"), ImageParam(int32, 2, "ia")
    gain = Param(float32, "gain", 1.0)
    r = RDom((0, 3), name="nodes_r")
    f, i = fa[x, y], ia[x, y]
    exprs = [
        f + f * f - f / f % f,
        min(f, 2.0) + max(f, -1.0) + pow(f, 2.0) + fast_pow(f, 0.5) + sqrt(f) + exp(f) + log(f) + sin(f),
        cos(f) + tanh(f),
        floor(f) + ceil(f) + round(f) + abs(f) + gain + cast(float32, ia.width()),
        select((f < 1.0) & (f <= 2.0) | ~eq(f, 0.0) & ne(f, 3.0), f, -f),
        cast(float32, i / 3 + i % 5 + abs(i)) + sum(constant_exterior(fa, 0.0)[x + r.x, y]),
    ]
    funcs = []
    for k, e in enumerate(exprs):
        g = Func(f"node_group_{k}")
        g[x, y] = e
        funcs.append(g)
    return Pipeline(funcs)


def all_dtypes() -> Pipeline:
    funcs = []
    for t in USER_TYPES:
        im = ImageParam(t, 1, f"in_{t.name}")
        f = Func(f"out_{t.name}")
        if t == bool_:
            f[x] = (im[x] & ~im[x + 1]) | eq(im[x], im[x + 2])
        else:
            f[x] = select(im[x] < im[x + 1], im[x] * im[x + 2] - im[x] / im[x + 1], min(im[x], im[x + 2]) % im[x + 1])
        widened = Func(f"widened_{t.name}")
        widened[x] = cast(float64, f[x]) + cast(float64, cast(int8, f[x])) + cast(float64, cast(uint16, f[x]))
        funcs += [f, widened]
    return Pipeline(funcs)


WARNING_PIPELINES = {
    "blur": (blur, False),
    "blur_root": (blur, True),
    "histogram": (histogram, False),
    "scan": (scan, False),
    "where": (where, False),
    "all_nodes": (all_nodes, False),
    "all_dtypes": (all_dtypes, False),
}


@functools.cache
def warning_pipeline(name: str) -> tuple[Pipeline, Schedule]:
    make, root = WARNING_PIPELINES[name]
    p = make()
    s = Schedule()
    if root:
        for f in p.funcs:
            if f not in p.outputs:
                s[f].compute_root()
    return p, s


@pytest.mark.parametrize("name", WARNING_PIPELINES)
def test_generated_c_compiles_without_warnings(name: str):
    p, s = warning_pipeline(name)
    source = compiled(p, s).c_source
    ffi, lib = load_library(source, CDEF, name_hint=f"warnings_{name}", extra_flags=WARNINGS)
    assert lib.saline_run is not None


# ---------------------------------------------------------------- loop nest


def test_loop_nest_mentions_each_computed_func():
    p, s = warning_pipeline("blur_root")
    nest = compiled(p, s).loop_nest
    for name in ("blur_x", "blur_y"):
        assert re.search(rf"for {name}\.s0\.y in", nest), name
        assert re.search(rf"for {name}\.s0\.x in", nest), name


def test_loop_nest_of_inlined_func_has_no_loop_of_its_own():
    p, s = warning_pipeline("blur")
    nest = compiled(p, s).loop_nest
    assert "for blur_y.s0.x in" in nest
    assert "for blur_x." not in nest


def test_loop_nest_shows_update_stages_and_rdom_loops():
    p, s = warning_pipeline("scan")
    nest = compiled(p, s).loop_nest
    # RDom names are made unique per process: another test's "scan_r" makes this one scan_r_2
    assert "for scan.s0.x in" in nest and re.search(r"for scan\.s1\.scan_r\S*\.x in", nest)
    p, s = warning_pipeline("where")
    nest = compiled(p, s).loop_nest
    assert re.search(r"for maximum\S*\.s1\.where_r\.y in", nest)
    assert re.search(r"for minimum\S*\.s1\.where_r\.x in", nest)
    assert "if " in nest  # the where predicate


def test_loop_nest_names_every_func_of_a_histogram():
    p, s = warning_pipeline("histogram")
    nest = compiled(p, s).loop_nest
    assert "for hist.s0.x in" in nest and "for hist.s1.hist_r.x in" in nest and "for hist.s1.hist_r.y in" in nest


def test_all_dtypes_pipeline_matches_interpreter():
    p, s = warning_pipeline("all_dtypes")
    inputs = {}
    for t in USER_TYPES:
        if t == bool_:
            inputs[f"in_{t.name}"] = RNG.random(12) < 0.5
        elif t.is_float:
            inputs[f"in_{t.name}"] = RNG.uniform(-100, 100, 12).astype(t.numpy)
        else:
            inputs[f"in_{t.name}"] = RNG.integers(int(t.min_value), int(t.max_value), 12, endpoint=True, dtype=t.numpy)
    assert_matches_reference(p, inputs, shape=[(10,)] * len(p.outputs), schedule=s, rtol=0)


def test_all_nodes_pipeline_matches_interpreter():
    p, s = warning_pipeline("all_nodes")
    inputs = {
        "fa": RNG.uniform(-3, 3, (4, 6)).astype(np.float32),
        "ia": RNG.integers(-50, 50, (4, 6), dtype=np.int32),
    }
    assert_matches_reference(p, inputs, shape=[(4, 6)] * len(p.outputs), schedule=s)


@pytest.mark.parametrize("vectorized", [False, True], ids=["scalar", "vector"])
def test_a_float_select_blends_two_computed_values_and_keeps_each_ones_bits(vectorized: bool):
    """select on floats is emitted as a call, so both values are computed and then blended (no
    branch computed under a mask); the chosen value keeps its bits: NaN, -0.0, infinity."""
    a_in = ImageParam(float32, 1, "sel_a")
    f = Func("sel_out")
    f[x] = select(a_in[x] > 0.0, pow(a_in[x], 0.5), select(a_in[x] < -1.0, a_in[x] * 0.0, a_in[x] / 0.0))
    s = Schedule()
    if vectorized:
        s[f].vectorize("x", 8)
    assert "saline_select_f32(" in compile_pipeline(Pipeline(f), s).c_source
    a = np.array([4.0, 0.0, -0.0, -0.5, -2.0, np.nan, np.inf, -np.inf, 1e-30, 2.0, -3.0], np.float32)
    assert_matches_reference(Pipeline(f), {"sel_a": a}, shape=a.shape, schedule=s, rtol=1e-6)


@pytest.mark.parametrize("dtype", [int8, int16, int32, uint8, uint16, uint32], ids=str)
@pytest.mark.parametrize("vectorized", [False, True], ids=["scalar", "vector"])
def test_division_by_a_power_of_two_is_a_shift_with_floor_semantics(dtype, vectorized: bool):
    """a / 2^k and a % 2^k are emitted as a shift and a mask, and keep Euclidean division's
    values (a floor for a positive divisor) at negative values and the type's limits."""
    a_in = ImageParam(dtype, 1, f"shift_{dtype}_{vectorized}")
    f = Func(f"shift_out_{dtype}_{vectorized}")
    f[x] = a_in[x] / 32 + a_in[x] % 8 * 3 + a_in[x] / 1 - a_in[x] % 1 + a_in[x] / 64 % 2
    s = Schedule()
    if vectorized:
        s[f].vectorize("x", 8)
    source = compile_pipeline(Pipeline(f), s).c_source
    assert ">> 5)" in source and "saline_div_" not in source and "saline_mod_" not in source
    info = np.iinfo(dtype.numpy)
    values = np.array([0, 1, -1, 7, -7, 31, -31, 32, -32, 33, -33, 100, -100, 64, -65])
    values = np.concatenate([values, [info.min, info.min + 1, info.max]])
    a = np.clip(values, info.min, info.max).astype(dtype.numpy)
    assert_matches_reference(Pipeline(f), {a_in.name: a}, shape=a.shape, schedule=s)

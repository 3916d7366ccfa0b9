"""Hostile input to the Python API and the command line: a clear error or a correct result, never
a crash.

This file adds what tests/codegen/test_errors.py, tests/codegen/test_differential.py (views,
zero strides, aliasing, zero-size outputs), tests/scheduler/test_legality.py (vector widths,
malformed schedule JSON) and tests/saline/test_cli.py (missing and truncated PNG input) do not
cover: empty and one-pixel inputs behind every boundary condition, NaN and infinities in params
and images, shapes whose byte counts overflow, intermediates too large to allocate (in a child
process under RLIMIT_AS, so a crash would show as a signal, not take pytest down), zero and
negative schedule factors, Func, input and param names that are hostile to C, and malformed
image files (empty, random bytes, truncated JPEG, a PNG header claiming 10^10 pixels) through
`load_image` and `saline run`. Every expected value is computed with numpy, independently of
the interpreter.
"""

from __future__ import annotations

import io
import os
import resource
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codegen.compile import compile
from pipelines import (
    Func,
    ImageParam,
    Param,
    Pipeline,
    Var,
    cast,
    constant_exterior,
    mirror_image,
    mirror_interior,
    repeat_edge,
)
from pipelines.filters import FILTERS
from pipelines.interpret import interpret
from pipelines.types import float32, float64, int32, uint8
from saline.cli import main as cli_main
from saline.io import load_image
from scheduler.schedule import Schedule, ScheduleError
from tests.helpers import assert_same

REPO = Path(__file__).resolve().parents[2]
x, y = Var("x"), Var("y")

# ---------------------------------------------------------------- empty and one-pixel inputs

BOUNDARIES: dict[str, Callable[[ImageParam], Func]] = {
    "repeat_edge": repeat_edge,
    "constant_exterior": lambda im: constant_exterior(im, 5.0),
    "mirror_image": mirror_image,
    "mirror_interior": mirror_interior,
}


def shifted_sum(kind: str) -> tuple[Pipeline, str]:
    """out[x, y] = b[x - 2, y] + b[x + 3, y - 1] for boundary condition `kind` of a float32 input."""
    im = ImageParam(float32, 2, f"hostile_{kind}")
    b = BOUNDARIES[kind](im)
    out = Func(f"hostile_{kind}_out")
    out[x, y] = b[x - 2, y] + b[x + 3, y - 1]
    return Pipeline(out), im.name


@pytest.mark.parametrize("kind", list(BOUNDARIES))
def test_one_pixel_input_behind_each_boundary_condition(kind: str) -> None:
    """Every read of a 1x1 image is that pixel (constant_exterior: the constant outside it)."""
    p, name = shifted_sum(kind)
    a = np.array([[1.5]], np.float32)
    got = compile(p)(shape=(4, 6), **{name: a})
    if kind == "constant_exterior":
        b = np.full((8, 12), 5.0, np.float32)  # b over x in [-2, 9], y in [-1, 6], origin at [1, 2]
        b[1, 2] = 1.5
        want = b[1:5, 0:6] + b[0:4, 5:11]
    else:
        want = np.full((4, 6), 3.0, np.float32)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", list(BOUNDARIES))
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
def test_empty_input_behind_a_boundary_condition_is_refused(kind: str, shape: tuple[int, int]) -> None:
    """An empty image has no pixel to repeat or mirror: a ValueError, not a read of nothing. (Also
    constant_exterior, like the interpreter: its clamped read of the image is evaluated even
    where the constant is selected.)"""
    p, name = shifted_sum(kind)
    a = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match=rf"input '{name}' is too small: axis \d must cover"):
        compile(p)(shape=(3, 4), **{name: a})
    with pytest.raises(ValueError, match=rf"input image '{name}' is read at"):
        interpret(p, shape=(3, 4), **{name: a})


def test_one_pixel_output_of_a_stencil() -> None:
    im = ImageParam(int32, 2, "hostile_tiny")
    f = Func("hostile_tiny_out")
    f[x, y] = im[x, y] * 3 - im[x + 1, y + 1]
    a = np.array([[4, 9], [2, 7]], np.int32)
    np.testing.assert_array_equal(compile(Pipeline(f))(shape=(1, 1), hostile_tiny=a), [[4 * 3 - 7]])


# ---------------------------------------------------------------- NaN and infinities


@pytest.fixture(scope="module")
def scaled() -> Pipeline:
    im = ImageParam(float32, 2, "hostile_img")
    gain = Param(float32, "hostile_gain", 1.0)
    f = Func("hostile_scaled")
    f[x, y] = im[x, y] * gain + gain
    return Pipeline(f)


@pytest.mark.parametrize("gain", [np.nan, np.inf, -np.inf, 0.0, -0.0, 3.0e38])
def test_nan_and_inf_params_and_pixels_follow_ieee(scaled: Pipeline, gain: float) -> None:
    a = np.array([[0.0, 1.0, -2.0], [np.nan, np.inf, -np.inf]], np.float32)
    with np.errstate(all="ignore"):
        want = a * np.float32(gain) + np.float32(gain)
    got = compile(scaled)(shape=a.shape, hostile_img=a, hostile_gain=gain)
    np.testing.assert_array_equal(got, want)  # NaN compare equal to NaN here
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_nan_pixels_cast_to_int_give_zero_and_infinities_saturate() -> None:
    im = ImageParam(float64, 1, "hostile_cast_in")
    f = Func("hostile_cast")
    f[x] = cast(uint8, im[x])
    a = np.array([np.nan, np.inf, -np.inf, 300.0, -5.0, 7.9])
    np.testing.assert_array_equal(compile(Pipeline(f))(shape=(6,), hostile_cast_in=a), [0, 255, 0, 255, 0, 7])


# ---------------------------------------------------------------- sizes that overflow


def test_output_shape_whose_byte_count_overflows_is_refused_cleanly(scaled: Pipeline) -> None:
    a = np.zeros((2, 3), np.float32)
    with pytest.raises((ValueError, MemoryError)):
        compile(scaled)(shape=(2**40, 2**40), hostile_img=a)


CHILD_LIMIT = 2 << 30  # address space of the child processes below

HUGE_INTERMEDIATE = """
import resource, sys
import numpy as np
from pipelines import Func, ImageParam, Pipeline, Var, cast
from pipelines.types import float32, int32
from codegen.compile import compile
from scheduler.schedule import Schedule
x, y = Var("x"), Var("y")
im = ImageParam(float32, 2, "im")
g, out = Func("spread"), Func("sampled")
g[x, y] = im[x % 2, y % 2] + cast(float32, x)
out[x, y] = g[x * __STRIDE__, y * __STRIDE__]
s = Schedule()
s[g].compute_root()
c = compile(Pipeline(out), s)
resource.setrlimit(resource.RLIMIT_AS, (__LIMIT__, __LIMIT__))
a = np.ones((2, 2), np.float32)
try:
    c(shape=(3, 3), im=a)
except MemoryError as e:
    print("MemoryError:", e)
except ValueError as e:
    print("ValueError:", e)
small = c(shape=(1, 1), im=a)  # still usable afterwards
print("after", float(small[0, 0]))
"""


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "stride, message",
    [
        (20_000, "MemoryError: could not allocate 1600080001 elements"),  # 40001^2 floats: 6.4 GB > 2 GiB
        (2**30, "ValueError: index arithmetic would overflow int32"),  # coordinates beyond int32
    ],
)
def test_intermediate_too_large_is_a_python_error_in_the_process(stride: int, message: str) -> None:
    """A compute_root intermediate spanning 40000^2 (or beyond int32) points cannot be allocated:
    the generated code checks malloc and the sizes, and the call raises; the process lives on."""
    code = HUGE_INTERMEDIATE.replace("__STRIDE__", str(stride)).replace("__LIMIT__", str(CHILD_LIMIT))
    result = run_child(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert message in result.stdout, result.stdout
    assert "after 1.0" in result.stdout


# ---------------------------------------------------------------- absurd schedule values


@pytest.mark.parametrize(
    "directive",
    [
        lambda s: s["f"].split("x", "xo", "xi", 0),
        lambda s: s["f"].split("x", "xo", "xi", -4),
        lambda s: s["f"].tile("x", "y", "xo", "yo", "xi", "yi", 0, 8),
        lambda s: s["f"].unroll("x", 0),
        lambda s: s["f"].vectorize("x", 3),
        lambda s: s["f"].vectorize("x", 0),
        lambda s: s["f"].bound("x", 0, 0),
        lambda s: s["f"].split("x", "xo", "xi", 2.5),
        lambda s: s["f"].split("x", "xo", "xi", True),
    ],
    ids=["split_0", "split_negative", "tile_0", "unroll_0", "vectorize_3", "vectorize_0", "bound_0", "float", "bool"],
)
def test_absurd_schedule_value_is_a_schedule_error(directive: Callable[[Schedule], object]) -> None:
    with pytest.raises(ScheduleError, match=r"s\['f'\]\.\w+"):
        directive(Schedule())


def test_split_factor_far_beyond_the_extent_gives_the_same_result() -> None:
    im = ImageParam(int32, 2, "hostile_split_in")
    f = Func("hostile_split")
    f[x, y] = im[x, y] * 2 + x
    s = Schedule()
    s[f].split(x, "xo", "xi", 1 << 20, "guard_with_if").split(y, "yo", "yi", 1 << 20, "guard_with_if")
    a = np.arange(20, dtype=np.int32).reshape(4, 5)
    np.testing.assert_array_equal(compile(Pipeline(f), s)(shape=(4, 5), hostile_split_in=a), a * 2 + np.arange(5))


@pytest.mark.parametrize("sigma", [-1.0, 0.0, np.nan, np.inf, 1e30, 1e-30])
@pytest.mark.parametrize("name", ["gaussian_blur", "unsharp_mask"])
def test_absurd_sigma_of_a_standard_filter_matches_the_interpreter(name: str, sigma: float) -> None:
    """A negative, zero, NaN, infinite or huge sigma (a Param that sizes an RDom) gives the
    interpreter's result, NaN for NaN, in bounded time and memory."""
    f = FILTERS[name]()
    img = np.random.default_rng(3).random((3, 9, 13), dtype=np.float32)
    want = interpret(f.pipeline, shape=img.shape, input=img, sigma=sigma)
    got = compile(f.pipeline)(shape=img.shape, input=img, sigma=sigma)
    assert_same(got, want, rtol=1e-5)


# ---------------------------------------------------------------- names hostile to C

HOSTILE_NAMES = ['quo"te', "new\nline", "end */ comment", "/* open", "back\\slash", "per%cent", "tab\tbed", "ünï"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_names_hostile_to_c_compile_and_compute(name: str) -> None:
    im = ImageParam(int32, 1, "in " + name)
    p = Param(int32, "gain " + name, 3)
    f = Func(name)
    f[x] = im[x] * p + 1
    pipeline = Pipeline(f)
    a = np.arange(6, dtype=np.int32)
    args = {"in " + name: a, "gain " + name: 5}
    got = compile(pipeline)(shape=(6,), **args)
    np.testing.assert_array_equal(got, a * 5 + 1)
    np.testing.assert_array_equal(got, interpret(pipeline, shape=(6,), **args))


# ---------------------------------------------------------------- malformed image files


def png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


BAD_FILES: dict[str, Callable[[], bytes]] = {
    "empty.png": lambda: b"",
    "random.png": lambda: np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    "truncated.jpg": lambda: jpeg_bytes()[: len(jpeg_bytes()) // 3],
    "header_only.jpg": lambda: jpeg_bytes()[:20],
    "bomb.png": lambda: png_header(100_000, 100_000),
    "no_pixels.png": lambda: png_header(40, 30),
    "zero_size.png": lambda: png_header(0, 0),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_load_image_of_a_malformed_file_names_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name]())
    with pytest.raises(ValueError, match=rf"{name}: "):
        load_image(path)


@pytest.mark.parametrize("name", ["truncated.jpg", "bomb.png", "random.png"])
def test_cli_run_on_a_malformed_file_exits_2_with_one_line(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name]())
    assert cli_main(["run", "box_blur", str(path), "-o", str(tmp_path / "out.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err
    assert not (tmp_path / "out.png").exists()


def test_cli_in_a_fresh_process_survives_a_bomb_under_a_memory_limit(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(100_000, 100_000))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_LIMIT, CHILD_LIMIT))

    result = subprocess.run(
        [sys.executable, "-m", "saline.cli", "run", "box_blur", str(path), "-o", str(tmp_path / "o.png")],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "too large" in result.stderr

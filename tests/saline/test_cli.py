"""The `saline` command line, called in-process through `main([...])`, and the image reading and
writing it relies on (saline.io)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pipelines
import saline
from pipelines.filters import FILTERS
from saline.cli import DEMO_FILTERS, images_dir, main
from saline.io import load_image, save_image
from saline.sheet import GAP, LABEL, contact_sheet


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status == 2
    assert "Traceback" not in err
    assert err.startswith("saline: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A small random RGB PNG and its pixels as float32 (3, H, W)."""
    pixels = np.random.default_rng(3).integers(0, 256, (11, 14, 3), dtype=np.uint8)
    path = tmp_path / "small.png"
    Image.fromarray(pixels).save(path)
    return path, np.moveaxis(pixels, -1, 0).astype(np.float32) / 255


# ---------------------------------------------------------------- public API


def test_saline_reexports_the_language_and_the_tools() -> None:
    for name in pipelines.__all__:
        assert name in saline.__all__
        assert getattr(saline, name) is getattr(pipelines, name)
    for name in ("interpret", "compile", "CompiledPipeline", "load_image", "save_image", "filters"):
        assert name in saline.__all__ and hasattr(saline, name)
    assert saline.filters.FILTERS is FILTERS


# ---------------------------------------------------------------- commands without the compiler


def test_filters_lists_every_filter_with_description_and_params(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(capsys, "filters")
    assert status == 0 and err == ""
    for name, builder in FILTERS.items():
        f = builder()
        assert f"{name} " in out and f.description in out
        for p in f.params:
            assert f"{p.name}: {p.dtype} = {p.default}" in out
    assert "sigma: float32 = 1.5" in out


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_main(capsys, "--help")
    assert status == 0
    assert "demo" in out and "run" in out and "show" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_main(capsys)
    assert_one_line_error(status, err, "COMMAND")


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_main(capsys, "frobnicate")
    assert_one_line_error(status, err, "frobnicate")


def test_run_unknown_filter_names_the_known_ones(capsys, photo, tmp_path) -> None:
    status, _, err = run_main(capsys, "run", "blurry", str(photo[0]), "-o", str(tmp_path / "o.png"))
    assert_one_line_error(status, err, "unknown filter 'blurry'", "box_blur")


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # `saline show NAME --c | head`: the C source (thousands of lines) outgrows the pipe's
    # buffer, so the write after the reader closed fails with EPIPE
    code = "import sys; from saline.cli import main; sys.exit(main(['show', 'box_blur', '--c']))"
    command = [sys.executable, "-c", code]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err
    assert b"Traceback" not in err and b"Exception ignored" not in err, err.decode()


def test_show_unknown_filter_exits_2(capsys) -> None:
    status, _, err = run_main(capsys, "show", "nope")
    assert_one_line_error(status, err, "unknown filter 'nope'")


@pytest.mark.parametrize("item", ["sigma", "sigma=", "=2", "sigma:2"])
def test_run_bad_param_syntax_exits_2(capsys, photo, tmp_path, item: str) -> None:
    argv = ["run", "gaussian_blur", str(photo[0]), "-o", str(tmp_path / "o.png"), "--param", item]
    status, _, err = run_main(capsys, *argv)
    assert_one_line_error(status, err, "NAME=VALUE")


def test_run_unknown_param_lists_the_filter_params(capsys, photo, tmp_path) -> None:
    argv = ["run", "unsharp_mask", str(photo[0]), "-o", str(tmp_path / "o.png"), "--param", "radius=3"]
    status, _, err = run_main(capsys, *argv)
    assert_one_line_error(status, err, "no param 'radius'", "sigma, amount")


def test_run_param_value_of_wrong_type_exits_2(capsys, photo, tmp_path) -> None:
    argv = ["run", "gaussian_blur", str(photo[0]), "-o", str(tmp_path / "o.png"), "--param", "sigma=wide"]
    status, _, err = run_main(capsys, *argv)
    assert_one_line_error(status, err, "sigma=wide", "float32")


def test_run_missing_input_names_the_path(capsys, tmp_path) -> None:
    missing = tmp_path / "nothere.png"
    status, _, err = run_main(capsys, "run", "box_blur", str(missing), "-o", str(tmp_path / "o.png"))
    assert_one_line_error(status, err, str(missing), "no such file")


def test_run_truncated_input_names_the_path(capsys, photo, tmp_path) -> None:
    broken = tmp_path / "broken.png"
    data = photo[0].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    status, _, err = run_main(capsys, "run", "box_blur", str(broken), "-o", str(tmp_path / "o.png"))
    assert_one_line_error(status, err, str(broken), "truncated")


def test_run_output_with_unknown_extension_exits_2(capsys, photo, tmp_path) -> None:
    status, _, err = run_main(capsys, "run", "box_blur", str(photo[0]), "-o", str(tmp_path / "o.webp"))
    assert_one_line_error(status, err, "o.webp", ".png")


def test_run_without_output_is_a_usage_error(capsys, photo) -> None:
    status, _, err = run_main(capsys, "run", "box_blur", str(photo[0]))
    assert_one_line_error(status, err, "-o/--output")


@pytest.mark.parametrize("threads", ["0", "-2", "many"])
def test_run_bad_threads_is_a_usage_error(capsys, photo, tmp_path, threads: str) -> None:
    argv = ["run", "box_blur", str(photo[0]), "-o", str(tmp_path / "o.png"), "--threads", threads]
    status, _, err = run_main(capsys, *argv)
    assert_one_line_error(status, err, "threads")


def test_demo_unknown_filter_exits_2(capsys, tmp_path) -> None:
    status, _, err = run_main(capsys, "demo", "--out", str(tmp_path), "--filter", "nope")
    assert_one_line_error(status, err, "unknown filter 'nope'")


def test_demo_bad_repeat_exits_2(capsys, tmp_path) -> None:
    status, _, err = run_main(capsys, "demo", "--out", str(tmp_path), "--repeat", "0")
    assert_one_line_error(status, err, "--repeat")


def test_bundled_images_are_found() -> None:
    names = {p.name for p in images_dir().glob("*.png")}
    assert {"chelsea.png", "coffee.png", "camera.png", "astronaut.png"} <= names


# ---------------------------------------------------------------- commands that compile


def test_run_writes_the_filtered_image(capsys, photo, tmp_path) -> None:
    path, pixels = photo
    out_path = tmp_path / "out.png"
    status, out, err = run_main(capsys, "run", "box_blur", str(path), "-o", str(out_path), "--threads", "2")
    assert status == 0, err
    assert "wrote" in out
    expected = saline.interpret(FILTERS["box_blur"]().pipeline, shape=pixels.shape, input=pixels)
    np.testing.assert_allclose(load_image(out_path), expected, rtol=0, atol=0.5 / 255 + 1e-6)


def test_run_passes_params_to_the_pipeline(capsys, photo, tmp_path) -> None:
    path, pixels = photo
    out_path = tmp_path / "out.png"
    argv = ["run", "brightness_contrast_gamma", str(path), "-o", str(out_path), "--param", "brightness=-1.0"]
    status, _, err = run_main(capsys, *argv)
    assert status == 0, err
    np.testing.assert_array_equal(load_image(out_path, np.uint8), 0)


def test_run_interpret_matches_compiled(capsys, photo, tmp_path) -> None:
    path, _ = photo
    args = ["run", "sobel", str(path), "--param"]
    assert run_main(capsys, *args, "x=1", "-o", str(tmp_path / "a.png"))[0] == 2  # sobel has no params
    assert run_main(capsys, "run", "sobel", str(path), "-o", str(tmp_path / "a.png"))[0] == 0
    assert run_main(capsys, "run", "sobel", str(path), "-o", str(tmp_path / "b.png"), "--interpret")[0] == 0
    a, b = load_image(tmp_path / "a.png", np.uint8), load_image(tmp_path / "b.png", np.uint8)
    assert np.max(np.abs(a.astype(int) - b.astype(int))) <= 1


def test_run_grey_input_gives_three_channels(capsys, tmp_path) -> None:
    grey = tmp_path / "grey.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (9, 12), dtype=np.uint8)).save(grey)
    status, _, err = run_main(capsys, "run", "unsharp_mask", str(grey), "-o", str(tmp_path / "o.png"))
    assert status == 0, err
    assert load_image(tmp_path / "o.png").shape == (3, 9, 12)


def test_show_prints_the_loop_nest(capsys) -> None:
    status, out, _ = run_main(capsys, "show", "box_blur")
    assert status == 0
    assert "blur_y" in out


def test_show_c_prints_the_c_source(capsys) -> None:
    status, out, _ = run_main(capsys, "show", "gaussian_blur", "--c")
    assert status == 0
    assert "blur_y" in out and "{" in out


def test_demo_on_a_small_image_writes_results_and_a_table(capsys, photo, tmp_path) -> None:
    path, _ = photo
    out_dir = tmp_path / "results"
    argv = ["demo", "--out", str(out_dir), "--repeat", "1", "--images", str(path.parent)]
    status, out, err = run_main(capsys, *argv, "--filter", "box_blur", "--filter", "unsharp_mask")
    assert status == 0, err
    assert {p.name for p in out_dir.iterdir()} == {"small_box_blur.png", "small_unsharp_mask.png", "contact_sheet.png"}
    assert "compiled ms" in out and "MISMATCH" not in out
    sheet = load_image(out_dir / "contact_sheet.png")  # one row: the photo and two results
    assert sheet.shape[1] == GAP + LABEL + 160 + GAP and sheet.shape[2] > 3 * 160


def test_contact_sheet_puts_each_image_under_its_label() -> None:
    red = np.zeros((3, 20, 40), np.float32)
    red[0] = 1.0
    grey = np.full((10, 10), 0.5, np.float32)
    sheet = contact_sheet([[red, grey], [grey]], [["red", "grey"], ["grey"]], height=20)
    assert sheet.shape == (GAP + 2 * (LABEL + 20 + GAP), GAP + 40 + GAP + 20 + GAP, 3)
    top = GAP + LABEL
    assert (sheet[top : top + 20, GAP : GAP + 40] == [255, 0, 0]).all()
    assert (sheet[top : top + 20, 2 * GAP + 40 : 2 * GAP + 60] == 128).all()
    second = top + 20 + GAP + LABEL
    assert (sheet[second : second + 20, GAP : GAP + 20] == 128).all()


@pytest.mark.slow
def test_demo_on_the_bundled_images(capsys, tmp_path) -> None:
    status, out, err = run_main(capsys, "demo", "--out", str(tmp_path), "--repeat", "1")
    assert status == 0, err
    assert len(list(tmp_path.glob("*.png"))) == len(DEMO_FILTERS) * len(list(images_dir().glob("*.png"))) + 1


# ---------------------------------------------------------------- saline.io


def test_load_image_colour_is_planar_float_in_unit_range() -> None:
    img = load_image(images_dir() / "chelsea.png")
    assert img.shape == (3, 300, 451) and img.dtype == np.float32 and img.flags.c_contiguous
    assert 0.0 <= img.min() and img.max() <= 1.0


def test_load_image_grey_is_two_dimensional() -> None:
    img = load_image(images_dir() / "camera.png", np.uint8)
    assert img.shape == (512, 512) and img.dtype == np.uint8


def test_load_image_keeps_axis_order_rule(tmp_path) -> None:
    pixels = np.zeros((4, 5, 3), np.uint8)
    pixels[1, 3, 2] = 200  # row y=1, column x=3, blue
    Image.fromarray(pixels).save(tmp_path / "p.png")
    img = load_image(tmp_path / "p.png", saline.uint8)
    assert img[2, 1, 3] == 200 and img.sum() == 200


def test_load_image_16_bit_grey_scales_to_unit_range(tmp_path) -> None:
    values = np.array([[0, 1000, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    np.testing.assert_allclose(load_image(tmp_path / "g16.png"), values / 65535, rtol=1e-6)
    np.testing.assert_array_equal(load_image(tmp_path / "g16.png", np.uint16), values)


def test_load_image_drops_alpha_unless_asked(tmp_path) -> None:
    rgba = np.random.default_rng(0).integers(0, 256, (3, 4, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png").shape == (3, 3, 4)
    np.testing.assert_array_equal(load_image(tmp_path / "a.png", np.uint8, alpha=True), np.moveaxis(rgba, -1, 0))


def test_load_image_palette_becomes_rgb(tmp_path) -> None:
    Image.new("P", (5, 2), 7).save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (3, 2, 5)


def test_load_image_rejects_other_integer_types() -> None:
    with pytest.raises(TypeError, match="int16 is not supported"):
        load_image(images_dir() / "camera.png", np.int16)


def test_load_image_not_an_image_names_the_path(tmp_path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.png: not an image"):
        load_image(text)


def test_save_image_round_trips_float_and_clips(tmp_path) -> None:
    img = np.random.default_rng(2).random((3, 6, 7)).astype(np.float32)
    img[0, 0, 0], img[1, 0, 0], img[2, 0, 0] = np.nan, 7.0, -3.0
    save_image(tmp_path / "o.png", img)
    back = load_image(tmp_path / "o.png", np.uint8)
    np.testing.assert_array_equal(back[:, 0, 0], [0, 255, 0])
    expected = np.round(np.clip(np.nan_to_num(img), 0, 1) * 255)
    np.testing.assert_array_equal(back, expected)


@pytest.mark.parametrize(("shape", "saved"), [((6, 7), (6, 7)), ((1, 6, 7), (6, 7)), ((4, 6, 7), (4, 6, 7))])
def test_save_image_shapes(tmp_path, shape, saved) -> None:
    save_image(tmp_path / "o.png", np.zeros(shape, np.uint8))
    assert load_image(tmp_path / "o.png", alpha=True).shape == saved


def test_save_image_jpeg(tmp_path) -> None:
    save_image(tmp_path / "o.jpg", np.full((3, 8, 8), 0.5))
    np.testing.assert_allclose(load_image(tmp_path / "o.jpg"), 0.5, atol=0.02)


@pytest.mark.parametrize(
    ("name", "array", "message"),
    [
        ("o.png", np.zeros((2, 4, 4)), r"shape \(2, 4, 4\)"),
        ("o.png", np.zeros((5, 4, 3)), "moveaxis"),
        ("o.png", np.zeros((4, 4), np.int32), "int32"),
        ("o.tiff", np.zeros((4, 4)), "extension"),
        ("o.jpg", np.zeros((4, 4, 4)), "alpha"),
    ],
)
def test_save_image_errors_name_the_path_and_the_problem(tmp_path, name, array, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message) as info:
        save_image(tmp_path / name, array)
    assert name in str(info.value)


@pytest.mark.parametrize("name", sorted(pipelines.filters.FILTERS))
def test_run_every_filter_with_its_default_params(capsys, tmp_path, name: str) -> None:
    """`saline run NAME in.png -o out.png` works for every standard filter with the defaults of
    its params (through the interpreter, the reference; the compiled path is the demo's), and
    writes the interpreter's result for the filter's own input made from the photograph."""
    pixels = np.random.default_rng(4).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(pixels).save(source)
    status, out, err = run_main(capsys, "run", name, str(source), "-o", str(target), "--interpret")
    assert status == 0, err
    f = pipelines.filters.FILTERS[name]()
    image = load_image(source)
    image = f.prepare(image) if f.prepare is not None else image
    want = saline.interpret(f.pipeline, shape=f.output_shape(image.shape), input=image)
    got = load_image(target, alpha=want.ndim == 3 and want.shape[0] == 4)
    if want.dtype == np.uint8:
        expected = want.astype(np.float64) / 255
    else:  # save_image clips floats to [0, 1] and rounds to 8 bits
        expected = np.round(np.clip(np.nan_to_num(want.astype(np.float64)), 0, 1) * 255) / 255
    planes = [a[None] if a.ndim == 2 else a for a in (got, expected)]
    np.testing.assert_allclose(planes[0], planes[1], atol=1e-6)

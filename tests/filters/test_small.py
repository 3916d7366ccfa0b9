"""Harris, median, histogram equalization, resize and colour matrix, run through the reference
interpreter on downscaled bundled photographs, against OpenCV (or numpy for the colour matrix).
Each test states its tolerance and why."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from codegen.compile import compile
from pipelines.filters import FILTERS
from pipelines.interpret import interpret
from saline.hand_schedules import hand_schedule
from tests.filters.photos import PHOTOS, grey_of, photo


def hwc(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(img, 0, -1))


@pytest.mark.parametrize("stem", PHOTOS)
@pytest.mark.parametrize("k", [0.04, 0.15])
def test_harris_matches_opencv_corner_harris(stem: str, k: float) -> None:
    img = photo(stem)
    out = interpret(FILTERS["harris"]().pipeline, input=img, k=k)
    assert out.shape == img.shape and np.array_equal(out[0], out[2])
    ref = cv2.cornerHarris(grey_of(img), blockSize=3, ksize=3, k=k, borderType=cv2.BORDER_REPLICATE)
    # OpenCV replicates the border of the gradient products, we of the image: 2 pixels differ.
    # det - k trace^2 cancels, so the error is relative to the largest response, not per pixel;
    # float32 sums in another order give ~1e-6 of it.
    scale = np.abs(ref).max()
    np.testing.assert_allclose(out[0, 2:-2, 2:-2], ref[2:-2, 2:-2], rtol=0, atol=1e-5 * scale)


def test_harris_is_large_at_a_corner_and_negative_on_an_edge() -> None:
    img = np.zeros((3, 20, 20), np.float32)
    img[:, 10:, 10:] = 1.0
    out = interpret(FILTERS["harris"]().pipeline, input=img)[0]
    assert out.max() == out[9:11, 9:11].max() > 0
    assert out[15, 10] < 0 and out[10, 15] < 0  # straight edges


@pytest.mark.parametrize("stem", PHOTOS)
def test_median_equals_opencv_median_blur(stem: str) -> None:
    img = photo(stem)
    img[:, 5, 7] = 1.0  # a hot pixel, removed
    out = interpret(FILTERS["median3x3"]().pipeline, input=img)
    ref = np.stack([cv2.medianBlur(ch, 3) for ch in img])
    np.testing.assert_array_equal(out, ref)  # a median selects one of its inputs: exact
    assert out[:, 5, 7].max() < 1.0


def _equalize_reference(img: np.ndarray) -> np.ndarray:
    grey = grey_of(img)
    bins = np.clip(np.rint(grey * np.float32(255)), 0, 255).astype(np.uint8)
    equalized = cv2.equalizeHist(bins).astype(np.float32) / np.float32(255)
    return np.clip(img * (equalized / np.maximum(grey, np.float32(1e-4))), 0, 1)


@pytest.mark.parametrize("stem", PHOTOS)
def test_equalize_histogram_matches_opencv(stem: str) -> None:
    img = photo(stem)
    out = interpret(FILTERS["equalize_histogram"]().pipeline, input=img)
    # the table is OpenCV's integer table exactly; the colour ratio is the same float32 ops
    np.testing.assert_array_equal(out, _equalize_reference(img))


def test_equalize_histogram_of_grey_photo_is_opencv_equalize_hist() -> None:
    grey = photo("coffee")[1]
    img = np.ascontiguousarray(np.broadcast_to(grey, (3, *grey.shape)))
    out = interpret(FILTERS["equalize_histogram"]().pipeline, input=img)
    ref = cv2.equalizeHist(np.rint(grey * 255).astype(np.uint8))
    # Y = (0.299 + 0.587 + 0.114) v differs from v by float32 rounding, so out = v * eq / Y is
    # within a few ulps of eq / 255: 1e-3 of a level
    np.testing.assert_allclose(out * 255, np.broadcast_to(ref, img.shape), rtol=0, atol=1e-3)


@pytest.mark.parametrize(("height", "width"), [(1, 9), (5, 33), (16, 7), (17, 40), (47, 3)])
def test_equalize_histogram_hand_schedule_counts_every_row_once(height: int, width: int) -> None:
    # the histogram is counted in STRIPS partial histograms of ceil(height / STRIPS) rows each
    # (the last strips partly or wholly past the image): heights below, at and past STRIPS
    f = FILTERS["equalize_histogram"]()
    img = np.ascontiguousarray(photo("coffee")[:, 20 : 20 + height, 30 : 30 + width])
    for threads in (None, 1):
        out = compile(f.pipeline, hand_schedule(f), threads=threads)(shape=img.shape, input=img)
        np.testing.assert_array_equal(out, _equalize_reference(img), err_msg=f"threads={threads}")


def test_equalize_histogram_of_constant_image_keeps_it() -> None:
    img = np.full((3, 6, 7), 102 / 255, np.float32)  # a level of its own bin (OpenCV keeps it)
    np.testing.assert_allclose(interpret(FILTERS["equalize_histogram"]().pipeline, input=img), img, atol=1e-6)


@pytest.mark.parametrize("name", ["resize_bilinear", "resize_bicubic"])
@pytest.mark.parametrize("scale", [0.6, 0.33, 1.7, 2.0])
def test_resize_matches_opencv(name: str, scale: float) -> None:
    img = photo("coffee", 120)
    f = FILTERS[name]()
    shape = f.output_shape(img.shape, {"scale": scale})
    out = interpret(f.pipeline, shape=shape, input=img, scale=scale)
    flag = cv2.INTER_LINEAR if name == "resize_bilinear" else cv2.INTER_CUBIC
    ref = np.moveaxis(cv2.resize(hwc(img), None, fx=scale, fy=scale, interpolation=flag), -1, 0)
    assert out.shape == ref.shape
    # OpenCV maps output to input coordinates in double, we in float32: the fractions differ by
    # an ulp of the coordinate (~1e-5 at 200), so values by about that much
    np.testing.assert_allclose(out, ref, rtol=0, atol=2e-5)


@pytest.mark.parametrize("name", ["resize_bilinear", "resize_bicubic"])
@pytest.mark.parametrize(
    "scale, shape",
    [(0.5, None), (0.33, None), (1.7, None), (0.37, (3, 150, 90)), (0.01, (3, 70, 50)), (4.0, (3, 45, 33))],
)
def test_resize_hand_schedule_samples_the_rows_of_each_strip(name: str, scale: float, shape: tuple | None) -> None:
    # the hand schedule computes the x pass per strip of output rows, over the input rows that
    # bounds inference finds the strip samples (through floor() of a float coordinate): every
    # strip against the interpreter, also where the output samples past the image (given shapes)
    img = photo("coffee", 301)  # 301 x 201: several strips at every scale
    f = FILTERS[name]()
    shape = shape or f.output_shape(img.shape, {"scale": scale})
    want = interpret(f.pipeline, shape=shape, input=img, scale=scale)
    for threads in (None, 1):
        got = compile(f.pipeline, hand_schedule(f), threads=threads)(shape=shape, input=img, scale=scale)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=f"threads={threads}")


def test_resize_output_shape_rounds_and_keeps_one_pixel() -> None:
    f = FILTERS["resize_bilinear"]()
    assert f.output_shape((3, 100, 150)) == (3, 50, 75)
    assert f.output_shape((3, 100, 150), {"scale": 0.001}) == (3, 1, 1)


def test_colour_matrix_matches_numpy() -> None:
    img = photo("astronaut", 64)
    f = FILTERS["colour_matrix"]()
    assert np.array_equal(interpret(f.pipeline, input=img), img)  # identity by default
    rng = np.random.default_rng(1)
    m, offset = rng.normal(size=(3, 3)), rng.normal(size=3)
    params = {f"m{r}{k}": float(m[r, k]) for r in range(3) for k in range(3)}
    params |= {f"offset{r}": float(offset[r]) for r in range(3)}
    out = interpret(f.pipeline, input=img, **params)
    ref = np.einsum("rk,khw->rhw", m.astype(np.float32), img) + offset.astype(np.float32)[:, None, None]
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)  # float32, 3 products and 3 sums

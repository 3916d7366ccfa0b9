"""The standard filters, run through the reference interpreter, against plain numpy versions
written separately here (edge padding with np.pad, float64 arithmetic).

Inputs are float32 in [0, 1], so outputs are O(1) and an absolute tolerance is the right
measure: float32 rounding over at most a few dozen operations stays well under ATOL (1e-5),
except in the unsharp mask, whose ratio sharpened / grey amplifies rounding on dark pixels
(UNSHARP_ATOL, 1e-4).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.filters import FILTERS, Filter
from pipelines.func import ImageParam
from pipelines.interpret import interpret
from pipelines.types import float32, uint8, uint16

ATOL = 1e-5
UNSHARP_ATOL = 1e-4
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])


@pytest.fixture
def image() -> np.ndarray:
    """A small random colour image, (C, H, W) = (3, 17, 23): odd, unequal sides."""
    return np.random.default_rng(7).random((3, 17, 23), dtype=np.float32)


def run(f: Filter, img: np.ndarray, **params: float) -> np.ndarray:
    out = interpret(f.pipeline, shape=img.shape, input=img, **params)
    assert out.shape == img.shape
    assert out.dtype == np.float32
    return out


# ---------------------------------------------------------------- references


def pad_xy(a: np.ndarray, radius: int) -> np.ndarray:
    """Edge-pad the last two axes (y, x) of a (C, H, W) or (H, W) array."""
    widths = [(0, 0)] * (a.ndim - 2) + [(radius, radius), (radius, radius)]
    return np.pad(a, widths, mode="edge")


def correlate_x(a: np.ndarray, weights: np.ndarray) -> np.ndarray:
    radius = len(weights) // 2
    p = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(radius, radius)], mode="edge")
    width = a.shape[-1]
    return sum(w * p[..., k : k + width] for k, w in enumerate(weights))


def correlate_y(a: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.swapaxes(correlate_x(np.swapaxes(a, -1, -2), weights), -1, -2)


def gaussian_weights(sigma: float) -> np.ndarray:
    s = max(sigma, 1e-3)
    radius = int(np.ceil(np.float32(3.0) * np.float32(s)))  # the pipeline computes it in float32
    r = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-(r**2) / (2 * s * s))
    return w / w.sum()


def grey_of(img: np.ndarray) -> np.ndarray:
    return np.tensordot(GREY_WEIGHTS, img.astype(np.float64), axes=1)


def box_reference(img: np.ndarray) -> np.ndarray:
    third = np.full(3, 1 / 3)
    return correlate_y(correlate_x(img.astype(np.float64), third), third)


def gaussian_reference(img: np.ndarray, sigma: float) -> np.ndarray:
    w = gaussian_weights(sigma)
    return correlate_y(correlate_x(img.astype(np.float64), w), w)


def unsharp_reference(img: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    grey = grey_of(img)
    w = gaussian_weights(sigma)
    blurred = correlate_y(correlate_x(grey, w), w)
    sharpened = grey + amount * (grey - blurred)
    ratio = sharpened / np.maximum(grey, 1e-4)
    return np.clip(img * ratio, 0.0, 1.0)


def sobel_reference(img: np.ndarray) -> np.ndarray:
    g = pad_xy(grey_of(img), 1)
    h, w = img.shape[1:]

    def at(dy: int, dx: int) -> np.ndarray:
        return g[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    gx = (at(-1, 1) + 2 * at(0, 1) + at(1, 1)) - (at(-1, -1) + 2 * at(0, -1) + at(1, -1))
    gy = (at(1, -1) + 2 * at(1, 0) + at(1, 1)) - (at(-1, -1) + 2 * at(-1, 0) + at(-1, 1))
    return np.broadcast_to(np.hypot(gx, gy), img.shape)


def tone_reference(img: np.ndarray, brightness: float, contrast: float, gamma: float) -> np.ndarray:
    # The level is computed in float32 in the pipeline's order: near 0, pow(level, 1 / gamma) has
    # a steep slope, so float64 levels would differ by more than float32 rounding of the result.
    f32 = np.float32
    level = np.clip((img - f32(0.5)) * f32(contrast) + f32(0.5) + f32(brightness), f32(0), f32(1))
    return level.astype(np.float64) ** (1.0 / max(gamma, 1e-3))


# ---------------------------------------------------------------- the registry


INPUT_KINDS = {"rgb": (float32, 3, float32), "rgba": (float32, 3, float32), "bayer": (uint16, 2, uint8)}
"""input_kind -> (input dtype, input ndim, output dtype)."""


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_registry_builds_filter_with_its_kind_of_input_and_defaults(name: str) -> None:
    f = FILTERS[name]()
    assert f.name == name
    assert f.description
    assert isinstance(f.input, ImageParam)
    dtype, ndim, out_dtype = INPUT_KINDS[f.input_kind]
    assert (f.input.dtype, f.input.ndim, f.input.name) == (dtype, ndim, "input")
    assert f.pipeline.images == (f.input,)
    assert set(f.pipeline.params) == set(f.params)
    assert all(p.default is not None for p in f.params)
    assert f.output.ndim == 3 and f.output.dtype == out_dtype
    assert f.defaults() == {p.name: p.default for p in f.params}
    assert (f.prepare is not None) == (f.input_kind != "rgb")


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_registry_prepare_and_output_shape_fit_the_pipeline(name: str) -> None:
    f = FILTERS[name]()
    photo = np.random.default_rng(2).random((3, 41, 45), dtype=np.float32)
    img = f.prepare(photo) if f.prepare is not None else photo
    dtype, ndim, out_dtype = INPUT_KINDS[f.input_kind]
    assert img.dtype == dtype.numpy and img.ndim == ndim
    shape = f.output_shape(img.shape)
    out = interpret(f.pipeline, shape=shape, input=img)
    assert out.shape == shape and out.dtype == out_dtype.numpy
    if f.pipeline.boxes[0] is not None:  # a default output box: the same shape
        assert interpret(f.pipeline, input=img).shape == shape


def test_registry_builds_a_fresh_pipeline_each_call() -> None:
    assert FILTERS["box_blur"]().pipeline is not FILTERS["box_blur"]().pipeline


def test_filter_param_lookup_names_known_params() -> None:
    f = FILTERS["unsharp_mask"]()
    assert f.param("amount").default == 1.0
    with pytest.raises(KeyError, match="no param 'radius'.*sigma, amount"):
        f.param("radius")


# ---------------------------------------------------------------- each filter vs numpy


def test_box_blur_matches_numpy(image: np.ndarray) -> None:
    np.testing.assert_allclose(run(FILTERS["box_blur"](), image), box_reference(image), rtol=0, atol=ATOL)


def test_box_blur_of_constant_image_is_constant() -> None:
    img = np.full((3, 5, 4), 0.25, np.float32)
    np.testing.assert_allclose(run(FILTERS["box_blur"](), img), img, rtol=0, atol=ATOL)


def test_gaussian_blur_default_sigma_matches_numpy(image: np.ndarray) -> None:
    expected = gaussian_reference(image, 1.5)
    np.testing.assert_allclose(run(FILTERS["gaussian_blur"](), image), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("sigma", [0.4, 1.0, 2.3])
def test_gaussian_blur_radius_follows_sigma_at_run_time(image: np.ndarray, sigma: float) -> None:
    f = FILTERS["gaussian_blur"]()
    np.testing.assert_allclose(run(f, image, sigma=sigma), gaussian_reference(image, sigma), rtol=0, atol=ATOL)


@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_gaussian_blur_non_positive_sigma_is_identity(image: np.ndarray, sigma: float) -> None:
    np.testing.assert_allclose(run(FILTERS["gaussian_blur"](), image, sigma=sigma), image, rtol=0, atol=ATOL)


def test_gaussian_weights_sum_to_one() -> None:
    img = np.full((3, 9, 11), 0.6, np.float32)
    np.testing.assert_allclose(run(FILTERS["gaussian_blur"](), img, sigma=1.7), img, rtol=0, atol=ATOL)


@pytest.mark.parametrize(("sigma", "amount"), [(1.5, 1.0), (0.8, 2.5), (2.0, 0.0)])
def test_unsharp_mask_matches_numpy(image: np.ndarray, sigma: float, amount: float) -> None:
    out = run(FILTERS["unsharp_mask"](), image, sigma=sigma, amount=amount)
    np.testing.assert_allclose(out, unsharp_reference(image, sigma, amount), rtol=0, atol=UNSHARP_ATOL)


def test_unsharp_mask_keeps_black_pixels_black(image: np.ndarray) -> None:
    image[:, 4:9, 5:12] = 0.0
    out = run(FILTERS["unsharp_mask"](), image, amount=3.0)
    assert np.all(np.isfinite(out))
    assert np.all(out[:, 4:9, 5:12] == 0.0)


def test_sobel_matches_numpy(image: np.ndarray) -> None:
    np.testing.assert_allclose(run(FILTERS["sobel"](), image), sobel_reference(image), rtol=0, atol=ATOL)


def test_sobel_of_vertical_step_is_four_on_the_edge() -> None:
    img = np.zeros((3, 6, 8), np.float32)
    img[:, :, 4:] = 1.0
    out = run(FILTERS["sobel"](), img)
    np.testing.assert_allclose(out[:, :, 3:5], 4.0 * 1.0, rtol=0, atol=ATOL)  # grey weights sum to 1
    np.testing.assert_allclose(out[:, :, :3], 0.0, atol=ATOL)
    np.testing.assert_allclose(out[:, :, 5:], 0.0, atol=ATOL)


def test_brightness_contrast_gamma_defaults_are_identity(image: np.ndarray) -> None:
    np.testing.assert_allclose(run(FILTERS["brightness_contrast_gamma"](), image), image, rtol=0, atol=ATOL)


@pytest.mark.parametrize(("brightness", "contrast", "gamma"), [(0.1, 1.5, 2.2), (-0.2, 0.7, 0.5), (0.0, 3.0, 1.0)])
def test_brightness_contrast_gamma_matches_numpy(
    image: np.ndarray, brightness: float, contrast: float, gamma: float
) -> None:
    f = FILTERS["brightness_contrast_gamma"]()
    out = run(f, image, brightness=brightness, contrast=contrast, gamma=gamma)
    assert np.all(np.isfinite(out))
    expected = tone_reference(image, brightness, contrast, gamma)
    np.testing.assert_allclose(out, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("gamma", [0.0, -2.0])
def test_brightness_contrast_gamma_non_positive_gamma_stays_finite(image: np.ndarray, gamma: float) -> None:
    # gamma is floored at 1e-3: the exponent is 1000, so only pure white survives
    out = run(FILTERS["brightness_contrast_gamma"](), image, brightness=0.3, gamma=gamma)
    assert np.all(np.isfinite(out))
    assert np.all((out >= 0.0) & (out <= 1.0))
    np.testing.assert_array_equal(out[image >= 0.75], 1.0)


def test_gaussian_reference_radius_is_ceil_three_sigma() -> None:
    # guards the reference itself: the radius the tests expect
    assert len(gaussian_weights(1.5)) == 2 * math.ceil(4.5) + 1
    assert len(gaussian_weights(0.0)) == 3

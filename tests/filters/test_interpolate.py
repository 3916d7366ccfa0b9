"""Pyramid push-pull interpolation (interpreter) against a numpy implementation written here:
levels built with index arrays clipped to each level's size, in float64."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.filters import FILTERS
from pipelines.filters.interpolate import sparse_alpha
from pipelines.interpret import interpret
from tests.filters.photos import photo


def _clip_take(a: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    return np.take(a, np.clip(index, 0, a.shape[axis] - 1), axis)


def interpolate_reference(rgba: np.ndarray, levels: int = 10) -> np.ndarray:
    a = rgba.astype(np.float64)
    pyramid = [np.concatenate([a[:3] * a[3], a[3:]])]  # (4, H, W)
    for _ in range(1, levels):
        p = pyramid[-1]
        for axis in (2, 1):
            u = np.arange((p.shape[axis] + 1) // 2) * 2
            p = (_clip_take(p, u - 1, axis) + 2 * _clip_take(p, u, axis) + _clip_take(p, u + 1, axis)) / 4
        pyramid.append(p)
    result = pyramid[-1]
    for level in range(levels - 2, -1, -1):
        fine = pyramid[level]
        up = result
        for axis in (2, 1):
            u = np.arange(fine.shape[axis])
            up = (_clip_take(up, u // 2, axis) + _clip_take(up, (u + 1) // 2, axis)) / 2
        result = fine + (1 - fine[3]) * up
    return result / result[3]


@pytest.mark.parametrize("stem", ["chelsea", "astronaut"])
def test_interpolate_matches_numpy(stem: str) -> None:
    rgba = sparse_alpha(photo(stem, 120))
    out = interpret(FILTERS["interpolate"]().pipeline, input=rgba)
    assert out.shape == rgba.shape
    # float32 against float64 through 10 levels of 3-tap averages: ~1e-6 relative
    np.testing.assert_allclose(out, interpolate_reference(rgba), rtol=0, atol=1e-5)


def test_interpolate_keeps_known_pixels_and_fills_the_rest() -> None:
    img = photo("coffee", 96)
    rgba = sparse_alpha(img)
    out = interpret(FILTERS["interpolate"]().pipeline, input=rgba)
    known = rgba[3] == 1
    np.testing.assert_allclose(out[:3][:, known], img[:, known], atol=1e-5)
    np.testing.assert_allclose(out[3], 1.0, atol=1e-6)
    # holes filled with nearby colours: far closer than leaving them black
    assert np.abs(out[:3] - img).mean() < 0.5 * np.abs(img).mean()

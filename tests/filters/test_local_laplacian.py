"""Local Laplacian filter (interpreter) against a numpy implementation written here from the
paper's recipe: pyramids built by index arrays clipped to each level's size, in float64, the
look-up index quantized in float32 as the pipeline does (a discontinuous step: computing it in
float64 would move some pixels to the next table entry)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.filters import FILTERS
from pipelines.interpret import interpret
from tests.filters.photos import grey_of, photo

J = 8


def _taps(size: int, new: int, offsets: list[int], stride: int) -> list[np.ndarray]:
    base = np.arange(new) * stride
    return [np.clip(base + d, 0, size - 1) for d in offsets]


def down(a: np.ndarray) -> np.ndarray:
    """1 3 3 1 / 8 along the two first axes (x, y), edges clamped; a is indexed a[x, y, ...]."""
    for axis in (0, 1):
        size = a.shape[axis]
        t = _taps(size, (size + 1) // 2, [-1, 0, 1, 2], 2)
        a = (
            np.take(a, t[0], axis) + 3 * np.take(a, t[1], axis) + 3 * np.take(a, t[2], axis) + np.take(a, t[3], axis)
        ) / 8
    return a


def up(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear 2x upsampling to `shape` (x, y): output u reads u//2 (3/4) and its other neighbour (1/4)."""
    for axis in (0, 1):
        u = np.arange(shape[axis])
        near = np.clip(u // 2, 0, a.shape[axis] - 1)
        far = np.clip(u // 2 - 1 + 2 * (u % 2), 0, a.shape[axis] - 1)
        a = 0.75 * np.take(a, near, axis) + 0.25 * np.take(a, far, axis)
    return a


def local_laplacian_reference(img: np.ndarray, levels: int, alpha: float, beta: float) -> np.ndarray:
    grey32 = grey_of(img).T  # [x, y]
    grey = grey32.astype(np.float64)
    n = levels - 1
    index = np.clip((grey32 * np.float32(n) * np.float32(256)).astype(np.int64), 0, n * 256)
    gauss = [grey]
    for _ in range(1, J):
        gauss.append(down(gauss[-1]))
    shapes = [g.shape for g in gauss]
    laplace_by_k = []
    for kk in range(levels):
        level = kk / n
        d = (index - 256 * kk) / 256
        g = [beta * (grey - level) + level + alpha * d * np.exp(-d * d / 2)]
        for _ in range(1, J):
            g.append(down(g[-1]))
        laplace_by_k.append([g[j] - up(g[j + 1], shapes[j]) for j in range(J - 1)] + [g[J - 1]])
    out_laplace = []
    for j in range(J):
        position = gauss[j] * n
        li = np.clip(position.astype(np.int64), 0, n - 1)  # the last interval is [n-1, n]
        lf = position - li
        stack = np.stack([laplace_by_k[kk][j] for kk in range(levels)])
        low = np.take_along_axis(stack, li[None], 0)[0]
        high = np.take_along_axis(stack, li[None] + 1, 0)[0]
        out_laplace.append((1 - lf) * low + lf * high)
    result = out_laplace[J - 1]
    for j in range(J - 2, -1, -1):
        result = up(result, shapes[j]) + out_laplace[j]
    eps = 0.01
    colour = result.T[None] * (img.astype(np.float64) + eps) / (grey.T[None] + eps)
    return np.clip(colour, 0, 1)


@pytest.mark.parametrize(
    ("stem", "levels", "alpha", "beta"),
    [("chelsea", 8, 1.0, 1.0), ("coffee", 8, 0.5, 0.7), ("astronaut", 5, 2.0, 1.0)],
)
def test_local_laplacian_matches_numpy(stem: str, levels: int, alpha: float, beta: float) -> None:
    img = photo(stem, 120)
    out = interpret(FILTERS["local_laplacian"]().pipeline, input=img, levels=levels, alpha=alpha, beta=beta)
    # float32 through ~8 pyramid levels of 4-tap sums against float64: errors of ~1e-6 per
    # level, summed when the output pyramid is collapsed
    np.testing.assert_allclose(out, local_laplacian_reference(img, levels, alpha, beta), rtol=0, atol=2e-5)


def test_local_laplacian_alpha_zero_beta_one_keeps_luminance() -> None:
    img = photo("coffee", 96)
    out = interpret(FILTERS["local_laplacian"]().pipeline, input=img, alpha=0.0, beta=1.0)
    # no remapping: the pyramid collapses back to the input's luminance exactly (up to rounding)
    np.testing.assert_allclose(grey_of(out), grey_of(img), rtol=0, atol=0.02)

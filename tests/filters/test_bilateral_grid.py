"""Bilateral grid (interpreter) against a numpy implementation written here from Halide's
`apps/bilateral_grid` recipe, in colour as the filter is: every pixel of the edge-extended image
splatted with `np.add.at` into the grid cell nearest to it in x and y (cell i centred on pixel
i s) and the luminance bin nearest to it in z, colour and a weight of 1 per channel; three
1 4 6 4 1 blurs (z, x, y) of the zero-padded grid; trilinear slicing at (x / s, y / s, Y / r);
colour divided by weight. All in float64, except the luminance and the two quantities that are
quantized (the z bin and the slicing level), which are computed in float32 in the pipeline's
order: they feed a discontinuous step (a bin index), and float64 would move some pixels to the
next bin.

Tolerance: atol 1e-5 on outputs in [0, 1]. The pipeline sums up to s^2 float32 values per
cell in scan order, blurs with weights summing to 16^3, and divides two such interpolated
sums; the relative rounding of each is a few 1e-7, and the ratio of a colour sum to its weight
sum keeps it so (measured: under 3e-7; a 2% change of r_sigma moves outputs by 0.01).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.filters import FILTERS
from pipelines.interpret import interpret
from tests.filters.photos import grey_of, photo

TAPS = np.array([1.0, 4.0, 6.0, 4.0, 1.0])


def blur5(grid: np.ndarray, axis: int) -> np.ndarray:
    """1 4 6 4 1 along `axis`, zero outside the grid (cells no stage of the pipeline reads)."""
    widths = [(0, 0)] * grid.ndim
    widths[axis] = (2, 2)
    padded = np.pad(grid, widths)
    n = grid.shape[axis]
    return sum(w * np.take(padded, np.arange(k, k + n), axis) for k, w in enumerate(TAPS))


def bilateral_reference(img: np.ndarray, s_sigma: int = 8, r_sigma: float = 0.1) -> np.ndarray:
    _, height, width = img.shape
    s = max(s_sigma, 1)
    inv_r = np.float32(1) / np.float32(max(r_sigma, 1e-3))
    bins = int(inv_r + np.float32(0.5)) + 1
    # the grid holds cells -2 .. (size - 1) // s + 3 in x and y (index + 2), the cells the
    # blurs and the slicing read, and bins -2 .. bins + 1 in z (index + 2)
    cells_x, cells_y = (width - 1) // s + 6, (height - 1) // s + 6
    grid = np.zeros((cells_y, cells_x, bins + 4, 4))
    px = np.arange(cells_x * s) - 2 * s - s // 2
    py = np.arange(cells_y * s) - 2 * s - s // 2
    extended = img[:, np.clip(py, 0, height - 1)][:, :, np.clip(px, 0, width - 1)]
    level = np.clip(grey_of(extended), np.float32(0), np.float32(1))
    bin_z = (level * inv_r + np.float32(0.5)).astype(np.int64)
    cell_y, cell_x = np.meshgrid((py + s // 2) // s + 2, (px + s // 2) // s + 2, indexing="ij")
    for c in range(4):
        values = extended[c] if c < 3 else np.ones_like(level)
        np.add.at(grid[..., c], (cell_y, cell_x, bin_z + 2), values.astype(np.float64))
    blurred = blur5(blur5(blur5(grid, 2), 1), 0)

    zv = np.clip(grey_of(img), np.float32(0), np.float32(1)) * inv_r
    zi = np.clip(zv.astype(np.int64), 0, int(inv_r))
    zf = (zv - zi.astype(np.float32)).astype(np.float64)[..., None]
    yy, xx = np.mgrid[0:height, 0:width]
    xi, yi = xx // s + 2, yy // s + 2
    xf, yf = ((xx % s) / s)[..., None], ((yy % s) / s)[..., None]

    def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
        return a + (b - a) * t

    def plane(z: np.ndarray) -> np.ndarray:
        top = lerp(blurred[yi, xi, z], blurred[yi, xi + 1, z], xf)
        bottom = lerp(blurred[yi + 1, xi, z], blurred[yi + 1, xi + 1, z], xf)
        return lerp(top, bottom, yf)

    sliced = lerp(plane(zi + 2), plane(zi + 3), zf)  # (H, W, 4)
    return np.moveaxis(sliced[..., :3] / sliced[..., 3:], -1, 0)


@pytest.mark.parametrize(
    ("stem", "s_sigma", "r_sigma"), [("chelsea", 8, 0.1), ("astronaut", 5, 0.2), ("coffee", 4, 0.07)]
)
def test_bilateral_grid_matches_numpy(stem: str, s_sigma: int, r_sigma: float) -> None:
    img = photo(stem, 90)
    out = interpret(FILTERS["bilateral_grid"]().pipeline, input=img, s_sigma=s_sigma, r_sigma=r_sigma)
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, bilateral_reference(img, s_sigma, r_sigma), rtol=0, atol=1e-5)


def test_bilateral_grid_keeps_a_step_edge_and_smooths_noise() -> None:
    # two flat halves with noise: within each half the noise is averaged away, across the
    # step (0.6 in luminance, 6 range sigmas) nothing leaks
    rng = np.random.default_rng(5)
    img = np.full((3, 40, 48), 0.2, np.float32)
    img[:, :, 24:] = 0.8
    noisy = (img + rng.normal(0, 0.02, img.shape)).astype(np.float32)
    out = interpret(FILTERS["bilateral_grid"]().pipeline, input=noisy)
    assert np.abs(out - img).std() < 0.5 * np.abs(noisy - img).std()
    np.testing.assert_allclose(out[:, :, 22:26].mean(axis=(0, 1)), [0.2, 0.2, 0.8, 0.8], atol=0.01)

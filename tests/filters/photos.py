"""The bundled photographs, downscaled for speed, as the filters' test inputs.

Downscaling is done with Pillow (box filter over whole pixels) so the inputs are real photographic
content (edges, texture, flat sky) at sizes the interpreter handles in well under a second.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

IMAGES = Path(__file__).resolve().parent.parent.parent / "images"


@functools.cache
def _photo(stem: str, width: int) -> np.ndarray:
    with Image.open(IMAGES / f"{stem}.png") as img:
        rgb = img.convert("RGB")
        height = round(rgb.height * width / rgb.width)
        small = rgb.resize((width, height), Image.Resampling.BOX)
    return np.ascontiguousarray(np.moveaxis(np.asarray(small), -1, 0).astype(np.float32) / 255)


def photo(stem: str = "chelsea", width: int = 150) -> np.ndarray:
    """A bundled photograph as float32 (3, H, W) in [0, 1], `width` pixels wide (a fresh copy)."""
    return _photo(stem, width).copy()


def grey_of(img: np.ndarray) -> np.ndarray:
    """BT.601 luminance in float32, in the pipelines' order of operations (so that values that
    are quantized or binned afterwards land in the same bin)."""
    f32 = np.float32
    return f32(0.299) * img[0] + f32(0.587) * img[1] + f32(0.114) * img[2]


PHOTOS = ("chelsea", "coffee", "astronaut")

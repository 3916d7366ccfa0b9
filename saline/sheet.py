"""Contact sheets: several images side by side in one picture, each labelled.

After `contact_sheet(rows, labels)`: an RGB uint8 array (H, W, 3) with one row per entry of
`rows`, each image scaled to `height` pixels high (aspect kept) and converted as `save_image`
would convert it (floats clipped to [0, 1]; grey and RGBA shown as RGB), with its label
written above it. `rows` may hold rows of different lengths and images of different sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

GAP = 8  # pixels between cells
LABEL = 14  # pixels of text above each cell


def _rgb(image: np.ndarray) -> Image.Image:
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3, 4):
        raise ValueError(f"contact sheet: expected (H, W) or (C, H, W) with C in 1, 3, 4, got shape {a.shape}")
    a = a[:3] if a.shape[0] >= 3 else np.repeat(a, 3, axis=0)
    if a.dtype.kind == "f":
        a = np.round(np.nan_to_num(np.clip(a, 0.0, 1.0)) * 255.0)
    pixels = np.moveaxis(np.clip(a, 0, 255).astype(np.uint8), 0, -1)
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def contact_sheet(
    rows: Sequence[Sequence[np.ndarray]], labels: Sequence[Sequence[str]], height: int = 160
) -> np.ndarray:
    """The images of `rows`, labelled by `labels` (same nesting), as one RGB picture."""
    if len(rows) != len(labels) or any(len(r) != len(lab) for r, lab in zip(rows, labels)):
        raise ValueError("contact sheet: labels must match the images row by row")
    cells = [[_rgb(image) for image in row] for row in rows]
    scaled = [
        [c.resize((max(1, round(c.width * height / max(c.height, 1))), height), Image.Resampling.BILINEAR) for c in row]
        for row in cells
    ]
    width = max((sum(c.width for c in row) + GAP * (len(row) + 1) for row in scaled), default=GAP)
    sheet = Image.new("RGB", (width, GAP + len(scaled) * (LABEL + height + GAP)), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    top = GAP
    for row, texts in zip(scaled, labels):
        left = GAP
        for cell, text in zip(row, texts):
            draw.text((left, top), text, fill=(230, 230, 230))
            sheet.paste(cell, (left, top + LABEL))
            left += cell.width + GAP
        top += LABEL + height + GAP
    return np.asarray(sheet)

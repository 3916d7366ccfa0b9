"""Reading and writing images as numpy arrays laid out for Saline pipelines.

Axis order: numpy axes are the reverse of Func arguments, so a colour image read here is a
`(C, H, W)` array (planar, C-contiguous) that an `ImageParam(float32, 3, "input")` indexes as
`input[x, y, c]`; a grey image is `(H, W)`, indexed as `input[x, y]`.

    img = load_image("images/chelsea.png")          # (3, 300, 451) float32 in [0, 1]
    save_image("out.png", img[:, ::-1, :])          # written upside down

Values: float arrays hold [0, 1] (from 8-bit files, v / 255; from 16-bit files, v / 65535);
uint8 arrays hold 0..255 and uint16 arrays 0..65535. Other integer types are refused, with a
message that says what to ask for instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["load_image", "save_image"]

# Pillow modes read as one grey channel, with the largest value of their range.
_GREY_MODES = {"1": 255, "L": 255, "I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}
SAVE_EXTENSIONS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _numpy_dtype(dtype: Any) -> np.dtype:
    """Accept a Saline DType (it has `.numpy`), a numpy dtype, a type or a name."""
    target = getattr(dtype, "numpy", dtype)
    try:
        return np.dtype(target)
    except TypeError as err:
        raise TypeError(f"load_image: expected a dtype such as saline.float32, got {dtype!r}") from err


def _open(path: Path) -> Image.Image:
    """The decoded image, or an error that names the file and what is wrong with it."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not an image file")
    try:
        img = Image.open(path)
        img.load()  # Image.open is lazy: truncated or corrupt data only shows up here
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image file Pillow can read") from None
    except Image.DecompressionBombError as err:  # not an OSError: a header claiming billions of pixels
        raise ValueError(f"{path}: image too large to decode safely: {err}") from None
    except PermissionError:
        raise PermissionError(f"{path}: permission denied") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: cannot decode image (truncated or corrupt?): {err}") from None
    return img


def _pixels(img: Image.Image, path: Path, alpha: bool) -> tuple[np.ndarray, int]:
    """(array as (H, W) or (H, W, C), largest value of the file's range); the channels are
    grey, RGB or RGBA (RGBA only when `alpha` is asked for and the file has one)."""
    mode = img.mode
    if mode in _GREY_MODES:
        a = np.asarray(img.convert("L") if mode == "1" else img)
        if mode == "I" and a.size and (a.min() < 0 or a.max() > 65535):
            raise ValueError(f"{path}: 32-bit integer pixels outside 0..65535 are not supported")
        return a, _GREY_MODES[mode]
    if mode == "F":
        return np.asarray(img), 0  # already float: no range to scale by
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info)
    if mode in ("LA", "La") and not alpha:
        return np.asarray(img.convert("L")), 255
    if mode in ("LA", "La"):
        return np.asarray(img.convert("LA")), 255
    target = "RGBA" if (alpha and has_alpha) else "RGB"
    return np.asarray(img.convert(target)), 255


def _convert(a: np.ndarray, top: int, dtype: np.dtype, path: Path) -> np.ndarray:
    if dtype.kind == "f":
        out = a.astype(dtype)
        if top:
            out /= dtype.type(top)
        return out
    if top == 0:
        raise TypeError(f"{path}: holds floating-point pixels; load it with a float dtype, not {dtype}")
    if dtype == np.uint8:
        return a.astype(np.uint8) if top == 255 else np.round(a / 257.0).astype(np.uint8)
    if dtype == np.uint16:
        return a.astype(np.uint16) if top == 65535 else (a.astype(np.uint16) * 257)
    raise TypeError(
        f"load_image: dtype {dtype} is not supported; ask for float32 or float64 (values in [0, 1]), "
        f"uint8 (0..255) or uint16 (0..65535)"
    )


def load_image(path: str | os.PathLike, dtype: Any = np.float32, *, alpha: bool = False) -> np.ndarray:
    """Read an image file into a C-contiguous array: grey -> (H, W), colour -> (C, H, W).

    Colour images come back as RGB (C = 3): palette, CMYK and other colour modes are converted,
    and an alpha channel is dropped unless `alpha=True` (then C = 4 for images that have one,
    and grey-with-alpha gives (2, H, W)). Grey images of 1, 8 or 16 bits give (H, W).
    16-bit colour files are reduced to 8 bits by Pillow.

    `dtype` (a Saline or numpy dtype): float32/float64 scale to [0, 1]; uint8 keeps 0..255
    (16-bit files are rounded down to 8 bits); uint16 keeps 16-bit values (8-bit ones are
    multiplied by 257). Raises FileNotFoundError or ValueError naming the file when it is
    missing, not an image, truncated, corrupt or (by its header) too large to decode safely.

        img = load_image("images/coffee.png")       # (3, 400, 600) float32
        img[0, 10, 20]                              # red at row y=10, column x=20
    """
    path = Path(path)
    target = _numpy_dtype(dtype)
    with _open(path) as img:
        a, top = _pixels(img, path, alpha)
    a = _convert(a, top, target, path)
    if a.ndim == 3:
        a = np.moveaxis(a, -1, 0)
    return np.ascontiguousarray(a)


def _to_uint8(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if array.dtype.kind == "f":
        clean = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        return np.round(np.clip(clean, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise TypeError(f"{path}: cannot save an array of {array.dtype}; pass floats in [0, 1] or uint8 in 0..255")


def save_image(path: str | os.PathLike, array: Any) -> None:
    """Write `array` as a PNG or JPEG file, chosen by the extension of `path`.

    `array` is (H, W) or (C, H, W) with C in {1, 3, 4} (grey, RGB, RGBA; JPEG takes 1 or 3).
    Floats are clipped to [0, 1] and scaled to 0..255 (NaN -> 0, +inf -> 255); uint8 and bool
    are written as they are. Raises ValueError naming the file for other shapes or extensions.

        save_image("blurred.png", compiled(input=img))
    """
    path = Path(path)
    fmt = SAVE_EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(SAVE_EXTENSIONS))
        raise ValueError(f"{path}: cannot tell the format from the extension {path.suffix!r}; use one of {known}")
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4):
        pixels = np.moveaxis(array, 0, -1)
        if array.shape[0] == 1:
            pixels = pixels[..., 0]
    elif array.ndim == 2:
        pixels = array
    else:
        raise ValueError(
            f"{path}: cannot save an array of shape {array.shape}; expected (H, W) or (C, H, W) with C in 1, 3, 4 "
            f"(for an interleaved (H, W, C) array pass np.moveaxis(array, -1, 0))"
        )
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"{path}: cannot save an empty image of shape {array.shape}")
    if fmt == "JPEG" and pixels.ndim == 3 and pixels.shape[-1] == 4:
        raise ValueError(f"{path}: JPEG has no alpha channel; pass 3 channels (array[:3]) or save as .png")
    img = Image.fromarray(np.ascontiguousarray(_to_uint8(pixels, path)))
    try:
        img.save(path, format=fmt)
    except OSError as err:
        raise type(err)(f"{path}: cannot write image: {err.strerror or err}") from None

"""Benchmark 1: the 3x3 separable box blur, float32, in Saline and in its peers.

    blur_x[x, y] = (input[x, y] + input[x + 1, y] + input[x + 2, y]) / 3
    blur_y[x, y] = (blur_x[x, y] + blur_x[x, y + 1] + blur_x[x, y + 2]) / 3

The output is 2 pixels smaller than the input in each dimension: output[y, x] is the mean of
input[y:y+3, x:x+3]. Every row's output is checked against numpy slicing (the same two means in
float32); Saline variants are also checked against the reference interpreter on a small crop
whose size divides by none of the tile sizes. OpenCV and scipy filter the whole input with a
replicated border and the result is cropped by one pixel on every side (the interior they keep
reads no border pixel; the timing includes the two extra rows and columns they compute).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench import blur_halide
from bench.workload import Candidate, Workload, optional
from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, float32
from pipelines.interpret import interpret
from scheduler.schedule import Schedule

BENCHMARK = "blur"
SIZES = ((2560, 1536), (6000, 4000))
CROP = (77, 45)  # (W, H) of the interpreter check


# ---------------------------------------------------------------- Saline


class SalineBlur:
    """The algorithm once; each schedule below is applied to it, never stored in it."""

    def __init__(self) -> None:
        self.x, self.y = Var("x"), Var("y")
        x, y = self.x, self.y
        image = ImageParam(float32, 2, "input")
        self.blur_x, self.blur_y = Func("blur_x"), Func("blur_y")
        self.blur_x[x, y] = (image[x, y] + image[x + 1, y] + image[x + 2, y]) / 3
        self.blur_y[x, y] = (self.blur_x[x, y] + self.blur_x[x, y + 1] + self.blur_x[x, y + 2]) / 3
        self.pipeline = Pipeline(self.blur_y)


def _tiled(tx: int, ty: int, vec: int = 8) -> Callable[[SalineBlur], Schedule]:
    def schedule(b: SalineBlur) -> Schedule:
        xo, yo, xi, yi = Var("xo"), Var("yo"), Var("xi"), Var("yi")
        s = Schedule()
        s[b.blur_y].tile(b.x, b.y, xo, yo, xi, yi, tx, ty).vectorize(xi, vec).parallel(yo)
        s[b.blur_x].compute_at(b.blur_y, xo).vectorize(b.x, vec)
        return s

    return schedule


def _strips(rows: int, vec: int = 8, sliding: bool = False) -> Callable[[SalineBlur], Schedule]:
    """Rows split by `rows`, strips in parallel; blur_x computed per strip, or (sliding) stored
    per strip and computed per output row, Halide's apps/blur schedule."""

    def schedule(b: SalineBlur) -> Schedule:
        yo, yi = Var("yo"), Var("yi")
        s = Schedule()
        s[b.blur_y].split(b.y, yo, yi, rows).parallel(yo).vectorize(b.x, vec)
        if sliding:
            s[b.blur_x].store_at(b.blur_y, yo).compute_at(b.blur_y, yi).vectorize(b.x, vec)
        else:
            s[b.blur_x].compute_at(b.blur_y, yo).vectorize(b.x, vec)
        return s

    return schedule


def _root(b: SalineBlur) -> Schedule:
    s = Schedule()
    s[b.blur_x].compute_root().vectorize(b.x, 8).parallel(b.y)
    s[b.blur_y].vectorize(b.x, 8).parallel(b.y)
    return s


def _inline(b: SalineBlur) -> Schedule:
    """blur_x inlined (nine loads per output, no intermediate), rows in parallel."""
    s = Schedule()
    s[b.blur_y].vectorize(b.x, 8).parallel(b.y)
    return s


def _vec(b: SalineBlur) -> Schedule:
    """blur_x inlined, vectorized, serial: the one-thread reference for the parallel variants."""
    s = Schedule()
    s[b.blur_y].vectorize(b.x, 8)
    return s


SCHEDULES: dict[str, Callable[[SalineBlur], Schedule | None]] = {
    "default": lambda b: None,
    "root": _root,
    "hand": _tiled(256, 32),  # the classic schedule
    "tile256x32_v16": _tiled(256, 32, vec=16),
    "tile512x16": _tiled(512, 16),
    "tile1024x64": _tiled(1024, 64),
    "strip32": _strips(32),
    "strip8": _strips(8),
    "sliding32": _strips(32, sliding=True),
    "sliding16": _strips(16, sliding=True),
    "inline": _inline,
    "vec": _vec,
}
MISSING_VARIANTS = {
    "auto": "Saline has no autoscheduler yet (scheduler/)",
    "tuned": "Saline has no tuner yet (scheduler/)",
}


def _saline(a: np.ndarray, threads: int, name: str, crop: np.ndarray, expected: np.ndarray) -> Candidate:
    built: dict[str, Any] = {}

    def setup() -> Callable[[], Any]:
        b = SalineBlur()
        compiled = compile(b.pipeline, SCHEDULES[name](b), threads=threads)
        out = np.empty((a.shape[0] - 2, a.shape[1] - 2), np.float32)
        built["compiled"] = compiled
        return lambda: compiled(out=out, input=a)

    def check() -> bool:
        got = built["compiled"](shape=expected.shape, input=crop)
        return bool(np.allclose(got, expected, rtol=1e-6, atol=1e-7))

    return Candidate("saline", name, setup, check)


def saline_candidates(a: np.ndarray, threads: int, variants: Sequence[str] | None) -> tuple[list[Candidate], list[str]]:
    names = list(SCHEDULES) if variants is None else list(variants)
    notes = [f"saline {n}: skipped ({MISSING_VARIANTS[n]})" for n in names if n in MISSING_VARIANTS]
    unknown = [n for n in names if n not in SCHEDULES and n not in MISSING_VARIANTS]
    if unknown:
        raise ValueError(f"unknown Saline variant(s) {', '.join(unknown)}; choose from {', '.join(SCHEDULES)}")
    w, h = min(CROP[0], a.shape[1]), min(CROP[1], a.shape[0])
    crop = np.ascontiguousarray(a[:h, :w])
    expected = interpret(SalineBlur().pipeline, shape=(h - 2, w - 2), input=crop)
    return [_saline(a, threads, n, crop, expected) for n in names if n in SCHEDULES], notes


# ---------------------------------------------------------------- numpy, scipy, OpenCV


def numpy_slicing(a: np.ndarray) -> np.ndarray:
    bx = (a[:, :-2] + a[:, 1:-1] + a[:, 2:]) / 3
    return (bx[:-2] + bx[1:-1] + bx[2:]) / 3


def numpy_candidates(a: np.ndarray) -> list[Candidate]:
    return [Candidate("numpy", "slicing", lambda: lambda: numpy_slicing(a), note="numpy runs on one thread")]


def scipy_candidates(a: np.ndarray) -> list[Candidate]:
    def setup() -> Callable[[], Any]:
        ndimage = optional("scipy.ndimage", "scipy")
        full = np.empty_like(a)

        def run() -> np.ndarray:
            ndimage.uniform_filter(a, size=3, output=full, mode="nearest")
            return full[1:-1, 1:-1]

        return run

    return [Candidate("scipy", "uniform_filter", setup, note="scipy.ndimage runs on one thread")]


def opencv_candidates(a: np.ndarray, threads: int) -> list[Candidate]:
    def setup(variant: str) -> Callable[[], Any]:
        cv2 = optional("cv2", "opencv-python-headless")
        cv2.setNumThreads(threads)
        full = np.empty_like(a)
        k = np.full(3, 1 / 3, np.float32)
        if variant == "sepFilter2D":
            call = lambda: cv2.sepFilter2D(a, cv2.CV_32F, k, k, dst=full, borderType=cv2.BORDER_REPLICATE)  # noqa: E731
        else:
            call = lambda: cv2.blur(a, (3, 3), dst=full, borderType=cv2.BORDER_REPLICATE)  # noqa: E731

        def run() -> np.ndarray:
            call()
            return full[1:-1, 1:-1]

        return run

    return [Candidate("opencv", v, lambda v=v: setup(v)) for v in ("sepFilter2D", "blur")]


# ---------------------------------------------------------------- PyTorch


def torch_candidates(a: np.ndarray, threads: int, eager: bool, compiled: bool) -> list[Candidate]:
    def tensors() -> tuple[Any, Any]:
        torch = optional("torch", "torch==2.13.0")
        torch.set_num_threads(threads)
        return torch, torch.from_numpy(a)

    def slicing(t: Any) -> Any:
        bx = (t[:, :-2] + t[:, 1:-1] + t[:, 2:]) / 3
        return (bx[:-2] + bx[1:-1] + bx[2:]) / 3

    def eager_setup(variant: str) -> Callable[[], Any]:
        torch, t = tensors()
        if variant == "slicing":
            return lambda: slicing(t)
        f = torch.nn.functional
        t4 = t[None, None]
        if variant == "conv2d":
            w9 = torch.full((1, 1, 3, 3), 1 / 9, dtype=torch.float32)
            return lambda: f.conv2d(t4, w9)[0, 0]
        wx = torch.full((1, 1, 1, 3), 1 / 3, dtype=torch.float32)
        wy = torch.full((1, 1, 3, 1), 1 / 3, dtype=torch.float32)
        return lambda: f.conv2d(f.conv2d(t4, wx), wy)[0, 0]

    def compile_setup() -> Callable[[], Any]:
        torch, t = tensors()
        fn = torch.compile(slicing, dynamic=False)
        return lambda: fn(t)

    out = []
    if eager:
        out += [Candidate("torch", v, lambda v=v: eager_setup(v)) for v in ("slicing", "conv2d", "conv2d_sep")]
    if compiled:
        out.append(Candidate("torch.compile", "slicing", compile_setup))
    return out


# ---------------------------------------------------------------- the suite


def workload(size: tuple[int, int], threads: int, peers: Sequence[str], variants: Sequence[str] | None) -> Workload:
    w, h = size
    a = np.random.default_rng(0).random((h, w), dtype=np.float32)
    reference = numpy_slicing(a)
    candidates, notes = saline_candidates(a, threads, variants)
    if "numpy" in peers:
        candidates += numpy_candidates(a)
    if "scipy" in peers:
        candidates += scipy_candidates(a)
    if "opencv" in peers:
        candidates += opencv_candidates(a, threads)
    if "torch" in peers or "torch.compile" in peers:
        candidates += torch_candidates(a, threads, "torch" in peers, "torch.compile" in peers)
    if "halide" in peers:
        candidates += blur_halide.candidates(a, threads)
    return Workload(BENCHMARK, size, reference, 4 * (w * h + (w - 2) * (h - 2)), candidates, notes)

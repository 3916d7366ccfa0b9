"""Benchmark suite `apps`: every standard filter (pipelines.filters.FILTERS) on a photograph, in
Saline and in its peers, one benchmark per filter.

    python -m bench --suite apps --threads 2                 all filters at 2560x1536
    python -m bench --bench harris,median3x3 --threads 2      some of them

The input is the bundled photograph images/coffee.png, resized (Lanczos) to the benchmark's size
and given to the filter's `prepare` where it has one (the camera pipe's Bayer mosaic,
interpolate's sparse alpha); the params are the filter's defaults. Rows:
- saline `hand` (saline.hand_schedules) and `auto` (scheduler.auto); the hand schedule is
  compiled first, under `--compile-timeout`, and its output at full size is the reference every
  row is checked against (the auto output where the hand schedule fails to compile or run);
  each Saline row is also checked against the reference interpreter on a small photograph
  (CHECK_WIDTH pixels wide), which is where the reference's own correctness comes from;
- halide `manual` and `mullapudi2016`, from bench.apps_halide (the small apps) and
  bench.apps_halide_large (bilateral_grid, local_laplacian, interpolate, camera_pipe) where that
  module and its entry exist (otherwise a note says there is no Halide row);
- OpenCV and numpy where they compute the same thing (peer_candidates below), each channel plane filtered
  on its own. OpenCV's cornerHarris treats the border differently (it replicates the summed
  products, Saline the grey), so its row is compared without the 2 pixels at each side; the
  equalization and colour rows compute their grey and ratios in numpy (one thread).
`summary`, printed by the harness after the suite, divides Saline hand by Halide manual per
filter, against TARGET.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from bench.workload import Candidate, Workload, optional
from codegen.compile import CompiledPipeline, compile
from pipelines.filters import FILTERS, Filter
from pipelines.interpret import interpret
from saline.hand_schedules import hand_schedule
from scheduler.auto import auto_schedule
from scheduler.schedule import Schedule

if TYPE_CHECKING:  # the harness imports this module
    from bench.harness import Row

SIZES = ((2560, 1536),)
BENCHMARKS = tuple(FILTERS)
VARIANTS = ("hand", "auto")
PHOTO = Path(__file__).resolve().parent.parent / "images" / "coffee.png"
CHECK_WIDTH = 100  # of the photograph each Saline row is checked on against the interpreter
HALIDE_MODULES = ("bench.apps_halide", "bench.apps_halide_large")
TOLERANCE = {"harris": (1e-4, 1e-8), "camera_pipe": (0.0, 1.0), "local_laplacian": (1e-4, 1e-2)}
"""(rtol, atol) of every row against the reference where the default (1e-4, 1e-6) does not fit:
Harris responses are ~1e-3 at corners and far smaller elsewhere; camera_pipe is uint8, and a
peer may round a LUT entry apart; in local_laplacian, Halide's rows differ from Saline's on ~0.01%
of the pixels, by up to 0.007 (a pixel that lands on the next level of the remapping: likely a
fused multiply-add, as the bins of equalize_histogram moved before its Halide grey was strict).
Saline rows are also checked against the interpreter within CHECK_TOLERANCE, or the app's atol
where it is smaller."""
CHECK_TOLERANCE = (1e-5, 1e-6)  # libm's exp and pow against numpy's: ~3e-7 on values near 0


@dataclass(frozen=True)
class Target:
    """Saline's `variant` over the `baseline` row: at most `per_benchmark` on every benchmark,
    and at most `geomean` as a geometric mean (see `summary`)."""

    variant: str
    baseline: tuple[str, str]
    per_benchmark: float
    geomean: float


TARGET = Target("hand", ("halide", "manual"), 1.0, 0.9)


@dataclass
class Peer(Candidate):
    """A peer compared with its own tolerance (None: the workload's), leaving out `crop` pixels
    at each side of the image, where its border rule differs from Saline's."""

    rtol: float | None = None
    atol: float | None = None
    crop: int = 0


def _halide_apps() -> tuple[dict[str, Callable[..., list[Candidate]]], list[str]]:
    """APPS of the Halide modules that exist (they import halide only when a row is set up)."""
    found: dict[str, Callable[..., list[Candidate]]] = {}
    missing = []
    for name in HALIDE_MODULES:
        if importlib.util.find_spec(name) is None:
            missing.append(name)
        else:
            found.update(importlib.import_module(name).APPS)
    return found, missing


HALIDE_APPS, MISSING_HALIDE_MODULES = _halide_apps()


# ---------------------------------------------------------------- inputs


@functools.cache
def photograph(width: int, height: int) -> np.ndarray:
    """PHOTO resized to width x height, float32 (3, H, W) in [0, 1] (cached: do not modify)."""
    with Image.open(PHOTO) as img:
        resized = img.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.moveaxis(np.asarray(resized), -1, 0).astype(np.float32) / 255)


def app_input(f: Filter, width: int, height: int) -> np.ndarray:
    """The filter's input made from the photograph at this size."""
    photo = photograph(width, height)
    return np.ascontiguousarray(f.prepare(photo)) if f.prepare is not None else photo


# ---------------------------------------------------------------- Saline


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise TimeoutError in `what` after `seconds` (SIGALRM: the main thread only; None: no
    limit). Lowering is Python, so the error lands in it; a gcc run is killed by subprocess."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"{what} took longer than {seconds:g} s (--compile-timeout)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _schedule(f: Filter, variant: str) -> Schedule:
    return hand_schedule(f) if variant == "hand" else auto_schedule(f.pipeline)


@dataclass
class Built:
    """A Saline variant compiled, with the seconds it took, or the error it raised (raised again
    by its row's setup, so that the harness reports it as that row's failure)."""

    compiled: CompiledPipeline | None
    seconds: float
    error: Exception | None = None


def build(f: Filter, variant: str, threads: int, timeout: float | None) -> Built:
    start = time.perf_counter()
    try:
        with time_limit(timeout, f"compiling saline {variant} of {f.name}"):
            compiled = compile(f.pipeline, _schedule(f, variant), threads=threads)
    except Exception as err:  # kept, and raised again by the row's setup
        return Built(None, time.perf_counter() - start, err)
    return Built(compiled, time.perf_counter() - start)


def _checker(
    built: Built, small: np.ndarray, expected: np.ndarray, params: dict[str, Any], atol: float
) -> Callable[[], bool]:
    """The check of a Saline row: its output on `small` against the interpreter's, `expected`
    (floats within CHECK_TOLERANCE, or `atol` where smaller; integers exactly)."""
    rtol, atol = (CHECK_TOLERANCE[0], min(CHECK_TOLERANCE[1], atol)) if expected.dtype.kind == "f" else (0.0, 0.0)

    def check() -> bool:
        assert built.compiled is not None
        got = built.compiled(shape=expected.shape, input=small, **params)
        return got.dtype == expected.dtype and bool(np.allclose(got, expected, rtol=rtol, atol=atol))

    return check


def saline_candidate(
    f: Filter, variant: str, a: np.ndarray, params: dict[str, Any], built: Built, check: Callable[[], bool]
) -> Candidate:
    def setup() -> Callable[[], Any]:
        if built.error is not None:
            raise built.error
        compiled = built.compiled
        assert compiled is not None
        out = compiled(shape=f.output_shape(a.shape, params), input=a, **params)
        return lambda: compiled(out=out, input=a, **params)

    return Candidate("saline", variant, setup, check, note=f"compiled in {built.seconds:.1f} s")


# ---------------------------------------------------------------- OpenCV and numpy


def _planes(cv2_call: Callable[[np.ndarray, np.ndarray], Any], a: np.ndarray, out: np.ndarray) -> np.ndarray:
    for src, dst in zip(a, out, strict=True):
        cv2_call(src, dst)
    return out


def _grey(a: np.ndarray) -> np.ndarray:
    """BT.601 luminance in float32, in the pipelines' order of operations."""
    f32 = np.float32
    return f32(0.299) * a[0] + f32(0.587) * a[1] + f32(0.114) * a[2]


def _cv2(threads: int) -> Any:
    cv2 = optional("cv2", "opencv-python-headless")
    cv2.setNumThreads(threads)
    return cv2


def _opencv_stencils(name: str, a: np.ndarray, params: dict[str, Any], shape: tuple[int, ...], threads: int) -> Any:
    """The run of an OpenCV row that filters each channel plane, or None for other filters."""
    cv2 = _cv2(threads)
    out = np.empty(shape, np.float32)
    border = cv2.BORDER_REPLICATE
    if name == "box_blur":
        return lambda: _planes(lambda s, d: cv2.blur(s, (3, 3), dst=d, borderType=border), a, out)
    if name == "gaussian_blur":
        sigma = max(float(params["sigma"]), 1e-3)
        k = 2 * math.ceil(3 * sigma) + 1
        return lambda: _planes(lambda s, d: cv2.GaussianBlur(s, (k, k), sigma, dst=d, borderType=border), a, out)
    if name == "median3x3":
        return lambda: _planes(lambda s, d: cv2.medianBlur(s, 3, dst=d), a, out)
    size = (shape[2], shape[1])
    method = cv2.INTER_LINEAR if name == "resize_bilinear" else cv2.INTER_CUBIC
    return lambda: _planes(lambda s, d: cv2.resize(s, size, dst=d, interpolation=method), a, out)


def _opencv_mixed(name: str, a: np.ndarray, params: dict[str, Any], threads: int) -> Callable[[], Any]:
    """OpenCV for the stencil or table, numpy (one thread) for grey and the per-pixel steps."""
    cv2 = _cv2(threads)
    border = cv2.BORDER_REPLICATE
    if name == "unsharp_mask":
        sigma = max(float(params["sigma"]), 1e-3)
        k, amount = 2 * math.ceil(3 * sigma) + 1, np.float32(params["amount"])

        def unsharp() -> np.ndarray:
            grey = _grey(a)
            blurred = cv2.GaussianBlur(grey, (k, k), sigma, borderType=border)
            ratio = (grey + amount * (grey - blurred)) / np.maximum(grey, np.float32(1e-4))
            return np.clip(a * ratio, 0, 1)

        return unsharp
    if name == "sobel":

        def sobel() -> np.ndarray:
            grey = _grey(a)
            gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, borderType=border)
            gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, borderType=border)
            return np.broadcast_to(cv2.magnitude(gx, gy), a.shape)

        return sobel
    if name == "harris":
        k = float(params["k"])
        return lambda: np.broadcast_to(cv2.cornerHarris(_grey(a), 3, 3, k, borderType=border), a.shape)

    def equalize() -> np.ndarray:
        grey = _grey(a)
        bins = np.clip(np.rint(grey * np.float32(255)), 0, 255).astype(np.uint8)
        equalized = cv2.equalizeHist(bins)
        ratio = equalized.astype(np.float32) / np.float32(255) / np.maximum(grey, np.float32(1e-4))
        return np.clip(a * ratio, 0, 1)

    return equalize


def _numpy(name: str, a: np.ndarray, params: dict[str, Any]) -> Callable[[], Any]:
    f32 = np.float32
    if name == "brightness_contrast_gamma":
        contrast, brightness = f32(params["contrast"]), f32(params["brightness"])
        exponent = f32(1) / max(f32(params["gamma"]), f32(1e-3))

        def tone() -> np.ndarray:
            level = np.clip((a - f32(0.5)) * contrast + f32(0.5) + brightness, 0, 1)
            return np.where(level > 0, level**exponent, f32(0))

        return tone
    m = np.array([[params[f"m{r}{k}"] for k in range(3)] for r in range(3)], np.float32)
    offset = np.array([params[f"offset{r}"] for r in range(3)], np.float32)[:, None]
    flat = a.reshape(3, -1)
    return lambda: (m @ flat + offset).reshape(a.shape)


def _cv2_transform(a: np.ndarray, params: dict[str, Any], threads: int) -> Callable[[], Any]:
    """cv2.transform on an interleaved copy of the input (made before timing), giving an
    interleaved output, returned as a planar view."""
    cv2 = _cv2(threads)
    matrix = np.array([[params[f"m{r}{k}"] for k in range(3)] + [params[f"offset{r}"]] for r in range(3)], np.float32)
    packed = np.ascontiguousarray(np.moveaxis(a, 0, -1))
    out = np.empty_like(packed)
    return lambda: np.moveaxis(cv2.transform(packed, matrix, dst=out), -1, 0)


STENCILS = ("box_blur", "gaussian_blur", "median3x3", "resize_bilinear", "resize_bicubic")
MIXED = {
    "unsharp_mask": "GaussianBlur+numpy",
    "sobel": "Sobel",
    "harris": "cornerHarris",
    "equalize_histogram": "equalizeHist+numpy",
}
NUMPY = {"brightness_contrast_gamma": "ufuncs", "colour_matrix": "matmul"}
NO_PEER = "OpenCV and numpy have no filter that computes the same thing"


def peer_candidates(
    name: str, a: np.ndarray, params: dict[str, Any], shape: tuple[int, ...], threads: int, peers: Sequence[str]
) -> tuple[list[Candidate], list[str]]:
    """OpenCV and numpy rows for the filter `name` (PEERS in the module docstring), with notes."""
    rows: list[Candidate] = []
    if "opencv" in peers and name in STENCILS:
        if name == "resize_bicubic" and float(params["a"]) != -0.75:
            return rows, [f"opencv: skipped (cv2.resize's cubic has a = -0.75, the filter {params['a']})"]
        variant = {"box_blur": "blur", "gaussian_blur": "GaussianBlur", "median3x3": "medianBlur"}.get(name, "resize")
        rows.append(Peer("opencv", variant, lambda: _opencv_stencils(name, a, params, shape, threads)))
    if "opencv" in peers and name in MIXED:
        setup = functools.partial(_opencv_mixed, name, a, params, threads)
        if name == "harris":
            note = "grey in numpy; the border differs (summed products replicated): compared without 2 pixels a side"
            rows.append(Peer("opencv", MIXED[name], setup, note=note, crop=2))
        else:
            rows.append(Peer("opencv", MIXED[name], setup, note="grey and the per-pixel steps in numpy (one thread)"))
    if "opencv" in peers and name == "colour_matrix":
        note = "interleaved (H, W, 3) input and output: the input is interleaved before timing"
        rows.append(Peer("opencv", "transform", lambda: _cv2_transform(a, params, threads), note=note))
    if "numpy" in peers and name in NUMPY:
        rows.append(Peer("numpy", NUMPY[name], lambda: _numpy(name, a, params), note="numpy: one thread, or BLAS's"))
    notes = [] if rows or not {"opencv", "numpy"} & set(peers) else [NO_PEER]
    return rows, notes


# ---------------------------------------------------------------- the suite


def _variants(variants: Sequence[str] | None) -> list[str]:
    names = list(VARIANTS) if variants is None else list(variants)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown Saline variant(s) {', '.join(unknown)} for apps; choose from {', '.join(VARIANTS)}")
    return names


def _reference(
    f: Filter, built: dict[str, Built], a: np.ndarray, params: dict[str, Any], shape: tuple[int, ...]
) -> tuple[np.ndarray, str]:
    """The output of the first Saline variant that compiled (hand before auto), and its name."""
    for variant, b in built.items():
        if b.compiled is not None:
            return b.compiled(shape=shape, input=a, **params), variant
    errors = "; ".join(f"{v}: {type(b.error).__name__}: {b.error}" for v, b in built.items())
    raise RuntimeError(f"{f.name}: no Saline variant compiled, so there is no reference ({errors or 'none run'})")


def workload(
    size: tuple[int, int],
    threads: int,
    peers: Sequence[str],
    variants: Sequence[str] | None,
    benchmark: str,
    compile_timeout: float | None = None,
) -> Workload:
    """The rows of one filter at `size` (module docstring); Saline variants are compiled here."""
    names, notes = _variants(variants), []
    f = FILTERS[benchmark]()
    params = f.defaults()
    width, height = size
    a = app_input(f, width, height)
    shape = f.output_shape(a.shape, params)
    built = {v: build(f, v, threads, compile_timeout) for v in names}
    reference, source = _reference(f, built, a, params, shape)
    notes.append(f"reference: the output of saline {source} (checked against the interpreter at {CHECK_WIDTH} px wide)")
    small = app_input(f, CHECK_WIDTH, round(CHECK_WIDTH * height / width))
    expected = interpret(f.pipeline, shape=f.output_shape(small.shape, params), input=small, **params)
    rtol, atol = TOLERANCE.get(benchmark, (1e-4, 1e-6))
    candidates = [
        saline_candidate(f, v, a, params, built[v], _checker(built[v], small, expected, params, atol)) for v in names
    ]
    rows, peer_notes = peer_candidates(benchmark, a, params, tuple(reference.shape), threads, peers)
    candidates += rows
    notes += peer_notes
    if "halide" in peers:
        if benchmark in HALIDE_APPS:
            candidates += HALIDE_APPS[benchmark](a, params, threads)
        else:
            where = ", ".join(MISSING_HALIDE_MODULES) or "the Halide modules"
            notes.append(f"halide: no rows (no Halide version of {benchmark} in {where})")
    return Workload(benchmark, size, reference, a.nbytes + reference.nbytes, candidates, notes, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- the summary


def _best(rows: Sequence[Row], system: str, variant: str) -> Row | None:
    found = [r for r in rows if (r.record.system, r.record.variant) == (system, variant) and r.record.correct]
    return min(found, key=lambda r: r.record.median_ms, default=None)


def _cell(value: float | None, width: int) -> str:
    return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}"


def summary(results: Sequence[tuple[str, Sequence[Row]]], threads: int, target: Target = TARGET) -> str:
    """Per filter, the medians of Saline's `target.variant` and of the baseline row (timed in the
    same interleaved rounds) and their ratio, with Saline auto and Halide mullapudi2016 over the
    same baseline; the geometric mean of the ratios; and a `TARGET MISSED:` line for each ratio
    over `target.per_benchmark`, for a geometric mean over `target.geomean`, and for the filters
    with no ratio (a row missing, failed or wrong: only correct rows count)."""
    system, variant = target.baseline
    ours, theirs = f"saline {target.variant}", f"{system} {variant}"
    lines = [
        f"summary, {threads} thread(s): Saline {target.variant} over {theirs} (medians of the same interleaved rounds)",
        f"{'benchmark':<28}{target.variant + ' ms':>10}{variant + ' ms':>11}{'ratio':>8}"
        f"{'auto/man':>10}{'mullapudi/man':>15}",
    ]
    ratios, missing, over = [], [], []
    for name, rows in results:
        base, mine = _best(rows, system, variant), _best(rows, "saline", target.variant)
        others = [_best(rows, "saline", "auto"), _best(rows, "halide", "mullapudi2016")]
        over_base = [r.record.median_ms / base.record.median_ms if r and base else None for r in (mine, *others)]
        cells = [_cell(r.record.median_ms if r else None, w) for r, w in ((mine, 10), (base, 11))]
        cells += [_cell(v, w) for v, w in zip(over_base, (8, 10, 15), strict=True)]
        lines.append(f"{name:<28}" + "".join(cells))
        ratio = over_base[0]
        if ratio is None:
            missing.append(name)
        else:
            ratios.append(ratio)
            over += [(name, ratio)] if ratio > target.per_benchmark else []
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else None
    if geomean is not None:
        lines.append(f"geometric mean of {target.variant}/{variant} over {len(ratios)} benchmark(s): {geomean:.2f}")
    for name, ratio in over:
        lines.append(f"TARGET MISSED: {name}: {ours} / {theirs} = {ratio:.2f} (target <= {target.per_benchmark:g})")
    if geomean is not None and geomean > target.geomean:
        lines.append(f"TARGET MISSED: geometric mean {geomean:.2f} (target <= {target.geomean:g})")
    if missing:
        why = "a row missing, failed or wrong"
        lines.append(f"TARGET MISSED: no {ours} / {theirs} ratio ({why}) for: {', '.join(missing)}")
    if not over and not missing and geomean is not None and geomean <= target.geomean:
        lines.append(f"target met on all {len(ratios)} benchmark(s) run")
    return "\n".join(lines)

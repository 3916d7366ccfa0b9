"""Benchmark 2: the gradient of a 3x3 convolution loss, float32, in Saline and in its peers.

    conv[x, y] = sum over (i, j) in 3x3 of k[i, j] * repeat_edge(im)[x + i - 1, y + j - 1]
    loss[]     = sum over the image of (conv[x, y] - t[x, y])^2

Every system computes the loss and its gradients with respect to the image `im` and the kernel
`k` (../shared/ANCHORS.md: "gradient of sum((conv3x3(x,w)-t)^2) wrt x and w, plus loss"):
- saline `auto`: `compile(grad(loss, [im, k], with_value=True))`, the automatic schedule;
- torch `conv2d` / `slices`: eager autograd of replicate padding and `conv2d`, or of the sum of
  nine shifted slices of the padded image; `torch.compile` `slices`: the slices version compiled
  (forward and, through AOTAutograd, backward);
- halide `li2018`: Halide's own reverse mode (`hl.propagate_adjoints`) scheduled by its Li2018
  gradient autoscheduler. Halide differentiates with respect to `hl.Buffer`s, so the pipeline
  is built around the benchmark's arrays (no copy) and JIT-compiled for them.
A row's result is its image gradient, checked against a float64 numpy reference; its `check`
compares the kernel gradient and the loss (sums over the whole image: float32 rounding grows
with the image, hence relative tolerances, a looser one for the loss: see LOSS_RTOL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.workload import Candidate, Skip, Workload, optional
from codegen.compile import compile
from pipelines import Func, ImageParam, RDom, Var, float32, repeat_edge
from pipelines import sum as reduce_sum
from pipelines.autodiff import grad

BENCHMARK = "grad"
SIZES = ((2560, 1536),)
RTOL = 2e-4  # float32 sums over millions of pixels, in different orders per system
# Saline's loss is the language's in-order float32 sum over 3.9 million pixels (exactly what the
# interpreter computes); its rounding error reaches 3e-3 of the value at 2560x1536, where the
# peers' pairwise sums stay near 1e-6.
LOSS_RTOL = 1e-2
VARIANTS = ("auto",)


# ---------------------------------------------------------------- the reference


def reference(a: np.ndarray, w: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(d_im, d_k, loss) in float64: numpy axes are [y, x], so k[i, j] is w[j, i]."""
    h, wd = a.shape
    pad = np.pad(a.astype(np.float64), 1, mode="edge")
    conv = sum(w[j, i] * pad[j : j + h, i : i + wd] for j in range(3) for i in range(3))
    diff = conv - t
    d_conv = 2 * diff
    d_k = np.array([[np.sum(d_conv * pad[j : j + h, i : i + wd]) for i in range(3)] for j in range(3)])
    d_pad = np.zeros_like(pad)
    for j in range(3):
        for i in range(3):
            d_pad[j : j + h, i : i + wd] += d_conv * w[j, i]
    # repeat_edge's adjoint: the padding ring's mass folds onto the edge pixels.
    d_pad[1, :] += d_pad[0, :]
    d_pad[-2, :] += d_pad[-1, :]
    d_pad[:, 1] += d_pad[:, 0]
    d_pad[:, -2] += d_pad[:, -1]
    return d_pad[1:-1, 1:-1], d_k, float(np.sum(diff * diff))


def _close(got: np.ndarray, want: np.ndarray) -> bool:
    scale = float(np.max(np.abs(want))) or 1.0
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=RTOL, atol=RTOL * scale))


def _checker(outputs: dict[str, Any], want_k: np.ndarray, want_loss: float) -> Callable[[], bool]:
    def check() -> bool:
        d_k, loss = outputs["d_k"], outputs["loss"]
        loss_ok = abs(float(loss) - want_loss) <= LOSS_RTOL * abs(want_loss)
        return _close(np.asarray(d_k, np.float64), want_k) and loss_ok

    return check


# ---------------------------------------------------------------- Saline


def saline_pipeline() -> Any:
    x, y = Var("x"), Var("y")
    im, k, t = ImageParam(float32, 2, "im"), ImageParam(float32, 2, "k"), ImageParam(float32, 2, "t")
    r3 = RDom([(0, 3), (0, 3)])
    conv = Func("conv")
    conv[x, y] = reduce_sum(k[r3.x, r3.y] * repeat_edge(im)[x + r3.x - 1, y + r3.y - 1])
    r = RDom([(0, im.width()), (0, im.height())])
    loss = Func("loss")
    loss[()] = reduce_sum((conv[r.x, r.y] - t[r.x, r.y]) ** 2)
    return grad(loss, [im, k], with_value=True)


def saline_candidates(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray], threads: int, wants: tuple[np.ndarray, float], variants: Any
) -> list[Candidate]:
    a, w, t = arrays
    # --variants names the variants of every suite run (blur's `default`, `hand`, ...): this
    # suite runs those it has, and none when it has none of them.
    names = list(VARIANTS) if variants is None else [v for v in variants if v in VARIANTS]
    outputs: dict[str, Any] = {}

    def setup() -> Callable[[], Any]:
        compiled = compile(saline_pipeline(), threads=threads)
        d_im, d_k = np.empty_like(a), np.empty_like(w)
        loss = np.empty((), np.float32)

        def run() -> np.ndarray:
            compiled(im=a, k=w, t=t, out=(d_im, d_k, loss))
            return d_im

        outputs.update(d_k=d_k, loss=loss)
        return run

    return [Candidate("saline", n, setup, _checker(outputs, *wants)) for n in names]


# ---------------------------------------------------------------- PyTorch


def torch_candidates(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray], threads: int, wants: tuple[np.ndarray, float], peers: Any
) -> list[Candidate]:
    def setup(variant: str, compiled: bool, outputs: dict[str, Any]) -> Callable[[], Any]:
        torch = optional("torch", "torch==2.13.0")
        torch.set_num_threads(threads)
        f = torch.nn.functional
        a, w, t = (torch.from_numpy(v) for v in arrays)
        im, k = a.clone().requires_grad_(), w.clone().requires_grad_()
        h, wd = a.shape

        def loss_slices(im: Any, k: Any) -> Any:
            pad = f.pad(im[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
            conv = sum(k[j, i] * pad[j : j + h, i : i + wd] for j in range(3) for i in range(3))
            return ((conv - t) ** 2).sum()

        def loss_conv2d(im: Any, k: Any) -> Any:
            pad = f.pad(im[None, None], (1, 1, 1, 1), mode="replicate")
            return ((f.conv2d(pad, k[None, None])[0, 0] - t) ** 2).sum()

        fn = loss_slices if variant == "slices" else loss_conv2d
        if compiled:
            fn = torch.compile(fn, dynamic=False)

        def run() -> Any:
            im.grad = k.grad = None
            loss = fn(im, k)
            loss.backward()
            outputs.update(d_k=k.grad.numpy(), loss=loss.item())
            return im.grad.numpy()

        return run

    out = []
    rows = [("torch", v, False) for v in ("conv2d", "slices") if "torch" in peers]
    rows += [("torch.compile", "slices", True)] if "torch.compile" in peers else []
    for system, variant, compiled in rows:
        outputs: dict[str, Any] = {}
        out.append(
            Candidate(
                system,
                variant,
                lambda v=variant, c=compiled, o=outputs: setup(v, c, o),
                _checker(outputs, *wants),
            )
        )
    return out


# ---------------------------------------------------------------- Halide


def _halide_setup(arrays: tuple[np.ndarray, np.ndarray, np.ndarray], threads: int, outputs: dict) -> Callable:
    hl = optional("halide", "halide")
    a, w, t = arrays
    h, wd = a.shape
    x, y = hl.Var("x"), hl.Var("y")
    bim, bk, bt = hl.Buffer(a), hl.Buffer(w), hl.Buffer(t)
    clamped = hl.BoundaryConditions.repeat_edge(bim)
    r3 = hl.RDom([hl.Range(0, 3), hl.Range(0, 3)])
    conv = hl.Func("conv")
    conv[x, y] = hl.sum(bk[r3.x, r3.y] * clamped[x + r3.x - 1, y + r3.y - 1])
    r = hl.RDom([hl.Range(0, wd), hl.Range(0, h)])
    diff = hl.Func("diff")
    diff[x, y] = conv[x, y] - bt[x, y]
    loss = hl.Func("loss")
    loss[()] = hl.sum(diff[r.x, r.y] * diff[r.x, r.y])
    d = hl.propagate_adjoints(loss)
    d_im, d_k = d[bim], d[bk]
    pipeline = hl.Pipeline([d_im, d_k, loss])
    base = Path(hl.__file__).resolve().parent
    found = [p for sub in ("lib64", "lib") for p in (base / sub).glob("libautoschedule_li2018.*")]
    try:
        hl.load_plugin(str(found[0]) if found else "autoschedule_li2018")
    except Exception as err:  # Halide raises its own error type for a missing library
        raise Skip(f"autoscheduler plugin autoschedule_li2018 did not load: {str(err).strip()}") from None
    d_im.set_estimates([(0, wd), (0, h)])
    d_k.set_estimates([(0, 3), (0, 3)])
    target = hl.get_jit_target_from_environment()
    pipeline.apply_autoscheduler(target, hl.AutoschedulerParams("Li2018", {"parallelism": str(threads)}))
    out_im, out_k, out_loss = np.empty_like(a), np.empty_like(w), np.empty((), np.float32)
    buffers = [hl.Buffer(out_im), hl.Buffer(out_k), hl.Buffer(out_loss)]

    def run() -> np.ndarray:
        pipeline.realize(buffers)
        return out_im

    outputs.update(d_k=out_k, loss=out_loss)
    return run


def halide_candidates(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray], threads: int, wants: tuple[np.ndarray, float]
) -> list[Candidate]:
    outputs: dict[str, Any] = {}
    note = (
        "Halide differentiates with hl.propagate_adjoints; its unscheduled backward pass, and a "
        "compute_root-everything hand schedule, took minutes here and are not run"
    )
    return [
        Candidate("halide", "li2018", lambda: _halide_setup(arrays, threads, outputs), _checker(outputs, *wants), note)
    ]


# ---------------------------------------------------------------- the suite


def workload(size: tuple[int, int], threads: int, peers: Sequence[str], variants: Sequence[str] | None) -> Workload:
    wd, h = size
    rng = np.random.default_rng(0)
    a = rng.random((h, wd), dtype=np.float32)
    w = (rng.random((3, 3), dtype=np.float32) / 4.5).astype(np.float32)
    t = rng.random((h, wd), dtype=np.float32)
    d_im, d_k, loss = reference(a, w, t)
    arrays, wants = (a, w, t), (d_k, loss)
    candidates = saline_candidates(arrays, threads, wants, variants)
    if "torch" in peers or "torch.compile" in peers:
        candidates += torch_candidates(arrays, threads, wants, peers)
    if "halide" in peers:
        candidates += halide_candidates(arrays, threads, wants)
    scale = float(np.max(np.abs(d_im)))
    return Workload(BENCHMARK, size, d_im.astype(np.float32), 12 * wd * h, candidates, rtol=RTOL, atol=RTOL * scale)

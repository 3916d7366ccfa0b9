"""Gradients against torch.autograd in float64, for operations both have.

What holds, where torch is installed (the `bench` extra): the interpreter's gradients of
- a conv3x3 loss `sum((conv3x3(x, w) - t)^2)` with respect to the input image and the 3x3
  weight image (zero padding: constant_exterior(x, 0) against F.conv2d(padding=1)),
- a bilateral-style pipeline (`select` on a range test and `exp` of squared differences over
  a 3x3 neighbourhood, with a Param for the range sigma, replicate padding against
  repeat_edge),
- a downsample/upsample pair (2x2 average pooling, then nearest upsampling),
equal torch's within 1e-12 relative. Skipped with a clear reason when torch is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import (
    Func,
    ImageParam,
    Param,
    RDom,
    Var,
    constant_exterior,
    exp,
    float64,
    repeat_edge,
    select,
    sum,
)
from pipelines.autodiff import grad
from pipelines.interpret import interpret
from tests.helpers import as_tuple, inputs_for

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[bench]' to compare with it)")
functional = pytest.importorskip("torch.nn.functional", reason="torch.nn.functional is not available")

x, y = Var("x"), Var("y")
RTOL = 1e-12


def saline_gradients(loss: Func, wrt: list, **inputs: object) -> tuple[np.ndarray, ...]:
    g = grad(loss, wrt, with_value=True)
    return as_tuple(interpret(g, **inputs_for(g, inputs)))


def tensor(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def close(got: np.ndarray, want: torch.Tensor, what: str) -> None:
    want_np = want.detach().numpy()
    np.testing.assert_allclose(got, want_np, rtol=RTOL, atol=RTOL * float(np.max(np.abs(want_np))), err_msg=what)


def image_sum(f: Func, like: ImageParam) -> RDom:
    return RDom([(0, like.width()), (0, like.height())])


def test_conv3x3_loss_matches_torch() -> None:
    im, w, t = ImageParam(float64, 2, "im"), ImageParam(float64, 2, "w"), ImageParam(float64, 2, "t")
    padded = constant_exterior(im, 0.0)
    k = RDom([(0, 3), (0, 3)])
    conv = Func("conv")
    conv[x, y] = sum(padded[x + k.x - 1, y + k.y - 1] * w[k.x, k.y])
    r = image_sum(conv, im)
    loss = Func("loss")
    diff = conv[r.x, r.y] - t[r.x, r.y]
    loss[()] = sum(diff * diff)
    rng = np.random.default_rng(0)
    a, weights, target = rng.standard_normal((9, 11)), rng.standard_normal((3, 3)), rng.standard_normal((9, 11))
    d_im, d_w, value = saline_gradients(loss, [im, w], im=a, w=weights, t=target)

    ta, tw = tensor(a), tensor(weights)
    out = functional.conv2d(ta[None, None], tw[None, None], padding=1)[0, 0]  # cross-correlation, as here
    want = ((out - torch.tensor(target)) ** 2).sum()
    want.backward()
    close(value, want, "loss")
    close(d_im, ta.grad, "d loss / d im")
    close(d_w, tw.grad, "d loss / d w")


def test_bilateral_style_select_exp_matches_torch() -> None:
    im, t = ImageParam(float64, 2, "im"), ImageParam(float64, 2, "t")
    sigma = Param(float64, "sigma", 0.5)
    edge = repeat_edge(im)
    k = RDom([(-1, 3), (-1, 3)])
    centre, neighbour = edge[x, y], edge[x + k.x, y + k.y]
    difference = neighbour - centre
    weight = select(difference * difference < 0.5, exp(-(difference * difference) * sigma), 0.1)
    numerator, denominator = Func("numerator"), Func("denominator")
    numerator[x, y] = sum(weight * neighbour)
    denominator[x, y] = sum(weight)
    out = Func("out")
    out[x, y] = numerator[x, y] / denominator[x, y]
    r = image_sum(out, im)
    loss = Func("loss")
    loss[()] = sum(out[r.x, r.y] * t[r.x, r.y])
    rng = np.random.default_rng(1)
    a, target, s = rng.uniform(0, 1, (7, 8)), rng.standard_normal((7, 8)), 1.7
    d_im, d_sigma, value = saline_gradients(loss, [im, sigma], im=a, t=target, sigma=s)

    ta, ts = tensor(a), torch.tensor(s, dtype=torch.float64, requires_grad=True)
    padded = functional.pad(ta[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    num, den = torch.zeros_like(ta), torch.zeros_like(ta)
    h, w = a.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            nb = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            d = nb - ta
            wt = torch.where(d * d < 0.5, torch.exp(-(d * d) * ts), torch.full_like(d, 0.1))
            num, den = num + wt * nb, den + wt
    want = (num / den * torch.tensor(target)).sum()
    want.backward()
    close(value, want, "loss")
    close(d_im, ta.grad, "d loss / d im")
    close(d_sigma, ts.grad, "d loss / d sigma")


def test_downsample_upsample_pair_matches_torch() -> None:
    im, t = ImageParam(float64, 2, "im"), ImageParam(float64, 2, "t")
    down, up = Func("down"), Func("up")
    down[x, y] = (im[2 * x, 2 * y] + im[2 * x + 1, 2 * y] + im[2 * x, 2 * y + 1] + im[2 * x + 1, 2 * y + 1]) * 0.25
    up[x, y] = down[x // 2, y // 2]
    r = image_sum(up, im)
    loss = Func("loss")
    loss[()] = sum(up[r.x, r.y] * up[r.x, r.y] * t[r.x, r.y])
    rng = np.random.default_rng(2)
    a, target = rng.standard_normal((6, 10)), rng.standard_normal((6, 10))
    d_im, value = saline_gradients(loss, [im], im=a, t=target)

    ta = tensor(a)
    pooled = functional.avg_pool2d(ta[None, None], 2)
    upsampled = functional.interpolate(pooled, scale_factor=2, mode="nearest")[0, 0]
    want = (upsampled * upsampled * torch.tensor(target)).sum()
    want.backward()
    close(value, want, "loss")
    close(d_im, ta.grad, "d loss / d im")

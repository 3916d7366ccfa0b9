"""Memory: compiled pipelines free what they allocate.

What holds: 1,000 calls of a pipeline whose compute_root intermediate takes 1 MiB per call (and
whose compute_at intermediate is allocated per row) leave the resident set size flat: a leak
of the intermediate would add 1 GiB, the bound allowed is 8 MiB. The same holds for calls that
fail their checks (a too-small input), which return before or after allocating. Allocation
failure inside generated code becoming a MemoryError: tests/reliability/test_hostile.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import CompiledPipeline, compile
from pipelines import Func, ImageParam, Pipeline, Var
from pipelines.types import float32
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")
SIZE = 512
CALLS = 1000
ALLOWED_GROWTH = 8 << 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.fixture(scope="module")
def two_stage() -> CompiledPipeline:
    im = ImageParam(float32, 2, "mem_im")
    a, b, out = Func("mem_root"), Func("mem_at"), Func("mem_out")
    a[x, y] = im[x, y] * 2.0
    b[x, y] = a[x, y] + a[x + 1, y]
    out[x, y] = b[x, y] - a[x, y + 1]
    s = Schedule()
    s[a].compute_root()
    s[b].compute_at(out, y)
    return compile(Pipeline(out), s, threads=2)


def test_thousand_calls_keep_resident_memory_flat(two_stage: CompiledPipeline) -> None:
    image = np.random.default_rng(0).random((SIZE + 1, SIZE + 1), dtype=np.float32)
    out = np.empty((SIZE, SIZE), np.float32)
    for _ in range(50):  # warm up: thread pools, allocator arenas
        two_stage(out=out, mem_im=image)
    want = image[:-1, :-1] * 2 + image[:-1, 1:] * 2 - image[1:, :-1] * 2
    np.testing.assert_allclose(out, want, rtol=1e-6)
    before = rss_bytes()
    for _ in range(CALLS):
        two_stage(out=out, mem_im=image)
    growth = rss_bytes() - before
    assert growth < ALLOWED_GROWTH, f"resident set grew by {growth / 2**20:.1f} MiB over {CALLS} calls"
    np.testing.assert_allclose(out, want, rtol=1e-6)


def test_thousand_failing_calls_keep_resident_memory_flat(two_stage: CompiledPipeline) -> None:
    small = np.zeros((SIZE, SIZE), np.float32)  # one row and one column short
    out = np.empty((SIZE, SIZE), np.float32)
    for _ in range(50):
        with pytest.raises(ValueError, match="too small"):
            two_stage(out=out, mem_im=small)
    before = rss_bytes()
    for _ in range(CALLS):
        with pytest.raises(ValueError, match="too small"):
            two_stage(out=out, mem_im=small)
    assert rss_bytes() - before < ALLOWED_GROWTH

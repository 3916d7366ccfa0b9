"""Guarded vector loops (update stages, non-dividing splits) run their whole vectors unguarded
and only the last partial vector with the test; selects whose branches load memory load both
sides first. Results stay exact against the interpreter at sizes around the vector width, and
gcc vectorizes the update's main loop, which it did not do with the test inside (masked loads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, RDom, Var, float32, select
from scheduler.loopir import For, IfThenElse, loop_nest_str
from scheduler.lower import lower
from scheduler.schedule import Schedule
from tests.codegen.test_simd_openmp import build_with_report, simd_loop_lines
from tests.helpers import assert_matches_reference

x, y = Var("x"), Var("y")


def conv_update() -> tuple[Pipeline, Schedule]:
    """A 3x3 convolution as an update over an RDom, vectorized by 8 with a guarded tail."""
    image, k = ImageParam(float32, 2, "image"), ImageParam(float32, 2, "k")
    r = RDom([(0, 3), (0, 3)], name="r")
    acc = Func("acc")
    acc[x, y] = 0.0
    acc[x, y] += k[r.x, r.y] * image[x + r.x, y + r.y]
    out = Func("out")
    out[x, y] = select(x > 2, acc[x, y], image[x, y])  # a select whose branches both load
    s = Schedule()
    s[acc].compute_root().vectorize(x, 8).parallel(y)
    s[acc].update(0).reorder(x, r.x, r.y, y).split(x, x, Var("xi"), 8, "guard_with_if").vectorize(Var("xi"))
    s[out].vectorize(x, 8)
    return Pipeline(out), s


@pytest.mark.parametrize("width", [1, 7, 8, 9, 16, 21])
def test_split_tails_keep_results_exact(width: int) -> None:
    p, s = conv_update()
    rng = np.random.default_rng(width)
    image = rng.random((7, width + 2), dtype=np.float32)
    k = rng.random((3, 3), dtype=np.float32)
    assert_matches_reference(p, {"image": image, "k": k}, shape=(5, width), schedule=s)


def test_guard_leaves_the_main_vector_loop() -> None:
    p, s = conv_update()
    body = lower(p, s).body
    guarded, unguarded = 0, 0
    for node in _walk_stmts(body):
        if isinstance(node, For) and node.kind == "vectorized" and "acc.s1" in node.name:
            if isinstance(node.body, IfThenElse):
                guarded += 1
            else:
                unguarded += 1
    assert unguarded >= 1 and guarded >= 1, loop_nest_str(body)


def test_update_main_loop_vectorizes(tmp_path: Path) -> None:
    p, s = conv_update()
    source = compile(p, s).c_source
    _, report = build_with_report(source, tmp_path)
    simd = simd_loop_lines(source)
    vectorized = {int(m.split(":")[1]) for m in report.splitlines() if "loop vectorized" in m and ".c:" in m}
    # The update's stores read and write acc (`bN_acc[i] = (bN_acc[i] + ...)`); gcc reports a
    # vectorized loop at one of the let lines just above the store.
    stores = [k + 1 for k, line in enumerate(source.splitlines()) if line.count("_acc[") >= 2]
    assert stores and all(n in simd for n in stores)
    assert any(n - 8 <= v <= n for n in stores for v in vectorized), report


def _walk_stmts(s: object) -> list:
    out = [s]
    for name in ("body", "then_case", "else_case"):
        child = getattr(s, name, None)
        if child is not None:
            out += _walk_stmts(child)
    for child in getattr(s, "stmts", ()) or ():
        out += _walk_stmts(child)
    return out

"""The automatic schedule (scheduler/auto.py) at a chosen vector width: its innermost loops are
split by `lanes` and vectorized, and the compiled pipeline equals the interpreter at widths that
leave partial vectors."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, ImageParam, Pipeline, Var, repeat_edge
from pipelines.interpret import interpret
from pipelines.types import float32
from scheduler.auto import VECTOR_WIDTH, auto_schedule
from scheduler.schedule import Split

x, y = Var("x"), Var("y")


def _blur(name: str) -> Pipeline:
    im = ImageParam(float32, 2, f"{name}_in")
    edge = repeat_edge(im)
    blur_x, out = Func(f"{name}_x"), Func(name)
    blur_x[x, y] = edge[x - 1, y] + edge[x, y] + edge[x + 1, y]
    out[x, y] = blur_x[x, y - 1] + blur_x[x, y] * 2.0 + blur_x[x, y + 1]
    return Pipeline(out)


@pytest.mark.parametrize("lanes", [None, 4, 16])
def test_auto_schedule_splits_by_the_lanes_asked_for(lanes: int | None) -> None:
    pipeline = _blur(f"auto_lanes_{lanes}")
    s = auto_schedule(pipeline) if lanes is None else auto_schedule(pipeline, lanes=lanes)
    factors = {d.factor for f in s.funcs.values() for st in f.stages.values() for d in st if isinstance(d, Split)}
    assert factors == {VECTOR_WIDTH if lanes is None else lanes}
    a = np.random.default_rng(3).random((9, 37), dtype=np.float32)
    name = pipeline.images[0].name
    want = interpret(pipeline, shape=a.shape, **{name: a})
    np.testing.assert_allclose(compile(pipeline, s)(shape=a.shape, **{name: a}), want, rtol=1e-6)

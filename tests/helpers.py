"""Shared test helpers: the numpy interpreter is the oracle (STYLE.md, "Tests", rule 1).

`assert_matches_reference` runs a pipeline through `pipelines.interpret.interpret` and through
its compiled form, and compares: shape and dtype first, then integers and bools exactly, floats
with NaN at the same places and the rest within `rtol` (0 asks for bit-for-bit equality up to
the sign of zero, right for + - * / which are IEEE in both, as the C is built with
-ffp-contract=off). Each pipeline is compiled once per test session (`compiled`), whatever
sizes it is then called with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codegen.compile import CompiledPipeline, compile
from pipelines.func import Func
from pipelines.interpret import interpret
from pipelines.pipeline import Pipeline
from scheduler.schedule import Schedule

# float32 math functions (sin, exp, pow, ...) of numpy and of libm may differ by a few ulps.
FLOAT_RTOL = 1e-6

_COMPILED: dict[tuple[int, str], tuple[Pipeline, CompiledPipeline]] = {}
_PIPELINES: dict[tuple[int, ...], tuple[tuple[Func, ...], Pipeline]] = {}


def as_pipeline(pipeline: Pipeline | Func | Sequence[Func]) -> Pipeline:
    """`pipeline` itself, or the one Pipeline made for these output Funcs in this session."""
    if isinstance(pipeline, Pipeline):
        return pipeline
    funcs = (pipeline,) if isinstance(pipeline, Func) else tuple(pipeline)
    key = tuple(map(id, funcs))
    hit = _PIPELINES.get(key)
    if hit is None:  # the Funcs are kept alive with it, so their ids are not reused
        hit = _PIPELINES[key] = (funcs, Pipeline(list(funcs)))
    return hit[1]


def compiled(pipeline: Pipeline | Func | Sequence[Func], schedule: Schedule | None = None) -> CompiledPipeline:
    """The compiled form of `pipeline` under `schedule`, built once per session."""
    p = as_pipeline(pipeline)
    key = (id(p), schedule.to_json() if schedule is not None else "")
    hit = _COMPILED.get(key)
    if hit is None:  # the Pipeline is kept alive with it, so its id is not reused
        hit = _COMPILED[key] = (p, compile(p, schedule))
    return hit[1]


def inputs_for(pipeline: Pipeline | Func | Sequence[Func], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `inputs` that `pipeline` takes (a call rejects unknown names)."""
    names = set(as_pipeline(pipeline).inputs)
    return {k: v for k, v in inputs.items() if k in names}


def shape_arg(shapes: Sequence[tuple[int, ...]]) -> Any:
    """`shape=` for a call: the one shape of a single output, else the list of shapes."""
    return shapes[0] if len(shapes) == 1 else list(shapes)


def as_tuple(result: Any) -> tuple[np.ndarray, ...]:
    """The outputs of a call as a tuple (a call returns a bare array for one output)."""
    return result if isinstance(result, tuple) else (result,)


def assert_same(got: np.ndarray, want: np.ndarray, rtol: float = FLOAT_RTOL, what: str = "output") -> None:
    """`got` equals `want`: shape and dtype first; ints and bools exactly; floats within rtol,
    with NaN at the same places (and infinities equal)."""
    assert isinstance(got, np.ndarray), f"{what}: expected an array, got {type(got).__name__}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what, strict=True)
        return
    got_nan, want_nan = np.isnan(got), np.isnan(want)
    np.testing.assert_array_equal(got_nan, want_nan, err_msg=f"{what}: NaN positions differ")
    np.testing.assert_allclose(got[~got_nan], want[~want_nan], rtol=rtol, atol=0, err_msg=what)


def assert_matches_reference(
    pipeline: Pipeline | Func | Sequence[Func],
    inputs: Mapping[str, Any],
    shape: Any = None,
    origin: Any = None,
    schedule: Schedule | None = None,
    rtol: float = FLOAT_RTOL,
    out: Any = None,
) -> tuple[np.ndarray, ...]:
    """Compiled and interpreted results of one call agree (see the module docstring); returns the
    compiled outputs as a tuple. `out=` is passed to the compiled call only."""
    p = as_pipeline(pipeline)
    want = as_tuple(interpret(p, shape=shape, origin=origin, **inputs))
    got = as_tuple(compiled(p, schedule)(shape=shape, out=out, origin=origin, **inputs))
    assert len(got) == len(want) == len(p.outputs)
    for func, g, w in zip(p.outputs, got, want):
        assert_same(g, w, rtol, what=f"output {func.name!r}")
    return got

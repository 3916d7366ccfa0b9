"""Whether a pipeline's int32 index arithmetic really wraps at a point the interpreter evaluates.

Compiled pipelines refuse a call whose int32 index arithmetic may wrap (`ValueError: index
arithmetic would overflow int32`): bounds inference holds coordinates to not wrapping, and
checks that at run time. The interpreter wraps, as numpy does. So the two disagree on programs
outside the language's domain, like `lut[clamp(x + 2147483647, 0, 15)]`.

After `index_wraps(built)`: True when interpreting the case, with every int32 add, subtract,
multiply and negation inside an index (a Call's argument or an update's left-hand side) also
computed in int64, finds one whose exact value leaves int32 at some evaluated point, in the
case as it is or in the case with its RDoms' `where` predicates dropped. The second reading is
the compiled pipeline's domain: bounds inference covers an RDom's whole box, since its
predicates depend on data. The fuzzer accepts a refusal only then. The check is independent of
bounds inference: it looks at values the interpreter computes, not at intervals, so a refusal
that only the intervals justify (a wrap that no evaluated point reaches) stays a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from pipelines import evaluate
from pipelines.expr import Add, Call, Const, Div, Expr, Mul, Sub
from pipelines.interpret import interpret
from pipelines.mutator import walk
from pipelines.pipeline import Pipeline, definition_exprs
from pipelines.types import int32
from tests.fuzz.cases import Built, build

REFUSAL = "index arithmetic would overflow int32"
"""The message of the compiled pipeline's refusal."""

_LIMITS = (int(np.iinfo(np.int32).min), int(np.iinfo(np.int32).max))
_WIDE: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    Add: np.add,
    Sub: np.subtract,
    Mul: np.multiply,
}


class IndexWraps(Exception):
    """An int32 index operation wrapped at an evaluated point."""


def index_nodes(pipeline: Pipeline) -> set[int]:
    """ids of the int32 arithmetic nodes inside indices: every Call's arguments, and the
    left-hand sides of updates (the nodes are the pipeline's own, alive as long as it is)."""
    found: set[int] = set()

    def mark(index: Expr) -> None:
        for n in walk(index):
            if n.dtype == int32 and (type(n) in _WIDE or (isinstance(n, Div) and n.b == Const(-1, int32))):
                found.add(id(n))

    for f in pipeline.funcs:
        for k, d in enumerate(f.definitions):
            if k:
                for a in d.args:
                    mark(a)
            for e in definition_exprs(d):
                for n in walk(e):
                    if isinstance(n, Call):
                        for a in n.args:
                            mark(a)
    return found


def _checked(rule: evaluate.Rule, nodes: set[int]) -> evaluate.Rule:
    def run(frame: evaluate.Frame, node: Any, ops: Sequence[np.ndarray]) -> np.ndarray:
        if id(node) in nodes:
            wide = [np.asarray(o, np.int64) for o in ops]
            exact = -wide[0] if isinstance(node, Div) else _WIDE[type(node)](wide[0], wide[1])
            if exact.size and (int(exact.min()) < _LIMITS[0] or int(exact.max()) > _LIMITS[1]):
                raise IndexWraps(f"{node} leaves int32: [{int(exact.min())}, {int(exact.max())}]")
        return rule(frame, node, ops)

    return run


@contextmanager
def _checking(nodes: set[int]) -> Iterator[None]:
    """The interpreter's rules for Add, Sub, Mul and Div, checking the nodes in `nodes`; the
    rules are module state, read when an expression is planned, so this is for one thread."""
    saved = {t: evaluate.NUMPY_RULES[t] for t in (Add, Sub, Mul, Div)}
    try:
        for t, rule in saved.items():
            evaluate.NUMPY_RULES[t] = _checked(rule, nodes)
        yield
    finally:
        evaluate.NUMPY_RULES.update(saved)


def wraps_at(pipeline: Pipeline, shape: Any, inputs: dict[str, Any]) -> bool:
    """Whether interpreting `pipeline` (`interpret(pipeline, shape=shape, **inputs)`) wraps an
    int32 index operation at a point it evaluates."""
    with _checking(index_nodes(pipeline)):
        try:
            interpret(pipeline, shape=shape, **inputs)
        except IndexWraps:
            return True
    return False


def index_wraps(built: Built) -> bool:
    """Whether some int32 index operation of `built`, or of `built` without its `where`
    predicates, wraps where the interpreter evaluates it (module docstring)."""
    if wraps_at(built.pipeline, built.shape, built.inputs):
        return True
    spec = built.spec
    if not any(r.where is not None for f in spec.funcs for r in f.rdoms):
        return False
    funcs = tuple(replace(f, rdoms=tuple(replace(r, where=None) for r in f.rdoms)) for f in spec.funcs)
    bare = build(replace(spec, funcs=funcs))
    return wraps_at(bare.pipeline, bare.shape, bare.inputs)

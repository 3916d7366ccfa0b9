"""A pipeline: the output Funcs and everything they read, gathered and checked once.

After this module: `Pipeline(outputs)` knows, in a fixed order, every Func reachable from its
outputs (`funcs`, producers before consumers), every input image (`images`) and scalar
(`params`), with names checked: no two different inputs share a name, and none is named like a
keyword of the calling convention (`shape`, `out`, `origin`, `threads`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pipelines.expr import Call, Expr, ImageDim, Param, RVar, Var
from pipelines.func import Definition, DefinitionError, Func, ImageParam
from pipelines.mutator import walk

RESERVED_NAMES = frozenset({"shape", "out", "origin", "threads"})


def definition_exprs(d: Definition) -> Iterator[Expr]:
    """Every expression a definition holds: value, arguments, predicates and RDom bounds."""
    yield d.value
    yield from d.args
    yield from d.predicates
    for rv in d.rvars:
        yield rv.min
        yield rv.extent


def calls_in(func: Func) -> Iterator[Call]:
    """Every Call node in any definition of `func`."""
    for d in func.definitions:
        for e in definition_exprs(d):
            for n in walk(e):
                if isinstance(n, Call):
                    yield n


class Pipeline:
    """One or more output Funcs compiled or interpreted together: `Pipeline([out1, out2])`.

    `shapes`, optional, gives each output a default size: its extents in Func argument order
    as expressions of input sizes and Params (None for an output that has none), used when a
    call passes neither `shape=` nor `out=`.
    """

    def __init__(self, outputs: Func | Sequence[Func], shapes: Sequence[Sequence[Expr] | None] | None = None):
        outs = [outputs] if isinstance(outputs, Func) else list(outputs)
        if not outs:
            raise ValueError("Pipeline needs at least one output Func")
        for o in outs:
            if not isinstance(o, Func):
                raise TypeError(f"Pipeline outputs must be Funcs, got {type(o).__name__}")
            if not o.defined:
                raise DefinitionError(f"Func {o.name!r} is used before it is defined (as a Pipeline output)")
        if len(set(map(id, outs))) != len(outs):
            raise ValueError("Pipeline lists the same output Func twice")
        self.outputs: tuple[Func, ...] = tuple(outs)
        self.shapes: tuple[tuple[Expr, ...] | None, ...] = self._check_shapes(shapes)
        self.funcs: tuple[Func, ...] = self._realization_order()
        self.images: tuple[ImageParam, ...] = ()
        self.params: tuple[Param, ...] = ()
        self._collect_inputs()

    def _check_shapes(self, shapes: Sequence[Sequence[Expr] | None] | None) -> tuple[tuple[Expr, ...] | None, ...]:
        if shapes is None:
            return (None,) * len(self.outputs)
        if len(shapes) != len(self.outputs):
            raise ValueError(f"Pipeline: {len(shapes)} shapes for {len(self.outputs)} outputs")
        checked: list[tuple[Expr, ...] | None] = []
        for f, shape in zip(self.outputs, shapes):
            if shape is None:
                checked.append(None)
                continue
            extents = tuple(shape)
            if len(extents) != f.ndim or not all(isinstance(e, Expr) and e.dtype.is_int for e in extents):
                raise ValueError(f"Pipeline: shape of {f.name!r} must be {f.ndim} integer Exprs, got {shape!r}")
            if any(isinstance(n, (Var, RVar, Call)) for e in extents for n in walk(e)):
                raise ValueError(f"Pipeline: shape of {f.name!r} may use only input sizes, Params and constants")
            checked.append(extents)
        return tuple(checked)

    def _realization_order(self) -> tuple[Func, ...]:
        """Producers before consumers (depth-first post-order from the outputs)."""
        order: list[Func] = []
        state: dict[int, str] = {}
        for root in self.outputs:
            stack: list[tuple[Func, Iterator[Call]]] = [(root, calls_in(root))]
            state[id(root)] = state.get(id(root), "open") if id(root) in state else "open"
            if state[id(root)] == "done":
                continue
            while stack:
                f, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    if state[id(f)] != "done":
                        state[id(f)] = "done"
                        order.append(f)
                    continue
                g = nxt.func
                if not isinstance(g, Func) or g is f:
                    continue
                if state.get(id(g)) == "open":
                    raise DefinitionError(f"Func {g.name!r} depends on itself through {f.name!r}")
                if id(g) not in state:
                    if not g.defined:
                        raise DefinitionError(f"Func {g.name!r} is used before it is defined")
                    state[id(g)] = "open"
                    stack.append((g, calls_in(g)))
        return tuple(order)

    def _collect_inputs(self) -> None:
        images: dict[str, ImageParam] = {}
        params: dict[str, Param] = {}
        for f in self.funcs:
            for d in f.definitions:
                for e in definition_exprs(d):
                    for n in walk(e):
                        self._note_input(n, images, params)
        for shape in self.shapes:
            for e in shape or ():
                for n in walk(e):
                    self._note_input(n, images, params)
        for name in (*images, *params):
            if name in RESERVED_NAMES:
                raise ValueError(f"input name {name!r} is reserved by the calling convention; rename it")
        clash = set(images) & set(params)
        if clash:
            raise ValueError(f"name {sorted(clash)[0]!r} is used by both an ImageParam and a Param")
        self.images = tuple(images.values())
        self.params = tuple(params.values())

    @staticmethod
    def _note_input(n: Any, images: dict[str, ImageParam], params: dict[str, Param]) -> None:
        image = n.func if isinstance(n, Call) and isinstance(n.func, ImageParam) else None
        if isinstance(n, ImageDim):
            image = n.image
        if image is not None:
            seen = images.setdefault(image.name, image)
            if seen is not image:
                raise ValueError(f"two different ImageParams are named {image.name!r}")
        if isinstance(n, Param):
            seen_p = params.setdefault(n.name, n)
            if seen_p != n:
                raise ValueError(f"two different Params are named {n.name!r}: {seen_p} and {n}")
        if isinstance(n, RVar):
            for part in (n.min, n.extent):
                for m in walk(part):
                    if m is not n:
                        Pipeline._note_input(m, images, params)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of every argument a call takes: images, then params."""
        return tuple(i.name for i in self.images) + tuple(p.name for p in self.params)

    def __repr__(self) -> str:
        return f"Pipeline({', '.join(o.name for o in self.outputs)})"

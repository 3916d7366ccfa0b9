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

Box = tuple[tuple[Expr, Expr], ...]
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

    `boxes`, optional, gives each output a default box: a (min, extent) pair of expressions of
    input sizes and Params per dimension, in Func argument order (None for an output that has
    none), used for a call that passes neither `shape=` nor `out=`, or no `origin=`.
    `auto_schedule` asks the compiler for its automatic schedule when it is given none
    (instead of inlining everything into serial loops). `inputs` names inputs the call takes
    even where no Func reads them (a gradient pipeline takes all of its forward pipeline's).
    """

    def __init__(
        self,
        outputs: Func | Sequence[Func],
        boxes: Sequence[Sequence[tuple[Expr, Expr]] | None] | None = None,
        auto_schedule: bool = False,
        inputs: Sequence[ImageParam | Param] = (),
    ):
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
        self.auto_schedule = bool(auto_schedule)
        self.boxes: tuple[Box | None, ...] = self._check_boxes(boxes)
        self.funcs: tuple[Func, ...] = self._realization_order()
        self.images: tuple[ImageParam, ...] = ()
        self.params: tuple[Param, ...] = ()
        self._collect_inputs(inputs)

    def _check_boxes(self, boxes: Sequence[Sequence[tuple[Expr, Expr]] | None] | None) -> tuple[Box | None, ...]:
        if boxes is None:
            return (None,) * len(self.outputs)
        if len(boxes) != len(self.outputs):
            raise ValueError(f"Pipeline: {len(boxes)} boxes for {len(self.outputs)} outputs")
        checked: list[Box | None] = []
        for f, box in zip(self.outputs, boxes):
            if box is None:
                checked.append(None)
                continue
            pairs = tuple((lo, extent) for lo, extent in box)
            ends = [e for pair in pairs for e in pair]
            if len(pairs) != f.ndim or not all(isinstance(e, Expr) and e.dtype.is_int for e in ends):
                raise ValueError(f"Pipeline: box of {f.name!r} must be {f.ndim} (min, extent) pairs of integer Exprs")
            if any(isinstance(n, (Var, RVar, Call)) for e in ends for n in walk(e)):
                raise ValueError(f"Pipeline: box of {f.name!r} may use only input sizes, Params and constants")
            checked.append(pairs)
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

    def _collect_inputs(self, extra: Sequence[ImageParam | Param]) -> None:
        images: dict[str, ImageParam] = {}
        params: dict[str, Param] = {}
        for item in extra:
            if isinstance(item, ImageParam):
                self._note_input(ImageDim(item, 0, "min") if item.ndim else Call(item, ()), images, params)
            elif isinstance(item, Param):
                self._note_input(item, images, params)
            else:
                raise TypeError(f"Pipeline inputs must be ImageParams or Params, got {type(item).__name__}")
        for f in self.funcs:
            for d in f.definitions:
                for e in definition_exprs(d):
                    for n in walk(e):
                        self._note_input(n, images, params)
        for box in self.boxes:
            for e in (e for pair in box or () for e in pair):
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

"""Streaming stores: the vector stores of an output scheduled `stream()` go around the caches.

An output much larger than the last-level cache is written once and read by nobody in the
pipeline; an ordinary store of a line that is not cached first reads the line in (read for
ownership) and then evicts something useful for it. After `stream_stores(stmt, buffers)`, each
innermost vector loop of constant width L that stores to one of `buffers` at `base + lane`
(consecutive elements, one store per lane, not under a condition), with L elements a whole
number of 64-byte lines, is

    allocate scratch[L]                      (aligned: a register's worth, on the stack)
      for vectorized lane in [min, min + L):
        ... scratch[lane - min] = value ...  (the store, everything else unchanged)
      stream buffer[base(min) : +L] = scratch[0 : L]

and code generation turns the last statement into non-temporal stores when the destination
starts a cache line, ordinary ones otherwise (`saline_stream_store` in csrc/saline_runtime.h).
The same values reach the same elements; only the stores' path through the caches changes. Other
stores to those buffers (a strided layout, a scalar tail, a conditional store) stay as they are.
"""

from __future__ import annotations

from pipelines.expr import Add, Const, Sub, Var
from pipelines.mutator import Mutator, substitute, walk
from pipelines.types import int64
from scheduler.loopir import Allocate, Block, For, IfThenElse, LetStmt, Stmt, Store, StreamStore, map_loops
from scheduler.simplify import simplify

LINE = 64
"""Bytes of a cache line: a streamed loop writes whole lines when its first element starts one."""


def stream_stores(stmt: Stmt, buffers: frozenset[str]) -> Stmt:
    """`stmt` with the qualifying vector stores to `buffers` streamed (module docstring)."""
    if not buffers:
        return stmt
    return map_loops(stmt, lambda loop: _stream(loop, buffers))


def _stream(loop: For, buffers: frozenset[str]) -> Stmt | None:
    if (
        loop.kind != "vectorized"
        or not isinstance(loop.extent, Const)
        or any(isinstance(n, For) for n in walk(loop.body))
    ):
        return None
    lanes = int(loop.extent.value)
    uses = {n for n in walk(loop.body) if isinstance(n, Var) and n.name == loop.name}
    if len(uses) != 1 or next(iter(uses)).dtype != int64:
        return None  # the stores do not depend on the lane (an int64 loop counter)
    (lane,) = uses
    inside = {n.name for n in walk(loop.body) if isinstance(n, LetStmt)}
    stores = [s for s in _unconditional_stores(loop.body) if s.buffer in buffers]
    chosen: dict[Store, str] = {}
    for s in stores:
        if s.value.dtype.bits < 8 or lanes * (s.value.dtype.bits // 8) % LINE:
            continue
        if any(isinstance(n, Var) and n.name in inside for n in walk(s.index)):
            continue  # the base would name a value bound per lane
        step = simplify(Sub(substitute(s.index, {lane: Add(lane, Const(1, int64))}), s.index))
        if step != Const(1, int64) or sum(1 for t in stores if t.buffer == s.buffer and t.index == s.index) > 1:
            continue
        chosen[s] = f"{s.buffer}.stream{len(chosen)}"
    if not chosen:
        return None
    offset = simplify(Sub(lane, loop.min))
    body = _Redirect({s: Store(name, offset, s.value) for s, name in chosen.items()}).visit(loop.body)
    copies = [
        StreamStore(s.buffer, simplify(substitute(s.index, {lane: loop.min})), name, lanes, s.value.dtype)
        for s, name in chosen.items()
    ]
    result: Stmt = Block((For(loop.name, loop.min, loop.extent, loop.kind, body), *copies))
    for s, name in reversed(chosen.items()):
        result = Allocate(name, s.value.dtype, (Const(lanes, int64),), result)
    return result


def _unconditional_stores(s: Stmt) -> list[Store]:
    """The Stores that run once per iteration of the body `s`: under lets and in blocks, not
    inside an if."""
    match s:
        case Store():
            return [s]
        case LetStmt(body=b):
            return _unconditional_stores(b)
        case Block(stmts=ss):
            return [x for st in ss for x in _unconditional_stores(st)]
        case IfThenElse():
            return []
    return []


class _Redirect(Mutator):
    def __init__(self, mapping: dict[Store, Store]):
        self.mapping = mapping

    def visit_Store(self, s: Store) -> Stmt:
        return self.mapping.get(s, s)


def stream_fence_needed(s: Stmt) -> bool:
    """Whether `s` holds a streamed store (whose writes need a fence before others read them)."""
    return any(isinstance(n, StreamStore) for n in walk(s))

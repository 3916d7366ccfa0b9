"""Vector loops that read a table of 8- or 16-bit values at computed indices run as a vector loop
of the indices, then the reads one by one, then (when the loop does more than copy the table) a
vector loop of the rest.

gcc 12 emulates a gather of 32- and 64-bit elements lane by lane inside a vector loop, but not of
narrower ones ("unsupported vector types for emulated gather"): a vector loop with one such read,
camera_pipe's `curved[x] = curve[clamp(corrected[x], 0, 1023)]`, runs wholly scalar, its index
arithmetic included (there, each clamp went through a vector register and back: about 4 cycles
a lookup). After `split_lookups(stmt)`, each innermost vector loop over a constant W <= MAX_LANES
lanes whose body is lets and one store, and which reads such a table at an index that depends on
the lane and reads memory itself (a lookup), is

    allocate lookup.index.k[int64; W]                                 (on the stack)
    for vectorized v: lookup.index.k[v - min] = index_k               (every lookup k)
    for unrolled v:   dst[i] = table[lookup.index.0[v - min]]         (a copy of one table)

or, when the store does more with what it reads,

    allocate lookup.value.k[T_k; W] too
    for unrolled v:   lookup.value.k[v - min] = table_k[lookup.index.k[v - min]]
    for vectorized v: body, each lookup k read from lookup.value.k[v - min]

The read loop is unrolled (W is at most 64): three memory operations a lookup and no loop
overhead. A copy stores straight to its destination because reading byte stores back as a
vector right after them waits for the stores to complete (no store forwarding).

Each lane computes the same values as before; only the order across lanes changes, which a
vector loop already leaves open (its lanes are independent). A loop is left as it is when a
lookup's index reads another lookup (directly or through a let), when it stores to a buffer that
it also reads, or when its body is anything but lets and one store.
"""

from __future__ import annotations

from pipelines.bounds import c64
from pipelines.expr import Const, Expr, Sub, Var
from pipelines.mutator import substitute, walk
from pipelines.types import int64
from scheduler.loopir import Allocate, Block, For, LetStmt, Load, Stmt, Store, map_loops
from scheduler.simplify import simplify

MAX_LANES = 64
"""Widest loop split: its index and value arrays live on the stack."""


def split_lookups(stmt: Stmt) -> Stmt:
    """`stmt` with every innermost vector loop that reads narrow tables at computed indices
    split (module docstring); the same object if there is none."""
    return map_loops(stmt, _split)


def _split(loop: For) -> Stmt | None:
    if loop.kind != "vectorized" or not isinstance(loop.extent, Const) or not 0 < int(loop.extent.value) <= MAX_LANES:
        return None
    lets, store = _lets_and_store(loop.body)
    if store is None:
        return None
    exprs = [v for _, v in lets] + [store.index, store.value]
    if any(isinstance(n, Load) and n.buffer == store.buffer for e in exprs for n in walk(e)):
        return None
    lookups = _lookups(exprs, {loop.name} | {name for name, _ in lets})
    if not lookups:
        return None
    # lets that read a lookup, directly or through another let: what an index may not depend on
    tainted: set[str] = set()

    def reads_lookup(e: Expr) -> bool:
        return any(n in lookups or (isinstance(n, Var) and n.name in tainted) for n in walk(e))

    for name, value in lets:
        if reads_lookup(value):
            tainted.add(name)
    if any(reads_lookup(lookup.index) for lookup in lookups):
        return None

    lane = simplify(Sub(Var(loop.name, int64), loop.min))
    width = c64(int(loop.extent.value))  # type: ignore[attr-defined]
    index_names = [f"{loop.name}.lookup.index.{k}" for k in range(len(lookups))]
    untainted = [(name, value) for name, value in lets if name not in tainted]
    indices = Block(tuple(Store(ix, lane, lookup.index) for lookup, ix in zip(lookups, index_names)))
    reads = {
        lookup: Load(lookup.buffer, Load(ix, lane, int64), lookup.dtype) for lookup, ix in zip(lookups, index_names)
    }

    def again(kind: str, body: Stmt) -> For:
        return For(loop.name, loop.min, loop.extent, kind, body)

    loops: list[Stmt] = [again("vectorized", _with_lets(untainted, indices))]
    values: list[tuple[str, Load]] = []
    if store.value in reads and not any(isinstance(n, Var) and n.name in tainted for n in walk(store.index)):
        # a copy of a table: the reads store to the destination (module docstring)
        loops.append(again("unrolled", _with_lets(untainted, Store(store.buffer, store.index, reads[store.value]))))
    else:
        values = [(f"{loop.name}.lookup.value.{k}", lookup) for k, lookup in enumerate(lookups)]
        loops.append(again("unrolled", Block(tuple(Store(got, lane, reads[lookup]) for got, lookup in values))))
        read_back: dict[Expr, Expr] = {lookup: Load(got, lane, lookup.dtype) for got, lookup in values}
        rest_lets = [(name, substitute(value, read_back)) for name, value in lets]
        rest = Store(store.buffer, store.index, substitute(store.value, read_back))
        loops.append(again("vectorized", _with_lets(rest_lets, rest)))
    result: Stmt = Block(tuple(loops))
    for got, lookup in reversed(values):
        result = Allocate(got, lookup.dtype, (width,), result)
    for ix in reversed(index_names):
        result = Allocate(ix, int64, (width,), result)
    return result


def _lets_and_store(body: Stmt) -> tuple[list[tuple[str, Expr]], Store | None]:
    lets: list[tuple[str, Expr]] = []
    while isinstance(body, LetStmt):
        lets.append((body.name, body.value))
        body = body.body
    return lets, body if isinstance(body, Store) else None


def _with_lets(lets: list[tuple[str, Expr]], body: Stmt) -> Stmt:
    for name, value in reversed(lets):
        body = LetStmt(name, value, body)
    return body


def _lookups(exprs: list[Expr], lanes: set[str]) -> list[Load]:
    """The distinct loads of 8- or 16-bit values whose index reads memory and varies with the
    lane (names the loop variable or a let bound in the loop), in order of first appearance."""
    found: dict[Load, None] = {}
    for e in exprs:
        for n in walk(e):
            if not isinstance(n, Load) or n.dtype.bits >= 32 or n in found:
                continue
            inside = list(walk(n.index))
            if any(isinstance(m, Load) for m in inside) and any(isinstance(m, Var) and m.name in lanes for m in inside):
                found[n] = None
    return list(found)

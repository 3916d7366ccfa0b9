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

A copy of a byte table to consecutive bytes (a tone curve), whose index has a bound that fits
int32 (bounds inference over the lanes), is instead

    if <the index's interval fits int32>:
      allocate lookup.index.0[int32; W]
      for vectorized v: lookup.index.0[v - min] = int32(index_0)
      LookupCopy dst[start : +W] = table[lookup.index.0]     (saline_lookup_u8: byte permutes)
    else:
      <the copy above>

A loop whose body is several such copies and nothing else (a pixel's channels, unrolled inside
the vector, each through a tone curve) is one index loop for all of them and a call each, under
the condition that all their indices fit int32 (the loop as it was otherwise); the loop must read
none of the buffers it stores to. Its pixels' inputs are then read once for all channels.

camera_pipe at 2560x1536 on 1 thread, in one process: 9.41 -> 9.10 ms with the call reading
int64 offsets, 9.71 -> 8.64 with int32 ones (Halide 6.0). Such a copy splits up to
MAX_COPY_LANES lanes wide (other loops up to MAX_LANES), its byte-by-byte branch then a loop:
a call loads a table of up to 1024 bytes into registers once for all its lanes, so camera_pipe's
hand schedule runs curved in vectors of 512 (6.71 -> 5.94 ms against 64, Halide 6.12).

A vector loop over a multiple of 16 lanes with no such table but with 32-bit loads at a
coordinate computed from the lane through a float (a resampling's taps, `_wide_lookups`), each
index fitting int32, is

    if <every index's interval fits int32>:
      allocate lookup.index.k[int32; W], lookup.value.k[T_k; W]
      for vectorized v: lookup.index.k[v - min] = int32(index_k)
      LookupCopy lookup.value.k[0 : +W] = table_k[lookup.index.k]   (saline_lookup_u32)
      for vectorized v: body, each lookup k read from lookup.value.k[v - min]
    else:
      <the loop unchanged>

where saline_lookup_u32 reads each 16 lanes whose offsets span at most 32 elements as one permute
of two vectors. Where gcc extracted each lane's 64-bit offset, inserted its element and reached
225 instructions a vector, at 2560x1536 with 2 threads in one process: resize_bilinear 6.31 ->
5.23 ms (10.43 -> 8.13 on 1 thread), resize_bicubic (at 16 lanes now) 9.96 -> 6.32.

Each lane computes the same values as before; only the order across lanes changes, which a
vector loop already leaves open (its lanes are independent). A loop is left as it is when a
lookup's index reads another lookup (directly or through a let), when it stores to a buffer that
it also reads, or when its body is anything but lets and one store (or the copies above).
"""

from __future__ import annotations

import functools

from pipelines.bounds import c64, type_range
from pipelines.expr import Add, And, Cast, Const, Expr, Sub, Var
from pipelines.mutator import substitute, walk
from pipelines.types import DType, int32, int64
from scheduler.loopir import Allocate, Block, For, IfThenElse, LetStmt, Load, LookupCopy, Stmt, Store, map_loops
from scheduler.simplify import simplify
from scheduler.version_clamps import LaneBounds, fit_condition

MAX_LANES = 64
"""Widest loop split in general: its index and value arrays live on the stack, and its read loop
is unrolled."""
MAX_COPY_LANES = 1024
"""Widest loop split into a byte table's LookupCopy: saline_lookup_u8 loads a table of up to 1024
bytes into registers once a call, so a wider call spreads that over more lookups (the index
array, 4 KiB at most, lives on the stack)."""


def split_lookups(stmt: Stmt, limits: dict[str, Expr] | None = None) -> Stmt:
    """`stmt` with every innermost vector loop that reads narrow tables at computed indices
    split (module docstring); the same object if there is none."""
    known = limits or {}
    return map_loops(stmt, lambda loop: _split(loop, known))


def _split(loop: For, limits: dict[str, Expr]) -> Stmt | None:
    if loop.kind != "vectorized" or not isinstance(loop.extent, Const):
        return None
    extent = int(loop.extent.value)
    if not 0 < extent <= MAX_COPY_LANES:
        return None
    lets, store = _lets_and_store(loop.body)
    if store is None:
        return _copies(loop, limits)
    exprs = [v for _, v in lets] + [store.index, store.value]
    if any(isinstance(n, Load) and n.buffer == store.buffer for e in exprs for n in walk(e)):
        return None
    lanes = {loop.name} | {name for name, _ in lets}
    lookups = _lookups(exprs, lanes)
    wide = [] if lookups else _wide_lookups(exprs, lanes)
    tainted = _tainted(lets, lookups or wide)
    if tainted is None:
        return None
    if wide:
        return _gathered(loop, lets, tainted, store, wide, limits) if extent <= MAX_LANES else None

    lane = simplify(Sub(Var(loop.name, int64), loop.min))
    width = c64(extent)
    index_names = [f"{loop.name}.lookup.index.{k}" for k in range(len(lookups))]
    untainted = [(name, value) for name, value in lets if name not in tainted]

    def again(kind: str, body: Stmt) -> For:
        return For(loop.name, loop.min, loop.extent, kind, body)

    def index_loop(dtype: DType) -> For:
        stores = (Store(ix, lane, _narrowed(lookup.index, dtype)) for lookup, ix in zip(lookups, index_names))
        return again("vectorized", _with_lets(untainted, Block(tuple(stores))))

    reads = {
        lookup: Load(lookup.buffer, Load(ix, lane, int64), lookup.dtype) for lookup, ix in zip(lookups, index_names)
    }
    loops: list[Stmt] = [index_loop(int64)]
    values: list[tuple[str, Load]] = []
    copy = store.value in reads and not any(isinstance(n, Var) and n.name in tainted for n in walk(store.index))
    one = copy and len(lookups) == 1 and _bytes_in_a_row(loop, store, lets)
    narrow = _narrow_condition(loop, lookups[0].index, lets) if one else None
    if extent > MAX_LANES and narrow is None:
        return None
    if copy:
        # a copy of a table: the reads store to the destination (module docstring); one by one
        # in a loop where a wide call's fallback would unroll to hundreds of reads
        kind = "unrolled" if extent <= MAX_LANES else "serial"
        loops.append(again(kind, _with_lets(untainted, Store(store.buffer, store.index, reads[store.value]))))
        if narrow is not None:
            # a byte table copied to consecutive bytes, at offsets that fit int32: one call
            start = simplify(substitute(store.index, {Var(loop.name, int64): loop.min}))
            limit = limits.get(lookups[0].buffer, c64(0))
            call = LookupCopy(store.buffer, start, lookups[0].buffer, index_names[0], extent, lookups[0].dtype, limit)
            fast = Allocate(index_names[0], int32, (width,), Block((index_loop(int32), call)))
            slow = Allocate(index_names[0], int64, (width,), Block(tuple(loops)))
            return fast if isinstance(narrow, Const) else IfThenElse(narrow, fast, slow)
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


def _copies(loop: For, limits: dict[str, Expr]) -> Stmt | None:
    """A vector loop whose body is several byte-table copies to consecutive bytes (a tone curve
    applied to each channel of a pixel, the channels unrolled inside the vector) as one index
    loop for all of them and a LookupCopy each, where every offset fits int32; None where the
    body is anything else. The stores' order across lanes changes, which is sound as for one
    copy: the loop reads none of the buffers it stores to, and a vector loop's lanes are
    independent."""
    outer, parts = _lets_and_stores(loop.body)
    if len(parts) < 2:
        return None
    extent = int(loop.extent.value)  # type: ignore[attr-defined]
    stored = {store.buffer for _, store in parts}
    exprs = (
        [v for _, v in outer]
        + [v for lets, st in parts for _, v in lets]
        + [e for _, st in parts for e in (st.index, st.value)]
    )
    if any(isinstance(n, Load) and n.buffer in stored for e in exprs for n in walk(e)):
        return None
    lane = simplify(Sub(Var(loop.name, int64), loop.min))
    conds: list[Expr] = []
    index_stores: list[Stmt] = []
    calls: list[Stmt] = []
    names: list[str] = []
    for k, (lets, store) in enumerate(parts):
        scope = [*outer, *lets]
        lookups = _lookups([store.value], {loop.name} | {name for name, _ in scope})
        if lookups != [store.value] or not _bytes_in_a_row(loop, store, scope):
            return None
        table = store.value
        assert isinstance(table, Load)
        cond = _narrow_condition(loop, table.index, scope)
        if cond is None:
            return None
        name = f"{loop.name}.lookup.index.{k}"
        start = simplify(substitute(store.index, {Var(loop.name, int64): loop.min}))
        index_stores.append(_with_lets(lets, Store(name, lane, _narrowed(table.index, int32))))
        limit = limits.get(table.buffer, c64(0))
        calls.append(LookupCopy(store.buffer, start, table.buffer, name, extent, table.dtype, limit))
        conds.append(cond)
        names.append(name)
    index_loop = For(loop.name, loop.min, loop.extent, "vectorized", _with_lets(outer, Block(tuple(index_stores))))
    fast: Stmt = Block((index_loop, *calls))
    for name in reversed(names):
        fast = Allocate(name, int32, (c64(extent),), fast)
    return _where_all_fit(conds, fast, loop)


def _tainted(lets: list[tuple[str, Expr]], lookups: list[Load]) -> set[str] | None:
    """The lets that read a lookup, directly or through another let (what an index loop may not
    compute); None when there is no lookup or a lookup's index reads one, so no index loop can
    run first."""
    tainted: set[str] = set()

    def reads_lookup(e: Expr) -> bool:
        return any(n in lookups or (isinstance(n, Var) and n.name in tainted) for n in walk(e))

    for name, value in lets:
        if reads_lookup(value):
            tainted.add(name)
    if not lookups or any(reads_lookup(lookup.index) for lookup in lookups):
        return None
    return tainted


def _gathered(
    loop: For,
    lets: list[tuple[str, Expr]],
    tainted: set[str],
    store: Store,
    lookups: list[Load],
    limits: dict[str, Expr],
) -> Stmt | None:
    """The loop with its 32-bit lookups read by LookupCopy calls between an index loop and the
    rest, where every index fits int32 (module docstring); None where one has no such bound, or
    the loop's width is not a multiple of 16 (saline_lookup_u32 permutes 16 lanes at a time; 8
    lanes read through permutes measured slower than gcc's lane-by-lane reads, resize_bicubic at
    2560x1536 with 2 threads 9.11 -> 10.07 ms)."""
    lanes = int(loop.extent.value)  # type: ignore[attr-defined]
    if lanes % 16:
        return None
    conds = []
    for lookup in lookups:
        cond = _narrow_condition(loop, lookup.index, lets)
        if cond is None:
            return None
        conds.append(cond)
    lane = simplify(Sub(Var(loop.name, int64), loop.min))
    width = c64(lanes)
    index_names = [f"{loop.name}.lookup.index.{k}" for k in range(len(lookups))]
    value_names = [f"{loop.name}.lookup.value.{k}" for k in range(len(lookups))]
    untainted = [(name, value) for name, value in lets if name not in tainted]
    stores = tuple(Store(ix, lane, _narrowed(lookup.index, int32)) for lookup, ix in zip(lookups, index_names))
    calls = tuple(
        LookupCopy(got, c64(0), lookup.buffer, ix, lanes, lookup.dtype, limits.get(lookup.buffer, c64(0)))
        for lookup, ix, got in zip(lookups, index_names, value_names)
    )
    read_back: dict[Expr, Expr] = {lookup: Load(got, lane, lookup.dtype) for lookup, got in zip(lookups, value_names)}
    rest_lets = [(name, substitute(value, read_back)) for name, value in lets]
    rest = Store(store.buffer, store.index, substitute(store.value, read_back))
    body: Stmt = Block(
        (
            For(loop.name, loop.min, loop.extent, "vectorized", _with_lets(untainted, Block(stores))),
            *calls,
            For(loop.name, loop.min, loop.extent, "vectorized", _with_lets(rest_lets, rest)),
        )
    )
    for got, lookup in reversed(list(zip(value_names, lookups))):
        body = Allocate(got, lookup.dtype, (width,), body)
    for ix in reversed(index_names):
        body = Allocate(ix, int32, (width,), body)
    return _where_all_fit(conds, body, loop)


def _where_all_fit(conds: list[Expr], fast: Stmt, slow: Stmt) -> Stmt:
    """`fast` where every condition holds, else `slow` (`fast` alone where they are known to:
    `_narrow_condition` gives no condition that is known false)."""
    cond = simplify(functools.reduce(And, conds))
    return fast if isinstance(cond, Const) else IfThenElse(cond, fast, slow)


def _narrowed(index: Expr, dtype: DType) -> Expr:
    return index if index.dtype == dtype else Cast(dtype, index)


def _narrow_condition(loop: For, index: Expr, lets: list[tuple[str, Expr]]) -> Expr | None:
    """A condition, evaluated before the loop, under which `index` fits int32 on every lane
    (bounds inference's interval over the lanes, the loop's lets expanded); None where it has no
    bound (it reads memory with no clamp around it) or the condition would name the loop's own."""
    expanded: dict[Expr, Expr] = {}
    for name, value in lets:
        expanded[Var(name, value.dtype)] = substitute(value, expanded)
    last = simplify(Sub(Add(loop.min, loop.extent), c64(1)))
    bounds = LaneBounds({loop.name: (loop.min, last)})
    try:
        lo, hi = bounds.interval(substitute(index, expanded))
    except TypeError:
        return None
    whole = type_range(index.dtype)
    if lo == whole[0] or hi == whole[1]:
        return None
    cond = fit_condition([(lo, hi, int32), *bounds.obligations])
    inside = {loop.name} | {name for name, _ in lets}
    if (
        cond is None
        or (isinstance(cond, Const) and not cond.value)
        or any(isinstance(n, Var) and n.name in inside for n in walk(cond))
    ):
        return None
    return cond


def _bytes_in_a_row(loop: For, store: Store, lets: list[tuple[str, Expr]]) -> bool:
    """Whether the loop copies a byte table to consecutive elements, at an index that names no let
    of the loop: what a LookupCopy does. (The pass runs after scheduler.specialize_dense, whose
    dense copy of a loop has the output's stride 1 in its indices.)"""
    names = {name for name, _ in lets}
    if store.value.dtype.bits != 8 or any(isinstance(n, Var) and n.name in names for n in walk(store.index)):
        return False
    lane = Var(loop.name, int64)
    return simplify(Sub(substitute(store.index, {lane: Add(lane, c64(1))}), store.index)) == c64(1)


def _lets_and_store(body: Stmt) -> tuple[list[tuple[str, Expr]], Store | None]:
    lets: list[tuple[str, Expr]] = []
    while isinstance(body, LetStmt):
        lets.append((body.name, body.value))
        body = body.body
    return lets, body if isinstance(body, Store) else None


def _lets_and_stores(body: Stmt) -> tuple[list[tuple[str, Expr]], list[tuple[list[tuple[str, Expr]], Store]]]:
    """The lets around a Block and, for each of its statements, its own lets and its Store;
    no stores where the body is not of that form."""
    outer: list[tuple[str, Expr]] = []
    while isinstance(body, LetStmt):
        outer.append((body.name, body.value))
        body = body.body
    if not isinstance(body, Block):
        return outer, []
    parts = []
    for part in body.stmts:
        lets, store = _lets_and_store(part)
        if store is None:
            return outer, []
        parts.append((lets, store))
    return outer, parts


def _with_lets(lets: list[tuple[str, Expr]], body: Stmt) -> Stmt:
    for name, value in reversed(lets):
        body = LetStmt(name, value, body)
    return body


def _wide_lookups(exprs: list[Expr], lanes: set[str]) -> list[Load]:
    """The distinct loads of 32-bit values at a coordinate computed from the lane through a
    float (a resampling's source pixel, floor((x + 0.5) / scale - 0.5)), which gcc reads lane by
    lane, in order of first appearance. Neighbouring lanes read near each other there; an index
    that reads memory (a histogram's bin, a grid cell picked by a pixel's value) is left alone:
    its lanes scatter, and the permutes measured slower for it (equalize_histogram 7.9 -> 9.3 ms,
    bilateral_grid, whose schedule allows hardware gathers, 52 -> 103 ms)."""
    found: dict[Load, None] = {}
    for e in exprs:
        for n in walk(e):
            if not isinstance(n, Load) or n.dtype.bits != 32 or n in found:
                continue
            inside = list(walk(n.index))
            computed = any(isinstance(m, Cast) and m.value.dtype.is_float for m in inside)
            if (
                computed
                and not any(isinstance(m, Load) for m in inside)
                and any(isinstance(m, Var) and m.name in lanes for m in inside)
            ):
                found[n] = None
    return list(found)


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

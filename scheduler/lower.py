"""Lowering: a pipeline and a schedule become one loop nest, pass by pass.

Read `PASSES` as the table of contents. Each pass takes and returns the `Lowering` state; after
the last one, `Lowering.body` holds flat Stores and Loads only, `lets` define every region,
extent and stride symbol (in dependency order), and `checks` guard every buffer access.
With SALINE_DEBUG=2 (or `lower(..., debug=2)`) the loop nest is printed after each pass.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from pipelines.bounds import Interval, c64
from pipelines.expr import EQ, LE, Add, And, Expr, Max, Mul, Or, Param, Select, Sub, Var
from pipelines.func import Definition, Func
from pipelines.mutator import substitute, walk
from pipelines.pipeline import Pipeline
from pipelines.types import DType, int64
from scheduler.auto import auto_schedule
from scheduler.averages import narrow_averages
from scheduler.flatten import Layout, dense_layout, flatten_storage, passed_layout
from scheduler.infer_bounds import buffer_symbol, infer_bounds
from scheduler.inject import ROOT, inject, storage_vars
from scheduler.loopir import Allocate, Check, IfThenElse, LetStmt, Stmt, block, loop_nest_str
from scheduler.prune_clamps import prune_clamps
from scheduler.realize import Names, StageNest, build_stage_loops, inline_funcs, inline_lets, unique_names
from scheduler.schedule import (
    Bound,
    ComputeAt,
    Schedule,
    ScheduleError,
    StoreAt,
    StoreRoot,
    Stream,
    resolve_placement,
)
from scheduler.simplify import simplify
from scheduler.specialize_pow import specialize_pow
from scheduler.split_lookups import split_lookups
from scheduler.split_residues import split_vector_residues
from scheduler.split_tails import split_vector_tails
from scheduler.stream import stream_stores
from scheduler.unroll import unroll_loops
from scheduler.unswitch import unswitch_vector_loops
from scheduler.version_clamps import version_vector_clamps


@dataclass(frozen=True)
class BufferInfo:
    """A buffer passed in or out: its IR name, element type and rank."""

    name: str
    dtype: DType
    ndim: int


@dataclass
class Lowering:
    """Everything lowering knows about one pipeline; passes fill it in order."""

    pipeline: Pipeline
    schedule: Schedule | None
    roots: list[Func] = field(default_factory=list)
    names: Names | None = None
    definitions: dict[Func, list[Definition]] = field(default_factory=dict)
    stages: dict[Func, list[StageNest]] = field(default_factory=dict)
    lets: list[tuple[str, Expr]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    image_regions: dict[str, list[Interval]] = field(default_factory=dict)
    layouts: dict[str, Layout] = field(default_factory=dict)
    computed_at: dict[Func, ComputeAt] = field(default_factory=dict)
    stored_above: dict[Func, str] = field(default_factory=dict)  # compute_at Funcs stored at root or a loop
    program: Stmt | None = None
    body: Stmt | None = None

    @property
    def inputs(self) -> list[BufferInfo]:
        assert self.names is not None
        return [BufferInfo(self.names.images[i.name], i.dtype, i.ndim) for i in self.pipeline.images]

    @property
    def outputs(self) -> list[BufferInfo]:
        assert self.names is not None
        return [BufferInfo(self.names.funcs[f], f.dtype, f.ndim) for f in self.pipeline.outputs]

    @property
    def params(self) -> tuple[Param, ...]:
        return self.pipeline.params

    def stmt(self) -> Stmt:
        """The whole program as one statement (for printing)."""
        inner = block(*self.checks, self.body if self.body is not None else self.program)
        if self.body is None and self.program is None:
            inner = block(*self.checks, *(s.stmt for f in self.roots for s in self.stages.get(f, [])))
        for name, value in reversed(self.lets):
            inner = LetStmt(name, value, inner)
        return inner


def place_funcs(state: Lowering) -> Lowering:
    """Choose which Funcs are computed (at root) and which are inlined; name them uniquely."""
    roots = resolve_placement(state.pipeline, state.schedule)
    state.roots = [f for f in state.pipeline.funcs if f in roots]
    state.names = unique_names(state.roots, [i.name for i in state.pipeline.images])
    return state


def inline(state: Lowering) -> Lowering:
    """Substitute every inlined Func into the definitions of the computed ones."""
    state.definitions = {f: inline_funcs(f, frozenset(state.roots)) for f in state.roots}
    return state


def build_loops(state: Lowering) -> Lowering:
    """One loop nest per definition of each computed Func."""
    assert state.names is not None
    entries = state.schedule.funcs if state.schedule is not None else {}
    state.stages = {}
    for f in state.roots:
        entry = entries.get(f.name)
        directives = entry.stages if entry is not None else {}
        nests = build_stage_loops(
            f, state.names.funcs[f], state.definitions[f], state.names, directives, f in state.pipeline.outputs
        )
        state.stages[f] = nests
    return state


def bound_regions(state: Lowering) -> Lowering:
    """Regions of Funcs and inputs from their uses, with run-time checks."""
    assert state.names is not None
    result = infer_bounds(
        state.roots,
        state.definitions,
        state.stages,
        state.names,
        state.pipeline.outputs,
        [(state.names.images[i.name], i.ndim) for i in state.pipeline.images],
        _fixed_bounds(state),
    )
    state.lets, state.checks, state.image_regions = result.lets, result.checks, result.image_regions
    return state


def _fixed_bounds(state: Lowering) -> dict[Func, dict[int, tuple[int, int]]]:
    """The `bound` directives of each computed Func, by dimension."""
    entries = state.schedule.funcs if state.schedule is not None else {}
    out: dict[Func, dict[int, tuple[int, int]]] = {}
    for f in state.roots:
        entry = entries.get(f.name)
        for d in entry.stages.get(0, []) if entry is not None else []:
            if isinstance(d, Bound):
                names = [a.name for a in f.args]
                out.setdefault(f, {})[names.index(d.var)] = (d.min, d.extent)  # the var was checked
    return out


def inject_compute_at(state: Lowering) -> Lowering:
    """Put each compute_at Func at the top of its consumer's loop (consumers first)."""
    assert state.names is not None
    entries = state.schedule.funcs if state.schedule is not None else {}
    for f in state.roots:
        entry = entries.get(f.name)
        if entry is not None and isinstance(entry.compute, ComputeAt):
            state.computed_at[f] = entry.compute
    program = block(*(s.stmt for f in state.roots if f not in state.computed_at for s in state.stages[f]))
    ranges = {k: v for nests in state.stages.values() for n in nests for k, v in n.ranges.items()}
    by_name = {f.name: f for f in state.roots}
    for f in reversed(state.roots):
        at = state.computed_at.get(f)
        if at is None:
            continue
        where = f"Func {f.name!r}: compute_at({at.consumer!r}, {at.var!r})"
        consumer = by_name.get(at.consumer)
        if consumer is None or consumer is f:
            raise ScheduleError(f"{where}: {at.consumer!r} is not a computed Func of this pipeline that reads it")
        name, cname = state.names.funcs[f], state.names.funcs[consumer]
        region_vars, global_vars = [], []
        for d in range(f.ndim):
            lo, hi = state.names.region_min(name, d), state.names.region_max(name, d)
            glo, ghi = Var(f"{name}.gmin.{d}", lo.dtype), Var(f"{name}.gmax.{d}", hi.dtype)
            region_vars.append((lo, hi))
            global_vars.append((glo, ghi))
            _rename_let(state.lets, lo.name, glo)
            _rename_let(state.lets, hi.name, ghi)
        store = entries[f.name].store
        store_loop = None
        if isinstance(store, StoreRoot):
            store_loop = ROOT
        elif isinstance(store, StoreAt):
            if store.consumer != at.consumer:
                raise ScheduleError(
                    f"{where}: store_at({store.consumer!r}, {store.var!r}) must name the same consumer as compute_at"
                )
            store_loop = f"{cname}.s0.{store.var}" if store.var != at.var else None
        if store_loop is not None:
            state.stored_above[f] = ROOT if store_loop == ROOT else "loop"
        program = inject(
            program,
            f,
            name,
            [n.stmt for n in state.stages[f]],
            f"{cname}.s0.{at.var}",
            where,
            ranges,
            region_vars,
            global_vars,
            store_loop,
            frozenset(i for d in state.definitions[f][1:] for i, a in enumerate(d.args) if not isinstance(a, Var)),
        )
    state.program = program
    return state


def _rename_let(lets: list[tuple[str, Expr]], name: str, new: Var) -> None:
    """Bind `new` where `name` was bound, and `name` to `new` right after (an alias at root)."""
    for k, (n, v) in enumerate(lets):
        if n == name:
            lets[k : k + 1] = [(new.name, v), (name, new)]
            return


def flatten(state: Lowering) -> Lowering:
    """Dense storage for intermediates, flat Loads and Stores everywhere, allocations around."""
    assert state.names is not None
    outputs = set(state.pipeline.outputs)
    allocations = []
    for f in state.roots:
        name = state.names.funcs[f]
        if f in outputs:
            state.layouts[name] = passed_layout(name, f.ndim, True, state.names)
        else:
            stored = state.stored_above.get(f)
            if stored == ROOT:  # computed in a loop, stored once over its whole root region
                region = [(Var(f"{name}.gmin.{d}", int64), Var(f"{name}.gmax.{d}", int64)) for d in range(f.ndim)]
                layout, lets, extents = dense_layout(name, state.names, f.ndim, region)
            elif stored == "loop":
                layout, lets, extents = dense_layout(name, state.names, f.ndim, storage_vars(name, f.ndim))
            else:
                layout, lets, extents = dense_layout(name, state.names, f.ndim)
            state.layouts[name] = layout
            if f not in state.computed_at or stored == ROOT:  # the others are sized inside their loop
                state.lets += lets
                allocations.append((name, f.dtype, extents))
    for image in state.pipeline.images:
        ir_name = state.names.images[image.name]
        state.layouts[ir_name] = passed_layout(ir_name, image.ndim, False, state.names)
    assert state.program is not None
    definition_vars = {k for nests in state.stages.values() for n in nests for k in n.ranges}
    body = flatten_storage(inline_lets(state.program, definition_vars), state.layouts, state.names)
    for name, dtype, extents in reversed(allocations):
        body = Allocate(name, dtype, extents, body)
    state.body = body
    return state


def simplify_all(state: Lowering) -> Lowering:
    """Canonical linear index arithmetic, folded constants, decided comparisons."""
    state.lets = [(n, simplify(v)) for n, v in state.lets]
    unique = {simplify(c): None for c in state.checks}  # same condition, same code: check once
    state.checks = [c for c in unique if not _always_true(c)]
    assert state.body is not None
    state.body = simplify(state.body)
    return state


def prune(state: Lowering) -> Lowering:
    """Clamps that loop ranges and enclosing conditions decide are gone; tile-interior region
    extents and trip counts are constants (scheduler.prune_clamps)."""
    assert state.body is not None
    pruned = prune_clamps(state.body, state.lets)
    state.body = simplify(pruned) if pruned is not state.body else pruned
    return state


def unroll(state: Lowering) -> Lowering:
    """Unrolled loops of constant trip count are copies of their body, one per value of the
    loop variable, each simplified (scheduler.unroll)."""
    assert state.body is not None
    state.body = unroll_loops(state.body)
    return state


def split_tails(state: Lowering) -> Lowering:
    """Vector loops guarded by a split's tail test run their whole vectors without the test and
    the last partial one with it (scheduler.split_tails), so gcc vectorizes them unmasked."""
    assert state.body is not None
    state.body = split_vector_tails(state.body)
    return state


def version_clamps(state: Lowering) -> Lowering:
    """Vector loops whose boundary clamps bind only at the edges run the other vectors without
    them (scheduler.version_clamps): plain vector loads instead of gathers."""
    assert state.body is not None
    state.body = version_vector_clamps(state.body)
    return state


def split_residues(state: Lowering) -> Lowering:
    """Vector loops that divide their coordinate by a small constant run, versioned on the
    residue of its lane-free part, one copy of the body per residue of the lane
    (scheduler.split_residues): contiguous loads instead of gathers, one branch of each select
    on the remainder."""
    assert state.body is not None
    state.body = split_vector_residues(state.body)
    return state


def unswitch(state: Lowering) -> Lowering:
    """Vector loops that select on a lane-invariant condition run one copy per outcome, and
    loops of every kind test the invariant ifs of their body once, before them
    (scheduler.unswitch): no blend of both branches, loops gcc would not vectorize do, and no
    empty iterations."""
    assert state.body is not None
    state.body = unswitch_vector_loops(state.body)
    return state


def pow_fractional(state: Lowering) -> Lowering:
    """Vector loops raising to a loop-invariant float32 power get a copy for exponents that are
    finite and not integers, with fewer special cases per element (scheduler.specialize_pow)."""
    assert state.body is not None
    state.body = specialize_pow(state.body)
    return state


def split_table_lookups(state: Lowering) -> Lowering:
    """Vector loops that read 8- or 16-bit tables at computed indices split into vector index
    arithmetic, scalar reads and the vector rest (`scheduler.split_lookups`)."""
    assert state.body is not None
    limits = {info.name: _span(info) for info in (*state.inputs, *state.outputs)}
    sizes: dict[str, set[Expr]] = {}
    for n in walk(state.body):
        if isinstance(n, Allocate):
            size: Expr = c64(1)
            for extent in n.extents:
                size = Mul(size, Max(extent, c64(0)))  # as saline_product counts them
            sizes.setdefault(n.name, set()).add(simplify(size))
    # a name allocated with two sizes (copies of a loop nest whose extents differ) gets none: the
    # size would not be known to be the enclosing allocation's
    limits.update({name: next(iter(found)) for name, found in sizes.items() if len(found) == 1})
    state.body = split_lookups(state.body, limits)
    return state


def _span(info: BufferInfo) -> Expr:
    """How many elements from a passed buffer's base (its element at the region's minimum) on
    lie in it: 1 + the sum over dimensions of (extent - 1) stride where that is positive, which
    reaches its last element (0 when it is empty)."""
    span: Expr = c64(1)
    empty: Expr | None = None
    for d in range(info.ndim):
        extent, stride = buffer_symbol(info.name, "extent", d), buffer_symbol(info.name, "stride", d)
        span = Add(span, Max(Mul(Sub(extent, c64(1)), stride), c64(0)))
        none = LE(extent, c64(0))
        empty = none if empty is None else Or(empty, none)
    return simplify(span if empty is None else Select(empty, c64(0), span))


def specialize_dense(state: Lowering) -> Lowering:
    """Two versions of the loop nest: one for the common case where every passed array has unit
    stride in dimension 0 (the stride becomes the constant 1, so inner loops can use SIMD), and
    the general one for any other layout."""
    assert state.body is not None and state.names is not None
    passed = [state.names.images[i.name] for i in state.pipeline.images if i.ndim] + [
        state.names.funcs[f] for f in state.pipeline.outputs if f.ndim
    ]
    if not passed:
        return state
    unit = {buffer_symbol(name, "stride", 0): c64(1) for name in passed}
    cond: Expr = EQ(next(iter(unit)), c64(1))
    for sym in list(unit)[1:]:
        cond = And(cond, EQ(sym, c64(1)))
    body = state.body
    inner, wrappers = body, []
    while isinstance(inner, Allocate):  # keep allocations outside both versions
        wrappers.append(inner)
        inner = inner.body
    special = IfThenElse(cond, simplify(substitute(inner, unit)), inner)
    for a in reversed(wrappers):
        special = Allocate(a.name, a.dtype, a.extents, special)
    state.body = special
    return state


def stream(state: Lowering) -> Lowering:
    """Vector stores of the outputs scheduled `stream()` go through an aligned scratch vector
    and non-temporal stores (scheduler.stream)."""
    assert state.body is not None and state.names is not None
    entries = state.schedule.funcs if state.schedule is not None else {}
    streamed = frozenset(
        state.names.funcs[f]
        for f in state.pipeline.outputs
        if f.name in entries and any(isinstance(d, Stream) for d in entries[f.name].stages.get(0, []))
    )
    state.body = stream_stores(state.body, streamed)
    return state


def narrow(state: Lowering) -> Lowering:
    """Rounding averages of two narrow unsigned values computed in their own type
    (scheduler.averages)."""
    assert state.body is not None
    state.body = narrow_averages(state.body)
    return state


def _always_true(c: Check) -> bool:
    return getattr(c.cond, "value", None) is True


PASSES: list[tuple[str, Callable[[Lowering], Lowering]]] = [
    ("place funcs", place_funcs),
    ("inline", inline),
    ("build loops", build_loops),
    ("bound regions", bound_regions),
    ("inject compute_at", inject_compute_at),
    ("flatten storage", flatten),
    ("simplify", simplify_all),
    ("prune clamps", prune),
    ("unroll", unroll),
    ("split vector tails", split_tails),
    ("version clamped vectors", version_clamps),
    ("split vector residues", split_residues),
    ("unswitch vector loops", unswitch),
    ("specialize powers", pow_fractional),
    ("specialize dense", specialize_dense),
    ("split table lookups", split_table_lookups),
    ("stream stores", stream),
    ("narrow averages", narrow),
]


def lower(pipeline: Pipeline, schedule: Schedule | None = None, debug: int | None = None) -> Lowering:
    """Run every pass of `PASSES` in order; print the loop nest after each when debug >= 2."""
    if debug is None:
        debug = int(os.environ.get("SALINE_DEBUG", "0") or 0)
    if schedule is None and pipeline.auto_schedule:
        schedule = auto_schedule(pipeline)
    state = Lowering(pipeline, schedule)
    previous = ""
    for name, run in PASSES:
        state = run(state)
        if debug >= 2:
            text = loop_nest_str(state.stmt()) if state.roots and state.stages else ""
            print(f"--- after {name}:", file=sys.stderr)
            print("    (unchanged)" if text == previous else text, file=sys.stderr)
            previous = text
    return state

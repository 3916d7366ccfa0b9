"""Schedules: plain data saying how to run a pipeline, applied to it at compile time.

After this module: a `Schedule` maps Func names to a `FuncSchedule` (where the Func is computed
and stored) and a list of loop directives per stage (frozen dataclasses). It round-trips
through JSON exactly and is never stored in a Func: one algorithm, many schedules. Names of
Funcs and loop variables are plain strings, so a schedule can be written for a pipeline built
in another process. `resolve_placement` gives, for one pipeline, the computed (non-inlined)
Funcs. The default schedule inlines every Func except outputs and Funcs with update
definitions, which are computed at root, with serial loops (DESIGN section 3).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pipelines.expr import RVar, Var
from pipelines.func import Func
from pipelines.pipeline import Pipeline


class ScheduleError(ValueError):
    """A schedule directive conflicts with the pipeline it is applied to."""


TAILS = ("auto", "guard_with_if", "shift_inwards", "round_up")


# ---------------------------------------------------------------- loop directives


@dataclass(frozen=True)
class Split:
    """`for var` becomes `for outer: for inner in [0, factor)`, var = outer*factor + inner."""

    var: str
    outer: str
    inner: str
    factor: int
    tail: str = "auto"


@dataclass(frozen=True)
class Fuse:
    """`for outer: for inner` becomes one loop `fused` over both."""

    inner: str
    outer: str
    fused: str


@dataclass(frozen=True)
class Reorder:
    """The loop order of the named vars, innermost first (the others keep their places)."""

    vars: tuple[str, ...]


@dataclass(frozen=True)
class Vectorize:
    """Run the loop as SIMD lanes; with `width`, split it by `width` first and vectorize the inner."""

    var: str
    width: int | None = None


@dataclass(frozen=True)
class Unroll:
    """Unroll the loop fully; with `factor`, split it by `factor` first and unroll the inner."""

    var: str
    factor: int | None = None


@dataclass(frozen=True)
class Parallel:
    """Run the iterations of the loop on several threads."""

    var: str


@dataclass(frozen=True)
class Bound:
    """Assert that the Func is needed over exactly [min, min + extent) in `var`."""

    var: str
    min: int
    extent: int


@dataclass(frozen=True)
class Stream:
    """Write the output's vector stores around the caches (non-temporal stores), for an output
    far larger than the last-level cache that nothing reads soon (scheduler.stream)."""


LoopDirective = Split | Fuse | Reorder | Vectorize | Unroll | Parallel | Bound | Stream

# ---------------------------------------------------------------- placement


@dataclass(frozen=True)
class ComputeRoot:
    """Compute the whole required region of the Func before its consumers run."""


@dataclass(frozen=True)
class ComputeInline:
    """Substitute the Func's definition into every use (pure Funcs only)."""


@dataclass(frozen=True)
class ComputeAt:
    """Compute the Func inside the loop `var` of `consumer`, just the region one iteration needs."""

    consumer: str
    var: str


@dataclass(frozen=True)
class StoreAt:
    """Allocate the Func's storage at loop `var` of `consumer` (outside its compute level)."""

    consumer: str
    var: str


@dataclass(frozen=True)
class StoreRoot:
    """Allocate the Func's storage once, outside every loop."""


Placement = ComputeRoot | ComputeInline | ComputeAt
Storage = StoreAt | StoreRoot
PLACEMENTS = (ComputeRoot, ComputeInline, ComputeAt)
STORAGES = (StoreAt, StoreRoot)
LOOP_DIRECTIVES = (Split, Fuse, Reorder, Vectorize, Unroll, Parallel, Bound, Stream)

DIRECTIVES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Split,
        Fuse,
        Reorder,
        Vectorize,
        Unroll,
        Parallel,
        Bound,
        Stream,
        ComputeRoot,
        ComputeInline,
        ComputeAt,
        StoreAt,
        StoreRoot,
    )
}


@dataclass
class FuncSchedule:
    """Where one Func is computed and stored, and the loop directives of each of its stages."""

    compute: Placement | None = None
    store: Storage | None = None
    stages: dict[int, list[LoopDirective]] = field(default_factory=dict)


def _name(v: Any, what: str) -> str:
    if isinstance(v, (Var, RVar)):
        return v.name
    if isinstance(v, str) and v:
        return v
    raise ScheduleError(f"{what}: expected a Var, an RVar or a name, got {v!r}")


def _positive(v: Any, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ScheduleError(f"{what}: expected a positive int, got {v!r}")
    return v


class StageSchedule:
    """The fluent handle `s[f]` (stage 0) or `s[f].update(i)`; each method returns the handle.

    s[blur_y].tile(x, y, xo, yo, xi, yi, 256, 32).vectorize(xi, 8).parallel(yo)
    """

    def __init__(self, schedule: Schedule, func: str, stage: int = 0):
        self._schedule, self._func, self._stage = schedule, func, stage

    @property
    def _entry(self) -> FuncSchedule:
        return self._schedule.funcs.setdefault(self._func, FuncSchedule())

    def _add(self, directive: LoopDirective) -> StageSchedule:
        self._entry.stages.setdefault(self._stage, []).append(directive)
        return self

    def _where(self, method: str) -> str:
        stage = f".update({self._stage - 1})" if self._stage else ""
        return f"s[{self._func!r}]{stage}.{method}"

    def update(self, index: int = 0) -> StageSchedule:
        """The handle of update definition `index` of the Func."""
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ScheduleError(f"{self._where('update')}: expected an update index >= 0, got {index!r}")
        return StageSchedule(self._schedule, self._func, index + 1)

    # -- loops
    def split(self, var: Any, outer: Any, inner: Any, factor: int, tail: str = "auto") -> StageSchedule:
        """`for var in [0, W)` becomes
            for outer in [0, ceil(W/factor)):
                for inner in [0, factor):  var = outer*factor + inner
        The tail when factor does not divide W: guard_with_if (skip the extra points),
        shift_inwards (shift the last iteration back; pure definitions only), round_up
        (compute the extra points; intermediates only), auto (shift_inwards for pure
        definitions, guard_with_if for updates)."""
        where = self._where("split")
        if tail not in TAILS:
            raise ScheduleError(f"{where}: tail must be one of {', '.join(TAILS)}, got {tail!r}")
        return self._add(
            Split(
                _name(var, where), _name(outer, where), _name(inner, where), _positive(factor, f"{where} factor"), tail
            )
        )

    def tile(
        self, x: Any, y: Any, xo: Any, yo: Any, xi: Any, yi: Any, x_factor: int, y_factor: int, tail: str = "auto"
    ) -> StageSchedule:
        """Split x and y, then order the loops xi, yi, xo, yo (innermost first)."""
        self.split(x, xo, xi, x_factor, tail).split(y, yo, yi, y_factor, tail)
        return self.reorder(xi, yi, xo, yo)

    def reorder(self, *vars: Any) -> StageSchedule:
        """Loop order of these vars, innermost first."""
        where = self._where("reorder")
        names = tuple(_name(v, where) for v in vars)
        if len(set(names)) != len(names):
            raise ScheduleError(f"{where}: a var is named twice in {list(names)}")
        return self._add(Reorder(names))

    def fuse(self, inner: Any, outer: Any, fused: Any) -> StageSchedule:
        where = self._where("fuse")
        return self._add(Fuse(_name(inner, where), _name(outer, where), _name(fused, where)))

    def vectorize(self, var: Any, width: int | None = None) -> StageSchedule:
        """SIMD over `var`; with `width` (a power of two), split by width first."""
        where = self._where("vectorize")
        if width is not None:
            _positive(width, f"{where} width")
            if width & (width - 1):
                raise ScheduleError(f"{where}: width must be a positive power of two, got {width}")
        return self._add(Vectorize(_name(var, where), width))

    def unroll(self, var: Any, factor: int | None = None) -> StageSchedule:
        where = self._where("unroll")
        if factor is not None:
            _positive(factor, f"{where} factor")
        return self._add(Unroll(_name(var, where), factor))

    def parallel(self, var: Any) -> StageSchedule:
        return self._add(Parallel(_name(var, self._where("parallel"))))

    def bound(self, var: Any, min: int, extent: int) -> StageSchedule:
        where = self._where("bound")
        if not isinstance(min, int) or isinstance(min, bool):
            raise ScheduleError(f"{where}: min must be an int, got {min!r}")
        return self._add(Bound(_name(var, where), min, _positive(extent, f"{where} extent")))

    def stream(self) -> StageSchedule:
        """Write this output with non-temporal stores where its vector loops store whole cache
        lines: worth it when the output is much larger than the last-level cache and is not
        read soon after (it is not left in the cache), and a loss otherwise. The output array
        should start on a 64-byte boundary (those the call allocates do); elsewhere the stores
        stay ordinary ones."""
        if self._stage:
            raise ScheduleError(f"{self._where('stream')}: stream applies to the pure definition (stage 0)")
        return self._add(Stream())

    # -- placement
    def _place(self, method: str) -> FuncSchedule:
        if self._stage:
            raise ScheduleError(f"{self._where(method)}: placement applies to the whole Func, not an update")
        return self._entry

    def compute_root(self) -> StageSchedule:
        self._place("compute_root").compute = ComputeRoot()
        return self

    def compute_inline(self) -> StageSchedule:
        self._place("compute_inline").compute = ComputeInline()
        return self

    def compute_at(self, consumer: Any, var: Any) -> StageSchedule:
        where = self._where("compute_at")
        self._place("compute_at").compute = ComputeAt(_func_name(consumer, where), _name(var, where))
        return self

    def store_at(self, consumer: Any, var: Any) -> StageSchedule:
        where = self._where("store_at")
        self._place("store_at").store = StoreAt(_func_name(consumer, where), _name(var, where))
        return self

    def store_root(self) -> StageSchedule:
        self._place("store_root").store = StoreRoot()
        return self


def _func_name(f: Any, what: str) -> str:
    if isinstance(f, Func):
        return f.name
    if isinstance(f, str) and f:
        return f
    raise ScheduleError(f"{what}: expected a Func or a Func name, got {f!r}")


class Schedule:
    """How to run a pipeline, kept apart from it: `s = Schedule(); s[blur_x].compute_root()`."""

    def __init__(self) -> None:
        self.funcs: dict[str, FuncSchedule] = {}
        self.gathers = False

    def __getitem__(self, func: Func | str) -> StageSchedule:
        return StageSchedule(self, _func_name(func, "Schedule[...]"))

    def allow_gathers(self, allow: bool = True) -> Schedule:
        """Let the C compiler use hardware gathers for the vector loads at computed indices of
        this pipeline (a table lookup, a data-dependent grid cell). By default they are off:
        on CPUs with the Gather Data Sampling mitigation (Intel, 2023 microcode) a gather is
        slower than the scalar loads it stands for (codegen.build.NO_GATHER_FLAGS). Where
        gathers are fast (AMD Zen 4 and 5) a loop of many such loads gains; the choice is the
        compiler's, for the whole pipeline's library."""
        if not isinstance(allow, bool):
            raise ScheduleError(f"allow_gathers: expected True or False, got {allow!r}")
        self.gathers = allow
        return self

    # -- JSON
    def to_json(self) -> str:
        data = {}
        for name, fs in sorted(self.funcs.items()):
            entry: dict[str, Any] = {}
            if fs.compute is not None:
                entry["compute"] = _encode(fs.compute)
            if fs.store is not None:
                entry["store"] = _encode(fs.store)
            if fs.stages:
                entry["stages"] = {str(k): [_encode(d) for d in v] for k, v in sorted(fs.stages.items())}
            data[name] = entry
        document: dict[str, Any] = {"saline_schedule": 1, "funcs": data}
        if self.gathers:
            document["gathers"] = True
        return json.dumps(document, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        try:
            data: Any = json.loads(text)
        except (json.JSONDecodeError, TypeError) as err:
            raise ScheduleError(f"schedule JSON is malformed: {err}") from None
        if not isinstance(data, dict) or data.get("saline_schedule") != 1 or not isinstance(data.get("funcs"), dict):
            raise ScheduleError('schedule JSON must be an object with "saline_schedule": 1 and a "funcs" object')
        s = cls()
        if not isinstance(data.get("gathers", False), bool):
            raise ScheduleError(f'schedule JSON: "gathers" must be true or false, got {data["gathers"]!r}')
        s.gathers = data.get("gathers", False)
        for name, entry in data["funcs"].items():
            if not isinstance(entry, dict):
                raise ScheduleError(f"schedule JSON: entry of Func {name!r} must be an object")
            fs = FuncSchedule()
            if "compute" in entry:
                fs.compute = _decode(entry["compute"], name, PLACEMENTS)
            if "store" in entry:
                fs.store = _decode(entry["store"], name, STORAGES)
            stages = entry.get("stages", {})
            if not isinstance(stages, dict):
                raise ScheduleError(f"schedule JSON: stages of Func {name!r} must be an object")
            for k, directives in stages.items():
                if not (isinstance(k, str) and k.isdigit()) or not isinstance(directives, list):
                    raise ScheduleError(f"schedule JSON: Func {name!r} stage {k!r} must map a number to a list")
                fs.stages[int(k)] = [_decode(d, name, LOOP_DIRECTIVES) for d in directives]
            s.funcs[name] = fs
        return s

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.funcs == other.funcs and self.gathers == other.gathers

    def __repr__(self) -> str:
        return f"Schedule({self.to_json()})"


def _encode(d: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": type(d).__name__}
    for f in dataclasses.fields(d):
        v = getattr(d, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _decode(raw: Any, func: str, allowed: tuple[type, ...] | None = None) -> Any:
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if not isinstance(kind, str) or kind not in DIRECTIVES:
        raise ScheduleError(f"schedule JSON: Func {func!r}: unknown directive {raw!r}")
    if allowed is not None and not issubclass(DIRECTIVES[kind], allowed):
        names = ", ".join(c.__name__ for c in allowed)
        raise ScheduleError(f"schedule JSON: Func {func!r}: {kind} does not belong here (expected {names})")
    cls = DIRECTIVES[raw["kind"]]
    kwargs = {k: v for k, v in raw.items() if k != "kind"}
    names = {f.name for f in dataclasses.fields(cls)}
    if not set(kwargs) <= names:
        raise ScheduleError(f"schedule JSON: Func {func!r}: {raw['kind']} has no field {sorted(set(kwargs) - names)}")
    if "vars" in kwargs:
        kwargs["vars"] = tuple(kwargs["vars"]) if isinstance(kwargs["vars"], list) else kwargs["vars"]
    try:
        directive = cls(**kwargs)
    except TypeError as err:
        raise ScheduleError(f"schedule JSON: Func {func!r}: {raw['kind']}: {err}") from None
    _check_fields(directive, func)
    return directive


def _check_fields(d: Any, func: str) -> None:
    """Types of a directive's fields, so a malformed file or a record built by hand fails with a
    clear message rather than in lowering (a Split's factor is required; Vectorize's and
    Unroll's may be None)."""
    for f in dataclasses.fields(d):
        v = getattr(d, f.name)
        if f.name == "factor" and isinstance(d, Split) and v is None:
            raise ScheduleError(f"s[{func!r}].{directive_text(d)}: Split.factor must be a positive int, got None")
        ok = {
            "var": isinstance(v, str),
            "outer": isinstance(v, str),
            "inner": isinstance(v, str),
            "fused": isinstance(v, str),
            "consumer": isinstance(v, str),
            "tail": v in TAILS,
            "factor": v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0),
            "width": v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0 and not v & (v - 1)),
            "min": isinstance(v, int) and not isinstance(v, bool),
            "extent": isinstance(v, int) and not isinstance(v, bool) and v > 0,
            "vars": isinstance(v, tuple) and all(isinstance(n, str) for n in v),
        }.get(f.name, True)
        if not ok:
            raise ScheduleError(f"s[{func!r}].{directive_text(d)}: {type(d).__name__}.{f.name} has a bad value {v!r}")


def resolve_placement(pipeline: Pipeline, schedule: Schedule | None) -> frozenset[Func]:
    """The Funcs computed at root under `schedule` (None: the default schedule)."""
    by_name: dict[str, list[Func]] = {}
    for f in pipeline.funcs:
        by_name.setdefault(f.name, []).append(f)
    entries = schedule.funcs if schedule is not None else {}
    for name, entry in entries.items():
        if name not in by_name:
            known = ", ".join(sorted(by_name))
            raise ScheduleError(
                f"s[{name!r}].{_first_directive(entry)}: no Func {name!r} in the pipeline (it has {known})"
            )
        if len(by_name[name]) > 1:
            raise ScheduleError(f"schedule names Func {name!r}, but several Funcs of the pipeline have that name")
    roots = set()
    for f in pipeline.funcs:
        entry = entries.get(f.name)
        if entry is not None:
            _check_entry(f, entry)
        compute = entry.compute if entry is not None else None
        if entry is not None and any(isinstance(d, Stream) for d in entry.stages.get(0, [])):
            why = (
                "is not an output of the pipeline"
                if f not in pipeline.outputs
                else "has update definitions, which read back what its pure definition wrote"
                if f.has_updates()
                else None
            )
            if why is not None:
                raise ScheduleError(
                    f"s[{f.name!r}].stream(): {f.name!r} {why}; only outputs that nothing in the pipeline "
                    "reads back are written around the caches"
                )
        if f in pipeline.outputs or f.has_updates():
            if isinstance(compute, ComputeInline):
                why = "an output" if f in pipeline.outputs else "a Func with update definitions"
                raise ScheduleError(f"Func {f.name!r}: compute_inline is not possible for {why}")
            roots.add(f)
        elif isinstance(compute, (ComputeRoot, ComputeAt)):
            roots.add(f)
    for f in pipeline.funcs:
        entry = entries.get(f.name)
        if entry is not None and f not in roots and (entry.stages or entry.store is not None):
            what = _first_directive(entry)
            raise ScheduleError(
                f"s[{f.name!r}].{what}: {f.name!r} is inlined, so it has no loops or storage of its own; "
                "compute it at root or at a loop of its consumer first"
            )
    return frozenset(roots)


def directive_text(d: Any) -> str:
    """A directive as the fluent call that makes it: `split('x', 'xo', 'xi', 8, 'auto')`."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(d).__name__).lower()
    values = [getattr(d, f.name) for f in dataclasses.fields(d)]
    return f"{name}({', '.join(repr(v) for v in values)})"


def _first_directive(entry: FuncSchedule) -> str:
    """The first directive of an entry, for messages."""
    for d in (entry.compute, entry.store, *(x for v in entry.stages.values() for x in v)):
        if d is not None:
            return directive_text(d)
    return "(empty)"


def _check_entry(f: Func, entry: FuncSchedule) -> None:
    """Directives that are well formed on their own but do not fit this Func."""
    if entry.compute is not None and not isinstance(entry.compute, PLACEMENTS):
        raise ScheduleError(f"s[{f.name!r}]: {type(entry.compute).__name__} is not a compute placement")
    if entry.store is not None and not isinstance(entry.store, STORAGES):
        raise ScheduleError(f"s[{f.name!r}]: {type(entry.store).__name__} is not a storage placement")
    if (
        entry.store is not None
        and not isinstance(entry.compute, ComputeAt)
        and not (isinstance(entry.store, StoreRoot) and isinstance(entry.compute, ComputeRoot))
    ):  # store_root of a Func computed at root says nothing new
        raise ScheduleError(
            f"s[{f.name!r}].{directive_text(entry.store)}: storage can be placed only for a Func "
            "computed at a loop (compute_at)"
        )
    for stage, directives in entry.stages.items():
        if stage >= len(f.definitions):
            raise ScheduleError(f"s[{f.name!r}].update({stage - 1}): {f.name!r} has {len(f.definitions) - 1} update(s)")
        for d in directives:
            if not isinstance(d, LOOP_DIRECTIVES):
                raise ScheduleError(f"s[{f.name!r}]: {d!r} is not a loop directive")
            _check_fields(d, f.name)

"""Schedules: plain data saying where each Func is computed, applied to a pipeline at compile time.

After this module: a `Schedule` maps Func names to directives (frozen dataclasses) and
round-trips through JSON; `resolve_placement` gives, for one pipeline, the set of Funcs
computed at root (every other Func is inlined into its consumers). The default schedule
inlines every Func except outputs and Funcs with update definitions, which are computed at
root, with serial loops (DESIGN section 3). Loop transformations (split, tile, vectorize,
parallel, compute_at) come with the scheduling issue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipelines.func import Func
from pipelines.pipeline import Pipeline


class ScheduleError(ValueError):
    """A schedule directive conflicts with the pipeline it is applied to."""


@dataclass(frozen=True)
class ComputeRoot:
    """Compute the whole required region of the Func before its consumers run."""


@dataclass(frozen=True)
class ComputeInline:
    """Substitute the Func's definition into every use (pure Funcs only)."""


DIRECTIVES = {"ComputeRoot": ComputeRoot, "ComputeInline": ComputeInline}


class StageSchedule:
    """The fluent handle `s[f]`: each method records a directive and returns the handle."""

    def __init__(self, schedule: Schedule, func: str):
        self._schedule, self._func = schedule, func

    def compute_root(self) -> StageSchedule:
        self._schedule._set(self._func, ComputeRoot())
        return self

    def compute_inline(self) -> StageSchedule:
        self._schedule._set(self._func, ComputeInline())
        return self


class Schedule:
    """How to run a pipeline, kept apart from it: `s = Schedule(); s[blur_x].compute_root()`."""

    def __init__(self) -> None:
        self.placement: dict[str, ComputeRoot | ComputeInline] = {}

    def __getitem__(self, func: Func | str) -> StageSchedule:
        name = func.name if isinstance(func, Func) else func
        if not isinstance(name, str):
            raise TypeError(f"Schedule[...] takes a Func or a Func name, got {type(func).__name__}")
        return StageSchedule(self, name)

    def _set(self, func: str, directive: ComputeRoot | ComputeInline) -> None:
        self.placement[func] = directive

    def to_json(self) -> str:
        return json.dumps({"placement": {k: type(v).__name__ for k, v in sorted(self.placement.items())}})

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as err:
            raise ScheduleError(f"schedule JSON is malformed: {err}") from None
        if not isinstance(data, dict) or not isinstance(data.get("placement", {}), dict):
            raise ScheduleError("schedule JSON must be an object with a 'placement' object")
        s = cls()
        for name, kind in data.get("placement", {}).items():
            if kind not in DIRECTIVES:
                raise ScheduleError(f"schedule JSON: unknown directive {kind!r} for Func {name!r}")
            s._set(name, DIRECTIVES[kind]())
        return s

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.placement == other.placement


def resolve_placement(pipeline: Pipeline, schedule: Schedule | None) -> frozenset[Func]:
    """The Funcs computed at root under `schedule` (None: the default schedule)."""
    by_name: dict[str, list[Func]] = {}
    for f in pipeline.funcs:
        by_name.setdefault(f.name, []).append(f)
    placement = schedule.placement if schedule is not None else {}
    for name in placement:
        if name not in by_name:
            known = ", ".join(sorted(by_name))
            raise ScheduleError(f"schedule names Func {name!r}, which is not in the pipeline (it has {known})")
        if len(by_name[name]) > 1:
            raise ScheduleError(f"schedule names Func {name!r}, but several Funcs of the pipeline have that name")
    roots = set()
    for f in pipeline.funcs:
        directive = placement.get(f.name)
        if f in pipeline.outputs or f.has_updates():
            if isinstance(directive, ComputeInline):
                why = "an output" if f in pipeline.outputs else "a Func with update definitions"
                raise ScheduleError(f"Func {f.name!r}: compute_inline is not possible for {why}")
            roots.add(f)
        elif isinstance(directive, ComputeRoot):
            roots.add(f)
    return frozenset(roots)

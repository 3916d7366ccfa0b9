"""What a suite hands the harness: the rows to measure (`Candidate`) for one size, with the
reference output they are checked against (`Workload`), and `Skip` for a peer that cannot run
here. A suite module has `SIZES` and `workload(size, threads, peers, variants) -> Workload`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np


class Skip(Exception):
    """A system that cannot run here (not installed, plugin missing): reported as a note."""


@dataclass
class Candidate:
    """One row: `setup()` builds and returns `run`, whose result is the output (any array-like
    of the reference's shape); `check()`, if given, is an extra correctness check run once after
    setup; `note` is printed under the table."""

    system: str
    variant: str
    setup: Callable[[], Callable[[], Any]]
    check: Callable[[], bool] | None = None
    note: str = ""


@dataclass
class Workload:
    benchmark: str
    size: tuple[int, int]  # (W, H)
    reference: np.ndarray
    bytes_moved: int  # read + written once, for the floor
    candidates: list[Candidate]
    notes: list[str] = field(default_factory=list)
    rtol: float = 1e-5
    atol: float = 1e-6


def optional(module: str, package: str) -> ModuleType:
    """Import a peer's module, or raise Skip naming the package that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise Skip(f"{module} is not importable ({err}); pip install {package}, or the 'bench' extra") from None

"""Fuzz seeds checked on worker processes: one case per task, all of its work in one process.

`forward(seed)` is one case of the differential fuzzer exactly as test_fuzz.py checks it
(`cases.case`, `check.compiled`, `check.outcome`, and on failure `check.shrink` and
`check.report`); `backward(seed)` is one finite-difference gradient check exactly as
tests/autodiff/test_gradcheck.py makes it (`tests.autodiff.gradcheck.check_seed`). Each returns
a `Result`: `signature` None when the case passed, else the failure's signature, what went
wrong (with the repro) in `text`, and the standalone repro program in `program`.

`Checker(task, jobs)` runs such a task on `jobs` processes (the Python work of a case holds the
GIL, so threads would use one core). Workers are spawned, not forked, so they hold no copy of
the caller's threads or caches; a worker builds each seed for the first time in its process, so
the case's C (with its `s<seed>_` names) is the same as in a sequential run and the disk cache,
safe for concurrent builders, serves it. A worker that dies (a compiled case crashing the
process) breaks the pool: every seed then in flight is checked again alone, in a fresh
process, and a seed that kills that one too fails with signature `crash` and the program
`repro(seed)`; the other seeds go on in a fresh pool. A worker is replaced after
`TASKS_PER_WORKER` cases, so that the libraries it loaded do not pile up over a long run.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

from codegen.compile import CompiledPipeline
from tests.autodiff import gradcheck
from tests.fuzz import cases, check

# Cases one worker process checks before it is replaced: each case loads a library that stays
# mapped (a few memory maps each, against the kernel's limit of about 65,000 per process).
TASKS_PER_WORKER = 250


@dataclass(frozen=True)
class Result:
    """How one seed went: `signature` None when it passed."""

    seed: int
    signature: str | None = None
    text: str = ""  # what went wrong, with the repro
    program: str = ""  # the standalone repro program
    refused: bool = False  # passed as a confirmed refusal of wrapping int32 index arithmetic


def _compile(built: cases.Built) -> CompiledPipeline | BaseException:
    try:
        return check.compiled(built)
    except Exception as e:  # noqa: BLE001 - judged like any failure, by check.outcome
        return e


def _error(seed: int, what: str, e: BaseException) -> Result:
    return Result(seed, f"{what} {type(e).__name__}", "".join(traceback.format_exception(e)))


def forward(seed: int, shrink: int = 150) -> Result:
    """Case `seed` of the differential fuzzer, shrunk (at most `shrink` candidate builds) when it fails.

    Generating it or interpreting it raising is a failure too (`generate <Error>`,
    `interpret <Error>`): both are bugs of the generator or of the interpreter."""
    try:
        spec, built = cases.case(seed)
    except Exception as e:  # noqa: BLE001 - a generator failure is a failure of that seed
        return _error(seed, "generate", e)
    binary = _compile(built)
    try:
        signature = check.outcome(built, binary)
    except Exception as e:  # noqa: BLE001 - the interpreter refused the case
        return _error(seed, "interpret", e)
    if signature is None:
        return Result(seed, refused=built.refused)
    small = check.shrink(spec, signature, shrink)
    return Result(seed, signature, check.report(small, signature), check.program(small, signature))


def forward_repro(seed: int) -> str:
    """The unshrunk program of case `seed` (for a case that kills its process)."""
    return check.program(cases.case(seed)[0], "crash")


def backward(seed: int) -> Result:
    """The finite-difference gradient check of autodiff pipeline `seed`."""
    try:
        gradcheck.check_seed(seed)
    except Exception as e:  # noqa: BLE001 - an exception is a failure of that seed, whatever it is
        failed = _error(seed, "gradcheck", e)
        program = gradcheck.program(seed, failed.signature or "")
        text = f"{failed.text}\n# --- repro (run from the repository root) ---\n{program}"
        return replace(failed, text=text, program=program)
    return Result(seed)


def backward_repro(seed: int) -> str:
    return gradcheck.program(seed, "crash")


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Checker:
    """`task` (a picklable callable from seed to `Result`) run on `jobs` worker processes."""

    def __init__(self, task: Callable[[int], Result], jobs: int, repro: Callable[[int], str]):
        self.task, self.jobs, self.repro = task, jobs, repro
        self.pool = self._new_pool(jobs)
        self.futures: dict[int, Future[Result]] = {}

    @staticmethod
    def _new_pool(jobs: int) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=jobs, mp_context=context, max_tasks_per_child=TASKS_PER_WORKER)

    def submit(self, seeds: Iterable[int]) -> None:
        """Queue `seeds` (in order; each at most once)."""
        for seed in seeds:
            if seed not in self.futures:
                self.futures[seed] = self.pool.submit(self.task, seed)

    def result(self, seed: int) -> Result:
        """The result of `seed` (queued now if it was not), waiting for it."""
        self.submit([seed])
        try:
            return self.futures.pop(seed).result()
        except BrokenProcessPool:
            return self._recover(seed)

    def completed(self) -> Iterator[Result]:
        """Results of the queued seeds as they finish (queue more while iterating)."""
        while self.futures:
            done, _ = wait(self.futures.values(), return_when=FIRST_COMPLETED)
            for seed in sorted(s for s, f in self.futures.items() if f in done):
                yield self.result(seed)

    def _recover(self, seed: int) -> Result:
        """After a worker died: `seed` checked alone; the others in flight resubmitted to a fresh pool."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        waiting = sorted(self.futures)
        self.futures.clear()
        self.pool = self._new_pool(self.jobs)
        result = self._alone(seed)
        self.submit(waiting)
        return result

    def _alone(self, seed: int) -> Result:
        with self._new_pool(1) as pool:
            try:
                return pool.submit(self.task, seed).result()
            except BrokenProcessPool:
                program = self.repro(seed)
                text = f"the worker process died checking seed {seed}\n\n# --- repro ---\n{program}"
                return Result(seed, "crash", text, program)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["Checker", "Result", "backward", "backward_repro", "cores", "forward", "forward_repro"]

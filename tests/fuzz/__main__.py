"""Run the differential fuzzer outside pytest: `python -m tests.fuzz --cases 20000 [--seed S]`.

Checks seeds `seed .. seed + cases - 1` exactly as tests/fuzz/test_fuzz.py does, or with
`--backward` exactly as tests/autodiff/test_gradcheck.py checks gradients (finite differences of
a random differentiable pipeline), on `--jobs` worker processes (default: every core;
`--jobs 1` checks in this process, for profiling). It prints a progress line every `--every`
cases and, for each failure, what went wrong, writing the standalone repro program (shrunk, for
a forward case) to `--out/seed-<n>.py` (`grad-seed-<n>.py` for a backward one). `--time-limit S`
stops taking new seeds after S seconds; the seeds taken are always a contiguous range, and all
of them are checked. The last line is a summary: cases, seed range, time, rate, failures, and the
confirmed refusals (tests/fuzz/overflow.py), which pass.
Exits 1 when any case failed. It lives with the tests, not in the `saline` command line, because
the generators are test code and the package does not import its tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from tests.fuzz import parallel


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--jobs", type=int, default=parallel.cores(), help="worker processes (1: this one)")
    parser.add_argument("--backward", action="store_true", help="gradient checks instead of forward cases")
    parser.add_argument("--every", type=int, default=500, help="progress line every N cases")
    parser.add_argument("--shrink", type=int, default=300, help="candidate builds per forward failure")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    parser.add_argument("--time-limit", type=float, default=0, help="stop taking new seeds after S seconds")
    return parser


def _results(
    task: Callable[[int], parallel.Result], repro: Callable[[int], str], args: argparse.Namespace, start: float
) -> Iterator[parallel.Result]:
    """Results as they finish, taking seeds in order until `--cases` or `--time-limit`."""
    seeds = iter(range(args.seed, args.seed + args.cases))

    def take(n: int) -> list[int]:
        if args.time_limit and time.perf_counter() - start > args.time_limit:
            return []
        return [s for _, s in zip(range(n), seeds)]

    if args.jobs == 1:
        while batch := take(1):
            yield task(batch[0])
        return
    checker = parallel.Checker(task, args.jobs, repro)
    try:
        checker.submit(take(2 * args.jobs))  # a second case queued per worker: no worker waits
        for result in checker.completed():
            checker.submit(take(1))
            yield result
    finally:
        checker.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    task: Callable[[int], parallel.Result] = partial(parallel.forward, shrink=args.shrink)
    repro, mode, stem = parallel.forward_repro, "forward", "seed"
    if args.backward:
        task, repro, mode, stem = parallel.backward, parallel.backward_repro, "backward", "grad-seed"
    start = time.perf_counter()
    failures: Counter[str] = Counter()
    failing: list[int] = []
    done, last, refused = 0, args.seed - 1, []
    print(f"{mode}: seeds from {args.seed}, at most {args.cases}, {args.jobs} jobs", flush=True)
    try:
        for result in _results(task, repro, args, start):
            done, last = done + 1, max(last, result.seed)
            if result.refused:
                refused.append(result.seed)
            if result.signature is not None:
                failures[result.signature] += 1
                failing.append(result.seed)
                args.out.mkdir(parents=True, exist_ok=True)
                if result.program:
                    (args.out / f"{stem}-{result.seed}.py").write_text(result.program)
                print(f"seed {result.seed}: {result.signature}\n{result.text}", flush=True)
            if done % args.every == 0:
                rate = done / (time.perf_counter() - start)
                print(f"{done} cases, {len(failing)} failing, {rate:.2f} cases/s", flush=True)
    finally:
        elapsed = time.perf_counter() - start
        print(
            f"{mode}: {done} cases (seeds {args.seed}..{last}) in {elapsed:.0f} s, {done / max(elapsed, 1e-9):.2f} "
            f"cases/s, {args.jobs} jobs on {parallel.cores()} cores; {len(failing)} failing: "
            f"{dict(failures) or 'none'}{' at seeds ' + str(sorted(failing)) if failing else ''}; "
            f"{len(refused)} confirmed refusals of wrapping int32 index arithmetic"
            f"{' at seeds ' + str(sorted(refused)) if refused else ''}",
            flush=True,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the differential fuzzer outside pytest: `python -m tests.fuzz --cases 20000 [--seed S]`.

Checks cases `seed .. seed + cases - 1` exactly as tests/fuzz/test_fuzz.py does (compiled on
`--workers` threads), prints a progress line every `--every` cases, and for each failure writes
the shrunk standalone repro to `--out/seed-<n>.py`; `--time-limit S` stops taking new cases
after S seconds (the summary says how many were checked). Exits 1 when any case failed. It lives with
the tests, not in the `saline` command line, because the generator is test code (it reuses
tests/scheduler/schedule_gen.py) and the package does not import its tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from codegen.compile import CompiledPipeline
from tests.fuzz import cases, check, gen


def _compile(built: cases.Built) -> CompiledPipeline | BaseException:
    try:
        return check.compiled(built)
    except Exception as e:  # noqa: BLE001 - judged like any failure
        return e


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--workers", type=int, default=2, help="compile threads")
    parser.add_argument("--every", type=int, default=500, help="progress line every N cases")
    parser.add_argument("--shrink", type=int, default=300, help="candidate builds per failure")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    parser.add_argument("--time-limit", type=float, default=0, help="stop taking new cases after S seconds")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    failures: Counter[str] = Counter()
    pool = ThreadPoolExecutor(max_workers=args.workers)
    pending: list[tuple[int, gen.Spec, cases.Built, Future[CompiledPipeline | BaseException]]] = []
    seeds = iter(range(args.seed, args.seed + args.cases))
    done = 0

    def fill() -> None:
        while len(pending) < 3 * args.workers:
            seed = next(seeds, None)
            if args.time_limit and time.perf_counter() - start > args.time_limit:
                seed = None
            if seed is None:
                return
            try:
                spec, built = cases.case(seed)
            except Exception as e:  # noqa: BLE001 - a generator failure is a failure of that seed
                failures[f"generate {type(e).__name__}"] += 1
                print(f"seed {seed}: generating failed: {type(e).__name__}: {e}", flush=True)
                continue
            pending.append((seed, spec, built, pool.submit(_compile, built)))

    fill()
    while pending:
        seed, spec, built, future = pending.pop(0)
        fill()
        try:
            signature = check.outcome(built, future.result())
        except Exception as e:  # noqa: BLE001 - the interpreter refused the case: a generator bug
            signature = f"interpret {type(e).__name__}"
            print(f"seed {seed}: the interpreter refused it: {type(e).__name__}: {e}", flush=True)
            failures[signature] += 1
            done += 1
            continue
        done += 1
        if signature is not None:
            failures[signature] += 1
            args.out.mkdir(parents=True, exist_ok=True)
            small = check.shrink(spec, signature, args.shrink)
            (args.out / f"seed-{seed}.py").write_text(check.program(small, signature))
            print(f"seed {seed}: {check.report(small, signature)}", flush=True)
        if done % args.every == 0:
            rate = done / (time.perf_counter() - start)
            print(f"{done} cases, {sum(failures.values())} failing, {rate:.2f} cases/s", flush=True)
    pool.shutdown()
    elapsed = time.perf_counter() - start
    print(f"{done} cases checked in {elapsed:.0f} s ({os.cpu_count()} cpus); failures: {dict(failures) or 'none'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

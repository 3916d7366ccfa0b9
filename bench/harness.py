"""The benchmark harness: Saline's schedules beside its peers, timed side by side in one process.

    python -m bench [--suite blur] [--size WxH ...] [--threads N] [--peers LIST] [--json FILE]
    python -m bench --suite apps [--bench harris,median3x3] [--compile-timeout S]
    saline bench ...                                    (the same, through the command line)

For each benchmark and size it builds every system's callable (timed as "setup": compiling,
JIT, torch.compile), checks its output against the suite's reference and runs it `--warmup`
times; then it times them in `--runs` (>= 7) interleaved rounds: each round runs every system
once, untimed, to bring its own data back into cache, and then `--per-round` times timed, the
systems taking turns in an order that rotates from round to round. On a shared, noisy machine a
load spike then lands on every system alike instead of on whichever ran back to back through
it. All systems get the same input and thread count. It prints the median over all timed runs,
min and max, their ratio to the best Saline variant and to the floor (bytes read and written
once over the measured copy bandwidth, bench.floor: `floor copy` from 64 MiB arrays, `floor
copy_image` from arrays of the input's size), and the share of the CPU that other processes
took meanwhile (timings on a busy machine are disturbed).

The process must start with steady malloc settings (../shared/ANCHORS.md: without them numpy,
torch eager and compute_root schedules page-fault their image-sized temporaries in again on
every call) and with the thread counts of OpenMP, Halide and Saline fixed; glibc and the thread
pools read them only at start, so `main` re-executes `python -m bench` once with them set when
they are missing (`--no-reexec` measures the process as it is).

A suite with several benchmarks (apps) lists them in `BENCHMARKS`; `--bench NAMES` picks some.
Each is built and measured on its own (one that fails to build is reported FAILED, the others
run), and with `--json` the file is rewritten after each. A table with a Halide `manual` row has
a column "x hl-man"; a suite's `summary(results, threads)`, if any, is printed after its rows.

`--json FILE` writes {"machine": {...}, "notes": [...], "records": [...]}, one record per
measured row: {"benchmark", "system", "variant", "threads", "size": [W, H], "median_ms",
"min_ms", "max_ms", "runs", "correct"}. A peer that is not installed, or fails to build, is
skipped with a note; a Saline variant that fails, or a wrong Saline result, makes the exit
status 1 (after the other rows have run).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench import apps, blur, floor, grad
from bench.workload import Candidate, Skip, Workload

SUITES = {"blur": blur, "grad": grad, "apps": apps}
PEERS = ("numpy", "scipy", "opencv", "torch", "torch.compile", "halide")
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "10000000000"}
REEXEC_MARK = "SALINE_BENCH_CHILD"
MIN_RUNS = 7
SETTLE_S = 0.05  # lets the previous system's spinning worker threads go to sleep


@dataclass
class Record:
    benchmark: str
    system: str
    variant: str
    threads: int
    size: list[int]
    median_ms: float
    min_ms: float
    max_ms: float
    runs: int
    correct: bool


@dataclass
class Row:
    record: Record
    setup_s: float | None
    cpu: tuple[float, float] = (0.0, 0.0)  # (wall s, CPU s of other processes) of the timed runs


# ---------------------------------------------------------------- timing and threads


def time_runs(fn: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    """Seconds of each of `runs` calls of `fn`, after `warmup` untimed calls, with the garbage
    collector paused so that its pauses land in no run."""
    for _ in range(warmup):
        fn()
    enabled = gc.isenabled()
    gc.disable()
    try:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return times


def round_order(count: int, round_index: int) -> list[int]:
    """The order in which `count` systems run in round `round_index`: a rotation that starts one
    later each round, so over `count` rounds every system runs once in every position (first
    after the settle pause, or right after each of the others)."""
    return [(round_index + k) % count for k in range(count)] if count else []


@dataclass
class Timed:
    """One system's timed runs from `interleaved_runs`: seconds per run, the (wall s, CPU s of
    other processes) over its timed runs, and the error that dropped it from later rounds."""

    times: list[float]
    cpu: tuple[float, float] = (0.0, 0.0)
    error: Exception | None = None


def interleaved_runs(
    fns: Sequence[Callable[[], Any]],
    rounds: int,
    per_round: int = 1,
    round_warmup: int = 1,
    settle_s: float = 0.0,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Timed]:
    """Time each of `fns` in `rounds` rounds (module docstring): in each round, in the order of
    `round_order`, every function runs `round_warmup` times untimed and then `per_round` times
    timed. A function that raises is dropped from the later rounds with the error kept. The
    garbage collector is paused during the rounds, and `settle_s` passes before each system's
    turn (the previous system's spinning thread pool goes to sleep meanwhile)."""
    timed = [Timed([]) for _ in fns]
    enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for i in round_order(len(fns), r):
                t = timed[i]
                if t.error is not None:
                    continue
                if settle_s > 0:
                    time.sleep(settle_s)
                try:
                    for _ in range(round_warmup):
                        fns[i]()
                    sample = _cpu_sample()
                    for _ in range(per_round):
                        start = clock()
                        fns[i]()
                        t.times.append(clock() - start)
                    wall, others = cpu_use(sample)
                    t.cpu = (t.cpu[0] + wall, t.cpu[1] + others)
                except Exception as err:  # reported by the caller, by system
                    t.error = err
    finally:
        if enabled:
            gc.enable()
    return timed


def thread_environment(threads: int) -> dict[str, str]:
    """Variables that fix every library's thread count, read by the libraries at start."""
    n = str(threads)
    return {"OMP_NUM_THREADS": n, "SALINE_NUM_THREADS": n, "HL_NUM_THREADS": n, "MKL_NUM_THREADS": n}


def apply_threads(threads: int) -> None:
    """Set the thread variables in this process too (for libraries not loaded yet); torch and
    OpenCV take theirs by call when their peers are set up."""
    os.environ.update(thread_environment(threads))


def needs_reexec(threads: int) -> bool:
    if os.environ.get(REEXEC_MARK):
        return False
    wanted = {**STEADY_MALLOC, **thread_environment(threads)}
    return any(os.environ.get(k) != v for k, v in wanted.items())


def reexec(argv: Sequence[str], threads: int) -> None:
    """Replace this process by `python -m bench argv` with steady malloc and thread variables."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, **STEADY_MALLOC, **thread_environment(threads), **{REEXEC_MARK: "1"})
    env["PYTHONPATH"] = root + (os.pathsep + path if path else "")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "bench", *argv], env)


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _cpu_sample() -> tuple[float, float, int, int]:
    """(wall s, CPU s of this process and its finished children, busy and total jiffies of the
    machine); jiffies are 0 where /proc/stat is missing."""
    t = os.times()
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        fields = [0] * 8
    idle = fields[3] + fields[4]
    return time.perf_counter(), t.user + t.system + t.children_user + t.children_system, sum(fields) - idle, sum(fields)


def cpu_use(start: tuple[float, float, int, int]) -> tuple[float, float]:
    """(wall s, CPU s of other processes) since `start`, from 10 ms ticks: coarse below ~0.25 s."""
    end = _cpu_sample()
    busy = (end[2] - start[2]) / os.sysconf("SC_CLK_TCK")
    return end[0] - start[0], max(0.0, busy - (end[1] - start[1]))


def others_share(wall: float, others: float) -> float | None:
    """The share of the machine's CPU time that other processes took: timings taken while it is
    high are disturbed (on 2 cores, 0.5 is one core busy elsewhere)."""
    if wall <= 0 or not Path("/proc/stat").exists():
        return None
    return min(1.0, others / (wall * (os.cpu_count() or 1)))


# ---------------------------------------------------------------- the machine


def machine(threads: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "scipy", "opencv-python-headless", "torch", "halide"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        versions["gcc"] = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True).stdout.strip()
    except OSError:
        versions["gcc"] = "not found"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads,
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "steady_malloc": all(os.environ.get(k) == v for k, v in STEADY_MALLOC.items()),
        "versions": versions,
    }


# ---------------------------------------------------------------- measuring one workload


def _correct(result: Any, workload: Workload, c: Candidate | None = None) -> bool:
    """Whether `result` matches the reference: same shape, and close within the workload's
    tolerance, or the candidate's own `rtol`, `atol` and `crop` (pixels left out at each side of
    the last two axes) where it has them (a peer whose border rule differs: bench.apps.Peer)."""
    got, ref = np.asarray(result), workload.reference
    if got.shape != ref.shape:
        return False
    if crop := getattr(c, "crop", 0):
        got, ref = got[..., crop:-crop, crop:-crop], ref[..., crop:-crop, crop:-crop]
    rtol, atol = getattr(c, "rtol", None), getattr(c, "atol", None)
    return bool(np.allclose(got, ref, workload.rtol if rtol is None else rtol, workload.atol if atol is None else atol))


def prepare(workload: Workload, c: Candidate, warmup: int) -> tuple[Callable[[], Any], float, bool]:
    """Build one system: (its run callable, setup seconds, whether its output is correct), after
    `warmup` untimed runs."""
    time.sleep(SETTLE_S)
    start = time.perf_counter()
    run = c.setup()
    result = run()
    setup_s = time.perf_counter() - start
    correct = _correct(result, workload, c) and (c.check is None or bool(c.check()))
    del result
    for _ in range(warmup):
        run()
    return run, setup_s, correct


def record_of(workload: Workload, c: Candidate, threads: int, times: Sequence[float], correct: bool) -> Record:
    return Record(
        benchmark=workload.benchmark,
        system=c.system,
        variant=c.variant,
        threads=threads,
        size=list(workload.size),
        median_ms=statistics.median(times) * 1e3,
        min_ms=min(times) * 1e3,
        max_ms=max(times) * 1e3,
        runs=len(times),
        correct=correct,
    )


def floor_row(workload: Workload, bw: floor.Bandwidth, variant: str, threads: int) -> Row:
    """A floor as a row: bytes moved over each copy run's bandwidth."""
    ms = sorted(workload.bytes_moved / g * 1e-6 for g in bw.gbps)  # bytes / (GB/s) in ms
    record = Record(
        benchmark=workload.benchmark,
        system="floor",
        variant=variant,
        threads=threads,
        size=list(workload.size),
        median_ms=statistics.median(ms),
        min_ms=ms[0],
        max_ms=ms[-1],
        runs=len(ms),
        correct=bw.correct,
    )
    return Row(record, None)


def _failed(c: Candidate, err: Exception, notes: list[str], failures: list[str]) -> None:
    """A peer's own failure is a note; Saline's is a failure."""
    label = f"{c.system} {c.variant}"
    if isinstance(err, Skip):
        notes.append(f"{label}: skipped ({err})")
    elif c.system == "saline":
        failures.append(f"{label}: FAILED: {type(err).__name__}: {err}")
    else:
        first = str(err).splitlines()[0] if str(err) else ""
        notes.append(f"{label}: skipped ({type(err).__name__}: {first})")


def run_workload(
    workload: Workload, bw: floor.Bandwidth, args: argparse.Namespace
) -> tuple[list[Row], list[str], list[str]]:
    """The rows of one workload, its notes, and its Saline failures: every system is built and
    warmed up first, then all are timed together in interleaved rounds."""
    notes, failures = list(workload.notes), []
    ready: list[tuple[Candidate, Callable[[], Any], float, bool]] = []
    for c in workload.candidates:
        try:
            run, setup_s, correct = prepare(workload, c, args.warmup)
        except Exception as err:
            _failed(c, err, notes, failures)
            continue
        ready.append((c, run, setup_s, correct))
        print(f"  set up {c.system} {c.variant} in {setup_s:.2f} s", file=sys.stderr, flush=True)
    timed = interleaved_runs(
        [run for _, run, _, _ in ready], args.runs, args.per_round, round_warmup=1, settle_s=SETTLE_S
    )
    rows = []
    for (c, _, setup_s, correct), t in zip(ready, timed, strict=True):
        if t.error is not None:
            _failed(c, t.error, notes, failures)
            continue
        if c.note:
            notes.append(f"{c.system} {c.variant}: {c.note}")
        rows.append(Row(record_of(workload, c, args.threads, t.times, correct), setup_s, t.cpu))
        print(f"  measured {c.system} {c.variant}: {rows[-1].record.median_ms:.3f} ms", file=sys.stderr, flush=True)
    rows.append(floor_row(workload, bw, "copy", args.threads))
    w, h = workload.size
    same = floor.copy_bandwidth(args.threads, (h, w), runs=args.runs, warmup=max(args.warmup, 1))
    rows.append(floor_row(workload, same, "copy_image", args.threads))
    notes.append(f"floor copy_image: {same.describe()}")
    share = others_share(sum(r.cpu[0] for r in rows), sum(r.cpu[1] for r in rows))
    if share is not None:
        notes.append(f"other processes took {share:.0%} of the machine's CPU time during all the timed runs")
    return rows, notes, failures


# ---------------------------------------------------------------- reporting


def best(rows: Sequence[Row], system: str, variant: str | None = None) -> Row | None:
    found = [
        r
        for r in rows
        if r.record.system == system and r.record.correct and (variant is None or r.record.variant == variant)
    ]
    return min(found, key=lambda r: r.record.median_ms, default=None)


def table(workload: Workload, rows: Sequence[Row], threads: int, runs: int) -> str:
    w, h = workload.size
    top = best(rows, "saline")
    fl = best(rows, "floor", "copy")
    manual = best(rows, "halide", "manual")
    lines = [
        f"{workload.benchmark} {w}x{h}, {threads} thread(s), {runs} runs in interleaved rounds; times in ms",
        "(x saline, x floor: median over the best Saline median, over the 64 MiB-copy floor; "
        + ("x hl-man: over Halide manual's median; " if manual else "")
        + "others%: CPU share of other processes during timed runs of 0.25 s or more)",
        f"{'system':<14}{'variant':<16}{'median':>9}{'min':>9}{'max':>9}{'x saline':>10}"
        + (f"{'x hl-man':>10}" if manual else "")
        + f"{'x floor':>9}{'setup s':>9}{'others%':>9}  correct",
    ]
    for r in rows:
        rec = r.record
        vs_saline = f"{rec.median_ms / top.record.median_ms:.2f}" if top else "-"
        vs_manual = f"{rec.median_ms / manual.record.median_ms:>10.2f}" if manual else ""
        vs_floor = f"{rec.median_ms / fl.record.median_ms:.2f}" if fl else "-"
        setup = f"{r.setup_s:.2f}" if r.setup_s is not None else "-"
        share = others_share(*r.cpu) if r.cpu[0] >= 0.25 else None
        others = f"{share:.0%}" if share is not None else "-"
        lines.append(
            f"{rec.system:<14}{rec.variant:<16}{rec.median_ms:9.3f}{rec.min_ms:9.3f}{rec.max_ms:9.3f}"
            f"{vs_saline:>10}{vs_manual}{vs_floor:>9}{setup:>9}{others:>9}  {'yes' if rec.correct else 'NO'}"
        )
    if top:
        lines.append(f"best saline: {top.record.variant} {top.record.median_ms:.3f} ms; its time over:")
        halide = best(rows, "halide")
        for label, other in (
            ("halide manual", manual),
            (f"best halide ({halide.record.variant})" if halide else "best halide", halide),
            ("torch.compile", best(rows, "torch.compile")),
            ("floor (64 MiB copy)", fl),
            ("floor (image-sized copy)", best(rows, "floor", "copy_image")),
        ):
            if other is not None:
                ratio = top.record.median_ms / other.record.median_ms
                lines.append(f"  {label:<28}{other.record.median_ms:9.3f} ms  {ratio:6.2f}x")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, for example 2560x1536, got {text!r}") from None
    if w < 3 or h < 3:
        raise argparse.ArgumentTypeError(f"sizes must be at least 3x3, got {text!r}")
    return w, h


def _peers(text: str) -> tuple[str, ...]:
    if text in ("all", ""):
        return PEERS
    if text == "none":
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    return names


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", choices=list(SUITES), help="benchmark suite (default: all)")
    parser.add_argument(
        "--size", action="append", type=_size, metavar="WxH", help="image size, repeatable (default: the suite's)"
    )
    parser.add_argument("--threads", type=_positive, default=default_threads(), help="threads for every system")
    parser.add_argument(
        "--peers", type=_peers, default=PEERS, help=f"comma list of {', '.join(PEERS)}, or all, or none (default: all)"
    )
    parser.add_argument("--variants", help="comma list of Saline variants to run (default: all)")
    parser.add_argument("--bench", metavar="NAMES", help="comma list of benchmarks, e.g. harris,median3x3")
    parser.add_argument(
        "--compile-timeout", type=float, default=900.0, metavar="S", help="seconds a Saline compile of a suite "
        "with several benchmarks may take before it fails (0: no limit; default 900)"
    )  # fmt: skip
    # 21 rounds: on this 2-core VM, with other processes taking 6-14% of the CPU, a 2-thread
    # run of a few milliseconds varied 2x from round to round (camera_pipe 2.9-5.9 ms), and the
    # median of 11 moved its ratio to Halide by 0.1 from one suite run to the next
    parser.add_argument(
        "--runs", type=_positive, default=21, help=f"interleaved rounds (timed runs per row), at least {MIN_RUNS}"
    )
    parser.add_argument(
        "--per-round", type=_positive, default=1, help="timed runs of each system per round (default: 1)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before the timed ones (default: 2)")
    parser.add_argument("--json", metavar="FILE", help="write the records as JSON")
    parser.add_argument("--no-reexec", action="store_true", help="measure this process as it is (no steady malloc)")
    return parser


def _chosen(bench: str | None, suites: Sequence[str] | None) -> dict[str, list[str | None]] | str:
    """{suite: its benchmarks to run} (None: a suite's one benchmark), or an error message. A
    suite with `BENCHMARKS` runs those named by `--bench` (all by default); another runs when
    `--bench` is not given or names its `BENCHMARK`."""
    wanted = [n.strip() for n in bench.split(",") if n.strip()] if bench else None
    chosen: dict[str, list[str | None]] = {}
    known: set[str] = set()
    for name in suites or list(SUITES):
        suite = SUITES[name]
        several = hasattr(suite, "BENCHMARKS")
        names = suite.BENCHMARKS if several else (suite.BENCHMARK,)
        known.update(names)
        if any(wanted is None or n in wanted for n in names):
            chosen[name] = [n for n in names if wanted is None or n in wanted] if several else [None]
    unknown = [n for n in wanted or [] if n not in known]
    if unknown:
        return f"unknown benchmark(s) {', '.join(unknown)} in these suites; choose from {', '.join(sorted(known))}"
    return chosen


def measure(
    suite: Any, size: tuple[int, int], benchmark: str | None, args: argparse.Namespace, bw: floor.Bandwidth
) -> tuple[list[Row], list[str], bool]:
    """Build, measure and print one workload: (its rows, its notes, whether it failed). A
    ValueError while building is the user's (an unknown variant); another error fails only
    this benchmark when its suite has several (printed with its traceback)."""
    variants = tuple(v.strip() for v in args.variants.split(",")) if args.variants else None
    try:
        if benchmark is None:
            workload = suite.workload(size, args.threads, args.peers, variants)
        else:
            timeout = args.compile_timeout if args.compile_timeout > 0 else None
            workload = suite.workload(size, args.threads, args.peers, variants, benchmark, compile_timeout=timeout)
    except ValueError:
        raise
    except Exception as err:  # one benchmark of several: reported, the others still run
        if benchmark is None:
            raise
        traceback.print_exc()
        line = f"{benchmark} {size[0]}x{size[1]}: FAILED to build: {type(err).__name__}: {err}"
        print(f"\n{line}\n", flush=True)
        return [], [line], True
    rows, notes, failures = run_workload(workload, bw, args)
    notes += failures
    print()
    print(table(workload, rows, args.threads, args.runs * args.per_round))
    for note in notes:
        print(f"  note: {note}")
    print(flush=True)
    failed = bool(failures) or any(r.record.system == "saline" and not r.record.correct for r in rows)
    return rows, [f"{workload.benchmark} {size[0]}x{size[1]}: {n}" for n in notes], failed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks named by `argv` (default: sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.runs < MIN_RUNS:
        print(f"bench: --runs must be at least {MIN_RUNS}, got {args.runs}", file=sys.stderr)
        return 2
    if not args.no_reexec and needs_reexec(args.threads):
        reexec(argv, args.threads)
    apply_threads(args.threads)
    chosen = _chosen(args.bench, args.suite)
    if isinstance(chosen, str):
        print(f"bench: error: {chosen}", file=sys.stderr)
        return 2
    bw = floor.copy_bandwidth(args.threads, runs=args.runs, warmup=max(args.warmup, 1))
    print(f"memory copy bandwidth: {bw.describe()}", flush=True)
    all_rows: list[Row] = []
    all_notes = [f"floor: {bw.describe()}"]
    status = 0
    for name, benchmarks in chosen.items():
        suite = SUITES[name]
        for size in args.size or suite.SIZES:
            done: list[tuple[str, list[Row]]] = []
            for benchmark in benchmarks:
                try:
                    rows, notes, failed = measure(suite, size, benchmark, args, bw)
                except ValueError as err:
                    print(f"bench: error: {err}", file=sys.stderr)
                    return 2
                status |= failed
                all_rows += rows
                all_notes += [f"{name} {n}" for n in notes]
                done.append((benchmark or suite.BENCHMARK, rows))
                if args.json and benchmark is not None:  # a long suite keeps what it measured if killed
                    write_json(args.json, machine(args.threads), all_notes, all_rows)
            if hasattr(suite, "summary"):
                summary = suite.summary(done, args.threads)
                print(summary + "\n", flush=True)
                all_notes += [line for line in summary.splitlines() if line.startswith("TARGET")]
    info = machine(args.threads)
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, load average {info['load_average']}, "
        f"steady malloc: {info['steady_malloc']}, {info['versions']}"
    )
    if args.json:
        write_json(args.json, info, all_notes, all_rows)
        print(f"wrote {len(all_rows)} records to {args.json}")
    return int(status)


def write_json(path: str, info: dict[str, Any], notes: Sequence[str], rows: Sequence[Row]) -> None:
    data = {"machine": info, "notes": list(notes), "records": [asdict(r.record) for r in rows]}
    Path(path).write_text(json.dumps(data, indent=1) + "\n")

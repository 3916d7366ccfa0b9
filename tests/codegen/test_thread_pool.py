"""Saline's thread pool (csrc/saline_pool.c, codegen/runtime.py), driven from C and from Python.

A small C library built against saline_runtime.h and attached to the pool runs loops of tasks
that record, per iteration, how often it ran and on which thread. Checked: every iteration runs
exactly once for loops of 0 to 1000 iterations; no more threads than asked work on one loop, and
one thread when threads=1; a loop inside a loop runs on the thread of the outer iteration; the
caller of a loop never waits for a worker that is busy in another loop (all workers are held in
one loop while another thread runs a loop of its own to the end); pipelines called from several
Python threads at once give the interpreter's results; a child made by fork() runs parallel
pipelines (the pool's workers do not exist there); a process exits cleanly while a worker spins.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from codegen.build import load_library
from codegen.compile import compile
from codegen.runtime import attach_pool
from pipelines import Func, ImageParam, Pipeline, Var, float32
from pipelines.interpret import interpret
from scheduler.schedule import Schedule

x, y = Var("x"), Var("y")

HARNESS = r"""
#define _GNU_SOURCE
#include "saline_runtime.h"
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t thread_id(void) { return (int64_t)syscall(SYS_gettid); }

typedef struct { int32_t *counts; int64_t *tids; int64_t work_ns; } record_t;

static void record_task(void *closure, int64_t i) {
    record_t *r = closure;
    __atomic_fetch_add(&r->counts[i], 1, __ATOMIC_RELAXED);
    r->tids[i] = thread_id();
    int64_t until = now_ns() + r->work_ns;
    while (now_ns() < until) {}
}

void run_loop(int32_t *counts, int64_t *tids, int64_t n, int32_t threads, int64_t work_ns) {
    record_t r = {counts, tids, work_ns};
    saline_parallel_for(record_task, &r, 0, n, threads);
}

/* nested: outer iteration i runs an inner loop over [i*inner, (i+1)*inner) */
typedef struct { int32_t *counts; int64_t *tids; int64_t inner; int32_t threads; } nest_t;

static void outer_task(void *closure, int64_t i) {
    nest_t *n = closure;
    record_t r = {n->counts + i * n->inner, n->tids + i * n->inner, 100000};
    saline_parallel_for(record_task, &r, 0, n->inner, n->threads);
}

void run_nested(int32_t *counts, int64_t *tids, int64_t outer, int64_t inner, int32_t threads) {
    nest_t n = {counts, tids, inner, threads};
    saline_parallel_for(outer_task, &n, 0, outer, threads);
}

/* Every iteration of the holding loop waits for `release` (at most 20 s, then counts a timeout). */
static int32_t started, release, timeouts;

static void hold_task(void *closure, int64_t i) {
    (void)closure; (void)i;
    __atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
    int64_t until = now_ns() + 20000000000LL;
    struct timespec ms = {0, 1000000};
    while (!__atomic_load_n(&release, __ATOMIC_SEQ_CST)) {
        if (now_ns() > until) { __atomic_fetch_add(&timeouts, 1, __ATOMIC_SEQ_CST); return; }
        nanosleep(&ms, NULL);
    }
}

static void *holder(void *arg) {
    int32_t threads = *(int32_t *)arg;
    saline_parallel_for(hold_task, NULL, 0, threads, threads);
    return NULL;
}

/* A thread runs a loop of `hold` held iterations on `hold` threads, more than the pool has
 * workers; once `hold` - 1 have started (every worker is inside it), this thread runs a loop of
 * its own on `threads` threads. Returns the held iterations that timed out (0: this thread's loop
 * ended while all workers were held), or -1 when the workers never joined the holding loop. */
int32_t loop_beside_held_workers(int32_t *counts, int64_t *tids, int64_t n, int32_t threads, int32_t hold) {
    pthread_t h;
    started = release = timeouts = 0;
    if (pthread_create(&h, NULL, holder, &hold) != 0) return -2;
    int64_t until = now_ns() + 20000000000LL;
    while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < hold && now_ns() < until) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    int all_joined = __atomic_load_n(&started, __ATOMIC_SEQ_CST) == hold;
    run_loop(counts, tids, n, threads, 10000);
    int32_t late = __atomic_load_n(&timeouts, __ATOMIC_SEQ_CST);
    __atomic_store_n(&release, 1, __ATOMIC_SEQ_CST);
    pthread_join(h, NULL);
    return all_joined ? late : -1;
}
"""

CDEF = """
void saline_set_pool(void *entry);
void run_loop(int32_t *counts, int64_t *tids, int64_t n, int32_t threads, int64_t work_ns);
void run_nested(int32_t *counts, int64_t *tids, int64_t outer, int64_t inner, int32_t threads);
int32_t loop_beside_held_workers(int32_t *counts, int64_t *tids, int64_t n, int32_t threads, int32_t hold);
"""


@pytest.fixture(scope="module")
def harness():
    ffi, lib = load_library(HARNESS, CDEF, name_hint="pool_test", extra_flags=("-pthread",))
    attach_pool(ffi, lib)
    return ffi, lib


def arrays(ffi, n: int):
    counts = np.zeros(max(n, 1), np.int32)
    tids = np.zeros(max(n, 1), np.int64)
    return counts, tids, ffi.cast("int32_t *", counts.ctypes.data), ffi.cast("int64_t *", tids.ctypes.data)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 64, 1000])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_every_iteration_runs_exactly_once(harness, n, threads):
    ffi, lib = harness
    counts, tids, c, t = arrays(ffi, n)
    lib.run_loop(c, t, n, threads, 1000)
    assert (counts[:n] == 1).all(), f"iteration counts {np.unique(counts[:n], return_counts=True)}"
    assert (counts[n:] == 0).all()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_loop_uses_at_most_its_threads(harness, threads):
    ffi, lib = harness
    n = 200
    counts, tids, c, t = arrays(ffi, n)
    lib.run_loop(c, t, n, threads, 200_000)  # 40 ms of work: long enough for workers to join
    assert (counts == 1).all()
    workers = set(tids.tolist())
    assert 1 <= len(workers) <= threads, f"{len(workers)} threads ran a loop of threads={threads}"
    if threads == 1:
        assert workers == {threading.get_native_id()}, "threads=1 must run on the calling thread"


def test_a_loop_inside_a_loop_runs_on_the_outer_iterations_thread(harness):
    ffi, lib = harness
    outer, inner = 16, 8
    counts, tids, c, t = arrays(ffi, outer * inner)
    lib.run_nested(c, t, outer, inner, 4)
    assert (counts == 1).all()
    for i in range(outer):
        assert len(set(tids[i * inner : (i + 1) * inner].tolist())) == 1, f"inner loop {i} ran on several threads"


@pytest.mark.parametrize("threads", [2, 5])
def test_a_caller_does_not_wait_for_workers_busy_in_another_loop(harness, threads):
    ffi, lib = harness
    n = 50
    counts, tids, c, t = arrays(ffi, n)
    hold = max(64, (os.cpu_count() or 1) + 1)  # more threads than the pool has workers: all held
    late = lib.loop_beside_held_workers(c, t, n, threads, hold)
    assert late != -1, "the pool's workers never all joined the holding loop"
    assert late == 0, f"the loop waited for held workers ({late} held iterations timed out first)"
    assert (counts == 1).all()
    assert set(tids.tolist()) == {threading.get_native_id()}, "a held worker ran an iteration of another loop"


def blur_pipeline():
    im = ImageParam(float32, 2, "pool_in")
    bx = Func("pool_bx")
    bx[x, y] = im[x, y] + im[x + 1, y] * 2
    out = Func("pool_out")
    out[x, y] = bx[x, y] - bx[x, y + 1] * 0.5
    s = Schedule()
    s[out].split("y", "yo", "yi", 4).parallel("yo").vectorize(x, 8)
    s[bx].compute_at(out, "yo").vectorize(x, 8)
    return Pipeline(out), s


def test_pipelines_called_from_several_python_threads_at_once():
    pipeline, schedule = blur_pipeline()
    compiled = compile(pipeline, schedule, threads=3)
    rng = np.random.default_rng(3)
    images = [rng.random((97 + k, 131 + 3 * k), dtype=np.float32) for k in range(4)]
    expected = [interpret(pipeline, shape=(a.shape[0] - 1, a.shape[1] - 1), pool_in=a) for a in images]
    failures: list[str] = []

    def work(k: int) -> None:
        a = images[k]
        for _ in range(25):
            got = compiled(shape=(a.shape[0] - 1, a.shape[1] - 1), pool_in=a)
            if not np.allclose(got, expected[k], rtol=1e-6, atol=1e-6):
                failures.append(f"thread {k}: largest difference {np.abs(got - expected[k]).max()}")
                return

    workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not failures, failures


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_runs_parallel_pipelines():
    pipeline, schedule = blur_pipeline()
    compiled = compile(pipeline, schedule, threads=2)
    a = np.random.default_rng(4).random((200, 300), dtype=np.float32)
    expected = interpret(pipeline, shape=(199, 299), pool_in=a)
    compiled(shape=(199, 299), pool_in=a)  # the pool has its worker now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads: this test's point
        pid = os.fork()
    if pid == 0:  # the child: exit 0 when right, 1 when wrong, killed by the alarm when hung
        signal.alarm(60)
        ok = False
        try:
            ok = all(np.allclose(compiled(shape=(199, 299), pool_in=a), expected, atol=1e-6) for _ in range(5))
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"the child did not exit (status {status}: hung and killed by its alarm?)"
    assert os.WEXITSTATUS(status) == 0, "the child's parallel pipeline gave wrong results"


EXIT_CHILD = """
import numpy as np
from codegen.compile import compile
from tests.codegen.test_thread_pool import blur_pipeline
pipeline, schedule = blur_pipeline()
a = np.ones((64, 64), np.float32)
print(float(compile(pipeline, schedule, threads=2)(shape=(63, 63), pool_in=a).sum()))
"""


def test_the_process_exits_cleanly_while_workers_spin():
    # the interpreter unloads libraries at exit while the pool's worker still spins (here for a
    # second): its code must stay mapped
    env = dict(os.environ, SALINE_SPIN_US="1000000", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", EXIT_CHILD], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"
        assert float(done.stdout.split()[-1]) == 63 * 63 * 1.5

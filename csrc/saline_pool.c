/* Saline's thread pool: the one process-wide set of workers that runs the parallel loops of
 * every compiled pipeline (each pipeline library is handed `saline_pool_parallel_for` when it
 * is loaded; see codegen/runtime.py).
 *
 * After saline_pool_parallel_for(task, closure, lo, hi, threads) returns, task(closure, i) has
 * run exactly once for every i in [lo, hi), on the calling thread and on at most threads - 1
 * workers, and every write those calls made is visible to the caller.
 *
 * Why not OpenMP: an OpenMP parallel loop ends at a barrier that every thread of its team must
 * reach, so the caller waits for a worker that never took an iteration as long as it takes the
 * system to wake it. On a virtual machine that wake-up can take longer than the loop, and a
 * worker descheduled by another process holds up every call. Here the caller takes iterations
 * itself from the first moment and, when none are left, waits only for the workers that are
 * inside an iteration: a worker that wakes late finds the loop finished and goes back to
 * waiting. (Halide's runtime works the same way.)
 *
 * Workers: created on demand, up to the largest `threads - 1` asked for, and never ended. Each
 * has a mailbox that holds at most one loop. A caller hands its loop to up to threads - 1 idle
 * workers whose mailboxes are empty (compare-and-swap: no lock for 15 workers to queue on),
 * runs iterations, then takes its loop back from every mailbox that still holds it; so it waits
 * only for the workers that took the loop out of their mailbox, and only while they finish
 * their last iteration. The measured gain: with another busy process on one of 2 cores
 * (Zen 5, 2 threads), local_laplacian took 158 ms under OpenMP and 72 ms here (Halide 78),
 * sobel 7.7 and 5.2 (Halide 4.5), box_blur 10.7 and 6.3. An idle worker spins for
 * SALINE_SPIN_US microseconds (default 2000) watching its mailbox, then
 * sleeps on it (a futex on Linux, short naps elsewhere). The spin lets calls a fraction of a
 * millisecond apart find their workers awake.
 *
 * A parallel loop reached from inside another one (by a worker, or by the caller while it runs
 * iterations) runs its iterations in order on that thread, as OpenMP does without nesting.
 * Several threads may call at once: their loops share the workers. After fork() the child
 * starts with no workers (its loops run on the caller until it asks for workers again). A fork()
 * from inside an iteration is not supported: the child's copy of that loop would wait forever
 * for workers it does not have.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SALINE_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define SALINE_PAUSE() __asm__ __volatile__("yield")
#else
#define SALINE_PAUSE() ((void)0)
#endif

typedef void (*saline_task_t)(void *closure, int64_t i);

#define MAX_WORKERS 1024
#define DEFAULT_SPIN_US 2000
#define YIELD_AFTER_NS 100000

typedef struct job {
    saline_task_t task;
    void *closure;
    int64_t next;   /* the next iteration to take (atomic) */
    int64_t hi;
    int32_t active; /* workers holding the loop (atomic): the caller waits for 0 */
} job_t;

typedef struct worker {
    job_t *mailbox;   /* a loop handed to this worker, or NULL (atomic) */
    uint32_t seq;     /* bumped at each hand-over: the word a sleeping worker waits on */
    int32_t sleeping; /* set before the worker sleeps (atomic) */
    int32_t busy;     /* running a loop's iterations (atomic): callers pass it by */
} __attribute__((aligned(64))) worker_t;

static worker_t pool[MAX_WORKERS];
static int32_t workers; /* started (atomic; grows under grow_lock) */
static int32_t ceiling = MAX_WORKERS; /* lowered when a thread cannot be started (atomic) */
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t spin_ns;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static __thread int inside; /* > 0 while this thread runs iterations of a loop */

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_on(uint32_t *word, uint32_t seen) {
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
#else
    (void)word; (void)seen;
    struct timespec nap = {0, 50000};
    nanosleep(&nap, NULL);
#endif
}

static void wake(uint32_t *word) {
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)word;
#endif
}

static void run_iterations(job_t *job) {
    inside++;
    for (;;) {
        int64_t i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
        if (i >= job->hi) break;
        job->task(job->closure, i);
    }
    inside--;
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    for (;;) {
        job_t *job = __atomic_exchange_n(&w->mailbox, NULL, __ATOMIC_ACQUIRE);
        if (job != NULL) {
            __atomic_store_n(&w->busy, 1, __ATOMIC_RELAXED);
            run_iterations(job);
            __atomic_store_n(&w->busy, 0, __ATOMIC_RELAXED);
            /* the last touch of the loop: its caller may return as soon as it sees 0 */
            __atomic_fetch_sub(&job->active, 1, __ATOMIC_RELEASE);
            continue;
        }
        /* Spin; after YIELD_AFTER_NS, give the core away between polls. Never yielding gave up
         * most of what this pool gains when another process is busy on a core (box_blur 6.3 ->
         * 10.1 ms, brightness_contrast_gamma 13.8 -> 23.1, 2 threads on 2 cores); yielding from
         * the start gave a benchmark process's other runtimes the core between the loops of a
         * call (harris 4.3-5.2 ms against 3.4-3.6 with either of the others). */
        int64_t start = now_ns(), until = start + spin_ns, yield_from = start + YIELD_AFTER_NS;
        for (int k = 1; __atomic_load_n(&w->mailbox, __ATOMIC_RELAXED) == NULL; k++) {
            SALINE_PAUSE();
            if ((k & 255) == 0) {
                int64_t t = now_ns();
                if (t >= until) break;
                if (t >= yield_from) sched_yield();
            }
        }
        if (__atomic_load_n(&w->mailbox, __ATOMIC_RELAXED) != NULL) continue;
        /* Sleep. A caller stores into the mailbox, bumps seq, then reads `sleeping`; this
         * thread reads seq, sets `sleeping`, then reads the mailbox (all sequentially
         * consistent): either it sees the loop, or the caller sees it sleeping and wakes it, or
         * seq has moved and the wait returns at once. */
        uint32_t seen = __atomic_load_n(&w->seq, __ATOMIC_SEQ_CST);
        __atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&w->mailbox, __ATOMIC_SEQ_CST) == NULL) sleep_on(&w->seq, seen);
        __atomic_store_n(&w->sleeping, 0, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

/* fork() holds grow_lock, so that the child's copy of the pool is not caught mid-change */
static void lock_before_fork(void) {
    pthread_mutex_lock(&grow_lock);
}

static void unlock_after_fork(void) {
    pthread_mutex_unlock(&grow_lock);
}

static void reset_after_fork(void) {
    /* the child has only the thread that forked: no workers, no other thread's loops */
    memset(pool, 0, sizeof pool);
    __atomic_store_n(&workers, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ceiling, MAX_WORKERS, __ATOMIC_RELAXED);
    pthread_mutex_init(&grow_lock, NULL);
}

static void init(void) {
    pthread_atfork(lock_before_fork, unlock_after_fork, reset_after_fork);
    const char *env = getenv("SALINE_SPIN_US");
    long us = env != NULL ? strtol(env, NULL, 10) : DEFAULT_SPIN_US;
    spin_ns = (int64_t)(us >= 0 && us <= 1000000 ? us : DEFAULT_SPIN_US) * 1000;
}

/* Start workers until there are `wanted` (at most MAX_WORKERS). A worker that cannot be
 * started leaves fewer: loops still complete, on the threads there are. */
static void grow(int32_t wanted) {
    int32_t most = __atomic_load_n(&ceiling, __ATOMIC_RELAXED);
    if (wanted > most) wanted = most;
    if (__atomic_load_n(&workers, __ATOMIC_ACQUIRE) >= wanted) return;
    pthread_mutex_lock(&grow_lock);
    for (int32_t n = __atomic_load_n(&workers, __ATOMIC_RELAXED); n < wanted; n++) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        memset(&pool[n], 0, sizeof pool[n]);
        int failed = pthread_create(&thread, &attr, worker_main, &pool[n]);
        pthread_attr_destroy(&attr);
        if (failed) {
            __atomic_store_n(&ceiling, n, __ATOMIC_RELAXED); /* not tried again in every call */
            break;
        }
        __atomic_store_n(&workers, n + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&grow_lock);
}

void saline_pool_parallel_for(saline_task_t task, void *closure, int64_t lo, int64_t hi, int32_t threads) {
    if (inside > 0 || threads <= 1 || hi - lo <= 1) {
        inside++;
        for (int64_t i = lo; i < hi; i++) task(closure, i);
        inside--;
        return;
    }
    pthread_once(&init_once, init);
    int64_t helpers = threads - 1 < hi - lo - 1 ? threads - 1 : hi - lo - 1;
    if (helpers > MAX_WORKERS) helpers = MAX_WORKERS;
    grow((int32_t)helpers);
    job_t job = {task, closure, lo, hi, 0};
    int32_t handed[MAX_WORKERS];
    int32_t count = 0, n = __atomic_load_n(&workers, __ATOMIC_ACQUIRE);
    for (int32_t k = 0; k < n && count < helpers; k++) {
        worker_t *w = &pool[k];
        if (__atomic_load_n(&w->mailbox, __ATOMIC_RELAXED) != NULL || __atomic_load_n(&w->busy, __ATOMIC_RELAXED))
            continue; /* holds or runs another loop */
        __atomic_fetch_add(&job.active, 1, __ATOMIC_RELAXED);
        job_t *empty = NULL;
        if (!__atomic_compare_exchange_n(&w->mailbox, &empty, &job, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
            __atomic_fetch_sub(&job.active, 1, __ATOMIC_RELAXED);
            continue;
        }
        handed[count++] = k;
        __atomic_fetch_add(&w->seq, 1, __ATOMIC_SEQ_CST);
    }
    /* the sleepers' wake-ups (system calls) after every hand-over, so spinning workers start first */
    for (int32_t k = 0; k < count; k++)
        if (__atomic_load_n(&pool[handed[k]].sleeping, __ATOMIC_SEQ_CST)) wake(&pool[handed[k]].seq);

    run_iterations(&job);

    /* take the loop back from the workers that have not started it: they never will */
    for (int32_t k = 0; k < count; k++) {
        job_t **mailbox = &pool[handed[k]].mailbox, *expected = &job;
        if (__atomic_load_n(mailbox, __ATOMIC_RELAXED) == &job &&
            __atomic_compare_exchange_n(mailbox, &expected, NULL, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            __atomic_fetch_sub(&job.active, 1, __ATOMIC_RELAXED);
    }
    /* and wait for those inside an iteration */
    for (int k = 1; __atomic_load_n(&job.active, __ATOMIC_ACQUIRE) != 0; k++) {
        SALINE_PAUSE();
        if ((k & 1023) == 0) sched_yield();
    }
}

/* The address handed to each pipeline library (codegen/runtime.py). */
void *saline_pool_entry(void) {
    return (void *)saline_pool_parallel_for;
}

#include "pool.h"

#include <stdlib.h>

#include "error.h"

#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
#define QW_NO_THREADS 1
#endif

#ifndef QW_NO_THREADS
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#endif

/* How long a worker keeps polling for the next job after finishing one (and
 * the caller for the workers to finish) before sleeping on a condition
 * variable. Within one decode the next matmul comes microseconds later, so the
 * workers stay hot; when idle they sleep after this long and do not burn a
 * core. In WebAssembly a sleep is a futex wait through Atomics.wait, and
 * waking a thread from it takes far longer than natively: with 100 us the
 * caller fell asleep at the end of big matmuls (waiting for the other
 * thread's last item) and workers between tokens, and 2-thread generation in
 * Chromium was ~15% slower (synth15M Q8_0, medians of 15 repetitions: 464 vs
 * 534 tokens/s with 2 ms). 2 ms covers a whole token of the models a browser
 * runs fast, so within generation nobody sleeps. */
#ifndef QW_POOL_SPIN_NS
#ifdef __EMSCRIPTEN__
#define QW_POOL_SPIN_NS 2000000L
#else
#define QW_POOL_SPIN_NS 100000L
#endif
#endif

struct qw_pool {
    int n;
#ifndef QW_NO_THREADS
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start;       /* sleeping workers wait here for a new generation */
    pthread_cond_t done;        /* a sleeping caller waits here for pending == 0 */
    atomic_uint generation;     /* bumped (release) once fn/arg/pending are set */
    atomic_int pending;         /* workers still running the current generation */
    atomic_int sleepers;        /* workers inside (or about to enter) the start wait */
    atomic_int caller_sleeping; /* the caller is inside (or about to enter) the done wait */
    atomic_int quit;
    qw_pool_fn fn; /* written by the caller only while no worker runs */
    void *arg;
#endif
};

#ifndef QW_NO_THREADS

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Each side of a sleep handshake writes its own flag, then reads the other
 * side's (a store-buffering pattern: at least one of the two must see the
 * other's write, or a wake-up is lost and both sleep for ever). seq_cst
 * accesses alone are enough in C11, and on real ARMv8 (stlr; ldar is
 * ordered), but qemu-user runs an ARM stlr; ldar pair on an x86 host as a
 * plain store then a load the store buffer may pass: test_kernels hung there
 * in about one run in five. The explicit full fence (dmb ish, mfence) costs
 * one instruction per job and holds on every target and emulator. */
static inline void store_load_fence(void) { atomic_thread_fence(memory_order_seq_cst); }

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A bounded poll: a few pause-hinted iterations (the fast case: the other
 * side is running on its own core and answers within microseconds), then
 * sched_yield between checks, so that when the machine is oversubscribed
 * (our threads share a core with each other or with other work) the thread
 * we are waiting for gets the core instead of us burning the time slice;
 * false once QW_POOL_SPIN_NS have passed (then the caller sleeps). */
typedef struct {
    unsigned it;
    long long t0;
} spinner;

enum { SPIN_PAUSES = 128 };

static int spin_step(spinner *s) {
    if (s->it < SPIN_PAUSES) {
        s->it++;
        cpu_relax();
        return 1;
    }
#ifdef __EMSCRIPTEN__
    /* In WebAssembly the clock is a call out to JavaScript
     * (performance.now()), sched_yield yields nothing (it only runs
     * Emscripten's queue of calls proxied to this thread) and there is no
     * pause instruction: read the clock and run the queue on every 256th
     * poll only, so that the polling thread sees the other side's write
     * within a few loads instead of after two calls into the host. */
    if ((++s->it & 255u) != 0) return 1;
#endif
    const long long t = now_ns();
    if (!s->t0) s->t0 = t;
    else if (t - s->t0 > QW_POOL_SPIN_NS) return 0;
    sched_yield();
    return 1;
}

/* Polls until generation != seen or quit; true if it changed (the new value
 * is then visible with acquire order), false when the budget ran out. */
static int spin_for_generation(qw_pool *p, unsigned seen) {
    spinner sp = {0, 0};
    do {
        if (atomic_load_explicit(&p->generation, memory_order_acquire) != seen ||
            atomic_load_explicit(&p->quit, memory_order_relaxed))
            return 1;
    } while (spin_step(&sp));
    return 0;
}

typedef struct {
    qw_pool *p;
    int ith;
} worker_arg;

static void *worker(void *varg) {
    worker_arg wa = *(worker_arg *)varg;
    free(varg);
    qw_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        if (!spin_for_generation(p, seen)) {
            /* Sleep. sleepers is raised (seq_cst) before generation is read
             * again (seq_cst); qw_pool_run bumps generation (seq_cst) before
             * reading sleepers, so either we see the new generation here or
             * it sees us and broadcasts under the mutex, which it can only
             * take once we are waiting. */
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            store_load_fence();
            while (!atomic_load(&p->quit) && atomic_load(&p->generation) == seen)
                pthread_cond_wait(&p->start, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->quit, memory_order_acquire)) break;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        p->fn(p->arg, wa.ith, p->n);
        /* release: our writes (the job's output) before the caller's acquire */
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            /* last one: wake the caller if it went to sleep (same pairing as
             * above, with pending and caller_sleeping) */
            store_load_fence();
            if (atomic_load(&p->caller_sleeping)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->done);
                pthread_mutex_unlock(&p->mu);
            }
        }
    }
    return NULL;
}
#endif

qw_status qw_pool_create(int n_threads, qw_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 512)
        return qw_fail(QW_ERR_INVALID_ARG, "thread count %d is out of range 1..512", n_threads);
    qw_pool *p = calloc(1, sizeof *p);
    if (!p) return qw_fail(QW_ERR_OOM, "out of memory for the thread pool");
#ifdef QW_NO_THREADS
    p->n = 1;
#else
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0u);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_sleeping, 0);
    atomic_init(&p->quit, 0);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads, sizeof(pthread_t));
        if (!p->threads) {
            qw_pool_free(p);
            return qw_fail(QW_ERR_OOM, "out of memory for the thread pool");
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) {
                wa->p = p;
                wa->ith = i;
            }
            if (!wa || pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
                free(wa);
                p->n = i; /* only the started ones are joined */
                qw_pool_free(p);
                return qw_fail(QW_ERR_OOM, "cannot start thread %d", i);
            }
        }
    }
#endif
    *out = p;
    return QW_OK;
}

void qw_pool_free(qw_pool *p) {
    if (!p) return;
#ifndef QW_NO_THREADS
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->quit, 1);
        pthread_cond_broadcast(&p->start);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
        free(p->threads);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
#endif
    free(p);
}

int qw_pool_size(const qw_pool *p) { return p ? p->n : 1; }

void qw_pool_run(qw_pool *p, qw_pool_fn fn, void *arg) {
#ifndef QW_NO_THREADS
    if (p && p->n > 1) {
        /* every worker has finished the previous generation (pending was 0),
         * so nobody reads fn/arg now */
        p->fn = fn;
        p->arg = arg;
        atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
        atomic_fetch_add(&p->generation, 1u); /* seq_cst: publishes the above */
        store_load_fence();
        if (atomic_load(&p->sleepers)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->start);
            pthread_mutex_unlock(&p->mu);
        }
        fn(arg, 0, p->n);
        spinner sp = {0, 0};
        while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
            if (spin_step(&sp)) continue;
            pthread_mutex_lock(&p->mu);
            atomic_store(&p->caller_sleeping, 1);
            store_load_fence();
            while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
            atomic_store(&p->caller_sleeping, 0);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        atomic_thread_fence(memory_order_acquire);
        return;
    }
#endif
    (void)p;
    fn(arg, 0, 1);
}

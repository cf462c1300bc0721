/* The thread pool: every index runs exactly once per qw_pool_run, its
 * writes are visible when qw_pool_run returns, and neither side misses a
 * wake-up. Jobs alternate between instant ones (workers and caller stay in
 * their polling loops) and ones longer than the ~100 us polling budget (the
 * caller, or the workers between jobs, go to sleep on the condition
 * variables), so every handshake in pool.c is crossed thousands of times. A
 * lost wake-up shows as a hang, which ctest's timeout turns into a failure;
 * the run also stops itself after QW_POOL_TEST_SECONDS (default 120) and
 * fails with the round it was stuck in. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/pool.h"
#include "qw_test.h"

enum { MAX_THREADS = 6, ROUNDS = 3000 };

typedef struct {
    int round;
    int counts[MAX_THREADS]; /* each index writes only its own slot */
    int nth_seen[MAX_THREADS];
    long sleep_ns[MAX_THREADS];
} job;

static void sleep_ns(long ns) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

static void run_job(void *arg, int ith, int nth) {
    job *j = arg;
    if (j->sleep_ns[ith]) sleep_ns(j->sleep_ns[ith]);
    j->counts[ith] += 1;
    j->nth_seen[ith] = nth;
}

/* a tiny xorshift so the schedule is the same on every run */
static uint32_t rng_next(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static int stress(int n_threads, int rounds) {
    qw_pool *p = NULL;
    CHECK(qw_pool_create(n_threads, &p) == QW_OK);
    if (!p) return 1;
    const int n = qw_pool_size(p); /* 1 without thread support */
    CHECK(n == n_threads || n == 1);
    uint32_t rng = 0x9e3779b9u ^ (uint32_t)n_threads;
    int bad = 0;
    for (int r = 0; r < rounds && !bad; r++) {
        job j;
        memset(&j, 0, sizeof j);
        j.round = r;
        /* one round in eight: a long job on one index (a worker, or the
         * caller itself) so the others run out of polling budget and sleep;
         * one in eight: a pause between rounds, so workers sleep between jobs */
        uint32_t pick = rng_next(&rng);
        if ((pick & 7) == 0) j.sleep_ns[rng_next(&rng) % (uint32_t)n] = 300000;
        if ((pick & 56) == 8) sleep_ns(250000);
        qw_pool_run(p, run_job, &j);
        for (int i = 0; i < MAX_THREADS; i++) {
            const int want = i < n ? 1 : 0;
            if (j.counts[i] != want || (want && j.nth_seen[i] != n)) {
                fprintf(stderr, "pool of %d, round %d: index %d ran %d times (nth %d)\n", n, r, i,
                        j.counts[i], j.nth_seen[i]);
                bad = 1;
            }
        }
    }
    CHECK(!bad);
    qw_pool_free(p);
    return bad;
}

static void test_bad_sizes(void) {
    qw_pool *p = (qw_pool *)1;
    CHECK(qw_pool_create(0, &p) != QW_OK);
    CHECK(p == NULL);
    CHECK(qw_pool_create(513, &p) != QW_OK);
    CHECK(qw_pool_size(NULL) == 1);
    qw_pool_free(NULL);
}

static void test_create_free_loop(void) {
    /* workers that never got a job, and workers asleep, must both quit */
    for (int i = 0; i < 50; i++) {
        qw_pool *p = NULL;
        CHECK(qw_pool_create(1 + i % 4, &p) == QW_OK);
        if (i % 2) {
            job j;
            memset(&j, 0, sizeof j);
            qw_pool_run(p, run_job, &j);
            CHECK(j.counts[0] == 1);
        }
        if (i % 5 == 0) sleep_ns(300000);
        qw_pool_free(p);
    }
}

int main(void) {
    test_bad_sizes();
    test_create_free_loop();
    const char *env = getenv("QW_POOL_TEST_ROUNDS");
    int rounds = env ? atoi(env) : ROUNDS;
    if (rounds < 1) rounds = ROUNDS;
    for (int n = 1; n <= MAX_THREADS; n++) stress(n, n == 1 ? 100 : rounds);
    return qw_test_end();
}

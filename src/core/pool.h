/* A small fork-join thread pool. qw_pool_run calls fn(arg, i, n) once for
 * every i in [0, n) — i = 0 on the calling thread — and returns when all are
 * done. After a job, workers poll for the next one for a bounded time
 * (~100 us natively, 2 ms in WebAssembly where waking a sleeper is slow:
 * pause hints, then sched_yield) and only then sleep on a condition
 * variable, so they are hot within a decode but idle between tokens; the
 * caller waits for them the same way. With n_threads = 1 (or no thread
 * support) everything runs inline. */
#ifndef QW_POOL_H
#define QW_POOL_H

#include "../qwasm.h"

typedef struct qw_pool qw_pool;
typedef void (*qw_pool_fn)(void *arg, int ith, int nth);

qw_status qw_pool_create(int n_threads, qw_pool **out);
void qw_pool_free(qw_pool *p);
int qw_pool_size(const qw_pool *p);
void qw_pool_run(qw_pool *p, qw_pool_fn fn, void *arg);

#endif

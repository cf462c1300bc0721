#include "pool.h"

#include <stdlib.h>

#include "error.h"

#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
#define QW_NO_THREADS 1
#endif

#ifndef QW_NO_THREADS
#include <pthread.h>
#endif

struct qw_pool {
    int n;
#ifndef QW_NO_THREADS
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start; /* workers wait here for a new generation */
    pthread_cond_t done;  /* the caller waits here for pending == 0 */
    unsigned generation;
    int pending;
    int quit;
    qw_pool_fn fn;
    void *arg;
#endif
};

#ifndef QW_NO_THREADS
typedef struct {
    qw_pool *p;
    int ith;
} worker_arg;

static void *worker(void *varg) {
    worker_arg wa = *(worker_arg *)varg;
    free(varg);
    qw_pool *p = wa.p;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->start, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        qw_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, wa.ith, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
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
        p->quit = 1;
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
        pthread_mutex_lock(&p->mu);
        p->fn = fn;
        p->arg = arg;
        p->pending = p->n - 1;
        p->generation++;
        pthread_cond_broadcast(&p->start);
        pthread_mutex_unlock(&p->mu);
        fn(arg, 0, p->n);
        pthread_mutex_lock(&p->mu);
        while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return;
    }
#endif
    fn(arg, 0, 1);
}

#include "matmul.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "../quant/kernels.h"
#include "../quant/types.h"

size_t qw_matmul_scratch(const qw_weight *W, int n_batch) {
    const qw_type_traits *t = qw_type_get(W->type);
    size_t row = qw_row_size(t->vec_dot_type, W->n_cols);
    return row * (size_t)n_batch;
}

/* one matrix of a job */
typedef struct {
    const qw_weight *W;
    float *y;                  /* [n_batch][n_rows] */
    qw_vec_dot_fn dot;
    qw_vec_dot_x4_fn dot4;     /* NULL: batch rows one at a time (when no gemm4) */
    qw_vec_dot_gemm4_fn gemm4; /* NULL: none (then dot4) */
    qw_vec_dot_mr_fn dotm;     /* NULL: weight rows one at a time */
    int mr;                    /* weight rows per dotm call (1 without) */
    int64_t chunk;             /* rows per work item, a multiple of mr and of gemm4's row multiple */
    int64_t first, n_items;    /* its work items in the job's numbering */
} matmul_part;

typedef struct {
    const void *xq;   /* [n_batch][act_row] quantized activations */
    size_t act_row;
    int n_batch;
    int n_parts;
    matmul_part part[QW_MATMUL_MAX];
    int64_t n_items;
    atomic_llong next; /* the next work item nobody has taken yet */
} matmul_job;

/* weight rows per gemm4 call: the chunk's weights and the batch's
 * activations stay in L1 while the token groups go over them */
#define GEMM4_ROWS 64
/* work items per thread and matrix: enough that a thread the OS preempts
 * (the machine is shared) holds up little more than one item while the
 * others take the rest */
#define ITEMS_PER_THREAD 8

/* output rows [r0, r1) of one matrix for every activation row. Every output
 * goes through kernels bit-identical to the single dot, so how rows are
 * grouped into items (and which thread computes them) does not change a bit. */
static void matmul_range(const matmul_job *j, const matmul_part *p, int64_t r0, int64_t r1) {
    const int64_t n_rows = p->W->n_rows, n_cols = p->W->n_cols;
    const uint8_t *w = p->W->data;
    const uint8_t *xq = j->xq;
    const size_t wstride = p->W->row_bytes, act_row = j->act_row;
    const int n_batch = j->n_batch;
    float *y = p->y;
    const int nb4 = p->gemm4 || p->dot4 ? n_batch / 4 * 4 : 0;
    if (p->gemm4) { /* blocks of weight rows x groups of 4 activation rows */
        for (int64_t c = r0; c < r1; c += GEMM4_ROWS) {
            const int64_t nr = r1 - c < GEMM4_ROWS ? r1 - c : GEMM4_ROWS;
            for (int b = 0; b < nb4; b += 4)
                p->gemm4(n_cols, nr, &y[(size_t)b * n_rows + c], (size_t)n_rows, w + (size_t)c * wstride, wstride,
                         xq + (size_t)b * act_row, act_row);
        }
    } else if (p->dot4) { /* one weight row x groups of 4 activation rows */
        for (int64_t r = r0; r < r1; r++)
            for (int b = 0; b < nb4; b += 4)
                p->dot4(n_cols, &y[(size_t)b * n_rows + r], (size_t)n_rows, w + (size_t)r * wstride,
                        xq + (size_t)b * act_row, act_row);
    }
    /* the other activation rows: groups of mr weight rows, then single rows */
    int64_t r = r0;
    if (p->dotm)
        for (; r + p->mr <= r1; r += p->mr)
            for (int b = nb4; b < n_batch; b++)
                p->dotm(n_cols, &y[(size_t)b * n_rows + r], w + (size_t)r * wstride, wstride, xq + (size_t)b * act_row);
    for (; r < r1; r++)
        for (int b = nb4; b < n_batch; b++)
            p->dot(n_cols, &y[(size_t)b * n_rows + r], w + (size_t)r * wstride, xq + (size_t)b * act_row);
}

/* Work items are taken dynamically: thread ith starts with item ith, then
 * takes the next free one until none is left. */
static void matmul_worker(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    (void)nth;
    int pi = 0;
    for (int64_t c = ith; c < j->n_items; c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) {
        while (c >= j->part[pi].first + j->part[pi].n_items) pi++; /* items come in increasing order */
        const matmul_part *p = &j->part[pi];
        const int64_t r0 = (c - p->first) * p->chunk;
        matmul_range(j, p, r0, r0 + p->chunk < p->W->n_rows ? r0 + p->chunk : p->W->n_rows);
    }
}

static void part_init(matmul_part *p, const qw_weight *W, float *y, int n_batch, int nth, int64_t first) {
    int mr = 1, gmult = 1;
    p->W = W;
    p->y = y;
    p->dot = qw_get_vec_dot_rows(W->type, W->n_rows);
    p->dotm = qw_get_vec_dot_mr_rows(W->type, W->n_rows, &mr);
    p->mr = mr;
    p->gemm4 = n_batch >= 4 ? qw_get_vec_dot_gemm4_rows(W->type, W->n_rows, &gmult) : NULL;
    p->dot4 = n_batch >= 4 && !p->gemm4 ? qw_get_vec_dot_x4_rows(W->type, W->n_rows) : NULL;
    const int mult = mr > gmult ? mr : gmult; /* 1, 4 or 8: a multiple of both */
    const int64_t want = nth > 1 ? (int64_t)nth * ITEMS_PER_THREAD : 1;
    int64_t chunk = (W->n_rows + want - 1) / want;
    chunk = (chunk + mult - 1) / mult * mult;
    p->chunk = chunk > 0 ? chunk : 1;
    p->first = first;
    p->n_items = (W->n_rows + p->chunk - 1) / p->chunk;
}

void qw_matmul_n(const qw_weight *const *W, float *const *y, int n, const float *x, int n_batch,
                 void *scratch, qw_pool *pool) {
    if (n <= 0) return;
    const qw_type_traits *t = qw_type_get(W[0]->type);
    const uint32_t act = t->vec_dot_type;
    const int64_t n_cols = W[0]->n_cols;
    bool shared = n <= QW_MATMUL_MAX;
    for (int i = 1; shared && i < n; i++)
        shared = W[i]->n_cols == n_cols && qw_type_get(W[i]->type)->vec_dot_type == act;
    if (!shared) {
        for (int i = 0; i < n; i++) qw_matmul_n(&W[i], &y[i], 1, x, n_batch, scratch, pool);
        return;
    }
    const size_t act_row = qw_row_size(act, n_cols);
    const void *xq = x;
    if (act != QW_TYPE_F32) {
        const qw_from_float_fn quantize = qw_get_quantize_act(act);
        for (int b = 0; b < n_batch; b++)
            quantize(x + (size_t)b * n_cols, (uint8_t *)scratch + (size_t)b * act_row, n_cols);
        xq = scratch;
    }
    const int nth = qw_pool_size(pool);
    matmul_job j;
    j.xq = xq;
    j.act_row = act_row;
    j.n_batch = n_batch;
    j.n_parts = n;
    j.n_items = 0;
    for (int i = 0; i < n; i++) {
        part_init(&j.part[i], W[i], y[i], n_batch, nth, j.n_items);
        j.n_items += j.part[i].n_items;
    }
    atomic_init(&j.next, nth);
    qw_pool_run(pool, matmul_worker, &j);
}

void qw_matmul(const qw_weight *W, const float *x, int n_batch, float *y, void *scratch,
               qw_pool *pool) {
    qw_matmul_n(&W, &y, 1, x, n_batch, scratch, pool);
}

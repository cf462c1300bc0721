#include "matmul.h"

#include <string.h>

#include "../quant/kernels.h"
#include "../quant/types.h"

size_t qw_matmul_scratch(const qw_weight *W, int n_batch) {
    const qw_type_traits *t = qw_type_get(W->type);
    size_t row = qw_row_size(t->vec_dot_type, W->n_cols);
    return row * (size_t)n_batch;
}

typedef struct {
    const qw_weight *W;
    const void *xq;   /* [n_batch][act_row] quantized activations */
    size_t act_row;
    int n_batch;
    float *y;         /* [n_batch][n_rows] */
    qw_vec_dot_fn dot;
    qw_vec_dot_x4_fn dot4; /* NULL: batch rows one at a time */
} matmul_job;

static void matmul_rows(void *arg, int ith, int nth) {
    const matmul_job *j = arg;
    const int64_t n_rows = j->W->n_rows, n_cols = j->W->n_cols;
    /* contiguous slice of output rows per thread */
    const int64_t per = (n_rows + nth - 1) / nth;
    const int64_t r0 = per * ith;
    const int64_t r1 = r0 + per < n_rows ? r0 + per : n_rows;
    const uint8_t *w = j->W->data;
    for (int64_t r = r0; r < r1; r++) {
        const void *wrow = w + (size_t)r * j->W->row_bytes;
        int b = 0;
        if (j->dot4)
            for (; b + 4 <= j->n_batch; b += 4)
                j->dot4(n_cols, &j->y[(size_t)b * n_rows + r], (size_t)n_rows, wrow,
                        (const uint8_t *)j->xq + (size_t)b * j->act_row, j->act_row);
        for (; b < j->n_batch; b++) {
            const void *xrow = (const uint8_t *)j->xq + (size_t)b * j->act_row;
            j->dot(n_cols, &j->y[(size_t)b * n_rows + r], wrow, xrow);
        }
    }
}

void qw_matmul(const qw_weight *W, const float *x, int n_batch, float *y, void *scratch,
               qw_pool *pool) {
    const qw_type_traits *t = qw_type_get(W->type);
    const qw_from_float_fn quantize = qw_get_quantize_act(t->vec_dot_type);
    const size_t act_row = qw_row_size(t->vec_dot_type, W->n_cols);
    const void *xq = x;
    if (t->vec_dot_type != QW_TYPE_F32) {
        for (int b = 0; b < n_batch; b++)
            quantize(x + (size_t)b * W->n_cols, (uint8_t *)scratch + (size_t)b * act_row,
                           W->n_cols);
        xq = scratch;
    }
    matmul_job j = {W, xq, act_row, n_batch, y, qw_get_vec_dot_rows(W->type, W->n_rows),
                    n_batch >= 4 ? qw_get_vec_dot_x4_rows(W->type, W->n_rows) : NULL};
    qw_pool_run(pool, matmul_rows, &j);
}

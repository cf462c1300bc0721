/* y = W x through the type table's fused dequantize-dot kernels.
 * Activations are converted once per input row to W's vec_dot_type (Q8_0,
 * Q8_1, Q8_K, F16, ...) and reused for every weight row; output rows are
 * split into work items the pool's threads take as they come free, and
 * results do not depend on the thread count or on who took what. */
#ifndef QW_MATMUL_H
#define QW_MATMUL_H

#include <stddef.h>

#include "../core/pool.h"
#include "model.h"

/* Bytes of scratch qw_matmul needs for n_batch input rows of W. */
size_t qw_matmul_scratch(const qw_weight *W, int n_batch);

/* x: [n_batch][W->n_cols] floats; y: [n_batch][W->n_rows] floats.
 * scratch: qw_matmul_scratch(W, n_batch) bytes, 64-byte aligned. */
void qw_matmul(const qw_weight *W, const float *x, int n_batch, float *y, void *scratch,
               qw_pool *pool);

/* Up to QW_MATMUL_MAX products of the same input: y[i] = W[i] x, i < n.
 * When the matrices share n_cols and activation type, x is converted once
 * and all products run as one job on the pool (one synchronization instead
 * of n); otherwise this is n qw_matmul calls. Results are identical either
 * way. scratch: the largest qw_matmul_scratch of the W[i]. */
#define QW_MATMUL_MAX 4
void qw_matmul_n(const qw_weight *const *W, float *const *y, int n, const float *x, int n_batch,
                 void *scratch, qw_pool *pool);

#endif

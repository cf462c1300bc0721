/* The float accumulation order every dot kernel follows.
 *
 * Integer parts of a quantized dot product are exact, but the float part
 * (scales times integer sums, summed over blocks) rounds, and a one-ulp
 * difference in an activation can flip the rounding of the next quantized
 * activation; through the KV cache such a flip moves every later logit. To
 * agree with llama.cpp (our oracle) as closely as possible, the reference
 * kernels use the float order of llama.cpp's x86 (AVX2/AVX-512) CPU paths,
 * which are also the natural shape for SIMD kernels on every target:
 *
 *   lanes8: 8 float lanes; lane k takes, for every 32-element group, the
 *           integer sum of elements 4k..4k+3 (times their integer sub-block
 *           scale, for K-quants) and accumulates it as acc[k] = fma(d, sum,
 *           acc[k]) once per block (d = weight scale * activation scale);
 *           finally qw_hsum8. Used by every block type (Q4_0 ... Q8_0,
 *           IQ4_NL, the K-quants); min terms are summed apart and added last.
 *   serial: one accumulator, acc = fma((float)block_sum, d, acc) per block.
 *           Q4_0 matrices whose row count is a multiple of 8 (llama.cpp
 *           interleaves those 8 rows at a time on x86 and sums each row
 *           this way); other Q4_0 matrices use lanes8. The type table's
 *           vec_dot_rows8 entry holds it; qw_get_vec_dot_rows picks it.
 *   f16:    4 x 16 fma lanes over 64-element steps, then a tree; the tail in
 *           double (see qw_vec_dot_f16).
 *
 * Where these orders come from, and what they buy (bit-identical logits on
 * every reference file), is in docs/NUMERICS.md.
 *
 * qw_fmaf (core/qfma.h) is a single rounding everywhere, so these are bit-reproducible
 * on any conforming target; SIMD kernels must reproduce exactly this order. */
#ifndef QW_ACCUM_H
#define QW_ACCUM_H

#include <math.h>
#include "../core/qfma.h"

/* ((a4+a0) + (a6+a2)) + ((a5+a1) + (a7+a3)) */
static inline float qw_hsum8(const float a[8]) {
    const float r0 = a[4] + a[0], r1 = a[5] + a[1], r2 = a[6] + a[2], r3 = a[7] + a[3];
    return (r0 + r2) + (r1 + r3);
}

/* 16 lanes: halves, then quarters, then pairs (a tree, as AVX-512's reduce) */
static inline float qw_hsum16(const float a[16]) {
    float t8[8], t4[4];
    for (int i = 0; i < 8; i++) t8[i] = a[i + 8] + a[i];
    for (int i = 0; i < 4; i++) t4[i] = t8[i + 4] + t8[i];
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

/* F32 dot products in the attention, in the two orders llama.cpp uses:
 * steps64 (single-token steps, its vec_dot_f32 on AVX-512): 4 x 16 fma lanes
 * over 64-element steps, added 0+2, 1+3, 0+1, a 16-lane tree, then the tail
 * one product at a time in float (unlike the F16 dot, whose tail is double;
 * measured against the references); lanes16 (prompt batches, its tiled GEMM): 16 fma lanes over the
 * whole length (a multiple of 16), then a 16-lane tree. */
static inline float qw_dot_f32_steps64(const float *a, const float *b, int n) {
    const int np = n & ~63;
    float acc[4][16] = {{0}};
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++)
                acc[j][l] = qw_fmaf(a[i + 16 * j + l], b[i + 16 * j + l], acc[j][l]);
    for (int l = 0; l < 16; l++) {
        acc[0][l] += acc[2][l];
        acc[1][l] += acc[3][l];
        acc[0][l] += acc[1][l];
    }
    float sum = np ? qw_hsum16(acc[0]) : 0.0f;
    for (int i = np; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static inline float qw_dot_f32_lanes16(const float *a, const float *b, int n) {
    float acc[16] = {0};
    for (int i = 0; i < n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] = qw_fmaf(a[i + l], b[i + l], acc[l]);
    return qw_hsum16(acc);
}

/* acc[k] = fma(d, sum of q[e]*y[e] for e in 4k..4k+3, acc[k]) over one
 * 32-element block; q and y are integer levels. */
static inline void qw_lanes8_block(float acc[8], const int *q, const signed char *y, float d) {
    for (int k = 0; k < 8; k++) {
        int s = q[4 * k] * y[4 * k] + q[4 * k + 1] * y[4 * k + 1] + q[4 * k + 2] * y[4 * k + 2] +
                q[4 * k + 3] * y[4 * k + 3];
        acc[k] = qw_fmaf(d, (float)s, acc[k]);
    }
}

#endif

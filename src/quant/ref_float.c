/* Reference kernels for the unquantized storage types.
 *
 *   F32   4 bytes per value, IEEE single
 *   F16   2 bytes per value, IEEE half (binary16), see fp16.h
 *   BF16  2 bytes per value, upper half of an IEEE single
 *
 * Block size is 1, so a "row" is simply n consecutive values.
 *
 * Dot products: each product is formed in float (exact for F16 x F16 and
 * BF16 x BF16, since 11+11 and 8+8 significant bits fit in float's 24) and
 * summed in double, then rounded once to float. This is the same arithmetic
 * as ggml's portable (non-SIMD) path for these types, and makes the
 * reference result independent of summation order to within ~n * 2^-53. */
#include <string.h>
#include "../core/qfma.h"

#include "accum.h"
#include "fp16.h"
#include "types.h"

/* ---- F32 ---------------------------------------------------------------- */

void qw_dequantize_row_f32(const void *x, float *y, int64_t n) {
    memmove(y, x, (size_t)n * sizeof(float));
}

void qw_quantize_row_f32(const float *x, void *y, int64_t n) {
    memmove(y, x, (size_t)n * sizeof(float));
}

void qw_vec_dot_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

bool qw_row_finite_f32(const void *vx, int64_t n) {
    const float *x = vx;
    for (int64_t i = 0; i < n; i++) {
        /* all-ones exponent = inf or nan */
        if ((qw_f32_bits(x[i]) & 0x7f800000u) == 0x7f800000u) return false;
    }
    return true;
}

/* ---- F16 ---------------------------------------------------------------- */

void qw_dequantize_row_f16(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = qw_fp16_to_fp32(x[i]);
}

void qw_quantize_row_f16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = qw_fp32_to_fp16(x[i]);
}

/* Order (llama.cpp's F16 dot on x86): four accumulators of 16 lanes take
 * 64 elements per step with fma; they are added pairwise (0+2, 1+3, then
 * 0+1), reduced as a 16-lane tree, and the tail (n mod 64 elements) is added
 * in double, one float product at a time. */
void qw_vec_dot_f16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    const int64_t np = n & ~(int64_t)63;
    float acc[4][16] = {{0}};
    for (int64_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++) {
                const int64_t e = i + 16 * j + l;
                acc[j][l] = qw_fmaf(qw_fp16_to_fp32(x[e]), qw_fp16_to_fp32(y[e]), acc[j][l]);
            }
    for (int l = 0; l < 16; l++) {
        acc[0][l] += acc[2][l];
        acc[1][l] += acc[3][l];
        acc[0][l] += acc[1][l];
    }
    double sum = np ? (double)qw_hsum16(acc[0]) : 0.0;
    for (int64_t i = np; i < n; i++) sum += (double)(qw_fp16_to_fp32(x[i]) * qw_fp16_to_fp32(y[i]));
    *s = (float)sum;
}

bool qw_row_finite_f16(const void *vx, int64_t n) {
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++) {
        if ((x[i] & 0x7c00u) == 0x7c00u) return false; /* exponent 31 */
    }
    return true;
}

/* ---- BF16 --------------------------------------------------------------- */

void qw_dequantize_row_bf16(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = qw_bf16_to_fp32(x[i]);
}

void qw_quantize_row_bf16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = qw_fp32_to_bf16(x[i]);
}

void qw_vec_dot_bf16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(qw_bf16_to_fp32(x[i]) * qw_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

bool qw_row_finite_bf16(const void *vx, int64_t n) {
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++) {
        if ((x[i] & 0x7f80u) == 0x7f80u) return false; /* exponent 255 */
    }
    return true;
}

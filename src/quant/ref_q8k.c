/* Q8_K: the activation type the K-quants and IQ4_XS dot against.
 *
 * One block = 256 values:
 *   float d            scale (a plain float, not fp16)
 *   int8  qs[256]      x[j] ~= d * qs[j]
 *   int16 bsums[16]    bsums[g] = sum of qs[16g .. 16g+15]
 *
 * bsums let a weight type with per-sub-block minimums (Q2_K, Q4_K, Q5_K)
 * compute sum(min * y) without touching qs again.
 *
 * The quantizer reproduces llama.cpp's reference bit for bit, because
 * activations are compared with llama.cpp's:
 *   - max = the element of largest magnitude, sign kept (the first on ties);
 *   - iscale = -127 / max (float), so that element becomes exactly -127 and
 *     d = 1 / iscale is negative when max is positive;
 *   - qs = round-half-to-even(iscale * x), capped at +127;
 *   - d is stored as 1 / iscale computed in float (not -max / 127);
 *   - a block without a nonzero value gets d = 0 and all-zero qs.
 * llama.cpp leaves bsums unwritten for an all-zero block; we write zeros. */
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "types.h"

/* Round to nearest, ties to even (what llama.cpp's nearest_int does for its
 * range): adding 1.5 * 2^23 leaves no fraction bits in a float, so the add
 * itself rounds to even, and the low mantissa bits hold the integer.
 * Values are clamped first, so NaN and huge inputs stay well defined. */
static int round_q8k(float v) {
    if (!(v == v)) return 0;           /* NaN */
    if (v > 127.0f) return 127;
    if (v < -128.0f) return -128;
    float t = v + 12582912.0f;         /* 1.5 * 2^23 */
    uint32_t u;
    memcpy(&u, &t, sizeof u);
    return (int)(u & 0x007fffffu) - 0x00400000;
}

static void quantize_block_q8_K(const float *x, block_q8_K *y) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK_K; j++) {
        float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax == 0.0f) {
        y->d = 0.0f;
        memset(y->qs, 0, sizeof y->qs);
        memset(y->bsums, 0, sizeof y->bsums);
        return;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < QK_K; j++) y->qs[j] = (int8_t)round_q8k(iscale * x[j]);
    for (int g = 0; g < QK_K / 16; g++) {
        int sum = 0;
        for (int l = 0; l < 16; l++) sum += y->qs[16 * g + l];
        y->bsums[g] = (int16_t)sum;
    }
    y->d = 1.0f / iscale;
}

void qw_quantize_row_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q8_K(x + i * QK_K, &y[i]);
}

void qw_dequantize_row_q8_K(const void *vx, float *y, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        for (int j = 0; j < QK_K; j++) y[i * QK_K + j] = x[i].d * x[i].qs[j];
    }
}

bool qw_row_finite_q8_K(const void *vx, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        if (!isfinite(x[i].d)) return false;
    }
    return true;
}

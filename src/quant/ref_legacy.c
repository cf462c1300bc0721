/* Reference kernels for the "legacy" 32-element block types.
 *
 * Every block holds 32 weights and one or two fp16 numbers:
 *
 *   Q4_0  d          | 16 bytes qs          x = d * (q - 8),   q in 0..15
 *   Q4_1  d, m       | 16 bytes qs          x = d * q + m,     q in 0..15
 *   Q5_0  d | qh[4]  | 16 bytes qs          x = d * (q - 16),  q in 0..31
 *   Q5_1  d, m | qh[4] | 16 bytes qs        x = d * q + m,     q in 0..31
 *   Q8_0  d          | 32 x int8            x = d * q
 *   Q8_1  d, s       | 32 x int8            x = d * q, s = fp16(d_float * sum(q))
 *
 * Nibble order (4- and 5-bit types): byte qs[j] holds element j in its low
 * nibble and element j+16 in its high nibble. The fifth bit of element j
 * (Q5_*) is bit j of qh read as a little-endian 32-bit word.
 *
 * The quantizers reproduce llama.cpp's reference ("_ref") quantizers: same
 * scale choice, same float operations in the same order, same rounding
 * (truncation of x + 0.5 for the 4/5-bit types, roundf for the 8-bit ones),
 * so for finite input they produce the same bytes (tests/c/test_quant_legacy.c
 * checks this against tensors written by llama-quantize). Non-finite input,
 * which llama.cpp leaves undefined, gives some valid block here without UB.
 * Activations are quantized by qw_quantize_act_q8_0/_q8_1, which follow
 * llama.cpp's x86 SIMD quantizers instead (127/amax, ties to even): those are
 * what produced the reference logits we test against.
 *
 * Dot products pair Q4_0/Q5_0/Q8_0 weights with Q8_0 activations and
 * Q4_1/Q5_1 with Q8_1: exact integer sums, then float scaling accumulated in
 * the order accum.h defines (lanes8). */
#include <float.h>
#include <math.h>
#include "../core/qfma.h"
#include <string.h>

#include "blocks.h"
#include "accum.h"
#include "fp16.h"
#include "types.h"

/* ---- shared helpers ------------------------------------------------------ */

/* The element of x[0..n) with the largest magnitude (the first one on ties),
 * sign included; 0 if none is larger than 0 (NaNs are never chosen). */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

/* max |x[j]|, or NaN if any x[j] is NaN: a NaN activation then poisons its
 * block's scale (and the dot product) instead of silently becoming 0. */
static float absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (a != a) return a;
        if (a > amax) amax = a;
    }
    return amax;
}

static void min_max(const float *x, int n, float *min, float *max) {
    *min = FLT_MAX;
    *max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < *min) *min = x[j];
        if (x[j] > *max) *max = x[j];
    }
}

/* floor(v) clamped to 0..hi, for v = scaled value + offset + 0.5. For finite
 * input v lies in [~0, hi+1], where this equals llama.cpp's truncating cast
 * followed by MIN(hi, .); NaN maps to 0. */
static int trunc_level(float v, int hi) {
    if (!(v >= 0.0f)) return 0;
    if (v >= (float)hi) return hi;
    return (int)v;
}

/* roundf(v) (halves away from zero) clamped to -127..127; NaN maps to 0. */
static int8_t round_q8(float v) {
    if (!(v == v)) return 0;
    if (v >= 127.0f) return 127;
    if (v <= -127.0f) return -127;
    return (int8_t)roundf(v);
}

/* the qh field as the little-endian 32-bit word the format defines */
static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void store_qh(uint8_t qh[4], uint32_t v) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(v >> (8 * k));
}

/* 5-bit level of element j (0..31) of a Q5 block */
static int q5_level(const uint8_t *qs, uint32_t qh, int j) {
    int lo = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
    return lo | (int)((qh >> j) & 1u) << 4;
}

static bool half_finite(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

/* ---- Q4_0 ---------------------------------------------------------------- */

void qw_dequantize_row_q4_0(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        float d = qw_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* d = -max/8 where max is the signed absmax, so that element lands exactly on
 * level 0 (value -8 d) and the other end of the range gets level 15 (7 d). */
void qw_quantize_row_q4_0(const float *x, void *vy, int64_t n) {
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float d = signed_absmax(x, QK4_0) / -8;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qw_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int lo = trunc_level(x[j] * id + 8.5f, 15);
            int hi = trunc_level(x[j + QK4_0 / 2] * id + 8.5f, 15);
            y[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

/* serial order (accum.h): Q4_0 matrices with a multiple of 8 rows */
void qw_vec_dot_q4_0_serial(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK4_0 / 2];
        }
        acc = qw_fmaf((float)sumi, qw_fp16_to_fp32(x[i].d) * qw_fp16_to_fp32(y[i].d), acc);
    }
    *s = acc;
}

void qw_vec_dot_q4_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0}; /* lanes8 order */
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int q[QK4_0];
        for (int j = 0; j < QK4_0 / 2; j++) {
            q[j] = (x[i].qs[j] & 0x0f) - 8;
            q[j + QK4_0 / 2] = (x[i].qs[j] >> 4) - 8;
        }
        qw_lanes8_block(acc, q, y[i].qs, qw_fp16_to_fp32(x[i].d) * qw_fp16_to_fp32(y[i].d));
    }
    *s = qw_hsum8(acc);
}

bool qw_row_finite_q4_0(const void *vx, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK4_0; i++)
        if (!half_finite(x[i].d)) return false;
    return true;
}

/* ---- Q4_1 ---------------------------------------------------------------- */

void qw_dequantize_row_q4_1(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        float d = qw_fp16_to_fp32(x[i].d), m = qw_fp16_to_fp32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0f) * d + m;
            y[j + QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* m = min, d = (max - min) / 15: the range [min, max] maps onto 0..15. */
void qw_quantize_row_q4_1(const float *x, void *vy, int64_t n) {
    block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float min, max;
        min_max(x, QK4_1, &min, &max);
        float d = (max - min) / 15;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qw_fp32_to_fp16(d);
        y[i].m = qw_fp32_to_fp16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int lo = trunc_level((x[j] - min) * id + 0.5f, 15);
            int hi = trunc_level((x[j + QK4_1 / 2] - min) * id + 0.5f, 15);
            y[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

/* sum_j (d_x q_j + m_x) d_y p_j = d_x d_y sum(q p) + m_x s_y */
void qw_vec_dot_q4_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float acc[8] = {0}, summs = 0.0f; /* lanes8 order, min term summed apart */
    for (int64_t i = 0; i < n / QK4_1; i++) {
        int q[QK4_1];
        for (int j = 0; j < QK4_1 / 2; j++) {
            q[j] = x[i].qs[j] & 0x0f;
            q[j + QK4_1 / 2] = x[i].qs[j] >> 4;
        }
        summs += qw_fp16_to_fp32(x[i].m) * qw_fp16_to_fp32(y[i].s);
        qw_lanes8_block(acc, q, y[i].qs, qw_fp16_to_fp32(x[i].d) * qw_fp16_to_fp32(y[i].d));
    }
    *s = qw_hsum8(acc) + summs;
}

bool qw_row_finite_q4_1(const void *vx, int64_t n) {
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / QK4_1; i++)
        if (!half_finite(x[i].d) || !half_finite(x[i].m)) return false;
    return true;
}

/* ---- Q5_0 ---------------------------------------------------------------- */

void qw_dequantize_row_q5_0(const void *vx, float *y, int64_t n) {
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        float d = qw_fp16_to_fp32(x[i].d);
        uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_0; j++) y[j] = (float)(q5_level(x[i].qs, qh, j) - 16) * d;
    }
}

/* as Q4_0 with 32 levels: d = -max/16 */
void qw_quantize_row_q5_0(const float *x, void *vy, int64_t n) {
    block_q5_0 *y = vy;
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        float d = signed_absmax(x, QK5_0) / -16;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qw_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int lo = trunc_level(x[j] * id + 16.5f, 31);
            int hi = trunc_level(x[j + QK5_0 / 2] * id + 16.5f, 31);
            y[i].qs[j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4) << j;
            qh |= (uint32_t)(hi >> 4) << (j + QK5_0 / 2);
        }
        store_qh(y[i].qh, qh);
    }
}

void qw_vec_dot_q5_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0}; /* lanes8 order */
    for (int64_t i = 0; i < n / QK5_0; i++) {
        uint32_t qh = load_qh(x[i].qh);
        int q[QK5_0];
        for (int j = 0; j < QK5_0; j++) q[j] = q5_level(x[i].qs, qh, j) - 16;
        qw_lanes8_block(acc, q, y[i].qs, qw_fp16_to_fp32(x[i].d) * qw_fp16_to_fp32(y[i].d));
    }
    *s = qw_hsum8(acc);
}

bool qw_row_finite_q5_0(const void *vx, int64_t n) {
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / QK5_0; i++)
        if (!half_finite(x[i].d)) return false;
    return true;
}

/* ---- Q5_1 ---------------------------------------------------------------- */

void qw_dequantize_row_q5_1(const void *vx, float *y, int64_t n) {
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        float d = qw_fp16_to_fp32(x[i].d), m = qw_fp16_to_fp32(x[i].m);
        uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_1; j++) y[j] = (float)q5_level(x[i].qs, qh, j) * d + m;
    }
}

/* as Q4_1 with 32 levels: d = (max - min) / 31 */
void qw_quantize_row_q5_1(const float *x, void *vy, int64_t n) {
    block_q5_1 *y = vy;
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float min, max;
        min_max(x, QK5_1, &min, &max);
        float d = (max - min) / 31;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qw_fp32_to_fp16(d);
        y[i].m = qw_fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int lo = trunc_level((x[j] - min) * id + 0.5f, 31);
            int hi = trunc_level((x[j + QK5_1 / 2] - min) * id + 0.5f, 31);
            y[i].qs[j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4) << j;
            qh |= (uint32_t)(hi >> 4) << (j + QK5_1 / 2);
        }
        store_qh(y[i].qh, qh);
    }
}

void qw_vec_dot_q5_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float acc[8] = {0}, summs = 0.0f; /* lanes8 order, min term summed apart */
    for (int64_t i = 0; i < n / QK5_1; i++) {
        uint32_t qh = load_qh(x[i].qh);
        int q[QK5_1];
        for (int j = 0; j < QK5_1; j++) q[j] = q5_level(x[i].qs, qh, j);
        summs += qw_fp16_to_fp32(x[i].m) * qw_fp16_to_fp32(y[i].s);
        qw_lanes8_block(acc, q, y[i].qs, qw_fp16_to_fp32(x[i].d) * qw_fp16_to_fp32(y[i].d));
    }
    *s = qw_hsum8(acc) + summs;
}

bool qw_row_finite_q5_1(const void *vx, int64_t n) {
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / QK5_1; i++)
        if (!half_finite(x[i].d) || !half_finite(x[i].m)) return false;
    return true;
}

/* ---- Q8_0 (weights and activations) -------------------------------------- */

void qw_dequantize_row_q8_0(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        float d = qw_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* d = amax / 127 (stored as fp16); q = roundf(x * (1/d)) with the float d,
 * not the rounded fp16 one. */
void qw_quantize_row_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float d = absmax(x, QK8_0) / 127;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qw_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = round_q8(x[j] * id);
    }
}

void qw_vec_dot_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0}; /* lanes8 order */
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int q[QK8_0];
        for (int j = 0; j < QK8_0; j++) q[j] = x[i].qs[j];
        qw_lanes8_block(acc, q, y[i].qs, qw_fp16_to_fp32(x[i].d) * qw_fp16_to_fp32(y[i].d));
    }
    *s = qw_hsum8(acc);
}

/* Activation quantizers (Q8_0, Q8_1 as vec_dot types). llama.cpp's x86 CPU
 * path, which produced our reference logits, scales by 127/amax (not by the
 * inverse of d = amax/127) and rounds halves to even; the stored d is still
 * fp16(amax/127). Weights written to files use the reference quantizers
 * above, which match llama-quantize byte for byte. */
static int8_t round_even_q8(float v) {
    if (!(v == v)) return 0;
    if (v >= 127.0f) return 127;
    if (v <= -127.0f) return -127;
    return (int8_t)nearbyintf(v); /* default rounding mode: ties to even */
}

void qw_quantize_act_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float amax = absmax(x, QK8_0);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = qw_fp32_to_fp16(amax / 127.0f);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = round_even_q8(x[j] * id);
    }
}

void qw_quantize_act_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float amax = absmax(x, QK8_1);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        y[i].d = qw_fp32_to_fp16(d);
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = round_even_q8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = qw_fp32_to_fp16((float)sum * d);
    }
}

bool qw_row_finite_q8_0(const void *vx, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK8_0; i++)
        if (!half_finite(x[i].d)) return false;
    return true;
}

/* ---- Q8_1 (activations only) --------------------------------------------- */

void qw_dequantize_row_q8_1(const void *vx, float *y, int64_t n) {
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        float d = qw_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* as Q8_0, plus s = fp16(sum(q) * d) computed with the float d (before its
 * rounding to fp16), which is what llama.cpp stores. */
void qw_quantize_row_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float d = absmax(x, QK8_1) / 127;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qw_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = round_q8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = qw_fp32_to_fp16((float)sum * d);
    }
}

bool qw_row_finite_q8_1(const void *vx, int64_t n) {
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / QK8_1; i++)
        if (!half_finite(x[i].d) || !half_finite(x[i].s)) return false;
    return true;
}

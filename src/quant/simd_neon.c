/* ARM64 NEON kernel set ("neon").
 *
 * Every kernel here gives bit-identical results to its scalar reference in
 * ref_*.c: integer parts are exact (the same sums, only grouped differently),
 * and the float parts perform exactly the operations accum.h prescribes, in
 * the same order:
 *
 *   lanes8  two float32x4 accumulators hold lanes 0..3 and 4..7; lane k of a
 *           32-element group is the int32 sum of elements 4k..4k+3, which is
 *           what a 16-byte dot step produces per 32-bit lane (vdotq_s32, or
 *           vmull_s8 followed by pairwise widening adds on baseline ARMv8.0).
 *           One vfmaq_f32 per block (per super-block for the K-quants), then
 *           qw_hsum8: vaddq(hi, lo) gives a[4+i] + a[i]; the low and high
 *           halves of that are added, then the two remaining lanes.
 *   f16     sixteen float32x4 accumulators (4 x 16 lanes), one fma per lane
 *           per 64 elements, pairwise combination, the 16-lane tree of
 *           qw_hsum16, and the tail in double like the reference.
 *   iq4_xs  an exact int32 sum per super-block, then the reference's scalar
 *           float expression.
 *
 * NaN payloads: hardware fp16 -> fp32 conversion quiets signalling NaNs
 * where the reference's bit manipulation does not, which could change which
 * NaN payload comes out when several meet. Since any NaN reaching an
 * accumulator makes the final sum NaN, a dot product whose result is NaN is
 * simply recomputed by the reference; every other result passed through
 * NaN-free arithmetic identical to the reference's. The Q8_0/Q8_1 activation
 * quantizers likewise hand blocks containing a NaN to the reference.
 *
 * BF16 and F32 dots are left to the reference: their order is a serial sum
 * in double, which no vector form can shorten while staying exact. */
#include "kernels.h"

#if defined(__aarch64__) && defined(__ARM_NEON)

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "accum.h"
#include "blocks.h"
#include "fp16.h"
#include "types.h"

/* ---- helpers ------------------------------------------------------------- */

/* IEEE half <-> float by the FP unit (FPCR as Linux sets it: round to
 * nearest even, no flush-to-zero, IEEE half format). Equal to fp16.h's
 * conversions for every input except the quiet bit of signalling NaNs. */
static inline float h2f(uint16_t h) {
    __fp16 v;
    memcpy(&v, &h, sizeof v);
    return (float)v;
}

static inline uint16_t f2h(float f) {
    __fp16 v = (__fp16)f;
    uint16_t h;
    memcpy(&h, &v, sizeof h);
    return h;
}

/* Four sums of four products: lane k = sum a[i]*b[i] for i in 4k..4k+3.
 * dot16 requires every sum of two adjacent products to fit in int16, which
 * holds whenever one side is within -127..127 (2 * 127 * 128 < 32768):
 * true for all weight levels except Q8_0's -128. dot16_full has no limit. */
static inline int32x4_t dot16(int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdupq_n_s32(0), a, b);
#else
    const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t p1 = vmull_high_s8(a, b);
    return vpaddlq_s16(vpaddq_s16(p0, p1));
#endif
}

static inline int32x4_t dot16_full(int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdupq_n_s32(0), a, b);
#else
    const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t p1 = vmull_high_s8(a, b);
    return vpaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1));
#endif
}

/* (t0 + t2) + (t1 + t3): the last two levels of qw_hsum8 / qw_hsum16 */
static inline float hsum4_tree(float32x4_t t) {
    const float32x2_t p = vadd_f32(vget_low_f32(t), vget_high_f32(t));
    return vget_lane_f32(p, 0) + vget_lane_f32(p, 1);
}

/* qw_hsum8 of lanes lo = a[0..3], hi = a[4..7] */
static inline float hsum8(float32x4_t lo, float32x4_t hi) {
    return hsum4_tree(vaddq_f32(hi, lo));
}

/* acc = fma(d, (float)sums, acc) per lane */
static inline float32x4_t fma_lanes(float32x4_t acc, float d, int32x4_t sums) {
    return vfmaq_f32(acc, vdupq_n_f32(d), vcvtq_f32_s32(sums));
}

static inline int8x16_t lo_nibbles(uint8x16_t v) {
    return vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f)));
}

static inline int8x16_t hi_nibbles(uint8x16_t v) { return vreinterpretq_s8_u8(vshrq_n_u8(v, 4)); }

/* The fifth bits of a Q5_0/Q5_1 block as 0x10 per element: elements 0..15
 * in *h0, 16..31 in *h1 (bit j of the little-endian word qh is element j). */
static inline void q5_high_bits(const uint8_t qh[4], uint8x16_t *h0, uint8x16_t *h1) {
    static const uint8_t sel0[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t sel1[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint32_t w;
    memcpy(&w, qh, sizeof w);
    const uint8x16_t bytes = vreinterpretq_u8_u32(vdupq_n_u32(w));
    const uint8x16_t bits = vld1q_u8(bit), v16 = vdupq_n_u8(0x10);
    *h0 = vandq_u8(vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(sel0)), bits), v16);
    *h1 = vandq_u8(vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(sel1)), bits), v16);
}

/* A NaN result may differ from the reference in its payload only; let the
 * reference produce it. */
#define NAN_FALLBACK(r, ref)            \
    do {                                \
        if ((r) != (r)) {               \
            ref(n, s, vx, vy);          \
            return;                     \
        }                               \
        *s = (r);                       \
    } while (0)

/* ---- 32-element block types (lanes8) ------------------------------------- */

static void dot_q4_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int8x16_t off = vdupq_n_s8(8);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const uint8x16_t v = vld1q_u8(x[i].qs);
        const int8x16_t q0 = vsubq_s8(lo_nibbles(v), off);
        const int8x16_t q1 = vsubq_s8(hi_nibbles(v), off);
        const int32x4_t s0 = dot16(q0, vld1q_s8(y[i].qs));
        const int32x4_t s1 = dot16(q1, vld1q_s8(y[i].qs + 16));
        const float d = h2f(x[i].d) * h2f(y[i].d);
        acc0 = fma_lanes(acc0, d, s0);
        acc1 = fma_lanes(acc1, d, s1);
    }
    const float r = hsum8(acc0, acc1);
    NAN_FALLBACK(r, qw_vec_dot_q4_0);
}

/* serial order (Q4_0 matrices with a multiple of 8 rows): the block's
 * integer sum, then one scalar fma per block */
static void dot_q4_0_rows8(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int8x16_t off = vdupq_n_s8(8);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const uint8x16_t v = vld1q_u8(x[i].qs);
        const int32x4_t s0 = dot16(vsubq_s8(lo_nibbles(v), off), vld1q_s8(y[i].qs));
        const int32x4_t s1 = dot16(vsubq_s8(hi_nibbles(v), off), vld1q_s8(y[i].qs + 16));
        acc = fmaf((float)vaddvq_s32(vaddq_s32(s0, s1)), h2f(x[i].d) * h2f(y[i].d), acc);
    }
    NAN_FALLBACK(acc, qw_vec_dot_q4_0_serial);
}

static void dot_q4_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    float summs = 0.0f;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const uint8x16_t v = vld1q_u8(x[i].qs);
        const int32x4_t s0 = dot16(lo_nibbles(v), vld1q_s8(y[i].qs));
        const int32x4_t s1 = dot16(hi_nibbles(v), vld1q_s8(y[i].qs + 16));
        summs += h2f(x[i].m) * h2f(y[i].s);
        const float d = h2f(x[i].d) * h2f(y[i].d);
        acc0 = fma_lanes(acc0, d, s0);
        acc1 = fma_lanes(acc1, d, s1);
    }
    const float r = hsum8(acc0, acc1) + summs;
    NAN_FALLBACK(r, qw_vec_dot_q4_1);
}

static void dot_q5_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int8x16_t off = vdupq_n_s8(16);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK5_0; i++) {
        uint8x16_t h0, h1;
        q5_high_bits(x[i].qh, &h0, &h1);
        const uint8x16_t v = vld1q_u8(x[i].qs);
        const int8x16_t q0 =
            vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v, vdupq_n_u8(0x0f)), h0)), off);
        const int8x16_t q1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v, 4), h1)), off);
        const int32x4_t s0 = dot16(q0, vld1q_s8(y[i].qs));
        const int32x4_t s1 = dot16(q1, vld1q_s8(y[i].qs + 16));
        const float d = h2f(x[i].d) * h2f(y[i].d);
        acc0 = fma_lanes(acc0, d, s0);
        acc1 = fma_lanes(acc1, d, s1);
    }
    const float r = hsum8(acc0, acc1);
    NAN_FALLBACK(r, qw_vec_dot_q5_0);
}

static void dot_q5_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    float summs = 0.0f;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        uint8x16_t h0, h1;
        q5_high_bits(x[i].qh, &h0, &h1);
        const uint8x16_t v = vld1q_u8(x[i].qs);
        const int8x16_t q0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v, vdupq_n_u8(0x0f)), h0));
        const int8x16_t q1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v, 4), h1));
        const int32x4_t s0 = dot16(q0, vld1q_s8(y[i].qs));
        const int32x4_t s1 = dot16(q1, vld1q_s8(y[i].qs + 16));
        summs += h2f(x[i].m) * h2f(y[i].s);
        const float d = h2f(x[i].d) * h2f(y[i].d);
        acc0 = fma_lanes(acc0, d, s0);
        acc1 = fma_lanes(acc1, d, s1);
    }
    const float r = hsum8(acc0, acc1) + summs;
    NAN_FALLBACK(r, qw_vec_dot_q5_1);
}

static void dot_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const int32x4_t s0 = dot16_full(vld1q_s8(x[i].qs), vld1q_s8(y[i].qs));
        const int32x4_t s1 = dot16_full(vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs + 16));
        const float d = h2f(x[i].d) * h2f(y[i].d);
        acc0 = fma_lanes(acc0, d, s0);
        acc1 = fma_lanes(acc1, d, s1);
    }
    const float r = hsum8(acc0, acc1);
    NAN_FALLBACK(r, qw_vec_dot_q8_0);
}

/* the 16 IQ4 levels (a fixed part of the format) */
static const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

static void dot_iq4_nl(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int8x16_t kv = vld1q_s8(kvalues_iq4nl);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        const uint8x16_t v = vld1q_u8(x[i].qs);
        const int8x16_t q0 = vqtbl1q_s8(kv, vandq_u8(v, vdupq_n_u8(0x0f)));
        const int8x16_t q1 = vqtbl1q_s8(kv, vshrq_n_u8(v, 4));
        const int32x4_t s0 = dot16(q0, vld1q_s8(y[i].qs));
        const int32x4_t s1 = dot16(q1, vld1q_s8(y[i].qs + 16));
        const float d = h2f(x[i].d) * h2f(y[i].d);
        acc0 = fma_lanes(acc0, d, s0);
        acc1 = fma_lanes(acc1, d, s1);
    }
    const float r = hsum8(acc0, acc1);
    NAN_FALLBACK(r, qw_vec_dot_iq4_nl);
}

/* ---- K-quants -------------------------------------------------------------
 * Per super-block: lane sums l0 (lanes 0..3) and l1 (4..7) in int32, each
 * 16-element half of a 32-element group times its integer sub-block scale;
 * then one fma per lane with d = y.d * x.d. */

/* the Q4_K/Q5_K packing of eight 6-bit scales and mins in 12 bytes */
static inline void unpack_scale_min_k4(const uint8_t *p, int *sc, int *mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        mn[j] = p[j + 4] & 63;
        sc[j + 4] = (p[j + 8] & 15) | ((p[j] >> 6) << 4);
        mn[j + 4] = (p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4);
    }
}

/* Q4_K/Q5_K minimum term: m-th lane = sum over sub-blocks j = 2m, 2m+1 of
 * mn[j] * (bsums[2j] + bsums[2j+1]), exact in int32. */
static inline int32x4_t min_sums_k4(const int16_t *bsums, const int *mn) {
    const int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    const int32x4_t p0 = vpaddlq_s16(b0), p1 = vpaddlq_s16(b1); /* sub-block sums 0..3, 4..7 */
    const int32x4_t m0 = vld1q_s32(mn), m1 = vld1q_s32(mn + 4);
    return vpaddq_s32(vmulq_s32(p0, m0), vmulq_s32(p1, m1));
}

static void dot_q4_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f), accm = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const block_q4_K *b = &x[i];
        const block_q8_K *q8 = &y[i];
        int sc[8], mn[8];
        unpack_scale_min_k4(b->scales, sc, mn);
        const float xd = h2f(b->d), xdmin = h2f(b->dmin);
        if (xdmin != 0.0f) {
            const float dmin = -q8->d * xdmin;
            accm = fma_lanes(accm, dmin, min_sums_k4(q8->bsums, mn));
        }
        int32x4_t l0 = vdupq_n_s32(0), l1 = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            const uint8x16_t v0 = vld1q_u8(b->qs + 32 * c), v1 = vld1q_u8(b->qs + 32 * c + 16);
            const int8_t *yq = q8->qs + 64 * c;
            l0 = vmlaq_n_s32(l0, dot16(lo_nibbles(v0), vld1q_s8(yq)), sc[2 * c]);
            l1 = vmlaq_n_s32(l1, dot16(lo_nibbles(v1), vld1q_s8(yq + 16)), sc[2 * c]);
            l0 = vmlaq_n_s32(l0, dot16(hi_nibbles(v0), vld1q_s8(yq + 32)), sc[2 * c + 1]);
            l1 = vmlaq_n_s32(l1, dot16(hi_nibbles(v1), vld1q_s8(yq + 48)), sc[2 * c + 1]);
        }
        const float d = q8->d * xd;
        acc0 = fma_lanes(acc0, d, l0);
        acc1 = fma_lanes(acc1, d, l1);
    }
    const float r = hsum8(acc0, acc1) + hsum4_tree(accm);
    NAN_FALLBACK(r, qw_vec_dot_q4_K);
}

static void dot_q5_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), b4 = vdupq_n_u8(0x10);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f), accm = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const block_q5_K *b = &x[i];
        const block_q8_K *q8 = &y[i];
        int sc[8], mn[8];
        unpack_scale_min_k4(b->scales, sc, mn);
        const float xd = h2f(b->d), xdmin = h2f(b->dmin);
        if (xdmin != 0.0f) {
            const float dmin = -q8->d * xdmin;
            accm = fma_lanes(accm, dmin, min_sums_k4(q8->bsums, mn));
        }
        /* bit g of qh[l] is the fifth bit of element 32g + l; shifted down
         * one group at a time */
        uint8x16_t h0 = vld1q_u8(b->qh), h1 = vld1q_u8(b->qh + 16);
        int32x4_t l0 = vdupq_n_s32(0), l1 = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            const uint8x16_t v0 = vld1q_u8(b->qs + 32 * c), v1 = vld1q_u8(b->qs + 32 * c + 16);
            const int8_t *yq = q8->qs + 64 * c;
            int8x16_t q0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v0, m4), vandq_u8(vshlq_n_u8(h0, 4), b4)));
            int8x16_t q1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v1, m4), vandq_u8(vshlq_n_u8(h1, 4), b4)));
            l0 = vmlaq_n_s32(l0, dot16(q0, vld1q_s8(yq)), sc[2 * c]);
            l1 = vmlaq_n_s32(l1, dot16(q1, vld1q_s8(yq + 16)), sc[2 * c]);
            q0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v0, 4), vandq_u8(vshlq_n_u8(h0, 3), b4)));
            q1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v1, 4), vandq_u8(vshlq_n_u8(h1, 3), b4)));
            l0 = vmlaq_n_s32(l0, dot16(q0, vld1q_s8(yq + 32)), sc[2 * c + 1]);
            l1 = vmlaq_n_s32(l1, dot16(q1, vld1q_s8(yq + 48)), sc[2 * c + 1]);
            h0 = vshrq_n_u8(h0, 2);
            h1 = vshrq_n_u8(h1, 2);
        }
        const float d = q8->d * xd;
        acc0 = fma_lanes(acc0, d, l0);
        acc1 = fma_lanes(acc1, d, l1);
    }
    const float r = hsum8(acc0, acc1) + hsum4_tree(accm);
    NAN_FALLBACK(r, qw_vec_dot_q5_K);
}

static void dot_q6_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m30 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const block_q6_K *b = &x[i];
        const block_q8_K *q8 = &y[i];
        int32x4_t l0 = vdupq_n_s32(0), l1 = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h;
            const uint8x16_t a0 = vld1q_u8(ql), a1 = vld1q_u8(ql + 16);
            const uint8x16_t c0 = vld1q_u8(ql + 32), c1 = vld1q_u8(ql + 48);
            const uint8x16_t h0 = vld1q_u8(b->qh + 32 * h), h1 = vld1q_u8(b->qh + 32 * h + 16);
            const int8_t *yq = q8->qs + 128 * h;
            const int8_t *sc = b->scales + 8 * h;
            /* groups g = 0..3: low nibbles of a, of c, high nibbles of a, of c;
             * high bits 2g..2g+1 of qh moved to bits 4..5 */
            uint8x16_t lo0[4] = {vandq_u8(a0, m4), vandq_u8(c0, m4), vshrq_n_u8(a0, 4), vshrq_n_u8(c0, 4)};
            uint8x16_t lo1[4] = {vandq_u8(a1, m4), vandq_u8(c1, m4), vshrq_n_u8(a1, 4), vshrq_n_u8(c1, 4)};
            uint8x16_t hi0[4] = {vandq_u8(vshlq_n_u8(h0, 4), m30), vandq_u8(vshlq_n_u8(h0, 2), m30),
                                 vandq_u8(h0, m30), vandq_u8(vshrq_n_u8(h0, 2), m30)};
            uint8x16_t hi1[4] = {vandq_u8(vshlq_n_u8(h1, 4), m30), vandq_u8(vshlq_n_u8(h1, 2), m30),
                                 vandq_u8(h1, m30), vandq_u8(vshrq_n_u8(h1, 2), m30)};
            for (int g = 0; g < 4; g++) {
                const int8x16_t q0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo0[g], hi0[g])), off);
                const int8x16_t q1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo1[g], hi1[g])), off);
                l0 = vmlaq_n_s32(l0, dot16(q0, vld1q_s8(yq + 32 * g)), sc[2 * g]);
                l1 = vmlaq_n_s32(l1, dot16(q1, vld1q_s8(yq + 32 * g + 16)), sc[2 * g + 1]);
            }
        }
        const float d = q8->d * h2f(b->d);
        acc0 = fma_lanes(acc0, d, l0);
        acc1 = fma_lanes(acc1, d, l1);
    }
    const float r = hsum8(acc0, acc1) + 0.0f; /* the reference adds its (empty) min sum */
    NAN_FALLBACK(r, qw_vec_dot_q6_K);
}

static void dot_q3_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const block_q3_K *b = &x[i];
        const block_q8_K *q8 = &y[i];
        int sc[16];
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? (b->scales[j] & 15) : (b->scales[j - 8] >> 4);
            const int hi = (b->scales[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (lo | (hi << 4)) - 32;
        }
        /* hmask bit e/32 of byte e%32 set: level as is, clear: minus 4 */
        uint8x16_t hm0 = vld1q_u8(b->hmask), hm1 = vld1q_u8(b->hmask + 16);
        int32x4_t l0 = vdupq_n_s32(0), l1 = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t v0 = vld1q_u8(b->qs + 32 * h), v1 = vld1q_u8(b->qs + 32 * h + 16);
            const int8_t *yq = q8->qs + 128 * h;
            for (int g = 0; g < 4; g++) {
                const uint8x16_t sub0 = vbicq_u8(four, vtstq_u8(hm0, vdupq_n_u8(1)));
                const uint8x16_t sub1 = vbicq_u8(four, vtstq_u8(hm1, vdupq_n_u8(1)));
                const int8x16_t q0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v0, m3)), vreinterpretq_s8_u8(sub0));
                const int8x16_t q1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v1, m3)), vreinterpretq_s8_u8(sub1));
                const int j = 8 * h + 2 * g;
                l0 = vmlaq_n_s32(l0, dot16(q0, vld1q_s8(yq + 32 * g)), sc[j]);
                l1 = vmlaq_n_s32(l1, dot16(q1, vld1q_s8(yq + 32 * g + 16)), sc[j + 1]);
                v0 = vshrq_n_u8(v0, 2);
                v1 = vshrq_n_u8(v1, 2);
                hm0 = vshrq_n_u8(hm0, 1);
                hm1 = vshrq_n_u8(hm1, 1);
            }
        }
        const float d = q8->d * h2f(b->d);
        acc0 = fma_lanes(acc0, d, l0);
        acc1 = fma_lanes(acc1, d, l1);
    }
    const float r = hsum8(acc0, acc1) + 0.0f;
    NAN_FALLBACK(r, qw_vec_dot_q3_K);
}

static void dot_q2_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m3 = vdupq_n_u8(3);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const block_q2_K *b = &x[i];
        const block_q8_K *q8 = &y[i];
        const uint8x16_t scb = vld1q_u8(b->scales);
        const float xd = h2f(b->d), xdmin = h2f(b->dmin);
        if (xdmin != 0.0f) {
            /* lane l: mn[2l] * bsums[2l] + mn[2l+1] * bsums[2l+1], before
             * the scaled sums, into the same accumulators */
            const uint8x16_t mnb = vshrq_n_u8(scb, 4);
            const int16x8_t mn0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mnb)));
            const int16x8_t mn1 = vreinterpretq_s16_u16(vmovl_high_u8(mnb));
            const int16x8_t bs0 = vld1q_s16(q8->bsums), bs1 = vld1q_s16(q8->bsums + 8);
            const int32x4_t p0 = vpaddq_s32(vmull_s16(vget_low_s16(mn0), vget_low_s16(bs0)),
                                            vmull_high_s16(mn0, bs0));
            const int32x4_t p1 = vpaddq_s32(vmull_s16(vget_low_s16(mn1), vget_low_s16(bs1)),
                                            vmull_high_s16(mn1, bs1));
            const float dmin = -q8->d * xdmin;
            acc0 = fma_lanes(acc0, dmin, p0);
            acc1 = fma_lanes(acc1, dmin, p1);
        }
        uint8_t scl[16];
        vst1q_u8(scl, vandq_u8(scb, vdupq_n_u8(15)));
        int32x4_t l0 = vdupq_n_s32(0), l1 = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t v0 = vld1q_u8(b->qs + 32 * h), v1 = vld1q_u8(b->qs + 32 * h + 16);
            const int8_t *yq = q8->qs + 128 * h;
            for (int g = 0; g < 4; g++) {
                const int8x16_t q0 = vreinterpretq_s8_u8(vandq_u8(v0, m3));
                const int8x16_t q1 = vreinterpretq_s8_u8(vandq_u8(v1, m3));
                const int j = 8 * h + 2 * g;
                l0 = vmlaq_n_s32(l0, dot16(q0, vld1q_s8(yq + 32 * g)), scl[j]);
                l1 = vmlaq_n_s32(l1, dot16(q1, vld1q_s8(yq + 32 * g + 16)), scl[j + 1]);
                v0 = vshrq_n_u8(v0, 2);
                v1 = vshrq_n_u8(v1, 2);
            }
        }
        const float d = q8->d * xd;
        acc0 = fma_lanes(acc0, d, l0);
        acc1 = fma_lanes(acc1, d, l1);
    }
    const float r = hsum8(acc0, acc1) + 0.0f;
    NAN_FALLBACK(r, qw_vec_dot_q2_K);
}

/* IQ4_XS: the reference sums the whole super-block in int32 and scales once:
 * sum += (x.d * y.d) * isum. */
static void dot_iq4_xs(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const int8x16_t kv = vld1q_s8(kvalues_iq4nl);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const block_iq4_xs *b = &x[i];
        const int8_t *yq = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const int ls = ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) |
                           (((b->scales_h >> (2 * ib)) & 3) << 4);
            const uint8x16_t v = vld1q_u8(b->qs + 16 * ib);
            const int8x16_t q0 = vqtbl1q_s8(kv, vandq_u8(v, vdupq_n_u8(0x0f)));
            const int8x16_t q1 = vqtbl1q_s8(kv, vshrq_n_u8(v, 4));
            const int32x4_t sub = vaddq_s32(dot16(q0, vld1q_s8(yq + 32 * ib)),
                                            dot16(q1, vld1q_s8(yq + 32 * ib + 16)));
            acc = vmlaq_n_s32(acc, sub, ls - 32);
        }
        const int32_t isum = vaddvq_s32(acc);
        sum += h2f(b->d) * y[i].d * (float)isum;
    }
    NAN_FALLBACK(sum, qw_vec_dot_iq4_xs);
}

/* ---- F16 ------------------------------------------------------------------ */

/* acc[0..3] (16 lanes) += x[0..15] * y[0..15], one fma per lane */
#define F16_FMA16(a0, a1, a2, a3, px, py)                                                    \
    do {                                                                                     \
        const float16x8_t xa_ = vreinterpretq_f16_u16(vld1q_u16(px));                       \
        const float16x8_t xb_ = vreinterpretq_f16_u16(vld1q_u16((px) + 8));                 \
        const float16x8_t ya_ = vreinterpretq_f16_u16(vld1q_u16(py));                       \
        const float16x8_t yb_ = vreinterpretq_f16_u16(vld1q_u16((py) + 8));                 \
        a0 = vfmaq_f32(a0, vcvt_f32_f16(vget_low_f16(xa_)), vcvt_f32_f16(vget_low_f16(ya_))); \
        a1 = vfmaq_f32(a1, vcvt_high_f32_f16(xa_), vcvt_high_f32_f16(ya_));                 \
        a2 = vfmaq_f32(a2, vcvt_f32_f16(vget_low_f16(xb_)), vcvt_f32_f16(vget_low_f16(yb_))); \
        a3 = vfmaq_f32(a3, vcvt_high_f32_f16(xb_), vcvt_high_f32_f16(yb_));                 \
    } while (0)

static void dot_f16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    const int64_t np = n & ~(int64_t)63;
    /* accumulator j (elements 16j..16j+15 of every 64) is aj0..aj3 */
    float32x4_t a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33;
    a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = vdupq_n_f32(0.0f);
    a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < np; i += 64) {
        F16_FMA16(a00, a01, a02, a03, x + i, y + i);
        F16_FMA16(a10, a11, a12, a13, x + i + 16, y + i + 16);
        F16_FMA16(a20, a21, a22, a23, x + i + 32, y + i + 32);
        F16_FMA16(a30, a31, a32, a33, x + i + 48, y + i + 48);
    }
    double sum = 0.0;
    if (np) {
        /* acc0 += acc2, acc1 += acc3, acc0 += acc1, lane by lane */
        const float32x4_t b0 = vaddq_f32(vaddq_f32(a00, a20), vaddq_f32(a10, a30));
        const float32x4_t b1 = vaddq_f32(vaddq_f32(a01, a21), vaddq_f32(a11, a31));
        const float32x4_t b2 = vaddq_f32(vaddq_f32(a02, a22), vaddq_f32(a12, a32));
        const float32x4_t b3 = vaddq_f32(vaddq_f32(a03, a23), vaddq_f32(a13, a33));
        /* qw_hsum16 of b0..b3: t8[i] = b[i+8] + b[i], t4[i] = t8[i+4] + t8[i], tree */
        const float32x4_t t8lo = vaddq_f32(b2, b0), t8hi = vaddq_f32(b3, b1);
        sum = (double)hsum4_tree(vaddq_f32(t8hi, t8lo));
    }
    for (int64_t i = np; i < n; i++) sum += (double)(h2f(x[i]) * h2f(y[i]));
    const float r = (float)sum;
    NAN_FALLBACK(r, qw_vec_dot_f16);
}

/* ---- activation quantizers -------------------------------------------------- */

/* clamp(round-half-even(v * id), -127, 127) of 32 floats into int8, NaN -> 0
 * (vcvtnq saturates and maps NaN to 0; the narrowing saturates too). */
static inline void round_block_q8(const float32x4_t *v, float id, int8x16_t *q0, int8x16_t *q1) {
    const float32x4_t vid = vdupq_n_f32(id);
    int16x4_t h[8];
    for (int k = 0; k < 8; k++) h[k] = vqmovn_s32(vcvtnq_s32_f32(vmulq_f32(v[k], vid)));
    const int8x16_t lim = vdupq_n_s8(-127);
    *q0 = vmaxq_s8(vcombine_s8(vqmovn_s16(vcombine_s16(h[0], h[1])), vqmovn_s16(vcombine_s16(h[2], h[3]))), lim);
    *q1 = vmaxq_s8(vcombine_s8(vqmovn_s16(vcombine_s16(h[4], h[5])), vqmovn_s16(vcombine_s16(h[6], h[7]))), lim);
}

/* Loads 32 floats and returns max |x|, NaN if any is NaN (FMAX propagates). */
static inline float load_absmax32(const float *x, float32x4_t *v) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; k++) {
        v[k] = vld1q_f32(x + 4 * k);
        m = vmaxq_f32(m, vabsq_f32(v[k]));
    }
    return vmaxvq_f32(m);
}

static void quantize_act_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float32x4_t v[8];
        const float amax = load_absmax32(x, v);
        if (amax != amax) { /* the reference keeps the first NaN's payload */
            qw_quantize_act_q8_0(x, &y[i], QK8_0);
            continue;
        }
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = f2h(amax / 127.0f);
        int8x16_t q0, q1;
        round_block_q8(v, id, &q0, &q1);
        vst1q_s8(y[i].qs, q0);
        vst1q_s8(y[i].qs + 16, q1);
    }
}

static void quantize_act_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float32x4_t v[8];
        const float amax = load_absmax32(x, v);
        if (amax != amax) {
            qw_quantize_act_q8_1(x, &y[i], QK8_1);
            continue;
        }
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = f2h(d);
        int8x16_t q0, q1;
        round_block_q8(v, id, &q0, &q1);
        vst1q_s8(y[i].qs, q0);
        vst1q_s8(y[i].qs + 16, q1);
        const int sum = vaddlvq_s8(q0) + vaddlvq_s8(q1);
        y[i].s = f2h((float)sum * d);
    }
}

/* llama.cpp's reference Q8_K quantizer (see ref_q8k.c): the signed element of
 * largest magnitude (first on ties, NaNs ignored) maps to -127. */
static void quantize_act_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        block_q8_K *b = &y[i];
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int j = 0; j < QK_K; j += 4) {
            const float32x4_t a = vabsq_f32(vld1q_f32(x + j));
            /* NaN lanes become +0 */
            m = vmaxq_f32(m, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vceqq_f32(a, a))));
        }
        const float amax = vmaxvq_f32(m);
        if (amax == 0.0f) {
            b->d = 0.0f;
            memset(b->qs, 0, sizeof b->qs);
            memset(b->bsums, 0, sizeof b->bsums);
            continue;
        }
        float max = amax;
        const float32x4_t vmax = vdupq_n_f32(amax);
        for (int j = 0; j < QK_K; j += 4) {
            if (vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(x + j)), vmax))) {
                int k = j;
                while (fabsf(x[k]) != amax) k++;
                max = x[k];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const float32x4_t vs = vdupq_n_f32(iscale);
        for (int j = 0; j < QK_K; j += 16) {
            int16x4_t h[4];
            for (int k = 0; k < 4; k++) h[k] = vqmovn_s32(vcvtnq_s32_f32(vmulq_f32(vs, vld1q_f32(x + j + 4 * k))));
            const int8x16_t q = vcombine_s8(vqmovn_s16(vcombine_s16(h[0], h[1])),
                                            vqmovn_s16(vcombine_s16(h[2], h[3])));
            vst1q_s8(b->qs + j, q);
            b->bsums[j / 16] = vaddlvq_s8(q);
        }
        b->d = 1.0f / iscale;
    }
}

static void quantize_act_f16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4));
        vst1q_u16(y + i, vreinterpretq_u16_f16(h));
    }
    for (; i < n; i++) y[i] = qw_fp32_to_fp16(x[i]);
}

static void quantize_act_bf16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    const uint32x4_t one = vdupq_n_u32(1), bias = vdupq_n_u32(0x7fff);
    const uint32x4_t absm = vdupq_n_u32(0x7fffffff), inf = vdupq_n_u32(0x7f800000);
    const uint32x4_t quiet = vdupq_n_u32(64);
    for (; i + 4 <= n; i += 4) {
        const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i));
        const uint32x4_t hi = vshrq_n_u32(u, 16);
        const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(u, vaddq_u32(bias, vandq_u32(hi, one))), 16);
        const uint32x4_t is_nan = vcgtq_u32(vandq_u32(u, absm), inf);
        vst1_u16(y + i, vmovn_u32(vbslq_u32(is_nan, vorrq_u32(hi, quiet), rounded)));
    }
    for (; i < n; i++) y[i] = qw_fp32_to_bf16(x[i]);
}

/* ---- several weight rows against one activation row (generation) ---------- */

/* Each row keeps its own accumulators and gets exactly the single-row
 * kernel's operations; the activation block is loaded once for all rows. A
 * NaN result is recomputed by the reference, row by row (as NAN_FALLBACK). */
#define MR_NAN_FALLBACK(R, ref)                                                    \
    for (int r = 0; r < (R); r++)                                                  \
        if (s[r] != s[r]) ref(n, &s[r], (const uint8_t *)vx + (size_t)r * xs, vy);

#define DEFINE_DOT_R4(NAME, BX, ROWSUMS, REF)                                                 \
    static void NAME(int64_t n, float *s, const void *vx, size_t xs, const void *vy) {        \
        const block_q8_0 *y = vy;                                                             \
        const BX *x[4];                                                                       \
        float32x4_t a0[4], a1[4];                                                             \
        for (int r = 0; r < 4; r++) {                                                         \
            x[r] = (const BX *)((const uint8_t *)vx + (size_t)r * xs);                        \
            a0[r] = a1[r] = vdupq_n_f32(0.0f);                                                \
        }                                                                                     \
        for (int64_t i = 0; i < n / 32; i++) {                                                \
            const int8x16_t y0 = vld1q_s8(y[i].qs), y1 = vld1q_s8(y[i].qs + 16);              \
            const float yd = h2f(y[i].d);                                                     \
            for (int r = 0; r < 4; r++) {                                                     \
                int32x4_t s0, s1;                                                             \
                ROWSUMS(&x[r][i], y0, y1, &s0, &s1);                                          \
                const float d = h2f(x[r][i].d) * yd;                                          \
                a0[r] = fma_lanes(a0[r], d, s0);                                              \
                a1[r] = fma_lanes(a1[r], d, s1);                                              \
            }                                                                                 \
        }                                                                                     \
        for (int r = 0; r < 4; r++) s[r] = hsum8(a0[r], a1[r]);                               \
        MR_NAN_FALLBACK(4, REF)                                                               \
    }

static inline void rowsums_q8_0(const block_q8_0 *xb, int8x16_t y0, int8x16_t y1, int32x4_t *s0, int32x4_t *s1) {
    *s0 = dot16_full(vld1q_s8(xb->qs), y0);
    *s1 = dot16_full(vld1q_s8(xb->qs + 16), y1);
}

static inline void rowsums_q4_0(const block_q4_0 *xb, int8x16_t y0, int8x16_t y1, int32x4_t *s0, int32x4_t *s1) {
    const int8x16_t off = vdupq_n_s8(8);
    const uint8x16_t v = vld1q_u8(xb->qs);
    *s0 = dot16(vsubq_s8(lo_nibbles(v), off), y0);
    *s1 = dot16(vsubq_s8(hi_nibbles(v), off), y1);
}

DEFINE_DOT_R4(dot_q8_0_r4, block_q8_0, rowsums_q8_0, qw_vec_dot_q8_0)
DEFINE_DOT_R4(dot_q4_0_r4, block_q4_0, rowsums_q4_0, qw_vec_dot_q4_0)

/* dot_q4_0_rows8 (serial order) for 8 weight rows: lane r of two float32x4
 * accumulators (rows 0..3, 4..7) is row r's chain, acc = fma(sum, d, acc) */
static void dot_q4_0_rows8_r8(int64_t n, float *s, const void *vx, size_t xs, const void *vy) {
    const block_q8_0 *y = vy;
    const block_q4_0 *x[8];
    for (int r = 0; r < 8; r++) x[r] = (const block_q4_0 *)((const uint8_t *)vx + (size_t)r * xs);
    float32x4_t acc[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const int8x16_t y0 = vld1q_s8(y[i].qs), y1 = vld1q_s8(y[i].qs + 16);
        const float yd = h2f(y[i].d);
        for (int g = 0; g < 2; g++) {
            int32x4_t t[4];
            float ds[4];
            for (int k = 0; k < 4; k++) {
                int32x4_t s0, s1;
                rowsums_q4_0(&x[4 * g + k][i], y0, y1, &s0, &s1);
                t[k] = vaddq_s32(s0, s1);
                ds[k] = h2f(x[4 * g + k][i].d) * yd;
            }
            /* [sum t0, sum t1, sum t2, sum t3] */
            const int32x4_t sums = vpaddq_s32(vpaddq_s32(t[0], t[1]), vpaddq_s32(t[2], t[3]));
            acc[g] = vfmaq_f32(acc[g], vcvtq_f32_s32(sums), vld1q_f32(ds));
        }
    }
    vst1q_f32(s, acc[0]);
    vst1q_f32(s + 4, acc[1]);
    MR_NAN_FALLBACK(8, qw_vec_dot_q4_0_serial)
}

/* ---- attention q·K and RoPE ------------------------------------------------ */

/* qw_dot_f32_steps64 for many keys: the 64-element steps by the reference,
 * key by key, then the tail (one product at a time, in float) for 4 keys at
 * once, key u in lane u -- the same multiply and add per element, in order */
static void dot_f32_steps64_keys(const float *q, const float *k, size_t ks, int n_keys, int n, float *out) {
    const int np = n & ~63;
    int t = 0;
    for (; t + 4 <= n_keys; t += 4) {
        const float *kt = k + (size_t)t * ks;
        float32x4_t sum = vdupq_n_f32(0.0f);
        if (np) {
            float s4[4];
            for (int u = 0; u < 4; u++) s4[u] = qw_dot_f32_steps64(q, kt + (size_t)u * ks, np);
            sum = vld1q_f32(s4);
        }
        int i = np;
        for (; i + 4 <= n; i += 4) {
            const float32x4_t r0 = vld1q_f32(kt + i), r1 = vld1q_f32(kt + ks + i);
            const float32x4_t r2 = vld1q_f32(kt + 2 * ks + i), r3 = vld1q_f32(kt + 3 * ks + i);
            const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r0, r1)), t1 = vreinterpretq_f64_f32(vtrn2q_f32(r0, r1));
            const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(r2, r3)), t3 = vreinterpretq_f64_f32(vtrn2q_f32(r2, r3));
            const float32x4_t c[4] = {vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)), vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)),
                                      vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)), vreinterpretq_f32_f64(vtrn2q_f64(t1, t3))};
            for (int e = 0; e < 4; e++) sum = vaddq_f32(sum, vmulq_f32(vdupq_n_f32(q[i + e]), c[e]));
        }
        for (; i < n; i++) {
            const float c4[4] = {kt[i], kt[ks + i], kt[2 * ks + i], kt[3 * ks + i]};
            sum = vaddq_f32(sum, vmulq_f32(vdupq_n_f32(q[i]), vld1q_f32(c4)));
        }
        vst1q_f32(out + t, sum);
    }
    for (; t < n_keys; t++) out[t] = qw_dot_f32_steps64(q, k + (size_t)t * ks, n);
}

/* qw_rope_ref; normal pairs 2 at a time: even lanes fma(x0, c, x1 * -s), odd
 * lanes fma(x0, s, x1 * c) (x1 * -s is -(x1 * s) exactly) */
static void rope(float *v, int n_heads, int head_stride, const float *cs, int rope_dim, int neox) {
    const int np = rope_dim / 2;
    static const uint32_t negeven_bits[4] = {0x80000000u, 0, 0x80000000u, 0};
    const uint32x4_t negeven = vld1q_u32(negeven_bits);
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * (size_t)head_stride;
        int i = 0;
        if (!neox)
            for (; i + 2 <= np; i += 2) {
                const float32x4_t X = vld1q_f32(x + 2 * i), CS = vld1q_f32(cs + 2 * i);
                const float32x4_t sc = vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(vrev64q_f32(CS)), negeven));
                vst1q_f32(x + 2 * i, vfmaq_f32(vmulq_f32(vtrn2q_f32(X, X), sc), vtrn1q_f32(X, X), CS));
            }
        for (; i < np; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const int a = neox ? i : 2 * i;
            const int b = neox ? i + rope_dim / 2 : 2 * i + 1;
            const float x0 = x[a], x1 = x[b];
            x[a] = fmaf(x0, c, -(x1 * s));
            x[b] = fmaf(x0, s, x1 * c);
        }
    }
}

/* ---- the set ---------------------------------------------------------------- */

static const qw_kernel_set g_neon = {
    .name = "neon",
    .vec_dot =
        {
            [QW_TYPE_F16] = dot_f16,
            [QW_TYPE_Q4_0] = dot_q4_0,
            [QW_TYPE_Q4_1] = dot_q4_1,
            [QW_TYPE_Q5_0] = dot_q5_0,
            [QW_TYPE_Q5_1] = dot_q5_1,
            [QW_TYPE_Q8_0] = dot_q8_0,
            [QW_TYPE_IQ4_NL] = dot_iq4_nl,
            [QW_TYPE_Q2_K] = dot_q2_K,
            [QW_TYPE_Q3_K] = dot_q3_K,
            [QW_TYPE_Q4_K] = dot_q4_K,
            [QW_TYPE_Q5_K] = dot_q5_K,
            [QW_TYPE_Q6_K] = dot_q6_K,
            [QW_TYPE_IQ4_XS] = dot_iq4_xs,
        },
    .vec_dot_rows8 = {[QW_TYPE_Q4_0] = dot_q4_0_rows8},
    .vec_dot_r4 = {[QW_TYPE_Q4_0] = dot_q4_0_r4, [QW_TYPE_Q8_0] = dot_q8_0_r4},
    .vec_dot_rows8_r8 = {[QW_TYPE_Q4_0] = dot_q4_0_rows8_r8},
    .dot_f32_steps64_keys = dot_f32_steps64_keys,
    .rope = rope,
    .quantize_act =
        {
            [QW_TYPE_F16] = quantize_act_f16,
            [QW_TYPE_BF16] = quantize_act_bf16,
            [QW_TYPE_Q8_0] = quantize_act_q8_0,
            [QW_TYPE_Q8_1] = quantize_act_q8_1,
            [QW_TYPE_Q8_K] = quantize_act_q8_K,
        },
};

const qw_kernel_set *qw_kernels_neon(void) { return &g_neon; }

#else

const qw_kernel_set *qw_kernels_neon(void) { return NULL; }

#endif

/* K-quants (Q2_K .. Q6_K): reference dequantize, quantize and dot product.
 *
 * Every type packs a super-block of 256 weights (QK_K) with fp16 super-scales
 * and small integer scales per sub-block. Element e of the super-block
 * (0..255) is stored as follows; "2-bit field" and "nibble" positions are the
 * format's, as written by llama.cpp.
 *
 * Q2_K (84 bytes)   scales[16] | qs[64] | fp16 d | fp16 dmin
 *   16 sub-blocks of 16. scales[j] = sc_j | mn_j << 4 (two 4-bit codes).
 *   q_e (0..3): half h = e / 128, r = e % 128: bits 2*(r/32) of qs[32h + r%32].
 *   x_e = (d * sc_j) * q_e - (dmin * mn_j),  j = e / 16.
 *
 * Q3_K (110 bytes)  hmask[32] | qs[64] | scales[12] | fp16 d
 *   16 sub-blocks of 16. Low 2 bits of q_e as Q2_K's qs; the third bit is bit
 *   (e / 32) of hmask[e % 32], and q_e = low2 - (bit set ? 0 : 4), -4..3.
 *   6-bit scale code u_j (0..63, scale = u_j - 32): low 4 bits are the low
 *   nibble of scales[j] for j < 8, the high nibble of scales[j-8] for j >= 8;
 *   high 2 bits are bits 2*(j/4) .. 2*(j/4)+1 of scales[8 + j%4].
 *   x_e = (d * (u_j - 32)) * q_e.
 *
 * Q4_K (144 bytes)  fp16 d | fp16 dmin | scales[12] | qs[128]
 *   8 sub-blocks of 32. q_e (0..15): chunk c = e / 64, r = e % 64: nibble
 *   (r / 32) (0 = low) of qs[32c + r%32]. 6-bit scale sc_j and min mn_j
 *   packed in 12 bytes (see pack_scale_min_k4).
 *   x_e = (d * sc_j) * q_e - (dmin * mn_j),  j = e / 32.
 *
 * Q5_K (176 bytes)  fp16 d | fp16 dmin | scales[12] | qh[32] | qs[128]
 *   As Q4_K, plus a fifth bit: bit (e / 32) of qh[e % 32] adds 16 (q 0..31).
 *
 * Q6_K (210 bytes)  ql[128] | qh[64] | int8 scales[16] | fp16 d
 *   16 sub-blocks of 16. half h = e / 128, r = e % 128, g = r / 32, l = r % 32:
 *   low 4 bits = nibble (g / 2) of ql[64h + 32*(g%2) + l];
 *   high 2 bits = bits 2g .. 2g+1 of qh[32h + l]; q_e = value - 32 (-32..31).
 *   x_e = (d * scales_j) * q_e,  j = e / 16.
 *
 * Dequantization evaluates exactly these float expressions (products in the
 * order shown), so results match llama.cpp's bit for bit.
 *
 * Dot products take a Q8_K row: integer sums of q_e * y_e per sub-block times
 * the integer sub-block scale, summed over the super-block in int32; the
 * minimum terms use Q8_K's bsums (sums of 16 activations); then
 *   sum += (d * y.d) * isum - (dmin * y.d) * msum   per super-block, in float.
 *
 * Quantizers are our own (not llama.cpp's, and not byte-identical to it):
 *   1. each sub-block gets a float scale (and min) from a multi-start search:
 *      several initial scales, each refined by alternating "round every
 *      element to its nearest level" and "least-squares scale/offset for
 *      these levels" until the levels stop changing; the best fit wins;
 *   2. the sub-block scales (and mins) are coded as small integers under an
 *      fp16 super-scale chosen by a weighted search (each scale weighted by
 *      how much an error in it costs its sub-block), judged after fp16
 *      rounding;
 *   3. a local search tries every sub-block's codes +-1, re-rounding its
 *      elements each time, keeping the lowest true error;
 *   4. the fp16 super-scales are refitted by least squares over the whole
 *      super-block for the chosen codes and levels, kept only if the error
 *      after fp16 rounding and re-rounding the elements goes down.
 * All errors are measured with the same float arithmetic dequantization uses.
 * Non-finite input values are treated as 0 (the output stays a valid block). */
#include <float.h>
#include <math.h>
#include "../core/qfma.h"
#include <string.h>

#include "blocks.h"
#include "accum.h"
#include "fp16.h"
#include "types.h"

/* ======================================================================== */
/* shared helpers                                                            */
/* ======================================================================== */

/* v rounded to nearest, ties to even, clamped to lo..hi; NaN gives lo.
 * Adding 1.5 * 2^23 leaves no fraction bits, so the add does the rounding. */
static int round_clamp(float v, int lo, int hi) {
    if (!(v > (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    float t = v + 12582912.0f;
    uint32_t u;
    memcpy(&u, &t, sizeof u);
    return (int)(u & 0x007fffffu) - 0x00400000;
}

static bool fp16_finite(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

/* fp16 bits of v, saturating to the largest finite half instead of inf. */
static uint16_t to_fp16_sat(float v) {
    uint16_t h = qw_fp32_to_fp16(v);
    if (!fp16_finite(h)) h = (uint16_t)((h & 0x8000u) | 0x7bffu);
    return h;
}

/* The super-block with non-finite values replaced by 0. */
static void sanitize(const float *x, float *out) {
    for (int i = 0; i < QK_K; i++) out[i] = isfinite(x[i]) ? x[i] : 0.0f;
}

/* ---- the 6-bit scale + min packing shared by Q4_K and Q5_K -------------- */
/* 12 bytes p[0..11] hold eight 6-bit scales sc[0..7] and eight 6-bit mins:
 *   j < 4:  sc[j] = p[j] & 63            mn[j] = p[j+4] & 63
 *   j >= 4: sc[j] = (p[j+4] & 15) | (p[j-4] >> 6) << 4
 *           mn[j] = (p[j+4] >> 4) | (p[j]   >> 6) << 4
 * i.e. bytes 0..7 carry the first four scales/mins in their low 6 bits and
 * the top 2 bits of the last four in their high 2 bits; bytes 8..11 carry
 * the low nibbles of the last four (scale low, min high). */
static void unpack_scale_min_k4(const uint8_t *p, int *sc, int *mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        mn[j] = p[j + 4] & 63;
        sc[j + 4] = (p[j + 8] & 15) | ((p[j] >> 6) << 4);
        mn[j + 4] = (p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4);
    }
}

static void pack_scale_min_k4(uint8_t *p, const int *sc, const int *mn) {
    for (int j = 0; j < 4; j++) {
        p[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        p[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        p[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

/* ---- Q3_K's sixteen 6-bit scales in 12 bytes ----------------------------- */
static void unpack_scales_q3_K(const uint8_t *p, int *sc) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? (p[j] & 15) : (p[j - 8] >> 4);
        int hi = (p[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (lo | (hi << 4)) - 32;
    }
}

static void pack_scales_q3_K(uint8_t *p, const int *sc) {
    memset(p, 0, 12);
    for (int j = 0; j < 16; j++) {
        int u = sc[j] + 32; /* 0..63 */
        if (j < 8) p[j] |= (uint8_t)(u & 15);
        else p[j - 8] |= (uint8_t)((u & 15) << 4);
        p[8 + j % 4] |= (uint8_t)((u >> 4) << (2 * (j / 4)));
    }
}

/* ---- 2-bit fields (Q2_K qs, Q3_K low bits) -------------------------------- */
/* element 128h + 32g + l is bits 2g..2g+1 of qs[32h + l] */
static void unpack_2bit(const uint8_t *qs, int8_t *q) {
    for (int h = 0; h < 2; h++)
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++)
                q[128 * h + 32 * g + l] = (int8_t)((qs[32 * h + l] >> (2 * g)) & 3);
}

static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    memset(qs, 0, QK_K / 4);
    for (int h = 0; h < 2; h++)
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++)
                qs[32 * h + l] |= (uint8_t)((L[128 * h + 32 * g + l] & 3) << (2 * g));
}

/* ---- one high bit per element (Q3_K hmask, Q5_K qh) ---------------------- */
/* element e is bit (e / 32) of bits[e % 32] */
static bool high_bit(const uint8_t *bits, int e) { return (bits[e % 32] >> (e / 32)) & 1; }

static void pack_high_bits(const uint8_t *L, int shift, uint8_t *bits) {
    memset(bits, 0, 32);
    for (int e = 0; e < QK_K; e++)
        bits[e % 32] |= (uint8_t)(((L[e] >> shift) & 1) << (e / 32));
}

/* ---- nibbles of Q4_K / Q5_K ------------------------------------------------ */
/* element 64c + 32b + l is nibble b of qs[32c + l] */
static void unpack_nibbles_k(const uint8_t *qs, int8_t *q) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = (int8_t)(qs[32 * c + l] & 15);
            q[64 * c + 32 + l] = (int8_t)(qs[32 * c + l] >> 4);
        }
}

static void pack_nibbles_k(const uint8_t *L, uint8_t *qs) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)((L[64 * c + l] & 15) | ((L[64 * c + 32 + l] & 15) << 4));
}

/* ======================================================================== */
/* decoding: every type to integer levels + integer sub-block scales        */
/* ======================================================================== */

typedef struct kdecoded {
    int8_t q[QK_K]; /* level of every element, offset already applied */
    int n_sub;      /* 16 sub-blocks of 16, or 8 of 32 */
    int sc[16];     /* integer scale per sub-block (signed for Q3_K/Q6_K) */
    int mn[16];     /* integer min per sub-block (0 for types without) */
    float d, dmin;  /* super-scales (dmin 0 for types without) */
} kdecoded;

static void decode_q2_K(const block_q2_K *b, kdecoded *k) {
    unpack_2bit(b->qs, k->q);
    k->n_sub = 16;
    for (int j = 0; j < 16; j++) {
        k->sc[j] = b->scales[j] & 15;
        k->mn[j] = b->scales[j] >> 4;
    }
    k->d = qw_fp16_to_fp32(b->d);
    k->dmin = qw_fp16_to_fp32(b->dmin);
}

static void decode_q3_K(const block_q3_K *b, kdecoded *k) {
    unpack_2bit(b->qs, k->q);
    for (int e = 0; e < QK_K; e++)
        if (!high_bit(b->hmask, e)) k->q[e] = (int8_t)(k->q[e] - 4);
    k->n_sub = 16;
    unpack_scales_q3_K(b->scales, k->sc);
    memset(k->mn, 0, sizeof k->mn);
    k->d = qw_fp16_to_fp32(b->d);
    k->dmin = 0.0f;
}

static void decode_q4_K(const block_q4_K *b, kdecoded *k) {
    unpack_nibbles_k(b->qs, k->q);
    k->n_sub = 8;
    unpack_scale_min_k4(b->scales, k->sc, k->mn);
    k->d = qw_fp16_to_fp32(b->d);
    k->dmin = qw_fp16_to_fp32(b->dmin);
}

static void decode_q5_K(const block_q5_K *b, kdecoded *k) {
    unpack_nibbles_k(b->qs, k->q);
    for (int e = 0; e < QK_K; e++)
        if (high_bit(b->qh, e)) k->q[e] = (int8_t)(k->q[e] + 16);
    k->n_sub = 8;
    unpack_scale_min_k4(b->scales, k->sc, k->mn);
    k->d = qw_fp16_to_fp32(b->d);
    k->dmin = qw_fp16_to_fp32(b->dmin);
}

static void decode_q6_K(const block_q6_K *b, kdecoded *k) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h;
        const uint8_t *qh = b->qh + 32 * h;
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++) {
                int lo = (ql[32 * (g % 2) + l] >> (4 * (g / 2))) & 15;
                int hi = (qh[l] >> (2 * g)) & 3;
                k->q[128 * h + 32 * g + l] = (int8_t)((lo | (hi << 4)) - 32);
            }
    }
    k->n_sub = 16;
    for (int j = 0; j < 16; j++) k->sc[j] = b->scales[j];
    memset(k->mn, 0, sizeof k->mn);
    k->d = qw_fp16_to_fp32(b->d);
    k->dmin = 0.0f;
}

/* x_e = (d * sc_j) * q_e - (dmin * mn_j); for types without mins the
 * subtraction is of +0, which leaves every value (even -0) unchanged. */
static void dequantize_decoded(const kdecoded *k, float *y) {
    const int len = QK_K / k->n_sub;
    for (int j = 0; j < k->n_sub; j++) {
        const float dl = k->d * (float)k->sc[j];
        const float ml = k->dmin * (float)k->mn[j];
        for (int l = 0; l < len; l++) y[j * len + l] = dl * (float)k->q[j * len + l] - ml;
    }
}

/* Dot of one decoded super-block with one Q8_K block, accumulated in the
 * lanes8 order of accum.h: lane k sums sc*q*y over the elements whose index
 * mod 32 is 4k..4k+3 (exact integers: |sc*q*y| sums stay below 2^31 for every
 * type, Q6_K being the largest at 128*32*127*256), then one fma per lane with
 * d = y.d * x.d. The min term uses Q8_K's bsums: for 8 sub-blocks of 32 (Q4_K,
 * Q5_K) in 4 lanes of two sub-blocks each, added after the lane sum; for 16
 * sub-blocks (Q2_K) in the 8 main lanes, two sub-blocks per lane, before the
 * scaled sums. */
static void dot_decoded(const kdecoded *k, const block_q8_K *y, float acc[8], float acc_m[4]) {
    const int len = QK_K / k->n_sub;
    const float d = y->d * k->d;
    const float dmin = -y->d * k->dmin;
    if (k->dmin != 0.0f && k->n_sub == 16) {
        for (int l = 0; l < 8; l++) {
            int32_t p = k->mn[2 * l] * y->bsums[2 * l] + k->mn[2 * l + 1] * y->bsums[2 * l + 1];
            acc[l] = qw_fmaf(dmin, (float)p, acc[l]);
        }
    } else if (k->dmin != 0.0f) {
        for (int m = 0; m < 4; m++) {
            int32_t p = 0;
            for (int j = 2 * m; j < 2 * m + 2; j++)
                p += k->mn[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
            acc_m[m] = qw_fmaf(dmin, (float)p, acc_m[m]);
        }
    }
    int32_t lane[8] = {0};
    for (int e = 0; e < QK_K; e++) lane[(e % 32) / 4] += k->sc[e / len] * k->q[e] * y->qs[e];
    for (int l = 0; l < 8; l++) acc[l] = qw_fmaf(d, (float)lane[l], acc[l]);
}

/* ======================================================================== */
/* public dequantize / vec_dot / row_finite                                 */
/* ======================================================================== */

#define DEFINE_DEQ_DOT(t)                                                       \
    void qw_dequantize_row_##t(const void *vx, float *y, int64_t n) {           \
        const block_##t *x = vx;                                                \
        kdecoded k;                                                             \
        for (int64_t i = 0; i < n / QK_K; i++) {                                \
            decode_##t(&x[i], &k);                                              \
            dequantize_decoded(&k, y + i * QK_K);                               \
        }                                                                       \
    }                                                                           \
    void qw_vec_dot_##t(int64_t n, float *s, const void *vx, const void *vy) {  \
        const block_##t *x = vx;                                                \
        const block_q8_K *y = vy;                                               \
        kdecoded k;                                                             \
        float acc[8] = {0}, acc_m[4] = {0};                                     \
        for (int64_t i = 0; i < n / QK_K; i++) {                                \
            decode_##t(&x[i], &k);                                              \
            dot_decoded(&k, &y[i], acc, acc_m);                                 \
        }                                                                       \
        *s = qw_hsum8(acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));   \
    }

DEFINE_DEQ_DOT(q2_K)
DEFINE_DEQ_DOT(q3_K)
DEFINE_DEQ_DOT(q4_K)
DEFINE_DEQ_DOT(q5_K)
DEFINE_DEQ_DOT(q6_K)

#define DEFINE_FINITE_D_DMIN(t)                                                 \
    bool qw_row_finite_##t(const void *vx, int64_t n) {                         \
        const block_##t *x = vx;                                                \
        for (int64_t i = 0; i < n / QK_K; i++)                                  \
            if (!fp16_finite(x[i].d) || !fp16_finite(x[i].dmin)) return false;  \
        return true;                                                            \
    }
#define DEFINE_FINITE_D(t)                                                      \
    bool qw_row_finite_##t(const void *vx, int64_t n) {                         \
        const block_##t *x = vx;                                                \
        for (int64_t i = 0; i < n / QK_K; i++)                                  \
            if (!fp16_finite(x[i].d)) return false;                             \
        return true;                                                            \
    }

DEFINE_FINITE_D_DMIN(q2_K)
DEFINE_FINITE_D(q3_K)
DEFINE_FINITE_D_DMIN(q4_K)
DEFINE_FINITE_D_DMIN(q5_K)
DEFINE_FINITE_D(q6_K)

/* ======================================================================== */
/* quantization, part 1: per-sub-block float fits                           */
/* ======================================================================== */

/* Affine fit x ~= s * L - m with L in 0..nmax, s >= 0, m >= 0 (the format
 * can only subtract a min). Multi-start: initial s spans the range
 * [min(xmin,0), xmax] with nmax + delta steps, delta in -0.5..+1; each start
 * alternates rounding and the weighted least-squares (s, offset) for the
 * levels; an offset that comes out positive is clamped to 0 (then s is the
 * one-parameter fit). Returns s, writes m and the best levels. */
static float fit_affine(const float *x, const float *w, int n, int nmax, uint8_t *L, float *m_out) {
    float xmin = x[0], xmax = x[0];
    for (int i = 1; i < n; i++) {
        xmin = fminf(xmin, x[i]);
        xmax = fmaxf(xmax, x[i]);
    }
    const float lo = fminf(xmin, 0.0f);
    for (int i = 0; i < n; i++) L[i] = 0;
    *m_out = -lo;
    if (!(xmax > lo)) return 0.0f; /* all values equal and <= 0 */

    double best_err = INFINITY;
    float best_s = 0.0f, best_b = lo;
    uint8_t cur[32];
    for (int k = 0; k <= 6; k++) {
        float s = (xmax - lo) / ((float)nmax - 0.5f + 0.25f * (float)k);
        float b = lo;
        for (int it = 0; it < 6; it++) {
            /* levels for (s, b) and their error */
            bool changed = it == 0;
            double err = 0.0, sw = 0, sl = 0, sll = 0, sx = 0, slx = 0;
            const float inv = 1.0f / s;
            for (int i = 0; i < n; i++) {
                int l = round_clamp((x[i] - b) * inv, 0, nmax);
                if (it > 0 && l != cur[i]) changed = true;
                cur[i] = (uint8_t)l;
                double r = (double)x[i] - ((double)s * l + b);
                err += w[i] * r * r;
                sw += w[i];
                sl += w[i] * l;
                sll += (double)w[i] * l * l;
                sx += w[i] * x[i];
                slx += (double)w[i] * l * x[i];
            }
            if (err < best_err) {
                best_err = err;
                best_s = s;
                best_b = b;
                memcpy(L, cur, (size_t)n);
            }
            if (!changed) break;
            /* least-squares (s, b) for these levels */
            double det = sw * sll - sl * sl;
            if (!(det > 0.0)) break;
            double ns = (sw * slx - sl * sx) / det;
            double nb = (sll * sx - sl * slx) / det;
            if (nb > 0.0) {
                nb = 0.0;
                ns = sll > 0.0 ? slx / sll : 0.0;
            }
            if (!(ns > 0.0)) break;
            s = (float)ns;
            b = (float)nb;
        }
    }
    *m_out = -best_b;
    return best_s;
}

/* Symmetric fit x ~= s * L with L in qlo..qhi (qlo = -qhi - 1: the negative
 * end is one level longer). Starts map the largest-magnitude element onto
 * the negative end (s has the opposite sign of that element) or the positive
 * end, with targets spread over 1.5 levels; then alternate rounding and the
 * least-squares s. Returns s (may be negative) and the best levels. */
static float fit_symmetric(const float *x, const float *w, int n, int qlo, int qhi, int8_t *L) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    for (int i = 0; i < n; i++) L[i] = 0;
    if (!(amax > 0.0f)) return 0.0f;

    double best_err = INFINITY;
    float best_s = 0.0f;
    int8_t cur[32];
    for (int end = 0; end < 2; end++) {
        for (int k = 0; k <= 4; k++) {
            float target = end == 0 ? (float)qlo + 0.5f - 0.375f * (float)k
                                    : (float)qhi - 0.5f + 0.375f * (float)k;
            float s = max / target;
            for (int it = 0; it < 6; it++) {
                bool changed = it == 0;
                double err = 0.0, sll = 0.0, slx = 0.0;
                const float inv = 1.0f / s;
                for (int i = 0; i < n; i++) {
                    int l = round_clamp(x[i] * inv, qlo, qhi);
                    if (it > 0 && l != cur[i]) changed = true;
                    cur[i] = (int8_t)l;
                    double r = (double)x[i] - (double)s * l;
                    err += w[i] * r * r;
                    sll += (double)w[i] * l * l;
                    slx += (double)w[i] * l * x[i];
                }
                if (err < best_err) {
                    best_err = err;
                    best_s = s;
                    memcpy(L, cur, (size_t)n);
                }
                if (!changed || !(sll > 0.0)) break;
                float ns = (float)(slx / sll);
                if (ns == 0.0f) break;
                s = ns;
            }
        }
    }
    return best_s;
}

/* ======================================================================== */
/* quantization, part 2: coding the sub-block scales under an fp16 scale    */
/* ======================================================================== */

/* Integer codes c[j] in clo..chi and fp16 d with d * c[j] ~= v[j], minimizing
 * sum imp[j] * (v[j] - d c[j])^2 after rounding d to fp16. Candidates put the
 * largest-magnitude v onto either end of the code range (and targets up to
 * a level inside), each followed by a least-squares step on d. Returns the
 * fp16 bits of d. */
static uint16_t code_scales(const float *v, const double *imp, int n, int clo, int chi, int *codes) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(v[j]) > amax) {
            amax = fabsf(v[j]);
            max = v[j];
        }
    }
    for (int j = 0; j < n; j++) codes[j] = 0;
    if (!(amax > 0.0f)) return 0;

    double best_err = INFINITY;
    uint16_t best_h = 0;
    int c[16];
    for (int end = 0; end < 2; end++) {
        if (end == 0 && clo == 0) continue; /* unsigned codes: positive end only */
        for (int k = 0; k <= 4; k++) {
            float target = end == 0 ? (float)clo + 0.25f * (float)k : (float)chi - 0.25f * (float)k;
            float d = max / target;
            for (int step = 0; step < 2; step++) {
                const uint16_t h = to_fp16_sat(d);
                const float df = qw_fp16_to_fp32(h);
                if (df == 0.0f) break;
                double err = 0.0, scv = 0.0, scc = 0.0;
                for (int j = 0; j < n; j++) {
                    c[j] = round_clamp(v[j] / df, clo, chi);
                    double r = (double)v[j] - (double)df * c[j];
                    err += imp[j] * r * r;
                    scv += imp[j] * c[j] * v[j];
                    scc += imp[j] * c[j] * c[j];
                }
                if (err < best_err) {
                    best_err = err;
                    best_h = h;
                    memcpy(codes, c, sizeof(int) * (size_t)n);
                }
                if (!(scc > 0.0)) break;
                d = (float)(scv / scc);
            }
        }
    }
    return best_h;
}

/* ======================================================================== */
/* quantization, part 3: engines for "scale + min" and "signed scale" types */
/* ======================================================================== */

/* Per-element weights of the squared error. Uniform: the quantizers minimize
 * plain squared error (the fp16/int arithmetic is judged exactly). */
static void element_weights(const float *x, float *w) {
    (void)x;
    for (int i = 0; i < QK_K; i++) w[i] = 1.0f;
}

/* Levels of one sub-block for fixed float dl, ml (x ~= dl * L - ml), and the
 * weighted error computed as dequantization computes the values. */
static double requant_affine(const float *x, const float *w, int n, int nmax, float dl, float ml,
                             uint8_t *L) {
    double err = 0.0;
    const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
    for (int i = 0; i < n; i++) {
        int l = dl != 0.0f ? round_clamp((x[i] + ml) * inv, 0, nmax) : 0;
        L[i] = (uint8_t)l;
        double r = (double)x[i] - (double)(dl * (float)l - ml);
        err += w[i] * r * r;
    }
    return err;
}

static double requant_symmetric(const float *x, const float *w, int n, int qlo, int qhi, float dl,
                                int8_t *L) {
    double err = 0.0;
    const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
    for (int i = 0; i < n; i++) {
        int l = dl != 0.0f ? round_clamp(x[i] * inv, qlo, qhi) : 0;
        L[i] = (int8_t)l;
        double r = (double)x[i] - (double)(dl * (float)l);
        err += w[i] * r * r;
    }
    return err;
}

/* Format of a "scale + min" type. */
typedef struct affine_fmt {
    int n_sub, len; /* sub-blocks and their length */
    int nmax;       /* levels 0..nmax */
    int cmax;       /* scale and min codes 0..cmax */
} affine_fmt;

typedef struct affine_result {
    uint8_t L[QK_K];
    int sc[16], mn[16];
    uint16_t d, dmin;
} affine_result;

/* Re-rounds every sub-block for the current codes and super-scales; returns
 * the total error. */
static double affine_requant_all(const float *x, const float *w, const affine_fmt *f,
                                 affine_result *r) {
    const float d = qw_fp16_to_fp32(r->d), dmin = qw_fp16_to_fp32(r->dmin);
    double total = 0.0;
    for (int j = 0; j < f->n_sub; j++) {
        const int o = j * f->len;
        total += requant_affine(x + o, w + o, f->len, f->nmax, d * (float)r->sc[j],
                                dmin * (float)r->mn[j], r->L + o);
    }
    return total;
}

/* Step 3: each sub-block tries its scale code +-1, then its min code +-1
 * (levels re-rounded each time), keeping whatever lowers its error. */
static double affine_local_search(const float *x, const float *w, const affine_fmt *f,
                                  affine_result *r) {
    const float d = qw_fp16_to_fp32(r->d), dmin = qw_fp16_to_fp32(r->dmin);
    double total = 0.0;
    uint8_t cur[32];
    for (int j = 0; j < f->n_sub; j++) {
        const int o = j * f->len;
        double best = requant_affine(x + o, w + o, f->len, f->nmax, d * (float)r->sc[j],
                                     dmin * (float)r->mn[j], r->L + o);
        for (int step = 0; step < 4; step++) {
            const int delta = step % 2 ? 1 : -1;
            const int s = r->sc[j] + (step < 2 ? delta : 0);
            const int m = r->mn[j] + (step < 2 ? 0 : delta);
            if (s < 0 || s > f->cmax || m < 0 || m > f->cmax) continue;
            double err = requant_affine(x + o, w + o, f->len, f->nmax, d * (float)s,
                                        dmin * (float)m, cur);
            if (err < best) {
                best = err;
                r->sc[j] = s;
                r->mn[j] = m;
                memcpy(r->L + o, cur, (size_t)f->len);
            }
        }
        total += best;
    }
    return total;
}

/* Step 4: least-squares (d, dmin) for x ~= d * (sc_j L) - dmin * mn_j over
 * the super-block; kept if it lowers the error after fp16 rounding. */
static double affine_refit(const float *x, const float *w, const affine_fmt *f, affine_result *r,
                           double total) {
    for (int round = 0; round < 2; round++) {
        double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
        for (int j = 0; j < f->n_sub; j++) {
            for (int l = 0; l < f->len; l++) {
                const int e = j * f->len + l;
                const double a = (double)r->sc[j] * r->L[e], b = -(double)r->mn[j];
                saa += w[e] * a * a;
                sab += w[e] * a * b;
                sbb += w[e] * b * b;
                sax += w[e] * a * x[e];
                sbx += w[e] * b * x[e];
            }
        }
        double nd, nm;
        const double det = saa * sbb - sab * sab;
        if (det > 1e-12 * saa * sbb && sbb > 0.0) {
            nd = (sax * sbb - sab * sbx) / det;
            nm = (saa * sbx - sab * sax) / det;
        } else if (saa > 0.0) {
            nd = sax / saa;
            nm = qw_fp16_to_fp32(r->dmin);
        } else {
            break;
        }
        if (!(nd >= 0.0) || !(nm >= 0.0)) break;
        affine_result t = *r;
        t.d = to_fp16_sat((float)nd);
        t.dmin = to_fp16_sat((float)nm);
        if (t.d == r->d && t.dmin == r->dmin) break;
        double err = affine_requant_all(x, w, f, &t);
        if (!(err < total)) break;
        *r = t;
        total = err;
    }
    return total;
}

static void quantize_affine(const float *xin, const affine_fmt *f, affine_result *r) {
    float x[QK_K], w[QK_K], s[16], m[16];
    double imp_s[16], imp_m[16];
    sanitize(xin, x);
    element_weights(x, w);

    /* 1. float scale and min per sub-block */
    for (int j = 0; j < f->n_sub; j++) {
        const int o = j * f->len;
        s[j] = fit_affine(x + o, w + o, f->len, f->nmax, r->L + o, &m[j]);
        double sll = 0.0, sw = 0.0; /* cost of a unit error in s / m */
        for (int l = 0; l < f->len; l++) {
            sll += (double)w[o + l] * r->L[o + l] * r->L[o + l];
            sw += w[o + l];
        }
        imp_s[j] = sll;
        imp_m[j] = sw;
    }
    /* 2. integer codes under fp16 super-scales */
    r->d = code_scales(s, imp_s, f->n_sub, 0, f->cmax, r->sc);
    r->dmin = code_scales(m, imp_m, f->n_sub, 0, f->cmax, r->mn);
    /* 3 + 4: local search, refit, and if the refit moved the super-scales,
     * a last local search under them */
    const double total = affine_local_search(x, w, f, r);
    if (affine_refit(x, w, f, r, total) < total) affine_local_search(x, w, f, r);
}

/* Format of a "signed scale" type. */
typedef struct sym_fmt {
    int n_sub, len;
    int qlo, qhi; /* levels */
    int clo, chi; /* scale codes */
} sym_fmt;

typedef struct sym_result {
    int8_t L[QK_K];
    int sc[16];
    uint16_t d;
} sym_result;

static double sym_requant_all(const float *x, const float *w, const sym_fmt *f, sym_result *r) {
    const float d = qw_fp16_to_fp32(r->d);
    double total = 0.0;
    for (int j = 0; j < f->n_sub; j++) {
        const int o = j * f->len;
        total += requant_symmetric(x + o, w + o, f->len, f->qlo, f->qhi, d * (float)r->sc[j],
                                   r->L + o);
    }
    return total;
}

static double sym_local_search(const float *x, const float *w, const sym_fmt *f, sym_result *r) {
    const float d = qw_fp16_to_fp32(r->d);
    double total = 0.0;
    int8_t cur[32];
    for (int j = 0; j < f->n_sub; j++) {
        const int o = j * f->len, c0 = r->sc[j];
        double best = requant_symmetric(x + o, w + o, f->len, f->qlo, f->qhi, d * (float)c0, r->L + o);
        for (int dc = -1; dc <= 1; dc += 2) {
            const int c = c0 + dc;
            if (c < f->clo || c > f->chi) continue;
            double err = requant_symmetric(x + o, w + o, f->len, f->qlo, f->qhi, d * (float)c, cur);
            if (err < best) {
                best = err;
                r->sc[j] = c;
                memcpy(r->L + o, cur, (size_t)f->len);
            }
        }
        total += best;
    }
    return total;
}

static double sym_refit(const float *x, const float *w, const sym_fmt *f, sym_result *r, double total) {
    for (int round = 0; round < 2; round++) {
        double saa = 0.0, sax = 0.0;
        for (int j = 0; j < f->n_sub; j++) {
            for (int l = 0; l < f->len; l++) {
                const int e = j * f->len + l;
                const double a = (double)r->sc[j] * r->L[e];
                saa += w[e] * a * a;
                sax += w[e] * a * x[e];
            }
        }
        if (!(saa > 0.0)) break;
        sym_result t = *r;
        t.d = to_fp16_sat((float)(sax / saa));
        if (t.d == r->d) break;
        double err = sym_requant_all(x, w, f, &t);
        if (!(err < total)) break;
        *r = t;
        total = err;
    }
    return total;
}

static void quantize_symmetric(const float *xin, const sym_fmt *f, sym_result *r) {
    float x[QK_K], w[QK_K], s[16];
    double imp[16];
    sanitize(xin, x);
    element_weights(x, w);
    for (int j = 0; j < f->n_sub; j++) {
        const int o = j * f->len;
        s[j] = fit_symmetric(x + o, w + o, f->len, f->qlo, f->qhi, r->L + o);
        double sll = 0.0;
        for (int l = 0; l < f->len; l++) sll += (double)w[o + l] * r->L[o + l] * r->L[o + l];
        imp[j] = sll;
    }
    r->d = code_scales(s, imp, f->n_sub, f->clo, f->chi, r->sc);
    const double total = sym_local_search(x, w, f, r);
    if (sym_refit(x, w, f, r, total) < total) sym_local_search(x, w, f, r);
}

/* ======================================================================== */
/* quantization, part 4: per-type packing                                   */
/* ======================================================================== */

static const affine_fmt FMT_Q2_K = {16, 16, 3, 15};
static const affine_fmt FMT_Q4_K = {8, 32, 15, 63};
static const affine_fmt FMT_Q5_K = {8, 32, 31, 63};
static const sym_fmt FMT_Q3_K = {16, 16, -4, 3, -32, 31};
static const sym_fmt FMT_Q6_K = {16, 16, -32, 31, -128, 127};

void qw_quantize_row_q2_K(const float *x, void *vy, int64_t n) {
    block_q2_K *y = vy;
    affine_result r;
    for (int64_t i = 0; i < n / QK_K; i++) {
        quantize_affine(x + i * QK_K, &FMT_Q2_K, &r);
        for (int j = 0; j < 16; j++) y[i].scales[j] = (uint8_t)(r.sc[j] | (r.mn[j] << 4));
        pack_2bit(r.L, y[i].qs);
        y[i].d = r.d;
        y[i].dmin = r.dmin;
    }
}

void qw_quantize_row_q3_K(const float *x, void *vy, int64_t n) {
    block_q3_K *y = vy;
    sym_result r;
    uint8_t u[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        quantize_symmetric(x + i * QK_K, &FMT_Q3_K, &r);
        for (int e = 0; e < QK_K; e++) u[e] = (uint8_t)(r.L[e] + 4); /* 0..7 */
        pack_2bit(u, y[i].qs);
        pack_high_bits(u, 2, y[i].hmask);
        pack_scales_q3_K(y[i].scales, r.sc);
        y[i].d = r.d;
    }
}

static void quantize_q45_K(const float *x, const affine_fmt *f, uint16_t *d, uint16_t *dmin,
                           uint8_t *scales, uint8_t *L) {
    affine_result r;
    quantize_affine(x, f, &r);
    pack_scale_min_k4(scales, r.sc, r.mn);
    memcpy(L, r.L, QK_K);
    *d = r.d;
    *dmin = r.dmin;
}

void qw_quantize_row_q4_K(const float *x, void *vy, int64_t n) {
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        quantize_q45_K(x + i * QK_K, &FMT_Q4_K, &y[i].d, &y[i].dmin, y[i].scales, L);
        pack_nibbles_k(L, y[i].qs);
    }
}

void qw_quantize_row_q5_K(const float *x, void *vy, int64_t n) {
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        quantize_q45_K(x + i * QK_K, &FMT_Q5_K, &y[i].d, &y[i].dmin, y[i].scales, L);
        pack_nibbles_k(L, y[i].qs); /* low 4 bits */
        pack_high_bits(L, 4, y[i].qh);
    }
}

void qw_quantize_row_q6_K(const float *x, void *vy, int64_t n) {
    block_q6_K *y = vy;
    sym_result r;
    for (int64_t i = 0; i < n / QK_K; i++) {
        quantize_symmetric(x + i * QK_K, &FMT_Q6_K, &r);
        memset(y[i].ql, 0, sizeof y[i].ql);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int h = 0; h < 2; h++)
            for (int g = 0; g < 4; g++)
                for (int l = 0; l < 32; l++) {
                    const int u = r.L[128 * h + 32 * g + l] + 32; /* 0..63 */
                    y[i].ql[64 * h + 32 * (g % 2) + l] |= (uint8_t)((u & 15) << (4 * (g / 2)));
                    y[i].qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * g));
                }
        for (int j = 0; j < 16; j++) y[i].scales[j] = (int8_t)r.sc[j];
        y[i].d = r.d;
    }
}

/* IQ4_NL and IQ4_XS: 4-bit indices into one non-linear table of 16 levels.
 *
 * Both store, per group of 32 weights, 16 bytes of nibbles: byte qs[j] holds
 * the index of element j in its low nibble and of element j+16 in its high
 * nibble. An element is  scale * kvalues_iq4nl[index].
 *
 *   IQ4_NL (block of 32, 18 bytes):  fp16 d | qs[16]
 *       x = d * kv[q]
 *   IQ4_XS (super-block of 256, 136 bytes): fp16 d | u16 scales_h |
 *       u8 scales_l[4] | qs[128]; eight sub-blocks of 32, sub-block ib with a
 *       6-bit unsigned scale code ls = low4 | high2 << 4 where
 *         low4  = nibble (ib % 2) of scales_l[ib / 2] (low nibble for even ib)
 *         high2 = bits 2*ib .. 2*ib+1 of scales_h
 *       x = (d * (ls - 32)) * kv[q], sub-block ib covering elements
 *       32*ib .. 32*ib+31 with its nibbles in qs[16*ib .. 16*ib+15].
 *
 * Dot products: IQ4_NL against Q8_0 blocks (same 32-element grouping),
 * IQ4_XS against Q8_K; integer sums, float scaling per block / super-block.
 *
 * Quantizers (our own, not llama.cpp's): per group of 32, a multi-start
 * search for the scale with alternating "nearest level / least-squares
 * scale" refinement; then the scale is rounded to fp16 (IQ4_NL) or coded as
 * 6 bits under one fp16 super-scale (IQ4_XS), followed by a local search on
 * the stored codes that re-picks every level and keeps the lowest error. */
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "accum.h"
#include "fp16.h"
#include "types.h"

/* The 16 levels, ascending (a fixed part of the GGUF format). */
static const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

enum { IQ4_GROUP = 32 };

/* ---- decoding ------------------------------------------------------------ */

/* The 32 table values of one group of nibbles, in element order. */
static void unpack_group(const uint8_t *qs, int8_t *v) {
    for (int j = 0; j < IQ4_GROUP / 2; j++) {
        v[j] = kvalues_iq4nl[qs[j] & 0x0f];
        v[j + IQ4_GROUP / 2] = kvalues_iq4nl[qs[j] >> 4];
    }
}

static void pack_group(const uint8_t *idx, uint8_t *qs) {
    for (int j = 0; j < IQ4_GROUP / 2; j++)
        qs[j] = (uint8_t)(idx[j] | (idx[j + IQ4_GROUP / 2] << 4));
}

/* 6-bit scale code of sub-block ib of an IQ4_XS block, 0..63 (stored + 32). */
static int iq4xs_scale_code(const block_iq4_xs *b, int ib) {
    int lo = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    int hi = (b->scales_h >> (2 * ib)) & 3;
    return lo | (hi << 4);
}

static bool fp16_finite(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

/* fp16 bits of v, saturating to the largest finite half instead of inf. */
static uint16_t to_fp16_sat(float v) {
    uint16_t h = qw_fp32_to_fp16(v);
    if (!fp16_finite(h)) h = (uint16_t)((h & 0x8000u) | 0x7bffu);
    return h;
}

/* n values with non-finite ones replaced by 0 (the output stays valid). */
static void sanitize(const float *x, float *out, int n) {
    for (int i = 0; i < n; i++) out[i] = isfinite(x[i]) ? x[i] : 0.0f;
}

/* ---- dequantize / dot / finite ------------------------------------------ */

void qw_dequantize_row_iq4_nl(const void *vx, float *y, int64_t n) {
    const block_iq4_nl *x = vx;
    int8_t v[IQ4_GROUP];
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        const float d = qw_fp16_to_fp32(x[i].d);
        unpack_group(x[i].qs, v);
        for (int j = 0; j < IQ4_GROUP; j++) y[i * QK4_NL + j] = d * v[j];
    }
}

void qw_vec_dot_iq4_nl(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    int8_t v[IQ4_GROUP];
    float acc[8] = {0}; /* lanes8 order, see accum.h */
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        unpack_group(x[i].qs, v);
        int q[IQ4_GROUP];
        for (int j = 0; j < IQ4_GROUP; j++) q[j] = v[j];
        qw_lanes8_block(acc, q, y[i].qs, qw_fp16_to_fp32(x[i].d) * qw_fp16_to_fp32(y[i].d));
    }
    *s = qw_hsum8(acc);
}

bool qw_row_finite_iq4_nl(const void *vx, int64_t n) {
    const block_iq4_nl *x = vx;
    for (int64_t i = 0; i < n / QK4_NL; i++)
        if (!fp16_finite(x[i].d)) return false;
    return true;
}

void qw_dequantize_row_iq4_xs(const void *vx, float *y, int64_t n) {
    const block_iq4_xs *x = vx;
    int8_t v[IQ4_GROUP];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = qw_fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < QK_K / IQ4_GROUP; ib++) {
            const float dl = d * (float)(iq4xs_scale_code(&x[i], ib) - 32);
            unpack_group(x[i].qs + 16 * ib, v);
            float *out = y + i * QK_K + IQ4_GROUP * ib;
            for (int j = 0; j < IQ4_GROUP; j++) out[j] = dl * v[j];
        }
    }
}

/* Integer sum over the whole super-block: sum_ib (ls_ib - 32) * sum(v * q8),
 * at most 8 * 32 * 32 * 127 * 127 in magnitude, well inside int32. */
void qw_vec_dot_iq4_xs(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    int8_t v[IQ4_GROUP];
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32_t isum = 0;
        for (int ib = 0; ib < QK_K / IQ4_GROUP; ib++) {
            unpack_group(x[i].qs + 16 * ib, v);
            const int8_t *q8 = y[i].qs + IQ4_GROUP * ib;
            int32_t sub = 0;
            for (int j = 0; j < IQ4_GROUP; j++) sub += v[j] * q8[j];
            isum += (iq4xs_scale_code(&x[i], ib) - 32) * sub;
        }
        sum += qw_fp16_to_fp32(x[i].d) * y[i].d * (float)isum;
    }
    *s = sum;
}

bool qw_row_finite_iq4_xs(const void *vx, int64_t n) {
    const block_iq4_xs *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++)
        if (!fp16_finite(x[i].d)) return false;
    return true;
}

/* ---- quantization helpers ------------------------------------------------ */

/* v rounded to the nearest integer (ties to even), clamped to lo..hi;
 * NaN gives lo. */
static int round_clamp(float v, int lo, int hi) {
    if (!(v > (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    float t = v + 12582912.0f; /* 1.5 * 2^23: the add rounds away the fraction */
    uint32_t u;
    memcpy(&u, &t, sizeof u);
    return (int)(u & 0x007fffffu) - 0x00400000;
}

/* Midpoints between consecutive levels. */
static const float kmid_iq4nl[15] = {-115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
                                     7.0f,    19.0f,  31.5f,  45.5f,  61.0f,  79.0f,  101.0f};

/* Index of the table level nearest to v (ties to the lower level); NaN -> 0.
 * A branch-free binary search over the midpoints: each step adds half of
 * the remaining span if v lies above the midpoint at its end. */
static int nearest_level(float v) {
    int k = 0;
    k += (v > kmid_iq4nl[k + 7]) * 8;
    k += (v > kmid_iq4nl[k + 3]) * 4;
    k += (v > kmid_iq4nl[k + 1]) * 2;
    k += (v > kmid_iq4nl[k]) * 1;
    return k;
}

/* Picks the nearest level of every x[j] / s into idx; returns the squared
 * error sum((x - s * kv[idx])^2) of the assignment. s == 0 gives level 8
 * (value 1, dequantizing to 0) everywhere. */
static double assign_levels(const float *x, int n, float s, uint8_t *idx) {
    double err = 0.0;
    const float inv = s != 0.0f ? 1.0f / s : 0.0f;
    for (int j = 0; j < n; j++) {
        int k = s != 0.0f ? nearest_level(x[j] * inv) : 8;
        idx[j] = (uint8_t)k;
        double e = (double)x[j] - (double)(s * kvalues_iq4nl[k]);
        err += e * e;
    }
    return err;
}

/* Least-squares scale for fixed levels: sum(x*kv) / sum(kv^2). */
static float ls_scale(const float *x, int n, const uint8_t *idx) {
    double sxv = 0.0, svv = 0.0;
    for (int j = 0; j < n; j++) {
        double v = kvalues_iq4nl[idx[j]];
        sxv += x[j] * v;
        svv += v * v;
    }
    return svv > 0.0 ? (float)(sxv / svv) : 0.0f;
}

/* Float scale s for one group of 32 (x ~= s * kv[idx]), minimizing the squared
 * error. Starting points map the largest-magnitude element onto a range of
 * targets near either end of the table (the table is asymmetric, so both
 * signs of s are tried); from each, alternate nearest-level assignment and
 * the least-squares scale until the levels stop changing. idx gets the levels
 * of the best scale. */
static float fit_group(const float *x, uint8_t *idx) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < IQ4_GROUP; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    memset(idx, 8, IQ4_GROUP);
    if (!(amax > 0.0f) || !isfinite(amax)) return 0.0f;
    float best_s = 0.0f;
    double best_err = INFINITY;
    uint8_t cur[IQ4_GROUP], prev[IQ4_GROUP];
    static const float ends[2] = {-127.0f, 113.0f};
    for (int e = 0; e < 2; e++) {
        for (int k = -4; k <= 1; k++) {
            float s = max / (ends[e] * (1.0f + 0.05f * (float)k));
            for (int it = 0; it < 4; it++) {
                double err = assign_levels(x, IQ4_GROUP, s, cur);
                if (err < best_err) {
                    best_err = err;
                    best_s = s;
                    memcpy(idx, cur, IQ4_GROUP);
                }
                if (it > 0 && memcmp(cur, prev, IQ4_GROUP) == 0) break; /* converged */
                memcpy(prev, cur, IQ4_GROUP);
                float s2 = ls_scale(x, IQ4_GROUP, cur);
                if (s2 == 0.0f) break;
                s = s2;
            }
        }
    }
    return best_s;
}

/* The finite fp16 numbers adjacent to h (same sign side; may cross zero). */
static uint16_t fp16_next_up(uint16_t h) {
    if (h == 0x8000u) return 0x0001u;
    if (h & 0x8000u) return (uint16_t)(h - 1u);
    return h < 0x7bffu ? (uint16_t)(h + 1u) : h;
}
static uint16_t fp16_next_down(uint16_t h) {
    if (h == 0x0000u) return 0x8001u;
    if (h & 0x8000u) return h < 0xfbffu ? (uint16_t)(h + 1u) : h;
    return (uint16_t)(h - 1u);
}

/* ---- IQ4_NL quantizer ------------------------------------------------------ */

static void quantize_block_iq4_nl(const float *xin, block_iq4_nl *y) {
    float x[IQ4_GROUP];
    uint8_t idx[IQ4_GROUP], cur[IQ4_GROUP];
    sanitize(xin, x, IQ4_GROUP);
    const float s = fit_group(x, idx);
    /* The stored scale is fp16: try the rounded value and its two
     * neighbours, re-picking the levels for each, and keep the best. */
    const uint16_t h0 = to_fp16_sat(s);
    const uint16_t cand[3] = {h0, fp16_next_up(h0), fp16_next_down(h0)};
    double best_err = INFINITY;
    uint16_t best_h = 0;
    for (int c = 0; c < 3; c++) {
        double err = assign_levels(x, IQ4_GROUP, qw_fp16_to_fp32(cand[c]), cur);
        if (err < best_err) {
            best_err = err;
            best_h = cand[c];
            memcpy(idx, cur, IQ4_GROUP);
        }
    }
    y->d = best_h;
    pack_group(idx, y->qs);
}

void qw_quantize_row_iq4_nl(const float *x, void *vy, int64_t n) {
    block_iq4_nl *y = vy;
    for (int64_t i = 0; i < n / QK4_NL; i++) quantize_block_iq4_nl(x + i * QK4_NL, &y[i]);
}

/* ---- IQ4_XS quantizer ------------------------------------------------------ */

enum { XS_SUB = QK_K / IQ4_GROUP }; /* 8 sub-blocks */

/* Signed 6-bit codes c[ib] in -32..31 and an fp16 super-scale d so that
 * d * c[ib] ~= s[ib], each error weighted by imp[ib] (how much a unit scale
 * error costs that sub-block). Candidates map the largest-magnitude scale onto
 * -32 or +31 (and a few nearby targets), then one least-squares step on d;
 * every candidate is judged after rounding d to fp16. Returns fp16 bits. */
static uint16_t code_scales(const float *s, const double *imp, int *codes) {
    float amax = 0.0f, max = 0.0f;
    for (int ib = 0; ib < XS_SUB; ib++) {
        if (fabsf(s[ib]) > amax) {
            amax = fabsf(s[ib]);
            max = s[ib];
        }
    }
    if (!(amax > 0.0f)) {
        for (int ib = 0; ib < XS_SUB; ib++) codes[ib] = 0;
        return 0;
    }
    double best_err = INFINITY;
    uint16_t best_h = 0;
    static const float ends[2] = {-32.0f, 31.0f};
    for (int e = 0; e < 2; e++) {
        for (int k = 0; k < 4; k++) {
            float d = max / (ends[e] - (e == 0 ? -0.25f : 0.25f) * (float)k);
            for (int step = 0; step < 2; step++) {
                const uint16_t h = to_fp16_sat(d);
                const float df = qw_fp16_to_fp32(h);
                int c[XS_SUB];
                double err = 0.0, scs = 0.0, scc = 0.0;
                for (int ib = 0; ib < XS_SUB; ib++) {
                    float v = df != 0.0f ? s[ib] / df : 0.0f;
                    int q = round_clamp(v, -32, 31);
                    c[ib] = q;
                    double r = (double)s[ib] - (double)df * q;
                    err += imp[ib] * r * r;
                    scs += imp[ib] * q * s[ib];
                    scc += imp[ib] * q * q;
                }
                if (err < best_err) {
                    best_err = err;
                    best_h = h;
                    memcpy(codes, c, sizeof c);
                }
                if (!(scc > 0.0)) break;
                d = (float)(scs / scc); /* least-squares d for these codes */
            }
        }
    }
    return best_h;
}

/* Error of sub-block ib (32 elements) with code c under super-scale df. */
static double xs_sub_error(const float *x, float df, int c, uint8_t *idx) {
    return assign_levels(x, IQ4_GROUP, df * (float)c, idx);
}

static void store_iq4_xs(block_iq4_xs *y, uint16_t h, const int *codes,
                         uint8_t idx[XS_SUB][IQ4_GROUP]) {
    y->d = h;
    y->scales_h = 0;
    memset(y->scales_l, 0, sizeof y->scales_l);
    for (int ib = 0; ib < XS_SUB; ib++) {
        int u = codes[ib] + 32; /* 0..63 */
        y->scales_l[ib / 2] |= (uint8_t)((u & 0x0f) << (4 * (ib % 2)));
        y->scales_h |= (uint16_t)((u >> 4) << (2 * ib));
        pack_group(idx[ib], y->qs + 16 * ib);
    }
}

static void quantize_block_iq4_xs(const float *xin, block_iq4_xs *y) {
    float x[QK_K], s[XS_SUB];
    double imp[XS_SUB];
    uint8_t idx[XS_SUB][IQ4_GROUP], cur[IQ4_GROUP];
    sanitize(xin, x, QK_K);
    for (int ib = 0; ib < XS_SUB; ib++) {
        s[ib] = fit_group(x + IQ4_GROUP * ib, idx[ib]);
        double w = 0.0; /* squared error per unit of scale error: sum kv^2 */
        for (int j = 0; j < IQ4_GROUP; j++) w += kvalues_iq4nl[idx[ib][j]] * kvalues_iq4nl[idx[ib][j]];
        imp[ib] = w;
    }
    int codes[XS_SUB];
    uint16_t h = code_scales(s, imp, codes);
    float df = qw_fp16_to_fp32(h);

    /* Local search: each sub-block's code +-1, levels re-picked each time. */
    double total = 0.0;
    for (int ib = 0; ib < XS_SUB; ib++) {
        const float *xb = x + IQ4_GROUP * ib;
        double best = xs_sub_error(xb, df, codes[ib], idx[ib]);
        int best_c = codes[ib];
        for (int dc = -1; dc <= 1; dc += 2) {
            int c = codes[ib] + dc;
            if (c < -32 || c > 31) continue;
            double err = xs_sub_error(xb, df, c, cur);
            if (err < best) {
                best = err;
                best_c = c;
                memcpy(idx[ib], cur, IQ4_GROUP);
            }
        }
        codes[ib] = best_c;
        total += best;
    }

    /* Refit the super-scale for the chosen codes and levels (least squares
     * over all 256 elements), keep it if it lowers the error after fp16. */
    for (int round = 0; round < 2; round++) {
        double sxv = 0.0, svv = 0.0;
        for (int ib = 0; ib < XS_SUB; ib++) {
            for (int j = 0; j < IQ4_GROUP; j++) {
                double v = (double)codes[ib] * kvalues_iq4nl[idx[ib][j]];
                sxv += x[IQ4_GROUP * ib + j] * v;
                svv += v * v;
            }
        }
        if (!(svv > 0.0)) break;
        const uint16_t h2 = to_fp16_sat((float)(sxv / svv));
        if (h2 == h) break;
        float df2 = qw_fp16_to_fp32(h2);
        uint8_t idx2[XS_SUB][IQ4_GROUP];
        double total2 = 0.0;
        for (int ib = 0; ib < XS_SUB; ib++)
            total2 += xs_sub_error(x + IQ4_GROUP * ib, df2, codes[ib], idx2[ib]);
        if (!(total2 < total)) break;
        total = total2;
        h = h2;
        df = df2;
        memcpy(idx, idx2, sizeof idx2);
    }
    store_iq4_xs(y, h, codes, idx);
}

void qw_quantize_row_iq4_xs(const float *x, void *vy, int64_t n) {
    block_iq4_xs *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_iq4_xs(x + i * QK_K, &y[i]);
}

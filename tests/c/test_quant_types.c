/* Walks the whole type table (qw_type_get over 0..QW_TYPE_COUNT-1), so every
 * supported type is tested here, including types added later: a table entry
 * without an error model below fails the test.
 *
 * Per type, on random rows (fixed seed; several lengths; Gaussian, Gaussian
 * with outliers, small offset values, uniform):
 *  (a) quantize -> dequantize error within a bound derived from the format
 *      (see "error model" below);
 *  (b) reference vec_dot against a double-precision dot of the dequantized
 *      weight row and the dequantized activation row, within a derived
 *      floating-point bound (see dot_tolerance);
 *  (c) blck_size, type_size, vec_dot_type and qw_row_size agree with
 *      blocks.h; unknown ids give NULL;
 *  (d) row_finite accepts quantized rows and rejects a NaN/Inf scale (or
 *      value, for float types) in any block.
 * The measured errors are printed per type. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qw_test.h"
#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/types.h"

/* ======================================================================== */
/* error model                                                              */
/* ======================================================================== */
/*
 * For every element x_j we bound |x_j - dequant_j| by
 *
 *   e_j = c_range * range_b + c_amax * amax_b + c_super * amax_S
 *       + c_rel * |x_j| + floor + max(0, |x_j| - t_clamp * amax_b)  [t_clamp>0]
 *
 * where b is the element's sub-block (`sub` elements: the unit that has its
 * own scale), S its super-block (256, K-quants and IQ4_XS), amax the largest
 * |x|, and range_b = max_b - min(min_b, 0) for types that subtract a
 * non-negative min (Q2_K/Q4_K/Q5_K can only shift down; for Q4_1/Q5_1 the
 * min is exact, so range_b = max_b - min_b). h = 2^-11 is the relative
 * rounding of an fp16 scale; a level L times a scale rounded by h moves by
 * at most L * h * d. Every constant below is the worst case of the format's
 * plain scale rule:
 *
 *  F32     exact.
 *  F16     round to nearest half: 2^-11 |x| (+ 2^-25 in the subnormal range).
 *  BF16    round to nearest bf16: 2^-8 |x|.
 *  Q8_0/1  d = amax/127, round: d/2, + 127 h d  -> c_amax = (0.5 + 127h)/127.
 *  Q4_0    d = amax/8, levels -8..7: d/2 + 8 h d; on the side opposite the
 *          absmax values beyond 7.5 d clamp to 7 d -> t_clamp = 7.5/8.
 *  Q5_0    the same with 16 and 15.5.
 *  Q4_1    d = range/15, m = min: d/2 + 15 h d + h |min|
 *          -> c_range = (0.5 + 15h)/15, c_amax = h.   Q5_1 with 31.
 *  Q8_K    float d = amax/127, round: d/2 -> c_amax = 0.5/127.
 *  IQ4_NL  levels d*{-127..113} (non-uniform), d ~ amax/127: the widest gap
 *          (89..113) gives 12 d; beyond 125 d the clamp to 113 d adds
 *          |x| - 125 d; fp16 d: 127 h d -> c_amax = (12 + 127h)/127,
 *          t_clamp = 125/127.
 *  IQ4_XS  IQ4_NL per sub-block of 32, plus the sub-block scale coded in 6
 *          bits (-32..31) under one fp16 d: the largest scale (~amax_S/127)
 *          takes 32 codes, so a coded scale is off by <= 1 code (clamping the
 *          opposite sign at 31) = amax_S/(127*32), times level <= 127
 *          -> c_super = 1/32 + h.
 *  Q2_K    sub-blocks of 16, 2 bits: d = range/3 -> range/6; 4-bit codes
 *          for scale and min under fp16 supers: scale off by <= half a code
 *          (max scale/30) times level <= 3 -> range_max/30 <= amax_S/15; min
 *          off by max min/30 <= amax_S/30; fp16 of both supers 3 h amax_S
 *          -> c_range = 1/6, c_super = 1/10 + 3h.
 *  Q3_K    sub-blocks of 16, levels -4..3: d = amax/4 -> d/2, clamp beyond
 *          3.5 d; 6-bit signed scale codes: off by <= 1 code = amax_S/128,
 *          times 4 -> c_amax = 1/8, t_clamp = 3.5/4, c_super = 1/32 + h.
 *  Q4_K    sub-blocks of 32, 4 bits: range/30; 6-bit codes: scale half a
 *          code (range_max/(15*126)) times 15 <= amax_S/63, min <= amax_S/126
 *          -> c_range = 1/30, c_super = 1/42 + 3h.   Q5_K: range/62, same.
 *  Q6_K    sub-blocks of 16, levels -32..31: amax/64, clamp beyond 31.5/32;
 *          int8 scale codes, off by <= 1 code = amax_S/(32*128), times 32
 *          -> c_amax = 1/64, t_clamp = 31.5/32, c_super = 1/128 + h.
 * Float rounding inside the quantizers adds ~1e-6 relative (slop below).
 *
 * For the "strict" types (fixed scale rule + nearest rounding: floats,
 * legacy, Q8_*) e_j is a proven worst case and is checked per element. The
 * K-quant and IQ4 quantizers pick scales by searching for the least squared
 * error, which may trade one element's error for its neighbours', so for
 * them only the RMS is checked: RMS error <= RMS of e_j. That rests on one
 * assumption, not a proof: a least-squares search does no worse on RMS than
 * the plain rule's worst case. (A uniform rounding error has RMS 1/sqrt(3)
 * of its worst case, so a correct quantizer passes with room, while a layout
 * or scale-coding bug gives errors of the order of the data itself.)
 * Strict types must meet the RMS bound too.
 */

typedef struct {
    size_t off; /* byte offset inside the block */
    int f32;    /* 1: float field; 0: fp16 */
} scale_field;

typedef struct {
    uint32_t type;
    const char *name;
    /* geometry as blocks.h defines it */
    int64_t blck;
    size_t size;
    uint32_t dot_type;
    /* error model (see above) */
    int sub, super;
    double c_range, c_amax, c_super, c_rel, floor_abs, t_clamp;
    int range_from_zero; /* range_b = max - min(min, 0) */
    int has_min;         /* stores an offset: the dot splits in two sums */
    int strict;
    /* scale fields checked by row_finite (none: float types, by value) */
    int n_scales;
    scale_field scales[2];
} type_spec;

#define H (1.0 / 2048)
#define FP16_AT(T, f) {offsetof(T, f), 0}
#define GEOM(ID, NAME, BLK, T, DOT) .type = ID, .name = NAME, .blck = BLK, .size = sizeof(T), \
                                    .dot_type = DOT

static const type_spec SPECS[] = {
    {GEOM(QW_TYPE_F32, "F32", 1, float, QW_TYPE_F32), .sub = 1, .super = 1, .strict = 1},
    {GEOM(QW_TYPE_F16, "F16", 1, uint16_t, QW_TYPE_F16), .sub = 1, .super = 1,
     .c_rel = 0x1p-11, .floor_abs = 0x1p-25, .strict = 1},
    {GEOM(QW_TYPE_BF16, "BF16", 1, uint16_t, QW_TYPE_BF16), .sub = 1, .super = 1,
     .c_rel = 0x1p-8, .floor_abs = 0x1p-134, .strict = 1},
    {GEOM(QW_TYPE_Q4_0, "Q4_0", 32, block_q4_0, QW_TYPE_Q8_0), .sub = 32, .super = 32,
     .c_amax = (0.5 + 8 * H) / 8, .t_clamp = 7.5 / 8, .strict = 1,
     .n_scales = 1, .scales = {FP16_AT(block_q4_0, d)}},
    {GEOM(QW_TYPE_Q4_1, "Q4_1", 32, block_q4_1, QW_TYPE_Q8_1), .sub = 32, .super = 32,
     .c_range = (0.5 + 15 * H) / 15, .c_amax = H, .has_min = 1, .strict = 1,
     .n_scales = 2, .scales = {FP16_AT(block_q4_1, d), FP16_AT(block_q4_1, m)}},
    {GEOM(QW_TYPE_Q5_0, "Q5_0", 32, block_q5_0, QW_TYPE_Q8_0), .sub = 32, .super = 32,
     .c_amax = (0.5 + 16 * H) / 16, .t_clamp = 15.5 / 16, .strict = 1,
     .n_scales = 1, .scales = {FP16_AT(block_q5_0, d)}},
    {GEOM(QW_TYPE_Q5_1, "Q5_1", 32, block_q5_1, QW_TYPE_Q8_1), .sub = 32, .super = 32,
     .c_range = (0.5 + 31 * H) / 31, .c_amax = H, .has_min = 1, .strict = 1,
     .n_scales = 2, .scales = {FP16_AT(block_q5_1, d), FP16_AT(block_q5_1, m)}},
    {GEOM(QW_TYPE_Q8_0, "Q8_0", 32, block_q8_0, QW_TYPE_Q8_0), .sub = 32, .super = 32,
     .c_amax = (0.5 + 127 * H) / 127, .strict = 1,
     .n_scales = 1, .scales = {FP16_AT(block_q8_0, d)}},
    {GEOM(QW_TYPE_Q8_1, "Q8_1", 32, block_q8_1, QW_TYPE_Q8_1), .sub = 32, .super = 32,
     .c_amax = (0.5 + 127 * H) / 127, .strict = 1,
     .n_scales = 2, .scales = {FP16_AT(block_q8_1, d), FP16_AT(block_q8_1, s)}},
    {GEOM(QW_TYPE_Q2_K, "Q2_K", 256, block_q2_K, QW_TYPE_Q8_K), .sub = 16, .super = 256,
     .c_range = 1.0 / 6, .c_super = 0.1 + 3 * H, .range_from_zero = 1, .has_min = 1,
     .n_scales = 2, .scales = {FP16_AT(block_q2_K, d), FP16_AT(block_q2_K, dmin)}},
    {GEOM(QW_TYPE_Q3_K, "Q3_K", 256, block_q3_K, QW_TYPE_Q8_K), .sub = 16, .super = 256,
     .c_amax = 1.0 / 8, .t_clamp = 3.5 / 4, .c_super = 1.0 / 32 + H,
     .n_scales = 1, .scales = {FP16_AT(block_q3_K, d)}},
    {GEOM(QW_TYPE_Q4_K, "Q4_K", 256, block_q4_K, QW_TYPE_Q8_K), .sub = 32, .super = 256,
     .c_range = 1.0 / 30, .c_super = 1.0 / 42 + 3 * H, .range_from_zero = 1, .has_min = 1,
     .n_scales = 2, .scales = {FP16_AT(block_q4_K, d), FP16_AT(block_q4_K, dmin)}},
    {GEOM(QW_TYPE_Q5_K, "Q5_K", 256, block_q5_K, QW_TYPE_Q8_K), .sub = 32, .super = 256,
     .c_range = 1.0 / 62, .c_super = 1.0 / 42 + 3 * H, .range_from_zero = 1, .has_min = 1,
     .n_scales = 2, .scales = {FP16_AT(block_q5_K, d), FP16_AT(block_q5_K, dmin)}},
    {GEOM(QW_TYPE_Q6_K, "Q6_K", 256, block_q6_K, QW_TYPE_Q8_K), .sub = 16, .super = 256,
     .c_amax = 1.0 / 64, .t_clamp = 31.5 / 32, .c_super = 1.0 / 128 + H,
     .n_scales = 1, .scales = {FP16_AT(block_q6_K, d)}},
    {GEOM(QW_TYPE_Q8_K, "Q8_K", 256, block_q8_K, QW_TYPE_Q8_K), .sub = 256, .super = 256,
     .c_amax = 0.5 / 127, .strict = 1,
     .n_scales = 1, .scales = {{offsetof(block_q8_K, d), 1}}},
    {GEOM(QW_TYPE_IQ4_NL, "IQ4_NL", 32, block_iq4_nl, QW_TYPE_Q8_0), .sub = 32, .super = 32,
     .c_amax = (12 + 127 * H) / 127, .t_clamp = 125.0 / 127,
     .n_scales = 1, .scales = {FP16_AT(block_iq4_nl, d)}},
    {GEOM(QW_TYPE_IQ4_XS, "IQ4_XS", 256, block_iq4_xs, QW_TYPE_Q8_K), .sub = 32, .super = 256,
     .c_amax = 12.0 / 127, .t_clamp = 125.0 / 127, .c_super = 1.0 / 32 + H,
     .n_scales = 1, .scales = {FP16_AT(block_iq4_xs, d)}},
};
#define N_SPECS (sizeof SPECS / sizeof SPECS[0])

static const type_spec *find_spec(uint32_t type) {
    for (size_t i = 0; i < N_SPECS; i++)
        if (SPECS[i].type == type) return &SPECS[i];
    return NULL;
}

/* ======================================================================== */
/* random data                                                              */
/* ======================================================================== */

static uint64_t rng_state;
static double rng_uniform(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}
static double rng_gauss(void) {
    return sqrt(-2 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform());
}

enum { DIST_GAUSS, DIST_OUTLIERS, DIST_SMALL_OFFSET, DIST_UNIFORM, N_DIST };
static const char *DIST_NAME[N_DIST] = {"gauss", "outliers", "small+off", "uniform"};

static void fill(float *x, int64_t n, int dist) {
    for (int64_t i = 0; i < n; i++) {
        double v = rng_gauss();
        switch (dist) {
        case DIST_OUTLIERS: /* ~1.5% of values 10..30 sigma */
            if (rng_uniform() < 1.0 / 64) v *= 10 + 20 * rng_uniform();
            break;
        case DIST_SMALL_OFFSET: /* weight-like magnitudes, not centred */
            v = 0.02 * (v + 0.8);
            break;
        case DIST_UNIFORM:
            v = 2 * rng_uniform() - 1;
            break;
        default:
            break;
        }
        x[i] = (float)v;
    }
}

/* activations: Gaussian with a few large channels */
static void fill_activations(float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = rng_gauss();
        if (i % 61 == 7) v *= 8;
        y[i] = (float)v;
    }
}

/* ======================================================================== */
/* (a) round trip                                                           */
/* ======================================================================== */

typedef struct {
    double rms_x, rms_err, rms_bound; /* absolute */
    double worst_ratio;               /* max over elements of err / e_j */
    int64_t n_over;                   /* elements beyond e_j */
} rt_stats;

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static void round_trip_stats(const type_spec *s, const float *x, const float *xq, int64_t n,
                             rt_stats *st) {
    double sx = 0, se = 0, sb = 0;
    st->worst_ratio = 0;
    st->n_over = 0;
    for (int64_t b0 = 0; b0 < n; b0 += s->sub) {
        const float *xb = x + b0;
        double amax = max_abs(xb, s->sub), lo = xb[0], hi = xb[0];
        for (int j = 0; j < s->sub; j++) lo = fmin(lo, xb[j]), hi = fmax(hi, xb[j]);
        if (s->range_from_zero) lo = fmin(lo, 0.0);
        int64_t S0 = b0 / s->super * s->super;
        double amax_S = max_abs(x + S0, s->super);
        for (int j = 0; j < s->sub; j++) {
            double xj = xb[j], err = fabs(xj - (double)xq[b0 + j]);
            double e = s->c_range * (hi - lo) + s->c_amax * amax + s->c_super * amax_S +
                       s->c_rel * fabs(xj) + s->floor_abs;
            if (s->blck > 1) e += 1e-6 * amax_S; /* float slop (none for F32/F16/BF16) */
            if (s->t_clamp > 0) e += fmax(0.0, fabs(xj) - s->t_clamp * amax);
            sx += xj * xj, se += err * err, sb += e * e;
            if (err > e) st->n_over++;
            if (e > 0) st->worst_ratio = fmax(st->worst_ratio, err / e);
            else if (err > 0) st->worst_ratio = INFINITY;
        }
    }
    st->rms_x = sqrt(sx / (double)n);
    st->rms_err = sqrt(se / (double)n);
    st->rms_bound = sqrt(sb / (double)n);
}

/* ======================================================================== */
/* (b) dot product tolerance                                                */
/* ======================================================================== */
/*
 * The reference vec_dot forms exact integer sums and then multiplies and
 * accumulates in float (float types: float products summed in double). The
 * dequantized rows hold the same values (each is one fp16 x small-integer
 * product, exact in float, or for Q8_K a float product with one rounding),
 * so the difference from the double dot is float rounding only: with at most
 * m = n/16 + 16 rounding steps in any accumulation chain (one per 16 elements
 * plus the per-block scale products), it is at most
 *     gamma_m * M,   gamma_m = m u / (1 - m u),  u = 2^-24,
 * where M bounds the sum of magnitudes of the summed terms: sum |x_j y_j|,
 * or for types with a min offset (x = d q - m, summed as two parts)
 * sum (|x_j| + 2 R_b) |y_j|, R_b = max |x| of the sub-block (the offset is
 * the value of level 0, which the block's minimum uses).
 * Q4_1/Q5_1 additionally use Q8_1's stored s = fp16(d_float * sum q) instead
 * of d_fp16 * sum q: |s - d_fp16 sum q| <= 2^-11 |s| + |sum q| |d - d_fp16|
 * <= 2^-10 (1 + 2^-11) d_fp16 sum |q| per block, times |m| <= R_b:
 *     + sum_b R_b 2^-10 (1 + 2^-11) sum_{j in b} |y_j|.
 */
static double dot_tolerance(const type_spec *s, const float *xq, const float *yq, int64_t n) {
    double M = 0, s_term = 0;
    for (int64_t b0 = 0; b0 < n; b0 += s->sub) {
        double R = max_abs(xq + b0, s->sub), sum_y = 0;
        for (int j = 0; j < s->sub; j++) {
            double ay = fabs(yq[b0 + j]);
            M += (fabs(xq[b0 + j]) + (s->has_min ? 2 * R : 0)) * ay;
            sum_y += ay;
        }
        if (s->dot_type == QW_TYPE_Q8_1) s_term += R * 0x1p-10 * (1 + H) * sum_y;
    }
    double m = (double)(n / 16 + 16), u = 0x1p-24;
    return m * u / (1 - m * u) * M + s_term;
}

/* ======================================================================== */
/* per-type driver                                                          */
/* ======================================================================== */

typedef struct {
    float *x, *xq, *y, *yq;
    void *q, *qy;
} buffers;

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* (d) row_finite on a quantized row, then with each scale field (or value)
 * of the middle block set to NaN / +Inf / -Inf. */
static void test_row_finite(const qw_type_traits *t, const type_spec *s, void *q, int64_t n) {
    CHECKF(t->row_finite(q, n), "%s: row_finite rejects a quantized row", s->name);
    int64_t nb = n / t->blck_size;
    uint8_t *blk = (uint8_t *)q + (size_t)(nb / 2) * t->type_size;
    static const uint16_t bad16[4] = {0x7e00, 0x7c00, 0xfc00, 0x7c01};
    static const uint16_t badbf[4] = {0x7fc0, 0x7f80, 0xff80, 0x7f81};
    static const uint32_t bad32[4] = {0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f800001u};
    int n_fields = s->n_scales ? s->n_scales : 1;
    for (int f = 0; f < n_fields; f++) {
        /* float types: the value itself is the "scale" */
        size_t off = s->n_scales ? s->scales[f].off : 0;
        int is32 = s->n_scales ? s->scales[f].f32 : s->type == QW_TYPE_F32;
        uint8_t save[4];
        memcpy(save, blk + off, is32 ? 4 : 2);
        for (int k = 0; k < 4; k++) {
            if (is32) {
                memcpy(blk + off, &bad32[k], 4);
            } else {
                uint16_t v = s->type == QW_TYPE_BF16 ? badbf[k] : bad16[k];
                memcpy(blk + off, &v, 2);
            }
            CHECKF(!t->row_finite(q, n), "%s: row_finite accepts field %d = bad value %d", s->name,
                   f, k);
        }
        /* the largest finite value is fine */
        if (is32) {
            uint32_t v = 0x7f7fffffu;
            memcpy(blk + off, &v, 4);
        } else {
            uint16_t v = s->type == QW_TYPE_BF16 ? 0x7f7f : 0x7bff;
            memcpy(blk + off, &v, 2);
        }
        CHECKF(t->row_finite(q, n), "%s: row_finite rejects a large finite field %d", s->name, f);
        memcpy(blk + off, save, is32 ? 4 : 2);
    }
    CHECKF(t->row_finite(q, n), "%s: row_finite after restoring", s->name);
}

/* all-zero input must quantize to exact zeros with a zero dot product */
static void test_zero_row(const qw_type_traits *t, const qw_type_traits *dt, const type_spec *s,
                          buffers *b, int64_t n) {
    memset(b->x, 0, (size_t)n * sizeof(float));
    t->from_float(b->x, b->q, n);
    t->to_float(b->q, b->xq, n);
    CHECKF(max_abs(b->xq, n) == 0, "%s: zero row does not dequantize to zeros", s->name);
    CHECKF(t->row_finite(b->q, n), "%s: zero row not finite", s->name);
    if (t->vec_dot) {
        fill_activations(b->y, n);
        dt->from_float(b->y, b->qy, n);
        float r = -1;
        t->vec_dot(n, &r, b->q, b->qy);
        CHECKF(r == 0, "%s: dot with a zero row = %g", s->name, (double)r);
    }
}

static void test_type(const qw_type_traits *t, const type_spec *s) {
    const qw_type_traits *dt = qw_type_get(t->vec_dot_type);
    CHECKF(dt && dt->from_float && dt->to_float, "%s: activation type unusable", s->name);
    if (!dt) return;
    int64_t B = t->blck_size > dt->blck_size ? t->blck_size : dt->blck_size;
    const int64_t lens[3] = {B, 3 * B, 4096};
    const int64_t nmax = 4096;
    buffers b;
    b.x = xmalloc(nmax * sizeof(float));
    b.xq = xmalloc(nmax * sizeof(float));
    b.y = xmalloc(nmax * sizeof(float));
    b.yq = xmalloc(nmax * sizeof(float));
    b.q = xmalloc(qw_row_size(s->type, nmax));
    b.qy = xmalloc(qw_row_size(t->vec_dot_type, nmax));

    double worst_rms = 0, worst_elem = 0, worst_dot = 0;
    for (int li = 0; li < 3; li++) {
        int64_t n = lens[li];
        for (int dist = 0; dist < N_DIST; dist++) {
            fill(b.x, n, dist);
            t->from_float(b.x, b.q, n);
            t->to_float(b.q, b.xq, n);

            /* (a) */
            rt_stats st;
            round_trip_stats(s, b.x, b.xq, n, &st);
            CHECKF(st.rms_err <= st.rms_bound, "%s n=%lld %s: rms error %.4g > bound %.4g", s->name,
                   (long long)n, DIST_NAME[dist], st.rms_err, st.rms_bound);
            if (s->strict)
                CHECKF(st.n_over == 0, "%s n=%lld %s: %lld elements beyond their bound (worst %.3f)",
                       s->name, (long long)n, DIST_NAME[dist], (long long)st.n_over,
                       st.worst_ratio);
            worst_rms = fmax(worst_rms, st.rms_bound > 0 ? st.rms_err / st.rms_bound : 0);
            worst_elem = fmax(worst_elem, st.worst_ratio);

            /* (b) */
            double dot_err = 0, tol = 0;
            if (t->vec_dot) {
                fill_activations(b.y, n);
                dt->from_float(b.y, b.qy, n);
                dt->to_float(b.qy, b.yq, n);
                double ref = 0;
                for (int64_t i = 0; i < n; i++) ref += (double)b.xq[i] * (double)b.yq[i];
                float got = NAN;
                t->vec_dot(n, &got, b.q, b.qy);
                dot_err = fabs((double)got - ref);
                tol = dot_tolerance(s, b.xq, b.yq, n);
                CHECKF(dot_err <= tol, "%s n=%lld %s: dot %.9g vs %.9g, error %.3g > tol %.3g",
                       s->name, (long long)n, DIST_NAME[dist], (double)got, ref, dot_err, tol);
                if (tol > 0) worst_dot = fmax(worst_dot, dot_err / tol);
            }
            if (n == nmax) {
                printf("  %-6s %-9s rel rms err %.3e  bound %.3e (%.2f)  worst elem %.2f",
                       s->name, DIST_NAME[dist], st.rms_err / st.rms_x, st.rms_bound / st.rms_x,
                       st.rms_bound > 0 ? st.rms_err / st.rms_bound : 0, st.worst_ratio);
                if (t->vec_dot) printf("  dot err %.2e tol %.2e", dot_err, tol);
                printf("\n");
            }
        }
    }
    printf("  %-6s worst over all runs: rms/bound %.2f, elem/bound %.2f%s, dot err/tol %.3f\n",
           s->name, worst_rms, worst_elem, s->strict ? "" : " (not required)", worst_dot);

    /* (d) on a 3-block Gaussian row, then the zero row */
    fill(b.x, 3 * B, DIST_GAUSS);
    t->from_float(b.x, b.q, 3 * B);
    test_row_finite(t, s, b.q, 3 * B);
    test_zero_row(t, dt, s, &b, 3 * B);

    free(b.x), free(b.xq), free(b.y), free(b.yq), free(b.q), free(b.qy);
}

/* ======================================================================== */
/* (c) table                                                                */
/* ======================================================================== */

static void test_table(const qw_type_traits *t, const type_spec *s) {
    CHECKF(strcmp(t->name, s->name) == 0, "type %u: name %s, want %s", s->type, t->name, s->name);
    CHECKF(strcmp(qw_type_name(s->type), s->name) == 0, "qw_type_name(%u)", s->type);
    CHECKF(t->blck_size == s->blck, "%s: blck_size %lld, want %lld", s->name,
           (long long)t->blck_size, (long long)s->blck);
    CHECKF(t->type_size == s->size, "%s: type_size %zu, want %zu", s->name, t->type_size, s->size);
    CHECKF(t->vec_dot_type == s->dot_type, "%s: vec_dot_type %u, want %u", s->name,
           (unsigned)t->vec_dot_type, s->dot_type);
    CHECKF(t->to_float && t->from_float && t->row_finite, "%s: missing kernel", s->name);
    /* Q8_1 and Q8_K are activation-only: storage, no dot product */
    int activation_only = s->type == QW_TYPE_Q8_1 || s->type == QW_TYPE_Q8_K;
    CHECKF((t->vec_dot == NULL) == activation_only, "%s: vec_dot presence", s->name);
    for (int64_t k = 0; k <= 16; k += 4)
        CHECKF(qw_row_size(s->type, k * s->blck) == (size_t)k * s->size, "%s: row_size(%lld)",
               s->name, (long long)(k * s->blck));
    if (s->blck > 1) {
        CHECKF(qw_row_size(s->type, s->blck + 1) == 0, "%s: row_size of a partial block",
               s->name);
        CHECKF(qw_row_size(s->type, s->blck / 2) == 0, "%s: row_size of half a block", s->name);
    }
    CHECKF(qw_row_size(s->type, -s->blck) == 0, "%s: row_size of a negative length", s->name);
}

static void test_unknown_ids(void) {
    static const uint32_t ids[] = {4, 5, 16, 17, 18, 19, 21, 22, 24, 29, 31, 39,
                                   QW_TYPE_COUNT, 99, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        CHECKF(qw_type_get(ids[i]) == NULL, "qw_type_get(%u) is not NULL", ids[i]);
        CHECKF(qw_row_size(ids[i], 256) == 0, "qw_row_size(%u) is not 0", ids[i]);
    }
    CHECK(strcmp(qw_type_name(99), "type 99") == 0);
    CHECK(strcmp(qw_type_name(4), "type 4") == 0);
}

int main(void) {
    rng_state = 0x5eed;
    int n_types = 0;
    for (uint32_t id = 0; id < QW_TYPE_COUNT; id++) {
        const qw_type_traits *t = qw_type_get(id);
        const type_spec *s = find_spec(id);
        if (!t) {
            CHECKF(s == NULL, "type %u (%s) missing from the table", id, s ? s->name : "");
            continue;
        }
        CHECKF(s != NULL, "type %u (%s) has no error model in this test", id, t->name);
        if (!s) continue;
        n_types++;
        printf("%s (id %u)\n", s->name, id);
        test_table(t, s);
        test_type(t, s);
    }
    CHECKF(n_types == (int)N_SPECS, "%d types in the table, %d specified", n_types, (int)N_SPECS);
    test_unknown_ids();
    return qw_test_end();
}

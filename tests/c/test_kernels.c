/* Every SIMD kernel set against the scalar reference, bit for bit.
 *
 * Generic: it asks qw_kernel_paths() which sets this machine has (avx2,
 * neon, wasm-simd128, ...) and, for each one other than scalar:
 *
 *  (a) vec_dot of every type in the table that has one, on random rows
 *      (fixed seeds) at several lengths (1, 2, 3, 7, ... blocks; odd element
 *      counts for the float types), weights drawn as reference-quantized
 *      Gaussian / outlier / mostly-zero data and as random bytes with normal,
 *      extreme (0, subnormal, 65504, negative, inf, NaN) and all-zero blocks;
 *      activations reference-quantized from floats and as raw random blocks.
 *      The result must be the same float bit for bit (two NaNs count as
 *      equal: their payloads are not specified).
 *  (b) quantize_act of every activation type, on float rows with outliers,
 *      ties, zeros, subnormals, huge values, Inf and NaN: the output bytes
 *      must equal the reference's.
 *  (a') the 4-activation-row kernels (vec_dot_x4, vec_dot_rows8_x4): each
 *      of the 4 results against the reference single-row dot, bit for bit.
 *  (a'') the several-weight-row kernels (vec_dot_r4, vec_dot_rows8_r8) and
 *      the many-row x 4-activation-row kernels (vec_dot_gemm4,
 *      vec_dot_rows8_gemm4, including rows longer than their scale buffer):
 *      every result against the reference single-row dot, bit for bit, and
 *      nothing written outside the outputs.
 *  (d) the F32 attention / FFN kernels (dot_f32_steps64, dot_f32_lanes16,
 *      exp_sum16, swiglu, dot_f32_steps64_keys) against accum.h / vexp.h, bit for bit: lengths
 *      1..200 and longer, the float modes above, exp inputs over the whole
 *      range of exp's scale 2^n (subnormal results, overflow, |n| > 192),
 *      -inf as the softmax mask writes it, +inf, NaN and random bit patterns.
 *  (c) qw_matmul on hand-built weights with 1, 3, 7, 8, 16 and 37 rows,
 *      batches of 1..9 (4-row groups plus remainders) and pools of 1..4
 *      threads under every path (scalar included): outputs identical to
 *      scalar with one thread; qw_matmul_n (several matrices, one input)
 *      against one qw_matmul per matrix.
 *  (e) qw_fmaf, which every reference above is built on, against
 *      qw_fmaf_soft (random, subnormal and double-rounding cases), and
 *      qw_wasm_fma_fused() (1 exactly in a relaxed-SIMD wasm build, else 0).
 *
 * Contract the kernels may rely on (and the data here respects): quantized
 * activation bytes are in -127..127, as every activation quantizer writes.
 *
 * Prints, per path and type, whether the set has its own kernel and how many
 * checks ran. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qw_test.h"
#include "core/pool.h"
#include "core/vexp.h"
#include "model/matmul.h"
#include "model/model.h"
#include "quant/blocks.h"
#include "quant/accum.h"
#include "quant/fp16.h"
#include "quant/kernels.h"
#include "quant/types.h"

/* ======================================================================== */
/* random numbers (splitmix64; Box-Muller)                                  */
/* ======================================================================== */

static uint64_t g_rng;

static void rng_seed(uint64_t s) { g_rng = s * 0x9e3779b97f4a7c15ULL + 0x1234567ULL; }

static uint64_t rng_u64(void) {
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unif(void) { return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0); }

/* uniform integer in lo..hi */
static int rng_int(int lo, int hi) { return lo + (int)(rng_u64() % (uint64_t)(hi - lo + 1)); }

static float rng_gauss(void) {
    double u = rng_unif(), v = rng_unif();
    if (u < 1e-300) u = 1e-300;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* ======================================================================== */
/* comparison                                                               */
/* ======================================================================== */

static bool same_float(float a, float b) {
    if (a != a && b != b) return true;
    return memcmp(&a, &b, sizeof a) == 0;
}

static bool same_floats(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!same_float(a[i], b[i])) return false;
    return true;
}

/* ======================================================================== */
/* float inputs                                                             */
/* ======================================================================== */

enum {
    F_GAUSS,    /* N(0,1) */
    F_OUTLIER,  /* N(0,1) with 2% of values x1000 */
    F_SPARSE,   /* mostly exact zeros, some all-zero 32-blocks */
    F_WIDE,     /* N(0,1) * 2^U(-40,40): wide dynamic range */
    F_TINY,     /* subnormal and near-FLT_MIN magnitudes */
    F_HUGE,     /* ~1e30: products overflow */
    F_TIES,     /* halves of integers, |x| <= 127, first of every 32 = +-127 */
    F_SPECIAL,  /* Gaussian with Inf, -Inf, NaNs (several payloads), -0 */
    F_SMALLAMAX,/* |x| ~ 1e-37: 127/amax overflows to Inf */
    F_MODES
};

static const char *const F_NAMES[F_MODES] = {"gauss", "outlier", "sparse", "wide", "tiny",
                                             "huge",  "ties",    "special", "smallamax"};

static float special_value(void) {
    static const uint32_t bits[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u,
                                    0x7f800001u, 0x7fa5a5a5u, 0x80000000u, 0x00000001u};
    return qw_bits_f32(bits[rng_u64() % (sizeof bits / sizeof bits[0])]);
}

static void fill_floats(float *x, int64_t n, int mode) {
    for (int64_t i = 0; i < n; i++) {
        float g = rng_gauss();
        switch (mode) {
        case F_GAUSS: x[i] = g; break;
        case F_OUTLIER: x[i] = rng_unif() < 0.02 ? g * 1000.0f : g; break;
        case F_SPARSE: x[i] = ((i / 32) % 3 == 1 || rng_unif() < 0.8) ? 0.0f : g; break;
        case F_WIDE: x[i] = ldexpf(g, rng_int(-40, 40)); break;
        case F_TINY: x[i] = rng_unif() < 0.5 ? g * 1e-39f : g * 2e-38f; break;
        case F_HUGE: x[i] = g * 1e30f; break;
        case F_TIES:
            if (i % 32 == 0) x[i] = rng_unif() < 0.5 ? 127.0f : -127.0f;
            else if (rng_unif() < 0.05) x[i] = -x[i - i % 32]; /* same magnitude, other sign */
            else x[i] = (float)rng_int(-254, 254) * 0.5f;
            break;
        case F_SPECIAL: x[i] = rng_unif() < 0.03 ? special_value() : g; break;
        case F_SMALLAMAX: x[i] = rng_unif() < 0.3 ? 0.0f : g * 1e-37f; break;
        default: x[i] = g; break;
        }
    }
}

/* ======================================================================== */
/* weight rows                                                              */
/* ======================================================================== */

/* where the fp16 scales of each block type live (all other bytes are free) */
typedef struct {
    uint32_t type;
    int n_half;
    size_t half_off[2];
} block_layout;

static const block_layout LAYOUTS[] = {
    {QW_TYPE_Q4_0, 1, {offsetof(block_q4_0, d)}},
    {QW_TYPE_Q4_1, 2, {offsetof(block_q4_1, d), offsetof(block_q4_1, m)}},
    {QW_TYPE_Q5_0, 1, {offsetof(block_q5_0, d)}},
    {QW_TYPE_Q5_1, 2, {offsetof(block_q5_1, d), offsetof(block_q5_1, m)}},
    {QW_TYPE_Q8_0, 1, {offsetof(block_q8_0, d)}},
    {QW_TYPE_IQ4_NL, 1, {offsetof(block_iq4_nl, d)}},
    {QW_TYPE_Q2_K, 2, {offsetof(block_q2_K, d), offsetof(block_q2_K, dmin)}},
    {QW_TYPE_Q3_K, 1, {offsetof(block_q3_K, d)}},
    {QW_TYPE_Q4_K, 2, {offsetof(block_q4_K, d), offsetof(block_q4_K, dmin)}},
    {QW_TYPE_Q5_K, 2, {offsetof(block_q5_K, d), offsetof(block_q5_K, dmin)}},
    {QW_TYPE_Q6_K, 1, {offsetof(block_q6_K, d)}},
    {QW_TYPE_IQ4_XS, 1, {offsetof(block_iq4_xs, d)}},
};

static const block_layout *find_layout(uint32_t type) {
    for (size_t i = 0; i < sizeof LAYOUTS / sizeof LAYOUTS[0]; i++)
        if (LAYOUTS[i].type == type) return &LAYOUTS[i];
    return NULL;
}

static void put_half(uint8_t *p, uint16_t h) { memcpy(p, &h, sizeof h); }

/* a finite fp16 scale: mostly moderate, either sign */
static uint16_t normal_half(void) {
    float v = ldexpf((float)(0.5 + rng_unif()), rng_int(-12, 0));
    return qw_fp32_to_fp16(rng_unif() < 0.2 ? -v : v);
}

static uint16_t extreme_half(void) {
    /* inf and NaN too: no loader lets them reach a kernel, but a kernel
     * that converts several scales at once must still match lane by lane */
    static const uint16_t h[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x7bff,
                                 0xfbff, 0x3c00, 0x1000, 0x7c00, 0xfc00, 0x7e01};
    return h[rng_u64() % (sizeof h / sizeof h[0])];
}

enum {
    W_QUANT_GAUSS,   /* reference quantizer on N(0,1) */
    W_QUANT_OUTLIER, /* reference quantizer on outliers / sparse data */
    W_RAW,           /* random bytes, moderate scales */
    W_RAW_EXTREME,   /* random bytes, extreme scales */
    W_RAW_ZEROS,     /* random bytes with all-zero blocks */
    W_MODES
};

/* One row of n elements of `type`. Float types take float data by mode. */
static void make_weight_row(uint32_t type, void *row, int64_t n, int mode, float *tmp) {
    const qw_type_traits *t = qw_type_get(type);
    const size_t bytes = qw_row_size(type, n);
    uint8_t *r = row;
    if (t->blck_size == 1) {
        static const int fmode[W_MODES] = {F_GAUSS, F_OUTLIER, F_WIDE, F_TINY, F_SPARSE};
        fill_floats(tmp, n, fmode[mode]);
        t->from_float(tmp, row, n);
        return;
    }
    if (mode == W_QUANT_GAUSS || mode == W_QUANT_OUTLIER) {
        fill_floats(tmp, n, mode == W_QUANT_GAUSS ? F_GAUSS : (rng_unif() < 0.5 ? F_OUTLIER : F_SPARSE));
        t->from_float(tmp, row, n);
        return;
    }
    for (size_t i = 0; i < bytes; i++) r[i] = (uint8_t)rng_u64();
    const block_layout *L = find_layout(type);
    const int64_t nb = n / t->blck_size;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = r + (size_t)b * t->type_size;
        if (mode == W_RAW_ZEROS && rng_unif() < 0.4) {
            memset(blk, 0, t->type_size);
            continue;
        }
        for (int k = 0; L && k < L->n_half; k++)
            put_half(blk + L->half_off[k], mode == W_RAW_EXTREME ? extreme_half() : normal_half());
    }
}

/* ======================================================================== */
/* activation rows                                                          */
/* ======================================================================== */

enum { A_QUANT_GAUSS, A_QUANT_OUTLIER, A_RAW, A_MODES };

static void fill_raw_q8(int8_t *qs, int n) {
    for (int j = 0; j < n; j++) qs[j] = (int8_t)rng_int(-127, 127);
}

/* One activation row of n elements of `type` (a vec_dot_type). */
static void make_act_row(uint32_t type, void *row, int64_t n, int mode, float *tmp) {
    const qw_type_traits *t = qw_type_get(type);
    if (mode != A_RAW || t->blck_size == 1) {
        static const int fmode[A_MODES] = {F_GAUSS, F_OUTLIER, F_WIDE};
        fill_floats(tmp, n, fmode[mode]);
        if (type == QW_TYPE_F32) memcpy(row, tmp, (size_t)n * sizeof(float));
        else t->from_float_act(tmp, row, n);
        return;
    }
    const int64_t nb = n / t->blck_size;
    if (type == QW_TYPE_Q8_0) {
        block_q8_0 *y = row;
        for (int64_t b = 0; b < nb; b++) {
            y[b].d = rng_unif() < 0.2 ? extreme_half() : normal_half();
            fill_raw_q8(y[b].qs, QK8_0);
        }
    } else if (type == QW_TYPE_Q8_1) {
        block_q8_1 *y = row;
        for (int64_t b = 0; b < nb; b++) {
            y[b].d = rng_unif() < 0.2 ? extreme_half() : normal_half();
            y[b].s = rng_unif() < 0.2 ? extreme_half() : normal_half();
            fill_raw_q8(y[b].qs, QK8_1);
        }
    } else if (type == QW_TYPE_Q8_K) {
        block_q8_K *y = row;
        for (int64_t b = 0; b < nb; b++) {
            y[b].d = ldexpf(rng_gauss(), rng_int(-30, 30));
            fill_raw_q8(y[b].qs, QK_K);
            for (int g = 0; g < QK_K / 16; g++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += y[b].qs[16 * g + l];
                y[b].bsums[g] = (int16_t)s;
            }
        }
    } else {
        fill_floats(tmp, n, F_GAUSS);
        t->from_float_act(tmp, row, n);
    }
}

/* Float types: weights +-2^60 in pairs that cancel exactly, small values in
 * between, activations 1. A sum in double then depends on which small values
 * were absorbed by a huge partial sum, i.e. on the order of the additions,
 * and the difference survives the final rounding to float. */
static void make_cancel_rows(uint32_t type, void *w, void *a, int64_t n, float *tmp, int variant) {
    const qw_type_traits *t = qw_type_get(type);
    const qw_type_traits *ta = qw_type_get(t->vec_dot_type);
    const float H = 1152921504606846976.0f; /* 2^60 */
    for (int64_t i = 0; i < n; i++) {
        if (variant % 2 == 0) { /* pairs 5 apart, small values between */
            if (i % 10 == 0 && i + 5 < n) tmp[i] = rng_unif() < 0.5 ? H : -H;
            else if (i % 10 == 5) tmp[i] = -tmp[i - 5];
            else tmp[i] = rng_gauss();
        } else { /* runs of 32 small values, then 32 huge ones cancelling in pairs */
            if ((i / 32) % 2 == 0 || (i % 2 == 0 && i + 1 >= n)) tmp[i] = rng_gauss();
            else if (i % 2 == 0) tmp[i] = rng_unif() < 0.5 ? H : -H;
            else tmp[i] = -tmp[i - 1];
        }
    }
    t->from_float(tmp, w, n);
    for (int64_t i = 0; i < n; i++) tmp[i] = 1.0f;
    if (t->vec_dot_type == QW_TYPE_F32) memcpy(a, tmp, (size_t)n * sizeof(float));
    else ta->from_float_act(tmp, a, n);
}

/* ======================================================================== */
/* per path / type bookkeeping                                              */
/* ======================================================================== */

#define MAX_PATHS 8

typedef struct {
    int own_dot;  /* the set has its own vec_dot for this type */
    int own_act;  /* ... its own quantize_act */
    long dots;    /* vec_dot checks */
    long acts;    /* quantize_act checks (activation types) */
    long matmuls; /* matmul output comparisons */
    long x4s;     /* vec_dot_x4 checks (4 results each) */
    long mrs;     /* vec_dot_r4 / _rows8_r8 checks (4 or 8 results each) */
    long gemms;   /* vec_dot_gemm4 checks (nr x 4 results each) */
} counts;

static counts g_counts[MAX_PATHS][QW_TYPE_COUNT];

/* ======================================================================== */
/* (a) vec_dot                                                              */
/* ======================================================================== */

/* rows8: the variant for matrices with a multiple of 8 rows (types.h) */
static void test_vec_dot(int pi, const char *path, uint32_t type, bool rows8) {
    const qw_type_traits *t = qw_type_get(type);
    const qw_type_traits *ta = qw_type_get(t->vec_dot_type);
    if (!qw_kernels_force(path)) {
        CHECKF(0, "path %s listed but cannot be forced", path);
        return;
    }
    const qw_vec_dot_fn ref = rows8 ? t->vec_dot_rows8 : t->vec_dot;
    const qw_vec_dot_fn fn = rows8 ? qw_get_vec_dot_rows(type, 8) : qw_get_vec_dot(type);
    if (!rows8) g_counts[pi][type].own_dot = fn != t->vec_dot;
    if (fn == ref) return; /* falls back to the reference itself */

    static const int64_t block_lens[] = {1, 2, 3, 7, 8, 17, 33};
    static const int64_t float_lens[] = {1, 2, 3, 7, 8, 15, 31, 32, 33, 63, 64, 65,
                                         127, 128, 129, 255, 300, 1000, 4113};
    const bool is_float = t->blck_size == 1;
    const size_t nlen = is_float ? sizeof float_lens / sizeof float_lens[0]
                                 : sizeof block_lens / sizeof block_lens[0];
    for (size_t li = 0; li < nlen; li++) {
        const int64_t n = is_float ? float_lens[li] : block_lens[li] * t->blck_size;
        float *tmp = malloc((size_t)n * sizeof(float));
        void *w = malloc(qw_row_size(type, n));
        void *a = malloc(qw_row_size(t->vec_dot_type, n));
        const int reps = is_float ? 3 : (t->blck_size == QK_K ? 2 : 4);
        for (int wm = 0; wm < W_MODES; wm++)
            for (int am = 0; am < A_MODES; am++)
                for (int rep = 0; rep < reps; rep++) {
                    rng_seed(((uint64_t)type << 40) ^ ((uint64_t)n << 16) ^ (uint64_t)(wm * 64 + am * 8 + rep));
                    make_weight_row(type, w, n, wm, tmp);
                    make_act_row(t->vec_dot_type, a, n, am, tmp);
                    if (is_float && wm == W_RAW_ZEROS && am == A_RAW) make_cancel_rows(type, w, a, n, tmp, rep);
                    float s_ref, s_simd;
                    memset(&s_ref, 0xa5, sizeof s_ref);
                    memset(&s_simd, 0x5a, sizeof s_simd);
                    ref(n, &s_ref, w, a);
                    fn(n, &s_simd, w, a);
                    CHECKF(same_float(s_ref, s_simd),
                           "%s %s n=%lld wmode=%d amode=%d rep=%d: ref %.9g (0x%08x) %s %.9g (0x%08x) [act %s]",
                           path, t->name, (long long)n, wm, am, rep, (double)s_ref,
                           (unsigned)qw_f32_bits(s_ref), path, (double)s_simd,
                           (unsigned)qw_f32_bits(s_simd), ta->name);
                    g_counts[pi][type].dots++;
                }
        free(tmp);
        free(w);
        free(a);
    }
}

/* (a') the 4-activation-row forms: each of the 4 results against the
 * reference single-row dot of the same order, bit for bit */
static void test_vec_dot_x4(int pi, const char *path, uint32_t type, bool rows8) {
    const qw_type_traits *t = qw_type_get(type);
    if (!qw_kernels_force(path)) return;
    const qw_vec_dot_x4_fn fn4 = qw_get_vec_dot_x4_rows(type, rows8 ? 8 : 7);
    if (!fn4) return;
    const qw_vec_dot_fn ref = rows8 ? t->vec_dot_rows8 : t->vec_dot;
    static const int64_t block_lens[] = {1, 2, 3, 7, 8, 9, 17, 33};
    const size_t nlen = sizeof block_lens / sizeof block_lens[0];
    for (size_t li = 0; li < nlen; li++) {
        const int64_t n = block_lens[li] * t->blck_size;
        const size_t arow = qw_row_size(t->vec_dot_type, n);
        const size_t astride = arow + 8 * (li & 1); /* strides other than the row size too */
        float *tmp = malloc((size_t)n * sizeof(float));
        void *w = malloc(qw_row_size(type, n));
        uint8_t *a = malloc(astride * 4);
        const int reps = t->blck_size == QK_K ? 2 : 3;
        for (int wm = 0; wm < W_MODES; wm++)
            for (int am = 0; am < A_MODES; am++)
                for (int rep = 0; rep < reps; rep++) {
                    rng_seed(((uint64_t)type << 40) ^ ((uint64_t)n << 16) ^ (uint64_t)(wm * 64 + am * 8 + rep) ^ 0x4444ULL);
                    make_weight_row(type, w, n, wm, tmp);
                    /* the 4 rows: this mode and (mixed) the next ones */
                    for (int k = 0; k < 4; k++) make_act_row(t->vec_dot_type, a + astride * (size_t)k, n, (am + k) % A_MODES, tmp);
                    float s_ref[4], s4[4 * 3];
                    memset(s4, 0x5a, sizeof s4);
                    for (int k = 0; k < 4; k++) ref(n, &s_ref[k], w, a + astride * (size_t)k);
                    fn4(n, s4, 3, w, a, astride);
                    for (int k = 0; k < 4; k++)
                        CHECKF(same_float(s_ref[k], s4[3 * k]),
                               "%s %s%s x4 n=%lld wmode=%d amode=%d rep=%d row %d: ref %.9g (0x%08x) x4 %.9g (0x%08x)",
                               path, t->name, rows8 ? " rows8" : "", (long long)n, wm, am, rep, k, (double)s_ref[k],
                               (unsigned)qw_f32_bits(s_ref[k]), (double)s4[3 * k], (unsigned)qw_f32_bits(s4[3 * k]));
                    /* the gaps between outputs are left alone */
                    uint32_t gap;
                    memcpy(&gap, &s4[1], sizeof gap);
                    CHECKF(gap == 0x5a5a5a5au, "%s %s x4 wrote outside its outputs", path, t->name);
                    g_counts[pi][type].x4s++;
                }
        free(tmp);
        free(w);
        free(a);
    }
}

/* (a'') several weight rows against one activation row */
/* path's several-row kernel for type (NULL: none), its rows in *R */
static qw_vec_dot_mr_fn mr_kernel(const char *path, uint32_t type, bool rows8, int *R) {
    *R = 0;
    if (!qw_kernels_force(path)) return NULL;
    return qw_get_vec_dot_mr_rows(type, rows8 ? 8 : 7, R);
}

static void test_vec_dot_mr(int pi, const char *path, uint32_t type, bool rows8) {
    const qw_type_traits *t = qw_type_get(type);
    int R;
    const qw_vec_dot_mr_fn fnm = mr_kernel(path, type, rows8, &R);
    if (!fnm) return;
    CHECKF(R == (rows8 ? QW_MR_ROWS8 : QW_MR_LANES8), "%s %s mr rows %d", path, t->name, R);
    const qw_vec_dot_fn ref = rows8 ? t->vec_dot_rows8 : t->vec_dot;
    static const int64_t block_lens[] = {1, 2, 3, 7, 8, 9, 17, 33};
    for (size_t li = 0; li < sizeof block_lens / sizeof block_lens[0]; li++) {
        const int64_t n = block_lens[li] * t->blck_size;
        const size_t wrow = qw_row_size(type, n);
        const size_t wstride = wrow + 8 * (li & 1); /* strides other than the row size too */
        float *tmp = malloc((size_t)n * sizeof(float));
        uint8_t *w = malloc(wstride * (size_t)R);
        void *a = malloc(qw_row_size(t->vec_dot_type, n));
        for (int wm = 0; wm < W_MODES; wm++)
            for (int am = 0; am < A_MODES; am++)
                for (int rep = 0; rep < 2; rep++) {
                    rng_seed(((uint64_t)type << 40) ^ ((uint64_t)n << 16) ^ (uint64_t)(wm * 64 + am * 8 + rep) ^ 0x3131ULL);
                    for (int r = 0; r < R; r++) make_weight_row(type, w + wstride * (size_t)r, n, (wm + r) % W_MODES, tmp);
                    make_act_row(t->vec_dot_type, a, n, am, tmp);
                    float s_ref[QW_MR_ROWS8], sm[QW_MR_ROWS8 + 1];
                    memset(sm, 0x5a, sizeof sm);
                    for (int r = 0; r < R; r++) ref(n, &s_ref[r], w + wstride * (size_t)r, a);
                    fnm(n, sm, w, wstride, a);
                    for (int r = 0; r < R; r++)
                        CHECKF(same_float(s_ref[r], sm[r]),
                               "%s %s%s mr n=%lld wmode=%d amode=%d rep=%d row %d: ref %.9g (0x%08x) mr %.9g (0x%08x)",
                               path, t->name, rows8 ? " rows8" : "", (long long)n, wm, am, rep, r, (double)s_ref[r],
                               (unsigned)qw_f32_bits(s_ref[r]), (double)sm[r], (unsigned)qw_f32_bits(sm[r]));
                    uint32_t gap;
                    memcpy(&gap, &sm[R], sizeof gap);
                    CHECKF(gap == 0x5a5a5a5au, "%s %s mr wrote outside its outputs", path, t->name);
                    g_counts[pi][type].mrs++;
                }
        free(tmp);
        free(w);
        free(a);
    }
}

#if defined(__EMSCRIPTEN__)
void emscripten_notify_memory_growth(size_t memory_index); /* Emscripten's JS library */

/* The wasm kernels also read ("touch", simd_wasm.c) the rows after theirs
 * (the several-row kernels the next group, the single-row K-quant kernels
 * the next row), clamped below the end of linear memory. Rows that end
 * exactly at the end of memory: no trap, the same sums as the reference.
 * They go into a page grown for them, which nothing else uses yet. */
static void test_vec_dot_at_memory_end(int pi, const char *path, uint32_t type, bool rows8) {
    const qw_type_traits *t = qw_type_get(type);
    int R;
    const qw_vec_dot_mr_fn fnm = mr_kernel(path, type, rows8, &R); /* forces path */
    const qw_vec_dot_fn ref = rows8 ? t->vec_dot_rows8 : t->vec_dot;
    const qw_vec_dot_fn fn = rows8 ? qw_get_vec_dot_rows(type, 8) : qw_get_vec_dot(type);
    if (!fnm && fn == ref) return;
    if (!fnm) R = 1;
    const int64_t n = 9 * t->blck_size;
    const size_t wrow = qw_row_size(type, n);
    const size_t old_pages = __builtin_wasm_memory_grow(0, 1);
    CHECKF(old_pages != (size_t)-1, "%s %s: could not grow memory", path, t->name);
    if (old_pages == (size_t)-1) return;
    emscripten_notify_memory_growth(0); /* the runtime's views of memory follow */
    uint8_t *w = (uint8_t *)(uintptr_t)((old_pages + 1) * 65536u - wrow * (size_t)R); /* ends at the end */
    float *tmp = malloc((size_t)n * sizeof(float));
    void *a = malloc(qw_row_size(t->vec_dot_type, n));
    rng_seed(((uint64_t)type << 40) ^ 0x7e7eULL);
    for (int r = 0; r < R; r++) make_weight_row(type, w + wrow * (size_t)r, n, r % W_MODES, tmp);
    make_act_row(t->vec_dot_type, a, n, 0, tmp);
    float s_ref[QW_MR_ROWS8], sm[QW_MR_ROWS8], s1;
    for (int r = 0; r < R; r++) ref(n, &s_ref[r], w + wrow * (size_t)r, a);
    if (fnm) fnm(n, sm, w, wrow, a);
    for (int r = 0; fnm && r < R; r++)
        CHECKF(same_float(s_ref[r], sm[r]), "%s %s%s mr at the end of memory, row %d: ref %.9g mr %.9g", path,
               t->name, rows8 ? " rows8" : "", r, (double)s_ref[r], (double)sm[r]);
    fn(n, &s1, w + wrow * (size_t)(R - 1), a); /* the last row alone */
    CHECKF(same_float(s_ref[R - 1], s1), "%s %s%s dot at the end of memory: ref %.9g dot %.9g", path, t->name,
           rows8 ? " rows8" : "", (double)s_ref[R - 1], (double)s1);
    g_counts[pi][type].mrs++;
    free(tmp);
    free(a);
}
#endif

/* (a'') many weight rows against 4 activation rows */
static void test_vec_dot_gemm4(int pi, const char *path, uint32_t type, bool rows8) {
    const qw_type_traits *t = qw_type_get(type);
    if (!qw_kernels_force(path)) return;
    int mult = 0;
    const qw_vec_dot_gemm4_fn fng = qw_get_vec_dot_gemm4_rows(type, rows8 ? 8 : 7, &mult);
    if (!fng) return;
    CHECKF(mult == (rows8 ? QW_MR_ROWS8 : 1), "%s %s gemm4 row multiple %d", path, t->name, mult);
    const qw_vec_dot_fn ref = rows8 ? t->vec_dot_rows8 : t->vec_dot;
    /* 601 blocks: past the kernels' activation-scale buffer */
    static const int64_t block_lens[] = {1, 2, 3, 7, 8, 9, 17, 33, 601};
    static const int nr_lanes8[] = {1, 2, 3, 5, 8}, nr_rows8[] = {8, 16};
    const int *nrs = rows8 ? nr_rows8 : nr_lanes8;
    const int n_nrs = rows8 ? 2 : 5;
    for (size_t li = 0; li < sizeof block_lens / sizeof block_lens[0]; li++) {
        const int64_t n = block_lens[li] * t->blck_size;
        const bool longrow = block_lens[li] > 100;
        const size_t wrow = qw_row_size(type, n), arow = qw_row_size(t->vec_dot_type, n);
        const size_t wstride = wrow + 8 * (li & 1), astride = arow + 8 * ((li >> 1) & 1);
        const int max_nr = rows8 ? 16 : 8;
        float *tmp = malloc((size_t)n * sizeof(float));
        uint8_t *w = malloc(wstride * (size_t)max_nr);
        uint8_t *a = malloc(astride * 4);
        for (int ni = 0; ni < n_nrs; ni++) {
            const int nr = nrs[ni];
            const size_t ss = (size_t)nr + 3; /* output row stride, with a gap */
            float *sg = malloc(sizeof(float) * ss * 4), *s_ref = malloc(sizeof(float) * (size_t)nr * 4);
            for (int wm = 0; wm < W_MODES; wm++)
                for (int am = 0; am < A_MODES; am++) {
                    if (longrow && (wm + am) % 3) continue; /* a few modes for the long rows */
                    rng_seed(((uint64_t)type << 40) ^ ((uint64_t)n << 16) ^ (uint64_t)(wm * 64 + am * 8 + nr) ^ 0x6464ULL);
                    for (int r = 0; r < nr; r++) make_weight_row(type, w + wstride * (size_t)r, n, (wm + r) % W_MODES, tmp);
                    for (int k = 0; k < 4; k++) make_act_row(t->vec_dot_type, a + astride * (size_t)k, n, (am + k) % A_MODES, tmp);
                    memset(sg, 0x5a, sizeof(float) * ss * 4);
                    for (int k = 0; k < 4; k++)
                        for (int r = 0; r < nr; r++) ref(n, &s_ref[k * nr + r], w + wstride * (size_t)r, a + astride * (size_t)k);
                    fng(n, nr, sg, ss, w, wstride, a, astride);
                    for (int k = 0; k < 4; k++) {
                        for (int r = 0; r < nr; r++)
                            CHECKF(same_float(s_ref[k * nr + r], sg[(size_t)k * ss + (size_t)r]),
                                   "%s %s%s gemm4 n=%lld nr=%d wmode=%d amode=%d row %d act %d: ref %.9g (0x%08x) gemm4 %.9g (0x%08x)",
                                   path, t->name, rows8 ? " rows8" : "", (long long)n, nr, wm, am, r, k,
                                   (double)s_ref[k * nr + r], (unsigned)qw_f32_bits(s_ref[k * nr + r]),
                                   (double)sg[(size_t)k * ss + (size_t)r], (unsigned)qw_f32_bits(sg[(size_t)k * ss + (size_t)r]));
                        for (size_t g = (size_t)nr; g < ss; g++) {
                            uint32_t gap;
                            memcpy(&gap, &sg[(size_t)k * ss + g], sizeof gap);
                            CHECKF(gap == 0x5a5a5a5au, "%s %s gemm4 wrote outside its outputs", path, t->name);
                        }
                    }
                    g_counts[pi][type].gemms++;
                }
            free(sg);
            free(s_ref);
        }
        free(tmp);
        free(w);
        free(a);
    }
}

/* ======================================================================== */
/* (b) quantize_act                                                         */
/* ======================================================================== */

static void test_quantize_act(int pi, const char *path, uint32_t type) {
    const qw_type_traits *t = qw_type_get(type);
    if (!qw_kernels_force(path)) return;
    const qw_from_float_fn fn = qw_get_quantize_act(type);
    g_counts[pi][type].own_act = fn != t->from_float_act;
    if (fn == t->from_float_act) return;

    static const int64_t block_lens[] = {1, 2, 3, 7, 16};
    static const int64_t float_lens[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000};
    const bool is_float = t->blck_size == 1;
    const size_t nlen = is_float ? sizeof float_lens / sizeof float_lens[0]
                                 : sizeof block_lens / sizeof block_lens[0];
    for (size_t li = 0; li < nlen; li++) {
        const int64_t n = is_float ? float_lens[li] : block_lens[li] * t->blck_size;
        const size_t bytes = qw_row_size(type, n);
        float *x = malloc((size_t)n * sizeof(float));
        uint8_t *r0 = malloc(bytes), *r1 = malloc(bytes);
        for (int fm = 0; fm < F_MODES; fm++)
            for (int rep = 0; rep < 3; rep++) {
                rng_seed(((uint64_t)type << 40) ^ ((uint64_t)n << 16) ^ (uint64_t)(fm * 16 + rep) ^ 0xabcdefULL);
                fill_floats(x, n, fm);
                if (is_float && fm == F_TIES) {
                    /* rounding ties of the 16-bit formats: dropped bits exactly half */
                    for (int64_t i = 0; i < n; i++) {
                        uint32_t b = qw_f32_bits(x[i]);
                        if (type == QW_TYPE_BF16) b = (b & 0xffff0000u) | 0x8000u;
                        else b = (b & 0xffffe000u) | 0x1000u;
                        x[i] = qw_bits_f32(b);
                    }
                }
                memset(r0, 0xcc, bytes);
                memset(r1, 0xcc, bytes);
                t->from_float_act(x, r0, n);
                fn(x, r1, n);
                size_t at = 0;
                while (at < bytes && r0[at] == r1[at]) at++;
                CHECKF(at == bytes, "%s quantize_act %s n=%lld input %s rep %d: first difference at byte %zu (%02x vs %02x)",
                       path, t->name, (long long)n, F_NAMES[fm], rep, at, at < bytes ? r0[at] : 0,
                       at < bytes ? r1[at] : 0);
                g_counts[pi][type].acts++;
            }
        free(x);
        free(r0);
        free(r1);
    }
}

/* ======================================================================== */
/* (c) matmul under every path and thread count                             */
/* ======================================================================== */

static void *alloc64(size_t n) {
    const size_t sz = (n + 63) / 64 * 64;
    return aligned_alloc(64, sz ? sz : 64);
}

static void test_matmul(const char **paths, int n_paths, qw_pool **pools, uint32_t type) {
    const qw_type_traits *t = qw_type_get(type);
    enum { MAX_ROWS = 37, MAX_BATCH = 9 };
    static const int rows_list[] = {1, 3, 7, 8, 16, 37}; /* 8, 16: vec_dot_rows8 */
    const int64_t cols_list[2] = {t->blck_size == 1 ? 33 : t->blck_size,
                                  t->blck_size == 1 ? 200 : 5 * t->blck_size};
    for (int ci = 0; ci < 2; ci++) {
        const int64_t n_cols = cols_list[ci];
        const size_t row_bytes = qw_row_size(type, n_cols);
        uint8_t *data = malloc(row_bytes * MAX_ROWS);
        float *tmp = malloc((size_t)n_cols * sizeof(float));
        float *x = malloc((size_t)n_cols * MAX_BATCH * sizeof(float));
        float *y_ref = malloc(sizeof(float) * MAX_ROWS * MAX_BATCH);
        float *y = malloc(sizeof(float) * MAX_ROWS * MAX_BATCH);
        rng_seed(((uint64_t)type << 32) ^ (uint64_t)n_cols ^ 0x77ULL);
        for (int r = 0; r < MAX_ROWS; r++)
            make_weight_row(type, data + (size_t)r * row_bytes, n_cols, r % 3 == 0 ? W_QUANT_GAUSS : W_RAW, tmp);
        fill_floats(x, n_cols * MAX_BATCH, F_OUTLIER);
        for (int ri = 0; ri < (int)(sizeof rows_list / sizeof rows_list[0]); ri++)
            for (int nbat = 1; nbat <= MAX_BATCH; nbat++) {
                const qw_weight W = {data, type, n_cols, rows_list[ri], row_bytes};
                void *scratch = alloc64(qw_matmul_scratch(&W, nbat));
                const size_t ny = (size_t)rows_list[ri] * (size_t)nbat;
                qw_kernels_force("scalar");
                memset(y_ref, 0, sizeof(float) * ny);
                qw_matmul(&W, x, nbat, y_ref, scratch, pools[0]);
                for (int pi = 0; pi < n_paths; pi++) {
                    qw_kernels_force(paths[pi]);
                    for (int th = 0; th < 4; th++) {
                        memset(y, 0xee, sizeof(float) * ny);
                        qw_matmul(&W, x, nbat, y, scratch, pools[th]);
                        CHECKF(same_floats(y_ref, y, ny), "matmul %s %s rows=%d cols=%lld batch=%d threads=%d",
                               paths[pi], t->name, rows_list[ri], (long long)n_cols, nbat, th + 1);
                        g_counts[pi][type].matmuls++;
                    }
                }
                free(scratch);
            }
        free(data);
        free(tmp);
        free(x);
        free(y_ref);
        free(y);
    }
}

/* ======================================================================== */


/* (c') qw_matmul_n: several matrices of one input in one job, against one
 * qw_matmul each (scalar, one thread), on every path and 1..4 threads; one
 * set shares the activation type (Q8_0, Q4_0 with 16 rows = serial order,
 * IQ4_NL with 7 rows), the other does not (Q4_K, Q8_0: one call each) */
static void test_matmul_n(const char **paths, int n_paths, qw_pool **pools) {
    static const uint32_t sets[2][3] = {{QW_TYPE_Q8_0, QW_TYPE_Q4_0, QW_TYPE_IQ4_NL},
                                        {QW_TYPE_Q4_K, QW_TYPE_Q8_0, QW_TYPE_Q8_0}};
    static const int rows[3] = {37, 16, 7};
    enum { MAX_BATCH = 9 };
    const int64_t n_cols = 2 * QK_K;
    long checks = 0;
    for (int si = 0; si < 2; si++) {
        uint8_t *data[3];
        qw_weight W[3];
        const qw_weight *Wp[3];
        float *y_ref[3], *y[3];
        size_t need = 0;
        float *tmp = malloc((size_t)n_cols * sizeof(float));
        float *x = malloc((size_t)n_cols * MAX_BATCH * sizeof(float));
        rng_seed(0x3a7a0 + (uint64_t)si);
        for (int i = 0; i < 3; i++) {
            const size_t rb = qw_row_size(sets[si][i], n_cols);
            data[i] = malloc(rb * (size_t)rows[i]);
            for (int r = 0; r < rows[i]; r++) make_weight_row(sets[si][i], data[i] + rb * (size_t)r, n_cols, r % 2 ? W_RAW : W_QUANT_GAUSS, tmp);
            W[i] = (qw_weight){data[i], sets[si][i], n_cols, rows[i], rb};
            Wp[i] = &W[i];
            y_ref[i] = malloc(sizeof(float) * (size_t)rows[i] * MAX_BATCH);
            y[i] = malloc(sizeof(float) * (size_t)rows[i] * MAX_BATCH);
            if (qw_matmul_scratch(&W[i], MAX_BATCH) > need) need = qw_matmul_scratch(&W[i], MAX_BATCH);
        }
        void *scratch = alloc64(need);
        fill_floats(x, n_cols * MAX_BATCH, F_OUTLIER);
        for (int nbat = 1; nbat <= MAX_BATCH; nbat++) {
            qw_kernels_force("scalar");
            for (int i = 0; i < 3; i++) qw_matmul(&W[i], x, nbat, y_ref[i], scratch, pools[0]);
            for (int pi = 0; pi < n_paths; pi++) {
                qw_kernels_force(paths[pi]);
                for (int th = 0; th < 4; th++) {
                    for (int i = 0; i < 3; i++) memset(y[i], 0xee, sizeof(float) * (size_t)rows[i] * (size_t)nbat);
                    qw_matmul_n(Wp, y, 3, x, nbat, scratch, pools[th]);
                    for (int i = 0; i < 3; i++)
                        CHECKF(same_floats(y_ref[i], y[i], (size_t)rows[i] * (size_t)nbat),
                               "matmul_n %s set %d matrix %d (%s) batch=%d threads=%d", paths[pi], si, i,
                               qw_type_get(sets[si][i])->name, nbat, th + 1);
                    checks++;
                }
            }
        }
        for (int i = 0; i < 3; i++) free(data[i]), free(y_ref[i]), free(y[i]);
        free(scratch);
        free(tmp);
        free(x);
    }
    printf("  matmul_n: %ld checks (3 matrices each, shared and separate activations)\n", checks);
}

/* ======================================================================== */
/* (d) F32 attention / FFN kernels                                          */
/* ======================================================================== */

static bool same_double(double a, double b) {
    if (a != a && b != b) return true;
    return memcmp(&a, &b, sizeof a) == 0;
}

/* exp / SiLU inputs: mode 0 Gaussian scores, 1 uniform over exp's whole
 * scale range (-200..200), 2 near multiples of ln2 where n changes, 3 the
 * softmax after a causal mask (-inf tail), 4 specials (inf, NaN, huge,
 * subnormal), 5 random bit patterns */
enum { E_MODES = 6 };

static float exp_input(int mode, int i, int n) {
    switch (mode) {
    case 0: return rng_gauss() * 4.0f;
    case 1: return (float)(rng_unif() * 400.0 - 200.0);
    case 2: {
        const float k = (float)rng_int(-200, 200);
        return k * 0.6931472f + (float)(rng_unif() - 0.5) * 1e-5f * (rng_unif() < 0.5 ? 1.0f : 0.0f) +
               (rng_unif() < 0.5 ? 0.5f * 0.6931472f : 0.0f);
    }
    case 3: return i < n / 2 + 1 ? -(float)(rng_unif() * 120.0) : -INFINITY;
    case 4: {
        static const float v[] = {INFINITY, -INFINITY, NAN, -NAN, 1e30f, -1e30f, 1e-40f, -1e-40f, 0.0f, -0.0f,
                                  88.72f, 88.73f, -87.34f, -103.97f, -104.0f, 133.0f, -133.0f, -150.0f};
        return rng_unif() < 0.5 ? v[rng_u64() % (sizeof v / sizeof v[0])] : rng_gauss() * 50.0f;
    }
    default: {
        const uint32_t bits = (uint32_t)rng_u64();
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    }
}

static void test_f32_kernels(const char *path) {
    CHECK(qw_kernels_force("scalar"));
    /* the scalar references, to tell which kernels the path has */
    const qw_dot_f32_fn ref_steps64 = qw_get_dot_f32_steps64(), ref_lanes16 = qw_get_dot_f32_lanes16();
    const qw_exp_sum16_fn ref_exp_sum = qw_get_exp_sum16();
    const qw_swiglu_fn ref_swig = qw_get_swiglu();
    const qw_dot_f32_keys_fn ref_keys = qw_get_dot_f32_steps64_keys();
    const qw_rope_fn ref_rope = qw_get_rope();
    CHECK(qw_kernels_force(path));
    const qw_dot_f32_keys_fn keys = qw_get_dot_f32_steps64_keys();
    const qw_rope_fn rope = qw_get_rope();
    CHECK(keys != NULL && rope != NULL);
    const qw_dot_f32_fn steps64 = qw_get_dot_f32_steps64(), lanes16 = qw_get_dot_f32_lanes16();
    const qw_exp_sum16_fn exp_sum = qw_get_exp_sum16();
    const qw_swiglu_fn swig = qw_get_swiglu();
    CHECK(steps64 && lanes16 && exp_sum && swig);
    if (!steps64 || !lanes16 || !exp_sum || !swig) return;
    enum { NMAX = 4096 };
    float *a = malloc(NMAX * sizeof *a), *b = malloc(NMAX * sizeof *b);
    float *x = malloc(NMAX * sizeof *x), *y = malloc(NMAX * sizeof *y), *up = malloc(NMAX * sizeof *up);
    CHECK(a && b && x && y && up);
    if (!a || !b || !x || !y || !up) goto done;
    static const int LONG[] = {256, 320, 511, 512, 1000, 1024, 4096};
    const int n_long = (int)(sizeof LONG / sizeof LONG[0]);
    long dots = 0, exps = 0, swis = 0, fails = 0;

    /* dots: every float mode against every other, all lengths */
    rng_seed(0xd07f32);
    for (int li = 0; li < 200 + n_long; li++) {
        const int n = li < 200 ? li + 1 : LONG[li - 200];
        for (int ma = 0; ma < F_MODES; ma++) {
            const int mb = (ma * 3 + li) % F_MODES;
            fill_floats(a, n, ma);
            fill_floats(b, n, mb);
            const float r = qw_dot_f32_steps64(a, b, n), s = steps64(a, b, n);
            const bool ok = same_float(r, s);
            CHECKF(ok, "%s dot_f32_steps64 n=%d modes %s/%s: %a vs %a", path, n, F_NAMES[ma], F_NAMES[mb], r, s);
            fails += !ok;
            dots++;
            if (n % 16 == 0) {
                const float r16 = qw_dot_f32_lanes16(a, b, n), s16 = lanes16(a, b, n);
                const bool ok16 = same_float(r16, s16);
                CHECKF(ok16, "%s dot_f32_lanes16 n=%d modes %s/%s: %a vs %a", path, n, F_NAMES[ma], F_NAMES[mb],
                       r16, s16);
                fails += !ok16;
                dots++;
            }
        }
    }
    /* all-zero rows (signed zeros) */
    for (int n = 1; n <= 130; n++) {
        for (int i = 0; i < n; i++) {
            a[i] = (i & 1) ? -0.0f : 0.0f;
            b[i] = (i & 2) ? -1.0f : 1.0f;
        }
        CHECK(same_float(qw_dot_f32_steps64(a, b, n), steps64(a, b, n)));
        if (n % 16 == 0) CHECK(same_float(qw_dot_f32_lanes16(a, b, n), lanes16(a, b, n)));
        dots++;
    }

    /* dot_f32_steps64_keys: each key against qw_dot_f32_steps64, head sizes
     * below, at and above 64 and odd key counts / strides */
    {
        enum { KMAX = 40, NK = 330 };
        float *kv = malloc(sizeof(float) * KMAX * (NK + 3)), *out = malloc(sizeof(float) * (KMAX + 1));
        CHECK(kv && out);
        static const int key_counts[] = {1, 7, 8, 9, 16, 23, 33, 40};
        rng_seed(0x4b455953);
        for (int n = 1; kv && out && n <= NK; n += n < 72 ? 1 : 29) {
            for (size_t ki = 0; ki < sizeof key_counts / sizeof key_counts[0]; ki++) {
                const int nk = key_counts[ki];
                const size_t stride = (size_t)n + ki % 3;
                const int ma = (n + (int)ki) % F_MODES, mb = (n * 3 + (int)ki) % F_MODES;
                fill_floats(a, n, ma);
                fill_floats(kv, (int64_t)stride * nk, mb);
                memset(out, 0x5a, sizeof(float) * (KMAX + 1));
                keys(a, kv, stride, nk, n, out);
                bool ok = true;
                for (int t = 0; t < nk; t++) {
                    const float r = qw_dot_f32_steps64(a, kv + (size_t)t * stride, n);
                    const bool okt = same_float(r, out[t]);
                    CHECKF(okt, "%s dot_f32_steps64_keys n=%d keys=%d key %d modes %s/%s: %a vs %a", path, n, nk, t,
                           F_NAMES[ma], F_NAMES[mb], r, out[t]);
                    ok = ok && okt;
                }
                uint32_t gap;
                memcpy(&gap, &out[nk], sizeof gap);
                CHECKF(gap == 0x5a5a5a5au, "%s dot_f32_steps64_keys wrote past key %d", path, nk);
                fails += !ok;
                dots++;
            }
        }
        free(kv);
        free(out);
    }

    /* rope: against qw_rope_ref, both pairings, rotations from real angles
     * and arbitrary (specials included) cos/sin values, head strides past
     * rope_dim */
    {
        static const int dims[] = {2, 4, 6, 8, 10, 16, 48, 64, 128};
        long ropes = 0;
        rng_seed(0x40be);
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
            for (int neox = 0; neox < 2; neox++)
                for (int mode = 0; mode < 3; mode++) {
                    const int nd = dims[di], nh = 1 + (int)(di % 3), stride = nd + (mode == 2 ? 6 : 0);
                    float cs[128];
                    for (int i = 0; i < nd / 2; i++) {
                        if (mode == 1) {
                            cs[2 * i] = special_value();
                            cs[2 * i + 1] = rng_gauss();
                        } else {
                            const float t = (float)(rng_unif() * 2000.0);
                            cs[2 * i] = cosf(t);
                            cs[2 * i + 1] = sinf(t);
                        }
                    }
                    fill_floats(x, (int64_t)stride * nh, mode == 1 ? F_WIDE : F_OUTLIER);
                    memcpy(y, x, sizeof(float) * (size_t)stride * (size_t)nh);
                    qw_rope_ref(x, nh, stride, cs, nd, neox);
                    rope(y, nh, stride, cs, nd, neox);
                    const bool ok = same_floats(x, y, (size_t)stride * (size_t)nh);
                    CHECKF(ok, "%s rope dim=%d heads=%d neox=%d mode %d", path, nd, nh, neox, mode);
                    fails += !ok;
                    ropes++;
                }
        printf("  %-6s rope: own %d, %ld checks\n", path, rope != ref_rope, ropes);
    }

    /* exp_sum16: chunks rewritten, the tail left alone, the double sum */
    rng_seed(0xe4f32);
    for (int li = 0; li < 200 + n_long; li++) {
        const int n = li < 200 ? li + 1 : LONG[li - 200];
        for (int mode = 0; mode < E_MODES; mode++) {
            for (int i = 0; i < n; i++) x[i] = exp_input(mode, i, n);
            float sub = 0.0f;
            if (mode == 0 || mode == 3) { /* a softmax: subtract the max */
                sub = -INFINITY;
                for (int i = 0; i < n; i++)
                    if (x[i] > sub) sub = x[i];
            } else if (li % 3 == 1) {
                sub = rng_gauss() * 10.0f;
            }
            memcpy(y, x, (size_t)n * sizeof *x);
            double rs = 0.0;
            for (int t = 0; t + 15 < n; t += 16) { /* the reference, spelled out */
                for (int i = t; i < t + 16; i++) x[i] = qw_vexpf(x[i] - sub);
                rs += (double)qw_hsum16(x + t);
            }
            const double ss = exp_sum(y, n, sub);
            const bool ok = same_double(rs, ss) && same_floats(x, y, (size_t)n);
            CHECKF(ok, "%s exp_sum16 n=%d mode %d sub=%a: %a vs %a", path, n, mode, sub, rs, ss);
            if (!ok && fails < 5)
                for (int i = 0; i < n; i++)
                    if (!same_float(x[i], y[i])) {
                        fprintf(stderr, "  [%d] %a vs %a\n", i, x[i], y[i]);
                        break;
                    }
            fails += !ok;
            exps++;
        }
    }
    /* a sweep over exp's range in steps of 0.1 (every n from -289 to 289) */
    {
        int n = 0;
        for (float v = -200.0f; v <= 200.0f && n < NMAX; v += 0.1f) up[n++] = v;
        n &= ~15;
        memcpy(y, up, (size_t)n * sizeof *y);
        exp_sum(y, n, 0.0f);
        for (int i = 0; i < n; i++) CHECKF(same_float(y[i], qw_vexpf(up[i])), "%s exp sweep %a", path, up[i]);
        exps++;
    }

    /* whole chunks at the ends of the float range: n = 128 (e^x finite up to
     * x = 88.72, above FLT_MAX / 2), n = 127, and n = -126 / -127 (2^n normal
     * / subnormal), where a kernel that builds 2^n from exponent bits must
     * hand over to a slower path */
    {
        static const float lo_hi[][2] = {{88.40f, 88.70f}, {87.70f, 88.30f}, {-87.60f, -87.00f}, {-88.20f, -87.70f}};
        for (size_t c = 0; c < sizeof lo_hi / sizeof lo_hi[0]; c++) {
            for (int i = 0; i < 16; i++) up[i] = lo_hi[c][0] + (lo_hi[c][1] - lo_hi[c][0]) * (float)i / 15.0f;
            memcpy(y, up, 16 * sizeof *y);
            exp_sum(y, 16, 0.0f);
            for (int i = 0; i < 16; i++)
                CHECKF(same_float(y[i], qw_vexpf(up[i])), "%s exp range end %a: %a vs %a", path, up[i], y[i], qw_vexpf(up[i]));
            exps++;
        }
    }

    /* swiglu */
    rng_seed(0x5111f32);
    for (int li = 0; li < 200 + n_long; li++) {
        const int n = li < 200 ? li + 1 : LONG[li - 200];
        for (int mode = 0; mode < E_MODES + 2; mode++) {
            for (int i = 0; i < n; i++) {
                x[i] = mode < E_MODES ? exp_input(mode, i, n) : rng_gauss() * (mode == E_MODES ? 1.0f : 1e-20f);
                up[i] = mode == 4 && rng_unif() < 0.1 ? special_value() : rng_gauss();
            }
            memcpy(y, x, (size_t)n * sizeof *x);
            qw_swiglu_ref(x, up, n);
            swig(y, up, n);
            const bool ok = same_floats(x, y, (size_t)n);
            CHECKF(ok, "%s swiglu n=%d mode %d", path, n, mode);
            fails += !ok;
            swis++;
        }
    }
    /* the reference swiglu is forward.c's formula */
    for (int i = 0; i < 40; i++) {
        x[i] = y[i] = rng_gauss() * 3.0f;
        up[i] = rng_gauss();
    }
    qw_swiglu_ref(x, up, 40); /* two chunks and a tail of 8 */
    for (int i = 0; i < 40; i++) {
        const float e = i < 32 ? qw_vexpf(-y[i]) : expf(-y[i]);
        const float r = y[i] / (1.0f + e) * up[i];
        CHECKF(same_float(x[i], r), "swiglu reference [%d] %a: %a vs %a", i, y[i], x[i], r);
    }

    printf("  %-6s f32: own steps64 %d lanes16 %d exp_sum16 %d swiglu %d keys %d; %ld dot checks, %ld exp_sum16 "
           "checks, %ld swiglu checks, %ld failed\n",
           path, steps64 != ref_steps64, lanes16 != ref_lanes16, exp_sum != ref_exp_sum, swig != ref_swig,
           keys != ref_keys, dots, exps, swis, fails);
done:
    free(a), free(b), free(x), free(y), free(up);
}

/* ======================================================================== */
/* (e) qw_fmaf, the reference's fused multiply-add                          */
/* ======================================================================== */

/* Every kernel above is compared with a reference built on qw_fmaf, so that
 * one must itself be right: in a relaxed-SIMD wasm build it is the engine's
 * f32x4.relaxed_madd, which relaxed SIMD allows to round twice. Checked
 * against qw_fmaf_soft (itself checked against native fmaf by test_qfma) on
 * random operands, subnormal products and sums, and sums within a double ulp
 * of a float midpoint (where rounding twice differs). */
static float rand_scaled(int lo_exp, int hi_exp) {
    const float m = (float)(rng_u64() & 0xffffff) * 0x1p-24f + 0.5f;
    return ldexpf((rng_u64() & 1) ? -m : m, rng_int(lo_exp, hi_exp));
}

static void test_qw_fmaf(void) {
    const int fused = qw_wasm_fma_fused();
#if defined(__wasm_relaxed_simd__)
    CHECKF(fused == 1, "relaxed-SIMD build: qw_wasm_fma_fused() = %d, the engine's relaxed_madd is not fused", fused);
#else
    CHECKF(fused == 0, "not a relaxed-SIMD build: qw_wasm_fma_fused() = %d", fused);
#endif
    rng_seed(4242);
    long n = 0, bad = 0, midpoints = 0;
    for (int i = 0; i < 100000; i++, n += 2) {
        float a = rand_scaled(-40, 40), b = rand_scaled(-40, 40), c = rand_scaled(-80, 80);
        if (!same_float(qw_fmaf(a, b, c), qw_fmaf_soft(a, b, c))) bad++;
        a = rand_scaled(-80, -60), b = rand_scaled(-80, -60), c = rand_scaled(-150, -120); /* subnormal range */
        if (!same_float(qw_fmaf(a, b, c), qw_fmaf_soft(a, b, c))) bad++;
    }
    for (int i = 0; i < 100000; i++, n++) {
        /* m = a float midpoint; a*b + c = m plus or minus a residual below a
         * double ulp of m */
        const float f = rand_scaled(-20, 20);
        const double m = ((double)f + (double)nextafterf(f, INFINITY)) / 2;
        const float a = 1.0f + (float)(rng_u64() & 0xffff) * 0x1p-23f;
        const float b = (float)(m / a);
        float c = (float)(m - (double)a * (double)b);
        c = nextafterf(c, (rng_u64() & 1) ? INFINITY : -INFINITY);
        const double r = (double)a * (double)b + (double)c;
        uint64_t u;
        memcpy(&u, &r, sizeof u);
        midpoints += (u & 0x1fffffff) == 0x10000000;
        if (!same_float(qw_fmaf(a, b, c), qw_fmaf_soft(a, b, c))) bad++;
    }
    const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 3.4e38f, 1.0f, 0x1p-126f};
    const int ns = (int)(sizeof sp / sizeof sp[0]);
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < ns; j++)
            for (int k = 0; k < ns; k++, n++)
                if (!same_float(qw_fmaf(sp[i], sp[j], sp[k]), qw_fmaf_soft(sp[i], sp[j], sp[k]))) bad++;
    printf("qw_fmaf: %ld cases (%ld on a float midpoint after rounding to double), %ld differ from "
           "qw_fmaf_soft; qw_wasm_fma_fused() = %d\n", n, midpoints, bad, fused);
    CHECK(bad == 0);
    CHECK(midpoints > 1000); /* the double-rounding case was really exercised */
}

int main(void) {
    test_qw_fmaf();

    const char *paths[MAX_PATHS];
    const int n_paths = qw_kernel_paths(paths, MAX_PATHS);
    CHECK(n_paths >= 1 && strcmp(paths[0], "scalar") == 0);
    printf("kernel paths on this machine:");
    for (int i = 0; i < n_paths; i++) printf(" %s", paths[i]);
    printf(" (default: %s)\n", qw_kernel_path());
    CHECK(!qw_kernels_force("no-such-path"));

    /* every block type in the table must have a layout here, so new types
     * get raw-byte coverage */
    bool is_act[QW_TYPE_COUNT] = {false};
    for (uint32_t ty = 0; ty < QW_TYPE_COUNT; ty++) {
        const qw_type_traits *t = qw_type_get(ty);
        if (!t || !t->vec_dot) continue;
        if (t->blck_size > 1) CHECKF(find_layout(ty) != NULL, "no block layout for %s in test_kernels.c", t->name);
        if (t->vec_dot_type != QW_TYPE_F32) is_act[t->vec_dot_type] = true;
    }

    for (int pi = 1; pi < n_paths; pi++) {
        for (uint32_t ty = 0; ty < QW_TYPE_COUNT; ty++) {
            const qw_type_traits *t = qw_type_get(ty);
            if (t && t->vec_dot) test_vec_dot(pi, paths[pi], ty, false);
            if (t && t->vec_dot_rows8) test_vec_dot(pi, paths[pi], ty, true);
            if (t && t->vec_dot) test_vec_dot_x4(pi, paths[pi], ty, false);
            if (t && t->vec_dot_rows8) test_vec_dot_x4(pi, paths[pi], ty, true);
            if (t && t->vec_dot) test_vec_dot_mr(pi, paths[pi], ty, false);
            if (t && t->vec_dot_rows8) test_vec_dot_mr(pi, paths[pi], ty, true);
#if defined(__EMSCRIPTEN__)
            if (t && t->vec_dot) test_vec_dot_at_memory_end(pi, paths[pi], ty, false);
            if (t && t->vec_dot_rows8) test_vec_dot_at_memory_end(pi, paths[pi], ty, true);
#endif
            if (t && t->vec_dot) test_vec_dot_gemm4(pi, paths[pi], ty, false);
            if (t && t->vec_dot_rows8) test_vec_dot_gemm4(pi, paths[pi], ty, true);
        }
        for (uint32_t ty = 0; ty < QW_TYPE_COUNT; ty++)
            if (is_act[ty]) test_quantize_act(pi, paths[pi], ty);
    }

    for (int pi = 0; pi < n_paths; pi++) test_f32_kernels(paths[pi]);

    qw_pool *pools[4] = {NULL};
    for (int th = 0; th < 4; th++) CHECK(qw_pool_create(th + 1, &pools[th]) == QW_OK);
    if (pools[0] && pools[1] && pools[2] && pools[3]) {
        for (uint32_t ty = 0; ty < QW_TYPE_COUNT; ty++) {
            const qw_type_traits *t = qw_type_get(ty);
            if (t && t->vec_dot) test_matmul(paths, n_paths, pools, ty);
        }
        test_matmul_n(paths, n_paths, pools);
    }
    for (int th = 0; th < 4; th++) qw_pool_free(pools[th]);

    for (int pi = 0; pi < n_paths; pi++) {
        for (uint32_t ty = 0; ty < QW_TYPE_COUNT; ty++) {
            const qw_type_traits *t = qw_type_get(ty);
            const counts *c = &g_counts[pi][ty];
            if (!t || (!t->vec_dot && !is_act[ty])) continue;
            if (pi == 0) {
                if (t->vec_dot) printf("  %-6s %-7s %5ld matmul checks (1-4 threads vs 1)\n", paths[pi], t->name, c->matmuls);
                continue;
            }
            if (t->vec_dot)
                printf("  %-6s %-7s %-9s %5ld dot checks, %5ld x4, %4ld mr, %4ld gemm4, %5ld matmul checks\n",
                       paths[pi], t->name, c->own_dot ? "own dot" : "scalar", c->dots, c->x4s, c->mrs, c->gemms,
                       c->matmuls);
            if (is_act[ty])
                printf("  %-6s %-7s %-9s %5ld quantize_act checks\n", paths[pi], t->name,
                       c->own_act ? "own quant" : "scalar", c->acts);
        }
    }
    if (n_paths == 1) printf("only the scalar path here: nothing to compare\n");
    return qw_test_end();
}

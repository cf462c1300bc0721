/* K-quants, IQ4_NL/IQ4_XS and Q8_K: layout, exactness and quantizer quality.
 *
 * The layout tests build blocks byte by byte from the format description
 * (written out again here, element by element, independently of the library's
 * loops), with power-of-two super-scales so every expected value is exact,
 * and compare the library's dequantization with values computed here. A few
 * single elements are also checked against literal numbers worked out by hand.
 *
 * Q8_K is checked on hand-computed inputs (rounding ties, the sign trick of
 * the max-magnitude element, all-zero blocks, bsums).
 *
 * vec_dot is checked against a double-precision dot of dequantized rows,
 * and the min term is checked to come from Q8_K's bsums.
 *
 * Quantizers: relative RMS error on Gaussian rows and awkward rows
 * (constant, all-positive, outliers, tiny, huge, NaN/Inf), printed per type.
 *
 * Real file: the Q4_K / Q6_K ffn_down tensors of synth15M-q4_k_m.gguf
 * (weights drawn from N(0, 0.05)) must dequantize to mean ~0, std ~0.05. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "qw_test.h"
#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/types.h"

/* ---- small utilities ------------------------------------------------------ */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd_u32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

static double rnd_unif(void) { return (rnd_u32() + 0.5) / 4294967296.0; }

static float rnd_gauss(void) {
    double u1 = rnd_unif(), u2 = rnd_unif();
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* the 16 IQ4 levels, as the format defines them */
static const int kIQ4[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* Counts elements where got != want exactly; reports the first. */
static int count_mismatch(const char *what, const float *got, const double *want, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if ((double)got[i] != want[i]) {
            if (!bad) fprintf(stderr, "%s: element %d: got %.9g want %.9g\n", what, i, got[i], want[i]);
            bad++;
        }
    }
    return bad;
}

/* ======================================================================== */
/* hand-built layout tests                                                  */
/* ======================================================================== */

/* Q2_K: element e: h = e/128, r = e%128 -> bits 2*(r/32) of qs[32h + r%32];
 * sub-block j = e/16, scales[j] = scale | min << 4;
 * x = (d * scale) * q - (dmin * min). */
static void test_layout_q2_K(void) {
    block_q2_K b;
    memset(&b, 0, sizeof b);
    b.d = qw_fp32_to_fp16(0.5f);
    b.dmin = qw_fp32_to_fp16(0.25f);
    int sc[16], mn[16], q[QK_K];
    for (int j = 0; j < 16; j++) {
        sc[j] = j;            /* 0..15 */
        mn[j] = (j * 7) % 16; /* distinct, 0..15 */
        b.scales[j] = (uint8_t)(sc[j] | (mn[j] << 4));
    }
    for (int e = 0; e < QK_K; e++) {
        q[e] = (e * 3 + e / 16 + e / 64) & 3;
        int h = e / 128, r = e % 128;
        b.qs[32 * h + r % 32] |= (uint8_t)(q[e] << (2 * (r / 32)));
    }
    float y[QK_K];
    double want[QK_K];
    qw_dequantize_row_q2_K(&b, y, QK_K);
    for (int e = 0; e < QK_K; e++) want[e] = 0.5 * sc[e / 16] * q[e] - 0.25 * mn[e / 16];
    CHECK(count_mismatch("q2_K", y, want, QK_K) == 0);

    /* by hand: element 0 is sub-block 0 (scale 0, min 0) -> 0; element 17 is
     * sub-block 1 (scale 1, min 7): q = (51 + 1 + 0) & 3 = 0 -> -1.75;
     * element 200: sub-block 12 (scale 12, min 84 % 16 = 4),
     * q = (600 + 12 + 3) & 3 = 3 -> 0.5*12*3 - 0.25*4 = 17 */
    CHECK(y[0] == 0.0f);
    CHECK(y[17] == -1.75f);
    CHECK(y[200] == 17.0f);
    CHECK(qw_row_finite_q2_K(&b, QK_K));
}

/* Q3_K: low 2 bits as Q2_K; bit (e/32) of hmask[e%32] set means q = low2,
 * clear means q = low2 - 4. Scale code u_j: low nibble of scales[j] (j < 8)
 * or high nibble of scales[j-8] (j >= 8); bits 4..5 of u_j are bits
 * 2*(j/4)..2*(j/4)+1 of scales[8 + j%4]. x = (d * (u_j - 32)) * q. */
static void test_layout_q3_K(void) {
    block_q3_K b;
    memset(&b, 0, sizeof b);
    b.d = qw_fp32_to_fp16(0.25f);
    int u[16], q[QK_K];
    for (int j = 0; j < 16; j++) {
        u[j] = (j * 37 + 5) % 64; /* distinct, uses every bit */
        if (j < 8) b.scales[j] |= (uint8_t)(u[j] & 15);
        else b.scales[j - 8] |= (uint8_t)((u[j] & 15) << 4);
        b.scales[8 + j % 4] |= (uint8_t)((u[j] >> 4) << (2 * (j / 4)));
    }
    for (int e = 0; e < QK_K; e++) {
        q[e] = (e * 5 + e / 16) % 8 - 4; /* -4..3 */
        int stored = q[e] + 4, h = e / 128, r = e % 128;
        b.qs[32 * h + r % 32] |= (uint8_t)((stored & 3) << (2 * (r / 32)));
        if (stored & 4) b.hmask[e % 32] |= (uint8_t)(1 << (e / 32));
    }
    float y[QK_K];
    double want[QK_K];
    qw_dequantize_row_q3_K(&b, y, QK_K);
    for (int e = 0; e < QK_K; e++) want[e] = 0.25 * (u[e / 16] - 32) * q[e];
    CHECK(count_mismatch("q3_K", y, want, QK_K) == 0);

    /* by hand, from fixed bytes. scales[0] = 0x0f: low nibble of u_0 = 15
     * (u_8's low nibble = 0); scales[8] = 0x02: bits 0..1 = high bits of u_0
     * = 2, so u_0 = 47 (scale 15); every other code is 0 (scale -32). */
    memset(&b, 0, sizeof b);
    b.d = qw_fp32_to_fp16(1.0f);
    b.scales[0] = 0x0f;
    b.scales[8] = 0x02;
    b.qs[0] = 0x01; /* element 0: low2 = 1, hmask bit clear -> q = -3 */
    b.qs[1] = 0x03; /* element 1: low2 = 3 ... */
    b.hmask[1] = 1; /* ... and its high bit set -> q = 3 */
    qw_dequantize_row_q3_K(&b, y, QK_K);
    CHECK(y[0] == -45.0f); /* 15 * -3 */
    CHECK(y[1] == 45.0f);  /* 15 * 3 */
    CHECK(y[2] == -60.0f); /* low2 0, bit clear: q = -4 */
    CHECK(y[16] == 128.0f); /* sub-block 1: scale -32, q = -4 */
    CHECK(y[32] == 128.0f); /* bits 2..3 of qs[0] are 0 */
}

/* 6-bit scale/min packing of Q4_K and Q5_K, per the format description:
 * j < 4:  scale = p[j] & 63, min = p[j+4] & 63
 * j >= 4: scale = (p[j+4] & 15) | (p[j-4] >> 6) << 4
 *         min   = (p[j+4] >> 4) | (p[j] >> 6) << 4 */
static void put_scale_min_k4(uint8_t *p, const int *sc, const int *mn) {
    memset(p, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            p[j] |= (uint8_t)sc[j];
            p[j + 4] |= (uint8_t)mn[j];
        } else {
            p[j + 4] |= (uint8_t)((sc[j] & 15) | ((mn[j] & 15) << 4));
            p[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            p[j] |= (uint8_t)((mn[j] >> 4) << 6);
        }
    }
}

/* Q4_K: element e: chunk c = e/64, r = e%64 -> nibble r/32 of qs[32c + r%32];
 * sub-block j = e/32; x = (d * scale_j) * q - (dmin * min_j). */
static void test_layout_q4_K(void) {
    block_q4_K b;
    memset(&b, 0, sizeof b);
    b.d = qw_fp32_to_fp16(0.5f);
    b.dmin = qw_fp32_to_fp16(0.125f);
    int sc[8], mn[8], q[QK_K];
    for (int j = 0; j < 8; j++) {
        sc[j] = 10 + 7 * j; /* 10..59: high bits used */
        mn[j] = 63 - 5 * j; /* 63..28 */
    }
    put_scale_min_k4(b.scales, sc, mn);
    for (int e = 0; e < QK_K; e++) {
        q[e] = (e * 5 + e / 64) % 16;
        int c = e / 64, r = e % 64;
        b.qs[32 * c + r % 32] |= (uint8_t)(q[e] << (4 * (r / 32)));
    }
    float y[QK_K];
    double want[QK_K];
    qw_dequantize_row_q4_K(&b, y, QK_K);
    for (int e = 0; e < QK_K; e++) want[e] = 0.5 * sc[e / 32] * q[e] - 0.125 * mn[e / 32];
    CHECK(count_mismatch("q4_K", y, want, QK_K) == 0);

    /* by hand: element 37 is sub-block 1 (scale 17, min 58), high nibble of
     * qs[5]: q = 185 % 16 = 9 -> 0.5*17*9 - 0.125*58 = 76.5 - 7.25 = 69.25.
     * element 250: sub-block 7 (scale 59, min 28), q = (1250 + 3) % 16 = 5
     * -> 0.5*59*5 - 3.5 = 144 */
    CHECK(y[37] == 69.25f);
    CHECK(y[250] == 144.0f);
    /* the packed bytes, by hand: p[0] = 10 | (38 >> 4) << 6 = 10 | 2 << 6 */
    CHECK(b.scales[0] == (10 | (2 << 6)));
    CHECK(qw_row_finite_q4_K(&b, QK_K));
}

/* Q5_K: as Q4_K plus bit (e/32) of qh[e%32] adding 16. */
static void test_layout_q5_K(void) {
    block_q5_K b;
    memset(&b, 0, sizeof b);
    b.d = qw_fp32_to_fp16(0.25f);
    b.dmin = qw_fp32_to_fp16(0.5f);
    int sc[8], mn[8], q[QK_K];
    for (int j = 0; j < 8; j++) {
        sc[j] = 63 - 8 * j;      /* 63..7 */
        mn[j] = (j * 19 + 1) % 64; /* 1, 20, 39, 58, 13, 32, 51, 6 */
    }
    put_scale_min_k4(b.scales, sc, mn);
    for (int e = 0; e < QK_K; e++) {
        q[e] = (e * 11 + 3 + e / 32) % 32;
        int c = e / 64, r = e % 64;
        b.qs[32 * c + r % 32] |= (uint8_t)((q[e] & 15) << (4 * (r / 32)));
        if (q[e] & 16) b.qh[e % 32] |= (uint8_t)(1 << (e / 32));
    }
    float y[QK_K];
    double want[QK_K];
    qw_dequantize_row_q5_K(&b, y, QK_K);
    for (int e = 0; e < QK_K; e++) want[e] = 0.25 * sc[e / 32] * q[e] - 0.5 * mn[e / 32];
    CHECK(count_mismatch("q5_K", y, want, QK_K) == 0);
    /* by hand: element 100 is sub-block 3 (scale 39, min 58),
     * q = (1100 + 3 + 3) % 32 = 18 (qh[4] bit 3 set) -> 0.25*39*18 - 29 = 146.5 */
    CHECK(y[100] == 146.5f);
    CHECK((b.qh[4] >> 3) & 1);
}

/* Q6_K: element e: h = e/128, r = e%128, g = r/32, l = r%32; low nibble is
 * nibble g/2 of ql[64h + 32*(g%2) + l]; high 2 bits are bits 2g of
 * qh[32h + l]; q = value - 32; x = (d * scales[e/16]) * q. */
static void test_layout_q6_K(void) {
    block_q6_K b;
    memset(&b, 0, sizeof b);
    b.d = qw_fp32_to_fp16(1.0f / 64.0f);
    static const int sc[16] = {-128, 127, -1, 1, 0, 64, -64, 33, -17, 100, -100, 5, 2, -3, 77, -128};
    int q[QK_K];
    for (int j = 0; j < 16; j++) b.scales[j] = (int8_t)sc[j];
    for (int e = 0; e < QK_K; e++) {
        q[e] = (e * 13 + 5 + e / 64) % 64 - 32;
        int u = q[e] + 32, h = e / 128, r = e % 128, g = r / 32, l = r % 32;
        b.ql[64 * h + 32 * (g % 2) + l] |= (uint8_t)((u & 15) << (4 * (g / 2)));
        b.qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * g));
    }
    float y[QK_K];
    double want[QK_K];
    qw_dequantize_row_q6_K(&b, y, QK_K);
    for (int e = 0; e < QK_K; e++) want[e] = (1.0 / 64.0) * sc[e / 16] * q[e];
    CHECK(count_mismatch("q6_K", y, want, QK_K) == 0);
    /* by hand: element 0: q = 5 - 32 = -27, scale -128 -> -2 * -27 = 54 */
    CHECK(y[0] == 54.0f);
    /* element 200: h 1, r 72, g 2, l 8 -> high nibble of ql[72], bits 4..5 of
     * qh[40]; q = (2600 + 5 + 3) % 64 - 32 = 16; scale[12] = 2 -> 0.5 */
    CHECK(y[200] == 0.5f);
    CHECK(qw_row_finite_q6_K(&b, QK_K));
}

/* IQ4_NL: byte qs[j] low nibble = element j, high nibble = element j+16. */
static void test_layout_iq4_nl(void) {
    block_iq4_nl b[2];
    memset(b, 0, sizeof b);
    int idx[64];
    b[0].d = qw_fp32_to_fp16(0.5f);
    b[1].d = qw_fp32_to_fp16(-2.0f);
    for (int e = 0; e < 64; e++) {
        idx[e] = (e * 5 + 1 + e / 32) % 16;
        b[e / 32].qs[e % 16] |= (uint8_t)(idx[e] << (4 * ((e % 32) / 16)));
    }
    float y[64];
    double want[64];
    qw_dequantize_row_iq4_nl(b, y, 64);
    for (int e = 0; e < 64; e++) want[e] = (e < 32 ? 0.5 : -2.0) * kIQ4[idx[e]];
    CHECK(count_mismatch("iq4_nl", y, want, 64) == 0);
    /* by hand: element 16 = high nibble of qs[0] of block 0: idx 81 % 16 = 1
     * -> 0.5 * -104 = -52 */
    CHECK(y[16] == -52.0f);
    CHECK(qw_row_finite_iq4_nl(b, 64));
}

/* IQ4_XS: sub-block ib (elements 32ib..32ib+31): scale code
 * ls = nibble (ib%2) of scales_l[ib/2] | bits 2ib..2ib+1 of scales_h << 4;
 * nibbles as IQ4_NL inside qs[16ib .. 16ib+15]; x = (d * (ls - 32)) * kv. */
static void test_layout_iq4_xs(void) {
    block_iq4_xs b;
    memset(&b, 0, sizeof b);
    b.d = qw_fp32_to_fp16(0.25f);
    static const int ls[8] = {0, 63, 31, 32, 17, 48, 5, 60};
    int idx[QK_K];
    for (int ib = 0; ib < 8; ib++) {
        b.scales_l[ib / 2] |= (uint8_t)((ls[ib] & 15) << (4 * (ib % 2)));
        b.scales_h |= (uint16_t)((ls[ib] >> 4) << (2 * ib));
    }
    for (int e = 0; e < QK_K; e++) {
        idx[e] = (e * 7 + e / 32) % 16;
        int ib = e / 32, r = e % 32;
        b.qs[16 * ib + r % 16] |= (uint8_t)(idx[e] << (4 * (r / 16)));
    }
    float y[QK_K];
    double want[QK_K];
    qw_dequantize_row_iq4_xs(&b, y, QK_K);
    for (int e = 0; e < QK_K; e++) want[e] = 0.25 * (ls[e / 32] - 32) * kIQ4[idx[e]];
    CHECK(count_mismatch("iq4_xs", y, want, QK_K) == 0);
    /* by hand: element 40 is sub-block 1 (ls 63 -> 31), idx (280 + 1) % 16 = 9
     * -> 0.25 * 31 * 13 = 100.75 */
    CHECK(y[40] == 100.75f);
    /* scales_h by hand: codes 0,63,31,32,17,48,5,60 have high bits
     * 0,3,1,2,1,3,0,3 -> 0b11 00 11 01 10 01 11 00 = 0xcd9c */
    CHECK(b.scales_h == 0xcd9c);
    CHECK(qw_row_finite_iq4_xs(&b, QK_K));
}

/* ======================================================================== */
/* Q8_K                                                                     */
/* ======================================================================== */

static void q8k_expect(const block_q8_K *b, int j, int q) {
    CHECKF(b->qs[j] == q, "qs[%d] = %d, want %d", j, b->qs[j], q);
}

static void test_q8_K_hand(void) {
    float x[QK_K];
    block_q8_K b;

    /* negative max of -127: iscale = 1, values round half to even */
    memset(x, 0, sizeof x);
    x[0] = 2.5f;
    x[1] = 3.5f;
    x[2] = -2.5f;
    x[3] = 0.5f;
    x[4] = 126.5f;
    x[5] = -127.0f;
    x[6] = -0.5f;
    x[7] = 1.49f;
    x[100] = -126.5f;
    qw_quantize_row_q8_K(x, &b, QK_K);
    CHECK(b.d == 1.0f);
    q8k_expect(&b, 0, 2);
    q8k_expect(&b, 1, 4);
    q8k_expect(&b, 2, -2);
    q8k_expect(&b, 3, 0);
    q8k_expect(&b, 4, 126);
    q8k_expect(&b, 5, -127);
    q8k_expect(&b, 6, 0);
    q8k_expect(&b, 7, 1);
    q8k_expect(&b, 100, -126);
    CHECK(b.bsums[0] == 2 + 4 - 2 + 0 + 126 - 127 + 0 + 1);
    CHECK(b.bsums[6] == -126); /* element 100 is in group 6 */
    CHECK(b.bsums[1] == 0);

    /* positive max: the max element becomes -127 and d is negative; an
     * equal-magnitude element of the other sign later in the block gets +127 */
    memset(x, 0, sizeof x);
    x[3] = 127.0f;
    x[4] = -127.0f;
    x[5] = 10.5f;
    x[6] = -11.5f;
    qw_quantize_row_q8_K(x, &b, QK_K);
    CHECK(b.d == -1.0f);
    q8k_expect(&b, 3, -127);
    q8k_expect(&b, 4, 127);
    q8k_expect(&b, 5, -10);
    q8k_expect(&b, 6, 12);

    /* max 254: iscale = -0.5, d = 1 / -0.5 = -2 */
    memset(x, 0, sizeof x);
    x[9] = 254.0f;
    x[10] = 3.0f;  /* -1.5 -> -2 */
    x[11] = 5.0f;  /* -2.5 -> -2 */
    x[12] = -7.0f; /* 3.5 -> 4 */
    qw_quantize_row_q8_K(x, &b, QK_K);
    CHECK(b.d == -2.0f);
    q8k_expect(&b, 9, -127);
    q8k_expect(&b, 10, -2);
    q8k_expect(&b, 11, -2);
    q8k_expect(&b, 12, 4);

    /* d is stored as 1 / iscale, not -max / 127: for max = 2.75 the two
     * differ in the last bit (-0.0216535423 vs -0.0216535442) */
    memset(x, 0, sizeof x);
    x[0] = 2.75f;
    qw_quantize_row_q8_K(x, &b, QK_K);
    {
        volatile float iscale = -127.0f / 2.75f;
        volatile float want = 1.0f / iscale;
        volatile float other = -2.75f / 127.0f;
        CHECK(want != other); /* the test means something */
        CHECK(b.d == want);
    }

    /* all-zero block (including -0): d = 0, qs and bsums zero */
    for (int j = 0; j < QK_K; j++) x[j] = (j & 1) ? -0.0f : 0.0f;
    memset(&b, 0xAB, sizeof b);
    qw_quantize_row_q8_K(x, &b, QK_K);
    CHECK(b.d == 0.0f);
    int nz = 0;
    for (int j = 0; j < QK_K; j++) nz += b.qs[j] != 0;
    for (int g = 0; g < 16; g++) nz += b.bsums[g] != 0;
    CHECK(nz == 0);

    /* random blocks: bsums are sums of 16, |x - d q| <= |d| / 2, the
     * max-magnitude element is -127, dequantize = d * q */
    float xr[4 * QK_K], yr[4 * QK_K];
    block_q8_K br[4];
    for (int i = 0; i < 4 * QK_K; i++) xr[i] = rnd_gauss() * (i < QK_K ? 1e-3f : 3.0f);
    qw_quantize_row_q8_K(xr, br, 4 * QK_K);
    qw_dequantize_row_q8_K(br, yr, 4 * QK_K);
    int bad_sum = 0, bad_err = 0, bad_deq = 0, bad_max = 0;
    for (int i = 0; i < 4; i++) {
        int jmax = 0;
        for (int j = 1; j < QK_K; j++)
            if (fabsf(xr[i * QK_K + j]) > fabsf(xr[i * QK_K + jmax])) jmax = j;
        bad_max += br[i].qs[jmax] != -127;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += br[i].qs[16 * g + l];
            bad_sum += s != br[i].bsums[g];
        }
        for (int j = 0; j < QK_K; j++) {
            float xv = xr[i * QK_K + j];
            bad_err += fabsf(xv - br[i].d * br[i].qs[j]) > fabsf(br[i].d) * 0.5001f;
            bad_deq += yr[i * QK_K + j] != br[i].d * br[i].qs[j];
        }
    }
    CHECK(bad_sum == 0);
    CHECK(bad_err == 0);
    CHECK(bad_deq == 0);
    CHECK(bad_max == 0);

    CHECK(qw_row_finite_q8_K(br, 4 * QK_K));
    br[2].d = NAN;
    CHECK(!qw_row_finite_q8_K(br, 4 * QK_K));
    br[2].d = INFINITY;
    CHECK(!qw_row_finite_q8_K(br, 4 * QK_K));

    /* NaN in the input: no crash, finite scale */
    for (int j = 0; j < QK_K; j++) x[j] = (float)j - 100.0f;
    x[7] = NAN;
    qw_quantize_row_q8_K(x, &b, QK_K);
    CHECK(isfinite(b.d));
}

/* ======================================================================== */
/* per-type table for the generic tests                                     */
/* ======================================================================== */

typedef struct ktype {
    const char *name;
    int blck;                /* elements per block */
    size_t size;             /* bytes per block */
    int act_q8_0;            /* 1: activations are Q8_0, else Q8_K */
    qw_to_float_fn deq;
    qw_from_float_fn quant;
    qw_vec_dot_fn dot;
    qw_row_finite_fn finite;
    double max_rel_rmse;     /* bound on Gaussian data (~10% above what we get) */
} ktype;

static const ktype kTypes[] = {
    {"Q2_K", QK_K, sizeof(block_q2_K), 0, qw_dequantize_row_q2_K, qw_quantize_row_q2_K,
     qw_vec_dot_q2_K, qw_row_finite_q2_K, 0.285},
    {"Q3_K", QK_K, sizeof(block_q3_K), 0, qw_dequantize_row_q3_K, qw_quantize_row_q3_K,
     qw_vec_dot_q3_K, qw_row_finite_q3_K, 0.157},
    {"Q4_K", QK_K, sizeof(block_q4_K), 0, qw_dequantize_row_q4_K, qw_quantize_row_q4_K,
     qw_vec_dot_q4_K, qw_row_finite_q4_K, 0.077},
    {"Q5_K", QK_K, sizeof(block_q5_K), 0, qw_dequantize_row_q5_K, qw_quantize_row_q5_K,
     qw_vec_dot_q5_K, qw_row_finite_q5_K, 0.038},
    {"Q6_K", QK_K, sizeof(block_q6_K), 0, qw_dequantize_row_q6_K, qw_quantize_row_q6_K,
     qw_vec_dot_q6_K, qw_row_finite_q6_K, 0.0186},
    {"IQ4_NL", QK4_NL, sizeof(block_iq4_nl), 1, qw_dequantize_row_iq4_nl,
     qw_quantize_row_iq4_nl, qw_vec_dot_iq4_nl, qw_row_finite_iq4_nl, 0.080},
    {"IQ4_XS", QK_K, sizeof(block_iq4_xs), 0, qw_dequantize_row_iq4_xs,
     qw_quantize_row_iq4_xs, qw_vec_dot_iq4_xs, qw_row_finite_iq4_xs, 0.081},
};
enum { N_KTYPES = sizeof kTypes / sizeof kTypes[0] };

static double rel_rmse(const float *x, const float *y, int n) {
    double se = 0.0, sx = 0.0;
    for (int i = 0; i < n; i++) {
        se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        sx += (double)x[i] * x[i];
    }
    return sx > 0.0 ? sqrt(se / sx) : sqrt(se / n);
}

static bool all_finite(const float *y, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(y[i])) return false;
    return true;
}

/* ======================================================================== */
/* vec_dot                                                                  */
/* ======================================================================== */

/* Builds an activation row of n values: Q8_0 blocks by hand (fp16 d, random
 * int8) or Q8_K via the library quantizer; returns the dequantized values. */
static void make_activations(int act_q8_0, int n, void *blocks, float *yf) {
    if (act_q8_0) {
        block_q8_0 *b = blocks;
        for (int i = 0; i < n / QK8_0; i++) {
            b[i].d = qw_fp32_to_fp16(0.01f + 0.001f * (float)i);
            for (int j = 0; j < QK8_0; j++) {
                b[i].qs[j] = (int8_t)((int)(rnd_u32() % 255) - 127);
                yf[i * QK8_0 + j] = qw_fp16_to_fp32(b[i].d) * b[i].qs[j];
            }
        }
    } else {
        float *src = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++) src[i] = rnd_gauss();
        qw_quantize_row_q8_K(src, blocks, n);
        qw_dequantize_row_q8_K(blocks, yf, n);
        free(src);
    }
}

static void test_vec_dot_random(void) {
    enum { N = 4 * QK_K };
    float x[N], xq[N], yf[N];
    static unsigned char wq[N / 32 * 256]; /* roomy for any type */
    static unsigned char act[N / QK_K * sizeof(block_q8_K) + N / QK8_0 * sizeof(block_q8_0)];
    for (int t = 0; t < N_KTYPES; t++) {
        const ktype *k = &kTypes[t];
        for (int rep = 0; rep < 3; rep++) {
            for (int i = 0; i < N; i++) x[i] = rnd_gauss() * (rep == 2 ? 100.0f : 1.0f) + (rep == 1 ? 0.7f : 0.0f);
            k->quant(x, wq, N);
            k->deq(wq, xq, N);
            make_activations(k->act_q8_0, N, act, yf);
            double ref = 0.0, mag = 0.0;
            for (int i = 0; i < N; i++) {
                ref += (double)xq[i] * yf[i];
                mag += fabs((double)xq[i] * yf[i]);
            }
            float s = NAN;
            k->dot(N, &s, wq, act);
            CHECKF(fabs(s - ref) <= 2e-6 * mag, "%s rep %d: dot %.9g ref %.9g (mag %.3g)", k->name,
                   rep, s, ref, mag);
        }
    }
}

/* The min term must come from Q8_K's bsums: raising bsums[g] by 1 (without
 * touching qs) changes the dot by exactly -dmin * y.d * min_of_group(g). */
static void test_vec_dot_bsums(void) {
    float x[QK_K], yf[QK_K];
    block_q8_K y;
    for (int i = 0; i < QK_K; i++) x[i] = rnd_gauss();
    make_activations(0, QK_K, &y, yf);
    y.d = 0.5f; /* exact arithmetic below */

    /* Q4_K with hand-set scales: dmin = 1, min_j = j + 1 */
    block_q4_K b4;
    qw_quantize_row_q4_K(x, &b4, QK_K);
    b4.d = qw_fp32_to_fp16(0.0f); /* only the min term remains */
    b4.dmin = qw_fp32_to_fp16(1.0f);
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = 1;
        mn[j] = j + 1;
    }
    put_scale_min_k4(b4.scales, sc, mn);
    float s0, s1;
    qw_vec_dot_q4_K(QK_K, &s0, &b4, &y);
    int want = 0;
    for (int g = 0; g < 16; g++) want += y.bsums[g] * mn[g / 2];
    CHECK(s0 == -0.5f * (float)want);
    y.bsums[5] += 1; /* group 5 = elements 80..95 = sub-block 2 (min 3) */
    qw_vec_dot_q4_K(QK_K, &s1, &b4, &y);
    CHECK(s1 - s0 == -1.5f);
    y.bsums[5] -= 1;

    /* Q2_K: sub-blocks are the 16-groups themselves */
    block_q2_K b2;
    qw_quantize_row_q2_K(x, &b2, QK_K);
    b2.d = qw_fp32_to_fp16(0.0f);
    b2.dmin = qw_fp32_to_fp16(1.0f);
    for (int j = 0; j < 16; j++) b2.scales[j] = (uint8_t)(1 | (j << 4));
    qw_vec_dot_q2_K(QK_K, &s0, &b2, &y);
    y.bsums[11] += 1;
    qw_vec_dot_q2_K(QK_K, &s1, &b2, &y);
    CHECK(s1 - s0 == -0.5f * 11.0f);
    y.bsums[11] -= 1;

    /* Q5_K: same scale packing as Q4_K */
    block_q5_K b5;
    qw_quantize_row_q5_K(x, &b5, QK_K);
    b5.d = qw_fp32_to_fp16(0.0f);
    b5.dmin = qw_fp32_to_fp16(2.0f);
    put_scale_min_k4(b5.scales, sc, mn);
    qw_vec_dot_q5_K(QK_K, &s0, &b5, &y);
    y.bsums[15] += 1; /* sub-block 7, min 8 */
    qw_vec_dot_q5_K(QK_K, &s1, &b5, &y);
    CHECK(s1 - s0 == -8.0f);
}

/* Extreme hand-built blocks: every level at its extreme, max scales, Q8_K
 * values all -128/127: no integer overflow, result equals the double dot. */
static void test_vec_dot_extremes(void) {
    float xq[QK_K], yf[QK_K];
    block_q8_K y;
    y.d = 1.0f;
    for (int j = 0; j < QK_K; j++) {
        y.qs[j] = (int8_t)((j & 1) ? 127 : -128);
        yf[j] = y.qs[j];
    }
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += y.qs[16 * g + l];
        y.bsums[g] = (int16_t)s;
    }
    /* Q6_K: all scales -128, all q = -32, so every product is positive */
    block_q6_K b6;
    memset(&b6, 0, sizeof b6); /* ql = qh = 0 -> q = -32 */
    for (int j = 0; j < 16; j++) b6.scales[j] = -128;
    b6.d = qw_fp32_to_fp16(1.0f);
    for (int j = 0; j < QK_K; j++) yf[j] = y.qs[j] = -128;
    for (int g = 0; g < 16; g++) y.bsums[g] = -2048;
    qw_dequantize_row_q6_K(&b6, xq, QK_K);
    double ref = 0.0;
    for (int j = 0; j < QK_K; j++) ref += (double)xq[j] * yf[j];
    float s;
    qw_vec_dot_q6_K(QK_K, &s, &b6, &y);
    CHECK(ref == -128.0 * -32.0 * -128.0 * 256.0);
    CHECK(s == (float)ref);

    /* Q5_K: q = 31 everywhere, scales/mins 63 */
    block_q5_K b5;
    memset(&b5, 0xff, sizeof b5);
    b5.d = qw_fp32_to_fp16(1.0f);
    b5.dmin = qw_fp32_to_fp16(1.0f);
    qw_dequantize_row_q5_K(&b5, xq, QK_K);
    CHECK(xq[0] == 63.0f * 31.0f - 63.0f);
    ref = 0.0;
    for (int j = 0; j < QK_K; j++) ref += (double)xq[j] * yf[j];
    qw_vec_dot_q5_K(QK_K, &s, &b5, &y);
    CHECK(s == (float)ref);
}

/* ======================================================================== */
/* quantizer quality                                                        */
/* ======================================================================== */

static void test_quantize_quality(void) {
    enum { N = 64 * QK_K };
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    float *y2 = malloc(sizeof(float) * N);
    unsigned char *q = malloc(N / 32 * 256);
    unsigned char *q2 = malloc(N / 32 * 256);
    for (int t = 0; t < N_KTYPES; t++) {
        const ktype *k = &kTypes[t];
        for (int i = 0; i < N; i++) x[i] = rnd_gauss();
        k->quant(x, q, N);
        k->deq(q, y, N);
        double e = rel_rmse(x, y, N);
        /* re-quantizing the dequantized row: it is exactly representable,
         * so a good quantizer gets (nearly) no error */
        k->quant(y, q2, N);
        k->deq(q2, y2, N);
        double e2 = rel_rmse(y, y2, N);
        /* a heavier-tailed row: Gaussian with 1% outliers of 8 sigma */
        for (int i = 0; i < N; i++) x[i] = rnd_gauss() * (rnd_u32() % 100 == 0 ? 8.0f : 1.0f);
        k->quant(x, q, N);
        k->deq(q, y, N);
        double e3 = rel_rmse(x, y, N);
        /* all-positive row (exercises the mins) */
        for (int i = 0; i < N; i++) x[i] = 1.0f + 0.2f * rnd_gauss();
        k->quant(x, q, N);
        k->deq(q, y, N);
        double e4 = rel_rmse(x, y, N);
        printf("%-7s rel RMSE: gaussian %.4f (bound %.3f), requantized %.4f, outliers %.4f, "
               "offset %.4f\n", k->name, e, k->max_rel_rmse, e2, e3, e4);
        CHECKF(e <= k->max_rel_rmse, "%s: %.4f", k->name, e);
        CHECKF(e2 <= 0.15 * e, "%s: requantized %.4f vs %.4f", k->name, e2, e);
        CHECKF(e3 <= 1.5 * k->max_rel_rmse, "%s outliers: %.4f", k->name, e3);
        CHECK(all_finite(y, N));
    }
    free(x);
    free(y);
    free(y2);
    free(q);
    free(q2);
}

/* Awkward rows: every type must give finite, sane output without UB. */
static void test_quantize_edge_cases(void) {
    enum { N = 2 * QK_K };
    float x[N], y[N];
    unsigned char q[N / 32 * 256];
    for (int t = 0; t < N_KTYPES; t++) {
        const ktype *k = &kTypes[t];
        /* zeros -> exact zeros */
        memset(x, 0, sizeof x);
        k->quant(x, q, N);
        k->deq(q, y, N);
        int nz = 0;
        for (int i = 0; i < N; i++) nz += y[i] != 0.0f;
        CHECKF(nz == 0, "%s zeros: %d nonzero", k->name, nz);
        CHECK(k->finite(q, N));

        /* constants: small relative error (both signs) */
        for (int sgn = -1; sgn <= 1; sgn += 2) {
            for (int i = 0; i < N; i++) x[i] = 0.37f * (float)sgn;
            k->quant(x, q, N);
            k->deq(q, y, N);
            double e = rel_rmse(x, y, N);
            CHECKF(e < 0.02, "%s constant %d: rel err %.4f", k->name, sgn, e);
        }

        /* one huge outlier among small values: the outlier survives */
        for (int i = 0; i < N; i++) x[i] = 0.01f * rnd_gauss();
        x[77] = 1000.0f;
        k->quant(x, q, N);
        k->deq(q, y, N);
        CHECKF(fabsf(y[77] - 1000.0f) < 1000.0f * 0.1f, "%s outlier: %g", k->name, y[77]);
        CHECK(all_finite(y, N));

        /* tiny and huge magnitudes: finite scales, finite output */
        static const float mags[] = {1e-7f, 1e-3f, 1e4f, 1e9f};
        for (int m = 0; m < 4; m++) {
            for (int i = 0; i < N; i++) x[i] = mags[m] * rnd_gauss();
            memset(q, 0xcd, sizeof q);
            k->quant(x, q, N);
            k->deq(q, y, N);
            CHECKF(k->finite(q, N), "%s mag %g: non-finite scale", k->name, mags[m]);
            CHECK(all_finite(y, N));
            if (m == 1 || m == 2) {
                double e = rel_rmse(x, y, N);
                CHECKF(e <= 1.15 * k->max_rel_rmse, "%s mag %g: %.4f", k->name, mags[m], e);
            }
        }

        /* NaN / Inf inputs are treated as 0: the rest of their block is
         * still quantized normally */
        for (int i = 0; i < N; i++) x[i] = rnd_gauss();
        x[3] = NAN;
        x[20] = INFINITY;
        x[300] = -INFINITY;
        k->quant(x, q, N);
        k->deq(q, y, N);
        CHECK(k->finite(q, N));
        CHECK(all_finite(y, N));
        x[3] = x[20] = x[300] = 0.0f;
        {
            double e = rel_rmse(x, y, N);
            CHECKF(e <= 1.15 * k->max_rel_rmse, "%s with NaN/Inf: %.4f", k->name, e);
        }
    }
}

/* row_finite: an inf or NaN fp16 scale anywhere in the row is caught. */
static void test_row_finite(void) {
    block_q2_K b2[2];
    block_q4_K b4[2];
    block_q5_K b5[2];
    block_q3_K b3[2];
    block_q6_K b6[2];
    block_iq4_nl bn[2];
    block_iq4_xs bx[2];
    memset(b2, 0, sizeof b2);
    memset(b4, 0, sizeof b4);
    memset(b5, 0, sizeof b5);
    memset(b3, 0, sizeof b3);
    memset(b6, 0, sizeof b6);
    memset(bn, 0, sizeof bn);
    memset(bx, 0, sizeof bx);
    CHECK(qw_row_finite_q2_K(b2, 2 * QK_K) && qw_row_finite_q4_K(b4, 2 * QK_K) &&
          qw_row_finite_q5_K(b5, 2 * QK_K) && qw_row_finite_q3_K(b3, 2 * QK_K) &&
          qw_row_finite_q6_K(b6, 2 * QK_K) && qw_row_finite_iq4_nl(bn, 64) &&
          qw_row_finite_iq4_xs(bx, 2 * QK_K));
    b2[1].dmin = 0x7c00; /* +inf */
    CHECK(!qw_row_finite_q2_K(b2, 2 * QK_K));
    CHECK(qw_row_finite_q2_K(b2, QK_K)); /* only the first block */
    b4[1].d = 0xfe00; /* NaN */
    CHECK(!qw_row_finite_q4_K(b4, 2 * QK_K));
    b5[0].dmin = 0xfc00; /* -inf */
    CHECK(!qw_row_finite_q5_K(b5, 2 * QK_K));
    b3[1].d = 0x7c01;
    CHECK(!qw_row_finite_q3_K(b3, 2 * QK_K));
    b6[0].d = 0x7bff; /* 65504: finite */
    CHECK(qw_row_finite_q6_K(b6, 2 * QK_K));
    b6[1].d = 0x7c00;
    CHECK(!qw_row_finite_q6_K(b6, 2 * QK_K));
    bn[1].d = 0x7e00;
    CHECK(!qw_row_finite_iq4_nl(bn, 64));
    bx[0].d = 0xfc00;
    CHECK(!qw_row_finite_iq4_xs(bx, 2 * QK_K));
}

/* ======================================================================== */
/* real file                                                                */
/* ======================================================================== */

typedef struct real_stats {
    double sum, sum2, n;  /* dequantized weights */
    double err_file, err_ours, ref2; /* squared errors vs the F16 weights */
} real_stats;

/* One quantized tensor of the Q4_K_M file against the same tensor of the F16
 * file (the same random weights, rounded to fp16): dequantized statistics,
 * the file's quantization error, and our quantizer's error on the F16 data. */
static void check_real_tensor(const qw_gguf_tensor *ten, const qw_gguf_tensor *ref) {
    const bool is_q4 = ten->type == QW_TYPE_Q4_K;
    const int64_t ne0 = ten->ne[0];
    const int64_t rows = ten->ne[1] * ten->ne[2] * ten->ne[3];
    const size_t row_bytes = (size_t)(ne0 / QK_K) * (is_q4 ? sizeof(block_q4_K) : sizeof(block_q6_K));
    float *row = malloc(sizeof(float) * (size_t)ne0);
    float *orig = malloc(sizeof(float) * (size_t)ne0);
    float *mine = malloc(sizeof(float) * (size_t)ne0);
    unsigned char *requant = malloc(row_bytes);
    real_stats st = {0};
    bool finite = true;
    for (int64_t r = 0; r < rows; r++) {
        const unsigned char *src = (const unsigned char *)ten->data + (size_t)r * row_bytes;
        if (is_q4) {
            finite &= qw_row_finite_q4_K(src, ne0);
            qw_dequantize_row_q4_K(src, row, ne0);
        } else {
            finite &= qw_row_finite_q6_K(src, ne0);
            qw_dequantize_row_q6_K(src, row, ne0);
        }
        if (ref) {
            const uint16_t *h = (const uint16_t *)ref->data + (size_t)r * (size_t)ne0;
            for (int64_t i = 0; i < ne0; i++) orig[i] = qw_fp16_to_fp32(h[i]);
            if (is_q4) {
                qw_quantize_row_q4_K(orig, requant, ne0);
                qw_dequantize_row_q4_K(requant, mine, ne0);
            } else {
                qw_quantize_row_q6_K(orig, requant, ne0);
                qw_dequantize_row_q6_K(requant, mine, ne0);
            }
        }
        for (int64_t i = 0; i < ne0; i++) {
            st.sum += row[i];
            st.sum2 += (double)row[i] * row[i];
            if (ref) {
                st.err_file += ((double)row[i] - orig[i]) * ((double)row[i] - orig[i]);
                st.err_ours += ((double)mine[i] - orig[i]) * ((double)mine[i] - orig[i]);
                st.ref2 += (double)orig[i] * orig[i];
            }
        }
        st.n += (double)ne0;
    }
    const double mean = st.sum / st.n, sd = sqrt(st.sum2 / st.n - mean * mean);
    printf("real file: %-22.*s %s mean %+.5f std %.5f", (int)ten->name.len, ten->name.ptr,
           is_q4 ? "Q4_K" : "Q6_K", mean, sd);
    CHECK(finite);
    CHECKF(fabs(mean) < 0.002, "mean %g", mean);
    CHECKF(fabs(sd - 0.05) < 0.0025, "std %g", sd);
    if (ref) {
        const double e_file = sqrt(st.err_file / st.ref2), e_ours = sqrt(st.err_ours / st.ref2);
        printf("  rel RMSE vs F16: llama.cpp %.4f, ours %.4f", e_file, e_ours);
        /* a layout error makes the file's values unrelated to the originals
         * (rel. error ~1.4); correct decoding gives the format's usual error */
        CHECKF(e_file < (is_q4 ? 0.09 : 0.025), "file error %.4f", e_file);
        /* our quantizer is no worse than llama-quantize on these weights */
        CHECKF(e_ours <= e_file, "ours %.4f vs llama.cpp %.4f", e_ours, e_file);
    }
    printf("\n");
    free(row);
    free(orig);
    free(mine);
    free(requant);
}

static qw_gguf *load_gguf(const char *rel, unsigned char **bytes) {
    size_t size = 0;
    const char *path = qw_shared_path(rel);
    *bytes = qw_read_file(path, &size);
    if (!*bytes) {
        printf("real file: %s not readable, skipped\n", path);
        return NULL;
    }
    qw_gguf *g = NULL;
    qw_status st = qw_gguf_parse(*bytes, size, size, &g, NULL);
    CHECKF(st == QW_OK, "parse %s: %s", path, qw_last_error());
    if (st != QW_OK) {
        free(*bytes);
        *bytes = NULL;
        return NULL;
    }
    return g;
}

static void test_real_file(void) {
    unsigned char *bytes = NULL, *fbytes = NULL;
    qw_gguf *g = load_gguf("models/synth15M-q4_k_m.gguf", &bytes);
    if (!g) return;
    qw_gguf *f16 = load_gguf("models/synth15M-f16.gguf", &fbytes);
    int seen_q4 = 0, seen_q6 = 0;
    for (uint64_t t = 0; t < g->n_tensors; t++) {
        const qw_gguf_tensor *ten = &g->tensors[t];
        if (ten->type != QW_TYPE_Q4_K && ten->type != QW_TYPE_Q6_K) continue;
        CHECK(ten->data != NULL && ten->ne[0] % QK_K == 0);
        if (!ten->data || ten->ne[0] % QK_K != 0) continue;
        const qw_gguf_tensor *ref = NULL;
        if (f16) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)ten->name.len, ten->name.ptr);
            ref = qw_gguf_find_tensor(f16, name);
            CHECK(ref && ref->type == QW_TYPE_F16 && ref->data && ref->ne[0] == ten->ne[0] &&
                  ref->ne[1] == ten->ne[1]);
            if (!(ref && ref->type == QW_TYPE_F16 && ref->data && ref->ne[0] == ten->ne[0] &&
                  ref->ne[1] == ten->ne[1]))
                ref = NULL;
        }
        check_real_tensor(ten, ref);
        if (ten->type == QW_TYPE_Q4_K) seen_q4++;
        else seen_q6++;
    }
    /* the README: ffn_down is Q4_K in 4 layers and Q6_K in 2 */
    CHECK(seen_q4 == 4);
    CHECK(seen_q6 == 2);
    if (f16) qw_gguf_free(f16);
    free(fbytes);
    qw_gguf_free(g);
    free(bytes);
}

int main(void) {
    test_layout_q2_K();
    test_layout_q3_K();
    test_layout_q4_K();
    test_layout_q5_K();
    test_layout_q6_K();
    test_layout_iq4_nl();
    test_layout_iq4_xs();
    test_q8_K_hand();
    test_vec_dot_random();
    test_vec_dot_bsums();
    test_vec_dot_extremes();
    test_quantize_quality();
    test_quantize_edge_cases();
    test_row_finite();
    test_real_file();
    return qw_test_end();
}

/* x86-64 kernels: AVX2 + FMA + F16C.
 *
 * Every function here gives BIT-IDENTICAL results to its scalar reference in
 * ref_*.c (tests/c/test_kernels.c checks each one against it):
 *
 *  - Integer parts are computed exactly. A 32-byte block of weights (element
 *    j in byte j) and of activations goes through maddubs (u8 x s8 -> pairs
 *    of int16) and madd (int16 x int16 -> int32), so int32 lane k holds the
 *    sum over elements 4k..4k+3 -- precisely the lane of accum.h's lanes8
 *    order -- optionally times an int16 sub-block scale in the madd.
 *    maddubs needs an unsigned left operand and must not saturate: weights
 *    with an offset (Q4_0, Q5_0, Q3_K, Q6_K) are fed unsigned and the offset
 *    is subtracted as offset * y through a second maddubs (exact for any
 *    activation byte); truly signed weights (Q8_0, IQ4_NL, IQ4_XS) use
 *    |x| times y with x's sign, which is exact when the activation is not
 *    -128 -- the activation quantizers never produce -128 (Q8_0/Q8_1 clamp
 *    to +-127 and Q8_K's largest magnitude maps to exactly 127).
 *  - Float parts do exactly the reference's operations: one __m256 holds the
 *    8 lanes, one _mm256_fmadd_ps per block (fmaf is one rounding too),
 *    qw_hsum8's tree at the end, and scalar float/double code where the
 *    reference is scalar. The build uses -ffp-contract=off, so the scalar
 *    float expressions here are not fused either. The 32-element types
 *    convert the fp16 scales of 8 blocks at once (the same 8 products).
 *    Their per-block fma chain (4-5 cycles each) is the speed limit for
 *    Q8_0 in vec_dot; the several-row forms run independent chains side by
 *    side: _r4 / _r8 (generation: 4 or 8 weight rows, one activation row),
 *    _x4 (one weight row, 4 activation rows) and _gemm4 (prompt batches:
 *    2 or 8 weight rows x 4 activation rows, each weight block unpacked
 *    once, scales converted once per tile).
 *  - F32 and BF16 dots: the reference adds float products one at a time in
 *    double. That chain cannot be reordered in general, but an addition
 *    whose exact result fits in 53 bits does not round. Per chunk of 32
 *    products we check that the running sum and every product are multiples
 *    of 2^u and that |sum| + sum|p| < 2^(u+53); then every partial sum in any
 *    order is exact, so a vector sum is bit-identical. Otherwise the chunk is
 *    added one product at a time, as the reference does.
 *  - Activation quantizers: a block containing NaN or Inf is handed to the
 *    reference (its exact NaN payloads are not worth vectorizing); finite
 *    blocks do the same float operations in vector form.
 *
 * One binary runs on any x86-64: only the functions carry the target
 * attribute, and qw_kernels_avx2() offers the set only when cpuid reports
 * AVX2, FMA and F16C. No AVX-512 / VNNI variants (none could be tested on
 * the machines available). */
#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "blocks.h"
#include "fp16.h"

#define TGT __attribute__((target("avx2,fma,f16c")))
#define KERNEL static TGT
#define HELPER static inline TGT

/* ======================================================================== */
/* helpers                                                                  */
/* ======================================================================== */

HELPER float h2f(uint16_t h) { return _cvtsh_ss(h); }

HELPER __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
HELPER __m128i load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* qw_hsum8: ((a4+a0) + (a6+a2)) + ((a5+a1) + (a7+a3)) */
HELPER float hsum8(__m256 v) {
    const __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    const __m128 t = _mm_add_ps(r, _mm_movehl_ps(r, r)); /* r0+r2, r1+r3 */
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

/* (a0 + a2) + (a1 + a3) of a 4-lane accumulator */
HELPER float hsum4(__m128 v) {
    const __m128 t = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

HELPER int32_t hsum_i32(__m256i v) {
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(t);
}

/* int16 pair sums -> int32 lane sums of 4 */
HELPER __m256i pairs_to_lanes(__m256i p16) { return _mm256_madd_epi16(p16, _mm256_set1_epi16(1)); }

/* int16 pairs of x*y for signed x and y != -128: |x| * (y with x's sign) */
HELPER __m256i mul_pairs_signed(__m256i x, __m256i y) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* The 32 nibbles of 16 bytes in element order: byte j = low nibble of qs[j]
 * for j < 16, high nibble of qs[j-16] for j >= 16. */
HELPER __m256i nibbles32(const uint8_t *qs) {
    const __m128i t = load128(qs);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* byte j = 0xff if bit j of the little-endian 32-bit word at qh is set */
HELPER __m256i bits32(const uint8_t *qh) {
    uint32_t w;
    memcpy(&w, qh, sizeof w);
    __m256i v = _mm256_set1_epi32((int32_t)w);
    /* byte j takes byte j/8 of the word */
    v = _mm256_shuffle_epi8(v, _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                                 0x0101010101010101LL, 0));
    /* set every bit but bit j%8; all-ones iff bit j%8 was set */
    v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL));
    return _mm256_cmpeq_epi8(v, _mm256_set1_epi8(-1));
}

/* 16 int16: the first 8 = sc[j], the last 8 = sc[j+1], from 16 int8 scales;
 * `sel` is the shuffle [j x8, j+1 x8]. */
HELPER __m256i scale_pair16(__m128i sc8, __m128i sel) {
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, sel));
}

/* acc = fma(d, lanes, acc): one block of lanes8 */
HELPER __m256 fma_lanes(float d, __m256i lanes, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc);
}

/* ======================================================================== */
/* legacy 32-element blocks (Q8_0 / Q8_1 activations), lanes8 order         */
/* ======================================================================== */

HELPER uint16_t ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* fp16(xd) * fp16(yd) of 8 consecutive blocks, the scale fields at the given
 * byte strides: the reference's float product for each block, 8 at a time */
HELPER __m256 scales8(const void *xd, size_t xs, const void *yd, size_t ys) {
    const uint8_t *a = xd, *b = yd;
    const __m128i ha = _mm_setr_epi16((short)ld16(a), (short)ld16(a + xs), (short)ld16(a + 2 * xs),
                                      (short)ld16(a + 3 * xs), (short)ld16(a + 4 * xs), (short)ld16(a + 5 * xs),
                                      (short)ld16(a + 6 * xs), (short)ld16(a + 7 * xs));
    const __m128i hb = _mm_setr_epi16((short)ld16(b), (short)ld16(b + ys), (short)ld16(b + 2 * ys),
                                      (short)ld16(b + 3 * ys), (short)ld16(b + 4 * ys), (short)ld16(b + 5 * ys),
                                      (short)ld16(b + 6 * ys), (short)ld16(b + 7 * ys));
    return _mm256_mul_ps(_mm256_cvtph_ps(ha), _mm256_cvtph_ps(hb));
}

/* The lanes8 loop of a 32-element block type: LANES(xb, yb) gives the int32
 * lane sums of one block; the scales of 8 blocks are converted together. */
#define LANES8_LOOP(LANES)                                                                   \
    const int64_t nb = n / 32;                                                               \
    __m256 acc = _mm256_setzero_ps();                                                        \
    int64_t i = 0;                                                                           \
    for (; i + 8 <= nb; i += 8) {                                                            \
        float ds[8];                                                                         \
        _mm256_storeu_ps(ds, scales8(&x[i].d, sizeof *x, &y[i].d, sizeof *y));               \
        for (int k = 0; k < 8; k++) acc = fma_lanes(ds[k], LANES(&x[i + k], &y[i + k]), acc); \
    }                                                                                        \
    for (; i < nb; i++) acc = fma_lanes(h2f(x[i].d) * h2f(y[i].d), LANES(&x[i], &y[i]), acc);

/* the same for Q4_1/Q5_1, plus the min term m * s summed apart, block by
 * block in order (the products are formed 8 at a time, each one rounding) */
#define LANES8_LOOP_MIN(LANES)                                                               \
    const int64_t nb = n / 32;                                                               \
    __m256 acc = _mm256_setzero_ps();                                                        \
    float summs = 0.0f;                                                                      \
    int64_t i = 0;                                                                           \
    for (; i + 8 <= nb; i += 8) {                                                            \
        float ds[8], ms[8];                                                                  \
        _mm256_storeu_ps(ds, scales8(&x[i].d, sizeof *x, &y[i].d, sizeof *y));               \
        _mm256_storeu_ps(ms, scales8(&x[i].m, sizeof *x, &y[i].s, sizeof *y));               \
        for (int k = 0; k < 8; k++) {                                                        \
            summs += ms[k];                                                                  \
            acc = fma_lanes(ds[k], LANES(&x[i + k], &y[i + k]), acc);                        \
        }                                                                                    \
    }                                                                                        \
    for (; i < nb; i++) {                                                                    \
        summs += h2f(x[i].m) * h2f(y[i].s);                                                  \
        acc = fma_lanes(h2f(x[i].d) * h2f(y[i].d), LANES(&x[i], &y[i]), acc);                \
    }

HELPER __m256i lanes_q8_0(const block_q8_0 *xb, const block_q8_0 *yb) {
    return pairs_to_lanes(mul_pairs_signed(load256(xb->qs), load256(yb->qs)));
}

HELPER __m256i lanes_q4_1(const block_q4_1 *xb, const block_q8_1 *yb) {
    return pairs_to_lanes(_mm256_maddubs_epi16(nibbles32(xb->qs), load256(yb->qs)));
}

HELPER __m256i lanes_q5_1(const block_q5_1 *xb, const block_q8_1 *yb) {
    const __m256i q = _mm256_or_si256(nibbles32(xb->qs), _mm256_and_si256(bits32(xb->qh), _mm256_set1_epi8(16)));
    return pairs_to_lanes(_mm256_maddubs_epi16(q, load256(yb->qs)));
}

HELPER __m256i lanes_q4_0(const block_q4_0 *xb, const block_q8_0 *yb) {
    const __m256i q = nibbles32(xb->qs); /* 0..15 */
    const __m256i yv = load256(yb->qs);
    /* (q - 8) * y = q*y - 8*y */
    return pairs_to_lanes(_mm256_sub_epi16(_mm256_maddubs_epi16(q, yv), _mm256_maddubs_epi16(_mm256_set1_epi8(8), yv)));
}

HELPER __m256i lanes_q5_0(const block_q5_0 *xb, const block_q8_0 *yb) {
    const __m256i sixteen = _mm256_set1_epi8(16);
    const __m256i q = _mm256_or_si256(nibbles32(xb->qs), _mm256_and_si256(bits32(xb->qh), sixteen));
    const __m256i yv = load256(yb->qs);
    return pairs_to_lanes(_mm256_sub_epi16(_mm256_maddubs_epi16(q, yv), _mm256_maddubs_epi16(sixteen, yv)));
}

static const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

HELPER __m256i lanes_iq4_nl(const block_iq4_nl *xb, const block_q8_0 *yb) {
    const __m256i table = _mm256_broadcastsi128_si256(load128(kvalues_iq4nl));
    const __m256i v = _mm256_shuffle_epi8(table, nibbles32(xb->qs));
    return pairs_to_lanes(mul_pairs_signed(v, load256(yb->qs)));
}

KERNEL void dot_q4_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    LANES8_LOOP(lanes_q4_0)
    *s = hsum8(acc);
}

/* serial order (Q4_0 matrices with a multiple of 8 rows): the block's
 * integer sum, then one scalar fma per block */
KERNEL void dot_q4_0_rows8(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256i l = lanes_q4_0(&x[i], &y[i]);
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(l), _mm256_extracti128_si256(l, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
        acc = fmaf((float)_mm_cvtsi128_si32(t), h2f(x[i].d) * h2f(y[i].d), acc);
    }
    *s = acc;
}

KERNEL void dot_q4_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    LANES8_LOOP_MIN(lanes_q4_1)
    *s = hsum8(acc) + summs;
}

KERNEL void dot_q5_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    LANES8_LOOP(lanes_q5_0)
    *s = hsum8(acc);
}

KERNEL void dot_q5_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    LANES8_LOOP_MIN(lanes_q5_1)
    *s = hsum8(acc) + summs;
}

KERNEL void dot_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    LANES8_LOOP(lanes_q8_0)
    *s = hsum8(acc);
}

KERNEL void dot_iq4_nl(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    LANES8_LOOP(lanes_iq4_nl)
    *s = hsum8(acc);
}

/* ======================================================================== */
/* K-quants and IQ4_XS (Q8_K activations)                                   */
/* ======================================================================== */

/* The shuffle selecting [j x8, j+1 x8] for scale_pair16; the next pair is
 * this plus 2 in every byte. */
HELPER __m128i first_pair_sel(void) { return _mm_set_epi64x(0x0101010101010101LL, 0); }

/* Q2_K: per super-block, the min term first (8 lanes, two sub-blocks of 16
 * each: mn[2l]*bsums[2l] + mn[2l+1]*bsums[2l+1]), then the scaled sums. */
KERNEL void dot_q2_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m128i two = _mm_set1_epi8(2);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float xd = h2f(x[i].d), xdmin = h2f(x[i].dmin);
        const float d = y[i].d * xd;
        const __m128i scb = load128(x[i].scales);
        const __m128i sc8 = _mm_and_si128(scb, m4);
        if (xdmin != 0.0f) {
            const float dmin = -y[i].d * xdmin;
            const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(scb, 4), m4));
            const __m256i pm = _mm256_madd_epi16(mn16, load256(y[i].bsums));
            acc = fma_lanes(dmin, pm, acc);
        }
        const int8_t *q8 = y[i].qs;
        __m256i sum = _mm256_setzero_si256();
        __m128i sel = first_pair_sel();
        for (int h = 0; h < 2; h++) {
            __m256i qb = load256(x[i].qs + 32 * h);
            for (int g = 0; g < 4; g++) {
                const __m256i q = _mm256_and_si256(qb, m3);
                const __m256i p = _mm256_maddubs_epi16(q, load256(q8 + 128 * h + 32 * g));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, scale_pair16(sc8, sel)));
                qb = _mm256_srli_epi16(qb, 2);
                sel = _mm_add_epi8(sel, two);
            }
        }
        acc = fma_lanes(d, sum, acc);
    }
    *s = hsum8(acc);
}

/* Q3_K: levels low2 - 4 * (high bit clear), signed 6-bit scales */
KERNEL void dot_q3_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i one = _mm256_set1_epi8(1);
    const __m128i two = _mm_set1_epi8(2);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d);
        uint32_t w[3];
        memcpy(w, x[i].scales, sizeof w);
        const uint32_t lo = 0x0f0f0f0fu, hi = 0x03030303u;
        const uint32_t s0 = (w[0] & lo) | (w[2] & hi) << 4;
        const uint32_t s1 = (w[1] & lo) | ((w[2] >> 2) & hi) << 4;
        const uint32_t s2 = ((w[0] >> 4) & lo) | ((w[2] >> 4) & hi) << 4;
        const uint32_t s3 = ((w[1] >> 4) & lo) | ((w[2] >> 6) & hi) << 4;
        const __m128i sc8 = _mm_sub_epi8(_mm_set_epi32((int32_t)s3, (int32_t)s2, (int32_t)s1, (int32_t)s0),
                                         _mm_set1_epi8(32));
        /* 1 where the high bit is clear */
        __m256i nh = _mm256_andnot_si256(load256(x[i].hmask), _mm256_set1_epi8(-1));
        const int8_t *q8 = y[i].qs;
        __m256i sum = _mm256_setzero_si256();
        __m128i sel = first_pair_sel();
        for (int h = 0; h < 2; h++) {
            __m256i qb = load256(x[i].qs + 32 * h);
            for (int g = 0; g < 4; g++) {
                const __m256i q = _mm256_and_si256(qb, m3);
                const __m256i sub4 = _mm256_slli_epi16(_mm256_and_si256(nh, one), 2);
                const __m256i yv = load256(q8 + 128 * h + 32 * g);
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, yv), _mm256_maddubs_epi16(sub4, yv));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, scale_pair16(sc8, sel)));
                qb = _mm256_srli_epi16(qb, 2);
                nh = _mm256_srli_epi16(nh, 1);
                sel = _mm_add_epi8(sel, two);
            }
        }
        acc = fma_lanes(d, sum, acc);
    }
    *s = hsum8(acc);
}

/* Q4_K / Q5_K scales: 8 6-bit scales and mins from 12 bytes, as two 8-byte
 * groups: *sc = scales 0..7, *mn = mins 0..7 (byte j = sub-block j). */
HELPER void unpack_k4_scales(const uint8_t *p, uint64_t *sc, uint64_t *mn) {
    uint32_t w[3];
    memcpy(w, p, sizeof w);
    const uint32_t m6 = 0x3f3f3f3fu, m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    const uint32_t sc_lo = w[0] & m6, mn_lo = w[1] & m6;
    const uint32_t sc_hi = (w[2] & m4) | ((w[0] >> 6) & m2) << 4;
    const uint32_t mn_hi = ((w[2] >> 4) & m4) | ((w[1] >> 6) & m2) << 4;
    *sc = (uint64_t)sc_hi << 32 | sc_lo;
    *mn = (uint64_t)mn_hi << 32 | mn_lo;
}

/* the min term of Q4_K/Q5_K: 4 lanes, lane m = sum over sub-blocks 2m, 2m+1
 * of mn[j] * (bsums[2j] + bsums[2j+1]) */
HELPER __m128i k4_min_lanes(uint64_t mn, const int16_t *bsums) {
    __m256i m32 = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn));
    m32 = _mm256_or_si256(m32, _mm256_slli_epi32(m32, 16)); /* mn[j] in both int16 halves */
    const __m256i p = _mm256_madd_epi16(m32, load256(bsums));
    return _mm_hadd_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

#define DEFINE_DOT_Q45_K(NAME, BLOCK, HIGHBITS)                                              \
    KERNEL void NAME(int64_t n, float *s, const void *vx, const void *vy) {                  \
        const BLOCK *x = vx;                                                                 \
        const block_q8_K *y = vy;                                                            \
        const int64_t nb = n / QK_K;                                                         \
        const __m256i m4 = _mm256_set1_epi8(0x0f);                                           \
        const __m256i one = _mm256_set1_epi8(1);                                             \
        const __m256i step = _mm256_set1_epi16(0x0202);                                      \
        (void)one;                                                                           \
        __m256 acc = _mm256_setzero_ps();                                                    \
        __m128 acc_m = _mm_setzero_ps();                                                     \
        for (int64_t i = 0; i < nb; i++) {                                                   \
            const float xd = h2f(x[i].d), xdmin = h2f(x[i].dmin);                            \
            const float d = y[i].d * xd;                                                     \
            uint64_t sc, mn;                                                                 \
            unpack_k4_scales(x[i].scales, &sc, &mn);                                         \
            if (xdmin != 0.0f) {                                                             \
                const float dmin = -y[i].d * xdmin;                                          \
                const __m128i pm = k4_min_lanes(mn, y[i].bsums);                             \
                acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(pm), acc_m);         \
            }                                                                                \
            /* scale words 0..7 in both 128-bit halves; sel picks word c everywhere */       \
            const __m256i sc16 = _mm256_broadcastsi128_si256(                                \
                _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));                        \
            __m256i sel = _mm256_set1_epi16(0x0100);                                         \
            const int8_t *q8 = y[i].qs;                                                      \
            __m256i sum = _mm256_setzero_si256();                                            \
            HIGHBITS##_INIT                                                                  \
            for (int c = 0; c < 4; c++) {                                                    \
                const __m256i b = load256(x[i].qs + 32 * c);                                 \
                __m256i q0 = _mm256_and_si256(b, m4);                                        \
                __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);                  \
                HIGHBITS##_APPLY                                                             \
                const __m256i p0 = _mm256_maddubs_epi16(q0, load256(q8 + 64 * c));           \
                const __m256i p1 = _mm256_maddubs_epi16(q1, load256(q8 + 64 * c + 32));      \
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p0, _mm256_shuffle_epi8(sc16, sel))); \
                sel = _mm256_add_epi8(sel, step);                                            \
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p1, _mm256_shuffle_epi8(sc16, sel))); \
                sel = _mm256_add_epi8(sel, step);                                            \
            }                                                                                \
            acc = fma_lanes(d, sum, acc);                                                    \
        }                                                                                    \
        *s = hsum8(acc) + hsum4(acc_m);                                                      \
    }

#define Q4K_HB_INIT
#define Q4K_HB_APPLY
/* Q5_K: chunk 2c takes bit 2c of qh[l], chunk 2c+1 bit 2c+1, worth 16 */
#define Q5K_HB_INIT __m256i qh = load256(x[i].qh);
#define Q5K_HB_APPLY                                                                 \
    q0 = _mm256_or_si256(q0, _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));         \
    q1 = _mm256_or_si256(q1, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4)); \
    qh = _mm256_srli_epi16(qh, 2);

DEFINE_DOT_Q45_K(dot_q4_K, block_q4_K, Q4K_HB)
DEFINE_DOT_Q45_K(dot_q5_K, block_q5_K, Q5K_HB)

/* Q6_K: unsigned 6-bit levels, minus 32 via a second maddubs */
KERNEL void dot_q6_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    const __m256i m32 = _mm256_set1_epi8(32);
    const __m128i two = _mm_set1_epi8(2);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d);
        const __m128i sc8 = load128(x[i].scales);
        const int8_t *q8 = y[i].qs;
        __m256i sum = _mm256_setzero_si256();
        __m128i sel = first_pair_sel();
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = load256(x[i].ql + 64 * h), l1 = load256(x[i].ql + 64 * h + 32);
            const __m256i qh = load256(x[i].qh + 32 * h);
            __m256i q[4];
            q[0] = _mm256_and_si256(l0, m4);
            q[1] = _mm256_and_si256(l1, m4);
            q[2] = _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4);
            q[3] = _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4);
            q[0] = _mm256_or_si256(q[0], _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            q[1] = _mm256_or_si256(q[1], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            q[2] = _mm256_or_si256(q[2], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            q[3] = _mm256_or_si256(q[3], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            for (int g = 0; g < 4; g++) {
                const __m256i yv = load256(q8 + 128 * h + 32 * g);
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[g], yv), _mm256_maddubs_epi16(m32, yv));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, scale_pair16(sc8, sel)));
                sel = _mm_add_epi8(sel, two);
            }
        }
        acc = fma_lanes(d, sum, acc);
    }
    *s = hsum8(acc);
}

/* IQ4_XS: exact int32 sum per super-block, then the reference's scalar
 * float: sum += (d * y.d) * isum. */
KERNEL void dot_iq4_xs(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i table = _mm256_broadcastsi128_si256(load128(kvalues_iq4nl));
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const unsigned sh = x[i].scales_h;
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const int ls = ((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) | (((sh >> (2 * ib)) & 3) << 4);
            const __m256i v = _mm256_shuffle_epi8(table, nibbles32(x[i].qs + 16 * ib));
            const __m256i p = mul_pairs_signed(v, load256(y[i].qs + 32 * ib));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16((int16_t)(ls - 32))));
        }
        sum += h2f(x[i].d) * y[i].d * (float)hsum_i32(acc);
    }
    *s = sum;
}

/* ======================================================================== */
/* F16: 4 x 16 fma lanes (8 __m256), pairwise add, 16-lane tree, double tail */
/* ======================================================================== */

KERNEL void dot_f16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    const int64_t np = n & ~(int64_t)63;
    __m256 a[8];
    for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < np; i += 64)
        for (int k = 0; k < 8; k++) {
            const __m256 xv = _mm256_cvtph_ps(load128(x + i + 8 * k));
            const __m256 yv = _mm256_cvtph_ps(load128(y + i + 8 * k));
            a[k] = _mm256_fmadd_ps(xv, yv, a[k]);
        }
    /* accumulator j = a[2j] (lanes 0..7), a[2j+1] (lanes 8..15) */
    const __m256 lo = _mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6]));
    const __m256 hi = _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7]));
    /* qw_hsum16 = qw_hsum8 of (lanes 8..15 + lanes 0..7) */
    double sum = np ? (double)hsum8(_mm256_add_ps(hi, lo)) : 0.0;
    for (int64_t i = np; i < n; i++) sum += (double)(h2f(x[i]) * h2f(y[i]));
    *s = (float)sum;
}

/* ======================================================================== */
/* F32 / BF16: sequential double sum, vectorized where provably exact       */
/* ======================================================================== */

enum { FCHUNK = 32 };

/* max and min of 8 uint32 lanes */
HELPER uint32_t hmax_u32(__m256i v) {
    __m128i t = _mm_max_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    t = _mm_max_epu32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm_max_epu32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(t);
}
HELPER uint32_t hmin_u32(__m256i v) {
    __m128i t = _mm_min_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    t = _mm_min_epu32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm_min_epu32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(t);
}

/* Adds the 32 float products p[0..3] to *S exactly as `*S += (double)p[j]`
 * for j = 0..31 in turn would, when that can be shown to involve no
 * rounding; returns false (and leaves *S alone) otherwise.
 *
 * Every nonzero float p with biased exponent E is a multiple of
 * 2^(max(E,1) - 150); *S (a double) is a multiple of 2^(its lowest set bit).
 * With u the smallest of these, every partial sum, in any order, is a
 * multiple of 2^u of magnitude <= |S| + sum|p| <= |S| + 32 max|p|; below
 * 2^(u+53) it is a double, so no addition rounds. (The sum never becomes -0:
 * it starts at +0 and exact cancellation gives +0.) */
HELPER int add_exact_chunk(const __m256 p[4], double *S) {
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), one = _mm256_set1_epi32(1);
    __m256i a[4];
    for (int k = 0; k < 4; k++) a[k] = _mm256_and_si256(_mm256_castps_si256(p[k]), absm);
    const __m256i mx = _mm256_max_epu32(_mm256_max_epu32(a[0], a[1]), _mm256_max_epu32(a[2], a[3]));
    /* |p| - 1 as unsigned: zeros become the largest value and drop out of the min */
    const __m256i mn = _mm256_min_epu32(_mm256_min_epu32(_mm256_sub_epi32(a[0], one), _mm256_sub_epi32(a[1], one)),
                                        _mm256_min_epu32(_mm256_sub_epi32(a[2], one), _mm256_sub_epi32(a[3], one)));
    const uint32_t maxb = hmax_u32(mx);
    if (maxb >= 0x7f800000u) return 0; /* Inf or NaN */
    if (maxb == 0) return 1;           /* all zero: *S + (+-0) == *S (never -0) */
    const uint32_t minb = hmin_u32(mn) + 1u;
    int e = (int)(minb >> 23);
    int u = (e ? e : 1) - 150;
    const double sv = *S;
    if (sv != 0.0) {
        uint64_t b;
        memcpy(&b, &sv, sizeof b);
        const int es = (int)((b >> 52) & 0x7ff);
        const uint64_t man = (b & 0x000fffffffffffffULL) | (es ? 0x0010000000000000ULL : 0);
        const int us = (es ? es : 1) - 1075 + __builtin_ctzll(man);
        if (us < u) u = us;
    }
    /* 2^(u+52): one bit of margin covers the rounding of `bound` */
    const uint64_t lim_bits = (uint64_t)(u + 52 + 1023) << 52;
    double lim;
    memcpy(&lim, &lim_bits, sizeof lim);
    float pmax;
    memcpy(&pmax, &maxb, sizeof pmax);
    const double bound = fabs(sv) + (double)FCHUNK * (double)pmax;
    if (!(bound <= lim)) return 0;
    __m256d t = _mm256_setzero_pd();
    for (int k = 0; k < 4; k++) {
        t = _mm256_add_pd(t, _mm256_cvtps_pd(_mm256_castps256_ps128(p[k])));
        t = _mm256_add_pd(t, _mm256_cvtps_pd(_mm256_extractf128_ps(p[k], 1)));
    }
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    *S = sv + _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    return 1;
}

/* the reference's order for one chunk */
HELPER void add_sequential_chunk(const __m256 p[4], double *S) {
    float v[FCHUNK];
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(v + 8 * k, p[k]);
    double sum = *S;
    for (int j = 0; j < FCHUNK; j++) sum += (double)v[j];
    *S = sum;
}

KERNEL void dot_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    int64_t i = 0;
    for (; i + FCHUNK <= n; i += FCHUNK) {
        __m256 p[4];
        for (int k = 0; k < 4; k++)
            p[k] = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k));
        if (!add_exact_chunk(p, &sum)) add_sequential_chunk(p, &sum);
    }
    for (; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

HELPER __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
}

KERNEL void dot_bf16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    int64_t i = 0;
    for (; i + FCHUNK <= n; i += FCHUNK) {
        __m256 p[4];
        for (int k = 0; k < 4; k++) p[k] = _mm256_mul_ps(bf16x8(x + i + 8 * k), bf16x8(y + i + 8 * k));
        if (!add_exact_chunk(p, &sum)) add_sequential_chunk(p, &sum);
    }
    for (; i < n; i++) sum += (double)(qw_bf16_to_fp32(x[i]) * qw_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

/* ======================================================================== */
/* activation quantizers                                                    */
/* ======================================================================== */

/* nonzero if any of the 8k floats at x is Inf or NaN */
HELPER int any_nonfinite(const float *x, int k) {
    const __m256i e = _mm256_set1_epi32(0x7f800000);
    __m256i bad = _mm256_setzero_si256();
    for (int j = 0; j < k; j++)
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(_mm256_and_si256(load256(x + 8 * j), e), e));
    return !_mm256_testz_si256(bad, bad);
}

HELPER float hmax_ps(__m256 v) {
    __m128 t = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    t = _mm_max_ps(t, _mm_movehl_ps(t, t));
    t = _mm_max_ss(t, _mm_movehdup_ps(t));
    return _mm_cvtss_f32(t);
}

/* max |x| over 8k finite floats (exact: max does not round) */
HELPER float absmax_finite(const float *x, int k) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < k; j++) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 8 * j), absm));
    return hmax_ps(m);
}

/* integer nearest (current rounding mode, ties to even by default, as
 * nearbyintf and the 1.5*2^23 trick) of x*scale clamped to lo..hi, NaN -> 0 */
HELPER __m256i scale_round(__m256 xv, __m256 scale, __m256 lo, __m256 hi) {
    __m256 v = _mm256_mul_ps(xv, scale);
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    return _mm256_cvtps_epi32(v);
}

/* 32 int32 (4 vectors) -> 32 int8 in order (values already in int8 range) */
HELPER __m256i pack32(const __m256i q[4]) {
    const __m256i a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i c = _mm256_packs_epi16(a, b);
    return _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

KERNEL void act_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        if (any_nonfinite(x, 4)) {
            qw_quantize_act_q8_0(x, &y[i], QK8_0);
            continue;
        }
        const float amax = absmax_finite(x, 4);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = qw_fp32_to_fp16(amax / 127.0f);
        const __m256 idv = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = scale_round(_mm256_loadu_ps(x + 8 * k), idv, lo, hi);
        _mm256_storeu_si256((__m256i *)y[i].qs, pack32(q));
    }
}

KERNEL void act_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        if (any_nonfinite(x, 4)) {
            qw_quantize_act_q8_1(x, &y[i], QK8_1);
            continue;
        }
        const float amax = absmax_finite(x, 4);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = qw_fp32_to_fp16(d);
        const __m256 idv = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = scale_round(_mm256_loadu_ps(x + 8 * k), idv, lo, hi);
        _mm256_storeu_si256((__m256i *)y[i].qs, pack32(q));
        const int sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        y[i].s = qw_fp32_to_fp16((float)sum * d);
    }
}

/* [sum(a), sum(b), sum(c), sum(d)] of four int32 x8 vectors */
HELPER __m128i hsum4x_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

KERNEL void act_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    const __m256 lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        if (any_nonfinite(x, QK_K / 8)) {
            qw_quantize_row_q8_K(x, &y[i], QK_K);
            continue;
        }
        const float amax = absmax_finite(x, QK_K / 8);
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            memset(y[i].qs, 0, sizeof y[i].qs);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            continue;
        }
        /* the first element of largest magnitude, sign kept */
        const __m256 av = _mm256_set1_ps(amax);
        int first = 0;
        for (int j = 0; j < QK_K / 8; j++) {
            const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + 8 * j), absm), av, _CMP_EQ_OQ));
            if (m) {
                first = 8 * j + __builtin_ctz((unsigned)m);
                break;
            }
        }
        const float iscale = -127.0f / x[first];
        const __m256 isv = _mm256_set1_ps(iscale);
        __m256i g[QK_K / 16]; /* per group of 16: int32 x8 pair-summed */
        for (int c = 0; c < QK_K / 32; c++) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) q[k] = scale_round(_mm256_loadu_ps(x + 32 * c + 8 * k), isv, lo, hi);
            _mm256_storeu_si256((__m256i *)(y[i].qs + 32 * c), pack32(q));
            g[2 * c] = _mm256_add_epi32(q[0], q[1]);
            g[2 * c + 1] = _mm256_add_epi32(q[2], q[3]);
        }
        for (int k = 0; k < QK_K / 16; k += 8) {
            const __m128i s0 = hsum4x_i32(g[k], g[k + 1], g[k + 2], g[k + 3]);
            const __m128i s1 = hsum4x_i32(g[k + 4], g[k + 5], g[k + 6], g[k + 7]);
            _mm_storeu_si128((__m128i *)(y[i].bsums + k), _mm_packs_epi32(s0, s1));
        }
        y[i].d = 1.0f / iscale;
    }
}

KERNEL void act_f16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = qw_fp32_to_fp16(x[i]);
}

/* qw_fp32_to_bf16 on 8 floats, as int32 lanes 0..0xffff */
HELPER __m256i bf16_round8(__m256i b) {
    const __m256i hi = _mm256_srli_epi32(b, 16);
    const __m256i isnan = _mm256_cmpgt_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff)),
                                             _mm256_set1_epi32(0x7f800000));
    const __m256i nanv = _mm256_or_si256(hi, _mm256_set1_epi32(64));
    const __m256i bias = _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(hi, _mm256_set1_epi32(1)));
    const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(b, bias), 16);
    return _mm256_blendv_epi8(r, nanv, isnan);
}

KERNEL void act_bf16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i a = bf16_round8(load256(x + i)), b = bf16_round8(load256(x + i + 8));
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(y + i), p);
    }
    for (; i < n; i++) y[i] = qw_fp32_to_bf16(x[i]);
}

/* ======================================================================== */
/* 4 activation rows at once (vec_dot_x4): prompt batches                    */
/* ======================================================================== */

/* Each weight block is unpacked once and multiplied by the blocks of 4
 * activation rows; every row keeps its own accumulators and gets exactly the
 * float operations of the single-row kernel above, in the same order (the
 * integer parts are exact, so how they are grouped does not matter). */

#define Y4(BY) const BY *y[4] = {(const BY *)vy, (const BY *)((const uint8_t *)vy + ys), \
                                 (const BY *)((const uint8_t *)vy + 2 * ys),          \
                                 (const BY *)((const uint8_t *)vy + 3 * ys)}

/* the weight operand of one block, and its lane sums against an activation block */
HELPER __m256i wq_q8_0(const block_q8_0 *xb) { return load256(xb->qs); }
HELPER __m256i mul_q8_0(__m256i w, const block_q8_0 *yb) {
    return pairs_to_lanes(mul_pairs_signed(w, load256(yb->qs)));
}
HELPER __m256i wq_q4_0(const block_q4_0 *xb) { return nibbles32(xb->qs); }
HELPER __m256i mul_q4_0(__m256i q, const block_q8_0 *yb) {
    const __m256i yv = load256(yb->qs);
    return pairs_to_lanes(_mm256_sub_epi16(_mm256_maddubs_epi16(q, yv), _mm256_maddubs_epi16(_mm256_set1_epi8(8), yv)));
}
HELPER __m256i wq_q5_0(const block_q5_0 *xb) {
    return _mm256_or_si256(nibbles32(xb->qs), _mm256_and_si256(bits32(xb->qh), _mm256_set1_epi8(16)));
}
HELPER __m256i mul_q5_0(__m256i q, const block_q8_0 *yb) {
    const __m256i yv = load256(yb->qs);
    return pairs_to_lanes(_mm256_sub_epi16(_mm256_maddubs_epi16(q, yv), _mm256_maddubs_epi16(_mm256_set1_epi8(16), yv)));
}
HELPER __m256i wq_iq4_nl(const block_iq4_nl *xb) {
    const __m256i table = _mm256_broadcastsi128_si256(load128(kvalues_iq4nl));
    return _mm256_shuffle_epi8(table, nibbles32(xb->qs));
}
HELPER __m256i mul_iq4_nl(__m256i v, const block_q8_0 *yb) {
    return pairs_to_lanes(mul_pairs_signed(v, load256(yb->qs)));
}

/* LANES8_LOOP for 4 activation rows */
#define DEFINE_DOT_LANES8_X4(NAME, BX, BY, WQ, MUL)                                           \
    KERNEL void NAME(int64_t n, float *s, size_t ss, const void *vx, const void *vy, size_t ys) { \
        const BX *x = vx;                                                                     \
        Y4(BY);                                                                               \
        const int64_t nb = n / 32;                                                            \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),       \
                         _mm256_setzero_ps()};                                                \
        int64_t i = 0;                                                                        \
        for (; i + 8 <= nb; i += 8) {                                                         \
            float ds[4][8];                                                                   \
            for (int b = 0; b < 4; b++)                                                       \
                _mm256_storeu_ps(ds[b], scales8(&x[i].d, sizeof *x, &y[b][i].d, sizeof *y[b])); \
            for (int k = 0; k < 8; k++) {                                                     \
                const __m256i w = WQ(&x[i + k]);                                              \
                for (int b = 0; b < 4; b++) acc[b] = fma_lanes(ds[b][k], MUL(w, &y[b][i + k]), acc[b]); \
            }                                                                                 \
        }                                                                                     \
        for (; i < nb; i++) {                                                                 \
            const __m256i w = WQ(&x[i]);                                                      \
            const float xd = h2f(x[i].d);                                                     \
            for (int b = 0; b < 4; b++) acc[b] = fma_lanes(xd * h2f(y[b][i].d), MUL(w, &y[b][i]), acc[b]); \
        }                                                                                     \
        for (int b = 0; b < 4; b++) s[(size_t)b * ss] = hsum8(acc[b]);                        \
    }

DEFINE_DOT_LANES8_X4(dot_q8_0_x4, block_q8_0, block_q8_0, wq_q8_0, mul_q8_0)
DEFINE_DOT_LANES8_X4(dot_q4_0_x4, block_q4_0, block_q8_0, wq_q4_0, mul_q4_0)
DEFINE_DOT_LANES8_X4(dot_q5_0_x4, block_q5_0, block_q8_0, wq_q5_0, mul_q5_0)
DEFINE_DOT_LANES8_X4(dot_iq4_nl_x4, block_iq4_nl, block_q8_0, wq_iq4_nl, mul_iq4_nl)

/* dot_q4_0_rows8 (serial order) for 4 activation rows: the 4 block sums
 * are reduced together, then one scalar fma per row and block */
KERNEL void dot_q4_0_rows8_x4(int64_t n, float *s, size_t ss, const void *vx, const void *vy, size_t ys) {
    const block_q4_0 *x = vx;
    Y4(block_q8_0);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256i w = wq_q4_0(&x[i]);
        const float xd = h2f(x[i].d);
        int32_t sum[4];
        _mm_storeu_si128((__m128i *)sum, hsum4x_i32(mul_q4_0(w, &y[0][i]), mul_q4_0(w, &y[1][i]),
                                                    mul_q4_0(w, &y[2][i]), mul_q4_0(w, &y[3][i])));
        for (int b = 0; b < 4; b++) acc[b] = fmaf((float)sum[b], xd * h2f(y[b][i].d), acc[b]);
    }
    for (int b = 0; b < 4; b++) s[(size_t)b * ss] = acc[b];
}

#define DEFINE_DOT_Q45_K_X4(NAME, BLOCK, HIGHBITS)                                           \
    KERNEL void NAME(int64_t n, float *s, size_t ss, const void *vx, const void *vy, size_t ys) { \
        const BLOCK *x = vx;                                                                 \
        Y4(block_q8_K);                                                                      \
        const int64_t nb = n / QK_K;                                                         \
        const __m256i m4 = _mm256_set1_epi8(0x0f);                                           \
        const __m256i one = _mm256_set1_epi8(1);                                             \
        const __m256i step = _mm256_set1_epi16(0x0202);                                      \
        (void)one;                                                                           \
        __m256 acc[4];                                                                       \
        __m128 acc_m[4];                                                                     \
        for (int b = 0; b < 4; b++) {                                                        \
            acc[b] = _mm256_setzero_ps();                                                    \
            acc_m[b] = _mm_setzero_ps();                                                     \
        }                                                                                    \
        for (int64_t i = 0; i < nb; i++) {                                                   \
            const float xd = h2f(x[i].d), xdmin = h2f(x[i].dmin);                            \
            uint64_t sc, mn;                                                                 \
            unpack_k4_scales(x[i].scales, &sc, &mn);                                         \
            if (xdmin != 0.0f)                                                               \
                for (int b = 0; b < 4; b++) {                                                \
                    const float dmin = -y[b][i].d * xdmin;                                   \
                    const __m128i pm = k4_min_lanes(mn, y[b][i].bsums);                      \
                    acc_m[b] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(pm), acc_m[b]); \
                }                                                                            \
            const __m256i sc16 = _mm256_broadcastsi128_si256(                                \
                _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));                        \
            __m256i sel = _mm256_set1_epi16(0x0100);                                         \
            __m256i sum[4];                                                                  \
            for (int b = 0; b < 4; b++) sum[b] = _mm256_setzero_si256();                     \
            HIGHBITS##_INIT                                                                  \
            for (int c = 0; c < 4; c++) {                                                    \
                const __m256i wb = load256(x[i].qs + 32 * c);                                \
                __m256i q0 = _mm256_and_si256(wb, m4);                                       \
                __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(wb, 4), m4);                 \
                HIGHBITS##_APPLY                                                             \
                const __m256i s0 = _mm256_shuffle_epi8(sc16, sel);                           \
                sel = _mm256_add_epi8(sel, step);                                            \
                const __m256i s1 = _mm256_shuffle_epi8(sc16, sel);                           \
                sel = _mm256_add_epi8(sel, step);                                            \
                for (int b = 0; b < 4; b++) {                                                \
                    const __m256i p0 = _mm256_maddubs_epi16(q0, load256(y[b][i].qs + 64 * c)); \
                    const __m256i p1 = _mm256_maddubs_epi16(q1, load256(y[b][i].qs + 64 * c + 32)); \
                    sum[b] = _mm256_add_epi32(sum[b], _mm256_madd_epi16(p0, s0));            \
                    sum[b] = _mm256_add_epi32(sum[b], _mm256_madd_epi16(p1, s1));            \
                }                                                                            \
            }                                                                                \
            for (int b = 0; b < 4; b++) acc[b] = fma_lanes(y[b][i].d * xd, sum[b], acc[b]);   \
        }                                                                                    \
        for (int b = 0; b < 4; b++) s[(size_t)b * ss] = hsum8(acc[b]) + hsum4(acc_m[b]);    \
    }

DEFINE_DOT_Q45_K_X4(dot_q4_K_x4, block_q4_K, Q4K_HB)
DEFINE_DOT_Q45_K_X4(dot_q5_K_x4, block_q5_K, Q5K_HB)

KERNEL void dot_q6_K_x4(int64_t n, float *s, size_t ss, const void *vx, const void *vy, size_t ys) {
    const block_q6_K *x = vx;
    Y4(block_q8_K);
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    const __m256i m32 = _mm256_set1_epi8(32);
    const __m128i two = _mm_set1_epi8(2);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        const float xd = h2f(x[i].d);
        const __m128i sc8 = load128(x[i].scales);
        __m256i sum[4];
        for (int b = 0; b < 4; b++) sum[b] = _mm256_setzero_si256();
        __m128i sel = first_pair_sel();
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = load256(x[i].ql + 64 * h), l1 = load256(x[i].ql + 64 * h + 32);
            const __m256i qh = load256(x[i].qh + 32 * h);
            __m256i q[4];
            q[0] = _mm256_and_si256(l0, m4);
            q[1] = _mm256_and_si256(l1, m4);
            q[2] = _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4);
            q[3] = _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4);
            q[0] = _mm256_or_si256(q[0], _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            q[1] = _mm256_or_si256(q[1], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            q[2] = _mm256_or_si256(q[2], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            q[3] = _mm256_or_si256(q[3], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            for (int g = 0; g < 4; g++) {
                const __m256i scl = scale_pair16(sc8, sel);
                sel = _mm_add_epi8(sel, two);
                for (int b = 0; b < 4; b++) {
                    const __m256i yv = load256(y[b][i].qs + 128 * h + 32 * g);
                    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[g], yv), _mm256_maddubs_epi16(m32, yv));
                    sum[b] = _mm256_add_epi32(sum[b], _mm256_madd_epi16(p, scl));
                }
            }
        }
        for (int b = 0; b < 4; b++) acc[b] = fma_lanes(y[b][i].d * xd, sum[b], acc[b]);
    }
    for (int b = 0; b < 4; b++) s[(size_t)b * ss] = hsum8(acc[b]);
}

/* ======================================================================== */
/* several weight rows against 1 activation row (vec_dot_r4 / _rows8_r8):   */
/* generation                                                               */
/* ======================================================================== */

/* Each weight row keeps its own accumulator and gets exactly the float
 * operations of the single-row kernel, in the same order; the activation
 * block (and its scale) is loaded once for all rows, and the rows' fma
 * chains, each one fma per block, overlap instead of waiting on each other. */

/* 8 fp16 values at p, p + stride, ... as floats */
HELPER __m256 halves8(const void *p, size_t stride) {
    const uint8_t *a = p;
    return _mm256_cvtph_ps(_mm_setr_epi16((short)ld16(a), (short)ld16(a + stride), (short)ld16(a + 2 * stride),
                                          (short)ld16(a + 3 * stride), (short)ld16(a + 4 * stride),
                                          (short)ld16(a + 5 * stride), (short)ld16(a + 6 * stride),
                                          (short)ld16(a + 7 * stride)));
}

/* LANES8_LOOP for QW_MR_LANES8 = 4 weight rows; d = fp16(xd) * fp16(yd) per
 * block as in scales8 (8 blocks' products at once) */
#define DEFINE_DOT_LANES8_R4(NAME, BX, BY, WQ, MUL)                                             \
    KERNEL void NAME(int64_t n, float *s, const void *vx, size_t xs, const void *vy) {          \
        const BX *x[4] = {(const BX *)vx, (const BX *)((const uint8_t *)vx + xs),               \
                          (const BX *)((const uint8_t *)vx + 2 * xs),                           \
                          (const BX *)((const uint8_t *)vx + 3 * xs)};                          \
        const BY *y = vy;                                                                       \
        const int64_t nb = n / 32;                                                              \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),         \
                         _mm256_setzero_ps()};                                                  \
        int64_t i = 0;                                                                          \
        for (; i + 8 <= nb; i += 8) {                                                           \
            /* prefetch hint: the caller's next 4 rows, 8 blocks' bytes per step */             \
            const uintptr_t pf = (uintptr_t)vx + 4 * xs + (uintptr_t)i * 4 * sizeof(BX);        \
            for (size_t o = 0; o < 32 * sizeof(BX); o += 64) _mm_prefetch((const char *)(pf + o), _MM_HINT_T0); \
            const __m256 yd = halves8(&y[i].d, sizeof *y);                                      \
            float ds[4][8];                                                                     \
            for (int r = 0; r < 4; r++)                                                         \
                _mm256_storeu_ps(ds[r], _mm256_mul_ps(halves8(&x[r][i].d, sizeof(BX)), yd));    \
            for (int k = 0; k < 8; k++)                                                         \
                for (int r = 0; r < 4; r++)                                                     \
                    acc[r] = fma_lanes(ds[r][k], MUL(WQ(&x[r][i + k]), &y[i + k]), acc[r]);     \
        }                                                                                       \
        for (; i < nb; i++) {                                                                   \
            const float yd = h2f(y[i].d);                                                       \
            for (int r = 0; r < 4; r++)                                                         \
                acc[r] = fma_lanes(h2f(x[r][i].d) * yd, MUL(WQ(&x[r][i]), &y[i]), acc[r]);      \
        }                                                                                       \
        for (int r = 0; r < 4; r++) s[r] = hsum8(acc[r]);                                       \
    }

DEFINE_DOT_LANES8_R4(dot_q8_0_r4, block_q8_0, block_q8_0, wq_q8_0, mul_q8_0)
DEFINE_DOT_LANES8_R4(dot_q4_0_r4, block_q4_0, block_q8_0, wq_q4_0, mul_q4_0)
DEFINE_DOT_LANES8_R4(dot_q5_0_r4, block_q5_0, block_q8_0, wq_q5_0, mul_q5_0)
DEFINE_DOT_LANES8_R4(dot_iq4_nl_r4, block_iq4_nl, block_q8_0, wq_iq4_nl, mul_iq4_nl)

/* [sum(p[0]), ..., sum(p[7])] of 8 vectors of 16 int16 whose every partial
 * sum fits in int16: the (q - 8) * y pair sums of one Q4_0 block, |q - 8| <=
 * 8 and |y| <= 127, so any k of a row's 16 pairs sum to at most 16 * 2032 =
 * 32512 in magnitude and this tree of int16 additions is exact. */
HELPER __m256i hsum8x_i16(const __m256i p[8]) {
    __m256i a[4], b[2];
    for (int k = 0; k < 4; k++) /* rows 2k, 2k+1 interleaved, 4 partial sums each per 128-bit lane */
        a[k] = _mm256_add_epi16(_mm256_unpacklo_epi16(p[2 * k], p[2 * k + 1]),
                                _mm256_unpackhi_epi16(p[2 * k], p[2 * k + 1]));
    for (int k = 0; k < 2; k++) /* rows 4k..4k+3, 2 partial sums each per lane */
        b[k] = _mm256_add_epi16(_mm256_unpacklo_epi32(a[2 * k], a[2 * k + 1]),
                                _mm256_unpackhi_epi32(a[2 * k], a[2 * k + 1]));
    /* rows 0..7, one partial sum each per lane */
    const __m256i c = _mm256_add_epi16(_mm256_unpacklo_epi64(b[0], b[1]), _mm256_unpackhi_epi64(b[0], b[1]));
    return _mm256_cvtepi16_epi32(_mm_add_epi16(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1)));
}

/* dot_q4_0_rows8 (serial order) for QW_MR_ROWS8 = 8 weight rows: lane r of
 * one accumulator is row r's scalar chain, acc = fma((float)sum, xd * yd,
 * acc) per block -- llama.cpp's interleaved layout, lane for lane.
 * Rows r and r + 4 share one vector (row r in the low 128-bit lane, row r + 4
 * in the high one): the low nibbles of both meet y[0..15] and the high
 * nibbles y[16..31], each broadcast to both lanes. The 8 * y term of
 * (q - 8) * y is subtracted once per row pair from the pair sums; then every
 * int16 partial sum covers at most 8 pairs, |sum| <= 8 * 2032 = 16256, so
 * the hadd tree is exact, and the last level (madd with 1) widens to int32:
 * lane r = row r's exact block sum, as in the scalar reference. */
KERNEL void dot_q4_0_rows8_r8(int64_t n, float *s, const void *vx, size_t xs, const void *vy) {
    const uint8_t *xb = vx;
    const block_q8_0 *y = vy;
    const __m256i eight = _mm256_set1_epi8(8), m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256i ylo = _mm256_broadcastsi128_si256(load128(y[i].qs));
        const __m256i yhi = _mm256_broadcastsi128_si256(load128(y[i].qs + 16));
        /* 8 * (y[2j] + y[2j+1] + y[16+2j] + y[17+2j]) in int16 j of each lane */
        const __m256i c = _mm256_add_epi16(_mm256_maddubs_epi16(eight, ylo), _mm256_maddubs_epi16(eight, yhi));
        { /* prefetch hint for the 8 rows after these (the caller's next group:
           * bytes [8 * xs, 16 * xs) from xb), 8 blocks' bytes per block; a
           * prefetch never faults, even past the matrix, and changes no result */
            const char *pf = (const char *)((uintptr_t)xb + 8 * xs + (uintptr_t)i * 8 * sizeof(block_q4_0));
            _mm_prefetch(pf, _MM_HINT_T0);
            _mm_prefetch(pf + 64, _MM_HINT_T0);
            _mm_prefetch(pf + 128, _MM_HINT_T0);
        }
        __m256i v[4];
        for (int r = 0; r < 4; r++) {
            const block_q4_0 *x0 = (const block_q4_0 *)(xb + (size_t)r * xs) + i;
            const block_q4_0 *x1 = (const block_q4_0 *)(xb + (size_t)(r + 4) * xs) + i;
            const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(x0->qs)), load128(x1->qs), 1);
            const __m256i lo = _mm256_maddubs_epi16(_mm256_and_si256(q, m4), ylo);
            const __m256i hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), yhi);
            v[r] = _mm256_sub_epi16(_mm256_add_epi16(lo, hi), c);
        }
        const __m256i h = _mm256_hadd_epi16(_mm256_hadd_epi16(v[0], v[1]), _mm256_hadd_epi16(v[2], v[3]));
        const __m256 d = _mm256_mul_ps(halves8(&((const block_q4_0 *)xb)[i].d, xs), _mm256_set1_ps(h2f(y[i].d)));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(h, ones)), d, acc);
    }
    _mm256_storeu_ps(s, acc);
}

/* ======================================================================== */
/* many weight rows x 4 activation rows (vec_dot_gemm4 / _rows8_gemm4):     */
/* prompt batches                                                           */
/* ======================================================================== */

/* The activation scales of the 4 rows are converted to float once per call
 * (up to GEMM4_NB_MAX blocks; longer rows go through the _x4 kernels), the
 * weight scales once per weight block for all 4 rows, and every weight
 * block is unpacked once for the 4 activation rows; each (weight row,
 * activation row) pair keeps its own accumulator and gets the float
 * operations of the single-row kernel in the same order. */
#define GEMM4_NB_MAX 512

HELPER void act_scales4(float yd[4][GEMM4_NB_MAX], const void *vy, size_t ys, size_t bsize, size_t doff,
                        int64_t nb) {
    for (int b = 0; b < 4; b++) {
        const uint8_t *y = (const uint8_t *)vy + (size_t)b * ys + doff;
        int64_t i = 0;
        for (; i + 8 <= nb; i += 8) _mm256_storeu_ps(yd[b] + i, halves8(y + (size_t)i * bsize, bsize));
        for (; i < nb; i++) yd[b][i] = h2f(ld16(y + (size_t)i * bsize));
    }
}

/* lanes8 types: 2 weight rows x 4 activation rows per step */
#define DEFINE_DOT_LANES8_GEMM4(NAME, BX, BY, WQ, MUL, X4)                                          \
    KERNEL void NAME(int64_t n, int64_t nr, float *s, size_t ss, const void *vx, size_t xs, const void *vy, \
                     size_t ys) {                                                                   \
        const int64_t nb = n / 32;                                                                  \
        if (nb > GEMM4_NB_MAX) {                                                                    \
            for (int64_t r = 0; r < nr; r++) X4(n, s + r, ss, (const uint8_t *)vx + (size_t)r * xs, vy, ys); \
            return;                                                                                 \
        }                                                                                           \
        Y4(BY);                                                                                     \
        float yd[4][GEMM4_NB_MAX];                                                                  \
        act_scales4(yd, vy, ys, sizeof(BY), offsetof(BY, d), nb);                                                    \
        int64_t r = 0;                                                                              \
        for (; r + 2 <= nr; r += 2) {                                                               \
            const BX *x0 = (const BX *)((const uint8_t *)vx + (size_t)r * xs);                      \
            const BX *x1 = (const BX *)((const uint8_t *)vx + (size_t)(r + 1) * xs);                \
            __m256 a0[4], a1[4];                                                                    \
            for (int b = 0; b < 4; b++) a0[b] = a1[b] = _mm256_setzero_ps();                        \
            int64_t i = 0;                                                                          \
            for (; i + 8 <= nb; i += 8) {                                                           \
                const __m256 xd0 = halves8(&x0[i].d, sizeof(BX)), xd1 = halves8(&x1[i].d, sizeof(BX)); \
                float d0[4][8], d1[4][8];                                                           \
                for (int b = 0; b < 4; b++) {                                                       \
                    const __m256 ydv = _mm256_loadu_ps(yd[b] + i);                                  \
                    _mm256_storeu_ps(d0[b], _mm256_mul_ps(xd0, ydv));                               \
                    _mm256_storeu_ps(d1[b], _mm256_mul_ps(xd1, ydv));                               \
                }                                                                                   \
                for (int k = 0; k < 8; k++) {                                                       \
                    const __m256i w0 = WQ(&x0[i + k]), w1 = WQ(&x1[i + k]);                         \
                    for (int b = 0; b < 4; b++) {                                                   \
                        a0[b] = fma_lanes(d0[b][k], MUL(w0, &y[b][i + k]), a0[b]);                  \
                        a1[b] = fma_lanes(d1[b][k], MUL(w1, &y[b][i + k]), a1[b]);                  \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
            for (; i < nb; i++) {                                                                   \
                const __m256i w0 = WQ(&x0[i]), w1 = WQ(&x1[i]);                                     \
                const float xd0 = h2f(x0[i].d), xd1 = h2f(x1[i].d);                                 \
                for (int b = 0; b < 4; b++) {                                                       \
                    a0[b] = fma_lanes(xd0 * yd[b][i], MUL(w0, &y[b][i]), a0[b]);                    \
                    a1[b] = fma_lanes(xd1 * yd[b][i], MUL(w1, &y[b][i]), a1[b]);                    \
                }                                                                                   \
            }                                                                                       \
            for (int b = 0; b < 4; b++) {                                                           \
                s[(size_t)b * ss + (size_t)r] = hsum8(a0[b]);                                       \
                s[(size_t)b * ss + (size_t)r + 1] = hsum8(a1[b]);                                   \
            }                                                                                       \
        }                                                                                           \
        if (r < nr) X4(n, s + r, ss, (const uint8_t *)vx + (size_t)r * xs, vy, ys);                 \
    }

DEFINE_DOT_LANES8_GEMM4(dot_q8_0_gemm4, block_q8_0, block_q8_0, wq_q8_0, mul_q8_0, dot_q8_0_x4)
DEFINE_DOT_LANES8_GEMM4(dot_q4_0_gemm4, block_q4_0, block_q8_0, wq_q4_0, mul_q4_0, dot_q4_0_x4)
DEFINE_DOT_LANES8_GEMM4(dot_q5_0_gemm4, block_q5_0, block_q8_0, wq_q5_0, mul_q5_0, dot_q5_0_x4)
DEFINE_DOT_LANES8_GEMM4(dot_iq4_nl_gemm4, block_iq4_nl, block_q8_0, wq_iq4_nl, mul_iq4_nl, dot_iq4_nl_x4)

/* dot_q4_0_rows8 (serial order), 8 weight rows x 4 activation rows per
 * step: lane r of accumulator b is the scalar chain of (row r, activation
 * row b), as in dot_q4_0_rows8_r8 */
KERNEL void dot_q4_0_rows8_gemm4(int64_t n, int64_t nr, float *s, size_t ss, const void *vx, size_t xs,
                                 const void *vy, size_t ys) {
    Y4(block_q8_0);
    const int64_t nb = n / 32;
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t r0 = 0; r0 + 8 <= nr; r0 += 8) {
        const uint8_t *xb = (const uint8_t *)vx + (size_t)r0 * xs;
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t i = 0; i < nb; i++) {
            __m256i w[8];
            for (int r = 0; r < 8; r++) w[r] = nibbles32(((const block_q4_0 *)(xb + (size_t)r * xs))[i].qs);
            const __m256 xd = halves8(&((const block_q4_0 *)xb)[i].d, xs);
            for (int b = 0; b < 4; b++) {
                const __m256i yv = load256(y[b][i].qs);
                const __m256i y8 = _mm256_maddubs_epi16(eight, yv);
                __m256i p[8];
                for (int r = 0; r < 8; r++) p[r] = _mm256_sub_epi16(_mm256_maddubs_epi16(w[r], yv), y8);
                const __m256 d = _mm256_mul_ps(xd, _mm256_set1_ps(h2f(y[b][i].d)));
                acc[b] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8x_i16(p)), d, acc[b]);
            }
        }
        for (int b = 0; b < 4; b++) _mm256_storeu_ps(s + (size_t)b * ss + (size_t)r0, acc[b]);
    }
}

/* ======================================================================== */
/* F32 attention / FFN kernels (accum.h steps64 and lanes16, core/vexp.h)   */
/* ======================================================================== */

/* qw_dot_f32_steps64: accumulator j = a[2j] (lanes 0..7), a[2j+1] (8..15) */
KERNEL float dot_f32_steps64(const float *x, const float *y, int n) {
    const int np = n & ~63;
    float sum = 0.0f;
    if (np) {
        __m256 a[8];
        for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_ps();
        for (int i = 0; i < np; i += 64)
            for (int k = 0; k < 8; k++)
                a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), a[k]);
        /* acc0 += acc2, acc1 += acc3, acc0 += acc1 */
        const __m256 lo = _mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6]));
        const __m256 hi = _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7]));
        sum = hsum8(_mm256_add_ps(hi, lo)); /* qw_hsum16 */
    }
    for (int i = np; i < n; i++) sum += x[i] * y[i];
    return sum;
}

/* the columns of 8 rows of 8 floats: c[e] lane u = r[u] lane e */
HELPER void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xee);
        u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xee);
    }
    for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
        r[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
    }
}

/* qw_dot_f32_steps64 for many keys: the 64-element steps key by key as
 * above, then the tail (one product at a time, in float) for 8 keys at once,
 * key u in lane u -- the same multiply and add per element, in order */
KERNEL void dot_f32_steps64_keys(const float *q, const float *k, size_t ks, int n_keys, int n, float *out) {
    const int np = n & ~63;
    int t = 0;
    for (; t + 8 <= n_keys; t += 8) {
        const float *kt = k + (size_t)t * ks;
        __m256 sum = _mm256_setzero_ps();
        if (np) {
            float s8[8];
            for (int u = 0; u < 8; u++) s8[u] = dot_f32_steps64(q, kt + (size_t)u * ks, np);
            sum = _mm256_loadu_ps(s8);
        }
        int i = np;
        for (; i + 8 <= n; i += 8) {
            __m256 c[8];
            for (int u = 0; u < 8; u++) c[u] = _mm256_loadu_ps(kt + (size_t)u * ks + i);
            transpose8(c);
            for (int e = 0; e < 8; e++) sum = _mm256_add_ps(sum, _mm256_mul_ps(_mm256_set1_ps(q[i + e]), c[e]));
        }
        for (; i < n; i++) {
            const __m256 c = _mm256_setr_ps(kt[i], kt[ks + i], kt[2 * ks + i], kt[3 * ks + i], kt[4 * ks + i],
                                            kt[5 * ks + i], kt[6 * ks + i], kt[7 * ks + i]);
            sum = _mm256_add_ps(sum, _mm256_mul_ps(_mm256_set1_ps(q[i]), c));
        }
        _mm256_storeu_ps(out + t, sum);
    }
    for (; t < n_keys; t++) out[t] = dot_f32_steps64(q, k + (size_t)t * ks, n);
}

/* qw_rope_ref. Normal (adjacent pairs) 4 pairs at a time: with X = [x0 x1
 * ...] and CS = [c s ...], the even lanes get fma(x0, c, x1 * -s) and the odd
 * ones fma(x0, s, x1 * c); x1 * -s is -(x1 * s) exactly. The rest (tail
 * pairs, neox) in scalar form, fmaf being the hardware fma here. */
KERNEL void rope(float *v, int n_heads, int head_stride, const float *cs, int rope_dim, int neox) {
    const int np = rope_dim / 2;
    const __m256 negeven = _mm256_setr_ps(-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f);
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * (size_t)head_stride;
        int i = 0;
        if (!neox)
            for (; i + 4 <= np; i += 4) {
                const __m256 X = _mm256_loadu_ps(x + 2 * i), CS = _mm256_loadu_ps(cs + 2 * i);
                const __m256 x0 = _mm256_moveldup_ps(X), x1 = _mm256_movehdup_ps(X);
                const __m256 sc = _mm256_xor_ps(_mm256_permute_ps(CS, 0xb1), negeven); /* [-s c ...] */
                _mm256_storeu_ps(x + 2 * i, _mm256_fmadd_ps(x0, CS, _mm256_mul_ps(x1, sc)));
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

KERNEL float dot_f32_lanes16(const float *x, const float *y, int n) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), hi);
    }
    return hsum8(_mm256_add_ps(hi, lo));
}

/* qw_vexpf on 8 lanes: the same fma sequence; ldexpf(p, n) as a multiply by
 * 2^n built in the exponent bits. That is exact (p is normal, about 0.7..1.5)
 * for n in -126..127; outside it, up to |n| = 192, p is first scaled exactly
 * by 2^(n -+ 100) and then by 2^(+-100), one rounding, which is what ldexpf
 * gives (correctly rounded, subnormal or overflowing to inf). |n| > 192
 * saturates to 0 / inf as the reference; NaN stays NaN. */
HELPER __m256 vexpf8(__m256 x) {
    const __m256 shifter = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shifter);
    const __m256 n = _mm256_sub_ps(z, shifter);
    const __m256 nn = _mm256_xor_ps(n, _mm256_set1_ps(-0.0f));
    const __m256 b = _mm256_fmadd_ps(nn, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                     _mm256_fmadd_ps(nn, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 p = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    const __m256 lo = _mm256_cmp_ps(n, _mm256_set1_ps(-126.0f), _CMP_LT_OQ);
    const __m256 hi = _mm256_cmp_ps(n, _mm256_set1_ps(127.0f), _CMP_GT_OQ);
    const __m256i c100 = _mm256_set1_epi32(100);
    __m256i k = _mm256_add_epi32(_mm256_cvtps_epi32(n),
                                 _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(lo), c100),
                                                  _mm256_and_si256(_mm256_castps_si256(hi), c100)));
    k = _mm256_max_epi32(_mm256_min_epi32(k, _mm256_set1_epi32(127)), _mm256_set1_epi32(-126));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
    const __m256 s2 = _mm256_blendv_ps(_mm256_blendv_ps(_mm256_set1_ps(1.0f), _mm256_set1_ps(0x1p-100f), lo),
                                       _mm256_set1_ps(0x1p100f), hi);
    const __m256 r = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    const __m256 absn = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 sat = _mm256_cmp_ps(absn, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 satv = _mm256_blendv_ps(_mm256_set1_ps(INFINITY), _mm256_setzero_ps(),
                                         _mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ));
    return _mm256_blendv_ps(r, satv, sat);
}

KERNEL double exp_sum16(float *x, int n, float sub) {
    const __m256 m = _mm256_set1_ps(sub);
    double sum = 0.0;
    for (int t = 0; t + 15 < n; t += 16) {
        const __m256 lo = vexpf8(_mm256_sub_ps(_mm256_loadu_ps(x + t), m));
        const __m256 hi = vexpf8(_mm256_sub_ps(_mm256_loadu_ps(x + t + 8), m));
        _mm256_storeu_ps(x + t, lo);
        _mm256_storeu_ps(x + t + 8, hi);
        sum += (double)hsum8(_mm256_add_ps(hi, lo)); /* qw_hsum16 */
    }
    return sum;
}

KERNEL void swiglu(float *gate, const float *up, int n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    const int nf = n & ~15;
    for (int i = 0; i < nf; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = vexpf8(_mm256_xor_ps(g, sign));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    for (int i = nf; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/* ======================================================================== */
/* the set                                                                  */
/* ======================================================================== */

static const qw_kernel_set g_avx2 = {
    .name = "avx2",
    .vec_dot =
        {
            [QW_TYPE_F32] = dot_f32,
            [QW_TYPE_F16] = dot_f16,
            [QW_TYPE_BF16] = dot_bf16,
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
    .vec_dot_x4 =
        {
            [QW_TYPE_Q4_0] = dot_q4_0_x4,
            [QW_TYPE_Q5_0] = dot_q5_0_x4,
            [QW_TYPE_Q8_0] = dot_q8_0_x4,
            [QW_TYPE_IQ4_NL] = dot_iq4_nl_x4,
            [QW_TYPE_Q4_K] = dot_q4_K_x4,
            [QW_TYPE_Q5_K] = dot_q5_K_x4,
            [QW_TYPE_Q6_K] = dot_q6_K_x4,
        },
    .vec_dot_rows8_x4 = {[QW_TYPE_Q4_0] = dot_q4_0_rows8_x4},
    .quantize_act =
        {
            [QW_TYPE_Q8_0] = act_q8_0,
            [QW_TYPE_Q8_1] = act_q8_1,
            [QW_TYPE_Q8_K] = act_q8_K,
            [QW_TYPE_F16] = act_f16,
            [QW_TYPE_BF16] = act_bf16,
        },
    .dot_f32_steps64 = dot_f32_steps64,
    .dot_f32_lanes16 = dot_f32_lanes16,
    .exp_sum16 = exp_sum16,
    .swiglu = swiglu,
    .dot_f32_steps64_keys = dot_f32_steps64_keys,
    .rope = rope,
    .vec_dot_r4 =
        {
            [QW_TYPE_Q4_0] = dot_q4_0_r4,
            [QW_TYPE_Q5_0] = dot_q5_0_r4,
            [QW_TYPE_Q8_0] = dot_q8_0_r4,
            [QW_TYPE_IQ4_NL] = dot_iq4_nl_r4,
        },
    .vec_dot_rows8_r8 = {[QW_TYPE_Q4_0] = dot_q4_0_rows8_r8},
    .vec_dot_gemm4 =
        {
            [QW_TYPE_Q4_0] = dot_q4_0_gemm4,
            [QW_TYPE_Q5_0] = dot_q5_0_gemm4,
            [QW_TYPE_Q8_0] = dot_q8_0_gemm4,
            [QW_TYPE_IQ4_NL] = dot_iq4_nl_gemm4,
        },
    .vec_dot_rows8_gemm4 = {[QW_TYPE_Q4_0] = dot_q4_0_rows8_gemm4},
};

/* F16C is CPUID.1:ECX bit 29 (asked directly: not every compiler's
 * __builtin_cpu_supports knows "f16c"); its YMM state is covered by the
 * avx2 check, which includes the OS's XSAVE support. */
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c >> 29) & 1u;
}

const qw_kernel_set *qw_kernels_avx2(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c())
        return &g_avx2;
    return NULL;
}

#else /* not x86-64 with GCC/clang */

const qw_kernel_set *qw_kernels_avx2(void) { return NULL; }

#endif

/* WebAssembly SIMD128 kernels, in two builds from this one file:
 *
 *   baseline ("wasm-simd128"): SIMD128 only, so every current browser runs
 *       the same instructions with the same results. SIMD128 has no fused
 *       multiply-add, so fmaf is emulated exactly in f64x2 (next section).
 *   relaxed ("wasm-relaxed-simd", compiled with -mrelaxed-simd, which
 *       defines __wasm_relaxed_simd__): the fmaf lanes use relaxed SIMD's
 *       f32x4.relaxed_madd (clang's __builtin_wasm_fma_f32x4; the build
 *       renumbers clang 14's early opcode, scripts/wasm-relaxed.mjs). Relaxed
 *       SIMD lets an engine compute it fused or unfused; V8 fuses it on x86
 *       with FMA3 and on ARM64, and there it is exactly fmaf per lane, with
 *       none of the emulation's cost. An unfused engine would give wrong
 *       (not reference) results, so the relaxed build must only run where
 *       qw_wasm_fma_fused() returns 1 (the JS side checks before loading
 *       it); core/qfma.h's qw_fmaf uses the same instruction in that build.
 *       Otherwise the builds share their code, except that the relaxed
 *       4-row kernels (vec_dot_r4) and Q4_K / Q5_K form the same integer
 *       lane sums another way (relaxed integer dot products), and the 4-row
 *       kernels convert four rows' scales at once (there, with the fma
 *       cheap, those steps were what was left to speed up).
 *
 * Every kernel is bit-identical to its scalar reference: integer parts are
 * exact (i8 -> i16 widening, i32x4.dot_i16x8_s, exact i32 sums), and the
 * float parts perform the reference's operations in the reference's order
 * (accum.h). Compiled only when __wasm_simd128__ is defined; elsewhere
 * qw_kernels_wasm_simd128() returns NULL.
 *
 * The fmaf lanes are written against a few small types with one
 * implementation per build: lanes8 (the eight lanes8 accumulators), rows8
 * (eight rows' serial Q4_0 accumulators), mins4 (K-quant min sums), acc16
 * (16 F32 dot lanes) and x16 (16 lanes of the vectorised exp). Baseline
 * holds each float lane widened to double in f64x2 vectors; relaxed holds
 * floats in f32x4 vectors.
 *
 * ---- fmaf without a fused multiply-add (baseline build) ---------------
 *
 * The block types accumulate acc = fmaf(d, (float)s, acc) per lane, where
 * d is a float and s an integer lane sum (Q4_0's serial order, for
 * matrices of 8k rows, does the same on one accumulator with the block sum). SIMD128 has no fma, so each lane
 * is computed in f64x2:
 *
 *   P = (double)d * (double)s   exact: |s| <= 2^24 (see below), so d and s
 *                               have at most 24 significant bits each and
 *                               the product at most 48 <= 53; no over- or
 *                               underflow for float inputs.
 *   r = P + acc                 one rounding to double (RN53)
 *   result = (float)r           a second rounding, to float (RN24)
 *
 * Claim: RN24(RN53(S)) == RN24(S) (S = d*s + acc, exact) unless r is exactly
 * halfway between two adjacent floats and r != S. Proof: every float
 * midpoint m (25 significant bits; also the overflow threshold) is a double,
 * and RN53 is monotone, so S < m implies r <= m and S > m implies r >= m.
 * If r is not a midpoint, r and S are therefore on the same side of every
 * midpoint, i.e. in the same rounding interval of RN24, and round to the
 * same float (an S exactly on a midpoint is a double, so then r == S and
 * ties-to-even applies to both alike).
 *
 * Which midpoints can occur: d is a float, so d*s and acc are integer
 * multiples of 2^-149, and so is S. If |r| < 2^-126 (the range where floats
 * are subnormal) then |S| < 2^-126 too and S = k * 2^-149 with |k| < 2^23,
 * which a double holds exactly: r == S. So a harmful midpoint is always in
 * the normal float range, where it is recognised exactly by its bits: the
 * 29 low mantissa bits of r are 1 followed by 28 zeros (0x10000000).
 *
 * The kernels test that pattern on every lane (and + i64x2.eq, or-ed over
 * the block, one branch). When any lane matches, the block's lanes get the
 * fix, branch-free in f64x2: the exact error e = S - r from TwoSum, and
 * where r is a midpoint and e != 0, r moves one double ulp towards S. The
 * moved r lies strictly between m and the next float (floats are >= 2^29
 * double ulps apart), on S's side, so RN24 of it is RN24(S): the correctly
 * rounded fmaf. An exact midpoint (e == 0) keeps ties-to-even, as fmaf does.
 * Harmful (inexact) midpoints are rare (~2^-29 per inexact lane operation);
 * exact ones are common when d*s has few significant bits (a quarter of
 * Q4_0 blocks), which is why the fix is vectorised rather than a scalar
 * fallback. Measured alternatives (n = 4096, node 20): the fix applied
 * unconditionally is 1.3-1.8x slower; libc fmaf per lane 2-3.5x slower
 * (and not correctly rounded, below).
 *
 * Lane sums are within 2^24 in magnitude for every format, so (float)s is
 * exact and equals the integer converted to double: the largest is Q6_K,
 * 32 elements of |scale*q*y| <= 128*32*128 = 2^19 per lane.
 *
 * Note: Emscripten's libc fmaf (musl's, with a no-op fesetround) is NOT
 * correctly rounded in exactly this halfway case: it always moves r away
 * from zero, so when S lies just inside a midpoint it returns the float
 * above (about one inexact lane operation in 10^9). So neither the kernels
 * nor the scalar reference use it: the reference's qw_fmaf (core/qfma.h) and
 * these kernels return the correctly rounded value, as fmaf does natively.
 *
 * F16 needs no such care: a product of two halves is exact in float (22
 * significant bits, exponent far from under/overflow), so fmaf(a, b, c) is
 * one float multiply (exact) and one float add (the single rounding).
 * F32/BF16 sum float products in double, strictly in order; those chains
 * stay sequential here (only loads, conversions and multiplies are SIMD). */
#include "kernels.h"

#if defined(__wasm_simd128__)

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <wasm_simd128.h>

#include "../core/qfma.h"
#include "../core/vexp.h"
#include "accum.h"
#include "blocks.h"
#include "fp16.h"

#if defined(__wasm_relaxed_simd__)
#define QW_WASM_FUSED 1
#else
#define QW_WASM_FUSED 0
#endif

/* qw_fp16_to_fp32 of every half (the same bits, NaN payloads included),
 * filled once when the module starts (a constructor: before any thread or
 * kernel runs), read by h2f / h2f4 for every block scale. A block's scale
 * then costs a 16-bit load, a shift and one load (four rows: one load and
 * three load-lanes), where the conversion took a branch for infinities,
 * shifts and masks, and four rows a gather into a vector, an infinity check
 * and the vector form, for which V8 rebuilt the constants every iteration
 * (Q8_0 4-row loop: ~150 -> 110 x86 instructions per block). Only the
 * entries of the scales in use get cached (a model's scales span few
 * exponents); 256 KB of memory, none of it in the .wasm file. */
static float g_h2f[1 << 16];

__attribute__((constructor)) static void h2f_table_init(void) {
    for (uint32_t h = 0; h < (1u << 16); h++) g_h2f[h] = qw_fp16_to_fp32((uint16_t)h);
}

static inline float h2f(uint16_t h) { return g_h2f[h]; }

/* Touch-ahead, WebAssembly's stand-in for the native kernels' prefetch of the
 * next row group (commit 7666aff): SIMD128 has no prefetch instruction, so the
 * several-row kernels load (and discard) one byte per cache line of the rows
 * after theirs, a few lines per block, so those lines are on their way while
 * this group is computed. In generation the weights stream from L3 or DRAM
 * and the kernels otherwise wait on them (synth15M Q8_0 in Node, 1 thread:
 * ~316 -> ~367 tokens/s). The single-row K-quant kernels, which a matrix
 * calls row after row, touch the next row the same way. The rows after the
 * last group of a matrix are some other memory: addresses are clamped below
 * the end of linear memory (its size read once per call), so a touch never
 * traps, and the byte read changes nothing. */
static inline uint64_t touch_limit(void) { return (uint64_t)__builtin_wasm_memory_size(0) * 65536u - 1; }

/* one byte per 64 bytes of [p, p + len) (the kernels touch consecutive spans,
 * so every cache line gets one), the span moved down if it would pass limit
 * (the last byte of memory; len is at most a few hundred bytes) */
static inline __attribute__((always_inline)) void touch_span(const void *p, size_t len, uint64_t limit) {
    uint64_t a = (uint64_t)(uintptr_t)p;
    if (a > limit - (len - 1)) a = limit - (len - 1);
    for (size_t o = 0; o < len; o += 64) (void)*(const volatile uint8_t *)(uintptr_t)(a + o);
}

#if QW_WASM_FUSED /* the baseline's kernels take one row's scale at a time */
/* the four halves' floats in lanes 0..3 */
static inline v128_t h2f4(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    v128_t v = wasm_v128_load32_zero(&g_h2f[a]);
    v = wasm_v128_load32_lane(&g_h2f[b], v, 1);
    v = wasm_v128_load32_lane(&g_h2f[c], v, 2);
    return wasm_v128_load32_lane(&g_h2f[d], v, 3);
}
#endif

#if !QW_WASM_FUSED

/* ======================================================================== */
/* exact fmaf, two lanes per f64x2 (baseline build)                         */
/* ======================================================================== */

/* r = RN53(p + c) for f64x2 lanes. Where r is a float midpoint and not
 * exact, returns r moved one double ulp towards p + c (see the header);
 * elsewhere r. The error e = p + c - r comes from TwoSum (exact for finite
 * lanes; NaN for infinite ones, which then compare false and stay). */
static inline v128_t fix_midpoints(v128_t r, v128_t p, v128_t c, v128_t mask, v128_t mid) {
    const v128_t zero = wasm_f64x2_const_splat(0.0);
    const v128_t cv = wasm_f64x2_sub(r, p), pv = wasm_f64x2_sub(r, cv);
    const v128_t e = wasm_f64x2_add(wasm_f64x2_sub(p, pv), wasm_f64x2_sub(c, cv));
    const v128_t inexact = wasm_v128_or(wasm_f64x2_lt(e, zero), wasm_f64x2_gt(e, zero));
    const v128_t move = wasm_v128_and(inexact, wasm_i64x2_eq(wasm_v128_and(r, mask), mid));
    /* +1 (away from zero) if e has r's sign, else -1, on the bits of r */
    const v128_t step = wasm_v128_or(wasm_i64x2_lt(wasm_v128_xor(e, r), wasm_i64x2_const_splat(0)),
                                     wasm_i64x2_const_splat(1));
    return wasm_i64x2_add(r, wasm_v128_and(step, move));
}

/* Rounds both f64x2 lanes to float (and back to double). The empty asm keeps
 * LLVM 14 from folding the two conversions into fpext(fptrunc(v2f64)), which
 * it scalarizes (2 extracts, 4 scalar conversions, splat + replace) instead of
 * emitting f32x4.demote_f64x2_zero + f64x2.promote_low_f32x4. */
static inline v128_t round_f32(v128_t r) {
    v128_t f = wasm_f32x4_demote_f64x2_zero(r);
    __asm__("" : "+r"(f));
    return wasm_f64x2_promote_low_f32x4(f);
}

/* acc[i] = (float)fmaf(d, s[i], acc[i]) lanewise, for n <= 4 vectors of two
 * lanes. acc holds float values widened to double; s holds integers of
 * magnitude <= 2^24 as doubles. The midpoint test is two operations per
 * vector; exact midpoints (harmless, but common when d * s has few
 * significant bits, e.g. Q4_0) also take the fix, which leaves them. */
static inline __attribute__((always_inline)) void fma_f64x2(v128_t *acc, const v128_t *s, int n,
                                                            float d) {
    const v128_t dd = wasm_f64x2_splat((double)d);
    const v128_t mask = wasm_i64x2_const_splat(0x1fffffff);
    const v128_t mid = wasm_i64x2_const_splat(0x10000000);
    v128_t p[4], r[4], hit;
    for (int i = 0; i < n; i++) {
        p[i] = wasm_f64x2_mul(dd, s[i]);
        r[i] = wasm_f64x2_add(p[i], acc[i]);
    }
    /* the 29 low mantissa bits sit in each lane's low 32-bit word: test
     * four lanes per i32x4 (low words of two vectors side by side) */
    const v128_t m32 = wasm_i32x4_const_splat(0x1fffffff), mid32 = wasm_i32x4_const_splat(0x10000000);
    if (n == 4) {
        const v128_t w01 = wasm_i32x4_shuffle(r[0], r[1], 0, 2, 4, 6);
        const v128_t w23 = wasm_i32x4_shuffle(r[2], r[3], 0, 2, 4, 6);
        hit = wasm_v128_or(wasm_i32x4_eq(wasm_v128_and(w01, m32), mid32),
                           wasm_i32x4_eq(wasm_v128_and(w23, m32), mid32));
    } else {
        hit = wasm_i64x2_const_splat(0);
        for (int i = 0; i + 1 < n; i += 2)
            hit = wasm_v128_or(hit, wasm_i32x4_eq(wasm_v128_and(wasm_i32x4_shuffle(r[i], r[i + 1], 0, 2, 4, 6), m32), mid32));
        if (n & 1) hit = wasm_v128_or(hit, wasm_i64x2_eq(wasm_v128_and(r[n - 1], mask), mid));
    }
    if (wasm_v128_any_true(hit))
        for (int i = 0; i < n; i++) r[i] = fix_midpoints(r[i], p[i], acc[i], mask, mid);
    for (int i = 0; i < n; i++) acc[i] = round_f32(r[i]);
}

/* The midpoint-test constants, made opaque to LLVM (empty asm) so that they
 * stay in locals for a whole kernel: otherwise every use is a v128.const,
 * which V8 rematerializes inside the loop. */
typedef struct {
    v128_t m32, mid32, mask, mid;
} fma_k;

static inline fma_k fma_k_init(void) {
    fma_k k = {wasm_i32x4_const_splat(0x1fffffff), wasm_i32x4_const_splat(0x10000000),
               wasm_i64x2_const_splat(0x1fffffff), wasm_i64x2_const_splat(0x10000000)};
    __asm__("" : "+r"(k.m32));
    __asm__("" : "+r"(k.mid32));
    __asm__("" : "+r"(k.mask));
    __asm__("" : "+r"(k.mid));
    return k;
}

/* fma_f64x2 for four vectors with the constants passed in */
static inline __attribute__((always_inline)) void fma4_k(v128_t *acc, const v128_t *s, float d, const fma_k *k) {
    const v128_t dd = wasm_f64x2_splat((double)d);
    v128_t p[4], r[4];
    for (int i = 0; i < 4; i++) {
        p[i] = wasm_f64x2_mul(dd, s[i]);
        r[i] = wasm_f64x2_add(p[i], acc[i]);
    }
    const v128_t w01 = wasm_i32x4_shuffle(r[0], r[1], 0, 2, 4, 6);
    const v128_t w23 = wasm_i32x4_shuffle(r[2], r[3], 0, 2, 4, 6);
    const v128_t hit = wasm_v128_or(wasm_i32x4_eq(wasm_v128_and(w01, k->m32), k->mid32),
                                    wasm_i32x4_eq(wasm_v128_and(w23, k->m32), k->mid32));
    if (__builtin_expect(wasm_v128_any_true(hit), 0))
        for (int i = 0; i < 4; i++) r[i] = fix_midpoints(r[i], p[i], acc[i], k->mask, k->mid);
    for (int i = 0; i < 4; i++) acc[i] = round_f32(r[i]);
}

/* lanes 0,1 and 2,3 of an i32x4 as f64x2 */
static inline v128_t i32_lo_f64(v128_t v) { return wasm_f64x2_convert_low_i32x4(v); }
static inline v128_t i32_hi_f64(v128_t v) {
    return wasm_f64x2_convert_low_i32x4(wasm_i32x4_shuffle(v, v, 2, 3, 2, 3));
}

/* The eight lanes8 accumulators (accum.h): acc[i] holds lanes 2i, 2i+1. */
typedef struct {
    v128_t v[4];
} lanes8;

static inline void lanes8_zero(lanes8 *a) {
    for (int i = 0; i < 4; i++) a->v[i] = wasm_f64x2_const_splat(0.0);
}

/* lane k = fmaf(d, lane sum k, lane k); lo = lane sums 0..3, hi = 4..7 */
static inline __attribute__((always_inline)) void lanes8_fma(lanes8 *a, v128_t lo, v128_t hi,
                                                             float d) {
    const v128_t s[4] = {i32_lo_f64(lo), i32_hi_f64(lo), i32_lo_f64(hi), i32_hi_f64(hi)};
    fma_f64x2(a->v, s, 4, d);
}

static inline void lanes8_store(const lanes8 *a, float out[8]) {
    for (int i = 0; i < 4; i++) {
        out[2 * i] = (float)wasm_f64x2_extract_lane(a->v[i], 0);
        out[2 * i + 1] = (float)wasm_f64x2_extract_lane(a->v[i], 1);
    }
}

/* lanes8_fma with the kernel's constants (fma_k) */
static inline __attribute__((always_inline)) void lanes8_fma_k(lanes8 *a, v128_t lo, v128_t hi, float d,
                                                               const fma_k *k) {
    const v128_t s[4] = {i32_lo_f64(lo), i32_hi_f64(lo), i32_lo_f64(hi), i32_hi_f64(hi)};
    fma4_k(a->v, s, d, k);
}

#else /* QW_WASM_FUSED */

/* ======================================================================== */
/* fmaf as f32x4.relaxed_madd (relaxed build)                               */
/* ======================================================================== */

typedef float qw_f32x4 __attribute__((__vector_size__(16)));

/* a * b + c per lane with one rounding (where qw_wasm_fma_fused() is 1) */
static inline v128_t madd(v128_t a, v128_t b, v128_t c) {
    return (v128_t)__builtin_wasm_fma_f32x4((qw_f32x4)a, (qw_f32x4)b, (qw_f32x4)c);
}

/* i32x4.relaxed_dot_i8x16_i7x16_add_s: lane k = c[k] + sum over j < 4 of
 * a[4k+j] * b[4k+j], a signed bytes, b bytes in [0, 127]. With b in that
 * range it is exact on every engine (x86: pmaddubsw, whose i16 pair sums
 * cannot saturate since 2 * 128 * 127 < 2^15, then pmaddwd; ARM: sdot); only
 * b >= 128 is implementation-defined, and no caller passes that. Clang 14
 * has no builtin for it: it is written as the proposal's early f32x4.fms
 * (the same three-v128 shape), which nothing else here uses and which
 * scripts/wasm-relaxed.mjs renumbers into this instruction after linking.
 * Only qw_wasm_fma_fused() uses it now (the kernels take dot4w_i8_u7 below);
 * it stays in the probe so that which engines run this build did not change. */
static inline v128_t dot_i8_u7_add(v128_t a, v128_t b, v128_t c) {
    return (v128_t)__builtin_wasm_fms_f32x4((qw_f32x4)a, (qw_f32x4)b, (qw_f32x4)c);
}

typedef signed char qw_i8x16 __attribute__((__vector_size__(16)));

/* i16x8.relaxed_dot_i8x16_i7x16_s: lane k = a[2k] * b[2k] + a[2k+1] *
 * b[2k+1], a signed bytes, b bytes in [0, 127]; exact there on every engine
 * (|lane| <= 2 * 128 * 127 < 2^15; x86: one pmaddubsw, ARM: smull + saddlp).
 * Written as the proposal's early i8x16.relaxed_swizzle (two v128 in, one
 * out; used for nothing else here), which scripts/wasm-relaxed.mjs renumbers
 * into this instruction after linking, like dot_i8_u7_add. */
static inline v128_t dot16_i8_u7(v128_t a, v128_t b) {
    return (v128_t)__builtin_wasm_relaxed_swizzle_i8x16((qw_i8x16)a, (qw_i8x16)b);
}

/* lane k = sum over j < 4 of a[4k+j] * b[4k+j] * w, for b in [0, 127] and w
 * the i16 weight of every pair (ones: dot_i8_u7_add's sums with c = 0; -1:
 * their negation; a K-quant sub-block scale: the sums scaled), exact when the
 * result fits an i32 (every caller: |4 * 128 * 127 * w| < 2^31 for |w| < 2^15).
 * The kernels use this and not dot_i8_u7_add: V8 on x86 lowers the i32 relaxed
 * dot to pmaddubsw + pmaddwd as well, but rebuilds the ones vector (two more
 * instructions) and adds c (one more) at every use, where here w stays in a
 * register and a scale rides along in the pmaddwd. (On ARM with the dot
 * product extension the i32 form is one sdot: the trade-off favours x86,
 * where the benchmarks run.) */
static inline v128_t dot4w_i8_u7(v128_t a, v128_t b, v128_t w) { return wasm_i32x4_dot_i16x8(dot16_i8_u7(a, b), w); }
static inline v128_t dot4_i8_u7(v128_t a, v128_t b) { return dot4w_i8_u7(a, b, wasm_i16x8_const_splat(1)); }

/* i32 lanes to f32: exact for the lane sums here (|s| <= 2^24) */
static inline v128_t i32_f32(v128_t v) { return wasm_f32x4_convert_i32x4(v); }

/* The eight lanes8 accumulators (accum.h): v[0] holds lanes 0..3, v[1] 4..7. */
typedef struct {
    v128_t v[2];
} lanes8;

static inline void lanes8_zero(lanes8 *a) { a->v[0] = a->v[1] = wasm_f32x4_const_splat(0.0f); }

/* lane k = fmaf(d, lane sum k, lane k) for dv = d in every lane; lo = lane
 * sums 0..3, hi = 4..7 */
static inline __attribute__((always_inline)) void lanes8_fmav(lanes8 *a, v128_t lo, v128_t hi,
                                                              v128_t dv) {
    a->v[0] = madd(dv, i32_f32(lo), a->v[0]);
    a->v[1] = madd(dv, i32_f32(hi), a->v[1]);
}

static inline __attribute__((always_inline)) void lanes8_fma(lanes8 *a, v128_t lo, v128_t hi,
                                                             float d) {
    lanes8_fmav(a, lo, hi, wasm_f32x4_splat(d));
}

static inline void lanes8_store(const lanes8 *a, float out[8]) {
    wasm_v128_store(out, a->v[0]);
    wasm_v128_store(out + 4, a->v[1]);
}

#endif /* QW_WASM_FUSED */

static inline float lanes8_hsum(const lanes8 *a) {
    float f[8];
    lanes8_store(a, f);
    return qw_hsum8(f);
}

/* ======================================================================== */
/* integer building blocks                                                  */
/* ======================================================================== */

/* Pair sums of 16 int8 products: p0 = elements 0..7, p1 = 8..15, each lane
 * the sum of two adjacent products. */
static inline void dot16(v128_t x, v128_t y, v128_t *p0, v128_t *p1) {
    *p0 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(x), wasm_i16x8_extend_low_i8x16(y));
    *p1 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(x), wasm_i16x8_extend_high_i8x16(y));
}

/* (a0+a1, a2+a3, b0+b1, b2+b3): sums of four consecutive elements */
static inline v128_t quads(v128_t a, v128_t b) {
    return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 2, 4, 6), wasm_i32x4_shuffle(a, b, 1, 3, 5, 7));
}

/* lanes8 sums of one 32-element block: x0 = elements 0..15, x1 = 16..31 */
static inline void block_lanes(v128_t x0, v128_t x1, const int8_t *y, v128_t *lo, v128_t *hi) {
    v128_t p0, p1, p2, p3;
    dot16(x0, wasm_v128_load(y), &p0, &p1);
    dot16(x1, wasm_v128_load(y + 16), &p2, &p3);
    *lo = quads(p0, p1);
    *hi = quads(p2, p3);
}

static inline v128_t lo_nibbles(v128_t v) { return wasm_v128_and(v, wasm_i8x16_splat(0x0f)); }
/* Byte shifts: SIMD128's i8x16 shifts have no x86 instruction, and V8 emits
 * a 16-bit shift plus a byte mask it rebuilds from an immediate at every use
 * (5 instructions); a 16-bit shift and a mask the caller needs anyway give
 * the same bytes (what crosses into a neighbouring byte is masked off). */
static inline v128_t shr_u8_masked(v128_t v, int k, int8_t mask) {
    return wasm_v128_and(wasm_u16x8_shr(v, k), wasm_i8x16_splat(mask));
}
static inline v128_t hi_nibbles(v128_t v) { return shr_u8_masked(v, 4, 0x0f); }

/* Q5_0 / Q5_1 fifth bits: g_bit4x8[v] has 0x10 in byte j where bit j of v
 * is set (filled at start-up, 2 KB). bit4s(qh, f): f[0] = 16 or 0 for
 * elements 0..15 (bits 0..15 of the little-endian word at qh), f[1] for
 * 16..31: four byte loads and four 8-byte loads, where the splat, shuffles,
 * compares and masks took ~20 x86 instructions per block (V8 rebuilds the
 * shuffle constants each time). */
static uint64_t g_bit4x8[256];

__attribute__((constructor)) static void bit4x8_init(void) {
    for (int v = 0; v < 256; v++)
        for (int j = 0; j < 8; j++)
            if (v >> j & 1) g_bit4x8[v] |= (uint64_t)0x10 << (8 * j);
}

static inline void bit4s(const uint8_t *qh, v128_t f[2]) {
    for (int h = 0; h < 2; h++)
        f[h] = wasm_v128_load64_lane(&g_bit4x8[qh[2 * h + 1]], wasm_v128_load64_zero(&g_bit4x8[qh[2 * h]]), 1);
}

/* ======================================================================== */
/* legacy 32-element blocks against Q8_0 / Q8_1                             */
/* ======================================================================== */

static void vec_dot_q4_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const v128_t eight = wasm_i8x16_splat(8);
    lanes8 acc;
    lanes8_zero(&acc);
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const v128_t q = wasm_v128_load(x[i].qs);
        v128_t lo, hi;
        block_lanes(wasm_i8x16_sub(lo_nibbles(q), eight), wasm_i8x16_sub(hi_nibbles(q), eight),
                    y[i].qs, &lo, &hi);
        lanes8_fma(&acc, lo, hi, h2f(x[i].d) * h2f(y[i].d));
    }
    *s = lanes8_hsum(&acc);
}

#if !QW_WASM_FUSED
/* fmaf(a, b, c) for a float a*b exact in double (as fma_f64x2, one value) */
static inline float fma_exact_product(double ab, float c) {
    const v128_t p = wasm_f64x2_splat(ab), acc = wasm_f64x2_splat((double)c);
    const v128_t mask = wasm_i64x2_const_splat(0x1fffffff);
    const v128_t mid = wasm_i64x2_const_splat(0x10000000);
    v128_t r = wasm_f64x2_add(p, acc);
    if (wasm_i64x2_extract_lane(wasm_v128_and(r, mask), 0) == 0x10000000)
        r = fix_midpoints(r, p, acc, mask, mid);
    return (float)wasm_f64x2_extract_lane(r, 0);
}

/* fmaf((float)sumi, d, acc) for |sumi| < 2^24 */
static inline float fma_sumi(int32_t sumi, float d, float acc) {
    return fma_exact_product((double)sumi * (double)d, acc);
}
#else
static inline float fma_sumi(int32_t sumi, float d, float acc) { return qw_fmaf((float)sumi, d, acc); }
#endif

/* Q4_0 in the "serial" order (accum.h; matrices with a multiple of 8 rows):
 * acc = fmaf((float)block sum, d, acc), one accumulator. |block sum| <=
 * 32 * 8 * 127 < 2^24, so (float) of it is exact. */
static void vec_dot_q4_0_serial(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const v128_t eight = wasm_i8x16_splat(8);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const v128_t q = wasm_v128_load(x[i].qs);
        v128_t p0, p1, p2, p3;
        dot16(wasm_i8x16_sub(lo_nibbles(q), eight), wasm_v128_load(y[i].qs), &p0, &p1);
        dot16(wasm_i8x16_sub(hi_nibbles(q), eight), wasm_v128_load(y[i].qs + 16), &p2, &p3);
        const v128_t t = wasm_i32x4_add(wasm_i32x4_add(p0, p1), wasm_i32x4_add(p2, p3));
        const int32_t sumi = wasm_i32x4_extract_lane(t, 0) + wasm_i32x4_extract_lane(t, 1) +
                             wasm_i32x4_extract_lane(t, 2) + wasm_i32x4_extract_lane(t, 3);
        const float d = h2f(x[i].d) * h2f(y[i].d);
        acc = fma_sumi(sumi, d, acc);
    }
    *s = acc;
}

static void vec_dot_q4_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    lanes8 acc;
    lanes8_zero(&acc);
    float summs = 0.0f;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const v128_t q = wasm_v128_load(x[i].qs);
        v128_t lo, hi;
        block_lanes(lo_nibbles(q), hi_nibbles(q), y[i].qs, &lo, &hi);
        summs += qw_fp16_to_fp32(x[i].m) * qw_fp16_to_fp32(y[i].s);
        lanes8_fma(&acc, lo, hi, h2f(x[i].d) * h2f(y[i].d));
    }
    *s = lanes8_hsum(&acc) + summs;
}

static void vec_dot_q5_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const v128_t sixteen = wasm_i8x16_splat(16);
    lanes8 acc;
    lanes8_zero(&acc);
    for (int64_t i = 0; i < n / QK5_0; i++) {
        v128_t f[2]; /* 16 where the fifth bit is set */
        bit4s(x[i].qh, f);
        const v128_t q = wasm_v128_load(x[i].qs);
        /* level - 16 = low nibble - (fifth bit clear ? 16 : 0) */
        const v128_t x0 = wasm_i8x16_sub(lo_nibbles(q), wasm_v128_xor(f[0], sixteen));
        const v128_t x1 =
            wasm_i8x16_sub(hi_nibbles(q), wasm_v128_xor(f[1], sixteen));
        v128_t lo, hi;
        block_lanes(x0, x1, y[i].qs, &lo, &hi);
        lanes8_fma(&acc, lo, hi, h2f(x[i].d) * h2f(y[i].d));
    }
    *s = lanes8_hsum(&acc);
}

static void vec_dot_q5_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    lanes8 acc;
    lanes8_zero(&acc);
    float summs = 0.0f;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        v128_t f[2]; /* 16 where the fifth bit is set */
        bit4s(x[i].qh, f);
        const v128_t q = wasm_v128_load(x[i].qs);
        const v128_t x0 = wasm_v128_or(lo_nibbles(q), f[0]);
        const v128_t x1 = wasm_v128_or(hi_nibbles(q), f[1]);
        v128_t lo, hi;
        block_lanes(x0, x1, y[i].qs, &lo, &hi);
        summs += qw_fp16_to_fp32(x[i].m) * qw_fp16_to_fp32(y[i].s);
        lanes8_fma(&acc, lo, hi, h2f(x[i].d) * h2f(y[i].d));
    }
    *s = lanes8_hsum(&acc) + summs;
}

static void vec_dot_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    lanes8 acc;
    lanes8_zero(&acc);
    for (int64_t i = 0; i < n / QK8_0; i++) {
        v128_t lo, hi;
        block_lanes(wasm_v128_load(x[i].qs), wasm_v128_load(x[i].qs + 16), y[i].qs, &lo, &hi);
        lanes8_fma(&acc, lo, hi, h2f(x[i].d) * h2f(y[i].d));
    }
    *s = lanes8_hsum(&acc);
}

/* the 16 IQ4 levels (a fixed part of the format) */
#define IQ4NL_TABLE wasm_i8x16_const(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)

static void vec_dot_iq4_nl(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const v128_t table = IQ4NL_TABLE;
    lanes8 acc;
    lanes8_zero(&acc);
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        const v128_t q = wasm_v128_load(x[i].qs);
        v128_t lo, hi;
        block_lanes(wasm_i8x16_swizzle(table, lo_nibbles(q)), wasm_i8x16_swizzle(table, hi_nibbles(q)),
                    y[i].qs, &lo, &hi);
        lanes8_fma(&acc, lo, hi, h2f(x[i].d) * h2f(y[i].d));
    }
    *s = lanes8_hsum(&acc);
}

/* ---- several weight rows against one activation row (generation) ------ */

/* i8x16 levels of a block's elements 0..15 (*x0) and 16..31 (*x1) */
static inline void unpack_q8_0(const block_q8_0 *b, v128_t *x0, v128_t *x1) {
    *x0 = wasm_v128_load(b->qs);
    *x1 = wasm_v128_load(b->qs + 16);
}
#if !QW_WASM_FUSED /* the relaxed build reads Q4_0 / Q5_0 unsigned (lanes_q4_0, lanes_q5_0) */
static inline void unpack_q4_0(const block_q4_0 *b, v128_t *x0, v128_t *x1) {
    const v128_t q = wasm_v128_load(b->qs), eight = wasm_i8x16_splat(8);
    *x0 = wasm_i8x16_sub(lo_nibbles(q), eight);
    *x1 = wasm_i8x16_sub(hi_nibbles(q), eight);
}
static inline void unpack_q5_0(const block_q5_0 *b, v128_t *x0, v128_t *x1) {
    v128_t f[2]; /* 16 where the fifth bit is set */
    bit4s(b->qh, f);
    const v128_t q = wasm_v128_load(b->qs), sixteen = wasm_i8x16_splat(16);
    *x0 = wasm_i8x16_sub(lo_nibbles(q), wasm_v128_xor(f[0], sixteen));
    *x1 = wasm_i8x16_sub(hi_nibbles(q), wasm_v128_xor(f[1], sixteen));
}
#endif
static inline void unpack_iq4_nl(const block_iq4_nl *b, v128_t *x0, v128_t *x1) {
    const v128_t q = wasm_v128_load(b->qs), table = IQ4NL_TABLE;
    *x0 = wasm_i8x16_swizzle(table, lo_nibbles(q));
    *x1 = wasm_i8x16_swizzle(table, hi_nibbles(q));
}

#if !QW_WASM_FUSED
/* The activation block widened once: i16x8 of elements 0-7, 8-15, 16-23, 24-31 */
static inline void widen_y(const int8_t *q, v128_t y[4]) {
    const v128_t a = wasm_v128_load(q), b = wasm_v128_load(q + 16);
    y[0] = wasm_i16x8_extend_low_i8x16(a);
    y[1] = wasm_i16x8_extend_high_i8x16(a);
    y[2] = wasm_i16x8_extend_low_i8x16(b);
    y[3] = wasm_i16x8_extend_high_i8x16(b);
}

/* lanes8 sums (lo = quads 0..3, hi = 4..7) of x0/x1 against a widened y */
static inline void block_lanes_w(v128_t x0, v128_t x1, const v128_t y[4], v128_t *lo, v128_t *hi) {
    const v128_t p0 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(x0), y[0]);
    const v128_t p1 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(x0), y[1]);
    const v128_t p2 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(x1), y[2]);
    const v128_t p3 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(x1), y[3]);
    *lo = quads(p0, p1);
    *hi = quads(p2, p3);
}

/* vec_dot_r4 (kernels.h): QW_MR_LANES8 rows in the lanes8 order, each
 * bit-identical to the single-row kernel above (same integer lanes, same
 * d = x.d * y.d, same fma sequence per row) */
#define DEFINE_R4_LANES8(NAME, BT, QK, UNPACK)                                                     \
    static void NAME(int64_t n, float *s, const void *vx, size_t bx, const void *vy) {             \
        const block_q8_0 *y = vy;                                                                  \
        const fma_k k = fma_k_init();                                                              \
        const BT *x[QW_MR_LANES8];                                                                 \
        lanes8 acc[QW_MR_LANES8];                                                                  \
        for (int r = 0; r < QW_MR_LANES8; r++) {                                                   \
            x[r] = (const BT *)((const char *)vx + (size_t)r * bx);                                \
            lanes8_zero(&acc[r]);                                                                  \
        }                                                                                          \
        const uint64_t lim = touch_limit();                                                        \
        const char *next = (const char *)vx + QW_MR_LANES8 * bx; /* the next group's rows */       \
        for (int64_t i = 0; i < n / (QK); i++) {                                                   \
            touch_span(next + (size_t)i * QW_MR_LANES8 * sizeof(BT), QW_MR_LANES8 * sizeof(BT), lim); \
            v128_t yw[4];                                                                          \
            widen_y(y[i].qs, yw);                                                                  \
            const float dy = h2f(y[i].d);                                                          \
            _Pragma("clang loop unroll(full)")                                                     \
            for (int r = 0; r < QW_MR_LANES8; r++) {                                               \
                v128_t x0, x1, lo, hi;                                                             \
                UNPACK(&x[r][i], &x0, &x1);                                                        \
                block_lanes_w(x0, x1, yw, &lo, &hi);                                               \
                lanes8_fma_k(&acc[r], lo, hi, h2f(x[r][i].d) * dy, &k);                            \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < QW_MR_LANES8; r++) s[r] = lanes8_hsum(&acc[r]);                        \
    }

DEFINE_R4_LANES8(vec_dot_q8_0_r4, block_q8_0, QK8_0, unpack_q8_0)
DEFINE_R4_LANES8(vec_dot_iq4_nl_r4, block_iq4_nl, QK4_NL, unpack_iq4_nl)
DEFINE_R4_LANES8(vec_dot_q4_0_r4, block_q4_0, QK4_0, unpack_q4_0)
DEFINE_R4_LANES8(vec_dot_q5_0_r4, block_q5_0, QK5_0, unpack_q5_0)
#else
/* Relaxed build: with the fma this cheap, the rest of the block counts. The
 * lane sums come from even / odd element splits or from the relaxed integer
 * dot product instead (no shuffles; yprep_* / lanes_* below), and the four
 * rows' scales are converted together. */

/* lane k (k < 4) = sum over elements 4k..4k+3 of x * y, with y given as
 * p = max(y, 0) and m = max(-y, 0) (both in [0, 127]: activation levels are
 * in -127..127): dot16(x, p) - dot16(x, m) is, per pair of elements, the pair
 * sum of x * y, whose true value fits an i16 (|x * y| <= 128 * 127), so the
 * wrapping i16 subtraction is exact; i32x4.dot_i16x8_s with ones adds the
 * pairs into lanes of four. */
static inline v128_t lanes4_signed(v128_t x, v128_t p, v128_t m) {
    return wasm_i32x4_dot_i16x8(wasm_i16x8_sub(dot16_i8_u7(x, p), dot16_i8_u7(x, m)), wasm_i16x8_const_splat(1));
}

/* unsigned levels of a block's elements 0..15 (*u0) and 16..31 (*u1), for
 * the relaxed integer dot product (its second operand must be in [0, 127]) */
static inline void unpack_u_q4_0(const block_q4_0 *b, v128_t *u0, v128_t *u1) {
    const v128_t q = wasm_v128_load(b->qs);
    *u0 = lo_nibbles(q);
    *u1 = hi_nibbles(q);
}
static inline void unpack_u_q5_0(const block_q5_0 *b, v128_t *u0, v128_t *u1) {
    v128_t f[2]; /* 16 where the fifth bit is set */
    bit4s(b->qh, f);
    const v128_t q = wasm_v128_load(b->qs);
    *u0 = wasm_v128_or(lo_nibbles(q), f[0]);
    *u1 = wasm_v128_or(hi_nibbles(q), f[1]);
}

/* -off * (sums of four consecutive activations): c[0] for elements 0..15,
 * c[1] for 16..31 */
static inline void offset_lanes(v128_t y0, v128_t y1, int off, v128_t c[2]) {
    const v128_t o = wasm_i8x16_splat((int8_t)off), minus1 = wasm_i16x8_const_splat(-1);
    c[0] = dot4w_i8_u7(y0, o, minus1);
    c[1] = dot4w_i8_u7(y1, o, minus1);
}

/* What a row's lanes need of the activation block, prepared once per block
 * for all rows (yprep_*), and the lanes8 sums of one row's block from it
 * (lanes_*: lo = lanes 0..3, hi = 4..7):
 *   signed levels (Q8_0, IQ4_NL): y as its positive and negative parts
 *     (lanes4_signed: two i16 relaxed dots per 16 elements);
 *   Q4_0 / Q5_0: their levels before the offset (u in [0, 15] / [0, 31]) are
 *     valid second operands of the relaxed integer dot product, which sums
 *     four products per lane, i.e. gives the lanes8 sums directly: lane k of
 *     dot(y, u) - off * dot(y, 1) = sum over elements 4k..4k+3 of
 *     y * (u - off); the offset term is prepared once per block.
 * The same exact integers as the baseline's in every case. */
typedef struct {
    v128_t p[2], m[2]; /* max(y, 0), max(-y, 0) of elements 0..15, 16..31 */
} ysign;
typedef struct {
    v128_t y[2], c[2];
} yoff;

static inline void yprep_sign(const block_q8_0 *y, ysign *st) {
    const v128_t z = wasm_i8x16_const_splat(0);
    for (int h = 0; h < 2; h++) {
        const v128_t v = wasm_v128_load(y->qs + 16 * h);
        st->p[h] = wasm_i8x16_max(v, z);
        st->m[h] = wasm_i8x16_max(wasm_i8x16_neg(v), z);
    }
}
static inline void yprep_off(const block_q8_0 *y, int off, yoff *st) {
    st->y[0] = wasm_v128_load(y->qs);
    st->y[1] = wasm_v128_load(y->qs + 16);
    offset_lanes(st->y[0], st->y[1], off, st->c);
}
static inline void yprep_off8(const block_q8_0 *y, yoff *st) { yprep_off(y, 8, st); }
static inline void yprep_off16(const block_q8_0 *y, yoff *st) { yprep_off(y, 16, st); }

static inline void lanes_q8_0(const block_q8_0 *b, const ysign *st, v128_t *lo, v128_t *hi) {
    v128_t x0, x1;
    unpack_q8_0(b, &x0, &x1);
    *lo = lanes4_signed(x0, st->p[0], st->m[0]);
    *hi = lanes4_signed(x1, st->p[1], st->m[1]);
}
static inline void lanes_iq4_nl(const block_iq4_nl *b, const ysign *st, v128_t *lo, v128_t *hi) {
    v128_t x0, x1;
    unpack_iq4_nl(b, &x0, &x1);
    *lo = lanes4_signed(x0, st->p[0], st->m[0]);
    *hi = lanes4_signed(x1, st->p[1], st->m[1]);
}
static inline void lanes_q4_0(const block_q4_0 *b, const yoff *st, v128_t *lo, v128_t *hi) {
    v128_t u0, u1;
    unpack_u_q4_0(b, &u0, &u1);
    *lo = wasm_i32x4_add(dot4_i8_u7(st->y[0], u0), st->c[0]);
    *hi = wasm_i32x4_add(dot4_i8_u7(st->y[1], u1), st->c[1]);
}
static inline void lanes_q5_0(const block_q5_0 *b, const yoff *st, v128_t *lo, v128_t *hi) {
    v128_t u0, u1;
    unpack_u_q5_0(b, &u0, &u1);
    *lo = wasm_i32x4_add(dot4_i8_u7(st->y[0], u0), st->c[0]);
    *hi = wasm_i32x4_add(dot4_i8_u7(st->y[1], u1), st->c[1]);
}

/* qw_hsum8 of four rows' lanes8 at once: r = hi + lo per row, then
 * (r0 + r2) + (r1 + r3) with the four rows side by side (float additions in
 * qw_hsum8's pairing; a + b and b + a are the same float) */
static inline void lanes8_hsum4(const lanes8 a[4], float s[4]) {
    v128_t r[4];
    for (int k = 0; k < 4; k++) r[k] = wasm_f32x4_add(a[k].v[1], a[k].v[0]);
    /* rows 0,1 and 2,3: (r0 + r2, r1 + r3) of each */
    const v128_t s01 = wasm_f32x4_add(wasm_i32x4_shuffle(r[0], r[1], 0, 1, 4, 5), wasm_i32x4_shuffle(r[0], r[1], 2, 3, 6, 7));
    const v128_t s23 = wasm_f32x4_add(wasm_i32x4_shuffle(r[2], r[3], 0, 1, 4, 5), wasm_i32x4_shuffle(r[2], r[3], 2, 3, 6, 7));
    wasm_v128_store(s, wasm_f32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 2, 4, 6), wasm_i32x4_shuffle(s01, s23, 1, 3, 5, 7)));
}

_Static_assert(QW_MR_LANES8 == 4, "the relaxed r4 kernels convert four rows' scales at once");
#define DEFINE_R4_LANES8(NAME, BT, QK, YSTATE, YPREP, LANES)                                       \
    static void NAME(int64_t n, float *s, const void *vx, size_t bx, const void *vy) {             \
        const block_q8_0 *y = vy;                                                                  \
        const BT *x[QW_MR_LANES8];                                                                 \
        lanes8 acc[QW_MR_LANES8];                                                                  \
        for (int r = 0; r < QW_MR_LANES8; r++) {                                                   \
            x[r] = (const BT *)((const char *)vx + (size_t)r * bx);                                \
            lanes8_zero(&acc[r]);                                                                  \
        }                                                                                          \
        const uint64_t lim = touch_limit();                                                        \
        const char *next = (const char *)vx + QW_MR_LANES8 * bx; /* the next group's rows */       \
        for (int64_t i = 0; i < n / (QK); i++) {                                                   \
            touch_span(next + (size_t)i * QW_MR_LANES8 * sizeof(BT), QW_MR_LANES8 * sizeof(BT), lim); \
            YSTATE st;                                                                             \
            YPREP(&y[i], &st);                                                                     \
            float d[QW_MR_LANES8]; /* x.d * y.d of each row */                                     \
            wasm_v128_store(d, wasm_f32x4_mul(h2f4(x[0][i].d, x[1][i].d, x[2][i].d, x[3][i].d),    \
                                              wasm_v128_load32_splat(&g_h2f[y[i].d])));            \
            _Pragma("clang loop unroll(full)")                                                     \
            for (int r = 0; r < QW_MR_LANES8; r++) {                                               \
                v128_t lo, hi;                                                                     \
                LANES(&x[r][i], &st, &lo, &hi);                                                    \
                lanes8_fmav(&acc[r], lo, hi, wasm_v128_load32_splat(&d[r]));                       \
            }                                                                                      \
        }                                                                                          \
        lanes8_hsum4(acc, s);                                                                      \
    }

DEFINE_R4_LANES8(vec_dot_q8_0_r4, block_q8_0, QK8_0, ysign, yprep_sign, lanes_q8_0)
DEFINE_R4_LANES8(vec_dot_iq4_nl_r4, block_iq4_nl, QK4_NL, ysign, yprep_sign, lanes_iq4_nl)
DEFINE_R4_LANES8(vec_dot_q4_0_r4, block_q4_0, QK4_0, yoff, yprep_off8, lanes_q4_0)
DEFINE_R4_LANES8(vec_dot_q5_0_r4, block_q5_0, QK5_0, yoff, yprep_off16, lanes_q5_0)
#endif

/* rows8: the serial accumulators of QW_MR_ROWS8 rows, row r in lane r, so
 * the per-block fmaf of all 8 rows is a few vector operations */
#if !QW_WASM_FUSED
typedef struct {
    v128_t v[4]; /* rows 2j, 2j+1 in v[j], floats widened to double */
} rows8;

static inline void rows8_zero(rows8 *a) {
    for (int j = 0; j < 4; j++) a->v[j] = wasm_f64x2_const_splat(0.0);
}

/* row r = fmaf((float)block sum r, d[r], row r); sum[h] = block sums of rows
 * 4h..4h+3 (i32x4) */
static inline __attribute__((always_inline)) void rows8_fma(rows8 *a, const v128_t sum[2], const float d[8]) {
    const v128_t mask = wasm_i64x2_const_splat(0x1fffffff);
    const v128_t mid = wasm_i64x2_const_splat(0x10000000);
    v128_t p[4], rr[4], hit = wasm_i64x2_const_splat(0);
    for (int j = 0; j < 4; j++) {
        const v128_t sv = j & 1 ? i32_hi_f64(sum[j / 2]) : i32_lo_f64(sum[j / 2]);
        p[j] = wasm_f64x2_mul(sv, wasm_f64x2_make((double)d[2 * j], (double)d[2 * j + 1]));
        rr[j] = wasm_f64x2_add(p[j], a->v[j]);
        hit = wasm_v128_or(hit, wasm_i64x2_eq(wasm_v128_and(rr[j], mask), mid));
    }
    if (wasm_v128_any_true(hit))
        for (int j = 0; j < 4; j++) rr[j] = fix_midpoints(rr[j], p[j], a->v[j], mask, mid);
    for (int j = 0; j < 4; j++) a->v[j] = round_f32(rr[j]);
}

static inline void rows8_store(const rows8 *a, float s[8]) {
    for (int j = 0; j < 4; j++) {
        s[2 * j] = (float)wasm_f64x2_extract_lane(a->v[j], 0);
        s[2 * j + 1] = (float)wasm_f64x2_extract_lane(a->v[j], 1);
    }
}

/* d[r] = x.d * y.d of row r's block i */
static inline void rows8_scales(const block_q4_0 *const x[8], int64_t i, float dy, float d[8]) {
    for (int r = 0; r < 8; r++) d[r] = h2f(x[r][i].d) * dy;
}
#else
typedef struct {
    v128_t v[2]; /* rows 0..3, 4..7 */
} rows8;

static inline void rows8_zero(rows8 *a) { a->v[0] = a->v[1] = wasm_f32x4_const_splat(0.0f); }

static inline __attribute__((always_inline)) void rows8_fma(rows8 *a, const v128_t sum[2], const float d[8]) {
    a->v[0] = madd(i32_f32(sum[0]), wasm_v128_load(d), a->v[0]);
    a->v[1] = madd(i32_f32(sum[1]), wasm_v128_load(d + 4), a->v[1]);
}

static inline void rows8_store(const rows8 *a, float s[8]) {
    wasm_v128_store(s, a->v[0]);
    wasm_v128_store(s + 4, a->v[1]);
}

/* as the baseline's, four rows' scales at a time (h2f4) */
static inline void rows8_scales(const block_q4_0 *const x[8], int64_t i, float dy, float d[8]) {
    const v128_t dv = wasm_f32x4_splat(dy);
    wasm_v128_store(d, wasm_f32x4_mul(h2f4(x[0][i].d, x[1][i].d, x[2][i].d, x[3][i].d), dv));
    wasm_v128_store(d + 4, wasm_f32x4_mul(h2f4(x[4][i].d, x[5][i].d, x[6][i].d, x[7][i].d), dv));
}
#endif

/* Q4_0 serial order, QW_MR_ROWS8 rows (rows8); (float)sumi and d = x.d *
 * y.d exactly as the single row. */
static void vec_dot_q4_0_serial_r8(int64_t n, float *s, const void *vx, size_t bx, const void *vy) {
    const block_q8_0 *y = vy;
    const block_q4_0 *x[QW_MR_ROWS8];
    for (int r = 0; r < QW_MR_ROWS8; r++) x[r] = (const block_q4_0 *)((const char *)vx + (size_t)r * bx);
    rows8 acc;
    rows8_zero(&acc);
    const uint64_t lim = touch_limit();
    const char *next = (const char *)vx + QW_MR_ROWS8 * bx; /* the next group's rows */
    for (int64_t i = 0; i < n / QK4_0; i++) {
        touch_span(next + (size_t)i * QW_MR_ROWS8 * sizeof(block_q4_0), QW_MR_ROWS8 * sizeof(block_q4_0), lim);
        const float dy = h2f(y[i].d);
        v128_t t[QW_MR_ROWS8]; /* lanes: partial sums of row r's block sum */
        float d[QW_MR_ROWS8];
        rows8_scales(x, i, dy, d);
#if !QW_WASM_FUSED
        v128_t yw[4];
        widen_y(y[i].qs, yw);
#pragma clang loop unroll(full)
        for (int r = 0; r < QW_MR_ROWS8; r++) {
            v128_t x0, x1;
            unpack_q4_0(&x[r][i], &x0, &x1);
            const v128_t p0 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(x0), yw[0]);
            const v128_t p1 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(x0), yw[1]);
            const v128_t p2 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(x1), yw[2]);
            const v128_t p3 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(x1), yw[3]);
            t[r] = wasm_i32x4_add(wasm_i32x4_add(p0, p1), wasm_i32x4_add(p2, p3));
        }
#else
        /* the relaxed integer dots on the unsigned nibbles (see lanes_q4_0);
         * only the block sum is needed, so the two halves' pair sums are
         * added as i16 (|lane| <= 2 * 2 * 128 * 15 < 2^15) before one
         * widening dot per row */
        const v128_t y0 = wasm_v128_load(y[i].qs), y1 = wasm_v128_load(y[i].qs + 16);
        v128_t c[2];
        offset_lanes(y0, y1, 8, c);
        const v128_t c01 = wasm_i32x4_add(c[0], c[1]), ones = wasm_i16x8_const_splat(1);
#pragma clang loop unroll(full)
        for (int r = 0; r < QW_MR_ROWS8; r++) {
            const v128_t q = wasm_v128_load(x[r][i].qs);
            const v128_t h = wasm_i16x8_add(dot16_i8_u7(y0, lo_nibbles(q)), dot16_i8_u7(y1, hi_nibbles(q)));
            t[r] = wasm_i32x4_add(wasm_i32x4_dot_i16x8(h, ones), c01);
        }
#endif
        /* block sums of rows 0..3 and 4..7 (exact integer adds, any order) */
        v128_t sum[2];
        for (int h = 0; h < 2; h++) {
            const v128_t *u = t + 4 * h;
            const v128_t a = wasm_i32x4_add(wasm_i32x4_shuffle(u[0], u[1], 0, 4, 1, 5),
                                            wasm_i32x4_shuffle(u[0], u[1], 2, 6, 3, 7));
            const v128_t b = wasm_i32x4_add(wasm_i32x4_shuffle(u[2], u[3], 0, 4, 1, 5),
                                            wasm_i32x4_shuffle(u[2], u[3], 2, 6, 3, 7));
            /* a = (r0: 0+2, r1: 0+2, r0: 1+3, r1: 1+3), b likewise for r2, r3 */
            sum[h] = wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
        }
        rows8_fma(&acc, sum, d);
    }
    rows8_store(&acc, s);
}

/* ======================================================================== */
/* K-quants and IQ4_XS against Q8_K                                          */
/* ======================================================================== */

/* One group of 32 elements: A[0..3] += pair sums of (q * scale) * y, with q
 * given as i8x16 for elements 0..15 (q0, scale sa) and 16..31 (q1, scale
 * sb). |q * scale| <= 4096 fits i16 for every type (Q6_K: 32 * 128). */
static inline __attribute__((always_inline)) void kgroup(v128_t A[4], v128_t q0, v128_t q1,
                                                         const int8_t *y, int sa, int sb) {
    const v128_t y0 = wasm_v128_load(y), y1 = wasm_v128_load(y + 16);
    const v128_t va = wasm_i16x8_splat((int16_t)sa), vb = wasm_i16x8_splat((int16_t)sb);
    A[0] = wasm_i32x4_add(A[0], wasm_i32x4_dot_i16x8(wasm_i16x8_mul(wasm_i16x8_extend_low_i8x16(q0), va),
                                                     wasm_i16x8_extend_low_i8x16(y0)));
    A[1] = wasm_i32x4_add(A[1], wasm_i32x4_dot_i16x8(wasm_i16x8_mul(wasm_i16x8_extend_high_i8x16(q0), va),
                                                     wasm_i16x8_extend_high_i8x16(y0)));
    A[2] = wasm_i32x4_add(A[2], wasm_i32x4_dot_i16x8(wasm_i16x8_mul(wasm_i16x8_extend_low_i8x16(q1), vb),
                                                     wasm_i16x8_extend_low_i8x16(y1)));
    A[3] = wasm_i32x4_add(A[3], wasm_i32x4_dot_i16x8(wasm_i16x8_mul(wasm_i16x8_extend_high_i8x16(q1), vb),
                                                     wasm_i16x8_extend_high_i8x16(y1)));
}

#if QW_WASM_FUSED
/* Relaxed build, unsigned levels (Q4_K, Q5_K: u in [0, 31], a valid second
 * operand of the relaxed integer dot): L[0] lane k += sa * (sum over
 * elements 4k..4k+3 of u * y), L[1] the same for elements 16..31. These are
 * the integers quads(A[0], A[1]) and quads(A[2], A[3]) of kgroup, from one
 * i16 relaxed dot per 16 elements whose pair sums (|.| <= 2 * 128 * 31) go
 * through pmaddwd with the scale as the weight (dot4w_i8_u7), instead of
 * widening, scaling and pairing. *sa holds the 6-bit scale in both i16
 * halves (unpack_scale_min_k4v). */
static inline __attribute__((always_inline)) void kgroup_u(v128_t L[2], v128_t u0, v128_t u1, const int8_t *y,
                                                           const int32_t *sa) {
    const v128_t vs = wasm_v128_load32_splat(sa); /* i16 lanes: the scale */
    L[0] = wasm_i32x4_add(L[0], dot4w_i8_u7(wasm_v128_load(y), u0, vs));
    L[1] = wasm_i32x4_add(L[1], dot4w_i8_u7(wasm_v128_load(y + 16), u1, vs));
}

/* Q4_K / Q5_K 6-bit scales and mins of a super-block (unpack_scale_min_k4's
 * values) in vectors: sc[j] = scale j in both i16 halves (the pair weights
 * kgroup_u multiplies by), mn[0] = mins 0..3 as i32, mn[1] = 4..7. The 16-byte load reads 4 bytes past the 12 scale bytes, still inside
 * the block (qh or qs follow them). */
static inline void unpack_scale_min_k4v(const uint8_t *p, int32_t sc[8], v128_t mn[2]) {
    const v128_t v = wasm_v128_load(p);
    const v128_t lo6 = wasm_v128_and(v, wasm_i8x16_splat(63)); /* bytes 0..3: sc 0..3, 4..7: mn 0..3 */
    const v128_t hi2 = shr_u8_masked(v, 2, 0x30); /* byte j: (p[j] >> 6) << 4 */
    const v128_t t = wasm_i8x16_shuffle(v, v, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11);
    const v128_t nib = wasm_i8x16_shuffle(lo_nibbles(t), hi_nibbles(t), 0, 1, 2,
                                          3, 20, 21, 22, 23, 0, 1, 2, 3, 20, 21, 22, 23);
    const v128_t up = wasm_v128_or(nib, hi2); /* bytes 0..3: sc 4..7, 4..7: mn 4..7 */
    const v128_t a = wasm_u16x8_extend_low_u8x16(lo6), b = wasm_u16x8_extend_low_u8x16(up);
    wasm_v128_store(sc, wasm_i16x8_shuffle(a, a, 0, 0, 1, 1, 2, 2, 3, 3));
    wasm_v128_store(sc + 4, wasm_i16x8_shuffle(b, b, 0, 0, 1, 1, 2, 2, 3, 3));
    mn[0] = wasm_u32x4_extend_high_u16x8(a);
    mn[1] = wasm_u32x4_extend_high_u16x8(b);
}

/* mins_k4 in vectors: lane m = sum over sub-blocks 2m, 2m+1 of mn * (sum of
 * their 32 activations); the same integers */
static inline v128_t mins_k4v(const v128_t mn[2], const int16_t *bsums) {
    const v128_t one = wasm_i16x8_const_splat(1);
    const v128_t s0 = wasm_i32x4_dot_i16x8(wasm_v128_load(bsums), one); /* sub-blocks 0..3 */
    const v128_t s1 = wasm_i32x4_dot_i16x8(wasm_v128_load(bsums + 8), one);
    const v128_t p0 = wasm_i32x4_mul(s0, mn[0]), p1 = wasm_i32x4_mul(s1, mn[1]);
    return wasm_i32x4_add(wasm_i32x4_shuffle(p0, p1, 0, 2, 4, 6), wasm_i32x4_shuffle(p0, p1, 1, 3, 5, 7));
}
#endif

static inline void kzero(v128_t A[4]) {
    for (int i = 0; i < 4; i++) A[i] = wasm_i32x4_const_splat(0);
}

/* lanes8 fma of a super-block's integer lanes */
static inline __attribute__((always_inline)) void kfinish(lanes8 *acc, const v128_t A[4], float d) {
    lanes8_fma(acc, quads(A[0], A[1]), quads(A[2], A[3]), d);
}

/* mins4: the four min accumulators acc_m[0..3] of Q4_K / Q5_K (zero for
 * the other K-quants, which the reference still adds last) */
#if !QW_WASM_FUSED
typedef struct {
    v128_t v[2]; /* acc_m 0,1 and 2,3, floats widened to double */
} mins4;

static inline void mins4_zero(mins4 *m) { m->v[0] = m->v[1] = wasm_f64x2_const_splat(0.0); }

/* acc_m[m] = fmaf(dmin, p[m], acc_m[m]) for four integer min sums */
static inline void kmins4(mins4 *m, const int32_t p[4], float dmin) {
    const v128_t s[2] = {wasm_f64x2_make((double)p[0], (double)p[1]),
                         wasm_f64x2_make((double)p[2], (double)p[3])};
    fma_f64x2(m->v, s, 2, dmin);
}

static inline void mins4_store(const mins4 *m, float out[4]) {
    for (int j = 0; j < 2; j++) {
        out[2 * j] = (float)wasm_f64x2_extract_lane(m->v[j], 0);
        out[2 * j + 1] = (float)wasm_f64x2_extract_lane(m->v[j], 1);
    }
}
#else
typedef struct {
    v128_t v;
} mins4;

static inline void mins4_zero(mins4 *m) { m->v = wasm_f32x4_const_splat(0.0f); }

/* acc_m[m] = fmaf(dmin, p[m], acc_m[m]) for four integer min sums */
static inline void kmins4v(mins4 *m, v128_t p, float dmin) { m->v = madd(wasm_f32x4_splat(dmin), i32_f32(p), m->v); }

static inline void mins4_store(const mins4 *m, float out[4]) { wasm_v128_store(out, m->v); }
#endif

static inline float kresult(const lanes8 *acc, const mins4 *accm) {
    float m[4];
    mins4_store(accm, m);
    return lanes8_hsum(acc) + ((m[0] + m[2]) + (m[1] + m[3]));
}

#if !QW_WASM_FUSED /* the relaxed build has these in vectors (unpack_scale_min_k4v, mins_k4v) */
/* Q4_K / Q5_K 6-bit scales and mins (see ref_kquants.c) */
static inline void unpack_scale_min_k4(const uint8_t *p, int *sc, int *mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        mn[j] = p[j + 4] & 63;
        sc[j + 4] = (p[j + 8] & 15) | ((p[j] >> 6) << 4);
        mn[j + 4] = (p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4);
    }
}

/* Q4_K / Q5_K minimum sums: p[m] = sum over sub-blocks 2m, 2m+1 of
 * mn * (sum of their 32 activations) */
static inline void mins_k4(const int *mn, const int16_t *bsums, int32_t p[4]) {
    for (int m = 0; m < 4; m++) {
        int32_t t = 0;
        for (int j = 2 * m; j < 2 * m + 2; j++) t += mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
        p[m] = t;
    }
}
#endif

/* Q4_K / Q5_K, per super-block: the 6-bit scales into sc (the relaxed
 * build: each in both i16 halves, for kgroup_u), and the min term (when dmin
 * is not 0) added to accm */
static inline void k4_scales_mins(const uint8_t *scales, float xdmin, const block_q8_K *y, int32_t sc[8],
                                  mins4 *accm) {
#if QW_WASM_FUSED
    v128_t mn[2];
    unpack_scale_min_k4v(scales, sc, mn);
    if (xdmin != 0.0f) kmins4v(accm, mins_k4v(mn, y->bsums), -y->d * xdmin);
#else
    int sci[8], mn[8];
    unpack_scale_min_k4(scales, sci, mn);
    for (int j = 0; j < 8; j++) sc[j] = sci[j];
    if (xdmin != 0.0f) {
        int32_t p[4];
        mins_k4(mn, y->bsums, p);
        kmins4(accm, p, -y->d * xdmin);
    }
#endif
}

static void vec_dot_q4_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    lanes8 acc;
    lanes8_zero(&acc);
    mins4 accm;
    mins4_zero(&accm);
    const uint64_t lim = touch_limit();
    for (int64_t i = 0; i < n / QK_K; i++) {
        touch_span(&x[n / QK_K + i], sizeof *x, lim); /* the next row's block i (touch_limit) */
        const float xd = qw_fp16_to_fp32(x[i].d), xdmin = qw_fp16_to_fp32(x[i].dmin);
        int32_t sc[8];
        k4_scales_mins(x[i].scales, xdmin, &y[i], sc, &accm);
#if QW_WASM_FUSED
        v128_t L[2] = {wasm_i32x4_const_splat(0), wasm_i32x4_const_splat(0)};
        for (int c = 0; c < 4; c++) {
            const v128_t v0 = wasm_v128_load(x[i].qs + 32 * c), v1 = wasm_v128_load(x[i].qs + 32 * c + 16);
            const int8_t *q8 = y[i].qs + 64 * c;
            kgroup_u(L, lo_nibbles(v0), lo_nibbles(v1), q8, &sc[2 * c]);
            kgroup_u(L, hi_nibbles(v0), hi_nibbles(v1), q8 + 32, &sc[2 * c + 1]);
        }
        lanes8_fma(&acc, L[0], L[1], y[i].d * xd);
#else
        v128_t A[4];
        kzero(A);
        for (int c = 0; c < 4; c++) {
            const v128_t v0 = wasm_v128_load(x[i].qs + 32 * c), v1 = wasm_v128_load(x[i].qs + 32 * c + 16);
            const int8_t *q8 = y[i].qs + 64 * c;
            kgroup(A, lo_nibbles(v0), lo_nibbles(v1), q8, sc[2 * c], sc[2 * c]);
            kgroup(A, hi_nibbles(v0), hi_nibbles(v1), q8 + 32, sc[2 * c + 1], sc[2 * c + 1]);
        }
        kfinish(&acc, A, y[i].d * xd);
#endif
    }
    *s = kresult(&acc, &accm);
}

/* nibbles | 16 where bit g of the matching byte of h is set */
static inline v128_t with_bit4(v128_t nib, v128_t h, int g) {
    const v128_t bit = wasm_i8x16_splat((int8_t)(1 << g));
    return wasm_v128_or(nib, wasm_v128_and(wasm_i8x16_eq(wasm_v128_and(h, bit), bit), wasm_i8x16_splat(16)));
}

static void vec_dot_q5_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    lanes8 acc;
    lanes8_zero(&acc);
    mins4 accm;
    mins4_zero(&accm);
    const uint64_t lim = touch_limit();
    for (int64_t i = 0; i < n / QK_K; i++) {
        touch_span(&x[n / QK_K + i], sizeof *x, lim); /* the next row's block i (touch_limit) */
        const float xd = qw_fp16_to_fp32(x[i].d), xdmin = qw_fp16_to_fp32(x[i].dmin);
        int32_t sc[8];
        k4_scales_mins(x[i].scales, xdmin, &y[i], sc, &accm);
        /* fifth bit of element 32g + l: bit g of qh[l] */
        const v128_t h0 = wasm_v128_load(x[i].qh), h1 = wasm_v128_load(x[i].qh + 16);
#if QW_WASM_FUSED
        v128_t L[2] = {wasm_i32x4_const_splat(0), wasm_i32x4_const_splat(0)};
        for (int c = 0; c < 4; c++) {
            const v128_t v0 = wasm_v128_load(x[i].qs + 32 * c), v1 = wasm_v128_load(x[i].qs + 32 * c + 16);
            const int8_t *q8 = y[i].qs + 64 * c;
            const int g0 = 2 * c, g1 = 2 * c + 1;
            kgroup_u(L, with_bit4(lo_nibbles(v0), h0, g0), with_bit4(lo_nibbles(v1), h1, g0), q8, &sc[g0]);
            kgroup_u(L, with_bit4(hi_nibbles(v0), h0, g1), with_bit4(hi_nibbles(v1), h1, g1), q8 + 32, &sc[g1]);
        }
        lanes8_fma(&acc, L[0], L[1], y[i].d * xd);
#else
        v128_t A[4];
        kzero(A);
        for (int c = 0; c < 4; c++) {
            const v128_t v0 = wasm_v128_load(x[i].qs + 32 * c), v1 = wasm_v128_load(x[i].qs + 32 * c + 16);
            const int8_t *q8 = y[i].qs + 64 * c;
            const int g0 = 2 * c, g1 = 2 * c + 1;
            kgroup(A, with_bit4(lo_nibbles(v0), h0, g0), with_bit4(lo_nibbles(v1), h1, g0), q8, sc[g0], sc[g0]);
            kgroup(A, with_bit4(hi_nibbles(v0), h0, g1), with_bit4(hi_nibbles(v1), h1, g1), q8 + 32, sc[g1],
                   sc[g1]);
        }
        kfinish(&acc, A, y[i].d * xd);
#endif
    }
    *s = kresult(&acc, &accm);
}

/* Q6_K level - 32 from the low nibble and a byte whose bits 4..5 are the
 * two high bits */
static inline v128_t q6(v128_t lo4, v128_t hi) {
    return wasm_i8x16_sub(wasm_v128_or(lo4, wasm_v128_and(hi, wasm_i8x16_splat(0x30))), wasm_i8x16_splat(32));
}

static void vec_dot_q6_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const v128_t m4 = wasm_i8x16_splat(0x0f);
    lanes8 acc;
    lanes8_zero(&acc);
    const uint64_t lim = touch_limit();
    for (int64_t i = 0; i < n / QK_K; i++) {
        touch_span(&x[n / QK_K + i], sizeof *x, lim); /* the next row's block i (touch_limit) */
        const int8_t *sc = x[i].scales;
        v128_t A[4];
        kzero(A);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *q8 = y[i].qs + 128 * h;
            const int8_t *sch = sc + 8 * h;
            const v128_t l0 = wasm_v128_load(ql), l1 = wasm_v128_load(ql + 16);
            const v128_t l2 = wasm_v128_load(ql + 32), l3 = wasm_v128_load(ql + 48);
            const v128_t h0 = wasm_v128_load(qh), h1 = wasm_v128_load(qh + 16);
            /* group g: low 4 bits = nibble g/2 of ql[32*(g%2) + l]; high 2
             * bits = bits 2g.. of qh[l], moved to bits 4..5 (16-bit shifts:
             * what crosses a byte boundary is outside q6's 0x30 mask) */
            kgroup(A, q6(wasm_v128_and(l0, m4), wasm_i16x8_shl(h0, 4)),
                   q6(wasm_v128_and(l1, m4), wasm_i16x8_shl(h1, 4)), q8, sch[0], sch[1]);
            kgroup(A, q6(wasm_v128_and(l2, m4), wasm_i16x8_shl(h0, 2)),
                   q6(wasm_v128_and(l3, m4), wasm_i16x8_shl(h1, 2)), q8 + 32, sch[2], sch[3]);
            kgroup(A, q6(hi_nibbles(l0), h0), q6(hi_nibbles(l1), h1), q8 + 64, sch[4], sch[5]);
            kgroup(A, q6(hi_nibbles(l2), wasm_u16x8_shr(h0, 2)),
                   q6(hi_nibbles(l3), wasm_u16x8_shr(h1, 2)), q8 + 96, sch[6], sch[7]);
        }
        kfinish(&acc, A, y[i].d * qw_fp16_to_fp32(x[i].d));
    }
    /* no mins: the reference still adds its (zero) min lanes last */
    mins4 accm;
    mins4_zero(&accm);
    *s = kresult(&acc, &accm);
}

/* 2-bit fields of Q2_K / Q3_K: group g of half h is bits 2g.. of qs[32h + l] */
static inline v128_t bits2(v128_t v, int g) {
    const v128_t m3 = wasm_i8x16_splat(3);
    switch (g) {
    case 0: return wasm_v128_and(v, m3);
    case 1: return shr_u8_masked(v, 2, 3);
    case 2: return shr_u8_masked(v, 4, 3);
    default: return shr_u8_masked(v, 6, 3);
    }
}

static void vec_dot_q2_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    lanes8 acc;
    lanes8_zero(&acc);
    const uint64_t lim = touch_limit();
    for (int64_t i = 0; i < n / QK_K; i++) {
        touch_span(&x[n / QK_K + i], sizeof *x, lim); /* the next row's block i (touch_limit) */
        const v128_t scales = wasm_v128_load(x[i].scales);
        const float xd = qw_fp16_to_fp32(x[i].d), xdmin = qw_fp16_to_fp32(x[i].dmin);
        if (xdmin != 0.0f) {
            /* lane l: mn[2l] * bsums[2l] + mn[2l+1] * bsums[2l+1] */
            const v128_t mn = hi_nibbles(scales);
            const v128_t p0 = wasm_i32x4_dot_i16x8(wasm_u16x8_extend_low_u8x16(mn), wasm_v128_load(y[i].bsums));
            const v128_t p1 = wasm_i32x4_dot_i16x8(wasm_u16x8_extend_high_u8x16(mn), wasm_v128_load(y[i].bsums + 8));
            lanes8_fma(&acc, p0, p1, -y[i].d * xdmin);
        }
        uint8_t sc[16];
        wasm_v128_store(sc, wasm_v128_and(scales, wasm_i8x16_splat(0x0f)));
        v128_t A[4];
        kzero(A);
        for (int h = 0; h < 2; h++) {
            const v128_t v0 = wasm_v128_load(x[i].qs + 32 * h), v1 = wasm_v128_load(x[i].qs + 32 * h + 16);
            const int8_t *q8 = y[i].qs + 128 * h;
            const uint8_t *sch = sc + 8 * h;
            for (int g = 0; g < 4; g++)
                kgroup(A, bits2(v0, g), bits2(v1, g), q8 + 32 * g, sch[2 * g], sch[2 * g + 1]);
        }
        kfinish(&acc, A, y[i].d * xd);
    }
    mins4 accm;
    mins4_zero(&accm);
    *s = kresult(&acc, &accm);
}

static void vec_dot_q3_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const v128_t four = wasm_i8x16_splat(4), zero = wasm_i8x16_splat(0);
    lanes8 acc;
    lanes8_zero(&acc);
    const uint64_t lim = touch_limit();
    for (int64_t i = 0; i < n / QK_K; i++) {
        touch_span(&x[n / QK_K + i], sizeof *x, lim); /* the next row's block i (touch_limit) */
        int sc[16];
        const uint8_t *p = x[i].scales;
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? (p[j] & 15) : (p[j - 8] >> 4);
            const int hi = (p[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (lo | (hi << 4)) - 32;
        }
        const v128_t m0 = wasm_v128_load(x[i].hmask), m1 = wasm_v128_load(x[i].hmask + 16);
        v128_t A[4];
        kzero(A);
        for (int h = 0; h < 2; h++) {
            const v128_t v0 = wasm_v128_load(x[i].qs + 32 * h), v1 = wasm_v128_load(x[i].qs + 32 * h + 16);
            const int8_t *q8 = y[i].qs + 128 * h;
            for (int g = 0; g < 4; g++) {
                /* element 128h + 32g + l: high bit is bit 4h+g of hmask[l]; clear -> -4 */
                const v128_t bit = wasm_i8x16_splat((int8_t)(1 << (4 * h + g)));
                const v128_t clear0 = wasm_i8x16_eq(wasm_v128_and(m0, bit), zero);
                const v128_t clear1 = wasm_i8x16_eq(wasm_v128_and(m1, bit), zero);
                const v128_t q0 = wasm_i8x16_sub(bits2(v0, g), wasm_v128_and(clear0, four));
                const v128_t q1 = wasm_i8x16_sub(bits2(v1, g), wasm_v128_and(clear1, four));
                kgroup(A, q0, q1, q8 + 32 * g, sc[8 * h + 2 * g], sc[8 * h + 2 * g + 1]);
            }
        }
        kfinish(&acc, A, y[i].d * qw_fp16_to_fp32(x[i].d));
    }
    mins4 accm;
    mins4_zero(&accm);
    *s = kresult(&acc, &accm);
}

/* IQ4_XS: one int32 sum per super-block, then the reference's float ops */
static void vec_dot_iq4_xs(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const v128_t table = IQ4NL_TABLE;
    float sum = 0.0f;
    const uint64_t lim = touch_limit();
    for (int64_t i = 0; i < n / QK_K; i++) {
        touch_span(&x[n / QK_K + i], sizeof *x, lim); /* the next row's block i (touch_limit) */
        v128_t isum = wasm_i32x4_const_splat(0);
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const int lo = (x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
            const int hi = (x[i].scales_h >> (2 * ib)) & 3;
            const v128_t q = wasm_v128_load(x[i].qs + 16 * ib);
            const int8_t *q8 = y[i].qs + 32 * ib;
            v128_t p0, p1, p2, p3;
            dot16(wasm_i8x16_swizzle(table, lo_nibbles(q)), wasm_v128_load(q8), &p0, &p1);
            dot16(wasm_i8x16_swizzle(table, hi_nibbles(q)), wasm_v128_load(q8 + 16), &p2, &p3);
            const v128_t sub = wasm_i32x4_add(wasm_i32x4_add(p0, p1), wasm_i32x4_add(p2, p3));
            isum = wasm_i32x4_add(isum, wasm_i32x4_mul(sub, wasm_i32x4_splat((lo | (hi << 4)) - 32)));
        }
        const int32_t t = wasm_i32x4_extract_lane(isum, 0) + wasm_i32x4_extract_lane(isum, 1) +
                          wasm_i32x4_extract_lane(isum, 2) + wasm_i32x4_extract_lane(isum, 3);
        sum += qw_fp16_to_fp32(x[i].d) * y[i].d * (float)t;
    }
    *s = sum;
}

/* ======================================================================== */
/* float types                                                               */
/* ======================================================================== */

/* Four halves (sign-extended to i32 lanes) to floats, exact for every
 * finite half: the magnitude bits shifted into float position denote the
 * value times 2^-112 (subnormal halves become float subnormals), so one
 * exact multiply by 2^112 finishes; the sign rides along in bit 31.
 * Infinities and NaNs (exponent 31) are NOT handled: callers check. */
static inline v128_t half4_finite(v128_t h32) {
    const v128_t b = wasm_v128_and(wasm_i32x4_shl(h32, 13), wasm_i32x4_const_splat((int32_t)0x8fffe000));
    return wasm_f32x4_mul(b, wasm_f32x4_const_splat(0x1p112f));
}

/* any half of 8 with exponent 31 */
static inline v128_t half8_special(v128_t h) {
    const v128_t e = wasm_i16x8_const_splat(0x7c00);
    return wasm_i16x8_eq(wasm_v128_and(h, e), e);
}

static void vec_dot_f16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    const int64_t np = n & ~(int64_t)63;
    v128_t acc[4][4];
    for (int j = 0; j < 4; j++)
        for (int l = 0; l < 4; l++) acc[j][l] = wasm_f32x4_const_splat(0.0f);
    for (int64_t i = 0; i < np; i += 64) {
        v128_t hx[8], hy[8], special = wasm_i16x8_const_splat(0);
        for (int k = 0; k < 8; k++) {
            hx[k] = wasm_v128_load(x + i + 8 * k);
            hy[k] = wasm_v128_load(y + i + 8 * k);
            special = wasm_v128_or(special, wasm_v128_or(half8_special(hx[k]), half8_special(hy[k])));
        }
        if (__builtin_expect(wasm_v128_any_true(special), 0)) {
            /* inf / nan present: the reference conversion, lane by lane */
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 4; l++) {
                    const int64_t e = i + 16 * j + 4 * l;
                    const v128_t fx = wasm_f32x4_make(qw_fp16_to_fp32(x[e]), qw_fp16_to_fp32(x[e + 1]),
                                                      qw_fp16_to_fp32(x[e + 2]), qw_fp16_to_fp32(x[e + 3]));
                    const v128_t fy = wasm_f32x4_make(qw_fp16_to_fp32(y[e]), qw_fp16_to_fp32(y[e + 1]),
                                                      qw_fp16_to_fp32(y[e + 2]), qw_fp16_to_fp32(y[e + 3]));
                    acc[j][l] = wasm_f32x4_add(wasm_f32x4_mul(fx, fy), acc[j][l]);
                }
            continue;
        }
        for (int j = 0; j < 4; j++) {
            /* elements i + 16j + 0..15: hx[2j] (0..7), hx[2j+1] (8..15) */
            const v128_t x0 = half4_finite(wasm_i32x4_extend_low_i16x8(hx[2 * j]));
            const v128_t x1 = half4_finite(wasm_i32x4_extend_high_i16x8(hx[2 * j]));
            const v128_t x2 = half4_finite(wasm_i32x4_extend_low_i16x8(hx[2 * j + 1]));
            const v128_t x3 = half4_finite(wasm_i32x4_extend_high_i16x8(hx[2 * j + 1]));
            const v128_t y0 = half4_finite(wasm_i32x4_extend_low_i16x8(hy[2 * j]));
            const v128_t y1 = half4_finite(wasm_i32x4_extend_high_i16x8(hy[2 * j]));
            const v128_t y2 = half4_finite(wasm_i32x4_extend_low_i16x8(hy[2 * j + 1]));
            const v128_t y3 = half4_finite(wasm_i32x4_extend_high_i16x8(hy[2 * j + 1]));
            /* exact product, one rounding in the add: fmaf */
            acc[j][0] = wasm_f32x4_add(wasm_f32x4_mul(x0, y0), acc[j][0]);
            acc[j][1] = wasm_f32x4_add(wasm_f32x4_mul(x1, y1), acc[j][1]);
            acc[j][2] = wasm_f32x4_add(wasm_f32x4_mul(x2, y2), acc[j][2]);
            acc[j][3] = wasm_f32x4_add(wasm_f32x4_mul(x3, y3), acc[j][3]);
        }
    }
    double sum = 0.0;
    if (np) {
        v128_t a[4];
        for (int l = 0; l < 4; l++) {
            const v128_t a0 = wasm_f32x4_add(acc[0][l], acc[2][l]);
            const v128_t a1 = wasm_f32x4_add(acc[1][l], acc[3][l]);
            a[l] = wasm_f32x4_add(a0, a1);
        }
        /* qw_hsum16: t8 = a[8..15] + a[0..7]; t4 = t8[4..7] + t8[0..3] */
        const v128_t t4 = wasm_f32x4_add(wasm_f32x4_add(a[3], a[1]), wasm_f32x4_add(a[2], a[0]));
        const float h = (wasm_f32x4_extract_lane(t4, 0) + wasm_f32x4_extract_lane(t4, 2)) +
                        (wasm_f32x4_extract_lane(t4, 1) + wasm_f32x4_extract_lane(t4, 3));
        sum = (double)h;
    }
    for (int64_t i = np; i < n; i++) sum += (double)(qw_fp16_to_fp32(x[i]) * qw_fp16_to_fp32(y[i]));
    *s = (float)sum;
}

/* F32 / BF16: float products (SIMD), summed in double strictly in order. */
static inline double add_products4(double sum, v128_t prod) {
    const v128_t lo = wasm_f64x2_promote_low_f32x4(prod);
    const v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(prod, prod, 2, 3, 2, 3));
    sum += wasm_f64x2_extract_lane(lo, 0);
    sum += wasm_f64x2_extract_lane(lo, 1);
    sum += wasm_f64x2_extract_lane(hi, 0);
    sum += wasm_f64x2_extract_lane(hi, 1);
    return sum;
}

static void vec_dot_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        sum = add_products4(sum, wasm_f32x4_mul(wasm_v128_load(x + i), wasm_v128_load(y + i)));
    for (; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

static void vec_dot_bf16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const v128_t hx = wasm_v128_load(x + i), hy = wasm_v128_load(y + i);
        const v128_t x0 = wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(hx), 16);
        const v128_t x1 = wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(hx), 16);
        const v128_t y0 = wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(hy), 16);
        const v128_t y1 = wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(hy), 16);
        sum = add_products4(sum, wasm_f32x4_mul(x0, y0));
        sum = add_products4(sum, wasm_f32x4_mul(x1, y1));
    }
    for (; i < n; i++) sum += (double)(qw_bf16_to_fp32(x[i]) * qw_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

/* ======================================================================== */
/* F32 attention / FFN kernels: accum.h's dot orders and vexp.h's exp         */
/* ======================================================================== */

/* lanes 0,1 and 2,3 of an f32x4 as f64x2 */
static inline v128_t f32_lo_f64(v128_t v) { return wasm_f64x2_promote_low_f32x4(v); }
static inline v128_t f32_hi_f64(v128_t v) {
    return wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 2, 3));
}

#if !QW_WASM_FUSED

/* Here fmaf(a, b, c) has float a and b, so the product is exact in double
 * (48 bits) but, unlike the block types above, can lie far below 2^-149.
 * The midpoint argument of the header holds wherever r = RN53(a*b + c) is a
 * normal float magnitude (>= 2^-126) or zero; for 0 < |r| < 2^-126 float
 * midpoints are not recognisable from r's low mantissa bits, so such lanes
 * (absurdly small values, never in a real model) take the scalar path. */


/* 0 < |r| < 2^-126, lanewise (NaN: false) */
static inline v128_t tiny_lanes(v128_t r) {
    const v128_t t = wasm_f64x2_abs(r);
    return wasm_v128_and(wasm_f64x2_lt(t, wasm_f64x2_const_splat(0x1p-126)),
                         wasm_f64x2_gt(t, wasm_f64x2_const_splat(0.0)));
}

/* acc16: 16 fma lanes, v[j] = lanes 2j, 2j+1 (floats as doubles) */
typedef struct {
    v128_t v[8];
} acc16;

static inline void acc16_zero(acc16 *acc) {
    for (int j = 0; j < 8; j++) acc->v[j] = wasm_f64x2_const_splat(0.0);
}

/* lane l = fmaf(a[l], b[l], lane l) for a[0..16), b[0..16) */
static inline __attribute__((always_inline)) void acc16_step(acc16 *accv, const float *a, const float *b) {
    v128_t *acc = accv->v;
    const v128_t mask = wasm_i64x2_const_splat(0x1fffffff);
    const v128_t mid = wasm_i64x2_const_splat(0x10000000);
    v128_t p[8], r[8], hit = wasm_i64x2_const_splat(0);
    for (int k = 0; k < 4; k++) {
        const v128_t va = wasm_v128_load(a + 4 * k), vb = wasm_v128_load(b + 4 * k);
        p[2 * k] = wasm_f64x2_mul(f32_lo_f64(va), f32_lo_f64(vb));
        p[2 * k + 1] = wasm_f64x2_mul(f32_hi_f64(va), f32_hi_f64(vb));
    }
    for (int j = 0; j < 8; j++) {
        r[j] = wasm_f64x2_add(p[j], acc[j]);
        hit = wasm_v128_or(hit, wasm_v128_or(wasm_i64x2_eq(wasm_v128_and(r[j], mask), mid), tiny_lanes(r[j])));
    }
    if (__builtin_expect(wasm_v128_any_true(hit), 0)) {
        /* rare: a float midpoint (exact or not) or a subnormal-range sum */
        for (int j = 0; j < 8; j++) {
            const float c0 = (float)wasm_f64x2_extract_lane(acc[j], 0), c1 = (float)wasm_f64x2_extract_lane(acc[j], 1);
            const float f0 = qw_fmaf_from_product(wasm_f64x2_extract_lane(p[j], 0), c0);
            const float f1 = qw_fmaf_from_product(wasm_f64x2_extract_lane(p[j], 1), c1);
            acc[j] = wasm_f64x2_make((double)f0, (double)f1);
        }
        return;
    }
    for (int j = 0; j < 8; j++) acc[j] = round_f32(r[j]);
}

static inline void acc16_store(const acc16 *acc, float out[16]) {
    for (int j = 0; j < 8; j++) {
        out[2 * j] = (float)wasm_f64x2_extract_lane(acc->v[j], 0);
        out[2 * j + 1] = (float)wasm_f64x2_extract_lane(acc->v[j], 1);
    }
}

#else /* QW_WASM_FUSED */

/* acc16: 16 fma lanes, v[k] = lanes 4k..4k+3 */
typedef struct {
    v128_t v[4];
} acc16;

static inline void acc16_zero(acc16 *acc) {
    for (int k = 0; k < 4; k++) acc->v[k] = wasm_f32x4_const_splat(0.0f);
}

static inline __attribute__((always_inline)) void acc16_step(acc16 *acc, const float *a, const float *b) {
    for (int k = 0; k < 4; k++) acc->v[k] = madd(wasm_v128_load(a + 4 * k), wasm_v128_load(b + 4 * k), acc->v[k]);
}

static inline void acc16_store(const acc16 *acc, float out[16]) {
    for (int k = 0; k < 4; k++) wasm_v128_store(out + 4 * k, acc->v[k]);
}

#endif /* QW_WASM_FUSED */

/* qw_dot_f32_lanes16 (n a multiple of 16) */
static float dot_f32_lanes16(const float *a, const float *b, int n) {
    acc16 acc;
    acc16_zero(&acc);
    for (int i = 0; i + 16 <= n; i += 16) acc16_step(&acc, a + i, b + i);
    float f[16];
    acc16_store(&acc, f);
    return qw_hsum16(f);
}

/* qw_dot_f32_steps64 */
static float dot_f32_steps64(const float *a, const float *b, int n) {
    const int np = n & ~63;
    float sum = 0.0f;
    if (np) {
        acc16 acc[4];
        for (int j = 0; j < 4; j++) acc16_zero(&acc[j]);
        for (int i = 0; i < np; i += 64)
            for (int j = 0; j < 4; j++) acc16_step(&acc[j], a + i + 16 * j, b + i + 16 * j);
        float f[4][16];
        for (int j = 0; j < 4; j++) acc16_store(&acc[j], f[j]);
        for (int l = 0; l < 16; l++) {
            f[0][l] += f[2][l];
            f[1][l] += f[3][l];
            f[0][l] += f[1][l];
        }
        sum = qw_hsum16(f[0]);
    }
    for (int i = np; i < n; i++) sum += a[i] * b[i];
    return sum;
}

/* steps64 dots of q with n_keys rows of k. Each dot's sequential tail (the
 * elements after the last whole 64, i.e. all of them when n < 64: a head of 48
 * or a short context) is one dependent float add per element, latency-bound
 * when run key after key; here 8 keys run side by side, key t + j in lane j,
 * each lane doing exactly its key's steps (the same product rounding, the same
 * adds in the same order, from the same start: the 64-wide part's sum). */
static void dot_f32_steps64_keys(const float *q, const float *k, size_t k_stride, int n_keys, int n, float *out) {
    const int np = n & ~63;
    int t = 0;
    for (; t + 8 <= n_keys; t += 8) {
        const float *kt = k + (size_t)t * k_stride;
        float s[8];
        for (int j = 0; j < 8; j++) s[j] = np ? dot_f32_steps64(q, kt + (size_t)j * k_stride, np) : 0.0f;
        v128_t acc0 = wasm_v128_load(s), acc1 = wasm_v128_load(s + 4);
        for (int i = np; i < n; i++) {
            const v128_t qi = wasm_f32x4_splat(q[i]);
            const float *c = kt + i;
            const v128_t k0 = wasm_f32x4_make(c[0], c[k_stride], c[2 * k_stride], c[3 * k_stride]);
            const v128_t k1 = wasm_f32x4_make(c[4 * k_stride], c[5 * k_stride], c[6 * k_stride], c[7 * k_stride]);
            acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(qi, k0));
            acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(qi, k1));
        }
        wasm_v128_store(out + t, acc0);
        wasm_v128_store(out + t + 4, acc1);
    }
    for (; t < n_keys; t++) out[t] = dot_f32_steps64(q, k + (size_t)t * k_stride, n);
}

/* ---- qw_vexpf over 16 lanes ------------------------------------------- */

/* x16: 16 float lanes, with the operations qw_vexpf needs: fmaf (x16_fma),
 * float subtract, multiply and negate, and the final ldexpf. */
#if !QW_WASM_FUSED

/* floats held as doubles, v[j] = lanes 2j, 2j+1 */
typedef struct {
    v128_t v[8];
} x16;

static inline x16 x16_load(const float *x) {
    x16 r;
    for (int k = 0; k < 4; k++) {
        const v128_t v = wasm_v128_load(x + 4 * k);
        r.v[2 * k] = f32_lo_f64(v);
        r.v[2 * k + 1] = f32_hi_f64(v);
    }
    return r;
}

static inline x16 x16_splat(float c) {
    x16 r;
    for (int j = 0; j < 8; j++) r.v[j] = wasm_f64x2_splat((double)c);
    return r;
}

/* fmaf(a, b, c) on 16 lanes, for lanes whose sums are never in (0, 2^-126)
 * in magnitude (vexp16's caller guarantees it, see there): midpoints are
 * fixed in SIMD (fix_midpoints), no scalar path */
static inline __attribute__((always_inline)) x16 x16_fma(x16 a, x16 b, x16 c) {
    const v128_t mask = wasm_i64x2_const_splat(0x1fffffff);
    const v128_t mid = wasm_i64x2_const_splat(0x10000000);
    x16 p, r;
    v128_t hit = wasm_i64x2_const_splat(0);
    for (int j = 0; j < 8; j++) {
        p.v[j] = wasm_f64x2_mul(a.v[j], b.v[j]);
        r.v[j] = wasm_f64x2_add(p.v[j], c.v[j]);
        hit = wasm_v128_or(hit, wasm_i64x2_eq(wasm_v128_and(r.v[j], mask), mid));
    }
    if (__builtin_expect(wasm_v128_any_true(hit), 0))
        for (int j = 0; j < 8; j++) r.v[j] = fix_midpoints(r.v[j], p.v[j], c.v[j], mask, mid);
    for (int j = 0; j < 8; j++) r.v[j] = round_f32(r.v[j]);
    return r;
}

/* float a - b, for lanes where a - b is exact in double (vexp16's z -
 * shifter), so the one rounding is the float subtraction's */
static inline x16 x16_sub(x16 a, x16 b) {
    x16 r;
    for (int j = 0; j < 8; j++) r.v[j] = round_f32(wasm_f64x2_sub(a.v[j], b.v[j]));
    return r;
}

/* float a * b (the product of two floats is exact in double) */
static inline x16 x16_mul(x16 a, x16 b) {
    x16 r;
    for (int j = 0; j < 8; j++) r.v[j] = round_f32(wasm_f64x2_mul(a.v[j], b.v[j]));
    return r;
}

static inline x16 x16_neg(x16 a) {
    x16 r;
    for (int j = 0; j < 8; j++) r.v[j] = wasm_f64x2_neg(a.v[j]);
    return r;
}

/* lanes 2j, 2j+1 as f64x2 */
static inline v128_t x16_f64(const x16 *a, int j) { return a->v[j]; }

#else /* QW_WASM_FUSED */

/* v[k] = lanes 4k..4k+3 */
typedef struct {
    v128_t v[4];
} x16;

static inline x16 x16_load(const float *x) {
    x16 r;
    for (int k = 0; k < 4; k++) r.v[k] = wasm_v128_load(x + 4 * k);
    return r;
}

static inline x16 x16_splat(float c) {
    x16 r;
    for (int k = 0; k < 4; k++) r.v[k] = wasm_f32x4_splat(c);
    return r;
}

/* any lanes: the fused madd rounds once, subnormal sums included */
static inline __attribute__((always_inline)) x16 x16_fma(x16 a, x16 b, x16 c) {
    x16 r;
    for (int k = 0; k < 4; k++) r.v[k] = madd(a.v[k], b.v[k], c.v[k]);
    return r;
}

static inline x16 x16_sub(x16 a, x16 b) {
    x16 r;
    for (int k = 0; k < 4; k++) r.v[k] = wasm_f32x4_sub(a.v[k], b.v[k]);
    return r;
}

static inline x16 x16_mul(x16 a, x16 b) {
    x16 r;
    for (int k = 0; k < 4; k++) r.v[k] = wasm_f32x4_mul(a.v[k], b.v[k]);
    return r;
}

static inline x16 x16_neg(x16 a) {
    x16 r;
    for (int k = 0; k < 4; k++) r.v[k] = wasm_f32x4_neg(a.v[k]);
    return r;
}

static inline v128_t x16_f64(const x16 *a, int j) {
    return j & 1 ? f32_hi_f64(a->v[j / 2]) : f32_lo_f64(a->v[j / 2]);
}

#endif /* QW_WASM_FUSED */

/* Can vexp16 take these 16 inputs? Not when one is NaN or 0 < |x| <
 * 2^-100. Otherwise no fma inside qw_vexpf has a sum in (0, 2^-126): the
 * reduced argument x - n*ln2 (two fmas) is 0 or a multiple of ulp(x) >=
 * 2^-123 (n*ln2's parts have coarser grids), so |b| is 0 or >= 2^-123, and
 * every later fma adds a term of magnitude > 2^-8 (the polynomial's
 * constants) to products far smaller, or to exact zero products. Large
 * |x| (including infinities) saturate through |n| > 192 like the reference;
 * their intermediate lanes may be garbage, but they are selected away.
 * (Only the baseline x16_fma needs the range; the relaxed build keeps the
 * same test, which costs little and keeps one code path.) */
static inline bool vexp16_ok(const float *x) {
    v128_t bad = wasm_i32x4_const_splat(0);
    for (int k = 0; k < 4; k++) {
        const v128_t v = wasm_v128_load(x + 4 * k);
        const v128_t t = wasm_f32x4_abs(v);
        bad = wasm_v128_or(bad, wasm_f32x4_ne(v, v));
        bad = wasm_v128_or(bad, wasm_v128_and(wasm_f32x4_lt(t, wasm_f32x4_const_splat(0x1p-100f)),
                                              wasm_f32x4_gt(t, wasm_f32x4_const_splat(0.0f))));
    }
    return !wasm_v128_any_true(bad);
}

/* x[0..16) = qw_vexpf(x[0..16)), for inputs vexp16_ok accepts */
static inline void vexp16(float *x) {
    const x16 xv = x16_load(x);
    /* z = x / ln2 + shifter; n = z - shifter (float), as floats */
    const x16 shifter = x16_splat(0x1.8p23f);
    const x16 z = x16_fma(xv, x16_splat(0x1.715476p+0f), shifter);
    const x16 n = x16_sub(z, shifter), nn = x16_neg(n);
    const x16 b = x16_fma(nn, x16_splat(0x1.7f7d1cp-20f), x16_fma(nn, x16_splat(0x1.62e4p-1f), xv));
    const x16 u = x16_mul(b, b);
    const x16 p =
        x16_fma(x16_fma(x16_fma(x16_splat(0x1.0e4020p-7f), b, x16_splat(0x1.573e2ep-5f)), u,
                        x16_fma(x16_splat(0x1.555e66p-3f), b, x16_splat(0x1.fffdb6p-2f))),
                u, x16_fma(x16_splat(0x1.ffffecp-1f), b, x16_splat(1.0f)));
#if QW_WASM_FUSED
    /* ldexpf(p, n) when every n is in [-126, 127] (nearly always): 2^n is a
     * normal float, built from its exponent bits, and one float multiply
     * rounds the exact p * 2^n once, as ldexpf does (a subnormal result
     * too). n comes from z's bits: z = 1.5 * 2^23 + n exactly while |n| <
     * 2^22 (ulp 1 in that binade), and a z outside the binade (or inf)
     * differs from the shifter's bits by far more than 127. In Chromium the
     * double path below made swiglu's 768 exps ~6x slower than natively. */
    {
        v128_t ni[4], out = wasm_i32x4_const_splat(0);
        for (int k = 0; k < 4; k++) {
            ni[k] = wasm_i32x4_sub(z.v[k], wasm_i32x4_const_splat(0x4b400000)); /* bits of 0x1.8p23f */
            out = wasm_v128_or(out, wasm_v128_or(wasm_i32x4_gt(ni[k], wasm_i32x4_const_splat(127)),
                                                 wasm_i32x4_lt(ni[k], wasm_i32x4_const_splat(-126))));
        }
        if (!wasm_v128_any_true(out)) {
            for (int k = 0; k < 4; k++) {
                const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(ni[k], wasm_i32x4_const_splat(127)), 23);
                wasm_v128_store(x + 4 * k, wasm_f32x4_mul(p.v[k], scale));
            }
            return;
        }
    }
#endif
    /* ldexpf(p, n): p * 2^n in double is exact (|n| <= 192), then one
     * rounding to float, as ldexpf rounds (subnormal results, overflow);
     * |n| > 192: 0 or inf */
    v128_t res[8];
    for (int j = 0; j < 8; j++) {
        const v128_t nv = x16_f64(&n, j);
        const v128_t big = wasm_f64x2_gt(wasm_f64x2_abs(nv), wasm_f64x2_const_splat(192.0));
        const v128_t ni = wasm_v128_andnot(nv, big); /* +0 where saturated */
        const v128_t e = wasm_i64x2_extend_low_i32x4(wasm_i32x4_trunc_sat_f64x2_zero(ni));
        const v128_t scale = wasm_i64x2_shl(wasm_i64x2_add(e, wasm_i64x2_const_splat(1023)), 52);
        const v128_t sat = wasm_v128_and(wasm_f64x2_gt(nv, wasm_f64x2_const_splat(0.0)),
                                         wasm_f64x2_const_splat(INFINITY)); /* n > 0: inf, else 0 */
        res[j] = wasm_v128_bitselect(sat, wasm_f64x2_mul(x16_f64(&p, j), scale), big);
    }
    for (int k = 0; k < 4; k++) {
        const v128_t lo = wasm_f32x4_demote_f64x2_zero(res[2 * k]);
        const v128_t hi = wasm_f32x4_demote_f64x2_zero(res[2 * k + 1]);
        wasm_v128_store(x + 4 * k, wasm_i32x4_shuffle(lo, hi, 0, 1, 4, 5));
    }
}

static double exp_sum16(float *x, int n, float sub) {
    double sum = 0.0;
    const v128_t vs = wasm_f32x4_splat(sub);
    for (int t = 0; t + 15 < n; t += 16) {
        for (int k = 0; k < 4; k++) wasm_v128_store(x + t + 4 * k, wasm_f32x4_sub(wasm_v128_load(x + t + 4 * k), vs));
        if (vexp16_ok(x + t))
            vexp16(x + t);
        else
            for (int i = t; i < t + 16; i++) x[i] = qw_vexpf(x[i]);
        sum += (double)qw_hsum16(x + t);
    }
    return sum;
}

static void swiglu(float *gate, const float *up, int n) {
    int i = 0;
    for (; i + 15 < n; i += 16) {
        float e[16];
        for (int k = 0; k < 4; k++) wasm_v128_store(e + 4 * k, wasm_f32x4_neg(wasm_v128_load(gate + i + 4 * k)));
        if (vexp16_ok(e))
            vexp16(e);
        else
            for (int k = 0; k < 16; k++) e[k] = qw_vexpf(e[k]);
        for (int k = 0; k < 4; k++) {
            const v128_t g = wasm_v128_load(gate + i + 4 * k);
            const v128_t d = wasm_f32x4_add(wasm_f32x4_const_splat(1.0f), wasm_v128_load(e + 4 * k));
            wasm_v128_store(gate + i + 4 * k, wasm_f32x4_mul(wasm_f32x4_div(g, d), wasm_v128_load(up + i + 4 * k)));
        }
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/* ======================================================================== */
/* activation quantizers                                                     */
/* ======================================================================== */

static inline float hmax4(v128_t v) {
    v = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
    v = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
    return wasm_f32x4_extract_lane(v, 0);
}

/* 16 int8 levels of x[0..15] * id: round half to even, clamped to lo..127
 * (lo = -127 or -128); NaN gives 0 (trunc_sat). */
static inline v128_t levels16(const float *x, v128_t vid, int lo) {
    v128_t q[4];
    for (int k = 0; k < 4; k++)
        q[k] = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + 4 * k), vid)));
    const v128_t w = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(q[0], q[1]), wasm_i16x8_narrow_i32x4(q[2], q[3]));
    return lo == -128 ? w : wasm_i8x16_max(w, wasm_i8x16_splat(-127));
}

/* max |x| over 32 values; NaN if any is NaN (f32x4.max propagates it) */
static inline float absmax32(const float *x) {
    v128_t m = wasm_f32x4_abs(wasm_v128_load(x));
    for (int k = 1; k < 8; k++) m = wasm_f32x4_max(m, wasm_f32x4_abs(wasm_v128_load(x + 4 * k)));
    return hmax4(m);
}

static void quantize_act_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float amax = absmax32(x);
        if (amax != amax) { /* a NaN: the reference picks which one */
            qw_quantize_act_q8_0(x, &y[i], QK8_0);
            continue;
        }
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const v128_t vid = wasm_f32x4_splat(id);
        y[i].d = qw_fp32_to_fp16(amax / 127.0f);
        wasm_v128_store(y[i].qs, levels16(x, vid, -127));
        wasm_v128_store(y[i].qs + 16, levels16(x + 16, vid, -127));
    }
}

static inline int32_t hsum_i8x16(v128_t v) {
    const v128_t s = wasm_i32x4_extadd_pairwise_i16x8(wasm_i16x8_extadd_pairwise_i8x16(v));
    return wasm_i32x4_extract_lane(s, 0) + wasm_i32x4_extract_lane(s, 1) + wasm_i32x4_extract_lane(s, 2) +
           wasm_i32x4_extract_lane(s, 3);
}

static void quantize_act_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float amax = absmax32(x);
        if (amax != amax) {
            qw_quantize_act_q8_1(x, &y[i], QK8_1);
            continue;
        }
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const v128_t vid = wasm_f32x4_splat(id);
        const v128_t q0 = levels16(x, vid, -127), q1 = levels16(x + 16, vid, -127);
        y[i].d = qw_fp32_to_fp16(d);
        wasm_v128_store(y[i].qs, q0);
        wasm_v128_store(y[i].qs + 16, q1);
        y[i].s = qw_fp32_to_fp16((float)(hsum_i8x16(q0) + hsum_i8x16(q1)) * d);
    }
}

static void quantize_act_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        /* pmax(acc, v) keeps acc when v is NaN: NaNs are never chosen */
        v128_t m = wasm_f32x4_const_splat(0.0f);
        for (int k = 0; k < QK_K / 4; k++) m = wasm_f32x4_pmax(m, wasm_f32x4_abs(wasm_v128_load(x + 4 * k)));
        m = wasm_f32x4_pmax(m, wasm_i32x4_shuffle(m, m, 2, 3, 0, 1));
        m = wasm_f32x4_pmax(m, wasm_i32x4_shuffle(m, m, 1, 0, 3, 2));
        const float amax = wasm_f32x4_extract_lane(m, 0);
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            memset(y[i].qs, 0, sizeof y[i].qs);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            continue;
        }
        /* the first element of that magnitude, sign kept */
        const v128_t va = wasm_f32x4_splat(amax);
        float max = 0.0f;
        for (int k = 0; k < QK_K / 4; k++) {
            const int bm = wasm_i32x4_bitmask(wasm_f32x4_eq(wasm_f32x4_abs(wasm_v128_load(x + 4 * k)), va));
            if (bm) {
                max = x[4 * k + __builtin_ctz((unsigned)bm)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const v128_t vis = wasm_f32x4_splat(iscale);
        for (int g = 0; g < QK_K / 16; g++) {
            const v128_t q = levels16(x + 16 * g, vis, -128);
            wasm_v128_store(y[i].qs + 16 * g, q);
            y[i].bsums[g] = (int16_t)hsum_i8x16(q);
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ======================================================================== */

static const qw_kernel_set g_wasm_simd128 = {
#if QW_WASM_FUSED
    .name = "wasm-relaxed-simd",
#else
    .name = "wasm-simd128",
#endif
    .vec_dot =
        {
            [QW_TYPE_F32] = vec_dot_f32,
            [QW_TYPE_F16] = vec_dot_f16,
            [QW_TYPE_BF16] = vec_dot_bf16,
            [QW_TYPE_Q4_0] = vec_dot_q4_0,
            [QW_TYPE_Q4_1] = vec_dot_q4_1,
            [QW_TYPE_Q5_0] = vec_dot_q5_0,
            [QW_TYPE_Q5_1] = vec_dot_q5_1,
            [QW_TYPE_Q8_0] = vec_dot_q8_0,
            [QW_TYPE_IQ4_NL] = vec_dot_iq4_nl,
            [QW_TYPE_Q2_K] = vec_dot_q2_K,
            [QW_TYPE_Q3_K] = vec_dot_q3_K,
            [QW_TYPE_Q4_K] = vec_dot_q4_K,
            [QW_TYPE_Q5_K] = vec_dot_q5_K,
            [QW_TYPE_Q6_K] = vec_dot_q6_K,
            [QW_TYPE_IQ4_XS] = vec_dot_iq4_xs,
        },
    .vec_dot_rows8 =
        {
            [QW_TYPE_Q4_0] = vec_dot_q4_0_serial,
        },
    .quantize_act =
        {
            [QW_TYPE_Q8_0] = quantize_act_q8_0,
            [QW_TYPE_Q8_1] = quantize_act_q8_1,
            [QW_TYPE_Q8_K] = quantize_act_q8_K,
        },
    .vec_dot_r4 =
        {
            [QW_TYPE_Q4_0] = vec_dot_q4_0_r4,
            [QW_TYPE_Q5_0] = vec_dot_q5_0_r4,
            [QW_TYPE_Q8_0] = vec_dot_q8_0_r4,
            [QW_TYPE_IQ4_NL] = vec_dot_iq4_nl_r4,
        },
    .vec_dot_rows8_r8 =
        {
            [QW_TYPE_Q4_0] = vec_dot_q4_0_serial_r8,
        },
    .dot_f32_steps64 = dot_f32_steps64,
    .dot_f32_lanes16 = dot_f32_lanes16,
    .exp_sum16 = exp_sum16,
    .swiglu = swiglu,
    .dot_f32_steps64_keys = dot_f32_steps64_keys,
};

const qw_kernel_set *qw_kernels_wasm_simd128(void) { return &g_wasm_simd128; }

int qw_wasm_fma_fused(void) {
#if QW_WASM_FUSED
    /* a * a + c = 2^-24 exactly for a = 1 + 2^-12, c = -(1 + 2^-11); rounding
     * a * a to float first (a tie, to even) gives 1 + 2^-11, and the sum 0.
     * volatile: the engine, not the compiler, must compute it. */
    volatile float a = 0x1.001p0f, c = -0x1.002p0f;
    const v128_t va = wasm_f32x4_splat(a), vc = wasm_f32x4_splat(c);
    const v128_t r = madd(va, va, vc);
    if (!wasm_i32x4_all_true(wasm_f32x4_eq(r, wasm_f32x4_const_splat(0x1p-24f)))) return -1;
    /* and the integer dot product at the ends of its operand ranges: lane k =
     * 1000k + (-128 * 127 + 127 * 127 - 1 * 127 + 5 * 0) = 1000k - 254 */
    volatile int8_t lo = -128, hi = 127;
    const v128_t da = wasm_i8x16_make(lo, hi, -1, 5, lo, hi, -1, 5, lo, hi, -1, 5, lo, hi, -1, 5);
    const v128_t db = wasm_i8x16_make(hi, hi, hi, 0, hi, hi, hi, 0, hi, hi, hi, 0, hi, hi, hi, 0);
    const v128_t d = dot_i8_u7_add(da, db, wasm_i32x4_make(0, 1000, 2000, 3000));
    const v128_t want = wasm_i32x4_make(-254, 746, 1746, 2746);
    if (!wasm_i32x4_all_true(wasm_i32x4_eq(d, want))) return -1;
    /* and its i16 form: pairs (-128, -128) x (127, 127) = -32512 (the most
     * negative pair sum), (5, -3) x (2, 0) = 10 */
    const v128_t ea = wasm_i8x16_make(lo, lo, 5, -3, lo, lo, 5, -3, lo, lo, 5, -3, lo, lo, 5, -3);
    const v128_t eb = wasm_i8x16_make(hi, hi, 2, 0, hi, hi, 2, 0, hi, hi, 2, 0, hi, hi, 2, 0);
    const v128_t e = dot16_i8_u7(ea, eb);
    const v128_t want16 = wasm_i16x8_make(-32512, 10, -32512, 10, -32512, 10, -32512, 10);
    return wasm_i16x8_all_true(wasm_i16x8_eq(e, want16)) ? 1 : -1;
#else
    return 0;
#endif
}

#else

const qw_kernel_set *qw_kernels_wasm_simd128(void) { return NULL; }

int qw_wasm_fma_fused(void) { return 0; }

#endif

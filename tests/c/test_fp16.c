/* fp16.h against independent oracles.
 *
 *  - half -> float, all 65536 inputs: against an ldexp-based decoding written
 *    from the IEEE definition, and (when the compiler has _Float16) against
 *    the compiler's own conversion.
 *  - float -> half: at every rounding decision point (each representable half,
 *    the exact midpoint to its successor, and the floats one ulp either side
 *    of those), plus random bit patterns and hand-picked edges. Checked
 *    against the defining property "nearest half, ties to even mantissa,
 *    overflow to inf", and against _Float16 when available.
 *  - float -> bf16: the same property checks, at every bf16 boundary.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "qw_test.h"
#include "quant/fp16.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng_u32(void) {
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* ---- oracles written from the format definitions ----------------------- */

/* value of a half, from the IEEE 754 binary16 definition */
static double half_value(uint16_t h) {
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp((double)m, -24);
    else v = ldexp((double)(1024 + m), e - 25);
    return sign ? -v : v;
}

static double bf16_value(uint16_t b) {
    int sign = b >> 15, e = (b >> 7) & 255, m = b & 127;
    double v;
    if (e == 255) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp((double)m, -133);
    else v = ldexp((double)(128 + m), e - 134);
    return sign ? -v : v;
}

typedef double (*value_fn)(uint16_t);

/* Checks that `got` is the correctly rounded (nearest, ties to even)
 * encoding of finite or infinite non-NaN f in a format whose largest finite
 * magnitude encoding is `max_bits` and infinity is `inf_bits`. */
static int is_rne(float f, uint16_t got, value_fn val, uint16_t max_bits, uint16_t inf_bits) {
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    if ((got & 0x8000) != sign) return 0; /* sign is always kept, even for 0 */
    uint16_t mag = got & 0x7fff;
    double a = fabs((double)f);
    if (isinf(f)) return mag == inf_bits;
    double top = val(max_bits), ulp_top = top - val((uint16_t)(max_bits - 1));
    /* IEEE: overflow iff |f| >= max + ulp/2 (the tie rounds to the even,
     * out-of-range, value) */
    if (a >= top + ulp_top / 2) return mag == inf_bits;
    if (mag > max_bits) return 0;
    double v = val(mag);
    double err = fabs(a - v);
    double up = mag < max_bits ? fabs(a - val((uint16_t)(mag + 1))) : INFINITY;
    double dn = mag > 0 ? fabs(a - val((uint16_t)(mag - 1))) : INFINITY;
    if (err > up || err > dn) return 0;
    if ((err == up || err == dn) && (mag & 1)) return 0; /* tie: even wins */
    return 1;
}

static int half_ok(float f, uint16_t h) { return is_rne(f, h, half_value, 0x7bff, 0x7c00); }
static int bf16_ok(float f, uint16_t b) { return is_rne(f, b, bf16_value, 0x7f7f, 0x7f80); }

static float next_up(float f) { return nextafterf(f, INFINITY); }
static float next_dn(float f) { return nextafterf(f, -INFINITY); }

/* ---- half -> float ------------------------------------------------------ */

static void test_half_to_float_exhaustive(void) {
    int bad = 0, bad_cc = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float got = qw_fp16_to_fp32((uint16_t)h);
        double want = half_value((uint16_t)h);
        if (isnan(want)) {
            /* NaN in, NaN out, same sign */
            if (!isnan(got) || !signbit(got) != !(h & 0x8000)) bad++;
        } else if ((double)got != want || !signbit(got) != !(h & 0x8000)) {
            bad++;
        }
#if defined(__FLT16_MAX__)
        _Float16 hf;
        uint16_t hb = (uint16_t)h;
        memcpy(&hf, &hb, 2);
        float cc = (float)hf;
        if (isnan(cc) ? !isnan(got) : qw_f32_bits(cc) != qw_f32_bits(got)) bad_cc++;
#endif
    }
    CHECKF(bad == 0, "%d halves decode wrongly vs definition", bad);
    CHECKF(bad_cc == 0, "%d halves decode differently from _Float16", bad_cc);
}

/* every half (except NaN) survives half -> float -> half unchanged */
static void test_half_round_trip(void) {
    int bad = 0, bad_nan = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t back = qw_fp32_to_fp16(qw_fp16_to_fp32((uint16_t)h));
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan) {
            if ((back & 0x7c00) != 0x7c00 || !(back & 0x3ff) || (back & 0x8000) != (h & 0x8000))
                bad_nan++;
        } else if (back != h) {
            bad++;
        }
    }
    CHECKF(bad == 0, "%d halves do not round-trip", bad);
    CHECKF(bad_nan == 0, "%d NaN halves do not stay NaN", bad_nan);
}

/* ---- float -> half ------------------------------------------------------ */

static int check_f2h(float f, int *bad_cc) {
#if defined(__FLT16_MAX__)
    _Float16 hf = (_Float16)f;
    uint16_t cc;
    memcpy(&cc, &hf, 2);
    if (!isnan(f) && cc != qw_fp32_to_fp16(f)) (*bad_cc)++;
#else
    (void)bad_cc;
#endif
    return half_ok(f, qw_fp32_to_fp16(f));
}

/* All decision points: for each pair of adjacent non-negative halves (a, b)
 * the floats a, a+ulp, mid-ulp, mid, mid+ulp, b-ulp, with both signs. */
static void test_float_to_half_boundaries(void) {
    int bad = 0, bad_cc = 0, n = 0;
    for (uint16_t h = 0; h < 0x7c00; h++) {
        float a = qw_fp16_to_fp32(h), b = qw_fp16_to_fp32((uint16_t)(h + 1));
        float mid = (float)(((double)a + (double)b) / 2); /* exact: fits in 12 bits */
        float pts[6] = {a, next_up(a), next_dn(mid), mid, next_up(mid), next_dn(b)};
        for (int k = 0; k < 6; k++) {
            for (int s = 0; s < 2; s++) {
                float f = s ? -pts[k] : pts[k];
                n++;
                if (!check_f2h(f, &bad_cc)) {
                    if (bad < 5)
                        fprintf(stderr, "  f=%a -> %04x\n", (double)f, qw_fp32_to_fp16(f));
                    bad++;
                }
            }
        }
    }
    CHECKF(bad == 0, "%d of %d boundary floats round wrongly to half", bad, n);
    CHECKF(bad_cc == 0, "%d boundary floats differ from _Float16", bad_cc);
}

static void test_float_to_half_random(void) {
    int bad = 0, bad_cc = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = rng_u32();
        /* half the samples in the half's own range (|f| < 2^17), where the
         * interesting rounding happens */
        if (i & 1) u = (u & 0x807fffffu) | ((100u + u % 45u) << 23);
        float f = qw_bits_f32(u);
        if (isnan(f)) continue;
        if (!check_f2h(f, &bad_cc)) bad++;
    }
    CHECKF(bad == 0, "%d random floats round wrongly to half", bad);
    CHECKF(bad_cc == 0, "%d random floats differ from _Float16", bad_cc);
}

static void test_float_to_half_edges(void) {
    /* largest finite, the overflow tie and beyond */
    CHECK(qw_fp32_to_fp16(65504.0f) == 0x7bff);
    CHECK(qw_fp32_to_fp16(next_dn(65520.0f)) == 0x7bff);
    CHECK(qw_fp32_to_fp16(65520.0f) == 0x7c00);  /* tie: even is 2^16 -> inf */
    CHECK(qw_fp32_to_fp16(-65520.0f) == 0xfc00);
    CHECK(qw_fp32_to_fp16(1e10f) == 0x7c00);
    CHECK(qw_fp32_to_fp16(FLT_MAX) == 0x7c00);
    CHECK(qw_fp32_to_fp16(INFINITY) == 0x7c00);
    CHECK(qw_fp32_to_fp16(-INFINITY) == 0xfc00);
    /* zeros keep their sign */
    CHECK(qw_fp32_to_fp16(0.0f) == 0x0000);
    CHECK(qw_fp32_to_fp16(-0.0f) == 0x8000);
    /* subnormal halves: 2^-24 is the smallest */
    CHECK(qw_fp32_to_fp16(0x1p-24f) == 0x0001);
    CHECK(qw_fp32_to_fp16(0x1p-25f) == 0x0000);            /* tie -> even 0 */
    CHECK(qw_fp32_to_fp16(next_up(0x1p-25f)) == 0x0001);
    CHECK(qw_fp32_to_fp16(-0x1p-25f) == 0x8000);
    CHECK(qw_fp32_to_fp16(0x1.8p-24f) == 0x0002);          /* 1.5 -> 2 */
    CHECK(qw_fp32_to_fp16(0x1.4p-23f) == 0x0002);          /* 2.5 -> 2 */
    CHECK(qw_fp32_to_fp16(0x1.cp-23f) == 0x0004);          /* 3.5 -> 4 */
    CHECK(qw_fp32_to_fp16(0x1.ffcp-15f) == 0x0400);        /* 1023.5 -> 1024 = min normal */
    CHECK(qw_fp32_to_fp16(0x1p-14f) == 0x0400);
    CHECK(qw_fp32_to_fp16(FLT_MIN) == 0x0000);             /* float normals far below */
    CHECK(qw_fp32_to_fp16(0x1p-149f) == 0x0000);           /* float subnormal */
    CHECK(qw_fp32_to_fp16(-0x1p-149f) == 0x8000);
    /* normal ties: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
    CHECK(qw_fp32_to_fp16(1.0f + 0x1p-11f) == 0x3c00);
    CHECK(qw_fp32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3c02);
    CHECK(qw_fp32_to_fp16(next_up(1.0f + 0x1p-11f)) == 0x3c01);
    CHECK(qw_fp32_to_fp16(2047.0f + 0.5f) == 0x6800);      /* carry into exponent */
    CHECK(qw_fp32_to_fp16(1.0f / 3.0f) == 0x3555);
    CHECK(qw_fp32_to_fp16(-2.0f) == 0xc000);
    /* NaN: stays NaN, keeps sign */
    uint16_t qn = qw_fp32_to_fp16(NAN);
    CHECK((qn & 0x7c00) == 0x7c00 && (qn & 0x3ff) != 0);
    uint16_t nn = qw_fp32_to_fp16(-NAN);
    CHECK((nn & 0xfc00) == 0xfc00 && (nn & 0x3ff) != 0);
    /* a signalling NaN whose payload sits only in the low 13 bits must not
     * become infinity */
    uint16_t sn = qw_fp32_to_fp16(qw_bits_f32(0x7f800001u));
    CHECK((sn & 0x7c00) == 0x7c00 && (sn & 0x3ff) != 0);
}

/* ---- bf16 --------------------------------------------------------------- */

static void test_bf16_exhaustive_decode(void) {
    int bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float got = qw_bf16_to_fp32((uint16_t)b);
        double want = bf16_value((uint16_t)b);
        if (isnan(want) ? !isnan(got) : (double)got != want) bad++;
        /* and back, for non-NaN */
        if (!isnan(want) && qw_fp32_to_bf16(got) != b) bad++;
    }
    CHECKF(bad == 0, "%d bf16 values decode or round-trip wrongly", bad);
}

static void test_bf16_rounding(void) {
    int bad = 0, n = 0;
    /* decision points around every finite bf16 */
    for (uint16_t b = 0; b < 0x7f80; b++) {
        float a = qw_bf16_to_fp32(b), c = qw_bf16_to_fp32((uint16_t)(b + 1));
        float mid = qw_bits_f32(qw_f32_bits(a) + 0x8000u); /* exact midpoint */
        float pts[6] = {a, next_up(a), next_dn(mid), mid, next_up(mid), next_dn(c)};
        for (int k = 0; k < 6; k++) {
            for (int s = 0; s < 2; s++) {
                float f = s ? -pts[k] : pts[k];
                n++;
                if (!bf16_ok(f, qw_fp32_to_bf16(f))) bad++;
            }
        }
    }
    for (int i = 0; i < 1000000; i++) {
        float f = qw_bits_f32(rng_u32());
        if (isnan(f)) continue;
        n++;
        if (!bf16_ok(f, qw_fp32_to_bf16(f))) bad++;
    }
    CHECKF(bad == 0, "%d of %d floats round wrongly to bf16", bad, n);

    CHECK(qw_fp32_to_bf16(1.0f) == 0x3f80);
    CHECK(qw_fp32_to_bf16(qw_bits_f32(0x3f808000u)) == 0x3f80); /* tie -> even */
    CHECK(qw_fp32_to_bf16(qw_bits_f32(0x3f818000u)) == 0x3f82); /* tie -> even */
    CHECK(qw_fp32_to_bf16(qw_bits_f32(0x3f808001u)) == 0x3f81);
    CHECK(qw_fp32_to_bf16(FLT_MAX) == 0x7f80);                  /* rounds past max */
    CHECK(qw_fp32_to_bf16(-INFINITY) == 0xff80);
    CHECK(qw_fp32_to_bf16(-0.0f) == 0x8000);
    CHECK(qw_fp32_to_bf16(0x1p-149f) == 0x0000);                /* tie -> even 0 */
    CHECK(qw_fp32_to_bf16(0x1p-133f) == 0x0001);                /* smallest bf16 */
    uint16_t qn = qw_fp32_to_bf16(qw_bits_f32(0x7f800001u));    /* sNaN, low payload */
    CHECK((qn & 0x7f80) == 0x7f80 && (qn & 0x7f) != 0);
    uint16_t nn = qw_fp32_to_bf16(-NAN);
    CHECK((nn & 0xff80) == 0xff80 && (nn & 0x7f) != 0);
}

int main(void) {
#if !defined(__FLT16_MAX__)
    printf("note: no _Float16 in this compiler; compiler-oracle checks skipped\n");
#endif
    test_half_to_float_exhaustive();
    test_half_round_trip();
    test_float_to_half_boundaries();
    test_float_to_half_random();
    test_float_to_half_edges();
    test_bf16_exhaustive_decode();
    test_bf16_rounding();
    return qw_test_end();
}

/* qw_sincosf (src/core/trig.c), the sin/cos RoPE uses instead of libm so that
 * native and wasm builds agree bit for bit:
 *   - hard cases, with expected values correctly rounded from a 300-bit
 *     evaluation (mpmath, computed outside this repository), including angles
 *     RoPE really produces where glibc's sinf/cosf round the other way;
 *   - every float in [0, 2^17) at a stride, both signs, and every RoPE angle
 *     for rotary dims 8..128 at positions 0..4095 (base 10000): equal to libm's
 *     double sin/cos rounded to float (an independent, more accurate route);
 *   - NaN/Inf give NaN. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/trig.h"
#include "qw_test.h"

static void hard_cases(void) {
    static const struct { float x, s, c; } v[] = {
        {0x1.e5b9cep-1f, 0x1.a01382p-1f, 0x1.2a5eb2p-1f},   /* glibc cosf is off by one ulp here */
        {0x1.1b570ep+1f, 0x1.99d0ep-1f, -0x1.32e97p-1f},    /* glibc sinf */
        {0x1.5cd25p+2f, -0x1.7acdcp-1f, 0x1.587568p-1f},    /* glibc cosf */
        {0x1.030dc2p-2f, 0x1.004cap-2f, 0x1.efb404p-1f},    /* glibc sinf */
        {0x1.6c4b5ap+1f, 0x1.2a3feap-2f, -0x1.e9cd42p-1f},  /* glibc sinf */
        {0x1.dfa12ep+2f, 0x1.df3888p-1f, 0x1.6881e6p-2f},   /* glibc cosf */
        {0x1.d12ed2p-12f, 0x1.d12edp-12f, 0x1.fffffcp-1f},  /* 0.49999994 ulp from a midpoint */
        {0x1.921fb6p+0f, 0x1p+0f, -0x1.777a5cp-25f},        /* the float nearest pi/2 */
        {-0x1.8p+1f, -0x1.210386p-3f, -0x1.fae04cp-1f},
        {0x1.86ap+16f, 0x1.24daaap-5f, -0x1.ffac38p-1f},    /* 100000 */
        {0x1.fffffep+26f, -0x1.0e5284p-1f, -0x1.b2d256p-1f},
        {0x1.2d687ep+3f, 0x1.7a4f1p-8f, -0x1.fffddp-1f},    /* near 3 pi */
        {0.0f, 0.0f, 1.0f},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        float s, c;
        qw_sincosf(v[i].x, &s, &c);
        CHECKF(s == v[i].s && c == v[i].c, "x=%a: got (%a, %a), want (%a, %a)", v[i].x, s, c, v[i].s,
               v[i].c);
    }
}

static int differs(float x) {
    float s, c;
    qw_sincosf(x, &s, &c);
    return s != (float)sin((double)x) || c != (float)cos((double)x);
}

static void sweep(void) {
    float top = 131072.0f;
    uint32_t hi;
    memcpy(&hi, &top, 4);
    long n = 0, bad = 0;
    for (uint32_t b = 0; b < hi; b += 4099) {
        float x;
        memcpy(&x, &b, 4);
        bad += differs(x) + differs(-x);
        n += 2;
    }
    CHECKF(bad == 0, "%ld of %ld floats differ from libm's double sin/cos rounded", bad, n);

    n = bad = 0;
    for (int nd = 8; nd <= 128; nd *= 2) {
        const float scale = powf(10000.0f, -2.0f / (float)nd);
        for (int pos = 0; pos < 4096; pos++) {
            float theta = (float)pos;
            for (int i = 0; i < nd / 2; i++, n++) {
                bad += differs(theta);
                theta *= scale;
            }
        }
    }
    CHECKF(bad == 0, "%ld of %ld RoPE angles differ from libm's double sin/cos rounded", bad, n);
}

static void special(void) {
    float s, c;
    qw_sincosf(NAN, &s, &c);
    CHECK(isnan(s) && isnan(c));
    qw_sincosf(INFINITY, &s, &c);
    CHECK(isnan(s) && isnan(c));
    qw_sincosf(0x1p40f, &s, &c); /* beyond the reduction's range: libm, still finite */
    CHECK(isfinite(s) && isfinite(c) && fabsf(s) <= 1.0f && fabsf(c) <= 1.0f);
}

int main(void) {
    hard_cases();
    sweep();
    special();
    return qw_test_end();
}

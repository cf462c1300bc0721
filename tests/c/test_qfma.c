/* qw_fmaf_soft (what wasm builds use) is the correctly rounded fma: checked
 * against the native fmaf on random and on constructed midpoint cases. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/qfma.h"
#include "qw_test.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t next32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float rand_float(int max_exp) {
    float m = (float)(next32() & 0xffffff) / 16777216.0f + 0.5f;
    int e = (int)(next32() % (unsigned)(2 * max_exp + 1)) - max_exp;
    return ldexpf((next32() & 1) ? -m : m, e);
}
static int same(float a, float b) { return memcmp(&a, &b, sizeof a) == 0 || (a != a && b != b); }

int main(void) {
    int bad = 0, n = 0, midpoints = 0;
    /* random operands over a wide exponent range */
    for (int i = 0; i < 2000000; i++, n++) {
        float a = rand_float(40), b = rand_float(40), c = rand_float(80);
        if (!same(qw_fmaf_soft(a, b, c), fmaf(a, b, c))) bad++;
    }
    /* the hard case: a*b + c within a double-ulp of a float midpoint. Take a
     * float f, its midpoint m with the next float, and split m - tiny into
     * a*b + c with a*b carrying bits below double precision. */
    for (int i = 0; i < 2000000; i++, n++) {
        float f = rand_float(20);
        double m = ((double)f + (double)nextafterf(f, INFINITY)) / 2;
        float a = 1.0f + (float)(next32() & 0xffff) * 0x1p-23f; /* a*b exact in double */
        float b = (float)(m / a);
        float c = (float)(m - (double)a * (double)b); /* residual, may round */
        c = nextafterf(c, (next32() & 1) ? INFINITY : -INFINITY);
        double r = (double)a * (double)b + (double)c;
        uint64_t u;
        memcpy(&u, &r, sizeof u);
        midpoints += (u & 0x1fffffff) == 0x10000000;
        if (!same(qw_fmaf_soft(a, b, c), fmaf(a, b, c))) bad++;
    }
    /* specials */
    const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 3.4e38f, 1.0f};
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 9; j++)
            for (int k = 0; k < 9; k++, n++)
                if (!same(qw_fmaf_soft(sp[i], sp[j], sp[k]), fmaf(sp[i], sp[j], sp[k]))) bad++;
    printf("%d fma cases (%d double results on a float midpoint): %d differ\n", n, midpoints, bad);
    CHECK(bad == 0);
    CHECK(midpoints > 1000); /* the hard case was really exercised */
    return qw_test_end();
}

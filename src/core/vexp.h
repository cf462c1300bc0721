/* exp(x) for softmax and SiLU, computed the way llama.cpp's CPU backend
 * computes it for full SIMD chunks: a range reduction x = n*ln2 + b with
 * n = round(x/ln2) (via the 1.5*2^23 shifter), ln2 split in two constants,
 * a degree-5 polynomial in b evaluated with fused multiply-adds, then a
 * scale by 2^n. Max error about 1.5 ulp; |n| > 192 saturates to 0 or inf.
 * Using the same approximation (not libm's expf) keeps attention weights and
 * SiLU outputs bit-identical to our oracle; see docs/NUMERICS.md. */
#ifndef QW_VEXP_H
#define QW_VEXP_H

#include <math.h>
#include "qfma.h"

static inline float qw_vexpf(float x) {
    const float shifter = 0x1.8p23f;
    const float z = qw_fmaf(x, 0x1.715476p+0f, shifter); /* x / ln2 + shifter */
    const float n = z - shifter;                       /* round(x / ln2) */
    const float b = qw_fmaf(-n, 0x1.7f7d1cp-20f, qw_fmaf(-n, 0x1.62e4p-1f, x)); /* x - n*ln2 */
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    const float u = b * b;
    const float p = qw_fmaf(qw_fmaf(qw_fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                              qw_fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, qw_fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(p, (int)n);
}

#endif

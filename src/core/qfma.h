/* Fused multiply-add with one rounding, on every target.
 *
 * Natively fmaf is a hardware instruction or a correct libm routine. Under
 * Emscripten, libc's fmaf is not correctly rounded when a*b + c lands exactly
 * halfway between two floats after rounding to double (its fix-up relies on
 * switching the rounding mode, which wasm cannot do), so there we compute it
 * ourselves: a*b is exact in double, the sum rounds once to double, and only
 * when that double is a float midpoint do we need the sign of the rounding
 * error (TwoSum) to round the right way. qw_fmaf_soft is always compiled so
 * native tests can check it against fmaf.
 *
 * A relaxed-SIMD wasm build (-mrelaxed-simd, __wasm_relaxed_simd__) uses lane
 * 0 of f32x4.relaxed_madd instead: one rounding where the engine fuses it,
 * which that build requires anyway (qw_wasm_fma_fused in quant/kernels.h),
 * and far cheaper than the double-based version. */
#ifndef QW_QFMA_H
#define QW_QFMA_H

#include <math.h>
#if defined(__wasm_relaxed_simd__)
#include <wasm_simd128.h>
#endif

/* fmaf(a, b, c) from p = (double)a * b, which is exact (24 + 24 bits) */
static inline float qw_fmaf_from_product(double p, float c) {
    const double r = p + (double)c; /* one rounding */
    const float f = (float)r;
    if (!isfinite(r) || (double)f == r) return f;
    /* is r exactly halfway between f and its neighbour on r's side? */
    const float g = nextafterf(f, r > (double)f ? INFINITY : -INFINITY);
    if (!isfinite(g) || r - (double)f != (double)g - r) return f;
    /* r is a midpoint: the exact sum's side of it decides (TwoSum error) */
    const double bv = r - p;
    const double err = (p - (r - bv)) + ((double)c - bv);
    if (err == 0.0) return f; /* a true tie: (float) rounded it to even */
    const float lo = f < g ? f : g, hi = f < g ? g : f;
    return err > 0.0 ? hi : lo;
}

static inline float qw_fmaf_soft(float a, float b, float c) {
    return qw_fmaf_from_product((double)a * (double)b, c);
}

static inline float qw_fmaf(float a, float b, float c) {
#if defined(__wasm_relaxed_simd__)
    typedef float f32x4 __attribute__((__vector_size__(16)));
    const f32x4 r = __builtin_wasm_fma_f32x4((f32x4)wasm_f32x4_splat(a), (f32x4)wasm_f32x4_splat(b),
                                             (f32x4)wasm_f32x4_splat(c));
    return r[0];
#elif defined(__EMSCRIPTEN__)
    return qw_fmaf_soft(a, b, c);
#else
    return fmaf(a, b, c);
#endif
}

#endif

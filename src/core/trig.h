/* Sine and cosine of a float, rounded to float the same way on every target.
 *
 * RoPE needs cos/sin of position * frequency. libm's sinf/cosf differ between
 * C libraries in the last bit (glibc and musl, which Emscripten uses, disagree
 * on ~2% of the angles RoPE produces), and an unquantized model turns that last
 * bit into visible logit differences. qw_sincosf computes in double with plain
 * IEEE operations only (no libm, no fma contraction), so native and wasm builds
 * get the same bits; the double result is within a few double ulps of the true
 * value, so the float returned is the correctly rounded one except in the rare
 * case of a true value within ~1e-16 (relative) of a float rounding midpoint.
 * Valid for |x| < 2^28; beyond that it falls back to libm. */
#ifndef QW_TRIG_H
#define QW_TRIG_H

void qw_sincosf(float x, float *s, float *c);

#endif

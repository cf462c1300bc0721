/* IEEE half (binary16) and bfloat16 <-> float conversions, portable C.
 * float -> half rounds to nearest even; NaN stays NaN; overflow -> inf. */
#ifndef QW_FP16_H
#define QW_FP16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t qw_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float qw_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float qw_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) /* inf / nan */
        return qw_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in float */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return qw_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t qw_fp32_to_fp16(float f) {
    uint32_t x = qw_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* nan */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520: inf */
    if (ax < 0x38800000u) {
        /* result is a half subnormal (or zero): value / 2^-24, rounded to even */
        if (ax < 0x33000000u) return sign; /* < 2^-25: rounds to 0 */
        uint32_t e = ax >> 23;             /* 102..112 */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e;         /* 14..24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    /* normal: rebias exponent, round the 13 dropped mantissa bits to even */
    uint32_t r = ax - 0x38000000u; /* exponent 127 -> 15 */
    uint32_t q = r >> 13;
    uint32_t rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

static inline float qw_bf16_to_fp32(uint16_t h) { return qw_bits_f32((uint32_t)h << 16); }

static inline uint16_t qw_fp32_to_bf16(float f) {
    uint32_t x = qw_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 64u); /* quiet nan */
    return (uint16_t)((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

#endif

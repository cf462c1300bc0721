/* Legacy block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) and the Q8_1 activation
 * type, checked against hand-built bytes:
 *
 *  - decode: rows of two blocks are written byte by byte from the layout in
 *    blocks.h (fp16 scales as little-endian bit patterns, nibbles, qh bits)
 *    and must dequantize to values worked out by hand below. This pins the
 *    layout without trusting our own quantizer.
 *  - dot products: hand-built weight and activation blocks with hand-computed
 *    results (Q4_1/Q5_1 use the stored s field of Q8_1 as is).
 *  - quantize: small inputs whose exact output bytes are worked out by hand
 *    from llama.cpp's reference rounding rules (truncation of x/d + offset +
 *    0.5 for 4/5 bits, roundf for 8 bits, the inverse of the float scale).
 *  - round trip: random rows, every element within the worst-case error of
 *    its block, and requantizing the dequantized row reproduces the bytes.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "qw_test.h"
#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/types.h"

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static int same_floats(const float *got, const float *want, int n, const char *what) {
    for (int i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            fprintf(stderr, "  %s[%d] = %g, want %g\n", what, i, (double)got[i], (double)want[i]);
            return 0;
        }
    }
    return 1;
}

/* qs byte pattern used by several blocks: low nibble j, high nibble 15 - j */
static uint8_t ramp_nibbles(int j) { return (uint8_t)(j | (15 - j) << 4); }

/* ---- decode ------------------------------------------------------------- */

static void test_decode_q4_0(void) {
    uint8_t row[2 * 18];
    /* block 0: d = 0.5 (0x3800); element j -> (j - 8) * 0.5,
     * element 16 + j -> (15 - j - 8) * 0.5 */
    put16(row, 0x3800);
    for (int j = 0; j < 16; j++) row[2 + j] = ramp_nibbles(j);
    /* block 1: d = -3 (0xc200); even bytes 0xf0, odd bytes 0x0f.
     * nibble 0 -> (0 - 8) * -3 = 24, nibble 15 -> (15 - 8) * -3 = -21 */
    put16(row + 18, 0xc200);
    for (int j = 0; j < 16; j++) row[20 + j] = (j & 1) ? 0x0f : 0xf0;
    static const float want[64] = {
        -4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5,
        3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0, -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4,
        24, -21, 24, -21, 24, -21, 24, -21, 24, -21, 24, -21, 24, -21, 24, -21,
        -21, 24, -21, 24, -21, 24, -21, 24, -21, 24, -21, 24, -21, 24, -21, 24};
    float got[64];
    qw_dequantize_row_q4_0(row, got, 64);
    CHECK(same_floats(got, want, 64, "q4_0"));
}

static void test_decode_q4_1(void) {
    uint8_t row[2 * 20];
    /* block 0: d = 0.25 (0x3400), m = -1 (0xbc00): x = q / 4 - 1 */
    put16(row, 0x3400);
    put16(row + 2, 0xbc00);
    for (int j = 0; j < 16; j++) row[4 + j] = ramp_nibbles(j);
    /* block 1: d = 2, m = 10: nibble 0 -> 10, nibble 15 -> 40 */
    put16(row + 20, 0x4000);
    put16(row + 22, 0x4900);
    for (int j = 0; j < 16; j++) row[24 + j] = (j & 1) ? 0x0f : 0xf0;
    static const float want[64] = {
        -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75,
        2.75, 2.5, 2.25, 2, 1.75, 1.5, 1.25, 1, 0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, -1,
        10, 40, 10, 40, 10, 40, 10, 40, 10, 40, 10, 40, 10, 40, 10, 40,
        40, 10, 40, 10, 40, 10, 40, 10, 40, 10, 40, 10, 40, 10, 40, 10};
    float got[64];
    qw_dequantize_row_q4_1(row, got, 64);
    CHECK(same_floats(got, want, 64, "q4_1"));
}

static void test_decode_q5_0(void) {
    uint8_t row[2 * 22];
    /* block 0: d = 2; qh bytes 01 80 00 f0 = bits 0, 15, 28..31 set.
     *   elem 0: nibble 0 + 16 -> 0; elems 1..14: (j - 16) * 2;
     *   elem 15: 15 + 16 -> 30; elems 16..27: nibble 31 - j, no bit;
     *   elems 28..31: nibbles 3..0 + 16 -> 6, 4, 2, 0 */
    put16(row, 0x4000);
    row[2] = 0x01, row[3] = 0x80, row[4] = 0x00, row[5] = 0xf0;
    for (int j = 0; j < 16; j++) row[6 + j] = ramp_nibbles(j);
    /* block 1: d = -0.5, qh all ones, qs 0xf0: low 0|16 -> 0, high 15|16 ->
     * (31 - 16) * -0.5 = -7.5 */
    put16(row + 22, 0xb800);
    memset(row + 24, 0xff, 4);
    memset(row + 28, 0xf0, 16);
    static const float want[64] = {
        0, -30, -28, -26, -24, -22, -20, -18, -16, -14, -12, -10, -8, -6, -4, 30,
        -2, -4, -6, -8, -10, -12, -14, -16, -18, -20, -22, -24, 6, 4, 2, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        -7.5, -7.5, -7.5, -7.5, -7.5, -7.5, -7.5, -7.5,
        -7.5, -7.5, -7.5, -7.5, -7.5, -7.5, -7.5, -7.5};
    float got[64];
    qw_dequantize_row_q5_0(row, got, 64);
    CHECK(same_floats(got, want, 64, "q5_0"));
}

static void test_decode_q5_1(void) {
    uint8_t row[2 * 24];
    /* block 0: d = 0.5, m = 1; qh bytes ff 00 00 80 = bits 0..7 and 31.
     *   elems 0..7: (j + 16) / 2 + 1; elems 8..15: j / 2 + 1;
     *   elems 16..30: (31 - j) / 2 + 1; elem 31: (0 + 16) / 2 + 1 = 9 */
    put16(row, 0x3800);
    put16(row + 2, 0x3c00);
    row[4] = 0xff, row[5] = 0x00, row[6] = 0x00, row[7] = 0x80;
    for (int j = 0; j < 16; j++) row[8 + j] = ramp_nibbles(j);
    /* block 1: d = 1, m = -3; only qh bit 16 set, qs zero: all -3 except
     * elem 16 (= high nibble of byte 0) which is 16 - 3 = 13 */
    put16(row + 24, 0x3c00);
    put16(row + 26, 0xc200);
    row[28] = 0x00, row[29] = 0x00, row[30] = 0x01, row[31] = 0x00;
    memset(row + 32, 0, 16);
    static const float want[64] = {
        9, 9.5, 10, 10.5, 11, 11.5, 12, 12.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5,
        8.5, 8, 7.5, 7, 6.5, 6, 5.5, 5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 9,
        -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3,
        13, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3};
    float got[64];
    qw_dequantize_row_q5_1(row, got, 64);
    CHECK(same_floats(got, want, 64, "q5_1"));
}

static void test_decode_q8(void) {
    /* Q8_0 block 0: d = 0.125, qs bytes 8 j (as int8: 8 j, or 8 j - 256 for
     * j >= 16) -> j, or j - 32. Block 1: d = 3, qs 127, -128, -1, 0... */
    uint8_t row[2 * 34];
    put16(row, 0x3000);
    for (int j = 0; j < 32; j++) row[2 + j] = (uint8_t)(8 * j);
    memset(row + 34, 0, 34);
    put16(row + 34, 0x4200);
    row[36] = 0x7f, row[37] = 0x80, row[38] = 0xff;
    float want[64] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                      -16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1,
                      381, -384, -3};
    float got[64];
    qw_dequantize_row_q8_0(row, got, 64);
    CHECK(same_floats(got, want, 64, "q8_0"));

    /* Q8_1: d = 0.5, s = 10 (ignored by dequantization), same qs -> 4 j */
    uint8_t r1[36];
    put16(r1, 0x3800);
    put16(r1 + 2, 0x4900);
    for (int j = 0; j < 32; j++) r1[4 + j] = (uint8_t)(8 * j);
    float want1[32], got1[32];
    for (int j = 0; j < 32; j++) want1[j] = 4 * want[j];
    qw_dequantize_row_q8_1(r1, got1, 32);
    CHECK(same_floats(got1, want1, 32, "q8_1"));
}

/* ---- dot products ------------------------------------------------------- */

static void test_dots(void) {
    float s;
    {
        /* Q4_0 x Q8_0, two blocks.
         * block 0: x d = 0.5, qs 0x9a: low 10 -> 1, high 9 -> 0.5 (as ints
         *   2 and 1); y d = 2, qs j + 1. sumi = 2 * (1+..+16) + (17+..+32)
         *   = 272 + 392 = 664; 664 * 0.5 * 2 = 664.
         * block 1: x d = -1, qs 0x07: low 7 -> -1, high 0 -> -8; y d = 0.5,
         *   qs 1. sumi = 16 * -1 + 16 * -8 = -144; -144 * -1 * 0.5 = 72. */
        uint8_t x[36], y[68];
        put16(x, 0x3800), memset(x + 2, 0x9a, 16);
        put16(x + 18, 0xbc00), memset(x + 20, 0x07, 16);
        put16(y, 0x4000);
        for (int j = 0; j < 32; j++) y[2 + j] = (uint8_t)(j + 1);
        put16(y + 34, 0x3800), memset(y + 36, 1, 32);
        qw_vec_dot_q4_0(64, &s, x, y);
        CHECKF(s == 736.0f, "q4_0 dot %g", (double)s);
    }
    {
        /* Q8_0 x Q8_0: x d = 1, qs j - 16; y d = 0.125, qs 2.
         * sumi = 2 * (sum of -16..15) = -32; -32 * 0.125 = -4 */
        uint8_t x[34], y[34];
        put16(x, 0x3c00);
        for (int j = 0; j < 32; j++) x[2 + j] = (uint8_t)(j - 16);
        put16(y, 0x3000), memset(y + 2, 2, 32);
        qw_vec_dot_q8_0(32, &s, x, y);
        CHECKF(s == -4.0f, "q8_0 dot %g", (double)s);
    }
    {
        /* Q4_1 x Q8_1: x d = 1, m = 2, qs 0x21 (low 1, high 2);
         * y d = 0.5, s = 10 (deliberately not d * sum(q) = 16), qs 1.
         * sumi = 16 * 1 + 16 * 2 = 48; 1 * 0.5 * 48 + 2 * 10 = 44 */
        uint8_t x[20], y[36];
        put16(x, 0x3c00), put16(x + 2, 0x4000), memset(x + 4, 0x21, 16);
        put16(y, 0x3800), put16(y + 2, 0x4900), memset(y + 4, 1, 32);
        qw_vec_dot_q4_1(32, &s, x, y);
        CHECKF(s == 44.0f, "q4_1 dot %g", (double)s);
    }
    {
        /* Q5_0 x Q8_0: x d = 0.5, qh bit 31 only, qs 0: q = 0 -> -16 for
         * elems 0..30, elem 31 -> 16 - 16 = 0; y d = 1, qs 1.
         * sumi = 31 * -16 = -496; * 0.5 = -248 */
        uint8_t x[22], y[34];
        put16(x, 0x3800);
        x[2] = 0, x[3] = 0, x[4] = 0, x[5] = 0x80;
        memset(x + 6, 0, 16);
        put16(y, 0x3c00), memset(y + 2, 1, 32);
        qw_vec_dot_q5_0(32, &s, x, y);
        CHECKF(s == -248.0f, "q5_0 dot %g", (double)s);
    }
    {
        /* Q5_1 x Q8_1: x d = 1, m = -1, qh bit 0, qs 0x11: q = 1 everywhere
         * except elem 0 (17); y d = 2, s = 0, qs +1 at even j, -1 at odd j.
         * sumi = 17 + (15 even j >= 2) - (16 odd j) = 16; 1 * 2 * 16 = 32 */
        uint8_t x[24], y[36];
        put16(x, 0x3c00), put16(x + 2, 0xbc00);
        x[4] = 0x01, x[5] = 0, x[6] = 0, x[7] = 0;
        memset(x + 8, 0x11, 16);
        put16(y, 0x4000), put16(y + 2, 0x0000);
        for (int j = 0; j < 32; j++) y[4 + j] = (j & 1) ? 0xff : 0x01;
        qw_vec_dot_q5_1(32, &s, x, y);
        CHECKF(s == 32.0f, "q5_1 dot %g", (double)s);
    }
}

/* ---- quantize, hand-checked -------------------------------------------- */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* nibble-pack 32 hand-written levels: low nibble j, high nibble j + 16 */
static void pack_nibbles(const int *lvl, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((lvl[j] & 15) | (lvl[j + 16] & 15) << 4);
}

static uint32_t pack_qh(const int *lvl) {
    uint32_t qh = 0;
    for (int j = 0; j < 32; j++) qh |= (uint32_t)(lvl[j] >> 4 & 1) << j;
    return qh;
}

static void test_quantize_q4(void) {
    uint8_t b[18], qs[16];
    {
        /* signed absmax -8 -> d = -8 / -8 = 1, level = trunc(x + 8.5) <= 15 */
        float x[32] = {-8, 7, 7.9f, 0.5f, 0.49f, -0.5f, -0.51f, 1.5f, -1.5f, -7.6f, 3.2f};
        int lvl[32] = {0, 15, 15, 9, 8, 8, 7, 10, 7, 0, 11};
        for (int j = 11; j < 32; j++) lvl[j] = 8; /* zeros -> 8 */
        qw_quantize_row_q4_0(x, b, 32);
        pack_nibbles(lvl, qs);
        CHECK(get16(b) == 0x3c00);
        CHECK(memcmp(b + 2, qs, 16) == 0);
    }
    {
        /* the first of two equal magnitudes wins: max = +8 -> d = -1 (0xbc00),
         * level = trunc(-x + 8.5): 8 -> 0, -8 -> 16.5 -> 15, 4 -> 4, 0 -> 8 */
        float x[32] = {8, -8, 4};
        int lvl[32] = {0, 15, 4};
        for (int j = 3; j < 32; j++) lvl[j] = 8;
        qw_quantize_row_q4_0(x, b, 32);
        pack_nibbles(lvl, qs);
        CHECK(get16(b) == 0xbc00);
        CHECK(memcmp(b + 2, qs, 16) == 0);
    }
    {
        /* Q4_1: min -1, max 14 -> d = 1, m = -1; level = trunc(x + 1 + 0.5) */
        uint8_t b1[20];
        float x[32] = {-1, 14, 0.5f, 0.49f, 13.4f, 13.5f};
        int lvl[32] = {0, 15, 2, 1, 14, 15};
        for (int j = 6; j < 32; j++) lvl[j] = 1; /* 0 -> 1.5 -> 1 */
        qw_quantize_row_q4_1(x, b1, 32);
        pack_nibbles(lvl, qs);
        CHECK(get16(b1) == 0x3c00 && get16(b1 + 2) == 0xbc00);
        CHECK(memcmp(b1 + 4, qs, 16) == 0);
    }
}

static void test_quantize_q5(void) {
    uint8_t qs[16];
    {
        /* Q5_0: max -16 -> d = 1; level = trunc(x + 16.5) <= 31 */
        uint8_t b[22];
        float x[32] = {-16, 15, 15.6f, 0, -0.5f, 3, -13, 0.5f};
        int lvl[32] = {16, 31, 31, 16, 16, 19, 3, 17};
        lvl[0] = 0;
        for (int j = 8; j < 32; j++) lvl[j] = 16;
        x[20] = -16, lvl[20] = 0;    /* equal magnitude, later: d unchanged */
        x[21] = 4.7f, lvl[21] = 21;  /* 21.2 -> 21 */
        qw_quantize_row_q5_0(x, b, 32);
        pack_nibbles(lvl, qs);
        uint32_t qh = pack_qh(lvl);
        CHECK(get16(b) == 0x3c00);
        CHECK(b[2] == (qh & 0xff) && b[3] == (qh >> 8 & 0xff) && b[4] == (qh >> 16 & 0xff) &&
              b[5] == qh >> 24);
        CHECK(memcmp(b + 6, qs, 16) == 0);
    }
    {
        /* Q5_1: min 0, max 31 -> d = 1, m = 0; level = trunc(x + 0.5) */
        uint8_t b[24];
        float x[32] = {0, 31, 16.5f, 16.49f, 30.6f};
        int lvl[32] = {0, 31, 17, 16, 31};
        for (int j = 5; j < 32; j++) x[j] = 10, lvl[j] = 10;
        qw_quantize_row_q5_1(x, b, 32);
        pack_nibbles(lvl, qs);
        uint32_t qh = pack_qh(lvl);
        CHECK(get16(b) == 0x3c00 && get16(b + 2) == 0x0000);
        CHECK(b[4] == (qh & 0xff) && b[5] == (qh >> 8 & 0xff) && b[6] == (qh >> 16 & 0xff) &&
              b[7] == qh >> 24);
        CHECK(memcmp(b + 8, qs, 16) == 0);
    }
}

static void test_quantize_q8(void) {
    {
        /* amax 127 -> d = 1, id = 1: roundf rounds halves away from zero
         * (0.5 -> 1, 2.5 -> 3, where round-to-even would give 0 and 2) */
        float x[32] = {127, -127, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, 126.5f, 0.49999997f, -2.5f};
        int8_t want[32] = {127, -127, 1, -1, 2, -2, 3, 127, 0, -3};
        block_q8_0 b;
        qw_quantize_row_q8_0(x, &b, 32);
        CHECK(b.d == 0x3c00);
        CHECK(memcmp(b.qs, want, 32) == 0);
        /* Q8_1 of the same: s = fp16(sum(q) * d) = fp16(127) = 0x57f0 */
        block_q8_1 b1;
        qw_quantize_row_q8_1(x, &b1, 32);
        CHECK(b1.d == 0x3c00 && b1.s == 0x57f0);
        CHECK(memcmp(b1.qs, want, 32) == 0);
    }
    {
        /* amax 1: d = 1/127 as float = 0.0078740157, stored as fp16 0x2008
         * (= 0.0078735352). The inverse of the float d is 127.0 exactly, so
         * 0.99605 -> 126.498 -> 126. (The inverse of the fp16 d, 127.0078,
         * would give 126.506 -> 127.) 0.5 -> 63.5 -> 64. */
        float x[32] = {1.0f, 0.99605f, -0.99605f, 0.5f, -0.5f};
        int8_t want[32] = {127, 126, -126, 64, -64};
        block_q8_0 b;
        qw_quantize_row_q8_0(x, &b, 32);
        CHECK(b.d == 0x2008);
        CHECK(memcmp(b.qs, want, 32) == 0);
    }
    {
        /* Q8_1 s uses the float d: all 32 values 2.9 -> q = 127 each, sum
         * 4064; float d = 2.9/127 = 0.022834646, fp16 d = 0x25d8 =
         * 0.022827148. 4064 * 0.022834646 = 92.79999 -> fp16 92.8125 (0x55cd);
         * 4064 * fp16 d = 92.7695 would give 92.75 (0x55cc). */
        float x[32];
        for (int j = 0; j < 32; j++) x[j] = 2.9f;
        block_q8_1 b;
        qw_quantize_row_q8_1(x, &b, 32);
        CHECK(b.d == 0x25d8);
        CHECKF(b.s == 0x55cd, "s = %04x", b.s);
        int ok = 1;
        for (int j = 0; j < 32; j++) ok &= b.qs[j] == 127;
        CHECK(ok);
    }
    {
        /* all-zero block: d = 0, q = 0, s = 0 */
        float x[32] = {0};
        block_q8_1 b;
        memset(&b, 0xaa, sizeof b);
        qw_quantize_row_q8_1(x, &b, 32);
        int ok = b.d == 0 && b.s == 0;
        for (int j = 0; j < 32; j++) ok &= b.qs[j] == 0;
        CHECK(ok);
    }
}

/* ---- round trip --------------------------------------------------------- */

static uint64_t rng_state = 12345;
static double rng_uniform(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}
static float rng_gauss(void) {
    return (float)(sqrt(-2 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform()));
}

/* Worst-case |x - dequant| for one element, from the scale rule of each type
 * (block of 32 with absmax amax, min lo, max hi). h = 2^-11 is the relative
 * rounding of an fp16 scale; L * h * d bounds the effect of that rounding on
 * level L; 1e-6 covers float rounding of x/d and of the dequantization.
 *   Q4_0: d = amax/8, levels -8..7, nearest except the side opposite the
 *         absmax, where values beyond 7.5 d clamp to 7 d.
 *   Q5_0: same with 16 / 15.5.
 *   Q4_1/Q5_1: d = (hi - lo)/15 or /31, m = lo: d/2 + fp16 error of m and d.
 *   Q8_0/Q8_1: d = amax/127, roundf: d/2. */
static double elem_bound(uint32_t type, float xj, double amax, double lo, double hi) {
    const double h = 1.0 / 2048;
    const double clamp_at[2] = {7.5, 15.5};
    double d, e;
    switch (type) {
    case QW_TYPE_Q4_0:
    case QW_TYPE_Q5_0: {
        int five = type == QW_TYPE_Q5_0, L = five ? 16 : 8;
        d = amax / L;
        e = d * (0.5 + L * h) + fmax(0.0, fabs(xj) - clamp_at[five] * d);
        break;
    }
    case QW_TYPE_Q4_1:
    case QW_TYPE_Q5_1: {
        int L = type == QW_TYPE_Q4_1 ? 15 : 31;
        d = (hi - lo) / L;
        e = d * (0.5 + L * h) + fabs(lo) * h;
        break;
    }
    default: /* Q8_0, Q8_1 */
        d = amax / 127;
        e = d * (0.5 + 127 * h);
        break;
    }
    return e + 1e-6 * amax + 1e-7; /* + fp16 subnormal-scale slack */
}

static void test_round_trip(void) {
    /* the kernels directly (this test does not link the type table) */
    static const struct {
        const char *name;
        uint32_t type;
        size_t block_bytes;
        qw_from_float_fn quantize;
        qw_to_float_fn dequantize;
    } types[] = {
        {"Q4_0", QW_TYPE_Q4_0, sizeof(block_q4_0), qw_quantize_row_q4_0, qw_dequantize_row_q4_0},
        {"Q4_1", QW_TYPE_Q4_1, sizeof(block_q4_1), qw_quantize_row_q4_1, qw_dequantize_row_q4_1},
        {"Q5_0", QW_TYPE_Q5_0, sizeof(block_q5_0), qw_quantize_row_q5_0, qw_dequantize_row_q5_0},
        {"Q5_1", QW_TYPE_Q5_1, sizeof(block_q5_1), qw_quantize_row_q5_1, qw_dequantize_row_q5_1},
        {"Q8_0", QW_TYPE_Q8_0, sizeof(block_q8_0), qw_quantize_row_q8_0, qw_dequantize_row_q8_0},
        {"Q8_1", QW_TYPE_Q8_1, sizeof(block_q8_1), qw_quantize_row_q8_1, qw_dequantize_row_q8_1},
    };
    enum { N = 32 * 64 };
    static float x[N], y[N], y2[N];
    static uint16_t q[N], q2[N]; /* 2 N bytes: more than any row here, aligned */
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        /* blocks of varied scale and offset, with a few outliers */
        for (int i = 0; i < N; i++) {
            float scale = (float)ldexp(1.0, (i / 32) % 9 - 4), off = (i / 32) % 3 == 0 ? 0.7f : 0;
            x[i] = scale * (rng_gauss() + off) * (i % 97 == 5 ? 12.0f : 1.0f);
        }
        size_t rs = N / 32 * types[t].block_bytes;
        types[t].quantize(x, q, N);
        types[t].dequantize(q, y, N);
        int bad = 0;
        double worst = 0;
        for (int b = 0; b < N / 32; b++) {
            const float *xb = x + 32 * b;
            double amax = 0, lo = xb[0], hi = xb[0];
            for (int j = 0; j < 32; j++) {
                amax = fmax(amax, fabs(xb[j]));
                lo = fmin(lo, xb[j]);
                hi = fmax(hi, xb[j]);
            }
            for (int j = 0; j < 32; j++) {
                double err = fabs((double)xb[j] - y[32 * b + j]);
                double lim = elem_bound(types[t].type, xb[j], amax, lo, hi);
                worst = fmax(worst, err / lim);
                if (err > lim) bad++;
            }
        }
        CHECKF(bad == 0, "%s: %d elements beyond their bound", types[t].name, bad);
        /* the dequantized row is a fixed point of the quantizer (for Q8_1
         * only up to s, which is computed from the unrounded float d) */
        types[t].quantize(y, q2, N);
        types[t].dequantize(q2, y2, N);
        CHECKF(memcmp(y, y2, sizeof y) == 0, "%s: requantizing changed the values", types[t].name);
        if (types[t].type == QW_TYPE_Q8_1) {
            for (int b = 0; b < N / 32; b++) ((block_q8_1 *)q2)[b].s = ((block_q8_1 *)q)[b].s;
        }
        CHECKF(memcmp(q, q2, rs) == 0, "%s: requantizing changed the bytes", types[t].name);
        printf("%-5s round trip: worst error / bound = %.3f\n", types[t].name, worst);
    }
}

/* ---- hostile input ------------------------------------------------------ */

/* Non-finite, huge and subnormal inputs are outside llama.cpp's contract;
 * ours must still run without undefined behaviour (checked under the
 * sanitizers) and write blocks whose finite-scale rows decode to finite
 * values. Rows with a NaN activation propagate it through Q8_0/Q8_1's d. */
static void test_hostile_input(void) {
    static const qw_from_float_fn quant[] = {qw_quantize_row_q4_0, qw_quantize_row_q4_1,
                                             qw_quantize_row_q5_0, qw_quantize_row_q5_1,
                                             qw_quantize_row_q8_0, qw_quantize_row_q8_1};
    static const qw_to_float_fn deq[] = {qw_dequantize_row_q4_0, qw_dequantize_row_q4_1,
                                         qw_dequantize_row_q5_0, qw_dequantize_row_q5_1,
                                         qw_dequantize_row_q8_0, qw_dequantize_row_q8_1};
    static const qw_row_finite_fn fin[] = {qw_row_finite_q4_0, qw_row_finite_q4_1,
                                           qw_row_finite_q5_0, qw_row_finite_q5_1,
                                           qw_row_finite_q8_0, qw_row_finite_q8_1};
    const float specials[] = {NAN, INFINITY, -INFINITY, 3.4e38f, -3.4e38f, 1e-45f, -1e-40f, 7.0f};
    enum { NS = sizeof specials / sizeof specials[0] };
    float x[32 * NS * 2], y[32 * NS * 2];
    uint16_t q[32 * NS * 2]; /* 2 bytes per element: more than any type needs */
    /* block k: specials[k] in a few positions of a small ramp; block NS + k:
     * all 32 elements equal to specials[k] */
    for (int k = 0; k < NS; k++) {
        for (int j = 0; j < 32; j++) {
            x[32 * k + j] = (j % 7 == 3) ? specials[k] : 0.01f * (float)(j - 16);
            x[32 * (NS + k) + j] = specials[k];
        }
    }
    for (int t = 0; t < 6; t++) {
        quant[t](x, q, 32 * NS * 2);
        deq[t](q, y, 32 * NS * 2);
        int bad = 0;
        for (int b = 0; b < 2 * NS; b++) {
            if (!fin[t](q, 32 * (b + 1)) ) break; /* first non-finite-scale block */
            for (int j = 0; j < 32; j++) bad += !isfinite(y[32 * b + j]);
        }
        CHECKF(bad == 0, "type %d: non-finite values from finite scales", t);
    }
    /* a NaN activation gives a NaN scale, not a silent zero */
    float xn[32] = {1, 2, NAN, 4};
    block_q8_0 b8;
    block_q8_1 b81;
    qw_quantize_row_q8_0(xn, &b8, 32);
    qw_quantize_row_q8_1(xn, &b81, 32);
    CHECK(!qw_row_finite_q8_0(&b8, 32) && !qw_row_finite_q8_1(&b81, 32));
    /* amax below the smallest normal: d underflows to 0, q stays in range */
    float xt[32] = {1e-30f, -2e-30f};
    qw_quantize_row_q8_0(xt, &b8, 32);
    CHECK(b8.d == 0 && b8.qs[0] == 64 && b8.qs[1] == -127);
}

/* ---- against llama.cpp's own files ------------------------------------ */
/*
 * shared/models holds stories260K as F32 and as F16/Q8_0/Q4_0/Q5_0 tensors
 * written by llama-quantize from that F32 file (no imatrix, so through
 * llama.cpp's reference quantizers). Quantizing the F32 tensors with our
 * kernels must give the very same bytes. A minimal GGUF reader follows
 * (test-only; the files are trusted but every read is still bounds-checked).
 */
typedef struct {
    const uint8_t *p, *end;
    int ok;
} cursor;

static uint64_t rd_uint(cursor *c, int bytes) {
    uint64_t v = 0;
    if (!c->ok || c->end - c->p < bytes) {
        c->ok = 0;
        return 0;
    }
    for (int i = 0; i < bytes; i++) v |= (uint64_t)c->p[i] << (8 * i);
    c->p += bytes;
    return v;
}

static void rd_skip(cursor *c, uint64_t n) {
    if (!c->ok || (uint64_t)(c->end - c->p) < n) c->ok = 0;
    else c->p += n;
}

/* size of a scalar GGUF value type; 0 for string/array */
static int gguf_scalar_size(uint32_t t) {
    static const int size[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < 13 ? size[t] : -1;
}

static void rd_skip_value(cursor *c, uint32_t t, uint32_t *alignment, int is_alignment) {
    if (t == 8) { /* string */
        rd_skip(c, rd_uint(c, 8));
    } else if (t == 9) { /* array: element type, count, elements */
        uint32_t et = (uint32_t)rd_uint(c, 4);
        uint64_t n = rd_uint(c, 8);
        for (uint64_t i = 0; i < n && c->ok; i++) rd_skip_value(c, et, NULL, 0);
    } else if (gguf_scalar_size(t) > 0) {
        uint64_t v = rd_uint(c, gguf_scalar_size(t));
        if (is_alignment && t == 4) *alignment = (uint32_t)v;
    } else {
        c->ok = 0;
    }
}

typedef struct {
    char name[64];
    uint32_t type;
    int64_t n; /* elements */
    const uint8_t *data;
    size_t avail; /* bytes from data to the end of the file */
} gguf_tensor;

/* Fills up to `cap` tensors; returns the count, or -1 on a malformed file. */
static int read_gguf(const uint8_t *buf, size_t size, gguf_tensor *out, int cap) {
    cursor c = {buf, buf + size, 1};
    if (size < 24 || memcmp(buf, "GGUF", 4) != 0) return -1;
    rd_skip(&c, 4);
    uint32_t version = (uint32_t)rd_uint(&c, 4);
    uint64_t n_tensors = rd_uint(&c, 8), n_kv = rd_uint(&c, 8);
    if (version != 3 || n_tensors > (uint64_t)cap) return -1;
    uint32_t alignment = 32;
    for (uint64_t i = 0; i < n_kv && c.ok; i++) {
        uint64_t klen = rd_uint(&c, 8);
        const uint8_t *key = c.p;
        rd_skip(&c, klen);
        int is_alignment = c.ok && klen == 17 && memcmp(key, "general.alignment", 17) == 0;
        rd_skip_value(&c, (uint32_t)rd_uint(&c, 4), &alignment, is_alignment);
    }
    uint64_t offsets[256];
    for (uint64_t i = 0; i < n_tensors && c.ok; i++) {
        gguf_tensor *t = &out[i];
        uint64_t len = rd_uint(&c, 8);
        if (len >= sizeof t->name) return -1;
        const uint8_t *name = c.p;
        rd_skip(&c, len);
        if (!c.ok) return -1;
        memcpy(t->name, name, len);
        t->name[len] = 0;
        uint32_t n_dims = (uint32_t)rd_uint(&c, 4);
        if (n_dims < 1 || n_dims > 4) return -1;
        t->n = 1;
        for (uint32_t d = 0; d < n_dims; d++) {
            uint64_t ne = rd_uint(&c, 8);
            if (ne == 0 || ne > (1u << 30) || (uint64_t)t->n * ne > (1u << 30)) return -1;
            t->n *= (int64_t)ne;
        }
        t->type = (uint32_t)rd_uint(&c, 4);
        offsets[i] = rd_uint(&c, 8);
    }
    if (!c.ok || alignment == 0) return -1;
    size_t start = (size_t)(c.p - buf);
    start = (start + alignment - 1) / alignment * alignment;
    if (start > size) return -1;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (offsets[i] > size - start) return -1;
        out[i].data = buf + start + offsets[i];
        out[i].avail = size - start - (size_t)offsets[i];
    }
    return (int)n_tensors;
}

static void test_llama_cpp_files(void) {
    static const char *quantized[] = {"models/stories260K-f16.gguf", "models/stories260K-q8_0.gguf",
                                      "models/stories260K-q4_0.gguf",
                                      "models/stories260K-q4_k_m.gguf"};
    size_t size_f32;
    uint8_t *f32 = qw_read_file(qw_shared_path("models/stories260K-f32.gguf"), &size_f32);
    if (!f32) {
        printf("stories260K-f32.gguf not found: llama.cpp byte comparison skipped\n");
        return;
    }
    static gguf_tensor tf[256], tq[256];
    int nf = read_gguf(f32, size_f32, tf, 256);
    CHECK(nf > 0);
    int counts[QW_TYPE_COUNT] = {0};
    for (size_t k = 0; k < sizeof quantized / sizeof quantized[0]; k++) {
        size_t size_q;
        uint8_t *fq = qw_read_file(qw_shared_path(quantized[k]), &size_q);
        CHECKF(fq != NULL, "cannot read %s", quantized[k]);
        if (!fq) continue;
        int nq = read_gguf(fq, size_q, tq, 256);
        CHECKF(nq == nf, "%s: %d tensors, f32 file has %d", quantized[k], nq, nf);
        for (int i = 0; i < nq; i++) {
            const gguf_tensor *src = NULL;
            for (int j = 0; j < nf; j++)
                if (strcmp(tf[j].name, tq[i].name) == 0) src = &tf[j];
            CHECKF(src && src->type == QW_TYPE_F32 && src->n == tq[i].n, "%s: %s", quantized[k],
                   tq[i].name);
            if (!src) continue;
            qw_from_float_fn quantize = NULL;
            size_t blk = 1, bytes = 0;
            switch (tq[i].type) {
            case QW_TYPE_F16: quantize = qw_quantize_row_f16, blk = 1, bytes = 2; break;
            case QW_TYPE_Q4_0: quantize = qw_quantize_row_q4_0, blk = 32, bytes = 18; break;
            case QW_TYPE_Q4_1: quantize = qw_quantize_row_q4_1, blk = 32, bytes = 20; break;
            case QW_TYPE_Q5_0: quantize = qw_quantize_row_q5_0, blk = 32, bytes = 22; break;
            case QW_TYPE_Q5_1: quantize = qw_quantize_row_q5_1, blk = 32, bytes = 24; break;
            case QW_TYPE_Q8_0: quantize = qw_quantize_row_q8_0, blk = 32, bytes = 34; break;
            default: break; /* F32 copies, or types not ours */
            }
            if (!quantize) continue;
            size_t out_size = (size_t)tq[i].n / blk * bytes;
            CHECKF(tq[i].n % (int64_t)blk == 0 && out_size <= tq[i].avail &&
                       (size_t)src->n * sizeof(float) <= src->avail,
                   "%s: %s: truncated", quantized[k], tq[i].name);
            if (tq[i].n % (int64_t)blk != 0 || out_size > tq[i].avail ||
                (size_t)src->n * sizeof(float) > src->avail)
                continue;
            uint8_t *mine = malloc(out_size);
            float *vals = malloc((size_t)src->n * sizeof(float));
            if (!mine || !vals) abort();
            memcpy(vals, src->data, (size_t)src->n * sizeof(float));
            quantize(vals, mine, tq[i].n);
            CHECKF(memcmp(mine, tq[i].data, out_size) == 0, "%s: %s (type %u) differs from llama.cpp",
                   quantized[k], tq[i].name, tq[i].type);
            counts[tq[i].type]++;
            free(mine);
            free(vals);
        }
        free(fq);
    }
    free(f32);
    printf("byte-identical to llama-quantize: %d F16, %d Q8_0, %d Q4_0, %d Q5_0 tensors\n",
           counts[QW_TYPE_F16], counts[QW_TYPE_Q8_0], counts[QW_TYPE_Q4_0], counts[QW_TYPE_Q5_0]);
    CHECK(counts[QW_TYPE_F16] > 0 && counts[QW_TYPE_Q8_0] > 0 && counts[QW_TYPE_Q4_0] > 0 &&
          counts[QW_TYPE_Q5_0] > 0);
}

int main(void) {
    test_decode_q4_0();
    test_decode_q4_1();
    test_decode_q5_0();
    test_decode_q5_1();
    test_decode_q8();
    test_dots();
    test_quantize_q4();
    test_quantize_q5();
    test_quantize_q8();
    test_round_trip();
    test_hostile_input();
    test_llama_cpp_files();
    return qw_test_end();
}

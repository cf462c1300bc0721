/* Portable, nearly correctly rounded sin/cos for RoPE (see trig.h).
 *
 * x = k * (pi/2) + r with |r| <= pi/4 (+ a little), r computed with pi/2 split
 * into four parts: the first three have at most 22 significant bits, so
 * k * part is exact for |k| < 2^31 and x - k*P1 is exact (Sterbenz). sin r and
 * cos r come from their Taylor series (terms 1/n!; the first omitted term is
 * below 1e-19 for |r| <= pi/4), then the quadrant k mod 4 picks signs. */
#include "trig.h"

#include <math.h>
#include <stdint.h>

static const double TWO_OVER_PI = 0x1.45f306dc9c883p-1;
static const double PIO2_1 = 0x1.921fb4p+0;    /* pi/2 = P1 + P2 + P3 + P4 (+ 7e-39) */
static const double PIO2_2 = 0x1.4442dp-24;
static const double PIO2_3 = 0x1.846988p-48;
static const double PIO2_4 = 0x1.8cc51701b839ap-72;

/* sin r = r - r^3/3! + ... - r^19/19!;  cos r = 1 - r^2/2! + ... + r^20/20! */
static double sin_poly(double r) {
    const double r2 = r * r;
    double p = -0x1.2f49b46814157p-57;           /* -1/19! */
    p = p * r2 + 0x1.952c77030ad4ap-49;          /* +1/17! */
    p = p * r2 - 0x1.ae7f3e733b81fp-41;          /* -1/15! */
    p = p * r2 + 0x1.6124613a86d09p-33;          /* +1/13! */
    p = p * r2 - 0x1.ae64567f544e4p-26;          /* -1/11! */
    p = p * r2 + 0x1.71de3a556c734p-19;          /* +1/9!  */
    p = p * r2 - 0x1.a01a01a01a01ap-13;          /* -1/7!  */
    p = p * r2 + 0x1.1111111111111p-7;           /* +1/5!  */
    p = p * r2 - 0x1.5555555555555p-3;           /* -1/3!  */
    return r + r * (r2 * p);
}

static double cos_poly(double r) {
    const double r2 = r * r;
    double p = 0x1.e542ba4020225p-62;            /* +1/20! */
    p = p * r2 - 0x1.6827863b97d97p-53;          /* -1/18! */
    p = p * r2 + 0x1.ae7f3e733b81fp-45;          /* +1/16! */
    p = p * r2 - 0x1.93974a8c07c9dp-37;          /* -1/14! */
    p = p * r2 + 0x1.1eed8eff8d898p-29;          /* +1/12! */
    p = p * r2 - 0x1.27e4fb7789f5cp-22;          /* -1/10! */
    p = p * r2 + 0x1.a01a01a01a01ap-16;          /* +1/8!  */
    p = p * r2 - 0x1.6c16c16c16c17p-10;          /* -1/6!  */
    p = p * r2 + 0x1.5555555555555p-5;           /* +1/4!  */
    return (1.0 - 0.5 * r2) + (r2 * r2) * p;
}

void qw_sincosf(float x, float *s, float *c) {
    const double xd = x;
    if (!(fabs(xd) < 0x1p28)) { /* NaN, Inf, or far beyond any RoPE angle */
        *s = (float)sin(xd);
        *c = (float)cos(xd);
        return;
    }
    const double kd = nearbyint(xd * TWO_OVER_PI); /* round to nearest, ties to even */
    const int64_t k = (int64_t)kd;
    double r = xd - kd * PIO2_1;
    r -= kd * PIO2_2;
    r -= kd * PIO2_3;
    r -= kd * PIO2_4;
    const double sr = sin_poly(r), cr = cos_poly(r);
    switch ((int)(k & 3)) {
    case 0:  *s = (float)sr;  *c = (float)cr;  break;
    case 1:  *s = (float)cr;  *c = (float)-sr; break;
    case 2:  *s = (float)-sr; *c = (float)-cr; break;
    default: *s = (float)-cr; *c = (float)sr;  break;
    }
}

#include "utf8.h"

#include <string.h>

typedef struct sink {
    char *out;
    int cap; /* bytes usable for text: the caller's cap minus the NUL */
    int len;
    bool full; /* once a character was dropped, drop everything after it */
} sink;

static void sink_put(sink *s, const unsigned char *bytes, int n) {
    if (s->full) return;
    if (n > s->cap - s->len) {
        s->full = true;
        return;
    }
    memcpy(s->out + s->len, bytes, (size_t)n);
    s->len += n;
}

static void sink_replacement(sink *s) {
    static const unsigned char fffd[3] = {0xEF, 0xBF, 0xBD};
    sink_put(s, fffd, 3);
}

/* Total length of a well-formed sequence starting with `lead`, or 0 if `lead`
 * can never start one (continuation bytes, C0, C1, F5..FF). */
static int wellformed_len(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

/* Allowed range of the byte following buf[0..n) (n >= 1). The second byte
 * carries the restrictions that exclude overlongs (E0, F0), surrogates (ED)
 * and code points above U+10FFFF (F4); later bytes are plain continuations. */
static void next_range(const unsigned char *buf, int n, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (n != 1) return;
    switch (buf[0]) {
    case 0xE0: *lo = 0xA0; break;
    case 0xED: *hi = 0x9F; break;
    case 0xF0: *lo = 0x90; break;
    case 0xF4: *hi = 0x8F; break;
    default: break;
    }
}

typedef struct decoder {
    unsigned char buf[4];
    int n; /* bytes of the incomplete sequence in buf */
} decoder;

static void decode_byte(decoder *d, sink *s, unsigned char b) {
    if (d->n > 0) {
        unsigned char lo, hi;
        next_range(d->buf, d->n, &lo, &hi);
        if (b >= lo && b <= hi) {
            d->buf[d->n++] = b;
            if (d->n == wellformed_len(d->buf[0])) {
                sink_put(s, d->buf, d->n);
                d->n = 0;
            }
            return;
        }
        /* the sequence so far is a maximal ill-formed subpart; `b` starts over */
        sink_replacement(s);
        d->n = 0;
    }
    int need = wellformed_len(b);
    if (need == 1) {
        sink_put(s, &b, 1);
    } else if (need == 0) {
        sink_replacement(s);
    } else {
        d->buf[0] = b;
        d->n = 1;
    }
}

int qw_utf8_sanitize(unsigned char *pending, int *n_pending, const unsigned char *src, size_t n,
                     bool final, char *out, int cap) {
    sink s = {out, cap - 1, 0, false};
    if (!out || cap <= 0) {
        s.out = NULL;
        s.cap = 0;
        s.full = true;
    }
    decoder d = {{0}, 0};
    int np = (pending && n_pending) ? *n_pending : 0;
    if (np < 0 || np > 8) np = 0;
    for (int i = 0; i < np; i++) decode_byte(&d, &s, pending[i]);
    if (src) {
        for (size_t i = 0; i < n; i++) decode_byte(&d, &s, src[i]);
    }
    if (final && d.n > 0) {
        sink_replacement(&s);
        d.n = 0;
    }
    if (pending && n_pending) {
        memcpy(pending, d.buf, (size_t)d.n);
        *n_pending = d.n;
    }
    if (s.out) s.out[s.len] = '\0';
    return s.len;
}

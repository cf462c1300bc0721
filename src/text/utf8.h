/* UTF-8 helpers used by the tokenizer and the streaming detokenizer. */
#ifndef QW_UTF8_H
#define QW_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the sequence announced by `lead`, judged by its high nibble only
 * (the way the SentencePiece splitter counts characters): 1 for ASCII and for
 * stray continuation bytes 0x80..0xBF, 2 for 0xC0..0xDF, 3 for 0xE0..0xEF,
 * 4 for 0xF0..0xFF. Never 0. No validation: the caller clamps to the bytes it
 * has. */
static inline int qw_utf8_seq_len(unsigned char lead) {
    static const unsigned char len_by_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                                    1, 1, 1, 1, 2, 2, 3, 4};
    return len_by_nibble[lead >> 4];
}

/* Incremental UTF-8 sanitizer.
 *
 * `pending[0 .. *n_pending)` holds the start of a well-formed sequence whose
 * remaining bytes have not arrived yet (at most 3 bytes; `pending` must have
 * room for 4). The bytes src[0..n) are appended to that stream; every complete
 * well-formed character is written to `out`, each maximal ill-formed
 * subsequence (bad lead byte C0, C1, F5..FF; stray continuation byte;
 * overlong form; surrogate; code point above U+10FFFF; a sequence cut short by
 * a byte that cannot continue it) is written as U+FFFD (EF BF BD), and a new
 * incomplete tail is left in `pending`. With `final`, a dangling incomplete
 * tail is written as one U+FFFD and the state is emptied.
 *
 * `out` receives at most cap - 1 bytes plus a NUL. Characters that do not fit
 * are dropped whole (the output is always a prefix of the full result that
 * ends on a character boundary). Returns the number of bytes written, not
 * counting the NUL; 0 and nothing written when cap <= 0 or out is NULL.
 * A corrupt state (*n_pending outside 0..3 or bytes that are not a valid
 * prefix) is tolerated: it is reprocessed like input. */
int qw_utf8_sanitize(unsigned char *pending, int *n_pending, const unsigned char *src, size_t n,
                     bool final, char *out, int cap);

#endif

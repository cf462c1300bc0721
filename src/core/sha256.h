/* SHA-256 (FIPS 180-4), incremental. Used to verify downloaded models. */
#ifndef QW_SHA256_H
#define QW_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct qw_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;     /* message length so far */
    uint8_t block[64];    /* a partial block */
    unsigned n_block;     /* bytes in `block` */
} qw_sha256;

void qw_sha256_init(qw_sha256 *s);
void qw_sha256_update(qw_sha256 *s, const void *data, size_t n);
/* Writes the 32-byte digest; the state must be re-initialized to be reused. */
void qw_sha256_final(qw_sha256 *s, uint8_t digest[32]);
/* digest as 64 lower-case hex digits + NUL */
void qw_sha256_hex(const uint8_t digest[32], char out[65]);

#endif

/* SHA-256 (src/core/sha256.c) against the FIPS 180-2 example vectors (one
 * block, two blocks, a million 'a'), the empty message and the 896-bit
 * message, and incremental updates split at every position (and in odd
 * chunk sizes) giving the one-shot digest. */
#include <string.h>

#include "core/sha256.h"
#include "qw_test.h"

static void hex_of(const void *p, size_t n, char out[65]) {
    qw_sha256 s;
    uint8_t d[32];
    qw_sha256_init(&s);
    qw_sha256_update(&s, p, n);
    qw_sha256_final(&s, d);
    qw_sha256_hex(d, out);
}

static void vectors(void) {
    static const struct { const char *msg, *want; } v[] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char got[65];
        hex_of(v[i].msg, strlen(v[i].msg), got);
        CHECKF(strcmp(got, v[i].want) == 0, "'%s': %s", v[i].msg, got);
    }
    /* one million 'a', fed in 1000-byte pieces */
    char a[1000];
    memset(a, 'a', sizeof a);
    qw_sha256 s;
    uint8_t d[32];
    char got[65];
    qw_sha256_init(&s);
    for (int i = 0; i < 1000; i++) qw_sha256_update(&s, a, sizeof a);
    qw_sha256_final(&s, d);
    qw_sha256_hex(d, got);
    CHECKF(strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
           "1M 'a': %s", got);
}

/* Lengths around the padding boundaries, split at every position. */
static void incremental(void) {
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 131 + 7);
    int bad = 0;
    for (size_t n = 0; n <= sizeof buf; n++) {
        char want[65];
        hex_of(buf, n, want);
        for (size_t cut = 0; cut <= n; cut++) {
            qw_sha256 s;
            uint8_t d[32];
            char got[65];
            qw_sha256_init(&s);
            qw_sha256_update(&s, buf, cut);
            qw_sha256_update(&s, buf + cut, 0);
            qw_sha256_update(&s, buf + cut, n - cut);
            qw_sha256_final(&s, d);
            qw_sha256_hex(d, got);
            if (strcmp(got, want) != 0 && bad++ < 5)
                fprintf(stderr, "length %zu split at %zu differs\n", n, cut);
        }
        /* odd chunk sizes */
        for (size_t step = 1; step < 70; step += 13) {
            qw_sha256 s;
            uint8_t d[32];
            char got[65];
            qw_sha256_init(&s);
            for (size_t off = 0; off < n; off += step)
                qw_sha256_update(&s, buf + off, off + step > n ? n - off : step);
            qw_sha256_final(&s, d);
            qw_sha256_hex(d, got);
            if (strcmp(got, want) != 0 && bad++ < 5)
                fprintf(stderr, "length %zu in steps of %zu differs\n", n, step);
        }
    }
    CHECKF(bad == 0, "%d incremental digests differ", bad);
    /* distinct lengths give distinct digests (the length is hashed) */
    char h55[65], h56[65];
    hex_of(buf, 55, h55);
    hex_of(buf, 56, h56);
    CHECK(strcmp(h55, h56) != 0);
}

int main(void) {
    vectors();
    incremental();
    return qw_test_end();
}

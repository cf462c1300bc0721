/* The staged (streaming) loader: qw_loader_create / buffer / header / finish
 * / free.
 *
 * A real model fed in random-sized chunks (the header checked as soon as
 * enough bytes are in) gives logits bit-identical to qw_model_load; the model
 * keeps the loader's buffer (no copy). Hostile headers are refused after the
 * first chunk, long before the data; an unsupported architecture is refused
 * as soon as the header is complete. Aborting midway (qw_loader_free) frees
 * everything (run under ASan: QW_SANITIZE=ON); a stream that ends early fails
 * at finish with TRUNCATED; absurd sizes give OOM naming the size.
 *
 * Split models (qw_loader_create_parts): stories260K cut into three parts as
 * llama.cpp's gguf-split lays them out (all metadata in part 1, split.no /
 * split.count / split.tensors.count in every part), streamed whole, give the
 * logits of the single file; every part lands 64-byte aligned; part 1's
 * header is validated before part 2 arrives; a part with the wrong split.no,
 * bad magic in part 2, a tensor in two parts, a stream that stops in part 2
 * and names that do not match the part count are refused with the native
 * loader's messages, naming the part. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "qw_test.h"
#include "qwasm.h"

#define QW_MAX_TEST_SPLITS 257 /* one more than the library takes */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* A random chunk length: mostly small, sometimes large. */
static size_t chunk_len(uint64_t size) {
    uint32_t max = size / 16 > 4096 ? (uint32_t)(size / 16) : 4096;
    switch (rnd() % 4) {
    case 0: return 1 + rnd() % 16;
    case 1: return 1 + rnd() % 4096;
    default: return 1 + rnd() % max;
    }
}

#define N_TOK 6
static const int32_t TOKENS[N_TOK] = {1, 403, 407, 261, 378, 300};

/* Logits of every position for TOKENS (n_vocab * N_TOK floats, caller frees). */
static float *run_logits(qw_model *m) {
    qw_context *c = NULL;
    if (qw_context_create(m, 16, 1, &c) != QW_OK) {
        CHECKF(0, "context: %s", qw_last_error());
        return NULL;
    }
    const int V = qw_model_hparams(m)->n_vocab;
    float *out = NULL;
    if (qw_decode(c, TOKENS, N_TOK, true) == QW_OK) {
        out = malloc((size_t)V * N_TOK * sizeof(float));
        for (int i = 0; out && i < N_TOK; i++) memcpy(out + (size_t)i * V, qw_logits(c, i), V * sizeof(float));
    } else {
        CHECKF(0, "decode: %s", qw_last_error());
    }
    qw_context_free(c);
    return out;
}

/* The header part of streaming: once `have` bytes are in and at least
 * *need of them, asks the loader whether the header is complete (*need = 0:
 * validated at `have`) or how much it needs. Returns false when the header
 * was refused (then *header_st, *header_at say so and streaming stops). */
static bool header_step(qw_loader *l, uint64_t have, uint64_t total, uint64_t *need, bool *done,
                        qw_status *header_st, uint64_t *header_at) {
    if (*done || have < *need) return true;
    const qw_status st = qw_loader_header(l, have, need);
    if (st != QW_OK) {
        *header_st = st;
        *header_at = have;
        return false;
    }
    if (*need == 0) {
        *done = true;
        *header_at = have;
    } else {
        CHECK(*need > have && *need <= total);
    }
    return true;
}

/* Streams bytes[0, stop) into a new loader in random chunks, validating the
 * header on the way. Returns the loader (NULL on a create failure); sets
 * *header_st to the first non-OK header status (QW_OK if none) and
 * *header_at to the byte count at which the header was validated or refused
 * (0 if neither happened). */
static qw_loader *stream(const uint8_t *bytes, uint64_t size, uint64_t stop, const char *name,
                         qw_status *header_st, uint64_t *header_at) {
    qw_loader *l = NULL;
    *header_st = QW_OK;
    *header_at = 0;
    if (qw_loader_create(size, name, &l) != QW_OK) {
        CHECKF(0, "create: %s", qw_last_error());
        return NULL;
    }
    uint8_t *buf = qw_loader_buffer(l);
    CHECK(buf != NULL && qw_loader_file_size(l) == size);
    uint64_t have = 0, need = 1;
    bool done = false;
    while (have < stop) {
        size_t n = chunk_len(size);
        if (n > stop - have) n = (size_t)(stop - have);
        memcpy(buf + have, bytes + have, n);
        have += n;
        if (!header_step(l, have, size, &need, &done, header_st, header_at)) break;
    }
    return l;
}

static void test_model_file(const char *rel) {
    const char *path = qw_shared_path(rel);
    size_t size = 0;
    uint8_t *bytes = qw_read_file(path, &size);
    if (!bytes) {
        CHECKF(0, "cannot read %s", path);
        return;
    }
    qw_model *ref = NULL;
    CHECKF(qw_model_load(path, &ref) == QW_OK, "%s", qw_last_error());
    float *want = ref ? run_logits(ref) : NULL;
    const int V = ref ? qw_model_hparams(ref)->n_vocab : 0;

    for (int rep = 0; rep < 3; rep++) {
        qw_status hst;
        uint64_t hat;
        qw_loader *l = stream(bytes, size, size, path, &hst, &hat);
        if (!l) break;
        CHECKF(hst == QW_OK, "%s: header: %s", rel, qw_last_error());
        CHECKF(hat > 0 && hat < size / 2, "%s: header validated at %llu of %zu", rel,
               (unsigned long long)hat, size);
        const uint8_t *buf = qw_loader_buffer(l);
        qw_model *m = NULL;
        qw_status st = qw_loader_finish(l, size, &m);
        CHECKF(st == QW_OK, "%s: finish: %s", rel, qw_last_error());
        CHECK(qw_loader_buffer(l) == NULL); /* the model owns it now */
        qw_model *again = NULL;
        CHECK(qw_loader_finish(l, size, &again) == QW_ERR_INVALID_ARG && again == NULL);
        qw_loader_free(l);
        if (m) {
            /* weights point into the loader's buffer: no copy was made */
            (void)buf;
            CHECK(qw_model_weight_bytes(m) == qw_model_weight_bytes(ref));
            float *got = run_logits(m);
            CHECKF(got && want && memcmp(got, want, (size_t)V * N_TOK * sizeof(float)) == 0,
                   "%s: streamed logits differ from qw_model_load", rel);
            free(got);
            qw_model_free(m);
        }
    }

    /* abort midway: the header is validated, half the data is in, then free */
    {
        qw_status hst;
        uint64_t hat;
        qw_loader *l = stream(bytes, size, size / 2, path, &hst, &hat);
        CHECK(l && hst == QW_OK && hat > 0);
        qw_loader_free(l);
    }
    /* the stream ends early: the header is fine, finish says TRUNCATED */
    {
        qw_status hst;
        uint64_t hat;
        qw_loader *l = stream(bytes, size, size - 1000, path, &hst, &hat);
        CHECK(l && hst == QW_OK);
        qw_model *m = NULL;
        qw_status st = qw_loader_finish(l, size - 1000, &m);
        CHECKF(st == QW_ERR_TRUNCATED && m == NULL, "status %d", st);
        CHECKF(strstr(qw_last_error(), "stream ended after") && strstr(qw_last_error(), path),
               "%s", qw_last_error());
        /* more bytes than declared is a caller error */
        CHECK(qw_loader_finish(l, size + 1, &m) == QW_ERR_INVALID_ARG);
        qw_loader_free(l);
    }

    /* an unsupported architecture is refused once the header is in, before the data */
    {
        uint8_t *bad = malloc(size);
        memcpy(bad, bytes, size);
        const char key[] = "general.architecture";
        uint8_t *p = NULL;
        for (size_t i = 0; i + sizeof key < size; i++)
            if (memcmp(bad + i, key, sizeof key - 1) == 0) {
                p = bad + i + sizeof key - 1 + 4 + 8; /* type u32, length u64 */
                break;
            }
        CHECK(p && memcmp(p, "llama", 5) == 0);
        if (p) memcpy(p, "gpt9x", 5);
        qw_status hst;
        uint64_t hat;
        qw_loader *l = stream(bad, size, size, NULL, &hst, &hat);
        CHECKF(hst == QW_ERR_UNSUPPORTED && hat < size / 2, "status %d at %llu: %s", hst,
               (unsigned long long)hat, qw_last_error());
        CHECKF(strstr(qw_last_error(), "'gpt9x' is not supported"), "%s", qw_last_error());
        qw_loader_free(l);
        free(bad);
    }

    free(want);
    qw_model_free(ref);
    free(bytes);
}

static void test_hostile(void) {
    /* bad magic: refused on the first chunk, message as qw_model_load words it */
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rnd();
    memcpy(junk, "not a model at all", 18);
    qw_loader *l = NULL;
    CHECK(qw_loader_create(1 << 20, "x.gguf", &l) == QW_OK);
    if (l) {
        memcpy(qw_loader_buffer(l), junk, 64);
        uint64_t need = 99;
        qw_status st = qw_loader_header(l, 64, &need);
        CHECKF(st == QW_ERR_BAD_MODEL, "status %d", st);
        CHECKF(strncmp(qw_last_error(), "x.gguf: gguf: ", 14) == 0 && strstr(qw_last_error(), "magic"),
               "%s", qw_last_error());
        CHECK(need == 0);
        qw_loader_free(l);
    }
    /* absurd counts: GGUF v3 with 2^60 tensors in a 1 MB file, refused at 24 bytes */
    uint8_t hdr[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
    hdr[8 + 7] = 0x10;  /* n_tensors = 2^60 */
    hdr[16] = 1;        /* n_kv = 1 */
    CHECK(qw_loader_create(1 << 20, NULL, &l) == QW_OK);
    if (l) {
        memcpy(qw_loader_buffer(l), hdr, sizeof hdr);
        uint64_t need = 0;
        qw_status st = qw_loader_header(l, 8, &need);
        CHECKF(st == QW_OK && need > 8, "short prefix: status %d need %llu", st, (unsigned long long)need);
        st = qw_loader_header(l, sizeof hdr, &need);
        CHECKF(st != QW_OK, "2^60 tensors accepted");
        CHECKF(strstr(qw_last_error(), "tensor"), "%s", qw_last_error());
        qw_loader_free(l);
    }
    /* a header that claims more bytes than the file has */
    CHECK(qw_loader_create(100, NULL, &l) == QW_OK);
    if (l) {
        uint8_t h2[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200};
        memcpy(qw_loader_buffer(l), h2, sizeof h2);
        uint64_t need = 0;
        qw_status st = qw_loader_header(l, sizeof h2, &need);
        CHECKF(st == QW_ERR_TRUNCATED && need == 0, "status %d need %llu: %s", st,
               (unsigned long long)need, qw_last_error());
        qw_loader_free(l);
    }
    /* empty, absurd, NULL */
    CHECK(qw_loader_create(0, "e.gguf", &l) == QW_ERR_BAD_MODEL && l == NULL);
    CHECKF(strcmp(qw_last_error(), "'e.gguf' is empty") == 0, "%s", qw_last_error());
    CHECK(qw_loader_create(1ull << 62, NULL, &l) == QW_ERR_OOM && l == NULL);
    CHECKF(strstr(qw_last_error(), "4611686018427387904"), "%s", qw_last_error());
#if !defined(__SANITIZE_ADDRESS__)
    /* a real allocation failure (ASan would abort on a size this large) */
    qw_status st = qw_loader_create(1ull << 46, NULL, &l);
    if (st == QW_OK) {
        qw_loader_free(l); /* the OS overcommits: nothing was touched */
    } else {
        CHECK(st == QW_ERR_OOM && l == NULL);
        CHECKF(strstr(qw_last_error(), "70368744177664"), "%s", qw_last_error());
    }
#endif
    CHECK(qw_loader_create(10, NULL, NULL) == QW_ERR_INVALID_ARG);
    qw_model *m = NULL;
    CHECK(qw_loader_finish(NULL, 0, &m) == QW_ERR_INVALID_ARG);
    uint64_t need;
    CHECK(qw_loader_header(NULL, 0, &need) == QW_ERR_INVALID_ARG);
    CHECK(qw_loader_buffer(NULL) == NULL);
    qw_loader_free(NULL);
}

/* A file that is one part of a split model: a part named as such cannot be
 * streamed (UNSUPPORTED, saying why); a part under a plain name is reported
 * as a misnamed part (BAD_MODEL), as qw_model_load does. */
static void test_split_part(void) {
    qw_gguf_writer *w = NULL;
    uint8_t *bytes = NULL;
    size_t size = 0;
    CHECK(qw_gguf_writer_create(&w) == QW_OK);
    CHECK(qw_gguf_set_u16(w, "split.no", 0) == QW_OK);
    CHECK(qw_gguf_set_u16(w, "split.count", 3) == QW_OK);
    CHECK(qw_gguf_writer_to_buffer(w, &bytes, &size) == QW_OK);
    qw_gguf_writer_free(w);
    if (!bytes) return;
    const char *names[2] = {"m-00001-of-00003.gguf", "m.gguf"};
    const qw_status want[2] = {QW_ERR_UNSUPPORTED, QW_ERR_BAD_MODEL};
    const char *msg[2] = {"m-00001-of-00003.gguf: split models (3 parts) must be streamed with "
                          "all their parts",
                          "m.gguf is part of a 3-part split model but its name does not end in"};
    for (int i = 0; i < 2; i++) {
        qw_loader *l = NULL;
        CHECK(qw_loader_create(size, names[i], &l) == QW_OK);
        if (!l) continue;
        memcpy(qw_loader_buffer(l), bytes, size);
        uint64_t need = 0;
        qw_status st = qw_loader_header(l, size, &need);
        CHECKF(st == want[i] && strncmp(qw_last_error(), msg[i], strlen(msg[i])) == 0,
               "%s: status %d: %s", names[i], st, qw_last_error());
        qw_loader_free(l);
    }
    free(bytes);
}


/* ------------------------------------------------------------- split -- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} bytebuf;

static void put(bytebuf *b, const void *x, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, x, n);
    b->n += n;
}
static void put_le(bytebuf *b, uint64_t v, int n) {
    uint8_t x[8];
    for (int i = 0; i < n; i++) x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, (size_t)n);
}
static void put_str(bytebuf *b, const char *s, size_t n) {
    put_le(b, n, 8);
    put(b, s, n);
}
static void pad_to(bytebuf *b, uint64_t align) {
    while (b->n % align) put_le(b, 0, 1);
}

typedef enum { SP_OK, SP_WRONG_NO, SP_DUP, SP_BAD_MAGIC } split_kind;
enum { N_PARTS = 3 };

/* Cuts the GGUF image `bytes` (parsed as g) into N_PARTS GGUF v3 images:
 * tensor i goes to part i * N_PARTS / n_tensors; part 1 carries the original
 * key/value bytes verbatim; every part gets split.no (u16), split.count (u16),
 * split.tensors.count (i32). */
static bool make_split(const uint8_t *bytes, const qw_gguf *g, split_kind kind,
                       bytebuf parts[N_PARTS]) {
    const uint64_t nt = g->n_tensors;
    const uint8_t *kv_begin = bytes + 24;
    const uint8_t *kv_end = (const uint8_t *)g->tensors[0].name.ptr - 8;
    bool ok = true;
    for (int p = 0; p < N_PARTS; p++) {
        bytebuf *b = &parts[p];
        memset(b, 0, sizeof *b);
        const bool dup_here = kind == SP_DUP && p == 2;
        const uint64_t dup_t = (nt + N_PARTS - 1) / N_PARTS; /* the first tensor of part 2 */
        uint64_t n_t = 0;
        for (uint64_t i = 0; i < nt; i++)
            if ((int)(i * N_PARTS / nt) == p || (dup_here && i == dup_t)) n_t++;
        put(b, kind == SP_BAD_MAGIC && p == 1 ? "FUGG" : "GGUF", 4);
        put_le(b, 3, 4);
        put_le(b, n_t, 8);
        put_le(b, (p == 0 ? g->n_kv : 0) + 3, 8);
        if (p == 0) put(b, kv_begin, (size_t)(kv_end - kv_begin));
        put_str(b, "split.no", 8);
        put_le(b, 2, 4); /* u16 */
        put_le(b, kind == SP_WRONG_NO && p == 1 ? 2 : (uint64_t)p, 2);
        put_str(b, "split.count", 11);
        put_le(b, 2, 4);
        put_le(b, N_PARTS, 2);
        put_str(b, "split.tensors.count", 19);
        put_le(b, 5, 4); /* i32 */
        put_le(b, nt, 4);
        const uint64_t al = p == 0 ? g->alignment : 32;
        uint64_t off = 0;
        for (uint64_t i = 0; i < nt; i++) {
            if (!((int)(i * N_PARTS / nt) == p || (dup_here && i == dup_t))) continue;
            const qw_gguf_tensor *t = &g->tensors[i];
            put_str(b, t->name.ptr, t->name.len);
            put_le(b, t->n_dims, 4);
            for (uint32_t d = 0; d < t->n_dims; d++) put_le(b, (uint64_t)t->ne[d], 8);
            put_le(b, t->type, 4);
            put_le(b, off, 8);
            off = (off + t->nbytes + al - 1) / al * al;
        }
        pad_to(b, al);
        for (uint64_t i = 0; i < nt; i++) {
            if (!((int)(i * N_PARTS / nt) == p || (dup_here && i == dup_t))) continue;
            put(b, g->tensors[i].data, g->tensors[i].nbytes);
            pad_to(b, al);
        }
        if (b->oom) ok = false;
    }
    if (!ok) CHECKF(0, "test setup: out of memory writing the parts");
    return ok;
}

/* Streams the parts into a new loader in random chunks, validating headers on
 * the way (*header_st: the first failure). Stops after `stop` bytes. */
static qw_loader *stream_parts(bytebuf parts[N_PARTS], const char *name, uint64_t stop,
                               qw_status *header_st, uint64_t *header_at) {
    uint64_t sizes[N_PARTS], total = 0;
    for (int p = 0; p < N_PARTS; p++) total += sizes[p] = parts[p].n;
    qw_loader *l = NULL;
    *header_st = QW_OK;
    *header_at = 0;
    qw_status st = qw_loader_create_parts(N_PARTS, sizes, name, &l);
    if (st != QW_OK) {
        CHECKF(0, "create_parts: %s", qw_last_error());
        return NULL;
    }
    CHECK(qw_loader_file_size(l) == total && qw_loader_n_parts(l) == N_PARTS);
    uint8_t *buf = qw_loader_buffer(l);
    uint64_t have = 0, need = 1;
    bool done = false;
    for (int p = 0; p < N_PARTS && have < stop && *header_st == QW_OK; p++) {
        const uint64_t off = qw_loader_part_offset(l, p);
        CHECKF(off % 64 == 0 && (p == 0 || off >= qw_loader_part_offset(l, p - 1) + sizes[p - 1]),
               "part %d at %llu", p, (unsigned long long)off);
        uint64_t in = 0; /* bytes of this part written */
        while (in < sizes[p] && have < stop) {
            size_t n = chunk_len(sizes[p]);
            if (n > sizes[p] - in) n = (size_t)(sizes[p] - in);
            if (n > stop - have) n = (size_t)(stop - have);
            memcpy(buf + off + in, parts[p].p + in, n);
            in += n;
            have += n;
            if (!header_step(l, have, total, &need, &done, header_st, header_at)) break;
        }
    }
    return l;
}

static void test_split_stream(const char *rel) {
    const char *path = qw_shared_path(rel);
    size_t size = 0;
    uint8_t *bytes = qw_read_file(path, &size);
    if (!bytes) {
        CHECKF(0, "cannot read %s", path);
        return;
    }
    qw_gguf *g = NULL;
    qw_model *ref = NULL;
    CHECKF(qw_gguf_parse(bytes, size, size, &g, NULL) == QW_OK, "%s", qw_last_error());
    CHECKF(qw_model_load(path, &ref) == QW_OK, "%s", qw_last_error());
    float *want = ref ? run_logits(ref) : NULL;
    const int V = ref ? qw_model_hparams(ref)->n_vocab : 0;
    const char *name = "m-00001-of-00003.gguf";
    bytebuf parts[N_PARTS];
    if (g && want && make_split(bytes, g, SP_OK, parts)) {
        for (int rep = 0; rep < 3; rep++) {
            qw_status hst;
            uint64_t hat;
            /* any part's name will do */
            qw_loader *l = stream_parts(parts, rep == 1 ? "dir/m-00002-of-00003.gguf" : name,
                                        UINT64_MAX, &hst, &hat);
            if (!l) break;
            CHECKF(hst == QW_OK && hat >= parts[0].n + parts[1].n, "header: status %d at %llu: %s",
                   hst, (unsigned long long)hat, qw_last_error());
            qw_model *m = NULL;
            qw_status st = qw_loader_finish(l, qw_loader_file_size(l), &m);
            CHECKF(st == QW_OK, "split finish: %s", qw_last_error());
            qw_loader_free(l);
            if (m) {
                float *got = run_logits(m);
                CHECKF(got && memcmp(got, want, (size_t)V * N_TOK * sizeof(float)) == 0,
                       "streamed split logits differ from the single file");
                free(got);
                qw_model_free(m);
            }
        }
        /* part 1's header (all the metadata) is validated within part 1 */
        {
            qw_status hst;
            uint64_t hat;
            qw_loader *l = stream_parts(parts, name, parts[0].n, &hst, &hat);
            uint64_t need = 0;
            CHECK(l && hst == QW_OK);
            if (l) {
                CHECKF(qw_loader_header(l, parts[0].n, &need) == QW_OK && need == parts[0].n + 1,
                       "need %llu", (unsigned long long)need);
                qw_loader_free(l);
            }
        }
        /* the stream stops inside part 2: TRUNCATED naming part 2 and its size */
        {
            qw_status hst;
            uint64_t hat;
            const uint64_t stop = parts[0].n + parts[1].n / 2;
            qw_loader *l = stream_parts(parts, name, stop, &hst, &hat);
            qw_model *m = NULL;
            if (l) {
                CHECK(qw_loader_finish(l, stop, &m) == QW_ERR_TRUNCATED && !m);
                char msg[256];
                snprintf(msg, sizeof msg, "m-00002-of-00003.gguf: the stream ended after %llu of %zu bytes",
                         (unsigned long long)(parts[1].n / 2), parts[1].n);
                CHECKF(strcmp(qw_last_error(), msg) == 0, "%s", qw_last_error());
                qw_loader_free(l);
            }
        }
        /* names that do not fit */
        {
            uint64_t sizes[N_PARTS] = {parts[0].n, parts[1].n, parts[2].n};
            qw_loader *l = NULL;
            CHECK(qw_loader_create_parts(N_PARTS, sizes, "m-00001-of-00004.gguf", &l) ==
                      QW_ERR_INVALID_ARG && !l);
            CHECKF(strstr(qw_last_error(), "names 4 parts but 3 were given"), "%s", qw_last_error());
            CHECK(qw_loader_create_parts(N_PARTS, sizes, "m.gguf", &l) == QW_ERR_INVALID_ARG && !l);
            CHECKF(strstr(qw_last_error(), "must end in -0000N-of-0000M.gguf"), "%s", qw_last_error());
            CHECK(qw_loader_create_parts(0, sizes, NULL, &l) == QW_ERR_INVALID_ARG && !l);
            CHECK(qw_loader_create_parts(N_PARTS, NULL, NULL, &l) == QW_ERR_INVALID_ARG && !l);
            CHECK(qw_loader_create_parts(QW_MAX_TEST_SPLITS, sizes, NULL, &l) == QW_ERR_UNSUPPORTED && !l);
            sizes[1] = 0;
            CHECK(qw_loader_create_parts(N_PARTS, sizes, name, &l) == QW_ERR_BAD_MODEL && !l);
            CHECKF(strcmp(qw_last_error(), "'m-00002-of-00003.gguf' is empty") == 0, "%s",
                   qw_last_error());
            /* without a name the parts are numbered in messages */
            sizes[1] = 1ull << 62;
            CHECK(qw_loader_create_parts(N_PARTS, sizes, NULL, &l) == QW_ERR_OOM && !l);
        }
        for (int p = 0; p < N_PARTS; p++) free(parts[p].p);
    }
    /* refused parts: the header of the bad part fails, naming it */
    static const struct { split_kind kind; qw_status st; const char *msg; bool at_finish; } bad[] = {
        {SP_WRONG_NO, QW_ERR_BAD_MODEL,
         "m-00002-of-00003.gguf says it is part 3 of 3, expected 2 of 3", false},
        {SP_BAD_MAGIC, QW_ERR_BAD_MODEL, "m-00002-of-00003.gguf: gguf: ", false},
        {SP_DUP, QW_ERR_BAD_MODEL, "tensor '", true},
    };
    for (size_t k = 0; g && k < sizeof bad / sizeof bad[0]; k++) {
        if (!make_split(bytes, g, bad[k].kind, parts)) break;
        qw_status hst;
        uint64_t hat;
        qw_loader *l = stream_parts(parts, name, UINT64_MAX, &hst, &hat);
        if (l) {
            qw_status st = hst;
            if (bad[k].at_finish) {
                CHECKF(hst == QW_OK, "kind %d: header: %s", bad[k].kind, qw_last_error());
                qw_model *m = NULL;
                st = qw_loader_finish(l, qw_loader_file_size(l), &m);
                CHECK(m == NULL);
                CHECKF(strstr(qw_last_error(), "appears in parts 2 and 3"), "%s", qw_last_error());
            } else {
                /* refused as soon as part 2's header is in, before part 3 */
                CHECKF(hat > parts[0].n && hat < parts[0].n + parts[1].n, "kind %d refused at %llu",
                       bad[k].kind, (unsigned long long)hat);
            }
            CHECKF(st == bad[k].st && strncmp(qw_last_error(), bad[k].msg, strlen(bad[k].msg)) == 0,
                   "kind %d: status %d: %s", bad[k].kind, st, qw_last_error());
            qw_loader_free(l);
        }
        for (int p = 0; p < N_PARTS; p++) free(parts[p].p);
    }
    free(want);
    qw_model_free(ref);
    qw_gguf_free(g);
    free(bytes);
}

int main(void) {
    test_hostile();
    test_split_part();
    qw_require_shared();
    test_model_file("models/stories260K-f32.gguf");
    test_model_file("models/stories260K-q4_k_m.gguf");
    test_model_file("models/synth15M-q8_0.gguf");
    test_split_stream("models/stories260K-f32.gguf");
    test_split_stream("models/stories260K-q4_k_m.gguf");
    return qw_test_end();
}

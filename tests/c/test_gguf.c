/* GGUF reader and writer tests.
 *
 * - every shared model / vocab file parses (counts printed), and a few known
 *   values read back through the typed getters;
 * - prefix (streaming) parses of a real file: TRUNCATED with a growing *need
 *   until the header is in, then OK;
 * - a small file made by the writer, cut at every byte (as a whole file and as
 *   a prefix);
 * - a list of hostile inputs, each made by patching a valid writer-made file,
 *   each with its valid twin, its expected status and message substring;
 * - writer round trip, streamed tensor data (fill callback), getters,
 *   split-file names.
 * Every buffer handed to the parser is an exact-size heap copy, so ASan sees
 * any read past the end. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "quant/types.h"
#include "qw_test.h"

/* ------------------------------------------------------------ helpers */

static uint8_t *dup_bytes(const uint8_t *b, size_t n) {
    uint8_t *c = malloc(n ? n : 1);
    if (!c) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    if (n) memcpy(c, b, n);
    return c;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Offset of the GGUF string `s` (u64 length + bytes) in b; must be unique.
 * Returns the offset of the length field. */
static size_t find_gstr(const uint8_t *b, size_t n, const char *s) {
    size_t len = strlen(s), hit = SIZE_MAX;
    int count = 0;
    for (size_t i = 0; i + 8 + len <= n; i++) {
        if (get_le(b + i, 8) == len && memcmp(b + i + 8, s, len) == 0) {
            if (!count) hit = i;
            count++;
        }
    }
    if (count != 1) {
        fprintf(stderr, "test setup: string '%s' found %d times\n", s, count);
        exit(1);
    }
    return hit;
}

/* Offset of the value type field of key `k`. */
static size_t kv_type_at(const uint8_t *b, size_t n, const char *k) {
    return find_gstr(b, n, k) + 8 + strlen(k);
}

enum { TF_NDIMS, TF_NE0, TF_NE1, TF_TYPE, TF_OFFSET };
/* Offset of a field of tensor info `name`. */
static size_t tensor_field(const uint8_t *b, size_t n, const char *name, int field) {
    size_t p = find_gstr(b, n, name) + 8 + strlen(name);
    uint32_t nd = (uint32_t)get_le(b + p, 4);
    switch (field) {
    case TF_NDIMS: return p;
    case TF_NE0: return p + 4;
    case TF_NE1: return p + 12;
    case TF_TYPE: return p + 4 + 8 * nd;
    default: return p + 4 + 8 * nd + 4;
    }
}

static const char *sname(qw_status s) { return qw_status_name(s); }

static int n_cases;

/* Parses a copy of b[0..n) as a whole file; expects success. */
static void expect_ok(const char *what, const uint8_t *b, size_t n) {
    uint8_t *c = dup_bytes(b, n);
    qw_gguf *g = NULL;
    qw_status st = qw_gguf_parse(c, n, n, &g, NULL);
    CHECKF(st == QW_OK && g, "%s (valid twin): %s: %s", what, sname(st), qw_last_error());
    qw_gguf_free(g);
    free(c);
}

/* Parses a copy of b[0..n) as a whole file and as a prefix of itself (same
 * thing) ; expects status `want` and `sub` in the message. */
static void expect_fail(const char *what, const uint8_t *b, size_t n, qw_status want,
                        const char *sub) {
    n_cases++;
    uint8_t *c = dup_bytes(b, n);
    qw_gguf *g = (qw_gguf *)&n_cases; /* must be reset to NULL */
    uint64_t need = 12345;
    qw_clear_error();
    qw_status st = qw_gguf_parse(c, n, n, &g, &need);
    const char *msg = qw_last_error();
    CHECKF(st == want, "%s: status %s, want %s (%s)", what, sname(st), sname(want), msg);
    CHECKF(g == NULL, "%s: *out not NULL on failure", what);
    CHECKF(strncmp(msg, "gguf: ", 6) == 0, "%s: message '%s' lacks the 'gguf: ' prefix", what,
           msg);
    CHECKF(strstr(msg, sub) != NULL, "%s: message '%s' lacks '%s'", what, msg, sub);
    CHECKF(strchr(msg, '\n') == NULL, "%s: message has a newline", what);
    if (st == QW_ERR_TRUNCATED)
        CHECKF(need > n, "%s: need %llu <= size %zu", what, (unsigned long long)need, n);
    if (getenv("QW_TEST_VERBOSE")) printf("  %-44s %-12s %s\n", what, sname(st), msg);
    free(c);
}

/* ------------------------------------------------------------ the small file */

typedef struct opts {
    uint32_t version;      /* 2 or 3 */
    uint32_t alignment;    /* 0: leave the default (no key) */
    int fake_align_type;   /* -1: none; else general.alignmenX of this type */
    uint64_t fake_align_v; /* its value */
    bool no_tensors;
} opts;

static const opts DEFAULT_OPTS = {3, 0, -1, 0, false};

static float g_f32_data[16];
static uint8_t g_q4_data[3 * 18];
static uint8_t g_q8_data[68];
static float g_x_data[4];

static uint8_t *build(const opts *o, size_t *n) {
    qw_gguf_writer *w = NULL;
    qw_status st = qw_gguf_writer_create(&w);
    if (st == QW_OK) st = qw_gguf_writer_set_version(w, o->version);
    if (st == QW_OK && o->alignment) st = qw_gguf_writer_set_alignment(w, o->alignment);
    if (st == QW_OK) st = qw_gguf_set_str(w, "general.architecture", "llama");
    if (st == QW_OK) st = qw_gguf_set_u8(w, "t.u8", 200);
    if (st == QW_OK) st = qw_gguf_set_i8(w, "t.i8", -5);
    if (st == QW_OK) st = qw_gguf_set_u16(w, "t.u16", 65535);
    if (st == QW_OK) st = qw_gguf_set_i16(w, "t.i16", -30000);
    if (st == QW_OK) st = qw_gguf_set_u32(w, "t.u32", 123456);
    if (st == QW_OK) st = qw_gguf_set_i32(w, "t.i32", -7);
    if (st == QW_OK) st = qw_gguf_set_u64(w, "t.u64", UINT64_C(1) << 40);
    if (st == QW_OK) st = qw_gguf_set_i64(w, "t.i64", INT64_MIN);
    if (st == QW_OK) st = qw_gguf_set_f32(w, "t.f32", 1.5f);
    if (st == QW_OK) st = qw_gguf_set_f64(w, "t.f64", 1e300);
    if (st == QW_OK) st = qw_gguf_set_bool(w, "t.bool", true);
    if (st == QW_OK) st = qw_gguf_set_str(w, "t.str", "hello");
    static const uint32_t au32[3] = {1, 2, 3};
    static const float af32[2] = {0.5f, -2.0f};
    static const uint8_t abool[2] = {1, 0};
    static const int16_t ai16[2] = {-1, 300};
    static const char *const astr[3] = {"a", "bc", ""};
    if (st == QW_OK) st = qw_gguf_set_arr(w, "t.arr_u32", QW_GGUF_U32, au32, 3);
    if (st == QW_OK) st = qw_gguf_set_arr(w, "t.arr_f32", QW_GGUF_F32, af32, 2);
    if (st == QW_OK) st = qw_gguf_set_arr(w, "t.arr_bool", QW_GGUF_BOOL, abool, 2);
    if (st == QW_OK) st = qw_gguf_set_arr(w, "t.arr_i16", QW_GGUF_I16, ai16, 2);
    if (st == QW_OK) st = qw_gguf_set_arr_str(w, "t.arr_str", astr, NULL, 3);
    if (st == QW_OK) st = qw_gguf_set_u32(w, "dup.a1", 1);
    if (st == QW_OK) st = qw_gguf_set_u32(w, "dup.a2", 2);
    if (st == QW_OK && o->fake_align_type >= 0) {
        const char *k = "general.alignmenX";
        switch (o->fake_align_type) {
        case QW_GGUF_U32: st = qw_gguf_set_u32(w, k, (uint32_t)o->fake_align_v); break;
        case QW_GGUF_U64: st = qw_gguf_set_u64(w, k, o->fake_align_v); break;
        case QW_GGUF_U16: st = qw_gguf_set_u16(w, k, (uint16_t)o->fake_align_v); break;
        default: st = qw_gguf_set_str(w, k, "32"); break;
        }
    }
    if (!o->no_tensors) {
        for (int i = 0; i < 16; i++) g_f32_data[i] = (float)i * 0.25f;
        for (int i = 0; i < (int)sizeof g_q4_data; i++) g_q4_data[i] = (uint8_t)(i * 7);
        for (int i = 0; i < (int)sizeof g_q8_data; i++) g_q8_data[i] = (uint8_t)(i * 3);
        const int64_t ne_tok[2] = {8, 2}, ne_q4[2] = {32, 3}, ne_q8[1] = {64}, ne_x[1] = {4};
        if (st == QW_OK)
            st = qw_gguf_add_tensor(w, "tok.w", QW_TYPE_F32, 2, ne_tok, g_f32_data, 64);
        if (st == QW_OK)
            st = qw_gguf_add_tensor(w, "q.w", QW_TYPE_Q4_0, 2, ne_q4, g_q4_data, 54);
        if (st == QW_OK)
            st = qw_gguf_add_tensor(w, "q8.w", QW_TYPE_Q8_0, 1, ne_q8, g_q8_data, 68);
        if (st == QW_OK) st = qw_gguf_add_tensor(w, "t.x1", QW_TYPE_F32, 1, ne_x, g_x_data, 16);
        if (st == QW_OK) st = qw_gguf_add_tensor(w, "t.x2", QW_TYPE_F32, 1, ne_x, NULL, 16);
    }
    uint8_t *out = NULL;
    if (st == QW_OK) st = qw_gguf_writer_to_buffer(w, &out, n);
    qw_gguf_writer_free(w);
    if (st != QW_OK) {
        fprintf(stderr, "test setup: writer failed: %s\n", qw_last_error());
        exit(1);
    }
    return out;
}

/* ------------------------------------------------------------ shared files */

static void test_shared_files(void) {
    static const char *const files[] = {
        "models/stories260K-f32.gguf",    "models/stories260K-f16.gguf",
        "models/stories260K-q4_0.gguf",   "models/stories260K-q4_k_m.gguf",
        "models/stories260K-q8_0.gguf",   "models/synth15M-f16.gguf",
        "models/synth15M-q4_0.gguf",      "models/synth15M-q4_k_m.gguf",
        "models/synth15M-q8_0.gguf",      "vocab/ggml-vocab-gpt-2.gguf",
        "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-phi-3.gguf",
    };
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n = 0;
        uint8_t *b = qw_read_file(qw_shared_path(files[f]), &n);
        CHECKF(b != NULL, "cannot read %s", files[f]);
        if (!b) continue;
        qw_gguf *g = NULL;
        qw_status st = qw_gguf_parse(b, n, n, &g, NULL);
        CHECKF(st == QW_OK, "%s: %s: %s", files[f], sname(st), qw_last_error());
        if (st != QW_OK) {
            free(b);
            continue;
        }
        int counts[QW_TYPE_COUNT] = {0};
        bool in_bounds = true;
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const qw_gguf_tensor *t = &g->tensors[i];
            if (t->type < QW_TYPE_COUNT) counts[t->type]++;
            in_bounds = in_bounds && t->data != NULL &&
                        (const uint8_t *)t->data + t->nbytes <= b + n;
        }
        CHECKF(in_bounds, "%s: tensor data out of bounds", files[f]);
        CHECK(g->data_offset % g->alignment == 0);
        CHECK(g->data_offset + g->data_size <= n || g->n_tensors == 0);
        printf("  %-34s v%u kv=%-3llu tensors=%-3llu align=%llu types:", files[f], g->version,
               (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors,
               (unsigned long long)g->alignment);
        for (int t = 0; t < QW_TYPE_COUNT; t++)
            if (counts[t]) printf(" %s=%d", qw_type_name((uint32_t)t), counts[t]);
        printf("\n");
        qw_str arch = {0};
        if (strncmp(files[f], "models/", 7) == 0) {
            CHECK(qw_gguf_get_str(g, "general.architecture", true, &arch) == QW_OK &&
                  qw_str_eq(arch, "llama"));
            const qw_gguf_kv *tok = NULL;
            CHECK(qw_gguf_get_arr(g, "tokenizer.ggml.tokens", QW_GGUF_STRING, true, &tok) ==
                      QW_OK &&
                  tok && tok->arr_str && tok->arr_n > 0);
        }
        if (strstr(files[f], "stories260K")) {
            uint32_t n_layer = 0, n_embd = 0;
            float eps = 0;
            CHECK(qw_gguf_get_u32(g, "llama.block_count", true, &n_layer) == QW_OK && n_layer == 5);
            CHECK(qw_gguf_get_u32(g, "llama.embedding_length", true, &n_embd) == QW_OK &&
                  n_embd == 64);
            CHECK(qw_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", true, &eps) ==
                      QW_OK &&
                  eps > 0.9e-5f && eps < 1.1e-5f);
            const qw_gguf_kv *tok = NULL, *scores = NULL;
            CHECK(qw_gguf_get_arr(g, "tokenizer.ggml.tokens", QW_GGUF_STRING, true, &tok) ==
                      QW_OK &&
                  tok->arr_n == 512);
            CHECK(qw_gguf_get_arr(g, "tokenizer.ggml.scores", QW_GGUF_F32, true, &scores) ==
                      QW_OK &&
                  scores->arr_n == 512);
            const qw_gguf_tensor *te = qw_gguf_find_tensor(g, "token_embd.weight");
            CHECK(te && te->n_dims == 2 && te->ne[0] == 64 && te->ne[1] == 512 && te->ne[2] == 1);
        }
        qw_gguf_free(g);
        free(b);
    }
}

/* Streaming load of a real file: start from 0 bytes and grow to *need. */
static void test_prefix_real(void) {
    size_t n = 0;
    uint8_t *b = qw_read_file(qw_shared_path("models/stories260K-q8_0.gguf"), &n);
    CHECK(b != NULL);
    if (!b) return;
    qw_gguf *whole = NULL;
    CHECK(qw_gguf_parse(b, n, n, &whole, NULL) == QW_OK);
    if (!whole) {
        free(b);
        return;
    }
    uint64_t data_offset = whole->data_offset;
    size_t size = 0;
    int steps = 0;
    bool monotonic = true, bounded = true;
    qw_gguf *g = NULL;
    for (;;) {
        uint8_t *c = dup_bytes(b, size);
        uint64_t need = 0;
        qw_status st = qw_gguf_parse(c, size, n, &g, &need);
        free(c);
        if (st == QW_OK) break;
        CHECKF(st == QW_ERR_TRUNCATED, "prefix %zu: %s: %s", size, sname(st), qw_last_error());
        if (st != QW_ERR_TRUNCATED) break;
        monotonic = monotonic && need > size;
        bounded = bounded && need <= data_offset;
        if (!(need > size) || need > n) break;
        size = (size_t)need;
        steps++;
    }
    CHECKF(monotonic && bounded, "need not growing or past the data section");
    CHECKF(g != NULL, "streaming prefix parse never succeeded");
    if (g) {
        printf("  streaming header parse: %d steps, header complete at %zu bytes (data at %llu)\n",
               steps, size, (unsigned long long)data_offset);
        CHECK(size <= data_offset && size + whole->alignment > data_offset);
        CHECK(g->n_tensors == whole->n_tensors && g->n_kv == whole->n_kv);
        CHECK(g->data_offset == data_offset && g->data_size == whole->data_size);
        bool all_null = true;
        for (uint64_t i = 0; i < g->n_tensors; i++) all_null = all_null && !g->tensors[i].data;
        CHECK(all_null);
        qw_gguf_free(g);
    }
    /* a prefix that includes the first tensor's data */
    const qw_gguf_tensor *t0 = &whole->tensors[0];
    size_t cut = (size_t)(data_offset + t0->offset + t0->nbytes);
    g = NULL;
    CHECK(qw_gguf_parse(b, cut, n, &g, NULL) == QW_OK);
    if (g) {
        CHECK(g->tensors[0].data == b + data_offset + t0->offset);
        qw_gguf_free(g);
    }
    /* every prefix shorter than the header is TRUNCATED with need > size */
    bool ok = true;
    for (size_t s = 0; s < size; s += 1 + s / 64) {
        uint8_t *c = dup_bytes(b, s);
        uint64_t need = 0;
        g = NULL;
        qw_status st = qw_gguf_parse(c, s, n, &g, &need);
        free(c);
        if (st != QW_ERR_TRUNCATED || need <= s || need > size || g) {
            ok = false;
            fprintf(stderr, "prefix %zu: %s need %llu: %s\n", s, sname(st),
                    (unsigned long long)need, qw_last_error());
            qw_gguf_free(g);
            break;
        }
    }
    CHECK(ok);
    qw_gguf_free(whole);
    free(b);
}

/* ------------------------------------------------------------ truncation */

static void test_truncate_every_byte(void) {
    size_t n = 0;
    uint8_t *b = build(&DEFAULT_OPTS, &n);
    qw_gguf *g = NULL;
    CHECK(qw_gguf_parse(b, n, n, &g, NULL) == QW_OK);
    if (!g) {
        free(b);
        return;
    }
    uint64_t req = g->data_offset + g->data_size;
    printf("  small file: %zu bytes, header + padding %llu, data %llu\n", n,
           (unsigned long long)g->data_offset, (unsigned long long)g->data_size);
    qw_gguf_free(g);
    /* fields whose names must show up in some truncation message */
    static const char *const fields[] = {"magic", "version", "tensor count", "kv count",
                                         "need at least", "key", "value",
                                         "array count", "array data", "n_dims", "dimension",
                                         "type", "offset", "tensor 'q8.w': data [",
                                         "string 2 of the array", "array of strings"};
    enum { NF = sizeof fields / sizeof fields[0] };
    bool seen[NF] = {false};
    bool whole_ok = true, prefix_ok = true;
    size_t header_end = n;
    for (size_t cut = 0; cut <= n; cut++) {
        uint8_t *c = dup_bytes(b, cut);
        uint64_t need = 0;
        g = NULL;
        /* as a whole (truncated) file */
        qw_status st = qw_gguf_parse(c, cut, cut, &g, &need);
        const char *msg = qw_last_error();
        if (cut < req) {
            if (st != QW_ERR_TRUNCATED || g || need <= cut || strncmp(msg, "gguf: ", 6) != 0) {
                if (whole_ok)
                    fprintf(stderr, "whole file cut at %zu: %s need %llu: %s\n", cut, sname(st),
                            (unsigned long long)need, msg);
                whole_ok = false;
            }
            for (int f = 0; f < NF; f++)
                if (strstr(msg, fields[f])) seen[f] = true;
        } else if (st != QW_OK) {
            fprintf(stderr, "whole file cut at %zu (>= %llu) fails: %s\n", cut,
                    (unsigned long long)req, msg);
            whole_ok = false;
        }
        qw_gguf_free(g);
        /* as a prefix of the full file */
        g = NULL;
        free(c);
        c = dup_bytes(b, cut);
        st = qw_gguf_parse(c, cut, n, &g, &need);
        if (st == QW_OK) {
            if (header_end == n) header_end = cut;
            for (uint64_t i = 0; i < g->n_tensors; i++) {
                const qw_gguf_tensor *t = &g->tensors[i];
                bool in = g->data_offset + t->offset + t->nbytes <= cut;
                if ((t->data != NULL) != in) prefix_ok = false;
            }
        } else if (st != QW_ERR_TRUNCATED || need <= cut || need > n || header_end != n) {
            if (prefix_ok)
                fprintf(stderr, "prefix cut at %zu: %s need %llu: %s\n", cut, sname(st),
                        (unsigned long long)need, qw_last_error());
            prefix_ok = false;
        }
        qw_gguf_free(g);
        free(c);
    }
    CHECKF(whole_ok, "whole-file truncation");
    CHECKF(prefix_ok, "prefix truncation");
    CHECKF(header_end < n, "prefix never parsed");
    for (int f = 0; f < NF; f++)
        CHECKF(seen[f], "no truncation message mentions '%s'", fields[f]);
    free(b);
}

/* ------------------------------------------------------------ hostile list */

typedef void (*patch_fn)(uint8_t *b, size_t n);

/* One hostile case: build the valid file with `o`, check it parses, patch a
 * copy, check the expected failure. */
static void hostile(const char *what, const opts *o, patch_fn patch, qw_status want,
                    const char *sub) {
    size_t n = 0;
    uint8_t *b = build(o, &n);
    expect_ok(what, b, n);
    uint8_t *c = dup_bytes(b, n);
    patch(c, n);
    expect_fail(what, c, n, want, sub);
    free(c);
    free(b);
}

static void p_magic(uint8_t *b, size_t n) { b[0] = 'X'; }
static void p_version1(uint8_t *b, size_t n) { put_le(b + 4, 1, 4); }
static void p_version4(uint8_t *b, size_t n) { put_le(b + 4, 4, 4); }
static void p_version_be(uint8_t *b, size_t n) { put_le(b + 4, 0x03000000u, 4); }
static void p_tcount_overflow(uint8_t *b, size_t n) { put_le(b + 8, UINT64_C(1) << 60, 8); }
static void p_kvcount_overflow(uint8_t *b, size_t n) { put_le(b + 16, UINT64_MAX / 4, 8); }
static void p_tcount_big(uint8_t *b, size_t n) { put_le(b + 8, 1000, 8); }
static void p_kvcount_big(uint8_t *b, size_t n) { put_le(b + 16, 1000000, 8); }
static void p_kvcount_zero(uint8_t *b, size_t n) { put_le(b + 16, 0, 8); }
static void p_keylen_max(uint8_t *b, size_t n) { put_le(b + 24, UINT64_MAX, 8); }
static void p_strlen_max(uint8_t *b, size_t n) {
    put_le(b + kv_type_at(b, n, "t.str") + 4, UINT64_MAX, 8);
}
static void p_strlen_past(uint8_t *b, size_t n) {
    put_le(b + kv_type_at(b, n, "t.str") + 4, n, 8);
}
static void p_arrstr_len_past(uint8_t *b, size_t n) {
    /* "t.arr_str": type, elem type, count, then "a": patch its length */
    put_le(b + kv_type_at(b, n, "t.arr_str") + 16, n, 8);
}
static void p_vtype13(uint8_t *b, size_t n) { put_le(b + kv_type_at(b, n, "t.u32"), 13, 4); }
static void p_nested(uint8_t *b, size_t n) {
    put_le(b + kv_type_at(b, n, "t.arr_u32") + 4, QW_GGUF_ARRAY, 4);
}
static void p_arr_etype13(uint8_t *b, size_t n) {
    put_le(b + kv_type_at(b, n, "t.arr_u32") + 4, 13, 4);
}
static void p_arr_overflow(uint8_t *b, size_t n) {
    put_le(b + kv_type_at(b, n, "t.arr_u32") + 8, UINT64_C(1) << 62, 8);
}
static void p_arr_past(uint8_t *b, size_t n) {
    put_le(b + kv_type_at(b, n, "t.arr_u32") + 8, UINT64_C(1) << 40, 8);
}
static void p_arrstr_overflow(uint8_t *b, size_t n) {
    put_le(b + kv_type_at(b, n, "t.arr_str") + 8, UINT64_MAX / 2, 8);
}
static void p_arrstr_past(uint8_t *b, size_t n) {
    put_le(b + kv_type_at(b, n, "t.arr_str") + 8, UINT64_C(1) << 40, 8);
}
static void p_bool2(uint8_t *b, size_t n) { b[kv_type_at(b, n, "t.bool") + 4] = 2; }
static void p_boolarr2(uint8_t *b, size_t n) { b[kv_type_at(b, n, "t.arr_bool") + 16] = 7; }
static void p_fake_align(uint8_t *b, size_t n) {
    size_t k = find_gstr(b, n, "general.alignmenX");
    b[k + 8 + 16] = 't';
}
static void p_ndims0(uint8_t *b, size_t n) { put_le(b + tensor_field(b, n, "q.w", TF_NDIMS), 0, 4); }
static void p_ndims5(uint8_t *b, size_t n) { put_le(b + tensor_field(b, n, "q.w", TF_NDIMS), 5, 4); }
static void p_ndims_huge(uint8_t *b, size_t n) {
    put_le(b + tensor_field(b, n, "q.w", TF_NDIMS), UINT32_MAX, 4);
}
static void p_dim0(uint8_t *b, size_t n) { put_le(b + tensor_field(b, n, "tok.w", TF_NE1), 0, 8); }
static void p_dim_overflow(uint8_t *b, size_t n) {
    put_le(b + tensor_field(b, n, "tok.w", TF_NE0), UINT64_C(1) << 32, 8);
    put_le(b + tensor_field(b, n, "tok.w", TF_NE1), UINT64_C(1) << 32, 8);
}
static void p_dim_neg(uint8_t *b, size_t n) {
    put_le(b + tensor_field(b, n, "tok.w", TF_NE1), UINT64_MAX, 8);
}
static void p_type99(uint8_t *b, size_t n) { put_le(b + tensor_field(b, n, "q.w", TF_TYPE), 99, 4); }
static void p_type16(uint8_t *b, size_t n) { put_le(b + tensor_field(b, n, "q.w", TF_TYPE), 16, 4); }
static void p_row48(uint8_t *b, size_t n) { put_le(b + tensor_field(b, n, "q.w", TF_NE0), 48, 8); }
static void p_nbytes_overflow(uint8_t *b, size_t n) {
    /* F32 [2^61, 2]: 2^62 elements fit int64 but 2^64 bytes do not fit u64 */
    put_le(b + tensor_field(b, n, "tok.w", TF_NE0), UINT64_C(1) << 61, 8);
}
static void p_misaligned(uint8_t *b, size_t n) {
    size_t p = tensor_field(b, n, "q8.w", TF_OFFSET);
    put_le(b + p, get_le(b + p, 8) + 4, 8);
}
static void p_outside(uint8_t *b, size_t n) {
    put_le(b + tensor_field(b, n, "q8.w", TF_OFFSET), ((uint64_t)n + 64) & ~UINT64_C(31), 8);
}
static void p_outside_far(uint8_t *b, size_t n) {
    put_le(b + tensor_field(b, n, "q8.w", TF_OFFSET), UINT64_C(1) << 40, 8);
}
static void p_offset_overflow(uint8_t *b, size_t n) {
    put_le(b + tensor_field(b, n, "q8.w", TF_OFFSET), UINT64_MAX & ~UINT64_C(31), 8);
}
static void p_overlap(uint8_t *b, size_t n) {
    /* q.w (54 bytes at 64) and q8.w: move q8.w onto q.w's last block */
    put_le(b + tensor_field(b, n, "q8.w", TF_OFFSET),
           get_le(b + tensor_field(b, n, "q.w", TF_OFFSET), 8) + 32, 8);
}
static void p_dup_key(uint8_t *b, size_t n) { b[find_gstr(b, n, "dup.a2") + 8 + 5] = '1'; }
static void p_dup_tensor(uint8_t *b, size_t n) { b[find_gstr(b, n, "t.x2") + 8 + 3] = '1'; }

static void test_hostile(void) {
    opts o = DEFAULT_OPTS;
    hostile("bad magic", &o, p_magic, QW_ERR_BAD_MODEL, "bad magic 'XGUF'");
    hostile("version 1", &o, p_version1, QW_ERR_UNSUPPORTED, "version 1 is not supported");
    hostile("version 4", &o, p_version4, QW_ERR_UNSUPPORTED, "unsupported version 4");
    hostile("version 3 byte-swapped", &o, p_version_be, QW_ERR_UNSUPPORTED, "big-endian");
    hostile("tensor count overflows", &o, p_tcount_overflow, QW_ERR_BAD_MODEL,
            "tensor count 1152921504606846976 is too large");
    hostile("kv count overflows", &o, p_kvcount_overflow, QW_ERR_BAD_MODEL,
            "kv count 4611686018427387903 is too large");
    hostile("tensor count past end of file", &o, p_tcount_big, QW_ERR_TRUNCATED,
            "1000 tensor infos need at least");
    hostile("kv count past end of file", &o, p_kvcount_big, QW_ERR_TRUNCATED,
            "1000000 kvs and 5 tensor infos need at least");
    hostile("kv count too small (keys read as tensors)", &o, p_kvcount_zero, QW_ERR_BAD_MODEL,
            "tensor 'general.architecture': n_dims");
    hostile("key length UINT64_MAX", &o, p_keylen_max, QW_ERR_BAD_MODEL,
            "kv 0: key length 18446744073709551615 at offset 24 is too large");
    hostile("string length UINT64_MAX", &o, p_strlen_max, QW_ERR_BAD_MODEL,
            "key 't.str': string value length 18446744073709551615");
    hostile("string length past end of file", &o, p_strlen_past, QW_ERR_TRUNCATED,
            "key 't.str': string value at offset");
    hostile("array string length past end of file", &o, p_arrstr_len_past, QW_ERR_TRUNCATED,
            "key 't.arr_str': string 0 of the array at offset");
    hostile("unknown value type", &o, p_vtype13, QW_ERR_BAD_MODEL,
            "key 't.u32': unknown value type 13");
    hostile("nested array", &o, p_nested, QW_ERR_BAD_MODEL,
            "key 't.arr_u32': nested arrays are not supported");
    hostile("unknown array element type", &o, p_arr_etype13, QW_ERR_BAD_MODEL,
            "key 't.arr_u32': unknown array element type 13");
    hostile("array count x element size overflows", &o, p_arr_overflow, QW_ERR_BAD_MODEL,
            "x 4-byte u32 elements overflows");
    hostile("array past end of file", &o, p_arr_past, QW_ERR_TRUNCATED,
            "key 't.arr_u32': array data at offset");
    hostile("string array count overflows", &o, p_arrstr_overflow, QW_ERR_BAD_MODEL,
            "strings overflow the file offset");
    hostile("string array past end of file", &o, p_arrstr_past, QW_ERR_TRUNCATED,
            "key 't.arr_str': array of strings at offset");
    hostile("bool value 2", &o, p_bool2, QW_ERR_BAD_MODEL, "key 't.bool': bool value 2");
    hostile("bool array value 7", &o, p_boolarr2, QW_ERR_BAD_MODEL,
            "key 't.arr_bool': bool value 7");

    o.fake_align_type = QW_GGUF_U32;
    o.fake_align_v = 0;
    hostile("alignment 0", &o, p_fake_align, QW_ERR_BAD_MODEL,
            "key 'general.alignment': alignment is 0");
    o.fake_align_v = 48;
    hostile("alignment not a power of two", &o, p_fake_align, QW_ERR_BAD_MODEL,
            "key 'general.alignment': alignment 48 is not a power of two");
    o.fake_align_v = 64; /* valid, but the tensors were laid out for 32 */
    hostile("alignment 64, offsets for 32", &o, p_fake_align, QW_ERR_BAD_MODEL,
            "tensor 't.x1': offset 224 is not a multiple of alignment 64");
    o.fake_align_type = QW_GGUF_U64;
    o.fake_align_v = 32;
    hostile("alignment of type u64", &o, p_fake_align, QW_ERR_BAD_MODEL,
            "key 'general.alignment': type is u64, must be u32");
    o.fake_align_type = QW_GGUF_U16;
    hostile("alignment of type u16", &o, p_fake_align, QW_ERR_BAD_MODEL,
            "key 'general.alignment': type is u16, must be u32");
    o.fake_align_type = QW_GGUF_STRING;
    hostile("alignment of type string", &o, p_fake_align, QW_ERR_BAD_MODEL,
            "key 'general.alignment': type is string, must be u32");
    o = DEFAULT_OPTS;
    o.fake_align_type = QW_GGUF_U32;
    o.fake_align_v = 32;
    {
        /* the same patch with a valid value parses */
        size_t n = 0;
        uint8_t *b = build(&o, &n);
        p_fake_align(b, n);
        expect_ok("general.alignment 32 patched in", b, n);
        free(b);
    }
    o = DEFAULT_OPTS;

    hostile("n_dims 0", &o, p_ndims0, QW_ERR_BAD_MODEL, "tensor 'q.w': n_dims 0 at offset");
    hostile("n_dims 5", &o, p_ndims5, QW_ERR_BAD_MODEL, "tensor 'q.w': n_dims 5 at offset");
    hostile("n_dims UINT32_MAX", &o, p_ndims_huge, QW_ERR_BAD_MODEL, "n_dims 4294967295");
    hostile("zero dimension", &o, p_dim0, QW_ERR_BAD_MODEL, "tensor 'tok.w': dimension 1 is 0");
    hostile("dimension product overflows", &o, p_dim_overflow, QW_ERR_BAD_MODEL,
            "tensor 'tok.w': element count overflows at dimension 1");
    hostile("dimension > INT64_MAX", &o, p_dim_neg, QW_ERR_BAD_MODEL,
            "tensor 'tok.w': element count overflows at dimension 1 (18446744073709551615");
    hostile("tensor byte size overflows", &o, p_nbytes_overflow, QW_ERR_BAD_MODEL,
            "tensor 'tok.w': byte size of 4611686018427387904 F32 elements overflows");
    hostile("unknown tensor type 99", &o, p_type99, QW_ERR_UNSUPPORTED,
            "tensor 'q.w': unknown type id 99");
    hostile("unsupported tensor type 16", &o, p_type16, QW_ERR_UNSUPPORTED,
            "tensor 'q.w': type 16 (IQ2_XXS) is not supported");
    hostile("Q4_0 row length 48", &o, p_row48, QW_ERR_BAD_MODEL,
            "tensor 'q.w': row length 48 is not a multiple of the Q4_0 block size 32");
    hostile("misaligned offset", &o, p_misaligned, QW_ERR_BAD_MODEL,
            "gguf: tensor 'q8.w': offset 132 is not a multiple of alignment 32");
    hostile("offset just outside the file", &o, p_outside, QW_ERR_TRUNCATED,
            "tensor 'q8.w': data [");
    hostile("offset far outside the file", &o, p_outside_far, QW_ERR_TRUNCATED,
            "runs past the end of the file");
    hostile("offset + size overflows", &o, p_offset_overflow, QW_ERR_BAD_MODEL,
            "tensor 'q8.w': offset 18446744073709551584 + size 68 overflows");
    hostile("overlapping tensors", &o, p_overlap, QW_ERR_BAD_MODEL,
            "tensor 'q8.w' data [96, 164) overlaps tensor 'q.w' data [64, 118)");
    hostile("duplicate key", &o, p_dup_key, QW_ERR_BAD_MODEL,
            "key 'dup.a1': duplicate key (kv 18 and kv 19)");
    hostile("duplicate tensor name", &o, p_dup_tensor, QW_ERR_BAD_MODEL,
            "tensor 't.x1': duplicate tensor name (tensor 3 and tensor 4)");
    printf("  %d hostile cases\n", n_cases);
}

/* ------------------------------------------------------------ round trip */

static void test_round_trip(void) {
    for (int v = 2; v <= 3; v++) {
        for (int al = 0; al <= 1; al++) {
            opts o = DEFAULT_OPTS;
            o.version = (uint32_t)v;
            o.alignment = al ? 64 : 0;
            size_t n = 0;
            uint8_t *b = build(&o, &n);
            qw_gguf *g = NULL;
            qw_status st = qw_gguf_parse(b, n, n, &g, NULL);
            CHECKF(st == QW_OK, "round trip v%d align %d: %s", v, al, qw_last_error());
            if (!g) {
                free(b);
                continue;
            }
            CHECK(g->version == (uint32_t)v);
            CHECK(g->alignment == (al ? 64u : 32u));
            CHECK(g->data_offset % g->alignment == 0);
            const qw_gguf_kv *kv;
            CHECK((kv = qw_gguf_find(g, "t.u8")) && kv->type == QW_GGUF_U8 && kv->v.u64 == 200);
            CHECK((kv = qw_gguf_find(g, "t.i8")) && kv->type == QW_GGUF_I8 && kv->v.i64 == -5);
            CHECK((kv = qw_gguf_find(g, "t.u16")) && kv->v.u64 == 65535);
            CHECK((kv = qw_gguf_find(g, "t.i16")) && kv->v.i64 == -30000);
            CHECK((kv = qw_gguf_find(g, "t.u32")) && kv->v.u64 == 123456);
            CHECK((kv = qw_gguf_find(g, "t.i32")) && kv->v.i64 == -7);
            CHECK((kv = qw_gguf_find(g, "t.u64")) && kv->v.u64 == (UINT64_C(1) << 40));
            CHECK((kv = qw_gguf_find(g, "t.i64")) && kv->v.i64 == INT64_MIN);
            CHECK((kv = qw_gguf_find(g, "t.f32")) && kv->type == QW_GGUF_F32 && kv->v.f64 == 1.5);
            CHECK((kv = qw_gguf_find(g, "t.f64")) && kv->v.f64 == 1e300);
            CHECK((kv = qw_gguf_find(g, "t.bool")) && kv->v.b);
            qw_str s = {0};
            CHECK(qw_gguf_get_str(g, "t.str", true, &s) == QW_OK && qw_str_eq(s, "hello"));
            const qw_gguf_kv *a = NULL;
            CHECK(qw_gguf_get_arr(g, "t.arr_u32", QW_GGUF_U32, true, &a) == QW_OK && a->arr_n == 3 &&
                  qw_gguf_arr_i64(a, 2) == 3 && qw_gguf_arr_f64(a, 0) == 1.0);
            CHECK(qw_gguf_get_arr(g, "t.arr_u32", QW_GGUF_I32, true, &a) == QW_ERR_BAD_MODEL &&
                  strstr(qw_last_error(), "key 't.arr_u32' is an array of u32, expected i32"));
            CHECK(qw_gguf_get_arr(g, "t.arr_f32", QW_GGUF_F32, true, &a) == QW_OK &&
                  qw_gguf_arr_f64(a, 1) == -2.0 && qw_gguf_arr_i64(a, 0) == 0);
            CHECK(qw_gguf_get_arr(g, "t.arr_i16", QW_GGUF_I16, true, &a) == QW_OK &&
                  qw_gguf_arr_i64(a, 0) == -1 && qw_gguf_arr_f64(a, 1) == 300.0);
            CHECK(qw_gguf_get_arr(g, "t.arr_bool", QW_GGUF_BOOL, true, &a) == QW_OK &&
                  qw_gguf_arr_i64(a, 0) == 1 && qw_gguf_arr_i64(a, 1) == 0);
            CHECK(qw_gguf_get_arr(g, "t.arr_str", QW_GGUF_STRING, true, &a) == QW_OK &&
                  a->arr_n == 3 && qw_str_eq(a->arr_str[0], "a") &&
                  qw_str_eq(a->arr_str[1], "bc") && qw_str_eq(a->arr_str[2], ""));
            const qw_gguf_tensor *t = qw_gguf_find_tensor(g, "tok.w");
            CHECK(t && t->type == QW_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 8 && t->ne[1] == 2 &&
                  t->ne[3] == 1 && t->nbytes == 64 && t->data &&
                  memcmp(t->data, g_f32_data, 64) == 0);
            t = qw_gguf_find_tensor(g, "q.w");
            CHECK(t && t->type == QW_TYPE_Q4_0 && t->nbytes == 54 &&
                  memcmp(t->data, g_q4_data, 54) == 0 && t->offset % g->alignment == 0);
            t = qw_gguf_find_tensor(g, "t.x2");
            CHECK(t && t->data && ((const uint8_t *)t->data)[0] == 0);
            CHECK(qw_gguf_find_tensor(g, "nope") == NULL && qw_gguf_find(g, "nope") == NULL);
            qw_gguf_free(g);

            /* to_file writes the same bytes */
            FILE *f = tmpfile();
            CHECK(f != NULL);
            if (f) {
                qw_gguf_writer *w = NULL;
                CHECK(qw_gguf_writer_create(&w) == QW_OK);
                CHECK(qw_gguf_set_str(w, "a", "b") == QW_OK);
                const int64_t ne[1] = {32};
                CHECK(qw_gguf_add_tensor(w, "x", QW_TYPE_Q8_0, 1, ne, NULL, 34) == QW_OK);
                uint8_t *mb = NULL;
                size_t mn = 0;
                uint64_t sz = 0;
                CHECK(qw_gguf_writer_to_buffer(w, &mb, &mn) == QW_OK);
                CHECK(qw_gguf_writer_size(w, &sz) == QW_OK && sz == mn);
                CHECK(qw_gguf_writer_to_file(w, f) == QW_OK);
                CHECK(ftell(f) == (long)mn);
                rewind(f);
                uint8_t *fb = malloc(mn + 1);
                CHECK(fb && fread(fb, 1, mn + 1, f) == mn && memcmp(fb, mb, mn) == 0);
                free(fb);
                free(mb);
                qw_gguf_writer_free(w);
                fclose(f);
            }
            free(b);
        }
    }
    /* a file without tensors (like the vocab files) */
    opts o = DEFAULT_OPTS;
    o.no_tensors = true;
    size_t n = 0;
    uint8_t *b = build(&o, &n);
    qw_gguf *g = NULL;
    CHECK(qw_gguf_parse(b, n, n, &g, NULL) == QW_OK && g && g->n_tensors == 0 &&
          g->data_size == 0);
    qw_gguf_free(g);
    free(b);
    /* an empty writer */
    qw_gguf_writer *w = NULL;
    uint8_t *eb = NULL;
    size_t en = 0;
    CHECK(qw_gguf_writer_create(&w) == QW_OK && qw_gguf_writer_to_buffer(w, &eb, &en) == QW_OK);
    g = NULL;
    CHECK(en == 32 && qw_gguf_parse(eb, en, en, &g, NULL) == QW_OK && g->n_kv == 0);
    qw_gguf_free(g);
    free(eb);
    /* replacing a key keeps one copy */
    CHECK(qw_gguf_set_u32(w, "k", 1) == QW_OK && qw_gguf_set_str(w, "k", "v") == QW_OK);
    CHECK(qw_gguf_writer_to_buffer(w, &eb, &en) == QW_OK);
    g = NULL;
    qw_str s = {0};
    CHECK(qw_gguf_parse(eb, en, en, &g, NULL) == QW_OK && g->n_kv == 1 &&
          qw_gguf_get_str(g, "k", true, &s) == QW_OK && qw_str_eq(s, "v"));
    qw_gguf_free(g);
    free(eb);
    qw_gguf_writer_free(w);
}

/* Streaming writer: tensors without data filled by a callback, in pieces,
 * give the same bytes as the buffer writer with the data in memory; short and
 * long fills and failing fills are errors. */
typedef struct {
    const uint8_t *src[3]; /* per tensor index; NULL = not filled */
    uint64_t len[3];
    int mode;              /* 0 exact, 1 one byte short, 2 one byte long, 3 fail */
    int calls;
} fill_state;

static qw_status fill_cb(void *user, size_t index, qw_gguf_stream *out) {
    fill_state *fs = user;
    fs->calls++;
    if (fs->mode == 3) return qw_fail(QW_ERR_IO, "fill failed on purpose");
    if (index >= 3 || !fs->src[index]) return qw_fail(QW_ERR_INVALID_ARG, "unexpected index");
    uint64_t n = fs->len[index] - (fs->mode == 1 ? 1 : 0);
    for (uint64_t o = 0; o < n;) { /* pieces of 5 bytes */
        size_t k = n - o < 5 ? (size_t)(n - o) : 5;
        qw_status st = qw_gguf_stream_write(out, fs->src[index] + o, k);
        if (st != QW_OK) return st;
        o += k;
    }
    if (fs->mode == 2) return qw_gguf_stream_write(out, "x", 1);
    return QW_OK;
}

static uint8_t *stream_file(fill_state *fs, qw_status *st, size_t *n) {
    static uint8_t f32[4 * 12], q8[2 * 34], q4[3 * 18];
    for (size_t i = 0; i < sizeof f32; i++) f32[i] = (uint8_t)(i * 5 + 1);
    for (size_t i = 0; i < sizeof q8; i++) q8[i] = (uint8_t)(i * 11 + 3);
    for (size_t i = 0; i < sizeof q4; i++) q4[i] = (uint8_t)(i * 13 + 7);
    const int64_t ne_a[2] = {4, 3}, ne_b[2] = {32, 2}, ne_c[2] = {32, 3};
    qw_gguf_writer *w = NULL, *ref = NULL;
    CHECK(qw_gguf_writer_create(&w) == QW_OK && qw_gguf_writer_create(&ref) == QW_OK);
    qw_gguf_writer *ws[2] = {w, ref};
    for (int k = 0; k < 2; k++) {
        CHECK(qw_gguf_set_str(ws[k], "general.architecture", "llama") == QW_OK);
        CHECK(qw_gguf_writer_set_alignment(ws[k], 64) == QW_OK);
        /* the streamed writer leaves a and c to the fill; b is in memory */
        CHECK(qw_gguf_add_tensor(ws[k], "a", QW_TYPE_F32, 2, ne_a, k ? f32 : NULL, 48) == QW_OK);
        CHECK(qw_gguf_add_tensor(ws[k], "b", QW_TYPE_Q8_0, 2, ne_b, q8, 68) == QW_OK);
        CHECK(qw_gguf_add_tensor(ws[k], "c", QW_TYPE_Q4_0, 2, ne_c, k ? q4 : NULL, 54) == QW_OK);
    }
    fs->src[0] = f32, fs->len[0] = 48;
    fs->src[1] = NULL;
    fs->src[2] = q4, fs->len[2] = 54;
    uint8_t *want = NULL, *got = NULL;
    size_t want_n = 0;
    CHECK(qw_gguf_writer_to_buffer(ref, &want, &want_n) == QW_OK);
    FILE *f = tmpfile();
    CHECK(f != NULL);
    *st = f ? qw_gguf_writer_to_file_fill(w, f, fill_cb, fs) : QW_ERR_IO;
    if (f && *st == QW_OK) {
        long len = ftell(f);
        rewind(f);
        got = malloc(len > 0 ? (size_t)len : 1);
        *n = got ? fread(got, 1, (size_t)len, f) : 0;
        CHECK(len >= 0 && *n == (size_t)len);
        CHECK(*n == want_n && memcmp(got, want, want_n) == 0);
        qw_gguf *g = NULL;
        CHECK(qw_gguf_parse(got, *n, *n, &g, NULL) == QW_OK && g->n_tensors == 3);
        qw_gguf_free(g);
    }
    if (f) fclose(f);
    free(want);
    qw_gguf_writer_free(w);
    qw_gguf_writer_free(ref);
    return got;
}

static void test_stream_fill(void) {
    fill_state fs = {0};
    qw_status st;
    size_t n = 0;
    uint8_t *b = stream_file(&fs, &st, &n);
    CHECKF(st == QW_OK && b && fs.calls == 2, "%s, %d calls: %s", qw_status_name(st), fs.calls,
           qw_last_error());
    free(b);
    for (int mode = 1; mode <= 3; mode++) {
        memset(&fs, 0, sizeof fs);
        fs.mode = mode;
        b = stream_file(&fs, &st, &n);
        const char *want = mode == 1 ? "fill gave 47 of its 48 bytes"
                         : mode == 2 ? "1 bytes of tensor data given where 0 remain"
                                     : "fill failed on purpose";
        CHECKF(st == (mode == 3 ? QW_ERR_IO : QW_ERR_INVALID_ARG) && !b &&
                   strstr(qw_last_error(), want) && fs.calls == 1,
               "mode %d: %s: %s", mode, qw_status_name(st), qw_last_error());
        free(b);
    }
}

static void test_writer_errors(void) {
    qw_gguf_writer *w = NULL;
    CHECK(qw_gguf_writer_create(&w) == QW_OK);
    const int64_t ne48[1] = {48}, ne32[1] = {32}, ne0[2] = {32, 0};
    CHECK(qw_gguf_add_tensor(w, "a", QW_TYPE_Q4_0, 1, ne48, NULL, 27) == QW_ERR_INVALID_ARG &&
          strstr(qw_last_error(), "row length 48 is not a multiple of the Q4_0 block size 32"));
    CHECK(qw_gguf_add_tensor(w, "a", QW_TYPE_Q4_0, 1, ne32, NULL, 19) == QW_ERR_INVALID_ARG &&
          strstr(qw_last_error(), "nbytes 19"));
    CHECK(qw_gguf_add_tensor(w, "a", QW_TYPE_Q4_0, 2, ne0, NULL, 18) == QW_ERR_INVALID_ARG);
    CHECK(qw_gguf_add_tensor(w, "a", QW_TYPE_Q4_0, 0, ne32, NULL, 18) == QW_ERR_INVALID_ARG);
    CHECK(qw_gguf_add_tensor(w, "a", 16, 1, ne32, NULL, 18) == QW_ERR_UNSUPPORTED);
    CHECK(qw_gguf_add_tensor(w, "a", QW_TYPE_Q4_0, 1, ne32, NULL, 18) == QW_OK);
    CHECK(qw_gguf_add_tensor(w, "a", QW_TYPE_Q4_0, 1, ne32, NULL, 18) == QW_ERR_INVALID_ARG &&
          strstr(qw_last_error(), "duplicate tensor name 'a'"));
    CHECK(qw_gguf_writer_set_alignment(w, 48) == QW_ERR_INVALID_ARG);
    CHECK(qw_gguf_writer_set_alignment(w, 0) == QW_ERR_INVALID_ARG);
    CHECK(qw_gguf_writer_set_version(w, 1) == QW_ERR_INVALID_ARG);
    CHECK(qw_gguf_set_arr(w, "x", QW_GGUF_STRING, "", 0) == QW_ERR_INVALID_ARG);
    CHECK(qw_gguf_set_u32(w, "", 1) == QW_ERR_INVALID_ARG);
    CHECK(qw_gguf_set_str(w, "k", NULL) == QW_ERR_INVALID_ARG);
    qw_gguf_writer_free(w);
}

/* ------------------------------------------------------------ getters */

static void test_getters(void) {
    qw_gguf_writer *w = NULL;
    CHECK(qw_gguf_writer_create(&w) == QW_OK);
    qw_gguf_set_i32(w, "neg", -1);
    qw_gguf_set_u64(w, "big", UINT64_C(1) << 40);
    qw_gguf_set_u8(w, "small", 7);
    qw_gguf_set_i64(w, "i64ok", 99);
    qw_gguf_set_f64(w, "huge", 1e300);
    qw_gguf_set_f64(w, "f64", 0.25);
    qw_gguf_set_str(w, "s", "x");
    qw_gguf_set_bool(w, "b", true);
    uint8_t *b = NULL;
    size_t n = 0;
    CHECK(qw_gguf_writer_to_buffer(w, &b, &n) == QW_OK);
    qw_gguf_writer_free(w);
    qw_gguf *g = NULL;
    CHECK(qw_gguf_parse(b, n, n, &g, NULL) == QW_OK);
    if (!g) {
        free(b);
        return;
    }
    uint32_t u = 5;
    float f = 0;
    bool bo = false;
    qw_str s = {0};
    const qw_gguf_kv *a = NULL;
    CHECK(qw_gguf_get_u32(g, "small", true, &u) == QW_OK && u == 7);
    CHECK(qw_gguf_get_u32(g, "i64ok", true, &u) == QW_OK && u == 99);
    CHECK(qw_gguf_get_u32(g, "neg", true, &u) == QW_ERR_BAD_MODEL &&
          strstr(qw_last_error(), "key 'neg': value -1 does not fit in u32"));
    CHECK(qw_gguf_get_u32(g, "big", true, &u) == QW_ERR_BAD_MODEL &&
          strstr(qw_last_error(), "key 'big'"));
    CHECK(qw_gguf_get_u32(g, "s", true, &u) == QW_ERR_BAD_MODEL &&
          strstr(qw_last_error(), "key 's' has type string"));
    u = 42;
    CHECK(qw_gguf_get_u32(g, "absent", false, &u) == QW_OK && u == 42);
    CHECK(qw_gguf_get_u32(g, "absent", true, &u) == QW_ERR_BAD_MODEL &&
          strstr(qw_last_error(), "required key 'absent' is missing"));
    CHECK(qw_gguf_get_f32(g, "f64", true, &f) == QW_OK && f == 0.25f);
    CHECK(qw_gguf_get_f32(g, "huge", true, &f) == QW_ERR_BAD_MODEL);
    CHECK(qw_gguf_get_f32(g, "small", true, &f) == QW_ERR_BAD_MODEL);
    CHECK(qw_gguf_get_bool(g, "b", true, &bo) == QW_OK && bo);
    CHECK(qw_gguf_get_bool(g, "small", true, &bo) == QW_ERR_BAD_MODEL);
    CHECK(qw_gguf_get_str(g, "s", true, &s) == QW_OK && qw_str_eq(s, "x") && !qw_str_eq(s, "xy"));
    CHECK(qw_gguf_get_str(g, "b", true, &s) == QW_ERR_BAD_MODEL);
    CHECK(qw_gguf_get_arr(g, "s", QW_GGUF_U32, true, &a) == QW_ERR_BAD_MODEL &&
          strstr(qw_last_error(), "expected an array of u32"));
    CHECK(qw_gguf_get_arr(g, "absent", QW_GGUF_U32, false, &a) == QW_OK);
    qw_gguf_free(g);
    /* bad arguments */
    CHECK(qw_gguf_parse(b, n, n, NULL, NULL) == QW_ERR_INVALID_ARG);
    CHECK(qw_gguf_parse(b, n, n - 1, &g, NULL) == QW_ERR_INVALID_ARG && g == NULL);
    CHECK(qw_gguf_parse(NULL, 0, 0, &g, NULL) == QW_ERR_TRUNCATED);
    free(b);
}

/* ------------------------------------------------------------ split paths */

static void test_split_path(void) {
    char out[256];
    int ns = 0;
    CHECK(qw_gguf_split_path("/m/model-00001-of-00003.gguf", 2, out, sizeof out, &ns) &&
          strcmp(out, "/m/model-00002-of-00003.gguf") == 0 && ns == 3);
    CHECK(qw_gguf_split_path("a-b-00003-of-00003.gguf", 1, out, sizeof out, &ns) &&
          strcmp(out, "a-b-00001-of-00003.gguf") == 0);
    CHECK(!qw_gguf_split_path("/m/model-00001-of-00003.gguf", 4, out, sizeof out, &ns));
    CHECK(!qw_gguf_split_path("/m/model-00001-of-00003.gguf", 0, out, sizeof out, &ns));
    CHECK(!qw_gguf_split_path("/m/model-00001-of-00003.gguf", 1, out, 10, &ns));
    CHECK(!qw_gguf_split_path("/m/model.gguf", 1, out, sizeof out, &ns));
    CHECK(!qw_gguf_split_path("/m/model-1-of-3.gguf", 1, out, sizeof out, &ns));
    CHECK(!qw_gguf_split_path("/m/model-00004-of-00003.gguf", 1, out, sizeof out, &ns));
    CHECK(!qw_gguf_split_path("/m/model-00000-of-00003.gguf", 1, out, sizeof out, &ns));
    CHECK(!qw_gguf_split_path("/m/model-00001-of-00003.bin", 1, out, sizeof out, &ns));
    CHECK(!qw_gguf_split_path("00001-of-00003.gguf", 1, out, sizeof out, &ns));
    CHECK(!qw_gguf_split_path("", 1, out, sizeof out, &ns));
    CHECK(!qw_gguf_split_path(NULL, 1, out, sizeof out, &ns));
}

int main(void) {
    qw_require_shared();
    test_shared_files();
    test_prefix_real();
    test_truncate_every_byte();
    test_hostile();
    test_round_trip();
    test_writer_errors();
    test_stream_fill();
    test_getters();
    test_split_path();
    return qw_test_end();
}

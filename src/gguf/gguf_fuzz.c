/* libFuzzer entry for the GGUF reader (and writer).
 *
 * For every input: parse it as a whole file and as prefixes (half, and the
 * *need-driven streaming sequence); walk every kv and tensor through the
 * lookup and getter API; and when it parses, write it again with the writer
 * and check the copy parses to the same metadata. Invariant violations trap.
 * Built by scripts/fuzz.sh (QW_FUZZ=ON) and replayed over the seed corpus by
 * ctest fuzz_gguf_corpus (tests/fuzz/replay_main.c). Not part of qwcore. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/types.h"
#include "gguf.h"
#include "gguf_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)              \
    do {                            \
        if (!(c)) __builtin_trap(); \
    } while (0)

static volatile uint64_t g_sink;

static bool c_string(qw_str s, char *buf, size_t cap) {
    if (s.len == 0 || s.len >= cap || memchr(s.ptr, 0, (size_t)s.len)) return false;
    memcpy(buf, s.ptr, (size_t)s.len);
    buf[s.len] = '\0';
    return true;
}

static void walk(const qw_gguf *g, const uint8_t *data, size_t size) {
    uint64_t acc = 0;
    char name[256];
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const qw_gguf_kv *kv = &g->kv[i];
        FUZZ_ASSERT((const uint8_t *)kv->key.ptr >= data &&
                    (const uint8_t *)kv->key.ptr + kv->key.len <= data + size);
        if (c_string(kv->key, name, sizeof name)) {
            FUZZ_ASSERT(qw_gguf_find(g, name) == kv); /* keys are unique */
            uint32_t u;
            float f;
            bool b;
            qw_str s;
            const qw_gguf_kv *a;
            (void)qw_gguf_get_u32(g, name, true, &u);
            (void)qw_gguf_get_f32(g, name, true, &f);
            (void)qw_gguf_get_bool(g, name, true, &b);
            (void)qw_gguf_get_str(g, name, true, &s);
            (void)qw_gguf_get_arr(g, name, kv->arr_type, true, &a);
        }
        if (kv->type == QW_GGUF_STRING) acc += kv->v.str.len ? (uint8_t)kv->v.str.ptr[0] : 0;
        if (kv->type != QW_GGUF_ARRAY) continue;
        FUZZ_ASSERT(kv->arr_type != QW_GGUF_ARRAY);
        if (kv->arr_type == QW_GGUF_STRING) {
            FUZZ_ASSERT(kv->arr_str != NULL || kv->arr_n == 0);
            for (uint64_t j = 0; j < kv->arr_n; j++) {
                qw_str s = kv->arr_str[j];
                FUZZ_ASSERT((const uint8_t *)s.ptr >= data &&
                            (const uint8_t *)s.ptr + s.len <= data + size);
                if (s.len) acc += (uint8_t)s.ptr[s.len - 1];
            }
        } else {
            for (uint64_t j = 0; j < kv->arr_n; j++)
                acc += (uint64_t)qw_gguf_arr_i64(kv, j) + (uint64_t)(qw_gguf_arr_f64(kv, j) != 0);
        }
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const qw_gguf_tensor *t = &g->tensors[i];
        FUZZ_ASSERT(t->n_dims >= 1 && t->n_dims <= QW_GGUF_MAX_DIMS);
        FUZZ_ASSERT(qw_type_get(t->type) != NULL);
        FUZZ_ASSERT(t->offset % g->alignment == 0);
        FUZZ_ASSERT(g->data_offset + t->offset + t->nbytes <= g->file_size);
        FUZZ_ASSERT(t->offset + t->nbytes <= g->data_size);
        if (t->data) {
            const uint8_t *p = t->data;
            FUZZ_ASSERT(p >= data && p + t->nbytes <= data + size);
            acc += p[0] + p[t->nbytes - 1];
        }
        if (c_string(t->name, name, sizeof name)) FUZZ_ASSERT(qw_gguf_find_tensor(g, name) == t);
    }
    g_sink += acc;
}

/* Writes g again and checks the copy reads back the same. Skips files whose
 * names the writer cannot take (empty, NUL bytes, very long). */
static void rewrite(const qw_gguf *g) {
    qw_gguf_writer *w = NULL;
    if (qw_gguf_writer_create(&w) != QW_OK) return;
    char name[256];
    bool ok = qw_gguf_writer_set_version(w, g->version) == QW_OK;
    for (uint64_t i = 0; ok && i < g->n_kv; i++) {
        const qw_gguf_kv *kv = &g->kv[i];
        if (!c_string(kv->key, name, sizeof name)) {
            ok = false;
            break;
        }
        qw_status st = QW_OK;
        switch (kv->type) {
        case QW_GGUF_U8: st = qw_gguf_set_u8(w, name, (uint8_t)kv->v.u64); break;
        case QW_GGUF_I8: st = qw_gguf_set_i8(w, name, (int8_t)kv->v.i64); break;
        case QW_GGUF_U16: st = qw_gguf_set_u16(w, name, (uint16_t)kv->v.u64); break;
        case QW_GGUF_I16: st = qw_gguf_set_i16(w, name, (int16_t)kv->v.i64); break;
        case QW_GGUF_U32: st = qw_gguf_set_u32(w, name, (uint32_t)kv->v.u64); break;
        case QW_GGUF_I32: st = qw_gguf_set_i32(w, name, (int32_t)kv->v.i64); break;
        case QW_GGUF_U64: st = qw_gguf_set_u64(w, name, kv->v.u64); break;
        case QW_GGUF_I64: st = qw_gguf_set_i64(w, name, kv->v.i64); break;
        case QW_GGUF_F32: st = qw_gguf_set_f32(w, name, (float)kv->v.f64); break;
        case QW_GGUF_F64: st = qw_gguf_set_f64(w, name, kv->v.f64); break;
        case QW_GGUF_BOOL: st = qw_gguf_set_bool(w, name, kv->v.b); break;
        case QW_GGUF_STRING: st = qw_gguf_set_strn(w, name, kv->v.str.ptr, kv->v.str.len); break;
        case QW_GGUF_ARRAY:
            if (kv->arr_type == QW_GGUF_STRING) {
                const char **p = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *p);
                uint64_t *l = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *l);
                if (p && l) {
                    for (uint64_t j = 0; j < kv->arr_n; j++) {
                        p[j] = kv->arr_str[j].ptr;
                        l[j] = kv->arr_str[j].len;
                    }
                    st = qw_gguf_set_arr_str(w, name, p, l, kv->arr_n);
                } else {
                    ok = false;
                }
                free(p);
                free(l);
            } else {
                /* the writer reads host-order elements: little-endian hosts only */
                const uint16_t probe = 1;
                if (*(const uint8_t *)&probe != 1) {
                    ok = false;
                    break;
                }
                st = qw_gguf_set_arr(w, name, kv->arr_type, kv->arr_data, kv->arr_n);
            }
            break;
        }
        if (st != QW_OK) ok = false;
    }
    for (uint64_t i = 0; ok && i < g->n_tensors; i++) {
        const qw_gguf_tensor *t = &g->tensors[i];
        if (!c_string(t->name, name, sizeof name) || !t->data) {
            ok = false;
            break;
        }
        /* the rewritten data section is at most a few KB bigger; skip huge ones */
        if (t->nbytes > (1u << 20)) {
            ok = false;
            break;
        }
        if (qw_gguf_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, t->nbytes) != QW_OK)
            ok = false;
    }
    uint8_t *buf = NULL;
    size_t n = 0;
    if (ok) FUZZ_ASSERT(qw_gguf_writer_to_buffer(w, &buf, &n) == QW_OK);
    qw_gguf_writer_free(w);
    if (!ok) return;
    qw_gguf *h = NULL;
    FUZZ_ASSERT(qw_gguf_parse(buf, n, n, &h, NULL) == QW_OK);
    FUZZ_ASSERT(h->n_kv == g->n_kv && h->n_tensors == g->n_tensors);
    FUZZ_ASSERT(h->alignment == g->alignment && h->version == g->version);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const qw_gguf_kv *a = &g->kv[i], *b = &h->kv[i];
        FUZZ_ASSERT(a->key.len == b->key.len && memcmp(a->key.ptr, b->key.ptr, a->key.len) == 0);
        FUZZ_ASSERT(a->type == b->type);
        if (a->type == QW_GGUF_ARRAY)
            FUZZ_ASSERT(a->arr_type == b->arr_type && a->arr_n == b->arr_n);
        if (a->type == QW_GGUF_STRING)
            FUZZ_ASSERT(a->v.str.len == b->v.str.len &&
                        (a->v.str.len == 0 ||
                         memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len) == 0));
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const qw_gguf_tensor *a = &g->tensors[i], *b = &h->tensors[i];
        FUZZ_ASSERT(a->type == b->type && a->n_dims == b->n_dims && a->nbytes == b->nbytes);
        FUZZ_ASSERT(memcmp(a->ne, b->ne, sizeof a->ne) == 0);
        FUZZ_ASSERT(memcmp(a->data, b->data, a->nbytes) == 0);
    }
    qw_gguf_free(h);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qw_gguf *g = NULL;
    uint64_t need = 0;
    qw_status whole = qw_gguf_parse(data, size, size, &g, &need), st = whole;
    FUZZ_ASSERT((st == QW_OK) == (g != NULL));
    if (st == QW_ERR_TRUNCATED) FUZZ_ASSERT(need > size);
    if (g) {
        FUZZ_ASSERT(g->file_size == size && g->data_offset % g->alignment == 0);
        walk(g, data, size);
        rewrite(g);
    }

    /* half of it as a prefix of the whole */
    qw_gguf *p = NULL;
    st = qw_gguf_parse(data, size / 2, size, &p, &need);
    FUZZ_ASSERT((st == QW_OK) == (p != NULL));
    if (st == QW_ERR_TRUNCATED) FUZZ_ASSERT(need > size / 2);
    if (p) {
        /* a prefix that parses means the whole parses the same way */
        FUZZ_ASSERT(g && p->n_kv == g->n_kv && p->n_tensors == g->n_tensors &&
                    p->data_offset == g->data_offset && p->data_size == g->data_size);
        walk(p, data, size);
        qw_gguf_free(p);
    }

    /* streaming: grow the prefix to *need until it parses or fails otherwise */
    size_t have = 0;
    for (int steps = 0; steps < 64; steps++) {
        p = NULL;
        st = qw_gguf_parse(data, have, size, &p, &need);
        if (st != QW_ERR_TRUNCATED) {
            /* once the header is in, the prefix agrees with the whole */
            FUZZ_ASSERT(st == whole);
            if (st == QW_OK) FUZZ_ASSERT(g && p->n_tensors == g->n_tensors);
            qw_gguf_free(p);
            break;
        }
        FUZZ_ASSERT(need > have);
        if (need > size) break; /* the whole is truncated too */
        have = (size_t)need;
    }
    qw_gguf_free(g);

    /* the split-file name parser, on the input as a path */
    if (size < 512) {
        char path[512], out[600];
        memcpy(path, data, size);
        path[size] = '\0';
        int n_split = -1;
        if (qw_gguf_split_path(path, 1, out, sizeof out, &n_split)) {
            FUZZ_ASSERT(n_split >= 1 && strlen(out) < sizeof out);
            char back[600];
            int n2 = -1;
            FUZZ_ASSERT(qw_gguf_split_path(out, 1, back, sizeof back, &n2) && n2 == n_split &&
                        strcmp(back, out) == 0);
        }
        (void)qw_gguf_split_path(path, 2, out, 16, &n_split);
    }
    return 0;
}

/* In-memory GGUF writer. Each key-value pair is kept already serialized
 * (key string, value type, value), so writing a file is concatenation:
 * header, kv blobs, tensor infos, padding, tensor data (each padded). */
#include "../core/checked.h"
#include "gguf_write.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../quant/types.h"

typedef struct wkv {
    char *key; /* NUL-terminated copy */
    uint8_t *blob;
    size_t blob_len;
} wkv;

typedef struct wtensor {
    char *name;
    size_t name_len;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[QW_GGUF_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} wtensor;

struct qw_gguf_writer {
    uint32_t version;
    uint32_t alignment;
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

/* ------------------------------------------------------------ helpers */


static bool align_up(uint64_t x, uint64_t a, uint64_t *r) {
    uint64_t rem = x % a;
    return add_u64(x, rem ? a - rem : 0, r);
}

static void put_le(uint8_t *p, uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}


/* Grows *arr (of *cap elements of `esz` bytes) to hold at least n+1. */
static bool grow(void **arr, size_t *cap, size_t n, size_t esz) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap : 8;
    while (nc <= n) {
        if (nc > SIZE_MAX / 2) return false;
        nc *= 2;
    }
    if (nc > SIZE_MAX / esz) return false;
    void *p = realloc(*arr, nc * esz);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

/* A blob being built: key + type + value. */
typedef struct blob {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} blob;

static void b_put(blob *b, const void *src, size_t n) {
    if (b->oom) return;
    if (n > SIZE_MAX - b->len) {
        b->oom = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->len + n) {
            if (nc > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            nc *= 2;
        }
        uint8_t *q = realloc(b->p, nc);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void b_uint(blob *b, uint64_t v, unsigned n) {
    uint8_t tmp[8];
    put_le(tmp, v, n);
    b_put(b, tmp, n);
}

static void b_str(blob *b, const char *s, uint64_t len) {
    b_uint(b, len, 8);
    if (len > SIZE_MAX) {
        b->oom = true;
        return;
    }
    b_put(b, s, (size_t)len);
}

/* Starts a blob for key with value type t. */
static qw_status begin(qw_gguf_writer *w, const char *key, qw_gguf_vtype t, blob *b) {
    memset(b, 0, sizeof *b);
    if (!w || !key) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL writer or key");
    if (!key[0]) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: empty key");
    b_str(b, key, strlen(key));
    b_uint(b, (uint64_t)t, 4);
    return QW_OK;
}

/* Stores a finished blob, replacing an existing key. */
static qw_status commit(qw_gguf_writer *w, const char *key, blob *b) {
    if (b->oom) {
        free(b->p);
        return qw_fail(QW_ERR_OOM, "gguf writer: out of memory for key '%s'", key);
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].blob);
            w->kv[i].blob = b->p;
            w->kv[i].blob_len = b->len;
            return QW_OK;
        }
    }
    size_t kl = strlen(key);
    char *k = malloc(kl + 1);
    if (!k || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(k);
        free(b->p);
        return qw_fail(QW_ERR_OOM, "gguf writer: out of memory for key '%s'", key);
    }
    memcpy(k, key, kl + 1);
    w->kv[w->n_kv++] = (wkv){k, b->p, b->len};
    return QW_OK;
}

static qw_status set_scalar(qw_gguf_writer *w, const char *key, qw_gguf_vtype t, uint64_t bits) {
    blob b;
    qw_status st = begin(w, key, t, &b);
    if (st) return st;
    b_uint(&b, bits, qw_gguf_vtype_size(t));
    return commit(w, key, &b);
}

/* ---------------------------------------------------------------- API */

qw_status qw_gguf_writer_create(qw_gguf_writer **out) {
    if (!out) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return qw_fail(QW_ERR_OOM, "gguf writer: out of memory");
    (*out)->version = 3;
    (*out)->alignment = QW_GGUF_DEFAULT_ALIGNMENT;
    return QW_OK;
}

void qw_gguf_writer_free(qw_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].blob);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

qw_status qw_gguf_writer_set_version(qw_gguf_writer *w, uint32_t version) {
    if (!w) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL writer");
    if (version != 2 && version != 3)
        return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: version %u (only 2 or 3)",
                       (unsigned)version);
    w->version = version;
    return QW_OK;
}

qw_status qw_gguf_writer_set_alignment(qw_gguf_writer *w, uint32_t alignment) {
    return qw_gguf_set_u32(w, "general.alignment", alignment);
}

qw_status qw_gguf_set_u8(qw_gguf_writer *w, const char *key, uint8_t v) {
    return set_scalar(w, key, QW_GGUF_U8, v);
}
qw_status qw_gguf_set_i8(qw_gguf_writer *w, const char *key, int8_t v) {
    return set_scalar(w, key, QW_GGUF_I8, (uint8_t)v);
}
qw_status qw_gguf_set_u16(qw_gguf_writer *w, const char *key, uint16_t v) {
    return set_scalar(w, key, QW_GGUF_U16, v);
}
qw_status qw_gguf_set_i16(qw_gguf_writer *w, const char *key, int16_t v) {
    return set_scalar(w, key, QW_GGUF_I16, (uint16_t)v);
}
qw_status qw_gguf_set_u32(qw_gguf_writer *w, const char *key, uint32_t v) {
    bool is_align = key && strcmp(key, "general.alignment") == 0;
    if (is_align && (v == 0 || (v & (v - 1)) != 0))
        return qw_fail(QW_ERR_INVALID_ARG,
                       "gguf writer: general.alignment %u is not a power of two", (unsigned)v);
    qw_status st = set_scalar(w, key, QW_GGUF_U32, v);
    if (st == QW_OK && is_align) w->alignment = v;
    return st;
}
qw_status qw_gguf_set_i32(qw_gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, QW_GGUF_I32, (uint32_t)v);
}
qw_status qw_gguf_set_u64(qw_gguf_writer *w, const char *key, uint64_t v) {
    return set_scalar(w, key, QW_GGUF_U64, v);
}
qw_status qw_gguf_set_i64(qw_gguf_writer *w, const char *key, int64_t v) {
    return set_scalar(w, key, QW_GGUF_I64, (uint64_t)v);
}
qw_status qw_gguf_set_f32(qw_gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return set_scalar(w, key, QW_GGUF_F32, u);
}
qw_status qw_gguf_set_f64(qw_gguf_writer *w, const char *key, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    return set_scalar(w, key, QW_GGUF_F64, u);
}
qw_status qw_gguf_set_bool(qw_gguf_writer *w, const char *key, bool v) {
    return set_scalar(w, key, QW_GGUF_BOOL, v ? 1 : 0);
}

qw_status qw_gguf_set_strn(qw_gguf_writer *w, const char *key, const char *s, uint64_t len) {
    if (!s && len) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL string for key '%s'",
                                  key ? key : "");
    blob b;
    qw_status st = begin(w, key, QW_GGUF_STRING, &b);
    if (st) return st;
    b_str(&b, s, len);
    return commit(w, key, &b);
}

qw_status qw_gguf_set_str(qw_gguf_writer *w, const char *key, const char *s) {
    if (!s) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL string for key '%s'",
                           key ? key : "");
    return qw_gguf_set_strn(w, key, s, strlen(s));
}

qw_status qw_gguf_set_arr(qw_gguf_writer *w, const char *key, qw_gguf_vtype elem,
                          const void *data, uint64_t n) {
    unsigned es = qw_gguf_vtype_size(elem);
    if (es == 0)
        return qw_fail(QW_ERR_INVALID_ARG,
                       "gguf writer: key '%s': element type %d is not numeric or bool (strings: "
                       "qw_gguf_set_arr_str)",
                       key ? key : "", (int)elem);
    if (!data && n) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL array data");
    uint64_t nbytes;
    if (!mul_u64(n, es, &nbytes) || nbytes > SIZE_MAX)
        return qw_fail(QW_ERR_OOM, "gguf writer: key '%s': array of %llu elements is too large",
                       key ? key : "", (unsigned long long)n);
    blob b;
    qw_status st = begin(w, key, QW_GGUF_ARRAY, &b);
    if (st) return st;
    b_uint(&b, (uint64_t)elem, 4);
    b_uint(&b, n, 8);
    const uint8_t *src = data;
    for (uint64_t i = 0; i < n && !b.oom; i++) {
        uint64_t v = 0;
        switch (es) {
        case 1: v = src[i]; break;
        case 2: { uint16_t x; memcpy(&x, src + 2 * i, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, src + 4 * i, 4); v = x; break; }
        default: memcpy(&v, src + 8 * i, 8); break;
        }
        if (elem == QW_GGUF_BOOL) v = v != 0;
        b_uint(&b, v, es);
    }
    return commit(w, key, &b);
}

qw_status qw_gguf_set_arr_str(qw_gguf_writer *w, const char *key, const char *const *strs,
                              const uint64_t *lens, uint64_t n) {
    if (!strs && n) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL string array");
    blob b;
    qw_status st = begin(w, key, QW_GGUF_ARRAY, &b);
    if (st) return st;
    b_uint(&b, (uint64_t)QW_GGUF_STRING, 4);
    b_uint(&b, n, 8);
    for (uint64_t i = 0; i < n && !b.oom; i++) {
        uint64_t len = lens ? lens[i] : (strs[i] ? strlen(strs[i]) : 0);
        if (!strs[i] && len) {
            free(b.p);
            return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: key '%s': string %llu is NULL", key,
                           (unsigned long long)i);
        }
        b_str(&b, strs[i], len);
    }
    return commit(w, key, &b);
}

qw_status qw_gguf_add_tensor(qw_gguf_writer *w, const char *name, uint32_t type,
                             uint32_t n_dims, const int64_t *ne, const void *data,
                             uint64_t nbytes) {
    if (!w || !name || !ne)
        return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL writer, name or ne");
    if (n_dims < 1 || n_dims > QW_GGUF_MAX_DIMS)
        return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: tensor '%s': n_dims %u is not in 1..%d",
                       name, (unsigned)n_dims, QW_GGUF_MAX_DIMS);
    const qw_type_traits *tr = qw_type_get(type);
    if (!tr)
        return qw_fail(QW_ERR_UNSUPPORTED, "gguf writer: tensor '%s': unsupported type %s", name,
                       qw_type_name(type));
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 1)
            return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: tensor '%s': dimension %u is %lld",
                           name, (unsigned)d, (long long)ne[d]);
        if (!mul_u64(nelem, (uint64_t)ne[d], &nelem) || nelem > (uint64_t)INT64_MAX)
            return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: tensor '%s': element count overflows",
                           name);
    }
    uint64_t ne0 = (uint64_t)ne[0], blck = (uint64_t)tr->blck_size, row, want;
    if (ne0 % blck != 0)
        return qw_fail(QW_ERR_INVALID_ARG,
                       "gguf writer: tensor '%s': row length %llu is not a multiple of the %s "
                       "block size %llu",
                       name, (unsigned long long)ne0, tr->name, (unsigned long long)blck);
    if (!mul_u64(ne0 / blck, tr->type_size, &row) || !mul_u64(row, nelem / ne0, &want))
        return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: tensor '%s': byte size overflows", name);
    if (nbytes != want)
        return qw_fail(QW_ERR_INVALID_ARG,
                       "gguf writer: tensor '%s': nbytes %llu, but %llu %s elements take %llu",
                       name, (unsigned long long)nbytes, (unsigned long long)nelem, tr->name,
                       (unsigned long long)want);
    size_t nl = strlen(name);
    for (size_t i = 0; i < w->n_t; i++)
        if (w->t[i].name_len == nl && memcmp(w->t[i].name, name, nl) == 0)
            return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
    char *nm = malloc(nl + 1);
    if (!nm || !grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t)) {
        free(nm);
        return qw_fail(QW_ERR_OOM, "gguf writer: out of memory for tensor '%s'", name);
    }
    memcpy(nm, name, nl + 1);
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->name_len = nl;
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < QW_GGUF_MAX_DIMS; d++) t->ne[d] = d < (int)n_dims ? (uint64_t)ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    return QW_OK;
}

/* ------------------------------------------------------------- layout */

/* header end (unaligned), data section offset, total size */
static qw_status layout(const qw_gguf_writer *w, uint64_t *hdr, uint64_t *data_off,
                        uint64_t *total) {
    uint64_t pos = 24;
    bool ok = true;
    for (size_t i = 0; i < w->n_kv; i++) ok = ok && add_u64(pos, w->kv[i].blob_len, &pos);
    for (size_t i = 0; i < w->n_t; i++) {
        /* name + n_dims + dims + type + offset */
        ok = ok && add_u64(pos, 8 + (uint64_t)w->t[i].name_len + 4 + 8u * w->t[i].n_dims + 4 + 8,
                           &pos);
    }
    uint64_t doff = 0, end = 0;
    ok = ok && align_up(pos, w->alignment, &doff);
    for (size_t i = 0; i < w->n_t && ok; i++) {
        ok = align_up(end, w->alignment, &end) && add_u64(end, w->t[i].nbytes, &end);
    }
    uint64_t tot = 0;
    if (w->n_t) {
        ok = ok && align_up(end, w->alignment, &end) && add_u64(doff, end, &tot);
    } else {
        tot = doff; /* keep the padding so data_offset <= file size */
    }
    if (!ok) return qw_fail(QW_ERR_OOM, "gguf writer: file size overflows");
    *hdr = pos;
    *data_off = doff;
    *total = tot;
    return QW_OK;
}

qw_status qw_gguf_writer_size(const qw_gguf_writer *w, uint64_t *size) {
    if (!w || !size) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL argument");
    uint64_t h, d;
    return layout(w, &h, &d, size);
}

typedef struct sink {
    uint8_t *buf; /* or NULL with f */
    uint64_t pos;
    FILE *f;
    bool err;
} sink;

static void s_put(sink *s, const void *p, uint64_t n) {
    if (s->err || n == 0) return;
    if (s->buf) {
        memcpy(s->buf + s->pos, p, (size_t)n);
        s->pos += (size_t)n;
    } else {
        if (fwrite(p, 1, (size_t)n, s->f) != (size_t)n) s->err = true;
        s->pos += (size_t)n;
    }
}

static void s_uint(sink *s, uint64_t v, unsigned n) {
    uint8_t tmp[8];
    put_le(tmp, v, n);
    s_put(s, tmp, n);
}

static void s_zeros(sink *s, uint64_t n) {
    static const uint8_t z[256];
    while (n > 0 && !s->err) {
        uint64_t k = n < sizeof z ? n : sizeof z;
        s_put(s, z, k);
        n -= k;
    }
}

struct qw_gguf_stream {
    sink *s;
    uint64_t left; /* bytes the current tensor still needs */
};

qw_status qw_gguf_stream_write(qw_gguf_stream *out, const void *data, size_t n) {
    if (!out || (!data && n)) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL stream or data");
    if ((uint64_t)n > out->left)
        return qw_fail(QW_ERR_INVALID_ARG,
                       "gguf writer: %llu bytes of tensor data given where %llu remain",
                       (unsigned long long)n, (unsigned long long)out->left);
    s_put(out->s, data, n);
    out->left -= n;
    if (out->s->err)
        return qw_fail(QW_ERR_IO, "gguf writer: write failed after %llu bytes",
                       (unsigned long long)out->s->pos);
    return QW_OK;
}

/* The caller has checked that total fits (buffer) or it streams (file).
 * Tensors without data come from fill when given (zeros otherwise). */
static qw_status emit(const qw_gguf_writer *w, sink *s, uint64_t data_off, qw_gguf_fill_fn fill,
                      void *user) {
    s_put(s, "GGUF", 4);
    s_uint(s, w->version, 4);
    s_uint(s, w->n_t, 8);
    s_uint(s, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) s_put(s, w->kv[i].blob, w->kv[i].blob_len);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        s_uint(s, t->name_len, 8);
        s_put(s, t->name, t->name_len);
        s_uint(s, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) s_uint(s, t->ne[d], 8);
        s_uint(s, t->type, 4);
        align_up(off, w->alignment, &off); /* checked by layout() */
        s_uint(s, off, 8);
        off += t->nbytes;
    }
    s_zeros(s, data_off - s->pos);
    off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t a = 0;
        align_up(off, w->alignment, &a);
        s_zeros(s, a - off);
        if (t->data) {
            s_put(s, t->data, t->nbytes);
        } else if (fill) {
            qw_gguf_stream out = {s, t->nbytes};
            qw_status st = fill(user, i, &out);
            if (st != QW_OK) return st;
            if (out.left)
                return qw_fail(QW_ERR_INVALID_ARG,
                               "gguf writer: tensor '%s': fill gave %llu of its %llu bytes",
                               t->name, (unsigned long long)(t->nbytes - out.left),
                               (unsigned long long)t->nbytes);
        } else {
            s_zeros(s, t->nbytes);
        }
        off = a + t->nbytes;
    }
    if (w->n_t) {
        uint64_t a = 0;
        align_up(off, w->alignment, &a);
        s_zeros(s, a - off);
    }
    return QW_OK;
}

qw_status qw_gguf_writer_to_buffer(const qw_gguf_writer *w, uint8_t **out, size_t *size) {
    if (!w || !out || !size) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL argument");
    *out = NULL;
    *size = 0;
    uint64_t hdr, doff, total;
    qw_status st = layout(w, &hdr, &doff, &total);
    if (st) return st;
    if (total > SIZE_MAX)
        return qw_fail(QW_ERR_OOM, "gguf writer: %llu bytes do not fit in memory",
                       (unsigned long long)total);
    uint8_t *buf = malloc(total ? (size_t)total : 1);
    if (!buf)
        return qw_fail(QW_ERR_OOM, "gguf writer: out of memory for %llu bytes",
                       (unsigned long long)total);
    sink s = {buf, 0, NULL, false};
    emit(w, &s, doff, NULL, NULL); /* cannot fail without a fill */
    *out = buf;
    *size = (size_t)total;
    return QW_OK;
}

qw_status qw_gguf_writer_to_file_fill(const qw_gguf_writer *w, FILE *f, qw_gguf_fill_fn fill,
                                      void *user) {
    if (!w || !f) return qw_fail(QW_ERR_INVALID_ARG, "gguf writer: NULL argument");
    uint64_t hdr, doff, total;
    qw_status st = layout(w, &hdr, &doff, &total);
    if (st) return st;
    sink s = {NULL, 0, f, false};
    st = emit(w, &s, doff, fill, user);
    if (st == QW_OK && s.err)
        st = qw_fail(QW_ERR_IO, "gguf writer: write failed after %llu bytes",
                     (unsigned long long)s.pos);
    return st;
}

qw_status qw_gguf_writer_to_file(const qw_gguf_writer *w, FILE *f) {
    return qw_gguf_writer_to_file_fill(w, f, NULL, NULL);
}

/* GGUF reader: a pure parser over (bytes, size, file_size).
 *
 * Layout (little-endian, versions 2 and 3):
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x     { string key, u32 value type, value }
 *   n_tensors x{ string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to `alignment`, then the data section.
 * A string is u64 length + bytes; an array is u32 element type + u64 count +
 * elements.
 *
 * Every read goes through one cursor (struct rd) that checks the bytes are
 * there; every size taken from the file goes through checked arithmetic before
 * it is used for an allocation, an offset or a comparison. */
#include "../core/checked.h"
#include "gguf.h"

#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../quant/types.h"

/* smallest possible encodings, used to bound counts before allocating */
#define MIN_KV_BYTES 13u     /* u64 key len + u32 type + 1-byte value */
#define MIN_TENSOR_BYTES 32u /* u64 name len + u32 n_dims + u64 ne0 + u32 type + u64 offset */
#define HEADER_BYTES 24u     /* magic + version + two u64 counts */

/* ------------------------------------------------------------ checked math */


static uint64_t rd_le(const uint8_t *p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* --------------------------------------------------------------- names */

static const char *vtype_name(uint32_t t) {
    static const char *const names[] = {"u8",  "i8",   "u16",    "i16",   "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

unsigned qw_gguf_vtype_size(uint32_t t) {
    switch (t) {
    case QW_GGUF_U8: case QW_GGUF_I8: case QW_GGUF_BOOL: return 1;
    case QW_GGUF_U16: case QW_GGUF_I16: return 2;
    case QW_GGUF_U32: case QW_GGUF_I32: case QW_GGUF_F32: return 4;
    case QW_GGUF_U64: case QW_GGUF_I64: case QW_GGUF_F64: return 8;
    default: return 0;
    }
}

/* ggml type ids that exist in the format but that qwasm does not implement
 * (names only, for messages). */
static const char *ggml_type_name(uint32_t t) {
    switch (t) {
    case 4: return "Q4_2 (removed)";
    case 5: return "Q4_3 (removed)";
    case 16: return "IQ2_XXS";
    case 17: return "IQ2_XS";
    case 18: return "IQ3_XXS";
    case 19: return "IQ1_S";
    case 21: return "IQ3_S";
    case 22: return "IQ2_S";
    case 24: return "I8";
    case 25: return "I16";
    case 26: return "I32";
    case 27: return "I64";
    case 28: return "F64";
    case 29: return "IQ1_M";
    case 31: return "Q4_0_4_4 (removed)";
    case 32: return "Q4_0_4_8 (removed)";
    case 33: return "Q4_0_8_8 (removed)";
    case 34: return "TQ1_0";
    case 35: return "TQ2_0";
    case 36: return "IQ4_NL_4_4 (removed)";
    case 37: return "IQ4_NL_4_8 (removed)";
    case 38: return "IQ4_NL_8_8 (removed)";
    case 39: return "MXFP4";
    default: return NULL;
    }
}

/* ----------------------------------------------------------------- reader */

typedef struct rd {
    const uint8_t *p;
    size_t size;        /* bytes available */
    uint64_t file_size; /* bytes in the whole file */
    uint64_t pos;       /* always <= size */
    uint64_t need;      /* on TRUNCATED: prefix length that is at least needed */
    char ctx[112];      /* "key 'x': " / "tensor 'y': " / "" */
} rd;

/* Copies a file string into a message-safe form: printable ASCII only,
 * at most 64 bytes shown. */
static void safe_name(char *dst, size_t cap, const char *src, uint64_t len) {
    size_t j = 0;
    uint64_t shown = len > 64 ? 64 : len;
    for (uint64_t i = 0; i < shown && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (len > shown && j + 4 < cap) {
        memcpy(dst + j, "...", 3);
        j += 3;
    }
    dst[j] = '\0';
}

static void set_ctx(rd *r, const char *what, qw_str name) {
    char nm[72];
    safe_name(nm, sizeof nm, name.ptr, name.len);
    snprintf(r->ctx, sizeof r->ctx, "%s '%s': ", what, nm);
}

static qw_status rfail(rd *r, qw_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static qw_status rfail(rd *r, qw_status code, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qw_fail(code, "gguf: %s%s", r->ctx, msg);
}

/* The bytes [pos, pos + n) are not all present. */
static qw_status r_short(rd *r, uint64_t n, const char *what) {
    uint64_t end;
    if (!add_u64(r->pos, n, &end)) end = UINT64_MAX;
    r->need = end;
    if (end <= r->file_size)
        return rfail(r, QW_ERR_TRUNCATED,
                     "%s at offset %llu needs %llu bytes, only the first %llu of %llu bytes are "
                     "loaded",
                     what, (unsigned long long)r->pos, (unsigned long long)n,
                     (unsigned long long)r->size, (unsigned long long)r->file_size);
    return rfail(r, QW_ERR_TRUNCATED,
                 "%s at offset %llu (%llu bytes) runs past the end of the file (%llu bytes)", what,
                 (unsigned long long)r->pos, (unsigned long long)n,
                 (unsigned long long)r->file_size);
}

/* Takes n bytes; *out points at them. */
static qw_status r_take(rd *r, uint64_t n, const char *what, const uint8_t **out) {
    if (n > r->size - r->pos) return r_short(r, n, what);
    *out = r->p + r->pos;
    r->pos += n;
    return QW_OK;
}

static qw_status r_uint(rd *r, unsigned n, const char *what, uint64_t *out) {
    const uint8_t *b = NULL;
    qw_status st = r_take(r, n, what, &b);
    if (st) return st;
    *out = rd_le(b, n);
    return QW_OK;
}

static qw_status r_u32(rd *r, const char *what, uint32_t *out) {
    uint64_t v;
    qw_status st = r_uint(r, 4, what, &v);
    if (st) return st;
    *out = (uint32_t)v;
    return QW_OK;
}

static qw_status r_str(rd *r, const char *what, qw_str *out) {
    uint64_t len, at = r->pos;
    qw_status st = r_uint(r, 8, what, &len);
    if (st) return st;
    uint64_t end;
    if (!add_u64(r->pos, len, &end))
        return rfail(r, QW_ERR_BAD_MODEL, "%s length %llu at offset %llu is too large (overflows)",
                     what, (unsigned long long)len, (unsigned long long)at);
    const uint8_t *b = NULL;
    st = r_take(r, len, what, &b);
    if (st) return st;
    out->ptr = (const char *)b;
    out->len = len;
    return QW_OK;
}

/* ------------------------------------------------------- duplicate check */

typedef struct name_ref {
    qw_str s;
    uint64_t idx;
} name_ref;

static int cmp_str(qw_str a, qw_str b) {
    uint64_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, (size_t)n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int cmp_name_ref(const void *pa, const void *pb) {
    const name_ref *a = pa, *b = pb;
    int c = cmp_str(a->s, b->s);
    if (c) return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Finds a duplicate among n names; returns true and the two indices. */
static qw_status find_dup(rd *r, const qw_str *(*get)(const qw_gguf *, uint64_t),
                          const qw_gguf *g, uint64_t n, bool *found, uint64_t *i0,
                          uint64_t *i1) {
    *found = false;
    if (n < 2) return QW_OK;
    name_ref *v = malloc((size_t)n * sizeof *v); /* n is bounded by size / 13 */
    if (!v) return rfail(r, QW_ERR_OOM, "out of memory checking %llu names", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        v[i].s = *get(g, i);
        v[i].idx = i;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_name_ref);
    for (uint64_t i = 1; i < n; i++) {
        if (cmp_str(v[i - 1].s, v[i].s) == 0) {
            *found = true;
            *i0 = v[i - 1].idx;
            *i1 = v[i].idx;
            break;
        }
    }
    free(v);
    return QW_OK;
}

static const qw_str *kv_key(const qw_gguf *g, uint64_t i) { return &g->kv[i].key; }
static const qw_str *tensor_name(const qw_gguf *g, uint64_t i) { return &g->tensors[i].name; }

/* ------------------------------------------------------------------ values */

static qw_status check_bools(rd *r, const uint8_t *b, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (b[i] > 1)
            return rfail(r, QW_ERR_BAD_MODEL, "bool value %u at offset %llu is not 0 or 1",
                         (unsigned)b[i], (unsigned long long)(r->pos - n + i));
    return QW_OK;
}

static qw_status read_value(rd *r, qw_gguf_kv *kv) {
    qw_status st;
    uint64_t at = r->pos;
    uint32_t t;
    if ((st = r_u32(r, "value type", &t))) return st;
    if (t > QW_GGUF_F64)
        return rfail(r, QW_ERR_BAD_MODEL, "unknown value type %u at offset %llu", (unsigned)t,
                     (unsigned long long)at);
    kv->type = (qw_gguf_vtype)t;
    if (t == QW_GGUF_STRING) return r_str(r, "string value", &kv->v.str);
    if (t != QW_GGUF_ARRAY) {
        uint64_t raw;
        unsigned n = qw_gguf_vtype_size(t);
        if ((st = r_uint(r, n, "value", &raw))) return st;
        switch (t) {
        case QW_GGUF_U8: case QW_GGUF_U16: case QW_GGUF_U32: case QW_GGUF_U64:
            kv->v.u64 = raw;
            break;
        case QW_GGUF_I8: kv->v.i64 = (int8_t)(uint8_t)raw; break;
        case QW_GGUF_I16: kv->v.i64 = (int16_t)(uint16_t)raw; break;
        case QW_GGUF_I32: kv->v.i64 = (int32_t)(uint32_t)raw; break;
        case QW_GGUF_I64: {
            int64_t s;
            memcpy(&s, &raw, 8);
            kv->v.i64 = s;
            break;
        }
        case QW_GGUF_F32: {
            uint32_t u = (uint32_t)raw;
            float f;
            memcpy(&f, &u, 4);
            kv->v.f64 = f;
            break;
        }
        case QW_GGUF_F64: {
            double d;
            memcpy(&d, &raw, 8);
            kv->v.f64 = d;
            break;
        }
        case QW_GGUF_BOOL:
            if (raw > 1)
                return rfail(r, QW_ERR_BAD_MODEL, "bool value %u at offset %llu is not 0 or 1",
                             (unsigned)raw, (unsigned long long)(r->pos - 1));
            kv->v.b = raw != 0;
            break;
        default: break;
        }
        return QW_OK;
    }

    /* array */
    uint32_t et;
    at = r->pos;
    if ((st = r_u32(r, "array element type", &et))) return st;
    if (et == QW_GGUF_ARRAY)
        return rfail(r, QW_ERR_BAD_MODEL, "nested arrays are not supported (offset %llu)",
                     (unsigned long long)at);
    if (et > QW_GGUF_F64)
        return rfail(r, QW_ERR_BAD_MODEL, "unknown array element type %u at offset %llu",
                     (unsigned)et, (unsigned long long)at);
    kv->arr_type = (qw_gguf_vtype)et;
    uint64_t n;
    at = r->pos;
    if ((st = r_uint(r, 8, "array count", &n))) return st;
    kv->arr_n = n;
    if (et == QW_GGUF_STRING) {
        /* each string needs at least its 8-byte length */
        uint64_t min_bytes, end;
        if (!mul_u64(n, 8, &min_bytes) || !add_u64(r->pos, min_bytes, &end))
            return rfail(r, QW_ERR_BAD_MODEL,
                         "array count %llu at offset %llu: %llu strings overflow the file offset",
                         (unsigned long long)n, (unsigned long long)at, (unsigned long long)n);
        if (min_bytes > r->size - r->pos) return r_short(r, min_bytes, "array of strings");
        if (n > SIZE_MAX / sizeof(qw_str))
            return rfail(r, QW_ERR_OOM, "array of %llu strings does not fit in memory",
                         (unsigned long long)n);
        kv->arr_str = calloc(n ? (size_t)n : 1, sizeof(qw_str));
        if (!kv->arr_str)
            return rfail(r, QW_ERR_OOM, "out of memory for an array of %llu strings",
                         (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            char what[48];
            snprintf(what, sizeof what, "string %llu of the array", (unsigned long long)i);
            if ((st = r_str(r, what, &kv->arr_str[i]))) return st;
        }
        return QW_OK;
    }
    uint64_t nbytes, end;
    if (!mul_u64(n, qw_gguf_vtype_size(et), &nbytes) || !add_u64(r->pos, nbytes, &end))
        return rfail(r, QW_ERR_BAD_MODEL,
                     "array count %llu at offset %llu: %llu x %u-byte %s elements overflows",
                     (unsigned long long)n, (unsigned long long)at, (unsigned long long)n,
                     qw_gguf_vtype_size(et), vtype_name(et));
    if ((st = r_take(r, nbytes, "array data", &kv->arr_data))) return st;
    if (et == QW_GGUF_BOOL) return check_bools(r, kv->arr_data, n);
    return QW_OK;
}

/* ----------------------------------------------------------------- tensors */

static qw_status read_tensor_info(rd *r, qw_gguf *g, uint64_t idx) {
    qw_gguf_tensor *t = &g->tensors[idx];
    qw_status st;
    snprintf(r->ctx, sizeof r->ctx, "tensor %llu: ", (unsigned long long)idx);
    if ((st = r_str(r, "name", &t->name))) return st;
    set_ctx(r, "tensor", t->name);

    uint64_t at = r->pos;
    if ((st = r_u32(r, "n_dims", &t->n_dims))) return st;
    if (t->n_dims < 1 || t->n_dims > QW_GGUF_MAX_DIMS)
        return rfail(r, QW_ERR_BAD_MODEL, "n_dims %u at offset %llu is not in 1..%d",
                     (unsigned)t->n_dims, (unsigned long long)at, QW_GGUF_MAX_DIMS);
    uint64_t nelem = 1;
    for (int d = 0; d < QW_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        at = r->pos;
        if ((st = r_uint(r, 8, "dimension", &ne))) return st;
        if (ne == 0)
            return rfail(r, QW_ERR_BAD_MODEL, "dimension %u is 0 (offset %llu)", (unsigned)d,
                         (unsigned long long)at);
        if (ne > (uint64_t)INT64_MAX || !mul_u64(nelem, ne, &nelem) ||
            nelem > (uint64_t)INT64_MAX)
            return rfail(r, QW_ERR_BAD_MODEL,
                         "element count overflows at dimension %u (%llu, offset %llu)",
                         (unsigned)d, (unsigned long long)ne, (unsigned long long)at);
        t->ne[d] = (int64_t)ne;
    }
    at = r->pos;
    if ((st = r_u32(r, "type", &t->type))) return st;
    const qw_type_traits *tr = qw_type_get(t->type);
    if (!tr) {
        const char *known = ggml_type_name(t->type);
        if (known)
            return rfail(r, QW_ERR_UNSUPPORTED, "type %u (%s) is not supported",
                         (unsigned)t->type, known);
        return rfail(r, QW_ERR_UNSUPPORTED, "unknown type id %u (offset %llu)",
                     (unsigned)t->type, (unsigned long long)at);
    }
    uint64_t ne0 = (uint64_t)t->ne[0];
    uint64_t blck = (uint64_t)tr->blck_size;
    if (blck == 0 || ne0 % blck != 0)
        return rfail(r, QW_ERR_BAD_MODEL,
                     "row length %llu is not a multiple of the %s block size %llu",
                     (unsigned long long)ne0, tr->name, (unsigned long long)blck);
    uint64_t row_bytes, nbytes;
    if (!mul_u64(ne0 / blck, (uint64_t)tr->type_size, &row_bytes) ||
        !mul_u64(row_bytes, nelem / ne0, &nbytes))
        return rfail(r, QW_ERR_BAD_MODEL, "byte size of %llu %s elements overflows",
                     (unsigned long long)nelem, tr->name);
    t->nbytes = nbytes;

    at = r->pos;
    if ((st = r_uint(r, 8, "offset", &t->offset))) return st;
    if (t->offset % g->alignment != 0)
        return rfail(r, QW_ERR_BAD_MODEL, "offset %llu is not a multiple of alignment %llu",
                     (unsigned long long)t->offset, (unsigned long long)g->alignment);
    uint64_t end;
    if (!add_u64(t->offset, t->nbytes, &end) || !add_u64(end, r->file_size, &end))
        return rfail(r, QW_ERR_BAD_MODEL, "offset %llu + size %llu overflows",
                     (unsigned long long)t->offset, (unsigned long long)t->nbytes);
    return QW_OK;
}

static int cmp_tensor_off(const void *pa, const void *pb) {
    const qw_gguf_tensor *a = *(const qw_gguf_tensor *const *)pa;
    const qw_gguf_tensor *b = *(const qw_gguf_tensor *const *)pb;
    if (a->offset != b->offset) return a->offset < b->offset ? -1 : 1;
    return a < b ? -1 : a > b;
}

static qw_status check_layout(rd *r, qw_gguf *g) {
    r->ctx[0] = '\0';
    uint64_t n = g->n_tensors;
    g->data_size = 0;
    for (uint64_t i = 0; i < n; i++) {
        qw_gguf_tensor *t = &g->tensors[i];
        uint64_t end = t->offset + t->nbytes; /* checked in read_tensor_info */
        uint64_t fend = UINT64_MAX; /* stays so if the sum overflows (it cannot:
                                       end + file_size was checked) */
        if (!add_u64(g->data_offset, end, &fend) || fend > g->file_size) {
            set_ctx(r, "tensor", t->name);
            r->need = fend;
            return rfail(r, QW_ERR_TRUNCATED,
                         "data [%llu, %llu) (data section at %llu) runs past the end of the file "
                         "(%llu bytes)",
                         (unsigned long long)t->offset, (unsigned long long)end,
                         (unsigned long long)g->data_offset, (unsigned long long)g->file_size);
        }
        if (end > g->data_size) g->data_size = end;
        t->data = fend <= r->size ? (const void *)(r->p + g->data_offset + t->offset) : NULL;
    }
    if (n < 2) return QW_OK;
    const qw_gguf_tensor **v = malloc((size_t)n * sizeof *v);
    if (!v) return rfail(r, QW_ERR_OOM, "out of memory checking %llu tensors", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) v[i] = &g->tensors[i];
    qsort(v, (size_t)n, sizeof *v, cmp_tensor_off);
    qw_status st = QW_OK;
    for (uint64_t i = 1; i < n; i++) {
        const qw_gguf_tensor *a = v[i - 1], *b = v[i];
        if (b->offset < a->offset + a->nbytes) {
            char na[72], nb[72];
            safe_name(na, sizeof na, a->name.ptr, a->name.len);
            safe_name(nb, sizeof nb, b->name.ptr, b->name.len);
            st = rfail(r, QW_ERR_BAD_MODEL,
                       "tensor '%s' data [%llu, %llu) overlaps tensor '%s' data [%llu, %llu)", nb,
                       (unsigned long long)b->offset,
                       (unsigned long long)(b->offset + b->nbytes), na,
                       (unsigned long long)a->offset,
                       (unsigned long long)(a->offset + a->nbytes));
            break;
        }
    }
    free(v);
    return st;
}

/* ------------------------------------------------------------------- parse */

static qw_status parse(rd *r, qw_gguf *g) {
    qw_status st;
    const uint8_t *magic = NULL;
    if ((st = r_take(r, 4, "magic", &magic))) return st;
    if (memcmp(magic, "GGUF", 4) != 0) {
        char m[5];
        for (int i = 0; i < 4; i++) m[i] = (magic[i] >= 0x20 && magic[i] < 0x7f) ? (char)magic[i] : '?';
        m[4] = '\0';
        return rfail(r, QW_ERR_BAD_MODEL,
                     "bad magic '%s' (%02x %02x %02x %02x), expected 'GGUF': not a GGUF file", m,
                     magic[0], magic[1], magic[2], magic[3]);
    }
    uint32_t ver;
    if ((st = r_u32(r, "version", &ver))) return st;
    g->version = ver;
    if (ver != 2 && ver != 3) {
        uint32_t sw = ((ver & 0xffu) << 24) | ((ver & 0xff00u) << 8) | ((ver >> 8) & 0xff00u) |
                      (ver >> 24);
        if ((ver & 0xffffu) == 0 && sw >= 1 && sw <= 3)
            return rfail(r, QW_ERR_UNSUPPORTED,
                         "version 0x%08x is version %u byte-swapped: a big-endian GGUF file "
                         "(only little-endian files are supported)",
                         (unsigned)ver, (unsigned)sw);
        if (ver == 1)
            return rfail(r, QW_ERR_UNSUPPORTED,
                         "version 1 is not supported (an early GGUF format; only versions 2 and "
                         "3 are read): convert the model again with a current llama.cpp");
        return rfail(r, QW_ERR_UNSUPPORTED, "unsupported version %u (only versions 2 and 3)",
                     (unsigned)ver);
    }
    if ((st = r_uint(r, 8, "tensor count", &g->n_tensors))) return st;
    if ((st = r_uint(r, 8, "kv count", &g->n_kv))) return st;

    /* bound the counts by the smallest possible encodings before allocating */
    uint64_t kv_min, t_min, min_header;
    if (!mul_u64(g->n_kv, MIN_KV_BYTES, &kv_min) ||
        !add_u64(HEADER_BYTES, kv_min, &min_header))
        return rfail(r, QW_ERR_BAD_MODEL,
                     "kv count %llu is too large: the header size overflows (each kv takes at "
                     "least %u bytes)",
                     (unsigned long long)g->n_kv, MIN_KV_BYTES);
    if (!mul_u64(g->n_tensors, MIN_TENSOR_BYTES, &t_min) ||
        !add_u64(min_header, t_min, &min_header))
        return rfail(r, QW_ERR_BAD_MODEL,
                     "tensor count %llu is too large: the header size overflows (each tensor "
                     "info takes at least %u bytes)",
                     (unsigned long long)g->n_tensors, MIN_TENSOR_BYTES);
    if (min_header > r->size) {
        r->need = min_header;
        if (min_header > r->file_size)
            return rfail(r, QW_ERR_TRUNCATED,
                         "%llu kvs and %llu tensor infos need at least %llu bytes, past the end "
                         "of the file (%llu bytes)",
                         (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors,
                         (unsigned long long)min_header, (unsigned long long)r->file_size);
        return rfail(r, QW_ERR_TRUNCATED,
                     "header incomplete: %llu kvs and %llu tensor infos need at least %llu bytes, "
                     "only the first %llu of %llu bytes are loaded",
                     (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors,
                     (unsigned long long)min_header, (unsigned long long)r->size,
                     (unsigned long long)r->file_size);
    }
    /* now n_kv, n_tensors <= size / 13: the allocations below are bounded by the input */
    if (g->n_kv > SIZE_MAX / sizeof(qw_gguf_kv) ||
        g->n_tensors > SIZE_MAX / sizeof(qw_gguf_tensor))
        return rfail(r, QW_ERR_OOM, "%llu kvs / %llu tensors do not fit in memory",
                     (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors);
    g->kv = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof(qw_gguf_kv));
    g->tensors = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof(qw_gguf_tensor));
    if (!g->kv || !g->tensors)
        return rfail(r, QW_ERR_OOM, "out of memory for %llu kvs and %llu tensors",
                     (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors);

    /* key-value pairs */
    for (uint64_t i = 0; i < g->n_kv; i++) {
        qw_gguf_kv *kv = &g->kv[i];
        snprintf(r->ctx, sizeof r->ctx, "kv %llu: ", (unsigned long long)i);
        if ((st = r_str(r, "key", &kv->key))) return st;
        set_ctx(r, "key", kv->key);
        if ((st = read_value(r, kv))) return st;
    }
    r->ctx[0] = '\0';
    bool dup;
    uint64_t i0, i1;
    if ((st = find_dup(r, kv_key, g, g->n_kv, &dup, &i0, &i1))) return st;
    if (dup) {
        set_ctx(r, "key", g->kv[i0].key);
        return rfail(r, QW_ERR_BAD_MODEL, "duplicate key (kv %llu and kv %llu)",
                     (unsigned long long)i0, (unsigned long long)i1);
    }

    g->alignment = QW_GGUF_DEFAULT_ALIGNMENT;
    const qw_gguf_kv *al = qw_gguf_find(g, "general.alignment");
    if (al) {
        snprintf(r->ctx, sizeof r->ctx, "key 'general.alignment': ");
        if (al->type != QW_GGUF_U32)
            return rfail(r, QW_ERR_BAD_MODEL, "type is %s, must be u32", vtype_name(al->type));
        if (al->v.u64 == 0) return rfail(r, QW_ERR_BAD_MODEL, "alignment is 0");
        if ((al->v.u64 & (al->v.u64 - 1)) != 0)
            return rfail(r, QW_ERR_BAD_MODEL, "alignment %llu is not a power of two",
                         (unsigned long long)al->v.u64);
        g->alignment = al->v.u64;
        r->ctx[0] = '\0';
    }

    /* tensor infos */
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if ((st = read_tensor_info(r, g, i))) return st;
    r->ctx[0] = '\0';
    if ((st = find_dup(r, tensor_name, g, g->n_tensors, &dup, &i0, &i1))) return st;
    if (dup) {
        set_ctx(r, "tensor", g->tensors[i0].name);
        return rfail(r, QW_ERR_BAD_MODEL, "duplicate tensor name (tensor %llu and tensor %llu)",
                     (unsigned long long)i0, (unsigned long long)i1);
    }

    /* data section: header end rounded up to the alignment (pos <= size, no overflow) */
    uint64_t rem = r->pos % g->alignment;
    g->data_offset = rem ? r->pos + (g->alignment - rem) : r->pos;
    return check_layout(r, g);
}

qw_status qw_gguf_parse(const uint8_t *bytes, size_t size, uint64_t file_size, qw_gguf **out,
                        uint64_t *need) {
    if (need) *need = 0;
    if (!out) return qw_fail(QW_ERR_INVALID_ARG, "gguf: out is NULL");
    *out = NULL;
    if (!bytes && size) return qw_fail(QW_ERR_INVALID_ARG, "gguf: bytes is NULL");
    if ((uint64_t)size > file_size)
        return qw_fail(QW_ERR_INVALID_ARG, "gguf: size %llu is larger than file_size %llu",
                       (unsigned long long)size, (unsigned long long)file_size);
    qw_gguf *g = calloc(1, sizeof *g);
    if (!g) return qw_fail(QW_ERR_OOM, "gguf: out of memory");
    g->file_size = file_size;
    rd r = {.p = bytes, .size = size, .file_size = file_size, .pos = 0, .need = 0, .ctx = ""};
    qw_status st = parse(&r, g);
    if (st != QW_OK) {
        if (need && st == QW_ERR_TRUNCATED) *need = r.need;
        qw_gguf_free(g);
        return st;
    }
    *out = g;
    return QW_OK;
}

void qw_gguf_free(qw_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) free(g->kv[i].arr_str);
    free(g->kv);
    free(g->tensors);
    free(g);
}

/* ----------------------------------------------------------------- lookups */

bool qw_str_eq(qw_str s, const char *c) {
    if (!c) return false;
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

const qw_gguf_kv *qw_gguf_find(const qw_gguf *g, const char *key) {
    if (!g || !key) return NULL;
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (qw_str_eq(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

void qw_gguf_drop_arr_str(qw_gguf *g, const char *key) {
    if (!g || !key) return;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        qw_gguf_kv *kv = &g->kv[i];
        if (!qw_str_eq(kv->key, key)) continue;
        if (kv->type == QW_GGUF_ARRAY && kv->arr_type == QW_GGUF_STRING) {
            free(kv->arr_str);
            kv->arr_str = NULL;
        }
        return;
    }
}

const qw_gguf_tensor *qw_gguf_find_tensor(const qw_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (qw_str_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static bool is_unsigned(qw_gguf_vtype t) {
    return t == QW_GGUF_U8 || t == QW_GGUF_U16 || t == QW_GGUF_U32 || t == QW_GGUF_U64;
}
static bool is_signed(qw_gguf_vtype t) {
    return t == QW_GGUF_I8 || t == QW_GGUF_I16 || t == QW_GGUF_I32 || t == QW_GGUF_I64;
}

/* Looks a key up; *kv NULL if absent. Fails when absent and required. */
static qw_status get_kv(const qw_gguf *g, const char *key, bool required,
                        const qw_gguf_kv **kv) {
    *kv = NULL;
    if (!g || !key) return qw_fail(QW_ERR_INVALID_ARG, "gguf: NULL argument to a getter");
    *kv = qw_gguf_find(g, key);
    if (!*kv && required) return qw_fail(QW_ERR_BAD_MODEL, "gguf: required key '%s' is missing", key);
    return QW_OK;
}

qw_status qw_gguf_get_u32(const qw_gguf *g, const char *key, bool required, uint32_t *out) {
    const qw_gguf_kv *kv = NULL;
    qw_status st = get_kv(g, key, required, &kv);
    if (st || !kv) return st;
    if (is_unsigned(kv->type)) {
        if (kv->v.u64 > UINT32_MAX)
            return qw_fail(QW_ERR_BAD_MODEL, "gguf: key '%s': value %llu does not fit in u32", key,
                           (unsigned long long)kv->v.u64);
        *out = (uint32_t)kv->v.u64;
        return QW_OK;
    }
    if (is_signed(kv->type)) {
        if (kv->v.i64 < 0 || kv->v.i64 > (int64_t)UINT32_MAX)
            return qw_fail(QW_ERR_BAD_MODEL, "gguf: key '%s': value %lld does not fit in u32", key,
                           (long long)kv->v.i64);
        *out = (uint32_t)kv->v.i64;
        return QW_OK;
    }
    return qw_fail(QW_ERR_BAD_MODEL, "gguf: key '%s' has type %s, expected an integer", key,
                   vtype_name(kv->type));
}

qw_status qw_gguf_get_f32(const qw_gguf *g, const char *key, bool required, float *out) {
    const qw_gguf_kv *kv = NULL;
    qw_status st = get_kv(g, key, required, &kv);
    if (st || !kv) return st;
    if (kv->type != QW_GGUF_F32 && kv->type != QW_GGUF_F64)
        return qw_fail(QW_ERR_BAD_MODEL, "gguf: key '%s' has type %s, expected f32", key,
                       vtype_name(kv->type));
    double d = kv->v.f64;
    if (d == d && (d > FLT_MAX || d < -FLT_MAX) && d - d == 0)
        return qw_fail(QW_ERR_BAD_MODEL, "gguf: key '%s': value %g does not fit in f32", key, d);
    *out = (float)d;
    return QW_OK;
}

qw_status qw_gguf_get_bool(const qw_gguf *g, const char *key, bool required, bool *out) {
    const qw_gguf_kv *kv = NULL;
    qw_status st = get_kv(g, key, required, &kv);
    if (st || !kv) return st;
    if (kv->type != QW_GGUF_BOOL)
        return qw_fail(QW_ERR_BAD_MODEL, "gguf: key '%s' has type %s, expected bool", key,
                       vtype_name(kv->type));
    *out = kv->v.b;
    return QW_OK;
}

qw_status qw_gguf_get_str(const qw_gguf *g, const char *key, bool required, qw_str *out) {
    const qw_gguf_kv *kv = NULL;
    qw_status st = get_kv(g, key, required, &kv);
    if (st || !kv) return st;
    if (kv->type != QW_GGUF_STRING)
        return qw_fail(QW_ERR_BAD_MODEL, "gguf: key '%s' has type %s, expected string", key,
                       vtype_name(kv->type));
    *out = kv->v.str;
    return QW_OK;
}

qw_status qw_gguf_get_arr(const qw_gguf *g, const char *key, qw_gguf_vtype elem, bool required,
                          const qw_gguf_kv **out) {
    const qw_gguf_kv *kv = NULL;
    qw_status st = get_kv(g, key, required, &kv);
    if (st || !kv) return st;
    if (kv->type != QW_GGUF_ARRAY)
        return qw_fail(QW_ERR_BAD_MODEL, "gguf: key '%s' has type %s, expected an array of %s",
                       key, vtype_name(kv->type), vtype_name(elem));
    if (kv->arr_type != elem)
        return qw_fail(QW_ERR_BAD_MODEL, "gguf: key '%s' is an array of %s, expected %s", key,
                       vtype_name(kv->arr_type), vtype_name(elem));
    *out = kv;
    return QW_OK;
}

static uint64_t arr_raw(const qw_gguf_kv *kv, uint64_t i, unsigned *n) {
    *n = qw_gguf_vtype_size(kv->arr_type);
    if (!kv->arr_data || *n == 0 || i >= kv->arr_n) return 0;
    return rd_le(kv->arr_data + i * *n, *n);
}

double qw_gguf_arr_f64(const qw_gguf_kv *kv, uint64_t i) {
    unsigned n;
    uint64_t raw = arr_raw(kv, i, &n);
    if (n == 0) return 0.0;
    switch (kv->arr_type) {
    case QW_GGUF_F32: {
        uint32_t u = (uint32_t)raw;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case QW_GGUF_F64: {
        double d;
        memcpy(&d, &raw, 8);
        return d;
    }
    case QW_GGUF_U8: case QW_GGUF_U16: case QW_GGUF_U32: case QW_GGUF_U64: case QW_GGUF_BOOL:
        return (double)raw;
    default:
        return (double)qw_gguf_arr_i64(kv, i);
    }
}

int64_t qw_gguf_arr_i64(const qw_gguf_kv *kv, uint64_t i) {
    unsigned n;
    uint64_t raw = arr_raw(kv, i, &n);
    if (n == 0) return 0;
    switch (kv->arr_type) {
    case QW_GGUF_I8: return (int8_t)(uint8_t)raw;
    case QW_GGUF_I16: return (int16_t)(uint16_t)raw;
    case QW_GGUF_I32: return (int32_t)(uint32_t)raw;
    case QW_GGUF_I64: {
        int64_t s;
        memcpy(&s, &raw, 8);
        return s;
    }
    case QW_GGUF_U64: return raw > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)raw;
    case QW_GGUF_F32: case QW_GGUF_F64: {
        double d = qw_gguf_arr_f64(kv, i);
        if (!(d == d)) return 0;
        if (d >= 9223372036854775807.0) return INT64_MAX;
        if (d <= -9223372036854775808.0) return INT64_MIN;
        return (int64_t)d;
    }
    default: return (int64_t)raw; /* u8/u16/u32/bool */
    }
}

/* ------------------------------------------------------------ split files */

static bool all_digits(const char *s, size_t n) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

static long parse_num(const char *s, size_t n) {
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > 99999999) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool qw_gguf_split_path(const char *path, int idx, char *out, size_t cap, int *n_split) {
    if (!path) return false;
    size_t len = strlen(path);
    static const char ext[] = ".gguf", of[] = "-of-";
    if (len < 5 || memcmp(path + len - 5, ext, 5) != 0) return false;
    size_t e = len - 5; /* end of the total count */
    size_t b = e;
    while (b > 0 && path[b - 1] >= '0' && path[b - 1] <= '9') b--;
    if (!all_digits(path + b, e - b) || b < 4 || memcmp(path + b - 4, of, 4) != 0) return false;
    size_t e2 = b - 4;
    size_t b2 = e2;
    while (b2 > 0 && path[b2 - 1] >= '0' && path[b2 - 1] <= '9') b2--;
    if (!all_digits(path + b2, e2 - b2) || b2 < 1 || path[b2 - 1] != '-') return false;
    if (e - b < 5 || e2 - b2 < 5) return false; /* %05d */
    long total = parse_num(path + b, e - b);
    long part = parse_num(path + b2, e2 - b2);
    if (total < 1 || part < 1 || part > total || total > 99999) return false;
    if (n_split) *n_split = (int)total;
    if (idx < 1 || idx > total) return false;
    if (!out) return true;
    size_t plen = b2 - 1;
    if (plen > (size_t)INT32_MAX) return false;
    int w = snprintf(out, cap, "%.*s-%05d-of-%05d.gguf", (int)plen, path, idx, (int)total);
    return w >= 0 && (size_t)w < cap;
}

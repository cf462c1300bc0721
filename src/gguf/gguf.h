/* GGUF reader (versions 2 and 3).
 *
 * qw_gguf_parse is a pure function over (bytes, size): one bounds-checked
 * cursor, checked arithmetic on every size read from the file, no I/O. Strings
 * and numeric arrays point into the caller's bytes (nothing is copied); the
 * bytes must outlive the qw_gguf. Fuzz entry: src/gguf/gguf_fuzz.c. */
#ifndef QW_GGUF_H
#define QW_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../qwasm.h"

#define QW_GGUF_MAX_DIMS 4
#define QW_GGUF_DEFAULT_ALIGNMENT 32

typedef enum qw_gguf_vtype {
    QW_GGUF_U8 = 0,
    QW_GGUF_I8 = 1,
    QW_GGUF_U16 = 2,
    QW_GGUF_I16 = 3,
    QW_GGUF_U32 = 4,
    QW_GGUF_I32 = 5,
    QW_GGUF_F32 = 6,
    QW_GGUF_BOOL = 7,
    QW_GGUF_STRING = 8,
    QW_GGUF_ARRAY = 9,
    QW_GGUF_U64 = 10,
    QW_GGUF_I64 = 11,
    QW_GGUF_F64 = 12
} qw_gguf_vtype;

/* A string inside the file: not NUL-terminated. */
typedef struct qw_str {
    const char *ptr;
    uint64_t len;
} qw_str;

typedef struct qw_gguf_kv {
    qw_str key;
    qw_gguf_vtype type;
    /* scalars */
    union {
        uint64_t u64; /* any unsigned integer type, widened */
        int64_t i64;  /* any signed integer type, widened */
        double f64;   /* F32 or F64, widened */
        bool b;
        qw_str str;
    } v;
    /* arrays (type == QW_GGUF_ARRAY) */
    qw_gguf_vtype arr_type;  /* element type (never ARRAY: nested arrays are rejected) */
    uint64_t arr_n;          /* element count */
    const uint8_t *arr_data; /* numeric/bool elements, little-endian, possibly unaligned */
    qw_str *arr_str;         /* string elements (arr_n of them), allocated by the parser;
                              * NULL after qw_gguf_drop_arr_str */
} qw_gguf_kv;

typedef struct qw_gguf_tensor {
    qw_str name;
    uint32_t n_dims;
    int64_t ne[QW_GGUF_MAX_DIMS]; /* ne[0] = row length; unused dims are 1 */
    uint32_t type;                /* GGUF/ggml type id (qw_type) */
    uint64_t offset;              /* from the start of the data section */
    uint64_t nbytes;              /* checked: rows * row size */
    const void *data;             /* bytes + data_offset + offset, or NULL if past `size` */
} qw_gguf_tensor;

typedef struct qw_gguf {
    uint32_t version;
    uint64_t n_kv;
    qw_gguf_kv *kv;
    uint64_t n_tensors;
    qw_gguf_tensor *tensors;
    uint64_t alignment;   /* general.alignment or 32 */
    uint64_t data_offset; /* file offset of the tensor data section (aligned) */
    uint64_t data_size;   /* bytes the data section needs: max(offset + nbytes) */
    uint64_t file_size;   /* as given to the parser */
} qw_gguf;

/* Parses a GGUF image. `bytes` holds the first `size` bytes of a file whose
 * total length is `file_size` (>= size). With size == file_size this is a
 * whole file and every tensor's `data` is set. With a prefix (streaming load)
 * only the header must be present; tensors get data = NULL and their extents
 * are still checked against file_size. If the prefix ends inside the header,
 * the result is QW_ERR_TRUNCATED and, when `need` is non-NULL, *need is a
 * lower bound on the prefix length that could succeed.
 *
 * Validates: magic, version (2, 3), counts vs remaining bytes, every string
 * length, value types, no nested arrays, array byte sizes, alignment (power
 * of two), duplicate keys and tensor names, n_dims 1..4, dims >= 1 and their
 * product, tensor type known and supported (QW_ERR_UNSUPPORTED otherwise), row
 * length a multiple of the block size, offsets aligned, inside the file and not
 * overlapping. On failure *out is NULL and qw_last_error() says which field. */
qw_status qw_gguf_parse(const uint8_t *bytes, size_t size, uint64_t file_size, qw_gguf **out,
                        uint64_t *need);

void qw_gguf_free(qw_gguf *g);

/* Lookups. find returns NULL if absent. */
const qw_gguf_kv *qw_gguf_find(const qw_gguf *g, const char *key);
const qw_gguf_tensor *qw_gguf_find_tensor(const qw_gguf *g, const char *name);

/* Frees the element list of the string array `key` (16 bytes per element):
 * afterwards kv->arr_str is NULL while arr_n and the strings' bytes remain.
 * For an array whose consumer keeps its own index, such as
 * tokenizer.ggml.tokens once the tokenizer is built. No-op if `key` is absent
 * or not an array of strings. */
void qw_gguf_drop_arr_str(qw_gguf *g, const char *key);

/* Typed getters: QW_OK and *out set; QW_ERR_BAD_MODEL (with a message naming
 * the key) if present with an incompatible type or out of range; if absent,
 * returns QW_ERR_BAD_MODEL when `required`, else QW_OK leaving *out as is. */
qw_status qw_gguf_get_u32(const qw_gguf *g, const char *key, bool required, uint32_t *out);
qw_status qw_gguf_get_f32(const qw_gguf *g, const char *key, bool required, float *out);
qw_status qw_gguf_get_bool(const qw_gguf *g, const char *key, bool required, bool *out);
qw_status qw_gguf_get_str(const qw_gguf *g, const char *key, bool required, qw_str *out);
/* Array of a given element type (QW_GGUF_STRING arrays: use kv->arr_str). */
qw_status qw_gguf_get_arr(const qw_gguf *g, const char *key, qw_gguf_vtype elem, bool required,
                          const qw_gguf_kv **out);

/* Element i of a numeric array as double / int64 (bounds-checked by caller). */
double qw_gguf_arr_f64(const qw_gguf_kv *kv, uint64_t i);
int64_t qw_gguf_arr_i64(const qw_gguf_kv *kv, uint64_t i);

/* Bytes of one element of a scalar value type; 0 for STRING, ARRAY and
 * unknown types. */
unsigned qw_gguf_vtype_size(uint32_t type);

/* Compare a file string with a C string. */
bool qw_str_eq(qw_str s, const char *c);

/* Split models: "<prefix>-%05d-of-%05d.gguf". Given one part's path, writes
 * the path of part `idx` (1-based) into out. Returns false if `path` does not
 * follow the pattern. */
bool qw_gguf_split_path(const char *path, int idx, char *out, size_t cap, int *n_split);

#endif

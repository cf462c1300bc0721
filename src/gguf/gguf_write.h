/* In-memory GGUF writer (version 3 by default, little-endian).
 *
 * Build a file with set_* (metadata) and add_tensor, then serialize it to a
 * malloc'd buffer or a FILE* (optionally streaming the tensor data from a
 * callback: qw_gguf_writer_to_file_fill). Setting a key that already exists replaces its
 * value (its position is kept), so the output never has duplicate keys.
 * Keys and string values are copied; tensor data is borrowed and must stay
 * valid until the last serialize call (NULL data writes zeros).
 *
 * Tensors are laid out in the order they were added, each at the next
 * multiple of the alignment (general.alignment, default 32); the data section
 * starts at the first aligned offset after the tensor infos. The output is
 * what qw_gguf_parse accepts. Every failure returns a qw_status with a
 * message in qw_last_error(). */
#ifndef QW_GGUF_WRITE_H
#define QW_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gguf.h"

typedef struct qw_gguf_writer qw_gguf_writer;

qw_status qw_gguf_writer_create(qw_gguf_writer **out);
void qw_gguf_writer_free(qw_gguf_writer *w);

/* 2 or 3 (the layouts are identical; default 3). */
qw_status qw_gguf_writer_set_version(qw_gguf_writer *w, uint32_t version);
/* Sets general.alignment (u32, a power of two) and uses it for the layout.
 * qw_gguf_set_u32(w, "general.alignment", a) does the same. */
qw_status qw_gguf_writer_set_alignment(qw_gguf_writer *w, uint32_t alignment);

/* Scalars. */
qw_status qw_gguf_set_u8(qw_gguf_writer *w, const char *key, uint8_t v);
qw_status qw_gguf_set_i8(qw_gguf_writer *w, const char *key, int8_t v);
qw_status qw_gguf_set_u16(qw_gguf_writer *w, const char *key, uint16_t v);
qw_status qw_gguf_set_i16(qw_gguf_writer *w, const char *key, int16_t v);
qw_status qw_gguf_set_u32(qw_gguf_writer *w, const char *key, uint32_t v);
qw_status qw_gguf_set_i32(qw_gguf_writer *w, const char *key, int32_t v);
qw_status qw_gguf_set_u64(qw_gguf_writer *w, const char *key, uint64_t v);
qw_status qw_gguf_set_i64(qw_gguf_writer *w, const char *key, int64_t v);
qw_status qw_gguf_set_f32(qw_gguf_writer *w, const char *key, float v);
qw_status qw_gguf_set_f64(qw_gguf_writer *w, const char *key, double v);
qw_status qw_gguf_set_bool(qw_gguf_writer *w, const char *key, bool v);
/* NUL-terminated / explicit-length string values (may contain any bytes). */
qw_status qw_gguf_set_str(qw_gguf_writer *w, const char *key, const char *s);
qw_status qw_gguf_set_strn(qw_gguf_writer *w, const char *key, const char *s, uint64_t len);

/* Array of n numeric or bool elements of type `elem`. `data` is a C array of
 * the matching host type (uint8_t, int8_t, ..., float, double; bool arrays
 * as uint8_t 0/1); it is copied and written little-endian. */
qw_status qw_gguf_set_arr(qw_gguf_writer *w, const char *key, qw_gguf_vtype elem,
                          const void *data, uint64_t n);
/* Array of n strings. lens may be NULL (then each string is NUL-terminated). */
qw_status qw_gguf_set_arr_str(qw_gguf_writer *w, const char *key, const char *const *strs,
                              const uint64_t *lens, uint64_t n);

/* Adds a tensor. ne[0] is the row length; n_dims 1..4, every ne >= 1; type
 * must be one qw_type_get knows and ne[0] a multiple of its block size;
 * nbytes must equal the tensor's size (rows * row bytes). `data` is borrowed
 * (NULL: zeros). Names must be unique. */
qw_status qw_gguf_add_tensor(qw_gguf_writer *w, const char *name, uint32_t type,
                             uint32_t n_dims, const int64_t *ne, const void *data,
                             uint64_t nbytes);

/* Total bytes the serialized file takes. */
qw_status qw_gguf_writer_size(const qw_gguf_writer *w, uint64_t *size);
/* Serializes into a malloc'd buffer (caller frees). */
qw_status qw_gguf_writer_to_buffer(const qw_gguf_writer *w, uint8_t **out, size_t *size);
/* Writes the file to f (QW_ERR_IO on a short write). */
qw_status qw_gguf_writer_to_file(const qw_gguf_writer *w, FILE *f);

/* Streaming: tensor data produced while the file is written, so a file larger
 * than memory can be made. qw_gguf_writer_to_file_fill writes like
 * qw_gguf_writer_to_file, except that for each tensor added with data == NULL
 * it calls fill(user, index, out) (index = order of qw_gguf_add_tensor),
 * which must pass exactly that tensor's nbytes, in any number of pieces, to
 * qw_gguf_stream_write. The writer adds the alignment padding. A fill that
 * returns an error stops the write with that status (its message kept); a
 * fill that writes too few or too many bytes fails with QW_ERR_INVALID_ARG.
 * With fill == NULL this is qw_gguf_writer_to_file. */
typedef struct qw_gguf_stream qw_gguf_stream;
typedef qw_status (*qw_gguf_fill_fn)(void *user, size_t index, qw_gguf_stream *out);
qw_status qw_gguf_stream_write(qw_gguf_stream *out, const void *data, size_t n);
qw_status qw_gguf_writer_to_file_fill(const qw_gguf_writer *w, FILE *f, qw_gguf_fill_fn fill,
                                      void *user);

#endif

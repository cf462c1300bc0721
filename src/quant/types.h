/* The type-traits table: one entry per GGUF tensor type id.
 *
 * For every supported type it names the block geometry, the reference
 * (scalar, portable) dequantize / quantize / dot product, and the activation
 * type the dot product consumes (as llama.cpp: Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL,
 * Q8_1 for Q4_1/Q5_1, Q8_K for K-quants and IQ4_XS, F16 for F16, BF16 for BF16,
 * F32 for F32). A type with a NULL vec_dot is storage-only (activation types).
 * tests/c/test_quant_types.c walks this table, so a new entry cannot ship
 * untested. */
#ifndef QW_TYPES_H
#define QW_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum qw_type {
    QW_TYPE_F32 = 0,
    QW_TYPE_F16 = 1,
    QW_TYPE_Q4_0 = 2,
    QW_TYPE_Q4_1 = 3,
    QW_TYPE_Q5_0 = 6,
    QW_TYPE_Q5_1 = 7,
    QW_TYPE_Q8_0 = 8,
    QW_TYPE_Q8_1 = 9,
    QW_TYPE_Q2_K = 10,
    QW_TYPE_Q3_K = 11,
    QW_TYPE_Q4_K = 12,
    QW_TYPE_Q5_K = 13,
    QW_TYPE_Q6_K = 14,
    QW_TYPE_Q8_K = 15,
    QW_TYPE_IQ4_NL = 20,
    QW_TYPE_IQ4_XS = 23,
    QW_TYPE_BF16 = 30,
    QW_TYPE_COUNT = 40 /* table size; ids >= this are unknown */
} qw_type;

/* y[0..n) = dequantized x; n is a multiple of blck_size. */
typedef void (*qw_to_float_fn)(const void *x, float *y, int64_t n);
/* reference quantization of n floats into blocks; n multiple of blck_size */
typedef void (*qw_from_float_fn)(const float *x, void *y, int64_t n);
/* *s = dot(row x of this type, row y of vec_dot_type), n elements */
typedef void (*qw_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);
/* true if every scale in the row (every value, for float types) is finite;
 * used to reject weights with NaN/Inf scales at load time */
typedef bool (*qw_row_finite_fn)(const void *x, int64_t n);

typedef struct qw_type_traits {
    const char *name;      /* "Q4_0", as llama.cpp prints it; NULL = no such type */
    int64_t blck_size;     /* elements per block */
    size_t type_size;      /* bytes per block */
    qw_type vec_dot_type;  /* activation type for vec_dot */
    qw_to_float_fn to_float;
    qw_from_float_fn from_float;
    qw_vec_dot_fn vec_dot; /* NULL for activation-only types */
    qw_row_finite_fn row_finite;
    /* the dot for matrices whose row count is a multiple of 8, when it must
     * differ (Q4_0 only: see "serial" in accum.h); NULL = vec_dot */
    qw_vec_dot_fn vec_dot_rows8;
    /* how activations are converted into this type when it is a
     * vec_dot_type (may differ from from_float, which writes weights) */
    qw_from_float_fn from_float_act;
} qw_type_traits;

/* NULL when `type` is unknown or not supported. */
const qw_type_traits *qw_type_get(uint32_t type);

/* Name for messages: "Q4_K", or "type 17" style for unknown ids (static buffer
 * per thread). */
const char *qw_type_name(uint32_t type);

/* Bytes of a row of n elements; 0 if n is not a multiple of the block size or
 * the type is unknown. */
size_t qw_row_size(uint32_t type, int64_t n);

/* Reference kernels, defined in ref_*.c and wired into the table in types.c. */
#define QW_DECLARE_TYPE(t)                                              \
    void qw_dequantize_row_##t(const void *x, float *y, int64_t n);     \
    void qw_quantize_row_##t(const float *x, void *y, int64_t n);       \
    void qw_vec_dot_##t(int64_t n, float *s, const void *x, const void *y); \
    bool qw_row_finite_##t(const void *x, int64_t n);

QW_DECLARE_TYPE(f32)
QW_DECLARE_TYPE(f16)
QW_DECLARE_TYPE(bf16)
QW_DECLARE_TYPE(q4_0)
QW_DECLARE_TYPE(q4_1)
QW_DECLARE_TYPE(q5_0)
QW_DECLARE_TYPE(q5_1)
QW_DECLARE_TYPE(q8_0)
QW_DECLARE_TYPE(iq4_nl)
QW_DECLARE_TYPE(q2_K)
QW_DECLARE_TYPE(q3_K)
QW_DECLARE_TYPE(q4_K)
QW_DECLARE_TYPE(q5_K)
QW_DECLARE_TYPE(q6_K)
QW_DECLARE_TYPE(iq4_xs)
/* activation types: no vec_dot of their own */
void qw_dequantize_row_q8_1(const void *x, float *y, int64_t n);
void qw_quantize_row_q8_1(const float *x, void *y, int64_t n);
void qw_dequantize_row_q8_K(const void *x, float *y, int64_t n);
void qw_quantize_row_q8_K(const float *x, void *y, int64_t n);
bool qw_row_finite_q8_1(const void *x, int64_t n);
void qw_quantize_act_q8_0(const float *x, void *y, int64_t n);
void qw_vec_dot_q4_0_serial(int64_t n, float *s, const void *x, const void *y);
void qw_quantize_act_q8_1(const float *x, void *y, int64_t n);
bool qw_row_finite_q8_K(const void *x, int64_t n);

#endif

/* Kernel sets and run-time dispatch.
 *
 * The type table (types.h) holds the scalar reference kernels, which stay
 * forever. A kernel set is a faster implementation of some of them for one
 * instruction set; it must give BIT-IDENTICAL results to the reference (same
 * integer sums, same float operations in the order accum.h fixes), which
 * tests/c/test_kernels.c checks for every type, path and odd row count.
 * Entries left NULL fall back to the reference.
 *
 * The best set the CPU supports is chosen once, at first use (cpuid on x86,
 * compile-time on ARM and wasm), so one binary runs on any machine of its
 * architecture. QW_KERNELS=scalar (or avx2, ...) in the environment forces a
 * path, as does qw_kernels_force. */
#ifndef QW_KERNELS_H
#define QW_KERNELS_H

#include <stdbool.h>

#include "types.h"

/* One weight row against 4 activation rows: s[k * s_stride] = the vec_dot of
 * row x with the activation row at (const char *)y + k * y_stride, k = 0..3.
 * Each of the 4 results must be bit-identical to the corresponding single
 * vec_dot (same operations in the same order); the gain is that the weight
 * block is unpacked once for all 4. */
typedef void (*qw_vec_dot_x4_fn)(int64_t n, float *s, size_t s_stride, const void *x, const void *y,
                                 size_t y_stride);

/* Several consecutive weight rows against one activation row: s[r] = the
 * vec_dot of the weight row at (const char *)x + r * x_stride with y, for
 * r = 0..R-1 (R = QW_MR_LANES8 for vec_dot_r4, QW_MR_ROWS8 for
 * vec_dot_rows8_r8). Each result must be bit-identical to the single-row dot
 * of the same order; the gain is that the activation block is loaded once
 * and the rows' float chains run side by side (generation: one token). */
typedef void (*qw_vec_dot_mr_fn)(int64_t n, float *s, const void *x, size_t x_stride, const void *y);
#define QW_MR_LANES8 4
#define QW_MR_ROWS8 8

/* Many weight rows against 4 activation rows (prompt batches): s[k * s_stride
 * + r] = the vec_dot of the weight row at (const char *)x + r * x_stride with
 * the activation row at (const char *)y + k * y_stride, r = 0..nr-1, k =
 * 0..3; nr is a multiple of QW_MR_ROWS8 for vec_dot_rows8_gemm4. Each result
 * bit-identical to the single dot of the same order; the gain is that weight
 * blocks, activation blocks and scales are unpacked once per tile. */
typedef void (*qw_vec_dot_gemm4_fn)(int64_t n, int64_t nr, float *s, size_t s_stride, const void *x,
                                    size_t x_stride, const void *y, size_t y_stride);

/* F32 kernels of the attention and the FFN (model/forward.c); each must be
 * bit-identical to its scalar reference:
 *   dot_f32: qw_dot_f32_steps64 / qw_dot_f32_lanes16 (quant/accum.h), same
 *            signature (lanes16: n a multiple of 16);
 *   exp_sum16: for every full 16-element chunk of x[0..n) (n & ~15
 *            elements; the caller handles the tail), x[i] = qw_vexpf(x[i] -
 *            sub) (core/vexp.h), and returns the sum over chunks, in order,
 *            of (double)qw_hsum16(chunk), starting from 0.0 -- the softmax;
 *   swiglu:  gate[i] = gate[i] / (1 + qw_vexpf(-gate[i])) * up[i] over the
 *            full 16-chunks, libm expf instead of qw_vexpf on the tail;
 *   dot_f32_keys: out[t] = qw_dot_f32_steps64(q, k + t * k_stride, n) for
 *            t = 0..n_keys-1 (the attention's q·K, one call per head);
 *   rope:    qw_rope_ref: the rotation of n_heads head vectors. */
typedef float (*qw_dot_f32_fn)(const float *a, const float *b, int n);
typedef double (*qw_exp_sum16_fn)(float *x, int n, float sub);
typedef void (*qw_swiglu_fn)(float *gate, const float *up, int n);
typedef void (*qw_dot_f32_keys_fn)(const float *q, const float *k, size_t k_stride, int n_keys, int n,
                                   float *out);
typedef void (*qw_rope_fn)(float *v, int n_heads, int head_stride, const float *cs, int rope_dim, int neox);

typedef struct qw_kernel_set {
    const char *name; /* "avx2", "neon", "wasm-simd128", ... */
    qw_vec_dot_fn vec_dot[QW_TYPE_COUNT];          /* weight type -> dot */
    qw_vec_dot_fn vec_dot_rows8[QW_TYPE_COUNT];    /* see types.h vec_dot_rows8 */
    qw_from_float_fn quantize_act[QW_TYPE_COUNT];  /* activation type -> quantizer */
    /* optional 4-activation-row forms of vec_dot / vec_dot_rows8 (NULL = none) */
    qw_vec_dot_x4_fn vec_dot_x4[QW_TYPE_COUNT];
    qw_vec_dot_x4_fn vec_dot_rows8_x4[QW_TYPE_COUNT];
    /* optional F32 kernels (NULL = the scalar reference) */
    qw_dot_f32_fn dot_f32_steps64;
    qw_dot_f32_fn dot_f32_lanes16;
    qw_exp_sum16_fn exp_sum16;
    qw_swiglu_fn swiglu;
    /* optional several-weight-row forms (NULL = none): vec_dot_r4 pairs with
     * vec_dot (QW_MR_LANES8 rows), vec_dot_rows8_r8 with vec_dot_rows8
     * (QW_MR_ROWS8 rows) */
    qw_vec_dot_mr_fn vec_dot_r4[QW_TYPE_COUNT];
    qw_vec_dot_mr_fn vec_dot_rows8_r8[QW_TYPE_COUNT];
    /* optional many-row x 4-activation-row forms (NULL = none), pairing the
     * same way; preferred over vec_dot_x4 */
    qw_vec_dot_gemm4_fn vec_dot_gemm4[QW_TYPE_COUNT];
    qw_vec_dot_gemm4_fn vec_dot_rows8_gemm4[QW_TYPE_COUNT];
    qw_dot_f32_keys_fn dot_f32_steps64_keys; /* optional (NULL = the reference) */
    qw_rope_fn rope;                         /* optional (NULL = qw_rope_ref) */
} qw_kernel_set;

/* Each returns NULL when the set is not compiled in or the CPU lacks it. */
const qw_kernel_set *qw_kernels_avx2(void);
const qw_kernel_set *qw_kernels_neon(void);
const qw_kernel_set *qw_kernels_wasm_simd128(void);
/* Relaxed-SIMD probe for the WebAssembly build (quant/simd_wasm.c): 0 when
 * this is not a relaxed-SIMD build (native, or baseline SIMD128); 1 when it
 * is and the engine's f32x4.relaxed_madd is fused (one rounding, = fmaf)
 * and its i32x4.relaxed_dot_i8x16_i7x16_add_s gives the exact sums, which
 * the kernels and qw_fmaf rely on; -1 when it is but either does not (e.g.
 * the madd rounds twice): results would differ from the reference, so the
 * build must not be used. */
int qw_wasm_fma_fused(void);

/* The active path's name ("scalar" when no set applies). */
const char *qw_kernel_path(void);
/* Dot / activation quantizer for a type on the active path (never NULL for a
 * type whose reference has one). */
qw_vec_dot_fn qw_get_vec_dot(uint32_t type);
qw_from_float_fn qw_get_quantize_act(uint32_t type);
/* The dot for a whole matrix of this type with n_rows rows (the type table's
 * vec_dot_rows8 where it applies, else qw_get_vec_dot). */
qw_vec_dot_fn qw_get_vec_dot_rows(uint32_t type, int64_t n_rows);
/* The 4-row form of qw_get_vec_dot_rows(type, n_rows) on the active path,
 * or NULL when the path has none (callers then use the single-row dot). */
qw_vec_dot_x4_fn qw_get_vec_dot_x4_rows(uint32_t type, int64_t n_rows);
/* The several-weight-row form of qw_get_vec_dot_rows(type, n_rows) on the
 * active path, with its row count in *rows, or NULL (*rows = 1) when the
 * path has none. */
qw_vec_dot_mr_fn qw_get_vec_dot_mr_rows(uint32_t type, int64_t n_rows, int *rows);
/* The gemm4 form of qw_get_vec_dot_rows(type, n_rows) on the active path, or
 * NULL; *row_mult = the multiple nr must be (1 or QW_MR_ROWS8). */
qw_vec_dot_gemm4_fn qw_get_vec_dot_gemm4_rows(uint32_t type, int64_t n_rows, int *row_mult);
/* The F32 kernels on the active path (never NULL: the scalar references
 * qw_dot_f32_steps64 / qw_dot_f32_lanes16 / qw_exp_sum16_ref / qw_swiglu_ref
 * where the path has none). */
qw_dot_f32_fn qw_get_dot_f32_steps64(void);
qw_dot_f32_fn qw_get_dot_f32_lanes16(void);
qw_exp_sum16_fn qw_get_exp_sum16(void);
qw_swiglu_fn qw_get_swiglu(void);
qw_dot_f32_keys_fn qw_get_dot_f32_steps64_keys(void);
qw_rope_fn qw_get_rope(void);
/* The scalar references of exp_sum16 and swiglu (see above). */
double qw_exp_sum16_ref(float *x, int n, float sub);
void qw_swiglu_ref(float *gate, const float *up, int n);
void qw_dot_f32_steps64_keys_ref(const float *q, const float *k, size_t k_stride, int n_keys, int n, float *out);
/* RoPE on n_heads vectors at v + h * head_stride: for i < rope_dim/2, with
 * c, s = cs[2i], cs[2i+1] and the pair (a, b) = (2i, 2i+1) (normal) or (i,
 * i + rope_dim/2) (neox): v[a], v[b] = qw_fmaf(x0, c, -(x1 * s)),
 * qw_fmaf(x0, s, x1 * c) for x0, x1 = v[a], v[b] (one fused multiply-add
 * each: llama.cpp's compiler-contracted form, docs/NUMERICS.md) */
void qw_rope_ref(float *v, int n_heads, int head_stride, const float *cs, int rope_dim, int neox);
/* Selects a path by name ("scalar", "avx2", ...); false if unavailable. */
bool qw_kernels_force(const char *name);
/* All paths available on this machine, scalar first; returns the count. */
int qw_kernel_paths(const char **names, int cap);

#endif

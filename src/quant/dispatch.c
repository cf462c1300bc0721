#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/qfma.h"
#include "../core/vexp.h"
#include "accum.h"
#include "kernels.h"

static const qw_kernel_set *g_active;
static int g_inited;

/* candidates, best first */
static const qw_kernel_set *candidate(int i) {
    switch (i) {
    case 0: return qw_kernels_avx2();
    case 1: return qw_kernels_neon();
    case 2: return qw_kernels_wasm_simd128();
    default: return NULL;
    }
}
#define N_CANDIDATES 3

static void init(void) {
    if (g_inited) return;
    g_inited = 1;
    const char *env = getenv("QW_KERNELS");
    if (env && *env) {
        if (qw_kernels_force(env)) return;
    }
    for (int i = 0; i < N_CANDIDATES; i++) {
        const qw_kernel_set *k = candidate(i);
        if (k) {
            g_active = k;
            return;
        }
    }
}

bool qw_kernels_force(const char *name) {
    g_inited = 1;
    if (!strcmp(name, "scalar")) {
        g_active = NULL;
        return true;
    }
    for (int i = 0; i < N_CANDIDATES; i++) {
        const qw_kernel_set *k = candidate(i);
        if (k && !strcmp(k->name, name)) {
            g_active = k;
            return true;
        }
    }
    return false;
}

const char *qw_kernel_path(void) {
    init();
    return g_active ? g_active->name : "scalar";
}

qw_vec_dot_fn qw_get_vec_dot(uint32_t type) {
    init();
    const qw_type_traits *t = qw_type_get(type);
    if (!t) return NULL;
    if (g_active && g_active->vec_dot[type]) return g_active->vec_dot[type];
    return t->vec_dot;
}

qw_vec_dot_fn qw_get_vec_dot_rows(uint32_t type, int64_t n_rows) {
    init();
    const qw_type_traits *t = qw_type_get(type);
    if (!t) return NULL;
    if (n_rows % 8 != 0 || !t->vec_dot_rows8) return qw_get_vec_dot(type);
    if (g_active && g_active->vec_dot_rows8[type]) return g_active->vec_dot_rows8[type];
    return t->vec_dot_rows8;
}

qw_vec_dot_x4_fn qw_get_vec_dot_x4_rows(uint32_t type, int64_t n_rows) {
    init();
    const qw_type_traits *t = qw_type_get(type);
    if (!t || !t->vec_dot || !g_active) return NULL;
    /* must pair with the single dot qw_get_vec_dot_rows picks */
    if (n_rows % 8 == 0 && t->vec_dot_rows8) {
        if (!g_active->vec_dot_rows8[type]) return NULL; /* reference rows8 in use */
        return g_active->vec_dot_rows8_x4[type];
    }
    if (!g_active->vec_dot[type]) return NULL;
    return g_active->vec_dot_x4[type];
}

qw_vec_dot_mr_fn qw_get_vec_dot_mr_rows(uint32_t type, int64_t n_rows, int *rows) {
    init();
    *rows = 1;
    const qw_type_traits *t = qw_type_get(type);
    if (!t || !t->vec_dot || !g_active) return NULL;
    qw_vec_dot_mr_fn fn;
    int r;
    /* must pair with the single dot qw_get_vec_dot_rows picks */
    if (n_rows % 8 == 0 && t->vec_dot_rows8) {
        if (!g_active->vec_dot_rows8[type]) return NULL;
        fn = g_active->vec_dot_rows8_r8[type];
        r = QW_MR_ROWS8;
    } else {
        if (!g_active->vec_dot[type]) return NULL;
        fn = g_active->vec_dot_r4[type];
        r = QW_MR_LANES8;
    }
    if (fn) *rows = r;
    return fn;
}

qw_vec_dot_gemm4_fn qw_get_vec_dot_gemm4_rows(uint32_t type, int64_t n_rows, int *row_mult) {
    init();
    *row_mult = 1;
    const qw_type_traits *t = qw_type_get(type);
    if (!t || !t->vec_dot || !g_active) return NULL;
    /* must pair with the single dot qw_get_vec_dot_rows picks */
    if (n_rows % 8 == 0 && t->vec_dot_rows8) {
        if (!g_active->vec_dot_rows8[type] || !g_active->vec_dot_rows8_gemm4[type]) return NULL;
        *row_mult = QW_MR_ROWS8;
        return g_active->vec_dot_rows8_gemm4[type];
    }
    if (!g_active->vec_dot[type]) return NULL;
    return g_active->vec_dot_gemm4[type];
}

qw_from_float_fn qw_get_quantize_act(uint32_t type) {
    init();
    const qw_type_traits *t = qw_type_get(type);
    if (!t) return NULL;
    if (g_active && g_active->quantize_act[type]) return g_active->quantize_act[type];
    return t->from_float_act;
}

int qw_kernel_paths(const char **names, int cap) {
    int n = 0;
    if (n < cap) names[n++] = "scalar";
    for (int i = 0; i < N_CANDIDATES; i++) {
        const qw_kernel_set *k = candidate(i);
        if (k && n < cap) names[n++] = k->name;
    }
    return n;
}

/* ------------------------------------------------ F32 kernels -- */

static float ref_steps64(const float *a, const float *b, int n) { return qw_dot_f32_steps64(a, b, n); }
static float ref_lanes16(const float *a, const float *b, int n) { return qw_dot_f32_lanes16(a, b, n); }

double qw_exp_sum16_ref(float *x, int n, float sub) {
    double sum = 0.0;
    for (int t = 0; t + 15 < n; t += 16) {
        for (int i = t; i < t + 16; i++) x[i] = qw_vexpf(x[i] - sub);
        sum += (double)qw_hsum16(x + t);
    }
    return sum;
}

void qw_swiglu_ref(float *gate, const float *up, int n) {
    int i = 0;
    for (; i + 15 < n; i += 16)
        for (int k = i; k < i + 16; k++) gate[k] = gate[k] / (1.0f + qw_vexpf(-gate[k])) * up[k];
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

qw_dot_f32_fn qw_get_dot_f32_steps64(void) {
    init();
    return g_active && g_active->dot_f32_steps64 ? g_active->dot_f32_steps64 : ref_steps64;
}

qw_dot_f32_fn qw_get_dot_f32_lanes16(void) {
    init();
    return g_active && g_active->dot_f32_lanes16 ? g_active->dot_f32_lanes16 : ref_lanes16;
}

qw_exp_sum16_fn qw_get_exp_sum16(void) {
    init();
    return g_active && g_active->exp_sum16 ? g_active->exp_sum16 : qw_exp_sum16_ref;
}

qw_swiglu_fn qw_get_swiglu(void) {
    init();
    return g_active && g_active->swiglu ? g_active->swiglu : qw_swiglu_ref;
}

void qw_dot_f32_steps64_keys_ref(const float *q, const float *k, size_t k_stride, int n_keys, int n, float *out) {
    for (int t = 0; t < n_keys; t++) out[t] = qw_dot_f32_steps64(q, k + (size_t)t * k_stride, n);
}

qw_dot_f32_keys_fn qw_get_dot_f32_steps64_keys(void) {
    init();
    return g_active && g_active->dot_f32_steps64_keys ? g_active->dot_f32_steps64_keys : qw_dot_f32_steps64_keys_ref;
}

void qw_rope_ref(float *v, int n_heads, int head_stride, const float *cs, int rope_dim, int neox) {
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * (size_t)head_stride;
        for (int i = 0; i < rope_dim / 2; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const int a = neox ? i : 2 * i;
            const int b = neox ? i + rope_dim / 2 : 2 * i + 1;
            const float x0 = x[a], x1 = x[b];
            x[a] = qw_fmaf(x0, c, -(x1 * s));
            x[b] = qw_fmaf(x0, s, x1 * c);
        }
    }
}

qw_rope_fn qw_get_rope(void) {
    init();
    return g_active && g_active->rope ? g_active->rope : qw_rope_ref;
}

/* Kernel microbenchmark: y = W x through qw_matmul on the active kernel
 * path, one thread, one activation row (generation's shape), for one weight
 * matrix per type and shape. W is real quantized data: fixed-seed Gaussian
 * floats through the type's reference quantizer (valid scales, the usual
 * level distribution). Each result is the best of `reps` timings, each of
 * enough calls to take >= ~20 ms, in ns per weight block and row: the least
 * disturbed run, which is what compares kernels on a shared, noisy machine
 * (model-level tokens/s on it moves by +-15% between runs).
 *
 * Natively: `build/qwasm_kbench [reps]` prints markdown table rows. In wasm
 * (scripts/bench-kernels.sh builds it next to each wasm build) the same
 * through the exports kb_run / kb_path, driven from Node and a browser page.
 * Not part of the default build or test run. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/matmul.h"
#include "model/model.h"
#include "quant/kernels.h"
#include "quant/types.h"

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#define KB_EXPORT EMSCRIPTEN_KEEPALIVE
#else
#define KB_EXPORT
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* xorshift64* and Box-Muller: the same floats on every platform */
static uint64_t g_rng;
static double uniform(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (double)((g_rng * UINT64_C(2685821657736338717)) >> 11) * 0x1p-53;
}
static float gaussian(void) {
    const double u = uniform() + 0x1p-60, v = uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* best ns per block-row of y = W x, W rows x cols of `type`; -1 when the type
 * has no dot, the shape does not fit its blocks, or memory runs out */
KB_EXPORT double kb_run(int type, int rows, int cols, int reps) {
    const qw_type_traits *t = qw_type_get((uint32_t)type);
    if (!t || !t->vec_dot || !t->from_float || rows < 4 || cols <= 0 || reps < 1 || cols % t->blck_size)
        return -1.0;
    qw_weight W = {0};
    W.type = (uint32_t)type;
    W.n_cols = cols;
    W.n_rows = rows;
    W.row_bytes = qw_row_size(W.type, cols);
    uint8_t *data = malloc(W.row_bytes * (size_t)rows);
    float *row = malloc(sizeof(float) * (size_t)cols), *x = malloc(sizeof(float) * (size_t)cols);
    float *y = malloc(sizeof(float) * (size_t)rows);
    void *scratch = aligned_alloc(64, (qw_matmul_scratch(&W, 1) + 63) / 64 * 64 + 64);
    double best = -1.0;
    if (!data || !row || !x || !y || !scratch) goto done;
    g_rng = UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)type;
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) row[c] = gaussian();
        t->from_float(row, data + W.row_bytes * (size_t)r, cols);
    }
    for (int c = 0; c < cols; c++) x[c] = gaussian();
    W.data = data;
    qw_matmul(&W, x, 1, y, scratch, NULL); /* warm: caches, and the JIT in wasm */
    const double blocks = (double)rows * (double)(cols / t->blck_size);
    int calls = 1;
    for (int rep = 0; rep < reps; rep++) {
        double dt;
        for (;;) { /* enough calls for >= 20 ms (the clock is coarse in browsers) */
            const double t0 = now_s();
            for (int k = 0; k < calls; k++) qw_matmul(&W, x, 1, y, scratch, NULL);
            dt = now_s() - t0;
            if (dt >= 0.02 || calls >= (1 << 20)) break;
            calls *= 2;
        }
        const double ns = dt * 1e9 / calls / blocks;
        if (best < 0 || ns < best) best = ns;
    }
done:
    free(data);
    free(row);
    free(x);
    free(y);
    free(scratch);
    return best;
}

KB_EXPORT const char *kb_path(void) { return qw_kernel_path(); }

/* The runs scripts/bench-kernels.sh makes everywhere: synth15M's output matrix
 * (32000 x 288, the bulk of its generation) and an L2-sized one for the
 * 32-element types; 768 columns for the 256-element K-quants. */
static const struct {
    uint32_t type;
    int rows, cols;
} g_runs[] = {
    {QW_TYPE_Q8_0, 32000, 288}, {QW_TYPE_Q8_0, 2048, 288}, {QW_TYPE_Q4_0, 32000, 288},
    {QW_TYPE_Q4_0, 2048, 288},  {QW_TYPE_Q5_0, 32000, 288}, {QW_TYPE_Q5_0, 2048, 288},
    {QW_TYPE_Q4_K, 12000, 768}, {QW_TYPE_Q6_K, 12000, 768},
};

KB_EXPORT int kb_count(void) { return (int)(sizeof g_runs / sizeof g_runs[0]); }

/* "| Q8_0 | 32000x288 |" for run i */
KB_EXPORT const char *kb_label(int i) {
    static char buf[64];
    if (i < 0 || i >= kb_count()) return "";
    snprintf(buf, sizeof buf, "| %s | %dx%d |", qw_type_name(g_runs[i].type), g_runs[i].rows, g_runs[i].cols);
    return buf;
}

KB_EXPORT double kb_run_index(int i, int reps) {
    if (i < 0 || i >= kb_count()) return -1.0;
    return kb_run((int)g_runs[i].type, g_runs[i].rows, g_runs[i].cols, reps);
}

#ifndef __EMSCRIPTEN__
int main(int argc, char **argv) {
    int reps = 7;
    if (argc > 1) {
        char *end = NULL;
        const long v = strtol(argv[1], &end, 10);
        if (argc > 2 || end == argv[1] || *end || v < 1 || v > 1000) {
            fprintf(stderr, "usage: qwasm_kbench [REPS]  (REPS: an integer in 1..1000, default 7)\n");
            return 2;
        }
        reps = (int)v;
    }
    for (int i = 0; i < kb_count(); i++) {
        const double ns = kb_run_index(i, reps);
        printf("| native | %s %s %.2f |\n", kb_path(), kb_label(i), ns);
        fflush(stdout);
    }
    return 0;
}
#endif

/* qwasm bench: prompt-processing and generation speed, llama-bench style.
 *
 * For each thread count: one short warm-up, then r repetitions of
 *   pp: a fresh context, p random token ids decoded as one batch;
 *   tg: a fresh context, n tokens decoded one at a time, each the greedy
 *       (argmax) choice on the previous logits, starting from BOS.
 * One markdown table row per thread count on stdout: median (min-max)
 * tokens/s, peak resident memory of the process so far, kernel path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "model/model.h"
#include "quant/kernels.h"

static const char *ftype_name(uint32_t ft) {
    switch (ft) { /* llama.cpp's llama_ftype */
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K_S";
    case 12: return "Q3_K_M";
    case 13: return "Q3_K_L";
    case 14: return "Q4_K_S";
    case 15: return "Q4_K_M";
    case 16: return "Q5_K_S";
    case 17: return "Q5_K_M";
    case 18: return "Q6_K";
    case 25: return "IQ4_NL";
    case 30: return "IQ4_XS";
    case 32: return "BF16";
    default: return NULL;
    }
}

/* The process's peak resident set so far (Linux: ru_maxrss = VmHWM, in KiB).
 * It counts file-backed pages too: every touched page of the mapped model,
 * and the binary's. */
static double peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(double *v, int n, double *med, double *lo, double *hi) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *lo = v[0];
    *hi = v[n - 1];
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* xorshift64*: token ids for the prompt */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* p tokens as one batch; tokens/s, or -1 on failure (error printed) */
static double run_pp(qw_context *ctx, const int32_t *toks, int p) {
    qw_context_reset(ctx);
    double t0 = cli_now();
    if (qw_decode(ctx, toks, p, false) != QW_OK) {
        cli_lib_error("decode failed");
        return -1.0;
    }
    return p / (cli_now() - t0);
}

/* n tokens one at a time, greedy; tokens/s, or -1 on failure */
static double run_tg(qw_context *ctx, int32_t first, int n, int n_vocab) {
    qw_context_reset(ctx);
    int32_t tok = first;
    double t0 = cli_now();
    for (int i = 0; i < n; i++) {
        if (qw_decode(ctx, &tok, 1, false) != QW_OK) {
            cli_lib_error("decode failed");
            return -1.0;
        }
        qw_top_k(qw_logits(ctx, -1), n_vocab, 1, &tok); /* greedy: the first maximum */
    }
    return n / (cli_now() - t0);
}

/* sorts v */
static void cell(char *out, size_t cap, double *v, int n) {
    double med, lo, hi;
    stats(v, n, &med, &lo, &hi);
    snprintf(out, cap, "%.2f (%.2f-%.2f)", med, lo, hi);
}

int cmd_bench(const cli_opts *o) {
    int p = 64, n = o->n_predict_set ? o->n_predict : 64;
    if (o->prompt && !cli_parse_int("-p", o->prompt, 0, 1 << 16, &p)) return 2;
    if (n > (1 << 16)) return cli_error("-n expects at most %d for bench", 1 << 16);
    if (p == 0 && n == 0) return cli_error("nothing to measure: -p and -n are both 0");
    if (o->n_positional) return cli_error("bench takes no arguments ('%s')", o->positional[0]);
    int n_list = o->n_thread_list ? o->n_thread_list : 1;
    const int *threads = o->n_thread_list ? o->thread_list : (const int[]){1};
    qw_model *m = cli_load_model(o);
    if (!m) return 1;
    const qw_hparams *hp = qw_model_hparams(m);
    int rc = 1;
    int32_t *toks = malloc((size_t)(p > 0 ? p : 1) * sizeof *toks);
    double *pp = malloc((size_t)o->reps * sizeof *pp), *tg = malloc((size_t)o->reps * sizeof *tg);
    if (!toks || !pp || !tg) {
        cli_error("out of memory");
        goto done;
    }
    uint64_t s = UINT64_C(0x2545F4914F6CDD1D) ^ (o->seed_set ? o->sp.seed : 0);
    for (int i = 0; i < p; i++) toks[i] = (int32_t)(rng_next(&s) % (uint64_t)hp->n_vocab);
    const int32_t first = qw_token_bos(m) >= 0 ? qw_token_bos(m) : 0;

    /* model description */
    const char *name = strrchr(o->model, '/');
    name = name ? name + 1 : o->model;
    uint64_t file_bytes = 0;
    for (int k = 0; k < m->n_shards; k++) file_bytes += m->shards[k]->file_size;
    uint32_t ft = 0xFFFFFFFFu;
    qw_gguf_get_u32(m->shards[0], "general.file_type", false, &ft);
    const char *type = ftype_name(ft) ? ftype_name(ft) : "?";
    double params = (double)qw_model_n_params(m);
    char size_s[32], params_s[32];
    snprintf(size_s, sizeof size_s, "%.2f MiB", (double)file_bytes / (1024.0 * 1024.0));
    if (params >= 1e9) snprintf(params_s, sizeof params_s, "%.2f B", params / 1e9);
    else snprintf(params_s, sizeof params_s, "%.2f M", params / 1e6);

    char pp_h[32], tg_h[32];
    snprintf(pp_h, sizeof pp_h, "pp%d t/s", p);
    snprintf(tg_h, sizeof tg_h, "tg%d t/s", n);
    printf("| model | type | size | params | kernels | threads | %s | %s | peak RSS |\n", pp_h,
           tg_h);
    printf("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
    fflush(stdout);

    int n_ctx = p > n ? p : n;
    if (n_ctx < 16) n_ctx = 16;
    for (int ti = 0; ti < n_list; ti++) {
        qw_context *ctx = NULL;
        if (qw_context_create(m, n_ctx, threads[ti], &ctx) != QW_OK) {
            cli_lib_error("cannot create the context");
            goto done;
        }
        /* warm-up: pages the weights in, starts the threads */
        bool ok = (p == 0 || run_pp(ctx, toks, p < 8 ? p : 8) >= 0) &&
                  (n == 0 || run_tg(ctx, first, n < 2 ? n : 2, hp->n_vocab) >= 0);
        for (int r = 0; ok && r < o->reps; r++) {
            if (p > 0) ok = (pp[r] = run_pp(ctx, toks, p)) >= 0;
            if (ok && n > 0) ok = (tg[r] = run_tg(ctx, first, n, hp->n_vocab)) >= 0;
        }
        qw_context_free(ctx);
        if (!ok) goto done;
        char pp_c[64] = "-", tg_c[64] = "-";
        if (p > 0) cell(pp_c, sizeof pp_c, pp, o->reps);
        if (n > 0) cell(tg_c, sizeof tg_c, tg, o->reps);
        printf("| %s | %s | %s | %s | %s | %d | %s | %s | %.1f MiB |\n", name, type, size_s,
               params_s, qw_kernel_path(), threads[ti], pp_c, tg_c, peak_rss_mib());
        fflush(stdout);
    }
    rc = 0;
done:
    free(toks);
    free(pp);
    free(tg);
    qw_model_free(m);
    return rc;
}

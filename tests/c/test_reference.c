/* The engine against llama.cpp (../shared/reference/toplogits-*.txt):
 * the reference prompt + llama.cpp's own greedy continuation are fed
 * teacher-forced, and at every position the top-5 candidates and their logits
 * must match within the tolerances:
 *   F32 files: every logit within 1e-3; F16 files: within 2e-2;
 *   quantized files: mean difference <= 5e-3 and none above 0.25.
 * Top-5 ids must be identical except where two candidates are closer to each
 * other than the file's tolerance. The KV cache is F32, so the F32-cache
 * references (not *.kvf16.txt) apply. The sequence is fed as llama.cpp fed it
 * (prompt as one batch, then one token at a time); with that, every quantized
 * file is expected bit-identical (see docs/NUMERICS.md), which the printed
 * "first position > 1e-4" of -1 shows. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qw_test.h"
#include "qwasm.h"

#define MAX_POS 128
#define TOPN 5

typedef struct {
    int n_prompt, n_seq;
    int32_t seq[MAX_POS];         /* prompt ids, then greedy ids */
    int n_ref;                    /* positions with a reference top-5 */
    int32_t ref_id[MAX_POS][TOPN];
    float ref_logit[MAX_POS][TOPN];
} reference;

/* "id:logit(piece) id:logit(piece) ..." after `s` */
static int parse_top5(const char *s, int32_t *ids, float *logits) {
    for (int k = 0; k < TOPN; k++) {
        while (*s == ' ') s++;
        char *end;
        long id = strtol(s, &end, 10);
        if (end == s || *end != ':') return 0;
        s = end + 1;
        double lg = strtod(s, &end);
        if (end == s || *end != '(') return 0;
        ids[k] = (int32_t)id;
        logits[k] = (float)lg;
        /* skip the quoted piece: ("...") ; pieces may contain spaces or parens */
        s = strstr(end, "\") ");
        if (!s) {
            if (k == TOPN - 1) return 1;
            return 0;
        }
        s += 3;
    }
    return 1;
}

static int load_reference(const char *path, reference *r) {
    size_t size;
    char *text = (char *)qw_read_file(path, &size);
    if (!text) return 0;
    memset(r, 0, sizeof *r);
    int ok = 1;
    for (char *line = strtok(text, "\n"); line && ok; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "prompt_tokens", 13)) {
            char *s = strchr(line, ':') + 1;
            char *end;
            for (long v = strtol(s, &end, 10); end != s; v = strtol(s, &end, 10)) {
                r->seq[r->n_seq++] = (int32_t)v;
                s = end;
            }
            r->n_prompt = r->n_seq;
        } else if (line[0] == 'p' && line[1] >= '0' && line[1] <= '9') {
            char *arrow = strstr(line, "->");
            ok = arrow && parse_top5(arrow + 2, r->ref_id[r->n_ref], r->ref_logit[r->n_ref]);
            r->n_ref++;
        } else if (line[0] == 'g' && line[1] >= '0' && line[1] <= '9') {
            /* gK id "piece" | top5 — g0's top-5 repeats the last prompt position */
            int step = atoi(line + 1);
            r->seq[r->n_seq++] = (int32_t)atoi(strchr(line, ' ') + 1);
            if (step > 0) {
                char *bar = strstr(line, "\" | ");
                ok = bar && parse_top5(bar + 4, r->ref_id[r->n_ref], r->ref_logit[r->n_ref]);
                r->n_ref++;
            }
        }
        if (r->n_seq >= MAX_POS || r->n_ref >= MAX_POS) ok = 0;
    }
    free(text);
    return ok && r->n_prompt > 0 && r->n_ref == r->n_seq - 1;
}

typedef enum { TOL_F32, TOL_F16, TOL_QUANT } tol_kind;

static void check_model(const char *name, tol_kind kind) {
    char mpath[256], rpath[256];
    snprintf(mpath, sizeof mpath, "models/%s.gguf", name);
    snprintf(rpath, sizeof rpath, "reference/toplogits-%s.txt", name);
    static reference r;
    if (!load_reference(qw_shared_path(rpath), &r)) {
        CHECKF(0, "cannot read %s", rpath);
        return;
    }
    qw_model *m = NULL;
    qw_context *ctx = NULL;
    CHECKF(qw_model_load(qw_shared_path(mpath), &m) == QW_OK, "%s: %s", name, qw_last_error());
    if (!m) return;
    CHECK(qw_context_create(m, 256, 1, &ctx) == QW_OK);
    if (!ctx) {
        qw_model_free(m);
        return;
    }
    /* llama.cpp's protocol: the prompt as one batch, then each greedy id on
     * its own (the last one has no reference after it) */
    const int n = r.n_seq - 1;
    const int V = qw_model_hparams(m)->n_vocab;
    float *all = malloc((size_t)n * V * sizeof(float));
    CHECKF(qw_decode(ctx, r.seq, r.n_prompt, true) == QW_OK, "%s", qw_last_error());
    for (int p = 0; p < r.n_prompt; p++) memcpy(all + (size_t)p * V, qw_logits(ctx, p), V * sizeof(float));
    for (int p = r.n_prompt; p < n; p++) {
        CHECKF(qw_decode(ctx, &r.seq[p], 1, true) == QW_OK, "%s", qw_last_error());
        memcpy(all + (size_t)p * V, qw_logits(ctx, -1), V * sizeof(float));
    }
    const float tol = kind == TOL_F32 ? 1e-3f : kind == TOL_F16 ? 2e-2f : 0.25f;
    double max_diff = 0.0, sum_diff = 0.0;
    int n_diff = 0, rank_mismatch = 0, first_apart = -1;
    for (int p = 0; p < n; p++) {
        const float *l = all + (size_t)p * V;
        /* our own top-5 */
        int32_t top[TOPN];
        for (int k = 0; k < TOPN; k++) top[k] = -1;
        for (int32_t t = 0; t < qw_model_hparams(m)->n_vocab; t++) {
            for (int k = 0; k < TOPN; k++) {
                if (top[k] < 0 || l[t] > l[top[k]]) {
                    memmove(&top[k + 1], &top[k], (size_t)(TOPN - 1 - k) * sizeof(int32_t));
                    top[k] = t;
                    break;
                }
            }
        }
        for (int k = 0; k < TOPN; k++) {
            const double d = fabs((double)l[r.ref_id[p][k]] - (double)r.ref_logit[p][k]);
            if (d > max_diff) max_diff = d;
            if (d > 1e-4 && first_apart < 0) first_apart = p;
            sum_diff += d;
            n_diff++;
            /* same id at each rank, unless the two candidates are within tol */
            if (top[k] != r.ref_id[p][k] &&
                fabsf(l[top[k]] - l[r.ref_id[p][k]]) > tol) {
                rank_mismatch++;
                fprintf(stderr, "%s: pos %d rank %d: ours %d (%.4f), llama.cpp %d (%.4f)\n", name,
                        p, k, top[k], (double)l[top[k]], r.ref_id[p][k],
                        (double)r.ref_logit[p][k]);
            }
        }
    }
    const double mean = sum_diff / (n_diff ? n_diff : 1);
    printf("%-20s positions %3d  max |dlogit| %.6f  mean %.6f  top-5 mismatches %d  first "
           "position > 1e-4: %d\n",
           name, n, max_diff, mean, rank_mismatch, first_apart);
    CHECKF(rank_mismatch == 0, "%s: %d top-5 mismatches", name, rank_mismatch);
    if (kind == TOL_QUANT) {
        CHECKF(mean <= 5e-3, "%s: mean logit difference %.6f > 5e-3", name, mean);
        CHECKF(max_diff <= 0.25, "%s: max logit difference %.6f > 0.25", name, max_diff);
    } else {
        CHECKF(max_diff <= tol, "%s: max logit difference %.6f > %g", name, max_diff, (double)tol);
    }
    free(all);
    qw_context_free(ctx);
    qw_model_free(m);
}

int main(void) {
    qw_require_shared();
    check_model("stories260K-f32", TOL_F32);
    check_model("stories260K-f16", TOL_F16);
    check_model("stories260K-q8_0", TOL_QUANT);
    check_model("stories260K-q4_0", TOL_QUANT);
    check_model("stories260K-q4_k_m", TOL_QUANT);
    check_model("synth15M-f16", TOL_F16);
    check_model("synth15M-q8_0", TOL_QUANT);
    check_model("synth15M-q4_0", TOL_QUANT);
    check_model("synth15M-q4_k_m", TOL_QUANT);
    return qw_test_end();
}

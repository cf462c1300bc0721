/* qwasm eval: teacher-forced logits, one JSON object per position:
 *   {"pos":P,"token":ID,"top":[[id,logit],...]}
 * where top lists the K most likely next tokens after position P.
 * By default the whole sequence is decoded as one batch; --batch N decodes
 * the first N tokens as one batch and the rest one at a time, which is how
 * llama.cpp produced its reference logits (prompt batch, then generation),
 * and gives bit-identical results to it (docs/NUMERICS.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int32_t *parse_ids(const char *s, int *n) {
    size_t cap = strlen(s) / 2 + 1;
    int32_t *ids = malloc(cap * sizeof(int32_t));
    if (!ids) return NULL;
    int k = 0;
    for (;;) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < -2147483647L || v > 2147483647L) {
            cli_error("--tokens: '%s' is not a list of integers", s);
            free(ids);
            return NULL;
        }
        ids[k++] = (int32_t)v;
        s = end;
    }
    *n = k;
    return ids;
}

int cmd_eval(const cli_opts *o) {
    if (!o->prompt == !o->tokens) return cli_error("eval needs exactly one of --prompt or --tokens");
    qw_model *m = cli_load_model(o);
    if (!m) return 1;
    const int V = qw_model_hparams(m)->n_vocab;
    int rc = 1, n = 0;
    qw_context *ctx = NULL;
    int32_t *ids = o->tokens ? parse_ids(o->tokens, &n)
                             : cli_tokenize(m, o->prompt, qw_model_add_bos(m) && !o->no_bos, &n);
    int32_t *top = malloc((size_t)o->top * sizeof(int32_t));
    if (!ids || !top) goto done;
    if (n == 0) {
        cli_error("no tokens to evaluate");
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            cli_error("token id %d at index %d is out of range [0, %d)", ids[i], i, V);
            goto done;
        }
    if (qw_context_create(m, o->n_ctx > 0 ? o->n_ctx : n, o->threads, &ctx) != QW_OK) {
        cli_lib_error("cannot create the context");
        goto done;
    }
    const int V_ = V;
    float *all = malloc((size_t)n * (size_t)V_ * sizeof(float));
    if (!all) {
        cli_error("out of memory for %d rows of logits", n);
        goto done;
    }
    const int first = o->batch > 0 && o->batch < n ? o->batch : n;
    for (int p = 0; p < n;) {
        const int step = p == 0 ? first : 1;
        if (qw_decode(ctx, ids + p, step, true) != QW_OK) {
            free(all);
            cli_lib_error("decode failed");
            goto done;
        }
        for (int k = 0; k < step; k++)
            memcpy(all + (size_t)(p + k) * V_, qw_logits(ctx, k), (size_t)V_ * sizeof(float));
        p += step;
    }
    const int K = o->top < V ? o->top : V;
    for (int p = 0; p < n; p++) {
        const float *l = all + (size_t)p * V_;
        const int k = qw_top_k(l, V, K, top);
        printf("{\"pos\":%d,\"token\":%d,\"top\":[", p, ids[p]);
        for (int j = 0; j < k; j++) printf("%s[%d,%.6f]", j ? "," : "", top[j], (double)l[top[j]]);
        printf("]}\n");
    }
    free(all);
    rc = 0;
done:
    free(ids);
    free(top);
    qw_context_free(ctx);
    qw_model_free(m);
    return rc;
}

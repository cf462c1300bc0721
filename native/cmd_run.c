/* qwasm run: prompt in, streamed text out; speed on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Text produced but not yet printed, held while it could still become the
 * beginning of a stop string. */
typedef struct {
    char *buf;
    size_t len, cap;
} textbuf;

static bool tb_append(textbuf *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->buf, cap);
        if (!p) return false;
        t->buf = p;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return true;
}

/* Prints what is safe to print. Returns true if a stop string was hit (the
 * text before it is printed, the rest dropped). */
static bool tb_flush(textbuf *t, const cli_opts *o, bool final) {
    size_t safe = t->len;
    for (int s = 0; s < o->n_stops; s++) {
        const char *hit = strstr(t->buf, o->stops[s]);
        if (hit) {
            fwrite(t->buf, 1, (size_t)(hit - t->buf), stdout);
            t->len = 0;
            return true;
        }
    }
    if (!final) {
        /* keep the longest tail that is a proper prefix of a stop string */
        for (int s = 0; s < o->n_stops; s++) {
            size_t sl = strlen(o->stops[s]);
            for (size_t k = sl - 1; k > 0; k--) {
                if (k <= t->len && !memcmp(t->buf + t->len - k, o->stops[s], k)) {
                    if (t->len - k < safe) safe = t->len - k;
                    break;
                }
            }
        }
    }
    fwrite(t->buf, 1, safe, stdout);
    memmove(t->buf, t->buf + safe, t->len - safe);
    t->len -= safe;
    if (t->buf) t->buf[t->len] = '\0';
    fflush(stdout);
    return false;
}

int cmd_run(const cli_opts *o) {
    if (!o->prompt) return cli_error("run needs a prompt (-p TEXT)");
    qw_model *m = cli_load_model(o);
    if (!m) return 1;
    const qw_hparams *hp = qw_model_hparams(m);
    int rc = 1, n_prompt = 0;
    qw_context *ctx = NULL;
    qw_sampler *smp = NULL;
    textbuf tb = {0};
    int32_t *prompt = cli_tokenize(m, o->prompt, qw_model_add_bos(m) && !o->no_bos, &n_prompt);
    if (!prompt) goto done;
    if (n_prompt == 0) {
        cli_error("the prompt is empty and the model adds no BOS token");
        goto done;
    }
    int n_ctx = o->n_ctx;
    if (n_ctx <= 0) { /* enough for prompt + generation, within the trained length */
        long want = (long)n_prompt + o->n_predict;
        n_ctx = want < hp->n_ctx_train ? (int)want : hp->n_ctx_train;
        if (n_ctx < 16) n_ctx = 16;
    }
    if (n_prompt > n_ctx) {
        cli_error("the prompt has %d tokens but the context holds %d", n_prompt, n_ctx);
        goto done;
    }
    if (qw_context_create(m, n_ctx, o->threads, &ctx) != QW_OK) {
        cli_lib_error("cannot create the context");
        goto done;
    }
    qw_sampler_params sp = o->sp;
    if (!o->seed_set) sp.seed = (uint64_t)time(NULL);
    if (qw_sampler_create(&sp, hp->n_vocab, &smp) != QW_OK) {
        cli_lib_error("bad sampling options");
        goto done;
    }
    for (int i = 0; i < n_prompt; i++) qw_sampler_accept(smp, prompt[i]);

    fputs(o->prompt, stdout);
    fflush(stdout);
    double t0 = cli_now();
    if (qw_decode(ctx, prompt, n_prompt, false) != QW_OK) {
        cli_lib_error("decode failed");
        goto done;
    }
    double t1 = cli_now();
    const int32_t eos = qw_token_eos(m);
    qw_detok dt = {0};
    char piece[256];
    int n_gen = 0;
    bool stopped = false;
    while (n_gen < o->n_predict && !stopped) {
        int32_t tok = qw_sampler_sample(smp, qw_logits(ctx, -1));
        if (tok == eos) break;
        qw_sampler_accept(smp, tok);
        n_gen++;
        int k = qw_detok_push(m, &dt, tok, piece, sizeof piece);
        if (k < 0 || !tb_append(&tb, piece, (size_t)k)) {
            cli_error("cannot detokenize token %d", tok);
            goto done;
        }
        stopped = tb_flush(&tb, o, false);
        if (stopped || n_gen == o->n_predict) break;
        if (qw_context_pos(ctx) >= qw_context_n_ctx(ctx)) {
            fprintf(stderr, "\nqwasm: context full (%d tokens), stopping\n", qw_context_n_ctx(ctx));
            break;
        }
        if (qw_decode(ctx, &tok, 1, false) != QW_OK) {
            cli_lib_error("decode failed");
            goto done;
        }
    }
    if (!stopped) {
        int k = qw_detok_flush(&dt, piece, sizeof piece);
        if (k > 0) tb_append(&tb, piece, (size_t)k);
        tb_flush(&tb, o, true);
    }
    fputc('\n', stdout);
    fflush(stdout);
    double t2 = cli_now();
    /* the last sampled token is not decoded, so generation did n_gen - 1 forward passes */
    int n_dec = n_gen > 1 ? n_gen - 1 : 0;
    fprintf(stderr,
            "prompt: %d tokens in %.1f ms (%.1f tok/s) | generation: %d tokens in %.1f ms "
            "(%.1f tok/s) | threads %d\n",
            n_prompt, (t1 - t0) * 1e3, n_prompt / (t1 - t0), n_gen, (t2 - t1) * 1e3,
            n_dec > 0 ? n_dec / (t2 - t1) : 0.0, o->threads);
    rc = 0;
done:
    free(tb.buf);
    free(prompt);
    qw_sampler_free(smp);
    qw_context_free(ctx);
    qw_model_free(m);
    return rc;
}

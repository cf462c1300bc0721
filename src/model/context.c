#include "context.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "matmul.h"

static void *alloc_floats(size_t n, int *failed) {
    void *p = NULL;
    if (n == 0) n = 1;
    if (n > SIZE_MAX / sizeof(float) || !(p = calloc(n, sizeof(float)))) *failed = 1;
    return p;
}

qw_status qw_context_create(const qw_model *model, int n_ctx, int n_threads, qw_context **out) {
    if (!out) return qw_fail(QW_ERR_INVALID_ARG, "NULL context out pointer");
    *out = NULL;
    if (!model) return qw_fail(QW_ERR_INVALID_ARG, "NULL model");
    const qw_hparams *hp = &model->hp;
    if (n_ctx <= 0) n_ctx = hp->n_ctx_train;
    if (n_ctx > (1 << 20)) return qw_fail(QW_ERR_INVALID_ARG, "context length %d is too large", n_ctx);
    qw_context *c = calloc(1, sizeof *c);
    if (!c) return qw_fail(QW_ERR_OOM, "out of memory for the context");
    c->model = model;
    c->n_ctx = n_ctx;
    c->n_ctx_pad = (n_ctx + QW_KV_PAD - 1) / QW_KV_PAD * QW_KV_PAD;
    qw_status st = qw_pool_create(n_threads, &c->pool);
    if (st != QW_OK) {
        free(c);
        return st;
    }
    const size_t B = QW_UBATCH, d = (size_t)hp->n_embd;
    const size_t q_dim = (size_t)hp->n_head * hp->head_dim;
    const size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    /* in 64 bits: on a 32-bit target (wasm) the product can wrap around size_t */
    const uint64_t kv64 = (uint64_t)hp->n_layer * (uint64_t)c->n_ctx_pad * (uint64_t)kv_dim;
    const size_t kv_elems = kv64 > SIZE_MAX ? SIZE_MAX : (size_t)kv64;
    int failed = 0;
    c->k_cache = alloc_floats(kv_elems, &failed);
    c->v_cache = alloc_floats(kv_elems, &failed);
    c->x = alloc_floats(B * d, &failed);
    c->xb = alloc_floats(B * d, &failed);
    c->q = alloc_floats(B * q_dim, &failed);
    c->k = alloc_floats(B * kv_dim, &failed);
    c->v = alloc_floats(B * kv_dim, &failed);
    c->att_out = alloc_floats(B * q_dim, &failed);
    c->proj = alloc_floats(B * d, &failed);
    c->hb = alloc_floats(B * (size_t)hp->n_ff, &failed);
    c->hb2 = alloc_floats(B * (size_t)hp->n_ff, &failed);
    c->scores = alloc_floats((size_t)qw_pool_size(c->pool) * (size_t)c->n_ctx_pad, &failed);
    c->rope_cs = alloc_floats(hp->rope_dim > 0 ? (size_t)hp->rope_dim : 1, &failed);
    c->rope_cs_pos = -1;
    /* scratch: the largest quantized activation batch of any weight */
    size_t need = 0;
    const qw_weight *ws[] = {&model->output};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        size_t s = qw_matmul_scratch(ws[i], (int)B);
        if (s > need) need = s;
    }
    for (int l = 0; l < hp->n_layer; l++) {
        const qw_layer *L = &model->layers[l];
        const qw_weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < 7; i++) {
            size_t s = qw_matmul_scratch(lw[i], (int)B);
            if (s > need) need = s;
        }
    }
    c->scratch = aligned_alloc(64, (need + 63) / 64 * 64 + 64);
    if (!c->scratch) failed = 1;
    if (failed) {
        qw_context_free(c);
        return qw_fail(QW_ERR_OOM, "out of memory for a %d-token context (KV cache %llu MB)", n_ctx,
                       (unsigned long long)(kv64 * 2 * sizeof(float) >> 20));
    }
    *out = c;
    return QW_OK;
}

void qw_context_free(qw_context *c) {
    if (!c) return;
    qw_pool_free(c->pool);
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att_out);
    free(c->proj);
    free(c->hb);
    free(c->hb2);
    free(c->scores);
    free(c->rope_cs);
    free(c->scratch);
    free(c->logits);
    free(c);
}

void qw_context_truncate(qw_context *c, int n) {
    if (n < 0) n = 0;
    if (n >= c->pos) return;
    /* padded attention reads cache slots past the last position (as zeros
     * weighted by zero), so the dropped slots are cleared, not left stale */
    const qw_hparams *hp = &c->model->hp;
    const size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t drop = (size_t)(c->pos - n);
    for (int l = 0; l < hp->n_layer; l++) {
        float *k = c->k_cache + (size_t)l * c->n_ctx_pad * kv_dim;
        float *v = c->v_cache + (size_t)l * kv_dim * c->n_ctx_pad;
        memset(k + (size_t)n * kv_dim, 0, drop * kv_dim * sizeof(float));
        for (size_t i = 0; i < kv_dim; i++) memset(v + i * c->n_ctx_pad + n, 0, drop * sizeof(float));
    }
    c->pos = n;
    c->n_logit_rows = 0; /* the logits were of tokens now gone (or of no use) */
    c->last_n = 0;
}

void qw_context_reset(qw_context *c) { qw_context_truncate(c, 0); }

int qw_context_pos(const qw_context *c) { return c->pos; }
int qw_context_n_ctx(const qw_context *c) { return c->n_ctx; }

const float *qw_logits(const qw_context *c, int i) {
    if (c->n_logit_rows == 0) return NULL;
    if (i < 0) i = c->last_n - 1;
    if (i >= c->last_n) return NULL;
    int row = c->logits_all ? i : (i == c->last_n - 1 ? 0 : -1);
    if (row < 0) return NULL;
    return c->logits + (size_t)row * (size_t)c->model->hp.n_vocab;
}

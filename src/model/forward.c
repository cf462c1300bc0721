/* The llama forward pass, top to bottom.
 *
 * For a micro-batch of B tokens at positions pos..pos+B-1:
 *   x = embed(tokens)
 *   per layer:  x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
 *               x += Wdown · (silu(Wgate·norm(x)) * Wup·norm(x))
 *   logits = Wout · norm(x)
 * Weights stay in their stored type; every product goes through qw_matmul. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/trig.h"
#include "../quant/kernels.h"
#include "../quant/types.h"
#include "context.h"
#include "matmul.h"

/* y = x / rms(x) * w. The squares are summed in double; the mean is rounded
 * to float before eps is added (llama.cpp's order: adding eps in double
 * instead moves the scale by an ulp on some rows, enough to flip a Q8
 * rounding downstream). */
static void rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    const float mean = (float)(ss / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
}

/* The rotation of position `pos`: cs[2i], cs[2i+1] = cos, sin of
 * theta_i = pos * freq_scale * base^(-2i/rope_dim) [/ freq_factor_i], for
 * i < rope_dim/2; computed once per token and shared by all its heads. */
static void rope_table(float *cs, int pos, const qw_model *m) {
    const qw_hparams *hp = &m->hp;
    const int nd = hp->rope_dim;
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)nd);
    float theta = (float)pos;
    for (int i = 0; i < nd / 2; i++) {
        float t = theta;
        if (m->rope_freqs) t /= m->rope_freqs[i];
        t *= m->rope_freq_scale;
        qw_sincosf(t, &cs[2 * i + 1], &cs[2 * i]); /* not libm: same bits on every target */
        theta *= theta_scale;
    }
}

/* ------------------------------------------------------ attention -- */

typedef struct {
    qw_context *c;
    int layer;
    int B;       /* tokens in the micro-batch */
    int pos0;    /* position of the first */
    int batched; /* the decode call has >= 2 tokens (see below) */
    atomic_int next; /* the next (token, head) pair nobody has taken yet */
} attn_job;

/* One (token, head) pair: causal softmax(q·K / sqrt(hd)) · V over the cache.
 *
 * Keys are padded to a multiple of QW_KV_PAD; padded and future positions are
 * masked (-inf, weight 0). The float order is llama.cpp's, so that our logits
 * agree with it bit for bit where its matmuls do (docs/NUMERICS.md): q·k
 * always in steps64 order; the softmax with qw_vexpf over 16-lane chunks, its
 * sum in double; the weighted sum of V in lanes16 order when the decode call
 * is a batch and steps64 for a single token. */
static void attend(const attn_job *j, int b, int h, float *att) {
    const qw_context *c = j->c;
    const qw_hparams *hp = &c->model->hp;
    const int hd = hp->head_dim;
    const int kv_dim = hp->n_head_kv * hd;
    const int kvh = h / (hp->n_head / hp->n_head_kv); /* grouped-query: shared kv head */
    const int n_pos = j->pos0 + b + 1;                /* keys visible to this token */
    const int n_kv = (j->pos0 + j->B + QW_KV_PAD - 1) / QW_KV_PAD * QW_KV_PAD; /* padded */
    const float *q = c->q + (size_t)b * hp->n_head * hd + (size_t)h * hd;  /* [hd] */
    const float *kc = c->k_cache + (size_t)j->layer * c->n_ctx_pad * kv_dim +
                      (size_t)kvh * hd;                                  /* [n_ctx_pad][kv_dim] */
    const float *vt = c->v_cache + (size_t)j->layer * kv_dim * c->n_ctx_pad +
                      (size_t)kvh * hd * c->n_ctx_pad;                  /* [hd][n_ctx_pad] */
    const float scale = 1.0f / sqrtf((float)hd);
    /* the active kernel set's forms of accum.h / vexp.h (bit-identical) */
    const qw_dot_f32_fn dot_lanes16 = qw_get_dot_f32_lanes16();

    qw_get_dot_f32_steps64_keys()(q, kc, (size_t)kv_dim, n_pos, hd, att); /* q·k of every visible key */
    float max = -INFINITY;
    for (int t = 0; t < n_kv; t++) {
        att[t] = t < n_pos ? att[t] * scale : -INFINITY;
        if (att[t] > max) max = att[t];
    }
    /* qw_vexpf over the 16-lane chunks, each chunk's qw_hsum16 summed in double */
    double sum = qw_get_exp_sum16()(att, n_kv, max);
    int t = n_kv & ~15;
    for (; t < n_kv; t++) {
        att[t] = expf(att[t] - max);
        sum += (double)att[t];
    }
    const float inv = (float)(1.0 / sum);
    for (t = 0; t < n_kv; t++) att[t] *= inv;

    float *out = c->att_out + (size_t)b * hp->n_head * hd + (size_t)h * hd; /* [hd] */
    if (j->batched) {
        for (int i = 0; i < hd; i++) /* value i at every position: row i of vt */
            out[i] = dot_lanes16(att, vt + (size_t)i * c->n_ctx_pad, n_kv);
    } else { /* the same steps64 dots as q·K above: all hd rows of vt in one call */
        qw_get_dot_f32_steps64_keys()(att, vt, (size_t)c->n_ctx_pad, hd, n_kv, out);
    }
}

/* (token, head) pairs are taken dynamically: pair ith first, then the next
 * free one (a preempted thread does not hold the others up) */
static void attention_worker(void *arg, int ith, int nth) {
    attn_job *j = arg;
    (void)nth;
    const int n_head = j->c->model->hp.n_head;
    float *att = j->c->scores + (size_t)ith * j->c->n_ctx_pad;
    for (int idx = ith; idx < j->B * n_head; idx = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed))
        attend(j, idx / n_head, idx % n_head, att);
}

/* SiLU(gate) * up, in place in gate: 16-element chunks use qw_vexpf, the
 * tail libm expf (llama.cpp's split); qw_swiglu_ref in quant/dispatch.c is
 * the reference, the active kernel set may have a bit-identical form. */
static void swiglu(float *gate, const float *up, int n) { qw_get_swiglu()(gate, up, n); }

/* --------------------------------------------------------- layers -- */

static void forward_layer(qw_context *c, int l, int B, int pos0, int batched) {
    const qw_model *m = c->model;
    const qw_hparams *hp = &m->hp;
    const qw_layer *L = &m->layers[l];
    const qw_rope_fn rope = qw_get_rope();
    const int d = hp->n_embd, hd = hp->head_dim;
    const int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;

    /* attention block */
    for (int b = 0; b < B; b++)
        rmsnorm(c->xb + (size_t)b * d, c->x + (size_t)b * d, L->attn_norm, d, hp->rms_eps);
    { /* q [B][q_dim], k and v [B][kv_dim]: one input, one job */
        const qw_weight *W[3] = {&L->wq, &L->wk, &L->wv};
        float *const Y[3] = {c->q, c->k, c->v};
        qw_matmul_n(W, Y, 3, c->xb, B, c->scratch, c->pool);
    }
    const size_t k_off = (size_t)l * c->n_ctx_pad * kv_dim, v_off = (size_t)l * kv_dim * c->n_ctx_pad;
    for (int b = 0; b < B; b++) {
        /* the rotation (qw_rope_ref in quant/dispatch.c; the active kernel
         * set may have a bit-identical form) of every q and k head */
        if (c->rope_cs_pos != pos0 + b) { /* layer 0 computes it, the others reuse it */
            rope_table(c->rope_cs, pos0 + b, m);
            c->rope_cs_pos = pos0 + b;
        }
        rope(c->q + (size_t)b * q_dim, hp->n_head, hd, c->rope_cs, hp->rope_dim, hp->rope_neox);
        rope(c->k + (size_t)b * kv_dim, hp->n_head_kv, hd, c->rope_cs, hp->rope_dim, hp->rope_neox);
        memcpy(c->k_cache + k_off + (size_t)(pos0 + b) * kv_dim, c->k + (size_t)b * kv_dim,
               (size_t)kv_dim * sizeof(float));
        for (int i = 0; i < kv_dim; i++) /* V transposed: [kv_dim][n_ctx_pad] */
            c->v_cache[v_off + (size_t)i * c->n_ctx_pad + (size_t)(pos0 + b)] = c->v[(size_t)b * kv_dim + i];
    }
    attn_job aj = {c, l, B, pos0, batched, 0};
    atomic_init(&aj.next, qw_pool_size(c->pool));
    qw_pool_run(c->pool, attention_worker, &aj);
    qw_matmul(&L->wo, c->att_out, B, c->proj, c->scratch, c->pool); /* [B][d] */
    for (size_t i = 0; i < (size_t)B * d; i++) c->x[i] += c->proj[i];

    /* feed-forward block (SwiGLU) */
    for (int b = 0; b < B; b++)
        rmsnorm(c->xb + (size_t)b * d, c->x + (size_t)b * d, L->ffn_norm, d, hp->rms_eps);
    { /* gate and up [B][n_ff] */
        const qw_weight *W[2] = {&L->w_gate, &L->w_up};
        float *const Y[2] = {c->hb, c->hb2};
        qw_matmul_n(W, Y, 2, c->xb, B, c->scratch, c->pool);
    }
    for (int b = 0; b < B; b++)
        swiglu(c->hb + (size_t)b * hp->n_ff, c->hb2 + (size_t)b * hp->n_ff, hp->n_ff);
    qw_matmul(&L->w_down, c->hb, B, c->proj, c->scratch, c->pool); /* [B][d] */
    for (size_t i = 0; i < (size_t)B * d; i++) c->x[i] += c->proj[i];
}

/* Runs B tokens; writes logits of rows [first_logit, B) to `logits`. */
static void forward_batch(qw_context *c, const int32_t *tokens, int B, int batched,
                          int first_logit, float *logits) {
    const qw_model *m = c->model;
    const qw_hparams *hp = &m->hp;
    const int d = hp->n_embd;
    const qw_type_traits *et = qw_type_get(m->tok_embd.type);
    for (int b = 0; b < B; b++) /* embedding lookup: dequantize one row */
        et->to_float((const uint8_t *)m->tok_embd.data + (size_t)tokens[b] * m->tok_embd.row_bytes,
                     c->x + (size_t)b * d, d);
    for (int l = 0; l < hp->n_layer; l++) forward_layer(c, l, B, c->pos, batched);
    c->pos += B;
    if (first_logit >= B) return;
    const int nl = B - first_logit;
    for (int b = 0; b < nl; b++)
        rmsnorm(c->xb + (size_t)b * d, c->x + (size_t)(first_logit + b) * d, m->output_norm, d,
                hp->rms_eps);
    qw_matmul(&m->output, c->xb, nl, logits, c->scratch, c->pool); /* [nl][n_vocab] */
}

qw_status qw_decode(qw_context *c, const int32_t *tokens, int n, bool all_logits) {
    if (!c || (!tokens && n > 0)) return qw_fail(QW_ERR_INVALID_ARG, "NULL context or tokens");
    const int n_vocab = c->model->hp.n_vocab;
    if (n <= 0) return qw_fail(QW_ERR_INVALID_ARG, "nothing to decode (%d tokens)", n);
    if (n > c->n_ctx - c->pos)
        return qw_fail(QW_ERR_INVALID_ARG,
                       "context full: %d tokens in the cache + %d new > context length %d",
                       c->pos, n, c->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return qw_fail(QW_ERR_INVALID_ARG, "token id %d at index %d is out of range [0, %d)",
                           tokens[i], i, n_vocab);
    const size_t rows = all_logits ? (size_t)n : 1;
    if (rows * (size_t)n_vocab > c->logits_cap) {
        float *p = realloc(c->logits, rows * (size_t)n_vocab * sizeof(float));
        if (!p) return qw_fail(QW_ERR_OOM, "out of memory for %zu rows of logits", rows);
        c->logits = p;
        c->logits_cap = rows * (size_t)n_vocab;
    }
    for (int i0 = 0; i0 < n; i0 += QW_UBATCH) {
        const int B = n - i0 < QW_UBATCH ? n - i0 : QW_UBATCH;
        if (all_logits)
            forward_batch(c, tokens + i0, B, n > 1, 0, c->logits + (size_t)i0 * n_vocab);
        else
            forward_batch(c, tokens + i0, B, n > 1, i0 + B == n ? B - 1 : B, c->logits);
    }
    c->logits_all = all_logits;
    c->last_n = n;
    c->n_logit_rows = (int)rows;
    return QW_OK;
}

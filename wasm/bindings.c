/* WebAssembly exports: a thin C layer over the public API (src/qwasm.h) for
 * wasm/engine.mjs. Handles are plain pointers into wasm memory. Functions that
 * can fail return 0 / -1 and leave the status in qwb_last_status() and the
 * message in qw_last_error(). Nothing here prints. */
#include <emscripten/emscripten.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/sha256.h"
#include "model/model.h"
#include "qwasm.h"
#include "quant/kernels.h"
#include "quant/types.h"

static int g_status; /* status of the last fallible call (main thread only) */

static int set_status(qw_status s) {
    g_status = (int)s;
    return (int)s;
}

EMSCRIPTEN_KEEPALIVE int qwb_last_status(void) { return g_status; }
EMSCRIPTEN_KEEPALIVE const char *qwb_last_error(void) { return qw_last_error(); }
EMSCRIPTEN_KEEPALIVE const char *qwb_status_name(int s) { return qw_status_name((qw_status)s); }
EMSCRIPTEN_KEEPALIVE const char *qwb_kernel_path(void) { return qw_kernel_path(); }
EMSCRIPTEN_KEEPALIVE const char *qwb_type_name(int t) { return qw_type_name((uint32_t)t); }
/* 0: baseline SIMD128 build; 1: relaxed-SIMD build whose multiply-add is
 * fused here; -1: relaxed-SIMD build on a machine where it is not (the
 * engine refuses to run it: its results would differ) */
EMSCRIPTEN_KEEPALIVE int qwb_fma_fused(void) { return qw_wasm_fma_fused(); }

EMSCRIPTEN_KEEPALIVE void *qwb_malloc(size_t n) { return malloc(n ? n : 1); }
EMSCRIPTEN_KEEPALIVE void qwb_free(void *p) { free(p); }

/* ---------------------------------------------------------------- model -- */

EMSCRIPTEN_KEEPALIVE void qwb_model_free(qw_model *m) { qw_model_free(m); }

/* ------------------------------------------------------- streaming load -- */
/* The staged loader (qw_loader_*): engine.mjs writes each chunk of the file
 * straight into qwb_loader_buffer at its offset. file_size and the byte counts
 * are doubles so that sizes past 2 GB survive the JS -> wasm32 call. A split
 * model's name is checked by the C loader (one part alone: UNSUPPORTED). */

EMSCRIPTEN_KEEPALIVE qw_loader *qwb_loader_create(double file_size, const char *name) {
    if (!(file_size >= 0) || file_size > 18446744073709551615.0) {
        set_status(qw_fail(QW_ERR_INVALID_ARG, "invalid file size %g", file_size));
        return NULL;
    }
    qw_loader *l = NULL;
    if (set_status(qw_loader_create((uint64_t)file_size, name, &l)) != QW_OK) return NULL;
    return l;
}

/* A split model: n parts of sizes[0..n) bytes (doubles), streamed in order;
 * part i goes to qwb_loader_buffer(l) + qwb_loader_part_offset(l, i). */
EMSCRIPTEN_KEEPALIVE qw_loader *qwb_loader_create_parts(int n, const double *sizes,
                                                        const char *name) {
    if (n < 1 || n > QW_MAX_SPLITS) {
        set_status(n < 1 ? qw_fail(QW_ERR_INVALID_ARG, "%d parts", n)
                         : qw_fail(QW_ERR_UNSUPPORTED, "%d parts is more than %d", n,
                                   QW_MAX_SPLITS));
        return NULL;
    }
    uint64_t sz[QW_MAX_SPLITS];
    for (int i = 0; i < n; i++) {
        if (!(sizes[i] >= 0) || sizes[i] > 18446744073709551615.0) {
            set_status(qw_fail(QW_ERR_INVALID_ARG, "invalid size %g of part %d", sizes[i], i + 1));
            return NULL;
        }
        sz[i] = (uint64_t)sizes[i];
    }
    qw_loader *l = NULL;
    if (set_status(qw_loader_create_parts(n, sz, name, &l)) != QW_OK) return NULL;
    return l;
}

EMSCRIPTEN_KEEPALIVE double qwb_loader_part_offset(const qw_loader *l, int part) {
    return (double)qw_loader_part_offset(l, part);
}

EMSCRIPTEN_KEEPALIVE uint8_t *qwb_loader_buffer(qw_loader *l) { return qw_loader_buffer(l); }

/* -1: the header is unusable (status and message set); 0: validated; > 0:
 * call again once that many bytes are in. */
EMSCRIPTEN_KEEPALIVE double qwb_loader_header(qw_loader *l, double have) {
    uint64_t need = 0;
    if (set_status(qw_loader_header(l, (uint64_t)have, &need)) != QW_OK) return -1;
    return (double)need;
}

EMSCRIPTEN_KEEPALIVE qw_model *qwb_loader_finish(qw_loader *l, double have) {
    qw_model *m = NULL;
    if (set_status(qw_loader_finish(l, (uint64_t)have, &m)) != QW_OK) return NULL;
    return m;
}

EMSCRIPTEN_KEEPALIVE void qwb_loader_free(qw_loader *l) { qw_loader_free(l); }

/* ---------------------------------------------------------------- sha256 -- */
/* Incremental SHA-256 over wasm memory (engine.mjs hashes the loaded bytes in
 * place, in slices, before the model is built). */

EMSCRIPTEN_KEEPALIVE qw_sha256 *qwb_sha256_new(void) {
    qw_sha256 *s = malloc(sizeof *s);
    if (s) qw_sha256_init(s);
    return s;
}
EMSCRIPTEN_KEEPALIVE void qwb_sha256_update(qw_sha256 *s, const uint8_t *p, double n) {
    qw_sha256_update(s, p, (size_t)n);
}
/* Writes 64 hex digits + NUL to out and frees the state. */
EMSCRIPTEN_KEEPALIVE void qwb_sha256_final(qw_sha256 *s, char *out) {
    uint8_t d[32];
    qw_sha256_final(s, d);
    qw_sha256_hex(d, out);
    free(s);
}

EMSCRIPTEN_KEEPALIVE const char *qwb_model_arch(const qw_model *m) {
    return qw_model_hparams(m)->arch;
}

/* Numeric facts about a model, written to out[0..22) as doubles (all exact). */
enum {
    QWB_N_VOCAB, QWB_N_CTX_TRAIN, QWB_N_EMBD, QWB_N_LAYER, QWB_N_HEAD, QWB_N_HEAD_KV,
    QWB_HEAD_DIM, QWB_N_FF, QWB_ROPE_DIM, QWB_ROPE_BASE, QWB_ROPE_NEOX, QWB_RMS_EPS,
    QWB_TIED, QWB_BOS, QWB_EOS, QWB_ADD_BOS, QWB_N_PARAMS, QWB_WEIGHT_BYTES, QWB_FILE_BYTES,
    QWB_GGUF_VERSION, QWB_N_SHARDS, QWB_ROPE_FREQS, QWB_N_FIELDS
};

EMSCRIPTEN_KEEPALIVE int qwb_model_info(const qw_model *m, double *out) {
    const qw_hparams *hp = qw_model_hparams(m);
    uint64_t file_bytes = 0;
    for (int s = 0; s < m->n_shards; s++) file_bytes += m->shards[s]->file_size;
    out[QWB_N_VOCAB] = hp->n_vocab;
    out[QWB_N_CTX_TRAIN] = hp->n_ctx_train;
    out[QWB_N_EMBD] = hp->n_embd;
    out[QWB_N_LAYER] = hp->n_layer;
    out[QWB_N_HEAD] = hp->n_head;
    out[QWB_N_HEAD_KV] = hp->n_head_kv;
    out[QWB_HEAD_DIM] = hp->head_dim;
    out[QWB_N_FF] = hp->n_ff;
    out[QWB_ROPE_DIM] = hp->rope_dim;
    out[QWB_ROPE_BASE] = (double)hp->rope_base;
    out[QWB_ROPE_NEOX] = hp->rope_neox;
    out[QWB_RMS_EPS] = (double)hp->rms_eps;
    out[QWB_TIED] = hp->tied_output;
    out[QWB_BOS] = qw_token_bos(m);
    out[QWB_EOS] = qw_token_eos(m);
    out[QWB_ADD_BOS] = qw_model_add_bos(m);
    out[QWB_N_PARAMS] = (double)qw_model_n_params(m);
    out[QWB_WEIGHT_BYTES] = (double)qw_model_weight_bytes(m);
    out[QWB_FILE_BYTES] = (double)file_bytes;
    out[QWB_GGUF_VERSION] = m->shards[0]->version;
    out[QWB_N_SHARDS] = m->n_shards;
    out[QWB_ROPE_FREQS] = m->rope_freqs != NULL;
    return QWB_N_FIELDS;
}

/* Tensors of GGUF type t in the model (0 for t outside [0, 64)). */
EMSCRIPTEN_KEEPALIVE int qwb_model_type_count(const qw_model *m, int t) {
    return t >= 0 && t < 64 ? (int)m->type_hist[t] : 0;
}

/* general.file_type (llama.cpp's llama_ftype, for `bench`), or -1 if absent. */
EMSCRIPTEN_KEEPALIVE int qwb_model_file_type(const qw_model *m) {
    uint32_t ft = 0xFFFFFFFFu;
    if (qw_gguf_get_u32(m->shards[0], "general.file_type", false, &ft) != QW_OK) return -1;
    return ft > 0x7FFFFFFFu ? -1 : (int)ft;
}

/* ------------------------------------------------------------ tokenizer -- */

/* Same contract as qw_tokenize (count needed, may exceed cap; -1 on error). */
EMSCRIPTEN_KEEPALIVE int qwb_tokenize(const qw_model *m, const char *text, size_t len,
                                      int add_bos, int32_t *out, int cap) {
    int k = qw_tokenize(m, text, len, add_bos != 0, out, cap);
    set_status(k < 0 ? QW_ERR_INVALID_ARG : QW_OK);
    return k;
}

EMSCRIPTEN_KEEPALIVE int qwb_token_to_bytes(const qw_model *m, int32_t tok, char *out, int cap) {
    return qw_token_to_bytes(m, tok, out, cap);
}

EMSCRIPTEN_KEEPALIVE qw_detok *qwb_detok_new(void) { return calloc(1, sizeof(qw_detok)); }
EMSCRIPTEN_KEEPALIVE void qwb_detok_free(qw_detok *d) { free(d); }
EMSCRIPTEN_KEEPALIVE int qwb_detok_push(const qw_model *m, qw_detok *d, int32_t tok, char *out,
                                        int cap) {
    return qw_detok_push(m, d, tok, out, cap);
}
EMSCRIPTEN_KEEPALIVE int qwb_detok_flush(qw_detok *d, char *out, int cap) {
    return qw_detok_flush(d, out, cap);
}

/* -------------------------------------------------------------- context -- */

EMSCRIPTEN_KEEPALIVE qw_context *qwb_context_create(const qw_model *m, int n_ctx, int n_threads) {
    qw_context *c = NULL;
    if (set_status(qw_context_create(m, n_ctx, n_threads, &c)) != QW_OK) return NULL;
    return c;
}
EMSCRIPTEN_KEEPALIVE void qwb_context_free(qw_context *c) { qw_context_free(c); }
EMSCRIPTEN_KEEPALIVE void qwb_context_reset(qw_context *c) { qw_context_reset(c); }
EMSCRIPTEN_KEEPALIVE void qwb_context_truncate(qw_context *c, int n) { qw_context_truncate(c, n); }
EMSCRIPTEN_KEEPALIVE int qwb_context_pos(const qw_context *c) { return qw_context_pos(c); }
EMSCRIPTEN_KEEPALIVE int qwb_context_n_ctx(const qw_context *c) { return qw_context_n_ctx(c); }

EMSCRIPTEN_KEEPALIVE int qwb_decode(qw_context *c, const int32_t *tokens, int n, int all_logits) {
    return set_status(qw_decode(c, tokens, n, all_logits != 0));
}

EMSCRIPTEN_KEEPALIVE const float *qwb_logits(const qw_context *c, int i) {
    return qw_logits(c, i);
}

/* The greedy token of the last logits row (qw_top_k's first maximum), what
 * native `qwasm bench` picks between generated tokens: the bench page calls
 * this instead of scanning the vocabulary from JavaScript (~3% of a synth15M
 * token in wasm). -1 without logits or for n_vocab < 1. */
EMSCRIPTEN_KEEPALIVE int32_t qwb_argmax(const qw_context *c, int n_vocab) {
    int32_t best;
    return qw_top_k(qw_logits(c, -1), n_vocab, 1, &best) == 1 ? best : -1;
}

/* The K best candidates of logits row i (descending logit, ties by lower id),
 * the same selection as `qwasm eval`. Writes ids and values; returns the
 * count, or -1 if the row was not kept. */
EMSCRIPTEN_KEEPALIVE int qwb_top_k(const qw_context *c, int V, int i, int K, int32_t *top,
                                   float *vals) {
    const float *l = qw_logits(c, i);
    if (!l) return -1;
    const int k = qw_top_k(l, V, K, top);
    for (int j = 0; j < k; j++) vals[j] = l[top[j]];
    return k;
}

/* -------------------------------------------------------------- sampler -- */

EMSCRIPTEN_KEEPALIVE qw_sampler *qwb_sampler_create(int n_vocab, float temperature, int top_k,
                                                    float top_p, float min_p,
                                                    float repeat_penalty, int repeat_last_n,
                                                    uint32_t seed_lo, uint32_t seed_hi) {
    qw_sampler_params p = qw_sampler_defaults();
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = repeat_penalty;
    if (repeat_last_n >= 0) p.repeat_last_n = repeat_last_n;
    p.seed = ((uint64_t)seed_hi << 32) | seed_lo;
    qw_sampler *s = NULL;
    if (set_status(qw_sampler_create(&p, n_vocab, &s)) != QW_OK) return NULL;
    return s;
}

/* Defaults as doubles: temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n. */
EMSCRIPTEN_KEEPALIVE void qwb_sampler_defaults(double *out) {
    qw_sampler_params p = qw_sampler_defaults();
    out[0] = (double)p.temperature;
    out[1] = p.top_k;
    out[2] = (double)p.top_p;
    out[3] = (double)p.min_p;
    out[4] = (double)p.repeat_penalty;
    out[5] = p.repeat_last_n;
}

EMSCRIPTEN_KEEPALIVE void qwb_sampler_free(qw_sampler *s) { qw_sampler_free(s); }
EMSCRIPTEN_KEEPALIVE int32_t qwb_sampler_sample(qw_sampler *s, const qw_context *c) {
    return qw_sampler_sample(s, qw_logits(c, -1));
}
EMSCRIPTEN_KEEPALIVE void qwb_sampler_accept(qw_sampler *s, int32_t tok) {
    qw_sampler_accept(s, tok);
}

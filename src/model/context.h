/* Inference state: KV cache, scratch buffers, logits, thread pool. */
#ifndef QW_CONTEXT_H
#define QW_CONTEXT_H

#include "../core/pool.h"
#include "model.h"

/* tokens processed together in one pass of the forward loop */
#define QW_UBATCH 32
/* attention key padding (positions past the last token count as masked) */
#define QW_KV_PAD 32

struct qw_context {
    const qw_model *model;
    int n_ctx;          /* KV cache length */
    int n_ctx_pad;      /* n_ctx rounded up to QW_KV_PAD: attention runs over
                           keys padded to a multiple of 32, as llama.cpp does */
    int pos;            /* tokens already in the cache */
    qw_pool *pool;

    float *k_cache;     /* [n_layer][n_ctx_pad][kv_dim] */
    float *v_cache;     /* [n_layer][kv_dim][n_ctx_pad]: transposed, so the
                           weighted sum over positions reads contiguously */

    /* scratch for one micro-batch of B <= QW_UBATCH tokens */
    float *x;           /* [B][n_embd]  residual stream */
    float *xb;          /* [B][n_embd]  normed input of a sublayer */
    float *q;           /* [B][n_head*head_dim] */
    float *k;           /* [B][kv_dim] */
    float *v;           /* [B][kv_dim] */
    float *att_out;     /* [B][n_head*head_dim] */
    float *proj;        /* [B][n_embd]  sublayer output before the residual add */
    float *hb;          /* [B][n_ff]    gate, then silu(gate)*up */
    float *hb2;         /* [B][n_ff]    up */
    float *scores;      /* [n_threads][n_ctx_pad] attention weights */
    float *rope_cs;     /* [rope_dim] cos, sin pairs of one position */
    int rope_cs_pos;    /* that position (-1: none yet); every layer of a token uses the same table */
    void *scratch;      /* quantized activations, see qw_matmul_scratch */

    float *logits;      /* [n_logit_rows][n_vocab] */
    int n_logit_rows;   /* rows held from the last decode */
    int logits_all;     /* row i = token i of the last decode (else only the last) */
    int last_n;         /* tokens in the last decode */
    size_t logits_cap;  /* floats allocated */
};

#endif

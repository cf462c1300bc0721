/* The in-memory model: hyperparameters, weight views into the GGUF bytes
 * (never copied, never expanded to float), and the tokenizer. */
#ifndef QW_MODEL_H
#define QW_MODEL_H

#include <stdint.h>

#include "../core/mapfile.h"
#include "../gguf/gguf.h"
#include "../qwasm.h"
#include "../text/tokenizer.h"

#define QW_MAX_SPLITS 256

/* A weight matrix as stored: n_rows rows of n_cols elements of `type`.
 * y = W x means y[r] = dot(row r, x) for r < n_rows, with x of length n_cols. */
typedef struct qw_weight {
    const void *data;
    uint32_t type;
    int64_t n_cols; /* ne[0] */
    int64_t n_rows; /* ne[1] */
    size_t row_bytes;
} qw_weight;

typedef struct qw_layer {
    float *attn_norm;               /* [n_embd] (always converted to F32) */
    qw_weight wq;                   /* [n_head*head_dim rows][n_embd] */
    qw_weight wk;                   /* [n_head_kv*head_dim][n_embd] */
    qw_weight wv;                   /* [n_head_kv*head_dim][n_embd] */
    qw_weight wo;                   /* [n_embd][n_head*head_dim] */
    float *ffn_norm;                /* [n_embd] */
    qw_weight w_gate;               /* [n_ff][n_embd] */
    qw_weight w_up;                 /* [n_ff][n_embd] */
    qw_weight w_down;               /* [n_embd][n_ff] */
} qw_layer;

struct qw_model {
    qw_hparams hp;
    float rope_freq_scale; /* 1 / rope scaling factor (linear) */
    float *rope_freqs;     /* optional per-pair frequency divisors [rope_dim/2] */
    qw_weight tok_embd;    /* [n_vocab rows][n_embd] */
    float *output_norm;    /* [n_embd] */
    qw_weight output;      /* [n_vocab][n_embd]; == tok_embd when tied */
    qw_layer *layers;      /* [n_layer] */
    qw_tokenizer *tok;
    uint64_t weight_bytes;
    uint64_t n_params;
    uint32_t type_hist[64]; /* tensors per type id */
    /* storage */
    int n_shards;
    qw_gguf *shards[QW_MAX_SPLITS];
    qw_mapping maps[QW_MAX_SPLITS]; /* only for qw_model_load (files) */
};

/* Builds a model from parsed shards (shard 0 holds the metadata). Takes
 * ownership of nothing; on success the model refers to the shards. */
qw_status qw_model_init_from_gguf(qw_model *m);

#endif

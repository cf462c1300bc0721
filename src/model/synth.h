/* Synthetic models: random-weight GGUF files with the exact shapes of real
 * llama-architecture models, for throughput work and loader/kernel
 * cross-checks (llama.cpp loads them too). NOT language models.
 *
 * Weights are seeded Gaussian noise. Row r of tensor t depends only on (seed,
 * tensor name's position in the layout, r), so a file is the same whatever
 * the thread count, and the same seed gives the same underlying F32 weights
 * in every file type (only the quantization differs).
 *
 * Standard deviations follow shared/models/synth15M (token_embd 0.02, output
 * 0.15, block matrices 0.05, norms 1.0) at width 288, and the output and
 * block-matrix ones are scaled by sqrt(288 / n_embd) at other widths, so a
 * matrix-vector product keeps synth15M's output variance (with the unscaled
 * 0.05 it would be 7.1x larger at 2048 wide).
 *
 * Tensor types follow llama-quantize (llama.cpp src/llama-quant.cpp) for the
 * file types offered: F16 (every matrix F16), Q8_0 (every matrix Q8_0),
 * Q4_0 (Q4_0; output, or token_embd when tied, Q6_K) and Q4_K_M (Q4_K;
 * attn_v and ffn_down Q6_K on the "use_more_bits" layers; output, or
 * token_embd when tied, Q6_K). A type whose block does not divide the row
 * falls back as llama.cpp does (Q4_K -> Q5_0, Q6_K -> Q8_0, output -> Q8_0,
 * then F16). Norms are F32. Quantization uses the reference quantizers,
 * which are llama.cpp's *_ref ones (what llama-quantize uses without an
 * importance matrix).
 *
 * Library side only: no printing. Every failure returns a qw_status with a
 * one-line qw_last_error(). */
#ifndef QW_SYNTH_H
#define QW_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "../qwasm.h"
#include "../quant/types.h"

typedef struct qw_synth_shape {
    const char *name; /* "stories15m", "smollm2-135m", "llama3.2-1b" */
    int n_layer;
    int n_embd;
    int n_head;
    int n_head_kv;
    int n_ff;
    int n_vocab;
    int n_ctx;        /* llama.context_length */
    float rope_base;  /* llama.rope.freq_base */
    bool tied_output; /* no output.weight: token_embd is the classifier */
} qw_synth_shape;

/* Built-in shapes, i in [0, qw_synth_n_shapes()). */
int qw_synth_n_shapes(void);
const qw_synth_shape *qw_synth_shape_at(int i);
/* NULL if no shape has that name (case-insensitive). */
const qw_synth_shape *qw_synth_find_shape(const char *name);

/* File types offered, as llama.cpp's llama_ftype (general.file_type). */
enum {
    QW_SYNTH_F16 = 1,
    QW_SYNTH_Q4_0 = 2,
    QW_SYNTH_Q8_0 = 7,
    QW_SYNTH_Q4_K_M = 15
};
/* "F16", "Q8_0", "Q4_0", "Q4_K_M" (case-insensitive) -> ftype. */
bool qw_synth_parse_ftype(const char *name, uint32_t *ftype);
/* Name of an ftype qw_synth_parse_ftype accepts; NULL otherwise. */
const char *qw_synth_ftype_name(uint32_t ftype);

/* Called after each tensor is written (bytes of tensor data done / total). */
typedef void (*qw_synth_progress_fn)(void *user, uint64_t done, uint64_t total);

typedef struct qw_synth_params {
    const qw_synth_shape *shape;
    uint32_t ftype;
    uint64_t seed;
    /* Vocabulary: tokenizer.ggml.* keys copied from this GGUF (a SentencePiece
     * "llama" tokenizer). If it has fewer tokens than the shape, it is padded
     * with "<unused_N>" tokens (type UNUSED, score -1000); if more, the tail
     * is cut (the 256 byte tokens must survive) and special-token id keys
     * pointing past the end are dropped. NULL: a generated SentencePiece
     * vocabulary (<unk>, <s>, </s>, <0x00>..<0xFF>, then filler pieces). */
    const char *vocab_path;
    int n_threads; /* for generating and quantizing (>= 1) */
    qw_synth_progress_fn progress;
    void *progress_user;
} qw_synth_params;

typedef struct qw_synth_info {
    uint64_t n_params;   /* elements of every tensor */
    uint64_t file_size;  /* bytes of the GGUF file */
    uint64_t data_size;  /* bytes of tensor data */
    uint32_t n_tensors;
    uint32_t type_hist[QW_TYPE_COUNT]; /* tensors per type */
    int vocab_source;    /* tokens in the vocab file (0: generated) */
    int vocab_padded;    /* "<unused_N>" tokens appended */
    int vocab_truncated; /* tokens cut from the end */
    int special_dropped; /* special-token id keys dropped (past the new end) */
} qw_synth_info;

/* Lays the file out without writing anything (sizes, types). */
qw_status qw_synth_plan(const qw_synth_params *p, qw_synth_info *info);

/* Writes the file to `path` (created or truncated; removed again on
 * failure). Memory use is a few MB whatever the model size: tensor data is
 * generated, quantized and written in chunks. info may be NULL. */
qw_status qw_synth_write(const qw_synth_params *p, const char *path, qw_synth_info *info);

/* The tensor type chosen for a weight, by llama-quantize's rules. kind is the
 * name without "blk.N." and ".weight" ("token_embd", "output", "attn_v",
 * "ffn_down", ...; norms are F32), layer the block index (ignored outside
 * blocks), ne0 the row length. QW_ERR_UNSUPPORTED when no type fits. */
qw_status qw_synth_tensor_type(const qw_synth_shape *s, uint32_t ftype, const char *kind,
                               int layer, int64_t ne0, uint32_t *type);

#endif

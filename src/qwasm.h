/* qwasm — quantized LLM inference in portable C.
 *
 * The public API. Everything is an opaque handle with a create/free pair;
 * every fallible call returns a qw_status and, on failure, leaves a one-line
 * message in qw_last_error() (thread-local). Nothing here aborts or exits. */
#ifndef QWASM_H
#define QWASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qw_status {
    QW_OK = 0,
    QW_ERR_IO = 1,          /* file could not be opened/read/mapped */
    QW_ERR_BAD_MODEL = 2,   /* malformed or inconsistent GGUF / model */
    QW_ERR_UNSUPPORTED = 3, /* well-formed but a type/architecture we do not run */
    QW_ERR_OOM = 4,         /* an allocation failed or a size does not fit */
    QW_ERR_INVALID_ARG = 5, /* caller error: bad token id, n_ctx, NULL, ... */
    QW_ERR_TRUNCATED = 6,   /* the bytes end before the structure does */
    QW_ERR_ABORTED = 7      /* cancelled by the caller */
} qw_status;

/* Message for the most recent failure on this thread ("" if none). */
const char *qw_last_error(void);
/* Stable upper-case name of a status ("BAD_MODEL", ...). */
const char *qw_status_name(qw_status s);

/* ---------------------------------------------------------------- model -- */

typedef struct qw_model qw_model;

typedef struct qw_hparams {
    char arch[32];      /* general.architecture, e.g. "llama" */
    int n_vocab;
    int n_ctx_train;    /* <arch>.context_length */
    int n_embd;         /* model width */
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;       /* n_embd / n_head */
    int n_ff;
    int rope_dim;       /* <arch>.rope.dimension_count (defaults to head_dim) */
    float rope_base;    /* <arch>.rope.freq_base (default 10000) */
    bool rope_neox;     /* rotate halves (neox) instead of adjacent pairs */
    float rms_eps;      /* <arch>.attention.layer_norm_rms_epsilon */
    bool tied_output;   /* no output.weight: token_embd is reused */
} qw_hparams;

/* Loads a GGUF file. Natively it is memory-mapped and the weights are used in
 * place. A split model may be given by any of its parts
 * ("name-00001-of-00003.gguf"); the other parts are found beside it. */
qw_status qw_model_load(const char *path, qw_model **out);

/* Loads from bytes already in memory. The buffer is borrowed: it must stay
 * valid and unchanged until qw_model_free. */
qw_status qw_model_load_memory(const void *bytes, size_t size, qw_model **out);

void qw_model_free(qw_model *model);

/* Staged (streaming) loading: the bytes of one GGUF file arrive in pieces
 * (network, File/Blob, a file read chunk by chunk) and are written straight
 * into their final home, a single allocation of file_size bytes that the
 * model keeps (qw_model_free frees it). Nothing is copied afterwards.
 *
 *   qw_loader *l;  qw_loader_create(size, "name.gguf", &l);
 *   uint8_t *buf = qw_loader_buffer(l);
 *   for each chunk: copy it to buf + have; have += n;
 *                   if not yet validated and have >= need:
 *                       qw_loader_header(l, have, &need)   (error: stop now)
 *   qw_loader_finish(l, have, &model);
 *   qw_loader_free(l);          (always; after a successful finish it only
 *                                frees the loader, the model owns the bytes)
 *
 * `name` (may be NULL) prefixes parser messages as qw_model_load(name) does.
 * qw_loader_free without a finished model is the abort path: it frees the
 * buffer and everything else. */
typedef struct qw_loader qw_loader;

/* One allocation of file_size bytes (QW_ERR_OOM naming the size if it fails,
 * QW_ERR_BAD_MODEL for an empty file). */
qw_status qw_loader_create(uint64_t file_size, const char *name, qw_loader **out);
/* A split model streamed whole: n_parts files (name-00001-of-0000N.gguf ...,
 * sizes[i] bytes each) into one allocation, part i at buffer +
 * qw_loader_part_offset(l, i) (64-byte aligned). `name` (may be NULL) is
 * the name of any part; it must follow the part pattern and name n_parts
 * parts. The parts are written in order and `have` (qw_loader_header,
 * qw_loader_finish) counts their bytes without the gaps: file_size is the
 * sum of the sizes. Every part's header is validated as it arrives, with the
 * checks qw_model_load makes (split.no / split.count, parser errors prefixed
 * with the part's name), and a tensor may appear in only one part. n_parts
 * == 1 is qw_loader_create. */
qw_status qw_loader_create_parts(int n_parts, const uint64_t *sizes, const char *name,
                                 qw_loader **out);
/* Where the file's bytes go: byte i of the file at buffer[i] (of a split
 * model: byte i of part p at buffer[qw_loader_part_offset(l, p) + i]). NULL
 * after a successful finish (the model owns it then). */
uint8_t *qw_loader_buffer(qw_loader *l);
uint64_t qw_loader_file_size(const qw_loader *l);
int qw_loader_n_parts(const qw_loader *l);
uint64_t qw_loader_part_offset(const qw_loader *l, int part);
/* Validates the header from the first `have` bytes (the GGUF structure, the
 * tensor layout against file_size, the split keys and the hyperparameters).
 * QW_OK with *need == 0: the header is complete and valid; QW_OK with
 * *need > have: more bytes are needed, call again once `*need` are there;
 * anything else: the file is unusable (message in qw_last_error()), so the
 * transfer can stop at once. */
qw_status qw_loader_header(qw_loader *l, uint64_t have, uint64_t *need);
/* Full parse and model set-up over the buffer, once all bytes are written
 * (have < file_size: QW_ERR_TRUNCATED). On success the model owns the buffer. */
qw_status qw_loader_finish(qw_loader *l, uint64_t have, qw_model **out);
void qw_loader_free(qw_loader *l);

const qw_hparams *qw_model_hparams(const qw_model *model);

/* Total bytes of tensor data and the number of parameters. */
uint64_t qw_model_weight_bytes(const qw_model *model);
uint64_t qw_model_n_params(const qw_model *model);

/* ------------------------------------------------------------ tokenizer -- */

int32_t qw_token_bos(const qw_model *model); /* -1 if none */
int32_t qw_token_eos(const qw_model *model); /* -1 if none */
bool qw_model_add_bos(const qw_model *model); /* tokenizer.ggml.add_bos_token */

/* Tokenizes `len` bytes of UTF-8. Writes at most `cap` ids to `out` and
 * returns the number of tokens the text needs (may exceed cap), or -1 on
 * error (see qw_last_error). */
int qw_tokenize(const qw_model *model, const char *text, size_t len, bool add_bos,
                int32_t *out, int cap);

/* Raw bytes of a token's text ("▁" already turned into a space, byte tokens
 * turned into their byte, control tokens empty). Returns the length written
 * (<= cap) or -1 for an out-of-range id. */
int qw_token_to_bytes(const qw_model *model, int32_t token, char *out, int cap);

/* Streaming detokenizer that only ever emits complete, valid UTF-8: an
 * incomplete sequence is held back until its continuation arrives, and an
 * invalid one becomes U+FFFD. */
typedef struct qw_detok {
    unsigned char pending[8];
    int n_pending;
} qw_detok;

/* Appends the text of `token` to out (NUL-terminated); returns bytes written,
 * or -1 for an out-of-range token. cap must be >= 64. */
int qw_detok_push(const qw_model *model, qw_detok *st, int32_t token, char *out, int cap);
/* Emits whatever is still held back (as U+FFFD). */
int qw_detok_flush(qw_detok *st, char *out, int cap);

/* -------------------------------------------------------------- context -- */

typedef struct qw_context qw_context;

/* n_ctx <= 0 means the model's training context. */
qw_status qw_context_create(const qw_model *model, int n_ctx, int n_threads, qw_context **out);
void qw_context_free(qw_context *ctx);

/* Forgets everything (empties the KV cache). */
void qw_context_reset(qw_context *ctx);
/* Keeps the first n tokens of the KV cache and forgets the rest (n >= the
 * current position: nothing changes), so a prompt that starts like the last
 * one only decodes what differs. The logits are gone until the next decode. */
void qw_context_truncate(qw_context *ctx, int n);
int qw_context_pos(const qw_context *ctx);
int qw_context_n_ctx(const qw_context *ctx);

/* Runs `n` tokens through the model at the current position, as one batch.
 * If all_logits, logits are kept for every token, otherwise only for the
 * last one. */
qw_status qw_decode(qw_context *ctx, const int32_t *tokens, int n, bool all_logits);

/* Logits (n_vocab floats) of row i of the last qw_decode; i = -1 is the last
 * row. NULL if that row was not kept. */
const float *qw_logits(const qw_context *ctx, int i);

/* -------------------------------------------------------------- sampler -- */

/* The k largest of n logits, best first (ties: lower id first), into out.
 * Returns the count written (min(k, n)), or -1 for bad arguments. */
int qw_top_k(const float *logits, int n, int k, int32_t *out);

typedef struct qw_sampler_params {
    float temperature;    /* <= 0: greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;    /* how many recent tokens the penalty looks at */
    uint64_t seed;
} qw_sampler_params;

qw_sampler_params qw_sampler_defaults(void);

typedef struct qw_sampler qw_sampler;
qw_status qw_sampler_create(const qw_sampler_params *params, int n_vocab, qw_sampler **out);
void qw_sampler_free(qw_sampler *s);
/* Picks the next token from logits (not modified). */
int32_t qw_sampler_sample(qw_sampler *s, const float *logits);
/* Records a token in the penalty history (prompt tokens and sampled ones). */
void qw_sampler_accept(qw_sampler *s, int32_t token);

#ifdef __cplusplus
}
#endif
#endif

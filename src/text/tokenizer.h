/* SentencePiece-style (llama) tokenizer built from tokenizer.ggml.* metadata.
 * Internal; the public entry points in qwasm.h forward here. */
#ifndef QW_TOKENIZER_H
#define QW_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../gguf/gguf.h"
#include "../qwasm.h"

typedef struct qw_tokenizer qw_tokenizer;

/* Reads tokenizer.ggml.{model,tokens,scores,token_type,bos_token_id,
 * eos_token_id,unknown_token_id,add_bos_token,add_space_prefix,...}.
 * QW_ERR_UNSUPPORTED for a tokenizer model other than "llama";
 * QW_ERR_BAD_MODEL for inconsistent metadata (array lengths differ, special
 * ids out of range, ...). Token texts are not copied: the tokenizer points
 * into the bytes the gguf was parsed from, which must outlive it (the model
 * keeps them: mapped file or loader buffer); the qw_gguf itself may be freed. */
qw_status qw_tokenizer_load(const qw_gguf *g, qw_tokenizer **out);
void qw_tokenizer_free(qw_tokenizer *t);

int qw_tokenizer_n_vocab(const qw_tokenizer *t);
int32_t qw_tokenizer_bos(const qw_tokenizer *t); /* -1 if none */
int32_t qw_tokenizer_eos(const qw_tokenizer *t); /* -1 if none */
bool qw_tokenizer_add_bos(const qw_tokenizer *t);
/* true for control tokens (BOS/EOS/...), which print as nothing */
bool qw_tokenizer_is_control(const qw_tokenizer *t, int32_t id);

/* Same contracts as qw_tokenize / qw_token_to_bytes / qw_detok_push in
 * qwasm.h. Special (control) token text in the input is not parsed: as
 * llama.cpp with parse_special = false. */
int qw_tokenizer_encode(const qw_tokenizer *t, const char *text, size_t len, bool add_bos,
                        int32_t *out, int cap);
int qw_tokenizer_piece(const qw_tokenizer *t, int32_t id, char *out, int cap);
int qw_tokenizer_detok_push(const qw_tokenizer *t, qw_detok *st, int32_t id, char *out, int cap);

/* ---- additions (not in the public API) ---- */

int32_t qw_tokenizer_unk(const qw_tokenizer *t); /* -1 if none */
/* tokenizer.ggml.add_space_prefix (default true): the encoder puts a space in
 * front of the text, so the first token's piece usually starts with ' '. */
bool qw_tokenizer_add_space_prefix(const qw_tokenizer *t);
/* End of generation: EOS, EOT/EOM/FIM-pad/repo/sep ids from the file, and the markers
 * llama.cpp recognises by text ("<|end|>", "<|eot_id|>", "<|im_end|>", ...). */
bool qw_tokenizer_is_eog(const qw_tokenizer *t, int32_t id);
/* Token type after load (1 normal, 2 unknown, 3 control, 4 user-defined,
 * 5 unused, 6 byte, 0 undefined); -1 for an out-of-range id. */
int qw_tokenizer_token_type(const qw_tokenizer *t, int32_t id);
/* The token's text as stored (with U+2581, "<0x0A>", ...), *len bytes, NOT
 * NUL-terminated (it points into the model's bytes); NULL (and *len = 0) for
 * an out-of-range id. len may be NULL. */
const char *qw_tokenizer_token_text(const qw_tokenizer *t, int32_t id, int *len);
float qw_tokenizer_token_score(const qw_tokenizer *t, int32_t id);
/* Id of the token whose text is exactly text[0..len), or -1. */
int32_t qw_tokenizer_find(const qw_tokenizer *t, const char *text, size_t len);
/* Whole-sequence detokenization as llama.cpp's detokenize (specials not
 * rendered): the pieces concatenated, with one leading ' ' removed from the
 * first token's piece when add_space_prefix is on. Raw bytes (no UTF-8
 * repair). Writes at most cap - 1 bytes plus a NUL; returns the full length
 * (may exceed cap - 1, like snprintf) or -1 for a bad id. */
int qw_tokenizer_decode(const qw_tokenizer *t, const int32_t *ids, int n, char *out, int cap);

#endif

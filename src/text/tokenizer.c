/* The llama SentencePiece tokenizer, behaving as llama.cpp's SPM tokenizer.
 *
 * Encoding a text:
 *  1. The raw text is cut around every occurrence of a user-defined token
 *     (longest token texts first, each one's occurrences left to right).
 *     Control and unknown tokens are never matched in the text.
 *  2. Each remaining piece of raw text gets a leading space when the space
 *     prefix is on and the piece is the first one or follows a matched token,
 *     then every ' ' becomes U+2581 and the piece is split into symbols, one
 *     per UTF-8 character (length from the lead byte, clamped to the end).
 *  3. Adjacent symbols whose concatenation is a vocabulary entry form
 *     candidate merges, kept in a max-heap keyed by the merged token's score
 *     (ties: the leftmost pair). The best candidate is merged, stale
 *     candidates are discarded when popped, and the new symbol's neighbours
 *     become candidates, until none is left.
 *  4. Each final symbol is its token if it is a vocabulary entry, else one
 *     byte token "<0xNN>" per byte (or the token spelled as that single byte,
 *     or UNK when neither exists).
 * A merged symbol is always a vocabulary entry (a candidate exists only for
 * texts found in the vocabulary), so step 4 needs no record of how symbols
 * were merged.
 *
 * Where this deliberately differs from llama.cpp: tokenizer.ggml.add_eos_token
 * is not applied (the API has add_bos only); a BOS/EOS/UNK id outside the
 * vocabulary is an error rather than a warning (-1 and 0xFFFFFFFF mean
 * "none"); duplicate token texts are an error (llama.cpp asserts); a character
 * with no byte token and no single-byte token becomes UNK (llama.cpp throws);
 * user-defined tokens of equal length are tried in id order (unspecified
 * there). */
#include "tokenizer.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "utf8.h"

/* token types, as stored in tokenizer.ggml.token_type */
enum {
    TT_UNDEFINED = 0,
    TT_NORMAL = 1,
    TT_UNKNOWN = 2,
    TT_CONTROL = 3,
    TT_USER_DEFINED = 4,
    TT_UNUSED = 5,
    TT_BYTE = 6
};

/* per-token flags */
enum {
    TF_RSTRIP = 1, /* a match in the text swallows the whitespace after it */
    TF_EOG = 2,    /* ends generation */
    TF_SPACE = 4   /* a normal token whose text has U+2581: its piece is a converted copy */
};

/* No real vocabulary comes near these; they keep every size in an int. */
#define QW_TOK_MAX_VOCAB (1 << 24)
#define QW_TOK_MAX_TEXT UINT16_MAX

/* Nothing is copied that the model's bytes already hold: a token's text is an
 * offset into the file image (the mapped file, the staged loader's buffer or
 * the caller's buffer, which all live as long as the model). `own` holds only
 * the "[EMPTY_<id>]" texts; an offset with OFF_OWN set is into `own`. A
 * token's piece (the bytes it prints as) is not stored: it follows from its
 * type and text (piece_bytes). Per token: 4 + 2 + 1 + 1 bytes, plus 4 / 0.75
 * for the hash table. */
#define OFF_OWN 0x80000000u
/* pieces up to this long are built on the stack */
#define PIECE_SMALL 256

struct qw_tokenizer {
    int n;
    const char *base;     /* the lowest token text in the file image */
    char *own;
    uint32_t *text_off;   /* [n] */
    uint16_t *text_len;
    const unsigned char *score_f32; /* tokenizer.ggml.scores as F32 in the file, or NULL */
    float *score;                   /* converted from F64, or NULL (then score_f32, else 0) */
    uint8_t *type;
    uint8_t *flags;
    int32_t *slots; /* open-addressing hash text -> id; -1 = empty */
    uint32_t n_slots;
    uint32_t max_text_len;
    int32_t byte_tok[256]; /* token for a raw byte (byte fallback), -1 if none */
    int32_t *user;         /* user-defined tokens, longest text first */
    int n_user;
    int32_t bos, eos, unk;
    bool add_bos, add_space_prefix;
};

/* ------------------------------------------------------------ hashing -- */

static uint32_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    /* FNV's last byte barely reaches the top bits, which slot_of uses: mix */
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

static const char *at(const qw_tokenizer *t, uint32_t off) {
    return (off & OFF_OWN) ? t->own + (off & ~OFF_OWN) : t->base + off;
}
static const char *tok_text(const qw_tokenizer *t, int32_t id) { return at(t, t->text_off[id]); }

static float tok_score(const qw_tokenizer *t, int32_t id) {
    if (t->score) return t->score[id];
    if (!t->score_f32) return 0.0f;
    const unsigned char *p = t->score_f32 + (size_t)id * 4;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* h scaled to [0, n_slots) */
static uint32_t slot_of(const qw_tokenizer *t, uint32_t h) {
    return (uint32_t)(((uint64_t)h * t->n_slots) >> 32);
}

static int32_t lookup(const qw_tokenizer *t, const char *s, size_t n) {
    if (n == 0 || n > t->max_text_len) return -1;
    uint32_t i = slot_of(t, hash_bytes(s, n));
    for (;;) {
        int32_t id = t->slots[i];
        if (id < 0) return -1;
        if (t->text_len[id] == n && memcmp(tok_text(t, id), s, n) == 0) return id;
        if (++i == t->n_slots) i = 0;
    }
}

/* first occurrence of needle in hay, or NULL */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    const char *end = hay + (n - m);
    for (const char *p = hay; p <= end;) {
        const char *q = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!q) return NULL;
        if (memcmp(q, needle, m) == 0) return q;
        p = q + 1;
    }
    return NULL;
}

/* ------------------------------------------------------------ loading -- */

void qw_tokenizer_free(qw_tokenizer *t) {
    if (!t) return;
    free(t->own);
    free(t->text_off);
    free(t->text_len);
    free(t->score);
    free(t->type);
    free(t->flags);
    free(t->slots);
    free(t->user);
    free(t);
}

static bool is_int_type(qw_gguf_vtype v) {
    switch (v) {
    case QW_GGUF_U8: case QW_GGUF_I8: case QW_GGUF_U16: case QW_GGUF_I16:
    case QW_GGUF_U32: case QW_GGUF_I32: case QW_GGUF_U64: case QW_GGUF_I64:
        return true;
    default:
        return false;
    }
}

static bool is_unsigned_type(qw_gguf_vtype v) {
    return v == QW_GGUF_U8 || v == QW_GGUF_U16 || v == QW_GGUF_U32 || v == QW_GGUF_U64;
}

/* Reads a token id key. Absent: *id unchanged. -1 (or 0xFFFFFFFF, as some
 * converters write) means "no such token". Anything else outside [0, n) is an
 * error when `strict`, otherwise ignored. */
static qw_status read_token_id(const qw_gguf *g, const char *key, int n, bool strict, int32_t *id) {
    const qw_gguf_kv *kv = qw_gguf_find(g, key);
    if (!kv) return QW_OK;
    if (!is_int_type(kv->type)) {
        if (!strict) return QW_OK;
        return qw_fail(QW_ERR_BAD_MODEL, "%s: expected an integer token id, found value type %d", key,
                       (int)kv->type);
    }
    int64_t v;
    if (is_unsigned_type(kv->type)) {
        if (kv->v.u64 == UINT32_MAX || kv->v.u64 == UINT64_MAX) {
            *id = -1;
            return QW_OK;
        }
        v = kv->v.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)kv->v.u64;
    } else {
        v = kv->v.i64;
        if (v == -1) {
            *id = -1;
            return QW_OK;
        }
    }
    if (v < 0 || v >= n) {
        if (!strict) return QW_OK;
        return qw_fail(QW_ERR_BAD_MODEL, "%s = %lld is out of range (the vocabulary has %d tokens)", key,
                       (long long)v, n);
    }
    *id = (int32_t)v;
    return QW_OK;
}

static qw_status read_flag(const qw_gguf *g, const char *key, bool *out) {
    const qw_gguf_kv *kv = qw_gguf_find(g, key);
    if (!kv) return QW_OK;
    if (kv->type == QW_GGUF_BOOL) {
        *out = kv->v.b;
        return QW_OK;
    }
    return qw_fail(QW_ERR_BAD_MODEL, "%s: expected a bool, found value type %d", key, (int)kv->type);
}

static bool hex_digit(char c, int *v) {
    if (c >= '0' && c <= '9') *v = c - '0';
    else if (c >= 'A' && c <= 'F') *v = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') *v = c - 'a' + 10;
    else return false;
    return true;
}

/* "<0xNN>" -> NN */
static bool parse_byte_token(const char *s, uint32_t n, unsigned char *b) {
    int hi, lo;
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return false;
    if (!hex_digit(s[3], &hi) || !hex_digit(s[4], &lo)) return false;
    *b = (unsigned char)(hi * 16 + lo);
    return true;
}

/* Texts that llama.cpp forces to CONTROL whatever the file says (chat and
 * fill-in-the-middle markers); `eog` ones also end generation. A row with
 * `unless_key` applies only when that token-id key is absent from the file
 * (llama.cpp then takes the first match of the group in hash order; here every
 * match of the group is taken). */
typedef struct forced_control {
    const char *text;
    bool eog;
    const char *unless_key;
} forced_control;

static const forced_control k_forced_control[] = {
    {"<|eot_id|>", true, NULL},
    {"<|im_end|>", true, NULL},
    {"<|end|>", true, NULL},
    {"<end_of_turn>", true, NULL},
    {"<|endoftext|>", true, NULL},
    {"<|eom_id|>", true, NULL},
    {"<EOT>", true, NULL},
    {"<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", false, "tokenizer.ggml.eot_token_id"},
    {"<|fim_prefix|>", false, "tokenizer.ggml.fim_pre_token_id"},
    {"<fim-prefix>", false, "tokenizer.ggml.fim_pre_token_id"},
    {"<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", false, "tokenizer.ggml.fim_pre_token_id"},
    {"<PRE>", false, "tokenizer.ggml.fim_pre_token_id"},
    {"<|fim_suffix|>", false, "tokenizer.ggml.fim_suf_token_id"},
    {"<fim-suffix>", false, "tokenizer.ggml.fim_suf_token_id"},
    {"<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", false, "tokenizer.ggml.fim_suf_token_id"},
    {"<SUF>", false, "tokenizer.ggml.fim_suf_token_id"},
    {"<|fim_middle|>", false, "tokenizer.ggml.fim_mid_token_id"},
    {"<fim-middle>", false, "tokenizer.ggml.fim_mid_token_id"},
    {"<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", false, "tokenizer.ggml.fim_mid_token_id"},
    {"<MID>", false, "tokenizer.ggml.fim_mid_token_id"},
    {"<|fim_pad|>", true, "tokenizer.ggml.fim_pad_token_id"},
    {"<fim-pad>", true, "tokenizer.ggml.fim_pad_token_id"},
    {"<PAD>", true, "tokenizer.ggml.fim_pad_token_id"},
    {"<|fim_repo|>", true, "tokenizer.ggml.fim_rep_token_id"},
    {"<|repo_name|>", true, "tokenizer.ggml.fim_rep_token_id"},
    {"<fim-repo>", true, "tokenizer.ggml.fim_rep_token_id"},
    {"<REPO>", true, "tokenizer.ggml.fim_rep_token_id"},
    {"<|file_sep|>", true, "tokenizer.ggml.fim_sep_token_id"},
};

static bool name_has_phi3(const qw_gguf *g) {
    const qw_gguf_kv *kv = qw_gguf_find(g, "general.name");
    if (!kv || kv->type != QW_GGUF_STRING) return false;
    const char *s = kv->v.str.ptr;
    uint64_t n = kv->v.str.len;
    for (uint64_t i = 0; i < n; i++) {
        char lc[5];
        uint64_t k;
        for (k = 0; k < 5 && i + k < n; k++) {
            char c = s[i + k];
            lc[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        if (k >= 4 && memcmp(lc, "phi3", 4) == 0) return true;
        if (k >= 5 && memcmp(lc, "phi-3", 5) == 0) return true;
    }
    return false;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Longest text first, then lowest id (llama.cpp's order among equal lengths
 * is unspecified). */
static bool sort_user_tokens(qw_tokenizer *t) {
    uint64_t *keys = malloc((size_t)t->n_user * sizeof *keys);
    if (!keys) return false;
    for (int i = 0; i < t->n_user; i++) {
        int32_t id = t->user[i];
        keys[i] = ((uint64_t)(UINT32_MAX - t->text_len[id]) << 32) | (uint32_t)id;
    }
    qsort(keys, (size_t)t->n_user, sizeof *keys, cmp_u64);
    for (int i = 0; i < t->n_user; i++) t->user[i] = (int32_t)(keys[i] & 0xFFFFFFFFu);
    free(keys);
    return true;
}

static qw_status load_inner(const qw_gguf *g, qw_tokenizer *t) {
    qw_status st;

    /* model */
    const qw_gguf_kv *model = qw_gguf_find(g, "tokenizer.ggml.model");
    if (!model) return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.model is missing");
    if (model->type != QW_GGUF_STRING)
        return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.model: expected a string");
    if (!qw_str_eq(model->v.str, "llama")) {
        int n = model->v.str.len > 64 ? 64 : (int)model->v.str.len;
        return qw_fail(QW_ERR_UNSUPPORTED,
                       "tokenizer model '%.*s' is not supported (only 'llama' SentencePiece)", n,
                       model->v.str.ptr);
    }

    /* tokens */
    const qw_gguf_kv *toks = qw_gguf_find(g, "tokenizer.ggml.tokens");
    if (!toks) return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.tokens is missing");
    if (toks->type != QW_GGUF_ARRAY || toks->arr_type != QW_GGUF_STRING || !toks->arr_str)
        return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.tokens: expected an array of strings");
    if (toks->arr_n == 0) return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.tokens is empty");
    if (toks->arr_n > QW_TOK_MAX_VOCAB)
        return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.tokens has %llu entries (limit %d)",
                       (unsigned long long)toks->arr_n, QW_TOK_MAX_VOCAB);
    const int n = (int)toks->arr_n;
    t->n = n;

    const qw_gguf_kv *scores = qw_gguf_find(g, "tokenizer.ggml.scores");
    if (scores) {
        if (scores->type != QW_GGUF_ARRAY ||
            (scores->arr_type != QW_GGUF_F32 && scores->arr_type != QW_GGUF_F64))
            return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.scores: expected an array of floats");
        if (scores->arr_n != toks->arr_n)
            return qw_fail(QW_ERR_BAD_MODEL,
                           "tokenizer.ggml.scores has %llu entries but tokenizer.ggml.tokens has %d",
                           (unsigned long long)scores->arr_n, n);
    }
    const qw_gguf_kv *types = qw_gguf_find(g, "tokenizer.ggml.token_type");
    if (types) {
        if (types->type != QW_GGUF_ARRAY || !is_int_type(types->arr_type))
            return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.token_type: expected an array of integers");
        if (types->arr_n != toks->arr_n)
            return qw_fail(QW_ERR_BAD_MODEL,
                           "tokenizer.ggml.token_type has %llu entries but tokenizer.ggml.tokens has %d",
                           (unsigned long long)types->arr_n, n);
    }

    /* flags */
    t->add_bos = true;
    t->add_space_prefix = true;
    if ((st = read_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos)) != QW_OK) return st;
    if ((st = read_flag(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix)) != QW_OK) return st;

    /* per-token arrays */
    size_t un = (size_t)n;
    t->text_off = malloc(un * sizeof *t->text_off);
    t->text_len = malloc(un * sizeof *t->text_len);
    t->type = malloc(un);
    t->flags = calloc(un, 1);
    if (!t->text_off || !t->text_len || !t->type || !t->flags)
        return qw_fail(QW_ERR_OOM, "tokenizer: out of memory for %d tokens", n);

    /* Where the texts are, and the size of `own`: an empty token's
     * "[EMPTY_<id>]" (as llama.cpp renames it). */
    const char *lo = NULL, *hi = NULL;
    uint64_t own_size = 1;
    for (int i = 0; i < n; i++) {
        qw_str s = toks->arr_str[i];
        if (s.len > QW_TOK_MAX_TEXT)
            return qw_fail(QW_ERR_BAD_MODEL, "token %d is %llu bytes long (limit %d)", i,
                           (unsigned long long)s.len, QW_TOK_MAX_TEXT);
        if (s.len == 0) {
            own_size += 32;
            continue;
        }
        if (!s.ptr) return qw_fail(QW_ERR_BAD_MODEL, "token %d has no text", i);
        if (!lo || s.ptr < lo) lo = s.ptr;
        if (!hi || s.ptr + s.len > hi) hi = s.ptr + s.len;
    }
    if ((lo && (uint64_t)(hi - lo) >= OFF_OWN) || own_size >= OFF_OWN)
        return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.tokens: the token texts span more than 2 GiB");
    t->base = lo;
    t->own = malloc((size_t)own_size);
    if (!t->own) return qw_fail(QW_ERR_OOM, "tokenizer: out of memory for token texts");
    uint32_t own_n = 0;

    if (scores && scores->arr_type == QW_GGUF_F32) {
        t->score_f32 = scores->arr_data;
    } else if (scores) {
        t->score = malloc(un * sizeof *t->score);
        if (!t->score) return qw_fail(QW_ERR_OOM, "tokenizer: out of memory for %d scores", n);
    }

    t->max_text_len = 0;
    for (int i = 0; i < n; i++) {
        qw_str s = toks->arr_str[i];
        uint32_t len;
        if (s.len == 0) {
            len = (uint32_t)snprintf(t->own + own_n, 32, "[EMPTY_%d]", i);
            t->text_off[i] = OFF_OWN | own_n;
            own_n += len;
        } else {
            len = (uint32_t)s.len;
            t->text_off[i] = (uint32_t)(s.ptr - t->base);
        }
        t->text_len[i] = (uint16_t)len;
        if (len > t->max_text_len) t->max_text_len = len;

        if (scores) {
            float sc = (float)qw_gguf_arr_f64(scores, (uint64_t)i);
            if (isnan(sc)) return qw_fail(QW_ERR_BAD_MODEL, "tokenizer.ggml.scores[%d] is NaN", i);
            if (t->score) t->score[i] = sc;
        }

        int64_t ty = types ? qw_gguf_arr_i64(types, (uint64_t)i) : TT_NORMAL;
        t->type[i] = (ty >= TT_NORMAL && ty <= TT_BYTE) ? (uint8_t)ty : TT_UNDEFINED;
    }

    /* hash table, load <= 3/4 (linear probing; ~2.5 probes for a miss) */
    uint32_t cap = (uint32_t)n + (uint32_t)n / 3 + 2;
    t->slots = malloc((size_t)cap * sizeof *t->slots);
    if (!t->slots) return qw_fail(QW_ERR_OOM, "tokenizer: out of memory for the token table");
    memset(t->slots, 0xFF, (size_t)cap * sizeof *t->slots);
    t->n_slots = cap;
    for (int i = 0; i < n; i++) {
        const char *s = tok_text(t, i);
        uint32_t len = t->text_len[i];
        uint32_t h = slot_of(t, hash_bytes(s, len));
        for (;;) {
            int32_t id = t->slots[h];
            if (id < 0) {
                t->slots[h] = i;
                break;
            }
            if (t->text_len[id] == len && memcmp(tok_text(t, id), s, len) == 0)
                return qw_fail(QW_ERR_BAD_MODEL, "tokens %d and %d have the same text", id, i);
            if (++h == t->n_slots) h = 0;
        }
    }

    /* special ids: llama defaults, then the file */
    t->bos = n > 1 ? 1 : -1;
    t->eos = n > 2 ? 2 : -1;
    t->unk = 0;
    if ((st = read_token_id(g, "tokenizer.ggml.bos_token_id", n, true, &t->bos)) != QW_OK) return st;
    if ((st = read_token_id(g, "tokenizer.ggml.eos_token_id", n, true, &t->eos)) != QW_OK) return st;
    if ((st = read_token_id(g, "tokenizer.ggml.unknown_token_id", n, true, &t->unk)) != QW_OK)
        return st;
    int32_t eot = -1, eom = -1;
    read_token_id(g, "tokenizer.ggml.eot_token_id", n, false, &eot);
    read_token_id(g, "tokenizer.ggml.eom_token_id", n, false, &eom);
    static const char *const fim_eog_keys[] = {"tokenizer.ggml.fim_pad_token_id",
                                               "tokenizer.ggml.fim_rep_token_id",
                                               "tokenizer.ggml.fim_sep_token_id"};
    for (int k = 0; k < 3; k++) {
        int32_t id = -1;
        read_token_id(g, fim_eog_keys[k], n, false, &id);
        if (id >= 0) t->flags[id] |= TF_EOG;
    }

    /* forced control / end-of-generation texts */
    for (size_t k = 0; k < sizeof k_forced_control / sizeof k_forced_control[0]; k++) {
        const forced_control *fc = &k_forced_control[k];
        int32_t id = lookup(t, fc->text, strlen(fc->text));
        if (id < 0) continue;
        if (fc->unless_key && qw_gguf_find(g, fc->unless_key)) continue;
        t->type[id] = TT_CONTROL;
        if (fc->eog) t->flags[id] |= TF_EOG;
    }
    if (t->eos >= 0) t->flags[t->eos] |= TF_EOG;
    if (eot >= 0) t->flags[eot] |= TF_EOG;
    if (eom >= 0) t->flags[eom] |= TF_EOG;

    /* phi-3 models: matched special tokens swallow the whitespace after them */
    if (name_has_phi3(g)) {
        for (int i = 0; i < n; i++) {
            uint8_t ty = t->type[i];
            if (ty == TT_CONTROL || ty == TT_USER_DEFINED || ty == TT_UNKNOWN) t->flags[i] |= TF_RSTRIP;
        }
        int32_t id = lookup(t, "</s>", 4);
        if (id >= 0) t->flags[id] |= TF_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (int k = 0; k < 3; k++) {
            id = lookup(t, keep[k], strlen(keep[k]));
            if (id >= 0) t->flags[id] &= (uint8_t)~TF_RSTRIP;
        }
    }

    /* pieces: checked here, built when asked for (piece_bytes) */
    for (int i = 0; i < n; i++) {
        const char *s = tok_text(t, i);
        uint32_t len = t->text_len[i];
        unsigned char b;
        if (t->type[i] == TT_NORMAL && find_bytes(s, len, "\xE2\x96\x81", 3)) t->flags[i] |= TF_SPACE;
        if (t->type[i] == TT_BYTE && !parse_byte_token(s, len, &b))
            return qw_fail(QW_ERR_BAD_MODEL, "token %d is a byte token but its text is not <0xNN>", i);
    }

    /* byte fallback table */
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        int32_t id = lookup(t, name, 6);
        if (id < 0) {
            char c = (char)b;
            id = lookup(t, &c, 1);
        }
        t->byte_tok[b] = id;
    }

    /* user-defined tokens, matched in the raw text */
    int n_user = 0;
    for (int i = 0; i < n; i++) n_user += t->type[i] == TT_USER_DEFINED;
    if (n_user > 0) {
        t->user = malloc((size_t)n_user * sizeof *t->user);
        if (!t->user) return qw_fail(QW_ERR_OOM, "tokenizer: out of memory");
        for (int i = 0; i < n; i++)
            if (t->type[i] == TT_USER_DEFINED) t->user[t->n_user++] = i;
        if (!sort_user_tokens(t)) return qw_fail(QW_ERR_OOM, "tokenizer: out of memory");
    }
    return QW_OK;
}

qw_status qw_tokenizer_load(const qw_gguf *g, qw_tokenizer **out) {
    if (!out) return qw_fail(QW_ERR_INVALID_ARG, "qw_tokenizer_load: out is NULL");
    *out = NULL;
    if (!g) return qw_fail(QW_ERR_INVALID_ARG, "qw_tokenizer_load: no gguf");
    qw_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return qw_fail(QW_ERR_OOM, "tokenizer: out of memory");
    qw_status st = load_inner(g, t);
    if (st != QW_OK) {
        qw_tokenizer_free(t);
        return st;
    }
    *out = t;
    return QW_OK;
}

/* ---------------------------------------------------------- accessors -- */

int qw_tokenizer_n_vocab(const qw_tokenizer *t) { return t ? t->n : 0; }
int32_t qw_tokenizer_bos(const qw_tokenizer *t) { return t ? t->bos : -1; }
int32_t qw_tokenizer_eos(const qw_tokenizer *t) { return t ? t->eos : -1; }
int32_t qw_tokenizer_unk(const qw_tokenizer *t) { return t ? t->unk : -1; }
bool qw_tokenizer_add_bos(const qw_tokenizer *t) { return t && t->add_bos && t->bos >= 0; }
bool qw_tokenizer_add_space_prefix(const qw_tokenizer *t) { return t && t->add_space_prefix; }

static bool valid_id(const qw_tokenizer *t, int32_t id) { return t && id >= 0 && id < t->n; }

bool qw_tokenizer_is_control(const qw_tokenizer *t, int32_t id) {
    return valid_id(t, id) && t->type[id] == TT_CONTROL;
}

bool qw_tokenizer_is_eog(const qw_tokenizer *t, int32_t id) {
    return valid_id(t, id) && (t->flags[id] & TF_EOG);
}

int qw_tokenizer_token_type(const qw_tokenizer *t, int32_t id) {
    return valid_id(t, id) ? t->type[id] : -1;
}

const char *qw_tokenizer_token_text(const qw_tokenizer *t, int32_t id, int *len) {
    if (!valid_id(t, id)) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = (int)t->text_len[id];
    return tok_text(t, id);
}

float qw_tokenizer_token_score(const qw_tokenizer *t, int32_t id) {
    return valid_id(t, id) ? tok_score(t, id) : 0.0f;
}

int32_t qw_tokenizer_find(const qw_tokenizer *t, const char *text, size_t len) {
    if (!t || (!text && len > 0)) return -1;
    return lookup(t, text, len);
}

/* The piece of a valid id: normal and user-defined tokens print as their
 * text (normal ones with U+2581 as ' '), byte tokens as their byte, the
 * others as nothing. Returns the text itself where it is the piece, else the
 * piece built in `small` or, when longer than PIECE_SMALL, in *big (to be
 * freed by the caller); NULL when that allocation fails. */
static const char *piece_bytes(const qw_tokenizer *t, int32_t id, char small[PIECE_SMALL], char **big,
                               int *len) {
    const char *s = tok_text(t, id);
    uint32_t n = t->text_len[id];
    *big = NULL;
    *len = 0;
    switch (t->type[id]) {
    case TT_NORMAL:
        break;
    case TT_USER_DEFINED:
        *len = (int)n;
        return s;
    case TT_BYTE: {
        unsigned char b = 0;
        parse_byte_token(s, n, &b); /* checked at load */
        small[0] = (char)b;
        *len = 1;
        return small;
    }
    default:
        return small;
    }
    if (!(t->flags[id] & TF_SPACE)) {
        *len = (int)n;
        return s;
    }
    char *dst = small;
    if (n > PIECE_SMALL && !(dst = *big = malloc(n))) {
        qw_fail(QW_ERR_OOM, "out of memory for the piece of token %d", (int)id);
        return NULL;
    }
    uint32_t m = 0;
    for (uint32_t k = 0; k < n;) {
        if (k + 3 <= n && (unsigned char)s[k] == 0xE2 && (unsigned char)s[k + 1] == 0x96 &&
            (unsigned char)s[k + 2] == 0x81) {
            dst[m++] = ' ';
            k += 3;
        } else {
            dst[m++] = s[k++];
        }
    }
    *len = (int)m;
    return dst;
}

/* ----------------------------------------------------------- encoding -- */

typedef struct sym {
    int off, n; /* bytes of the escaped text; n == 0: merged away */
    int prev, next;
} sym;

typedef struct bigram {
    float score;
    int left, right, size;
} bigram;

typedef struct frag {
    size_t off, len;
    int32_t tok; /* -1: raw text */
} frag;

typedef struct encoder {
    const qw_tokenizer *t;
    int32_t *out;
    int cap;
    int count;
    /* scratch, reused across fragments */
    char *buf;
    size_t buf_cap;
    sym *syms;
    size_t syms_cap;
    bigram *heap;
    size_t heap_n, heap_cap;
} encoder;

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) {
            c = need;
            break;
        }
        c *= 2;
    }
    if (c > SIZE_MAX / elem) return false;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static bool emit(encoder *e, int32_t id) {
    if (e->count == INT_MAX) {
        qw_fail(QW_ERR_INVALID_ARG, "qw_tokenize: too many tokens");
        return false;
    }
    if (e->count < e->cap) e->out[e->count] = id;
    e->count++;
    return true;
}

static bool bigram_better(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static bool heap_push(encoder *e, bigram b) {
    if (!grow((void **)&e->heap, &e->heap_cap, e->heap_n + 1, sizeof *e->heap)) return false;
    size_t i = e->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_better(&b, &e->heap[p])) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = b;
    return true;
}

static bigram heap_pop(encoder *e) {
    bigram top = e->heap[0];
    bigram last = e->heap[--e->heap_n];
    size_t n = e->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_better(&e->heap[c + 1], &e->heap[c])) c++;
        if (!bigram_better(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n > 0) e->heap[i] = last;
    return top;
}

static bool try_bigram(encoder *e, int left, int right) {
    if (left < 0 || right < 0) return true;
    const sym *l = &e->syms[left], *r = &e->syms[right];
    int size = l->n + r->n;
    int32_t id = lookup(e->t, e->buf + l->off, (size_t)size);
    if (id < 0) return true;
    bigram b = {tok_score(e->t, id), left, right, size};
    return heap_push(e, b);
}

static bool emit_symbol(encoder *e, const sym *s) {
    const qw_tokenizer *t = e->t;
    const unsigned char *p = (const unsigned char *)e->buf + s->off;
    int32_t id = lookup(t, (const char *)p, (size_t)s->n);
    if (id >= 0) return emit(e, id);
    bool all_bytes = true;
    for (int k = 0; k < s->n; k++) all_bytes = all_bytes && t->byte_tok[p[k]] >= 0;
    if (all_bytes) {
        for (int k = 0; k < s->n; k++)
            if (!emit(e, t->byte_tok[p[k]])) return false;
        return true;
    }
    if (t->unk >= 0) return emit(e, t->unk);
    qw_fail(QW_ERR_INVALID_ARG, "qw_tokenize: the text has a character the vocabulary cannot "
                                "represent (no byte tokens and no UNK)");
    return false;
}

/* SentencePiece on one fragment of raw text */
static bool encode_fragment(encoder *e, const char *src, size_t len, bool space_prefix) {
    /* escaped size: spaces become 3 bytes */
    uint64_t need = (uint64_t)len + (space_prefix ? 3 : 0);
    for (size_t i = 0; i < len; i++) need += src[i] == ' ' ? 2 : 0;
    if (need > (uint64_t)INT_MAX - 1) {
        qw_fail(QW_ERR_INVALID_ARG, "qw_tokenize: text too long");
        return false;
    }
    int m = (int)need;
    if (m == 0) return true;
    if (!grow((void **)&e->buf, &e->buf_cap, (size_t)m, 1) ||
        !grow((void **)&e->syms, &e->syms_cap, (size_t)m, sizeof *e->syms)) {
        qw_fail(QW_ERR_OOM, "qw_tokenize: out of memory");
        return false;
    }
    char *b = e->buf;
    int k = 0;
    if (space_prefix) {
        memcpy(b, "\xE2\x96\x81", 3);
        k = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (src[i] == ' ') {
            memcpy(b + k, "\xE2\x96\x81", 3);
            k += 3;
        } else {
            b[k++] = src[i];
        }
    }

    /* one symbol per UTF-8 character */
    int ns = 0;
    for (int off = 0; off < m;) {
        int cl = qw_utf8_seq_len((unsigned char)b[off]);
        if (cl > m - off) cl = m - off;
        sym *s = &e->syms[ns];
        s->off = off;
        s->n = cl;
        s->prev = ns - 1;
        off += cl;
        s->next = off < m ? ns + 1 : -1;
        ns++;
    }

    e->heap_n = 0;
    for (int i = 1; i < ns; i++) {
        if (!try_bigram(e, i - 1, i)) goto oom;
    }
    while (e->heap_n > 0) {
        bigram bg = heap_pop(e);
        sym *l = &e->syms[bg.left], *r = &e->syms[bg.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != bg.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) e->syms[r->next].prev = bg.left;
        if (!try_bigram(e, l->prev, bg.left) || !try_bigram(e, bg.left, l->next)) goto oom;
    }
    for (int i = 0; i != -1; i = e->syms[i].next) {
        if (!emit_symbol(e, &e->syms[i])) return false;
    }
    return true;
oom:
    qw_fail(QW_ERR_OOM, "qw_tokenize: out of memory");
    return false;
}

static bool is_c_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Cuts raw text around user-defined tokens. On return *frags holds the list. */
static bool partition(const qw_tokenizer *t, const char *text, size_t len, frag **frags, size_t *nfrags) {
    frag *cur = malloc(sizeof *cur);
    size_t ncur = 1, cap_cur = 1;
    if (!cur) return false;
    cur[0] = (frag){0, len, -1};
    frag *next = NULL;
    size_t cap_next = 0;
    for (int u = 0; u < t->n_user; u++) {
        int32_t id = t->user[u];
        const char *needle = tok_text(t, id);
        size_t m = t->text_len[id];
        size_t nn = 0;
        bool ok = true;
        for (size_t f = 0; f < ncur && ok; f++) {
            frag fr = cur[f];
            if (fr.tok >= 0 || fr.len < m) {
                ok = grow((void **)&next, &cap_next, nn + 1, sizeof *next);
                if (ok) next[nn++] = fr;
                continue;
            }
            size_t base = fr.off, rem = fr.len;
            while (rem > 0 && ok) {
                const char *hit = find_bytes(text + base, rem, needle, m);
                if (!hit) {
                    ok = grow((void **)&next, &cap_next, nn + 1, sizeof *next);
                    if (ok) next[nn++] = (frag){base, rem, -1};
                    break;
                }
                size_t pos = (size_t)(hit - text);
                ok = grow((void **)&next, &cap_next, nn + 2, sizeof *next);
                if (!ok) break;
                if (pos > base) next[nn++] = (frag){base, pos - base, -1};
                next[nn++] = (frag){pos, m, id};
                size_t roff = pos + m, rlen = base + rem - roff;
                if (t->flags[id] & TF_RSTRIP) {
                    while (rlen > 0 && is_c_space(text[roff])) {
                        roff++;
                        rlen--;
                    }
                }
                base = roff;
                rem = rlen;
            }
        }
        if (!ok) {
            free(cur);
            free(next);
            return false;
        }
        frag *tmp = cur;
        size_t tmp_cap = cap_cur;
        cur = next;
        cap_cur = cap_next;
        ncur = nn;
        next = tmp;
        cap_next = tmp_cap;
    }
    free(next);
    *frags = cur;
    *nfrags = ncur;
    return true;
}

int qw_tokenizer_encode(const qw_tokenizer *t, const char *text, size_t len, bool add_bos,
                        int32_t *out, int cap) {
    if (!t) {
        qw_fail(QW_ERR_INVALID_ARG, "qw_tokenize: no tokenizer");
        return -1;
    }
    if ((!text && len > 0) || cap < 0 || (!out && cap > 0)) {
        qw_fail(QW_ERR_INVALID_ARG, "qw_tokenize: bad arguments (text %p, len %zu, out %p, cap %d)",
                (const void *)text, len, (void *)out, cap);
        return -1;
    }
    encoder e = {0};
    e.t = t;
    e.out = out;
    e.cap = cap;
    if (add_bos) {
        if (t->bos < 0) {
            qw_fail(QW_ERR_INVALID_ARG, "qw_tokenize: BOS requested but the model has no BOS token");
            return -1;
        }
        emit(&e, t->bos);
    }
    if (len == 0) return e.count;

    frag *frags = NULL;
    size_t nfrags = 0;
    if (!partition(t, text, len, &frags, &nfrags)) {
        qw_fail(QW_ERR_OOM, "qw_tokenize: out of memory");
        return -1;
    }
    bool ok = true, prev_special = true;
    for (size_t i = 0; i < nfrags && ok; i++) {
        if (frags[i].tok >= 0) {
            ok = emit(&e, frags[i].tok);
            prev_special = true;
        } else {
            ok = encode_fragment(&e, text + frags[i].off, frags[i].len,
                                 t->add_space_prefix && prev_special);
            prev_special = false;
        }
    }
    free(frags);
    free(e.buf);
    free(e.syms);
    free(e.heap);
    return ok ? e.count : -1;
}

/* ----------------------------------------------------------- decoding -- */

int qw_tokenizer_piece(const qw_tokenizer *t, int32_t id, char *out, int cap) {
    if (!valid_id(t, id)) {
        qw_fail(QW_ERR_INVALID_ARG, "token id %d is out of range (vocabulary of %d)", (int)id,
                t ? t->n : 0);
        return -1;
    }
    if (cap < 0 || (!out && cap > 0)) {
        qw_fail(QW_ERR_INVALID_ARG, "qw_token_to_bytes: bad output buffer");
        return -1;
    }
    char small[PIECE_SMALL], *big;
    int n;
    const char *p = piece_bytes(t, id, small, &big, &n);
    if (!p) return -1;
    if (n > cap) n = cap;
    if (n > 0) memcpy(out, p, (size_t)n);
    free(big);
    return n;
}

int qw_tokenizer_decode(const qw_tokenizer *t, const int32_t *ids, int n, char *out, int cap) {
    if (!t || n < 0 || (!ids && n > 0) || cap < 0 || (!out && cap > 0)) {
        qw_fail(QW_ERR_INVALID_ARG, "qw_tokenizer_decode: bad arguments");
        return -1;
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!valid_id(t, ids[i])) {
            qw_fail(QW_ERR_INVALID_ARG, "token id %d is out of range (vocabulary of %d)", (int)ids[i], t->n);
            return -1;
        }
        char small[PIECE_SMALL], *big;
        int pn;
        const char *p = piece_bytes(t, ids[i], small, &big, &pn);
        if (!p) return -1;
        int64_t m = pn;
        if (i == 0 && t->add_space_prefix && m > 0 && p[0] == ' ') {
            p++;
            m--;
        }
        if (total + m > INT_MAX - 1) {
            free(big);
            qw_fail(QW_ERR_INVALID_ARG, "qw_tokenizer_decode: text too long");
            return -1;
        }
        if (total < cap) {
            int64_t room = cap - 1 - total;
            int64_t c = m < room ? m : room;
            if (c > 0) memcpy(out + total, p, (size_t)c);
        }
        free(big);
        total += m;
    }
    if (cap > 0) out[total < cap ? total : cap - 1] = '\0';
    return (int)total;
}

int qw_tokenizer_detok_push(const qw_tokenizer *t, qw_detok *st, int32_t id, char *out, int cap) {
    if (!st || !out || cap <= 0) {
        qw_fail(QW_ERR_INVALID_ARG, "qw_detok_push: bad arguments");
        return -1;
    }
    if (!valid_id(t, id)) {
        out[0] = '\0';
        qw_fail(QW_ERR_INVALID_ARG, "token id %d is out of range (vocabulary of %d)", (int)id,
                t ? t->n : 0);
        return -1;
    }
    char small[PIECE_SMALL], *big;
    int n;
    const char *p = piece_bytes(t, id, small, &big, &n);
    if (!p) {
        out[0] = '\0';
        return -1;
    }
    int r = qw_utf8_sanitize(st->pending, &st->n_pending, (const unsigned char *)p, (size_t)n, false,
                             out, cap);
    free(big);
    return r;
}

int qw_detok_flush(qw_detok *st, char *out, int cap) {
    if (!st || !out || cap <= 0) {
        qw_fail(QW_ERR_INVALID_ARG, "qw_detok_flush: bad arguments");
        return -1;
    }
    return qw_utf8_sanitize(st->pending, &st->n_pending, NULL, 0, true, out, cap);
}

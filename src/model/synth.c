/* Synthetic random-weight models of real shapes (see synth.h). The file is
 * laid out with the GGUF writer (metadata + tensor infos), then streamed: each
 * tensor is generated and quantized in chunks of rows by the thread pool and
 * handed to the writer's fill callback, so memory stays small for any size. */
#include "synth.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/error.h"
#include "../core/mapfile.h"
#include "../core/pool.h"
#include "../gguf/gguf.h"
#include "../gguf/gguf_write.h"

/* ------------------------------------------------------------- shapes -- */

static const qw_synth_shape SHAPES[] = {
    /* karpathy's stories15M (llama2.c), untied classifier */
    {"stories15m", 6, 288, 6, 6, 768, 32000, 256, 10000.0f, false},
    /* HuggingFaceTB/SmolLM2-135M */
    {"smollm2-135m", 30, 576, 9, 3, 1536, 49152, 8192, 100000.0f, true},
    /* meta-llama/Llama-3.2-1B (without its llama3 RoPE frequency factors) */
    {"llama3.2-1b", 16, 2048, 32, 8, 8192, 128256, 131072, 500000.0f, true},
};
#define N_SHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

int qw_synth_n_shapes(void) { return N_SHAPES; }

const qw_synth_shape *qw_synth_shape_at(int i) {
    return i >= 0 && i < N_SHAPES ? &SHAPES[i] : NULL;
}

static bool eq_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

const qw_synth_shape *qw_synth_find_shape(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < N_SHAPES; i++)
        if (eq_nocase(name, SHAPES[i].name)) return &SHAPES[i];
    return NULL;
}

static const struct {
    const char *name;
    uint32_t ftype;
    uint32_t base; /* default tensor type */
} FTYPES[] = {
    {"F16", QW_SYNTH_F16, QW_TYPE_F16},
    {"Q8_0", QW_SYNTH_Q8_0, QW_TYPE_Q8_0},
    {"Q4_0", QW_SYNTH_Q4_0, QW_TYPE_Q4_0},
    {"Q4_K_M", QW_SYNTH_Q4_K_M, QW_TYPE_Q4_K},
};
#define N_FTYPES ((int)(sizeof FTYPES / sizeof FTYPES[0]))

bool qw_synth_parse_ftype(const char *name, uint32_t *ftype) {
    for (int i = 0; name && i < N_FTYPES; i++)
        if (eq_nocase(name, FTYPES[i].name)) {
            *ftype = FTYPES[i].ftype;
            return true;
        }
    return false;
}

const char *qw_synth_ftype_name(uint32_t ftype) {
    for (int i = 0; i < N_FTYPES; i++)
        if (FTYPES[i].ftype == ftype) return FTYPES[i].name;
    return NULL;
}

/* ------------------------------------------------------ tensor types -- */

/* llama.cpp's use_more_bits: the first and last eighth of the layers and
 * every third one in between. (C and C++ agree on % with negatives.) */
static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool divides(uint32_t type, int64_t ne0) {
    const qw_type_traits *tr = qw_type_get(type);
    return tr && ne0 % tr->blck_size == 0;
}

qw_status qw_synth_tensor_type(const qw_synth_shape *s, uint32_t ftype, const char *kind,
                               int layer, int64_t ne0, uint32_t *type) {
    uint32_t base = QW_TYPE_COUNT;
    for (int i = 0; i < N_FTYPES; i++)
        if (FTYPES[i].ftype == ftype) base = FTYPES[i].base;
    if (base == QW_TYPE_COUNT || !s || !kind)
        return qw_fail(QW_ERR_INVALID_ARG, "synth: unknown file type %u", (unsigned)ftype);
    size_t kl = strlen(kind);
    if (kl >= 5 && !strcmp(kind + kl - 5, "_norm")) {
        *type = QW_TYPE_F32;
        return QW_OK;
    }
    uint32_t t = base;
    if (base != QW_TYPE_F16) { /* quantized: llama-quantize's per-tensor rules */
        bool out = !strcmp(kind, "output") || (s->tied_output && !strcmp(kind, "token_embd"));
        if (out) {
            if (!divides(base, ne0)) t = QW_TYPE_Q8_0;
            else if (t != QW_TYPE_Q8_0) t = QW_TYPE_Q6_K;
        } else if (ftype == QW_SYNTH_Q4_K_M &&
                   (!strcmp(kind, "attn_v") || !strcmp(kind, "ffn_down")) &&
                   use_more_bits(layer, s->n_layer)) {
            t = QW_TYPE_Q6_K;
        }
        if (!divides(t, ne0)) { /* llama.cpp's tensor_type_fallback */
            switch (t) {
            case QW_TYPE_Q4_K: t = QW_TYPE_Q5_0; break;
            case QW_TYPE_Q5_K: t = QW_TYPE_Q5_1; break;
            case QW_TYPE_Q6_K: t = QW_TYPE_Q8_0; break;
            default:
                return qw_fail(QW_ERR_UNSUPPORTED,
                               "synth: %s rows of %lld do not fit %s blocks", kind,
                               (long long)ne0, qw_type_name(t));
            }
            if (!divides(t, ne0)) t = QW_TYPE_F16;
        }
    }
    if (!divides(t, ne0))
        return qw_fail(QW_ERR_UNSUPPORTED, "synth: %s rows of %lld do not fit %s blocks", kind,
                       (long long)ne0, qw_type_name(t));
    *type = t;
    return QW_OK;
}

/* ------------------------------------------------------------ layout -- */

typedef struct tspec {
    char name[48];
    uint32_t type;
    int64_t ne0, ne1; /* ne1 = 1 for vectors */
    float std;        /* 0: constant 1.0 (norms) */
    uint64_t nbytes;
} tspec;

typedef struct plan {
    tspec *t;
    uint32_t n;
    qw_gguf_writer *w;
    uint64_t data_size;
} plan;

static void plan_free(plan *pl) {
    free(pl->t);
    qw_gguf_writer_free(pl->w);
    memset(pl, 0, sizeof *pl);
}

static qw_status add_spec(plan *pl, const qw_synth_shape *s, uint32_t ftype, const char *kind,
                          int layer, int64_t ne0, int64_t ne1, float std) {
    tspec *t = &pl->t[pl->n];
    if (layer >= 0)
        snprintf(t->name, sizeof t->name, "blk.%d.%s.weight", layer, kind);
    else
        snprintf(t->name, sizeof t->name, "%s.weight", kind);
    qw_status st = qw_synth_tensor_type(s, ftype, kind, layer, ne0, &t->type);
    if (st != QW_OK) return st;
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->std = std;
    t->nbytes = (uint64_t)qw_row_size(t->type, ne0) * (uint64_t)ne1;
    const int64_t ne[2] = {ne0, ne1};
    st = qw_gguf_add_tensor(pl->w, t->name, t->type, ne1 > 1 ? 2 : 1, ne, NULL, t->nbytes);
    if (st != QW_OK) return st;
    pl->data_size += t->nbytes;
    pl->n++;
    return QW_OK;
}

static qw_status add_tensors(plan *pl, const qw_synth_shape *s, uint32_t ftype) {
    const int64_t d = s->n_embd, hd = s->n_embd / s->n_head;
    const int64_t q_dim = s->n_head * hd, kv_dim = s->n_head_kv * hd;
    const float scale = sqrtf(288.0f / (float)s->n_embd);
    const float s_emb = 0.02f, s_out = 0.15f * scale, s_blk = 0.05f * scale;
    pl->t = calloc((size_t)(3 + 9 * s->n_layer), sizeof *pl->t);
    if (!pl->t) return qw_fail(QW_ERR_OOM, "synth: out of memory");
    qw_status st = add_spec(pl, s, ftype, "token_embd", -1, d, s->n_vocab, s_emb);
    for (int l = 0; st == QW_OK && l < s->n_layer; l++) {
        if ((st = add_spec(pl, s, ftype, "attn_norm", l, d, 1, 0)) != QW_OK ||
            (st = add_spec(pl, s, ftype, "attn_q", l, d, q_dim, s_blk)) != QW_OK ||
            (st = add_spec(pl, s, ftype, "attn_k", l, d, kv_dim, s_blk)) != QW_OK ||
            (st = add_spec(pl, s, ftype, "attn_v", l, d, kv_dim, s_blk)) != QW_OK ||
            (st = add_spec(pl, s, ftype, "attn_output", l, q_dim, d, s_blk)) != QW_OK ||
            (st = add_spec(pl, s, ftype, "ffn_norm", l, d, 1, 0)) != QW_OK ||
            (st = add_spec(pl, s, ftype, "ffn_gate", l, d, s->n_ff, s_blk)) != QW_OK ||
            (st = add_spec(pl, s, ftype, "ffn_up", l, d, s->n_ff, s_blk)) != QW_OK ||
            (st = add_spec(pl, s, ftype, "ffn_down", l, s->n_ff, d, s_blk)) != QW_OK)
            break;
    }
    if (st == QW_OK) st = add_spec(pl, s, ftype, "output_norm", -1, d, 1, 0);
    if (st == QW_OK && !s->tied_output)
        st = add_spec(pl, s, ftype, "output", -1, d, s->n_vocab, s_out);
    return st;
}

/* ------------------------------------------------------------- vocab -- */

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_UNUSED = 5, TT_BYTE = 6 };

/* A token list being built: strings in one arena. */
typedef struct vocab {
    char *arena;
    size_t used, cap;
    uint64_t *off, *len;
    const char **ptr;
    float *score;
    int32_t *type;
    int n, max;
} vocab;

static void vocab_free(vocab *v) {
    free(v->arena);
    free(v->off);
    free(v->len);
    free(v->ptr);
    free(v->score);
    free(v->type);
}

static qw_status vocab_init(vocab *v, int max) {
    memset(v, 0, sizeof *v);
    v->max = max;
    v->cap = (size_t)max * 12 + 64;
    v->arena = malloc(v->cap);
    v->off = malloc((size_t)max * sizeof *v->off);
    v->len = malloc((size_t)max * sizeof *v->len);
    v->ptr = malloc((size_t)max * sizeof *v->ptr);
    v->score = malloc((size_t)max * sizeof *v->score);
    v->type = malloc((size_t)max * sizeof *v->type);
    if (!v->arena || !v->off || !v->len || !v->ptr || !v->score || !v->type) {
        vocab_free(v);
        return qw_fail(QW_ERR_OOM, "synth: out of memory for the vocabulary");
    }
    return QW_OK;
}

static qw_status vocab_add(vocab *v, const char *s, size_t n, float score, int32_t type) {
    if (v->n >= v->max) return qw_fail(QW_ERR_INVALID_ARG, "synth: vocabulary overflow");
    if (v->used + n > v->cap) {
        size_t cap = (v->used + n) * 2;
        char *p = realloc(v->arena, cap);
        if (!p) return qw_fail(QW_ERR_OOM, "synth: out of memory for the vocabulary");
        v->arena = p;
        v->cap = cap;
    }
    memcpy(v->arena + v->used, s, n);
    v->off[v->n] = v->used;
    v->len[v->n] = n;
    v->score[v->n] = score;
    v->type[v->n] = type;
    v->used += n;
    v->n++;
    return QW_OK;
}

/* Pointers into the arena are taken only once it stops moving. */
static void vocab_finish(vocab *v) {
    for (int i = 0; i < v->n; i++) v->ptr[i] = v->arena + v->off[i];
}

static qw_status vocab_set_arrays(qw_gguf_writer *w, vocab *v) {
    vocab_finish(v);
    qw_status st = qw_gguf_set_arr_str(w, "tokenizer.ggml.tokens", v->ptr, v->len, (uint64_t)v->n);
    if (st == QW_OK)
        st = qw_gguf_set_arr(w, "tokenizer.ggml.scores", QW_GGUF_F32, v->score, (uint64_t)v->n);
    if (st == QW_OK)
        st = qw_gguf_set_arr(w, "tokenizer.ggml.token_type", QW_GGUF_I32, v->type,
                             (uint64_t)v->n);
    return st;
}

/* <unk> <s> </s>, 256 byte tokens, then filler pieces: "▁", printable ASCII,
 * then "▁w" and "w" for words w over a-z by length (every piece's halves are
 * pieces too, so SentencePiece merges reach them). Scores fall with the id. */
static qw_status generated_vocab(qw_gguf_writer *w, int n_vocab) {
    if (n_vocab < 3 + 256 + 1)
        return qw_fail(QW_ERR_INVALID_ARG, "synth: vocabulary of %d is too small", n_vocab);
    vocab v;
    qw_status st = vocab_init(&v, n_vocab);
    if (st != QW_OK) return st;
    st = vocab_add(&v, "<unk>", 5, 0.0f, TT_UNKNOWN);
    if (st == QW_OK) st = vocab_add(&v, "<s>", 3, 0.0f, TT_CONTROL);
    if (st == QW_OK) st = vocab_add(&v, "</s>", 4, 0.0f, TT_CONTROL);
    char buf[64];
    for (int b = 0; st == QW_OK && b < 256; b++) {
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        st = vocab_add(&v, buf, 6, 0.0f, TT_BYTE);
    }
    static const char SP[] = "\xE2\x96\x81"; /* U+2581, SentencePiece's space */
    float score = -1.0f;
    if (st == QW_OK) st = vocab_add(&v, SP, 3, score--, TT_NORMAL);
    for (int c = 0x21; st == QW_OK && c < 0x7F && v.n < n_vocab; c++) {
        buf[0] = (char)c;
        st = vocab_add(&v, buf, 1, score--, TT_NORMAL);
    }
    for (int len = 1; st == QW_OK && v.n < n_vocab && len <= 8; len++) {
        int64_t count = 1;
        for (int i = 0; i < len; i++) count *= 26;
        for (int64_t k = 0; st == QW_OK && k < count && v.n < n_vocab; k++) {
            char word[16];
            int64_t x = k;
            for (int i = len - 1; i >= 0; i--, x /= 26) word[i] = (char)('a' + x % 26);
            memcpy(buf, SP, 3);
            memcpy(buf + 3, word, (size_t)len);
            st = vocab_add(&v, buf, (size_t)len + 3, score--, TT_NORMAL);
            if (st == QW_OK && len > 1 && v.n < n_vocab)
                st = vocab_add(&v, word, (size_t)len, score--, TT_NORMAL);
        }
    }
    if (st == QW_OK && v.n != n_vocab)
        st = qw_fail(QW_ERR_INVALID_ARG, "synth: cannot generate %d tokens", n_vocab);
    if (st == QW_OK) st = qw_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    if (st == QW_OK) st = qw_gguf_set_str(w, "tokenizer.ggml.pre", "default");
    if (st == QW_OK) st = vocab_set_arrays(w, &v);
    if (st == QW_OK) st = qw_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (st == QW_OK) st = qw_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (st == QW_OK) st = qw_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (st == QW_OK) st = qw_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    if (st == QW_OK) st = qw_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    vocab_free(&v);
    return st;
}

static uint64_t get_le(const uint8_t *p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}


/* Copies one key-value pair (any type) into the writer. */
static qw_status copy_kv(qw_gguf_writer *w, const char *key, const qw_gguf_kv *kv) {
    switch (kv->type) {
    case QW_GGUF_U8: return qw_gguf_set_u8(w, key, (uint8_t)kv->v.u64);
    case QW_GGUF_I8: return qw_gguf_set_i8(w, key, (int8_t)kv->v.i64);
    case QW_GGUF_U16: return qw_gguf_set_u16(w, key, (uint16_t)kv->v.u64);
    case QW_GGUF_I16: return qw_gguf_set_i16(w, key, (int16_t)kv->v.i64);
    case QW_GGUF_U32: return qw_gguf_set_u32(w, key, (uint32_t)kv->v.u64);
    case QW_GGUF_I32: return qw_gguf_set_i32(w, key, (int32_t)kv->v.i64);
    case QW_GGUF_U64: return qw_gguf_set_u64(w, key, kv->v.u64);
    case QW_GGUF_I64: return qw_gguf_set_i64(w, key, kv->v.i64);
    case QW_GGUF_F32: return qw_gguf_set_f32(w, key, (float)kv->v.f64);
    case QW_GGUF_F64: return qw_gguf_set_f64(w, key, kv->v.f64);
    case QW_GGUF_BOOL: return qw_gguf_set_bool(w, key, kv->v.b);
    case QW_GGUF_STRING: return qw_gguf_set_strn(w, key, kv->v.str.ptr, kv->v.str.len);
    case QW_GGUF_ARRAY: break;
    }
    if (kv->arr_type == QW_GGUF_STRING) {
        const char **ptr = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *ptr);
        uint64_t *len = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *len);
        qw_status st;
        if (!ptr || !len) {
            st = qw_fail(QW_ERR_OOM, "synth: out of memory copying '%s'", key);
        } else {
            for (uint64_t i = 0; i < kv->arr_n; i++) {
                ptr[i] = kv->arr_str[i].ptr;
                len[i] = kv->arr_str[i].len;
            }
            st = qw_gguf_set_arr_str(w, key, ptr, len, kv->arr_n);
        }
        free(ptr);
        free(len);
        return st;
    }
    unsigned es = qw_gguf_vtype_size(kv->arr_type);
    if (!es) return qw_fail(QW_ERR_UNSUPPORTED, "synth: cannot copy '%s'", key);
    uint8_t *host = malloc(kv->arr_n ? (size_t)kv->arr_n * es : 1);
    if (!host) return qw_fail(QW_ERR_OOM, "synth: out of memory copying '%s'", key);
    for (uint64_t i = 0; i < kv->arr_n; i++) { /* little-endian file -> host order */
        uint64_t x = get_le(kv->arr_data + i * es, es);
        uint8_t *d = host + i * es;
        if (es == 1) *d = (uint8_t)x;
        else if (es == 2) { uint16_t y = (uint16_t)x; memcpy(d, &y, 2); }
        else if (es == 4) { uint32_t y = (uint32_t)x; memcpy(d, &y, 4); }
        else memcpy(d, &x, 8);
    }
    qw_status st = qw_gguf_set_arr(w, key, kv->arr_type, host, kv->arr_n);
    free(host);
    return st;
}

static bool has_prefix(qw_str s, const char *p) {
    size_t n = strlen(p);
    return s.len >= n && memcmp(s.ptr, p, n) == 0;
}

static bool has_suffix(qw_str s, const char *p) {
    size_t n = strlen(p);
    return s.len >= n && memcmp(s.ptr + s.len - n, p, n) == 0;
}

/* tokenizer.ggml.* from a vocab GGUF, resized to n_vocab. */
static qw_status copied_vocab(qw_gguf_writer *w, const char *path, int n_vocab,
                              qw_synth_info *info) {
    qw_mapping map;
    qw_status st = qw_map_file(path, &map);
    if (st != QW_OK) return st;
    qw_gguf *g = NULL;
    st = qw_gguf_parse(map.data, (size_t)map.size, map.size, &g, NULL);
    if (st != QW_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", qw_last_error());
        qw_unmap_file(&map);
        return qw_fail(st, "%s: %s", path, msg);
    }
    vocab v = {0};
    bool v_inited = false;
    qw_str model = {0};
    const qw_gguf_kv *toks = qw_gguf_find(g, "tokenizer.ggml.tokens");
    const qw_gguf_kv *scores = qw_gguf_find(g, "tokenizer.ggml.scores");
    const qw_gguf_kv *types = qw_gguf_find(g, "tokenizer.ggml.token_type");
    if ((st = qw_gguf_get_str(g, "tokenizer.ggml.model", true, &model)) != QW_OK) goto done;
    if (!qw_str_eq(model, "llama")) {
        st = qw_fail(QW_ERR_UNSUPPORTED,
                     "%s: tokenizer model '%.*s' is not supported (synth needs a SentencePiece "
                     "'llama' vocabulary)",
                     path, (int)(model.len > 32 ? 32 : model.len), model.ptr);
        goto done;
    }
    if (!toks || toks->type != QW_GGUF_ARRAY || toks->arr_type != QW_GGUF_STRING ||
        toks->arr_n == 0 || toks->arr_n > (uint64_t)(1 << 24)) {
        st = qw_fail(QW_ERR_BAD_MODEL, "%s: no usable tokenizer.ggml.tokens", path);
        goto done;
    }
    if ((scores && (scores->type != QW_GGUF_ARRAY || scores->arr_type != QW_GGUF_F32 ||
                    scores->arr_n != toks->arr_n)) ||
        (types && (types->type != QW_GGUF_ARRAY || qw_gguf_vtype_size(types->arr_type) == 0 ||
                   types->arr_type == QW_GGUF_F32 || types->arr_type == QW_GGUF_F64 ||
                   types->arr_n != toks->arr_n))) {
        st = qw_fail(QW_ERR_BAD_MODEL, "%s: tokenizer.ggml.scores/token_type do not match the tokens",
                     path);
        goto done;
    }
    const int n_src = (int)toks->arr_n;
    const int n_keep = n_src < n_vocab ? n_src : n_vocab;
    info->vocab_source = n_src;
    info->vocab_padded = n_vocab > n_src ? n_vocab - n_src : 0;
    info->vocab_truncated = n_src > n_vocab ? n_src - n_vocab : 0;
    if ((st = vocab_init(&v, n_vocab)) != QW_OK) goto done;
    v_inited = true;
    int bytes_kept = 0, bytes_all = 0;
    for (int i = 0; i < n_src; i++) {
        int32_t ty = types ? (int32_t)qw_gguf_arr_i64(types, (uint64_t)i) : TT_NORMAL;
        if (ty == TT_BYTE) {
            bytes_all++;
            if (i < n_keep) bytes_kept++;
        }
        if (info->vocab_padded && has_prefix(toks->arr_str[i], "<unused_")) {
            st = qw_fail(QW_ERR_UNSUPPORTED,
                         "%s already has '<unused_' tokens; cannot pad it without clashes", path);
            goto done;
        }
        if (i < n_keep) {
            float sc = scores ? (float)qw_gguf_arr_f64(scores, (uint64_t)i) : 0.0f;
            st = vocab_add(&v, toks->arr_str[i].ptr, (size_t)toks->arr_str[i].len, sc, ty);
            if (st != QW_OK) goto done;
        }
    }
    if (bytes_kept != bytes_all) {
        st = qw_fail(QW_ERR_UNSUPPORTED,
                     "%s: cutting it to %d tokens would drop %d of its byte tokens", path, n_vocab,
                     bytes_all - bytes_kept);
        goto done;
    }
    for (int i = 0; v.n < n_vocab; i++) {
        char buf[32];
        int k = snprintf(buf, sizeof buf, "<unused_%d>", i);
        if ((st = vocab_add(&v, buf, (size_t)k, -1000.0f, TT_UNUSED)) != QW_OK) goto done;
    }
    /* every tokenizer.ggml.* key, in the file's order; the per-token arrays
     * replaced by the resized ones, special ids past the end dropped */
    for (uint64_t i = 0; i < g->n_kv && st == QW_OK; i++) {
        const qw_gguf_kv *kv = &g->kv[i];
        if (!has_prefix(kv->key, "tokenizer.ggml.") || kv->key.len > 200) continue;
        char key[256];
        memcpy(key, kv->key.ptr, (size_t)kv->key.len);
        key[kv->key.len] = '\0';
        if (kv == toks) {
            st = qw_gguf_set_arr_str(w, key, NULL, NULL, 0); /* placeholder: keeps the order */
            continue;
        }
        if (kv == scores || kv == types) {
            st = qw_gguf_set_arr(w, key, QW_GGUF_F32, NULL, 0);
            continue;
        }
        bool is_int = qw_gguf_vtype_size(kv->type) && kv->type != QW_GGUF_BOOL && kv->type != QW_GGUF_F32 &&
                      kv->type != QW_GGUF_F64;
        if (is_int && has_suffix(kv->key, "_token_id")) {
            bool is_unsigned = kv->type == QW_GGUF_U8 || kv->type == QW_GGUF_U16 ||
                               kv->type == QW_GGUF_U32 || kv->type == QW_GGUF_U64;
            bool none = is_unsigned ? (kv->v.u64 == UINT32_MAX || kv->v.u64 == UINT64_MAX)
                                    : kv->v.i64 == -1;
            bool in = is_unsigned ? kv->v.u64 < (uint64_t)n_vocab
                                  : kv->v.i64 >= 0 && kv->v.i64 < n_vocab;
            if (!none && !in) {
                info->special_dropped++;
                continue;
            }
        }
        st = copy_kv(w, key, kv);
    }
    if (st == QW_OK) st = vocab_set_arrays(w, &v);
done:
    if (v_inited) vocab_free(&v);
    qw_gguf_free(g);
    qw_unmap_file(&map);
    return st;
}

/* ----------------------------------------------------------- metadata -- */

static qw_status build(const qw_synth_params *p, plan *pl, qw_synth_info *info) {
    memset(pl, 0, sizeof *pl);
    memset(info, 0, sizeof *info);
    const qw_synth_shape *s = p ? p->shape : NULL;
    if (!s) return qw_fail(QW_ERR_INVALID_ARG, "synth: no shape");
    if (!qw_synth_ftype_name(p->ftype))
        return qw_fail(QW_ERR_INVALID_ARG, "synth: unknown file type %u", (unsigned)p->ftype);
    qw_status st = qw_gguf_writer_create(&pl->w);
    if (st != QW_OK) return st;
    qw_gguf_writer *w = pl->w;
    char name[96], desc[160];
    snprintf(name, sizeof name, "synth-%s", s->name);
    snprintf(desc, sizeof desc,
             "qwasm synth: random weights (seed %llu), %s shape; NOT a language model",
             (unsigned long long)p->seed, s->name);
    const uint32_t hd = (uint32_t)(s->n_embd / s->n_head);
#define SET(call) if (st == QW_OK) st = (call)
    SET(qw_gguf_set_str(w, "general.architecture", "llama"));
    SET(qw_gguf_set_str(w, "general.name", name));
    SET(qw_gguf_set_str(w, "general.description", desc));
    SET(qw_gguf_set_u32(w, "general.file_type", p->ftype));
    SET(qw_gguf_set_u32(w, "general.quantization_version", 2));
    SET(qw_gguf_set_u32(w, "llama.vocab_size", (uint32_t)s->n_vocab));
    SET(qw_gguf_set_u32(w, "llama.context_length", (uint32_t)s->n_ctx));
    SET(qw_gguf_set_u32(w, "llama.embedding_length", (uint32_t)s->n_embd));
    SET(qw_gguf_set_u32(w, "llama.block_count", (uint32_t)s->n_layer));
    SET(qw_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)s->n_ff));
    SET(qw_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)s->n_head));
    SET(qw_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)s->n_head_kv));
    SET(qw_gguf_set_u32(w, "llama.rope.dimension_count", hd));
    SET(qw_gguf_set_f32(w, "llama.rope.freq_base", s->rope_base));
    SET(qw_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f));
#undef SET
    if (st == QW_OK)
        st = p->vocab_path ? copied_vocab(w, p->vocab_path, s->n_vocab, info)
                           : generated_vocab(w, s->n_vocab);
    if (st == QW_OK) st = add_tensors(pl, s, p->ftype);
    if (st == QW_OK) st = qw_gguf_writer_size(w, &info->file_size);
    if (st != QW_OK) {
        plan_free(pl);
        return st;
    }
    info->n_tensors = pl->n;
    info->data_size = pl->data_size;
    for (uint32_t i = 0; i < pl->n; i++) {
        info->n_params += (uint64_t)pl->t[i].ne0 * (uint64_t)pl->t[i].ne1;
        info->type_hist[pl->t[i].type]++;
    }
    return QW_OK;
}

qw_status qw_synth_plan(const qw_synth_params *p, qw_synth_info *info) {
    plan pl;
    qw_synth_info tmp;
    qw_status st = build(p, &pl, info ? info : &tmp);
    plan_free(&pl);
    return st;
}

/* ---------------------------------------------------------- weights -- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Row r of tensor t: n Gaussian values N(0, std^2) (Marsaglia's polar
 * method on a splitmix64 stream seeded from (seed, t, r)). */
static void gaussian_row(uint64_t seed, uint32_t t, int64_t r, float std, float *y, int64_t n) {
    uint64_t x = seed;
    x = splitmix64(&x) ^ ((uint64_t)t + 1) * UINT64_C(0xD1B54A32D192ED03);
    x = splitmix64(&x) ^ (uint64_t)r;
    (void)splitmix64(&x);
    for (int64_t i = 0; i < n; i += 2) {
        double u, v, q;
        do { /* a point in the unit disc (not its centre) */
            u = (double)(splitmix64(&x) >> 11) * 0x1.0p-52 - 1.0; /* [-1, 1) */
            v = (double)(splitmix64(&x) >> 11) * 0x1.0p-52 - 1.0;
            q = u * u + v * v;
        } while (q >= 1.0 || q == 0.0);
        double f = std * sqrt(-2.0 * log(q) / q);
        y[i] = (float)(u * f);
        if (i + 1 < n) y[i + 1] = (float)(v * f);
    }
}

typedef struct writer_state {
    const qw_synth_params *p;
    plan *pl;
    qw_pool *pool;
    float *rows;       /* [n_threads][max_ne0] scratch */
    int64_t max_ne0;
    uint8_t *chunk;    /* quantized rows of one chunk */
    size_t chunk_cap;
    uint64_t done, total;
    /* the chunk being made */
    const tspec *t;
    uint32_t t_index;
    int64_t r0, nr;
} writer_state;

static void chunk_job(void *arg, int ith, int nth) {
    writer_state *ws = arg;
    const tspec *t = ws->t;
    const qw_type_traits *tr = qw_type_get(t->type);
    const size_t rb = qw_row_size(t->type, t->ne0);
    float *row = ws->rows + (size_t)ith * (size_t)ws->max_ne0;
    const int64_t a = ws->nr * ith / nth, b = ws->nr * (ith + 1) / nth;
    for (int64_t r = a; r < b; r++) {
        gaussian_row(ws->p->seed, ws->t_index, ws->r0 + r, t->std, row, t->ne0);
        tr->from_float(row, ws->chunk + (size_t)r * rb, t->ne0);
    }
}

static qw_status fill(void *user, size_t index, qw_gguf_stream *out) {
    writer_state *ws = user;
    const tspec *t = &ws->pl->t[index];
    qw_status st = QW_OK;
    if (t->std == 0.0f) { /* norm: ones */
        for (int64_t i = 0; i < t->ne0 * t->ne1 && st == QW_OK; i++) {
            const float one = 1.0f;
            uint8_t le[4];
            uint32_t u;
            memcpy(&u, &one, 4);
            for (int k = 0; k < 4; k++) le[k] = (uint8_t)(u >> (8 * k));
            st = qw_gguf_stream_write(out, le, 4);
        }
    } else {
        const size_t rb = qw_row_size(t->type, t->ne0);
        int64_t per = (int64_t)(ws->chunk_cap / rb);
        if (per < 1) per = 1;
        ws->t = t;
        ws->t_index = (uint32_t)index;
        for (int64_t r0 = 0; r0 < t->ne1 && st == QW_OK; r0 += per) {
            ws->r0 = r0;
            ws->nr = t->ne1 - r0 < per ? t->ne1 - r0 : per;
            qw_pool_run(ws->pool, chunk_job, ws);
            st = qw_gguf_stream_write(out, ws->chunk, (size_t)ws->nr * rb);
        }
    }
    ws->done += t->nbytes;
    if (st == QW_OK && ws->p->progress) ws->p->progress(ws->p->progress_user, ws->done, ws->total);
    return st;
}

qw_status qw_synth_write(const qw_synth_params *p, const char *path, qw_synth_info *info) {
    qw_synth_info tmp;
    if (!info) info = &tmp;
    if (!path || !*path) return qw_fail(QW_ERR_INVALID_ARG, "synth: no output path");
    plan pl;
    qw_status st = build(p, &pl, info);
    if (st != QW_OK) return st;
    writer_state ws;
    memset(&ws, 0, sizeof ws);
    ws.p = p;
    ws.pl = &pl;
    ws.total = pl.data_size;
    int nth = p->n_threads < 1 ? 1 : p->n_threads;
    for (uint32_t i = 0; i < pl.n; i++)
        if (pl.t[i].ne0 > ws.max_ne0) ws.max_ne0 = pl.t[i].ne0;
    ws.chunk_cap = (size_t)4 << 20;
    for (uint32_t i = 0; i < pl.n; i++) { /* at least one row of anything */
        size_t rb = qw_row_size(pl.t[i].type, pl.t[i].ne0);
        if (rb > ws.chunk_cap) ws.chunk_cap = rb;
    }
    st = qw_pool_create(nth, &ws.pool);
    if (st == QW_OK) {
        ws.rows = malloc((size_t)qw_pool_size(ws.pool) * (size_t)ws.max_ne0 * sizeof(float));
        ws.chunk = malloc(ws.chunk_cap);
        if (!ws.rows || !ws.chunk) st = qw_fail(QW_ERR_OOM, "synth: out of memory");
    }
    FILE *f = NULL;
    struct stat sb;
    /* only a regular file (or a new one) is removed after a failure, never
     * e.g. /dev/full */
    bool removable = stat(path, &sb) != 0 || S_ISREG(sb.st_mode);
    if (st == QW_OK) {
        f = fopen(path, "wb");
        if (!f) st = qw_fail(QW_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    }
    if (st == QW_OK) {
        st = qw_gguf_writer_to_file_fill(pl.w, f, fill, &ws);
        if (st != QW_OK) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s", qw_last_error());
            st = qw_fail(st, "cannot write '%s': %s", path, msg);
        } else if (ferror(f)) {
            st = qw_fail(QW_ERR_IO, "cannot write '%s'", path);
        }
    }
    if (f) {
        if (fclose(f) != 0 && st == QW_OK)
            st = qw_fail(QW_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        if (st != QW_OK && removable) remove(path); /* no partial files */
    }
    free(ws.rows);
    free(ws.chunk);
    qw_pool_free(ws.pool);
    plan_free(&pl);
    return st;
}

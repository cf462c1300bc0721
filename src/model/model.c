/* Model loading: GGUF shards -> hyperparameters + weight views + tokenizer.
 * Every shape is checked against the hyperparameters before anything runs. */
#if !defined(__EMSCRIPTEN__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE 1 /* madvise, MADV_DONTNEED */
#endif
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(__EMSCRIPTEN__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "../core/error.h"
#include "../quant/types.h"

/* ------------------------------------------------------------ lookups -- */

static const qw_gguf_tensor *find_tensor(const qw_model *m, const char *name) {
    for (int s = 0; s < m->n_shards; s++) {
        const qw_gguf_tensor *t = qw_gguf_find_tensor(m->shards[s], name);
        if (t) return t;
    }
    return NULL;
}

static qw_status check_finite(const char *name, const qw_gguf_tensor *t) {
    const qw_type_traits *tr = qw_type_get(t->type);
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t rb = qw_row_size(t->type, t->ne[0]);
    for (int64_t r = 0; r < rows; r++) {
        if (!tr->row_finite((const uint8_t *)t->data + (size_t)r * rb, t->ne[0]))
            return qw_fail(QW_ERR_BAD_MODEL,
                           "tensor '%s' row %lld has a NaN or infinite %s", name, (long long)r,
                           t->type == QW_TYPE_F32 || t->type == QW_TYPE_F16 ||
                                   t->type == QW_TYPE_BF16
                               ? "value"
                               : "scale");
    }
    return QW_OK;
}

/* A 2-D weight [rows][cols] that must exist with exactly this shape. */
static qw_status get_weight(qw_model *m, const char *name, int64_t cols, int64_t rows,
                            qw_weight *w) {
    const qw_gguf_tensor *t = find_tensor(m, name);
    if (!t) return qw_fail(QW_ERR_BAD_MODEL, "missing tensor '%s'", name);
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
        return qw_fail(QW_ERR_BAD_MODEL,
                       "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                       name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                       (long long)t->ne[3], (long long)cols, (long long)rows);
    const qw_type_traits *tr = qw_type_get(t->type);
    if (!tr || !tr->vec_dot)
        return qw_fail(QW_ERR_UNSUPPORTED, "tensor '%s' has type %s, which cannot be a weight",
                       name, qw_type_name(t->type));
    if (!t->data) return qw_fail(QW_ERR_BAD_MODEL, "tensor '%s' has no data", name);
    qw_status st = check_finite(name, t);
    if (st != QW_OK) return st;
    w->data = t->data;
    w->type = t->type;
    w->n_cols = cols;
    w->n_rows = rows;
    w->row_bytes = qw_row_size(t->type, cols);
    return QW_OK;
}

/* A 1-D vector of n floats (any float/quant type), converted to F32. */
static qw_status get_vector(qw_model *m, const char *name, int64_t n, bool required,
                            float **out) {
    const qw_gguf_tensor *t = find_tensor(m, name);
    *out = NULL;
    if (!t) return required ? qw_fail(QW_ERR_BAD_MODEL, "missing tensor '%s'", name) : QW_OK;
    if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1)
        return qw_fail(QW_ERR_BAD_MODEL, "tensor '%s' has %lld x %lld elements, expected %lld",
                       name, (long long)t->ne[0], (long long)t->ne[1], (long long)n);
    const qw_type_traits *tr = qw_type_get(t->type);
    if (!tr || !t->data) return qw_fail(QW_ERR_BAD_MODEL, "tensor '%s' is unusable", name);
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) return qw_fail(QW_ERR_OOM, "out of memory for '%s'", name);
    tr->to_float(t->data, v, n);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            free(v);
            return qw_fail(QW_ERR_BAD_MODEL, "tensor '%s' element %lld is not finite", name,
                           (long long)i);
        }
    }
    *out = v;
    return QW_OK;
}

/* --------------------------------------------------------- hparams -- */

static qw_status read_hparams(qw_model *m) {
    const qw_gguf *g = m->shards[0];
    qw_hparams *hp = &m->hp;
    qw_str arch;
    qw_status st = qw_gguf_get_str(g, "general.architecture", true, &arch);
    if (st != QW_OK) return st;
    if (arch.len >= sizeof hp->arch)
        return qw_fail(QW_ERR_UNSUPPORTED, "architecture name is too long");
    if (memchr(arch.ptr, '\0', arch.len))
        return qw_fail(QW_ERR_BAD_MODEL, "general.architecture contains a NUL byte");
    memcpy(hp->arch, arch.ptr, arch.len);
    hp->arch[arch.len] = '\0';
    /* Architectures that share llama's tensor layout and normal RoPE. */
    if (strcmp(hp->arch, "llama") != 0)
        return qw_fail(QW_ERR_UNSUPPORTED, "architecture '%s' is not supported (only 'llama')",
                       hp->arch);
    hp->rope_neox = false;

    char key[96];
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, hp->arch), key)
    /* sizes are range-checked as read (u32), before they become ints */
    uint32_t u, n_layer, n_embd, n_ff, n_head, n_head_kv;
    if ((st = qw_gguf_get_u32(g, KEY("block_count"), true, &n_layer)) != QW_OK) return st;
    if ((st = qw_gguf_get_u32(g, KEY("embedding_length"), true, &n_embd)) != QW_OK) return st;
    if ((st = qw_gguf_get_u32(g, KEY("feed_forward_length"), true, &n_ff)) != QW_OK) return st;
    if ((st = qw_gguf_get_u32(g, KEY("attention.head_count"), true, &n_head)) != QW_OK) return st;
    n_head_kv = n_head;
    if ((st = qw_gguf_get_u32(g, KEY("attention.head_count_kv"), false, &n_head_kv)) != QW_OK)
        return st;
    u = 0;
    if ((st = qw_gguf_get_u32(g, KEY("context_length"), false, &u)) != QW_OK) return st;
    hp->n_ctx_train = u > INT32_MAX ? INT32_MAX : (int)u;
    float f = 1e-5f;
    if ((st = qw_gguf_get_f32(g, KEY("attention.layer_norm_rms_epsilon"), false, &f)) != QW_OK)
        return st;
    hp->rms_eps = f;
    f = 10000.0f;
    if ((st = qw_gguf_get_f32(g, KEY("rope.freq_base"), false, &f)) != QW_OK) return st;
    hp->rope_base = f;

    const uint32_t max_dim = 1 << 20;
    if (n_layer < 1 || n_layer > 4096)
        return qw_fail(QW_ERR_BAD_MODEL, "%s.block_count = %u is out of range", hp->arch, n_layer);
    if (n_embd < 1 || n_embd > max_dim || n_ff < 1 || n_ff > max_dim)
        return qw_fail(QW_ERR_BAD_MODEL, "embedding_length %u / feed_forward_length %u out of range",
                       n_embd, n_ff);
    if (n_head < 1 || n_embd % n_head != 0)
        return qw_fail(QW_ERR_BAD_MODEL,
                       "%s.attention.head_count = %u does not divide embedding_length %u",
                       hp->arch, n_head, n_embd);
    if (n_head_kv < 1 || n_head % n_head_kv != 0)
        return qw_fail(QW_ERR_BAD_MODEL,
                       "%s.attention.head_count_kv = %u does not divide head_count %u", hp->arch,
                       n_head_kv, n_head);
    hp->n_layer = (int)n_layer;
    hp->n_embd = (int)n_embd;
    hp->n_ff = (int)n_ff;
    hp->n_head = (int)n_head;
    hp->n_head_kv = (int)n_head_kv;
    hp->head_dim = hp->n_embd / hp->n_head;
    u = (uint32_t)hp->head_dim;
    if ((st = qw_gguf_get_u32(g, KEY("attention.key_length"), false, &u)) != QW_OK) return st;
    if ((int)u != hp->head_dim)
        return qw_fail(QW_ERR_UNSUPPORTED, "attention.key_length %u != embedding/heads %d", u,
                       hp->head_dim);
    u = (uint32_t)hp->head_dim;
    if ((st = qw_gguf_get_u32(g, KEY("rope.dimension_count"), false, &u)) != QW_OK) return st;
    if (u < 2 || u > (uint32_t)hp->head_dim || u % 2 != 0)
        return qw_fail(QW_ERR_BAD_MODEL, "%s.rope.dimension_count = %u is invalid for head size %d",
                       hp->arch, u, hp->head_dim);
    hp->rope_dim = (int)u;
    if (!(hp->rms_eps > 0.0f) || !isfinite(hp->rms_eps) || !(hp->rope_base > 0.0f) ||
        !isfinite(hp->rope_base))
        return qw_fail(QW_ERR_BAD_MODEL, "rms epsilon %g or rope base %g is invalid",
                       (double)hp->rms_eps, (double)hp->rope_base);

    /* linear RoPE scaling; other scaling types are refused rather than run wrong */
    m->rope_freq_scale = 1.0f;
    qw_str stype = {0};
    if ((st = qw_gguf_get_str(g, KEY("rope.scaling.type"), false, &stype)) != QW_OK) return st;
    float factor = 0.0f;
    if ((st = qw_gguf_get_f32(g, KEY("rope.scaling.factor"), false, &factor)) != QW_OK) return st;
    if (stype.ptr && !qw_str_eq(stype, "none") && !qw_str_eq(stype, "linear"))
        return qw_fail(QW_ERR_UNSUPPORTED, "rope scaling type '%.*s' is not supported",
                       (int)(stype.len > 32 ? 32 : stype.len), stype.ptr);
    if ((!stype.ptr || qw_str_eq(stype, "linear")) && factor > 0.0f && factor != 1.0f)
        m->rope_freq_scale = 1.0f / factor;
#undef KEY
    return QW_OK;
}

/* --------------------------------------------------------- tensors -- */

static qw_status load_tensors(qw_model *m) {
    qw_hparams *hp = &m->hp;
    const int64_t d = hp->n_embd, hd = hp->head_dim, V = hp->n_vocab;
    const int64_t q_dim = (int64_t)hp->n_head * hd, kv_dim = (int64_t)hp->n_head_kv * hd;
    qw_status st;
    if ((st = get_weight(m, "token_embd.weight", d, V, &m->tok_embd)) != QW_OK) return st;
    if ((st = get_vector(m, "output_norm.weight", d, true, &m->output_norm)) != QW_OK) return st;
    if (find_tensor(m, "output.weight")) {
        if ((st = get_weight(m, "output.weight", d, V, &m->output)) != QW_OK) return st;
        hp->tied_output = false;
    } else {
        m->output = m->tok_embd;
        hp->tied_output = true;
    }
    if ((st = get_vector(m, "rope_freqs.weight", hp->rope_dim / 2, false, &m->rope_freqs)) !=
        QW_OK)
        return st;
    for (int i = 0; m->rope_freqs && i < hp->rope_dim / 2; i++)
        if (!(m->rope_freqs[i] > 0.0f))
            return qw_fail(QW_ERR_BAD_MODEL, "rope_freqs.weight[%d] = %g must be positive", i,
                           (double)m->rope_freqs[i]);

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return qw_fail(QW_ERR_OOM, "out of memory for %d layers", hp->n_layer);
    char name[96];
#define NAME(fmt) (snprintf(name, sizeof name, "blk.%d." fmt, l), name)
    for (int l = 0; l < hp->n_layer; l++) {
        qw_layer *L = &m->layers[l];
        if ((st = get_vector(m, NAME("attn_norm.weight"), d, true, &L->attn_norm)) != QW_OK ||
            (st = get_weight(m, NAME("attn_q.weight"), d, q_dim, &L->wq)) != QW_OK ||
            (st = get_weight(m, NAME("attn_k.weight"), d, kv_dim, &L->wk)) != QW_OK ||
            (st = get_weight(m, NAME("attn_v.weight"), d, kv_dim, &L->wv)) != QW_OK ||
            (st = get_weight(m, NAME("attn_output.weight"), q_dim, d, &L->wo)) != QW_OK ||
            (st = get_vector(m, NAME("ffn_norm.weight"), d, true, &L->ffn_norm)) != QW_OK ||
            (st = get_weight(m, NAME("ffn_gate.weight"), d, hp->n_ff, &L->w_gate)) != QW_OK ||
            (st = get_weight(m, NAME("ffn_up.weight"), d, hp->n_ff, &L->w_up)) != QW_OK ||
            (st = get_weight(m, NAME("ffn_down.weight"), hp->n_ff, d, &L->w_down)) != QW_OK)
            return st;
    }
#undef NAME
    /* statistics over every tensor of every shard */
    for (int s = 0; s < m->n_shards; s++) {
        const qw_gguf *g = m->shards[s];
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const qw_gguf_tensor *t = &g->tensors[i];
            m->weight_bytes += t->nbytes;
            m->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
            if (t->type < 64) m->type_hist[t->type]++;
        }
    }
    return QW_OK;
}

qw_status qw_model_init_from_gguf(qw_model *m) {
    qw_status st = read_hparams(m);
    if (st != QW_OK) return st;
    if ((st = qw_tokenizer_load(m->shards[0], &m->tok)) != QW_OK) return st;
    /* the tokenizer indexes the texts itself: the parser's list of them
     * (16 bytes per token, 0.5 MiB for 32000) is not needed any more */
    qw_gguf_drop_arr_str(m->shards[0], "tokenizer.ggml.tokens");
    m->hp.n_vocab = qw_tokenizer_n_vocab(m->tok);
    uint32_t nv = (uint32_t)m->hp.n_vocab;
    char key[96];
    snprintf(key, sizeof key, "%s.vocab_size", m->hp.arch);
    if ((st = qw_gguf_get_u32(m->shards[0], key, false, &nv)) != QW_OK) return st;
    if ((int)nv != m->hp.n_vocab)
        return qw_fail(QW_ERR_BAD_MODEL, "%s = %u but the tokenizer has %d tokens", key, nv,
                       m->hp.n_vocab);
    if (m->hp.n_ctx_train <= 0) m->hp.n_ctx_train = 2048;
    return load_tensors(m);
}

/* ------------------------------------------------------- public API -- */

static qw_model *model_new(void) { return calloc(1, sizeof(qw_model)); }

/* the staged loader's allocation (below) */
static bool loader_is_big(const void *p);
static void loader_release(void *p);

void qw_model_free(qw_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->hp.n_layer; l++) {
            free(m->layers[l].attn_norm);
            free(m->layers[l].ffn_norm);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->rope_freqs);
    qw_tokenizer_free(m->tok);
    if (loader_is_big(m->maps[0].data)) { /* a staged load's sbrk block */
        loader_release((void *)m->maps[0].data);
        m->maps[0].data = NULL;
    }
    for (int s = 0; s < m->n_shards; s++) {
        qw_gguf_free(m->shards[s]);
        qw_unmap_file(&m->maps[s]);
    }
    free(m);
}

/* A file that says it is part of a split model must be loaded as one, by
 * the part's path: with a name that does not follow the part pattern it is
 * BAD_MODEL, without a name (bytes in memory) INVALID_ARG. */
static qw_status check_not_split_part(const qw_gguf *g, const char *name) {
    uint32_t cnt = 1;
    qw_status st = qw_gguf_get_u32(g, "split.count", false, &cnt);
    if (st != QW_OK || cnt <= 1) return st;
    if (name)
        return qw_fail(QW_ERR_BAD_MODEL,
                       "%s is part of a %u-part split model but its name does not end in "
                       "-0000N-of-0000M.gguf",
                       name, cnt);
    return qw_fail(QW_ERR_INVALID_ARG, "this is part of a %u-part split model: load it by path",
                   cnt);
}

qw_status qw_model_load_memory(const void *bytes, size_t size, qw_model **out) {
    if (!out) return qw_fail(QW_ERR_INVALID_ARG, "NULL model out pointer");
    *out = NULL;
    if (!bytes && size) return qw_fail(QW_ERR_INVALID_ARG, "NULL model bytes");
    qw_model *m = model_new();
    if (!m) return qw_fail(QW_ERR_OOM, "out of memory");
    qw_status st = qw_gguf_parse(bytes, size, size, &m->shards[0], NULL);
    if (st == QW_OK) {
        m->n_shards = 1;
        st = check_not_split_part(m->shards[0], NULL);
    }
    if (st == QW_OK) st = qw_model_init_from_gguf(m);
    if (st != QW_OK) {
        qw_model_free(m);
        return st;
    }
    *out = m;
    return QW_OK;
}

/* Part i (1-based) of an n-part split model: split.no / split.count, when
 * present, must say so. */
static qw_status check_split_keys(const qw_gguf *g, const char *part, int i, int n) {
    uint32_t no = (uint32_t)(i - 1), cnt = (uint32_t)n;
    qw_status st;
    if ((st = qw_gguf_get_u32(g, "split.no", false, &no)) != QW_OK) return st;
    if ((st = qw_gguf_get_u32(g, "split.count", false, &cnt)) != QW_OK) return st;
    if (no != (uint32_t)(i - 1) || cnt != (uint32_t)n)
        return qw_fail(QW_ERR_BAD_MODEL, "%s says it is part %u of %u, expected %d of %d", part,
                       no + 1, cnt, i, n);
    return QW_OK;
}

/* A tensor name may appear in only one part. */
static qw_status check_unique_tensors(const qw_model *m) {
    for (int a = 0; a < m->n_shards; a++)
        for (uint64_t t = 0; t < m->shards[a]->n_tensors; t++)
            for (int b = a + 1; b < m->n_shards; b++) {
                qw_str nm = m->shards[a]->tensors[t].name;
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)(nm.len > 255 ? 255 : nm.len), nm.ptr);
                if (qw_gguf_find_tensor(m->shards[b], name))
                    return qw_fail(QW_ERR_BAD_MODEL, "tensor '%s' appears in parts %d and %d",
                                   name, a + 1, b + 1);
            }
    return QW_OK;
}

static qw_status load_shard(qw_model *m, const char *path) {
    int s = m->n_shards;
    qw_status st = qw_map_file(path, &m->maps[s]);
    if (st != QW_OK) return st;
    st = qw_gguf_parse(m->maps[s].data, (size_t)m->maps[s].size, m->maps[s].size, &m->shards[s],
                       NULL);
    if (st != QW_OK) {
        qw_unmap_file(&m->maps[s]);
        /* keep the parser's message, prefixed with the file */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", qw_last_error());
        return qw_fail(st, "%s: %s", path, msg);
    }
    m->n_shards = s + 1;
    return QW_OK;
}

/* Once the model is built, the metadata at the head of a mapped file
 * (tokenizer texts, scores and types: 0.7 MiB for a 32000-token vocabulary)
 * is read again only when text is tokenized or printed, a few pages at a
 * time. Its pages leave this process's resident set here; they stay in the
 * page cache and a later read maps them back in. The mapping is read-only
 * and private, so its pages are clean and nothing can be lost. The weights
 * (from data_offset on, rounded down to a page) are not touched. */
static void release_header_pages(qw_model *m) {
#if !defined(__EMSCRIPTEN__) && defined(MADV_DONTNEED)
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    for (int s = 0; s < m->n_shards; s++) {
        if (!m->maps[s].is_mmap) continue;
        uint64_t end = m->shards[s]->data_offset / (uint64_t)page * (uint64_t)page;
        if (end > 0 && end <= m->maps[s].size)
            (void)madvise((void *)m->maps[s].data, (size_t)end, MADV_DONTNEED); /* best effort */
    }
#else
    (void)m;
#endif
}

qw_status qw_model_load(const char *path, qw_model **out) {
    if (!out) return qw_fail(QW_ERR_INVALID_ARG, "NULL model out pointer");
    *out = NULL;
    if (!path) return qw_fail(QW_ERR_INVALID_ARG, "NULL model path");
    qw_model *m = model_new();
    if (!m) return qw_fail(QW_ERR_OOM, "out of memory");
    int n_split = 0;
    char part[4096];
    qw_status st;
    if (qw_gguf_split_path(path, 1, part, sizeof part, &n_split) && n_split > 1) {
        if (n_split > QW_MAX_SPLITS) {
            qw_model_free(m);
            return qw_fail(QW_ERR_UNSUPPORTED, "%d parts is more than %d", n_split, QW_MAX_SPLITS);
        }
        st = QW_OK;
        for (int i = 1; i <= n_split && st == QW_OK; i++) {
            qw_gguf_split_path(path, i, part, sizeof part, NULL);
            st = load_shard(m, part);
            if (st != QW_OK) break;
            st = check_split_keys(m->shards[i - 1], part, i, n_split);
        }
        if (st == QW_OK) st = check_unique_tensors(m);
    } else {
        st = load_shard(m, path);
        if (st == QW_OK) st = check_not_split_part(m->shards[0], path);
    }
    if (st == QW_OK) st = qw_model_init_from_gguf(m);
    if (st != QW_OK) {
        qw_model_free(m);
        return st;
    }
    release_header_pages(m);
    *out = m;
    return QW_OK;
}

const qw_hparams *qw_model_hparams(const qw_model *m) { return &m->hp; }
uint64_t qw_model_weight_bytes(const qw_model *m) { return m->weight_bytes; }
uint64_t qw_model_n_params(const qw_model *m) { return m->n_params; }

/* tokenizer forwards */
int32_t qw_token_bos(const qw_model *m) { return qw_tokenizer_bos(m->tok); }
int32_t qw_token_eos(const qw_model *m) { return qw_tokenizer_eos(m->tok); }
bool qw_model_add_bos(const qw_model *m) { return qw_tokenizer_add_bos(m->tok); }
int qw_tokenize(const qw_model *m, const char *text, size_t len, bool add_bos, int32_t *out,
                int cap) {
    return qw_tokenizer_encode(m->tok, text, len, add_bos, out, cap);
}
int qw_token_to_bytes(const qw_model *m, int32_t token, char *out, int cap) {
    return qw_tokenizer_piece(m->tok, token, out, cap);
}
int qw_detok_push(const qw_model *m, qw_detok *st, int32_t token, char *out, int cap) {
    return qw_tokenizer_detok_push(m->tok, st, token, out, cap);
}


/* ------------------------------------------------------ staged loader -- */

/* The loader's one allocation. In wasm32, Emscripten's malloc (dlmalloc)
 * refuses any single block of 2 GB or more (it only asks sbrk for less than
 * half the address space at a time), although wasm memory can grow to 4 GB.
 * A model that large gets its memory straight from sbrk (which takes the
 * full unsigned size) as one block past malloc's heap. wasm memory never
 * shrinks and sbrk cannot be given back, so that block is kept when its
 * model is freed and serves the next load that fits in it (or is grown in
 * place while nothing has been allocated past it). One such block per
 * module; a load is the only user (never two at once: the engine frees the
 * old model first). Elsewhere this is plain malloc / free. */
#if defined(__EMSCRIPTEN__)
#include <emscripten/heap.h>

void *sbrk(intptr_t increment); /* Emscripten's libc; <unistd.h> hides it under POSIX 2008 */

static struct {
    uint8_t *p;
    uint64_t cap;
    bool used;
} g_big;

static uint8_t *loader_alloc(uint64_t size) {
    if (g_big.p && !g_big.used && g_big.cap >= size) {
        g_big.used = true;
        return g_big.p;
    }
    if (size < ((uint64_t)7 << 28)) return malloc((size_t)size); /* < 1.75 GB */
    if (g_big.used) return NULL;
    const uint64_t rounded = (size + 65535) & ~(uint64_t)65535;
    const uint64_t top = (uint64_t)(uintptr_t)sbrk(0);
    const bool grow = g_big.p && (uint64_t)(uintptr_t)g_big.p + g_big.cap == top;
    const uint64_t more = grow ? rounded - g_big.cap : rounded;
    if (top + more > (uint64_t)emscripten_get_heap_max()) return NULL; /* before memory grows */
    void *q = sbrk((intptr_t)(uintptr_t)more);
    if (q == (void *)-1) return NULL;
    if (!grow) g_big.p = q; /* a previous block that cannot grow stays unused */
    g_big.cap = rounded;
    g_big.used = true;
    return g_big.p;
}

static void loader_release(void *p) {
    if (p && p == g_big.p) g_big.used = false;
    else free(p);
}

/* Whether p is the sbrk block (then loader_release frees it, not free()). */
static bool loader_is_big(const void *p) { return p && p == g_big.p; }
#else
static uint8_t *loader_alloc(uint64_t size) { return malloc((size_t)size); }
static void loader_release(void *p) { free(p); }
static bool loader_is_big(const void *p) {
    (void)p;
    return false;
}
#endif


/* Parts of a split model share one allocation: part i starts at part_off[i]
 * (64-byte aligned, so tensor data keeps the alignment it has in its file).
 * Byte counts seen by the caller ("have") count the parts' bytes in order,
 * without the padding. */
#define QW_PART_ALIGN 64u

struct qw_loader {
    uint8_t *buf;      /* alloc_size bytes; NULL once a model owns them */
    uint64_t file_size; /* all parts together */
    uint64_t alloc_size;
    char *name;        /* NULL: messages without a file prefix */
    bool header_ok;    /* every part's header validated */
    int n_parts;
    int hdr_part;      /* the next part whose header is to be validated */
    uint64_t *part_size, *part_start, *part_off; /* [n_parts] */
};

/* The name used in messages for part i (0-based): the loader's name for a
 * single file, the part's own file name for a split model. */
static const char *part_name(const qw_loader *l, int i, char *buf, size_t cap) {
    if (l->n_parts == 1) return l->name;
    if (l->name && qw_gguf_split_path(l->name, i + 1, buf, cap, NULL)) return buf;
    snprintf(buf, cap, "part %d of %d", i + 1, l->n_parts);
    return buf;
}

/* Re-issues the current message prefixed with the name of part i. */
static qw_status loader_prefix_part(const qw_loader *l, int i, qw_status st) {
    char pn[4096];
    const char *name = part_name(l, i, pn, sizeof pn);
    if (!name) return st;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", qw_last_error());
    return qw_fail(st, "%s: %s", name, msg);
}

static qw_status loader_prefix(const qw_loader *l, qw_status st) {
    return loader_prefix_part(l, 0, st);
}

qw_status qw_loader_create_parts(int n_parts, const uint64_t *sizes, const char *name,
                                 qw_loader **out) {
    if (!out) return qw_fail(QW_ERR_INVALID_ARG, "NULL loader out pointer");
    *out = NULL;
    if (!sizes) return qw_fail(QW_ERR_INVALID_ARG, "NULL part sizes");
    if (n_parts < 1) return qw_fail(QW_ERR_INVALID_ARG, "%d parts", n_parts);
    if (n_parts > QW_MAX_SPLITS)
        return qw_fail(QW_ERR_UNSUPPORTED, "%d parts is more than %d", n_parts, QW_MAX_SPLITS);
    if (n_parts > 1 && name) {
        char part[4096];
        int n_split = 0;
        if (!qw_gguf_split_path(name, 1, part, sizeof part, &n_split))
            return qw_fail(QW_ERR_INVALID_ARG,
                           "%s: a split model's name must end in -0000N-of-0000M.gguf", name);
        if (n_split != n_parts)
            return qw_fail(QW_ERR_INVALID_ARG, "%s names %d parts but %d were given", name,
                           n_split, n_parts);
    }
    qw_loader *l = calloc(1, sizeof *l);
    if (!l) return qw_fail(QW_ERR_OOM, "out of memory");
    l->n_parts = n_parts;
    l->part_size = calloc((size_t)n_parts, sizeof *l->part_size);
    l->part_start = calloc((size_t)n_parts, sizeof *l->part_start);
    l->part_off = calloc((size_t)n_parts, sizeof *l->part_off);
    qw_status st = QW_OK;
    if (!l->part_size || !l->part_start || !l->part_off) st = qw_fail(QW_ERR_OOM, "out of memory");
    if (st == QW_OK && name) {
        size_t n = strlen(name);
        l->name = malloc(n + 1);
        if (!l->name) st = qw_fail(QW_ERR_OOM, "out of memory");
        else memcpy(l->name, name, n + 1);
    }
    /* the layout; sizes past 2^47 cannot be real and keep the sums exact */
    const uint64_t limit = (uint64_t)1 << 47;
    uint64_t total = 0, off = 0;
    for (int i = 0; st == QW_OK && i < n_parts; i++) {
        char pn[4096];
        const char *nm = part_name(l, i, pn, sizeof pn);
        if (sizes[i] == 0) {
            st = nm ? qw_fail(QW_ERR_BAD_MODEL, "'%s' is empty", nm)
                    : qw_fail(QW_ERR_BAD_MODEL, "the model file is empty");
        } else if (sizes[i] > limit || total + sizes[i] > limit) {
            total = sizes[i] > limit ? sizes[i] : total + sizes[i];
            break;
        } else {
            l->part_size[i] = sizes[i];
            l->part_start[i] = total;
            l->part_off[i] = off;
            total += sizes[i];
            off += sizes[i];
            if (i + 1 < n_parts) off = (off + QW_PART_ALIGN - 1) / QW_PART_ALIGN * QW_PART_ALIGN;
        }
    }
    if (st == QW_OK) {
        if (total > limit || off > (uint64_t)SIZE_MAX)
            st = qw_fail(QW_ERR_OOM, "cannot allocate %llu bytes for the model: too large for "
                         "this address space",
                         (unsigned long long)(total > limit ? total : off));
        else if (!(l->buf = loader_alloc(off)))
            st = qw_fail(QW_ERR_OOM, "cannot allocate %llu bytes for the model",
                         (unsigned long long)off);
    }
    if (st != QW_OK) {
        qw_loader_free(l);
        return st;
    }
    l->file_size = total;
    l->alloc_size = off;
    *out = l;
    return QW_OK;
}

qw_status qw_loader_create(uint64_t file_size, const char *name, qw_loader **out) {
    return qw_loader_create_parts(1, &file_size, name, out);
}

uint8_t *qw_loader_buffer(qw_loader *l) { return l ? l->buf : NULL; }
uint64_t qw_loader_file_size(const qw_loader *l) { return l ? l->file_size : 0; }
int qw_loader_n_parts(const qw_loader *l) { return l ? l->n_parts : 0; }
uint64_t qw_loader_part_offset(const qw_loader *l, int part) {
    return l && part >= 0 && part < l->n_parts ? l->part_off[part] : 0;
}

void qw_loader_free(qw_loader *l) {
    if (!l) return;
    loader_release(l->buf);
    free(l->name);
    free(l->part_size);
    free(l->part_start);
    free(l->part_off);
    free(l);
}

/* The checks qw_model_load makes on part i's metadata, in its order. */
static qw_status loader_check_split(const qw_loader *l, int i, const qw_gguf *g) {
    if (l->n_parts > 1) {
        char pn[4096];
        return check_split_keys(g, part_name(l, i, pn, sizeof pn), i + 1, l->n_parts);
    }
    char part[4096];
    int n_split = 0;
    uint32_t cnt = 1;
    /* one file named as a part of a split model: the others are needed too */
    if (l->name && qw_gguf_split_path(l->name, 1, part, sizeof part, &n_split) && n_split > 1 &&
        qw_gguf_get_u32(g, "split.count", false, &cnt) == QW_OK && cnt > 1)
        return qw_fail(QW_ERR_UNSUPPORTED,
                       "%s: split models (%u parts) must be streamed with all their parts "
                       "(qw_loader_create_parts)",
                       l->name, cnt);
    return check_not_split_part(g, l->name);
}

/* Validates part i's header from its first `avail` bytes: QW_OK with *want
 * 0 (valid) or > avail (more needed); anything else is final. */
static qw_status loader_part_header(qw_loader *l, int i, uint64_t avail, uint64_t *want) {
    *want = 0;
    qw_gguf *g = NULL;
    uint64_t w = 0;
    qw_status st = qw_gguf_parse(l->buf + l->part_off[i], (size_t)avail, l->part_size[i], &g, &w);
    if (st == QW_ERR_TRUNCATED && w > avail && w <= l->part_size[i]) {
        *want = w; /* not an error yet: the rest of the header is on its way */
        return QW_OK;
    }
    if (st != QW_OK) return loader_prefix_part(l, i, st);
    /* everything else that only needs the metadata: fail before the download goes on */
    qw_model *m = model_new();
    if (!m) st = qw_fail(QW_ERR_OOM, "out of memory");
    if (st == QW_OK) {
        m->shards[0] = g;
        m->n_shards = 1;
        g = NULL;
        st = loader_check_split(l, i, m->shards[0]);
        if (st == QW_OK && i == 0) st = read_hparams(m);
    }
    qw_model_free(m);
    qw_gguf_free(g);
    return st;
}

qw_status qw_loader_header(qw_loader *l, uint64_t have, uint64_t *need) {
    if (need) *need = 0;
    if (!l || !need) return qw_fail(QW_ERR_INVALID_ARG, "NULL loader or need pointer");
    if (!l->buf) return qw_fail(QW_ERR_INVALID_ARG, "the loader has already finished");
    if (have > l->file_size)
        return qw_fail(QW_ERR_INVALID_ARG, "%llu bytes written to a %llu-byte file",
                       (unsigned long long)have, (unsigned long long)l->file_size);
    while (!l->header_ok) {
        const int i = l->hdr_part;
        const uint64_t start = l->part_start[i];
        if (have <= start) {
            *need = start + 1; /* part i has not started yet */
            return QW_OK;
        }
        uint64_t avail = have - start, want = 0;
        if (avail > l->part_size[i]) avail = l->part_size[i];
        qw_status st = loader_part_header(l, i, avail, &want);
        if (st != QW_OK) return st;
        if (want) {
            *need = start + want;
            return QW_OK;
        }
        if (++l->hdr_part == l->n_parts) l->header_ok = true;
    }
    return QW_OK;
}

qw_status qw_loader_finish(qw_loader *l, uint64_t have, qw_model **out) {
    if (!out) return qw_fail(QW_ERR_INVALID_ARG, "NULL model out pointer");
    *out = NULL;
    if (!l) return qw_fail(QW_ERR_INVALID_ARG, "NULL loader");
    if (!l->buf) return qw_fail(QW_ERR_INVALID_ARG, "the loader has already finished");
    if (have != l->file_size) {
        if (have > l->file_size)
            return loader_prefix(l, qw_fail(QW_ERR_INVALID_ARG,
                                            "%llu bytes written to a %llu-byte file",
                                            (unsigned long long)have,
                                            (unsigned long long)l->file_size));
        /* the part where the stream stopped */
        int i = 0;
        while (i + 1 < l->n_parts && have >= l->part_start[i + 1]) i++;
        return loader_prefix_part(
            l, i,
            qw_fail(QW_ERR_TRUNCATED, "the stream ended after %llu of %llu bytes",
                    (unsigned long long)(have - l->part_start[i]),
                    (unsigned long long)l->part_size[i]));
    }
    qw_model *m = model_new();
    if (!m) return qw_fail(QW_ERR_OOM, "out of memory");
    qw_status st = QW_OK;
    for (int i = 0; st == QW_OK && i < l->n_parts; i++) {
        st = qw_gguf_parse(l->buf + l->part_off[i], (size_t)l->part_size[i], l->part_size[i],
                           &m->shards[i], NULL);
        if (st != QW_OK) {
            st = loader_prefix_part(l, i, st);
        } else {
            m->n_shards = i + 1;
            st = loader_check_split(l, i, m->shards[i]);
        }
    }
    if (st == QW_OK && l->n_parts > 1) st = check_unique_tensors(m);
    if (st == QW_OK) st = qw_model_init_from_gguf(m);
    if (st != QW_OK) {
        qw_model_free(m); /* the buffer is still the loader's */
        return st;
    }
    /* the model takes the bytes: freed by qw_unmap_file in qw_model_free */
    m->maps[0].data = l->buf;
    m->maps[0].size = l->alloc_size;
    m->maps[0].is_mmap = 0;
    l->buf = NULL;
    *out = m;
    return QW_OK;
}

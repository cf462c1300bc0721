/* Model-level bad input: hostile models, hostile decode calls, and the
 * positive paths they are measured against.
 *
 * Every hostile model is stories260K (F32, or Q8_0 where a quantized scale is
 * the point) parsed with qw_gguf_parse and written again with the GGUF writer
 * with exactly one change. Each case is loaded twice: once with the change
 * (it must fail with its own status and message) and once as its valid twin,
 * built by the same code with the change made harmless (it must load). A twin
 * that loads proves the failure comes from the change and not from the
 * rebuild, so a loader that stopped checking would make the case fail.
 *
 * Also: qw_decode with bad tokens / counts leaves the context untouched;
 * qw_context_create and qw_model_load with absurd or missing arguments fail
 * cleanly; qw_model_load_memory matches qw_model_load bit for bit; a split
 * model (name-0000N-of-00003.gguf, split.no / split.count / split.tensors.count
 * as llama.cpp's gguf-split writes them: all metadata in part 1, the split keys
 * in every part) loads from any part with identical logits, and a missing
 * part, a wrong split.no or a tensor in two parts is refused. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "model/model.h"
#include "qw_test.h"
#include "qwasm.h"
#include "quant/types.h"

/* ------------------------------------------------------------ sources -- */

typedef struct {
    const char *name;
    uint8_t *bytes;
    size_t size;
    qw_gguf *g;
} source;

static source F32 = {"models/stories260K-f32.gguf", NULL, 0, NULL};
static source Q80 = {"models/stories260K-q8_0.gguf", NULL, 0, NULL};

static bool open_source(source *s) {
    s->bytes = qw_read_file(qw_shared_path(s->name), &s->size);
    if (!s->bytes) {
        CHECKF(0, "cannot read %s", s->name);
        return false;
    }
    qw_status st = qw_gguf_parse(s->bytes, s->size, s->size, &s->g, NULL);
    CHECKF(st == QW_OK, "%s: %s", s->name, qw_last_error());
    return st == QW_OK;
}

static void close_source(source *s) {
    qw_gguf_free(s->g);
    free(s->bytes);
}

static void cstr(char *dst, size_t cap, qw_str s) {
    snprintf(dst, cap, "%.*s", (int)(s.len < cap ? s.len : cap - 1), s.ptr);
}

static const qw_gguf_tensor *src_tensor(const source *s, const char *name) {
    const qw_gguf_tensor *t = qw_gguf_find_tensor(s->g, name);
    if (!t) fprintf(stderr, "test setup: no tensor '%s' in %s\n", name, s->name);
    return t;
}

/* A heap copy of a tensor's bytes, to be altered by a case. */
static uint8_t *dup_tensor(const source *s, const char *name) {
    const qw_gguf_tensor *t = src_tensor(s, name);
    if (!t) return NULL;
    uint8_t *p = malloc((size_t)t->nbytes);
    if (p) memcpy(p, t->data, (size_t)t->nbytes);
    return p;
}

static uint32_t src_u32(const source *s, const char *key) {
    uint32_t u = 0;
    if (qw_gguf_get_u32(s->g, key, true, &u) != QW_OK)
        fprintf(stderr, "test setup: %s\n", qw_last_error());
    return u;
}

/* -------------------------------------------------------------- edits -- */

typedef struct {
    const char *key;
    char kind; /* 'u' u32, 'f' f32, 's' string, 'h' u16, 'i' i32; 0 = unused */
    uint32_t u;
    float f;
    const char *s;
} kv_set;

typedef struct {
    const char *name; /* replaces the tensor of that name, or is added */
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    const void *data; /* NULL: zeros */
} tensor_rep;

/* One change to a source model. */
typedef struct {
    const char *drop_kv;     /* this key is not copied */
    const char *drop_tensor; /* this tensor is not copied */
    kv_set set[3];           /* set after the copy (replacing keeps the position) */
    tensor_rep rep;
} edit;

static uint64_t tensor_bytes(uint32_t type, uint32_t n_dims, const int64_t *ne) {
    uint64_t rows = 1;
    for (uint32_t d = 1; d < n_dims; d++) rows *= (uint64_t)ne[d];
    return (uint64_t)qw_row_size(type, ne[0]) * rows;
}

static qw_status apply_set(qw_gguf_writer *w, const kv_set *k) {
    switch (k->kind) {
    case 'u': return qw_gguf_set_u32(w, k->key, k->u);
    case 'h': return qw_gguf_set_u16(w, k->key, (uint16_t)k->u);
    case 'i': return qw_gguf_set_i32(w, k->key, (int32_t)k->u);
    case 'f': return qw_gguf_set_f32(w, k->key, k->f);
    case 's': return qw_gguf_set_str(w, k->key, k->s);
    default: return QW_OK;
    }
}


/* Copies every key of g (except `drop`) into w, with its own type. */
static qw_status copy_kvs(qw_gguf_writer *w, const qw_gguf *g, const char *drop) {
    qw_status st = QW_OK;
    for (uint64_t i = 0; i < g->n_kv && st == QW_OK; i++) {
        const qw_gguf_kv *kv = &g->kv[i];
        char key[256];
        cstr(key, sizeof key, kv->key);
        if (drop && !strcmp(key, drop)) continue;
        switch (kv->type) {
        case QW_GGUF_U8: st = qw_gguf_set_u8(w, key, (uint8_t)kv->v.u64); break;
        case QW_GGUF_U16: st = qw_gguf_set_u16(w, key, (uint16_t)kv->v.u64); break;
        case QW_GGUF_U32: st = qw_gguf_set_u32(w, key, (uint32_t)kv->v.u64); break;
        case QW_GGUF_U64: st = qw_gguf_set_u64(w, key, kv->v.u64); break;
        case QW_GGUF_I8: st = qw_gguf_set_i8(w, key, (int8_t)kv->v.i64); break;
        case QW_GGUF_I16: st = qw_gguf_set_i16(w, key, (int16_t)kv->v.i64); break;
        case QW_GGUF_I32: st = qw_gguf_set_i32(w, key, (int32_t)kv->v.i64); break;
        case QW_GGUF_I64: st = qw_gguf_set_i64(w, key, kv->v.i64); break;
        case QW_GGUF_F32: st = qw_gguf_set_f32(w, key, (float)kv->v.f64); break;
        case QW_GGUF_F64: st = qw_gguf_set_f64(w, key, kv->v.f64); break;
        case QW_GGUF_BOOL: st = qw_gguf_set_bool(w, key, kv->v.b); break;
        case QW_GGUF_STRING: st = qw_gguf_set_strn(w, key, kv->v.str.ptr, kv->v.str.len); break;
        case QW_GGUF_ARRAY:
            if (kv->arr_type == QW_GGUF_STRING) {
                const char **p = malloc((size_t)(kv->arr_n ? kv->arr_n : 1) * sizeof *p);
                uint64_t *lens = malloc((size_t)(kv->arr_n ? kv->arr_n : 1) * sizeof *lens);
                if (!p || !lens) {
                    st = QW_ERR_OOM;
                } else {
                    for (uint64_t j = 0; j < kv->arr_n; j++) {
                        p[j] = kv->arr_str[j].ptr ? kv->arr_str[j].ptr : "";
                        lens[j] = kv->arr_str[j].len;
                    }
                    st = qw_gguf_set_arr_str(w, key, p, lens, kv->arr_n);
                }
                free(p);
                free(lens);
            } else {
                /* the file is little-endian, as is every host we build for */
                size_t n = (size_t)kv->arr_n * qw_gguf_vtype_size(kv->arr_type);
                void *a = malloc(n ? n : 1);
                if (!a) {
                    st = QW_ERR_OOM;
                } else {
                    memcpy(a, kv->arr_data, n);
                    st = qw_gguf_set_arr(w, key, kv->arr_type, a, kv->arr_n);
                }
                free(a);
            }
            break;
        default: st = QW_ERR_BAD_MODEL; break;
        }
    }
    return st;
}

static qw_status add_rep(qw_gguf_writer *w, const tensor_rep *r) {
    return qw_gguf_add_tensor(w, r->name, r->type, r->n_dims, r->ne, r->data,
                              tensor_bytes(r->type, r->n_dims, r->ne));
}

static qw_status copy_tensor(qw_gguf_writer *w, const qw_gguf_tensor *t, const char *name) {
    return qw_gguf_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
}

/* The source with one edit, serialized into a malloc'd buffer (NULL on a
 * setup failure, which is reported). */
static uint8_t *rebuild(const source *s, const edit *e, size_t *n) {
    qw_gguf_writer *w = NULL;
    qw_status st = qw_gguf_writer_create(&w);
    if (st == QW_OK) st = copy_kvs(w, s->g, e->drop_kv);
    for (int i = 0; i < 3 && st == QW_OK; i++) st = apply_set(w, &e->set[i]);
    bool replaced = false;
    for (uint64_t i = 0; i < s->g->n_tensors && st == QW_OK; i++) {
        const qw_gguf_tensor *t = &s->g->tensors[i];
        char name[256];
        cstr(name, sizeof name, t->name);
        if (e->drop_tensor && !strcmp(name, e->drop_tensor)) continue;
        if (e->rep.name && !strcmp(name, e->rep.name)) {
            st = add_rep(w, &e->rep);
            replaced = true;
        } else {
            st = copy_tensor(w, t, name);
        }
    }
    if (st == QW_OK && e->rep.name && !replaced) st = add_rep(w, &e->rep);
    uint8_t *out = NULL;
    if (st == QW_OK) st = qw_gguf_writer_to_buffer(w, &out, n);
    if (st != QW_OK) CHECKF(0, "test setup: rebuilding %s: %s", s->name, qw_last_error());
    qw_gguf_writer_free(w);
    return st == QW_OK ? out : NULL;
}

/* -------------------------------------------------------------- cases -- */

static int n_cases;

/* Loads `bytes` from memory; the caller frees the model. */
static qw_status load_bytes(const uint8_t *b, size_t n, qw_model **m) {
    return qw_model_load_memory(b, n, m);
}

/* The core of every hostile-model case: the twin must load, the edited model
 * must fail with `want` and a message containing `msg`. */
static void model_case(const char *what, const source *s, const edit *bad, qw_status want,
                       const char *msg, const edit *twin) {
    n_cases++;
    size_t n = 0;
    uint8_t *b = rebuild(s, twin, &n);
    if (b) {
        qw_model *m = NULL;
        qw_status st = load_bytes(b, n, &m);
        CHECKF(st == QW_OK && m, "%s: the valid twin does not load: %s: %s", what,
               qw_status_name(st), qw_last_error());
        qw_model_free(m);
        free(b);
    }
    b = rebuild(s, bad, &n);
    if (!b) return;
    qw_model *m = (qw_model *)(uintptr_t)1; /* must be reset to NULL */
    qw_clear_error();
    qw_status st = load_bytes(b, n, &m);
    const char *err = qw_last_error();
    printf("  %-44s %s: %s\n", what, qw_status_name(st), err);
    CHECKF(st == want, "%s: status %s, want %s (%s)", what, qw_status_name(st),
           qw_status_name(want), err);
    CHECKF(strstr(err, msg) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, msg);
    CHECKF(m == NULL, "%s: *out not NULL after a failure", what);
    if (st == QW_OK) qw_model_free(m);
    free(b);
}

static const char *const required_keys[] = {
    "llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
    "llama.attention.head_count", "general.architecture"};

static void test_missing_keys(void) {
    printf("missing hyperparameters\n");
    for (size_t i = 0; i < sizeof required_keys / sizeof required_keys[0]; i++) {
        const char *key = required_keys[i];
        char what[96], msg[128];
        snprintf(what, sizeof what, "missing %s", key);
        snprintf(msg, sizeof msg, "required key '%s' is missing", key);
        edit bad = {.drop_kv = key};
        /* twin: dropped and set again with the file's own value */
        edit twin = {.drop_kv = key};
        if (!strcmp(key, "general.architecture"))
            twin.set[0] = (kv_set){key, 's', 0, 0, "llama"};
        else
            twin.set[0] = (kv_set){key, 'u', src_u32(&F32, key), 0, NULL};
        model_case(what, &F32, &bad, QW_ERR_BAD_MODEL, msg, &twin);
    }
}

static edit set_u32(const char *key, uint32_t v) {
    edit e = {0};
    e.set[0] = (kv_set){key, 'u', v, 0, NULL};
    return e;
}

static edit set_str(const char *key, const char *v) {
    edit e = {0};
    e.set[0] = (kv_set){key, 's', 0, 0, v};
    return e;
}

static void test_bad_hparams(void) {
    printf("inconsistent hyperparameters\n");
    edit ok8 = set_u32("llama.attention.head_count", 8);
    edit e = set_u32("llama.attention.head_count", 7);
    model_case("head_count 7 (64 % 7 != 0)", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.attention.head_count = 7 does not divide embedding_length 64", &ok8);
    e = set_u32("llama.attention.head_count", 0);
    model_case("head_count 0", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.attention.head_count = 0 does not divide embedding_length 64", &ok8);

    edit ok4 = set_u32("llama.attention.head_count_kv", 4);
    e = set_u32("llama.attention.head_count_kv", 3);
    model_case("head_count_kv 3 (8 % 3 != 0)", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.attention.head_count_kv = 3 does not divide head_count 8", &ok4);
    e = set_u32("llama.attention.head_count_kv", 16);
    model_case("head_count_kv 16 > head_count 8", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.attention.head_count_kv = 16 does not divide head_count 8", &ok4);
    e = set_u32("llama.attention.head_count_kv", 0);
    model_case("head_count_kv 0", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.attention.head_count_kv = 0 does not divide head_count 8", &ok4);

    /* twin: 4 of the 5 layers (blk.4 is then an unused extra) */
    edit ok_layers = set_u32("llama.block_count", 4);
    e = set_u32("llama.block_count", 0);
    model_case("block_count 0", &F32, &e, QW_ERR_BAD_MODEL, "llama.block_count = 0 is out of range",
               &ok_layers);
    e = set_u32("llama.block_count", 100000);
    model_case("block_count 100000", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.block_count = 100000 is out of range", &ok_layers);
    e = set_u32("llama.block_count", UINT32_MAX);
    model_case("block_count 4294967295", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.block_count = 4294967295 is out of range", &ok_layers);
    e = set_u32("llama.block_count", 6);
    model_case("block_count 6 (one layer more than stored)", &F32, &e, QW_ERR_BAD_MODEL,
               "missing tensor 'blk.5.attn_norm.weight'", &ok_layers);

    edit ok_ff = set_u32("llama.embedding_length", 64);
    e = set_u32("llama.embedding_length", 0);
    model_case("embedding_length 0", &F32, &e, QW_ERR_BAD_MODEL, "embedding_length 0", &ok_ff);
    e = set_u32("llama.embedding_length", UINT32_MAX);
    model_case("embedding_length 4294967295", &F32, &e, QW_ERR_BAD_MODEL,
               "embedding_length 4294967295", &ok_ff);
    e = set_u32("llama.embedding_length", 128);
    model_case("embedding_length 128 (tensors are 64 wide)", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'token_embd.weight' has shape [64, 512, 1, 1], expected [128, 512]",
               &ok_ff);

    edit arch_ok = set_str("general.architecture", "llama");
    e = set_str("general.architecture", "gpt2");
    model_case("architecture gpt2", &F32, &e, QW_ERR_UNSUPPORTED,
               "architecture 'gpt2' is not supported", &arch_ok);

    /* rope: twin 6 (even, < head size 8) and 8 (the file's own) */
    edit rope_ok = set_u32("llama.rope.dimension_count", 6);
    e = set_u32("llama.rope.dimension_count", 7);
    model_case("rope.dimension_count 7 (odd)", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.rope.dimension_count = 7 is invalid for head size 8", &rope_ok);
    e = set_u32("llama.rope.dimension_count", 10);
    model_case("rope.dimension_count 10 > head size 8", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.rope.dimension_count = 10 is invalid for head size 8", &rope_ok);
    e = set_u32("llama.rope.dimension_count", 0);
    model_case("rope.dimension_count 0", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.rope.dimension_count = 0 is invalid for head size 8", &rope_ok);

    edit scale_ok = set_str("llama.rope.scaling.type", "linear");
    e = set_str("llama.rope.scaling.type", "yarn");
    model_case("rope.scaling.type yarn", &F32, &e, QW_ERR_UNSUPPORTED,
               "rope scaling type 'yarn' is not supported", &scale_ok);

    edit kl_ok = set_u32("llama.attention.key_length", 8);
    e = set_u32("llama.attention.key_length", 16);
    model_case("attention.key_length 16 != 64/8", &F32, &e, QW_ERR_UNSUPPORTED,
               "attention.key_length 16", &kl_ok);

    edit vocab_ok = set_u32("llama.vocab_size", 512);
    e = set_u32("llama.vocab_size", 511);
    model_case("vocab_size 511 (tokenizer has 512)", &F32, &e, QW_ERR_BAD_MODEL,
               "llama.vocab_size = 511 but the tokenizer has 512 tokens", &vocab_ok);

    edit eps_ok = {0};
    eps_ok.set[0] = (kv_set){"llama.attention.layer_norm_rms_epsilon", 'f', 0, 1e-6f, NULL};
    e = eps_ok;
    e.set[0].f = 0.0f;
    model_case("rms epsilon 0", &F32, &e, QW_ERR_BAD_MODEL, "rms epsilon 0", &eps_ok);
}

static void test_bad_tensors(void) {
    printf("missing / misshapen tensors\n");
    /* twin for a missing tensor: dropping output.weight is allowed (tied) */
    edit tied = {.drop_tensor = "output.weight"};
    edit e = {.drop_tensor = "blk.3.ffn_up.weight"};
    model_case("no blk.3.ffn_up.weight", &F32, &e, QW_ERR_BAD_MODEL,
               "missing tensor 'blk.3.ffn_up.weight'", &tied);
    e = (edit){.drop_tensor = "output_norm.weight"};
    model_case("no output_norm.weight", &F32, &e, QW_ERR_BAD_MODEL,
               "missing tensor 'output_norm.weight'", &tied);
    e = (edit){.drop_tensor = "token_embd.weight"};
    model_case("no token_embd.weight", &F32, &e, QW_ERR_BAD_MODEL,
               "missing tensor 'token_embd.weight'", &tied);
    e = (edit){.drop_tensor = "blk.0.attn_norm.weight"};
    model_case("no blk.0.attn_norm.weight", &F32, &e, QW_ERR_BAD_MODEL,
               "missing tensor 'blk.0.attn_norm.weight'", &tied);
    {
        size_t n = 0;
        uint8_t *b = rebuild(&F32, &tied, &n);
        qw_model *m = NULL;
        if (b && load_bytes(b, n, &m) == QW_OK)
            CHECK(qw_model_hparams(m)->tied_output);
        else
            CHECK(0);
        qw_model_free(m);
        free(b);
    }

    /* wrong shapes; twins replace the tensor with one of the right shape */
    const qw_gguf_tensor *k = src_tensor(&F32, "blk.2.attn_k.weight");
    float *big = calloc(64 * 512, sizeof(float)); /* zeros, large enough for all below */
    if (!k || !big) {
        CHECK(0);
        free(big);
        return;
    }
    edit k_ok = {.rep = {"blk.2.attn_k.weight", QW_TYPE_F32, 2, {64, 32, 1, 1}, big}};
    e = k_ok;
    e.rep.ne[1] = 64;
    model_case("attn_k [64, 64] (kv_dim is 32)", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'blk.2.attn_k.weight' has shape [64, 64, 1, 1], expected [64, 32]", &k_ok);
    e = k_ok;
    e.rep.ne[0] = 32;
    e.rep.ne[1] = 64;
    model_case("attn_k transposed [32, 64]", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'blk.2.attn_k.weight' has shape [32, 64, 1, 1], expected [64, 32]", &k_ok);
    e = k_ok;
    e.rep.n_dims = 3;
    e.rep.ne[1] = 16;
    e.rep.ne[2] = 2;
    model_case("attn_k [64, 16, 2] (same count, 3-D)", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'blk.2.attn_k.weight' has shape [64, 16, 2, 1], expected [64, 32]", &k_ok);

    e = k_ok;
    e.rep.n_dims = 3;
    e.rep.ne[2] = 2;
    model_case("attn_k [64, 32, 2] (extra dimension)", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'blk.2.attn_k.weight' has shape [64, 32, 2, 1], expected [64, 32]", &k_ok);

    edit out_ok = {.rep = {"output.weight", QW_TYPE_F32, 2, {64, 512, 1, 1}, big}};
    e = out_ok;
    e.rep.ne[1] = 500;
    model_case("output [64, 500] (vocab is 512)", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'output.weight' has shape [64, 500, 1, 1], expected [64, 512]", &out_ok);

    edit dn_ok = {.rep = {"blk.4.ffn_down.weight", QW_TYPE_F32, 2, {172, 64, 1, 1}, big}};
    e = dn_ok;
    e.rep.ne[0] = 64;
    e.rep.ne[1] = 172;
    model_case("ffn_down transposed [64, 172]", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'blk.4.ffn_down.weight' has shape [64, 172, 1, 1], expected [172, 64]",
               &dn_ok);

    edit norm_ok = {.rep = {"blk.1.ffn_norm.weight", QW_TYPE_F32, 1, {64, 1, 1, 1}, big}};
    e = norm_ok;
    e.rep.ne[0] = 63;
    model_case("ffn_norm with 63 elements", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'blk.1.ffn_norm.weight' has 63 x 1 elements, expected 64", &norm_ok);
    e = norm_ok;
    e.rep.ne[0] = 65;
    model_case("ffn_norm with 65 elements", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'blk.1.ffn_norm.weight' has 65 x 1 elements, expected 64", &norm_ok);
    e = norm_ok;
    e.rep.n_dims = 2;
    e.rep.ne[0] = 32;
    e.rep.ne[1] = 2;
    model_case("ffn_norm as [32, 2]", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'blk.1.ffn_norm.weight' has 32 x 2 elements, expected 64", &norm_ok);

    /* optional rope_freqs: rope_dim/2 = 4 entries */
    float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    edit rf_ok = {.rep = {"rope_freqs.weight", QW_TYPE_F32, 1, {4, 1, 1, 1}, ones}};
    e = rf_ok;
    e.rep.ne[0] = 3;
    model_case("rope_freqs with 3 elements", &F32, &e, QW_ERR_BAD_MODEL,
               "tensor 'rope_freqs.weight' has 3 x 1 elements, expected 4", &rf_ok);
    float zero_freq[4] = {1, 1, 0, 1}; /* would divide by zero in RoPE */
    e = rf_ok;
    e.rep.data = zero_freq;
    model_case("rope_freqs with a 0 entry", &F32, &e, QW_ERR_BAD_MODEL,
               "rope_freqs.weight[2] = 0 must be positive", &rf_ok);

    /* activation-only types as weights (Q8_1: blocks of 32, so 64 wide fits) */
    edit q8_ok = {.rep = {"blk.1.attn_v.weight", QW_TYPE_Q8_0, 2, {64, 32, 1, 1}, NULL}};
    e = q8_ok;
    e.rep.type = QW_TYPE_Q8_1;
    model_case("attn_v stored as Q8_1", &F32, &e, QW_ERR_UNSUPPORTED,
               "tensor 'blk.1.attn_v.weight' has type Q8_1, which cannot be a weight", &q8_ok);
    edit emb_ok = {.rep = {"token_embd.weight", QW_TYPE_Q8_0, 2, {64, 512, 1, 1}, NULL}};
    e = emb_ok;
    e.rep.type = QW_TYPE_Q8_1;
    model_case("token_embd stored as Q8_1", &F32, &e, QW_ERR_UNSUPPORTED,
               "tensor 'token_embd.weight' has type Q8_1, which cannot be a weight", &emb_ok);
    free(big);
}

/* Q8_K blocks hold 256 values and no stories260K row is a multiple of 256,
 * so this case builds a small 256-wide llama (1 layer, stories' tokenizer). */
static void test_q8_k_weight(void) {
    const int64_t d = 256, ff = 256, V = 512, kv = 128;
    float *vals = malloc((size_t)(d * V) * sizeof(float));
    float *ones = malloc((size_t)d * sizeof(float));
    if (!vals || !ones) {
        CHECK(0);
        free(vals);
        free(ones);
        return;
    }
    for (int64_t i = 0; i < d * V; i++) vals[i] = (float)((i * 7919) % 201 - 100) * 1e-3f;
    for (int64_t i = 0; i < d; i++) ones[i] = 1.0f;
    struct {
        const char *name;
        int64_t ne0, ne1;
    } ts[] = {{"token_embd.weight", d, V},      {"output_norm.weight", d, 1},
              {"blk.0.attn_norm.weight", d, 1}, {"blk.0.attn_q.weight", d, d},
              {"blk.0.attn_k.weight", d, kv},   {"blk.0.attn_v.weight", d, kv},
              {"blk.0.attn_output.weight", d, d}, {"blk.0.ffn_norm.weight", d, 1},
              {"blk.0.ffn_gate.weight", d, ff}, {"blk.0.ffn_up.weight", d, ff},
              {"blk.0.ffn_down.weight", ff, d}};
    for (int variant = 0; variant < 2; variant++) { /* 0: twin (all F32), 1: Q8_K ffn_up */
        qw_gguf_writer *w = NULL;
        qw_status st = qw_gguf_writer_create(&w);
        if (st == QW_OK) st = copy_kvs(w, F32.g, NULL);
        const kv_set sets[] = {{"llama.embedding_length", 'u', (uint32_t)d, 0, NULL},
                               {"llama.feed_forward_length", 'u', (uint32_t)ff, 0, NULL},
                               {"llama.block_count", 'u', 1, 0, NULL},
                               {"llama.attention.head_count", 'u', 8, 0, NULL},
                               {"llama.attention.head_count_kv", 'u', 4, 0, NULL},
                               {"llama.rope.dimension_count", 'u', 32, 0, NULL}};
        for (size_t i = 0; i < sizeof sets / sizeof sets[0] && st == QW_OK; i++)
            st = apply_set(w, &sets[i]);
        for (size_t i = 0; i < sizeof ts / sizeof ts[0] && st == QW_OK; i++) {
            const bool norm = ts[i].ne1 == 1;
            const int64_t ne[2] = {ts[i].ne0, ts[i].ne1};
            uint32_t type = QW_TYPE_F32;
            const void *data = norm ? (const void *)ones : (const void *)vals;
            if (variant == 1 && !strcmp(ts[i].name, "blk.0.ffn_up.weight")) {
                type = QW_TYPE_Q8_K;
                data = NULL;
            }
            st = qw_gguf_add_tensor(w, ts[i].name, type, norm ? 1 : 2, ne, data,
                                    tensor_bytes(type, norm ? 1 : 2, ne));
        }
        uint8_t *b = NULL;
        size_t n = 0;
        if (st == QW_OK) st = qw_gguf_writer_to_buffer(w, &b, &n);
        qw_gguf_writer_free(w);
        CHECKF(st == QW_OK, "test setup: 256-wide model: %s", qw_last_error());
        if (st != QW_OK) break;
        qw_model *m = NULL;
        st = load_bytes(b, n, &m);
        if (variant == 0) {
            CHECKF(st == QW_OK, "256-wide twin does not load: %s", qw_last_error());
            qw_context *c = NULL;
            if (m && qw_context_create(m, 8, 1, &c) == QW_OK) {
                const int32_t t[2] = {1, 300};
                CHECKF(qw_decode(c, t, 2, false) == QW_OK, "%s", qw_last_error());
            } else {
                CHECK(0);
            }
            qw_context_free(c);
        } else {
            n_cases++;
            const char *err = qw_last_error();
            printf("  %-44s %s: %s\n", "ffn_up stored as Q8_K (256-wide model)",
                   qw_status_name(st), err);
            CHECKF(st == QW_ERR_UNSUPPORTED, "Q8_K weight: %s", qw_status_name(st));
            CHECKF(strstr(err, "tensor 'blk.0.ffn_up.weight' has type Q8_K, which cannot be a "
                               "weight") != NULL,
                   "Q8_K weight: %s", err);
        }
        qw_model_free(m);
        free(b);
    }
    free(vals);
    free(ones);
}

static void put_f32(uint8_t *p, size_t i, float v) { memcpy(p + i * 4, &v, 4); }

static void test_non_finite(void) {
    printf("NaN / Inf in weights\n");
    /* F32 norms: element 5 of blk.0.attn_norm, element 63 of output_norm */
    uint8_t *an_bad = dup_tensor(&F32, "blk.0.attn_norm.weight");
    uint8_t *an_ok = dup_tensor(&F32, "blk.0.attn_norm.weight");
    uint8_t *on_bad = dup_tensor(&F32, "output_norm.weight");
    uint8_t *on_ok = dup_tensor(&F32, "output_norm.weight");
    uint8_t *g_bad = dup_tensor(&F32, "blk.3.ffn_gate.weight");
    uint8_t *g_ok = dup_tensor(&F32, "blk.3.ffn_gate.weight");
    if (an_bad && an_ok && on_bad && on_ok && g_bad && g_ok) {
        put_f32(an_bad, 5, NAN);
        put_f32(an_ok, 5, 0.5f);
        edit ok = {.rep = {"blk.0.attn_norm.weight", QW_TYPE_F32, 1, {64, 1, 1, 1}, an_ok}};
        edit e = ok;
        e.rep.data = an_bad;
        model_case("NaN in blk.0.attn_norm (F32)", &F32, &e, QW_ERR_BAD_MODEL,
                   "tensor 'blk.0.attn_norm.weight' element 5 is not finite", &ok);
        put_f32(an_bad, 5, -INFINITY);
        model_case("-Inf in blk.0.attn_norm (F32)", &F32, &e, QW_ERR_BAD_MODEL,
                   "tensor 'blk.0.attn_norm.weight' element 5 is not finite", &ok);
        put_f32(on_bad, 63, INFINITY);
        put_f32(on_ok, 63, 2.0f);
        ok = (edit){.rep = {"output_norm.weight", QW_TYPE_F32, 1, {64, 1, 1, 1}, on_ok}};
        e = ok;
        e.rep.data = on_bad;
        model_case("Inf in output_norm (F32)", &F32, &e, QW_ERR_BAD_MODEL,
                   "tensor 'output_norm.weight' element 63 is not finite", &ok);
        /* an F32 matrix: row 100 of ffn_gate [64][172] */
        put_f32(g_bad, 100 * 64 + 17, NAN);
        put_f32(g_ok, 100 * 64 + 17, -0.25f);
        ok = (edit){.rep = {"blk.3.ffn_gate.weight", QW_TYPE_F32, 2, {64, 172, 1, 1}, g_ok}};
        e = ok;
        e.rep.data = g_bad;
        model_case("NaN in blk.3.ffn_gate (F32 matrix)", &F32, &e, QW_ERR_BAD_MODEL,
                   "tensor 'blk.3.ffn_gate.weight' row 100 has a NaN or infinite value", &ok);
    } else {
        CHECK(0);
    }
    free(an_bad);
    free(an_ok);
    free(on_bad);
    free(on_ok);
    free(g_bad);
    free(g_ok);

    /* Q8_0: a block is a fp16 scale + 32 int8; a 64-wide row has 2 blocks
     * (68 bytes). Row 10, block 1 of blk.2.attn_q.weight. */
    const qw_gguf_tensor *q = src_tensor(&Q80, "blk.2.attn_q.weight");
    uint8_t *q_bad = dup_tensor(&Q80, "blk.2.attn_q.weight");
    uint8_t *q_ok = dup_tensor(&Q80, "blk.2.attn_q.weight");
    uint8_t *e_bad = dup_tensor(&Q80, "token_embd.weight");
    uint8_t *e_ok = dup_tensor(&Q80, "token_embd.weight");
    uint8_t *d_bad = dup_tensor(&Q80, "blk.1.ffn_down.weight");
    uint8_t *d_ok = dup_tensor(&Q80, "blk.1.ffn_down.weight");
    if (q && q->type == QW_TYPE_Q8_0 && q_bad && q_ok && e_bad && e_ok && d_bad && d_ok) {
        const size_t at = 10 * 68 + 34;
        q_bad[at] = 0x00, q_bad[at + 1] = 0x7E; /* fp16 quiet NaN */
        q_ok[at] = 0x00, q_ok[at + 1] = 0x20;   /* fp16 2^-7, finite */
        edit ok = {.rep = {"blk.2.attn_q.weight", QW_TYPE_Q8_0, 2, {64, 64, 1, 1}, q_ok}};
        edit e = ok;
        e.rep.data = q_bad;
        model_case("NaN fp16 scale in blk.2.attn_q (Q8_0)", &Q80, &e, QW_ERR_BAD_MODEL,
                   "tensor 'blk.2.attn_q.weight' row 10 has a NaN or infinite scale", &ok);
        q_bad[at] = 0x00, q_bad[at + 1] = 0xFC; /* fp16 -Inf */
        model_case("-Inf fp16 scale in blk.2.attn_q (Q8_0)", &Q80, &e, QW_ERR_BAD_MODEL,
                   "tensor 'blk.2.attn_q.weight' row 10 has a NaN or infinite scale", &ok);
        /* the embedding (only ever dequantized, never a matmul operand) */
        e_bad[511 * 68] = 0x01, e_bad[511 * 68 + 1] = 0x7C; /* NaN (signalling) */
        ok = (edit){.rep = {"token_embd.weight", QW_TYPE_Q8_0, 2, {64, 512, 1, 1}, e_ok}};
        e = ok;
        e.rep.data = e_bad;
        model_case("NaN fp16 scale in token_embd (Q8_0)", &Q80, &e, QW_ERR_BAD_MODEL,
                   "tensor 'token_embd.weight' row 511 has a NaN or infinite scale", &ok);
        /* ffn_down is F16 in this file: element 3 of row 7 */
        d_bad[(7 * 172 + 3) * 2] = 0x00, d_bad[(7 * 172 + 3) * 2 + 1] = 0x7C; /* +Inf */
        ok = (edit){.rep = {"blk.1.ffn_down.weight", QW_TYPE_F16, 2, {172, 64, 1, 1}, d_ok}};
        e = ok;
        e.rep.data = d_bad;
        model_case("Inf in blk.1.ffn_down (F16 matrix)", &Q80, &e, QW_ERR_BAD_MODEL,
                   "tensor 'blk.1.ffn_down.weight' row 7 has a NaN or infinite value", &ok);
    } else {
        CHECKF(0, "test setup: blk.2.attn_q.weight is not Q8_0 in %s", Q80.name);
    }
    free(q_bad);
    free(q_ok);
    free(e_bad);
    free(e_ok);
    free(d_bad);
    free(d_ok);
}

/* ------------------------------------------------------------- logits -- */

static const int32_t SEQ[] = {1, 403, 407, 261, 378, 429, 32, 263, 44, 511, 0, 2};
#define SEQ_N ((int)(sizeof SEQ / sizeof SEQ[0]))

/* Logits of every position of SEQ ([SEQ_N][n_vocab], malloc'd), or NULL. */
static float *seq_logits(const qw_model *m) {
    qw_context *c = NULL;
    if (qw_context_create(m, 32, 1, &c) != QW_OK) {
        CHECKF(0, "context: %s", qw_last_error());
        return NULL;
    }
    const int V = qw_model_hparams(m)->n_vocab;
    float *out = malloc((size_t)SEQ_N * (size_t)V * sizeof(float));
    /* one batch of 5, then one token at a time: both paths are covered */
    bool ok = out && qw_decode(c, SEQ, 5, true) == QW_OK;
    for (int i = 0; ok && i < 5; i++) memcpy(out + (size_t)i * V, qw_logits(c, i), (size_t)V * 4);
    for (int i = 5; ok && i < SEQ_N; i++) {
        ok = qw_decode(c, SEQ + i, 1, false) == QW_OK;
        if (ok) memcpy(out + (size_t)i * V, qw_logits(c, -1), (size_t)V * 4);
    }
    CHECKF(ok, "decode: %s", qw_last_error());
    qw_context_free(c);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

static bool same_logits(const float *a, const float *b, int V) {
    return a && b && memcmp(a, b, (size_t)SEQ_N * (size_t)V * sizeof(float)) == 0;
}

/* Tokenizer of a loaded model: the text's tokens print back as the text
 * (with one leading space when the space prefix is on), the same through a
 * file load (header pages released after loading) and a memory load. */
static void check_tokens(qw_model *a, qw_model *b, const char *name) {
    static const char text[] = "Once upon a time, there was a little girl named Lily.";
    const size_t len = sizeof text - 1;
    int32_t ia[128], ib[128];
    int na = qw_tokenize(a, text, len, false, ia, 128);
    int nb = qw_tokenize(b, text, len, false, ib, 128);
    CHECKF(na > 0 && na == nb && !memcmp(ia, ib, (size_t)na * sizeof *ia), "%s: tokens differ (%d, %d)",
           name, na, nb);
    char cat[256];
    int cl = 0;
    for (int i = 0; i < na && i < 128; i++) {
        char pa[64], pb[64];
        int la = qw_token_to_bytes(a, ia[i], pa, (int)sizeof pa);
        int lb = qw_token_to_bytes(b, ia[i], pb, (int)sizeof pb);
        CHECK(la >= 0 && la == lb && !memcmp(pa, pb, (size_t)(la > 0 ? la : 0)));
        if (la > 0 && cl + la <= (int)sizeof cat) {
            memcpy(cat + cl, pa, (size_t)la);
            cl += la;
        }
    }
    bool same = (cl == (int)len && !memcmp(cat, text, len)) ||
                (cl == (int)len + 1 && cat[0] == ' ' && !memcmp(cat + 1, text, len));
    CHECKF(same, "%s: the pieces do not spell the text (%d bytes)", name, cl);
    /* the parser's list of token strings is freed once the tokenizer is built */
    const qw_gguf_kv *kv = qw_gguf_find(a->shards[0], "tokenizer.ggml.tokens");
    CHECK(kv && kv->arr_str == NULL && kv->arr_n == (uint64_t)qw_model_hparams(a)->n_vocab);
}

static void test_load_memory(void) {
    printf("qw_model_load_memory vs qw_model_load\n");
    const source *srcs[] = {&F32, &Q80};
    for (int s = 0; s < 2; s++) {
        qw_model *a = NULL, *b = NULL;
        CHECKF(qw_model_load(qw_shared_path(srcs[s]->name), &a) == QW_OK, "%s", qw_last_error());
        CHECKF(qw_model_load_memory(srcs[s]->bytes, srcs[s]->size, &b) == QW_OK, "%s",
               qw_last_error());
        if (a && b) {
            float *la = seq_logits(a), *lb = seq_logits(b);
            CHECKF(same_logits(la, lb, 512), "%s: logits differ between file and memory",
                   srcs[s]->name);
            CHECK(qw_model_weight_bytes(a) == qw_model_weight_bytes(b));
            CHECK(qw_model_n_params(a) == qw_model_n_params(b));
            CHECK(!memcmp(qw_model_hparams(a), qw_model_hparams(b), sizeof(qw_hparams)));
            check_tokens(a, b, srcs[s]->name);
            /* the rebuild used by every case is faithful: same logits */
            size_t n = 0;
            edit none = {0};
            uint8_t *rb = rebuild(srcs[s], &none, &n);
            qw_model *c = NULL;
            if (rb) CHECKF(load_bytes(rb, n, &c) == QW_OK, "%s", qw_last_error());
            if (c) {
                float *lc = seq_logits(c);
                CHECKF(same_logits(la, lc, 512), "%s: a rebuilt copy gives other logits",
                       srcs[s]->name);
                free(lc);
            }
            qw_model_free(c);
            free(rb);
            free(la);
            free(lb);
        }
        qw_model_free(a);
        qw_model_free(b);
    }
}

/* ------------------------------------------------------------ runtime -- */

static void test_decode_bad_args(void) {
    printf("qw_decode with bad arguments\n");
    qw_model *m = NULL;
    if (qw_model_load_memory(F32.bytes, F32.size, &m) != QW_OK) {
        CHECKF(0, "%s", qw_last_error());
        return;
    }
    const int V = qw_model_hparams(m)->n_vocab;
    const int N_CTX = 48;
    qw_context *c = NULL, *fresh = NULL;
    CHECK(qw_context_create(m, N_CTX, 1, &c) == QW_OK);
    CHECK(qw_context_create(m, N_CTX, 1, &fresh) == QW_OK);
    if (!c || !fresh) goto done;
    const int32_t prefix[3] = {1, 403, 407};
    CHECK(qw_decode(c, prefix, 3, false) == QW_OK);
    float *before = malloc((size_t)V * sizeof(float));
    int32_t *many = malloc(64 * sizeof(int32_t));
    if (!before || !many) {
        free(before);
        free(many);
        goto done;
    }
    memcpy(before, qw_logits(c, -1), (size_t)V * sizeof(float));
    for (int i = 0; i < 64; i++) many[i] = (int32_t)(3 + i * 5);

    struct {
        const char *what;
        const int32_t *tokens;
        int n;
        const char *msg;
        int32_t patch_at; /* many[patch_at] = patch_val for this call; -1 none */
        int32_t patch_val;
    } bad[] = {
        {"token -1", (const int32_t[]){-1}, 1, "token id -1 at index 0 is out of range [0, 512)", -1, 0},
        {"token n_vocab", (const int32_t[]){512}, 1, "token id 512 at index 0 is out of range", -1, 0},
        {"token INT32_MIN", (const int32_t[]){INT32_MIN}, 1, "is out of range [0, 512)", -1, 0},
        {"n = 0", prefix, 0, "nothing to decode (0 tokens)", -1, 0},
        {"n = -1", prefix, -1, "nothing to decode (-1 tokens)", -1, 0},
        {"n = INT_MIN", prefix, INT_MIN, "nothing to decode", -1, 0},
        {"tokens NULL, n = 1", NULL, 1, "NULL context or tokens", -1, 0},
        {"bad token at index 37 (2nd micro-batch)", many, 40, "token id 512 at index 37", 37, 512},
        {"bad token at index 39 (last)", many, 40, "token id -7 at index 39", 39, -7},
        {"46 tokens, 45 free slots", many, 46, "context full: 3 tokens in the cache + 46 new > context length 48", -1, 0},
        {"n = INT_MAX", many, INT_MAX, "context full", -1, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n_cases++;
        if (bad[i].patch_at >= 0) many[bad[i].patch_at] = bad[i].patch_val;
        qw_clear_error();
        qw_status st = qw_decode(c, bad[i].tokens, bad[i].n, true);
        const char *err = qw_last_error();
        printf("  %-44s %s: %s\n", bad[i].what, qw_status_name(st), err);
        CHECKF(st == QW_ERR_INVALID_ARG, "%s: %s", bad[i].what, qw_status_name(st));
        CHECKF(strstr(err, bad[i].msg) != NULL, "%s: \"%s\" lacks \"%s\"", bad[i].what, err,
               bad[i].msg);
        CHECKF(qw_context_pos(c) == 3, "%s: position moved to %d", bad[i].what, qw_context_pos(c));
        const float *l = qw_logits(c, -1);
        CHECKF(l && !memcmp(l, before, (size_t)V * sizeof(float)),
               "%s: the last logits changed", bad[i].what);
        CHECKF(qw_logits(c, 0) == NULL && qw_logits(c, 1) == NULL,
               "%s: rows that were not kept became visible", bad[i].what);
        if (bad[i].patch_at >= 0) many[bad[i].patch_at] = (int32_t)(3 + bad[i].patch_at * 5);
    }
    CHECK(qw_decode(NULL, prefix, 1, false) == QW_ERR_INVALID_ARG);
    /* after all of that, the next token gives what a fresh context gives */
    const int32_t next = 42;
    CHECK(qw_decode(c, &next, 1, false) == QW_OK);
    CHECK(qw_decode(fresh, prefix, 3, false) == QW_OK);
    CHECK(qw_decode(fresh, &next, 1, false) == QW_OK);
    {
        const float *a = qw_logits(c, -1), *b = qw_logits(fresh, -1);
        CHECKF(a && b && !memcmp(a, b, (size_t)V * sizeof(float)),
               "logits after rejected calls differ from a fresh context's");
        CHECK(qw_context_pos(c) == 4);
    }
    /* twins: the boundary values are accepted: ids 0 and n_vocab - 1, and
     * exactly filling the context (4 + 44 = 48), after which one more fails */
    const int32_t edge[2] = {0, 511};
    CHECK(qw_decode(c, edge, 2, false) == QW_OK);
    CHECK(qw_decode(c, many, N_CTX - 6, false) == QW_OK);
    CHECK(qw_context_pos(c) == N_CTX);
    CHECK(qw_decode(c, edge, 1, false) == QW_ERR_INVALID_ARG);
    CHECK(strstr(qw_last_error(), "context full") != NULL);
    CHECK(qw_context_pos(c) == N_CTX);
    free(before);
    free(many);
done:
    qw_context_free(c);
    qw_context_free(fresh);
    qw_model_free(m);
}

/* qw_context_truncate: decoding A then truncating to k and decoding B's
 * rest gives the same bits as decoding B's first k, then its rest, in a
 * fresh context (the first k positions' keys and values do not depend on
 * what came after them, nor on the batch they were decoded in) */
static void test_context_truncate(qw_model *m) {
    printf("qw_context_truncate\n");
    static const int32_t A[] = {1, 403, 407, 261, 378, 439, 261, 500, 320, 402, 290, 412};
    static const int32_t B[] = {1, 403, 407, 261, 378, 300, 311, 322, 333, 344};
    enum { NA = sizeof A / sizeof A[0], NB = sizeof B / sizeof B[0], K = 5 };
    const int V = qw_model_hparams(m)->n_vocab;
    qw_context *fresh = NULL, *c = NULL;
    if (qw_context_create(m, 32, 1, &fresh) != QW_OK || qw_context_create(m, 32, 2, &c) != QW_OK) {
        CHECKF(0, "%s", qw_last_error());
        qw_context_free(fresh);
        return;
    }
    n_cases++;
    CHECK(qw_decode(fresh, B, K, false) == QW_OK && qw_decode(fresh, B + K, NB - K, true) == QW_OK);
    CHECK(qw_decode(c, A, NA, false) == QW_OK && qw_context_pos(c) == NA);
    qw_context_truncate(c, NA + 3); /* past the end: nothing changes */
    CHECK(qw_context_pos(c) == NA && qw_logits(c, -1) != NULL);
    qw_context_truncate(c, K);
    CHECK(qw_context_pos(c) == K && qw_logits(c, -1) == NULL);
    CHECK(qw_decode(c, B + K, NB - K, true) == QW_OK && qw_context_pos(c) == NB);
    int same = 1;
    for (int i = 0; i < NB - K; i++) {
        const float *x = qw_logits(fresh, i), *y = qw_logits(c, i);
        if (!x || !y || memcmp(x, y, (size_t)V * sizeof(float)) != 0) same = 0;
    }
    CHECKF(same, "logits after truncating differ from a fresh decode with the same schedule");
    /* truncating to 0 (or below) is a reset */
    qw_context_truncate(c, -4);
    CHECK(qw_context_pos(c) == 0);
    CHECK(qw_decode(c, B, K, false) == QW_OK && qw_decode(c, B + K, NB - K, true) == QW_OK);
    const float *x = qw_logits(fresh, NB - K - 1), *y = qw_logits(c, NB - K - 1);
    CHECK(x && y && memcmp(x, y, (size_t)V * sizeof(float)) == 0);
    qw_context_free(fresh);
    qw_context_free(c);
}

static void test_context_create(void) {
    printf("qw_context_create with bad arguments\n");
    qw_model *m = NULL;
    if (qw_model_load_memory(F32.bytes, F32.size, &m) != QW_OK) {
        CHECKF(0, "%s", qw_last_error());
        return;
    }
    struct {
        const char *what;
        int n_ctx, n_threads;
        qw_status want;
        const char *msg;
    } cases[] = {
        {"n_ctx INT_MAX", INT_MAX, 1, QW_ERR_INVALID_ARG, "context length 2147483647 is too large"},
        {"n_ctx 2^20 + 1", (1 << 20) + 1, 1, QW_ERR_INVALID_ARG, "context length 1048577 is too large"},
        {"n_threads 0", 16, 0, QW_ERR_INVALID_ARG, "thread count 0 is out of range"},
        {"n_threads -3", 16, -3, QW_ERR_INVALID_ARG, "thread count -3 is out of range"},
        {"n_threads 1000000", 16, 1000000, QW_ERR_INVALID_ARG, "thread count 1000000 is out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        n_cases++;
        qw_context *c = (qw_context *)(uintptr_t)1;
        qw_clear_error();
        qw_status st = qw_context_create(m, cases[i].n_ctx, cases[i].n_threads, &c);
        const char *err = qw_last_error();
        printf("  %-44s %s: %s\n", cases[i].what, qw_status_name(st), err);
        CHECKF(st == cases[i].want, "%s: %s", cases[i].what, qw_status_name(st));
        CHECKF(strstr(err, cases[i].msg) != NULL, "%s: \"%s\"", cases[i].what, err);
        CHECK(c == NULL);
        if (st == QW_OK) qw_context_free(c);
    }
    /* twins: a small context, 2 threads, and n_ctx <= 0 = the training context */
    qw_context *c = NULL;
    CHECK(qw_context_create(m, 16, 2, &c) == QW_OK && qw_context_n_ctx(c) == 16);
    qw_context_free(c);
    c = NULL;
    CHECK(qw_context_create(m, -5, 1, &c) == QW_OK && qw_context_n_ctx(c) == 2048);
    qw_context_free(c);
    c = NULL;
    n_cases++;
    CHECK(qw_context_create(NULL, 16, 1, &c) == QW_ERR_INVALID_ARG && c == NULL);
    CHECK(qw_context_create(m, 16, 1, NULL) == QW_ERR_INVALID_ARG);
    qw_model_free(m);

    /* a model whose training context is absurd: n_ctx 0 must fail, not allocate */
    size_t n = 0;
    edit huge = set_u32("llama.context_length", 1u << 30);
    uint8_t *b = rebuild(&F32, &huge, &n);
    m = NULL;
    if (b) CHECKF(load_bytes(b, n, &m) == QW_OK, "%s", qw_last_error());
    if (m) {
        n_cases++;
        c = NULL;
        qw_status st = qw_context_create(m, 0, 1, &c);
        printf("  %-44s %s: %s\n", "n_ctx 0, context_length 2^30", qw_status_name(st),
               qw_last_error());
        CHECK(st == QW_ERR_INVALID_ARG && c == NULL);
        CHECK(strstr(qw_last_error(), "context length 1073741824 is too large") != NULL);
        CHECK(qw_context_create(m, 64, 1, &c) == QW_OK);
        qw_context_free(c);
    }
    qw_model_free(m);
    free(b);
}

/* --------------------------------------------------------------- files -- */

static char tmpdir[256];

static bool write_file(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void expect_load_fail(const char *what, const char *path, qw_status want, const char *msg) {
    n_cases++;
    qw_model *m = (qw_model *)(uintptr_t)1;
    qw_clear_error();
    qw_status st = qw_model_load(path, &m);
    const char *err = qw_last_error();
    printf("  %-44s %s: %s\n", what, qw_status_name(st), err);
    CHECKF(st == want, "%s: %s, want %s (%s)", what, qw_status_name(st), qw_status_name(want), err);
    CHECKF(strstr(err, msg) != NULL, "%s: \"%s\" lacks \"%s\"", what, err, msg);
    CHECKF(m == NULL, "%s: *out not NULL", what);
    if (st == QW_OK) qw_model_free(m);
}

static void test_load_paths(void) {
    printf("qw_model_load / qw_model_load_memory with bad arguments\n");
    char path[512];
    snprintf(path, sizeof path, "%s/does-not-exist.gguf", tmpdir);
    expect_load_fail("missing file", path, QW_ERR_IO, "cannot open");
    expect_load_fail("a directory", tmpdir, QW_ERR_IO, "is not a regular file");
    snprintf(path, sizeof path, "%s/empty.gguf", tmpdir);
    CHECK(write_file(path, "", 0));
    expect_load_fail("an empty file", path, QW_ERR_BAD_MODEL, "is empty");
    unlink(path);
    snprintf(path, sizeof path, "%s/half.gguf", tmpdir);
    CHECK(write_file(path, F32.bytes, F32.size / 2));
    expect_load_fail("the first half of a model", path, QW_ERR_TRUNCATED, "runs past the end");
    unlink(path);
    /* twin: the same file whole, through the same path */
    snprintf(path, sizeof path, "%s/whole.gguf", tmpdir);
    CHECK(write_file(path, F32.bytes, F32.size));
    qw_model *m = NULL;
    CHECKF(qw_model_load(path, &m) == QW_OK, "%s", qw_last_error());
    qw_model_free(m);
    unlink(path);

    n_cases++;
    m = (qw_model *)(uintptr_t)1;
    CHECK(qw_model_load(NULL, &m) == QW_ERR_INVALID_ARG && m == NULL);
    CHECK(qw_model_load(qw_shared_path(F32.name), NULL) == QW_ERR_INVALID_ARG);
    m = (qw_model *)(uintptr_t)1;
    CHECK(qw_model_load_memory(NULL, 100, &m) == QW_ERR_INVALID_ARG && m == NULL);
    CHECK(qw_model_load_memory(F32.bytes, F32.size, NULL) == QW_ERR_INVALID_ARG);
    m = (qw_model *)(uintptr_t)1;
    qw_status st = qw_model_load_memory(NULL, 0, &m);
    CHECKF(st != QW_OK && m == NULL, "load_memory(NULL, 0): %s", qw_status_name(st));
    st = qw_model_load_memory(F32.bytes, 0, &m);
    CHECKF(st != QW_OK && m == NULL, "load_memory(bytes, 0): %s", qw_status_name(st));
    qw_model_free(NULL);
    qw_context_free(NULL);
}

/* ----------------------------------------------------------- split -- */

enum { N_PARTS = 3 };

typedef enum { SPLIT_OK, SPLIT_NO_PART2, SPLIT_WRONG_NO, SPLIT_DUP, SPLIT_WRONG_COUNT } split_kind;

/* Writes F32 as <dir>/<stem>-0000k-of-00003.gguf: tensor i goes to part
 * i * 3 / n_tensors; part 1 carries all metadata; every part carries
 * split.no (u16, 0-based), split.count (u16) and split.tensors.count (i32). */
static bool write_split(const char *stem, split_kind kind) {
    const qw_gguf *g = F32.g;
    const uint64_t nt = g->n_tensors;
    bool ok = true;
    for (int p = 0; p < N_PARTS && ok; p++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s-%05d-of-%05d.gguf", tmpdir, stem, p + 1, N_PARTS);
        if (kind == SPLIT_NO_PART2 && p == 1) {
            unlink(path);
            continue;
        }
        qw_gguf_writer *w = NULL;
        qw_status st = qw_gguf_writer_create(&w);
        if (st == QW_OK && p == 0) st = copy_kvs(w, g, NULL);
        const uint32_t no = (kind == SPLIT_WRONG_NO && p == 1) ? 2 : (uint32_t)p;
        const uint32_t cnt = (kind == SPLIT_WRONG_COUNT && p == 2) ? 4 : N_PARTS;
        const kv_set sk[3] = {{"split.no", 'h', no, 0, NULL},
                              {"split.count", 'h', cnt, 0, NULL},
                              {"split.tensors.count", 'i', (uint32_t)nt, 0, NULL}};
        for (int i = 0; i < 3 && st == QW_OK; i++) st = apply_set(w, &sk[i]);
        for (uint64_t i = 0; i < nt && st == QW_OK; i++) {
            const qw_gguf_tensor *t = &g->tensors[i];
            const int part = (int)(i * N_PARTS / nt);
            /* SPLIT_DUP: the first tensor of part 2 is also written into part 3 */
            const bool dup = kind == SPLIT_DUP && p == 2 && i == (nt + N_PARTS - 1) / N_PARTS;
            if (part != p && !dup) continue;
            char name[256];
            cstr(name, sizeof name, t->name);
            st = copy_tensor(w, t, name);
        }
        FILE *f = st == QW_OK ? fopen(path, "wb") : NULL;
        if (st == QW_OK && !f) st = QW_ERR_IO;
        if (f) {
            st = qw_gguf_writer_to_file(w, f);
            if (fclose(f) != 0 && st == QW_OK) st = QW_ERR_IO;
        }
        if (st != QW_OK) {
            CHECKF(0, "test setup: writing %s: %s", path, qw_last_error());
            ok = false;
        }
        qw_gguf_writer_free(w);
    }
    return ok;
}

static void remove_split(const char *stem) {
    for (int p = 0; p < N_PARTS; p++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s-%05d-of-%05d.gguf", tmpdir, stem, p + 1, N_PARTS);
        unlink(path);
    }
}

static void test_split(void) {
    printf("split models\n");
    qw_model *single = NULL;
    if (qw_model_load(qw_shared_path(F32.name), &single) != QW_OK) {
        CHECKF(0, "%s", qw_last_error());
        return;
    }
    float *ref = seq_logits(single);
    char path[512];
    if (write_split("ok", SPLIT_OK)) {
        for (int p = 1; p <= N_PARTS; p++) {
            snprintf(path, sizeof path, "%s/ok-%05d-of-%05d.gguf", tmpdir, p, N_PARTS);
            qw_model *m = NULL;
            qw_status st = qw_model_load(path, &m);
            CHECKF(st == QW_OK, "split, loaded by part %d: %s", p, qw_last_error());
            if (!m) continue;
            float *l = seq_logits(m);
            CHECKF(same_logits(ref, l, 512), "split, loaded by part %d: logits differ", p);
            CHECK(!memcmp(qw_model_hparams(m), qw_model_hparams(single), sizeof(qw_hparams)));
            CHECK(qw_model_n_params(m) == qw_model_n_params(single));
            CHECK(qw_model_weight_bytes(m) == qw_model_weight_bytes(single));
            free(l);
            qw_model_free(m);
        }
        /* one part handed over as bytes, or under a name that hides the split */
        snprintf(path, sizeof path, "%s/ok-%05d-of-%05d.gguf", tmpdir, 1, N_PARTS);
        size_t n = 0;
        uint8_t *b = qw_read_file(path, &n);
        if (b) {
            n_cases++;
            qw_model *m = (qw_model *)(uintptr_t)1;
            qw_status st = qw_model_load_memory(b, n, &m);
            printf("  %-44s %s: %s\n", "part 1 of 3 given to load_memory", qw_status_name(st),
                   qw_last_error());
            CHECK(st == QW_ERR_INVALID_ARG && m == NULL);
            CHECK(strstr(qw_last_error(), "part of a 3-part split model") != NULL);
            char renamed[512];
            snprintf(renamed, sizeof renamed, "%s/renamed.gguf", tmpdir);
            CHECK(write_file(renamed, b, n));
            expect_load_fail("part 1 of 3 renamed to renamed.gguf", renamed, QW_ERR_BAD_MODEL,
                             "is part of a 3-part split model but its name does not end in");
            unlink(renamed);
            free(b);
        } else {
            CHECK(0);
        }
    }
    remove_split("ok");

    char msg[600];
    if (write_split("gap", SPLIT_NO_PART2)) {
        snprintf(path, sizeof path, "%s/gap-00001-of-00003.gguf", tmpdir);
        snprintf(msg, sizeof msg, "cannot open '%s/gap-00002-of-00003.gguf'", tmpdir);
        expect_load_fail("split: part 2 of 3 missing (via part 1)", path, QW_ERR_IO, msg);
        snprintf(path, sizeof path, "%s/gap-00003-of-00003.gguf", tmpdir);
        expect_load_fail("split: part 2 of 3 missing (via part 3)", path, QW_ERR_IO, msg);
    }
    remove_split("gap");
    if (write_split("wrongno", SPLIT_WRONG_NO)) {
        snprintf(path, sizeof path, "%s/wrongno-00001-of-00003.gguf", tmpdir);
        expect_load_fail("split: part 2 says split.no = 2", path, QW_ERR_BAD_MODEL,
                         "wrongno-00002-of-00003.gguf says it is part 3 of 3, expected 2 of 3");
    }
    remove_split("wrongno");
    if (write_split("wrongcount", SPLIT_WRONG_COUNT)) {
        snprintf(path, sizeof path, "%s/wrongcount-00002-of-00003.gguf", tmpdir);
        expect_load_fail("split: part 3 says split.count = 4", path, QW_ERR_BAD_MODEL,
                         "wrongcount-00003-of-00003.gguf says it is part 3 of 4, expected 3 of 3");
    }
    remove_split("wrongcount");
    if (write_split("dup", SPLIT_DUP)) {
        char dup_name[128];
        cstr(dup_name, sizeof dup_name, F32.g->tensors[(F32.g->n_tensors + 2) / 3].name);
        snprintf(path, sizeof path, "%s/dup-00003-of-00003.gguf", tmpdir);
        snprintf(msg, sizeof msg, "tensor '%s' appears in parts 2 and 3", dup_name);
        expect_load_fail("split: a tensor in parts 2 and 3", path, QW_ERR_BAD_MODEL, msg);
    }
    remove_split("dup");
    free(ref);
    qw_model_free(single);
}

int main(void) {
    qw_require_shared();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qw_test_model.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (open_source(&F32) && open_source(&Q80)) {
        test_missing_keys();
        test_bad_hparams();
        test_bad_tensors();
        test_q8_k_weight();
        test_non_finite();
        test_load_memory();
        test_decode_bad_args();
        test_context_create();
        {
            qw_model *m = NULL;
            if (qw_model_load_memory(F32.bytes, F32.size, &m) == QW_OK) test_context_truncate(m);
            else CHECKF(0, "%s", qw_last_error());
            qw_model_free(m);
        }
        test_load_paths();
        test_split();
    }
    close_source(&F32);
    close_source(&Q80);
    rmdir(tmpdir);
    printf("%d cases\n", n_cases);
    return qw_test_end();
}

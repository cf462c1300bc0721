/* Tokenizer tests: llama.cpp's test vectors (llama-spm, phi-3), the two test
 * models' prompts, the streaming detokenizer's UTF-8 guarantees, and load
 * errors for bad metadata. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "qw_test.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

/* ------------------------------------------------------------- helpers -- */

typedef struct loaded {
    unsigned char *bytes;
    qw_gguf *g;
    qw_tokenizer *t;
} loaded;

/* The tokenizer points into the bytes the gguf was parsed from (as the model
 * keeps its mapped file or loader buffer alive): they are kept here until the
 * end of the test, while each qw_gguf is freed right after qw_tokenizer_load
 * (ASan then catches anything still pointing into the parser's arrays). */
static void **g_kept;
static size_t g_n_kept;

static void keep_bytes(void *p) {
    void **q = realloc(g_kept, (g_n_kept + 1) * sizeof *q);
    if (!q) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    g_kept = q;
    g_kept[g_n_kept++] = p;
}

static void free_kept(void) {
    for (size_t i = 0; i < g_n_kept; i++) free(g_kept[i]);
    free(g_kept);
    g_kept = NULL;
    g_n_kept = 0;
}

/* the last file load_tokenizer read */
static const unsigned char *g_last_bytes;
static size_t g_last_size;

/* Loads a tokenizer from a GGUF file; the gguf is freed right away. */
static qw_tokenizer *load_tokenizer(const char *rel) {
    size_t size = 0;
    unsigned char *bytes = qw_read_file(qw_shared_path(rel), &size);
    if (!bytes) {
        fprintf(stderr, "cannot read %s\n", rel);
        return NULL;
    }
    qw_gguf *g = NULL;
    qw_status st = qw_gguf_parse(bytes, size, size, &g, NULL);
    if (st != QW_OK) {
        fprintf(stderr, "%s: parse: %s\n", rel, qw_last_error());
        free(bytes);
        return NULL;
    }
    qw_tokenizer *t = NULL;
    st = qw_tokenizer_load(g, &t);
    if (st != QW_OK) fprintf(stderr, "%s: tokenizer: %s\n", rel, qw_last_error());
    qw_gguf_free(g);
    keep_bytes(bytes);
    g_last_bytes = bytes;
    g_last_size = size;
    return t;
}

/* Independent UTF-8 validator (Unicode Table 3-7, decoded to code points). */
static bool valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        unsigned cp, len;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            cp = c & 0x1F;
            len = 2;
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F;
            len = 3;
        } else if ((c & 0xF8) == 0xF0) {
            cp = c & 0x07;
            len = 4;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len]) return false;            /* overlong */
        if (cp >= 0xD800 && cp <= 0xDFFF) return false; /* surrogate */
        if (cp > 0x10FFFF) return false;
        i += len;
    }
    return true;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* a token's piece, through qw_tokenizer_piece (valid until the next call) */
static const char *piece_of(const qw_tokenizer *t, int32_t id, int *len) {
    static char buf[1 << 16];
    *len = qw_tokenizer_piece(t, id, buf, (int)sizeof buf);
    return *len >= 0 ? buf : NULL;
}

static int tokenize(const qw_tokenizer *t, const char *s, size_t len, bool bos, int32_t *out, int cap) {
    return qw_tokenizer_encode(t, s, len, bos, out, cap);
}

static bool ids_eq(const int32_t *a, int na, const int32_t *b, int nb) {
    if (na != nb) return false;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static void print_ids(const char *label, const int32_t *a, int n) {
    fprintf(stderr, "  %s:", label);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", (int)a[i]);
    fputc('\n', stderr);
}

/* ------------------------------------------------------- test vectors -- */

/* The .inp file is split as llama.cpp's tests/test-tokenizer-0.cpp does: on
 * the separator "\n__ggml_vocab_test__\n". So the newline in front of each
 * separator line belongs to the separator, not to the string; the text after
 * the last separator (empty here: the file ends with the separator line) would
 * be a final string if it were non-empty. The .out file has one line of
 * space-separated ids per string. */
typedef struct vectors {
    char **inp;
    size_t *inp_len;
    char **out;
    int n_inp, n_out;
    unsigned char *raw_inp, *raw_out;
} vectors;

static void vectors_free(vectors *v) {
    free(v->inp);
    free(v->inp_len);
    free(v->out);
    free(v->raw_inp);
    free(v->raw_out);
}

static bool read_vectors(const char *rel, vectors *v) {
    memset(v, 0, sizeof *v);
    char p[512];
    size_t ni = 0, no = 0;
    snprintf(p, sizeof p, "%s.inp", rel);
    v->raw_inp = qw_read_file(qw_shared_path(p), &ni);
    snprintf(p, sizeof p, "%s.out", rel);
    v->raw_out = qw_read_file(qw_shared_path(p), &no);
    if (!v->raw_inp || !v->raw_out) return false;

    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sl = sizeof sep - 1;
    v->inp = malloc((ni / sl + 2) * sizeof *v->inp);
    v->inp_len = malloc((ni / sl + 2) * sizeof *v->inp_len);
    char *s = (char *)v->raw_inp;
    size_t pos = 0;
    while (pos < ni) {
        char *hit = NULL;
        for (size_t k = pos; k + sl <= ni; k++) {
            if (memcmp(s + k, sep, sl) == 0) {
                hit = s + k;
                break;
            }
        }
        v->inp[v->n_inp] = s + pos;
        if (!hit) {
            v->inp_len[v->n_inp++] = ni - pos;
            break;
        }
        v->inp_len[v->n_inp++] = (size_t)(hit - (s + pos));
        pos = (size_t)(hit - s) + sl;
    }

    /* lines of the .out file (a final line needs no newline) */
    v->out = malloc((no + 2) * sizeof *v->out);
    char *o = (char *)v->raw_out;
    size_t start = 0;
    for (size_t k = 0; k <= no; k++) {
        if (k == no && start == no) break;
        if (k == no || o[k] == '\n') {
            o[k < no ? k : no] = '\0';
            v->out[v->n_out++] = o + start;
            start = k + 1;
        }
    }
    return true;
}

static int parse_ids(const char *line, int32_t *ids, int cap) {
    int n = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ') p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        if (n < cap) ids[n] = (int32_t)v;
        n++;
        p = end;
    }
    return n;
}

static void test_vector_file(const char *rel) {
    qw_tokenizer *t = load_tokenizer(rel);
    CHECKF(t != NULL, "%s", rel);
    if (!t) return;
    vectors v;
    bool ok = read_vectors(rel, &v);
    CHECKF(ok, "%s: vector files", rel);
    if (!ok) {
        vectors_free(&v);
        qw_tokenizer_free(t);
        return;
    }
    CHECKF(v.n_inp == v.n_out && v.n_inp > 30, "%s: %d strings, %d id lines", rel, v.n_inp, v.n_out);
    int n = v.n_inp < v.n_out ? v.n_inp : v.n_out;
    int pass_ids = 0, pass_rt = 0;
    const bool prefix = qw_tokenizer_add_space_prefix(t);
    for (int i = 0; i < n; i++) {
        const char *s = v.inp[i];
        size_t len = v.inp_len[i];
        int32_t want[4096], got[4096];
        int nw = parse_ids(v.out[i], want, 4096);
        int ng = tokenize(t, s, len, false, got, 4096);
        int ncount = tokenize(t, s, len, false, NULL, 0); /* count only */
        bool same = ng == ncount && ng <= 4096 && ids_eq(want, nw, got, ng);
        if (same) {
            pass_ids++;
        } else {
            fprintf(stderr, "%s: string %d '%.*s' tokenizes wrong\n", rel, i, (int)len, s);
            print_ids("want", want, nw);
            print_ids("got ", got, ng > 4096 ? 4096 : ng);
        }
        CHECK(same);

        /* Round trip. Rule: with add_space_prefix, the encoder puts ' ' in
         * front of the (non-empty) text, so the pieces concatenated are
         * " " + text; the detokenizer drops exactly one leading ' ' of the
         * FIRST token's piece (llama.cpp's rule), which gives back the text. */
        char *cat = malloc(len + 8);
        size_t cl = 0;
        bool fits = true;
        for (int k = 0; k < nw; k++) {
            int pl;
            const char *pp = piece_of(t, want[k], &pl);
            if (!pp || cl + (size_t)pl > len + 4) {
                fits = false;
                break;
            }
            memcpy(cat + cl, pp, (size_t)pl);
            cl += (size_t)pl;
        }
        bool rt_pieces = fits && (len == 0 ? cl == 0
                                           : (prefix ? cl == len + 1 && cat[0] == ' ' &&
                                                           memcmp(cat + 1, s, len) == 0
                                                     : cl == len && memcmp(cat, s, len) == 0));
        char *dec = malloc(len + 8);
        int nd = qw_tokenizer_decode(t, want, nw, dec, (int)len + 8);
        bool rt_decode = nd == (int)len && memcmp(dec, s, len) == 0 && dec[len] == '\0';
        /* the streaming detokenizer gives the same bytes for valid UTF-8 */
        qw_detok st = {{0}, 0};
        char chunk[256];
        size_t sl = 0;
        bool rt_stream = true;
        for (int k = 0; k < nw; k++) {
            int r = qw_tokenizer_detok_push(t, &st, want[k], chunk, (int)sizeof chunk);
            if (r < 0 || sl + (size_t)r > len + 4) {
                rt_stream = false;
                break;
            }
            memcpy(cat + sl, chunk, (size_t)r);
            sl += (size_t)r;
        }
        int r = qw_detok_flush(&st, chunk, (int)sizeof chunk);
        rt_stream = rt_stream && r == 0 && st.n_pending == 0 &&
                    (len == 0 ? sl == 0 : (prefix ? sl == len + 1 && memcmp(cat + 1, s, len) == 0
                                                  : sl == len && memcmp(cat, s, len) == 0));
        if (rt_pieces && rt_decode && rt_stream) pass_rt++;
        else fprintf(stderr, "%s: string %d does not round-trip (%d %d %d)\n", rel, i, rt_pieces,
                     rt_decode, rt_stream);
        CHECK(rt_pieces);
        CHECK(rt_decode);
        CHECK(rt_stream);
        free(cat);
        free(dec);
    }
    printf("%s: %d/%d strings tokenize exactly, %d/%d round-trip\n", rel, pass_ids, n, pass_rt, n);
    vectors_free(&v);
    qw_tokenizer_free(t);
}

/* --------------------------------------------------- the test models -- */

static void test_prompt(const char *rel, const int32_t *want, int nw) {
    qw_tokenizer *t = load_tokenizer(rel);
    CHECKF(t != NULL, "%s", rel);
    if (!t) return;
    const char *s = "Once upon a time";
    int32_t got[32];
    CHECK(qw_tokenizer_add_bos(t));
    int n = tokenize(t, s, strlen(s), qw_tokenizer_add_bos(t), got, 32);
    bool ok = ids_eq(want, nw, got, n);
    if (!ok) {
        print_ids("want", want, nw);
        print_ids("got ", got, n);
    }
    CHECKF(ok, "%s: 'Once upon a time'", rel);
    /* a cap smaller than the result: the count is still the full count and
     * nothing past cap is written */
    int32_t small[3] = {-7, -7, -7};
    n = tokenize(t, s, strlen(s), true, small, 2);
    CHECK(n == nw && small[0] == want[0] && small[1] == want[1] && small[2] == -7);
    /* decode with BOS: llama.cpp's rule strips only from the first token's
     * piece, which is BOS's empty piece, so the space stays */
    char buf[64];
    int nd = qw_tokenizer_decode(t, want, nw, buf, sizeof buf);
    CHECK(nd == 17 && strcmp(buf, " Once upon a time") == 0);
    nd = qw_tokenizer_decode(t, want + 1, nw - 1, buf, sizeof buf);
    CHECK(nd == 16 && strcmp(buf, "Once upon a time") == 0);
    CHECK(qw_tokenizer_bos(t) == 1 && qw_tokenizer_eos(t) == 2 && qw_tokenizer_unk(t) == 0);
    CHECK(qw_tokenizer_is_control(t, 1) && qw_tokenizer_is_control(t, 2));
    CHECK(!qw_tokenizer_is_control(t, 0) && !qw_tokenizer_is_control(t, 3));
    CHECK(qw_tokenizer_is_eog(t, 2) && !qw_tokenizer_is_eog(t, 1));
    qw_tokenizer_free(t);
}

static void test_models(void) {
    static const int32_t s260[] = {1, 403, 407, 261, 378};
    test_prompt("models/stories260K-f32.gguf", s260, 5);
    static const int32_t s15[] = {1, 9038, 2501, 263, 931};
    test_prompt("models/synth15M-q4_0.gguf", s15, 5);
    test_prompt("vocab/ggml-vocab-llama-spm.gguf", s15, 5);
}

/* ------------------------------------------------------ pieces, misc -- */

static void test_pieces(qw_tokenizer *t) {
    char buf[64];
    int32_t hello = qw_tokenizer_find(t, "\xE2\x96\x81Hello", 8);
    CHECK(hello == 15043);
    int n = qw_tokenizer_piece(t, hello, buf, sizeof buf);
    CHECK(n == 6 && memcmp(buf, " Hello", 6) == 0);
    n = qw_tokenizer_piece(t, hello, buf, 3); /* truncated to cap */
    CHECK(n == 3 && memcmp(buf, " He", 3) == 0);
    n = qw_tokenizer_piece(t, 13, buf, sizeof buf); /* <0x0A> */
    CHECK(n == 1 && buf[0] == '\n');
    int tl = -1;
    const char *tx = qw_tokenizer_token_text(t, 13, &tl);
    CHECK(tx && tl == 6 && memcmp(tx, "<0x0A>", 6) == 0);
    CHECK(qw_tokenizer_token_text(t, -1, &tl) == NULL && tl == 0);
    CHECK(qw_tokenizer_token_text(t, qw_tokenizer_n_vocab(t), NULL) == NULL);
    CHECK(qw_tokenizer_token_type(t, 13) == 6);
    n = qw_tokenizer_piece(t, 1, buf, sizeof buf); /* <s>: control */
    CHECK(n == 0);
    n = qw_tokenizer_piece(t, 0, buf, sizeof buf); /* <unk>: unknown, prints nothing */
    CHECK(n == 0);
    CHECK(qw_tokenizer_piece(t, -1, buf, sizeof buf) == -1);
    CHECK(qw_tokenizer_piece(t, qw_tokenizer_n_vocab(t), buf, sizeof buf) == -1);
    CHECK(qw_tokenizer_n_vocab(t) == 32000);

    /* control token text in the input is plain text, never the token */
    int32_t ids[64];
    n = tokenize(t, "<s>hi</s>", 9, false, ids, 64);
    bool has_special = false;
    for (int i = 0; i < n; i++) has_special |= ids[i] == 1 || ids[i] == 2;
    CHECK(n > 2 && !has_special);

    /* empty text: nothing, or just BOS */
    CHECK(tokenize(t, "", 0, false, ids, 64) == 0);
    CHECK(tokenize(t, NULL, 0, true, ids, 64) == 1 && ids[0] == 1);
    /* bad arguments */
    CHECK(tokenize(t, NULL, 3, false, ids, 64) == -1);
    CHECK(tokenize(t, "a", 1, false, NULL, 4) == -1);
    CHECK(tokenize(t, "a", 1, false, ids, -1) == -1);

    /* invalid UTF-8 in the input goes out as byte tokens and comes back */
    const char bad[] = "a z\xC3(\xFFxyz\x80\xE2\x96";
    n = tokenize(t, bad, sizeof bad - 1, false, ids, 64);
    CHECK(n > 0 && n < 64);
    char dec[64];
    int nd = qw_tokenizer_decode(t, ids, n, dec, sizeof dec);
    CHECK(nd == (int)sizeof bad - 1 && memcmp(dec, bad, sizeof bad - 1) == 0);
    /* decode truncates like snprintf */
    nd = qw_tokenizer_decode(t, ids, n, dec, 4);
    CHECK(nd == (int)sizeof bad - 1 && strlen(dec) == 3);
}

/* A larger text and pathological runs must stay fast (no quadratic merge). */
static void test_speed(qw_tokenizer *t) {
    size_t n = 200000;
    char *s = malloc(n);
    static const char words[] = "Once upon a time, there was a little girl named Lily. "
                                "\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x99 caf\xC3\xA9\n";
    for (size_t i = 0; i < n; i++) s[i] = words[i % (sizeof words - 1)];
    int32_t *ids = malloc(n * sizeof *ids);
    clock_t c0 = clock();
    int m1 = tokenize(t, s, n, false, ids, (int)n);
    memset(s, ' ', n);
    int m2 = tokenize(t, s, n, false, ids, (int)n);
    memset(s, 'a', n);
    int m3 = tokenize(t, s, n, false, ids, (int)n);
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("tokenized 3 x %zu bytes in %.3f s (%d, %d, %d tokens)\n", n, secs, m1, m2, m3);
    CHECK(m1 > 0 && m2 > 0 && m3 > 0);
    CHECKF(secs < 5.0, "%.2f s", secs);
    free(s);
    free(ids);
}

/* ------------------------------------------------------- detokenizer -- */

/* Pushes ids through the detokenizer with buffer size `cap` (exactly that
 * many bytes are allocated, so ASan catches any overflow) and appends the
 * output to acc. */
static size_t stream(const qw_tokenizer *t, const int32_t *ids, int n, int cap, char *acc,
                     size_t acc_cap, bool flush) {
    qw_detok st = {{0}, 0};
    char *buf = malloc((size_t)cap);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        int r = qw_tokenizer_detok_push(t, &st, ids[i], buf, cap);
        CHECK(r >= 0 && r < cap && buf[r] == '\0'); /* pieces may hold NUL (<0x00>) */
        if (r > 0 && len + (size_t)r <= acc_cap) {
            memcpy(acc + len, buf, (size_t)r);
            len += (size_t)r;
        }
        CHECK(st.n_pending >= 0 && st.n_pending <= 3);
    }
    if (flush) {
        int r = qw_detok_flush(&st, buf, cap);
        CHECK(r >= 0 && r < cap && st.n_pending == 0);
        if (r > 0 && len + (size_t)r <= acc_cap) {
            memcpy(acc + len, buf, (size_t)r);
            len += (size_t)r;
        }
    }
    free(buf);
    return len;
}

static int32_t byte_id(const qw_tokenizer *t, unsigned b) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", b);
    return qw_tokenizer_find(t, name, 6);
}

static void expect_stream(const qw_tokenizer *t, const unsigned *bytes, int n, const char *want,
                          const char *what) {
    int32_t ids[16];
    for (int i = 0; i < n; i++) ids[i] = byte_id(t, bytes[i]);
    char acc[128];
    size_t len = stream(t, ids, n, 64, acc, sizeof acc, true);
    bool ok = len == strlen(want) && memcmp(acc, want, len) == 0;
    CHECKF(ok, "%s (got %zu bytes)", what, len);
}

static void test_detok(qw_tokenizer *t) {
    char acc[8192];
    /* every high byte token alone: held back or replaced, never raw */
    int all_ok = 0;
    for (unsigned b = 0x80; b <= 0xFF; b++) {
        int32_t id = byte_id(t, b);
        qw_detok st = {{0}, 0};
        char out[64];
        int r = qw_tokenizer_detok_push(t, &st, id, out, sizeof out);
        bool lead = b >= 0xC2 && b <= 0xF4;
        bool ok = lead ? (r == 0 && st.n_pending == 1) : (r == 3 && strcmp(out, "\xEF\xBF\xBD") == 0);
        int f = qw_detok_flush(&st, out, sizeof out);
        ok = ok && (lead ? (f == 3 && strcmp(out, "\xEF\xBF\xBD") == 0) : f == 0) && st.n_pending == 0;
        all_ok += ok;
    }
    CHECKF(all_ok == 128, "%d of 128 high byte tokens behave", all_ok);

    /* all 128 in a row, with and without flushing */
    int32_t ids[256];
    for (int i = 0; i < 128; i++) ids[i] = byte_id(t, 0x80u + (unsigned)i);
    size_t len = stream(t, ids, 128, 64, acc, sizeof acc, true);
    CHECK(len > 0 && valid_utf8((unsigned char *)acc, len));
    len = stream(t, ids, 128, 64, acc, sizeof acc, false);
    CHECK(valid_utf8((unsigned char *)acc, len));

    /* split characters come out whole */
    int32_t e_acute[2] = {byte_id(t, 0xC3), byte_id(t, 0xA9)};
    {
        qw_detok st = {{0}, 0};
        char out[64];
        CHECK(qw_tokenizer_detok_push(t, &st, e_acute[0], out, 64) == 0 && out[0] == '\0');
        CHECK(qw_tokenizer_detok_push(t, &st, e_acute[1], out, 64) == 2 && strcmp(out, "\xC3\xA9") == 0);
    }
    static const unsigned llama[] = {0xF0, 0x9F, 0xA6, 0x99};
    expect_stream(t, llama, 4, "\xF0\x9F\xA6\x99", "4-byte emoji over 4 byte tokens");
    static const unsigned euro[] = {0xE2, 0x82, 0xAC};
    expect_stream(t, euro, 3, "\xE2\x82\xAC", "3-byte char over 3 byte tokens");
    /* invalid forms */
    static const unsigned overlong2[] = {0xC0, 0x80};
    expect_stream(t, overlong2, 2, "\xEF\xBF\xBD\xEF\xBF\xBD", "overlong C0 80");
    static const unsigned overlong3[] = {0xE0, 0x80, 0x80};
    expect_stream(t, overlong3, 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "overlong E0 80 80");
    static const unsigned overlong4[] = {0xF0, 0x80, 0x80, 0x80};
    expect_stream(t, overlong4, 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "overlong F0 80..");
    static const unsigned surrogate[] = {0xED, 0xA0, 0x80};
    expect_stream(t, surrogate, 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "surrogate ED A0 80");
    static const unsigned too_big[] = {0xF4, 0x90, 0x80, 0x80};
    expect_stream(t, too_big, 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "F4 90 80 80");
    static const unsigned max_cp[] = {0xF4, 0x8F, 0xBF, 0xBF};
    expect_stream(t, max_cp, 4, "\xF4\x8F\xBF\xBF", "U+10FFFF");
    static const unsigned interrupted[] = {0xE2, 0x82, 0xC3, 0xA9};
    expect_stream(t, interrupted, 4, "\xEF\xBF\xBD\xC3\xA9", "E2 82 interrupted by a new lead");
    static const unsigned dangling[] = {0x41, 0xF0, 0x9F, 0xA6};
    expect_stream(t, dangling, 4, "A\xEF\xBF\xBD", "dangling prefix flushed as one U+FFFD");
    static const unsigned stray[] = {0xA9, 0x41};
    expect_stream(t, stray, 2, "\xEF\xBF\xBD" "A", "stray continuation");

    /* a pending sequence interrupted by an ordinary token */
    {
        qw_detok st = {{0}, 0};
        char out[64];
        CHECK(qw_tokenizer_detok_push(t, &st, byte_id(t, 0xE2), out, 64) == 0);
        int r = qw_tokenizer_detok_push(t, &st, 15043, out, 64); /* "▁Hello" */
        CHECK(r == 9 && strcmp(out, "\xEF\xBF\xBD Hello") == 0);
        CHECK(qw_tokenizer_detok_push(t, &st, -1, out, 64) == -1);
        CHECK(qw_tokenizer_detok_push(t, &st, 32000, out, 64) == -1);
    }

    /* random sequences over the whole vocabulary, byte tokens favoured */
    int valid = 0, invariant = 0, raw_same = 0, raw_valid = 0;
    const int rounds = 300;
    for (int round = 0; round < rounds; round++) {
        int n = 1 + (int)(rng() % 64);
        for (int i = 0; i < n; i++)
            ids[i] = (rng() & 1) ? (int32_t)(3 + rng() % 256) : (int32_t)(rng() % 32000);
        int cap = (round % 3 == 0) ? 64 : 256;
        len = stream(t, ids, n, cap, acc, sizeof acc, round % 2 == 0);
        valid += valid_utf8((unsigned char *)acc, len);
        /* the result must not depend on how the bytes are split into tokens */
        char raw[4096];
        int nr = qw_tokenizer_decode(t, ids, n, raw, sizeof raw);
        /* decode drops one leading space of the first piece: undo that */
        int pl;
        const char *p0 = piece_of(t, ids[0], &pl);
        size_t rl = 0;
        char raw2[4096];
        if (pl > 0 && p0[0] == ' ') raw2[rl++] = ' ';
        memcpy(raw2 + rl, raw, (size_t)nr);
        rl += (size_t)nr;
        unsigned char pend[8];
        int npend = 0;
        char whole[8192];
        int nwh = qw_utf8_sanitize(pend, &npend, (unsigned char *)raw2, rl, round % 2 == 0, whole,
                                   sizeof whole);
        invariant += (size_t)nwh == len && memcmp(whole, acc, len) == 0;
        if (valid_utf8((unsigned char *)raw2, rl)) {
            raw_valid++;
            raw_same += rl == len && memcmp(raw2, acc, len) == 0;
        }
    }
    CHECKF(valid == rounds, "%d/%d random streams are valid UTF-8", valid, rounds);
    CHECKF(invariant == rounds, "%d/%d random streams split-invariant", invariant, rounds);
    CHECKF(raw_same == raw_valid, "%d/%d valid streams unchanged", raw_same, raw_valid);
    printf("detok: %d random streams valid UTF-8 (%d already valid and passed through)\n", valid,
           raw_valid);

    /* small caps: never overflow, always NUL-terminated, whole characters */
    int32_t long_ids[8];
    int nl = 0;
    long_ids[nl++] = qw_tokenizer_find(t, "\xE2\x96\x81" "everything", 13);
    long_ids[nl++] = byte_id(t, 0xF0);
    long_ids[nl++] = byte_id(t, 0x9F);
    long_ids[nl++] = byte_id(t, 0xA6);
    long_ids[nl++] = byte_id(t, 0x99);
    long_ids[nl++] = byte_id(t, 0xFF);
    long_ids[nl++] = byte_id(t, 0xE2);
    CHECK(long_ids[0] > 0);
    for (int cap = 1; cap <= 12; cap++) {
        len = stream(t, long_ids, nl, cap, acc, sizeof acc, true);
        CHECK(valid_utf8((unsigned char *)acc, len));
    }
    {
        char one[1];
        qw_detok st = {{0}, 0};
        CHECK(qw_tokenizer_detok_push(t, &st, long_ids[0], one, 1) == 0 && one[0] == '\0');
        CHECK(qw_tokenizer_detok_push(t, &st, long_ids[0], one, 0) == -1);
        CHECK(qw_tokenizer_detok_push(t, &st, long_ids[0], NULL, 64) == -1);
        char four[4];
        CHECK(qw_tokenizer_detok_push(t, &st, byte_id(t, 0xE2), four, 4) == 0);
        CHECK(qw_detok_flush(&st, four, 3) == 0 && four[0] == '\0' && st.n_pending == 0);
        CHECK(qw_tokenizer_detok_push(t, &st, byte_id(t, 0xE2), four, 4) == 0);
        CHECK(qw_detok_flush(&st, four, 4) == 3 && strcmp(four, "\xEF\xBF\xBD") == 0);
        CHECK(qw_detok_flush(&st, four, 4) == 0);
        CHECK(qw_detok_flush(NULL, four, 4) == -1);
        /* a corrupt state is survived */
        st.n_pending = 99;
        CHECK(qw_tokenizer_detok_push(t, &st, 15043, acc, 64) == 6);
        st.n_pending = 5;
        memset(st.pending, 0xFF, sizeof st.pending);
        int r = qw_tokenizer_detok_push(t, &st, 15043, acc, 64);
        CHECK(r > 0 && valid_utf8((unsigned char *)acc, (size_t)r));
    }
}

/* ------------------------------------------------ synthetic vocabularies -- */

typedef struct vocab_spec {
    const char *model;
    int n;
    const char **toks;
    const float *scores;
    const int32_t *types;
    int n_scores, n_types; /* < 0: key omitted */
    bool omit_tokens;
    int64_t bos; /* < -1: key omitted */
    int64_t eos;
    int add_space_prefix; /* -1: key omitted */
    const char *name;
    bool scores_f64; /* write the scores as an F64 array */
} vocab_spec;

static qw_status build(const vocab_spec *sp, qw_tokenizer **out) {
    *out = NULL;
    qw_gguf_writer *w = NULL;
    qw_status st = qw_gguf_writer_create(&w);
    if (st != QW_OK) return st;
    qw_gguf_set_str(w, "general.architecture", "llama");
    if (sp->name) qw_gguf_set_str(w, "general.name", sp->name);
    if (sp->model) qw_gguf_set_str(w, "tokenizer.ggml.model", sp->model);
    if (!sp->omit_tokens) qw_gguf_set_arr_str(w, "tokenizer.ggml.tokens", sp->toks, NULL, (uint64_t)sp->n);
    if (sp->n_scores >= 0 && sp->scores_f64) {
        double d[64];
        for (int i = 0; i < sp->n_scores && i < 64; i++) d[i] = sp->scores[i];
        qw_gguf_set_arr(w, "tokenizer.ggml.scores", QW_GGUF_F64, d,
                        (uint64_t)(sp->n_scores < 64 ? sp->n_scores : 64));
    } else if (sp->n_scores >= 0) {
        qw_gguf_set_arr(w, "tokenizer.ggml.scores", QW_GGUF_F32, sp->scores, (uint64_t)sp->n_scores);
    }
    if (sp->n_types >= 0)
        qw_gguf_set_arr(w, "tokenizer.ggml.token_type", QW_GGUF_I32, sp->types, (uint64_t)sp->n_types);
    if (sp->bos >= -1) qw_gguf_set_i64(w, "tokenizer.ggml.bos_token_id", sp->bos);
    if (sp->eos >= -1) qw_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)sp->eos);
    if (sp->add_space_prefix >= 0)
        qw_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", sp->add_space_prefix != 0);
    uint8_t *bytes = NULL;
    size_t size = 0;
    st = qw_gguf_writer_to_buffer(w, &bytes, &size);
    qw_gguf_writer_free(w);
    if (st != QW_OK) return st;
    qw_gguf *g = NULL;
    st = qw_gguf_parse(bytes, size, size, &g, NULL);
    if (st == QW_OK) {
        st = qw_tokenizer_load(g, out);
        qw_gguf_free(g);
    }
    if (st == QW_OK) keep_bytes(bytes);
    else free(bytes);
    return st;
}

/* a tiny vocabulary: 0 <unk>, 1 <s>, 2 </s>, then pieces */
static const char *k_toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "ba",
                               "\xE2\x96\x81", "\xE2\x96\x81" "a", "\xE2\x96\x81" "b", "<x>", "<0x41>",
                               "<|im_end|>", "<x>b"};
enum { K_N = 14 };
/* 12 "<|im_end|>" is declared user-defined, but llama.cpp forces chat
 * end markers to control */
static const int32_t k_types[K_N] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 4, 6, 4, 4};

static vocab_spec base_spec(float *scores) {
    for (int i = 0; i < K_N; i++) scores[i] = -(float)i;
    vocab_spec sp = {"llama", K_N, k_toks, scores, k_types, K_N, K_N, false, 1, 2, 0, NULL, false};
    return sp;
}

static void expect_error(const vocab_spec *sp, qw_status want, const char *needle, const char *what) {
    qw_clear_error();
    qw_tokenizer *t = NULL;
    qw_status st = build(sp, &t);
    const char *msg = qw_last_error();
    CHECKF(st == want && t == NULL, "%s: status %s, want %s", what, qw_status_name(st),
           qw_status_name(want));
    CHECKF(strstr(msg, needle) != NULL, "%s: message '%s' should mention '%s'", what, msg, needle);
    qw_tokenizer_free(t);
}

static void test_synthetic(void) {
    float sc[K_N];
    vocab_spec sp = base_spec(sc);
    qw_tokenizer *t = NULL;
    CHECKF(build(&sp, &t) == QW_OK, "%s", qw_last_error());
    if (t) {
        int32_t ids[16];
        /* "aba": bigrams "ab" (id 5, score -5) and "ba" (id 6, score -6): the
         * higher score wins */
        int n = tokenize(t, "aba", 3, false, ids, 16);
        CHECK(n == 2 && ids[0] == 5 && ids[1] == 3);
        /* the unmatched 'c' has no byte token and no 1-byte token: UNK */
        n = tokenize(t, "ac", 2, false, ids, 16);
        CHECK(n == 2 && ids[0] == 3 && ids[1] == 0);
        /* 'A' has a byte token <0x41> */
        n = tokenize(t, "A", 1, false, ids, 16);
        CHECK(n == 1 && ids[0] == 11);
        /* user-defined "<x>" is cut out first; text after it gets no space
         * prefix here (prefix off) */
        n = tokenize(t, "a<x>a", 5, false, ids, 16);
        CHECK(n == 3 && ids[0] == 3 && ids[1] == 10 && ids[2] == 3);
        /* the longer user-defined "<x>b" (13) is matched before "<x>" */
        n = tokenize(t, "<x>a<x>b", 8, false, ids, 16);
        CHECK(n == 3 && ids[0] == 10 && ids[1] == 3 && ids[2] == 13);
        /* control "<s>" is not matched */
        n = tokenize(t, "<s>", 3, false, ids, 16);
        CHECK(n == 3 && ids[0] == 0 && ids[1] == 0 && ids[2] == 0);
        char buf[16];
        CHECK(qw_tokenizer_piece(t, 10, buf, 16) == 3 && memcmp(buf, "<x>", 3) == 0);
        CHECK(qw_tokenizer_piece(t, 11, buf, 16) == 1 && buf[0] == 'A');
        CHECK(!qw_tokenizer_add_space_prefix(t));
        /* the forced control token: not matched in text, prints nothing */
        CHECK(qw_tokenizer_is_control(t, 12) && qw_tokenizer_is_eog(t, 12));
        CHECK(qw_tokenizer_token_type(t, 12) == 3 && qw_tokenizer_token_type(t, 10) == 4);
        CHECK(qw_tokenizer_piece(t, 12, buf, 16) == 0);
        n = tokenize(t, "<|im_end|>", 10, false, ids, 16);
        CHECK(n == 10);
        for (int i = 0; i < n && i < 16; i++) CHECK(ids[i] != 12);
        qw_tokenizer_free(t);
    }
    /* equal scores: the leftmost pair merges first */
    sc[5] = sc[6] = -1.0f;
    CHECK(build(&sp, &t) == QW_OK);
    if (t) {
        int32_t ids[16];
        int n = tokenize(t, "aba", 3, false, ids, 16);
        CHECK(n == 2 && ids[0] == 5 && ids[1] == 3);
        sc[6] = -0.5f; /* now "ba" is better */
        qw_tokenizer_free(t);
        CHECK(build(&sp, &t) == QW_OK);
        n = tokenize(t, "aba", 3, false, ids, 16);
        CHECK(t && n == 2 && ids[0] == 3 && ids[1] == 6);
        qw_tokenizer_free(t);
    }
    sp = base_spec(sc);
    /* the space prefix, and its return after a user-defined token */
    sp.add_space_prefix = -1; /* default: on */
    CHECK(build(&sp, &t) == QW_OK);
    if (t) {
        int32_t ids[16];
        int n = tokenize(t, "a<x>a", 5, false, ids, 16);
        CHECK(n == 3 && ids[0] == 8 && ids[1] == 10 && ids[2] == 8);
        n = tokenize(t, "<x> b", 5, false, ids, 16); /* no rstrip: "▁▁b" */
        CHECK(n == 3 && ids[0] == 10 && ids[1] == 7 && ids[2] == 9);
        CHECK(qw_tokenizer_add_space_prefix(t));
        qw_tokenizer_free(t);
    }
    /* a phi-3 model name: user-defined tokens swallow the whitespace after them */
    sp.name = "Phi-3-mini";
    CHECK(build(&sp, &t) == QW_OK);
    if (t) {
        int32_t ids[16];
        int n = tokenize(t, "<x> \n b", 7, false, ids, 16);
        CHECK(n == 2 && ids[0] == 10 && ids[1] == 9);
        qw_tokenizer_free(t);
    }

    /* errors */
    sp = base_spec(sc);
    sp.n_scores = K_N - 1;
    expect_error(&sp, QW_ERR_BAD_MODEL, "tokenizer.ggml.scores", "scores length mismatch");
    sp = base_spec(sc);
    sp.n_types = K_N - 2;
    expect_error(&sp, QW_ERR_BAD_MODEL, "tokenizer.ggml.token_type", "token_type length mismatch");
    sp = base_spec(sc);
    sp.bos = K_N;
    expect_error(&sp, QW_ERR_BAD_MODEL, "bos_token_id", "bos id out of range");
    sp = base_spec(sc);
    sp.eos = 1000;
    expect_error(&sp, QW_ERR_BAD_MODEL, "eos_token_id", "eos id out of range");
    sp = base_spec(sc);
    sp.omit_tokens = true;
    expect_error(&sp, QW_ERR_BAD_MODEL, "tokenizer.ggml.tokens", "missing tokens");
    sp = base_spec(sc);
    sp.model = "gpt2";
    expect_error(&sp, QW_ERR_UNSUPPORTED, "gpt2", "gpt2 model");
    sp = base_spec(sc);
    sp.model = NULL;
    expect_error(&sp, QW_ERR_BAD_MODEL, "tokenizer.ggml.model", "missing model");
    sp = base_spec(sc);
    const char *dup[K_N];
    memcpy(dup, k_toks, sizeof dup);
    dup[6] = "ab";
    sp.toks = dup;
    expect_error(&sp, QW_ERR_BAD_MODEL, "same text", "duplicate token");
    sp = base_spec(sc);
    int32_t badtype[K_N];
    memcpy(badtype, k_types, sizeof badtype);
    badtype[3] = 6; /* "a" declared a byte token */
    sp.types = badtype;
    expect_error(&sp, QW_ERR_BAD_MODEL, "byte token", "malformed byte token");

    sp = base_spec(sc);
    sc[4] = NAN;
    expect_error(&sp, QW_ERR_BAD_MODEL, "NaN", "NaN score");
    /* an empty token text is renamed, as llama.cpp does */
    sp = base_spec(sc);
    memcpy(dup, k_toks, sizeof dup);
    dup[6] = "";
    sp.toks = dup;
    CHECK(build(&sp, &t) == QW_OK);
    if (t) {
        int el = -1;
        const char *et = qw_tokenizer_token_text(t, 6, &el);
        CHECK(et && el == 9 && memcmp(et, "[EMPTY_6]", 9) == 0);
        CHECK(qw_tokenizer_find(t, "[EMPTY_6]", 9) == 6);
        qw_tokenizer_free(t);
    }
    /* pieces are built on demand: one longer than the stack buffer (300
     * U+2581 -> 300 spaces), through piece, decode and detok */
    {
        enum { REPS = 300 };
        char *longtok = malloc(REPS * 3 + 1);
        char *got = malloc(REPS + 2);
        CHECK(longtok && got);
        if (longtok && got) {
            for (int k = 0; k < REPS; k++) memcpy(longtok + 3 * k, "\xE2\x96\x81", 3);
            longtok[REPS * 3] = '\0';
            sp = base_spec(sc);
            memcpy(dup, k_toks, sizeof dup);
            dup[6] = longtok;
            sp.toks = dup;
            CHECK(build(&sp, &t) == QW_OK);
            if (t) {
                bool spaces = true;
                memset(got, 'z', REPS + 2);
                CHECK(qw_tokenizer_piece(t, 6, got, REPS + 2) == REPS);
                for (int k = 0; k < REPS; k++) spaces = spaces && got[k] == ' ';
                CHECK(spaces && got[REPS] == 'z');
                CHECK(qw_tokenizer_piece(t, 6, got, 7) == 7);
                int32_t seq[2] = {3, 6}; /* "a" then the long one */
                CHECK(qw_tokenizer_decode(t, seq, 2, got, REPS + 2) == REPS + 1);
                CHECK(got[0] == 'a' && got[1] == ' ' && got[REPS] == ' ' && got[REPS + 1] == '\0');
                qw_detok dt = {0};
                CHECK(qw_tokenizer_detok_push(t, &dt, 6, got, REPS + 2) == REPS);
                CHECK(got[0] == ' ' && got[REPS - 1] == ' ' && got[REPS] == '\0');
                CHECK(qw_tokenizer_find(t, longtok, REPS * 3) == 6);
                qw_tokenizer_free(t);
            }
        }
        free(longtok);
        free(got);
    }
    /* the longest token text allowed is 65535 bytes */
    {
        char *big = malloc(65537);
        CHECK(big != NULL);
        if (big) {
            memset(big, 'q', 65536);
            big[65536] = '\0';
            sp = base_spec(sc);
            memcpy(dup, k_toks, sizeof dup);
            dup[6] = big;
            sp.toks = dup;
            expect_error(&sp, QW_ERR_BAD_MODEL, "65536 bytes long", "token text too long");
            big[65535] = '\0';
            CHECK(build(&sp, &t) == QW_OK);
            if (t) {
                int bl = 0;
                CHECK(qw_tokenizer_token_text(t, 6, &bl) && bl == 65535);
                CHECK(qw_tokenizer_find(t, big, 65535) == 6);
                char p3[3];
                CHECK(qw_tokenizer_piece(t, 6, p3, 3) == 3 && memcmp(p3, "qqq", 3) == 0);
                qw_tokenizer_free(t);
            }
            free(big);
        }
    }
    /* F64 scores (converted and kept) give the same merges as F32 ones */
    sp = base_spec(sc);
    sp.scores_f64 = true;
    CHECK(build(&sp, &t) == QW_OK);
    if (t) {
        int32_t ids[16];
        CHECK(tokenize(t, "aba", 3, false, ids, 16) == 2 && ids[0] == 5 && ids[1] == 3);
        CHECK(qw_tokenizer_token_score(t, 6) == -6.0f && qw_tokenizer_token_score(t, 5) == -5.0f);
        qw_tokenizer_free(t);
    }

    /* optional keys: no scores, no types, bos -1 means none */
    sp = base_spec(sc);
    sp.n_scores = -1;
    sp.n_types = -1;
    sp.bos = -1;
    CHECK(build(&sp, &t) == QW_OK);
    if (t) {
        CHECK(qw_tokenizer_bos(t) == -1 && !qw_tokenizer_add_bos(t));
        int32_t ids[4];
        CHECK(tokenize(t, "a", 1, true, ids, 4) == -1);
        CHECK(tokenize(t, "a", 1, false, ids, 4) == 1 && ids[0] == 3);
        qw_tokenizer_free(t);
    }
}

/* -------------------------------------------------------------- phi-3 -- */

static void test_phi3_specials(void) {
    qw_tokenizer *t = load_tokenizer("vocab/ggml-vocab-phi-3.gguf");
    CHECK(t != NULL);
    if (!t) return;
    /* "</s>" is user-defined in this vocab: matched in the text, and (phi-3)
     * the whitespace after it is dropped */
    int32_t ids[32];
    int n = tokenize(t, "a</s> b", 7, false, ids, 32);
    int32_t a = qw_tokenizer_find(t, "\xE2\x96\x81" "a", 4), b = qw_tokenizer_find(t, "\xE2\x96\x81" "b", 4);
    CHECK(n == 3 && ids[0] == a && ids[1] == 2 && ids[2] == b);
    /* "<|end|>" is control (EOG): not matched, prints nothing */
    int32_t end = qw_tokenizer_find(t, "<|end|>", 7);
    CHECK(end == 32007 && qw_tokenizer_is_control(t, end) && qw_tokenizer_is_eog(t, end));
    n = tokenize(t, "<|end|>", 7, false, ids, 32);
    bool found = false;
    for (int i = 0; i < n; i++) found |= ids[i] == end;
    CHECK(n > 1 && !found);
    CHECK(qw_tokenizer_eos(t) == 32000 && qw_tokenizer_is_eog(t, 32000));
    char buf[16];
    CHECK(qw_tokenizer_piece(t, end, buf, 16) == 0);
    qw_tokenizer_free(t);
}

int main(void) {
    qw_require_shared();
    test_vector_file("vocab/ggml-vocab-llama-spm.gguf");
    test_vector_file("vocab/ggml-vocab-phi-3.gguf");
    test_models();
    qw_tokenizer *t = load_tokenizer("vocab/ggml-vocab-llama-spm.gguf");
    CHECK(t != NULL);
    if (t) {
        /* zero-copy: token texts and most pieces are the file's own bytes */
        int tl = 0;
        const char *tx = qw_tokenizer_token_text(t, 15043, &tl);
        CHECK(tx && (const unsigned char *)tx >= g_last_bytes &&
              (const unsigned char *)tx + tl <= g_last_bytes + g_last_size);
        test_pieces(t);
        test_detok(t);
        test_speed(t);
        qw_tokenizer_free(t);
    }
    test_synthetic();
    test_phi3_specials();
    /* gpt2 (BPE) is out of scope: a clear UNSUPPORTED */
    {
        size_t size = 0;
        unsigned char *bytes = qw_read_file(qw_shared_path("vocab/ggml-vocab-gpt-2.gguf"), &size);
        qw_gguf *g = NULL;
        CHECK(bytes && qw_gguf_parse(bytes, size, size, &g, NULL) == QW_OK);
        if (g) {
            qw_tokenizer *t2 = NULL;
            CHECK(qw_tokenizer_load(g, &t2) == QW_ERR_UNSUPPORTED && t2 == NULL);
            CHECK(strstr(qw_last_error(), "gpt2") != NULL);
            qw_gguf_free(g);
        }
        free(bytes);
    }
    free_kept();
    return qw_test_end();
}

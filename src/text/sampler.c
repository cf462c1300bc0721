/* Token sampler. Chain (as llama.cpp's default order): repetition penalty ->
 * top-k -> top-p -> min-p -> temperature -> draw. Temperature <= 0 is greedy
 * (argmax, lowest id on ties). Same seed, same logits => same tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../qwasm.h"

struct qw_sampler {
    qw_sampler_params p;
    int n_vocab;
    uint64_t rng;
    int32_t *hist; /* ring of the last repeat_last_n tokens */
    int n_hist, hist_pos;
    float *work;   /* [n_vocab] penalized logits */
    void *cands;   /* [n_vocab] candidates */
};

int qw_top_k(const float *l, int n, int k, int32_t *top) {
    if (!l || !top || n < 1 || k < 1) return -1;
    if (k > n) k = n;
    /* insertion into a sorted list of the best k seen so far; once it is
     * full, its last value stays in a register (most logits only meet it) */
    int have = 0;
    float worst = 0.0f; /* l[top[k - 1]] once have == k */
    for (int32_t t = 0; t < n; t++) {
        if (have == k && !(l[t] > worst)) continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && l[t] > l[top[j - 1]]) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = t;
        if (have == k) worst = l[top[k - 1]];
    }
    return have;
}

qw_sampler_params qw_sampler_defaults(void) {
    qw_sampler_params p = {0};
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0;
    return p;
}

/* splitmix64: small, fast, well-distributed */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double next_unit(uint64_t *s) { return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

qw_status qw_sampler_create(const qw_sampler_params *params, int n_vocab, qw_sampler **out) {
    *out = NULL;
    if (!params || n_vocab <= 0) return qw_fail(QW_ERR_INVALID_ARG, "bad sampler arguments");
    const qw_sampler_params *p = params;
    if (!isfinite(p->temperature) || !isfinite(p->top_p) || !isfinite(p->min_p) ||
        !(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty) || p->repeat_last_n < 0 ||
        p->top_p < 0.0f || p->min_p > 1.0f)
        return qw_fail(QW_ERR_INVALID_ARG,
                       "invalid sampling parameters (temperature %g, top-p %g, min-p %g, repeat "
                       "penalty %g, repeat window %d)",
                       (double)p->temperature, (double)p->top_p, (double)p->min_p,
                       (double)p->repeat_penalty, p->repeat_last_n);
    qw_sampler *s = calloc(1, sizeof *s);
    if (!s) return qw_fail(QW_ERR_OOM, "out of memory for the sampler");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = p->seed;
    s->work = malloc((size_t)n_vocab * sizeof(float));
    s->cands = malloc((size_t)n_vocab * (sizeof(float) + sizeof(int32_t)));
    s->hist = malloc((size_t)(p->repeat_last_n > 0 ? p->repeat_last_n : 1) * sizeof(int32_t));
    if (!s->work || !s->cands || !s->hist) {
        qw_sampler_free(s);
        return qw_fail(QW_ERR_OOM, "out of memory for the sampler");
    }
    *out = s;
    return QW_OK;
}

void qw_sampler_free(qw_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->cands);
    free(s->hist);
    free(s);
}

void qw_sampler_accept(qw_sampler *s, int32_t token) {
    if (s->p.repeat_last_n <= 0) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n) s->n_hist++;
}

typedef struct {
    float logit;
    int32_t id;
} cand;

/* descending logit, ties: lower id first */
static int cand_before(cand a, cand b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }
static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    return cand_before(*x, *y) ? -1 : cand_before(*y, *x) ? 1 : 0;
}

/* min-heap on "before": the root is the worst of the kept candidates */
static void heap_down(cand *h, int n, int i) {
    for (;;) {
        int w = i, a = 2 * i + 1, b = a + 1;
        if (a < n && cand_before(h[w], h[a])) w = a;
        if (b < n && cand_before(h[w], h[b])) w = b;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

int32_t qw_sampler_sample(qw_sampler *s, const float *logits) {
    const int V = s->n_vocab;
    float *l = s->work;
    memcpy(l, logits, (size_t)V * sizeof(float));

    /* repetition penalty: each distinct recent token once */
    if (s->p.repeat_penalty != 1.0f) {
        for (int i = 0; i < s->n_hist; i++) {
            int32_t t = s->hist[i];
            if (t < 0 || t >= V) continue;
            int seen = 0;
            for (int k = 0; k < i; k++) seen |= s->hist[k] == t;
            if (seen) continue;
            l[t] = l[t] > 0.0f ? l[t] / s->p.repeat_penalty : l[t] * s->p.repeat_penalty;
        }
    }

    if (s->p.temperature <= 0.0f) { /* greedy */
        int32_t best = 0;
        for (int i = 1; i < V; i++)
            if (l[i] > l[best]) best = i;
        return best;
    }

    /* candidates sorted by logit; top-k keeps the k best (heap selection) */
    cand *c = (cand *)s->cands;
    int n = 0;
    const int k = s->p.top_k > 0 && s->p.top_k < V ? s->p.top_k : V;
    for (int i = 0; i < V; i++) {
        cand x = {l[i], i};
        if (n < k) {
            c[n++] = x;
            if (n == k)
                for (int j = k / 2 - 1; j >= 0; j--) heap_down(c, n, j);
        } else if (cand_before(x, c[0])) {
            c[0] = x;
            heap_down(c, n, 0);
        }
    }
    qsort(c, (size_t)n, sizeof(cand), cmp_cand);

    /* probabilities at temperature 1 for top-p / min-p, as llama.cpp */
    const float max = c[0].logit;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)(c[i].logit - max));
    if (s->p.top_p < 1.0f) {
        double cum = 0.0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += exp((double)(c[i].logit - max)) / sum;
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (s->p.min_p > 0.0f) {
        /* keep tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p) */
        const double thresh = (double)max + log((double)s->p.min_p);
        int keep = 1;
        while (keep < n && (double)c[keep].logit >= thresh) keep++;
        n = keep;
    }

    /* temperature, then draw */
    double total = 0.0;
    for (int i = 0; i < n; i++) total += exp((double)(c[i].logit - max) / s->p.temperature);
    double r = next_unit(&s->rng) * total;
    for (int i = 0; i < n; i++) {
        r -= exp((double)(c[i].logit - max) / s->p.temperature);
        if (r < 0.0) return c[i].id;
    }
    return c[n - 1].id;
}

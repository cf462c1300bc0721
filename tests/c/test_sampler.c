/* Sampler semantics on hand-made logits, independent of any model. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "qw_test.h"
#include "qwasm.h"

#define V 8

static qw_sampler *make(float temp, int top_k, float top_p, float min_p, float pen, uint64_t seed) {
    qw_sampler_params p = qw_sampler_defaults();
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = pen;
    p.repeat_last_n = 4;
    p.seed = seed;
    qw_sampler *s = NULL;
    CHECK(qw_sampler_create(&p, V, &s) == QW_OK);
    return s;
}

/* draws n samples, counts per token */
static void histogram(qw_sampler *s, const float *l, int n, int *count) {
    memset(count, 0, V * sizeof(int));
    int out_of_range = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = qw_sampler_sample(s, l);
        if (t >= 0 && t < V) count[t]++;
        else out_of_range++;
    }
    CHECK(out_of_range == 0);
}

/* qw_top_k against a selection written from its contract: rank r is the
 * lowest id among the largest values not taken yet (finite values, many
 * ties: levels drawn from a few integers) */
static void test_top_k(void) {
    enum { N = 300 };
    float l[N];
    int32_t top[N], want[N];
    uint64_t x = 0x70b4;
    for (int round = 0; round < 60; round++) {
        const int n = 1 + round * 5 % N, levels = 1 + round % 7;
        for (int i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            l[i] = (float)(int)(x % (uint64_t)levels) - 3.0f;
        }
        const int ks[] = {1, 2, 5, n};
        for (int ki = 0; ki < 4; ki++) {
            const int k = ks[ki];
            bool taken[N] = {false};
            const int m = k < n ? k : n;
            for (int r = 0; r < m; r++) {
                int b = -1;
                for (int i = 0; i < n; i++)
                    if (!taken[i] && (b < 0 || l[i] > l[b])) b = i;
                taken[b] = true;
                want[r] = b;
            }
            CHECKF(qw_top_k(l, n, k, top) == m, "top_k n=%d k=%d count", n, k);
            for (int r = 0; r < m; r++)
                CHECKF(top[r] == want[r], "top_k n=%d k=%d rank %d: %d, want %d", n, k, r, top[r], want[r]);
        }
    }
    /* k = 1 is the greedy pick: the first maximum; NaN never wins */
    int32_t t = -1;
    const float nan_mid[5] = {1.0f, NAN, 4.0f, 4.0f, -1.0f};
    CHECK(qw_top_k(nan_mid, 5, 1, &t) == 1 && t == 2);
    CHECK(qw_top_k(nan_mid, 5, 0, &t) == -1 && qw_top_k(nan_mid, 0, 1, &t) == -1);
    CHECK(qw_top_k(NULL, 5, 1, &t) == -1);
}

int main(void) {
    test_top_k();

    /* probabilities at T=1: softmax of log(p) gives p back */
    const double p[V] = {0.40, 0.25, 0.15, 0.10, 0.05, 0.03, 0.015, 0.005};
    float l[V];
    for (int i = 0; i < V; i++) l[i] = (float)log(p[i]);
    int count[V];

    /* greedy: argmax, lowest id on ties */
    qw_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 1.0f, 1);
    CHECK(qw_sampler_sample(s, l) == 0);
    float tie[V] = {0, 3, 3, 1, 0, 0, 0, 0};
    CHECK(qw_sampler_sample(s, tie) == 1);
    qw_sampler_free(s);

    /* T = 1, no truncation: frequencies match p within 5 standard errors */
    const int N = 20000;
    s = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 42);
    histogram(s, l, N, count);
    for (int i = 0; i < V; i++) {
        double se = sqrt(p[i] * (1 - p[i]) / N);
        CHECKF(fabs(count[i] / (double)N - p[i]) < 5 * se + 1e-9, "token %d: %d of %d, p %.3f", i,
               count[i], N, p[i]);
    }
    qw_sampler_free(s);

    /* top-k = 2: only tokens 0 and 1, in ratio 0.40 : 0.25 */
    s = make(1.0f, 2, 1.0f, 0.0f, 1.0f, 7);
    histogram(s, l, N, count);
    CHECK(count[0] + count[1] == N);
    CHECKF(fabs(count[0] / (double)N - 0.40 / 0.65) < 0.02, "top-k ratio %d:%d", count[0], count[1]);
    qw_sampler_free(s);

    /* top-p = 0.75: the smallest prefix reaching 0.75 is {0,1,2} (0.80) */
    s = make(1.0f, 0, 0.75f, 0.0f, 1.0f, 8);
    histogram(s, l, N, count);
    CHECK(count[0] + count[1] + count[2] == N && count[2] > 0);
    qw_sampler_free(s);

    /* min-p = 0.3: keep p >= 0.3 * 0.40 = 0.12 -> {0,1,2} */
    s = make(1.0f, 0, 1.0f, 0.3f, 1.0f, 9);
    histogram(s, l, N, count);
    CHECK(count[0] + count[1] + count[2] == N && count[2] > 0);
    qw_sampler_free(s);

    /* low temperature sharpens: T = 0.25 puts > 85% on token 0 */
    s = make(0.25f, 0, 1.0f, 0.0f, 1.0f, 10);
    histogram(s, l, N, count);
    CHECKF(count[0] > 0.85 * N, "T=0.25: %d of %d on token 0", count[0], N);
    qw_sampler_free(s);

    /* repetition penalty: a recent token with a positive logit is divided,
     * a negative one multiplied; greedy then moves to the runner-up */
    float pos[V] = {2.0f, 1.5f, 0, 0, 0, 0, 0, 0};
    s = make(0.0f, 0, 1.0f, 0.0f, 2.0f, 1);
    CHECK(qw_sampler_sample(s, pos) == 0);
    qw_sampler_accept(s, 0);
    CHECK(qw_sampler_sample(s, pos) == 1); /* 2.0 / 2 = 1.0 < 1.5 */
    float neg[V] = {-1.0f, -1.5f, -9, -9, -9, -9, -9, -9};
    qw_sampler_accept(s, 1);
    qw_sampler_accept(s, 5);
    qw_sampler_accept(s, 6);
    qw_sampler_accept(s, 7); /* window of 4: token 0 and 1 have left it */
    CHECK(qw_sampler_sample(s, neg) == 0);
    qw_sampler_accept(s, 0); /* -1 * 2 = -2 < -1.5 */
    CHECK(qw_sampler_sample(s, neg) == 1);
    qw_sampler_free(s);

    /* same seed, same sequence; different seed, different sequence */
    int32_t a[64], b[64], c[64];
    qw_sampler *s1 = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 123), *s2 = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 123),
               *s3 = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 124);
    for (int i = 0; i < 64; i++) {
        a[i] = qw_sampler_sample(s1, l);
        b[i] = qw_sampler_sample(s2, l);
        c[i] = qw_sampler_sample(s3, l);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    qw_sampler_free(s1);
    qw_sampler_free(s2);
    qw_sampler_free(s3);

    /* invalid parameters are refused with a message */
    qw_sampler_params bad = qw_sampler_defaults();
    bad.temperature = NAN;
    qw_sampler *x = NULL;
    CHECK(qw_sampler_create(&bad, V, &x) == QW_ERR_INVALID_ARG && x == NULL);
    CHECK(strstr(qw_last_error(), "temperature") != NULL);
    bad = qw_sampler_defaults();
    bad.repeat_penalty = 0.0f;
    CHECK(qw_sampler_create(&bad, V, &x) == QW_ERR_INVALID_ARG);
    CHECK(qw_sampler_create(NULL, V, &x) == QW_ERR_INVALID_ARG);
    return qw_test_end();
}

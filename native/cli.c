#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("qwasm: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_lib_error(const char *what) {
    return cli_error("%s: %s", what, qw_last_error());
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool cli_parse_int(const char *flag, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error("%s expects an integer in [%ld, %ld], got '%s'", flag, lo, hi, s);
        return false;
    }
    *out = (int)v;
    return true;
}

static bool parse_float(const char *flag, const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        cli_error("%s expects a number in [%g, %g], got '%s'", flag, lo, hi, s);
        return false;
    }
    *out = (float)v;
    return true;
}

/* "4" or "1,2,4": every entry in [1, 512]. */
static bool parse_thread_list(const char *flag, const char *v, cli_opts *o) {
    o->n_thread_list = 0;
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        if (n >= sizeof item) n = sizeof item - 1; /* still rejected: too many digits */
        memcpy(item, p, n);
        item[n] = '\0';
        if (o->n_thread_list == 16) {
            cli_error("%s takes at most 16 thread counts", flag);
            return false;
        }
        if (!cli_parse_int(flag, item, 1, 512, &o->thread_list[o->n_thread_list])) return false;
        o->n_thread_list++;
        if (!comma) break;
        p = comma + 1;
    }
    o->threads = o->thread_list[0];
    return true;
}

bool cli_parse(int argc, char **argv, int first, cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    o->threads = 1;
    o->top = 5;
    o->reps = 5;
    o->sp = qw_sampler_defaults();
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            if (o->n_positional == 4) {
                cli_error("too many arguments ('%s')", a);
                return false;
            }
            o->positional[o->n_positional++] = a;
            continue;
        }
        if (!strcmp(a, "--no-bos")) {
            o->no_bos = true;
            continue;
        }
        if (!strcmp(a, "--dry-run")) {
            o->dry_run = true;
            continue;
        }
        if (i + 1 >= argc) {
            cli_error("%s needs a value", a);
            return false;
        }
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--tokens")) o->tokens = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            ok = cli_parse_int(a, v, 0, INT_MAX, &o->n_predict);
            o->n_predict_set = true;
        }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) ok = cli_parse_int(a, v, 1, 1 << 20, &o->n_ctx);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = parse_thread_list(a, v, o);
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) ok = cli_parse_int(a, v, 1, 1000, &o->reps);
        else if (!strcmp(a, "--shape")) o->shape = v;
        else if (!strcmp(a, "--type")) o->type = v;
        else if (!strcmp(a, "--vocab")) o->vocab = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->output = v;
        else if (!strcmp(a, "--top")) ok = cli_parse_int(a, v, 1, 1 << 20, &o->top);
        else if (!strcmp(a, "--batch")) ok = cli_parse_int(a, v, 1, 1 << 20, &o->batch);
        else if (!strcmp(a, "--temp")) ok = parse_float(a, v, 0.0, 100.0, &o->sp.temperature);
        else if (!strcmp(a, "--top-k")) ok = cli_parse_int(a, v, 0, INT_MAX, &o->sp.top_k);
        else if (!strcmp(a, "--top-p")) ok = parse_float(a, v, 0.0, 1.0, &o->sp.top_p);
        else if (!strcmp(a, "--min-p")) ok = parse_float(a, v, 0.0, 1.0, &o->sp.min_p);
        else if (!strcmp(a, "--repeat-penalty")) ok = parse_float(a, v, 0.01, 100.0, &o->sp.repeat_penalty);
        else if (!strcmp(a, "--repeat-last-n")) ok = cli_parse_int(a, v, 0, 1 << 20, &o->sp.repeat_last_n);
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') ok = !cli_error("--seed expects a non-negative integer, got '%s'", v);
            o->sp.seed = s;
            o->seed_set = true;
        } else if (!strcmp(a, "--stop")) {
            if (o->n_stops == 16) ok = !cli_error("at most 16 --stop strings");
            else if (!*v) ok = !cli_error("--stop string is empty");
            else o->stops[o->n_stops++] = v;
        } else {
            cli_error("unknown option '%s' (see 'qwasm help')", a);
            return false;
        }
        if (!ok) return false;
    }
    return true;
}

qw_model *cli_load_model(const cli_opts *o) {
    if (!o->model) {
        cli_error("no model given (-m FILE.gguf)");
        return NULL;
    }
    qw_model *m = NULL;
    if (qw_model_load(o->model, &m) != QW_OK) {
        cli_error("cannot load model '%s': %s", o->model, qw_last_error());
        return NULL;
    }
    return m;
}

int32_t *cli_tokenize(const qw_model *m, const char *text, bool add_bos, int *n) {
    size_t len = strlen(text);
    int cap = (int)(len < (size_t)INT_MAX - 8 ? len + 8 : (size_t)INT_MAX);
    int32_t *ids = malloc((size_t)cap * sizeof(int32_t));
    if (!ids) {
        cli_error("out of memory");
        return NULL;
    }
    int k = qw_tokenize(m, text, len, add_bos, ids, cap);
    if (k > cap) { /* cannot happen for SentencePiece (<= 1 token per byte + BOS), but be safe */
        int32_t *bigger = realloc(ids, (size_t)k * sizeof(int32_t));
        if (!bigger) {
            free(ids);
            cli_error("out of memory");
            return NULL;
        }
        ids = bigger;
        k = qw_tokenize(m, text, len, add_bos, ids, k);
    }
    if (k < 0) {
        free(ids);
        cli_lib_error("cannot tokenize");
        return NULL;
    }
    *n = k;
    return ids;
}

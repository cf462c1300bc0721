/* qwasm synth: writes a random-weight GGUF of a real model shape (see
 * src/model/synth.h). A summary goes to stdout, progress to stderr when it is
 * a terminal. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "model/synth.h"

#define DEFAULT_SEED 1234

static void progress(void *user, uint64_t done, uint64_t total) {
    (void)user;
    fprintf(stderr, "\rqwasm: synth: %3d%%", total ? (int)(100.0 * (double)done / (double)total) : 100);
    if (done >= total) fputs("\r                  \r", stderr);
    fflush(stderr);
}

static int default_threads(void) {
#ifdef _SC_NPROCESSORS_ONLN
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n >= 1) return n > 64 ? 64 : (int)n;
#endif
    return 1;
}

static void print_summary(const qw_synth_params *p, const qw_synth_info *in) {
    const qw_synth_shape *s = p->shape;
    printf("shape:      %s (%d layers, %d wide, %d heads / %d kv heads, ffn %d, vocab %d, %s "
           "output, rope base %g, ctx %d)\n",
           s->name, s->n_layer, s->n_embd, s->n_head, s->n_head_kv, s->n_ff, s->n_vocab,
           s->tied_output ? "tied" : "untied", (double)s->rope_base, s->n_ctx);
    printf("type:       %s (general.file_type %u)\n", qw_synth_ftype_name(p->ftype),
           (unsigned)p->ftype);
    printf("parameters: %llu\n", (unsigned long long)in->n_params);
    printf("file size:  %llu bytes (tensor data %llu)\n", (unsigned long long)in->file_size,
           (unsigned long long)in->data_size);
    printf("tensors:    %u (", (unsigned)in->n_tensors);
    const char *sep = "";
    for (int t = 0; t < QW_TYPE_COUNT; t++)
        if (in->type_hist[t]) {
            printf("%s%s x%u", sep, qw_type_name((uint32_t)t), in->type_hist[t]);
            sep = ", ";
        }
    printf(")\n");
    if (!p->vocab_path) {
        printf("vocab:      generated (%d tokens: <unk> <s> </s>, 256 byte tokens, filler pieces)\n",
               s->n_vocab);
    } else {
        printf("vocab:      %d tokens from %s", in->vocab_source, p->vocab_path);
        if (in->vocab_padded) printf(", padded with %d <unused_N> tokens", in->vocab_padded);
        if (in->vocab_truncated) printf(", last %d tokens cut", in->vocab_truncated);
        if (in->special_dropped)
            printf(", %d special-token ids past the end dropped", in->special_dropped);
        printf("\n");
    }
    printf("seed:       %llu\n", (unsigned long long)p->seed);
}

int cmd_synth(const cli_opts *o) {
    if (o->n_positional) return cli_error("synth takes no arguments ('%s')", o->positional[0]);
    if (!o->shape) return cli_error("synth needs --shape (stories15m, smollm2-135m, llama3.2-1b)");
    const qw_synth_shape *shape = qw_synth_find_shape(o->shape);
    if (!shape) {
        char names[256] = "";
        for (int i = 0; i < qw_synth_n_shapes(); i++) {
            if (i) strncat(names, ", ", sizeof names - strlen(names) - 1);
            strncat(names, qw_synth_shape_at(i)->name, sizeof names - strlen(names) - 1);
        }
        return cli_error("unknown shape '%s' (known: %s)", o->shape, names);
    }
    if (!o->type) return cli_error("synth needs --type (F16, Q8_0, Q4_0, Q4_K_M)");
    qw_synth_params p;
    memset(&p, 0, sizeof p);
    p.shape = shape;
    if (!qw_synth_parse_ftype(o->type, &p.ftype))
        return cli_error("unknown type '%s' (known: F16, Q8_0, Q4_0, Q4_K_M)", o->type);
    if (!o->output && !o->dry_run) return cli_error("synth needs an output file (-o FILE)");
    p.seed = o->seed_set ? o->sp.seed : DEFAULT_SEED;
    p.vocab_path = o->vocab;
    p.n_threads = o->n_thread_list ? o->threads : default_threads();
    qw_synth_info info;
    if (o->dry_run) {
        if (qw_synth_plan(&p, &info) != QW_OK) return cli_lib_error("synth");
        print_summary(&p, &info);
        return 0;
    }
    if (isatty(2)) p.progress = progress;
    double t0 = cli_now();
    if (qw_synth_write(&p, o->output, &info) != QW_OK) {
        if (p.progress) fputs("\r                  \r", stderr);
        return cli_lib_error("synth");
    }
    printf("wrote:      %s in %.1f s (%d thread%s)\n", o->output, cli_now() - t0, p.n_threads,
           p.n_threads > 1 ? "s" : "");
    print_summary(&p, &info);
    return 0;
}

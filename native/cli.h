/* Shared bits of the command-line tool: option parsing and error exits. */
#ifndef QW_CLI_H
#define QW_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "qwasm.h"

typedef struct cli_opts {
    const char *model;
    const char *prompt;
    const char *tokens;      /* eval: "1 403 407" */
    const char *stops[16];   /* run: stop strings */
    int n_stops;
    int n_predict;
    int n_ctx;
    int threads;
    int top;                 /* eval: candidates per position */
    int batch;               /* eval: first N tokens as one batch, then one at a time (0: all) */
    bool no_bos;
    bool seed_set;
    qw_sampler_params sp;
    const char *positional[4];
    int n_positional;
    /* -t accepts a comma-separated list (bench); threads is its first entry */
    int thread_list[16];
    int n_thread_list;
    bool n_predict_set;      /* -n given */
    int reps;                /* bench: -r, repetitions (default 5) */
    /* synth */
    const char *shape;
    const char *type;
    const char *vocab;
    const char *output;      /* -o */
    bool dry_run;
} cli_opts;

/* Parses argv[first..argc). Returns false after printing one error line. */
bool cli_parse(int argc, char **argv, int first, cli_opts *o);

/* Prints "qwasm: error: <msg>" and returns exit status 1. */
int cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Same, with the library's last error appended. */
int cli_lib_error(const char *what);

/* Loads the model named by -m (error line printed on failure). */
qw_model *cli_load_model(const cli_opts *o);

/* Tokenizes; *n set. Caller frees. NULL (error printed) on failure. */
int32_t *cli_tokenize(const qw_model *m, const char *text, bool add_bos, int *n);

double cli_now(void);

/* Integer option value in [lo, hi]; false after printing one error line. */
bool cli_parse_int(const char *flag, const char *s, long lo, long hi, int *out);

int cmd_info(const cli_opts *o);
int cmd_run(const cli_opts *o);
int cmd_eval(const cli_opts *o);
int cmd_tokenize(const cli_opts *o);
int cmd_synth(const cli_opts *o);
int cmd_bench(const cli_opts *o);

#endif

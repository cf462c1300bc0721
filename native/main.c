/* qwasm command-line tool: info, run, eval, tokenize, synth, bench. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: qwasm COMMAND [options]\n"
    "\n"
    "  info MODEL                     architecture, hyperparameters, tensor types, sizes\n"
    "  run -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p M]\n"
    "      [--repeat-penalty R] [--repeat-last-n N] [--seed S] [--threads N] [--ctx N]\n"
    "      [--stop STR]... [--no-bos]\n"
    "                                 generate; text to stdout, speed to stderr\n"
    "  eval -m MODEL (--prompt TEXT | --tokens \"1 403 407\") [--top K] [--batch N] [--threads N]\n"
    "                                 teacher-forced logits, one JSON object per position\n"
    "  tokenize -m MODEL [--no-bos] TEXT\n"
    "                                 token ids of TEXT\n"
    "  synth --shape SHAPE --type TYPE [--vocab VOCAB.gguf] [--seed S] [--threads N]\n"
    "      (-o FILE | --dry-run)\n"
    "                                 random-weight model of a real shape (not a language\n"
    "                                 model): SHAPE stories15m, smollm2-135m, llama3.2-1b;\n"
    "                                 TYPE F16, Q8_0, Q4_0, Q4_K_M\n"
    "  bench -m MODEL [-p 64] [-n 64] [-t 1,2] [-r 5]\n"
    "                                 prompt (pp) and generation (tg) speed; markdown table\n";

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "--help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cli_opts o;
    if (!cli_parse(argc, argv, 2, &o)) return 2;
    const char *cmd = argv[1];
    if (o.n_thread_list > 1 && strcmp(cmd, "bench") != 0) {
        cli_error("only bench takes a list of thread counts");
        return 2;
    }
    if (!strcmp(cmd, "info")) return cmd_info(&o);
    if (!strcmp(cmd, "run")) return cmd_run(&o);
    if (!strcmp(cmd, "eval")) return cmd_eval(&o);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(&o);
    if (!strcmp(cmd, "synth")) return cmd_synth(&o);
    if (!strcmp(cmd, "bench")) return cmd_bench(&o);
    cli_error("unknown command '%s' (try 'qwasm help')", cmd);
    return 2;
}

/* qwasm command-line tool: info, run, eval, tokenize. */
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
    "  eval -m MODEL (--prompt TEXT | --tokens \"1 403 407\") [--top K] [--threads N]\n"
    "                                 teacher-forced logits, one JSON object per position\n"
    "  tokenize -m MODEL [--no-bos] TEXT\n"
    "                                 token ids of TEXT\n";

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "--help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cli_opts o;
    if (!cli_parse(argc, argv, 2, &o)) return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "info")) return cmd_info(&o);
    if (!strcmp(cmd, "run")) return cmd_run(&o);
    if (!strcmp(cmd, "eval")) return cmd_eval(&o);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(&o);
    cli_error("unknown command '%s' (try 'qwasm help')", cmd);
    return 2;
}

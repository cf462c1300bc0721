/* qwasm tokenize: token ids of a text, space-separated on one line. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_tokenize(const cli_opts *o) {
    const char *text = o->n_positional == 1 ? o->positional[0] : o->prompt;
    if (!text) return cli_error("tokenize needs a text: qwasm tokenize -m MODEL TEXT");
    qw_model *m = cli_load_model(o);
    if (!m) return 1;
    int n = 0;
    int32_t *ids = cli_tokenize(m, text, qw_model_add_bos(m) && !o->no_bos, &n);
    if (ids) {
        for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
        printf("\n");
    }
    free(ids);
    qw_model_free(m);
    return ids ? 0 : 1;
}

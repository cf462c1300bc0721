/* qwasm info: what a GGUF model is. */
#include <stdio.h>

#include "cli.h"
#include "model/model.h"
#include "quant/types.h"

int cmd_info(const cli_opts *o) {
    cli_opts oo = *o;
    if (!oo.model && oo.n_positional == 1) oo.model = oo.positional[0];
    if (!oo.model) return cli_error("info needs a model: qwasm info MODEL.gguf");
    qw_model *m = cli_load_model(&oo);
    if (!m) return 1;
    const qw_hparams *hp = qw_model_hparams(m);
    uint64_t file_bytes = 0;
    for (int s = 0; s < m->n_shards; s++) file_bytes += m->shards[s]->file_size;
    printf("file:            %s (%d part%s, %.2f MB, GGUF v%u)\n", oo.model, m->n_shards,
           m->n_shards > 1 ? "s" : "", file_bytes / 1e6, m->shards[0]->version);
    printf("architecture:    %s\n", hp->arch);
    printf("parameters:      %llu (%.2f M)\n", (unsigned long long)qw_model_n_params(m),
           qw_model_n_params(m) / 1e6);
    printf("weights:         %.2f MB (%.2f bits per parameter)\n", qw_model_weight_bytes(m) / 1e6,
           8.0 * qw_model_weight_bytes(m) / (double)qw_model_n_params(m));
    printf("vocab:           %d (bos %d, eos %d, add bos %s)\n", hp->n_vocab, qw_token_bos(m),
           qw_token_eos(m), qw_model_add_bos(m) ? "yes" : "no");
    printf("context (train): %d\n", hp->n_ctx_train);
    printf("width:           %d\n", hp->n_embd);
    printf("layers:          %d\n", hp->n_layer);
    printf("heads:           %d (kv %d, head size %d)\n", hp->n_head, hp->n_head_kv, hp->head_dim);
    printf("feed-forward:    %d\n", hp->n_ff);
    printf("rope:            %d dims, base %g, %s%s\n", hp->rope_dim, (double)hp->rope_base,
           hp->rope_neox ? "neox" : "normal", m->rope_freqs ? ", per-frequency factors" : "");
    printf("rms epsilon:     %g\n", (double)hp->rms_eps);
    printf("output:          %s\n", hp->tied_output ? "tied to token_embd" : "separate");
    printf("kv cache:        %.1f KB per token (F32)\n",
           2.0 * hp->n_layer * hp->n_head_kv * hp->head_dim * 4 / 1024.0);
    printf("tensor types:   ");
    for (int t = 0; t < 64; t++)
        if (m->type_hist[t]) printf(" %s x%u", qw_type_name((uint32_t)t), m->type_hist[t]);
    printf("\n");
    qw_model_free(m);
    return 0;
}

/* merge.c - folding a LoRA or (IA)3 adapter into the backbone's weights:
 * afterwards the model alone computes what model + adapter did. */
#include "peft/adapter_impl.h"

#include "arch/arch_internal.h"

#include <cblas.h>

/* Element (o, i) of a site's weight: output o (from the site's first
 * column col0), input i, in the weight's own layout. */
static float *
wat(float *w, socfw_nn_wlayout lay, int total_out, int in, int col0, int o,
    int i)
{
        if (lay == SOCFW_NN_W_IN_OUT)   /* (in, total_out) */
                return &w[(size_t)i * total_out + col0 + o];
        (void)total_out;
        return &w[(size_t)(col0 + o) * in + i];      /* (out, in) */
}

/* The embedding LoRA into the token embedding table (vocab, hidden):
 * row v += s * A[:, v]^T B^T.  Refused when the LM head reads the same
 * table: folding would change what the model predicts, which the adapter
 * (on the input lookup only) did not. */
static int
merge_embedding(const socfw_adapter *a, socfw_model *m, socfw_error *err)
{
        const socfw_model_config *c = &m->cfg;
        int decoder = c->arch == SOCFW_ARCH_GPT2 ||
                      c->arch == SOCFW_ARCH_LLAMA;
        if (decoder && m->lm_head < 0)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED, "adapter "
                                       "merge: the adapter on the token "
                                       "embedding cannot be folded into "
                                       "this %s, whose LM head shares the "
                                       "embedding table (the LM head would "
                                       "change too); hint: run it attached "
                                       "(--adapter)",
                                       socfw_arch_name(c->arch));
        int r = a->cfg.rank, V = c->vocab_size, C = c->hidden;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, V, C, r, a->scale,
                    socfw_params_data(a->ps, a->emb_t[0]), V,
                    socfw_params_data(a->ps, a->emb_t[1]), r, 1.0f,
                    arch_w(m, m->tok_emb), C);
        return 0;
}

int
socfw_adapter_merge(const socfw_adapter *a, socfw_model *m, socfw_error *err)
{
        const socfw_adapter_config *c = &a->cfg;
        if (socfw_model_attached(m) == a)
                return socfw_error_set(err, SOCFW_ESTATE, "adapter merge: "
                                       "detach the adapter first");
        if (c->type == SOCFW_ADAPTER_PREFIX)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED, "adapter "
                                       "merge: a prefix adapter adds keys and "
                                       "values of its own and cannot be "
                                       "folded into the weights; hint: run "
                                       "it attached (--adapter)");
        if (c->type == SOCFW_ADAPTER_PROMPT)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED, "adapter "
                                       "merge: a prompt adapter adds %d "
                                       "learned input embeddings in front "
                                       "of every sequence and cannot be "
                                       "folded into the weights; hint: run "
                                       "it attached (--adapter)",
                                       c->num_virtual_tokens);
        if (!peft_is_lora(c->type) && c->type != SOCFW_ADAPTER_IA3)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED, "adapter "
                                       "merge: a %s adapter adds a layer of "
                                       "its own and cannot be folded into "
                                       "the weights; hint: run it attached "
                                       "(--adapter)",
                                       socfw_adapter_type_name(c->type));
        int rc = arch_refuse_quantized(m, "adapter merge", err);
        if (rc < 0)
                return rc;
        rc = peft_shape_check(a, m, err);
        if (rc < 0)
                return rc;
        if (socfw_adapter_embeds(a)) {
                rc = merge_embedding(a, m, err);
                if (rc < 0)
                        return rc;
        }
        for (int l = 0; l < a->n_layers; l++) {
                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                        if (!socfw_adapter_has(a, l, (socfw_site)s))
                                continue;
                        const peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                        int wi, bi, col0, in = a->in[s], out = a->out[s];
                        arch_site_weight(m, l, (socfw_site)s, &wi, &bi, &col0);
                        float *w = arch_w(m, wi), *b = arch_w(m, bi);
                        int total = (int)(socfw_params_numel(m->ps, wi) / in);
                        const float *t0 = socfw_params_data(a->ps, sl->t[0]);
                        if (peft_is_lora(c->type)) {
                                const float *B = socfw_params_data(a->ps,
                                                                   sl->t[1]);
                                const float *E = c->type == SOCFW_ADAPTER_ADALORA
                                        ? socfw_params_data(a->ps, sl->t[2])
                                        : NULL;
                                int r = c->rank;
                                for (int o = 0; o < out; o++)
                                        for (int i = 0; i < in; i++) {
                                                double d = 0.0;
                                                for (int k = 0; k < r; k++)
                                                        d += (double)B[(size_t)o * r + k] *
                                                             t0[(size_t)k * in + i] *
                                                             (E ? E[k] : 1.0f);
                                                *wat(w, m->wl, total, in, col0,
                                                     o, i) += a->scale * (float)d;
                                        }
                        } else if (s == SOCFW_SITE_MLP_DOWN) {
                                for (int o = 0; o < out; o++)     /* inputs */
                                        for (int i = 0; i < in; i++)
                                                *wat(w, m->wl, total, in, col0,
                                                     o, i) *= t0[i];
                        } else {
                                for (int o = 0; o < out; o++) {   /* outputs */
                                        for (int i = 0; i < in; i++)
                                                *wat(w, m->wl, total, in, col0,
                                                     o, i) *= t0[o];
                                        if (b)
                                                b[col0 + o] *= t0[o];
                                }
                        }
                }
        }
        return 0;
}

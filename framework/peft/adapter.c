/* adapter.c - socfw_adapter: configuration, tensors and initialisation of
 * LoRA, (IA)3 and bottleneck adapters, attaching one to a model, and
 * folding one into the weights (merge).  The numerics at a site are in
 * sites.c. */
#include "peft/adapter_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names -------------------------------------------------------------- */

static const char *const site_names[SOCFW_SITE_COUNT] = {
        "attn.q", "attn.k", "attn.v", "attn.o",
        "mlp.up", "mlp.gate", "mlp.down",
};

const char *
socfw_site_name(socfw_site s)
{
        if ((int)s < 0 || (int)s >= SOCFW_SITE_COUNT)
                return "?";
        return site_names[s];
}

int
socfw_site_parse(const char *name)
{
        if (!name)
                return -1;
        for (int s = 0; s < SOCFW_SITE_COUNT; s++)
                if (strcmp(name, site_names[s]) == 0)
                        return s;
        return -1;
}

const char *
socfw_adapter_type_name(socfw_adapter_type t)
{
        switch (t) {
        case SOCFW_ADAPTER_NONE: return "none";
        case SOCFW_ADAPTER_LORA: return "lora";
        case SOCFW_ADAPTER_IA3: return "ia3";
        case SOCFW_ADAPTER_BOTTLENECK: return "bottleneck";
        case SOCFW_ADAPTER_ADALORA: return "adalora";
        case SOCFW_ADAPTER_PREFIX: return "prefix";
        case SOCFW_ADAPTER_PROMPT: return "prompt";
        }
        return "?";
}

int
socfw_adapter_type_parse(const char *name)
{
        static const socfw_adapter_type all[] = {
                SOCFW_ADAPTER_NONE, SOCFW_ADAPTER_LORA, SOCFW_ADAPTER_IA3,
                SOCFW_ADAPTER_BOTTLENECK, SOCFW_ADAPTER_ADALORA,
                SOCFW_ADAPTER_PREFIX, SOCFW_ADAPTER_PROMPT,
        };
        if (!name)
                return -1;
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
                if (strcmp(name, socfw_adapter_type_name(all[i])) == 0)
                        return (int)all[i];
        return -1;
}

void
socfw_adapter_config_default(socfw_adapter_config *c, socfw_adapter_type type)
{
        memset(c, 0, sizeof *c);
        c->type = type;
        c->rank = 8;
        c->alpha = 8.0f;
        c->reduction_factor = 16;
        c->act = SOCFW_ADAPTER_ACT_RELU;
        c->target_r = 8;
        c->delta_t = 1;
        c->beta1 = c->beta2 = 0.85f;
        c->orth_reg_weight = 0.5f;
        c->prefix_length = 10;
        c->num_virtual_tokens = 20;
        c->prompt_init = SOCFW_PROMPT_INIT_RANDOM;
        switch (type) {
        case SOCFW_ADAPTER_PROMPT:      /* the input, no site */
                break;
        case SOCFW_ADAPTER_PREFIX:      /* every block's keys and values */
                c->targets = SOCFW_SITE_BIT(SOCFW_SITE_ATTN_K) |
                             SOCFW_SITE_BIT(SOCFW_SITE_ATTN_V);
                break;
        case SOCFW_ADAPTER_ADALORA:     /* PEFT's AdaLoraConfig */
                c->rank = 12;
                c->targets = SOCFW_SITE_BIT(SOCFW_SITE_ATTN_Q) |
                             SOCFW_SITE_BIT(SOCFW_SITE_ATTN_V);
                break;
        case SOCFW_ADAPTER_LORA:
                c->targets = SOCFW_SITE_BIT(SOCFW_SITE_ATTN_Q) |
                             SOCFW_SITE_BIT(SOCFW_SITE_ATTN_V);
                break;
        case SOCFW_ADAPTER_IA3:
                c->targets = SOCFW_SITE_BIT(SOCFW_SITE_ATTN_K) |
                             SOCFW_SITE_BIT(SOCFW_SITE_ATTN_V) |
                             SOCFW_SITE_BIT(SOCFW_SITE_MLP_DOWN);
                break;
        case SOCFW_ADAPTER_BOTTLENECK:
                c->targets = SOCFW_SITE_BIT(SOCFW_SITE_MLP_DOWN);
                break;
        case SOCFW_ADAPTER_NONE:
                break;
        }
}

/* ---- creation ----------------------------------------------------------- */

/* A LoRA of rank r factors an in x out matrix (a site, or the embedding
 * table as vocab x hidden) only if r is at most both sizes. */
static int
check_lora_rank(int rank, const char *what, int in, int out, socfw_error *err)
{
        if (rank <= in && rank <= out)
                return 0;
        return socfw_error_set(err, SOCFW_EINVAL, "adapter: LoRA rank %d is "
                               "above the size of %s (%d x %d); hint: a rank "
                               "of 4-64", rank, what, in, out);
}

static int
check_config(const socfw_model *m, const socfw_adapter_config *c,
             socfw_error *err)
{
        if (c->type != SOCFW_ADAPTER_LORA && c->type != SOCFW_ADAPTER_IA3 &&
            c->type != SOCFW_ADAPTER_BOTTLENECK &&
            c->type != SOCFW_ADAPTER_ADALORA &&
            c->type != SOCFW_ADAPTER_PREFIX &&
            c->type != SOCFW_ADAPTER_PROMPT)
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: type "
                                       "'%s' has no tensors to make; hint: "
                                       "lora, adalora, ia3, bottleneck, "
                                       "prefix or prompt",
                                       socfw_adapter_type_name(c->type));
        if (c->prefix_projection && c->type != SOCFW_ADAPTER_PREFIX)
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                       "prefix_projection is an option of "
                                       "prefix adapters, not %s; hint: "
                                       "type prefix, or drop "
                                       "prefix_projection",
                                       socfw_adapter_type_name(c->type));
        if (c->type == SOCFW_ADAPTER_PREFIX && c->prefix_projection &&
            (c->encoder_hidden_size < 0 || c->encoder_hidden_size > 65536))
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                       "encoder_hidden_size %d; hint: 1 to "
                                       "65536 (0: the backbone's hidden "
                                       "size)", c->encoder_hidden_size);
        if (c->type == SOCFW_ADAPTER_PROMPT) {
                int P = c->num_virtual_tokens;
                const socfw_model_config *mc = socfw_model_config_of(m);
                if (P < 1 || P > 4096)
                        return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                               "num_virtual_tokens %d; hint: "
                                               "1 to 4096", P);
                if (mc->arch != SOCFW_ARCH_LLAMA && P >= mc->max_positions)
                        return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                               "num_virtual_tokens %d leaves "
                                               "no room in the model's %d "
                                               "positions; hint: fewer "
                                               "virtual tokens", P,
                                               mc->max_positions);
                if (c->prompt_init != SOCFW_PROMPT_INIT_RANDOM &&
                    c->prompt_init != SOCFW_PROMPT_INIT_VOCAB)
                        return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                               "unknown prompt_init; hint: "
                                               "random or vocab");
                return 0;       /* it sits before the blocks */
        }
        if (c->type == SOCFW_ADAPTER_PREFIX) {
                if (c->prefix_length < 1 || c->prefix_length > 4096)
                        return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                               "prefix_length %d; hint: 1 to "
                                               "4096 virtual tokens",
                                               c->prefix_length);
                const socfw_model_config *mc = socfw_model_config_of(m);
                if (mc->arch != SOCFW_ARCH_LLAMA &&
                    c->prefix_length >= mc->max_positions)
                        return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                               "prefix_length %d leaves no "
                                               "room in the model's %d "
                                               "positions", c->prefix_length,
                                               mc->max_positions);
                return 0;       /* it sits in attention, not at sites */
        }
        if (c->embed && c->type != SOCFW_ADAPTER_LORA)
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: embed (an "
                                       "adapter on the token embedding) is "
                                       "a LoRA target, not one of %s; hint: "
                                       "type lora, or drop embed from the "
                                       "targets",
                                       socfw_adapter_type_name(c->type));
        if (c->embed) {
                const socfw_model_config *mc = socfw_model_config_of(m);
                if (check_lora_rank(c->rank, "the embedding table",
                                    mc->vocab_size, mc->hidden, err))
                        return -1;
        }
        if ((c->targets == 0 && !c->embed) || (c->targets & ~SOCFW_SITE_ALL))
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: no valid "
                                       "target sites; hint: attn.q, attn.k, "
                                       "attn.v, attn.o, mlp.up, mlp.gate, "
                                       "mlp.down (and embed for LoRA)");
        for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                if (!(c->targets & SOCFW_SITE_BIT(s)))
                        continue;
                if (!socfw_model_has_site(m, (socfw_site)s))
                        return socfw_error_set(
                                err, SOCFW_EINVAL, "adapter: target %s does "
                                "not exist in %s blocks; hint: mlp.gate is "
                                "Llama's gate_proj, use mlp.up / mlp.down",
                                site_names[s],
                                socfw_arch_name(socfw_model_config_of(m)
                                                        ->arch));
                int in, out;
                socfw_model_site_dims(m, (socfw_site)s, &in, &out);
                if (peft_is_lora(c->type) &&
                    check_lora_rank(c->rank, site_names[s], in, out, err))
                        return -1;
                if (c->type == SOCFW_ADAPTER_BOTTLENECK &&
                    s != SOCFW_SITE_ATTN_O && s != SOCFW_SITE_MLP_DOWN)
                        return socfw_error_set(
                                err, SOCFW_EINVAL, "adapter: a bottleneck "
                                "adapter sits after attn.o or mlp.down, not "
                                "%s", site_names[s]);
                if (c->type == SOCFW_ADAPTER_BOTTLENECK &&
                    (c->reduction_factor < 1 ||
                     out / c->reduction_factor < 1))
                        return socfw_error_set(
                                err, SOCFW_EINVAL, "adapter: reduction "
                                "factor %d leaves no width of %d; hint: 2 to "
                                "%d", c->reduction_factor, out, out);
        }
        if (c->type == SOCFW_ADAPTER_ADALORA &&
            (c->target_r < 1 || c->target_r > c->rank))
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: AdaLoRA "
                                       "target_r %d must lie in [1, init_r "
                                       "%d]; hint: a smaller target_r or a "
                                       "larger rank", c->target_r, c->rank);
        if (c->type == SOCFW_ADAPTER_ADALORA &&
            (c->delta_t < 1 || c->tinit < 0 || c->tfinal < 0 ||
             !(c->beta1 >= 0.0f && c->beta1 < 1.0f) ||
             !(c->beta2 >= 0.0f && c->beta2 < 1.0f) ||
             !(c->orth_reg_weight >= 0.0f)))
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: AdaLoRA "
                                       "needs delta_t >= 1, tinit, tfinal "
                                       ">= 0, betas in [0, 1) and "
                                       "orth_reg_weight >= 0");
        if (peft_is_lora(c->type)) {
                if (c->rank < 1)
                        return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                               "LoRA rank %d; hint: >= 1",
                                               c->rank);
                if (!(c->alpha > 0.0f) || !isfinite(c->alpha))
                        return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                               "LoRA alpha must be > 0");
                if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
                        return socfw_error_set(err, SOCFW_EINVAL, "adapter: "
                                               "LoRA dropout %g is outside "
                                               "[0, 1)", (double)c->dropout);
        }
        if (c->act < SOCFW_ADAPTER_ACT_RELU || c->act > SOCFW_ADAPTER_ACT_SILU)
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: unknown "
                                       "non-linearity");
        return 0;
}

static int
add_tensor(socfw_adapter *a, int l, socfw_site s, const char *what, int ndim,
           int64_t d0, int64_t d1, socfw_error *err)
{
        char name[128];
        int64_t shape[2] = {d0, d1};
        snprintf(name, sizeof name, "layers.%d.%s.%s", l, site_names[s], what);
        return socfw_params_add(a->ps, name, ndim, shape, err);
}

int
socfw_adapter_new(socfw_adapter **out, const socfw_model *m,
                  const socfw_adapter_config *cfg, uint64_t seed,
                  socfw_error *err)
{
        *out = NULL;
        int rc = check_config(m, cfg, err);
        if (rc < 0)
                return rc;
        const socfw_model_config *mc = socfw_model_config_of(m);
        socfw_adapter *a = calloc(1, sizeof *a);
        if (!a)
                return socfw_error_set(err, SOCFW_ENOMEM, "adapter: out of "
                                       "memory");
        a->cfg = *cfg;
        a->n_layers = mc->n_layers;
        a->shape = *mc;
        for (int s = 0; s < SOCFW_SITE_COUNT; s++)
                socfw_model_site_dims(m, (socfw_site)s, &a->in[s], &a->out[s]);
        a->scale = 1.0f;
        a->prompt_t = -1;
        a->emb_t[0] = a->emb_t[1] = -1;
        if (cfg->type == SOCFW_ADAPTER_ADALORA)  /* PEFT: alpha/(r+1e-5) */
                a->scale = cfg->alpha / ((float)cfg->rank + 1e-5f);
        else if (cfg->type == SOCFW_ADAPTER_LORA)
                a->scale = cfg->use_rslora
                                   ? cfg->alpha / sqrtf((float)cfg->rank)
                                   : cfg->alpha / (float)cfg->rank;
        socfw_adapter_config fixed = *cfg;
        if (cfg->type == SOCFW_ADAPTER_PREFIX) {
                fixed.targets = SOCFW_SITE_BIT(SOCFW_SITE_ATTN_K) |
                                SOCFW_SITE_BIT(SOCFW_SITE_ATTN_V);
                a->cfg = fixed;
                cfg = &a->cfg;
        }
        if (cfg->type == SOCFW_ADAPTER_PROMPT) {  /* no site */
                fixed.targets = 0;
                a->cfg = fixed;
                cfg = &a->cfg;
        }
        a->slots = calloc((size_t)a->n_layers * SOCFW_SITE_COUNT,
                          sizeof *a->slots);
        a->ps = socfw_params_new();
        if (!a->slots || !a->ps) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "adapter: out of "
                                     "memory");
                goto fail;
        }
        for (int l = 0; l < a->n_layers; l++) {
                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                        peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                        sl->t[0] = sl->t[1] = sl->t[2] = sl->t[3] = -1;
                        if (!(cfg->targets & SOCFW_SITE_BIT(s)))
                                continue;
                        sl->active = 1;
                        if (cfg->prefix_projection)     /* rows: computed */
                                continue;
                        int in = a->in[s], o = a->out[s];
                        int r = cfg->rank;
                        int mid = o / (cfg->reduction_factor > 0
                                               ? cfg->reduction_factor
                                               : 1);
                        switch (cfg->type) {
                        case SOCFW_ADAPTER_ADALORA:
                                sl->t[2] = add_tensor(a, l, s, "lora_E", 2,
                                                      r, 1, err);
                                sl->imp = calloc((size_t)2 * ((size_t)r * in +
                                                              (size_t)o * r + r),
                                                 sizeof *sl->imp);
                                if (!sl->imp) {
                                        rc = socfw_error_set(
                                                err, SOCFW_ENOMEM,
                                                "adapter: out of memory");
                                        goto fail;
                                }
                                /* fall through - A and B as LoRA's */
                        case SOCFW_ADAPTER_LORA:
                                sl->t[0] = add_tensor(a, l, s, "lora_A", 2,
                                                      r, in, err);
                                sl->t[1] = add_tensor(a, l, s, "lora_B", 2,
                                                      o, r, err);
                                break;
                        case SOCFW_ADAPTER_PREFIX:
                                sl->t[0] = add_tensor(a, l, s, "prefix", 2,
                                                      cfg->prefix_length, o,
                                                      err);
                                break;
                        case SOCFW_ADAPTER_IA3:
                                sl->t[0] = add_tensor(
                                        a, l, s, "ia3_l", 1,
                                        s == SOCFW_SITE_MLP_DOWN ? in : o, 1,
                                        err);
                                break;
                        case SOCFW_ADAPTER_BOTTLENECK:
                                sl->t[0] = add_tensor(a, l, s, "down.weight",
                                                      2, mid, o, err);
                                sl->t[1] = add_tensor(a, l, s, "down.bias",
                                                      1, mid, 1, err);
                                sl->t[2] = add_tensor(a, l, s, "up.weight",
                                                      2, o, mid, err);
                                sl->t[3] = add_tensor(a, l, s, "up.bias", 1,
                                                      o, 1, err);
                                sl->mid = mid;
                                break;
                        case SOCFW_ADAPTER_PROMPT:
                        case SOCFW_ADAPTER_NONE:
                                break;
                        }
                        for (int k = 0; k < peft_n_tensors(cfg->type); k++)
                                if (sl->t[k] < 0) {
                                        rc = sl->t[k];
                                        goto fail;
                                }
                }
        }
        if (cfg->embed) {       /* (r, vocab) and (hidden, r), as PEFT */
                int64_t sa[2] = {cfg->rank, mc->vocab_size};
                int64_t sb[2] = {mc->hidden, cfg->rank};
                a->emb_t[0] = socfw_params_add(a->ps,
                                               "embed.lora_embedding_A", 2,
                                               sa, err);
                a->emb_t[1] = a->emb_t[0] < 0
                                      ? a->emb_t[0]
                                      : socfw_params_add(
                                                a->ps,
                                                "embed.lora_embedding_B", 2,
                                                sb, err);
                if (a->emb_t[1] < 0) {
                        rc = a->emb_t[1];
                        goto fail;
                }
        }
        if (cfg->prefix_projection && (rc = peft_proj_declare(a, err)) < 0)
                goto fail;
        if (cfg->type == SOCFW_ADAPTER_PROMPT &&
            (rc = peft_prompt_add(a, err)) < 0)
                goto fail;
        if ((rc = socfw_params_finalize(a->ps, err)) < 0)
                goto fail;
        /* initialise in declaration order from one stream */
        socfw_rng rng;
        socfw_rng_seed(&rng, seed);
        if (cfg->prefix_projection) {
                peft_proj_init(a, &rng);
                *out = a;
                return 0;
        }
        if (cfg->type == SOCFW_ADAPTER_PROMPT)
                peft_prompt_init(a, m, &rng);
        for (int l = 0; l < a->n_layers; l++) {
                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                        peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                        if (!sl->active)
                                continue;
                        switch (cfg->type) {
                        case SOCFW_ADAPTER_ADALORA:     /* E stays 0 */
                                socfw_params_init_normal(a->ps, sl->t[0], 0.0f,
                                                         0.02f, &rng);
                                socfw_params_init_normal(a->ps, sl->t[1], 0.0f,
                                                         0.02f, &rng);
                                break;
                        case SOCFW_ADAPTER_LORA: {
                                float b = 1.0f / sqrtf((float)a->in[s]);
                                socfw_params_init_uniform(a->ps, sl->t[0], -b,
                                                          b, &rng);
                                break;
                        }
                        case SOCFW_ADAPTER_IA3:
                                socfw_params_init_const(a->ps, sl->t[0], 1.0f);
                                break;
                        case SOCFW_ADAPTER_PREFIX:  /* nn.Embedding's */
                                socfw_params_init_normal(a->ps, sl->t[0], 0.0f,
                                                         1.0f, &rng);
                                break;
                        case SOCFW_ADAPTER_BOTTLENECK:
                                socfw_params_init_normal(a->ps, sl->t[0], 0.0f,
                                                         0.01f, &rng);
                                break;
                        case SOCFW_ADAPTER_PROMPT:
                        case SOCFW_ADAPTER_NONE:
                                break;
                        }
                }
        }
        if (cfg->embed) {       /* PEFT: A zero, B N(0,1) */
                socfw_params_init_const(a->ps, a->emb_t[0], 0.0f);
                socfw_params_init_normal(a->ps, a->emb_t[1], 0.0f, 1.0f,
                                         &rng);
        }
        *out = a;
        return 0;
fail:
        socfw_adapter_free(a);
        return rc < 0 ? rc : SOCFW_EINTERNAL;
}

void
socfw_adapter_free(socfw_adapter *a)
{
        if (!a)
                return;
        if (a->slots) {
                for (size_t i = 0; i < (size_t)a->n_layers * SOCFW_SITE_COUNT;
                     i++) {
                        free(a->slots[i].imp);
                        free(a->slots[i].keep);
                }
        }
        free(a->slots);
        peft_proj_free(a->proj);
        socfw_params_free(a->ps);
        free(a);
}

const socfw_adapter_config *
socfw_adapter_config_of(const socfw_adapter *a)
{
        return &a->cfg;
}

socfw_params *
socfw_adapter_params(socfw_adapter *a)
{
        return a->ps;
}

int
socfw_adapter_prefix_length(const socfw_adapter *a)
{
        return a && a->cfg.type == SOCFW_ADAPTER_PREFIX
                       ? a->cfg.prefix_length
                       : 0;
}

float
socfw_adapter_lora_scale(const socfw_adapter *a)
{
        return a->scale;
}

bool
socfw_adapter_mixes(const socfw_adapter *a)
{
        return !a || (a->cfg.type != SOCFW_ADAPTER_PREFIX &&
                      a->cfg.type != SOCFW_ADAPTER_PROMPT);
}

bool
socfw_adapter_has(const socfw_adapter *a, int layer, socfw_site s)
{
        if (!a || layer < 0 || layer >= a->n_layers || (int)s < 0 ||
            (int)s >= SOCFW_SITE_COUNT)
                return false;
        return a->slots[(size_t)layer * SOCFW_SITE_COUNT + s].active != 0;
}

int
peft_lowest_layer(const socfw_adapter *a)
{
        if (a->cfg.type == SOCFW_ADAPTER_PROMPT || socfw_adapter_embeds(a))
                return 0;
        for (int l = 0; l < a->n_layers; l++)
                for (int s = 0; s < SOCFW_SITE_COUNT; s++)
                        if (socfw_adapter_has(a, l, (socfw_site)s))
                                return l;
        return a->n_layers;
}

int
peft_shape_check(const socfw_adapter *a, const socfw_model *m,
                 socfw_error *err)
{
        const socfw_model_config *c = socfw_model_config_of(m);
        const socfw_model_config *s = &a->shape;
        if (c->arch != s->arch)
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: made for "
                                       "architecture %s, this model is %s; "
                                       "hint: an "
                                       "adapter only fits the base model it "
                                       "was trained on",
                                       socfw_arch_name(s->arch),
                                       socfw_arch_name(c->arch));
        const char *what = NULL;
        int have = 0, want = 0;
#define DIFF(f, name)                                                     \
        if (!what && c->f != s->f) {                                      \
                what = name;                                              \
                have = (int)s->f;                                         \
                want = (int)c->f;                                         \
        }
        DIFF(n_layers, "layers")
        DIFF(hidden, "hidden size")
        DIFF(ffn, "MLP size")
        DIFF(n_heads, "attention heads")
        DIFF(n_kv_heads, "key/value heads")
        DIFF(head_dim, "head size")
        if (socfw_adapter_embeds(a))
                DIFF(vocab_size, "vocabulary size")
#undef DIFF
        if (what)
                return socfw_error_set(err, SOCFW_EINVAL, "adapter: made for "
                                       "a model with %s %d, this one has %d; "
                                       "hint: an adapter only fits the base "
                                       "model it was trained on", what, have,
                                       want);
        return 0;
}

/* ---- prefix tuning ------------------------------------------------------ */

const float *
peft_prefix(const socfw_adapter *a, int l, int value)
{
        if (a->proj)
                return peft_proj_rows(a, l, value);
        const peft_slot *sl = peft_slot_of(
                a, l, value ? SOCFW_SITE_ATTN_V : SOCFW_SITE_ATTN_K);
        return socfw_params_data(a->ps, sl->t[0]);
}

float *
peft_prefix_grad(socfw_adapter *a, int l, int value)
{
        if (a->proj)
                return peft_proj_grad(a, l, value);
        const peft_slot *sl = peft_slot_of(
                a, l, value ? SOCFW_SITE_ATTN_V : SOCFW_SITE_ATTN_K);
        return socfw_params_grad(a->ps, sl->t[0]);
}

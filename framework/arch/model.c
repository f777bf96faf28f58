/* model.c - building socfw_model backbones: configuration from HF
 * config.json or GGUF metadata, the parameter layout with HF names, loading
 * weights, random initialisation and freezing. */
#include "arch_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/log.h"

/* ---- configuration ------------------------------------------------------ */

const char *
socfw_arch_name(socfw_arch arch)
{
        switch (arch) {
        case SOCFW_ARCH_GPT2: return "gpt2";
        case SOCFW_ARCH_BERT: return "bert";
        case SOCFW_ARCH_ROBERTA: return "roberta";
        case SOCFW_ARCH_LLAMA: return "llama";
        }
        return "?";
}

void
socfw_model_config_default(socfw_model_config *cfg, socfw_arch arch,
                           int vocab_size, int hidden, int n_layers,
                           int n_heads, int ffn, int max_positions)
{
        memset(cfg, 0, sizeof *cfg);
        cfg->arch = arch;
        cfg->vocab_size = vocab_size;
        cfg->hidden = hidden;
        cfg->n_layers = n_layers;
        cfg->n_heads = n_heads;
        cfg->n_kv_heads = n_heads;
        cfg->head_dim = n_heads > 0 ? hidden / n_heads : 0;
        cfg->ffn = ffn;
        cfg->max_positions = max_positions;
        cfg->pad_id = cfg->bos_id = cfg->eos_id = -1;
        switch (arch) {
        case SOCFW_ARCH_GPT2:
                cfg->norm_eps = 1e-5f;
                cfg->tie_embeddings = true;
                cfg->act = SOCFW_ACT_GELU_TANH;
                break;
        case SOCFW_ARCH_BERT:
                cfg->norm_eps = 1e-12f;
                cfg->type_vocab_size = 2;
                cfg->pooler = true;
                cfg->act = SOCFW_ACT_GELU_ERF;
                cfg->pad_id = 0;
                break;
        case SOCFW_ARCH_ROBERTA:
                cfg->norm_eps = 1e-5f;
                cfg->type_vocab_size = 1;
                cfg->pooler = true;
                cfg->act = SOCFW_ACT_GELU_ERF;
                cfg->pad_id = 1;
                cfg->bos_id = 0;
                cfg->eos_id = 2;
                break;
        case SOCFW_ARCH_LLAMA:
                cfg->norm_eps = 1e-5f;
                cfg->rope = SOCFW_ROPE_HALF;
                cfg->rope_theta = 10000.0f;
                cfg->act = SOCFW_ACT_SWIGLU;
                break;
        }
}

static int
config_check(const socfw_model_config *c, socfw_error *err)
{
        const char *what = NULL;
        if (c->arch < SOCFW_ARCH_GPT2 || c->arch > SOCFW_ARCH_LLAMA)
                what = "arch";
        else if (c->vocab_size < 1 || c->vocab_size > (1 << 22))
                what = "vocab_size (1..4194304)";
        else if (c->hidden < 1 || c->hidden > (1 << 16))
                what = "hidden (1..65536)";
        else if (c->n_layers < 1 || c->n_layers > 1024)
                what = "n_layers (1..1024)";
        else if (c->n_heads < 1 || c->n_heads > c->hidden)
                what = "n_heads (1..hidden)";
        else if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads)
                what = "n_kv_heads (must divide n_heads)";
        else if (c->head_dim < 1 || c->head_dim > 4096)
                what = "head_dim (1..4096)";
        else if (c->ffn < 1 || c->ffn > (1 << 20))
                what = "ffn (1..1048576)";
        else if (c->max_positions < 1 || c->max_positions > (1 << 20))
                what = "max_positions (1..1048576)";
        else if (!(c->norm_eps > 0.0f) || c->norm_eps > 1.0f)
                what = "norm_eps (0..1]";
        else if (c->arch != SOCFW_ARCH_LLAMA &&
                 (c->n_kv_heads != c->n_heads ||
                  c->head_dim * c->n_heads != c->hidden))
                what = "heads (GPT-2/BERT need n_kv_heads = n_heads and "
                       "head_dim * n_heads = hidden)";
        else if (c->arch == SOCFW_ARCH_LLAMA &&
                 (c->rope == SOCFW_ROPE_NONE || c->head_dim % 2 ||
                  !(c->rope_theta > 0.0f)))
                what = "rope (Llama needs a RoPE convention, even head_dim "
                       "and rope_theta > 0)";
        else if ((c->arch == SOCFW_ARCH_BERT ||
                  c->arch == SOCFW_ARCH_ROBERTA) &&
                 (c->type_vocab_size < 1 || c->type_vocab_size > 1024))
                what = "type_vocab_size (1..1024)";
        else if (c->arch == SOCFW_ARCH_ROBERTA &&
                 (c->pad_id < 0 || c->pad_id + 2 > c->max_positions))
                what = "pad_id (RoBERTa positions start at pad_id + 1)";
        else if (c->act < SOCFW_ACT_GELU_TANH || c->act > SOCFW_ACT_SWIGLU ||
                 ((c->act == SOCFW_ACT_SWIGLU) !=
                  (c->arch == SOCFW_ARCH_LLAMA)))
                what = "act (SwiGLU for Llama, GELU for the others)";
        else if ((c->rope_scaling == SOCFW_ROPE_SCALING_LINEAR ||
                  c->rope_scaling == SOCFW_ROPE_SCALING_LLAMA3) &&
                 !(c->rope_factor > 0.0f))
                what = "rope_scaling.factor (> 0)";
        else if (c->rope_scaling == SOCFW_ROPE_SCALING_LLAMA3 &&
                 (!(c->rope_low_freq_factor > 0.0f) ||
                  !(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
                  c->rope_original_max_positions < 1))
                what = "rope_scaling (llama3 needs 0 < low_freq_factor < "
                       "high_freq_factor and original_max_position_"
                       "embeddings >= 1)";
        if (what)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "model config: bad %s for %s", what,
                                       socfw_arch_name(c->arch));
        return 0;
}

/* ---- parameter layout --------------------------------------------------- */

enum init_kind { INIT_NORMAL, INIT_PROJ, INIT_ONE, INIT_ZERO };

typedef struct decl {
        char name[SOCFW_PARAMS_NAME_MAX];   /* HF name in the store       */
        char gguf[64];                      /* GGUF name or ""            */
        int ndim;
        int64_t shape[2];
        int *idx;
        enum init_kind init;
        int permute_heads;  /* GGUF Q/K: un-permute rows for this many heads */
        int transpose_gguf; /* GGUF stores it (out, in); here (in, out):
                               GPT-2's Conv1D weights                     */
} decl;

typedef struct decl_list {
        decl *v;
        int n, cap;
} decl_list;

static int
decl_add(decl_list *dl, socfw_model *m, int *idx, enum init_kind init,
         int64_t d0, int64_t d1, const char *gguf, const char *fmt, ...)
        __attribute__((format(printf, 8, 9)));

static int
decl_add(decl_list *dl, socfw_model *m, int *idx, enum init_kind init,
         int64_t d0, int64_t d1, const char *gguf, const char *fmt, ...)
{
        if (dl->n == dl->cap) {
                int nc = dl->cap ? 2 * dl->cap : 64;
                decl *nv = realloc(dl->v, (size_t)nc * sizeof *nv);
                if (!nv)
                        return SOCFW_ENOMEM;
                dl->v = nv;
                dl->cap = nc;
        }
        decl *d = &dl->v[dl->n++];
        memset(d, 0, sizeof *d);
        char suffix[192];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(suffix, sizeof suffix, fmt, ap);
        va_end(ap);
        /* the Llama LM head lives outside the "model." body */
        if (!strcmp(suffix, "lm_head.weight"))
                snprintf(d->name, sizeof d->name, "%s", suffix);
        else
                snprintf(d->name, sizeof d->name, "%s%s", m->prefix, suffix);
        snprintf(d->gguf, sizeof d->gguf, "%s", gguf ? gguf : "");
        d->ndim = d1 > 0 ? 2 : 1;
        d->shape[0] = d0;
        d->shape[1] = d1;
        d->idx = idx;
        d->init = init;
        *idx = -1;
        return 0;
}

#define ADD(idx, init, d0, d1, gguf, ...)                                     \
        do {                                                                  \
                if (decl_add(dl, m, (idx), (init), (d0), (d1), (gguf),        \
                             __VA_ARGS__) < 0)                                \
                        return SOCFW_ENOMEM;                                  \
        } while (0)

static int
declare_gpt2(socfw_model *m, decl_list *dl)
{
        const socfw_model_config *c = &m->cfg;
        int64_t C = c->hidden, F = c->ffn;
        char g[64];
        ADD(&m->tok_emb, INIT_NORMAL, c->vocab_size, C, "token_embd.weight",
            "wte.weight");
        ADD(&m->pos_emb, INIT_NORMAL, c->max_positions, C,
            "position_embd.weight", "wpe.weight");
        for (int i = 0; i < c->n_layers; i++) {
                arch_layer *L = &m->layers[i];
#define G(s) (snprintf(g, sizeof g, "blk.%d.%s", i, s), g)
/* a Conv1D weight: (in, out) here, (out, in) in GGUF */
#define T (dl->v[dl->n - 1].transpose_gguf = 1)
                ADD(&L->ln1_w, INIT_ONE, C, 0, G("attn_norm.weight"),
                    "h.%d.ln_1.weight", i);
                ADD(&L->ln1_b, INIT_ZERO, C, 0, G("attn_norm.bias"),
                    "h.%d.ln_1.bias", i);
                ADD(&L->qkv_w, INIT_NORMAL, C, 3 * C, G("attn_qkv.weight"),
                    "h.%d.attn.c_attn.weight", i);
                T;
                ADD(&L->qkv_b, INIT_ZERO, 3 * C, 0, G("attn_qkv.bias"),
                    "h.%d.attn.c_attn.bias", i);
                ADD(&L->o_w, INIT_PROJ, C, C, G("attn_output.weight"),
                    "h.%d.attn.c_proj.weight", i);
                T;
                ADD(&L->o_b, INIT_ZERO, C, 0, G("attn_output.bias"),
                    "h.%d.attn.c_proj.bias", i);
                ADD(&L->ln2_w, INIT_ONE, C, 0, G("ffn_norm.weight"),
                    "h.%d.ln_2.weight", i);
                ADD(&L->ln2_b, INIT_ZERO, C, 0, G("ffn_norm.bias"),
                    "h.%d.ln_2.bias", i);
                ADD(&L->fc_w, INIT_NORMAL, C, F, G("ffn_up.weight"),
                    "h.%d.mlp.c_fc.weight", i);
                T;
                ADD(&L->fc_b, INIT_ZERO, F, 0, G("ffn_up.bias"),
                    "h.%d.mlp.c_fc.bias", i);
                ADD(&L->down_w, INIT_PROJ, F, C, G("ffn_down.weight"),
                    "h.%d.mlp.c_proj.weight", i);
                T;
                ADD(&L->down_b, INIT_ZERO, C, 0, G("ffn_down.bias"),
                    "h.%d.mlp.c_proj.bias", i);
#undef T
#undef G
        }
        ADD(&m->fin_w, INIT_ONE, C, 0, "output_norm.weight", "ln_f.weight");
        ADD(&m->fin_b, INIT_ZERO, C, 0, "output_norm.bias", "ln_f.bias");
        return 0;
}

static int
declare_bert(socfw_model *m, decl_list *dl)
{
        const socfw_model_config *c = &m->cfg;
        int64_t C = c->hidden, F = c->ffn;
        const char *e = "embeddings.";
        ADD(&m->tok_emb, INIT_NORMAL, c->vocab_size, C, NULL,
            "%sword_embeddings.weight", e);
        ADD(&m->pos_emb, INIT_NORMAL, c->max_positions, C, NULL,
            "%sposition_embeddings.weight", e);
        ADD(&m->type_emb, INIT_NORMAL, c->type_vocab_size, C, NULL,
            "%stoken_type_embeddings.weight", e);
        ADD(&m->emb_ln_w, INIT_ONE, C, 0, NULL, "%sLayerNorm.weight", e);
        ADD(&m->emb_ln_b, INIT_ZERO, C, 0, NULL, "%sLayerNorm.bias", e);
        for (int i = 0; i < c->n_layers; i++) {
                arch_layer *L = &m->layers[i];
                const char *a = "attention.";
                ADD(&L->q_w, INIT_NORMAL, C, C, NULL,
                    "encoder.layer.%d.%sself.query.weight", i, a);
                ADD(&L->q_b, INIT_ZERO, C, 0, NULL,
                    "encoder.layer.%d.%sself.query.bias", i, a);
                ADD(&L->k_w, INIT_NORMAL, C, C, NULL,
                    "encoder.layer.%d.%sself.key.weight", i, a);
                ADD(&L->k_b, INIT_ZERO, C, 0, NULL,
                    "encoder.layer.%d.%sself.key.bias", i, a);
                ADD(&L->v_w, INIT_NORMAL, C, C, NULL,
                    "encoder.layer.%d.%sself.value.weight", i, a);
                ADD(&L->v_b, INIT_ZERO, C, 0, NULL,
                    "encoder.layer.%d.%sself.value.bias", i, a);
                ADD(&L->o_w, INIT_NORMAL, C, C, NULL,
                    "encoder.layer.%d.%soutput.dense.weight", i, a);
                ADD(&L->o_b, INIT_ZERO, C, 0, NULL,
                    "encoder.layer.%d.%soutput.dense.bias", i, a);
                ADD(&L->ln1_w, INIT_ONE, C, 0, NULL,
                    "encoder.layer.%d.%soutput.LayerNorm.weight", i, a);
                ADD(&L->ln1_b, INIT_ZERO, C, 0, NULL,
                    "encoder.layer.%d.%soutput.LayerNorm.bias", i, a);
                ADD(&L->fc_w, INIT_NORMAL, F, C, NULL,
                    "encoder.layer.%d.intermediate.dense.weight", i);
                ADD(&L->fc_b, INIT_ZERO, F, 0, NULL,
                    "encoder.layer.%d.intermediate.dense.bias", i);
                ADD(&L->down_w, INIT_NORMAL, C, F, NULL,
                    "encoder.layer.%d.output.dense.weight", i);
                ADD(&L->down_b, INIT_ZERO, C, 0, NULL,
                    "encoder.layer.%d.output.dense.bias", i);
                ADD(&L->ln2_w, INIT_ONE, C, 0, NULL,
                    "encoder.layer.%d.output.LayerNorm.weight", i);
                ADD(&L->ln2_b, INIT_ZERO, C, 0, NULL,
                    "encoder.layer.%d.output.LayerNorm.bias", i);
        }
        if (c->pooler) {
                ADD(&m->pool_w, INIT_NORMAL, C, C, NULL,
                    "pooler.dense.weight");
                ADD(&m->pool_b, INIT_ZERO, C, 0, NULL, "pooler.dense.bias");
        }
        return 0;
}

static int
declare_llama(socfw_model *m, decl_list *dl)
{
        const socfw_model_config *c = &m->cfg;
        int64_t C = c->hidden, F = c->ffn, qd = arch_qd(c), kd = arch_kd(c);
        char g[64];
        ADD(&m->tok_emb, INIT_NORMAL, c->vocab_size, C, "token_embd.weight",
            "embed_tokens.weight");
        for (int i = 0; i < c->n_layers; i++) {
                arch_layer *L = &m->layers[i];
#define G(s) (snprintf(g, sizeof g, "blk.%d.%s", i, s), g)
                ADD(&L->ln1_w, INIT_ONE, C, 0, G("attn_norm.weight"),
                    "layers.%d.input_layernorm.weight", i);
                ADD(&L->q_w, INIT_NORMAL, qd, C, G("attn_q.weight"),
                    "layers.%d.self_attn.q_proj.weight", i);
                dl->v[dl->n - 1].permute_heads = c->n_heads;
                ADD(&L->k_w, INIT_NORMAL, kd, C, G("attn_k.weight"),
                    "layers.%d.self_attn.k_proj.weight", i);
                dl->v[dl->n - 1].permute_heads = c->n_kv_heads;
                ADD(&L->v_w, INIT_NORMAL, kd, C, G("attn_v.weight"),
                    "layers.%d.self_attn.v_proj.weight", i);
                if (c->attn_bias) {
                        ADD(&L->q_b, INIT_ZERO, qd, 0, G("attn_q.bias"),
                            "layers.%d.self_attn.q_proj.bias", i);
                        dl->v[dl->n - 1].permute_heads = c->n_heads;
                        ADD(&L->k_b, INIT_ZERO, kd, 0, G("attn_k.bias"),
                            "layers.%d.self_attn.k_proj.bias", i);
                        dl->v[dl->n - 1].permute_heads = c->n_kv_heads;
                        ADD(&L->v_b, INIT_ZERO, kd, 0, G("attn_v.bias"),
                            "layers.%d.self_attn.v_proj.bias", i);
                }
                ADD(&L->o_w, INIT_NORMAL, C, qd, G("attn_output.weight"),
                    "layers.%d.self_attn.o_proj.weight", i);
                ADD(&L->ln2_w, INIT_ONE, C, 0, G("ffn_norm.weight"),
                    "layers.%d.post_attention_layernorm.weight", i);
                ADD(&L->fc_w, INIT_NORMAL, F, C, G("ffn_gate.weight"),
                    "layers.%d.mlp.gate_proj.weight", i);
                ADD(&L->up_w, INIT_NORMAL, F, C, G("ffn_up.weight"),
                    "layers.%d.mlp.up_proj.weight", i);
                ADD(&L->down_w, INIT_NORMAL, C, F, G("ffn_down.weight"),
                    "layers.%d.mlp.down_proj.weight", i);
#undef G
        }
        ADD(&m->fin_w, INIT_ONE, C, 0, "output_norm.weight", "norm.weight");
        if (!c->tie_embeddings)
                ADD(&m->lm_head, INIT_NORMAL, c->vocab_size, C,
                    "output.weight", "lm_head.weight");
        return 0;
}

static void
layer_reset(arch_layer *L)
{
        int *p = (int *)L;
        for (size_t i = 0; i < sizeof *L / sizeof(int); i++)
                p[i] = -1;
}

/* RoPE frequencies under the config's scaling (HF
 * _compute_*_parameters semantics); `factors` (head_dim/2 divisors) for
 * SOCFW_ROPE_SCALING_FACTORS.  Leaves m->inv_freq NULL without scaling. */
static int
rope_scaled_inv_freq(socfw_model *m, const float *factors, socfw_error *err)
{
        const socfw_model_config *c = &m->cfg;
        if (c->rope == SOCFW_ROPE_NONE ||
            c->rope_scaling == SOCFW_ROPE_SCALING_NONE)
                return 0;
        if (c->rope_scaling == SOCFW_ROPE_SCALING_FACTORS && !factors)
                return 0;       /* filled in once the tensor is read */
        int half = c->head_dim / 2;
        float *f = malloc((size_t)half * sizeof *f);
        if (!f)
                return socfw_error_set(err, SOCFW_ENOMEM, "model: out of "
                                       "memory");
        const double pi = 3.14159265358979323846;
        double lo_wavelen = 0, hi_wavelen = 0;
        if (c->rope_scaling == SOCFW_ROPE_SCALING_LLAMA3) {
                lo_wavelen = c->rope_original_max_positions /
                             (double)c->rope_low_freq_factor;
                hi_wavelen = c->rope_original_max_positions /
                             (double)c->rope_high_freq_factor;
        }
        for (int i = 0; i < half; i++) {
                double base = 1.0 / pow((double)c->rope_theta,
                                        (double)(2 * i) / c->head_dim);
                double v = base;
                switch (c->rope_scaling) {
                case SOCFW_ROPE_SCALING_LINEAR:
                        v = base / c->rope_factor;
                        break;
                case SOCFW_ROPE_SCALING_LLAMA3: {
                        double wavelen = 2 * pi / base;
                        if (wavelen > lo_wavelen) {
                                v = base / c->rope_factor;
                        } else if (wavelen >= hi_wavelen) {
                                double smooth =
                                        (c->rope_original_max_positions /
                                                 wavelen -
                                         c->rope_low_freq_factor) /
                                        (c->rope_high_freq_factor -
                                         c->rope_low_freq_factor);
                                v = (1 - smooth) * base / c->rope_factor +
                                    smooth * base;
                        }
                        break;
                }
                case SOCFW_ROPE_SCALING_FACTORS:
                        v = base / factors[i];
                        break;
                default:
                        break;
                }
                f[i] = (float)v;
        }
        free(m->inv_freq);
        m->inv_freq = f;
        return 0;
}

/* Allocate the model, declare its tensors, finalize the store.  The decl
 * list (caller frees dl->v) says where every tensor comes from. */
static int
model_build(socfw_model **out, const socfw_model_config *cfg,
            const char *prefix, decl_list *dl, socfw_error *err)
{
        int rc = config_check(cfg, err);
        if (rc < 0)
                return rc;
        socfw_model *m = calloc(1, sizeof *m);
        if (!m)
                return socfw_error_set(err, SOCFW_ENOMEM, "model: out of "
                                       "memory");
        m->cfg = *cfg;
        snprintf(m->prefix, sizeof m->prefix, "%s", prefix ? prefix : "");
        m->tok_emb = m->pos_emb = m->type_emb = -1;
        m->emb_ln_w = m->emb_ln_b = m->fin_w = m->fin_b = -1;
        m->lm_head = m->pool_w = m->pool_b = -1;
        m->wl = cfg->arch == SOCFW_ARCH_GPT2 ? SOCFW_NN_W_IN_OUT
                                             : SOCFW_NN_W_OUT_IN;
        m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
        m->ps = socfw_params_new();
        if (!m->layers || !m->ps) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "model: out of "
                                     "memory");
                goto out;
        }
        for (int i = 0; i < cfg->n_layers; i++)
                layer_reset(&m->layers[i]);
        switch (cfg->arch) {
        case SOCFW_ARCH_GPT2: rc = declare_gpt2(m, dl); break;
        case SOCFW_ARCH_BERT:
        case SOCFW_ARCH_ROBERTA: rc = declare_bert(m, dl); break;
        case SOCFW_ARCH_LLAMA: rc = declare_llama(m, dl); break;
        }
        if (rc < 0) {
                socfw_error_set(err, rc, "model: out of memory");
                goto out;
        }
        for (int i = 0; i < dl->n; i++) {
                rc = socfw_params_add(m->ps, dl->v[i].name, dl->v[i].ndim,
                                      dl->v[i].shape, err);
                if (rc < 0)
                        goto out;
                *dl->v[i].idx = rc;
        }
        rc = socfw_params_finalize(m->ps, err);
        if (rc < 0)
                goto out;
        m->bw_floor = 0;
        m->bw_embeddings = 1;
        rc = rope_scaled_inv_freq(m, NULL, err);
out:
        if (rc < 0) {
                socfw_model_free(m);
                m = NULL;
        }
        *out = m;
        return rc;
}

static void
init_decl(socfw_model *m, const decl *d, socfw_rng *rng)
{
        int idx = *d->idx;
        switch (d->init) {
        case INIT_NORMAL:
                socfw_params_init_normal(m->ps, idx, 0.0f, 0.02f, rng);
                break;
        case INIT_PROJ:
                socfw_params_init_normal(m->ps, idx, 0.0f,
                                         0.02f / sqrtf(2.0f *
                                                       m->cfg.n_layers),
                                         rng);
                break;
        case INIT_ONE:
                socfw_params_init_const(m->ps, idx, 1.0f);
                break;
        case INIT_ZERO:
                socfw_params_init_const(m->ps, idx, 0.0f);
                break;
        }
}

int
socfw_model_new_random(socfw_model **out, const socfw_model_config *cfg,
                       uint64_t seed, socfw_error *err)
{
        decl_list dl = {0};
        socfw_model *m = NULL;
        static const char *const prefixes[] = {
                [SOCFW_ARCH_GPT2] = "", [SOCFW_ARCH_BERT] = "",
                [SOCFW_ARCH_ROBERTA] = "", [SOCFW_ARCH_LLAMA] = "model.",
        };
        *out = NULL;
        if (!cfg)
                return socfw_error_set(err, SOCFW_EINVAL, "model: no config");
        const char *prefix = cfg->arch >= SOCFW_ARCH_GPT2 &&
                                     cfg->arch <= SOCFW_ARCH_LLAMA
                             ? prefixes[cfg->arch] : "";
        int rc = model_build(&m, cfg, prefix, &dl, err);
        if (rc < 0)
                goto out;
        socfw_rng rng;
        socfw_rng_seed(&rng, seed);
        for (int i = 0; i < dl.n; i++)
                init_decl(m, &dl.v[i], &rng);
        *out = m;
out:
        free(dl.v);
        return rc;
}

void
socfw_model_free(socfw_model *m)
{
        if (!m)
                return;
        socfw_context_free(m->ctx0);
        if (m->qw) {
                int n = socfw_params_count(m->ps);
                for (int i = 0; i < n; i++)
                        socfw_qtensor_release(&m->qw[i]);
                free(m->qw);
        }
        socfw_modelfile_close(m->mf);
        free(m->inv_freq);
        socfw_params_free(m->ps);
        free(m->layers);
        free(m);
}

const float *
socfw_model_rope_inv_freq(const socfw_model *m, int *n)
{
        if (n)
                *n = m->inv_freq ? m->cfg.head_dim / 2 : 0;
        return m->inv_freq;
}

const socfw_model_config *
socfw_model_config_of(const socfw_model *m)
{
        return &m->cfg;
}

socfw_params *
socfw_model_params(socfw_model *m)
{
        return m->ps;
}

const char *
socfw_model_name_prefix(const socfw_model *m)
{
        return m->prefix;
}

/* ---- freezing ----------------------------------------------------------- */

static void
set_tr(socfw_model *m, int idx, bool on)
{
        if (idx >= 0)
                socfw_params_set_trainable(m->ps, idx, on);
}

int
socfw_model_freeze(socfw_model *m, int top_layers, bool embeddings)
{
        int L = m->cfg.n_layers;
        int first = top_layers < 0 ? 0 : L - top_layers;
        if (first < 0)
                first = 0;
        for (int i = 0; i < L; i++) {
                int *p = (int *)&m->layers[i];
                for (size_t j = 0; j < sizeof(arch_layer) / sizeof(int); j++)
                        set_tr(m, p[j], i >= first);
        }
        set_tr(m, m->tok_emb, embeddings);
        set_tr(m, m->pos_emb, embeddings);
        set_tr(m, m->type_emb, embeddings);
        set_tr(m, m->emb_ln_w, embeddings);
        set_tr(m, m->emb_ln_b, embeddings);
        bool top = top_layers != 0;
        set_tr(m, m->fin_w, top);
        set_tr(m, m->fin_b, top);
        set_tr(m, m->lm_head, top);
        set_tr(m, m->pool_w, top);
        set_tr(m, m->pool_b, top);
        m->bw_embeddings = embeddings;
        m->bw_floor = embeddings ? 0 : first;
        return 0;
}

/* ---- loading: configuration --------------------------------------------- */

/* Optional integer key: 0 with *out set (or left at its default when the
 * key is absent or null), negative on a bad value. */
static int
opt_int(const socfw_modelfile *mf, const char *key, int lo, int hi,
        int *out, socfw_error *err)
{
        socfw_meta_type t;
        if (!socfw_modelfile_has(mf, key, &t) || t == SOCFW_META_NULL)
                return 0;
        int64_t v;
        int rc = socfw_modelfile_get_int(mf, key, &v, err);
        if (rc < 0)
                return rc;
        if (v < lo || v > hi)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "%s: %s = %lld is out of range "
                                       "[%d, %d]", socfw_modelfile_path(mf),
                                       key, (long long)v, lo, hi);
        *out = (int)v;
        return 0;
}

/* Token ids: out-of-range values (GGUF uses 0xFFFFFFFF for "none") -> -1. */
static void
opt_id(const socfw_modelfile *mf, const char *key, int *out)
{
        int64_t v;
        if (socfw_modelfile_get_int(mf, key, &v, NULL) == 0)
                *out = v >= 0 && v < (1 << 30) ? (int)v : -1;
}

static int
opt_float(const socfw_modelfile *mf, const char *key, float *out,
          socfw_error *err)
{
        socfw_meta_type t;
        if (!socfw_modelfile_has(mf, key, &t) || t == SOCFW_META_NULL)
                return 0;
        double v;
        int rc = socfw_modelfile_get_float(mf, key, &v, err);
        if (rc < 0)
                return rc;
        *out = (float)v;
        return 0;
}

static int
opt_bool(const socfw_modelfile *mf, const char *key, bool *out,
         socfw_error *err)
{
        socfw_meta_type t;
        if (!socfw_modelfile_has(mf, key, &t) || t == SOCFW_META_NULL)
                return 0;
        return socfw_modelfile_get_bool(mf, key, out, err);
}

static int
need_int(const socfw_modelfile *mf, const char *key, int lo, int hi,
         int *out, socfw_error *err)
{
        if (!socfw_modelfile_has(mf, key, NULL))
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "%s: missing '%s' in the model "
                                       "configuration; hint: is config.json "
                                       "complete?", socfw_modelfile_path(mf),
                                       key);
        return opt_int(mf, key, lo, hi, out, err);
}

static int
act_from_name(const char *s, socfw_act *out)
{
        if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") ||
            !strcmp(s, "gelu_fast"))
                *out = SOCFW_ACT_GELU_TANH;
        else if (!strcmp(s, "gelu"))
                *out = SOCFW_ACT_GELU_ERF;
        else if (!strcmp(s, "silu") || !strcmp(s, "swish"))
                *out = SOCFW_ACT_SWIGLU;
        else
                return -1;
        return 0;
}

/* The tensor name prefix a HF file uses, found by probing the token
 * embedding under each known prefix. */
static const char *
hf_prefix(const socfw_modelfile *mf, const char *probe)
{
        static const char *const pre[] = {
                "", "transformer.", "bert.", "roberta.", "model.",
        };
        char name[256];
        for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
                snprintf(name, sizeof name, "%s%s", pre[i], probe);
                if (socfw_modelfile_find(mf, name))
                        return pre[i];
        }
        return NULL;
}

/* config.json "rope_scaling": {"rope_type" (or "type"): "linear" |
 * "llama3" | "default", "factor", "low_freq_factor", "high_freq_factor",
 * "original_max_position_embeddings"}. */
static int
hf_rope_scaling(const socfw_modelfile *mf, socfw_model_config *c,
                const char *path, socfw_error *err)
{
        const char *type = NULL;
        if (socfw_modelfile_get_string(mf, "rope_scaling.rope_type", &type,
                                       NULL, NULL) != 0 &&
            socfw_modelfile_get_string(mf, "rope_scaling.type", &type, NULL,
                                       NULL) != 0)
                return 0;       /* absent or null */
        if (!strcmp(type, "default"))
                return 0;
        if (strcmp(type, "linear") && strcmp(type, "llama3"))
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "%s: rope_scaling.rope_type '%s' is "
                                       "not supported (hint: linear and "
                                       "llama3 are)",
                                       path, type);
        int rc;
        c->rope_scaling = strcmp(type, "linear") ? SOCFW_ROPE_SCALING_LLAMA3
                                                 : SOCFW_ROPE_SCALING_LINEAR;
        c->rope_factor = 0;
        c->rope_low_freq_factor = 1;
        c->rope_high_freq_factor = 4;
        c->rope_original_max_positions = 8192;
        if ((rc = opt_float(mf, "rope_scaling.factor", &c->rope_factor,
                            err)) < 0 ||
            (rc = opt_float(mf, "rope_scaling.low_freq_factor",
                            &c->rope_low_freq_factor, err)) < 0 ||
            (rc = opt_float(mf, "rope_scaling.high_freq_factor",
                            &c->rope_high_freq_factor, err)) < 0 ||
            (rc = opt_int(mf, "rope_scaling.original_max_position_embeddings",
                          1, 1 << 24, &c->rope_original_max_positions,
                          err)) < 0)
                return rc;
        return 0;
}

static int
hf_config(const socfw_modelfile *mf, socfw_model_config *c,
          const char **prefix, socfw_error *err)
{
        const char *path = socfw_modelfile_path(mf);
        const char *mt = NULL;
        int rc = 0;
        if (socfw_modelfile_has(mf, "model_type", NULL) &&
            (rc = socfw_modelfile_get_string(mf, "model_type", &mt, NULL,
                                             err)) < 0)
                return rc;
        if (!mt) {
                /* no config.json: guess from the tensors */
                if (hf_prefix(mf, "wte.weight"))
                        mt = "gpt2";
                else if (hf_prefix(mf, "embed_tokens.weight"))
                        mt = "llama";
                else
                        return socfw_error_set(err, SOCFW_EFORMAT,
                                               "%s: no model_type and no "
                                               "recognisable tensors; hint: "
                                               "open the directory that has "
                                               "config.json", path);
        }
        const char *probe;
        int V = 0, P = 0;
        if (!strcmp(mt, "gpt2")) {
                socfw_model_config_default(c, SOCFW_ARCH_GPT2, 0, 0, 0, 0, 0,
                                           0);
                if ((rc = need_int(mf, "n_embd", 1, 1 << 16, &c->hidden,
                                   err)) < 0 ||
                    (rc = need_int(mf, "n_layer", 1, 1024, &c->n_layers,
                                   err)) < 0 ||
                    (rc = need_int(mf, "n_head", 1, 1 << 16, &c->n_heads,
                                   err)) < 0)
                        return rc;
                c->ffn = 4 * c->hidden;
                if ((rc = opt_int(mf, "n_inner", 1, 1 << 20, &c->ffn,
                                  err)) < 0 ||
                    (rc = opt_int(mf, "n_positions", 1, 1 << 20, &P,
                                  err)) < 0 ||
                    (rc = opt_float(mf, "layer_norm_epsilon", &c->norm_eps,
                                    err)) < 0)
                        return rc;
                const char *a = NULL;
                if (socfw_modelfile_get_string(mf, "activation_function", &a,
                                               NULL, NULL) == 0 &&
                    (act_from_name(a, &c->act) < 0 ||
                     c->act == SOCFW_ACT_SWIGLU))
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "%s: activation_function "
                                               "'%s' is not supported for "
                                               "gpt2 (gelu_new, gelu)",
                                               path, a);
                bool b = false;
                opt_bool(mf, "scale_attn_by_inverse_layer_idx", &b, NULL);
                if (b)
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "%s: scale_attn_by_inverse_"
                                               "layer_idx is not supported",
                                               path);
                probe = "wte.weight";
        } else if (!strcmp(mt, "bert") || !strcmp(mt, "roberta") ||
                   !strcmp(mt, "xlm-roberta") || !strcmp(mt, "camembert")) {
                socfw_arch a = !strcmp(mt, "bert") ? SOCFW_ARCH_BERT
                                                   : SOCFW_ARCH_ROBERTA;
                socfw_model_config_default(c, a, 0, 0, 0, 0, 0, 0);
                if ((rc = need_int(mf, "hidden_size", 1, 1 << 16, &c->hidden,
                                   err)) < 0 ||
                    (rc = need_int(mf, "num_hidden_layers", 1, 1024,
                                   &c->n_layers, err)) < 0 ||
                    (rc = need_int(mf, "num_attention_heads", 1, 1 << 16,
                                   &c->n_heads, err)) < 0 ||
                    (rc = need_int(mf, "intermediate_size", 1, 1 << 20,
                                   &c->ffn, err)) < 0 ||
                    (rc = opt_int(mf, "type_vocab_size", 1, 1024,
                                  &c->type_vocab_size, err)) < 0 ||
                    (rc = opt_int(mf, "max_position_embeddings", 1, 1 << 20,
                                  &P, err)) < 0 ||
                    (rc = opt_float(mf, "layer_norm_eps", &c->norm_eps,
                                    err)) < 0)
                        return rc;
                opt_id(mf, "pad_token_id", &c->pad_id);
                opt_id(mf, "bos_token_id", &c->bos_id);
                opt_id(mf, "eos_token_id", &c->eos_id);
                const char *s = NULL;
                if (socfw_modelfile_get_string(mf, "hidden_act", &s, NULL,
                                               NULL) == 0 &&
                    (act_from_name(s, &c->act) < 0 ||
                     c->act == SOCFW_ACT_SWIGLU))
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "%s: hidden_act '%s' is not "
                                               "supported for %s", path, s,
                                               mt);
                if (socfw_modelfile_get_string(mf, "position_embedding_type",
                                               &s, NULL, NULL) == 0 &&
                    strcmp(s, "absolute"))
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "%s: position_embedding_type "
                                               "'%s' is not supported "
                                               "(absolute)", path, s);
                probe = "embeddings.word_embeddings.weight";
        } else if (!strcmp(mt, "llama") || !strcmp(mt, "mistral") ||
                   !strcmp(mt, "qwen2")) {
                socfw_model_config_default(c, SOCFW_ARCH_LLAMA, 0, 0, 0, 0, 0,
                                           0);
                if ((rc = need_int(mf, "hidden_size", 1, 1 << 16, &c->hidden,
                                   err)) < 0 ||
                    (rc = need_int(mf, "num_hidden_layers", 1, 1024,
                                   &c->n_layers, err)) < 0 ||
                    (rc = need_int(mf, "num_attention_heads", 1, 1 << 16,
                                   &c->n_heads, err)) < 0 ||
                    (rc = need_int(mf, "intermediate_size", 1, 1 << 20,
                                   &c->ffn, err)) < 0)
                        return rc;
                c->n_kv_heads = c->n_heads;
                c->head_dim = c->hidden / c->n_heads;
                c->attn_bias = !strcmp(mt, "qwen2");
                if ((rc = opt_int(mf, "num_key_value_heads", 1, 1 << 16,
                                  &c->n_kv_heads, err)) < 0 ||
                    (rc = opt_int(mf, "head_dim", 1, 4096, &c->head_dim,
                                  err)) < 0 ||
                    (rc = opt_int(mf, "max_position_embeddings", 1, 1 << 20,
                                  &P, err)) < 0 ||
                    (rc = opt_float(mf, "rms_norm_eps", &c->norm_eps,
                                    err)) < 0 ||
                    (rc = opt_float(mf, "rope_theta", &c->rope_theta,
                                    err)) < 0 ||
                    (rc = opt_bool(mf, "tie_word_embeddings",
                                   &c->tie_embeddings, err)) < 0 ||
                    (rc = opt_bool(mf, "attention_bias", &c->attn_bias,
                                   err)) < 0)
                        return rc;
                if ((rc = hf_rope_scaling(mf, c, path, err)) < 0)
                        return rc;
                const char *s = NULL;
                if (socfw_modelfile_get_string(mf, "hidden_act", &s, NULL,
                                               NULL) == 0 &&
                    strcmp(s, "silu"))
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "%s: hidden_act '%s' is not "
                                               "supported for %s (silu)",
                                               path, s, mt);
                opt_id(mf, "pad_token_id", &c->pad_id);
                opt_id(mf, "bos_token_id", &c->bos_id);
                opt_id(mf, "eos_token_id", &c->eos_id);
                probe = "embed_tokens.weight";
        } else {
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "%s: model_type '%s' is not "
                                       "supported; hint: gpt2, bert, "
                                       "roberta, llama, mistral, qwen2",
                                       path, mt);
        }
        if (c->arch == SOCFW_ARCH_GPT2) {
                opt_id(mf, "bos_token_id", &c->bos_id);
                opt_id(mf, "eos_token_id", &c->eos_id);
        }
        *prefix = hf_prefix(mf, probe);
        if (!*prefix)
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "%s: tensor '%s' not found (tried "
                                       "the prefixes '', transformer., "
                                       "bert., roberta., model.)", path,
                                       probe);
        char name[256];
        snprintf(name, sizeof name, "%s%s", *prefix, probe);
        const socfw_tensor_info *t = socfw_modelfile_find(mf, name);
        if (t->ndim != 2 || t->shape[0] < 1 || t->shape[0] > (1 << 22))
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "%s: tensor '%s' should be 2-d "
                                       "(vocab, hidden)", path, name);
        V = (int)t->shape[0];
        c->vocab_size = V;
        if (c->arch != SOCFW_ARCH_LLAMA) {
                c->head_dim = c->n_heads ? c->hidden / c->n_heads : 0;
                c->n_kv_heads = c->n_heads;
                snprintf(name, sizeof name, "%s%s", *prefix,
                         c->arch == SOCFW_ARCH_GPT2
                                 ? "wpe.weight"
                                 : "embeddings.position_embeddings.weight");
                t = socfw_modelfile_find(mf, name);
                if (t && t->ndim == 2 && t->shape[0] >= 1 &&
                    t->shape[0] <= (1 << 20))
                        P = (int)t->shape[0];
        } else {
                if (P <= 0)
                        P = 2048;
                if (c->tie_embeddings == false &&
                    !socfw_modelfile_find(mf, "lm_head.weight")) {
                        SOCFW_LOG_DEBUG("%s: no lm_head.weight, tying the "
                                        "LM head to the embedding", path);
                        c->tie_embeddings = true;
                }
                snprintf(name, sizeof name, "%slayers.0.self_attn.q_proj.bias",
                         *prefix);
                if (socfw_modelfile_find(mf, name))
                        c->attn_bias = true;
        }
        c->max_positions = P;
        if (c->arch == SOCFW_ARCH_ROBERTA && c->pad_id < 0)
                c->pad_id = 1;
        return 0;
}

/* The vocabulary: the rows of token_embd.weight. */
static int
gguf_vocab(const socfw_modelfile *mf, socfw_model_config *c,
           socfw_error *err)
{
        const socfw_tensor_info *t = socfw_modelfile_find(mf,
                                                          "token_embd.weight");
        if (!t || t->ndim != 2 || t->shape[0] < 1 || t->shape[0] > (1 << 22))
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "%s: tensor 'token_embd.weight' is "
                                       "missing or not 2-d",
                                       socfw_modelfile_path(mf));
        c->vocab_size = (int)t->shape[0];
        c->tie_embeddings = !socfw_modelfile_find(mf, "output.weight");
        return 0;
}

/* A GPT-2 GGUF (llama.cpp's names, as `socfw quantize` writes them):
 * gpt2.* hyper-parameters; the LM head is tied to the embedding. */
static int
gguf_config_gpt2(const socfw_modelfile *mf, socfw_model_config *c,
                 socfw_error *err)
{
        socfw_model_config_default(c, SOCFW_ARCH_GPT2, 0, 0, 0, 0, 0, 0);
        int rc;
        if ((rc = need_int(mf, "gpt2.embedding_length", 1, 1 << 16,
                           &c->hidden, err)) < 0 ||
            (rc = need_int(mf, "gpt2.block_count", 1, 1024, &c->n_layers,
                           err)) < 0 ||
            (rc = need_int(mf, "gpt2.attention.head_count", 1, 1 << 16,
                           &c->n_heads, err)) < 0 ||
            (rc = need_int(mf, "gpt2.feed_forward_length", 1, 1 << 20,
                           &c->ffn, err)) < 0 ||
            (rc = need_int(mf, "gpt2.context_length", 1, 1 << 20,
                           &c->max_positions, err)) < 0 ||
            (rc = opt_float(mf, "gpt2.attention.layer_norm_epsilon",
                            &c->norm_eps, err)) < 0)
                return rc;
        if (c->hidden % c->n_heads)
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "%s: gpt2.embedding_length %d is not "
                                       "a multiple of the %d heads",
                                       socfw_modelfile_path(mf), c->hidden,
                                       c->n_heads);
        c->n_kv_heads = c->n_heads;
        c->head_dim = c->hidden / c->n_heads;
        opt_id(mf, "tokenizer.ggml.bos_token_id", &c->bos_id);
        opt_id(mf, "tokenizer.ggml.eos_token_id", &c->eos_id);
        opt_id(mf, "tokenizer.ggml.padding_token_id", &c->pad_id);
        if ((rc = gguf_vocab(mf, c, err)) < 0)
                return rc;
        if (!c->tie_embeddings)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "%s: a GPT-2 GGUF with its own "
                                       "output.weight (an untied LM head) is "
                                       "not supported",
                                       socfw_modelfile_path(mf));
        return 0;
}

static int
gguf_config(const socfw_modelfile *mf, socfw_model_config *c,
            socfw_error *err)
{
        const char *path = socfw_modelfile_path(mf);
        const char *arch = NULL;
        int rc = socfw_modelfile_get_string(mf, "general.architecture", &arch,
                                            NULL, err);
        if (rc < 0)
                return rc;
        if (strcmp(arch, "llama") && strcmp(arch, "qwen2") &&
            strcmp(arch, "gpt2"))
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "%s: GGUF architecture '%s' is not "
                                       "supported (llama, qwen2, gpt2); "
                                       "hint: use the Hugging Face "
                                       "safetensors", path, arch);
        if (!strcmp(arch, "gpt2"))
                return gguf_config_gpt2(mf, c, err);
        socfw_model_config_default(c, SOCFW_ARCH_LLAMA, 0, 0, 0, 0, 0, 0);
        char key[128];
#define K(s) (snprintf(key, sizeof key, "%s.%s", arch, s), key)
        if ((rc = need_int(mf, K("embedding_length"), 1, 1 << 16, &c->hidden,
                           err)) < 0 ||
            (rc = need_int(mf, K("block_count"), 1, 1024, &c->n_layers,
                           err)) < 0 ||
            (rc = need_int(mf, K("attention.head_count"), 1, 1 << 16,
                           &c->n_heads, err)) < 0 ||
            (rc = need_int(mf, K("feed_forward_length"), 1, 1 << 20, &c->ffn,
                           err)) < 0)
                return rc;
        c->n_kv_heads = c->n_heads;
        c->head_dim = c->hidden / c->n_heads;
        c->max_positions = 2048;
        int rot = 0;
        if ((rc = opt_int(mf, K("attention.head_count_kv"), 1, 1 << 16,
                          &c->n_kv_heads, err)) < 0 ||
            (rc = opt_int(mf, K("attention.key_length"), 1, 4096,
                          &c->head_dim, err)) < 0 ||
            (rc = opt_int(mf, K("context_length"), 1, 1 << 20,
                          &c->max_positions, err)) < 0 ||
            (rc = opt_int(mf, K("rope.dimension_count"), 0, 4096, &rot,
                          err)) < 0 ||
            (rc = opt_float(mf, K("attention.layer_norm_rms_epsilon"),
                            &c->norm_eps, err)) < 0 ||
            (rc = opt_float(mf, K("rope.freq_base"), &c->rope_theta,
                            err)) < 0)
                return rc;
        if (socfw_modelfile_has(mf, K("rope.scaling.type"), NULL)) {
                const char *s = NULL;
                socfw_modelfile_get_string(mf, key, &s, NULL, NULL);
                if (s && !strcmp(s, "linear")) {
                        c->rope_scaling = SOCFW_ROPE_SCALING_LINEAR;
                        c->rope_factor = 0;
                        if ((rc = opt_float(mf, K("rope.scaling.factor"),
                                            &c->rope_factor, err)) < 0)
                                return rc;
                } else if (s && strcmp(s, "none")) {
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "%s: rope scaling '%s' is "
                                               "not supported (hint: none "
                                               "and linear are)", path, s);
                }
        }
        /* Llama 3.x GGUF files carry their scaling as per-frequency
         * divisors (the llama3 formula applied at conversion) */
        const socfw_tensor_info *rf = socfw_modelfile_find(mf,
                                                           "rope_freqs.weight");
        if (rf && c->rope_scaling == SOCFW_ROPE_SCALING_NONE)
                c->rope_scaling = SOCFW_ROPE_SCALING_FACTORS;
#undef K
        if (rot && rot != c->head_dim)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "%s: partial rotary embedding "
                                       "(rope.dimension_count %d, head "
                                       "dim %d) is not supported", path,
                                       rot, c->head_dim);
        opt_id(mf, "tokenizer.ggml.bos_token_id", &c->bos_id);
        opt_id(mf, "tokenizer.ggml.eos_token_id", &c->eos_id);
        opt_id(mf, "tokenizer.ggml.padding_token_id", &c->pad_id);
        if ((rc = gguf_vocab(mf, c, err)) < 0)
                return rc;
        c->attn_bias = socfw_modelfile_find(mf, "blk.0.attn_q.bias") != NULL;
        return 0;
}

/* ---- loading: weights --------------------------------------------------- */

/* GGUF Llama Q/K rows: llama.cpp stores row (h, i, j) = HF row (h, j, i)
 * for i < D/2, j < 2 (interleaved pairs).  Undo in place. */
static int
unpermute_rows(float *w, int64_t rows, int64_t cols, int heads)
{
        int64_t D = rows / heads, half = D / 2;
        float *tmp = malloc((size_t)(D * cols) * sizeof *tmp);
        if (!tmp)
                return SOCFW_ENOMEM;
        for (int h = 0; h < heads; h++) {
                float *blk = w + (size_t)(h * D * cols);
                for (int64_t j = 0; j < 2; j++)
                        for (int64_t i = 0; i < half; i++)
                                memcpy(tmp + (size_t)((j * half + i) * cols),
                                       blk + (size_t)((i * 2 + j) * cols),
                                       (size_t)cols * sizeof *tmp);
                memcpy(blk, tmp, (size_t)(D * cols) * sizeof *tmp);
        }
        free(tmp);
        return 0;
}

/* May tensor idx stay in its file's format?  The (out, in) matrices the
 * linear layer reads: the sites' weights, the LM head, the token
 * embeddings (read a row at a time). */
static int
quant_candidate(const socfw_model *m, int idx)
{
        if (m->wl != SOCFW_NN_W_OUT_IN)
                return 0;
        if (idx == m->tok_emb || idx == m->lm_head)
                return 1;
        for (int l = 0; l < m->cfg.n_layers; l++) {
                const arch_layer *P = &m->layers[l];
                if (idx == P->q_w || idx == P->k_w || idx == P->v_w ||
                    idx == P->o_w || idx == P->fc_w || idx == P->up_w ||
                    idx == P->down_w)
                        return 1;
        }
        return 0;
}

/* Keep tensor t (a 2-D decl d) in its format in m->qw: borrowed from the
 * mapping when `borrow`, else copied; Llama GGUF Q/K rows are put back in
 * HF order (a copy).  Returns 1 when kept, 0 when t should be read as
 * float32 instead, or an error. */
static int
keep_quantized(socfw_model *m, const socfw_tensor_info *t, const decl *d,
               int borrow, socfw_error *err)
{
        static int said;
        int idx = *d->idx;
        if (t->dtype == SOCFW_DTYPE_F32 || d->ndim != 2 ||
            !quant_candidate(m, idx))
                return 0;
        if (!socfw_qtensor_type_supported(t->dtype)) {
                if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
                        SOCFW_LOG_INFO("%s: tensor '%s' is %s, which the "
                                       "quantised linear layer does not "
                                       "take; dequantising it to float32",
                                       t->file, t->name,
                                       socfw_dtype_name(t->dtype));
                return 0;
        }
        int64_t rows = d->shape[0], cols = d->shape[1];
        int perm = d->permute_heads > 0;
        socfw_qtensor *q = &m->qw[idx];
        int rc = socfw_qtensor_init(q, t->name, t->dtype, rows, cols, t->data,
                                    t->nbytes, !borrow && !perm, err);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "%s", t->file);
        if (perm) {
                /* row (h, j*half + i) <- file row (h, 2i + j) */
                int64_t D = rows / d->permute_heads, half = D / 2;
                int64_t *p = malloc((size_t)rows * sizeof *p);
                socfw_qtensor tmp = *q;
                if (!p)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "model: out of memory");
                for (int64_t h = 0; h < d->permute_heads; h++)
                        for (int64_t j = 0; j < 2; j++)
                                for (int64_t i = 0; i < half; i++)
                                        p[h * D + j * half + i] =
                                                h * D + 2 * i + j;
                rc = socfw_qtensor_permute_rows(q, &tmp, p, err);
                socfw_qtensor_release(&tmp);
                free(p);
                if (rc < 0)
                        return rc;
        }
        m->n_quant++;
        return 1;
}

static int
load_decl(socfw_model *m, const socfw_modelfile *mf, const decl *d, int gguf,
          int borrow, socfw_rng *rng, socfw_error *err)
{
        const char *path = socfw_modelfile_path(mf);
        const char *fname = gguf ? d->gguf : d->name;
        const socfw_tensor_info *t = fname[0] ? socfw_modelfile_find(mf, fname)
                                              : NULL;
        int idx = *d->idx;
        if (!t) {
                if (idx == m->pool_w || idx == m->pool_b) {
                        if (idx == m->pool_w)
                                SOCFW_LOG_WARN("%s: no pooler in the file; "
                                               "using a fresh random one",
                                               path);
                        init_decl(m, d, rng);
                        return 0;
                }
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "%s: tensor '%s' not found; hint: is "
                                       "this a complete %s checkpoint?",
                                       path, fname,
                                       socfw_arch_name(m->cfg.arch));
        }
        int64_t n = d->shape[0] * (d->ndim == 2 ? d->shape[1] : 1);
        int transpose = gguf && d->transpose_gguf && d->ndim == 2;
        if (t->ndim != d->ndim || t->nelem != n ||
            t->shape[0] != d->shape[transpose ? 1 : 0])
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "%s: tensor '%s' has shape [%lld, "
                                       "%lld] (%d-d), expected [%lld, %lld]",
                                       path, fname,
                                       (long long)t->shape[0],
                                       (long long)(t->ndim > 1 ? t->shape[1]
                                                               : 0),
                                       t->ndim, (long long)d->shape[0],
                                       (long long)(d->ndim > 1 ? d->shape[1]
                                                               : 0));
        int rc = m->qw ? keep_quantized(m, t, d, borrow, err) : 0;
        if (rc < 0)
                return rc;
        if (rc > 0) {
                /* kept as a copy (not borrowed, or Q/K rows reordered):
                 * the mapped original's pages were read for it and would
                 * stay resident beside it */
                if (m->qw[idx].owned)
                        socfw_modelfile_release(mf, t);
                return 0;
        }
        float *w = socfw_params_data(m->ps, idx);
        if (transpose) {
                /* (out, in) in the file -> (in, out) here */
                int64_t in = d->shape[0], out = d->shape[1];
                float *tmp = malloc(sizeof(float) * (size_t)n);
                if (!tmp)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "model: out of memory");
                rc = socfw_modelfile_read_f32(mf, t, tmp, (size_t)n, err);
                for (int64_t o = 0; rc == 0 && o < out; o++)
                        for (int64_t i = 0; i < in; i++)
                                w[i * out + o] = tmp[o * in + i];
                free(tmp);
                socfw_modelfile_release(mf, t);
                return rc;
        }
        rc = socfw_modelfile_read_f32(mf, t, w, (size_t)n, err);
        if (rc < 0)
                return rc;
        /* the float copy is made: the file's pages can go (a load peaks
         * at about the model's size, not the file's plus the model's) */
        socfw_modelfile_release(mf, t);
        if (gguf && d->permute_heads > 0) {
                rc = unpermute_rows(w, d->shape[0],
                                    d->ndim == 2 ? d->shape[1] : 1,
                                    d->permute_heads);
                if (rc < 0)
                        return socfw_error_set(err, rc, "model: out of "
                                               "memory");
        }
        return 0;
}

/* GGUF rope_freqs.weight: one positive divisor per rotary frequency. */
static int
load_rope_factors(socfw_model *m, const socfw_modelfile *mf,
                  socfw_error *err)
{
        const socfw_tensor_info *t = socfw_modelfile_find(mf,
                                                          "rope_freqs.weight");
        int half = m->cfg.head_dim / 2;
        if (!t || t->nelem != half)
                return socfw_error_set_at(
                        err, SOCFW_EFORMAT, socfw_modelfile_path(mf), 0, 0,
                        "rope_freqs.weight: %lld values, expected head_dim "
                        "/ 2 = %d",
                        t ? (long long)t->nelem : 0LL, half);
        float *f = malloc((size_t)half * sizeof *f);
        if (!f)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = socfw_modelfile_read_f32(mf, t, f, (size_t)half, err);
        for (int i = 0; rc == 0 && i < half; i++)
                if (!(f[i] > 0.0f) || !isfinite(f[i]))
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, socfw_modelfile_path(mf),
                                0, 0,
                                "rope_freqs.weight[%d] = %g: divisors must "
                                "be positive and finite",
                                i, (double)f[i]);
        if (rc == 0)
                rc = rope_scaled_inv_freq(m, f, err);
        free(f);
        return rc;
}

/* borrow: quantised tensors may point into mf's mapping (the caller
 * keeps mf open for the model's lifetime). */
static int
load_from(socfw_model **out, const socfw_modelfile *mf,
          const socfw_model_options *opts, int borrow, socfw_error *err)
{
        socfw_model_config cfg;
        socfw_model *m = NULL;
        decl_list dl = {0};
        const char *prefix = "model.";
        int gguf = socfw_modelfile_format_of(mf) == SOCFW_MODELFILE_GGUF;
        int permute = 0;
        int rc;
        *out = NULL;
        if (gguf) {
                rc = gguf_config(mf, &cfg, err);
                const char *arch = NULL;
                socfw_modelfile_get_string(mf, "general.architecture", &arch,
                                           NULL, NULL);
                permute = arch && !strcmp(arch, "llama");
        } else {
                rc = hf_config(mf, &cfg, &prefix, err);
        }
        if (rc < 0)
                goto out;
        if (opts && opts->no_pooler)
                cfg.pooler = false;
        rc = model_build(&m, &cfg, prefix, &dl, err);
        if (rc < 0)
                goto out;
        if (opts && opts->keep_quantized) {
                socfw_params_hint_sparse(m->ps);
                m->qw = calloc((size_t)socfw_params_count(m->ps),
                               sizeof *m->qw);
                if (!m->qw) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "model: out of memory");
                        goto out;
                }
        }
        socfw_rng rng;
        socfw_rng_seed(&rng, opts ? opts->seed : 0);
        for (int i = 0; i < dl.n; i++) {
                if (!permute)
                        dl.v[i].permute_heads = 0;
                rc = load_decl(m, mf, &dl.v[i], gguf, borrow, &rng, err);
                if (rc < 0)
                        goto out;
        }
        if (cfg.rope_scaling == SOCFW_ROPE_SCALING_FACTORS &&
            (rc = load_rope_factors(m, mf, err)) < 0)
                goto out;
        SOCFW_LOG_DEBUG("%s: %s backbone, %d layers, hidden %d, %lld "
                        "parameters", socfw_modelfile_path(mf),
                        socfw_arch_name(cfg.arch), cfg.n_layers, cfg.hidden,
                        (long long)socfw_params_total_numel(m->ps));
        if (m->n_quant > 0)
                SOCFW_LOG_DEBUG("%s: %d matrices kept in the file's format "
                                "(%zu bytes)", socfw_modelfile_path(mf),
                                m->n_quant,
                                socfw_model_quantized_bytes(m, NULL));
        *out = m;
        m = NULL;
out:
        socfw_model_free(m);
        free(dl.v);
        return rc;
}

int
socfw_model_load_modelfile(socfw_model **out, const socfw_modelfile *mf,
                           const socfw_model_options *opts, socfw_error *err)
{
        return load_from(out, mf, opts, 0, err);
}

int
socfw_model_load(socfw_model **out, const char *path,
                 const socfw_model_options *opts, socfw_error *err)
{
        socfw_modelfile *mf = NULL;
        *out = NULL;
        int rc = socfw_modelfile_open(&mf, path, err);
        if (rc < 0)
                return rc;
        int keep = opts && opts->keep_quantized;
        rc = load_from(out, mf, opts, keep, err);
        if (rc == 0 && keep && (*out)->n_quant > 0) {
                (*out)->mf = mf;        /* the model's weights point in */
                mf = NULL;
        }
        socfw_modelfile_close(mf);
        return rc;
}

size_t
socfw_model_quantized_bytes(const socfw_model *m, int *n_tensors)
{
        size_t total = 0;
        if (n_tensors)
                *n_tensors = m->n_quant;
        if (!m->qw)
                return 0;
        int n = socfw_params_count(m->ps);
        for (int i = 0; i < n; i++)
                total += (size_t)m->qw[i].rows * m->qw[i].row_bytes;
        return total;
}

/* peft_file.c - adapter directories in Hugging Face PEFT's layout:
 * adapter_config.json + adapter_model.safetensors (tensor names
 * "base_model.model.<HF module>.lora_A.weight", ...), plus socfw's
 * meta.json (what the adapter was trained on).
 *
 * socfw keeps one adapter tensor set per named site; PEFT keeps one per
 * Hugging Face module.  They differ only for GPT-2, whose q, k and v are
 * column slices of one module (c_attn):
 *   - saving, the sites S of c_attn become one LoRA of rank |S| r:
 *     A = [A_s ; ...] stacked, B block-diagonal in its q|k|v row blocks,
 *     with rank_pattern / alpha_pattern keeping the scale; IA3's k and v
 *     scalings become one (3C, 1) vector with 1 for q;
 *   - loading, a c_attn LoRA becomes the three sites with the same A and
 *     each site's rows of B (sites whose rows are all zero are left out).
 * A loaded LoRA keeps one rank for all sites (the largest; smaller ones are
 * zero-padded) and scale 1 with each module's alpha / r folded into its B:
 * the same function, exactly.
 *
 * Bottleneck adapters have no PEFT type: they are written in the same
 * layout with "peft_type": "SOCFW_BOTTLENECK" and adapter_down / adapter_up
 * tensors, read by socfw only. */
#define _GNU_SOURCE /* asprintf */
#include "peft/adapter_impl.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/io.h"
#include "socfw/modelfile.h"
#include "socfw/safetensors.h"

#define PEFT_PREFIX "base_model.model."

/* The prefix of HF module paths for `m`: its own tensor-name prefix, or
 * the one of the usual *ForCausalLM class for unprefixed decoders. */
static const char *
module_prefix(const socfw_model *m)
{
        const char *p = socfw_model_name_prefix(m);
        if (p && p[0])
                return p;
        switch (socfw_model_config_of(m)->arch) {
        case SOCFW_ARCH_GPT2: return "transformer.";
        case SOCFW_ARCH_LLAMA: return "model.";
        default: return "";
        }
}

static int
fused_qkv(const socfw_model *m, socfw_site s)
{
        return socfw_model_config_of(m)->arch == SOCFW_ARCH_GPT2 &&
               s <= SOCFW_SITE_ATTN_V;
}

/* The module name of site s without layer ("attn.c_attn", "q_proj",
 * "intermediate.dense"): what target_modules lists. */
static void
module_leaf(const socfw_model *m, socfw_site s, char *buf, size_t cap)
{
        char full[160];
        buf[0] = '\0';
        if (socfw_model_site_module(m, 0, s, full, sizeof full) < 0)
                return;
        /* drop "h.0." / "layers.0." / "encoder.layer.0." */
        const char *p = strstr(full, ".0.");
        snprintf(buf, cap, "%s", p ? p + 3 : full);
        if (socfw_model_config_of(m)->arch == SOCFW_ARCH_LLAMA) {
                const char *dot = strrchr(buf, '.');   /* q_proj, ... */
                if (dot)
                        memmove(buf, dot + 1, strlen(dot + 1) + 1);
        }
}

/* ---- saving ------------------------------------------------------------- */

typedef struct out_list {
        socfw_tensor_info *ti;
        char **names;
        float **bufs;
        size_t n, cap;
} out_list;

static void
out_free(out_list *o)
{
        for (size_t i = 0; i < o->n; i++) {
                free(o->names[i]);
                free(o->bufs[i]);
        }
        free(o->ti);
        free(o->names);
        free(o->bufs);
}

/* Add a tensor `name` (taken) of shape (d0, d1) over `buf` (taken). */
static int
out_add(out_list *o, char *name, float *buf, int64_t d0, int64_t d1)
{
        if (!name || !buf) {
                free(name);
                free(buf);
                return SOCFW_ENOMEM;
        }
        if (o->n == o->cap) {
                size_t cap = o->cap ? 2 * o->cap : 64;
                socfw_tensor_info *ti = realloc(o->ti, cap * sizeof *ti);
                char **nm = ti ? realloc(o->names, cap * sizeof *nm) : NULL;
                float **bf = nm ? realloc(o->bufs, cap * sizeof *bf) : NULL;
                if (ti)
                        o->ti = ti;
                if (nm)
                        o->names = nm;
                if (!bf) {
                        free(name);
                        free(buf);
                        return SOCFW_ENOMEM;
                }
                o->bufs = bf;
                o->cap = cap;
        }
        socfw_tensor_info *x = &o->ti[o->n];
        memset(x, 0, sizeof *x);
        x->name = name;
        x->dtype = SOCFW_DTYPE_F32;
        x->ndim = 2;
        x->shape[0] = d0;
        x->shape[1] = d1;
        x->nelem = d0 * d1;
        x->data = buf;
        x->nbytes = (size_t)x->nelem * sizeof(float);
        o->names[o->n] = name;
        o->bufs[o->n++] = buf;
        return 0;
}

static char *
tname(const socfw_model *m, int l, socfw_site s, const char *what)
{
        char mod[160];
        char *out = NULL;
        if (socfw_model_site_module(m, l, s, mod, sizeof mod) < 0)
                return NULL;
        if (asprintf(&out, PEFT_PREFIX "%s%s.%s", module_prefix(m), mod,
                     what) < 0)
                return NULL;
        return out;
}

/* "base_model.model.<prefix><embedding module>.<what>" */
static char *
ename(const socfw_model *m, const char *what)
{
        char mod[160];
        char *out = NULL;
        if (socfw_model_embed_module(m, mod, sizeof mod) < 0)
                return NULL;
        if (asprintf(&out, PEFT_PREFIX "%s%s.%s", module_prefix(m), mod,
                     what) < 0)
                return NULL;
        return out;
}

static float *
copy_of(const float *p, size_t n)
{
        float *q = malloc(n * sizeof *q);
        if (q)
                memcpy(q, p, n * sizeof *q);
        return q;
}

static const float *
T(const socfw_adapter *a, const peft_slot *sl, int k)
{
        return socfw_params_data(a->ps, sl->t[k]);
}

/* LoRA and AdaLoRA: PEFT names LoRA's tensors "lora_A.weight" (nn.Linear)
 * and AdaLoRA's "lora_A", "lora_B", "lora_E" (parameters). */
static int
save_lora(const socfw_adapter *a, const socfw_model *m, out_list *o,
          int *fused_rank)
{
        int r = a->cfg.rank, C = a->shape.hidden;
        int ada = a->cfg.type == SOCFW_ADAPTER_ADALORA;
        const char *nA = ada ? "lora_A" : "lora_A.weight";
        const char *nB = ada ? "lora_B" : "lora_B.weight";
        *fused_rank = 0;
        for (int l = 0; l < a->n_layers; l++) {
                /* GPT-2 q|k|v -> one c_attn adapter */
                if (a->shape.arch == SOCFW_ARCH_GPT2) {
                        int S[3], ns = 0;
                        for (int s = 0; s < 3; s++)
                                if (socfw_adapter_has(a, l, (socfw_site)s))
                                        S[ns++] = s;
                        if (ns) {
                                int rf = ns * r;
                                float *A = calloc((size_t)rf * C, sizeof *A);
                                float *B = calloc((size_t)3 * C * rf,
                                                  sizeof *B);
                                float *E = ada ? calloc((size_t)rf, sizeof *E)
                                               : NULL;
                                if (A && B && (!ada || E)) {
                                        for (int j = 0; j < ns; j++) {
                                                const peft_slot *sl =
                                                        peft_slot_of(a, l, (socfw_site)S[j]);
                                                memcpy(A + (size_t)j * r * C,
                                                       T(a, sl, 0),
                                                       (size_t)r * C * sizeof *A);
                                                if (ada)
                                                        memcpy(E + (size_t)j * r,
                                                               T(a, sl, 2),
                                                               (size_t)r * sizeof *E);
                                                const float *b = T(a, sl, 1);
                                                for (int oo = 0; oo < C; oo++)
                                                        for (int k = 0; k < r; k++)
                                                                B[(size_t)(S[j] * C + oo) * rf + j * r + k] =
                                                                        b[(size_t)oo * r + k];
                                        }
                                }
                                int rc = out_add(o, tname(m, l, SOCFW_SITE_ATTN_Q,
                                                          nA), A, rf, C);
                                if (rc == 0)
                                        rc = out_add(o, tname(m, l, SOCFW_SITE_ATTN_Q,
                                                              nB), B, 3 * C, rf);
                                else
                                        free(B);
                                if (rc == 0 && ada)
                                        rc = out_add(o, tname(m, l, SOCFW_SITE_ATTN_Q,
                                                              "lora_E"), E, rf, 1);
                                else
                                        free(E);
                                if (rc < 0)
                                        return rc;
                                *fused_rank = rf;
                        }
                }
                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                        if (!socfw_adapter_has(a, l, (socfw_site)s) ||
                            fused_qkv(m, (socfw_site)s))
                                continue;
                        const peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                        int in = a->in[s], out = a->out[s];
                        int rc = out_add(o, tname(m, l, (socfw_site)s, nA),
                                         copy_of(T(a, sl, 0), (size_t)r * in),
                                         r, in);
                        if (rc == 0)
                                rc = out_add(o, tname(m, l, (socfw_site)s, nB),
                                             copy_of(T(a, sl, 1),
                                                     (size_t)out * r),
                                             out, r);
                        if (rc == 0 && ada)
                                rc = out_add(o, tname(m, l, (socfw_site)s,
                                                      "lora_E"),
                                             copy_of(T(a, sl, 2), (size_t)r),
                                             r, 1);
                        if (rc < 0)
                                return rc;
                }
        }
        if (!socfw_adapter_embeds(a))
                return 0;
        /* PEFT's lora_embedding_A (r, vocab), lora_embedding_B (hidden, r):
         * parameters, so no ".weight" */
        int V = a->shape.vocab_size;
        int rc = out_add(o, ename(m, "lora_embedding_A"),
                         copy_of(socfw_params_data(a->ps, a->emb_t[0]),
                                 (size_t)r * V), r, V);
        if (rc == 0)
                rc = out_add(o, ename(m, "lora_embedding_B"),
                             copy_of(socfw_params_data(a->ps, a->emb_t[1]),
                                     (size_t)C * r), C, r);
        return rc;
}

static int
save_ia3(const socfw_adapter *a, const socfw_model *m, out_list *o)
{
        int C = a->shape.hidden;
        for (int l = 0; l < a->n_layers; l++) {
                if (a->shape.arch == SOCFW_ARCH_GPT2) {
                        int any = 0;
                        float *v = malloc((size_t)3 * C * sizeof *v);
                        for (int i = 0; v && i < 3 * C; i++)
                                v[i] = 1.0f;
                        for (int s = 0; v && s < 3; s++) {
                                if (!socfw_adapter_has(a, l, (socfw_site)s))
                                        continue;
                                any = 1;
                                memcpy(v + (size_t)s * C,
                                       T(a, peft_slot_of(a, l, (socfw_site)s), 0),
                                       (size_t)C * sizeof *v);
                        }
                        int rc = 0;
                        if (any)
                                rc = out_add(o, tname(m, l, SOCFW_SITE_ATTN_Q,
                                                      "ia3_l"),
                                             v, 3 * C, 1);
                        else
                                free(v);
                        if (rc < 0)
                                return rc;
                }
                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                        if (!socfw_adapter_has(a, l, (socfw_site)s) ||
                            fused_qkv(m, (socfw_site)s))
                                continue;
                        int ff = s == SOCFW_SITE_MLP_DOWN;
                        int n = ff ? a->in[s] : a->out[s];
                        int rc = out_add(o, tname(m, l, (socfw_site)s,
                                                  "ia3_l"),
                                         copy_of(T(a, peft_slot_of(a, l, (socfw_site)s), 0),
                                                 (size_t)n),
                                         ff ? 1 : n, ff ? n : 1);
                        if (rc < 0)
                                return rc;
                }
        }
        return 0;
}

static int
save_bottleneck(const socfw_adapter *a, const socfw_model *m, out_list *o)
{
        static const char *const what[4] = {
                "adapter_down.weight", "adapter_down.bias",
                "adapter_up.weight", "adapter_up.bias"};
        for (int l = 0; l < a->n_layers; l++)
                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                        if (!socfw_adapter_has(a, l, (socfw_site)s))
                                continue;
                        const peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                        for (int k = 0; k < 4; k++) {
                                const int64_t *sh = socfw_params_shape(
                                        a->ps, sl->t[k]);
                                int nd = socfw_params_ndim(a->ps, sl->t[k]);
                                int64_t n = socfw_params_numel(a->ps,
                                                               sl->t[k]);
                                int rc = out_add(o, tname(m, l, (socfw_site)s,
                                                          what[k]),
                                                 copy_of(T(a, sl, k),
                                                         (size_t)n),
                                                 sh[0], nd > 1 ? sh[1] : 1);
                                if (rc < 0)
                                        return rc;
                                if (nd == 1)
                                        o->ti[o->n - 1].ndim = 1;
                        }
                }
        return 0;
}

/* target_modules (feedforward_modules with `feedforward`): the module
 * names PEFT matches by suffix; for BERT-style encoders a regular
 * expression over the layer's modules, since the MLP's output.dense would
 * also match attention.output.dense by suffix. */
static json_t *
target_list(const socfw_adapter *a, const socfw_model *m, int feedforward)
{
        int encoder = a->shape.arch != SOCFW_ARCH_GPT2 &&
                      a->shape.arch != SOCFW_ARCH_LLAMA;
        json_t *arr = json_array();
        char re[512] = ".*\\.layer\\.\\d+\\.(?:";
        size_t rn = strlen(re);
        int first = 1;
        for (int s = 0; arr && s < SOCFW_SITE_COUNT; s++) {
                if (!(a->cfg.targets & SOCFW_SITE_BIT(s)))
                        continue;
                if (feedforward && s != SOCFW_SITE_MLP_DOWN)
                        continue;
                char leaf[160];
                module_leaf(m, (socfw_site)s, leaf, sizeof leaf);
                if (encoder) {
                        if (!first && rn + 1 < sizeof re)
                                re[rn++] = '|';
                        first = 0;
                        for (const char *c = leaf; *c && rn + 3 < sizeof re;
                             c++) {
                                if (*c == '.')
                                        re[rn++] = '\\';
                                re[rn++] = *c;
                        }
                        re[rn] = '\0';
                        continue;
                }
                int dup = 0;
                for (size_t i = 0; i < json_array_size(arr); i++)
                        dup |= !strcmp(json_string_value(
                                               json_array_get(arr, i)),
                                       leaf);
                if (!dup)
                        json_array_append_new(arr, json_string(leaf));
        }
        char emb[160];
        int embeds = !feedforward && socfw_adapter_embeds(a) &&
                     socfw_model_embed_module(m, emb, sizeof emb) == 0;
        if (!encoder) {
                if (embeds)
                        json_array_append_new(arr, json_string(emb));
                return arr;
        }
        json_decref(arr);
        /* PEFT full-matches the expression against module paths */
        static const char embre[] = "(?:.*\\.)?embeddings\\.word_embeddings";
        if (first)
                return embeds ? json_string(embre) : json_array();
        snprintf(re + rn, sizeof re - rn, ")%s%s", embeds ? "|" : "",
                 embeds ? embre : "");
        return json_string(re);
}

static json_t *
peft_config(const socfw_adapter *a, const socfw_model *m,
            const char *base_source, int fused_rank)
{
        const socfw_adapter_config *c = &a->cfg;
        const char *type = c->type == SOCFW_ADAPTER_LORA      ? "LORA"
                           : c->type == SOCFW_ADAPTER_ADALORA ? "ADALORA"
                           : c->type == SOCFW_ADAPTER_IA3     ? "IA3"
                           : c->type == SOCFW_ADAPTER_PREFIX  ? "PREFIX_TUNING"
                           : c->type == SOCFW_ADAPTER_PROMPT  ? "PROMPT_TUNING"
                                                              : "SOCFW_BOTTLENECK";
        json_t *j = json_pack("{s:s, s:o, s:o, s:b, s:o, s:n, s:n}",
                              "peft_type", type, "base_model_name_or_path",
                              base_source ? json_string(base_source)
                                          : json_null(),
                              "target_modules", target_list(a, m, 0),
                              "inference_mode", 1, "task_type", json_null(),
                              "revision", "modules_to_save");
        if (!j)
                return NULL;
        int gpt2 = a->shape.arch == SOCFW_ARCH_GPT2;
        if (c->type == SOCFW_ADAPTER_PROMPT) {
                peft_prompt_config(a, j);
        } else if (c->type == SOCFW_ADAPTER_PREFIX) {
                /* the keys and values themselves */
                json_object_set_new(j, "num_virtual_tokens",
                                    json_integer(c->prefix_length));
                json_object_set_new(j, "num_layers",
                                    json_integer(a->shape.n_layers));
                json_object_set_new(j, "token_dim", json_integer(
                        a->shape.n_kv_heads * a->shape.head_dim));
                json_object_set_new(j, "num_attention_heads",
                                    json_integer(a->shape.n_kv_heads));
                /* projected: the rows are saved folded, as PEFT's
                 * get_prompt_embedding_to_save; with inference_mode PEFT
                 * then loads them as a plain embedding */
                json_object_set_new(j, "encoder_hidden_size", json_integer(
                        c->prefix_projection ? c->encoder_hidden_size
                                             : a->shape.hidden));
                json_object_set_new(j, "prefix_projection",
                                    json_boolean(c->prefix_projection));
                json_object_del(j, "target_modules");
        } else if (c->type == SOCFW_ADAPTER_ADALORA) {
                /* every module at init_r (GPT-2's fused c_attn holds its
                 * sites' triplets side by side); masked ones have E = 0 */
                json_object_set_new(j, "init_r", json_integer(
                        fused_rank ? fused_rank : c->rank));
                json_object_set_new(j, "target_r", json_integer(c->target_r));
                json_object_set_new(j, "r", json_integer(c->rank));
                json_object_set_new(j, "lora_alpha", json_real(c->alpha));
                json_object_set_new(j, "lora_dropout", json_real(c->dropout));
                json_object_set_new(j, "tinit", json_integer(c->tinit));
                json_object_set_new(j, "tfinal", json_integer(c->tfinal));
                json_object_set_new(j, "deltaT", json_integer(c->delta_t));
                json_object_set_new(j, "beta1", json_real(c->beta1));
                json_object_set_new(j, "beta2", json_real(c->beta2));
                json_object_set_new(j, "orth_reg_weight",
                                    json_real(c->orth_reg_weight));
                json_object_set_new(j, "fan_in_fan_out", json_boolean(gpt2));
                json_object_set_new(j, "bias", json_string("none"));
                json_object_set_new(j, "rank_pattern", json_null());
        } else if (c->type == SOCFW_ADAPTER_LORA) {
                json_object_set_new(j, "r", json_integer(c->rank));
                json_object_set_new(j, "lora_alpha", json_real(c->alpha));
                json_object_set_new(j, "lora_dropout", json_real(c->dropout));
                json_object_set_new(j, "use_rslora", json_boolean(c->use_rslora));
                json_object_set_new(j, "fan_in_fan_out", json_boolean(gpt2));
                json_object_set_new(j, "bias", json_string("none"));
                json_object_set_new(j, "init_lora_weights", json_true());
                json_t *rp = json_object(), *ap = json_object();
                if (fused_rank && fused_rank != c->rank) {
                        double k = (double)fused_rank / c->rank;
                        json_object_set_new(rp, "attn.c_attn",
                                            json_integer(fused_rank));
                        json_object_set_new(ap, "attn.c_attn",
                                            json_real(c->alpha *
                                                      (c->use_rslora ? sqrt(k)
                                                                     : k)));
                }
                json_object_set_new(j, "rank_pattern", rp);
                json_object_set_new(j, "alpha_pattern", ap);
        } else if (c->type == SOCFW_ADAPTER_IA3) {
                json_object_set_new(j, "feedforward_modules",
                                    target_list(a, m, 1));
                json_object_set_new(j, "fan_in_fan_out", json_boolean(gpt2));
                json_object_set_new(j, "init_ia3_weights", json_true());
        } else {
                json_object_set_new(j, "reduction_factor",
                                    json_integer(c->reduction_factor));
                static const char *const acts[] = {"relu", "gelu", "silu"};
                json_object_set_new(j, "non_linearity",
                                    json_string(acts[c->act]));
        }
        return j;
}

static int
write_json(const char *dir, const char *file, json_t *j, socfw_error *err)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS)
                       : NULL;
        json_decref(j);
        if (!text)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        size_t n = strlen(text);
        char *t2 = realloc(text, n + 2);
        if (t2) {
                text = t2;
                text[n++] = '\n';
                text[n] = '\0';
        }
        int rc = socfw_file_write_atomic(path, text, n, err);
        free(text);
        return rc;
}

int
socfw_adapter_save(const socfw_adapter *a, const socfw_model *m,
                   const char *dir, const char *task, const char *base_source,
                   socfw_error *err)
{
        int rc = peft_shape_check(a, m, err);
        if (rc < 0)
                return rc;
        if ((rc = socfw_dir_make(dir, 0755, err)) < 0)
                return rc;
        out_list o = {0};
        int fused_rank = 0;
        switch (a->cfg.type) {
        case SOCFW_ADAPTER_LORA:
        case SOCFW_ADAPTER_ADALORA:
                rc = save_lora(a, m, &o, &fused_rank);
                break;
        case SOCFW_ADAPTER_IA3:
                rc = save_ia3(a, m, &o);
                break;
        case SOCFW_ADAPTER_BOTTLENECK:
                rc = save_bottleneck(a, m, &o);
                break;
        case SOCFW_ADAPTER_PREFIX: {
                /* PEFT's prompt_embeddings (P, layers x 2 x kd): row j
                 * holds every block's key then value for virtual token j;
                 * a projected prefix is folded: its computed rows */
                peft_proj_refresh(a, 0);
                int P = a->cfg.prefix_length, L = a->n_layers;
                int kd = a->shape.n_kv_heads * a->shape.head_dim;
                size_t row = (size_t)L * 2 * kd;
                float *e = malloc((size_t)P * row * sizeof *e);
                for (int j = 0; e && j < P; j++)
                        for (int l = 0; l < L; l++)
                                for (int v = 0; v < 2; v++)
                                        memcpy(e + j * row + ((size_t)l * 2 + v) * kd,
                                               peft_prefix(a, l, v) + (size_t)j * kd,
                                               (size_t)kd * sizeof *e);
                char *name = strdup("prompt_embeddings");
                rc = out_add(&o, name, e, P, (int64_t)row);
                break;
        }
        case SOCFW_ADAPTER_PROMPT:      /* PEFT's prompt_embeddings */
                rc = out_add(&o, strdup("prompt_embeddings"),
                             copy_of(peft_prompt(a),
                                     (size_t)a->cfg.num_virtual_tokens *
                                             a->shape.hidden),
                             a->cfg.num_virtual_tokens, a->shape.hidden);
                break;
        case SOCFW_ADAPTER_NONE:
                rc = SOCFW_EINVAL;
                break;
        }
        if (rc < 0) {
                out_free(&o);
                return socfw_error_set(err, rc, "adapter save: out of "
                                       "memory");
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        socfw_safetensors_kv kv[1] = {{"format", "pt"}};
        rc = socfw_safetensors_write(path, o.ti, o.n, kv, 1, err);
        out_free(&o);
        if (rc == 0)
                rc = write_json(dir, "adapter_config.json",
                                peft_config(a, m, base_source, fused_rank),
                                err);
        if (rc < 0)
                return rc;
        char fp[65];
        socfw_model_fingerprint(m, fp);
        json_t *sites = json_array();
        for (int s = 0; sites && s < SOCFW_SITE_COUNT; s++)
                if (a->cfg.targets & SOCFW_SITE_BIT(s))
                        json_array_append_new(sites,
                                              json_string(socfw_site_name((socfw_site)s)));
        json_t *meta = json_pack(
                "{s:s, s:s, s:s?, s:{s:s, s:s, s:i, s:i, s:s?}, s:o, s:i, "
                "s:f, s:I}",
                "format", "socfw-adapter-1", "type",
                socfw_adapter_type_name(a->cfg.type), "task", task,
                "base_model", "fingerprint", fp, "architecture",
                socfw_arch_name(a->shape.arch), "layers", a->shape.n_layers,
                "hidden", a->shape.hidden, "source", base_source, "sites",
                sites, "rank", a->cfg.rank, "scale", (double)a->scale,
                "parameters",
                (json_int_t)socfw_params_total_numel(a->ps));
        if (meta && socfw_adapter_embeds(a))
                json_object_set_new(meta, "embed", json_true());
        return write_json(dir, "meta.json", meta, err);
}

/* ---- loading ------------------------------------------------------------ */

/* Which (layer, site) a file tensor belongs to, and which of its tensors
 * it is: the name must be "[base_model.model.][any prefix.]<module>.<what>"
 * with <module> one of the model's site modules.  For GPT-2's c_attn the
 * site returned is attn.q (the module of all three).  Returns 0 or -1. */
static int
locate(const socfw_model *m, const char *name, const char *what, int *layer,
       socfw_site *site)
{
        size_t n = strlen(name), w = strlen(what);
        if (n <= w + 1 || strcmp(name + n - w, what) != 0 ||
            name[n - w - 1] != '.')
                return -1;
        size_t stem = n - w - 1;        /* name[0..stem) is the module path */
        int L = socfw_model_config_of(m)->n_layers;
        for (int l = 0; l < L; l++)
                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                        char mod[160];
                        if (socfw_model_site_module(m, l, (socfw_site)s, mod,
                                                    sizeof mod) < 0)
                                continue;
                        size_t k = strlen(mod);
                        if (k > stem || memcmp(name + stem - k, mod, k) != 0)
                                continue;
                        if (k < stem && name[stem - k - 1] != '.')
                                continue;
                        *layer = l;
                        *site = (socfw_site)s;
                        return 0;
                }
        return -1;
}

/* Whether file tensor `name` is "[any prefix.]<embedding module>.<what>". */
static int
embed_tensor(const socfw_model *m, const char *name, const char *what)
{
        char mod[160];
        if (socfw_model_embed_module(m, mod, sizeof mod) < 0)
                return 0;
        size_t n = strlen(name), w = strlen(what), k = strlen(mod);
        if (n < w + k + 1 || strcmp(name + n - w, what) != 0 ||
            name[n - w - 1] != '.')
                return 0;
        size_t stem = n - w - 1;
        return memcmp(name + stem - k, mod, k) == 0 &&
               (k == stem || name[stem - k - 1] == '.');
}

/* PEFT's pattern match: `key` names the module if the module path ends
 * with it (at a dot). */
static int
pattern_matches(const char *key, const char *path)
{
        size_t k = strlen(key), n = strlen(path);
        return k <= n && !strcmp(path + n - k, key) &&
               (k == n || path[n - k - 1] == '.');
}

/* alpha / r of the module at `path` (rank_pattern / alpha_pattern). */
static float
lora_scale_for(json_t *cfg, const char *path, int r)
{
        double alpha = json_number_value(json_object_get(cfg, "lora_alpha"));
        json_t *ap = json_object_get(cfg, "alpha_pattern");
        const char *key;
        json_t *v;
        json_object_foreach(ap, key, v) if (pattern_matches(key, path))
                alpha = json_number_value(v);
        int rs = json_is_true(json_object_get(cfg, "use_rslora"));
        return (float)(rs ? alpha / sqrt((double)r) : alpha / r);
}

static int
tensor_err(socfw_error *err, const char *path, const char *name,
           const char *msg, int64_t h0, int64_t h1, int64_t w0, int64_t w1)
{
        return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                  "tensor '%s' %s: it is (%lld, %lld), the "
                                  "model needs (%lld, %lld); hint: the "
                                  "adapter was made for another base model",
                                  name, msg, (long long)h0, (long long)h1,
                                  (long long)w0, (long long)w1);
}

static int
read_all(const socfw_modelfile *mf, const socfw_tensor_info *t, float **out,
         socfw_error *err)
{
        *out = malloc((size_t)t->nelem * sizeof **out);
        if (!*out)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        return socfw_modelfile_read_f32(mf, t, *out, (size_t)t->nelem, err);
}

/* The sites socfw's meta.json lists (0 when absent or unreadable). */
static unsigned
meta_sites(json_t *meta)
{
        json_t *sites = json_object_get(meta, "sites");
        unsigned bits = 0;
        for (size_t i = 0; i < json_array_size(sites); i++) {
                int s = socfw_site_parse(json_string_value(
                        json_array_get(sites, i)));
                if (s < 0)
                        return 0;
                bits |= SOCFW_SITE_BIT(s);
        }
        return bits;
}

static int
load_ia3(socfw_adapter **out, const socfw_model *m, json_t *cfg,
         json_t *meta, const socfw_modelfile *mf, const char *path,
         socfw_error *err)
{
        const socfw_model_config *mc = socfw_model_config_of(m);
        int L = mc->n_layers, C = mc->hidden;
        json_t *ff = json_object_get(cfg, "feedforward_modules");
        const socfw_tensor_info **f = calloc((size_t)L * SOCFW_SITE_COUNT,
                                             sizeof *f);
        if (!f)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        unsigned targets = 0;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < socfw_modelfile_n_tensors(mf); i++) {
                const socfw_tensor_info *t = socfw_modelfile_tensor(mf, i);
                int l;
                socfw_site s;
                if (locate(m, t->name, "ia3_l", &l, &s) < 0) {
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, path, 0, 0,
                                "tensor '%s' is not an IA3 vector of any %s "
                                "site", t->name, socfw_arch_name(mc->arch));
                        break;
                }
                int in, o;
                socfw_model_site_dims(m, s, &in, &o);
                int down = s == SOCFW_SITE_MLP_DOWN;
                /* is the module a feed-forward (input-scaled) one? */
                char leaf[160];
                module_leaf(m, s, leaf, sizeof leaf);
                int is_ff = 0;
                if (json_is_array(ff)) {
                        for (size_t k = 0; k < json_array_size(ff); k++) {
                                const char *key = json_string_value(
                                        json_array_get(ff, k));
                                char mod[160];
                                socfw_model_site_module(m, l, s, mod,
                                                        sizeof mod);
                                is_ff |= key && pattern_matches(key, mod);
                        }
                } else {
                        is_ff = t->ndim == 2 && t->shape[0] == 1 &&
                                t->shape[1] > 1;
                }
                if (is_ff != down) {
                        rc = socfw_error_set_at(
                                err, SOCFW_EUNSUPPORTED, path, 0, 0,
                                "tensor '%s': socfw's IA3 scales the input "
                                "of mlp.down and the output of every other "
                                "site; this file scales the %s of %s",
                                t->name, is_ff ? "input" : "output", leaf);
                        break;
                }
                int64_t want = down ? in : fused_qkv(m, s) ? 3 * C : o;
                if (t->nelem != want) {
                        rc = tensor_err(err, path, t->name, "does not fit",
                                        t->shape[0],
                                        t->ndim > 1 ? t->shape[1] : 1,
                                        down ? 1 : want, down ? want : 1);
                        break;
                }
                f[l * SOCFW_SITE_COUNT + s] = t;
                targets |= fused_qkv(m, s) ? 7u : SOCFW_SITE_BIT(s);
        }
        if (rc == 0 && !targets)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "the adapter has no IA3 tensors");
        /* socfw's own file: the q/k/v sites it was trained with, not all
         * three slices of GPT-2's c_attn (the others hold 1) */
        unsigned ms = meta_sites(meta);
        if (ms && (ms & targets) == ms)
                targets = ms;
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_IA3);
        ac.targets = targets;
        socfw_adapter *a = NULL;
        if (rc == 0)
                rc = socfw_adapter_new(&a, m, &ac, 0, err);
        for (int l = 0; rc == 0 && l < L; l++)
                for (int s = 0; rc == 0 && s < SOCFW_SITE_COUNT; s++) {
                        if (!socfw_adapter_has(a, l, (socfw_site)s))
                                continue;
                        int fs = fused_qkv(m, (socfw_site)s);
                        const socfw_tensor_info *t =
                                f[l * SOCFW_SITE_COUNT +
                                  (fs ? SOCFW_SITE_ATTN_Q : s)];
                        if (!t)
                                continue;       /* stays 1 */
                        float *v = NULL;
                        rc = read_all(mf, t, &v, err);
                        if (rc == 0) {
                                peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                                int64_t n = socfw_params_numel(a->ps, sl->t[0]);
                                memcpy(socfw_params_data(a->ps, sl->t[0]),
                                       v + (fs ? (size_t)s * C : 0),
                                       (size_t)n * sizeof *v);
                        }
                        free(v);
                }
        free(f);
        if (rc < 0) {
                socfw_adapter_free(a);
                return rc;
        }
        *out = a;
        return 0;
}

static int
load_bottleneck(socfw_adapter **out, const socfw_model *m, json_t *cfg,
                const socfw_modelfile *mf, const char *path,
                socfw_error *err)
{
        static const char *const what[4] = {
                "adapter_down.weight", "adapter_down.bias",
                "adapter_up.weight", "adapter_up.bias"};
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_BOTTLENECK);
        ac.targets = 0;
        json_int_t red = json_integer_value(json_object_get(cfg,
                                                            "reduction_factor"));
        const char *act = json_string_value(json_object_get(cfg,
                                                            "non_linearity"));
        ac.reduction_factor = red > 0 && red < 65536 ? (int)red : 16;
        ac.act = act && !strcmp(act, "gelu")   ? SOCFW_ADAPTER_ACT_GELU
                 : act && !strcmp(act, "silu") ? SOCFW_ADAPTER_ACT_SILU
                                               : SOCFW_ADAPTER_ACT_RELU;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < socfw_modelfile_n_tensors(mf); i++) {
                const socfw_tensor_info *t = socfw_modelfile_tensor(mf, i);
                int l, ok = 0;
                socfw_site s;
                for (int k = 0; k < 4 && !ok; k++)
                        ok = locate(m, t->name, what[k], &l, &s) == 0;
                if (!ok)
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, path, 0, 0,
                                "tensor '%s' is not a bottleneck adapter "
                                "tensor of any site", t->name);
                else
                        ac.targets |= SOCFW_SITE_BIT(s);
        }
        socfw_adapter *a = NULL;
        if (rc == 0)
                rc = socfw_adapter_new(&a, m, &ac, 0, err);
        for (int l = 0; rc == 0 && l < a->n_layers; l++)
                for (int s = 0; rc == 0 && s < SOCFW_SITE_COUNT; s++) {
                        if (!socfw_adapter_has(a, l, (socfw_site)s))
                                continue;
                        peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                        for (int k = 0; rc == 0 && k < 4; k++) {
                                char *name = tname(m, l, (socfw_site)s,
                                                   what[k]);
                                const socfw_tensor_info *t = NULL;
                                /* any prefix: find by suffix */
                                for (size_t i = 0; name && !t &&
                                                   i < socfw_modelfile_n_tensors(mf);
                                     i++) {
                                        const socfw_tensor_info *c =
                                                socfw_modelfile_tensor(mf, i);
                                        int cl;
                                        socfw_site cs;
                                        if (locate(m, c->name, what[k], &cl,
                                                   &cs) == 0 &&
                                            cl == l && (int)cs == s)
                                                t = c;
                                }
                                int64_t n = socfw_params_numel(a->ps,
                                                               sl->t[k]);
                                if (!t || t->nelem != n)
                                        rc = socfw_error_set_at(
                                                err, SOCFW_EFORMAT, path, 0,
                                                0, "tensor '%s' is missing "
                                                "or has %lld values, not "
                                                "%lld", name ? name : "?",
                                                t ? (long long)t->nelem : 0LL,
                                                (long long)n);
                                else
                                        rc = socfw_modelfile_read_f32(
                                                mf, t,
                                                socfw_params_data(a->ps,
                                                                  sl->t[k]),
                                                (size_t)n, err);
                                free(name);
                        }
                }
        if (rc < 0) {
                socfw_adapter_free(a);
                return rc;
        }
        *out = a;
        return 0;
}

/* The embedding LoRA of a file into a (made with cfg.embed at rank >=
 * the file's): A's rows, B's columns; a foreign file's alpha / r folded
 * into B as for the sites. */
static int
load_embedding(socfw_adapter *a, const socfw_model *m, json_t *cfg,
               int native, const socfw_tensor_info *EA,
               const socfw_tensor_info *EB, const socfw_modelfile *mf,
               socfw_error *err)
{
        int r = (int)EA->shape[0], Ra = a->cfg.rank;
        int V = a->shape.vocab_size, C = a->shape.hidden;
        float *dA = socfw_params_data(a->ps, a->emb_t[0]);
        float *dB = socfw_params_data(a->ps, a->emb_t[1]);
        float *A = NULL, *B = NULL;
        int rc = read_all(mf, EA, &A, err);
        if (rc == 0)
                rc = read_all(mf, EB, &B, err);
        if (rc == 0) {
                char mod[160];
                socfw_model_embed_module(m, mod, sizeof mod);
                float k = native ? 1.0f
                                 : lora_scale_for(cfg, mod, r) / a->scale;
                memset(dA, 0, (size_t)Ra * V * sizeof *dA);
                memset(dB, 0, (size_t)C * Ra * sizeof *dB);
                memcpy(dA, A, (size_t)r * V * sizeof *dA);
                for (int c = 0; c < C; c++)
                        for (int q = 0; q < r; q++)
                                dB[(size_t)c * Ra + q] =
                                        k * B[(size_t)c * r + q];
        }
        free(A);
        free(B);
        return rc;
}

/* LoRA ("LORA": lora_A.weight (r,in), lora_B.weight (out,r)) and AdaLoRA
 * ("ADALORA": lora_A, lora_B, lora_E (r,1)), one module each.
 *
 * socfw's own files (meta.json's sites and rank fit the tensors) load back
 * into exactly the structure that was saved - same sites, rank and scale,
 * GPT-2's c_attn split into its q, k, v sites again - so a run's
 * checkpoint and its adapter files agree.  Other files get one rank for
 * every site (the largest; smaller modules zero-padded, AdaLoRA's padding
 * with E = 0) and each module's own scale folded into its B: LoRA's alpha /
 * r from alpha_pattern / rank_pattern (alpha / sqrt(r) with use_rslora),
 * AdaLoRA's alpha / (r + 1e-5).  A c_attn module becomes the q, k, v sites
 * whose rows of B are not all zero, each with the module's A (and E). */
static int
load_lowrank(socfw_adapter **out, const socfw_model *m, json_t *cfg,
             json_t *meta, const socfw_modelfile *mf, const char *path,
             int ada, socfw_error *err)
{
        const char *const what[3] = {ada ? "lora_A" : "lora_A.weight",
                                     ada ? "lora_B" : "lora_B.weight",
                                     "lora_E"};
        int nt = ada ? 3 : 2;
        const socfw_model_config *mc = socfw_model_config_of(m);
        int L = mc->n_layers, C = mc->hidden, R = 0, rc = 0;
        /* the module tensors by (layer, site); GPT-2's c_attn at attn.q */
        const socfw_tensor_info **f = calloc((size_t)L * SOCFW_SITE_COUNT * 3,
                                             sizeof *f);
        if (!f)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
#define F(l, s, k) f[((size_t)(l) * SOCFW_SITE_COUNT + (size_t)(s)) * 3 + (k)]
        /* a LoRA on the token embedding: lora_embedding_A (r, vocab),
         * lora_embedding_B (hidden, r) */
        const socfw_tensor_info *EA = NULL, *EB = NULL;
        int V = mc->vocab_size;
        for (size_t i = 0; rc == 0 && i < socfw_modelfile_n_tensors(mf); i++) {
                const socfw_tensor_info *t = socfw_modelfile_tensor(mf, i);
                int l = 0, k = -1;
                if (!ada && embed_tensor(m, t->name, "lora_embedding_A")) {
                        EA = t;
                        continue;
                }
                if (!ada && embed_tensor(m, t->name, "lora_embedding_B")) {
                        EB = t;
                        continue;
                }
                socfw_site s = SOCFW_SITE_ATTN_Q;
                for (int q = 0; q < nt && k < 0; q++)
                        if (locate(m, t->name, what[q], &l, &s) == 0)
                                k = q;
                if (k < 0 || t->ndim != 2)
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, path, 0, 0,
                                "tensor '%s' is not a %s matrix of any %s "
                                "site; hint: the adapter was made for another "
                                "architecture", t->name,
                                ada ? "AdaLoRA" : "LoRA",
                                socfw_arch_name(mc->arch));
                else
                        F(l, s, k) = t;
                if (rc == 0 && k == 0 && t->shape[0] > R)
                        R = (int)t->shape[0];
        }
        /* shapes, partners, and the sites that carry anything */
        unsigned targets = 0;
        for (int l = 0; rc == 0 && l < L; l++)
                for (int s = 0; rc == 0 && s < SOCFW_SITE_COUNT; s++) {
                        const socfw_tensor_info *A = F(l, s, 0),
                                                *B = F(l, s, 1),
                                                *E = ada ? F(l, s, 2) : NULL;
                        if (!A && !B && !E)
                                continue;
                        if (!A || !B || (ada && !E)) {
                                rc = socfw_error_set_at(
                                        err, SOCFW_EFORMAT, path, 0, 0,
                                        "tensor '%s' lacks a partner (lora_A, "
                                        "lora_B%s); hint: the file is "
                                        "incomplete", (A ? A : B ? B : E)->name,
                                        ada ? ", lora_E" : "");
                                break;
                        }
                        int in, o, fs = fused_qkv(m, (socfw_site)s);
                        socfw_model_site_dims(m, (socfw_site)s, &in, &o);
                        if (fs)
                                o = 3 * C;
                        int r = (int)A->shape[0];
                        if (A->shape[1] != in)
                                rc = tensor_err(err, path, A->name,
                                                "does not fit", A->shape[0],
                                                A->shape[1], r, in);
                        else if (B->shape[0] != o || B->shape[1] != r)
                                rc = tensor_err(err, path, B->name,
                                                "does not fit", B->shape[0],
                                                B->shape[1], o, r);
                        else if (E && E->nelem != r)
                                rc = tensor_err(err, path, E->name,
                                                "does not fit", E->shape[0],
                                                E->shape[1], r, 1);
                        if (rc < 0 || !fs) {
                                targets |= SOCFW_SITE_BIT(s);
                                continue;
                        }
                        float *b = NULL;
                        rc = read_all(mf, B, &b, err);
                        for (int q = 0; rc == 0 && q < 3; q++) {
                                size_t nz = 0;
                                for (size_t k = (size_t)q * C * r;
                                     k < (size_t)(q + 1) * C * r; k++)
                                        nz += b[k] != 0.0f;
                                if (nz)
                                        targets |= SOCFW_SITE_BIT(q);
                        }
                        free(b);
                }
        if (rc == 0 && (EA || EB) && (!EA || !EB))
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "tensor '%s' lacks a partner "
                                        "(lora_embedding_A, "
                                        "lora_embedding_B); hint: the file is "
                                        "incomplete", (EA ? EA : EB)->name);
        if (rc == 0 && EA && (EA->ndim != 2 || EA->shape[1] != V))
                rc = tensor_err(err, path, EA->name, "does not fit",
                                EA->shape[0], EA->ndim == 2 ? EA->shape[1] : 1,
                                EA->shape[0], V);
        if (rc == 0 && EA &&
            (EB->ndim != 2 || EB->shape[0] != C ||
             EB->shape[1] != EA->shape[0]))
                rc = tensor_err(err, path, EB->name, "does not fit",
                                EB->shape[0], EB->ndim == 2 ? EB->shape[1] : 1,
                                C, EA->shape[0]);
        if (rc == 0 && EA && EA->shape[0] > R)
                R = (int)EA->shape[0];
        if (rc == 0 && !targets && !EA)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "the adapter has no %s tensors",
                                        ada ? "AdaLoRA" : "LoRA");
        /* socfw's own file? its sites and rank must fit every tensor */
        const char *mtype = json_string_value(json_object_get(meta, "type"));
        unsigned ms = meta_sites(meta);
        int mr = (int)json_integer_value(json_object_get(meta, "rank"));
        int nq = 0;
        for (int s = 0; s < 3; s++)
                nq += fused_qkv(m, (socfw_site)s) && (ms & SOCFW_SITE_BIT(s));
        int membed = json_is_true(json_object_get(meta, "embed"));
        int native = rc == 0 && mtype &&
                     !strcmp(mtype, ada ? "adalora" : "lora") &&
                     (ms || membed) && mr > 0 &&
                     (EA ? membed && EA->shape[0] == mr : !membed);
        for (int l = 0; native && l < L; l++)
                for (int s = 0; native && s < SOCFW_SITE_COUNT; s++) {
                        int fs = fused_qkv(m, (socfw_site)s);
                        if (fs && s != SOCFW_SITE_ATTN_Q)
                                continue;
                        int want = fs ? nq > 0 : (ms & SOCFW_SITE_BIT(s)) != 0;
                        const socfw_tensor_info *A = F(l, s, 0);
                        if (A ? A->shape[0] != (fs ? nq * mr : mr) : want)
                                native = 0;
                }
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, ada ? SOCFW_ADAPTER_ADALORA
                                              : SOCFW_ADAPTER_LORA);
        double alpha = json_number_value(json_object_get(cfg, "lora_alpha"));
        ac.targets = native ? ms : targets;
        ac.embed = EA != NULL;
        ac.rank = native ? mr : R;
        ac.alpha = native || ada ? (float)alpha : (float)R;
        if (!(ac.alpha > 0.0f))
                ac.alpha = (float)ac.rank;
        ac.use_rslora = native && !ada &&
                        json_is_true(json_object_get(cfg, "use_rslora"));
        ac.dropout = (float)json_number_value(json_object_get(cfg,
                                                              "lora_dropout"));
        if (!(ac.dropout >= 0.0f && ac.dropout < 1.0f))
                ac.dropout = 0.0f;
        if (ada) {
                json_int_t tr = json_integer_value(json_object_get(cfg,
                                                                   "target_r"));
                ac.target_r = tr >= 1 && tr <= ac.rank ? (int)tr : ac.rank;
        }
        socfw_adapter *a = NULL;
        if (rc == 0)
                rc = socfw_adapter_new(&a, m, &ac, 0, err);
        for (int l = 0; rc == 0 && l < L; l++)
                for (int s = 0; rc == 0 && s < SOCFW_SITE_COUNT; s++) {
                        if (!socfw_adapter_has(a, l, (socfw_site)s))
                                continue;
                        peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                        int in = a->in[s], o = a->out[s], Ra = ac.rank;
                        float *dA = socfw_params_data(a->ps, sl->t[0]);
                        float *dB = socfw_params_data(a->ps, sl->t[1]);
                        float *dE = ada ? socfw_params_data(a->ps, sl->t[2])
                                        : NULL;
                        memset(dA, 0, (size_t)Ra * in * sizeof *dA);
                        memset(dB, 0, (size_t)o * Ra * sizeof *dB);
                        if (dE)
                                memset(dE, 0, (size_t)Ra * sizeof *dE);
                        int fs = fused_qkv(m, (socfw_site)s);
                        int ms_site = fs ? SOCFW_SITE_ATTN_Q : s;
                        if (!F(l, ms_site, 0))
                                continue;       /* not in this layer */
                        int r = (int)F(l, ms_site, 0)->shape[0];
                        float *A = NULL, *B = NULL, *E = NULL;
                        rc = read_all(mf, F(l, ms_site, 0), &A, err);
                        if (rc == 0)
                                rc = read_all(mf, F(l, ms_site, 1), &B, err);
                        if (rc == 0 && ada)
                                rc = read_all(mf, F(l, ms_site, 2), &E, err);
                        /* the rows of the module's A (E) that are this
                         * site's: its block for socfw's fused files */
                        int j0 = 0, nr = r;
                        if (native && fs) {
                                nr = mr;
                                for (int q = 0; q < s; q++)
                                        j0 += (ms & SOCFW_SITE_BIT(q)) ? mr : 0;
                        }
                        /* general files: the module's scale into B */
                        float k = 1.0f;
                        if (!native) {
                                char mod[160];
                                socfw_model_site_module(m, l, (socfw_site)s,
                                                        mod, sizeof mod);
                                k = ada ? ((float)Ra + 1e-5f) /
                                                  ((float)r + 1e-5f)
                                        : lora_scale_for(cfg, mod, r) /
                                                  a->scale;
                        }
                        size_t row0 = fs ? (size_t)s * C : 0;
                        for (int q = 0; rc == 0 && q < nr; q++) {
                                memcpy(dA + (size_t)q * in,
                                       A + (size_t)(j0 + q) * in,
                                       (size_t)in * sizeof *dA);
                                if (dE)
                                        dE[q] = E[j0 + q];
                                for (int oo = 0; oo < o; oo++)
                                        dB[(size_t)oo * Ra + q] =
                                                k * B[(row0 + oo) * r + j0 + q];
                        }
                        free(A);
                        free(B);
                        free(E);
                }
#undef F
        free(f);
        if (rc == 0 && EA)
                rc = load_embedding(a, m, cfg, native, EA, EB, mf, err);
        if (rc < 0) {
                socfw_adapter_free(a);
                return rc;
        }
        *out = a;
        return 0;
}

/* PREFIX_TUNING: prompt_embeddings (P, layers x 2 x kd), as PEFT saves a
 * prefix (its projection, if any, already applied). */
static int
load_prefix(socfw_adapter **out, const socfw_model *m, json_t *cfg,
            const socfw_modelfile *mf, const char *path, socfw_error *err)
{
        const socfw_model_config *mc = socfw_model_config_of(m);
        int L = mc->n_layers, kd = mc->n_kv_heads * mc->head_dim;
        const socfw_tensor_info *t = socfw_modelfile_find(mf,
                                                          "prompt_embeddings");
        json_int_t P = json_integer_value(json_object_get(cfg,
                                                          "num_virtual_tokens"));
        int64_t row = (int64_t)L * 2 * kd;
        if (!t)
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                          "tensor 'prompt_embeddings' is "
                                          "missing");
        if (t->ndim != 2 || t->shape[1] != row || (P > 0 && t->shape[0] != P))
                return tensor_err(err, path, t->name, "does not fit",
                                  t->shape[0], t->ndim > 1 ? t->shape[1] : 1,
                                  P > 0 ? P : t->shape[0], row);
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PREFIX);
        ac.prefix_length = (int)t->shape[0];
        socfw_adapter *a = NULL;
        int rc = socfw_adapter_new(&a, m, &ac, 0, err);
        float *e = NULL;
        if (rc == 0)
                rc = read_all(mf, t, &e, err);
        for (int j = 0; rc == 0 && j < ac.prefix_length; j++)
                for (int l = 0; l < L; l++)
                        for (int v = 0; v < 2; v++)
                                memcpy((float *)peft_prefix(a, l, v) +
                                               (size_t)j * kd,
                                       e + j * row + ((size_t)l * 2 + v) * kd,
                                       (size_t)kd * sizeof *e);
        free(e);
        if (rc < 0) {
                socfw_adapter_free(a);
                return rc;
        }
        *out = a;
        return 0;
}

int
socfw_adapter_load(socfw_adapter **out, const socfw_model *m, const char *dir,
                   bool check_base, socfw_error *err)
{
        *out = NULL;
        char path[4200];
        json_error_t je;
        snprintf(path, sizeof path, "%s/adapter_config.json", dir);
        json_t *cfg = json_load_file(path, 0, &je);
        if (!cfg)
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, je.line,
                                          je.column, "%s (hint: an adapter "
                                          "directory holds "
                                          "adapter_config.json and "
                                          "adapter_model.safetensors)",
                                          je.text);
        int rc = 0;
        const char *type = json_string_value(json_object_get(cfg,
                                                             "peft_type"));
        const char *bias = json_string_value(json_object_get(cfg, "bias"));
        json_t *mts = json_object_get(cfg, "modules_to_save");
        if (!type)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "peft_type is missing");
        else if (strcmp(type, "LORA") && strcmp(type, "IA3") &&
                 strcmp(type, "ADALORA") && strcmp(type, "PREFIX_TUNING") &&
                 strcmp(type, "PROMPT_TUNING") &&
                 strcmp(type, "SOCFW_BOTTLENECK"))
                rc = socfw_error_set_at(err, SOCFW_EUNSUPPORTED, path, 0, 0,
                                        "peft_type %s is not supported; "
                                        "hint: socfw reads LORA, ADALORA, IA3, "
                                        "PREFIX_TUNING, PROMPT_TUNING and its "
                                        "own "
                                        "SOCFW_BOTTLENECK", type);
        else if (json_is_true(json_object_get(cfg, "use_dora")))
                rc = socfw_error_set_at(err, SOCFW_EUNSUPPORTED, path, 0, 0,
                                        "use_dora: DoRA adapters are not "
                                        "supported");
        else if (bias && strcmp(bias, "none") != 0)
                rc = socfw_error_set_at(err, SOCFW_EUNSUPPORTED, path, 0, 0,
                                        "bias: '%s': adapters that train "
                                        "biases are not supported", bias);
        else if (mts && !json_is_null(mts) &&
                 !(json_is_array(mts) && json_array_size(mts) == 0))
                rc = socfw_error_set_at(err, SOCFW_EUNSUPPORTED, path, 0, 0,
                                        "modules_to_save: the adapter "
                                        "carries whole trained modules, "
                                        "which socfw cannot load; hint: "
                                        "export the adapter without them");
        char meta_path[4200];
        snprintf(meta_path, sizeof meta_path, "%s/meta.json", dir);
        json_t *meta = rc == 0 ? json_load_file(meta_path, 0, &je) : NULL;
        if (rc == 0 && check_base && meta) {
                const char *fp = json_string_value(json_object_get(
                        json_object_get(meta, "base_model"), "fingerprint"));
                char have[65];
                socfw_model_fingerprint(m, have);
                if (fp && strcmp(fp, have) != 0)
                        rc = socfw_error_set_at(
                                err, SOCFW_EINVAL, meta_path, 0, 0,
                                "base_model.fingerprint: the adapter was "
                                "trained on a base model with fingerprint "
                                "%.16s..., this model has %.16s...; hint: "
                                "load the base model it was trained on",
                                fp, have);
        }
        socfw_modelfile *mf = NULL;
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        if (rc == 0)
                rc = socfw_modelfile_open(&mf, path, err);
        if (rc == 0 && !strcmp(type, "LORA"))
                rc = load_lowrank(out, m, cfg, meta, mf, path, 0, err);
        else if (rc == 0 && !strcmp(type, "PREFIX_TUNING"))
                rc = load_prefix(out, m, cfg, mf, path, err);
        else if (rc == 0 && !strcmp(type, "PROMPT_TUNING"))
                rc = peft_prompt_load(out, m, cfg, mf, path, err);
        else if (rc == 0 && !strcmp(type, "ADALORA"))
                rc = load_lowrank(out, m, cfg, meta, mf, path, 1, err);
        else if (rc == 0 && !strcmp(type, "IA3"))
                rc = load_ia3(out, m, cfg, meta, mf, path, err);
        else if (rc == 0)
                rc = load_bottleneck(out, m, cfg, mf, path, err);
        socfw_modelfile_close(mf);
        json_decref(meta);
        json_decref(cfg);
        return rc;
}

/* prompt.c - prompt tuning (Lester et al. 2021; PEFT's PROMPT_TUNING): an
 * adapter of P learned input embeddings that the backbone's forward puts
 * in front of every sequence (framework/arch/forward.c) and KV decoding
 * runs through the blocks once (decode.c).  Here: its tensor, its
 * initialisation, and its files in PEFT's layout
 * (adapter_model.safetensors: prompt_embeddings (P, hidden)). */
#include "peft/adapter_impl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch_internal.h"
#include "socfw/modelfile.h"

int
socfw_adapter_prompt_length(const socfw_adapter *a)
{
        return a && a->cfg.type == SOCFW_ADAPTER_PROMPT
                       ? a->cfg.num_virtual_tokens
                       : 0;
}

const float *
peft_prompt(const socfw_adapter *a)
{
        if (!a || a->cfg.type != SOCFW_ADAPTER_PROMPT || a->prompt_t < 0)
                return NULL;
        return socfw_params_data(a->ps, a->prompt_t);
}

float *
peft_prompt_grad(socfw_adapter *a)
{
        if (!a || a->cfg.type != SOCFW_ADAPTER_PROMPT || a->prompt_t < 0)
                return NULL;
        return socfw_params_grad(a->ps, a->prompt_t);
}

int
peft_prompt_add(socfw_adapter *a, socfw_error *err)
{
        int64_t shape[2] = {a->cfg.num_virtual_tokens, a->shape.hidden};
        a->prompt_t = socfw_params_add(a->ps, "prompt_embeddings", 2, shape,
                                       err);
        return a->prompt_t < 0 ? a->prompt_t : 0;
}

void
peft_prompt_init(socfw_adapter *a, const socfw_model *m, socfw_rng *rng)
{
        if (a->cfg.prompt_init != SOCFW_PROMPT_INIT_VOCAB) {
                /* nn.Embedding's N(0, 1), as PEFT's RANDOM */
                socfw_params_init_normal(a->ps, a->prompt_t, 0.0f, 1.0f, rng);
                return;
        }
        /* rows of the frozen token embedding at uniformly drawn ids (any
         * format the model keeps it in) */
        int P = a->cfg.num_virtual_tokens, V = a->shape.vocab_size;
        float *e = socfw_params_data(a->ps, a->prompt_t);
        for (int j = 0; j < P; j++) {
                int32_t id = (int32_t)socfw_rng_below(rng, (uint64_t)V);
                arch_embed(m, e + (size_t)j * a->shape.hidden, &id, 1);
        }
}

/* ---- files -------------------------------------------------------------- */

void
peft_prompt_config(const socfw_adapter *a, json_t *j)
{
        const socfw_model_config *s = &a->shape;
        json_object_del(j, "target_modules");
        json_object_set_new(j, "num_virtual_tokens",
                            json_integer(a->cfg.num_virtual_tokens));
        json_object_set_new(j, "token_dim", json_integer(s->hidden));
        json_object_set_new(j, "num_transformer_submodules", json_integer(1));
        json_object_set_new(j, "num_attention_heads",
                            json_integer(s->n_heads));
        json_object_set_new(j, "num_layers", json_integer(s->n_layers));
        json_object_set_new(j, "prompt_tuning_init",
                            json_string(a->cfg.prompt_init ==
                                                        SOCFW_PROMPT_INIT_VOCAB
                                                ? "SAMPLE_VOCAB"
                                                : "RANDOM"));
        json_object_set_new(j, "prompt_tuning_init_text", json_null());
        json_object_set_new(j, "tokenizer_name_or_path", json_null());
        json_object_set_new(j, "tokenizer_kwargs", json_null());
}

int
peft_prompt_load(socfw_adapter **out, const socfw_model *m, json_t *cfg,
                 const socfw_modelfile *mf, const char *path,
                 socfw_error *err)
{
        const socfw_model_config *mc = socfw_model_config_of(m);
        *out = NULL;
        json_t *sub = json_object_get(cfg, "num_transformer_submodules");
        if (json_is_integer(sub) && json_integer_value(sub) != 1)
                return socfw_error_set_at(
                        err, SOCFW_EUNSUPPORTED, path, 0, 0,
                        "num_transformer_submodules %lld: a prompt for an "
                        "encoder-decoder model; socfw's backbones take one "
                        "prompt (1)",
                        (long long)json_integer_value(sub));
        json_t *td = json_object_get(cfg, "token_dim");
        if (json_is_integer(td) && json_integer_value(td) != mc->hidden)
                return socfw_error_set_at(
                        err, SOCFW_EINVAL, path, 0, 0,
                        "token_dim %lld: the model's hidden size is %d; "
                        "hint: the adapter was made for another base model",
                        (long long)json_integer_value(td), mc->hidden);
        const socfw_tensor_info *t = socfw_modelfile_find(mf,
                                                          "prompt_embeddings");
        if (!t)
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                          "tensor 'prompt_embeddings' is "
                                          "missing");
        json_int_t P = json_integer_value(json_object_get(
                cfg, "num_virtual_tokens"));
        int64_t rows = P > 0 ? (int64_t)P : t->shape[0];
        if (t->ndim != 2 || t->shape[0] != rows ||
            t->shape[1] != mc->hidden)
                return socfw_error_set_at(
                        err, SOCFW_EFORMAT, path, 0, 0,
                        "tensor 'prompt_embeddings' does not fit: it is "
                        "(%lld, %lld), the model needs (%lld, %d) "
                        "(num_virtual_tokens x hidden); hint: the adapter "
                        "was made for another base model",
                        (long long)t->shape[0],
                        (long long)(t->ndim > 1 ? t->shape[1] : 1),
                        (long long)rows, mc->hidden);
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PROMPT);
        ac.num_virtual_tokens = (int)rows;
        const char *init = json_string_value(json_object_get(
                cfg, "prompt_tuning_init"));
        if (init && !strcmp(init, "SAMPLE_VOCAB"))
                ac.prompt_init = SOCFW_PROMPT_INIT_VOCAB;
        socfw_adapter *a = NULL;
        int rc = socfw_adapter_new(&a, m, &ac, 0, err);
        if (rc == 0)
                rc = socfw_modelfile_read_f32(
                        mf, t, socfw_params_data(a->ps, a->prompt_t),
                        (size_t)t->nelem, err);
        if (rc < 0) {
                socfw_adapter_free(a);
                return socfw_error_prefix(err, rc, "%s", path);
        }
        *out = a;
        return 0;
}

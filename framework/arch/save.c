/* save.c - writing a backbone as a Hugging Face directory (config.json +
 * model.safetensors) that socfw and transformers both read. */
#define _GNU_SOURCE /* asprintf */
#include "arch_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "socfw/io.h"
#include "socfw/safetensors.h"

/* ---- config.json -------------------------------------------------------- */

static json_t *
hf_config(const socfw_model_config *c)
{
        switch (c->arch) {
        case SOCFW_ARCH_GPT2:
                return json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:f, "
                                 "s:s, s:b, s:i, s:i}",
                                 "model_type", "gpt2", "architectures",
                                 "GPT2LMHeadModel", "vocab_size",
                                 c->vocab_size, "n_embd", c->hidden,
                                 "n_layer", c->n_layers, "n_head", c->n_heads,
                                 "n_positions", c->max_positions,
                                 "layer_norm_epsilon", (double)c->norm_eps,
                                 "activation_function", "gelu_new",
                                 "tie_word_embeddings", c->tie_embeddings,
                                 "bos_token_id", c->bos_id, "eos_token_id",
                                 c->eos_id);
        case SOCFW_ARCH_LLAMA:
                return json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:i, "
                                 "s:i, s:f, s:f, s:s, s:b, s:i, s:i}",
                                 "model_type", "llama", "architectures",
                                 "LlamaForCausalLM", "vocab_size",
                                 c->vocab_size, "hidden_size", c->hidden,
                                 "intermediate_size", c->ffn,
                                 "num_hidden_layers", c->n_layers,
                                 "num_attention_heads", c->n_heads,
                                 "num_key_value_heads", c->n_kv_heads,
                                 "max_position_embeddings", c->max_positions,
                                 "rms_norm_eps", (double)c->norm_eps,
                                 "rope_theta", (double)c->rope_theta,
                                 "hidden_act", "silu", "tie_word_embeddings",
                                 c->tie_embeddings, "bos_token_id", c->bos_id,
                                 "eos_token_id", c->eos_id);
        case SOCFW_ARCH_BERT:
        case SOCFW_ARCH_ROBERTA: {
                int bert = c->arch == SOCFW_ARCH_BERT;
                json_t *j = json_pack(
                        "{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:s, s:i, "
                        "s:i, s:f, s:i, s:s, s:f, s:f, s:f, s:b}",
                        "model_type", bert ? "bert" : "roberta",
                        "architectures",
                        bert ? "BertForMaskedLM" : "RobertaForMaskedLM",
                        "vocab_size", c->vocab_size, "hidden_size", c->hidden,
                        "num_hidden_layers", c->n_layers,
                        "num_attention_heads", c->n_heads,
                        "intermediate_size", c->ffn, "hidden_act",
                        c->act == SOCFW_ACT_GELU_TANH ? "gelu_new" : "gelu",
                        "max_position_embeddings", c->max_positions,
                        "type_vocab_size", c->type_vocab_size,
                        "layer_norm_eps", (double)c->norm_eps, "pad_token_id",
                        c->pad_id, "position_embedding_type", "absolute",
                        "hidden_dropout_prob", 0.1,
                        "attention_probs_dropout_prob", 0.1,
                        "initializer_range", 0.02, "tie_word_embeddings", 1);
                if (j && c->bos_id >= 0)
                        json_object_set_new(j, "bos_token_id",
                                            json_integer(c->bos_id));
                if (j && c->eos_id >= 0)
                        json_object_set_new(j, "eos_token_id",
                                            json_integer(c->eos_id));
                return j;
        }
        default:
                return NULL;
        }
}

/* ---- the directory ------------------------------------------------------ */

int
socfw_model_save(socfw_model *m, const char *dir,
                 const struct socfw_tensor_info *extra, size_t n_extra,
                 socfw_error *err)
{
        const socfw_model_config *mc = &m->cfg;
        int rq = arch_refuse_quantized(m, "saving", err);
        if (rq < 0)
                return rq;
        json_t *cfg = hf_config(mc);
        if (!cfg)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "saving a %s backbone is not "
                                       "supported yet",
                                       socfw_arch_name(mc->arch));
        int rc = socfw_dir_make(dir, 0755, err);
        char *text = json_dumps(cfg, JSON_INDENT(2));
        json_decref(cfg);
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", dir);
        if (rc == 0)
                rc = text ? socfw_file_write_atomic(path, text, strlen(text),
                                                    err)
                          : socfw_error_set(err, SOCFW_ENOMEM,
                                            "out of memory");
        free(text);
        socfw_params *ps = m->ps;
        size_t n = (size_t)socfw_params_count(ps);
        const char *add = "";
        if (!m->prefix[0])
                add = mc->arch == SOCFW_ARCH_BERT      ? "bert."
                      : mc->arch == SOCFW_ARCH_ROBERTA ? "roberta."
                                                       : "";
        socfw_tensor_info *ti = calloc(n + n_extra + 1, sizeof *ti);
        char **names = calloc(n + 1, sizeof *names);
        if (rc == 0 && (!ti || !names))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t k = 0; rc == 0 && k < n; k++) {
                if (add[0] && asprintf(&names[k], "%s%s", add,
                                       socfw_params_name(ps, (int)k)) < 0) {
                        names[k] = NULL;
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        break;
                }
                socfw_safetensors_tensor_of(&ti[k], ps, (int)k, names[k]);
        }
        for (size_t k = 0; rc == 0 && k < n_extra; k++)
                ti[n + k] = extra[k];
        socfw_safetensors_kv kv[1] = {{"format", "pt"}};
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (rc == 0)
                rc = socfw_safetensors_write(path, ti, n + n_extra, kv, 1,
                                             err);
        for (size_t k = 0; names && k < n; k++)
                free(names[k]);
        free(names);
        free(ti);
        return rc;
}

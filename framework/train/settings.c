/* settings.c - the train:, pretrain: and backbone: sections as typed
 * values (settings.h). */
#include "train/settings.h"

#include <stdlib.h>
#include <string.h>

#include "socfw/error.h"

#include "socfw/config.h"

int
rt_train_settings_read(rt_train_settings *s, const socfw_pipeline *p)
{
        const socfw_config *tr = socfw_pipeline_section(p, "train");
        memset(s, 0, sizeof *s);
        socfw_adamw_config_default(&s->adamw);
        s->lr = socfw_config_get_float(tr, "lr");
        s->adamw.lr = (float)s->lr;
        s->adamw.beta1 = (float)socfw_config_get_float(tr, "beta1");
        s->adamw.beta2 = (float)socfw_config_get_float(tr, "beta2");
        s->adamw.eps = (float)socfw_config_get_float(tr, "eps");
        s->adamw.weight_decay = (float)socfw_config_get_float(tr,
                                                              "weight_decay");
        s->batch_size = (int)socfw_config_get_int(tr, "batch_size");
        s->grad_accum = (int)socfw_config_get_int(tr, "grad_accum");
        s->epochs = (int)socfw_config_get_int(tr, "epochs");
        s->max_steps = (long)socfw_config_get_int(tr, "max_steps");
        s->warmup = socfw_config_get_float(tr, "warmup");
        int kind = socfw_lr_schedule_kind_parse(
                socfw_config_get_string(tr, "schedule"));
        s->schedule = kind < 0 ? 0 : kind;
        s->min_lr_ratio = socfw_config_get_float(tr, "min_lr_ratio");
        s->grad_clip = (float)socfw_config_get_float(tr, "grad_clip");
        s->seed = (uint64_t)socfw_config_get_int(tr, "seed");
        s->eval_every = (long)socfw_config_get_int(tr, "eval_every");
        s->eval_before = socfw_config_get_bool(tr, "eval_before");
        s->log_every = (long)socfw_config_get_int(tr, "log_every");
        s->dist_timeout = socfw_config_get_float(tr, "dist_timeout");
        s->checkpoint_every = (long)socfw_config_get_int(tr,
                                                         "checkpoint_every");
        s->keep_best = socfw_config_get_bool(tr, "keep_best");
        const char *bad = socfw_config_get_string(tr, "on_bad_row");
        s->skip_bad_rows = bad && !strcmp(bad, "skip");
        s->es_metric = socfw_config_get_string(tr, "early_stopping.metric");
        s->es_patience = (int)socfw_config_get_int(tr,
                                                   "early_stopping.patience");
        const char *mode = socfw_config_get_string(tr, "early_stopping.mode");
        s->es_mode = mode && !strcmp(mode, "max")   ? RT_ES_MAX
                     : mode && !strcmp(mode, "min") ? RT_ES_MIN
                                                    : RT_ES_AUTO;
        s->es_min_delta = socfw_config_get_float(tr,
                                                 "early_stopping.min_delta");
        s->eval_batch_size = (int)socfw_config_get_int(
                socfw_pipeline_section(p, "evaluate"), "batch_size");
        return 0;
}

int
rt_task_settings_read(rt_task_settings *s, const socfw_config *task,
                      const socfw_config *head, const socfw_config *loss)
{
        memset(s, 0, sizeof *s);
        s->data_train = socfw_config_get_string(task, "data.train");
        s->data_valid = socfw_config_get_string(task, "data.valid");
        s->data_test = socfw_config_get_string(task, "data.test");
        s->label_field = socfw_config_get_string(task, "data.label_field");
        s->data_format = socfw_config_get_string(task, "data.format");
        s->weight = (float)socfw_config_get_float(task, "weight");
        if (loss) {
                s->loss_type = socfw_config_get_string(loss, "type");
                s->class_weights = socfw_config_get_string(loss,
                                                           "class_weights");
        }
        const char *lt = head ? socfw_config_get_string(head, "label_token")
                              : NULL;
        s->label_last = lt && !strcmp(lt, "last");
        return 0;
}

/* The strings of list `key` (borrowed), in a new array. */
static int
read_list(const socfw_config *c, const char *key, const char ***out,
          size_t *n)
{
        *n = socfw_config_list_len(c, key);
        *out = NULL;
        if (*n == 0)
                return 0;
        if (!(*out = calloc(*n, sizeof **out)))
                return SOCFW_ENOMEM;
        for (size_t i = 0; i < *n; i++)
                (*out)[i] = socfw_config_list_get(c, key, i);
        return 0;
}

int
rt_pretrain_settings_read(rt_pretrain_settings *s, const socfw_pipeline *p)
{
        const socfw_config *c = socfw_pipeline_section(p, "pretrain");
        memset(s, 0, sizeof *s);
        s->section = c;
        s->objective = socfw_config_get_string(c, "objective");
        s->valid_tokens = (size_t)socfw_config_get_int(c, "valid_tokens");
        s->eval_every = (long)socfw_config_get_int(c, "eval_every");
        s->max_corpus_bytes = (size_t)socfw_config_get_int(c, "max_corpus_mb")
                              << 20;
        s->steps = (long)socfw_config_get_int(c, "steps");
        s->batch_size = (int)socfw_config_get_int(c, "batch_size");
        s->seq_len = (int)socfw_config_get_int(c, "seq_len");
        s->lr = socfw_config_get_float(c, "lr");
        s->warmup = socfw_config_get_float(c, "warmup");
        s->max_minutes = socfw_config_get_float(c, "max_minutes");
        s->chunked = socfw_config_get_bool(c, "chunked");
        s->checkpoint_every = (long)socfw_config_get_int(c,
                                                         "checkpoint_every");
        s->mask_prob = (float)socfw_config_get_float(c, "mask_prob");
        s->whole_word_mask = socfw_config_get_bool(c, "whole_word_mask");
        s->reuse = socfw_config_get_bool(c, "reuse");
        s->tokenizer_type = socfw_config_get_string(c, "tokenizer.type");
        s->vocab_size = (size_t)socfw_config_get_int(c,
                                                     "tokenizer.vocab_size");
        if (read_list(c, "corpus", &s->corpus, &s->n_corpus) < 0 ||
            read_list(c, "valid", &s->valid, &s->n_valid) < 0) {
                rt_pretrain_settings_clear(s);
                return SOCFW_ENOMEM;
        }
        return 0;
}

void
rt_pretrain_settings_clear(rt_pretrain_settings *s)
{
        free(s->corpus);
        free(s->valid);
        s->corpus = s->valid = NULL;
        s->n_corpus = s->n_valid = 0;
}

int
rt_backbone_settings_read(rt_backbone_settings *s, const socfw_pipeline *p)
{
        const socfw_config *c = socfw_pipeline_section(p, "backbone");
        memset(s, 0, sizeof *s);
        s->section = c;
        s->model = socfw_config_get_string(c, "model");
        s->tokenizer = socfw_config_get_string(c, "tokenizer");
        s->keep_quantized = socfw_config_get_bool(c, "keep_quantized");
        s->arch = socfw_config_get_string(c, "arch");
        s->hidden = (int)socfw_config_get_int(c, "hidden");
        s->layers = (int)socfw_config_get_int(c, "layers");
        s->heads = (int)socfw_config_get_int(c, "heads");
        s->kv_heads = (int)socfw_config_get_int(c, "kv_heads");
        s->ffn = (int)socfw_config_get_int(c, "ffn");
        s->max_positions = (int)socfw_config_get_int(c, "max_positions");
        s->max_seq_len = (int)socfw_config_get_int(c, "max_seq_len");
        s->truncation = socfw_config_get_string(c, "truncation");
        s->chunk_overlap = (int)socfw_config_get_int(c, "chunk_overlap");
        s->max_chunks = (int)socfw_config_get_int(c, "max_chunks");
        s->dropout = (float)socfw_config_get_float(c, "dropout");
        s->freeze = socfw_config_get_string(c, "freeze");
        s->trainable_top_layers =
                (int)socfw_config_get_int(c, "trainable_top_layers");
        return 0;
}

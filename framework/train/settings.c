/* settings.c - the train:, pretrain:, backbone:, continual: and task
 * sections, adapters included, as typed values (settings.h). */
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

/* ---- adapters ---- */

static const char *const adapter_key_names[RT_AK_COUNT] = {
        [RT_AK_TYPE] = "adapter.type",
        [RT_AK_RANK] = "adapter.rank",
        [RT_AK_ALPHA] = "adapter.alpha",
        [RT_AK_DROPOUT] = "adapter.dropout",
        [RT_AK_USE_RSLORA] = "adapter.use_rslora",
        [RT_AK_REDUCTION_FACTOR] = "adapter.reduction_factor",
        [RT_AK_TARGET_RANK] = "adapter.target_rank",
        [RT_AK_TINIT] = "adapter.tinit",
        [RT_AK_TFINAL] = "adapter.tfinal",
        [RT_AK_DELTA_T] = "adapter.delta_t",
        [RT_AK_ORTH_REG_WEIGHT] = "adapter.orth_reg_weight",
        [RT_AK_PREFIX_LENGTH] = "adapter.prefix_length",
        [RT_AK_PREFIX_PROJECTION] = "adapter.prefix_projection",
        [RT_AK_ENCODER_HIDDEN_SIZE] = "adapter.encoder_hidden_size",
        [RT_AK_NUM_VIRTUAL_TOKENS] = "adapter.num_virtual_tokens",
        [RT_AK_PROMPT_INIT] = "adapter.prompt_init",
        [RT_AK_NON_LINEARITY] = "adapter.non_linearity",
        [RT_AK_TARGETS] = "adapter.targets",
        [RT_AK_FROM] = "adapter.from",
};

/* The adapter.* keys of section c (NULL: none written). */
static void
read_adapter_keys(rt_adapter_keys *k, const socfw_config *c)
{
        memset(k, 0, sizeof *k);
        k->section = c;
        for (int i = 0; i < RT_AK_COUNT; i++)
                if (socfw_config_has(c, adapter_key_names[i]))
                        k->given |= 1u << i;
        const char *type = socfw_config_get_string(c, "adapter.type");
        k->type = socfw_adapter_type_parse(type ? type : "none");
        socfw_adapter_config *v = &k->value;
        v->type = k->type < 0 ? SOCFW_ADAPTER_NONE
                              : (socfw_adapter_type)k->type;
        v->rank = (int)socfw_config_get_int(c, "adapter.rank");
        v->alpha = (float)socfw_config_get_float(c, "adapter.alpha");
        v->dropout = (float)socfw_config_get_float(c, "adapter.dropout");
        v->use_rslora = socfw_config_get_bool(c, "adapter.use_rslora");
        v->reduction_factor = (int)socfw_config_get_int(
                c, "adapter.reduction_factor");
        v->target_r = (int)socfw_config_get_int(c, "adapter.target_rank");
        v->tinit = (long)socfw_config_get_int(c, "adapter.tinit");
        v->tfinal = (long)socfw_config_get_int(c, "adapter.tfinal");
        v->delta_t = (long)socfw_config_get_int(c, "adapter.delta_t");
        v->orth_reg_weight = (float)socfw_config_get_float(
                c, "adapter.orth_reg_weight");
        v->prefix_length = (int)socfw_config_get_int(c,
                                                     "adapter.prefix_length");
        v->prefix_projection = socfw_config_get_bool(
                c, "adapter.prefix_projection");
        v->encoder_hidden_size = (int)socfw_config_get_int(
                c, "adapter.encoder_hidden_size");
        v->num_virtual_tokens = (int)socfw_config_get_int(
                c, "adapter.num_virtual_tokens");
        const char *pi = socfw_config_get_string(c, "adapter.prompt_init");
        v->prompt_init = pi && !strcmp(pi, "vocab") ? SOCFW_PROMPT_INIT_VOCAB
                                                    : SOCFW_PROMPT_INIT_RANDOM;
        const char *act = socfw_config_get_string(c, "adapter.non_linearity");
        v->act = act && !strcmp(act, "gelu")   ? SOCFW_ADAPTER_ACT_GELU
                 : act && !strcmp(act, "silu") ? SOCFW_ADAPTER_ACT_SILU
                                               : SOCFW_ADAPTER_ACT_RELU;
        size_t n = socfw_config_list_len(c, "adapter.targets");
        for (size_t i = 0; i < n && !k->bad_target; i++) {
                const char *t = socfw_config_list_get(c, "adapter.targets",
                                                      i);
                int site = socfw_site_parse(t);
                if (t && !strcmp(t, "embed"))
                        v->embed = true;
                else if (site < 0)
                        k->bad_target = 1;
                else
                        v->targets |= SOCFW_SITE_BIT(site);
        }
        k->from = socfw_config_get_string(c, "adapter.from");
}

/* The section that gives key: the task's when it writes it. */
static const rt_adapter_keys *
adapter_source(const rt_adapter_keys *task, const rt_adapter_keys *bb,
               rt_adapter_key key)
{
        return task->given & (1u << key) ? task : bb;
}

int
rt_adapter_key_error(const rt_adapter_keys *task, const rt_adapter_keys *bb,
                     rt_adapter_key key, int code, socfw_error *err,
                     const char *msg)
{
        const socfw_config *c = adapter_source(task, bb, key)->section;
        const char *full = adapter_key_names[key];
        return socfw_error_set_at(err, code, socfw_config_file(c),
                                  socfw_config_line(c, full),
                                  socfw_config_column(c, full),
                                  "task '%s': %s.%s: %s",
                                  socfw_config_name(task->section),
                                  socfw_config_name(c), full, msg);
}

const char *
rt_adapter_from(const rt_adapter_keys *task, const rt_adapter_keys *bb)
{
        return adapter_source(task, bb, RT_AK_FROM)->from;
}

int
rt_adapter_config_resolve(socfw_adapter_config *ac,
                          const rt_adapter_keys *task,
                          const rt_adapter_keys *bb, socfw_error *err)
{
#define FROM(key) (&adapter_source(task, bb, (key))->value)
        const rt_adapter_keys *ts = adapter_source(task, bb, RT_AK_TYPE);
        if (ts->type < 0)
                return rt_adapter_key_error(task, bb, RT_AK_TYPE,
                                            SOCFW_ESCHEMA, err,
                                            "unknown adapter type");
        socfw_adapter_type ty = (socfw_adapter_type)ts->type;
        socfw_adapter_config_default(ac, ty);
        if (ty == SOCFW_ADAPTER_NONE)
                return 0;
        ac->rank = FROM(RT_AK_RANK)->rank;
        ac->alpha = FROM(RT_AK_ALPHA)->alpha;
        ac->dropout = FROM(RT_AK_DROPOUT)->dropout;
        ac->use_rslora = FROM(RT_AK_USE_RSLORA)->use_rslora;
        ac->reduction_factor = FROM(RT_AK_REDUCTION_FACTOR)->reduction_factor;
        ac->target_r = FROM(RT_AK_TARGET_RANK)->target_r;
        ac->tinit = FROM(RT_AK_TINIT)->tinit;
        ac->tfinal = FROM(RT_AK_TFINAL)->tfinal;
        ac->delta_t = FROM(RT_AK_DELTA_T)->delta_t;
        ac->orth_reg_weight = FROM(RT_AK_ORTH_REG_WEIGHT)->orth_reg_weight;
        ac->prefix_length = FROM(RT_AK_PREFIX_LENGTH)->prefix_length;
        ac->prefix_projection =
                FROM(RT_AK_PREFIX_PROJECTION)->prefix_projection;
        const rt_adapter_keys *ks = adapter_source(task, bb,
                                                   RT_AK_ENCODER_HIDDEN_SIZE);
        if (ks->given & (1u << RT_AK_ENCODER_HIDDEN_SIZE))
                ac->encoder_hidden_size = ks->value.encoder_hidden_size;
        ac->num_virtual_tokens =
                FROM(RT_AK_NUM_VIRTUAL_TOKENS)->num_virtual_tokens;
        ac->prompt_init = FROM(RT_AK_PROMPT_INIT)->prompt_init;
        ac->act = FROM(RT_AK_NON_LINEARITY)->act;
        /* targets: the type's own default unless the YAML names them */
        ks = adapter_source(task, bb, RT_AK_TARGETS);
        if (ks->given & (1u << RT_AK_TARGETS)) {
                if (ks->bad_target)
                        return rt_adapter_key_error(
                                task, bb, RT_AK_TARGETS, SOCFW_ESCHEMA, err,
                                "unknown site; hint: attn.q, attn.k, "
                                "attn.v, attn.o, mlp.up, mlp.gate, "
                                "mlp.down, embed");
                ac->targets = ks->value.targets;
                ac->embed = ks->value.embed;
        } else if (ty == SOCFW_ADAPTER_BOTTLENECK) {
                ac->targets = SOCFW_SITE_BIT(SOCFW_SITE_MLP_DOWN);
        }
        return 0;
#undef FROM
}

/* ---- sections ---- */

int
rt_task_settings_read(rt_task_settings *s, const socfw_config *task,
                      const socfw_config *head, const socfw_config *loss)
{
        memset(s, 0, sizeof *s);
        s->data_train = socfw_config_get_string(task, "data.train");
        s->data_valid = socfw_config_get_string(task, "data.valid");
        s->data_test = socfw_config_get_string(task, "data.test");
        s->label_field = socfw_config_get_string(task, "data.label_field");
        s->text_field = socfw_config_get_string(task, "data.text_field");
        s->max_rows = (long)socfw_config_get_int(task, "data.max_rows");
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
        read_adapter_keys(&s->adapter, task);
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
        s->model_given = socfw_config_has(c, "model");
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
        s->freeze_given = socfw_config_has(c, "freeze");
        s->trainable_top_layers =
                (int)socfw_config_get_int(c, "trainable_top_layers");
        read_adapter_keys(&s->adapter, c);
        return 0;
}

int
rt_continual_settings_read(rt_continual_settings *s, const socfw_pipeline *p)
{
        const socfw_config *c = socfw_pipeline_section(p, "continual");
        memset(s, 0, sizeof *s);
        s->section = c;
        s->task = socfw_config_get_string(c, "task");
        s->data = socfw_config_get_string(c, "data");
        s->gate = socfw_config_get_string(c, "gate");
        s->metric = socfw_config_get_string(c, "metric");
        s->replay = socfw_config_get_float(c, "replay");
        s->holdout = socfw_config_get_float(c, "holdout");
        s->tolerance = socfw_config_get_float(c, "tolerance");
        s->min_gain = socfw_config_get_float(c, "min_gain");
        s->l2_sp = socfw_config_get_float(c, "l2_sp");
        s->seed = socfw_config_get_int(c, "seed");
        return 0;
}

int
rt_run_settings_read(rt_run_settings *s, const socfw_pipeline *p)
{
        memset(s, 0, sizeof *s);
        s->threads = (int)socfw_config_get_int(socfw_pipeline_section(p, ""),
                                               "threads");
        s->privacy_training_data = socfw_config_get_bool(
                socfw_pipeline_section(p, "privacy"), "training_data");
        return 0;
}

/* framework/train/settings.h - the pipeline's train: section, read once.
 *
 * The validated section is translated into typed values when the runtime
 * is built (rt_train_settings_read); the training code reads these fields
 * and never looks keys up by name.  Internal to the runtime. */
#ifndef SOCFW_TRAIN_SETTINGS_H
#define SOCFW_TRAIN_SETTINGS_H

#include <stdint.h>

#include "socfw/error.h"
#include "socfw/optim.h"
#include "socfw/peft.h"
#include "socfw/pipeline.h"

typedef enum rt_es_mode {
        RT_ES_AUTO = 0,         /* as the metric's name says              */
        RT_ES_MAX = 1,
        RT_ES_MIN = 2,
} rt_es_mode;

typedef struct rt_train_settings {
        socfw_adamw_config adamw;       /* lr, betas, eps, weight decay   */
        double lr;                      /* peak learning rate             */
        int batch_size;                 /* examples per batch             */
        int grad_accum;                 /* batches per optimizer step     */
        int epochs;
        long max_steps;                 /* 0: no limit                    */
        double warmup;                  /* < 1: a fraction, else steps    */
        int schedule;                   /* socfw_lr_schedule_kind         */
        double min_lr_ratio;
        float grad_clip;                /* 0: off                         */
        uint64_t seed;
        long eval_every;                /* 0: after each epoch            */
        int eval_before;
        long log_every;
        long checkpoint_every;          /* 0: at each evaluation only     */
        int keep_best;
        int skip_bad_rows;              /* on_bad_row: skip               */
        const char *es_metric;          /* NULL: the first task's own     */
        int es_patience;                /* 0: never stop early            */
        rt_es_mode es_mode;
        double es_min_delta;
        double dist_timeout;            /* seconds; 0: wait for ever      */
        int eval_batch_size;            /* evaluate.batch_size            */
} rt_train_settings;

/* Fill `s` from the validated pipeline's train: section (defaults for
 * absent keys).  Strings are borrowed from the pipeline.  Returns 0. */
int rt_train_settings_read(rt_train_settings *s, const socfw_pipeline *p);

/* The pretrain: section.  File names are as written (relative to the
 * pipeline's directory). */
typedef struct rt_pretrain_settings {
        const socfw_config *section;    /* for file:line in diagnostics   */
        const char *objective;          /* "auto", "clm" or "mlm"         */
        const char **corpus;            /* n_corpus files                 */
        size_t n_corpus;
        const char **valid;             /* n_valid held-out files         */
        size_t n_valid;
        size_t valid_tokens;
        long eval_every;                /* 0: at the end of each sitting  */
        size_t max_corpus_bytes;
        long steps;
        int batch_size, seq_len;
        double lr, warmup;
        double max_minutes;             /* 0: no budget                   */
        int chunked;
        long checkpoint_every;
        float mask_prob;
        int whole_word_mask;
        int reuse;                      /* a cached backbone is reused    */
        const char *tokenizer_type;     /* "auto", "bpe", "wordpiece"     */
        size_t vocab_size;              /* of the tokenizer trained       */
} rt_pretrain_settings;

/* Fill `s` from the pretrain: section.  Returns 0 or SOCFW_ENOMEM (the
 * file lists); free with rt_pretrain_settings_clear. */
int rt_pretrain_settings_read(rt_pretrain_settings *s,
                              const socfw_pipeline *p);
void rt_pretrain_settings_clear(rt_pretrain_settings *s);

/* The adapter keys of one section: a task's own adapter.* or the
 * backbone's (backbone.adapter.*, with the schema's defaults).  A task's
 * adapter is each key from the task when the task writes it, else from
 * the backbone (rt_adapter_config_resolve). */
typedef enum rt_adapter_key {
        RT_AK_TYPE, RT_AK_RANK, RT_AK_ALPHA, RT_AK_DROPOUT, RT_AK_USE_RSLORA,
        RT_AK_REDUCTION_FACTOR, RT_AK_TARGET_RANK, RT_AK_TINIT, RT_AK_TFINAL,
        RT_AK_DELTA_T, RT_AK_ORTH_REG_WEIGHT, RT_AK_PREFIX_LENGTH,
        RT_AK_PREFIX_PROJECTION, RT_AK_ENCODER_HIDDEN_SIZE,
        RT_AK_NUM_VIRTUAL_TOKENS, RT_AK_PROMPT_INIT, RT_AK_NON_LINEARITY,
        RT_AK_TARGETS, RT_AK_FROM,
        RT_AK_COUNT
} rt_adapter_key;

typedef struct rt_adapter_keys {
        const socfw_config *section;    /* for file:line in diagnostics   */
        unsigned given;                 /* 1u << rt_adapter_key: written
                                           in the section                 */
        int type;                       /* socfw_adapter_type; -1: unknown
                                           name                           */
        int bad_target;                 /* targets names an unknown site  */
        socfw_adapter_config value;     /* each key's value (type, targets
                                           and the betas aside: see
                                           rt_adapter_config_resolve)     */
        const char *from;               /* adapter.from, or NULL          */
} rt_adapter_keys;

/* A task's adapter configuration: its own keys over the backbone's.
 * Type none: no adapter (the other fields are that type's defaults).
 * Targets absent from both: the type's own sites (bottleneck: mlp.down);
 * encoder_hidden_size absent: 0.  An unknown type or site is
 * SOCFW_ESCHEMA at the key that gave it ("task 'T': S.adapter.K: ...");
 * err may be NULL. */
int rt_adapter_config_resolve(socfw_adapter_config *ac,
                              const rt_adapter_keys *task,
                              const rt_adapter_keys *backbone,
                              socfw_error *err);

/* adapter.from of a task: its own when it writes the key, else the
 * backbone's (NULL: none). */
const char *rt_adapter_from(const rt_adapter_keys *task,
                            const rt_adapter_keys *backbone);

/* Set `err` to `code` at adapter key `key` of the section that gives it
 * (the task's when it writes it, else the backbone's), naming the task:
 * "task 'T': S.adapter.K: msg".  Returns code. */
int rt_adapter_key_error(const rt_adapter_keys *task,
                         const rt_adapter_keys *backbone, rt_adapter_key key,
                         int code, socfw_error *err, const char *msg);

/* The backbone: section. */
typedef struct rt_backbone_settings {
        const socfw_config *section;    /* for file:line in diagnostics   */
        const char *model;              /* NULL: built from scratch       */
        int model_given;                /* model written in the section   */
        const char *tokenizer;          /* NULL: beside the model         */
        int keep_quantized;
        /* a model built from scratch */
        const char *arch;
        int hidden, layers, heads, kv_heads, ffn, max_positions;
        /* inputs and training */
        int max_seq_len;
        const char *truncation;
        int chunk_overlap, max_chunks;
        float dropout;
        const char *freeze;             /* none, all, embeddings, ...     */
        int freeze_given;               /* freeze written in the section  */
        int trainable_top_layers;
        rt_adapter_keys adapter;        /* every task's default adapter   */
} rt_backbone_settings;

/* One task's section (tasks[i]) and its head's loss: section. */
typedef struct rt_task_settings {
        const char *data_train, *data_valid, *data_test;   /* or NULL   */
        const char *label_field;        /* NULL: the plugin's default    */
        const char *text_field;         /* NULL: the plugin's default    */
        long max_rows;                  /* data.max_rows; 0: all          */
        const char *data_format;        /* "auto", "jsonl", "csv", ...    */
        float weight;                   /* its loss's weight in a step    */
        const char *loss_type;          /* NULL: the head's default      */
        const char *class_weights;      /* NULL or "balanced"             */
        int label_last;                 /* head label_token: last         */
        rt_adapter_keys adapter;        /* its own adapter.* keys         */
} rt_task_settings;

/* Fill `s` from a validated task section, its head's and its loss's (the
 * last two may be NULL: a task without a head; task NULL: all absent).
 * Returns 0. */
int rt_task_settings_read(rt_task_settings *s, const socfw_config *task,
                          const socfw_config *head, const socfw_config *loss);

/* Fill `s` from the backbone: section.  Returns 0. */
int rt_backbone_settings_read(rt_backbone_settings *s,
                              const socfw_pipeline *p);

/* The continual: section as written (socfw_continual_settings_read
 * resolves what it leaves to the task and train: sections). */
typedef struct rt_continual_settings {
        const socfw_config *section;    /* for file:line in diagnostics   */
        const char *task, *data;        /* NULL: not set                  */
        const char *gate;               /* NULL: the task's data.valid    */
        const char *metric;             /* NULL: early stopping's         */
        double replay, holdout, tolerance, min_gain, l2_sp;
        int64_t seed;                   /* < 0: train.seed                */
} rt_continual_settings;

/* Fill `s` from the continual: section.  Returns 0. */
int rt_continual_settings_read(rt_continual_settings *s,
                               const socfw_pipeline *p);

/* What the runtime itself is told: the top-level threads key and whether
 * the privacy stage also cleans the training texts. */
typedef struct rt_run_settings {
        int threads;                    /* 0: the library's default       */
        int privacy_training_data;      /* privacy.training_data          */
} rt_run_settings;

/* Fill `s` from the pipeline's top level and privacy: section.
 * Returns 0. */
int rt_run_settings_read(rt_run_settings *s, const socfw_pipeline *p);

#endif

/* framework/train/settings.h - the pipeline's train: section, read once.
 *
 * The validated section is translated into typed values when the runtime
 * is built (rt_train_settings_read); the training code reads these fields
 * and never looks keys up by name.  Internal to the runtime. */
#ifndef SOCFW_TRAIN_SETTINGS_H
#define SOCFW_TRAIN_SETTINGS_H

#include <stdint.h>

#include "socfw/optim.h"
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

/* The backbone: section. */
typedef struct rt_backbone_settings {
        const socfw_config *section;    /* for file:line in diagnostics   */
        const char *model;              /* NULL: built from scratch       */
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
        int trainable_top_layers;
} rt_backbone_settings;

/* One task's section (tasks[i]) and its head's loss: section. */
typedef struct rt_task_settings {
        const char *data_train, *data_valid, *data_test;   /* or NULL   */
        const char *label_field;        /* NULL: the plugin's default    */
        const char *data_format;        /* "auto", "jsonl", "csv", ...    */
        float weight;                   /* its loss's weight in a step    */
        const char *loss_type;          /* NULL: the head's default      */
        const char *class_weights;      /* NULL or "balanced"             */
        int label_last;                 /* head label_token: last         */
} rt_task_settings;

/* Fill `s` from a validated task section, its head's and its loss's (the
 * last two may be NULL: a task without a head).  Returns 0. */
int rt_task_settings_read(rt_task_settings *s, const socfw_config *task,
                          const socfw_config *head, const socfw_config *loss);

/* Fill `s` from the backbone: section.  Returns 0. */
int rt_backbone_settings_read(rt_backbone_settings *s,
                              const socfw_pipeline *p);

#endif

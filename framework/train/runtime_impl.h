/* framework/train/runtime_impl.h - the runtime's internals, shared by
 * runtime.c (building), trainer.c (fine-tuning, evaluation), pretrain.c
 * (tokenizer + backbone from scratch) and the inference engine
 * (framework/engine/, which owns the fields its header names).
 * Internal. */
#ifndef SOCFW_TRAIN_RUNTIME_IMPL_H
#define SOCFW_TRAIN_RUNTIME_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "core/task_impl.h"
#include "engine/engine_internal.h"
#include "socfw/metrics.h"
#include "socfw/model.h"
#include "socfw/optim.h"
#include "socfw/params.h"
#include "socfw/peft.h"
#include "socfw/rng.h"
#include "socfw/runtime.h"
#include "socfw/tokenizer.h"
#include "train/settings.h"

/* One tokenized example. */
typedef struct rt_example {
        int32_t *ids;           /* n tokens, specials included             */
        int32_t *targets;       /* LM: n next-token ids (-100 = not learnt);
                                   NULL for sequence-level targets         */
        int n;
        int label;              /* CLASS; -1 otherwise                     */
        int chunk;              /* 0: an input's first window; k > 0: its
                                   k-th continuation (chunk_average)       */
        uint8_t *multi;         /* MULTI_LABEL: n_labels 0/1, or NULL      */
        int32_t *ids2;          /* SCORE pairs (ranker): the second text's
                                   tokens (the item), n2 of them; NULL
                                   otherwise (retrieval.c)                 */
        int n2;
        float score;            /* SCORE: the pair's label                 */
        long record;            /* the data record it came from (1-based
                                   ordinal in its file; 0: unknown), for
                                   socfw_eval_record                       */
        int *word_pos;          /* TAGS: each word's labelled position in
                                   ids, -1 when none (n_words entries)     */
        int n_words;
} rt_example;

typedef struct rt_split {
        rt_example *ex;
        size_t n;
        size_t skipped;         /* bad rows skipped (on_bad_row: skip)     */
        const char *source;     /* the data file (borrowed), or NULL       */
} rt_split;

typedef struct rt_task {
        socfw_task_ctx *ctx;
        const socfw_config *cfg;
        const socfw_plugin *plugin;
        const socfw_plugin *head;
        const socfw_config *head_cfg, *loss_cfg;
        rt_task_settings set;   /* its section, read once                  */
        void *head_state;
        socfw_params *hps;      /* the head's parameters                   */
        socfw_adamw *hopt;
        socfw_target_kind kind;
        int n_outputs;
        float weight;
        float *class_weight;    /* per class, or NULL                      */
        rt_split train, valid, test;
        int trained;            /* has training data                       */
        socfw_adapter *adapter; /* this task's own, or NULL (adapters.c)  */
        socfw_adamw *aopt;      /* its optimizer state                     */
        int had_batch;          /* since the last optimizer step           */
        int reused;             /* adapter + head loaded from an earlier
                                   run's adapters/<task>: not trained     */
        int version;            /* adapter store version loaded
                                   (continual.c); 0: the run's own        */
} rt_task;

/* A contiguous run of trainable backbone floats with its optimizer. */
typedef struct rt_range {
        size_t offset, len;
        socfw_adamw *opt;
} rt_range;

struct socfw_runtime {
        const socfw_pipeline *p;
        rt_train_settings train;        /* the train: section, read once  */
        rt_pretrain_settings pretrain;  /* the pretrain: section          */
        rt_backbone_settings backbone;  /* the backbone: section          */
        rt_run_settings run;            /* threads, privacy.training_data */
        char *out_dir;
        socfw_progress_fn progress;
        void *progress_user;
        int from_checkpoint;    /* inference on a finished run            */
        int resume;             /* continue from output_dir/state         */
        int pretrain_paused;    /* chunked pretraining stopped at its
                                   budget before the end of its schedule  */

        socfw_model *model;
        socfw_tokenizer *tok;
        char backbone_fp[65];   /* rt_fingerprint_* of the backbone as     */
        char tokenizer_fp[65];  /* loaded or pretrained, before fine-tuning */
        int max_seq;            /* tokens per example                      */
        int truncation;         /* socfw_truncate_policy                   */
        int chunking;           /* backbone.truncation: chunk_average      */
        int chunk_overlap;      /* tokens shared by neighbouring windows   */
        int max_chunks;         /* windows per input at most               */
        float dropout;
        int encoder;            /* BERT/RoBERTa: [CLS] ... [SEP]           */
        int32_t pad_id;

        rt_task *tasks;
        size_t n_tasks;
        socfw_task_ctx *privacy;  /* anonymises data texts, or NULL      */

        size_t n_adapters;      /* tasks with an adapter                   */
        rt_range *ranges;       /* backbone optimizer state                */
        size_t n_ranges;
        int backbone_trainable;

        struct rt_l2sp *l2sp;   /* continual.l2_sp references (l2sp.c)     */

        socfw_rng rng;
        /* dropout masks in training: keyed by example before each batch
         * (socfw_rng_key_rows) so that they do not depend on how batches
         * are split between processes */
        socfw_rng drop;
        socfw_metrics *metrics; /* the latest value of every metric        */

        /* work buffers, grown on demand (training, evaluation) */
        float *hidden, *dhidden, *out, *dout;
        size_t cap_hidden, cap_out;
        int32_t *ids, *mask, *tags;
        size_t cap_tokens;

        /* owned by the inference engine (framework/engine/, whose
         * header lists these fields), up to and including `dec`.
         * Inference from several threads at once (the chain's hooks):
         * each call takes a scratch (a socfw_context and its buffers) from
         * `spare`; heads keep their activations in their state, so a
         * head's forward runs under head_lock; a generation's KV cache
         * carries its task's adapter (socfw_model_kv_attach), so
         * generations of different tasks run at once */
        pthread_mutex_t infer_lock;     /* guards spare                   */
        struct rt_scratch *spare;
        pthread_mutex_t head_lock;
        /* micro-batching: classification and tagging calls that arrive
         * while a forward runs wait in `queue`; a caller that finds a
         * free leader's place runs them as one batch: the calls of the
         * tasks whose adapters mix (rt_task_mixes) together, each other
         * task's alone (engine/batch.c: one leader on the pool, or when
         * callers crowd in, one per thread, each forward serial) */
        pthread_mutex_t batch_lock;
        pthread_cond_t batch_cond;
        struct rt_job *queue;
        int batch_leaders;      /* forwards being run                     */
        int batch_pooled;       /* one of them runs on the thread pool    */
        int batch_callers;      /* callers queued, not yet answered       */
        double batch_crowd;     /* its moving average, at each arrival    */
        unsigned long long batch_overlaps;      /* forwards begun while
                                                   another ran            */
        unsigned long long batches, batched_rows;       /* classification */
        unsigned long long tag_batches, tag_rows;       /* tagging        */
        unsigned long long mixed_batches, mixed_parts;  /* of several
                                                           tasks, and
                                                           their tasks   */
        int batch_entering;     /* callers encoding, about to queue       */
        /* batched decoding of concurrent generations
         * (engine/decode_batch.c) */
        rt_decoder dec;
};

/* Progress line through the runtime's callback (or the log). */
void rt_progress(socfw_runtime *rt, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Grow *buf (elements of `elem` bytes, *cap of them) to hold `need`:
 * 0, or SOCFW_ENOMEM with *buf unchanged. */
int rt_grow(void **buf, size_t *cap, size_t need, size_t elem);

/* Grow the work buffers for a (B,T) batch with `out_len` head outputs. */
int rt_reserve(socfw_runtime *rt, int B, int T, size_t out_len,
               socfw_error *err);

/* Tokenize `text` for a sequence-level task into *ids (caller frees):
 * the specials around one window, longer inputs cut by the truncation
 * policy (chunks.c). */
int rt_encode(socfw_runtime *rt, const char *text, int32_t **ids, int *n,
              socfw_error *err);

/* The special tokens around one window (chunks.c): [CLS] ... [SEP] for
 * encoders (BOS/EOS when the vocabulary has no CLS/SEP), BOS first for
 * decoders that have one; -1 for each one absent.  `room`: the content
 * tokens a window of max_seq has left (at least 1). */
typedef struct rt_specials {
        int32_t cls, sep, bos;
        int room;
} rt_specials;

rt_specials rt_specials_for(const socfw_tokenizer *tok, int encoder,
                            int max_seq);

/* The windows of one input (chunks.c): one unless the pipeline says
 * chunk_average and the input is longer than a window. */
typedef struct rt_chunks {
        int32_t **ids;
        int *n;
        int count;
} rt_chunks;

int rt_encode_chunks(socfw_runtime *rt, const char *text, rt_chunks *c,
                     socfw_error *err);
void rt_chunks_clear(rt_chunks *c);

/* Forward the backbone and the task's head over ex[0..B); the head output
 * is in rt->out and *io describes the batch for loss and backward.
 * `training` turns dropout on. */
int rt_forward(socfw_runtime *rt, rt_task *t, const rt_example *const *ex,
               int B, int training, socfw_head_io *io, socfw_error *err);

/* OUTPUT/<task>.<split>.json (trainer.c): task, split, `n` examples,
 * `metrics` and the fields of `extra` (both consumed; may be NULL). */
int rt_write_eval_json(socfw_runtime *rt, rt_task *t, const char *split,
                       size_t n, json_t *metrics, json_t *extra,
                       socfw_error *err);
/* An evaluation's metrics as a JSON object (new reference). */
json_t *rt_eval_metrics_json(const socfw_eval *e);

/* Load output_dir/checkpoint into the backbone and heads (trainer.c). */
int rt_load_best(socfw_runtime *rt, socfw_error *err);

/* Backbone from scratch: tokenizer training + pretraining (pretrain.c). */
int rt_build_from_scratch(socfw_runtime *rt, socfw_error *err);

/* Continued pretraining (pretrain.c): wanted when the pipeline gives a
 * pretrain.corpus and steps > 0 besides backbone.model; _continue
 * pretrains the loaded rt->model (read from `src`) with its objective,
 * saves it to output_dir/backbone and makes that the run's backbone. */
int rt_pretrain_wanted(const socfw_runtime *rt);
/* --resume and OUTPUT/pretrain.state.safetensors holds a pretraining that
 * stopped before the end of its schedule (chunked). */
int rt_pretrain_unfinished(const socfw_runtime *rt);
int rt_pretrain_continue(socfw_runtime *rt, const char *src,
                         socfw_error *err);

/* Save the backbone (config.json + model.safetensors + tokenizer) into dir
 * atomically (pretrain.c). */
int rt_save_backbone(socfw_runtime *rt, const char *dir, socfw_error *err);

void rt_split_clear(rt_split *s);

/* ---- adapters (adapters.c) ---- */

/* Create every task's adapter (after build_task, before the backbone's
 * freezing policy); counts them in rt->n_adapters. */
int rt_build_adapters(socfw_runtime *rt, socfw_error *err);

/* OUTPUT/adapters/<task>/ for every task with an adapter: the adapter in
 * PEFT's layout (socfw_adapter_save) and the task's head beside it
 * (head.safetensors). */
int rt_save_adapters(socfw_runtime *rt, socfw_error *err);

/* Tasks whose adapters/<task>/ in the output directory was trained on
 * the same task section, data and backbone (meta.json task_fingerprint)
 * load it instead of training again, unless named in `retrain`.  Call
 * after the tasks' data are read. */
int rt_reuse_adapters(socfw_runtime *rt, const char *const *retrain,
                      size_t n_retrain, socfw_error *err);

/* Load dir/head.safetensors into task t's head (adapters.c). */
int rt_load_head(rt_task *t, const char *dir, socfw_error *err);

/* L2-SP (l2sp.c): with continual.l2_sp > 0, _setup records the starting
 * adapter and head of every task that starts from adapter.from; _apply
 * (before each optimizer step) adds l2_sp * (w - w0) to their gradients;
 * _free releases it (NULL-safe). */
int rt_l2sp_setup(socfw_runtime *rt, socfw_error *err);
void rt_l2sp_apply(socfw_runtime *rt);
void rt_l2sp_free(socfw_runtime *rt);

/* Attach task t's adapter to the backbone (NULL t or no adapter: the
 * plain backbone) for the passes that follow. */
int rt_use_adapter(socfw_runtime *rt, const rt_task *t, socfw_error *err);

/* Fingerprints (fingerprint.c): hex BLAKE2b-256 of the backbone's
 * configuration, tensor names/shapes and a sample of every tensor's
 * values; and of the tokenizer's kind and vocabulary. */
#define RT_FINGERPRINT_HEX 65
void rt_fingerprint_model(socfw_model *m, char hex[RT_FINGERPRINT_HEX]);
void rt_fingerprint_tokenizer(const socfw_tokenizer *tok,
                              char hex[RT_FINGERPRINT_HEX]);

/* The privacy stage's version of `text` (caller frees), or a copy when the
 * pipeline does not anonymise its data (runtime.c). */
int rt_anonymise(socfw_runtime *rt, const char *text, char **out,
                 socfw_error *err);

/* ---- ranker tasks: two-tower retrieval (retrieval.c) ---- */

/* 1 when the task trains (query, item) pairs with a ranker head. */
int rt_is_ranker(const rt_task *t);

/* Forward + loss (+ backward when grad_scale > 0) of k pair examples laid
 * out as the ranker's loss expects ([q..., item...], or [q..., pos...,
 * neg...] for bpr/bce with negatives drawn from `pool`). */
int rt_ranker_batch(socfw_runtime *rt, rt_task *t, const rt_example *const *ex,
                    int k, const rt_split *pool, int training,
                    float grad_scale, float *loss, socfw_error *err);

/* Loss over a split, then the plugin's evaluate hook (full-catalogue
 * ranking metrics), metrics into rt->metrics and <task>.<split>.json. */
int rt_ranker_evaluate(socfw_runtime *rt, rt_task *t, const char *split,
                       const rt_split *s, char **report_out,
                       socfw_error *err);

/* Read and tokenize one data file of a task (runtime.c). */
int rt_load_split(socfw_runtime *rt, rt_task *t, const char *path,
                  rt_split *s, socfw_error *err);

/* ---- token classification (word tags; runtime.c, trainer.c) ---- */

/* 1 when task t has a tagger head (token classification). */
int rt_is_tagger(const rt_task *t);
/* 1 when a tagger task labels the LAST sub-token of each word (head
 * option label_token: last, for causal decoders whose first sub-token has
 * not read the word yet), 0 for the first (the Hugging Face convention). */
int rt_label_last(const rt_task *t);
/* A task's labels: from the pipeline, or inferred (sorted) from its
 * training data and set on its context. */
int rt_setup_labels(socfw_runtime *rt, rt_task *t, socfw_error *err);

/* Tokenize words[0..n_words) as one sequence: each word on its own
 * (byte-level BPE: with the space before it, except between CJK
 * characters, which the text writes without spaces; WordPiece/SPM as they
 * are), [CLS] ... [SEP] for encoders or BOS first for decoders, as
 * rt_encode.  With `tags`, ex->targets gets tags[w] at the first (last
 * when label_last) sub-token of word w and -100 elsewhere (the LM target
 * convention); without, ex->targets stays NULL.  Truncation keeps whole
 * words from the head (a first word longer than max_seq is cut), so the
 * kept tags stay aligned.  word_pos (NULL or n_words entries) gets each
 * word's labelled position in ex->ids, -1 for empty or cut-off words;
 * *n_used (may be NULL) the number of words read before the budget ran
 * out.  Returns 0 or a negative code; ex->ids/targets: caller frees. */
int rt_encode_words(socfw_runtime *rt, const char *const *words,
                    const int *tags, size_t n_words, int label_last,
                    rt_example *ex, int *word_pos, size_t *n_used,
                    socfw_error *err);

#endif

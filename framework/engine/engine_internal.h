/* framework/engine/engine_internal.h - the inference engine: what the
 * runtime (framework/train/runtime.c) and the engine's files share.
 * Internal.
 *
 * The engine is the inference host over one socfw_runtime: the shared,
 * read-only backbone, each task's adapter and head, and what concurrent
 * callers need on top of them.  The chain's hooks (socfw_task_infer,
 * socfw_task_tag_words, socfw_task_generate, socfw_task_run_stage), and
 * through them `socfw predict`, `chat`, `serve` and `monitor`, run here.
 * The runtime builds the model, the tokenizer and the tasks
 * (train/runtime.c) and trains them (train/trainer.c); no engine file
 * needs the training code.
 *
 *   engine.c        the engine's part of building and freeing a runtime;
 *                   the hooks a task's context gets
 *   scratch.c       inference scratch: a socfw_context and buffers per
 *                   concurrent caller, and the forward that runs on one
 *   batch.c         micro-batching of classification and tagging windows,
 *                   the tasks whose adapters mix in one forward
 *   infer.c         socfw_task_infer: class probabilities, embeddings
 *   tag.c           socfw_task_tag_words: per-word tag probabilities
 *   generate.c      socfw_task_generate: decoding with the KV cache
 *   decode_batch.c  continuous batching of concurrent generations' steps
 *   chain.c         socfw_task_run_stage, socfw_runtime_chain
 *
 * Usage (train/runtime.c): rt_engine_init(rt) when a runtime is made,
 * rt_engine_bind(rt, ctx, 1) for each task's context, and
 * rt_engine_destroy(rt) before its model is freed.
 *
 * The runtime struct stays in train/runtime_impl.h for now.  Of its
 * fields the engine owns (initialises, guards, frees):
 *   infer_lock, spare          the scratch pool (scratch.c)
 *   head_lock                  heads' forward, one at a time
 *   batch_lock, batch_cond, queue, batch_leaders, batch_pooled,
 *   batch_callers, batch_crowd, batch_overlaps, batch_entering
 *                              the micro-batching queue (batch.c)
 *   batches, batched_rows, tag_batches, tag_rows, mixed_batches,
 *   mixed_parts                its counters (socfw_runtime_*batch_stats)
 *   dec                        the decoder of batched generation steps
 *                              (rt_decoder, below; decode_batch.c)
 * and reads, never writes: model, tok, tasks/n_tasks (ctx, adapter,
 * head, head_state, kind, n_outputs, plugin), pad_id, p, and what
 * rt_encode, rt_encode_chunks and rt_encode_words read (runtime.c,
 * chunks.c).
 *
 * train/runtime_impl.h includes this header, so code that holds the
 * runtime's internals (tests) reaches the engine's too. */
#ifndef SOCFW_ENGINE_INTERNAL_H
#define SOCFW_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/model.h"
#include "socfw/peft.h"
#include "socfw/plugin.h"
#include "socfw/runtime.h"

/* the runtime's types (train/runtime_impl.h) */
typedef struct rt_task rt_task;
typedef struct rt_example rt_example;

/* ---- between the runtime and the engine (engine.c, scratch.c) ---- */

/* The engine's fields of a new runtime: locks, the decoder. */
void rt_engine_init(socfw_runtime *rt);
/* Free the scratch pool (before the model it is over) and the locks. */
void rt_engine_destroy(socfw_runtime *rt);
/* Point ctx at runtime rt: ctx->runtime and the run_stage hook; with
 * `head`, the model's hooks too (infer, generate, count_tokens,
 * tag_words). */
void rt_engine_bind(socfw_runtime *rt, socfw_task_ctx *ctx, int head);

/* Detach adapter `a` from the contexts kept for inference (before it is
 * freed; no inference call may run meanwhile). */
void rt_scratch_detach(socfw_runtime *rt, const socfw_adapter *a);


/* ---- batched decoding (decode_batch.c) ---- */

/* The scheduler of batched decoding: the runtime's `dec`. */
typedef struct rt_decoder {
        pthread_mutex_t lock;
        pthread_cond_t cond;            /* a batch is done (CLOCK_MONOTONIC) */
        pthread_cond_t gather;          /* a step queued, a generation left:
                                           for the leader gathering        */
        int gathering;                  /* the leader waits on `gather`   */
        long step_ns;                   /* a batched step takes (average) */
        long wait_ns;                   /* SOCFW_DECODE_WAIT_US, or -1    */
        int mode;                       /* 1 batch, 0 not, -1 not decided */
        struct rt_dstep *queue;         /* steps waiting for a batch      */
        int queued;                     /* their number                   */
        int live;                       /* generations past their prompt  */
        int leader;                     /* a batch is being gathered/run  */
        float *logits;                  /* the leader's (k, V)            */
        size_t cap;
        unsigned long long steps, rows; /* batched steps run, their rows  */
} rt_decoder;

/* Between rt_decode_join and rt_decode_leave a generation is live, and
 * rt_decode_one runs its one-token steps batched with the other live
 * generations' steps. */
void rt_decoder_init(rt_decoder *d);
void rt_decoder_destroy(rt_decoder *d);
int rt_decode_batches(socfw_runtime *rt);        /* 1: worth it (size) */
void rt_decode_join(socfw_runtime *rt);
void rt_decode_leave(socfw_runtime *rt);
int rt_decode_one(socfw_runtime *rt, socfw_model_kv *kv, int32_t id,
                  float *logits, socfw_error *err);

/* ---- between the engine's own files ---- */

/* What one inference call writes: its own context over the shared
 * weights, and its own batch buffers (scratch.c). */
typedef struct rt_scratch {
        socfw_context *ctx;
        float *hidden, *out;
        int32_t *ids, *mask;
        size_t cap_hidden, cap_out, cap_tokens;
        struct rt_scratch *next;
} rt_scratch;

/* A scratch for this call (a spare one, or a new one); NULL with err set
 * when out of memory.  Give it back with rt_scratch_put. */
rt_scratch *rt_scratch_get(socfw_runtime *rt, socfw_error *err);
void rt_scratch_put(socfw_runtime *rt, rt_scratch *sc);
/* Free every spare scratch (rt_engine_destroy). */
void rt_scratch_pool_free(socfw_runtime *rt);

#define RT_BATCH_ROWS 64        /* windows in one batched forward at most */

/* The order that puts equal keys together: order[0..k) holds 0..k-1 with
 * the indices of one key adjacent, keys in the order they first come and
 * each key's indices ascending (a batch's calls grouped by task, a
 * decoding step's sequences by adapter). */
void rt_group_order(const void *const *keys, int k, int *order);

/* One task's rows in a batched forward: n rows (after the parts before
 * it); its head's output goes to sc->out + out0, out_len floats (set by
 * rt_infer_forward). */
typedef struct rt_part {
        rt_task *t;
        int n;
        size_t out0, out_len;
} rt_part;

/* rt_forward for inference on scratch sc: the rows ex[0..B) of the tasks
 * parts[0..n_parts) (at most RT_BATCH_ROWS parts, each task once) through
 * the backbone as one forward on sc's context - one task: its adapter
 * attached; several: each task's adapter on its own rows
 * (socfw_context_forward_runs; the tasks' adapters all mix,
 * rt_task_mixes) - then each task's head on its rows under head_lock. */
int rt_infer_forward(socfw_runtime *rt, rt_scratch *sc, rt_part *parts,
                     int n_parts, const rt_example *const *ex, int B,
                     socfw_error *err);

/* Whether task t's rows may share a forward with other tasks' rows: its
 * adapter acts row by row at the sites, or it has none
 * (socfw_adapter_mixes). */
int rt_task_mixes(const rt_task *t);

/* One caller's windows, waiting to be run in a batch (batch.c).  What the
 * caller gets from its rows' logits depends on its task's head: a
 * classifier's call gets the K probabilities averaged over its windows
 * (out[K]); a tagger's call gets, for each of its words, the softmax over
 * the tags at the word's token: word w reads token word_pos[w] of row
 * word_row[w] (out[w * K ..], left as it is when word_pos[w] < 0). */
typedef struct rt_job {
        rt_task *t;
        const rt_example *const *rows;
        int n;
        float *out;
        size_t n_out;           /* classification: room in out         */
        const int *word_row, *word_pos;         /* tagging              */
        size_t n_words;
        int rc, done;
        socfw_error err;
        struct rt_job *next;
} rt_job;

/* A call announces itself (delta 1) before encoding its text, so that a
 * leader gathering a batch waits for it; it takes the announcement back
 * by queueing (rt_infer_batched) or, failing, with delta -1. */
void rt_batch_entering(socfw_runtime *rt, int delta);
/* Job me's answer, its rows batched with the calls of other threads. */
int rt_infer_batched(socfw_runtime *rt, rt_job *me, socfw_error *err);

/* The task whose context is ctx, or NULL (chain.c). */
rt_task *rt_task_of(socfw_runtime *rt, const socfw_task_ctx *ctx);

/* The hooks rt_engine_bind installs on a task's context. */
int rt_infer_hook(void *runtime, socfw_task_ctx *ctx, const char *text,
                  float *out, size_t n, size_t *n_out, socfw_error *err);
int rt_tag_words_hook(void *runtime, socfw_task_ctx *ctx,
                      const char *const *words, size_t n_words, float *probs,
                      size_t n_probs, size_t *n_tags, socfw_error *err);
int rt_generate_hook(void *runtime, socfw_task_ctx *ctx, const char *prompt,
                     const socfw_generate_opts *opts, char **reply,
                     socfw_error *err);
int rt_count_hook(void *runtime, const char *text, size_t *n,
                  socfw_error *err);
int rt_stage_hook(void *runtime, socfw_task_ctx *ctx, const char *name,
                  socfw_post *post, socfw_error *err);

#endif

/* socfw/runtime.h - a pipeline brought to life: backbone, tokenizer, and
 * each task with its head; pretraining, fine-tuning, evaluation and
 * inference.
 *
 *     socfw_runtime *rt;
 *     socfw_runtime_options o = {.output_dir = "runs/x"};
 *     if (socfw_runtime_new(&rt, pipeline, &o, &err) < 0 ||   // builds it
 *         socfw_runtime_train(rt, &err) < 0 ||                 // if data
 *         socfw_runtime_evaluate(rt, "test", &err) < 0)
 *             ...
 *     socfw_chain *chain;
 *     socfw_runtime_chain(rt, &chain, &err);  // predict with the models
 *     socfw_runtime_free(rt);
 *
 * The backbone is loaded from backbone.model, or built from the
 * architecture in backbone: and pretrained on pretrain.corpus (its
 * tokenizer trained first).  Every task with a head gets its own parameter
 * store; AdamW updates the trainable tensors of the backbone and the heads.
 *
 * The output directory holds:
 *   backbone/           a backbone socfw built or changed (config.json,
 *                       model.safetensors, tokenizer files)
 *   checkpoint/         the best model so far: model.safetensors (trainable
 *                       tensors, named "<task>/<tensor>" for heads) and
 *                       meta.json (step, metrics, fingerprints), written
 *                       atomically
 *   state.safetensors   everything needed to resume training exactly
 *                       (--resume): trainable tensors, AdamW moments,
 *                       random state, position; written atomically at
 *                       every evaluation and every train.checkpoint_every
 *                       steps
 *   <task>.<split>.txt / .json   classification reports
 *   curves.svg, metrics.jsonl    training curves and every evaluation
 */
#ifndef SOCFW_RUNTIME_H
#define SOCFW_RUNTIME_H

#include "socfw/chain.h"
#include "socfw/error.h"
#include "socfw/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_runtime socfw_runtime;

/* Progress lines ("epoch 1 step 40/300 loss 0.873 ..."); the CLI prints
 * them.  NULL: log at info level. */
typedef void (*socfw_progress_fn)(const char *line, void *user);

typedef struct socfw_runtime_options {
        const char *output_dir;   /* required for training                */
        int threads;              /* 0: the pipeline's, else all cores    */
        /* Load the best checkpoint of output_dir instead of initialising
         * the heads (for predict/evaluate on a finished run). */
        int from_checkpoint;
        /* Continue an interrupted training run from output_dir/state/
         * (parameters, optimizer moments, random state, position in the
         * data): the result equals an uninterrupted run's. */
        int resume;
        socfw_progress_fn progress;
        void *progress_user;
        /* Composition: a task with an adapter whose files in
         * output_dir/adapters/<task>/ were trained on the same task
         * section, data and backbone is loaded from them, not trained
         * again - unless its name is in `retrain`. */
        const char *const *retrain;
        size_t n_retrain;
        /* Read training data for this task only (NULL: every task): the
         * others keep their untrained heads (a continued run). */
        const char *only_task;
} socfw_runtime_options;

/* The adapter settings of a validated pipeline that can be checked
 * without loading or training its backbone: AdaLoRA's target_rank, a site
 * a from-scratch architecture lacks, a bottleneck's sites, a prefix that
 * leaves no room in a from-scratch model's positions, and a
 * backbone.freeze that would train a backbone the adapters share.  Errors
 * carry the YAML file, line and column.  socfw validate and
 * socfw_runtime_new (before any pretraining) run it.  Returns 0 or
 * SOCFW_ESCHEMA. */
int socfw_runtime_check_adapters(const socfw_pipeline *p, socfw_error *err);

/* The adapter type task i of a validated pipeline trains (a
 * socfw_adapter_type): its own adapter.type when the task writes one,
 * else the backbone's, SOCFW_ADAPTER_NONE when neither does; -1 for a
 * type name socfw does not know.  The one place that rule is written
 * (training resolves every adapter key the same way). */
int socfw_runtime_task_adapter_type(const socfw_pipeline *p, size_t i);

/* Every check socfw_runtime_new makes before real work, without loading
 * a model: socfw_runtime_check_adapters; a pipeline with neither tasks
 * nor a chain is refused; each pretrain.corpus file must be readable; and
 * for each task with a head and data, its labels are set up as training
 * does and the first SOCFW_PREFLIGHT_ROWS records of every split are read
 * by the task's plugin, bad rows being errors unless train.on_bad_row is
 * skip (a wrong data.label_field or text field fails here, naming
 * file:line; with skip, a split without one usable row in them fails).  socfw validate runs it;
 * socfw_runtime_new runs it before any pretraining.  Returns 0 or a
 * negative status with `err` set. */
#define SOCFW_PREFLIGHT_ROWS 20
int socfw_runtime_preflight(const socfw_pipeline *p, socfw_error *err);

/* Build everything the pipeline describes (the pipeline must be validated
 * and outlive the runtime).  Pretrains a backbone from scratch when the
 * pipeline asks for it and none is cached in output_dir. */
int socfw_runtime_new(socfw_runtime **out, const socfw_pipeline *p,
                      const socfw_runtime_options *opts, socfw_error *err);
void socfw_runtime_free(socfw_runtime *rt);

/* 1 when chunked pretraining (pretrain.chunked) stopped at its time
 * budget before the end of its schedule: the backbone so far and the state
 * to continue from are saved in output_dir, and nothing is fine-tuned
 * (socfw_runtime_train does nothing) until a runtime made with `resume`
 * has finished the pretraining. */
int socfw_runtime_pretraining_paused(const socfw_runtime *rt);

/* Does any task have training data? */
int socfw_runtime_has_training(const socfw_runtime *rt);

/* Fine-tune every task with training data: epochs of AdamW steps,
 * validation, early stopping, best checkpoint.  The best checkpoint is
 * loaded back at the end. */
int socfw_runtime_train(socfw_runtime *rt, socfw_error *err);

/* Evaluate every task that has data for `split` ("valid" or "test") and
 * write its reports into the output directory. */
int socfw_runtime_evaluate(socfw_runtime *rt, const char *split,
                           socfw_error *err);

/* A chain over the pipeline's stages whose tasks use this runtime's models
 * (socfw_task_infer / socfw_task_generate work).  Free it before the
 * runtime. */
int socfw_runtime_chain(socfw_runtime *rt, socfw_chain **out,
                        socfw_error *err);

/* Same, running only `stages` (NULL-terminated names; NULL = the
 * pipeline's chain). */
int socfw_runtime_chain_stages(socfw_runtime *rt, const char *const *stages,
                               socfw_chain **out, socfw_error *err);

/* Evaluate task `task` on a labelled file (any format the task reads).
 * *report receives the text report (caller frees; may be NULL when the
 * task gives none); the metrics are recorded as "<task>.eval.<name>". */
int socfw_runtime_evaluate_file(socfw_runtime *rt, const char *task,
                                const char *path, char **report,
                                socfw_error *err);

/* Inference from several threads: the chain's hooks (classification,
 * tagging, generation) may be called at once from different threads over
 * one runtime; each call works in a socfw_context of its own over the
 * shared weights.  Classification calls that arrive while one runs are
 * micro-batched: run together as one forward pass.  This gives the
 * number of such classification forward passes so far and the windows
 * they held (both only grow; their ratio is the mean batch size). */
void socfw_runtime_batch_stats(socfw_runtime *rt, unsigned long long *batches,
                               unsigned long long *rows);

/* The same for tagging (socfw_task_tag_words: the privacy filter's and
 * the NLU plugin's taggers), whose windows are micro-batched the same way:
 * concurrent calls, and the several windows of one long text, run
 * together as one forward pass per task. */
void socfw_runtime_tag_batch_stats(socfw_runtime *rt,
                                   unsigned long long *batches,
                                   unsigned long long *rows);

/* Classification and tagging calls of different tasks share a forward
 * pass when their adapters act row by row at the backbone's linear sites
 * (LoRA, AdaLoRA, IA3, bottleneck, or no adapter): the frozen backbone
 * runs once for all their windows, each task's adapter and head on its
 * own windows only (socfw_context_forward_runs in socfw/peft.h); a task
 * with a prefix or prompt adapter has passes of its own.  This gives the
 * number of passes that held several tasks so far and the tasks they
 * held (tasks / passes = mean tasks per such pass).  Such a pass counts
 * once in socfw_runtime_batch_stats when it held classification windows
 * and once in socfw_runtime_tag_batch_stats when it held tagging
 * windows. */
void socfw_runtime_mixed_batch_stats(socfw_runtime *rt,
                                     unsigned long long *batches,
                                     unsigned long long *tasks);

/* When more calls wait than the runtime has threads, each classification
 * or tagging forward pass runs serially in one calling thread and up to
 * one pass per thread run at once (several small batches on several
 * cores cost less CPU per window than one batch split over them); with
 * fewer, one pass at a time runs on all threads.  This gives the number
 * of passes so far that began while another one ran. */
unsigned long long socfw_runtime_batch_overlaps(socfw_runtime *rt);

/* Generations running at once are decoded together: each new token of
 * every live generation in one batched step (socfw_model_decode_batch),
 * sequences joining and leaving between steps.  This gives the number of
 * such steps so far and the tokens they produced (their ratio is the mean
 * number of generations per step). */
void socfw_runtime_decode_stats(socfw_runtime *rt, unsigned long long *steps,
                                unsigned long long *rows);

/* A metric recorded by the last evaluation, e.g. "sentiment.valid.macro_f1";
 * returns 0 and *value, or SOCFW_ENOTFOUND. */
int socfw_runtime_metric(const socfw_runtime *rt, const char *name,
                         double *value);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_RUNTIME_H */

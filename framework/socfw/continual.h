/* socfw/continual.h - continual re-fine-tuning: a new version of a task's
 * adapter trained from the current one on newly labelled data mixed with
 * a replay sample of the old training data, and a gate that promotes it
 * only when it is no worse on a fixed gate set and better on the new
 * data's held-out part.
 *
 *     socfw_continual_settings s;
 *     socfw_continual_settings_read(p, "sentiment", "new.jsonl", &s, &err);
 *     socfw_continual_data d;
 *     socfw_continual_prepare(&s, task_cfg, labels, n_labels,
 *                             "work/train.jsonl", "work/holdout.jsonl",
 *                             &d, &err);      // refuses unknown labels and
 *                                             // a gate set that overlaps
 *     ... train a runtime on work/train.jsonl from the current version ...
 *     socfw_gate_scores g;
 *     socfw_runtime_continual_gate(rt, &s, "work/holdout.jsonl",
 *                                  current_dir, &g, &err);
 *     char why[512];
 *     if (socfw_continual_decide(&g, s.tolerance, s.min_gain, why,
 *                                sizeof why))
 *             ... socfw_adapter_store_promote ...
 *
 * The pipeline's `continual:` section gives the settings (doc/pipeline.md);
 * the data are JSON Lines with the task's text and label fields.  Random
 * choices (the held-out part, the replay sample) are drawn from
 * continual.seed: the same inputs give the same files.
 */
#ifndef SOCFW_CONTINUAL_H
#define SOCFW_CONTINUAL_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/pipeline.h"
#include "socfw/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_continual_settings {
        const char *task;       /* the task whose adapter continues        */
        const char *data;       /* the newly labelled data                 */
        const char *gate;       /* fixed gate set (default: data.valid)    */
        const char *old_data;   /* the task's data.train (replay pool)     */
        const char *metric;     /* e.g. "macro_f1"                         */
        double replay;          /* old examples per new training example   */
        double holdout;         /* share of the new data held out          */
        double tolerance;       /* allowed drop on the gate set            */
        double min_gain;        /* required gain on the held-out part      */
        double l2_sp;           /* L2 pull toward the current weights      */
        uint64_t seed;
        long max_rows;          /* the old data's data.max_rows (0: all)   */
} socfw_continual_settings;

/* Settings from the pipeline's continual: section; `task` and `data`
 * (NULL: continual.task / continual.data) come from the command line.
 * Without a task name, the pipeline's only task with an adapter.  Errors
 * name the key and give a hint.  The strings are borrowed from `p`. */
int socfw_continual_settings_read(const socfw_pipeline *p, const char *task,
                                  const char *data,
                                  socfw_continual_settings *s,
                                  socfw_error *err);

/* What socfw_continual_prepare made. */
typedef struct socfw_continual_data {
        size_t n_new;           /* rows in the new data                    */
        size_t n_train;         /* ... of which train                      */
        size_t n_holdout;       /* ... and held out                        */
        size_t n_old;           /* rows in the replay pool                 */
        size_t n_replay;        /* replayed into the training file         */
        char fingerprint[65];   /* BLAKE2b-256 of the new data file        */
        char gate_fingerprint[65];
} socfw_continual_data;

/* Read the new data (JSON Lines: the task's data.text_field and
 * data.label_field, a string label); refuse labels not in
 * labels[0..n_labels) (SOCFW_EINVAL naming them) and a gate set sharing a
 * text with the new data (SOCFW_EINVAL naming the first shared row); hold
 * out s->holdout of it (at least one row each side); write `train_out` =
 * the rest plus round(s->replay * n_train) rows sampled from the old data
 * (without replacement, at most all of them), and `holdout_out`.  Both
 * are written atomically. */
int socfw_continual_prepare(const socfw_continual_settings *s,
                            const socfw_config *task_cfg,
                            const char *const *labels, size_t n_labels,
                            const char *train_out, const char *holdout_out,
                            socfw_continual_data *d, socfw_error *err);

/* k distinct indices of [0, n) (k <= n), in the order drawn; the same
 * seed gives the same sample. */
void socfw_continual_sample(uint64_t seed, size_t n, size_t k, size_t *out);

/* The gate's four figures (one metric: higher is better). */
typedef struct socfw_gate_scores {
        char metric[64];
        double current_gate, candidate_gate;
        double current_holdout, candidate_holdout;
        size_t n_gate, n_holdout;
} socfw_gate_scores;

/* 1 (promote) when the candidate is no worse than the current version by
 * more than `tolerance` on the gate set and better by more than
 * `min_gain` on the held-out part, else 0; `why` gets the reasons, one
 * sentence per condition, with the figures. */
int socfw_continual_decide(const socfw_gate_scores *g, double tolerance,
                           double min_gain, char *why, size_t why_size);

/* Evaluate task s->task of `rt` as it is (the candidate) and with the
 * adapter and head of `current_dir` (the current version, which stays
 * loaded) on s->gate and `holdout`. */
int socfw_runtime_continual_gate(socfw_runtime *rt,
                                 const socfw_continual_settings *s,
                                 const char *holdout, const char *current_dir,
                                 socfw_gate_scores *g, socfw_error *err);

/* Load adapter + head of `dir` (a socfw adapter directory) into task
 * `task`, replacing what it had. */
int socfw_runtime_load_adapter(socfw_runtime *rt, const char *task,
                               const char *dir, socfw_error *err);

/* Give every task with a version store in output_dir/adapters/<task> its
 * current version (a promotion or rollback since the runtime was built);
 * tasks without one keep what they have.  predict and evaluate call it
 * once, serve again on SIGHUP.  *n_changed (may be NULL) gets the number
 * of tasks whose version changed. */
int socfw_runtime_reload_adapters(socfw_runtime *rt, size_t *n_changed,
                                  socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_CONTINUAL_H */

/* trainer.c - fine-tuning: batches, AdamW steps, validation, early
 * stopping, checkpoints, reports. */
#define _GNU_SOURCE /* asprintf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdarg.h>
#include <unistd.h>

#include <jansson.h>

#include "core/example_impl.h"
#include "socfw/baseline.h"
#include "socfw/data.h"
#include "socfw/dist.h"
#include "socfw/io.h"
#include "socfw/nn.h"
#include "socfw/log.h"
#include "socfw/modelfile.h"
#include "socfw/report.h"
#include "socfw/safetensors.h"
#include "train/loop.h"
#include "train/runtime_impl.h"

/* ---- targets of a batch ---- */

typedef struct batch_targets {
        socfw_head_targets t;
        int32_t class_ids[4096];
        float *multi;
} batch_targets;

static int
fill_targets(rt_task *t, const rt_example *const *ex, int B,
             const int32_t *tags, batch_targets *bt, socfw_error *err)
{
        memset(&bt->t, 0, sizeof bt->t);
        bt->multi = NULL;
        bt->t.kind = t->kind;
        bt->t.class_weight = t->class_weight;
        switch (t->kind) {
        case SOCFW_TARGET_CLASS:
                if (B > 4096)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "batch too large");
                for (int b = 0; b < B; b++)
                        bt->class_ids[b] = ex[b]->label;
                bt->t.class_ids = bt->class_ids;
                return 0;
        case SOCFW_TARGET_MULTI_LABEL:
                bt->multi = malloc(sizeof(float) * (size_t)B *
                                   (size_t)t->n_outputs);
                if (!bt->multi)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                for (int b = 0; b < B; b++)
                        for (int k = 0; k < t->n_outputs; k++)
                                bt->multi[(size_t)b * t->n_outputs + k] =
                                        ex[b]->multi[k];
                bt->t.multi = bt->multi;
                return 0;
        case SOCFW_TARGET_TOKENS:
        case SOCFW_TARGET_TAGS:
                bt->t.tags = tags;
                return 0;
        default:
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s': this target kind cannot "
                                       "be trained yet",
                                       socfw_task_name(t->ctx));
        }
}

/* Forward + loss (+ backward when `grad_scale` > 0) of one batch.
 * Returns the batch's mean loss in *loss. */
static int
run_batch(socfw_runtime *rt, rt_task *t, const rt_example *const *ex, int B,
          int training, float grad_scale, float *loss, socfw_error *err)
{
        if (rt_is_ranker(t)) /* (query, item) pairs: retrieval.c */
                return rt_ranker_batch(rt, t, ex, B, &t->train, training,
                                       grad_scale, loss, err);
        socfw_head_io io;
        int rc = rt_forward(rt, t, ex, B, training, &io, err);
        if (rc < 0)
                return rc;
        batch_targets bt;
        rc = fill_targets(t, ex, B, rt->tags, &bt, err);
        if (rc == 0)
                rc = t->head->head->loss(t->head_state, &io, &bt.t, loss, err);
        free(bt.multi);
        if (rc < 0 || grad_scale <= 0)
                return rc;
        if (!isfinite(*loss))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "task '%s': the loss is not finite "
                                       "(%g); hint: lower train.lr",
                                       socfw_task_name(t->ctx), *loss);
        for (size_t i = 0; i < io.out_len; i++)
                io.dout[i] *= grad_scale;
        size_t nh = (size_t)io.B * io.T * io.C;
        memset(io.dhidden, 0, nh * sizeof(float));
        rc = t->head->head->backward(t->head_state, &io, err);
        if (rc == 0 && (rt->backbone_trainable || t->adapter))
                rc = socfw_model_backward(rt->model, io.dhidden, err);
        return rc;
}

/* ---- optimizer ---- */

static int
make_head_optimizers(socfw_runtime *rt, socfw_error *err)
{
        socfw_adamw_config ac = rt->train.adamw;
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (t->reused)          /* unchanged since its own run */
                        continue;
                if (t->hps && !t->hopt &&
                    !(t->hopt = socfw_adamw_new_for_params(t->hps, &ac, err)) &&
                    socfw_params_size(t->hps) > 0)
                        return SOCFW_ENOMEM;
                if (t->adapter && !t->aopt &&
                    !(t->aopt = socfw_adamw_new_for_params(
                              socfw_adapter_params(t->adapter), &ac, err)))
                        return SOCFW_ENOMEM;
        }
        return 0;
}

/* ---- checkpoints ---- */

/* What the checkpoint was trained on top of (meta.json "backbone" and
 * "tokenizer"); checked again by check_fingerprints when it is loaded. */
static json_t *
backbone_meta(const socfw_runtime *rt)
{
        const socfw_model_config *c = socfw_model_config_of(rt->model);
        const char *src = rt->backbone.model;
        return json_pack("{s:s, s:s, s:i, s:i, s:i, s:s}", "fingerprint",
                         rt->backbone_fp, "architecture",
                         socfw_arch_name(c->arch), "layers", c->n_layers,
                         "hidden", c->hidden, "vocab_size", c->vocab_size,
                         "source", src ? src : "pretrained by the pipeline");
}

static json_t *
tokenizer_meta(const socfw_runtime *rt)
{
        return json_pack("{s:s, s:I}", "fingerprint", rt->tokenizer_fp,
                         "vocab_size",
                         (json_int_t)socfw_tokenizer_vocab_size(rt->tok));
}

/* Refuse a checkpoint made on another backbone or vocabulary than the one
 * this pipeline loaded (checkpoints from before fingerprints pass). */
static int
check_fingerprints(const socfw_runtime *rt, socfw_error *err)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/checkpoint/meta.json", rt->out_dir);
        json_error_t je;
        json_t *meta = json_load_file(path, 0, &je);
        if (!meta)
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, je.line,
                                          je.column, "%s (hint: the run's "
                                          "checkpoint is damaged; train it "
                                          "again)", je.text);
        int rc = 0;
        static const char *const parts[] = {"backbone", "tokenizer"};
        const char *have[] = {rt->backbone_fp, rt->tokenizer_fp};
        for (int i = 0; i < 2 && rc == 0; i++) {
                const char *fp = json_string_value(json_object_get(
                        json_object_get(meta, parts[i]), "fingerprint"));
                if (fp && strcmp(fp, have[i]) != 0)
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, path, 0, 0,
                                "%s.fingerprint: the checkpoint was trained "
                                "on a %s with fingerprint %.16s..., but the "
                                "pipeline now loads one with %.16s... (hint: "
                                "the backbone files changed since the run; "
                                "restore them or train the pipeline again)",
                                parts[i], parts[i], fp, have[i]);
        }
        json_decref(meta);
        return rc;
}

/* Tensor names in a checkpoint: backbone tensors as they are, head tensors
 * as "<task>/<name>". */
static int
save_checkpoint(socfw_runtime *rt, long step, const char *metric,
                double value, socfw_error *err)
{
        socfw_params *bps = socfw_model_params(rt->model);
        size_t cap = (size_t)socfw_params_count(bps);
        for (size_t i = 0; i < rt->n_tasks; i++) {
                if (rt->tasks[i].hps)
                        cap += (size_t)socfw_params_count(rt->tasks[i].hps);
                if (rt->tasks[i].adapter)
                        cap += (size_t)socfw_params_count(
                                socfw_adapter_params(rt->tasks[i].adapter));
        }
        socfw_tensor_info *ti = calloc(cap ? cap : 1, sizeof *ti);
        char **names = calloc(cap ? cap : 1, sizeof *names);
        size_t n = 0;
        int rc = 0;
        if (!ti || !names) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (int k = 0; k < socfw_params_count(bps); k++) {
                if (!socfw_params_trainable(bps, k))
                        continue;
                socfw_safetensors_tensor_of(&ti[n++], bps, k, NULL);
        }
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                for (int k = 0; t->hps && k < socfw_params_count(t->hps);
                     k++) {
                        if (asprintf(&names[n], "%s/%s",
                                     socfw_task_name(t->ctx),
                                     socfw_params_name(t->hps, k)) < 0) {
                                names[n] = NULL;
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        socfw_safetensors_tensor_of(&ti[n], t->hps, k, names[n]);
                        n++;
                }
                socfw_params *aps = t->adapter ? socfw_adapter_params(
                                                         t->adapter)
                                               : NULL;
                for (int k = 0; aps && k < socfw_params_count(aps); k++) {
                        if (asprintf(&names[n], "%s/adapter/%s",
                                     socfw_task_name(t->ctx),
                                     socfw_params_name(aps, k)) < 0) {
                                names[n] = NULL;
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        socfw_safetensors_tensor_of(&ti[n], aps, k, names[n]);
                        n++;
                }
        }
        char dir[4096], path[4200], stepbuf[32], valbuf[64];
        snprintf(dir, sizeof dir, "%s/checkpoint", rt->out_dir);
        if ((rc = socfw_dir_make(dir, 0755, err)) < 0)
                goto out;
        snprintf(stepbuf, sizeof stepbuf, "%ld", step);
        snprintf(valbuf, sizeof valbuf, "%.6g", value);
        socfw_safetensors_kv kv[4] = {
                {"format", "socfw-checkpoint"},
                {"step", stepbuf},
                {"metric", metric ? metric : ""},
                {"value", valbuf},
        };
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = socfw_safetensors_write(path, ti, n, kv, 4, err);
        if (rc == 0) {
                /* meta.json: what produced the checkpoint */
                /* no evaluation yet (eval_every beyond the last step):
                 * value is NaN, which JSON cannot hold */
                json_t *meta = json_pack(
                        "{s:s, s:I, s:s, s:o, s:s}", "format",
                        "socfw-checkpoint-1", "step", (json_int_t)step,
                        "metric", metric ? metric : "", "value",
                        isfinite(value) ? json_real(value) : json_null(),
                        "pipeline", socfw_pipeline_path(rt->p));
                json_t *labels = json_object();
                for (size_t i = 0; meta && labels && i < rt->n_tasks; i++) {
                        json_t *arr = json_array();
                        for (size_t k = 0;
                             k < socfw_task_label_count(rt->tasks[i].ctx); k++)
                                json_array_append_new(
                                        arr, json_string(socfw_task_label(
                                                     rt->tasks[i].ctx, k)));
                        json_object_set_new(
                                labels, socfw_task_name(rt->tasks[i].ctx),
                                arr);
                }
                json_object_set_new(meta, "labels", labels);
                json_object_set_new(meta, "backbone", backbone_meta(rt));
                json_object_set_new(meta, "tokenizer", tokenizer_meta(rt));
                char *text = meta ? json_dumps(meta, JSON_INDENT(2) |
                                                             JSON_SORT_KEYS)
                                  : NULL;
                json_decref(meta);
                snprintf(path, sizeof path, "%s/meta.json", dir);
                rc = text ? socfw_file_write_atomic(path, text, strlen(text),
                                                    err)
                          : socfw_error_set(err, SOCFW_ENOMEM,
                                            "out of memory");
                free(text);
        }
out:
        for (size_t i = 0; names && i < cap; i++)
                free(names[i]);
        free(names);
        free(ti);
        return rc;
}

/* Load the tensors of output_dir/checkpoint back into the model. */
static int
load_checkpoint(socfw_runtime *rt, socfw_error *err)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/checkpoint/model.safetensors",
                 rt->out_dir);
        int rc = check_fingerprints(rt, err);
        if (rc < 0)
                return rc;
        socfw_modelfile *mf = NULL;
        rc = socfw_modelfile_open(&mf, path, err);
        if (rc < 0)
                return rc;
        socfw_params *bps = socfw_model_params(rt->model);
        for (size_t i = 0; rc == 0 && i < socfw_modelfile_n_tensors(mf);
             i++) {
                const socfw_tensor_info *x = socfw_modelfile_tensor(mf, i);
                const char *slash = strchr(x->name, '/');
                socfw_params *ps = bps;
                const char *name = x->name;
                if (slash) {
                        ps = NULL;
                        name = slash + 1;
                        int in_adapter = !strncmp(name, "adapter/", 8);
                        for (size_t k = 0; k < rt->n_tasks; k++) {
                                rt_task *t = &rt->tasks[k];
                                if (strlen(socfw_task_name(t->ctx)) !=
                                            (size_t)(slash - x->name) ||
                                    strncmp(x->name, socfw_task_name(t->ctx),
                                            (size_t)(slash - x->name)))
                                        continue;
                                if (in_adapter && t->adapter)
                                        ps = socfw_adapter_params(t->adapter);
                                else if (!in_adapter)
                                        ps = t->hps;
                        }
                        if (in_adapter)
                                name += 8;
                        /* a task removed from the pipeline since: the
                         * others still load */
                        int known = 0;
                        for (size_t k = 0; k < rt->n_tasks; k++) {
                                const char *tn = socfw_task_name(
                                        rt->tasks[k].ctx);
                                known |= strlen(tn) ==
                                                 (size_t)(slash - x->name) &&
                                         !strncmp(x->name, tn,
                                                  (size_t)(slash - x->name));
                        }
                        if (!known)
                                continue;
                }
                int idx = ps ? socfw_params_find(ps, name) : -1;
                if (idx < 0 || socfw_params_numel(ps, idx) != x->nelem) {
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, path, 0, 0,
                                "tensor '%s' does not fit this pipeline "
                                "(hint: the checkpoint comes from another "
                                "pipeline or model)",
                                x->name);
                        break;
                }
                rc = socfw_modelfile_read_f32(mf, x, socfw_params_data(ps, idx),
                                              (size_t)x->nelem, err);
        }
        socfw_modelfile_close(mf);
        for (size_t k = 0; k < rt->n_tasks; k++)   /* projected prefixes */
                socfw_adapter_params_changed(rt->tasks[k].adapter);
        return rc;
}

/* ---- evaluation ---- */

/* <task>.<split>.json: the metrics, the labels and the confusion matrix
 * (rows: gold, columns: predicted), written atomically. */
int
rt_write_eval_json(socfw_runtime *rt, rt_task *t, const char *split,
                   size_t n, json_t *metrics, json_t *extra, socfw_error *err)
{
        json_t *doc = json_object();
        json_object_set_new(doc, "task", json_string(socfw_task_name(t->ctx)));
        json_object_set_new(doc, "split", json_string(split));
        json_object_set_new(doc, "examples", json_integer((json_int_t)n));
        json_object_set_new(doc, "metrics", metrics ? metrics : json_object());
        if (extra)
                json_object_update(doc, extra);
        json_decref(extra);
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                             JSON_REAL_PRECISION(6));
        json_decref(doc);
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.%s.json", rt->out_dir,
                 socfw_task_name(t->ctx), split);
        int rc = text ? socfw_file_write_atomic(path, text, strlen(text), err)
                      : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        free(text);
        return rc;
}

json_t *
rt_eval_metrics_json(const socfw_eval *e)
{
        json_t *metrics = json_object();
        for (size_t m = 0; metrics && m < e->n_metrics; m++)
                json_object_set_new(metrics, e->names[m],
                                    json_real(e->values[m]));
        return metrics;
}

static int
write_json_report(socfw_runtime *rt, rt_task *t, const char *split,
                  const int *gold, const int *pred, size_t n,
                  const socfw_eval *e, socfw_error *err)
{
        size_t K = (size_t)t->n_outputs;
        json_t *labels = json_array(), *cm = json_array();
        for (size_t k = 0; k < K; k++) {
                const char *l = socfw_task_label(t->ctx, k);
                json_array_append_new(labels, json_string(l ? l : ""));
                json_t *row = json_array();
                for (size_t j = 0; j < K; j++) {
                        size_t c = 0;
                        for (size_t i = 0; i < n; i++)
                                c += (size_t)gold[i] == k &&
                                     (size_t)pred[i] == j;
                        json_array_append_new(row, json_integer((json_int_t)c));
                }
                json_array_append_new(cm, row);
        }
        return rt_write_eval_json(rt, t, split, n, rt_eval_metrics_json(e),
                                  json_pack("{s:o, s:o}", "labels", labels,
                                            "confusion_matrix", cm),
                                  err);
}

/* Token classification: word-level gold and predicted tags (the labelled
 * sub-token of each word), entity-level metrics (seqeval-style exact
 * spans) per type, micro and macro, and token accuracy.  Metrics
 * <task>.<split>.f1/.precision/.recall/.f2/.macro_f1/.token_accuracy/
 * .<TYPE>.f1 ... and .loss; the table in <task>.<split>.txt, everything in
 * <task>.<split>.json. */
/* An evaluation split into batches of B examples runs in a data-parallel
 * job as every process taking every N-th batch: batch bi's examples go to
 * batch[] and its size is returned when this process runs it, 0 when
 * another does. */
static int
eval_batch(const rt_split *s, size_t bi, int B, const rt_example **batch)
{
        if ((int)(bi % (size_t)socfw_dist_size()) != socfw_dist_rank())
                return 0;
        size_t start = bi * (size_t)B;
        int nb = (int)(s->n - start < (size_t)B ? s->n - start : (size_t)B);
        for (int b = 0; b < nb; b++)
                batch[b] = &s->ex[start + (size_t)b];
        return nb;
}

/* ...and what the processes computed is gathered: bstat (a loss sum and a
 * count per batch, 2 x nbatch) and vals (per example or token, each
 * written by exactly one process, zeros elsewhere) summed over them. */
static int
eval_gather(double *bstat, size_t nbatch, float *vals, size_t n_vals,
            socfw_error *err)
{
        if (socfw_dist_size() <= 1)
                return 0;
        int rc = socfw_dist_allreduce_sum_f64(bstat, 2 * nbatch, err);
        if (rc == 0 && vals)
                rc = socfw_dist_allreduce_sum(vals, n_vals, err);
        return rc;
}

static int
evaluate_tags(socfw_runtime *rt, rt_task *t, const char *split,
              const rt_split *s, char **report_out, socfw_error *err)
{
        int B = rt->train.eval_batch_size;
        size_t K = (size_t)t->n_outputs, words = 0;
        /* Two views of the same word tags: the task's hook sees every
         * word of each example, -1 where there is no tag (wgold/wpred,
         * socfw_eval_tags); the entity metrics see the tagged words only,
         * back to back (gold/pred, lens[] per example).  Both are filled
         * from the words in one walk below, so they cannot disagree. */
        size_t all_words = 0;
        for (size_t i = 0; i < s->n; i++)
                all_words += (size_t)s->ex[i].n_words;
        int *gold = malloc(sizeof(int) * (all_words ? all_words : 1));
        int *pred = malloc(sizeof(int) * (all_words ? all_words : 1));
        int *wgold = malloc(sizeof(int) * (all_words ? all_words : 1));
        int *wpred = malloc(sizeof(int) * (all_words ? all_words : 1));
        size_t *woff = calloc(s->n + 1, sizeof *woff);
        long *rows = calloc(s->n ? s->n : 1, sizeof *rows);
        size_t *lens = calloc(s->n ? s->n : 1, sizeof *lens);
        const char **names = calloc(K ? K : 1, sizeof *names);
        char *table = NULL, *text = NULL;
        socfw_entity_metrics em = {0};
        socfw_eval e;
        int have_eval = 0;
        int rc = gold && pred && wgold && wpred && woff && rows && lens &&
                                 names
                         ? 0
                         : socfw_error_set(err, SOCFW_ENOMEM,
                                           "out of memory");
        double loss_sum = 0;
        size_t counted = 0;
        const rt_example *batch[512];
        if (B < 1)
                B = 1;
        if (B > 512)
                B = 512;
        /* the forward passes, split between the processes of a
         * data-parallel job batch by batch and gathered (as
         * evaluate_task): each token's best tag, each batch's loss and
         * count; then the words and entities in example order */
        size_t nbatch = (s->n + (size_t)B - 1) / (size_t)B, tokens = 0;
        size_t *toff = calloc(s->n + 1, sizeof *toff);
        for (size_t i = 0; toff && i < s->n; i++)
                toff[i + 1] = toff[i] + (size_t)s->ex[i].n;
        tokens = toff ? toff[s->n] : 0;
        float *best_tag = calloc(tokens ? tokens : 1, sizeof *best_tag);
        double *bstat = calloc(2 * (nbatch ? nbatch : 1), sizeof *bstat);
        if ((!toff || !best_tag || !bstat) && rc == 0)
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t bi = 0; rc == 0 && bi < nbatch; bi++) {
                int nb = eval_batch(s, bi, B, batch);
                if (nb == 0)
                        continue;
                size_t start = bi * (size_t)B;
                int T = 1;
                for (int b = 0; b < nb; b++)
                        if (batch[b]->n > T)
                                T = batch[b]->n;
                float loss;
                rc = run_batch(rt, t, batch, nb, 0, 0, &loss, err);
                if (rc < 0)
                        break;
                size_t cnt = 0;
                for (int b = 0; b < nb; b++) {
                        const rt_example *x = batch[b];
                        float *bt = best_tag + toff[start + (size_t)b];
                        for (int i = 0; i < x->n; i++) {
                                const float *o =
                                        rt->out +
                                        ((size_t)b * (size_t)T + (size_t)i) *
                                                K;
                                size_t best = 0;
                                for (size_t k = 1; k < K; k++)
                                        if (o[k] > o[best])
                                                best = k;
                                bt[i] = (float)best;
                                cnt += x->targets && x->targets[i] >= 0;
                        }
                }
                bstat[2 * bi] = (double)loss * (double)cnt;
                bstat[2 * bi + 1] = (double)cnt;
        }
        if (rc == 0)
                rc = eval_gather(bstat, nbatch, best_tag, tokens, err);
        for (size_t bi = 0; rc == 0 && bi < nbatch; bi++) {
                loss_sum += bstat[2 * bi];
                counted += (size_t)bstat[2 * bi + 1];
        }
        /* each word's tag sits at its labelled token (word_pos, in token
         * order), so the tagged words are exactly the tagged tokens */
        for (size_t j = 0; rc == 0 && j < s->n; j++) {
                const rt_example *x = &s->ex[j];
                const float *bt = best_tag + toff[j];
                size_t at = woff[j];
                rows[j] = x->record;
                for (int k = 0; k < x->n_words; k++, at++) {
                        int pos = x->word_pos[k];
                        wgold[at] = pos >= 0 && x->targets &&
                                                    x->targets[pos] >= 0
                                            ? x->targets[pos]
                                            : -1;
                        wpred[at] = pos >= 0 ? (int)bt[pos] : -1;
                        if (wgold[at] < 0)
                                continue;
                        gold[words] = wgold[at];
                        pred[words++] = wpred[at];
                        lens[j]++;
                }
                woff[j + 1] = at;
        }
        free(toff);
        free(best_tag);
        free(bstat);
        for (size_t k = 0; rc == 0 && k < K; k++)
                names[k] = socfw_task_label(t->ctx, k);
        if (rc == 0)
                rc = socfw_entity_metrics_compute(&em, gold, pred, lens, s->n,
                                                  names, K, err);
        char prefix[512], name[600];
        snprintf(prefix, sizeof prefix, "%s.%s", socfw_task_name(t->ctx),
                 split);
        double loss = counted ? loss_sum / (double)counted : 0;
        if (rc == 0) {
                snprintf(name, sizeof name, "%s.loss", prefix);
                rc = socfw_metrics_set(rt->metrics, name, loss, 0);
        }
        if (rc == 0)
                rc = socfw_metrics_add_entities(rt->metrics, prefix, &em);
        if (rc < 0 && rc != SOCFW_ENOMEM)
                goto out;
        if (rc < 0) {
                rc = socfw_error_set(err, rc, "out of memory");
                goto out;
        }
        /* the task's own metrics, per example and its words */
        socfw_eval_init(&e, s->n, wgold, wpred, NULL, K);
        e.kind = SOCFW_TARGET_TAGS;
        e.tag_off = woff;
        e.rows = rows;
        e.ctx = t->ctx;
        e.source = s->source;
        e.split = split;
        have_eval = 1;
        if (t->plugin->task->evaluate)
                rc = t->plugin->task->evaluate(t->ctx->state, &e, err);
        for (size_t m = 0; rc == 0 && m < e.n_metrics; m++) {
                snprintf(name, sizeof name, "%s.%s", prefix, e.names[m]);
                socfw_metrics_set(rt->metrics, name, e.values[m],
                                  e.higher[m]);
        }
        if (rc < 0)
                goto out;
        table = socfw_entity_metrics_report(&em);
        if (!table) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        if (asprintf(&text, "%s %s: %zu examples, %zu words, loss %.4f\n\n"
                            "%s%s%s",
                     socfw_task_name(t->ctx), split, s->n, words, loss,
                     table, e.report ? "\n" : "",
                     e.report ? e.report : "") < 0) {
                text = NULL;
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        if (report_out) {
                *report_out = text;
                text = NULL;
        } else if (rt->out_dir) {
                char path[4200];
                snprintf(path, sizeof path, "%s/%s.txt", rt->out_dir, prefix);
                rc = socfw_file_write_atomic(path, text, strlen(text), err);
                if (rc == 0) {
                        json_t *mj = json_object();
                        json_t *tj = json_object(), *lj = json_array();
                        for (size_t k = 0; k < K; k++)
                                json_array_append_new(
                                        lj, json_string(names[k] ? names[k]
                                                                 : ""));
                        for (size_t m = 0;
                             m < socfw_metrics_count(rt->metrics); m++) {
                                double v;
                                const char *mn = socfw_metrics_name(
                                        rt->metrics, m, &v, NULL);
                                size_t pl = strlen(prefix);
                                if (mn && !strncmp(mn, prefix, pl) &&
                                    mn[pl] == '.')
                                        json_object_set_new(mj, mn + pl + 1,
                                                            json_real(v));
                        }
                        for (size_t k = 0; k < em.n_types; k++) {
                                const socfw_span_type_metrics *x =
                                        &em.per_type[k];
                                json_object_set_new(
                                        tj, x->type,
                                        json_pack("{s:f,s:f,s:f,s:f,s:I,s:I}",
                                                  "precision", x->precision,
                                                  "recall", x->recall, "f1",
                                                  x->f1, "f2", x->fbeta,
                                                  "support",
                                                  (json_int_t)(x->tp + x->fn),
                                                  "predicted",
                                                  (json_int_t)(x->tp +
                                                               x->fp)));
                        }
                        rc = rt_write_eval_json(
                                rt, t, split, s->n, mj,
                                json_pack("{s:I, s:o, s:o}", "words",
                                          (json_int_t)words, "entities", tj,
                                          "labels", lj),
                                err);
                }
        }
        if (rc == 0)
                rt_progress(rt, "%s %s: loss %.4f entity precision %.4f "
                                "recall %.4f f1 %.4f macro_f1 %.4f token "
                                "accuracy %.4f (%zu examples, %zu gold "
                                "entities)",
                            socfw_task_name(t->ctx), split, loss,
                            em.micro_precision, em.micro_recall, em.micro_f1,
                            em.macro_f1, em.token_accuracy, s->n,
                            em.tp + em.fn);
out:
        if (have_eval)
                socfw_eval_clear(&e);
        socfw_entity_metrics_clear(&em);
        free(table);
        free(text);
        free(gold);
        free(pred);
        free(wgold);
        free(wpred);
        free(woff);
        free(rows);
        free(lens);
        free(names);
        return rc;
}

static int
argmax(const double *v, int K)
{
        int best = 0;
        for (int k = 1; k < K; k++)
                if (v[k] > v[best])
                        best = k;
        return best;
}

/* A record's windows are all seen: its prediction is the best of their
 * summed class probabilities, `out` gets their mean. */
static void
record_done(const double *sum, int K, size_t windows, int *pred, float *out)
{
        *pred = argmax(sum, K);
        for (int k = 0; k < K; k++)
                out[k] = windows ? (float)(sum[k] / (double)windows) : 0.0f;
}

/* A class task whose plugin has no evaluate hook gets the usual
 * classification figures and report over its labels (plugin.h). */
static int
default_class_metrics(rt_task *t, socfw_eval *e, socfw_error *err)
{
        size_t n = socfw_task_label_count(t->ctx);
        const char **names = calloc(n ? n : 1, sizeof *names);
        if (!names)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                names[i] = socfw_task_label(t->ctx, i);
        int rc = socfw_eval_add_classification(e, names, n, err);
        free(names);
        return rc;
}

static int
evaluate_task(socfw_runtime *rt, rt_task *t, const char *split,
              const rt_split *s, char **report_out, socfw_error *err)
{
        if (rt_is_ranker(t)) /* full-catalogue ranking: retrieval.c */
                return rt_ranker_evaluate(rt, t, split, s, report_out, err);
        if (t->kind == SOCFW_TARGET_TAGS) /* entity-level metrics */
                return evaluate_tags(rt, t, split, s, report_out, err);
        int B = rt->train.eval_batch_size;
        int *gold = malloc(sizeof(int) * (s->n ? s->n : 1));
        int *pred = malloc(sizeof(int) * (s->n ? s->n : 1));
        long *rows = calloc(s->n ? s->n : 1, sizeof *rows);
        int rc = gold && pred && rows ? 0
                                      : socfw_error_set(err, SOCFW_ENOMEM,
                                                        "out of memory");
        double loss_sum = 0;
        size_t loss_n = 0, tokens = 0, n_rec = 0;
        const rt_example *batch[512];
        int K_acc = t->n_outputs > 0 ? t->n_outputs : 1;
        double *probs = calloc((size_t)K_acc, sizeof *probs);
        /* each record's class probabilities (socfw_eval_scores) */
        float *rec_probs = t->kind == SOCFW_TARGET_TOKENS
                                   ? NULL
                                   : calloc((s->n ? s->n : 1) * (size_t)K_acc,
                                            sizeof *rec_probs);
        size_t windows = 0;
        if ((!probs || (t->kind != SOCFW_TARGET_TOKENS && !rec_probs)) &&
            rc == 0)
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (B > 512)
                B = 512;
        /* the forward passes, split between the processes of a
         * data-parallel job batch by batch (each process one batch in N)
         * and gathered: every example's class probabilities and every
         * batch's loss and count, summed in batch order afterwards, so
         * that every process gets the figures one process gets */
        size_t nbatch = (s->n + (size_t)B - 1) / (size_t)B;
        double *bstat = calloc(2 * (nbatch ? nbatch : 1), sizeof *bstat);
        float *ex_probs = t->kind == SOCFW_TARGET_TOKENS
                                  ? NULL
                                  : calloc((s->n ? s->n : 1) * (size_t)K_acc,
                                           sizeof *ex_probs);
        if ((!bstat || (t->kind != SOCFW_TARGET_TOKENS && !ex_probs)) &&
            rc == 0)
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t bi = 0; rc == 0 && bi < nbatch; bi++) {
                int nb = eval_batch(s, bi, B, batch);
                if (nb == 0)
                        continue;
                size_t start = bi * (size_t)B;
                float loss;
                rc = run_batch(rt, t, batch, nb, 0, 0, &loss, err);
                if (rc < 0)
                        break;
                size_t cnt = (size_t)nb;
                if (t->kind == SOCFW_TARGET_TOKENS) {
                        cnt = 0;
                        for (int b = 0; b < nb; b++)
                                for (int i = 0; i < batch[b]->n; i++)
                                        cnt += batch[b]->targets[i] >= 0;
                } else {
                        socfw_nn_softmax_forward(rt->out, rt->out, nb,
                                                 t->n_outputs);
                        memcpy(ex_probs + start * (size_t)K_acc, rt->out,
                               sizeof(float) * (size_t)nb * (size_t)K_acc);
                }
                bstat[2 * bi] = (double)loss * (double)cnt;
                bstat[2 * bi + 1] = (double)cnt;
        }
        if (rc == 0)
                rc = eval_gather(bstat, nbatch, ex_probs,
                                 s->n * (size_t)K_acc, err);
        for (size_t bi = 0; rc == 0 && bi < nbatch; bi++) {
                loss_sum += bstat[2 * bi];
                if (t->kind == SOCFW_TARGET_TOKENS)
                        tokens += (size_t)bstat[2 * bi + 1];
                else
                        loss_n += (size_t)bstat[2 * bi + 1];
        }
        /* a record is its first window and the continuation windows after
         * it (backbone.truncation: chunk_average): its prediction is the
         * best of the averaged class probabilities (with one window: the
         * best logit) */
        int K = t->n_outputs;
        for (size_t i = 0; rc == 0 && ex_probs && i < s->n; i++) {
                const rt_example *ex = &s->ex[i];
                if (ex->chunk == 0) {
                        if (n_rec > 0)
                                record_done(probs, K, windows,
                                            &pred[n_rec - 1],
                                            rec_probs +
                                                    (n_rec - 1) * (size_t)K);
                        rows[n_rec] = ex->record;
                        gold[n_rec++] = ex->label;
                        memset(probs, 0, sizeof(double) * (size_t)K);
                        windows = 0;
                }
                for (int k = 0; k < K; k++)
                        probs[k] += ex_probs[i * (size_t)K + k];
                windows++;
        }
        free(bstat);
        free(ex_probs);
        if (rc == 0 && n_rec > 0 && t->kind != SOCFW_TARGET_TOKENS)
                record_done(probs, K_acc, windows, &pred[n_rec - 1],
                            rec_probs + (n_rec - 1) * (size_t)K_acc);
        char name[512];
        if (rc == 0 && t->kind == SOCFW_TARGET_TOKENS) {
                double nll = tokens ? loss_sum / (double)tokens : 0;
                snprintf(name, sizeof name, "%s.%s.loss",
                         socfw_task_name(t->ctx), split);
                socfw_metrics_set(rt->metrics, name, nll, 0);
                snprintf(name, sizeof name, "%s.%s.perplexity",
                         socfw_task_name(t->ctx), split);
                socfw_metrics_set(rt->metrics, name, exp(nll), 0);
                rt_progress(rt, "%s %s: loss %.4f perplexity %.2f (%zu "
                                "tokens)",
                            socfw_task_name(t->ctx), split, nll, exp(nll),
                            tokens);
                /* the task's own metrics (e.g. dialog: distinct-n of
                 * generated replies); no classes to compare */
                if (t->plugin->task->evaluate) {
                        socfw_eval e;
                        for (size_t i = 0; i < s->n; i++) {
                                gold[i] = pred[i] = -1;
                                rows[i] = s->ex[i].record;
                        }
                        socfw_eval_init(&e, s->n, gold, pred, NULL, 0);
                        e.kind = SOCFW_TARGET_TOKENS;
                        e.rows = rows;
                        e.ctx = t->ctx;
                        e.source = s->source;
                        e.split = split;
                        rc = t->plugin->task->evaluate(t->ctx->state, &e, err);
                        for (size_t m = 0; rc == 0 && m < e.n_metrics; m++) {
                                snprintf(name, sizeof name, "%s.%s.%s",
                                         socfw_task_name(t->ctx), split,
                                         e.names[m]);
                                socfw_metrics_set(rt->metrics, name,
                                                  e.values[m], e.higher[m]);
                                rt_progress(rt, "%s %s: %s %.4f",
                                            socfw_task_name(t->ctx), split,
                                            e.names[m], e.values[m]);
                        }
                        if (rc == 0 && e.report && report_out)
                                *report_out = strdup(e.report);
                        if (rc == 0 && e.report && rt->out_dir &&
                            !report_out) {
                                char path[4200];
                                snprintf(path, sizeof path, "%s/%s.%s.txt",
                                         rt->out_dir, socfw_task_name(t->ctx),
                                         split);
                                rc = socfw_file_write_atomic(
                                        path, e.report, strlen(e.report),
                                        err);
                        }
                        socfw_eval_clear(&e);
                }
        } else if (rc == 0) {
                snprintf(name, sizeof name, "%s.%s.loss",
                         socfw_task_name(t->ctx), split);
                socfw_metrics_set(rt->metrics, name,
                                  loss_n ? loss_sum / (double)loss_n : 0, 0);
                socfw_eval e;
                socfw_eval_init(&e, n_rec, gold, pred, rec_probs,
                                (size_t)t->n_outputs);
                e.kind = t->kind;
                e.rows = rows;
                e.ctx = t->ctx;
                e.source = s->source;
                e.split = split;
                if (t->plugin->task->evaluate)
                        rc = t->plugin->task->evaluate(t->ctx->state, &e, err);
                else if (t->kind == SOCFW_TARGET_CLASS)
                        rc = default_class_metrics(t, &e, err);
                for (size_t m = 0; rc == 0 && m < e.n_metrics; m++) {
                        snprintf(name, sizeof name, "%s.%s.%s",
                                 socfw_task_name(t->ctx), split, e.names[m]);
                        socfw_metrics_set(rt->metrics, name, e.values[m],
                                          e.higher[m]);
                }
                /* the classical baseline next to the model's figures */
                if (rc == 0)
                        rc = socfw_baseline_task_report(
                                t->ctx, rt->privacy, rt->p, split, s->source,
                                report_out ? NULL : rt->out_dir, rt->metrics,
                                &e.report, err);
                if (rc == 0 && e.report && report_out)
                        *report_out = strdup(e.report);
                if (rc == 0 && e.report && rt->out_dir && !report_out) {
                        char path[4200];
                        snprintf(path, sizeof path, "%s/%s.%s.txt",
                                 rt->out_dir, socfw_task_name(t->ctx), split);
                        rc = socfw_file_write_atomic(path, e.report,
                                                     strlen(e.report), err);
                }
                if (rc == 0 && rt->out_dir && !report_out)
                        rc = write_json_report(rt, t, split, gold, pred,
                                               n_rec, &e, err);
                double acc = 0, f1 = 0, mr = 0;
                for (size_t m = 0; m < e.n_metrics; m++) {
                        if (!strcmp(e.names[m], "accuracy"))
                                acc = e.values[m];
                        if (!strcmp(e.names[m], "macro_f1"))
                                f1 = e.values[m];
                        if (!strcmp(e.names[m], "macro_recall"))
                                mr = e.values[m];
                }
                rt_progress(rt, "%s %s: loss %.4f accuracy %.4f macro_f1 "
                                "%.4f macro_recall %.4f (%zu examples)",
                            socfw_task_name(t->ctx), split,
                            loss_n ? loss_sum / (double)loss_n : 0, acc, f1,
                            mr, n_rec);
                socfw_eval_clear(&e);
        }
        free(probs);
        free(rec_probs);
        free(rows);
        free(gold);
        free(pred);
        return rc;
}

int
socfw_runtime_evaluate(socfw_runtime *rt, const char *split, socfw_error *err)
{
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                const rt_split *s = !strcmp(split, "valid")  ? &t->valid
                                    : !strcmp(split, "test") ? &t->test
                                                             : &t->train;
                if (!t->head || s->n == 0)
                        continue;
                int rc = evaluate_task(rt, t, split, s, NULL, err);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

int
socfw_runtime_evaluate_file(socfw_runtime *rt, const char *task,
                            const char *path, char **report, socfw_error *err)
{
        rt_task *t = NULL;
        *report = NULL;
        for (size_t i = 0; i < rt->n_tasks; i++)
                if (!strcmp(socfw_task_name(rt->tasks[i].ctx), task))
                        t = &rt->tasks[i];
        if (!t)
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "no task named '%s' in %s", task,
                                       socfw_pipeline_path(rt->p));
        if (!t->head)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s' has no model to evaluate",
                                       task);
        rt_split s = {0};
        int rc = rt_load_split(rt, t, path, &s, err);
        if (rc == 0)
                rc = evaluate_task(rt, t, "eval", &s, report, err);
        rt_split_clear(&s);
        return rc;
}

/* Append every metric to metrics.jsonl (one line per evaluation). */
static void
log_metrics(socfw_runtime *rt, long step, int epoch)
{
        if (!rt->out_dir)
                return;
        json_t *line = socfw_metrics_to_json(rt->metrics);
        if (!line)
                return;
        json_object_set_new(line, "step", json_integer(step));
        json_object_set_new(line, "epoch", json_integer(epoch));
        char *text = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(line);
        char path[4200];
        snprintf(path, sizeof path, "%s/metrics.jsonl", rt->out_dir);
        FILE *f = fopen(path, "a");
        if (f && text)
                fprintf(f, "%s\n", text);
        if (f)
                fclose(f);
        free(text);
}

/* A training-loss line in metrics.jsonl at every progress line
 * (train.log_every steps): {"train_step", "epoch", "train.loss" (mean over
 * the steps since the last line), "train.lr", "train.grad_norm",
 * "train.tokens_per_s"}.  "train_step" (not "step") keeps these apart from
 * the evaluation lines. */
static void
log_train_step(socfw_runtime *rt, long step, int epoch, double loss,
               double lr, double norm, double tokens_per_s)
{
        if (!rt->out_dir)
                return;
        json_t *line = json_pack("{s:I, s:i, s:f, s:f, s:f, s:f}",
                                 "train_step", (json_int_t)step, "epoch",
                                 epoch, "train.loss", loss, "train.lr", lr,
                                 "train.grad_norm", norm,
                                 "train.tokens_per_s", tokens_per_s);
        char *text = line ? json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS)
                          : NULL;
        json_decref(line);
        char path[4200];
        snprintf(path, sizeof path, "%s/metrics.jsonl", rt->out_dir);
        FILE *f = text ? fopen(path, "a") : NULL;
        if (f) {
                fprintf(f, "%s\n", text);
                fclose(f);
        }
        free(text);
}

/* ---- the fine-tuning objective ---- */

/* Fine-tuning as an objective of the training loop (loop.h): every
 * task's batches interleaved in a seeded order per epoch; validation,
 * early stopping and the best checkpoint after the steps that evaluate. */

typedef struct work {
        size_t task;
        size_t start, len; /* into the task's batch plan */
} work;

typedef struct finetune {
        socfw_runtime *rt;
        /* the data: one batch plan per task, re-made each epoch */
        socfw_batch_plan **plans;
        size_t **lengths;
        /* per example, what its loss averages over (1, or its counted
         * tokens for tag and token losses): a data-parallel process's
         * share of a batch is its share of these */
        size_t **items;
        work *queue;
        size_t *order;
        size_t n_work, batches_per_epoch;
        int epoch;              /* of the queue (1-based)                  */
        size_t next;            /* next entry of `order`                   */
        int have_queue;
        const rt_example **batch;
        const rt_loop *lp;      /* the loop running it (progress figures) */
        /* validation and early stopping */
        const char *es_metric;  /* train.early_stopping.metric, or NULL    */
        char watched[512];
        double best;
        int have_best, bad_evals, finished;
        rt_curve valid;
} finetune;

/* The interleaved batches of epoch ft->epoch. */
static int
ft_make_epoch(finetune *ft, socfw_error *err)
{
        socfw_runtime *rt = ft->rt;
        const rt_train_settings *ts = &rt->train;
        size_t B = (size_t)ts->batch_size;
        ft->n_work = 0;
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (!t->trained)
                        continue;
                socfw_batch_plan_free(ft->plans[i]);
                ft->plans[i] = NULL;
                int rc = socfw_batch_plan_new(
                        &ft->plans[i], ft->lengths[i], t->train.n, B, 50, 1,
                        ts->seed + (uint64_t)ft->epoch * 7919 + i, err);
                if (rc < 0)
                        return rc;
                for (size_t b = 0; b < ft->plans[i]->n_batches; b++)
                        ft->queue[ft->n_work++] = (work){
                                .task = i,
                                .start = ft->plans[i]->offsets[b],
                                .len = ft->plans[i]->offsets[b + 1] -
                                       ft->plans[i]->offsets[b]};
        }
        for (size_t k = 0; k < ft->n_work; k++)
                ft->order[k] = k;
        socfw_shuffle_indices(ft->order, ft->n_work,
                              ts->seed ^ (uint64_t)ft->epoch);
        ft->have_queue = 1;
        return 0;
}

static int
ft_micro_batch(void *self, float scale, rt_micro *mb, socfw_error *err)
{
        finetune *ft = self;
        socfw_runtime *rt = ft->rt;
        int rc = 0;
        if (ft->have_queue && ft->next >= ft->n_work) {
                ft->epoch++;
                ft->next = 0;
                ft->have_queue = 0;
        }
        if (ft->epoch > rt->train.epochs) {
                mb->exhausted = 1;
                return 0;
        }
        if (!ft->have_queue && (rc = ft_make_epoch(ft, err)) < 0)
                return rc;
        if (ft->next >= ft->n_work) {
                mb->exhausted = 1;
                return 0;
        }
        const work *wk = &ft->queue[ft->order[ft->next++]];
        rt_task *t = &rt->tasks[wk->task];
        /* data-parallel (socfw/dist.h): this process's share of the batch,
         * its gradient weighted by its share of what the loss averages
         * over (examples; counted tokens for tags and tokens) so that the
         * average over the processes is the whole batch's mean */
        size_t off = 0, len = wk->len;
        socfw_dist_shard(wk->len, &off, &len);
        float share = 1.0f;
        if (socfw_dist_size() > 1) {
                double mine = 0, all = 0;
                for (size_t b = 0; b < wk->len; b++) {
                        size_t items = ft->items[wk->task]
                                                [ft->plans[wk->task]
                                                         ->indices[wk->start +
                                                                   b]];
                        all += (double)items;
                        if (b >= off && b < off + len)
                                mine += (double)items;
                }
                share = all > 0 ? (float)(mine * socfw_dist_size() / all)
                                : 0.0f;
        }
        for (size_t b = 0; b < len; b++)
                ft->batch[b] = &t->train.ex[ft->plans[wk->task]
                                                    ->indices[wk->start +
                                                              off + b]];
        /* dropout masks keyed by the examples' places in the epoch, so
         * that they do not depend on the number of processes */
        socfw_rng_key_rows(&rt->drop,
                           socfw_rng_mix64(rt->train.seed ^
                                           socfw_rng_mix64(
                                                   ((uint64_t)ft->epoch << 20) +
                                                   (uint64_t)wk->task)),
                           wk->start + off, len);
        if (len > 0)
                rc = run_batch(rt, t, ft->batch, (int)len, 1,
                               t->weight * scale * share, &mb->loss, err);
        /* the task had its batch in this step (on every process alike,
         * share or not): its adapter is updated */
        t->had_batch = 1;
        for (size_t b = 0; b < len; b++)
                mb->tokens += (size_t)ft->batch[b]->n;
        mb->end_of_pass = ft->next == ft->n_work;
        return rc;
}

/* AdaLoRA: the orthogonality regulariser joins the gradient; so does
 * L2-SP's pull toward the starting weights (continual.l2_sp, l2sp.c). */
static int
ft_before_update(void *self, socfw_error *err)
{
        (void)err;
        finetune *ft = self;
        rt_l2sp_apply(ft->rt);
        for (size_t i = 0; i < ft->rt->n_tasks; i++)
                if (ft->rt->tasks[i].had_batch)
                        socfw_adapter_adalora_regularize(
                                ft->rt->tasks[i].adapter, NULL);
        return 0;
}

/* AdaLoRA: importance from this step's gradients, then the singular
 * values over budget masked. */
static void
ft_after_update(void *self, long step, long total, int updated)
{
        finetune *ft = self;
        for (size_t i = 0; i < ft->rt->n_tasks; i++) {
                rt_task *t = &ft->rt->tasks[i];
                if (updated && t->aopt && t->had_batch)
                        socfw_adapter_adalora_step(t->adapter, step, total);
                t->had_batch = 0;
        }
}

/* At each progress line: the training loss in metrics.jsonl. */
static void
ft_on_log(void *self, long step, double mean_loss, char *extra, size_t n)
{
        (void)extra;
        (void)n;
        finetune *ft = self;
        const rt_loop *lp = ft->lp;
        double el = rt_seconds() - lp->tok_t0;
        log_train_step(ft->rt, step, ft->epoch, mean_loss, lp->last_lr,
                       isfinite(lp->last_norm) ? lp->last_norm : -1.0,
                       el > 0 ? (double)lp->tokens / el : 0);
}

static void
ft_where(void *self, char *buf, size_t n)
{
        finetune *ft = self;
        snprintf(buf, n, "epoch %d", ft->epoch);
}

/* Where to continue: the epoch and entry after the last step. */
static void
ft_save(void *self, rt_state_kv *kv)
{
        finetune *ft = self;
        int at_end = ft->have_queue && ft->next >= ft->n_work;
        rt_state_kv_add(kv, "epoch", "%d", at_end ? ft->epoch + 1
                                                  : ft->epoch);
        rt_state_kv_add(kv, "next_work", "%zu", at_end ? 0 : ft->next);
        rt_state_kv_add(kv, "best", "%a", ft->best);
        rt_state_kv_add(kv, "have_best", "%d", ft->have_best);
        rt_state_kv_add(kv, "bad_evals", "%d", ft->bad_evals);
        rt_state_kv_add(kv, "finished", "%d", ft->finished);
}

static int
ft_restore(void *self, const socfw_modelfile *mf, const char *path,
           socfw_error *err)
{
        finetune *ft = self;
        static const char *const keys[6] = {"epoch",     "next_work",
                                            "best",      "have_best",
                                            "bad_evals", "finished"};
        const char *v[6];
        for (int k = 0; k < 6; k++) {
                int rc = rt_loop_state_get(mf, path, keys[k], &v[k], err);
                if (rc < 0)
                        return rc;
        }
        ft->epoch = (int)strtol(v[0], NULL, 10);
        ft->next = (size_t)strtoull(v[1], NULL, 10);
        ft->have_queue = 0;
        ft->best = strtod(v[2], NULL);
        ft->have_best = (int)strtol(v[3], NULL, 10);
        ft->bad_evals = (int)strtol(v[4], NULL, 10);
        ft->finished = (int)strtol(v[5], NULL, 10);
        return 0;
}

static const rt_objective finetune_objective;

/* After a step: validation when due, the best checkpoint, early
 * stopping, and the state to resume from. */
static int
ft_after_step(void *self, rt_loop *lp, int end_of_pass, socfw_error *err)
{
        finetune *ft = self;
        socfw_runtime *rt = ft->rt;
        const rt_train_settings *ts = &rt->train;
        long step = lp->step;
        int eval_now = ts->eval_every > 0 ? step % ts->eval_every == 0 : 0;
        int end_epoch = end_of_pass || step == lp->sched.total_steps;
        if (!eval_now && !(ts->eval_every == 0 && end_epoch))
                return 0;
        int rc = socfw_runtime_evaluate(rt, "valid", err);
        if (rc < 0)
                return rc;
        log_metrics(rt, step, ft->epoch);
        double v;
        if (!ft->watched[0] ||
            socfw_metrics_get(rt->metrics, ft->watched, &v, NULL) < 0) {
                if (ft->watched[0] && ft->es_metric)
                        return socfw_error_set(err, SOCFW_ESCHEMA,
                                               "train.early_stopping.metric "
                                               "'%s' is not computed by "
                                               "this pipeline",
                                               ft->watched);
                return 0;
        }
        /* data-parallel processes evaluate alike; rank 0's figure decides
         * for all, so that they never stop or keep a checkpoint apart */
        if ((rc = socfw_dist_bcast_f64(&v, 1, err)) < 0)
                return rc;
        rt_curve_add(&ft->valid, (double)step, v);
        int higher = ts->es_mode == RT_ES_MAX   ? 1
                     : ts->es_mode == RT_ES_MIN ? 0
                     : socfw_metrics_higher_is_better(rt->metrics,
                                                      ft->watched);
        int better = !ft->have_best ||
                     (higher ? v > ft->best + ts->es_min_delta
                             : v < ft->best - ts->es_min_delta);
        if (better) {
                ft->best = v;
                ft->have_best = 1;
                ft->bad_evals = 0;
                if (ts->keep_best &&
                    (rc = save_checkpoint(rt, step, ft->watched, v, err)) < 0)
                        return rc;
                rt_progress(rt, "new best %s = %.4f at step %ld (checkpoint "
                                "saved)",
                            ft->watched, v, step);
        } else if (ts->es_patience > 0 &&
                   ++ft->bad_evals >= ts->es_patience) {
                rt_progress(rt, "early stopping: %s has not improved for %d "
                                "evaluations (best %.4f)",
                            ft->watched, ts->es_patience, ft->best);
                ft->finished = 1;
                rt_loop_stop(lp);
        }
        return rt_loop_save_state(lp, &finetune_objective, ft, err);
}

static const rt_objective finetune_objective = {
        .micro_batch = ft_micro_batch,
        .before_update = ft_before_update,
        .after_update = ft_after_update,
        .where = ft_where,
        .on_log = ft_on_log,
        .after_step = ft_after_step,
        .save = ft_save,
        .restore = ft_restore,
};

static void
ft_clear(finetune *ft)
{
        for (size_t i = 0; ft->plans && i < ft->rt->n_tasks; i++)
                socfw_batch_plan_free(ft->plans[i]);
        for (size_t i = 0; ft->lengths && i < ft->rt->n_tasks; i++)
                free(ft->lengths[i]);
        for (size_t i = 0; ft->items && i < ft->rt->n_tasks; i++)
                free(ft->items[i]);
        free(ft->lengths);
        free(ft->items);
        free(ft->plans);
        free(ft->queue);
        free(ft->order);
        free(ft->batch);
        rt_curve_clear(&ft->valid);
}

/* The loop's groups, in a fixed order: the backbone's trainable ranges,
 * then each task's head and adapter. */
static int
add_groups(socfw_runtime *rt, rt_loop *lp)
{
        socfw_params *bps = socfw_model_params(rt->model);
        float *bdata = socfw_params_data_buffer(bps);
        float *bgrad = socfw_params_grad_buffer(bps);
        char name[128];
        int rc = 0;
        for (size_t r = 0; rc == 0 && r < rt->n_ranges; r++) {
                snprintf(name, sizeof name, "backbone.%zu", r);
                rc = rt_loop_add_group(lp, name, bdata + rt->ranges[r].offset,
                                       bgrad + rt->ranges[r].offset,
                                       rt->ranges[r].len, rt->ranges[r].opt,
                                       NULL);
        }
        for (size_t i = 0; rc == 0 && i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                const char *tn = socfw_task_name(t->ctx);
                if (t->hopt) {
                        snprintf(name, sizeof name, "head.%s", tn);
                        rc = rt_loop_add_group(
                                lp, name, socfw_params_data_buffer(t->hps),
                                socfw_params_grad_buffer(t->hps),
                                (size_t)socfw_params_size(t->hps), t->hopt,
                                NULL);
                }
                if (rc == 0 && t->aopt) {
                        socfw_params *aps = socfw_adapter_params(t->adapter);
                        snprintf(name, sizeof name, "adapter.%s", tn);
                        rc = rt_loop_add_group(
                                lp, name, socfw_params_data_buffer(aps),
                                socfw_params_grad_buffer(aps),
                                (size_t)socfw_params_size(aps), t->aopt,
                                &t->had_batch);
                }
        }
        return rc;
}

static void
loop_progress(void *user, const char *line)
{
        rt_progress(user, "%s", line);
}

/* What trains, and what AdamW keeps for it (the start of the run). */
static void
report_trainable(socfw_runtime *rt)
{
        double total = (double)socfw_params_total_numel(
                socfw_model_params(rt->model));
        double trainable = 0, state = 0;
        for (size_t r = 0; r < rt->n_ranges; r++) {
                trainable += (double)rt->ranges[r].len;
                state += 2.0 * (double)rt->ranges[r].len;
        }
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                socfw_params *aps = t->adapter
                                            ? socfw_adapter_params(t->adapter)
                                            : NULL;
                double nh = t->hps ? (double)socfw_params_total_numel(t->hps)
                                   : 0;
                double na = aps ? (double)socfw_params_total_numel(aps) : 0;
                total += nh + na;
                if (t->hopt) {
                        trainable += nh;
                        state += 2.0 * (double)socfw_params_size(t->hps);
                }
                if (t->aopt) {
                        trainable += na;
                        state += 2.0 * (double)socfw_params_size(aps);
                }
        }
        rt_progress(rt, "trainable: %.0f of %.0f parameters (%.3g%%), "
                        "optimizer state %.2f MiB",
                    trainable, total,
                    total > 0 ? 100.0 * trainable / total : 0,
                    state * sizeof(float) / 1048576.0);
}

/* train.eval_before: the starting point (e.g. the perplexity before
 * fine-tuning), kept as <metric>@step0. */
static int
evaluate_before(socfw_runtime *rt, socfw_error *err)
{
        int rc = socfw_runtime_evaluate(rt, "valid", err);
        if (rc < 0)
                return rc;
        size_t n_m = socfw_metrics_count(rt->metrics);
        for (size_t m = 0; m < n_m; m++) {
                double v = 0;
                int hi = 0;
                const char *mn = socfw_metrics_name(rt->metrics, m, &v, &hi);
                char at[600];
                if (!mn || !strstr(mn, ".valid.") || strchr(mn, '@'))
                        continue;
                snprintf(at, sizeof at, "%s@step0", mn);
                socfw_metrics_set(rt->metrics, at, v, hi);
        }
        log_metrics(rt, 0, 0);
        return 0;
}

/* The metric that picks the best checkpoint.  A task reused from an
 * earlier run does not change: watching its metric would stop the new
 * tasks' training at once. */
static void
choose_watched(socfw_runtime *rt, finetune *ft)
{
        const char *es = rt->train.es_metric;
        for (size_t i = 0; es && i < rt->n_tasks; i++) {
                const char *name = socfw_task_name(rt->tasks[i].ctx);
                size_t n = strlen(name);
                if (rt->tasks[i].reused && !strncmp(es, name, n) &&
                    es[n] == '.') {
                        rt_progress(rt, "early stopping: %s belongs to a "
                                        "reused task; watching the trained "
                                        "tasks instead",
                                    es);
                        es = NULL;
                }
        }
        ft->es_metric = es;
        if (es)
                snprintf(ft->watched, sizeof ft->watched, "%s", es);
        for (size_t i = 0; !ft->watched[0] && i < rt->n_tasks; i++)
                if (rt->tasks[i].trained && rt->tasks[i].valid.n)
                        snprintf(ft->watched, sizeof ft->watched,
                                 "%s.valid.%s",
                                 socfw_task_name(rt->tasks[i].ctx),
                                 rt->tasks[i].kind == SOCFW_TARGET_CLASS
                                         ? "macro_f1"
                                 : rt->tasks[i].kind == SOCFW_TARGET_TAGS
                                         ? "f1"
                                         : "loss");
}

/* curves.svg: training loss and the watched metric over the steps. */
static int
write_curves(socfw_runtime *rt, const rt_loop *lp, const finetune *ft,
             socfw_error *err)
{
        if (!lp->loss.n || !rt->out_dir)
                return 0;
        socfw_chart_series series[2] = {
                {"train loss", lp->loss.x, lp->loss.y, lp->loss.n},
                {ft->watched[0] ? ft->watched : "valid", ft->valid.x,
                 ft->valid.y, ft->valid.n},
        };
        socfw_chart_options co = SOCFW_CHART_OPTIONS_INIT;
        co.title = "training";
        char path[4200];
        snprintf(path, sizeof path, "%s/curves.svg", rt->out_dir);
        return socfw_chart_write_svg(path, series, ft->valid.n ? 2 : 1, &co,
                                     err);
}

/* A data-parallel job (socfw/dist.h): what cannot be split between
 * processes, and what they must agree on before the first step (a
 * difference would make their steps drift apart silently). */
static int
check_data_parallel(socfw_runtime *rt, socfw_error *err)
{
        int N = socfw_dist_size();
        if (N <= 1)
                return 0;
        char seen[512];
        int k = snprintf(seen, sizeof seen, "backbone %.12s tokenizer %.12s",
                         rt->backbone_fp, rt->tokenizer_fp);
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (!t->trained)
                        continue;
                const char *name = socfw_task_name(t->ctx);
                if (rt_is_ranker(t))
                        return socfw_error_set(
                                err, SOCFW_EUNSUPPORTED,
                                "task '%s': ranking pairs train as one "
                                "process: their in-batch and drawn "
                                "negatives depend on how a batch is split "
                                "(hint: train this pipeline without "
                                "mpirun)",
                                name);
                if (t->train.n < (size_t)N)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "task '%s' has %zu training examples, fewer "
                                "than the %d processes (hint: mpirun -np "
                                "%zu or fewer)",
                                name, t->train.n, N, t->train.n);
                if (k > 0 && (size_t)k < sizeof seen)
                        k += snprintf(seen + k, sizeof seen - (size_t)k,
                                      ", %s: %zu examples", name,
                                      t->train.n);
        }
        int rc = socfw_dist_checkin("training setup", 0, err);
        return rc < 0 ? rc
                      : socfw_dist_check_same("the backbone and training "
                                              "data",
                                              seen, err);
}

int
socfw_runtime_train(socfw_runtime *rt, socfw_error *err)
{
        const rt_train_settings *ts = &rt->train;
        if (!socfw_runtime_has_training(rt) || rt->pretrain_paused)
                return 0;
        if (!rt->out_dir)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "training needs an output directory");
        int rc = check_data_parallel(rt, err);
        if (rc == 0)
                rc = make_head_optimizers(rt, err);
        if (rc < 0)
                return rc;
        report_trainable(rt);

        finetune ft = {.rt = rt, .epoch = 1, .best = NAN};
        rt_loop lp;
        memset(&lp, 0, sizeof lp);
        double t0 = rt_seconds();
        size_t B = (size_t)ts->batch_size;
        ft.plans = calloc(rt->n_tasks, sizeof *ft.plans);
        ft.lengths = calloc(rt->n_tasks, sizeof *ft.lengths);
        ft.items = calloc(rt->n_tasks, sizeof *ft.items);
        ft.batch = malloc(sizeof *ft.batch * B);
        if (!ft.plans || !ft.lengths || !ft.items || !ft.batch) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (!t->trained)
                        continue;
                ft.lengths[i] = malloc(sizeof(size_t) * t->train.n);
                ft.items[i] = malloc(sizeof(size_t) * t->train.n);
                if (!ft.lengths[i] || !ft.items[i]) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                int per_token = t->kind == SOCFW_TARGET_TAGS ||
                                t->kind == SOCFW_TARGET_TOKENS;
                for (size_t k = 0; k < t->train.n; k++) {
                        const rt_example *x = &t->train.ex[k];
                        ft.lengths[i][k] = (size_t)x->n;
                        ft.items[i][k] = per_token ? 0 : 1;
                        for (int j = 0; per_token && x->targets && j < x->n;
                             j++)
                                ft.items[i][k] += x->targets[j] >= 0;
                }
                ft.batches_per_epoch += (t->train.n + B - 1) / B;
        }
        ft.queue = malloc(sizeof *ft.queue * (ft.batches_per_epoch + 1));
        ft.order = malloc(sizeof *ft.order * (ft.batches_per_epoch + 1));
        if (!ft.queue || !ft.order) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        long steps_per_epoch =
                (long)((ft.batches_per_epoch + (size_t)ts->grad_accum - 1) /
                       (size_t)ts->grad_accum);
        long total = steps_per_epoch * ts->epochs;
        if (ts->max_steps > 0 && ts->max_steps < total)
                total = ts->max_steps;
        if (total <= 0)
                goto out;
        char state_path[4200];
        snprintf(state_path, sizeof state_path, "%s/state.safetensors",
                 rt->out_dir);
        rt_loop_config lc = {
                .total_steps = total,
                .accum = ts->grad_accum,
                .lr = ts->lr,
                .clip = ts->grad_clip,
                .schedule = ts->schedule,
                .warmup = ts->warmup,
                .min_ratio = ts->min_lr_ratio,
                .log_every = ts->log_every,
                .checkpoint_every = ts->checkpoint_every,
                .what = "training",
                .state_path = state_path,
                .rng = &rt->rng,
                .progress = loop_progress,
                .progress_user = rt,
                .grad_hook = socfw_dist_size() > 1
                                     ? rt_loop_average_over_processes
                                     : NULL,
                .hook_user = &lp,
        };
        if ((rc = rt_loop_init(&lp, &lc, err)) < 0 ||
            (rc = add_groups(rt, &lp)) < 0)
                goto out;
        ft.lp = &lp;
        choose_watched(rt, &ft);
        rt_progress(rt, "training: %ld steps (%d epochs x %ld), batch %d x "
                        "%d accumulated, lr %g, watching %s",
                    total, ts->epochs, steps_per_epoch, ts->batch_size,
                    ts->grad_accum, ts->lr,
                    ft.watched[0] ? ft.watched : "(no validation data)");
        if (rt->resume) {
                rc = rt_loop_resume(&lp, &finetune_objective, &ft, err);
                if (rc < 0)
                        goto out;
                if (rc == 1)
                        rt_progress(rt, "resuming at step %ld (epoch %d)%s",
                                    lp.step, ft.epoch,
                                    ft.finished ? ": training had finished"
                                                : "");
                rc = 0;
        }
        if (lp.step == 0 && ts->eval_before &&
            (rc = evaluate_before(rt, err)) < 0)
                goto out;
        if (!ft.finished &&
            (rc = rt_loop_run(&lp, &finetune_objective, &ft, err)) < 0)
                goto out;
        /* the end: a state that says so, then the best checkpoint or the
         * last weights */
        ft.finished = 1;
        ft.epoch = ts->epochs + 1;
        ft.next = 0;
        ft.have_queue = 0;
        if ((rc = rt_loop_save_state(&lp, &finetune_objective, &ft, err)) <
            0)
                goto out;
        if (ft.have_best && ts->keep_best) {
                rc = load_checkpoint(rt, err);
                if (rc < 0)
                        goto out;
                rt_progress(rt, "restored the best checkpoint (%s = %.4f)",
                            ft.watched, ft.best);
        } else {
                rc = save_checkpoint(rt, lp.step, ft.watched, ft.best, err);
                if (rc < 0)
                        goto out;
        }
        rc = write_curves(rt, &lp, &ft, err);
        if (rc == 0 && rt->n_adapters && rt->out_dir)
                rc = rt_save_adapters(rt, err);
        rt_progress(rt, "training done in %.1fs", rt_seconds() - t0);
out:
        ft_clear(&ft);
        rt_loop_clear(&lp);
        return rc;
}

int
rt_load_best(socfw_runtime *rt, socfw_error *err)
{
        return load_checkpoint(rt, err);
}

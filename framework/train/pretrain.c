/* pretrain.c - pretraining a backbone on unlabelled text.  From scratch:
 * train a vocabulary on the corpus (byte-level BPE, or WordPiece for BERT),
 * build a randomly initialised model of the pipeline's architecture and
 * pretrain it, as a causal LM (decoders) or a masked LM (encoders, see
 * mlm.h).  Continued: the same on a loaded backbone with its own
 * vocabulary.  The result is saved in Hugging Face layout (with the MLM
 * head under BertForMaskedLM / RobertaForMaskedLM names) so later runs
 * and other tools can load it. */
#define _GNU_SOURCE /* asprintf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/config_impl.h"
#include "socfw/data.h"
#include "socfw/dist.h"
#include "socfw/io.h"
#include "socfw/metrics.h"
#include "socfw/modelfile.h"
#include "socfw/nn.h"
#include "socfw/safetensors.h"
#include "train/loop.h"
#include "train/mlm.h"
#include "train/runtime_impl.h"

#define MAX_LINE_BYTES 65536

typedef struct corpus {
        char **lines;
        size_t *lens;
        size_t n, cap, bytes;
        size_t max_bytes;       /* pretrain.max_corpus_mb                  */
} corpus;

static void
corpus_free(corpus *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->lines[i]);
        free(c->lines);
        free(c->lens);
        memset(c, 0, sizeof *c);
}

static int
corpus_add(corpus *c, const char *s, size_t len)
{
        if (len == 0 || c->bytes + len > c->max_bytes)
                return 0;
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 1024;
                char **l = realloc(c->lines, cap * sizeof *l);
                if (!l)
                        return SOCFW_ENOMEM;
                c->lines = l;
                size_t *n = realloc(c->lens, cap * sizeof *n);
                if (!n)
                        return SOCFW_ENOMEM;
                c->lens = n;
                c->cap = cap;
        }
        char *copy = strndup(s, len);
        if (!copy)
                return SOCFW_ENOMEM;
        c->lines[c->n] = copy;
        c->lens[c->n++] = len;
        c->bytes += len;
        return 0;
}

/* Plain text, one document per line; invalid UTF-8 lines are skipped. */
/* Add a line after the pipeline's privacy stage has cleaned it. */
static int
corpus_add_clean(socfw_runtime *rt, corpus *c, const char *s, size_t len,
                 socfw_error *err)
{
        if (!rt->privacy)
                return corpus_add(c, s, len);
        char *line = strndup(s, len), *clean = NULL;
        if (!line)
                return SOCFW_ENOMEM;
        int rc = rt_anonymise(rt, line, &clean, err);
        if (rc == 0)
                rc = corpus_add(c, clean, strlen(clean));
        free(line);
        free(clean);
        return rc;
}

/* One document per line, plain or gzip; invalid UTF-8 lines and lines
 * over MAX_LINE_BYTES are left out.  Reading stops at the corpus's byte
 * budget (pretrain.max_corpus_mb), with a notice. */
static int
read_text_file(socfw_runtime *rt, corpus *c, const char *what,
               const char *path, socfw_error *err)
{
        socfw_line_reader *r = NULL;
        int rc = socfw_line_reader_open(&r, path, MAX_LINE_BYTES, err);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "%s", what);
        const char *line;
        size_t len, before = c->n;
        while ((rc = socfw_line_reader_next(r, &line, &len, err)) == 1) {
                if (c->bytes + len > c->max_bytes) {
                        rt_progress(rt, "%s: %s read up to "
                                        "line %ld; it reached its budget "
                                        "(%zu MiB)",
                                    what, path, socfw_line_reader_line(r) - 1,
                                    c->max_bytes >> 20);
                        rc = 0;
                        break;
                }
                if (!socfw_utf8_valid(line, len, NULL))
                        continue;
                if ((rc = corpus_add_clean(rt, c, line, len, err)) < 0)
                        break;
        }
        if (rc == 0)
                rt_progress(rt, "%s: %zu lines from %s", what,
                            c->n - before, path);
        socfw_line_reader_close(r);
        return rc;
}

/* The texts of the tasks' training data join the corpus. */
static int
add_task_texts(socfw_runtime *rt, corpus *c, socfw_error *err)
{
        for (size_t i = 0; i < socfw_pipeline_task_count(rt->p); i++) {
                rt_task_settings ts;
                rt_task_settings_read(&ts, socfw_pipeline_task(rt->p, i),
                                      NULL, NULL);
                const char *train = ts.data_train;
                const socfw_plugin *head = socfw_pipeline_task_head(rt->p, i);
                /* text classification data has one text field; other
                 * shapes (dialog turns, interactions) are left out */
                if (!train || !head ||
                    socfw_registry_head_target(head) != SOCFW_TARGET_CLASS)
                        continue;
                socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
                o.text_field = ts.text_field;
                o.reader.bad_rows = SOCFW_BAD_ROWS_SKIP;
                socfw_dataset *ds = NULL;
                socfw_error local = {0};
                if (socfw_dataset_load(&ds, train, &o, &local) < 0)
                        continue; /* e.g. dialog data without a text field */
                int rc = 0;
                for (size_t k = 0; rc == 0 && k < socfw_dataset_size(ds);
                     k++) {
                        const char *s = socfw_dataset_text(ds, k);
                        if (s)
                                rc = corpus_add_clean(rt, c, s, strlen(s),
                                                      err);
                }
                socfw_dataset_free(ds);
                if (rc < 0)
                        return socfw_error_set(err, rc, "reading %s",
                                               train);
        }
        return 0;
}

/* ---- saving a backbone in Hugging Face layout ---- */

/* config.json + model.safetensors (+ the MLM head's tensors, when `head`
 * is given: socfw_model_save puts encoder tensors under the prefix of HF's
 * *ForMaskedLM classes so that "cls.predictions.*" / "lm_head.*" sit
 * beside them as transformers expects) + the tokenizer files. */
static int
save_backbone(socfw_runtime *rt, const char *dir, const rt_mlm_head *head,
              socfw_error *err)
{
        size_t nh = head ? (size_t)socfw_params_count(head->ps) : 0;
        socfw_tensor_info *ti = nh ? calloc(nh, sizeof *ti) : NULL;
        if (nh && !ti)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t k = 0; k < nh; k++)
                socfw_safetensors_tensor_of(&ti[k], head->ps, (int)k, NULL);
        int rc = socfw_model_save(rt->model, dir, ti, nh, err);
        free(ti);
        if (rc == 0)
                rc = socfw_tokenizer_save(rt->tok, dir, err);
        return rc;
}

int
rt_save_backbone(socfw_runtime *rt, const char *dir, socfw_error *err)
{
        return save_backbone(rt, dir, NULL, err);
}

/* Replace the in-memory backbone and tokenizer by what `dir` holds, so
 * that this run trains exactly what later runs (predict, --resume) load:
 * same tensor names, same tokenizer files. */
static int
reload_backbone(socfw_runtime *rt, const char *dir, socfw_error *err)
{
        socfw_model_options mo = {.seed = rt->train.seed};
        socfw_model *m = NULL;
        socfw_tokenizer *tok = NULL;
        int rc = socfw_model_load(&m, dir, &mo, err);
        if (rc == 0)
                rc = socfw_tokenizer_load(&tok, dir, err);
        if (rc < 0) {
                socfw_model_free(m);
                return socfw_error_prefix(err, rc, "reloading the "
                                          "pretrained backbone %s", dir);
        }
        socfw_model_free(rt->model);
        socfw_tokenizer_free(rt->tok);
        rt->model = m;
        rt->tok = tok;
        return 0;
}

/* ---- pretraining ---- */

/* Causal-LM and masked-LM pretraining as objectives of the training loop
 * (loop.h): each micro-batch is B random windows of the token stream. */
typedef struct pretrainer {
        socfw_runtime *rt;
        const rt_loop *lp;
        const int32_t *stream;
        size_t n_stream;
        int B, T;
        size_t N;               /* B x T                                   */
        int32_t *ids, *tgt;
        float *hidden, *dhidden;
        int first_done;         /* pretrain.first_loss recorded            */
        /* causal LM */
        float *logits;
        /* masked LM */
        rt_mlm_head *head;      /* borrowed                                */
        rt_mlm_vocab voc;
        int32_t cls, sep;
        float prob;
        int wwm, emb;
        int32_t *mtgt, *pos;
        float *x, *dx;
        long n_masked, n_right;
        /* held-out perplexity (causal LM; pretrain.valid) */
        int32_t *valid;
        size_t n_valid;
        long eval_every, evaluated_at;
        double elapsed0;        /* pretraining seconds of earlier sittings */
        double t0;              /* this sitting's start                    */
} pretrainer;

static void
pt_first_loss(pretrainer *pt, float loss)
{
        if (!pt->first_done)
                socfw_metrics_set(pt->rt->metrics, "pretrain.first_loss",
                                  loss, 0);
        pt->first_done = 1;
}

/* The forward pass over this process's share [off, off + len) of the
 * step's windows (all of them with one process), its dropout masks keyed
 * by the windows' places in the batch so that they do not depend on the
 * number of processes (rng.h).  Nothing to do for an empty share. */
static int
pt_forward_share(pretrainer *pt, size_t off, size_t len, socfw_error *err)
{
        socfw_runtime *rt = pt->rt;
        uint64_t key = socfw_rng_mix64(rt->train.seed ^
                                       UINT64_C(0x5bd1e9955bd1e995) ^
                                       socfw_rng_mix64((uint64_t)pt->lp->step));
        socfw_rng_key_rows(&rt->drop, key, off, len);
        if (len == 0)
                return 0;
        return socfw_model_forward(rt->model, pt->ids + off * (size_t)pt->T,
                                   NULL, NULL, (int)len, pt->T, true,
                                   rt->dropout, &rt->drop, pt->hidden, err);
}

/* Causal LM: each window predicts its next tokens.  (Pretraining steps
 * one micro-batch at a time: `scale` is 1.) */
static int
pt_clm_batch(void *self, float scale, rt_micro *mb, socfw_error *err)
{
        (void)scale;
        pretrainer *pt = self;
        socfw_runtime *rt = pt->rt;
        int B = pt->B, T = pt->T;
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        int V = mc->vocab_size, C = mc->hidden;
        /* every process draws the whole batch's windows (the same stream
         * everywhere) and trains its share of them (socfw/dist.h) */
        for (int b = 0; b < B; b++) {
                size_t start = (size_t)socfw_rng_below(
                        &rt->rng, pt->n_stream - (size_t)T);
                memcpy(pt->ids + (size_t)b * T, pt->stream + start,
                       sizeof(int32_t) * (size_t)T);
                memcpy(pt->tgt + (size_t)b * T, pt->stream + start + 1,
                       sizeof(int32_t) * (size_t)T);
        }
        size_t off, len;
        socfw_dist_shard((size_t)B, &off, &len);
        int n = (int)len * T;
        int rc = pt_forward_share(pt, off, len, err);
        if (rc == 0 && n > 0)
                rc = socfw_model_lm_logits(rt->model, pt->hidden, n,
                                           pt->logits, err);
        if (rc == 0 && n > 0)
                rc = socfw_nn_cross_entropy_forward_backward(
                        &mb->loss, NULL, pt->logits, pt->logits,
                        pt->tgt + off * (size_t)T, n, V, NULL, err);
        /* the mean over this share, weighted by its size so that the
         * average over the processes is the whole batch's mean */
        float share = (float)len * (float)socfw_dist_size() / (float)B;
        if (rc == 0 && n > 0 && share != 1.0f)
                for (size_t i = 0; i < (size_t)n * (size_t)V; i++)
                        pt->logits[i] *= share;
        if (rc == 0 && n > 0) {
                memset(pt->dhidden, 0, sizeof(float) * (size_t)n * C);
                rc = socfw_model_lm_logits_backward(rt->model, pt->hidden,
                                                    pt->logits, n,
                                                    pt->dhidden, err);
        }
        if (rc == 0 && n > 0)
                rc = socfw_model_backward(rt->model, pt->dhidden, err);
        mb->tokens = (size_t)n;
        pt_first_loss(pt, mb->loss);
        return rc;
}

/* Masked LM on windows read as [CLS] window [SEP] (RoBERTa: <s> window
 * </s>); the head's logits are computed for the masked positions only. */
static int
pt_mlm_batch(void *self, float scale, rt_micro *mb, socfw_error *err)
{
        (void)scale;
        pretrainer *pt = self;
        socfw_runtime *rt = pt->rt;
        int B = pt->B, T = pt->T, L = T - 2;
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        int C = mc->hidden;
        size_t N = pt->N, NC = N * (size_t)C;
        int M = 0;
        /* a window without a masked token teaches nothing: draw again */
        for (int tries = 0; M == 0; tries++) {
                if (tries == 1000)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "masked-LM pretraining: no "
                                               "token was masked in 1000 "
                                               "batches (hint: raise "
                                               "pretrain.mask_prob)");
                for (int b = 0; b < B; b++) {
                        int32_t *row = pt->ids + (size_t)b * T;
                        size_t start = (size_t)socfw_rng_below(
                                &rt->rng, pt->n_stream - (size_t)L + 1);
                        row[0] = pt->cls;
                        memcpy(row + 1, pt->stream + start,
                               sizeof(int32_t) * (size_t)L);
                        row[T - 1] = pt->sep;
                }
                rt_mlm_mask(pt->ids, pt->tgt, N, &pt->voc, pt->prob, pt->wwm,
                            &rt->rng);
                for (size_t i = 0; i < N; i++)
                        M += pt->tgt[i] >= 0;
        }
        /* every process drew and masked the whole batch (the same stream
         * everywhere); it trains its share of the windows, its gradient
         * weighted by its share of the masked tokens */
        size_t off, len;
        socfw_dist_shard((size_t)B, &off, &len);
        int M_all = M;
        M = 0;
        for (size_t i = off * (size_t)T; i < (off + len) * (size_t)T; i++)
                if (pt->tgt[i] >= 0) {
                        pt->pos[M] = (int32_t)(i - off * (size_t)T);
                        pt->mtgt[M++] = pt->tgt[i];
                }
        pt->head->grad_scale =
                (float)M * (float)socfw_dist_size() / (float)M_all;
        N = len * (size_t)T;
        NC = N * (size_t)C;
        int rc = pt_forward_share(pt, off, len, err);
        if (rc < 0 || len == 0)
                return rc;
        for (int m = 0; m < M; m++)
                memcpy(pt->x + (size_t)m * C,
                       pt->hidden + (size_t)pt->pos[m] * C,
                       sizeof(float) * (size_t)C);
        memset(pt->dx, 0, sizeof(float) * (size_t)M * C);
        socfw_params *ps = socfw_model_params(rt->model);
        float *demb = socfw_params_trainable(ps, pt->emb)
                              ? socfw_params_grad(ps, pt->emb)
                              : NULL;
        int right = 0;
        rc = rt_mlm_head_step(pt->head, pt->x, M,
                              socfw_params_data(ps, pt->emb), demb, pt->mtgt,
                              &mb->loss, &right, pt->dx, err);
        if (rc < 0)
                return rc;
        memset(pt->dhidden, 0, sizeof(float) * NC);
        for (int m = 0; m < M; m++)
                memcpy(pt->dhidden + (size_t)pt->pos[m] * C,
                       pt->dx + (size_t)m * C, sizeof(float) * (size_t)C);
        rc = socfw_model_backward(rt->model, pt->dhidden, err);
        mb->tokens = N;
        pt->n_masked += M;
        pt->n_right += right;
        pt_first_loss(pt, mb->loss);
        return rc;
}

/* Perplexity of the causal LM on the held-out stream: consecutive windows
 * of T tokens, each predicting its next tokens, no dropout.  Logged, kept
 * as pretrain.valid.perplexity, and appended to OUTPUT/pretrain.jsonl with
 * the hours of pretraining so far (all sittings). */
static int
pt_evaluate(pretrainer *pt, long step, socfw_error *err)
{
        socfw_runtime *rt = pt->rt;
        if (!pt->valid || pt->head || pt->evaluated_at == step)
                return 0;
        pt->evaluated_at = step;
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        int T = pt->T, V = mc->vocab_size;
        size_t windows = (pt->n_valid - 1) / (size_t)T;
        double nll = 0;
        size_t count = 0;
        int rc = 0;
        for (size_t w = 0; rc == 0 && w < windows; w += (size_t)pt->B) {
                int B = (int)(windows - w < (size_t)pt->B ? windows - w
                                                          : (size_t)pt->B);
                for (int b = 0; b < B; b++) {
                        const int32_t *src = pt->valid + (w + (size_t)b) * T;
                        memcpy(pt->ids + (size_t)b * T, src,
                               sizeof(int32_t) * (size_t)T);
                        memcpy(pt->tgt + (size_t)b * T, src + 1,
                               sizeof(int32_t) * (size_t)T);
                }
                int N = B * T;
                float loss = 0;
                rc = socfw_model_forward(rt->model, pt->ids, NULL, NULL, B, T,
                                         false, 0, NULL, pt->hidden, err);
                if (rc == 0)
                        rc = socfw_model_lm_logits(rt->model, pt->hidden, N,
                                                   pt->logits, err);
                if (rc == 0)
                        rc = socfw_nn_cross_entropy_forward_backward(
                                &loss, NULL, pt->logits, pt->logits, pt->tgt,
                                N, V, NULL, err);
                nll += (double)loss * N;
                count += (size_t)N;
        }
        if (rc < 0 || count == 0)
                return rc;
        double ppl = exp(nll / (double)count);
        double hours = (pt->elapsed0 + rt_seconds() - pt->t0) / 3600.0;
        socfw_metrics_set(rt->metrics, "pretrain.valid.perplexity", ppl, 0);
        rt_progress(rt, "pretraining: step %ld, %.2f h of pretraining, valid "
                        "perplexity %.2f (%zu tokens)",
                    step, hours, ppl, count);
        if (!rt->out_dir)
                return 0;
        char path[4200];
        snprintf(path, sizeof path, "%s/pretrain.jsonl", rt->out_dir);
        FILE *f = fopen(path, "a");
        if (!f)
                return socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                          "cannot append: %m");
        fprintf(f, "{\"step\": %ld, \"hours\": %.4f, \"train_tokens\": %.0f, "
                   "\"valid_tokens\": %zu, \"valid_loss\": %.6f, "
                   "\"valid_perplexity\": %.4f}\n",
                step, hours, (double)step * (double)pt->N, count,
                nll / (double)count, ppl);
        fclose(f);
        return 0;
}

static int
pt_after_step(void *self, rt_loop *lp, int end_of_pass, socfw_error *err)
{
        (void)end_of_pass;
        pretrainer *pt = self;
        if (pt->eval_every > 0 && lp->step % pt->eval_every == 0)
                return pt_evaluate(pt, lp->step, err);
        return 0;
}

static void
pt_where(void *self, char *buf, size_t n)
{
        (void)self;
        snprintf(buf, n, "pretrain");
}

static void
pt_on_log(void *self, long step, double mean_loss, char *extra, size_t n)
{
        (void)step;
        pretrainer *pt = self;
        socfw_metrics_set(pt->rt->metrics, "pretrain.loss", mean_loss, 0);
        if (!pt->head)
                return;
        double acc = pt->n_masked ? (double)pt->n_right / (double)pt->n_masked
                                  : 0;
        socfw_metrics_set(pt->rt->metrics, "pretrain.accuracy", acc, 1);
        snprintf(extra, n, " masked-LM accuracy %.3f", acc);
        pt->n_masked = pt->n_right = 0;
}

static void
pt_save(void *self, rt_state_kv *kv)
{
        pretrainer *pt = self;
        rt_state_kv_add(kv, "objective", "%s",
                        pt->head ? "masked-lm" : "causal-lm");
        rt_state_kv_add(kv, "stream_tokens", "%zu", pt->n_stream);
        rt_state_kv_add(kv, "first_loss_done", "%d", pt->first_done);
        rt_state_kv_add(kv, "elapsed_seconds", "%.3f",
                        pt->elapsed0 + rt_seconds() - pt->t0);
}

/* A state must come from the same objective over the same token stream
 * (same corpus and vocabulary), or the continuation is another run. */
static int
pt_restore(void *self, const socfw_modelfile *mf, const char *path,
           socfw_error *err)
{
        pretrainer *pt = self;
        const char *obj = NULL, *n = NULL, *first = NULL;
        int rc = rt_loop_state_get(mf, path, "objective", &obj, err);
        if (rc == 0)
                rc = rt_loop_state_get(mf, path, "stream_tokens", &n, err);
        if (rc == 0)
                rc = rt_loop_state_get(mf, path, "first_loss_done", &first,
                                       err);
        if (rc < 0)
                return rc;
        const char *want = pt->head ? "masked-lm" : "causal-lm";
        if (strcmp(obj, want) != 0)
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                          "the pretraining state is for a "
                                          "%s, this pipeline pretrains a %s "
                                          "(hint: remove the state to start "
                                          "afresh)",
                                          obj, want);
        if ((size_t)strtoull(n, NULL, 10) != pt->n_stream)
                return socfw_error_set_at(
                        err, SOCFW_EFORMAT, path, 0, 0,
                        "the pretraining state was made over a stream of %s "
                        "tokens, the corpus now gives %zu (hint: the corpus "
                        "or the vocabulary changed; remove the state to "
                        "start afresh)",
                        n, pt->n_stream);
        pt->first_done = (int)strtol(first, NULL, 10);
        const char *el = NULL;
        if (rt_loop_state_get(mf, path, "elapsed_seconds", &el, NULL) == 0)
                pt->elapsed0 = strtod(el, NULL);
        return 0;
}

static const rt_objective clm_objective = {
        .micro_batch = pt_clm_batch,
        .after_step = pt_after_step,
        .where = pt_where,
        .on_log = pt_on_log,
        .save = pt_save,
        .restore = pt_restore,
};

static const rt_objective mlm_objective = {
        .micro_batch = pt_mlm_batch,
        .where = pt_where,
        .on_log = pt_on_log,
        .save = pt_save,
        .restore = pt_restore,
};

/* AdamW for pretraining: weight decay 0.01 on the matrices, `beta2`. */
static socfw_adamw *
store_optimizer(socfw_params *ps, float beta2, socfw_error *err)
{
        socfw_adamw_config ac;
        socfw_adamw_config_default(&ac);
        ac.weight_decay = 0.01f;
        ac.beta2 = beta2;
        return socfw_adamw_new_for_params(ps, &ac, err);
}

static void
pt_clear(pretrainer *pt)
{
        rt_mlm_vocab_clear(&pt->voc);
        free(pt->ids);
        free(pt->tgt);
        free(pt->hidden);
        free(pt->dhidden);
        free(pt->logits);
        free(pt->mtgt);
        free(pt->pos);
        free(pt->x);
        free(pt->dx);
        free(pt->valid);
}

/* Window length and buffers.  Returns 0, 1 when the stream is too short
 * to learn from (nothing to do), or an error. */
static int
pt_setup(pretrainer *pt, socfw_error *err)
{
        socfw_runtime *rt = pt->rt;
        const rt_pretrain_settings *ps = &rt->pretrain;
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        int B = ps->batch_size;
        int T = ps->seq_len;
        int C = mc->hidden;
        if (!pt->head) {
                if (T > mc->max_positions)
                        T = mc->max_positions;
                if ((size_t)T + 1 > pt->n_stream)
                        T = (int)pt->n_stream - 1;
                if (T < 2)
                        return 1;
        } else {
                pt->prob = ps->mask_prob;
                pt->wwm = ps->whole_word_mask;
                int maxT = mc->max_positions -
                           (mc->arch == SOCFW_ARCH_ROBERTA ? mc->pad_id + 1
                                                           : 0);
                if (T > maxT)
                        T = maxT;
                if ((size_t)T - 2 > pt->n_stream)
                        T = (int)pt->n_stream + 2;
                if (T < 3 || pt->prob <= 0)
                        return 1;
        }
        pt->B = B;
        pt->T = T;
        pt->N = (size_t)B * (size_t)T;
        size_t N = pt->N, NC = N * (size_t)C;
        pt->ids = malloc(sizeof(int32_t) * N);
        pt->tgt = malloc(sizeof(int32_t) * N);
        pt->hidden = malloc(sizeof(float) * NC);
        pt->dhidden = calloc(NC, sizeof(float));
        int ok = pt->ids && pt->tgt && pt->hidden && pt->dhidden;
        if (!pt->head) {
                pt->logits = malloc(sizeof(float) * N *
                                    (size_t)mc->vocab_size);
                ok = ok && pt->logits;
        } else {
                pt->mtgt = malloc(sizeof(int32_t) * N);
                pt->pos = malloc(sizeof(int32_t) * N);
                pt->x = malloc(sizeof(float) * NC);
                pt->dx = malloc(sizeof(float) * NC);
                ok = ok && pt->mtgt && pt->pos && pt->x && pt->dx;
        }
        if (!ok)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "out of memory for pretraining "
                                       "batches (%d x %d, hidden %d, "
                                       "vocabulary %d)",
                                       B, T, C, mc->vocab_size);
        if (!pt->head)
                return 0;
        int rc = rt_mlm_vocab_init(&pt->voc, rt->tok, err);
        if (rc < 0)
                return rc;
        rt_specials sp = rt_specials_for(rt->tok, 1, T);
        pt->cls = sp.cls;
        pt->sep = sp.sep;
        char ename[300];
        snprintf(ename, sizeof ename, "%sembeddings.word_embeddings.weight",
                 socfw_model_name_prefix(rt->model));
        pt->emb = socfw_params_find(socfw_model_params(rt->model), ename);
        if (pt->emb < 0)
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "masked-LM pretraining: the backbone "
                                       "has no tensor %s",
                                       ename);
        return 0;
}

static void
pt_progress(void *user, const char *line)
{
        rt_progress(user, "%s", line);
}

/* Where pretraining keeps the state it resumes from. */
static char *
pt_state_path(const socfw_runtime *rt)
{
        return rt->out_dir ? socfw_path_join_alloc(rt->out_dir,
                                                   "pretrain.state.safetensors")
                           : NULL;
}

int
rt_pretrain_unfinished(const socfw_runtime *rt)
{
        char *path = rt->resume ? pt_state_path(rt) : NULL;
        socfw_modelfile *mf = NULL;
        const char *step = NULL, *total = NULL;
        int unfinished =
                path && access(path, F_OK) == 0 &&
                socfw_modelfile_open(&mf, path, NULL) == 0 &&
                rt_loop_state_get(mf, path, "step", &step, NULL) == 0 &&
                rt_loop_state_get(mf, path, "total_steps", &total, NULL) == 0 &&
                strtol(step, NULL, 10) < strtol(total, NULL, 10);
        socfw_modelfile_close(mf);
        free(path);
        return unfinished;
}

static int token_stream(socfw_runtime *rt, const corpus *c, int32_t sep,
                        int32_t **out, size_t *n_out, socfw_error *err);

/* The held-out stream of pretrain.valid (causal LM): at most
 * pretrain.valid_tokens tokens, documents separated by EOS. */
static int
load_valid(pretrainer *pt, socfw_error *err)
{
        socfw_runtime *rt = pt->rt;
        size_t nf = rt->pretrain.n_valid;
        if (nf == 0)
                return 0;
        if (pt->head) {
                rt_progress(rt, "pretraining: pretrain.valid is scored for "
                                "causal LMs only; the masked LM logs its "
                                "training loss and accuracy");
                return 0;
        }
        size_t limit = rt->pretrain.valid_tokens;
        corpus c = {.max_bytes = limit * 16 + 4096};
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < nf; i++) {
                char *path = socfw_config_join_path(
                        socfw_pipeline_dir(rt->p), rt->pretrain.valid[i]);
                rc = path ? read_text_file(rt, &c, "pretrain.valid", path, err)
                          : SOCFW_ENOMEM;
                free(path);
        }
        if (rc == 0)
                rc = token_stream(rt, &c,
                                  socfw_tokenizer_special_id(
                                          rt->tok, SOCFW_TOKENIZER_EOS),
                                  &pt->valid, &pt->n_valid, err);
        corpus_free(&c);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "pretrain.valid");
        if (pt->n_valid > limit)
                pt->n_valid = limit;
        if (pt->n_valid < (size_t)pt->T + 1) {
                rt_progress(rt, "pretraining: pretrain.valid has %zu tokens, "
                                "fewer than one window (%d); not scored",
                            pt->n_valid, pt->T + 1);
                free(pt->valid);
                pt->valid = NULL;
        }
        return 0;
}

/* Pretrain rt->model on the stream, with the MLM head `head` (masked LM)
 * or as a causal LM (head NULL).  With --resume, continue from the state
 * an earlier, interrupted pretraining left.  *finished is set when the
 * schedule ran to its end (not stopped at a chunked budget). */
static int
pretrain(socfw_runtime *rt, const int32_t *stream, size_t n_stream,
         rt_mlm_head *head, int *finished, socfw_error *err)
{
        const rt_pretrain_settings *cfg = &rt->pretrain;
        pretrainer pt = {.rt = rt, .stream = stream, .n_stream = n_stream,
                         .head = head};
        rt_loop lp;
        memset(&lp, 0, sizeof lp);
        socfw_adamw *opt = NULL, *hopt = NULL;
        char *state = pt_state_path(rt);
        *finished = 1;
        long steps = cfg->steps;
        int rc = steps > 0 ? pt_setup(&pt, err) : 1;
        if (rc == 0 && socfw_dist_size() > 1) {
                /* the processes draw the same windows: the same stream */
                char seen[96];
                snprintf(seen, sizeof seen, "%zu tokens, %s", n_stream,
                         head ? "masked LM" : "causal LM");
                if (pt.B < socfw_dist_size())
                        rc = socfw_error_set(
                                err, SOCFW_EINVAL,
                                "pretrain.batch_size %d is smaller than the "
                                "%d processes (hint: a batch of at least "
                                "one sequence per process)",
                                pt.B, socfw_dist_size());
                else
                        rc = socfw_dist_check_same("the pretraining corpus",
                                                   seen, err);
        }
        if (rc != 0) {
                rc = rc < 0 ? rc : 0;
                goto out;
        }
        socfw_params *ps = socfw_model_params(rt->model);
        float beta2 = head ? 0.98f : 0.95f;
        opt = store_optimizer(ps, beta2, err);
        hopt = opt && head ? store_optimizer(head->ps, beta2, err) : NULL;
        if (!opt || (head && !hopt)) {
                rc = SOCFW_ENOMEM;
                goto out;
        }
        pt.t0 = rt_seconds();
        pt.evaluated_at = -1;
        pt.eval_every = cfg->eval_every;
        if ((rc = load_valid(&pt, err)) < 0)
                goto out;
        int chunked = cfg->chunked;
        if (rt->out_dir && (rc = socfw_dir_make(rt->out_dir, 0755, err)) < 0)
                goto out;
        rt_loop_config lc = {
                .total_steps = steps,
                .accum = 1,
                .lr = cfg->lr,
                .clip = rt->train.grad_clip,
                .schedule = SOCFW_LR_COSINE,
                .warmup = cfg->warmup,
                .min_ratio = 0.1,
                .log_every = rt->train.log_every > 0 ? rt->train.log_every
                                                     : 50,
                .checkpoint_every = cfg->checkpoint_every,
                .budget_seconds = 60.0 * cfg->max_minutes,
                .fit_budget = !chunked,
                .what = "pretraining",
                .state_path = state,
                .rng = &rt->rng,
                .progress = pt_progress,
                .progress_user = rt,
                .grad_hook = socfw_dist_size() > 1
                                     ? rt_loop_average_over_processes
                                     : NULL,
                .hook_user = &lp,
        };
        if ((rc = rt_loop_init(&lp, &lc, err)) < 0)
                goto out;
        pt.lp = &lp;
        rc = rt_loop_add_group(&lp, "backbone", socfw_params_data_buffer(ps),
                               socfw_params_grad_buffer(ps),
                               (size_t)socfw_params_size(ps), opt, NULL);
        if (rc == 0 && head)
                rc = rt_loop_add_group(
                        &lp, "mlm_head", socfw_params_data_buffer(head->ps),
                        socfw_params_grad_buffer(head->ps),
                        (size_t)socfw_params_size(head->ps), hopt, NULL);
        if (rc < 0) {
                rc = socfw_error_set(err, rc, "out of memory");
                goto out;
        }
        const rt_objective *obj = head ? &mlm_objective : &clm_objective;
        if (rt->resume) {
                rc = rt_loop_resume(&lp, obj, &pt, err);
                if (rc < 0)
                        goto out;
                if (rc == 1)
                        rt_progress(rt, "pretraining: resuming at step %ld "
                                        "of %ld from %s",
                                    lp.step, steps, state);
                rc = 0;
        }
        if (head)
                rt_progress(rt, "pretraining (masked LM, %.0f%% of "
                                "tokens%s): %ld steps of %d x %d tokens over "
                                "a stream of %zu tokens",
                            100.0 * pt.prob, pt.wwm ? ", whole words" : "",
                            steps, pt.B, pt.T, n_stream);
        else
                rt_progress(rt, "pretraining (causal LM): %ld steps of %d x "
                                "%d tokens over a stream of %zu tokens",
                            steps, pt.B, pt.T, n_stream);
        rc = rt_loop_run(&lp, obj, &pt, err);
        if (rc == 0)
                rc = pt_evaluate(&pt, lp.step, err);
        if (rc == 0 && chunked && lp.step < lp.sched.total_steps) {
                *finished = 0;
                rt_progress(rt, "pretraining: paused at step %ld of %ld "
                                "(state in %s); continue with `socfw run "
                                "--resume`",
                            lp.step, lp.sched.total_steps, state);
        }
out:
        pt_clear(&pt);
        rt_loop_clear(&lp);
        socfw_adamw_free(opt);
        socfw_adamw_free(hopt);
        free(state);
        return rc;
}

/* ---- corpus, vocabulary, token stream ---- */

static int
load_corpus(socfw_runtime *rt, corpus *c, socfw_error *err)
{
        c->max_bytes = rt->pretrain.max_corpus_bytes;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < rt->pretrain.n_corpus; i++) {
                char *path = socfw_config_join_path(
                        socfw_pipeline_dir(rt->p), rt->pretrain.corpus[i]);
                rc = path ? read_text_file(rt, c, "pretraining corpus", path,
                                         err)
                          : SOCFW_ENOMEM;
                free(path);
        }
        if (rc == 0)
                rc = add_task_texts(rt, c, err);
        if (rc == 0 && c->n == 0)
                rc = socfw_error_set(err, SOCFW_ESCHEMA,
                                     "%s: the backbone is pretrained but "
                                     "there is no text to pretrain on "
                                     "(hint: set pretrain.corpus, or give "
                                     "backbone.model without a corpus)",
                                     socfw_pipeline_path(rt->p));
        if (rc == 0)
                rt_progress(rt, "corpus: %zu lines, %.1f MB", c->n,
                            (double)c->bytes / 1e6);
        return rc;
}

/* RoBERTa's special tokens by role: byte-level BPE training makes the first
 * special both BOS and EOS, so the roles are written into the saved
 * tokenizer_config.json and the tokenizer is read back from `dir`. */
static int
set_roberta_roles(socfw_runtime *rt, const char *dir, socfw_error *err)
{
        int rc = socfw_tokenizer_save(rt->tok, dir, err);
        if (rc < 0)
                return rc;
        json_t *cfg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
                                "bos_token", "<s>", "eos_token", "</s>",
                                "cls_token", "<s>", "sep_token", "</s>",
                                "pad_token", "<pad>", "unk_token", "<unk>",
                                "mask_token", "<mask>", "add_bos_token", 0);
        char *text = cfg ? json_dumps(cfg, JSON_INDENT(2)) : NULL;
        json_decref(cfg);
        char path[4200];
        snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
        rc = text ? socfw_file_write_atomic(path, text, strlen(text), err)
                  : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        free(text);
        socfw_tokenizer *tok = NULL;
        if (rc == 0)
                rc = socfw_tokenizer_load(&tok, dir, err);
        if (rc < 0)
                return rc;
        socfw_tokenizer_free(rt->tok);
        rt->tok = tok;
        return 0;
}

static int
train_vocabulary(socfw_runtime *rt, socfw_arch a, const corpus *c,
                 socfw_error *err)
{
        const char *type = rt->pretrain.tokenizer_type;
        int wordpiece = type && !strcmp(type, "wordpiece");
        if (!type || !strcmp(type, "auto"))
                wordpiece = a == SOCFW_ARCH_BERT;
        int encoder = a == SOCFW_ARCH_BERT || a == SOCFW_ARCH_ROBERTA;
        static const char *const gpt[] = {"<|endoftext|>"};
        static const char *const wp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                         "[MASK]"};
        static const char *const rob[] = {"<s>", "<pad>", "</s>", "<unk>",
                                          "<mask>"};
        const char *const *sp = wordpiece ? wp : encoder ? rob : gpt;
        socfw_tokenizer_train_options to = {
                .vocab_size = rt->pretrain.vocab_size,
                .min_frequency = 2,
                .special_tokens = sp,
                .n_special_tokens = sp == gpt ? 1 : 5,
        };
        double t0 = rt_seconds();
        int rc = wordpiece
                         ? socfw_tokenizer_train_wordpiece(
                                   &rt->tok, (const char *const *)c->lines,
                                   c->lens, c->n, &to, err)
                         : socfw_tokenizer_train_bpe(
                                   &rt->tok, (const char *const *)c->lines,
                                   c->lens, c->n, &to, err);
        if (rc == 0 && sp == rob) {
                char tmpl[] = "/tmp/socfw-vocab-XXXXXX";
                char *dir = rt->out_dir
                                    ? socfw_path_join_alloc(rt->out_dir,
                                                            "backbone")
                                    : mkdtemp(tmpl);
                rc = dir ? set_roberta_roles(rt, dir, err)
                         : socfw_error_set(err, SOCFW_EIO,
                                           "no directory for the vocabulary "
                                           "files: %m");
                if (dir && !rt->out_dir) {
                        static const char *const files[] = {
                                "vocab.json", "merges.txt", "tokenizer.json",
                                "tokenizer_config.json"};
                        char path[4200];
                        for (size_t i = 0; i < 4; i++) {
                                snprintf(path, sizeof path, "%s/%s", dir,
                                         files[i]);
                                remove(path);
                        }
                        rmdir(dir);
                } else {
                        free(dir);
                }
        }
        if (rc == 0)
                rt_progress(rt, "tokenizer: %s, %zu tokens, trained in %.1fs",
                            wordpiece ? "WordPiece" : "byte-level BPE",
                            socfw_tokenizer_vocab_size(rt->tok),
                            rt_seconds() - t0);
        return rc;
}

/* The corpus as one stream of ids, documents separated by `sep`. */
static int
token_stream(socfw_runtime *rt, const corpus *c, int32_t sep,
             int32_t **out, size_t *n_out, socfw_error *err)
{
        int32_t *stream = NULL;
        size_t n_stream = 0, cap = 0;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < c->n; i++) {
                int32_t *ids = NULL;
                size_t n = 0;
                rc = socfw_tokenizer_encode(rt->tok, c->lines[i], c->lens[i],
                                            0, &ids, &n, err);
                if (rc < 0)
                        break;
                if (n_stream + n + 1 > cap) {
                        size_t ncap = cap ? cap * 2 : 1 << 16;
                        while (ncap < n_stream + n + 1)
                                ncap *= 2;
                        int32_t *g = realloc(stream, ncap * sizeof *g);
                        if (!g) {
                                free(ids);
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                break;
                        }
                        stream = g;
                        cap = ncap;
                }
                if (n)
                        memcpy(stream + n_stream, ids, n * sizeof *ids);
                n_stream += n;
                if (sep >= 0)
                        stream[n_stream++] = sep;
                free(ids);
        }
        if (rc == 0 && n_stream < 2)
                rc = socfw_error_set(err, SOCFW_ESCHEMA,
                                     "%s: the pretraining corpus has fewer "
                                     "than 2 tokens",
                                     socfw_pipeline_path(rt->p));
        if (rc < 0) {
                free(stream);
                return rc;
        }
        *out = stream;
        *n_out = n_stream;
        return 0;
}

static int
is_encoder(socfw_arch a)
{
        return a == SOCFW_ARCH_BERT || a == SOCFW_ARCH_ROBERTA;
}

/* pretrain.objective against the architecture: 1 masked LM, 0 causal. */
static int
objective_of(socfw_runtime *rt, socfw_arch a, socfw_error *err)
{
        const socfw_config *pt = rt->pretrain.section;
        const char *o = rt->pretrain.objective;
        int mlm = is_encoder(a);
        if (o && strcmp(o, "auto") != 0 && (!strcmp(o, "mlm")) != mlm)
                return socfw_error_set_at(
                        err, SOCFW_EUNSUPPORTED, socfw_pipeline_path(rt->p),
                        socfw_config_line(pt, "objective"),
                        socfw_config_column(pt, "objective"),
                        "pretrain.objective '%s' does not fit a %s backbone "
                        "(hint: masked LM (mlm) pretrains encoders, bert and "
                        "roberta; causal LM (clm) decoders; auto picks)",
                        o, socfw_arch_name(a));
        return mlm;
}

/* Pretrain rt->model on the stream (MLM head from `head_src`'s tensors
 * when it has them), save it in out_dir/backbone and, for encoders or
 * `always_reload`, make the saved files the run's backbone. */
static int
pretrain_and_save(socfw_runtime *rt, int mlm, const int32_t *stream,
                  size_t n_stream, const char *head_src, int always_reload,
                  socfw_error *err)
{
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        rt_mlm_head *head = NULL;
        int rc = 0;
        if (mlm) {
                rc = rt_mlm_head_new(
                        &head, mc->arch, mc->hidden, mc->vocab_size,
                        mc->norm_eps,
                        rt->train.seed ^
                                0x6d6c6dull,
                        err);
                socfw_modelfile *mf = NULL;
                socfw_error ignore = {0};
                if (rc == 0 && head_src &&
                    socfw_modelfile_open(&mf, head_src, &ignore) == 0) {
                        int got = 0;
                        for (int k = 0; rc == 0 &&
                                        k < socfw_params_count(head->ps);
                             k++) {
                                const socfw_tensor_info *t =
                                        socfw_modelfile_find(
                                                mf, socfw_params_name(
                                                            head->ps, k));
                                if (!t || t->nelem != socfw_params_numel(
                                                              head->ps, k))
                                        continue;
                                rc = socfw_modelfile_read_f32(
                                        mf, t, socfw_params_data(head->ps, k),
                                        (size_t)t->nelem, err);
                                got++;
                        }
                        socfw_modelfile_close(mf);
                        if (got)
                                rt_progress(rt, "masked-LM head: %d tensors "
                                                "from %s",
                                            got, head_src);
                }
        }
        int finished = 1;
        if (rc == 0)
                rc = pretrain(rt, stream, n_stream, head, &finished, err);
        rt->pretrain_paused = !finished;
        if (rc == 0 && rt->out_dir) {
                char *dir = socfw_path_join_alloc(rt->out_dir, "backbone");
                rc = dir ? save_backbone(rt, dir, head, err)
                         : socfw_error_set(err, SOCFW_ENOMEM,
                                           "out of memory");
                if (rc == 0)
                        rt_progress(rt, "backbone saved to %s", dir);
                if (rc == 0 && (mlm || always_reload))
                        rc = reload_backbone(rt, dir, err);
                free(dir);
        }
        rt_mlm_head_free(head);
        return rc;
}

int
rt_build_from_scratch(socfw_runtime *rt, socfw_error *err)
{
        const rt_backbone_settings *bb = &rt->backbone;
        const char *arch = bb->arch;
        socfw_arch a = !strcmp(arch, "llama")     ? SOCFW_ARCH_LLAMA
                       : !strcmp(arch, "bert")    ? SOCFW_ARCH_BERT
                       : !strcmp(arch, "roberta") ? SOCFW_ARCH_ROBERTA
                                                  : SOCFW_ARCH_GPT2;
        int mlm = objective_of(rt, a, err);
        if (mlm < 0)
                return mlm;
        corpus c = {0};
        int32_t *stream = NULL;
        size_t n_stream = 0;
        int rc = load_corpus(rt, &c, err);
        /* resuming an interrupted pretraining: its vocabulary, saved with
         * the backbone so far, instead of training one again */
        char *saved = rt->out_dir && rt_pretrain_unfinished(rt)
                              ? socfw_path_join_alloc(rt->out_dir, "backbone")
                              : NULL;
        if (rc == 0 && saved &&
            socfw_tokenizer_load(&rt->tok, saved, NULL) == 0)
                rt_progress(rt, "tokenizer: %zu tokens, from %s",
                            socfw_tokenizer_vocab_size(rt->tok), saved);
        else if (rc == 0)
                rc = train_vocabulary(rt, a, &c, err);
        free(saved);
        if (rc < 0)
                goto out;

        /* the token stream: documents separated by <|endoftext|> / [SEP] */
        int32_t eot = socfw_tokenizer_special_id(
                rt->tok, mlm ? SOCFW_TOKENIZER_SEP : SOCFW_TOKENIZER_EOS);
        if ((rc = token_stream(rt, &c, eot, &stream, &n_stream, err)) < 0)
                goto out;

        /* the model */
        socfw_model_config mc;
        int hidden = bb->hidden, heads = bb->heads, ffn = bb->ffn;
        if (hidden % heads != 0) {
                rc = socfw_error_set_at(
                        err, SOCFW_ESCHEMA, socfw_pipeline_path(rt->p),
                        socfw_config_line(bb->section, "heads"),
                        socfw_config_column(bb->section, "heads"),
                        "backbone.hidden (%d) must be a multiple of "
                        "backbone.heads (%d)",
                        hidden, heads);
                goto out;
        }
        int maxpos = bb->max_positions;
        socfw_model_config_default(
                &mc, a, (int)socfw_tokenizer_vocab_size(rt->tok), hidden,
                bb->layers, heads, ffn ? ffn : 4 * hidden, maxpos);
        int kv = bb->kv_heads;
        if (kv > 0)
                mc.n_kv_heads = kv;
        if (mlm) {
                int32_t pad = socfw_tokenizer_special_id(rt->tok,
                                                         SOCFW_TOKENIZER_PAD);
                mc.pad_id = pad >= 0 ? pad : 0;
                if (a == SOCFW_ARCH_ROBERTA) {
                        /* positions count from pad_id + 1, as HF does */
                        mc.max_positions = maxpos + mc.pad_id + 1;
                        mc.bos_id = socfw_tokenizer_special_id(
                                rt->tok, SOCFW_TOKENIZER_BOS);
                        mc.eos_id = socfw_tokenizer_special_id(
                                rt->tok, SOCFW_TOKENIZER_EOS);
                }
        } else {
                mc.bos_id = mc.eos_id = eot;
        }
        rc = socfw_model_new_random(
                &rt->model, &mc,
                rt->train.seed,
                err);
        if (rc < 0)
                goto out;
        rt_progress(rt, "backbone: new %s, %d layers, hidden %d, %d heads, "
                        "%.2fM parameters",
                    arch, mc.n_layers, mc.hidden, mc.n_heads,
                    (double)socfw_params_total_numel(
                            socfw_model_params(rt->model)) /
                            1e6);
        rc = pretrain_and_save(rt, mlm, stream, n_stream, NULL, 0, err);
out:
        free(stream);
        corpus_free(&c);
        return rc;
}

int
rt_pretrain_wanted(const socfw_runtime *rt)
{
        return rt->pretrain.n_corpus > 0 && rt->pretrain.steps > 0;
}

int
rt_pretrain_continue(socfw_runtime *rt, const char *src, socfw_error *err)
{
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        int mlm = objective_of(rt, mc->arch, err);
        if (mlm < 0)
                return mlm;
        if (rt->out_dir &&
            socfw_tokenizer_get_kind(rt->tok) == SOCFW_TOKENIZER_SPM)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "%s: continued pretraining saves the "
                                       "backbone in Hugging Face layout, "
                                       "which a SentencePiece tokenizer "
                                       "cannot be written in yet (hint: "
                                       "leave pretrain.corpus out)",
                                       src);
        rt_progress(rt, "continuing to pretrain %s (%s) on the corpus", src,
                    mlm ? "masked LM" : "causal LM");
        corpus c = {0};
        int32_t *stream = NULL;
        size_t n_stream = 0;
        int rc = load_corpus(rt, &c, err);
        int32_t sep = -1;
        if (rc == 0) {
                sep = socfw_tokenizer_special_id(
                        rt->tok, mlm ? SOCFW_TOKENIZER_SEP
                                     : SOCFW_TOKENIZER_EOS);
                if (sep < 0 && mlm)
                        sep = socfw_tokenizer_special_id(rt->tok,
                                                         SOCFW_TOKENIZER_EOS);
                rc = token_stream(rt, &c, sep, &stream, &n_stream, err);
        }
        if (rc == 0)
                rc = pretrain_and_save(rt, mlm, stream, n_stream, src, 1,
                                       err);
        free(stream);
        corpus_free(&c);
        return rc;
}

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
#include "socfw/io.h"
#include "socfw/metrics.h"
#include "socfw/modelfile.h"
#include "socfw/nn.h"
#include "socfw/safetensors.h"
#include "train/mlm.h"
#include "train/runtime_impl.h"

#define MAX_CORPUS_BYTES ((size_t)256 << 20)
#define MAX_LINE_BYTES 65536

typedef struct corpus {
        char **lines;
        size_t *lens;
        size_t n, cap, bytes;
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
        if (len == 0 || c->bytes + len > MAX_CORPUS_BYTES)
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

static int
read_text_file(socfw_runtime *rt, corpus *c, const char *path,
               socfw_error *err)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                          "cannot open the pretraining "
                                          "corpus: %m");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        int rc = 0;
        while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
                while (len > 0 && (line[len - 1] == '\n' ||
                                   line[len - 1] == '\r'))
                        len--;
                if (len > MAX_LINE_BYTES ||
                    !socfw_utf8_valid(line, (size_t)len, NULL))
                        continue;
                rc = corpus_add_clean(rt, c, line, (size_t)len, err);
        }
        free(line);
        fclose(f);
        return rc < 0 ? socfw_error_set(err, rc, "reading %s", path) : 0;
}

/* The texts of the tasks' training data join the corpus. */
static int
add_task_texts(socfw_runtime *rt, corpus *c, socfw_error *err)
{
        for (size_t i = 0; i < socfw_pipeline_task_count(rt->p); i++) {
                const socfw_config *t = socfw_pipeline_task(rt->p, i);
                const char *train = socfw_config_get_string(t, "data.train");
                const socfw_plugin *head = socfw_pipeline_task_head(rt->p, i);
                /* text classification data has one text field; other
                 * shapes (dialog turns, interactions) are left out */
                if (!train || !head ||
                    socfw_registry_head_target(head) != SOCFW_TARGET_CLASS)
                        continue;
                socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
                o.text_field = socfw_config_get_string(t, "data.text_field");
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

static double
seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The step count, learning-rate schedule and wall-time budget of a
 * pretraining loop.  With pretrain.max_minutes the loop measures its speed
 * and shortens `steps` (never lengthens) so that the cosine schedule ends
 * inside the budget; it stops at the budget in any case. */
typedef struct pt_plan {
        long steps;
        double warm;
        double t0, limit;       /* seconds; limit 0 = none                 */
        socfw_lr_schedule sched;
} pt_plan;

static int
plan_init(pt_plan *pl, const socfw_config *pt, socfw_error *err)
{
        pl->steps = (long)socfw_config_get_int(pt, "steps");
        pl->warm = socfw_config_get_float(pt, "warmup");
        pl->limit = 60.0 * socfw_config_get_float(pt, "max_minutes");
        pl->t0 = seconds();
        return socfw_lr_schedule_init(&pl->sched, SOCFW_LR_COSINE, pl->steps,
                                      pl->warm >= 1 ? (long)pl->warm : 0,
                                      pl->warm < 1 ? pl->warm : 0, 0.1, err);
}

/* After step `done` steps: 1 to go on, 0 to stop (budget spent). */
static int
plan_after(pt_plan *pl, socfw_runtime *rt, long done)
{
        if (pl->limit <= 0 || done >= pl->steps)
                return 1;
        double el = seconds() - pl->t0;
        if (el >= pl->limit) {
                rt_progress(rt, "pretraining: the time budget (%.1f min) is "
                                "spent after %ld of %ld steps",
                            pl->limit / 60, done, pl->steps);
                pl->steps = done;
                return 0;
        }
        if (done == 10 || done % 100 == 0) {
                long fit = (long)(pl->limit / (el / (double)done));
                if (fit < pl->steps && fit > done) {
                        rt_progress(rt, "pretraining: %ld steps fit in the "
                                        "time budget (%.1f min); the "
                                        "schedule now ends there",
                                    fit, pl->limit / 60);
                        pl->steps = fit;
                        socfw_lr_schedule_init(
                                &pl->sched, SOCFW_LR_COSINE, fit,
                                pl->warm >= 1 ? (long)pl->warm : 0,
                                pl->warm < 1 ? pl->warm : 0, 0.1, NULL);
                }
        }
        return 1;
}

/* AdamW over a whole store: decay on matrices only. */
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

static long
log_every(const socfw_runtime *rt)
{
        long n = (long)rt->train.log_every;
        return n > 0 ? n : 50;
}

/* Causal LM on random windows of the token stream. */
static int
pretrain_clm(socfw_runtime *rt, const int32_t *stream, size_t n_stream,
             socfw_error *err)
{
        const socfw_config *pt = socfw_pipeline_section(rt->p, "pretrain");
        int B = (int)socfw_config_get_int(pt, "batch_size");
        int T = (int)socfw_config_get_int(pt, "seq_len");
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        if (T > mc->max_positions)
                T = mc->max_positions;
        if ((size_t)T + 1 > n_stream)
                T = (int)n_stream - 1;
        pt_plan pl;
        int rc = plan_init(&pl, pt, err);
        if (rc < 0 || T < 2 || pl.steps <= 0)
                return rc;
        int V = mc->vocab_size, C = mc->hidden;
        size_t N = (size_t)B * (size_t)T;
        int32_t *ids = malloc(sizeof(int32_t) * N);
        int32_t *tgt = malloc(sizeof(int32_t) * N);
        float *hidden = malloc(sizeof(float) * N * (size_t)C);
        float *dhidden = calloc(N * (size_t)C, sizeof(float));
        float *logits = malloc(sizeof(float) * N * (size_t)V);
        socfw_params *ps = socfw_model_params(rt->model);
        size_t np = (size_t)socfw_params_size(ps);
        socfw_adamw *opt = store_optimizer(ps, 0.95f, err);
        if (!ids || !tgt || !hidden || !dhidden || !logits || !opt) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "out of memory for pretraining batches "
                                     "(%d x %d, vocabulary %d)",
                                     B, T, V);
                goto out;
        }
        double lr = socfw_config_get_float(pt, "lr");
        float clip = rt->train.grad_clip;
        long every = log_every(rt);
        double t0 = seconds(), loss_sum = 0;
        int loss_n = 0;
        rt_progress(rt, "pretraining (causal LM): %ld steps of %d x %d "
                        "tokens over a stream of %zu tokens",
                    pl.steps, B, T, n_stream);
        for (long step = 0; step < pl.steps; step++) {
                for (int b = 0; b < B; b++) {
                        size_t start = (size_t)socfw_rng_below(
                                &rt->rng, n_stream - (size_t)T);
                        memcpy(ids + (size_t)b * T, stream + start,
                               sizeof(int32_t) * (size_t)T);
                        memcpy(tgt + (size_t)b * T, stream + start + 1,
                               sizeof(int32_t) * (size_t)T);
                }
                rc = socfw_model_forward(rt->model, ids, NULL, NULL, B, T,
                                         true, rt->dropout, &rt->rng, hidden,
                                         err);
                if (rc == 0)
                        rc = socfw_model_lm_logits(rt->model, hidden, (int)N,
                                                   logits, err);
                float loss = 0;
                if (rc == 0)
                        rc = socfw_nn_cross_entropy_forward_backward(
                                &loss, NULL, logits, logits, tgt, (int)N, V,
                                NULL, err);
                if (rc == 0) {
                        memset(dhidden, 0, sizeof(float) * N * (size_t)C);
                        rc = socfw_model_lm_logits_backward(
                                rt->model, hidden, logits, (int)N, dhidden,
                                err);
                }
                if (rc == 0)
                        rc = socfw_model_backward(rt->model, dhidden, err);
                if (rc < 0)
                        goto out;
                float *grad = socfw_params_grad_buffer(ps);
                float norm = socfw_grad_clip_norm(grad, np,
                                                  clip > 0 ? clip : INFINITY);
                double cur = lr * socfw_lr_schedule_factor(&pl.sched, step);
                if (isfinite(norm))
                        socfw_adamw_step(opt, socfw_params_data_buffer(ps),
                                         grad, cur);
                socfw_params_zero_grad(ps);
                if (step == 0)
                        socfw_metrics_set(rt->metrics, "pretrain.first_loss",
                                          loss, 0);
                loss_sum += loss;
                loss_n++;
                int go = plan_after(&pl, rt, step + 1);
                if ((step + 1) % every == 0 || step + 1 == pl.steps || !go) {
                        double el = seconds() - t0;
                        rt_progress(rt, "pretrain step %ld/%ld loss %.4f lr "
                                        "%.3g %.0f tokens/s ETA %.0fs",
                                    step + 1, pl.steps, loss_sum / loss_n, cur,
                                    (double)(step + 1) * (double)N / el,
                                    el / (double)(step + 1) *
                                            (double)(pl.steps - step - 1));
                        socfw_metrics_set(rt->metrics, "pretrain.loss",
                                          loss_sum / loss_n, 0);
                        loss_sum = 0;
                        loss_n = 0;
                }
                if (!go)
                        break;
        }
out:
        socfw_adamw_free(opt);
        free(ids);
        free(tgt);
        free(hidden);
        free(dhidden);
        free(logits);
        return rc;
}

/* Masked LM on windows of the token stream, each read as
 * [CLS] window [SEP] (RoBERTa: <s> window </s>); the MLM head's logits are
 * computed for the masked positions only. */
static int
pretrain_mlm(socfw_runtime *rt, const int32_t *stream, size_t n_stream,
             rt_mlm_head *head, socfw_error *err)
{
        const socfw_config *pt = socfw_pipeline_section(rt->p, "pretrain");
        int B = (int)socfw_config_get_int(pt, "batch_size");
        int T = (int)socfw_config_get_int(pt, "seq_len");
        float prob = (float)socfw_config_get_float(pt, "mask_prob");
        int wwm = socfw_config_get_bool(pt, "whole_word_mask");
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        int maxT = mc->max_positions -
                   (mc->arch == SOCFW_ARCH_ROBERTA ? mc->pad_id + 1 : 0);
        if (T > maxT)
                T = maxT;
        if ((size_t)T - 2 > n_stream)
                T = (int)n_stream + 2;
        rt_mlm_vocab voc = {0};
        pt_plan pl;
        int rc = plan_init(&pl, pt, err);
        if (rc < 0 || T < 3 || pl.steps <= 0 || prob <= 0)
                return rc;
        if ((rc = rt_mlm_vocab_init(&voc, rt->tok, err)) < 0)
                return rc;
        rt_specials sp = rt_specials_for(rt->tok, 1, T);
        int32_t cls = sp.cls, sep = sp.sep;
        int C = mc->hidden, L = T - 2;
        size_t N = (size_t)B * (size_t)T, NC = N * (size_t)C;
        int32_t *ids = malloc(sizeof(int32_t) * N);
        int32_t *tgt = malloc(sizeof(int32_t) * N);
        int32_t *mtgt = malloc(sizeof(int32_t) * N);
        int32_t *pos = malloc(sizeof(int32_t) * N);
        float *hidden = malloc(sizeof(float) * NC);
        float *dhidden = malloc(sizeof(float) * NC);
        float *x = malloc(sizeof(float) * NC);
        float *dx = malloc(sizeof(float) * NC);
        socfw_params *ps = socfw_model_params(rt->model);
        size_t np = (size_t)socfw_params_size(ps);
        size_t nh = (size_t)socfw_params_size(head->ps);
        socfw_adamw *opt = store_optimizer(ps, 0.98f, err);
        socfw_adamw *hopt = opt ? store_optimizer(head->ps, 0.98f, err)
                                : NULL;
        char ename[300];
        snprintf(ename, sizeof ename, "%sembeddings.word_embeddings.weight",
                 socfw_model_name_prefix(rt->model));
        int emb = socfw_params_find(ps, ename);
        if (!ids || !tgt || !mtgt || !pos || !hidden || !dhidden || !x ||
            !dx || !opt || !hopt) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "out of memory for pretraining batches "
                                     "(%d x %d, hidden %d)",
                                     B, T, C);
                goto out;
        }
        if (emb < 0) {
                rc = socfw_error_set(err, SOCFW_ENOTFOUND,
                                     "masked-LM pretraining: the backbone "
                                     "has no tensor %s",
                                     ename);
                goto out;
        }
        double lr = socfw_config_get_float(pt, "lr");
        float clip = rt->train.grad_clip;
        long every = log_every(rt);
        double t0 = seconds(), loss_sum = 0;
        long n_masked = 0, n_right = 0;
        int loss_n = 0;
        rt_progress(rt, "pretraining (masked LM, %.0f%% of tokens%s): %ld "
                        "steps of %d x %d tokens over a stream of %zu tokens",
                    100.0 * prob, wwm ? ", whole words" : "", pl.steps, B, T,
                    n_stream);
        for (long step = 0; step < pl.steps; step++) {
                for (int b = 0; b < B; b++) {
                        int32_t *row = ids + (size_t)b * T;
                        size_t start = (size_t)socfw_rng_below(
                                &rt->rng, n_stream - (size_t)L + 1);
                        row[0] = cls;
                        memcpy(row + 1, stream + start,
                               sizeof(int32_t) * (size_t)L);
                        row[T - 1] = sep;
                }
                rt_mlm_mask(ids, tgt, N, &voc, prob, wwm, &rt->rng);
                int M = 0;
                for (size_t i = 0; i < N; i++)
                        if (tgt[i] >= 0) {
                                pos[M] = (int32_t)i;
                                mtgt[M++] = tgt[i];
                        }
                if (M == 0)
                        continue;
                rc = socfw_model_forward(rt->model, ids, NULL, NULL, B, T,
                                         true, rt->dropout, &rt->rng, hidden,
                                         err);
                if (rc < 0)
                        goto out;
                for (int m = 0; m < M; m++)
                        memcpy(x + (size_t)m * C,
                               hidden + (size_t)pos[m] * C,
                               sizeof(float) * (size_t)C);
                memset(dx, 0, sizeof(float) * (size_t)M * C);
                float loss = 0;
                int right = 0;
                float *demb = socfw_params_trainable(ps, emb)
                                      ? socfw_params_grad(ps, emb)
                                      : NULL;
                rc = rt_mlm_head_step(head, x, M, socfw_params_data(ps, emb),
                                      demb, mtgt, &loss, &right, dx, err);
                if (rc < 0)
                        goto out;
                memset(dhidden, 0, sizeof(float) * NC);
                for (int m = 0; m < M; m++)
                        memcpy(dhidden + (size_t)pos[m] * C,
                               dx + (size_t)m * C,
                               sizeof(float) * (size_t)C);
                if ((rc = socfw_model_backward(rt->model, dhidden, err)) < 0)
                        goto out;
                float *grads[2] = {socfw_params_grad_buffer(ps),
                                   socfw_params_grad_buffer(head->ps)};
                size_t ns[2] = {np, nh};
                float norm = socfw_grad_clip_norm_multi(
                        grads, ns, 2, clip > 0 ? clip : INFINITY);
                double cur = lr * socfw_lr_schedule_factor(&pl.sched, step);
                if (isfinite(norm)) {
                        socfw_adamw_step(opt, socfw_params_data_buffer(ps),
                                         grads[0], cur);
                        socfw_adamw_step(hopt,
                                         socfw_params_data_buffer(head->ps),
                                         grads[1], cur);
                }
                socfw_params_zero_grad(ps);
                socfw_params_zero_grad(head->ps);
                if (step == 0)
                        socfw_metrics_set(rt->metrics, "pretrain.first_loss",
                                          loss, 0);
                loss_sum += loss;
                loss_n++;
                n_masked += M;
                n_right += right;
                int go = plan_after(&pl, rt, step + 1);
                if ((step + 1) % every == 0 || step + 1 == pl.steps || !go) {
                        double el = seconds() - t0;
                        double acc = (double)n_right / (double)n_masked;
                        rt_progress(rt, "pretrain step %ld/%ld masked-LM "
                                        "loss %.4f accuracy %.3f lr %.3g "
                                        "%.0f tokens/s ETA %.0fs",
                                    step + 1, pl.steps, loss_sum / loss_n,
                                    acc, cur,
                                    (double)(step + 1) * (double)N / el,
                                    el / (double)(step + 1) *
                                            (double)(pl.steps - step - 1));
                        socfw_metrics_set(rt->metrics, "pretrain.loss",
                                          loss_sum / loss_n, 0);
                        socfw_metrics_set(rt->metrics, "pretrain.accuracy",
                                          acc, 1);
                        loss_sum = 0;
                        loss_n = 0;
                        n_masked = n_right = 0;
                }
                if (!go)
                        break;
        }
out:
        rt_mlm_vocab_clear(&voc);
        socfw_adamw_free(opt);
        socfw_adamw_free(hopt);
        free(ids);
        free(tgt);
        free(mtgt);
        free(pos);
        free(hidden);
        free(dhidden);
        free(x);
        free(dx);
        return rc;
}

/* ---- corpus, vocabulary, token stream ---- */

static int
load_corpus(socfw_runtime *rt, corpus *c, socfw_error *err)
{
        const socfw_config *pt = socfw_pipeline_section(rt->p, "pretrain");
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < socfw_config_list_len(pt, "corpus");
             i++) {
                char *path = socfw_config_join_path(
                        socfw_pipeline_dir(rt->p),
                        socfw_config_list_get(pt, "corpus", i));
                rc = path ? read_text_file(rt, c, path, err) : SOCFW_ENOMEM;
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
        const socfw_config *pt = socfw_pipeline_section(rt->p, "pretrain");
        const char *type = socfw_config_get_string(pt, "tokenizer.type");
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
                .vocab_size = (size_t)socfw_config_get_int(
                        pt, "tokenizer.vocab_size"),
                .min_frequency = 2,
                .special_tokens = sp,
                .n_special_tokens = sp == gpt ? 1 : 5,
        };
        double t0 = seconds();
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
                            seconds() - t0);
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
        const socfw_config *pt = socfw_pipeline_section(rt->p, "pretrain");
        const char *o = socfw_config_get_string(pt, "objective");
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
                if (rc == 0)
                        rc = pretrain_mlm(rt, stream, n_stream, head, err);
        } else {
                rc = pretrain_clm(rt, stream, n_stream, err);
        }
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
        const socfw_config *bb = socfw_pipeline_section(rt->p, "backbone");
        const char *arch = socfw_config_get_string(bb, "arch");
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
        if (rc == 0)
                rc = train_vocabulary(rt, a, &c, err);
        if (rc < 0)
                goto out;

        /* the token stream: documents separated by <|endoftext|> / [SEP] */
        int32_t eot = socfw_tokenizer_special_id(
                rt->tok, mlm ? SOCFW_TOKENIZER_SEP : SOCFW_TOKENIZER_EOS);
        if ((rc = token_stream(rt, &c, eot, &stream, &n_stream, err)) < 0)
                goto out;

        /* the model */
        socfw_model_config mc;
        int hidden = (int)socfw_config_get_int(bb, "hidden");
        int heads = (int)socfw_config_get_int(bb, "heads");
        int ffn = (int)socfw_config_get_int(bb, "ffn");
        if (hidden % heads != 0) {
                rc = socfw_error_set_at(
                        err, SOCFW_ESCHEMA, socfw_pipeline_path(rt->p),
                        socfw_config_line(bb, "heads"),
                        socfw_config_column(bb, "heads"),
                        "backbone.hidden (%d) must be a multiple of "
                        "backbone.heads (%d)",
                        hidden, heads);
                goto out;
        }
        int maxpos = (int)socfw_config_get_int(bb, "max_positions");
        socfw_model_config_default(
                &mc, a, (int)socfw_tokenizer_vocab_size(rt->tok), hidden,
                (int)socfw_config_get_int(bb, "layers"), heads,
                ffn ? ffn : 4 * hidden, maxpos);
        int kv = (int)socfw_config_get_int(bb, "kv_heads");
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
        const socfw_config *pt = socfw_pipeline_section(rt->p, "pretrain");
        return socfw_config_list_len(pt, "corpus") > 0 &&
               socfw_config_get_int(pt, "steps") > 0;
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

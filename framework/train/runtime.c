/* runtime.c - build a pipeline's backbone, tasks and heads; read and
 * tokenize their data; run them for inference. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/example_impl.h"
#include "socfw/chain.h"
#include "socfw/data.h"
#include "socfw/generate.h"
#include "socfw/sampler.h"
#include "socfw/hub.h"
#include "socfw/io.h"
#include "socfw/log.h"
#include "socfw/modelfile.h"
#include "socfw/safetensors.h"
#include "socfw/threads.h"
#include "train/runtime_impl.h"

#define MAX_LABELS 4096

/* ---- small helpers ---- */

void
rt_progress(socfw_runtime *rt, const char *fmt, ...)
{
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        if (rt->progress)
                rt->progress(line, rt->progress_user);
        else
                SOCFW_LOG_INFO("%s", line);
}

static int
grow(void **buf, size_t *cap, size_t need, size_t elem)
{
        if (need <= *cap)
                return 0;
        void *n = realloc(*buf, need * elem);
        if (!n)
                return SOCFW_ENOMEM;
        *buf = n;
        *cap = need;
        return 0;
}

int
rt_reserve(socfw_runtime *rt, int B, int T, size_t out_len, socfw_error *err)
{
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        size_t bt = (size_t)B * (size_t)T;
        size_t nh = bt * (size_t)mc->hidden;
        size_t ch = rt->cap_hidden, co = rt->cap_out, ct = rt->cap_tokens;
        int rc = grow((void **)&rt->hidden, &ch, nh, sizeof(float));
        ch = rt->cap_hidden;
        if (rc == 0)
                rc = grow((void **)&rt->dhidden, &ch, nh, sizeof(float));
        if (rc == 0)
                rt->cap_hidden = nh > rt->cap_hidden ? nh : rt->cap_hidden;
        if (rc == 0)
                rc = grow((void **)&rt->out, &co, out_len, sizeof(float));
        co = rt->cap_out;
        if (rc == 0)
                rc = grow((void **)&rt->dout, &co, out_len, sizeof(float));
        if (rc == 0)
                rt->cap_out = out_len > rt->cap_out ? out_len : rt->cap_out;
        if (rc == 0)
                rc = grow((void **)&rt->ids, &ct, bt, sizeof(int32_t));
        ct = rt->cap_tokens;
        if (rc == 0)
                rc = grow((void **)&rt->mask, &ct, bt, sizeof(int32_t));
        ct = rt->cap_tokens;
        if (rc == 0)
                rc = grow((void **)&rt->tags, &ct, bt, sizeof(int32_t));
        if (rc == 0)
                rt->cap_tokens = bt > rt->cap_tokens ? bt : rt->cap_tokens;
        if (rc < 0)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "out of memory for a batch of %d x %d",
                                       B, T);
        return 0;
}

void
rt_split_clear(rt_split *s)
{
        for (size_t i = 0; i < s->n; i++) {
                free(s->ex[i].ids);
                free(s->ex[i].targets);
                free(s->ex[i].multi);
        }
        free(s->ex);
        memset(s, 0, sizeof *s);
}

void
rt_tensor_of(socfw_tensor_info *x, const socfw_params *ps, int k,
             const char *name)
{
        memset(x, 0, sizeof *x);
        x->name = name ? name : socfw_params_name(ps, k);
        x->dtype = SOCFW_DTYPE_F32;
        x->ndim = socfw_params_ndim(ps, k);
        for (int d = 0; d < x->ndim; d++)
                x->shape[d] = socfw_params_shape(ps, k)[d];
        x->nelem = socfw_params_numel(ps, k);
        x->data = socfw_params_data(ps, k);
        x->nbytes = (size_t)x->nelem * sizeof(float);
}

/* ---- tokenization ---- */

/* Keep at most `max` ids by the truncation policy; returns the new n. */
static int
truncate_ids(const socfw_runtime *rt, int32_t *ids, int n, int max)
{
        if (n <= max)
                return n;
        int32_t *tmp = malloc(sizeof(int32_t) * (size_t)max);
        if (!tmp)
                return max; /* fall back to keeping the head */
        size_t kept = socfw_truncate(ids, (size_t)n, tmp, (size_t)max,
                                     (socfw_truncate_policy)rt->truncation,
                                     (size_t)max / 2);
        memcpy(ids, tmp, kept * sizeof(int32_t));
        free(tmp);
        return (int)kept;
}

int
rt_encode(socfw_runtime *rt, const char *text, int32_t **out, int *n_out,
          socfw_error *err)
{
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = socfw_tokenizer_encode(rt->tok, text, strlen(text), 0, &ids,
                                        &n, err);
        if (rc < 0)
                return rc;
        int max = rt->max_seq;
        int32_t cls = -1, sep = -1, bos = -1;
        if (rt->encoder) {
                cls = socfw_tokenizer_special_id(rt->tok, SOCFW_TOKENIZER_CLS);
                sep = socfw_tokenizer_special_id(rt->tok, SOCFW_TOKENIZER_SEP);
                if (cls < 0)
                        cls = socfw_tokenizer_special_id(rt->tok,
                                                         SOCFW_TOKENIZER_BOS);
                if (sep < 0)
                        sep = socfw_tokenizer_special_id(rt->tok,
                                                         SOCFW_TOKENIZER_EOS);
                max -= (cls >= 0) + (sep >= 0);
        } else {
                bos = socfw_tokenizer_special_id(rt->tok, SOCFW_TOKENIZER_BOS);
                max -= bos >= 0;
        }
        if (max < 1)
                max = 1;
        int m = truncate_ids(rt, ids, (int)n, max);
        int total = m + (cls >= 0) + (sep >= 0) + (bos >= 0);
        if (total == 0) {
                /* an empty post still needs one position */
                total = 1;
        }
        int32_t *res = malloc(sizeof(int32_t) * (size_t)total);
        if (!res) {
                free(ids);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        int k = 0;
        if (cls >= 0)
                res[k++] = cls;
        if (bos >= 0)
                res[k++] = bos;
        if (m > 0)
                memcpy(res + k, ids, (size_t)m * sizeof(int32_t));
        k += m;
        if (sep >= 0)
                res[k++] = sep;
        if (k == 0)
                res[k++] = rt->pad_id;
        free(ids);
        *out = res;
        *n_out = k;
        return 0;
}

/* LM example: context tokens are read, target tokens learnt. */
static int
encode_lm(socfw_runtime *rt, const char *context, const char *target,
          rt_example *ex, socfw_error *err)
{
        int32_t *c = NULL, *t = NULL;
        size_t nc = 0, nt = 0;
        int rc = socfw_tokenizer_encode(rt->tok, context, strlen(context), 0,
                                        &c, &nc, err);
        if (rc == 0)
                rc = socfw_tokenizer_encode(rt->tok, target, strlen(target),
                                            0, &t, &nt, err);
        if (rc < 0)
                goto out;
        int32_t bos = socfw_tokenizer_special_id(rt->tok, SOCFW_TOKENIZER_BOS);
        int32_t eos = socfw_tokenizer_special_id(rt->tok, SOCFW_TOKENIZER_EOS);
        size_t max = (size_t)rt->max_seq;
        /* keep the end of the context and the start of the target */
        size_t keep_t = nt + (eos >= 0) < max / 2 ? nt : max / 2;
        size_t room = max - keep_t - (eos >= 0 && keep_t == nt) - (bos >= 0);
        size_t keep_c = nc < room ? nc : room;
        size_t n = (bos >= 0) + keep_c + keep_t + (eos >= 0 && keep_t == nt);
        ex->ids = malloc(sizeof(int32_t) * n);
        ex->targets = malloc(sizeof(int32_t) * n);
        if (!ex->ids || !ex->targets) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        size_t k = 0;
        if (bos >= 0)
                ex->ids[k++] = bos;
        if (keep_c)
                memcpy(ex->ids + k, c + (nc - keep_c),
                       keep_c * sizeof(int32_t));
        k += keep_c;
        size_t first_target = k;
        if (keep_t)
                memcpy(ex->ids + k, t, keep_t * sizeof(int32_t));
        k += keep_t;
        if (eos >= 0 && keep_t == nt)
                ex->ids[k++] = eos;
        /* position i predicts ids[i+1] when that token is a target */
        for (size_t i = 0; i < k; i++)
                ex->targets[i] = (i + 1 < k && i + 1 >= first_target)
                                         ? ex->ids[i + 1]
                                         : -100;
        ex->n = (int)k;
        ex->label = -1;
out:
        free(c);
        free(t);
        return rc;
}

/* ---- data ---- */

/* The privacy stage's version of `text` (caller frees), or a copy when the
 * pipeline does not anonymise its data. */
int
rt_anonymise(socfw_runtime *rt, const char *text, char **out, socfw_error *err)
{
        *out = NULL;
        if (!rt->privacy) {
                *out = strdup(text);
                return *out ? 0 : socfw_error_set(err, SOCFW_ENOMEM,
                                                  "out of memory");
        }
        socfw_post *post = socfw_post_new(text, NULL);
        if (!post)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = rt->privacy->plugin->task.predict(rt->privacy->state, post,
                                                   err);
        if (rc == 0 && !(*out = strdup(socfw_post_text(post))))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        socfw_post_free(post);
        return rc;
}

static socfw_target_kind
kind_of(const example_item *it)
{
        switch (it->kind) {
        case EXAMPLE_MULTI_LABEL: return SOCFW_TARGET_MULTI_LABEL;
        case EXAMPLE_WORD_TAGS: return SOCFW_TARGET_TAGS;
        case EXAMPLE_LM: return SOCFW_TARGET_TOKENS;
        case EXAMPLE_SCORE: return SOCFW_TARGET_SCORE;
        default: return SOCFW_TARGET_CLASS;
        }
}

static int add_tokenized(socfw_runtime *rt, rt_task *t, rt_split *s,
                         const example_item *it, socfw_error *err);

static int
add_example(socfw_runtime *rt, rt_task *t, rt_split *s,
            const example_item *orig, socfw_error *err)
{
        int rc = 0;
        /* anonymise the texts before anything learns from them */
        example_item copy = *orig;
        char *text = NULL, *context = NULL, *target = NULL;
        if (orig->text && (rc = rt_anonymise(rt, orig->text, &text, err)) < 0)
                return rc;
        if (orig->lm_context &&
            (rc = rt_anonymise(rt, orig->lm_context, &context, err)) < 0)
                goto out;
        if (orig->lm_target &&
            (rc = rt_anonymise(rt, orig->lm_target, &target, err)) < 0)
                goto out;
        copy.text = text;
        copy.lm_context = context;
        copy.lm_target = target;
        rc = add_tokenized(rt, t, s, &copy, err);
out:
        free(text);
        free(context);
        free(target);
        return rc;
}

static int
add_tokenized(socfw_runtime *rt, rt_task *t, rt_split *s,
              const example_item *it, socfw_error *err)
{
        rt_example ex = {.label = -1};
        int rc = 0;
        if (t->kind == 0)
                t->kind = kind_of(it);
        else if (t->kind != kind_of(it))
                return socfw_error_set(
                        err, SOCFW_EINVAL,
                        "the record gives %s targets but the task trains "
                        "for %s (hint: multi-label data needs loss: {type: "
                        "bce}; language-model data needs head: {type: lm})",
                        kind_of(it) == SOCFW_TARGET_MULTI_LABEL ? "multi-label"
                        : kind_of(it) == SOCFW_TARGET_TOKENS    ? "text"
                                                                : "class",
                        t->kind == SOCFW_TARGET_MULTI_LABEL ? "multi-label"
                        : t->kind == SOCFW_TARGET_TOKENS    ? "text"
                                                            : "single classes");
        switch (it->kind) {
        case EXAMPLE_CLASS:
                if ((size_t)it->class_id >= (size_t)t->n_outputs)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "class %d out of range",
                                               it->class_id);
                ex.label = it->class_id;
                rc = rt_encode(rt, it->text ? it->text : "", &ex.ids, &ex.n,
                               err);
                break;
        case EXAMPLE_MULTI_LABEL:
                ex.multi = calloc((size_t)t->n_outputs, 1);
                if (!ex.multi)
                        return SOCFW_ENOMEM;
                for (size_t k = 0; k < it->n_multi; k++)
                        if (it->multi[k] < t->n_outputs)
                                ex.multi[it->multi[k]] = 1;
                rc = rt_encode(rt, it->text ? it->text : "", &ex.ids, &ex.n,
                               err);
                break;
        case EXAMPLE_LM:
                rc = encode_lm(rt, it->lm_context, it->lm_target, &ex, err);
                break;
        default:
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "this kind of example (word tags, "
                                       "scores) cannot be trained yet");
        }
        if (rc == 0) {
                rt_example *g = realloc(s->ex, (s->n + 1) * sizeof *g);
                if (!g)
                        rc = SOCFW_ENOMEM;
                else {
                        s->ex = g;
                        s->ex[s->n++] = ex;
                        return 0;
                }
        }
        free(ex.ids);
        free(ex.targets);
        free(ex.multi);
        return rc;
}

/* Read one split of a task: records -> plugin examples -> tokens. */
int
rt_load_split(socfw_runtime *rt, rt_task *t, const char *path, rt_split *s,
              socfw_error *err)
{
        const socfw_config *train = socfw_pipeline_section(rt->p, "train");
        socfw_reader_options ro = SOCFW_READER_OPTIONS_INIT;
        int fmt = socfw_data_format_parse(
                socfw_config_get_string(t->cfg, "data.format"));
        ro.format = fmt < 0 ? SOCFW_DATA_FORMAT_AUTO : (socfw_data_format)fmt;
        int skip = strcmp(socfw_config_get_string(train, "on_bad_row"),
                          "skip") == 0;
        ro.bad_rows = skip ? SOCFW_BAD_ROWS_SKIP : SOCFW_BAD_ROWS_ERROR;
        long max_rows = (long)socfw_config_get_int(t->cfg, "data.max_rows");
        socfw_reader *r = NULL;
        socfw_example *ex = socfw_example_new();
        int rc = ex ? socfw_reader_open(&r, path, &ro, err)
                    : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        socfw_record *rec = NULL;
        long rows = 0;
        while (rc == 0 && (max_rows == 0 || rows < max_rows)) {
                int got = socfw_reader_next(r, &rec, err);
                if (got <= 0) {
                        rc = got;
                        break;
                }
                rows++;
                socfw_error perr = {0};
                socfw_example_reset(ex);
                int prc = t->plugin->task.parse_example(t->ctx->state, rec, ex,
                                                        &perr);
                for (size_t i = 0; prc == 0 && i < socfw_example_count(ex);
                     i++)
                        prc = add_example(rt, t, s, socfw_example_item(ex, i),
                                          &perr);
                if (prc < 0) {
                        if (prc == SOCFW_ENOMEM) {
                                rc = socfw_error_set(err, prc,
                                                     "out of memory");
                        } else {
                                rc = socfw_reader_reject(r, rec, prc, err,
                                                         "%s", perr.message);
                                if (rc == 0)
                                        s->skipped++;
                        }
                }
                socfw_record_free(rec);
                rec = NULL;
        }
        if (rc == 0 && s->n == 0)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "no usable examples (%zu rows "
                                        "skipped)",
                                        s->skipped);
        if (r)
                s->skipped += socfw_reader_skipped(r);
        socfw_reader_close(r);
        socfw_example_free(ex);
        if (rc < 0)
                socfw_error_prefix(err, rc, "task '%s'",
                                   socfw_task_name(t->ctx));
        return rc < 0 ? rc : 0;
}

/* Labels: from the pipeline, or inferred (sorted) from the training set. */
static int
setup_labels(socfw_runtime *rt, rt_task *t, socfw_error *err)
{
        (void)rt;
        /* language-model tasks have no labels */
        if (socfw_task_label_count(t->ctx) > 0 || !t->head ||
            !strcmp(t->head->name, "lm"))
                return 0;
        const char *train = socfw_config_get_string(t->cfg, "data.train");
        if (!train)
                return 0;
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        o.text_field = NULL;
        o.label_field = socfw_config_get_string(t->cfg, "data.label_field");
        int fmt = socfw_data_format_parse(
                socfw_config_get_string(t->cfg, "data.format"));
        o.reader.format = fmt < 0 ? SOCFW_DATA_FORMAT_AUTO
                                  : (socfw_data_format)fmt;
        o.reader.bad_rows = SOCFW_BAD_ROWS_SKIP;
        socfw_dataset *ds = NULL;
        socfw_error local = {0};
        int rc = socfw_dataset_load(&ds, train, &o, &local);
        if (rc < 0)
                return 0; /* reading the data reports the problem */
        size_t n = socfw_dataset_num_labels(ds);
        if (n > MAX_LABELS)
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "task '%s': %zu distinct labels in %s "
                                     "(limit %d); hint: list labels: in the "
                                     "pipeline",
                                     socfw_task_name(t->ctx), n, train,
                                     MAX_LABELS);
        const char **names = n ? calloc(n, sizeof *names) : NULL;
        for (size_t i = 0; rc == 0 && names && i < n; i++)
                names[i] = socfw_dataset_label_name(ds, i);
        if (rc == 0 && n)
                rc = names ? socfw_task_ctx_set_labels(t->ctx, names, n)
                           : SOCFW_ENOMEM;
        if (rc == 0 && n)
                rt_progress(rt, "task %s: %zu labels inferred from %s",
                            socfw_task_name(t->ctx), n, train);
        free(names);
        socfw_dataset_free(ds);
        return rc;
}

/* ---- forward for one batch ---- */

int
rt_forward(socfw_runtime *rt, rt_task *t, const rt_example *const *ex, int B,
           int training, socfw_head_io *io, socfw_error *err)
{
        int T = 1;
        for (int b = 0; b < B; b++)
                if (ex[b]->n > T)
                        T = ex[b]->n;
        size_t out_len = t->head->head.output_size(t->head_state, B, T);
        int rc = rt_reserve(rt, B, T, out_len, err);
        if (rc < 0)
                return rc;
        for (int b = 0; b < B; b++)
                for (int i = 0; i < T; i++) {
                        size_t k = (size_t)b * T + i;
                        int real = i < ex[b]->n;
                        rt->ids[k] = real ? ex[b]->ids[i] : rt->pad_id;
                        rt->mask[k] = real;
                        rt->tags[k] = real && ex[b]->targets
                                              ? ex[b]->targets[i]
                                              : -100;
                }
        rc = socfw_model_forward(rt->model, rt->ids, rt->mask, NULL, B, T,
                                 training, rt->dropout, &rt->rng, rt->hidden,
                                 err);
        if (rc < 0)
                return rc;
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        *io = (socfw_head_io){
                .B = B, .T = T, .C = mc->hidden,
                .hidden = rt->hidden, .dhidden = rt->dhidden,
                .mask = rt->mask, .ids = rt->ids,
                .out = rt->out, .dout = rt->dout, .out_len = out_len,
                .training = training, .rng = &rt->rng,
        };
        return t->head->head.forward(t->head_state, io, err);
}

/* ---- inference hooks for the chain ---- */

static int
infer_hook(void *runtime, socfw_task_ctx *ctx, const char *text, float *out,
           size_t n, size_t *n_out, socfw_error *err)
{
        socfw_runtime *rt = runtime;
        rt_task *t = NULL;
        for (size_t i = 0; i < rt->n_tasks; i++)
                if (rt->tasks[i].ctx == ctx)
                        t = &rt->tasks[i];
        if (!t || !t->head_state)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "task '%s' has no head to run",
                                       socfw_task_name(ctx));
        rt_example ex = {.label = -1};
        int rc = rt_encode(rt, text ? text : "", &ex.ids, &ex.n, err);
        socfw_head_io io;
        const rt_example *one = &ex;
        if (rc == 0)
                rc = rt_forward(rt, t, &one, 1, 0, &io, err);
        free(ex.ids);
        if (rc < 0)
                return rc;
        size_t K = (size_t)t->n_outputs;
        *n_out = K;
        /* classification heads give logits: return probabilities */
        if (t->kind == SOCFW_TARGET_MULTI_LABEL) {
                for (size_t k = 0; k < K && k < n; k++)
                        out[k] = 1.0f / (1.0f + expf(-rt->out[k]));
        } else {
                float mx = rt->out[0];
                for (size_t k = 1; k < K; k++)
                        if (rt->out[k] > mx)
                                mx = rt->out[k];
                double sum = 0;
                for (size_t k = 0; k < K; k++)
                        sum += exp(rt->out[k] - mx);
                for (size_t k = 0; k < K && k < n; k++)
                        out[k] = (float)(exp(rt->out[k] - mx) / sum);
        }
        return 0;
}

/* Decoding with the backbone's KV cache, for socfw_generate. */
typedef struct decoder {
        socfw_runtime *rt;
        socfw_model_kv *kv;
        float *logits;
} decoder;

static const float *
decode_step(void *user, const int32_t *ids, size_t n, socfw_error *err)
{
        decoder *d = user;
        if (socfw_model_decode_step(d->rt->model, d->kv, ids, (int)n,
                                    d->logits, err) < 0)
                return NULL;
        return d->logits;
}

static int
decode_piece(void *user, int32_t id, char *buf, size_t size)
{
        decoder *d = user;
        return socfw_tokenizer_token_to_piece(d->rt->tok, id, buf, size);
}

static int
generate_hook(void *runtime, socfw_task_ctx *ctx, const char *prompt,
              const socfw_generate_opts *opts, char **reply, socfw_error *err)
{
        socfw_runtime *rt = runtime;
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        if (mc->arch != SOCFW_ARCH_GPT2 && mc->arch != SOCFW_ARCH_LLAMA)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s': generating text needs a "
                                       "decoder backbone (GPT-2, Llama), "
                                       "not %s",
                                       socfw_task_name(ctx),
                                       socfw_arch_name(mc->arch));
        /* fields up to opts->size are the plugin's; the rest default */
        socfw_generate_opts o = {.size = sizeof o, .max_tokens = 64,
                                 .temperature = 0.8f, .top_k = 40,
                                 .top_p = 0.95f, .repetition_penalty = 1.0f,
                                 .seed = 42};
        if (opts)
                memcpy(&o, opts, opts->size < sizeof o ? opts->size
                                                       : sizeof o);
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = socfw_tokenizer_encode(rt->tok, prompt, strlen(prompt),
                                        SOCFW_TOKENIZER_ADD_SPECIAL |
                                                SOCFW_TOKENIZER_PARSE_SPECIAL,
                                        &ids, &n, err);
        if (rc < 0)
                return rc;
        int max_new = o.max_tokens > 0 ? o.max_tokens : 64;
        /* keep the end of a prompt that would not fit */
        size_t room = (size_t)mc->max_positions > (size_t)max_new + 1
                              ? (size_t)mc->max_positions - (size_t)max_new
                              : 1;
        const int32_t *start = ids;
        if (n > room) {
                start = ids + (n - room);
                n = room;
        }
        decoder d = {.rt = rt};
        d.logits = malloc(sizeof(float) * (size_t)mc->vocab_size);
        socfw_sampler_config sc;
        socfw_sampler_config_default(&sc);
        sc.temperature = o.temperature;
        sc.top_k = o.top_k;
        sc.top_p = o.top_p > 0 ? o.top_p : 1.0f;
        sc.repeat_penalty = o.repetition_penalty > 0 ? o.repetition_penalty
                                                     : 1.0f;
        sc.seed = o.seed;
        socfw_sampler *smp = NULL;
        socfw_generate_result res = {0};
        if (!d.logits)
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (rc == 0)
                rc = socfw_model_kv_new(&d.kv, rt->model,
                                        (int)n + max_new + 1, err);
        if (rc == 0 && !(smp = socfw_sampler_new(mc->vocab_size, &sc, err)))
                rc = SOCFW_ENOMEM;
        if (rc == 0) {
                socfw_generate_model gm = {
                        .n_vocab = mc->vocab_size,
                        .n_ctx = (size_t)mc->max_positions,
                        .step = decode_step, .piece = decode_piece,
                        .user = &d};
                socfw_generate_config gc;
                socfw_generate_config_default(&gc);
                gc.max_tokens = (size_t)max_new;
                int32_t eos = socfw_tokenizer_special_id(rt->tok,
                                                         SOCFW_TOKENIZER_EOS);
                if (eos >= 0) {
                        gc.stop_tokens = &eos;
                        gc.n_stop_tokens = 1;
                }
                size_t ns = 0, nb = 0;
                while (o.stop && o.stop[ns])
                        ns++;
                while (o.banned && o.banned[nb])
                        nb++;
                gc.stop_strings = o.stop;
                gc.n_stop_strings = ns;
                gc.blocklist = o.banned;
                gc.n_blocklist = nb;
                gc.blocklist_ignore_case = 1;
                rc = socfw_generate(&gm, smp, &gc, start, n, &res, err);
        }
        if (rc == 0) {
                *reply = res.text;
                res.text = NULL;
        }
        socfw_generate_result_free(&res);
        socfw_sampler_free(smp);
        socfw_model_kv_free(d.kv);
        free(d.logits);
        free(ids);
        return rc;
}

static int
count_hook(void *runtime, const char *text, size_t *n, socfw_error *err)
{
        socfw_runtime *rt = runtime;
        int32_t *ids = NULL;
        /* counted as generate_hook encodes prompts */
        int rc = socfw_tokenizer_encode(rt->tok, text, strlen(text),
                                        SOCFW_TOKENIZER_ADD_SPECIAL |
                                                SOCFW_TOKENIZER_PARSE_SPECIAL,
                                        &ids, n, err);
        free(ids);
        return rc;
}

/* ---- building ---- */

static int
build_backbone(socfw_runtime *rt, socfw_error *err)
{
        const socfw_config *bb = socfw_pipeline_section(rt->p, "backbone");
        const char *path = socfw_config_get_string(bb, "model");
        char *cached = NULL;
        int rc = 0;
        if (!path && rt->out_dir) {
                /* a backbone this pipeline pretrained earlier */
                cached = socfw_path_join_alloc(rt->out_dir, "backbone");
                char cfgjson[4096];
                snprintf(cfgjson, sizeof cfgjson, "%s/config.json",
                         cached ? cached : "");
                FILE *f = cached ? fopen(cfgjson, "r") : NULL;
                const socfw_config *pt = socfw_pipeline_section(rt->p,
                                                                "pretrain");
                if (f && (socfw_config_get_bool(pt, "reuse") ||
                          rt->from_checkpoint)) {
                        path = cached;
                        rt_progress(rt, "reusing the backbone pretrained in "
                                        "%s",
                                    cached);
                }
                if (f)
                        fclose(f);
        }
        if (!path && rt->from_checkpoint) {
                rc = socfw_error_set(err, SOCFW_ENOTFOUND,
                                     "%s has no backbone/ (hint: run the "
                                     "pipeline with `socfw run` first)",
                                     rt->out_dir ? rt->out_dir : "the run");
                free(cached);
                return rc;
        }
        if (!path) {
                rc = rt_build_from_scratch(rt, err);
                free(cached);
                return rc;
        }
        char *pulled = NULL;
        if (strncmp(path, "hub:", 4) == 0) {
                rc = socfw_hub_resolve(path, NULL, &pulled, err);
                if (rc < 0) {
                        socfw_error_prefix(err, rc, "backbone.model");
                        free(cached);
                        return rc;
                }
                path = pulled;
        }
        socfw_model_options mo = {.seed = (uint64_t)socfw_config_get_int(
                                          socfw_pipeline_section(rt->p,
                                                                 "train"),
                                          "seed")};
        rc = socfw_model_load(&rt->model, path, &mo, err);
        if (rc == 0) {
                const char *tpath = socfw_config_get_string(bb, "tokenizer");
                rc = socfw_tokenizer_load(&rt->tok, tpath ? tpath : path,
                                          err);
        }
        if (rc < 0)
                socfw_error_prefix(err, rc, "backbone %s", path);
        else
                rt_progress(rt, "backbone: %s (%s, %d layers, hidden %d)",
                            path,
                            socfw_arch_name(socfw_model_config_of(rt->model)
                                                    ->arch),
                            socfw_model_config_of(rt->model)->n_layers,
                            socfw_model_config_of(rt->model)->hidden);
        free(cached);
        free(pulled);
        return rc;
}

/* Freezing policy and the backbone's optimizer ranges. */
static int
setup_backbone_training(socfw_runtime *rt, socfw_error *err)
{
        const socfw_config *bb = socfw_pipeline_section(rt->p, "backbone");
        const socfw_config *tr = socfw_pipeline_section(rt->p, "train");
        const char *freeze = socfw_config_get_string(bb, "freeze");
        const char *adapters = socfw_config_get_string(bb, "adapters.type");
        if (strcmp(adapters, "none") != 0)
                return socfw_error_set_at(
                        err, SOCFW_EUNSUPPORTED, socfw_pipeline_path(rt->p),
                        socfw_config_line(bb, "adapters.type"),
                        socfw_config_column(bb, "adapters.type"),
                        "backbone.adapters.type '%s' is not available in "
                        "this build yet; hint: use freeze: top_layers",
                        adapters);
        int rc = 0;
        if (strcmp(freeze, "all") == 0)
                rc = socfw_model_freeze(rt->model, 0, false);
        else if (strcmp(freeze, "top_layers") == 0)
                rc = socfw_model_freeze(
                        rt->model,
                        (int)socfw_config_get_int(bb, "trainable_top_layers"),
                        false);
        else if (strcmp(freeze, "embeddings") == 0)
                rc = socfw_model_freeze(rt->model, -1, false);
        else
                rc = socfw_model_freeze(rt->model, -1, true);
        if (rc < 0)
                return rc;
        socfw_params *ps = socfw_model_params(rt->model);
        socfw_adamw_config ac;
        socfw_adamw_config_default(&ac);
        ac.lr = (float)socfw_config_get_float(tr, "lr");
        ac.beta1 = (float)socfw_config_get_float(tr, "beta1");
        ac.beta2 = (float)socfw_config_get_float(tr, "beta2");
        ac.eps = (float)socfw_config_get_float(tr, "eps");
        ac.weight_decay = (float)socfw_config_get_float(tr, "weight_decay");
        int n = socfw_params_count(ps);
        for (int i = 0; i < n; i++) {
                if (!socfw_params_trainable(ps, i))
                        continue;
                size_t off = (size_t)socfw_params_offset(ps, i);
                size_t len = (size_t)socfw_params_numel(ps, i);
                rt_range *last = rt->n_ranges ? &rt->ranges[rt->n_ranges - 1]
                                              : NULL;
                /* merge with the previous range across alignment padding */
                if (last && off >= last->offset + last->len &&
                    off - (last->offset + last->len) < 16) {
                        last->len = off + len - last->offset;
                        continue;
                }
                rt_range *g = realloc(rt->ranges,
                                      (rt->n_ranges + 1) * sizeof *g);
                if (!g)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                rt->ranges = g;
                rt->ranges[rt->n_ranges++] =
                        (rt_range){.offset = off, .len = len};
        }
        for (size_t r = 0; r < rt->n_ranges; r++) {
                rt_range *rg = &rt->ranges[r];
                rg->opt = socfw_adamw_new(rg->len, &ac, err);
                if (!rg->opt)
                        return SOCFW_ENOMEM;
                /* no decay on biases and norms (1-D tensors) */
                socfw_adamw_set_decay_range(rg->opt, 0, rg->len, 0, NULL);
                for (int i = 0; i < n; i++) {
                        size_t off = (size_t)socfw_params_offset(ps, i);
                        if (!socfw_params_trainable(ps, i) ||
                            socfw_params_ndim(ps, i) < 2 || off < rg->offset ||
                            off >= rg->offset + rg->len)
                                continue;
                        socfw_adamw_set_decay_range(
                                rg->opt, off - rg->offset,
                                (size_t)socfw_params_numel(ps, i), 1, NULL);
                }
        }
        rt->backbone_trainable = rt->n_ranges > 0;
        return 0;
}

static int
build_task(socfw_runtime *rt, size_t i, socfw_error *err)
{
        rt_task *t = &rt->tasks[i];
        const socfw_pipeline *p = rt->p;
        t->cfg = socfw_pipeline_task(p, i);
        t->plugin = socfw_pipeline_task_plugin(p, i);
        t->head = socfw_pipeline_task_head(p, i);
        t->head_cfg = socfw_pipeline_task_head_config(p, i);
        t->loss_cfg = socfw_pipeline_task_loss_config(p, i);
        t->weight = (float)socfw_config_get_float(t->cfg, "weight");
        int rc = socfw_task_ctx_new(&t->ctx, socfw_config_name(t->cfg),
                                    t->plugin, t->cfg, err);
        if (rc < 0)
                return rc;
        t->ctx->runtime = rt;
        t->ctx->infer = infer_hook;
        t->ctx->generate = generate_hook;
        t->ctx->count_tokens = count_hook;
        rc = setup_labels(rt, t, err);
        if (rc < 0 || !t->head)
                return rc;

        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        int is_lm = strcmp(t->head->name, "lm") == 0;
        const char *loss_type = socfw_config_get_string(t->loss_cfg, "type");
        /* what the data will say, known before it is read (inference) */
        t->kind = is_lm ? SOCFW_TARGET_TOKENS
                  : loss_type && !strcmp(loss_type, "bce")
                          ? SOCFW_TARGET_MULTI_LABEL
                          : SOCFW_TARGET_CLASS;
        t->n_outputs = is_lm ? mc->vocab_size
                             : (int)socfw_task_label_count(t->ctx);
        if (t->n_outputs <= 0)
                return socfw_error_set(err, SOCFW_ESCHEMA,
                                       "task '%s' has no labels: list them "
                                       "(labels: [a, b]) or give training "
                                       "data (data.train)",
                                       socfw_task_name(t->ctx));
        socfw_params *bps = socfw_model_params(rt->model);
        int emb = socfw_params_find(bps, "wte.weight");
        if (emb < 0) {
                char name[256];
                snprintf(name, sizeof name, "%sembed_tokens.weight",
                         socfw_model_name_prefix(rt->model));
                emb = socfw_params_find(bps, name);
        }
        if (emb < 0) {
                char name[256];
                snprintf(name, sizeof name, "%swte.weight",
                         socfw_model_name_prefix(rt->model));
                emb = socfw_params_find(bps, name);
        }
        socfw_head_dims dims = {
                .hidden = mc->hidden,
                .n_outputs = t->n_outputs,
                .max_seq = rt->max_seq,
                .max_batch = (int)socfw_config_get_int(
                        socfw_pipeline_section(p, "train"), "batch_size"),
                .embedding = emb >= 0 ? socfw_params_data(bps, emb) : NULL,
                .embedding_grad = emb >= 0 && socfw_params_trainable(bps, emb)
                                          ? socfw_params_grad(bps, emb)
                                          : NULL,
        };
        t->hps = socfw_params_new();
        if (!t->hps)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        rc = t->head->head.create(t->head_cfg, t->loss_cfg, &dims, t->hps,
                                  &t->head_state, err);
        if (rc == 0)
                rc = socfw_params_finalize(t->hps, err);
        if (rc == 0 && t->head->head.init_params) {
                socfw_rng r;
                socfw_rng_fork(&rt->rng, 1000 + i, &r);
                rc = t->head->head.init_params(t->head_state, t->hps, &r, err);
        }
        if (rc < 0)
                return socfw_error_prefix(err, rc, "task '%s' head %s",
                                          socfw_task_name(t->ctx),
                                          t->head->name);
        return 0;
}

static int
load_task_data(socfw_runtime *rt, rt_task *t, socfw_error *err)
{
        const char *paths[3] = {
                socfw_config_get_string(t->cfg, "data.train"),
                socfw_config_get_string(t->cfg, "data.valid"),
                socfw_config_get_string(t->cfg, "data.test")};
        rt_split *splits[3] = {&t->train, &t->valid, &t->test};
        if (!paths[0] && !paths[1] && !paths[2])
                return 0;
        if (!t->plugin->task.parse_example)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s': plugin '%s' cannot read "
                                       "training data (no parse_example)",
                                       socfw_task_name(t->ctx),
                                       t->plugin->name);
        if (!t->head)
                return socfw_error_set(err, SOCFW_ESCHEMA,
                                       "task '%s' has data but no head to "
                                       "train",
                                       socfw_task_name(t->ctx));
        for (int s = 0; s < 3; s++) {
                if (!paths[s])
                        continue;
                int rc = rt_load_split(rt, t, paths[s], splits[s], err);
                if (rc < 0)
                        return rc;
                rt_progress(rt, "task %s: %zu %s examples from %s%s",
                            socfw_task_name(t->ctx), splits[s]->n,
                            s == 0 ? "train" : s == 1 ? "valid" : "test",
                            paths[s], splits[s]->skipped ? " (bad rows skipped)"
                                                         : "");
        }
        t->trained = t->train.n > 0;
        /* class weights for the loss */
        const char *cw = socfw_config_get_string(t->loss_cfg, "class_weights");
        if (t->kind == SOCFW_TARGET_CLASS && cw && !strcmp(cw, "balanced") &&
            t->train.n) {
                t->class_weight = calloc((size_t)t->n_outputs, sizeof(float));
                size_t *counts = calloc((size_t)t->n_outputs, sizeof *counts);
                if (!t->class_weight || !counts) {
                        free(counts);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                for (size_t i = 0; i < t->train.n; i++)
                        counts[t->train.ex[i].label]++;
                for (int k = 0; k < t->n_outputs; k++)
                        t->class_weight[k] =
                                counts[k] ? (float)((double)t->train.n /
                                                    ((double)t->n_outputs *
                                                     (double)counts[k]))
                                          : 0.0f;
                free(counts);
        }
        return 0;
}

int
socfw_runtime_new(socfw_runtime **out, const socfw_pipeline *p,
                  const socfw_runtime_options *opts, socfw_error *err)
{
        *out = NULL;
        socfw_runtime *rt = calloc(1, sizeof *rt);
        if (!rt)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        rt->p = p;
        if (opts) {
                rt->from_checkpoint = opts->from_checkpoint;
                rt->resume = opts->resume;
                rt->progress = opts->progress;
                rt->progress_user = opts->progress_user;
                if (opts->output_dir && !(rt->out_dir = strdup(opts->output_dir))) {
                        free(rt);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
        }
        const socfw_config *top = socfw_pipeline_section(p, "");
        const socfw_config *bb = socfw_pipeline_section(p, "backbone");
        const socfw_config *tr = socfw_pipeline_section(p, "train");
        int threads = opts && opts->threads ? opts->threads
                                            : (int)socfw_config_get_int(
                                                      top, "threads");
        if (threads > 0)
                socfw_threads_set(threads);
        socfw_rng_seed(&rt->rng, (uint64_t)socfw_config_get_int(tr, "seed"));
        rt->max_seq = (int)socfw_config_get_int(bb, "max_seq_len");
        rt->dropout = (float)socfw_config_get_float(bb, "dropout");
        rt->truncation = socfw_truncate_policy_parse(
                socfw_config_get_string(bb, "truncation"));
        if (rt->truncation < 0)
                rt->truncation = SOCFW_TRUNCATE_HEAD;
        rt->metrics = socfw_metrics_new();
        int rc = rt->metrics ? 0 : SOCFW_ENOMEM;

        /* tasks need a backbone only when they have a head */
        int need_model = 0;
        for (size_t i = 0; i < socfw_pipeline_task_count(p); i++)
                need_model |= socfw_pipeline_task_head(p, i) != NULL;
        /* the privacy stage cleans every text before learning: the
         * pretraining corpus too, so it is made first */
        const socfw_config *pc = socfw_pipeline_section(p, "privacy");
        if (rc == 0 && socfw_pipeline_privacy_plugin(p) &&
            socfw_config_get_bool(pc, "training_data"))
                rc = socfw_task_ctx_new(&rt->privacy, "privacy",
                                        socfw_pipeline_privacy_plugin(p), pc,
                                        err);
        if (rc == 0 && need_model)
                rc = build_backbone(rt, err);
        if (rc == 0 && rt->model && rt->tok) {
                rt_fingerprint_model(rt->model, rt->backbone_fp);
                rt_fingerprint_tokenizer(rt->tok, rt->tokenizer_fp);
        }
        /* fine-tuning draws from its own stream, whether or not the
         * backbone was pretrained in this process */
        socfw_rng_seed(&rt->rng, (uint64_t)socfw_config_get_int(tr, "seed") ^
                                         0x9e3779b97f4a7c15ull);
        if (rc == 0 && rt->model) {
                const socfw_model_config *mc =
                        socfw_model_config_of(rt->model);
                rt->encoder = mc->arch == SOCFW_ARCH_BERT ||
                              mc->arch == SOCFW_ARCH_ROBERTA;
                int32_t pad = socfw_tokenizer_special_id(rt->tok,
                                                         SOCFW_TOKENIZER_PAD);
                rt->pad_id = pad >= 0 ? pad : 0;
                if (rt->max_seq > mc->max_positions && mc->max_positions > 0)
                        rt->max_seq = mc->max_positions -
                                      (mc->arch == SOCFW_ARCH_ROBERTA ? 2 : 0);
        }
        size_t n = socfw_pipeline_task_count(p);
        if (rc == 0 && n &&
            !(rt->tasks = calloc(n, sizeof *rt->tasks)))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < n; i++) {
                rt->n_tasks = i + 1;
                if (!socfw_pipeline_task_head(p, i)) {
                        rt_task *t = &rt->tasks[i];
                        t->cfg = socfw_pipeline_task(p, i);
                        t->plugin = socfw_pipeline_task_plugin(p, i);
                        rc = socfw_task_ctx_new(&t->ctx,
                                                socfw_config_name(t->cfg),
                                                t->plugin, t->cfg, err);
                        continue;
                }
                rc = build_task(rt, i, err);
        }
        if (rc == 0 && rt->model)
                rc = setup_backbone_training(rt, err);

        for (size_t i = 0; rc == 0 && i < rt->n_tasks; i++)
                if (rt->tasks[i].head && !(opts && opts->from_checkpoint))
                        rc = load_task_data(rt, &rt->tasks[i], err);
        if (rc == 0 && opts && opts->from_checkpoint && rt->model &&
            rt->out_dir)
                rc = rt_load_best(rt, err);
        if (rc < 0) {
                socfw_runtime_free(rt);
                return rc;
        }
        *out = rt;
        return 0;
}

void
socfw_runtime_free(socfw_runtime *rt)
{
        if (!rt)
                return;
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (t->head_state && t->head->head.destroy)
                        t->head->head.destroy(t->head_state);
                socfw_params_free(t->hps);
                socfw_adamw_free(t->hopt);
                free(t->class_weight);
                rt_split_clear(&t->train);
                rt_split_clear(&t->valid);
                rt_split_clear(&t->test);
                socfw_task_ctx_free(t->ctx);
        }
        free(rt->tasks);
        socfw_task_ctx_free(rt->privacy);
        for (size_t r = 0; r < rt->n_ranges; r++)
                socfw_adamw_free(rt->ranges[r].opt);
        free(rt->ranges);
        socfw_metrics_free(rt->metrics);
        socfw_model_free(rt->model);
        socfw_tokenizer_free(rt->tok);
        free(rt->hidden);
        free(rt->dhidden);
        free(rt->out);
        free(rt->dout);
        free(rt->ids);
        free(rt->mask);
        free(rt->tags);
        free(rt->out_dir);
        free(rt);
}

int
socfw_runtime_has_training(const socfw_runtime *rt)
{
        for (size_t i = 0; i < rt->n_tasks; i++)
                if (rt->tasks[i].trained)
                        return 1;
        return 0;
}

int
socfw_runtime_metric(const socfw_runtime *rt, const char *name,
                     double *value)
{
        return socfw_metrics_get(rt->metrics, name, value, NULL) == 0
                       ? 0
                       : SOCFW_ENOTFOUND;
}

/* ---- chain over the runtime's tasks ---- */

int socfw_chain_new_from(socfw_chain **out, const socfw_pipeline *p,
                         const char *const *stages,
                         socfw_task_ctx *(*lookup)(void *user,
                                                   const char *name),
                         void *user, socfw_error *err);

static socfw_task_ctx *
lookup_task(void *user, const char *name)
{
        socfw_runtime *rt = user;
        for (size_t i = 0; i < rt->n_tasks; i++)
                if (rt->tasks[i].ctx &&
                    strcmp(socfw_task_name(rt->tasks[i].ctx), name) == 0)
                        return rt->tasks[i].ctx;
        return NULL;
}

int
socfw_runtime_chain(socfw_runtime *rt, socfw_chain **out, socfw_error *err)
{
        return socfw_chain_new_from(out, rt->p, NULL, lookup_task, rt, err);
}

int
socfw_runtime_chain_stages(socfw_runtime *rt, const char *const *stages,
                           socfw_chain **out, socfw_error *err)
{
        return socfw_chain_new_from(out, rt->p, stages, lookup_task, rt, err);
}

/* runtime.c - build a pipeline's backbone, tasks and heads; read and
 * tokenize their data.  Inference on them (the chain's hooks) is the
 * engine's (framework/engine/). */
#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/example_impl.h"
#include "engine/engine_internal.h"
#include "socfw/continual.h"
#include "socfw/data.h"
#include "socfw/hub.h"
#include "socfw/dist.h"
#include "socfw/io.h"
#include "socfw/log.h"
#include "socfw/modelfile.h"
#include "socfw/nn.h"
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

int
rt_grow(void **buf, size_t *cap, size_t need, size_t elem)
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
        int rc = rt_grow((void **)&rt->hidden, &ch, nh, sizeof(float));
        ch = rt->cap_hidden;
        if (rc == 0)
                rc = rt_grow((void **)&rt->dhidden, &ch, nh, sizeof(float));
        if (rc == 0)
                rt->cap_hidden = nh > rt->cap_hidden ? nh : rt->cap_hidden;
        if (rc == 0)
                rc = rt_grow((void **)&rt->out, &co, out_len, sizeof(float));
        co = rt->cap_out;
        if (rc == 0)
                rc = rt_grow((void **)&rt->dout, &co, out_len, sizeof(float));
        if (rc == 0)
                rt->cap_out = out_len > rt->cap_out ? out_len : rt->cap_out;
        if (rc == 0)
                rc = rt_grow((void **)&rt->ids, &ct, bt, sizeof(int32_t));
        ct = rt->cap_tokens;
        if (rc == 0)
                rc = rt_grow((void **)&rt->mask, &ct, bt, sizeof(int32_t));
        ct = rt->cap_tokens;
        if (rc == 0)
                rc = rt_grow((void **)&rt->tags, &ct, bt, sizeof(int32_t));
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
                free(s->ex[i].ids2);
                free(s->ex[i].word_pos);
        }
        free(s->ex);
        memset(s, 0, sizeof *s);
}

/* ---- tokenization ---- */

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
        /* keep the end of the context and the start of the target: all of
         * it (and its end-of-text) when that fits in half the window */
        size_t keep_t = nt + (eos >= 0) <= max / 2 ? nt : max / 2;
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

/* ---- word tags (token classification) ---- */

/* 1 for code points of scripts written without spaces between words (CJK
 * ideographs and punctuation, kana, Hangul, full-width forms). */
static int
is_cjk(uint32_t c)
{
        return (c >= 0x2E80 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
               (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
               (c >= 0xFF00 && c <= 0xFFEF) || (c >= 0x20000 && c <= 0x3FFFF);
}

/* First (last = 0) or last code point of a UTF-8 word; 0 when invalid. */
static uint32_t
edge_cp(const char *w, int last)
{
        const unsigned char *s = (const unsigned char *)w;
        size_t n = strlen(w);
        if (!n)
                return 0;
        size_t i = 0;
        if (last) {
                i = n - 1;
                while (i > 0 && (s[i] & 0xC0) == 0x80 && n - i < 4)
                        i--;
        }
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2
                                 : (c & 0xF0) == 0xE0 ? 3
                                 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n)
                return 0;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1Fu
                                 : len == 3 ? c & 0x0Fu : c & 0x07u;
        for (size_t k = 1; k < len; k++) {
                if ((s[i + k] & 0xC0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        return cp;
}

static int
push_token(int32_t **ids, int32_t **tg, size_t *n, size_t *cap, int32_t id,
           int32_t tag)
{
        if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 64;
                int32_t *a = realloc(*ids, nc * sizeof *a);
                if (!a)
                        return SOCFW_ENOMEM;
                *ids = a;
                int32_t *b = realloc(*tg, nc * sizeof *b);
                if (!b)
                        return SOCFW_ENOMEM;
                *tg = b;
                *cap = nc;
        }
        (*ids)[*n] = id;
        (*tg)[(*n)++] = tag;
        return 0;
}

int
rt_encode_words(socfw_runtime *rt, const char *const *words, const int *tags,
                size_t n_words, int label_last, rt_example *ex, int *word_pos,
                size_t *n_used, socfw_error *err)
{
        rt_specials sp = rt_specials_for(rt->tok, rt->encoder, rt->max_seq);
        int32_t cls = sp.cls, sep = sp.sep, bos = sp.bos;
        size_t budget = (size_t)sp.room;
        /* byte-level BPE reads the space before a word as part of it */
        int spaced = socfw_tokenizer_get_kind(rt->tok) == SOCFW_TOKENIZER_BPE;
        int32_t *ids = NULL, *tg = NULL, *w_ids = NULL;
        size_t n = 0, cap = 0, used = 0, w = 0;
        char *buf = NULL;
        size_t buf_cap = 0;
        int rc = 0;
        memset(ex, 0, sizeof *ex);
        ex->label = -1;
        if (cls >= 0)
                rc = push_token(&ids, &tg, &n, &cap, cls, -100);
        if (bos >= 0 && rc == 0)
                rc = push_token(&ids, &tg, &n, &cap, bos, -100);
        for (w = 0; rc == 0 && w < n_words; w++) {
                const char *word = words[w] ? words[w] : "";
                size_t wl = strlen(word);
                if (word_pos)
                        word_pos[w] = -1;
                if (!wl)
                        continue;
                int space = spaced && w > 0 && words[w - 1] &&
                            words[w - 1][0] &&
                            !is_cjk(edge_cp(words[w - 1], 1)) &&
                            !is_cjk(edge_cp(word, 0));
                if (wl + 2 > buf_cap) {
                        char *nb = realloc(buf, wl + 2);
                        if (!nb) {
                                rc = SOCFW_ENOMEM;
                                break;
                        }
                        buf = nb;
                        buf_cap = wl + 2;
                }
                buf[0] = ' ';
                memcpy(buf + space, word, wl);
                size_t nw = 0;
                free(w_ids);
                w_ids = NULL;
                rc = socfw_tokenizer_encode(rt->tok, buf, wl + (size_t)space,
                                            0, &w_ids, &nw, err);
                if (rc < 0)
                        break;
                if (!nw)
                        continue;
                if (used + nw > budget) {
                        /* truncation: whole words only, except that a
                         * first word longer than the budget is cut */
                        if (used > 0)
                                break;
                        nw = budget;
                }
                size_t at = label_last ? nw - 1 : 0;
                for (size_t k = 0; rc == 0 && k < nw; k++)
                        rc = push_token(&ids, &tg, &n, &cap, w_ids[k],
                                        k == at && tags ? tags[w] : -100);
                if (word_pos)
                        word_pos[w] = (int)(n - nw + at);
                used += nw;
                if (used >= budget) {
                        w++;
                        break;
                }
        }
        for (size_t k = w; word_pos && k < n_words; k++)
                word_pos[k] = -1;
        if (sep >= 0 && rc == 0)
                rc = push_token(&ids, &tg, &n, &cap, sep, -100);
        if (n == 0 && rc == 0) /* an empty example still needs a position */
                rc = push_token(&ids, &tg, &n, &cap, rt->pad_id, -100);
        free(w_ids);
        free(buf);
        if (rc < 0) {
                free(ids);
                free(tg);
                return rc == SOCFW_ENOMEM
                               ? socfw_error_set(err, rc, "out of memory")
                               : rc;
        }
        ex->ids = ids;
        ex->n = (int)n;
        if (tags)
                ex->targets = tg;
        else
                free(tg);
        if (n_used)
                *n_used = w;
        return 0;
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
        int rc = rt->privacy->plugin->task->predict(rt->privacy->state, post,
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
        char *text = NULL, *context = NULL, *target = NULL, *pair = NULL;
        if (orig->text && (rc = rt_anonymise(rt, orig->text, &text, err)) < 0)
                return rc;
        if (orig->text_pair &&
            (rc = rt_anonymise(rt, orig->text_pair, &pair, err)) < 0)
                goto out;
        if (orig->lm_context &&
            (rc = rt_anonymise(rt, orig->lm_context, &context, err)) < 0)
                goto out;
        if (orig->lm_target &&
            (rc = rt_anonymise(rt, orig->lm_target, &target, err)) < 0)
                goto out;
        copy.text = text;
        copy.text_pair = pair;
        copy.lm_context = context;
        copy.lm_target = target;
        rc = add_tokenized(rt, t, s, &copy, err);
out:
        free(pair);
        free(text);
        free(context);
        free(target);
        return rc;
}

/* A sequence-level example: one per window of `text` (one window unless
 * chunk_average cuts a long input), each with proto's target.  `proto`'s
 * multi-label array is consumed. */
static int
push_windows(socfw_runtime *rt, rt_task *t, rt_split *s, rt_example *proto,
             const char *text, socfw_error *err)
{
        rt_chunks c;
        int rc = rt_encode_chunks(rt, text ? text : "", &c, err);
        rt_example *g = rc == 0 ? realloc(s->ex, (s->n + (size_t)c.count) *
                                                         sizeof *g)
                                : NULL;
        if (rc == 0 && !g)
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (int i = 0; rc == 0 && i < c.count; i++) {
                rt_example ex = *proto;
                if (i > 0 && proto->multi) {
                        ex.multi = malloc((size_t)t->n_outputs);
                        if (!ex.multi) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                break;
                        }
                        memcpy(ex.multi, proto->multi, (size_t)t->n_outputs);
                }
                ex.ids = c.ids[i];
                ex.n = c.n[i];
                ex.chunk = i;
                c.ids[i] = NULL;
                s->ex = g;
                s->ex[s->n++] = ex;
                if (i == 0)
                        proto->multi = NULL;    /* now owned by s */
        }
        if (g)
                s->ex = g;
        free(proto->multi);
        proto->multi = NULL;
        rt_chunks_clear(&c);
        return rc;
}

static int
add_tokenized(socfw_runtime *rt, rt_task *t, rt_split *s,
              const example_item *it, socfw_error *err)
{
        rt_example ex = {.label = -1, .record = it->record};
        int *pos = NULL;
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
                return push_windows(rt, t, s, &ex, it->text, err);
        case EXAMPLE_MULTI_LABEL:
                ex.multi = calloc((size_t)t->n_outputs, 1);
                if (!ex.multi)
                        return SOCFW_ENOMEM;
                for (size_t k = 0; k < it->n_multi; k++)
                        if (it->multi[k] < t->n_outputs)
                                ex.multi[it->multi[k]] = 1;
                return push_windows(rt, t, s, &ex, it->text, err);
        case EXAMPLE_LM:
                rc = encode_lm(rt, it->lm_context, it->lm_target, &ex, err);
                break;
        case EXAMPLE_SCORE:
                /* (query, item) pairs for a ranker head; see retrieval.c */
                if (!rt_is_ranker(t))
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "scored examples can only be "
                                               "trained with head: {type: "
                                               "ranker}");
                if (!it->text_pair)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "a scored example needs a "
                                               "second text (the item)");
                ex.score = (float)it->score;
                rc = rt_encode(rt, it->text ? it->text : "", &ex.ids, &ex.n,
                               err);
                if (rc == 0)
                        rc = rt_encode(rt, it->text_pair, &ex.ids2, &ex.n2,
                                       err);
                break;
        case EXAMPLE_WORD_TAGS:
                /* tags per word -> first (or last) sub-token; see
                 * rt_encode_words */
                for (size_t k = 0; k < it->n_words; k++)
                        if (it->word_tags[k] != -100 &&
                            (it->word_tags[k] < 0 ||
                             it->word_tags[k] >= t->n_outputs))
                                return socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "word %zu ('%.40s') has tag %d, "
                                        "outside the task's %d tags",
                                        k, it->words[k], it->word_tags[k],
                                        t->n_outputs);
                if (it->n_words > (size_t)INT_MAX)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "%zu words in one example",
                                               it->n_words);
                pos = malloc(sizeof(int) * (it->n_words ? it->n_words : 1));
                if (!pos)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                rc = rt_encode_words(rt, (const char *const *)it->words,
                                     it->word_tags, it->n_words,
                                     rt_label_last(t), &ex, pos, NULL, err);
                ex.word_pos = pos; /* (it clears ex) */
                ex.n_words = (int)it->n_words;
                break;
        default:
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "this kind of example cannot be "
                                       "trained yet");
        }
        ex.record = it->record; /* (an encoder may have cleared ex) */
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
        free(ex.ids2);
        free(ex.word_pos);
        return rc;
}

typedef struct split_reading {
        socfw_runtime *rt;
        rt_task *t;
        rt_split *s;
} split_reading;

static int
add_item(void *arg, const example_item *it, socfw_error *perr)
{
        split_reading *sr = arg;
        return add_example(sr->rt, sr->t, sr->s, it, perr);
}

/* Read one split of a task: records -> plugin examples -> tokens. */
int
rt_load_split(socfw_runtime *rt, rt_task *t, const char *path, rt_split *s,
              socfw_error *err)
{
        const char *split = s == &t->train   ? "train"
                            : s == &t->valid ? "valid"
                            : s == &t->test  ? "test"
                                             : "eval";
        split_reading sr = {rt, t, s};
        s->source = path;
        int rc = socfw_task_read_file(t->ctx, path, split,
                                      rt->train.skip_bad_rows, add_item, &sr,
                                      &s->skipped, err);
        if (rc == 0 && s->n == 0)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "no usable examples (%zu rows "
                                        "skipped)",
                                        s->skipped);
        if (rc < 0)
                socfw_error_prefix(err, rc, "task '%s'",
                                   socfw_task_name(t->ctx));
        return rc < 0 ? rc : 0;
}

/* Token classification: the tagger head, labelling first sub-tokens
 * unless its `label_token` says last. */
int
rt_is_tagger(const rt_task *t)
{
        return t->head &&
               socfw_registry_head_target(t->head) == SOCFW_TARGET_TAGS;
}

int
rt_label_last(const rt_task *t)
{
        return t->set.label_last;
}

/* Labels: from the pipeline, or inferred (sorted) from the training set. */
int
rt_setup_labels(socfw_runtime *rt, rt_task *t, socfw_error *err)
{
        (void)rt;
        /* language-model and ranking tasks have no labels */
        if (socfw_task_label_count(t->ctx) > 0 || !t->head ||
            socfw_registry_head_target(t->head) == SOCFW_TARGET_TOKENS ||
            rt_is_ranker(t) ||
            rt_is_tagger(t)) /* tags are listed: labels: [O, B-X, I-X] */
                return 0;
        const char *train = t->set.data_train;
        if (!train)
                return 0;
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        o.text_field = NULL;
        o.label_field = t->set.label_field;
        int fmt = socfw_data_format_parse(
                t->set.data_format);
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
        size_t out_len = t->head->head->output_size(t->head_state, B, T);
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
        rc = rt_use_adapter(rt, t, err);
        if (rc == 0)
                rc = socfw_model_forward(rt->model, rt->ids, rt->mask, NULL,
                                         B, T, training, rt->dropout,
                                         &rt->drop, rt->hidden, err);
        if (rc < 0)
                return rc;
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        *io = (socfw_head_io){
                .B = B, .T = T, .C = mc->hidden,
                .hidden = rt->hidden, .dhidden = rt->dhidden,
                .mask = rt->mask, .ids = rt->ids,
                .out = rt->out, .dout = rt->dout, .out_len = out_len,
                .training = training, .rng = &rt->drop,
        };
        return t->head->head->forward(t->head_state, io, err);
}

/* ---- building ---- */

static int
build_backbone(socfw_runtime *rt, socfw_error *err)
{
        const rt_backbone_settings *bb = &rt->backbone;
        const char *path = bb->model;
        char *cached = NULL;
        int rc = 0;
        if ((!path || rt_pretrain_wanted(rt)) && rt->out_dir) {
                /* a backbone this pipeline pretrained earlier */
                cached = socfw_path_join_alloc(rt->out_dir, "backbone");
                char cfgjson[4096];
                snprintf(cfgjson, sizeof cfgjson, "%s/config.json",
                         cached ? cached : "");
                FILE *f = cached ? fopen(cfgjson, "r") : NULL;
                /* (an interrupted chunked pretraining is continued from
                 * its state instead) */
                if (f && !rt_pretrain_unfinished(rt) &&
                    (rt->pretrain.reuse || rt->from_checkpoint)) {
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
        socfw_model_options mo = {
                .seed = rt->train.seed,
                .keep_quantized = bb->keep_quantized,
        };
        rc = socfw_model_load(&rt->model, path, &mo, err);
        if (rc == 0) {
                rc = socfw_tokenizer_load(&rt->tok,
                                          bb->tokenizer ? bb->tokenizer : path,
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
        /* continued pretraining of the loaded backbone on pretrain.corpus */
        if (rc == 0 && path != cached && !rt->from_checkpoint &&
            rt_pretrain_wanted(rt))
                rc = rt_pretrain_continue(rt, path, err);
        free(cached);
        free(pulled);
        return rc;
}

/* Freezing policy and the backbone's optimizer ranges. */
static int
setup_backbone_training(socfw_runtime *rt, socfw_error *err)
{
        const char *freeze = rt->backbone.freeze;
        /* adapters train over a frozen backbone shared by every task (an
         * explicit freeze that would train it was refused before, by
         * socfw_runtime_check_adapters) */
        int rc = 0;
        if (rt->n_adapters || strcmp(freeze, "all") == 0)
                rc = socfw_model_freeze(rt->model, 0, false);
        else if (strcmp(freeze, "top_layers") == 0)
                rc = socfw_model_freeze(
                        rt->model,
                        rt->backbone.trainable_top_layers,
                        false);
        else if (strcmp(freeze, "embeddings") == 0)
                rc = socfw_model_freeze(rt->model, -1, false);
        else
                rc = socfw_model_freeze(rt->model, -1, true);
        if (rc < 0)
                return rc;
        socfw_params *ps = socfw_model_params(rt->model);
        socfw_adamw_config ac = rt->train.adamw;
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
        rt_task_settings_read(&t->set, t->cfg, t->head_cfg, t->loss_cfg);
        t->weight = t->set.weight;
        int rc = socfw_task_ctx_new(&t->ctx, socfw_config_name(t->cfg),
                                    t->plugin, t->cfg, err);
        if (rc < 0)
                return rc;
        rt_engine_bind(rt, t->ctx, 1);
        rc = rt_setup_labels(rt, t, err);
        if (rc < 0 || !t->head)
                return rc;

        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        /* (the registry refuses a head that declares no target) */
        socfw_target_kind declared = socfw_registry_head_target(t->head);
        int is_lm = declared == SOCFW_TARGET_TOKENS;
        const char *loss_type = t->set.loss_type;
        /* what the data will say, known before it is read (inference) */
        t->kind = is_lm ? SOCFW_TARGET_TOKENS
                  : loss_type && !strcmp(loss_type, "bce")
                          ? SOCFW_TARGET_MULTI_LABEL
                          : SOCFW_TARGET_CLASS;
        t->n_outputs = is_lm ? mc->vocab_size
                             : (int)socfw_task_label_count(t->ctx);
        if (rt_is_ranker(t)) {
                /* embeddings: the size is the head's (set after create) */
                t->kind = SOCFW_TARGET_SCORE;
                t->n_outputs = mc->hidden;
        }
        if (rt_is_tagger(t)) /* one tag per word: labels are the tags */
                t->kind = SOCFW_TARGET_TAGS;
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
                .max_batch = rt->train.batch_size,
                .embedding = emb >= 0 ? socfw_params_data(bps, emb) : NULL,
                .embedding_grad = emb >= 0 && socfw_params_trainable(bps, emb)
                                          ? socfw_params_grad(bps, emb)
                                          : NULL,
        };
        t->hps = socfw_params_new();
        if (!t->hps)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        rc = t->head->head->create(t->head_cfg, t->loss_cfg, &dims, t->hps,
                                  &t->head_state, err);
        if (rc == 0)
                rc = socfw_params_finalize(t->hps, err);
        if (rc == 0 && t->head->head->init_params) {
                socfw_rng r;
                socfw_rng_fork(&rt->rng, 1000 + i, &r);
                rc = t->head->head->init_params(t->head_state, t->hps, &r, err);
        }
        if (rc == 0 && t->kind == SOCFW_TARGET_SCORE)
                t->n_outputs = (int)t->head->head->output_size(t->head_state,
                                                             1, 1);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "task '%s' head %s",
                                          socfw_task_name(t->ctx),
                                          t->head->name);
        return 0;
}

static int
load_task_data(socfw_runtime *rt, rt_task *t, socfw_error *err)
{
        const char *paths[3] = {t->set.data_train, t->set.data_valid,
                                t->set.data_test};
        rt_split *splits[3] = {&t->train, &t->valid, &t->test};
        if (!paths[0] && !paths[1] && !paths[2])
                return 0;
        if (!t->plugin->task->parse_example)
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
        const char *cw = t->set.class_weights;
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
        /* tagging: balanced over the tagged (first sub-)tokens */
        if (t->kind == SOCFW_TARGET_TAGS && cw && !strcmp(cw, "balanced") &&
            t->train.n) {
                size_t K = (size_t)t->n_outputs, total = 0;
                t->class_weight = calloc(K, sizeof(float));
                size_t *counts = calloc(K, sizeof *counts);
                if (!t->class_weight || !counts) {
                        free(counts);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                for (size_t i = 0; i < t->train.n; i++)
                        for (int k = 0; t->train.ex[i].targets &&
                                        k < t->train.ex[i].n;
                             k++) {
                                int32_t g = t->train.ex[i].targets[k];
                                if (g >= 0 && (size_t)g < K) {
                                        counts[g]++;
                                        total++;
                                }
                        }
                for (size_t k = 0; k < K; k++)
                        t->class_weight[k] =
                                counts[k] ? (float)((double)total /
                                                    ((double)K *
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
        rt_engine_init(rt);
        if (opts) {
                rt->from_checkpoint = opts->from_checkpoint;
                rt->resume = opts->resume;
                rt->progress = opts->progress;
                rt->progress_user = opts->progress_user;
                if (opts->output_dir && !(rt->out_dir = strdup(opts->output_dir))) {
                        socfw_runtime_free(rt);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
        }
        rt_train_settings_read(&rt->train, p);
        rt_backbone_settings_read(&rt->backbone, p);
        rt_run_settings_read(&rt->run, p);
        if (rt_pretrain_settings_read(&rt->pretrain, p) < 0) {
                socfw_runtime_free(rt);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        const rt_backbone_settings *bb = &rt->backbone;
        int threads = opts && opts->threads ? opts->threads
                                            : rt->run.threads;
        if (threads > 0)
                socfw_threads_set(threads);
        socfw_rng_seed(&rt->rng, rt->train.seed);
        socfw_rng_seed(&rt->drop, rt->train.seed);
        socfw_dist_set_timeout(rt->train.dist_timeout);
        rt->max_seq = bb->max_seq_len;
        rt->dropout = bb->dropout;
        const char *trunc = bb->truncation;
        rt->chunking = trunc && !strcmp(trunc, "chunk_average");
        rt->chunk_overlap = bb->chunk_overlap;
        rt->max_chunks = bb->max_chunks;
        if (rt->max_chunks < 1)
                rt->max_chunks = 1;
        rt->truncation = rt->chunking ? SOCFW_TRUNCATE_HEAD
                                      : socfw_truncate_policy_parse(trunc);
        if (rt->truncation < 0)
                rt->truncation = SOCFW_TRUNCATE_HEAD;
        rt->metrics = socfw_metrics_new();
        int rc = rt->metrics ? 0 : SOCFW_ENOMEM;
        /* what would stop the run later (adapters, data, corpus), before
         * any pretraining */
        if (rc == 0)
                rc = rt->from_checkpoint ? socfw_runtime_check_adapters(p, err)
                                         : socfw_runtime_preflight(p, err);

        /* a task with a head needs the backbone; so does a pipeline that
         * only pretrains one (a base pipeline such as configs/base-en) */
        int need_model = rt_pretrain_wanted(rt);
        for (size_t i = 0; i < socfw_pipeline_task_count(p); i++)
                need_model |= socfw_pipeline_task_head(p, i) != NULL;
        /* the privacy stage cleans every text before learning: the
         * pretraining corpus too, so it is made first */
        const socfw_config *pc = socfw_pipeline_section(p, "privacy");
        if (rc == 0 && socfw_pipeline_privacy_plugin(p) &&
            rt->run.privacy_training_data)
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
        socfw_rng_seed(&rt->rng, rt->train.seed ^ 0x9e3779b97f4a7c15ull);
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
                        rt_task_settings_read(&t->set, t->cfg, NULL, NULL);
                        rc = socfw_task_ctx_new(&t->ctx,
                                                socfw_config_name(t->cfg),
                                                t->plugin, t->cfg, err);
                        if (rc == 0)
                                rt_engine_bind(rt, t->ctx, 0);
                        continue;
                }
                rc = build_task(rt, i, err);
        }
        if (rc == 0 && rt->model)
                rc = rt_build_adapters(rt, err);
        if (rc == 0 && rt->model)
                rc = setup_backbone_training(rt, err);
        if (rc == 0 && rt->model && !rt->from_checkpoint)
                rc = rt_l2sp_setup(rt, err);    /* continual.l2_sp */

        for (size_t i = 0; rc == 0 && i < rt->n_tasks; i++)
                if (rt->tasks[i].head && !(opts && opts->from_checkpoint) &&
                    !(opts && opts->only_task &&
                      strcmp(opts->only_task,
                             socfw_task_name(rt->tasks[i].ctx))))
                        rc = load_task_data(rt, &rt->tasks[i], err);
        if (rc == 0 && rt->n_adapters && rt->out_dir &&
            !(opts && opts->from_checkpoint))
                rc = rt_reuse_adapters(rt, opts ? opts->retrain : NULL,
                                       opts ? opts->n_retrain : 0, err);
        if (rc == 0 && opts && opts->from_checkpoint && rt->model &&
            rt->out_dir)
                rc = rt_load_best(rt, err);
        /* a task's promoted adapter version (continual.c) */
        if (rc == 0 && opts && opts->from_checkpoint && rt->model &&
            rt->out_dir)
                rc = socfw_runtime_reload_adapters(rt, NULL, err);
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
        rt_engine_destroy(rt);  /* the scratch pool, before the model */
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (t->head_state && t->head->head->destroy)
                        t->head->head->destroy(t->head_state);
                socfw_params_free(t->hps);
                socfw_adamw_free(t->hopt);
                if (rt->model && socfw_model_attached(rt->model) ==
                                         t->adapter)
                        socfw_model_attach(rt->model, NULL, NULL);
                socfw_adapter_free(t->adapter);
                socfw_adamw_free(t->aopt);
                free(t->class_weight);
                rt_split_clear(&t->train);
                rt_split_clear(&t->valid);
                rt_split_clear(&t->test);
                socfw_task_ctx_free(t->ctx);
        }
        free(rt->tasks);
        rt_l2sp_free(rt);
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
        rt_pretrain_settings_clear(&rt->pretrain);
        free(rt->out_dir);
        free(rt);
}

int
socfw_runtime_pretraining_paused(const socfw_runtime *rt)
{
        return rt->pretrain_paused;
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

/* nlu.c - the nlu task plugin: what a post asks for (intent) and the key
 * information in it (slots), plus pattern extractors that need no
 * training (cashtags, tickers and companies, amounts, percentages, dates,
 * order and tracking numbers; extract.h).
 *
 * Joint intent classification and slot filling is two tasks of this
 * plugin over one backbone, trained together (multi-task: their batches
 * interleave, both losses reach the shared backbone):
 *
 *     tasks:
 *       - name: intent                  # role intent: a classifier head
 *         plugin: nlu
 *         head: {type: classifier, pooling: mean}
 *         data: {train: train.jsonl, valid: valid.jsonl,
 *                label_field: intent}
 *       - name: nlu                     # role slots: a tagger head
 *         plugin: nlu
 *         head: {type: tagger, label_token: last, lookahead: 3}
 *         intent_task: intent           # run by this task's predict
 *         labels: [O, B-artist, I-artist, ...]
 *         data: {train: train.jsonl, valid: valid.jsonl}
 *     chain: [nlu]
 *
 * As a chain stage the slots task runs the intent task on the post, tags
 * its words, merges the tagger's spans with the extractors' and writes
 *     nlu.intent         the most likely intent
 *     nlu.intent_scores  {intent: probability, ...}
 *     nlu.slots          [{type, text, start, end, value?, source,
 *                          score?}] (start/end: code points; pattern
 *                          types in capitals: CASHTAG, TICKER, COMPANY,
 *                          AMOUNT, PERCENT, DATE, ORDER_NUMBER,
 *                          TRACKING_NUMBER)
 *     nlu.tickers        the tickers the slots name (cashtags, tickers,
 *                        companies), each once, in order
 * ("nlu" is the `key` parameter).  A task of this plugin without a head
 * runs the extractors alone: no training, no model.
 *
 * Evaluation of the slots task adds, besides the host's entity figures
 * (f1 = slot micro-F1, conlleval-style exact spans), the joint ones
 * computed through the same path predict takes: intent_accuracy (with
 * intent_task), slot_f1, exact_match (intent and every slot right).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "extract.h"
#include "socfw/chain.h"
#include "socfw/metrics.h"
#include "socfw/plugin.h"
#include "socfw/report.h"
#include "spans.h"
#include "tickers.h"

#define MAX_LABELS 1024
#define MAX_TAGGED_WORDS 65536  /* words of one post the tagger reads */

static const char *const role_choices[] = {"auto", "intent", "slots",
                                           "extract", NULL};
static const char *const kind_choices[] = {
        "cashtag", "ticker", "company", "amount", "percent", "date",
        "order_number", "tracking_number", NULL};
static const char *const overlap_choices[] = {"pattern", "model", "both",
                                              NULL};
static const char *const reference_choices[] = {"arrival", "none", NULL};

static const socfw_param_spec params[] = {
        {.key = "role", .type = SOCFW_PARAM_ENUM, .default_value = "auto",
         .choices = role_choices,
         .help = "intent (a classifier head: the post's intent), slots (a "
                 "tagger head: BIO slots, merged with the extractors), or "
                 "extract (no head: the pattern extractors alone); auto "
                 "goes by the head."},
        {.key = "key", .type = SOCFW_PARAM_STRING, .default_value = "nlu",
         .help = "Annotation prefix: nlu.intent, nlu.intent_scores, "
                 "nlu.slots, nlu.tickers."},
        {.key = "intent_task", .type = SOCFW_PARAM_STRING,
         .help = "Slots role: the intent task (of this plugin) that this "
                 "task's predict runs first, and evaluates jointly."},
        {.key = "tokens_field", .type = SOCFW_PARAM_STRING,
         .default_value = "tokens",
         .help = "Slots role: record field with the list of words."},
        {.key = "tags_field", .type = SOCFW_PARAM_STRING,
         .default_value = "tags",
         .help = "Slots role: record field with one BIO tag per word."},
        {.key = "intent_field", .type = SOCFW_PARAM_STRING,
         .default_value = "intent",
         .help = "Slots role with intent_task: record field with the gold "
                 "intent (joint evaluation)."},
        {.key = "lowercase", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Lower-case what the model reads (data sets such as SNIPS "
                 "and ATIS are lower-cased); offsets stay on the post."},
        {.key = "extractors", .type = SOCFW_PARAM_LIST,
         .default_value = "[cashtag, ticker, company, amount, percent, "
                          "date, order_number, tracking_number]",
         .choices = kind_choices,
         .help = "Pattern extractors to run (ticker and company need "
                 "`tickers`); [] for none."},
        {.key = "tickers", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "Company list: TSV rows TICKER<TAB>Name[<TAB>alias...], "
                 "or JSON Lines {\"ticker\", \"name\"} (.jsonl)."},
        {.key = "overlap", .type = SOCFW_PARAM_ENUM,
         .default_value = "pattern", .choices = overlap_choices,
         .help = "Where a model slot and a pattern span overlap, keep the "
                 "pattern's, the model's, or both."},
        {.key = "day_first", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Numeric dates are day/month/year (03/04/2024 = 3 April); "
                 "default month/day/year."},
        {.key = "dollar", .type = SOCFW_PARAM_STRING, .default_value = "USD",
         .help = "Currency of a bare '$' (or 'dollars')."},
        {.key = "timestamp_field", .type = SOCFW_PARAM_STRING,
         .default_value = "timestamp",
         .help = "Post field with its time (ISO 8601 or epoch seconds): "
                 "relative dates are counted from its date."},
        {.key = "date_reference", .type = SOCFW_PARAM_ENUM,
         .default_value = "arrival", .choices = reference_choices,
         .help = "A post without a timestamp: relative dates count from "
                 "today's UTC date (arrival), or get no value (none)."},
        {.key = "joint_metrics", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "Slots role: also evaluate through predict's path "
                 "(intent_accuracy, slot_f1, exact_match)."},
        {0},
};

typedef enum role {
        ROLE_INTENT = 1,
        ROLE_SLOTS,
        ROLE_EXTRACT
} role;

typedef struct nlu {
        socfw_task_ctx *ctx;
        const socfw_config *cfg;
        role role;
        char *name, *key, *intent_task, *tokens_field, *tags_field;
        char *text_field, *label_field, *ts_field, *intent_field;
        int lowercase, joint, arrival;
        socfw_nlu_overlap overlap;
        socfw_nlu_tickers *tickers;
        socfw_nlu_extractor *x;
} nlu;

static void
nlu_destroy(void *state)
{
        nlu *s = state;
        if (!s)
                return;
        socfw_nlu_extractor_free(s->x);
        socfw_nlu_tickers_free(s->tickers);
        free(s->name);
        free(s->key);
        free(s->intent_task);
        free(s->tokens_field);
        free(s->tags_field);
        free(s->text_field);
        free(s->label_field);
        free(s->ts_field);
        free(s->intent_field);
        free(s);
}

static int
config_error(const socfw_config *cfg, const char *key, socfw_error *err,
             const char *what)
{
        return socfw_error_set_at(err, SOCFW_ESCHEMA, socfw_config_file(cfg),
                                  socfw_config_line(cfg, key),
                                  socfw_config_column(cfg, key), "nlu.%s: %s",
                                  key, what);
}

static char *
dup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

static int
nlu_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
           socfw_error *err)
{
        nlu *s = calloc(1, sizeof *s);
        int rc = 0;
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        s->ctx = ctx;
        s->cfg = cfg;
        const char *r = socfw_config_get_string(cfg, "role");
        const char *head = socfw_config_get_string(cfg, "head.type");
        if (r && !strcmp(r, "intent"))
                s->role = ROLE_INTENT;
        else if (r && !strcmp(r, "slots"))
                s->role = ROLE_SLOTS;
        else if (r && !strcmp(r, "extract"))
                s->role = ROLE_EXTRACT;
        else if (head && !strcmp(head, "classifier"))
                s->role = ROLE_INTENT;
        else if (head && !strcmp(head, "tagger"))
                s->role = ROLE_SLOTS;
        else if (!head)
                s->role = ROLE_EXTRACT;
        else {
                rc = config_error(cfg, "role", err,
                                  "cannot tell the role from the head "
                                  "(hint: head: {type: classifier} for "
                                  "intents, {type: tagger} for slots, or "
                                  "set role:)");
                goto out;
        }
        s->name = strdup(socfw_task_name(ctx));
        s->key = strdup(socfw_config_get_string(cfg, "key"));
        s->intent_task = dup_or_null(socfw_config_get_string(cfg,
                                                             "intent_task"));
        s->tokens_field = strdup(socfw_config_get_string(cfg,
                                                         "tokens_field"));
        s->tags_field = strdup(socfw_config_get_string(cfg, "tags_field"));
        s->text_field = dup_or_null(socfw_config_get_string(cfg,
                                                            "data.text_field"));
        s->label_field = dup_or_null(
                socfw_config_get_string(cfg, "data.label_field"));
        s->ts_field = strdup(socfw_config_get_string(cfg, "timestamp_field"));
        s->intent_field = strdup(socfw_config_get_string(cfg,
                                                         "intent_field"));
        if (!s->name || !s->key || !s->tokens_field || !s->tags_field ||
            !s->ts_field || !s->intent_field) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        if (!*s->key || strchr(s->key, '.')) {
                rc = config_error(cfg, "key", err,
                                  "expected a plain name such as nlu");
                goto out;
        }
        if (s->intent_task && !strcmp(s->intent_task, s->name)) {
                rc = config_error(cfg, "intent_task", err,
                                  "names this task itself (hint: the name "
                                  "of the task with the classifier head)");
                goto out;
        }
        s->lowercase = socfw_config_get_bool(cfg, "lowercase");
        s->joint = socfw_config_get_bool(cfg, "joint_metrics");
        const char *ref = socfw_config_get_string(cfg, "date_reference");
        s->arrival = !ref || strcmp(ref, "none") != 0;
        const char *ov = socfw_config_get_string(cfg, "overlap");
        s->overlap = ov && !strcmp(ov, "model")  ? SOCFW_NLU_MODEL_WINS
                     : ov && !strcmp(ov, "both") ? SOCFW_NLU_KEEP_BOTH
                                                 : SOCFW_NLU_PATTERN_WINS;

        socfw_nlu_extract_options o = socfw_nlu_extract_options_default();
        o.kinds = 0;
        for (size_t i = 0; i < socfw_config_list_len(cfg, "extractors");
             i++) {
                int k = socfw_nlu_kind_parse(
                        socfw_config_list_get(cfg, "extractors", i));
                if (k < 0) {
                        rc = config_error(cfg, "extractors", err,
                                          "unknown extractor");
                        goto out;
                }
                o.kinds |= SOCFW_NLU_BIT(k);
        }
        const char *tk = socfw_config_get_string(cfg, "tickers");
        if (tk && (rc = socfw_nlu_tickers_load(&s->tickers, tk, err)) < 0)
                goto out;
        if (!tk && (o.kinds & (SOCFW_NLU_BIT(SOCFW_NLU_TICKER) |
                               SOCFW_NLU_BIT(SOCFW_NLU_COMPANY))) &&
            socfw_config_has(cfg, "extractors")) {
                rc = config_error(cfg, "extractors", err,
                                  "ticker and company need a company list "
                                  "(hint: tickers: companies.tsv)");
                goto out;
        }
        o.tickers = s->tickers;
        o.day_first = socfw_config_get_bool(cfg, "day_first");
        o.dollar = socfw_config_get_string(cfg, "dollar");
        if (!o.dollar || !*o.dollar)
                o.dollar = "USD";
        if ((rc = socfw_nlu_extractor_new(&s->x, &o, err)) < 0)
                goto out;
        *state = s;
        s = NULL;
out:
        nlu_destroy(s);
        return rc;
}

/* ---- labels ---- */

static int
label_index(const nlu *s, const char *label)
{
        size_t n = socfw_task_label_count(s->ctx);
        for (size_t i = 0; i < n && i < MAX_LABELS; i++)
                if (!strcmp(socfw_task_label(s->ctx, i), label))
                        return (int)i;
        return -1;
}

/* ---- training records ---- */

static char *
lower_copy(const char *text)
{
        socfw_nlu_word w = {0, strlen(text)};
        return socfw_nlu_word_dup(text, &w, 1);
}

static int
parse_intent(nlu *s, const socfw_record *rec, socfw_example *ex,
             socfw_error *err)
{
        const char *tf = s->text_field ? s->text_field : "text";
        const char *lf = s->label_field ? s->label_field : "label";
        const char *text = socfw_record_get_string(rec, tf);
        const char *label = socfw_record_get_string(rec, lf);
        if (!text)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "missing string field '%s' (the "
                                       "text); hint: set data.text_field",
                                       tf);
        if (!label)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "missing string field '%s' (the "
                                       "intent); hint: set data.label_field: "
                                       "intent",
                                       lf);
        int k = label_index(s, label);
        if (k < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "unknown intent '%s' in field '%s'; "
                                       "hint: add it to labels: or leave "
                                       "labels: out to take them from the "
                                       "training data",
                                       label, lf);
        char *low = s->lowercase ? lower_copy(text) : NULL;
        if (s->lowercase && !low)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = socfw_example_set_text(ex, low ? low : text);
        free(low);
        if (rc < 0)
                return socfw_error_set(err, rc, "cannot store the text");
        return socfw_example_set_class(ex, k);
}

/* A record's list of strings `field` (caller frees the array with
 * json_decref of *holder). */
static int
string_list(const socfw_record *rec, const char *field, json_t **holder,
            socfw_error *err)
{
        char *js = socfw_record_get_json(rec, field);
        json_t *v = js ? json_loads(js, JSON_DECODE_ANY, NULL) : NULL;
        free(js);
        if (!json_is_array(v)) {
                json_decref(v);
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "field '%s' must be a list of "
                                       "strings",
                                       field);
        }
        for (size_t i = 0; i < json_array_size(v); i++)
                if (!json_is_string(json_array_get(v, i))) {
                        json_decref(v);
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "field '%s': item %zu is not "
                                               "a string",
                                               field, i);
                }
        *holder = v;
        return 0;
}

static int
parse_slots(nlu *s, const socfw_record *rec, socfw_example *ex,
            socfw_error *err)
{
        json_t *toks = NULL, *tags = NULL;
        const char **words = NULL;
        char **low = NULL;
        int *ids = NULL;
        int rc = string_list(rec, s->tokens_field, &toks, err);
        if (rc == 0)
                rc = string_list(rec, s->tags_field, &tags, err);
        if (rc < 0)
                goto out;
        size_t n = json_array_size(toks);
        if (json_array_size(tags) != n) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "'%s' has %zu words but '%s' %zu tags; "
                                     "hint: one tag per word",
                                     s->tokens_field, n, s->tags_field,
                                     json_array_size(tags));
                goto out;
        }
        if (n == 0) {
                rc = socfw_error_set(err, SOCFW_EINVAL, "'%s' is empty",
                                     s->tokens_field);
                goto out;
        }
        words = calloc(n, sizeof *words);
        low = calloc(n, sizeof *low);
        ids = calloc(n, sizeof *ids);
        if (!words || !low || !ids) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                const char *w = json_string_value(json_array_get(toks, i));
                const char *t = json_string_value(json_array_get(tags, i));
                int k = label_index(s, t);
                if (k < 0) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "word %zu ('%.40s') has tag "
                                             "'%s', which is not among the "
                                             "task's labels; hint: list "
                                             "every tag under labels:",
                                             i, w, t);
                        goto out;
                }
                ids[i] = k;
                if (s->lowercase) {
                        if (!(low[i] = lower_copy(w))) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        words[i] = low[i];
                } else
                        words[i] = w;
        }
        rc = socfw_example_set_word_tags(ex, words, ids, n);
        if (rc < 0)
                rc = socfw_error_set(err, rc, "cannot store the words");
out:
        for (size_t i = 0; low && i < json_array_size(toks); i++)
                free(low[i]);
        free(low);
        free(words);
        free(ids);
        json_decref(toks);
        json_decref(tags);
        return rc;
}

static int
nlu_parse_example(void *state, const socfw_record *rec, socfw_example *ex,
                  socfw_error *err)
{
        nlu *s = state;
        switch (s->role) {
        case ROLE_INTENT:
                return parse_intent(s, rec, ex, err);
        case ROLE_SLOTS:
                return parse_slots(s, rec, ex, err);
        default:
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s' runs the extractors only "
                                       "and has nothing to train (hint: give "
                                       "it head: {type: classifier} or "
                                       "{type: tagger})",
                                       s->name);
        }
}

/* ---- predict ---- */

/* The intent's probabilities into probs (n labels). */
static int
intent_probs(nlu *s, const char *text, float *probs, size_t n,
             socfw_error *err)
{
        size_t n_out = 0;
        char *low = s->lowercase ? lower_copy(text) : NULL;
        if (s->lowercase && !low)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = socfw_task_infer(s->ctx, low ? low : text, probs, n, &n_out,
                                  err);
        free(low);
        if (rc == 0 && n_out != n)
                rc = socfw_error_set(err, SOCFW_EINTERNAL,
                                     "the head gave %zu scores for %zu "
                                     "intents",
                                     n_out, n);
        return rc;
}

static int
predict_intent(nlu *s, socfw_post *post, socfw_error *err)
{
        size_t n = socfw_task_label_count(s->ctx);
        float probs[MAX_LABELS];
        if (n == 0 || n > MAX_LABELS)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "task '%s' has no intents", s->name);
        const char *text = socfw_post_text(post);
        int rc = intent_probs(s, text ? text : "", probs, n, err);
        if (rc < 0)
                return rc;
        json_t *scores = json_object();
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
                json_object_set_new(scores, socfw_task_label(s->ctx, i),
                                    json_real((double)(long)(probs[i] * 1e4f +
                                                             0.5f) /
                                              1e4));
                if (probs[i] > probs[best])
                        best = i;
        }
        char key[300];
        snprintf(key, sizeof key, "%s.intent", s->key);
        rc = socfw_post_set_string(post, key, socfw_task_label(s->ctx, best),
                                   err);
        char *js = json_dumps(scores, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                         JSON_REAL_PRECISION(6));
        json_decref(scores);
        snprintf(key, sizeof key, "%s.intent_scores", s->key);
        if (rc == 0)
                rc = js ? socfw_post_set_json(post, key, js, err)
                        : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        free(js);
        return rc;
}

/* The tagger's probabilities for words w of text (n x K into *probs,
 * caller frees); *n_tags 0 when the task has no trained tagger. */
static int
tag_probs(nlu *s, const char *text, const socfw_nlu_words *w, float **probs,
          size_t *n_tags, socfw_error *err)
{
        size_t K = socfw_task_label_count(s->ctx);
        *probs = NULL;
        *n_tags = 0;
        if (!K || !w->n)
                return 0;
        char **words = calloc(w->n, sizeof *words);
        float *p = w->n <= SIZE_MAX / sizeof(float) / K
                           ? malloc(w->n * K * sizeof *p)
                           : NULL;
        int rc = words && p ? 0 : SOCFW_ENOMEM;
        for (size_t i = 0; rc == 0 && i < w->n; i++)
                if (!(words[i] = socfw_nlu_word_dup(text, &w->v[i],
                                                    s->lowercase)))
                        rc = SOCFW_ENOMEM;
        if (rc < 0) {
                rc = socfw_error_set(err, rc, "out of memory");
                goto out;
        }
        socfw_error local = {0};
        rc = socfw_task_tag_words(s->ctx, (const char *const *)words, w->n, p,
                                  w->n * K, n_tags, &local);
        if (rc == SOCFW_EUNSUPPORTED) {
                rc = 0; /* no tagger model: patterns only */
                *n_tags = 0;
                goto out;
        }
        if (rc < 0) {
                rc = socfw_error_set(err, rc, "%s", local.message);
                goto out;
        }
        *probs = p;
        p = NULL;
out:
        for (size_t i = 0; words && i < w->n; i++)
                free(words[i]);
        free(words);
        free(p);
        return rc;
}

static int
model_spans(nlu *s, const char *text, size_t len, socfw_nlu_spans *out,
            socfw_error *err)
{
        socfw_nlu_words w = {0};
        float *probs = NULL;
        size_t n_tags = 0;
        const char *labels[MAX_LABELS];
        int rc = socfw_nlu_words_split(text, len, &w);
        if (rc < 0) {
                rc = socfw_error_set(err, rc, "out of memory");
                goto out;
        }
        if (w.n > MAX_TAGGED_WORDS)
                w.n = MAX_TAGGED_WORDS; /* the rest is left to patterns */
        rc = tag_probs(s, text, &w, &probs, &n_tags, err);
        if (rc < 0 || !n_tags)
                goto out;
        if (n_tags > MAX_LABELS) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "task '%s': %zu tags (limit %d)",
                                     s->name, n_tags, MAX_LABELS);
                goto out;
        }
        for (size_t k = 0; k < n_tags; k++)
                labels[k] = socfw_task_label(s->ctx, k);
        rc = socfw_nlu_spans_from_tags(&w, probs, n_tags, labels, out);
        if (rc < 0)
                rc = socfw_error_set(err, rc, "out of memory");
out:
        free(probs);
        socfw_nlu_words_free(&w);
        return rc;
}

/* The post's date for relative dates: its timestamp field, else today
 * (arrival) or none. */
static int
post_reference(const nlu *s, const socfw_post *post, socfw_nlu_date *ref)
{
        const char *ts = socfw_post_get_string(post, s->ts_field);
        double t;
        if (ts && socfw_nlu_date_parse_reference(ts, ref) == 0)
                return 1;
        if (!ts && socfw_post_get_number(post, s->ts_field, &t) == 0 &&
            t >= 0 && t < 2.5e11) {
                *ref = socfw_nlu_date_from_epoch(t);
                return 1;
        }
        if (!s->arrival)
                return 0;
        *ref = socfw_nlu_date_from_epoch((double)time(NULL));
        return 1;
}

static char *
tickers_json(const socfw_nlu_spans *sp)
{
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < sp->n; i++) {
                const socfw_nlu_span *x = &sp->v[i];
                if (!x->value || x->source != SOCFW_NLU_PATTERN ||
                    (strcmp(x->type, "CASHTAG") && strcmp(x->type, "TICKER") &&
                     strcmp(x->type, "COMPANY")))
                        continue;
                int seen = 0;
                for (size_t k = 0; !seen && k < json_array_size(arr); k++)
                        seen = !strcmp(json_string_value(
                                               json_array_get(arr, k)),
                                       x->value);
                if (!seen)
                        json_array_append_new(arr, json_string(x->value));
        }
        char *js = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
        json_decref(arr);
        return js;
}

static int
predict_slots(nlu *s, socfw_post *post, socfw_error *err)
{
        socfw_nlu_spans model = {0}, found = {0}, all = {0};
        char *js = NULL, *tj = NULL;
        int rc = 0;
        if (s->role == ROLE_SLOTS && s->intent_task &&
            (rc = socfw_task_run_stage(s->ctx, s->intent_task, post, err)) <
                    0)
                return rc;
        const char *text = socfw_post_text(post);
        if (!text)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "nlu: the post has no text");
        size_t len = strlen(text);
        if (s->role == ROLE_SLOTS &&
            (rc = model_spans(s, text, len, &model, err)) < 0)
                goto out;
        socfw_nlu_date ref;
        int have_ref = post_reference(s, post, &ref);
        if ((rc = socfw_nlu_extract(s->x, text, len, have_ref ? &ref : NULL,
                                    &found, err)) < 0)
                goto out;
        if ((rc = socfw_nlu_spans_merge(&model, &found, s->overlap, &all)) <
            0) {
                rc = socfw_error_set(err, rc, "out of memory");
                goto out;
        }
        js = socfw_nlu_spans_json(&all, text, len);
        tj = tickers_json(&all);
        if (!js || !tj) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        char key[300];
        snprintf(key, sizeof key, "%s.slots", s->key);
        if ((rc = socfw_post_set_json(post, key, js, err)) < 0)
                goto out;
        snprintf(key, sizeof key, "%s.tickers", s->key);
        rc = socfw_post_set_json(post, key, tj, err);
out:
        free(js);
        free(tj);
        socfw_nlu_spans_free(&model);
        socfw_nlu_spans_free(&found);
        socfw_nlu_spans_free(&all);
        return rc;
}

static int
nlu_predict(void *state, socfw_post *post, socfw_error *err)
{
        nlu *s = state;
        return s->role == ROLE_INTENT ? predict_intent(s, post, err)
                                      : predict_slots(s, post, err);
}

/* ---- evaluation ---- */

static int
evaluate_intent(nlu *s, socfw_eval *ev, socfw_error *err)
{
        size_t n_labels = socfw_task_label_count(s->ctx);
        const char *names[MAX_LABELS];
        if (n_labels > MAX_LABELS)
                n_labels = MAX_LABELS;
        for (size_t i = 0; i < n_labels; i++)
                names[i] = socfw_task_label(s->ctx, i);
        return socfw_eval_add_classification(ev, names, n_labels, err);
}

typedef struct joint {
        size_t n, intent_ok, exact;
        socfw_span_scorer *sc;
} joint;

/* One record of the joint evaluation. */
static int
joint_record(nlu *s, json_t *o, joint *j, socfw_error *err)
{
        json_t *toks = json_object_get(o, s->tokens_field);
        json_t *tags = json_object_get(o, s->tags_field);
        size_t n = json_array_size(toks);
        if (!n || json_array_size(tags) != n)
                return 0; /* the host's reader reports bad rows */
        size_t K = socfw_task_label_count(s->ctx);
        const char **gold = calloc(n, sizeof *gold);
        const char **pred = calloc(n, sizeof *pred);
        const char **words = calloc(n, sizeof *words);
        char **low = calloc(n, sizeof *low);
        float *probs = n <= SIZE_MAX / sizeof(float) / (K ? K : 1)
                               ? malloc(n * (K ? K : 1) * sizeof *probs)
                               : NULL;
        socfw_span *gs = NULL, *ps = NULL;
        size_t ngs = 0, nps = 0, n_tags = 0;
        socfw_post *post = NULL;
        int rc = gold && pred && words && low && probs ? 0 : SOCFW_ENOMEM;
        for (size_t i = 0; rc == 0 && i < n; i++) {
                gold[i] = json_string_value(json_array_get(tags, i));
                words[i] = json_string_value(json_array_get(toks, i));
                if (!gold[i] || !words[i]) {
                        rc = 1; /* not a valid record: skipped */
                        break;
                }
                if (s->lowercase) {
                        if (!(low[i] = lower_copy(words[i])))
                                rc = SOCFW_ENOMEM;
                        else
                                words[i] = low[i];
                }
        }
        if (rc == SOCFW_ENOMEM) {
                rc = socfw_error_set(err, rc, "out of memory");
                goto out;
        }
        if (rc)
                goto out;
        rc = socfw_task_tag_words(s->ctx, words, n, probs, n * K, &n_tags,
                                  err);
        if (rc < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                size_t best = 0;
                for (size_t k = 1; k < n_tags; k++)
                        if (probs[i * n_tags + k] > probs[i * n_tags + best])
                                best = k;
                pred[i] = socfw_task_label(s->ctx, best);
        }
        if ((rc = socfw_span_scorer_add_tags(j->sc, gold, pred, n, err)) < 0)
                goto out;
        if (socfw_bio_to_spans(gold, n, &gs, &ngs) < 0 ||
            socfw_bio_to_spans(pred, n, &ps, &nps) < 0) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        int slots_ok = ngs == nps;
        for (size_t i = 0; slots_ok && i < ngs; i++)
                slots_ok = gs[i].start == ps[i].start &&
                           gs[i].end == ps[i].end &&
                           !strcmp(gs[i].type, ps[i].type);
        int intent_ok = 1;
        if (s->intent_task) {
                const char *gi = json_string_value(
                        json_object_get(o, s->intent_field));
                const char *text = json_string_value(json_object_get(
                        o, s->text_field ? s->text_field : "text"));
                char *joined = NULL;
                if (!text) {
                        size_t total = 1;
                        for (size_t i = 0; i < n; i++)
                                total += strlen(words[i]) + 1;
                        if (!(joined = calloc(total, 1))) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        for (size_t i = 0; i < n; i++) {
                                if (i)
                                        strcat(joined, " ");
                                strcat(joined, words[i]);
                        }
                        text = joined;
                }
                post = socfw_post_new(text, NULL);
                free(joined);
                if (!post) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                if ((rc = socfw_task_run_stage(s->ctx, s->intent_task, post,
                                               err)) < 0)
                        goto out;
                char key[300];
                snprintf(key, sizeof key, "%s.intent", s->key);
                const char *pi = socfw_post_get_string(post, key);
                intent_ok = gi && pi && !strcmp(gi, pi);
                j->intent_ok += intent_ok;
        }
        j->exact += intent_ok && slots_ok;
        j->n++;
out:
        for (size_t i = 0; low && i < n; i++)
                free(low[i]);
        free(low);
        free(gold);
        free(pred);
        free(words);
        free(probs);
        free(gs);
        free(ps);
        socfw_post_free(post);
        return rc < 0 ? rc : 0;
}

/* The fields joint_record reads, from one record (NULL on ENOMEM). */
static json_t *
record_object(const nlu *s, const socfw_record *rec)
{
        const char *fields[] = {s->tokens_field, s->tags_field,
                                s->intent_field,
                                s->text_field ? s->text_field : "text"};
        json_t *o = json_object();
        for (size_t i = 0; o && i < sizeof fields / sizeof *fields; i++) {
                char *v = fields[i] ? socfw_record_get_json(rec, fields[i])
                                    : NULL;
                json_t *jv = v ? json_loads(v, JSON_DECODE_ANY, NULL) : NULL;
                free(v);
                if (jv && json_object_set_new(o, fields[i], jv) < 0) {
                        json_decref(o);
                        o = NULL;
                }
        }
        return o;
}

/* Joint figures over the evaluated records, through predict's path. */
static int
evaluate_joint(nlu *s, socfw_eval *ev, socfw_error *err)
{
        joint j = {0};
        int rc = socfw_span_scorer_new(&j.sc, 1.0, err);
        const socfw_record *prev = NULL;
        for (size_t i = 0; rc == 0 && i < socfw_eval_count(ev); i++) {
                const socfw_record *rec = socfw_eval_record(ev, i);
                if (!rec || rec == prev)
                        continue; /* unknown, or the same record again */
                prev = rec;
                json_t *o = record_object(s, rec);
                if (!o) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        break;
                }
                rc = joint_record(s, o, &j, err);
                json_decref(o);
        }
        if (rc == 0 && j.n) {
                socfw_span_type_metrics all;
                const socfw_span_type_metrics *types = NULL;
                socfw_span_scorer_types(j.sc, &types, &all);
                char rep[512];
                double ia = s->intent_task ? (double)j.intent_ok / (double)j.n
                                           : 0;
                double em = (double)j.exact / (double)j.n;
                if (s->intent_task)
                        socfw_eval_add_metric(ev, "intent_accuracy", ia,
                                              true);
                socfw_eval_add_metric(ev, "slot_f1", all.f1, true);
                socfw_eval_add_metric(ev, "exact_match", em, true);
                if (s->intent_task)
                        snprintf(rep, sizeof rep,
                                 "joint (through predict, %zu sentences): "
                                 "intent accuracy %.4f, slot F1 %.4f (P "
                                 "%.4f R %.4f), exact match %.4f\n",
                                 j.n, ia, all.f1, all.precision, all.recall,
                                 em);
                else
                        snprintf(rep, sizeof rep,
                                 "slots (through predict, %zu sentences): "
                                 "slot F1 %.4f, all slots right %.4f\n",
                                 j.n, all.f1, em);
                socfw_eval_add_report(ev, rep);
        }
        socfw_span_scorer_free(j.sc);
        return rc;
}

static int
nlu_evaluate(void *state, socfw_eval *ev, socfw_error *err)
{
        nlu *s = state;
        if (s->role == ROLE_INTENT)
                return evaluate_intent(s, ev, err);
        if (s->role == ROLE_SLOTS && s->joint)
                return evaluate_joint(s, ev, err);
        return 0;
}

SOCFW_TASK_PLUGIN(nlu,
        .version = "0.1.0",
        .description = "Intents and slots of posts (joint intent classifier "
                       "+ BIO slot tagger), with pattern extractors for "
                       "cashtags, tickers, companies, amounts, percentages, "
                       "dates, order and tracking numbers.",
        .license = "MIT",
        .author = "socfw developers",
        .params = params,
        .default_head = NULL,
        .task = SOCFW_TASK_HOOKS(.create = nlu_create,
                                 .destroy = nlu_destroy,
                                 .parse_example = nlu_parse_example,
                                 .predict = nlu_predict,
                                 .evaluate = nlu_evaluate));

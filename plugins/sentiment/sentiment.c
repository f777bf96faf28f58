/* sentiment.c - text classification task plugin: sentiment, emotion,
 * irony, hate, offensive language, stance; English and Chinese.
 *
 * Each data record gives a text and a label (or, with multi_label, a list
 * of labels).  The plugin trains the "classifier" head by default; as a
 * chain stage it annotates each post with
 *     sentiment.label   the most likely class (or, multi-label, every class
 *                       above the threshold, comma-separated)
 *     sentiment.scores  {class: probability, ...}
 * (the prefix is the task's name, so a task called "emotion" writes
 * emotion.label).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "socfw/metrics.h"
#include "socfw/plugin.h"
#include "socfw/report.h"

#define MAX_LABELS 1024

static const char *const language_choices[] = {"auto", "en", "zh", NULL};

static const socfw_param_spec params[] = {
        {.key = "language", .type = SOCFW_PARAM_ENUM, .default_value = "auto",
         .choices = language_choices,
         .help = "Language of the posts; auto accepts any (the tokenizer "
                 "splits Chinese characters either way)."},
        {.key = "multi_label", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Each record may carry several labels (a JSON list); the "
                 "head is trained with binary cross-entropy."},
        {.key = "threshold", .type = SOCFW_PARAM_FLOAT, .default_value = "0.5",
         .min = 0, .max = 1,
         .help = "Multi-label: probability above which a label is "
                 "predicted."},
        {0},
};

typedef struct sentiment {
        socfw_task_ctx *ctx;
        char *name;
        char *text_field;
        char *label_field;
        int multi_label;
        double threshold;
} sentiment;

static void
sentiment_destroy(void *state)
{
        sentiment *s = state;
        if (!s)
                return;
        free(s->name);
        free(s->text_field);
        free(s->label_field);
        free(s);
}

static int
sentiment_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
                 socfw_error *err)
{
        sentiment *s = calloc(1, sizeof *s);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        s->ctx = ctx;
        s->name = strdup(socfw_task_name(ctx));
        s->text_field = strdup(socfw_config_get_string(cfg, "data.text_field"));
        s->label_field =
                strdup(socfw_config_get_string(cfg, "data.label_field"));
        s->multi_label = socfw_config_get_bool(cfg, "multi_label");
        s->threshold = socfw_config_get_float(cfg, "threshold");
        if (!s->name || !s->text_field || !s->label_field) {
                sentiment_destroy(s);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        *state = s;
        return 0;
}

/* Index of `label` among the task's labels, or -1. */
static int
label_index(const sentiment *s, const char *label)
{
        size_t n = socfw_task_label_count(s->ctx);
        for (size_t i = 0; i < n && i < MAX_LABELS; i++)
                if (strcmp(socfw_task_label(s->ctx, i), label) == 0)
                        return (int)i;
        return -1;
}

static int
unknown_label(const sentiment *s, const char *label, socfw_error *err)
{
        char known[512];
        size_t off = 0, n = socfw_task_label_count(s->ctx);
        known[0] = '\0';
        for (size_t i = 0; i < n && off < sizeof known; i++)
                off += (size_t)snprintf(known + off, sizeof known - off,
                                        "%s%s", i ? ", " : "",
                                        socfw_task_label(s->ctx, i));
        return socfw_error_set(err, SOCFW_EINVAL,
                               "unknown label '%s' in field '%s' (labels: "
                               "%s); hint: add it to labels: or fix the row",
                               label, s->label_field, known);
}

/* A label written as a string, or as a number naming a class index. */
static int
record_label(const sentiment *s, const socfw_record *rec, const char *value,
             socfw_error *err)
{
        if (value) {
                int k = label_index(s, value);
                return k >= 0 ? k : unknown_label(s, value, err);
        }
        double num;
        if (socfw_record_get_number(rec, s->label_field, &num) == 0) {
                char text[64];
                snprintf(text, sizeof text, "%g", num);
                int k = label_index(s, text);
                return k >= 0 ? k : unknown_label(s, text, err);
        }
        return socfw_error_set(err, SOCFW_EINVAL,
                               "missing field '%s' (the gold label); hint: "
                               "set data.label_field",
                               s->label_field);
}

static int
sentiment_parse_example(void *state, const socfw_record *rec,
                        socfw_example *ex, socfw_error *err)
{
        sentiment *s = state;
        const char *text = socfw_record_get_string(rec, s->text_field);
        if (!text)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "missing string field '%s' (the "
                                       "text); hint: set data.text_field",
                                       s->text_field);
        int rc = socfw_example_set_text(ex, text);
        if (rc < 0)
                return socfw_error_set(err, rc, "cannot store the text");
        if (!s->multi_label) {
                int k = record_label(s, rec,
                                     socfw_record_get_string(rec,
                                                             s->label_field),
                                     err);
                return k < 0 ? k : socfw_example_set_class(ex, k);
        }
        /* multi-label: a JSON list of label names */
        char *json = socfw_record_get_json(rec, s->label_field);
        json_t *list = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
        free(json);
        if (!json_is_array(list)) {
                json_decref(list);
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "field '%s' must be a list of labels "
                                       "(multi_label is on)",
                                       s->label_field);
        }
        size_t n = json_array_size(list);
        int ids[MAX_LABELS];
        if (n > MAX_LABELS)
                n = MAX_LABELS;
        for (size_t i = 0; i < n; i++) {
                const char *l = json_string_value(json_array_get(list, i));
                int k = l ? label_index(s, l) : -1;
                if (k < 0) {
                        rc = l ? unknown_label(s, l, err)
                               : socfw_error_set(err, SOCFW_EINVAL,
                                                 "labels in '%s' must be "
                                                 "strings",
                                                 s->label_field);
                        json_decref(list);
                        return rc;
                }
                ids[i] = k;
        }
        json_decref(list);
        return socfw_example_set_multi_label(ex, ids, n);
}

static int
sentiment_predict(void *state, socfw_post *post, socfw_error *err)
{
        sentiment *s = state;
        size_t n_labels = socfw_task_label_count(s->ctx);
        float probs[MAX_LABELS];
        size_t n_out = 0;
        if (n_labels == 0 || n_labels > MAX_LABELS)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "task '%s' has no labels", s->name);
        int rc = socfw_task_infer(s->ctx, socfw_post_text(post), probs,
                                  n_labels, &n_out, err);
        if (rc < 0)
                return rc;
        if (n_out != n_labels)
                return socfw_error_set(err, SOCFW_EINTERNAL,
                                       "the head gave %zu scores for %zu "
                                       "labels",
                                       n_out, n_labels);
        json_t *scores = json_object();
        size_t best = 0;
        char multi[1024];
        size_t off = 0;
        multi[0] = '\0';
        for (size_t i = 0; i < n_labels; i++) {
                const char *l = socfw_task_label(s->ctx, i);
                json_object_set_new(scores, l,
                                    json_real(round(probs[i] * 1e4) / 1e4));
                if (probs[i] > probs[best])
                        best = i;
                if (s->multi_label && probs[i] >= s->threshold &&
                    off < sizeof multi)
                        off += (size_t)snprintf(multi + off,
                                                sizeof multi - off, "%s%s",
                                                off ? "," : "", l);
        }
        char key[300];
        snprintf(key, sizeof key, "%s.label", s->name);
        rc = socfw_post_set_string(post, key,
                                   s->multi_label
                                           ? multi
                                           : socfw_task_label(s->ctx, best),
                                   err);
        char *js = json_dumps(scores, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(scores);
        snprintf(key, sizeof key, "%s.scores", s->name);
        if (rc == 0)
                rc = js ? socfw_post_set_json(post, key, js, err)
                        : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        free(js);
        return rc;
}

static int
sentiment_evaluate(void *state, socfw_eval *ev, socfw_error *err)
{
        sentiment *s = state;
        size_t n_labels = socfw_task_label_count(s->ctx);
        const char *names[MAX_LABELS];
        if (n_labels > MAX_LABELS)
                n_labels = MAX_LABELS;
        for (size_t i = 0; i < n_labels; i++)
                names[i] = socfw_task_label(s->ctx, i);
        return socfw_eval_add_classification(ev, names, n_labels, err);
}

SOCFW_TASK_PLUGIN(sentiment,
        .version = "0.1.0",
        .description = "Text classification of posts: sentiment, emotion, "
                       "irony, hate, offensive language, stance (English "
                       "and Chinese).",
        .license = "MIT",
        .author = "socfw developers",
        .params = params,
        .default_head = "classifier",
        .task = SOCFW_TASK_HOOKS(.create = sentiment_create,
                                 .destroy = sentiment_destroy,
                                 .parse_example = sentiment_parse_example,
                                 .predict = sentiment_predict,
                                 .evaluate = sentiment_evaluate));

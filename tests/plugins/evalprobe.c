/* tests/plugins/evalprobe.c - a classification task whose evaluate hook
 * writes down what the host hands it (plugin ABI 2.0), for test_train:
 * one JSON line per evaluated item with its record's file, line and
 * fields, the gold and predicted class and the class scores.
 *
 *     tasks:
 *       - {name: probe, plugin: evalprobe, labels: [negative, positive],
 *          dump: /tmp/x/seen.jsonl, data: {train: ..., valid: ...}}
 *
 * parse_example reads "text" and "label" only; the dump also gives the
 * record's "id", which only the evaluate hook reads (through
 * socfw_eval_record), so the test sees that the hook gets the whole row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "socfw/plugin.h"

static const socfw_param_spec params[] = {
        {.key = "dump", .type = SOCFW_PARAM_STRING, .default_value = "",
         .help = "Where the evaluate hook writes what it saw (JSON Lines)."},
        {0},
};

typedef struct probe {
        socfw_task_ctx *ctx;
        char *dump;
} probe;

static int
probe_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **out,
             socfw_error *err)
{
        probe *p = calloc(1, sizeof *p);
        const char *dump = socfw_config_get_string(cfg, "dump");
        if (p)
                p->dump = strdup(dump ? dump : "");
        if (!p || !p->dump) {
                free(p);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        p->ctx = ctx;
        *out = p;
        return 0;
}

static void
probe_destroy(void *state)
{
        probe *p = state;
        if (p)
                free(p->dump);
        free(p);
}

static int
probe_parse_example(void *state, const socfw_record *rec, socfw_example *ex,
                    socfw_error *err)
{
        probe *p = state;
        const char *text = socfw_record_get_string(rec, "text");
        const char *label = socfw_record_get_string(rec, "label");
        if (!text || !label)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "needs string fields 'text' and "
                                       "'label'");
        int rc = socfw_example_set_text(ex, text);
        for (size_t k = 0; rc == 0 && k < socfw_task_label_count(p->ctx); k++)
                if (!strcmp(socfw_task_label(p->ctx, k), label))
                        return socfw_example_set_class(ex, (int)k);
        return rc < 0 ? rc
                      : socfw_error_set(err, SOCFW_EINVAL,
                                        "unknown label '%s'", label);
}

/* One line per item: what socfw_eval_record, _gold, _pred and _scores
 * return for it. */
static int
probe_evaluate(void *state, socfw_eval *ev, socfw_error *err)
{
        probe *p = state;
        size_t n = socfw_eval_count(ev);
        size_t n_labels = socfw_task_label_count(p->ctx);
        FILE *f = p->dump[0] ? fopen(p->dump, "w") : NULL;
        if (p->dump[0] && !f)
                return socfw_error_set(err, SOCFW_EIO, "%s: cannot write",
                                       p->dump);
        int rc = 0;
        for (size_t i = 0; f && rc == 0 && i < n; i++) {
                const socfw_record *rec = socfw_eval_record(ev, i);
                const float *sc = socfw_eval_scores(ev, i);
                json_t *scores = json_array();
                for (size_t k = 0; sc && k < n_labels; k++)
                        json_array_append_new(scores, json_real(sc[k]));
                double id = -1;
                const char *text = rec ? socfw_record_get_string(rec, "text")
                                       : NULL;
                if (rec)
                        socfw_record_get_number(rec, "id", &id);
                json_t *line = json_pack(
                        "{s:b, s:s?, s:I, s:s?, s:f, s:i, s:i, s:o, s:s?}",
                        "record", rec != NULL, "file",
                        rec ? socfw_record_file(rec) : NULL, "line",
                        (json_int_t)(rec ? socfw_record_line(rec) : -1),
                        "text", text, "id", id, "gold",
                        socfw_eval_gold(ev, i), "pred",
                        socfw_eval_pred(ev, i), "scores", scores, "split",
                        socfw_eval_split(ev));
                if (!line || json_dumpf(line, f, JSON_COMPACT) < 0 ||
                    fputc('\n', f) == EOF)
                        rc = socfw_error_set(err, SOCFW_EIO, "%s: cannot "
                                             "write", p->dump);
                json_decref(line);
        }
        if (f && fclose(f) != 0 && rc == 0)
                rc = socfw_error_set(err, SOCFW_EIO, "%s: cannot write",
                                     p->dump);
        if (rc == 0)
                rc = socfw_eval_add_metric(ev, "probe_items", (double)n, true);
        return rc;
}

SOCFW_TASK_PLUGIN(evalprobe,
        .version = "0.1",
        .description = "A classification task whose evaluate hook writes "
                       "down what it is given (tests only).",
        .license = "MIT",
        .params = params,
        .default_head = "classifier",
        .task = SOCFW_TASK_HOOKS(.create = probe_create,
                                 .destroy = probe_destroy,
                                 .parse_example = probe_parse_example,
                                 .evaluate = probe_evaluate));

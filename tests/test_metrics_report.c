/* tests/test_metrics_report.c - classification report (text layout as
 * scikit-learn's, JSON), SVG curves (well-formed, escaped, atomic),
 * tick generation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/example_impl.h"
#include "socfw/io.h"
#include "socfw/plugin.h"
#include "socfw/report.h"
#include "testutil.h"

static void
two_class(socfw_confusion **cm, socfw_classification *res)
{
        const int t[] = {0, 0, 1, 1}, p[] = {0, 1, 1, 1};
        cr_assert_eq(socfw_confusion_new(cm, 2, NULL), 0);
        socfw_confusion_add_many(*cm, t, p, 4);
        cr_assert_eq(socfw_classification_compute(res, *cm, NULL), 0);
}

Test(report, text_matches_sklearn_layout)
{
        socfw_confusion *cm;
        socfw_classification res;
        two_class(&cm, &res);
        const char *names[] = {"neg", "pos"};
        char *txt = socfw_report_classification_text(&res, cm, names, 2);
        cr_assert_not_null(txt);
        /* the first block is byte-for-byte scikit-learn's layout */
        const char *want =
                "              precision    recall  f1-score   support\n\n"
                "         neg       1.00      0.50      0.67         2\n"
                "         pos       0.67      1.00      0.80         2\n\n"
                "    accuracy                           0.75         4\n"
                "   macro avg       0.83      0.75      0.73         4\n"
                "weighted avg       0.83      0.75      0.73         4\n"
                "\nconfusion matrix (rows: true, columns: predicted)\n"
                "              neg pos\n"
                "         neg    1   1\n"
                "         pos    0   2\n";
        cr_assert_str_eq(txt, want, "got:\n%s", txt);
        free(txt);
        /* no names, no matrix, 4 digits */
        txt = socfw_report_classification_text(&res, NULL, NULL, 4);
        cr_assert_not_null(strstr(txt, "           0     1.0000    0.5000"));
        cr_assert_null(strstr(txt, "confusion"));
        free(txt);
        socfw_classification_clear(&res);
        socfw_confusion_free(cm);
}

/* What a classification task's evaluate hook adds in one call: the five
 * figures (higher is better) and the text report with its label names. */
Test(report, eval_add_classification_adds_figures_and_report)
{
        const int gold[] = {0, 0, 1, 1}, pred[] = {0, 1, 1, 1};
        const char *names[] = {"neg", "pos"};
        socfw_eval e;
        socfw_eval_init(&e, 4, gold, pred, NULL, 2);
        cr_assert_eq(socfw_eval_add_classification(&e, names, 2, NULL), 0);
        const struct { const char *name; double want; } figures[] = {
                {"accuracy", 0.75},
                {"macro_f1", (2.0 / 3 + 0.8) / 2},
                {"weighted_f1", (2.0 / 3 + 0.8) / 2},
                {"macro_recall", 0.75},
                {"macro_precision", (1 + 2.0 / 3) / 2},
        };
        cr_assert_eq(e.n_metrics, 5);
        for (size_t i = 0; i < 5; i++) {
                cr_assert_str_eq(e.names[i], figures[i].name);
                cr_assert_float_eq(e.values[i], figures[i].want, 1e-12,
                                   "%s", figures[i].name);
                cr_assert(e.higher[i]);
        }
        cr_assert_not_null(e.report);
        cr_assert_not_null(strstr(e.report, "         pos     0.6667"),
                           "got:\n%s", e.report);
        socfw_eval_clear(&e);
}

Test(report, json_has_sklearn_keys_and_matrix)
{
        socfw_confusion *cm;
        socfw_classification res;
        two_class(&cm, &res);
        const char *names[] = {"neg", "pos"};
        json_t *j = socfw_report_classification_json(&res, cm, names);
        cr_assert_not_null(j);
        json_t *pos = json_object_get(j, "pos");
        cr_assert_float_eq(json_real_value(json_object_get(pos, "f1-score")),
                           0.8, 1e-12);
        cr_assert_eq(json_integer_value(json_object_get(pos, "support")), 2);
        cr_assert_float_eq(json_real_value(json_object_get(j, "accuracy")),
                           0.75, 1e-12);
        json_t *mavg = json_object_get(j, "macro avg");
        cr_assert_float_eq(json_real_value(json_object_get(mavg, "recall")),
                           0.75, 1e-12);
        json_t *m = json_object_get(j, "confusion_matrix");
        cr_assert_eq(json_array_size(m), 2);
        cr_assert_eq(json_integer_value(json_array_get(json_array_get(m, 0),
                                                       1)), 1);
        cr_assert_str_eq(json_string_value(json_array_get(
                json_object_get(j, "labels"), 1)), "pos");
        json_decref(j);
        socfw_classification_clear(&res);
        socfw_confusion_free(cm);
}

struct tick_case {
        double lo, hi;
        size_t target, n;
        double first, last, step;
};

Test(report, nice_ticks)
{
        static const struct tick_case cases[] = {
                {0, 1, 6, 6, 0, 1, 0.2},
                {0.13, 0.97, 6, 6, 0, 1, 0.2},
                {1, 100, 8, 11, 0, 100, 10},
                {2.5, 2.5, 6, 7, 2.2, 2.8, 0.1},   /* flat: padded 10% */
                {-3, 7, 6, 7, -4, 8, 2},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                double t[32];
                size_t n = socfw_chart_ticks(cases[i].lo, cases[i].hi,
                                             cases[i].target, t, 32);
                cr_assert_eq(n, cases[i].n, "case %zu: %zu ticks", i, n);
                cr_assert_float_eq(t[0], cases[i].first, 1e-9, "case %zu", i);
                cr_assert_float_eq(t[n - 1], cases[i].last, 1e-9, "case %zu",
                                   i);
                cr_assert_float_eq(t[1] - t[0], cases[i].step, 1e-9,
                                   "case %zu", i);
                cr_assert_leq(t[0], cases[i].lo);
                cr_assert_geq(t[n - 1], cases[i].hi);
        }
        double t[4];
        cr_assert_eq(socfw_chart_ticks(NAN, 1, 5, t, 4), 0);
        cr_assert_leq(socfw_chart_ticks(0, 1000, 50, t, 4), 4);
}

static size_t
count(const char *hay, const char *needle)
{
        size_t n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

Test(report, svg_chart_written_atomically_and_well_formed, .timeout = 20)
{
        double steps[50], train[50], ex[5] = {10, 20, 30, 40, 50},
               valid[5] = {1.9, 1.5, NAN, 1.2, 1.25};
        for (int i = 0; i < 50; i++) {
                steps[i] = i + 1;
                train[i] = 2.0 * exp(-i / 20.0) + 0.3;
        }
        socfw_chart_series s[3] = {
                {"train loss", steps, train, 50},
                {"valid <loss> & \"more\"", ex, valid, 5},
                {"empty", NULL, NULL, 0},
        };
        socfw_chart_options o = SOCFW_CHART_OPTIONS_INIT;
        o.title = "sentiment: loss";
        o.x_label = "step";
        o.y_label = "cross-entropy";
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "loss.svg");
        socfw_error err = {0};
        cr_assert_eq(socfw_chart_write_svg(path, s, 3, &o, &err), 0, "%s",
                     err.message);
        char *svg;
        size_t len;
        cr_assert_eq(socfw_file_read(path, 1 << 20, &svg, &len, &err), 0);
        cr_assert_eq(strncmp(svg, "<?xml", 5), 0);
        cr_assert_not_null(strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\""));
        cr_assert_not_null(strstr(svg, "</svg>\n"));
        cr_assert_eq(count(svg, "<polyline"), 3);
        cr_assert_not_null(strstr(svg, ">sentiment: loss</text>"));
        cr_assert_not_null(strstr(svg, ">cross-entropy</text>"));
        cr_assert_not_null(strstr(svg, "valid &lt;loss&gt; &amp; "
                                  "&quot;more&quot;"));
        cr_assert_null(strstr(svg, "<loss>"));
        cr_assert_null(strstr(svg, "nan"));
        /* 50 + 4 finite points marked, legend has 3 entries */
        cr_assert_eq(count(svg, "<circle"), 54);
        cr_assert_eq(count(svg, "<rect"), 4);
        /* tick labels of the x axis: 0..50 step 10 */
        cr_assert_not_null(strstr(svg, ">50</text>"));
        /* an XML parser accepts it, when one is installed */
        struct stat st;
        if (stat("/usr/bin/xmllint", &st) == 0) {
                char cmd[8300];
                int status;
                snprintf(cmd, sizeof cmd, "/usr/bin/xmllint --noout '%s'",
                         path);
                char *out = socfw_test_run(cmd, &status);
                cr_assert_eq(status, 0, "xmllint: %s", out ? out : "");
                free(out);
        }
        free(svg);

        /* no data at all: still a valid chart with a note */
        char *empty = socfw_chart_svg(NULL, 0, NULL);
        cr_assert_not_null(empty);
        cr_assert_not_null(strstr(empty, ">no data</text>"));
        free(empty);

        /* a failing write leaves nothing behind and says where */
        socfw_error_clear(&err);
        cr_assert_lt(socfw_chart_write_svg("/nonexistent-socfw/x.svg", s, 1, &o,
                                           &err), 0);
        cr_assert_str_eq(err.file, "/nonexistent-socfw/x.svg");
        char cmd[4200];
        int status;
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        free(socfw_test_run(cmd, &status));
}

/* ABI 2.0's evaluation items: what each accessor gives follows the kind,
 * and the classification figures of a tagging task count its words. */
Test(report, eval_accessors_follow_the_kind)
{
        /* two examples of 3 and 2 words; word 2 has no gold tag, word 4
         * no prediction (cut off) */
        const int gold[] = {0, 1, -1, 1, 0}, pred[] = {0, 1, 1, 0, -1};
        const size_t off[] = {0, 3, 5};
        socfw_eval e;
        socfw_eval_init(&e, 2, gold, pred, NULL, 2);
        cr_assert_eq(socfw_eval_kind(&e), SOCFW_TARGET_CLASS);
        cr_assert_eq(socfw_eval_gold(&e, 1), 1);
        cr_assert_eq(socfw_eval_tags(&e, 0, NULL, NULL), 0);
        cr_assert_null(socfw_eval_record(&e, 0)); /* no records known */
        e.kind = SOCFW_TARGET_TAGS;
        e.tag_off = off;
        const int *g, *p;
        cr_assert_eq(socfw_eval_tags(&e, 1, &g, &p), 2);
        cr_assert(g[0] == 1 && g[1] == 0 && p[0] == 0 && p[1] == -1);
        cr_assert_eq(socfw_eval_tags(&e, 2, &g, &p), 0);
        cr_assert_null(g);
        cr_assert_eq(socfw_eval_gold(&e, 0), -1);
        cr_assert_eq(socfw_eval_pred(&e, 0), -1);
        cr_assert_null(socfw_eval_scores(&e, 0));
        /* words 0, 1, 3 count (2 has no gold, 4 no prediction): 2 of 3 */
        cr_assert_eq(socfw_eval_add_classification(&e, NULL, 2, NULL), 0);
        cr_assert_str_eq(e.names[0], "accuracy");
        cr_assert_float_eq(e.values[0], 2.0 / 3, 1e-12);
        socfw_eval_clear(&e);
        socfw_eval_init(&e, 2, gold, pred, NULL, 2);
        e.kind = SOCFW_TARGET_SCORE;
        cr_assert_eq(socfw_eval_gold(&e, 0), -1);
        socfw_eval_clear(&e);
}

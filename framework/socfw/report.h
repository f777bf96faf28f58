/* socfw/report.h - human- and machine-readable evaluation reports and
 * training-curve charts.
 *
 *   - a classification report as text, laid out like scikit-learn's
 *     classification_report, followed by the confusion matrix; and as JSON
 *     (same keys as scikit-learn's output_dict, plus the matrix);
 *   - an SVG line chart of training / validation curves (several named
 *     series over steps or epochs, axes with ticks, legend, title), written
 *     with the atomic writer, so a crash never leaves half a chart.
 *
 *     char *txt = socfw_report_classification_text(&res, cm, names, 4);
 *     fputs(txt, stdout);
 *     free(txt);
 *
 *     socfw_chart_series s[2] = {
 *             {"train loss", steps, train_loss, n},
 *             {"valid loss", epochs_x, valid_loss, m},
 *     };
 *     socfw_chart_options o = SOCFW_CHART_OPTIONS_INIT;
 *     o.title = "sentiment";
 *     socfw_chart_write_svg("runs/x/loss.svg", s, 2, &o, &err);
 */
#ifndef SOCFW_REPORT_H
#define SOCFW_REPORT_H

#include <stddef.h>

#include <jansson.h>

#include "socfw/error.h"
#include "socfw/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- classification report ---- */

/* Text report:
 *
 *                   precision    recall  f1-score   support
 *
 *         negative     0.5000    0.6667    0.5714         3
 *         ...
 *         accuracy                         0.6000        10
 *        macro avg     ...
 *     weighted avg     ...
 *
 *     confusion matrix (rows: true, columns: predicted)
 *     ...
 *
 * `names` holds n_classes label names (NULL: "0", "1", ...); `cm` may be
 * NULL to leave the matrix out; digits 1..10 (0 -> 2, as scikit-learn).
 * Returns a malloc'ed string (caller frees) or NULL when out of memory. */
char *socfw_report_classification_text(const socfw_classification *res,
                                        const socfw_confusion *cm,
                                        const char *const *names,
                                        int digits);

/* JSON report: {"<label>": {"precision", "recall", "f1-score",
 * "support"}, ..., "accuracy": x, "macro avg": {...}, "weighted avg":
 * {...}, "labels": [...], "confusion_matrix": [[...], ...]} (the matrix
 * only when cm is not NULL).  New reference (caller decrefs); NULL when
 * out of memory. */
json_t *socfw_report_classification_json(const socfw_classification *res,
                                         const socfw_confusion *cm,
                                         const char *const *names);

/* ---- curves ---- */

typedef struct socfw_chart_series {
        const char *name;       /* legend entry                        */
        const double *x;        /* n values (step or epoch); NULL: 1..n */
        const double *y;        /* n values; non-finite points skipped  */
        size_t n;
} socfw_chart_series;

typedef struct socfw_chart_options {
        const char *title;      /* NULL: none     */
        const char *x_label;    /* NULL: "step"   */
        const char *y_label;    /* NULL: "value"  */
        int width, height;      /* 0: 800 x 480   */
} socfw_chart_options;

#define SOCFW_CHART_OPTIONS_INIT {NULL, NULL, NULL, 0, 0}

/* Render a standalone SVG document (caller frees) or NULL when out of
 * memory.  Names and labels are XML-escaped.  With no finite point the
 * chart is drawn empty with a "no data" note. */
char *socfw_chart_svg(const socfw_chart_series *series, size_t n_series,
                      const socfw_chart_options *opt);

/* socfw_chart_svg written atomically to `path`.  Returns 0 or a negative
 * SOCFW_E* code. */
int socfw_chart_write_svg(const char *path, const socfw_chart_series *series,
                          size_t n_series, const socfw_chart_options *opt,
                          socfw_error *err);

/* "Nice" axis ticks covering [lo, hi]: about `target` ticks at steps of 1,
 * 2 or 5 times a power of ten.  Writes up to max ticks, returns how many. */
size_t socfw_chart_ticks(double lo, double hi, size_t target, double *ticks,
                         size_t max);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_REPORT_H */

/* report.c - classification reports (text, JSON) and SVG curve charts. */
#include "socfw/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/data.h"
#include "socfw/io.h"

/* ---- growable string ---- */

typedef struct sbuf {
        char *s;
        size_t len, cap;
        int oom;
} sbuf;

static void
sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(sbuf *b, const char *fmt, ...)
{
        if (b->oom)
                return;
        for (;;) {
                size_t room = b->cap - b->len;
                va_list ap;
                va_start(ap, fmt);
                int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        b->oom = 1;
                        return;
                }
                if ((size_t)n < room) {
                        b->len += (size_t)n;
                        return;
                }
                size_t ncap = b->cap ? b->cap * 2 : 1024;
                while (ncap < b->len + (size_t)n + 1)
                        ncap *= 2;
                char *ns = realloc(b->s, ncap);
                if (!ns) {
                        b->oom = 1;
                        return;
                }
                b->s = ns;
                b->cap = ncap;
        }
}

static char *
sb_finish(sbuf *b)
{
        if (b->oom || !b->s) {
                free(b->s);
                return NULL;
        }
        return b->s;
}

/* ---- classification report ---- */

static const char *
class_name(const char *const *names, size_t k, char *buf, size_t size)
{
        if (names && names[k])
                return names[k];
        snprintf(buf, size, "%zu", k);
        return buf;
}

char *
socfw_report_classification_text(const socfw_classification *res,
                                  const socfw_confusion *cm,
                                  const char *const *names, int digits)
{
        sbuf b = {0};
        char nb[32];
        if (!res)
                return NULL;
        if (digits <= 0)
                digits = 2;
        if (digits > 10)
                digits = 10;
        int width = (int)strlen("weighted avg");
        for (size_t k = 0; k < res->n_classes; k++) {
                int l = (int)strlen(class_name(names, k, nb, sizeof nb));
                if (l > width)
                        width = l;
        }
        if (digits > width)
                width = digits;
        sb_printf(&b, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision",
                  "recall", "f1-score", "support");
        for (size_t k = 0; k < res->n_classes; k++) {
                const socfw_class_metrics *m = &res->per_class[k];
                sb_printf(&b, "%*s  %9.*f %9.*f %9.*f %9zu\n", width,
                          class_name(names, k, nb, sizeof nb), digits,
                          m->precision, digits, m->recall, digits, m->f1,
                          m->support);
        }
        sb_printf(&b, "\n%*s  %9s %9s %9.*f %9zu\n", width, "accuracy", "",
                  "", digits, res->accuracy, res->total);
        sb_printf(&b, "%*s  %9.*f %9.*f %9.*f %9zu\n", width, "macro avg",
                  digits, res->macro_precision, digits, res->macro_recall,
                  digits, res->macro_f1, res->total);
        sb_printf(&b, "%*s  %9.*f %9.*f %9.*f %9zu\n", width, "weighted avg",
                  digits, res->weighted_precision, digits,
                  res->weighted_recall, digits, res->weighted_f1, res->total);
        if (cm && cm->n_classes == res->n_classes) {
                size_t K = cm->n_classes, maxc = 0;
                for (size_t i = 0; i < K * K; i++)
                        if (cm->counts[i] > maxc)
                                maxc = cm->counts[i];
                int cw = snprintf(NULL, 0, "%zu", maxc);
                for (size_t k = 0; k < K; k++) {
                        int l = (int)strlen(class_name(names, k, nb,
                                                       sizeof nb));
                        if (l > cw)
                                cw = l;
                }
                sb_printf(&b, "\nconfusion matrix (rows: true, columns: "
                          "predicted)\n%*s ", width, "");
                for (size_t p = 0; p < K; p++)
                        sb_printf(&b, " %*s", cw,
                                  class_name(names, p, nb, sizeof nb));
                sb_printf(&b, "\n");
                for (size_t t = 0; t < K; t++) {
                        sb_printf(&b, "%*s ", width,
                                  class_name(names, t, nb, sizeof nb));
                        for (size_t p = 0; p < K; p++)
                                sb_printf(&b, " %*zu", cw,
                                          cm->counts[t * K + p]);
                        sb_printf(&b, "\n");
                }
        }
        return sb_finish(&b);
}

static json_t *
prf_json(double p, double r, double f, size_t support)
{
        return json_pack("{s:f, s:f, s:f, s:I}", "precision", p, "recall", r,
                         "f1-score", f, "support", (json_int_t)support);
}

json_t *
socfw_report_classification_json(const socfw_classification *res,
                                 const socfw_confusion *cm,
                                 const char *const *names)
{
        char nb[32];
        if (!res)
                return NULL;
        json_t *o = json_object();
        json_t *labels = json_array();
        if (!o || !labels)
                goto oom;
        for (size_t k = 0; k < res->n_classes; k++) {
                const socfw_class_metrics *m = &res->per_class[k];
                const char *name = class_name(names, k, nb, sizeof nb);
                if (json_object_set_new(o, name, prf_json(m->precision,
                                                          m->recall, m->f1,
                                                          m->support)) < 0 ||
                    json_array_append_new(labels, json_string(name)) < 0)
                        goto oom;
        }
        if (json_object_set_new(o, "accuracy", json_real(res->accuracy)) < 0 ||
            json_object_set_new(o, "macro avg", prf_json(res->macro_precision,
                                                         res->macro_recall,
                                                         res->macro_f1,
                                                         res->total)) < 0 ||
            json_object_set_new(o, "weighted avg",
                                prf_json(res->weighted_precision,
                                         res->weighted_recall,
                                         res->weighted_f1, res->total)) < 0 ||
            json_object_set(o, "labels", labels) < 0)
                goto oom;
        if (cm && cm->n_classes == res->n_classes) {
                json_t *rows = json_array();
                if (!rows || json_object_set_new(o, "confusion_matrix",
                                                 rows) < 0)
                        goto oom;
                for (size_t t = 0; t < cm->n_classes; t++) {
                        json_t *row = json_array();
                        if (!row || json_array_append_new(rows, row) < 0)
                                goto oom;
                        for (size_t p = 0; p < cm->n_classes; p++)
                                if (json_array_append_new(row, json_integer(
                                        (json_int_t)cm->counts[t *
                                        cm->n_classes + p])) < 0)
                                        goto oom;
                }
        }
        json_decref(labels);
        return o;
oom:
        json_decref(labels);
        json_decref(o);
        return NULL;
}

/* ---- charts ---- */

static double
nice_num(double x, int round_it)
{
        double e = floor(log10(x));
        double f = x / pow(10, e), nf;
        if (round_it)
                nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
        else
                nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
        return nf * pow(10, e);
}

size_t
socfw_chart_ticks(double lo, double hi, size_t target, double *ticks,
                  size_t max)
{
        if (!isfinite(lo) || !isfinite(hi) || max == 0)
                return 0;
        if (hi < lo) {
                double t = lo;
                lo = hi;
                hi = t;
        }
        if (hi == lo) {
                double pad = lo != 0 ? fabs(lo) * 0.1 : 1.0;
                lo -= pad;
                hi += pad;
        }
        if (target < 2)
                target = 2;
        double step = nice_num(nice_num(hi - lo, 0) / (double)(target - 1), 1);
        double start = floor(lo / step) * step;
        double end = ceil(hi / step) * step;
        size_t n = 0;
        for (double i = 0; n < max; i++) {
                double v = start + i * step;
                if (v > end + step * 0.5)
                        break;
                v = round(v / step) * step;     /* no 0.30000000004 */
                ticks[n++] = v == 0 ? 0.0 : v;  /* no -0 */
        }
        return n;
}

/* XML text: escape markup, replace control bytes and invalid UTF-8 */
static void
sb_xml(sbuf *b, const char *s)
{
        if (!s)
                return;
        int valid = socfw_utf8_valid(s, strlen(s), NULL);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                switch (*p) {
                case '&': sb_printf(b, "&amp;"); break;
                case '<': sb_printf(b, "&lt;"); break;
                case '>': sb_printf(b, "&gt;"); break;
                case '"': sb_printf(b, "&quot;"); break;
                case '\'': sb_printf(b, "&apos;"); break;
                default:
                        if (*p < 0x20 || (*p >= 0x80 && !valid))
                                sb_printf(b, "?");
                        else
                                sb_printf(b, "%c", *p);
                }
        }
}

static const char *const palette[] = {
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};

static double
px(double v, double lo, double hi, double a, double b)
{
        return a + (v - lo) / (hi - lo) * (b - a);
}

char *
socfw_chart_svg(const socfw_chart_series *series, size_t n_series,
                const socfw_chart_options *opt)
{
        socfw_chart_options d = SOCFW_CHART_OPTIONS_INIT;
        sbuf b = {0};
        if (!opt)
                opt = &d;
        int W = opt->width > 100 ? opt->width : 800;
        int H = opt->height > 100 ? opt->height : 480;
        double L = 80, R = W - 180.0, T = opt->title ? 50 : 25, B = H - 60.0;
        double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY,
               yhi = -INFINITY;
        for (size_t s = 0; s < n_series; s++)
                for (size_t i = 0; i < series[s].n; i++) {
                        double x = series[s].x ? series[s].x[i]
                                               : (double)(i + 1);
                        double y = series[s].y ? series[s].y[i] : NAN;
                        if (!isfinite(x) || !isfinite(y))
                                continue;
                        xlo = fmin(xlo, x);
                        xhi = fmax(xhi, x);
                        ylo = fmin(ylo, y);
                        yhi = fmax(yhi, y);
                }
        int empty = !isfinite(xlo);
        if (empty) {
                xlo = ylo = 0;
                xhi = yhi = 1;
        }
        double xt[32], yt[32];
        size_t nxt = socfw_chart_ticks(xlo, xhi, 8, xt, 32);
        size_t nyt = socfw_chart_ticks(ylo, yhi, 6, yt, 32);
        if (nxt < 2 || nyt < 2)
                return NULL;
        xlo = xt[0];
        xhi = xt[nxt - 1];
        ylo = yt[0];
        yhi = yt[nyt - 1];

        sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
                  "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                  "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
        sb_printf(&b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                  "fill=\"white\"/>\n", W, H);
        if (opt->title) {
                sb_printf(&b, "<text class=\"title\" x=\"%.1f\" y=\"28\" "
                          "text-anchor=\"middle\" font-size=\"16\" "
                          "font-weight=\"bold\">", (L + R) / 2);
                sb_xml(&b, opt->title);
                sb_printf(&b, "</text>\n");
        }
        /* grid and ticks */
        sb_printf(&b, "<g class=\"grid\" stroke=\"#dddddd\" "
                  "stroke-width=\"1\">\n");
        for (size_t i = 0; i < nxt; i++) {
                double x = px(xt[i], xlo, xhi, L, R);
                sb_printf(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                          "y2=\"%.2f\"/>\n", x, T, x, B);
        }
        for (size_t i = 0; i < nyt; i++) {
                double y = px(yt[i], ylo, yhi, B, T);
                sb_printf(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                          "y2=\"%.2f\"/>\n", L, y, R, y);
        }
        sb_printf(&b, "</g>\n<g class=\"axes\" stroke=\"black\" "
                  "stroke-width=\"1\">\n<line x1=\"%.2f\" y1=\"%.2f\" "
                  "x2=\"%.2f\" y2=\"%.2f\"/>\n<line x1=\"%.2f\" y1=\"%.2f\" "
                  "x2=\"%.2f\" y2=\"%.2f\"/>\n</g>\n", L, B, R, B, L, T, L, B);
        sb_printf(&b, "<g class=\"ticks\" fill=\"black\">\n");
        for (size_t i = 0; i < nxt; i++)
                sb_printf(&b, "<text x=\"%.2f\" y=\"%.2f\" "
                          "text-anchor=\"middle\">%g</text>\n",
                          px(xt[i], xlo, xhi, L, R), B + 18, xt[i]);
        for (size_t i = 0; i < nyt; i++)
                sb_printf(&b, "<text x=\"%.2f\" y=\"%.2f\" "
                          "text-anchor=\"end\">%g</text>\n", L - 6,
                          px(yt[i], ylo, yhi, B, T) + 4, yt[i]);
        sb_printf(&b, "</g>\n");
        sb_printf(&b, "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\" "
                  "text-anchor=\"middle\">", (L + R) / 2, B + 42);
        sb_xml(&b, opt->x_label ? opt->x_label : "step");
        sb_printf(&b, "</text>\n<text class=\"ylabel\" x=\"20\" y=\"%.1f\" "
                  "text-anchor=\"middle\" transform=\"rotate(-90 20 %.1f)\">",
                  (T + B) / 2, (T + B) / 2);
        sb_xml(&b, opt->y_label ? opt->y_label : "value");
        sb_printf(&b, "</text>\n");
        if (empty)
                sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"middle\" fill=\"#888888\">no data"
                          "</text>\n", (L + R) / 2, (T + B) / 2);
        /* series */
        for (size_t s = 0; s < n_series; s++) {
                const char *color = palette[s % (sizeof palette /
                                                 sizeof palette[0])];
                size_t shown = 0;
                sb_printf(&b, "<g class=\"series\">\n<polyline fill=\"none\" "
                          "stroke=\"%s\" stroke-width=\"2\" points=\"", color);
                for (size_t i = 0; i < series[s].n; i++) {
                        double x = series[s].x ? series[s].x[i]
                                               : (double)(i + 1);
                        double y = series[s].y ? series[s].y[i] : NAN;
                        if (!isfinite(x) || !isfinite(y))
                                continue;
                        sb_printf(&b, "%s%.2f,%.2f", shown ? " " : "",
                                  px(x, xlo, xhi, L, R),
                                  px(y, ylo, yhi, B, T));
                        shown++;
                }
                sb_printf(&b, "\"/>\n");
                if (shown <= 60)        /* mark points of short series */
                        for (size_t i = 0; i < series[s].n; i++) {
                                double x = series[s].x ? series[s].x[i]
                                                       : (double)(i + 1);
                                double y = series[s].y ? series[s].y[i] : NAN;
                                if (!isfinite(x) || !isfinite(y))
                                        continue;
                                sb_printf(&b, "<circle cx=\"%.2f\" "
                                          "cy=\"%.2f\" r=\"3\" fill=\"%s\"/>"
                                          "\n", px(x, xlo, xhi, L, R),
                                          px(y, ylo, yhi, B, T), color);
                        }
                sb_printf(&b, "</g>\n");
        }
        /* legend */
        sb_printf(&b, "<g class=\"legend\">\n");
        for (size_t s = 0; s < n_series; s++) {
                const char *color = palette[s % (sizeof palette /
                                                 sizeof palette[0])];
                double y = T + 10 + 20.0 * (double)s;
                sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" "
                          "height=\"4\" fill=\"%s\"/>\n<text x=\"%.1f\" "
                          "y=\"%.1f\">", R + 16, y - 2, color, R + 36, y + 4);
                sb_xml(&b, series[s].name ? series[s].name : "");
                sb_printf(&b, "</text>\n");
        }
        sb_printf(&b, "</g>\n</svg>\n");
        return sb_finish(&b);
}

int
socfw_chart_write_svg(const char *path, const socfw_chart_series *series,
                      size_t n_series, const socfw_chart_options *opt,
                      socfw_error *err)
{
        char *svg = socfw_chart_svg(series, n_series, opt);
        if (!svg)
                return socfw_error_set_at(err, SOCFW_ENOMEM, path, 0, 0,
                                          "cannot render chart: out of "
                                          "memory");
        int rc = socfw_file_write_atomic(path, svg, strlen(svg), err);
        free(svg);
        return rc;
}

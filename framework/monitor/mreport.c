/* mreport.c - the monitor's HTML report: per key, volume bars and
 * sentiment-share lines over the closed windows with the alerts marked
 * (inline SVG, axis ticks from socfw_chart_ticks), then the alert table.
 * Everything is read from the state database, so a report can be written
 * for a stream that ran over several processes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor_impl.h"
#include "socfw/io.h"
#include "socfw/report.h"

static void
esc(FILE *f, const char *s)
{
        for (; s && *s; s++)
                switch (*s) {
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '&': fputs("&amp;", f); break;
                case '"': fputs("&quot;", f); break;
                default: fputc(*s, f);
                }
}

typedef struct series {
        double *t0, *t1;
        double *n, *neg, *neu, *pos;
        size_t len, cap;
} series;

static void
series_free(series *s)
{
        free(s->t0);
        free(s->t1);
        free(s->n);
        free(s->neg);
        free(s->neu);
        free(s->pos);
}

static int
series_push(series *s, sqlite3_stmt *st)
{
        if (s->len == s->cap) {
                size_t nc = s->cap ? s->cap * 2 : 256;
                double **arr[] = {&s->t0, &s->t1, &s->n,
                                  &s->neg, &s->neu, &s->pos};
                for (size_t i = 0; i < 6; i++) {
                        double *p = realloc(*arr[i], nc * sizeof *p);
                        if (!p)
                                return -1;
                        *arr[i] = p;
                }
                s->cap = nc;
        }
        s->t0[s->len] = sqlite3_column_double(st, 0);
        s->t1[s->len] = sqlite3_column_double(st, 1);
        s->n[s->len] = sqlite3_column_double(st, 2);
        s->neg[s->len] = sqlite3_column_double(st, 3);
        s->neu[s->len] = sqlite3_column_double(st, 4);
        s->pos[s->len] = sqlite3_column_double(st, 5);
        s->len++;
        return 0;
}

#define W 920.0
#define L 60.0
#define R 900.0

static double
xpx(double t, double lo, double hi)
{
        return hi > lo ? L + (t - lo) / (hi - lo) * (R - L) : L;
}

static void
polyline(FILE *f, const series *s, const double *num, double lo, double hi,
         double top, double bottom, const char *color)
{
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\""
                   " points=\"", color);
        for (size_t i = 0; i < s->len; i++) {
                if (s->n[i] <= 0)
                        continue;
                double share = num[i] / s->n[i];
                fprintf(f, "%.1f,%.1f ",
                        xpx(0.5 * (s->t0[i] + s->t1[i]), lo, hi),
                        bottom - share * (bottom - top));
        }
        fputs("\"/>\n", f);
}

static int
key_chart(socfw_monitor *m, FILE *f, const char *key)
{
        sqlite3_stmt *st = NULL;
        series s = {0};
        int rc = 0;
        if (sqlite3_prepare_v2(m->db,
                               "SELECT start, end, n, neg, neu, pos FROM "
                               "windows WHERE key = ?1 ORDER BY start",
                               -1, &st, NULL) != SQLITE_OK)
                return -1;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
                if (series_push(&s, st) < 0) {
                        rc = -1;
                        goto out;
                }
        sqlite3_finalize(st);
        st = NULL;
        if (s.len == 0) {
                fputs("<p>no closed window yet</p>\n", f);
                goto out;
        }
        double lo = s.t0[0], hi = s.t1[s.len - 1], vmax = 1;
        for (size_t i = 0; i < s.len; i++)
                vmax = fmax(vmax, s.n[i]);
        /* panels: volume 20..120, shares 150..250, time axis below */
        fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
                   "height=\"290\" viewBox=\"0 0 %.0f 290\" "
                   "font-family=\"sans-serif\" font-size=\"11\">\n",
                W, W);
        fprintf(f, "<text x=\"%.0f\" y=\"14\">volume (max %.0f)</text>\n", L,
                vmax);
        fprintf(f, "<text x=\"%.0f\" y=\"144\">shares: <tspan "
                   "fill=\"#c0392b\">negative</tspan> <tspan "
                   "fill=\"#7f8c8d\">neutral</tspan> <tspan "
                   "fill=\"#27ae60\">positive</tspan></text>\n",
                L);
        fprintf(f, "<rect x=\"%.0f\" y=\"20\" width=\"%.0f\" height=\"100\" "
                   "fill=\"none\" stroke=\"#ccc\"/>\n<rect x=\"%.0f\" "
                   "y=\"150\" width=\"%.0f\" height=\"100\" fill=\"none\" "
                   "stroke=\"#ccc\"/>\n",
                L, R - L, L, R - L);
        /* alerts behind the data */
        if (sqlite3_prepare_v2(m->db,
                               "SELECT start, end, metric, json FROM alerts "
                               "WHERE key = ?1 ORDER BY seq",
                               -1, &st, NULL) != SQLITE_OK) {
                rc = -1;
                goto out;
        }
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
                double a0 = xpx(sqlite3_column_double(st, 0), lo, hi);
                double a1 = xpx(sqlite3_column_double(st, 1), lo, hi);
                fprintf(f, "<g class=\"alert\"><title>");
                esc(f, (const char *)sqlite3_column_text(st, 3));
                fprintf(f, "</title><rect x=\"%.1f\" y=\"20\" "
                           "width=\"%.1f\" height=\"230\" fill=\"#e74c3c\" "
                           "fill-opacity=\"0.25\"/><path d=\"M%.1f 252 l-5 "
                           "9 h10 z\" fill=\"#e74c3c\"/></g>\n",
                        a0, fmax(a1 - a0, 1.5), 0.5 * (a0 + a1));
        }
        sqlite3_finalize(st);
        st = NULL;
        /* volume bars */
        for (size_t i = 0; i < s.len; i++) {
                double x0 = xpx(s.t0[i], lo, hi), x1 = xpx(s.t1[i], lo, hi);
                double h = s.n[i] / vmax * 100;
                if (h > 0)
                        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" "
                                   "width=\"%.2f\" height=\"%.1f\" "
                                   "fill=\"#3498db\"/>\n",
                                x0, 120 - h, fmax(x1 - x0 - 0.3, 0.3), h);
        }
        polyline(f, &s, s.neg, lo, hi, 150, 250, "#c0392b");
        polyline(f, &s, s.neu, lo, hi, 150, 250, "#7f8c8d");
        polyline(f, &s, s.pos, lo, hi, 150, 250, "#27ae60");
        double ticks[16];
        size_t nt = socfw_chart_ticks(lo, hi, 6, ticks, 16);
        for (size_t i = 0; i < nt; i++) {
                char buf[32];
                if (ticks[i] < lo || ticks[i] > hi)
                        continue;
                socfw_monitor_format_time(ticks[i], buf, sizeof buf);
                buf[16] = '\0'; /* YYYY-MM-DDTHH:MM */
                double x = xpx(ticks[i], lo, hi);
                fprintf(f, "<line x1=\"%.1f\" y1=\"250\" x2=\"%.1f\" "
                           "y2=\"264\" stroke=\"#999\"/><text x=\"%.1f\" "
                           "y=\"280\" text-anchor=\"middle\">%s</text>\n",
                        x, x, x, buf);
        }
        fputs("</svg>\n", f);
out:
        sqlite3_finalize(st);
        series_free(&s);
        return rc;
}

static int
alert_table(socfw_monitor *m, FILE *f)
{
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(m->db,
                               "SELECT json FROM alerts ORDER BY start, key",
                               -1, &st, NULL) != SQLITE_OK)
                return -1;
        fputs("<table>\n<tr><th>window start</th><th>window end</th>"
              "<th>key</th><th>metric</th><th>detector</th><th>value</th>"
              "<th>baseline</th><th>score</th><th>volume</th>"
              "<th>sample posts</th></tr>\n",
              f);
        while (sqlite3_step(st) == SQLITE_ROW) {
                json_t *a = json_loads(
                        (const char *)sqlite3_column_text(st, 0), 0, NULL);
                if (!a)
                        continue;
                const char *cols[] = {"window_start", "window_end", "key",
                                      "metric", "detector"};
                fputs("<tr>", f);
                for (size_t i = 0; i < 5; i++) {
                        fputs("<td>", f);
                        esc(f, json_string_value(json_object_get(a, cols[i])));
                        fputs("</td>", f);
                }
                fprintf(f, "<td>%.3f</td><td>%.3f</td><td>%.2f</td>"
                           "<td>%lld</td><td>",
                        json_number_value(json_object_get(a, "value")),
                        json_number_value(json_object_get(a, "baseline")),
                        json_number_value(json_object_get(a, "score")),
                        (long long)json_integer_value(
                                json_object_get(a, "volume")));
                size_t i;
                json_t *it;
                json_array_foreach(json_object_get(a, "post_ids"), i, it)
                {
                        if (i)
                                fputs(", ", f);
                        esc(f, json_string_value(it));
                }
                fputs("</td></tr>\n", f);
                json_decref(a);
        }
        sqlite3_finalize(st);
        fputs("</table>\n", f);
        return 0;
}

int
socfw_monitor_write_report(socfw_monitor *m, const char *path,
                           socfw_error *err)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        sqlite3_stmt *st = NULL;
        int rc = 0;
        if (!f)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        socfw_monitor_stats s = m->st;
        fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
              "<title>socfw monitor report</title><style>body{font-family:"
              "sans-serif;margin:2em}table{border-collapse:collapse}td,th{"
              "border:1px solid #ccc;padding:2px 6px;font-size:12px}"
              "</style></head><body>\n<h1>socfw monitor report</h1>\n",
              f);
        fprintf(f, "<p>%lld posts read, %lld counted, %lld late and "
                   "dropped, %lld without timestamp (%lld skipped), %lld "
                   "without key, %lld without sentiment; %lld windows "
                   "closed; %lld alerts (%lld more detector hits inside a "
                   "cooldown); %lld deliveries pending.</p>\n",
                (long long)s.posts, (long long)s.counted,
                (long long)s.late_dropped, (long long)s.no_timestamp,
                (long long)s.skipped_time, (long long)s.no_key,
                (long long)s.no_sentiment, (long long)s.windows_closed,
                (long long)s.alerts, (long long)s.suppressed,
                (long long)s.deliveries_pending);
        /* keys with alerts first, then the busiest */
        if (sqlite3_prepare_v2(
                    m->db,
                    "SELECT w.key, sum(w.n) AS vol, (SELECT count(*) FROM "
                    "alerts a WHERE a.key = w.key) AS na FROM windows w "
                    "GROUP BY w.key ORDER BY na DESC, vol DESC LIMIT ?1",
                    -1, &st, NULL) != SQLITE_OK) {
                rc = mon_state_db_fail(m, sqlite3_errcode(m->db),
                                       "reading windows", err);
                goto out;
        }
        sqlite3_bind_int64(st, 1, (sqlite3_int64)m->cfg.report_keys);
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *key = (const char *)sqlite3_column_text(st, 0);
                fputs("<h2>", f);
                esc(f, key);
                fprintf(f, "</h2>\n<p>%lld posts, %lld alerts</p>\n",
                        (long long)sqlite3_column_int64(st, 1),
                        (long long)sqlite3_column_int64(st, 2));
                if (key_chart(m, f, key ? key : "") < 0) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
        }
        fputs("<h2>alerts</h2>\n", f);
        if (alert_table(m, f) < 0) {
                rc = mon_state_db_fail(m, sqlite3_errcode(m->db),
                                       "reading alerts", err);
                goto out;
        }
        fputs("</body></html>\n", f);
out:
        sqlite3_finalize(st);
        if (fclose(f) != 0 && rc == 0)
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (rc == 0)
                rc = socfw_file_write_atomic(path, buf, len, err);
        free(buf);
        return rc;
}

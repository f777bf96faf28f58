/* bench_monitor.c - the monitor stage alone on a synthetic stream with
 * injected negative bursts (tests/monitor-stream.py writes both files):
 * throughput, and how well the alerts find the episodes.
 *
 *     python3 tests/monitor-stream.py --posts 100000 --out s.jsonl \
 *             --truth t.json
 *     bench/bench_monitor s.jsonl t.json [--state STATE.sqlite]
 *             [--set monitor.detect.z_threshold=3.5]...
 *
 * The monitor runs with the schema's defaults (`socfw help pipeline`,
 * monitor section: keys from cashtags, windows of 1 h, lateness 5 min)
 * plus sentiment.field: label (the record's label stands in for the
 * sentiment stage) and the --set overrides.  The state is in memory unless
 * --state names a file.
 *
 * Posts are read into memory first, then timed from the JSON line to the
 * monitor (parse, cashtag extraction, windows, detectors, state commits).
 * An alert matches an episode when it is for the episode's key and its
 * window overlaps [start, end + 1 h); every other alert is false.  Delay:
 * from the episode's start to the end of the first matching alert's window
 * (seconds of post time), and from the episode's first post to the post
 * whose arrival closed that window (posts of the stream).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "socfw/monitor.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"

typedef struct alert {
        char key[64];
        double start, end;
        size_t fired_at;        /* index of the post that closed it */
} alert;

static alert *alerts;
static size_t n_alerts, cap_alerts;
static size_t current;          /* index of the post being fed */

static double
parse_iso(const char *s)
{
        json_t *v = json_string(s);
        double t = NAN;
        socfw_monitor_parse_time(v, &t);
        json_decref(v);
        return t;
}

static void
on_alert(const char *js, void *user)
{
        (void)user;
        json_t *a = json_loads(js, 0, NULL);
        if (!a)
                return;
        if (n_alerts == cap_alerts) {
                cap_alerts = cap_alerts ? 2 * cap_alerts : 64;
                alerts = realloc(alerts, cap_alerts * sizeof *alerts);
                if (!alerts)
                        exit(1);
        }
        alert *x = &alerts[n_alerts++];
        snprintf(x->key, sizeof x->key, "%s",
                 json_string_value(json_object_get(a, "key")));
        x->start = parse_iso(json_string_value(json_object_get(a,
                                                               "window_start")));
        x->end = parse_iso(json_string_value(json_object_get(a,
                                                             "window_end")));
        x->fired_at = current;
        json_decref(a);
}

static double
clock_of(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double
now(void)
{
        return clock_of(CLOCK_MONOTONIC);
}

static int
cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
        const char *files[2] = {NULL, NULL}, *state = NULL;
        const char *sets[64];
        size_t n_sets = 0, n_files = 0;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--state") && i + 1 < argc)
                        state = argv[++i];
                else if (!strcmp(argv[i], "--set") && i + 1 < argc &&
                         n_sets < 64)
                        sets[n_sets++] = argv[++i];
                else if (argv[i][0] != '-' && n_files < 2)
                        files[n_files++] = argv[i];
                else
                        n_files = 3;
        }
        if (n_files != 2) {
                fprintf(stderr, "usage: %s STREAM.jsonl TRUTH.json [--state "
                                "STATE.sqlite] [--set monitor.KEY=VALUE]...\n",
                        argv[0]);
                return 2;
        }
        static const char yaml[] = "socfw: 1\nmonitor: {sentiment: {field: "
                                   "label}}\n";
        socfw_pipeline *pl = NULL;
        socfw_registry *reg = socfw_registry_new();
        socfw_error perr = {0};
        if (!reg ||
            socfw_pipeline_load_buffer(&pl, yaml, sizeof yaml - 1,
                                       "bench.yaml", NULL, sets, n_sets,
                                       &perr) < 0 ||
            socfw_pipeline_validate(pl, reg, &perr) < 0) {
                fprintf(stderr, "%s\n", perr.message);
                return 1;
        }
        FILE *f = fopen(files[0], "rb");
        if (!f) {
                perror(files[0]);
                return 1;
        }
        char **lines = NULL;
        size_t n = 0, cap = 0, lcap = 0;
        char *line = NULL;
        ssize_t len;
        while ((len = getline(&line, &lcap, f)) > 0) {
                if (n == cap) {
                        cap = cap ? 2 * cap : 1024;
                        lines = realloc(lines, cap * sizeof *lines);
                        if (!lines)
                                return 1;
                }
                lines[n++] = strdup(line);
        }
        free(line);
        fclose(f);
        json_error_t je;
        json_t *truth = json_load_file(files[1], 0, &je);
        if (!truth) {
                fprintf(stderr, "%s: %s\n", files[1], je.text);
                return 1;
        }
        /* sentiment from the record's label: the monitor alone */
        socfw_monitor_options o = {.state_path = state, .on_alert = on_alert};
        socfw_monitor *m;
        socfw_error err = {0};
        if (socfw_monitor_open(&m, socfw_pipeline_section(pl, "monitor"), &o,
                               &err) < 0) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
        }
        double t0 = now(), c0 = clock_of(CLOCK_PROCESS_CPUTIME_ID);
        for (size_t i = 0; i < n; i++) {
                current = i;
                json_t *rec = json_loads(lines[i], 0, &je);
                if (!rec)
                        continue;
                if (socfw_monitor_feed(m, rec, files[0], (long)i + 1, 0,
                                       &err) < 0) {
                        fprintf(stderr, "line %zu: %s\n", i + 1, err.message);
                        return 1;
                }
                json_decref(rec);
        }
        current = n;
        if (socfw_monitor_finish(m, &err) < 0) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
        }
        double secs = now() - t0;
        double cpu = clock_of(CLOCK_PROCESS_CPUTIME_ID) - c0;
        socfw_monitor_stats st;
        socfw_monitor_get_stats(m, &st);
        socfw_monitor_close(m);

        /* score */
        json_t *eps = json_object_get(truth, "episodes");
        size_t ne = json_array_size(eps), found = 0, n_false = 0;
        double *delay_s = calloc(ne + 1, sizeof *delay_s);
        double *delay_p = calloc(ne + 1, sizeof *delay_p);
        for (size_t a = 0; a < n_alerts; a++) {
                int hit = 0;
                for (size_t e = 0; e < ne; e++) {
                        json_t *ep = json_array_get(eps, e);
                        double s = json_number_value(json_object_get(ep,
                                                                     "start"));
                        double t = json_number_value(json_object_get(ep,
                                                                     "end"));
                        if (strcmp(alerts[a].key,
                                   json_string_value(json_object_get(
                                           ep, "key"))) == 0 &&
                            alerts[a].end > s && alerts[a].start < t + 3600)
                                hit = 1;
                }
                n_false += !hit;
        }
        for (size_t e = 0; e < ne; e++) {
                json_t *ep = json_array_get(eps, e);
                const char *key = json_string_value(json_object_get(ep,
                                                                    "key"));
                double s = json_number_value(json_object_get(ep, "start"));
                double t = json_number_value(json_object_get(ep, "end"));
                double best = INFINITY;
                size_t fired = 0;
                for (size_t a = 0; a < n_alerts; a++)
                        if (strcmp(alerts[a].key, key) == 0 &&
                            alerts[a].end > s && alerts[a].start < t + 3600 &&
                            alerts[a].end < best) {
                                best = alerts[a].end;
                                fired = alerts[a].fired_at;
                        }
                if (!isfinite(best))
                        continue;
                /* posts of the stream from the episode's first post to the
                 * one whose arrival closed the alerting window */
                double first = json_number_value(json_object_get(ep,
                                                                 "first_post"));
                double posts = (double)fired - first;
                delay_s[found] = best - s;
                delay_p[found] = posts;
                found++;
        }
        qsort(delay_s, found, sizeof *delay_s, cmp_double);
        qsort(delay_p, found, sizeof *delay_p, cmp_double);
        double med_s = found ? (found % 2 ? delay_s[found / 2]
                                          : 0.5 * (delay_s[found / 2 - 1] +
                                                   delay_s[found / 2]))
                             : NAN;
        double med_p = found ? (found % 2 ? delay_p[found / 2]
                                          : 0.5 * (delay_p[found / 2 - 1] +
                                                   delay_p[found / 2]))
                             : NAN;
        printf("posts %zu  keys %zu  episodes %zu  state %s\n", n,
               json_array_size(json_object_get(truth, "keys")), ne,
               state ? state : "memory");
        printf("monitor stage: %.3f s wall, %.0f posts/s; %.3f s CPU, %.0f "
               "posts per CPU second (late %lld, windows closed %lld)\n",
               secs, (double)n / secs, cpu, (double)n / cpu,
               (long long)st.late_dropped, (long long)st.windows_closed);
        printf("alerts %zu  recall %.3f (%zu/%zu)  false %zu = %.2f per "
               "10,000 posts\n",
               n_alerts, ne ? (double)found / (double)ne : 0, found, ne,
               n_false, (double)n_false * 1e4 / (double)n);
        printf("median detection delay: %.0f s of post time (%.2f windows "
               "of 1 h); %.0f posts of the stream\n",
               med_s, med_s / 3600, med_p);
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
        free(delay_s);
        free(delay_p);
        free(alerts);
        json_decref(truth);
        socfw_pipeline_free(pl);
        socfw_registry_free(reg);
        return 0;
}

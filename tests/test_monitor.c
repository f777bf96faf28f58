/* test_monitor.c - the monitor stage: timestamps, keys, windows (tumbling,
 * sliding, lateness), detectors against hand-computed EWMA/CUSUM values,
 * alerts with de-duplication and cooldown, state recovery after a crash,
 * deliveries kept until a sink accepts them, bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor_impl.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "testutil.h"

/* ---- helpers ---- */

static socfw_registry *reg;
static socfw_pipeline *pipe_;
static char dir[4096];

static void
setup(void)
{
        reg = socfw_test_registry();
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
}

static void
teardown(void)
{
        socfw_pipeline_free(pipe_);
        pipe_ = NULL;
        socfw_registry_free(reg);
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        int st;
        free(socfw_test_run(cmd, &st));
}

/* A monitor over `monitor_yaml` (the body of a `monitor:` section, indented
 * two spaces), state in `state` (NULL: memory). */
static socfw_monitor *
open_mon(const char *monitor_yaml, const char *state)
{
        char yaml[8192];
        snprintf(yaml, sizeof yaml, "socfw: 1\nmonitor:\n%s", monitor_yaml);
        socfw_pipeline_free(pipe_);
        pipe_ = socfw_test_pipeline(reg, yaml, dir);
        socfw_monitor *m = NULL;
        socfw_error err = {0};
        socfw_monitor_options o = {.state_path = state};
        cr_assert_eq(socfw_monitor_open(&m, socfw_pipeline_section(pipe_,
                                                                   "monitor"),
                                        &o, &err),
                     0, "%s", err.message);
        return m;
}

static int
feed(socfw_monitor *m, const char *json, long line)
{
        json_error_t je;
        json_t *rec = json_loads(json, 0, &je);
        cr_assert_not_null(rec, "%s: %s", json, je.text);
        socfw_error err = {0};
        int rc = socfw_monitor_feed(m, rec, "in.jsonl", line, line * 100,
                                    &err);
        json_decref(rec);
        return rc;
}

static void
feed_ok(socfw_monitor *m, const char *json, long line)
{
        cr_assert_eq(feed(m, json, line), 0, "%s", json);
}

/* Post at time t for key k with label l. */
static void
post(socfw_monitor *m, long id, double t, const char *k, const char *l)
{
        char js[256];
        snprintf(js, sizeof js,
                 "{\"id\": \"p%ld\", \"timestamp\": %.3f, \"text\": \"x\", "
                 "\"key\": \"%s\", \"label\": \"%s\"}",
                 id, t, k, l);
        feed_ok(m, js, id);
}

/* The closed window of key starting at `start`: volume and negatives;
 * returns 0 when there is none. */
static int
window_of(socfw_monitor *m, const char *key, double start, int *n, int *neg)
{
        sqlite3_stmt *st;
        cr_assert_eq(sqlite3_prepare_v2(m->db,
                                        "SELECT n, neg FROM windows WHERE "
                                        "key = ?1 AND start = ?2",
                                        -1, &st, NULL),
                     SQLITE_OK);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, start);
        int found = sqlite3_step(st) == SQLITE_ROW;
        if (found) {
                *n = sqlite3_column_int(st, 0);
                *neg = sqlite3_column_int(st, 1);
        }
        sqlite3_finalize(st);
        return found;
}

static int
count_rows(socfw_monitor *m, const char *sql)
{
        sqlite3_stmt *st;
        cr_assert_eq(sqlite3_prepare_v2(m->db, sql, -1, &st, NULL),
                     SQLITE_OK, "%s", sql);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        int n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return n;
}

static int
count_lines(const char *path)
{
        char *s = socfw_test_read_file(path, NULL);
        int n = 0;
        for (char *p = s; p && *p; p++)
                n += *p == '\n';
        free(s);
        return n;
}

#define FIELD_KEYS                                                       \
        "  sentiment: {field: label}\n"                                  \
        "  keys: {from: [field], field: key}\n"

TestSuite(monitor, .init = setup, .fini = teardown, .timeout = 60);

/* ---- timestamps ---- */

Test(monitor, parse_time)
{
        static const struct {
                const char *json;
                double want; /* NAN: invalid */
        } cases[] = {
                {"1704067200", 1704067200},
                {"1704067200.5", 1704067200.5},
                {"\"1704067200\"", 1704067200},
                {"\"2024-01-01T00:00:00Z\"", 1704067200},
                {"\"2024-01-01 00:00:00\"", 1704067200},
                {"\"2024-01-01T01:30:00+01:30\"", 1704067200},
                {"\"2024-01-01T00:00:00.250Z\"", 1704067200.25},
                {"\"2023-12-31T19:00:00-05:00\"", 1704067200},
                {"\"2024-01-01\"", 1704067200},
                {"\"2024-02-30T00:00:00Z\"", NAN},
                {"\"2024-13-01\"", NAN},
                {"\"yesterday\"", NAN},
                {"\"2024-01-01T25:00:00Z\"", NAN},
                {"\"2024-01-01T00:00:00Zjunk\"", NAN},
                {"-5", NAN},
                {"1e300", NAN},
                {"null", NAN},
                {"[1]", NAN},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
                cr_assert_not_null(v, "%s", cases[i].json);
                double t = 0;
                int rc = socfw_monitor_parse_time(v, &t);
                if (isnan(cases[i].want))
                        cr_expect_lt(rc, 0, "%s parsed as %f", cases[i].json,
                                     t);
                else
                        cr_expect(rc == 0 && fabs(t - cases[i].want) < 1e-6,
                                  "%s: rc %d t %f", cases[i].json, rc, t);
                json_decref(v);
        }
        char buf[32];
        cr_expect_str_eq(socfw_monitor_format_time(1704067200.9, buf,
                                                   sizeof buf),
                         "2024-01-01T00:00:00Z");
}

/* ---- keys ---- */

Test(monitor, keys_from_text_field_and_nlu)
{
        socfw_monitor *m = open_mon(
                "  keys: {from: [cashtags, hashtags, nlu, field], field: "
                "topic, nlu_types: [TICKER, ORG], max_per_post: 8}\n",
                NULL);
        json_t *rec = json_loads(
                "{\"text\": \"$aapl and $BRK.B up, $100 no, a$b no, "
                "#Earnings #earnings $AAPL\", \"topic\": [\"cars\", 3], "
                "\"nlu\": {\"slots\": [{\"type\": \"TICKER\", \"text\": "
                "\"$msft\"}, {\"type\": \"ORG\", \"text\": \" Apple Inc. \"},"
                " {\"type\": \"DATE\", \"text\": \"today\"}]}}",
                0, NULL);
        cr_assert_not_null(rec);
        char keys[MON_KEYS_PER_POST][MON_KEY_MAX];
        size_t n = mon_extract_keys(m, rec, keys, MON_KEYS_PER_POST);
        const char *want[] = {"cars", "MSFT", "Apple Inc.", "AAPL", "BRK.B",
                              "#earnings"};
        cr_assert_eq(n, 6, "got %zu keys", n);
        for (size_t i = 0; i < n; i++)
                cr_expect_str_eq(keys[i], want[i]);
        json_decref(rec);
        /* bytes that are not UTF-8 (a caller's unchecked string): no key
         * is read from such a text, and nothing breaks */
        rec = json_object();
        json_object_set_new(rec, "text",
                            json_stringn_nocheck("$AB \xff\xfe #x\xc3", 10));
        cr_expect_eq(mon_extract_keys(m, rec, keys, MON_KEYS_PER_POST), 0);
        json_decref(rec);
        /* the nlu stage's normalised value wins over the text: a
         * company named by name keys as its ticker, with $-tickers */
        rec = json_loads("{\"text\": \"Apple and $AAPL\", \"nlu\": "
                         "{\"slots\": [{\"type\": \"TICKER\", \"text\": "
                         "\"Apple\", \"value\": \"AAPL\"}]}}", 0, NULL);
        cr_assert_not_null(rec);
        n = mon_extract_keys(m, rec, keys, MON_KEYS_PER_POST);
        cr_assert_eq(n, 1, "got %zu keys", n);
        cr_expect_str_eq(keys[0], "AAPL");
        json_decref(rec);
        socfw_monitor_close(m);
        /* at most max_per_post */
        m = open_mon("  keys: {from: [cashtags], max_per_post: 2}\n", NULL);
        rec = json_loads("{\"text\": \"$A $B $C\"}", 0, NULL);
        cr_expect_eq(mon_extract_keys(m, rec, keys, MON_KEYS_PER_POST), 2);
        json_decref(rec);
        socfw_monitor_close(m);
}

Test(monitor, sentiment_labels)
{
        socfw_monitor *m = open_mon(
                "  sentiment: {task: senti, negative: [neg, \"0\"], "
                "positive: [pos]}\n",
                NULL);
        static const struct {
                const char *json;
                int want;
        } cases[] = {
                {"{\"senti\": {\"label\": \"neg\"}}", MON_NEG},
                {"{\"senti\": {\"label\": 0}}", MON_NEG},
                {"{\"senti\": {\"label\": \"pos\"}}", MON_POS},
                {"{\"senti\": {\"label\": \"meh\"}}", MON_NEU},
                {"{\"senti\": {\"label\": [\"pos\", \"neg\"]}}", MON_POS},
                {"{\"label\": \"neg\"}", -1},
                {"{\"senti\": {}}", -1},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                json_t *rec = json_loads(cases[i].json, 0, NULL);
                cr_expect_eq(mon_sentiment(m, rec), cases[i].want, "%s",
                             cases[i].json);
                json_decref(rec);
        }
        socfw_monitor_close(m);
}

/* ---- detectors, against values computed by hand ---- */

Test(monitor, ewma_and_cusum_by_hand)
{
        mon_config c;
        mon_config_defaults(&c);
        c.alpha = 0.5;
        c.warmup = 2;
        c.z_threshold = 2;
        c.cusum_k = 0.5;
        c.cusum_h = 1.5;
        c.min_sd_share = 0.01;
        mon_detector d = {0};
        mon_hit h[2];
        double big = 1e12; /* volume: no binomial floor */
        /* warm-up: mean 0.2 -> 0.3, var 0.5 * (0 + 0.2 * 0.1) = 0.01 */
        cr_assert_eq(mon_detect(&c, MET_NEG_SHARE, &d, 0.2, big, h), 0);
        cr_assert_eq(mon_detect(&c, MET_NEG_SHARE, &d, 0.4, big, h), 0);
        cr_expect_float_eq(d.mean, 0.3, 1e-12);
        cr_expect_float_eq(d.var, 0.01, 1e-12);
        /* x = mean: z 0, CUSUM max(0, 0 - 0.5) = 0; var halves */
        cr_assert_eq(mon_detect(&c, MET_NEG_SHARE, &d, 0.3, big, h), 0);
        cr_expect_float_eq(d.cusum, 0, 1e-12);
        cr_expect_float_eq(d.var, 0.005, 1e-12);
        /* x = 0.9: z = 0.6 / sqrt(0.005) = 8.485281; CUSUM 7.985281 fires
         * and restarts; the update is clipped at mean + 3 sd = 0.512132:
         * mean 0.406066, var 0.5 * (0.005 + 0.212132 * 0.106066) =
         * 0.01375 */
        size_t n = mon_detect(&c, MET_NEG_SHARE, &d, 0.9, big, h);
        cr_assert_eq(n, 2);
        cr_expect_eq(h[0].detector, DET_EWMA);
        cr_expect_float_eq(h[0].score, 8.485281, 1e-6);
        cr_expect_float_eq(h[0].baseline, 0.3, 1e-12);
        cr_expect_float_eq(h[0].value, 0.9, 1e-12);
        cr_expect_eq(h[1].detector, DET_CUSUM);
        cr_expect_float_eq(h[1].score, 7.985281, 1e-6);
        cr_expect_float_eq(d.cusum, 0, 1e-12);
        cr_expect_float_eq(d.mean, 0.406066, 1e-6);
        cr_expect_float_eq(d.var, 0.01375, 1e-9);
        /* z = 1 exactly: no EWMA hit, CUSUM accumulates 0.5 */
        double x = d.mean + sqrt(d.var);
        cr_assert_eq(mon_detect(&c, MET_NEG_SHARE, &d, x, big, h), 0);
        cr_expect_float_eq(d.cusum, 0.5, 1e-9);
        /* twice more: 1.0, then 1.5 >= h fires (z = 1 each time against
         * the moving baseline is not exact, so give z directly) */
        x = d.mean + sqrt(d.var);
        cr_assert_eq(mon_detect(&c, MET_NEG_SHARE, &d, x, big, h), 0);
        cr_expect_float_eq(d.cusum, 1.0, 1e-9);
        x = d.mean + sqrt(d.var);
        c.cusum_h = 1.49; /* 0.5 + 0.5 + 0.5 in floating point */
        cr_assert_eq(mon_detect(&c, MET_NEG_SHARE, &d, x, big, h), 1);
        cr_expect_eq(h[0].detector, DET_CUSUM);
        cr_expect_float_eq(h[0].score, 1.5, 1e-9);
}

Test(monitor, volume_floor_and_binomial_floor)
{
        mon_config c;
        mon_config_defaults(&c);
        c.warmup = 1;
        c.z_threshold = 3;
        c.detectors[DET_CUSUM] = 0;
        mon_detector d = {0};
        mon_hit h[2];
        /* volume 100 then 125: sd floor sqrt(100) = 10, z = 2.5 < 3 */
        mon_detect(&c, MET_VOLUME, &d, 100, 100, h);
        cr_expect_eq(mon_detect(&c, MET_VOLUME, &d, 125, 125, h), 0);
        /* share 0.2 then 0.5 of 10 posts: floor sqrt(.2*.8/10) = 0.1265,
         * z = 2.37 < 3; of 1000 posts: floor 0.05, z = 6 */
        mon_detector s = {0};
        mon_detect(&c, MET_NEG_SHARE, &s, 0.2, 10, h);
        mon_detector s2 = s;
        cr_expect_eq(mon_detect(&c, MET_NEG_SHARE, &s, 0.5, 10, h), 0);
        cr_assert_eq(mon_detect(&c, MET_NEG_SHARE, &s2, 0.5, 1000, h), 1);
        cr_expect_float_eq(h[0].score, 6.0, 1e-9);
}

/* ---- windows ---- */

Test(monitor, tumbling_windows_close_by_post_time)
{
        socfw_monitor *m = open_mon(FIELD_KEYS
                                    "  window: {size: 60, lateness: 10}\n",
                                    NULL);
        post(m, 1, 1000.0 * 60 + 5, "A", "negative");  /* window 60000 */
        post(m, 2, 1000.0 * 60 + 50, "A", "positive");
        post(m, 3, 1000.0 * 60 + 65, "A", "neutral");  /* window 60060 */
        int n, neg;
        cr_expect_eq(window_of(m, "A", 60000, &n, &neg), 0,
                     "closed before the watermark passed its end");
        /* out of order but within lateness: still counted in 60000 */
        post(m, 4, 1000.0 * 60 + 59, "A", "negative");
        /* watermark 60071 - 10 = 60061 >= 60060: window 60000 closes */
        post(m, 5, 1000.0 * 60 + 71, "A", "neutral");
        cr_assert(window_of(m, "A", 60000, &n, &neg));
        cr_expect_eq(n, 3);
        cr_expect_eq(neg, 2);
        /* too late: its window is closed, counted and dropped */
        post(m, 6, 1000.0 * 60 + 30, "A", "negative");
        socfw_monitor_stats st;
        socfw_monitor_get_stats(m, &st);
        cr_expect_eq(st.late_dropped, 1);
        cr_expect_eq(st.counted, 5);
        cr_assert_eq(window_of(m, "A", 60000, &n, &neg), 1);
        cr_expect_eq(n, 3, "a late post changed a closed window");
        /* the end of input closes the rest */
        socfw_error err = {0};
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        cr_assert(window_of(m, "A", 60060, &n, &neg));
        cr_expect_eq(n, 2);
        cr_expect_eq(neg, 0);
        socfw_monitor_close(m);
}

Test(monitor, sliding_windows_count_a_post_in_each)
{
        socfw_monitor *m = open_mon(FIELD_KEYS
                                    "  window: {type: sliding, size: 60, "
                                    "step: 20, lateness: 0}\n",
                                    NULL);
        post(m, 1, 6045, "A", "negative"); /* windows 6000, 6020, 6040 */
        post(m, 2, 6065, "A", "positive"); /* 6020, 6040, 6060 */
        socfw_error err = {0};
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        int n, neg;
        static const struct {
                double start;
                int n, neg;
        } want[] = {{6000, 1, 1}, {6020, 2, 1}, {6040, 2, 1}, {6060, 1, 0}};
        cr_expect_eq(window_of(m, "A", 5980, &n, &neg), 0);
        for (size_t i = 0; i < 4; i++) {
                cr_assert(window_of(m, "A", want[i].start, &n, &neg),
                          "window %g", want[i].start);
                cr_expect_eq(n, want[i].n, "window %g", want[i].start);
                cr_expect_eq(neg, want[i].neg, "window %g", want[i].start);
        }
        socfw_monitor_close(m);
}

Test(monitor, silent_keys_get_empty_windows)
{
        socfw_monitor *m = open_mon(FIELD_KEYS
                                    "  window: {size: 10, lateness: 0}\n",
                                    NULL);
        post(m, 1, 1000, "A", "neutral");
        post(m, 2, 1001, "B", "neutral");
        for (int i = 0; i < 5; i++)
                post(m, 3 + i, 1010 + 10 * i, "A", "neutral");
        int n, neg;
        cr_assert(window_of(m, "B", 1030, &n, &neg), "B has no window 1030");
        cr_expect_eq(n, 0);
        socfw_monitor_close(m);
}

/* ---- bad input ---- */

Test(monitor, timestamp_policies)
{
        const char *bad[] = {
                "{\"id\": 1, \"text\": \"x\", \"key\": \"A\", \"label\": "
                "\"negative\"}",
                "{\"id\": 2, \"timestamp\": \"soon\", \"text\": \"x\", "
                "\"key\": \"A\", \"label\": \"negative\"}",
        };
        socfw_monitor *m = open_mon(FIELD_KEYS
                                    "  timestamp: {policy: skip}\n",
                                    NULL);
        feed_ok(m, bad[0], 1);
        feed_ok(m, bad[1], 2);
        socfw_monitor_stats st;
        socfw_monitor_get_stats(m, &st);
        cr_expect_eq(st.skipped_time, 2);
        cr_expect_eq(st.counted, 0);
        socfw_monitor_close(m);

        m = open_mon(FIELD_KEYS "  timestamp: {policy: arrival}\n", NULL);
        feed_ok(m, bad[0], 1);
        socfw_monitor_get_stats(m, &st);
        cr_expect_eq(st.no_timestamp, 1);
        cr_expect_eq(st.counted, 1, "arrival time not used");
        socfw_monitor_close(m);

        m = open_mon(FIELD_KEYS "  timestamp: {policy: error}\n", NULL);
        json_t *rec = json_loads(bad[1], 0, NULL);
        socfw_error err = {0};
        cr_expect_eq(socfw_monitor_feed(m, rec, "posts.jsonl", 7, 0, &err),
                     SOCFW_EINVAL);
        cr_expect_str_eq(err.file, "posts.jsonl");
        cr_expect_eq(err.line, 7);
        cr_expect(strstr(err.message, "timestamp") &&
                          strstr(err.message, "hint"),
                  "%s", err.message);
        json_decref(rec);
        socfw_monitor_close(m);
}

Test(monitor, posts_without_key_or_label_are_counted_apart)
{
        socfw_monitor *m = open_mon(FIELD_KEYS, NULL);
        feed_ok(m, "{\"timestamp\": 5, \"text\": \"x\", \"label\": "
                   "\"negative\"}", 1);
        feed_ok(m, "{\"timestamp\": 5, \"text\": \"x\", \"key\": \"A\"}", 2);
        json_t *arr = json_loads("[1]", 0, NULL);
        socfw_error err = {0};
        cr_expect_eq(socfw_monitor_feed(m, arr, "f", 3, 0, &err),
                     SOCFW_EINVAL);
        json_decref(arr);
        socfw_monitor_stats st;
        socfw_monitor_get_stats(m, &st);
        cr_expect_eq(st.no_key, 1);
        cr_expect_eq(st.no_sentiment, 1);
        socfw_monitor_close(m);
}

Test(monitor, bad_window_configuration)
{
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "socfw: 1\nmonitor:\n  window: {type: sliding, size: 60, "
                 "step: 120}\n");
        pipe_ = socfw_test_pipeline(reg, yaml, dir);
        socfw_monitor *m = NULL;
        socfw_error err = {0};
        cr_expect_eq(socfw_monitor_open(&m, socfw_pipeline_section(pipe_,
                                                                   "monitor"),
                                        NULL, &err),
                     SOCFW_ESCHEMA);
        cr_expect(strstr(err.message, "step"), "%s", err.message);
        cr_expect_null(m);
}

/* ---- alerts: de-duplication and cooldown ---- */

/* A stream for key A: `windows` windows of 20 posts (2 negative), then
 * windows in `burst` (a bitmask by window index) with 16 negatives. */
static void
stream(socfw_monitor *m, int windows, unsigned burst, long *id)
{
        for (int w = 0; w < windows; w++)
                for (int i = 0; i < 20; i++) {
                        int neg = (burst >> w & 1) ? i < 16 : i < 2;
                        post(m, (*id)++, 99960 + w * 60 + i * 2.5, "A",
                             neg ? "negative" : "neutral");
                }
}

#define ALERT_CFG(cooldown, jsonl)                                       \
        FIELD_KEYS                                                       \
        "  window: {size: 60, lateness: 0}\n"                            \
        "  detect: {warmup: 3, min_volume: 5, metrics: "                 \
        "[negative_share]}\n"                                            \
        "  alerts: {cooldown: " cooldown ", sample_ids: 3}\n"            \
        "  sinks: {jsonl: " jsonl "}\n"

Test(monitor, one_alert_per_key_window_and_cooldown)
{
        char path[4200], yaml[8192];
        snprintf(path, sizeof path, "%s/alerts.jsonl", dir);
        /* bursts in windows 6 and 7: both detectors fire on 6 -> one
         * alert; 7 falls in the cooldown */
        snprintf(yaml, sizeof yaml, ALERT_CFG("300", "%s"), path);
        socfw_monitor *m = open_mon(yaml, NULL);
        long id = 1;
        stream(m, 10, 3u << 6, &id);
        socfw_error err = {0};
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        cr_assert_eq(count_lines(path), 1);
        socfw_monitor_stats st;
        socfw_monitor_get_stats(m, &st);
        cr_expect_eq(st.alerts, 1);
        cr_expect_geq(st.suppressed, 1, "window 7 was not in a cooldown");
        char *s = socfw_test_read_file(path, NULL);
        json_t *a = json_loads(s, 0, NULL);
        cr_assert_not_null(a, "%s", s);
        cr_expect_str_eq(json_string_value(json_object_get(a, "key")), "A");
        cr_expect_str_eq(json_string_value(json_object_get(a, "metric")),
                         "negative_share");
        cr_expect_str_eq(json_string_value(json_object_get(a,
                                                           "window_start")),
                         "1970-01-02T03:52:00Z"); /* 99960 + 360 s */
        cr_expect_eq(json_array_size(json_object_get(a, "also")), 1,
                     "the second detector is not listed");
        json_t *ids = json_object_get(a, "post_ids");
        cr_expect_eq(json_array_size(ids), 3);
        cr_expect_str_eq(json_string_value(json_array_get(ids, 0)), "p121");
        cr_expect_float_eq(json_real_value(json_object_get(a, "value")), 0.8,
                           1e-9);
        json_decref(a);
        free(s);
        socfw_monitor_close(m);
        unlink(path);

        /* without cooldown, the second burst window alerts too */
        snprintf(yaml, sizeof yaml, ALERT_CFG("0", "%s"), path);
        m = open_mon(yaml, NULL);
        id = 1;
        stream(m, 10, 3u << 6, &id);
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        cr_expect_eq(count_lines(path), 2);
        socfw_monitor_close(m);
}

/* ---- state: a crash and a restart ---- */

Test(monitor, restart_after_crash_sends_nothing_twice)
{
        char path[4200], ref[4200], state[4200], state2[4200], yaml[8192];
        snprintf(path, sizeof path, "%s/alerts.jsonl", dir);
        snprintf(ref, sizeof ref, "%s/ref.jsonl", dir);
        snprintf(state, sizeof state, "%s/m.sqlite", dir);
        snprintf(state2, sizeof state2, "%s/ref.sqlite", dir);
        /* reference: one run over the whole stream */
        snprintf(yaml, sizeof yaml, ALERT_CFG("0", "%s"), ref);
        socfw_monitor *m = open_mon(yaml, state2);
        long id = 1;
        stream(m, 14, (3u << 6) | (1u << 11), &id);
        socfw_error err = {0};
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        socfw_monitor_close(m);
        cr_assert_eq(count_lines(ref), 3);

        /* the same stream, "killed" in window 9 (closed without a final
         * commit, as kill -9 leaves it), then restarted from the position
         * the state recorded */
        snprintf(yaml, sizeof yaml, ALERT_CFG("0", "%s"), path);
        m = open_mon(yaml, state);
        id = 1;
        stream(m, 9, 3u << 6, &id);
        for (int i = 0; i < 7; i++)
                post(m, id++, 99960 + 9 * 60 + i * 2.5, "A",
                     i < 2 ? "negative" : "neutral");
        int64_t lines = socfw_monitor_input_lines(m);
        socfw_monitor_close(m);
        cr_assert_eq(count_lines(path), 2);

        m = open_mon(yaml, state);
        int64_t done = socfw_monitor_input_lines(m);
        cr_expect_lt(done, lines, "uncommitted posts were not rolled back");
        cr_expect_eq(done, 9 * 20 + 1, "resume point %lld", (long long)done);
        cr_expect_str_eq(socfw_monitor_input_name(m), "in.jsonl");
        /* replay the full stream, skipping what the state holds */
        long next = 1;
        for (int w = 0; w < 14; w++)
                for (int i = 0; i < 20; i++, next++) {
                        if (next <= done)
                                continue;
                        int burst = (((3u << 6) | (1u << 11)) >> w) & 1;
                        int neg = burst ? i < 16 : i < 2;
                        post(m, next, 99960 + w * 60 + i * 2.5, "A",
                             neg ? "negative" : "neutral");
                }
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        socfw_monitor_close(m);
        char *a = socfw_test_read_file(path, NULL);
        char *b = socfw_test_read_file(ref, NULL);
        cr_expect_str_eq(a, b, "alerts differ from the uninterrupted run:\n%s\n%s", a, b);
        free(a);
        free(b);
}

Test(monitor, failed_deliveries_wait_in_the_state)
{
        char state[4200], out[4200], yaml[8192];
        snprintf(state, sizeof state, "%s/m.sqlite", dir);
        snprintf(out, sizeof out, "%s/got.jsonl", dir);
        /* a command that fails: the alert stays pending */
        snprintf(yaml, sizeof yaml,
                 FIELD_KEYS "  window: {size: 60, lateness: 0}\n"
                            "  detect: {warmup: 3, min_volume: 5, metrics: "
                            "[negative_share]}\n"
                            "  sinks: {command: \"exit 3\", webhook: "
                            "{retries: 1, backoff: 0.01}}\n");
        socfw_monitor *m = open_mon(yaml, state);
        long id = 1;
        stream(m, 8, 1u << 6, &id);
        socfw_error err = {0};
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        socfw_monitor_stats st;
        socfw_monitor_get_stats(m, &st);
        cr_expect_eq(st.alerts, 1);
        cr_expect_eq(st.deliveries_pending, 1);
        /* tried when its window closed, and again at the end of input */
        cr_expect_eq(count_rows(m, "SELECT attempts FROM deliveries"), 2);
        socfw_monitor_close(m);
        /* next start, with a command that works: sent on open */
        snprintf(yaml, sizeof yaml,
                 FIELD_KEYS "  window: {size: 60, lateness: 0}\n"
                            "  sinks: {command: \"cat > '%s'; test "
                            "\\\"$SOCFW_ALERT_ID\\\" != ''\"}\n",
                 out);
        m = open_mon(yaml, state);
        socfw_monitor_get_stats(m, &st);
        cr_expect_eq(st.deliveries_pending, 0);
        cr_expect_eq(st.resent, 1);
        cr_expect_eq(count_lines(out), 1);
        cr_expect_eq(count_rows(m, "SELECT count(*) FROM deliveries WHERE "
                                   "status = 'sent'"),
                     1);
        socfw_monitor_close(m);
}

Test(monitor, state_refuses_other_windows)
{
        char state[4200];
        snprintf(state, sizeof state, "%s/m.sqlite", dir);
        socfw_monitor *m = open_mon(FIELD_KEYS "  window: {size: 60}\n",
                                    state);
        post(m, 1, 1000, "A", "neutral");
        socfw_error err = {0};
        cr_assert_eq(socfw_monitor_checkpoint(m, &err), 0);
        socfw_monitor_close(m);
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "socfw: 1\nmonitor:\n" FIELD_KEYS "  window: {size: 120}\n");
        socfw_pipeline_free(pipe_);
        pipe_ = socfw_test_pipeline(reg, yaml, dir);
        socfw_monitor_options o = {.state_path = state};
        cr_expect_eq(socfw_monitor_open(&m, socfw_pipeline_section(pipe_,
                                                                   "monitor"),
                                        &o, &err),
                     SOCFW_ESCHEMA);
        cr_expect(strstr(err.message, "--state"), "%s", err.message);
        /* not a database at all */
        socfw_test_write_file(state, "hello, this is not sqlite at all....",
                              36);
        char wal[4300];
        snprintf(wal, sizeof wal, "%s-wal", state);
        unlink(wal);
        cr_expect_lt(socfw_monitor_open(&m, socfw_pipeline_section(pipe_,
                                                                   "monitor"),
                                        &o, &err),
                     0);
        cr_expect_str_eq(err.file, state);
}

Test(monitor, report_is_written)
{
        char path[4200], yaml[8192], alerts[4200];
        snprintf(path, sizeof path, "%s/r.html", dir);
        snprintf(alerts, sizeof alerts, "%s/a.jsonl", dir);
        snprintf(yaml, sizeof yaml, ALERT_CFG("0", "%s"), alerts);
        socfw_monitor *m = open_mon(yaml, NULL);
        long id = 1;
        stream(m, 10, 1u << 6, &id);
        socfw_error err = {0};
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_monitor_write_report(m, path, &err), 0, "%s",
                     err.message);
        char *html = socfw_test_read_file(path, NULL);
        cr_assert_not_null(html);
        cr_expect(strstr(html, "<svg"), "no chart");
        cr_expect(strstr(html, "class=\"alert\""), "no alert marker");
        cr_expect(strstr(html, "<td>negative_share</td>"), "no alert row");
        free(html);
        socfw_monitor_close(m);
}

Test(monitor, full_disk_keeps_the_last_commit)
{
        char state[4200];
        snprintf(state, sizeof state, "%s/m.sqlite", dir);
        socfw_monitor *m = open_mon(FIELD_KEYS
                                    "  window: {size: 60, lateness: 0}\n",
                                    state);
        long id = 1;
        for (; id <= 200; id++)
                post(m, id, 99960 + id * 3.0, "A", "neutral");
        /* the "disk" cannot grow any more */
        int pages = count_rows(m, "PRAGMA page_count");
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %d", pages);
        cr_assert_eq(sqlite3_exec(m->db, sql, NULL, NULL, NULL), SQLITE_OK);
        socfw_error err = {0};
        int rc = 0;
        for (; id <= 20000 && rc == 0; id++) {
                char js[256];
                snprintf(js, sizeof js,
                         "{\"id\": %ld, \"timestamp\": %.1f, \"text\": "
                         "\"x\", \"key\": \"K%ld\", \"label\": \"neutral\"}",
                         id, 99960 + id * 3.0, id);
                json_t *rec = json_loads(js, 0, NULL);
                rc = socfw_monitor_feed(m, rec, "in.jsonl", id, id, &err);
                json_decref(rec);
        }
        cr_assert_eq(rc, SOCFW_EIO, "the state never filled up");
        cr_expect(strstr(err.message, "disk full"), "%s", err.message);
        cr_expect_str_eq(err.file, state);
        long failed_at = id - 1;
        socfw_monitor_close(m);
        /* a new monitor continues from the last commit */
        m = open_mon(FIELD_KEYS "  window: {size: 60, lateness: 0}\n", state);
        int64_t done = socfw_monitor_input_lines(m);
        cr_expect(done >= 200 && done < failed_at, "resume point %lld",
                  (long long)done);
        int before = count_rows(m, "SELECT count(*) FROM windows");
        for (long i = done + 1; i <= failed_at + 100; i++)
                post(m, i, 99960 + i * 3.0, "A", "neutral");
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        cr_expect_gt(count_rows(m, "SELECT count(*) FROM windows"), before);
        socfw_monitor_close(m);
}

Test(monitor, open_windows_are_bounded)
{
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "socfw: 1\nmonitor:\n  window: {type: sliding, size: "
                 "86400, step: 60, lateness: 86400}\n  keys: {max_keys: "
                 "1000000}\n");
        pipe_ = socfw_test_pipeline(reg, yaml, dir);
        socfw_monitor *m = NULL;
        socfw_error err = {0};
        cr_expect_eq(socfw_monitor_open(&m, socfw_pipeline_section(pipe_,
                                                                   "monitor"),
                                        NULL, &err),
                     SOCFW_ESCHEMA);
        cr_expect(strstr(err.message, "MiB") && strstr(err.message, "hint"),
                  "%s", err.message);
        cr_expect_null(m);
}

/* ---- sliding windows: the lagged baseline, and its state ---- */

Test(monitor, sliding_baseline_learns_after_the_overlap)
{
        mon_config c;
        mon_config_defaults(&c);
        c.alpha = 0.5;
        c.warmup = 1;
        c.size = 60;
        c.step = 30; /* each window overlaps the next: one waits */
        c.z_threshold = 100;
        c.cusum_k = 0.5;
        c.cusum_h = 100;
        c.min_sd_share = 0.1;
        double lag[1];
        mon_detector d = {.lag = lag, .lag_cap = 1};
        mon_hit h[2];
        double big = 1e12;
        mon_detect(&c, MET_NEG_SHARE, &d, 0.2, big, h);
        cr_expect_eq(d.n, 0, "learnt a window the next one overlaps");
        mon_detect(&c, MET_NEG_SHARE, &d, 0.4, big, h);
        cr_expect_eq(d.n, 1);
        cr_expect_float_eq(d.mean, 0.2, 1e-12);
        /* scored against mean 0.2, sd floor 0.1: z = 3, CUSUM grows by
         * (3 - 0.5) * 30 / 60 = 1.25; then 0.4 is learnt: mean 0.3 */
        mon_detect(&c, MET_NEG_SHARE, &d, 0.5, big, h);
        cr_expect_float_eq(d.cusum, 1.25, 1e-12);
        cr_expect_eq(d.n, 2);
        cr_expect_float_eq(d.mean, 0.3, 1e-12);
        cr_expect_float_eq(d.var, 0.01, 1e-12);
}

/* Post i (from 1) of a stream of 20 posts a minute for key A, with
 * 16 negatives in the minutes of `burst`. */
static void
post_nth(socfw_monitor *m, long i, unsigned burst)
{
        long w = (i - 1) / 20, j = (i - 1) % 20;
        int neg = (burst >> w & 1) ? j < 16 : j < 2;
        post(m, i, 99960 + w * 60 + j * 2.5, "A",
             neg ? "negative" : "neutral");
}

Test(monitor, sliding_state_survives_a_crash)
{
        char path[4200], ref[4200], state[4200], yaml[8192];
        const unsigned burst = (1u << 8) | (1u << 14);
        const long total = 18 * 20;
        snprintf(path, sizeof path, "%s/alerts.jsonl", dir);
        snprintf(ref, sizeof ref, "%s/ref.jsonl", dir);
        snprintf(state, sizeof state, "%s/m.sqlite", dir);
#define SLIDING_CFG                                                      \
        FIELD_KEYS                                                       \
        "  window: {type: sliding, size: 60, step: 20, lateness: 0}\n"   \
        "  detect: {warmup: 3, min_volume: 5, metrics: "                 \
        "[negative_share]}\n"                                            \
        "  alerts: {cooldown: 0}\n"                                      \
        "  sinks: {jsonl: %s}\n"
        snprintf(yaml, sizeof yaml, SLIDING_CFG, ref);
        socfw_monitor *m = open_mon(yaml, NULL);
        for (long i = 1; i <= total; i++)
                post_nth(m, i, burst);
        socfw_error err = {0};
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        socfw_monitor_close(m);
        cr_assert_geq(count_lines(ref), 2);
        /* killed mid-stream (after the first burst), then continued */
        snprintf(yaml, sizeof yaml, SLIDING_CFG, path);
        m = open_mon(yaml, state);
        for (long i = 1; i <= 11 * 20 + 7; i++)
                post_nth(m, i, burst);
        socfw_monitor_close(m);
        m = open_mon(yaml, state);
        int64_t done = socfw_monitor_input_lines(m);
        cr_expect(done > 0 && done < 11 * 20 + 7, "resume at %lld",
                  (long long)done);
        for (long i = done + 1; i <= total; i++)
                post_nth(m, i, burst);
        cr_assert_eq(socfw_monitor_finish(m, &err), 0, "%s", err.message);
        socfw_monitor_close(m);
        char *a = socfw_test_read_file(path, NULL);
        char *b = socfw_test_read_file(ref, NULL);
        cr_expect_str_eq(a, b, "alerts differ from the uninterrupted run:\n%s\n%s",
                         a, b);
        free(a);
        free(b);
}

/* socfw/monitor.h - sentiment monitoring with alerts: per key and per time
 * window, the volume and the sentiment mix of posts; detectors that fire
 * when the negative share or the volume of a key turns; alerts delivered to
 * a webhook, a JSON Lines file or a command; everything kept in SQLite so a
 * process killed at any moment continues where its last window closed.
 *
 * The monitor is the last stage of `socfw monitor`: each post has gone
 * through the pipeline's chain (privacy -> sentiment -> nlu ...) and arrives
 * as a JSON object with an id, a timestamp, its text and the annotations of
 * the stages.  The `monitor:` section of the pipeline says where the key,
 * the time and the sentiment are read from (see `socfw help pipeline`).
 *
 *     socfw_monitor_options o = {.state_path = "runs/x/monitor.sqlite",
 *                                .on_alert = print_alert};
 *     socfw_monitor *m;
 *     if (socfw_monitor_open(&m, socfw_pipeline_section(p, "monitor"), &o,
 *                            &err) < 0) ...
 *     // skip what an earlier process already counted
 *     int64_t done = socfw_monitor_input_lines(m);
 *     while (next line) {
 *             json_t *rec = ...;        // the post after the chain
 *             if (socfw_monitor_feed(m, rec, "in.jsonl", lineno, offset,
 *                                    &err) < 0) ...
 *     }
 *     socfw_monitor_finish(m, &err);    // end of input: close every window
 *     socfw_monitor_write_report(m, "out.html", &err);
 *     socfw_monitor_close(m);
 *
 * Time.  Windows are laid on post time (the record's timestamp), not on
 * arrival: window k covers [k*step, k*step + size) seconds since the epoch
 * (tumbling windows: step = size).  The watermark is the latest post time
 * seen minus the allowed lateness; a window closes when its end is at or
 * before the watermark.  A post older than the watermark is late: counted
 * and dropped.  Closing windows (those one post's arrival closes, for
 * every key) is one SQLite transaction holding their counts, the
 * detectors' new state, the alerts they raised with their pending
 * deliveries, the still-open windows and how far into the input the
 * monitor got; alerts are shown and delivered after the commit, and a
 * delivery is marked done only after its sink accepted it.  After kill -9 a restart
 * therefore re-reads the input from the last commit, rebuilds the same
 * windows, finds the alerts already recorded (same ids) and re-sends only
 * deliveries that were not confirmed (a webhook that accepted an alert
 * just before the kill sees it again, with the same Idempotency-Key).
 *
 * Detectors.  Per key and metric (negative_share, volume), from the windows
 * that close: an EWMA of the metric's mean and variance (weight alpha), a
 * z-score  z = (x - mean) / max(sd, floor)  against the baseline before x,
 * and a one-sided CUSUM  S = max(0, S + z - k)  that fires at S >= h (and
 * restarts from 0).  Neither fires during the warm-up (the first `warmup`
 * windows the metric was measured in) nor, for the negative share, on a
 * window with fewer than min_volume posts.  At most one alert per key and
 * window (the strongest detector, the others listed), then a cooldown for
 * that key.
 */
#ifndef SOCFW_MONITOR_H
#define SOCFW_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "socfw/config.h"
#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_monitor socfw_monitor;

/* Called with each alert as it fires (the JSON object the sinks receive,
 * borrowed for the call). */
typedef void (*socfw_monitor_alert_fn)(const char *alert_json, void *user);

typedef struct socfw_monitor_options {
        /* SQLite state file (created when absent).  NULL or ":memory:":
         * state lives in memory only (tests, benchmarks). */
        const char *state_path;
        /* Overrides monitor.sinks.webhook.url when not NULL. */
        const char *webhook_url;
        socfw_monitor_alert_fn on_alert;   /* may be NULL */
        void *user;
} socfw_monitor_options;

/* Open the monitor described by a validated `monitor:` section (`cfg`; NULL
 * reads every default) and its state: windows, detector state and counters
 * of an earlier run are loaded, and deliveries that earlier run could not
 * complete are sent again (a sink still failing leaves them pending; that
 * is logged, not an error).  Returns 0 and *out (caller closes), or a
 * negative SOCFW_E* with `err` naming the state file or the key at fault. */
int socfw_monitor_open(socfw_monitor **out, const socfw_config *cfg,
                       const socfw_monitor_options *opts, socfw_error *err);
/* Close the state database.  Open windows stay in the state for the next
 * run.  NULL is a no-op. */
void socfw_monitor_close(socfw_monitor *m);

/* Where the input stood at the last commit: lines consumed (blank lines
 * included) and byte offset after them, and the input's name as given to
 * _feed ("" when nothing was committed yet).  A restart skips them. */
int64_t socfw_monitor_input_lines(const socfw_monitor *m);
int64_t socfw_monitor_input_offset(const socfw_monitor *m);
const char *socfw_monitor_input_name(const socfw_monitor *m);

/* Count one post: `rec` is a JSON object (borrowed) with an id, a
 * timestamp, the text and the chain's annotations.  `file`/`line` name it in
 * errors; `offset` is the byte offset just after its line (recorded as the
 * resume point).  A post without a usable timestamp follows
 * monitor.timestamp.policy; a post without key or sentiment is counted and
 * ignored.  May close windows (and deliver alerts).  Errors: the record
 * under policy "error" (SOCFW_EINVAL with file:line; the monitor may go
 * on), or the state database (SOCFW_EIO, e.g. a full disk: the file keeps
 * its last commit; close the monitor, and a new one continues from
 * there). */
int socfw_monitor_feed(socfw_monitor *m, const json_t *rec, const char *file,
                       long line, int64_t offset, socfw_error *err);

/* A line of the input that is blank or was skipped by the caller (bad
 * JSON under on_bad_record: skip): it only moves the resume point. */
void socfw_monitor_skip_line(socfw_monitor *m, const char *file,
                             int64_t offset);

/* End of a finite input: close every open window (with the detectors and
 * alerts that follow) and retry pending deliveries. */
int socfw_monitor_finish(socfw_monitor *m, socfw_error *err);

/* Commit the resume point and open windows now (e.g. before a --follow
 * reader sleeps, or on SIGTERM). */
int socfw_monitor_checkpoint(socfw_monitor *m, socfw_error *err);

typedef struct socfw_monitor_stats {
        int64_t posts;            /* records fed                          */
        int64_t counted;          /* counted in at least one window       */
        int64_t late_dropped;     /* older than the watermark              */
        int64_t no_timestamp;     /* missing/unparsable timestamp           */
        int64_t skipped_time;     /* ... of which skipped (policy skip)     */
        int64_t no_key;           /* no key found                           */
        int64_t no_sentiment;     /* no sentiment label found               */
        int64_t keys_dropped;     /* posts of keys beyond keys.max_keys     */
        int64_t windows_closed;   /* (key, window) pairs closed             */
        int64_t alerts;           /* alerts raised (this state, all runs)   */
        int64_t suppressed;       /* detector hits inside a cooldown        */
        int64_t deliveries_pending; /* not yet accepted by their sink       */
        int64_t resent;           /* deliveries re-sent from an earlier run */
} socfw_monitor_stats;

/* Counters since the state was created (they survive restarts). */
void socfw_monitor_get_stats(const socfw_monitor *m, socfw_monitor_stats *st);

/* An HTML page: per key (the busiest and those with alerts), the volume and
 * sentiment shares of every closed window as inline SVG with the alerts
 * marked, then the table of alerts.  Written atomically. */
int socfw_monitor_write_report(socfw_monitor *m, const char *path,
                               socfw_error *err);

/* ---- pieces, exposed for tests and tools ---- */

/* Parse a timestamp: epoch seconds (a number, or a string of one) or ISO
 * 8601 ("2024-03-01T12:00:00Z", "...+02:00", fractions, a space instead of
 * T, a date alone).  Returns 0 and *out (seconds since the epoch, UTC), or
 * SOCFW_EINVAL. */
int socfw_monitor_parse_time(const json_t *value, double *out);

/* Format epoch seconds as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 32 bytes). */
const char *socfw_monitor_format_time(double t, char *buf, size_t size);

/* Deliver `body` (a JSON object) by HTTP POST to `url` as the webhook sink
 * does: `timeout` seconds per attempt, up to `retries` more attempts on a
 * connection error, 429 or 5xx, waiting backoff * 2^attempt seconds (capped
 * at max_backoff, then scaled by a random factor in [0.5, 1]; a 429's
 * Retry-After is honoured up to max_backoff), with an Idempotency-Key
 * header and, when `secret` is not NULL, X-Socfw-Signature: sha256=<hex
 * HMAC-SHA256 of the body>.  *attempts receives the number of requests
 * made.  Returns 0 on a 2xx, else SOCFW_EIO naming the last status. */
int socfw_monitor_post_json(const char *url, const char *body,
                            const char *idempotency_key, const char *secret,
                            double timeout, int retries, double backoff,
                            double max_backoff, int *attempts,
                            socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_MONITOR_H */

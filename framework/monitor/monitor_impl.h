/* monitor_impl.h - what the parts of the monitor share (monitor.c: keys,
 * windows, detectors; state.c: SQLite; sink.c: deliveries; mreport.c: the
 * HTML report).  Tests include it to check the pieces one by one. */
#ifndef SOCFW_MONITOR_IMPL_H
#define SOCFW_MONITOR_IMPL_H

#include <stdint.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <sqlite3.h>

#include "socfw/monitor.h"

#define MON_ID_MAX 64        /* bytes of a post id kept as a sample       */
#define MON_SAMPLES_MAX 10   /* sample post ids per window at most        */
#define MON_KEY_MAX 128      /* bytes of a key                            */
#define MON_KEYS_PER_POST 16 /* keys.max_per_post at most                 */
#define MON_RING_MAX 4096    /* open windows per key at most              */
#define MON_LIST_MAX 16      /* label / slot-type lists                   */
#define MON_MEMORY_MIB 2048  /* open windows of all keys at most           */
#define MON_CLIP_Z 3.0       /* baseline updates clipped at mean +- 3 sd  */

enum { MON_NEG = 0, MON_NEU = 1, MON_POS = 2 };
enum { MET_NEG_SHARE = 0, MET_VOLUME = 1, MET_COUNT = 2 };
enum { DET_EWMA = 0, DET_CUSUM = 1 };
enum { TS_ARRIVAL = 0, TS_SKIP = 1, TS_ERROR = 2 };
enum { KEYS_FIELD = 1, KEYS_HASHTAGS = 2, KEYS_CASHTAGS = 4, KEYS_NLU = 8,
       KEYS_ALL = 16 };

/* Everything the `monitor:` section says, read once. */
typedef struct mon_config {
        double size, step, lateness;      /* seconds */
        char ts_field[64];
        int ts_policy;
        char id_field[64];
        char text_field[64];
        char sent_field[128];             /* "" = <task>.label */
        char neg_labels[MON_LIST_MAX][32];
        size_t n_neg;
        char pos_labels[MON_LIST_MAX][32];
        size_t n_pos;
        unsigned key_sources;             /* KEYS_* */
        char key_field[128];
        char nlu_field[128];
        char nlu_types[MON_LIST_MAX][32];
        size_t n_nlu_types;
        size_t max_keys, max_per_post;
        int metrics[MET_COUNT];           /* 1 when watched */
        int detectors[2];                 /* DET_*: 1 when on */
        int64_t warmup;
        int64_t min_volume;
        double alpha, z_threshold, min_sd_share, min_sd_volume;
        double cusum_k, cusum_h;
        double cooldown;
        size_t sample_ids;
        int full_sync;
        /* sinks */
        char webhook_url[1024];
        char webhook_secret_env[128];
        double webhook_timeout, backoff, max_backoff;
        int retries;
        char jsonl_path[1024];
        char command[1024];
        double command_timeout;
        size_t report_keys;
} mon_config;

/* One window of one key while it is open. */
typedef struct mon_window {
        int64_t k;                        /* index; -1 = slot unused */
        uint32_t n, c[3];                 /* volume, per MON_* class */
        uint8_t n_neg_ids, n_any_ids;
        char neg_ids[MON_SAMPLES_MAX][MON_ID_MAX];
        char any_ids[MON_SAMPLES_MAX][MON_ID_MAX];
} mon_window;

/* A detector's state for one key and metric.  With sliding windows the
 * values of the windows that overlap the next one wait in `lag` (a FIFO of
 * lag_cap = ceil(size / step) - 1 values, owned by the key) before the
 * baseline learns them; lag NULL: learnt at once. */
typedef struct mon_detector {
        double mean, var, cusum;
        int64_t n;                        /* windows learnt */
        double *lag;
        uint32_t lag_cap, lag_head, lag_len;
} mon_detector;

typedef struct mon_key {
        char *name;
        int64_t next_k;                   /* windows < next_k are closed */
        double cooldown_until;            /* post time; 0 = none         */
        mon_detector det[MET_COUNT];
        mon_window *ring;                 /* ring_cap slots, by k % cap  */
        double *lag;                      /* the detectors' lag buffers  */
} mon_key;

/* A closed window's figures handed to the detectors. */
typedef struct mon_closed {
        const mon_key *key;
        double start, end;
        const mon_window *w;              /* counts and samples */
} mon_closed;

/* One detector's verdict. */
typedef struct mon_hit {
        int metric, detector;
        double value, baseline, score, threshold;
} mon_hit;

struct socfw_monitor {
        mon_config cfg;
        socfw_monitor_options opts;
        char state_path[1024];
        sqlite3 *db;
        sqlite3_stmt *stmt[8];             /* prepared once (state.c) */
        int in_tx;
        double last_retry;                /* wall time of the last
                                             retry of old deliveries */
        /* keys: open addressing by FNV-1a */
        mon_key **slots;
        size_t n_slots, n_keys;
        size_t ring_cap;
        /* time */
        int have_time;
        double max_time;                  /* latest post time seen    */
        int64_t closed_k;                 /* windows with k < closed_k
                                             are closed for every key */
        /* input position at the last post handled */
        int64_t lines, offset;
        char input_name[512];
        socfw_monitor_stats st;
        pcre2_code *re_cash, *re_hash;
        pcre2_match_data *md;
        char **new_alerts;                /* ids raised since the commit */
        char **new_json;                  /* ... and their JSON          */
        size_t n_new, cap_new;
};

/* ---- monitor.c (pure parts, tested directly) ---- */

/* Extract the keys of `rec` per cfg (deduplicated, normalised: cashtags and
 * ticker slots upper-case without '$', hashtags lower-case with '#').
 * Returns how many were written to keys[max][MON_KEY_MAX]. */
size_t mon_extract_keys(socfw_monitor *m, const json_t *rec,
                        char keys[][MON_KEY_MAX], size_t max);
/* MON_NEG/NEU/POS, or -1 when the record has no sentiment. */
int mon_sentiment(const socfw_monitor *m, const json_t *rec);
/* Run the detectors of one metric on value x of a window of `volume` posts
 * (updates d); fills hits (up to 2) and returns how many fired. */
size_t mon_detect(const mon_config *c, int metric, mon_detector *d, double x,
                  double volume, mon_hit *hits);
/* Default configuration (what an absent `monitor:` section reads). */
void mon_config_defaults(mon_config *c);

/* ---- state.c ---- */
int mon_state_open(socfw_monitor *m, socfw_error *err);
void mon_state_close(socfw_monitor *m);
int mon_state_load(socfw_monitor *m, socfw_error *err);
int mon_state_begin(socfw_monitor *m, socfw_error *err);
/* Save every key, the open windows, the counters and the position;
 * commits. */
int mon_state_commit(socfw_monitor *m, socfw_error *err);
void mon_state_rollback(socfw_monitor *m);
int mon_state_save_window(socfw_monitor *m, const mon_closed *w,
                          socfw_error *err);
/* Record an alert and one pending delivery per sink; returns 1 when new,
 * 0 when an alert with this id is already recorded (not sent again). */
int mon_state_add_alert(socfw_monitor *m, const char *id, const char *key,
                        double start, double end, const char *metric,
                        const char *json, socfw_error *err);
int mon_state_db_fail(socfw_monitor *m, int rc, const char *doing,
                      socfw_error *err);
int mon_get_key(socfw_monitor *m, const char *name, mon_key **out,
                socfw_error *err);

/* ---- sink.c ---- */
/* Names of the configured sinks ("webhook", "jsonl", "command"). */
size_t mon_sinks(const socfw_monitor *m, const char *names[3]);
/* Try the pending deliveries of the `only` alert ids, and the other
 * pending ones when `all` is set or the last such retry is more than a
 * minute old; each is marked sent or left pending with its error.  A sink
 * that fails is not tried again in the same pass. */
int mon_deliver_pending(socfw_monitor *m, char **only, size_t n_only,
                        int all, socfw_error *err);
int mon_deliver_one(socfw_monitor *m, const char *sink, const char *id,
                    const char *json, char *why, size_t why_size);

#endif

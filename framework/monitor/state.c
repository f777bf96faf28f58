/* state.c - the monitor's state in SQLite (WAL): closed windows, open
 * windows, detector state per key, alerts and their deliveries, counters and
 * the input position.  Each close of windows is one transaction, so the file
 * always holds a consistent point of the stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor_impl.h"

#define STATE_VERSION 1

enum { ST_KEY, ST_OPEN, ST_WINDOW, ST_ALERT, ST_DELIVERY, ST_META, ST_N };

static const char *const stmt_sql[ST_N] = {
        "INSERT OR REPLACE INTO keys VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
        "?9, ?10, ?11, ?12, ?13)",
        "INSERT OR REPLACE INTO open_windows VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8)",
        "INSERT OR REPLACE INTO windows VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        "INSERT OR IGNORE INTO alerts (id, key, start, end, metric, json) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        "INSERT OR IGNORE INTO deliveries VALUES (?1, ?2, 'pending', 0, '')",
        "INSERT OR REPLACE INTO meta VALUES (?1, ?2)",
};

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v);"
        "CREATE TABLE IF NOT EXISTS keys (name TEXT PRIMARY KEY, next_k "
        "INTEGER, cooldown_until REAL, neg_mean REAL, neg_var REAL, "
        "neg_cusum REAL, neg_n INTEGER, vol_mean REAL, vol_var REAL, "
        "vol_cusum REAL, vol_n INTEGER, neg_lag TEXT, vol_lag TEXT);"
        "CREATE TABLE IF NOT EXISTS open_windows (key TEXT, k INTEGER, n "
        "INTEGER, neg INTEGER, neu INTEGER, pos INTEGER, neg_ids TEXT, "
        "any_ids TEXT, PRIMARY KEY (key, k));"
        "CREATE TABLE IF NOT EXISTS windows (key TEXT, start REAL, end REAL, "
        "n INTEGER, neg INTEGER, neu INTEGER, pos INTEGER, PRIMARY KEY (key, "
        "start));"
        "CREATE TABLE IF NOT EXISTS alerts (seq INTEGER PRIMARY KEY, id TEXT "
        "UNIQUE, key TEXT, start REAL, end REAL, metric TEXT, json TEXT);"
        "CREATE TABLE IF NOT EXISTS deliveries (alert_id TEXT, sink TEXT, "
        "status TEXT, attempts INTEGER, last_error TEXT, PRIMARY KEY "
        "(alert_id, sink));";

int
mon_state_db_fail(socfw_monitor *m, int rc, const char *doing,
                  socfw_error *err)
{
        const char *msg = m->db ? sqlite3_errmsg(m->db) : sqlite3_errstr(rc);
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return socfw_error_set_at(
                        err, SOCFW_EIO, m->state_path, 0, 0,
                        "monitor state is in use by another process (while "
                        "%s); hint: stop the other `socfw monitor` on this "
                        "state, or give --state another file",
                        doing);
        case SQLITE_FULL:
                return socfw_error_set_at(
                        err, SOCFW_EIO, m->state_path, 0, 0,
                        "disk full while %s; the state keeps its last "
                        "committed windows; hint: free some space and "
                        "start the monitor again, it continues from there",
                        doing);
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
                return socfw_error_set_at(
                        err, SOCFW_EFORMAT, m->state_path, 0, 0,
                        "not a monitor state database (%s, while %s); hint: "
                        "move it aside to start afresh",
                        msg, doing);
        case SQLITE_NOMEM:
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "out of memory while %s", doing);
        default:
                return socfw_error_set_at(err, SOCFW_EIO, m->state_path, 0, 0,
                                          "state database error while %s: "
                                          "%s (hint: check that the file "
                                          "and its directory are writable)",
                                          doing, msg);
        }
}

static int
exec(socfw_monitor *m, const char *sql, const char *doing, socfw_error *err)
{
        int rc = sqlite3_exec(m->db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : mon_state_db_fail(m, rc, doing, err);
}

int
mon_state_open(socfw_monitor *m, socfw_error *err)
{
        int rc = sqlite3_open_v2(m->state_path, &m->db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                         SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK)
                return mon_state_db_fail(m, rc, "opening", err);
        sqlite3_busy_timeout(m->db, 2000);
        char sync[64];
        snprintf(sync, sizeof sync, "PRAGMA synchronous=%s;",
                 m->cfg.full_sync ? "FULL" : "NORMAL");
        /* one writer: a second monitor on the same state is refused */
        if ((rc = exec(m, "PRAGMA journal_mode=WAL;", "opening", err)) < 0 ||
            (rc = exec(m, sync, "opening", err)) < 0 ||
            (rc = exec(m, "PRAGMA locking_mode=EXCLUSIVE;", "opening",
                       err)) < 0 ||
            (rc = exec(m, "BEGIN IMMEDIATE;", "locking", err)) < 0)
                return rc;
        if ((rc = exec(m, schema_sql, "creating tables", err)) < 0) {
                sqlite3_exec(m->db, "ROLLBACK;", NULL, NULL, NULL);
                return rc;
        }
        if ((rc = exec(m, "COMMIT;", "creating tables", err)) < 0)
                return rc;
        for (int i = 0; i < ST_N; i++) {
                rc = sqlite3_prepare_v2(m->db, stmt_sql[i], -1, &m->stmt[i],
                                        NULL);
                if (rc != SQLITE_OK)
                        return mon_state_db_fail(m, rc, "preparing", err);
        }
        return 0;
}

void
mon_state_close(socfw_monitor *m)
{
        for (int i = 0; i < ST_N; i++)
                sqlite3_finalize(m->stmt[i]);
        if (m->in_tx)
                sqlite3_exec(m->db, "ROLLBACK;", NULL, NULL, NULL);
        sqlite3_close(m->db);
        m->db = NULL;
}

int
mon_state_begin(socfw_monitor *m, socfw_error *err)
{
        if (m->in_tx)
                return 0;
        int rc = exec(m, "BEGIN IMMEDIATE;", "starting a transaction", err);
        if (rc == 0)
                m->in_tx = 1;
        return rc;
}

void
mon_state_rollback(socfw_monitor *m)
{
        if (m->in_tx)
                sqlite3_exec(m->db, "ROLLBACK;", NULL, NULL, NULL);
        m->in_tx = 0;
}

static int
step(socfw_monitor *m, sqlite3_stmt *st, const char *doing, socfw_error *err)
{
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return rc == SQLITE_DONE ? 0 : mon_state_db_fail(m, rc, doing, err);
}

static int
meta_set(socfw_monitor *m, const char *k, double v, socfw_error *err)
{
        sqlite3_stmt *st = m->stmt[ST_META];
        sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
        if (v == (double)(sqlite3_int64)v)
                sqlite3_bind_int64(st, 2, (sqlite3_int64)v);
        else
                sqlite3_bind_double(st, 2, v);
        return step(m, st, "saving the position", err);
}

/* The counters and position, by name (the same table in both directions). */
#define STAT_FIELDS(X)                                                   \
        X(posts) X(counted) X(late_dropped) X(no_timestamp)              \
        X(skipped_time) X(no_key) X(no_sentiment) X(keys_dropped)        \
        X(windows_closed) X(alerts) X(suppressed)

static char *
ids_json(const char ids[][MON_ID_MAX], uint8_t n)
{
        json_t *a = json_array();
        for (uint8_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(ids[i]));
        char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        return s;
}

/* A detector's waiting values, oldest first, as a JSON array. */
static char *
lag_json(const mon_detector *d)
{
        json_t *a = json_array();
        for (uint32_t i = 0; a && i < d->lag_len; i++)
                json_array_append_new(a, json_real(
                        d->lag[(d->lag_head + i) % d->lag_cap]));
        char *s = a ? json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(17))
                    : NULL;
        json_decref(a);
        return s;
}

static void
lag_load(mon_detector *d, const char *js)
{
        json_t *a = js ? json_loads(js, 0, NULL) : NULL;
        size_t i;
        json_t *it;
        d->lag_head = d->lag_len = 0;
        json_array_foreach(a, i, it)
        {
                if (!d->lag || d->lag_len >= d->lag_cap ||
                    !json_is_number(it))
                        break;
                d->lag[d->lag_len++] = json_number_value(it);
        }
        json_decref(a);
}

static int
save_key(socfw_monitor *m, const mon_key *k, socfw_error *err)
{
        sqlite3_stmt *st = m->stmt[ST_KEY];
        sqlite3_bind_text(st, 1, k->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, k->next_k);
        sqlite3_bind_double(st, 3, k->cooldown_until);
        for (int d = 0; d < MET_COUNT; d++) {
                sqlite3_bind_double(st, 4 + 4 * d, k->det[d].mean);
                sqlite3_bind_double(st, 5 + 4 * d, k->det[d].var);
                sqlite3_bind_double(st, 6 + 4 * d, k->det[d].cusum);
                sqlite3_bind_int64(st, 7 + 4 * d, k->det[d].n);
                char *lag = lag_json(&k->det[d]);
                if (!lag) {
                        sqlite3_reset(st);
                        sqlite3_clear_bindings(st);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                sqlite3_bind_text(st, 12 + d, lag, -1, SQLITE_TRANSIENT);
                free(lag);
        }
        int rc = step(m, st, "saving a key", err);
        if (rc < 0)
                return rc;
        st = m->stmt[ST_OPEN];
        for (size_t i = 0; i < m->ring_cap && rc == 0; i++) {
                const mon_window *w = &k->ring[i];
                if (w->k < 0 || w->n == 0)
                        continue;
                char *neg = ids_json(w->neg_ids, w->n_neg_ids);
                char *any = ids_json(w->any_ids, w->n_any_ids);
                if (!neg || !any) {
                        free(neg);
                        free(any);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                sqlite3_bind_text(st, 1, k->name, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 2, w->k);
                sqlite3_bind_int64(st, 3, w->n);
                sqlite3_bind_int64(st, 4, w->c[MON_NEG]);
                sqlite3_bind_int64(st, 5, w->c[MON_NEU]);
                sqlite3_bind_int64(st, 6, w->c[MON_POS]);
                sqlite3_bind_text(st, 7, neg, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 8, any, -1, SQLITE_TRANSIENT);
                free(neg);
                free(any);
                rc = step(m, st, "saving open windows", err);
        }
        return rc;
}

int
mon_state_commit(socfw_monitor *m, socfw_error *err)
{
        int rc = exec(m, "DELETE FROM open_windows;", "saving open windows",
                      err);
        for (size_t i = 0; i < m->n_slots && rc == 0; i++)
                if (m->slots[i])
                        rc = save_key(m, m->slots[i], err);
#define SAVE(f)                                                  \
        if (rc == 0)                                             \
                rc = meta_set(m, #f, (double)m->st.f, err);
        STAT_FIELDS(SAVE)
#undef SAVE
        if (rc == 0)
                rc = meta_set(m, "version", STATE_VERSION, err);
        if (rc == 0)
                rc = meta_set(m, "have_time", m->have_time, err);
        if (rc == 0)
                rc = meta_set(m, "max_time", m->max_time, err);
        if (rc == 0)
                rc = meta_set(m, "closed_k", (double)m->closed_k, err);
        if (rc == 0)
                rc = meta_set(m, "lines", (double)m->lines, err);
        if (rc == 0)
                rc = meta_set(m, "offset", (double)m->offset, err);
        if (rc == 0)
                rc = meta_set(m, "window_size", m->cfg.size, err);
        if (rc == 0)
                rc = meta_set(m, "window_step", m->cfg.step, err);
        if (rc == 0) {
                sqlite3_stmt *st = m->stmt[ST_META];
                sqlite3_bind_text(st, 1, "input", -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, m->input_name, -1, SQLITE_STATIC);
                rc = step(m, st, "saving the position", err);
        }
        if (rc == 0)
                rc = exec(m, "COMMIT;", "committing windows", err);
        if (rc == 0)
                m->in_tx = 0;
        return rc;
}

int
mon_state_save_window(socfw_monitor *m, const mon_closed *w,
                      socfw_error *err)
{
        sqlite3_stmt *st = m->stmt[ST_WINDOW];
        sqlite3_bind_text(st, 1, w->key->name, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, w->start);
        sqlite3_bind_double(st, 3, w->end);
        sqlite3_bind_int64(st, 4, w->w->n);
        sqlite3_bind_int64(st, 5, w->w->c[MON_NEG]);
        sqlite3_bind_int64(st, 6, w->w->c[MON_NEU]);
        sqlite3_bind_int64(st, 7, w->w->c[MON_POS]);
        return step(m, st, "saving a window", err);
}

int
mon_state_add_alert(socfw_monitor *m, const char *id, const char *key,
                    double start, double end, const char *metric,
                    const char *json, socfw_error *err)
{
        sqlite3_stmt *st = m->stmt[ST_ALERT];
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, start);
        sqlite3_bind_double(st, 4, end);
        sqlite3_bind_text(st, 5, metric, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, json, -1, SQLITE_STATIC);
        int rc = step(m, st, "recording an alert", err);
        if (rc < 0)
                return rc;
        if (sqlite3_changes(m->db) == 0)
                return 0; /* recorded by an earlier run: not again */
        const char *sinks[3];
        size_t n = mon_sinks(m, sinks);
        st = m->stmt[ST_DELIVERY];
        for (size_t i = 0; i < n && rc == 0; i++) {
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, sinks[i], -1, SQLITE_STATIC);
                rc = step(m, st, "recording a delivery", err);
        }
        return rc < 0 ? rc : 1;
}

/* ---- loading ---- */

static int
load_ids(const char *js, char ids[][MON_ID_MAX], uint8_t *n)
{
        json_t *a = js ? json_loads(js, 0, NULL) : NULL;
        size_t i;
        json_t *it;
        *n = 0;
        json_array_foreach(a, i, it)
        {
                if (*n >= MON_SAMPLES_MAX || !json_is_string(it))
                        break;
                snprintf(ids[(*n)++], MON_ID_MAX, "%s", json_string_value(it));
        }
        json_decref(a);
        return 0;
}

int
mon_state_load(socfw_monitor *m, socfw_error *err)
{
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(m->db, "SELECT k, v FROM meta", -1, &st,
                                    NULL);
        if (rc != SQLITE_OK)
                return mon_state_db_fail(m, rc, "loading", err);
        double size = 0, stp = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *k = (const char *)sqlite3_column_text(st, 0);
                double v = sqlite3_column_double(st, 1);
                sqlite3_int64 iv = sqlite3_column_int64(st, 1);
                if (!k)
                        continue;
#define LOAD(f)                         \
        if (strcmp(k, #f) == 0)         \
                m->st.f = iv;
                STAT_FIELDS(LOAD)
#undef LOAD
                if (!strcmp(k, "have_time"))
                        m->have_time = (int)iv;
                else if (!strcmp(k, "max_time"))
                        m->max_time = v;
                else if (!strcmp(k, "closed_k"))
                        m->closed_k = iv;
                else if (!strcmp(k, "lines"))
                        m->lines = iv;
                else if (!strcmp(k, "offset"))
                        m->offset = iv;
                else if (!strcmp(k, "window_size"))
                        size = v;
                else if (!strcmp(k, "window_step"))
                        stp = v;
                else if (!strcmp(k, "input"))
                        snprintf(m->input_name, sizeof m->input_name, "%s",
                                 (const char *)sqlite3_column_text(st, 1));
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
                return mon_state_db_fail(m, rc, "loading", err);
        if (size > 0 && (size != m->cfg.size || stp != m->cfg.step))
                return socfw_error_set_at(
                        err, SOCFW_ESCHEMA, m->state_path, 0, 0,
                        "this state was built with windows of %g s every "
                        "%g s, the pipeline now asks for %g s every %g s; "
                        "hint: give --state a new file for the new windows",
                        size, stp, m->cfg.size, m->cfg.step);
        rc = sqlite3_prepare_v2(m->db, "SELECT * FROM keys", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return mon_state_db_fail(m, rc, "loading keys", err);
        int r = 0;
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                mon_key *k;
                const char *name = (const char *)sqlite3_column_text(st, 0);
                r = mon_get_key(m, name ? name : "", &k, err);
                if (r == 0) { /* over max_keys now: forget it */
                        continue;
                } else if (r < 0) {
                        break;
                }
                r = 0;
                k->next_k = sqlite3_column_int64(st, 1);
                k->cooldown_until = sqlite3_column_double(st, 2);
                for (int d = 0; d < MET_COUNT; d++) {
                        k->det[d].mean = sqlite3_column_double(st, 3 + 4 * d);
                        k->det[d].var = sqlite3_column_double(st, 4 + 4 * d);
                        k->det[d].cusum = sqlite3_column_double(st, 5 + 4 * d);
                        k->det[d].n = sqlite3_column_int64(st, 6 + 4 * d);
                        lag_load(&k->det[d],
                                 (const char *)sqlite3_column_text(
                                         st, 11 + d));
                }
        }
        sqlite3_finalize(st);
        if (r < 0)
                return r;
        rc = sqlite3_prepare_v2(m->db, "SELECT * FROM open_windows", -1, &st,
                                NULL);
        if (rc != SQLITE_OK)
                return mon_state_db_fail(m, rc, "loading windows", err);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                mon_key *k;
                const char *name = (const char *)sqlite3_column_text(st, 0);
                if (mon_get_key(m, name ? name : "", &k, err) <= 0)
                        continue;
                int64_t idx = sqlite3_column_int64(st, 1);
                int64_t cap = (int64_t)m->ring_cap;
                mon_window *w = &k->ring[((idx % cap) + cap) % cap];
                memset(w, 0, sizeof *w);
                w->k = idx;
                w->n = (uint32_t)sqlite3_column_int64(st, 2);
                w->c[MON_NEG] = (uint32_t)sqlite3_column_int64(st, 3);
                w->c[MON_NEU] = (uint32_t)sqlite3_column_int64(st, 4);
                w->c[MON_POS] = (uint32_t)sqlite3_column_int64(st, 5);
                load_ids((const char *)sqlite3_column_text(st, 6), w->neg_ids,
                         &w->n_neg_ids);
                load_ids((const char *)sqlite3_column_text(st, 7), w->any_ids,
                         &w->n_any_ids);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
                return mon_state_db_fail(m, rc, "loading windows", err);
        return 0;
}

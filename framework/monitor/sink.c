/* sink.c - delivering alerts: a webhook (JSON POST with libcurl, retries
 * with exponential backoff and jitter, Idempotency-Key, HMAC-SHA256
 * signature), a JSON Lines file, a command reading the alert on stdin.
 * Every delivery is a row of the state's `deliveries` table, marked sent
 * only after its sink accepted it: a failure stays pending and is tried
 * again later in this run and at the next start. */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "monitor/monitor_impl.h"
#include "socfw/log.h"

/* ---- waiting ---- */

static void
sleep_seconds(double s)
{
        if (!(s > 0))
                return;
        struct timespec ts = {.tv_sec = (time_t)s,
                              .tv_nsec = (long)((s - floor(s)) * 1e9)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* backoff * 2^attempt, capped, times a random factor in [0.5, 1]. */
static double
backoff_delay(double backoff, double max_backoff, int attempt)
{
        double d = backoff * pow(2.0, attempt);
        if (d > max_backoff)
                d = max_backoff;
        return d * (0.5 + 0.5 * randombytes_uniform(1001) / 1000.0);
}

static double
wall(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- webhook ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
discard(char *p, size_t size, size_t n, void *user)
{
        (void)p;
        (void)user;
        return size * n;
}

static size_t
header_cb(char *p, size_t size, size_t n, void *user)
{
        double *retry_after = user;
        size_t len = size * n;
        if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
                char buf[32];
                size_t l = len - 12 < sizeof buf - 1 ? len - 12
                                                     : sizeof buf - 1;
                memcpy(buf, p + 12, l);
                buf[l] = '\0';
                char *end;
                double v = strtod(buf, &end);
                if (end != buf && v >= 0)
                        *retry_after = v;
        }
        return len;
}

int
socfw_monitor_post_json(const char *url, const char *body,
                        const char *idempotency_key, const char *secret,
                        double timeout, int retries, double backoff,
                        double max_backoff, int *attempts, socfw_error *err)
{
        pthread_once(&curl_once, curl_init_once);
        if (sodium_init() < 0)
                return socfw_error_set(err, SOCFW_EINTERNAL,
                                       "libsodium failed to initialise");
        CURL *h = curl_easy_init();
        struct curl_slist *hdrs = NULL;
        char line[256];
        int rc = 0;
        *attempts = 0;
        if (!h)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "User-Agent: socfw-monitor");
        if (idempotency_key) {
                snprintf(line, sizeof line, "Idempotency-Key: %s",
                         idempotency_key);
                hdrs = curl_slist_append(hdrs, line);
        }
        if (secret && *secret) {
                unsigned char mac[crypto_auth_hmacsha256_BYTES];
                char hex[2 * sizeof mac + 1];
                crypto_auth_hmacsha256_state st;
                crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
                                            strlen(secret));
                crypto_auth_hmacsha256_update(
                        &st, (const unsigned char *)body, strlen(body));
                crypto_auth_hmacsha256_final(&st, mac);
                sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
                snprintf(line, sizeof line, "X-Socfw-Signature: sha256=%s",
                         hex);
                hdrs = curl_slist_append(hdrs, line);
        }
        double retry_after = -1;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(timeout * 1000));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &retry_after);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        char why[CURL_ERROR_SIZE + 64] = "";
        for (int attempt = 0;; attempt++) {
                char ebuf[CURL_ERROR_SIZE] = "";
                curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
                retry_after = -1;
                CURLcode cc = curl_easy_perform(h);
                (*attempts)++;
                long status = 0;
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
                if (cc == CURLE_OK && status >= 200 && status < 300)
                        goto out;
                int retryable;
                if (cc != CURLE_OK) {
                        snprintf(why, sizeof why, "%s",
                                 ebuf[0] ? ebuf : curl_easy_strerror(cc));
                        retryable = 1;
                } else {
                        snprintf(why, sizeof why, "HTTP status %ld", status);
                        retryable = status == 429 || status == 408 ||
                                    status >= 500;
                }
                if (!retryable || attempt >= retries) {
                        rc = socfw_error_set(
                                err, SOCFW_EIO,
                                "webhook %s: %s after %d attempt%s%s", url,
                                why, *attempts, *attempts == 1 ? "" : "s",
                                retryable ? "" : " (not retried: the "
                                                 "receiver refused the "
                                                 "alert)");
                        goto out;
                }
                double d = backoff_delay(backoff, max_backoff, attempt);
                if (status == 429 && retry_after >= 0)
                        d = fmin(fmax(d, retry_after), max_backoff);
                sleep_seconds(d);
        }
out:
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        return rc;
}

/* ---- JSON Lines file ---- */

static int
jsonl_append(const char *path, const char *json, char *why, size_t why_size)
{
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
                snprintf(why, why_size, "%s: %s", path, strerror(errno));
                return -1;
        }
        size_t len = strlen(json);
        char *line = malloc(len + 1);
        int ok = line != NULL;
        if (ok) {
                memcpy(line, json, len);
                line[len] = '\n';
                ok = write(fd, line, len + 1) == (ssize_t)(len + 1) &&
                     fsync(fd) == 0;
        }
        if (!ok)
                snprintf(why, why_size, "%s: %s", path,
                         line ? strerror(errno) : "out of memory");
        free(line);
        close(fd);
        return ok ? 0 : -1;
}

/* ---- command ---- */

static int
command_run(const char *cmd, const char *id, const char *json,
            double timeout, char *why, size_t why_size)
{
        int fds[2];
        if (pipe(fds) < 0) {
                snprintf(why, why_size, "pipe: %s", strerror(errno));
                return -1;
        }
        pid_t pid = fork();
        if (pid < 0) {
                snprintf(why, why_size, "fork: %s", strerror(errno));
                close(fds[0]);
                close(fds[1]);
                return -1;
        }
        if (pid == 0) {
                dup2(fds[0], STDIN_FILENO);
                close(fds[0]);
                close(fds[1]);
                setenv("SOCFW_ALERT_ID", id, 1);
                execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
                _exit(127);
        }
        close(fds[0]);
        /* a command that does not read its input must not kill us */
        sigset_t pipe_set, old;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
        size_t len = strlen(json), done = 0;
        while (done < len) {
                ssize_t w = write(fds[1], json + done, len - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                done += (size_t)w;
        }
        if (done == len)
                (void)!write(fds[1], "\n", 1);
        close(fds[1]);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
                ;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        double deadline = wall() + timeout;
        int status = 0;
        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        break;
                if (r < 0 && errno != EINTR) {
                        snprintf(why, why_size, "waitpid: %s",
                                 strerror(errno));
                        return -1;
                }
                if (wall() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        snprintf(why, why_size,
                                 "command did not finish within %g s",
                                 timeout);
                        return -1;
                }
                sleep_seconds(0.005);
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status))
                snprintf(why, why_size, "command exited with status %d",
                         WEXITSTATUS(status));
        else
                snprintf(why, why_size, "command killed by signal %d",
                         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return -1;
}

/* ---- deliveries ---- */

size_t
mon_sinks(const socfw_monitor *m, const char *names[3])
{
        size_t n = 0;
        if (m->cfg.webhook_url[0])
                names[n++] = "webhook";
        if (m->cfg.jsonl_path[0])
                names[n++] = "jsonl";
        if (m->cfg.command[0])
                names[n++] = "command";
        return n;
}

int
mon_deliver_one(socfw_monitor *m, const char *sink, const char *id,
                const char *json, char *why, size_t why_size)
{
        const mon_config *c = &m->cfg;
        if (strcmp(sink, "webhook") == 0) {
                socfw_error e = {0};
                int attempts;
                const char *secret = c->webhook_secret_env[0]
                                             ? getenv(c->webhook_secret_env)
                                             : NULL;
                int rc = socfw_monitor_post_json(
                        c->webhook_url, json, id, secret, c->webhook_timeout,
                        c->retries, c->backoff, c->max_backoff, &attempts,
                        &e);
                if (rc < 0)
                        snprintf(why, why_size, "%s", e.message);
                return rc < 0 ? -1 : 0;
        }
        /* the file and the command get the same retries as the webhook */
        for (int attempt = 0;; attempt++) {
                int rc = strcmp(sink, "jsonl") == 0
                                 ? jsonl_append(c->jsonl_path, json, why,
                                                why_size)
                         : strcmp(sink, "command") == 0
                                 ? command_run(c->command, id, json,
                                               c->command_timeout, why,
                                               why_size)
                                 : (snprintf(why, why_size,
                                             "sink '%s' is not configured",
                                             sink),
                                    -1);
                if (rc == 0 || attempt >= c->retries ||
                    (strcmp(sink, "jsonl") && strcmp(sink, "command")))
                        return rc;
                sleep_seconds(backoff_delay(c->backoff, c->max_backoff,
                                            attempt));
        }
}

typedef struct pending {
        char *id, *sink, *json;
        int64_t attempts;
} pending;

int
mon_deliver_pending(socfw_monitor *m, char **only, size_t n_only, int all,
                    socfw_error *err)
{
        sqlite3_stmt *st = NULL, *up = NULL;
        pending *list = NULL;
        size_t n = 0, cap = 0;
        int rc = 0;
        const char *sinks[3];
        size_t n_sinks = mon_sinks(m, sinks);
        int sq = sqlite3_prepare_v2(
                m->db,
                "SELECT d.alert_id, d.sink, a.json, d.attempts FROM "
                "deliveries d JOIN alerts a ON a.id = d.alert_id WHERE "
                "d.status != 'sent' ORDER BY a.seq",
                -1, &st, NULL);
        if (sq != SQLITE_OK) {
                rc = mon_state_db_fail(m, sq, "reading deliveries", err);
                goto out;
        }
        /* old pending deliveries are retried at most once a minute while
         * the stream runs */
        int retry_old = all || wall() - m->last_retry > 60;
        while ((sq = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *)sqlite3_column_text(st, 0);
                const char *sink = (const char *)sqlite3_column_text(st, 1);
                const char *json = (const char *)sqlite3_column_text(st, 2);
                if (!id || !sink || !json)
                        continue;
                int fresh = 0;
                for (size_t i = 0; i < n_only; i++)
                        fresh |= strcmp(only[i], id) == 0;
                if (!fresh && !retry_old)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        pending *p = realloc(list, cap * sizeof *p);
                        if (!p) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        list = p;
                }
                list[n] = (pending){strdup(id), strdup(sink), strdup(json),
                                    sqlite3_column_int64(st, 3)};
                if (!list[n].id || !list[n].sink || !list[n].json) {
                        free(list[n].id);
                        free(list[n].sink);
                        free(list[n].json);
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                n++;
        }
        if (sq != SQLITE_DONE) {
                rc = mon_state_db_fail(m, sq, "reading deliveries", err);
                goto out;
        }
        if (retry_old)
                m->last_retry = wall();
        sq = sqlite3_prepare_v2(m->db,
                                "UPDATE deliveries SET status = ?1, "
                                "attempts = ?2, last_error = ?3 WHERE "
                                "alert_id = ?4 AND sink = ?5",
                                -1, &up, NULL);
        if (sq != SQLITE_OK) {
                rc = mon_state_db_fail(m, sq, "recording a delivery", err);
                goto out;
        }
        unsigned down = 0; /* sinks that failed in this pass */
        for (size_t i = 0; i < n; i++) {
                size_t s = n_sinks;
                for (size_t j = 0; j < n_sinks; j++)
                        if (strcmp(sinks[j], list[i].sink) == 0)
                                s = j;
                if (s == n_sinks) {
                        socfw_log(SOCFW_LOG_LEVEL_WARN,
                                  "monitor: alert %s waits for sink '%s', "
                                  "which is not configured now; it stays "
                                  "pending",
                                  list[i].id, list[i].sink);
                        continue;
                }
                if (down & (1u << s))
                        continue;
                char why[1200] = "";
                int ok = mon_deliver_one(m, list[i].sink, list[i].id,
                                         list[i].json, why, sizeof why) == 0;
                if (list[i].attempts > 0 && ok)
                        m->st.resent++;
                if (!ok) {
                        down |= 1u << s;
                        socfw_log(SOCFW_LOG_LEVEL_WARN,
                                  "monitor: alert %s not delivered to %s "
                                  "(%s); kept in the state, tried again "
                                  "later and at the next start",
                                  list[i].id, list[i].sink, why);
                }
                sqlite3_bind_text(up, 1, ok ? "sent" : "pending", -1,
                                  SQLITE_STATIC);
                sqlite3_bind_int64(up, 2, list[i].attempts + 1);
                sqlite3_bind_text(up, 3, why, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(up, 4, list[i].id, -1, SQLITE_STATIC);
                sqlite3_bind_text(up, 5, list[i].sink, -1, SQLITE_STATIC);
                sq = sqlite3_step(up);
                sqlite3_reset(up);
                if (sq != SQLITE_DONE) {
                        rc = mon_state_db_fail(m, sq, "recording a delivery",
                                               err);
                        goto out;
                }
        }
out:
        sqlite3_finalize(st);
        sqlite3_finalize(up);
        for (size_t i = 0; i < n; i++) {
                free(list[i].id);
                free(list[i].sink);
                free(list[i].json);
        }
        free(list);
        if (rc == 0 && m->db) {
                sqlite3_stmt *c = NULL;
                if (sqlite3_prepare_v2(m->db,
                                       "SELECT count(*) FROM deliveries "
                                       "WHERE status != 'sent'",
                                       -1, &c, NULL) == SQLITE_OK &&
                    sqlite3_step(c) == SQLITE_ROW)
                        m->st.deliveries_pending = sqlite3_column_int64(c, 0);
                sqlite3_finalize(c);
        }
        return rc;
}

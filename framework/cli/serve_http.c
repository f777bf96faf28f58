/* serve_http.c - the HTTP side of `socfw serve` (see serve.h): the daemon,
 * authentication, admission, the access log, signals and routing.
 *
 * Admission: at most `workers` requests that run the chain are handled at
 * once and at most `queue` more wait for a slot, first come first
 * admitted; the next one gets 503
 * with Retry-After, as does one that waited longer than the request
 * timeout, and every request while the server drains.  /health, /metrics
 * and /v1/models are answered without a slot.
 *
 * Access log: one JSON object per line per request (time, id, method,
 * route, status, milliseconds, bytes received) - never a body, a header
 * or an address, so no personal data reaches the log.
 *
 * Signals: SIGTERM/SIGINT drain (new requests get 503, requests holding a
 * slot finish, at most the request timeout), then stop; SIGHUP reloads the
 * run's adapters whose current version changed (socfw/continual.h) once
 * the requests using the model are done; requests arriving meanwhile
 * wait, none is dropped.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/serve.h"
#include "socfw/continual.h"

double
serve_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- responses ---- */

enum MHD_Result
serve_queue(struct MHD_Connection *c, serve_request *rq, unsigned status,
            struct MHD_Response *r)
{
        if (!r)
                return MHD_NO;
        rq->status = status;
        if (status == 503)
                MHD_add_response_header(r, "Retry-After", "1");
        enum MHD_Result res = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return res;
}

enum MHD_Result
serve_send_text(struct MHD_Connection *c, serve_request *rq, unsigned status,
                char *text)
{
        if (!text) {
                static const char oom[] = "{\"error\":\"out of memory\","
                                          "\"status\":500}";
                return serve_queue(c, rq, 500,
                                   MHD_create_response_from_buffer(
                                           sizeof oom - 1, (void *)oom,
                                           MHD_RESPMEM_PERSISTENT));
        }
        struct MHD_Response *r = MHD_create_response_from_buffer(
                strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/json");
        return serve_queue(c, rq, status, r);
}

enum MHD_Result
serve_send_json(struct MHD_Connection *c, serve_request *rq, unsigned status,
                json_t *doc)
{
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        return serve_send_text(c, rq, status, text);
}

enum MHD_Result
serve_send_error(struct MHD_Connection *c, serve_request *rq, unsigned status,
                 const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return serve_send_json(c, rq, status,
                               json_pack("{s:s, s:i}", "error", msg, "status",
                                         (int)status));
}

json_t *
serve_parse_body(const serve_request *rq, char *msg, size_t size)
{
        return serve_parse_json(rq->body, rq->len, msg, size);
}

/* ---- admission ---- */

/* A request waiting for a slot: the queue is first come first admitted,
 * so a request arriving as a slot frees does not overtake those waiting
 * (with the broadcast wake-up alone, waiters lost to newcomers and to each
 * other: the p99 at 32 clients over 8 workers was 7-10 x the p50). */
typedef struct serve_waiter {
        struct serve_waiter *next;
        pthread_cond_t cond;    /* signalled when it may be its turn */
} serve_waiter;

/* Wake the first request in line (only it can take a slot: waking every
 * waiter at each slot freed cost 8 workers with 24 waiting up to 14% of their
 * requests/s). */
static void
waiter_wake_head(server *s)
{
        if (s->wait_head)
                pthread_cond_signal(&s->wait_head->cond);
}

/* A waiter may take a slot when it is first in line and a slot is free. */
static int
waiter_turn(const server *s, const serve_waiter *me)
{
        return s->wait_head == me && s->active < s->o.workers;
}

static void
waiter_unlink(server *s, serve_waiter *me)
{
        serve_waiter **pp = &s->wait_head;
        while (*pp && *pp != me)
                pp = &(*pp)->next;
        if (!*pp)
                return;
        *pp = me->next;
        if (s->wait_tail == &me->next)
                s->wait_tail = pp;
}

unsigned
serve_enter(server *s, serve_request *rq)
{
        unsigned st = 0;
        pthread_mutex_lock(&s->lock);
        if (s->draining) {
                st = 503;
        } else if (s->active < s->o.workers && !s->wait_head) {
                s->active++;
        } else if (s->waiting >= s->o.queue) {
                st = 503;
        } else {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += s->o.timeout;
                serve_waiter me = {.next = NULL};
                pthread_cond_init(&me.cond, NULL);
                *s->wait_tail = &me;
                s->wait_tail = &me.next;
                s->waiting++;
                while (!s->draining && !waiter_turn(s, &me))
                        if (pthread_cond_timedwait(&me.cond, &s->lock,
                                                   &until) == ETIMEDOUT)
                                break;
                if (s->draining || !waiter_turn(s, &me))
                        st = 503;
                waiter_unlink(s, &me);
                s->waiting--;
                if (!st)
                        s->active++;
                pthread_cond_destroy(&me.cond);
                /* the next in line may go now (or is the new head) */
                waiter_wake_head(s);
        }
        pthread_mutex_unlock(&s->lock);
        rq->admitted = st == 0;
        return st;
}

void
serve_leave(server *s)
{
        pthread_mutex_lock(&s->lock);
        s->active--;
        waiter_wake_head(s);
        pthread_cond_broadcast(&s->cond);       /* a drain waits */
        pthread_mutex_unlock(&s->lock);
}

int
serve_chain_run(server *s, socfw_post *post, socfw_error *err)
{
        /* the runtime's inference is re-entrant (one socfw_context per
         * call over the shared weights): workers run at once */
        return socfw_chain_run(s->model.chain, post, err);
}

/* ---- authentication ---- */

/* 1 when the request carries the bearer token (or none is required). */
static int
authorised(server *s, struct MHD_Connection *c)
{
        if (!s->o.api_key)
                return 1;
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                    "Authorization");
        if (!h || strncasecmp(h, "Bearer ", 7) != 0)
                return 0;
        h += 7;
        size_t n = strlen(h), k = strlen(s->o.api_key);
        /* compare in constant time for equal lengths */
        return n == k && sodium_memcmp(h, s->o.api_key, k) == 0;
}

/* ---- routing ---- */

typedef struct route_def {
        const char *path;
        serve_route route;
        const char *method;
} route_def;

static const route_def routes[] = {
        {"/health", ROUTE_HEALTH, "GET"},
        {"/v1/predict", ROUTE_PREDICT, "POST"},
        {"/v1/chat/completions", ROUTE_CHAT, "POST"},
        {"/v1/completions", ROUTE_COMPLETIONS, "POST"},
        {"/v1/models", ROUTE_MODELS, "GET"},
        {"/metrics", ROUTE_METRICS, "GET"},
        {"/", ROUTE_UI, "GET"},
        {"/index.html", ROUTE_UI, "GET"},
};

static enum MHD_Result
dispatch(server *s, struct MHD_Connection *c, serve_request *rq,
         const route_def *rd)
{
        if (rd->route == ROUTE_HEALTH)
                return serve_health(s, c, rq);
        if (rd->route == ROUTE_MODELS)
                return serve_models(s, c, rq);
        if (rd->route == ROUTE_UI)
                return serve_ui(s, c, rq);
        if (rd->route == ROUTE_METRICS) {
                pthread_mutex_lock(&s->lock);
                int q = s->waiting, a = s->active;
                pthread_mutex_unlock(&s->lock);
                char *text = serve_metrics_text(s->metrics, q, a,
                                                s->o.workers, s->o.queue,
                                                s->model.rt);
                if (!text)
                        return serve_send_text(c, rq, 500, NULL);
                struct MHD_Response *r = MHD_create_response_from_buffer(
                        strlen(text), text, MHD_RESPMEM_MUST_FREE);
                if (!r) {
                        free(text);
                        return MHD_NO;
                }
                MHD_add_response_header(r, "Content-Type",
                                        "text/plain; version=0.0.4");
                return serve_queue(c, rq, 200, r);
        }
        int openai = rd->route == ROUTE_CHAT ||
                     rd->route == ROUTE_COMPLETIONS;
        if (rq->too_large)
                return openai ? serve_openai_error(c, rq, 413, NULL,
                                                   "request body over "
                                                   "1 MiB")
                              : serve_send_error(c, rq, 413,
                                                 "request body over 1 MiB");
        unsigned st = serve_enter(s, rq);
        if (st)
                return openai ? serve_openai_error(
                                        c, rq, st, NULL,
                                        "the server is busy or stopping; "
                                        "retry later")
                              : serve_send_error(c, rq, st,
                                                 "the server is busy or "
                                                 "stopping (hint: retry "
                                                 "after Retry-After "
                                                 "seconds)");
        enum MHD_Result res;
        if (rd->route == ROUTE_PREDICT)
                res = serve_predict(s, c, rq);
        else
                res = serve_openai(s, c, rq, rd->route == ROUTE_CHAT);
        /* a stream keeps its slot until its generator ends */
        if (rq->admitted)
                serve_leave(s);
        rq->admitted = 0;
        return res;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
       const char *method, const char *version, const char *upload,
       size_t *upload_size, void **con_cls)
{
        (void)version;
        server *s = cls;
        serve_request *rq = *con_cls;
        if (!rq) {
                rq = calloc(1, sizeof *rq);
                if (!rq)
                        return MHD_NO;
                rq->t0 = serve_now();
                rq->route = ROUTE_OTHER;
                /* known methods only: the log never echoes the client */
                static const char *const known[] = {"GET", "HEAD", "POST",
                                                    "PUT", "DELETE",
                                                    "OPTIONS", "PATCH"};
                snprintf(rq->method, sizeof rq->method, "OTHER");
                for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
                        if (!strcmp(method, known[i]))
                                snprintf(rq->method, sizeof rq->method, "%s",
                                         known[i]);
                pthread_mutex_lock(&s->lock);
                rq->id = ++s->seq;
                pthread_mutex_unlock(&s->lock);
                *con_cls = rq;
                return MHD_YES;
        }
        if (*upload_size) {
                if (rq->len + *upload_size > SERVE_MAX_BODY) {
                        rq->too_large = 1;
                } else if (!rq->too_large) {
                        char *g = realloc(rq->body,
                                          rq->len + *upload_size + 1);
                        if (!g)
                                return MHD_NO;
                        rq->body = g;
                        memcpy(rq->body + rq->len, upload, *upload_size);
                        rq->len += *upload_size;
                        rq->body[rq->len] = '\0';
                }
                *upload_size = 0;
                return MHD_YES;
        }
        const route_def *rd = NULL;
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
                if (!strcmp(url, routes[i].path))
                        rd = &routes[i];
        if (!rd)
                return serve_send_error(
                        c, rq, 404,
                        "no such endpoint: %s (hint: POST /v1/predict, POST "
                        "/v1/chat/completions, GET /health; `socfw help "
                        "serve` lists them)",
                        url);
        rq->route = rd->route;
        /* the page and /health are public; the page asks for the key */
        if (rd->route != ROUTE_HEALTH && rd->route != ROUTE_UI &&
            !authorised(s, c)) {
                struct MHD_Response *r = MHD_create_response_from_buffer(
                        0, (void *)"", MHD_RESPMEM_PERSISTENT);
                json_t *doc = json_pack(
                        "{s:s, s:i}", "error",
                        "missing or wrong bearer token (hint: send "
                        "Authorization: Bearer KEY with the server's "
                        "--api-key)",
                        "status", 401);
                char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
                json_decref(doc);
                if (text) {
                        MHD_destroy_response(r);
                        r = MHD_create_response_from_buffer(
                                strlen(text), text, MHD_RESPMEM_MUST_FREE);
                }
                if (r) {
                        MHD_add_response_header(r, "WWW-Authenticate",
                                                "Bearer");
                        MHD_add_response_header(r, "Content-Type",
                                                "application/json");
                } else {
                        free(text);
                }
                return serve_queue(c, rq, 401, r);
        }
        if (strcmp(method, rd->method) != 0) {
                if (!strcmp(method, "HEAD") && !strcmp(rd->method, "GET"))
                        return dispatch(s, c, rq, rd);
                char msg[256];
                snprintf(msg, sizeof msg, "use %s %s", rd->method, rd->path);
                json_t *doc = json_pack("{s:s, s:i}", "error", msg, "status",
                                        405);
                char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
                json_decref(doc);
                struct MHD_Response *r =
                        text ? MHD_create_response_from_buffer(
                                       strlen(text), text,
                                       MHD_RESPMEM_MUST_FREE)
                             : NULL;
                if (!r) {
                        free(text);
                        return MHD_NO;
                }
                MHD_add_response_header(
                        r, "Allow",
                        !strcmp(rd->method, "GET") ? "GET, HEAD" : "POST");
                MHD_add_response_header(r, "Content-Type",
                                        "application/json");
                return serve_queue(c, rq, 405, r);
        }
        pthread_rwlock_rdlock(&s->model_lock);
        enum MHD_Result res = dispatch(s, c, rq, rd);
        pthread_rwlock_unlock(&s->model_lock);
        return res;
}

static void
access_log(server *s, const serve_request *rq, double secs)
{
        if (!s->log)
                return;
        char when[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        pthread_mutex_lock(&s->log_lock);
        fprintf(s->log,
                "{\"time\":\"%s\",\"id\":%llu,\"method\":\"%s\","
                "\"route\":\"%s\",\"status\":%u,\"ms\":%.1f,"
                "\"bytes_in\":%zu}\n",
                when, rq->id, rq->method, serve_route_name(rq->route),
                rq->status, secs * 1000.0, rq->len);
        fflush(s->log);
        pthread_mutex_unlock(&s->log_lock);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
          enum MHD_RequestTerminationCode toe)
{
        server *s = cls;
        serve_request *rq = *con_cls;
        (void)c;
        (void)toe;
        if (rq) {
                double secs = serve_now() - rq->t0;
                if (rq->status) {
                        serve_metrics_request(s->metrics, rq->route,
                                              rq->status, secs);
                        access_log(s, rq, secs);
                }
                free(rq->body);
                free(rq);
        }
        *con_cls = NULL;
}

/* ---- the daemon ---- */

static int
loopback(const char *host)
{
        return !strncmp(host, "127.", 4);
}

static void
release(serve_model *m)
{
        if (m->release)
                m->release(m->owner);
        memset(m, 0, sizeof *m);
}

/* SIGHUP: the run's adapters whose current version changed are loaded
 * in place while no request uses the model (requests arriving meanwhile
 * wait); without a trained run, the model is built again first and then
 * swapped in. */
static void
reload(server *s)
{
        if (s->model.rt) {
                socfw_error err = {0};
                size_t changed = 0;
                pthread_rwlock_wrlock(&s->model_lock);
                int rc = socfw_runtime_reload_adapters(s->model.rt, &changed,
                                                       &err);
                pthread_rwlock_unlock(&s->model_lock);
                if (rc < 0)
                        cli_error(&err);   /* the loaded ones keep serving */
                else
                        fprintf(stderr, "socfw: reloaded: %zu adapter%s "
                                        "changed version\n",
                                changed, changed == 1 ? "" : "s");
                return;
        }
        if (!s->o.reload) {
                fprintf(stderr, "socfw: SIGHUP ignored (nothing to "
                                "reload)\n");
                return;
        }
        fprintf(stderr, "socfw: reloading the model (SIGHUP)\n");
        serve_model fresh = {0};
        if (s->o.reload(s->o.reload_user, &fresh) < 0) {
                fprintf(stderr, "socfw: reload failed; still serving the "
                                "model loaded before\n");
                return;
        }
        pthread_rwlock_wrlock(&s->model_lock);
        serve_model old = s->model;
        s->model = fresh;
        s->dialog = cli_chat_stage(fresh.p, &s->dialog_last);
        s->records = cli_chain_reads_records(fresh.p, NULL);
        pthread_rwlock_unlock(&s->model_lock);
        release(&old);
        fprintf(stderr, "socfw: reloaded\n");
}

int
serve_run(const serve_opts *o, serve_model *model)
{
        server s;
        memset(&s, 0, sizeof s);
        s.o = *o;
        s.model = *model;
        memset(model, 0, sizeof *model);
        int rc = CLI_FAIL;
        struct MHD_Daemon *d = NULL;
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)o->port)};
        if (inet_pton(AF_INET, o->host, &addr.sin_addr) != 1) {
                cli_errorf("--host %s: not an IPv4 address (hint: 127.0.0.1 "
                           "for this machine only, 0.0.0.0 for all)",
                           o->host);
                release(&s.model);
                return CLI_USAGE;
        }
        if (!loopback(o->host) && !o->api_key) {
                cli_errorf("--host %s listens beyond this machine: give "
                           "--api-key KEY (or SOCFW_API_KEY) so that only "
                           "clients with the key are answered",
                           o->host);
                release(&s.model);
                return CLI_USAGE;
        }
        if (sodium_init() < 0) {
                cli_errorf("libsodium failed to initialise");
                release(&s.model);
                return CLI_FAIL;
        }
        pthread_rwlock_init(&s.model_lock, NULL);
        pthread_mutex_init(&s.lock, NULL);
        pthread_mutex_init(&s.log_lock, NULL);
        pthread_cond_init(&s.cond, NULL);
        s.wait_tail = &s.wait_head;
        s.dialog = cli_chat_stage(s.model.p, &s.dialog_last);
        s.records = cli_chain_reads_records(s.model.p, NULL);
        s.metrics = serve_metrics_new();
        if (o->access_log && !strcmp(o->access_log, "-")) {
                s.log = stderr;
        } else if (o->access_log &&
                   !(s.log = fopen(o->access_log, "a"))) {
                cli_errorf("--access-log %s: %s", o->access_log,
                           strerror(errno));
                goto out;
        }
        if (!s.metrics) {
                cli_errorf("out of memory");
                goto out;
        }
        /* threads inherit a mask without these, so sigwait gets them; a
         * client that goes away must not kill the server (SIGPIPE) */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);
        d = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD |
                        MHD_USE_THREAD_PER_CONNECTION,
                (uint16_t)o->port, NULL, NULL, handle, &s,
                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                MHD_OPTION_NOTIFY_COMPLETED, completed, &s,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout,
                MHD_OPTION_CONNECTION_LIMIT,
                (unsigned)(o->workers + o->queue + 16), MHD_OPTION_END);
        if (!d) {
                cli_errorf("cannot listen on %s:%d (hint: is the port in "
                           "use? --port 0 picks a free one)",
                           o->host, o->port);
                goto out;
        }
        const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        fprintf(stderr,
                "socfw: serving %s on http://%s:%u (%d workers, queue %d%s%s"
                "); `socfw help serve` lists the endpoints; Ctrl-C "
                "stops\n",
                socfw_pipeline_path(s.model.p), o->host,
                info ? info->port : (unsigned)o->port, o->workers, o->queue,
                o->api_key ? ", bearer token required" : "",
                s.dialog ? ", OpenAI-compatible chat" : "");
        int sig = 0;
        for (;;) {
                sigwait(&sigs, &sig);
                if (sig != SIGHUP)
                        break;
                reload(&s);
        }
        fprintf(stderr, "socfw: stopping (signal %d); draining\n", sig);
        /* drain: refuse new work, let admitted requests finish */
        pthread_mutex_lock(&s.lock);
        s.draining = 1;
        pthread_cond_broadcast(&s.cond);
        for (serve_waiter *w = s.wait_head; w; w = w->next)
                pthread_cond_signal(&w->cond);  /* each leaves with 503 */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += o->timeout;
        while (s.active > 0 &&
               pthread_cond_timedwait(&s.cond, &s.lock, &until) !=
                       ETIMEDOUT) {
        }
        int left = s.active;
        pthread_mutex_unlock(&s.lock);
        if (left)
                fprintf(stderr, "socfw: %d request%s still running after "
                                "%d s; stopping anyway\n",
                        left, left == 1 ? "" : "s", o->timeout);
        MHD_stop_daemon(d);
        if (left)       /* a generator may still use it: the exit frees */
                memset(&s.model, 0, sizeof s.model);
        rc = CLI_OK;
out:
        if (s.log && s.log != stderr)
                fclose(s.log);
        serve_metrics_free(s.metrics);
        release(&s.model);
        pthread_cond_destroy(&s.cond);
        pthread_mutex_destroy(&s.log_lock);
        pthread_mutex_destroy(&s.lock);
        pthread_rwlock_destroy(&s.model_lock);
        return rc;
}

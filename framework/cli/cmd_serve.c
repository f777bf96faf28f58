/* cmd_serve.c - `socfw serve`: a pipeline's chain behind a small JSON HTTP
 * API (libmicrohttpd).
 *
 *   GET  /health       {"status": "ok", "pipeline": ..., "stages": [...]}
 *   POST /v1/predict   a record {"text": ..., "session": ..., ...} or an
 *                      array of up to SERVE_MAX_BATCH records; the answer
 *                      is what `socfw predict` writes for each (the record
 *                      with every stage's annotations), as an object or an
 *                      array.  A "session" makes a dialog stage continue
 *                      that conversation.
 *
 * Errors are JSON too: {"error": "...", "status": N}.  Requests are served
 * one at a time (one polling thread; the runtime is not re-entrant), bodies
 * are capped at SERVE_MAX_BODY, idle connections time out, and SIGINT or
 * SIGTERM stop the server after the request in progress.  SIGHUP reloads
 * the tasks' adapters whose current version changed (socfw adapter
 * promote/rollback, a continued run that passed its gate) between two
 * requests.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cli/cli.h"
#include "socfw/chain.h"
#include "socfw/continual.h"

#define SERVE_MAX_BODY (1u << 20)
#define SERVE_MAX_BATCH 256

typedef struct server {
        socfw_chain *chain;
        const socfw_pipeline *p;
        const char *text_field;
        pthread_mutex_t lock;
} server;

/* The body of one request, collected over the handler's calls. */
typedef struct request {
        char *body;
        size_t len;
        int too_large;
} request;

/* Answer with `text` (JSON, consumed; NULL: out of memory). */
static enum MHD_Result
send_text(struct MHD_Connection *c, unsigned status, char *text)
{
        if (!text) {
                static const char oom[] = "{\"error\":\"out of memory\","
                                          "\"status\":500}";
                struct MHD_Response *r = MHD_create_response_from_buffer(
                        sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
                enum MHD_Result res = MHD_queue_response(c, 500, r);
                MHD_destroy_response(r);
                return res;
        }
        size_t len = strlen(text);
        struct MHD_Response *r = MHD_create_response_from_buffer(
                len, text, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result res = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return res;
}

static enum MHD_Result
send_json(struct MHD_Connection *c, unsigned status, json_t *doc)
{
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        return send_text(c, status, text);
}

static enum MHD_Result
send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
        return send_json(c, status, json_pack("{s:s, s:i}", "error", msg,
                                              "status", (int)status));
}

/* Run the chain over one record (JSON text); *out gets the annotated
 * record as JSON text (caller frees).  Returns 0, or an HTTP status with
 * *msg filled. */
static unsigned
predict_one(server *s, const char *json, size_t len, char **out,
            char *msg, size_t msg_size)
{
        socfw_error err = {0};
        socfw_post *post = NULL;
        unsigned status = 0;
        int rc = socfw_post_from_json(&post, json, len, s->text_field, &err);
        if (rc < 0) {
                status = 400;
        } else {
                pthread_mutex_lock(&s->lock);
                rc = socfw_chain_run(s->chain, post, &err);
                pthread_mutex_unlock(&s->lock);
                if (rc < 0)
                        status = rc == SOCFW_EINVAL ? 422 : 500;
        }
        if (status) {
                snprintf(msg, msg_size, "%s", err.message);
                socfw_post_free(post);
                return status;
        }
        *out = socfw_post_to_json(post);
        socfw_post_free(post);
        if (!*out) {
                snprintf(msg, msg_size, "out of memory");
                return 500;
        }
        return 0;
}

static enum MHD_Result
predict(server *s, struct MHD_Connection *c, const request *rq)
{
        char msg[SOCFW_ERROR_MSG_MAX + 128];
        char *out = NULL;
        if (rq->len == 0)
                return send_error(c, 400, "empty body (hint: send a JSON "
                                          "record such as {\"text\": "
                                          "\"...\"})");
        /* an array is a batch; anything else goes to the post parser,
         * which reports its own errors */
        const char *p = rq->body;
        while (p < rq->body + rq->len && (*p == ' ' || *p == '\t' ||
                                          *p == '\r' || *p == '\n'))
                p++;
        if (p == rq->body + rq->len || *p != '[') {
                unsigned st = predict_one(s, rq->body, rq->len, &out, msg,
                                          sizeof msg);
                return st ? send_error(c, st, msg) : send_text(c, 200, out);
        }
        json_error_t je;
        json_t *arr = json_loadb(rq->body, rq->len, 0, &je);
        if (!arr) {
                snprintf(msg, sizeof msg,
                         "invalid JSON at line %d column %d: %s", je.line,
                         je.column, je.text);
                return send_error(c, 400, msg);
        }
        if (json_array_size(arr) > SERVE_MAX_BATCH) {
                json_decref(arr);
                snprintf(msg, sizeof msg, "more than %d records in one "
                                          "request",
                         SERVE_MAX_BATCH);
                return send_error(c, 413, msg);
        }
        /* the answers' JSON texts joined into an array as they come */
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        unsigned st = m ? 0 : 500;
        snprintf(msg, sizeof msg, "out of memory");
        if (m)
                fputc('[', m);
        for (size_t i = 0; st == 0 && i < json_array_size(arr); i++) {
                char *one = json_dumps(json_array_get(arr, i),
                                       JSON_COMPACT | JSON_ENCODE_ANY);
                char *res = NULL;
                char m1[SOCFW_ERROR_MSG_MAX + 64] = "out of memory";
                st = one ? predict_one(s, one, strlen(one), &res, m1,
                                       sizeof m1)
                         : 500;
                free(one);
                if (st)
                        snprintf(msg, sizeof msg, "record %zu: %s", i, m1);
                else
                        fprintf(m, "%s%s", i ? "," : "", res);
                free(res);
        }
        json_decref(arr);
        if (m) {
                fputc(']', m);
                if (fclose(m) != 0 && st == 0)
                        st = 500;
        }
        if (st) {
                free(out);
                return send_error(c, st, msg);
        }
        return send_text(c, 200, out);
}

static enum MHD_Result
health(server *s, struct MHD_Connection *c)
{
        json_t *stages = json_array();
        for (size_t i = 0; stages && i < socfw_chain_len(s->chain); i++)
                json_array_append_new(
                        stages, json_string(socfw_chain_stage_name(s->chain, i)));
        return send_json(c, 200,
                         json_pack("{s:s, s:s, s:o}", "status", "ok",
                                   "pipeline", socfw_pipeline_path(s->p),
                                   "stages", stages ? stages : json_array()));
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
       const char *method, const char *version, const char *upload,
       size_t *upload_size, void **con_cls)
{
        (void)version;
        server *s = cls;
        request *rq = *con_cls;
        if (!rq) {
                rq = calloc(1, sizeof *rq);
                if (!rq)
                        return MHD_NO;
                *con_cls = rq;
                return MHD_YES;
        }
        if (*upload_size) {
                if (rq->len + *upload_size > SERVE_MAX_BODY) {
                        rq->too_large = 1;
                } else if (!rq->too_large) {
                        char *g = realloc(rq->body, rq->len + *upload_size +
                                                            1);
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
        int is_get = !strcmp(method, MHD_HTTP_METHOD_GET);
        int is_post = !strcmp(method, MHD_HTTP_METHOD_POST);
        if (!strcmp(url, "/health")) {
                if (is_get)
                        return health(s, c);
                return send_error(c, 405, "use GET /health");
        }
        if (!strcmp(url, "/v1/predict")) {
                if (!is_post)
                        return send_error(c, 405, "use POST /v1/predict");
                if (rq->too_large)
                        return send_error(c, 413, "request body over 1 MiB");
                return predict(s, c, rq);
        }
        return send_error(c, 404, "no such endpoint (hint: POST "
                                  "/v1/predict or GET /health)");
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
          enum MHD_RequestTerminationCode toe)
{
        (void)cls;
        (void)c;
        (void)toe;
        request *rq = *con_cls;
        if (rq) {
                free(rq->body);
                free(rq);
        }
        *con_cls = NULL;
}

int
cli_serve(socfw_chain *chain, const socfw_pipeline *p,
          struct socfw_runtime *rt, const char *host, int port,
          const char *text_field)
{
        server s = {.chain = chain, .p = p, .text_field = text_field};
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)port)};
        if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
                cli_errorf("--host %s: not an IPv4 address (hint: 127.0.0.1 "
                           "for this machine only, 0.0.0.0 for all)",
                           host);
                return CLI_USAGE;
        }
        pthread_mutex_init(&s.lock, NULL);
        /* the server thread inherits a mask without SIGINT/SIGTERM, so
         * sigwait below receives them */
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &stop, NULL);
        struct MHD_Daemon *d = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL,
                handle, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
        if (!d) {
                cli_errorf("cannot listen on %s:%d (hint: is the port in "
                           "use? --port 0 picks a free one)",
                           host, port);
                pthread_mutex_destroy(&s.lock);
                return CLI_FAIL;
        }
        const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        fprintf(stderr,
                "socfw: serving %s on http://%s:%u (POST /v1/predict, GET "
                "/health); Ctrl-C stops\n",
                socfw_pipeline_path(p), host,
                info ? info->port : (unsigned)port);
        int sig = 0;
        while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) {
                socfw_error err = {0};
                size_t changed = 0;
                int rc = 0;
                pthread_mutex_lock(&s.lock);
                if (rt)
                        rc = socfw_runtime_reload_adapters(rt, &changed, &err);
                pthread_mutex_unlock(&s.lock);
                if (rc < 0)
                        cli_error(&err);   /* the loaded ones keep serving */
                else
                        fprintf(stderr, "socfw: reloaded: %zu adapter%s "
                                "changed version\n", changed,
                                changed == 1 ? "" : "s");
        }
        fprintf(stderr, "socfw: stopping (signal %d)\n", sig);
        MHD_stop_daemon(d);
        pthread_mutex_destroy(&s.lock);
        return CLI_OK;
}

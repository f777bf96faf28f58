/* serve.h - `socfw serve`: the HTTP server around a pipeline's chain
 * (internal to the socfw program).
 *
 *   serve_http.c     the daemon (libmicrohttpd, one thread per connection),
 *                    bearer-token auth, admission (workers + bounded queue,
 *                    503 + Retry-After), timeouts, access log, drain on
 *                    SIGTERM, reload on SIGHUP, routing
 *   serve_predict.c  GET /health, POST /v1/predict
 *   serve_openai.c   POST /v1/chat/completions, POST /v1/completions,
 *                    GET /v1/models (dialog pipelines), server-sent events
 *   serve_parse.c    request bodies -> request values (serve_parse.h)
 *   serve_metrics.c  GET /metrics (Prometheus text format)
 *   serve_ui.c       GET / (the web page, web/index.html as installed)
 *
 * One model (runtime + chain) serves every request, with one copy of the
 * weights: the inference engine's hooks take a socfw_context and buffers
 * per call (framework/engine/scratch.c), so up to `--workers` chain runs
 * go at once; concurrent classifications are micro-batched into one
 * forward pass (framework/engine/batch.c) and concurrent generations
 * decoded in shared batched steps (framework/engine/decode_batch.c).  The
 * kernels share socfw's one thread pool (socfw/threads.h), whose parallel
 * loops are serialised across callers.
 */
#ifndef SOCFW_CLI_SERVE_H
#define SOCFW_CLI_SERVE_H

#include <pthread.h>
#include <stdio.h>

#include <jansson.h>
#include <microhttpd.h>

#include "cli/serve_parse.h"
#include "socfw/chain.h"
#include "socfw/pipeline.h"


/* What serves: a chain over a pipeline, and who owns them. */
typedef struct serve_model {
        struct socfw_chain *chain;
        struct socfw_chain *mask;       /* the chain's first stage alone
                                           when it is a privacy stage (for
                                           chat history), or NULL         */
        const socfw_pipeline *p;
        struct socfw_runtime *rt;       /* NULL: no trained model        */
        void *owner;                    /* released by release(owner)    */
        void (*release)(void *owner);
} serve_model;

/* Build a fresh model (SIGHUP); returns 0 or -1 after printing why. */
typedef int (*serve_load_fn)(void *user, serve_model *out);

typedef struct serve_opts {
        const char *host;
        int port;                       /* 0: any free port               */
        const char *text_field;         /* NULL: "text"                   */
        int workers;                    /* requests handled at once       */
        int queue;                      /* requests waiting at most       */
        int timeout;                    /* seconds per request            */
        const char *api_key;            /* bearer token, or NULL          */
        const char *access_log;         /* file, "-" = stderr, NULL: none */
        serve_load_fn reload;           /* NULL: SIGHUP is ignored        */
        void *reload_user;
} serve_opts;

/* Routes, for metrics and the access log. */
typedef enum serve_route {
        ROUTE_HEALTH, ROUTE_PREDICT, ROUTE_CHAT, ROUTE_COMPLETIONS,
        ROUTE_MODELS, ROUTE_METRICS, ROUTE_UI, ROUTE_OTHER, ROUTE_COUNT
} serve_route;

const char *serve_route_name(serve_route r);

/* ---- metrics (serve_metrics.c) ---- */

typedef struct serve_metrics serve_metrics;

serve_metrics *serve_metrics_new(void);
void serve_metrics_free(serve_metrics *m);
/* One answered request: route, status, seconds. */
void serve_metrics_request(serve_metrics *m, serve_route r, unsigned status,
                           double seconds);
void serve_metrics_tokens(serve_metrics *m, long n);
/* Records in one /v1/predict request (1 for an object). */
void serve_metrics_batch(serve_metrics *m, size_t n);
/* The exposition text (caller frees); queue/in-flight are sampled now. */
char *serve_metrics_text(serve_metrics *m, int queued, int in_flight,
                         int workers, int queue_max,
                         struct socfw_runtime *rt);

/* ---- the server (serve_http.c) ---- */

typedef struct server {
        serve_opts o;
        serve_model model;
        pthread_rwlock_t model_lock;    /* read: a request uses the model;
                                           write: SIGHUP swaps it         */
        pthread_mutex_t lock;           /* admission state below          */
        pthread_cond_t cond;
        int active, waiting, draining;
        struct serve_waiter *wait_head; /* requests waiting for a slot,   */
        struct serve_waiter **wait_tail;/* first come first admitted      */
        unsigned long long seq;         /* request ids                    */
        serve_metrics *metrics;
        FILE *log;                      /* access log, or NULL            */
        pthread_mutex_t log_lock;
        /* the dialog stage of the chain, or NULL (serve_openai.c) */
        const char *dialog;
        int dialog_last;                /* no stage after it: streamable  */
        /* every stage reads records of its own (an ad-copy brief, a
         * {user}): /v1/predict records need no text field */
        int records;
} server;

/* One request (the handler's per-connection state). */
typedef struct serve_request {
        char *body;
        size_t len;
        int too_large;
        serve_route route;
        unsigned status;
        double t0;
        unsigned long long id;
        int admitted;                   /* holds a worker slot            */
        char method[8];
} serve_request;

double serve_now(void);

/* Responses: JSON text (consumed; NULL = out of memory), a JSON document
 * (consumed), and socfw's error object {"error": msg, "status": N}. */
enum MHD_Result serve_send_text(struct MHD_Connection *c, serve_request *rq,
                                unsigned status, char *text);
enum MHD_Result serve_send_json(struct MHD_Connection *c, serve_request *rq,
                                unsigned status, json_t *doc);
enum MHD_Result serve_send_error(struct MHD_Connection *c, serve_request *rq,
                                 unsigned status, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Queue a response built by the caller, recording its status. */
enum MHD_Result serve_queue(struct MHD_Connection *c, serve_request *rq,
                            unsigned status, struct MHD_Response *r);

/* Admission: wait for a worker slot (at most the request timeout).
 * Returns 0 (slot held: serve_leave it), or the status to answer with
 * (503: queue full, draining, or waited too long). */
unsigned serve_enter(server *s, serve_request *rq);
void serve_leave(server *s);

/* Parse a request body as one JSON value; NULL after filling msg (400). */
json_t *serve_parse_body(const serve_request *rq, char *msg, size_t size);

/* Run the chain on post (concurrently with other workers). */
int serve_chain_run(server *s, socfw_post *post, socfw_error *err);

/* ---- endpoints ---- */

enum MHD_Result serve_health(server *s, struct MHD_Connection *c,
                             serve_request *rq);
enum MHD_Result serve_predict(server *s, struct MHD_Connection *c,
                              serve_request *rq);
enum MHD_Result serve_models(server *s, struct MHD_Connection *c,
                             serve_request *rq);
enum MHD_Result serve_ui(server *s, struct MHD_Connection *c,
                         serve_request *rq);
/* chat: 1 for /v1/chat/completions, 0 for /v1/completions */
enum MHD_Result serve_openai(server *s, struct MHD_Connection *c,
                             serve_request *rq, int chat);
/* OpenAI's error object {"error": {message, type, param, code}}. */
enum MHD_Result serve_openai_error(struct MHD_Connection *c,
                                   serve_request *rq, unsigned status,
                                   const char *param, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));


/* Serve until SIGINT/SIGTERM (drain: requests in progress finish, new
 * ones get 503).  Takes over `model` (released at the end).  Returns a
 * CLI_* exit code. */
int serve_run(const serve_opts *o, serve_model *model);

#endif

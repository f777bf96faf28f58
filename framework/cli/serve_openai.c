/* serve_openai.c - the OpenAI-compatible API of `socfw serve` for
 * pipelines whose chain has a dialog stage.
 *
 *   GET  /v1/models            {"object": "list", "data": [{"id": STAGE,
 *                              "object": "model", ...}]}: the dialog stage
 *   POST /v1/chat/completions  messages -> one assistant message
 *   POST /v1/completions       prompt   -> one text completion
 *
 * A request runs the pipeline's chain exactly as `socfw chat` does: the
 * last user message (the prompt) is the post, so the privacy stage masks
 * it, the sentiment stage labels it and the label sets the reply's tone,
 * and a privacy stage after the dialog stage scrubs the reply.  Earlier
 * messages are the conversation so far (the dialog stage's
 * <task>.messages); when the chain starts with a privacy stage they are
 * masked by it first.  Nothing is stored: each request carries its
 * history, as with OpenAI.
 *
 * Request fields read: model (the dialog stage's name), messages (chat;
 * roles system, developer, user, assistant; content a string or an array
 * of {"type": "text", "text": ...} parts; the last one from the user),
 * prompt (completions; a string or an array of one string), temperature
 * (0..2), top_p (0..1], max_tokens or max_completion_tokens (>= 1, capped
 * by the stage's max_reply_tokens), stop (a string or up to 4), seed, n
 * (1 only), stream, stream_options.include_usage.  Other fields (user,
 * presence_penalty, logprobs, ...) are accepted and ignored, as OpenAI's
 * clients send some of them by default.  Wrong types are refused with
 * 400 naming the field; an unknown model with 404 (code
 * model_not_found); errors use OpenAI's {"error": {"message", "type",
 * "param", "code"}}.
 *
 * Streaming (stream: true) answers with server-sent events in OpenAI's
 * chunk format ending with `data: [DONE]`.  When the dialog stage is the
 * chain's last stage the reply is sent as it is generated; when a stage
 * follows it (privacy scrubbing the reply) the reply is sent once that
 * stage has run, so nothing unscrubbed leaves the server.  A client that
 * goes away stops the generation (the stage's stream descriptor fails).
 * A reply (streamed or not) is bounded by the server's --timeout: at the
 * deadline the stage's descriptor is shut, which stops the generation; a
 * plain request then gets 504, a stream its end.
 * The answer carries an extension object "socfw": {"mood", "tone"} (the
 * sentiment label and the tone it chose; "prompt" too when the stage's
 * debug_prompt is on).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/serve.h"

/* ---- errors ---- */

enum MHD_Result
serve_openai_error(struct MHD_Connection *c, serve_request *rq,
                   unsigned status, const char *param, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        const char *type = status == 401   ? "authentication_error"
                           : status == 404 ? "invalid_request_error"
                           : status == 503 ? "server_error"
                           : status >= 500 ? "server_error"
                                           : "invalid_request_error";
        const char *code = status == 404   ? "model_not_found"
                           : status == 503 ? "overloaded"
                                           : NULL;
        return serve_send_json(
                c, rq, status,
                json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message",
                          msg, "type", type, "param", param, "code", code));
}

enum MHD_Result
serve_models(server *s, struct MHD_Connection *c, serve_request *rq)
{
        json_t *data = json_array();
        if (data && s->dialog)
                json_array_append_new(
                        data, json_pack("{s:s, s:s, s:i, s:s}", "id",
                                        s->dialog, "object", "model",
                                        "created", 0, "owned_by", "socfw"));
        return serve_send_json(c, rq, 200,
                               json_pack("{s:s, s:o}", "object", "list",
                                         "data",
                                         data ? data : json_array()));
}

/* ---- the request ---- */

/* Mask the history with the chain's first stage when it is a privacy
 * stage (s->model.mask). */
static int
mask_history(server *s, json_t *history, socfw_error *err)
{
        if (!s->model.mask || !history)
                return 0;
        size_t i;
        json_t *m;
        json_array_foreach(history, i, m) {
                const char *t = json_string_value(json_object_get(m,
                                                                  "content"));
                socfw_post *p = socfw_post_new(t ? t : "", NULL);
                if (!p)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                int rc = socfw_chain_run(s->model.mask, p, err);
                if (rc == 0)
                        json_object_set_new(m, "content",
                                            json_string(socfw_post_text(p)));
                socfw_post_free(p);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

/* What the chain left: the reply, token counts, mood, tone. */
typedef struct oai_result {
        char *reply;
        long prompt_tokens, completion_tokens;
        char *mood, *tone;
        char *prompt;           /* with the stage's debug_prompt on      */
} oai_result;

static void
result_clear(oai_result *res)
{
        free(res->reply);
        free(res->mood);
        free(res->tone);
        free(res->prompt);
        memset(res, 0, sizeof *res);
}

static void
collect(server *s, const socfw_post *post, oai_result *res)
{
        char key[256];
        const char *d = s->dialog;
        double v = 0;
        snprintf(key, sizeof key, "%s.reply", d);
        const char *reply = socfw_post_get_string(post, key);
        /* the post's text is the reply after the later stages */
        const char *text = socfw_post_text(post);
        int as_text = 0;
        for (size_t i = 0; i < socfw_pipeline_task_count(s->model.p); i++) {
                const socfw_config *t = socfw_pipeline_task(s->model.p, i);
                const char *name = socfw_config_get_string(t, "name");
                if (name && !strcmp(name, d))
                        as_text = socfw_config_get_bool(t, "reply_as_text");
        }
        res->reply = strdup(as_text && text ? text : reply ? reply : "");
        snprintf(key, sizeof key, "%s.prompt_tokens", d);
        if (socfw_post_get_number(post, key, &v) == 0)
                res->prompt_tokens = (long)v;
        snprintf(key, sizeof key, "%s.reply_tokens", d);
        if (socfw_post_get_number(post, key, &v) == 0)
                res->completion_tokens = (long)v;
        snprintf(key, sizeof key, "%s.tone", d);
        const char *tone = socfw_post_get_string(post, key);
        res->tone = tone ? strdup(tone) : NULL;
        snprintf(key, sizeof key, "%s.prompt", d);
        const char *prompt = socfw_post_get_string(post, key);
        res->prompt = prompt ? strdup(prompt) : NULL;
        /* the sentiment stage the dialog stage read its label from */
        const char *mood = NULL;
        for (size_t i = 0; !mood && i < socfw_chain_len(s->model.chain);
             i++) {
                snprintf(key, sizeof key, "%s.label",
                         socfw_chain_stage_name(s->model.chain, i));
                mood = socfw_post_get_string(post, key);
        }
        res->mood = mood ? strdup(mood) : NULL;
        serve_metrics_tokens(s->metrics, res->completion_tokens);
}

static const char *
finish_reason(const oai_req *r, const oai_result *res)
{
        return r->max_tokens && res->completion_tokens >= r->max_tokens
                       ? "length"
                       : "stop";
}

static void
new_id(char *buf, size_t size, int chat)
{
        unsigned char raw[12];
        char hex[25];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
        snprintf(buf, size, "%s-%s", chat ? "chatcmpl" : "cmpl", hex);
}

static json_t *
usage_json(const oai_result *res)
{
        return json_pack("{s:I, s:I, s:I}", "prompt_tokens",
                         (json_int_t)res->prompt_tokens, "completion_tokens",
                         (json_int_t)res->completion_tokens, "total_tokens",
                         (json_int_t)(res->prompt_tokens +
                                      res->completion_tokens));
}

static json_t *
extension_json(const oai_result *res)
{
        json_t *o = json_object();
        if (o && res->mood)
                json_object_set_new(o, "mood", json_string(res->mood));
        if (o && res->tone)
                json_object_set_new(o, "tone", json_string(res->tone));
        if (o && res->prompt)
                json_object_set_new(o, "prompt", json_string(res->prompt));
        return o;
}

/* ---- streaming ---- */

typedef struct job {
        server *s;
        oai_req r;
        socfw_post *post;
        int sv[2];              /* [0] the reader's end, [1] the stage's  */
        pthread_mutex_t lock;
        int refs, done, failed, rc;
        int owns_slot;          /* the generator leaves the worker slot  */
        char error[SOCFW_ERROR_MSG_MAX];
        oai_result res;
        char id[48];
        char model[128];        /* the request's lives in its body      */
        long long created;
        double deadline;
        /* the reader */
        int phase;
        char carry[4];
        size_t n_carry;
        char *pending;
        size_t pending_len, pending_off;
} job;

static void
job_unref(job *j)
{
        pthread_mutex_lock(&j->lock);
        int left = --j->refs;
        pthread_mutex_unlock(&j->lock);
        if (left)
                return;
        if (j->sv[0] >= 0)
                close(j->sv[0]);
        socfw_post_free(j->post);
        json_decref(j->r.history);
        json_decref(j->r.stop);
        result_clear(&j->res);
        free(j->pending);
        pthread_mutex_destroy(&j->lock);
        free(j);
}

static void *
generator(void *arg)
{
        job *j = arg;
        server *s = j->s;
        socfw_error err = {0};
        pthread_rwlock_rdlock(&s->model_lock);
        int rc = serve_chain_run(s, j->post, &err);
        pthread_mutex_lock(&j->lock);
        if (rc < 0) {
                j->failed = 1;
                j->rc = rc;
                snprintf(j->error, sizeof j->error, "%s", err.message);
        } else {
                collect(s, j->post, &j->res);
        }
        j->done = 1;
        pthread_mutex_unlock(&j->lock);
        close(j->sv[1]);        /* the reader sees the end */
        pthread_rwlock_unlock(&s->model_lock);
        if (j->owns_slot)
                serve_leave(s);
        job_unref(j);
        return NULL;
}

/* One SSE event with `doc` (consumed) appended to the pending bytes. */
static void
emit(job *j, json_t *doc)
{
        char *js = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!js)
                return;
        char *buf = NULL;
        int n = asprintf(&buf, "%.*sdata: %s\n\n",
                         (int)(j->pending_len - j->pending_off),
                         j->pending ? j->pending + j->pending_off : "", js);
        free(js);
        if (n < 0)
                return;
        free(j->pending);
        j->pending = buf;
        j->pending_len = (size_t)n;
        j->pending_off = 0;
}

static json_t *
chunk(job *j, const char *content, int role, const char *finish)
{
        json_t *choice;
        if (j->r.chat) {
                json_t *delta = json_object();
                if (role)
                        json_object_set_new(delta, "role",
                                            json_string("assistant"));
                if (content)
                        json_object_set_new(delta, "content",
                                            json_string(content));
                choice = json_pack("{s:i, s:o, s:n, s:s?}", "index", 0,
                                   "delta", delta, "logprobs",
                                   "finish_reason", finish);
                if (choice && !finish)
                        json_object_set_new(choice, "finish_reason",
                                            json_null());
        } else {
                choice = json_pack("{s:i, s:s, s:n, s:s?}", "index", 0,
                                   "text", content ? content : "",
                                   "logprobs", "finish_reason", finish);
                if (choice && !finish)
                        json_object_set_new(choice, "finish_reason",
                                            json_null());
        }
        return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", j->id,
                         "object",
                         j->r.chat ? "chat.completion.chunk"
                                   : "text_completion",
                         "created", (json_int_t)j->created, "model",
                         j->r.model, "choices", choice);
}

/* Bytes [0, n) of buf that end on a UTF-8 character boundary. */
static size_t
utf8_complete(const char *buf, size_t n)
{
        size_t i = n;
        size_t back = 0;
        while (i > 0 && back < 4 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80)
                i--, back++;
        if (i == 0)
                return n;
        unsigned char lead = (unsigned char)buf[i - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2
                                                                          : 1;
        return back + 1 >= need ? n : i - 1;
}

static ssize_t
reader(void *cls, uint64_t pos, char *out, size_t max)
{
        job *j = cls;
        (void)pos;
        for (;;) {
                if (j->pending_off < j->pending_len) {
                        size_t n = j->pending_len - j->pending_off;
                        n = n < max ? n : max;
                        memcpy(out, j->pending + j->pending_off, n);
                        j->pending_off += n;
                        return (ssize_t)n;
                }
                if (j->phase == 0) {
                        if (j->r.chat)
                                emit(j, chunk(j, "", 1, NULL));
                        j->phase = 1;
                        continue;
                }
                if (j->phase == 1) {
                        if (serve_now() > j->deadline)
                                shutdown(j->sv[0], SHUT_RDWR);
                        struct pollfd pf = {.fd = j->sv[0], .events = POLLIN};
                        if (poll(&pf, 1, 200) == 0)
                                continue;
                        char buf[4096];
                        memcpy(buf, j->carry, j->n_carry);
                        ssize_t n = read(j->sv[0], buf + j->n_carry,
                                         sizeof buf - j->n_carry - 1);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                j->phase = 2;
                                continue;
                        }
                        size_t have = j->n_carry + (size_t)n;
                        size_t ok = utf8_complete(buf, have);
                        j->n_carry = have - ok;
                        memcpy(j->carry, buf + ok, j->n_carry);
                        buf[ok] = '\0';
                        /* live only when no stage follows the dialog's */
                        if (ok && j->s->dialog_last)
                                emit(j, chunk(j, buf, 0, NULL));
                        continue;
                }
                if (j->phase == 2) {
                        pthread_mutex_lock(&j->lock);
                        int done = j->done;
                        pthread_mutex_unlock(&j->lock);
                        if (!done) {
                                usleep(10000);
                                continue;
                        }
                        if (j->failed) {
                                emit(j, json_pack("{s:{s:s, s:s}}", "error",
                                                  "message", j->error,
                                                  "type", "server_error"));
                        } else {
                                if (!j->s->dialog_last && j->res.reply)
                                        emit(j, chunk(j, j->res.reply, 0,
                                                      NULL));
                                json_t *last = chunk(
                                        j, NULL, 0,
                                        finish_reason(&j->r, &j->res));
                                json_object_set_new(last, "socfw",
                                                    extension_json(&j->res));
                                emit(j, last);
                                if (j->r.include_usage) {
                                        json_t *u = chunk(j, NULL, 0, NULL);
                                        json_object_set_new(u, "choices",
                                                            json_array());
                                        json_object_set_new(
                                                u, "usage",
                                                usage_json(&j->res));
                                        emit(j, u);
                                }
                        }
                        char *buf = NULL;
                        int n = asprintf(
                                &buf, "%.*sdata: [DONE]\n\n",
                                (int)(j->pending_len - j->pending_off),
                                j->pending ? j->pending + j->pending_off
                                           : "");
                        if (n >= 0) {
                                free(j->pending);
                                j->pending = buf;
                                j->pending_len = (size_t)n;
                                j->pending_off = 0;
                        }
                        j->phase = 3;
                        continue;
                }
                return MHD_CONTENT_READER_END_OF_STREAM;
        }
}

/* The response is gone (sent, or the client left): stop the stage's
 * writes so that generation ends. */
static void
reader_done(void *cls)
{
        job *j = cls;
        shutdown(j->sv[0], SHUT_RDWR);
        job_unref(j);
}

static enum MHD_Result
stream(server *s, struct MHD_Connection *c, serve_request *rq, oai_req *r,
       socfw_post *post)
{
        job *j = calloc(1, sizeof *j);
        if (!j) {
                socfw_post_free(post);
                return serve_openai_error(c, rq, 500, NULL, "out of memory");
        }
        j->s = s;
        j->r = *r;
        memset(r, 0, sizeof *r);        /* the job owns history and stop */
        j->post = post;
        snprintf(j->model, sizeof j->model, "%s", j->r.model);
        j->r.model = j->model;
        j->refs = 2;
        j->owns_slot = 1;
        j->created = (long long)time(NULL);
        j->deadline = rq->t0 + s->o.timeout;
        new_id(j->id, sizeof j->id, j->r.chat);
        pthread_mutex_init(&j->lock, NULL);
        char key[256];
        socfw_error err = {0};
        snprintf(key, sizeof key, "%s.stream_fd", s->dialog);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, j->sv) < 0 ||
            socfw_post_set_number(post, key, j->sv[1], &err) < 0) {
                j->refs = 1;
                j->sv[0] = j->sv[0] > 0 ? j->sv[0] : -1;
                job_unref(j);
                return serve_openai_error(c, rq, 500, NULL,
                                          "cannot stream: %s",
                                          strerror(errno));
        }
        struct MHD_Response *resp = MHD_create_response_from_callback(
                MHD_SIZE_UNKNOWN, 4096, reader, j, reader_done);
        if (!resp) {
                close(j->sv[1]);
                j->refs = 1;
                job_unref(j);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        /* the generator holds the slot and the model until it ends */
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, generator, j) != 0) {
                pthread_attr_destroy(&at);
                close(j->sv[1]);
                MHD_destroy_response(resp);     /* reader_done: one ref */
                job_unref(j);
                return serve_openai_error(c, rq, 500, NULL,
                                          "cannot start the generator");
        }
        pthread_attr_destroy(&at);
        rq->admitted = 0;       /* serve_leave: by the generator */
        return serve_queue(c, rq, 200, resp);
}

/* Run the chain for a plain (not streamed) request on a generator thread
 * while this one waits at most until the request's deadline: then the
 * stage's stream descriptor is shut, which stops the generation.  Returns
 * 0 with res filled, or an HTTP status with msg. */
static unsigned
run_bounded(server *s, serve_request *rq, socfw_post *post, oai_result *res,
            char *msg, size_t size)
{
        job *j = calloc(1, sizeof *j);
        if (!j) {
                socfw_post_free(post);
                snprintf(msg, size, "out of memory");
                return 500;
        }
        j->s = s;
        j->post = post;
        j->refs = 2;
        j->sv[0] = j->sv[1] = -1;
        pthread_mutex_init(&j->lock, NULL);
        char key[256];
        snprintf(key, sizeof key, "%s.stream_fd", s->dialog);
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, j->sv) < 0 ||
            socfw_post_set_number(post, key, j->sv[1], NULL) < 0 ||
            pthread_create(&th, &at, generator, j) != 0) {
                pthread_attr_destroy(&at);
                if (j->sv[1] >= 0)
                        close(j->sv[1]);
                j->refs = 1;
                job_unref(j);
                snprintf(msg, size, "cannot start the generator: %s",
                         strerror(errno));
                return 500;
        }
        pthread_attr_destroy(&at);
        double deadline = rq->t0 + s->o.timeout;
        int timed_out = 0;
        char buf[4096];
        for (;;) {     /* the stage's pieces are not needed: drop them */
                if (!timed_out && serve_now() > deadline) {
                        timed_out = 1;
                        shutdown(j->sv[0], SHUT_RDWR);
                }
                struct pollfd pf = {.fd = j->sv[0], .events = POLLIN};
                if (poll(&pf, 1, 100) == 0)
                        continue;
                ssize_t n = read(j->sv[0], buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
        }
        /* the end of the descriptor comes after the results */
        pthread_mutex_lock(&j->lock);
        while (!j->done) {
                pthread_mutex_unlock(&j->lock);
                usleep(1000);
                pthread_mutex_lock(&j->lock);
        }
        unsigned st = 0;
        if (timed_out) {
                snprintf(msg, size, "the reply took longer than the "
                                    "server's --timeout (%d s)",
                         s->o.timeout);
                st = 504;
        } else if (j->failed) {
                snprintf(msg, size, "%s", j->error);
                st = j->rc == SOCFW_EINVAL ? 400 : 500;
        } else {
                *res = j->res;
                memset(&j->res, 0, sizeof j->res);
        }
        pthread_mutex_unlock(&j->lock);
        job_unref(j);
        return st;
}

/* ---- the endpoint ---- */

enum MHD_Result
serve_openai(server *s, struct MHD_Connection *c, serve_request *rq,
             int chat)
{
        char msg[SOCFW_ERROR_MSG_MAX + 256];
        const char *param = NULL;
        oai_req r = {.chat = chat};
        oai_result res = {0};
        socfw_post *post = NULL;
        socfw_error err = {0};
        enum MHD_Result ret;
        json_t *keep = json_array();
        json_t *doc = serve_parse_body(rq, msg, sizeof msg);
        if (!doc) {
                ret = serve_openai_error(c, rq, 400, NULL, "%s", msg);
                goto out;
        }
        if (!s->dialog) {
                ret = serve_openai_error(c, rq, 404, "model",
                                         "this pipeline's chain has no "
                                         "dialog stage to chat with (hint: "
                                         "POST /v1/predict)");
                goto out;
        }
        unsigned st = serve_oai_parse(s->dialog, doc, &r, keep, &param, msg,
                                      sizeof msg);
        if (st) {
                ret = serve_openai_error(c, rq, st, param, "%s", msg);
                goto out;
        }
        if (mask_history(s, r.history, &err) < 0 ||
            serve_oai_post(s->dialog, &r, &post, &err) < 0) {
                ret = serve_openai_error(c, rq, 500, NULL, "%s", err.message);
                goto out;
        }
        if (r.stream) {
                ret = stream(s, c, rq, &r, post);
                post = NULL;
                goto out;
        }
        st = run_bounded(s, rq, post, &res, msg, sizeof msg);
        post = NULL;    /* the job's */
        if (st) {
                ret = serve_openai_error(c, rq, st, NULL, "%s", msg);
                goto out;
        }
        char id[48];
        new_id(id, sizeof id, chat);
        json_t *choice =
                chat ? json_pack("{s:i, s:{s:s, s:s}, s:n, s:s}", "index", 0,
                                 "message", "role", "assistant", "content",
                                 res.reply ? res.reply : "", "logprobs",
                                 "finish_reason", finish_reason(&r, &res))
                     : json_pack("{s:i, s:s, s:n, s:s}", "index", 0, "text",
                                 res.reply ? res.reply : "", "logprobs",
                                 "finish_reason", finish_reason(&r, &res));
        ret = serve_send_json(
                c, rq, 200,
                json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o, s:o}", "id", id,
                          "object", chat ? "chat.completion"
                                         : "text_completion",
                          "created", (json_int_t)time(NULL), "model", r.model,
                          "choices", choice, "usage", usage_json(&res),
                          "socfw", extension_json(&res)));
out:
        result_clear(&res);
        socfw_post_free(post);
        json_decref(r.history);
        json_decref(r.stop);
        json_decref(doc);
        json_decref(keep);
        return ret;
}

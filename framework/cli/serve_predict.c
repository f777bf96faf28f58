/* serve_predict.c - GET /health and POST /v1/predict of `socfw serve`.
 *
 * /v1/predict takes one record {"text": ..., "session": ..., ...} or an
 * array of up to SERVE_MAX_BATCH of them and answers what `socfw predict`
 * writes for each: the record with every stage's annotations.  Fields
 * other than the text and "session" are kept and echoed back (so a
 * caller's ids come back with the answer).  With a dialog stage in the
 * chain the answer has the user's message as "input" (the text sent: the
 * privacy stage's offsets index it) and the reply as "output" (after every
 * later stage, e.g. scrubbed by privacy) instead of one "text"; the
 * dialog stage's own object keeps its raw "reply" and the masked "input"
 * it answered.
 *
 * Refused with 400 and a message naming the problem: an empty body,
 * invalid JSON or UTF-8, duplicate keys, a record that is not an object,
 * a missing text field, a text or session that is not a string.  413: a
 * body over 1 MiB or more than SERVE_MAX_BATCH records.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/serve.h"

enum MHD_Result
serve_health(server *s, struct MHD_Connection *c, serve_request *rq)
{
        json_t *stages = json_array();
        for (size_t i = 0; stages && i < socfw_chain_len(s->model.chain);
             i++)
                json_array_append_new(
                        stages, json_string(socfw_chain_stage_name(
                                        s->model.chain, i)));
        /* the pipeline's name, never its path on this machine */
        const char *path = socfw_pipeline_path(s->model.p);
        const char *base = path ? strrchr(path, '/') : NULL;
        base = base ? base + 1 : path ? path : "pipeline";
        return serve_send_json(
                c, rq, 200,
                json_pack("{s:s, s:s, s:o, s:s?}", "status", "ok",
                          "pipeline", base, "stages",
                          stages ? stages : json_array(), "chat",
                          s->dialog));
}

/* Run the chain over one record; *out gets the answer (new reference).
 * Returns 0, or an HTTP status with msg filled. */
static unsigned
predict_one(server *s, const json_t *rec, json_t **out, char *msg,
            size_t size)
{
        const char *field = s->o.text_field ? s->o.text_field : "text";
        unsigned st = serve_check_record(rec, field, s->records, msg, size);
        if (st)
                return st;
        socfw_error err = {0};
        socfw_post *post = NULL;
        char *in = json_dumps(rec, JSON_COMPACT), *js = NULL;
        int rc = !in        ? SOCFW_ENOMEM
                 : s->records ? socfw_post_from_record(&post, in, strlen(in),
                                                       field, &err)
                              : socfw_post_from_json(&post, in, strlen(in),
                                                     field, &err);
        if (rc < 0) {
                st = rc == SOCFW_ENOMEM ? 500 : 400;
        } else if ((rc = serve_chain_run(s, post, &err)) < 0) {
                st = rc == SOCFW_EINVAL ? 422 : 500;
        } else if (!(js = socfw_post_to_json(post)) ||
                   !(*out = json_loads(js, 0, NULL))) {
                st = 500;
                snprintf(err.message, sizeof err.message, "out of memory");
        }
        if (st) {
                snprintf(msg, size, "%s",
                         err.message[0] ? err.message : "out of memory");
                goto out;
        }
        if (s->dialog) {
                /* the user's message and the bot's reply, apart */
                json_object_set(*out, "input", json_object_get(rec, field));
                json_object_set(*out, "output", json_object_get(*out, field));
                json_object_del(*out, field);
                const json_t *stage = json_object_get(*out, s->dialog);
                double n = json_number_value(
                        json_object_get(stage, "reply_tokens"));
                serve_metrics_tokens(s->metrics, (long)n);
        }
out:
        free(in);
        free(js);
        socfw_post_free(post);
        return st;
}

enum MHD_Result
serve_predict(server *s, struct MHD_Connection *c, serve_request *rq)
{
        char msg[SOCFW_ERROR_MSG_MAX + 256];
        json_t *doc = serve_parse_body(rq, msg, sizeof msg);
        if (!doc)
                return serve_send_error(c, rq, 400, "%s", msg);
        if (!json_is_array(doc)) {
                json_t *ans = NULL;
                unsigned st = predict_one(s, doc, &ans, msg, sizeof msg);
                json_decref(doc);
                serve_metrics_batch(s->metrics, 1);
                return st ? serve_send_error(c, rq, st, "%s", msg)
                          : serve_send_json(c, rq, 200, ans);
        }
        size_t n = json_array_size(doc);
        if (n > SERVE_MAX_BATCH) {
                json_decref(doc);
                return serve_send_error(c, rq, 413,
                                        "%zu records in one request; at "
                                        "most %d (hint: split the batch)",
                                        n, SERVE_MAX_BATCH);
        }
        serve_metrics_batch(s->metrics, n);
        json_t *all = json_array();
        unsigned st = all ? 0 : 500;
        snprintf(msg, sizeof msg, "out of memory");
        for (size_t i = 0; !st && i < n; i++) {
                char m1[SOCFW_ERROR_MSG_MAX + 128];
                json_t *ans = NULL;
                st = predict_one(s, json_array_get(doc, i), &ans, m1,
                                 sizeof m1);
                if (st)
                        snprintf(msg, sizeof msg, "record %zu: %s", i, m1);
                else
                        json_array_append_new(all, ans);
        }
        json_decref(doc);
        if (st) {
                json_decref(all);
                return serve_send_error(c, rq, st, "%s", msg);
        }
        return serve_send_json(c, rq, 200, all);
}

/* fuzz_serve.c - libFuzzer target for `socfw serve`'s request bodies
 * (framework/cli/serve_parse.c): every input is tried as the body of
 * POST /v1/predict, /v1/chat/completions and /v1/completions.
 *
 * Checked: a refusal is 400 (404 for an unknown model) with a message; an
 * accepted predict record becomes a post whose JSON reads back with the
 * same text; an accepted OpenAI request has a non-empty prompt that
 * becomes the post's text, and every setting read back from the post is
 * the request's (the generation reads them from there). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/serve_parse.h"

#define DIALOG "dialog"

static void
check_predict(const json_t *rec)
{
        char msg[512] = "";
        /* a record the strict check takes, the lenient one (a chain of
         * record-reading stages) takes too */
        unsigned lenient = serve_check_record(rec, "text", 1, msg, sizeof msg);
        unsigned st = serve_check_record(rec, "text", 0, msg, sizeof msg);
        if (!st && lenient)
                abort();
        if (!lenient) {
                /* what serve does for a chain of record-reading stages */
                char *rin = json_dumps(rec, JSON_COMPACT);
                socfw_post *rp = NULL;
                socfw_error rerr = {0};
                if (rin && socfw_post_from_record(&rp, rin, strlen(rin),
                                                  "text", &rerr) < 0 &&
                    !rerr.message[0])
                        abort();
                char *rjs = rp ? socfw_post_to_json(rp) : NULL;
                json_t *rback = rjs ? json_loads(rjs, 0, NULL) : NULL;
                if (rjs && !rback)
                        abort();        /* the answer must be JSON */
                json_decref(rback);
                free(rjs);
                socfw_post_free(rp);
                free(rin);
        }
        if (st) {
                if (st != 400 || !msg[0])
                        abort();
                return;
        }
        char *in = json_dumps(rec, JSON_COMPACT);
        if (!in)
                return;
        socfw_post *post = NULL;
        socfw_error err = {0};
        if (socfw_post_from_json(&post, in, strlen(in), "text", &err) < 0) {
                if (!err.message[0])
                        abort();
                free(in);
                return;
        }
        char *js = socfw_post_to_json(post);
        json_t *back = js ? json_loads(js, 0, NULL) : NULL;
        if (js && !back)
                abort();        /* the answer must be JSON */
        const char *t = json_string_value(json_object_get(rec, "text"));
        if (back && strcmp(json_string_value(json_object_get(back, "text")),
                           t) != 0)
                abort();
        json_decref(back);
        free(js);
        free(in);
        socfw_post_free(post);
}

static void
check_openai(const json_t *doc, int chat)
{
        oai_req r = {.chat = chat};
        json_t *keep = json_array();
        const char *param = NULL;
        char msg[512] = "";
        unsigned st = serve_oai_parse(DIALOG, doc, &r, keep, &param, msg,
                                      sizeof msg);
        if (st) {
                if ((st != 400 && st != 404) || !msg[0])
                        abort();
                goto out;
        }
        if (!r.prompt || !r.prompt[0] || strcmp(r.model, DIALOG) != 0)
                abort();
        if (r.has_temperature && !(r.temperature >= 0 && r.temperature <= 2))
                abort();
        if (r.has_top_p && !(r.top_p > 0 && r.top_p <= 1))
                abort();
        socfw_post *post = NULL;
        socfw_error err = {0};
        if (serve_oai_post(DIALOG, &r, &post, &err) < 0) {
                if (!err.message[0])
                        abort();
                goto out;
        }
        if (strcmp(socfw_post_text(post), r.prompt) != 0)
                abort();
        double v;
        if (r.max_tokens &&
            (socfw_post_get_number(post, DIALOG ".max_tokens", &v) < 0 ||
             v != (double)r.max_tokens))
                abort();
        if (r.has_seed &&
            (socfw_post_get_number(post, DIALOG ".seed", &v) < 0 || v < 0))
                abort();
        const char *stop = socfw_post_get_string(post, DIALOG ".stop_json");
        if (r.stop && !stop)
                abort();
        if (stop) {
                json_t *s = json_loads(stop, 0, NULL);
                if (!json_is_array(s) || json_array_size(s) > 4)
                        abort();
                json_decref(s);
        }
        char *js = socfw_post_to_json(post);
        free(js);
        socfw_post_free(post);
out:
        serve_oai_req_clear(&r);
        json_decref(keep);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char msg[512] = "";
        if (size > SERVE_MAX_BODY)
                return 0;
        json_t *doc = serve_parse_json((const char *)data, size, msg,
                                       sizeof msg);
        if (!doc) {
                if (!msg[0])
                        abort();
                return 0;
        }
        if (json_is_array(doc)) {
                if (json_array_size(doc) <= SERVE_MAX_BATCH)
                        for (size_t i = 0; i < json_array_size(doc); i++)
                                check_predict(json_array_get(doc, i));
        } else {
                check_predict(doc);
        }
        check_openai(doc, 1);
        check_openai(doc, 0);
        json_decref(doc);
        return 0;
}

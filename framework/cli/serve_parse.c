/* serve_parse.c - request bodies of `socfw serve` -> request values (see
 * serve_parse.h).  No socket, no model: what the fuzz target drives. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/serve_parse.h"

json_t *
serve_parse_json(const char *body, size_t len, char *msg, size_t size)
{
        if (!body || len == 0) {
                snprintf(msg, size, "empty body (hint: send a JSON object)");
                return NULL;
        }
        json_error_t je;
        /* jansson refuses invalid UTF-8 and NUL bytes in strings */
        json_t *doc = json_loadb(body, len,
                                 JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                                 &je);
        if (!doc)
                snprintf(msg, size, "invalid %s at line %d column %d: %s",
                         strstr(je.text, "decode byte") ? "UTF-8 (the body "
                                                          "must be UTF-8 "
                                                          "JSON)"
                                                        : "JSON",
                         je.line, je.column, je.text);
        return doc;
}

unsigned
serve_check_record(const json_t *rec, const char *field, int text_optional,
                   char *msg, size_t size)
{
        if (!json_is_object(rec)) {
                snprintf(msg, size, "expected a JSON object such as "
                                    "{\"%s\": \"...\"}",
                         field);
                return 400;
        }
        const json_t *t = json_object_get(rec, field);
        if (!t && !text_optional) {
                snprintf(msg, size, "missing field '%s' (hint: {\"%s\": "
                                    "\"the post\"}; serve --text-field "
                                    "names another field)",
                         field, field);
                return 400;
        }
        if (t && !json_is_string(t)) {
                snprintf(msg, size, "field '%s' must be a string", field);
                return 400;
        }
        const json_t *ses = json_object_get(rec, "session");
        if (ses && !json_is_string(ses)) {
                snprintf(msg, size, "field 'session' must be a string");
                return 400;
        }
        return 0;
}

/* A message's content as one string (borrowed from doc, or *owned). */
static int
content_text(const json_t *content, const char **out, char **owned)
{
        *owned = NULL;
        if (json_is_string(content)) {
                *out = json_string_value(content);
                return 0;
        }
        if (!json_is_array(content))
                return -1;
        size_t len = 0, i;
        FILE *m = open_memstream(owned, &len);
        if (!m)
                return -1;
        const json_t *part;
        int rc = 0;
        json_array_foreach(content, i, part) {
                const char *type = json_string_value(
                        json_object_get(part, "type"));
                const char *t = json_string_value(
                        json_object_get(part, "text"));
                if (!type || strcmp(type, "text") || !t)
                        rc = -1;
                else
                        fprintf(m, "%s%s", len || i ? "\n" : "", t);
        }
        if (fclose(m) != 0)
                rc = -1;
        *out = *owned;
        return rc;
}

unsigned
serve_oai_parse(const char *dialog, const json_t *doc, oai_req *r,
                json_t *keep, const char **param, char *msg, size_t size)
{
#define REFUSE(field, ...)                                                   \
        do {                                                             \
                *param = field;                                          \
                snprintf(msg, size, __VA_ARGS__);                        \
                return 400;                                              \
        } while (0)
        if (!json_is_object(doc))
                REFUSE(NULL, "expected a JSON object");
        const json_t *v = json_object_get(doc, "model");
        if (!json_is_string(v))
                REFUSE("model", "field 'model' must be a string (GET "
                                "/v1/models lists them)");
        r->model = json_string_value(v);
        if (!dialog || strcmp(r->model, dialog) != 0) {
                *param = "model";
                snprintf(msg, size,
                         "the model '%s' does not exist here (hint: GET "
                         "/v1/models; this pipeline's is %s)",
                         r->model, dialog ? dialog : "none");
                return 404;
        }
        if (r->chat) {
                const json_t *ms = json_object_get(doc, "messages");
                if (!json_is_array(ms) || json_array_size(ms) == 0)
                        REFUSE("messages", "field 'messages' must be a "
                                           "non-empty array");
                size_t n = json_array_size(ms);
                if (n > SERVE_MAX_MESSAGES)
                        REFUSE("messages", "%zu messages; at most %d", n,
                               SERVE_MAX_MESSAGES);
                r->history = json_array();
                for (size_t i = 0; i < n; i++) {
                        const json_t *m = json_array_get(ms, i);
                        const char *role = json_string_value(
                                json_object_get(m, "role"));
                        const char *text;
                        char *owned;
                        if (!role)
                                REFUSE("messages", "messages[%zu].role must "
                                                   "be a string", i);
                        if (!strcmp(role, "developer"))
                                role = "system";
                        if (strcmp(role, "system") && strcmp(role, "user") &&
                            strcmp(role, "assistant"))
                                REFUSE("messages",
                                       "messages[%zu].role '%s' is not "
                                       "supported (system, developer, user "
                                       "or assistant)",
                                       i, role);
                        if (content_text(json_object_get(m, "content"), &text,
                                         &owned) < 0) {
                                free(owned);
                                REFUSE("messages",
                                       "messages[%zu].content must be a "
                                       "string or an array of text parts",
                                       i);
                        }
                        json_t *e = json_pack("{s:s, s:s}", "role", role,
                                              "content", text);
                        free(owned);
                        if (!e)
                                REFUSE("messages", "out of memory");
                        json_array_append_new(r->history, e);
                }
                json_t *last = json_array_get(r->history, n - 1);
                if (strcmp(json_string_value(json_object_get(last, "role")),
                           "user"))
                        REFUSE("messages", "the last message must be the "
                                           "user's");
                json_array_append(keep, last);
                r->prompt = json_string_value(json_object_get(last,
                                                              "content"));
                json_array_remove(r->history, n - 1);
        } else {
                v = json_object_get(doc, "prompt");
                if (json_is_array(v) && json_array_size(v) == 1)
                        v = json_array_get(v, 0);
                if (!json_is_string(v))
                        REFUSE("prompt", "field 'prompt' must be a string "
                                         "(or an array of one string)");
                r->prompt = json_string_value(v);
        }
        if (!r->prompt[0])
                REFUSE(r->chat ? "messages" : "prompt",
                       "the user's message is empty");
        if ((v = json_object_get(doc, "temperature")) && !json_is_null(v)) {
                if (!json_is_number(v) || json_number_value(v) < 0 ||
                    json_number_value(v) > 2)
                        REFUSE("temperature", "field 'temperature' must be "
                                              "a number from 0 to 2");
                r->has_temperature = 1;
                r->temperature = json_number_value(v);
        }
        if ((v = json_object_get(doc, "top_p")) && !json_is_null(v)) {
                if (!json_is_number(v) || json_number_value(v) <= 0 ||
                    json_number_value(v) > 1)
                        REFUSE("top_p", "field 'top_p' must be a number in "
                                        "(0, 1]");
                r->has_top_p = 1;
                r->top_p = json_number_value(v);
        }
        const char *mt = json_object_get(doc, "max_completion_tokens")
                                 ? "max_completion_tokens"
                                 : "max_tokens";
        if ((v = json_object_get(doc, mt)) && !json_is_null(v)) {
                if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                    json_integer_value(v) > 1 << 20)
                        REFUSE(mt, "field '%s' must be a positive integer",
                               mt);
                r->max_tokens = (long)json_integer_value(v);
        }
        if ((v = json_object_get(doc, "seed")) && !json_is_null(v)) {
                if (!json_is_integer(v))
                        REFUSE("seed", "field 'seed' must be an integer");
                r->has_seed = 1;
                r->seed = json_integer_value(v);
        }
        if ((v = json_object_get(doc, "n")) && !json_is_null(v) &&
            !(json_is_integer(v) && json_integer_value(v) == 1))
                REFUSE("n", "field 'n' must be 1 (one choice per request)");
        if ((v = json_object_get(doc, "stop")) && !json_is_null(v)) {
                r->stop = json_array();
                if (json_is_string(v)) {
                        json_array_append(r->stop, (json_t *)v);
                } else if (json_is_array(v) && json_array_size(v) <= 4) {
                        size_t i;
                        json_t *e;
                        json_array_foreach(v, i, e) {
                                if (!json_is_string(e) ||
                                    !json_string_length(e))
                                        REFUSE("stop", "stop[%zu] must be a "
                                                       "non-empty string",
                                               i);
                                json_array_append(r->stop, e);
                        }
                } else {
                        REFUSE("stop", "field 'stop' must be a string or an "
                                       "array of up to 4 strings");
                }
        }
        if ((v = json_object_get(doc, "stream")) && !json_is_null(v)) {
                if (!json_is_boolean(v))
                        REFUSE("stream", "field 'stream' must be true or "
                                         "false");
                r->stream = json_is_true(v);
        }
        v = json_object_get(json_object_get(doc, "stream_options"),
                            "include_usage");
        r->include_usage = json_is_true(v);
        return 0;
#undef REFUSE
}

void
serve_oai_req_clear(oai_req *r)
{
        json_decref(r->history);
        json_decref(r->stop);
        r->history = r->stop = NULL;
}

int
serve_oai_post(const char *dialog, const oai_req *r, socfw_post **out,
               socfw_error *err)
{
        char key[256];
        socfw_post *post = socfw_post_new(r->prompt, NULL);
        int rc = post ? 0 : socfw_error_set(err, SOCFW_ENOMEM,
                                            "out of memory");
        const char *d = dialog;
#define NUM(name, val)                                                       \
        if (rc == 0) {                                                   \
                snprintf(key, sizeof key, "%s." name, d);                \
                rc = socfw_post_set_number(post, key, (val), err);       \
        }
        if (r->has_temperature)
                NUM("temperature", r->temperature);
        if (r->has_top_p)
                NUM("top_p", r->top_p);
        if (r->max_tokens)
                NUM("max_tokens", (double)r->max_tokens);
        if (r->has_seed)
                /* negated as a double: -LLONG_MIN overflows a long long */
                NUM("seed", r->seed < 0 ? -(double)r->seed : (double)r->seed);
#undef NUM
        char *js = NULL;
        if (rc == 0 && r->stop && (js = json_dumps(r->stop, JSON_COMPACT))) {
                snprintf(key, sizeof key, "%s.stop_json", d);
                rc = socfw_post_set_string(post, key, js, err);
        }
        free(js);
        js = NULL;
        if (rc == 0 && r->history && json_array_size(r->history) &&
            (js = json_dumps(r->history, JSON_COMPACT))) {
                snprintf(key, sizeof key, "%s.messages", d);
                rc = socfw_post_set_string(post, key, js, err);
        }
        free(js);
        if (rc < 0) {
                socfw_post_free(post);
                return rc;
        }
        *out = post;
        return 0;
}


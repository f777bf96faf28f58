/* serve_parse.h - `socfw serve`'s request bodies -> request values, with
 * no socket and no model (internal to the socfw program; the fuzz target
 * tests/fuzz/fuzz_serve.c calls these directly).
 *
 *   json_t *doc = serve_parse_json(body, len, msg, sizeof msg);
 *   if (!doc) answer 400 with msg;
 *   oai_req r = {.chat = 1};
 *   json_t *keep = json_array();
 *   unsigned st = serve_oai_parse("dialog", doc, &r, keep, &param, msg,
 *                                 sizeof msg);
 *   ...  r.prompt borrows from keep/doc: release them after r
 *   serve_oai_req_clear(&r); json_decref(keep); json_decref(doc);
 *
 * Every refusal is a status (400, or 404 for an unknown model) with a
 * message naming the field at fault; nothing here prints or exits.
 */
#ifndef SOCFW_CLI_SERVE_PARSE_H
#define SOCFW_CLI_SERVE_PARSE_H

#include <stddef.h>

#include <jansson.h>

#include "socfw/chain.h"

#define SERVE_MAX_BODY (1u << 20)       /* bytes of one request body      */
#define SERVE_MAX_BATCH 256             /* records of one /v1/predict     */
#define SERVE_MAX_MESSAGES 256          /* messages of one chat request   */

/* A body as one JSON value (duplicate keys, invalid UTF-8 and NUL bytes
 * refused); NULL after filling msg (answer 400). */
json_t *serve_parse_json(const char *body, size_t len, char *msg,
                         size_t size);

/* One /v1/predict record: an object whose `field` is a string (it may be
 * absent when `text_optional`: a chain whose stages read records of their
 * own), and whose "session", when present, is a string.  0, or 400 with
 * msg filled. */
unsigned serve_check_record(const json_t *rec, const char *field,
                            int text_optional, char *msg, size_t size);

/* A /v1/chat/completions (chat = 1) or /v1/completions request. */
typedef struct oai_req {
        int chat;
        const char *model;
        const char *prompt;             /* the last user message         */
        json_t *history;                /* [{role, content}] before it   */
        int has_temperature, has_top_p, has_seed;
        double temperature, top_p;
        long long seed;
        long max_tokens;                /* 0: the stage's                */
        json_t *stop;                   /* array of strings, or NULL     */
        int stream, include_usage;
} oai_req;

/* Parse and check doc for the dialog stage `dialog` (NULL: none, every
 * model is unknown): 0, or a status (400, 404) with msg and *param (the
 * field at fault, or NULL) filled.  r->prompt and r->model borrow from
 * doc and keep (an array the parse appends to); r->history and r->stop
 * are r's (serve_oai_req_clear), also after a refusal. */
unsigned serve_oai_parse(const char *dialog, const json_t *doc, oai_req *r,
                         json_t *keep, const char **param, char *msg,
                         size_t size);
void serve_oai_req_clear(oai_req *r);

/* The post for a parsed request: the prompt as its text, the rest as the
 * dialog stage's annotations (<dialog>.temperature, .top_p, .max_tokens,
 * .seed, .stop_json, .messages).  0, or a negative SOCFW_E* with err. */
int serve_oai_post(const char *dialog, const oai_req *r, socfw_post **out,
                   socfw_error *err);

#endif

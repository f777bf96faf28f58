/* socfw/chain.h - run a pipeline's chain of stages over posts.
 *
 * The chain is what `predict`, `chat` and `serve` run on each incoming post,
 * e.g. privacy (mask PII) -> sentiment -> dialog -> privacy (scrub output).
 * Each stage is a task plugin's `predict` hook; it reads the post's text and
 * the annotations of earlier stages and adds its own.
 *
 *     socfw_chain *chain;
 *     if (socfw_chain_new(&chain, pipeline, NULL, &err) < 0) ...
 *     socfw_post *post = socfw_post_new("Call me at 555-0100", NULL);
 *     socfw_chain_run(chain, post, &err);
 *     char *json = socfw_post_to_json(post);   // {"text": ..., "privacy": {...}}
 *     free(json);
 *     socfw_post_free(post);
 *     socfw_chain_free(chain);
 */
#ifndef SOCFW_CHAIN_H
#define SOCFW_CHAIN_H

#include "socfw/error.h"
#include "socfw/pipeline.h"
#include "socfw/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_chain socfw_chain;

/* Instantiate every stage of the pipeline's chain (the pipeline must be
 * validated and outlive the chain).  `stages` overrides the pipeline's
 * chain: a NULL-terminated list of stage names, or NULL.  A stage whose
 * plugin has no predict hook is an error naming the stage and plugin. */
int socfw_chain_new(socfw_chain **out, const socfw_pipeline *p,
                    const char *const *stages, socfw_error *err);
void socfw_chain_free(socfw_chain *chain);

/* Number of stages, and the name of stage i (borrowed). */
size_t socfw_chain_len(const socfw_chain *chain);
const char *socfw_chain_stage_name(const socfw_chain *chain, size_t i);

/* Run every stage on `post` in order.  Stops at the first failing stage
 * (its name is in the message). */
int socfw_chain_run(socfw_chain *chain, socfw_post *post, socfw_error *err);

/* ---- posts ---- */

/* A post holding `text` (copied; invalid UTF-8 is accepted here and
 * rejected by _from_json).  `session` may be NULL.  NULL on ENOMEM. */
socfw_post *socfw_post_new(const char *text, const char *session);
/* A post from one JSON object: `text_field` holds the text (default
 * "text"), "session" the session id; other fields are kept and written
 * back by _to_json.  Errors name what is wrong with the object. */
int socfw_post_from_json(socfw_post **out, const char *json, size_t len,
                         const char *text_field, socfw_error *err);
/* Same, for a task that reads records rather than a post's text (its
 * plugin declares `input`): the text field may be absent (then
 * socfw_post_text gives NULL); when present it must be a string. */
int socfw_post_from_record(socfw_post **out, const char *json, size_t len,
                           const char *text_field, socfw_error *err);
void socfw_post_free(socfw_post *post);
/* The post as one line of compact JSON: its fields, "text", and one object
 * per stage with that stage's annotations.  Caller frees; NULL on ENOMEM. */
char *socfw_post_to_json(const socfw_post *post);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_CHAIN_H */

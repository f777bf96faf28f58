/* plugins/privacy/custom.h - a user's own recognizers, deny lists and
 * allow lists, in the manner of Presidio's ad-hoc recognizers.
 *
 * A recognizers file (privacy.recognizers in a pipeline) is YAML:
 *
 *     recognizers:
 *       - name: staff-card            # required, used in messages
 *         type: CREDIT_CARD           # required, an entity type
 *         pattern: '\b4\d{15}\b'      # a PCRE2 pattern, or:
 *         # words: [Project Falcon, ...]  a word list (whole words)
 *         context: [staff, badge]     # words near a match raise its score
 *         score: 0.6                  # base score in [0, 1] (0.6)
 *         validator: luhn             # none | luhn | cn_id | iban
 *         case_insensitive: true      # pattern and words (false)
 *
 * Every error names FILE:LINE:COL of the offending value; a pattern that
 * does not compile gives PCRE2's message and the offset in the pattern.
 * Matching is bounded: a PCRE2 match limit (100,000 backtracking steps
 * per attempt) and depth limit stop a catastrophic pattern such as
 * "(a+)+$", and the scan then fails with an error naming the recognizer
 * instead of hanging.  Patterns match UTF-8 with invalid bytes allowed
 * (PCRE2_MATCH_INVALID_UTF): such bytes never match.
 *
 * Deny-list values are found as whole words and tagged with their type
 * (score 1); allow-list values are never reported, whatever found them.
 * Both match exactly or, after _set_case_insensitive, ignoring ASCII
 * case.
 *
 *     socfw_pii_custom *c = NULL;
 *     socfw_pii_custom_new(&c, &err);
 *     socfw_pii_custom_load(c, "recognizers.yaml", &err);
 *     socfw_pii_custom_add_deny(c, "Project Falcon",
 *                               SOCFW_PII_ORGANIZATION, &err);
 *     socfw_pii_custom_add_allow(c, "support@example.com", &err);
 *     socfw_pii_custom_scan(c, text, len, &spans, &err);
 *     ... other recognizers append to spans ...
 *     socfw_pii_custom_filter(c, text, len, &spans);
 *     socfw_pii_custom_free(c);
 */
#ifndef SOCFW_PII_CUSTOM_H
#define SOCFW_PII_CUSTOM_H

#include <stddef.h>

#include "pii.h"
#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_pii_custom socfw_pii_custom;

/* Returns 0 and *out (free with _free), or SOCFW_ENOMEM. */
int socfw_pii_custom_new(socfw_pii_custom **out, socfw_error *err);
void socfw_pii_custom_free(socfw_pii_custom *c);

/* Add the recognizers of a YAML file / buffer (`name` in messages).
 * Returns 0, SOCFW_EIO (unreadable file), SOCFW_ESCHEMA (a bad key or
 * value, or a pattern that does not compile: FILE:LINE:COL) or
 * SOCFW_ENOMEM.  Nothing is added on error. */
int socfw_pii_custom_load(socfw_pii_custom *c, const char *path,
                          socfw_error *err);
int socfw_pii_custom_load_buffer(socfw_pii_custom *c, const char *text,
                                 size_t len, const char *name,
                                 socfw_error *err);

/* Number of recognizers loaded. */
size_t socfw_pii_custom_count(const socfw_pii_custom *c);

/* Deny and allow lists (values copied).  An empty value is SOCFW_EINVAL. */
int socfw_pii_custom_add_deny(socfw_pii_custom *c, const char *value,
                              socfw_pii_type type, socfw_error *err);
int socfw_pii_custom_add_allow(socfw_pii_custom *c, const char *value,
                               socfw_error *err);
void socfw_pii_custom_set_case_insensitive(socfw_pii_custom *c, int on);

/* Append the spans of the recognizers and the deny list (with byte and
 * code point offsets; not resolved).  Returns 0, SOCFW_ENOMEM, or
 * SOCFW_EINTERNAL when a pattern hits the match limit (the message names
 * the recognizer and the byte). */
int socfw_pii_custom_scan(const socfw_pii_custom *c, const char *text,
                          size_t len, socfw_pii_spans *out, socfw_error *err);

/* Drop the spans whose text is on the allow list. */
void socfw_pii_custom_filter(const socfw_pii_custom *c, const char *text,
                             size_t len, socfw_pii_spans *spans);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PII_CUSTOM_H */

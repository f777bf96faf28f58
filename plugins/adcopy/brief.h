/* plugins/adcopy/brief.h - what an advertising copy is asked for, the
 * prompt the model reads, the constraints it must meet, and the metrics of
 * generated copy (internal to the adcopy plugin; pure functions, no model).
 *
 *     socfw_adcopy_brief b = {0};
 *     socfw_adcopy_brief_set(&b.product, "Trail runner X", &err);
 *     socfw_adcopy_brief_set(&b.category, "Sports", &err);
 *     socfw_adcopy_brief_add_keyword(&b, "waterproof", &err);
 *     b.max_chars = socfw_adcopy_channel_limit("twitter");      // 280
 *     const char *banned[] = {"cheap", "guaranteed results", NULL};
 *     if (socfw_adcopy_brief_check(&b, banned, &err) == 0) {
 *             char *prompt = socfw_adcopy_prompt(&b, 0);
 *             ... generate with max_chars, required = keywords, banned ...
 *             socfw_adcopy_violations v;
 *             socfw_adcopy_verify(copy, &b, banned, &v);   // v.total == 0
 *             free(prompt);
 *     }
 *     socfw_adcopy_brief_clear(&b);
 *
 * The prompt lists the fields that are set, one "name: value" line each,
 * in a fixed order (category, advertiser, product, audience, tone, length,
 * keywords), and ends with "copy:"; fine-tuning learns the copy after it.
 * "length: under N" tells the model how long the copy may be: at training
 * time from the reference copy's length, at generation time from the
 * channel's limit.
 *
 * Matching (banned words and claims, keywords) is ASCII case-insensitive on
 * substrings, exactly as the generation loop enforces it: a banned word is
 * never produced, not even inside a longer word.
 */
#ifndef SOCFW_ADCOPY_BRIEF_H
#define SOCFW_ADCOPY_BRIEF_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"

/* Longest value of one field, in bytes. */
#define SOCFW_ADCOPY_FIELD_MAX 2000
/* Most keywords in one brief. */
#define SOCFW_ADCOPY_KEYWORDS_MAX 16

typedef struct socfw_adcopy_brief {
        char *category, *advertiser, *product;  /* owned; NULL = unset */
        char *audience, *tone, *channel;
        char **keywords;                        /* owned                */
        size_t n_keywords;
        size_t max_chars;       /* length limit in code points; 0 = none */
        size_t length_hint;     /* "length: under N" value; 0 = from
                                   max_chars                             */
} socfw_adcopy_brief;

/* Free the fields and zero the brief; NULL is a no-op. */
void socfw_adcopy_brief_clear(socfw_adcopy_brief *b);

/* Replace *slot by a copy of `value` with surrounding white space removed
 * and inner line breaks turned into spaces (NULL or blank: *slot = NULL).
 * SOCFW_EINVAL for invalid UTF-8 or more than SOCFW_ADCOPY_FIELD_MAX bytes;
 * SOCFW_ENOMEM. */
int socfw_adcopy_brief_set(char **slot, const char *value, socfw_error *err);

/* Append a keyword (trimmed; blank ones are refused with SOCFW_EINVAL, as
 * are duplicates and more than SOCFW_ADCOPY_KEYWORDS_MAX). */
int socfw_adcopy_brief_add_keyword(socfw_adcopy_brief *b, const char *kw,
                                   socfw_error *err);

/* The length limit of a channel in code points: generic 500, twitter 280,
 * weibo 140, search_ad 90, banner 60; 0 for an unknown name. */
size_t socfw_adcopy_channel_limit(const char *channel);

/* Check that the brief can be met: a product is given, the keywords with
 * their separators fit in max_chars, no keyword contains a banned entry.
 * `banned` is NULL-terminated (may be NULL).  Returns 0 or SOCFW_EINVAL
 * with a message naming the field ("product", "keywords"). */
int socfw_adcopy_brief_check(const socfw_adcopy_brief *b,
                             const char *const *banned, socfw_error *err);

/* The prompt (caller frees; NULL when out of memory). */
char *socfw_adcopy_prompt(const socfw_adcopy_brief *b);

/* Up to `k` keywords for training and evaluation, taken from a reference
 * copy: distinct content words (4+ characters, not a stop word, not a word
 * of the product or advertiser), chosen deterministically from `seed`, and
 * only as many as fit in the brief's max_chars.  Added to b->keywords.
 * Returns how many were added, or a negative code. */
int socfw_adcopy_derive_keywords(socfw_adcopy_brief *b, const char *copy,
                                 size_t k, uint64_t seed, socfw_error *err);

/* Constraint violations of a copy. */
typedef struct socfw_adcopy_violations {
        int too_long;           /* more code points than max_chars        */
        size_t banned;          /* banned entries found                   */
        size_t missing;         /* keywords not found                     */
        size_t total;           /* the three added up                     */
} socfw_adcopy_violations;

/* Count what `copy` violates; returns v->total. */
size_t socfw_adcopy_verify(const char *copy, const socfw_adcopy_brief *b,
                           const char *const *banned,
                           socfw_adcopy_violations *v);

/* Tidy a copy in place: trailing white space goes; when `cut` (generation
 * stopped at a length limit, so the end may be inside a word) the copy ends
 * at its last sentence end in the second half, else at its last word
 * boundary, as long as every keyword it holds is kept.  A copy longer than
 * b->max_chars is first cut to it at a character boundary (never needed
 * after constrained generation; a safety net). */
void socfw_adcopy_trim(char *copy, const socfw_adcopy_brief *b, int cut);

/* Code points of a UTF-8 string. */
size_t socfw_adcopy_chars(const char *s);

/* ---- metrics ---- */

/* ROUGE-L F1 over lower-cased words (punctuation is a separator). */
double socfw_adcopy_rouge_l(const char *cand, const char *ref);

/* Fraction of the brief's keywords found in the copy (1 when it has
 * none). */
double socfw_adcopy_keyword_coverage(const char *copy,
                                     const socfw_adcopy_brief *b);

/* distinct-2 over lower-cased words of n texts: unique word bigrams /
 * all bigrams (0 when there are none).  Returns a negative value when out
 * of memory. */
double socfw_adcopy_distinct_2(const char *const *texts, size_t n);

#endif

/* plugins/privacy/pii.h - PII entity types and spans, shared by the
 * recognizers (recognizers.h) and the operators (operators.h).
 *
 * A span marks one piece of personal data in a UTF-8 text, in BOTH byte
 * offsets and Unicode code point offsets, half-open [start, end):
 *
 *     socfw_pii_spans spans = {0};
 *     socfw_pii_recognizer_scan(rec, text, len, &spans, &err);
 *     for (size_t i = 0; i < spans.n; i++)
 *             printf("%s at bytes %zu..%zu, chars %zu..%zu\n",
 *                    socfw_pii_type_name(spans.v[i].type),
 *                    spans.v[i].start, spans.v[i].end,
 *                    spans.v[i].cp_start, spans.v[i].cp_end);
 *     socfw_pii_spans_free(&spans);
 *
 * Invalid UTF-8 policy: every byte that is not part of a well-formed UTF-8
 * sequence counts as ONE code point (as if it were replaced by U+FFFD).  Such
 * bytes are never part of a span found by the recognizers and are copied
 * through unchanged by the operators.  Span offsets always fall on
 * character boundaries, so a replacement never splits a character.
 */
#ifndef SOCFW_PII_H
#define SOCFW_PII_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum socfw_pii_type {
        SOCFW_PII_NONE = 0,
        SOCFW_PII_EMAIL_ADDRESS,
        SOCFW_PII_PHONE_NUMBER,
        SOCFW_PII_CREDIT_CARD,
        SOCFW_PII_CN_ID,
        SOCFW_PII_IBAN_CODE,
        SOCFW_PII_US_SSN,
        SOCFW_PII_IP_ADDRESS,
        SOCFW_PII_URL,
        SOCFW_PII_HANDLE,
        SOCFW_PII_STREET_ADDRESS,
        SOCFW_PII_PERSON,       /* from a model, merged in */
        SOCFW_PII_LOCATION,     /* from a model, merged in */
        SOCFW_PII_ORGANIZATION, /* from a model, merged in */
        SOCFW_PII_TYPE_COUNT
} socfw_pii_type;

/* Bit of a type in a type mask. */
#define SOCFW_PII_BIT(t) (1u << (unsigned)(t))
/* Every type the pattern recognizers produce. */
#define SOCFW_PII_PATTERN_TYPES                                               \
        (SOCFW_PII_BIT(SOCFW_PII_EMAIL_ADDRESS) |                             \
         SOCFW_PII_BIT(SOCFW_PII_PHONE_NUMBER) |                              \
         SOCFW_PII_BIT(SOCFW_PII_CREDIT_CARD) | SOCFW_PII_BIT(SOCFW_PII_CN_ID) | \
         SOCFW_PII_BIT(SOCFW_PII_IBAN_CODE) | SOCFW_PII_BIT(SOCFW_PII_US_SSN) | \
         SOCFW_PII_BIT(SOCFW_PII_IP_ADDRESS) | SOCFW_PII_BIT(SOCFW_PII_URL) |  \
         SOCFW_PII_BIT(SOCFW_PII_HANDLE) |                                    \
         SOCFW_PII_BIT(SOCFW_PII_STREET_ADDRESS))
#define SOCFW_PII_ALL_TYPES                                                   \
        (SOCFW_PII_PATTERN_TYPES | SOCFW_PII_BIT(SOCFW_PII_PERSON) |          \
         SOCFW_PII_BIT(SOCFW_PII_LOCATION) |                                  \
         SOCFW_PII_BIT(SOCFW_PII_ORGANIZATION))

/* Where a span came from. */
enum {
        SOCFW_PII_SOURCE_PATTERN = 0,
        SOCFW_PII_SOURCE_EXTERNAL = 1,  /* a model or the caller */
};

typedef struct socfw_pii_span {
        size_t start, end;       /* byte offsets, [start, end)             */
        size_t cp_start, cp_end; /* code point offsets, [cp_start, cp_end) */
        socfw_pii_type type;
        float score;             /* confidence in [0, 1]                   */
        int source;              /* SOCFW_PII_SOURCE_*                     */
} socfw_pii_span;

/* A growable list of spans.  Zero-initialise; free with _free. */
typedef struct socfw_pii_spans {
        socfw_pii_span *v;
        size_t n, cap;
} socfw_pii_spans;

/* Canonical name ("PHONE_NUMBER"); "NONE" for an unknown value.  Static. */
const char *socfw_pii_type_name(socfw_pii_type type);

/* Short tag used by the replace operator ("PHONE" for PHONE_NUMBER,
 * "EMAIL" for EMAIL_ADDRESS, ...).  Static string. */
const char *socfw_pii_type_tag(socfw_pii_type type);

/* Parse a name or alias, case-insensitively: canonical names plus EMAIL,
 * PHONE, IBAN, SSN, IP, ADDRESS, PER, LOC, GPE, ORG, CARD.  Returns the type
 * or SOCFW_PII_NONE when unknown. */
socfw_pii_type socfw_pii_type_parse(const char *name);

/* Append one span (copied).  Returns 0 or SOCFW_ENOMEM (list capped at
 * 16 Mi spans). */
int socfw_pii_spans_push(socfw_pii_spans *spans, const socfw_pii_span *s);

/* Release the list's memory and zero it; NULL is a no-op. */
void socfw_pii_spans_free(socfw_pii_spans *spans);

/* Sort by byte start (then end, then type). */
void socfw_pii_spans_sort(socfw_pii_spans *spans);

/* Fill cp_start/cp_end from start/end (byte offsets) for every span, in one
 * pass over `text`.  Returns 0, or SOCFW_EINVAL if a span lies outside the
 * text or its ends are not on character boundaries. */
int socfw_pii_spans_fill_cp(socfw_pii_spans *spans, const char *text,
                            size_t len, socfw_error *err);

/* Fill start/end (bytes) from cp_start/cp_end, e.g. for spans supplied by a
 * model that counts code points.  Returns 0 or SOCFW_EINVAL when a span
 * lies outside the text. */
int socfw_pii_spans_fill_bytes(socfw_pii_spans *spans, const char *text,
                               size_t len, socfw_error *err);

/* Resolve overlaps in place, deterministically.  The rule: candidates are
 * ranked by (1) length in bytes, longer first; (2) score, higher first;
 * (3) type priority (validated pattern types before model types, in enum
 * order); (4) start, earlier first.  Walking that ranking, a span is kept
 * unless it overlaps a span already kept.  So a URL that contains an e-mail
 * address keeps the URL, and a number that is both a valid CN ID and a
 * Luhn-valid card number (same length) keeps the higher score.  The result
 * is sorted by start. */
void socfw_pii_spans_resolve(socfw_pii_spans *spans);

/* Merge externally supplied spans (e.g. PERSON from a model) into `dst`:
 * each one is checked against the text (bytes in range, on character
 * boundaries; cp offsets are recomputed), marked SOURCE_EXTERNAL, and then
 * overlaps are resolved as above.  Returns 0 or a negative code (nothing
 * merged on error). */
int socfw_pii_spans_merge(socfw_pii_spans *dst, const socfw_pii_span *ext,
                          size_t n_ext, const char *text, size_t len,
                          socfw_error *err);

/* Length of the UTF-8 sequence starting at s[0] (1..4) if it is well formed
 * and fits in `avail` bytes, else 0. */
size_t socfw_pii_utf8_seq(const unsigned char *s, size_t avail);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PII_H */

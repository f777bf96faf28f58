/* plugins/privacy/recognizers.h - pattern-based PII detection with
 * validation (checksums, calendars, number plans) and context words.
 *
 * Each entity type has one PCRE2 pattern, compiled once (JIT where the
 * platform has it) with bounded, possessive repetition so that matching is
 * linear in the text.  A match is only a candidate: a validator then checks
 * what a pattern cannot (Luhn, MOD 11-2, mod 97, octet ranges, inet_pton,
 * real dates, SSN ranges, ...) and gives a base score; context words in a
 * window around the match ("phone", "tel", "电话", "card", "身份证", ...)
 * raise it, negative context ("order", "version", "ISBN", "订单", ...) drops
 * number-like candidates; for phones, words naming another kind of number
 * ("card number", "account no.", "卡号") veto the phone reading.  Phone
 * shapes: international, North American, Chinese mobile and landline, UK
 * national (07700 900123, 020 7946 0958).  Spans whose score reaches the threshold are kept
 * and overlaps resolved (see socfw_pii_spans_resolve in pii.h).
 *
 *     socfw_pii_recognizer *rec = NULL;
 *     socfw_pii_options opt = socfw_pii_options_default();
 *     if (socfw_pii_recognizer_new(&rec, &opt, &err) < 0) ...;
 *     socfw_pii_spans spans = {0};
 *     socfw_pii_recognizer_scan(rec, text, strlen(text), &spans, &err);
 *     ...
 *     socfw_pii_spans_free(&spans);
 *     socfw_pii_recognizer_free(rec);
 *
 * A recognizer is immutable after _new, so one can be shared by threads that
 * each call _scan.
 */
#ifndef SOCFW_PII_RECOGNIZERS_H
#define SOCFW_PII_RECOGNIZERS_H

#include <stddef.h>
#include <stdint.h>

#include "pii.h"
#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_pii_options {
        uint32_t types;         /* SOCFW_PII_BIT mask of types to look for */
        float threshold;        /* keep spans with score >= this (0.5)     */
        size_t context_before;  /* bytes of context before a match (48)    */
        size_t context_after;   /* bytes of context after a match (24)     */
        int keep_overlaps;      /* 1: skip overlap resolution              */
} socfw_pii_options;

typedef struct socfw_pii_recognizer socfw_pii_recognizer;

/* Defaults: every pattern type, threshold 0.5, context 48/24 bytes. */
socfw_pii_options socfw_pii_options_default(void);

/* Compile the patterns.  `opt` may be NULL (defaults).  Returns 0 and sets
 * *out (caller frees with _free), or a negative code. */
int socfw_pii_recognizer_new(socfw_pii_recognizer **out,
                             const socfw_pii_options *opt, socfw_error *err);

/* NULL is a no-op. */
void socfw_pii_recognizer_free(socfw_pii_recognizer *rec);

/* Find PII in `text` (`len` bytes of UTF-8; invalid sequences are allowed
 * and never matched, see pii.h).  Appends spans, sorted by start and
 * without overlaps, to `out` (which may already hold spans: they take part
 * in overlap resolution).  Returns 0, SOCFW_ENOMEM, or SOCFW_EINTERNAL when
 * PCRE2 fails (e.g. its match limit is hit: the text is then scanned no
 * further for that type, and an error is returned). */
int socfw_pii_recognizer_scan(const socfw_pii_recognizer *rec,
                              const char *text, size_t len,
                              socfw_pii_spans *out, socfw_error *err);

/* ---- validators, exported for tests and other callers ---- */

/* Luhn check over the digits of s (other characters skipped). */
int socfw_pii_luhn_ok(const char *s, size_t len);
/* 18-character CN resident ID: region, birth date, MOD 11-2 check char. */
int socfw_pii_cn_id_ok(const char *s, size_t len);
/* The check character ('0'-'9' or 'X') for the first 17 digits. */
char socfw_pii_cn_id_check_char(const char *first17);
/* IBAN: country length and mod-97 (spaces skipped, case-insensitive). */
int socfw_pii_iban_ok(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PII_RECOGNIZERS_H */

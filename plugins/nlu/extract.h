/* plugins/nlu/extract.h - pattern extractors of the nlu plugin: key
 * information found without any training.
 *
 *     socfw_nlu_extract_options o = socfw_nlu_extract_options_default();
 *     o.tickers = list;                        // tickers.h, may be NULL
 *     socfw_nlu_extractor *x = NULL;
 *     socfw_nlu_extractor_new(&x, &o, &err);
 *     socfw_nlu_date ref = {2024, 3, 15};      // the post's date
 *     socfw_nlu_spans found = {0};
 *     socfw_nlu_extract(x, "Bought $AAPL for $1,200.50 yesterday", n, &ref,
 *                       &found, &err);
 *     //  CASHTAG "$AAPL" value AAPL; AMOUNT "$1,200.50" value "1200.5 USD";
 *     //  DATE "yesterday" value 2024-03-14
 *     socfw_nlu_spans_free(&found);
 *     socfw_nlu_extractor_free(x);
 *
 * The kinds and their values (span types are the names in capitals,
 * CASHTAG, TICKER, ...: the types socfw's monitor keys by; a model's
 * slot types keep the data set's names):
 *   cashtag          $AAPL, $BRK.B (a '$' and a letter first: "$5" is an
 *                    amount)                          value: AAPL
 *   ticker           AAPL written in capitals, when the company list has
 *                    it (2 letters at least; common capitalised words such
 *                    as CEO, USA, IT, ALL are never tickers)  value: AAPL
 *   company          a name from the company list ("Apple", "Meta
 *                    Platforms"), case as written     value: its ticker
 *   amount           $1,200.50  30 EUR  €30  ¥500  USD 100  5 dollars
 *                    $2.5bn  1.2 million euros        value: "1200.5 USD"
 *   percent          5%  -3.2 %  12 percent  4 per cent   value: "5"
 *   date             2024-03-15  03/15/2024  March 15th, 2024  15 March
 *                    today  yesterday  tomorrow  next Friday  last Monday
 *                    this weekend  in 3 days  2 weeks ago  next week /
 *                    month / year        value: ISO 8601: 2024-03-15, a
 *                    week 2024-W12, a month 2024-04, a year 2025
 *   order_number     order #12345, order number: AB-1234-X, order no. 778
 *                    (the number; at least one digit)  value: 12345
 *   tracking_number  UPS 1Z + 16 letters/digits, USPS 20-22 digits
 *                    starting 91-95, or any 8-34 letters/digits after
 *                    "tracking (number|no.|#)"           value: the number
 * Where two found spans overlap, the longer (then the earlier) is kept.
 * Relative dates are counted from `ref`; with ref NULL they are found
 * without a value.  Numeric dates read month/day/year unless day_first
 * (a first number over 12 is always a day).
 *
 * Matching is PCRE2 (UTF mode, invalid UTF-8 never matches) with a match
 * and depth limit per pattern, so no input makes it slow.  An extractor
 * is read-only after _new: one can serve many threads.
 */
#ifndef SOCFW_NLU_EXTRACT_H
#define SOCFW_NLU_EXTRACT_H

#include <stddef.h>

#include "dates.h"
#include "socfw/error.h"
#include "spans.h"
#include "tickers.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum socfw_nlu_kind {
        SOCFW_NLU_CASHTAG = 0,
        SOCFW_NLU_TICKER,
        SOCFW_NLU_COMPANY,
        SOCFW_NLU_AMOUNT,
        SOCFW_NLU_PERCENT,
        SOCFW_NLU_DATE,
        SOCFW_NLU_ORDER_NUMBER,
        SOCFW_NLU_TRACKING_NUMBER,
        SOCFW_NLU_N_KINDS
} socfw_nlu_kind;

#define SOCFW_NLU_BIT(k) (1u << (k))
#define SOCFW_NLU_ALL_KINDS ((1u << SOCFW_NLU_N_KINDS) - 1u)

/* The span type of a kind ("CASHTAG", ...), and back from a name in any
 * case ("cashtag" as the YAML writes it; -1 if unknown). */
const char *socfw_nlu_kind_name(socfw_nlu_kind k);
int socfw_nlu_kind_parse(const char *name);

typedef struct socfw_nlu_extract_options {
        unsigned kinds;                   /* SOCFW_NLU_BIT()s            */
        const socfw_nlu_tickers *tickers; /* borrowed; NULL: no ticker or
                                             company spans                */
        int day_first;                    /* 03/04/2024 is 3 April       */
        const char *dollar;               /* currency of a bare '$'      */
        size_t min_ticker_len;            /* bare tickers: 2             */
} socfw_nlu_extract_options;

socfw_nlu_extract_options socfw_nlu_extract_options_default(void);

typedef struct socfw_nlu_extractor socfw_nlu_extractor;

/* Compile the patterns.  The options (and the ticker list, which must
 * outlive the extractor) are kept.  Returns 0 or a negative code. */
int socfw_nlu_extractor_new(socfw_nlu_extractor **out,
                            const socfw_nlu_extract_options *o,
                            socfw_error *err);
void socfw_nlu_extractor_free(socfw_nlu_extractor *x);

/* Append the spans found in text[0..len) to *out (source PATTERN, sorted,
 * none overlapping).  `ref` may be NULL (see above).  Returns 0,
 * SOCFW_ENOMEM, or SOCFW_EINTERNAL when PCRE2 fails for another reason
 * than the match limit (a text that hits the limit just yields fewer
 * spans). */
int socfw_nlu_extract(const socfw_nlu_extractor *x, const char *text,
                      size_t len, const socfw_nlu_date *ref,
                      socfw_nlu_spans *out, socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif

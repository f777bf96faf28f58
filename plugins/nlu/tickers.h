/* plugins/nlu/tickers.h - the list of companies the nlu extractors know:
 * ticker symbols and company names, read from the file the pipeline
 * names (`tickers: companies.tsv`).
 *
 *     socfw_nlu_tickers *t = NULL;
 *     if (socfw_nlu_tickers_load(&t, "companies.tsv", &err) < 0)
 *             ... err: "companies.tsv:12: duplicate ticker 'AAPL' (first
 *                 on line 3); hint: ..." ...
 *     const char *sym = socfw_nlu_tickers_by_name(t, "Apple", 5);  // "AAPL"
 *     socfw_nlu_tickers_free(t);
 *
 * Two formats, by the file's extension:
 *   - TSV (any other extension): one company a line, `TICKER<TAB>Name`,
 *     more tab-separated columns are further names (aliases) of the same
 *     company.  Blank lines and lines starting with '#' are skipped; a
 *     first line "ticker<TAB>name..." is a header.  A ticker is 1-10 of
 *     A-Z 0-9 . - $ ^ / = + (upper case, a letter or digit first).  A
 *     row without a tab or a name, a bad ticker, invalid UTF-8, a line
 *     over 4 KiB, a ticker listed twice, or one name given to two
 *     tickers is an error naming file:line.
 *   - JSON Lines (.jsonl): one object a line with string fields "ticker"
 *     and "name" ("security_name" when the name is empty), the form of
 *     the lists in ../shared/data/tickers; the same checks, except that a
 *     name two listings share (a company's share classes) keeps its
 *     first ticker.
 * Names are matched as written (case-sensitive, on word boundaries).
 * Besides each name as given, its short form is known: the name cut at a
 * share-class description ("Common Stock", "Class A", "(Class A)",
 * "Ordinary Shares", "American Depositary ...") and without legal
 * suffixes (Inc., Corp., Corporation, Co., Ltd., plc, N.V., S.A., AG,
 * LLC, L.P., Holdings, Group): "Meta Platforms, Inc. Class A Common
 * Stock" is also "Meta Platforms".  A short form another company already
 * has is left to the first one.
 */
#ifndef SOCFW_NLU_TICKERS_H
#define SOCFW_NLU_TICKERS_H

#include <stddef.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_nlu_tickers socfw_nlu_tickers;

/* Read `path` (format by extension, see above).  At most 1,000,000
 * companies and 64 MiB.  Returns 0 and *out (free with _free), or a
 * negative code with a file:line message. */
int socfw_nlu_tickers_load(socfw_nlu_tickers **out, const char *path,
                           socfw_error *err);
/* The same from memory; `name` is used in messages, `jsonl` picks the
 * format.  `data` need not be NUL-terminated. */
int socfw_nlu_tickers_parse(socfw_nlu_tickers **out, const char *data,
                            size_t len, const char *name, int jsonl,
                            socfw_error *err);
void socfw_nlu_tickers_free(socfw_nlu_tickers *t);

/* Number of companies (tickers). */
size_t socfw_nlu_tickers_count(const socfw_nlu_tickers *t);

/* The ticker (borrowed) whose symbol is sym[0..n), compared upper-case,
 * or NULL. */
const char *socfw_nlu_tickers_symbol(const socfw_nlu_tickers *t,
                                     const char *sym, size_t n);
/* The ticker (borrowed) of the company called name[0..n) (white space
 * runs count as one space), or NULL. */
const char *socfw_nlu_tickers_by_name(const socfw_nlu_tickers *t,
                                      const char *name, size_t n);
/* The most words any known name has (for the longest-match scan). */
size_t socfw_nlu_tickers_max_words(const socfw_nlu_tickers *t);

/* The short form of a company name (see above) into out (size bytes);
 * returns its length (0 when nothing is left). */
size_t socfw_nlu_company_short_name(const char *name, size_t n, char *out,
                                    size_t size);

#ifdef __cplusplus
}
#endif
#endif

/* tests/test_nlu_tickers.c - the company list of the nlu extractors: TSV
 * and JSON Lines, short names, and every bad row named by file:line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tickers.h"

static socfw_nlu_tickers *
parse_ok(const char *data, int jsonl)
{
        socfw_nlu_tickers *t = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_nlu_tickers_parse(&t, data, strlen(data),
                                             "list.tsv", jsonl, &err),
                     0, "%s", err.message);
        return t;
}

Test(nlu_tickers, tsv_with_header_comments_aliases_and_short_names)
{
        socfw_nlu_tickers *t = parse_ok(
                "ticker\tname\n"
                "# US large caps\n"
                "\n"
                "AAPL\tApple Inc.\n"
                "GOOGL\tAlphabet Inc. (Class A)\tGoogle\r\n"
                " BRK.B \tBerkshire Hathaway Inc.\n"
                "KO\tThe Coca-Cola Company\n",
                0);
        cr_assert_eq(socfw_nlu_tickers_count(t), 4);
        cr_assert_str_eq(socfw_nlu_tickers_symbol(t, "aapl", 4), "AAPL");
        cr_assert_str_eq(socfw_nlu_tickers_symbol(t, "BRK.B", 5), "BRK.B");
        cr_assert_null(socfw_nlu_tickers_symbol(t, "MSFT", 4));
        cr_assert_str_eq(socfw_nlu_tickers_by_name(t, "Apple Inc.", 10),
                         "AAPL");
        cr_assert_str_eq(socfw_nlu_tickers_by_name(t, "Apple", 5), "AAPL");
        cr_assert_str_eq(socfw_nlu_tickers_by_name(t, "Google", 6), "GOOGL");
        cr_assert_str_eq(socfw_nlu_tickers_by_name(t, "Alphabet", 8),
                         "GOOGL");
        cr_assert_str_eq(socfw_nlu_tickers_by_name(t, "Coca-Cola", 9), "KO");
        cr_assert_str_eq(socfw_nlu_tickers_by_name(t, "Berkshire  Hathaway",
                                                   19),
                         "BRK.B", "white space runs count as one");
        cr_assert_null(socfw_nlu_tickers_by_name(t, "apple", 5),
                       "names are case-sensitive");
        cr_assert_geq(socfw_nlu_tickers_max_words(t), 3);
        socfw_nlu_tickers_free(t);
        socfw_nlu_tickers_free(NULL);
}

Test(nlu_tickers, short_names)
{
        static const struct {
                const char *in, *out;
        } c[] = {
                {"Meta Platforms, Inc. Class A Common Stock", "Meta Platforms"},
                {"The Coca-Cola Company", "Coca-Cola"},
                {"Alphabet Inc. (Class A)", "Alphabet"},
                {"Agilent Technologies, Inc. Common Stock",
                 "Agilent Technologies"},
                {"Goldman Sachs Group, Inc. (The)", "Goldman Sachs"},
                {"3M", "3M"},
                {"Group", "Group"},
                {"X", ""},
        };
        for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
                char out[256];
                size_t n = socfw_nlu_company_short_name(c[i].in,
                                                        strlen(c[i].in), out,
                                                        sizeof out);
                if (!c[i].out[0]) {
                        cr_expect_eq(n, 0, "'%s' -> '%s'", c[i].in, out);
                        continue;
                }
                cr_expect(n && !strcmp(out, c[i].out), "'%s' -> '%s', want "
                                                       "'%s'",
                          c[i].in, n ? out : "", c[i].out);
        }
}

Test(nlu_tickers, bad_rows_are_named_by_file_and_line)
{
        static const struct {
                const char *data;
                long line;
                const char *says;
        } c[] = {
                {"AAPL\tApple\nMSFT\tMicrosoft\nAAPL\tApple again\n", 3,
                 "duplicate ticker 'AAPL' (first on line 1)"},
                {"AAPL\tApple\nMSFT Microsoft\n", 2, "found no tab"},
                {"aapl\tApple\n", 1, "bad ticker 'aapl'"},
                {"# c\nAAPL\t\t\n", 2, "without a company name"},
                {"AAPL\tApple\nAPLE\tApple\n", 2,
                 "the name 'Apple' is given to AAPL and to APLE"},
                {"AAPL\tApp\xff\n", 1, "invalid UTF-8"},
                {"TOOLONGTICKER\tX Corp\n", 1, "bad ticker"},
                {"# only comments\n\n", 0, "no companies"},
        };
        for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
                socfw_nlu_tickers *t = NULL;
                socfw_error err = {0};
                int rc = socfw_nlu_tickers_parse(&t, c[i].data,
                                                 strlen(c[i].data), "co.tsv",
                                                 0, &err);
                char msg[1024];
                socfw_error_string(&err, msg, sizeof msg);
                cr_expect_lt(rc, 0, "case %zu accepted", i);
                cr_expect_null(t);
                cr_expect(strstr(msg, c[i].says), "case %zu: %s", i, msg);
                if (c[i].line) {
                        char at[32];
                        snprintf(at, sizeof at, "co.tsv:%ld:", c[i].line);
                        cr_expect(strstr(msg, at), "case %zu: %s (want %s)",
                                  i, msg, at);
                        cr_expect(strstr(msg, "hint"), "case %zu: %s", i,
                                  msg);
                }
        }
        /* a line over 4 KiB */
        size_t n = 5000;
        char *big = malloc(n + 16);
        memcpy(big, "AAPL\t", 5);
        memset(big + 5, 'x', n - 5);
        big[n] = '\0';
        socfw_nlu_tickers *t = NULL;
        socfw_error err = {0};
        cr_assert_lt(socfw_nlu_tickers_parse(&t, big, n, "co.tsv", 0, &err),
                     0);
        cr_assert(strstr(err.message, "longer than"), "%s", err.message);
        free(big);
}

Test(nlu_tickers, jsonl_lists_share_names_between_share_classes)
{
        socfw_nlu_tickers *t = parse_ok(
                "{\"ticker\": \"GOOGL\", \"name\": \"Alphabet Inc. (Class "
                "A)\"}\n"
                "{\"ticker\": \"GOOG\", \"name\": \"Alphabet Inc. (Class "
                "C)\"}\n",
                1);
        cr_assert_eq(socfw_nlu_tickers_count(t), 2);
        cr_assert_str_eq(socfw_nlu_tickers_by_name(t, "Alphabet", 8),
                         "GOOGL", "the first listing keeps the short name");
        socfw_nlu_tickers_free(t);
        socfw_error err = {0};
        const char *bad = "{\"ticker\": \"A\", \"name\": \"Agilent\"}\n"
                          "{\"ticker\": \"B\"}\n";
        cr_assert_lt(socfw_nlu_tickers_parse(&t, bad, strlen(bad), "x.jsonl",
                                             1, &err),
                     0);
        cr_assert_eq(err.line, 2);
        cr_assert(strstr(err.message, "'name'"), "%s", err.message);
        socfw_error_clear(&err);
        cr_assert_lt(socfw_nlu_tickers_parse(&t, "[1]\n", 4, "x.jsonl", 1,
                                             &err),
                     0);
        cr_assert(strstr(err.message, "not a JSON object"), "%s",
                  err.message);
}

Test(nlu_tickers, the_shared_company_lists_load, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "data/tickers/sp500.jsonl");
        socfw_nlu_tickers *t = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_nlu_tickers_load(&t, path, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_nlu_tickers_count(t), 503);
        cr_assert_str_eq(socfw_nlu_tickers_by_name(t, "Apple", 5), "AAPL");
        cr_assert_str_eq(socfw_nlu_tickers_by_name(t, "Alphabet", 8),
                         "GOOGL");
        socfw_nlu_tickers_free(t);
        SOCFW_TEST_NEED_SHARED(path, "data/tickers/us_listed.jsonl");
        cr_assert_eq(socfw_nlu_tickers_load(&t, path, &err), 0, "%s",
                     err.message);
        cr_assert_gt(socfw_nlu_tickers_count(t), 13000);
        cr_assert_str_eq(socfw_nlu_tickers_symbol(t, "MSFT", 4), "MSFT");
        socfw_nlu_tickers_free(t);
        /* a missing file names itself */
        cr_assert_lt(socfw_nlu_tickers_load(&t, "/nonexistent/co.tsv", &err),
                     0);
        cr_assert(strstr(err.message, "co.tsv"), "%s", err.message);
}

/* tests/test_nlu_extract.c - the nlu plugin's pattern extractors: every
 * kind with its value, tricky negatives ("$5" is an amount, not a
 * cashtag), relative dates against a fixed post date, and bounded work on
 * hostile input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extract.h"

static socfw_nlu_tickers *
companies(void)
{
        static const char tsv[] = "AAPL\tApple Inc.\n"
                                  "MSFT\tMicrosoft Corporation\n"
                                  "META\tMeta Platforms, Inc. Class A "
                                  "Common Stock\n"
                                  "LOVE\tThe Lovesac Company\n"
                                  "F\tFord Motor Company\n";
        socfw_nlu_tickers *t = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_nlu_tickers_parse(&t, tsv, strlen(tsv), "co.tsv",
                                             0, &err),
                     0, "%s", err.message);
        return t;
}

typedef struct want {
        const char *type;       /* NULL ends the list               */
        const char *text;       /* the span's text                  */
        const char *value;      /* NULL: no value expected          */
} want;

typedef struct xcase {
        const char *text;
        want found[6];
        /* spans that must NOT be there: type + text ("*": any text) */
        want absent[4];
        int no_ref;             /* extract without a post date      */
        int day_first;
} xcase;

/* The post date of every case: Friday 2024-03-15. */
static const socfw_nlu_date REF = {2024, 3, 15};

static const xcase cases[] = {
        /* cashtags and amounts */
        {.text = "Loading up on $AAPL today",
         .found = {{"CASHTAG", "$AAPL", "AAPL"}},
         .absent = {{"AMOUNT", "*", NULL}, {"TICKER", "*", NULL}}},
        {.text = "$5 coffee again",
         .found = {{"AMOUNT", "$5", "5 USD"}},
         .absent = {{"CASHTAG", "*", NULL}}},
        {.text = "long $brk.b and $TSLA.",
         .found = {{"CASHTAG", "$brk.b", "BRK.B"},
                                    {"CASHTAG", "$TSLA", "TSLA"}}},
        {.text = "price$AAPL and $TOOLONGX",
         .found = {{NULL}},
         .absent = {{"CASHTAG", "*", NULL}}},
        {.text = "paid $1,200.50 for it",
         .found = {{"AMOUNT", "$1,200.50", "1200.5 USD"}}},
        {.text = "30 EUR or \xE2\x82\xAC" "30 or \xC2\xA5" "500",
         .found = {{"AMOUNT", "30 EUR", "30 EUR"},
          {"AMOUNT", "\xE2\x82\xAC" "30", "30 EUR"},
          {"AMOUNT", "\xC2\xA5" "500", "500 JPY"}}},
        {.text = "US$20, C$15 and USD 100",
         .found = {{"AMOUNT", "US$20", "20 USD"},
          {"AMOUNT", "C$15", "15 CAD"},
          {"AMOUNT", "USD 100", "100 USD"}}},
        {.text = "raised 2.5 billion dollars, then $3.2bn, then "
                 "500\xE5\x85\x83",
         .found = {{"AMOUNT", "2.5 billion dollars", "2500000000 USD"},
          {"AMOUNT", "$3.2bn", "3200000000 USD"},
          {"AMOUNT", "500\xE5\x85\x83", "500 CNY"}}},
        {.text = "a $5 million deal",
         .found = {{"AMOUNT", "$5 million", "5000000 USD"}},
         .absent = {{"AMOUNT", "$5", NULL}}},
        /* percentages */
        {.text = "up 5% then -3.2 % and 12 percent, 4 per cent",
         .found = {{"PERCENT", "5%", "5"},
          {"PERCENT", "-3.2 %", "-3.2"},
          {"PERCENT", "12 percent", "12"},
          {"PERCENT", "4 per cent", "4"}}},
        {.text = "version 1.5% no: v5%",
         .found = {{NULL}},
         .absent = {{"PERCENT", "5%", NULL}}},
        /* absolute dates */
        {.text = "on 2024-02-29 and 12/25/2024 and 25/12/2024",
         .found = {{"DATE", "2024-02-29", "2024-02-29"},
          {"DATE", "12/25/2024", "2024-12-25"},
          {"DATE", "25/12/2024", "2024-12-25"}}},
        {.text = "2023-02-29 is no date, nor 13/13/2024",
         .found = {{NULL}},
         .absent = {{"DATE", "*", NULL}}},
        {.text = "03/04/2024",
         .found = {{"DATE", "03/04/2024", "2024-03-04"}}},
        {.text = "03/04/2024",
         .found = {{"DATE", "03/04/2024", "2024-04-03"}},
         .absent = {{NULL}},
         .no_ref = 0, .day_first = 1},
        {.text = "March 3rd and 15 March 2023 and March 15th, 2024",
         .found = {{"DATE", "March 3rd", "2024-03-03"},
          {"DATE", "15 March 2023", "2023-03-15"},
          {"DATE", "March 15th, 2024", "2024-03-15"}}},
        {.text = "results in March 2025",
         .found = {{"DATE", "March 2025", "2025-03"}}},
        {.text = "you may 5 times; release 1.2.3",
         .found = {{NULL}},
         .absent = {{"DATE", "*", NULL}}},
        /* relative dates from Friday 2024-03-15 */
        {.text = "yesterday, today, tomorrow",
         .found = {{"DATE", "yesterday", "2024-03-14"},
          {"DATE", "today", "2024-03-15"},
          {"DATE", "tomorrow", "2024-03-16"}}},
        {.text = "next Friday, last Monday, this Sunday",
         .found = {{"DATE", "next Friday", "2024-03-22"},
          {"DATE", "last Monday", "2024-03-11"},
          {"DATE", "this Sunday", "2024-03-17"}}},
        {.text = "next week, next month, next year, this weekend",
         .found = {{"DATE", "next week", "2024-W12"},
          {"DATE", "next month", "2024-04"},
          {"DATE", "next year", "2025"},
          {"DATE", "this weekend", "2024-03-16"}}},
        {.text = "in 3 days or two weeks ago or in a month",
         .found = {{"DATE", "in 3 days", "2024-03-18"},
          {"DATE", "two weeks ago", "2024-03-01"},
          {"DATE", "in a month", "2024-04-15"}}},
        {.text = "the day after tomorrow",
         .found = {{"DATE", "the day after tomorrow",
                                     "2024-03-17"}}},
        {.text = "yesterday",
         .found = {{"DATE", "yesterday", NULL}},
         .absent = {{NULL}},
         .no_ref = 1},
        /* order and tracking numbers */
        {.text = "my order #12345 never came",
         .found = {{"ORDER_NUMBER", "12345", "12345"}}},
        {.text = "Order number: ab-1234-x please",
         .found = {{"ORDER_NUMBER", "ab-1234-x", "AB-1234-X"}}},
        {.text = "I want to order 100 units, order of fries",
         .found = {{NULL}},
         .absent = {{"ORDER_NUMBER", "*", NULL}}},
        {.text = "UPS 1Z999AA10123456784 arrived",
         .found = {{"TRACKING_NUMBER", "1Z999AA10123456784",
           "1Z999AA10123456784"}}},
        {.text = "USPS 9400111899223817512345 and tracking # 123456789012",
         .found = {{"TRACKING_NUMBER", "9400111899223817512345",
           "9400111899223817512345"},
          {"TRACKING_NUMBER", "123456789012", "123456789012"}}},
        {.text = "tracking number: ABCDEFGHIJ",
         .found = {{NULL}},
         .absent = {{"TRACKING_NUMBER", "*", NULL}}},
        /* tickers and companies from the list */
        {.text = "AAPL beats, MSFT misses; the CEO says OK",
         .found = {{"TICKER", "AAPL", "AAPL"}, {"TICKER", "MSFT", "MSFT"}},
         .absent = {{"TICKER", "CEO", NULL}, {"TICKER", "OK", NULL}}},
        {.text = "I LOVE THIS STOCK SO MUCH AAPL",
         .found = {{NULL}},
         .absent = {{"TICKER", "*", NULL}}},
        {.text = "Apple's results beat Meta Platforms, Inc. and F",
         .found = {{"COMPANY", "Apple", "AAPL"},
          {"COMPANY", "Meta Platforms", "META"}},
         .absent = {{"TICKER", "F", NULL}}},
        {.text = "apple pie and meta platforms",
         .found = {{NULL}},
         .absent = {{"COMPANY", "*", NULL}}},
};

static int
has(const socfw_nlu_spans *sp, const char *text, const want *w,
    int check_value)
{
        for (size_t i = 0; i < sp->n; i++) {
                const socfw_nlu_span *x = &sp->v[i];
                size_t n = x->end - x->start;
                if (strcmp(x->type, w->type))
                        continue;
                if (strcmp(w->text, "*") &&
                    (strlen(w->text) != n ||
                     memcmp(text + x->start, w->text, n)))
                        continue;
                if (!check_value)
                        return 1;
                if (!w->value)
                        return x->value == NULL;
                return x->value && !strcmp(x->value, w->value);
        }
        return 0;
}

static void
dump(const socfw_nlu_spans *sp, const char *text, char *buf, size_t size)
{
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < sp->n && o < size; i++)
                o += (size_t)snprintf(buf + o, size - o, "[%s '%.*s' %s] ",
                                      sp->v[i].type,
                                      (int)(sp->v[i].end - sp->v[i].start),
                                      text + sp->v[i].start,
                                      sp->v[i].value ? sp->v[i].value : "-");
}

Test(nlu_extract, table_of_cases)
{
        socfw_nlu_tickers *t = companies();
        socfw_nlu_extractor *x[2] = {NULL, NULL};
        socfw_error err = {0};
        for (int df = 0; df < 2; df++) {
                socfw_nlu_extract_options o =
                        socfw_nlu_extract_options_default();
                o.tickers = t;
                o.day_first = df;
                cr_assert_eq(socfw_nlu_extractor_new(&x[df], &o, &err), 0,
                             "%s", err.message);
        }
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                const xcase *k = &cases[c];
                socfw_nlu_spans sp = {0};
                cr_assert_eq(socfw_nlu_extract(x[k->day_first], k->text,
                                               strlen(k->text),
                                               k->no_ref ? NULL : &REF, &sp,
                                               &err),
                             0, "%s", err.message);
                char got[2048];
                dump(&sp, k->text, got, sizeof got);
                for (int i = 0; i < 6 && k->found[i].type; i++)
                        cr_expect(has(&sp, k->text, &k->found[i], 1),
                                  "case %zu '%s': want %s '%s' = %s; got %s",
                                  c, k->text, k->found[i].type,
                                  k->found[i].text,
                                  k->found[i].value ? k->found[i].value
                                                    : "(none)",
                                  got);
                for (int i = 0; i < 4 && k->absent[i].type; i++)
                        cr_expect(!has(&sp, k->text, &k->absent[i], 0),
                                  "case %zu '%s': no %s '%s' expected; got "
                                  "%s",
                                  c, k->text, k->absent[i].type,
                                  k->absent[i].text, got);
                /* sorted, inside the text, never overlapping */
                for (size_t i = 0; i < sp.n; i++) {
                        cr_assert(sp.v[i].start < sp.v[i].end &&
                                  sp.v[i].end <= strlen(k->text));
                        cr_assert_eq(sp.v[i].source, SOCFW_NLU_PATTERN);
                        if (i)
                                cr_assert_geq(sp.v[i].start,
                                              sp.v[i - 1].end, "case %zu",
                                              c);
                }
                socfw_nlu_spans_free(&sp);
        }
        socfw_nlu_extractor_free(x[0]);
        socfw_nlu_extractor_free(x[1]);
        socfw_nlu_tickers_free(t);
}

Test(nlu_extract, kinds_can_be_switched_off_and_lists_are_optional)
{
        socfw_nlu_extract_options o = socfw_nlu_extract_options_default();
        o.kinds = SOCFW_NLU_BIT(SOCFW_NLU_CASHTAG);
        socfw_nlu_extractor *x = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_nlu_extractor_new(&x, &o, &err), 0);
        const char *text = "$AAPL for $5 on 2024-03-01 AAPL Apple";
        socfw_nlu_spans sp = {0};
        cr_assert_eq(socfw_nlu_extract(x, text, strlen(text), &REF, &sp,
                                       &err),
                     0);
        cr_assert_eq(sp.n, 1, "only the cashtag");
        cr_assert_str_eq(sp.v[0].type, "CASHTAG");
        socfw_nlu_spans_free(&sp);
        socfw_nlu_extractor_free(x);
        cr_assert_eq(socfw_nlu_kind_parse("tracking_number"),
                     SOCFW_NLU_TRACKING_NUMBER);
        cr_assert_eq(socfw_nlu_kind_parse("nope"), -1);
        cr_assert_str_eq(socfw_nlu_kind_name(SOCFW_NLU_ORDER_NUMBER),
                         "ORDER_NUMBER");
        cr_assert_eq(socfw_nlu_kind_parse("CASHTAG"), SOCFW_NLU_CASHTAG);
}

Test(nlu_extract, invalid_utf8_and_hostile_input_stay_fast, .timeout = 30)
{
        socfw_nlu_tickers *t = companies();
        socfw_nlu_extract_options o = socfw_nlu_extract_options_default();
        o.tickers = t;
        socfw_nlu_extractor *x = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_nlu_extractor_new(&x, &o, &err), 0);
        /* 200 KB of near-misses for every pattern */
        static const char *const bits[] = {
                "$",      "1,",       "000",  ".5",     "%",   " ",
                "order ", "#",        "1Z",   "tracking ", "9", "March ",
                "next ",  "\xff\xfe", "\xE2\x82", "AAPL", "Apple ", "/"};
        size_t cap = 200000, n = 0;
        char *big = malloc(cap + 32);
        unsigned seed = 12345;
        while (n < cap) {
                seed = seed * 1103515245u + 12345u;
                const char *b = bits[(seed >> 16) % (sizeof bits /
                                                     sizeof bits[0])];
                memcpy(big + n, b, strlen(b));
                n += strlen(b);
        }
        clock_t c0 = clock();
        socfw_nlu_spans sp = {0};
        cr_assert_eq(socfw_nlu_extract(x, big, n, &REF, &sp, &err), 0, "%s",
                     err.message);
        double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
        cr_log_info("%zu bytes of near-misses: %zu spans in %.3f s", n, sp.n,
                    secs);
        for (size_t i = 0; i < sp.n; i++)
                cr_assert(sp.v[i].end <= n && sp.v[i].start < sp.v[i].end);
        socfw_nlu_spans_free(&sp);
        /* a NUL inside the text does not end it early or crash */
        const char nul[] = "$AAPL\0$MSFT";
        cr_assert_eq(socfw_nlu_extract(x, nul, sizeof nul - 1, NULL, &sp,
                                       &err),
                     0);
        cr_assert_eq(sp.n, 2);
        socfw_nlu_spans_free(&sp);
        free(big);
        socfw_nlu_extractor_free(x);
        socfw_nlu_tickers_free(t);
}

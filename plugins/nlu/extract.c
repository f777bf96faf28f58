/* extract.c - the nlu plugin's pattern extractors (see extract.h).
 *
 * Each pattern finds candidates; a handler per pattern checks a candidate
 * and computes its normalised value.  All candidates of a text are then
 * resolved: the longest wins where two overlap.  Patterns keep matching
 * linear (possessive or bounded repetition, look-behinds that stop a match
 * from starting inside a run), and a PCRE2 match and depth limit bounds
 * whatever is left.
 */
#include "extract.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define MAX_CANDIDATES 4096
#define MAX_COMPANY_WORDS 12

static const char *const kind_names[SOCFW_NLU_N_KINDS] = {
        "CASHTAG", "TICKER", "COMPANY", "AMOUNT", "PERCENT", "DATE",
        "ORDER_NUMBER", "TRACKING_NUMBER"};

const char *
socfw_nlu_kind_name(socfw_nlu_kind k)
{
        return (unsigned)k < SOCFW_NLU_N_KINDS ? kind_names[k] : "?";
}

int
socfw_nlu_kind_parse(const char *name)
{
        for (int k = 0; name && k < SOCFW_NLU_N_KINDS; k++)
                if (!strcasecmp(name, kind_names[k]))
                        return k;
        return -1;
}

socfw_nlu_extract_options
socfw_nlu_extract_options_default(void)
{
        return (socfw_nlu_extract_options){.kinds = SOCFW_NLU_ALL_KINDS,
                                           .dollar = "USD",
                                           .min_ticker_len = 2};
}

/* ---- the patterns ---- */

#define MONTHS                                                                 \
        "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|"          \
        "july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|"                  \
        "nov(?:ember)?|dec(?:ember)?"
#define COUNT                                                                  \
        "\\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|"       \
        "eleven|twelve"
#define NUM "(\\d{1,3}(?:,\\d{3})++|\\d++)(\\.\\d{1,4}+)?"
#define SCALE "k|m|mn|mm|b|bn|t|thousand|million|billion|trillion"
#define CODES                                                                  \
        "USD|EUR|GBP|JPY|CNY|RMB|CHF|CAD|AUD|INR|HKD|KRW|SGD|BRL|MXN|SEK|"     \
        "NOK|DKK|NZD"
#define CUR_WORDS                                                              \
        "dollars?|bucks|euros?|pounds?|yen|yuan|renminbi|rupees?|francs?|won"

typedef enum pid {
        P_CASHTAG,
        P_TICKER,
        P_AMOUNT_SYM,
        P_AMOUNT_CODE,
        P_AMOUNT_AFTER,
        P_PERCENT,
        P_DATE_ISO,
        P_DATE_NUM,
        P_DATE_MDY,
        P_DATE_DMY,
        P_DATE_MY,
        P_DATE_WORD,
        P_DATE_NEXT,
        P_DATE_IN,
        P_DATE_AGO,
        P_ORDER,
        P_UPS,
        P_USPS,
        P_TRACKING,
        N_PATTERNS
} pid;

static const struct {
        socfw_nlu_kind kind;
        const char *re;
} patterns[N_PATTERNS] = {
        [P_CASHTAG] = {SOCFW_NLU_CASHTAG,
                       "(?<![\\w$])\\$([A-Za-z][A-Za-z0-9]{0,5}+"
                       "(?:[._][A-Za-z]{1,2}+)?)(?![\\w$])"},
        [P_TICKER] = {SOCFW_NLU_TICKER,
                      "(?<![\\w$.])([A-Z]{1,5}+(?:\\.[A-Z])?)(?![\\w])"},
        [P_AMOUNT_SYM] = {SOCFW_NLU_AMOUNT,
                          "(?<![\\w$\\x{20AC}\\x{A3}\\x{A5}])"
                          "(US|C|CA|A|AU|HK|S|NZ|R)?"
                          "([$\\x{20AC}\\x{A3}\\x{A5}\\x{20B9}\\x{20A9}])"
                          "\\h?(-)?" NUM
                          "(?:\\h?(?i:(" SCALE ")))?(?!\\w)"},
        [P_AMOUNT_CODE] = {SOCFW_NLU_AMOUNT,
                           "(?<!\\w)(" CODES ")\\h?(-)?" NUM
                           "(?:\\h?(?i:(" SCALE ")))?(?!\\w)"},
        [P_AMOUNT_AFTER] = {SOCFW_NLU_AMOUNT,
                            "(?<![\\w.,$])(-)?" NUM
                            "(?:\\h?(?i:(" SCALE ")))?\\h?"
                            "(" CODES "|(?i:" CUR_WORDS ")|[\\x{20AC}\\x{A3}"
                            "\\x{A5}\\x{5143}\\x{5186}\\x{20B9}\\x{20A9}])"
                            "(?!\\w)"},
        [P_PERCENT] = {SOCFW_NLU_PERCENT,
                       "(?<![\\w.,])([+\\-\\x{2212}])?(\\d++(?:\\.\\d++)?)"
                       "\\h?(%|(?i:percent|per\\h?cent|pct)(?!\\w))"},
        [P_DATE_ISO] = {SOCFW_NLU_DATE,
                        "(?<![\\w/.\\-])(\\d{4})([\\-/])(\\d{1,2})\\2"
                        "(\\d{1,2})(?![\\d/]|[.\\-]\\d)"},
        [P_DATE_NUM] = {SOCFW_NLU_DATE,
                        "(?<![\\w/.\\-])(\\d{1,2})([/.])(\\d{1,2})\\2"
                        "(\\d{4}|\\d{2})(?![\\d/]|[.\\-]\\d)"},
        [P_DATE_MDY] = {SOCFW_NLU_DATE,
                        "(?i)(?<!\\w)(" MONTHS ")\\.?\\h++(\\d{1,2})"
                        "(?:st|nd|rd|th)?+(?![\\w:])"
                        "(?:,?\\h++(\\d{4})(?!\\w))?"},
        [P_DATE_DMY] = {SOCFW_NLU_DATE,
                        "(?i)(?<![\\w.])(\\d{1,2})(?:st|nd|rd|th)?+\\h++"
                        "(?:of\\h++)?(" MONTHS ")(?!\\w)\\.?"
                        "(?:,?\\h++(\\d{4})(?!\\w))?"},
        [P_DATE_MY] = {SOCFW_NLU_DATE,
                       "(?i)(?<!\\w)(" MONTHS ")\\.?,?\\h++(\\d{4})(?!\\w)"},
        [P_DATE_WORD] = {SOCFW_NLU_DATE,
                         "(?i)(?<!\\w)(the\\h+day\\h+after\\h+tomorrow|"
                         "the\\h+day\\h+before\\h+yesterday|today|tonight|"
                         "tomorrow|yesterday)(?!\\w)"},
        [P_DATE_NEXT] = {SOCFW_NLU_DATE,
                         "(?i)(?<!\\w)(next|last|this|coming|past)\\h++"
                         "(monday|tuesday|wednesday|thursday|friday|"
                         "saturday|sunday|week|weekend|month|year)(?!\\w)"},
        [P_DATE_IN] = {SOCFW_NLU_DATE,
                       "(?i)(?<!\\w)in\\h++(" COUNT ")\\h++"
                       "(days?|weeks?|months?|years?)(?!\\w)"},
        [P_DATE_AGO] = {SOCFW_NLU_DATE,
                        "(?i)(?<!\\w)(" COUNT ")\\h++"
                        "(days?|weeks?|months?|years?)\\h++ago(?!\\w)"},
        [P_ORDER] = {SOCFW_NLU_ORDER_NUMBER,
                     "(?i)(?<!\\w)order(\\h*+(?:number|num\\.?|no\\.?|id|"
                     "ref(?:erence)?)(?!\\w))?\\h*+(?:is\\h++|was\\h++)?"
                     "([:#])?\\h*+(#)?\\h*+([A-Z0-9][A-Z0-9\\-]{2,30}+)"
                     "(?![\\w])"},
        [P_UPS] = {SOCFW_NLU_TRACKING_NUMBER,
                   "(?i)(?<![A-Z0-9])(1Z[0-9A-Z]{16})(?![A-Z0-9])"},
        [P_USPS] = {SOCFW_NLU_TRACKING_NUMBER,
                    "(?<!\\w)(9[1-5]\\d{18,20}+)(?!\\w)"},
        [P_TRACKING] = {SOCFW_NLU_TRACKING_NUMBER,
                        "(?i)(?<!\\w)tracking(?:\\h*+(?:number|num\\.?|no\\.?|"
                        "id|code|#)(?!\\w))?\\h*+(?:is\\h++)?[:#]?\\h*+#?"
                        "\\h*+([A-Z0-9]{8,34}+)(?!\\w)"},
};

struct socfw_nlu_extractor {
        socfw_nlu_extract_options o;
        pcre2_code *code[N_PATTERNS];
        pcre2_match_context *mctx;
};

void
socfw_nlu_extractor_free(socfw_nlu_extractor *x)
{
        if (!x)
                return;
        for (int i = 0; i < N_PATTERNS; i++)
                pcre2_code_free(x->code[i]);
        pcre2_match_context_free(x->mctx);
        free(x);
}

int
socfw_nlu_extractor_new(socfw_nlu_extractor **out,
                        const socfw_nlu_extract_options *o, socfw_error *err)
{
        *out = NULL;
        socfw_nlu_extractor *x = calloc(1, sizeof *x);
        if (!x)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        x->o = o ? *o : socfw_nlu_extract_options_default();
        if (!x->o.dollar)
                x->o.dollar = "USD";
        x->mctx = pcre2_match_context_create(NULL);
        if (!x->mctx) {
                socfw_nlu_extractor_free(x);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        pcre2_set_match_limit(x->mctx, 200000);
        pcre2_set_depth_limit(x->mctx, 5000);
        for (int i = 0; i < N_PATTERNS; i++) {
                int ec;
                PCRE2_SIZE eo;
                x->code[i] = pcre2_compile((PCRE2_SPTR)patterns[i].re,
                                           PCRE2_ZERO_TERMINATED,
                                           PCRE2_UTF | PCRE2_UCP |
                                                   PCRE2_MATCH_INVALID_UTF,
                                           &ec, &eo, NULL);
                if (!x->code[i]) {
                        char msg[256];
                        pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg,
                                                sizeof msg);
                        socfw_nlu_extractor_free(x);
                        return socfw_error_set(err, SOCFW_EINTERNAL,
                                               "nlu pattern %d does not "
                                               "compile at %zu: %s",
                                               i, (size_t)eo, msg);
                }
                (void)pcre2_jit_compile(x->code[i], PCRE2_JIT_COMPLETE);
        }
        *out = x;
        return 0;
}

/* ---- candidates ---- */

typedef struct cand {
        socfw_nlu_kind kind;
        size_t s, e;
        char value[64];
        int has_value;
} cand;

typedef struct cands {
        cand *v;
        size_t n, cap;
} cands;

static int
cand_add(cands *c, socfw_nlu_kind kind, size_t s, size_t e,
         const char *value)
{
        if (c->n >= MAX_CANDIDATES)
                return 0;
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 32;
                cand *v = realloc(c->v, cap * sizeof *v);
                if (!v)
                        return SOCFW_ENOMEM;
                c->v = v;
                c->cap = cap;
        }
        cand *x = &c->v[c->n++];
        x->kind = kind;
        x->s = s;
        x->e = e;
        x->has_value = value != NULL;
        snprintf(x->value, sizeof x->value, "%s", value ? value : "");
        return 0;
}

/* The match's group g as [*s, *e); 0 when the group did not take part. */
typedef struct match {
        const char *text;
        PCRE2_SIZE *ov;
        int n;
} match;

static int
group(const match *m, int g, size_t *s, size_t *e)
{
        if (g >= m->n || m->ov[2 * g] == PCRE2_UNSET)
                return 0;
        *s = m->ov[2 * g];
        *e = m->ov[2 * g + 1];
        return 1;
}

/* Group g copied into buf (truncated); "" when unset. */
static const char *
gstr(const match *m, int g, char *buf, size_t size)
{
        size_t s = 0, e = 0;
        if (!group(m, g, &s, &e)) {
                buf[0] = '\0';
                return buf;
        }
        snprintf(buf, size, "%.*s", (int)(e - s), m->text + s);
        return buf;
}

static int
toint(const char *s)
{
        long v = strtol(s, NULL, 10);
        return v > 99999 ? 99999 : v < 0 ? 0 : (int)v;
}

static void
upper(char *s)
{
        for (; *s; s++)
                *s = (char)toupper((unsigned char)*s);
}

/* ---- numbers and currencies ---- */

/* NUM groups g (integer part, commas allowed) and g+1 (fraction) with
 * the scale word of group sc -> a number. */
static double
number(const match *m, int g, int sc)
{
        char buf[64], digits[64];
        size_t k = 0;
        gstr(m, g, buf, sizeof buf);
        for (char *p = buf; *p && k + 1 < sizeof digits; p++)
                if (*p != ',')
                        digits[k++] = *p;
        gstr(m, g + 1, buf, sizeof buf);
        for (char *p = buf; *p && k + 1 < sizeof digits; p++)
                digits[k++] = *p;
        digits[k] = '\0';
        double v = strtod(digits, NULL);
        gstr(m, sc, buf, sizeof buf);
        for (char *p = buf; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        if (!strcmp(buf, "k") || !strcmp(buf, "thousand"))
                v *= 1e3;
        else if (!strcmp(buf, "m") || !strcmp(buf, "mn") ||
                 !strcmp(buf, "mm") || !strcmp(buf, "million"))
                v *= 1e6;
        else if (!strcmp(buf, "b") || !strcmp(buf, "bn") ||
                 !strcmp(buf, "billion"))
                v *= 1e9;
        else if (!strcmp(buf, "t") || !strcmp(buf, "trillion"))
                v *= 1e12;
        return v;
}

static const char *
currency_of(const char *s, const char *dollar)
{
        static const struct {
                const char *in, *code;
        } map[] = {{"$", NULL},          {"\xE2\x82\xAC", "EUR"},
                   {"\xC2\xA3", "GBP"},  {"\xC2\xA5", "JPY"},
                   {"\xE5\x85\x83", "CNY"}, {"\xE5\x86\x86", "JPY"},
                   {"\xE2\x82\xB9", "INR"}, {"\xE2\x82\xA9", "KRW"},
                   {"RMB", "CNY"},       {"dollar", NULL},
                   {"dollars", NULL},    {"bucks", NULL},
                   {"euro", "EUR"},      {"euros", "EUR"},
                   {"pound", "GBP"},     {"pounds", "GBP"},
                   {"yen", "JPY"},       {"yuan", "CNY"},
                   {"renminbi", "CNY"},  {"rupee", "INR"},
                   {"rupees", "INR"},    {"franc", "CHF"},
                   {"francs", "CHF"},    {"won", "KRW"}};
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
                if (!strcasecmp(s, map[i].in))
                        return map[i].code ? map[i].code : dollar;
        return s; /* an ISO code as written */
}

static void
amount_value(char *buf, size_t size, double v, int neg, const char *cur)
{
        snprintf(buf, size, "%s%.15g %s", neg && v != 0 ? "-" : "", v, cur);
}

/* ---- dates ---- */

static int
month_of(const char *s)
{
        static const char *const m[12] = {"jan", "feb", "mar", "apr",
                                          "may", "jun", "jul", "aug",
                                          "sep", "oct", "nov", "dec"};
        for (int i = 0; i < 12; i++)
                if (!strncasecmp(s, m[i], 3))
                        return i + 1;
        return 0;
}

static int
count_of(const char *s)
{
        static const char *const w[] = {"zero", "one", "two",    "three",
                                        "four", "five", "six",   "seven",
                                        "eight", "nine", "ten",  "eleven",
                                        "twelve"};
        if (isdigit((unsigned char)s[0]))
                return toint(s) > 999 ? 999 : toint(s);
        if (!strcasecmp(s, "a") || !strcasecmp(s, "an"))
                return 1;
        for (int i = 0; i < 13; i++)
                if (!strcasecmp(s, w[i]))
                        return i;
        return -1;
}

static int
weekday_of(const char *s)
{
        static const char *const d[7] = {"mon", "tue", "wed", "thu",
                                         "fri", "sat", "sun"};
        for (int i = 0; i < 7; i++)
                if (!strncasecmp(s, d[i], 3))
                        return i + 1;
        return 0;
}

static void
fmt_date(char *buf, size_t size, socfw_nlu_date d)
{
        socfw_nlu_date_format(d, buf, size);
}

static void
fmt_week(char *buf, size_t size, socfw_nlu_date d)
{
        int wy, w;
        socfw_nlu_date_iso_week(d, &wy, &w);
        snprintf(buf, size, "%04d-W%02d", wy, w);
}

/* A two-digit year: the one of the reference's century closest to it. */
static int
full_year(int y, int digits, const socfw_nlu_date *ref)
{
        if (digits == 4)
                return y;
        int base = ref ? ref->year : 2000;
        int c = base - base % 100 + y;
        if (c > base + 50)
                c -= 100;
        else if (c < base - 50)
                c += 100;
        return c;
}

/* ---- per-pattern handlers: 1 keep (value set), 0 drop ---- */

typedef struct ctx {
        const socfw_nlu_extractor *x;
        const socfw_nlu_date *ref;
        int shouting;           /* most letters are capitals */
} ctx;

static const char *const not_tickers[] = {
        "A",    "I",    "IT",   "ON",   "ALL",  "ARE",  "CEO",  "CFO",
        "CTO",  "USA",  "US",   "UK",   "EU",   "AI",   "IPO",  "ETF",
        "GDP",  "FBI",  "NYSE", "OK",   "TV",   "PM",   "AM",   "NEW",
        "NOW",  "FOR",  "AND",  "THE",  "BIG",  "BE",   "GO",   "SO",
        "DO",   "AT",   "BY",   "UP",   "OUT",  "ONE",  "HAS",  "CAN",
        "RUN",  "SEE",  "LOW",  "HIGH", "BEST", "REAL", "TRUE", "FUN",
        "LOVE", "EAT",  "PLAY", "CASH", "MAIN", "WELL", "LIFE", "KEY",
        "ANY",  "GOOD", "OPEN", "HOME", "CAR",  "TWO",  "JOB",  "IRS",
        "CPI",  "FED",  "SEC",  "ATH",  "DD",   "YOLO", "HODL", "IMO",
        "LOL",  "OMG",  "WTF",  "FOMO", "EPS",  "PE",   "EV",   "ET",
        "EST",  "PST",  "UTC",  "NASDAQ", "API", "FAQ", "DM",  "RT",
        "FYI",  "ASAP", "NFT",  "CEOS", "SEO",  "HR",   "PR",   "IR",
        "IQ",   "ID",   "NO",   "YES",  "MY",   "WE",   "HE",   "SHE",
        "OR",   "IF",   "IN",   "IS",   "OF",   "TO",   "AN",   "AS",
        "VS",   "OH",   "HI",   "BUY",  "SELL", "HOLD", "LONG", "SHORT",
        "CALL", "PUT",  "TOP",  "NEXT", "LAST", "FREE", "SAVE", "WIN",
        NULL};

static int
h_ticker(const ctx *c, const match *m, cand *out)
{
        size_t s = 0, e = 0;
        group(m, 1, &s, &e);
        char sym[16];
        if (c->shouting || e - s < c->x->o.min_ticker_len || e - s > 7)
                return 0;
        snprintf(sym, sizeof sym, "%.*s", (int)(e - s), m->text + s);
        for (size_t i = 0; not_tickers[i]; i++)
                if (!strcmp(sym, not_tickers[i]))
                        return 0;
        const char *t = socfw_nlu_tickers_symbol(c->x->o.tickers, sym,
                                                 strlen(sym));
        if (!t)
                return 0;
        snprintf(out->value, sizeof out->value, "%s", t);
        return 1;
}

static int
h_cashtag(const ctx *c, const match *m, cand *out)
{
        (void)c;
        gstr(m, 1, out->value, sizeof out->value);
        upper(out->value);
        return 1;
}

static int
h_amount(const ctx *c, const match *m, pid p, cand *out)
{
        char cur[32], pre[8];
        double v;
        int neg;
        if (p == P_AMOUNT_SYM) {
                gstr(m, 1, pre, sizeof pre);
                gstr(m, 2, cur, sizeof cur);
                neg = m->ov[6] != PCRE2_UNSET;
                v = number(m, 4, 6);
                const char *code = currency_of(cur, c->x->o.dollar);
                if (!strcmp(cur, "$") && pre[0]) {
                        static const struct {
                                const char *p, *c;
                        } pm[] = {{"US", "USD"}, {"C", "CAD"}, {"CA", "CAD"},
                                  {"A", "AUD"},  {"AU", "AUD"}, {"HK", "HKD"},
                                  {"S", "SGD"},  {"NZ", "NZD"}, {"R", "BRL"}};
                        for (size_t i = 0; i < sizeof pm / sizeof pm[0]; i++)
                                if (!strcmp(pre, pm[i].p))
                                        code = pm[i].c;
                }
                amount_value(out->value, sizeof out->value, v, neg, code);
                return 1;
        }
        if (p == P_AMOUNT_CODE) {
                gstr(m, 1, cur, sizeof cur);
                neg = m->ov[4] != PCRE2_UNSET;
                v = number(m, 3, 5);
        } else {
                neg = m->ov[2] != PCRE2_UNSET;
                v = number(m, 2, 4);
                gstr(m, 5, cur, sizeof cur);
        }
        amount_value(out->value, sizeof out->value, v, neg,
                     currency_of(cur, c->x->o.dollar));
        return 1;
}

static int
h_percent(const match *m, cand *out)
{
        char sign[8], num[64];
        gstr(m, 1, sign, sizeof sign);
        gstr(m, 2, num, sizeof num);
        double v = strtod(num, NULL);
        if (sign[0] && sign[0] != '+')
                v = -v;
        snprintf(out->value, sizeof out->value, "%.15g", v);
        return 1;
}

static int
h_date_abs(const ctx *c, const match *m, pid p, cand *out)
{
        char a[16], b[16], y[16];
        int year, month, day;
        if (p == P_DATE_ISO) {
                gstr(m, 1, y, sizeof y);
                gstr(m, 3, a, sizeof a);
                gstr(m, 4, b, sizeof b);
                year = toint(y), month = toint(a), day = toint(b);
        } else if (p == P_DATE_NUM) {
                gstr(m, 1, a, sizeof a);
                gstr(m, 3, b, sizeof b);
                gstr(m, 4, y, sizeof y);
                int x1 = toint(a), x2 = toint(b);
                int dayfirst = c->x->o.day_first;
                if (x1 > 12 && x2 <= 12)
                        dayfirst = 1;
                else if (x2 > 12 && x1 <= 12)
                        dayfirst = 0;
                month = dayfirst ? x2 : x1;
                day = dayfirst ? x1 : x2;
                year = full_year(toint(y), (int)strlen(y), c->ref);
                /* "1.5.24" with dots and a short year reads like a
                 * version number: only slashes take two-digit years */
                if (strlen(y) == 2 && m->text[m->ov[4]] == '.')
                        return 0;
        } else if (p == P_DATE_MY) {
                gstr(m, 1, a, sizeof a);
                gstr(m, 2, y, sizeof y);
                if (!strncmp(a, "may", 3) || !strncmp(a, "mar", 3))
                        return 0; /* the verbs "may", "march" */
                snprintf(out->value, sizeof out->value, "%04d-%02d",
                         toint(y), month_of(a));
                return toint(y) >= 1;
        } else {
                int mg = p == P_DATE_MDY ? 1 : 2, dg = p == P_DATE_MDY ? 2 : 1;
                gstr(m, mg, a, sizeof a);
                gstr(m, dg, b, sizeof b);
                gstr(m, 3, y, sizeof y);
                if (!strncmp(a, "may", 3) && p == P_DATE_MDY)
                        return 0; /* "you may 2 ..." */
                month = month_of(a);
                day = toint(b);
                if (y[0])
                        year = toint(y);
                else if (c->ref)
                        year = c->ref->year;
                else {
                        /* no year and no reference: the day without one */
                        if (!socfw_nlu_date_valid(2000, month, day))
                                return 0;
                        snprintf(out->value, sizeof out->value,
                                 "--%02d-%02d", month, day);
                        return 1;
                }
        }
        if (!socfw_nlu_date_valid(year, month, day))
                return 0;
        fmt_date(out->value, sizeof out->value,
                 (socfw_nlu_date){year, month, day});
        return 1;
}

static int
h_date_rel(const ctx *c, const match *m, pid p, cand *out)
{
        char a[48], b[16];
        out->has_value = c->ref != NULL;
        if (!c->ref)
                return 1; /* found, no value */
        socfw_nlu_date r = *c->ref;
        gstr(m, 1, a, sizeof a);
        for (char *q = a; *q; q++)
                *q = (char)tolower((unsigned char)*q);
        if (p == P_DATE_WORD) {
                int off = !strcmp(a, "yesterday")  ? -1
                          : !strcmp(a, "tomorrow") ? 1
                          : !strncmp(a, "the", 3)  ? (strstr(a, "after") ? 2
                                                                         : -2)
                                                   : 0;
                fmt_date(out->value, sizeof out->value,
                         socfw_nlu_date_add_days(r, off));
                return 1;
        }
        gstr(m, 2, b, sizeof b);
        for (char *q = b; *q; q++)
                *q = (char)tolower((unsigned char)*q);
        if (p == P_DATE_NEXT) {
                int dir = !strcmp(a, "next") ? 1
                          : (!strcmp(a, "last") || !strcmp(a, "past")) ? -1
                                                                       : 0;
                int wd = weekday_of(b), today = socfw_nlu_date_weekday(r);
                if (!strcmp(b, "week")) {
                        fmt_week(out->value, sizeof out->value,
                                 socfw_nlu_date_add_days(r, 7 * dir));
                } else if (!strcmp(b, "weekend")) {
                        /* the Saturday of this / next / last weekend */
                        int k = 6 - today; /* Sunday: -1 (this weekend) */
                        socfw_nlu_date sat = socfw_nlu_date_add_days(
                                r, k + 7 * dir);
                        fmt_date(out->value, sizeof out->value, sat);
                } else if (!strcmp(b, "month")) {
                        socfw_nlu_date x = socfw_nlu_date_add_months(r, dir);
                        snprintf(out->value, sizeof out->value, "%04d-%02d",
                                 x.year, x.month);
                } else if (!strcmp(b, "year")) {
                        snprintf(out->value, sizeof out->value, "%04d",
                                 r.year + dir);
                } else if (wd) {
                        /* next: the first one after the day; last: the
                         * last one before; this / coming: on or after */
                        int k;
                        if (dir > 0)
                                k = ((wd - today) + 7) % 7, k = k ? k : 7;
                        else if (dir < 0)
                                k = -(((today - wd) + 7) % 7),
                                k = k ? k : -7;
                        else
                                k = ((wd - today) + 7) % 7;
                        fmt_date(out->value, sizeof out->value,
                                 socfw_nlu_date_add_days(r, k));
                } else
                        return 0;
                return 1;
        }
        /* in N units / N units ago */
        int n = count_of(a), sign = p == P_DATE_AGO ? -1 : 1;
        if (n < 0)
                return 0;
        if (b[0] == 'd')
                fmt_date(out->value, sizeof out->value,
                         socfw_nlu_date_add_days(r, sign * n));
        else if (b[0] == 'w')
                fmt_date(out->value, sizeof out->value,
                         socfw_nlu_date_add_days(r, sign * 7 * n));
        else if (b[0] == 'm')
                fmt_date(out->value, sizeof out->value,
                         socfw_nlu_date_add_months(r, sign * n));
        else
                fmt_date(out->value, sizeof out->value,
                         socfw_nlu_date_add_months(r, sign * 12 * n));
        return 1;
}

static int
has_digit(const char *s)
{
        for (; *s; s++)
                if (isdigit((unsigned char)*s))
                        return 1;
        return 0;
}

static int
h_order(const match *m, cand *out, size_t *s, size_t *e)
{
        group(m, 4, s, e);
        while (*e > *s && m->text[*e - 1] == '-')
                (*e)--;
        snprintf(out->value, sizeof out->value, "%.*s", (int)(*e - *s),
                 m->text + *s);
        upper(out->value);
        int marked = m->ov[2] != PCRE2_UNSET || m->ov[4] != PCRE2_UNSET ||
                     m->ov[6] != PCRE2_UNSET;
        /* "order 100 units": a bare number needs 5 characters */
        return has_digit(out->value) && (marked || *e - *s >= 5);
}

/* ---- companies: longest known name at each word ---- */

typedef struct cword {
        size_t s, e;
} cword;

static int
trail_punct(unsigned char c)
{
        return c == ',' || c == '.' || c == '!' || c == '?' || c == ';' ||
               c == ':' || c == ')' || c == '"' || c == '\'';
}

static int
companies(const socfw_nlu_extractor *x, const char *text, size_t len,
          cands *out)
{
        const socfw_nlu_tickers *t = x->o.tickers;
        size_t maxw = socfw_nlu_tickers_max_words(t);
        if (!t || !maxw)
                return 0;
        if (maxw > MAX_COMPANY_WORDS)
                maxw = MAX_COMPANY_WORDS;
        cword *w = NULL;
        size_t nw = 0, cap = 0;
        int rc = 0;
        for (size_t i = 0; i < len;) {
                while (i < len && isspace((unsigned char)text[i]))
                        i++;
                size_t s = i;
                while (i < len && !isspace((unsigned char)text[i]))
                        i++;
                size_t e = i;
                while (s < e && strchr("(\"'[", text[s]))
                        s++;
                /* possessive 's / ’s, then trailing punctuation */
                for (int again = 1; again && e > s;) {
                        again = 0;
                        if (e - s > 2 && text[e - 2] == '\'' &&
                            (text[e - 1] == 's' || text[e - 1] == 'S'))
                                e -= 2, again = 1;
                        else if (e - s > 4 &&
                                 !memcmp(text + e - 4, "\xE2\x80\x99", 3) &&
                                 text[e - 1] == 's')
                                e -= 4, again = 1;
                        else if (trail_punct((unsigned char)text[e - 1]))
                                e--, again = 1;
                }
                if (e <= s)
                        continue;
                if (nw == cap) {
                        cap = cap ? cap * 2 : 32;
                        cword *g = realloc(w, cap * sizeof *g);
                        if (!g) {
                                free(w);
                                return SOCFW_ENOMEM;
                        }
                        w = g;
                }
                w[nw++] = (cword){s, e};
        }
        char key[512];
        for (size_t i = 0; rc == 0 && i < nw;) {
                size_t took = 0;
                for (size_t k = nw - i < maxw ? nw - i : maxw; k >= 1; k--) {
                        size_t o = 0;
                        int fits = 1;
                        for (size_t j = i; j < i + k && fits; j++) {
                                size_t n = w[j].e - w[j].s;
                                if (o + n + 2 > sizeof key)
                                        fits = 0;
                                else {
                                        if (j > i)
                                                key[o++] = ' ';
                                        memcpy(key + o, text + w[j].s, n);
                                        o += n;
                                }
                        }
                        if (!fits)
                                continue;
                        const char *sym =
                                socfw_nlu_tickers_by_name(t, key, o);
                        if (sym) {
                                rc = cand_add(out, SOCFW_NLU_COMPANY, w[i].s,
                                              w[i + k - 1].e, sym);
                                took = k;
                                break;
                        }
                }
                i += took ? took : 1;
        }
        free(w);
        return rc;
}

/* ---- resolution ---- */

static int
by_length(const void *a, const void *b)
{
        const cand *x = a, *y = b;
        size_t lx = x->e - x->s, ly = y->e - y->s;
        if (lx != ly)
                return lx > ly ? -1 : 1;
        if (x->s != y->s)
                return x->s < y->s ? -1 : 1;
        return (int)x->kind - (int)y->kind;
}

int
socfw_nlu_extract(const socfw_nlu_extractor *x, const char *text, size_t len,
                  const socfw_nlu_date *ref, socfw_nlu_spans *out,
                  socfw_error *err)
{
        cands c = {0};
        int rc = 0;
        unsigned kinds = x->o.kinds;
        if (!x->o.tickers)
                kinds &= ~(SOCFW_NLU_BIT(SOCFW_NLU_TICKER) |
                           SOCFW_NLU_BIT(SOCFW_NLU_COMPANY));
        ctx cx = {.x = x, .ref = ref};
        size_t letters = 0, caps = 0;
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)text[i];
                letters += isalpha(ch) != 0;
                caps += isupper(ch) != 0;
        }
        cx.shouting = letters >= 12 && caps * 10 > letters * 6;
        pcre2_match_data *md = pcre2_match_data_create(12, NULL);
        if (!md)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (int p = 0; rc == 0 && p < N_PATTERNS; p++) {
                if (!(kinds & SOCFW_NLU_BIT(patterns[p].kind)))
                        continue;
                PCRE2_SIZE at = 0;
                while (rc == 0 && at <= len) {
                        int r = pcre2_match(x->code[p], (PCRE2_SPTR)text, len,
                                            at, 0, md, x->mctx);
                        if (r == PCRE2_ERROR_NOMATCH ||
                            r == PCRE2_ERROR_MATCHLIMIT ||
                            r == PCRE2_ERROR_DEPTHLIMIT)
                                break;
                        if (r < 0) {
                                char msg[256];
                                pcre2_get_error_message(r, (PCRE2_UCHAR *)msg,
                                                        sizeof msg);
                                rc = socfw_error_set(err, SOCFW_EINTERNAL,
                                                     "nlu pattern %d: %s", p,
                                                     msg);
                                break;
                        }
                        match m = {.text = text,
                                   .ov = pcre2_get_ovector_pointer(md),
                                   .n = r};
                        size_t s = m.ov[0], e = m.ov[1];
                        cand k = {.kind = patterns[p].kind, .has_value = 1};
                        int keep = 0;
                        switch ((pid)p) {
                        case P_CASHTAG:
                                keep = h_cashtag(&cx, &m, &k);
                                break;
                        case P_TICKER:
                                keep = h_ticker(&cx, &m, &k);
                                break;
                        case P_AMOUNT_SYM:
                        case P_AMOUNT_CODE:
                        case P_AMOUNT_AFTER:
                                keep = h_amount(&cx, &m, (pid)p, &k);
                                break;
                        case P_PERCENT:
                                keep = h_percent(&m, &k);
                                break;
                        case P_DATE_ISO:
                        case P_DATE_NUM:
                        case P_DATE_MDY:
                        case P_DATE_DMY:
                        case P_DATE_MY:
                                keep = h_date_abs(&cx, &m, (pid)p, &k);
                                break;
                        case P_DATE_WORD:
                        case P_DATE_NEXT:
                        case P_DATE_IN:
                        case P_DATE_AGO:
                                keep = h_date_rel(&cx, &m, (pid)p, &k);
                                break;
                        case P_ORDER:
                                keep = h_order(&m, &k, &s, &e);
                                break;
                        case P_UPS:
                        case P_USPS:
                        case P_TRACKING:
                                group(&m, 1, &s, &e);
                                snprintf(k.value, sizeof k.value, "%.*s",
                                         (int)(e - s), text + s);
                                upper(k.value);
                                keep = has_digit(k.value);
                                break;
                        default:
                                break;
                        }
                        if (keep && e > s)
                                rc = cand_add(&c, k.kind, s, e,
                                              k.has_value ? k.value : NULL);
                        /* go on after the match (one character on an
                         * empty one, whole UTF-8 characters) */
                        PCRE2_SIZE next = m.ov[1] > at ? m.ov[1] : at + 1;
                        while (next < len &&
                               ((unsigned char)text[next] & 0xC0) == 0x80)
                                next++;
                        if (m.ov[1] <= m.ov[0] && next > len)
                                break;
                        at = next;
                }
        }
        pcre2_match_data_free(md);
        if (rc == 0 && (kinds & SOCFW_NLU_BIT(SOCFW_NLU_COMPANY)))
                rc = companies(x, text, len, &c);
        if (rc < 0) {
                free(c.v);
                return rc == SOCFW_ENOMEM
                               ? socfw_error_set(err, rc, "out of memory")
                               : rc;
        }
        /* the longest candidate wins where they overlap */
        if (c.n > 1)
                qsort(c.v, c.n, sizeof *c.v, by_length);
        size_t first = out->n;
        for (size_t i = 0; rc == 0 && i < c.n; i++) {
                int clash = 0;
                for (size_t k = first; !clash && k < out->n; k++)
                        clash = c.v[i].s < out->v[k].end &&
                                out->v[k].start < c.v[i].e;
                if (!clash)
                        rc = socfw_nlu_spans_push(
                                out, socfw_nlu_kind_name(c.v[i].kind),
                                c.v[i].s, c.v[i].e,
                                c.v[i].has_value ? c.v[i].value : NULL,
                                SOCFW_NLU_PATTERN, 1.0f);
        }
        free(c.v);
        if (rc < 0)
                return socfw_error_set(err, rc, "out of memory");
        socfw_nlu_spans_sort(out);
        return 0;
}

/* tests/test_privacy_recognizers.c - PII pattern recognizers: true
 * positives and validation failures per type, context, overlaps, UTF-8
 * offsets, invalid UTF-8, backtracking bait, a 10 MB post. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recognizers.h"
#include "testutil.h"

static socfw_pii_recognizer *rec;

static void
setup(void)
{
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_recognizer_new(&rec, NULL, &err), 0, "%s",
                     err.message);
}

static void
teardown(void)
{
        socfw_pii_recognizer_free(rec);
        rec = NULL;
}

TestSuite(privacy_recognizers, .init = setup, .fini = teardown);

static void
scan(const char *text, socfw_pii_spans *out)
{
        socfw_error err = {0};
        memset(out, 0, sizeof *out);
        cr_assert_eq(socfw_pii_recognizer_scan(rec, text, strlen(text), out,
                                               &err), 0, "%s", err.message);
}

/* The span of `type` covering exactly `value` inside `text`, or NULL. */
static const socfw_pii_span *
find(const socfw_pii_spans *sp, const char *text, socfw_pii_type type,
     const char *value)
{
        const char *at = strstr(text, value);
        if (!at)
                return NULL;
        size_t s = (size_t)(at - text), e = s + strlen(value);
        for (size_t i = 0; i < sp->n; i++)
                if (sp->v[i].type == type && sp->v[i].start == s &&
                    sp->v[i].end == e)
                        return &sp->v[i];
        return NULL;
}

static size_t
count_type(const socfw_pii_spans *sp, socfw_pii_type type)
{
        size_t n = 0;
        for (size_t i = 0; i < sp->n; i++)
                n += sp->v[i].type == type;
        return n;
}

/* ---- true positives ---- */

static const struct {
        socfw_pii_type type;
        const char *text;
        const char *value;
} positives[] = {
        {SOCFW_PII_EMAIL_ADDRESS, "mail me: jane.doe+tag@mail.example.co.uk.",
         "jane.doe+tag@mail.example.co.uk"},
        {SOCFW_PII_EMAIL_ADDRESS, "邮箱123456789@qq.com谢谢", "123456789@qq.com"},
        {SOCFW_PII_PHONE_NUMBER, "call +44 20 7946 0958 now", "+44 20 7946 0958"},
        {SOCFW_PII_PHONE_NUMBER, "Call (415) 555-2671 today", "(415) 555-2671"},
        {SOCFW_PII_PHONE_NUMBER, "office 415.555.2671", "415.555.2671"},
        {SOCFW_PII_PHONE_NUMBER, "reach 415-555-2671x123", "415-555-2671x123"},
        {SOCFW_PII_PHONE_NUMBER, "手机13812345678", "13812345678"},
        {SOCFW_PII_PHONE_NUMBER, "手机：+86 138 1234 5678", "+86 138 1234 5678"},
        {SOCFW_PII_PHONE_NUMBER, "电话 0086 13912345678", "0086 13912345678"},
        {SOCFW_PII_PHONE_NUMBER, "电话：010-12345678", "010-12345678"},
        {SOCFW_PII_PHONE_NUMBER, "座机 0755-1234567", "0755-1234567"},
        {SOCFW_PII_PHONE_NUMBER, "Phone:\n0494 92 82 32\n", "0494 92 82 32"},
        {SOCFW_PII_CREDIT_CARD, "card 4111 1111 1111 1111 exp 12/29",
         "4111 1111 1111 1111"},
        {SOCFW_PII_CREDIT_CARD, "amex 3782-822463-10005", "3782-822463-10005"},
        {SOCFW_PII_CREDIT_CARD, "pay with 5555555555554444.", "5555555555554444"},
        {SOCFW_PII_CREDIT_CARD, "信用卡6011111111111117", "6011111111111117"},
        {SOCFW_PII_CN_ID, "身份证号：11010519491231002X。", "11010519491231002X"},
        {SOCFW_PII_CN_ID, "id 440524198001010013 ok", "440524198001010013"},
        {SOCFW_PII_IBAN_CODE, "IBAN GB82 WEST 1234 5698 7654 32 please",
         "GB82 WEST 1234 5698 7654 32"},
        {SOCFW_PII_IBAN_CODE, "to DE89370400440532013000.",
         "DE89370400440532013000"},
        {SOCFW_PII_IBAN_CODE, "iban gb82west12345698765432",
         "gb82west12345698765432"},
        {SOCFW_PII_US_SSN, "SSN: 123-45-6789", "123-45-6789"},
        {SOCFW_PII_US_SSN, "my social security number is 078051120",
         "078051120"},
        {SOCFW_PII_IP_ADDRESS, "from 192.168.0.1, again", "192.168.0.1"},
        {SOCFW_PII_IP_ADDRESS, "host 2001:db8::8a2e:370:7334 up",
         "2001:db8::8a2e:370:7334"},
        {SOCFW_PII_IP_ADDRESS, "ip ::ffff:10.0.0.1", "::ffff:10.0.0.1"},
        {SOCFW_PII_URL, "see https://example.com/a?b=1&c=(2)).",
         "https://example.com/a?b=1&c=(2)"},
        {SOCFW_PII_URL, "访问www.example.cn/路径", "www.example.cn/"},
        {SOCFW_PII_HANDLE, "thanks @jack_dev!", "@jack_dev"},
        {SOCFW_PII_HANDLE, "转发 @张三 的微博", "@张三"},
        {SOCFW_PII_STREET_ADDRESS, "I live at 221 Baker Street, London",
         "221 Baker Street"},
        {SOCFW_PII_STREET_ADDRESS, "ship to 1600 Pennsylvania Ave, Apt 5",
         "1600 Pennsylvania Ave, Apt 5"},
};

Test(privacy_recognizers, true_positives_per_type)
{
        for (size_t i = 0; i < sizeof positives / sizeof positives[0]; i++) {
                socfw_pii_spans sp;
                scan(positives[i].text, &sp);
                const socfw_pii_span *s = find(&sp, positives[i].text,
                                               positives[i].type,
                                               positives[i].value);
                cr_expect_not_null(s, "%s not found as %s in \"%s\" (%zu "
                                   "spans, first %s %zu..%zu)",
                                   positives[i].value,
                                   socfw_pii_type_name(positives[i].type),
                                   positives[i].text, sp.n,
                                   sp.n ? socfw_pii_type_name(sp.v[0].type) :
                                          "-",
                                   sp.n ? sp.v[0].start : 0,
                                   sp.n ? sp.v[0].end : 0);
                if (s)
                        cr_expect(s->score >= 0.5f && s->score <= 1.0f);
                socfw_pii_spans_free(&sp);
        }
}

/* ---- validation failures: the pattern matches, the validator refuses ---- */

static const struct {
        socfw_pii_type type;
        const char *text;
} invalid[] = {
        {SOCFW_PII_CREDIT_CARD, "card 4111 1111 1111 1112"},   /* Luhn */
        {SOCFW_PII_CREDIT_CARD, "card 4111111111111112"},
        {SOCFW_PII_CREDIT_CARD, "card 9111 1111 1111 1115"},   /* no IIN */
        {SOCFW_PII_CN_ID, "身份证 11010519491231002Y"},        /* check char */
        {SOCFW_PII_CN_ID, "身份证 110105194912310021"},
        {SOCFW_PII_CN_ID, "身份证 110105194902300017"},        /* Feb 30 */
        {SOCFW_PII_CN_ID, "身份证 990105194912310028"},        /* region 99 */
        {SOCFW_PII_CN_ID, "身份证 110105189912310023"},        /* 1899 */
        {SOCFW_PII_IBAN_CODE, "IBAN GB82 WEST 1234 5698 7654 33"},
        {SOCFW_PII_IBAN_CODE, "IBAN GB82 WEST 1234 5698 7654 3"}, /* length */
        {SOCFW_PII_IBAN_CODE, "IBAN ZZ82WEST12345698765432"},     /* country */
        {SOCFW_PII_US_SSN, "SSN 999-12-3456"},
        {SOCFW_PII_US_SSN, "SSN 666-12-3456"},
        {SOCFW_PII_US_SSN, "SSN 000-12-3456"},
        {SOCFW_PII_US_SSN, "SSN 123-00-3456"},
        {SOCFW_PII_US_SSN, "SSN 123-45-0000"},
        {SOCFW_PII_IP_ADDRESS, "ip 256.1.1.1"},
        {SOCFW_PII_IP_ADDRESS, "ip 1.2.3.999"},
        {SOCFW_PII_IP_ADDRESS, "ip 01.2.3.4"},
        {SOCFW_PII_IP_ADDRESS, "ip 2001:db8:::1"},
        {SOCFW_PII_IP_ADDRESS, "at 14:23:11 today"},
        {SOCFW_PII_EMAIL_ADDRESS, "mail a..b@example.com"},
        {SOCFW_PII_EMAIL_ADDRESS, "mail ab@-example.com"},
        {SOCFW_PII_URL, "http://nohost/"},
        {SOCFW_PII_PHONE_NUMBER, "call 2023-10-05"},
        {SOCFW_PII_PHONE_NUMBER, "call 111-111-1111"},
};

Test(privacy_recognizers, validation_failures_are_not_reported)
{
        for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
                socfw_pii_spans sp;
                scan(invalid[i].text, &sp);
                cr_expect_eq(count_type(&sp, invalid[i].type), 0,
                             "\"%s\" accepted as %s", invalid[i].text,
                             socfw_pii_type_name(invalid[i].type));
                socfw_pii_spans_free(&sp);
        }
}

Test(privacy_recognizers, validators_directly)
{
        cr_assert(socfw_pii_luhn_ok("4111111111111111", 16));
        cr_assert_not(socfw_pii_luhn_ok("4111111111111121", 16));
        cr_assert_eq(socfw_pii_cn_id_check_char("11010519491231002"), 'X');
        cr_assert(socfw_pii_cn_id_ok("11010519491231002x", 18));
        cr_assert(socfw_pii_cn_id_ok("110105200002290016", 18) ==
                  (socfw_pii_cn_id_check_char("11010520000229001") == '6'));
        cr_assert_not(socfw_pii_cn_id_ok("110105190002290010", 18) &&
                      socfw_pii_cn_id_check_char("11010519000229001") != '0');
        cr_assert(socfw_pii_iban_ok("GB82 WEST 1234 5698 7654 32", 27));
        cr_assert_not(socfw_pii_iban_ok("GB82 WEST 1234 5698 7654 23", 27));
}

/* ---- context ---- */

Test(privacy_recognizers, context_words_raise_the_score)
{
        socfw_pii_spans a, b;
        scan("number 467 3395 was", &a);   /* generic phone shape */
        scan("the 467 3395 was", &b);
        cr_assert_eq(count_type(&a, SOCFW_PII_PHONE_NUMBER), 1);
        cr_assert_eq(count_type(&b, SOCFW_PII_PHONE_NUMBER), 0);
        socfw_pii_spans_free(&a);
        socfw_pii_spans_free(&b);

        scan("电话 467 3395", &a);
        cr_assert_eq(count_type(&a, SOCFW_PII_PHONE_NUMBER), 1);
        socfw_pii_spans_free(&a);

        scan("card 5555555555554444", &a);
        scan("xyz 5555555555554444", &b);
        cr_assert_eq(a.n, 1);
        cr_assert_eq(b.n, 1);
        cr_assert_gt(a.v[0].score, b.v[0].score);
        cr_assert_leq(a.v[0].score, 1.0f);
        socfw_pii_spans_free(&a);
        socfw_pii_spans_free(&b);
}

Test(privacy_recognizers, threshold_and_type_mask_options)
{
        socfw_pii_options o = socfw_pii_options_default();
        o.types = SOCFW_PII_BIT(SOCFW_PII_EMAIL_ADDRESS);
        socfw_pii_recognizer *r2 = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_recognizer_new(&r2, &o, &err), 0);
        const char *t = "a@b.io 192.168.0.1";
        socfw_pii_spans sp = {0};
        cr_assert_eq(socfw_pii_recognizer_scan(r2, t, strlen(t), &sp, &err), 0);
        cr_assert_eq(sp.n, 1);
        cr_assert_eq(sp.v[0].type, SOCFW_PII_EMAIL_ADDRESS);
        socfw_pii_spans_free(&sp);
        socfw_pii_recognizer_free(r2);

        o = socfw_pii_options_default();
        o.threshold = 1.5f;
        cr_assert_eq(socfw_pii_recognizer_new(&r2, &o, &err), SOCFW_EINVAL);
        cr_assert_null(r2);
}

/* ---- overlaps ---- */

Test(privacy_recognizers, url_containing_email_keeps_the_url)
{
        const char *t = "go to https://user@example.com/x?to=bob@example.org ok";
        socfw_pii_spans sp;
        scan(t, &sp);
        cr_assert_eq(sp.n, 1);
        cr_assert_eq(sp.v[0].type, SOCFW_PII_URL);
        cr_assert_eq(sp.v[0].end - sp.v[0].start,
                     strlen("https://user@example.com/x?to=bob@example.org"));
        socfw_pii_spans_free(&sp);
}

Test(privacy_recognizers, resolve_rule_is_deterministic)
{
        /* same length: higher score wins; longer beats higher score */
        socfw_pii_spans sp = {0};
        socfw_pii_span a = {.start = 0, .end = 18, .type = SOCFW_PII_CREDIT_CARD,
                            .score = 0.6f};
        socfw_pii_span b = {.start = 0, .end = 18, .type = SOCFW_PII_CN_ID,
                            .score = 0.85f};
        socfw_pii_span c = {.start = 10, .end = 30, .type = SOCFW_PII_URL,
                            .score = 0.55f};
        socfw_pii_span d = {.start = 40, .end = 45, .type = SOCFW_PII_HANDLE,
                            .score = 0.6f};
        socfw_pii_spans_push(&sp, &d);
        socfw_pii_spans_push(&sp, &a);
        socfw_pii_spans_push(&sp, &b);
        socfw_pii_spans_push(&sp, &c);
        socfw_pii_spans_resolve(&sp);
        cr_assert_eq(sp.n, 2);
        cr_assert_eq(sp.v[0].type, SOCFW_PII_URL);   /* 20 bytes > 18 */
        cr_assert_eq(sp.v[1].type, SOCFW_PII_HANDLE);
        socfw_pii_spans_free(&sp);

        socfw_pii_spans_push(&sp, &a);
        socfw_pii_spans_push(&sp, &b);
        socfw_pii_spans_resolve(&sp);
        cr_assert_eq(sp.n, 1);
        cr_assert_eq(sp.v[0].type, SOCFW_PII_CN_ID);
        socfw_pii_spans_free(&sp);
}

Test(privacy_recognizers, cn_id_that_is_also_luhn_valid_is_cn_id)
{
        /* find an ID whose digits also pass Luhn with a card prefix: search
         * a few sequence numbers of a valid ID from Shanghai (31...). */
        char id[19];
        int found = 0;
        for (int seq = 0; seq < 1000 && !found; seq++) {
                snprintf(id, sizeof id, "31010119900307%03d", seq);
                id[17] = socfw_pii_cn_id_check_char(id);
                id[18] = '\0';
                found = id[17] != 'X' && socfw_pii_luhn_ok(id, 18);
        }
        cr_assert(found);
        char text[64];
        snprintf(text, sizeof text, "号码 %s", id);
        socfw_pii_spans sp;
        scan(text, &sp);
        cr_assert_eq(sp.n, 1);
        cr_assert_eq(sp.v[0].type, SOCFW_PII_CN_ID);
        socfw_pii_spans_free(&sp);
}

Test(privacy_recognizers, merge_external_spans)
{
        const char *t = "张伟的电话是13812345678";
        socfw_pii_spans sp;
        scan(t, &sp);
        cr_assert_eq(sp.n, 1);
        socfw_pii_span person = {.cp_start = 0, .cp_end = 2,
                                 .type = SOCFW_PII_PERSON, .score = 0.9f};
        socfw_pii_spans ext = {0};
        socfw_pii_spans_push(&ext, &person);
        socfw_error err = {0};
        /* a model counting code points: convert to bytes first */
        cr_assert_eq(socfw_pii_spans_fill_bytes(&ext, t, strlen(t), &err), 0);
        cr_assert_eq(ext.v[0].end, 6);
        cr_assert_eq(socfw_pii_spans_merge(&sp, ext.v, ext.n, t, strlen(t),
                                           &err), 0, "%s", err.message);
        cr_assert_eq(sp.n, 2);
        cr_assert_eq(sp.v[0].type, SOCFW_PII_PERSON);
        cr_assert_eq(sp.v[0].source, SOCFW_PII_SOURCE_EXTERNAL);
        cr_assert_eq(sp.v[1].type, SOCFW_PII_PHONE_NUMBER);
        /* a span splitting a character is refused */
        socfw_pii_span bad = {.start = 1, .end = 3, .type = SOCFW_PII_PERSON};
        cr_assert_eq(socfw_pii_spans_merge(&sp, &bad, 1, t, strlen(t), &err),
                     SOCFW_EINVAL);
        cr_assert_eq(sp.n, 2);
        socfw_pii_spans_free(&sp);
        socfw_pii_spans_free(&ext);
}

/* ---- UTF-8 ---- */

Test(privacy_recognizers, offsets_in_bytes_and_code_points)
{
        /* 我的邮箱是 = 5 chars, 15 bytes */
        const char *t = "我的邮箱是a@b.cn，手机号码：13912345678。";
        socfw_pii_spans sp;
        scan(t, &sp);
        cr_assert_eq(sp.n, 2);
        cr_assert_eq(sp.v[0].type, SOCFW_PII_EMAIL_ADDRESS);
        cr_assert_eq(sp.v[0].start, 15);
        cr_assert_eq(sp.v[0].end, 21);
        cr_assert_eq(sp.v[0].cp_start, 5);
        cr_assert_eq(sp.v[0].cp_end, 11);
        cr_assert_eq(sp.v[1].type, SOCFW_PII_PHONE_NUMBER);
        /* ，手机号码： = 6 chars, 18 bytes */
        cr_assert_eq(sp.v[1].start, 21 + 18);
        cr_assert_eq(sp.v[1].end, 21 + 18 + 11);
        cr_assert_eq(sp.v[1].cp_start, 11 + 6);
        cr_assert_eq(sp.v[1].cp_end, 11 + 6 + 11);
        socfw_pii_spans_free(&sp);
}

Test(privacy_recognizers, invalid_utf8_never_crashes, .timeout = 10)
{
        /* policy: bad bytes are one code point each and never matched */
        const char t[] = "\xff\xfe mail a@b.io \xc3\x28 \xe2\x82 call "
                         "+1-415-555-2671 \xf0\x90\x80";
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_recognizer_scan(rec, t, sizeof t - 1, &sp,
                                               &err), 0, "%s", err.message);
        cr_assert_eq(sp.n, 2);
        cr_assert_eq(sp.v[0].type, SOCFW_PII_EMAIL_ADDRESS);
        cr_assert_eq(sp.v[0].start, 8);
        cr_assert_eq(sp.v[0].cp_start, 8);
        cr_assert_eq(sp.v[1].type, SOCFW_PII_PHONE_NUMBER);
        /* 2 bad bytes before the phone count as 1 char each: \xc3 \x28 is
         * bad+ASCII, \xe2\x82 two bad bytes */
        cr_assert_eq(sp.v[1].start - sp.v[1].cp_start, 0);
        socfw_pii_spans_free(&sp);

        /* random bytes: no crash, every span on valid boundaries */
        unsigned state = 12345;
        char *buf = malloc(65536);
        for (int round = 0; round < 20; round++) {
                for (size_t i = 0; i < 65536; i++) {
                        state = state * 1103515245u + 12345u;
                        buf[i] = (char)(state >> 16);
                }
                cr_assert_eq(socfw_pii_recognizer_scan(rec, buf, 65536, &sp,
                                                       &err), 0);
                for (size_t i = 0; i < sp.n; i++)
                        cr_assert(sp.v[i].end <= 65536 &&
                                  sp.v[i].cp_end <= sp.v[i].end);
                socfw_pii_spans_free(&sp);
        }
        free(buf);
}

/* ---- linear time ---- */

static double
now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *
repeat(const char *unit, size_t total)
{
        size_t u = strlen(unit);
        char *b = malloc(total + 1);
        for (size_t i = 0; i < total; i++)
                b[i] = unit[i % u];
        b[total] = '\0';
        return b;
}

Test(privacy_recognizers, backtracking_bait_stays_fast, .timeout = 30)
{
        static const char *const bait[] = {
                "aaaa@",        /* e-mail: local parts without a domain */
                "a.",           /* e-mail/URL: dotted runs */
                "a@a.",         /* e-mail: endless domain labels */
                "1-",           /* phone/SSN/card: digits with separators */
                "1 ",
                "12.",          /* IPv4 */
                "1:",           /* IPv6 */
                "ab:",
                "GB1",          /* IBAN */
                "1",            /* cards, CN ID */
                "http://a",     /* URL */
                "@a",           /* handles */
                "1 Aa ",        /* street addresses */
                "+1 (0)",       /* phone prefixes */
                "+86 ",
                "www.",         /* URL prefilter */
                ":",            /* IPv6 prefilter */
                "GB12 ",        /* IBAN prefilter */
                "a@",
                "1234567890123456789-",
                "手1",          /* Chinese + digits */
        };
        for (size_t i = 0; i < sizeof bait / sizeof bait[0]; i++) {
                char *t = repeat(bait[i], 100 * 1024);
                socfw_pii_spans sp = {0};
                socfw_error err = {0};
                double t0 = now();
                int rc = socfw_pii_recognizer_scan(rec, t, strlen(t), &sp,
                                                   &err);
                double dt = now() - t0;
                cr_expect_eq(rc, 0, "bait '%s': %s", bait[i], err.message);
                if (getenv("SOCFW_PRIVACY_BAIT_TIMES"))
                        fprintf(stderr, "bait %-22s %.3f s\n", bait[i], dt);
                /* 100 kB at >= 1 MB/s even on a loaded machine */
                cr_expect_lt(dt, 2.0, "bait '%s' took %.2f s", bait[i], dt);
                socfw_pii_spans_free(&sp);
                free(t);
        }
}

Test(privacy_recognizers, ten_megabyte_post, .timeout = 60)
{
        const char *unit = "Hi, I'm at 221 Baker Street. Call +44 20 7946 0958 "
                           "or mail jane@example.com; 身份证11010519491231002X "
                           "order #123456789012 on 2023-10-05 14:23:11. ";
        size_t total = 10u << 20;
        char *t = repeat(unit, total);
        /* cut at a character boundary */
        size_t len = total;
        while (len && ((unsigned char)t[len] & 0xC0) == 0x80)
                len--;
        t[len] = '\0';
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_recognizer_scan(rec, t, len, &sp, &err), 0,
                     "%s", err.message);
        size_t units = len / strlen(unit);
        cr_assert_geq(count_type(&sp, SOCFW_PII_EMAIL_ADDRESS), units);
        cr_assert_geq(count_type(&sp, SOCFW_PII_CN_ID), units);
        cr_assert_eq(count_type(&sp, SOCFW_PII_CREDIT_CARD), 0);
        cr_assert_leq(count_type(&sp, SOCFW_PII_PHONE_NUMBER), units + 1);
        socfw_pii_spans_free(&sp);
        free(t);
}

/* ---- hard negatives (tests/fixtures/privacy/hard_negatives.tsv) ---- */

Test(privacy_recognizers, hard_negatives_fp_rate_per_type, .timeout = 30)
{
        char path[4096];
        snprintf(path, sizeof path,
                 "%s/tests/fixtures/privacy/hard_negatives.tsv",
                 socfw_test_srcdir());
        size_t len;
        char *data = socfw_test_read_file(path, &len);
        cr_assert_not_null(data, "cannot read %s", path);
        /* per category and type: strings with a span of that type */
        enum { MAXCAT = 16 };
        char cats[MAXCAT][32];
        size_t ncat = 0, total[MAXCAT] = {0};
        size_t fp[MAXCAT][SOCFW_PII_TYPE_COUNT];
        memset(fp, 0, sizeof fp);
        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                char *tab = strchr(line, '\t');
                cr_assert_not_null(tab);
                *tab = '\0';
                size_t c = 0;
                while (c < ncat && strcmp(cats[c], line) != 0)
                        c++;
                if (c == ncat) {
                        cr_assert_lt(ncat, MAXCAT);
                        snprintf(cats[ncat++], sizeof cats[0], "%s", line);
                }
                total[c]++;
                socfw_pii_spans sp;
                scan(tab + 1, &sp);
                int seen[SOCFW_PII_TYPE_COUNT] = {0};
                for (size_t i = 0; i < sp.n; i++)
                        seen[sp.v[i].type] = 1;
                for (int t = 0; t < SOCFW_PII_TYPE_COUNT; t++)
                        fp[c][t] += seen[t];
                socfw_pii_spans_free(&sp);
        }
        free(data);
        cr_assert_geq(ncat, 7);
        for (size_t c = 0; c < ncat; c++) {
                cr_assert_geq(total[c], 300, "%s: only %zu strings", cats[c],
                              total[c]);
                for (int t = 1; t < SOCFW_PII_TYPE_COUNT; t++)
                        cr_expect_leq(fp[c][t] * 100, total[c],
                                      "%s: %zu of %zu flagged as %s (> 1%%)",
                                      cats[c], fp[c][t], total[c],
                                      socfw_pii_type_name((socfw_pii_type)t));
        }
}

/* ---- Chinese resident IDs: generated valid / invalid ---- */

static const char *const regions[] = {"110105", "310101", "440305", "510104",
                                      "650102", "820000", "130102", "370202"};

static unsigned rnd_state = 42;

static unsigned
rnd(void)
{
        rnd_state = rnd_state * 1103515245u + 12345u;
        return (rnd_state >> 16) & 0x7fff;
}

Test(privacy_recognizers, cn_id_generated_precision_recall, .timeout = 30)
{
        size_t tp = 0, fn = 0, fp = 0, tn = 0, wrong_check_accepted = 0;
        for (int i = 0; i < 2400; i++) {
                char id[19];
                int y = 1920 + (int)(rnd() % 100), m = 1 + (int)(rnd() % 12);
                int d = 1 + (int)(rnd() % 28);
                const char *region = regions[rnd() % 8];
                int seq = (int)(rnd() % 1000);
                snprintf(id, sizeof id, "%s%04d%02d%02d%03d", region, y, m,
                         d, seq);
                id[17] = socfw_pii_cn_id_check_char(id);
                id[18] = '\0';
                int valid = 1;
                switch (i % 6) {
                case 0: case 1: case 2:
                        break;  /* valid */
                case 3: {       /* wrong check character */
                        static const char alt[] = "0123456789X";
                        char c;
                        do
                                c = alt[rnd() % 11];
                        while (c == id[17]);
                        id[17] = c;
                        valid = 0;
                        break;
                }
                case 4:         /* impossible date, check char recomputed */
                        memcpy(id + 10, (rnd() & 1) ? "0230" : "1332", 4);
                        id[17] = socfw_pii_cn_id_check_char(id);
                        valid = 0;
                        break;
                case 5:         /* bad region, check char recomputed */
                        memcpy(id, (rnd() & 1) ? "99" : "20", 2);
                        id[17] = socfw_pii_cn_id_check_char(id);
                        valid = 0;
                        break;
                }
                char text[96];
                snprintf(text, sizeof text, "我的身份证号是%s，请核实。", id);
                socfw_pii_spans sp;
                scan(text, &sp);
                int found = find(&sp, text, SOCFW_PII_CN_ID, id) != NULL;
                socfw_pii_spans_free(&sp);
                if (valid) {
                        tp += found;
                        fn += !found;
                } else {
                        fp += found;
                        tn += !found;
                        if (found && i % 6 == 3)
                                wrong_check_accepted++;
                }
        }
        cr_assert_geq(tp + fn, 1000);
        cr_assert_geq(fp + tn, 1000);
        double p = (double)tp / (double)(tp + fp + (tp + fp == 0));
        double r = (double)tp / (double)(tp + fn);
        printf("CN_ID generated: %zu valid, %zu invalid: P=%.4f R=%.4f\n",
               tp + fn, fp + tn, p, r);
        cr_expect_geq(p, 0.99);
        cr_expect_geq(r, 0.99);
        cr_expect_eq(wrong_check_accepted, 0);
}

/* A word such as "order" marks a number as an id only when it labels it
 * directly; earlier in the sentence it says nothing about a phone. */
Test(privacy_recognizers, negative_words_only_label_the_next_number)
{
        socfw_pii_spans sp;
        const char *t = "charged twice for one order, call me on "
                        "+1 415 555 0134";
        scan(t, &sp);
        cr_assert_not_null(find(&sp, t, SOCFW_PII_PHONE_NUMBER,
                                "+1 415 555 0134"));
        socfw_pii_spans_free(&sp);
        const char *ids[] = {"order #4155550134", "order no. 4155550134",
                             "tracking number 4155550134",
                             "订单号：13812345678"};
        for (size_t i = 0; i < 4; i++) {
                scan(ids[i], &sp);
                cr_assert_eq(count_type(&sp, SOCFW_PII_PHONE_NUMBER), 0,
                             "'%s'", ids[i]);
                socfw_pii_spans_free(&sp);
        }
}

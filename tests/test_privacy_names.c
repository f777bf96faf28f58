/* tests/test_privacy_names.c - the name recognizer (names.h), the user's
 * own recognizers, deny and allow lists (custom.h), the phone veto and
 * national formats, and the plugin keys that turn them on.
 *
 * The name lists here are small fixtures written to a temporary
 * directory, so the rules are tested without ../shared; one test reads
 * the real lists and skips when they are absent.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "custom.h"
#include "names.h"
#include "names_impl.h"
#include "recognizers.h"
#include "socfw/chain.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "testutil.h"

static char dir[4096];
static char given[4200], surn[4200], zh[4200], freq[4200];

static void
write(const char *path, const char *text)
{
        cr_assert_eq(socfw_test_write_file(path, text, strlen(text)), 0);
}

static void
fixtures(void)
{
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(given, sizeof given, "%s/given.tsv", dir);
        snprintf(surn, sizeof surn, "%s/surnames.tsv", dir);
        snprintf(zh, sizeof zh, "%s/zh.tsv", dir);
        snprintf(freq, sizeof freq, "%s/freq.tsv", dir);
        write(given, "name\ttotal\tfemale\tmale\n"
                     "John\t5187975\t21734\t5166241\n"
                     "Mary\t4100000\t4090000\t10000\n"
                     "Will\t46288\t658\t45630\n"
                     "Mark\t1363786\t4496\t1359290\n"
                     "Grace\t526035\t524649\t1386\n"
                     "May\t49746\t49047\t699\n"
                     "Faina\t300\t300\t0\n"
                     "Ann\t600000\t600000\t0\n"
                     "Mary-Jane\t9000\t9000\t0\n");
        write(surn, "name\tcount\nSmith\t2442977\nLee\t693023\n"
                    "O'Brien\t100000\nYoung\t484447\n");
        write(zh, "name\tcount\n王\t9520\n李\t9340\n欧阳\t91\n诸葛\t5.5\n"
                  "司马\t20\n陈\t7000\n杨\t6000\n袁\t667\n熊\t384\n"
                  "毛\t264\n安\t179\n包\t115\n美\t5\n");
        write(freq, "word\tlower\tcapitalised\nwill\t102172\t1045\n"
                    "mark\t1986\t1773\ngrace\t2544\t873\nmay\t41879\t1957\n"
                    "john\t2\t6775\nthe\t2154839\t16861\ndear\t9000\t3\n"
                    "young\t30823\t709\ndate\t3000\t10\nyou\t500000\t900\n");
}

static socfw_pii_names *
names(unsigned evidence)
{
        fixtures();
        socfw_pii_names_options o = socfw_pii_names_options_default();
        o.given = given;
        o.surnames = surn;
        o.surnames_zh = zh;
        o.word_freq = freq;
        o.evidence = evidence;
        socfw_pii_names *nm = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_names_new(&nm, &o, &err), 0, "%s",
                     err.message);
        return nm;
}

/* The PERSON spans of a text as "a|b|" (resolved). */
static void
persons(const socfw_pii_names *nm, const char *text,
        const socfw_pii_spans *tagger, char *out, size_t cap)
{
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        size_t len = strlen(text);
        cr_assert_eq(socfw_pii_names_scan(nm, text, len, tagger, &sp, &err),
                     0, "%s", err.message);
        socfw_pii_spans_resolve(&sp);
        size_t n = 0;
        out[0] = '\0';
        for (size_t i = 0; i < sp.n; i++) {
                cr_assert(sp.v[i].end <= len && sp.v[i].start < sp.v[i].end);
                cr_assert_eq(sp.v[i].type, SOCFW_PII_PERSON);
                n += (size_t)snprintf(out + n, cap - n, "%.*s|",
                                      (int)(sp.v[i].end - sp.v[i].start),
                                      text + sp.v[i].start);
        }
        socfw_pii_spans_free(&sp);
}

static const struct {
        const char *text, *want;
} en_cases[] = {
        /* Given Surname, title, Surname, Given */
        {"Please ask John Smith about it.", "John Smith|"},
        {"The letter came from Mr. Yefremov yesterday.", "Yefremov|"},
        {"It was signed Smith, John on Monday.", "Smith, John|"},
        /* initials, hyphens, apostrophes, possessives */
        {"the verses from Faina D. Yefremova's book", "Faina D. Yefremova|"},
        {"we saw Mary-Jane O'Brien there", "Mary-Jane O'Brien|"},
        /* common-word names need context */
        {"Will you come to the party?", ""},
        {"Mark the date in your calendar.", ""},
        {"you may go now", ""},
        {"Dear Will, thanks for the book.", "Will|"},
        {"My name is Grace and I live here.", "Grace|"},
        /* Given name + common-word surname */
        {"the songwriter Mary Young employs lingo", "Mary Young|"},
        /* a signature line, a speaker, a list */
        {"see you soon\n-- \nAnn Lee", "Ann Lee|"},
        {"Ubul: What a wife.\nJohn: thanks", "Ubul|John|"},
        {"Marrero and John Smith were engineers.", "Marrero|John Smith|"},
        /* found again later in the text */
        {"I met Faina Yefremova, and then Yefremova left.",
         "Faina Yefremova|Yefremova|"},
        /* no names: lower case, all caps, places */
        {"the cat sat on the mat and nobody called", ""},
        {"JOHN SMITH IS HERE", ""},
        {"Hall Orchestra plays tonight", ""},
};

Test(privacy_names, english_rules, .timeout = 30)
{
        socfw_pii_names *nm = names(SOCFW_PII_NAMES_ALL);
        char got[512];
        for (size_t i = 0; i < sizeof en_cases / sizeof en_cases[0]; i++) {
                persons(nm, en_cases[i].text, NULL, got, sizeof got);
                cr_expect_str_eq(got, en_cases[i].want, "text: %s",
                                 en_cases[i].text);
        }
        socfw_pii_names_free(nm);
}

Test(privacy_names, context_is_an_evidence_source, .timeout = 30)
{
        /* without context words "Dear Will" is the common word "Will" */
        socfw_pii_names *nm = names(SOCFW_PII_NAMES_LISTS);
        char got[256];
        persons(nm, "Dear Will, thanks for the book.", NULL, got, sizeof got);
        cr_assert_str_eq(got, "");
        persons(nm, "Please ask John Smith about it.", NULL, got, sizeof got);
        cr_assert_str_eq(got, "John Smith|");
        socfw_pii_names_free(nm);
}

Test(privacy_names, tagger_spans_are_evidence, .timeout = 30)
{
        socfw_pii_names *nm = names(SOCFW_PII_NAMES_ALL);
        const char *text = "I think Will came and Zorblat left";
        char got[256];
        /* the tagger says "Will" and "Zorblat" are persons */
        socfw_pii_spans tg = {0};
        socfw_pii_span a = {.start = 8, .end = 12, .type = SOCFW_PII_PERSON,
                            .score = 0.9f,
                            .source = SOCFW_PII_SOURCE_EXTERNAL};
        socfw_pii_span b = {.start = 22, .end = 29, .type = SOCFW_PII_PERSON,
                            .score = 0.8f,
                            .source = SOCFW_PII_SOURCE_EXTERNAL};
        socfw_pii_spans_push(&tg, &a);
        socfw_pii_spans_push(&tg, &b);
        persons(nm, text, NULL, got, sizeof got);
        cr_assert_str_eq(got, "", "no evidence without the tagger");
        persons(nm, text, &tg, got, sizeof got);
        cr_assert_str_eq(got, "Will|Zorblat|");
        /* a tagger below the threshold adds nothing */
        tg.v[0].score = tg.v[1].score = 0.1f;
        persons(nm, text, &tg, got, sizeof got);
        cr_assert_str_eq(got, "");
        socfw_pii_spans_free(&tg);
        socfw_pii_names_free(nm);
}

static const struct {
        const char *text, *want;
} zh_cases[] = {
        {"大家好，我是王小明，请多关照", "王小明|"},
        {"请联系欧阳娜娜老师", "欧阳娜娜|"},
        {"收件人：诸葛亮", "诸葛亮|"},
        {"王的东西不见了", ""},
        {"今天天气很好", ""},
        {"//@李娜:说得好", "李娜|"},
        {"明天请找王先生签字", "王先生|"},
        {"王晨王晨王晨", "王晨|王晨|王晨|"},
};

Test(privacy_names, chinese_rules, .timeout = 30)
{
        socfw_pii_names *nm = names(SOCFW_PII_NAMES_ALL);
        char got[512];
        for (size_t i = 0; i < sizeof zh_cases / sizeof zh_cases[0]; i++) {
                persons(nm, zh_cases[i].text, NULL, got, sizeof got);
                cr_expect_str_eq(got, zh_cases[i].want, "text: %s",
                                 zh_cases[i].text);
        }
        cr_assert_eq(socfw_pii_names_lookup(nm, "欧阳"), 4);
        cr_assert_eq(socfw_pii_names_lookup(nm, "JOHN"), 1);
        cr_assert_eq(socfw_pii_names_lookup(nm, "smith"), 2);
        cr_assert_eq(socfw_pii_names_lookup(nm, "nobody"), 0);
        socfw_pii_names_free(nm);
}

/* Transliterated foreign names: announced by a role or a verb, or
 * joined by a middle dot; places, dishes and laughter are not names. */
static const struct {
        const char *text, *want;
} translit_cases[] = {
        {"匹克球星安德鲁古德洛克的拼图游戏", "安德鲁古德洛克|"},
        {"很应毕加索一句话：每一次创造都是始于破坏", "毕加索|"},
        {"我喜欢玛丽·安托瓦内特的故事", "玛丽·安托瓦内特|"},
        {"我们去纽约和伦敦旅游", ""},
        {"点了个提拉米苏和沙拉", ""},
        {"哈哈哈哈哈哈哈", ""},
        {"他说巴塞罗那很美", ""},
        {"克里斯蒂娜来了", ""},       /* no role, no dot: left alone */
};

Test(privacy_names, chinese_transliterations, .timeout = 30)
{
        socfw_pii_names *nm = names(SOCFW_PII_NAMES_ALL);
        char got[512];
        for (size_t i = 0; i < sizeof translit_cases / sizeof translit_cases[0];
             i++) {
                persons(nm, translit_cases[i].text, NULL, got, sizeof got);
                cr_expect_str_eq(got, translit_cases[i].want, "text: %s",
                                 translit_cases[i].text);
        }
        socfw_pii_names_free(nm);
        /* without the transliteration source only the family-name rule
         * sees it, and takes 安 + 德鲁 for a name */
        nm = names(SOCFW_PII_NAMES_ALL & ~SOCFW_PII_NAMES_TRANSLIT);
        persons(nm, translit_cases[0].text, NULL, got, sizeof got);
        cr_expect_str_eq(got, "安德鲁|");
        socfw_pii_names_free(nm);
}

/* Nicknames, screen names, traditional family names, and words a family
 * name character ends or starts (红包, 容易, 孩子, 阿姨, 阿里巴巴). */
static const struct {
        const char *text, *want;
} nick_cases[] = {
        {"阿袁在外地学习。没几天，阿袁收到家里的回电", "阿袁|阿袁|"},
        {"转载《阿明哥光影第六季》", "阿明哥|"},
        {"偏离了毛爷爷的思想路线", "毛爷爷|"},
        {"阿姨说阿里巴巴不错", ""},
        {"对柜台熊孩子说：关注啦", ""},
        {"好不容易安安静静待会了", ""},
        {"让红包飞新年的钟声回荡", ""},
        {"//@美食频道:不管你信不信", ""},
        {"//@杨壮:想象力", "杨壮|"},
        {"//@陳冠希:哈哈", "陳冠希|"},
        /* Latin words glued to Chinese: listed names stay, others go */
        {"我用ShopEx开店", ""},
        {"我和Mary去看电影", "Mary|"},
};

Test(privacy_names, chinese_nicknames_and_screen_names, .timeout = 30)
{
        socfw_pii_names *nm = names(SOCFW_PII_NAMES_ALL);
        char got[512];
        for (size_t i = 0; i < sizeof nick_cases / sizeof nick_cases[0]; i++) {
                persons(nm, nick_cases[i].text, NULL, got, sizeof got);
                cr_expect_str_eq(got, nick_cases[i].want, "text: %s",
                                 nick_cases[i].text);
        }
        socfw_pii_names_free(nm);
        /* nicknames are an evidence source of their own */
        nm = names(SOCFW_PII_NAMES_ALL & ~SOCFW_PII_NAMES_NICK);
        persons(nm, nick_cases[0].text, NULL, got, sizeof got);
        cr_expect_str_eq(got, "");
        socfw_pii_names_free(nm);
}

Test(privacy_names, chinese_lists_from_options, .timeout = 30)
{
        fixtures();
        static const char *const not_names[] = {"杨壮", NULL};
        static const char *const roles[] = {"拼图", NULL};
        socfw_pii_names_options o = socfw_pii_names_options_default();
        o.surnames_zh = zh;
        o.not_names_zh = not_names;
        o.translit_context_zh = roles;
        socfw_pii_names *nm = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_names_new(&nm, &o, &err), 0, "%s",
                     err.message);
        char got[512];
        persons(nm, "//@杨壮:想象力", NULL, got, sizeof got);
        cr_expect_str_eq(got, "");
        /* the role list replaces the built-in one: 球星 no longer counts */
        persons(nm, "拼图安德鲁古德洛克", NULL, got, sizeof got);
        cr_expect_str_eq(got, "安德鲁古德洛克|");
        persons(nm, "球星克里斯蒂娜", NULL, got, sizeof got);
        cr_expect_str_eq(got, "");
        socfw_pii_names_free(nm);
        cr_assert(socfw_pii_names_zh_entry_ok("纽约", 2, 8, 1));
        cr_assert(!socfw_pii_names_zh_entry_ok("纽", 2, 8, 1));
        cr_assert(!socfw_pii_names_zh_entry_ok("NY", 2, 8, 1));
        cr_assert(!socfw_pii_names_zh_entry_ok("\xe7\xba", 1, 8, 0));
        cr_assert(socfw_pii_names_zh_entry_ok("CEO", 1, 16, 0));
}

/* A names object over one list file holding `text`; the error message. */
static int
load_given(const char *text, char *msg, size_t cap)
{
        fixtures();
        char path[4300];
        snprintf(path, sizeof path, "%s/bad.tsv", dir);
        write(path, text);
        socfw_pii_names_options o = socfw_pii_names_options_default();
        o.given = path;
        socfw_pii_names *nm = NULL;
        socfw_error err = {0};
        int rc = socfw_pii_names_new(&nm, &o, &err);
        snprintf(msg, cap, "%s", err.message);
        socfw_pii_names_free(nm);
        return rc;
}

Test(privacy_names, bad_list_files, .timeout = 30)
{
        char msg[1024];
        cr_assert_eq(load_given("name\tcount\nAnn\t12\nBob\tmany\n", msg,
                                sizeof msg),
                     SOCFW_EINVAL);
        cr_assert_not_null(strstr(msg, "bad.tsv:3:"), "%s", msg);
        cr_assert_not_null(strstr(msg, "count"), "%s", msg);
        cr_assert_eq(load_given("name\tcount\nAnn\n", msg, sizeof msg),
                     SOCFW_EINVAL);
        cr_assert_not_null(strstr(msg, "bad.tsv:2:"), "%s", msg);
        cr_assert_eq(load_given("name\tcount\n\t5\n", msg, sizeof msg),
                     SOCFW_EINVAL);
        cr_assert_not_null(strstr(msg, "empty name"), "%s", msg);
        cr_assert_eq(load_given("name\tcount\n", msg, sizeof msg),
                     SOCFW_EINVAL);
        cr_assert_not_null(strstr(msg, "empty"), "%s", msg);
        cr_assert_eq(load_given("", msg, sizeof msg), SOCFW_EINVAL);
        cr_assert_eq(load_given("no header here\n", msg, sizeof msg),
                     SOCFW_EINVAL);
        cr_assert_not_null(strstr(msg, "bad.tsv:1:"), "%s", msg);
        cr_assert_eq(load_given("name\tcount\nAnn\t-3\n", msg, sizeof msg),
                     SOCFW_EINVAL);
        cr_assert_eq(load_given("name\tcount\n\xff\xfe\t3\n", msg,
                                sizeof msg),
                     SOCFW_EINVAL);
        cr_assert_not_null(strstr(msg, "UTF-8"), "%s", msg);
        /* decimal frequencies and blank lines are fine */
        cr_assert_eq(load_given("name\tcount\nAnn\t12.5\n\nBo\t3\n", msg,
                                sizeof msg),
                     0, "%s", msg);

        /* a missing file names itself and says where lists live */
        socfw_pii_names_options o = socfw_pii_names_options_default();
        o.given = "/nonexistent/first-names-en.tsv";
        socfw_pii_names *nm = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_names_new(&nm, &o, &err), SOCFW_EIO);
        cr_assert_not_null(strstr(err.message, "/nonexistent/first-names"));
        cr_assert_not_null(strstr(err.message, "../shared/data/names"));
        /* no list at all, a bad threshold */
        o.given = NULL;
        socfw_error_clear(&err);
        cr_assert_eq(socfw_pii_names_new(&nm, &o, &err), SOCFW_EINVAL);
        o = socfw_pii_names_options_default();
        o.given = given;
        o.threshold = 1.5f;
        socfw_error_clear(&err);
        cr_assert_eq(socfw_pii_names_new(&nm, &o, &err), SOCFW_EINVAL);
        cr_assert_null(nm);
}

Test(privacy_names, long_and_invalid_text, .timeout = 60)
{
        socfw_pii_names *nm = names(SOCFW_PII_NAMES_ALL);
        /* 2 MB of names, capitalised runs, CJK and invalid bytes */
        const char *piece = "Dear John Smith, A B C D E F G H I J \xff\xc3 "
                            "王小明先生 O'Brien-- \n";
        size_t pn = strlen(piece), n = 0, cap = 2u << 20;
        char *t = malloc(cap);
        cr_assert_not_null(t);
        while (n + pn <= cap) {
                memcpy(t + n, piece, pn);
                n += pn;
        }
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        /* CPU time of a sixteenth and of the whole, best of three each:
         * linear is 16 times, quadratic 256 times; the bound leaves room
         * for a loaded machine and the sanitizers */
        double part = 1e30, whole = 1e30;
        size_t n_part = 0;
        for (int r = 0; r < 3; r++) {
                clock_t c0 = clock();
                cr_assert_eq(socfw_pii_names_scan(nm, t, n / 16, NULL, &sp,
                                                  &err),
                             0);
                double d = (double)(clock() - c0);
                part = d < part ? d : part;
                n_part = sp.n;
                socfw_pii_spans_free(&sp);
        }
        for (int r = 0; r < 3; r++) {
                socfw_pii_spans_free(&sp);
                clock_t c0 = clock();
                cr_assert_eq(socfw_pii_names_scan(nm, t, n, NULL, &sp, &err),
                             0);
                double d = (double)(clock() - c0);
                whole = d < whole ? d : whole;
        }
        cr_assert_gt(n_part, 0);
        cr_assert_geq(sp.n, 15 * n_part, "spans grow with the text");
        cr_assert_lt(whole, 64.0 * part + 0.05 * CLOCKS_PER_SEC,
                     "a sixteenth %.0f, the whole %.0f", part, whole);
        for (size_t i = 0; i < sp.n; i++)
                for (size_t j = sp.v[i].start; j < sp.v[i].end; j++)
                        cr_assert_neq((unsigned char)t[j], 0xff,
                                      "an invalid byte inside a name");
        socfw_pii_spans_free(&sp);
        /* every prefix of a text with a broken sequence */
        const char *broken = "Ann \xe7\x8e Lee 王\xe5 John";
        for (size_t k = 0; k <= strlen(broken); k++) {
                cr_assert_eq(socfw_pii_names_scan(nm, broken, k, NULL, &sp,
                                                  &err),
                             0);
                socfw_pii_spans_free(&sp);
        }
        free(t);
        socfw_pii_names_free(nm);
}

Test(privacy_names, chinese_long_and_invalid_text, .timeout = 60)
{
        socfw_pii_names *nm = names(SOCFW_PII_NAMES_ALL);
        /* 2 MB of transliterations, dots, nicknames, screen names, a run
         * of transliteration characters too long to be a name, and
         * invalid bytes */
        const char *piece = "球星安德鲁古德洛克说\xff阿袁在·玛丽·\xe5\x8e"
                            "@杨壮:克克特克特克特克特克特克特克特克特克特"
                            "克特克特 阿\xff 毛爷爷\xe7 ";
        size_t pn = strlen(piece), n = 0, cap = 2u << 20;
        char *t = malloc(cap);
        cr_assert_not_null(t);
        while (n + pn <= cap) {
                memcpy(t + n, piece, pn);
                n += pn;
        }
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        double part = 1e30, whole = 1e30;
        size_t n_part = 0;
        for (int r = 0; r < 3; r++) {
                clock_t c0 = clock();
                cr_assert_eq(socfw_pii_names_scan(nm, t, n / 16, NULL, &sp,
                                                  &err),
                             0);
                double d = (double)(clock() - c0);
                part = d < part ? d : part;
                n_part = sp.n;
                socfw_pii_spans_free(&sp);
        }
        for (int r = 0; r < 3; r++) {
                socfw_pii_spans_free(&sp);
                clock_t c0 = clock();
                cr_assert_eq(socfw_pii_names_scan(nm, t, n, NULL, &sp, &err),
                             0);
                double d = (double)(clock() - c0);
                whole = d < whole ? d : whole;
        }
        cr_assert_gt(n_part, 0);
        cr_assert_geq(sp.n, 15 * n_part, "spans grow with the text");
        cr_assert_lt(whole, 64.0 * part + 0.05 * CLOCKS_PER_SEC,
                     "a sixteenth %.0f, the whole %.0f", part, whole);
        for (size_t i = 0; i < sp.n; i++)
                for (size_t j = sp.v[i].start; j < sp.v[i].end; j++)
                        cr_assert((unsigned char)t[j] != 0xff &&
                                  (unsigned char)t[j] != ' ',
                                  "an invalid byte or a space inside a name");
        socfw_pii_spans_free(&sp);
        /* every prefix of texts with broken sequences (the dot and the
         * characters cut short) */
        static const char *const broken[] = {
                "球星安德鲁\xc2\xb7古德洛克说", "阿\xe8\xa2 @杨\xe5:",
                "玛丽\xc2", "总统奥巴马\xe9\xa9"};
        for (size_t b = 0; b < sizeof broken / sizeof broken[0]; b++)
                for (size_t k = 0; k <= strlen(broken[b]); k++) {
                        cr_assert_eq(socfw_pii_names_scan(nm, broken[b], k,
                                                          NULL, &sp, &err),
                                     0);
                        socfw_pii_spans_free(&sp);
                }
        free(t);
        socfw_pii_names_free(nm);
}

/* ---- ad-hoc recognizers, deny and allow lists ---- */

static int
custom_load(socfw_pii_custom **c, const char *yaml, socfw_error *err)
{
        cr_assert_eq(socfw_pii_custom_new(c, err), 0);
        return socfw_pii_custom_load_buffer(*c, yaml, strlen(yaml), "r.yaml",
                                            err);
}

static void
custom_spans(const socfw_pii_custom *c, const char *text, char *out,
             size_t cap)
{
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_custom_scan(c, text, strlen(text), &sp, &err),
                     0, "%s", err.message);
        socfw_pii_custom_filter(c, text, strlen(text), &sp);
        socfw_pii_spans_sort(&sp);
        size_t n = 0;
        out[0] = '\0';
        for (size_t i = 0; i < sp.n; i++)
                n += (size_t)snprintf(out + n, cap - n, "%s:%.*s:%.2f|",
                                      socfw_pii_type_name(sp.v[i].type),
                                      (int)(sp.v[i].end - sp.v[i].start),
                                      text + sp.v[i].start,
                                      (double)sp.v[i].score);
        socfw_pii_spans_free(&sp);
}

Test(privacy_custom, patterns_words_context_validators, .timeout = 30)
{
        socfw_pii_custom *c = NULL;
        socfw_error err = {0};
        cr_assert_eq(custom_load(&c,
                                 "recognizers:\n"
                                 "  - name: staff\n"
                                 "    type: CREDIT_CARD\n"
                                 "    pattern: '6037(?:[0-9]{12})'\n"
                                 "    context: [Badge]\n"
                                 "    score: 0.4\n"
                                 "    validator: luhn\n"
                                 "  - name: code\n"
                                 "    type: ORG\n"
                                 "    words: [Project Falcon]\n"
                                 "    case_insensitive: true\n",
                                 &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_pii_custom_count(c), 2);
        char got[512];
        /* 6037000000000004 passes Luhn; ...0007 does not */
        custom_spans(c, "badge 6037000000000004 and 6037000000000007", got,
                     sizeof got);
        cr_assert_str_eq(got, "CREDIT_CARD:6037000000000004:0.75|");
        custom_spans(c, "card 6037000000000004", got, sizeof got);
        cr_assert_str_eq(got, "CREDIT_CARD:6037000000000004:0.40|");
        custom_spans(c, "About PROJECT FALCON, not Project Falconry.", got,
                     sizeof got);
        cr_assert_str_eq(got, "ORGANIZATION:PROJECT FALCON:0.60|");
        socfw_pii_custom_free(c);
}

Test(privacy_custom, deny_and_allow_lists, .timeout = 30)
{
        socfw_pii_custom *c = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_custom_new(&c, &err), 0);
        cr_assert_eq(socfw_pii_custom_add_deny(c, "Blue Harbor",
                                               SOCFW_PII_LOCATION, &err),
                     0);
        cr_assert_eq(socfw_pii_custom_add_allow(c, "Blue Harbor Inn", &err),
                     0);
        cr_assert_eq(socfw_pii_custom_add_deny(c, "", SOCFW_PII_PERSON, &err),
                     SOCFW_EINVAL);
        cr_assert_eq(socfw_pii_custom_add_allow(c, "", &err), SOCFW_EINVAL);
        char got[256];
        custom_spans(c, "Meet at Blue Harbor or blue harbor", got, sizeof got);
        cr_assert_str_eq(got, "LOCATION:Blue Harbor:1.00|", "exact match");
        socfw_pii_custom_set_case_insensitive(c, 1);
        custom_spans(c, "Meet at Blue Harbor or blue harbor", got, sizeof got);
        cr_assert_str_eq(got, "LOCATION:Blue Harbor:1.00|"
                              "LOCATION:blue harbor:1.00|");
        /* the allow list drops spans whatever found them */
        socfw_pii_spans sp = {0};
        const char *t = "stay at BLUE HARBOR INN";
        socfw_pii_span s = {.start = 8, .end = 23,
                            .type = SOCFW_PII_ORGANIZATION, .score = 0.9f};
        socfw_pii_spans_push(&sp, &s);
        socfw_pii_custom_filter(c, t, strlen(t), &sp);
        cr_assert_eq(sp.n, 0);
        socfw_pii_custom_set_case_insensitive(c, 0);
        socfw_pii_spans_push(&sp, &s);
        socfw_pii_custom_filter(c, t, strlen(t), &sp);
        cr_assert_eq(sp.n, 1, "exact matching keeps another case");
        socfw_pii_spans_free(&sp);
        socfw_pii_custom_free(c);
}

static const struct {
        const char *yaml, *where, *what;
} bad_yaml[] = {
        {"recognizers:\n  - name: x\n    type: PERSON\n"
         "    pattern: 'ab(c'\n",
         "r.yaml:4:", "offset 4"},
        {"recognizers:\n  - name: x\n    type: PERSON\n"
         "    pattern: '[z-a]'\n",
         "r.yaml:4:", "does not compile"},
        {"recognizers:\n  - name: x\n    type: PERSON\n"
         "    words: [a]\n    context: {a: b}\n",
         "r.yaml:5:14", "must be a list"},
        {"recognizers:\n  - name: x\n    type: PERSON\n"
         "    words: [a]\n    colour: red\n",
         "r.yaml:5:5", "unknown key 'colour'"},
        {"recognizers:\n  - name: x\n    type: PASSPORT\n    words: [a]\n",
         "r.yaml:3:11", "unknown entity type"},
        {"recognizers:\n  - name: x\n    type: PERSON\n",
         "r.yaml:2:", "exactly one of"},
        {"recognizers:\n  - name: x\n    type: PERSON\n    words: [a]\n"
         "    score: 2\n",
         "r.yaml:5:12", "score"},
        {"recognizers:\n  - name: x\n    type: PERSON\n    words: [a]\n"
         "    validator: crc\n",
         "r.yaml:5:16", "validator"},
        {"recognizers:\n  - name: x\n    type: PERSON\n    words: []\n",
         "r.yaml:4:", "empty"},
        {"recognizers: []\n", "r.yaml:1:", "empty"},
        {"others: 1\n", "r.yaml:1:1", "unknown key"},
        {"recognizers:\n  - [a, b]\n", "r.yaml:2:", "must be a mapping"},
        {"recognizers: [\n", "r.yaml:", "not valid YAML"},
};

Test(privacy_custom, bad_definitions_name_file_line_col, .timeout = 30)
{
        for (size_t i = 0; i < sizeof bad_yaml / sizeof bad_yaml[0]; i++) {
                socfw_pii_custom *c = NULL;
                socfw_error err = {0};
                int rc = custom_load(&c, bad_yaml[i].yaml, &err);
                char where[1200];
                socfw_error_string(&err, where, sizeof where);
                cr_expect_lt(rc, 0, "case %zu accepted", i);
                cr_expect_not_null(strstr(where, bad_yaml[i].where),
                                   "case %zu: %s", i, where);
                cr_expect_not_null(strstr(where, bad_yaml[i].what),
                                   "case %zu: %s", i, where);
                cr_expect_eq(socfw_pii_custom_count(c), 0);
                socfw_pii_custom_free(c);
        }
}

Test(privacy_custom, catastrophic_backtracking_is_bounded, .timeout = 30)
{
        socfw_pii_custom *c = NULL;
        socfw_error err = {0};
        cr_assert_eq(custom_load(&c,
                                 "recognizers:\n  - name: evil\n"
                                 "    type: PERSON\n"
                                 "    pattern: '(a+)+$'\n",
                                 &err),
                     0, "%s", err.message);
        char t[4096];
        memset(t, 'a', sizeof t - 2);
        t[sizeof t - 2] = '!';
        t[sizeof t - 1] = '\0';
        socfw_pii_spans sp = {0};
        clock_t c0 = clock();
        int rc = socfw_pii_custom_scan(c, t, strlen(t), &sp, &err);
        double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
        cr_assert_eq(rc, SOCFW_EINTERNAL, "the match limit stops it");
        cr_assert_not_null(strstr(err.message, "evil"), "%s", err.message);
        cr_assert_lt(secs, 5.0);
        socfw_pii_spans_free(&sp);
        socfw_pii_custom_free(c);
}

/* ---- phones ---- */

static int
has_type(const char *text, socfw_pii_type type, const char *value)
{
        socfw_pii_recognizer *rec = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_recognizer_new(&rec, NULL, &err), 0);
        socfw_pii_spans sp = {0};
        cr_assert_eq(socfw_pii_recognizer_scan(rec, text, strlen(text), &sp,
                                               &err),
                     0);
        int found = 0;
        for (size_t i = 0; i < sp.n; i++)
                if (sp.v[i].type == type &&
                    (!value || (strlen(value) == sp.v[i].end - sp.v[i].start &&
                                !memcmp(text + sp.v[i].start, value,
                                        strlen(value)))))
                        found = 1;
        socfw_pii_spans_free(&sp);
        socfw_pii_recognizer_free(rec);
        return found;
}

Test(privacy_phone, card_number_context_vetoes_phone, .timeout = 30)
{
        /* 15 digits failing Luhn: neither a card nor a phone */
        cr_assert(!has_type("my card number 123456789012345 was declined",
                            SOCFW_PII_PHONE_NUMBER, NULL));
        cr_assert(!has_type("my card number 123456789012345 was declined",
                            SOCFW_PII_CREDIT_CARD, NULL));
        cr_assert(!has_type("credit card no. 376012345678901",
                            SOCFW_PII_PHONE_NUMBER, NULL));
        cr_assert(!has_type("account number: 123456789012",
                            SOCFW_PII_PHONE_NUMBER, NULL));
        /* a phone is still a phone */
        cr_assert(has_type("call me on +44 7700 900123 tonight",
                           SOCFW_PII_PHONE_NUMBER, "+44 7700 900123"));
        cr_assert(has_type("phone number 13812345678",
                           SOCFW_PII_PHONE_NUMBER, "13812345678"));
}

Test(privacy_phone, uk_national_formats, .timeout = 30)
{
        cr_assert(has_type("text me on 07700 900123 please",
                           SOCFW_PII_PHONE_NUMBER, "07700 900123"));
        cr_assert(has_type("office: 020 7946 0958", SOCFW_PII_PHONE_NUMBER,
                           "020 7946 0958"));
        cr_assert(has_type("ring 0161 496 0000 now", SOCFW_PII_PHONE_NUMBER,
                           "0161 496 0000"));
        /* eleven digits from 05 / 09 without context: not UK mobiles */
        cr_assert(!has_type("item 09700 900123 shipped",
                            SOCFW_PII_PHONE_NUMBER, NULL));
}

/* ---- the plugin's keys ---- */

static socfw_registry *reg;

static void
setup(void)
{
        char d[4096];
        reg = socfw_registry_new();
        cr_assert_not_null(reg);
        snprintf(d, sizeof d, "%s/plugins/privacy", socfw_test_builddir());
        cr_assert_eq(socfw_registry_add_path(reg, d), 0);
        socfw_registry_scan(reg);
}

static void
teardown(void)
{
        socfw_registry_free(reg);
}

static int
load(const char *yaml, socfw_pipeline **p, socfw_error *err)
{
        int rc = socfw_pipeline_load_buffer(p, yaml, strlen(yaml), "p.yaml",
                                            NULL, NULL, 0, err);
        if (rc == 0)
                rc = socfw_pipeline_validate(*p, reg, err);
        return rc;
}

static char *
run(const char *yaml, const char *text)
{
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        cr_assert_eq(load(yaml, &p, &err), 0, "%s", err.message);
        socfw_chain *c = NULL;
        cr_assert_eq(socfw_chain_new(&c, p, NULL, &err), 0, "%s", err.message);
        socfw_post *post = socfw_post_new(text, NULL);
        cr_assert_eq(socfw_chain_run(c, post, &err), 0, "%s", err.message);
        char *json = socfw_post_to_json(post);
        socfw_post_free(post);
        socfw_chain_free(c);
        socfw_pipeline_free(p);
        return json;
}

Test(privacy_plugin_names, names_lists_deny_allow_thresholds,
     .init = setup, .fini = teardown, .timeout = 30)
{
        fixtures();
        char yaml[18000];
        snprintf(yaml, sizeof yaml,
                 "socfw: 1\n"
                 "privacy:\n"
                 "  names: {given: %s, surnames: %s, surnames_zh: %s,\n"
                 "          word_freq: %s}\n"
                 "  allow_list: [help@example.com]\n"
                 "  deny_list: {\"Blue Harbor\": LOCATION}\n"
                 "  thresholds: {URL: 0.95}\n"
                 "chain: [privacy]\n",
                 given, surn, zh, freq);
        char *json = run(yaml, "Dear John Smith, mail help@example.com or "
                               "a@b.io, see https://x.org at Blue Harbor. "
                               "我是王小明");
        cr_assert_not_null(strstr(json, "Dear <PERSON>, mail "
                                        "help@example.com or <EMAIL>, see "
                                        "https://x.org at <LOCATION>. "
                                        "我是<PERSON>"),
                           "%s", json);
        free(json);

        /* entities without PERSON: names are off */
        snprintf(yaml, sizeof yaml,
                 "socfw: 1\nprivacy:\n  entities: [EMAIL]\n"
                 "  names: {given: %s}\nchain: [privacy]\n", given);
        json = run(yaml, "Dear John Smith");
        cr_assert_not_null(strstr(json, "Dear John Smith"), "%s", json);
        free(json);
}

Test(privacy_plugin_names, bad_keys_are_refused, .init = setup,
     .fini = teardown, .timeout = 30)
{
        fixtures();
        static const char *const bad[] = {
                "privacy:\n  thresholds: {PERSON: high}\n",
                "privacy:\n  thresholds: {NOTATYPE: 0.5}\n",
                "privacy:\n  deny_list: {x: NOTATYPE}\n",
                "privacy:\n  names: {given: /nonexistent.tsv}\n",
                "privacy:\n  names: {context_en: {a: b}}\n",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char yaml[1024];
                snprintf(yaml, sizeof yaml, "socfw: 1\n%schain: [privacy]\n",
                         bad[i]);
                socfw_pipeline *p = NULL;
                socfw_error err = {0};
                int rc = load(yaml, &p, &err);
                socfw_chain *c = NULL;
                if (rc == 0)
                        rc = socfw_chain_new(&c, p, NULL, &err);
                cr_expect_lt(rc, 0, "case %zu accepted", i);
                socfw_chain_free(c);
                socfw_pipeline_free(p);
        }
        /* a recognizers file with a bad pattern: its file:line:col */
        char path[4300], yaml[8800];
        snprintf(path, sizeof path, "%s/rec.yaml", dir);
        write(path, "recognizers:\n  - name: broken\n    type: PERSON\n"
                    "    pattern: 'a(b'\n");
        snprintf(yaml, sizeof yaml,
                 "socfw: 1\nprivacy: {recognizers: %s}\nchain: [privacy]\n",
                 path);
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        cr_assert_eq(load(yaml, &p, &err), 0, "%s", err.message);
        socfw_chain *c = NULL;
        cr_assert_lt(socfw_chain_new(&c, p, NULL, &err), 0);
        char where[1200];
        socfw_error_string(&err, where, sizeof where);
        cr_assert_not_null(strstr(where, "rec.yaml:4:"), "%s", where);
        cr_assert_not_null(strstr(where, "offset"), "%s", where);
        socfw_chain_free(c);
        socfw_pipeline_free(p);
}

Test(privacy_plugin_names, chinese_lists_in_yaml, .init = setup,
     .fini = teardown, .timeout = 30)
{
        fixtures();
        char yaml[9000];
        snprintf(yaml, sizeof yaml,
                 "socfw: 1\n"
                 "privacy:\n"
                 "  names:\n"
                 "    surnames_zh: %s\n"
                 "    not_names_zh: [杨壮]\n"
                 "    translit_context_zh: [拼图]\n"
                 "chain: [privacy]\n", zh);
        char *json = run(yaml, "//@杨壮:拼图安德鲁古德洛克");
        cr_assert_not_null(strstr(json, "//@杨壮:拼图<PERSON>"), "%s", json);
        free(json);
        /* a bad entry: the file, the line of the list, the item */
        static const char *const bad[] = {
                "    not_names_zh: [纽约, 纽]\n",
                "    not_names_zh: [NYC]\n",
                "    translit_context_zh: [\"\"]\n",
                "    not_names_zh: 纽约\n",   /* not a list */
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                snprintf(yaml, sizeof yaml,
                         "socfw: 1\n"
                         "privacy:\n"
                         "  names:\n"
                         "    surnames_zh: %s\n"
                         "%s"
                         "chain: [privacy]\n", zh, bad[i]);
                socfw_pipeline *p = NULL;
                socfw_error err = {0};
                int rc = load(yaml, &p, &err);
                socfw_chain *c = NULL;
                if (rc == 0)
                        rc = socfw_chain_new(&c, p, NULL, &err);
                cr_expect_lt(rc, 0, "case %zu accepted", i);
                char where[1200];
                socfw_error_string(&err, where, sizeof where);
                cr_expect_not_null(strstr(where, "p.yaml:5:"), "case %zu: %s",
                                   i, where);
                if (i < 3)
                        cr_expect_not_null(strstr(where, "item"), "%s", where);
                socfw_chain_free(c);
                socfw_pipeline_free(p);
        }
}

/* ---- the real lists ---- */

Test(privacy_names, shared_lists_load_and_find, .timeout = 60)
{
        char g[4096], s[4096], z[4096];
        SOCFW_TEST_NEED_SHARED(g, "data/names/first-names-en.tsv");
        SOCFW_TEST_NEED_SHARED(s, "data/names/surnames-en.tsv");
        SOCFW_TEST_NEED_SHARED(z, "data/names/surnames-zh.tsv");
        char w[4200];
        snprintf(w, sizeof w, "%s/configs/privacy-name-wordfreq.tsv",
                 socfw_test_srcdir());
        socfw_pii_names_options o = socfw_pii_names_options_default();
        o.given = g;
        o.surnames = s;
        o.surnames_zh = z;
        o.word_freq = w;
        socfw_pii_names *nm = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_names_new(&nm, &o, &err), 0, "%s",
                     err.message);
        char got[256];
        persons(nm, "Bot: What's the name on the account? User: Vilma Holm",
                NULL, got, sizeof got);
        cr_assert_str_eq(got, "Vilma Holm|");
        persons(nm, "Will you mark the date? It may rain.", NULL, got,
                sizeof got);
        cr_assert_str_eq(got, "");
        persons(nm, "司马光砸缸的故事，联系人上官婉儿", NULL, got, sizeof got);
        cr_assert_not_null(strstr(got, "上官婉儿|"), "%s", got);
        socfw_pii_names_free(nm);
}

/* The code point before a byte (names_impl.h), which the Chinese scan and
 * the glued-Latin-word check share: whole characters only; an invalid
 * byte is one character, U+FFFD; a cut character is none. */
Test(privacy_names, code_point_before)
{
        static const struct {
                const char *t;
                size_t i, want_len;
                uint32_t want_cp;
        } cases[] = {
                {"ab", 1, 1, 'a'},
                {"ab", 0, 0, 0},                        /* nothing before */
                {"\xE5\xBC\xA0\xE4\xB8\x89", 3, 3, 0x5F20},   /* 张|三 */
                {"\xE5\xBC\xA0\xE4\xB8\x89", 6, 3, 0x4E09},
                {"x\xC3\xA9", 3, 2, 0xE9},             /* é */
                {"\xF0\x9F\x98\x80!", 4, 4, 0x1F600},   /* an emoji */
                {"a\xFF" "b", 2, 1, 0xFFFD},            /* invalid byte */
                {"\xE5\xBC\xA0", 2, 0, 0},             /* inside 张 */
                {"\xBC\xA0x", 2, 0, 0},                 /* continuation only */
                {"a\x80\x80\x80\x80z", 5, 0, 0},        /* five of them */
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                uint32_t cp = 0;
                size_t len = strlen(cases[c].t);
                size_t k = socfw_pii_names_cp_before(cases[c].t, len,
                                                     cases[c].i, &cp);
                cr_assert_eq(k, cases[c].want_len, "case %zu: length %zu",
                             c, k);
                if (k)
                        cr_assert_eq(cp, cases[c].want_cp,
                                     "case %zu: U+%04X", c, (unsigned)cp);
        }
}

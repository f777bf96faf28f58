/* test_adcopy_brief.c - briefs, prompts, keyword choice, constraint checks,
 * trimming and the copy metrics of the adcopy plugin (plugins/adcopy/
 * brief.c), against hand-computed values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "brief.h"

/* the first error set wins: clear between cases */
#define RESET(e) memset(&(e), 0, sizeof(e))

static void
brief_basic(socfw_adcopy_brief *b)
{
        memset(b, 0, sizeof *b);
        cr_assert_eq(socfw_adcopy_brief_set(&b->category, " Sports\n", NULL),
                     0);
        cr_assert_eq(socfw_adcopy_brief_set(&b->advertiser, "Acme", NULL), 0);
        cr_assert_eq(socfw_adcopy_brief_set(&b->product, "Trail\nrunner X",
                                            NULL),
                     0);
}

Test(adcopy_brief, prompt_lists_the_fields_set_in_order)
{
        socfw_adcopy_brief b;
        brief_basic(&b);
        char *p = socfw_adcopy_prompt(&b);
        cr_assert_str_eq(p, "category: Sports\nadvertiser: Acme\n"
                            "product: Trail runner X\ncopy:");
        free(p);
        cr_assert_eq(socfw_adcopy_brief_set(&b.audience, "runners", NULL), 0);
        cr_assert_eq(socfw_adcopy_brief_set(&b.tone, "upbeat", NULL), 0);
        cr_assert_eq(socfw_adcopy_brief_add_keyword(&b, "grip", NULL), 0);
        cr_assert_eq(socfw_adcopy_brief_add_keyword(&b, " light ", NULL), 0);
        /* duplicates (any case) are dropped */
        cr_assert_eq(socfw_adcopy_brief_add_keyword(&b, "GRIP", NULL), 0);
        cr_assert_eq(b.n_keywords, 2);
        b.max_chars = 280;
        p = socfw_adcopy_prompt(&b);
        cr_assert_str_eq(p, "category: Sports\nadvertiser: Acme\n"
                            "product: Trail runner X\naudience: runners\n"
                            "tone: upbeat\nlength: under 280\n"
                            "keywords: grip, light\ncopy:");
        free(p);
        /* a reference's length picks the bucket above it */
        b.length_hint = 341;
        p = socfw_adcopy_prompt(&b);
        cr_assert(strstr(p, "length: under 500\n"), "%s", p);
        free(p);
        /* a limit picks the bucket within it */
        b.length_hint = 0;
        b.max_chars = 100;
        p = socfw_adcopy_prompt(&b);
        cr_assert(strstr(p, "length: under 90\n"), "%s", p);
        free(p);
        socfw_adcopy_brief_clear(&b);
        socfw_adcopy_brief_clear(&b);   /* cleared twice: fine */
        socfw_adcopy_brief_clear(NULL);
}

Test(adcopy_brief, channel_limits)
{
        cr_assert_eq(socfw_adcopy_channel_limit("generic"), 500);
        cr_assert_eq(socfw_adcopy_channel_limit("twitter"), 280);
        cr_assert_eq(socfw_adcopy_channel_limit("weibo"), 140);
        cr_assert_eq(socfw_adcopy_channel_limit("search_ad"), 90);
        cr_assert_eq(socfw_adcopy_channel_limit("banner"), 60);
        cr_assert_eq(socfw_adcopy_channel_limit("fax"), 0);
        cr_assert_eq(socfw_adcopy_channel_limit(NULL), 0);
}

Test(adcopy_brief, bad_briefs_name_the_field)
{
        socfw_adcopy_brief b = {0};
        socfw_error err = {0};
        /* empty product */
        cr_assert_eq(socfw_adcopy_brief_set(&b.product, "  \n ", NULL), 0);
        cr_assert_null(b.product);
        RESET(err);
        cr_assert_eq(socfw_adcopy_brief_check(&b, NULL, &err), SOCFW_EINVAL);
        cr_assert(strstr(err.message, "product"), "%s", err.message);
        /* a keyword longer than the channel's limit */
        brief_basic(&b);
        b.max_chars = socfw_adcopy_channel_limit("banner");
        cr_assert_eq(socfw_adcopy_brief_add_keyword(
                             &b, "an extraordinarily long keyword phrase "
                                 "that cannot fit a banner",
                             NULL),
                     0);
        RESET(err);
        cr_assert_eq(socfw_adcopy_brief_check(&b, NULL, &err), SOCFW_EINVAL);
        cr_assert(strstr(err.message, "keywords") &&
                          strstr(err.message, "limit of 60"),
                  "%s", err.message);
        socfw_adcopy_brief_clear(&b);
        /* keywords that fit one by one but not together */
        brief_basic(&b);
        b.max_chars = 20;
        socfw_adcopy_brief_add_keyword(&b, "waterproof", NULL);
        socfw_adcopy_brief_add_keyword(&b, "lightweight", NULL);
        RESET(err);
        cr_assert_eq(socfw_adcopy_brief_check(&b, NULL, &err), SOCFW_EINVAL);
        cr_assert(strstr(err.message, "together"), "%s", err.message);
        socfw_adcopy_brief_clear(&b);
        /* a keyword that contains a banned word */
        brief_basic(&b);
        socfw_adcopy_brief_add_keyword(&b, "Cheap shoes", NULL);
        const char *banned[] = {"cheap", NULL};
        RESET(err);
        cr_assert_eq(socfw_adcopy_brief_check(&b, banned, &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "banned 'cheap'"), "%s", err.message);
        /* blank keyword, invalid UTF-8, too long a field */
        RESET(err);
        cr_assert_eq(socfw_adcopy_brief_add_keyword(&b, " ", &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "keywords"), "%s", err.message);
        cr_assert_eq(socfw_adcopy_brief_set(&b.tone, "\xff\xfe", &err),
                     SOCFW_EINVAL);
        char *big = malloc(SOCFW_ADCOPY_FIELD_MAX + 2);
        memset(big, 'a', SOCFW_ADCOPY_FIELD_MAX + 1);
        big[SOCFW_ADCOPY_FIELD_MAX + 1] = '\0';
        cr_assert_eq(socfw_adcopy_brief_set(&b.tone, big, &err), SOCFW_EINVAL);
        free(big);
        socfw_adcopy_brief_clear(&b);
}

Test(adcopy_brief, keywords_from_a_reference_are_content_words)
{
        socfw_adcopy_brief b;
        brief_basic(&b);
        const char *copy = "The Trail runner from Acme keeps your feet dry "
                           "with waterproof mesh, a grippy outsole and 2024 "
                           "colours. Because you deserve comfort.";
        int n = socfw_adcopy_derive_keywords(&b, copy, 3, 7, NULL);
        cr_assert_eq(n, 3);
        cr_assert_eq(b.n_keywords, 3);
        static const char *const allowed[] = {
                "keeps", "feet", "waterproof", "mesh", "grippy", "outsole",
                "colours", "deserve", "comfort"};
        for (size_t i = 0; i < b.n_keywords; i++) {
                int ok = 0;
                for (size_t j = 0; j < sizeof allowed / sizeof *allowed; j++)
                        ok |= !strcmp(b.keywords[i], allowed[j]);
                cr_assert(ok, "unexpected keyword '%s'", b.keywords[i]);
        }
        /* deterministic for a seed */
        socfw_adcopy_brief c;
        brief_basic(&c);
        socfw_adcopy_derive_keywords(&c, copy, 3, 7, NULL);
        for (size_t i = 0; i < 3; i++)
                cr_assert_str_eq(b.keywords[i], c.keywords[i]);
        socfw_adcopy_brief_clear(&c);
        /* only what fits the limit with separators */
        brief_basic(&c);
        c.max_chars = 12;
        n = socfw_adcopy_derive_keywords(&c, "extraordinary wonderful feet",
                                         3, 1, NULL);
        cr_assert_eq(n, 1);
        cr_assert_str_eq(c.keywords[0], "feet");
        socfw_adcopy_brief_clear(&c);
        socfw_adcopy_brief_clear(&b);
}

Test(adcopy_brief, verify_counts_each_violation)
{
        socfw_adcopy_brief b;
        brief_basic(&b);
        b.max_chars = 30;
        socfw_adcopy_brief_add_keyword(&b, "grip", NULL);
        socfw_adcopy_brief_add_keyword(&b, "light", NULL);
        const char *banned[] = {"cheap", "guaranteed results", NULL};
        socfw_adcopy_violations v;
        cr_assert_eq(socfw_adcopy_verify("Light shoes with GRIP.", &b, banned,
                                         &v),
                     0);
        cr_assert_eq(socfw_adcopy_verify("Cheap light shoes, Guaranteed "
                                         "Results!",
                                         &b, banned, &v),
                     4);
        cr_assert_eq(v.too_long, 1);
        cr_assert_eq(v.banned, 2);
        cr_assert_eq(v.missing, 1);
        /* characters, not bytes: 30 code points of 2 bytes each fit */
        char wide[64] = "";
        for (int i = 0; i < 30; i++)
                strcat(wide, "\xc3\xa9");
        b.n_keywords = 0;
        cr_assert_eq(socfw_adcopy_verify(wide, &b, NULL, &v), 0);
        strcat(wide, "x");
        cr_assert_eq(socfw_adcopy_verify(wide, &b, NULL, &v), 1);
        b.n_keywords = 2;
        socfw_adcopy_brief_clear(&b);
}

Test(adcopy_brief, trim_ends_at_a_boundary_keeping_keywords)
{
        socfw_adcopy_brief b;
        brief_basic(&b);
        char s1[] = "Run further. Grip every trail with our new outs";
        socfw_adcopy_trim(s1, &b, 1);
        cr_assert_str_eq(s1, "Run further. Grip every trail with our new");
        char s2[] = "Fast shoes for fast people. Grip every trail with new";
        socfw_adcopy_trim(s2, &b, 1);
        cr_assert_str_eq(s2, "Fast shoes for fast people.");
        /* a keyword at the end stays */
        socfw_adcopy_brief_add_keyword(&b, "trail", NULL);
        char s3[] = "Fast shoes for fast people. Grip every trail";
        socfw_adcopy_trim(s3, &b, 1);
        cr_assert_str_eq(s3, "Fast shoes for fast people. Grip every trail");
        /* the model ended it: only white space goes */
        char s4[] = "Visit acme dot com  \n";
        socfw_adcopy_trim(s4, &b, 0);
        cr_assert_str_eq(s4, "Visit acme dot com");
        /* over the limit: cut to it first (safety net) */
        b.max_chars = 10;
        b.n_keywords = 0;
        char s5[] = "abc def ghi jkl";
        socfw_adcopy_trim(s5, &b, 0);
        cr_assert_str_eq(s5, "abc def");
        b.n_keywords = 1;
        socfw_adcopy_brief_clear(&b);
}

Test(adcopy_brief, metrics_match_hand_computed_values)
{
        /* LCS("the cat sat on the mat", "the cat lay on the mat") = 5 of
         * 6 words each: P = R = F = 5/6; case and punctuation ignored */
        cr_assert_float_eq(socfw_adcopy_rouge_l("The cat sat on the mat.",
                                                "the cat lay on the mat"),
                           5.0 / 6.0, 1e-9);
        cr_assert_float_eq(socfw_adcopy_rouge_l("", "a b"), 0.0, 1e-12);
        /* cand 3 words, ref 6, LCS 3: P 1, R .5, F 2/3 */
        cr_assert_float_eq(socfw_adcopy_rouge_l("a b c", "a x b y c z"),
                           2.0 / 3.0, 1e-9);
        socfw_adcopy_brief b;
        brief_basic(&b);
        cr_assert_float_eq(socfw_adcopy_keyword_coverage("x", &b), 1.0,
                           1e-12);
        socfw_adcopy_brief_add_keyword(&b, "grip", NULL);
        socfw_adcopy_brief_add_keyword(&b, "light", NULL);
        socfw_adcopy_brief_add_keyword(&b, "dry", NULL);
        cr_assert_float_eq(socfw_adcopy_keyword_coverage("Light, DRY.", &b),
                           2.0 / 3.0, 1e-12);
        socfw_adcopy_brief_clear(&b);
        /* bigrams: "a b" "b a" "a b" | "a b" "b c": 5 total, unique
         * {a b, b a, b c} = 3 */
        const char *texts[] = {"a b a b", "A b, c"};
        cr_assert_float_eq(socfw_adcopy_distinct_2(texts, 2), 3.0 / 5.0,
                           1e-12);
        const char *one[] = {"single"};
        cr_assert_float_eq(socfw_adcopy_distinct_2(one, 1), 0.0, 1e-12);
        cr_assert_eq(socfw_adcopy_chars("h\xc3\xa9llo"), 5);
}

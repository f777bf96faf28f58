/* test_recommend_catalog.c - the recommend plugin's catalogue: items and
 * their texts, histories and query texts, popularity, bad input, and the
 * full-catalogue ranking metrics against hand-computed values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "testutil.h"

static char dir[4096];

static void
setup(void)
{
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
}

TestSuite(recommend_catalog, .init = setup, .timeout = 30);

static const char *
put(const char *name, const char *text)
{
        static char path[4][4200];
        static int k;
        char *p = path[k++ % 4];
        snprintf(p, 4200, "%s/%s", dir, name);
        cr_assert_eq(socfw_test_write_file(p, text, strlen(text)), 0);
        return p;
}

static const char *ITEMS =
        "{\"item\": \"a1\", \"title\": \"Alpha One (1999)\", \"genres\": "
        "[\"Drama\", \"War\"], \"tags\": [\"sad\"]}\n"
        "{\"item\": \"a2\", \"title\": \"Alpha Two\", \"genres\": [], "
        "\"tags\": []}\n"
        "\n"
        "{\"item\": 7, \"title\": \"Seven\", \"genres\": [\"Crime\"]}\n"
        "{\"item\": \"e1\"}\n";

static rc_catalog *
load_items(const char *text, socfw_error *err, int *rc)
{
        rc_catalog *c = NULL;
        rc_catalog_options o = RC_CATALOG_OPTIONS_INIT;
        *rc = rc_catalog_load_items(&c, put("items.jsonl", text), &o, err);
        return c;
}

Test(recommend_catalog, item_texts_join_strings_and_arrays)
{
        socfw_error err = {0};
        int rc;
        rc_catalog *c = load_items(ITEMS, &err, &rc);
        cr_assert_eq(rc, 0, "%s", err.message);
        cr_assert_eq(rc_catalog_size(c), 4);
        cr_assert_str_eq(rc_catalog_text(c, rc_catalog_find(c, "a1")),
                         "Alpha One (1999) | Drama, War | sad");
        cr_assert_str_eq(rc_catalog_text(c, rc_catalog_find(c, "a2")),
                         "Alpha Two");
        /* integer ids become strings; an item without text is kept */
        cr_assert_str_eq(rc_catalog_text(c, rc_catalog_find(c, "7")),
                         "Seven | Crime");
        cr_assert_str_eq(rc_catalog_text(c, rc_catalog_find(c, "e1")), "");
        cr_assert_eq(rc_catalog_find(c, "nope"), -1);
        cr_assert_str_eq(rc_catalog_id(c, 1), "a2");
        rc_catalog_free(c);
        rc_catalog_free(NULL);
}

Test(recommend_catalog, bad_items_files_are_reported_with_file_and_line)
{
        static const struct {
                const char *text, *what;
                long line;
        } cases[] = {
                {"{\"item\": \"a\"}\n{\"item\": \"a\"}\n", "duplicate", 2},
                {"{\"item\": \"a\"}\n{\"title\": \"x\"}\n", "missing item id",
                 2},
                {"{\"item\": \"a\"}\n\n{not json\n", "JSON object", 3},
                {"[1, 2]\n", "JSON object", 1},
                {"\n\n", "no items", 0},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                socfw_error err = {0};
                int rc;
                rc_catalog *c = load_items(cases[i].text, &err, &rc);
                cr_assert_lt(rc, 0, "case %zu", i);
                cr_assert_null(c);
                cr_assert(strstr(err.message, cases[i].what), "case %zu: %s",
                          i, err.message);
                cr_assert_eq(err.line, cases[i].line, "case %zu: line %ld",
                             i, (long)err.line);
                cr_assert(strstr(err.file, "items.jsonl"), "%s", err.file);
        }
        /* a missing file names the file and the key to fix */
        rc_catalog *c = NULL;
        socfw_error err = {0};
        rc_catalog_options o = RC_CATALOG_OPTIONS_INIT;
        char missing[4200];
        snprintf(missing, sizeof missing, "%s/none.jsonl", dir);
        cr_assert_eq(rc_catalog_load_items(&c, missing, &o, &err), SOCFW_EIO);
        cr_assert(strstr(err.file, "none.jsonl"));
        cr_assert(strstr(err.message, "data.items"), "%s", err.message);
        cr_assert_lt(rc_catalog_load_items(&c, NULL, &o, &err), 0);
}

static rc_catalog *
with_history(void)
{
        socfw_error err = {0};
        rc_catalog *c = NULL;
        rc_catalog_options o = RC_CATALOG_OPTIONS_INIT;
        static const char *const hist[] = {"title"};
        o.history_fields = hist;
        o.n_history_fields = 1;
        const char *items = put("items.jsonl",
                                "{\"item\": \"a\", \"title\": \"A\", "
                                "\"genres\": [\"g\"]}\n"
                                "{\"item\": \"b\", \"title\": \"B\"}\n"
                                "{\"item\": \"c\", \"title\": \"C\"}\n"
                                "{\"item\": \"d\", \"title\": \"D\"}\n");
        cr_assert_eq(rc_catalog_load_items(&c, items, &o, &err), 0, "%s",
                     err.message);
        /* file order is not time order; b and c share a timestamp */
        const char *train = put(
                "train.jsonl",
                "{\"user\": \"u\", \"item\": \"c\", \"rating\": 5, \"ts\": 20}\n"
                "{\"user\": \"u\", \"item\": \"a\", \"rating\": 4, \"ts\": 10}\n"
                "{\"user\": \"u\", \"item\": \"b\", \"rating\": 5, \"ts\": 20}\n"
                "{\"user\": \"u\", \"item\": \"d\", \"rating\": 1, \"ts\": 30}\n"
                "{\"user\": \"v\", \"item\": \"zzz\", \"rating\": 5}\n"
                "not json\n"
                "{\"user\": 9, \"item\": \"a\", \"rating\": \"4.5\"}\n");
        size_t skipped = 99;
        cr_assert_eq(rc_catalog_load_history(c, train, &skipped, &err), 0,
                     "%s", err.message);
        cr_assert_eq(skipped, 2);
        return c;
}

Test(recommend_catalog, queries_name_earlier_positives_most_recent_first)
{
        rc_catalog *c = with_history();
        int n = -1;
        int a = rc_catalog_find(c, "a"), b = rc_catalog_find(c, "b");
        int cc = rc_catalog_find(c, "c"), d = rc_catalog_find(c, "d");
        /* after everything: d is not positive; c before b (file order) */
        char *q = rc_catalog_query(c, "u", -1, 1e18, 10, &n);
        cr_assert_str_eq(q, "B ; C ; A");
        cr_assert_eq(n, 3);
        free(q);
        /* for the training interaction b itself: only what came before */
        q = rc_catalog_query(c, "u", b, 20, 10, &n);
        cr_assert_str_eq(q, "C ; A");
        free(q);
        q = rc_catalog_query(c, "u", cc, 20, 10, &n);
        cr_assert_str_eq(q, "A");
        free(q);
        /* history_length caps it */
        q = rc_catalog_query(c, "u", -1, 1e18, 1, &n);
        cr_assert_str_eq(q, "B");
        free(q);
        /* before the first positive, and unknown users */
        q = rc_catalog_query(c, "u", a, 10, 10, &n);
        cr_assert_str_eq(q, RC_NO_HISTORY);
        cr_assert_eq(n, 0);
        free(q);
        q = rc_catalog_query(c, "nobody", -1, 1e18, 10, &n);
        cr_assert_str_eq(q, RC_NO_HISTORY);
        free(q);
        /* an integer user id and a rating given as a string */
        q = rc_catalog_query(c, "9", -1, 1e18, 10, &n);
        cr_assert_str_eq(q, "A");
        free(q);
        /* popularity, seen items, position from the end */
        cr_assert_eq(rc_catalog_count(c, a), 2);
        cr_assert_eq(rc_catalog_count(c, d), 1);
        cr_assert(rc_catalog_seen(c, "u", d));
        cr_assert_not(rc_catalog_seen(c, "9", d));
        const int *items;
        cr_assert_eq(rc_catalog_user_items(c, "u", &items), 4);
        cr_assert_eq(items[0], a);
        cr_assert_eq(items[3], d);
        cr_assert_eq(rc_catalog_entries_after(c, "u", d, 30), 0);
        cr_assert_eq(rc_catalog_entries_after(c, "u", a, 10), 3);
        cr_assert_eq(rc_catalog_entries_after(c, "u", a, 11), -1);
        rc_catalog_free(c);
}

Test(recommend_catalog, a_missing_history_file_is_an_error)
{
        socfw_error err = {0};
        int rc;
        rc_catalog *c = load_items(ITEMS, &err, &rc);
        char missing[4200];
        snprintf(missing, sizeof missing, "%s/none.jsonl", dir);
        cr_assert_eq(rc_catalog_load_history(c, missing, NULL, &err),
                     SOCFW_EIO);
        cr_assert(strstr(err.file, "none.jsonl"));
        rc_catalog_free(c);
}

Test(recommend_catalog, rank_of_excludes_and_breaks_ties_by_index)
{
        const float s[] = {0.5f, 0.9f, 0.5f, 0.1f, 0.7f};
        cr_assert_eq(rc_rank_of(s, 5, 1, NULL), 1);
        cr_assert_eq(rc_rank_of(s, 5, 4, NULL), 2);
        cr_assert_eq(rc_rank_of(s, 5, 0, NULL), 3);
        cr_assert_eq(rc_rank_of(s, 5, 2, NULL), 4); /* tie: after item 0 */
        cr_assert_eq(rc_rank_of(s, 5, 3, NULL), 5);
        const uint8_t ex[] = {1, 1, 0, 0, 0};
        cr_assert_eq(rc_rank_of(s, 5, 2, ex), 2);
        /* the target itself is never excluded */
        cr_assert_eq(rc_rank_of(s, 5, 1, ex), 1);
        cr_assert_eq(rc_rank_of(s, 5, 7, NULL), 6);
}

Test(recommend_catalog, metrics_match_hand_computed_values)
{
        rc_rank_sums s = {0};
        rc_rank_add(&s, 1, 10);
        rc_rank_add(&s, 3, 10);
        rc_rank_add(&s, 11, 10);
        cr_assert_eq(s.n, 3);
        /* HitRate@10 = 2/3; NDCG@10 = (1 + 1/log2 4) / 3 = 0.5;
         * MRR = (1 + 1/3 + 1/11) / 3 */
        cr_assert_float_eq(s.hit / 3, 2.0 / 3.0, 1e-12);
        cr_assert_float_eq(s.ndcg / 3, 0.5, 1e-12);
        cr_assert_float_eq(s.mrr / 3, (1.0 + 1.0 / 3 + 1.0 / 11) / 3, 1e-12);
        rc_rank_sums t = {0};
        rc_rank_add(&t, 2, 1);
        cr_assert_float_eq(t.hit, 0.0, 1e-12);
        cr_assert_float_eq(t.ndcg, 0.0, 1e-12);
        cr_assert_float_eq(t.mrr, 0.5, 1e-12);
}

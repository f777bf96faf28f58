/* tests/test_data_dataset.c - field mapping, labels (given / inferred),
 * class counts, bad-row messages, shuffling, the real sentiment split. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/data.h"
#include "testutil.h"

static const char *
fixture(const char *name)
{
        static char buf[4096];
        char rel[256];
        snprintf(rel, sizeof rel, "tests/fixtures/data/%s", name);
        return socfw_test_path(buf, sizeof buf, socfw_test_srcdir(), rel);
}

Test(data_dataset, infers_sorted_labels_and_counts, .timeout = 10)
{
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        o.label_field = "label";
        socfw_dataset *ds;
        socfw_error err = {0};
        cr_assert_eq(socfw_dataset_load(&ds, fixture("basic.jsonl"), &o, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_dataset_size(ds), 6);
        cr_assert_eq(socfw_dataset_num_labels(ds), 3);
        cr_assert_str_eq(socfw_dataset_label_name(ds, 0), "negative");
        cr_assert_str_eq(socfw_dataset_label_name(ds, 1), "neutral");
        cr_assert_str_eq(socfw_dataset_label_name(ds, 2), "positive");
        cr_assert_str_eq(socfw_dataset_text(ds, 0), "I love it");
        cr_assert_eq(socfw_dataset_label(ds, 0), 2);
        cr_assert_eq(socfw_dataset_label_index(ds, "neutral"), 1);
        cr_assert_eq(socfw_dataset_label_index(ds, "nope"), -1);
        size_t counts[3];
        cr_assert_eq(socfw_dataset_class_counts(ds, counts, 3), 6);
        cr_assert_eq(counts[0], 2);
        cr_assert_eq(counts[1], 2);
        cr_assert_eq(counts[2], 2);
        cr_assert_null(socfw_dataset_record(ds, 6));
        socfw_dataset_free(ds);
        socfw_dataset_free(NULL);
}

Test(data_dataset, integer_labels_sort_numerically, .timeout = 10)
{
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        o.label_field = "label";
        socfw_dataset *ds;
        socfw_error err = {0};
        cr_assert_eq(socfw_dataset_load(&ds, fixture("int_labels.jsonl"), &o,
                                        &err), 0, "%s", err.message);
        static const char *want[] = {"0", "1", "2", "10"};
        cr_assert_eq(socfw_dataset_num_labels(ds), 4);
        for (int i = 0; i < 4; i++)
                cr_assert_str_eq(socfw_dataset_label_name(ds, i), want[i]);
        cr_assert_eq(socfw_dataset_label(ds, 0), 3);    /* 10 */
        socfw_dataset_free(ds);
}

Test(data_dataset, given_labels_and_integer_index, .timeout = 10)
{
        static const char *labels[] = {"negative", "neutral", "positive"};
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        o.label_field = "label";
        o.labels = labels;
        o.n_labels = 3;
        const char *data = "{\"text\": \"a\", \"label\": \"positive\"}\n"
                           "{\"text\": \"b\", \"label\": 0}\n";
        socfw_dataset *ds;
        socfw_error err = {0};
        cr_assert_eq(socfw_dataset_load_memory(&ds, data, strlen(data),
                                               "m.jsonl", &o, &err), 0,
                     "%s", err.message);
        cr_assert_eq(socfw_dataset_label(ds, 0), 2);
        cr_assert_eq(socfw_dataset_label(ds, 1), 0);
        socfw_dataset_free(ds);
}

struct ds_case {
        const char *file;
        const char *label_field;
        int given;
        const char *want;       /* full socfw_error_string suffix */
};

Test(data_dataset, bad_rows_read_well, .timeout = 10)
{
        static const char *labels[] = {"neg", "pos"};
        static const struct ds_case cases[] = {
                {"missing_label.jsonl", "label", 0,
                 ":17: missing field 'label' (fields present: text, id); "
                 "hint: set label_field"},
                {"unknown_label.jsonl", "label", 1,
                 ":2: unknown label 'meh' in field 'label' (expected one "
                 "of: neg, pos); hint: add it to labels or fix the row"},
                {"basic.jsonl", "sentiment", 0,
                 ":1: missing field 'sentiment' (fields present: id, text, "
                 "label, user, tokens); hint: set label_field"},
                {"empty.jsonl", "label", 0, ": no records: the file is "
                 "empty; hint: check the path of the split"},
                {"mixed.jsonl", "label", 0, ":2: invalid JSON at column 3: "},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
                o.label_field = cases[i].label_field;
                if (cases[i].given) {
                        o.labels = labels;
                        o.n_labels = 2;
                }
                socfw_dataset *ds = NULL;
                socfw_error err = {0};
                int rc = socfw_dataset_load(&ds, fixture(cases[i].file), &o,
                                            &err);
                cr_assert_eq(rc, SOCFW_EFORMAT, "case %zu", i);
                cr_assert_null(ds);
                char msg[2048], want[2048];
                socfw_error_string(&err, msg, sizeof msg);
                snprintf(want, sizeof want, "%s%s", fixture(cases[i].file),
                         cases[i].want);
                cr_assert_eq(strncmp(msg, want, strlen(want)), 0,
                             "case %zu:\n got: %s\nwant: %s", i, msg, want);
        }
}

Test(data_dataset, text_must_be_a_string, .timeout = 10)
{
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        const char *data = "{\"text\": [1]}\n";
        socfw_dataset *ds;
        socfw_error err = {0};
        cr_assert_eq(socfw_dataset_load_memory(&ds, data, strlen(data), "m",
                                               &o, &err), SOCFW_EFORMAT);
        cr_assert_str_eq(err.message, "field 'text' is an array, expected a "
                         "string; hint: set text_field");
}

Test(data_dataset, skip_policy_counts_every_kind, .timeout = 10)
{
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        o.label_field = "label";
        o.reader.bad_rows = SOCFW_BAD_ROWS_SKIP;
        socfw_dataset *ds;
        socfw_error err = {0};
        cr_assert_eq(socfw_dataset_load(&ds, fixture("mixed.jsonl"), &o, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_dataset_size(ds), 5);
        cr_assert_eq(socfw_dataset_skipped(ds), 5);
        cr_assert_eq(socfw_dataset_num_labels(ds), 3);
        cr_assert_str_eq(socfw_dataset_text(ds, 4), "g5");
        cr_assert_eq(socfw_record_line(socfw_dataset_record(ds, 4)), 10);
        socfw_dataset_free(ds);

        /* all bad -> "no records" names the skips */
        const char *bad = "x\ny\n";
        socfw_error_clear(&err);
        cr_assert_eq(socfw_dataset_load_memory(&ds, bad, strlen(bad), "b.jsonl",
                                               &o, &err), SOCFW_EFORMAT);
        cr_assert_str_eq(err.message, "no records: all 2 rows were bad and "
                         "skipped");
}

Test(data_dataset, csv_dataset_and_required_fields, .timeout = 10)
{
        static const char *req[] = {"score"};
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        o.label_field = "label";
        o.required = req;
        o.n_required = 1;
        socfw_dataset *ds;
        socfw_error err = {0};
        cr_assert_eq(socfw_dataset_load(&ds, fixture("quoted.csv"), &o, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_dataset_size(ds), 6);
        cr_assert_str_eq(socfw_dataset_text(ds, 3), "two\r\nlines");
        socfw_dataset_free(ds);
        static const char *req2[] = {"user"};
        o.required = req2;
        cr_assert_eq(socfw_dataset_load(&ds, fixture("quoted.csv"), &o, &err),
                     SOCFW_EFORMAT);
        cr_assert_eq(err.line, 2);
        cr_assert_str_eq(err.message, "missing field 'user' (fields present: "
                         "text, label, score)");
}

static void
order_of(socfw_dataset *ds, char *buf, size_t size)
{
        buf[0] = '\0';
        for (size_t i = 0; i < socfw_dataset_size(ds); i++) {
                size_t l = strlen(buf);
                snprintf(buf + l, size - l, "%s|", socfw_dataset_text(ds, i));
        }
}

Test(data_dataset, shuffle_is_deterministic, .timeout = 10)
{
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        socfw_dataset *a, *b;
        socfw_error err = {0};
        cr_assert_eq(socfw_dataset_load(&a, fixture("missing_label.jsonl"), &o,
                                        &err), 0);
        cr_assert_eq(socfw_dataset_load(&b, fixture("missing_label.jsonl"), &o,
                                        &err), 0);
        char s0[1024], s1[1024], s2[1024];
        order_of(a, s0, sizeof s0);
        socfw_dataset_shuffle(a, 42);
        socfw_dataset_shuffle(b, 42);
        order_of(a, s1, sizeof s1);
        order_of(b, s2, sizeof s2);
        cr_assert_str_eq(s1, s2);
        cr_assert_str_neq(s0, s1);
        socfw_dataset_shuffle(b, 43);
        order_of(b, s2, sizeof s2);
        cr_assert_str_neq(s1, s2);
        socfw_dataset_free(a);
        socfw_dataset_free(b);

        /* a fixed sequence: the generator must not change across builds */
        size_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        socfw_shuffle_indices(idx, 8, 1);
        size_t seen = 0;
        for (int i = 0; i < 8; i++)
                seen |= (size_t)1 << idx[i];
        cr_assert_eq(seen, 0xff);
        size_t again[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        socfw_shuffle_indices(again, 8, 1);
        cr_assert_arr_eq(idx, again, sizeof idx);
}

Test(data_dataset, shared_sentiment_valid, .timeout = 30)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "data/sentiment-en/valid.jsonl");
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        o.label_field = "label";
        socfw_dataset *ds;
        socfw_error err = {0};
        cr_assert_eq(socfw_dataset_load(&ds, path, &o, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_dataset_size(ds), 2000);
        cr_assert_eq(socfw_dataset_num_labels(ds), 3);
        cr_assert_str_eq(socfw_dataset_label_name(ds, 0), "negative");
        cr_assert_str_eq(socfw_dataset_label_name(ds, 2), "positive");
        size_t counts[3];
        cr_assert_eq(socfw_dataset_class_counts(ds, counts, 3), 2000);
        cr_assert(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
        cr_assert_eq(socfw_dataset_skipped(ds), 0);
        socfw_dataset_free(ds);
}

/* tests/test_nlu_spans.c - the nlu plugin's words, BIO decoding, merging,
 * JSON offsets (code points), and calendar arithmetic. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dates.h"
#include "spans.h"

static void
words_are(const char *text, const char *const *want, size_t n)
{
        socfw_nlu_words w = {0};
        cr_assert_eq(socfw_nlu_words_split(text, strlen(text), &w), 0);
        cr_assert_eq(w.n, n, "'%s': %zu words, want %zu", text, w.n, n);
        for (size_t i = 0; i < n; i++) {
                size_t len = w.v[i].end - w.v[i].start;
                cr_assert(len == strlen(want[i]) &&
                                  !memcmp(text + w.v[i].start, want[i], len),
                          "'%s' word %zu is '%.*s', want '%s'", text, i,
                          (int)len, text + w.v[i].start, want[i]);
        }
        socfw_nlu_words_free(&w);
}

Test(nlu_spans, words_split_edge_punctuation_only)
{
        const char *a[] = {"play", "\"", "o'clock", "\"", "at", "7:30",
                           "!", "?"};
        words_are("play \"o'clock\" at 7:30!?", a, 8);
        const char *b[] = {"$5.99", ",", "caf\xC3\xA9", "."};
        words_are("  $5.99,\tcaf\xC3\xA9.  ", b, 4);
        words_are("", NULL, 0);
        words_are(" \n\t ", NULL, 0);
        const char *c[] = {"(", "x", ")"};
        words_are("(x)", c, 3);
        const char *d[] = {"\xff", "ab"};
        words_are("\xff ab", d, 2);
}

Test(nlu_spans, word_dup_lowercases_unicode)
{
        const char *t = "PLAY \xC3\x89" "DITH";
        socfw_nlu_word w = {5, strlen(t)};
        char *s = socfw_nlu_word_dup(t, &w, 1);
        cr_assert_str_eq(s, "\xC3\xA9" "dith");
        free(s);
        s = socfw_nlu_word_dup(t, &w, 0);
        cr_assert_str_eq(s, "\xC3\x89" "DITH");
        free(s);
}

/* one-hot rows for tags (probability 0.9 on the tag) */
static float *
rows(const int *tags, size_t n, size_t K)
{
        float *p = calloc(n * K, sizeof *p);
        for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < K; k++)
                        p[i * K + k] = 0.1f / (float)(K - 1);
                p[i * K + (size_t)tags[i]] = 0.9f;
        }
        return p;
}

Test(nlu_spans, bio_tags_decode_to_character_spans)
{
        static const char *const labels[] = {"O", "B-artist", "I-artist",
                                             "B-service", "I-service"};
        const char *text = "play iris dement on google music please";
        socfw_nlu_words w = {0};
        cr_assert_eq(socfw_nlu_words_split(text, strlen(text), &w), 0);
        cr_assert_eq(w.n, 7);
        /* conlleval: the I-service after O starts an entity */
        const int tags[] = {0, 1, 2, 0, 4, 4, 0};
        float *p = rows(tags, 7, 5);
        socfw_nlu_spans sp = {0};
        cr_assert_eq(socfw_nlu_spans_from_tags(&w, p, 5, labels, &sp), 0);
        cr_assert_eq(sp.n, 2);
        cr_assert_str_eq(sp.v[0].type, "artist");
        cr_assert_eq(sp.v[0].start, 5);
        cr_assert_eq(sp.v[0].end, 16);
        cr_assert_str_eq(sp.v[1].type, "service");
        cr_assert_eq(sp.v[1].start, 20);
        cr_assert_eq(sp.v[1].end, 32);
        cr_assert_float_eq(sp.v[0].score, 0.9f, 1e-6);
        cr_assert_eq(sp.v[0].source, SOCFW_NLU_MODEL);
        free(p);
        /* B-X B-X: two entities */
        const int two[] = {0, 1, 1, 0, 0, 0, 0};
        p = rows(two, 7, 5);
        socfw_nlu_spans_free(&sp);
        cr_assert_eq(socfw_nlu_spans_from_tags(&w, p, 5, labels, &sp), 0);
        cr_assert_eq(sp.n, 2);
        cr_assert_eq(sp.v[0].end, 9);
        cr_assert_eq(sp.v[1].start, 10);
        free(p);
        socfw_nlu_spans_free(&sp);
        socfw_nlu_words_free(&w);
}

Test(nlu_spans, merge_policies)
{
        socfw_nlu_spans model = {0}, pat = {0}, out = {0};
        /* model: "march 3" as a date slot (0..7) and an artist (20..25);
         * patterns: a date 0..9 and an amount 12..15 */
        socfw_nlu_spans_push(&model, "timeRange", 0, 7, NULL,
                             SOCFW_NLU_MODEL, 0.8f);
        socfw_nlu_spans_push(&model, "artist", 20, 25, NULL, SOCFW_NLU_MODEL,
                             0.7f);
        socfw_nlu_spans_push(&pat, "DATE", 0, 9, "2024-03-03",
                             SOCFW_NLU_PATTERN, 1);
        socfw_nlu_spans_push(&pat, "AMOUNT", 12, 15, "5 USD",
                             SOCFW_NLU_PATTERN, 1);
        cr_assert_eq(socfw_nlu_spans_merge(&model, &pat,
                                           SOCFW_NLU_PATTERN_WINS, &out),
                     0);
        cr_assert_eq(out.n, 3);
        cr_assert_str_eq(out.v[0].type, "DATE");
        cr_assert_str_eq(out.v[0].value, "2024-03-03");
        cr_assert_str_eq(out.v[1].type, "AMOUNT");
        cr_assert_str_eq(out.v[2].type, "artist");
        socfw_nlu_spans_free(&out);
        cr_assert_eq(socfw_nlu_spans_merge(&model, &pat,
                                           SOCFW_NLU_MODEL_WINS, &out),
                     0);
        cr_assert_eq(out.n, 3);
        cr_assert_str_eq(out.v[0].type, "timeRange");
        socfw_nlu_spans_free(&out);
        cr_assert_eq(socfw_nlu_spans_merge(&model, &pat, SOCFW_NLU_KEEP_BOTH,
                                           &out),
                     0);
        cr_assert_eq(out.n, 4);
        cr_assert_eq(out.v[0].end, 9, "sorted: longer first on a tie");
        socfw_nlu_spans_free(&out);
        socfw_nlu_spans_free(&model);
        socfw_nlu_spans_free(&pat);
}

Test(nlu_spans, json_offsets_are_code_points)
{
        /* "café" has 4 code points and 5 bytes; "€30" 3 and 5 */
        const char *text = "caf\xC3\xA9 costs \xE2\x82\xAC" "30 \xff ok";
        socfw_nlu_spans sp = {0};
        size_t s = strlen("caf\xC3\xA9 costs ");
        socfw_nlu_spans_push(&sp, "AMOUNT", s, s + 5, "30 EUR",
                             SOCFW_NLU_PATTERN, 1);
        socfw_nlu_spans_push(&sp, "x", s + 6, s + 7, NULL, SOCFW_NLU_MODEL,
                             0.5f);
        char *js = socfw_nlu_spans_json(&sp, text, strlen(text));
        json_error_t je;
        json_t *a = json_loads(js, 0, &je);
        cr_assert(json_is_array(a), "%s: %s", js, je.text);
        json_t *o = json_array_get(a, 0);
        cr_assert_str_eq(json_string_value(json_object_get(o, "type")),
                         "AMOUNT");
        cr_assert_str_eq(json_string_value(json_object_get(o, "text")),
                         "\xE2\x82\xAC" "30");
        cr_assert_eq(json_integer_value(json_object_get(o, "start")), 11);
        cr_assert_eq(json_integer_value(json_object_get(o, "end")), 14);
        cr_assert_str_eq(json_string_value(json_object_get(o, "value")),
                         "30 EUR");
        cr_assert_str_eq(json_string_value(json_object_get(o, "source")),
                         "pattern");
        /* an invalid byte is one character, shown as U+FFFD */
        o = json_array_get(a, 1);
        cr_assert_str_eq(json_string_value(json_object_get(o, "text")),
                         "\xEF\xBF\xBD");
        cr_assert_eq(json_integer_value(json_object_get(o, "start")), 15);
        cr_assert_null(json_object_get(o, "value"));
        cr_assert_not_null(json_object_get(o, "score"));
        json_decref(a);
        free(js);
        socfw_nlu_spans_free(&sp);
}

Test(nlu_spans, calendar_arithmetic)
{
        socfw_nlu_date d = {1970, 1, 1};
        cr_assert_eq(socfw_nlu_date_to_days(d), 0);
        cr_assert_eq(socfw_nlu_date_weekday(d), 4, "a Thursday");
        d = (socfw_nlu_date){2024, 3, 15};
        cr_assert_eq(socfw_nlu_date_to_days(d), 19797);
        cr_assert_eq(socfw_nlu_date_weekday(d), 5, "a Friday");
        /* every day from 1900 to 2100 round-trips, one after another */
        socfw_nlu_date prev = {1899, 12, 31};
        for (int64_t z = socfw_nlu_date_to_days((socfw_nlu_date){1900, 1, 1});
             z < socfw_nlu_date_to_days((socfw_nlu_date){2100, 1, 1}); z++) {
                socfw_nlu_date x = socfw_nlu_date_from_days(z);
                cr_assert(socfw_nlu_date_valid(x.year, x.month, x.day));
                cr_assert_eq(socfw_nlu_date_to_days(x), z);
                cr_assert(x.day == prev.day + 1 ||
                          (x.day == 1 && (x.month != prev.month)));
                prev = x;
        }
        cr_assert(!socfw_nlu_date_valid(1900, 2, 29));
        cr_assert(socfw_nlu_date_valid(2000, 2, 29));
        /* ISO weeks: 2021-01-03 is in 2020-W53, 2024-12-30 in 2025-W01 */
        int wy, w;
        socfw_nlu_date_iso_week((socfw_nlu_date){2021, 1, 3}, &wy, &w);
        cr_assert(wy == 2020 && w == 53, "%d-W%d", wy, w);
        socfw_nlu_date_iso_week((socfw_nlu_date){2024, 12, 30}, &wy, &w);
        cr_assert(wy == 2025 && w == 1, "%d-W%d", wy, w);
        socfw_nlu_date_iso_week((socfw_nlu_date){2024, 3, 22}, &wy, &w);
        cr_assert(wy == 2024 && w == 12, "%d-W%d", wy, w);
        /* months clamp */
        d = socfw_nlu_date_add_months((socfw_nlu_date){2024, 1, 31}, 1);
        cr_assert(d.year == 2024 && d.month == 2 && d.day == 29);
        d = socfw_nlu_date_add_months((socfw_nlu_date){2024, 3, 31}, -13);
        cr_assert(d.year == 2023 && d.month == 2 && d.day == 28);
}

Test(nlu_spans, reference_dates_from_timestamps)
{
        socfw_nlu_date d;
        cr_assert_eq(socfw_nlu_date_parse_reference("2024-03-15", &d), 0);
        cr_assert(d.year == 2024 && d.month == 3 && d.day == 15);
        /* the date as written, in the writer's zone */
        cr_assert_eq(socfw_nlu_date_parse_reference(
                             "2024-03-15T23:30:00-05:00", &d),
                     0);
        cr_assert_eq(d.day, 15);
        cr_assert_eq(socfw_nlu_date_parse_reference("1710495000", &d), 0);
        cr_assert(d.year == 2024 && d.month == 3 && d.day == 15);
        cr_assert_eq(socfw_nlu_date_parse_reference("1710460799.5", &d), 0);
        cr_assert_eq(d.day, 14, "23:59:59 UTC on the 14th");
        cr_assert_eq(socfw_nlu_date_parse_reference("2024-02-30", &d), -1);
        cr_assert_eq(socfw_nlu_date_parse_reference("yesterday", &d), -1);
        cr_assert_eq(socfw_nlu_date_parse_reference("1e300", &d), -1);
        cr_assert_eq(socfw_nlu_date_parse_reference(NULL, &d), -1);
}

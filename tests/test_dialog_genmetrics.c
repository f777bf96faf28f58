/* test_dialog_genmetrics.c - words, distinct-n and length of replies, and
 * the reply stream filter (plugins/dialog/genmetrics.c, stream.c). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "genmetrics.h"
#include "stream.h"

#define EPS 1e-9

/* ---- words ---- */

static void
expect_words(const char *text, const char *const *want, size_t n_want)
{
        char **w = NULL;
        size_t n = 0;
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_words(text, &w, &n, &err), 0, "%s",
                     err.message);
        cr_assert_eq(n, n_want, "'%s': %zu words, want %zu", text, n,
                     n_want);
        for (size_t i = 0; i < n; i++) {
                cr_assert_str_eq(w[i], want[i], "'%s' word %zu", text, i);
                free(w[i]);
        }
        free(w);
}

Test(dialog_genmetrics, words_are_case_folded_and_punctuation_is_split)
{
        const char *a[] = {"i", "am", "fine", ",", "thanks", "!"};
        expect_words("I am FINE, thanks!", a, 6);
        expect_words("  i am fine ,\tthanks ! \n", a, 6);
        const char *b[] = {"strasse", "café"};
        expect_words("STRASSE", (const char *[]){"strasse"}, 1);
        expect_words("Straße Café", b, 2);
        expect_words("", NULL, 0);
        expect_words("   \n", NULL, 0);
}

Test(dialog_genmetrics, invalid_utf8_is_an_error)
{
        char **w = NULL;
        size_t n = 0;
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_words("ab\xff\xfe", &w, &n, &err),
                     SOCFW_EINVAL);
        cr_assert_null(w);
}

/* ---- distinct-n ---- */

typedef struct genstats_case {
        const char *replies[4];
        size_t n;
        double d1, d2, avg;
        size_t empty;
} genstats_case;

Test(dialog_genmetrics, distinct_n_of_hand_made_replies)
{
        static const genstats_case cases[] = {
                {{"I am fine .", "I am tired ."}, 2,
                 /* words: i am fine . / i am tired . -> 5 unique of 8;
                  * bigrams: (i am)(am fine)(fine .) (i am)(am tired)
                  * (tired .) -> 5 unique of 6 */
                 5.0 / 8, 5.0 / 6, 4.0, 0},
                /* the same reply twice: half of everything repeats */
                {{"ok ok ok", "ok ok ok"}, 2, 1.0 / 6, 1.0 / 4, 3.0, 0},
                /* all different */
                {{"a b", "c d", "e f"}, 3, 1.0, 1.0, 2.0, 0},
                /* an empty reply counts in the length, not in n-grams;
                 * "x" has no bigram */
                {{"", "x", "y z"}, 3, 1.0, 1.0, 1.0, 1},
                /* nothing at all */
                {{""}, 1, 0.0, 0.0, 0.0, 1},
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                socfw_dialog_genstats st;
                socfw_error err = {0};
                cr_assert_eq(socfw_dialog_genstats_compute(cases[c].replies,
                                                           cases[c].n, &st,
                                                           &err),
                             0, "case %zu: %s", c, err.message);
                cr_assert_float_eq(st.distinct_1, cases[c].d1, EPS,
                                   "case %zu: distinct-1 %g", c,
                                   st.distinct_1);
                cr_assert_float_eq(st.distinct_2, cases[c].d2, EPS,
                                   "case %zu: distinct-2 %g", c,
                                   st.distinct_2);
                cr_assert_float_eq(st.avg_words, cases[c].avg, EPS,
                                   "case %zu: avg %g", c, st.avg_words);
                cr_assert_eq(st.n_empty, cases[c].empty, "case %zu", c);
                cr_assert_eq(st.n_replies, cases[c].n);
        }
}

Test(dialog_genmetrics, many_replies_grow_the_word_table)
{
        enum { N = 600 };
        char *buf[N];
        const char *r[N];
        for (int i = 0; i < N; i++) {
                buf[i] = malloc(32);
                snprintf(buf[i], 32, "w%d common", i);
                r[i] = buf[i];
        }
        socfw_dialog_genstats st;
        cr_assert_eq(socfw_dialog_genstats_compute(r, N, &st, NULL), 0);
        /* N unique words + "common" of 2N words; every bigram unique */
        cr_assert_float_eq(st.distinct_1, (N + 1.0) / (2.0 * N), EPS);
        cr_assert_float_eq(st.distinct_2, 1.0, EPS);
        for (int i = 0; i < N; i++)
                free(buf[i]);
}

/* ---- the stream filter ---- */

typedef struct sink_buf {
        char text[512];
        size_t len;
        int calls;
        int fail_after;         /* fail on this call (1-based); 0 never */
} sink_buf;

static int
to_buf(void *user, const char *buf, size_t len)
{
        sink_buf *b = user;
        b->calls++;
        if (b->fail_after && b->calls >= b->fail_after)
                return -1;
        cr_assert_lt(b->len + len, sizeof b->text);
        memcpy(b->text + b->len, buf, len);
        b->len += len;
        b->text[b->len] = '\0';
        return 0;
}

/* Feed `pieces` and return what the stream wrote. */
static void
stream_pieces(const char *const *pieces, sink_buf *b)
{
        socfw_dialog_stream s;
        memset(b, 0, sizeof *b);
        socfw_dialog_stream_init(&s, to_buf, b);
        for (size_t i = 0; pieces[i]; i++)
                cr_assert_eq(socfw_dialog_stream_piece(&s, pieces[i],
                                                       strlen(pieces[i])),
                             0);
        socfw_dialog_stream_finish(&s);
        cr_assert_eq(s.written, b->len);
}

Test(dialog_stream, writes_the_reply_as_the_trimmed_text)
{
        static const struct {
                const char *pieces[8];
                const char *want;
        } cases[] = {
                {{" Hello", " there", ".", "\n", NULL}, "Hello there."},
                /* a control token split over pieces is dropped */
                {{" <|", "tone:", "positive|>", " Great", " news", NULL},
                 "Great news"},
                /* something that only starts like one is text */
                {{" <|ton", "e is", " fine", NULL}, "<|tone is fine"},
                {{" <b>", "bold", NULL}, "<b>bold"},
                /* inner white space kept, trailing dropped */
                {{"a", "  ", "\n", "b", "  \t", NULL}, "a  \nb"},
                /* invalid bytes dropped */
                {{"ok", "\xff", "!", NULL}, "ok!"},
                {{"   ", NULL}, ""},
                /* an unfinished control token at the end is text */
                {{"<|tone:neg", NULL}, "<|tone:neg"},
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                sink_buf b;
                stream_pieces(cases[c].pieces, &b);
                cr_assert_str_eq(b.len ? b.text : "", cases[c].want,
                                 "case %zu", c);
        }
}

Test(dialog_stream, a_failing_sink_asks_to_stop)
{
        sink_buf b = {.fail_after = 2};
        socfw_dialog_stream s;
        socfw_dialog_stream_init(&s, to_buf, &b);
        cr_assert_eq(socfw_dialog_stream_piece(&s, "one", 3), 0);
        cr_assert_eq(socfw_dialog_stream_piece(&s, " two", 4), 1);
        cr_assert_eq(socfw_dialog_stream_piece(&s, " three", 6), 1);
        cr_assert_eq(s.written, 3);
        cr_assert(s.failed);
}

Test(dialog_stream, the_fd_sink_writes_everything_or_fails)
{
        int p[2];
        cr_assert_eq(pipe(p), 0);
        cr_assert_eq(socfw_dialog_sink_fd((void *)(intptr_t)p[1], "abc", 3),
                     0);
        char buf[8] = {0};
        cr_assert_eq(read(p[0], buf, sizeof buf), 3);
        cr_assert_str_eq(buf, "abc");
        close(p[0]);
        close(p[1]);
        /* a descriptor opened for reading cannot be written */
        int fd = open("/dev/null", O_RDONLY);
        cr_assert_geq(fd, 0);
        cr_assert_neq(socfw_dialog_sink_fd((void *)(intptr_t)fd, "x", 1), 0);
        close(fd);
}

/* test_dialog_context.c - conversation state and the history window. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "socfw/tokenizer.h"
#include "testutil.h"

#define PERSONA "You are a calm support agent."

/* A conversation of `n` turns u0 a1 u2 a3 ... each "turnK w w w" with
 * `words` words; the last one is the current user turn when n is odd. */
static socfw_dialog_context *
make_conv(size_t n, int words)
{
        socfw_dialog_context *c = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_context_new(&c, PERSONA, &err), 0);
        for (size_t i = 0; i < n; i++) {
                char text[512];
                int len = snprintf(text, sizeof text, "turn%zu", i);
                for (int w = 1; w < words; w++)
                        len += snprintf(text + len, sizeof text - (size_t)len,
                                        " w%zu_%d", i, w);
                cr_assert_eq(socfw_dialog_context_add(
                                     c,
                                     i % 2 ? SOCFW_DIALOG_ASSISTANT
                                           : SOCFW_DIALOG_USER,
                                     text, NULL, 1000 + (int64_t)i, &err),
                             0, "%s", err.message);
        }
        return c;
}

static int
has_turn(const char *prompt, size_t i)
{
        char key[32];
        snprintf(key, sizeof key, "turn%zu ", i);
        return strstr(prompt, key) != NULL;
}

static size_t
words(const char *s)
{
        size_t n = 0;
        socfw_dialog_count_words(NULL, s, strlen(s), &n, NULL);
        return n;
}

Test(dialog_context, turns_are_stored_as_given)
{
        socfw_dialog_context *c = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_context_new(&c, "P", &err), 0);
        cr_expect_str_eq(socfw_dialog_context_system(c), "P");
        cr_assert_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_USER,
                                              "  hi there \n", "negative",
                                              42, &err),
                     0);
        cr_assert_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_ASSISTANT,
                                              "你好", NULL, 0, &err),
                     0);
        cr_assert_eq(socfw_dialog_context_count(c), 2);
        const socfw_dialog_turn *t = socfw_dialog_context_turns(c);
        cr_expect_str_eq(t[0].text, "  hi there \n");
        cr_expect_eq(t[0].len, 12);
        cr_expect_str_eq(t[0].label, "negative");
        cr_expect_eq(t[0].created, 42);
        cr_expect_eq(t[1].role, SOCFW_DIALOG_ASSISTANT);
        cr_expect_null(t[1].label);
        cr_expect_gt(t[1].created, 1600000000); /* "now" */
        socfw_dialog_context_clear(c);
        cr_expect_eq(socfw_dialog_context_count(c), 0);
        cr_expect_str_eq(socfw_dialog_context_system(c), "P");
        socfw_dialog_context_free(c);
        socfw_dialog_context_free(NULL);
}

Test(dialog_context, empty_and_invalid_turns_rejected)
{
        static const char *const bad[] = {
                "",                     /* empty */
                "   \t\n ",             /* only white space */
                "\xe3\x80\x80",         /* U+3000 ideographic space */
                "\xff",                 /* not UTF-8 */
                "ok \xc0\xaf",          /* overlong '/' */
                "\xed\xa0\x80",         /* surrogate */
                "cut \xe4\xbd",         /* truncated sequence */
        };
        static const char *const want[] = {
                "empty", "empty", "empty", "UTF-8", "UTF-8", "UTF-8", "UTF-8",
        };
        socfw_dialog_context *c = NULL;
        cr_assert_eq(socfw_dialog_context_new(&c, NULL, NULL), 0);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                socfw_error err = {0};
                cr_expect_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_USER,
                                                      bad[i], NULL, 0, &err),
                             SOCFW_EINVAL, "case %zu", i);
                cr_expect(strstr(err.message, want[i]), "case %zu: %s", i,
                          err.message);
        }
        socfw_error err = {0};
        cr_expect_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_USER, NULL,
                                              NULL, 0, &err),
                     SOCFW_EINVAL);
        cr_expect_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_USER, "x",
                                              "bad\nlabel", 0, NULL),
                     SOCFW_EINVAL);
        cr_expect_eq(socfw_dialog_context_count(c), 0);
        /* maximum message size */
        socfw_dialog_context_set_max_message(c, 10);
        socfw_error e2 = {0};
        cr_expect_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_USER,
                                              "01234567890", NULL, 0, &e2),
                     SOCFW_EINVAL);
        cr_expect(strstr(e2.message, "too long") && strstr(e2.message, "10"),
                  "%s", e2.message);
        cr_expect_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_USER,
                                              "0123456789", NULL, 0, NULL),
                     0);
        cr_expect_eq(socfw_dialog_context_count(c), 1);
        socfw_dialog_context_free(c);
}

Test(dialog_context, counters)
{
        size_t n = 0;
        const char *s = "  a  b\tc\nd\xe3\x80\x80" "e ";
        socfw_dialog_count_words(NULL, s, strlen(s), &n, NULL);
        cr_expect_eq(n, 5);
        s = "h\xc3\xa9llo\xe4\xb8\x96\xf0\x9f\x98\x80";
        socfw_dialog_count_chars(NULL, s, strlen(s), &n, NULL);
        cr_expect_eq(n, 7);
}

Test(dialog_context, window_by_turns_drops_oldest_keeps_persona)
{
        socfw_dialog_context *c = make_conv(7, 3);
        socfw_dialog_window_opts o = {.tmpl = SOCFW_DIALOG_TEMPLATE_PLAIN,
                                      .max_turns = 2};
        o.render.generation_prompt = 1;
        char *p = NULL;
        socfw_dialog_window w;
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_context_prompt(c, &o, &p, NULL, &w, &err),
                     0, "%s", err.message);
        cr_expect(strstr(p, "System: " PERSONA "\n") == p, "%s", p);
        for (size_t i = 0; i < 7; i++)
                cr_expect_eq(has_turn(p, i), i >= 4, "turn %zu in:\n%s", i,
                             p);
        cr_expect_eq(w.first, 4);
        cr_expect_eq(w.dropped, 4);
        cr_expect_eq(w.dropped_by_turns, 4);
        cr_expect_eq(w.dropped_by_tokens, 0);
        cr_expect_eq(w.kept, 3);
        cr_expect_eq(w.tokens, words(p));
        free(p);

        /* 3 turns of history would start with a reply: it goes too */
        o.max_turns = 3;
        cr_assert_eq(socfw_dialog_context_prompt(c, &o, &p, NULL, &w, &err),
                     0);
        cr_expect_eq(w.first, 4);
        cr_expect(!has_turn(p, 3) && has_turn(p, 4));
        free(p);

        /* no limit: everything */
        o.max_turns = 0;
        cr_assert_eq(socfw_dialog_context_prompt(c, &o, &p, NULL, &w, &err),
                     0);
        cr_expect_eq(w.dropped, 0);
        cr_expect(has_turn(p, 0) && has_turn(p, 6));
        free(p);
        socfw_dialog_context_free(c);
}

Test(dialog_context, window_by_tokens_respects_budget)
{
        socfw_dialog_context *c = make_conv(21, 10);
        for (int t = 0; t < 3; t++) {
                for (size_t budget = 42; budget <= 300; budget += 13) {
                        socfw_dialog_window_opts o = {
                                .tmpl = (socfw_dialog_template)t,
                                .max_tokens = budget,
                                .reserve_tokens = 16,
                                .count = socfw_dialog_count_words,
                        };
                        o.render.generation_prompt = 1;
                        o.render.tone = "calm";
                        char *p = NULL;
                        size_t len = 0;
                        socfw_dialog_window w;
                        socfw_error err = {0};
                        int rc = socfw_dialog_context_prompt(c, &o, &p, &len,
                                                             &w, &err);
                        cr_assert_eq(rc, 0, "t%d budget %zu: %s", t, budget,
                                     err.message);
                        cr_assert_eq(len, strlen(p));
                        size_t n = words(p);
                        cr_expect_eq(w.tokens, n);
                        cr_expect_leq(n + 16, budget, "t%d budget %zu", t,
                                      budget);
                        cr_expect(strstr(p, PERSONA), "persona dropped");
                        cr_expect(has_turn(p, 20), "current turn dropped");
                        cr_expect_eq(w.truncated_bytes, 0);
                        /* oldest first: exactly the turns >= first */
                        for (size_t i = 0; i < 21; i++)
                                cr_expect_eq(has_turn(p, i), i >= w.first,
                                             "t%d budget %zu turn %zu", t,
                                             budget, i);
                        cr_expect_eq(w.dropped, w.first);
                        cr_expect_eq(w.dropped_by_tokens, w.first);
                        cr_expect_eq(socfw_dialog_context_turns(c)[w.first]
                                             .role,
                                     SOCFW_DIALOG_USER);
                        /* as much history as fits: one more exchange (a
                         * question and its reply) would not */
                        if (w.first >= 2) {
                                socfw_dialog_window_opts o2 = o;
                                o2.max_tokens = 0;
                                o2.max_turns = 20 - (w.first - 2);
                                char *p2 = NULL;
                                cr_assert_eq(socfw_dialog_context_prompt(
                                                     c, &o2, &p2, NULL, NULL,
                                                     NULL),
                                             0);
                                cr_expect_gt(words(p2) + 16, budget);
                                free(p2);
                        }
                        free(p);
                }
        }
        socfw_dialog_context_free(c);
}

Test(dialog_context, current_turn_truncated_keeps_its_end)
{
        socfw_dialog_context *c = make_conv(3, 3);
        socfw_error err = {0};
        char big[4096];
        int len = 0;
        for (int i = 0; i < 200; i++)
                len += snprintf(big + len, sizeof big - (size_t)len, "x%d ",
                                i);
        len += snprintf(big + len, sizeof big - (size_t)len, "END");
        cr_assert_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_ASSISTANT, "ok",
                                              NULL, 0, &err),
                     0);
        cr_assert_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_USER, big, NULL,
                                              0, &err),
                     0);
        socfw_dialog_window_opts o = {.tmpl = SOCFW_DIALOG_TEMPLATE_CHATML,
                                      .max_tokens = 60,
                                      .reserve_tokens = 10};
        o.render.generation_prompt = 1;
        char *p = NULL;
        socfw_dialog_window w;
        cr_assert_eq(socfw_dialog_context_prompt(c, &o, &p, NULL, &w, &err),
                     0, "%s", err.message);
        cr_expect_leq(words(p), 50);
        cr_expect_eq(w.tokens, words(p));
        cr_expect_eq(w.first, 4);
        cr_expect_eq(w.dropped, 4);
        cr_expect_gt(w.truncated_bytes, 0);
        cr_expect(strstr(p, PERSONA));
        /* the kept text is the end of the message */
        const char *kept = big + w.truncated_bytes;
        cr_expect(strstr(p, kept) != NULL);
        cr_expect(strstr(p, "END<|im_end|>\n<|im_start|>assistant\n") != NULL);
        cr_expect(strstr(p, "x0 ") == NULL);
        /* and the longest end that fits: one more word would not */
        cr_expect_geq(words(p), 49);
        free(p);
        socfw_dialog_context_free(c);
}

Test(dialog_context, chinese_truncated_at_character_boundaries)
{
        /* 1-, 2-, 3- and 4-byte characters */
        const char *msg = "今天天气很好，我们去公园散步吧。a\xc3\xa9"
                          "\xf0\x9f\x98\x80好的谢谢你的帮助";
        size_t mlen = strlen(msg), mchars = 0;
        socfw_dialog_count_chars(NULL, msg, mlen, &mchars, NULL);
        socfw_dialog_context *c = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_context_new(&c, "客服", &err), 0);
        cr_assert_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_USER, msg, NULL,
                                              0, &err),
                     0);
        /* fixed part: the rendering with an empty message */
        socfw_dialog_turn empty = {.role = SOCFW_DIALOG_USER, .text = ""};
        socfw_dialog_render_opts ro = {.system = "客服",
                                       .generation_prompt = 1};
        char *e = NULL;
        size_t elen = 0, fixed = 0;
        cr_assert_eq(socfw_dialog_template_render(SOCFW_DIALOG_TEMPLATE_PLAIN,
                                                  &ro, &empty, 1, &e, &elen,
                                                  NULL),
                     0);
        socfw_dialog_count_chars(NULL, e, elen, &fixed, NULL);
        free(e);
        for (size_t keep = 1; keep < mchars; keep++) {
                socfw_dialog_window_opts o = {
                        .tmpl = SOCFW_DIALOG_TEMPLATE_PLAIN,
                        .max_tokens = fixed + keep,
                        .count = socfw_dialog_count_chars,
                };
                o.render.generation_prompt = 1;
                char *p = NULL;
                size_t plen = 0;
                socfw_dialog_window w;
                cr_assert_eq(socfw_dialog_context_prompt(c, &o, &p, &plen, &w,
                                                         &err),
                             0, "keep %zu: %s", keep, err.message);
                /* valid UTF-8, exactly `keep` characters of the end */
                cr_expect_eq(socfw_dialog_text_check(p, plen, 0, "prompt",
                                                     NULL),
                             0, "keep %zu: split a character", keep);
                size_t got = 0;
                socfw_dialog_count_chars(NULL, msg + w.truncated_bytes,
                                         mlen - w.truncated_bytes, &got, NULL);
                cr_expect_eq(got, keep, "keep %zu", keep);
                cr_expect_eq(w.tokens, fixed + keep);
                cr_expect(strstr(p, msg + w.truncated_bytes));
                free(p);
        }
        /* not even one character fits: error about the persona */
        socfw_dialog_window_opts o = {.tmpl = SOCFW_DIALOG_TEMPLATE_PLAIN,
                                      .max_tokens = fixed,
                                      .count = socfw_dialog_count_chars};
        o.render.generation_prompt = 1;
        char *p = NULL;
        socfw_error e2 = {0};
        cr_expect_eq(socfw_dialog_context_prompt(c, &o, &p, NULL, NULL, &e2),
                     SOCFW_EINVAL);
        cr_expect_null(p);
        cr_expect(strstr(e2.message, "persona") && strstr(e2.message, "hint"),
                  "%s", e2.message);
        socfw_dialog_context_free(c);
}

Test(dialog_context, prompt_errors)
{
        socfw_dialog_context *c = NULL;
        cr_assert_eq(socfw_dialog_context_new(&c, NULL, NULL), 0);
        socfw_dialog_window_opts o = {.tmpl = SOCFW_DIALOG_TEMPLATE_PLAIN};
        char *p = NULL;
        socfw_error err = {0};
        cr_expect_eq(socfw_dialog_context_prompt(c, &o, &p, NULL, NULL, &err),
                     SOCFW_EINVAL);
        cr_expect(strstr(err.message, "no turns"), "%s", err.message);
        cr_assert_eq(socfw_dialog_context_add(c, SOCFW_DIALOG_USER, "hi",
                                              NULL, 0, NULL),
                     0);
        o.max_tokens = 10;
        o.reserve_tokens = 10;
        socfw_error e2 = {0};
        cr_expect_eq(socfw_dialog_context_prompt(c, &o, &p, NULL, NULL, &e2),
                     SOCFW_EINVAL);
        cr_expect(strstr(e2.message, "reserve"), "%s", e2.message);
        /* no persona, no system line */
        o.max_tokens = 0;
        cr_assert_eq(socfw_dialog_context_prompt(c, &o, &p, NULL, NULL, NULL),
                     0);
        cr_expect_str_eq(p, "User: hi\n");
        free(p);
        socfw_dialog_context_free(c);
}

Test(dialog_context, budget_with_a_real_tokenizer, .timeout = 30)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_load_gguf(&tok, path, &err), 0, "%s",
                     err.message);
        socfw_dialog_context *c = make_conv(31, 12);
        socfw_dialog_window_opts o = {.tmpl = SOCFW_DIALOG_TEMPLATE_LLAMA2,
                                      .max_tokens = 300,
                                      .reserve_tokens = 32,
                                      .count = socfw_dialog_count_tokenizer,
                                      .count_user = tok};
        o.render.generation_prompt = 1;
        char *p = NULL;
        size_t len = 0, n = 0;
        socfw_dialog_window w;
        cr_assert_eq(socfw_dialog_context_prompt(c, &o, &p, &len, &w, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_dialog_count_tokenizer(tok, p, len, &n, &err), 0);
        cr_expect_eq(n, w.tokens);
        cr_expect_leq(n + 32, 300);
        cr_expect_gt(w.dropped_by_tokens, 0);
        cr_expect(has_turn(p, 30) && strstr(p, PERSONA));
        free(p);
        socfw_dialog_context_free(c);
        socfw_tokenizer_free(tok);
}

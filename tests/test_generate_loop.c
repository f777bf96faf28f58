/* test_generate_loop.c - socfw/generate.h with a fake model that walks a
 * fixed script: at position i the scripted token has logit 10, an
 * "alternative" token logit 5, everything else 0, so greedy decoding
 * follows the script unless the scripted token is banned. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/generate.h"

enum { V = 24, EOS = 0, ALT = 19 };

static const char *const pieces[V] = {
        "",             /* 0 eos */
        "Hello",        /* 1 */
        " wor",         /* 2 */
        "ld",           /* 3 */
        "\n",           /* 4 */
        "Us",           /* 5 */
        "er:",          /* 6 */
        " caf",         /* 7 */
        "\xc3",         /* 8  first byte of e-acute */
        "\xa9",         /* 9  second byte */
        " bad",         /* 10 */
        " b",           /* 11 */
        "ad",           /* 12 */
        " good",        /* 13 */
        "\xe2",         /* 14 euro sign, 3 bytes over 3 tokens */
        "\x82",         /* 15 */
        "\xac",         /* 16 */
        " ",            /* 17 */
        "!",            /* 18 */
        "x",            /* 19 the alternative */
        NULL,           /* 20 a 300-byte piece, built on demand */
        "BAD",          /* 21 */
        "\xf0\x9f",     /* 22 first half of an emoji (U+1F600) */
        "\x98\x80",     /* 23 second half */
};

struct fake {
        const int32_t *script;
        size_t n_script;
        size_t pos;             /* position whose logits were returned  */
        int steps;              /* calls to step                        */
        int fail_at;            /* step number that fails, 0 = never    */
        float logits[V];
        int32_t last_fed;
        int fed_ok;             /* each fed token was the last sampled  */
};

static const float *
fake_step(void *user, const int32_t *tokens, size_t n, socfw_error *err)
{
        struct fake *f = user;
        f->steps++;
        if (f->fail_at && f->steps == f->fail_at) {
                socfw_error_set(err, SOCFW_EIO, "fake model failure");
                return NULL;
        }
        if (f->steps > 1) {
                cr_assert_eq(n, 1);
                f->pos++;
        }
        f->last_fed = tokens[n - 1];
        for (int i = 0; i < V; i++)
                f->logits[i] = 0.0f;
        f->logits[ALT] = 5.0f;
        if (f->pos < f->n_script)
                f->logits[f->script[f->pos]] = 10.0f;
        else
                f->logits[ALT] = 10.0f;
        return f->logits;
}

static int
fake_piece(void *user, int32_t id, char *buf, size_t size)
{
        (void)user;
        if (id < 0 || id >= V)
                return -1;
        if (id == 20) {
                for (size_t i = 0; i < size && i < 300; i++)
                        buf[i] = 'z';
                return 300;
        }
        size_t n = strlen(pieces[id]);
        memcpy(buf, pieces[id], n < size ? n : size);
        return (int)n;
}

struct chunks {
        char all[4096];
        size_t len;
        int count;
        int bad_utf8;           /* a chunk split a character          */
        int saw_newline;
        int stop_after;         /* return 1 after this many chunks    */
        atomic_int *cancel_after_first;
};

static int
valid_utf8_chunk(const char *s, size_t n)
{
        if (n == 0)
                return 0;
        if (((unsigned char)s[0] & 0xC0) == 0x80)
                return 0;       /* starts inside a character */
        return socfw_generate_utf8_complete(s, n) == n;
}

static int
on_chunk(void *user, const char *text, size_t len)
{
        struct chunks *c = user;
        cr_assert(c->len + len < sizeof c->all);
        memcpy(c->all + c->len, text, len);
        c->len += len;
        c->all[c->len] = '\0';
        c->count++;
        if (!valid_utf8_chunk(text, len))
                c->bad_utf8 = 1;
        if (memchr(text, '\n', len))
                c->saw_newline = 1;
        if (c->cancel_after_first)
                atomic_store(c->cancel_after_first, 1);
        return c->stop_after && c->count >= c->stop_after;
}

struct run {
        struct fake f;
        struct chunks c;
        socfw_generate_config cfg;
        socfw_generate_model gm;
        socfw_generate_result res;
        socfw_error err;
        int rc;
};

static void
run_init(struct run *r, const int32_t *script, size_t n)
{
        memset(r, 0, sizeof *r);
        r->f.script = script;
        r->f.n_script = n;
        r->gm.n_vocab = V;
        r->gm.step = fake_step;
        r->gm.piece = fake_piece;
        r->gm.user = &r->f;
        socfw_generate_config_default(&r->cfg);
        r->cfg.stream = on_chunk;
        r->cfg.stream_user = &r->c;
}

static void
run_go(struct run *r)
{
        static const int32_t bos[1] = {1};
        r->rc = socfw_generate(&r->gm, NULL, &r->cfg, bos, 1, &r->res,
                               &r->err);
}

#define N(a) (sizeof(a) / sizeof *(a))

Test(generate, max_tokens)
{
        static const int32_t script[] = {19, 20, 19, 19, 19, 19};
        struct run r;
        run_init(&r, script, N(script));
        r.cfg.max_tokens = 3;
        run_go(&r);
        cr_assert_eq(r.rc, 0, "%s", r.err.message);
        cr_assert_eq(r.res.stop, SOCFW_GENERATE_STOP_MAX_TOKENS);
        cr_assert_eq(r.res.n_tokens, 3);
        cr_assert_eq(r.res.text_len, 302);      /* x + 300 z + x */
        cr_assert_eq(r.res.text[1], 'z');
        cr_assert_eq(r.res.text[301], 'x');
        cr_assert_eq(r.f.steps, 3, "prompt + 2 feeds, none wasted");
        cr_assert_eq(r.res.tokens[1], 20);
        cr_assert_str_eq(r.c.all, r.res.text);
        cr_assert_eq(r.res.n_prompt, 1);
        cr_assert(r.res.tokens_per_second >= 0.0);
        socfw_generate_result_free(&r.res);
}

Test(generate, eos_stops_and_is_not_text)
{
        static const int32_t script[] = {1, 2, 3, EOS, 19, 19};
        static const int32_t stops[] = {7, EOS};
        struct run r;
        run_init(&r, script, N(script));
        r.cfg.stop_tokens = stops;
        r.cfg.n_stop_tokens = 2;
        run_go(&r);
        cr_assert_eq(r.rc, 0);
        cr_assert_eq(r.res.stop, SOCFW_GENERATE_STOP_TOKEN);
        cr_assert_eq(r.res.stop_token, EOS);
        cr_assert_str_eq(r.res.text, "Hello world");
        cr_assert_eq(r.res.n_tokens, 3);
        cr_assert_eq(r.f.last_fed, 3, "fed tokens are the sampled ones");
        cr_assert_str_eq(r.c.all, "Hello world");
        socfw_generate_result_free(&r.res);
}

Test(generate, stop_string_across_tokens)
{
        /* "Hello world\nUser:" - the stop "\nUser:" spans three tokens;
         * "ld!" makes "ld" a possible stop start that turns out not to be */
        static const int32_t script[] = {1, 2, 3, 4, 5, 6, 18, 19};
        static const char *const stops[] = {"ld!", "\nUser:"};
        struct run r;
        run_init(&r, script, N(script));
        r.cfg.stop_strings = stops;
        r.cfg.n_stop_strings = 2;
        run_go(&r);
        cr_assert_eq(r.rc, 0);
        cr_assert_eq(r.res.stop, SOCFW_GENERATE_STOP_STRING);
        cr_assert_eq(r.res.stop_string, 1);
        cr_assert_str_eq(r.res.text, "Hello world");
        cr_assert_eq(r.res.text_len, 11);
        cr_assert_str_eq(r.c.all, "Hello world");
        cr_assert_not(r.c.saw_newline, "part of the stop string streamed");
        cr_assert_eq(r.res.n_tokens, 6);
        socfw_generate_result_free(&r.res);

        /* a held-back prefix that never completes is released at the end */
        static const int32_t script2[] = {1, 2, 3, 4};
        run_init(&r, script2, N(script2));
        r.cfg.stop_strings = stops;
        r.cfg.n_stop_strings = 2;
        r.cfg.max_tokens = 4;
        run_go(&r);
        cr_assert_eq(r.res.stop, SOCFW_GENERATE_STOP_MAX_TOKENS);
        cr_assert_str_eq(r.res.text, "Hello world\n");
        cr_assert_str_eq(r.c.all, "Hello world\n");
        socfw_generate_result_free(&r.res);
}

Test(generate, stream_never_splits_utf8)
{
        /* " caf" 0xC3 0xA9 " " 0xE2 0x82 0xAC 0xF0 0x9F 0x98 0x80 "!" */
        static const int32_t script[] = {7, 8, 9, 17, 14, 15, 16, 22, 23,
                                         18};
        struct run r;
        run_init(&r, script, N(script));
        r.cfg.max_tokens = N(script);
        run_go(&r);
        cr_assert_eq(r.rc, 0);
        cr_assert_str_eq(r.res.text, " caf\xc3\xa9 \xe2\x82\xac"
                                     "\xf0\x9f\x98\x80!");
        cr_assert_not(r.c.bad_utf8, "a chunk split a UTF-8 character");
        cr_assert_eq(r.c.len, r.res.text_len);
        cr_assert(memcmp(r.c.all, r.res.text, r.c.len) == 0);
        cr_assert_geq(r.c.count, 5);
        socfw_generate_result_free(&r.res);

        /* stopping in the middle of a character drops the partial bytes */
        run_init(&r, script, N(script));
        r.cfg.max_tokens = 6;
        run_go(&r);
        cr_assert_str_eq(r.res.text, " caf\xc3\xa9 ");
        cr_assert_str_eq(r.c.all, " caf\xc3\xa9 ");
        cr_assert_not(r.c.bad_utf8);
        socfw_generate_result_free(&r.res);
}

Test(generate, strip_leading_space)
{
        static const int32_t script[] = {7, 18};
        struct run r;
        run_init(&r, script, N(script));
        r.cfg.max_tokens = 2;
        r.cfg.strip_leading_space = 1;
        run_go(&r);
        cr_assert_str_eq(r.res.text, "caf!");
        cr_assert_str_eq(r.c.all, "caf!");
        socfw_generate_result_free(&r.res);
}

Test(generate, blocklist_word_from_several_tokens)
{
        /* the script spells " good bad!" as " good", " b", "ad", "!" and
         * then " bad" as one token: both must be blocked */
        static const int32_t script[] = {13, 11, 12, 18, 10, 18};
        static const char *const words[] = {"bad"};
        struct run r;
        run_init(&r, script, N(script));
        r.cfg.max_tokens = N(script);
        r.cfg.blocklist = words;
        r.cfg.n_blocklist = 1;
        run_go(&r);
        cr_assert_eq(r.rc, 0, "%s", r.err.message);
        cr_assert_null(strstr(r.res.text, "bad"), "text: %s", r.res.text);
        cr_assert_str_eq(r.res.text, " good bx!x!");
        socfw_generate_result_free(&r.res);

        /* without the blocklist the word is there */
        run_init(&r, script, N(script));
        r.cfg.max_tokens = N(script);
        run_go(&r);
        cr_assert_str_eq(r.res.text, " good bad! bad!");
        socfw_generate_result_free(&r.res);

        /* case-insensitive: "BAD" (token 21) and " b"+"ad" */
        static const int32_t script2[] = {21, 11, 12};
        static const char *const words2[] = {"Bad"};
        run_init(&r, script2, N(script2));
        r.cfg.max_tokens = 3;
        r.cfg.blocklist = words2;
        r.cfg.n_blocklist = 1;
        r.cfg.blocklist_ignore_case = 1;
        run_go(&r);
        cr_assert_str_eq(r.res.text, "x bx");
        socfw_generate_result_free(&r.res);

        /* a word over three tokens: "ld\nUs" */
        static const int32_t script3[] = {1, 2, 3, 4, 5, 6};
        static const char *const words3[] = {"ld\nUs"};
        run_init(&r, script3, N(script3));
        r.cfg.max_tokens = 6;
        r.cfg.blocklist = words3;
        r.cfg.n_blocklist = 1;
        run_go(&r);
        cr_assert_str_eq(r.res.text, "Hello world\nxer:");
        socfw_generate_result_free(&r.res);
}

Test(generate, cancel_flag)
{
        static const int32_t script[] = {1, 2, 3, 4, 5, 6, 18, 19, 19};
        atomic_int cancel = 0;
        struct run r;
        run_init(&r, script, N(script));
        r.cfg.cancel = &cancel;
        r.c.cancel_after_first = &cancel;
        run_go(&r);
        cr_assert_eq(r.rc, 0);
        cr_assert_eq(r.res.stop, SOCFW_GENERATE_STOP_CANCELLED);
        cr_assert_eq(r.res.n_tokens, 1);
        cr_assert_str_eq(r.res.text, "Hello");
        socfw_generate_result_free(&r.res);

        /* already cancelled: nothing generated */
        run_init(&r, script, N(script));
        r.cfg.cancel = &cancel;
        run_go(&r);
        cr_assert_eq(r.res.stop, SOCFW_GENERATE_STOP_CANCELLED);
        cr_assert_eq(r.res.n_tokens, 0);
        cr_assert_eq(r.res.text_len, 0);
        socfw_generate_result_free(&r.res);
}

Test(generate, callback_stop_and_context_limit)
{
        static const int32_t script[] = {1, 2, 3, 4, 5, 6, 18, 19, 19};
        struct run r;
        run_init(&r, script, N(script));
        r.c.stop_after = 2;
        run_go(&r);
        cr_assert_eq(r.res.stop, SOCFW_GENERATE_STOP_CALLBACK);
        cr_assert_str_eq(r.res.text, "Hello wor");
        cr_assert_str_eq(r.c.all, r.res.text);
        socfw_generate_result_free(&r.res);

        run_init(&r, script, N(script));
        r.gm.n_ctx = 5;         /* 1 prompt token + 4 */
        run_go(&r);
        cr_assert_eq(r.res.stop, SOCFW_GENERATE_STOP_CONTEXT);
        cr_assert_eq(r.res.n_tokens, 4);
        cr_assert_str_eq(r.res.text, "Hello world\n");
        socfw_generate_result_free(&r.res);
}

Test(generate, errors)
{
        static const int32_t script[] = {1, 2, 3, 4};
        struct run r;
        run_init(&r, script, N(script));
        r.f.fail_at = 3;
        run_go(&r);
        cr_assert_eq(r.rc, SOCFW_EIO);
        cr_assert(strstr(r.err.message, "fake model failure"), "%s",
                  r.err.message);
        cr_assert_eq(r.res.n_tokens, 2, "what came before is kept");
        socfw_generate_result_free(&r.res);

        static const char *const empty[] = {""};
        run_init(&r, script, N(script));
        r.cfg.stop_strings = empty;
        r.cfg.n_stop_strings = 1;
        run_go(&r);
        cr_assert_eq(r.rc, SOCFW_EINVAL);
        socfw_generate_result_free(&r.res);

        run_init(&r, script, N(script));
        r.rc = socfw_generate(&r.gm, NULL, &r.cfg, NULL, 0, &r.res, &r.err);
        cr_assert_eq(r.rc, SOCFW_EINVAL);
        cr_assert(strstr(r.err.message, "empty prompt"), "%s", r.err.message);
        cr_assert_str_eq(r.res.text, "");
        socfw_generate_result_free(&r.res);
        socfw_generate_result_free(NULL);
}

Test(generate, utf8_complete_prefix)
{
        cr_assert_eq(socfw_generate_utf8_complete("ab", 2), 2);
        cr_assert_eq(socfw_generate_utf8_complete("a\xc3", 2), 1);
        cr_assert_eq(socfw_generate_utf8_complete("a\xc3\xa9", 3), 3);
        cr_assert_eq(socfw_generate_utf8_complete("\xe2\x82", 2), 0);
        cr_assert_eq(socfw_generate_utf8_complete("\xf0\x9f\x98", 3), 0);
        cr_assert_eq(socfw_generate_utf8_complete("\xf0\x9f\x98\x80", 4), 4);
        cr_assert_eq(socfw_generate_utf8_complete("\x80\x80\x80\x80", 4), 4);
        cr_assert_eq(socfw_generate_utf8_complete("", 0), 0);
}

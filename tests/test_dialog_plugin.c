/* test_dialog_plugin.c - the dialog task plugin loaded through the registry:
 * training examples from dialogs and prompt/response pairs, and predict
 * (tone, control token, stops, blocklist, sessions, bad input) with a fake
 * generator installed in the task context, and evaluate (generation
 * metrics over a seeded sample of the split's items, prompts rebuilt from
 * the records the host reads again). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/example_impl.h"
#include "core/task_impl.h"
#include "socfw/chain.h"
#include "socfw/data.h"
#include "socfw/log.h"
#include "socfw/pipeline.h"
#include "testutil.h"

TestSuite(dialog_plugin, .init = fx_setup, .fini = fx_teardown, .timeout = 30);

/* ---- helpers ---- */

typedef struct fixture {
        socfw_pipeline *p;
        socfw_task_ctx *ctx;
} fixture;

/* A pipeline whose only task is `reply` (plugin dialog) with the extra
 * task keys in `keys` (YAML lines indented by 4). */
static const char *
yaml_with(const char *keys)
{
        static char y[8192];
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "tasks:\n"
                 "  - name: reply\n"
                 "    plugin: dialog\n"
                 "%s"
                 "chain: [reply]\n",
                 keys);
        return y;
}

static int
fixture_try(fixture *f, const char *keys, socfw_error *err)
{
        const char *y = yaml_with(keys);
        memset(f, 0, sizeof *f);
        int rc = socfw_pipeline_load_buffer(&f->p, y, strlen(y), "d.yaml",
                                            "/tmp", NULL, 0, err);
        if (rc == 0)
                rc = socfw_pipeline_validate(f->p, fx.reg, err);
        if (rc < 0) {
                for (size_t i = 0; i < socfw_pipeline_diag_count(f->p); i++)
                        fprintf(stderr, "%s\n", socfw_pipeline_diag(f->p, i));
                return rc;
        }
        return socfw_task_ctx_new(&f->ctx, "reply",
                                  socfw_pipeline_task_plugin(f->p, 0),
                                  socfw_pipeline_task(f->p, 0), err);
}

static void
fixture_open(fixture *f, const char *keys)
{
        socfw_error err = {0};
        int rc = fixture_try(f, keys, &err);
        cr_assert_eq(rc, 0, "%s", err.message);
}

static void
fixture_close(fixture *f)
{
        socfw_task_ctx_free(f->ctx);
        socfw_pipeline_free(f->p);
}

/* parse_example on one JSON line; returns the hook's code.  *ex_out is the
 * example list (caller frees). */
static int
parse(fixture *f, const char *jsonl, socfw_example **ex_out,
      socfw_error *err)
{
        socfw_reader *r = NULL;
        socfw_record *rec = NULL;
        cr_assert_eq(socfw_reader_open_memory(&r, jsonl, strlen(jsonl),
                                              "mem.jsonl", NULL, err),
                     0);
        cr_assert_eq(socfw_reader_next(r, &rec, err), 1, "%s", err->message);
        socfw_example *ex = socfw_example_new();
        cr_assert(ex);
        int rc = f->ctx->plugin->task->parse_example(f->ctx->state, rec, ex,
                                                    err);
        socfw_record_free(rec);
        socfw_reader_close(r);
        *ex_out = ex;
        return rc;
}

#define EXPECT_LM(ex, i, ctx_s, tgt_s)                                         \
        do {                                                                   \
                const example_item *it_ = socfw_example_item((ex), (i));       \
                cr_assert(it_, "no example %d", (int)(i));                     \
                cr_assert_eq(it_->kind, EXAMPLE_LM);                           \
                cr_assert_str_eq(it_->lm_context, (ctx_s));                    \
                cr_assert_str_eq(it_->lm_target, (tgt_s));                     \
        } while (0)

static const char *daily =
        "{\"turns\": ["
        "{\"speaker\": \"A\", \"text\": \"Hi , how are you ?\", "
        "\"act\": \"question\", \"emotion\": \"no_emotion\"},"
        "{\"speaker\": \"B\", \"text\": \"Fine , thanks .\", "
        "\"act\": \"inform\", \"emotion\": \"happiness\"},"
        "{\"speaker\": \"A\", \"text\": \"My cat is ill .\", "
        "\"act\": \"inform\", \"emotion\": \"sadness\"},"
        "{\"speaker\": \"B\", \"text\": \"Oh no , I am sorry .\", "
        "\"act\": \"inform\", \"emotion\": \"sadness\"}]}\n";

/* ---- loading ---- */

Test(dialog_plugin, found_by_the_registry_with_its_schema)
{
        const socfw_plugin *pl = socfw_registry_find(fx.reg, "dialog",
                                                     SOCFW_PLUGIN_TASK);
        cr_assert(pl, "the dialog plugin is not in the build tree");
        int has_auto = 0, has_blocklist = 0;
        for (const socfw_param_spec *s = pl->params; s->key; s++) {
                if (strcmp(s->key, "template") == 0)
                        for (size_t i = 0; s->choices[i]; i++)
                                has_auto |= !strcmp(s->choices[i], "auto");
                has_blocklist |= !strcmp(s->key, "blocklist");
        }
        cr_assert(has_auto && has_blocklist);
        cr_assert_str_eq(pl->default_head, "lm");
}

Test(dialog_plugin, a_reply_budget_larger_than_the_window_is_refused)
{
        fixture f;
        socfw_error err = {0};
        int rc = fixture_try(&f,
                             "    history: {max_tokens: 32}\n"
                             "    max_reply_tokens: 40\n",
                             &err);
        cr_assert_eq(rc, SOCFW_ESCHEMA);
        cr_assert(strstr(err.message, "max_reply_tokens (40)"), "%s",
                  err.message);
        cr_assert_eq(err.line, 6, "line %ld", err.line);
        fixture_close(&f);
}

/* ---- training examples ---- */

Test(dialog_plugin, every_turn_after_the_first_is_an_example)
{
        fixture f;
        fixture_open(&f, "    template: plain\n"
                         "    system: Sys.\n"
                         "    history: {max_turns: 2}\n"
                         "    tone: {negative: calm}\n");
        socfw_example *ex = NULL;
        socfw_error err = {0};
        cr_assert_eq(parse(&f, daily, &ex, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_example_count(ex), 3);
        /* happiness -> positive; the target's speaker (B) is the bot */
        EXPECT_LM(ex, 0,
                  "System: Sys.\nUser: Hi , how are you ?\n"
                  "Bot: <|tone:positive|>",
                  " Fine , thanks .\n");
        /* sadness -> negative -> tone "calm"; roles follow the target's
         * speaker (A) */
        EXPECT_LM(ex, 1,
                  "System: Sys. Reply in this tone: calm\n"
                  "Bot: Hi , how are you ?\nUser: Fine , thanks .\n"
                  "Bot: <|tone:negative|>",
                  " My cat is ill .\n");
        /* only the last two turns of history */
        EXPECT_LM(ex, 2,
                  "System: Sys. Reply in this tone: calm\n"
                  "Bot: Fine , thanks .\nUser: My cat is ill .\n"
                  "Bot: <|tone:negative|>",
                  " Oh no , I am sorry .\n");
        socfw_example_free(ex);
        fixture_close(&f);
}

Test(dialog_plugin, control_tokens_can_be_off_or_from_the_user_turn)
{
        fixture f;
        socfw_example *ex = NULL;
        socfw_error err = {0};
        fixture_open(&f, "    template: plain\n"
                         "    system: ''\n"
                         "    emotion_control: false\n");
        cr_assert_eq(parse(&f, daily, &ex, &err), 0, "%s", err.message);
        EXPECT_LM(ex, 0, "User: Hi , how are you ?\nBot:",
                  " Fine , thanks .\n");
        socfw_example_free(ex);
        fixture_close(&f);

        fixture_open(&f, "    template: plain\n"
                         "    system: ''\n"
                         "    control_from: user\n"
                         "    emotion_map: {no_emotion: calm_user}\n");
        cr_assert_eq(parse(&f, daily, &ex, &err), 0, "%s", err.message);
        /* the user's turn had no_emotion, mapped by emotion_map */
        EXPECT_LM(ex, 0,
                  "User: Hi , how are you ?\nBot: <|tone:calm_user|>",
                  " Fine , thanks .\n");
        socfw_example_free(ex);
        fixture_close(&f);
}

Test(dialog_plugin, chatml_targets_end_with_the_end_of_turn)
{
        fixture f;
        socfw_example *ex = NULL;
        socfw_error err = {0};
        fixture_open(&f, "    template: chatml\n"
                         "    system: S\n"
                         "    emotion_control: false\n");
        cr_assert_eq(parse(&f, daily, &ex, &err), 0, "%s", err.message);
        EXPECT_LM(ex, 0,
                  "<|im_start|>system\nS<|im_end|>\n"
                  "<|im_start|>user\nHi , how are you ?<|im_end|>\n"
                  "<|im_start|>assistant\n",
                  "Fine , thanks .<|im_end|>");
        socfw_example_free(ex);
        fixture_close(&f);
}

Test(dialog_plugin, prompt_response_pairs_and_role_named_speakers)
{
        fixture f;
        socfw_example *ex = NULL;
        socfw_error err = {0};
        fixture_open(&f, "    template: plain\n"
                         "    system: ''\n");
        cr_assert_eq(parse(&f,
                           "{\"prompt\": \"where is my parcel?\", "
                           "\"response\": \"Let me check.\", "
                           "\"emotion\": \"neutral\"}\n",
                           &ex, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_example_count(ex), 1);
        EXPECT_LM(ex, 0, "User: where is my parcel?\nBot: <|tone:neutral|>",
                  " Let me check.\n");
        socfw_example_free(ex);

        /* speakers that are roles: only the bot's turns are learnt */
        cr_assert_eq(parse(&f,
                           "{\"turns\": [{\"speaker\": \"user\", \"text\": "
                           "\"a\"}, {\"speaker\": \"bot\", \"text\": \"b\"}, "
                           "{\"speaker\": \"user\", \"text\": \"c\"}, "
                           "{\"speaker\": \"bot\", \"text\": \"d\"}]}\n",
                           &ex, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_example_count(ex), 2);
        EXPECT_LM(ex, 1, "User: a\nBot: b\nUser: c\nBot:", " d\n");
        socfw_example_free(ex);
        fixture_close(&f);
}

Test(dialog_plugin, bad_records_name_the_problem)
{
        static const struct {
                const char *line;
                const char *needle;
        } cases[] = {
                {"{\"text\": \"no turns\"}\n", "neither 'turns'"},
                {"{\"turns\": [{\"speaker\": \"A\", \"text\": \"one\"}]}\n",
                 "at least two turns"},
                {"{\"turns\": \"nope\"}\n", "at least two turns"},
                {"{\"turns\": [{\"speaker\": \"A\", \"text\": \"x\"}, "
                 "{\"speaker\": \"B\"}]}\n",
                 "turns[1]"},
                {"{\"turns\": [{\"speaker\": \"A\", \"text\": \"x\"}, "
                 "{\"speaker\": \"B\", \"text\": \"   \"}]}\n",
                 "empty"},
                {"{\"turns\": [{\"speaker\": \"bot\", \"text\": \"x\"}, "
                 "{\"speaker\": \"user\", \"text\": \"y\"}]}\n",
                 "no assistant turn"},
                {"{\"prompt\": \"\", \"response\": \"r\"}\n", "empty"},
        };
        fixture f;
        fixture_open(&f, "");
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                socfw_example *ex = NULL;
                socfw_error err = {0};
                int rc = parse(&f, cases[i].line, &ex, &err);
                cr_assert_eq(rc, SOCFW_EINVAL, "case %zu: rc %d", i, rc);
                cr_assert(strstr(err.message, cases[i].needle),
                          "case %zu: wanted '%s' in '%s'", i,
                          cases[i].needle, err.message);
                socfw_example_free(ex);
        }
        fixture_close(&f);
}

Test(dialog_plugin, a_label_that_cannot_be_a_token_is_left_out)
{
        fixture f;
        socfw_example *ex = NULL;
        socfw_error err = {0};
        fixture_open(&f, "    template: plain\n"
                         "    system: ''\n");
        cr_assert_eq(parse(&f,
                           "{\"turns\": [{\"speaker\": \"A\", \"text\": "
                           "\"x\"}, {\"speaker\": \"B\", \"text\": \"y\", "
                           "\"emotion\": \"very happy!\"}]}\n",
                           &ex, &err),
                     0, "%s", err.message);
        EXPECT_LM(ex, 0, "User: x\nBot:", " y\n");
        socfw_example_free(ex);
        fixture_close(&f);
}

/* ---- predict ---- */

typedef struct fake {
        char prompts[4][4096];
        int calls;
        const char *answer;
        const char *stop[16];
        const char *banned[16];
        int max_tokens;
} fake;

static fake g_fake;

static int
fake_generate(void *runtime, socfw_task_ctx *ctx, const char *prompt,
              const socfw_generate_opts *o, char **reply, socfw_error *err)
{
        (void)runtime;
        (void)ctx;
        (void)err;
        fake *f = &g_fake;
        snprintf(f->prompts[f->calls % 4], sizeof f->prompts[0], "%s",
                 prompt);
        f->calls++;
        f->max_tokens = o->max_tokens;
        for (size_t i = 0; i < 15; i++) {
                f->stop[i] = o->stop ? o->stop[i] : NULL;
                if (!f->stop[i])
                        break;
        }
        for (size_t i = 0; i < 15; i++) {
                f->banned[i] = o->banned ? o->banned[i] : NULL;
                if (!f->banned[i])
                        break;
        }
        *reply = strdup(f->answer ? f->answer : " Sure thing.\n");
        return 0;
}

static int
list_has(const char *const *v, const char *s)
{
        for (size_t i = 0; v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return 1;
        return 0;
}

static int
predict(fixture *f, socfw_post *post, socfw_error *err)
{
        return f->ctx->plugin->task->predict(f->ctx->state, post, err);
}

Test(dialog_plugin, predict_without_a_model_says_so)
{
        fixture f;
        fixture_open(&f, "");
        socfw_post *post = socfw_post_new("hello there", NULL);
        socfw_error err = {0};
        int rc = predict(&f, post, &err);
        cr_assert_eq(rc, SOCFW_EUNSUPPORTED, "rc %d: %s", rc, err.message);
        cr_assert(strstr(err.message, "generate"), "%s", err.message);
        cr_assert_null(socfw_post_get_string(post, "reply.reply"));
        cr_assert_str_eq(socfw_post_text(post), "hello there");
        socfw_post_free(post);
        fixture_close(&f);
}

Test(dialog_plugin, tone_follows_the_sentiment_and_options_are_passed_on)
{
        fixture f;
        fixture_open(&f, "    template: plain\n"
                         "    system: Be kind.\n"
                         "    tone: {negative: 'apologetic, calm', "
                         "positive: warm}\n"
                         "    blocklist: [stupid, idiot]\n"
                         "    stop: ['###']\n"
                         "    max_reply_tokens: 20\n"
                         "    debug_prompt: true\n");
        memset(&g_fake, 0, sizeof g_fake);
        g_fake.answer = "  I am so sorry to hear that.\nUser: more";
        f.ctx->generate = fake_generate;

        socfw_error err = {0};
        socfw_post *post = socfw_post_new("my order is late", NULL);
        socfw_post_set_string(post, "sentiment.label", "negative", NULL);
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        cr_assert_str_eq(g_fake.prompts[0],
                         "System: Be kind. Reply in this tone: apologetic, "
                         "calm\nUser: my order is late\n"
                         "Bot: <|tone:negative|>");
        cr_assert_str_eq(socfw_post_get_string(post, "reply.prompt"),
                         g_fake.prompts[0]);
        /* trimmed at the next speaker; the text becomes the reply */
        cr_assert_str_eq(socfw_post_get_string(post, "reply.reply"),
                         "I am so sorry to hear that.");
        cr_assert_str_eq(socfw_post_text(post),
                         "I am so sorry to hear that.");
        cr_assert_str_eq(socfw_post_get_string(post, "reply.input"),
                         "my order is late");
        cr_assert_str_eq(socfw_post_get_string(post, "reply.tone"),
                         "apologetic, calm");
        cr_assert(list_has(g_fake.banned, "stupid"));
        cr_assert(list_has(g_fake.banned, "idiot"));
        cr_assert(list_has(g_fake.stop, "\nUser:"));
        cr_assert(list_has(g_fake.stop, "###"));
        cr_assert_eq(g_fake.max_tokens, 20);
        socfw_post_free(post);

        post = socfw_post_new("my order is late", NULL);
        socfw_post_set_string(post, "sentiment.label", "positive", NULL);
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        cr_assert_str_eq(g_fake.prompts[1],
                         "System: Be kind. Reply in this tone: warm\n"
                         "User: my order is late\nBot: <|tone:positive|>");
        socfw_post_free(post);

        /* no sentiment stage: no tone, no control, no .tone annotation */
        post = socfw_post_new("my order is late", NULL);
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        cr_assert_str_eq(g_fake.prompts[2],
                         "System: Be kind.\nUser: my order is late\nBot:");
        cr_assert_null(socfw_post_get_string(post, "reply.tone"));
        socfw_post_free(post);
        fixture_close(&f);
}

Test(dialog_plugin, default_label_applies_without_a_sentiment_stage)
{
        fixture f;
        fixture_open(&f, "    template: plain\n"
                         "    system: ''\n"
                         "    default_label: no_emotion\n"
                         "    tone: {neutral: even}\n");
        memset(&g_fake, 0, sizeof g_fake);
        f.ctx->generate = fake_generate;
        socfw_error err = {0};
        socfw_post *post = socfw_post_new("hi", NULL);
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        /* no_emotion maps to neutral, as in training on DailyDialog */
        cr_assert_str_eq(g_fake.prompts[0],
                         "System: Reply in this tone: even\nUser: hi\n"
                         "Bot: <|tone:neutral|>");
        socfw_post_free(post);
        fixture_close(&f);
}

Test(dialog_plugin, an_empty_generation_gets_the_fallback)
{
        fixture f;
        fixture_open(&f, "    fallback_reply: Hmm?\n");
        memset(&g_fake, 0, sizeof g_fake);
        g_fake.answer = "  \n\xff";
        f.ctx->generate = fake_generate;
        socfw_error err = {0};
        socfw_post *post = socfw_post_new("hi", NULL);
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        cr_assert_str_eq(socfw_post_get_string(post, "reply.reply"), "Hmm?");
        socfw_post_free(post);
        fixture_close(&f);
}

static double
history_count(fixture *f, const char *session)
{
        socfw_error err = {0};
        socfw_post *post = socfw_post_new("/history", session);
        socfw_post_set_string(post, "reply.command", "history", NULL);
        cr_assert_eq(predict(f, post, &err), 0, "%s", err.message);
        double n = -1;
        cr_assert_eq(socfw_post_get_number(post, "reply.turns", &n), 0);
        socfw_post_free(post);
        return n;
}

Test(dialog_plugin, sessions_keep_the_conversation, .timeout = 30)
{
        char dir[4096], keys[8192];
        cr_assert(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(keys, sizeof keys,
                 "    template: plain\n"
                 "    system: S\n"
                 "    sessions: %s/s.db\n",
                 dir);
        fixture f;
        fixture_open(&f, keys);
        memset(&g_fake, 0, sizeof g_fake);
        g_fake.answer = "Nice to meet you.";
        f.ctx->generate = fake_generate;
        socfw_error err = {0};
        cr_assert_eq(history_count(&f, "alice"), 0);

        socfw_post *post = socfw_post_new("hi, I am Alice", "alice");
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        socfw_post_free(post);
        post = socfw_post_new("what is my name?", "alice");
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        socfw_post_free(post);
        cr_assert_str_eq(g_fake.prompts[1],
                         "System: S\nUser: hi, I am Alice\n"
                         "Bot: Nice to meet you.\nUser: what is my name?\n"
                         "Bot:");
        cr_assert_eq(history_count(&f, "alice"), 4);
        cr_assert_eq(history_count(&f, "bob"), 0);

        /* a second plugin instance (another process) sees the same */
        fixture g;
        fixture_open(&g, keys);
        cr_assert_eq(history_count(&g, "alice"), 4);

        /* bad input is refused and nothing is stored */
        char *big = malloc(100 * 1024 + 1);
        cr_assert(big);
        memset(big, 'x', 100 * 1024);
        big[100 * 1024] = '\0';
        const char *bad[] = {"", "   ", "caf\xc3", big};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                socfw_error e = {0};
                post = socfw_post_new(bad[i], "alice");
                cr_assert_eq(predict(&g, post, &e), SOCFW_EINVAL,
                             "bad input %zu accepted", i);
                cr_assert(strstr(e.message, "message"), "%s", e.message);
                socfw_post_free(post);
        }
        free(big);
        cr_assert_eq(history_count(&g, "alice"), 4);

        /* reset clears alice only */
        post = socfw_post_new("/reset", "alice");
        socfw_post_set_string(post, "reply.command", "reset", NULL);
        cr_assert_eq(predict(&g, post, &err), 0, "%s", err.message);
        socfw_post_free(post);
        cr_assert_eq(history_count(&f, "alice"), 0);
        fixture_close(&g);
        fixture_close(&f);
}

Test(dialog_plugin, a_corrupt_session_file_is_an_error_and_left_alone,
     .timeout = 30)
{
        char dir[4096], path[4200], keys[8192];
        cr_assert(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/s.db", dir);
        const char junk[] = "this is not a database, but it is precious";
        cr_assert_eq(socfw_test_write_file(path, junk, sizeof junk - 1), 0);
        snprintf(keys, sizeof keys, "    sessions: %s\n", path);
        fixture f;
        fixture_open(&f, keys);
        memset(&g_fake, 0, sizeof g_fake);
        f.ctx->generate = fake_generate;
        socfw_error err = {0};
        socfw_post *post = socfw_post_new("hello", "s1");
        cr_assert_eq(predict(&f, post, &err), SOCFW_EFORMAT, "%s",
                     err.message);
        cr_assert(strstr(err.file, "s.db") || strstr(err.message, "s.db"),
                  "%s", err.message);
        cr_assert_eq(g_fake.calls, 0);
        socfw_post_free(post);
        size_t len = 0;
        char *back = socfw_test_read_file(path, &len);
        cr_assert(back);
        cr_assert_eq(len, sizeof junk - 1);
        cr_assert_eq(memcmp(back, junk, len), 0);
        free(back);
        fixture_close(&f);
}

/* Every byte is a token: a tight budget. */
static int
fake_count(void *runtime, const char *text, size_t *n, socfw_error *err)
{
        (void)runtime;
        (void)err;
        *n = strlen(text);
        return 0;
}

Test(dialog_plugin, the_window_counts_with_the_model_tokenizer)
{
        char dir[4096], keys[8192];
        cr_assert(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(keys, sizeof keys,
                 "    template: plain\n"
                 "    system: S\n"
                 "    history: {max_tokens: 60}\n"
                 "    max_reply_tokens: 10\n"
                 "    sessions: %s/s.db\n",
                 dir);
        fixture f;
        fixture_open(&f, keys);
        memset(&g_fake, 0, sizeof g_fake);
        g_fake.answer = "ok";
        f.ctx->generate = fake_generate;
        f.ctx->count_tokens = fake_count;
        socfw_error err = {0};
        const char *msgs[] = {"first message", "second message",
                              "third message"};
        for (size_t i = 0; i < 3; i++) {
                socfw_post *post = socfw_post_new(msgs[i], "w");
                cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
                socfw_post_free(post);
        }
        /* 50 bytes of budget: only the newest turns fit */
        const char *last = g_fake.prompts[2];
        cr_assert_leq(strlen(last), 50, "%s", last);
        cr_assert(strstr(last, "User: third message\nBot:"), "%s", last);
        cr_assert_null(strstr(last, "first"), "%s", last);
        fixture_close(&f);
}

Test(dialog_plugin, runs_as_a_chain_stage)
{
        fixture f;
        fixture_open(&f, "");
        socfw_chain *chain = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_chain_new(&chain, f.p, NULL, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_chain_len(chain), 1);
        socfw_post *post = socfw_post_new("hello", NULL);
        int rc = socfw_chain_run(chain, post, &err);
        cr_assert_eq(rc, SOCFW_EUNSUPPORTED, "%s", err.message);
        cr_assert(strstr(err.message, "reply"), "%s", err.message);
        socfw_post_free(post);
        socfw_chain_free(chain);
        fixture_close(&f);
}

/* ---- template: auto from the model's metadata ---- */

static char log_text[4096];
static int log_warnings;

static void
log_capture(socfw_log_level level, const char *msg, void *user)
{
        (void)user;
        if (level == SOCFW_LOG_LEVEL_WARN) {
                log_warnings++;
                snprintf(log_text, sizeof log_text, "%s", msg);
        }
}

static void
open_auto(fixture *f, const char *model)
{
        char keys[4096];
        snprintf(keys, sizeof keys,
                 "    template: auto\n"
                 "    system: ''\n"
                 "    emotion_control: false\n"
                 "    chat_template_from: %s/tests/fixtures/dialog/%s\n",
                 socfw_test_srcdir(), model);
        fixture_open(f, keys);
}

Test(dialog_plugin, template_auto_follows_the_model_metadata)
{
        static const struct {
                const char *model;
                const char *context;
                int warned;
        } cases[] = {
                {"chatml.gguf",
                 "<|im_start|>user\nHi , how are you ?<|im_end|>\n"
                 "<|im_start|>assistant\n",
                 0},
                {"hf-llama2-list", "[INST] Hi , how are you ? [/INST]", 0},
                {"hf-plain", "User: Hi , how are you ?\nBot:", 0},
                {"notemplate.gguf", "User: Hi , how are you ?\nBot:", 0},
                /* unknown: plain, with a warning */
                {"unknown.gguf", "User: Hi , how are you ?\nBot:", 1},
        };
        socfw_log_set_sink(log_capture, NULL);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                fixture f;
                log_warnings = 0;
                open_auto(&f, cases[i].model);
                socfw_example *ex = NULL;
                socfw_error err = {0};
                cr_assert_eq(parse(&f, daily, &ex, &err), 0, "%s",
                             err.message);
                const example_item *it = socfw_example_item(ex, 0);
                cr_assert_str_eq(it->lm_context, cases[i].context, "%s",
                                 cases[i].model);
                cr_assert_eq(log_warnings, cases[i].warned, "%s",
                             cases[i].model);
                if (cases[i].warned)
                        cr_assert(strstr(log_text, "plain"), "%s", log_text);
                socfw_example_free(ex);
                fixture_close(&f);
        }
        socfw_log_set_sink(NULL, NULL);
}

Test(dialog_plugin, template_auto_with_a_broken_model_config_fails)
{
        fixture f;
        char keys[4096];
        socfw_error err = {0};
        snprintf(keys, sizeof keys,
                 "    template: auto\n"
                 "    chat_template_from: %s/tests/fixtures/dialog/hf-bad\n",
                 socfw_test_srcdir());
        int rc = fixture_try(&f, keys, &err);
        cr_assert_eq(rc, SOCFW_EFORMAT, "rc %d: %s", rc, err.message);
        cr_assert(strstr(err.message, "tokenizer_config.json") &&
                          strstr(err.message, "hint:"),
                  "%s", err.message);
        fixture_close(&f);
}

/* ---- evaluate: distinct-n of generated replies ---- */

static const char *const eval_answers[] = {
        " I am fine , thanks .\n", " I am tired .\n", " <|tone:neutral|> ok\n",
        "\n"};

typedef struct gen_log {
        int calls;
        float temperature;
        char prompts[8][1024];
} gen_log;

static gen_log g_gen;

static int
cycle_generate(void *runtime, socfw_task_ctx *ctx, const char *prompt,
               const socfw_generate_opts *o, char **reply, socfw_error *err)
{
        (void)runtime;
        (void)ctx;
        (void)err;
        g_gen.temperature = o->temperature;
        snprintf(g_gen.prompts[g_gen.calls % 8], sizeof g_gen.prompts[0],
                 "%s", prompt);
        *reply = strdup(eval_answers[g_gen.calls++ % 4]);
        return 0;
}

/* A split as the host reads it (socfw_task_read_file): the record row of
 * each item and the prompt parse_example gave it. */
#define MAX_ITEMS 64
typedef struct split_items {
        size_t n;
        long rows[MAX_ITEMS];
        char *prompts[MAX_ITEMS];
        char path[4200];
} split_items;

static int
collect_item(void *arg, const example_item *it, socfw_error *perr)
{
        (void)perr;
        split_items *si = arg;
        cr_assert_lt(si->n, MAX_ITEMS);
        cr_assert_eq(it->kind, EXAMPLE_LM);
        si->rows[si->n] = it->record;
        si->prompts[si->n] = strdup(it->lm_context);
        cr_assert_not_null(si->prompts[si->n]);
        si->n++;
        return 0;
}

/* Write `jsonl` as fx.dir/name and read it as the split `valid`. */
static void
read_split(fixture *f, const char *name, const char *jsonl, split_items *si)
{
        memset(si, 0, sizeof *si);
        snprintf(si->path, sizeof si->path, "%s/%s", fx.dir, name);
        cr_assert_eq(socfw_test_write_file(si->path, jsonl, strlen(jsonl)),
                     0);
        socfw_error err = {0};
        cr_assert_eq(socfw_task_read_file(f->ctx, si->path, "valid", 0,
                                          collect_item, si, NULL, &err),
                     0, "%s", err.message);
}

static void
split_items_clear(split_items *si)
{
        for (size_t i = 0; i < si->n; i++)
                free(si->prompts[i]);
        si->n = 0;
}

/* The evaluation of the split as the host hands it to the hook: one item
 * per example, its record read again from the file on demand. */
static void
split_eval(socfw_eval *e, fixture *f, const split_items *si)
{
        socfw_eval_init(e, si->n, NULL, NULL, NULL, 0);
        e->kind = SOCFW_TARGET_TOKENS;
        e->rows = si->rows;
        e->ctx = f->ctx;
        e->source = si->path;
        e->split = "valid";
}

/* The sample the hook is specified to draw: a reservoir over the items in
 * order, splitmix64 seeded with seed ^ "dialog". */
static uint64_t
ref_next(uint64_t *s)
{
        uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static size_t
ref_sample(uint64_t seed, size_t n, size_t k, size_t *pick)
{
        uint64_t rng = seed ^ 0x6469616c6f67ULL;
        for (size_t i = 0; i < n; i++) {
                uint64_t j = i < k ? i : ref_next(&rng) % (uint64_t)(i + 1);
                if (j < k)
                        pick[j] = i;
        }
        return n < k ? n : k;
}

/* `n` two-turn dialogs, each different (2 examples each with speakers A/B
 * and three turns). */
static char *
dialogs(int n)
{
        static char buf[16384];
        size_t len = 0;
        for (int i = 0; i < n; i++)
                len += (size_t)snprintf(
                        buf + len, sizeof buf - len,
                        "{\"turns\": [{\"speaker\": \"A\", \"text\": \"hi %d\"},"
                        " {\"speaker\": \"B\", \"text\": \"hello %d\"},"
                        " {\"speaker\": \"A\", \"text\": \"bye %d\"}]}\n",
                        i, i, i);
        cr_assert_lt(len, sizeof buf);
        return buf;
}

static double
metric(const socfw_eval *e, const char *name)
{
        for (size_t i = 0; i < e->n_metrics; i++)
                if (strcmp(e->names[i], name) == 0)
                        return e->values[i];
        cr_assert_fail("no metric %s", name);
        return -1;
}

Test(dialog_plugin, evaluate_measures_generated_replies)
{
        fixture f;
        fixture_open(&f, "    template: plain\n"
                         "    system: ''\n"
                         "    eval_generate: 4\n"
                         "    seed: 3\n");
        f.ctx->generate = cycle_generate;
        memset(&g_gen, 0, sizeof g_gen);
        char text[4096];
        snprintf(text, sizeof text, "%s%s", daily, dialogs(4));
        split_items si;
        read_split(&f, "valid.jsonl", text, &si);
        cr_assert_eq(si.n, 11);

        /* no data file for the split: nothing to sample, nothing
         * generated */
        socfw_eval e;
        socfw_eval_init(&e, 11, NULL, NULL, NULL, 0);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, NULL), 0);
        cr_assert_eq(e.n_metrics, 0);
        cr_assert_eq(g_gen.calls, 0);
        socfw_eval_clear(&e);

        /* the valid split: 4 sampled items, greedy, each prompt the one
         * parse_example gave the item (rebuilt from its record) */
        split_eval(&e, &f, &si);
        socfw_error err = {0};
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err), 0,
                     "%s", err.message);
        cr_assert_eq(g_gen.calls, 4);
        cr_assert_float_eq(g_gen.temperature, 0.0f, 1e-9);
        size_t pick[4];
        cr_assert_eq(ref_sample(3, si.n, 4, pick), 4);
        for (int i = 0; i < 4; i++) {
                cr_assert(strstr(g_gen.prompts[i], "\nBot:"), "%s",
                          g_gen.prompts[i]);
                cr_assert_str_eq(g_gen.prompts[i], si.prompts[pick[i]],
                                 "sample %d is item %zu", i, pick[i]);
        }
        /* replies "I am fine , thanks ." "I am tired ." "ok" "" (trimmed;
         * the control token dropped): 6+4+1+0 = 11 words, 8 unique;
         * bigrams 5+3 = 8, (i am) twice -> 7 unique */
        cr_assert_float_eq(metric(&e, "distinct_1"), 8.0 / 11, 1e-9);
        cr_assert_float_eq(metric(&e, "distinct_2"), 7.0 / 8, 1e-9);
        cr_assert_float_eq(metric(&e, "avg_reply_words"), 11.0 / 4, 1e-9);
        cr_assert_float_eq(metric(&e, "generated_replies"), 4, 1e-9);
        cr_assert(e.report && strstr(e.report, "--- reply ---"));
        socfw_eval_clear(&e);
        split_items_clear(&si);
        fixture_close(&f);
}

/* The same seed draws the same items in the same order, evaluation after
 * evaluation and in a fresh instance of the plugin; another seed draws
 * others. */
Test(dialog_plugin, evaluate_sample_is_reproducible)
{
        static const char *const keys[] = {
                "    template: plain\n    eval_generate: 3\n    seed: 11\n",
                "    template: plain\n    eval_generate: 3\n    seed: 12\n"};
        char got[3][3][1024]; /* run x sample */
        for (int run = 0; run < 3; run++) {
                fixture f;
                fixture_open(&f, keys[run == 2]);
                f.ctx->generate = cycle_generate;
                split_items si;
                read_split(&f, "valid.jsonl", dialogs(8), &si);
                cr_assert_eq(si.n, 16);
                for (int pass = 0; pass < (run == 0 ? 2 : 1); pass++) {
                        memset(&g_gen, 0, sizeof g_gen);
                        socfw_eval e;
                        split_eval(&e, &f, &si);
                        socfw_error err = {0};
                        cr_assert_eq(f.ctx->plugin->task->evaluate(
                                             f.ctx->state, &e, &err),
                                     0, "%s", err.message);
                        cr_assert_eq(g_gen.calls, 3);
                        for (int k = 0; k < 3; k++) {
                                if (pass == 1)
                                        cr_assert_str_eq(g_gen.prompts[k],
                                                         got[run][k],
                                                         "pass 2, sample %d",
                                                         k);
                                snprintf(got[run][k], sizeof got[run][k],
                                         "%s", g_gen.prompts[k]);
                        }
                        socfw_eval_clear(&e);
                }
                split_items_clear(&si);
                fixture_close(&f);
        }
        int other = 0;
        for (int k = 0; k < 3; k++) {
                cr_assert_str_eq(got[1][k], got[0][k], "seed 11, sample %d",
                                 k);
                other += strcmp(got[2][k], got[0][k]) != 0;
        }
        cr_assert_gt(other, 0, "seeds 11 and 12 drew the same prompts");
}

/* The hook rebuilds its prompts from the records the host reads again.
 * Designed behaviour when the file changed after the split was read:
 * moved, deleted or shortened -> an error naming the file; a sampled
 * record that no longer gives its items -> an error naming file:line;
 * records still giving their items are read as they are now. */
Test(dialog_plugin, evaluate_of_a_file_changed_since_it_was_read)
{
        fixture f;
        fixture_open(&f, "    template: plain\n"
                         "    eval_generate: 100\n");
        f.ctx->generate = cycle_generate;
        memset(&g_gen, 0, sizeof g_gen);
        split_items si;
        read_split(&f, "valid.jsonl", dialogs(3), &si);
        cr_assert_eq(si.n, 6);
        char moved[4300];
        snprintf(moved, sizeof moved, "%s.moved", si.path);
        socfw_eval e;
        socfw_error err = {0};

        cr_assert_eq(rename(si.path, moved), 0);
        split_eval(&e, &f, &si);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err),
                     SOCFW_EIO);
        cr_assert_str_eq(err.file, si.path);
        cr_assert(strstr(err.message, "moved"), "%s", err.message);
        cr_assert_eq(e.n_metrics, 0);
        cr_assert_eq(g_gen.calls, 0);
        socfw_eval_clear(&e);

        /* the second dialog cut to two turns: one example where there
         * were two */
        char *text = socfw_test_read_file(moved, NULL);
        cr_assert_not_null(text);
        char *cut = strstr(text, ", {\"speaker\": \"A\", \"text\": \"bye 1\"}");
        cr_assert_not_null(cut);
        memmove(cut, strchr(cut + 1, '}') + 1,
                strlen(strchr(cut + 1, '}') + 1) + 1);
        cr_assert_eq(socfw_test_write_file(si.path, text, strlen(text)), 0);
        memset(&err, 0, sizeof err);
        split_eval(&e, &f, &si);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err),
                     SOCFW_EFORMAT);
        cr_assert_str_eq(err.file, si.path);
        cr_assert_eq(err.line, 2);
        cr_assert(strstr(err.message, "changed"), "%s", err.message);
        socfw_eval_clear(&e);

        /* an edit that keeps every record's turns: read as it is now */
        free(text);
        text = socfw_test_read_file(moved, NULL);
        cr_assert_not_null(text);
        char *hello = strstr(text, "hello 1");
        cr_assert_not_null(hello);
        memcpy(hello, "HELLO", 5);
        cr_assert_eq(socfw_test_write_file(si.path, text, strlen(text)), 0);
        memset(&g_gen, 0, sizeof g_gen);
        split_eval(&e, &f, &si);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err), 0,
                     "%s", err.message);
        cr_assert_eq(g_gen.calls, 6);
        int edited = 0;
        for (int k = 0; k < 6; k++)
                edited += strstr(g_gen.prompts[k], "HELLO 1") != NULL;
        cr_assert_gt(edited, 0);
        socfw_eval_clear(&e);
        free(text);
        split_items_clear(&si);
        fixture_close(&f);
}

Test(dialog_plugin, evaluate_is_off_by_default)
{
        fixture f;
        fixture_open(&f, "    template: plain\n");
        f.ctx->generate = cycle_generate;
        memset(&g_gen, 0, sizeof g_gen);
        split_items si;
        read_split(&f, "valid.jsonl", daily, &si);
        cr_assert_eq(si.n, 3);
        socfw_eval e;
        split_eval(&e, &f, &si);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, NULL), 0);
        cr_assert_eq(e.n_metrics, 0);
        cr_assert_eq(g_gen.calls, 0);
        socfw_eval_clear(&e);
        split_items_clear(&si);
        fixture_close(&f);
}

/* ---- streaming to <task>.stream_fd ---- */

static int
piece_generate(void *runtime, socfw_task_ctx *ctx, const char *prompt,
               const socfw_generate_opts *o, char **reply, socfw_error *err)
{
        (void)runtime;
        (void)ctx;
        (void)prompt;
        (void)err;
        static const char *const pieces[] = {" <|tone:", "positive|>", " Glad",
                                             " to", " hear", " it", "!", "\n",
                                             NULL};
        char buf[256] = "";
        size_t len = 0;
        cr_assert_geq(o->size, sizeof *o);
        for (size_t i = 0; pieces[i]; i++) {
                len += (size_t)snprintf(buf + len, sizeof buf - len, "%s",
                                        pieces[i]);
                if (o->on_piece &&
                    o->on_piece(o->on_piece_user, pieces[i],
                                strlen(pieces[i])))
                        break;
        }
        *reply = strdup(buf);
        return 0;
}

Test(dialog_plugin, predict_streams_the_reply_to_a_descriptor)
{
        fixture f;
        fixture_open(&f, "    template: plain\n");
        f.ctx->generate = piece_generate;
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        socfw_error err = {0};
        socfw_post *post = socfw_post_new("great news!", NULL);
        cr_assert_eq(socfw_post_set_number(post, "reply.stream_fd", fds[1],
                                           &err),
                     0);
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        close(fds[1]);
        char buf[256] = {0};
        ssize_t k = read(fds[0], buf, sizeof buf - 1);
        close(fds[0]);
        cr_assert_str_eq(socfw_post_get_string(post, "reply.reply"),
                         "Glad to hear it!");
        cr_assert_eq(k, (ssize_t)strlen("Glad to hear it!"));
        cr_assert_str_eq(buf, "Glad to hear it!");
        double streamed = 0;
        cr_assert_eq(socfw_post_get_number(post, "reply.streamed", &streamed),
                     0);
        cr_assert_float_eq(streamed, 16, 1e-9);
        socfw_post_free(post);

        /* no descriptor: nothing streamed, no annotation */
        post = socfw_post_new("great news!", NULL);
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        cr_assert_neq(socfw_post_get_number(post, "reply.streamed",
                                            &streamed),
                      0);
        socfw_post_free(post);
        fixture_close(&f);
}

Test(dialog_plugin, a_closed_stream_stops_generation)
{
        fixture f;
        fixture_open(&f, "    template: plain\n");
        f.ctx->generate = piece_generate;
        int fd = open("/dev/null", O_RDONLY); /* not writable */
        cr_assert_geq(fd, 0);
        socfw_error err = {0};
        socfw_post *post = socfw_post_new("great news!", NULL);
        cr_assert_eq(socfw_post_set_number(post, "reply.stream_fd", fd, &err),
                     0);
        cr_assert_eq(predict(&f, post, &err), 0, "%s", err.message);
        close(fd);
        /* the generator stopped at the first written piece (" Glad") */
        cr_assert_str_eq(socfw_post_get_string(post, "reply.reply"), "Glad");
        double streamed = -1;
        cr_assert_eq(socfw_post_get_number(post, "reply.streamed", &streamed),
                     0);
        cr_assert_float_eq(streamed, 0, 1e-9);
        socfw_post_free(post);
        fixture_close(&f);
}

/* test_dialog_runtime.c - the dialog task on a real (tiny) model: a GPT-2
 * pretrained for a few steps and fine-tuned on made-up dialogs.  Checks
 * train.eval_before (metrics at step 0), eval_generate (distinct-n and
 * reply length of generated replies in the trainer's metrics), and
 * streaming through socfw_task_generate's on_piece callback and through the
 * chain (<task>.stream_fd), and concurrent generations decoded in shared
 * batched steps giving the replies each gives alone. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "socfw/chain.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "socfw/runtime.h"
#include "testutil.h"
#include "train/runtime_impl.h"

TestSuite(dialog_runtime, .init = fx_setup,
          .fini = fx_teardown, .timeout = 120);

static const char *const GREET[] = {"hello there", "hi friend", "good morning",
                                    "hey you"};
static const char *const ASK[] = {"how are you ?", "what is new ?",
                                  "where are you going ?", "is it raining ?"};
static const char *const ANSWER[] = {"i am fine , thanks .",
                                     "not much , just work .",
                                     "to the shop .", "yes , it is wet ."};

static void
write_dialogs(const char *name, int n, int offset)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++) {
                int k = (i + offset) % 4;
                fprintf(f,
                        "{\"turns\": [{\"speaker\": \"A\", \"text\": \"%s\"},"
                        " {\"speaker\": \"B\", \"text\": \"%s %s\","
                        " \"emotion\": \"happiness\"},"
                        " {\"speaker\": \"A\", \"text\": \"%s\","
                        " \"emotion\": \"no_emotion\"}]}\n",
                        GREET[k], GREET[(k + 1) % 4], ASK[k], ANSWER[k]);
        }
        fclose(f);
}

/* The dialog pipeline; with `two_adapters`, two dialog tasks (reply,
 * reply2) over the frozen backbone, each with its own LoRA adapter. */
static const char *
pipeline_yaml_with(int two_adapters)
{
        static char y[4096];
        char corpus[4200];
        snprintf(corpus, sizeof corpus, "%s/corpus.txt", fx.dir);
        FILE *f = fopen(corpus, "w");
        cr_assert_not_null(f);
        for (int i = 0; i < 200; i++)
                fprintf(f, "%s %s %s\n", GREET[i % 4], ASK[(i / 4) % 4],
                        ANSWER[(i / 16) % 4]);
        fclose(f);
        write_dialogs("train.jsonl", 48, 0);
        write_dialogs("valid.jsonl", 6, 1); /* 12 examples */
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "threads: 1\n"
                 "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,"
                 " max_positions: 128, max_seq_len: 96, dropout: 0.0}\n"
                 "pretrain: {corpus: [corpus.txt], steps: 10, batch_size: 8,"
                 " seq_len: 32, tokenizer: {vocab_size: 500}}\n"
                 "tasks:\n"
                 "  - name: reply\n"
                 "    plugin: dialog\n"
                 "    data: {train: train.jsonl, valid: valid.jsonl}\n"
                 "    template: plain\n"
                 "    system: ''\n"
                 "    history: {max_turns: 2, max_tokens: 120}\n"
                 "    max_reply_tokens: 24\n"
                 "    temperature: 0\n"
                 "    default_label: happiness\n"
                 "    eval_generate: 5\n"
                 "    sessions: sessions.db\n"
                 "%s"
                 "train: {lr: 5.0e-3, epochs: 20, batch_size: 8, seed: 7,"
                 " eval_before: true}\n"
                 "chain: [reply]\n"
                 "output: {dir: run}\n",
                 two_adapters
                         ? "    adapter: {type: lora, rank: 2, alpha: 8,"
                           " targets: [attn.q, attn.v]}\n"
                           "  - name: reply2\n"
                           "    plugin: dialog\n"
                           "    data: {train: train.jsonl, valid: "
                           "valid.jsonl}\n"
                           "    template: plain\n"
                           "    system: ''\n"
                           "    max_reply_tokens: 24\n"
                           "    temperature: 0\n"
                           "    default_label: happiness\n"
                           "    adapter: {type: lora, rank: 4, alpha: 8,"
                           " targets: [mlp.up, mlp.down]}\n"
                         : "");
        return y;
}

static socfw_runtime *
trained_with(socfw_pipeline **pp, int two_adapters)
{
        const char *y = pipeline_yaml_with(two_adapters);
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        int rc = socfw_pipeline_load_buffer(&p, y, strlen(y), "d.yaml", fx.dir,
                                            NULL, 0, &err);
        if (rc == 0)
                rc = socfw_pipeline_validate(p, fx.reg, &err);
        cr_assert_eq(rc, 0, "%s", socfw_pipeline_diag(p, 0) ?: err.message);
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = NULL;
        socfw_runtime_options o = {.output_dir = out, .progress = socfw_test_quiet};
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        *pp = p;
        return rt;
}

static socfw_runtime *
trained(socfw_pipeline **pp)
{
        return trained_with(pp, 0);
}

/* The metrics.jsonl line with step == `step` (first one; caller decrefs). */
static json_t *
metrics_line(long step)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/run/metrics.jsonl", fx.dir);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "no %s", path);
        char line[65536];
        json_t *found = NULL;
        while (!found && fgets(line, sizeof line, f)) {
                json_t *j = json_loads(line, 0, NULL);
                cr_assert_not_null(j, "bad line %s", line);
                if (json_integer_value(json_object_get(j, "step")) == step)
                        found = j;
                else
                        json_decref(j);
        }
        fclose(f);
        return found;
}

static double
num(json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);
        cr_assert(json_is_number(v), "no number '%s'", key);
        return json_number_value(v);
}

Test(dialog_runtime, eval_before_and_generation_metrics_reach_metrics_jsonl)
{
        socfw_pipeline *p = NULL;
        socfw_runtime *rt = trained(&p);

        /* step 0: the perplexity before fine-tuning, under its own name */
        json_t *m0 = metrics_line(0);
        cr_assert_not_null(m0, "no step-0 line in metrics.jsonl");
        double ppl0 = num(m0, "reply.valid.perplexity@step0");
        cr_assert(isfinite(ppl0) && ppl0 > 1.0, "ppl0 %g", ppl0);
        cr_assert_float_eq(num(m0, "reply.valid.perplexity"), ppl0, 1e-9);
        num(m0, "reply.valid.loss@step0");
        /* generated replies are measured before training too */
        double d1_0 = num(m0, "reply.valid.distinct_1@step0");
        cr_assert(d1_0 >= 0 && d1_0 <= 1);
        json_decref(m0);

        /* after the epochs: fresh values, the step-0 entries kept */
        double ppl = -1, d1 = -1, d2 = -1, len = -1, n = -1, keep = -1;
        cr_assert_eq(socfw_runtime_metric(rt, "reply.valid.perplexity", &ppl),
                     0);
        cr_assert_eq(socfw_runtime_metric(rt, "reply.valid.perplexity@step0",
                                          &keep),
                     0);
        cr_assert_float_eq(keep, ppl0, 1e-9);
        cr_assert_lt(ppl, ppl0, "fine-tuning did not lower the perplexity "
                                "(%g -> %g)",
                     ppl0, ppl);
        cr_assert_eq(socfw_runtime_metric(rt, "reply.valid.distinct_1", &d1),
                     0);
        cr_assert_eq(socfw_runtime_metric(rt, "reply.valid.distinct_2", &d2),
                     0);
        cr_assert_eq(socfw_runtime_metric(rt, "reply.valid.avg_reply_words",
                                          &len),
                     0);
        cr_assert_eq(socfw_runtime_metric(rt, "reply.valid.generated_replies",
                                          &n),
                     0);
        cr_assert_float_eq(n, 5.0, 1e-9, "eval_generate caps the replies");
        cr_assert(d1 >= 0 && d1 <= 1 && d2 >= 0 && d2 <= 1, "%g %g", d1, d2);
        cr_assert(len > 0 && len <= 24, "avg words %g", len);
        /* the report shows the figures and sample replies */
        char path[4200], text[8192] = "";
        snprintf(path, sizeof path, "%s/run/reply.valid.txt", fx.dir);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "no %s", path);
        size_t got = fread(text, 1, sizeof text - 1, f);
        text[got] = '\0';
        fclose(f);
        cr_assert(strstr(text, "generated replies: 5") &&
                          strstr(text, "--- reply ---"),
                  "%s", text);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* ---- streaming ---- */

typedef struct pieces {
        char text[4096];
        size_t len;
        int calls;
        int stop_after;         /* return 1 on this call; 0 never */
} pieces;

static int
on_piece(void *user, const char *piece, size_t len)
{
        pieces *p = user;
        p->calls++;
        cr_assert_gt(len, 0);
        cr_assert_lt(p->len + len, sizeof p->text);
        memcpy(p->text + p->len, piece, len);
        p->len += len;
        p->text[p->len] = '\0';
        return p->stop_after && p->calls >= p->stop_after;
}

Test(dialog_runtime, on_piece_streams_the_reply_and_can_stop_it)
{
        socfw_pipeline *p = NULL;
        socfw_runtime *rt = trained(&p);
        socfw_task_ctx *ctx = rt->tasks[0].ctx;
        /* as the training contexts are written */
        const char *prompt = "Bot: hello there\nUser: hi friend how are "
                             "you ?\nBot: <|tone:neutral|>";
        socfw_error err = {0};

        /* no callback: the reference reply */
        socfw_generate_opts o = {.size = sizeof o, .max_tokens = 24,
                                 .temperature = 0};
        char *ref = NULL;
        cr_assert_eq(socfw_task_generate(ctx, prompt, &o, &ref, &err), 0,
                     "%s", err.message);

        /* streamed: the pieces make the same reply */
        pieces pc = {0};
        o.on_piece = on_piece;
        o.on_piece_user = &pc;
        char *reply = NULL;
        cr_assert_eq(socfw_task_generate(ctx, prompt, &o, &reply, &err), 0,
                     "%s", err.message);
        cr_assert_str_eq(reply, ref);
        cr_assert_str_eq(pc.len ? pc.text : "", reply);
        cr_assert_gt(pc.calls, 1, "want a reply of several pieces: '%s'",
                     reply);

        /* the callback stops generation after its first piece */
        pieces first = {.stop_after = 1};
        o.on_piece_user = &first;
        char *cut = NULL;
        cr_assert_eq(socfw_task_generate(ctx, prompt, &o, &cut, &err), 0,
                     "%s", err.message);
        cr_assert_eq(first.calls, 1);
        cr_assert_str_eq(cut, first.text);
        cr_assert_lt(strlen(cut), strlen(ref));
        cr_assert_eq(strncmp(ref, cut, strlen(cut)), 0, "'%s' / '%s'", cut,
                     ref);

        /* an older plugin's smaller options: no callback is read */
        pieces none = {0};
        o.on_piece_user = &none;
        o.size = offsetof(socfw_generate_opts, on_piece);
        char *old = NULL;
        cr_assert_eq(socfw_task_generate(ctx, prompt, &o, &old, &err), 0);
        cr_assert_eq(none.calls, 0);
        cr_assert_str_eq(old, ref);
        free(ref);
        free(reply);
        free(cut);
        free(old);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* ---- concurrent generations: batched decoding ---- */

#define N_GEN 6

typedef struct gen_job {
        socfw_task_ctx *ctx;
        const char *prompt;
        const char *stop[2];
        int stop_after;         /* on_piece stops after this many pieces */
        pthread_barrier_t *go;
        char *reply;
        pieces pc;
        int rc;
        char msg[SOCFW_ERROR_MSG_MAX];
} gen_job;

/* on_piece, slowly (a client reading the stream): on this tiny model a
 * generation would otherwise be over before the next thread starts */
static int
on_piece_slow(void *user, const char *piece, size_t len)
{
        usleep(1000);
        return on_piece(user, piece, len);
}

static void *
gen_run(void *arg)
{
        gen_job *j = arg;
        socfw_generate_opts o = {.size = sizeof o, .max_tokens = 24,
                                 .temperature = 0};
        if (j->stop[0])
                o.stop = j->stop;
        j->pc = (pieces){.stop_after = j->stop_after};
        o.on_piece = on_piece_slow;
        o.on_piece_user = &j->pc;
        socfw_error err = {0};
        if (j->go)
                pthread_barrier_wait(j->go);
        j->rc = socfw_task_generate(j->ctx, j->prompt, &o, &j->reply, &err);
        snprintf(j->msg, sizeof j->msg, "%s", err.message);
        return NULL;
}

/* Six generations at once (prompts of different lengths, one with a stop
 * string, one whose streaming callback stops it after 3 pieces) go
 * through shared batched decoding steps and reply exactly what each
 * replies alone (greedy). */
Test(dialog_runtime, concurrent_generations_are_batched_and_equal_alone)
{
        /* the leader of a step waits for every live generation (up to
         * 50 ms): on this tiny model a step is shorter than a callback,
         * and the default bound (one step's time) would rarely wait */
        setenv("SOCFW_DECODE_WAIT_US", "50000", 1);
        setenv("SOCFW_DECODE_BATCH", "1", 1);   /* however small it is */
        socfw_pipeline *p = NULL;
        socfw_runtime *rt = trained(&p);
        unsetenv("SOCFW_DECODE_WAIT_US");
        unsetenv("SOCFW_DECODE_BATCH");
        socfw_task_ctx *ctx = rt->tasks[0].ctx;
        static const char *const prompts[N_GEN] = {
                "User: hello there\nBot: <|tone:neutral|>",
                "Bot: hello there\nUser: hi friend how are you ?\nBot: "
                "<|tone:neutral|>",
                "User: is it raining ?\nBot:",
                "Bot: good morning\nUser: hey you what is new ?\nBot: "
                "<|tone:neutral|>",
                "User: where are you going ?\nBot: <|tone:neutral|>",
                "User: hi\nBot: <|tone:neutral|>"};
        gen_job alone[N_GEN], both[N_GEN];
        for (int i = 0; i < N_GEN; i++) {
                alone[i] = (gen_job){.ctx = ctx, .prompt = prompts[i]};
                if (i == 2)
                        alone[i].stop[0] = " .";
                if (i == 4)
                        alone[i].stop_after = 3;
                both[i] = alone[i];
        }
        for (int i = 0; i < N_GEN; i++) {
                gen_run(&alone[i]);
                cr_assert_eq(alone[i].rc, 0, "%s", alone[i].msg);
        }
        unsigned long long steps0 = 0, rows0 = 0, steps = 0, rows = 0;
        socfw_runtime_decode_stats(rt, &steps0, &rows0);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, N_GEN);
        pthread_t th[N_GEN];
        for (int i = 0; i < N_GEN; i++) {
                both[i].go = &go;
                cr_assert_eq(pthread_create(&th[i], NULL, gen_run, &both[i]),
                             0);
        }
        for (int i = 0; i < N_GEN; i++)
                pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        socfw_runtime_decode_stats(rt, &steps, &rows);
        for (int i = 0; i < N_GEN; i++) {
                cr_assert_eq(both[i].rc, 0, "%s", both[i].msg);
                cr_expect_str_eq(both[i].reply, alone[i].reply,
                                 "generation %d", i);
                if (i == 4)
                        cr_expect_eq(both[i].pc.calls, 3);
                free(both[i].reply);
                free(alone[i].reply);
        }
        steps -= steps0;
        rows -= rows0;
        cr_log_info("%llu tokens in %llu batched steps", rows, steps);
        cr_assert_gt(steps, 0);
        /* six at once, every step waiting for all live ones: most steps
         * held several of them */
        cr_expect_gt((double)rows / (double)steps, 2.0,
                     "%llu tokens in %llu steps", rows, steps);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* Two dialog tasks, each with its own LoRA adapter over the one frozen
 * backbone: generations of both at once (each KV cache carries its task's
 * adapter) reply what each replies alone, and the adapters' generations
 * share batched steps (each adapter's terms on its own rows). */
Test(dialog_runtime, generations_of_two_adapters_at_once_equal_alone)
{
        setenv("SOCFW_DECODE_WAIT_US", "50000", 1);
        setenv("SOCFW_DECODE_BATCH", "1", 1);
        socfw_pipeline *p = NULL;
        socfw_runtime *rt = trained_with(&p, 1);
        unsetenv("SOCFW_DECODE_WAIT_US");
        unsetenv("SOCFW_DECODE_BATCH");
        cr_assert_eq(rt->n_tasks, 2);
        cr_assert(rt->tasks[0].adapter && rt->tasks[1].adapter &&
                  rt->tasks[0].adapter != rt->tasks[1].adapter);
        static const char *const prompts[3] = {
                "User: hello there\nBot: <|tone:neutral|>",
                "User: is it raining ?\nBot:",
                "User: where are you going ?\nBot: <|tone:neutral|>"};
        gen_job alone[2 * 3], both[2 * 3];
        for (int i = 0; i < 6; i++) {
                alone[i] = (gen_job){.ctx = rt->tasks[i / 3].ctx,
                                     .prompt = prompts[i % 3]};
                both[i] = alone[i];
        }
        for (int i = 0; i < 6; i++) {
                gen_run(&alone[i]);
                cr_assert_eq(alone[i].rc, 0, "%s", alone[i].msg);
        }
        /* the adapters answer differently: a test that could fail */
        int differ = 0;
        for (int i = 0; i < 3; i++)
                differ += strcmp(alone[i].reply, alone[3 + i].reply) != 0;
        cr_assert_gt(differ, 0, "both adapters reply the same");
        unsigned long long steps0 = 0, rows0 = 0, steps = 0, rows = 0;
        socfw_runtime_decode_stats(rt, &steps0, &rows0);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 6);
        pthread_t th[6];
        for (int i = 0; i < 6; i++) {
                both[i].go = &go;
                cr_assert_eq(pthread_create(&th[i], NULL, gen_run, &both[i]),
                             0);
        }
        for (int i = 0; i < 6; i++)
                pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        socfw_runtime_decode_stats(rt, &steps, &rows);
        for (int i = 0; i < 6; i++) {
                cr_assert_eq(both[i].rc, 0, "%s", both[i].msg);
                cr_expect_str_eq(both[i].reply, alone[i].reply,
                                 "generation %d (task %d)", i, i / 3);
                free(both[i].reply);
                free(alone[i].reply);
        }
        steps -= steps0;
        rows -= rows0;
        cr_log_info("%llu tokens in %llu batched steps", rows, steps);
        cr_assert_gt(steps, 0);
        cr_expect_gt((double)rows / (double)steps, 1.3,
                     "%llu tokens in %llu steps", rows, steps);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* The chain's dialog stage streams to <task>.stream_fd what it replies. */
Test(dialog_runtime, the_dialog_stage_streams_to_a_descriptor)
{
        socfw_pipeline *p = NULL;
        socfw_runtime *rt = trained(&p);
        socfw_chain *chain = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_chain(rt, &chain, &err), 0, "%s",
                     err.message);
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        socfw_post *post = socfw_post_new("good morning", NULL);
        cr_assert_not_null(post);
        cr_assert_eq(socfw_post_set_number(post, "reply.stream_fd", fds[1],
                                           &err),
                     0);
        cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                     err.message);
        close(fds[1]);
        char buf[4096] = {0};
        size_t got = 0;
        ssize_t k;
        while ((k = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
                got += (size_t)k;
        close(fds[0]);
        const char *reply = socfw_post_get_string(post, "reply.reply");
        double streamed = -1;
        cr_assert_not_null(reply);
        cr_assert_eq(socfw_post_get_number(post, "reply.streamed", &streamed),
                     0);
        cr_assert_eq((size_t)streamed, got);
        cr_assert_gt(got, 0, "nothing streamed; reply '%s'", reply);
        cr_assert_str_eq(buf, reply);
        socfw_post_free(post);
        socfw_chain_free(chain);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* tests/test_mixed_batch.c - one forward pass serving rows of several
 * adapters (socfw_context_forward_runs, and the engine's micro-batches
 * of different tasks built on it).
 *
 * The model: a batch whose sequences are served by LoRA, AdaLoRA, IA3,
 * bottleneck adapters and the plain backbone in runs gives each sequence
 * the hidden states it gets alone with its adapter attached (GPT-2's
 * fused q|k|v, BERT, Llama with mlp.gate), and one run over the batch is
 * bitwise the attached adapter's forward; prefix and prompt adapters,
 * runs that do not cover the batch and a backward after such a pass are
 * refused.
 *
 * The engine: concurrent classification calls of tasks with different
 * adapters (two LoRA, an IA3) are answered from one forward pass and
 * equal each task's answers alone; a prefix-adapter task's calls always
 * run in passes of their own; a tagger's and a classifier's calls share
 * a pass too; the mixed passes are counted. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "socfw/model.h"
#include "socfw/params.h"
#include "socfw/peft.h"
#include "socfw/pipeline.h"
#include "socfw/plugin.h"
#include "socfw/runtime.h"
#include "socfw/threads.h"
#include "test_peft_util.h"
#include "testutil.h"
#include "train/runtime_impl.h"

#define TOL 1e-5

/* ---- the model: socfw_context_forward_runs ---- */

TestSuite(mixed_runs, .timeout = 60);

#define NB 7            /* sequences of the batch */
#define NT 6            /* tokens each, padded    */
#define NAD 5           /* adapters               */

typedef struct mix_fx {
        socfw_model *m;
        socfw_adapter *ad[NAD]; /* LoRA, IA3, bottleneck, AdaLoRA, LoRA 2
                                   (+ embedding)                     */
        int32_t ids[NB * NT], mask[NB * NT];
        int C;
} mix_fx;

static socfw_adapter *
make_adapter(const socfw_model *m, socfw_adapter_type type, unsigned targets,
             bool embed, uint64_t seed)
{
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, type);
        ac.embed = embed;       /* LoRA on the token embedding too */
        if (targets)
                ac.targets = targets;
        ac.rank = 2;
        ac.target_r = 2;
        ac.alpha = 4;
        ac.reduction_factor = 4;
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, seed, &err), 0, "%s",
                     err.message);
        peft_randomize(a, seed * 7 + 1);
        return a;
}

static void
mix_setup(mix_fx *f, socfw_arch arch)
{
        memset(f, 0, sizeof *f);
        f->m = peft_tiny_model(arch, 3);
        f->C = socfw_model_config_of(f->m)->hidden;
        unsigned all = 0;
        for (int s = 0; s < SOCFW_SITE_COUNT; s++)
                if (socfw_model_has_site(f->m, (socfw_site)s))
                        all |= SOCFW_SITE_BIT(s);
        /* every site; IA3 and bottleneck at mlp.down with LoRA there too:
         * one site, an input hook and output hooks of different rows */
        f->ad[0] = make_adapter(f->m, SOCFW_ADAPTER_LORA, all, false, 11);
        f->ad[1] = make_adapter(f->m, SOCFW_ADAPTER_IA3, 0, false, 12);
        f->ad[2] = make_adapter(f->m, SOCFW_ADAPTER_BOTTLENECK,
                                SOCFW_SITE_BIT(SOCFW_SITE_ATTN_O) |
                                        SOCFW_SITE_BIT(SOCFW_SITE_MLP_DOWN),
                                false, 13);
        f->ad[3] = make_adapter(f->m, SOCFW_ADAPTER_ADALORA,
                                SOCFW_SITE_BIT(SOCFW_SITE_ATTN_Q) |
                                        SOCFW_SITE_BIT(SOCFW_SITE_MLP_UP),
                                false, 14);
        f->ad[4] = make_adapter(f->m, SOCFW_ADAPTER_LORA,
                                SOCFW_SITE_BIT(SOCFW_SITE_ATTN_V) |
                                        SOCFW_SITE_BIT(SOCFW_SITE_MLP_DOWN),
                                true, 15);
        unsigned x = 99;
        for (int b = 0; b < NB; b++) {
                int len = 2 + b % (NT - 1);     /* padding differs */
                for (int t = 0; t < NT; t++) {
                        x = x * 1103515245u + 12345u;
                        f->ids[b * NT + t] = (int32_t)((x >> 16) % 20);
                        f->mask[b * NT + t] = t < len;
                }
        }
}

static void
mix_teardown(mix_fx *f)
{
        for (int i = 0; i < NAD; i++)
                socfw_adapter_free(f->ad[i]);
        socfw_model_free(f->m);
}

/* hidden (n, NT, C) of sequences [b0, b0 + n) with adapter a attached */
static float *
alone(mix_fx *f, socfw_adapter *a, int b0, int n)
{
        socfw_context *cx = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_context_new(&cx, f->m, &err), 0);
        cr_assert_eq(socfw_context_attach(cx, a, &err), 0, "%s",
                     err.message);
        float *h = malloc((size_t)n * NT * f->C * sizeof *h);
        cr_assert_not_null(h);
        cr_assert_eq(socfw_context_forward(cx, f->ids + b0 * NT,
                                           f->mask + b0 * NT, NULL, n, NT,
                                           false, 0.0f, NULL, h, &err),
                     0, "%s", err.message);
        socfw_context_free(cx);
        return h;
}

static void
mixed_equals_alone(socfw_arch arch)
{
        mix_fx f;
        mix_setup(&f, arch);
        /* the same adapter twice, the plain backbone between */
        socfw_adapter_run runs[] = {
                {f.ad[0], 2}, {f.ad[1], 1}, {NULL, 1}, {f.ad[2], 1},
                {f.ad[3], 1}, {f.ad[0], 1},
        };
        int n_runs = (int)(sizeof runs / sizeof *runs);
        /* ... and an adapter of another run's type and sites (LoRA 2)
         * over the last sequence instead, in a second pass */
        socfw_context *cx = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_context_new(&cx, f.m, &err), 0);
        size_t per = (size_t)NT * f.C;
        float *mixed = malloc(NB * per * sizeof *mixed);
        cr_assert_not_null(mixed);
        for (int pass = 0; pass < 2; pass++) {
                if (pass == 1)
                        runs[n_runs - 1].adapter = f.ad[4];
                cr_assert_eq(socfw_context_forward_runs(cx, runs, n_runs,
                                                        f.ids, f.mask, NULL,
                                                        NB, NT, mixed, &err),
                             0, "%s", err.message);
                double worst = 0, moved = 0;
                for (int i = 0, b0 = 0; i < n_runs; b0 += runs[i].n_seqs,
                         i++) {
                        float *h = alone(&f, runs[i].adapter, b0,
                                         runs[i].n_seqs);
                        float *base = alone(&f, NULL, b0, runs[i].n_seqs);
                        for (size_t k = 0; k < runs[i].n_seqs * per; k++) {
                                double d = fabs((double)mixed[b0 * per + k] -
                                                h[k]);
                                double e = fabs((double)h[k] - base[k]);
                                worst = d > worst ? d : worst;
                                if (runs[i].adapter)
                                        moved = e > moved ? e : moved;
                        }
                        free(h);
                        free(base);
                }
                cr_log_info("%s pass %d: mixed vs alone, largest "
                            "difference %g (adapters move the states by "
                            "up to %g)",
                            socfw_arch_name(arch), pass, worst, moved);
                cr_assert_leq(worst, TOL, "%s: mixed rows differ by %g",
                              socfw_arch_name(arch), worst);
                cr_assert_gt(moved, 1e-2, "the adapters change nothing?");
        }
        /* one run over the whole batch is the attached adapter's forward,
         * bit for bit */
        for (int i = 0; i < 4; i++) {
                socfw_adapter_run one = {i < 3 ? f.ad[i] : NULL, NB};
                cr_assert_eq(socfw_context_forward_runs(cx, &one, 1, f.ids,
                                                        f.mask, NULL, NB, NT,
                                                        mixed, &err),
                             0, "%s", err.message);
                float *h = alone(&f, one.adapter, 0, NB);
                cr_assert_eq(memcmp(h, mixed, NB * per * sizeof *h), 0,
                             "%s, adapter %d: one run is not bitwise the "
                             "attached forward",
                             socfw_arch_name(arch), i);
                free(h);
        }
        free(mixed);
        socfw_context_free(cx);
        mix_teardown(&f);
}

Test(mixed_runs, gpt2_rows_of_five_adapters_equal_each_alone)
{
        mixed_equals_alone(SOCFW_ARCH_GPT2);
}

Test(mixed_runs, bert_rows_of_five_adapters_equal_each_alone)
{
        mixed_equals_alone(SOCFW_ARCH_BERT);
}

Test(mixed_runs, llama_rows_of_five_adapters_equal_each_alone)
{
        mixed_equals_alone(SOCFW_ARCH_LLAMA);
}

Test(mixed_runs, sequence_changing_adapters_and_bad_runs_are_refused)
{
        mix_fx f;
        mix_setup(&f, SOCFW_ARCH_GPT2);
        socfw_adapter_config ac;
        socfw_adapter *prefix = NULL, *prompt = NULL, *other = NULL;
        socfw_error err = {0};
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PREFIX);
        ac.prefix_length = 2;
        cr_assert_eq(socfw_adapter_new(&prefix, f.m, &ac, 1, &err), 0);
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PROMPT);
        ac.num_virtual_tokens = 2;
        cr_assert_eq(socfw_adapter_new(&prompt, f.m, &ac, 1, &err), 0);
        cr_assert(socfw_adapter_mixes(NULL));
        cr_assert(socfw_adapter_mixes(f.ad[0]));
        cr_assert(socfw_adapter_mixes(f.ad[1]));
        cr_assert(socfw_adapter_mixes(f.ad[2]));
        cr_assert_not(socfw_adapter_mixes(prefix));
        cr_assert_not(socfw_adapter_mixes(prompt));
        /* an adapter of a model of another shape */
        socfw_model *m2 = peft_tiny_model(SOCFW_ARCH_LLAMA, 4);
        other = make_adapter(m2, SOCFW_ADAPTER_LORA, 0, false, 5);

        socfw_context *cx = NULL;
        cr_assert_eq(socfw_context_new(&cx, f.m, &err), 0);
        float *h = malloc((size_t)NB * NT * f.C * sizeof *h);
        struct {
                socfw_adapter_run runs[2];
                const char *says;
        } bad[] = {
                {{{f.ad[0], 3}, {prefix, 4}}, "prefix"},
                {{{prompt, 3}, {f.ad[0], 4}}, "prompt"},
                {{{f.ad[0], 3}, {f.ad[1], 3}}, "cover 6 sequences"},
                {{{f.ad[0], 0}, {f.ad[1], 7}}, "run 0 has 0 sequences"},
                {{{f.ad[0], 3}, {f.ad[1], 5}}, "run 1 has 5 sequences"},
                {{{f.ad[0], 3}, {other, 4}}, "made for"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                err = (socfw_error){0};
                int rc = socfw_context_forward_runs(cx, bad[i].runs, 2, f.ids,
                                                    f.mask, NULL, NB, NT, h,
                                                    &err);
                cr_assert_eq(rc, SOCFW_EINVAL, "case %zu: %d", i, rc);
                cr_assert(strstr(err.message, bad[i].says), "case %zu: %s", i,
                          err.message);
        }
        /* a mixed pass keeps nothing to go back through */
        socfw_adapter_run ok[] = {{f.ad[0], 3}, {f.ad[1], 4}};
        cr_assert_eq(socfw_context_forward_runs(cx, ok, 2, f.ids, f.mask,
                                                NULL, NB, NT, h, &err),
                     0, "%s", err.message);
        err = (socfw_error){0};
        cr_assert_eq(socfw_context_backward(cx, h, &err), SOCFW_ESTATE);
        cr_assert(strstr(err.message, "no forward pass"), "%s", err.message);
        free(h);
        socfw_context_free(cx);
        socfw_adapter_free(prefix);
        socfw_adapter_free(prompt);
        socfw_adapter_free(other);
        socfw_model_free(m2);
        mix_teardown(&f);
}

/* ---- the engine: micro-batches of different tasks ---- */

TestSuite(mixed_engine, .init = fx_setup, .fini = fx_teardown,
          .timeout = 240);

#define N_TASKS 4       /* sentiment (LoRA), intent (LoRA), mood (IA3),
                           lead (prefix) */
#define N_TEXTS 8
#define K 2

static const char *const WORDS[] = {"great", "love", "awful", "hate",
                                    "phone", "order", "app", "today",
                                    "was", "my", "service", "broken"};

static char texts[N_TEXTS][128];

static const char *
engine_pipeline(void)
{
        unsigned seed = 11;
        for (int i = 0; i < N_TEXTS; i++) {
                size_t off = 0;
                int n = 1 + i % 7;      /* lengths differ: padding too */
                for (int w = 0; w < n; w++) {
                        seed = seed * 1103515245u + 12345u;
                        off += (size_t)snprintf(texts[i] + off,
                                                sizeof texts[i] - off, "%s%s",
                                                w ? " " : "",
                                                WORDS[(seed >> 16) % 12]);
                }
        }
        FILE *f = socfw_test_create(fx.dir, "corpus.txt");
        for (int i = 0; i < 200; i++)
                fprintf(f, "%s %s %s %s\n", WORDS[i % 12],
                        WORDS[(i / 3) % 12], WORDS[(i / 7) % 12],
                        WORDS[(i / 5) % 12]);
        fclose(f);
        f = socfw_test_create(fx.dir, "train.jsonl");
        for (int i = 0; i < 32; i++)
                fprintf(f, "{\"text\": \"%s %s\", \"label\": \"%s\"}\n",
                        WORDS[i % 4], WORDS[4 + i % 8],
                        i % 4 < 2 ? "positive" : "negative");
        fclose(f);
#define TASK(name, adapter)                                                  \
        "  - name: " name "\n"                                               \
        "    plugin: sentiment\n"                                            \
        "    labels: [negative, positive]\n"                                 \
        "    adapter: " adapter "\n"                                         \
        "    data: {train: train.jsonl}\n"
        return "socfw: 1\n"
               "threads: 2\n"
               "backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2,"
               " max_positions: 32, max_seq_len: 16, dropout: 0.0}\n"
               "pretrain: {corpus: [corpus.txt], steps: 10, batch_size: 8,"
               " seq_len: 16, tokenizer: {vocab_size: 300}}\n"
               "tasks:\n"
               TASK("sentiment", "{type: lora, rank: 2, alpha: 4, targets: "
                                 "[attn.q, attn.v, mlp.up]}")
               TASK("intent", "{type: lora, rank: 4, alpha: 8, targets: "
                              "[attn.k, attn.o, mlp.down]}")
               TASK("mood", "{type: ia3}")
               TASK("lead", "{type: prefix, prefix_length: 3}")
               "train: {lr: 1.0e-2, epochs: 1, batch_size: 16, seed: 7}\n"
               "output: {dir: run}\n";
#undef TASK
}

typedef struct call {
        socfw_task_ctx *ctx;
        int text;
        float got[K];
        int rc;
} call;

static void *
call_run(void *arg)
{
        call *c = arg;
        size_t n_out = 0;
        socfw_error err = {0};
        c->rc = socfw_task_infer(c->ctx, texts[c->text], c->got, K, &n_out,
                                 &err);
        if (c->rc == 0 && n_out != K)
                c->rc = -1;
        return NULL;
}

/* Hold the batch leader's place (a leader on the pool: no other may
 * start), so that calls queue up ... */
static void
hold_batches(socfw_runtime *rt)
{
        pthread_mutex_lock(&rt->batch_lock);
        rt->batch_leaders = 1;
        rt->batch_pooled = 1;
        pthread_mutex_unlock(&rt->batch_lock);
}

/* ... until n calls wait in the queue, then let them go. */
static void
release_when_queued(socfw_runtime *rt, int n)
{
        for (int queued = 0; queued < n;) {
                pthread_mutex_lock(&rt->batch_lock);
                queued = 0;
                for (rt_job *j = rt->queue; j; j = j->next)
                        queued++;
                if (queued == n) {
                        rt->batch_leaders = 0;
                        rt->batch_pooled = 0;
                        pthread_cond_broadcast(&rt->batch_cond);
                }
                pthread_mutex_unlock(&rt->batch_lock);
                if (queued < n)
                        nanosleep(&(struct timespec){0, 200000}, NULL);
        }
}

/* The calls c[0..n) from threads of their own, all queued before any
 * runs: the test holds the batch leader's place until every call waits
 * in the queue, then lets them go. */
static void
run_queued(socfw_runtime *rt, call *c, int n)
{
        pthread_t th[128];
        cr_assert_leq(n, 128);
        hold_batches(rt);
        for (int i = 0; i < n; i++)
                cr_assert_eq(pthread_create(&th[i], NULL, call_run, &c[i]),
                             0);
        release_when_queued(rt, n);
        for (int i = 0; i < n; i++)
                pthread_join(th[i], NULL);
}

typedef struct engine {
        socfw_pipeline *p;
        socfw_runtime *rt;
        float want[N_TASKS][N_TEXTS][K];        /* each call alone */
} engine;

static void
engine_open(engine *e)
{
        e->p = fx_load(engine_pipeline());
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        e->rt = socfw_test_runtime(e->p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(e->rt, &err), 0, "%s", err.message);
        cr_assert_eq(e->rt->n_tasks, N_TASKS);
        /* adapters far from their start, so that each task's rows differ
         * (an untrained LoRA changes nothing) */
        for (int i = 0; i < N_TASKS; i++) {
                cr_assert_not_null(e->rt->tasks[i].adapter);
                peft_randomize(e->rt->tasks[i].adapter, 40 + i);
        }
        cr_assert(rt_task_mixes(&e->rt->tasks[0]));
        cr_assert(rt_task_mixes(&e->rt->tasks[2]));
        cr_assert_not(rt_task_mixes(&e->rt->tasks[3]));
        /* alone: one call at a time, each its own pass */
        for (int t = 0; t < N_TASKS; t++)
                for (int i = 0; i < N_TEXTS; i++) {
                        call c = {.ctx = e->rt->tasks[t].ctx, .text = i};
                        call_run(&c);
                        cr_assert_eq(c.rc, 0, "task %d text %d", t, i);
                        memcpy(e->want[t][i], c.got, sizeof c.got);
                }
        /* the tasks answer differently: their rows must not be swapped */
        double spread = 0;
        for (int i = 0; i < N_TEXTS; i++)
                spread += fabs(e->want[0][i][0] - e->want[1][i][0]) +
                          fabs(e->want[0][i][0] - e->want[2][i][0]);
        cr_assert_gt(spread, 1e-3, "the tasks answer alike");
}

static void
engine_close(engine *e)
{
        socfw_runtime_free(e->rt);
        socfw_pipeline_free(e->p);
}

static double
check_calls(engine *e, const call *c, int n)
{
        double worst = 0;
        for (int i = 0; i < n; i++) {
                cr_assert_eq(c[i].rc, 0, "call %d failed", i);
                int t = (int)(rt_task_of(e->rt, c[i].ctx) - e->rt->tasks);
                for (int k = 0; k < K; k++) {
                        double d = fabs((double)c[i].got[k] -
                                        e->want[t][c[i].text][k]);
                        worst = d > worst ? d : worst;
                }
        }
        return worst;
}

Test(mixed_engine, calls_of_three_adapters_share_one_pass_and_equal_each_alone)
{
        engine e;
        engine_open(&e);
        unsigned long long b0, r0, m0, p0, b1, r1, m1, p1;
        socfw_runtime_batch_stats(e.rt, &b0, &r0);
        socfw_runtime_mixed_batch_stats(e.rt, &m0, &p0);
        cr_assert_eq(m0, 0, "a call alone made a mixed pass");
        /* sentiment, intent and mood interleaved: one pass */
        call c[3 * N_TEXTS];
        for (int i = 0; i < 3 * N_TEXTS; i++)
                c[i] = (call){.ctx = e.rt->tasks[i % 3].ctx,
                              .text = (i * 5) % N_TEXTS};
        run_queued(e.rt, c, 3 * N_TEXTS);
        double worst = check_calls(&e, c, 3 * N_TEXTS);
        socfw_runtime_batch_stats(e.rt, &b1, &r1);
        socfw_runtime_mixed_batch_stats(e.rt, &m1, &p1);
        cr_log_info("3 tasks, %d calls: %llu pass(es), %llu mixed holding "
                    "%llu tasks; largest difference from alone %g",
                    3 * N_TEXTS, b1 - b0, m1 - m0, p1 - p0, worst);
        cr_assert_leq(worst, TOL, "mixed answers differ by %g", worst);
        cr_assert_eq(r1 - r0, 3 * N_TEXTS);
        cr_assert_eq(b1 - b0, 1, "%llu passes for three tasks", b1 - b0);
        cr_assert_eq(m1 - m0, 1);
        cr_assert_eq(p1 - p0, 3);
        engine_close(&e);
}

/* Callers that crowd in (more of them than the pool's two threads): each
 * forward runs serially in its leader's thread and two leaders run at
 * once; the answers are still each call's alone. */
Test(mixed_engine, crowded_callers_run_serial_forwards_side_by_side)
{
        engine e;
        engine_open(&e);
        cr_assert_eq(socfw_threads_get(), 2, "the pipeline sets threads: 2");
        unsigned long long b0, r0, b1, r1;
        socfw_runtime_batch_stats(e.rt, &b0, &r0);
        unsigned long long o0 = socfw_runtime_batch_overlaps(e.rt);
        /* more windows than one batch holds: the second batch's leader
         * starts while the first one's forward runs */
        enum { N = RT_BATCH_ROWS + 24 };
        call c[N];
        for (int i = 0; i < N; i++)
                c[i] = (call){.ctx = e.rt->tasks[i % 2].ctx,
                              .text = (i * 3) % N_TEXTS};
        run_queued(e.rt, c, N);
        double worst = check_calls(&e, c, N);
        socfw_runtime_batch_stats(e.rt, &b1, &r1);
        unsigned long long o1 = socfw_runtime_batch_overlaps(e.rt);
        cr_log_info("%d calls: %llu passes, %llu begun beside another; "
                    "largest difference from alone %g", N, b1 - b0, o1 - o0,
                    worst);
        cr_assert_leq(worst, TOL, "answers differ by %g", worst);
        cr_assert_eq(r1 - r0, N);
        cr_assert_eq(b1 - b0, 2, "%llu passes", b1 - b0);
        cr_assert_eq(o1 - o0, 1, "the two passes did not run side by side");
        cr_assert_eq(e.rt->batch_leaders, 0);
        cr_assert_eq(e.rt->batch_callers, 0);
        engine_close(&e);
}

Test(mixed_engine, a_prefix_task_is_never_mixed)
{
        engine e;
        engine_open(&e);
        unsigned long long b0, r0, m0, p0, b1, r1, m1, p1;
        socfw_runtime_batch_stats(e.rt, &b0, &r0);
        socfw_runtime_mixed_batch_stats(e.rt, &m0, &p0);
        /* lead (prefix) first in the queue, then the others, then lead */
        int order[] = {3, 0, 1, 2, 3, 0, 3};
        int n = (int)(sizeof order / sizeof *order);
        call c[16];
        for (int i = 0; i < n; i++)
                c[i] = (call){.ctx = e.rt->tasks[order[i]].ctx,
                              .text = i % N_TEXTS};
        run_queued(e.rt, c, n);
        double worst = check_calls(&e, c, n);
        socfw_runtime_batch_stats(e.rt, &b1, &r1);
        socfw_runtime_mixed_batch_stats(e.rt, &m1, &p1);
        cr_log_info("prefix + 3 tasks: %llu passes, %llu mixed holding %llu "
                    "tasks; largest difference %g",
                    b1 - b0, m1 - m0, p1 - p0, worst);
        cr_assert_leq(worst, TOL, "answers differ by %g", worst);
        /* the queue's order cannot be chosen (threads), but whatever it
         * is: the prefix task's calls are a pass of their own, the three
         * others one mixed pass of three tasks */
        cr_assert_eq(b1 - b0, 2, "%llu passes", b1 - b0);
        cr_assert_eq(m1 - m0, 1);
        cr_assert_eq(p1 - p0, 3, "a mixed pass held %llu tasks", p1 - p0);
        engine_close(&e);
}

/* Threads that each keep submitting to their own task (as `socfw serve`
 * workers do): whatever batches form, every answer is the task's alone. */
#define N_WORKERS 6
#define ROUNDS 6

typedef struct worker {
        engine *e;
        int task;
        call c[ROUNDS * N_TEXTS];
} worker;

static void *
worker_run(void *arg)
{
        worker *w = arg;
        for (int i = 0; i < ROUNDS * N_TEXTS; i++) {
                w->c[i] = (call){.ctx = w->e->rt->tasks[w->task].ctx,
                                 .text = (i + w->task) % N_TEXTS};
                call_run(&w->c[i]);
        }
        return NULL;
}

Test(mixed_engine, threads_submitting_to_different_tasks_get_their_answers)
{
        engine e;
        engine_open(&e);
        unsigned long long b0, r0, m0, p0, b1, r1, m1, p1;
        socfw_runtime_batch_stats(e.rt, &b0, &r0);
        socfw_runtime_mixed_batch_stats(e.rt, &m0, &p0);
        static worker w[N_WORKERS];
        pthread_t th[N_WORKERS];
        for (int i = 0; i < N_WORKERS; i++) {
                w[i] = (worker){.e = &e, .task = i % N_TASKS};
                cr_assert_eq(pthread_create(&th[i], NULL, worker_run, &w[i]),
                             0);
        }
        for (int i = 0; i < N_WORKERS; i++)
                pthread_join(th[i], NULL);
        double worst = 0;
        for (int i = 0; i < N_WORKERS; i++) {
                double d = check_calls(&e, w[i].c, ROUNDS * N_TEXTS);
                worst = d > worst ? d : worst;
        }
        socfw_runtime_batch_stats(e.rt, &b1, &r1);
        socfw_runtime_mixed_batch_stats(e.rt, &m1, &p1);
        cr_log_info("%d threads x %d calls: %llu passes, %llu mixed "
                    "holding %llu tasks; largest difference %g",
                    N_WORKERS, ROUNDS * N_TEXTS, b1 - b0, m1 - m0, p1 - p0,
                    worst);
        cr_assert_leq(worst, TOL, "answers differ by %g", worst);
        cr_assert_eq(r1 - r0, (unsigned long long)N_WORKERS * ROUNDS *
                                      N_TEXTS);
        /* a mixed pass holds 2 or 3 tasks, never the prefix one */
        cr_assert_leq(p1 - p0, 3 * (m1 - m0));
        cr_assert_geq(p1 - p0, 2 * (m1 - m0));
        engine_close(&e);
}

/* ---- a tagger and a classifier in one pass ---- */

#define N_TAG 6

static const char *const TAG_WORDS[] = {"my", "friend", "Carol", "Jones",
                                        "lives", "in", "Tokyo", "and"};

static const char *
tag_pipeline(void)
{
        FILE *f = socfw_test_create(fx.dir, "corpus.txt");
        for (int i = 0; i < 200; i++)
                fprintf(f, "%s %s %s %s\n", TAG_WORDS[i % 8],
                        TAG_WORDS[(i / 3) % 8], WORDS[(i / 7) % 12],
                        WORDS[(i / 5) % 12]);
        fclose(f);
        f = socfw_test_create(fx.dir, "ner.jsonl");
        for (int i = 0; i < 32; i++)
                fprintf(f,
                        "{\"tokens\": [\"my\", \"friend\", \"%s\", \"%s\"], "
                        "\"tags\": [\"O\", \"O\", \"PERSON\", \"PERSON\"]}\n",
                        i % 2 ? "Carol" : "Frank", i % 3 ? "Jones" : "Smith");
        fclose(f);
        f = socfw_test_create(fx.dir, "train.jsonl");
        for (int i = 0; i < 32; i++)
                fprintf(f, "{\"text\": \"%s %s\", \"label\": \"%s\"}\n",
                        WORDS[i % 4], WORDS[4 + i % 8],
                        i % 4 < 2 ? "positive" : "negative");
        fclose(f);
        return "socfw: 1\n"
               "threads: 2\n"
               "backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2,"
               " max_positions: 32, max_seq_len: 16, dropout: 0.0}\n"
               "pretrain: {corpus: [corpus.txt], steps: 10, batch_size: 8,"
               " seq_len: 16, tokenizer: {vocab_size: 300}}\n"
               "tasks:\n"
               "  - name: pii\n"
               "    plugin: privacy\n"
               "    head: {type: tagger, label_token: last, lookahead: 2}\n"
               "    adapter: {type: lora, rank: 2, alpha: 4, targets: "
               "[attn.q, attn.v]}\n"
               "    labels: [O, PERSON]\n"
               "    data: {train: ner.jsonl}\n"
               "  - name: sentiment\n"
               "    plugin: sentiment\n"
               "    adapter: {type: ia3}\n"
               "    labels: [negative, positive]\n"
               "    data: {train: train.jsonl}\n"
               "train: {lr: 1.0e-2, epochs: 1, batch_size: 16, seed: 7}\n"
               "output: {dir: run}\n";
}

typedef struct tag_call {
        socfw_task_ctx *ctx;
        const char *words[8];
        size_t n;
        float got[16];
        int rc;
} tag_call;

static void *
tag_call_run(void *arg)
{
        tag_call *c = arg;
        size_t n_tags = 0;
        socfw_error err = {0};
        c->rc = socfw_task_tag_words(c->ctx, c->words, c->n, c->got,
                                     c->n * 2, &n_tags, &err);
        if (c->rc == 0 && n_tags != 2)
                c->rc = -1;
        return NULL;
}

Test(mixed_engine, a_tagger_and_a_classifier_share_a_pass)
{
        socfw_pipeline *p = fx_load(tag_pipeline());
        engine_pipeline();      /* the texts */
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        for (size_t i = 0; i < rt->n_tasks; i++)
                peft_randomize(rt->tasks[i].adapter, 60 + i);
        socfw_task_ctx *tagger = rt->tasks[0].ctx, *cls = rt->tasks[1].ctx;
        tag_call tags[N_TAG], tags_alone[N_TAG];
        call calls[N_TAG], calls_alone[N_TAG];
        unsigned long long ta, wa, tb, wb;      /* windows of the calls */
        socfw_runtime_tag_batch_stats(rt, &ta, &wa);
        for (int i = 0; i < N_TAG; i++) {
                tags[i] = (tag_call){.ctx = tagger, .n = 2 + (size_t)i};
                for (size_t w = 0; w < tags[i].n; w++)
                        tags[i].words[w] = TAG_WORDS[(i + w * 3) % 8];
                tags_alone[i] = tags[i];
                tag_call_run(&tags_alone[i]);
                cr_assert_eq(tags_alone[i].rc, 0);
                calls[i] = (call){.ctx = cls, .text = i};
                calls_alone[i] = calls[i];
                call_run(&calls_alone[i]);
                cr_assert_eq(calls_alone[i].rc, 0);
        }
        socfw_runtime_tag_batch_stats(rt, &tb, &wb);
        unsigned long long b0, r0, t0, tr0, m0, p0, b1, r1, t1, tr1, m1, p1;
        socfw_runtime_batch_stats(rt, &b0, &r0);
        socfw_runtime_tag_batch_stats(rt, &t0, &tr0);
        socfw_runtime_mixed_batch_stats(rt, &m0, &p0);
        /* all queued, then one leader: the two tasks in one pass */
        pthread_t th[2 * N_TAG];
        hold_batches(rt);
        for (int i = 0; i < N_TAG; i++) {
                cr_assert_eq(pthread_create(&th[2 * i], NULL, tag_call_run,
                                            &tags[i]),
                             0);
                cr_assert_eq(pthread_create(&th[2 * i + 1], NULL, call_run,
                                            &calls[i]),
                             0);
        }
        release_when_queued(rt, 2 * N_TAG);
        for (int i = 0; i < 2 * N_TAG; i++)
                pthread_join(th[i], NULL);
        double worst = 0, spread = 0;
        for (int i = 0; i < N_TAG; i++) {
                cr_assert_eq(tags[i].rc, 0);
                cr_assert_eq(calls[i].rc, 0);
                for (size_t k = 0; k < tags[i].n * 2; k++) {
                        worst = fmax(worst, fabs(tags[i].got[k] -
                                                 tags_alone[i].got[k]));
                        spread += fabs(tags_alone[i].got[k] - 0.5);
                }
                for (int k = 0; k < K; k++)
                        worst = fmax(worst, fabs(calls[i].got[k] -
                                                 calls_alone[i].got[k]));
        }
        socfw_runtime_batch_stats(rt, &b1, &r1);
        socfw_runtime_tag_batch_stats(rt, &t1, &tr1);
        socfw_runtime_mixed_batch_stats(rt, &m1, &p1);
        cr_log_info("tagger + classifier: %llu classification and %llu "
                    "tagging pass(es), %llu mixed; largest difference %g",
                    b1 - b0, t1 - t0, m1 - m0, worst);
        cr_assert_gt(spread, 1e-2, "the tagger says nothing");
        cr_assert_leq(worst, TOL, "mixed answers differ by %g", worst);
        /* one pass, counted once as classification and once as tagging */
        cr_assert_eq(m1 - m0, 1);
        cr_assert_eq(p1 - p0, 2);
        cr_assert_eq(b1 - b0, 1);
        cr_assert_eq(t1 - t0, 1);
        cr_assert_eq(r1 - r0, N_TAG);
        cr_assert_eq(tr1 - tr0, wb - wa, "%llu tagger windows, %llu alone",
                     tr1 - tr0, wb - wa);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

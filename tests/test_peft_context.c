/* tests/test_peft_context.c - adapters over a model shared by several
 * contexts (socfw_context, socfw/model.h): forwards at once from several
 * threads equal each run alone; every context keeps its own adapter
 * activations, so an inference pass beside training leaves the training
 * gradients alone, and two contexts training one adapter in interleaved
 * order (forward A, forward B - also at once -, backward A, backward B)
 * each get the gradients they get alone, for every adapter type. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/model.h"
#include "socfw/peft.h"
#include "socfw/rng.h"
#include "test_arch_util.h"
#include "test_peft_util.h"

/* ---- contexts: many callers over one set of weights -------------------- */

typedef struct ctx_job {
        socfw_context *c;
        const int32_t *ids;
        float *out;
        int rounds, rc;
} ctx_job;

static void *
ctx_run(void *arg)
{
        ctx_job *j = arg;
        socfw_error err = {0};
        for (int r = 0; r < j->rounds && j->rc == 0; r++)
                j->rc = socfw_context_forward(j->c, j->ids, NULL, NULL, 2, 5,
                                              false, 0, NULL, j->out, &err);
        return NULL;
}

/* Two threads run forwards at once on two contexts over one model, each
 * with its own adapter (and a third context sharing the first adapter):
 * every result equals the same forward run alone. */
Test(peft_context, concurrent_forwards_on_shared_weights, .timeout = 60)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_LLAMA, 11);
        socfw_adapter_config lc = peft_lora_all(SOCFW_ARCH_LLAMA, 0.0f);
        socfw_adapter_config ic = peft_ia3_all(SOCFW_ARCH_LLAMA);
        socfw_adapter *la = NULL, *ia = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&la, m, &lc, 3, &err), 0);
        cr_assert_eq(socfw_adapter_new(&ia, m, &ic, 4, &err), 0);
        peft_randomize(la, 5);
        peft_randomize(ia, 6);
        socfw_context *c[3];
        for (int i = 0; i < 3; i++)
                cr_assert_eq(socfw_context_new(&c[i], m, &err), 0);
        cr_assert_eq(socfw_context_attach(c[0], la, &err), 0);
        cr_assert_eq(socfw_context_attach(c[1], ia, &err), 0);
        cr_assert_eq(socfw_context_attach(c[2], la, &err), 0);
        int32_t ids[10] = {1, 4, 9, 2, 7, 3, 3, 8, 5, 6};
        size_t n = (size_t)10 * socfw_model_config_of(m)->hidden;
        float *alone[3], *both[3];
        for (int i = 0; i < 3; i++) {
                alone[i] = malloc(sizeof(float) * n);
                both[i] = malloc(sizeof(float) * n);
                cr_assert_eq(socfw_context_forward(c[i], ids, NULL, NULL, 2,
                                                   5, false, 0, NULL,
                                                   alone[i], &err), 0, "%s",
                             err.message);
        }
        cr_assert_gt(arch_max_diff(alone[0], alone[1], n), 1e-3,
                     "the two adapters give the same output");
        pthread_t th[3];
        ctx_job jobs[3];
        for (int i = 0; i < 3; i++) {
                jobs[i] = (ctx_job){c[i], ids, both[i], 50, 0};
                cr_assert_eq(pthread_create(&th[i], NULL, ctx_run, &jobs[i]),
                             0);
        }
        for (int i = 0; i < 3; i++) {
                pthread_join(th[i], NULL);
                cr_assert_eq(jobs[i].rc, 0);
                cr_assert_eq(memcmp(alone[i], both[i], n * sizeof(float)), 0,
                             "context %d: concurrent result differs", i);
        }
        /* the model's own calls are unaffected by the contexts */
        cr_assert_null(socfw_model_attached(m));
        for (int i = 0; i < 3; i++) {
                socfw_context_free(c[i]);
                free(alone[i]);
                free(both[i]);
        }
        socfw_adapter_free(la);
        socfw_adapter_free(ia);
        socfw_model_free(m);
}

/* An inference forward on another context over the same adapter (a
 * server's request beside training) leaves what the model's training
 * forward kept for its backward: the gradients equal those without it,
 * bit for bit; and a backward of the inference pass, which kept nothing
 * of the adapter's, is refused. */
Test(peft_context, an_inference_forward_leaves_the_training_pass_alone,
     .timeout = 60)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_LLAMA, 11);
        socfw_adapter_config lc = peft_lora_all(SOCFW_ARCH_LLAMA, 0.0f);
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &lc, 3, &err), 0);
        peft_randomize(a, 5);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0, "%s", err.message);
        socfw_context *cx = NULL;
        cr_assert_eq(socfw_context_new(&cx, m, &err), 0);
        cr_assert_eq(socfw_context_attach(cx, a, &err), 0);
        int32_t ids[10] = {1, 4, 9, 2, 7, 3, 3, 8, 5, 6};
        int32_t other[12] = {5, 5, 2, 9, 1, 1, 8, 3, 4, 7, 2, 6};
        int C = socfw_model_config_of(m)->hidden;
        size_t n = (size_t)10 * C;
        float *h = malloc(sizeof(float) * n), *dh = malloc(sizeof(float) * n);
        float *h2 = malloc(sizeof(float) * 12 * (size_t)C);
        for (size_t i = 0; i < n; i++)
                dh[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        socfw_params *ps = socfw_adapter_params(a);
        size_t total = (size_t)socfw_params_size(ps);
        float *g[2];
        for (int run = 0; run < 2; run++) {
                socfw_params_zero_grad(ps);
                cr_assert_eq(socfw_model_forward(m, ids, NULL, NULL, 2, 5,
                                                 false, 0, NULL, h, &err),
                             0, "%s", err.message);
                if (run == 1)   /* another batch shape through the adapter */
                        cr_assert_eq(socfw_context_forward(cx, other, NULL,
                                                           NULL, 3, 4, false,
                                                           0, NULL, h2, &err),
                                     0, "%s", err.message);
                cr_assert_eq(socfw_model_backward(m, dh, &err), 0, "%s",
                             err.message);
                g[run] = peft_grads_copy(ps);
        }
        cr_assert_eq(memcmp(g[0], g[1], sizeof(float) * total), 0,
                     "the inference forward changed the training gradients");
        cr_assert_eq(socfw_context_backward(cx, h2, &err), SOCFW_ESTATE,
                     "a backward of an inference pass must be refused");
        socfw_context_free(cx);
        cr_assert_eq(socfw_model_attach(m, NULL, &err), 0);
        socfw_adapter_free(a);
        socfw_model_free(m);
        free(h); free(dh); free(h2); free(g[0]); free(g[1]);
}

/* A projected prefix read by several contexts at once while its rows are
 * stale (its tensors just changed): one context recomputes them under the
 * adapter's lock, and every result equals the same forward run alone. */
Test(peft_context, concurrent_forwards_with_a_projected_prefix, .timeout = 60)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_LLAMA, 11);
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PREFIX);
        ac.prefix_length = 3;
        ac.prefix_projection = true;
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 3, &err), 0);
        socfw_context *c[3];
        for (int i = 0; i < 3; i++) {
                cr_assert_eq(socfw_context_new(&c[i], m, &err), 0);
                cr_assert_eq(socfw_context_attach(c[i], a, &err), 0);
        }
        int32_t ids[10] = {1, 4, 9, 2, 7, 3, 3, 8, 5, 6};
        size_t n = (size_t)10 * socfw_model_config_of(m)->hidden;
        float *alone = malloc(sizeof(float) * n), *both[3];
        cr_assert_eq(socfw_context_forward(c[0], ids, NULL, NULL, 2, 5, false,
                                           0, NULL, alone, &err), 0, "%s",
                     err.message);
        socfw_adapter_params_changed(a);        /* same tensors, stale rows */
        pthread_t th[3];
        ctx_job jobs[3];
        for (int i = 0; i < 3; i++) {
                both[i] = malloc(sizeof(float) * n);
                jobs[i] = (ctx_job){c[i], ids, both[i], 20, 0};
                cr_assert_eq(pthread_create(&th[i], NULL, ctx_run, &jobs[i]),
                             0);
        }
        for (int i = 0; i < 3; i++) {
                pthread_join(th[i], NULL);
                cr_assert_eq(jobs[i].rc, 0);
                cr_assert_eq(memcmp(alone, both[i], n * sizeof(float)), 0,
                             "context %d: concurrent result differs", i);
        }
        for (int i = 0; i < 3; i++) {
                socfw_context_free(c[i]);
                free(both[i]);
        }
        free(alone);
        socfw_adapter_free(a);
        socfw_model_free(m);
}

/* ---- two contexts training one adapter ---------------------------------- */

enum { TB = 3, TT = 5 };

/* One context's training pass: its batch (B, T <= TT, the last sequence
 * padded after 3 tokens), dhidden and dropout stream. */
typedef struct train_pass {
        socfw_context *c;
        int B, T;
        int32_t ids[TB * TT], mask[TB * TT];
        float *hidden, *dh;
        uint64_t seed;
} train_pass;

static void
pass_setup(train_pass *p, socfw_model *m, socfw_adapter *a, int B, int T,
           uint64_t seed)
{
        const socfw_model_config *mc = socfw_model_config_of(m);
        socfw_error err = {0};
        memset(p, 0, sizeof *p);
        cr_assert_eq(socfw_context_new(&p->c, m, &err), 0);
        cr_assert_eq(socfw_context_attach(p->c, a, &err), 0, "%s",
                     err.message);
        p->B = B;
        p->T = T;
        p->seed = seed;
        size_t n = (size_t)B * T, nc = n * (size_t)mc->hidden;
        socfw_rng rng;
        socfw_rng_seed(&rng, seed);
        for (size_t i = 0; i < n; i++) {
                p->mask[i] = !(i / T == (size_t)B - 1 && i % T >= 3);
                p->ids[i] = p->mask[i] ? (int32_t)socfw_rng_below(
                                                 &rng, (uint64_t)mc->vocab_size)
                                       : (mc->pad_id >= 0 ? mc->pad_id : 0);
        }
        p->hidden = malloc(sizeof(float) * nc);
        p->dh = malloc(sizeof(float) * nc);
        for (size_t i = 0; i < nc; i++)
                p->dh[i] = p->mask[i / mc->hidden] ? socfw_rng_normal(&rng)
                                                   : 0.0f;
}

/* A training forward (adapter dropout, backbone dropout 0.1) drawing
 * the same masks every time.  Returns its status (no assertion: it also
 * runs on threads of its own). */
static int
pass_run_forward(train_pass *p, socfw_error *err)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, p->seed);
        return socfw_context_forward(p->c, p->ids, p->mask, NULL, p->B, p->T,
                                     true, 0.1f, &rng, p->hidden, err);
}

static void
pass_forward(train_pass *p)
{
        socfw_error err = {0};
        cr_assert_eq(pass_run_forward(p, &err), 0, "%s", err.message);
}

/* Forwards of one pass, over and over, on a thread of its own. */
typedef struct pass_job {
        train_pass *p;
        int rounds, rc;
} pass_job;

static void *
pass_thread(void *arg)
{
        pass_job *j = arg;
        socfw_error err = {0};
        for (int r = 0; r < j->rounds && j->rc == 0; r++)
                j->rc = pass_run_forward(j->p, &err);
        return NULL;
}

/* Forward A and forward B: in turn, or at once on two threads. */
static void
forwards(train_pass *p, bool at_once)
{
        if (!at_once) {
                pass_forward(&p[0]);
                pass_forward(&p[1]);
                return;
        }
        pthread_t th[2];
        pass_job jobs[2];
        for (int i = 0; i < 2; i++) {
                jobs[i] = (pass_job){&p[i], 10, 0};
                cr_assert_eq(pthread_create(&th[i], NULL, pass_thread,
                                            &jobs[i]), 0);
        }
        for (int i = 0; i < 2; i++) {
                pthread_join(th[i], NULL);
                cr_assert_eq(jobs[i].rc, 0, "context %c's forward failed",
                             'A' + i);
        }
}

static void
pass_backward(train_pass *p)
{
        socfw_error err = {0};
        cr_assert_eq(socfw_context_backward(p->c, p->dh, &err), 0,
                     "backward: %s", err.message);
}

static void
pass_free(train_pass *p)
{
        socfw_context_free(p->c);
        free(p->hidden);
        free(p->dh);
}

/* variant: a prefix with prefix_projection, a LoRA on the token embedding
 * too. */
static socfw_adapter_config
pass_config(socfw_adapter_type type, socfw_arch arch, bool variant)
{
        socfw_adapter_config ac;
        switch (type) {
        case SOCFW_ADAPTER_LORA:
                ac = peft_lora_all(arch, 0.2f);
                ac.embed = variant;
                return ac;
        case SOCFW_ADAPTER_ADALORA:
                return peft_adalora_all(arch);
        case SOCFW_ADAPTER_IA3:
                return peft_ia3_all(arch);
        case SOCFW_ADAPTER_BOTTLENECK:
                return peft_houlsby(SOCFW_ADAPTER_ACT_GELU);
        default:
                socfw_adapter_config_default(&ac, type);
                ac.prefix_length = 2;
                ac.num_virtual_tokens = 2;
                ac.prefix_projection = variant;
                return ac;
        }
}

/* Two contexts over one adapter, each a batch of its own: forward A,
 * forward B (in turn, or at once on two threads), backward A, backward B
 * gives each the adapter gradients it gets alone (forward then backward),
 * bit for bit. */
static void
check_interleaved(const char *what, socfw_arch arch, socfw_adapter_type type,
                  bool variant, bool at_once)
{
        socfw_model *m = peft_tiny_model(arch, 11);
        socfw_model_freeze(m, 0, false);
        socfw_adapter_config ac = pass_config(type, arch, variant);
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 3, &err), 0, "%s: %s",
                     what, err.message);
        peft_randomize(a, 5);
        socfw_adapter_params_changed(a);        /* a projected prefix's rows */
        socfw_params *ps = socfw_adapter_params(a);
        size_t total = (size_t)socfw_params_size(ps);
        train_pass p[2];
        pass_setup(&p[0], m, a, 2, TT, 21);
        pass_setup(&p[1], m, a, TB, TT - 1, 22);
        float *alone[2], *mixed[2];
        for (int i = 0; i < 2; i++) {
                socfw_params_zero_grad(ps);
                pass_forward(&p[i]);
                pass_backward(&p[i]);
                alone[i] = peft_grads_copy(ps);
        }
        forwards(p, at_once);
        for (int i = 0; i < 2; i++) {
                socfw_params_zero_grad(ps);
                pass_backward(&p[i]);
                mixed[i] = peft_grads_copy(ps);
        }
        for (int i = 0; i < 2; i++)
                cr_expect_eq(memcmp(alone[i], mixed[i],
                                    sizeof(float) * total), 0,
                             "%s: context %c's gradients differ from it "
                             "alone (max %g)", what, 'A' + i,
                             arch_max_diff(alone[i], mixed[i], total));
        cr_expect_gt(arch_max_diff(alone[0], alone[1], total), 1e-4,
                     "%s: the two batches gave the same gradients", what);
        for (int i = 0; i < 2; i++) {
                pass_free(&p[i]);
                free(alone[i]);
                free(mixed[i]);
        }
        socfw_adapter_free(a);
        socfw_model_free(m);
}

/* Every adapter type (LoRA with its dropout, and on the token embedding),
 * GPT-2's fused q|k|v, BERT's padding under a prefix. */
static const struct {
        const char *what;
        socfw_arch arch;
        socfw_adapter_type type;
        bool variant;           /* pass_config's */
} train_cases[] = {
        {"llama lora, dropout", SOCFW_ARCH_LLAMA, SOCFW_ADAPTER_LORA, false},
        {"bert lora + embedding", SOCFW_ARCH_BERT, SOCFW_ADAPTER_LORA, true},
        {"gpt2 lora, dropout", SOCFW_ARCH_GPT2, SOCFW_ADAPTER_LORA, false},
        {"llama adalora", SOCFW_ARCH_LLAMA, SOCFW_ADAPTER_ADALORA, false},
        {"bert ia3", SOCFW_ARCH_BERT, SOCFW_ADAPTER_IA3, false},
        {"llama ia3", SOCFW_ARCH_LLAMA, SOCFW_ADAPTER_IA3, false},
        {"gpt2 bottleneck", SOCFW_ARCH_GPT2, SOCFW_ADAPTER_BOTTLENECK, false},
        {"bert prefix", SOCFW_ARCH_BERT, SOCFW_ADAPTER_PREFIX, false},
        {"llama projected prefix", SOCFW_ARCH_LLAMA, SOCFW_ADAPTER_PREFIX,
         true},
        {"gpt2 prompt", SOCFW_ARCH_GPT2, SOCFW_ADAPTER_PROMPT, false},
};

static void
check_all(bool at_once)
{
        for (size_t i = 0; i < sizeof train_cases / sizeof *train_cases;
             i++)
                check_interleaved(train_cases[i].what, train_cases[i].arch,
                                  train_cases[i].type,
                                  train_cases[i].variant, at_once);
}

Test(peft_context, two_contexts_train_one_adapter_interleaved,
     .timeout = 120)
{
        check_all(false);
}

/* The same with both training forwards running at once (the contract:
 * forwards on distinct contexts may run at the same time, training too;
 * backwards one at a time). */
Test(peft_context, two_contexts_train_forwards_at_once, .timeout = 120)
{
        check_all(true);
}

/* tests/test_peft_grad.c - adapters beyond the PyTorch fixtures: finite
 * differences of every adapter tensor's gradient on tiny random models of
 * each architecture (also with LoRA dropout and the backbone's dropout,
 * whose masks backward must reuse; backward accumulates), untrained
 * adapters that change nothing, bad configurations and shapes, and the
 * state rules of attach / detach / decode. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/model.h"
#include "socfw/optim.h"
#include "socfw/peft.h"
#include "socfw/rng.h"
#include "test_arch_util.h"
#include "test_peft_util.h"

/* float32 forward, loss summed in double, fourth-order central
 * differences (error ~ eps^4 f^(5) / 30): the tiny Llama is strongly
 * curved in its first attention block (f'' ~ 3e3 along some LoRA B
 * entries), so a two-point quotient with eps 1e-2 is off by 40% there,
 * while eps 1e-3 drowns in float32 rounding; with eps 5e-3 and the
 * five-point stencil the worst error is ~0.6 of the tolerance. */
#define EPS 5e-3f
#define ATOL 3e-3
#define RTOL 2e-2

#define BIT(s) SOCFW_SITE_BIT(SOCFW_SITE_##s)

enum { FB = 2, FT = 5 };

typedef struct fd_ctx {
        socfw_model *m;
        int32_t ids[FB * FT], mask[FB * FT];
        float *hidden, *dh;
        int N, C;
        bool training;          /* LoRA dropout on                    */
        float model_drop;       /* the backbone's own dropout         */
        uint64_t rng_seed;      /* re-seeded before every forward     */
} fd_ctx;

/* L = sum(hidden * dh) of one forward (same dropout masks every time). */
static double
fd_loss(fd_ctx *c)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, c->rng_seed);
        socfw_error err = {0};
        cr_assert_eq(socfw_model_forward(c->m, c->ids, c->mask, NULL, FB, FT,
                                         c->training, c->model_drop, &rng,
                                         c->hidden,
                                         &err), 0, "%s", err.message);
        double l = 0;
        for (size_t i = 0; i < (size_t)c->N * c->C; i++)
                l += (double)c->hidden[i] * c->dh[i];
        return l;
}

static void
fd_setup(fd_ctx *c, socfw_model *m, bool pad)
{
        memset(c, 0, sizeof *c);
        c->m = m;
        const socfw_model_config *mc = socfw_model_config_of(m);
        c->N = FB * FT;
        c->C = mc->hidden;
        for (int i = 0; i < c->N; i++) {
                c->ids[i] = (i * 7 + 3) % mc->vocab_size;
                /* sequence 1 of an encoder batch: 3 real tokens */
                c->mask[i] = !(pad && i >= FT + 3);
                if (!c->mask[i])
                        c->ids[i] = mc->pad_id >= 0 ? mc->pad_id : 0;
        }
        c->hidden = malloc(sizeof(float) * c->N * c->C);
        c->dh = malloc(sizeof(float) * c->N * c->C);
        socfw_rng rng;
        socfw_rng_seed(&rng, 99);
        for (int i = 0; i < c->N * c->C; i++)
                c->dh[i] = c->mask[i / c->C] ? socfw_rng_normal(&rng) : 0.0f;
        c->rng_seed = 1234;
}

static const float fd_step[4] = {2.0f, 1.0f, -1.0f, -2.0f};

/* Forward + backward, then every element of every adapter tensor by
 * central differences. */
static void
fd_check(const char *what, socfw_arch arch, const socfw_adapter_config *ac,
         bool training, float model_drop)
{
        socfw_model *m = peft_tiny_model(arch, 11);
        socfw_params *mps = socfw_model_params(m);
        socfw_error err = {0};
        socfw_adapter *a = NULL;
        cr_assert_eq(socfw_adapter_new(&a, m, ac, 3, &err), 0, "%s: %s", what,
                     err.message);
        peft_randomize(a, 5);
        socfw_model_freeze(m, 0, false);
        memset(socfw_params_grad_buffer(mps), 0,
               sizeof(float) * (size_t)socfw_params_size(mps));
        float *snap = peft_snapshot(mps);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0, "%s", err.message);

        fd_ctx c;
        fd_setup(&c, m, arch == SOCFW_ARCH_BERT);
        c.training = training;
        c.model_drop = model_drop;
        if (training) {
                /* the dropout masks are drawn: training differs from eval */
                float *ev = malloc(sizeof(float) * c.N * c.C);
                cr_assert_eq(socfw_model_forward(m, c.ids, c.mask, NULL, FB,
                                                 FT, false, 0, NULL, ev,
                                                 &err), 0);
                fd_loss(&c);
                cr_expect_gt(arch_max_diff(ev, c.hidden, (size_t)c.N * c.C),
                             1e-3, "%s: LoRA dropout changed nothing", what);
                free(ev);
        }
        socfw_params *ps = socfw_adapter_params(a);
        socfw_params_zero_grad(ps);
        fd_loss(&c);
        cr_assert_eq(socfw_model_backward(m, c.dh, &err), 0, "%s",
                     err.message);
        size_t total = (size_t)socfw_params_total_numel(ps);
        float *an = malloc(sizeof(float) * total);
        size_t k = 0;
        for (int i = 0; i < socfw_params_count(ps); i++) {
                memcpy(an + k, socfw_params_grad(ps, i),
                       sizeof(float) * (size_t)socfw_params_numel(ps, i));
                k += (size_t)socfw_params_numel(ps, i);
        }
        double worst = 0;
        const char *worst_name = "";
        int checked = 0, bad = 0;
        k = 0;
        for (int i = 0; i < socfw_params_count(ps); i++) {
                float *x = socfw_params_data(ps, i);
                int64_t n = socfw_params_numel(ps, i);
                double gmax = 0;
                for (int64_t j = 0; j < n; j++, k++) {
                        float keep = x[j];
                        double f[4];
                        for (int q = 0; q < 4; q++) {
                                x[j] = keep + fd_step[q] * EPS;
                                f[q] = fd_loss(&c);
                        }
                        x[j] = keep;
                        /* fourth-order central difference */
                        double fd = (8.0 * (f[1] - f[2]) - (f[0] - f[3])) /
                                    (12.0 * (double)EPS);
                        double e = fabs(fd - an[k]);
                        double tol = ATOL + RTOL * fabs(fd);
                        gmax = fabs(an[k]) > gmax ? fabs(an[k]) : gmax;
                        if (e / tol > worst) {
                                worst = e / tol;
                                worst_name = socfw_params_name(ps, i);
                        }
                        if (e > tol && bad++ < 5)
                                cr_expect(false, "%s: %s[%lld] analytic %.6g "
                                          "finite difference %.6g", what,
                                          socfw_params_name(ps, i),
                                          (long long)j, (double)an[k], fd);
                        checked++;
                }
                cr_expect_gt(gmax, 1e-4, "%s: %s has no gradient", what,
                             socfw_params_name(ps, i));
        }
        /* a second forward + backward adds the same again */
        fd_loss(&c);
        cr_assert_eq(socfw_model_backward(m, c.dh, &err), 0, "%s",
                     err.message);
        double dacc = 0;
        k = 0;
        for (int i = 0; i < socfw_params_count(ps); i++) {
                const float *g = socfw_params_grad(ps, i);
                for (int64_t j = 0; j < socfw_params_numel(ps, i); j++, k++) {
                        double d = fabs(g[j] - 2.0 * an[k]) /
                                   (1e-3 + fabs(an[k]));
                        dacc = d > dacc ? d : dacc;
                }
        }
        cr_expect_lt(dacc, 1e-4, "%s: backward does not accumulate (%.3g)",
                     what, dacc);
        cr_log_info("%s: %d adapter values by finite differences, %d off, "
                    "worst error / tolerance %.3g (%s)", what, checked, bad,
                    worst, worst_name);
        cr_expect(peft_grads_zero(mps), "%s: frozen backbone got a gradient",
                  what);
        cr_expect(peft_same(mps, snap), "%s: backbone written", what);
        free(an);
        free(snap);
        free(c.hidden);
        free(c.dh);
        socfw_model_attach(m, NULL, NULL);
        socfw_adapter_free(a);
        socfw_model_free(m);
}

#define FD_TESTS(tag, arch, act)                                             \
        Test(peft_fd, tag##_lora, .timeout = 120)                            \
        {                                                                    \
                socfw_adapter_config ac = peft_lora_all(arch, 0.0f);         \
                fd_check(#tag " lora", arch, &ac, false, 0.0f);              \
        }                                                                    \
        Test(peft_fd, tag##_lora_rslora, .timeout = 120)                     \
        {                                                                    \
                socfw_adapter_config ac = peft_lora_all(arch, 0.0f);         \
                ac.use_rslora = true;                                        \
                ac.rank = 4;                                                 \
                fd_check(#tag " lora rslora", arch, &ac, false, 0.0f);       \
        }                                                                    \
        Test(peft_fd, tag##_lora_dropout, .timeout = 120)                    \
        {                                                                    \
                socfw_adapter_config ac = peft_lora_all(arch, 0.3f);         \
                fd_check(#tag " lora dropout 0.3", arch, &ac, true, 0.0f);   \
        }                                                                    \
        Test(peft_fd, tag##_lora_and_model_dropout, .timeout = 120)          \
        {                                                                    \
                socfw_adapter_config ac = peft_lora_all(arch, 0.2f);         \
                fd_check(#tag " lora dropout 0.2 + model dropout 0.1", arch, \
                         &ac, true, 0.1f);                                   \
        }                                                                    \
        Test(peft_fd, tag##_ia3, .timeout = 120)                             \
        {                                                                    \
                socfw_adapter_config ac = peft_ia3_all(arch);                \
                fd_check(#tag " ia3", arch, &ac, false, 0.0f);               \
        }                                                                    \
        Test(peft_fd, tag##_bottleneck, .timeout = 120)                      \
        {                                                                    \
                socfw_adapter_config ac = peft_houlsby(act);                 \
                fd_check(#tag " bottleneck", arch, &ac, false, 0.0f);        \
        }                                                                    \
        Test(peft_fd, tag##_adalora, .timeout = 120)                         \
        {                                                                    \
                socfw_adapter_config ac = peft_adalora_all(arch);            \
                fd_check(#tag " adalora", arch, &ac, false, 0.0f);           \
        }                                                                    \
        Test(peft_fd, tag##_prefix, .timeout = 120)                          \
        {                                                                    \
                socfw_adapter_config ac;                                     \
                socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PREFIX);     \
                ac.prefix_length = 3;                                        \
                fd_check(#tag " prefix", arch, &ac, false, 0.0f);            \
        }                                                                    \
        Test(peft_fd, tag##_prefix_projection, .timeout = 120)               \
        {                                                                    \
                socfw_adapter_config ac;                                     \
                socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PREFIX);     \
                ac.prefix_length = 3;                                        \
                ac.prefix_projection = true;                                 \
                ac.encoder_hidden_size = 6;                                  \
                fd_check(#tag " prefix projection", arch, &ac, false, 0.0f); \
        }                                                                    \
        Test(peft_fd, tag##_prompt, .timeout = 120)                          \
        {                                                                    \
                socfw_adapter_config ac;                                     \
                socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PROMPT);     \
                ac.num_virtual_tokens = 3;                                   \
                fd_check(#tag " prompt", arch, &ac, false, 0.0f);            \
        }                                                                    \
        Test(peft_fd, tag##_prompt_model_dropout, .timeout = 120)            \
        {                                                                    \
                socfw_adapter_config ac;                                     \
                socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PROMPT);     \
                ac.num_virtual_tokens = 2;                                   \
                fd_check(#tag " prompt + model dropout 0.1", arch, &ac,      \
                         true, 0.1f);                                        \
        }                                                                    \
        Test(peft_fd, tag##_lora_embed, .timeout = 120)                      \
        {                                                                    \
                socfw_adapter_config ac = peft_lora_all(arch, 0.0f);         \
                ac.embed = true;                                             \
                fd_check(#tag " lora + embedding", arch, &ac, false, 0.0f);  \
        }                                                                    \
        Test(peft_fd, tag##_lora_embed_only_model_dropout, .timeout = 120)   \
        {                                                                    \
                socfw_adapter_config ac;                                     \
                socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);       \
                ac.targets = 0;                                              \
                ac.embed = true;                                             \
                ac.rank = 3;                                                 \
                fd_check(#tag " embedding lora + model dropout 0.1", arch,   \
                         &ac, true, 0.1f);                                   \
        }                                                                    \
        Test(peft_fd, tag##_bottleneck_model_dropout, .timeout = 120)        \
        {                                                                    \
                socfw_adapter_config ac = peft_houlsby(act);                 \
                fd_check(#tag " bottleneck + model dropout 0.1", arch, &ac,  \
                         true, 0.1f);                                        \
        }

FD_TESTS(gpt2, SOCFW_ARCH_GPT2, SOCFW_ADAPTER_ACT_GELU)
FD_TESTS(bert, SOCFW_ARCH_BERT, SOCFW_ADAPTER_ACT_GELU)
FD_TESTS(llama, SOCFW_ARCH_LLAMA, SOCFW_ADAPTER_ACT_SILU)

/* ---- untrained adapters change nothing ---------------------------------- */

static void
check_identity(const char *fx, const socfw_adapter_config *ac)
{
        socfw_model *m = arch_load_fixture(fx);
        socfw_modelfile *ref = arch_ref_open(fx);
        const socfw_tensor_info *ti = arch_ref_info(ref, "input_ids");
        int B = (int)ti->shape[0], T = (int)ti->shape[1];
        size_t NC = (size_t)B * T * socfw_model_config_of(m)->hidden;
        int32_t *ids = arch_ref_i32(ref, "input_ids", NULL);
        int32_t *mask = arch_ref_i32(ref, "attention_mask", NULL);
        float *h0 = malloc(sizeof(float) * NC), *h1 = malloc(sizeof(float) * NC);
        socfw_error err = {0};
        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, false, 0,
                                         NULL, h0, &err), 0);
        socfw_adapter *a = NULL;
        cr_assert_eq(socfw_adapter_new(&a, m, ac, 42, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, false, 0,
                                         NULL, h1, &err), 0);
        size_t differ = 0;
        for (size_t i = 0; i < NC; i++)
                differ += h0[i] != h1[i];
        cr_expect_eq(differ, 0, "%s %s: %zu of %zu outputs differ (max %.3g)",
                     fx, socfw_adapter_type_name(ac->type), differ, NC,
                     arch_max_diff(h0, h1, NC));
        /* the initialisation is as documented */
        socfw_params *ps = socfw_adapter_params(a);
        for (int i = 0; i < socfw_params_count(ps); i++) {
                const char *n = socfw_params_name(ps, i);
                const float *v = socfw_params_data(ps, i);
                int64_t k = socfw_params_numel(ps, i);
                double mx = arch_max_abs(v, (size_t)k);
                if (strstr(n, ".lora_B") || strstr(n, ".up.weight") ||
                    strstr(n, ".up.bias") || strstr(n, ".down.bias"))
                        cr_expect_eq(mx, 0.0, "%s not zero", n);
                else if (strstr(n, "lora_embedding_A"))  /* PEFT: zero */
                        cr_expect_eq(mx, 0.0, "%s not zero", n);
                else if (strstr(n, "lora_embedding_B"))  /* N(0,1) */
                        cr_expect(mx > 1.0 && mx < 6.0, "%s: max %g", n, mx);
                else if (strstr(n, "ia3_l"))
                        for (int64_t j = 0; j < k; j++)
                                cr_expect_eq(v[j], 1.0f, "%s", n);
                else if (strstr(n, "lora_A")) {
                        int in = (int)socfw_params_shape(ps, i)[1];
                        cr_expect(mx > 0 && mx <= 1.0 / sqrt(in) + 1e-7,
                                  "%s: max %g, bound %g", n, mx,
                                  1.0 / sqrt(in));
                } else if (strstr(n, "down.weight"))
                        cr_expect(mx > 0 && mx < 0.06, "%s: max %g", n, mx);
        }
        socfw_model_attach(m, NULL, NULL);
        socfw_adapter_free(a);
        free(h0);
        free(h1);
        free(ids);
        free(mask);
        socfw_modelfile_close(ref);
        socfw_model_free(m);
}

Test(peft_identity, untrained_adapters_change_nothing, .timeout = 60)
{
        static const char *const fx[] = {"gpt2", "bert", "llama"};
        for (int f = 0; f < 3; f++) {
                for (int t = SOCFW_ADAPTER_LORA; t <= SOCFW_ADAPTER_BOTTLENECK;
                     t++) {
                        socfw_adapter_config ac;
                        socfw_adapter_config_default(&ac,
                                                     (socfw_adapter_type)t);
                        if (t == SOCFW_ADAPTER_LORA) {
                                ac.targets = SOCFW_SITE_ALL &
                                             ~BIT(MLP_GATE);
                                ac.rank = 3;
                        }
                        if (t == SOCFW_ADAPTER_BOTTLENECK) {
                                ac.targets = BIT(ATTN_O) | BIT(MLP_DOWN);
                                ac.reduction_factor = 4;
                        }
                        check_identity(fx[f], &ac);
                }
                socfw_adapter_config ac;        /* on the embedding too */
                socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
                ac.embed = true;
                check_identity(fx[f], &ac);
        }
}

/* ---- bad input ---------------------------------------------------------- */

static int
new_adapter(socfw_model *m, const socfw_adapter_config *ac, socfw_error *err)
{
        socfw_adapter *a = (socfw_adapter *)0x1;
        int rc = socfw_adapter_new(&a, m, ac, 1, err);
        if (rc < 0)
                cr_expect_null(a, "no adapter on failure");
        socfw_adapter_free(rc < 0 ? NULL : a);
        return rc;
}

#define EXPECT_MSG(err, s)                                                  \
        cr_expect(strstr((err).message, (s)) != NULL,                      \
                  "message lacks '%s': %s", (s), (err).message)

Test(peft_bad, mlp_gate_on_gpt2, .timeout = 30)
{
        socfw_model *m = arch_load_fixture("gpt2");
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
        ac.targets = BIT(ATTN_Q) | BIT(MLP_GATE);
        socfw_error err = {0};
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        cr_log_info("mlp.gate on gpt2: %s", err.message);
        EXPECT_MSG(err, "mlp.gate");
        EXPECT_MSG(err, "gpt2");
        /* IA3 and bottleneck alike */
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_IA3);
        ac.targets |= BIT(MLP_GATE);
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        EXPECT_MSG(err, "mlp.gate");
        socfw_model_free(m);
}

Test(peft_bad, embedding_lora_type_and_rank, .timeout = 30)
{
        socfw_model *m = arch_load_fixture("llama");
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_IA3);
        ac.embed = true;
        socfw_error err = {0};
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        cr_log_info("embed on ia3: %s", err.message);
        EXPECT_MSG(err, "embed");
        EXPECT_MSG(err, "ia3");
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_ADALORA);
        ac.embed = true;
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        EXPECT_MSG(err, "adalora");
        /* a rank above the table's smaller side (the hidden size) */
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
        ac.targets = 0;
        ac.embed = true;
        ac.rank = socfw_model_config_of(m)->hidden + 1;
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        cr_log_info("rank: %s", err.message);
        EXPECT_MSG(err, "embedding table");
        /* no target at all */
        ac.embed = false;
        ac.rank = 2;
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        EXPECT_MSG(err, "embed");
        /* on the embedding alone: fine */
        ac.embed = true;
        cr_expect_eq(new_adapter(m, &ac, &err), 0, "%s", err.message);
        socfw_model_free(m);
}

Test(peft_bad, rank_above_projection, .timeout = 30)
{
        socfw_model *m = arch_load_fixture("llama");  /* k, v: 32 -> 16 */
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
        ac.targets = BIT(ATTN_K);
        ac.rank = 17;
        socfw_error err = {0};
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        cr_log_info("rank 17 on llama attn.k: %s", err.message);
        EXPECT_MSG(err, "17");
        EXPECT_MSG(err, "attn.k");
        ac.rank = 16;   /* the smaller side itself is fine */
        cr_expect_eq(new_adapter(m, &ac, &err), 0, "%s", err.message);
        ac.rank = 0;
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        cr_log_info("rank 0: %s", err.message);
        EXPECT_MSG(err, "0");
        ac.rank = 4;
        ac.dropout = 1.0f;
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        EXPECT_MSG(err, "dropout");
        ac.dropout = 0.0f;
        ac.alpha = 0.0f;
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        EXPECT_MSG(err, "alpha");
        ac.alpha = 8.0f;
        ac.targets = 0;
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        ac.targets = 1u << SOCFW_SITE_COUNT;
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        ac.targets = BIT(ATTN_Q);
        ac.type = SOCFW_ADAPTER_NONE;
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        socfw_model_free(m);
}

Test(peft_bad, prompt_length_and_positions, .timeout = 30)
{
        socfw_model *m = arch_load_fixture("gpt2");     /* 16 positions */
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PROMPT);
        ac.num_virtual_tokens = 0;
        socfw_error err = {0};
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        cr_log_info("0 virtual tokens: %s", err.message);
        EXPECT_MSG(err, "num_virtual_tokens 0");
        ac.num_virtual_tokens = 16;
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        cr_log_info("16 virtual tokens, 16 positions: %s", err.message);
        EXPECT_MSG(err, "16 positions");
        /* room for the prompt, not for it and a long input */
        ac.num_virtual_tokens = 6;
        socfw_adapter *a = NULL;
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 1, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0);
        int32_t ids[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        float *h = malloc(sizeof(float) * 12 * 32);
        memset(&err, 0, sizeof err);
        cr_expect_eq(socfw_model_forward(m, ids, NULL, NULL, 1, 12, false, 0,
                                         NULL, h, &err), SOCFW_EINVAL);
        cr_log_info("12 tokens after 6 virtual ones: %s", err.message);
        EXPECT_MSG(err, "virtual tokens");
        cr_expect_eq(socfw_model_forward(m, ids, NULL, NULL, 1, 10, false, 0,
                                         NULL, h, &err), 0, "%s",
                     err.message);
        /* vocab init: every row is a row of the token embedding */
        socfw_model_attach(m, NULL, NULL);
        socfw_adapter_free(a);
        ac.prompt_init = SOCFW_PROMPT_INIT_VOCAB;
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 5, &err), 0);
        socfw_params *mps = socfw_model_params(m);
        int wte = socfw_params_find(mps, "transformer.wte.weight");
        if (wte < 0)
                wte = socfw_params_find(mps, "wte.weight");
        cr_assert_geq(wte, 0);
        const float *E = socfw_params_data(mps, wte);
        const float *pe = socfw_params_data(socfw_adapter_params(a), 0);
        for (int j = 0; j < 6; j++) {
                int found = 0;
                for (int v = 0; v < 96 && !found; v++)
                        found = !memcmp(pe + j * 32, E + v * 32,
                                        32 * sizeof(float));
                cr_expect(found, "prompt row %d is no token embedding", j);
        }
        socfw_adapter_free(a);
        free(h);
        socfw_model_free(m);
}

Test(peft_bad, bottleneck_site_and_width, .timeout = 30)
{
        socfw_model *m = arch_load_fixture("bert");
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_BOTTLENECK);
        ac.targets = BIT(ATTN_Q);
        socfw_error err = {0};
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        cr_log_info("bottleneck on attn.q: %s", err.message);
        EXPECT_MSG(err, "attn.q");
        ac.targets = BIT(MLP_DOWN);
        ac.reduction_factor = 33;       /* hidden 32 */
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        cr_log_info("reduction 33: %s", err.message);
        EXPECT_MSG(err, "33");
        ac.reduction_factor = 0;
        memset(&err, 0, sizeof err);
        cr_expect_eq(new_adapter(m, &ac, &err), SOCFW_EINVAL);
        socfw_model_free(m);
}

Test(peft_bad, attach_to_other_shape, .timeout = 30)
{
        socfw_model *big = arch_load_fixture("gpt2");   /* hidden 32 */
        socfw_model *tiny = peft_tiny_model(SOCFW_ARCH_GPT2, 1); /* 16 */
        socfw_model *llama = arch_load_fixture("llama");
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, big, &ac, 1, &err), 0);
        cr_expect_eq(socfw_model_attach(tiny, a, &err), SOCFW_EINVAL);
        cr_log_info("gpt2 adapter on a smaller gpt2: %s", err.message);
        EXPECT_MSG(err, "hidden size");
        EXPECT_MSG(err, "32");
        EXPECT_MSG(err, "16");
        cr_expect_null(socfw_model_attached(tiny));
        memset(&err, 0, sizeof err);
        cr_expect_eq(socfw_model_attach(llama, a, &err), SOCFW_EINVAL);
        cr_log_info("gpt2 adapter on llama: %s", err.message);
        EXPECT_MSG(err, "architecture");
        cr_expect_null(socfw_model_attached(llama));
        /* merging into a model of another shape is refused too */
        memset(&err, 0, sizeof err);
        float *snap = peft_snapshot(socfw_model_params(tiny));
        cr_expect_eq(socfw_adapter_merge(a, tiny, &err), SOCFW_EINVAL);
        EXPECT_MSG(err, "hidden size");
        cr_expect(peft_same(socfw_model_params(tiny), snap));
        free(snap);
        socfw_adapter_free(a);
        socfw_model_free(big);
        socfw_model_free(tiny);
        socfw_model_free(llama);
}

/* Attaching invalidates the saved forward; LoRA dropout in training needs
 * an rng.  Neither crashes. */
Test(peft_bad, state_errors, .timeout = 30)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_LLAMA, 2);
        socfw_adapter_config ac = peft_lora_all(SOCFW_ARCH_LLAMA, 0.2f);
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 1, &err), 0);
        fd_ctx c;
        fd_setup(&c, m, false);
        cr_assert_eq(socfw_model_forward(m, c.ids, NULL, NULL, FB, FT, false,
                                         0, NULL, c.hidden, &err), 0);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0);
        memset(&err, 0, sizeof err);
        cr_expect_eq(socfw_model_backward(m, c.dh, &err), SOCFW_ESTATE,
                     "backward of a forward made without the adapter");
        memset(&err, 0, sizeof err);
        cr_expect_lt(socfw_model_forward(m, c.ids, NULL, NULL, FB, FT, true,
                                         0, NULL, c.hidden, &err), 0,
                     "LoRA dropout without an rng");
        cr_log_info("LoRA dropout without rng: %s", err.message);
        /* a forward with the adapter, then detached: nothing to go back on */
        cr_assert_eq(socfw_model_forward(m, c.ids, NULL, NULL, FB, FT, false,
                                         0, NULL, c.hidden, &err), 0);
        cr_assert_eq(socfw_model_attach(m, NULL, &err), 0);
        memset(&err, 0, sizeof err);
        cr_expect_eq(socfw_model_backward(m, c.dh, &err), SOCFW_ESTATE,
                     "backward after detaching");
        free(c.hidden);
        free(c.dh);
        socfw_model_attach(m, NULL, NULL);
        socfw_adapter_free(a);
        socfw_model_free(m);
}

Test(peft_names, sites_and_types, .timeout = 10)
{
        for (int s = 0; s < SOCFW_SITE_COUNT; s++)
                cr_expect_eq(socfw_site_parse(socfw_site_name((socfw_site)s)),
                             s);
        cr_expect_eq(socfw_site_parse("attn.x"), -1);
        cr_expect_str_eq(socfw_site_name((socfw_site)9), "?");
        for (int t = 0; t <= SOCFW_ADAPTER_PROMPT; t++)
                cr_expect_eq(socfw_adapter_type_parse(
                                     socfw_adapter_type_name(
                                             (socfw_adapter_type)t)), t);
        cr_expect_eq(socfw_adapter_type_parse("p_tuning"), -1);
        socfw_model *g = arch_load_fixture("gpt2");
        char buf[64];
        cr_expect_eq(socfw_model_site_module(g, 1, SOCFW_SITE_ATTN_V, buf,
                                             sizeof buf), 0);
        cr_expect_str_eq(buf, "h.1.attn.c_attn");
        cr_expect_eq(socfw_model_site_module(g, 0, SOCFW_SITE_MLP_GATE, buf,
                                             sizeof buf), SOCFW_EINVAL);
        cr_expect_eq(socfw_model_site_module(g, 2, SOCFW_SITE_ATTN_Q, buf,
                                             sizeof buf), SOCFW_EINVAL);
        cr_expect_eq(socfw_model_site_module(g, 0, SOCFW_SITE_ATTN_Q, buf, 4),
                     SOCFW_EINVAL);
        int in, out;
        socfw_model_site_dims(g, SOCFW_SITE_MLP_DOWN, &in, &out);
        cr_expect(in == 64 && out == 32, "%d %d", in, out);
        socfw_model_free(g);
        socfw_model *l = arch_load_fixture("llama");
        cr_expect_eq(socfw_model_site_module(l, 0, SOCFW_SITE_MLP_GATE, buf,
                                             sizeof buf), 0);
        cr_expect_str_eq(buf, "layers.0.mlp.gate_proj");
        socfw_model_site_dims(l, SOCFW_SITE_ATTN_K, &in, &out);
        cr_expect(in == 32 && out == 16, "%d %d", in, out);
        socfw_model_free(l);
}

/* Regression (found by these tests): a decode step runs the hooks with
 * save = 0 and once cleared what the training forward had saved, so
 * backward after forward -> decode_step failed for every adapter type
 * (and LoRA with dropout would have gone back with the wrong rate). */
#define PEFT_DECODE_BETWEEN_BUG false

/* Decoding between a training forward and its backward: without an
 * adapter the model's backward still goes back on the training forward
 * (decoding keeps its activations in the KV cache's scratch, not in the
 * model's workspace); with one attached it must do the same, with the same
 * gradients. */
static void
check_decode_between(socfw_adapter_type type, float lora_dropout)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_LLAMA, 4);
        socfw_adapter_config ac;
        if (type == SOCFW_ADAPTER_LORA)
                ac = peft_lora_all(SOCFW_ARCH_LLAMA, lora_dropout);
        else if (type == SOCFW_ADAPTER_IA3)
                ac = peft_ia3_all(SOCFW_ARCH_LLAMA);
        else
                ac = peft_houlsby(SOCFW_ADAPTER_ACT_SILU);
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 1, &err), 0);
        peft_randomize(a, 8);
        socfw_model_freeze(m, 0, false);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0);
        fd_ctx c;
        fd_setup(&c, m, false);
        c.training = lora_dropout > 0.0f;
        socfw_params *ps = socfw_adapter_params(a);
        size_t n = (size_t)socfw_params_size(ps);
        /* reference: forward, backward */
        socfw_params_zero_grad(ps);
        fd_loss(&c);
        cr_assert_eq(socfw_model_backward(m, c.dh, &err), 0, "%s",
                     err.message);
        float *want = malloc(sizeof(float) * n);
        memcpy(want, socfw_params_grad_buffer(ps), sizeof(float) * n);
        /* forward, a decode step, backward */
        socfw_params_zero_grad(ps);
        fd_loss(&c);
        socfw_model_kv *kv = NULL;
        float logits[20];
        cr_assert_eq(socfw_model_kv_new(&kv, m, 8, &err), 0);
        cr_assert_eq(socfw_model_decode_step(m, kv, c.ids, 3, logits, &err),
                     0, "%s", err.message);
        memset(&err, 0, sizeof err);
        int rc = socfw_model_backward(m, c.dh, &err);
        cr_expect_eq(rc, 0, "%s: backward after a decode step: %d %s",
                     socfw_adapter_type_name(type), rc, err.message);
        if (rc == 0)
                cr_expect_eq(memcmp(want, socfw_params_grad_buffer(ps),
                                    sizeof(float) * n), 0,
                             "%s: other gradients after a decode step",
                             socfw_adapter_type_name(type));
        socfw_model_kv_free(kv);
        free(want);
        free(c.hidden);
        free(c.dh);
        socfw_model_attach(m, NULL, NULL);
        socfw_adapter_free(a);
        socfw_model_free(m);
}

Test(peft_state, decode_between_forward_and_backward_lora, .timeout = 30,
     .disabled = PEFT_DECODE_BETWEEN_BUG)
{
        check_decode_between(SOCFW_ADAPTER_LORA, 0.0f);
}

Test(peft_state, decode_between_forward_and_backward_ia3, .timeout = 30,
     .disabled = PEFT_DECODE_BETWEEN_BUG)
{
        check_decode_between(SOCFW_ADAPTER_IA3, 0.0f);
}

Test(peft_state, decode_between_forward_and_backward_bottleneck,
     .timeout = 30,
     .disabled = PEFT_DECODE_BETWEEN_BUG)
{
        check_decode_between(SOCFW_ADAPTER_BOTTLENECK, 0.0f);
}

/* The same with LoRA dropout in the training forward: backward must use
 * that forward's mask and rate, not the decode step's (no dropout). */
Test(peft_state, decode_between_forward_and_backward_lora_dropout,
     .timeout = 30,
     .disabled = PEFT_DECODE_BETWEEN_BUG)
{
        check_decode_between(SOCFW_ADAPTER_LORA, 0.3f);
}

/* ---- AdaLoRA: the regulariser and the rank budget ---------------------- */

static double
adalora_reg(socfw_adapter *a)
{
        float r = 0.0f;
        socfw_params_zero_grad(socfw_adapter_params(a));
        cr_assert_eq(socfw_adapter_adalora_regularize(a, &r), 0);
        return r;
}

/* The gradient the regulariser adds is the derivative of the value it
 * reports (central differences on every tensor of a small adapter). */
Test(peft_adalora, regulariser_gradient_matches_its_value, .timeout = 60)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_LLAMA, 11);
        socfw_adapter_config ac = peft_adalora_all(SOCFW_ARCH_LLAMA);
        ac.targets = BIT(ATTN_Q) | BIT(MLP_DOWN);
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 3, &err), 0, "%s",
                     err.message);
        peft_randomize(a, 9);
        socfw_params *ps = socfw_adapter_params(a);
        double r0 = adalora_reg(a);
        cr_assert_gt(r0, 0.0);
        size_t total = (size_t)socfw_params_size(ps);
        float *g = malloc(sizeof(float) * total);
        memcpy(g, socfw_params_grad_buffer(ps), sizeof(float) * total);
        double worst = 0;
        int checked = 0;
        for (int i = 0; i < socfw_params_count(ps); i++) {
                float *x = socfw_params_data(ps, i);
                const float *gi = g + socfw_params_offset(ps, i);
                for (int64_t j = 0; j < socfw_params_numel(ps, i); j++) {
                        float keep = x[j], eps = 1e-3f;
                        x[j] = keep + eps;
                        double up = adalora_reg(a);
                        x[j] = keep - eps;
                        double dn = adalora_reg(a);
                        x[j] = keep;
                        double fd = (up - dn) / (2.0 * eps);
                        double d = fabs(fd - gi[j]);
                        cr_expect_lt(d, 2e-3 + 2e-2 * fabs(fd),
                                     "%s[%lld]: fd %g, analytic %g",
                                     socfw_params_name(ps, i), (long long)j,
                                     fd, gi[j]);
                        if (d > worst)
                                worst = d;
                        checked++;
                }
        }
        cr_log_info("AdaLoRA regulariser: %d derivatives, worst |fd - "
                    "analytic| %.3g", checked, worst);
        free(g);
        socfw_adapter_free(a);
        socfw_model_free(m);
}

/* The budget follows the cubic schedule; masking keeps exactly the budget
 * of non-zero singular values; the final phase keeps its pattern. */
Test(peft_adalora, budget_schedule_and_masks, .timeout = 60)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_GPT2, 11);
        socfw_adapter_config ac = peft_adalora_all(SOCFW_ARCH_GPT2);
        ac.targets = BIT(ATTN_Q) | BIT(ATTN_V);
        ac.rank = 4;
        ac.target_r = 1;
        ac.tinit = 2;
        ac.tfinal = 3;
        ac.delta_t = 1;
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 3, &err), 0, "%s",
                     err.message);
        int L = socfw_model_config_of(m)->n_layers;
        long sites = 2L * L, total = 13;
        socfw_params *ps = socfw_adapter_params(a);
        socfw_rng rng;
        socfw_rng_seed(&rng, 4);
        uint8_t before_final[64] = {0};
        for (long step = 1; step <= total; step++) {
                /* fresh non-zero weights and gradients every step */
                float *d = socfw_params_data_buffer(ps);
                float *g = socfw_params_grad_buffer(ps);
                for (int64_t i = 0; i < socfw_params_size(ps); i++) {
                        if (step == 1 || socfw_rng_uniform(&rng) < 0.5f)
                                d[i] = socfw_rng_normal(&rng);
                        g[i] = socfw_rng_normal(&rng);
                }
                long b = socfw_adapter_adalora_step(a, step, total);
                long init = sites * 4, target = sites * 1;
                long want;
                if (step <= 2)
                        want = init;
                else if (step > total - 3)
                        want = target;
                else {
                        double f = 1.0 - (double)(step - 2) / (total - 3 - 2);
                        want = target + (long)((init - target) * f * f * f);
                }
                cr_assert_eq(b, want, "step %ld: budget %ld, want %ld", step,
                             b, want);
                long kept = 0;
                int k = 0;
                for (int l = 0; l < L; l++)
                        for (int s = 0; s < 3; s += 2) {
                                int rk = socfw_adapter_site_rank(a, l,
                                                                 (socfw_site)s);
                                kept += rk;
                                if (step == total - 2)
                                        before_final[k] = (uint8_t)rk;
                                else if (step > total - 2)
                                        cr_assert_eq(rk, before_final[k],
                                                     "the final pattern moved");
                                k++;
                        }
                if (step > 2)
                        cr_assert_leq(kept, b, "step %ld: %ld ranks kept, "
                                      "budget %ld", step, kept, b);
        }
        socfw_adapter_free(a);
        socfw_model_free(m);
}

/* ---- prefix and prompt tuning: KV decoding equals the full forward ----- */

static void
prefix_decode_matches(socfw_arch arch, socfw_adapter_type type, bool proj)
{
        socfw_model *m = peft_tiny_model(arch, 11);
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, type);
        ac.prefix_length = 2;   /* the tiny GPT-2 has 8 positions */
        ac.prefix_projection = proj;    /* default init, width 5 */
        ac.encoder_hidden_size = proj ? 5 : 0;
        ac.num_virtual_tokens = 2;
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 3, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0);
        const socfw_model_config *c = socfw_model_config_of(m);
        enum { T = 6 };
        int32_t ids[T] = {3, 9, 1, 17, 5, 2};
        int C = c->hidden, V = c->vocab_size;
        float *h = malloc(sizeof(float) * T * C);
        float *full = malloc(sizeof(float) * V), *step = malloc(sizeof(float) * V);
        float *bare = malloc(sizeof(float) * V);
        cr_assert_eq(socfw_model_forward(m, ids, NULL, NULL, 1, T, false, 0,
                                         NULL, h, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_model_lm_logits(m, h + (T - 1) * C, 1, full, &err),
                     0);
        socfw_model_kv *kv = NULL;
        cr_assert_eq(socfw_model_kv_new(&kv, m, T, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_decode_step(m, kv, ids, 3, NULL, &err), 0,
                     "%s", err.message);
        for (int t = 3; t < T; t++)
                cr_assert_eq(socfw_model_decode_step(m, kv, ids + t, 1, step,
                                                     &err), 0, "%s",
                             err.message);
        cr_assert_eq(socfw_model_kv_len(kv), 2 + T, "the %s rows are "
                     "the cache's first positions",
                     socfw_adapter_type_name(type));
        double d = arch_max_diff(full, step, (size_t)V);
        /* and the prefix matters */
        socfw_model_attach(m, NULL, NULL);
        cr_assert_eq(socfw_model_forward(m, ids, NULL, NULL, 1, T, false, 0,
                                         NULL, h, &err), 0);
        socfw_model_lm_logits(m, h + (T - 1) * C, 1, bare, &err);
        double dp = arch_max_diff(full, bare, (size_t)V);
        cr_log_info("%s %s%s: |decode - forward| %.3g, |with - without| "
                    "%.3g", socfw_arch_name(c->arch),
                    socfw_adapter_type_name(type),
                    proj ? " (projected)" : "", d, dp);
        cr_assert_lt(d, 1e-4);
        cr_assert_gt(dp, 1e-3);
        socfw_model_kv_free(kv);
        free(h);
        free(full);
        free(step);
        free(bare);
        socfw_adapter_free(a);
        socfw_model_free(m);
}

Test(peft_prefix, gpt2_decode_equals_forward, .timeout = 30)
{
        prefix_decode_matches(SOCFW_ARCH_GPT2, SOCFW_ADAPTER_PREFIX, false);
}

Test(peft_prompt, gpt2_decode_equals_forward, .timeout = 30)
{
        prefix_decode_matches(SOCFW_ARCH_GPT2, SOCFW_ADAPTER_PROMPT, false);
}

Test(peft_prompt, llama_decode_equals_forward, .timeout = 30)
{
        prefix_decode_matches(SOCFW_ARCH_LLAMA, SOCFW_ADAPTER_PROMPT, false);
}

Test(peft_prefix, llama_decode_equals_forward, .timeout = 30)
{
        prefix_decode_matches(SOCFW_ARCH_LLAMA, SOCFW_ADAPTER_PREFIX, false);
}

Test(peft_prefix, projected_gpt2_decode_equals_forward, .timeout = 30)
{
        prefix_decode_matches(SOCFW_ARCH_GPT2, SOCFW_ADAPTER_PREFIX, true);
}

Test(peft_prefix, projected_llama_decode_equals_forward, .timeout = 30)
{
        prefix_decode_matches(SOCFW_ARCH_LLAMA, SOCFW_ADAPTER_PREFIX, true);
}

/* prefix_projection's tensors (PEFT's PrefixEncoder names and shapes, the
 * encoder width defaulting to the hidden size) and its bad settings. */
Test(peft_prefix, projection_tensors_and_bad_settings, .timeout = 30)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_LLAMA, 11);
        const socfw_model_config *c = socfw_model_config_of(m);
        int kd = c->n_kv_heads * c->head_dim, L = c->n_layers;
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PREFIX);
        ac.prefix_length = 4;
        ac.prefix_projection = true;
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 3, &err), 0, "%s",
                     err.message);
        cr_expect(socfw_adapter_prefix_projected(a));
        cr_expect_eq(socfw_adapter_config_of(a)->encoder_hidden_size,
                     c->hidden, "the backbone's hidden size by default");
        socfw_params *ps = socfw_adapter_params(a);
        static const char *const names[] = {
                "prefix_encoder.embedding.weight",
                "prefix_encoder.transform.0.weight",
                "prefix_encoder.transform.0.bias",
                "prefix_encoder.transform.2.weight",
                "prefix_encoder.transform.2.bias"};
        int64_t numel[] = {4 * kd, (int64_t)c->hidden * kd, c->hidden,
                           (int64_t)L * 2 * kd * c->hidden, L * 2 * kd};
        cr_assert_eq(socfw_params_count(ps), 5, "E and the MLP only");
        for (int i = 0; i < 5; i++) {
                int k = socfw_params_find(ps, names[i]);
                cr_assert_geq(k, 0, "%s", names[i]);
                cr_expect_eq(socfw_params_numel(ps, k), numel[i], "%s",
                             names[i]);
        }
        socfw_adapter_free(a);

        ac.encoder_hidden_size = -1;
        cr_expect_eq(socfw_adapter_new(&a, m, &ac, 3, &err), SOCFW_EINVAL);
        cr_expect_null(a);
        cr_expect(strstr(err.message, "encoder_hidden_size") != NULL, "%s",
                  err.message);
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
        ac.prefix_projection = true;
        err = (socfw_error){0};
        cr_expect_eq(socfw_adapter_new(&a, m, &ac, 3, &err), SOCFW_EINVAL);
        cr_expect(strstr(err.message, "prefix_projection") != NULL &&
                          strstr(err.message, "hint") != NULL,
                  "%s", err.message);
        socfw_model_free(m);
}

/* The rows are a cache: decoding reads the rows of the last forward (not
 * recomputed per token); a direct write to the tensors shows once
 * socfw_adapter_params_changed() says so, a backward invalidates them
 * too, and socfw_model_forward always recomputes. */
Test(peft_prefix, projected_rows_are_computed_once_and_refreshed, .timeout = 30)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_GPT2, 11);
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PREFIX);
        ac.prefix_length = 2;
        ac.prefix_projection = true;
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 3, &err), 0);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0);
        int V = socfw_model_config_of(m)->vocab_size;
        int C = socfw_model_config_of(m)->hidden;
        int32_t ids[3] = {3, 9, 1};
        float *l0 = malloc(sizeof(float) * V), *l1 = malloc(sizeof(float) * V);
        float *l2 = malloc(sizeof(float) * V);
        float *h = malloc(sizeof(float) * 3 * C);
        socfw_model_kv *kv = NULL;
        cr_assert_eq(socfw_model_kv_new(&kv, m, 4, &err), 0);
        cr_assert_eq(socfw_model_decode_step(m, kv, ids, 3, l0, &err), 0,
                     "%s", err.message);
        socfw_params *ps = socfw_adapter_params(a);
        float *b2 = socfw_params_data(ps, socfw_params_find(
                                                  ps, "prefix_encoder."
                                                      "transform.2.bias"));
        int64_t nb = socfw_params_numel(ps, socfw_params_find(
                                                    ps, "prefix_encoder."
                                                        "transform.2.bias"));
        for (int64_t i = 0; i < nb; i++)
                b2[i] += 0.5f;
        socfw_model_kv_reset(kv);
        cr_assert_eq(socfw_model_decode_step(m, kv, ids, 3, l1, &err), 0);
        cr_expect_eq(memcmp(l0, l1, sizeof(float) * V), 0,
                     "decoding recomputed the rows without being told");
        socfw_adapter_params_changed(a);
        socfw_model_kv_reset(kv);
        cr_assert_eq(socfw_model_decode_step(m, kv, ids, 3, l2, &err), 0);
        double d = arch_max_diff(l0, l2, (size_t)V);
        cr_expect_gt(d, 1e-3, "new tensors, same rows (%.3g)", d);
        /* the model's own forward recomputes: equals the decode */
        for (int64_t i = 0; i < nb; i++)
                b2[i] -= 0.5f;
        cr_assert_eq(socfw_model_forward(m, ids, NULL, NULL, 1, 3, false, 0,
                                         NULL, h, &err), 0);
        cr_assert_eq(socfw_model_lm_logits(m, h + 2 * C, 1, l1, &err), 0);
        d = arch_max_diff(l0, l1, (size_t)V);
        cr_expect_lt(d, 1e-4, "forward after restoring: %.3g", d);
        socfw_model_kv_free(kv);
        socfw_model_attach(m, NULL, NULL);
        free(l0);
        free(l1);
        free(l2);
        free(h);
        socfw_adapter_free(a);
        socfw_model_free(m);
}

/* The semantics in one check: a prompt whose rows are the word
 * embeddings of tokens X gives, for input Y, the hidden states the bare
 * backbone gives for the last T rows of X Y - the same positions (RoBERTa's
 * counted from its pad id), token type 0, causal and padding masks - on
 * every architecture, with right padding in the encoders' batch. */
static void
prompt_equals_real_tokens(socfw_arch arch)
{
        socfw_model *m = peft_tiny_model(arch, 31);
        const socfw_model_config *c = socfw_model_config_of(m);
        enum { B = 2, T = 4, P = 2 };
        int C = c->hidden, enc = arch == SOCFW_ARCH_BERT ||
                                  arch == SOCFW_ARCH_ROBERTA;
        int32_t x[P] = {7, 11}, y[B * T] = {3, 9, 14, 5, 6, 2, 8, 8};
        int32_t my[B * T], xy[B * (P + T)], mxy[B * (P + T)];
        for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                        int i = b * T + t;
                        my[i] = !(enc && b == 1 && t >= 2);
                        if (!my[i])
                                y[i] = c->pad_id >= 0 ? c->pad_id : 0;
                }
        for (int b = 0; b < B; b++)
                for (int t = 0; t < P + T; t++) {
                        int i = b * (P + T) + t;
                        xy[i] = t < P ? x[t] : y[b * T + t - P];
                        mxy[i] = t < P ? 1 : my[b * T + t - P];
                }
        socfw_params *mps = socfw_model_params(m);
        const float *E = NULL;
        for (int i = 0; i < socfw_params_count(mps) && !E; i++) {
                const char *n = socfw_params_name(mps, i);
                if (strstr(n, "wte") || strstr(n, "word_embeddings") ||
                    strstr(n, "embed_tokens"))
                        E = socfw_params_data(mps, i);
        }
        cr_assert_not_null(E, "no word embedding in %s",
                           socfw_arch_name(arch));
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PROMPT);
        ac.num_virtual_tokens = P;
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 1, &err), 0, "%s",
                     err.message);
        float *pe = socfw_params_data(socfw_adapter_params(a), 0);
        for (int j = 0; j < P; j++)
                memcpy(pe + j * C, E + (size_t)x[j] * C, sizeof(float) * C);
        float *want = malloc(sizeof(float) * B * (P + T) * C);
        float *got = malloc(sizeof(float) * B * T * C);
        cr_assert_eq(socfw_model_forward(m, xy, mxy, NULL, B, P + T, false, 0,
                                         NULL, want, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0);
        cr_assert_eq(socfw_model_forward(m, y, my, NULL, B, T, false, 0, NULL,
                                         got, &err), 0, "%s", err.message);
        double d = 0;
        for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                        if (my[b * T + t]) {
                                double e = arch_max_diff(
                                        got + (size_t)(b * T + t) * C,
                                        want + (size_t)(b * (P + T) + P + t) *
                                                       C,
                                        (size_t)C);
                                d = e > d ? e : d;
                        }
        cr_log_info("%s: prompt of X's embeddings vs the tokens X: %.3g",
                    socfw_arch_name(arch), d);
        cr_expect_lt(d, 1e-5, "%s", socfw_arch_name(arch));
        socfw_model_attach(m, NULL, NULL);
        socfw_adapter_free(a);
        free(want);
        free(got);
        socfw_model_free(m);
}

Test(peft_prompt, equals_real_tokens_in_front, .timeout = 30)
{
        prompt_equals_real_tokens(SOCFW_ARCH_GPT2);
        prompt_equals_real_tokens(SOCFW_ARCH_BERT);
        prompt_equals_real_tokens(SOCFW_ARCH_ROBERTA);
        prompt_equals_real_tokens(SOCFW_ARCH_LLAMA);
}

/* Training a prompt alone: AdamW on the disturbed prompt embeddings of a
 * frozen Llama pulls the real tokens' hidden states back towards what the
 * undisturbed prompt gave (the loss falls by more than half) while every
 * backbone tensor stays bitwise as it was and gets no gradient. */
Test(peft_prompt, training_moves_only_the_prompt, .timeout = 60)
{
        socfw_model *m = peft_tiny_model(SOCFW_ARCH_LLAMA, 21);
        socfw_params *mps = socfw_model_params(m);
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_PROMPT);
        ac.num_virtual_tokens = 4;
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 9, &err), 0);
        socfw_model_freeze(m, 0, false);
        memset(socfw_params_grad_buffer(mps), 0,
               sizeof(float) * (size_t)socfw_params_size(mps));
        float *snap = peft_snapshot(mps);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0);
        fd_ctx c;
        fd_setup(&c, m, false);
        socfw_params *ps = socfw_adapter_params(a);
        socfw_adamw_config oc;
        socfw_adamw_config_default(&oc);
        oc.weight_decay = 0.0f;
        socfw_adamw *opt = socfw_adamw_new_for_params(ps, &oc, &err);
        cr_assert_not_null(opt, "%s", err.message);
        /* loss 0.5 |h - target|^2 toward what this prompt gave before it
         * was disturbed */
        float *target = malloc(sizeof(float) * c.N * c.C);
        cr_assert_eq(socfw_model_forward(m, c.ids, c.mask, NULL, FB, FT,
                                         false, 0.0f, NULL, target, &err), 0);
        socfw_rng nrng;
        socfw_rng_seed(&nrng, 77);
        float *pe = socfw_params_data_buffer(ps);
        for (int i = 0; i < 4 * c.C; i++)
                pe[i] += 0.7f * socfw_rng_normal(&nrng);
        double first = 0, last = 0;
        for (int step = 0; step < 60; step++) {
                socfw_rng rng;
                socfw_rng_seed(&rng, 1);
                cr_assert_eq(socfw_model_forward(m, c.ids, c.mask, NULL, FB,
                                                 FT, true, 0.0f, &rng,
                                                 c.hidden, &err), 0);
                double l = 0;
                for (int i = 0; i < c.N * c.C; i++) {
                        float d = c.hidden[i] - target[i];
                        c.dh[i] = d;
                        l += 0.5 * (double)d * d;
                }
                if (step == 0)
                        first = l;
                last = l;
                socfw_params_zero_grad(ps);
                cr_assert_eq(socfw_model_backward(m, c.dh, &err), 0, "%s",
                             err.message);
                socfw_adamw_step(opt, socfw_params_data_buffer(ps),
                                 socfw_params_grad_buffer(ps), 0.05);
        }
        cr_log_info("prompt training: loss %.4g -> %.4g", first, last);
        cr_expect_lt(last, 0.5 * first, "the prompt did not learn");
        cr_expect(peft_same(mps, snap), "the backbone was written");
        cr_expect(peft_grads_zero(mps), "a frozen tensor got a gradient");
        socfw_adamw_free(opt);
        free(target);
        free(snap);
        free(c.hidden);
        free(c.dh);
        socfw_model_attach(m, NULL, NULL);
        socfw_adapter_free(a);
        socfw_model_free(m);
}

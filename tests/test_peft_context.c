/* tests/test_peft_context.c - adapters over a model shared by several
 * contexts (socfw_context, socfw/model.h): forwards at once from several
 * threads equal each run alone, and an inference pass beside training
 * leaves the training gradients alone. */
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
 * bit for bit; and a backward of the inference pass is refused. */
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
        size_t total = (size_t)socfw_params_total_numel(ps);
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
                g[run] = malloc(sizeof(float) * total);
                for (int i = 0, k = 0; i < socfw_params_count(ps); i++) {
                        memcpy(g[run] + k, socfw_params_grad(ps, i),
                               sizeof(float) *
                                       (size_t)socfw_params_numel(ps, i));
                        k += (int)socfw_params_numel(ps, i);
                }
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

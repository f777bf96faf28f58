/* tests/test_kv_adapter.c - a KV cache's own adapter (socfw_model_kv_attach):
 * generations with different adapters at once over one model.
 *
 * The reference for each adapter (none, two LoRAs, a prefix, a prompt) is
 * decoding
 * with that adapter attached to the model, as before caches had their own.
 * A cache given the adapter itself decodes the same bits whatever the model
 * has attached, also while other threads decode with other adapters; a
 * batch of caches of one adapter, and one of caches of every adapter,
 * agree with them within the batched kernel's tolerance; attaching to a cache that holds positions is refused; a prefix
 * adapter attached to a cache makes room for its rows. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/model.h"
#include "socfw/params.h"
#include "socfw/peft.h"

#define NAD 5           /* none, LoRA 1, LoRA 2, prefix, prompt */
#define PLEN 5
#define GEN 10
#define STEPS (PLEN + GEN)
#define REL_TOL 2e-5

typedef struct fixture {
        socfw_model *m;
        socfw_adapter *ad[NAD];
        int V;
        float *ref;     /* (NAD, GEN, V): logits of each generated step */
        int32_t tok[NAD][GEN];
} fixture;

/* Deterministic values in [-s, s). */
static void
fill(socfw_params *ps, uint32_t seed, float s)
{
        uint32_t x = seed * 2654435761u + 1u;
        for (int i = 0; i < socfw_params_count(ps); i++) {
                float *d = socfw_params_data(ps, i);
                for (int64_t j = 0; j < socfw_params_numel(ps, i); j++) {
                        x = x * 1664525u + 1013904223u;
                        d[j] = s * ((float)(x >> 8) / 8388608.0f - 1.0f);
                }
        }
}

static int
argmax(const float *x, int n)
{
        int b = 0;
        for (int i = 1; i < n; i++)
                if (x[i] > x[b])
                        b = i;
        return b;
}

static void
prompt(int32_t *ids, int V)
{
        for (int t = 0; t < PLEN; t++)
                ids[t] = (int32_t)((t * 23 + 7) % V);
}

/* Greedy decoding of GEN tokens after the prompt on kv (which decodes with
 * whatever adapter it has); logits (GEN, V), tokens (GEN). */
static int
decode(socfw_model *m, socfw_model_kv *kv, int V, float *logits,
       int32_t *tok)
{
        socfw_error err = {0};
        int32_t ids[PLEN];
        prompt(ids, V);
        if (socfw_model_decode_step(m, kv, ids, PLEN, logits, &err) < 0)
                return -1;
        for (int g = 0; g < GEN; g++) {
                tok[g] = argmax(logits + (size_t)g * V, V);
                if (g + 1 < GEN &&
                    socfw_model_decode_step(m, kv, &tok[g], 1,
                                            logits + (size_t)(g + 1) * V,
                                            &err) < 0)
                        return -1;
        }
        return 0;
}

static void
setup(fixture *f, socfw_arch arch)
{
        memset(f, 0, sizeof *f);
        socfw_model_config c;
        socfw_model_config_default(&c, arch, 61, 32, 2, 4,
                                   arch == SOCFW_ARCH_LLAMA ? 48 : 64, 64);
        if (arch == SOCFW_ARCH_LLAMA)
                c.n_kv_heads = 2;
        socfw_error err = {0};
        cr_assert_eq(socfw_model_new_random(&f->m, &c, 5, &err), 0, "%s",
                     err.message);
        fill(socfw_model_params(f->m), 9, 0.3f);
        f->V = c.vocab_size;
        for (int a = 1; a < NAD; a++) {
                socfw_adapter_config ac;
                socfw_adapter_config_default(
                        &ac, a < 3    ? SOCFW_ADAPTER_LORA
                             : a == 3 ? SOCFW_ADAPTER_PREFIX
                                      : SOCFW_ADAPTER_PROMPT);
                if (a < 3) {
                        ac.rank = 2;
                        ac.alpha = 4;
                        ac.targets = SOCFW_SITE_BIT(SOCFW_SITE_ATTN_Q) |
                                     SOCFW_SITE_BIT(SOCFW_SITE_ATTN_V) |
                                     SOCFW_SITE_BIT(SOCFW_SITE_MLP_DOWN);
                        ac.embed = a == 2;      /* the token embedding too */
                } else if (a == 3) {
                        ac.prefix_length = 3;
                } else {
                        ac.num_virtual_tokens = 2;
                }
                cr_assert_eq(socfw_adapter_new(&f->ad[a], f->m, &ac,
                                               (uint64_t)a, &err),
                             0, "%s", err.message);
                /* LoRA's B starts at zero: values that change the output */
                fill(socfw_adapter_params(f->ad[a]), 100u + (uint32_t)a,
                     0.5f);
                socfw_adapter_params_changed(f->ad[a]);
        }
        /* the reference: the adapter attached to the model */
        f->ref = malloc(sizeof(float) * NAD * GEN * (size_t)f->V);
        cr_assert_not_null(f->ref);
        for (int a = 0; a < NAD; a++) {
                cr_assert_eq(socfw_model_attach(f->m, f->ad[a], &err), 0,
                             "%s", err.message);
                socfw_model_kv *kv = NULL;
                cr_assert_eq(socfw_model_kv_new(&kv, f->m, STEPS, &err), 0);
                cr_assert_eq(decode(f->m, kv, f->V,
                                    f->ref + (size_t)a * GEN * f->V,
                                    f->tok[a]),
                             0);
                socfw_model_kv_free(kv);
        }
        cr_assert_eq(socfw_model_attach(f->m, NULL, &err), 0);
        /* the adapters change what is decoded */
        for (int a = 1; a < NAD; a++) {
                double d = 0;
                for (int i = 0; i < GEN * f->V; i++)
                        d = fmax(d, fabs(f->ref[(size_t)a * GEN * f->V + i] -
                                         f->ref[i]));
                cr_assert_gt(d, 1e-2, "adapter %d changes nothing", a);
        }
}

static void
teardown(fixture *f)
{
        socfw_model_attach(f->m, NULL, NULL);
        for (int a = 0; a < NAD; a++)
                socfw_adapter_free(f->ad[a]);
        socfw_model_free(f->m);
        free(f->ref);
}

/* A cache with its own adapter decodes as the model with it attached,
 * whatever the model has attached meanwhile. */
static void
check_own(socfw_arch arch)
{
        fixture f;
        setup(&f, arch);
        socfw_error err = {0};
        float *lg = malloc(sizeof(float) * GEN * (size_t)f.V);
        int32_t tok[GEN];
        cr_assert_eq(socfw_model_attach(f.m, f.ad[1], &err), 0); /* decoy */
        for (int a = 0; a < NAD; a++) {
                socfw_model_kv *kv = NULL;
                cr_assert_eq(socfw_model_kv_new(&kv, f.m, STEPS, &err), 0);
                cr_assert_eq(socfw_model_kv_attached(kv), f.ad[1],
                             "a new cache follows the model");
                cr_assert_eq(socfw_model_kv_attach(kv, f.ad[a], &err), 0,
                             "%s", err.message);
                cr_assert_eq(socfw_model_kv_attached(kv), f.ad[a]);
                cr_assert_eq(decode(f.m, kv, f.V, lg, tok), 0);
                cr_assert_eq(memcmp(lg, f.ref + (size_t)a * GEN * f.V,
                                    sizeof(float) * GEN * (size_t)f.V),
                             0, "adapter %d: logits differ", a);
                /* positions held: no other adapter now */
                cr_assert_eq(socfw_model_kv_attach(kv, f.ad[2], &err),
                             SOCFW_EINVAL);
                cr_assert(strstr(err.message, "before the first step"),
                          "%s", err.message);
                socfw_model_kv_reset(kv);
                cr_assert_eq(socfw_model_kv_attach(kv, f.ad[2], &err), 0);
                socfw_model_kv_free(kv);
        }
        free(lg);
        teardown(&f);
}

Test(kv_adapter, own_adapter_decodes_as_attached_gpt2) { check_own(SOCFW_ARCH_GPT2); }
Test(kv_adapter, own_adapter_decodes_as_attached_llama) { check_own(SOCFW_ARCH_LLAMA); }

/* Four threads decode at once, each with another adapter. */
typedef struct job {
        fixture *f;
        int a, ok;
} job;

static void *
run_job(void *p)
{
        job *j = p;
        fixture *f = j->f;
        socfw_error err = {0};
        float *lg = malloc(sizeof(float) * GEN * (size_t)f->V);
        int32_t tok[GEN];
        j->ok = 1;
        for (int round = 0; round < 3 && j->ok && lg; round++) {
                socfw_model_kv *kv = NULL;
                if (socfw_model_kv_new(&kv, f->m, STEPS, &err) < 0 ||
                    socfw_model_kv_attach(kv, f->ad[j->a], &err) < 0 ||
                    decode(f->m, kv, f->V, lg, tok) < 0 ||
                    memcmp(lg, f->ref + (size_t)j->a * GEN * f->V,
                           sizeof(float) * GEN * (size_t)f->V) != 0)
                        j->ok = 0;
                socfw_model_kv_free(kv);
        }
        if (!lg)
                j->ok = 0;
        free(lg);
        return NULL;
}

Test(kv_adapter, threads_decode_with_different_adapters_at_once)
{
        fixture f;
        setup(&f, SOCFW_ARCH_GPT2);
        pthread_t th[NAD];
        job jobs[NAD];
        for (int a = 0; a < NAD; a++) {
                jobs[a] = (job){.f = &f, .a = a};
                cr_assert_eq(pthread_create(&th[a], NULL, run_job, &jobs[a]),
                             0);
        }
        for (int a = 0; a < NAD; a++) {
                pthread_join(th[a], NULL);
                cr_expect(jobs[a].ok, "adapter %d: logits differ from "
                                      "decoding alone", a);
        }
        teardown(&f);
}

/* Batched steps of caches with their own adapters agree with each
 * adapter's reference: two caches of LoRA 2 (one adapter), and caches of
 * all five adapters (none, LoRA 1, LoRA 2, prefix, prompt: different
 * positions too) in one batch, LoRA 1 twice and apart. */
static void
batch_equals_alone(fixture *f, const int *own, int k)
{
        socfw_error err = {0};
        int V = f->V;
        socfw_model_kv *kv[8] = {0};
        int32_t ids[PLEN];
        prompt(ids, V);
        float *lg = malloc(sizeof(float) * (size_t)k * (size_t)V);
        cr_assert_not_null(lg);
        for (int i = 0; i < k; i++) {
                cr_assert_eq(socfw_model_kv_new(&kv[i], f->m, STEPS, &err),
                             0);
                cr_assert_eq(socfw_model_kv_attach(kv[i], f->ad[own[i]],
                                                   &err),
                             0);
                cr_assert_eq(socfw_model_decode_step(f->m, kv[i], ids, PLEN,
                                                     lg, &err),
                             0);
        }
        double worst = 0;
        for (int g = 1; g < GEN; g++) {
                int32_t tk[8];
                for (int i = 0; i < k; i++)
                        tk[i] = f->tok[own[i]][g - 1];
                cr_assert_eq(socfw_model_decode_batch(f->m, kv, tk, k, lg,
                                                      &err),
                             0, "%s", err.message);
                for (int b = 0; b < k; b++) {
                        const float *r =
                                f->ref + ((size_t)own[b] * GEN + g) * V;
                        for (int v = 0; v < V; v++) {
                                float d = fabsf(lg[(size_t)b * V + v] - r[v]);
                                worst = fmax(worst, d);
                                cr_assert_leq(d,
                                              REL_TOL * fmaxf(1.0f,
                                                              fabsf(r[v])),
                                              "step %d row %d (adapter %d) "
                                              "logit %d",
                                              g, b, own[b], v);
                        }
                }
        }
        cr_log_info("%d rows, adapters %d..: largest difference %g", k,
                    own[0], worst);
        for (int i = 0; i < k; i++)
                socfw_model_kv_free(kv[i]);
        free(lg);
}

static void
check_batch(socfw_arch arch)
{
        fixture f;
        setup(&f, arch);
        static const int one[] = {2, 2};
        static const int mixed[] = {1, 0, 3, 2, 4, 1};
        batch_equals_alone(&f, one, 2);
        batch_equals_alone(&f, mixed, 6);
        teardown(&f);
}

Test(kv_adapter, batch_of_one_and_of_every_adapter_gpt2) { check_batch(SOCFW_ARCH_GPT2); }
Test(kv_adapter, batch_of_one_and_of_every_adapter_llama) { check_batch(SOCFW_ARCH_LLAMA); }

/* A prefix or prompt adapter given to a cache made without it makes room
 * for its rows, and taking it away gives the room back. */
Test(kv_adapter, prefix_or_prompt_attached_to_a_cache_makes_room)
{
        fixture f;
        setup(&f, SOCFW_ARCH_LLAMA);
        socfw_error err = {0};
        socfw_model_kv *kv = NULL;
        cr_assert_eq(socfw_model_kv_new(&kv, f.m, STEPS, &err), 0);
        cr_assert_eq(socfw_model_kv_capacity(kv), STEPS);
        cr_assert_eq(socfw_model_kv_attach(kv, f.ad[3], &err), 0);
        cr_assert_eq(socfw_model_kv_capacity(kv), STEPS + 3);
        float *lg = malloc(sizeof(float) * GEN * (size_t)f.V);
        int32_t tok[GEN];
        cr_assert_eq(decode(f.m, kv, f.V, lg, tok), 0);
        cr_assert_eq(socfw_model_kv_len(kv), 3 + STEPS - 1);
        cr_assert_eq(memcmp(lg, f.ref + (size_t)3 * GEN * f.V,
                            sizeof(float) * GEN * (size_t)f.V),
                     0);
        socfw_model_kv_reset(kv);
        cr_assert_eq(socfw_model_kv_attach(kv, f.ad[4], &err), 0);
        cr_assert_eq(socfw_model_kv_capacity(kv), STEPS + 2);
        cr_assert_eq(decode(f.m, kv, f.V, lg, tok), 0);
        cr_assert_eq(memcmp(lg, f.ref + (size_t)4 * GEN * f.V,
                            sizeof(float) * GEN * (size_t)f.V),
                     0);
        socfw_model_kv_reset(kv);
        cr_assert_eq(socfw_model_kv_attach(kv, NULL, &err), 0);
        cr_assert_eq(socfw_model_kv_capacity(kv), STEPS);
        cr_assert_null(socfw_model_kv_attached(kv));
        socfw_model_kv_free(kv);
        free(lg);
        teardown(&f);
}

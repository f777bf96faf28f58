/* tests/test_arch_api.c - socfw/model.h beyond the numerics: random models
 * for every architecture, dropout, freezing, bad input, real HF
 * directories from ../shared. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/model.h"
#include "test_arch_util.h"
#include "testutil.h"

static socfw_model *
tiny(socfw_arch arch)
{
        socfw_model_config c;
        socfw_model_config_default(&c, arch, 50, 16, 3, 4,
                                   arch == SOCFW_ARCH_LLAMA ? 24 : 32, 16);
        if (arch == SOCFW_ARCH_LLAMA)
                c.n_kv_heads = 2;
        socfw_model *m = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_model_new_random(&m, &c, 7, &err), 0, "%s %s",
                     socfw_arch_name(arch), err.message);
        return m;
}

static double
grad_abs_sum(socfw_model *m, const char *prefix)
{
        socfw_params *ps = socfw_model_params(m);
        double s = 0;
        for (int i = 0; i < socfw_params_count(ps); i++) {
                if (strncmp(socfw_params_name(ps, i), prefix, strlen(prefix)))
                        continue;
                const float *g = socfw_params_grad(ps, i);
                for (int64_t j = 0; j < socfw_params_numel(ps, i); j++)
                        s += fabs(g[j]);
        }
        return s;
}

/* forward + backward of sum(hidden * r) for a random model */
static void
step(socfw_model *m, int B, int T, int train, float p, uint64_t seed,
     float *hidden)
{
        const socfw_model_config *c = socfw_model_config_of(m);
        int N = B * T;
        int32_t *ids = malloc(sizeof(int32_t) * N);
        float *dh = malloc(sizeof(float) * N * c->hidden);
        for (int i = 0; i < N; i++)
                ids[i] = (i * 7 + 3) % c->vocab_size;
        for (int i = 0; i < N * c->hidden; i++)
                dh[i] = (float)((i % 13) - 6) / 6.0f;
        socfw_rng rng;
        socfw_rng_seed(&rng, seed);
        socfw_error err = {0};
        cr_assert_eq(socfw_model_forward(m, ids, NULL, NULL, B, T, train, p,
                                         &rng, hidden, &err), 0, "%s",
                     err.message);
        socfw_params_zero_grad(socfw_model_params(m));
        cr_assert_eq(socfw_model_backward(m, dh, &err), 0, "%s",
                     err.message);
        free(ids);
        free(dh);
}

Test(arch_api, random_models_all_archs, .timeout = 30)
{
        socfw_arch archs[] = {SOCFW_ARCH_GPT2, SOCFW_ARCH_BERT,
                              SOCFW_ARCH_ROBERTA, SOCFW_ARCH_LLAMA};
        for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
                socfw_model *m = tiny(archs[a]);
                int B = 2, T = 6, C = 16;
                float *h1 = malloc(sizeof(float) * B * T * C);
                float *h2 = malloc(sizeof(float) * B * T * C);
                float *h3 = malloc(sizeof(float) * B * T * C);
                step(m, B, T, 0, 0.0f, 1, h1);
                for (int i = 0; i < B * T * C; i++)
                        cr_assert(isfinite(h1[i]));
                cr_expect_gt(grad_abs_sum(m, ""), 0.0);
                /* eval ignores the dropout rate; training applies it, the
                 * same seed gives the same result */
                step(m, B, T, 0, 0.5f, 1, h2);
                cr_expect_eq(memcmp(h1, h2, sizeof(float) * B * T * C), 0);
                step(m, B, T, 1, 0.5f, 1, h2);
                step(m, B, T, 1, 0.5f, 1, h3);
                cr_expect_gt(arch_max_diff(h1, h2, (size_t)B * T * C), 1e-3,
                             "%s: dropout had no effect",
                             socfw_arch_name(archs[a]));
                cr_expect_eq(memcmp(h2, h3, sizeof(float) * B * T * C), 0);
                /* a larger batch regrows the workspace */
                float *hb = malloc(sizeof(float) * 4 * 8 * C);
                step(m, 4, 8, 1, 0.1f, 2, hb);
                step(m, 1, 3, 0, 0.0f, 2, hb);
                free(hb);
                free(h1);
                free(h2);
                free(h3);
                socfw_model_free(m);
        }
}

Test(arch_api, freeze_top_layers, .timeout = 30)
{
        socfw_model *m = tiny(SOCFW_ARCH_GPT2);
        float *h = malloc(sizeof(float) * 2 * 5 * 16);
        cr_assert_eq(socfw_model_freeze(m, 1, false), 0);
        socfw_params *ps = socfw_model_params(m);
        cr_expect(!socfw_params_trainable(ps, socfw_params_find(ps,
                                                                "wte.weight")));
        cr_expect(socfw_params_trainable(ps, socfw_params_find(ps,
                                                               "ln_f.weight")));
        step(m, 2, 5, 1, 0.0f, 3, h);
        cr_expect_eq(grad_abs_sum(m, "h.0."), 0.0);
        cr_expect_eq(grad_abs_sum(m, "h.1."), 0.0);
        cr_expect_eq(grad_abs_sum(m, "wte."), 0.0);
        cr_expect_gt(grad_abs_sum(m, "h.2."), 0.0);
        cr_expect_gt(grad_abs_sum(m, "ln_f."), 0.0);
        /* everything trainable again: gradients reach the embeddings */
        socfw_model_freeze(m, -1, true);
        step(m, 2, 5, 1, 0.0f, 3, h);
        cr_expect_gt(grad_abs_sum(m, "h.0."), 0.0);
        cr_expect_gt(grad_abs_sum(m, "wpe."), 0.0);
        free(h);
        socfw_model_free(m);
}

/* The lowest trainable block's first norm learns even though nothing
 * below it does (its input gradient is not needed). */
static void
lowest_block_norm(socfw_arch arch, const char *name)
{
        socfw_model *m = tiny(arch);
        float *h = malloc(sizeof(float) * 2 * 5 * 64);
        socfw_params *ps = socfw_model_params(m);
        int idx = socfw_params_find(ps, name);
        cr_assert_geq(idx, 0, "%s", name);
        int64_t n = socfw_params_numel(ps, idx);
        float *want = malloc(sizeof(float) * (size_t)n);

        socfw_model_freeze(m, -1, true);
        socfw_params_zero_grad(ps);
        step(m, 2, 5, 1, 0.0f, 3, h);
        memcpy(want, socfw_params_grad(ps, idx), sizeof(float) * (size_t)n);

        socfw_model_freeze(m, 1, false);
        socfw_params_zero_grad(ps);
        step(m, 2, 5, 1, 0.0f, 3, h);
        const float *got = socfw_params_grad(ps, idx);
        double sum = 0;
        for (int64_t i = 0; i < n; i++) {
                sum += fabs(want[i]);
                cr_assert_float_eq(got[i], want[i], 1e-6, "%s[%ld]", name,
                                   (long)i);
        }
        cr_assert_gt(sum, 0.0, "%s has a gradient", name);
        free(want);
        free(h);
        socfw_model_free(m);
}

Test(arch_api, lowest_trainable_block_norm_gets_its_gradient, .timeout = 30)
{
        lowest_block_norm(SOCFW_ARCH_GPT2, "h.2.ln_1.weight");
        lowest_block_norm(SOCFW_ARCH_LLAMA, "model.layers.2.input_layernorm.weight");
}

Test(arch_api, bad_input, .timeout = 30)
{
        socfw_model *m = tiny(SOCFW_ARCH_GPT2);
        float h[64 * 16];
        int32_t ids[20] = {0};
        socfw_error err = {0};
        ids[3] = 50;    /* == vocab size */
        cr_expect_eq(socfw_model_forward(m, ids, NULL, NULL, 1, 4, false, 0,
                                         NULL, h, &err), SOCFW_EINVAL);
        cr_expect(strstr(err.message, "vocabulary") != NULL, "%s",
                  err.message);
        ids[3] = 1;
        socfw_error_clear(&err);
        cr_expect_eq(socfw_model_forward(m, ids, NULL, NULL, 1, 17, false, 0,
                                         NULL, h, &err), SOCFW_EINVAL,
                     "T beyond max positions");
        socfw_error_clear(&err);
        cr_expect_eq(socfw_model_forward(m, ids, NULL, NULL, 1, 4, true, 0.1f,
                                         NULL, h, &err), SOCFW_EINVAL,
                     "dropout without rng");
        /* backward needs a forward; the failed ones above do not count */
        socfw_model *m2 = tiny(SOCFW_ARCH_LLAMA);
        socfw_error_clear(&err);
        cr_expect_eq(socfw_model_backward(m2, h, &err), SOCFW_ESTATE);
        /* no pooler on a decoder; no LM head on an encoder */
        float pooled[16];
        socfw_error_clear(&err);
        cr_expect_eq(socfw_model_pool(m2, h, 1, 4, pooled, &err),
                     SOCFW_EUNSUPPORTED);
        socfw_model *m3 = tiny(SOCFW_ARCH_BERT);
        socfw_error_clear(&err);
        cr_expect_eq(socfw_model_lm_logits(m3, h, 1, h, &err),
                     SOCFW_EUNSUPPORTED);
        /* bad configs */
        socfw_model_config c;
        socfw_model *bad = NULL;
        socfw_model_config_default(&c, SOCFW_ARCH_LLAMA, 10, 16, 1, 4, 8, 8);
        c.n_kv_heads = 3;
        socfw_error_clear(&err);
        cr_expect_eq(socfw_model_new_random(&bad, &c, 1, &err), SOCFW_EINVAL);
        cr_expect_null(bad);
        socfw_model_config_default(&c, SOCFW_ARCH_GPT2, 0, 16, 1, 4, 8, 8);
        cr_expect_eq(socfw_model_new_random(&bad, &c, 1, NULL), SOCFW_EINVAL);
        /* missing and broken files */
        char dir[4096];
        socfw_error_clear(&err);
        cr_expect_lt(socfw_model_load(&bad, "/nonexistent/model", NULL,
                                      &err), 0);
        cr_expect_null(bad);
        char tmp[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(tmp, sizeof tmp));
        snprintf(path, sizeof path, "%s/config.json", tmp);
        const char *cfg = "{\"model_type\": \"gpt2\", \"n_embd\": 8, "
                          "\"n_layer\": 1, \"n_head\": 2}";
        socfw_test_write_file(path, cfg, strlen(cfg));
        arch_fixture_dir(dir, sizeof dir, "gpt2");
        char src[4200], dst[4200];
        snprintf(src, sizeof src, "%s/model.safetensors", dir);
        snprintf(dst, sizeof dst, "%s/model.safetensors", tmp);
        size_t len;
        char *data = socfw_test_read_file(src, &len);
        cr_assert_not_null(data);
        socfw_test_write_file(dst, data, len);
        free(data);
        socfw_error_clear(&err);
        cr_expect_lt(socfw_model_load(&bad, tmp, NULL, &err), 0,
                     "config does not match the tensors");
        cr_log_info("mismatched config: %s", err.message);
        cr_expect(strstr(err.message, "shape") ||
                  strstr(err.message, "not found"), "%s", err.message);
        socfw_model_free(m);
        socfw_model_free(m2);
        socfw_model_free(m3);
}

Test(arch_api, shared_hf_directories, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/hf");
        static const struct {
                const char *dir, *prefix;
                socfw_arch arch;
                bool pooler;
        } cases[] = {
                {"models/hf/tiny_gpt2", "", SOCFW_ARCH_GPT2, false},
                {"models/hf/fake_gpt2", "transformer.", SOCFW_ARCH_GPT2,
                 false},
                {"models/hf/bert_tiniest", "bert.", SOCFW_ARCH_BERT, true},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                if (!socfw_test_shared(path, sizeof path, cases[i].dir))
                        continue;
                socfw_model *m = NULL;
                socfw_error err = {0};
                cr_assert_eq(socfw_model_load(&m, path, NULL, &err), 0,
                             "%s: %s", path, err.message);
                const socfw_model_config *c = socfw_model_config_of(m);
                cr_expect_eq(c->arch, cases[i].arch, "%s", path);
                cr_expect_str_eq(socfw_model_name_prefix(m),
                                 cases[i].prefix);
                int32_t ids[6] = {1, 2, 3, 4, 5, 6};
                float *h = malloc(sizeof(float) * 6 * c->hidden);
                cr_assert_eq(socfw_model_forward(m, ids, NULL, NULL, 2, 3,
                                                 false, 0, NULL, h, &err), 0,
                             "%s", err.message);
                for (int j = 0; j < 6 * c->hidden; j++)
                        cr_expect(isfinite(h[j]));
                if (cases[i].pooler) {
                        float p[8];
                        cr_expect_eq(socfw_model_pool(m, h, 2, 3, p, &err),
                                     0);
                }
                free(h);
                socfw_model_free(m);
        }
}

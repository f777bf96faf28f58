/* tests/test_arch_torch.c - every backbone against the independent PyTorch
 * implementation in tests/fixtures/arch/gen_arch_fixtures.py: outputs,
 * loss and the gradient of every parameter; KV-cache decoding against the
 * full forward; padded batches against single sequences. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/model.h"
#include "socfw/nn.h"
#include "test_arch_util.h"
#include "testutil.h"

#define OUT_TOL 1e-4
#define GRAD_RTOL 1e-3

/* Compare the gradient of every parameter with ref "grad.<name>". */
static void
check_grads(const char *fx, socfw_model *m, const socfw_modelfile *ref)
{
        socfw_params *ps = socfw_model_params(m);
        double worst = 0.0;
        const char *worst_name = "";
        int n = socfw_params_count(ps);
        cr_assert_gt(n, 0);
        for (int i = 0; i < n; i++) {
                char key[300];
                snprintf(key, sizeof key, "grad.%s", socfw_params_name(ps, i));
                size_t k;
                float *g = arch_ref_f32(ref, key, &k);
                cr_assert_eq((int64_t)k, socfw_params_numel(ps, i), "%s",
                             key);
                double scale = arch_max_abs(g, k);
                double d = arch_max_diff(socfw_params_grad(ps, i), g, k);
                double rel = d / (scale > 1e-12 ? scale : 1.0);
                cr_expect_lt(rel, GRAD_RTOL, "%s: %s relative diff %.3g "
                             "(max |ref| %.3g)", fx, key, rel, scale);
                if (rel > worst) {
                        worst = rel;
                        worst_name = socfw_params_name(ps, i);
                }
                free(g);
        }
        cr_log_info("%s: %d parameter gradients, worst relative diff %.3g "
                    "(%s)", fx, n, worst, worst_name);
}

/* ---- decoders: GPT-2, Llama, Qwen2 ------------------------------------- */

static void
check_decoder(const char *fx)
{
        socfw_model *m = arch_load_fixture(fx);
        socfw_modelfile *ref = arch_ref_open(fx);
        const socfw_model_config *c = socfw_model_config_of(m);
        const socfw_tensor_info *ti = arch_ref_info(ref, "input_ids");
        int B = (int)ti->shape[0], T = (int)ti->shape[1], N = B * T;
        int C = c->hidden, V = c->vocab_size;
        int32_t *ids = arch_ref_i32(ref, "input_ids", NULL);
        int32_t *mask = arch_ref_i32(ref, "attention_mask", NULL);
        int32_t *tgt = arch_ref_i32(ref, "targets", NULL);
        float *ref_logits = arch_ref_f32(ref, "logits", NULL);
        float *ref_hidden = arch_ref_f32(ref, "hidden", NULL);
        float *ref_loss = arch_ref_f32(ref, "loss", NULL);
        float *hidden = malloc(sizeof(float) * N * C);
        float *dhidden = calloc((size_t)N * C, sizeof(float));
        float *logits = malloc(sizeof(float) * N * V);
        float *dlogits = malloc(sizeof(float) * N * V);
        socfw_error err = {0};

        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, false, 0,
                                         NULL, hidden, &err), 0, "%s",
                     err.message);
        double dh = arch_max_diff(hidden, ref_hidden, (size_t)N * C);
        cr_assert_eq(socfw_model_lm_logits(m, hidden, N, logits, &err), 0,
                     "%s", err.message);
        double dl = arch_max_diff(logits, ref_logits, (size_t)N * V);
        cr_log_info("%s: max |hidden - torch| %.3g, max |logits - torch| "
                    "%.3g", fx, dh, dl);
        cr_expect_lt(dh, OUT_TOL, "%s hidden", fx);
        cr_expect_lt(dl, OUT_TOL, "%s logits", fx);

        float loss;
        cr_assert_eq(socfw_nn_cross_entropy_forward_backward(
                             &loss, NULL, dlogits, logits, tgt, N, V, NULL,
                             &err), 0, "%s", err.message);
        cr_log_info("%s: loss %.6f, torch %.6f", fx, loss, ref_loss[0]);
        cr_expect_lt(fabs(loss - ref_loss[0]), 1e-4 * (1 + fabs(loss)));

        socfw_params_zero_grad(socfw_model_params(m));
        cr_assert_eq(socfw_model_lm_logits_backward(m, hidden, dlogits, N,
                                                    dhidden, &err), 0);
        cr_assert_eq(socfw_model_backward(m, dhidden, &err), 0, "%s",
                     err.message);
        check_grads(fx, m, ref);

        /* KV cache: whole prompt at once, then token by token */
        socfw_model_kv *kv = NULL;
        float *step = malloc(sizeof(float) * V);
        cr_assert_eq(socfw_model_kv_new(&kv, m, T, &err), 0, "%s",
                     err.message);
        double dkv = 0;
        for (int b = 0; b < B; b++) {
                socfw_model_kv_reset(kv);
                cr_assert_eq(socfw_model_decode_step(m, kv, ids + b * T, T,
                                                     step, &err), 0, "%s",
                             err.message);
                double d = arch_max_diff(step, ref_logits +
                                         ((size_t)b * T + T - 1) * V, V);
                dkv = d > dkv ? d : dkv;
                socfw_model_kv_reset(kv);
                int first = 3;
                cr_assert_eq(socfw_model_decode_step(m, kv, ids + b * T,
                                                     first, step, &err), 0);
                for (int t = first; t < T; t++) {
                        cr_assert_eq(socfw_model_decode_step(
                                             m, kv, ids + b * T + t, 1, step,
                                             &err), 0, "%s", err.message);
                        d = arch_max_diff(step, ref_logits +
                                          ((size_t)b * T + t) * V, V);
                        dkv = d > dkv ? d : dkv;
                }
                cr_expect_eq(socfw_model_kv_len(kv), T);
        }
        cr_log_info("%s: max |kv decode - torch logits| %.3g", fx, dkv);
        cr_expect_lt(dkv, OUT_TOL, "%s kv decode", fx);
        /* a full cache refuses more tokens */
        socfw_error e2 = {0};
        cr_expect_eq(socfw_model_decode_step(m, kv, ids, 1, step, &e2),
                     SOCFW_EINVAL);
        cr_expect_eq(socfw_model_kv_len(kv), T);

        /* padding: sequence 1 cut to 5 tokens and right-padded in a batch
         * equals the 5 tokens alone */
        int n1 = 5;
        int32_t *pid = malloc(sizeof(int32_t) * N);
        int32_t *pm = malloc(sizeof(int32_t) * N);
        memcpy(pid, ids, sizeof(int32_t) * N);
        for (int i = 0; i < N; i++)
                pm[i] = 1;
        for (int t = n1; t < T; t++) {
                pid[T + t] = 0;
                pm[T + t] = 0;
        }
        float *h1 = malloc(sizeof(float) * n1 * C);
        cr_assert_eq(socfw_model_forward(m, pid, pm, NULL, B, T, false, 0,
                                         NULL, hidden, &err), 0);
        cr_assert_eq(socfw_model_forward(m, ids + T, NULL, NULL, 1, n1,
                                         false, 0, NULL, h1, &err), 0);
        double dp = arch_max_diff(hidden + (size_t)T * C, h1,
                                  (size_t)n1 * C);
        cr_log_info("%s: padded batch vs single sequence %.3g", fx, dp);
        cr_expect_lt(dp, 1e-5);
        double d0 = arch_max_diff(hidden, ref_hidden, (size_t)T * C);
        cr_expect_lt(d0, OUT_TOL, "unpadded row changed by padding");

        free(h1);
        free(pid);
        free(pm);
        free(step);
        socfw_model_kv_free(kv);
        free(ids);
        free(mask);
        free(tgt);
        free(ref_logits);
        free(ref_hidden);
        free(ref_loss);
        free(hidden);
        free(dhidden);
        free(logits);
        free(dlogits);
        socfw_modelfile_close(ref);
        socfw_model_free(m);
}

Test(arch_torch, gpt2, .timeout = 30)
{
        check_decoder("gpt2");
}

Test(arch_torch, llama_gqa, .timeout = 30)
{
        check_decoder("llama");
}

Test(arch_torch, qwen2_bias_tied, .timeout = 30)
{
        check_decoder("qwen2");
}

/* config.json rope_scaling {rope_type: llama3}: frequencies kept, blended
 * and divided, as Llama 3.1/3.2 checkpoints use. */
Test(arch_torch, llama3_rope_scaling, .timeout = 30)
{
        check_decoder("llama3");
        socfw_model *m = arch_load_fixture("llama3");
        int n = 0;
        const float *f = socfw_model_rope_inv_freq(m, &n);
        cr_assert_not_null(f);
        cr_assert_eq(n, 4);
        /* theta 1e4, head_dim 8: 1 (wavelength 6.3, kept), 0.1
         * (wavelength 62.8: blend s = (64/62.8 - 1)/3 = 0.0062, so
         * (1-s) 0.1/8 + s 0.1 = 0.0130423 (computed in Python)), 0.01/8,
         * 0.001/8 */
        for (int i = 0; i < 4; i++)
                cr_log_info("inv_freq[%d] = %.9g", i, (double)f[i]);
        cr_assert_float_eq(f[0], 1.0f, 1e-7);
        cr_assert_float_eq(f[1], 0.0130422560f, 1e-8);
        cr_assert_float_eq(f[2], 0.00125f, 1e-9);
        cr_assert_float_eq(f[3], 0.000125f, 1e-10);
        socfw_model_free(m);
}

/* An unknown scaling type is refused by name. */
Test(arch_torch, unknown_rope_scaling_is_refused, .timeout = 30)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        char src[4096];
        arch_fixture_dir(src, sizeof src, "llama3");
        snprintf(path, sizeof path, "%s/model.safetensors", src);
        size_t len = 0;
        char *st = socfw_test_read_file(path, &len);
        cr_assert_not_null(st);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        cr_assert_eq(socfw_test_write_file(path, st, len), 0);
        free(st);
        snprintf(path, sizeof path, "%s/config.json", src);
        char *cfg = socfw_test_read_file(path, NULL);
        cr_assert_not_null(cfg);
        char *at = strstr(cfg, "\"llama3\"");
        cr_assert_not_null(at);
        memcpy(at + 1, "yarn  ", 6);
        snprintf(path, sizeof path, "%s/config.json", dir);
        cr_assert_eq(socfw_test_write_file(path, cfg, strlen(cfg)), 0);
        free(cfg);
        socfw_model *m = NULL;
        socfw_error err = {0};
        cr_assert_lt(socfw_model_load(&m, dir, NULL, &err), 0);
        cr_assert(strstr(err.message, "rope_scaling") &&
                          strstr(err.message, "yarn"),
                  "%s", err.message);
}

/* ---- encoders: BERT, RoBERTa -------------------------------------------- */

static void
check_encoder(const char *fx)
{
        socfw_model *m = arch_load_fixture(fx);
        socfw_modelfile *ref = arch_ref_open(fx);
        const socfw_model_config *c = socfw_model_config_of(m);
        const socfw_tensor_info *ti = arch_ref_info(ref, "input_ids");
        int B = (int)ti->shape[0], T = (int)ti->shape[1], N = B * T;
        int C = c->hidden;
        int32_t *ids = arch_ref_i32(ref, "input_ids", NULL);
        int32_t *mask = arch_ref_i32(ref, "attention_mask", NULL);
        float *ref_hidden = arch_ref_f32(ref, "hidden", NULL);
        float *ref_pooled = arch_ref_f32(ref, "pooled", NULL);
        float *ref_dh = arch_ref_f32(ref, "dhidden", NULL);
        float *ref_dp = arch_ref_f32(ref, "dpooled", NULL);
        float *ref_loss = arch_ref_f32(ref, "loss", NULL);
        float *hidden = malloc(sizeof(float) * N * C);
        float *pooled = malloc(sizeof(float) * B * C);
        socfw_error err = {0};

        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, false, 0,
                                         NULL, hidden, &err), 0, "%s",
                     err.message);
        double dh = 0;
        for (int i = 0; i < N; i++)
                if (mask[i]) {
                        double d = arch_max_diff(hidden + (size_t)i * C,
                                                 ref_hidden + (size_t)i * C,
                                                 C);
                        dh = d > dh ? d : dh;
                }
        cr_assert_eq(socfw_model_pool(m, hidden, B, T, pooled, &err), 0,
                     "%s", err.message);
        double dp = arch_max_diff(pooled, ref_pooled, (size_t)B * C);
        cr_log_info("%s: max |hidden - torch| %.3g (real tokens), max "
                    "|pooled - torch| %.3g", fx, dh, dp);
        cr_expect_lt(dh, OUT_TOL);
        cr_expect_lt(dp, OUT_TOL);
        double loss = 0;
        for (size_t i = 0; i < (size_t)N * C; i++)
                loss += (double)hidden[i] * ref_dh[i];
        for (size_t i = 0; i < (size_t)B * C; i++)
                loss += (double)pooled[i] * ref_dp[i];
        cr_log_info("%s: loss %.6f, torch %.6f", fx, loss, ref_loss[0]);
        cr_expect_lt(fabs(loss - ref_loss[0]), 1e-3 * (1 + fabs(loss)));

        socfw_params_zero_grad(socfw_model_params(m));
        cr_assert_eq(socfw_model_pool_backward(m, ref_dp, ref_dh, &err), 0,
                     "%s", err.message);
        cr_assert_eq(socfw_model_backward(m, ref_dh, &err), 0, "%s",
                     err.message);
        check_grads(fx, m, ref);

        /* every padded sequence alone, unpadded, gives the same rows */
        float *h1 = malloc(sizeof(float) * T * C);
        float *p1 = malloc(sizeof(float) * C);
        double dpad = 0;
        for (int b = 0; b < B; b++) {
                int len = 0;
                while (len < T && mask[b * T + len])
                        len++;
                cr_assert_eq(socfw_model_forward(m, ids + b * T, NULL, NULL,
                                                 1, len, false, 0, NULL, h1,
                                                 &err), 0, "%s", err.message);
                cr_assert_eq(socfw_model_pool(m, h1, 1, len, p1, &err), 0);
                double d = arch_max_diff(h1, ref_hidden + (size_t)b * T * C,
                                         (size_t)len * C);
                double e = arch_max_diff(p1, ref_pooled + (size_t)b * C, C);
                d = d > e ? d : e;
                dpad = d > dpad ? d : dpad;
        }
        cr_log_info("%s: single unpadded sequences vs padded batch %.3g", fx,
                    dpad);
        cr_expect_lt(dpad, OUT_TOL);

        /* encoders have no KV cache and no LM head */
        socfw_model_kv *kv = NULL;
        socfw_error e2 = {0};
        cr_expect_eq(socfw_model_kv_new(&kv, m, 8, &e2), SOCFW_EUNSUPPORTED);
        cr_expect_null(kv);

        free(h1);
        free(p1);
        free(ids);
        free(mask);
        free(ref_hidden);
        free(ref_pooled);
        free(ref_dh);
        free(ref_dp);
        free(ref_loss);
        free(hidden);
        free(pooled);
        socfw_modelfile_close(ref);
        socfw_model_free(m);
}

Test(arch_torch, bert_padded, .timeout = 30)
{
        check_encoder("bert");
}

Test(arch_torch, roberta_padded, .timeout = 30)
{
        check_encoder("roberta");
}

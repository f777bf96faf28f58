/* tests/test_peft.c - LoRA, (IA)3, bottleneck, prefix and prompt adapters
 * against the independent PyTorch implementation in
 * tests/fixtures/peft/gen_peft_fixtures.py: with the fixture's adapter
 * tensors attached to the frozen arch fixture backbones, the outputs, the
 * loss and the gradient of every adapter tensor; KV-cache decoding with the
 * adapter; merging LoRA / (IA)3 into the weights; a LoRA on the token
 * embedding too.  The backbone must stay
 * bitwise unchanged and get no gradient. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/model.h"
#include "socfw/nn.h"
#include "socfw/peft.h"
#include "test_arch_util.h"
#include "test_peft_util.h"
#include "testutil.h"

#define OUT_TOL 1e-4
#define GRAD_RTOL 1e-3

#define BIT(s) SOCFW_SITE_BIT(SOCFW_SITE_##s)
#define ALL_NO_GATE (SOCFW_SITE_ALL & ~BIT(MLP_GATE))
#define IA3_DEFAULT (BIT(ATTN_K) | BIT(ATTN_V) | BIT(MLP_DOWN))
#define HOULSBY (BIT(ATTN_O) | BIT(MLP_DOWN))

/* One fixture case: the same configuration as gen_peft_fixtures.py's
 * cases_of(). */
typedef struct pcase {
        const char *name;       /* tests/fixtures/peft/<name>/          */
        const char *arch;       /* tests/fixtures/arch/<arch>/          */
        socfw_adapter_type type;
        unsigned targets;
        bool rslora;
        socfw_adapter_act act;
        bool proj;              /* prefix: prefix_projection, width 12  */
        bool embed;             /* LoRA on the token embedding too      */
} pcase;

static socfw_adapter_config
case_config(const pcase *pc)
{
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, pc->type);
        ac.targets = pc->targets;
        ac.rank = 3;
        ac.target_r = 2;        /* AdaLoRA: at most init_r */
        ac.prefix_length = 3;
        ac.num_virtual_tokens = 3;
        ac.alpha = 6.0f;
        ac.dropout = 0.0f;
        ac.use_rslora = pc->rslora;
        ac.reduction_factor = 4;
        ac.act = pc->act;
        ac.prefix_projection = pc->proj;
        ac.encoder_hidden_size = pc->proj ? 12 : 0;
        ac.embed = pc->embed;
        return ac;
}

/* Max |a - b| over the rows (of width C) whose mask is set. */
static double
masked_diff(const float *a, const float *b, const int32_t *mask, int N, int C)
{
        double m = 0;
        for (int i = 0; i < N; i++)
                if (!mask || mask[i]) {
                        double d = arch_max_diff(a + (size_t)i * C,
                                                 b + (size_t)i * C, C);
                        m = d > m ? d : m;
                }
        return m;
}

/* Every adapter gradient against ref "grad.<name>". */
static void
check_adapter_grads(const char *fx, socfw_adapter *a,
                    const socfw_modelfile *ref)
{
        socfw_params *ps = socfw_adapter_params(a);
        double worst = 0.0;
        const char *worst_name = "";
        int n = socfw_params_count(ps);
        for (int i = 0; i < n; i++) {
                char key[300];
                snprintf(key, sizeof key, "grad.%s", socfw_params_name(ps, i));
                size_t k;
                float *g = arch_ref_f32(ref, key, &k);
                cr_assert_eq((int64_t)k, socfw_params_numel(ps, i), "%s",
                             key);
                double scale = arch_max_abs(g, k);
                cr_expect_gt(scale, 1e-6, "%s: %s is zero in the reference",
                             fx, key);
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
        cr_log_info("%s: %d adapter gradients, worst relative diff %.3g (%s)",
                    fx, n, worst, worst_name);
}

/* KV-cache decoding with the adapter attached against the reference
 * logits (computed by the full forward with the adapter). */
static void
check_decode(const char *fx, socfw_model *m, const int32_t *ids, int B,
             int T, const float *ref_logits)
{
        int V = socfw_model_config_of(m)->vocab_size;
        socfw_model_kv *kv = NULL;
        socfw_error err = {0};
        float *step = malloc(sizeof(float) * V);
        cr_assert_eq(socfw_model_kv_new(&kv, m, T, &err), 0, "%s",
                     err.message);
        double dprompt = 0, dtok = 0;
        for (int b = 0; b < B; b++) {
                /* the whole prompt at once */
                socfw_model_kv_reset(kv);
                cr_assert_eq(socfw_model_decode_step(m, kv, ids + b * T, T,
                                                     step, &err), 0, "%s",
                             err.message);
                double d = arch_max_diff(step, ref_logits +
                                         ((size_t)b * T + T - 1) * V, V);
                dprompt = d > dprompt ? d : dprompt;
                /* a 3-token prompt, then token by token */
                socfw_model_kv_reset(kv);
                cr_assert_eq(socfw_model_decode_step(m, kv, ids + b * T, 3,
                                                     step, &err), 0, "%s",
                             err.message);
                d = arch_max_diff(step, ref_logits + ((size_t)b * T + 2) * V,
                                  V);
                dtok = d > dtok ? d : dtok;
                for (int t = 3; t < T; t++) {
                        cr_assert_eq(socfw_model_decode_step(
                                             m, kv, ids + b * T + t, 1, step,
                                             &err), 0, "%s", err.message);
                        d = arch_max_diff(step, ref_logits +
                                          ((size_t)b * T + t) * V, V);
                        dtok = d > dtok ? d : dtok;
                }
        }
        cr_log_info("%s: kv decode with the adapter vs torch: prompt %.3g, "
                    "token by token %.3g", fx, dprompt, dtok);
        cr_expect_lt(dprompt, OUT_TOL, "%s: decode of a %d-token prompt", fx,
                     T);
        cr_expect_lt(dtok, OUT_TOL, "%s: token-by-token decode", fx);
        socfw_model_kv_free(kv);
        free(step);
}

/* Merge into a fresh copy of the backbone: the merged model alone gives
 * the outputs of backbone + adapter. */
static void
check_merge(const pcase *pc, socfw_adapter *a, const int32_t *ids,
            const int32_t *mask, int B, int T, const float *want_hidden,
            const float *ref_logits)
{
        socfw_model *m2 = arch_load_fixture(pc->arch);
        const socfw_model_config *c = socfw_model_config_of(m2);
        int N = B * T, C = c->hidden;
        socfw_error err = {0};
        int rc = socfw_adapter_merge(a, m2, &err);
        if (pc->type == SOCFW_ADAPTER_BOTTLENECK ||
            pc->type == SOCFW_ADAPTER_PREFIX ||
            pc->type == SOCFW_ADAPTER_PROMPT) {
                cr_expect_eq(rc, SOCFW_EUNSUPPORTED, "%s: merge gave %d",
                             pc->name, rc);
                cr_expect(strstr(err.message,
                                 socfw_adapter_type_name(pc->type)) != NULL,
                          "%s", err.message);
                socfw_model_free(m2);
                return;
        }
        if (pc->embed && c->arch == SOCFW_ARCH_GPT2) {
                /* GPT-2's LM head is the embedding table */
                cr_expect_eq(rc, SOCFW_EUNSUPPORTED, "%s: merge gave %d",
                             pc->name, rc);
                cr_expect(strstr(err.message, "LM head") != NULL, "%s",
                          err.message);
                socfw_model_free(m2);
                return;
        }
        cr_assert_eq(rc, 0, "%s: merge: %s", pc->name, err.message);
        cr_assert_null(socfw_model_attached(m2));
        float *h = malloc(sizeof(float) * N * C);
        cr_assert_eq(socfw_model_forward(m2, ids, mask, NULL, B, T, false, 0,
                                         NULL, h, &err), 0, "%s",
                     err.message);
        double dh = masked_diff(h, want_hidden, mask, N, C);
        double dl = 0;
        if (ref_logits) {
                float *lg = malloc(sizeof(float) * N * c->vocab_size);
                cr_assert_eq(socfw_model_lm_logits(m2, h, N, lg, &err), 0);
                dl = arch_max_diff(lg, ref_logits,
                                   (size_t)N * c->vocab_size);
                free(lg);
        }
        if (ref_logits)
                cr_log_info("%s: merged model vs backbone + adapter: hidden "
                            "%.3g, logits vs torch %.3g", pc->name, dh, dl);
        else
                cr_log_info("%s: merged model vs backbone + adapter: hidden "
                            "%.3g", pc->name, dh);
        cr_expect_lt(dh, OUT_TOL, "%s merged hidden", pc->name);
        cr_expect_lt(dl, OUT_TOL, "%s merged logits", pc->name);
        free(h);
        socfw_model_free(m2);
}

/* With the backbone trainable too, the gradients of the base weights
 * under the adapter (the reference keeps two per case as
 * grad.backbone.<name>): the frozen projection's weight gradient must see
 * the adapter's scaled input / output gradient. */
static void
check_backbone_grads(const pcase *pc, socfw_adapter *a,
                     const socfw_modelfile *ref)
{
        socfw_model *m = arch_load_fixture(pc->arch);
        const socfw_model_config *c = socfw_model_config_of(m);
        bool dec = c->arch != SOCFW_ARCH_BERT && c->arch != SOCFW_ARCH_ROBERTA;
        const socfw_tensor_info *ti = arch_ref_info(ref, "input_ids");
        int B = (int)ti->shape[0], T = (int)ti->shape[1], N = B * T;
        int C = c->hidden, V = c->vocab_size;
        int32_t *ids = arch_ref_i32(ref, "input_ids", NULL);
        int32_t *mask = arch_ref_i32(ref, "attention_mask", NULL);
        float *hidden = malloc(sizeof(float) * N * C);
        float *dhidden = calloc((size_t)N * C, sizeof(float));
        socfw_error err = {0};
        socfw_params *mps = socfw_model_params(m);
        socfw_model_freeze(m, -1, true);
        socfw_params_zero_grad(mps);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, false, 0,
                                         NULL, hidden, &err), 0);
        if (dec) {
                float *logits = malloc(sizeof(float) * N * V);
                float *dlogits = malloc(sizeof(float) * N * V);
                int32_t *tgt = arch_ref_i32(ref, "targets", NULL);
                float l;
                cr_assert_eq(socfw_model_lm_logits(m, hidden, N, logits,
                                                   &err), 0);
                cr_assert_eq(socfw_nn_cross_entropy_forward_backward(
                                     &l, NULL, dlogits, logits, tgt, N, V,
                                     NULL, &err), 0);
                cr_assert_eq(socfw_model_lm_logits_backward(
                                     m, hidden, dlogits, N, dhidden, &err),
                             0);
                free(logits);
                free(dlogits);
                free(tgt);
        } else {
                float *dh_ref = arch_ref_f32(ref, "dhidden", NULL);
                memcpy(dhidden, dh_ref, sizeof(float) * N * C);
                free(dh_ref);
        }
        socfw_params_zero_grad(socfw_adapter_params(a));
        cr_assert_eq(socfw_model_backward(m, dhidden, &err), 0, "%s",
                     err.message);
        int seen = 0;
        for (size_t i = 0; i < socfw_modelfile_n_tensors(ref); i++) {
                const socfw_tensor_info *t = socfw_modelfile_tensor(ref, i);
                const char *pre = "grad.backbone.";
                if (strncmp(t->name, pre, strlen(pre)) != 0)
                        continue;
                const char *name = t->name + strlen(pre);
                int idx = socfw_params_find(mps, name);
                cr_assert_geq(idx, 0, "%s: no backbone tensor %s", pc->name,
                              name);
                size_t k;
                float *g = arch_ref_f32(ref, t->name, &k);
                cr_assert_eq((int64_t)k, socfw_params_numel(mps, idx));
                double scale = arch_max_abs(g, k);
                double rel = arch_max_diff(socfw_params_grad(mps, idx), g,
                                           k) / (scale > 1e-12 ? scale : 1);
                cr_log_info("%s: backbone %s gradient under the adapter, "
                            "relative diff %.3g", pc->name, name, rel);
                cr_expect_lt(rel, GRAD_RTOL, "%s: backbone %s", pc->name,
                             name);
                seen++;
                free(g);
        }
        /* prompt tuning: the word embedding too, which its virtual rows
         * must not reach; an embedding LoRA: the table's own gradient
         * stays what it is without the adapter */
        cr_expect_eq(seen, pc->type == SOCFW_ADAPTER_PROMPT || pc->embed
                                   ? 3 : 2);
        /* the adapter's own gradients are the same with a trainable
         * backbone */
        check_adapter_grads(pc->name, a, ref);
        socfw_model_attach(m, NULL, NULL);
        free(ids);
        free(mask);
        free(hidden);
        free(dhidden);
        socfw_model_free(m);
}

/* A prefix_projection adapter saved and loaded back: the file holds the
 * folded rows (the reference's prompt_embeddings) and PEFT's config for
 * it; loaded, it is a plain prefix (no MLP) that computes what the
 * projected adapter computed. */
static void
check_fold(const pcase *pc, socfw_adapter *a, const socfw_modelfile *ref,
           const int32_t *ids, const int32_t *mask, int B, int T,
           const float *want_hidden)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_model *m = arch_load_fixture(pc->arch);
        const socfw_model_config *c = socfw_model_config_of(m);
        socfw_error err = {0};
        cr_assert_eq(socfw_adapter_save(a, m, dir, "t", NULL, &err), 0, "%s",
                     err.message);
        snprintf(path, sizeof path, "%s/adapter_config.json", dir);
        char *text = socfw_test_read_file(path, NULL);
        cr_assert_not_null(text);
        cr_expect(strstr(text, "\"prefix_projection\": true") != NULL, "%s",
                  text);
        cr_expect(strstr(text, "\"encoder_hidden_size\": 12") != NULL, "%s",
                  text);
        cr_expect(strstr(text, "\"PREFIX_TUNING\"") != NULL, "%s", text);
        free(text);
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        socfw_modelfile *mf = NULL;
        cr_assert_eq(socfw_modelfile_open(&mf, path, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), 1, "only the rows");
        const socfw_tensor_info *t = socfw_modelfile_find(mf,
                                                          "prompt_embeddings");
        cr_assert_not_null(t);
        size_t k;
        float *want = arch_ref_f32(ref, "prompt_embeddings", &k);
        cr_assert_eq((size_t)t->nelem, k, "prompt_embeddings size");
        float *got = malloc(sizeof(float) * k);
        cr_assert_eq(socfw_modelfile_read_f32(mf, t, got, k, &err), 0);
        double de = arch_max_diff(got, want, k);
        socfw_modelfile_close(mf);

        socfw_adapter *b = NULL;
        cr_assert_eq(socfw_adapter_load(&b, m, dir, true, &err), 0, "%s",
                     err.message);
        cr_expect(!socfw_adapter_prefix_projected(b), "loading needs no MLP");
        cr_expect_eq(socfw_adapter_prefix_length(b), 3);
        cr_expect_eq(socfw_params_count(socfw_adapter_params(b)),
                     2 * c->n_layers);
        int N = B * T, C = c->hidden;
        float *h = malloc(sizeof(float) * N * C);
        cr_assert_eq(socfw_model_attach(m, b, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, false, 0,
                                         NULL, h, &err), 0, "%s",
                     err.message);
        double dh = masked_diff(h, want_hidden, mask, N, C);
        cr_log_info("%s: folded file vs torch's rows %.3g; its outputs vs "
                    "the projected adapter's %.3g", pc->name, de, dh);
        cr_expect_lt(de, OUT_TOL, "%s: folded rows", pc->name);
        cr_expect_lt(dh, OUT_TOL, "%s: folded outputs", pc->name);
        socfw_model_attach(m, NULL, NULL);
        socfw_adapter_free(b);
        socfw_model_free(m);
        free(h);
        free(got);
        free(want);
}

static void
check_case(const pcase *pc)
{
        const char *fx = pc->name;
        socfw_model *m = arch_load_fixture(pc->arch);
        socfw_params *mps = socfw_model_params(m);
        socfw_modelfile *ref = peft_fixture_open(fx, "ref.safetensors");
        socfw_modelfile *adf = peft_fixture_open(fx, "adapter.safetensors");
        const socfw_model_config *c = socfw_model_config_of(m);
        const socfw_tensor_info *ti = arch_ref_info(ref, "input_ids");
        int B = (int)ti->shape[0], T = (int)ti->shape[1], N = B * T;
        int C = c->hidden, V = c->vocab_size;
        bool dec = c->arch != SOCFW_ARCH_BERT && c->arch != SOCFW_ARCH_ROBERTA;
        int32_t *ids = arch_ref_i32(ref, "input_ids", NULL);
        int32_t *mask = arch_ref_i32(ref, "attention_mask", NULL);
        float *ref_hidden = arch_ref_f32(ref, "hidden", NULL);
        float *ref_loss = arch_ref_f32(ref, "loss", NULL);
        float *ref_logits = dec ? arch_ref_f32(ref, "logits", NULL) : NULL;
        float *hidden = malloc(sizeof(float) * N * C);
        float *base = malloc(sizeof(float) * N * C);
        float *dhidden = calloc((size_t)N * C, sizeof(float));
        socfw_error err = {0};

        /* the backbone alone, for "the adapter changes something" */
        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, false, 0,
                                         NULL, base, &err), 0, "%s",
                     err.message);

        socfw_adapter_config ac = case_config(pc);
        socfw_adapter *a = NULL;
        cr_assert_eq(socfw_adapter_new(&a, m, &ac, 1, &err), 0, "%s: %s", fx,
                     err.message);
        peft_load_tensors(a, adf);
        float expect_scale = pc->type == SOCFW_ADAPTER_ADALORA
                                     ? 6.0f / (3.0f + 1e-5f) /* PEFT's */
                             : pc->type != SOCFW_ADAPTER_LORA ? 1.0f
                             : pc->rslora ? 6.0f / sqrtf(3.0f) : 2.0f;
        cr_expect_float_eq(socfw_adapter_lora_scale(a), expect_scale, 1e-6);

        socfw_model_freeze(m, 0, false);
        memset(socfw_params_grad_buffer(mps), 0,
               sizeof(float) * (size_t)socfw_params_size(mps));
        float *snap = peft_snapshot(mps);
        cr_assert_eq(socfw_model_attach(m, a, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_model_attached(m), a);

        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, false, 0,
                                         NULL, hidden, &err), 0, "%s",
                     err.message);
        double dh = masked_diff(hidden, ref_hidden, mask, N, C);
        double change = masked_diff(hidden, base, mask, N, C);
        cr_log_info("%s: max |hidden - torch| %.3g (the adapter moved it by "
                    "%.3g)", fx, dh, change);
        cr_expect_lt(dh, OUT_TOL, "%s hidden", fx);
        cr_expect_gt(change, 0.1, "%s: the adapter changes too little", fx);

        double loss = 0;
        if (dec) {
                float *logits = malloc(sizeof(float) * N * V);
                float *dlogits = malloc(sizeof(float) * N * V);
                int32_t *tgt = arch_ref_i32(ref, "targets", NULL);
                cr_assert_eq(socfw_model_lm_logits(m, hidden, N, logits,
                                                   &err), 0, "%s",
                             err.message);
                double dl = arch_max_diff(logits, ref_logits, (size_t)N * V);
                cr_log_info("%s: max |logits - torch| %.3g", fx, dl);
                cr_expect_lt(dl, OUT_TOL, "%s logits", fx);
                float l;
                cr_assert_eq(socfw_nn_cross_entropy_forward_backward(
                                     &l, NULL, dlogits, logits, tgt, N, V,
                                     NULL, &err), 0, "%s", err.message);
                loss = l;
                cr_assert_eq(socfw_model_lm_logits_backward(
                                     m, hidden, dlogits, N, dhidden, &err),
                             0, "%s", err.message);
                free(logits);
                free(dlogits);
                free(tgt);
        } else {
                float *dh_ref = arch_ref_f32(ref, "dhidden", NULL);
                memcpy(dhidden, dh_ref, sizeof(float) * N * C);
                for (size_t i = 0; i < (size_t)N * C; i++)
                        loss += (double)hidden[i] * dh_ref[i];
                free(dh_ref);
        }
        cr_log_info("%s: loss %.6f, torch %.6f", fx, loss, ref_loss[0]);
        cr_expect_lt(fabs(loss - ref_loss[0]), 1e-4 * (1 + fabs(loss)),
                     "%s loss", fx);

        socfw_params_zero_grad(socfw_adapter_params(a));
        cr_assert_eq(socfw_model_backward(m, dhidden, &err), 0, "%s",
                     err.message);
        check_adapter_grads(fx, a, ref);
        cr_expect(peft_grads_zero(mps), "%s: a frozen backbone tensor got a "
                  "gradient", fx);
        cr_expect(peft_same(mps, snap), "%s: the backbone was written", fx);

        if (dec)
                check_decode(fx, m, ids, B, T, ref_logits);
        cr_expect(peft_same(mps, snap), "%s: decoding wrote the backbone",
                  fx);

        /* merging needs the adapter detached */
        if (pc->type != SOCFW_ADAPTER_BOTTLENECK) {
                socfw_error e2 = {0};
                cr_expect_eq(socfw_adapter_merge(a, m, &e2), SOCFW_ESTATE);
                cr_expect(peft_same(mps, snap));
        }
        cr_assert_eq(socfw_model_attach(m, NULL, &err), 0);
        cr_assert_null(socfw_model_attached(m));
        check_merge(pc, a, ids, mask, B, T, hidden, ref_logits);
        check_backbone_grads(pc, a, ref);
        if (pc->proj)
                check_fold(pc, a, ref, ids, mask, B, T, hidden);

        /* detached: the plain backbone again, bitwise */
        float *again = malloc(sizeof(float) * N * C);
        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, false, 0,
                                         NULL, again, &err), 0);
        cr_expect(memcmp(again, base, sizeof(float) * N * C) == 0,
                  "%s: detaching did not restore the backbone", fx);

        free(again);
        free(snap);
        socfw_adapter_free(a);
        free(ids);
        free(mask);
        free(ref_hidden);
        free(ref_loss);
        free(ref_logits);
        free(hidden);
        free(base);
        free(dhidden);
        socfw_modelfile_close(ref);
        socfw_modelfile_close(adf);
        socfw_model_free(m);
}

#define LORA(n, a, t, rs) \
        {n, a, SOCFW_ADAPTER_LORA, t, rs, SOCFW_ADAPTER_ACT_RELU, false, \
         false}
#define LORA_EMBED(n, a) \
        {n, a, SOCFW_ADAPTER_LORA, BIT(ATTN_Q) | BIT(ATTN_V), false, \
         SOCFW_ADAPTER_ACT_RELU, false, true}
#define IA3(n, a) {n, a, SOCFW_ADAPTER_IA3, IA3_DEFAULT, false, \
                   SOCFW_ADAPTER_ACT_RELU, false, false}
#define ADALORA(n, a, t) {n, a, SOCFW_ADAPTER_ADALORA, t, false, \
                        SOCFW_ADAPTER_ACT_RELU, false, false}
#define PREFIX(n, a) {n, a, SOCFW_ADAPTER_PREFIX, 0, false, \
                     SOCFW_ADAPTER_ACT_RELU, false, false}
#define PREFIX_PROJ(n, a) {n, a, SOCFW_ADAPTER_PREFIX, 0, false, \
                          SOCFW_ADAPTER_ACT_RELU, true, false}
#define PROMPT(n, a) {n, a, SOCFW_ADAPTER_PROMPT, 0, false, \
                     SOCFW_ADAPTER_ACT_RELU, false, false}
#define BOTTLENECK(n, a, t, act) \
        {n, a, SOCFW_ADAPTER_BOTTLENECK, t, false, SOCFW_ADAPTER_ACT_##act, \
         false, false}

static const pcase cases[] = {
        LORA("gpt2_lora", "gpt2", ALL_NO_GATE, false),
        IA3("gpt2_ia3", "gpt2"),
        BOTTLENECK("gpt2_houlsby", "gpt2", HOULSBY, RELU),
        BOTTLENECK("gpt2_pfeiffer_gelu", "gpt2", BIT(MLP_DOWN), GELU),
        ADALORA("gpt2_adalora", "gpt2", ALL_NO_GATE),
        ADALORA("bert_adalora", "bert", ALL_NO_GATE),
        ADALORA("llama_adalora", "llama", SOCFW_SITE_ALL),
        PREFIX("gpt2_prefix", "gpt2"),
        PREFIX("bert_prefix", "bert"),
        PREFIX("llama_prefix", "llama"),
        PREFIX_PROJ("gpt2_prefix_proj", "gpt2"),
        PREFIX_PROJ("bert_prefix_proj", "bert"),
        PREFIX_PROJ("llama_prefix_proj", "llama"),
        PROMPT("gpt2_prompt", "gpt2"),
        PROMPT("bert_prompt", "bert"),
        PROMPT("llama_prompt", "llama"),
        LORA("bert_lora", "bert", ALL_NO_GATE, false),
        IA3("bert_ia3", "bert"),
        BOTTLENECK("bert_houlsby", "bert", HOULSBY, RELU),
        BOTTLENECK("bert_pfeiffer_gelu", "bert", BIT(MLP_DOWN), GELU),
        LORA("llama_lora", "llama", SOCFW_SITE_ALL, false),
        LORA("llama_lora_rslora", "llama", SOCFW_SITE_ALL, true),
        IA3("llama_ia3", "llama"),
        BOTTLENECK("llama_houlsby", "llama", HOULSBY, RELU),
        BOTTLENECK("llama_houlsby_silu", "llama", HOULSBY, SILU),
        LORA_EMBED("gpt2_lora_embed", "gpt2"),
        LORA_EMBED("bert_lora_embed", "bert"),
        LORA_EMBED("llama_lora_embed", "llama"),
};

static const pcase *
find_case(const char *name)
{
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
                if (strcmp(cases[i].name, name) == 0)
                        return &cases[i];
        cr_assert_fail("no case %s", name);
        return NULL;
}

#define CASE(id)                                       \
        Test(peft_torch, id, .timeout = 60)            \
        {                                              \
                check_case(find_case(#id));            \
        }

CASE(gpt2_lora)
CASE(gpt2_ia3)
CASE(gpt2_houlsby)
CASE(gpt2_pfeiffer_gelu)
CASE(bert_lora)
CASE(bert_ia3)
CASE(bert_houlsby)
CASE(bert_pfeiffer_gelu)
CASE(llama_lora)
CASE(llama_lora_rslora)
CASE(llama_ia3)
CASE(llama_houlsby)
CASE(llama_houlsby_silu)
CASE(gpt2_adalora)
CASE(bert_adalora)
CASE(llama_adalora)
CASE(gpt2_prefix)
CASE(bert_prefix)
CASE(llama_prefix)
CASE(gpt2_prefix_proj)
CASE(bert_prefix_proj)
CASE(llama_prefix_proj)
CASE(gpt2_prompt)
CASE(bert_prompt)
CASE(llama_prompt)
CASE(gpt2_lora_embed)
CASE(bert_lora_embed)
CASE(llama_lora_embed)

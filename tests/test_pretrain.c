/* tests/test_pretrain.c - masked-LM pretraining of encoders: the MLM output
 * layer against PyTorch and finite differences, BERT masking statistics,
 * and the runtime end to end (WordPiece / byte-level BPE vocabulary, BERT /
 * RoBERTa from scratch, continued pretraining, saved backbone loaded back
 * and fine-tuned). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "socfw/model.h"
#include "socfw/modelfile.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "socfw/runtime.h"
#include "socfw/tokenizer.h"
#include "testutil.h"
#include "train/mlm.h"

/* ---- the MLM output layer against PyTorch ---- */

typedef struct fixture {
        int M, C, V;
        float eps, loss;
        int correct;
        char *names[32];
        float *vals[32];
        size_t lens[32];
        int n;
} fixture;

static void
fixture_load(fixture *f, const char *rel)
{
        char path[4096];
        socfw_test_path(path, sizeof path, socfw_test_srcdir(), rel);
        FILE *in = fopen(path, "r");
        cr_assert_not_null(in, "cannot open %s", path);
        memset(f, 0, sizeof *f);
        char word[64], name[64];
        while (fscanf(in, "%63s", word) == 1) {
                if (!strcmp(word, "dims")) {
                        cr_assert_eq(fscanf(in, "%d %d %d", &f->M, &f->C,
                                            &f->V), 3);
                } else if (!strcmp(word, "eps")) {
                        cr_assert_eq(fscanf(in, "%f", &f->eps), 1);
                } else if (!strcmp(word, "scalar")) {
                        double v;
                        cr_assert_eq(fscanf(in, "%63s %lf", name, &v), 2);
                        if (!strcmp(name, "loss"))
                                f->loss = (float)v;
                        else if (!strcmp(name, "correct"))
                                f->correct = (int)v;
                } else if (!strcmp(word, "tensor")) {
                        size_t n;
                        cr_assert_eq(fscanf(in, "%63s %zu", name, &n), 2);
                        cr_assert_lt(f->n, 32);
                        f->names[f->n] = strdup(name);
                        f->vals[f->n] = malloc(n * sizeof(float));
                        f->lens[f->n] = n;
                        for (size_t i = 0; i < n; i++)
                                cr_assert_eq(fscanf(in, "%f",
                                                    &f->vals[f->n][i]), 1);
                        f->n++;
                } else {
                        cr_assert_fail("%s: unexpected '%s'", path, word);
                }
        }
        fclose(in);
}

static float *
fixture_tensor(const fixture *f, const char *name, size_t n)
{
        for (int i = 0; i < f->n; i++)
                if (!strcmp(f->names[i], name)) {
                        cr_assert_eq(f->lens[i], n, "%s: %zu values", name,
                                     f->lens[i]);
                        return f->vals[i];
                }
        cr_assert_fail("fixture has no tensor %s", name);
        return NULL;
}

static void
fixture_free(fixture *f)
{
        for (int i = 0; i < f->n; i++) {
                free(f->names[i]);
                free(f->vals[i]);
        }
}

/* max |a - b| / (1 + |b|) */
static double
maxdiff(const float *a, const float *b, size_t n)
{
        double m = 0;
        for (size_t i = 0; i < n; i++) {
                double d = fabs((double)a[i] - b[i]) / (1 + fabs(b[i]));
                if (d > m)
                        m = d;
        }
        return m;
}

Test(mlm_head, matches_pytorch)
{
        fixture f;
        fixture_load(&f, "tests/fixtures/pretrain/mlm_head.txt");
        int M = f.M, C = f.C, V = f.V;
        rt_mlm_head *h = NULL;
        socfw_error err = {0};
        cr_assert_eq(rt_mlm_head_new(&h, SOCFW_ARCH_BERT, C, V, f.eps, 1,
                                     &err),
                     0, "%s", err.message);
        struct {
                const char *name;
                int idx;
                size_t n;
        } p[] = {
                {"dense_w", h->dense_w, (size_t)C * C},
                {"dense_b", h->dense_b, (size_t)C},
                {"ln_w", h->ln_w, (size_t)C},
                {"ln_b", h->ln_b, (size_t)C},
                {"bias", h->bias, (size_t)V},
        };
        for (int i = 0; i < 5; i++)
                memcpy(socfw_params_data(h->ps, p[i].idx),
                       fixture_tensor(&f, p[i].name, p[i].n),
                       p[i].n * sizeof(float));
        const float *x = fixture_tensor(&f, "x", (size_t)M * C);
        const float *emb = fixture_tensor(&f, "emb", (size_t)V * C);
        const float *tf = fixture_tensor(&f, "target", (size_t)M);
        int32_t tgt[64];
        for (int i = 0; i < M; i++)
                tgt[i] = (int32_t)tf[i];
        float *dx = calloc((size_t)M * C, sizeof(float));
        float *demb = calloc((size_t)V * C, sizeof(float));
        float loss = 0;
        int correct = -1;
        cr_assert_eq(rt_mlm_head_step(h, x, M, emb, demb, tgt, &loss,
                                      &correct, dx, &err),
                     0, "%s", err.message);
        double worst = fabs(loss - f.loss);
        cr_log_info("mlm head vs torch: loss %.7f vs %.7f", loss, f.loss);
        cr_expect_float_eq(loss, f.loss, 1e-5, "loss %.7f vs %.7f", loss,
                           f.loss);
        cr_expect_eq(correct, f.correct);
        double d = maxdiff(dx, fixture_tensor(&f, "grad:x", (size_t)M * C),
                           (size_t)M * C);
        cr_log_info("  grad x max diff %.3g", d);
        cr_expect_lt(d, 1e-5, "grad x %.3g", d);
        worst = fmax(worst, d);
        d = maxdiff(demb, fixture_tensor(&f, "grad:emb", (size_t)V * C),
                    (size_t)V * C);
        cr_log_info("  grad embeddings max diff %.3g", d);
        cr_expect_lt(d, 1e-5, "grad emb %.3g", d);
        worst = fmax(worst, d);
        for (int i = 0; i < 5; i++) {
                char gname[64];
                snprintf(gname, sizeof gname, "grad:%s", p[i].name);
                d = maxdiff(socfw_params_grad(h->ps, p[i].idx),
                            fixture_tensor(&f, gname, p[i].n), p[i].n);
                cr_log_info("  %s max diff %.3g", gname, d);
                cr_expect_lt(d, 1e-5, "%s %.3g", gname, d);
                worst = fmax(worst, d);
        }
        fprintf(stderr, "mlm head vs PyTorch: max difference %.3g\n", worst);
        /* a second step accumulates (+=) into the gradients */
        float g0 = socfw_params_grad(h->ps, h->bias)[0];
        cr_assert_eq(rt_mlm_head_step(h, x, M, emb, NULL, tgt, NULL, NULL,
                                      NULL, &err),
                     0);
        cr_expect_float_eq(socfw_params_grad(h->ps, h->bias)[0], 2 * g0,
                           1e-6);
        /* HF names of BertForMaskedLM */
        cr_expect_str_eq(socfw_params_name(h->ps, h->dense_w),
                         "cls.predictions.transform.dense.weight");
        cr_expect_str_eq(socfw_params_name(h->ps, h->bias),
                         "cls.predictions.bias");
        /* a target outside the vocabulary is an error, not a crash */
        tgt[0] = V;
        cr_expect_lt(rt_mlm_head_step(h, x, M, emb, NULL, tgt, NULL, NULL,
                                      NULL, &err),
                     0);
        free(dx);
        free(demb);
        rt_mlm_head_free(h);
        fixture_free(&f);
}

/* Loss of the head on fixed inputs, in double from float kernels. */
static double
head_loss(rt_mlm_head *h, const float *x, int M, const float *emb,
          const int32_t *tgt)
{
        float loss = 0;
        cr_assert_eq(rt_mlm_head_step(h, x, M, emb, NULL, tgt, &loss, NULL,
                                      NULL, NULL),
                     0);
        return loss;
}

/* A step with fewer masked rows than an earlier one gives the gradients a
 * fresh head gives: nothing of the earlier, larger step leaks in (its
 * scratch rows sit `cap` rows apart). */
Test(mlm_head, a_smaller_step_after_a_larger_one_is_clean)
{
        enum { BIG = 8, M = 3, C = 8, V = 13 };
        rt_mlm_head *used = NULL, *fresh = NULL;
        cr_assert_eq(rt_mlm_head_new(&used, SOCFW_ARCH_BERT, C, V, 1e-12f, 5,
                                     NULL),
                     0);
        cr_assert_eq(rt_mlm_head_new(&fresh, SOCFW_ARCH_BERT, C, V, 1e-12f, 5,
                                     NULL),
                     0);
        float x[BIG * C], emb[V * C], dx1[BIG * C], dx2[BIG * C];
        int32_t tgt[BIG];
        socfw_rng r;
        socfw_rng_seed(&r, 9);
        for (int i = 0; i < BIG * C; i++)
                x[i] = socfw_rng_normal(&r);
        for (int i = 0; i < V * C; i++)
                emb[i] = 0.1f * socfw_rng_normal(&r);
        for (int i = 0; i < BIG; i++)
                tgt[i] = (i * 5) % V;
        float loss;
        memset(dx1, 0, sizeof dx1);
        cr_assert_eq(rt_mlm_head_step(used, x, BIG, emb, NULL, tgt, &loss,
                                      NULL, dx1, NULL),
                     0);
        socfw_params_zero_grad(used->ps);
        memset(dx1, 0, sizeof dx1);
        memset(dx2, 0, sizeof dx2);
        cr_assert_eq(rt_mlm_head_step(used, x, M, emb, NULL, tgt, &loss, NULL,
                                      dx1, NULL),
                     0);
        cr_assert_eq(rt_mlm_head_step(fresh, x, M, emb, NULL, tgt, &loss,
                                      NULL, dx2, NULL),
                     0);
        cr_expect_eq(memcmp(dx1, dx2, sizeof(float) * M * C), 0,
                     "input gradients differ");
        for (int k = 0; k < socfw_params_count(used->ps); k++)
                cr_expect_eq(memcmp(socfw_params_grad(used->ps, k),
                                    socfw_params_grad(fresh->ps, k),
                                    sizeof(float) *
                                            (size_t)socfw_params_numel(
                                                    used->ps, k)),
                             0, "%s: gradients differ",
                             socfw_params_name(used->ps, k));
        rt_mlm_head_free(used);
        rt_mlm_head_free(fresh);
}

Test(mlm_head, finite_differences)
{
        enum { M = 5, C = 8, V = 13 };
        rt_mlm_head *h = NULL;
        cr_assert_eq(rt_mlm_head_new(&h, SOCFW_ARCH_ROBERTA, C, V, 1e-5f, 3,
                                     NULL),
                     0);
        cr_expect_str_eq(socfw_params_name(h->ps, h->ln_w),
                         "lm_head.layer_norm.weight");
        socfw_rng rng;
        socfw_rng_seed(&rng, 11);
        float x[M * C], emb[V * C], dx[M * C] = {0}, demb[V * C] = {0};
        int32_t tgt[M];
        for (int i = 0; i < M * C; i++)
                x[i] = socfw_rng_normal(&rng);
        for (int i = 0; i < V * C; i++)
                emb[i] = 0.5f * socfw_rng_normal(&rng);
        for (int i = 0; i < M; i++)
                tgt[i] = (int32_t)socfw_rng_below(&rng, V);
        /* non-trivial parameters */
        for (int k = 0; k < socfw_params_count(h->ps); k++) {
                float *w = socfw_params_data(h->ps, k);
                for (int64_t i = 0; i < socfw_params_numel(h->ps, k); i++)
                        w[i] += (k == h->dense_w ? 0.3f : 0.1f) *
                                socfw_rng_normal(&rng);
        }
        cr_assert_eq(rt_mlm_head_step(h, x, M, emb, demb, tgt, NULL, NULL,
                                      dx, NULL),
                     0);
        /* copy the analytic gradients before the probes add to them */
        int np = (int)socfw_params_size(h->ps);
        float *g = malloc(sizeof(float) * (size_t)np);
        memcpy(g, socfw_params_grad_buffer(h->ps), sizeof(float) * np);
        const float step = 1e-2f;
        double worst = 0;
        int checked = 0;
        /* every parameter tensor, x and the embeddings: a few entries each */
        for (int k = -2; k < socfw_params_count(h->ps); k++) {
                float *w = k == -2   ? x
                           : k == -1 ? emb
                                     : socfw_params_data(h->ps, k);
                size_t n = k == -2   ? (size_t)M * C
                           : k == -1 ? (size_t)V * C
                                     : (size_t)socfw_params_numel(h->ps, k);
                const float *an =
                        k == -2   ? dx
                        : k == -1 ? demb
                                  : g + socfw_params_offset(h->ps, k);
                for (size_t j = 0; j < n; j += n / 4 + 1) {
                        float keep = w[j];
                        w[j] = keep + step;
                        double lp = head_loss(h, x, M, emb, tgt);
                        w[j] = keep - step;
                        double lm = head_loss(h, x, M, emb, tgt);
                        w[j] = keep;
                        double num = (lp - lm) / (2 * step);
                        double d = fabs(num - an[j]) / (1e-2 + fabs(num));
                        if (fabs(num - an[j]) < 2e-4)
                                d = 0; /* float noise near zero */
                        cr_expect_lt(d, 2e-2, "tensor %d [%zu]: numeric %.6f "
                                              "analytic %.6f", k, j, num,
                                     an[j]);
                        worst = fmax(worst, d);
                        checked++;
                }
        }
        cr_log_info("mlm head finite differences: %d entries, worst "
                    "relative error %.3g", checked, worst);
        cr_expect_gt(checked, 20);
        free(g);
        rt_mlm_head_free(h);
}

/* ---- masking ---- */

/* A WordPiece vocabulary: 5 specials, 40 words, 20 "##" pieces. */
static socfw_tokenizer *
toy_wordpiece(void)
{
        static char buf[80][16];
        const char *tokens[80];
        size_t n = 0;
        const char *sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
        for (int i = 0; i < 5; i++)
                tokens[n++] = sp[i];
        for (int i = 0; i < 40; i++) {
                snprintf(buf[n], sizeof buf[n], "w%c%c", 'a' + i % 26,
                         'a' + i / 26);
                tokens[n] = buf[n];
                n++;
        }
        for (int i = 0; i < 20; i++) {
                snprintf(buf[n], sizeof buf[n], "##p%c", 'a' + i);
                tokens[n] = buf[n];
                n++;
        }
        socfw_tokenizer_spec spec;
        socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_WORDPIECE);
        spec.n_tokens = n;
        spec.tokens = tokens;
        spec.special[SOCFW_TOKENIZER_PAD] = 0;
        spec.special[SOCFW_TOKENIZER_UNK] = 1;
        spec.special[SOCFW_TOKENIZER_CLS] = 2;
        spec.special[SOCFW_TOKENIZER_SEP] = 3;
        spec.special[SOCFW_TOKENIZER_MASK] = 4;
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_new(&tok, &spec, &err), 0, "%s",
                     err.message);
        return tok;
}

/* Sequences of 32: [CLS] words with pieces [SEP] padding. */
static void
toy_ids(int32_t *ids, size_t n, unsigned seed)
{
        for (size_t i = 0; i < n; i++) {
                size_t t = i % 32;
                seed = seed * 1103515245u + 12345u;
                if (t == 0)
                        ids[i] = 2;
                else if (t == 24)
                        ids[i] = 3;
                else if (t > 24)
                        ids[i] = 0;
                else if (t > 1 && ids[i - 1] != 2 && (seed >> 16) % 3 == 0)
                        ids[i] = 45 + (int32_t)((seed >> 8) % 20);
                else
                        ids[i] = 5 + (int32_t)((seed >> 8) % 40);
        }
}

Test(mlm_mask, bert_fractions_and_specials_never_masked)
{
        socfw_tokenizer *tok = toy_wordpiece();
        rt_mlm_vocab v;
        socfw_error err = {0};
        cr_assert_eq(rt_mlm_vocab_init(&v, tok, &err), 0, "%s", err.message);
        cr_assert_eq(v.mask_id, 4);
        cr_assert_eq(v.n_normal, 60); /* 40 words + 20 pieces */
        cr_assert(v.cont[45] && !v.cont[5] && v.special[0] && v.special[3]);
        enum { N = 32 * 8192 };
        int32_t *orig = malloc(sizeof(int32_t) * N);
        int32_t *ids = malloc(sizeof(int32_t) * N);
        int32_t *tgt = malloc(sizeof(int32_t) * N);
        toy_ids(orig, N, 5);
        memcpy(ids, orig, sizeof(int32_t) * N);
        socfw_rng rng;
        socfw_rng_seed(&rng, 42);
        size_t sel = rt_mlm_mask(ids, tgt, N, &v, 0.15f, 0, &rng);
        size_t eligible = 0, n_sel = 0, n_mask = 0, n_rand = 0, n_keep = 0;
        for (size_t i = 0; i < N; i++) {
                int sp = v.special[orig[i]];
                eligible += !sp;
                if (sp) {
                        cr_assert_eq(ids[i], orig[i], "special at %zu "
                                                      "changed", i);
                        cr_assert_eq(tgt[i], -100, "special at %zu is a "
                                                   "target", i);
                        continue;
                }
                if (tgt[i] == -100) {
                        cr_assert_eq(ids[i], orig[i]);
                        continue;
                }
                cr_assert_eq(tgt[i], orig[i]);
                n_sel++;
                if (ids[i] == 4)
                        n_mask++;
                else if (ids[i] == orig[i])
                        n_keep++;
                else {
                        n_rand++;
                        cr_assert(!v.special[ids[i]], "random token %d is "
                                                      "special", ids[i]);
                }
        }
        cr_assert_eq(sel, n_sel);
        double f = (double)n_sel / (double)eligible;
        double fm = (double)n_mask / n_sel, fr = (double)n_rand / n_sel,
               fk = (double)n_keep / n_sel;
        cr_log_info("masking: %.4f of %zu tokens selected; %.3f mask, %.3f "
                    "random, %.3f kept", f, eligible, fm, fr, fk);
        cr_expect(fabs(f - 0.15) < 0.005, "selected %.4f", f);
        cr_expect(fabs(fm - 0.8) < 0.01, "[MASK] %.4f", fm);
        /* a random draw equals the original 1 time in 60 */
        cr_expect(fabs(fr - 0.1 * 59 / 60) < 0.01, "random %.4f", fr);
        cr_expect(fabs(fk - (0.1 + 0.1 / 60)) < 0.01, "kept %.4f", fk);

        /* the same seed masks the same way */
        int32_t *ids2 = malloc(sizeof(int32_t) * N);
        int32_t *tgt2 = malloc(sizeof(int32_t) * N);
        memcpy(ids2, orig, sizeof(int32_t) * N);
        socfw_rng_seed(&rng, 42);
        rt_mlm_mask(ids2, tgt2, N, &v, 0.15f, 0, &rng);
        cr_expect_eq(memcmp(ids, ids2, sizeof(int32_t) * N), 0);
        cr_expect_eq(memcmp(tgt, tgt2, sizeof(int32_t) * N), 0);
        free(ids2);
        free(tgt2);

        /* prob 0 selects nothing; prob 1 every eligible token */
        memcpy(ids, orig, sizeof(int32_t) * N);
        cr_expect_eq(rt_mlm_mask(ids, tgt, N, &v, 0.0f, 0, &rng), 0);
        memcpy(ids, orig, sizeof(int32_t) * N);
        cr_expect_eq(rt_mlm_mask(ids, tgt, N, &v, 1.0f, 0, &rng), eligible);
        free(orig);
        free(ids);
        free(tgt);
        rt_mlm_vocab_clear(&v);
        socfw_tokenizer_free(tok);
}

Test(mlm_mask, whole_words_are_masked_together)
{
        socfw_tokenizer *tok = toy_wordpiece();
        rt_mlm_vocab v;
        cr_assert_eq(rt_mlm_vocab_init(&v, tok, NULL), 0);
        enum { N = 32 * 4096 };
        int32_t *orig = malloc(sizeof(int32_t) * N);
        int32_t *ids = malloc(sizeof(int32_t) * N);
        int32_t *tgt = malloc(sizeof(int32_t) * N);
        toy_ids(orig, N, 9);
        memcpy(ids, orig, sizeof(int32_t) * N);
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        rt_mlm_mask(ids, tgt, N, &v, 0.15f, 1, &rng);
        size_t words = 0, words_sel = 0, split = 0, pieces = 0;
        for (size_t i = 0; i < N;) {
                if (v.special[orig[i]]) {
                        i++;
                        continue;
                }
                size_t j = i + 1;
                while (j < N && v.cont[orig[j]])
                        j++;
                int first = tgt[i] != -100;
                for (size_t k = i + 1; k < j; k++) {
                        pieces++;
                        split += (tgt[k] != -100) != first;
                }
                words++;
                words_sel += first;
                i = j;
        }
        double f = (double)words_sel / (double)words;
        cr_log_info("whole-word masking: %.4f of %zu words (%zu pieces)", f,
                    words, pieces);
        cr_expect_gt(pieces, 1000);
        cr_expect_eq(split, 0, "%zu words masked in part", split);
        cr_expect(fabs(f - 0.15) < 0.01, "selected words %.4f", f);
        free(orig);
        free(ids);
        free(tgt);
        rt_mlm_vocab_clear(&v);
        socfw_tokenizer_free(tok);
}

Test(mlm_mask, a_vocabulary_without_mask_token_is_refused)
{
        const char *tokens[] = {"[PAD]", "[UNK]", "a", "b"};
        socfw_tokenizer_spec spec;
        socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_WORDPIECE);
        spec.n_tokens = 4;
        spec.tokens = tokens;
        socfw_tokenizer *tok = NULL;
        cr_assert_eq(socfw_tokenizer_new(&tok, &spec, NULL), 0);
        rt_mlm_vocab v;
        socfw_error err = {0};
        cr_expect_eq(rt_mlm_vocab_init(&v, tok, &err), SOCFW_EINVAL);
        cr_expect(strstr(err.message, "mask token") != NULL, "%s",
                  err.message);
        socfw_tokenizer_free(tok);
}

/* ---- the runtime end to end ---- */

TestSuite(pretrain, .init = fx_setup,
          .fini = fx_teardown, .timeout = 120);

static const char *const POS[] = {"great", "love", "awesome", "happy",
                                  "wonderful", "excellent"};
static const char *const NEG[] = {"awful", "hate", "terrible", "broken",
                                  "angry", "worst"};
static const char *const FILL[] = {"the", "phone", "order", "app", "today",
                                   "was", "my", "service", "really", "so"};

static void
write_data(const char *name, int n, unsigned seed)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                int pos = (int)((seed >> 16) & 1);
                const char *w = pos ? POS[(seed >> 8) % 6]
                                    : NEG[(seed >> 8) % 6];
                fprintf(f, "{\"text\": \"%s %s %s %s\", \"label\": \"%s\"}\n",
                        FILL[seed % 10], FILL[(seed >> 4) % 10], w,
                        FILL[(seed >> 12) % 10], pos ? "positive" : "negative");
        }
        fclose(f);
}

/* A corpus with structure a masked LM can learn: "the X was Y" where the
 * sentiment word follows its filler. */
static void
write_corpus(void)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/corpus.txt", fx.dir);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        for (int i = 0; i < 400; i++)
                fprintf(f, "%s %s %s %s was %s\n", FILL[i % 10], POS[i % 6],
                        FILL[(i / 10) % 10], NEG[(i / 3) % 6],
                        FILL[(i * 7) % 10]);
        fclose(f);
}

static const char *
pipeline(const char *backbone, const char *pretrain, const char *out)
{
        static char y[8192];
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "threads: 1\n"
                 "backbone: {%s, max_seq_len: 16, dropout: 0.1}\n"
                 "pretrain: {corpus: [corpus.txt], %s%s}\n"
                 "tasks:\n"
                 "  - name: sentiment\n"
                 "    plugin: sentiment\n"
                 "    labels: [negative, positive]\n"
                 "    data: {train: train.jsonl, valid: valid.jsonl}\n"
                 "train: {lr: 3.0e-3, epochs: 5, batch_size: 16, seed: 7,"
                 " log_every: 5}\n"
                 "evaluate: {splits: [valid]}\n"
                 "output: {dir: %s}\n",
                 backbone,
                 strstr(pretrain, "seq_len")
                         ? ""
                         : "batch_size: 8, seq_len: 16, lr: 2.0e-3, ",
                 pretrain, out);
        return y;
}

/* progress lines, kept for assertions */
static char progress_log[65536];

static void
keep(const char *line, void *user)
{
        (void)user;
        size_t n = strlen(progress_log);
        snprintf(progress_log + n, sizeof progress_log - n, "%s\n", line);
}

static socfw_runtime *
start(socfw_pipeline *p, const char *out)
{
        socfw_runtime *rt = NULL;
        socfw_error err = {0};
        progress_log[0] = '\0';
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", fx.dir, out);
        socfw_runtime_options o = {.output_dir = path, .progress = keep};
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s\n%s",
                     err.message, progress_log);
        return rt;
}

static double
metric(socfw_runtime *rt, const char *name)
{
        double v = NAN;
        cr_assert_eq(socfw_runtime_metric(rt, name, &v), 0, "no %s", name);
        return v;
}

static void
check_saved_encoder(const char *out, socfw_arch arch, const char *head)
{
        char path[4400];
        snprintf(path, sizeof path, "%s/%s/backbone", fx.dir, out);
        socfw_model *m = NULL;
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_model_load(&m, path, NULL, &err), 0, "%s",
                     err.message);
        cr_expect_eq(socfw_model_config_of(m)->arch, arch);
        cr_assert_eq(socfw_tokenizer_load(&tok, path, &err), 0, "%s",
                     err.message);
        cr_expect_eq((size_t)socfw_model_config_of(m)->vocab_size,
                     socfw_tokenizer_vocab_size(tok));
        cr_expect_geq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_MASK),
                      0);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_PAD),
                     socfw_model_config_of(m)->pad_id);
        /* the MLM head is saved under its HF name beside the backbone */
        socfw_modelfile *mf = NULL;
        cr_assert_eq(socfw_modelfile_open(&mf, path, &err), 0, "%s",
                     err.message);
        cr_expect_not_null(socfw_modelfile_find(mf, head), "no %s", head);
        socfw_modelfile_close(mf);
        socfw_tokenizer_free(tok);
        socfw_model_free(m);
}

Test(pretrain, bert_from_scratch_learns_saves_and_fine_tunes)
{
        write_corpus();
        write_data("train.jsonl", 300, 1);
        write_data("valid.jsonl", 80, 2);
        socfw_pipeline *p = fx_load(pipeline(
                "arch: bert, hidden: 32, layers: 2, heads: 2,"
                " max_positions: 32",
                "steps: 60, warmup: 5, tokenizer: {vocab_size: 200}", "bert"));
        socfw_runtime *rt = start(p, "bert");
        cr_log_info("%s", progress_log);
        cr_expect(strstr(progress_log, "WordPiece") != NULL);
        cr_expect(strstr(progress_log, "masked LM") != NULL);
        double first = metric(rt, "pretrain.first_loss");
        double last = metric(rt, "pretrain.loss");
        double acc = metric(rt, "pretrain.accuracy");
        cr_log_info("bert: masked-LM loss %.3f -> %.3f, accuracy %.3f",
                    first, last, acc);
        cr_expect_lt(last, first - 1.0, "loss %.3f -> %.3f", first, last);
        cr_expect_gt(acc, 0.1);
        check_saved_encoder("bert", SOCFW_ARCH_BERT,
                            "cls.predictions.transform.dense.weight");
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double f1 = metric(rt, "sentiment.valid.macro_f1");
        cr_log_info("bert: fine-tuned valid macro-F1 %.3f", f1);
        cr_expect_gt(f1, 0.9, "macro-F1 %.3f", f1);
        socfw_runtime_free(rt);

        /* a second run reuses the saved backbone, and predicting from the
         * finished run loads the checkpoint onto it */
        rt = start(p, "bert");
        cr_expect(strstr(progress_log, "reusing") != NULL, "%s",
                  progress_log);
        socfw_runtime_free(rt);
        char out[4200];
        snprintf(out, sizeof out, "%s/bert", fx.dir);
        socfw_runtime_options o = {.output_dir = out, .from_checkpoint = 1,
                                   .progress = keep};
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s",
                     err.message);
        socfw_runtime_free(rt);

        /* continued pretraining of the saved encoder: its MLM head is read
         * back, so the loss starts where the first run ended */
        char yaml[4400];
        snprintf(yaml, sizeof yaml, "model: %s/backbone", out);
        socfw_pipeline *q = fx_load(pipeline(yaml, "steps: 10, warmup: 2",
                                          "bert2"));
        rt = start(q, "bert2");
        cr_expect(strstr(progress_log, "continuing to pretrain") != NULL,
                  "%s", progress_log);
        cr_expect(strstr(progress_log, "masked-LM head: 5 tensors") != NULL,
                  "%s", progress_log);
        double again = metric(rt, "pretrain.first_loss");
        cr_log_info("continued: first loss %.3f (fresh %.3f, end %.3f)",
                    again, first, last);
        cr_expect_lt(again, first - 1.0);
        check_saved_encoder("bert2", SOCFW_ARCH_BERT, "cls.predictions.bias");
        socfw_runtime_free(rt);
        socfw_pipeline_free(q);
        socfw_pipeline_free(p);
}

Test(pretrain, roberta_from_scratch_with_byte_level_bpe)
{
        write_corpus();
        write_data("train.jsonl", 60, 1);
        write_data("valid.jsonl", 20, 2);
        socfw_pipeline *p = fx_load(pipeline(
                "arch: roberta, hidden: 32, layers: 1, heads: 2,"
                " max_positions: 32",
                "steps: 30, whole_word_mask: true,"
                " tokenizer: {vocab_size: 300}",
                "roberta"));
        socfw_runtime *rt = start(p, "roberta");
        cr_expect(strstr(progress_log, "byte-level BPE") != NULL);
        cr_expect(strstr(progress_log, "whole words") != NULL);
        double first = metric(rt, "pretrain.first_loss");
        double last = metric(rt, "pretrain.loss");
        cr_log_info("roberta: masked-LM loss %.3f -> %.3f", first, last);
        cr_expect_lt(last, first);
        check_saved_encoder("roberta", SOCFW_ARCH_ROBERTA, "lm_head.bias");
        char path[4200];
        snprintf(path, sizeof path, "%s/roberta/backbone", fx.dir);
        socfw_tokenizer *tok = NULL;
        cr_assert_eq(socfw_tokenizer_load(&tok, path, NULL), 0);
        /* RoBERTa's ids: <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> 4 */
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_CLS), 0);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_PAD), 1);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_SEP), 2);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_MASK),
                     4);
        socfw_tokenizer_free(tok);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

Test(pretrain, same_seed_same_backbone)
{
        write_corpus();
        write_data("train.jsonl", 40, 1);
        write_data("valid.jsonl", 10, 2);
        char *files[2];
        for (int i = 0; i < 2; i++) {
                char out[32];
                snprintf(out, sizeof out, "det%d", i);
                socfw_pipeline *p = fx_load(pipeline(
                        "arch: bert, hidden: 16, layers: 1, heads: 2,"
                        " max_positions: 32",
                        "steps: 8, tokenizer: {vocab_size: 150}", out));
                socfw_runtime *rt = start(p, out);
                socfw_runtime_free(rt);
                socfw_pipeline_free(p);
                char path[4200];
                snprintf(path, sizeof path, "%s/%s/backbone/model.safetensors",
                         fx.dir, out);
                size_t len = 0;
                files[i] = socfw_test_read_file(path, &len);
                cr_assert_not_null(files[i], "%s", path);
                cr_assert_gt(len, 1000);
                if (i)
                        cr_expect_eq(memcmp(files[0], files[1], len), 0,
                                     "two runs with one seed differ");
        }
        free(files[0]);
        free(files[1]);
}

/* The masked-LM loss through the whole encoder, as pretrain_mlm composes
 * it (forward, gather of the masked rows, head, scatter, backward), against
 * finite differences on every backbone tensor. */
static socfw_model *fd_m;
static rt_mlm_head *fd_h;
static const int32_t fd_ids[12] = {2, 7, 4, 9, 10, 3, 2, 4, 12, 4, 8, 3};
static const int32_t fd_pos[3] = {2, 7, 9}, fd_tgt[3] = {5, 11, 13};

static double
fd_loss(int backward)
{
        enum { B = 2, T = 6, C = 16 };
        float hidden[B * T * C], x[3 * C], dx[3 * C] = {0},
              dh[B * T * C] = {0};
        socfw_error err = {0};
        cr_assert_eq(socfw_model_forward(fd_m, fd_ids, NULL, NULL, B, T,
                                         false, 0, NULL, hidden, &err),
                     0, "%s", err.message);
        for (int i = 0; i < 3; i++)
                memcpy(x + i * C, hidden + fd_pos[i] * C, sizeof(float) * C);
        socfw_params *ps = socfw_model_params(fd_m);
        int e = socfw_params_find(ps, "embeddings.word_embeddings.weight");
        cr_assert_geq(e, 0);
        float loss = 0;
        cr_assert_eq(rt_mlm_head_step(fd_h, x, 3, socfw_params_data(ps, e),
                                      backward ? socfw_params_grad(ps, e)
                                               : NULL,
                                      fd_tgt, &loss, NULL, dx, &err),
                     0, "%s", err.message);
        if (backward) {
                for (int i = 0; i < 3; i++)
                        memcpy(dh + fd_pos[i] * C, dx + i * C,
                               sizeof(float) * C);
                cr_assert_eq(socfw_model_backward(fd_m, dh, &err), 0, "%s",
                             err.message);
        }
        return loss;
}

Test(mlm_head, loss_gradient_through_the_encoder)
{
        socfw_model_config c;
        socfw_error err = {0};
        socfw_model_config_default(&c, SOCFW_ARCH_BERT, 30, 16, 2, 2, 32,
                                   16);
        cr_assert_eq(socfw_model_new_random(&fd_m, &c, 5, &err), 0, "%s",
                     err.message);
        cr_assert_eq(rt_mlm_head_new(&fd_h, SOCFW_ARCH_BERT, 16, 30, 1e-12f,
                                     9, &err),
                     0);
        socfw_params *ps = socfw_model_params(fd_m);
        /* larger matrices than the 0.02 init, so gradients are not tiny */
        for (int k = 0; k < socfw_params_count(ps); k++) {
                float *w = socfw_params_data(ps, k);
                if (socfw_params_ndim(ps, k) == 2)
                        for (int64_t i = 0; i < socfw_params_numel(ps, k);
                             i++)
                                w[i] *= 10;
        }
        socfw_params_zero_grad(ps);
        fd_loss(1);
        double worst = 0;
        int checked = 0;
        for (int k = 0; k < socfw_params_count(ps); k++) {
                float *w = socfw_params_data(ps, k);
                const float *g = socfw_params_grad(ps, k);
                int64_t n = socfw_params_numel(ps, k);
                for (int64_t j = 0; j < n; j += n / 3 + 1) {
                        float keep = w[j];
                        const float h = 1e-2f;
                        w[j] = keep + h;
                        double lp = fd_loss(0);
                        w[j] = keep - h;
                        double lm = fd_loss(0);
                        w[j] = keep;
                        double num = (lp - lm) / (2 * h);
                        double d = fabs(num - g[j]);
                        cr_expect_lt(d, 1e-3 + 0.02 * fabs(num),
                                     "%s[%lld]: numeric %.6f analytic %.6f",
                                     socfw_params_name(ps, k), (long long)j,
                                     num, g[j]);
                        worst = fmax(worst, d);
                        checked++;
                }
        }
        cr_log_info("masked-LM loss through the encoder: %d entries, worst "
                    "abs diff %.3g", checked, worst);
        rt_mlm_head_free(fd_h);
        socfw_model_free(fd_m);
}

Test(pretrain, objective_must_fit_the_architecture)
{
        write_corpus();
        write_data("train.jsonl", 20, 1);
        write_data("valid.jsonl", 10, 2);
        socfw_pipeline *p = fx_load(pipeline(
                "arch: gpt2, hidden: 16, layers: 1, heads: 2,"
                " max_positions: 32",
                "steps: 5, objective: mlm", "bad"));
        socfw_runtime *rt = NULL;
        socfw_error err = {0};
        char out[4200];
        snprintf(out, sizeof out, "%s/bad", fx.dir);
        socfw_runtime_options o = {.output_dir = out, .progress = keep};
        cr_expect_eq(socfw_runtime_new(&rt, p, &o, &err), SOCFW_EUNSUPPORTED);
        cr_expect_null(rt);
        cr_expect(strstr(err.message, "objective") != NULL, "%s",
                  err.message);
        cr_expect_gt(err.line, 0);
        socfw_pipeline_free(p);
}

Test(pretrain, the_time_budget_stops_pretraining)
{
        write_corpus();
        write_data("train.jsonl", 20, 1);
        write_data("valid.jsonl", 10, 2);
        /* 0.3 s for 100000 steps */
        socfw_pipeline *p = fx_load(pipeline(
                "arch: bert, hidden: 16, layers: 1, heads: 2,"
                " max_positions: 32",
                "steps: 100000, max_minutes: 0.005,"
                " tokenizer: {vocab_size: 150}",
                "budget"));
        socfw_runtime *rt = start(p, "budget");
        cr_expect(strstr(progress_log, "fit in the time budget") != NULL,
                  "%s", progress_log);
        cr_expect(strstr(progress_log, "backbone saved") != NULL);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* Pretraining in chunks: each chunk stops at its (tiny) time budget with
 * its state saved and the run paused; --resume continues; the backbone at
 * the end is the one an uninterrupted run makes, bit for bit. */
static char *
chunked_backbone(const char *arch, const char *out, int chunked, int *chunks,
                 size_t *len)
{
        char pt[256];
        snprintf(pt, sizeof pt,
                 "steps: 30, tokenizer: {vocab_size: %d}%s",
                 strcmp(arch, "gpt2") ? 150 : 300, chunked ? ", chunked: true, max_minutes: 0.0001" : "");
        char bb[256];
        snprintf(bb, sizeof bb,
                 "arch: %s, hidden: 16, layers: 1, heads: 2, "
                 "max_positions: 32",
                 arch);
        socfw_pipeline *p = fx_load(pipeline(bb, pt, out));
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", fx.dir, out);
        *chunks = 0;
        for (int paused = 1; paused;) {
                socfw_runtime *rt = NULL;
                socfw_error err = {0};
                progress_log[0] = '\0';
                socfw_runtime_options o = {.output_dir = path,
                                           .progress = keep,
                                           .resume = *chunks > 0};
                cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0,
                             "%s\n%s", err.message, progress_log);
                paused = socfw_runtime_pretraining_paused(rt);
                if (paused)
                        cr_expect(strstr(progress_log, "paused at step") !=
                                          NULL,
                                  "%s", progress_log);
                if (*chunks > 0)
                        cr_expect(strstr(progress_log, "resuming at step") !=
                                          NULL,
                                  "%s", progress_log);
                socfw_runtime_free(rt);
                cr_assert_lt(++*chunks, 40, "pretraining never finished");
        }
        socfw_pipeline_free(p);
        snprintf(path, sizeof path, "%s/%s/backbone/model.safetensors",
                 fx.dir, out);
        char *bytes = socfw_test_read_file(path, len);
        cr_assert_not_null(bytes, "%s", path);
        return bytes;
}

static void
check_chunked(const char *arch)
{
        write_corpus();
        write_data("train.jsonl", 20, 1);
        write_data("valid.jsonl", 10, 2);
        int one = 0, many = 0;
        char a[64], b[64];
        snprintf(a, sizeof a, "%s-whole", arch);
        snprintf(b, sizeof b, "%s-chunks", arch);
        size_t n1 = 0, n2 = 0;
        char *whole = chunked_backbone(arch, a, 0, &one, &n1);
        char *chunks = chunked_backbone(arch, b, 1, &many, &n2);
        cr_log_info("%s: pretraining in %d chunks", arch, many);
        cr_expect_gt(many, 1, "the budget never stopped a chunk");
        cr_assert_eq(n1, n2);
        cr_expect_eq(memcmp(whole, chunks, n1), 0,
                     "%s: chunked pretraining gave another backbone", arch);
        free(whole);
        free(chunks);
}

Test(pretrain, chunks_resume_to_the_uninterrupted_backbone_gpt2)
{
        check_chunked("gpt2");
}

Test(pretrain, chunks_resume_to_the_uninterrupted_backbone_bert)
{
        check_chunked("bert");
}

/* A gzip corpus reads as its plain text. */
Test(pretrain, a_gzip_corpus_is_read_as_its_text)
{
        write_corpus();
        write_data("train.jsonl", 20, 1);
        write_data("valid.jsonl", 10, 2);
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "gzip -c '%s/corpus.txt' > '%s/c.txt.gz'",
                 fx.dir, fx.dir);
        cr_assert_eq(system(cmd), 0);
        const char *bb = "arch: gpt2, hidden: 16, layers: 1, heads: 2, "
                         "max_positions: 32";
        char *files[2];
        for (int i = 0; i < 2; i++) {
                char y[8192];
                snprintf(y, sizeof y, "%s",
                         pipeline(bb, "steps: 4, tokenizer: {vocab_size: 300}",
                                  i ? "gz" : "plain"));
                if (i) {
                        char *at = strstr(y, "corpus.txt");
                        cr_assert_not_null(at);
                        memcpy(at, "c.txt.gz  ", 10);
                }
                socfw_pipeline *p = fx_load(y);
                socfw_runtime *rt = start(p, i ? "gz" : "plain");
                cr_expect(strstr(progress_log, "400 lines from") != NULL,
                          "%s", progress_log);
                socfw_runtime_free(rt);
                socfw_pipeline_free(p);
                char path[4200];
                snprintf(path, sizeof path,
                         "%s/%s/backbone/model.safetensors", fx.dir,
                         i ? "gz" : "plain");
                size_t len = 0;
                files[i] = socfw_test_read_file(path, &len);
                cr_assert_not_null(files[i]);
                if (i)
                        cr_expect_eq(memcmp(files[0], files[1], len), 0);
        }
        free(files[0]);
        free(files[1]);
}

/* pretrain.valid: the causal LM's held-out perplexity at eval_every steps
 * and at the end, in the metrics and in OUTPUT/pretrain.jsonl. */
Test(pretrain, held_out_perplexity_is_logged_with_the_hours)
{
        write_corpus();
        write_data("train.jsonl", 20, 1);
        write_data("valid.jsonl", 10, 2);
        socfw_pipeline *p = fx_load(pipeline(
                "arch: gpt2, hidden: 16, layers: 1, heads: 2,"
                " max_positions: 32",
                "steps: 10, eval_every: 4, valid: [corpus.txt],"
                " valid_tokens: 2000, tokenizer: {vocab_size: 300}",
                "ppl"));
        socfw_runtime *rt = start(p, "ppl");
        double ppl = metric(rt, "pretrain.valid.perplexity");
        double loss = metric(rt, "pretrain.loss");
        cr_log_info("valid perplexity %.2f, exp(train loss) %.2f", ppl,
                    exp(loss));
        cr_expect(isfinite(ppl) && ppl > 1 && ppl < 300, "%g", ppl);
        /* the held-out text is the corpus itself: near exp(train loss) */
        cr_expect(ppl > 0.5 * exp(loss) && ppl < 2 * exp(loss));
        char path[4200];
        snprintf(path, sizeof path, "%s/ppl/pretrain.jsonl", fx.dir);
        char *log = socfw_test_read_file(path, NULL);
        cr_assert_not_null(log);
        cr_expect(strstr(log, "\"step\": 4,") != NULL, "%s", log);
        cr_expect(strstr(log, "\"step\": 8,") != NULL, "%s", log);
        cr_expect(strstr(log, "\"step\": 10,") != NULL, "%s", log);
        cr_expect(strstr(log, "\"hours\"") != NULL);
        free(log);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* tests/test_perplexity.c - socfw_perplexity_ids against an independent
 * PyTorch computation (tests/fixtures/perplexity/gen_perplexity_fixture.py)
 * on the GPT-2, Llama and Qwen2 backbone fixtures, for several windows,
 * strides and BOS settings; the refusals; and reading a text file plain and
 * gzip-compressed into the same tokens. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "socfw/model.h"
#include "socfw/perplexity.h"
#include "socfw/tokenizer.h"
#include "testutil.h"

static socfw_model *
fixture_model(const char *name)
{
        char rel[256], path[4096];
        snprintf(rel, sizeof rel, "tests/fixtures/arch/%s", name);
        socfw_test_path(path, sizeof path, socfw_test_srcdir(), rel);
        socfw_model *m = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_model_load(&m, path, NULL, &err), 0, "%s",
                     err.message);
        return m;
}

Test(perplexity, matches_pytorch_on_fixtures, .timeout = 60)
{
        char path[4096];
        socfw_test_path(path, sizeof path, socfw_test_srcdir(),
                        "tests/fixtures/perplexity/expected.json");
        json_error_t je;
        json_t *root = json_load_file(path, 0, &je);
        cr_assert_not_null(root, "%s: %s", path, je.text);
        const char *name;
        json_t *entry;
        int n_cases = 0;
        json_object_foreach(root, name, entry) {
                socfw_model *m = fixture_model(name);
                json_t *jids = json_object_get(entry, "ids");
                size_t n = json_array_size(jids);
                int32_t *ids = malloc(n * sizeof *ids);
                for (size_t i = 0; i < n; i++)
                        ids[i] = (int32_t)json_integer_value(
                                json_array_get(jids, i));
                size_t k;
                json_t *cs;
                json_array_foreach(json_object_get(entry, "cases"), k, cs) {
                        int ctx = (int)json_integer_value(
                                json_object_get(cs, "ctx"));
                        int stride = (int)json_integer_value(
                                json_object_get(cs, "stride"));
                        int bos = (int)json_integer_value(
                                json_object_get(cs, "bos"));
                        double ppl = json_real_value(
                                json_object_get(cs, "ppl"));
                        double nll = json_real_value(
                                json_object_get(cs, "nll"));
                        int64_t scored = json_integer_value(
                                json_object_get(cs, "n"));
                        socfw_perplexity r;
                        socfw_error err = {0};
                        cr_assert_eq(socfw_perplexity_ids(m, ids, n, ctx,
                                                          stride, bos, &r,
                                                          &err),
                                     0, "%s", err.message);
                        double rel = fabs(r.ppl - ppl) / ppl;
                        fprintf(stderr, "perplexity %-5s ctx %2d stride %2d "
                                "bos %3d: %.6f (torch %.6f, rel diff %.2e) "
                                "over %lld\n", name, ctx, stride, bos, r.ppl,
                                ppl, rel, (long long)r.n_scored);
                        cr_assert_eq(r.n_scored, scored, "%s case %zu", name,
                                     k);
                        cr_assert_leq(rel, 1e-4, "%s case %zu: %g vs %g",
                                      name, k, r.ppl, ppl);
                        cr_assert_leq(fabs(r.nll - nll), 1e-4 * nll);
                        cr_assert_eq(r.n_tokens, (int64_t)n);
                        n_cases++;
                }
                free(ids);
                socfw_model_free(m);
        }
        cr_assert_geq(n_cases, 12);
        json_decref(root);
}

Test(perplexity, refusals)
{
        socfw_model *m = fixture_model("llama");
        int32_t ids[40] = {0};
        socfw_perplexity r;
        socfw_error err = {0};
        cr_assert_eq(socfw_perplexity_ids(m, ids, 10, 16, 8, -1, &r, &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "fewer than one window"), "%s",
                  err.message);
        memset(&err, 0, sizeof err);
        cr_assert_eq(socfw_perplexity_ids(m, ids, 40, 33, 8, -1, &r, &err),
                     SOCFW_EINVAL);      /* max_positions 32 */
        ids[5] = 80;
        cr_assert_eq(socfw_perplexity_ids(m, ids, 40, 16, 8, -1, &r, NULL),
                     SOCFW_EINVAL);
        ids[5] = 0;
        cr_assert_eq(socfw_perplexity_ids(m, ids, 40, 16, 0, -1, &r, NULL),
                     SOCFW_EINVAL);
        socfw_model_free(m);
        m = fixture_model("bert");
        memset(&err, 0, sizeof err);
        cr_assert_eq(socfw_perplexity_ids(m, ids, 40, 8, 8, -1, &r, &err),
                     SOCFW_EUNSUPPORTED);
        cr_assert(strstr(err.message, "pseudo-perplexity"), "%s",
                  err.message);
        socfw_model_free(m);
}

/* A byte-level BPE over single bytes: every byte its own token. */
static socfw_tokenizer *
byte_tokenizer(void)
{
        static char texts[256][16];
        const char *tokens[256];
        /* GPT-2's byte-to-unicode map keeps printable ASCII as is; the rest
         * are not needed for this text */
        for (int i = 0; i < 256; i++) {
                snprintf(texts[i], sizeof texts[i], "<%d>", i);
                if (i >= 33 && i <= 126) {
                        texts[i][0] = (char)i;
                        texts[i][1] = '\0';
                }
                tokens[i] = texts[i];
        }
        snprintf(texts[32], sizeof texts[32], "\xc4\xa0");      /* space */
        snprintf(texts[10], sizeof texts[10], "\xc4\x8a");      /* \n */
        socfw_tokenizer_spec spec;
        socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_BPE);
        spec.n_tokens = 256;
        spec.tokens = tokens;
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_new(&tok, &spec, &err), 0, "%s",
                     err.message);
        return tok;
}

Test(perplexity, reads_plain_and_gzip_alike, .timeout = 30)
{
        char dir[4096], plain[4200], gz[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(plain, sizeof plain, "%s/t.txt", dir);
        snprintf(gz, sizeof gz, "%s/t.txt.gz", dir);
        /* 200 KiB of lines: several 64 KiB pieces */
        size_t len = 0, cap = 210000;
        char *text = malloc(cap);
        for (int i = 0; len + 80 < cap; i++)
                len += (size_t)snprintf(text + len, cap - len,
                                        "line %d of the text, words %d\n", i,
                                        i * 7);
        cr_assert_eq(socfw_test_write_file(plain, text, len), 0);
        gzFile g = gzopen(gz, "wb");
        cr_assert_not_null(g);
        cr_assert_eq(gzwrite(g, text, (unsigned)len), (int)len);
        cr_assert_eq(gzclose(g), Z_OK);

        socfw_tokenizer *tok = byte_tokenizer();
        int32_t *a = NULL, *b = NULL, *whole = NULL;
        size_t na = 0, nb = 0, nw = 0;
        socfw_error err = {0};
        cr_assert_eq(socfw_perplexity_read_tokens(plain, tok, 0, &a, &na,
                                                  &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_perplexity_read_tokens(gz, tok, 0, &b, &nb, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_tokenizer_encode(tok, text, len, 0, &whole, &nw,
                                            &err), 0);
        cr_assert_eq(na, len);  /* one token a byte */
        cr_assert_eq(na, nb);
        cr_assert_eq(na, nw);
        cr_assert(memcmp(a, b, na * sizeof *a) == 0);
        cr_assert(memcmp(a, whole, na * sizeof *a) == 0);
        free(b);
        cr_assert_eq(socfw_perplexity_read_tokens(gz, tok, 1000, &b, &nb,
                                                  &err), 0);
        cr_assert_eq(nb, 1000);
        cr_assert(memcmp(a, b, nb * sizeof *a) == 0);
        cr_assert_eq(socfw_perplexity_read_tokens("/nonexistent/x.txt", tok,
                                                  0, &b, &nb, &err) == 0,
                     0);
        free(a);
        free(b);
        free(whole);
        free(text);
        socfw_tokenizer_free(tok);
}

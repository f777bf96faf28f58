/* test_generate_stories.c - greedy generation from BOS with the real
 * stories260K model (socfw/model.h KV-cache decoding + socfw/tokenizer.h
 * pieces) through socfw_generate.  Skips visibly without ../shared. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/generate.h"
#include "socfw/model.h"
#include "socfw/tokenizer.h"
#include "testutil.h"

struct llm {
        socfw_model *m;
        socfw_model_kv *kv;
        socfw_tokenizer *tok;
        float *logits;
};

static const float *
llm_step(void *user, const int32_t *ids, size_t n, socfw_error *err)
{
        struct llm *l = user;
        if (socfw_model_decode_step(l->m, l->kv, ids, (int)n, l->logits,
                                    err) < 0)
                return NULL;
        return l->logits;
}

static int
llm_piece(void *user, int32_t id, char *buf, size_t size)
{
        struct llm *l = user;
        return socfw_tokenizer_token_to_piece(l->tok, id, buf, size);
}

Test(generate_stories, greedy_once_upon_a_time, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        socfw_error err = {0};
        struct llm l = {0};
        cr_assert_eq(socfw_model_load(&l.m, path, NULL, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_tokenizer_load_gguf(&l.tok, path, &err), 0, "%s",
                     err.message);
        const socfw_model_config *mc = socfw_model_config_of(l.m);
        cr_assert_eq(socfw_model_kv_new(&l.kv, l.m, 256, &err), 0, "%s",
                     err.message);
        l.logits = malloc(sizeof(float) * (size_t)mc->vocab_size);
        cr_assert(l.logits);

        int32_t bos = socfw_tokenizer_special_id(l.tok, SOCFW_TOKENIZER_BOS);
        int32_t eos = socfw_tokenizer_special_id(l.tok, SOCFW_TOKENIZER_EOS);
        cr_assert_geq(bos, 0);
        socfw_generate_model gm = {
                .n_vocab = mc->vocab_size,
                .n_ctx = (size_t)socfw_model_kv_capacity(l.kv),
                .step = llm_step,
                .piece = llm_piece,
                .user = &l,
        };
        socfw_generate_config cfg;
        socfw_generate_config_default(&cfg);
        cfg.max_tokens = 40;
        cfg.stop_tokens = &eos;
        cfg.n_stop_tokens = eos >= 0 ? 1 : 0;
        cfg.strip_leading_space = 1;    /* SentencePiece "▁Once" */
        socfw_generate_result res;
        int rc = socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, &err);
        cr_assert_eq(rc, 0, "%s", err.message);
        const char *want = "Once upon a time, there was a little girl named "
                           "Lily. She loved to play outside in the park.";
        cr_log_info("stories260K greedy: \"%s\" (%zu tokens, %.0f tok/s)",
                    res.text, res.n_tokens, res.tokens_per_second);
        cr_assert(strncmp(res.text, want, strlen(want)) == 0,
                  "got \"%s\"", res.text);
        cr_assert_gt(res.tokens_per_second, 0.0);
        socfw_generate_result_free(&res);

        /* a stop string on the real stream: the first sentence only */
        static const char *const dot[] = {"."};
        cfg.stop_strings = dot;
        cfg.n_stop_strings = 1;
        socfw_model_kv_reset(l.kv);
        cr_assert_eq(socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, &err),
                     0, "%s", err.message);
        cr_assert_str_eq(res.text, "Once upon a time, there was a little "
                                   "girl named Lily");
        cr_assert_eq(res.stop, SOCFW_GENERATE_STOP_STRING);
        socfw_generate_result_free(&res);

        /* a blocklisted name is never produced, whatever tokens spell it */
        static const char *const names[] = {"Lily"};
        cfg.n_stop_strings = 0;
        cfg.blocklist = names;
        cfg.n_blocklist = 1;
        socfw_model_kv_reset(l.kv);
        cr_assert_eq(socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, &err),
                     0, "%s", err.message);
        cr_log_info("with \"Lily\" blocked: \"%s\"", res.text);
        cr_assert_null(strstr(res.text, "Lily"), "%s", res.text);
        cr_assert(strncmp(res.text, "Once upon a time", 16) == 0);
        socfw_generate_result_free(&res);
        cfg.n_blocklist = 0;

        /* seeded sampling: the same seed gives the same story */
        socfw_sampler_config sc;
        socfw_sampler_config_default(&sc);
        sc.seed = 7;
        socfw_sampler *s = socfw_sampler_new(mc->vocab_size, &sc, &err);
        cr_assert(s, "%s", err.message);
        char *first = NULL;
        for (int run = 0; run < 2; run++) {
                socfw_model_kv_reset(l.kv);
                socfw_sampler_reseed(s, 7);
                cr_assert_eq(socfw_generate(&gm, s, &cfg, &bos, 1, &res,
                                            &err), 0, "%s", err.message);
                cr_assert_gt(res.text_len, 0);
                if (run == 0)
                        first = strdup(res.text);
                else
                        cr_assert_str_eq(res.text, first);
                socfw_generate_result_free(&res);
        }
        free(first);
        socfw_sampler_free(s);
        free(l.logits);
        socfw_model_kv_free(l.kv);
        socfw_tokenizer_free(l.tok);
        socfw_model_free(l.m);
}

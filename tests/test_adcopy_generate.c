/* test_adcopy_generate.c - constraints enforced by the generation loop
 * (framework/generate/generate.c) with a random model: a character limit
 * that is never exceeded, banned words and phrases never produced (also
 * across token boundaries), required words always present (forced when
 * room runs out or the model wants to stop), and the sequence log-prob. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/generate.h"
#include "testutil.h"

/* id 0 is the end token; the rest are pieces, a few of them multi-byte
 * or parts of banned words. */
static const char *const vocab[] = {
        "", " ", ".", "a", "b", "c", "e", "g", "h", "i", "l", "p", "r", "s",
        "t", "ch", "ea", "p ", "the", "cheap", " che", "ap", "ing", "\xc3\xa9",
        "gr", "ip", " guar", "anteed", " results", "guaranteed", "lite",
        " the", "T", "HE", "!",
};
#define V ((int32_t)(sizeof vocab / sizeof vocab[0]))

struct rnd {
        uint64_t s;
        float logits[64];
        int eos_bias;           /* favour the end token                 */
        int uniform;            /* all logits 0                         */
};

static uint64_t
next(uint64_t *s)
{
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        return *s >> 33;
}

static const float *
rnd_step(void *user, const int32_t *tokens, size_t n, socfw_error *err)
{
        struct rnd *r = user;
        (void)tokens;
        (void)n;
        (void)err;
        for (int32_t t = 0; t < V; t++)
                r->logits[t] = r->uniform ? 0.0f
                                          : (float)(next(&r->s) % 1000) /
                                                    200.0f;
        if (r->eos_bias)
                r->logits[0] = 50.0f;
        return r->logits;
}

static int
rnd_piece(void *user, int32_t id, char *buf, size_t size)
{
        (void)user;
        if (id < 0 || id >= V)
                return -1;
        size_t n = strlen(vocab[id]);
        memcpy(buf, vocab[id], n < size ? n : size);
        return (int)n;
}

/* Greedy longest match over the vocabulary. */
static int
rnd_encode(void *user, const char *text, size_t len, int32_t **ids,
           size_t *n)
{
        (void)user;
        *ids = malloc((len + 1) * sizeof **ids);
        *n = 0;
        size_t i = 0;
        while (i < len) {
                int32_t best = -1;
                size_t bl = 0;
                for (int32_t t = 1; t < V; t++) {
                        size_t l = strlen(vocab[t]);
                        if (l > bl && l <= len - i &&
                            !memcmp(text + i, vocab[t], l)) {
                                best = t;
                                bl = l;
                        }
                }
                if (best < 0) {
                        free(*ids);
                        *ids = NULL;
                        return SOCFW_EINVAL;
                }
                (*ids)[(*n)++] = best;
                i += bl;
        }
        return 0;
}

static void
setup(socfw_generate_model *gm, socfw_generate_config *cfg, struct rnd *r)
{
        memset(gm, 0, sizeof *gm);
        gm->n_vocab = V;
        gm->step = rnd_step;
        gm->piece = rnd_piece;
        gm->encode = rnd_encode;
        gm->user = r;
        socfw_generate_config_default(cfg);
}

Test(adcopy_generate, random_model_never_violates_a_constraint)
{
        static const char *const banned[] = {"cheap", "the",
                                             "guaranteed results"};
        static const char *const required[] = {"grip", "lite"};
        static const int32_t eos = 0;
        for (uint64_t seed = 1; seed <= 300; seed++) {
                struct rnd r = {.s = seed, .eos_bias = seed % 7 == 0};
                socfw_generate_model gm;
                socfw_generate_config cfg;
                setup(&gm, &cfg, &r);
                cfg.max_tokens = 10 + seed % 50;
                cfg.max_chars = 14 + seed % 40;
                cfg.blocklist = banned;
                cfg.n_blocklist = 3;
                cfg.blocklist_ignore_case = 1;
                cfg.required = required;
                cfg.n_required = 2;
                cfg.required_ignore_case = 1;
                cfg.stop_tokens = &eos;
                cfg.n_stop_tokens = 1;
                socfw_sampler_config sc;
                socfw_sampler_config_default(&sc);
                sc.seed = seed;
                socfw_sampler *s = socfw_sampler_new(V, &sc, NULL);
                socfw_generate_result res;
                int32_t bos = 3;
                socfw_error err = {0};
                int rc = socfw_generate(&gm, s, &cfg, &bos, 1, &res, &err);
                cr_assert_eq(rc, 0, "seed %llu: %s",
                             (unsigned long long)seed, err.message);
                cr_assert_leq(socfw_test_utf8_chars(res.text), cfg.max_chars,
                              "seed %llu: '%s'", (unsigned long long)seed,
                              res.text);
                cr_assert_eq(res.n_chars, socfw_test_utf8_chars(res.text));
                for (size_t k = 0; k < 3; k++)
                        cr_assert(!socfw_test_has_icase(res.text, banned[k]),
                                  "seed %llu: '%s' has '%s'",
                                  (unsigned long long)seed, res.text,
                                  banned[k]);
                for (size_t k = 0; k < 2; k++)
                        cr_assert(socfw_test_has_icase(res.text, required[k]),
                                  "seed %llu: '%s' lacks '%s'",
                                  (unsigned long long)seed, res.text,
                                  required[k]);
                cr_assert(isfinite(res.logprob) && res.logprob <= 0.0);
                socfw_generate_result_free(&res);
                socfw_sampler_free(s);
        }
}

Test(adcopy_generate, required_words_are_forced_before_the_end)
{
        static const char *const required[] = {"grip", "lite"};
        static const int32_t eos = 0;
        struct rnd r = {.s = 1, .eos_bias = 1};
        socfw_generate_model gm;
        socfw_generate_config cfg;
        setup(&gm, &cfg, &r);
        cfg.required = required;
        cfg.n_required = 2;
        cfg.stop_tokens = &eos;
        cfg.n_stop_tokens = 1;
        socfw_generate_result res;
        int32_t bos = 3;
        cr_assert_eq(socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, NULL), 0);
        /* the model only wants to stop: the words are all there is */
        cr_assert_str_eq(res.text, "grip lite");
        cr_assert_eq(res.n_forced, res.n_tokens);
        cr_assert_eq(res.stop, SOCFW_GENERATE_STOP_TOKEN);
        socfw_generate_result_free(&res);
}

Test(adcopy_generate, uniform_model_scores_log_of_vocabulary)
{
        struct rnd r = {.uniform = 1};
        socfw_generate_model gm;
        socfw_generate_config cfg;
        setup(&gm, &cfg, &r);
        cfg.max_tokens = 7;
        socfw_generate_result res;
        int32_t bos = 3;
        cr_assert_eq(socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, NULL), 0);
        cr_assert_eq(res.n_tokens, 7);
        cr_assert_float_eq(res.logprob, -7.0 * log((double)V), 1e-4);
        socfw_generate_result_free(&res);
}

Test(adcopy_generate, length_limit_alone_stops_at_the_limit)
{
        struct rnd r = {.s = 9};
        socfw_generate_model gm;
        socfw_generate_config cfg;
        setup(&gm, &cfg, &r);
        cfg.max_tokens = 500;
        cfg.max_chars = 25;
        socfw_generate_result res;
        int32_t bos = 3;
        cr_assert_eq(socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, NULL), 0);
        cr_assert_leq(socfw_test_utf8_chars(res.text), 25);
        /* the longest piece is 8 characters */
        cr_assert_geq(socfw_test_utf8_chars(res.text), 25 - 8);
        cr_assert_eq(res.stop, SOCFW_GENERATE_STOP_MAX_TOKENS);
        cr_assert_eq(res.max_chars_reached, 1);
        socfw_generate_result_free(&res);
}

Test(adcopy_generate, impossible_requirements_are_refused)
{
        struct rnd r = {.s = 3};
        socfw_generate_model gm;
        socfw_generate_config cfg;
        socfw_generate_result res;
        socfw_error err = {0};
        int32_t bos = 3;
        static const char *const banned[] = {"cheap"};
        static const char *const req_banned[] = {"cheapest"};
        static const char *const req_long[] = {"grip", "grapes"};
        static const char *const req_empty[] = {""};

        setup(&gm, &cfg, &r);
        cfg.blocklist = banned;
        cfg.n_blocklist = 1;
        cfg.required = req_banned;
        cfg.n_required = 1;
        cr_assert_eq(socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "'cheapest' contains the blocked"),
                  "%s", err.message);
        socfw_generate_result_free(&res);

        memset(&err, 0, sizeof err);
        setup(&gm, &cfg, &r);
        cfg.required = req_long;
        cfg.n_required = 2;
        cfg.max_chars = 10;
        cr_assert_eq(socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "max_chars 10"), "%s", err.message);
        socfw_generate_result_free(&res);

        setup(&gm, &cfg, &r);
        cfg.required = req_empty;
        cfg.n_required = 1;
        cr_assert_eq(socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, &err),
                     SOCFW_EINVAL);
        socfw_generate_result_free(&res);

        memset(&err, 0, sizeof err);
        setup(&gm, &cfg, &r);
        gm.encode = NULL;
        cfg.required = req_long;
        cfg.n_required = 1;
        cr_assert_eq(socfw_generate(&gm, NULL, &cfg, &bos, 1, &res, &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "encode"), "%s", err.message);
        socfw_generate_result_free(&res);
}

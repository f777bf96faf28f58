/* test_adcopy_plugin.c - the adcopy task plugin in a runtime with a tiny
 * random GPT-2 (../shared/models/hf/fake_gpt2: the real GPT-2 tokenizer,
 * untrained weights): every constraint holds for every candidate even
 * though the model knows nothing, candidates are ranked, bad briefs and
 * records are refused naming the field, settings once refused now work,
 * and the held-out split gets generation metrics. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "socfw/chain.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "socfw/runtime.h"
#include "testutil.h"

TestSuite(adcopy_plugin, .init = fx_setup, .fini = fx_teardown, .timeout = 60);

typedef struct fixture {
        socfw_pipeline *p;
        socfw_runtime *rt;
        socfw_chain *chain;
        char log[8192];
} fixture;

static void
on_progress(const char *line, void *user)
{
        fixture *f = user;
        size_t n = strlen(f->log);
        snprintf(f->log + n, sizeof f->log - n, "%s\n", line);
}

/* A pipeline on fake_gpt2 whose tasks are `tasks` (YAML, indented by 2). */
static int
fixture_try(fixture *f, const char *tasks, const char *chain,
            socfw_error *err)
{
        char model[4096], y[16384];
        memset(f, 0, sizeof *f);
        if (!socfw_test_shared(model, sizeof model,
                               "models/hf/fake_gpt2/config.json"))
                cr_skip_test("skipped: %s not found (../shared is absent)",
                             model);
        *strrchr(model, '/') = '\0';
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "threads: 1\n"
                 "backbone: {model: %s, max_seq_len: 128}\n"
                 "tasks:\n%s"
                 "chain: [%s]\n",
                 model, tasks, chain);
        int rc = socfw_pipeline_load_buffer(&f->p, y, strlen(y), "ad.yaml",
                                            "/tmp", NULL, 0, err);
        if (rc == 0)
                rc = socfw_pipeline_validate(f->p, fx.reg, err);
        if (rc < 0)
                return rc;
        socfw_runtime_options ro = {.progress = on_progress,
                                    .progress_user = f};
        rc = socfw_runtime_new(&f->rt, f->p, &ro, err);
        if (rc == 0)
                rc = socfw_runtime_chain(f->rt, &f->chain, err);
        return rc;
}

static void
fixture_close(fixture *f)
{
        socfw_chain_free(f->chain);
        socfw_runtime_free(f->rt);
        socfw_pipeline_free(f->p);
}

/* Run the chain on a JSON brief; returns the post's JSON (caller frees)
 * or NULL with err filled. */
static json_t *
run(fixture *f, const char *brief, socfw_error *err)
{
        socfw_post *post = NULL;
        int rc = socfw_post_from_json(&post, brief, strlen(brief), "text",
                                      err);
        if (rc == 0)
                rc = socfw_chain_run(f->chain, post, err);
        char *js = rc == 0 ? socfw_post_to_json(post) : NULL;
        socfw_post_free(post);
        json_t *o = js ? json_loads(js, 0, NULL) : NULL;
        free(js);
        return o;
}

static const char *const banned[] = {"the", "cheap", "free",
                                     "guaranteed results", "best in class"};

static const char ad_task[] =
        "  - name: ad\n"
        "    plugin: adcopy\n"
        "    channel: twitter\n"
        "    audience: young runners\n"
        "    keywords: [trail]\n"
        "    banned_words: [the, cheap, free]\n"
        "    banned_claims: [guaranteed results, best in class]\n"
        "    candidates: 3\n"
        "    temperature: 1.0\n"
        "    max_tokens: 60\n";

Test(adcopy_plugin, random_model_meets_every_constraint)
{
        fixture f;
        socfw_error err = {0};
        cr_assert_eq(fixture_try(&f, ad_task, "ad", &err), 0, "%s",
                     err.message);
        static const struct {
                const char *brief;
                size_t limit;
                const char *kw[3];
        } cases[] = {
                {"{\"text\": \"Trail runner X\", \"category\": \"Sports\", "
                 "\"keywords\": [\"grip\", \"waterproof\"], "
                 "\"channel\": \"banner\"}",
                 60, {"grip", "waterproof", "trail"}},
                {"{\"text\": \"x\", \"product\": \"Acme savings\", "
                 "\"keywords\": \"interest, mobile app\", "
                 "\"channel\": \"search_ad\"}",
                 90, {"interest", "mobile app", "trail"}},
                {"{\"text\": \"Acme Cola\", \"tone\": \"playful\"}",
                 280, {"trail", NULL, NULL}},
                {"{\"text\": \"Acme Cola\", \"max_chars\": 30}",
                 30, {"trail", NULL, NULL}},
                {"{\"text\": \"\u7eff\u8336\", \"keywords\": "
                 "[\"\u6e05\u9999\"], \"channel\": \"weibo\"}",
                 140, {"\xe6\xb8\x85\xe9\xa6\x99", "trail", NULL}},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                json_t *o = run(&f, cases[i].brief, &err);
                cr_assert(o, "case %zu: %s", i, err.message);
                json_t *ad = json_object_get(o, "ad");
                const char *copy = json_string_value(
                        json_object_get(ad, "copy"));
                cr_assert(copy, "case %zu", i);
                json_t *cands = json_object_get(ad, "candidates");
                cr_assert_eq(json_array_size(cands), 3);
                cr_assert_eq(json_integer_value(
                                     json_object_get(ad, "violations")),
                             0);
                size_t best = (size_t)json_integer_value(
                        json_object_get(ad, "chosen"));
                double top = json_number_value(json_object_get(
                        json_array_get(cands, best), "score"));
                for (size_t c = 0; c < 3; c++) {
                        json_t *cand = json_array_get(cands, c);
                        const char *t = json_string_value(
                                json_object_get(cand, "copy"));
                        cr_assert_leq(socfw_test_utf8_chars(t), cases[i].limit,
                                      "case %zu: '%s'", i, t);
                        for (size_t b = 0; b < 5; b++)
                                cr_assert(!socfw_test_has_icase(t, banned[b]),
                                          "case %zu: '%s' has '%s'", i, t,
                                          banned[b]);
                        for (size_t k = 0; k < 3 && cases[i].kw[k]; k++) {
                                const char *kw = cases[i].kw[k];
                                cr_assert(socfw_test_has_icase(t, kw),
                                          "case %zu: '%s' lacks '%s'", i, t,
                                          kw);
                        }
                        cr_assert_eq(json_integer_value(json_object_get(
                                             cand, "violations")),
                                     0);
                        cr_assert_leq(json_number_value(json_object_get(
                                              cand, "score")),
                                      top + 1e-9);
                        cr_assert_leq(json_number_value(json_object_get(
                                              cand, "logprob")),
                                      0.0);
                        cr_assert_geq(json_integer_value(json_object_get(
                                              cand, "forced_tokens")),
                                      0);
                }
                cr_assert_str_eq(copy,
                                 json_string_value(json_object_get(
                                         json_array_get(cands, best),
                                         "copy")));
                json_decref(o);
        }
        fixture_close(&f);
}

Test(adcopy_plugin, same_brief_same_candidates)
{
        fixture f;
        socfw_error err = {0};
        cr_assert_eq(fixture_try(&f, ad_task, "ad", &err), 0, "%s",
                     err.message);
        const char *b = "{\"text\": \"Acme Cola\", \"channel\": \"banner\"}";
        json_t *x = run(&f, b, &err), *y = run(&f, b, &err);
        cr_assert(x && y, "%s", err.message);
        cr_assert(json_equal(x, y));
        json_decref(x);
        json_decref(y);
        fixture_close(&f);
}

Test(adcopy_plugin, bad_briefs_are_refused_naming_the_field)
{
        fixture f;
        socfw_error err = {0};
        cr_assert_eq(fixture_try(&f, ad_task, "ad", &err), 0, "%s",
                     err.message);
        static const struct {
                const char *brief, *want;
        } cases[] = {
                {"{\"text\": \"  \"}", "product"},
                {"{\"text\": \"Shoes\", \"product\": \"\"}", "product"},
                {"{\"text\": \"Shoes\", \"channel\": \"banner\", "
                 "\"keywords\": [\"an extraordinarily long keyword that "
                 "no banner could ever hold\"]}",
                 "keywords"},
                {"{\"text\": \"Shoes\", \"keywords\": [\"cheap deals\"]}",
                 "banned 'cheap'"},
                {"{\"text\": \"Shoes\", \"keywords\": [1]}", "keywords"},
                {"{\"text\": \"Shoes\", \"channel\": \"fax\"}", "channel"},
                {"{\"text\": \"Shoes\", \"max_chars\": 0}", "max_chars"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                memset(&err, 0, sizeof err);
                json_t *o = run(&f, cases[i].brief, &err);
                cr_assert_null(o, "case %zu accepted", i);
                cr_assert(strstr(err.message, cases[i].want),
                          "case %zu: wanted '%s' in: %s", i, cases[i].want,
                          err.message);
        }
        fixture_close(&f);
}

Test(adcopy_plugin, impossible_settings_are_refused_at_their_line)
{
        fixture f;
        socfw_error err = {0};
        int rc = fixture_try(&f,
                             "  - name: ad\n"
                             "    plugin: adcopy\n"
                             "    channel: banner\n"
                             "    keywords: [a keyword phrase far too long "
                             "for any banner ad to hold it in sixty "
                             "characters]\n",
                             "ad", &err);
        cr_assert_lt(rc, 0);
        cr_assert(strstr(err.message, "keywords") &&
                          strstr(err.message, "limit of 60"),
                  "%s", err.message);
        cr_assert_eq(err.line, 8, "line %ld", err.line);
        fixture_close(&f);
}

/* A data file: 40 invented ads, line 41 without a copy when `bad`. */
static void
write_data(const char *path, int bad)
{
        FILE *fp = fopen(path, "w");
        cr_assert(fp);
        static const char *const words[] = {
                "fresh", "coffee", "morning", "journey", "savings",
                "comfort", "family", "weekend", "garden", "winter"};
        for (int i = 0; i < 40; i++)
                fprintf(fp,
                        "{\"category\": \"Food\", \"advertiser\": \"Brand "
                        "%d\", \"product\": \"Product %d\", \"copy\": "
                        "\"Enjoy %s %s with Brand %d. Every %s brings "
                        "%s moments for your %s.\"}\n",
                        i, i, words[i % 10], words[(i + 3) % 10], i,
                        words[(i + 5) % 10], words[(i + 7) % 10],
                        words[(i + 1) % 10]);
        if (bad)
                fprintf(fp, "{\"category\": \"Food\", \"advertiser\": \"B\", "
                            "\"product\": \"P\"}\n");
        fclose(fp);
}

Test(adcopy_plugin, holdout_is_validation_with_generation_metrics)
{
        char dir[1024], data[1100], tasks[8192];
        cr_assert(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(data, sizeof data, "%s/ads.jsonl", dir);
        write_data(data, 0);
        snprintf(tasks, sizeof tasks,
                 "  - name: ad\n"
                 "    plugin: adcopy\n"
                 "    data: {train: %s, valid: %s}\n"
                 "    holdout: 0.25\n"
                 "    eval_samples: 4\n"
                 "    candidates: 2\n"
                 "    max_tokens: 40\n"
                 "    banned_words: [the]\n",
                 data, data);
        fixture f;
        socfw_error err = {0};
        cr_assert_eq(fixture_try(&f, tasks, "ad", &err), 0, "%s",
                     err.message);
        unsigned long n_train = 0, n_valid = 0;
        const char *t = strstr(f.log, "task ad: ");
        cr_assert(t && sscanf(t, "task ad: %lu train", &n_train) == 1, "%s",
                  f.log);
        t = strstr(t + 1, "task ad: ");
        cr_assert(t && sscanf(t, "task ad: %lu valid", &n_valid) == 1, "%s",
                  f.log);
        cr_assert_eq(n_train + n_valid, 40, "%lu + %lu", n_train, n_valid);
        cr_assert(n_valid >= 4 && n_valid <= 18, "%lu held out", n_valid);
        cr_assert_eq(socfw_runtime_evaluate(f.rt, "valid", &err), 0, "%s",
                     err.message);
        double v = -1;
        cr_assert_eq(socfw_runtime_metric(f.rt, "ad.valid.violation_rate",
                                          &v),
                     0, "%s", f.log);
        cr_assert_float_eq(v, 0.0, 1e-12);
        cr_assert_eq(socfw_runtime_metric(f.rt, "ad.valid.keyword_coverage",
                                          &v),
                     0);
        cr_assert_float_eq(v, 1.0, 1e-12);
        cr_assert_eq(socfw_runtime_metric(f.rt, "ad.valid.rouge_l", &v), 0);
        cr_assert(v >= 0.0 && v <= 1.0);
        cr_assert_eq(socfw_runtime_metric(f.rt, "ad.valid.distinct_2", &v),
                     0);
        cr_assert(v >= 0.0 && v <= 1.0);
        cr_assert_eq(socfw_runtime_metric(f.rt, "ad.valid.avg_chars", &v), 0);
        cr_assert(v > 0.0 && v <= 500.0);
        cr_assert_eq(socfw_runtime_metric(f.rt, "ad.valid.forced_rate", &v),
                     0);
        cr_assert(v >= 0.0 && v <= 1.0);
        fixture_close(&f);
        /* the same split again */
        cr_assert_eq(fixture_try(&f, tasks, "ad", &err), 0, "%s",
                     err.message);
        unsigned long again = 0;
        t = strstr(f.log, "task ad: ");
        cr_assert(t && sscanf(t, "task ad: %lu train", &again) == 1);
        cr_assert_eq(again, n_train);
        fixture_close(&f);
}

Test(adcopy_plugin, a_record_without_copy_is_refused_with_its_line)
{
        char dir[1024], data[1100], tasks[8192];
        cr_assert(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(data, sizeof data, "%s/ads.jsonl", dir);
        write_data(data, 1);
        snprintf(tasks, sizeof tasks,
                 "  - name: ad\n"
                 "    plugin: adcopy\n"
                 "    data: {train: %s}\n",
                 data);
        fixture f;
        socfw_error err = {0};
        cr_assert_lt(fixture_try(&f, tasks, "ad", &err), 0);
        cr_assert(strstr(err.message, "'copy'"), "%s", err.message);
        cr_assert(strstr(err.file, "ads.jsonl") && err.line == 41,
                  "%s:%ld: %s", err.file, err.line, err.message);
        fixture_close(&f);
}

Test(adcopy_plugin, prefer_positive_ranks_by_the_sentiment_stage)
{
        fixture f;
        socfw_error err = {0};
        int rc = fixture_try(&f,
                             "  - name: sentiment\n"
                             "    plugin: sentiment\n"
                             "    labels: [negative, neutral, positive]\n"
                             "  - name: ad\n"
                             "    plugin: adcopy\n"
                             "    candidates: 3\n"
                             "    max_tokens: 30\n"
                             "    prefer_positive: true\n"
                             "    positive_weight: 5\n",
                             "ad", &err);
        cr_assert_eq(rc, 0, "%s", err.message);
        json_t *o = run(&f, "{\"text\": \"Acme Cola\"}", &err);
        cr_assert(o, "%s", err.message);
        json_t *ad = json_object_get(o, "ad");
        json_t *cands = json_object_get(ad, "candidates");
        size_t best = (size_t)json_integer_value(json_object_get(ad,
                                                                 "chosen"));
        cr_assert_eq(json_array_size(cands), 3);
        for (size_t c = 0; c < 3; c++) {
                json_t *cand = json_array_get(cands, c);
                double p = json_number_value(json_object_get(cand,
                                                             "positive"));
                double lp = json_number_value(json_object_get(cand,
                                                              "logprob"));
                double s = json_number_value(json_object_get(cand, "score"));
                cr_assert(p >= 0.0 && p <= 1.0, "%g", p);
                cr_assert_float_eq(s, lp + 5.0 * p, 2e-4);
                cr_assert_leq(s, json_number_value(json_object_get(
                                         json_array_get(cands, best),
                                         "score")) + 1e-9);
        }
        json_decref(o);
        fixture_close(&f);
}

Test(adcopy_plugin, long_copies_are_cut_to_max_target_tokens)
{
        char dir[1024], data[1100], tasks[4096];
        cr_assert(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(data, sizeof data, "%s/ads.jsonl", dir);
        write_data(data, 0);
        unsigned long tokens[2] = {0, 0}, n_valid[2] = {0, 0};
        for (int cap = 0; cap < 2; cap++) {
                snprintf(tasks, sizeof tasks,
                         "  - name: ad\n"
                         "    plugin: adcopy\n"
                         "    data: {train: %s, valid: %s}\n"
                         "    holdout: 0.25\n"
                         "    eval_samples: 0\n"
                         "    max_target_tokens: %d\n",
                         data, data, cap ? 6 : 0);
                fixture f;
                socfw_error err = {0};
                cr_assert_eq(fixture_try(&f, tasks, "ad", &err), 0, "%s",
                             err.message);
                cr_assert_eq(socfw_runtime_evaluate(f.rt, "valid", &err), 0,
                             "%s", err.message);
                const char *t = strstr(f.log, "valid examples");
                cr_assert(t);
                while (t > f.log && t[-1] != ' ')
                        t--;
                t--;
                while (t > f.log && t[-1] != ' ')
                        t--;
                cr_assert_eq(sscanf(t, "%lu valid", &n_valid[cap]), 1, "%s",
                             f.log);
                t = strstr(f.log, "ad valid: loss");
                cr_assert(t, "%s", f.log);
                t = strchr(t, '(');
                cr_assert(t && sscanf(t, "(%lu tokens)", &tokens[cap]) == 1,
                          "%s", f.log);
                fixture_close(&f);
        }
        cr_assert_eq(n_valid[0], n_valid[1]);
        /* at most 6 copy tokens and the end token per example */
        cr_assert_leq(tokens[1], 7 * n_valid[1], "%lu tokens", tokens[1]);
        cr_assert_gt(tokens[0], 2 * tokens[1], "%lu vs %lu", tokens[0],
                     tokens[1]);
}

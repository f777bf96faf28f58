/* tests/test_settings.c - the pipeline's sections as typed settings
 * (framework/train/settings.c): a task's adapter from its own keys over
 * the backbone's, key by key; each type's defaults; where an error about
 * an adapter key points; the continual: section. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "socfw/pipeline.h"
#include "socfw/runtime.h"
#include "testutil.h"
#include "train/settings.h"

TestSuite(settings, .init = fx_setup, .fini = fx_teardown, .timeout = 60);

/* A pipeline whose backbone has `bb_adapter` and whose one task has
 * `task_adapter` (either may be empty). */
static socfw_pipeline *
load(const char *bb_adapter, const char *task_adapter)
{
        char y[2048];
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "backbone:\n"
                 "  arch: gpt2\n"
                 "  hidden: 32\n"
                 "  layers: 2\n"
                 "  heads: 2\n"
                 "  max_positions: 64\n"
                 "%s"
                 "tasks:\n"
                 "  - name: sentiment\n"
                 "    plugin: sentiment\n"
                 "    labels: [neg, pos]\n"
                 "%s",
                 bb_adapter, task_adapter);
        return fx_load(y);
}

static void
resolve(const socfw_pipeline *p, socfw_adapter_config *ac,
        rt_backbone_settings *bb, rt_task_settings *ts)
{
        rt_backbone_settings_read(bb, p);
        rt_task_settings_read(ts, socfw_pipeline_task(p, 0), NULL, NULL);
        socfw_error err = {0};
        cr_assert_eq(rt_adapter_config_resolve(ac, &ts->adapter, &bb->adapter,
                                               &err),
                     0, "%s", err.message);
}

Test(settings, each_type_has_its_own_sites_and_the_schema_defaults)
{
        static const char *const types[] = {"lora", "adalora", "ia3",
                                            "bottleneck", "prefix", "prompt"};
        for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
                char bb[128];
                snprintf(bb, sizeof bb, "  adapter: {type: %s}\n", types[i]);
                socfw_pipeline *p = load(bb, "");
                socfw_adapter_config ac, want;
                rt_backbone_settings b;
                rt_task_settings t;
                resolve(p, &ac, &b, &t);
                int ty = socfw_adapter_type_parse(types[i]);
                cr_assert_eq((int)ac.type, ty, "%s", types[i]);
                socfw_adapter_config_default(&want, (socfw_adapter_type)ty);
                /* what the pipeline's schema leaves to the type */
                cr_assert_eq(ac.targets, want.targets, "%s: targets",
                             types[i]);
                cr_assert_float_eq(ac.beta1, want.beta1, 0, "%s", types[i]);
                cr_assert_float_eq(ac.beta2, want.beta2, 0, "%s", types[i]);
                cr_assert_eq(ac.encoder_hidden_size, 0, "%s", types[i]);
                /* what the schema's backbone.adapter defaults say */
                cr_assert_eq(ac.rank, 8, "%s", types[i]);
                cr_assert_float_eq(ac.alpha, 16.0f, 0, "%s", types[i]);
                cr_assert_float_eq(ac.dropout, 0.0f, 0, "%s", types[i]);
                cr_assert_eq(ac.reduction_factor, 16, "%s", types[i]);
                cr_assert_eq(ac.target_r, 4, "%s", types[i]);
                cr_assert_eq(ac.delta_t, 1, "%s", types[i]);
                cr_assert_eq(ac.prefix_length, 10, "%s", types[i]);
                cr_assert_eq(ac.num_virtual_tokens, 20, "%s", types[i]);
                cr_assert_eq(ac.act, SOCFW_ADAPTER_ACT_RELU, "%s", types[i]);
                cr_assert_eq(ac.prompt_init, SOCFW_PROMPT_INIT_RANDOM, "%s",
                             types[i]);
                cr_assert(!ac.use_rslora && !ac.prefix_projection, "%s",
                          types[i]);
                cr_assert_null(rt_adapter_from(&t.adapter, &b.adapter));
                socfw_pipeline_free(p);
        }
        /* no adapter anywhere: type none, that type's defaults */
        socfw_pipeline *p = load("", "");
        socfw_adapter_config ac, want;
        rt_backbone_settings b;
        rt_task_settings t;
        resolve(p, &ac, &b, &t);
        socfw_adapter_config_default(&want, SOCFW_ADAPTER_NONE);
        cr_assert_eq(memcmp(&ac, &want, sizeof ac), 0);
        socfw_pipeline_free(p);
}

Test(settings, a_task_key_overrides_only_that_key_of_the_backbone)
{
        socfw_pipeline *p = load(
                "  adapter: {type: lora, rank: 4, alpha: 32,"
                " targets: [attn.q, mlp.up], non_linearity: gelu}\n",
                "    adapter: {rank: 16, use_rslora: true,"
                " prompt_init: vocab}\n");
        socfw_adapter_config ac;
        rt_backbone_settings b;
        rt_task_settings t;
        resolve(p, &ac, &b, &t);
        cr_assert_eq(ac.type, SOCFW_ADAPTER_LORA, "the backbone's type");
        cr_assert_eq(ac.rank, 16, "the task's rank");
        cr_assert_float_eq(ac.alpha, 32.0f, 0, "the backbone's alpha");
        cr_assert(ac.use_rslora, "the task's use_rslora");
        cr_assert_eq(ac.prompt_init, SOCFW_PROMPT_INIT_VOCAB);
        cr_assert_eq(ac.act, SOCFW_ADAPTER_ACT_GELU);
        cr_assert_eq(ac.targets, SOCFW_SITE_BIT(SOCFW_SITE_ATTN_Q) |
                                         SOCFW_SITE_BIT(SOCFW_SITE_MLP_UP),
                     "the backbone's targets");
        socfw_pipeline_free(p);

        /* the task's type with the backbone's sites; its own width */
        p = load("  adapter: {type: lora, targets: [attn.o]}\n",
                 "    adapter: {type: bottleneck, reduction_factor: 4}\n");
        resolve(p, &ac, &b, &t);
        cr_assert_eq(ac.type, SOCFW_ADAPTER_BOTTLENECK);
        cr_assert_eq(ac.reduction_factor, 4);
        cr_assert_eq(ac.targets, SOCFW_SITE_BIT(SOCFW_SITE_ATTN_O));
        socfw_pipeline_free(p);

        /* a prefix's MLP width only where written */
        p = load("  adapter: {type: prefix, prefix_projection: true,"
                 " encoder_hidden_size: 48}\n",
                 "    adapter: {prefix_length: 3}\n");
        resolve(p, &ac, &b, &t);
        cr_assert_eq(ac.encoder_hidden_size, 48);
        cr_assert_eq(ac.prefix_length, 3);
        cr_assert(ac.prefix_projection);
        socfw_pipeline_free(p);
}

/* socfw_runtime_task_adapter_type, which the CLI asks: the same rule */
Test(settings, a_tasks_adapter_type_is_its_own_else_the_backbones)
{
        static const struct {
                const char *bb, *task;
                int want;
        } cases[] = {
                {"", "", SOCFW_ADAPTER_NONE},
                {"  adapter: {type: lora}\n", "", SOCFW_ADAPTER_LORA},
                {"", "    adapter: {type: ia3}\n", SOCFW_ADAPTER_IA3},
                {"  adapter: {type: lora}\n", "    adapter: {type: none}\n",
                 SOCFW_ADAPTER_NONE},
                {"  adapter: {type: prefix}\n", "    adapter: {rank: 4}\n",
                 SOCFW_ADAPTER_PREFIX},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                socfw_pipeline *p = load(cases[i].bb, cases[i].task);
                cr_assert_eq(socfw_runtime_task_adapter_type(p, 0),
                             cases[i].want, "case %zu", i);
                socfw_pipeline_free(p);
        }
}

Test(settings, an_adapter_error_points_at_the_section_that_gives_the_key)
{
        socfw_pipeline *p = load("  adapter: {type: lora, rank: 4}\n",
                                 "    adapter: {targets: [attn.v]}\n");
        rt_backbone_settings b;
        rt_task_settings t;
        socfw_adapter_config ac;
        resolve(p, &ac, &b, &t);
        socfw_error err = {0};
        /* targets: the task's line (13); rank: the backbone's (8) */
        cr_assert_eq(rt_adapter_key_error(&t.adapter, &b.adapter,
                                          RT_AK_TARGETS, SOCFW_ESCHEMA, &err,
                                          "bad"),
                     SOCFW_ESCHEMA);
        cr_assert(strstr(err.file, "t.yaml") && err.line == 13 &&
                          err.column > 0 &&
                          strstr(err.message, "task 'sentiment': "
                                              "sentiment.adapter.targets: "
                                              "bad"),
                  "%s:%ld: %s", err.file, err.line, err.message);
        err = (socfw_error){0};
        rt_adapter_key_error(&t.adapter, &b.adapter, RT_AK_RANK,
                             SOCFW_ESCHEMA, &err, "bad");
        cr_assert(strstr(err.file, "t.yaml") && err.line == 8 &&
                          strstr(err.message, "backbone.adapter.rank: bad"),
                  "%s:%ld: %s", err.file, err.line, err.message);
        socfw_pipeline_free(p);
}

Test(settings, the_continual_section)
{
        char g[4200];
        snprintf(g, sizeof g, "%s/g.jsonl", fx.dir);
        cr_assert_eq(socfw_test_write_file(g, "{}\n", 3), 0);
        socfw_pipeline *p = fx_load(
                "socfw: 1\n"
                "backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2}\n"
                "tasks:\n"
                "  - {name: s, plugin: sentiment, labels: [a, b],"
                " adapter: {type: lora}}\n"
                "continual: {replay: 0.5, l2_sp: 0.01, gate: g.jsonl}\n");
        rt_continual_settings cs;
        cr_assert_eq(rt_continual_settings_read(&cs, p), 0);
        cr_assert_float_eq(cs.replay, 0.5, 1e-12);
        cr_assert_float_eq(cs.l2_sp, 0.01, 1e-12);
        cr_assert(cs.gate && strstr(cs.gate, "g.jsonl"), "%s", cs.gate);
        cr_assert_float_eq(cs.tolerance, 0.01, 1e-12, "the default");
        cr_assert_null(cs.task);
        cr_assert_lt(cs.seed, 0, "train.seed by default");
        cr_assert_not_null(cs.section);
        socfw_pipeline_free(p);
}

/* The runtime's own keys: the top-level threads and whether the privacy
 * stage also cleans the training texts, with their defaults. */
Test(settings, the_run_settings)
{
        rt_run_settings r;
        socfw_pipeline *p = load("", "");
        rt_run_settings_read(&r, p);
        cr_expect_eq(r.threads, 0, "threads defaults to the library's");
        cr_expect_eq(r.privacy_training_data, 0, "no privacy: section");
        socfw_pipeline_free(p);
        p = fx_load("socfw: 1\n"
                    "threads: 3\n"
                    "backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2,"
                    " max_positions: 64}\n"
                    "privacy: {entities: [EMAIL_ADDRESS]}\n"
                    "tasks:\n"
                    "  - name: sentiment\n"
                    "    plugin: sentiment\n"
                    "    labels: [neg, pos]\n"
                    "chain: [privacy, sentiment]\n");
        rt_run_settings_read(&r, p);
        cr_expect_eq(r.threads, 3);
        cr_expect_eq(r.privacy_training_data, 1, "the schema's default");
        socfw_pipeline_free(p);
}

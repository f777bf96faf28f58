/* tests/test_privacy_plugin.c - the privacy module loaded from the build
 * tree and run as a chain stage: mask on input, restore in the reply. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/example_impl.h"
#include "core/task_impl.h"
#include "socfw/chain.h"
#include "socfw/data.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "testutil.h"

static socfw_registry *reg;

static void
setup(void)
{
        char dir[4096];
        reg = socfw_registry_new();
        cr_assert_not_null(reg);
        snprintf(dir, sizeof dir, "%s/plugins/privacy", socfw_test_builddir());
        cr_assert_eq(socfw_registry_add_path(reg, dir), 0);
        socfw_registry_scan(reg);
}

static void
teardown(void)
{
        socfw_registry_free(reg);
}

TestSuite(privacy_plugin, .init = setup, .fini = teardown, .timeout = 30);

static socfw_pipeline *
load(const char *yaml)
{
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        int rc = socfw_pipeline_load_buffer(&p, yaml, strlen(yaml), "p.yaml",
                                            NULL, NULL, 0, &err);
        if (rc == 0)
                rc = socfw_pipeline_validate(p, reg, &err);
        for (size_t i = 0; rc && i < socfw_pipeline_diag_count(p); i++)
                fprintf(stderr, "%s\n", socfw_pipeline_diag(p, i));
        cr_assert_eq(rc, 0, "%s", err.message);
        return p;
}

Test(privacy_plugin, descriptor_exports_params)
{
        const socfw_plugin *d = socfw_registry_find(reg, "privacy",
                                                    SOCFW_PLUGIN_TASK);
        cr_assert_not_null(d, "privacy module not found in the build tree");
        cr_assert_str_eq(d->name, "privacy");
        cr_assert_not_null(d->task->predict);
        int has_entities = 0, has_operator = 0;
        for (const socfw_param_spec *s = d->params; s->key; s++) {
                has_entities |= strcmp(s->key, "entities") == 0;
                has_operator |= strcmp(s->key, "operator") == 0;
        }
        cr_assert(has_entities && has_operator);
}

Test(privacy_plugin, chain_masks_then_restores)
{
        socfw_pipeline *p = load(
                "socfw: 1\n"
                "privacy: {entities: [EMAIL, PHONE, CN_ID], "
                "operator: pseudonymize}\n"
                "chain: [privacy, privacy]\n");
        socfw_error err = {0};
        /* run the two passes separately, as a dialog stage would sit
         * between them */
        const char *in_stage[] = {"privacy", NULL};
        socfw_chain *c = NULL;
        cr_assert_eq(socfw_chain_new(&c, p, in_stage, &err), 0, "%s",
                     err.message);
        socfw_post *post = socfw_post_new("我的手机13812345678，邮箱a@b.io",
                                          "s1");
        cr_assert_eq(socfw_chain_run(c, post, &err), 0, "%s", err.message);
        char *json = socfw_post_to_json(post);
        cr_assert_not_null(strstr(json, "<PHONE_1>"), "%s", json);
        cr_assert_not_null(strstr(json, "<EMAIL_1>"), "%s", json);
        cr_assert_null(strstr(json, "13812345678"), "%s", json);
        cr_assert_not_null(strstr(json, "\"PHONE_NUMBER\""), "%s", json);
        free(json);
        /* the same post goes on to the second pass with a reply text */
        socfw_chain_run(c, post, &err); /* second pass: nothing to restore */
        socfw_post_free(post);
        socfw_chain_free(c);

        /* a full chain instance: both passes share the session vault */
        cr_assert_eq(socfw_chain_new(&c, p, NULL, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_chain_len(c), 2);
        post = socfw_post_new("call 13912345678 please", "s2");
        cr_assert_eq(socfw_chain_run(c, post, &err), 0, "%s", err.message);
        /* identity "model" between the passes: the text comes back */
        json = socfw_post_to_json(post);
        cr_assert_not_null(strstr(json, "call 13912345678 please"), "%s",
                           json);
        free(json);
        socfw_post_free(post);
        socfw_chain_free(c);
        socfw_pipeline_free(p);
}

Test(privacy_plugin, replace_operator_and_bad_entity)
{
        socfw_pipeline *p = load("socfw: 1\n"
                                 "privacy: {operator: replace}\n"
                                 "chain: [privacy]\n");
        socfw_chain *c = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_chain_new(&c, p, NULL, &err), 0, "%s", err.message);
        socfw_post *post = socfw_post_new("SSN 123-45-6789 ip 10.0.0.1", NULL);
        cr_assert_eq(socfw_chain_run(c, post, &err), 0, "%s", err.message);
        char *json = socfw_post_to_json(post);
        cr_assert_not_null(strstr(json, "SSN <US_SSN> ip <IP_ADDRESS>"), "%s",
                           json);
        free(json);
        socfw_post_free(post);
        socfw_chain_free(c);
        socfw_pipeline_free(p);

        socfw_pipeline *q = NULL;
        const char *bad = "socfw: 1\nprivacy: {entities: [PASSPORT]}\n"
                          "chain: [privacy]\n";
        int rc = socfw_pipeline_load_buffer(&q, bad, strlen(bad), "p.yaml",
                                            NULL, NULL, 0, &err);
        if (rc == 0)
                rc = socfw_pipeline_validate(q, reg, &err);
        cr_assert_neq(rc, 0);
        socfw_pipeline_free(q);
}

/* Plugin ABI 2.0's evaluate hook sees each example's record and its
 * predicted tags: the privacy task counts what masking would leave in the
 * clear and names each leaked word by the file:line of its record. */
Test(privacy_plugin, evaluate_names_leaked_words_from_their_records)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/valid.jsonl", dir);
        const char *data =
                "{\"tokens\": [\"hi\", \"Carol\", \"Jones\", \"in\", "
                "\"Tokyo\"], \"tags\": [\"O\", \"B-PER\", \"I-PER\", \"O\", "
                "\"B-LOC\"]}\n"
                "{\"text\": \"Bob lives in Paris\", \"spans\": [{\"start\": "
                "0, \"end\": 3, \"type\": \"PERSON\"}, {\"start\": 13, "
                "\"end\": 18, \"type\": \"GPE\"}]}\n"
                "{\"tokens\": [\"nothing\", \"here\"], \"tags\": [\"O\", "
                "\"O\"]}\n";
        cr_assert_eq(socfw_test_write_file(path, data, strlen(data)), 0);
        socfw_pipeline *p = load(
                "socfw: 1\n"
                "tasks:\n"
                "  - name: pii\n"
                "    plugin: privacy\n"
                "    labels: [O, B-PERSON, I-PERSON, B-LOCATION,"
                " I-LOCATION]\n"
                "chain: [pii]\n");
        socfw_error err = {0};
        socfw_task_ctx *ctx = NULL;
        cr_assert_eq(socfw_task_ctx_new(&ctx, "pii",
                                        socfw_pipeline_task_plugin(p, 0),
                                        socfw_pipeline_task(p, 0), &err),
                     0, "%s", err.message);
        /* O=0 B-PERSON=1 I-PERSON=2 B-LOCATION=3 I-LOCATION=4: Jones is
         * left O (a leak), Tokyo gets the wrong tag but is masked; Paris
         * fell outside the model's window (-1: a leak), "lives" is
         * masked needlessly */
        static const int gold[] = {0, 1, 2, 0, 3, 1, 0, 0, 3, 0, 0};
        static const int pred[] = {0, 1, 0, 0, 4, 1, 1, 0, -1, 0, 0};
        static const size_t off[] = {0, 5, 9, 11};
        static const long rows[] = {1, 2, 3};
        socfw_eval e;
        socfw_eval_init(&e, 3, gold, pred, NULL, 5);
        e.kind = SOCFW_TARGET_TAGS;
        e.tag_off = off;
        e.rows = rows;
        e.ctx = ctx;
        e.source = path;
        cr_assert_eq(socfw_eval_record(&e, 1) != NULL, 1);
        cr_assert_str_eq(socfw_record_get_string(socfw_eval_record(&e, 1),
                                                 "text"),
                         "Bob lives in Paris");
        cr_assert_eq(socfw_record_line(socfw_eval_record(&e, 2)), 3);
        const socfw_plugin *d = socfw_registry_find(reg, "privacy", 0);
        cr_assert_not_null(d->task->evaluate);
        cr_assert_eq(d->task->evaluate(ctx->state, &e, &err),
                     0, "%s", err.message);
        double want[] = {3.0 / 5, 0.0, 1.0 / 6};
        const char *names[] = {"masked_word_recall", "leak_free_records",
                               "over_masked_rate"};
        cr_assert_eq(e.n_metrics, 3);
        for (int m = 0; m < 3; m++) {
                cr_assert_str_eq(e.names[m], names[m]);
                cr_assert_float_eq(e.values[m], want[m], 1e-9, "%s %g",
                                   names[m], e.values[m]);
        }
        char line[4400];
        snprintf(line, sizeof line, "%s:1: 'Jones' (PERSON)\n", path);
        cr_assert(e.report && strstr(e.report, line), "%s", e.report);
        snprintf(line, sizeof line, "%s:2: 'Paris' (LOCATION)\n", path);
        cr_assert(strstr(e.report, line), "%s", e.report);
        cr_assert(!strstr(e.report, "'Tokyo'"), "%s", e.report);
        socfw_eval_clear(&e);
        socfw_task_ctx_free(ctx);
        socfw_pipeline_free(p);
        unlink(path);
        rmdir(dir);
}

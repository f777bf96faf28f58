/* tests/test_privacy_plugin.c - the privacy module loaded from the build
 * tree and run as a chain stage: mask on input, restore in the reply. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/chain.h"
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

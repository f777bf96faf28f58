/* tests/test_registry.c - finding and checking plugin modules. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/registry.h"
#include "testutil.h"

static char dir[4096];

static const char *
build_dir(const char *rel)
{
        snprintf(dir, sizeof dir, "%s/tests/plugins/%s",
                 socfw_test_builddir(), rel);
        return dir;
}

/* The problem reported for a file whose path contains `needle`. */
static const char *
problem_for(const socfw_registry *reg, const char *needle)
{
        for (size_t i = 0; i < socfw_registry_problem_count(reg); i++)
                if (strstr(socfw_registry_problem(reg, i), needle))
                        return socfw_registry_problem(reg, i);
        return NULL;
}

Test(registry, loads_a_good_module_without_calling_hooks, .timeout = 20)
{
        socfw_registry *reg = socfw_registry_new();
        socfw_registry_add_path(reg, build_dir("good"));
        cr_assert_eq(socfw_registry_scan(reg), 1);
        const socfw_plugin *p = socfw_registry_find(reg, "testgood",
                                                    SOCFW_PLUGIN_TASK);
        cr_assert_not_null(p);
        cr_assert_str_eq(p->version, "9.9");
        cr_assert_str_eq(p->params[1].key, "count");
        cr_assert_null(socfw_registry_find(reg, "testgood",
                                           SOCFW_PLUGIN_HEAD));
        cr_assert_eq(socfw_registry_problem_count(reg), 0);
        socfw_registry_free(reg);
}

/* testabimajor is a module laid out as a socfw 1.3 plugin (hook tables
 * by value): refused by name, with both versions and what to do. */
Test(registry, refuses_a_1x_plugin_showing_both_versions, .timeout = 20)
{
        socfw_registry *reg = socfw_registry_new();
        socfw_registry_add_path(reg, build_dir("abimajor"));
        cr_assert_eq(socfw_registry_scan(reg), 0);
        cr_assert_eq(socfw_registry_count(reg), 0);
        const char *pr = problem_for(reg, "testabimajor");
        cr_assert_not_null(pr);
        char host[64];
        snprintf(host, sizeof host, "this socfw speaks %d.%d",
                 SOCFW_ABI_MAJOR, SOCFW_ABI_MINOR);
        cr_assert(strstr(pr, "plugin 'testabimajor' was built for socfw "
                             "plugin ABI 1.3") &&
                          strstr(pr, host) && strstr(pr, "rebuild it"),
                  "message: %s", pr);
        socfw_registry_free(reg);
}

/* The same refusal for a descriptor registered from the program. */
Test(registry, refuses_a_static_1x_descriptor, .timeout = 20)
{
        /* socfw 1.3's first fields: abi_major, abi_minor, kind, name */
        static const struct {
                uint32_t abi_major, abi_minor;
                int kind;
                const char *name;
                void *rest[24];
        } old = {1, 3, SOCFW_PLUGIN_TASK, "oldtask", {0}};
        socfw_registry *reg = socfw_registry_new();
        socfw_error err = {0};
        cr_assert_eq(socfw_registry_add_static(
                             reg, (const socfw_plugin *)(const void *)&old,
                             "static", &err),
                     SOCFW_EABI);
        cr_assert(strstr(err.message, "plugin 'oldtask' was built for socfw "
                                      "plugin ABI 1.3; this socfw speaks "
                                      "2.0"),
                  "%s", err.message);
        cr_assert_eq(socfw_registry_count(reg), 0);
        socfw_error_clear(&err);
        socfw_registry_free(reg);
}

Test(registry, refuses_a_newer_abi_minor_showing_both, .timeout = 20)
{
        socfw_registry *reg = socfw_registry_new();
        socfw_registry_add_path(reg, build_dir("abiminor"));
        cr_assert_eq(socfw_registry_scan(reg), 0);
        const char *pr = problem_for(reg, "testabiminor");
        cr_assert_not_null(pr);
        char mine[64], host[64];
        snprintf(mine, sizeof mine, "plugin ABI %d.7", SOCFW_ABI_MAJOR);
        snprintf(host, sizeof host, "this socfw speaks %d.%d",
                 SOCFW_ABI_MAJOR, SOCFW_ABI_MINOR);
        cr_assert(strstr(pr, mine) && strstr(pr, host) &&
                          strstr(pr, "upgrade socfw"),
                  "message: %s", pr);
        socfw_registry_free(reg);
}

Test(registry, reports_a_module_without_its_symbol, .timeout = 20)
{
        socfw_registry *reg = socfw_registry_new();
        socfw_registry_add_path(reg, build_dir("nosym"));
        cr_assert_eq(socfw_registry_scan(reg), 0);
        const char *pr = problem_for(reg, "testnosym");
        cr_assert_not_null(pr);
        cr_assert(strstr(pr, "no symbol socfw_plugin_testnosym_get"),
                  "message: %s", pr);
        socfw_registry_free(reg);
}

Test(registry, reports_a_truncated_shared_object_and_goes_on, .timeout = 20)
{
        char tmp[4096], src[4200], dst[4200];
        cr_assert_not_null(socfw_test_tmpdir(tmp, sizeof tmp));
        snprintf(src, sizeof src, "%s/.libs/testgood.so", build_dir("good"));
        size_t len = 0;
        char *data = socfw_test_read_file(src, &len);
        cr_assert_not_null(data, "cannot read %s", src);
        snprintf(dst, sizeof dst, "%s/testtrunc.so", tmp);
        cr_assert_eq(socfw_test_write_file(dst, data, len / 3), 0);
        free(data);

        socfw_registry *reg = socfw_registry_new();
        socfw_registry_add_path(reg, tmp);
        socfw_registry_add_path(reg, build_dir("good"));
        cr_assert_eq(socfw_registry_scan(reg), 1, "the good one still loads");
        const char *pr = problem_for(reg, "testtrunc.so");
        cr_assert_not_null(pr);
        cr_assert(strstr(pr, "cannot load module"), "message: %s", pr);
        socfw_registry_free(reg);
        remove(dst);
        remove(tmp);
}

Test(registry, two_plugins_with_one_name_keep_the_first, .timeout = 20)
{
        socfw_registry *reg = socfw_registry_new();
        char first[4096];
        snprintf(first, sizeof first, "%s", build_dir("good"));
        socfw_registry_add_path(reg, first);
        socfw_registry_add_path(reg, build_dir("dup"));
        cr_assert_eq(socfw_registry_scan(reg), 1);
        cr_assert(strstr(socfw_registry_file(reg, 0), "/good/"));
        const char *pr = problem_for(reg, "/dup/");
        cr_assert_not_null(pr);
        cr_assert(strstr(pr, "already loaded from") &&
                          strstr(pr, "first directory on the plugin path"),
                  "message: %s", pr);
        socfw_registry_free(reg);
}

Test(registry, finds_the_build_tree_plugins_and_heads, .timeout = 30)
{
        socfw_registry *reg = socfw_registry_new();
        cr_assert_eq(socfw_registry_add_default_paths(reg, NULL), 0);
        socfw_registry_scan(reg);
        const char *tasks[] = {"sentiment", "dialog", "recommend", "adcopy",
                               "privacy"};
        for (size_t i = 0; i < 5; i++)
                cr_expect_not_null(socfw_registry_find(reg, tasks[i],
                                                       SOCFW_PLUGIN_TASK),
                                   "task plugin %s", tasks[i]);
        for (size_t i = 0; i < socfw_registry_problem_count(reg); i++)
                cr_log_warn("%s", socfw_registry_problem(reg, i));
        socfw_registry_free(reg);
}

Test(registry, search_order_puts_the_command_line_first)
{
        setenv("SOCFW_PLUGIN_PATH", "/env/a:/env/b", 1);
        socfw_registry *reg = socfw_registry_new();
        socfw_registry_add_default_paths(reg, "/cli/x:/cli/y");
        cr_assert_str_eq(socfw_registry_path(reg, 0), "/cli/x");
        cr_assert_str_eq(socfw_registry_path(reg, 1), "/cli/y");
        cr_assert_str_eq(socfw_registry_path(reg, 2), "/env/a");
        cr_assert_str_eq(socfw_registry_path(reg, 3), "/env/b");
        size_t n = socfw_registry_path_count(reg);
        cr_assert(strstr(socfw_registry_path(reg, n - 1), "socfw-2"),
                  "install dir last: %s", socfw_registry_path(reg, n - 1));
        socfw_registry_free(reg);
        unsetenv("SOCFW_PLUGIN_PATH");
}

static int
null_create(const socfw_config *c, socfw_task_ctx *x, void **s,
            socfw_error *e)
{
        (void)c; (void)x; (void)s; (void)e;
        return 0;
}

Test(registry, descriptor_checks_catch_bad_specs)
{
        static const char *const no_choices[] = {"a", NULL};
        static const socfw_param_spec bad_default[] = {
                {.key = "n", .type = SOCFW_PARAM_INT, .default_value = "x",
                 .help = "h"},
                {0}};
        static const socfw_param_spec dup[] = {
                {.key = "n", .type = SOCFW_PARAM_INT, .help = "h"},
                {.key = "n", .type = SOCFW_PARAM_INT, .help = "h"},
                {0}};
        static const socfw_param_spec enum_default[] = {
                {.key = "e", .type = SOCFW_PARAM_ENUM, .choices = no_choices,
                 .default_value = "b", .help = "h"},
                {0}};
        socfw_plugin d = {.abi_major = SOCFW_ABI_MAJOR,
                          .abi_minor = SOCFW_ABI_MINOR,
                          .size = sizeof(socfw_plugin),
                          .kind = SOCFW_PLUGIN_TASK, .name = "x",
                          .version = "1", .description = "d",
                          .task = SOCFW_TASK_HOOKS(.create = null_create)};
        socfw_error err = {0};
        cr_assert_eq(socfw_plugin_check(&d, "x", &err), 0);
        d.params = bad_default;
        cr_assert_lt(socfw_plugin_check(&d, "x", &err), 0);
        cr_assert(strstr(err.message, "bad default"), "%s", err.message);
        socfw_error_clear(&err);
        d.params = dup;
        cr_assert_lt(socfw_plugin_check(&d, "x", &err), 0);
        cr_assert(strstr(err.message, "declared twice"), "%s", err.message);
        socfw_error_clear(&err);
        d.params = enum_default;
        cr_assert_lt(socfw_plugin_check(&d, "x", &err), 0);
        socfw_error_clear(&err);
        d.params = NULL;
        d.name = "Bad-Name";
        cr_assert_lt(socfw_plugin_check(&d, NULL, &err), 0);
        socfw_error_clear(&err);
        d.name = "x";
        cr_assert_lt(socfw_plugin_check(&d, "y", &err), 0);
        cr_assert(strstr(err.message, "does not match"), "%s", err.message);
}

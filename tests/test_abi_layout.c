/* tests/test_abi_layout.c - the plugin ABI's structures, pinned: the size
 * and every field offset of the descriptor and hook tables as socfw 1.3
 * lays them out on LP64 machines (x86-64, AArch64).  A change that moves
 * a field breaks every plugin built before it; this test fails first.
 * Fields may only be added at the end (then update the sizes here and
 * SOCFW_ABI_MINOR). */
#include <criterion/criterion.h>
#include <stddef.h>

#include "socfw/plugin.h"

#define CHECK(t, f, off)                                                  \
        cr_expect_eq(offsetof(t, f), (size_t)(off),                       \
                     #t "." #f " moved: offset %zu, the ABI says %d",     \
                     offsetof(t, f), off)
#define SIZE(t, n)                                                        \
        cr_expect_eq(sizeof(t), (size_t)(n),                              \
                     "sizeof(" #t ") is %zu, the ABI says %d", sizeof(t), \
                     n)

Test(abi_layout, plugin_structures_are_where_plugins_expect_them)
{
        if (sizeof(void *) != 8 || sizeof(long) != 8)
                cr_skip_test("skipped: the pinned layout is LP64's");
        cr_expect_eq(SOCFW_ABI_MAJOR, 1);
        cr_expect_eq(SOCFW_ABI_MINOR, 3);
        SIZE(socfw_plugin, 192);
        CHECK(socfw_plugin, abi_major, 0);
        CHECK(socfw_plugin, abi_minor, 4);
        CHECK(socfw_plugin, kind, 8);
        CHECK(socfw_plugin, name, 16);
        CHECK(socfw_plugin, version, 24);
        CHECK(socfw_plugin, description, 32);
        CHECK(socfw_plugin, license, 40);
        CHECK(socfw_plugin, author, 48);
        CHECK(socfw_plugin, params, 56);
        CHECK(socfw_plugin, default_head, 64);
        CHECK(socfw_plugin, loss_params, 72);
        CHECK(socfw_plugin, task, 80);
        CHECK(socfw_plugin, head, 120);
        CHECK(socfw_plugin, target, 176);
        CHECK(socfw_plugin, input, 184);
        SIZE(socfw_task_hooks, 40);
        CHECK(socfw_task_hooks, create, 0);
        CHECK(socfw_task_hooks, destroy, 8);
        CHECK(socfw_task_hooks, parse_example, 16);
        CHECK(socfw_task_hooks, predict, 24);
        CHECK(socfw_task_hooks, evaluate, 32);
        SIZE(socfw_head_hooks, 56);
        CHECK(socfw_head_hooks, create, 0);
        CHECK(socfw_head_hooks, destroy, 8);
        CHECK(socfw_head_hooks, init_params, 16);
        CHECK(socfw_head_hooks, forward, 24);
        CHECK(socfw_head_hooks, loss, 32);
        CHECK(socfw_head_hooks, backward, 40);
        CHECK(socfw_head_hooks, output_size, 48);
        SIZE(socfw_param_spec, 56);
        CHECK(socfw_param_spec, key, 0);
        CHECK(socfw_param_spec, type, 8);
        CHECK(socfw_param_spec, flags, 12);
        CHECK(socfw_param_spec, default_value, 16);
        CHECK(socfw_param_spec, min, 24);
        CHECK(socfw_param_spec, max, 32);
        CHECK(socfw_param_spec, choices, 40);
        CHECK(socfw_param_spec, help, 48);
        SIZE(socfw_head_io, 88);
        SIZE(socfw_head_dims, 32);
        SIZE(socfw_head_targets, 48);
}

/* SOCFW_PLUGIN_DEFINE writes the one exported function. */
static const socfw_plugin layout_probe = {
        .abi_major = SOCFW_ABI_MAJOR, .abi_minor = SOCFW_ABI_MINOR,
        .kind = SOCFW_PLUGIN_HEAD, .name = "probe", .version = "0.0.1",
        .description = "layout test", .license = "MIT",
        .target = SOCFW_TARGET_CLASS,
};
SOCFW_PLUGIN_DEFINE(probe, layout_probe)

Test(abi_layout, the_define_macro_exports_the_descriptor)
{
        cr_assert_eq(socfw_plugin_probe_get(), &layout_probe);
        cr_assert_str_eq(socfw_plugin_probe_get()->name, "probe");
}

/* tests/test_abi_layout.c - the plugin ABI's structures, pinned: the size
 * and every field offset of the descriptor, the hook tables and the
 * structures hooks receive, as socfw 2.0 lays them out on LP64 machines
 * (x86-64, AArch64), and the enum values plugins compile in.
 *
 * A plugin built against one socfw and loaded by another reads these
 * bytes blind.  A failure here is an ABI break: moving, removing or
 * resizing a field needs SOCFW_ABI_MAJOR bumped (and the plugin guide's
 * ABI section updated); a field appended at the end of a structure that
 * carries its size (socfw_plugin, the hook tables, socfw_generate_opts)
 * needs SOCFW_ABI_MINOR bumped and the size below updated - nothing
 * else here may change. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "socfw/plugin.h"
#include "socfw/registry.h"

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
        cr_expect_eq(SOCFW_ABI_MAJOR, 2);
        cr_expect_eq(SOCFW_ABI_MINOR, 0);
        SIZE(socfw_plugin, 112);
        CHECK(socfw_plugin, abi_major, 0);
        CHECK(socfw_plugin, abi_minor, 4);
        CHECK(socfw_plugin, size, 8);
        CHECK(socfw_plugin, kind, 12);
        CHECK(socfw_plugin, name, 16);
        CHECK(socfw_plugin, version, 24);
        CHECK(socfw_plugin, description, 32);
        CHECK(socfw_plugin, license, 40);
        CHECK(socfw_plugin, author, 48);
        CHECK(socfw_plugin, params, 56);
        CHECK(socfw_plugin, default_head, 64);
        CHECK(socfw_plugin, input, 72);
        CHECK(socfw_plugin, task, 80);
        CHECK(socfw_plugin, loss_params, 88);
        CHECK(socfw_plugin, target, 96);
        CHECK(socfw_plugin, head, 104);
        SIZE(socfw_task_hooks, 48);
        CHECK(socfw_task_hooks, size, 0);
        CHECK(socfw_task_hooks, create, 8);
        CHECK(socfw_task_hooks, destroy, 16);
        CHECK(socfw_task_hooks, parse_example, 24);
        CHECK(socfw_task_hooks, predict, 32);
        CHECK(socfw_task_hooks, evaluate, 40);
        SIZE(socfw_head_hooks, 64);
        CHECK(socfw_head_hooks, size, 0);
        CHECK(socfw_head_hooks, create, 8);
        CHECK(socfw_head_hooks, destroy, 16);
        CHECK(socfw_head_hooks, init_params, 24);
        CHECK(socfw_head_hooks, forward, 32);
        CHECK(socfw_head_hooks, loss, 40);
        CHECK(socfw_head_hooks, backward, 48);
        CHECK(socfw_head_hooks, output_size, 56);
        SIZE(socfw_param_spec, 56);
        CHECK(socfw_param_spec, key, 0);
        CHECK(socfw_param_spec, type, 8);
        CHECK(socfw_param_spec, flags, 12);
        CHECK(socfw_param_spec, default_value, 16);
        CHECK(socfw_param_spec, min, 24);
        CHECK(socfw_param_spec, max, 32);
        CHECK(socfw_param_spec, choices, 40);
        CHECK(socfw_param_spec, help, 48);
        SIZE(socfw_head_dims, 32);
        CHECK(socfw_head_dims, hidden, 0);
        CHECK(socfw_head_dims, n_outputs, 4);
        CHECK(socfw_head_dims, max_seq, 8);
        CHECK(socfw_head_dims, max_batch, 12);
        CHECK(socfw_head_dims, embedding, 16);
        CHECK(socfw_head_dims, embedding_grad, 24);
        SIZE(socfw_head_io, 88);
        CHECK(socfw_head_io, B, 0);
        CHECK(socfw_head_io, T, 4);
        CHECK(socfw_head_io, C, 8);
        CHECK(socfw_head_io, hidden, 16);
        CHECK(socfw_head_io, dhidden, 24);
        CHECK(socfw_head_io, mask, 32);
        CHECK(socfw_head_io, ids, 40);
        CHECK(socfw_head_io, out, 48);
        CHECK(socfw_head_io, dout, 56);
        CHECK(socfw_head_io, out_len, 64);
        CHECK(socfw_head_io, training, 72);
        CHECK(socfw_head_io, rng, 80);
        SIZE(socfw_head_targets, 48);
        CHECK(socfw_head_targets, kind, 0);
        CHECK(socfw_head_targets, class_ids, 8);
        CHECK(socfw_head_targets, multi, 16);
        CHECK(socfw_head_targets, tags, 24);
        CHECK(socfw_head_targets, score, 32);
        CHECK(socfw_head_targets, class_weight, 40);
        SIZE(socfw_generate_opts, 112);
        CHECK(socfw_generate_opts, size, 0);
        CHECK(socfw_generate_opts, max_tokens, 8);
        CHECK(socfw_generate_opts, temperature, 12);
        CHECK(socfw_generate_opts, top_k, 16);
        CHECK(socfw_generate_opts, top_p, 20);
        CHECK(socfw_generate_opts, repetition_penalty, 24);
        CHECK(socfw_generate_opts, seed, 32);
        CHECK(socfw_generate_opts, stop, 40);
        CHECK(socfw_generate_opts, banned, 48);
        CHECK(socfw_generate_opts, on_piece, 56);
        CHECK(socfw_generate_opts, on_piece_user, 64);
        CHECK(socfw_generate_opts, required, 72);
        CHECK(socfw_generate_opts, max_chars, 80);
        CHECK(socfw_generate_opts, score, 88);
        CHECK(socfw_generate_opts, at_limit, 96);
        CHECK(socfw_generate_opts, n_forced, 104);
}

/* Values compiled into plugins. */
Test(abi_layout, enum_values_are_fixed)
{
        cr_expect_eq(SOCFW_PLUGIN_TASK, 1);
        cr_expect_eq(SOCFW_PLUGIN_HEAD, 2);
        cr_expect_eq(SOCFW_TARGET_CLASS, 1);
        cr_expect_eq(SOCFW_TARGET_MULTI_LABEL, 2);
        cr_expect_eq(SOCFW_TARGET_TAGS, 3);
        cr_expect_eq(SOCFW_TARGET_TOKENS, 4);
        cr_expect_eq(SOCFW_TARGET_SCORE, 5);
        cr_expect_eq(SOCFW_PARAM_BOOL, 1);
        cr_expect_eq(SOCFW_PARAM_MAP, 8);
        cr_expect_eq(SOCFW_PARAM_REQUIRED, 1u);
        cr_expect_eq(SOCFW_PARAM_MUST_EXIST, 2u);
}

/* The macros fill what every module used to repeat. */
static int
probe_create(const socfw_config *h, const socfw_config *l,
             const socfw_head_dims *d, socfw_params *p, void **st,
             socfw_error *err)
{
        (void)h, (void)l, (void)d, (void)p, (void)err;
        *st = NULL;
        return 0;
}
static int
probe_forward(void *st, socfw_head_io *io, socfw_error *err)
{
        (void)st, (void)io, (void)err;
        return 0;
}
static size_t
probe_output_size(void *st, int B, int T)
{
        (void)st, (void)T;
        return (size_t)B;
}

SOCFW_HEAD_PLUGIN(probe,
        .version = "0.0.1", .description = "layout test", .license = "MIT",
        .target = SOCFW_TARGET_SCORE,
        .head = SOCFW_HEAD_HOOKS(.create = probe_create,
                                 .forward = probe_forward,
                                 .output_size = probe_output_size));

Test(abi_layout, the_plugin_macros_fill_version_sizes_kind_and_name)
{
        const socfw_plugin *d = socfw_plugin_probe_get();
        cr_assert_eq(d->abi_major, SOCFW_ABI_MAJOR);
        cr_assert_eq(d->abi_minor, SOCFW_ABI_MINOR);
        cr_assert_eq(d->size, sizeof(socfw_plugin));
        cr_assert_eq(d->kind, SOCFW_PLUGIN_HEAD);
        cr_assert_str_eq(d->name, "probe");
        cr_assert_null(d->task);
        cr_assert_not_null(d->head);
        cr_assert_eq(d->head->size, sizeof(socfw_head_hooks));
        cr_assert_eq(d->head->forward, probe_forward);
        cr_assert_null(d->head->loss);
        socfw_error err = {0};
        cr_assert_eq(socfw_plugin_check(d, "probe", &err), 0, "%s",
                     err.message);
}

/* The registry hands out its own copy of a descriptor and its tables at
 * this socfw's sizes (a table from an older 2.x reads NULL past its
 * size), and refuses a table smaller than 2.0's. */
Test(abi_layout, the_host_reads_hook_tables_by_their_size)
{
        socfw_head_hooks hooks = *socfw_plugin_probe_get()->head;
        socfw_plugin d = *socfw_plugin_probe_get();
        d.head = &hooks;
        socfw_registry *reg = socfw_registry_new();
        socfw_error err = {0};
        cr_assert_eq(socfw_registry_add_static(reg, &d, "test", &err), 0,
                     "%s", err.message);
        const socfw_plugin *got = socfw_registry_find(reg, "probe", 0);
        cr_assert_not_null(got);
        cr_assert(got != &d && got->head != &hooks);
        cr_assert_eq(got->head->size, sizeof(socfw_head_hooks));
        cr_assert_eq(got->head->forward, probe_forward);
        cr_assert_eq(got->head->output_size, probe_output_size);
        socfw_registry_free(reg);
        /* smaller than 2.0's table: refused, naming both sizes */
        hooks.size = offsetof(socfw_head_hooks, forward);
        reg = socfw_registry_new();
        cr_assert_lt(socfw_registry_add_static(reg, &d, "test", &err), 0);
        cr_assert(strstr(err.message, "head hook table") &&
                          strstr(err.message, "SOCFW_HEAD_HOOKS"),
                  "%s", err.message);
        socfw_error_clear(&err);
        socfw_registry_free(reg);
}

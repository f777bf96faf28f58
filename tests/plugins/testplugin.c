/* tests/plugins/testplugin.c - tiny modules for the registry tests.
 * Compiled several times with different macros:
 *   TEST_NAME      module/plugin name (the exported symbol follows it)
 *   TEST_ABI_MAJOR / TEST_ABI_MINOR   the ABI the descriptor claims
 *   TEST_ABI_1_3   export a descriptor laid out as ABI 1.3 laid it out
 *                  (hook tables embedded by value), as a plugin built
 *                  against socfw 1.x would
 *   TEST_NO_SYMBOL export a misnamed function instead of the descriptor
 */
#include <stdint.h>
#include <stdlib.h>

#include "socfw/plugin.h"

#ifndef TEST_ABI_MAJOR
#define TEST_ABI_MAJOR SOCFW_ABI_MAJOR
#endif
#ifndef TEST_ABI_MINOR
#define TEST_ABI_MINOR SOCFW_ABI_MINOR
#endif

#define CAT3(a, b, c) a##b##c
#define GET_FN(n) CAT3(socfw_plugin_, n, _get)
#define STR2(x) #x
#define STR(x) STR2(x)

static const char *const colours[] = {"red", "green", NULL};

static const socfw_param_spec params[] = {
        {.key = "greeting", .type = SOCFW_PARAM_STRING,
         .default_value = "hello", .help = "What to say."},
        {.key = "count", .type = SOCFW_PARAM_INT, .default_value = "1",
         .min = 1, .max = 10, .help = "How often."},
        {.key = "colour", .type = SOCFW_PARAM_ENUM, .default_value = "red",
         .choices = colours, .help = "A colour."},
        {.key = "data.extra", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST, .help = "An extra file."},
        {0},
};

#include <stdio.h>

typedef struct state {
        socfw_task_ctx *ctx;
        const char *greeting;
} state;

static int
create(const socfw_config *cfg, socfw_task_ctx *ctx, void **out,
       socfw_error *err)
{
        state *s = malloc(sizeof *s);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        s->ctx = ctx;
        s->greeting = socfw_config_get_string(cfg, "greeting");
        *out = s;
        return 0;
}

static void
destroy(void *s)
{
        free(s);
}

/* Annotates "<task name>.greeting". */
static int
predict(void *st, socfw_post *post, socfw_error *err)
{
        state *s = st;
        char key[256];
        snprintf(key, sizeof key, "%s.greeting", socfw_task_name(s->ctx));
        return socfw_post_set_string(post, key, s->greeting, err);
}

#ifdef TEST_ABI_1_3
/* socfw 1.3's descriptor, field for field (its plugin.h is gone). */
typedef struct plugin_1_3 {
        uint32_t abi_major, abi_minor;
        int kind;
        const char *name, *version, *description, *license, *author;
        const socfw_param_spec *params;
        const char *default_head;
        const socfw_param_spec *loss_params;
        struct {
                int (*create)(const socfw_config *, socfw_task_ctx *, void **,
                              socfw_error *);
                void (*destroy)(void *);
                void *parse_example;
                int (*predict)(void *, socfw_post *, socfw_error *);
                void *evaluate;
        } task;
        void *head[7];
        int target;
        const char *input;
} plugin_1_3;

static const plugin_1_3 desc_1_3 = {
        .abi_major = 1,
        .abi_minor = 3,
        .kind = SOCFW_PLUGIN_TASK,
        .name = STR(TEST_NAME),
        .version = "9.9",
        .description = "A plugin built against socfw 1.3.",
        .license = "MIT",
        .params = params,
        .task = {.create = create, .destroy = destroy, .predict = predict},
};
/* the loader reads it through the 2.x type, as it would a real one */
#define DESC ((const socfw_plugin *)(const void *)&desc_1_3)
#else
static const socfw_plugin desc = {
        .abi_major = TEST_ABI_MAJOR,
        .abi_minor = TEST_ABI_MINOR,
        .size = sizeof(socfw_plugin),
        .kind = SOCFW_PLUGIN_TASK,
        .name = STR(TEST_NAME),
        .version = "9.9",
        .description = "A plugin used by the registry tests.",
        .license = "MIT",
        .params = params,
        .task = SOCFW_TASK_HOOKS(.create = create, .destroy = destroy,
                                 .predict = predict),
};
#define DESC (&desc)
#endif

#ifdef TEST_NO_SYMBOL
const socfw_plugin *socfw_plugin_wrong_name_get(void);
const socfw_plugin *
socfw_plugin_wrong_name_get(void)
{
        return DESC;
}
#else
const socfw_plugin *GET_FN(TEST_NAME)(void);
const socfw_plugin *
GET_FN(TEST_NAME)(void)
{
        return DESC;
}
#endif

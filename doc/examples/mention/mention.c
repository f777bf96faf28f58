/* mention.c - an example third-party socfw plugin, built out of tree.
 *
 * It flags posts that mention any of a list of brand names, so a chain
 * can route them (e.g. privacy -> mention -> sentiment).  Build it with
 *
 *     cc -shared -fPIC -o mention.so mention.c \
 *        $(pkg-config --cflags --libs socfw)
 *
 * and put mention.so in a directory on SOCFW_PLUGIN_PATH.  In a pipeline:
 *
 *     tasks:
 *       - name: brands
 *         plugin: mention
 *         brands: [Acme, Globex]
 *     chain: [brands]
 *
 * Each post gets brands.found (a list) and brands.count.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <socfw/plugin.h>

static const socfw_param_spec params[] = {
        {.key = "brands", .type = SOCFW_PARAM_LIST,
         .flags = SOCFW_PARAM_REQUIRED,
         .help = "Names to look for."},
        {.key = "case_sensitive", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Match letter case exactly."},
        {0},
};

typedef struct mention {
        socfw_task_ctx *ctx;
        const socfw_config *cfg;
        int case_sensitive;
} mention;

static int
mention_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
               socfw_error *err)
{
        mention *m = calloc(1, sizeof *m);
        if (!m)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        m->ctx = ctx;
        m->cfg = cfg; /* lives as long as the pipeline: safe to keep */
        m->case_sensitive = socfw_config_get_bool(cfg, "case_sensitive");
        *state = m;
        return 0;
}

static void
mention_destroy(void *state)
{
        free(state);
}

/* Is `needle` in `hay` as a whole word? */
static int
contains_word(const char *hay, const char *needle, int case_sensitive)
{
        size_t n = strlen(needle);
        for (const char *p = hay; *p; p++) {
                int same = case_sensitive ? strncmp(p, needle, n) == 0
                                          : strncasecmp(p, needle, n) == 0;
                if (!same)
                        continue;
                int left = p == hay || !isalnum((unsigned char)p[-1]);
                int right = !isalnum((unsigned char)p[n]);
                if (left && right)
                        return 1;
        }
        return 0;
}

static int
mention_predict(void *state, socfw_post *post, socfw_error *err)
{
        mention *m = state;
        const char *text = socfw_post_text(post);
        char json[4096] = "[";
        size_t off = 1, count = 0;
        for (size_t i = 0; i < socfw_config_list_len(m->cfg, "brands"); i++) {
                const char *b = socfw_config_list_get(m->cfg, "brands", i);
                if (!contains_word(text, b, m->case_sensitive))
                        continue;
                /* brand names come from our own YAML: escape the quote */
                off += (size_t)snprintf(json + off, sizeof json - off,
                                        "%s\"", count ? "," : "");
                for (const char *c = b; *c && off + 3 < sizeof json; c++) {
                        if (*c == '"' || *c == '\\')
                                json[off++] = '\\';
                        json[off++] = *c;
                }
                off += (size_t)snprintf(json + off, sizeof json - off, "\"");
                count++;
        }
        snprintf(json + off, sizeof json - off, "]");
        char key[256];
        snprintf(key, sizeof key, "%s.found", socfw_task_name(m->ctx));
        int rc = socfw_post_set_json(post, key, json, err);
        snprintf(key, sizeof key, "%s.count", socfw_task_name(m->ctx));
        if (rc == 0)
                rc = socfw_post_set_number(post, key, (double)count, err);
        return rc;
}

SOCFW_TASK_PLUGIN(mention,
        .version = "1.0.0",
        .description = "Flags posts that mention given brand names.",
        .license = "MIT",
        .author = "Example Corp",
        .params = params,
        .task = SOCFW_TASK_HOOKS(.create = mention_create,
                                 .destroy = mention_destroy,
                                 .predict = mention_predict));

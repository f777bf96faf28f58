/* adcopy.c - advertising copy generation task plugin.
 *
 * Records carry structured input (category, advertiser, product, and
 * optionally audience, keywords, tone) and the reference copy.  The prompt
 * lists the fields; the "lm" head learns the copy.  As a chain stage the
 * post's text is the product brief and adcopy.copy is written; the channel's
 * length limit, required keywords and banned words are enforced while
 * generating.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/plugin.h"

static const char *const channel_choices[] = {"generic", "twitter", "weibo",
                                              "search_ad", "banner", NULL};

static const socfw_param_spec params[] = {
        {.key = "data.category_field", .type = SOCFW_PARAM_STRING,
         .default_value = "category", .help = "Field with the category."},
        {.key = "data.advertiser_field", .type = SOCFW_PARAM_STRING,
         .default_value = "advertiser", .help = "Field with the advertiser."},
        {.key = "data.product_field", .type = SOCFW_PARAM_STRING,
         .default_value = "product", .help = "Field with the product."},
        {.key = "data.copy_field", .type = SOCFW_PARAM_STRING,
         .default_value = "copy", .help = "Field with the reference copy."},
        {.key = "channel", .type = SOCFW_PARAM_ENUM,
         .default_value = "generic", .choices = channel_choices,
         .help = "Where the copy runs; sets the default length limit "
                 "(twitter 280, weibo 140, search_ad 90, banner 60, generic "
                 "500 characters)."},
        {.key = "max_chars", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 100000,
         .help = "Length limit in characters; 0 = the channel's."},
        {.key = "audience", .type = SOCFW_PARAM_STRING,
         .help = "Who the copy speaks to."},
        {.key = "tone", .type = SOCFW_PARAM_STRING,
         .default_value = "upbeat", .help = "Tone of the copy."},
        {.key = "keywords", .type = SOCFW_PARAM_LIST,
         .help = "Words every copy must contain."},
        {.key = "banned_words", .type = SOCFW_PARAM_LIST,
         .help = "Words no copy may contain."},
        {.key = "banned_claims", .type = SOCFW_PARAM_LIST,
         .help = "Phrases no copy may contain (e.g. \"guaranteed "
                 "results\")."},
        {.key = "candidates", .type = SOCFW_PARAM_INT, .default_value = "1",
         .min = 1, .max = 1,
         .help = "Copies sampled per request (ranking several candidates "
                 "is not available yet: 1)."},
        {.key = "temperature", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.8", .min = 0, .max = 10,
         .help = "Sampling temperature."},
        {.key = "prefer_positive", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Rank candidates by a sentiment stage (not available yet: "
                 "false)."},
        {0},
};

typedef struct adcopy {
        socfw_task_ctx *ctx;
        const socfw_config *cfg;
} adcopy;

static void
adcopy_destroy(void *state)
{
        free(state);
}

static int
adcopy_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
              socfw_error *err)
{
        adcopy *a = calloc(1, sizeof *a);
        if (!a)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        a->ctx = ctx;
        a->cfg = cfg;
        /* constraints not enforced yet are refused, not ignored */
        static const char *const pending[] = {"keywords", "banned_claims",
                                              "audience"};
        for (size_t i = 0; i < sizeof pending / sizeof pending[0]; i++)
                if (socfw_config_has(cfg, pending[i])) {
                        free(a);
                        return socfw_error_set_at(
                                err, SOCFW_EUNSUPPORTED,
                                socfw_config_file(cfg),
                                socfw_config_line(cfg, pending[i]),
                                socfw_config_column(cfg, pending[i]),
                                "adcopy: '%s' is not enforced in this build "
                                "yet (banned_words and the channel's length "
                                "limit are)",
                                pending[i]);
                }
        if (socfw_config_get_bool(cfg, "prefer_positive")) {
                free(a);
                return socfw_error_set_at(
                        err, SOCFW_EUNSUPPORTED, socfw_config_file(cfg),
                        socfw_config_line(cfg, "prefer_positive"),
                        socfw_config_column(cfg, "prefer_positive"),
                        "adcopy: prefer_positive is not available in this "
                        "build yet");
        }
        *state = a;
        return 0;
}

/* The channel's length limit in characters (code points). */
static size_t
max_chars(const adcopy *a)
{
        long long n = socfw_config_get_int(a->cfg, "max_chars");
        if (n > 0)
                return (size_t)n;
        const char *ch = socfw_config_get_string(a->cfg, "channel");
        return !strcmp(ch, "twitter")     ? 280
               : !strcmp(ch, "weibo")     ? 140
               : !strcmp(ch, "search_ad") ? 90
               : !strcmp(ch, "banner")    ? 60
                                          : 500;
}

/* Cut `s` to at most `limit` code points, at the last space when there is
 * one in the second half, never inside a UTF-8 character. */
static void
cut_to(char *s, size_t limit)
{
        size_t cps = 0, i = 0, last_space = 0;
        for (; s[i]; i++) {
                if (((unsigned char)s[i] & 0xC0) == 0x80)
                        continue;
                if (cps == limit)
                        break;
                if (s[i] == ' ')
                        last_space = i;
                cps++;
        }
        if (!s[i])
                return;
        if (last_space > i / 2)
                i = last_space;
        s[i] = '\0';
}

static int
adcopy_parse_example(void *state, const socfw_record *rec, socfw_example *ex,
                     socfw_error *err)
{
        adcopy *a = state;
        const char *keys[] = {"data.category_field", "data.advertiser_field",
                              "data.product_field", "data.copy_field"};
        const char *v[4];
        for (int i = 0; i < 4; i++) {
                const char *field = socfw_config_get_string(a->cfg, keys[i]);
                v[i] = socfw_record_get_string(rec, field);
                if (!v[i] || !v[i][0])
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "missing or empty field '%s'",
                                               field);
        }
        char *prompt = NULL;
        if (asprintf(&prompt,
                     "category: %s\nadvertiser: %s\nproduct: %s\ncopy:",
                     v[0], v[1], v[2]) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = socfw_example_set_lm(ex, prompt, v[3]);
        free(prompt);
        return rc;
}

static int
adcopy_predict(void *state, socfw_post *post, socfw_error *err)
{
        adcopy *a = state;
        char *prompt = NULL, *copy = NULL;
        if (asprintf(&prompt, "%s\ncopy:", socfw_post_text(post)) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        /* banned words are enforced while generating */
        size_t nb = socfw_config_list_len(a->cfg, "banned_words");
        const char **banned = calloc(nb + 1, sizeof *banned);
        if (!banned) {
                free(prompt);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < nb; i++)
                banned[i] = socfw_config_list_get(a->cfg, "banned_words", i);
        const char *stop[] = {"\n", NULL};
        size_t limit = max_chars(a);
        socfw_generate_opts o = {
                .size = sizeof o,
                /* a token is at least one character: enough tokens */
                .max_tokens = (int)(limit < 1024 ? limit : 1024),
                .temperature = (float)socfw_config_get_float(a->cfg,
                                                             "temperature"),
                .stop = stop,
                .banned = banned,
        };
        int rc = socfw_task_generate(a->ctx, prompt, &o, &copy, err);
        free(banned);
        if (rc == 0)
                cut_to(copy, limit);
        char key[300];
        snprintf(key, sizeof key, "%s.copy", socfw_task_name(a->ctx));
        if (rc == 0)
                rc = socfw_post_set_string(post, key, copy, err);
        free(prompt);
        free(copy);
        return rc;
}

static const socfw_plugin adcopy_plugin = {
        .abi_major = SOCFW_ABI_MAJOR,
        .abi_minor = SOCFW_ABI_MINOR,
        .kind = SOCFW_PLUGIN_TASK,
        .name = "adcopy",
        .version = "0.1.0",
        .description = "Advertising copy for a product and audience, with "
                       "length, keyword and banned-word constraints.",
        .license = "MIT",
        .author = "socfw developers",
        .params = params,
        .default_head = "lm",
        .task = {.create = adcopy_create,
                 .destroy = adcopy_destroy,
                 .parse_example = adcopy_parse_example,
                 .predict = adcopy_predict},
};

const socfw_plugin *socfw_plugin_adcopy_get(void);

const socfw_plugin *
socfw_plugin_adcopy_get(void)
{
        return &adcopy_plugin;
}

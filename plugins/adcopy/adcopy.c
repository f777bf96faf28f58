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
        {.key = "candidates", .type = SOCFW_PARAM_INT, .default_value = "4",
         .min = 1, .max = 256,
         .help = "Copies sampled per request; the best is kept."},
        {.key = "temperature", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.8", .min = 0, .max = 10,
         .help = "Sampling temperature."},
        {.key = "prefer_positive", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "Rank candidates higher when a sentiment stage finds them "
                 "positive."},
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
        *state = a;
        return 0;
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
        socfw_generate_opts o = {
                .size = sizeof o,
                .temperature = (float)socfw_config_get_float(a->cfg,
                                                             "temperature"),
        };
        int rc = socfw_task_generate(a->ctx, prompt, &o, &copy, err);
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

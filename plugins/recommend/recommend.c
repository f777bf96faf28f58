/* recommend.c - text-based recommendation task plugin.
 *
 * Interactions (user, item, rating or click, timestamp) and an items file
 * with text fields (title, genres, tags, ...) are read; each item's text
 * and each user's recent history are encoded by the backbone, and the
 * "ranker" head scores (user, item) pairs as a two-tower model.  As a
 * chain stage it writes recommend.items: the top-K items for the post's
 * user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/plugin.h"

static const char *const negative_choices[] = {"uniform", "popular", NULL};

static const socfw_param_spec params[] = {
        {.key = "data.items", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "Items file (JSON Lines) with an id field and text fields."},
        {.key = "data.user_field", .type = SOCFW_PARAM_STRING,
         .default_value = "user", .help = "Field with the user id."},
        {.key = "data.item_field", .type = SOCFW_PARAM_STRING,
         .default_value = "item", .help = "Field with the item id."},
        {.key = "data.rating_field", .type = SOCFW_PARAM_STRING,
         .default_value = "rating",
         .help = "Field with the rating or click (1/0)."},
        {.key = "data.time_field", .type = SOCFW_PARAM_STRING,
         .default_value = "ts",
         .help = "Field with the timestamp (orders histories; leave-last-"
                 "out evaluation)."},
        {.key = "item_text_fields", .type = SOCFW_PARAM_LIST,
         .default_value = "title,genres,tags",
         .help = "Item fields joined into the text the backbone reads."},
        {.key = "positive_threshold", .type = SOCFW_PARAM_FLOAT,
         .default_value = "4.0", .min = -1e9, .max = 1e9,
         .help = "Ratings at or above this count as positive."},
        {.key = "history_length", .type = SOCFW_PARAM_INT,
         .default_value = "20", .min = 1, .max = 10000,
         .help = "Most recent positive items that describe a user."},
        {.key = "negatives", .type = SOCFW_PARAM_INT, .default_value = "4",
         .min = 0, .max = 10000,
         .help = "Sampled negatives per positive (bce and bpr losses)."},
        {.key = "negative_sampling", .type = SOCFW_PARAM_ENUM,
         .default_value = "uniform", .choices = negative_choices,
         .help = "How negatives are drawn."},
        {.key = "top_k", .type = SOCFW_PARAM_INT, .default_value = "10",
         .min = 1, .max = 100000,
         .help = "Items recommended per user; also K of HitRate@K and "
                 "NDCG@K."},
        {.key = "rerank", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 100000,
         .help = "Re-rank this many retrieved candidates with a "
                 "cross-encoder; 0 = off."},
        {0},
};

typedef struct recommend {
        socfw_task_ctx *ctx;
        const socfw_config *cfg;
} recommend;

static void
recommend_destroy(void *state)
{
        free(state);
}

static int
recommend_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
                 socfw_error *err)
{
        recommend *r = calloc(1, sizeof *r);
        if (!r)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        r->ctx = ctx;
        r->cfg = cfg;
        *state = r;
        return 0;
}

static int
recommend_predict(void *state, socfw_post *post, socfw_error *err)
{
        recommend *r = state;
        (void)post;
        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                               "task '%s': ranking needs a trained item "
                               "index, which this build cannot make yet "
                               "(the recommend trainer is not implemented)",
                               socfw_task_name(r->ctx));
}

static const socfw_plugin recommend_plugin = {
        .abi_major = SOCFW_ABI_MAJOR,
        .abi_minor = SOCFW_ABI_MINOR,
        .kind = SOCFW_PLUGIN_TASK,
        .name = "recommend",
        .version = "0.1.0",
        .description = "Personalised recommendation from the text of the "
                       "items a user interacted with (two-tower ranker).",
        .license = "MIT",
        .author = "socfw developers",
        .params = params,
        .default_head = "ranker",
        .task = {.create = recommend_create,
                 .destroy = recommend_destroy,
                 .predict = recommend_predict},
};

const socfw_plugin *socfw_plugin_recommend_get(void);

const socfw_plugin *
socfw_plugin_recommend_get(void)
{
        return &recommend_plugin;
}

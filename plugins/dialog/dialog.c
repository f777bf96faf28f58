/* dialog.c - multi-turn conversation task plugin.
 *
 * Training data: JSON Lines with `turns: [{speaker, text, emotion?}, ...]`
 * (as DailyDialog), or prompt/response pairs.  Every turn after the first
 * becomes an example: the history (the last `history.max_turns` turns,
 * rendered with the chat template) is context, the turn is the target.
 *
 * As a chain stage it replies to the post: the prompt is the persona, a
 * tone instruction chosen by the sentiment an earlier stage detected
 * (`tone: {negative: "apologetic, calm"}`), and the conversation so far;
 * the reply is written to dialog.reply (prefix = task name).
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "socfw/plugin.h"

static const char *const template_choices[] = {"plain", "chatml", "llama2",
                                               NULL};

static const socfw_param_spec params[] = {
        {.key = "data.turns_field", .type = SOCFW_PARAM_STRING,
         .default_value = "turns",
         .help = "Field holding the list of turns ({speaker, text})."},
        {.key = "data.prompt_field", .type = SOCFW_PARAM_STRING,
         .default_value = "prompt",
         .help = "For prompt/response pairs: the field with the prompt."},
        {.key = "data.response_field", .type = SOCFW_PARAM_STRING,
         .default_value = "response",
         .help = "For prompt/response pairs: the field with the reply."},
        {.key = "template", .type = SOCFW_PARAM_ENUM,
         .default_value = "plain", .choices = template_choices,
         .help = "How a conversation is written for the model."},
        {.key = "system", .type = SOCFW_PARAM_STRING,
         .default_value = "You are a friendly, helpful social-media "
                          "assistant.",
         .help = "Persona text; always kept when history is trimmed."},
        {.key = "history.max_turns", .type = SOCFW_PARAM_INT,
         .default_value = "8", .min = 1, .max = 1000,
         .help = "Turns of history given to the model; the oldest go "
                 "first."},
        {.key = "history.max_tokens", .type = SOCFW_PARAM_INT,
         .default_value = "384", .min = 16, .max = 1048576,
         .help = "Token budget for persona + history + reply."},
        {.key = "tone", .type = SOCFW_PARAM_MAP,
         .help = "Tone instruction per sentiment label, e.g. {negative: "
                 "\"apologetic, calm\", positive: \"warm\"}."},
        {.key = "sentiment_stage", .type = SOCFW_PARAM_STRING,
         .default_value = "sentiment",
         .help = "Chain stage whose label selects the tone."},
        {.key = "emotion_control", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "Learn a control token from per-turn emotion labels and "
                 "condition replies on the detected sentiment."},
        {.key = "max_reply_tokens", .type = SOCFW_PARAM_INT,
         .default_value = "64", .min = 1, .max = 65536,
         .help = "Longest reply."},
        {.key = "temperature", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.7", .min = 0, .max = 10,
         .help = "Sampling temperature; 0 = greedy."},
        {.key = "top_k", .type = SOCFW_PARAM_INT, .default_value = "40",
         .min = 0, .max = 1000000, .help = "Top-k sampling; 0 = off."},
        {.key = "top_p", .type = SOCFW_PARAM_FLOAT, .default_value = "0.9",
         .min = 0, .max = 1, .help = "Nucleus sampling; 1 = off."},
        {.key = "repetition_penalty", .type = SOCFW_PARAM_FLOAT,
         .default_value = "1.1", .min = 1, .max = 10,
         .help = "Penalty on tokens already in the conversation."},
        {.key = "blocklist", .type = SOCFW_PARAM_LIST,
         .help = "Words a reply must never contain."},
        {.key = "stop", .type = SOCFW_PARAM_LIST,
         .help = "Extra strings that end a reply."},
        {.key = "sessions", .type = SOCFW_PARAM_PATH,
         .default_value = "sessions.db",
         .help = "SQLite database keeping conversations across restarts."},
        {0},
};

typedef struct dialog {
        socfw_task_ctx *ctx;
        const socfw_config *cfg;
        char *name;
        int max_turns;
} dialog;

static void
dialog_destroy(void *state)
{
        dialog *d = state;
        if (d)
                free(d->name);
        free(d);
}

static int
dialog_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
              socfw_error *err)
{
        dialog *d = calloc(1, sizeof *d);
        if (!d || !(d->name = strdup(socfw_task_name(ctx)))) {
                free(d);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        d->ctx = ctx;
        d->cfg = cfg;
        d->max_turns = (int)socfw_config_get_int(cfg, "history.max_turns");
        *state = d;
        return 0;
}

/* Render turns [from, to) as "A: text\nB: text\n". */
static char *
render_history(json_t *turns, size_t from, size_t to)
{
        size_t cap = 256, len = 0;
        char *out = malloc(cap);
        if (!out)
                return NULL;
        out[0] = '\0';
        for (size_t i = from; i < to; i++) {
                json_t *t = json_array_get(turns, i);
                const char *sp = json_string_value(json_object_get(t,
                                                                   "speaker"));
                const char *tx = json_string_value(json_object_get(t, "text"));
                size_t need = strlen(sp ? sp : "") + strlen(tx ? tx : "") + 4;
                if (len + need + 1 > cap) {
                        while (len + need + 1 > cap)
                                cap *= 2;
                        char *g = realloc(out, cap);
                        if (!g) {
                                free(out);
                                return NULL;
                        }
                        out = g;
                }
                len += (size_t)snprintf(out + len, cap - len, "%s: %s\n",
                                        sp ? sp : "user", tx ? tx : "");
        }
        return out;
}

static int
dialog_parse_example(void *state, const socfw_record *rec, socfw_example *ex,
                     socfw_error *err)
{
        dialog *d = state;
        const char *tf = socfw_config_get_string(d->cfg, "data.turns_field");
        char *json = socfw_record_get_json(rec, tf);
        if (!json) {
                /* prompt/response pairs */
                const char *p = socfw_record_get_string(
                        rec, socfw_config_get_string(d->cfg,
                                                     "data.prompt_field"));
                const char *r = socfw_record_get_string(
                        rec, socfw_config_get_string(d->cfg,
                                                     "data.response_field"));
                if (!p || !r)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "record has neither '%s' (a list of turns) "
                                "nor prompt/response fields",
                                tf);
                return socfw_example_set_lm(ex, p, r);
        }
        json_t *turns = json_loads(json, JSON_DECODE_ANY, NULL);
        free(json);
        int rc = 0;
        size_t n = json_array_size(turns);
        if (!json_is_array(turns) || n < 2) {
                json_decref(turns);
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "'%s' must be a list of at least two "
                                       "turns",
                                       tf);
        }
        for (size_t i = 1; i < n && rc == 0; i++) {
                json_t *t = json_array_get(turns, i);
                const char *text = json_string_value(json_object_get(t,
                                                                     "text"));
                if (!text || !text[0]) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "turn %zu has no text", i + 1);
                        break;
                }
                size_t from = i > (size_t)d->max_turns
                                      ? i - (size_t)d->max_turns
                                      : 0;
                char *ctx = render_history(turns, from, i);
                const char *sp = json_string_value(json_object_get(t,
                                                                   "speaker"));
                char *target = NULL;
                if (ctx && asprintf(&target, "%s: %s\n", sp ? sp : "bot",
                                    text) < 0)
                        target = NULL;
                rc = ctx && target ? socfw_example_set_lm(ex, ctx, target)
                                   : SOCFW_ENOMEM;
                free(ctx);
                free(target);
                if (rc == 0 && i + 1 < n)
                        rc = socfw_example_next(ex);
        }
        json_decref(turns);
        return rc;
}

static int
dialog_predict(void *state, socfw_post *post, socfw_error *err)
{
        dialog *d = state;
        char key[300], *prompt = NULL, *reply = NULL;
        snprintf(key, sizeof key, "%s.label",
                 socfw_config_get_string(d->cfg, "sentiment_stage"));
        const char *label = socfw_post_get_string(post, key);
        const char *tone = label ? socfw_config_map_lookup(d->cfg, "tone",
                                                           label)
                                 : NULL;
        if (asprintf(&prompt, "%s%s%s\nuser: %s\nbot:",
                     socfw_config_get_string(d->cfg, "system"),
                     tone ? " Reply in this tone: " : "", tone ? tone : "",
                     socfw_post_text(post)) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        snprintf(key, sizeof key, "%s.tone", d->name);
        int rc = tone ? socfw_post_set_string(post, key, tone, err) : 0;
        const char *stop[] = {"\nuser:", NULL};
        socfw_generate_opts o = {
                .size = sizeof o,
                .max_tokens = (int)socfw_config_get_int(d->cfg,
                                                        "max_reply_tokens"),
                .temperature = (float)socfw_config_get_float(d->cfg,
                                                             "temperature"),
                .top_k = (int)socfw_config_get_int(d->cfg, "top_k"),
                .top_p = (float)socfw_config_get_float(d->cfg, "top_p"),
                .repetition_penalty = (float)socfw_config_get_float(
                        d->cfg, "repetition_penalty"),
                .stop = stop,
        };
        if (rc == 0)
                rc = socfw_task_generate(d->ctx, prompt, &o, &reply, err);
        snprintf(key, sizeof key, "%s.reply", d->name);
        if (rc == 0)
                rc = socfw_post_set_string(post, key, reply, err);
        free(prompt);
        free(reply);
        return rc;
}

static const socfw_plugin dialog_plugin = {
        .abi_major = SOCFW_ABI_MAJOR,
        .abi_minor = SOCFW_ABI_MINOR,
        .kind = SOCFW_PLUGIN_TASK,
        .name = "dialog",
        .version = "0.1.0",
        .description = "Multi-turn conversation: replies that keep context "
                       "and follow the user's sentiment.",
        .license = "MIT",
        .author = "socfw developers",
        .params = params,
        .default_head = "lm",
        .task = {.create = dialog_create,
                 .destroy = dialog_destroy,
                 .parse_example = dialog_parse_example,
                 .predict = dialog_predict},
};

const socfw_plugin *socfw_plugin_dialog_get(void);

const socfw_plugin *
socfw_plugin_dialog_get(void)
{
        return &dialog_plugin;
}

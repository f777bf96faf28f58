/* dialog.c - multi-turn conversation task plugin.
 *
 * Training data (JSON Lines), either
 *   {"turns": [{"speaker": "A", "text": "...", "emotion": "happiness"}, ...]}
 * (DailyDialog; extra fields such as "act" are ignored), or
 *   {"prompt": "...", "response": "...", "emotion": "..."}.
 *
 * Which turns are learnt:
 *   - When every speaker is a role name (user/human, assistant/bot/gpt,
 *     system), each assistant turn after the first turn is a target.
 *   - Otherwise (speakers "A"/"B", names, or missing) every turn after the
 *     first is a target, and the turns of its speaker are the assistant's,
 *     every other turn the user's.
 * Each target gives one example (socfw_example_next between them):
 *   context = the chat template rendering of the persona (`system`, plus the
 *             tone instruction for the target's label when `tone:` has one)
 *             and the last `history.max_turns` turns before the target,
 *             ending with the assistant's prefix (and the control token
 *             "<|tone:LABEL|>" when `emotion_control` is on and the label
 *             is known);
 *   target  = the turn text as the template writes it after that prefix,
 *             up to and including the template's end of turn.
 * The label is the target turn's emotion (control_from: reply) or the
 * previous turn's (control_from: user), mapped through `emotion_map` and
 * then a built-in map (DailyDialog/TweetEval emotions -> negative, neutral,
 * positive), so that training and the sentiment stage speak the same labels.
 * The runtime keeps the end of a context longer than the model's window.
 *
 * As a chain stage (predict):
 *   1. The post's text is the user's message (checked: not empty, valid
 *      UTF-8, at most `max_message` bytes).
 *   2. The session (socfw_post_session) is loaded from the SQLite store
 *      `sessions` (opened on first use); no session = a one-shot exchange.
 *   3. The label of the earlier stage (`<sentiment_stage>.label`, else
 *      `default_label`) chooses the tone instruction (`tone:`) and the
 *      control token.
 *   4. The history window (history.max_turns, history.max_tokens with
 *      max_reply_tokens reserved; counted with the model's tokenizer, or in
 *      words when the pipeline has no model) gives the prompt.
 *   5. The reply is generated (stops: the template's + `stop`; `blocklist`
 *      words are never produced), trimmed, and written to <task>.reply;
 *      <task>.tone holds the tone used, <task>.input the message answered,
 *      <task>.prompt the prompt when debug_prompt is on.  With reply_as_text
 *      (the default) the post's text becomes the reply, so that a later
 *      privacy stage scrubs it.
 *   6. Both turns are appended to the session in one transaction.
 * Commands (the annotation <task>.command set by the caller, e.g. `socfw
 * chat`): "reset" clears the session's turns; "history" writes
 * <task>.history (a JSON array of {role, text, label}), <task>.turns and
 * <task>.exists without generating anything.
 *
 * Caller-supplied conversation (socfw serve's OpenAI-compatible API): with
 * no session, the string annotation <task>.messages (a JSON array of
 * {"role": "system"|"user"|"assistant", "content": "..."}, oldest first)
 * gives the turns before the post's message; a "system" entry replaces the
 * persona.  The numbers <task>.temperature, <task>.top_p, <task>.max_tokens
 * and <task>.seed and the string <task>.stop_json (a JSON array of up to
 * four strings) override the section's generation settings for this post.
 * <task>.prompt_tokens and <task>.reply_tokens get the prompt's and the
 * reply's token counts when the model can count them.
 *
 * Streaming: when the caller sets the number <task>.stream_fd, the reply is
 * written to that file descriptor as it is generated (trimmed as the final
 * reply is: no leading control token or white space, no trailing white
 * space), and <task>.streamed gets the number of bytes written.  A write
 * error stops generation.  The caller decides whether streaming is safe:
 * text streamed here has not been through any later chain stage (socfw
 * chat streams only when the dialog stage is the last one, so a privacy
 * stage after it always sees the reply first).
 *
 * Evaluation (eval_generate > 0): the evaluate hook draws a seeded
 * reservoir sample of eval_generate of the evaluated items (one per target
 * turn; `seed`, so every evaluation of a split draws the same items),
 * rebuilds each sampled item's prompt from its record (socfw_eval_record)
 * with the function parse_example uses, generates a reply for it (greedy,
 * or the configured sampling with eval_sampling: configured), and reports
 * distinct_1, distinct_2, avg_reply_words (words as genmetrics.h defines
 * them) and generated_replies.  The host reads the records again from the
 * evaluated file: when it was moved, deleted or shortened since it was
 * read, or a sampled record no longer gives the item, the evaluation fails
 * with an error naming the file (an edit that keeps every record's turns
 * is read as it is now).  No data file (socfw_eval_source NULL): no
 * generation metrics.
 *
 * template: auto reads the chat template in the metadata of
 * chat_template_from (template.h: socfw_dialog_template_auto): ChatML,
 * Llama-2 or plain by their markers; no template -> plain; a template of
 * no known family -> plain with a warning.
 */
#define _GNU_SOURCE /* asprintf */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <utf8proc.h>

#include "context.h"
#include "genmetrics.h"
#include "sessions.h"
#include "stream.h"
#include "socfw/log.h"
#include "socfw/plugin.h"
#include "template.h"

#define MAX_TURNS_PER_RECORD 4096
#define MAX_STOPS 64
#define KEY_MAX 320

static const char *const template_choices[] = {"auto", "plain", "chatml",
                                               "llama2", NULL};
static const char *const control_from_choices[] = {"reply", "user", NULL};
static const char *const eval_sampling_choices[] = {"greedy", "configured",
                                                    NULL};

static const socfw_param_spec params[] = {
        {.key = "data.turns_field", .type = SOCFW_PARAM_STRING,
         .default_value = "turns",
         .help = "Field holding the list of turns ({speaker, text, "
                 "emotion?})."},
        {.key = "data.prompt_field", .type = SOCFW_PARAM_STRING,
         .default_value = "prompt",
         .help = "For prompt/response pairs: the field with the prompt."},
        {.key = "data.response_field", .type = SOCFW_PARAM_STRING,
         .default_value = "response",
         .help = "For prompt/response pairs: the field with the reply."},
        {.key = "data.emotion_field", .type = SOCFW_PARAM_STRING,
         .default_value = "emotion",
         .help = "Field of a turn (or of a prompt/response record) with its "
                 "emotion or sentiment label."},
        {.key = "template", .type = SOCFW_PARAM_ENUM,
         .default_value = "auto", .choices = template_choices,
         .help = "How a conversation is written for the model: plain, "
                 "chatml, llama2, or auto (the family of the chat template "
                 "in the metadata of chat_template_from, else plain)."},
        {.key = "chat_template_from", .type = SOCFW_PARAM_PATH,
         .help = "For template: auto, the model whose metadata names the "
                 "chat template: a .gguf file (tokenizer.chat_template) or "
                 "a Hugging Face directory (tokenizer_config.json "
                 "chat_template); usually the same as backbone.model."},
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
        {.key = "default_label", .type = SOCFW_PARAM_STRING,
         .help = "Label used when no earlier stage gives one (e.g. "
                 "neutral), so that replies still get the tone and control "
                 "token they were trained with."},
        {.key = "emotion_control", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "Learn a control token from per-turn emotion labels and "
                 "condition replies on the detected sentiment."},
        {.key = "control_from", .type = SOCFW_PARAM_ENUM,
         .default_value = "reply", .choices = control_from_choices,
         .help = "In training, whose emotion label the control token and "
                 "tone carry: the reply's own, or the user turn before it."},
        {.key = "emotion_map", .type = SOCFW_PARAM_MAP,
         .help = "Label -> control label, e.g. {happiness: positive}; "
                 "applied before the built-in map of DailyDialog and "
                 "TweetEval emotions to negative/neutral/positive."},
        {.key = "max_reply_tokens", .type = SOCFW_PARAM_INT,
         .default_value = "64", .min = 1, .max = 65536,
         .help = "Longest reply."},
        {.key = "max_message", .type = SOCFW_PARAM_INT,
         .default_value = "16384", .min = 1, .max = 1048576,
         .help = "Largest user message in bytes; longer ones are refused."},
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
        {.key = "seed", .type = SOCFW_PARAM_INT, .default_value = "42",
         .min = 0, .max = 4294967295.0,
         .help = "Sampling seed (the same prompt gives the same reply)."},
        {.key = "blocklist", .type = SOCFW_PARAM_LIST,
         .help = "Words a reply must never contain."},
        {.key = "stop", .type = SOCFW_PARAM_LIST,
         .help = "Extra strings that end a reply."},
        {.key = "fallback_reply", .type = SOCFW_PARAM_STRING,
         .default_value = "Sorry, could you say that again?",
         .help = "Said when the model produces nothing printable."},
        {.key = "reply_as_text", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "Replace the post's text with the reply (so a later "
                 "privacy stage scrubs it); the message stays in "
                 "<task>.input."},
        {.key = "sessions", .type = SOCFW_PARAM_PATH,
         .default_value = "sessions.db",
         .help = "SQLite database keeping conversations across restarts."},
        {.key = "eval_generate", .type = SOCFW_PARAM_INT,
         .default_value = "0", .min = 0, .max = 100000,
         .help = "At each evaluation, generate replies for this many "
                 "contexts of the split (a seeded sample) and report "
                 "distinct_1, distinct_2 and avg_reply_words; 0 = off."},
        {.key = "eval_sampling", .type = SOCFW_PARAM_ENUM,
         .default_value = "greedy", .choices = eval_sampling_choices,
         .help = "How eval_generate replies are made: greedy, or the "
                 "configured temperature/top_k/top_p with `seed`."},
        {.key = "debug_prompt", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Write the rendered prompt to <task>.prompt (socfw chat "
                 "--show-prompt sets it)."},
        {0},
};

/* Emotions of DailyDialog and TweetEval as polarities. */
static const char *const builtin_map[][2] = {
        {"no_emotion", "neutral"}, {"none", "neutral"},
        {"surprise", "neutral"},   {"happiness", "positive"},
        {"joy", "positive"},       {"optimism", "positive"},
        {"love", "positive"},      {"anger", "negative"},
        {"disgust", "negative"},   {"fear", "negative"},
        {"sadness", "negative"},
};

typedef enum counter_kind {
        COUNT_UNKNOWN = 0,
        COUNT_MODEL,
        COUNT_WORDS,
} counter_kind;

/* The prompts of one record's examples, in order, when evaluate rebuilds
 * a sampled item's prompt (parse_record with `keep`). */
typedef struct contexts {
        char **v;
        size_t n, cap;
} contexts;

static void
contexts_clear(contexts *c)
{
        for (size_t k = 0; k < c->n; k++)
                free(c->v[k]);
        free(c->v);
        memset(c, 0, sizeof *c);
}

typedef struct dialog {
        socfw_task_ctx *ctx;
        const socfw_config *cfg;
        char *name;
        socfw_dialog_template tmpl;
        size_t max_turns, max_tokens, max_reply, max_message;
        int emotion_control, control_from_user, debug_prompt, reply_as_text;
        /* predict may run from several threads (socfw serve): the session
         * store and the counter choice are shared */
        pthread_mutex_t lock;
        int lock_ready;
        const char *stops[MAX_STOPS + 1];   /* borrowed strings */
        const char **banned;                /* NULL-terminated; borrowed */
        socfw_dialog_store *store;          /* opened on first use */
        counter_kind counter;
        /* eval_generate */
        size_t eval_generate;
        int eval_greedy;
} dialog;

/* ---- small helpers ---- */

/* buf <- "<task>.<field>"; 0 or SOCFW_EINVAL when it does not fit. */
static int
task_key(const dialog *d, const char *field, char *buf, size_t size,
         socfw_error *err)
{
        int n = snprintf(buf, size, "%s.%s", d->name, field);
        if (n < 0 || (size_t)n >= size)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "task name '%s' is too long for an "
                                       "annotation key",
                                       d->name);
        return 0;
}

/* The control label for `label`: emotion_map, the built-in map, or the
 * label itself.  Borrowed; NULL when label is NULL or empty. */
static const char *
map_label(const dialog *d, const char *label)
{
        if (!label || !label[0])
                return NULL;
        const char *m = socfw_config_map_lookup(d->cfg, "emotion_map", label);
        if (m && m[0])
                return m;
        for (size_t i = 0; i < sizeof builtin_map / sizeof builtin_map[0];
             i++)
                if (strcmp(builtin_map[i][0], label) == 0)
                        return builtin_map[i][1];
        return label;
}

/* Tone instruction for a label: the raw label first, then the mapped one. */
static const char *
tone_for(const dialog *d, const char *label)
{
        if (!label || !label[0])
                return NULL;
        const char *t = socfw_config_map_lookup(d->cfg, "tone", label);
        if (!t) {
                const char *m = map_label(d, label);
                if (m && strcmp(m, label) != 0)
                        t = socfw_config_map_lookup(d->cfg, "tone", m);
        }
        return t && t[0] ? t : NULL;
}

/* Control token for `label` into buf; returns buf, or NULL when control is
 * off, there is no label, or it cannot be a token (logged). */
static const char *
control_for(const dialog *d, const char *label, char *buf, size_t size)
{
        const char *m = d->emotion_control ? map_label(d, label) : NULL;
        if (!m)
                return NULL;
        socfw_error e = {0};
        if (socfw_dialog_control_token(m, buf, size, &e) < 0) {
                socfw_log(SOCFW_LOG_LEVEL_DEBUG,
                          "dialog: no control token for label '%s': %s", m,
                          e.message);
                return NULL;
        }
        return buf;
}

/* Copy `s` keeping only valid UTF-8 (invalid bytes are dropped).  Caller
 * frees; NULL on ENOMEM. */
static char *
utf8_clean(const char *s)
{
        size_t len = strlen(s);
        char *out = malloc(len + 1);
        if (!out)
                return NULL;
        size_t i = 0, o = 0;
        while (i < len) {
                utf8proc_int32_t cp;
                utf8proc_ssize_t n = utf8proc_iterate(
                        (const utf8proc_uint8_t *)s + i,
                        (utf8proc_ssize_t)(len - i), &cp);
                if (n <= 0) {
                        i++;
                        continue;
                }
                memcpy(out + o, s + i, (size_t)n);
                o += (size_t)n;
                i += (size_t)n;
        }
        out[o] = '\0';
        return out;
}

static int
is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
               c == '\f' || c == '\v';
}

/* Trim a generated reply in place: cut at the first stop string or end of
 * turn left in it, drop a leading control token, and strip white space.
 * Returns the start of the trimmed text (inside s). */
static char *
trim_reply(const dialog *d, char *s)
{
        for (size_t i = 0; d->stops[i]; i++) {
                char *p = d->stops[i][0] ? strstr(s, d->stops[i]) : NULL;
                if (p)
                        *p = '\0';
        }
        const char *eot = socfw_dialog_template_end_of_turn(d->tmpl);
        if (eot && strcmp(eot, "\n") != 0) {
                char *p = strstr(s, eot);
                if (p)
                        *p = '\0';
        }
        while (is_space(*s))
                s++;
        if (strncmp(s, "<|tone:", 7) == 0) {
                char *e = strstr(s, "|>");
                if (e)
                        s = e + 2;
        }
        while (is_space(*s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && is_space(s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* ---- create / destroy ---- */

static void
dialog_destroy(void *state)
{
        dialog *d = state;
        if (!d)
                return;
        socfw_dialog_store_close(d->store);
        free(d->banned);
        free(d->name);
        if (d->lock_ready)
                pthread_mutex_destroy(&d->lock);
        free(d);
}

/* template: auto - the family of the model's chat template (metadata of
 * chat_template_from), else plain. */
static int
choose_template(dialog *d, const socfw_config *cfg, socfw_error *err)
{
        const char *from = socfw_config_get_string(cfg, "chat_template_from");
        socfw_error e = {0};
        d->tmpl = SOCFW_DIALOG_TEMPLATE_PLAIN;
        if (!from || !from[0]) {
                socfw_log(SOCFW_LOG_LEVEL_DEBUG,
                          "dialog: template auto without chat_template_from: "
                          "plain");
                return 0;
        }
        int rc = socfw_dialog_template_auto(from, &d->tmpl, &e);
        if (rc < 0)
                return socfw_error_set_at(
                        err, rc, socfw_config_file(cfg),
                        socfw_config_line(cfg, "chat_template_from"),
                        socfw_config_column(cfg, "chat_template_from"),
                        "chat_template_from: %s; hint: name the model's "
                        ".gguf file or Hugging Face directory, or set "
                        "template: plain, chatml or llama2",
                        e.message);
        if (rc == SOCFW_DIALOG_AUTO_UNKNOWN)
                socfw_log(SOCFW_LOG_LEVEL_WARN,
                          "dialog: task '%s': %s; using the plain template",
                          d->name, e.message);
        else if (rc == SOCFW_DIALOG_AUTO_NO_TEMPLATE)
                socfw_log(SOCFW_LOG_LEVEL_INFO,
                          "dialog: task '%s': %s; using the plain template",
                          d->name, e.message);
        else
                socfw_log(SOCFW_LOG_LEVEL_INFO,
                          "dialog: task '%s': the model's chat template is "
                          "%s",
                          d->name, socfw_dialog_template_name(d->tmpl));
        return 0;
}

static int
dialog_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
              socfw_error *err)
{
        int rc = 0;
        dialog *d = calloc(1, sizeof *d);
        if (!d || !(d->name = strdup(socfw_task_name(ctx)))) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        pthread_mutex_init(&d->lock, NULL);
        d->lock_ready = 1;
        d->ctx = ctx;
        d->cfg = cfg;
        const char *t = socfw_config_get_string(cfg, "template");
        if (!t || strcmp(t, "auto") == 0) {
                if ((rc = choose_template(d, cfg, err)) < 0)
                        goto out;
        } else if ((rc = socfw_dialog_template_parse(t, &d->tmpl, err)) <
                   0) {
                goto out;
        }
        d->max_turns = (size_t)socfw_config_get_int(cfg, "history.max_turns");
        d->max_tokens = (size_t)socfw_config_get_int(cfg,
                                                     "history.max_tokens");
        d->max_reply = (size_t)socfw_config_get_int(cfg, "max_reply_tokens");
        d->max_message = (size_t)socfw_config_get_int(cfg, "max_message");
        d->emotion_control = socfw_config_get_bool(cfg, "emotion_control");
        const char *cf = socfw_config_get_string(cfg, "control_from");
        d->control_from_user = cf && strcmp(cf, "user") == 0;
        d->debug_prompt = socfw_config_get_bool(cfg, "debug_prompt");
        d->reply_as_text = socfw_config_get_bool(cfg, "reply_as_text");
        d->eval_generate = (size_t)socfw_config_get_int(cfg, "eval_generate");
        const char *es = socfw_config_get_string(cfg, "eval_sampling");
        d->eval_greedy = !es || strcmp(es, "greedy") == 0;
        if (d->max_reply >= d->max_tokens) {
                rc = socfw_error_set_at(
                        err, SOCFW_ESCHEMA, socfw_config_file(cfg),
                        socfw_config_line(cfg, "max_reply_tokens"),
                        socfw_config_column(cfg, "max_reply_tokens"),
                        "max_reply_tokens (%zu) must be smaller than "
                        "history.max_tokens (%zu), which also holds the "
                        "prompt; hint: raise history.max_tokens",
                        d->max_reply, d->max_tokens);
                goto out;
        }
        /* stop strings: the template's, then the pipeline's */
        size_t ns = 0;
        const char *const *ts = socfw_dialog_template_stops(d->tmpl);
        for (size_t i = 0; ts && ts[i] && ns < MAX_STOPS; i++)
                d->stops[ns++] = ts[i];
        size_t n_user = socfw_config_list_len(cfg, "stop");
        if (ns + n_user > MAX_STOPS) {
                rc = socfw_error_set_at(
                        err, SOCFW_ESCHEMA, socfw_config_file(cfg),
                        socfw_config_line(cfg, "stop"),
                        socfw_config_column(cfg, "stop"),
                        "stop: %zu strings; at most %zu are accepted", n_user,
                        (size_t)MAX_STOPS - ns);
                goto out;
        }
        for (size_t i = 0; i < n_user; i++) {
                const char *s = socfw_config_list_get(cfg, "stop", i);
                if (s && s[0])
                        d->stops[ns++] = s;
        }
        d->stops[ns] = NULL;
        size_t nb = socfw_config_list_len(cfg, "blocklist");
        if (nb) {
                if (!(d->banned = calloc(nb + 1, sizeof *d->banned))) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                size_t k = 0;
                for (size_t i = 0; i < nb; i++) {
                        const char *w = socfw_config_list_get(cfg,
                                                              "blocklist", i);
                        if (w && w[0])
                                d->banned[k++] = w;
                }
        }
        *state = d;
        d = NULL;
out:
        dialog_destroy(d);
        return rc;
}

/* ---- training examples ---- */

typedef struct rec_turn {
        const char *speaker;    /* may be NULL */
        const char *text;
        const char *label;      /* emotion, may be NULL */
} rec_turn;

/* One example: turns[from..i) as history, turns[i] as the target, with
 * `roles` giving each turn's role, into `ex` (may be NULL); its prompt is
 * also appended to `keep` when given. */
static int
add_turn_example(dialog *d, const rec_turn *rt, const socfw_dialog_role *roles,
                 size_t from, size_t i, socfw_example *ex, contexts *keep,
                 socfw_error *err)
{
        const char *system = socfw_config_get_string(d->cfg, "system");
        const char *label = d->control_from_user ? (i ? rt[i - 1].label : NULL)
                                                 : rt[i].label;
        char ctl[SOCFW_DIALOG_LABEL_MAX + 16];
        const char *control = control_for(d, label, ctl, sizeof ctl);
        const char *tone = tone_for(d, label);
        size_t n = i - from + 1;
        socfw_dialog_turn *v = calloc(n, sizeof *v);
        char *context = NULL, *full = NULL;
        size_t clen = 0, flen = 0;
        int rc = 0;
        if (!v)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t k = 0; k < n; k++) {
                v[k].role = roles[from + k];
                v[k].text = rt[from + k].text;
        }
        socfw_dialog_render_opts o = {.system = system, .tone = tone,
                                      .control = control,
                                      .generation_prompt = 1};
        rc = socfw_dialog_template_render(d->tmpl, &o, v, n - 1, &context,
                                          &clen, err);
        if (rc < 0)
                goto out;
        /* the whole exchange with the target turn; its control token comes
         * from its label (the history turns carry none) */
        socfw_dialog_render_opts fo = {.system = system, .tone = tone,
                                       .label_controls = control != NULL};
        if (control)
                v[n - 1].label = map_label(d, label);
        rc = socfw_dialog_template_render(d->tmpl, &fo, v, n, &full, &flen,
                                          err);
        if (rc < 0)
                goto out;
        if (flen <= clen || memcmp(full, context, clen) != 0) {
                rc = socfw_error_set(err, SOCFW_EINTERNAL,
                                     "dialog: the %s template's prompt is "
                                     "not a prefix of the exchange",
                                     socfw_dialog_template_name(d->tmpl));
                goto out;
        }
        /* the target ends with the end of turn (what follows it belongs to
         * the next turn's layout) */
        char *target = full + clen;
        const char *eot = socfw_dialog_template_end_of_turn(d->tmpl);
        char *last = NULL;
        for (char *p = target; eot && (p = strstr(p, eot)); p++)
                last = p;
        if (last)
                last[strlen(eot)] = '\0';
        rc = ex ? socfw_example_set_lm(ex, context, target) : 0;
        if (rc < 0)
                rc = socfw_error_set(err, rc, "out of memory");
        if (rc == 0 && keep) {
                if (keep->n == keep->cap) {
                        size_t nc = keep->cap ? keep->cap * 2 : 16;
                        char **g = realloc(keep->v, nc * sizeof *g);
                        if (!g) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        keep->v = g;
                        keep->cap = nc;
                }
                keep->v[keep->n++] = context;
                context = NULL;
        }
out:
        free(context);
        free(full);
        free(v);
        return rc;
}

/* Turns of one record (borrowed from `root`) into *out (caller frees). */
static int
record_turns(dialog *d, json_t *arr, rec_turn **out, size_t *n_out,
             socfw_error *err)
{
        const char *tf = socfw_config_get_string(d->cfg, "data.turns_field");
        const char *ef = socfw_config_get_string(d->cfg, "data.emotion_field");
        size_t n = json_array_size(arr);
        if (!json_is_array(arr) || n < 2)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "'%s' must be a list of at least two "
                                       "turns ({speaker, text})",
                                       tf);
        if (n > MAX_TURNS_PER_RECORD)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "'%s' has %zu turns; at most %d are "
                                       "read per record",
                                       tf, n, MAX_TURNS_PER_RECORD);
        rec_turn *v = calloc(n, sizeof *v);
        if (!v)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_t *t = json_array_get(arr, i);
                const char *text = json_string_value(json_object_get(t,
                                                                     "text"));
                if (!json_is_object(t) || !text) {
                        free(v);
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "%s[%zu]: expected an object "
                                               "with a string 'text'",
                                               tf, i);
                }
                int rc = socfw_dialog_text_check(text, strlen(text),
                                                 d->max_message, NULL, err);
                if (rc < 0) {
                        free(v);
                        return socfw_error_prefix(err, rc, "%s[%zu]", tf, i);
                }
                v[i].text = text;
                v[i].speaker = json_string_value(json_object_get(t,
                                                                 "speaker"));
                v[i].label = json_string_value(json_object_get(t, ef));
        }
        *out = v;
        *n_out = n;
        return 0;
}

/* ---- examples of a record ---- */

static int parse_record(dialog *d, const socfw_record *rec,
                        socfw_example *ex, contexts *keep, socfw_error *err);

static int
dialog_parse_example(void *state, const socfw_record *rec, socfw_example *ex,
                     socfw_error *err)
{
        return parse_record(state, rec, ex, NULL, err);
}

/* The examples of `rec` into `ex` (NULL: none made) and their prompts
 * into `keep` (NULL: not kept). */
static int
parse_record(dialog *d, const socfw_record *rec, socfw_example *ex,
             contexts *keep, socfw_error *err)
{
        const char *tf = socfw_config_get_string(d->cfg, "data.turns_field");
        char *json = socfw_record_get_json(rec, tf);
        json_t *root = NULL;
        rec_turn *rt = NULL, pair[2];
        socfw_dialog_role *roles = NULL;
        size_t n = 0, made = 0;
        int rc = 0;
        if (!json) {
                /* prompt/response pairs */
                const char *pf = socfw_config_get_string(d->cfg,
                                                         "data.prompt_field");
                const char *rf = socfw_config_get_string(
                        d->cfg, "data.response_field");
                const char *p = socfw_record_get_string(rec, pf);
                const char *r = socfw_record_get_string(rec, rf);
                if (!p || !r)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "record has neither '%s' (a list of turns) "
                                "nor '%s'/'%s' strings",
                                tf, pf, rf);
                if ((rc = socfw_dialog_text_check(p, strlen(p),
                                                  d->max_message, pf,
                                                  err)) < 0 ||
                    (rc = socfw_dialog_text_check(r, strlen(r),
                                                  d->max_message, rf,
                                                  err)) < 0)
                        return rc;
                const char *em = socfw_record_get_string(
                        rec, socfw_config_get_string(d->cfg,
                                                     "data.emotion_field"));
                pair[0] = (rec_turn){.speaker = "user", .text = p};
                pair[1] = (rec_turn){.speaker = "assistant", .text = r,
                                     .label = em};
                rt = pair;
                n = 2;
        } else {
                root = json_loads(json, JSON_DECODE_ANY, NULL);
                free(json);
                if ((rc = record_turns(d, root, &rt, &n, err)) < 0)
                        goto out;
        }
        if (!(roles = calloc(n, sizeof *roles))) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        /* fixed roles when every speaker names one */
        int fixed = 1;
        for (size_t i = 0; i < n && fixed; i++)
                if (!rt[i].speaker ||
                    socfw_dialog_role_parse(rt[i].speaker, &roles[i], NULL) <
                            0)
                        fixed = 0;
        for (size_t i = 1; i < n && rc == 0; i++) {
                if (fixed) {
                        if (roles[i] != SOCFW_DIALOG_ASSISTANT)
                                continue;
                } else {
                        /* the target's speaker is the assistant */
                        for (size_t j = 0; j <= i; j++) {
                                int same = rt[i].speaker && rt[j].speaker
                                                   ? strcmp(rt[i].speaker,
                                                            rt[j].speaker) ==
                                                             0
                                                   : (i - j) % 2 == 0;
                                roles[j] = same ? SOCFW_DIALOG_ASSISTANT
                                                : SOCFW_DIALOG_USER;
                        }
                }
                size_t from = i > d->max_turns ? i - d->max_turns : 0;
                if (made && ex && (rc = socfw_example_next(ex)) < 0) {
                        rc = socfw_error_set(err, rc, "out of memory");
                        break;
                }
                rc = add_turn_example(d, rt, roles, from, i, ex, keep, err);
                made++;
        }
        if (rc == 0 && made == 0)
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "'%s' has no assistant turn after the "
                                     "first turn to learn from",
                                     tf);
out:
        if (rt != pair)
                free(rt);
        free(roles);
        json_decref(root);
        return rc;
}

/* ---- predict ---- */

/* Token counter over the pipeline's tokenizer (text is not NUL-ended). */
static int
count_model(void *user, const char *text, size_t len, size_t *n,
            socfw_error *err)
{
        dialog *d = user;
        char *s = strndup(text, len);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = socfw_task_count_tokens(d->ctx, s, n, err);
        free(s);
        return rc;
}

/* Decide once whether the model can count tokens. */
static void
choose_counter(dialog *d)
{
        pthread_mutex_lock(&d->lock);
        int known = d->counter != COUNT_UNKNOWN;
        size_t n = 0;
        socfw_error e = {0};
        int rc = known ? 0 : socfw_task_count_tokens(d->ctx, "hello", &n, &e);
        if (!known)
                d->counter = rc == 0 ? COUNT_MODEL : COUNT_WORDS;
        pthread_mutex_unlock(&d->lock);
        if (known)
                return;
        if (rc < 0 && rc != SOCFW_EUNSUPPORTED)
                socfw_log(SOCFW_LOG_LEVEL_WARN,
                          "dialog: counting tokens failed (%s); the history "
                          "window counts words instead",
                          e.message);
}

static int
open_store(dialog *d, socfw_error *err)
{
        if (d->store)
                return 0;
        const char *path = socfw_config_get_string(d->cfg, "sessions");
        if (!path || !path[0])
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "task '%s': no sessions database "
                                       "(hint: set sessions: FILE.db)",
                                       d->name);
        socfw_dialog_store_opts o = {.max_message = d->max_message};
        int rc = socfw_dialog_store_open(&d->store, path, &o, err);
        if (rc < 0)
                d->store = NULL;
        return rc;
}

/* The `history` command: the session's turns as <task>.history. */
static int
command_history(dialog *d, socfw_post *post, const char *session,
                socfw_error *err)
{
        char key[KEY_MAX];
        socfw_dialog_context *c = NULL;
        int exists = 0, rc = 0;
        char *js = NULL;
        json_t *arr = json_array();
        if (!arr)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (session && (rc = open_store(d, err)) == 0 &&
            (rc = socfw_dialog_store_exists(d->store, session, &exists,
                                            err)) == 0 &&
            exists)
                rc = socfw_dialog_store_load(d->store, session, 0, &c, err);
        if (rc < 0)
                goto out;
        size_t n = c ? socfw_dialog_context_count(c) : 0;
        const socfw_dialog_turn *t = c ? socfw_dialog_context_turns(c) : NULL;
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_pack("{s:s, s:s, s:s?}", "role",
                                      socfw_dialog_role_name(t[i].role),
                                      "text", t[i].text, "label",
                                      t[i].label);
                if (!o || json_array_append_new(arr, o) < 0) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
        }
        if (!(js = json_dumps(arr, JSON_COMPACT))) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        if ((rc = task_key(d, "history", key, sizeof key, err)) < 0 ||
            (rc = socfw_post_set_json(post, key, js, err)) < 0 ||
            (rc = task_key(d, "turns", key, sizeof key, err)) < 0 ||
            (rc = socfw_post_set_number(post, key, (double)n, err)) < 0 ||
            (rc = task_key(d, "exists", key, sizeof key, err)) < 0 ||
            (rc = socfw_post_set_number(post, key, exists, err)) < 0)
                goto out;
out:
        free(js);
        json_decref(arr);
        socfw_dialog_context_free(c);
        return rc;
}

static int
run_command(dialog *d, socfw_post *post, const char *cmd, socfw_error *err)
{
        const char *session = socfw_post_session(post);
        if (strcmp(cmd, "history") == 0)
                return command_history(d, post, session, err);
        if (strcmp(cmd, "reset") == 0) {
                int exists = 0, rc = 0;
                if (!session)
                        return 0; /* a one-shot exchange keeps nothing */
                if ((rc = open_store(d, err)) < 0 ||
                    (rc = socfw_dialog_store_exists(d->store, session,
                                                    &exists, err)) < 0)
                        return rc;
                return exists ? socfw_dialog_store_reset(d->store, session,
                                                         err)
                              : 0;
        }
        return socfw_error_set(err, SOCFW_EINVAL,
                               "task '%s': unknown command '%s'; expected "
                               "reset or history",
                               d->name, cmd);
}

/* Generation options from the task's section; greedy: temperature 0. */
static void
gen_opts(const dialog *d, socfw_generate_opts *o, int greedy)
{
        *o = (socfw_generate_opts){
                .size = sizeof *o,
                .max_tokens = (int)d->max_reply,
                .temperature = greedy ? 0.0f
                                      : (float)socfw_config_get_float(
                                                d->cfg, "temperature"),
                .top_k = (int)socfw_config_get_int(d->cfg, "top_k"),
                .top_p = (float)socfw_config_get_float(d->cfg, "top_p"),
                .repetition_penalty = (float)socfw_config_get_float(
                        d->cfg, "repetition_penalty"),
                .seed = (uint64_t)socfw_config_get_int(d->cfg, "seed"),
                .stop = d->stops,
                .banned = d->banned,
        };
}

/* The caller's generation settings for this post (see the top of the
 * file).  stop[] gets the section's stops followed by the caller's (their
 * strings live in *doc, which the caller releases after generating). */
static int
caller_overrides(dialog *d, const socfw_post *post, socfw_generate_opts *o,
                 const char **stop, json_t **doc, socfw_error *err)
{
        char key[KEY_MAX];
        double v;
        if (task_key(d, "temperature", key, sizeof key, NULL) == 0 &&
            socfw_post_get_number(post, key, &v) == 0)
                o->temperature = (float)v;
        if (task_key(d, "top_p", key, sizeof key, NULL) == 0 &&
            socfw_post_get_number(post, key, &v) == 0)
                o->top_p = (float)v;
        if (task_key(d, "max_tokens", key, sizeof key, NULL) == 0 &&
            socfw_post_get_number(post, key, &v) == 0 && v >= 1 &&
            v < (double)d->max_reply + 1)
                o->max_tokens = (int)v;
        if (task_key(d, "seed", key, sizeof key, NULL) == 0 &&
            socfw_post_get_number(post, key, &v) == 0 && v >= 0)
                o->seed = (uint64_t)v;
        const char *js = task_key(d, "stop_json", key, sizeof key, NULL) == 0
                                 ? socfw_post_get_string(post, key)
                                 : NULL;
        if (!js)
                return 0;
        size_t n = 0;
        while (d->stops[n] && n < MAX_STOPS)
                stop[n] = d->stops[n], n++;
        *doc = json_loads(js, 0, NULL);
        if (!json_is_array(*doc) || json_array_size(*doc) > 4)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "%s: expected a JSON array of at most "
                                       "4 strings",
                                       key);
        size_t i;
        json_t *e;
        json_array_foreach(*doc, i, e) {
                if (!json_is_string(e) || !json_string_length(e))
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "%s: stop %zu is not a "
                                               "non-empty string",
                                               key, i);
                stop[n++] = json_string_value(e);
        }
        stop[n] = NULL;
        o->stop = stop;
        return 0;
}

/* The turns the caller sent before the message (<task>.messages), added
 * to the fresh context c; a system entry replaces the persona. */
static int
add_caller_history(dialog *d, const socfw_post *post, socfw_dialog_context *c,
                   socfw_error *err)
{
        char key[KEY_MAX];
        const char *js = task_key(d, "messages", key, sizeof key, NULL) == 0
                                 ? socfw_post_get_string(post, key)
                                 : NULL;
        if (!js)
                return 0;
        json_t *doc = json_loads(js, 0, NULL);
        int rc = 0;
        if (!json_is_array(doc))
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "%s: expected a JSON array of "
                                     "{role, content}", key);
        size_t i;
        json_t *m;
        json_array_foreach(doc, i, m) {
                if (rc < 0)
                        break;
                const char *role = json_string_value(json_object_get(m,
                                                                     "role"));
                const char *text = json_string_value(
                        json_object_get(m, "content"));
                if (!role || !text) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "%s: entry %zu needs string "
                                             "role and content", key, i);
                } else if (!strcmp(role, "system")) {
                        rc = socfw_dialog_context_set_system(c, text, err);
                } else if (!strcmp(role, "user") ||
                           !strcmp(role, "assistant")) {
                        rc = socfw_dialog_context_add(
                                c, role[0] == 'u' ? SOCFW_DIALOG_USER
                                                  : SOCFW_DIALOG_ASSISTANT,
                                text, NULL, 0, err);
                } else {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "%s: entry %zu has role '%s' "
                                             "(expected system, user or "
                                             "assistant)", key, i, role);
                }
        }
        json_decref(doc);
        return rc;
}

/* Generate the reply to the last turn of `c`.  *reply: caller frees. */
static int
generate_reply(dialog *d, socfw_post *post, socfw_dialog_context *c,
               const char *tone, const char *control, char **reply,
               socfw_error *err)
{
        char key[KEY_MAX];
        char *prompt = NULL, *raw = NULL, *clean = NULL;
        choose_counter(d);
        socfw_dialog_window_opts w = {
                .tmpl = d->tmpl,
                .render = {.tone = tone, .control = control,
                           .generation_prompt = 1},
                .max_turns = d->max_turns,
                .max_tokens = d->max_tokens,
                .reserve_tokens = d->max_reply,
                .count = d->counter == COUNT_MODEL ? count_model
                                                   : socfw_dialog_count_words,
                .count_user = d,
        };
        socfw_dialog_window win;
        int rc = socfw_dialog_context_prompt(c, &w, &prompt, NULL, &win, err);
        if (rc < 0)
                goto out;
        if (win.dropped || win.truncated_bytes)
                socfw_log(SOCFW_LOG_LEVEL_DEBUG,
                          "dialog: window kept %zu turns, dropped %zu, cut "
                          "%zu bytes of the message (%zu tokens)",
                          win.kept, win.dropped, win.truncated_bytes,
                          win.tokens);
        if (d->debug_prompt &&
            ((rc = task_key(d, "prompt", key, sizeof key, err)) < 0 ||
             (rc = socfw_post_set_string(post, key, prompt, err)) < 0))
                goto out;
        socfw_generate_opts o;
        gen_opts(d, &o, 0);
        const char *stop_extra[MAX_STOPS + 5] = {NULL};
        json_t *stop_doc = NULL;
        if ((rc = caller_overrides(d, post, &o, stop_extra, &stop_doc, err)) <
            0) {
                json_decref(stop_doc);
                goto out;
        }
        size_t n_prompt = 0;
        if (d->counter == COUNT_MODEL &&
            socfw_task_count_tokens(d->ctx, prompt, &n_prompt, NULL) == 0 &&
            task_key(d, "prompt_tokens", key, sizeof key, NULL) == 0)
                socfw_post_set_number(post, key, (double)n_prompt, NULL);
        /* streaming: the caller (socfw chat on a terminal) asks for the
         * reply on a file descriptor as it is generated */
        socfw_dialog_stream st;
        double fd = -1;
        int streaming = task_key(d, "stream_fd", key, sizeof key, NULL) == 0 &&
                        socfw_post_get_number(post, key, &fd) == 0 &&
                        fd >= 0 && fd < 65536;
        if (streaming) {
                socfw_dialog_stream_init(&st, socfw_dialog_sink_fd,
                                         (void *)(intptr_t)fd);
                o.on_piece = socfw_dialog_stream_piece;
                o.on_piece_user = &st;
        }
        rc = socfw_task_generate(d->ctx, prompt, &o, &raw, err);
        json_decref(stop_doc);
        size_t n_reply = 0;
        if (rc == 0 && d->counter == COUNT_MODEL && raw &&
            count_model(d, raw, strlen(raw), &n_reply, NULL) == 0 &&
            task_key(d, "reply_tokens", key, sizeof key, NULL) == 0)
                socfw_post_set_number(post, key, (double)n_reply, NULL);
        if (streaming) {
                socfw_dialog_stream_finish(&st);
                int krc = task_key(d, "streamed", key, sizeof key, err);
                if (krc == 0)
                        krc = socfw_post_set_number(post, key,
                                                    (double)st.written, err);
                if (rc == 0)
                        rc = krc;
        }
        if (rc < 0)
                goto out;
        if (!(clean = utf8_clean(raw ? raw : ""))) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        const char *t = trim_reply(d, clean);
        if (!t[0] || socfw_dialog_text_check(t, strlen(t), d->max_message,
                                             NULL, NULL) < 0) {
                socfw_log(SOCFW_LOG_LEVEL_DEBUG,
                          "dialog: the model said nothing usable; using "
                          "fallback_reply");
                t = socfw_config_get_string(d->cfg, "fallback_reply");
                if (!t || !t[0])
                        t = "...";
        }
        if (!(*reply = strdup(t)))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
out:
        free(prompt);
        free(raw);
        free(clean);
        return rc;
}

static int
dialog_predict(void *state, socfw_post *post, socfw_error *err)
{
        dialog *d = state;
        char key[KEY_MAX], ctl[SOCFW_DIALOG_LABEL_MAX + 16];
        socfw_dialog_context *c = NULL;
        char *message = NULL, *reply = NULL;
        int rc;

        if ((rc = task_key(d, "command", key, sizeof key, err)) < 0)
                return rc;
        const char *cmd = socfw_post_get_string(post, key);
        if (cmd) {
                pthread_mutex_lock(&d->lock);
                rc = run_command(d, post, cmd, err);
                pthread_mutex_unlock(&d->lock);
                return rc;
        }

        const char *text = socfw_post_text(post);
        size_t text_len = text ? strlen(text) : 0;
        if (text_len > d->max_message)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "the message is too long: %zu bytes, "
                                       "the maximum is %zu; hint: split it, "
                                       "or raise max_message of task '%s'",
                                       text_len, d->max_message, d->name);
        if ((rc = socfw_dialog_text_check(text, text_len, d->max_message,
                                          "the message", err)) < 0)
                return rc;
        if (!(message = strdup(text)))
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");

        /* the sentiment of the earlier stage */
        const char *stage = socfw_config_get_string(d->cfg,
                                                    "sentiment_stage");
        char lkey[KEY_MAX];
        snprintf(lkey, sizeof lkey, "%s.label", stage ? stage : "sentiment");
        const char *label = socfw_post_get_string(post, lkey);
        if (label && socfw_dialog_label_check(label, NULL) < 0)
                label = NULL;
        if (!label) {
                label = socfw_config_get_string(d->cfg, "default_label");
                if (label && (!label[0] ||
                              socfw_dialog_label_check(label, NULL) < 0))
                        label = NULL;
        }
        const char *tone = tone_for(d, label);
        const char *control = control_for(d, label, ctl, sizeof ctl);

        /* the conversation so far */
        const char *session = socfw_post_session(post);
        const char *system = socfw_config_get_string(d->cfg, "system");
        if (session) {
                pthread_mutex_lock(&d->lock);
                if ((rc = open_store(d, err)) == 0)
                        rc = socfw_dialog_store_load_or_create(
                                d->store, session, system, d->max_turns, &c,
                                NULL, err);
                pthread_mutex_unlock(&d->lock);
                if (rc < 0 ||
                    (rc = socfw_dialog_context_set_system(c, system, err)) <
                            0)
                        goto out;
        } else if ((rc = socfw_dialog_context_new(&c, system, err)) < 0 ||
                   (rc = add_caller_history(d, post, c, err)) < 0) {
                goto out;
        }
        socfw_dialog_context_set_max_message(c, d->max_message);
        if ((rc = socfw_dialog_context_add(c, SOCFW_DIALOG_USER, message,
                                           label, 0, err)) < 0)
                goto out;

        if ((rc = generate_reply(d, post, c, tone, control, &reply, err)) < 0)
                goto out;

        if ((rc = task_key(d, "reply", key, sizeof key, err)) < 0 ||
            (rc = socfw_post_set_string(post, key, reply, err)) < 0 ||
            (rc = task_key(d, "input", key, sizeof key, err)) < 0 ||
            (rc = socfw_post_set_string(post, key, message, err)) < 0)
                goto out;
        if (tone && ((rc = task_key(d, "tone", key, sizeof key, err)) < 0 ||
                     (rc = socfw_post_set_string(post, key, tone, err)) < 0))
                goto out;
        if (d->reply_as_text && (rc = socfw_post_set_text(post, reply, err)) <
                                        0)
                goto out;

        if (session) {
                socfw_dialog_turn t[2] = {
                        {.role = SOCFW_DIALOG_USER, .text = message,
                         .label = label},
                        {.role = SOCFW_DIALOG_ASSISTANT, .text = reply},
                };
                pthread_mutex_lock(&d->lock);
                rc = socfw_dialog_store_append(d->store, session, t, 2, err);
                pthread_mutex_unlock(&d->lock);
        }
out:
        socfw_dialog_context_free(c);
        free(message);
        free(reply);
        return rc;
}

/* ---- evaluate: replies generated for a sample of the split ---- */

static uint64_t
next_rand(uint64_t *s)
{
        /* splitmix64 */
        uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* A seeded reservoir sample of `k` of the items 0..n-1 into pick[] (room
 * for k): the first k items, each later item i replacing slot j when a
 * draw j in [0, i] falls below k.  Returns how many were picked,
 * min(n, k).  The same seed gives the same items in the same slots. */
static size_t
sample_items(uint64_t seed, size_t n, size_t k, size_t *pick)
{
        uint64_t rng = seed ^ 0x6469616c6f67ULL; /* "dialog" */
        for (size_t i = 0; i < n; i++) {
                if (i < k) {
                        pick[i] = i;
                        continue;
                }
                uint64_t j = next_rand(&rng) % (uint64_t)(i + 1);
                if (j < k)
                        pick[j] = i;
        }
        return n < k ? n : k;
}

/* The prompt of evaluated item i (*prompt, caller frees): its record's
 * examples rebuilt as parse_example made them, the one at the item's
 * place among the items of that record.  A record the host cannot give
 * again, or that gives fewer examples than it had items, means the file
 * changed since it was read: an error naming it. */
static int
item_prompt(dialog *d, socfw_eval *ev, size_t i, char **prompt,
            socfw_error *err)
{
        const socfw_record *rec = socfw_eval_record(ev, i);
        const char *src = socfw_eval_source(ev);
        contexts c = {0};
        *prompt = NULL;
        if (!rec)
                return socfw_error_set_at(
                        err, SOCFW_EIO, src, 0, 0,
                        "dialog: eval_generate: the record of evaluated "
                        "example %zu cannot be read again (the file was "
                        "moved, deleted or shortened since it was read?); "
                        "hint: restore the file, or set eval_generate: 0",
                        i + 1);
        /* items of one record are consecutive and share its record */
        size_t first = i, last = i + 1, n = socfw_eval_count(ev);
        while (first > 0 && socfw_eval_record(ev, first - 1) == rec)
                first--;
        while (last < n && socfw_eval_record(ev, last) == rec)
                last++;
        socfw_error perr = {0};
        int rc = parse_record(d, rec, NULL, &c, &perr);
        if (rc == SOCFW_ENOMEM)
                rc = socfw_error_set(err, rc, "out of memory");
        else if (rc < 0)
                rc = socfw_error_set_at(
                        err, SOCFW_EFORMAT, socfw_record_file(rec),
                        socfw_record_line(rec), 0,
                        "dialog: eval_generate: the record no longer gives "
                        "examples (%s); the file changed since it was "
                        "read; hint: evaluate it again from the start",
                        perr.message);
        else if (c.n < last - first)
                rc = socfw_error_set_at(
                        err, SOCFW_EFORMAT, socfw_record_file(rec),
                        socfw_record_line(rec), 0,
                        "dialog: eval_generate: the record gives %zu "
                        "examples, %zu when it was read; the file changed "
                        "since it was read; hint: evaluate it again from "
                        "the start",
                        c.n, last - first);
        if (rc == 0) {
                *prompt = c.v[i - first];
                c.v[i - first] = NULL;
        }
        contexts_clear(&c);
        return rc;
}

/* The report: the figures and the first replies with the end of their
 * prompts. */
static int
add_samples(socfw_eval *ev, char *const *prompts, char *const *replies,
            size_t n, const socfw_dialog_genstats *st, socfw_error *err)
{
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (!m)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        fprintf(m, "generated replies: %zu (%zu empty), distinct-1 %.4f, "
                   "distinct-2 %.4f, %.2f words on average\n",
                st->n_replies, st->n_empty, st->distinct_1, st->distinct_2,
                st->avg_words);
        for (size_t i = 0; i < n && i < 5; i++) {
                const char *c = prompts[i];
                size_t len_c = strlen(c), from = len_c > 240 ? len_c - 240
                                                             : 0;
                while (from > 0 && ((unsigned char)c[from] & 0xC0) == 0x80)
                        from++; /* not inside a character */
                fprintf(m, "\n--- prompt%s ---\n%s\n--- reply ---\n%s\n",
                        from ? " (end)" : "", c + from, replies[i]);
        }
        int rc = fclose(m) == 0 && text ? socfw_eval_add_report(ev, text)
                                        : SOCFW_ENOMEM;
        free(text);
        return rc < 0 ? socfw_error_set(err, SOCFW_ENOMEM, "out of memory")
                      : 0;
}

static int
dialog_evaluate(void *state, socfw_eval *ev, socfw_error *err)
{
        dialog *d = state;
        size_t n = socfw_eval_count(ev);
        if (!d->eval_generate || n == 0)
                return 0;
        if (!socfw_eval_source(ev)) {
                socfw_log(SOCFW_LOG_LEVEL_DEBUG,
                          "dialog: no data file for this split; no "
                          "generation metrics");
                return 0;
        }
        size_t k = d->eval_generate < n ? d->eval_generate : n;
        size_t *pick = calloc(k, sizeof *pick);
        char **prompts = calloc(k, sizeof *prompts);
        char **replies = calloc(k, sizeof *replies);
        int rc = 0;
        if (!pick || !prompts || !replies) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        k = sample_items((uint64_t)socfw_config_get_int(d->cfg, "seed"), n,
                         d->eval_generate, pick);
        for (size_t s = 0; s < k && rc == 0; s++)
                rc = item_prompt(d, ev, pick[s], &prompts[s], err);
        socfw_generate_opts o;
        gen_opts(d, &o, d->eval_greedy);
        for (size_t i = 0; i < k && rc == 0; i++) {
                char *raw = NULL;
                rc = socfw_task_generate(d->ctx, prompts[i], &o, &raw, err);
                if (rc == SOCFW_EUNSUPPORTED) {
                        socfw_log(SOCFW_LOG_LEVEL_WARN,
                                  "dialog: eval_generate: %s; no generation "
                                  "metrics",
                                  err ? err->message : "cannot generate");
                        rc = 1;
                        break;
                }
                char *clean = rc == 0 ? utf8_clean(raw ? raw : "") : NULL;
                free(raw);
                if (rc == 0 && !clean)
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                if (rc == 0) {
                        char *t = trim_reply(d, clean);
                        memmove(clean, t, strlen(t) + 1);
                        replies[i] = clean;
                }
        }
        socfw_dialog_genstats st;
        if (rc == 0)
                rc = socfw_dialog_genstats_compute(
                        (const char *const *)replies, k, &st, err);
        if (rc == 0 &&
            (socfw_eval_add_metric(ev, "distinct_1", st.distinct_1, true) <
                     0 ||
             socfw_eval_add_metric(ev, "distinct_2", st.distinct_2, true) <
                     0 ||
             socfw_eval_add_metric(ev, "avg_reply_words", st.avg_words,
                                   true) < 0 ||
             socfw_eval_add_metric(ev, "generated_replies",
                                   (double)st.n_replies, true) < 0))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (rc == 0)
                rc = add_samples(ev, prompts, replies, k, &st, err);
out:
        for (size_t i = 0; prompts && replies && i < k; i++) {
                free(prompts[i]);
                free(replies[i]);
        }
        free(pick);
        free(prompts);
        free(replies);
        return rc > 0 ? 0 : rc;
}

SOCFW_TASK_PLUGIN(dialog,
        .version = "0.2.0",
        .description = "Multi-turn conversation: replies that keep context "
                       "and follow the user's sentiment.",
        .license = "MIT",
        .author = "socfw developers",
        .params = params,
        .default_head = "lm",
        .task = SOCFW_TASK_HOOKS(.create = dialog_create,
                                 .destroy = dialog_destroy,
                                 .parse_example = dialog_parse_example,
                                 .predict = dialog_predict,
                                 .evaluate = dialog_evaluate));

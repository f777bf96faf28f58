/* template.c - chat templates (see template.h for the exact strings). */
#define _GNU_SOURCE /* strndup */
#include "template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "socfw/modelfile.h"
#include "socfw/io.h"

/* ---- names ---- */

const char *
socfw_dialog_role_name(socfw_dialog_role role)
{
        switch (role) {
        case SOCFW_DIALOG_SYSTEM:
                return "system";
        case SOCFW_DIALOG_USER:
                return "user";
        case SOCFW_DIALOG_ASSISTANT:
                return "assistant";
        }
        return "?";
}

int
socfw_dialog_role_parse(const char *name, socfw_dialog_role *out,
                        socfw_error *err)
{
        static const struct {
                const char *name;
                socfw_dialog_role role;
        } names[] = {
                {"system", SOCFW_DIALOG_SYSTEM},
                {"user", SOCFW_DIALOG_USER},
                {"human", SOCFW_DIALOG_USER},
                {"assistant", SOCFW_DIALOG_ASSISTANT},
                {"bot", SOCFW_DIALOG_ASSISTANT},
                {"gpt", SOCFW_DIALOG_ASSISTANT},
        };
        for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
                if (strcmp(name, names[i].name) == 0) {
                        *out = names[i].role;
                        return 0;
                }
        return socfw_error_set(err, SOCFW_EINVAL,
                               "unknown role '%s'; expected system, user "
                               "(or human) or assistant (or bot, gpt)",
                               name ? name : "(null)");
}

const char *
socfw_dialog_template_name(socfw_dialog_template t)
{
        switch (t) {
        case SOCFW_DIALOG_TEMPLATE_PLAIN:
                return "plain";
        case SOCFW_DIALOG_TEMPLATE_CHATML:
                return "chatml";
        case SOCFW_DIALOG_TEMPLATE_LLAMA2:
                return "llama2";
        }
        return NULL;
}

int
socfw_dialog_template_parse(const char *name, socfw_dialog_template *out,
                            socfw_error *err)
{
        if (name && strcmp(name, "plain") == 0)
                *out = SOCFW_DIALOG_TEMPLATE_PLAIN;
        else if (name && strcmp(name, "chatml") == 0)
                *out = SOCFW_DIALOG_TEMPLATE_CHATML;
        else if (name && (strcmp(name, "llama2") == 0 ||
                          strcmp(name, "llama-2") == 0))
                *out = SOCFW_DIALOG_TEMPLATE_LLAMA2;
        else
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "unknown chat template '%s'; "
                                       "expected plain, chatml or llama2",
                                       name ? name : "(null)");
        return 0;
}

int
socfw_dialog_template_detect(const char *chat_template,
                             socfw_dialog_template *out, socfw_error *err)
{
        if (!chat_template || !chat_template[0])
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "the model has no chat template in "
                                       "its metadata; hint: set `template:` "
                                       "in the pipeline");
        if (strstr(chat_template, "<|im_start|>")) {
                *out = SOCFW_DIALOG_TEMPLATE_CHATML;
                return 0;
        }
        if (strstr(chat_template, "[INST]")) {
                *out = SOCFW_DIALOG_TEMPLATE_LLAMA2;
                return 0;
        }
        if (strstr(chat_template, "User:") &&
            (strstr(chat_template, "Bot:") ||
             strstr(chat_template, "Assistant:"))) {
                *out = SOCFW_DIALOG_TEMPLATE_PLAIN;
                return 0;
        }
        return socfw_error_set(err, SOCFW_ENOTFOUND,
                               "the model's chat template is of no known "
                               "family (looked for \"<|im_start|>\" for "
                               "chatml, \"[INST]\" for llama2, \"User:\" "
                               "with \"Bot:\" or \"Assistant:\" for "
                               "plain); hint: set `template:` in the "
                               "pipeline");
}

/* ---- the chat template in a model's metadata ---- */

#define TOKENIZER_CONFIG_MAX ((off_t)64 << 20)

/* "chat_template" of a Hugging Face tokenizer_config.json. */
static int
hf_chat_template(const char *file, char **out, socfw_error *err)
{
        struct stat st;
        if (stat(file, &st) < 0 || !S_ISREG(st.st_mode))
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "%s: no such file", file);
        if (st.st_size > TOKENIZER_CONFIG_MAX)
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "%s: %lld bytes; a tokenizer config "
                                       "of at most %lld bytes is read",
                                       file, (long long)st.st_size,
                                       (long long)TOKENIZER_CONFIG_MAX);
        json_error_t je;
        json_t *root = json_load_file(file, 0, &je);
        if (!root)
                return socfw_error_set_at(err, SOCFW_EFORMAT, file, je.line,
                                          je.column,
                                          "%s:%d:%d: not valid JSON: %s",
                                          file, je.line, je.column, je.text);
        int rc = 0;
        const char *t = NULL;
        json_t *ct = json_object_get(root, "chat_template");
        if (json_is_string(ct)) {
                t = json_string_value(ct);
        } else if (json_is_array(ct)) {
                /* named templates: the "default" one, else the first */
                size_t i;
                json_t *e;
                json_array_foreach(ct, i, e)
                {
                        const char *name = json_string_value(
                                json_object_get(e, "name"));
                        const char *tt = json_string_value(
                                json_object_get(e, "template"));
                        if (tt && (!t || (name && !strcmp(name, "default"))))
                                t = tt;
                        if (tt && name && !strcmp(name, "default"))
                                break;
                }
        }
        if (!t)
                rc = socfw_error_set(err, SOCFW_ENOTFOUND,
                                     "%s has no chat_template", file);
        else if (!(*out = strdup(t)))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        json_decref(root);
        return rc;
}

/* tokenizer.chat_template of a GGUF file (or a directory holding one). */
static int
gguf_chat_template(const char *path, char **out, socfw_error *err)
{
        socfw_modelfile *mf = NULL;
        int rc = socfw_modelfile_open(&mf, path, err);
        if (rc < 0)
                return rc;
        const char *t = NULL;
        size_t len = 0;
        rc = socfw_modelfile_get_string(mf, "tokenizer.chat_template", &t,
                                        &len, NULL);
        if (rc < 0 || !t)
                rc = socfw_error_set(err, SOCFW_ENOTFOUND,
                                     "%s has no tokenizer.chat_template",
                                     path);
        else if (!(*out = strndup(t, len)))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        socfw_modelfile_close(mf);
        return rc;
}

int
socfw_dialog_model_chat_template(const char *path, char **out,
                                 socfw_error *err)
{
        char file[4096];
        struct stat st;
        *out = NULL;
        if (!path || !path[0] || stat(path, &st) < 0)
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "model '%s' not found",
                                       path ? path : "(null)");
        if (S_ISDIR(st.st_mode)) {
                int n = snprintf(file, sizeof file,
                                 "%s/tokenizer_config.json", path);
                if (n > 0 && (size_t)n < sizeof file &&
                    stat(file, &st) == 0)
                        return hf_chat_template(file, out, err);
                return gguf_chat_template(path, out, err);
        }
        if (socfw_str_ends_with(path, ".gguf"))
                return gguf_chat_template(path, out, err);
        /* a file of a Hugging Face model: its directory's config */
        const char *slash = strrchr(path, '/');
        int n = slash ? snprintf(file, sizeof file,
                                 "%.*s/tokenizer_config.json",
                                 (int)(slash - path), path)
                      : snprintf(file, sizeof file, "tokenizer_config.json");
        if (n < 0 || (size_t)n >= sizeof file)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "model path too long: %s", path);
        return hf_chat_template(file, out, err);
}

int
socfw_dialog_template_auto(const char *path, socfw_dialog_template *out,
                           socfw_error *err)
{
        char *jinja = NULL;
        *out = SOCFW_DIALOG_TEMPLATE_PLAIN;
        int rc = socfw_dialog_model_chat_template(path, &jinja, err);
        if (rc == SOCFW_ENOTFOUND) {
                /* err explains; plain is the answer */
                return SOCFW_DIALOG_AUTO_NO_TEMPLATE;
        }
        if (rc < 0)
                return rc;
        socfw_dialog_template t;
        rc = socfw_dialog_template_detect(jinja, &t, err);
        free(jinja);
        if (rc < 0)
                return SOCFW_DIALOG_AUTO_UNKNOWN;
        *out = t;
        return 0;
}

const char *
socfw_dialog_template_end_of_turn(socfw_dialog_template t)
{
        switch (t) {
        case SOCFW_DIALOG_TEMPLATE_PLAIN:
                return "\n";
        case SOCFW_DIALOG_TEMPLATE_CHATML:
                return "<|im_end|>";
        case SOCFW_DIALOG_TEMPLATE_LLAMA2:
                return "</s>";
        }
        return "\n";
}

const char *const *
socfw_dialog_template_stops(socfw_dialog_template t)
{
        static const char *const plain[] = {"\nUser:", "\nBot:", "\nSystem:",
                                            NULL};
        static const char *const chatml[] = {"<|im_end|>", "<|im_start|>",
                                             NULL};
        static const char *const llama2[] = {"</s>", "[INST]", NULL};
        switch (t) {
        case SOCFW_DIALOG_TEMPLATE_PLAIN:
                return plain;
        case SOCFW_DIALOG_TEMPLATE_CHATML:
                return chatml;
        case SOCFW_DIALOG_TEMPLATE_LLAMA2:
                return llama2;
        }
        return plain;
}

int
socfw_dialog_control_token(const char *label, char *buf, size_t size,
                           socfw_error *err)
{
        size_t n = label ? strlen(label) : 0;
        if (n == 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "empty label cannot be a control "
                                       "token");
        for (size_t i = 0; i < n; i++) {
                char c = label[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_' || c == '-'))
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "label '%.64s' cannot be a control token: "
                                "expected ASCII letters, digits, '_' or '-'",
                                label);
        }
        int w = snprintf(buf, size, "<|tone:%s|>", label);
        if (w < 0 || (size_t)w >= size)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "label '%.64s' is too long for a "
                                       "control token (%zu bytes at most)",
                                       label, size > 10 ? size - 10 : 0);
        return 0;
}

/* ---- rendering ---- */

typedef struct sbuf {
        char *p;
        size_t len, cap;
        int oom;
} sbuf;

static void
sb_put(sbuf *b, const char *s, size_t n)
{
        if (b->oom || n == 0)
                return;
        if (n > SIZE_MAX / 2 - b->len) {
                b->oom = 1;
                return;
        }
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *g = realloc(b->p, cap);
                if (!g) {
                        b->oom = 1;
                        return;
                }
                b->p = g;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void
sb_str(sbuf *b, const char *s)
{
        if (s)
                sb_put(b, s, strlen(s));
}

static void
sb_text(sbuf *b, const socfw_dialog_turn *t)
{
        sb_put(b, t->text ? t->text : "",
               t->text ? (t->len ? t->len : strlen(t->text)) : 0);
}

/* S: system, then the tone instruction. */
static void
put_system(sbuf *b, const socfw_dialog_render_opts *o)
{
        sb_str(b, o->system);
        if (o->tone && o->tone[0]) {
                sb_str(b, o->system && o->system[0] ? " Reply in this tone: "
                                                    : "Reply in this tone: ");
                sb_str(b, o->tone);
        }
}

static int
has_system(const socfw_dialog_render_opts *o)
{
        return (o->system && o->system[0]) || (o->tone && o->tone[0]);
}

int
socfw_dialog_template_render(socfw_dialog_template t,
                             const socfw_dialog_render_opts *opts,
                             const socfw_dialog_turn *turns, size_t n,
                             char **out, size_t *len_out, socfw_error *err)
{
        static const socfw_dialog_render_opts none = {0};
        const socfw_dialog_render_opts *o = opts ? opts : &none;
        sbuf b = {0};
        int rc = 0;
        char ctl[128];

        *out = NULL;
        if (!socfw_dialog_template_name(t))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "bad chat template value %d", (int)t);
        if (!b.p) { /* make sure an empty result is still a string */
                b.p = calloc(1, 1);
                if (!b.p)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                b.cap = 1;
        }

        int sys = has_system(o);
        int first_user = 1; /* llama2: next [INST] is the first one */
        int open_inst = 0;  /* llama2: a user message awaits its reply */
        if (t == SOCFW_DIALOG_TEMPLATE_PLAIN && sys) {
                sb_str(&b, "System: ");
                put_system(&b, o);
                sb_str(&b, "\n");
        } else if (t == SOCFW_DIALOG_TEMPLATE_CHATML && sys) {
                sb_str(&b, "<|im_start|>system\n");
                put_system(&b, o);
                sb_str(&b, "<|im_end|>\n");
        }

        for (size_t i = 0; i < n && rc == 0; i++) {
                const socfw_dialog_turn *tu = &turns[i];
                const char *c = NULL;
                if (tu->role != SOCFW_DIALOG_SYSTEM &&
                    tu->role != SOCFW_DIALOG_USER &&
                    tu->role != SOCFW_DIALOG_ASSISTANT) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "turn %zu has a bad role (%d)",
                                             i + 1, (int)tu->role);
                        break;
                }
                if (tu->role == SOCFW_DIALOG_ASSISTANT && o->label_controls &&
                    tu->label && tu->label[0]) {
                        rc = socfw_dialog_control_token(tu->label, ctl,
                                                        sizeof ctl, err);
                        if (rc < 0)
                                break;
                        c = ctl;
                }
                switch (t) {
                case SOCFW_DIALOG_TEMPLATE_PLAIN:
                        if (tu->role == SOCFW_DIALOG_ASSISTANT) {
                                sb_str(&b, "Bot: ");
                                if (c) {
                                        sb_str(&b, c);
                                        sb_str(&b, " ");
                                }
                        } else {
                                sb_str(&b, tu->role == SOCFW_DIALOG_USER
                                                   ? "User: "
                                                   : "System: ");
                        }
                        sb_text(&b, tu);
                        sb_str(&b, "\n");
                        break;
                case SOCFW_DIALOG_TEMPLATE_CHATML:
                        sb_str(&b, "<|im_start|>");
                        sb_str(&b, socfw_dialog_role_name(tu->role));
                        sb_str(&b, "\n");
                        sb_str(&b, c);
                        sb_text(&b, tu);
                        sb_str(&b, "<|im_end|>\n");
                        break;
                case SOCFW_DIALOG_TEMPLATE_LLAMA2:
                        if (tu->role == SOCFW_DIALOG_ASSISTANT && !open_inst) {
                                /* a reply with no question: empty [INST] */
                                sb_str(&b, first_user ? "[INST] "
                                                      : "<s>[INST] ");
                                if (first_user && sys) {
                                        sb_str(&b, "<<SYS>>\n");
                                        put_system(&b, o);
                                        sb_str(&b, "\n<</SYS>>\n\n");
                                }
                                sb_str(&b, " [/INST]");
                                first_user = 0;
                                open_inst = 1;
                        }
                        if (tu->role == SOCFW_DIALOG_ASSISTANT) {
                                sb_str(&b, " ");
                                sb_str(&b, c);
                                sb_text(&b, tu);
                                sb_str(&b, " </s>");
                                open_inst = 0;
                        } else {
                                sb_str(&b, first_user ? "[INST] "
                                                      : "<s>[INST] ");
                                if (first_user && sys) {
                                        sb_str(&b, "<<SYS>>\n");
                                        put_system(&b, o);
                                        sb_str(&b, "\n<</SYS>>\n\n");
                                }
                                sb_text(&b, tu);
                                sb_str(&b, " [/INST]");
                                first_user = 0;
                                open_inst = 1;
                        }
                        break;
                }
        }

        if (rc == 0 && o->generation_prompt) {
                const char *c = o->control && o->control[0] ? o->control
                                                            : NULL;
                switch (t) {
                case SOCFW_DIALOG_TEMPLATE_PLAIN:
                        sb_str(&b, "Bot:");
                        if (c) {
                                sb_str(&b, " ");
                                sb_str(&b, c);
                        }
                        break;
                case SOCFW_DIALOG_TEMPLATE_CHATML:
                        sb_str(&b, "<|im_start|>assistant\n");
                        sb_str(&b, c);
                        break;
                case SOCFW_DIALOG_TEMPLATE_LLAMA2:
                        if (!open_inst) { /* nothing to answer: empty ask */
                                sb_str(&b, first_user ? "[INST] "
                                                      : "<s>[INST] ");
                                if (first_user && sys) {
                                        sb_str(&b, "<<SYS>>\n");
                                        put_system(&b, o);
                                        sb_str(&b, "\n<</SYS>>\n\n");
                                }
                                sb_str(&b, " [/INST]");
                        }
                        if (c) {
                                sb_str(&b, " ");
                                sb_str(&b, c);
                        }
                        break;
                }
        }
        if (rc == 0 && b.oom)
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "out of memory rendering a %zu-turn "
                                     "conversation",
                                     n);
        if (rc < 0) {
                free(b.p);
                return rc;
        }
        *out = b.p;
        if (len_out)
                *len_out = b.len;
        return 0;
}

/* plugins/dialog/template.h - chat templates: how a conversation is written
 * as the one prompt string a language model reads.
 *
 *     socfw_dialog_template t;
 *     socfw_dialog_template_parse("chatml", &t, &err);
 *     socfw_dialog_turn turns[] = {
 *             {.role = SOCFW_DIALOG_USER, .text = "my order is late"},
 *     };
 *     socfw_dialog_render_opts o = {.system = "You are helpful.",
 *                                   .tone = "apologetic, calm",
 *                                   .generation_prompt = 1};
 *     char *prompt = NULL;
 *     socfw_dialog_template_render(t, &o, turns, 1, &prompt, NULL, &err);
 *     // generate with stops socfw_dialog_template_stops(t), then free(prompt)
 *
 * The exact strings.  S is the system text: `system`, then, when `tone` is
 * set, " Reply in this tone: " + tone (no leading space when `system` is
 * empty).  C is the control token (`control`, e.g. "<|tone:negative|>") and
 * appears only when set.  A turn's text is written as given (never trimmed).
 *
 *   plain
 *     "System: S\n"                      only when S is not empty
 *     "User: text\n"                     each user turn
 *     "Bot: text\n"                      each assistant turn
 *     "Bot: C text\n"                    an assistant turn with control C
 *     "Bot:"  or  "Bot: C"               generation prompt; the model then
 *                                        writes " reply\n"
 *     end of turn "\n"; stops "\nUser:", "\nBot:", "\nSystem:" (a reply may
 *     span lines; it ends where the model starts a new speaker).
 *
 *   chatml
 *     "<|im_start|>system\nS<|im_end|>\n"      only when S is not empty
 *     "<|im_start|>user\ntext<|im_end|>\n"
 *     "<|im_start|>assistant\nCtext<|im_end|>\n"
 *     "<|im_start|>assistant\nC"               generation prompt
 *     end of turn "<|im_end|>"; stops "<|im_end|>", "<|im_start|>".
 *
 *   llama2 (Meta's Llama-2 chat format: B_INST "[INST]", E_INST "[/INST]",
 *   B_SYS "<<SYS>>\n", E_SYS "\n<</SYS>>\n\n"; the system block opens the
 *   first user message; every exchange after the first starts with BOS)
 *     "[INST] <<SYS>>\nS\n<</SYS>>\n\ntext [/INST]"   first user turn, with S
 *     "[INST] text [/INST]"              first user turn, S empty
 *     "<s>[INST] text [/INST]"           every later user turn
 *     " Ctext </s>"                      each assistant turn
 *     "" or " C"                         generation prompt; the model then
 *                                        writes " reply </s>" (or "reply
 *                                        </s>" after C)
 *     end of turn "</s>"; stops "</s>", "[INST]".
 *     The leading BOS "<s>" of the whole prompt is NOT written: encode with
 *     SOCFW_TOKENIZER_ADD_SPECIAL (which adds it) and PARSE_SPECIAL (so the
 *     inner "</s><s>" become the EOS/BOS tokens).  A system turn inside the
 *     list is written like a user turn; an assistant turn with no user turn
 *     before it is written after an empty "[INST]  [/INST]".
 *
 * With `label_controls`, an assistant turn whose `label` is set gets the
 * control token socfw_dialog_control_token(label) (for training on per-turn
 * emotion labels); otherwise only the generation prompt carries `control`.
 *
 * Which template a model wants can be read from its metadata (GGUF
 * tokenizer.chat_template, a Jinja text): socfw_dialog_template_detect.
 */
#ifndef SOCFW_DIALOG_TEMPLATE_H
#define SOCFW_DIALOG_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum socfw_dialog_role {
        SOCFW_DIALOG_SYSTEM = 0,
        SOCFW_DIALOG_USER = 1,
        SOCFW_DIALOG_ASSISTANT = 2,
} socfw_dialog_role;

/* One turn of a conversation.  Strings are UTF-8 and NUL-terminated;
 * who owns them depends on where the turn lives (a socfw_dialog_context owns
 * its turns' strings). */
typedef struct socfw_dialog_turn {
        socfw_dialog_role role;
        const char *text;       /* never NULL in a context                  */
        size_t len;             /* strlen(text); 0 here = compute it        */
        const char *label;      /* emotion/sentiment label, or NULL         */
        int64_t created;        /* Unix time in seconds; 0 = unknown        */
} socfw_dialog_turn;

/* "system", "user", "assistant" (static); "?" for a bad value. */
const char *socfw_dialog_role_name(socfw_dialog_role role);

/* Parse a role name: "system"; "user", "human"; "assistant", "bot", "gpt".
 * Case-sensitive.  Returns 0, or SOCFW_EINVAL (err says what is accepted). */
int socfw_dialog_role_parse(const char *name, socfw_dialog_role *out,
                            socfw_error *err);

typedef enum socfw_dialog_template {
        SOCFW_DIALOG_TEMPLATE_PLAIN = 0,
        SOCFW_DIALOG_TEMPLATE_CHATML = 1,
        SOCFW_DIALOG_TEMPLATE_LLAMA2 = 2,
} socfw_dialog_template;

/* "plain", "chatml", "llama2" (static); NULL for a bad value. */
const char *socfw_dialog_template_name(socfw_dialog_template t);

/* Template by name ("plain", "chatml", "llama2"; also "llama-2").
 * Returns 0, or SOCFW_EINVAL naming the accepted names. */
int socfw_dialog_template_parse(const char *name, socfw_dialog_template *out,
                                socfw_error *err);

/* Which family a model's chat template (e.g. the GGUF metadata string
 * tokenizer.chat_template, or tokenizer_config.json "chat_template") is:
 * it contains "<|im_start|>" -> chatml, else "[INST]" -> llama2, else
 * "User:" together with "Bot:" or "Assistant:" -> plain.
 * Returns 0, or SOCFW_ENOTFOUND when `chat_template` is NULL/empty or of an
 * unknown family (the caller then uses the configured template). */
int socfw_dialog_template_detect(const char *chat_template,
                                 socfw_dialog_template *out, socfw_error *err);

/* The chat template (Jinja text) in a model's metadata: `path` is
 *   - a .gguf file: its tokenizer.chat_template;
 *   - a directory: its tokenizer_config.json "chat_template" (a string, or
 *     a list of {name, template}: the one named "default", else the
 *     first), or, without that file, the GGUF file in it;
 *   - another file (model.safetensors): tokenizer_config.json beside it.
 * *out: caller frees.  Returns 0, SOCFW_ENOTFOUND (no model there, or no
 * template in it; err says which), SOCFW_EFORMAT (a broken file, with
 * file:line:col for JSON) or SOCFW_ENOMEM. */
int socfw_dialog_model_chat_template(const char *path, char **out,
                                     socfw_error *err);

/* What `template: auto` uses for the model at `path`: sets *out and
 * returns 0 when the model's template is of a known family; else *out is
 * plain and the return says why (err holds the message):
 *   SOCFW_DIALOG_AUTO_NO_TEMPLATE  the model has no chat template;
 *   SOCFW_DIALOG_AUTO_UNKNOWN      its template is of no known family
 *                                  (worth a warning).
 * A broken model file is a negative SOCFW_E* code. */
#define SOCFW_DIALOG_AUTO_NO_TEMPLATE 1
#define SOCFW_DIALOG_AUTO_UNKNOWN 2
int socfw_dialog_template_auto(const char *path, socfw_dialog_template *out,
                               socfw_error *err);

/* The string that ends a turn ("\n", "<|im_end|>", "</s>"); static. */
const char *socfw_dialog_template_end_of_turn(socfw_dialog_template t);

/* Stop strings for generation, NULL-terminated; static. */
const char *const *socfw_dialog_template_stops(socfw_dialog_template t);

/* Write "<|tone:LABEL|>" into buf (NUL-terminated).  Returns 0, or
 * SOCFW_EINVAL when `label` is empty, contains characters other than
 * ASCII letters, digits, '_' and '-', or does not fit. */
int socfw_dialog_control_token(const char *label, char *buf, size_t size,
                               socfw_error *err);

typedef struct socfw_dialog_render_opts {
        const char *system;     /* persona text; NULL or "" = none         */
        const char *tone;       /* tone instruction; NULL or "" = none     */
        const char *control;    /* control token for the reply; NULL = none */
        int generation_prompt;  /* end with the assistant's prefix         */
        int label_controls;     /* labelled assistant turns get their token */
} socfw_dialog_render_opts;

/* Render `turns[0..n)` (borrowed; n may be 0) with `opts` (NULL: no system,
 * no generation prompt) into a new string.  *out: caller frees; *len_out
 * (may be NULL) gets its length.  Returns 0, SOCFW_EINVAL (bad template or
 * role, a label that cannot be a control token) or SOCFW_ENOMEM. */
int socfw_dialog_template_render(socfw_dialog_template t,
                                 const socfw_dialog_render_opts *opts,
                                 const socfw_dialog_turn *turns, size_t n,
                                 char **out, size_t *len_out,
                                 socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_DIALOG_TEMPLATE_H */

/* plugins/dialog/context.h - conversation state and the history window.
 *
 * A socfw_dialog_context holds one conversation: the system/persona text and
 * a list of turns (role, text, optional emotion/sentiment label, time).
 * socfw_dialog_context_prompt chooses which turns fit the model's budget
 * and renders them with a chat template (template.h):
 *
 *     socfw_dialog_context *c = NULL;
 *     socfw_dialog_context_new(&c, "You are a friendly assistant.", &err);
 *     socfw_dialog_context_add(c, SOCFW_DIALOG_USER, "hi!", NULL, 0, &err);
 *     socfw_dialog_window_opts w = {
 *             .tmpl = SOCFW_DIALOG_TEMPLATE_CHATML,
 *             .max_turns = 8, .max_tokens = 384, .reserve_tokens = 64,
 *             .count = my_count, .count_user = tokenizer,
 *     };
 *     w.render.generation_prompt = 1;
 *     char *prompt = NULL;
 *     socfw_dialog_window win;
 *     if (socfw_dialog_context_prompt(c, &w, &prompt, NULL, &win, &err) < 0)
 *             ...;
 *     // win.dropped turns were left out; free(prompt)
 *     socfw_dialog_context_free(c);
 *
 * History window policy (what is dropped, in this order):
 *   1. The LAST turn is the current one (normally the user's message being
 *      answered).  It is never dropped.
 *   2. By turns: at most `max_turns` turns before the current one are kept;
 *      the oldest go first.
 *   3. History never starts with an assistant turn: a reply whose question
 *      was dropped is dropped too.
 *   4. By tokens: while the rendered prompt (system/persona + tone + kept
 *      turns + generation prompt, counted with `count` on the exact string
 *      the model reads) plus `reserve_tokens` exceeds `max_tokens`, the
 *      oldest kept turns are dropped (then rule 3 again).
 *   5. The system/persona text is always kept.  If the current turn alone
 *      (with the persona) still exceeds the budget, it is truncated from its
 *      START, keeping its end (the most recent words), at a UTF-8 character
 *      boundary, to the longest end that fits.  If not even one character
 *      of it fits, the call fails with SOCFW_EINVAL (the persona is too long
 *      for the budget) rather than send a prompt without the user's words.
 * The counts of what was dropped are reported in socfw_dialog_window.
 *
 * Text rules (socfw_dialog_text_check; applied by context_add and by the
 * session store): not NULL, not empty or only white space, valid UTF-8
 * (no overlong forms, surrogates or NUL bytes), at most the maximum message
 * size (default SOCFW_DIALOG_MAX_MESSAGE_DEFAULT = 1 MiB).  Text is kept
 * exactly as given (not trimmed or normalised).
 */
#ifndef SOCFW_DIALOG_CONTEXT_H
#define SOCFW_DIALOG_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "template.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SOCFW_DIALOG_MAX_MESSAGE_DEFAULT ((size_t)1 << 20)
#define SOCFW_DIALOG_LABEL_MAX 64       /* bytes of a turn's label */

/* Check a turn's text (the rules above).  `what` names it in the message
 * ("user turn", "assistant turn", ...; NULL: "text").  `max_bytes` 0 means
 * the default.  Returns 0 or SOCFW_EINVAL (err says what is wrong and
 * where: "invalid UTF-8 at byte 17"). */
int socfw_dialog_text_check(const char *text, size_t len, size_t max_bytes,
                            const char *what, socfw_error *err);

/* Check a label: NULL is fine; else 1..SOCFW_DIALOG_LABEL_MAX bytes of
 * valid UTF-8 without control characters.  Returns 0 or SOCFW_EINVAL. */
int socfw_dialog_label_check(const char *label, socfw_error *err);

/* ---- conversation ---- */

typedef struct socfw_dialog_context socfw_dialog_context;

/* New empty conversation with `system` text (copied; NULL or "" = none).
 * *out: free with socfw_dialog_context_free.  Returns 0 or SOCFW_ENOMEM /
 * SOCFW_EINVAL (system text is not valid UTF-8 or over the maximum). */
int socfw_dialog_context_new(socfw_dialog_context **out, const char *system,
                             socfw_error *err);
void socfw_dialog_context_free(socfw_dialog_context *c);

/* Replace the system text (copied; NULL = none).  Returns 0 or an error;
 * on error the old text is kept. */
int socfw_dialog_context_set_system(socfw_dialog_context *c,
                                    const char *system, socfw_error *err);
/* The system text ("" when none); borrowed until the next set_system. */
const char *socfw_dialog_context_system(const socfw_dialog_context *c);

/* Maximum bytes of one turn's text (0: the default, 1 MiB). */
void socfw_dialog_context_set_max_message(socfw_dialog_context *c,
                                          size_t max_bytes);

/* Append a turn; `text` and `label` (may be NULL) are copied after
 * socfw_dialog_text_check / socfw_dialog_label_check.  `created` is Unix
 * time in seconds, 0 = now.  Returns 0, SOCFW_EINVAL or SOCFW_ENOMEM; on
 * error the context is unchanged. */
int socfw_dialog_context_add(socfw_dialog_context *c, socfw_dialog_role role,
                             const char *text, const char *label,
                             int64_t created, socfw_error *err);

/* Number of turns and the turns themselves (an array of count entries,
 * borrowed: valid until the next add/clear/free; NULL when empty). */
size_t socfw_dialog_context_count(const socfw_dialog_context *c);
const socfw_dialog_turn *
socfw_dialog_context_turns(const socfw_dialog_context *c);

/* Remove every turn (the system text stays). */
void socfw_dialog_context_clear(socfw_dialog_context *c);

/* ---- token counting ---- */

/* Count the tokens of text[0..len) (not NUL-terminated in general) into
 * *n.  Returns 0 or a negative SOCFW_E* code (filling err).  Wrap a
 * tokenizer with SOCFW_TOKENIZER_PARSE_SPECIAL so that template markers
 * such as "<|im_start|>" count as the single tokens they are. */
typedef int (*socfw_dialog_count_fn)(void *user, const char *text,
                                     size_t len, size_t *n,
                                     socfw_error *err);

/* Built-in counters: runs of non-white-space characters ("words"), and
 * Unicode code points.  `user` is ignored.  Always return 0. */
int socfw_dialog_count_words(void *user, const char *text, size_t len,
                             size_t *n, socfw_error *err);
int socfw_dialog_count_chars(void *user, const char *text, size_t len,
                             size_t *n, socfw_error *err);

/* Counter over a socfw tokenizer: `user` is a `const socfw_tokenizer *`;
 * counts what socfw_tokenizer_encode gives with SOCFW_TOKENIZER_ADD_SPECIAL
 * | SOCFW_TOKENIZER_PARSE_SPECIAL (BOS included; template markers that are
 * special tokens count as one).  Returns 0 or the tokenizer's error. */
int socfw_dialog_count_tokenizer(void *user, const char *text, size_t len,
                                 size_t *n, socfw_error *err);

/* ---- history window + prompt ---- */

typedef struct socfw_dialog_window_opts {
        socfw_dialog_template tmpl;
        /* system: NULL = the context's system text.  Set
         * generation_prompt to end the prompt where the reply starts. */
        socfw_dialog_render_opts render;
        size_t max_turns;       /* history turns before the current one;
                                   0 = no limit                            */
        size_t max_tokens;      /* prompt + reserve; 0 = no limit          */
        size_t reserve_tokens;  /* left free for the reply                 */
        socfw_dialog_count_fn count;    /* NULL: socfw_dialog_count_words  */
        void *count_user;
} socfw_dialog_window_opts;

/* What the window kept and dropped. */
typedef struct socfw_dialog_window {
        size_t first;            /* index of the first turn kept           */
        size_t kept;             /* turns in the prompt (incl. current)    */
        size_t dropped;          /* turns left out (= first)               */
        size_t dropped_by_turns; /* ... by max_turns (and rule 3)          */
        size_t dropped_by_tokens;/* ... by max_tokens (and rule 3)         */
        size_t tokens;           /* tokens of the prompt, as counted       */
        size_t truncated_bytes;  /* bytes cut from the start of the current
                                    turn (0: it is whole)                  */
} socfw_dialog_window;

/* Apply the window policy to `c` and render the prompt.  *prompt: caller
 * frees; *len (may be NULL) its length; *win (may be NULL) what was kept.
 * Returns 0; SOCFW_EINVAL when the conversation has no turns, the budget
 * cannot hold the persona plus one character of the current turn, or
 * reserve_tokens >= max_tokens; SOCFW_ENOMEM; or the counter's error. */
int socfw_dialog_context_prompt(const socfw_dialog_context *c,
                                const socfw_dialog_window_opts *opts,
                                char **prompt, size_t *len,
                                socfw_dialog_window *win, socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_DIALOG_CONTEXT_H */

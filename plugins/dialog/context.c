/* context.c - conversation state and the history window (see context.h). */
#include "context.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

#include "socfw/tokenizer.h"

/* ---- text checks ---- */

static int
is_space_cp(utf8proc_int32_t cp)
{
        if (cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0x85 ||
            cp == 0xFEFF || cp == 0x200B)
                return 1;
        utf8proc_category_t cat = utf8proc_category(cp);
        return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
               cat == UTF8PROC_CATEGORY_ZP;
}

/* Decode one code point at s[i..len); returns its byte length, or -1 when
 * the bytes there are not well-formed UTF-8. */
static long
next_cp(const char *s, size_t i, size_t len, utf8proc_int32_t *cp)
{
        utf8proc_ssize_t n = utf8proc_iterate(
                (const utf8proc_uint8_t *)s + i,
                (utf8proc_ssize_t)(len - i > 4 ? 4 : len - i), cp);
        return n > 0 ? (long)n : -1;
}

int
socfw_dialog_text_check(const char *text, size_t len, size_t max_bytes,
                        const char *what, socfw_error *err)
{
        if (!what)
                what = "text";
        if (!max_bytes)
                max_bytes = SOCFW_DIALOG_MAX_MESSAGE_DEFAULT;
        if (!text)
                return socfw_error_set(err, SOCFW_EINVAL, "%s is missing",
                                       what);
        if (len > max_bytes)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "%s is too long: %zu bytes, the "
                                       "maximum is %zu; hint: split the "
                                       "message or raise the maximum "
                                       "message size",
                                       what, len, max_bytes);
        int blank = 1;
        for (size_t i = 0; i < len;) {
                utf8proc_int32_t cp;
                long n = next_cp(text, i, len, &cp);
                if (n < 0)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "%s is not valid UTF-8 "
                                               "(bad byte 0x%02x at offset "
                                               "%zu); hint: convert it to "
                                               "UTF-8",
                                               what,
                                               (unsigned char)text[i], i);
                if (cp == 0)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "%s contains a NUL byte at "
                                               "offset %zu",
                                               what, i);
                if (blank && !is_space_cp(cp))
                        blank = 0;
                i += (size_t)n;
        }
        if (blank)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "%s is empty%s; expected some text",
                                       what,
                                       len ? " (only white space)" : "");
        return 0;
}

int
socfw_dialog_label_check(const char *label, socfw_error *err)
{
        if (!label)
                return 0;
        size_t len = strlen(label);
        if (len == 0 || len > SOCFW_DIALOG_LABEL_MAX)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "label must be 1 to %d bytes, not "
                                       "%zu",
                                       SOCFW_DIALOG_LABEL_MAX, len);
        for (size_t i = 0; i < len;) {
                utf8proc_int32_t cp;
                long n = next_cp(label, i, len, &cp);
                if (n < 0 || utf8proc_category(cp) == UTF8PROC_CATEGORY_CC)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "label has %s at byte %zu",
                                               n < 0 ? "invalid UTF-8"
                                                     : "a control character",
                                               i);
                i += (size_t)n;
        }
        return 0;
}

/* ---- conversation ---- */

struct socfw_dialog_context {
        char *system;
        socfw_dialog_turn *turns;
        size_t n, cap;
        size_t max_message;
};

int
socfw_dialog_context_new(socfw_dialog_context **out, const char *system,
                         socfw_error *err)
{
        *out = NULL;
        socfw_dialog_context *c = calloc(1, sizeof *c);
        if (!c)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = socfw_dialog_context_set_system(c, system, err);
        if (rc < 0) {
                socfw_dialog_context_free(c);
                return rc;
        }
        *out = c;
        return 0;
}

static void
turn_release(socfw_dialog_turn *t)
{
        free((char *)t->text);
        free((char *)t->label);
}

void
socfw_dialog_context_free(socfw_dialog_context *c)
{
        if (!c)
                return;
        socfw_dialog_context_clear(c);
        free(c->turns);
        free(c->system);
        free(c);
}

int
socfw_dialog_context_set_system(socfw_dialog_context *c, const char *system,
                                socfw_error *err)
{
        char *copy = NULL;
        if (system && system[0]) {
                size_t len = strlen(system);
                /* the system text may be blank-free-form, but must be
                 * UTF-8 and bounded like any message */
                size_t max = c->max_message ? c->max_message
                                            : SOCFW_DIALOG_MAX_MESSAGE_DEFAULT;
                for (size_t i = 0; i < len;) {
                        utf8proc_int32_t cp;
                        long n = next_cp(system, i, len, &cp);
                        if (n < 0)
                                return socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "system/persona text is not valid "
                                        "UTF-8 (bad byte at offset %zu)",
                                        i);
                        i += (size_t)n;
                }
                if (len > max)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "system/persona text is too "
                                               "long: %zu bytes, the maximum "
                                               "is %zu",
                                               len, max);
                copy = strdup(system);
                if (!copy)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
        }
        free(c->system);
        c->system = copy;
        return 0;
}

const char *
socfw_dialog_context_system(const socfw_dialog_context *c)
{
        return c->system ? c->system : "";
}

void
socfw_dialog_context_set_max_message(socfw_dialog_context *c,
                                     size_t max_bytes)
{
        c->max_message = max_bytes;
}

int
socfw_dialog_context_add(socfw_dialog_context *c, socfw_dialog_role role,
                         const char *text, const char *label,
                         int64_t created, socfw_error *err)
{
        const char *what = role == SOCFW_DIALOG_USER        ? "user turn"
                           : role == SOCFW_DIALOG_ASSISTANT ? "assistant turn"
                           : role == SOCFW_DIALOG_SYSTEM    ? "system turn"
                                                            : NULL;
        if (!what)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "bad turn role %d", (int)role);
        size_t len = text ? strlen(text) : 0;
        int rc = socfw_dialog_text_check(text, len, c->max_message, what,
                                         err);
        if (rc == 0)
                rc = socfw_dialog_label_check(label, err);
        if (rc < 0)
                return rc;
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 16;
                socfw_dialog_turn *g = realloc(c->turns, cap * sizeof *g);
                if (!g)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                c->turns = g;
                c->cap = cap;
        }
        char *t = malloc(len + 1);
        char *l = label ? strdup(label) : NULL;
        if (!t || (label && !l)) {
                free(t);
                free(l);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        memcpy(t, text, len + 1);
        c->turns[c->n++] = (socfw_dialog_turn){
                .role = role,
                .text = t,
                .len = len,
                .label = l,
                .created = created ? created : (int64_t)time(NULL),
        };
        return 0;
}

size_t
socfw_dialog_context_count(const socfw_dialog_context *c)
{
        return c->n;
}

const socfw_dialog_turn *
socfw_dialog_context_turns(const socfw_dialog_context *c)
{
        return c->n ? c->turns : NULL;
}

void
socfw_dialog_context_clear(socfw_dialog_context *c)
{
        for (size_t i = 0; i < c->n; i++)
                turn_release(&c->turns[i]);
        c->n = 0;
}

/* ---- token counting ---- */

int
socfw_dialog_count_words(void *user, const char *text, size_t len,
                         size_t *n, socfw_error *err)
{
        size_t words = 0;
        int in_word = 0;
        for (size_t i = 0; i < len;) {
                utf8proc_int32_t cp;
                long k = next_cp(text, i, len, &cp);
                int space = k > 0 && is_space_cp(cp);
                if (!space && !in_word)
                        words++;
                in_word = !space;
                i += k > 0 ? (size_t)k : 1;
        }
        *n = words;
        return 0;
}

int
socfw_dialog_count_chars(void *user, const char *text, size_t len,
                         size_t *n, socfw_error *err)
{
        size_t chars = 0;
        for (size_t i = 0; i < len; i++)
                if (((unsigned char)text[i] & 0xC0) != 0x80)
                        chars++;
        *n = chars;
        return 0;
}

int
socfw_dialog_count_tokenizer(void *user, const char *text, size_t len,
                             size_t *n, socfw_error *err)
{
        int32_t *ids = NULL;
        *n = 0;
        if (!user)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "no tokenizer to count tokens with");
        int rc = socfw_tokenizer_encode(user, text, len,
                                        SOCFW_TOKENIZER_ADD_SPECIAL |
                                                SOCFW_TOKENIZER_PARSE_SPECIAL,
                                        &ids, n, err);
        free(ids);
        return rc;
}

/* ---- history window ---- */

typedef struct window_job {
        const socfw_dialog_context *c;
        const socfw_dialog_window_opts *o;
        socfw_dialog_render_opts render;
        socfw_dialog_turn cur;  /* the current turn, maybe truncated */
} window_job;

/* Render turns [first, n-1) + the current turn cut at byte `cut`; count. */
static int
render_count(window_job *j, size_t first, size_t cut, char **out,
             size_t *out_len, size_t *tokens, socfw_error *err)
{
        const socfw_dialog_context *c = j->c;
        size_t n = c->n - first;
        socfw_dialog_turn stack[64];
        socfw_dialog_turn *v = n <= 64 ? stack : malloc(n * sizeof *v);
        char *s = NULL;
        size_t len = 0;
        int rc;
        if (!v)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        memcpy(v, c->turns + first, n * sizeof *v);
        v[n - 1].text += cut;
        v[n - 1].len -= cut;
        rc = socfw_dialog_template_render(j->o->tmpl, &j->render, v, n, &s,
                                          &len, err);
        if (rc == 0 && tokens) {
                socfw_dialog_count_fn count = j->o->count
                                                      ? j->o->count
                                                      : socfw_dialog_count_words;
                rc = count(j->o->count_user, s, len, tokens, err);
        }
        if (v != stack)
                free(v);
        if (rc == 0 && out) {
                *out = s;
                if (out_len)
                        *out_len = len;
                s = NULL;
        }
        free(s);
        return rc;
}

/* First index >= i (and <= last) that is not an assistant turn. */
static size_t
skip_orphan_replies(const socfw_dialog_context *c, size_t i, size_t last)
{
        while (i < last && c->turns[i].role == SOCFW_DIALOG_ASSISTANT)
                i++;
        return i;
}

/* Next UTF-8 character boundary at or after byte b of s[0..len). */
static size_t
snap(const char *s, size_t len, size_t b)
{
        while (b < len && ((unsigned char)s[b] & 0xC0) == 0x80)
                b++;
        return b;
}

int
socfw_dialog_context_prompt(const socfw_dialog_context *c,
                            const socfw_dialog_window_opts *opts,
                            char **prompt, size_t *len,
                            socfw_dialog_window *win, socfw_error *err)
{
        socfw_dialog_window w = {0};
        window_job j = {.c = c, .o = opts, .render = opts->render};
        size_t budget = 0, tokens = 0, cut = 0;
        int rc = 0;

        *prompt = NULL;
        if (win)
                *win = w;
        if (c->n == 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "the conversation has no turns; "
                                       "expected at least the user's "
                                       "message");
        if (!j.render.system)
                j.render.system = c->system;
        if (opts->max_tokens) {
                if (opts->reserve_tokens >= opts->max_tokens)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "the reply reserve (%zu tokens) leaves "
                                "nothing of the budget of %zu tokens; "
                                "hint: raise history.max_tokens or lower "
                                "max_reply_tokens",
                                opts->reserve_tokens, opts->max_tokens);
                budget = opts->max_tokens - opts->reserve_tokens;
        }

        size_t cur = c->n - 1;
        size_t first = 0;
        if (opts->max_turns && cur > opts->max_turns)
                first = cur - opts->max_turns;
        first = skip_orphan_replies(c, first, cur);
        w.dropped_by_turns = first;

        if (budget) {
                rc = render_count(&j, first, 0, NULL, NULL, &tokens, err);
                if (rc < 0)
                        return rc;
                if (tokens > budget) {
                        /* smallest f in (first, cur] that fits: binary
                         * search (fewer turns never need more tokens) */
                        size_t lo = first, hi = cur, t_hi = tokens;
                        if (first < cur)
                                rc = render_count(&j, cur, 0, NULL, NULL,
                                                  &t_hi, err);
                        if (rc < 0)
                                return rc;
                        if (t_hi <= budget) {
                                while (hi - lo > 1) {
                                        size_t mid = lo + (hi - lo) / 2, t;
                                        rc = render_count(&j, mid, 0, NULL,
                                                          NULL, &t, err);
                                        if (rc < 0)
                                                return rc;
                                        if (t <= budget)
                                                hi = mid;
                                        else
                                                lo = mid;
                                }
                                first = skip_orphan_replies(c, hi, cur);
                        } else {
                                first = cur;
                                /* truncate the current turn: smallest cut
                                 * (a character boundary) that fits */
                                const char *s = c->turns[cur].text;
                                size_t L = c->turns[cur].len;
                                size_t blo = 0, bhi = L, t;
                                /* gallop from the end (short suffixes
                                 * are cheap to count), then bisect */
                                for (size_t keep = 64; keep < L; keep *= 2) {
                                        size_t b = L - keep;
                                        while (b > 0 &&
                                               ((unsigned char)s[b] & 0xC0) ==
                                                       0x80)
                                                b--;
                                        if (b <= blo || b >= bhi)
                                                break;
                                        rc = render_count(&j, cur, b, NULL,
                                                          NULL, &t, err);
                                        if (rc < 0)
                                                return rc;
                                        if (t > budget) {
                                                blo = b;
                                                break;
                                        }
                                        bhi = b;
                                }
                                while (bhi - blo > 1) {
                                        size_t half = blo + (bhi - blo) / 2;
                                        size_t mid = snap(s, L, half);
                                        if (mid >= bhi) {
                                                /* look back instead */
                                                mid = half;
                                                while (mid > blo &&
                                                       ((unsigned char)s[mid] &
                                                        0xC0) == 0x80)
                                                        mid--;
                                                if (mid <= blo)
                                                        break;
                                        }
                                        rc = render_count(&j, cur, mid, NULL,
                                                          NULL, &t, err);
                                        if (rc < 0)
                                                return rc;
                                        if (t <= budget)
                                                bhi = mid;
                                        else
                                                blo = mid;
                                }
                                if (bhi >= L) {
                                        size_t t_sys = 0;
                                        rc = render_count(&j, cur, L, NULL,
                                                          NULL, &t_sys, err);
                                        if (rc < 0)
                                                return rc;
                                        return socfw_error_set(
                                                err, SOCFW_EINVAL,
                                                "the token budget cannot hold "
                                                "the persona and the current "
                                                "message: persona and template "
                                                "alone take %zu tokens, the "
                                                "budget is %zu (max_tokens %zu "
                                                "- reply reserve %zu); hint: "
                                                "raise history.max_tokens or "
                                                "shorten the persona",
                                                t_sys, budget,
                                                opts->max_tokens,
                                                opts->reserve_tokens);
                                }
                                cut = bhi;
                        }
                        w.dropped_by_tokens = first - w.dropped_by_turns;
                }
        }

        rc = render_count(&j, first, cut, prompt, len, &tokens, err);
        if (rc < 0)
                return rc;
        w.first = first;
        w.kept = c->n - first;
        w.dropped = first;
        w.tokens = tokens;
        w.truncated_bytes = cut;
        if (win)
                *win = w;
        return 0;
}

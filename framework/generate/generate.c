/* generate.c - the generation loop (see socfw/generate.h). */
#include "socfw/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest piece accepted from the piece callback. */
#define PIECE_MAX ((size_t)1 << 20)

/* ---- small growable buffers ---- */

struct bytes {
        char *p;
        size_t len, cap;
};

static int
bytes_reserve(struct bytes *b, size_t extra)
{
        if (extra > SIZE_MAX / 2 - b->len)
                return SOCFW_ENOMEM;
        size_t need = b->len + extra + 1;       /* + NUL */
        if (need <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
                cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
                return SOCFW_ENOMEM;
        b->p = p;
        b->cap = cap;
        return 0;
}

static int
bytes_append(struct bytes *b, const char *s, size_t n)
{
        if (bytes_reserve(b, n) < 0)
                return SOCFW_ENOMEM;
        if (n)
                memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
        return 0;
}

static int
ids_push(int32_t **v, size_t *n, size_t *cap, int32_t x)
{
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 64;
                int32_t *p = realloc(*v, c * sizeof *p);
                if (!p)
                        return SOCFW_ENOMEM;
                *v = p;
                *cap = c;
        }
        (*v)[(*n)++] = x;
        return 0;
}

/* ---- UTF-8 ---- */

size_t
socfw_generate_utf8_complete(const char *s, size_t len)
{
        const unsigned char *u = (const unsigned char *)s;
        /* look back at most 3 bytes for the lead byte of the last char */
        for (size_t back = 1; back <= 3 && back <= len; back++) {
                unsigned char c = u[len - back];
                if ((c & 0xC0) == 0x80)
                        continue;               /* continuation byte */
                size_t need = (c & 0xE0) == 0xC0 ? 2 :
                              (c & 0xF0) == 0xE0 ? 3 :
                              (c & 0xF8) == 0xF0 ? 4 : 1;
                return need > back ? len - back : len;
        }
        return len;     /* ASCII end, or stray continuation bytes */
}

/* ---- piece lookup ---- */

/* Append the bytes of token `id` to `b`. */
static int
append_piece(const socfw_generate_model *gm, int32_t id, struct bytes *b,
             socfw_error *err)
{
        char small[256];
        int n = gm->piece(gm->user, id, small, sizeof small);

        if (n < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "generate: no text for token %d; hint: the sampler "
                        "and the tokenizer disagree on the vocabulary",
                        (int)id);
        if ((size_t)n <= sizeof small)
                return bytes_append(b, small, (size_t)n) < 0 ?
                       socfw_error_set(err, SOCFW_ENOMEM,
                                       "generate: out of memory") : 0;
        if ((size_t)n > PIECE_MAX)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "generate: token %d has a %d-byte piece (limit %zu)",
                        (int)id, n, PIECE_MAX);
        if (bytes_reserve(b, (size_t)n) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "generate: out of memory");
        int m = gm->piece(gm->user, id, b->p + b->len, (size_t)n);
        if (m != n)
                return socfw_error_set(err, SOCFW_EINTERNAL,
                        "generate: piece of token %d changed length "
                        "(%d then %d bytes)", (int)id, n, m);
        b->len += (size_t)n;
        b->p[b->len] = '\0';
        return 0;
}

/* ---- blocklist ---- */

struct blocklist {
        const char *const *words;
        size_t *wlen;
        size_t n;
        int icase;
        struct bytes arena;     /* every token's piece, concatenated      */
        size_t *off;            /* n_vocab + 1 offsets into arena         */
        uint8_t *static_ban;    /* pieces that contain a whole word       */
};

static int
bytes_eq(const char *a, const char *b, size_t n, int icase)
{
        if (!icase)
                return memcmp(a, b, n) == 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char x = (unsigned char)a[i];
                unsigned char y = (unsigned char)b[i];
                if (x >= 'A' && x <= 'Z')
                        x = (unsigned char)(x - 'A' + 'a');
                if (y >= 'A' && y <= 'Z')
                        y = (unsigned char)(y - 'A' + 'a');
                if (x != y)
                        return 0;
        }
        return 1;
}

static int
bytes_contains(const char *hay, size_t hn, const char *needle, size_t nn,
               int icase)
{
        if (nn > hn)
                return 0;
        for (size_t i = 0; i + nn <= hn; i++)
                if (bytes_eq(hay + i, needle, nn, icase))
                        return 1;
        return 0;
}

static void
blocklist_free(struct blocklist *bl)
{
        free(bl->wlen);
        free(bl->arena.p);
        free(bl->off);
        free(bl->static_ban);
}

static int
blocklist_init(struct blocklist *bl, const socfw_generate_model *gm,
               const socfw_generate_config *cfg, socfw_error *err)
{
        size_t V = (size_t)gm->n_vocab;

        memset(bl, 0, sizeof *bl);
        bl->words = cfg->blocklist;
        bl->n = cfg->n_blocklist;
        bl->icase = cfg->blocklist_ignore_case;
        if (bl->n == 0)
                return 0;
        bl->wlen = calloc(bl->n, sizeof *bl->wlen);
        bl->off = calloc(V + 1, sizeof *bl->off);
        bl->static_ban = calloc(V, 1);
        if (!bl->wlen || !bl->off || !bl->static_ban)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "generate: out of memory");
        for (size_t k = 0; k < bl->n; k++) {
                if (!bl->words[k] || !bl->words[k][0])
                        return socfw_error_set(err, SOCFW_EINVAL,
                                "generate: blocklist word %zu is empty", k);
                bl->wlen[k] = strlen(bl->words[k]);
        }
        for (size_t t = 0; t < V; t++) {
                bl->off[t] = bl->arena.len;
                int rc = append_piece(gm, (int32_t)t, &bl->arena, NULL);
                if (rc < 0)
                        bl->arena.len = bl->off[t];     /* no text: skip */
                const char *p = bl->arena.p + bl->off[t];
                size_t pl = bl->arena.len - bl->off[t];
                for (size_t k = 0; k < bl->n; k++)
                        if (bytes_contains(p, pl, bl->words[k], bl->wlen[k],
                                           bl->icase))
                                bl->static_ban[t] = 1;
        }
        bl->off[V] = bl->arena.len;
        return 0;
}

/* Set logits[t] = -inf for every token that would complete a blocked word
 * given the generated text so far. */
static void
blocklist_apply(const struct blocklist *bl, const struct bytes *text,
                size_t V, float *logits)
{
        for (size_t t = 0; t < V; t++)
                if (bl->static_ban[t])
                        logits[t] = -INFINITY;
        for (size_t k = 0; k < bl->n; k++) {
                const char *w = bl->words[k];
                size_t L = bl->wlen[k];
                /* j bytes of the word already at the end of the text */
                for (size_t j = 1; j < L && j <= text->len; j++) {
                        if (!bytes_eq(text->p + text->len - j, w, j,
                                      bl->icase))
                                continue;
                        size_t rest = L - j;
                        for (size_t t = 0; t < V; t++) {
                                size_t pl = bl->off[t + 1] - bl->off[t];
                                if (pl >= rest &&
                                    bytes_eq(bl->arena.p + bl->off[t],
                                             w + j, rest, bl->icase))
                                        logits[t] = -INFINITY;
                        }
                }
        }
}

/* ---- stop strings ---- */

/* Earliest occurrence of any stop string that ends after `from_end`
 * (the text length before the last piece); -1 if none. */
static long
find_stop(const socfw_generate_config *cfg, const struct bytes *text,
          size_t old_len, int *which)
{
        long best = -1;
        for (size_t k = 0; k < cfg->n_stop_strings; k++) {
                const char *s = cfg->stop_strings[k];
                size_t sl = strlen(s);
                if (sl > text->len)
                        continue;
                size_t start = old_len >= sl - 1 ? old_len - (sl - 1) : 0;
                for (size_t i = start; i + sl <= text->len; i++) {
                        if (best >= 0 && (long)i >= best)
                                break;
                        if (memcmp(text->p + i, s, sl) == 0) {
                                best = (long)i;
                                *which = (int)k;
                                break;
                        }
                }
        }
        return best;
}

/* Bytes at the end of the text that could be the start of a stop string. */
static size_t
stop_holdback(const socfw_generate_config *cfg, const struct bytes *text)
{
        size_t hold = 0;
        for (size_t k = 0; k < cfg->n_stop_strings; k++) {
                const char *s = cfg->stop_strings[k];
                size_t sl = strlen(s);
                for (size_t j = sl - 1 < text->len ? sl - 1 : text->len;
                     j > hold; j--) {
                        if (memcmp(text->p + text->len - j, s, j) == 0) {
                                hold = j;
                                break;
                        }
                }
        }
        return hold;
}

/* ---- the loop ---- */

static double
now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
socfw_generate_config_default(socfw_generate_config *cfg)
{
        memset(cfg, 0, sizeof *cfg);
        cfg->max_tokens = 256;
}

void
socfw_generate_result_free(socfw_generate_result *res)
{
        if (!res)
                return;
        free(res->text);
        free(res->tokens);
        memset(res, 0, sizeof *res);
        res->stop_string = -1;
}

static int
check_args(const socfw_generate_model *gm, const socfw_generate_config *cfg,
           const int32_t *prompt, size_t n_prompt, socfw_error *err)
{
        if (!gm || !gm->step || !gm->piece || gm->n_vocab <= 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "generate: the model needs n_vocab > 0 and both the "
                        "step and piece callbacks");
        if (!prompt || n_prompt == 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "generate: empty prompt; hint: start from the BOS "
                        "token when there is no text");
        if (gm->n_ctx && n_prompt >= gm->n_ctx)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "generate: the prompt has %zu tokens, the context "
                        "only %zu; hint: shorten the prompt or history",
                        n_prompt, gm->n_ctx);
        for (size_t k = 0; k < cfg->n_stop_strings; k++)
                if (!cfg->stop_strings[k] || !cfg->stop_strings[k][0])
                        return socfw_error_set(err, SOCFW_EINVAL,
                                "generate: stop string %zu is empty", k);
        return 0;
}

/* Stream text[*emitted .. upto). Returns nonzero when the callback asks to
 * stop. */
static int
emit(const socfw_generate_config *cfg, const struct bytes *text,
     size_t *emitted, size_t upto)
{
        if (upto <= *emitted)
                return 0;
        int stop = 0;
        if (cfg->stream)
                stop = cfg->stream(cfg->stream_user, text->p + *emitted,
                                   upto - *emitted);
        *emitted = upto;
        return stop;
}

int
socfw_generate(const socfw_generate_model *gm, socfw_sampler *sampler,
               const socfw_generate_config *cfg, const int32_t *prompt,
               size_t n_prompt, socfw_generate_result *res, socfw_error *err)
{
        socfw_generate_config defcfg;
        struct blocklist bl;
        struct bytes text = {0};
        socfw_sampler *own = NULL;
        int32_t *hist = NULL;
        size_t n_hist = 0, cap_hist = 0, emitted = 0, final_len = 0;
        float *scratch = NULL;
        int rc, stopped = 0, stripped = 0;
        double t0 = now_seconds(), t1 = t0;

        memset(res, 0, sizeof *res);
        res->stop_string = -1;
        res->stop_token = -1;
        memset(&bl, 0, sizeof bl);
        if (!cfg) {
                socfw_generate_config_default(&defcfg);
                cfg = &defcfg;
        }
        rc = check_args(gm, cfg, prompt, n_prompt, err);
        if (rc < 0)
                goto out;
        size_t V = (size_t)gm->n_vocab;
        res->n_prompt = n_prompt;
        if (!sampler) {
                socfw_sampler_config gc;
                socfw_sampler_config_greedy(&gc);
                own = socfw_sampler_new(gm->n_vocab, &gc, err);
                if (!own) {
                        rc = SOCFW_ENOMEM;
                        goto out;
                }
                sampler = own;
        }
        rc = blocklist_init(&bl, gm, cfg, err);
        if (rc < 0)
                goto out;
        if (bl.n) {
                scratch = malloc(V * sizeof *scratch);
                if (!scratch) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "generate: out of memory");
                        goto out;
                }
        }
        for (size_t i = 0; i < n_prompt; i++)
                if (ids_push(&hist, &n_hist, &cap_hist, prompt[i]) < 0) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "generate: out of memory");
                        goto out;
                }
        if (bytes_reserve(&text, 0) < 0) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "generate: out of memory");
                goto out;
        }

        const float *logits = gm->step(gm->user, prompt, n_prompt, err);
        t1 = now_seconds();
        if (!logits) {
                rc = socfw_error_prefix(err, SOCFW_EINVAL,
                                        "generate: processing the prompt");
                goto out;
        }
        for (;;) {
                size_t n_gen = n_hist - n_prompt;
                if (cfg->cancel && atomic_load(cfg->cancel)) {
                        res->stop = SOCFW_GENERATE_STOP_CANCELLED;
                        break;
                }
                if (cfg->max_tokens && n_gen >= cfg->max_tokens) {
                        res->stop = SOCFW_GENERATE_STOP_MAX_TOKENS;
                        break;
                }
                if (gm->n_ctx && n_hist >= gm->n_ctx) {
                        res->stop = SOCFW_GENERATE_STOP_CONTEXT;
                        break;
                }
                if (n_gen > 0) {
                        logits = gm->step(gm->user, &hist[n_hist - 1], 1,
                                          err);
                        if (!logits) {
                                rc = socfw_error_prefix(err, SOCFW_EINVAL,
                                        "generate: step after %zu tokens",
                                        n_gen);
                                goto out;
                        }
                }
                const float *lp = logits;
                if (bl.n) {
                        memcpy(scratch, logits, V * sizeof *scratch);
                        blocklist_apply(&bl, &text, V, scratch);
                        lp = scratch;
                }
                int32_t tok;
                rc = socfw_sampler_sample(sampler, lp, hist, n_hist, &tok,
                                          err);
                if (rc < 0) {
                        socfw_error_prefix(err, rc, "generate: sampling "
                                           "token %zu", n_gen + 1);
                        goto out;
                }
                int is_stop = 0;
                for (size_t k = 0; k < cfg->n_stop_tokens; k++)
                        if (cfg->stop_tokens[k] == tok)
                                is_stop = 1;
                if (is_stop) {
                        res->stop = SOCFW_GENERATE_STOP_TOKEN;
                        res->stop_token = tok;
                        break;
                }
                if (ids_push(&hist, &n_hist, &cap_hist, tok) < 0) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "generate: out of memory");
                        goto out;
                }
                size_t old_len = text.len;
                rc = append_piece(gm, tok, &text, err);
                if (rc < 0)
                        goto out;
                if (cfg->strip_leading_space && !stripped &&
                    text.len > 0) {
                        stripped = 1;
                        if (text.p[0] == ' ') {
                                memmove(text.p, text.p + 1, text.len);
                                text.len--;
                        }
                        old_len = 0;
                }
                int which = -1;
                long at = find_stop(cfg, &text, old_len, &which);
                if (at >= 0) {
                        res->stop = SOCFW_GENERATE_STOP_STRING;
                        res->stop_string = which;
                        text.len = (size_t)at;
                        text.p[text.len] = '\0';
                        break;
                }
                size_t safe = socfw_generate_utf8_complete(text.p, text.len);
                size_t hold = text.len - stop_holdback(cfg, &text);
                if (hold < safe)
                        safe = hold;
                if (emit(cfg, &text, &emitted, safe)) {
                        res->stop = SOCFW_GENERATE_STOP_CALLBACK;
                        stopped = 1;
                        break;
                }
        }
        rc = 0;
out:
        /* the final text: what was streamed when the callback stopped us,
         * else everything up to any incomplete trailing character */
        if (text.p) {
                final_len = stopped ? emitted :
                            socfw_generate_utf8_complete(text.p, text.len);
                if (final_len < emitted)
                        final_len = emitted;
                if (rc == 0 && !stopped)
                        emit(cfg, &text, &emitted, final_len);
                text.len = final_len;
                text.p[final_len] = '\0';
        }
        if (!text.p && bytes_reserve(&text, 0) == 0)
                text.p[0] = '\0';      /* an empty string, not NULL */
        double t2 = now_seconds();
        res->text = text.p;
        res->text_len = text.len;
        res->n_tokens = n_hist > n_prompt ? n_hist - n_prompt : 0;
        if (res->n_tokens) {
                res->tokens = malloc(res->n_tokens * sizeof *res->tokens);
                if (res->tokens)
                        memcpy(res->tokens, hist + n_prompt,
                               res->n_tokens * sizeof *res->tokens);
                else
                        res->n_tokens = 0;
        }
        res->prompt_seconds = t1 - t0;
        res->gen_seconds = t2 - t1;
        res->tokens_per_second = res->gen_seconds > 0.0 ?
                (double)res->n_tokens / res->gen_seconds : 0.0;
        free(hist);
        free(scratch);
        blocklist_free(&bl);
        socfw_sampler_free(own);
        return rc;
}

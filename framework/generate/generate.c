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

/* ---- the vocabulary's text ---- */

/* Every token's piece, concatenated, and its length in code points;
 * built once per call when a constraint needs it. */
struct vocab_text {
        struct bytes arena;
        size_t *off;            /* n_vocab + 1 offsets into arena         */
        uint32_t *cps;          /* code points of each piece              */
        /* UTF-8 shape of each piece: leading continuation bytes (capped
         * at 4), whether it is only those, whether the rest is valid
         * (a last character may be incomplete) */
        uint8_t *lead_cont, *all_cont, *body_ok;
};

static void
vocab_text_free(struct vocab_text *vt)
{
        free(vt->arena.p);
        free(vt->off);
        free(vt->cps);
        free(vt->lead_cont);
        free(vt->all_cont);
        free(vt->body_ok);
}

/* Length of the UTF-8 sequence a lead byte starts; 0 for a byte that
 * cannot start one (continuation, 0xC0, 0xC1, 0xF5..0xFF). */
static size_t
utf8_seq_len(unsigned char c)
{
        return c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 :
               (c & 0xF0) == 0xE0 ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
}

static void
utf8_shape(const unsigned char *p, size_t n, uint8_t *lead, uint8_t *all,
           uint8_t *ok)
{
        size_t i = 0;
        while (i < n && (p[i] & 0xC0) == 0x80)
                i++;
        *lead = (uint8_t)(i < 4 ? i : 4);
        *all = i == n;
        *ok = 1;
        while (i < n) {
                size_t L = utf8_seq_len(p[i]);
                if (L == 0) {
                        *ok = 0;
                        return;
                }
                for (size_t j = 1; j < L && i + j < n; j++)
                        if ((p[i + j] & 0xC0) != 0x80) {
                                *ok = 0;
                                return;
                        }
                i += L;
        }
}

/* Bytes the text's last character still needs (0: it is complete). */
static size_t
utf8_pending(const struct bytes *text)
{
        size_t ok = socfw_generate_utf8_complete(text->p, text->len);
        if (ok == text->len)
                return 0;
        size_t L = utf8_seq_len((unsigned char)text->p[ok]);
        size_t have = text->len - ok;
        return L > have ? L - have : 0;
}

/* Code points in s[0..n): bytes that are not UTF-8 continuation bytes. */
static size_t
cp_count(const char *s, size_t n)
{
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
                c += ((unsigned char)s[i] & 0xC0) != 0x80;
        return c;
}

static int
vocab_text_init(struct vocab_text *vt, const socfw_generate_model *gm,
                socfw_error *err)
{
        size_t V = (size_t)gm->n_vocab;
        vt->off = calloc(V + 1, sizeof *vt->off);
        vt->cps = calloc(V, sizeof *vt->cps);
        vt->lead_cont = calloc(V, 1);
        vt->all_cont = calloc(V, 1);
        vt->body_ok = calloc(V, 1);
        if (!vt->off || !vt->cps || !vt->lead_cont || !vt->all_cont ||
            !vt->body_ok)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "generate: out of memory");
        for (size_t t = 0; t < V; t++) {
                vt->off[t] = vt->arena.len;
                if (append_piece(gm, (int32_t)t, &vt->arena, NULL) < 0)
                        vt->arena.len = vt->off[t];     /* no text: skip */
                vt->cps[t] = (uint32_t)cp_count(vt->arena.p + vt->off[t],
                                                vt->arena.len - vt->off[t]);
                utf8_shape((const unsigned char *)vt->arena.p + vt->off[t],
                           vt->arena.len - vt->off[t], &vt->lead_cont[t],
                           &vt->all_cont[t], &vt->body_ok[t]);
        }
        vt->off[V] = vt->arena.len;
        return 0;
}

/* ---- blocklist ---- */

struct blocklist {
        const char *const *words;
        size_t *wlen;
        size_t n;
        int icase;
        const struct vocab_text *vt;
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
        free(bl->static_ban);
}

static int
blocklist_init(struct blocklist *bl, const socfw_generate_model *gm,
               const socfw_generate_config *cfg,
               const struct vocab_text *vt, socfw_error *err)
{
        size_t V = (size_t)gm->n_vocab;

        memset(bl, 0, sizeof *bl);
        bl->words = cfg->blocklist;
        bl->n = cfg->n_blocklist;
        bl->icase = cfg->blocklist_ignore_case;
        bl->vt = vt;
        if (bl->n == 0)
                return 0;
        bl->wlen = calloc(bl->n, sizeof *bl->wlen);
        bl->static_ban = calloc(V, 1);
        if (!bl->wlen || !bl->static_ban)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "generate: out of memory");
        for (size_t k = 0; k < bl->n; k++) {
                if (!bl->words[k] || !bl->words[k][0])
                        return socfw_error_set(err, SOCFW_EINVAL,
                                "generate: blocklist word %zu is empty", k);
                bl->wlen[k] = strlen(bl->words[k]);
        }
        for (size_t t = 0; t < V; t++) {
                const char *p = vt->arena.p + vt->off[t];
                size_t pl = vt->off[t + 1] - vt->off[t];
                for (size_t k = 0; k < bl->n; k++)
                        if (bytes_contains(p, pl, bl->words[k], bl->wlen[k],
                                           bl->icase))
                                bl->static_ban[t] = 1;
        }
        return 0;
}

/* Set logits[t] = -inf for every token that would complete a blocked word
 * given the generated text so far. */
static void
blocklist_apply(const struct blocklist *bl, const struct bytes *text,
                size_t V, float *logits)
{
        const struct vocab_text *vt = bl->vt;
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
                                size_t pl = vt->off[t + 1] - vt->off[t];
                                if (pl >= rest &&
                                    bytes_eq(vt->arena.p + vt->off[t],
                                             w + j, rest, bl->icase))
                                        logits[t] = -INFINITY;
                        }
                }
        }
}

/* Index of a blocked word that appears in text + add (ending inside
 * `add`), or -1. */
static long
blocklist_hit(const struct blocklist *bl, const struct bytes *text,
              const char *add, size_t add_len)
{
        for (size_t k = 0; k < bl->n; k++) {
                size_t L = bl->wlen[k];
                size_t back = L - 1 < text->len ? L - 1 : text->len;
                struct bytes win = {0};
                if (bytes_append(&win, text->p + text->len - back, back) < 0 ||
                    bytes_append(&win, add, add_len) < 0) {
                        free(win.p);
                        return (long)k; /* out of memory: refuse */
                }
                int hit = bytes_contains(win.p, win.len, bl->words[k], L,
                                         bl->icase);
                free(win.p);
                if (hit)
                        return (long)k;
        }
        return -1;
}

/* ---- required words ---- */

struct required {
        size_t n;
        const char *const *words;
        size_t *wlen;
        size_t *cps;            /* code points of each word               */
        size_t *ntok;           /* tokens of " " + word                   */
        uint8_t *present;       /* found in the text                      */
        uint8_t *tried;         /* already forced once                    */
        int icase;
        int32_t *queue;         /* forced ids still to emit               */
        size_t q_len, q_pos;
};

static void
required_free(struct required *rq)
{
        free(rq->wlen);
        free(rq->cps);
        free(rq->ntok);
        free(rq->present);
        free(rq->tried);
        free(rq->queue);
}

static int
required_init(struct required *rq, const socfw_generate_model *gm,
              const socfw_generate_config *cfg, const struct blocklist *bl,
              socfw_error *err)
{
        memset(rq, 0, sizeof *rq);
        rq->n = cfg->n_required;
        rq->words = cfg->required;
        rq->icase = cfg->required_ignore_case;
        if (rq->n == 0)
                return 0;
        if (!gm->encode)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "generate: required words need the model's encode "
                        "callback");
        rq->wlen = calloc(rq->n, sizeof *rq->wlen);
        rq->cps = calloc(rq->n, sizeof *rq->cps);
        rq->ntok = calloc(rq->n, sizeof *rq->ntok);
        rq->present = calloc(rq->n, 1);
        rq->tried = calloc(rq->n, 1);
        if (!rq->wlen || !rq->cps || !rq->ntok || !rq->present || !rq->tried)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "generate: out of memory");
        size_t total = 0;
        for (size_t k = 0; k < rq->n; k++) {
                const char *w = rq->words[k];
                if (!w || !w[0])
                        return socfw_error_set(err, SOCFW_EINVAL,
                                "generate: required word %zu is empty", k);
                rq->wlen[k] = strlen(w);
                rq->cps[k] = cp_count(w, rq->wlen[k]);
                total += rq->cps[k] + 2;
                for (size_t b = 0; b < bl->n; b++)
                        if (bytes_contains(w, rq->wlen[k], bl->words[b],
                                           bl->wlen[b], bl->icase))
                                return socfw_error_set(err, SOCFW_EINVAL,
                                        "generate: required word '%s' "
                                        "contains the blocked '%s'",
                                        w, bl->words[b]);
                struct bytes sp = {0};
                int32_t *ids = NULL;
                size_t n = 0;
                int rc = bytes_append(&sp, " ", 1);
                if (rc == 0)
                        rc = bytes_append(&sp, w, rq->wlen[k]);
                if (rc == 0)
                        rc = gm->encode(gm->user, sp.p, sp.len, &ids, &n);
                free(sp.p);
                free(ids);
                if (rc < 0)
                        return socfw_error_set(err, rc < 0 ? rc : SOCFW_EINVAL,
                                "generate: cannot tokenize the required "
                                "word '%s'", w);
                rq->ntok[k] = n;
        }
        if (cfg->max_chars && total > cfg->max_chars)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "generate: the required words need %zu characters "
                        "with their separators, more than max_chars %zu; "
                        "hint: fewer or shorter words, or a longer limit",
                        total, cfg->max_chars);
        return 0;
}

/* Mark the words present in the text; sum what the missing ones need. */
static size_t
required_update(struct required *rq, const struct bytes *text,
                size_t *need_chars, size_t *need_tokens)
{
        size_t missing = 0;
        *need_chars = 0;
        *need_tokens = 0;
        for (size_t k = 0; k < rq->n; k++) {
                rq->present[k] = bytes_contains(text->p, text->len,
                                                rq->words[k], rq->wlen[k],
                                                rq->icase);
                if (rq->present[k] || rq->tried[k])
                        continue;
                missing++;
                /* the word and its separator (" ", ". " or "\n") */
                *need_chars += rq->cps[k] + 2;
                *need_tokens += rq->ntok[k] + 1;
        }
        return missing;
}

/* Queue the tokens of the first missing word, after a separator chosen so
 * that no blocked word appears.  Returns 1 when queued, 0 when nothing is
 * left to force, or a negative code. */
static int
required_force(struct required *rq, const socfw_generate_model *gm,
               const struct blocklist *bl, const struct bytes *text,
               socfw_error *err)
{
        static const char *const seps[] = {" ", ". ", "\n"};
        for (size_t k = 0; k < rq->n; k++) {
                if (rq->present[k] || rq->tried[k])
                        continue;
                rq->tried[k] = 1;
                unsigned char last = text->len ?
                        (unsigned char)text->p[text->len - 1] : ' ';
                int need_sep = !(last == ' ' || last == '\n' ||
                                 last == '\t');
                struct bytes add = {0};
                int rc = SOCFW_EINVAL;
                for (size_t s = 0; s < (need_sep ? 3u : 1u); s++) {
                        add.len = 0;
                        if ((need_sep && bytes_append(&add, seps[s],
                                                      strlen(seps[s])) < 0) ||
                            bytes_append(&add, rq->words[k],
                                         rq->wlen[k]) < 0) {
                                free(add.p);
                                return socfw_error_set(err, SOCFW_ENOMEM,
                                        "generate: out of memory");
                        }
                        if (blocklist_hit(bl, text, add.p, add.len) < 0) {
                                rc = 0;
                                break;
                        }
                }
                if (rc < 0) {
                        free(add.p);
                        continue;       /* cannot be placed here */
                }
                int32_t *ids = NULL;
                size_t n = 0;
                rc = gm->encode(gm->user, add.p, add.len, &ids, &n);
                free(add.p);
                if (rc < 0 || n == 0) {
                        free(ids);
                        return socfw_error_set(err, SOCFW_EINVAL,
                                "generate: cannot tokenize the required "
                                "word '%s'", rq->words[k]);
                }
                free(rq->queue);
                rq->queue = ids;
                rq->q_len = n;
                rq->q_pos = 0;
                return 1;
        }
        return 0;
}

/* log softmax(logits)[tok], over the finite logits. */
static double
log_prob(const float *logits, size_t V, int32_t tok)
{
        float mx = -INFINITY;
        for (size_t t = 0; t < V; t++)
                if (logits[t] > mx)
                        mx = logits[t];
        if (!isfinite(mx) || !isfinite(logits[tok]))
                return -1e9;
        double sum = 0;
        for (size_t t = 0; t < V; t++)
                if (isfinite(logits[t]))
                        sum += exp((double)logits[t] - mx);
        return (double)logits[tok] - mx - log(sum);
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

/* Mask the tokens whose text would take `used` code points past `limit`,
 * and those without text (special tokens). */
static void
mask_budget(const struct vocab_text *vt, size_t V, size_t used, size_t limit,
            float *logits)
{
        size_t room = used < limit ? limit - used : 0;
        for (size_t t = 0; t < V; t++)
                if (vt->cps[t] > room || vt->off[t + 1] == vt->off[t])
                        logits[t] = -INFINITY;
}

/* Mask the tokens that would make the text invalid UTF-8 after a last
 * character that still needs `pending` bytes. */
static void
mask_utf8(const struct vocab_text *vt, size_t V, size_t pending,
          float *logits)
{
        for (size_t t = 0; t < V; t++) {
                int ok;
                if (vt->off[t + 1] == vt->off[t])
                        continue;       /* no text */
                if (pending == 0)
                        ok = vt->lead_cont[t] == 0 && vt->body_ok[t];
                else if (vt->all_cont[t])
                        ok = vt->lead_cont[t] <= pending;
                else
                        ok = vt->lead_cont[t] == pending && vt->body_ok[t];
                if (!ok)
                        logits[t] = -INFINITY;
        }
}

/* 1 when some logit is finite. */
static int
any_finite(const float *lp, size_t V)
{
        for (size_t t = 0; t < V; t++)
                if (lp[t] > -INFINITY)
                        return 1;
        return 0;
}

int
socfw_generate(const socfw_generate_model *gm, socfw_sampler *sampler,
               const socfw_generate_config *cfg, const int32_t *prompt,
               size_t n_prompt, socfw_generate_result *res, socfw_error *err)
{
        socfw_generate_config defcfg;
        struct vocab_text vt;
        struct blocklist bl;
        struct required rq;
        struct bytes text = {0};
        socfw_sampler *own = NULL;
        int32_t *hist = NULL;
        size_t n_hist = 0, cap_hist = 0, emitted = 0, final_len = 0;
        size_t need_chars = 0, need_tokens = 0, missing = 0;
        float *scratch = NULL;
        int rc, stopped = 0, stripped = 0;
        double t0 = now_seconds(), t1 = t0, logprob = 0;

        memset(res, 0, sizeof *res);
        res->stop_string = -1;
        res->stop_token = -1;
        memset(&vt, 0, sizeof vt);
        memset(&bl, 0, sizeof bl);
        memset(&rq, 0, sizeof rq);
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
        int masks = cfg->n_blocklist > 0 || cfg->max_chars > 0 ||
                    cfg->valid_utf8;
        if (masks || cfg->n_required) {
                rc = vocab_text_init(&vt, gm, err);
                if (rc < 0)
                        goto out;
        }
        rc = blocklist_init(&bl, gm, cfg, &vt, err);
        if (rc < 0)
                goto out;
        rc = required_init(&rq, gm, cfg, &bl, err);
        if (rc < 0)
                goto out;
        if (masks) {
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
        missing = required_update(&rq, &text, &need_chars, &need_tokens);

        const float *logits = gm->step(gm->user, prompt, n_prompt, err);
        t1 = now_seconds();
        if (!logits) {
                rc = socfw_error_prefix(err, SOCFW_EINVAL,
                                        "generate: processing the prompt");
                goto out;
        }
        for (;;) {
                size_t n_gen = n_hist - n_prompt;
                int queued = rq.q_pos < rq.q_len;
                if (cfg->cancel && atomic_load(cfg->cancel)) {
                        res->stop = SOCFW_GENERATE_STOP_CANCELLED;
                        break;
                }
                /* a forced word is finished even past max_tokens */
                if (!queued && cfg->max_tokens && n_gen >= cfg->max_tokens) {
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
                int32_t tok = -1;
                int forced = 0;
                if (queued) {
                        tok = rq.queue[rq.q_pos++];
                        forced = 1;
                } else {
                        const float *lp = logits;
                        size_t chars = cp_count(text.p, text.len);
                        if (masks) {
                                memcpy(scratch, logits, V * sizeof *scratch);
                                if (bl.n)
                                        blocklist_apply(&bl, &text, V,
                                                        scratch);
                                if (cfg->max_chars)
                                        mask_budget(&vt, V, chars + need_chars,
                                                    cfg->max_chars, scratch);
                                if (cfg->valid_utf8)
                                        mask_utf8(&vt, V, utf8_pending(&text),
                                                  scratch);
                                /* an end token adds no text */
                                for (size_t k = 0; k < cfg->n_stop_tokens;
                                     k++) {
                                        int32_t st = cfg->stop_tokens[k];
                                        if (st >= 0 && (size_t)st < V)
                                                scratch[st] = logits[st];
                                }
                                lp = scratch;
                        }
                        int any = masks ? any_finite(lp, V) : 1;
                        int want_force = 0;
                        if (any) {
                                rc = socfw_sampler_sample(sampler, lp, hist,
                                                          n_hist, &tok, err);
                                if (rc < 0) {
                                        socfw_error_prefix(err, rc,
                                                "generate: sampling token "
                                                "%zu", n_gen + 1);
                                        goto out;
                                }
                        }
                        int is_stop = 0;
                        for (size_t k = 0; any && k < cfg->n_stop_tokens; k++)
                                if (cfg->stop_tokens[k] == tok)
                                        is_stop = 1;
                        if (missing && (!any || is_stop ||
                                        (cfg->max_tokens &&
                                         n_gen + 1 + need_tokens >
                                                 cfg->max_tokens)))
                                want_force = 1;
                        if (want_force) {
                                rc = required_force(&rq, gm, &bl, &text, err);
                                if (rc < 0)
                                        goto out;
                                if (rc > 0) {
                                        tok = rq.queue[rq.q_pos++];
                                        forced = 1;
                                        is_stop = 0;
                                }
                                missing = required_update(&rq, &text,
                                                          &need_chars,
                                                          &need_tokens);
                        }
                        if (!forced && !any) {
                                res->stop = SOCFW_GENERATE_STOP_MAX_TOKENS;
                                res->max_chars_reached = cfg->max_chars > 0;
                                break;
                        }
                        if (is_stop) {
                                res->stop = SOCFW_GENERATE_STOP_TOKEN;
                                res->stop_token = tok;
                                break;
                        }
                }
                if (forced)
                        res->n_forced++;
                logprob += log_prob(logits, V, tok);
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
                        text.len = (size_t)at;
                        text.p[text.len] = '\0';
                        missing = required_update(&rq, &text, &need_chars,
                                                  &need_tokens);
                        /* a required word still missing goes before the
                         * end */
                        if (missing && rq.q_pos >= rq.q_len) {
                                rc = required_force(&rq, gm, &bl, &text, err);
                                if (rc < 0)
                                        goto out;
                                if (rc > 0)
                                        continue;
                        }
                        res->stop = SOCFW_GENERATE_STOP_STRING;
                        res->stop_string = which;
                        break;
                }
                if (rq.n)
                        missing = required_update(&rq, &text, &need_chars,
                                                  &need_tokens);
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
        res->n_chars = text.p ? cp_count(text.p, text.len) : 0;
        res->logprob = logprob;
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
        required_free(&rq);
        blocklist_free(&bl);
        vocab_text_free(&vt);
        socfw_sampler_free(own);
        return rc;
}

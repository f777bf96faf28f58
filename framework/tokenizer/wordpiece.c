/* wordpiece.c - BERT: BasicTokenizer normalisation and splitting (as HF's
 * BertNormalizer + BertPreTokenizer), then greedy longest-match-first
 * WordPiece with "##" continuations. */
#include "tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* ---- character classes ---- */

static int
is_control(int32_t c)
{
        if (c == '\t' || c == '\n' || c == '\r')
                return 0;
        switch (utf8proc_category(c)) {
        case UTF8PROC_CATEGORY_CC:
        case UTF8PROC_CATEGORY_CF:
        case UTF8PROC_CATEGORY_CN:
        case UTF8PROC_CATEGORY_CO:
        case UTF8PROC_CATEGORY_CS:
                return 1;
        default:
                return 0;
        }
}

static int
is_bert_space(int32_t c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
               utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

/* Split points of the pre-tokenizer: Unicode White_Space. */
static int
is_split_space(int32_t c)
{
        if (c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85)
                return 1;
        utf8proc_category_t k = utf8proc_category(c);
        return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL ||
               k == UTF8PROC_CATEGORY_ZP;
}

int
tok_wp_is_punct(int32_t c)
{
        if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) ||
            (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
                return 1;
        switch (utf8proc_category(c)) {
        case UTF8PROC_CATEGORY_PC:
        case UTF8PROC_CATEGORY_PD:
        case UTF8PROC_CATEGORY_PS:
        case UTF8PROC_CATEGORY_PE:
        case UTF8PROC_CATEGORY_PI:
        case UTF8PROC_CATEGORY_PF:
        case UTF8PROC_CATEGORY_PO:
                return 1;
        default:
                return 0;
        }
}

int
tok_wp_is_cjk(int32_t c)
{
        return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
               (c >= 0x20000 && c <= 0x2a6df) ||
               (c >= 0x2a700 && c <= 0x2b73f) ||
               (c >= 0x2b740 && c <= 0x2b81f) ||
               (c >= 0x2b820 && c <= 0x2ceaf) ||
               (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

/* ---- normalise + split ---- */

typedef struct cpbuf {
        int32_t *v;
        size_t n, cap;
} cpbuf;

static int
cp_push(cpbuf *b, int32_t c)
{
        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 256;
                int32_t *v = realloc(b->v, cap * sizeof *v);
                if (!v)
                        return SOCFW_ENOMEM;
                b->v = v;
                b->cap = cap;
        }
        b->v[b->n++] = c;
        return 0;
}

/* Append the normalised form of one character. */
static int
normalize_char(int32_t c, int lowercase, int strip_accents, int cjk,
               cpbuf *out)
{
        int rc;
        if (c == 0 || c == 0xfffd || is_control(c))
                return 0;
        if (is_bert_space(c))
                return cp_push(out, ' ');
        if (cjk && tok_wp_is_cjk(c)) {
                if ((rc = cp_push(out, ' ')) < 0 ||
                    (rc = cp_push(out, c)) < 0)
                        return rc;
                return cp_push(out, ' ');
        }
        int32_t dec[32];
        utf8proc_ssize_t nd = 1;
        dec[0] = c;
        if (strip_accents) {
                int last = 0;
                nd = utf8proc_decompose_char(c, dec, 32, UTF8PROC_DECOMPOSE,
                                             &last);
                if (nd < 0 || nd > 32) {
                        dec[0] = c;
                        nd = 1;
                }
        }
        for (utf8proc_ssize_t i = 0; i < nd; i++) {
                int32_t d = dec[i];
                if (strip_accents &&
                    utf8proc_category(d) == UTF8PROC_CATEGORY_MN)
                        continue;
                if (lowercase)
                        d = utf8proc_tolower(d);
                if ((rc = cp_push(out, d)) < 0)
                        return rc;
        }
        return 0;
}

static size_t
put_utf8(int32_t c, char *dst)
{
        utf8proc_ssize_t n = utf8proc_encode_char(c, (utf8proc_uint8_t *)dst);
        return n > 0 ? (size_t)n : 0;
}

int
tok_wp_pretokenize(const char *s, size_t len, int lowercase,
                   int strip_accents, int tokenize_cjk,
                   int (*fn)(const char *w, size_t len, void *user),
                   void *user)
{
        int rc = 0;
        cpbuf cps = {0};
        char *word = NULL;
        const uint8_t *u = (const uint8_t *)s;
        for (size_t i = 0; i < len;) {
                int32_t c;
                utf8proc_ssize_t k = utf8proc_iterate(u + i,
                                                      (utf8proc_ssize_t)(len - i),
                                                      &c);
                if (k <= 0) {   /* invalid UTF-8: one byte -> U+FFFD */
                        c = 0xfffd;
                        k = 1;
                }
                i += (size_t)k;
                if ((rc = normalize_char(c, lowercase, strip_accents,
                                         tokenize_cjk, &cps)) < 0)
                        goto out;
        }
        word = malloc(cps.n * 4 + 1);
        if (!word && cps.n) {
                rc = SOCFW_ENOMEM;
                goto out;
        }
        size_t wl = 0;
        for (size_t i = 0; i <= cps.n; i++) {
                int32_t c = i < cps.n ? cps.v[i] : ' ';
                int sp = is_split_space(c);
                int pu = !sp && tok_wp_is_punct(c);
                if ((sp || pu) && wl) {
                        if ((rc = fn(word, wl, user)) < 0)
                                goto out;
                        wl = 0;
                }
                if (pu) {
                        size_t n = put_utf8(c, word);
                        if ((rc = fn(word, n, user)) < 0)
                                goto out;
                } else if (!sp) {
                        wl += put_utf8(c, word + wl);
                }
        }
out:
        free(cps.v);
        free(word);
        return rc;
}

/* ---- greedy longest match ---- */

typedef struct wp_ctx {
        const socfw_tokenizer *t;
        tok_ids *out;
        char *buf;              /* "##" + word */
        size_t bufcap;
        uint32_t *cut;          /* byte offset of each char boundary */
        size_t cutcap;
        tok_ids tmp;
} wp_ctx;

static int
wp_word(const char *w, size_t len, void *user)
{
        wp_ctx *c = user;
        const socfw_tokenizer *t = c->t;
        int32_t unk = t->special[SOCFW_TOKENIZER_UNK];
        int rc;
        /* char boundaries */
        if (c->cutcap < len + 1) {
                uint32_t *cut = realloc(c->cut, (len + 1) * sizeof *cut);
                if (!cut)
                        return SOCFW_ENOMEM;
                c->cut = cut;
                c->cutcap = len + 1;
        }
        size_t nc = 0;
        for (size_t i = 0; i < len; i++)
                if (((uint8_t)w[i] & 0xc0) != 0x80)
                        c->cut[nc++] = (uint32_t)i;
        c->cut[nc] = (uint32_t)len;
        if (nc > t->max_chars)
                return unk >= 0 ? tok_ids_push(c->out, unk) : 0;
        if (c->bufcap < len + 2) {
                char *b = realloc(c->buf, len + 2);
                if (!b)
                        return SOCFW_ENOMEM;
                c->buf = b;
                c->bufcap = len + 2;
        }
        /* the word sits at buf + 2; "##" is written just before the start
         * of a continuation piece and the two bytes restored afterwards */
        char *wb = c->buf + 2;
        memcpy(wb, w, len);
        c->tmp.n = 0;
        size_t start = 0;
        while (start < nc) {
                size_t end = nc;
                int32_t found = -1;
                uint32_t b0 = c->cut[start];
                size_t extra = start > 0 ? 2 : 0;
                char save[2] = { 0, 0 };
                if (start > 0) {
                        memcpy(save, wb + b0 - 2, 2);
                        memcpy(wb + b0 - 2, "##", 2);
                }
                for (; end > start; end--) {
                        size_t pl = c->cut[end] - b0 + extra;
                        if (pl > t->max_match_len)
                                continue;
                        found = tok_strmap_find(&t->match, wb + b0 - extra,
                                                pl);
                        if (found >= 0)
                                break;
                }
                if (start > 0)
                        memcpy(wb + b0 - 2, save, 2);
                if (found < 0)
                        return unk >= 0 ? tok_ids_push(c->out, unk) : 0;
                if ((rc = tok_ids_push(&c->tmp, found)) < 0)
                        return rc;
                start = end;
        }
        for (size_t i = 0; i < c->tmp.n; i++)
                if ((rc = tok_ids_push(c->out, c->tmp.v[i])) < 0)
                        return rc;
        return 0;
}

int
tok_wp_encode(const socfw_tokenizer *t, const char *s, size_t len,
              tok_ids *out, socfw_error *err)
{
        wp_ctx c = { .t = t, .out = out };
        int rc = tok_wp_pretokenize(s, len, t->lowercase, t->strip_accents,
                                    t->tokenize_cjk, wp_word, &c);
        free(c.buf);
        free(c.cut);
        free(c.tmp.v);
        if (rc < 0)
                return socfw_error_set(err, rc, "tokenizer: out of memory "
                                       "in WordPiece");
        return 0;
}

/* spm.c - SentencePiece BPE with byte fallback (Llama): spaces become
 * U+2581, a dummy prefix space is added, adjacent symbols whose
 * concatenation is a token are merged highest score first (leftmost first
 * among equal scores), and symbols that are no token fall back to their
 * <0xXX> byte tokens. */
#include "tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct spm_sym {
        uint32_t off, len;      /* in the escaped text; len 0: merged away */
        int32_t prev, next;
} spm_sym;

typedef struct spm_bigram {
        float score;
        uint32_t left, right;
        uint32_t size;
} spm_bigram;

static int
big_less(const spm_bigram *a, const spm_bigram *b)
{
        /* a comes out before b */
        return a->score > b->score ||
               (a->score == b->score && a->left < b->left);
}

typedef struct spm_heap {
        spm_bigram *v;
        size_t n, cap;
} spm_heap;

static void
heap_push(spm_heap *h, spm_bigram x)
{
        size_t i = h->n++;
        h->v[i] = x;
        while (i > 0) {
                size_t p = (i - 1) / 2;
                if (!big_less(&h->v[i], &h->v[p]))
                        break;
                spm_bigram t = h->v[p];
                h->v[p] = h->v[i];
                h->v[i] = t;
                i = p;
        }
}

static spm_bigram
heap_pop(spm_heap *h)
{
        spm_bigram top = h->v[0];
        h->v[0] = h->v[--h->n];
        size_t i = 0;
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < h->n && big_less(&h->v[l], &h->v[m]))
                        m = l;
                if (r < h->n && big_less(&h->v[r], &h->v[m]))
                        m = r;
                if (m == i)
                        break;
                spm_bigram t = h->v[m];
                h->v[m] = h->v[i];
                h->v[i] = t;
                i = m;
        }
        return top;
}

static void
try_bigram(const socfw_tokenizer *t, const char *s, const spm_sym *sym,
           int32_t l, int32_t r, spm_heap *h)
{
        if (l < 0 || r < 0 || h->n >= h->cap)
                return;
        uint32_t size = sym[l].len + sym[r].len;
        int32_t id = tok_strmap_find(&t->match, s + sym[l].off, size);
        if (id < 0)
                return;
        spm_bigram b = { t->score[id], (uint32_t)l, (uint32_t)r, size };
        heap_push(h, b);
}

/* Bytes in the character at s: as SentencePiece/llama.cpp for valid
 * UTF-8; an invalid sequence is split into single bytes, each of which then
 * falls back to its <0xXX> token, so the text round-trips. */
static uint32_t
char_len(const char *s, size_t len)
{
        uint32_t cp;
        size_t n = tok_utf8_decode((const uint8_t *)s, len, &cp);
        return n ? (uint32_t)n : 1;
}

/* Merge and emit one stretch of escaped text. */
static int
spm_segment(const socfw_tokenizer *t, const char *e, size_t elen,
            spm_sym *sym, spm_heap *h, tok_ids *out)
{
        h->n = 0;
        /* one symbol per character */
        int32_t ns = 0;
        for (size_t i = 0; i < elen;) {
                uint32_t cl = char_len(e + i, elen - i);
                sym[ns].off = (uint32_t)i;
                sym[ns].len = cl;
                sym[ns].prev = ns - 1;
                sym[ns].next = -1;
                if (ns > 0)
                        sym[ns - 1].next = ns;
                ns++;
                i += cl;
        }
        for (int32_t i = 1; i < ns; i++)
                try_bigram(t, e, sym, i - 1, i, h);
        while (h->n) {
                spm_bigram b = heap_pop(h);
                spm_sym *l = &sym[b.left], *r = &sym[b.right];
                if (l->len == 0 || r->len == 0 || l->len + r->len != b.size)
                        continue;
                l->len += r->len;
                r->len = 0;
                l->next = r->next;
                if (r->next >= 0)
                        sym[r->next].prev = (int32_t)b.left;
                try_bigram(t, e, sym, l->prev, (int32_t)b.left, h);
                try_bigram(t, e, sym, (int32_t)b.left, l->next, h);
        }
        int32_t unk = t->special[SOCFW_TOKENIZER_UNK];
        for (int32_t i = 0; i >= 0 && i < ns; i = sym[i].next) {
                int32_t id = tok_strmap_find(&t->match, e + sym[i].off,
                                             sym[i].len);
                if (id >= 0) {
                        if (tok_ids_push(out, id) < 0)
                                return SOCFW_ENOMEM;
                        continue;
                }
                for (uint32_t k = 0; k < sym[i].len; k++) {
                        int32_t bt = t->byte_tok[(uint8_t)e[sym[i].off + k]];
                        if (bt < 0)
                                bt = unk;
                        if (bt >= 0 && tok_ids_push(out, bt) < 0)
                                return SOCFW_ENOMEM;
                        if (bt == unk && t->byte_tok[0] < 0)
                                break;  /* no byte tokens: one <unk> */
                }
        }
        return 0;
}

int
tok_spm_encode(const socfw_tokenizer *t, const char *s, size_t len,
               int after_special, tok_ids *out, socfw_error *err)
{
        int rc = 0;
        char *e = NULL;
        spm_sym *sym = NULL;
        spm_heap h = {0};
        if (len == 0)
                return 0;
        /* escape: optional dummy prefix, ' ' -> U+2581 */
        int prefix = t->add_space_prefix && after_special;
        size_t spaces = prefix;
        for (size_t i = 0; i < len; i++)
                spaces += s[i] == ' ';
        size_t elen = len + prefix + 2 * spaces;
        e = malloc(elen);
        sym = malloc(elen * sizeof *sym);
        h.cap = 3 * elen;
        h.v = malloc(h.cap * sizeof *h.v);
        if (!e || !sym || !h.v)
                goto nomem;
        size_t o = 0;
        if (prefix) {
                memcpy(e, "\xe2\x96\x81", 3);
                o = 3;
        }
        for (size_t i = 0; i < len; i++) {
                if (s[i] == ' ') {
                        memcpy(e + o, "\xe2\x96\x81", 3);
                        o += 3;
                } else {
                        e[o++] = s[i];
                }
        }
        /* merge piece by piece (see spm_split), else all at once */
        size_t seg = 0;
        while (seg < elen) {
                size_t end = elen;
                if (t->spm_split) {
                        /* next U+2581 that follows another character */
                        end = seg + 1;
                        while (end < elen &&
                               !(end + 3 <= elen &&
                                 !memcmp(e + end, "\xe2\x96\x81", 3) &&
                                 !(end >= seg + 3 &&
                                   !memcmp(e + end - 3, "\xe2\x96\x81", 3))))
                                end++;
                }
                if ((rc = spm_segment(t, e + seg, end - seg, sym, &h,
                                      out)) < 0)
                        goto nomem;
                seg = end;
        }
        goto out;
nomem:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "tokenizer: out of memory "
                             "in SentencePiece");
out:
        free(e);
        free(sym);
        free(h.v);
        return rc;
}

/* bpe.c - byte-level BPE: regex pre-tokenizer (PCRE2) and merges by rank.
 *
 * Tokens are kept as the raw bytes they stand for, so a pre-token is split
 * into one symbol per byte (the token of that byte) and adjacent symbols are
 * merged lowest rank first, leftmost first among equal ranks, with a binary
 * heap of candidate pairs: O(n log n) per pre-token. */
#include "tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>

int
tok_bpe_compile(socfw_tokenizer *t, const char *pattern, socfw_error *err)
{
        if (!pattern)
                pattern = SOCFW_TOKENIZER_PATTERN_GPT2;
        t->pattern = strdup(pattern);
        if (!t->pattern)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "tokenizer: out of memory");
        int ec = 0;
        PCRE2_SIZE eo = 0;
        t->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                              &ec, &eo, NULL);
        if (!t->re) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(ec, msg, sizeof msg);
                return socfw_error_set(err, SOCFW_EINVAL, "tokenizer: "
                                       "pre-tokenizer regex does not compile "
                                       "at offset %zu: %s (pattern \"%s\")",
                                       (size_t)eo, (const char *)msg, pattern);
        }
        /* JIT is an optimisation only; the interpreter is used without it */
        (void)pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE);
        return 0;
}

/* ---- merging one pre-token ---- */

typedef struct bpe_cand {
        uint32_t rank;
        uint32_t pos;           /* index of the left symbol */
        int32_t left, right;    /* ids when queued          */
} bpe_cand;

typedef struct bpe_work {
        int32_t *id;
        int32_t *prev, *next;
        bpe_cand *heap;
        size_t nheap, cap, heapcap;
} bpe_work;

static int
cand_less(const bpe_cand *a, const bpe_cand *b)
{
        return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void
heap_push(bpe_work *w, bpe_cand c)
{
        size_t i = w->nheap++;
        w->heap[i] = c;
        while (i > 0) {
                size_t p = (i - 1) / 2;
                if (!cand_less(&w->heap[i], &w->heap[p]))
                        break;
                bpe_cand tmp = w->heap[p];
                w->heap[p] = w->heap[i];
                w->heap[i] = tmp;
                i = p;
        }
}

static bpe_cand
heap_pop(bpe_work *w)
{
        bpe_cand top = w->heap[0];
        w->heap[0] = w->heap[--w->nheap];
        size_t i = 0;
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < w->nheap && cand_less(&w->heap[l], &w->heap[m]))
                        m = l;
                if (r < w->nheap && cand_less(&w->heap[r], &w->heap[m]))
                        m = r;
                if (m == i)
                        break;
                bpe_cand tmp = w->heap[m];
                w->heap[m] = w->heap[i];
                w->heap[i] = tmp;
                i = m;
        }
        return top;
}

static int
work_reserve(bpe_work *w, size_t n)
{
        if (n <= w->cap)
                return 0;
        size_t cap = w->cap ? w->cap * 2 : 64;
        if (cap < n)
                cap = n;
        int32_t *id = realloc(w->id, cap * sizeof *id);
        if (id)
                w->id = id;
        int32_t *prev = realloc(w->prev, cap * sizeof *prev);
        if (prev)
                w->prev = prev;
        int32_t *next = realloc(w->next, cap * sizeof *next);
        if (next)
                w->next = next;
        /* each merge queues at most two new pairs: n - 1 + 2 * (n - 1) */
        bpe_cand *heap = realloc(w->heap, 3 * cap * sizeof *heap);
        if (heap)
                w->heap = heap;
        if (!id || !prev || !next || !heap)
                return SOCFW_ENOMEM;
        w->cap = cap;
        w->heapcap = 3 * cap;
        return 0;
}

static void
try_pair(const socfw_tokenizer *t, bpe_work *w, int32_t pos)
{
        if (pos < 0 || w->next[pos] < 0)
                return;
        int32_t a = w->id[pos], b = w->id[w->next[pos]];
        uint32_t rank;
        if (w->nheap < w->heapcap && tok_pairmap_get(&t->pairs, a, b, &rank)) {
                bpe_cand c = { rank, (uint32_t)pos, a, b };
                heap_push(w, c);
        }
}

static int
bpe_word(const socfw_tokenizer *t, const char *s, size_t len, bpe_work *w,
         tok_ids *out)
{
        int rc;
        if (len == 0)
                return 0;
        if (t->ignore_merges || len == 1) {
                int32_t id = tok_strmap_find(&t->match, s, len);
                if (id >= 0)
                        return tok_ids_push(out, id);
        }
        if ((rc = work_reserve(w, len)) < 0)
                return rc;
        w->nheap = 0;
        for (size_t i = 0; i < len; i++) {
                w->id[i] = t->byte_tok[(uint8_t)s[i]];
                w->prev[i] = (int32_t)i - 1;
                w->next[i] = i + 1 < len ? (int32_t)i + 1 : -1;
        }
        for (size_t i = 0; i + 1 < len; i++)
                try_pair(t, w, (int32_t)i);
        while (w->nheap) {
                bpe_cand c = heap_pop(w);
                int32_t l = (int32_t)c.pos;
                int32_t r = w->next[l];
                /* stale: the left symbol was absorbed (id -2), or either
                 * side changed since this pair was queued */
                if (w->id[l] != c.left || r < 0 || w->id[r] != c.right)
                        continue;
                w->id[l] = t->merges[c.rank].result;
                w->id[r] = -2;
                w->next[l] = w->next[r];
                if (w->next[r] >= 0)
                        w->prev[w->next[r]] = l;
                try_pair(t, w, w->prev[l]);
                try_pair(t, w, l);
        }
        int32_t unk = t->special[SOCFW_TOKENIZER_UNK];
        for (int32_t i = 0; i >= 0; i = w->next[i]) {
                int32_t id = w->id[i];
                if (id < 0)
                        id = unk;       /* a byte the vocabulary lacks */
                if (id >= 0 && (rc = tok_ids_push(out, id)) < 0)
                        return rc;
        }
        return 0;
}

static void
work_free(bpe_work *w)
{
        free(w->id);
        free(w->prev);
        free(w->next);
        free(w->heap);
}

int
tok_bpe_encode(const socfw_tokenizer *t, const char *s, size_t len,
               int after_special, tok_ids *out, socfw_error *err)
{
        int rc = 0;
        bpe_work w = {0};
        char *tmp = NULL;
        pcre2_match_data *md = NULL;
        if (len == 0)
                return 0;
        if (t->add_prefix_space && after_special && s[0] != ' ') {
                tmp = malloc(len + 1);
                if (!tmp)
                        goto nomem;
                tmp[0] = ' ';
                memcpy(tmp + 1, s, len);
                s = tmp;
                len++;
        }
        md = pcre2_match_data_create_from_pattern(t->re, NULL);
        if (!md)
                goto nomem;
        size_t done = 0, from = 0;
        while (from < len) {
                int m = pcre2_match(t->re, (PCRE2_SPTR)s, len, from, 0, md,
                                    NULL);
                if (m == PCRE2_ERROR_NOMATCH)
                        break;
                if (m < 0) {
                        PCRE2_UCHAR msg[256];
                        pcre2_get_error_message(m, msg, sizeof msg);
                        rc = socfw_error_set(err, SOCFW_EINTERNAL,
                                             "tokenizer: regex match failed "
                                             "at byte %zu: %s", from,
                                             (const char *)msg);
                        goto out;
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t a = ov[0], b = ov[1];
                if (b <= a || a < from) {
                        /* empty match: step over one character */
                        from = a + 1;
                        while (from < len && ((uint8_t)s[from] & 0xc0) == 0x80)
                                from++;
                        continue;
                }
                /* bytes no alternative matched (e.g. invalid UTF-8) form
                 * their own pre-token */
                if (a > done && (rc = bpe_word(t, s + done, a - done, &w,
                                               out)) < 0)
                        goto nomem;
                if ((rc = bpe_word(t, s + a, b - a, &w, out)) < 0)
                        goto nomem;
                done = from = b;
        }
        if (len > done && (rc = bpe_word(t, s + done, len - done, &w, out)) < 0)
                goto nomem;
        goto out;
nomem:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "tokenizer: out of memory");
out:
        pcre2_match_data_free(md);
        work_free(&w);
        free(tmp);
        return rc;
}

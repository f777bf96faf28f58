/* train.c - learning a vocabulary: byte-level BPE and WordPiece.
 *
 * Both run the same merge loop (as HF's BpeTrainer / WordPieceTrainer do):
 * count pre-tokenized words, start from single symbols (bytes, or
 * characters with "##" on non-initial ones), and repeatedly merge the most
 * frequent adjacent pair.  Pair counts are kept incrementally: each pair
 * knows the words it occurs in, a merge only rewrites those words, and a
 * max-heap with lazy re-validation picks the next pair, so the cost is
 * about O(total length of the rewritten words * log) per merge rather than
 * a rescan of the corpus. */
#include "tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "socfw/log.h"

/* ---- growable string -> id map ---- */

typedef struct str_tab {
        char **s;               /* id -> string (owned)          */
        uint32_t *len;
        size_t n, cap;
        int32_t *slot;          /* open addressing over ids      */
        size_t mask;
} str_tab;

static uint64_t
hash_str(const char *s, size_t len)
{
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < len; i++) {
                h ^= (uint8_t)s[i];
                h *= 1099511628211ull;
        }
        h ^= h >> 31;
        return h;
}

static int32_t
tab_find(const str_tab *t, const char *s, size_t len)
{
        if (!t->slot)
                return -1;
        size_t h = hash_str(s, len) & t->mask;
        for (;;) {
                int32_t id = t->slot[h];
                if (id < 0)
                        return -1;
                if (t->len[id] == len && memcmp(t->s[id], s, len) == 0)
                        return id;
                h = (h + 1) & t->mask;
        }
}

static int
tab_rehash(str_tab *t, size_t cap)
{
        int32_t *slot = malloc(cap * sizeof *slot);
        if (!slot)
                return SOCFW_ENOMEM;
        memset(slot, 0xff, cap * sizeof *slot);
        free(t->slot);
        t->slot = slot;
        t->mask = cap - 1;
        for (size_t i = 0; i < t->n; i++) {
                size_t h = hash_str(t->s[i], t->len[i]) & t->mask;
                while (t->slot[h] >= 0)
                        h = (h + 1) & t->mask;
                t->slot[h] = (int32_t)i;
        }
        return 0;
}

/* Id of s, adding it when new.  Returns the id or a negative code. */
static int32_t
tab_intern(str_tab *t, const char *s, size_t len)
{
        int32_t id = tab_find(t, s, len);
        if (id >= 0)
                return id;
        if (t->n >= TOK_MAX_VOCAB)
                return SOCFW_ENOMEM;
        if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 1024;
                char **ns = realloc(t->s, cap * sizeof *ns);
                if (ns)
                        t->s = ns;
                uint32_t *nl = realloc(t->len, cap * sizeof *nl);
                if (nl)
                        t->len = nl;
                if (!ns || !nl)
                        return SOCFW_ENOMEM;
                t->cap = cap;
        }
        if ((t->n + 1) * 2 > t->mask + 1 || !t->slot) {
                t->s[t->n] = NULL;      /* not yet counted in rehash */
                if (tab_rehash(t, t->slot ? (t->mask + 1) * 2 : 2048) < 0)
                        return SOCFW_ENOMEM;
        }
        char *copy = malloc(len + 1);
        if (!copy)
                return SOCFW_ENOMEM;
        memcpy(copy, s, len);
        copy[len] = '\0';
        id = (int32_t)t->n++;
        t->s[id] = copy;
        t->len[id] = (uint32_t)len;
        size_t h = hash_str(s, len) & t->mask;
        while (t->slot[h] >= 0)
                h = (h + 1) & t->mask;
        t->slot[h] = id;
        return id;
}

static void
tab_free(str_tab *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->s[i]);
        free(t->s);
        free(t->len);
        free(t->slot);
}

/* ---- word counting ---- */

typedef struct trainer {
        str_tab words;          /* distinct pre-tokens          */
        uint64_t *wcount;       /* parallel to words            */
        size_t wcap;
        int wordpiece;
        int rc;
} trainer;

static int
count_word(const char *w, size_t len, void *user)
{
        trainer *tr = user;
        if (len == 0)
                return 0;
        int32_t id = tab_intern(&tr->words, w, len);
        if (id < 0)
                return id;
        if ((size_t)id >= tr->wcap) {
                size_t cap = tr->wcap ? tr->wcap * 2 : 1024;
                uint64_t *c = realloc(tr->wcount, cap * sizeof *c);
                if (!c)
                        return SOCFW_ENOMEM;
                memset(c + tr->wcap, 0, (cap - tr->wcap) * sizeof *c);
                tr->wcount = c;
                tr->wcap = cap;
        }
        tr->wcount[id]++;
        return 0;
}

static int
count_bpe_line(const pcre2_code *re, pcre2_match_data *md, const char *s,
               size_t len, trainer *tr)
{
        size_t done = 0, from = 0;
        int rc;
        while (from < len) {
                int m = pcre2_match(re, (PCRE2_SPTR)s, len, from, 0, md, NULL);
                if (m < 0)
                        break;
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t a = ov[0], b = ov[1];
                if (b <= a) {
                        from = a + 1;
                        continue;
                }
                if (a > done && (rc = count_word(s + done, a - done, tr)) < 0)
                        return rc;
                if ((rc = count_word(s + a, b - a, tr)) < 0)
                        return rc;
                done = from = b;
        }
        if (len > done)
                return count_word(s + done, len - done, tr);
        return 0;
}

/* ---- the merge loop ---- */

typedef struct pair_ent {
        int32_t a, b;
        int64_t count;
        int32_t *where;         /* words that had this pair (may be stale) */
        uint32_t nwhere, capwhere;
} pair_ent;

typedef struct heap_ent {
        int64_t count;
        int32_t pair;
} heap_ent;

typedef struct merger {
        str_tab *sym;           /* symbol strings (the vocabulary)   */
        int wordpiece;
        /* words as symbol sequences */
        int32_t **ws;
        uint32_t *wl;
        uint64_t *wc;
        size_t nw;
        /* pairs */
        pair_ent *p;
        size_t np, capp;
        tok_pairmap pm;         /* (a, b) -> pair index */
        size_t pm_cap;
        heap_ent *h;
        size_t nh, caph;
        uint32_t *stamp;        /* per word: last merge that visited it */
} merger;

static int
heap_less(const heap_ent *x, const heap_ent *y, const merger *m)
{
        if (x->count != y->count)
                return x->count > y->count;
        /* deterministic tie-break: smaller (a, b) first */
        const pair_ent *px = &m->p[x->pair], *py = &m->p[y->pair];
        if (px->a != py->a)
                return px->a < py->a;
        return px->b < py->b;
}

static int
heap_push(merger *m, int32_t pair)
{
        if (m->nh == m->caph) {
                size_t cap = m->caph ? m->caph * 2 : 4096;
                heap_ent *h = realloc(m->h, cap * sizeof *h);
                if (!h)
                        return SOCFW_ENOMEM;
                m->h = h;
                m->caph = cap;
        }
        size_t i = m->nh++;
        m->h[i].count = m->p[pair].count;
        m->h[i].pair = pair;
        while (i > 0) {
                size_t par = (i - 1) / 2;
                if (!heap_less(&m->h[i], &m->h[par], m))
                        break;
                heap_ent t = m->h[par];
                m->h[par] = m->h[i];
                m->h[i] = t;
                i = par;
        }
        return 0;
}

static heap_ent
heap_pop(merger *m)
{
        heap_ent top = m->h[0];
        m->h[0] = m->h[--m->nh];
        size_t i = 0;
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, k = i;
                if (l < m->nh && heap_less(&m->h[l], &m->h[k], m))
                        k = l;
                if (r < m->nh && heap_less(&m->h[r], &m->h[k], m))
                        k = r;
                if (k == i)
                        break;
                heap_ent t = m->h[k];
                m->h[k] = m->h[i];
                m->h[i] = t;
                i = k;
        }
        return top;
}

static int
pm_grow(merger *m)
{
        /* rebuild the index map at twice the size */
        tok_pairmap nm;
        size_t cap = m->pm_cap ? m->pm_cap * 2 : 65536;
        if (tok_pairmap_init(&nm, cap) < 0)
                return SOCFW_ENOMEM;
        for (size_t i = 0; i < m->np; i++)
                tok_pairmap_put(&nm, m->p[i].a, m->p[i].b, (uint32_t)i);
        tok_pairmap_free(&m->pm);
        m->pm = nm;
        m->pm_cap = cap;
        return 0;
}

/* Index of pair (a, b), created with count 0 when new; negative on error. */
static int32_t
pair_get(merger *m, int32_t a, int32_t b)
{
        uint32_t idx;
        if (tok_pairmap_get(&m->pm, a, b, &idx))
                return (int32_t)idx;
        if (m->np + 1 > m->pm_cap && pm_grow(m) < 0)
                return SOCFW_ENOMEM;
        if (m->np == m->capp) {
                size_t cap = m->capp ? m->capp * 2 : 4096;
                pair_ent *p = realloc(m->p, cap * sizeof *p);
                if (!p)
                        return SOCFW_ENOMEM;
                m->p = p;
                m->capp = cap;
        }
        pair_ent *e = &m->p[m->np];
        memset(e, 0, sizeof *e);
        e->a = a;
        e->b = b;
        tok_pairmap_put(&m->pm, a, b, (uint32_t)m->np);
        return (int32_t)m->np++;
}

static int
pair_add(merger *m, int32_t a, int32_t b, int64_t delta, int32_t word)
{
        int32_t pi = pair_get(m, a, b);
        if (pi < 0)
                return pi;
        pair_ent *e = &m->p[pi];
        e->count += delta;
        if (delta > 0 && word >= 0 &&
            (e->nwhere == 0 || e->where[e->nwhere - 1] != word)) {
                if (e->nwhere == e->capwhere) {
                        uint32_t cap = e->capwhere ? e->capwhere * 2 : 4;
                        int32_t *w = realloc(e->where, cap * sizeof *w);
                        if (!w)
                                return SOCFW_ENOMEM;
                        e->where = w;
                        e->capwhere = cap;
                }
                e->where[e->nwhere++] = word;
        }
        return pi;
}

/* String of merging symbols a and b ("##" dropped from b for WordPiece). */
static int32_t
merged_symbol(merger *m, int32_t a, int32_t b, char **buf, size_t *cap)
{
        const char *sa = m->sym->s[a], *sb = m->sym->s[b];
        size_t la = m->sym->len[a], lb = m->sym->len[b];
        if (m->wordpiece && lb >= 2 && sb[0] == '#' && sb[1] == '#') {
                sb += 2;
                lb -= 2;
        }
        if (*cap < la + lb) {
                char *nb = realloc(*buf, la + lb + 64);
                if (!nb)
                        return SOCFW_ENOMEM;
                *buf = nb;
                *cap = la + lb + 64;
        }
        memcpy(*buf, sa, la);
        memcpy(*buf + la, sb, lb);
        return tab_intern(m->sym, *buf, la + lb);
}

static void
merger_free(merger *m)
{
        for (size_t i = 0; i < m->nw; i++)
                free(m->ws[i]);
        free(m->ws);
        free(m->wl);
        free(m->wc);
        for (size_t i = 0; i < m->np; i++)
                free(m->p[i].where);
        free(m->p);
        tok_pairmap_free(&m->pm);
        free(m->h);
        free(m->stamp);
}

/* Run merges until the vocabulary holds `target` symbols.  Appends merge
 * records to *merges (pairs of symbol ids). */
static int
run_merges(merger *m, size_t target, uint64_t min_freq, tok_merge **merges,
           size_t *n_merges)
{
        int rc = 0;
        char *buf = NULL;
        size_t bufcap = 0;
        size_t capm = 0;
        int32_t *tmp = NULL;
        size_t tmpcap = 0;
        /* initial pair counts */
        for (size_t w = 0; w < m->nw; w++)
                for (uint32_t i = 0; i + 1 < m->wl[w]; i++)
                        if ((rc = pair_add(m, m->ws[w][i], m->ws[w][i + 1],
                                           (int64_t)m->wc[w], (int32_t)w)) < 0)
                                goto out;
        rc = 0;
        for (size_t i = 0; i < m->np; i++)
                if ((rc = heap_push(m, (int32_t)i)) < 0)
                        goto out;
        uint32_t iter = 0;
        while (m->sym->n < target && m->nh) {
                heap_ent top = heap_pop(m);
                pair_ent *e = &m->p[top.pair];
                if (top.count != e->count) {    /* stale */
                        if (e->count > 0 && (rc = heap_push(m, top.pair)) < 0)
                                goto out;
                        continue;
                }
                if (e->count <= 0 || (uint64_t)e->count < min_freq)
                        break;
                int32_t a = e->a, b = e->b, pidx = top.pair;
                int32_t c = merged_symbol(m, a, b, &buf, &bufcap);
                if (c < 0) {
                        rc = c;
                        goto out;
                }
                if (*n_merges == capm) {
                        capm = capm ? capm * 2 : 1024;
                        tok_merge *nm = realloc(*merges, capm * sizeof *nm);
                        if (!nm) {
                                rc = SOCFW_ENOMEM;
                                goto out;
                        }
                        *merges = nm;
                }
                (*merges)[*n_merges].left = a;
                (*merges)[*n_merges].right = b;
                (*merges)[*n_merges].result = c;
                (*n_merges)++;
                iter++;
                /* rewrite the words holding (a, b); `where` may grow while
                 * we walk it (new pairs of c are appended to other pairs'
                 * lists, not this one's, unless c pairs with itself), so
                 * index it afresh each time */
                for (uint32_t k = 0; k < m->p[pidx].nwhere; k++) {
                        int32_t w = m->p[pidx].where[k];
                        if (m->stamp[w] == iter)
                                continue;
                        m->stamp[w] = iter;
                        int32_t *s = m->ws[w];
                        uint32_t len = m->wl[w];
                        int64_t wc = (int64_t)m->wc[w];
                        int has = 0;
                        for (uint32_t i = 0; i + 1 < len; i++)
                                if (s[i] == a && s[i + 1] == b) {
                                        has = 1;
                                        break;
                                }
                        if (!has)
                                continue;
                        if (tmpcap < len) {
                                int32_t *nt = realloc(tmp, len * sizeof *nt);
                                if (!nt) {
                                        rc = SOCFW_ENOMEM;
                                        goto out;
                                }
                                tmp = nt;
                                tmpcap = len;
                        }
                        for (uint32_t i = 0; i + 1 < len; i++)
                                if ((rc = pair_add(m, s[i], s[i + 1], -wc,
                                                   -1)) < 0)
                                        goto out;
                        uint32_t o = 0;
                        for (uint32_t i = 0; i < len;) {
                                if (i + 1 < len && s[i] == a && s[i + 1] == b) {
                                        tmp[o++] = c;
                                        i += 2;
                                } else {
                                        tmp[o++] = s[i++];
                                }
                        }
                        memcpy(s, tmp, o * sizeof *s);
                        m->wl[w] = o;
                        for (uint32_t i = 0; i + 1 < o; i++) {
                                int with_c = s[i] == c || s[i + 1] == c;
                                /* the other pairs list w already */
                                int32_t pi = pair_add(m, s[i], s[i + 1], wc,
                                                      with_c ? w : -1);
                                if (pi < 0) {
                                        rc = pi;
                                        goto out;
                                }
                                /* pairs with the new symbol are candidates
                                 * now; the others are re-queued lazily */
                                if (with_c && (rc = heap_push(m, pi)) < 0)
                                        goto out;
                        }
                        rc = 0;
                }
        }
out:
        free(buf);
        free(tmp);
        return rc;
}

/* ---- public entry points ---- */

static int
check_opts(const socfw_tokenizer_train_options *opt, const char *const *lines,
           size_t n_lines, socfw_error *err)
{
        if (!opt || (!lines && n_lines))
                return socfw_error_set(err, SOCFW_EINVAL, "tokenizer_train: "
                                       "NULL argument");
        if (opt->vocab_size > TOK_MAX_VOCAB)
                return socfw_error_set(err, SOCFW_EINVAL, "tokenizer_train: "
                                       "vocab_size %zu exceeds %zu",
                                       opt->vocab_size, TOK_MAX_VOCAB);
        if (opt->n_special_tokens && !opt->special_tokens)
                return socfw_error_set(err, SOCFW_EINVAL, "tokenizer_train: "
                                       "special_tokens is NULL");
        return 0;
}

static int
train_common(socfw_tokenizer **out, const char *const *lines,
             const size_t *lens, size_t n_lines,
             const socfw_tokenizer_train_options *opt, int wordpiece,
             socfw_error *err)
{
        int rc;
        trainer tr = { .wordpiece = wordpiece };
        str_tab sym = {0};
        merger m = {0};
        tok_merge *merges = NULL;
        size_t n_merges = 0;
        pcre2_code *re = NULL;
        pcre2_match_data *md = NULL;
        const char **tokens = NULL;
        size_t *tlens = NULL;
        int32_t *types = NULL;
        char **merge_str = NULL;
        char **spelled = NULL;
        size_t n_spelled = 0;
        static const char *const wp_specials[] = { "[PAD]", "[UNK]", "[CLS]",
                                                   "[SEP]", "[MASK]" };
        const char *const *specials = opt ? opt->special_tokens : NULL;
        size_t n_specials = opt ? opt->n_special_tokens : 0;
        if (out)
                *out = NULL;
        if (!out)
                return socfw_error_set(err, SOCFW_EINVAL, "tokenizer_train: "
                                       "out is NULL");
        if ((rc = check_opts(opt, lines, n_lines, err)) < 0)
                return rc;
        if (wordpiece && n_specials == 0) {
                specials = wp_specials;
                n_specials = 5;
        }
        int lowercase = !opt->keep_case;
        size_t floor_size = n_specials + (wordpiece ? 1 : 256);
        if (opt->vocab_size < floor_size) {
                rc = socfw_error_set(err, SOCFW_EINVAL, "tokenizer_train: "
                                     "vocab_size %zu is below the %zu "
                                     "special + base tokens",
                                     opt->vocab_size, floor_size);
                goto out;
        }
        /* 1. count words */
        if (!wordpiece) {
                int ec;
                PCRE2_SIZE eo;
                re = pcre2_compile((PCRE2_SPTR)SOCFW_TOKENIZER_PATTERN_GPT2,
                                   PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP |
                                           PCRE2_MATCH_INVALID_UTF,
                                   &ec, &eo, NULL);
                if (!re) {
                        rc = socfw_error_set(err, SOCFW_EINTERNAL,
                                             "tokenizer_train: regex");
                        goto out;
                }
                (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
                md = pcre2_match_data_create_from_pattern(re, NULL);
                if (!md)
                        goto nomem;
        }
        for (size_t i = 0; i < n_lines; i++) {
                const char *s = lines[i] ? lines[i] : "";
                size_t len = lens ? lens[i] : strlen(s);
                if (wordpiece)
                        rc = tok_wp_pretokenize(s, len, lowercase, lowercase,
                                                1, count_word, &tr);
                else
                        rc = count_bpe_line(re, md, s, len, &tr);
                if (rc < 0)
                        goto nomem;
        }
        /* 2. base symbols: specials, then bytes or characters */
        for (size_t i = 0; i < n_specials; i++) {
                const char *s = specials[i] ? specials[i] : "";
                if (tab_find(&sym, s, strlen(s)) >= 0) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "tokenizer_train: special token "
                                             "\"%s\" given twice", s);
                        goto out;
                }
                if (tab_intern(&sym, s, strlen(s)) < 0)
                        goto nomem;
        }
        if (!wordpiece)
                for (int b = 0; b < 256; b++) {
                        char c = (char)b;
                        if (tab_intern(&sym, &c, 1) < 0)
                                goto nomem;
                }
        m.sym = &sym;
        m.wordpiece = wordpiece;
        m.nw = tr.words.n;
        m.ws = calloc(m.nw ? m.nw : 1, sizeof *m.ws);
        m.wl = calloc(m.nw ? m.nw : 1, sizeof *m.wl);
        m.wc = calloc(m.nw ? m.nw : 1, sizeof *m.wc);
        m.stamp = calloc(m.nw ? m.nw : 1, sizeof *m.stamp);
        if (!m.ws || !m.wl || !m.wc || !m.stamp)
                goto nomem;
        char piece[8];
        for (size_t w = 0; w < m.nw; w++) {
                const char *s = tr.words.s[w];
                size_t len = tr.words.len[w];
                m.wc[w] = tr.wcount[w];
                m.ws[w] = malloc((len ? len : 1) * sizeof *m.ws[w]);
                if (!m.ws[w])
                        goto nomem;
                uint32_t k = 0;
                for (size_t i = 0; i < len;) {
                        int32_t id;
                        if (!wordpiece) {
                                char c = s[i++];
                                id = tab_find(&sym, &c, 1);
                        } else {
                                uint32_t cp;
                                size_t cl = tok_utf8_decode(
                                        (const uint8_t *)s + i, len - i, &cp);
                                if (!cl)
                                        cl = 1;
                                size_t pl = 0;
                                if (i > 0) {
                                        piece[0] = piece[1] = '#';
                                        pl = 2;
                                }
                                memcpy(piece + pl, s + i, cl);
                                id = tab_intern(&sym, piece, pl + cl);
                                i += cl;
                        }
                        if (id < 0)
                                goto nomem;
                        m.ws[w][k++] = id;
                }
                m.wl[w] = k;
        }
        if (sym.n > opt->vocab_size)
                SOCFW_LOG_WARN("tokenizer_train: the corpus has %zu distinct "
                               "base symbols, more than vocab_size %zu",
                               sym.n, opt->vocab_size);
        /* 3. merge */
        rc = run_merges(&m, opt->vocab_size,
                        opt->min_frequency ? opt->min_frequency : 1, &merges,
                        &n_merges);
        if (rc < 0)
                goto nomem;
        /* 4. build the tokenizer through the public spec */
        size_t n = sym.n;
        tokens = calloc(n, sizeof *tokens);
        tlens = calloc(n, sizeof *tlens);
        types = calloc(n, sizeof *types);
        spelled = calloc(n, sizeof *spelled);
        merge_str = calloc(n_merges ? n_merges : 1, sizeof *merge_str);
        if (!tokens || !tlens || !types || !spelled || !merge_str)
                goto nomem;
        for (size_t i = 0; i < n; i++) {
                types[i] = i < n_specials ? SOCFW_TOKEN_CONTROL
                                          : SOCFW_TOKEN_NORMAL;
                if (wordpiece || i < n_specials) {
                        tokens[i] = sym.s[i];
                        tlens[i] = sym.len[i];
                        continue;
                }
                spelled[i] = malloc(2 * (size_t)sym.len[i] + 1);
                if (!spelled[i])
                        goto nomem;
                n_spelled++;
                tlens[i] = tok_bytelevel_encode(sym.s[i], sym.len[i],
                                                spelled[i]);
                spelled[i][tlens[i]] = '\0';
                tokens[i] = spelled[i];
        }
        socfw_tokenizer_spec spec;
        socfw_tokenizer_spec_init(&spec, wordpiece ? SOCFW_TOKENIZER_WORDPIECE
                                                   : SOCFW_TOKENIZER_BPE);
        spec.n_tokens = n;
        spec.tokens = tokens;
        spec.token_lens = tlens;
        spec.token_types = types;
        if (!wordpiece) {
                for (size_t r = 0; r < n_merges; r++) {
                        int32_t a = merges[r].left, b = merges[r].right;
                        size_t la = tlens[a], lb = tlens[b];
                        merge_str[r] = malloc(la + lb + 2);
                        if (!merge_str[r])
                                goto nomem;
                        memcpy(merge_str[r], tokens[a], la);
                        merge_str[r][la] = ' ';
                        memcpy(merge_str[r] + la + 1, tokens[b], lb);
                        merge_str[r][la + lb + 1] = '\0';
                }
                spec.n_merges = n_merges;
                spec.merges = (const char *const *)merge_str;
                if (n_specials) {
                        spec.special[SOCFW_TOKENIZER_BOS] = 0;
                        spec.special[SOCFW_TOKENIZER_EOS] = 0;
                }
        } else {
                spec.lowercase = lowercase;
                for (size_t i = 0; i < n_specials; i++) {
                        const char *s = tokens[i];
                        int role = !strcmp(s, "[PAD]") ? SOCFW_TOKENIZER_PAD
                                 : !strcmp(s, "[UNK]") ? SOCFW_TOKENIZER_UNK
                                 : !strcmp(s, "[CLS]") ? SOCFW_TOKENIZER_CLS
                                 : !strcmp(s, "[SEP]") ? SOCFW_TOKENIZER_SEP
                                 : !strcmp(s, "[MASK]") ? SOCFW_TOKENIZER_MASK
                                 : -1;
                        if (role >= 0)
                                spec.special[role] = (int32_t)i;
                }
        }
        rc = socfw_tokenizer_new(out, &spec, err);
        if (rc == 0)
                SOCFW_LOG_DEBUG("tokenizer_train: %zu distinct words, %zu "
                                "merges, vocabulary %zu", m.nw, n_merges, n);
        goto out;
nomem:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "tokenizer_train: out of "
                             "memory");
out:
        if (merge_str)
                for (size_t r = 0; r < n_merges; r++)
                        free(merge_str[r]);
        free(merge_str);
        if (spelled)
                for (size_t i = 0; i < sym.n; i++)
                        free(spelled[i]);
        free(spelled);
        free(tokens);
        free(tlens);
        free(types);
        free(merges);
        merger_free(&m);
        tab_free(&sym);
        tab_free(&tr.words);
        free(tr.wcount);
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        return rc;
}

int
socfw_tokenizer_train_bpe(socfw_tokenizer **out, const char *const *lines,
                          const size_t *lens, size_t n_lines,
                          const socfw_tokenizer_train_options *opt,
                          socfw_error *err)
{
        return train_common(out, lines, lens, n_lines, opt, 0, err);
}

int
socfw_tokenizer_train_wordpiece(socfw_tokenizer **out,
                                const char *const *lines, const size_t *lens,
                                size_t n_lines,
                                const socfw_tokenizer_train_options *opt,
                                socfw_error *err)
{
        return train_common(out, lines, lens, n_lines, opt, 1, err);
}

/* tokenizer.c - the socfw_tokenizer object: construction from a spec, the
 * shared hash maps, special-token splitting, encode/decode dispatch. */
#include "tokenizer/tok_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "socfw/log.h"

/* ---- id vector ---- */

int
tok_ids_push(tok_ids *ids, int32_t id)
{
        if (ids->n == ids->cap) {
                size_t cap = ids->cap ? ids->cap * 2 : 64;
                int32_t *v = realloc(ids->v, cap * sizeof *v);
                if (!v)
                        return SOCFW_ENOMEM;
                ids->v = v;
                ids->cap = cap;
        }
        ids->v[ids->n++] = id;
        return 0;
}

/* ---- string map ---- */

static uint64_t
hash_bytes(const char *s, size_t len)
{
        /* FNV-1a, then a final mix so low bits spread well */
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < len; i++) {
                h ^= (uint8_t)s[i];
                h *= 1099511628211ull;
        }
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 32;
        return h;
}

static size_t
pow2_at_least(size_t n)
{
        size_t c = 16;
        while (c < n)
                c <<= 1;
        return c;
}

int
tok_strmap_build(tok_strmap *m, const char *const *key, const uint32_t *klen,
                 size_t n)
{
        size_t cap = pow2_at_least(n * 2 + 1);
        m->slot = malloc(cap * sizeof *m->slot);
        if (!m->slot)
                return SOCFW_ENOMEM;
        memset(m->slot, 0xff, cap * sizeof *m->slot);
        m->mask = cap - 1;
        m->key = key;
        m->klen = klen;
        for (size_t i = 0; i < n; i++) {
                size_t h = hash_bytes(key[i], klen[i]) & m->mask;
                for (;;) {
                        int32_t id = m->slot[h];
                        if (id < 0) {
                                m->slot[h] = (int32_t)i;
                                break;
                        }
                        if (klen[id] == klen[i] &&
                            memcmp(key[id], key[i], klen[i]) == 0)
                                break;  /* duplicate: first wins */
                        h = (h + 1) & m->mask;
                }
        }
        return 0;
}

int32_t
tok_strmap_find(const tok_strmap *m, const char *s, size_t len)
{
        if (!m->slot)
                return -1;
        size_t h = hash_bytes(s, len) & m->mask;
        for (;;) {
                int32_t id = m->slot[h];
                if (id < 0)
                        return -1;
                if (m->klen[id] == len && memcmp(m->key[id], s, len) == 0)
                        return id;
                h = (h + 1) & m->mask;
        }
}

void
tok_strmap_free(tok_strmap *m)
{
        free(m->slot);
        m->slot = NULL;
}

/* ---- pair map ---- */

static uint64_t
pair_key(int32_t a, int32_t b)
{
        return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static size_t
pair_hash(uint64_t k)
{
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdull;
        k ^= k >> 33;
        k *= 0xc4ceb9fe1a85ec53ull;
        k ^= k >> 33;
        return (size_t)k;
}

int
tok_pairmap_init(tok_pairmap *m, size_t n)
{
        size_t cap = pow2_at_least(n * 2 + 1);
        m->key = malloc(cap * sizeof *m->key);
        m->val = malloc(cap * sizeof *m->val);
        if (!m->key || !m->val) {
                tok_pairmap_free(m);
                return SOCFW_ENOMEM;
        }
        memset(m->key, 0xff, cap * sizeof *m->key);
        m->mask = cap - 1;
        return 0;
}

int
tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, uint32_t val)
{
        uint64_t k = pair_key(a, b);
        size_t h = pair_hash(k) & m->mask;
        for (;;) {
                if (m->key[h] == UINT64_MAX) {
                        m->key[h] = k;
                        m->val[h] = val;
                        return 1;
                }
                if (m->key[h] == k)
                        return 0;       /* keep the first (best) rank */
                h = (h + 1) & m->mask;
        }
}

int
tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, uint32_t *val)
{
        if (!m->key || a < 0 || b < 0)
                return 0;
        uint64_t k = pair_key(a, b);
        size_t h = pair_hash(k) & m->mask;
        for (;;) {
                if (m->key[h] == UINT64_MAX)
                        return 0;
                if (m->key[h] == k) {
                        *val = m->val[h];
                        return 1;
                }
                h = (h + 1) & m->mask;
        }
}

void
tok_pairmap_free(tok_pairmap *m)
{
        free(m->key);
        free(m->val);
        m->key = NULL;
        m->val = NULL;
}

/* ---- GPT-2 byte <-> unicode ---- */

static int
byte_is_printable(unsigned b)
{
        return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) ||
               (b >= 0xae && b <= 0xff);
}

uint32_t
tok_byte_to_cp(uint8_t b)
{
        if (byte_is_printable(b))
                return b;
        /* the others get 256, 257, ... in byte order */
        uint32_t k = 0;
        for (unsigned i = 0; i < b; i++)
                if (!byte_is_printable(i))
                        k++;
        return 256 + k;
}

static int16_t cp_table[256 + 68];
static pthread_once_t cp_once = PTHREAD_ONCE_INIT;

static void
cp_table_init(void)
{
        for (unsigned i = 0; i < sizeof cp_table / sizeof *cp_table; i++)
                cp_table[i] = -1;
        for (unsigned b = 0; b < 256; b++)
                cp_table[tok_byte_to_cp((uint8_t)b)] = (int16_t)b;
}

static int
cp_to_byte(uint32_t cp)
{
        pthread_once(&cp_once, cp_table_init);
        return cp < sizeof cp_table / sizeof *cp_table ? cp_table[cp] : -1;
}

size_t
tok_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
        /* strict decoder: returns 0 for an invalid sequence */
        uint8_t c = s[0];
        if (c < 0x80) {
                *cp = c;
                return 1;
        }
        size_t n;
        uint32_t v, min;
        if ((c & 0xe0) == 0xc0) {
                n = 2; v = c & 0x1f; min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
                n = 3; v = c & 0x0f; min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
                n = 4; v = c & 0x07; min = 0x10000;
        } else {
                return 0;
        }
        if (n > len)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                v = (v << 6) | (s[i] & 0x3f);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return 0;
        *cp = v;
        return n;
}

size_t
tok_bytelevel_decode(const char *s, size_t len, char *dst)
{
        const uint8_t *u = (const uint8_t *)s;
        size_t i = 0, o = 0;
        while (i < len) {
                uint32_t cp;
                size_t n = tok_utf8_decode(u + i, len - i, &cp);
                int b = n ? cp_to_byte(cp) : -1;
                if (n && b >= 0) {
                        dst[o++] = (char)b;
                } else {
                        if (!n)
                                n = 1;
                        memcpy(dst + o, s + i, n);
                        o += n;
                }
                i += n;
        }
        return o;
}

size_t
tok_bytelevel_encode(const char *s, size_t len, char *dst)
{
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
                uint32_t cp = tok_byte_to_cp((uint8_t)s[i]);
                if (cp < 0x80) {
                        dst[o++] = (char)cp;
                } else {
                        dst[o++] = (char)(0xc0 | (cp >> 6));
                        dst[o++] = (char)(0x80 | (cp & 0x3f));
                }
        }
        return o;
}

/* ---- construction ---- */

void
socfw_tokenizer_spec_init(socfw_tokenizer_spec *spec,
                          socfw_tokenizer_kind kind)
{
        memset(spec, 0, sizeof *spec);
        spec->kind = kind;
        for (int i = 0; i < SOCFW_TOKENIZER_SPECIAL_COUNT; i++)
                spec->special[i] = -1;
        spec->add_bos = kind == SOCFW_TOKENIZER_SPM;
        spec->add_space_prefix = 1;
        spec->lowercase = 1;
        spec->strip_accents = -1;
        spec->tokenize_cjk = 1;
        spec->max_input_chars_per_word = 100;
}

static int
looks_special(const char *s, size_t len)
{
        if (len >= 4 && s[0] == '<' && s[1] == '|' && s[len - 2] == '|' &&
            s[len - 1] == '>')
                return 1;
        if (len >= 3 && s[0] == '[' && s[len - 1] == ']')
                return 1;
        if (len >= 3 && s[0] == '<' && s[len - 1] == '>' &&
            !memchr(s + 1, '<', len - 2) && !memchr(s, ' ', len))
                return 1;
        return 0;
}

static int
parse_byte_token(const char *s, size_t len)
{
        /* "<0xAB>" -> 0xAB, else -1 */
        if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
                return -1;
        int v = 0;
        for (int i = 3; i < 5; i++) {
                char c = s[i];
                int d = (c >= '0' && c <= '9') ? c - '0'
                      : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                      : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
                if (d < 0)
                        return -1;
                v = v * 16 + d;
        }
        return v;
}

static char *
dup_bytes(const char *s, size_t len)
{
        char *p = malloc(len + 1);
        if (p) {
                if (len)
                        memcpy(p, s, len);
                p[len] = '\0';
        }
        return p;
}

/* Piece = the bytes a token decodes to. */
static char *
make_piece(const socfw_tokenizer *t, size_t i, uint32_t *plen)
{
        const char *s = t->text[i];
        size_t len = t->text_len[i];
        char *p = NULL;
        if (t->kind == SOCFW_TOKENIZER_BPE) {
                if (t->type[i] == SOCFW_TOKEN_CONTROL ||
                    t->type[i] == SOCFW_TOKEN_USER_DEFINED) {
                        p = dup_bytes(s, len);
                        *plen = (uint32_t)len;
                        return p;
                }
                p = malloc(len + 1);
                if (!p)
                        return NULL;
                size_t n = tok_bytelevel_decode(s, len, p);
                p[n] = '\0';
                *plen = (uint32_t)n;
                return p;
        }
        if (t->kind == SOCFW_TOKENIZER_SPM) {
                int b = t->type[i] == SOCFW_TOKEN_BYTE
                                ? parse_byte_token(s, len) : -1;
                if (b >= 0) {
                        char c = (char)b;
                        p = dup_bytes(&c, 1);
                        *plen = 1;
                        return p;
                }
                p = malloc(len + 1);
                if (!p)
                        return NULL;
                size_t o = 0;
                for (size_t k = 0; k < len;) {
                        if (k + 3 <= len && memcmp(s + k, "\xe2\x96\x81", 3) == 0) {
                                p[o++] = ' ';
                                k += 3;
                        } else {
                                p[o++] = s[k++];
                        }
                }
                p[o] = '\0';
                *plen = (uint32_t)o;
                return p;
        }
        p = dup_bytes(s, len);
        *plen = (uint32_t)len;
        return p;
}

/* WordPiece tokens from llama.cpp GGUF files: "▁word" -> "word", "[X]"
 * stays, "x" -> "##x". */
static char *
unphantom(const char *s, size_t len, size_t *olen)
{
        if (len >= 3 && memcmp(s, "\xe2\x96\x81", 3) == 0) {
                *olen = len - 3;
                return dup_bytes(s + 3, len - 3);
        }
        if (looks_special(s, len)) {
                *olen = len;
                return dup_bytes(s, len);
        }
        char *p = malloc(len + 3);
        if (!p)
                return NULL;
        memcpy(p, "##", 2);
        memcpy(p + 2, s, len);
        p[len + 2] = '\0';
        *olen = len + 2;
        return p;
}

struct sp_key {
        uint32_t len;
        int32_t id;
};

static int
cmp_sp(const void *a, const void *b)
{
        const struct sp_key *x = a, *y = b;
        if (x->len != y->len)
                return x->len < y->len ? 1 : -1;   /* longest first */
        return x->id < y->id ? -1 : x->id > y->id;
}

static int
build_specials(socfw_tokenizer *t)
{
        size_t n = 0;
        for (size_t i = 0; i < t->n; i++)
                if ((t->type[i] == SOCFW_TOKEN_CONTROL ||
                     t->type[i] == SOCFW_TOKEN_USER_DEFINED) &&
                    t->piece_len[i] > 0)
                        n++;
        if (n == 0)
                return 0;
        struct sp_key *keys = malloc(n * sizeof *keys);
        t->sp_ids = malloc(n * sizeof *t->sp_ids);
        if (!t->sp_ids || !keys) {
                free(keys);
                return SOCFW_ENOMEM;
        }
        for (size_t i = 0; i < t->n; i++)
                if ((t->type[i] == SOCFW_TOKEN_CONTROL ||
                     t->type[i] == SOCFW_TOKEN_USER_DEFINED) &&
                    t->piece_len[i] > 0) {
                        keys[t->n_sp].len = t->piece_len[i];
                        keys[t->n_sp].id = (int32_t)i;
                        t->n_sp++;
                        t->sp_first[(uint8_t)t->piece[i][0]] = 1;
                }
        qsort(keys, t->n_sp, sizeof *keys, cmp_sp);
        for (size_t k = 0; k < t->n_sp; k++)
                t->sp_ids[k] = keys[k].id;
        free(keys);
        return 0;
}

static int
build_merges(socfw_tokenizer *t, const socfw_tokenizer_spec *spec,
             socfw_error *err)
{
        int rc = tok_pairmap_init(&t->pairs, spec->n_merges);
        if (rc < 0)
                return socfw_error_set(err, rc, "tokenizer: out of memory "
                                       "for %zu merges", spec->n_merges);
        t->merges = malloc((spec->n_merges ? spec->n_merges : 1) *
                           sizeof *t->merges);
        char *buf = NULL;
        size_t bufcap = 0;
        if (!t->merges)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "tokenizer: out of memory");
        size_t skipped = 0;
        for (size_t r = 0; r < spec->n_merges; r++) {
                const char *m = spec->merges[r];
                if (!m) {
                        skipped++;
                        continue;
                }
                size_t len = strlen(m);
                /* split at the space; a leading space can't be a token in
                 * byte-level form, so search from index 1 */
                const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
                if (!sp) {
                        skipped++;
                        continue;
                }
                if (bufcap < len + 1) {
                        free(buf);
                        bufcap = len + 64;
                        buf = malloc(bufcap);
                        if (!buf)
                                return socfw_error_set(err, SOCFW_ENOMEM,
                                                       "tokenizer: out of memory");
                }
                size_t la = (size_t)(sp - m), lb = len - la - 1;
                size_t na = tok_bytelevel_decode(m, la, buf);
                int32_t a = tok_strmap_find(&t->match, buf, na);
                size_t nb = tok_bytelevel_decode(sp + 1, lb, buf + na);
                int32_t b = tok_strmap_find(&t->match, buf + na, nb);
                int32_t c = tok_strmap_find(&t->match, buf, na + nb);
                if (a < 0 || b < 0 || c < 0) {
                        skipped++;
                        continue;
                }
                uint32_t rank = (uint32_t)t->n_merges;
                if (tok_pairmap_put(&t->pairs, a, b, rank)) {
                        t->merges[t->n_merges].left = a;
                        t->merges[t->n_merges].right = b;
                        t->merges[t->n_merges].result = c;
                        t->n_merges++;
                }
        }
        free(buf);
        if (skipped)
                SOCFW_LOG_DEBUG("tokenizer: skipped %zu merges naming tokens "
                                "outside the vocabulary", skipped);
        return 0;
}

int
socfw_tokenizer_new(socfw_tokenizer **out, const socfw_tokenizer_spec *spec,
                    socfw_error *err)
{
        int rc = 0;
        socfw_tokenizer *t = NULL;
        if (!out)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tokenizer: out is NULL");
        *out = NULL;
        if (!spec || !spec->tokens || spec->n_tokens == 0 ||
            spec->n_tokens > TOK_MAX_VOCAB) {
                rc = socfw_error_set(err, SOCFW_EINVAL, "tokenizer: need 1 to "
                                     "%zu tokens, got %zu", TOK_MAX_VOCAB,
                                     spec ? spec->n_tokens : 0);
                goto out;
        }
        if (spec->kind != SOCFW_TOKENIZER_BPE &&
            spec->kind != SOCFW_TOKENIZER_WORDPIECE &&
            spec->kind != SOCFW_TOKENIZER_SPM) {
                rc = socfw_error_set(err, SOCFW_EINVAL, "tokenizer: unknown "
                                     "kind %d", (int)spec->kind);
                goto out;
        }
        if (spec->kind == SOCFW_TOKENIZER_SPM && !spec->scores) {
                rc = socfw_error_set(err, SOCFW_EINVAL, "tokenizer: "
                                     "SentencePiece needs scores; hint: GGUF "
                                     "tokenizer.ggml.scores");
                goto out;
        }
        if (spec->n_merges && !spec->merges) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "tokenizer: n_merges > 0 but merges NULL");
                goto out;
        }
        t = calloc(1, sizeof *t);
        if (!t)
                goto nomem;
        size_t n = spec->n_tokens;
        t->kind = spec->kind;
        t->n = n;
        t->text = calloc(n, sizeof *t->text);
        t->text_len = calloc(n, sizeof *t->text_len);
        t->piece = calloc(n, sizeof *t->piece);
        t->piece_len = calloc(n, sizeof *t->piece_len);
        t->type = calloc(n, 1);
        if (!t->text || !t->text_len || !t->piece || !t->piece_len ||
            !t->type)
                goto nomem;
        if (spec->kind == SOCFW_TOKENIZER_SPM) {
                t->score = malloc(n * sizeof *t->score);
                if (!t->score)
                        goto nomem;
                memcpy(t->score, spec->scores, n * sizeof *t->score);
        }
        for (size_t i = 0; i < n; i++) {
                const char *s = spec->tokens[i] ? spec->tokens[i] : "";
                size_t len = spec->token_lens ? spec->token_lens[i]
                                              : strlen(s);
                if (len > UINT32_MAX / 4) {
                        rc = socfw_error_set(err, SOCFW_EINVAL, "tokenizer: "
                                             "token %zu is %zu bytes long",
                                             i, len);
                        goto out;
                }
                int32_t ty = spec->token_types ? spec->token_types[i]
                                               : SOCFW_TOKEN_NORMAL;
                if (ty < SOCFW_TOKEN_NORMAL || ty > SOCFW_TOKEN_BYTE)
                        ty = SOCFW_TOKEN_NORMAL;
                if (!spec->token_types && spec->kind != SOCFW_TOKENIZER_SPM &&
                    looks_special(s, len))
                        ty = SOCFW_TOKEN_CONTROL;
                t->type[i] = (uint8_t)ty;
                size_t tl = len;
                if (spec->kind == SOCFW_TOKENIZER_WORDPIECE &&
                    spec->wordpiece_phantom_space)
                        t->text[i] = unphantom(s, len, &tl);
                else
                        t->text[i] = dup_bytes(s, len);
                if (!t->text[i])
                        goto nomem;
                t->text_len[i] = (uint32_t)tl;
        }
        for (size_t i = 0; i < n; i++) {
                t->piece[i] = make_piece(t, i, &t->piece_len[i]);
                if (!t->piece[i])
                        goto nomem;
        }
        int by_piece = t->kind == SOCFW_TOKENIZER_BPE;
        if (tok_strmap_build(&t->match,
                             (const char *const *)(by_piece ? t->piece : t->text),
                             by_piece ? t->piece_len : t->text_len, n) < 0)
                goto nomem;
        if (by_piece && tok_strmap_build(&t->by_text,
                                         (const char *const *)t->text,
                                         t->text_len, n) < 0)
                goto nomem;
        for (size_t i = 0; i < n; i++) {
                uint32_t l = by_piece ? t->piece_len[i] : t->text_len[i];
                if (l > t->max_match_len)
                        t->max_match_len = l;
        }
        for (int i = 0; i < SOCFW_TOKENIZER_SPECIAL_COUNT; i++) {
                int32_t id = spec->special[i];
                t->special[i] = (id >= 0 && (size_t)id < n) ? id : -1;
        }
        t->add_bos = spec->add_bos && t->special[SOCFW_TOKENIZER_BOS] >= 0;
        t->add_eos = spec->add_eos && t->special[SOCFW_TOKENIZER_EOS] >= 0;
        t->add_space_prefix = spec->add_space_prefix;
        t->add_prefix_space = spec->add_prefix_space;
        t->ignore_merges = spec->ignore_merges;
        t->lowercase = spec->lowercase;
        t->strip_accents = spec->strip_accents < 0 ? spec->lowercase
                                                   : spec->strip_accents;
        t->tokenize_cjk = spec->tokenize_cjk;
        t->max_chars = spec->max_input_chars_per_word
                               ? spec->max_input_chars_per_word : 100;
        if (build_specials(t) < 0)
                goto nomem;

        /* byte tokens */
        for (int b = 0; b < 256; b++) {
                t->byte_tok[b] = -1;
                if (t->kind == SOCFW_TOKENIZER_BPE) {
                        char c = (char)b;
                        t->byte_tok[b] = tok_strmap_find(&t->match, &c, 1);
                } else if (t->kind == SOCFW_TOKENIZER_SPM) {
                        char name[8];
                        snprintf(name, sizeof name, "<0x%02X>", b);
                        t->byte_tok[b] = tok_strmap_find(&t->match, name, 6);
                        if (t->byte_tok[b] < 0 && b < 0x80) {
                                char c = (char)b;
                                t->byte_tok[b] =
                                        tok_strmap_find(&t->match, &c, 1);
                        }
                }
        }
        if (t->kind == SOCFW_TOKENIZER_SPM) {
                t->spm_split = 1;
                for (size_t i = 0; i < n && t->spm_split; i++) {
                        const char *s = t->text[i];
                        size_t len = t->text_len[i], k = 0;
                        while (k + 3 <= len && !memcmp(s + k, "\xe2\x96\x81", 3))
                                k += 3;
                        for (; k + 3 <= len; k++)
                                if (!memcmp(s + k, "\xe2\x96\x81", 3)) {
                                        t->spm_split = 0;
                                        break;
                                }
                }
        }
        if (t->kind == SOCFW_TOKENIZER_BPE) {
                rc = build_merges(t, spec, err);
                if (rc < 0)
                        goto out;
                rc = tok_bpe_compile(t, spec->pattern, err);
                if (rc < 0)
                        goto out;
        }
        *out = t;
        t = NULL;
        goto out;
nomem:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "tokenizer: out of memory "
                             "building a %zu-token vocabulary",
                             spec ? spec->n_tokens : 0);
out:
        socfw_tokenizer_free(t);
        return rc;
}

void
socfw_tokenizer_free(socfw_tokenizer *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++) {
                if (t->text)
                        free(t->text[i]);
                if (t->piece)
                        free(t->piece[i]);
        }
        free(t->text);
        free(t->text_len);
        free(t->piece);
        free(t->piece_len);
        free(t->type);
        free(t->score);
        tok_strmap_free(&t->match);
        tok_strmap_free(&t->by_text);
        free(t->sp_ids);
        free(t->merges);
        tok_pairmap_free(&t->pairs);
        free(t->pattern);
        pcre2_code_free(t->re);
        free(t);
}

/* ---- accessors ---- */

socfw_tokenizer_kind
socfw_tokenizer_get_kind(const socfw_tokenizer *t)
{
        return t ? t->kind : 0;
}

size_t
socfw_tokenizer_vocab_size(const socfw_tokenizer *t)
{
        return t ? t->n : 0;
}

int32_t
socfw_tokenizer_special_id(const socfw_tokenizer *t,
                           socfw_tokenizer_special which)
{
        if (!t || (int)which < 0 || which >= SOCFW_TOKENIZER_SPECIAL_COUNT)
                return -1;
        return t->special[which];
}

static int
valid_id(const socfw_tokenizer *t, int32_t id)
{
        return t && id >= 0 && (size_t)id < t->n;
}

int
socfw_tokenizer_token_type(const socfw_tokenizer *t, int32_t id)
{
        return valid_id(t, id) ? t->type[id] : -1;
}

float
socfw_tokenizer_token_score(const socfw_tokenizer *t, int32_t id)
{
        return valid_id(t, id) && t->score ? t->score[id] : 0.0f;
}

size_t
socfw_tokenizer_n_merges(const socfw_tokenizer *t)
{
        return t && t->kind == SOCFW_TOKENIZER_BPE ? t->n_merges : 0;
}

int
socfw_tokenizer_merge(const socfw_tokenizer *t, size_t rank, int32_t *left,
                      int32_t *right)
{
        if (rank >= socfw_tokenizer_n_merges(t))
                return SOCFW_EINVAL;
        *left = t->merges[rank].left;
        *right = t->merges[rank].right;
        return 0;
}

const char *
socfw_tokenizer_pattern(const socfw_tokenizer *t)
{
        return t && t->kind == SOCFW_TOKENIZER_BPE ? t->pattern : NULL;
}

int
socfw_tokenizer_adds(const socfw_tokenizer *t, int *bos, int *eos,
                     int *space_prefix)
{
        if (!t)
                return SOCFW_EINVAL;
        if (bos)
                *bos = t->add_bos;
        if (eos)
                *eos = t->add_eos;
        if (space_prefix)
                *space_prefix = t->add_space_prefix;
        return 0;
}

const char *
socfw_tokenizer_token_text(const socfw_tokenizer *t, int32_t id, size_t *len)
{
        if (!valid_id(t, id))
                return NULL;
        if (len)
                *len = t->text_len[id];
        return t->text[id];
}

int32_t
socfw_tokenizer_token_id(const socfw_tokenizer *t, const char *text,
                         size_t len)
{
        if (!t || (!text && len))
                return -1;
        if (t->kind == SOCFW_TOKENIZER_BPE)
                return tok_strmap_find(&t->by_text, text ? text : "", len);
        return tok_strmap_find(&t->match, text ? text : "", len);
}

int
socfw_tokenizer_token_to_piece(const socfw_tokenizer *t, int32_t id,
                               char *buf, size_t size)
{
        if (!valid_id(t, id))
                return -1;
        size_t len = t->piece_len[id];
        if (buf && size)
                memcpy(buf, t->piece[id], len < size ? len : size);
        return (int)len;
}

/* ---- encode ---- */

static int
encode_fragment(const socfw_tokenizer *t, const char *s, size_t len,
                int after_special, tok_ids *out, socfw_error *err)
{
        switch (t->kind) {
        case SOCFW_TOKENIZER_BPE:
                return tok_bpe_encode(t, s, len, after_special, out, err);
        case SOCFW_TOKENIZER_WORDPIECE:
                return tok_wp_encode(t, s, len, out, err);
        case SOCFW_TOKENIZER_SPM:
                return tok_spm_encode(t, s, len, after_special, out, err);
        }
        return socfw_error_set(err, SOCFW_EINTERNAL, "tokenizer: bad kind");
}

static int32_t
match_special(const socfw_tokenizer *t, const char *s, size_t len)
{
        if (!t->sp_first[(uint8_t)s[0]])
                return -1;
        for (size_t k = 0; k < t->n_sp; k++) {
                int32_t id = t->sp_ids[k];
                size_t l = t->piece_len[id];
                if (l <= len && memcmp(s, t->piece[id], l) == 0)
                        return id;
        }
        return -1;
}

int
socfw_tokenizer_encode(const socfw_tokenizer *t, const char *text, size_t len,
                       unsigned flags, int32_t **ids, size_t *n,
                       socfw_error *err)
{
        tok_ids out = {0};
        int rc = 0;
        if (ids)
                *ids = NULL;
        if (n)
                *n = 0;
        if (!t || !ids || !n || (!text && len)) {
                rc = socfw_error_set(err, SOCFW_EINVAL, "tokenizer_encode: "
                                     "NULL argument");
                goto out;
        }
        if (len > TOK_MAX_INPUT) {
                rc = socfw_error_set(err, SOCFW_EINVAL, "tokenizer_encode: "
                                     "input of %zu bytes exceeds the %zu-byte "
                                     "limit; hint: split the text", len,
                                     TOK_MAX_INPUT);
                goto out;
        }
        int add = (flags & SOCFW_TOKENIZER_ADD_SPECIAL) != 0;
        if (add) {
                int32_t first = -1;
                if (t->kind == SOCFW_TOKENIZER_WORDPIECE)
                        first = t->special[SOCFW_TOKENIZER_CLS];
                else if (t->add_bos)
                        first = t->special[SOCFW_TOKENIZER_BOS];
                if (first >= 0 && (rc = tok_ids_push(&out, first)) < 0)
                        goto nomem;
        }
        size_t start = 0;
        int after_special = 1;
        if ((flags & SOCFW_TOKENIZER_PARSE_SPECIAL) && t->n_sp) {
                for (size_t i = 0; i < len;) {
                        int32_t id = match_special(t, text + i, len - i);
                        if (id < 0) {
                                i++;
                                continue;
                        }
                        if (i > start) {
                                rc = encode_fragment(t, text + start,
                                                     i - start, after_special,
                                                     &out, err);
                                if (rc < 0)
                                        goto out;
                        }
                        if ((rc = tok_ids_push(&out, id)) < 0)
                                goto nomem;
                        after_special = 1;
                        i += t->piece_len[id];
                        start = i;
                }
        }
        if (len > start) {
                rc = encode_fragment(t, text + start, len - start,
                                     after_special, &out, err);
                if (rc < 0)
                        goto out;
        }
        if (add) {
                int32_t last = -1;
                if (t->kind == SOCFW_TOKENIZER_WORDPIECE)
                        last = t->special[SOCFW_TOKENIZER_SEP];
                else if (t->add_eos)
                        last = t->special[SOCFW_TOKENIZER_EOS];
                if (last >= 0 && (rc = tok_ids_push(&out, last)) < 0)
                        goto nomem;
        }
        if (out.n == 0) {
                free(out.v);
                out.v = NULL;
        }
        *ids = out.v;
        *n = out.n;
        out.v = NULL;
        goto out;
nomem:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "tokenizer_encode: out of "
                             "memory after %zu tokens", out.n);
out:
        free(out.v);
        return rc;
}

/* ---- decode ---- */

typedef struct tok_buf {
        char *p;
        size_t n, cap;
} tok_buf;

static int
buf_put(tok_buf *b, const char *s, size_t len)
{
        if (b->n + len + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->n + len + 1)
                        cap *= 2;
                char *p = realloc(b->p, cap);
                if (!p)
                        return SOCFW_ENOMEM;
                b->p = p;
                b->cap = cap;
        }
        if (len)
                memcpy(b->p + b->n, s, len);
        b->n += len;
        b->p[b->n] = '\0';
        return 0;
}

/* BERT's clean_up_tokenization: " ." -> "." and friends, in place. */
static size_t
wp_cleanup(char *s, size_t len)
{
        static const char *const from[] = {
                " .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've",
                " 're",
        };
        static const char *const to[] = {
                ".", "?", "!", ",", "'", "n't", "'m", "'s", "'ve", "'re",
        };
        for (size_t r = 0; r < sizeof from / sizeof *from; r++) {
                size_t lf = strlen(from[r]), lt = strlen(to[r]);
                size_t o = 0;
                for (size_t i = 0; i < len;) {
                        if (i + lf <= len && memcmp(s + i, from[r], lf) == 0) {
                                memmove(s + o, to[r], lt);
                                o += lt;
                                i += lf;
                        } else {
                                s[o++] = s[i++];
                        }
                }
                len = o;
        }
        s[len] = '\0';
        return len;
}

int
socfw_tokenizer_decode(const socfw_tokenizer *t, const int32_t *ids, size_t n,
                       unsigned flags, char **text, size_t *len,
                       socfw_error *err)
{
        tok_buf b = {0};
        int rc = 0;
        if (text)
                *text = NULL;
        if (len)
                *len = 0;
        if (!t || !text || (!ids && n)) {
                rc = socfw_error_set(err, SOCFW_EINVAL, "tokenizer_decode: "
                                     "NULL argument");
                goto out;
        }
        if ((rc = buf_put(&b, "", 0)) < 0)
                goto nomem;
        int first_text = 1;
        for (size_t i = 0; i < n; i++) {
                int32_t id = ids[i];
                if (!valid_id(t, id)) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "tokenizer_decode: id %d at "
                                             "position %zu is outside the "
                                             "vocabulary (0..%zu)", (int)id,
                                             i, t->n - 1);
                        goto out;
                }
                int control = t->type[id] == SOCFW_TOKEN_CONTROL;
                if (control && (flags & SOCFW_TOKENIZER_SKIP_SPECIAL))
                        continue;
                const char *p = t->piece[id];
                size_t pl = t->piece_len[id];
                if (t->kind == SOCFW_TOKENIZER_SPM) {
                        if (!control && first_text && t->add_space_prefix &&
                            pl && p[0] == ' ') {
                                p++;
                                pl--;
                        }
                } else if (t->kind == SOCFW_TOKENIZER_WORDPIECE) {
                        if (pl >= 2 && p[0] == '#' && p[1] == '#' && !control) {
                                p += 2;
                                pl -= 2;
                        } else if (b.n > 0 && (rc = buf_put(&b, " ", 1)) < 0) {
                                goto nomem;
                        }
                }
                if (!control)
                        first_text = 0;
                if ((rc = buf_put(&b, p, pl)) < 0)
                        goto nomem;
        }
        if (t->kind == SOCFW_TOKENIZER_WORDPIECE)
                b.n = wp_cleanup(b.p, b.n);
        *text = b.p;
        if (len)
                *len = b.n;
        b.p = NULL;
        goto out;
nomem:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "tokenizer_decode: out of "
                             "memory");
out:
        free(b.p);
        return rc;
}

/* ---- files ---- */

int
tok_read_file(const char *path, char **data, size_t *len, socfw_error *err)
{
        int rc = 0;
        char *buf = NULL;
        FILE *f = fopen(path, "rb");
        *data = NULL;
        if (len)
                *len = 0;
        if (!f)
                return socfw_error_set_at(err, errno == ENOENT
                                                  ? SOCFW_ENOTFOUND
                                                  : SOCFW_EIO,
                                          path, 0, 0, "cannot open: %s",
                                          strerror(errno));
        struct stat st;
        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "not a regular file");
                goto out;
        }
        if ((unsigned long long)st.st_size > (1ull << 30)) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "file of %lld bytes is larger than "
                                        "the 1 GiB a tokenizer file may be",
                                        (long long)st.st_size);
                goto out;
        }
        size_t size = (size_t)st.st_size;
        buf = malloc(size + 1);
        if (!buf) {
                rc = socfw_error_set_at(err, SOCFW_ENOMEM, path, 0, 0,
                                        "out of memory");
                goto out;
        }
        if (size && fread(buf, 1, size, f) != size) {
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "short read");
                goto out;
        }
        buf[size] = '\0';
        *data = buf;
        buf = NULL;
        if (len)
                *len = size;
out:
        free(buf);
        fclose(f);
        return rc;
}

/* operators.c - redact, replace, mask, keyed hash, reversible pseudonyms. */
#include "operators.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "buf.h"

#define MAX_VAULT_ENTRIES ((size_t)1 << 20)
#define MAX_VALUE_BYTES ((size_t)1 << 20)
#define TOKEN_MAX 48

/* ---- UTF-8 ---- */

static size_t
char_len(const unsigned char *s, size_t avail)
{
        size_t n = socfw_pii_utf8_seq(s, avail);
        return n ? n : 1;
}

/* Is `pos` a character boundary (not inside a well-formed sequence)? */
static int
is_boundary(const char *t, size_t len, size_t pos)
{
        for (size_t k = 1; k <= 3 && k <= pos; k++) {
                size_t n = socfw_pii_utf8_seq((const unsigned char *)t + pos - k,
                                              len - (pos - k));
                if (n > k)
                        return 0;
        }
        return 1;
}

static size_t
utf8_encode(uint32_t cp, char out[4])
{
        if (cp < 0x80) {
                out[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char)(0xC0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char)(0xE0 | (cp >> 12));
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[2] = (char)(0x80 | (cp & 0x3F));
                return 3;
        }
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
}

/* ---- operator names ---- */

int
socfw_pii_op_parse(const char *name, socfw_pii_op_kind *out)
{
        static const struct {
                const char *name;
                socfw_pii_op_kind kind;
        } names[] = {
                {"keep", SOCFW_PII_OP_KEEP},
                {"redact", SOCFW_PII_OP_REDACT},
                {"replace", SOCFW_PII_OP_REPLACE},
                {"mask", SOCFW_PII_OP_MASK},
                {"hash", SOCFW_PII_OP_HASH},
                {"pseudonymize", SOCFW_PII_OP_PSEUDONYMIZE},
                {"pseudonymise", SOCFW_PII_OP_PSEUDONYMIZE},
        };
        for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
                if (strcasecmp(name, names[i].name) == 0) {
                        *out = names[i].kind;
                        return 0;
                }
        return SOCFW_EINVAL;
}

/* ---- anonymizer ---- */

struct socfw_pii_anonymizer {
        socfw_pii_op ops[SOCFW_PII_TYPE_COUNT];
        unsigned char key[64];
        size_t key_len;
};

int
socfw_pii_anonymizer_new(socfw_pii_anonymizer **out, socfw_error *err)
{
        *out = NULL;
        if (sodium_init() < 0)
                return socfw_error_set(err, SOCFW_EINTERNAL,
                                       "privacy: libsodium failed to "
                                       "initialise");
        socfw_pii_anonymizer *an = sodium_malloc(sizeof *an);
        if (!an)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory");
        memset(an, 0, sizeof *an);
        for (int t = 0; t < SOCFW_PII_TYPE_COUNT; t++)
                an->ops[t].kind = SOCFW_PII_OP_REPLACE;
        an->key_len = crypto_auth_hmacsha256_KEYBYTES;
        randombytes_buf(an->key, an->key_len);
        *out = an;
        return 0;
}

void
socfw_pii_anonymizer_free(socfw_pii_anonymizer *an)
{
        if (an)
                sodium_free(an);        /* wipes the key */
}

int
socfw_pii_anonymizer_set(socfw_pii_anonymizer *an, socfw_pii_type type,
                         const socfw_pii_op *op, socfw_error *err)
{
        if ((unsigned)type >= SOCFW_PII_TYPE_COUNT || !op ||
            (unsigned)op->kind > SOCFW_PII_OP_PSEUDONYMIZE)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: bad type %d or operator",
                                       (int)type);
        if (op->mask_char > 0x10FFFF ||
            (op->mask_char >= 0xD800 && op->mask_char <= 0xDFFF))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: mask character U+%04X is "
                                       "not a Unicode scalar value",
                                       (unsigned)op->mask_char);
        an->ops[type] = *op;
        return 0;
}

void
socfw_pii_anonymizer_set_all(socfw_pii_anonymizer *an, const socfw_pii_op *op)
{
        for (int t = 0; t < SOCFW_PII_TYPE_COUNT; t++)
                socfw_pii_anonymizer_set(an, (socfw_pii_type)t, op, NULL);
}

int
socfw_pii_anonymizer_set_key(socfw_pii_anonymizer *an, const void *key,
                             size_t key_len, socfw_error *err)
{
        if (!key || key_len < 16 || key_len > sizeof an->key)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: HMAC key of %zu bytes; "
                                       "expected 16..64", key_len);
        memcpy(an->key, key, key_len);
        an->key_len = key_len;
        return 0;
}

static void
op_hash(const socfw_pii_anonymizer *an, socfw_pii_type type, const char *v,
        size_t n, socfw_pii_buf *b)
{
        crypto_auth_hmacsha256_state st;
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        const char *name = socfw_pii_type_name(type);
        crypto_auth_hmacsha256_init(&st, an->key, an->key_len);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)name,
                                      strlen(name) + 1);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)v, n);
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_memzero(&st, sizeof st);
        char hex[7];
        sodium_bin2hex(hex, sizeof hex, mac, 3);
        char tok[TOKEN_MAX];
        snprintf(tok, sizeof tok, "<%s_%s>", socfw_pii_type_tag(type), hex);
        socfw_pii_buf_str(b, tok);
}

static void
op_mask(const socfw_pii_op *op, const char *v, size_t n, socfw_pii_buf *b)
{
        const unsigned char *s = (const unsigned char *)v;
        size_t cps = 0;
        for (size_t i = 0; i < n; i += char_len(s + i, n - i))
                cps++;
        size_t masked = cps > op->mask_keep ? cps - op->mask_keep : 0;
        char mc[4];
        size_t mcn = utf8_encode(op->mask_char ? op->mask_char : '*', mc);
        size_t i = 0;
        for (size_t k = 0; k < masked; k++) {
                i += char_len(s + i, n - i);
                socfw_pii_buf_add(b, mc, mcn);
        }
        socfw_pii_buf_add(b, v + i, n - i);
}

int
socfw_pii_anonymize(const socfw_pii_anonymizer *an, socfw_pii_vault *vault,
                    const char *text, size_t len, const socfw_pii_spans *spans,
                    char **out, size_t *out_len, socfw_error *err)
{
        int rc = 0;
        socfw_pii_buf b = {0};
        *out = NULL;
        if (out_len)
                *out_len = 0;
        if (!an || (!text && len))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: anonymize needs an "
                                       "anonymizer and a text");
        size_t pos = 0;
        size_t n = spans ? spans->n : 0;
        for (size_t i = 0; i < n; i++) {
                const socfw_pii_span *s = &spans->v[i];
                if (s->start < pos || s->end < s->start || s->end > len ||
                    (unsigned)s->type >= SOCFW_PII_TYPE_COUNT ||
                    !is_boundary(text, len, s->start) ||
                    !is_boundary(text, len, s->end)) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "privacy: span %zu (bytes "
                                             "%zu..%zu) overlaps the one "
                                             "before, lies outside the "
                                             "%zu-byte text or splits a "
                                             "character; hint: resolve "
                                             "overlaps first", i, s->start,
                                             s->end, len);
                        goto out;
                }
                socfw_pii_buf_add(&b, text + pos, s->start - pos);
                const socfw_pii_op *op = &an->ops[s->type];
                const char *v = text + s->start;
                size_t vn = s->end - s->start;
                char tok[TOKEN_MAX];
                switch (op->kind) {
                case SOCFW_PII_OP_KEEP:
                        socfw_pii_buf_add(&b, v, vn);
                        break;
                case SOCFW_PII_OP_REDACT:
                        break;
                case SOCFW_PII_OP_REPLACE:
                        snprintf(tok, sizeof tok, "<%s>",
                                 socfw_pii_type_tag(s->type));
                        socfw_pii_buf_str(&b, tok);
                        break;
                case SOCFW_PII_OP_MASK:
                        op_mask(op, v, vn, &b);
                        break;
                case SOCFW_PII_OP_HASH:
                        op_hash(an, s->type, v, vn, &b);
                        break;
                case SOCFW_PII_OP_PSEUDONYMIZE:
                        if (!vault) {
                                rc = socfw_error_set(err, SOCFW_ESTATE,
                                                     "privacy: the "
                                                     "pseudonymize operator "
                                                     "needs a session vault");
                                goto out;
                        }
                        rc = socfw_pii_vault_pseudonym(vault, s->type, v, vn,
                                                       tok, sizeof tok, err);
                        if (rc < 0)
                                goto out;
                        socfw_pii_buf_str(&b, tok);
                        break;
                }
                pos = s->end;
        }
        socfw_pii_buf_add(&b, text + pos, len - pos);
        if (!b.p && !b.failed)
                socfw_pii_buf_add(&b, "", 0);
        if (b.failed) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "privacy: out of memory writing the "
                                     "anonymised text");
                goto out;
        }
        *out = b.p;
        if (out_len)
                *out_len = b.n;
        b.p = NULL;
out:
        free(b.p);
        return rc;
}

/* ---- vault ---- */

typedef struct {
        socfw_pii_type type;
        unsigned seq;           /* 1-based number within the type */
        char *value;
        size_t len;
} vault_entry;

struct socfw_pii_vault {
        vault_entry *e;
        size_t n, cap;
        /* open addressing on (type, value) -> entry index + 1 */
        size_t *slots;
        size_t nslots;
        unsigned next_seq[SOCFW_PII_TYPE_COUNT];
        /* per type: seq -> entry index */
        size_t *by_seq[SOCFW_PII_TYPE_COUNT];
        size_t by_seq_cap[SOCFW_PII_TYPE_COUNT];
};

static uint64_t
hash_value(socfw_pii_type type, const char *v, size_t n)
{
        uint64_t h = 1469598103934665603ull ^ (uint64_t)type;
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)v[i];
                h *= 1099511628211ull;
        }
        return h;
}

int
socfw_pii_vault_new(socfw_pii_vault **out, socfw_error *err)
{
        *out = NULL;
        if (sodium_init() < 0)
                return socfw_error_set(err, SOCFW_EINTERNAL,
                                       "privacy: libsodium failed to "
                                       "initialise");
        socfw_pii_vault *v = calloc(1, sizeof *v);
        if (!v)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory");
        *out = v;
        return 0;
}

void
socfw_pii_vault_free(socfw_pii_vault *v)
{
        if (!v)
                return;
        for (size_t i = 0; i < v->n; i++) {
                sodium_memzero(v->e[i].value, v->e[i].len);
                free(v->e[i].value);
        }
        free(v->e);
        free(v->slots);
        for (int t = 0; t < SOCFW_PII_TYPE_COUNT; t++)
                free(v->by_seq[t]);
        free(v);
}

size_t
socfw_pii_vault_size(const socfw_pii_vault *v)
{
        return v ? v->n : 0;
}

static size_t
vault_find(const socfw_pii_vault *v, socfw_pii_type type, const char *val,
           size_t n, size_t *slot_out)
{
        if (!v->nslots)
                return SIZE_MAX;
        size_t mask = v->nslots - 1;
        size_t i = (size_t)hash_value(type, val, n) & mask;
        for (;;) {
                size_t x = v->slots[i];
                if (x == 0) {
                        if (slot_out)
                                *slot_out = i;
                        return SIZE_MAX;
                }
                const vault_entry *e = &v->e[x - 1];
                if (e->type == type && e->len == n &&
                    memcmp(e->value, val, n) == 0)
                        return x - 1;
                i = (i + 1) & mask;
        }
}

static int
vault_grow_slots(socfw_pii_vault *v)
{
        size_t ns = v->nslots ? v->nslots * 2 : 64;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots)
                return SOCFW_ENOMEM;
        for (size_t k = 0; k < v->n; k++) {
                const vault_entry *e = &v->e[k];
                size_t i = (size_t)hash_value(e->type, e->value, e->len) &
                           (ns - 1);
                while (slots[i])
                        i = (i + 1) & (ns - 1);
                slots[i] = k + 1;
        }
        free(v->slots);
        v->slots = slots;
        v->nslots = ns;
        return 0;
}

/* Add a new (type, value); returns the entry index or SIZE_MAX. */
static size_t
vault_add(socfw_pii_vault *v, socfw_pii_type type, const char *val, size_t n)
{
        if (v->n >= MAX_VAULT_ENTRIES || n > MAX_VALUE_BYTES)
                return SIZE_MAX;
        if ((v->n + 1) * 2 > v->nslots && vault_grow_slots(v) < 0)
                return SIZE_MAX;
        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 16;
                vault_entry *e = realloc(v->e, cap * sizeof *e);
                if (!e)
                        return SIZE_MAX;
                v->e = e;
                v->cap = cap;
        }
        unsigned seq = v->next_seq[type] + 1;
        if (seq > v->by_seq_cap[type]) {
                size_t cap = v->by_seq_cap[type] ? v->by_seq_cap[type] * 2 : 16;
                size_t *p = realloc(v->by_seq[type], cap * sizeof *p);
                if (!p)
                        return SIZE_MAX;
                v->by_seq[type] = p;
                v->by_seq_cap[type] = cap;
        }
        char *copy = malloc(n + 1);
        if (!copy)
                return SIZE_MAX;
        memcpy(copy, val, n);
        copy[n] = '\0';
        size_t k = v->n++;
        v->e[k] = (vault_entry){type, seq, copy, n};
        v->next_seq[type] = seq;
        v->by_seq[type][seq - 1] = k;
        size_t slot;
        vault_find(v, type, val, n, &slot);
        /* the entry itself is not in the table yet, so the probe stops at
         * a free slot */
        v->slots[slot] = k + 1;
        return k;
}

int
socfw_pii_vault_pseudonym(socfw_pii_vault *v, socfw_pii_type type,
                          const char *val, size_t n, char *buf, size_t size,
                          socfw_error *err)
{
        if (!v || !buf || (unsigned)type >= SOCFW_PII_TYPE_COUNT)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: bad vault call");
        size_t k = vault_find(v, type, val, n, NULL);
        if (k == SIZE_MAX)
                k = vault_add(v, type, val, n);
        if (k == SIZE_MAX)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: session vault is full "
                                       "(%zu values) or out of memory", v->n);
        int w = snprintf(buf, size, "<%s_%u>", socfw_pii_type_tag(type),
                         v->e[k].seq);
        if (w < 0 || (size_t)w >= size)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: pseudonym buffer of %zu "
                                       "bytes is too small", size);
        return 0;
}

/* Parse "<TAG_N>" at t[0..avail); returns its length or 0. */
static size_t
parse_token(const char *t, size_t avail, socfw_pii_type *type, unsigned *seq)
{
        size_t i = 1;
        while (i < avail && i < TOKEN_MAX && t[i] != '>' && t[i] != '<')
                i++;
        if (i >= avail || t[i] != '>')
                return 0;
        /* t[1..i) = TAG_N */
        size_t u = i;
        while (u > 1 && t[u - 1] >= '0' && t[u - 1] <= '9')
                u--;
        if (u == i || u < 3 || t[u - 1] != '_' || i - u > 9 || t[u] == '0')
                return 0;
        unsigned n = 0;
        for (size_t k = u; k < i; k++)
                n = n * 10 + (unsigned)(t[k] - '0');
        size_t taglen = u - 2;
        for (int ty = 1; ty < SOCFW_PII_TYPE_COUNT; ty++) {
                const char *tag = socfw_pii_type_tag((socfw_pii_type)ty);
                if (strlen(tag) == taglen && memcmp(tag, t + 1, taglen) == 0) {
                        *type = (socfw_pii_type)ty;
                        *seq = n;
                        return i + 1;
                }
        }
        return 0;
}

int
socfw_pii_vault_restore(const socfw_pii_vault *v, const char *text, size_t len,
                        char **out, size_t *out_len, socfw_error *err)
{
        socfw_pii_buf b = {0};
        *out = NULL;
        if (!v || (!text && len))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: restore needs a vault and "
                                       "a text");
        size_t pos = 0, i = 0;
        while (i < len) {
                const char *lt = memchr(text + i, '<', len - i);
                if (!lt)
                        break;
                i = (size_t)(lt - text);
                socfw_pii_type type;
                unsigned seq;
                size_t tn = parse_token(text + i, len - i, &type, &seq);
                if (tn && seq <= v->next_seq[type]) {
                        const vault_entry *e = &v->e[v->by_seq[type][seq - 1]];
                        socfw_pii_buf_add(&b, text + pos, i - pos);
                        socfw_pii_buf_add(&b, e->value, e->len);
                        i += tn;
                        pos = i;
                } else {
                        i++;
                }
        }
        socfw_pii_buf_add(&b, text + pos, len - pos);
        if (b.failed) {
                free(b.p);
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory restoring a "
                                       "reply");
        }
        *out = b.p;
        if (out_len)
                *out_len = b.n;
        return 0;
}

/* Serialized plaintext: "SPV1", u32 count, then per entry u8 type, u32 len,
 * bytes; numbers little-endian.  Entries are in creation order so that the
 * pseudonyms come out the same after loading. */
static void
put_u32(unsigned char *p, uint32_t x)
{
        p[0] = (unsigned char)x;
        p[1] = (unsigned char)(x >> 8);
        p[2] = (unsigned char)(x >> 16);
        p[3] = (unsigned char)(x >> 24);
}

static uint32_t
get_u32(const unsigned char *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24;
}

int
socfw_pii_vault_save(const socfw_pii_vault *v, const unsigned char *key,
                     unsigned char **blob, size_t *blob_len, socfw_error *err)
{
        *blob = NULL;
        *blob_len = 0;
        if (!v || !key)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: vault_save needs a vault "
                                       "and a key");
        size_t plain_len = 8;
        for (size_t i = 0; i < v->n; i++)
                plain_len += 5 + v->e[i].len;
        unsigned char *plain = malloc(plain_len);
        size_t total = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
                       plain_len;
        unsigned char *out = malloc(total);
        if (!plain || !out) {
                free(plain);
                free(out);
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory saving the "
                                       "vault");
        }
        memcpy(plain, "SPV1", 4);
        put_u32(plain + 4, (uint32_t)v->n);
        size_t o = 8;
        for (size_t i = 0; i < v->n; i++) {
                plain[o] = (unsigned char)v->e[i].type;
                put_u32(plain + o + 1, (uint32_t)v->e[i].len);
                memcpy(plain + o + 5, v->e[i].value, v->e[i].len);
                o += 5 + v->e[i].len;
        }
        randombytes_buf(out, crypto_secretbox_NONCEBYTES);
        crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, plain,
                              plain_len, out, key);
        sodium_memzero(plain, plain_len);
        free(plain);
        *blob = out;
        *blob_len = total;
        return 0;
}

int
socfw_pii_vault_load(socfw_pii_vault **out, const unsigned char *key,
                     const unsigned char *blob, size_t blob_len,
                     socfw_error *err)
{
        int rc = 0;
        socfw_pii_vault *v = NULL;
        unsigned char *plain = NULL;
        size_t plain_len = 0;
        *out = NULL;
        if (!key || !blob ||
            blob_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 8)
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "privacy: encrypted vault of %zu "
                                       "bytes is too short", blob_len);
        plain_len = blob_len - crypto_secretbox_NONCEBYTES -
                    crypto_secretbox_MACBYTES;
        plain = malloc(plain_len);
        if (!plain)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory");
        if (crypto_secretbox_open_easy(plain,
                                       blob + crypto_secretbox_NONCEBYTES,
                                       blob_len - crypto_secretbox_NONCEBYTES,
                                       blob, key) != 0) {
                rc = socfw_error_set(err, SOCFW_EFORMAT,
                                     "privacy: the encrypted vault does not "
                                     "decrypt; hint: wrong key or the data "
                                     "was modified");
                goto out;
        }
        if (memcmp(plain, "SPV1", 4) != 0) {
                rc = socfw_error_set(err, SOCFW_EFORMAT,
                                     "privacy: decrypted vault has no SPV1 "
                                     "header");
                goto out;
        }
        if ((rc = socfw_pii_vault_new(&v, err)) < 0)
                goto out;
        uint32_t count = get_u32(plain + 4);
        size_t o = 8;
        for (uint32_t i = 0; i < count; i++) {
                if (plain_len - o < 5) {
                        rc = SOCFW_EFORMAT;
                        break;
                }
                unsigned type = plain[o];
                size_t n = get_u32(plain + o + 1);
                if (type == 0 || type >= SOCFW_PII_TYPE_COUNT ||
                    n > plain_len - o - 5) {
                        rc = SOCFW_EFORMAT;
                        break;
                }
                if (vault_find(v, (socfw_pii_type)type,
                               (const char *)plain + o + 5, n, NULL) !=
                            SIZE_MAX ||
                    vault_add(v, (socfw_pii_type)type,
                              (const char *)plain + o + 5, n) == SIZE_MAX) {
                        rc = SOCFW_EFORMAT;
                        break;
                }
                o += 5 + n;
        }
        if (rc < 0 || o != plain_len) {
                rc = socfw_error_set(err, SOCFW_EFORMAT,
                                     "privacy: decrypted vault is malformed "
                                     "(entry table does not match its "
                                     "%zu bytes)", plain_len);
                goto out;
        }
        *out = v;
        v = NULL;
out:
        socfw_pii_vault_free(v);
        if (plain) {
                sodium_memzero(plain, plain_len);
                free(plain);
        }
        return rc;
}

/* tok_internal.h - private to framework/tokenizer/: the tokenizer object and
 * the helpers its parts share.  Not installed. */
#ifndef SOCFW_TOK_INTERNAL_H
#define SOCFW_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "socfw/tokenizer.h"

/* Shared between the files of this directory only: kept out of
 * libsocfw's exported symbols. */
#pragma GCC visibility push(hidden)

/* Longest input encode accepts (bytes); longer is SOCFW_EINVAL. */
#define TOK_MAX_INPUT ((size_t)1 << 28)
/* Largest vocabulary / merge list accepted from a file. */
#define TOK_MAX_VOCAB ((size_t)1 << 24)
/* Ids in vocab files may leave holes (filled by added tokens), but no more
 * than this many beyond the entries listed: a file cannot make the loader
 * allocate a table much larger than itself. */
#define TOK_MAX_ID_GAP ((size_t)1 << 16)

/* ---- growable id vector ---- */

typedef struct tok_ids {
        int32_t *v;
        size_t n, cap;
} tok_ids;

int tok_ids_push(tok_ids *ids, int32_t id);

/* ---- string -> id hash map over strings kept elsewhere ---- */

typedef struct tok_strmap {
        int32_t *slot;          /* -1: empty                              */
        size_t mask;            /* capacity - 1 (power of two)            */
        const char *const *key; /* borrowed: key[id], klen[id]            */
        const uint32_t *klen;
} tok_strmap;

/* Build over key[0..n); the first of duplicate keys wins.  0 or ENOMEM. */
int tok_strmap_build(tok_strmap *m, const char *const *key,
                     const uint32_t *klen, size_t n);
int32_t tok_strmap_find(const tok_strmap *m, const char *s, size_t len);
void tok_strmap_free(tok_strmap *m);

/* ---- (left id, right id) -> merge rank ---- */

typedef struct tok_pairmap {
        uint64_t *key;          /* UINT64_MAX: empty                      */
        uint32_t *val;
        size_t mask;
} tok_pairmap;

int tok_pairmap_init(tok_pairmap *m, size_t n);
int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, uint32_t val);
/* Returns 1 and sets *val when present. */
int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b,
                    uint32_t *val);
void tok_pairmap_free(tok_pairmap *m);

/* ---- the object ---- */

typedef struct tok_merge {
        int32_t left, right, result;
} tok_merge;

struct socfw_tokenizer {
        socfw_tokenizer_kind kind;
        size_t n;                       /* vocabulary size                */
        char **text;                    /* file spelling, NUL-terminated  */
        uint32_t *text_len;
        char **piece;                   /* bytes it decodes to            */
        uint32_t *piece_len;
        uint8_t *type;                  /* SOCFW_TOKEN_*                  */
        float *score;                   /* SPM scores (NULL otherwise)    */
        tok_strmap match;               /* what the algorithm looks up:
                                           BPE piece, else text           */
        tok_strmap by_text;             /* BPE only: text -> id           */
        uint32_t max_match_len;         /* longest key in `match`         */

        int32_t special[SOCFW_TOKENIZER_SPECIAL_COUNT];
        int add_bos, add_eos, add_space_prefix;

        /* PARSE_SPECIAL: CONTROL/USER_DEFINED ids, longest piece first */
        int32_t *sp_ids;
        size_t n_sp;
        uint8_t sp_first[256];

        int32_t byte_tok[256];          /* BPE: token of each byte; SPM:
                                           <0xXX> fallback (or -1)        */
        /* BPE */
        tok_merge *merges;              /* by rank                        */
        size_t n_merges;
        tok_pairmap pairs;              /* (left, right) -> rank          */
        char *pattern;
        pcre2_code *re;
        int add_prefix_space, ignore_merges;
        /* SPM: no token has U+2581 after another character, so text can
         * be cut before each word-initial U+2581 and the pieces merged
         * independently (same result, small heaps) */
        int spm_split;
        /* WordPiece */
        int lowercase, strip_accents, tokenize_cjk;
        size_t max_chars;
};

/* Per-fragment encoders (tokenizer.c splits out special tokens first).
 * `after_special`: the fragment starts the text or follows a special
 * token.  Return 0 or a negative SOCFW_E* code. */
int tok_bpe_encode(const socfw_tokenizer *t, const char *s, size_t len,
                   int after_special, tok_ids *out, socfw_error *err);
int tok_wp_encode(const socfw_tokenizer *t, const char *s, size_t len,
                  tok_ids *out, socfw_error *err);
int tok_spm_encode(const socfw_tokenizer *t, const char *s, size_t len,
                   int after_special, tok_ids *out, socfw_error *err);

/* Strict UTF-8: length (1..4) of the valid sequence at s and its code
 * point, or 0 when the bytes there are not valid UTF-8. */
size_t tok_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);

/* GPT-2 byte <-> unicode mapping. */
uint32_t tok_byte_to_cp(uint8_t b);
/* Decode a byte-level token spelling into raw bytes (dst must hold len
 * bytes; the result is never longer).  Characters outside the mapping are
 * copied as their UTF-8 bytes.  Returns the number of bytes. */
size_t tok_bytelevel_decode(const char *s, size_t len, char *dst);
/* Encode raw bytes into the byte-level spelling (dst holds 2 * len).
 * Returns the number of bytes written. */
size_t tok_bytelevel_encode(const char *s, size_t len, char *dst);

/* BERT character classes (used by the encoder and the trainer). */
int tok_wp_is_punct(int32_t cp);
int tok_wp_is_cjk(int32_t cp);
/* Normalise and split `s` into words the way BertNormalizer +
 * BertPreTokenizer do; calls fn(word, len, user) for each word (UTF-8).
 * Returns 0, or what fn returned when negative, or ENOMEM. */
int tok_wp_pretokenize(const char *s, size_t len, int lowercase,
                       int strip_accents, int tokenize_cjk,
                       int (*fn)(const char *w, size_t len, void *user),
                       void *user);

/* Compile the BPE pattern into t->re. */
int tok_bpe_compile(socfw_tokenizer *t, const char *pattern,
                    socfw_error *err);

/* Read a whole file (NUL-terminated; caller frees).  Capped at 1 GiB. */
int tok_read_file(const char *path, char **data, size_t *len,
                  socfw_error *err);

#pragma GCC visibility pop

#endif

/* plugins/privacy/names_impl.h - the name recognizer's insides, shared
 * by names.c (the word table, the list readers, English, the scan) and
 * names_zh.c (Chinese).  Internal to the privacy plugin; see names.h for
 * what the recognizer does.
 */
#ifndef SOCFW_PII_NAMES_IMPL_H
#define SOCFW_PII_NAMES_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "names.h"

#define MAX_WORD 64             /* bytes of a list entry or looked-up word */
#define MAX_LINE 4096           /* bytes of a list row                     */
#define MAX_ENTRIES (1u << 22)  /* words in the table                      */
#define MAX_PROPAGATE 16        /* names re-found elsewhere in one text    */

/* ---- the word table ---- */

/* Entry flags: which lists and word classes hold the word. */
enum { F_GIVEN = 1, F_SURNAME = 2, F_ZH = 4, F_FREQ = 8, F_CAL = 16,
       F_ORG = 32, F_PART = 64, F_NOT = 128,
       F_ZHNOT = 256 /* Chinese word that is never a person (纽约) */ };

typedef struct {
        uint32_t key;           /* offset in the arena, +1; 0 = empty */
        uint32_t hash;
        float given, surname;   /* priors in [0, 1]                   */
        float common;           /* share of lower-case uses, [0, 1]   */
        float zh;               /* Chinese family name prior           */
        uint32_t lower, cap;    /* counts from the word table          */
        uint32_t gcount;        /* registrations of the given name      */
        uint32_t scount;        /* people with the surname              */
        uint16_t flags;
        uint8_t klen;           /* key length in bytes (<= 255)        */
} entry;

struct socfw_pii_names {
        socfw_pii_names_options opt;
        entry *tab;
        size_t cap, n;
        char *arena;
        size_t arena_n, arena_cap;
        const char *const *ctx_en, *const *weak_en, *const *titles_en;
        const char *const *ctx_zh;
        const char *const *translit_ctx_zh;  /* roles: 球星, 总统, 说 */
        char **owned;           /* copies of the caller's phrase lists */
        size_t n_owned;
        int have_en, have_zh;
        uint8_t zh_given[8192], zh_stop[8192];  /* BMP bitmaps */
        uint8_t zh_fam1[8192];  /* one-character family names          */
        uint8_t zh_fam2[8192];  /* first characters of two-char ones   */
        uint8_t zh_translit[8192];  /* transliteration characters      */
        uint8_t zh_not1[8192];  /* first characters of never-a-person words */
        uint8_t zh_notmax[65536];  /* their longest word, in characters */
};

/* An accepted name, to find again elsewhere in the text ("Faina D.
 * Yefremova ... early Yefremova"). */
typedef struct {
        size_t s, e;
        float score;
} found;

/* The entry of a lower-cased key, or NULL. */
const entry *socfw_pii_names_find(const socfw_pii_names *nm, const char *key,
                                  size_t n);
/* The entry of a key, made when absent; NULL when out of memory. */
entry *socfw_pii_names_upsert(socfw_pii_names *nm, const char *key, size_t n);
/* The code point at t[i] and its length (an invalid byte: U+FFFD, 1). */
size_t socfw_pii_names_cp_at(const char *t, size_t len, size_t i,
                             uint32_t *cp);
int socfw_pii_names_is_han(uint32_t c);
float socfw_pii_names_sigmoid(float z);
/* The best tagger PERSON score over [s, e), or -1; *lo walks the sorted
 * tagger spans. */
float socfw_pii_names_tagger_score(const socfw_pii_spans *tg, size_t s,
                                   size_t e, size_t *lo);
/* Append a PERSON span; 0 or SOCFW_ENOMEM. */
int socfw_pii_names_emit(socfw_pii_spans *out, size_t s, size_t e,
                         float score);
/* Remember [s, e) as a name to find again elsewhere in the text (fnd
 * holds at most MAX_PROPAGATE; more are dropped). */
void socfw_pii_names_remember(found *fnd, size_t *n_fnd, size_t s, size_t e,
                              float score);
/* Accept a candidate: emit it and remember it.  0 or SOCFW_ENOMEM. */
int socfw_pii_names_accept(socfw_pii_spans *out, found *fnd, size_t *n_fnd,
                           size_t s, size_t e, float score);
/* The code point that ends right before byte i: its length in bytes and
 * *cp, or 0 when none does (i == 0, or the bytes before i are not a whole
 * character: a continuation byte of a cut one).  An invalid byte is a
 * character of its own, U+FFFD. */
size_t socfw_pii_names_cp_before(const char *t, size_t len, size_t i,
                                 uint32_t *cp);

/* ---- Chinese (names_zh.c) ---- */

/* The built-in Chinese context phrases. */
extern const char *const socfw_pii_names_def_ctx_zh[];
/* names_zh_lists.c: transliteration characters, their context words,
 * words never a person, kinship tails, traditional family names. */
extern const char socfw_pii_names_zh_translit_chars[];
extern const char *const socfw_pii_names_zh_def_translit_ctx[];
extern const char *const socfw_pii_names_zh_def_not_names[];
extern const char *const socfw_pii_names_zh_kin[];
extern const char socfw_pii_names_zh_traditional[];

/* Whether a phrase of `list` ends right before byte s (a colon or space
 * between allowed), or starts at byte e. */
int socfw_pii_names_zh_before(const char *t, size_t s,
                              const char *const *list);
int socfw_pii_names_zh_after(const char *t, size_t len, size_t e,
                             const char *const *list);
/* Bitmap test for a BMP code point. */
int socfw_pii_names_zh_bit(const uint8_t *bits, uint32_t cp);
/* The length in bytes of the longest never-a-person word (F_ZHNOT) that
 * starts at byte i, looking at up to 8 Han characters; 0 if none. */
size_t socfw_pii_names_zh_not_at(const socfw_pii_names *nm, const char *t,
                                 size_t len, size_t i);
/* Compound family names and the character bitmaps, after the lists are
 * read.  0 or SOCFW_ENOMEM. */
int socfw_pii_names_zh_setup(socfw_pii_names *nm);
/* Chinese names in the text, appended to out; accepted ones go to fnd
 * (at most MAX_PROPAGATE).  0 or SOCFW_ENOMEM. */
int socfw_pii_names_scan_zh(const socfw_pii_names *nm, const char *t,
                            size_t len, const socfw_pii_spans *tg,
                            socfw_pii_spans *out, found *fnd, size_t *n_fnd);
/* Transliterated foreign names (names_zh_translit.c): runs of
 * transliteration characters (安德鲁·古德洛克) announced by a role or a
 * speech verb, or joined by a middle dot; accepted ones go to fnd too.
 * 0 or SOCFW_ENOMEM. */
int socfw_pii_names_scan_zh_translit(const socfw_pii_names *nm,
                                     const char *t, size_t len,
                                     socfw_pii_spans *out, found *fnd,
                                     size_t *n_fnd);

#endif /* SOCFW_PII_NAMES_IMPL_H */

/* plugins/privacy/names.h - people's names (PERSON) from evidence, in
 * English and Chinese, in the manner of Presidio's recognizers with
 * context enhancement.
 *
 * English: a run of capitalised words (with initials "J.", particles
 * "van", "de", hyphens "Mary-Jane" and apostrophes "O'Brien") is a
 * candidate; its score merges
 *   - the name lists: how common a given name / surname is (log count),
 *     down-weighted by how often the word is an ordinary English word
 *     (a table counted in books: "will", "mark", "grace", "may" are
 *     mostly words, "john" never is), so common-word names need more;
 *   - the shape: Given Surname, Surname, Given; an unknown capitalised
 *     word next to a given name (most surnames are in no list); a title
 *     (Mr, Ms, Dr, Prof, ...) before it; the first word of a sentence
 *     counts less (capitalised anyway);
 *   - context words near it ("name is", "dear", "regards", "signed",
 *     "-- " opening a signature line; weaker: "call", "ask", "thanks"),
 *     configurable per language;
 *   - a tagger's PERSON spans when a model runs: agreement raises the
 *     score, a candidate the model did not tag loses some, and the
 *     model's own spans stand with the model's score;
 * into one logistic score per span, kept when it reaches the threshold.
 *
 * Chinese: a family name from the list (compound ones such as 欧阳, 司马,
 * 诸葛, 上官 first) followed by a one- or two-character given name, scored
 * by the family name's frequency, whether the following characters are
 * usual in given names (and never function words such as 的, 了, 是), and
 * context (我是, 叫, 联系人, 收件人 before; 先生, 女士, 老师, 经理, 同学
 * after); a family name with a title (张先生); an "@" screen name that
 * looks like a name (@杨壮).  Words that are never a person (places,
 * brands, common words: 纽约, 淘宝, 红包, 孩子; names_zh_lists.c, plus
 * not_names_zh) stop a candidate that starts in them or in which its
 * given name starts.  Two more evidence sources: nicknames (阿袁, 阿明哥,
 * 毛爷爷; SOCFW_PII_NAMES_NICK) and transliterated foreign names (a run
 * of transliteration-table characters next to a role or speech verb, or
 * joined by a middle dot: 球星安德鲁古德洛克, 玛丽·安托瓦内特;
 * SOCFW_PII_NAMES_TRANSLIT).
 *
 *     socfw_pii_names_options o = socfw_pii_names_options_default();
 *     o.given = "../shared/data/names/first-names-en.tsv";
 *     o.surnames = "../shared/data/names/surnames-en.tsv";
 *     o.surnames_zh = "../shared/data/names/surnames-zh.tsv";
 *     o.word_freq = "configs/privacy-name-wordfreq.tsv";
 *     socfw_pii_names *nm = NULL;
 *     if (socfw_pii_names_new(&nm, &o, &err) < 0) ... err names file:line
 *     socfw_pii_spans spans = {0};
 *     socfw_pii_names_scan(nm, text, len, NULL, &spans, &err);
 *     ...
 *     socfw_pii_names_free(nm);
 *
 * Name files are TSV with a header line: the name, then its count (a
 * non-negative integer; further columns are ignored).  A row without a
 * name or count, or with a count that is not a number, is an error naming
 * file:line; a file without rows is refused.  The word table
 * (tools/privacy-name-wordfreq.py) is word, lower-case count, capitalised
 * count.  Scanning is linear in the text: every word is looked up once in
 * a hash table, and context windows are bounded.  An immutable names
 * object can be shared by threads.
 */
#ifndef SOCFW_PII_NAMES_H
#define SOCFW_PII_NAMES_H

#include <stddef.h>

#include "pii.h"
#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Evidence sources, for measuring what each contributes. */
#define SOCFW_PII_NAMES_LISTS   (1u << 0)  /* lists, shape, titles      */
#define SOCFW_PII_NAMES_CONTEXT (1u << 1)  /* context words             */
#define SOCFW_PII_NAMES_TAGGER  (1u << 2)  /* a tagger's spans          */
#define SOCFW_PII_NAMES_TRANSLIT (1u << 3) /* transliterated names (zh)  */
#define SOCFW_PII_NAMES_NICK    (1u << 4)  /* nicknames (zh): 阿袁, 毛爷爷 */
#define SOCFW_PII_NAMES_ALL     31u

typedef struct socfw_pii_names_options {
        const char *given;        /* given names TSV; NULL: no English    */
        const char *surnames;     /* surnames TSV; NULL: none             */
        const char *surnames_zh;  /* Chinese family names; NULL: no Chinese */
        const char *word_freq;    /* ordinary-word table; NULL: none      */
        /* NULL-terminated phrase lists, lower case; NULL: the built-in
         * ones (see names.c).  Strong context introduces a name ("my name
         * is", "dear"); weak context is often near one ("call", "ask"). */
        const char *const *context_en;
        const char *const *weak_context_en;
        const char *const *titles_en;
        const char *const *context_zh;   /* before or after the name     */
        /* Chinese: roles and verbs around a transliterated foreign name
         * (球星, 总统, 说; NULL: the built-in list, names_zh_lists.c),
         * and words that are never a person (纽约, 曼联, 沙拉), added to
         * the built-in ones. */
        const char *const *translit_context_zh;
        const char *const *not_names_zh;
        float threshold;          /* keep spans scoring >= this (0.4)     */
        unsigned evidence;        /* SOCFW_PII_NAMES_* mask (ALL)         */
} socfw_pii_names_options;

typedef struct socfw_pii_names socfw_pii_names;

socfw_pii_names_options socfw_pii_names_options_default(void);

/* Load the lists.  At least one of given / surnames_zh must be set.
 * Returns 0 and *out (caller frees with _free); SOCFW_EIO for a file that
 * cannot be read (the message names it and says where the lists live),
 * SOCFW_EINVAL for a bad row (file:line) or an empty list, SOCFW_ENOMEM. */
int socfw_pii_names_new(socfw_pii_names **out,
                        const socfw_pii_names_options *opt, socfw_error *err);
void socfw_pii_names_free(socfw_pii_names *nm);

/* Find names in `text` (`len` bytes of UTF-8, invalid bytes allowed:
 * they are never part of a name and end a word).  `tagger` (may be NULL)
 * holds a model's spans; its PERSON spans take part as evidence when
 * the options include SOCFW_PII_NAMES_TAGGER.  Appends PERSON spans
 * (byte and code point offsets, source PATTERN) to `out`, unsorted and
 * possibly overlapping spans already there.  Returns 0 or SOCFW_ENOMEM. */
int socfw_pii_names_scan(const socfw_pii_names *nm, const char *text,
                         size_t len, const socfw_pii_spans *tagger,
                         socfw_pii_spans *out, socfw_error *err);

/* Whether `w` can be an entry of a Chinese word list (the options'
 * translit_context_zh, not_names_zh): valid UTF-8 of min..max code
 * points, every one a Han character when han_only.  For configuration
 * checks (privacy.c names the file and line). */
int socfw_pii_names_zh_entry_ok(const char *w, size_t min, size_t max,
                                int han_only);

/* Whether `word` (UTF-8, any case) is in the lists: bit 1 given name,
 * bit 2 surname, bit 4 Chinese family name.  For tests. */
int socfw_pii_names_lookup(const socfw_pii_names *nm, const char *word);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PII_NAMES_H */

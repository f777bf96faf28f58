/* plugins/nlu/spans.h - slot spans of the nlu plugin: words of a post,
 * BIO tags decoded to spans, pattern spans merged with model spans, and
 * the `nlu.slots` JSON.
 *
 *     socfw_nlu_words w = {0};
 *     socfw_nlu_words_split(text, len, &w);
 *     ... probs = w.n x n_tags from socfw_task_tag_words ...
 *     socfw_nlu_spans model = {0}, found = {0}, all = {0};
 *     socfw_nlu_spans_from_tags(&w, text, probs, n_tags, labels, &model);
 *     socfw_nlu_extract(x, text, len, &ref, &found, &err);   (extract.h)
 *     socfw_nlu_spans_merge(&model, &found, SOCFW_NLU_PATTERN_WINS, &all);
 *     char *json = socfw_nlu_spans_json(&all, text, len);
 *         [{"type":"artist","text":"iris dement","start":8,"end":19,
 *           "source":"model"}, {"type":"cashtag","text":"$AAPL",
 *           "start":0,"end":5,"value":"AAPL","source":"pattern"}]
 *
 * Offsets: spans are kept in bytes; `start`/`end` in the JSON are
 * Unicode code points of the post's text (what Python's str indexes),
 * end exclusive.
 */
#ifndef SOCFW_NLU_SPANS_H
#define SOCFW_NLU_SPANS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOCFW_NLU_TYPE_MAX 48

typedef enum socfw_nlu_source {
        SOCFW_NLU_MODEL = 0,    /* the tagger's BIO tags                  */
        SOCFW_NLU_PATTERN = 1,  /* an extractor (extract.h)               */
} socfw_nlu_source;

typedef struct socfw_nlu_span {
        char type[SOCFW_NLU_TYPE_MAX];  /* "artist", "cashtag", "date" ... */
        size_t start, end;              /* bytes of the text, [start,end) */
        char *value;                    /* normalised value (owned): the
                                           ticker of a cashtag or company,
                                           an ISO 8601 date, "1200.5 USD";
                                           NULL when there is none        */
        socfw_nlu_source source;
        float score;                    /* model: mean probability of the
                                           span's tags; pattern: 1        */
} socfw_nlu_span;

/* Zero-initialise; free with socfw_nlu_spans_free. */
typedef struct socfw_nlu_spans {
        socfw_nlu_span *v;
        size_t n, cap;
} socfw_nlu_spans;

/* Append a span (type truncated to SOCFW_NLU_TYPE_MAX - 1 bytes, value
 * copied when not NULL).  Returns 0 or SOCFW_ENOMEM. */
int socfw_nlu_spans_push(socfw_nlu_spans *s, const char *type, size_t start,
                         size_t end, const char *value,
                         socfw_nlu_source source, float score);
void socfw_nlu_spans_free(socfw_nlu_spans *s);
/* Sort by start, longer first on ties. */
void socfw_nlu_spans_sort(socfw_nlu_spans *s);

/* Who keeps a place where a model span and a pattern span overlap. */
typedef enum socfw_nlu_overlap {
        SOCFW_NLU_PATTERN_WINS = 0,
        SOCFW_NLU_MODEL_WINS = 1,
        SOCFW_NLU_KEEP_BOTH = 2,        /* overlapping spans are all kept */
} socfw_nlu_overlap;

/* *out <- model and pattern spans (copies), sorted; where two overlap the
 * one `policy` names is kept and the other dropped.  Spans of one source
 * are kept as they are.  Returns 0 or SOCFW_ENOMEM (then *out is
 * emptied). */
int socfw_nlu_spans_merge(const socfw_nlu_spans *model,
                          const socfw_nlu_spans *pattern,
                          socfw_nlu_overlap policy, socfw_nlu_spans *out);

/* The spans as a JSON array (see the top of this file; caller frees), or
 * NULL when out of memory.  Each span's text is text[start..end). */
char *socfw_nlu_spans_json(const socfw_nlu_spans *s, const char *text,
                           size_t len);

/* Code point index of byte offset `off` in text (invalid bytes count as
 * one character each). */
size_t socfw_nlu_cp_offset(const char *text, size_t len, size_t off);

/* ---- words ---- */

typedef struct socfw_nlu_word {
        size_t start, end;      /* bytes, [start, end) */
} socfw_nlu_word;

typedef struct socfw_nlu_words {
        socfw_nlu_word *v;
        size_t n, cap;
} socfw_nlu_words;

/* Split a UTF-8 text into words the way the data sets are tokenised:
 * white space separates words, and punctuation at the start or end of a
 * word (, . ! ? ; : " ( ) [ ] { } and quotes) is a word of its own, one
 * character each; punctuation inside a word stays ("o'clock", "7:30",
 * "$5.99").  Appends to *out.  Returns 0 or SOCFW_ENOMEM (at most 1 Mi
 * words are kept; the rest of a longer text is not split). */
int socfw_nlu_words_split(const char *text, size_t len, socfw_nlu_words *out);
void socfw_nlu_words_free(socfw_nlu_words *w);

/* Copy of a word, lower-cased (Unicode simple case mapping) when `lower`;
 * caller frees; NULL when out of memory. */
char *socfw_nlu_word_dup(const char *text, const socfw_nlu_word *w,
                         int lower);

/* BIO decoding: each word takes its most probable tag (probs: n_words x
 * n_tags, row per word, tag ids index `labels`), the tag sequence becomes
 * spans by the conlleval rules (socfw_bio_to_spans: an I-X after O or
 * another type starts an entity) and each span covers its words' bytes.
 * Spans are appended to *out with source MODEL.  Returns 0 or
 * SOCFW_ENOMEM. */
int socfw_nlu_spans_from_tags(const socfw_nlu_words *w, const float *probs,
                              size_t n_tags, const char *const *labels,
                              socfw_nlu_spans *out);

#ifdef __cplusplus
}
#endif
#endif

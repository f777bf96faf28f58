/* plugins/privacy/model.h - the privacy plugin's model-based recognizer:
 * PERSON, LOCATION and ORGANIZATION from a token tagger (heads/tagger, BIO
 * tags) trained on word-tagged data, merged with the pattern recognizers'
 * spans (socfw_pii_spans_merge) and anonymised by the same operators.
 *
 * The same word splitter serves training and prediction, so the model
 * reads words as it learnt them:
 *
 *     socfw_pii_words w = {0};
 *     socfw_pii_words_split(text, len, &w);
 *     ... probs = n_words x n_tags from socfw_task_tag_words ...
 *     socfw_pii_spans_from_tags(&w, probs, n_tags, labels, text, len,
 *                               0.5f, types, &spans, &err);
 *     socfw_pii_words_free(&w);
 *
 * Training records (parse_example) come in two shapes, both read by
 * socfw_pii_ner_example:
 *   - word tags:  {"tokens": ["Empire", "State", ...],
 *                  "tags": ["B-location", "I-location", ...]}
 *     (WNUT-17, Weibo: one character per token);
 *   - char spans: {"text": "My name is Rubija",
 *                  "spans": [{"start": 11, "end": 17, "type": "PERSON"}]}
 *     (pii-en: code point offsets), split into words here and tagged
 *     B-/I- by the spans they fall in.
 * Tag types are mapped to the task's labels: a tag equal to a label is
 * kept; otherwise its type is mapped (person, PER, PER.NAM -> PERSON;
 * location, LOC, GPE, GPE.NAM -> LOCATION; corporation, group, ORG ->
 * ORGANIZATION; nominal mentions (X.NOM) and other types -> O) and looked
 * up as "B-<TYPE>" / "I-<TYPE>" among the labels, else O.
 *
 * Labels without B- tags are the IO scheme (labels: [O, PERSON, LOCATION,
 * ORGANIZATION], or I-PERSON, ...): every word of an entity takes the
 * type's one label, and decoding joins adjacent words of one type into
 * one entity.  Two entities of one type side by side without a word
 * between them cannot be told apart then - rare for names - and the model
 * no longer has to decide where one starts (a common error of a small
 * model: "Mathias" B-PERSON, "Ruud" B-PERSON again).
 */
#ifndef SOCFW_PII_MODEL_H
#define SOCFW_PII_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "pii.h"
#include "socfw/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_pii_word {
        size_t start, end;        /* bytes, [start, end)       */
        size_t cp_start, cp_end;  /* code points               */
        int line_break;           /* the line break between two words */
} socfw_pii_word;

/* Zero-initialise; free with socfw_pii_words_free. */
typedef struct socfw_pii_words {
        socfw_pii_word *v;
        size_t n, cap;
} socfw_pii_words;

/* Split a UTF-8 text into words: white space separates them; punctuation
 * at the start or end of a word becomes a word of its own (one character
 * each; '@' and '#' opening a handle or hashtag stay); every CJK character
 * is a word (Weibo NER tags characters).  White space holding a line
 * break between two words gives a word of its own, its first line-break
 * character, flagged line_break: the model reads where lines end (a name
 * on one line of a signature, a company on the next), and no entity
 * crosses it (its tag is always O).  An invalid byte counts as one
 * character.  Appends to *out.  Returns 0 or SOCFW_ENOMEM (at most
 * 16 Mi words). */
int socfw_pii_words_split(const char *text, size_t len, socfw_pii_words *out);
void socfw_pii_words_free(socfw_pii_words *w);

/* The entity type of a data set's tag type (the part after "B-"):
 * PERSON, LOCATION, ORGANIZATION, or SOCFW_PII_NONE for types the model
 * does not learn (products, nominal mentions, dates, ...). */
socfw_pii_type socfw_pii_ner_type(const char *tag_type);

/* Label id of a data set tag among the task's labels (see above); -1 when
 * neither the tag nor O is a label. */
int socfw_pii_ner_label(const char *tag, const char *const *labels,
                        size_t n_labels);

/* Turn one training record (either shape) into a word-tag example.
 * Returns 0, SOCFW_EINVAL naming the bad field, or SOCFW_ENOMEM. */
int socfw_pii_ner_example(const socfw_record *rec, socfw_example *ex,
                          const char *const *labels, size_t n_labels,
                          socfw_error *err);

/* A hash of the record's template: its text with every entity replaced by
 * its type ("My name is {PERSON}"), or its tokens with each entity's words
 * replaced by the type.  Synthetic data sets such as pii-en fill a few
 * hundred templates with many values; holding out by template
 * (holdout_by: template) measures how a model does on sentences it has
 * never seen, not on new names in known sentences.  BLAKE2b (libsodium),
 * so the split is the same on every machine.  Returns 0, or SOCFW_EINVAL
 * for a record of neither shape, or SOCFW_ENOMEM. */
int socfw_pii_ner_template_hash(const socfw_record *rec, uint64_t *hash);

/* Entity spans from per-word tag probabilities (n_words x n_tags, rows as
 * socfw_task_tag_words writes them): the most likely tag of each word,
 * BIO-decoded as conlleval does (an I- after O or after another type
 * opens an entity; a line-break word is O whatever its tag); a span runs
 * from its first word's start to its last word's end; its score is the mean probability of the chosen tags.
 * Spans of types outside `types` (a SOCFW_PII_BIT mask) or scoring below
 * `threshold` are dropped.  Appends to *out with byte and code point
 * offsets, source SOCFW_PII_SOURCE_EXTERNAL.  Returns 0 or SOCFW_ENOMEM. */
int socfw_pii_spans_from_tags(const socfw_pii_words *w, const float *probs,
                              size_t n_tags, const char *const *labels,
                              float threshold, uint32_t types,
                              socfw_pii_spans *out, socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PII_MODEL_H */

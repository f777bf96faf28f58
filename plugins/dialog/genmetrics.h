/* plugins/dialog/genmetrics.h - diversity and length of generated replies.
 *
 *     const char *replies[] = {"I am fine .", "I am tired ."};
 *     socfw_dialog_genstats st;
 *     socfw_dialog_genstats_compute(replies, 2, &st, &err);
 *     // st.distinct_1 = 4 unique / 8 words = 0.5, st.avg_words = 4
 *
 * Words: a reply is case-folded (Unicode, NFKC), split at white space, and
 * every punctuation mark or symbol (Unicode categories P* and S*) counts as
 * a word of its own, so "fine." and "fine ." give the same words.
 * distinct-n = unique n-grams of words over all replies / all n-grams
 * (Li et al., 2016: corpus level; an n-gram never spans two replies);
 * 0 when there are no n-grams.
 */
#ifndef SOCFW_DIALOG_GENMETRICS_H
#define SOCFW_DIALOG_GENMETRICS_H

#include <stddef.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_dialog_genstats {
        size_t n_replies;
        size_t n_words;         /* over all replies                       */
        size_t n_empty;         /* replies without a word                 */
        double distinct_1;
        double distinct_2;
        double avg_words;       /* n_words / n_replies; 0 without replies */
} socfw_dialog_genstats;

/* Statistics of `replies[0..n)` (NULL entries count as empty replies).
 * Returns 0, SOCFW_EINVAL (invalid UTF-8) or SOCFW_ENOMEM. */
int socfw_dialog_genstats_compute(const char *const *replies, size_t n,
                                  socfw_dialog_genstats *out,
                                  socfw_error *err);

/* The words of one reply as described above, written as case-folded
 * strings into *words (an array of `*n_words` strings, caller frees each
 * and the array; *words is NULL when there are none).  Returns 0,
 * SOCFW_EINVAL or SOCFW_ENOMEM. */
int socfw_dialog_words(const char *text, char ***words, size_t *n_words,
                       socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_DIALOG_GENMETRICS_H */

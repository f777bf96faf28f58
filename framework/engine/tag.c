/* tag.c - the chain's socfw_task_tag_words hook: per-word tag
 * probabilities of a tagger task, the words read in overlapping windows
 * of at most max_seq tokens, batched like classification (batch.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "train/runtime_impl.h"

/* The windows of words[0..n_words) from word `start` on, at most
 * RT_BATCH_ROWS of them, each of at most max_seq tokens: ex[*n_ex] and,
 * for the words they are read for, row[w] (0 .. *n_ex) and pos[w]
 * (tmp: n_words ints).  Windows overlap by a quarter of their words
 * (h = used / 8 on each side of the cut): a word near a window's end is
 * taken from the next window instead, where the words before it and
 * after it are read too (a name cut in two by a window boundary stays one
 * name).  Where a window starts depends only on how many words the one
 * before read, so a text's windows are encoded before any runs.
 * *start and *keep_from move on to the next group's. */
static int
tag_windows(socfw_runtime *rt, rt_task *t, const char *const *words,
            size_t n_words, size_t *start, size_t *keep_from,
            rt_example *ex, int *n_ex, int *row, int *pos, int *tmp,
            socfw_error *err)
{
        *n_ex = 0;
        while (*start < n_words && *n_ex < RT_BATCH_ROWS) {
                size_t used = 0;
                int rc = rt_encode_words(rt, words + *start, NULL,
                                         n_words - *start, rt_label_last(t),
                                         &ex[*n_ex], tmp, &used, err);
                if (rc < 0)
                        return rc;
                (*n_ex)++;
                if (used == 0) {        /* cannot happen: a window reads */
                        *start = n_words;       /* a word              */
                        break;
                }
                size_t end = *start + used;
                size_t h = end < n_words ? used / 8 : 0;
                /* this window's words [keep_from, end - h); the next
                 * window starts h words before that and keeps from it.
                 * A window reading fewer words than the overlap before
                 * it (a word of hundreds of tokens) keeps none: each
                 * word is read for once, by this group's windows only */
                for (size_t w = *keep_from; w < end - h; w++) {
                        row[w] = *n_ex - 1;
                        pos[w] = tmp[w - *start];
                }
                if (end - h > *keep_from)
                        *keep_from = end - h;
                *start = end - 2 * h;
        }
        return 0;
}

/* Per-word tag probabilities for socfw_task_tag_words.  The words go
 * through in windows of at most max_seq tokens (tag_windows), so a long
 * text loses nothing; the windows are batched, with each other and with
 * other threads' calls, like classification windows.  Row w of `probs`
 * is the softmax over the tags at word w's labelled sub-token (all zero
 * for an empty word). */
int
rt_tag_words_hook(void *runtime, socfw_task_ctx *ctx,
                  const char *const *words, size_t n_words, float *probs,
                  size_t n_probs, size_t *n_tags, socfw_error *err)
{
        socfw_runtime *rt = runtime;
        rt_task *t = rt_task_of(rt, ctx);
        if (!t || !t->head_state || !rt_is_tagger(t))
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "task '%s' has no tagger head to run "
                                       "(hint: head: {type: tagger})",
                                       socfw_task_name(ctx));
        size_t K = (size_t)t->n_outputs;
        *n_tags = K;
        if (n_words == 0)
                return 0;
        if (!words || !probs || n_words > SIZE_MAX / K / sizeof(float) ||
            n_probs < n_words * K)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "task '%s': %zu words need %zu "
                                       "floats of probabilities, %zu given",
                                       socfw_task_name(ctx), n_words,
                                       n_words * K, n_probs);
        memset(probs, 0, n_words * K * sizeof *probs);
        int *row = malloc(n_words * sizeof *row);
        int *pos = malloc(n_words * sizeof *pos);
        int *tmp = malloc(n_words * sizeof *tmp);
        rt_example ex[RT_BATCH_ROWS];
        const rt_example *rows[RT_BATCH_ROWS];
        int rc = row && pos && tmp ? 0
                                   : socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
        for (size_t w = 0; rc == 0 && w < n_words; w++)
                pos[w] = -1;
        /* a long text: groups of RT_BATCH_ROWS windows, one after another */
        size_t start = 0, keep_from = 0;
        while (rc == 0 && start < n_words) {
                size_t first = keep_from;
                int n_ex = 0;
                rt_batch_entering(rt, 1);  /* rt_infer_batched takes it back */
                rc = tag_windows(rt, t, words, n_words, &start, &keep_from,
                                 ex, &n_ex, row, pos, tmp, err);
                for (int i = 0; i < n_ex; i++)
                        rows[i] = &ex[i];
                rt_job me = {.t = t, .rows = rows, .n = n_ex,
                             .out = probs + first * K,
                             .word_row = row + first, .word_pos = pos + first,
                             .n_words = keep_from - first};
                if (rc == 0 && n_ex > 0)
                        rc = rt_infer_batched(rt, &me, err);
                else
                        rt_batch_entering(rt, -1);
                for (int i = 0; i < n_ex; i++)
                        free(ex[i].ids);
        }
        free(row);
        free(pos);
        free(tmp);
        return rc;
}

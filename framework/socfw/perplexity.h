/* socfw/perplexity.h - perplexity of a causal language model over a token
 * sequence or a text file (plain or gzip), in windows as llama.cpp's
 * perplexity tool takes them.
 *
 * The sequence is cut into windows of `ctx` tokens starting every `stride`
 * tokens (windows that would run past the end are left out, so are the
 * tokens after the last full window).  Each window is run from scratch; its
 * first token is replaced by BOS when `bos` >= 0 (as llama.cpp does for
 * models that add BOS).  Only the second half of a window is scored: the
 * token at window position t (t >= ctx/2) is scored with the t tokens
 * before it as context, and never twice (overlapping windows score only
 * the tokens past the previous window's).  stride == ctx is llama.cpp's
 * chunking (half the tokens scored); stride == ctx/2 scores every token
 * from ctx/2 on exactly once, each with at least ctx/2 tokens of context.
 *
 *     socfw_perplexity r;
 *     int32_t *ids = NULL;
 *     size_t n = 0;
 *     socfw_perplexity_read_tokens("valid.txt.gz", tok, 50000, &ids, &n,
 *                                  &err);
 *     socfw_perplexity_ids(m, ids, n, 512, 256,
 *                          socfw_tokenizer_special_id(tok,
 *                                                     SOCFW_TOKENIZER_BOS),
 *                          &r, &err);
 *     printf("ppl %.4f over %lld tokens\n", r.ppl, (long long)r.n_scored);
 *     free(ids);
 *
 * Encoders (BERT, RoBERTa) have no causal perplexity: SOCFW_EUNSUPPORTED.
 */
#ifndef SOCFW_PERPLEXITY_H
#define SOCFW_PERPLEXITY_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/model.h"
#include "socfw/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_perplexity {
        double nll;             /* sum of -ln p(token | context), nats  */
        int64_t n_scored;       /* tokens scored                        */
        int64_t n_tokens;       /* tokens in the input                  */
        int n_windows;          /* windows run                          */
        double ppl;             /* exp(nll / n_scored)                  */
} socfw_perplexity;

/* Perplexity of decoder `m` over ids[0..n) in windows of `ctx` tokens every
 * `stride` (1 <= stride; 2 <= ctx <= the model's max_positions).  `bos` is
 * the id put in each window's first position, or -1 to keep the tokens.
 * Returns 0 and fills *out; SOCFW_EINVAL (bad ctx/stride/id, fewer than ctx
 * tokens), SOCFW_EUNSUPPORTED (an encoder), SOCFW_ENOMEM. */
int socfw_perplexity_ids(socfw_model *m, const int32_t *ids, size_t n,
                         int ctx, int stride, int32_t bos,
                         socfw_perplexity *out, socfw_error *err);

/* Tokens of a UTF-8 text file (plain or gzip: socfw_line_reader), without
 * special tokens, encoded in pieces of whole lines of about 64 KiB (each
 * line ending "\n"; "\r\n" becomes "\n"; lines over 1 MiB are skipped),
 * stopping once `max_tokens` (> 0; 0 = all) are there.  (An SPM tokenizer
 * adds its dummy prefix space at each piece's start, a negligible
 * difference to encoding the whole text.)  Returns 0 and sets *ids (caller
 * frees) and *n; SOCFW_EIO naming the file, SOCFW_ENOMEM. */
int socfw_perplexity_read_tokens(const char *path, const socfw_tokenizer *tok,
                                 int64_t max_tokens, int32_t **ids, size_t *n,
                                 socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PERPLEXITY_H */

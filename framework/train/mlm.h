/* framework/train/mlm.h - masked-LM pretraining pieces for encoders
 * (BERT, RoBERTa): the masking of token ids and the MLM output layer.
 * Internal to libsocfw (pretrain.c, tests/test_pretrain.c).
 *
 * The output layer is Hugging Face's BertLMPredictionHead /
 * RobertaLMHead: dense (C,C) + GELU (erf) + LayerNorm, then logits against
 * the word embeddings (tied, not a parameter of the head) plus a bias (V).
 * Its tensors carry the HF names of BertForMaskedLM ("cls.predictions.*")
 * or RobertaForMaskedLM ("lm_head.*"), so they can be saved beside the
 * backbone and read back for continued pretraining.
 *
 *     rt_mlm_vocab v;
 *     rt_mlm_vocab_init(&v, tok, &err);
 *     rt_mlm_mask(ids, targets, n, &v, 0.15f, 0, &rng);   // in place
 *     rt_mlm_head *h = NULL;
 *     rt_mlm_head_new(&h, SOCFW_ARCH_BERT, C, V, 1e-12f, seed, &err);
 *     ... gather the hidden rows of masked positions into x (M,C) ...
 *     rt_mlm_head_step(h, x, M, emb, demb, tgt, &loss, &correct, dx, &err);
 *     rt_mlm_head_free(h);
 *     rt_mlm_vocab_clear(&v);
 */
#ifndef SOCFW_TRAIN_MLM_H
#define SOCFW_TRAIN_MLM_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/model.h"
#include "socfw/params.h"
#include "socfw/rng.h"
#include "socfw/tokenizer.h"

/* ---- masking ---- */

/* What masking needs to know about a vocabulary. */
typedef struct rt_mlm_vocab {
        int V;
        int32_t mask_id;        /* [MASK] / <mask>                        */
        uint8_t *special;       /* (V) 1: never masked (CONTROL, padding)  */
        uint8_t *cont;          /* (V) 1: continues the previous word      */
        int32_t *normal;        /* ids random replacements are drawn from  */
        size_t n_normal;
} rt_mlm_vocab;

/* From a tokenizer: specials are CONTROL/UNUSED tokens and the special
 * roles; continuations are WordPiece "##x" pieces and byte-level BPE
 * tokens that do not start with a space ("Ġ").  Returns 0, SOCFW_EINVAL
 * (no mask token: the hint says to train or pick a tokenizer with one),
 * SOCFW_ENOMEM.  Free with rt_mlm_vocab_clear. */
int rt_mlm_vocab_init(rt_mlm_vocab *v, const socfw_tokenizer *tok,
                      socfw_error *err);
void rt_mlm_vocab_clear(rt_mlm_vocab *v);

/* BERT masking of ids (n) in place: each non-special token (or, with
 * whole_word, each word: a token and the continuations after it) is
 * selected with probability `prob`; a selected token becomes the mask
 * token with probability 0.8, a random normal token with 0.1, and stays
 * with 0.1.  targets (n) receive the original id at selected positions and
 * -100 elsewhere.  Draws from `rng` in order (deterministic).  Returns the
 * number of selected positions. */
size_t rt_mlm_mask(int32_t *ids, int32_t *targets, size_t n,
                   const rt_mlm_vocab *v, float prob, int whole_word,
                   socfw_rng *rng);

/* ---- the output layer ---- */

typedef struct rt_mlm_head {
        socfw_params *ps;       /* the head's own tensors                 */
        int dense_w, dense_b, ln_w, ln_b, bias;
        int C, V;
        float eps;
        /* the gradients of a step are multiplied by this (1 after
         * rt_mlm_head_new; a data-parallel process sets its share) */
        float grad_scale;
        /* workspace for up to cap rows */
        int cap;
        float *t, *a, *u, *mean, *rstd, *logits, *du, *da, *dt;
} rt_mlm_head;

/* A new head for `arch` (names: BERT cls.predictions.*, RoBERTa
 * lm_head.*): dense normal(0, 0.02), biases 0, LayerNorm 1/0 drawn from
 * `seed`.  Returns 0 / SOCFW_EINVAL / SOCFW_ENOMEM; caller frees. */
int rt_mlm_head_new(rt_mlm_head **out, socfw_arch arch, int C, int V,
                    float eps, uint64_t seed, socfw_error *err);
void rt_mlm_head_free(rt_mlm_head *h);

/* Forward, mean cross-entropy over the M rows and backward, in one call:
 * x (M,C) hidden states of the masked positions, emb (V,C) the word
 * embeddings, targets (M) ids in [0,V).  *loss = mean loss, *correct =
 * rows whose argmax is the target (either may be NULL).  Accumulates (+=)
 * grad_scale times the gradients: dx (M,C) (may be NULL), demb (V,C)
 * (may be NULL: frozen embeddings) and
 * the head's gradients.  Returns 0, SOCFW_EINVAL (bad target),
 * SOCFW_ENOMEM. */
int rt_mlm_head_step(rt_mlm_head *h, const float *x, int M, const float *emb,
                     float *demb, const int32_t *targets, float *loss,
                     int *correct, float *dx, socfw_error *err);

#endif

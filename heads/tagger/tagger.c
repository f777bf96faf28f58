/* tagger.c - token classification head (NER, PII spans, POS, ...).
 *
 *     hidden (B,T,C) --dropout--> linear --> logits (B,T,K)
 *
 * With lookahead: L > 0 the output layer at position t reads the hidden
 * states of t and of the L positions after it, concatenated,
 * [h(t) h(t+1) ... h(t+L)] (C*(L+1) wide; a position past the end of the
 * row or on padding reads zeros).  A causal decoder's state at t has not
 * read the words after it; the following states have, so a word's tag can
 * depend on its right context ("Stephan" before "Fenstermacher").
 *
 * Padding positions (mask 0) are skipped: their logits are 0, they count
 * for nothing in the loss and receive no gradient.
 *
 * Loss: cross_entropy over the tokens whose tag is not -100 (targets TAGS,
 * tags[B*T]; TOKENS is accepted too), mean over the counted tokens, with
 * optional label_smoothing and per-class weights (targets->class_weight):
 * torch.nn.functional.cross_entropy(ignore_index=-100, reduction="mean").
 *
 * Words and tags: the host tokenizes each word of a word-tag example and
 * puts the word's tag on its first sub-token (label_token: last puts it on
 * the last one), -100 on the others; socfw_task_tag_words reads the same
 * position back at inference.
 *
 * Tensors: <prefix>.out.weight (K,C*(L+1)), <prefix>.out.bias (K), prefix
 * "head.tagger" by default (see heads/head_util.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/nn.h"
#include "socfw/params.h"
#include "socfw/plugin.h"

#include "../head_util.h"

/* ---- parameter specs ---- */

static const char *const loss_choices[] = {"cross_entropy", NULL};
static const char *const weight_choices[] = {"none", "balanced", NULL};
static const char *const token_choices[] = {"first", "last", NULL};

static const socfw_param_spec params[] = {
        {.key = "dropout", .type = SOCFW_PARAM_FLOAT, .default_value = "0.1",
         .min = 0.0, .max = 0.95,
         .help = "Dropout on the hidden states before the output layer "
                 "during training."},
        {.key = "prefix", .type = SOCFW_PARAM_STRING,
         .help = "Name prefix of the head's tensors in checkpoints; default "
                 "head.tagger (head.tagger.1, ... for further tagger "
                 "heads)."},
        {.key = "label_token", .type = SOCFW_PARAM_ENUM,
         .default_value = "first", .choices = token_choices,
         .help = "Which sub-token of a word carries its tag (the others "
                 "are not learnt): first, as usual for encoders, or last, "
                 "for causal decoders (GPT-2, Llama), whose first sub-token "
                 "has not yet read the whole word."},
        {.key = "lookahead", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 8,
         .help = "Also read the hidden states of the next N positions "
                 "(concatenated), so a causal decoder's tags see some "
                 "right context; 0 reads the position alone."},
        {0}};

static const socfw_param_spec loss_params[] = {
        {.key = "type", .type = SOCFW_PARAM_ENUM,
         .default_value = "cross_entropy", .choices = loss_choices,
         .help = "cross_entropy over the tagged tokens (tag -100 and "
                 "padding are ignored), mean over counted tokens."},
        {.key = "label_smoothing", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.0", .min = 0.0, .max = 1.0,
         .help = "Label smoothing epsilon (torch semantics)."},
        {.key = "class_weights", .type = SOCFW_PARAM_ENUM,
         .default_value = "none", .choices = weight_choices,
         .help = "Per-tag loss weights: none, or balanced (computed by the "
                 "host from the training data)."},
        {0}};

/* ---- state ---- */

typedef struct {
        char prefix[HEAD_PREFIX_MAX + 16];
        socfw_params *ps;
        int C, K;
        int L;                  /* lookahead positions              */
        float dropout, smoothing;
        int w_out, b_out;

        /* saved by forward */
        int B, T;
        float p;                /* dropout used by the last forward */
        head_buf xbuf;          /* (B,T,C) dropped-out hidden       */
        head_buf mbuf;          /* (B*T*C) dropout mask             */
        head_buf dxbuf;         /* backward scratch                 */
        head_buf tbuf;          /* (B*T) targets with padding -100  */
        head_buf wbuf;          /* (B*T, C*(L+1)) with lookahead    */
        head_buf dwbuf;         /* its gradient                     */
} tagger;

static void
tagger_destroy(void *state)
{
        tagger *s = state;
        if (!s)
                return;
        head_buf_free(&s->xbuf);
        head_buf_free(&s->mbuf);
        head_buf_free(&s->dxbuf);
        head_buf_free(&s->tbuf);
        head_buf_free(&s->wbuf);
        head_buf_free(&s->dwbuf);
        free(s);
}

static int
tagger_create(const socfw_config *head_cfg, const socfw_config *loss_cfg,
              const socfw_head_dims *dims, socfw_params *ps, void **state,
              socfw_error *err)
{
        int rc = 0;
        tagger *s = NULL;

        if (!dims || !ps || !state)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tagger: create needs dims, a "
                                       "parameter store and a state pointer");
        if (dims->hidden <= 0 || dims->n_outputs <= 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tagger: hidden size %d and "
                                       "n_outputs %d must be positive; "
                                       "hint: does the task have tags?",
                                       dims->hidden, dims->n_outputs);
        s = calloc(1, sizeof *s);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "tagger: out of memory");
        s->ps = ps;
        s->C = dims->hidden;
        s->K = dims->n_outputs;
        s->dropout = (float)socfw_config_get_float(head_cfg, "dropout");
        s->L = (int)socfw_config_get_int(head_cfg, "lookahead");
        if (s->L < 0 || s->L > 8) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "tagger: lookahead %d is outside "
                                     "[0, 8]",
                                     s->L);
                goto out;
        }
        if (!(s->dropout >= 0.0f && s->dropout < 1.0f)) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "tagger: dropout %g is outside [0, 1)",
                                     (double)s->dropout);
                goto out;
        }
        const char *lt = socfw_config_get_string(loss_cfg, "type");
        if (lt && strcmp(lt, "cross_entropy") != 0) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "tagger: unknown loss '%s' (expected "
                                     "cross_entropy)",
                                     lt);
                goto out;
        }
        s->smoothing = (float)socfw_config_get_float(loss_cfg,
                                                     "label_smoothing");
        if (!(s->smoothing >= 0.0f && s->smoothing <= 1.0f)) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "tagger: label_smoothing %g is outside "
                                     "[0, 1]",
                                     (double)s->smoothing);
                goto out;
        }
        rc = head_prefix(head_cfg, ps, "tagger", s->prefix,
                         sizeof s->prefix, err);
        if (rc < 0)
                goto out;
        rc = s->w_out = head_add(ps, s->prefix, "out.weight", 2, s->K,
                                 s->C * (s->L + 1), err);
        if (rc < 0)
                goto out;
        rc = s->b_out = head_add(ps, s->prefix, "out.bias", 1, s->K, 0, err);
        if (rc < 0)
                goto out;
        rc = 0;
out:
        if (rc < 0) {
                tagger_destroy(s);
                s = NULL;
        }
        *state = s;
        return rc;
}

static int
tagger_init_params(void *state, socfw_params *ps, socfw_rng *rng,
                   socfw_error *err)
{
        tagger *s = state;
        if (!s || !ps || !rng)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tagger: init_params needs the state, "
                                       "the store and an rng");
        s->ps = ps;
        int rc = socfw_params_init_normal(ps, s->w_out, 0.0f, 0.02f, rng);
        if (rc == 0)
                rc = socfw_params_init_const(ps, s->b_out, 0.0f);
        if (rc < 0)
                return socfw_error_set(err, rc,
                                       "tagger: cannot initialise '%s.*'; "
                                       "hint: was the parameter store "
                                       "finalized?",
                                       s->prefix);
        return 0;
}

static size_t
tagger_output_size(void *state, int B, int T)
{
        tagger *s = state;
        return s && B > 0 && T > 0 ? (size_t)B * (size_t)T * (size_t)s->K
                                   : 0;
}

static float *
grad_of(const tagger *s, int idx)
{
        if (idx < 0 || !socfw_params_trainable(s->ps, idx))
                return NULL;
        return socfw_params_grad(s->ps, idx);
}

/* The input of the output layer: the hidden states themselves, or their
 * dropped-out copy. */
static const float *
layer_input(const tagger *s, const socfw_head_io *io)
{
        return s->p > 0.0f ? (const float *)s->xbuf.p : io->hidden;
}

/* The window of position t: its row and the L following rows of the same
 * sequence, zeros past the end or on padding. */
static int
window_has(const int32_t *mask, int T, int b, int t)
{
        return t < T && head_real(mask, (size_t)b * T + t);
}

static void
gather_window(float *w, const float *x, const int32_t *mask, int B, int T,
              int C, int L)
{
        size_t CW = (size_t)C * (L + 1);
        for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                        float *row = w + ((size_t)b * T + t) * CW;
                        for (int j = 0; j <= L; j++) {
                                float *dst = row + (size_t)j * C;
                                if (window_has(mask, T, b, t + j))
                                        memcpy(dst,
                                               x + ((size_t)b * T + t + j) *
                                                           C,
                                               (size_t)C * sizeof *dst);
                                else
                                        memset(dst, 0,
                                               (size_t)C * sizeof *dst);
                        }
                }
}

/* dx(t + j) += dw(t)[j] for every window that read row t + j. */
static void
scatter_window(float *dx, const float *dw, const int32_t *mask, int B, int T,
               int C, int L)
{
        size_t CW = (size_t)C * (L + 1);
        for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                        if (!head_real(mask, (size_t)b * T + t))
                                continue;
                        const float *row = dw + ((size_t)b * T + t) * CW;
                        for (int j = 0; j <= L; j++) {
                                if (!window_has(mask, T, b, t + j))
                                        continue;
                                float *d = dx + ((size_t)b * T + t + j) * C;
                                const float *g = row + (size_t)j * C;
                                for (int c = 0; c < C; c++)
                                        d[c] += g[c];
                        }
                }
}

static int
tagger_forward(void *state, socfw_head_io *io, socfw_error *err)
{
        tagger *s = state;
        if (!s || !io || !io->hidden || !io->out || io->B <= 0 ||
            io->T <= 0 || io->C != (s ? s->C : -1))
                return socfw_error_set(
                        err, SOCFW_EINVAL,
                        "tagger: forward got B=%d T=%d C=%d (expected B, T > "
                        "0 and C = %d), or no hidden/out",
                        io ? io->B : 0, io ? io->T : 0, io ? io->C : 0,
                        s ? s->C : 0);
        if (!socfw_params_is_finalized(s->ps))
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "tagger: the parameter store is not "
                                       "finalized");
        int C = s->C, K = s->K;
        size_t N = (size_t)io->B * io->T;
        float p = io->training ? s->dropout : 0.0f;
        if (p > 0.0f) {
                if (!io->rng)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "tagger: training with "
                                               "dropout %g needs io->rng",
                                               (double)p);
                float *x = head_buf_get(&s->xbuf, N * C, sizeof(float));
                uint8_t *m = head_buf_get(&s->mbuf, N * C, 1);
                if (!x || !m)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "tagger: out of memory for "
                                               "%zu tokens",
                                               N);
                int rc = socfw_nn_dropout_forward(x, m, io->hidden, N * C, p,
                                                  io->rng);
                if (rc < 0)
                        return socfw_error_set(err, rc,
                                               "tagger: dropout failed");
        }
        s->p = p;
        const float *x = layer_input(s, io);
        int CW = C * (s->L + 1);
        if (s->L > 0) {
                float *w = head_buf_get(&s->wbuf, N * CW, sizeof(float));
                if (!w)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "tagger: out of memory for "
                                               "%zu tokens",
                                               N);
                gather_window(w, x, io->mask, io->B, io->T, C, s->L);
                x = w;
        }
        const float *W = socfw_params_data(s->ps, s->w_out);
        const float *bias = socfw_params_data(s->ps, s->b_out);
        memset(io->out, 0, N * K * sizeof *io->out);
        size_t b0, e0, from = 0;
        while (head_next_run(io->mask, N, from, &b0, &e0)) {
                socfw_nn_linear_forward(io->out + b0 * K, x + b0 * CW, W,
                                        bias, (int)(e0 - b0), CW, K);
                from = e0;
        }
        io->out_len = N * K;
        s->B = io->B;
        s->T = io->T;
        return 0;
}

static int
tagger_loss(void *state, socfw_head_io *io, const socfw_head_targets *tg,
            float *loss, socfw_error *err)
{
        tagger *s = state;
        if (!s || !io || !io->out || !loss)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tagger: loss needs the state, "
                                       "io->out and a loss pointer");
        if (io->B != s->B || io->T != s->T)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "tagger: loss for B=%d T=%d does not "
                                       "match the last forward (B=%d T=%d)",
                                       io->B, io->T, s->B, s->T);
        if (!tg || !tg->tags || (tg->kind != SOCFW_TARGET_TAGS &&
                                 tg->kind != SOCFW_TARGET_TOKENS))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tagger: the loss needs per-token "
                                       "tags (kind %d given); hint: the task "
                                       "should set word tags",
                                       tg ? (int)tg->kind : 0);
        size_t N = (size_t)s->B * s->T;
        int32_t *t = head_buf_get(&s->tbuf, N, sizeof(int32_t));
        if (!t)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "tagger: out of memory");
        for (size_t i = 0; i < N; i++)
                t[i] = head_real(io->mask, i) ? tg->tags[i] : -100;
        socfw_nn_xent_opts o = SOCFW_NN_XENT_OPTS_INIT;
        o.label_smoothing = s->smoothing;
        o.class_weights = tg->class_weight;
        int rc = socfw_nn_cross_entropy_forward_backward(
                loss, NULL, io->dout, io->out, t, (int)N, s->K, &o, err);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "tagger: ");
        return 0;
}

static int
tagger_backward(void *state, socfw_head_io *io, socfw_error *err)
{
        tagger *s = state;
        if (!s || !io || !io->dout || !io->hidden)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tagger: backward needs the state, "
                                       "io->hidden and io->dout");
        if (io->B != s->B || io->T != s->T || io->C != s->C)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "tagger: backward for B=%d T=%d does "
                                       "not match the last forward (B=%d "
                                       "T=%d)",
                                       io->B, io->T, s->B, s->T);
        int C = s->C, K = s->K;
        size_t N = (size_t)s->B * s->T;
        const float *x = layer_input(s, io);
        const float *W = socfw_params_data(s->ps, s->w_out);
        float *dW = grad_of(s, s->w_out), *db = grad_of(s, s->b_out);
        float *dx = io->dhidden;
        if (dx && s->p > 0.0f) {
                dx = head_buf_get(&s->dxbuf, N * C, sizeof(float));
                if (!dx)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "tagger: out of memory");
                memset(dx, 0, N * C * sizeof *dx);
        }
        int CW = C * (s->L + 1);
        float *dwin = NULL;
        if (s->L > 0) {
                x = s->wbuf.p; /* the windows the forward pass read */
                if (dx) {
                        dwin = head_buf_get(&s->dwbuf, N * CW,
                                            sizeof(float));
                        if (!dwin)
                                return socfw_error_set(err, SOCFW_ENOMEM,
                                                       "tagger: out of "
                                                       "memory");
                        memset(dwin, 0, N * CW * sizeof *dwin);
                }
        }
        float *dlayer = dwin ? dwin : dx;
        size_t b0, e0, from = 0;
        while (head_next_run(io->mask, N, from, &b0, &e0)) {
                socfw_nn_linear_backward(dlayer ? dlayer + b0 * CW : NULL,
                                         dW, db, io->dout + b0 * K,
                                         x + b0 * CW, W, (int)(e0 - b0), CW,
                                         K);
                from = e0;
        }
        if (dwin)
                scatter_window(dx, dwin, io->mask, s->B, s->T, C, s->L);
        if (dx && dx != io->dhidden)
                socfw_nn_dropout_backward(io->dhidden, dx, s->mbuf.p, N * C,
                                          s->p);
        return 0;
}

SOCFW_HEAD_PLUGIN(tagger,
        .version = "0.2.0",
        .description = "Token tagger: dropout and a linear layer per token "
                       "(optionally reading the next positions too) to the "
                       "tags; cross-entropy over tagged tokens.",
        .license = "MIT",
        .author = "socfw",
        .params = params,
        .loss_params = loss_params,
        .head = SOCFW_HEAD_HOOKS(.create = tagger_create,
                                 .destroy = tagger_destroy,
                                 .init_params = tagger_init_params,
                                 .forward = tagger_forward,
                                 .loss = tagger_loss,
                                 .backward = tagger_backward,
                                 .output_size = tagger_output_size),
        .target = SOCFW_TARGET_TAGS);

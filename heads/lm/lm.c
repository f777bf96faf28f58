/* lm.c - language-model head: next-token logits over the vocabulary.
 *
 *     logits (B,T,V) = hidden (B,T,C) @ W^T [+ bias (V)]
 *
 * W (V,C) is the backbone's token embedding (dims->embedding) when
 * `tie_weights: true` (the default) and the backbone lends it; its gradient
 * then goes to dims->embedding_grad (skipped when that is NULL: a frozen
 * embedding).  Otherwise the head owns W as <prefix>.out.weight (V,C),
 * initialised N(0, 0.02).  `bias: true` adds <prefix>.out.bias (V), zero at
 * start.  Prefix "head.lm" by default (see heads/head_util.h).  The
 * embedding pointer is kept from create and read at every forward/backward,
 * so it must stay valid for the head's lifetime.
 *
 * Padding positions (mask 0) are skipped: their logits are 0 and they
 * receive no gradient.
 *
 * Loss: cross_entropy of the logits at position t against tags[b*T+t]
 * (targets TOKENS or TAGS, already shifted by the host: the id to predict
 * at t; -100 where nothing is learnt, e.g. the context), mean over the
 * counted positions, optional label_smoothing: torch cross_entropy with
 * ignore_index=-100.  Loss and d logits are computed in one fused pass per
 * row (socfw_nn_cross_entropy_forward_backward), straight into io->dout.
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

static const socfw_param_spec params[] = {
        {.key = "tie_weights", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "Use the backbone's token embedding as the output matrix "
                 "(GPT-2, Llama with tied embeddings); false, or a backbone "
                 "without one, gives the head its own (V,C) matrix."},
        {.key = "bias", .type = SOCFW_PARAM_BOOL, .default_value = "false",
         .help = "Add a learnt bias per vocabulary entry to the logits."},
        {.key = "prefix", .type = SOCFW_PARAM_STRING,
         .help = "Name prefix of the head's own tensors in checkpoints; "
                 "default head.lm (head.lm.1, ... for further lm heads)."},
        {0}};

static const socfw_param_spec loss_params[] = {
        {.key = "type", .type = SOCFW_PARAM_ENUM,
         .default_value = "cross_entropy", .choices = loss_choices,
         .help = "Next-token cross-entropy over the learnt positions "
                 "(target -100 and padding are ignored)."},
        {.key = "label_smoothing", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.0", .min = 0.0, .max = 1.0,
         .help = "Label smoothing epsilon (torch semantics)."},
        {0}};

/* ---- state ---- */

typedef struct {
        char prefix[HEAD_PREFIX_MAX + 16];
        socfw_params *ps;
        int C, V;
        float smoothing;
        const float *tied;      /* borrowed (V,C) embedding, or NULL      */
        float *tied_grad;       /* its gradient, may be NULL              */
        int w_out, b_out;       /* own tensors, -1 when absent            */
        int B, T;               /* last forward                           */
        head_buf tbuf;          /* (B*T) targets with padding -100        */
} lm;

static void
lm_destroy(void *state)
{
        lm *s = state;
        if (!s)
                return;
        head_buf_free(&s->tbuf);
        free(s);
}

static int
lm_create(const socfw_config *head_cfg, const socfw_config *loss_cfg,
          const socfw_head_dims *dims, socfw_params *ps, void **state,
          socfw_error *err)
{
        int rc = 0;
        lm *s = NULL;

        if (!dims || !ps || !state)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "lm: create needs dims, a parameter "
                                       "store and a state pointer");
        if (dims->hidden <= 0 || dims->n_outputs <= 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "lm: hidden size %d and vocabulary "
                                       "size %d must be positive",
                                       dims->hidden, dims->n_outputs);
        s = calloc(1, sizeof *s);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM, "lm: out of memory");
        s->ps = ps;
        s->C = dims->hidden;
        s->V = dims->n_outputs;
        s->w_out = s->b_out = -1;
        const char *lt = socfw_config_get_string(loss_cfg, "type");
        if (lt && strcmp(lt, "cross_entropy") != 0) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "lm: unknown loss '%s' (expected "
                                     "cross_entropy)",
                                     lt);
                goto out;
        }
        s->smoothing = (float)socfw_config_get_float(loss_cfg,
                                                     "label_smoothing");
        if (!(s->smoothing >= 0.0f && s->smoothing <= 1.0f)) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "lm: label_smoothing %g is outside "
                                     "[0, 1]",
                                     (double)s->smoothing);
                goto out;
        }
        bool tie = socfw_config_get_bool(head_cfg, "tie_weights");
        bool bias = socfw_config_get_bool(head_cfg, "bias");
        if (tie && dims->embedding) {
                s->tied = dims->embedding;
                s->tied_grad = dims->embedding_grad;
        }
        if (!s->tied || bias) {
                rc = head_prefix(head_cfg, ps, "lm", s->prefix,
                                 sizeof s->prefix, err);
                if (rc < 0)
                        goto out;
        }
        if (!s->tied) {
                rc = s->w_out = head_add(ps, s->prefix, "out.weight", 2, s->V,
                                         s->C, err);
                if (rc < 0)
                        goto out;
        }
        if (bias) {
                rc = s->b_out = head_add(ps, s->prefix, "out.bias", 1, s->V,
                                         0, err);
                if (rc < 0)
                        goto out;
        }
        rc = 0;
out:
        if (rc < 0) {
                lm_destroy(s);
                s = NULL;
        }
        *state = s;
        return rc;
}

static int
lm_init_params(void *state, socfw_params *ps, socfw_rng *rng,
               socfw_error *err)
{
        lm *s = state;
        if (!s || !ps || !rng)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "lm: init_params needs the state, the "
                                       "store and an rng");
        s->ps = ps;
        int rc = 0;
        if (s->w_out >= 0)
                rc = socfw_params_init_normal(ps, s->w_out, 0.0f, 0.02f, rng);
        if (rc == 0 && s->b_out >= 0)
                rc = socfw_params_init_const(ps, s->b_out, 0.0f);
        if (rc < 0)
                return socfw_error_set(err, rc,
                                       "lm: cannot initialise '%s.*'; hint: "
                                       "was the parameter store finalized?",
                                       s->prefix);
        return 0;
}

static size_t
lm_output_size(void *state, int B, int T)
{
        lm *s = state;
        return s && B > 0 && T > 0 ? (size_t)B * (size_t)T * (size_t)s->V
                                   : 0;
}

static const float *
weight_of(const lm *s)
{
        return s->tied ? s->tied : socfw_params_data(s->ps, s->w_out);
}

static float *
grad_of(const lm *s, int idx)
{
        if (idx < 0 || !socfw_params_trainable(s->ps, idx))
                return NULL;
        return socfw_params_grad(s->ps, idx);
}

static int
lm_forward(void *state, socfw_head_io *io, socfw_error *err)
{
        lm *s = state;
        if (!s || !io || !io->hidden || !io->out || io->B <= 0 ||
            io->T <= 0 || io->C != (s ? s->C : -1))
                return socfw_error_set(
                        err, SOCFW_EINVAL,
                        "lm: forward got B=%d T=%d C=%d (expected B, T > 0 "
                        "and C = %d), or no hidden/out",
                        io ? io->B : 0, io ? io->T : 0, io ? io->C : 0,
                        s ? s->C : 0);
        if ((s->w_out >= 0 || s->b_out >= 0) &&
            !socfw_params_is_finalized(s->ps))
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "lm: the parameter store is not "
                                       "finalized");
        int C = s->C, V = s->V;
        size_t N = (size_t)io->B * io->T;
        const float *W = weight_of(s);
        const float *bias =
                s->b_out >= 0 ? socfw_params_data(s->ps, s->b_out) : NULL;
        size_t b0, e0, from = 0, done = 0;
        while (head_next_run(io->mask, N, from, &b0, &e0)) {
                if (b0 > done)
                        memset(io->out + done * V, 0,
                               (b0 - done) * V * sizeof *io->out);
                socfw_nn_linear_forward(io->out + b0 * V, io->hidden + b0 * C,
                                        W, bias, (int)(e0 - b0), C, V);
                from = done = e0;
        }
        if (done < N)
                memset(io->out + done * V, 0, (N - done) * V * sizeof *io->out);
        io->out_len = N * V;
        s->B = io->B;
        s->T = io->T;
        return 0;
}

static int
lm_loss(void *state, socfw_head_io *io, const socfw_head_targets *tg,
        float *loss, socfw_error *err)
{
        lm *s = state;
        if (!s || !io || !io->out || !loss)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "lm: loss needs the state, io->out "
                                       "and a loss pointer");
        if (io->B != s->B || io->T != s->T)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "lm: loss for B=%d T=%d does not "
                                       "match the last forward (B=%d T=%d)",
                                       io->B, io->T, s->B, s->T);
        if (!tg || !tg->tags || (tg->kind != SOCFW_TARGET_TOKENS &&
                                 tg->kind != SOCFW_TARGET_TAGS))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "lm: the loss needs next-token "
                                       "targets (kind %d given)",
                                       tg ? (int)tg->kind : 0);
        size_t N = (size_t)s->B * s->T;
        int32_t *t = head_buf_get(&s->tbuf, N, sizeof(int32_t));
        if (!t)
                return socfw_error_set(err, SOCFW_ENOMEM, "lm: out of memory");
        for (size_t i = 0; i < N; i++)
                t[i] = head_real(io->mask, i) ? tg->tags[i] : -100;
        socfw_nn_xent_opts o = SOCFW_NN_XENT_OPTS_INIT;
        o.label_smoothing = s->smoothing;
        o.class_weights = tg->class_weight;
        int rc = socfw_nn_cross_entropy_forward_backward(
                loss, NULL, io->dout, io->out, t, (int)N, s->V, &o, err);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "lm: ");
        return 0;
}

static int
lm_backward(void *state, socfw_head_io *io, socfw_error *err)
{
        lm *s = state;
        if (!s || !io || !io->dout || !io->hidden)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "lm: backward needs the state, "
                                       "io->hidden and io->dout");
        if (io->B != s->B || io->T != s->T || io->C != s->C)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "lm: backward for B=%d T=%d does not "
                                       "match the last forward (B=%d T=%d)",
                                       io->B, io->T, s->B, s->T);
        int C = s->C, V = s->V;
        size_t N = (size_t)s->B * s->T;
        const float *W = weight_of(s);
        float *dW = s->tied ? s->tied_grad : grad_of(s, s->w_out);
        float *db = grad_of(s, s->b_out);
        size_t b0, e0, from = 0;
        while (head_next_run(io->mask, N, from, &b0, &e0)) {
                socfw_nn_linear_backward(
                        io->dhidden ? io->dhidden + b0 * C : NULL, dW, db,
                        io->dout + b0 * V, io->hidden + b0 * C, W,
                        (int)(e0 - b0), C, V);
                from = e0;
        }
        return 0;
}

SOCFW_HEAD_PLUGIN(lm,
        .version = "0.1.0",
        .description = "Language-model head: logits over the vocabulary, "
                       "tied to the backbone's embedding by default; "
                       "next-token cross-entropy on the learnt positions.",
        .license = "MIT",
        .author = "socfw",
        .params = params,
        .loss_params = loss_params,
        .head = SOCFW_HEAD_HOOKS(.create = lm_create,
                                 .destroy = lm_destroy,
                                 .init_params = lm_init_params,
                                 .forward = lm_forward,
                                 .loss = lm_loss,
                                 .backward = lm_backward,
                                 .output_size = lm_output_size),
        .target = SOCFW_TARGET_TOKENS);

/* classifier.c - sequence classification head.
 *
 *     hidden (B,T,C) --pool--> (B,C) --dropout--> [dense (H) -> act ->
 *     dropout] --> linear --> logits (B,K)
 *
 * pooling: cls (first token), mean (over real tokens), last (last real
 * token), max (element-wise over real tokens).  The optional hidden layer
 * (`hidden: H`) uses tanh, gelu (tanh approximation, torch
 * approximate="tanh") or relu.
 *
 * Losses (`loss: {type: ...}`):
 *   cross_entropy  single label, targets CLASS (class_ids[B], -100 =
 *                  ignored), optional label_smoothing and per-class weights
 *                  (targets->class_weight): exactly
 *                  torch.nn.functional.cross_entropy(reduction="mean").
 *   bce            multi-label, targets MULTI_LABEL (multi[B*K] in [0,1]):
 *                  torch BCEWithLogitsLoss(weight=class_weight) with the
 *                  mean over all B*K entries (as torch and Hugging Face do);
 *                  label_smoothing moves targets to y(1-e) + e/2.
 *
 * Tensors ("<prefix>" as in heads/head_util.h, "head.classifier" by
 * default): <prefix>.dense.weight (H,C), <prefix>.dense.bias (H) when
 * hidden > 0, <prefix>.out.weight (K,F), <prefix>.out.bias (K) with F = H or
 * C.  Weights start N(0, 0.02), biases 0.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/nn.h"
#include "socfw/params.h"
#include "socfw/plugin.h"

#include "../head_util.h"

/* ---- parameter specs ---- */

static const char *const pooling_choices[] = {"cls", "mean", "last", "max",
                                              NULL};
static const char *const act_choices[] = {"tanh", "gelu", "relu", NULL};
static const char *const loss_choices[] = {"cross_entropy", "bce", NULL};
static const char *const weight_choices[] = {"none", "balanced", NULL};

static const socfw_param_spec params[] = {
        {.key = "pooling", .type = SOCFW_PARAM_ENUM, .default_value = "mean",
         .choices = pooling_choices,
         .help = "How a sequence becomes one vector: cls (first token), "
                 "mean (over real tokens), last (last real token; good for "
                 "GPT-style models), max (element-wise over real tokens)."},
        {.key = "hidden", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 65536,
         .help = "Size of an extra hidden layer before the output layer; "
                 "0 = none (pooled vector straight to the logits)."},
        {.key = "activation", .type = SOCFW_PARAM_ENUM,
         .default_value = "tanh", .choices = act_choices,
         .help = "Activation of the hidden layer (gelu is the tanh "
                 "approximation).  Ignored when hidden is 0."},
        {.key = "dropout", .type = SOCFW_PARAM_FLOAT, .default_value = "0.1",
         .min = 0.0, .max = 0.95,
         .help = "Dropout on the pooled vector and on the hidden layer "
                 "during training."},
        {.key = "prefix", .type = SOCFW_PARAM_STRING,
         .help = "Name prefix of the head's tensors in checkpoints; default "
                 "head.classifier (head.classifier.1, ... for further "
                 "classifier heads)."},
        {0}};

static const socfw_param_spec loss_params[] = {
        {.key = "type", .type = SOCFW_PARAM_ENUM,
         .default_value = "cross_entropy", .choices = loss_choices,
         .help = "cross_entropy: one class per example; bce: multi-label "
                 "(independent sigmoid per class, mean over all entries)."},
        {.key = "label_smoothing", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.0", .min = 0.0, .max = 1.0,
         .help = "Label smoothing epsilon (torch semantics for "
                 "cross_entropy; targets y(1-e)+e/2 for bce)."},
        {.key = "class_weights", .type = SOCFW_PARAM_ENUM,
         .default_value = "none", .choices = weight_choices,
         .help = "Per-class loss weights: none, or balanced (n_samples / "
                 "(n_classes * count), computed by the host from the "
                 "training data)."},
        {0}};

/* ---- state ---- */

enum { ACT_TANH, ACT_GELU, ACT_RELU };
enum { LOSS_CE, LOSS_BCE };

typedef struct {
        char prefix[HEAD_PREFIX_MAX + 16];
        socfw_params *ps;
        head_pool pool;
        int C, K, H, act, loss;
        float dropout, smoothing;
        int w_dense, b_dense, w_out, b_out;     /* tensor indices, -1 none */

        /* saved by forward for backward */
        int B, T;
        bool training;
        float *pooled, *x1, *hpre, *hact, *x2;  /* (B,C) (B,C) (B,H) x3   */
        uint8_t *m1, *m2;                       /* dropout masks          */
        int32_t *arg;                           /* (B,C) pooling record   */
        head_buf bufs[11];                      /* storage of the above
                                                   and backward scratch  */
} classifier;

static void
classifier_destroy(void *state)
{
        classifier *s = state;
        if (!s)
                return;
        for (size_t i = 0; i < sizeof s->bufs / sizeof s->bufs[0]; i++)
                head_buf_free(&s->bufs[i]);
        free(s);
}

static int
classifier_create(const socfw_config *head_cfg, const socfw_config *loss_cfg,
                  const socfw_head_dims *dims, socfw_params *ps, void **state,
                  socfw_error *err)
{
        int rc = 0;
        classifier *s = NULL;

        if (!dims || !ps || !state)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classifier: create needs dims, a "
                                       "parameter store and a state pointer");
        if (dims->hidden <= 0 || dims->n_outputs <= 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classifier: hidden size %d and "
                                       "n_outputs %d must be positive; "
                                       "hint: does the task have labels?",
                                       dims->hidden, dims->n_outputs);
        s = calloc(1, sizeof *s);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "classifier: out of memory");
        s->ps = ps;
        s->C = dims->hidden;
        s->K = dims->n_outputs;
        s->w_dense = s->b_dense = -1;
        const char *pool = socfw_config_get_string(head_cfg, "pooling");
        if (head_pool_parse(pool ? pool : "mean", &s->pool) < 0) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "classifier: unknown pooling '%s' "
                                     "(expected cls, mean, last or max)",
                                     pool);
                goto out;
        }
        int64_t h = socfw_config_get_int(head_cfg, "hidden");
        if (h < 0 || h > 65536) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "classifier: hidden %lld is outside "
                                     "[0, 65536]",
                                     (long long)h);
                goto out;
        }
        s->H = (int)h;
        const char *act = socfw_config_get_string(head_cfg, "activation");
        if (!act || strcmp(act, "tanh") == 0)
                s->act = ACT_TANH;
        else if (strcmp(act, "gelu") == 0)
                s->act = ACT_GELU;
        else if (strcmp(act, "relu") == 0)
                s->act = ACT_RELU;
        else {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "classifier: unknown activation '%s' "
                                     "(expected tanh, gelu or relu)",
                                     act);
                goto out;
        }
        s->dropout = (float)socfw_config_get_float(head_cfg, "dropout");
        if (!(s->dropout >= 0.0f && s->dropout < 1.0f)) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "classifier: dropout %g is outside "
                                     "[0, 1)",
                                     (double)s->dropout);
                goto out;
        }
        const char *lt = socfw_config_get_string(loss_cfg, "type");
        if (!lt || strcmp(lt, "cross_entropy") == 0)
                s->loss = LOSS_CE;
        else if (strcmp(lt, "bce") == 0)
                s->loss = LOSS_BCE;
        else {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "classifier: unknown loss '%s' "
                                     "(expected cross_entropy or bce)",
                                     lt);
                goto out;
        }
        s->smoothing = (float)socfw_config_get_float(loss_cfg,
                                                     "label_smoothing");
        if (!(s->smoothing >= 0.0f && s->smoothing <= 1.0f)) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "classifier: label_smoothing %g is "
                                     "outside [0, 1]",
                                     (double)s->smoothing);
                goto out;
        }

        rc = head_prefix(head_cfg, ps, "classifier", s->prefix,
                         sizeof s->prefix, err);
        if (rc < 0)
                goto out;
        int F = s->H > 0 ? s->H : s->C;
        if (s->H > 0) {
                rc = s->w_dense = head_add(ps, s->prefix, "dense.weight", 2,
                                           s->H, s->C, err);
                if (rc < 0)
                        goto out;
                rc = s->b_dense = head_add(ps, s->prefix, "dense.bias", 1,
                                           s->H, 0, err);
                if (rc < 0)
                        goto out;
        }
        rc = s->w_out = head_add(ps, s->prefix, "out.weight", 2, s->K, F,
                                 err);
        if (rc < 0)
                goto out;
        rc = s->b_out = head_add(ps, s->prefix, "out.bias", 1, s->K, 0, err);
        if (rc < 0)
                goto out;
        rc = 0;
out:
        if (rc < 0) {
                classifier_destroy(s);
                s = NULL;
        }
        *state = s;
        return rc;
}

static int
classifier_init_params(void *state, socfw_params *ps, socfw_rng *rng,
                       socfw_error *err)
{
        classifier *s = state;
        if (!s || !ps || !rng)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classifier: init_params needs the "
                                       "state, the store and an rng");
        s->ps = ps;
        int rc = 0;
        if (s->w_dense >= 0) {
                rc = socfw_params_init_normal(ps, s->w_dense, 0.0f, 0.02f,
                                              rng);
                if (rc == 0)
                        rc = socfw_params_init_const(ps, s->b_dense, 0.0f);
        }
        if (rc == 0)
                rc = socfw_params_init_normal(ps, s->w_out, 0.0f, 0.02f, rng);
        if (rc == 0)
                rc = socfw_params_init_const(ps, s->b_out, 0.0f);
        if (rc < 0)
                return socfw_error_set(err, rc,
                                       "classifier: cannot initialise "
                                       "'%s.*'; hint: was the parameter "
                                       "store finalized?",
                                       s->prefix);
        return 0;
}

static size_t
classifier_output_size(void *state, int B, int T)
{
        classifier *s = state;
        (void)T;
        return s && B > 0 ? (size_t)B * (size_t)s->K : 0;
}

static float *
grad_of(const classifier *s, int idx)
{
        if (idx < 0 || !socfw_params_trainable(s->ps, idx))
                return NULL;
        return socfw_params_grad(s->ps, idx);
}

static int
check_io(const classifier *s, const socfw_head_io *io, const char *hook,
         socfw_error *err)
{
        if (!io || !io->hidden || io->B <= 0 || io->T <= 0 || io->C != s->C)
                return socfw_error_set(
                        err, SOCFW_EINVAL,
                        "classifier: %s got B=%d T=%d C=%d (expected B, T "
                        "> 0 and C = %d) or no hidden states",
                        hook, io ? io->B : 0, io ? io->T : 0,
                        io ? io->C : 0, s->C);
        if (!io->out)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classifier: %s needs io->out; hint: "
                                       "allocate output_size() floats",
                                       hook);
        if (!socfw_params_is_finalized(s->ps))
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "classifier: the parameter store is "
                                       "not finalized");
        return 0;
}

static void
act_forward(int act, float *out, const float *in, size_t n)
{
        if (act == ACT_GELU) {
                socfw_nn_gelu_forward(out, in, n);
        } else if (act == ACT_TANH) {
                for (size_t i = 0; i < n; i++)
                        out[i] = tanhf(in[i]);
        } else {
                for (size_t i = 0; i < n; i++)
                        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        }
}

/* din += dout * act'(in); y is act(in). */
static void
act_backward(int act, float *din, const float *in, const float *y,
             const float *dout, size_t n)
{
        if (act == ACT_GELU) {
                socfw_nn_gelu_backward(din, in, dout, n);
        } else if (act == ACT_TANH) {
                for (size_t i = 0; i < n; i++)
                        din[i] += dout[i] * (1.0f - y[i] * y[i]);
        } else {
                for (size_t i = 0; i < n; i++)
                        if (in[i] > 0.0f)
                                din[i] += dout[i];
        }
}

static int
classifier_forward(void *state, socfw_head_io *io, socfw_error *err)
{
        classifier *s = state;
        if (!s)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classifier: forward without state");
        int rc = check_io(s, io, "forward", err);
        if (rc < 0)
                return rc;
        int B = io->B, T = io->T, C = s->C, H = s->H, K = s->K;
        float p = io->training ? s->dropout : 0.0f;
        if (p > 0.0f && !io->rng)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classifier: training with dropout "
                                       "%g needs io->rng",
                                       (double)p);
        size_t bc = (size_t)B * C, bh = (size_t)B * (H > 0 ? H : 1);
        s->pooled = head_buf_get(&s->bufs[0], bc, sizeof(float));
        s->x1 = head_buf_get(&s->bufs[1], bc, sizeof(float));
        s->arg = head_buf_get(&s->bufs[2], bc, sizeof(int32_t));
        s->m1 = head_buf_get(&s->bufs[3], bc, 1);
        s->hpre = head_buf_get(&s->bufs[4], bh, sizeof(float));
        s->hact = head_buf_get(&s->bufs[5], bh, sizeof(float));
        s->x2 = head_buf_get(&s->bufs[6], bh, sizeof(float));
        s->m2 = head_buf_get(&s->bufs[7], bh, 1);
        if (!s->pooled || !s->x1 || !s->arg || !s->m1 || !s->hpre ||
            !s->hact || !s->x2 || !s->m2)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "classifier: out of memory for a "
                                       "batch of %d",
                                       B);
        head_pool_forward(s->pooled, s->arg, io->hidden, io->mask, B, T, C,
                          s->pool);
        rc = socfw_nn_dropout_forward(s->x1, s->m1, s->pooled, bc, p,
                                      io->rng);
        if (rc < 0)
                return socfw_error_set(err, rc, "classifier: dropout failed");
        const float *last = s->x1;
        if (H > 0) {
                socfw_nn_linear_forward(s->hpre, s->x1,
                                        socfw_params_data(s->ps, s->w_dense),
                                        socfw_params_data(s->ps, s->b_dense),
                                        B, C, H);
                act_forward(s->act, s->hact, s->hpre, (size_t)B * H);
                rc = socfw_nn_dropout_forward(s->x2, s->m2, s->hact,
                                              (size_t)B * H, p, io->rng);
                if (rc < 0)
                        return socfw_error_set(err, rc,
                                               "classifier: dropout failed");
                last = s->x2;
        }
        socfw_nn_linear_forward(io->out, last,
                                socfw_params_data(s->ps, s->w_out),
                                socfw_params_data(s->ps, s->b_out), B,
                                H > 0 ? H : C, K);
        io->out_len = (size_t)B * K;
        s->B = B;
        s->T = T;
        s->training = p > 0.0f;
        return 0;
}

static int
loss_bce(classifier *s, socfw_head_io *io, const socfw_head_targets *tg,
         float *loss, socfw_error *err)
{
        int B = io->B, K = s->K;
        size_t n = (size_t)B * K;
        for (size_t i = 0; i < n; i++)
                if (!(tg->multi[i] >= 0.0f && tg->multi[i] <= 1.0f))
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "classifier: multi-label target %zu of "
                                "class %d is %g (expected 0..1)",
                                i / (size_t)K, (int)(i % (size_t)K),
                                (double)tg->multi[i]);
        double eps = s->smoothing, sum = 0.0;
        for (size_t i = 0; i < n; i++) {
                int k = (int)(i % (size_t)K);
                double w = tg->class_weight ? tg->class_weight[k] : 1.0;
                double z = io->out[i];
                double y = tg->multi[i] * (1.0 - eps) + 0.5 * eps;
                sum += w * (head_softplus(z) - y * z);
                if (io->dout)
                        io->dout[i] = (float)(w * (head_sigmoid(z) - y) /
                                              (double)n);
        }
        *loss = (float)(sum / (double)n);
        return 0;
}

static int
classifier_loss(void *state, socfw_head_io *io,
                const socfw_head_targets *tg, float *loss, socfw_error *err)
{
        classifier *s = state;
        if (!s || !io || !io->out || !loss)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classifier: loss needs the state, "
                                       "io->out and a loss pointer");
        if (io->B != s->B || io->out_len != (size_t)io->B * s->K)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "classifier: loss called for B=%d "
                                       "but the last forward had B=%d",
                                       io->B, s->B);
        if (s->loss == LOSS_BCE) {
                if (!tg || tg->kind != SOCFW_TARGET_MULTI_LABEL || !tg->multi)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "classifier: loss bce needs multi-label "
                                "targets (kind %d given); hint: use loss: "
                                "{type: cross_entropy} for one label per "
                                "example",
                                tg ? (int)tg->kind : 0);
                return loss_bce(s, io, tg, loss, err);
        }
        if (!tg || tg->kind != SOCFW_TARGET_CLASS || !tg->class_ids)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classifier: loss cross_entropy "
                                       "needs class targets (kind %d "
                                       "given); hint: use loss: {type: "
                                       "bce} for multi-label data",
                                       tg ? (int)tg->kind : 0);
        socfw_nn_xent_opts o = SOCFW_NN_XENT_OPTS_INIT;
        o.label_smoothing = s->smoothing;
        o.class_weights = tg->class_weight;
        int rc = socfw_nn_cross_entropy_forward_backward(
                loss, NULL, io->dout, io->out, tg->class_ids, io->B, s->K, &o,
                err);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "classifier: ");
        return 0;
}

static int
classifier_backward(void *state, socfw_head_io *io, socfw_error *err)
{
        classifier *s = state;
        if (!s || !io || !io->dout)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classifier: backward needs the "
                                       "state and io->dout");
        if (io->B != s->B || io->T != s->T || io->C != s->C)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "classifier: backward for B=%d T=%d "
                                       "does not match the last forward "
                                       "(B=%d T=%d)",
                                       io->B, io->T, s->B, s->T);
        int B = s->B, C = s->C, H = s->H, K = s->K;
        size_t bc = (size_t)B * C, bh = (size_t)B * (H > 0 ? H : 1);
        float p = s->training ? s->dropout : 0.0f;
        /* d1: d x2, then d hpre, then d pooled; d2: d hact; dx1: d x1 */
        float *d1 = head_buf_get(&s->bufs[8], bh > bc ? bh : bc,
                                 sizeof(float));
        float *d2 = head_buf_get(&s->bufs[9], bh, sizeof(float));
        float *dx1 = head_buf_get(&s->bufs[10], bc, sizeof(float));
        if (!d1 || !d2 || !dx1)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "classifier: out of memory");
        memset(dx1, 0, bc * sizeof *dx1);
        if (H > 0) {
                float *dx2 = d1, *dh = d2;
                memset(dx2, 0, (size_t)B * H * sizeof *dx2);
                socfw_nn_linear_backward(dx2, grad_of(s, s->w_out),
                                         grad_of(s, s->b_out), io->dout,
                                         s->x2,
                                         socfw_params_data(s->ps, s->w_out),
                                         B, H, K);
                /* dx2 -> dhact (through dropout), in d2 */
                memset(dh, 0, (size_t)B * H * sizeof *dh);
                socfw_nn_dropout_backward(dh, dx2, s->m2, (size_t)B * H, p);
                /* dhact -> dhpre, in d1 */
                memset(dx2, 0, (size_t)B * H * sizeof *dx2);
                act_backward(s->act, dx2, s->hpre, s->hact, dh,
                             (size_t)B * H);
                socfw_nn_linear_backward(
                        dx1, grad_of(s, s->w_dense), grad_of(s, s->b_dense),
                        dx2, s->x1, socfw_params_data(s->ps, s->w_dense), B,
                        C, H);
        } else {
                socfw_nn_linear_backward(dx1, grad_of(s, s->w_out),
                                         grad_of(s, s->b_out), io->dout,
                                         s->x1,
                                         socfw_params_data(s->ps, s->w_out),
                                         B, C, K);
        }
        if (!io->dhidden)
                return 0;
        float *dpool = d1;
        memset(dpool, 0, bc * sizeof *dpool);
        socfw_nn_dropout_backward(dpool, dx1, s->m1, bc, p);
        head_pool_backward(io->dhidden, dpool, s->arg, io->mask, B, s->T, C,
                           s->pool);
        return 0;
}

SOCFW_HEAD_PLUGIN(classifier,
        .version = "0.1.0",
        .description = "Sequence classifier: pooling (cls/mean/last/max), "
                       "optional hidden layer, dropout, linear to the "
                       "classes; cross-entropy or multi-label BCE loss.",
        .license = "MIT",
        .author = "socfw",
        .params = params,
        .loss_params = loss_params,
        .head = SOCFW_HEAD_HOOKS(.create = classifier_create,
                                 .destroy = classifier_destroy,
                                 .init_params = classifier_init_params,
                                 .forward = classifier_forward,
                                 .loss = classifier_loss,
                                 .backward = classifier_backward,
                                 .output_size = classifier_output_size),
        .target = SOCFW_TARGET_CLASS);

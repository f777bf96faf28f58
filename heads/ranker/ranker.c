/* ranker.c - embedding head for retrieval and recommendation.
 *
 *     hidden (B,T,C) --pool--> (B,C) [--linear--> (B,dim)] [--L2 norm-->]
 *     out (B,D), D = dim or C when dim is 0
 *
 * pooling: mean (over real tokens), cls (first token), last (last real
 * token).  Normalisation is torch F.normalize (x / max(|x|, 1e-12)).
 *
 * Losses (`loss: {type: ...}`) score two embeddings by s = a.b / temperature.
 * The batch rows are laid out by the host as follows (k = rows per group):
 *
 *   in_batch_softmax  B = 2k: rows [q0 .. q_{k-1}, i0 .. i_{k-1}], query j
 *                     goes with item j, every other item of the batch is a
 *                     negative: cross-entropy over S = Q I^T / temperature
 *                     with the diagonal as the positives, mean over queries.
 *                     Targets are not read (may be NULL).
 *   bpr               B = 3k: rows [q0..q_{k-1}, pos0..pos_{k-1},
 *                     neg0..neg_{k-1}]: mean of -log sigmoid(s+ - s-).
 *   bce               B = 3k as for bpr: mean over the 2k pairs of binary
 *                     cross-entropy with label 1 for (q,pos) and 0 for
 *                     (q,neg); or, when the targets are SCORE
 *                     (score[k] in [0,1]), B = 2k pairs laid out as for
 *                     in_batch_softmax, each with its own label score[j].
 *
 * The runtime builds these layouts from a task's (query, item) pair
 * examples in framework/train/retrieval.c (bpr negatives: the items of
 * random training pairs); inference (socfw_task_infer) returns one row's
 * embedding, which tasks such as plugins/recommend use to rank a whole
 * catalogue.
 *
 * Tensors: <prefix>.proj.weight (dim,C) and <prefix>.proj.bias (dim) when
 * dim > 0; prefix "head.ranker" by default (see heads/head_util.h).
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

static const char *const pooling_choices[] = {"mean", "cls", "last", NULL};
static const char *const loss_choices[] = {"in_batch_softmax", "bpr", "bce",
                                           NULL};

static const socfw_param_spec params[] = {
        {.key = "pooling", .type = SOCFW_PARAM_ENUM, .default_value = "mean",
         .choices = pooling_choices,
         .help = "How a sequence becomes one vector: mean (over real "
                 "tokens), cls (first token) or last (last real token)."},
        {.key = "dim", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 65536,
         .help = "Size of the embedding after a linear projection; 0 keeps "
                 "the backbone's hidden size (no projection)."},
        {.key = "normalize", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "L2-normalise the embeddings (scores become cosine "
                 "similarities divided by the temperature)."},
        {.key = "prefix", .type = SOCFW_PARAM_STRING,
         .help = "Name prefix of the head's tensors in checkpoints; default "
                 "head.ranker (head.ranker.1, ... for further ranker "
                 "heads)."},
        {0}};

static const socfw_param_spec loss_params[] = {
        {.key = "type", .type = SOCFW_PARAM_ENUM,
         .default_value = "in_batch_softmax", .choices = loss_choices,
         .help = "in_batch_softmax: rows [q0..q(k-1), i0..i(k-1)], the "
                 "other items of the batch are negatives; bpr and bce: rows "
                 "[q..., pos..., neg...] (bce with SCORE targets: rows "
                 "[q..., item...] labelled by score)."},
        {.key = "temperature", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.05", .min = 1e-4, .max = 100.0,
         .help = "Scores are dot products divided by this (0.05 with "
                 "normalised embeddings is the usual choice)."},
        {0}};

/* ---- state ---- */

enum { LOSS_SOFTMAX, LOSS_BPR, LOSS_BCE };

typedef struct {
        char prefix[HEAD_PREFIX_MAX + 16];
        socfw_params *ps;
        head_pool pool;
        int C, dim, D;          /* D: output size (dim or C)              */
        bool normalize;
        int loss;
        float temperature;
        int w_proj, b_proj;     /* -1 when dim is 0                       */

        /* saved by forward */
        int B, T;
        float *pooled, *y, *norm;       /* (B,C) (B,D) (B)               */
        int32_t *arg;                   /* (B,C)                         */
        head_buf bufs[8];
} ranker;

static void
ranker_destroy(void *state)
{
        ranker *s = state;
        if (!s)
                return;
        for (size_t i = 0; i < sizeof s->bufs / sizeof s->bufs[0]; i++)
                head_buf_free(&s->bufs[i]);
        free(s);
}

static int
ranker_create(const socfw_config *head_cfg, const socfw_config *loss_cfg,
              const socfw_head_dims *dims, socfw_params *ps, void **state,
              socfw_error *err)
{
        int rc = 0;
        ranker *s = NULL;

        if (!dims || !ps || !state)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "ranker: create needs dims, a "
                                       "parameter store and a state pointer");
        if (dims->hidden <= 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "ranker: hidden size %d must be "
                                       "positive",
                                       dims->hidden);
        s = calloc(1, sizeof *s);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "ranker: out of memory");
        s->ps = ps;
        s->C = dims->hidden;
        s->w_proj = s->b_proj = -1;
        const char *pool = socfw_config_get_string(head_cfg, "pooling");
        if (head_pool_parse(pool ? pool : "mean", &s->pool) < 0 ||
            s->pool == HEAD_POOL_MAX) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "ranker: unknown pooling '%s' "
                                     "(expected mean, cls or last)",
                                     pool);
                goto out;
        }
        int64_t dim = socfw_config_get_int(head_cfg, "dim");
        if (dim < 0 || dim > 65536) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "ranker: dim %lld is outside [0, "
                                     "65536]",
                                     (long long)dim);
                goto out;
        }
        s->dim = (int)dim;
        s->D = s->dim > 0 ? s->dim : s->C;
        s->normalize = socfw_config_get_bool(head_cfg, "normalize");
        const char *lt = socfw_config_get_string(loss_cfg, "type");
        if (!lt || strcmp(lt, "in_batch_softmax") == 0)
                s->loss = LOSS_SOFTMAX;
        else if (strcmp(lt, "bpr") == 0)
                s->loss = LOSS_BPR;
        else if (strcmp(lt, "bce") == 0)
                s->loss = LOSS_BCE;
        else {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "ranker: unknown loss '%s' (expected "
                                     "in_batch_softmax, bpr or bce)",
                                     lt);
                goto out;
        }
        s->temperature = (float)socfw_config_get_float(loss_cfg,
                                                       "temperature");
        if (!(s->temperature > 0.0f))
                s->temperature = 0.05f;
        if (s->dim > 0) {
                rc = head_prefix(head_cfg, ps, "ranker", s->prefix,
                                 sizeof s->prefix, err);
                if (rc < 0)
                        goto out;
                rc = s->w_proj = head_add(ps, s->prefix, "proj.weight", 2,
                                          s->dim, s->C, err);
                if (rc < 0)
                        goto out;
                rc = s->b_proj = head_add(ps, s->prefix, "proj.bias", 1,
                                          s->dim, 0, err);
                if (rc < 0)
                        goto out;
        }
        rc = 0;
out:
        if (rc < 0) {
                ranker_destroy(s);
                s = NULL;
        }
        *state = s;
        return rc;
}

static int
ranker_init_params(void *state, socfw_params *ps, socfw_rng *rng,
                   socfw_error *err)
{
        ranker *s = state;
        if (!s || !ps || !rng)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "ranker: init_params needs the state, "
                                       "the store and an rng");
        s->ps = ps;
        if (s->w_proj < 0)
                return 0;
        int rc = socfw_params_init_normal(ps, s->w_proj, 0.0f, 0.02f, rng);
        if (rc == 0)
                rc = socfw_params_init_const(ps, s->b_proj, 0.0f);
        if (rc < 0)
                return socfw_error_set(err, rc,
                                       "ranker: cannot initialise '%s.*'; "
                                       "hint: was the parameter store "
                                       "finalized?",
                                       s->prefix);
        return 0;
}

static size_t
ranker_output_size(void *state, int B, int T)
{
        ranker *s = state;
        (void)T;
        return s && B > 0 ? (size_t)B * (size_t)s->D : 0;
}

static float *
grad_of(const ranker *s, int idx)
{
        if (idx < 0 || !socfw_params_trainable(s->ps, idx))
                return NULL;
        return socfw_params_grad(s->ps, idx);
}

#define NORM_EPS 1e-12

static int
ranker_forward(void *state, socfw_head_io *io, socfw_error *err)
{
        ranker *s = state;
        if (!s || !io || !io->hidden || !io->out || io->B <= 0 ||
            io->T <= 0 || io->C != (s ? s->C : -1))
                return socfw_error_set(
                        err, SOCFW_EINVAL,
                        "ranker: forward got B=%d T=%d C=%d (expected B, T > "
                        "0 and C = %d), or no hidden/out",
                        io ? io->B : 0, io ? io->T : 0, io ? io->C : 0,
                        s ? s->C : 0);
        if (s->w_proj >= 0 && !socfw_params_is_finalized(s->ps))
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "ranker: the parameter store is not "
                                       "finalized");
        int B = io->B, C = s->C, D = s->D;
        size_t bc = (size_t)B * C;
        s->pooled = head_buf_get(&s->bufs[0], bc, sizeof(float));
        s->arg = head_buf_get(&s->bufs[1], bc, sizeof(int32_t));
        s->y = head_buf_get(&s->bufs[2], (size_t)B * D, sizeof(float));
        s->norm = head_buf_get(&s->bufs[3], (size_t)B, sizeof(float));
        if (!s->pooled || !s->arg || !s->y || !s->norm)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "ranker: out of memory for a batch of "
                                       "%d",
                                       B);
        head_pool_forward(s->pooled, s->arg, io->hidden, io->mask, B, io->T,
                          C, s->pool);
        if (s->w_proj >= 0)
                socfw_nn_linear_forward(s->y, s->pooled,
                                        socfw_params_data(s->ps, s->w_proj),
                                        socfw_params_data(s->ps, s->b_proj),
                                        B, C, D);
        else
                memcpy(s->y, s->pooled, bc * sizeof *s->y);
        for (int b = 0; b < B; b++) {
                const float *y = s->y + (size_t)b * D;
                float *o = io->out + (size_t)b * D;
                if (!s->normalize) {
                        memcpy(o, y, (size_t)D * sizeof *o);
                        continue;
                }
                double ss = 0.0;
                for (int d = 0; d < D; d++)
                        ss += (double)y[d] * y[d];
                double n = sqrt(ss);
                s->norm[b] = (float)n;
                double inv = 1.0 / (n > NORM_EPS ? n : NORM_EPS);
                for (int d = 0; d < D; d++)
                        o[d] = (float)(y[d] * inv);
        }
        io->out_len = (size_t)B * D;
        s->B = B;
        s->T = io->T;
        return 0;
}

/* d (a.b) for pair (i, j) with upstream g: da += g b, db += g a. */
static void
pair_grad(float *dout, const float *e, int i, int j, double g, int D)
{
        const float *a = e + (size_t)i * D, *b = e + (size_t)j * D;
        float *da = dout + (size_t)i * D, *db = dout + (size_t)j * D;
        for (int d = 0; d < D; d++) {
                float ad = a[d], bd = b[d];
                da[d] += (float)(g * bd);
                db[d] += (float)(g * ad);
        }
}

static double
dot(const float *e, int i, int j, int D)
{
        double s = 0.0;
        for (int d = 0; d < D; d++)
                s += (double)e[(size_t)i * D + d] * e[(size_t)j * D + d];
        return s;
}

static int
loss_softmax(ranker *s, socfw_head_io *io, float *loss, socfw_error *err)
{
        int B = io->B, D = s->D, k = B / 2;
        if (B < 2 || B % 2)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "ranker: in_batch_softmax needs an "
                                       "even batch of (query, item) pairs "
                                       "laid out [q0..q(k-1), i0..i(k-1)], "
                                       "got B=%d",
                                       B);
        float *S = head_buf_get(&s->bufs[4], (size_t)k * k, sizeof(float));
        float *dS = head_buf_get(&s->bufs[5], (size_t)k * k, sizeof(float));
        int32_t *t = head_buf_get(&s->bufs[6], (size_t)k, sizeof(int32_t));
        if (!S || !dS || !t)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "ranker: out of memory");
        double inv_t = 1.0 / s->temperature;
        const float *e = io->out;
        for (int i = 0; i < k; i++) {
                t[i] = i;
                for (int j = 0; j < k; j++)
                        S[(size_t)i * k + j] =
                                (float)(dot(e, i, k + j, D) * inv_t);
        }
        int rc = socfw_nn_cross_entropy_forward_backward(loss, NULL, dS, S, t,
                                                         k, k, NULL, err);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "ranker: ");
        if (io->dout) {
                memset(io->dout, 0, (size_t)B * D * sizeof *io->dout);
                for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++)
                                pair_grad(io->dout, e, i, k + j,
                                          dS[(size_t)i * k + j] * inv_t, D);
        }
        return 0;
}

static int
loss_pairwise(ranker *s, socfw_head_io *io, const socfw_head_targets *tg,
              float *loss, socfw_error *err)
{
        int B = io->B, D = s->D;
        double inv_t = 1.0 / s->temperature, sum = 0.0;
        const float *e = io->out;
        bool scored = s->loss == LOSS_BCE && tg &&
                      tg->kind == SOCFW_TARGET_SCORE && tg->score;
        if (io->dout)
                memset(io->dout, 0, (size_t)B * D * sizeof *io->dout);
        if (scored) {
                if (B < 2 || B % 2)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "ranker: bce with scores needs an even batch "
                                "of (query, item) pairs laid out [q0..q(k-1), "
                                "i0..i(k-1)], got B=%d",
                                B);
                int k = B / 2;
                for (int j = 0; j < k; j++)
                        if (!(tg->score[j] >= 0.0f && tg->score[j] <= 1.0f))
                                return socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "ranker: bce label of pair %d is %g "
                                        "(expected 0..1)",
                                        j, (double)tg->score[j]);
                for (int j = 0; j < k; j++) {
                        double x = dot(e, j, k + j, D) * inv_t;
                        double y = tg->score[j];
                        sum += head_softplus(x) - y * x;
                        if (io->dout)
                                pair_grad(io->dout, e, j, k + j,
                                          (head_sigmoid(x) - y) * inv_t / k,
                                          D);
                }
                *loss = (float)(sum / k);
                return 0;
        }
        if (B < 3 || B % 3)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "ranker: %s needs a batch of "
                                       "(query, positive, negative) triples "
                                       "laid out [q..., pos..., neg...], got "
                                       "B=%d (not a multiple of 3)",
                                       s->loss == LOSS_BPR ? "bpr" : "bce",
                                       B);
        int k = B / 3;
        for (int j = 0; j < k; j++) {
                double sp = dot(e, j, k + j, D) * inv_t;
                double sn = dot(e, j, 2 * k + j, D) * inv_t;
                double gp, gn;
                if (s->loss == LOSS_BPR) {
                        double x = sp - sn;
                        sum += head_softplus(-x);
                        gp = -head_sigmoid(-x) / k;
                        gn = -gp;
                } else {
                        sum += head_softplus(-sp) + head_softplus(sn);
                        gp = -head_sigmoid(-sp) / (2.0 * k);
                        gn = head_sigmoid(sn) / (2.0 * k);
                }
                if (io->dout) {
                        pair_grad(io->dout, e, j, k + j, gp * inv_t, D);
                        pair_grad(io->dout, e, j, 2 * k + j, gn * inv_t, D);
                }
        }
        *loss = (float)(s->loss == LOSS_BPR ? sum / k : sum / (2.0 * k));
        return 0;
}

static int
ranker_loss(void *state, socfw_head_io *io, const socfw_head_targets *tg,
            float *loss, socfw_error *err)
{
        ranker *s = state;
        if (!s || !io || !io->out || !loss)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "ranker: loss needs the state, "
                                       "io->out and a loss pointer");
        if (io->B != s->B)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "ranker: loss for B=%d does not match "
                                       "the last forward (B=%d)",
                                       io->B, s->B);
        if (s->loss == LOSS_SOFTMAX)
                return loss_softmax(s, io, loss, err);
        return loss_pairwise(s, io, tg, loss, err);
}

static int
ranker_backward(void *state, socfw_head_io *io, socfw_error *err)
{
        ranker *s = state;
        if (!s || !io || !io->dout)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "ranker: backward needs the state and "
                                       "io->dout");
        if (io->B != s->B || io->T != s->T || io->C != s->C)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "ranker: backward for B=%d T=%d does "
                                       "not match the last forward (B=%d "
                                       "T=%d)",
                                       io->B, io->T, s->B, s->T);
        int B = s->B, C = s->C, D = s->D;
        float *dy = head_buf_get(&s->bufs[7], (size_t)B * D, sizeof(float));
        if (!dy)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "ranker: out of memory");
        /* through the normalisation: dy = (g - o (o.g)) / |y| */
        for (int b = 0; b < B; b++) {
                const float *g = io->dout + (size_t)b * D;
                float *d = dy + (size_t)b * D;
                if (!s->normalize) {
                        memcpy(d, g, (size_t)D * sizeof *d);
                        continue;
                }
                double n = s->norm[b];
                if (!(n > NORM_EPS)) {
                        for (int i = 0; i < D; i++)
                                d[i] = (float)(g[i] / NORM_EPS);
                        continue;
                }
                const float *y = s->y + (size_t)b * D;
                double og = 0.0;
                for (int i = 0; i < D; i++)
                        og += (double)y[i] * g[i];
                og /= n * n;
                for (int i = 0; i < D; i++)
                        d[i] = (float)((g[i] - y[i] * og) / n);
        }
        float *dpool = dy;
        if (s->w_proj >= 0) {
                /* the pooled gradient goes to bufs[6] (free after loss) */
                dpool = head_buf_get(&s->bufs[6], (size_t)B * C,
                                     sizeof(float));
                if (!dpool)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "ranker: out of memory");
                memset(dpool, 0, (size_t)B * C * sizeof *dpool);
                socfw_nn_linear_backward(
                        io->dhidden ? dpool : NULL, grad_of(s, s->w_proj),
                        grad_of(s, s->b_proj), dy, s->pooled,
                        socfw_params_data(s->ps, s->w_proj), B, C, D);
        }
        if (io->dhidden)
                head_pool_backward(io->dhidden, dpool, s->arg, io->mask, B,
                                   s->T, C, s->pool);
        return 0;
}

SOCFW_HEAD_PLUGIN(ranker,
        .version = "0.1.0",
        .description = "Embedding ranker: pooling, optional projection and "
                       "L2 norm; in-batch softmax over rows [q..., item...], "
                       "or bpr/bce over rows [q..., pos..., neg...].",
        .license = "MIT",
        .author = "socfw",
        .params = params,
        .loss_params = loss_params,
        .head = SOCFW_HEAD_HOOKS(.create = ranker_create,
                                 .destroy = ranker_destroy,
                                 .init_params = ranker_init_params,
                                 .forward = ranker_forward,
                                 .loss = ranker_loss,
                                 .backward = ranker_backward,
                                 .output_size = ranker_output_size),
        .target = SOCFW_TARGET_SCORE);

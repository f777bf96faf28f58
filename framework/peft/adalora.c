/* adalora.c - AdaLoRA's training side (Zhang et al. 2023, as PEFT's
 * AdaLoraModel and RankAllocator do it): the orthogonality regulariser on
 * P (lora_B) and Q (lora_A), the importance of each singular triplet, and
 * the cubic budget schedule that masks the least important singular values
 * (lora_E) until target_r ranks per site remain on average.
 *
 * Importance of a weight w with gradient g: I = |w g|, smoothed
 * Ibar <- beta1 Ibar + (1 - beta1) I, uncertainty U <- beta2 U +
 * (1 - beta2) |I - Ibar|, score = Ibar U.  A triplet's score is its E
 * entry's plus the mean over its row of A and the mean over its column of
 * B.  The budget b(t) is init_r x sites up to tinit, target_r x sites after
 * total - tfinal, and in between
 *     target + (init - target) (1 - (t - tinit) / (total - tfinal - tinit))^3;
 * on every delta_t-th step of that stretch (and from its end on) the
 * triplets scoring at or below the (total - b)-th lowest score get E = 0. */
#include "peft/adapter_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- orthogonality ------------------------------------------------------ */

/* M = X Xᵀ - I (rows of X) or Xᵀ X - I (columns): returns ||M||_F and adds
 * w * dM/dX = w * 2 M X / ||M|| (rows) or w * 2 X M / ||M|| (columns) to g. */
static double
orth(const float *X, float *g, int rows, int cols, int by_rows, float w)
{
        int r = by_rows ? rows : cols;  /* M is r x r */
        double *M = calloc((size_t)r * r, sizeof *M);
        if (!M)
                return 0.0;
        for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++) {
                        double acc = 0.0;
                        if (by_rows)
                                for (int k = 0; k < cols; k++)
                                        acc += (double)X[(size_t)i * cols + k] *
                                               X[(size_t)j * cols + k];
                        else
                                for (int k = 0; k < rows; k++)
                                        acc += (double)X[(size_t)k * cols + i] *
                                               X[(size_t)k * cols + j];
                        M[(size_t)i * r + j] = acc - (i == j);
                }
        double n2 = 0.0;
        for (size_t i = 0; i < (size_t)r * r; i++)
                n2 += M[i] * M[i];
        double n = sqrt(n2);
        if (n > 0.0 && g && w != 0.0f) {
                double c = 2.0 * w / n;
                if (by_rows)    /* d/dX = 2 M X / n: (r x r)(r x cols) */
                        for (int i = 0; i < rows; i++)
                                for (int k = 0; k < cols; k++) {
                                        double acc = 0.0;
                                        for (int j = 0; j < r; j++)
                                                acc += M[(size_t)i * r + j] *
                                                       X[(size_t)j * cols + k];
                                        g[(size_t)i * cols + k] +=
                                                (float)(c * acc);
                                }
                else            /* d/dX = 2 X M / n: (rows x r)(r x r) */
                        for (int k = 0; k < rows; k++)
                                for (int i = 0; i < cols; i++) {
                                        double acc = 0.0;
                                        for (int j = 0; j < r; j++)
                                                acc += X[(size_t)k * cols + j] *
                                                       M[(size_t)j * r + i];
                                        g[(size_t)k * cols + i] +=
                                                (float)(c * acc);
                                }
        }
        free(M);
        return n;
}

int
socfw_adapter_adalora_regularize(socfw_adapter *a, float *reg)
{
        if (reg)
                *reg = 0.0f;
        if (!a || a->cfg.type != SOCFW_ADAPTER_ADALORA)
                return 0;
        int r = a->cfg.rank, n_mat = 0;
        for (int l = 0; l < a->n_layers; l++)
                for (int s = 0; s < SOCFW_SITE_COUNT; s++)
                        n_mat += socfw_adapter_has(a, l, (socfw_site)s) ? 2 : 0;
        if (!n_mat)
                return 0;
        float w = a->cfg.orth_reg_weight / (float)n_mat;
        double total = 0.0;
        for (int l = 0; l < a->n_layers; l++)
                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                        if (!socfw_adapter_has(a, l, (socfw_site)s))
                                continue;
                        peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                        /* Q = lora_A (r, in): Q Qᵀ; P = lora_B (out, r): Pᵀ P */
                        total += orth(socfw_params_data(a->ps, sl->t[0]),
                                      socfw_params_grad(a->ps, sl->t[0]), r,
                                      a->in[s], 1, w);
                        total += orth(socfw_params_data(a->ps, sl->t[1]),
                                      socfw_params_grad(a->ps, sl->t[1]),
                                      a->out[s], r, 0, w);
                }
        if (reg)
                *reg = (float)(total * a->cfg.orth_reg_weight / n_mat);
        return 0;
}

/* ---- importance and budget ---------------------------------------------- */

static void
update_importance(float *ibar, float *unc, const float *w, const float *g,
                  size_t n, float b1, float b2)
{
        for (size_t i = 0; i < n; i++) {
                float I = fabsf(w[i] * g[i]);
                ibar[i] = b1 * ibar[i] + (1.0f - b1) * I;
                unc[i] = b2 * unc[i] + (1.0f - b2) * fabsf(I - ibar[i]);
        }
}

static int
cmp_float(const void *x, const void *y)
{
        float a = *(const float *)x, b = *(const float *)y;
        return a < b ? -1 : a > b;
}

long
socfw_adapter_adalora_step(socfw_adapter *a, long step, long total_steps)
{
        if (!a || a->cfg.type != SOCFW_ADAPTER_ADALORA)
                return 0;
        const socfw_adapter_config *c = &a->cfg;
        int r = c->rank;
        long n_sites = 0;
        for (int l = 0; l < a->n_layers; l++)
                for (int s = 0; s < SOCFW_SITE_COUNT; s++)
                        n_sites += socfw_adapter_has(a, l, (socfw_site)s);
        long init = n_sites * r, target = n_sites * c->target_r;
        long mask_end = total_steps - c->tfinal;
        long budget;
        int do_mask;
        int final = 0;
        if (step <= c->tinit) {
                budget = init;
                do_mask = 0;
        } else if (step > mask_end) {
                budget = target;
                do_mask = 1;
                final = 1;
        } else {
                double span = (double)(mask_end - c->tinit);
                double f = span > 0 ? 1.0 - (double)(step - c->tinit) / span
                                    : 0.0;
                budget = target + (long)((double)(init - target) * f * f * f);
                do_mask = (step - c->tinit) % c->delta_t == 0;
        }
        /* scores of every triplet, importance updated on the way */
        float *score = malloc((size_t)(init ? init : 1) * sizeof *score);
        if (!score)
                return budget;
        long k = 0;
        for (int l = 0; l < a->n_layers; l++)
                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                        if (!socfw_adapter_has(a, l, (socfw_site)s))
                                continue;
                        peft_slot *sl = peft_slot_of(a, l, (socfw_site)s);
                        int in = a->in[s], out = a->out[s];
                        size_t nA = (size_t)r * in, nB = (size_t)out * r;
                        float *iA = sl->imp, *uA = iA + nA, *iB = uA + nA,
                              *uB = iB + nB, *iE = uB + nB, *uE = iE + r;
                        update_importance(iA, uA,
                                          socfw_params_data(a->ps, sl->t[0]),
                                          socfw_params_grad(a->ps, sl->t[0]),
                                          nA, c->beta1, c->beta2);
                        update_importance(iB, uB,
                                          socfw_params_data(a->ps, sl->t[1]),
                                          socfw_params_grad(a->ps, sl->t[1]),
                                          nB, c->beta1, c->beta2);
                        update_importance(iE, uE,
                                          socfw_params_data(a->ps, sl->t[2]),
                                          socfw_params_grad(a->ps, sl->t[2]),
                                          (size_t)r, c->beta1, c->beta2);
                        for (int q = 0; q < r; q++) {
                                double sa = 0.0, sb = 0.0;
                                for (int i = 0; i < in; i++)
                                        sa += (double)iA[(size_t)q * in + i] *
                                              uA[(size_t)q * in + i];
                                for (int o = 0; o < out; o++)
                                        sb += (double)iB[(size_t)o * r + q] *
                                              uB[(size_t)o * r + q];
                                score[k++] = (float)((double)iE[q] * uE[q] +
                                                     sa / in + sb / out);
                        }
                }
        /* the final phase keeps the pattern it started with (PEFT's
         * rank_pattern): masked triplets stay masked whatever they score */
        if (final) {
                int have = 0;
                for (int l = 0; l < a->n_layers && !have; l++)
                        for (int s = 0; s < SOCFW_SITE_COUNT && !have; s++)
                                have = socfw_adapter_has(a, l, (socfw_site)s) &&
                                       peft_slot_of(a, l, (socfw_site)s)->keep;
                if (have) {
                        for (int l = 0; l < a->n_layers; l++)
                                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                                        if (!socfw_adapter_has(a, l,
                                                               (socfw_site)s))
                                                continue;
                                        peft_slot *sl = peft_slot_of(
                                                a, l, (socfw_site)s);
                                        float *E = socfw_params_data(
                                                a->ps, sl->t[2]);
                                        for (int q = 0; q < r; q++)
                                                if (!sl->keep[q])
                                                        E[q] = 0.0f;
                                }
                        free(score);
                        return budget;
                }
        }
        if (do_mask && budget < init) {
                float *sorted = malloc((size_t)init * sizeof *sorted);
                if (sorted) {
                        memcpy(sorted, score, (size_t)init * sizeof *sorted);
                        qsort(sorted, (size_t)init, sizeof *sorted, cmp_float);
                        float th = sorted[init - budget - 1];
                        k = 0;
                        for (int l = 0; l < a->n_layers; l++)
                                for (int s = 0; s < SOCFW_SITE_COUNT; s++) {
                                        if (!socfw_adapter_has(a, l,
                                                               (socfw_site)s))
                                                continue;
                                        peft_slot *sl = peft_slot_of(
                                                a, l, (socfw_site)s);
                                        float *E = socfw_params_data(
                                                a->ps, sl->t[2]);
                                        if (final && !sl->keep)
                                                sl->keep = calloc((size_t)r, 1);
                                        for (int q = 0; q < r; q++, k++) {
                                                if (score[k] <= th)
                                                        E[q] = 0.0f;
                                                if (final && sl->keep)
                                                        sl->keep[q] =
                                                                score[k] > th;
                                        }
                                }
                        free(sorted);
                }
        }
        free(score);
        return budget;
}

int
socfw_adapter_site_rank(const socfw_adapter *a, int layer, socfw_site s)
{
        if (!socfw_adapter_has(a, layer, s) || !peft_is_lora(a->cfg.type))
                return 0;
        if (a->cfg.type == SOCFW_ADAPTER_LORA)
                return a->cfg.rank;
        const float *E = socfw_params_data(
                a->ps, peft_slot_of(a, layer, s)->t[2]);
        int n = 0;
        for (int q = 0; q < a->cfg.rank; q++)
                n += E[q] != 0.0f;
        return n;
}

/* softmax_lr.c - multinomial logistic regression minimised with libLBFGS
 * (see softmax_lr.h). */
#include "softmax_lr.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lbfgs.h>

#include "socfw/threads.h"

#define HISTORY 8       /* L-BFGS corrections kept: 2 * 8 copies of W */
#define MAX_CLASSES 4096
/* The rows are summed in this many fixed blocks, each into a gradient of
 * its own, added in order: the same result on any number of threads. */
#define BLOCKS 4

typedef struct problem {
        const sparse_rows *X;
        const int *y;
        const double *weight;
        int K;
        double C;
        const double *W;        /* the point being evaluated              */
        double *g[BLOCKS];      /* each block's gradient (F + 1) * K      */
        double *z[BLOCKS];      /* each block's K scratch values          */
        double f[BLOCKS];       /* each block's loss                      */
        double g0;              /* gradient norm at W = 0                 */
        double eps;
} problem;

void
softmax_lr_scores(const double *W, size_t n_features, int K, const int *col,
                  const double *val, size_t n, double *z)
{
        const double *b = W + n_features * (size_t)K;
        for (int k = 0; k < K; k++)
                z[k] = b[k];
        for (size_t j = 0; j < n; j++) {
                const double *w = W + (size_t)col[j] * (size_t)K;
                for (int k = 0; k < K; k++)
                        z[k] += w[k] * val[j];
        }
}

/* Blocks [begin, end): the weighted loss of their rows and its gradient
 * (not yet divided by n, without the penalty). */
static void
evaluate_blocks(void *ctx, int64_t begin, int64_t end)
{
        problem *pb = ctx;
        const sparse_rows *X = pb->X;
        size_t K = (size_t)pb->K, F = X->n_features;
        for (int64_t blk = begin; blk < end; blk++) {
                double *g = pb->g[blk], *z = pb->z[blk], f = 0;
                double *gb = g + F * K;
                memset(g, 0, (F + 1) * K * sizeof *g);
                size_t lo = X->n_rows * (size_t)blk / BLOCKS,
                       hi = X->n_rows * (size_t)(blk + 1) / BLOCKS;
                for (size_t i = lo; i < hi; i++) {
                        size_t a = X->ptr[i], n = X->ptr[i + 1] - a;
                        softmax_lr_scores(pb->W, F, (int)K, X->col + a,
                                          X->val + a, n, z);
                        double m = z[0];
                        for (size_t k = 1; k < K; k++)
                                if (z[k] > m)
                                        m = z[k];
                        double sum = 0;
                        for (size_t k = 0; k < K; k++)
                                sum += exp(z[k] - m);
                        int y = pb->y[i];
                        double s = pb->weight[y];
                        f += s * (m + log(sum) - z[y]);
                        for (size_t k = 0; k < K; k++) /* now dloss/dz */
                                z[k] = s * (exp(z[k] - m) / sum -
                                            (k == (size_t)y));
                        for (size_t j = 0; j < n; j++) {
                                double *gw = g + (size_t)X->col[a + j] * K;
                                double v = X->val[a + j];
                                for (size_t k = 0; k < K; k++)
                                        gw[k] += z[k] * v;
                        }
                        for (size_t k = 0; k < K; k++)
                                gb[k] += z[k];
                }
                pb->f[blk] = f;
        }
}

/* f(W) and its gradient g, both divided by the number of rows. */
static lbfgsfloatval_t
evaluate(void *instance, const lbfgsfloatval_t *W, lbfgsfloatval_t *g,
         const int n_vars, const lbfgsfloatval_t step)
{
        (void)step;
        problem *pb = instance;
        size_t K = (size_t)pb->K, F = pb->X->n_features;
        pb->W = W;
        socfw_parallel_for(BLOCKS, evaluate_blocks, pb);
        double f = 0, r = 0, inv_c = 1.0 / pb->C,
               inv_n = 1.0 / (double)pb->X->n_rows;
        for (int b = 0; b < BLOCKS; b++)
                f += pb->f[b];
        for (size_t j = 0; j < (size_t)n_vars; j++) {
                double sum = 0;
                for (int b = 0; b < BLOCKS; b++)
                        sum += pb->g[b][j];
                if (j < F * K) {
                        r += W[j] * W[j];
                        sum += inv_c * W[j];
                }
                g[j] = sum * inv_n;
        }
        return (f + 0.5 * inv_c * r) * inv_n;
}

/* Stop once |g| <= eps |g(0)|. */
static int
progress(void *instance, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g,
         const lbfgsfloatval_t fx, const lbfgsfloatval_t xnorm,
         const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n,
         int k, int ls)
{
        (void)x, (void)g, (void)fx, (void)xnorm, (void)step, (void)n,
                (void)k, (void)ls;
        problem *pb = instance;
        return gnorm <= pb->eps * pb->g0;
}

/* Xr = X with its features numbered by how many rows hold them, most
 * first (rank[j]: feature j's new number; Xr->col is *col).  The
 * gradient's scatter then mostly touches a few cache-resident rows of W
 * instead of missing the cache at each of the n-grams' Zipf-tailed
 * indices: 5 x faster on sentiment-en. */
typedef struct col_count {
        size_t count;
        int col;
} col_count;

static int
cmp_col_count(const void *a, const void *b)
{
        const col_count *x = a, *y = b;
        if (x->count != y->count)
                return x->count < y->count ? 1 : -1;
        return (x->col > y->col) - (x->col < y->col);
}

static int
renumber_by_frequency(const sparse_rows *X, sparse_rows *Xr, int **rank,
                      int **col)
{
        size_t F = X->n_features, nnz = X->ptr[X->n_rows];
        col_count *cc = calloc(F ? F : 1, sizeof *cc);
        *rank = malloc((F ? F : 1) * sizeof **rank);
        *col = malloc((nnz ? nnz : 1) * sizeof **col);
        if (!cc || !*rank || !*col) {
                free(cc);
                return -1;
        }
        for (size_t j = 0; j < F; j++)
                cc[j].col = (int)j;
        for (size_t e = 0; e < nnz; e++)
                cc[X->col[e]].count++;
        qsort(cc, F, sizeof *cc, cmp_col_count);
        for (size_t j = 0; j < F; j++)
                (*rank)[cc[j].col] = (int)j;
        for (size_t e = 0; e < nnz; e++)
                (*col)[e] = (*rank)[X->col[e]];
        free(cc);
        *Xr = *X;
        Xr->col = *col;
        return 0;
}

int
softmax_lr_fit(const sparse_rows *X, const int *y, const double *weight,
               int K, double C, double eps, int max_iter, double **W,
               socfw_error *err)
{
        *W = NULL;
        if (!X || !y || !weight || K < 2 || K > MAX_CLASSES || !(C > 0) ||
            !(eps > 0 && eps < 1) || max_iter < 1 || X->n_rows == 0 ||
            X->n_features > (size_t)INT_MAX / (size_t)K - 1)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "softmax regression: %d classes, "
                                       "%zu rows, C %g, eps %g, max_iter %d",
                                       K, X ? X->n_rows : 0, C, eps,
                                       max_iter);
        for (size_t i = 0; i < X->n_rows; i++)
                if (y[i] < 0 || y[i] >= K)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "softmax regression: row %zu "
                                               "has class %d of %d",
                                               i, y[i], K);
        int n_vars = (int)((X->n_features + 1) * (size_t)K);
        sparse_rows Xr;
        int *rank = NULL, *col = NULL;
        problem pb = {.X = &Xr, .y = y, .weight = weight, .K = K, .C = C,
                      .eps = eps};
        lbfgsfloatval_t *x = lbfgs_malloc(n_vars);
        lbfgsfloatval_t *g = malloc((size_t)n_vars * sizeof *g);
        int rc = 0, ok = x && g;
        for (int b = 0; b < BLOCKS; b++) {
                pb.g[b] = malloc((size_t)n_vars * sizeof *pb.g[b]);
                pb.z[b] = malloc((size_t)K * sizeof *pb.z[b]);
                ok = ok && pb.g[b] && pb.z[b];
        }
        if (!ok ||
            renumber_by_frequency(X, &Xr, &rank, &col) < 0) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "softmax regression: out of memory for "
                                     "%d weights and %zu entries", n_vars,
                                     X->ptr[X->n_rows]);
                goto out;
        }
        memset(x, 0, (size_t)n_vars * sizeof *x);
        evaluate(&pb, x, g, n_vars, 0);
        double g0 = 0;
        for (int j = 0; j < n_vars; j++)
                g0 += g[j] * g[j];
        pb.g0 = sqrt(g0);
        if (pb.g0 > 0) {
                lbfgs_parameter_t param;
                lbfgs_parameter_init(&param);
                param.m = HISTORY;
                param.epsilon = 1e-12;  /* progress() decides */
                param.max_iterations = max_iter;
                lbfgsfloatval_t fx;
                int r = lbfgs(n_vars, x, &fx, evaluate, progress, &pb,
                              &param);
                /* A line search that cannot improve further leaves x at
                 * the best point found: near the optimum that is the
                 * answer.  Only running out of memory is an error. */
                if (r == LBFGSERR_OUTOFMEMORY) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "softmax regression: out of "
                                             "memory for the L-BFGS history "
                                             "(%d x %d values)",
                                             2 * HISTORY, n_vars);
                        goto out;
                }
        }
        *W = malloc((size_t)n_vars * sizeof **W);
        if (!*W) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "softmax regression: out of memory");
                goto out;
        }
        for (size_t j = 0; j < X->n_features; j++)
                memcpy(*W + j * (size_t)K, x + (size_t)rank[j] * (size_t)K,
                       (size_t)K * sizeof **W);
        memcpy(*W + X->n_features * (size_t)K,
               x + X->n_features * (size_t)K, (size_t)K * sizeof **W);
out:
        free(rank);
        free(col);
        lbfgs_free(x);
        free(g);
        for (int b = 0; b < BLOCKS; b++) {
                free(pb.g[b]);
                free(pb.z[b]);
        }
        return rc;
}

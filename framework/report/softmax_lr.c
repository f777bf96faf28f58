/* softmax_lr.c - multinomial logistic regression minimised with libLBFGS
 * (see softmax_lr.h).
 *
 * The objective is evaluated column by column.  A row-major pass would
 * gather the weights of each of a row's n-grams and scatter their
 * gradients back, one cache miss each in W and g (12 MB apiece on
 * sentiment-en, their indices following the n-grams' long Zipf tail):
 * 0.6 s a pass.  Over a copy of the data in column-major order W and g are
 * read and written in sequence instead, and what is accessed at random is
 * the rows' K scores (n x K doubles, 1.2 MB there), which stay in cache.
 *
 * Parallel work is split into fixed blocks of columns, each forward block
 * summing into scores of its own that are added in block order, so the
 * result is the same on any number of threads. */
#include "softmax_lr.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lbfgs.h>

#include "socfw/threads.h"

#define HISTORY 8       /* L-BFGS corrections kept: 2 x 8 copies of W */
#define MAX_CLASSES 4096
#define MAX_UNROLLED 8  /* classes whose scores are summed in registers */
#define BLOCKS 4        /* column blocks of the forward pass */

/* The data column by column: column j's rows are row[ptr[j] ..
 * ptr[j+1]), ascending, with their values in val[...]. */
typedef struct columns {
        size_t *ptr;
        int *row;
        double *val;
} columns;

typedef struct problem {
        size_t n_rows, n_features, nnz;
        columns cols;
        const int *y;
        const double *weight;
        size_t K;
        double C, eps;
        double g0;              /* gradient norm at W = 0                 */
        const double *W;        /* the point being evaluated              */
        double *g;              /* its gradient                           */
        double *z;              /* n x K: scores, then dloss/dz           */
        double *zb[BLOCKS];     /* n x K: each forward block's share      */
} problem;

/* z = b + sum_j W[col[j]] val[j]; called with a constant K up to
 * MAX_UNROLLED the sums stay in registers. */
static inline void
scores_k(const double *restrict W, size_t n_features, const int K,
         const int *restrict col, const double *restrict val, size_t n,
         double *restrict z)
{
        const double *b = W + n_features * (size_t)K;
        double acc[MAX_UNROLLED];
        double *a = K <= MAX_UNROLLED ? acc : z;
        for (int k = 0; k < K; k++)
                a[k] = b[k];
        for (size_t j = 0; j < n; j++) {
                const double *w = W + (size_t)col[j] * (size_t)K;
                for (int k = 0; k < K; k++)
                        a[k] += w[k] * val[j];
        }
        if (a != z)
                memcpy(z, a, (size_t)K * sizeof *z);
}

void
softmax_lr_scores(const double *W, size_t n_features, int K, const int *col,
                  const double *val, size_t n, double *z)
{
        switch (K) { /* the usual class counts, unrolled */
        case 2: scores_k(W, n_features, 2, col, val, n, z); break;
        case 3: scores_k(W, n_features, 3, col, val, n, z); break;
        case 4: scores_k(W, n_features, 4, col, val, n, z); break;
        default: scores_k(W, n_features, K, col, val, n, z); break;
        }
}

/* ---- column passes ---- */

/* Columns [lo, hi) add W[j] x[i][j] to zb[i] (zb zeroed first). */
static inline void
forward_cols(const columns *c, const double *restrict W, const size_t K,
             size_t lo, size_t hi, size_t n_rows, double *restrict zb)
{
        memset(zb, 0, n_rows * K * sizeof *zb);
        for (size_t j = lo; j < hi; j++) {
                const double *w = W + j * K;
                for (size_t e = c->ptr[j]; e < c->ptr[j + 1]; e++) {
                        double *z = zb + (size_t)c->row[e] * K, v = c->val[e];
                        for (size_t k = 0; k < K; k++)
                                z[k] += w[k] * v;
                }
        }
}

/* Columns [lo, hi): g[j] = sum_i d[i] x[i][j] + W[j] / C. */
static inline void
backward_cols(const columns *c, const double *restrict W,
              const double *restrict d, const size_t K, double inv_c,
              size_t lo, size_t hi, double *restrict g)
{
        double acc[MAX_UNROLLED];
        for (size_t j = lo; j < hi; j++) {
                double *gj = g + j * K;
                double *a = K <= MAX_UNROLLED ? acc : gj;
                for (size_t k = 0; k < K; k++)
                        a[k] = inv_c * W[j * K + k];
                for (size_t e = c->ptr[j]; e < c->ptr[j + 1]; e++) {
                        const double *di = d + (size_t)c->row[e] * K;
                        double v = c->val[e];
                        for (size_t k = 0; k < K; k++)
                                a[k] += di[k] * v;
                }
                if (a != gj)
                        memcpy(gj, a, K * sizeof *gj);
        }
}

static void
forward_blocks(void *ctx, int64_t begin, int64_t end)
{
        problem *pb = ctx;
        size_t F = pb->n_features, n = pb->n_rows;
        for (int64_t b = begin; b < end; b++) {
                size_t lo = F * (size_t)b / BLOCKS,
                       hi = F * (size_t)(b + 1) / BLOCKS;
                switch (pb->K) { /* constant K: the inner loop unrolled */
                case 3: forward_cols(&pb->cols, pb->W, 3, lo, hi, n,
                                     pb->zb[b]); break;
                default: forward_cols(&pb->cols, pb->W, pb->K, lo, hi, n,
                                      pb->zb[b]); break;
                }
        }
}

static void
backward_range(void *ctx, int64_t begin, int64_t end)
{
        problem *pb = ctx;
        double inv_c = 1.0 / pb->C;
        switch (pb->K) {
        case 3: backward_cols(&pb->cols, pb->W, pb->z, 3, inv_c,
                              (size_t)begin, (size_t)end, pb->g); break;
        default: backward_cols(&pb->cols, pb->W, pb->z, pb->K, inv_c,
                               (size_t)begin, (size_t)end, pb->g); break;
        }
}

/* f(W) and its gradient g, both divided by the number of rows. */
static lbfgsfloatval_t
evaluate(void *instance, const lbfgsfloatval_t *W, lbfgsfloatval_t *g,
         const int n_vars, const lbfgsfloatval_t step)
{
        (void)n_vars, (void)step;
        problem *pb = instance;
        size_t K = pb->K, F = pb->n_features, n = pb->n_rows;
        const double *bias = W + F * K;
        double *gb = g + F * K;
        pb->W = W;
        pb->g = g;
        socfw_parallel_for(BLOCKS, forward_blocks, pb);
        double f = 0;
        for (size_t k = 0; k < K; k++)
                gb[k] = 0;
        for (size_t i = 0; i < n; i++) {
                double *z = pb->z + i * K, m = -HUGE_VAL, sum = 0;
                for (size_t k = 0; k < K; k++) {
                        z[k] = bias[k];
                        for (int b = 0; b < BLOCKS; b++)
                                z[k] += pb->zb[b][i * K + k];
                        if (z[k] > m)
                                m = z[k];
                }
                for (size_t k = 0; k < K; k++)
                        sum += exp(z[k] - m);
                int y = pb->y[i];
                double s = pb->weight[y];
                f += s * (m + log(sum) - z[y]);
                for (size_t k = 0; k < K; k++) { /* now dloss/dz */
                        z[k] = s * (exp(z[k] - m) / sum - (k == (size_t)y));
                        gb[k] += z[k];
                }
        }
        /* about 2 ns a stored value: the split pays from ~10^5 of them */
        socfw_parallel_for_cost((int64_t)F, 2.0 * (double)K *
                                (double)pb->nnz / (double)(F ? F : 1),
                                backward_range, pb);
        double r = 0, inv_n = 1.0 / (double)n;
        for (size_t j = 0; j < F * K; j++)
                r += W[j] * W[j];
        for (size_t j = 0; j < (F + 1) * K; j++)
                g[j] *= inv_n;
        return (f + 0.5 * r / pb->C) * inv_n;
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

/* X's transpose into *c.  Returns 0 or -1 (out of memory). */
static int
columns_of(const sparse_rows *X, columns *c)
{
        size_t F = X->n_features, nnz = X->ptr[X->n_rows];
        c->ptr = calloc(F + 1, sizeof *c->ptr);
        c->row = malloc((nnz ? nnz : 1) * sizeof *c->row);
        c->val = malloc((nnz ? nnz : 1) * sizeof *c->val);
        size_t *next = malloc((F ? F : 1) * sizeof *next);
        if (!c->ptr || !c->row || !c->val || !next) {
                free(next);
                return -1;
        }
        for (size_t e = 0; e < nnz; e++)
                c->ptr[X->col[e] + 1]++;
        for (size_t j = 0; j < F; j++)
                c->ptr[j + 1] += c->ptr[j];
        memcpy(next, c->ptr, F * sizeof *next);
        for (size_t i = 0; i < X->n_rows; i++)
                for (size_t e = X->ptr[i]; e < X->ptr[i + 1]; e++) {
                        size_t at = next[X->col[e]]++;
                        c->row[at] = (int)i;
                        c->val[at] = X->val[e];
                }
        free(next);
        return 0;
}

static void
release_rows(sparse_rows *X)
{
        free(X->ptr);
        free(X->col);
        free(X->val);
        X->ptr = NULL;
        X->col = NULL;
        X->val = NULL;
}

int
softmax_lr_fit(sparse_rows *X, const int *y, const double *weight, int K,
               double C, double eps, int max_iter, double **W,
               socfw_error *err)
{
        *W = NULL;
        if (!X || !X->ptr || !y || !weight || K < 2 || K > MAX_CLASSES ||
            !(C > 0) || !(eps > 0 && eps < 1) || max_iter < 1 ||
            X->n_rows == 0 || X->n_rows > (size_t)INT_MAX ||
            X->n_features > (size_t)INT_MAX / (size_t)K - 1) {
                if (X)
                        release_rows(X);
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "softmax regression: %d classes, "
                                       "%zu rows, C %g, eps %g, max_iter %d",
                                       K, X ? X->n_rows : 0, C, eps,
                                       max_iter);
        }
        for (size_t i = 0; i < X->n_rows; i++)
                if (y[i] < 0 || y[i] >= K) {
                        release_rows(X);
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "softmax regression: row %zu "
                                               "has class %d of %d",
                                               i, y[i], K);
                }
        int n_vars = (int)((X->n_features + 1) * (size_t)K);
        size_t nz = X->n_rows * (size_t)K;
        problem pb = {.n_rows = X->n_rows, .n_features = X->n_features,
                      .nnz = X->ptr[X->n_rows], .y = y, .weight = weight,
                      .K = (size_t)K, .C = C, .eps = eps};
        int copied = columns_of(X, &pb.cols);
        release_rows(X);
        lbfgsfloatval_t *x = lbfgs_malloc(n_vars);
        lbfgsfloatval_t *g = malloc((size_t)n_vars * sizeof *g);
        pb.z = malloc(nz * sizeof *pb.z);
        int rc = 0, ok = copied == 0 && x && g && pb.z;
        for (int b = 0; b < BLOCKS; b++)
                ok = ok && (pb.zb[b] = malloc(nz * sizeof *pb.zb[b]));
        if (!ok) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "softmax regression: out of memory for "
                                     "%d weights and %zu entries", n_vars,
                                     pb.nnz);
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
        memcpy(*W, x, (size_t)n_vars * sizeof **W);
out:
        lbfgs_free(x);
        free(g);
        free(pb.z);
        for (int b = 0; b < BLOCKS; b++)
                free(pb.zb[b]);
        free(pb.cols.ptr);
        free(pb.cols.row);
        free(pb.cols.val);
        return rc;
}

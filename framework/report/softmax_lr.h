/* softmax_lr.h - multinomial (softmax) logistic regression on sparse
 * rows, the baseline's classifier for three or more classes (internal to
 * framework/report).
 *
 * Minimises, as scikit-learn's LogisticRegression(solver="lbfgs") does
 * for more than two classes,
 *
 *     sum_i s_i * (logsumexp(z_i) - z_i[y_i])  +  |W|^2 / (2 C),
 *     z_i = W x_i + b   (the intercepts b are not penalised),
 *
 * with libLBFGS (divided by n for conditioning; the optimum is the same).
 * It stops when the gradient's norm has fallen to eps times its norm at
 * W = 0 (liblinear's criterion, so `eps` means the same for both
 * solvers), or after max_iter iterations. */
#ifndef SOCFW_REPORT_SOFTMAX_LR_H
#define SOCFW_REPORT_SOFTMAX_LR_H

#include <stddef.h>

#include "socfw/error.h"

/* Rows in compressed form: row i's entries are col[ptr[i] .. ptr[i+1])
 * (0-based feature indices below n_features) with values val[...]. */
typedef struct sparse_rows {
        size_t n_rows, n_features;
        size_t *ptr;
        int *col;
        double *val;
} sparse_rows;

/* Fit K >= 2 classes: y[i] in [0, K), weight[k] the loss weight of class
 * k's examples, C > 0, 0 < eps < 1, max_iter >= 1.
 *
 * X's three arrays (malloc'ed) pass to the solver, which frees them (and
 * sets them NULL) as soon as it has its column-major copy, whatever it
 * returns: the two copies of the data never stay side by side.
 *
 * On success *W holds
 * (n_features + 1) * K values (malloc'ed; caller frees): feature j's
 * weights for the K classes at W[j * K ...], the intercepts last.
 * Returns 0, SOCFW_EINVAL or SOCFW_ENOMEM. */
int softmax_lr_fit(sparse_rows *X, const int *y, const double *weight,
                   int K, double C, double eps, int max_iter, double **W,
                   socfw_error *err);

/* The K decision values z = W x + b of one row given as (col, val)
 * pairs. */
void softmax_lr_scores(const double *W, size_t n_features, int K,
                       const int *col, const double *val, size_t n,
                       double *z);

#endif /* SOCFW_REPORT_SOFTMAX_LR_H */

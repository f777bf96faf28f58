/* socfw/optim.h - AdamW, gradient clipping and learning-rate schedules.
 *
 * Parameters and gradients are flat float arrays (one buffer, tensors
 * carved out of it), so the optimizer is one loop over n elements.  The
 * update is exactly torch.optim.AdamW (decoupled weight decay, bias
 * correction, eps added to sqrt(v_hat)); the schedules give the same
 * multipliers as Hugging Face transformers' get_*_schedule_with_warmup.
 *
 *     socfw_adamw_config cfg;
 *     socfw_adamw_config_default(&cfg);          // lr 1e-3, wd 0.01, ...
 *     cfg.lr = 3e-5f;
 *     socfw_adamw *opt = socfw_adamw_new(n, &cfg, &err);
 *     socfw_adamw_set_decay_range(opt, bias_off, bias_len, 0); // no decay
 *
 *     socfw_lr_schedule sched;
 *     socfw_lr_schedule_init(&sched, SOCFW_LR_COSINE, total_steps,
 *                            0, 0.06, 0.0);       // 6% warmup
 *     for (long s = 0; s < total_steps; s++) {
 *             ... forward/backward into grad (accumulate, then
 *                 socfw_grad_scale(grad, n, 1.0f / accum_steps)) ...
 *             float norm = socfw_grad_clip_norm(grad, n, 1.0f);
 *             double lr = cfg.lr * socfw_lr_schedule_factor(&sched, s);
 *             socfw_adamw_step(opt, param, grad, lr);
 *     }
 *     socfw_adamw_free(opt);
 *
 * Checkpoints save socfw_adamw_m(), socfw_adamw_v() (n floats each) and
 * socfw_adamw_steps(), and restore them with socfw_adamw_restore(): the
 * continuation is then bit-for-bit the same as an uninterrupted run.
 */
#ifndef SOCFW_OPTIM_H
#define SOCFW_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- AdamW ---- */

typedef struct socfw_adamw_config {
        float lr;               /* default 1e-3 (used by socfw_adamw_step
                                 * when its lr argument is negative)      */
        float beta1;            /* default 0.9                            */
        float beta2;            /* default 0.999                          */
        float eps;              /* default 1e-8                           */
        float weight_decay;     /* default 0.01 (torch's AdamW default)   */
        int threads;            /* at most this many threads (0 = one per
                                 * online CPU; 1 = the calling thread
                                 * only), at least 65536 elements each;
                                 * the results are bitwise identical for
                                 * any value (the update is element-wise) */
} socfw_adamw_config;

typedef struct socfw_adamw socfw_adamw;

/* Fill `cfg` with the defaults above (those of torch.optim.AdamW). */
void socfw_adamw_config_default(socfw_adamw_config *cfg);

/* New optimizer for n parameters: m = v = 0, step count 0, weight decay
 * applied to every element.  `cfg` may be NULL (defaults); it is copied.
 * Returns NULL on error (n == 0, bad hyper-parameters, out of memory),
 * with `err` filled.  Caller frees with socfw_adamw_free(). */
socfw_adamw *socfw_adamw_new(size_t n, const socfw_adamw_config *cfg,
                             socfw_error *err);

/* An optimizer over a whole parameter store (socfw_params_size() floats,
 * padding included) that decays its matrices (2 dimensions or more) and
 * not its vectors (biases, norms, scalings), as torch recipes do.  NULL
 * for an empty store (err untouched) or on error (err filled). */
struct socfw_params;
socfw_adamw *socfw_adamw_new_for_params(const struct socfw_params *ps,
                                        const socfw_adamw_config *cfg,
                                        socfw_error *err);

/* Free; NULL is a no-op. */
void socfw_adamw_free(socfw_adamw *opt);

/* The configuration in use (borrowed; it may be changed between steps,
 * e.g. to set weight_decay). */
socfw_adamw_config *socfw_adamw_get_config(socfw_adamw *opt);

/* Turn weight decay on (decay != 0) or off for elements
 * [offset, offset + len), e.g. off for biases and norm weights.
 * Returns 0, or SOCFW_EINVAL if the range is outside [0, n). */
int socfw_adamw_set_decay_range(socfw_adamw *opt, size_t offset, size_t len,
                                int decay, socfw_error *err);

/* Set the whole per-element mask at once: mask[i] != 0 means element i is
 * decayed.  `mask` (n bytes) is copied; NULL means "decay everything". */
void socfw_adamw_set_decay_mask(socfw_adamw *opt, const uint8_t *mask);

/* One update of all n parameters with gradient `grad` (both n floats;
 * param is updated in place, grad is only read) at learning rate `lr`
 * (negative: use cfg.lr).  Increments the step count first, like torch.
 * Element-wise, in order:
 *     p -= lr * wd * p                      (only where decay is on)
 *     m  = b1 * m + (1 - b1) * g
 *     v  = b2 * v + (1 - b2) * g * g
 *     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Returns 0 (no failure mode once the optimizer exists). */
int socfw_adamw_step(socfw_adamw *opt, float *param, const float *grad,
                     double lr);

/* Optimizer state, borrowed (n floats each; writable, for restoring in
 * place).  The step count is the number of completed updates. */
float *socfw_adamw_m(socfw_adamw *opt);
float *socfw_adamw_v(socfw_adamw *opt);
size_t socfw_adamw_size(const socfw_adamw *opt);
long socfw_adamw_steps(const socfw_adamw *opt);

/* Replace the state with a saved one: m and v (n floats each, copied;
 * both must be given) and the step count.  Returns 0, or SOCFW_EINVAL when
 * n differs from the optimizer's size, the step is negative or a value is
 * not finite (a corrupt checkpoint); the state is unchanged then. */
int socfw_adamw_restore(socfw_adamw *opt, const float *m, const float *v,
                        size_t n, long steps, socfw_error *err);

/* ---- gradients ---- */

/* L2 norm of grad[0..n) (accumulated in double), and if it exceeds
 * max_norm, grad is scaled by max_norm / (norm + 1e-6), exactly as
 * torch.nn.utils.clip_grad_norm_.  Returns the norm before clipping (as
 * torch does).  When the norm is not finite the gradient is left alone
 * and the inf/NaN is returned so the caller can skip the step.
 * max_norm <= 0 only measures. */
float socfw_grad_clip_norm(float *grad, size_t n, float max_norm);

/* Same over several buffers (one global norm): grads[i] has ns[i] floats. */
float socfw_grad_clip_norm_multi(float *const *grads, const size_t *ns,
                                 size_t count, float max_norm);

/* grad[i] *= scale, e.g. 1/accumulation_steps before the optimizer step. */
void socfw_grad_scale(float *grad, size_t n, float scale);

/* dst[i] += src[i]: accumulate a micro-batch's gradient. */
void socfw_grad_accumulate(float *dst, const float *src, size_t n);

/* ---- learning-rate schedules ---- */

typedef enum {
        SOCFW_LR_CONSTANT = 0,  /* 1 (after the warmup, if any)          */
        SOCFW_LR_LINEAR = 1,    /* warmup, then linear decay to 0         */
        SOCFW_LR_COSINE = 2,    /* warmup, then half-cosine to min_ratio  */
} socfw_lr_schedule_kind;

typedef struct socfw_lr_schedule {
        socfw_lr_schedule_kind kind;
        long total_steps;       /* number of optimizer steps           */
        long warmup_steps;      /* resolved from steps or ratio         */
        double min_ratio;       /* cosine floor as a fraction of lr     */
} socfw_lr_schedule;

/* Set up a schedule.  Warmup is `warmup_steps` when > 0, otherwise
 * ceil(total_steps * warmup_ratio) (what HF TrainingArguments does).
 * min_ratio (cosine only, in [0,1]) is the final multiplier; 0 gives
 * get_cosine_schedule_with_warmup, > 0 gives
 * get_cosine_with_min_lr_schedule_with_warmup(min_lr_rate=min_ratio).
 * Returns 0, or SOCFW_EINVAL for negative counts, a ratio outside [0,1],
 * or an unknown kind. */
int socfw_lr_schedule_init(socfw_lr_schedule *s, socfw_lr_schedule_kind kind,
                           long total_steps, long warmup_steps,
                           double warmup_ratio, double min_ratio,
                           socfw_error *err);

/* The multiplier of the base lr for optimizer step `step` (0-based: the
 * first update uses step 0, which is why warmup starts at 0, as with HF's
 * LambdaLR).  Steps past total_steps keep the final value. */
double socfw_lr_schedule_factor(const socfw_lr_schedule *s, long step);

/* Parse "constant", "linear", "cosine"; returns the kind or -1. */
int socfw_lr_schedule_kind_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_OPTIM_H */

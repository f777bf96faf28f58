/* framework/train/loop.h - the one training loop of socfw.  Internal.
 *
 * Every way socfw trains runs through rt_loop_run: causal-LM and
 * masked-LM pretraining (pretrain.c), each task head's loss and ranking
 * pairs (trainer.c).  An objective supplies micro-batches; the loop does
 * what every objective shares, written once:
 *
 *     for each optimizer step:
 *         accum micro-batches: objective.micro_batch (forward, loss,
 *             backward adding `scale` x the gradient into the groups)
 *         objective.before_update          (AdaLoRA's regulariser)
 *         config.grad_hook                 (where processes average)
 *         global-norm clipping over every group, the lr schedule,
 *         AdamW on every active group
 *         objective.after_update           (AdaLoRA's rank budget)
 *         the gradients zeroed
 *         progress every log_every steps; the wall-time budget
 *         objective.after_step             (evaluation, early stopping,
 *                                           best checkpoint; may stop)
 *         the resumable state every checkpoint_every steps
 *
 * Resumable state is one safetensors file: every group's parameters and
 * AdamW moments, the step, the running loss, the random generator and
 * the objective's own keys (its place in the data, its best metric).  A
 * loop resumed from it continues bit for bit as an uninterrupted one.
 *
 *     rt_loop lp;
 *     rt_loop_config cfg = {.total_steps = 1000, .accum = 1, .lr = 3e-4,
 *                           .clip = 1.0f, .schedule = SOCFW_LR_COSINE,
 *                           .warmup = 0.05, .log_every = 50,
 *                           .rng = &rng, .state_path = "out/state"};
 *     rt_loop_init(&lp, &cfg);
 *     rt_loop_add_group(&lp, "backbone", data, grad, n, opt, NULL);
 *     if (resume) rt_loop_resume(&lp, &my_objective, self, &err);
 *     rc = rt_loop_run(&lp, &my_objective, self, &err);
 *     rt_loop_clear(&lp);
 */
#ifndef SOCFW_TRAIN_LOOP_H
#define SOCFW_TRAIN_LOOP_H

#include <stddef.h>

#include "socfw/error.h"
#include "socfw/modelfile.h"
#include "socfw/optim.h"
#include "socfw/rng.h"

/* Seconds on a monotonic clock (the training code's one clock). */
double rt_seconds(void);

/* A series of (x, y) points, e.g. a loss per step, for curves.svg. */
typedef struct rt_curve {
        double *x, *y;
        size_t n, cap;
} rt_curve;

/* Append a point (dropped silently when out of memory: a chart is not
 * worth failing a run for); _clear frees. */
void rt_curve_add(rt_curve *c, double x, double y);
void rt_curve_clear(rt_curve *c);

/* One flat region the optimizer updates, with its gradient. */
typedef struct rt_group {
        char name[128];         /* state tensors <name>.param/.m/.v        */
        float *data, *grad;     /* n floats each (borrowed)                */
        size_t n;
        socfw_adamw *opt;       /* borrowed                                */
        const int *active;      /* NULL, or updated only while *active is
                                   set (a task's adapter in a step without
                                   its batches: momentum alone would move
                                   it, which PyTorch does not do either)   */
} rt_group;

/* What one micro-batch did. */
typedef struct rt_micro {
        float loss;             /* its mean loss                           */
        size_t tokens;          /* tokens it read (throughput)             */
        int end_of_pass;        /* last micro-batch of an epoch: the step
                                   happens now, accumulation or not        */
        int empty;              /* nothing to learn in it: not counted     */
        int exhausted;          /* no micro-batch was left: the loop ends  */
} rt_micro;

/* Resumable state: the objective's own keys (strings, copied). */
typedef struct rt_state_kv {
        char key[16][32];
        char value[16][128];
        int n;
} rt_state_kv;

/* Add key = printf(fmt, ...) to kv (at most 16 keys: more is a
 * programming error, asserted). */
void rt_state_kv_add(rt_state_kv *kv, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

typedef struct rt_loop rt_loop;

/* An objective.  Every callback but micro_batch may be NULL. */
typedef struct rt_objective {
        /* The next micro-batch: forward, loss, and backward adding
         * scale x d(loss) into the groups' gradients.  0 or a negative
         * error; mb->exhausted when there was none left. */
        int (*micro_batch)(void *self, float scale, rt_micro *mb,
                           socfw_error *err);
        /* After the step's micro-batches, before the gradient hook. */
        int (*before_update)(void *self, socfw_error *err);
        /* After AdamW, before the gradients are zeroed (`updated` 0 when
         * a non-finite gradient norm skipped it); `step` is 1-based, of
         * `total`. */
        void (*after_update)(void *self, long step, long total, int updated);
        /* Where the loop is, for progress lines ("epoch 2", "pretrain"). */
        void (*where)(void *self, char *buf, size_t n);
        /* At every progress line: the mean loss since the last one;
         * `extra` receives text appended to the line (" accuracy 0.41"). */
        void (*on_log)(void *self, long step, double mean_loss, char *extra,
                       size_t n);
        /* After each step: evaluation, early stopping (rt_loop_stop),
         * checkpoints.  `end_of_pass`: the step ended an epoch. */
        int (*after_step)(void *self, rt_loop *lp, int end_of_pass,
                          socfw_error *err);
        /* Resumable state: the objective's keys, and reading them back
         * (rt_loop_state_get gives each value). */
        void (*save)(void *self, rt_state_kv *kv);
        int (*restore)(void *self, const socfw_modelfile *mf,
                       const char *path, socfw_error *err);
} rt_objective;

typedef struct rt_loop_config {
        long total_steps;
        int accum;              /* micro-batches per step (>= 1)           */
        double lr;
        float clip;             /* global-norm clip; <= 0: none            */
        socfw_lr_schedule_kind schedule;
        double warmup;          /* >= 1: steps; < 1: a share of total      */
        double min_ratio;       /* cosine floor                            */
        long log_every;         /* progress line period (> 0)              */
        long checkpoint_every;  /* resumable state period; 0: none         */
        double budget_seconds;  /* wall time; 0: none                      */
        int fit_budget;         /* shorten the schedule so that it ends
                                   inside the budget (else stop at the
                                   budget with resumable state)            */
        const char *what;       /* "pretraining", "training": messages     */
        const char *state_path; /* resumable state file, or NULL           */
        socfw_rng *rng;         /* saved in the state (may be NULL)        */
        void (*progress)(void *user, const char *line);
        void *progress_user;
        /* Called with every group once the step's gradients are complete,
         * before clipping: where data-parallel processes average them. */
        int (*grad_hook)(void *user, rt_group *groups, size_t n,
                         socfw_error *err);
        void *hook_user;
} rt_loop_config;

struct rt_loop {
        rt_loop_config cfg;
        rt_group *groups;
        size_t n_groups;
        float **grads;          /* the groups' gradients and sizes, for   */
        size_t *sizes;          /* the global-norm clip (n_groups each)   */
        socfw_lr_schedule sched;
        long step;              /* optimizer steps done                    */
        long first_step;        /* where this process started (ETA)        */
        double loss_acc;        /* loss over micro-batches since last log  */
        int loss_n;
        size_t tokens;
        float last_norm;
        double last_lr;
        int stop;               /* rt_loop_stop was called                 */
        int budget_spent;
        long saved_at;          /* step of the last state written (-1)     */
        double t0, tok_t0;
        rt_curve loss;          /* mean training loss at progress lines    */
};

/* Set up (copies cfg; strings borrowed).  0 or SOCFW_EINVAL (a bad
 * schedule). */
int rt_loop_init(rt_loop *lp, const rt_loop_config *cfg, socfw_error *err);
void rt_loop_clear(rt_loop *lp);

/* Register a group (name copied).  0 or SOCFW_ENOMEM. */
int rt_loop_add_group(rt_loop *lp, const char *name, float *data, float *grad,
                      size_t n, socfw_adamw *opt, const int *active);

/* Continue from cfg.state_path when it exists: 1 resumed (lp->step set),
 * 0 no state file, or a negative error naming the file and tensor. */
int rt_loop_resume(rt_loop *lp, const rt_objective *obj, void *self,
                   socfw_error *err);

/* Run until total_steps, the budget, rt_loop_stop or exhausted data. */
int rt_loop_run(rt_loop *lp, const rt_objective *obj, void *self,
                socfw_error *err);

/* Write the resumable state now (atomically); `obj` adds its keys. */
int rt_loop_save_state(rt_loop *lp, const rt_objective *obj, void *self,
                       socfw_error *err);

/* End the loop after the current step (early stopping). */
void rt_loop_stop(rt_loop *lp);

/* A gradient hook (rt_loop_config.grad_hook) that averages every group's
 * gradients over the data-parallel processes (socfw/dist.h) after every
 * process checked in at the same step (a process that died or hangs is
 * named after train.dist_timeout); `user` is the rt_loop.  With one
 * process it does nothing. */
int rt_loop_average_over_processes(void *user, rt_group *groups, size_t n,
                                   socfw_error *err);

/* A key of the state file being restored (for objective.restore):
 * 0 and *out (borrowed from mf), or an error naming the file. */
int rt_loop_state_get(const socfw_modelfile *mf, const char *path,
                      const char *key, const char **out, socfw_error *err);

#endif

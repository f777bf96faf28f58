/* schedule.c - learning-rate multipliers, as Hugging Face transformers'
 * get_constant_schedule(_with_warmup), get_linear_schedule_with_warmup,
 * get_cosine_schedule_with_warmup and
 * get_cosine_with_min_lr_schedule_with_warmup. */
#include "socfw/optim.h"

#include <math.h>
#include <string.h>

int
socfw_lr_schedule_init(socfw_lr_schedule *s, socfw_lr_schedule_kind kind,
                       long total_steps, long warmup_steps,
                       double warmup_ratio, double min_ratio,
                       socfw_error *err)
{
        if (kind != SOCFW_LR_CONSTANT && kind != SOCFW_LR_LINEAR &&
            kind != SOCFW_LR_COSINE)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "lr schedule: unknown kind %d; expected constant, "
                        "linear or cosine", (int)kind);
        if (total_steps < 0 || warmup_steps < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "lr schedule: total steps %ld and warmup steps %ld "
                        "must be >= 0", total_steps, warmup_steps);
        if (!(warmup_ratio >= 0.0 && warmup_ratio <= 1.0))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "lr schedule: warmup ratio %g outside [0, 1]; hint: "
                        "0.06 means 6%% of the steps", warmup_ratio);
        if (!(min_ratio >= 0.0 && min_ratio <= 1.0))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "lr schedule: min ratio %g outside [0, 1]", min_ratio);
        s->kind = kind;
        s->total_steps = total_steps;
        s->warmup_steps = warmup_steps > 0 ? warmup_steps :
                          (long)ceil((double)total_steps * warmup_ratio);
        s->min_ratio = min_ratio;
        return 0;
}

double
socfw_lr_schedule_factor(const socfw_lr_schedule *s, long step)
{
        long w = s->warmup_steps, total = s->total_steps;

        if (step < 0)
                step = 0;
        if (step < w)
                return (double)step / (double)(w > 1 ? w : 1);
        /* past the end: hold the final value (HF's cosine would turn back
         * up; nobody wants that) */
        if (step > total && total >= w)
                step = total;
        long span = total - w > 1 ? total - w : 1;
        switch (s->kind) {
        case SOCFW_LR_LINEAR: {
                double f = (double)(total - step) / (double)span;
                return f > 0.0 ? f : 0.0;
        }
        case SOCFW_LR_COSINE: {
                double progress = (double)(step - w) / (double)span;
                /* num_cycles = 0.5: cos(pi * 2 * 0.5 * progress) */
                double f = 0.5 * (1.0 + cos(M_PI * progress));
                f = f * (1.0 - s->min_ratio) + s->min_ratio;
                return f > 0.0 ? f : 0.0;
        }
        case SOCFW_LR_CONSTANT:
        default:
                return 1.0;
        }
}

int
socfw_lr_schedule_kind_parse(const char *name)
{
        if (!name)
                return -1;
        if (strcmp(name, "constant") == 0)
                return SOCFW_LR_CONSTANT;
        if (strcmp(name, "linear") == 0)
                return SOCFW_LR_LINEAR;
        if (strcmp(name, "cosine") == 0)
                return SOCFW_LR_COSINE;
        return -1;
}

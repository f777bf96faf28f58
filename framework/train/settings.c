/* settings.c - the train: section as typed values (settings.h). */
#include "train/settings.h"

#include <string.h>

#include "socfw/config.h"

int
rt_train_settings_read(rt_train_settings *s, const socfw_pipeline *p)
{
        const socfw_config *tr = socfw_pipeline_section(p, "train");
        memset(s, 0, sizeof *s);
        socfw_adamw_config_default(&s->adamw);
        s->lr = socfw_config_get_float(tr, "lr");
        s->adamw.lr = (float)s->lr;
        s->adamw.beta1 = (float)socfw_config_get_float(tr, "beta1");
        s->adamw.beta2 = (float)socfw_config_get_float(tr, "beta2");
        s->adamw.eps = (float)socfw_config_get_float(tr, "eps");
        s->adamw.weight_decay = (float)socfw_config_get_float(tr,
                                                              "weight_decay");
        s->batch_size = (int)socfw_config_get_int(tr, "batch_size");
        s->grad_accum = (int)socfw_config_get_int(tr, "grad_accum");
        s->epochs = (int)socfw_config_get_int(tr, "epochs");
        s->max_steps = (long)socfw_config_get_int(tr, "max_steps");
        s->warmup = socfw_config_get_float(tr, "warmup");
        int kind = socfw_lr_schedule_kind_parse(
                socfw_config_get_string(tr, "schedule"));
        s->schedule = kind < 0 ? 0 : kind;
        s->min_lr_ratio = socfw_config_get_float(tr, "min_lr_ratio");
        s->grad_clip = (float)socfw_config_get_float(tr, "grad_clip");
        s->seed = (uint64_t)socfw_config_get_int(tr, "seed");
        s->eval_every = (long)socfw_config_get_int(tr, "eval_every");
        s->eval_before = socfw_config_get_bool(tr, "eval_before");
        s->log_every = (long)socfw_config_get_int(tr, "log_every");
        s->dist_timeout = socfw_config_get_float(tr, "dist_timeout");
        s->checkpoint_every = (long)socfw_config_get_int(tr,
                                                         "checkpoint_every");
        s->keep_best = socfw_config_get_bool(tr, "keep_best");
        const char *bad = socfw_config_get_string(tr, "on_bad_row");
        s->skip_bad_rows = bad && !strcmp(bad, "skip");
        s->es_metric = socfw_config_get_string(tr, "early_stopping.metric");
        s->es_patience = (int)socfw_config_get_int(tr,
                                                   "early_stopping.patience");
        const char *mode = socfw_config_get_string(tr, "early_stopping.mode");
        s->es_mode = mode && !strcmp(mode, "max")   ? RT_ES_MAX
                     : mode && !strcmp(mode, "min") ? RT_ES_MIN
                                                    : RT_ES_AUTO;
        s->es_min_delta = socfw_config_get_float(tr,
                                                 "early_stopping.min_delta");
        return 0;
}

/* adapters.c - each task's own adapter over the shared, frozen backbone:
 * the checks of its configuration (read once into the task's and the
 * backbone's settings, settings.h) and its creation.  The adapter is
 * attached to the model for the task's forward passes (rt_use_adapter);
 * only its tensors and the head train. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_impl.h"
#include "socfw/log.h"
#include "socfw/io.h"
#include "socfw/safetensors.h"

static void task_fingerprint(socfw_runtime *rt, const rt_task *t,
                             char hex[65]);

int
socfw_runtime_task_adapter_type(const socfw_pipeline *p, size_t i)
{
        rt_backbone_settings bb;
        rt_backbone_settings_read(&bb, p);
        rt_task_settings ts;
        rt_task_settings_read(&ts, socfw_pipeline_task(p, i), NULL, NULL);
        socfw_adapter_config ac;
        if (rt_adapter_config_resolve(&ac, &ts.adapter, &bb.adapter, NULL) < 0)
                return -1;
        return (int)ac.type;
}

int
socfw_runtime_check_adapters(const socfw_pipeline *p, socfw_error *err)
{
        rt_backbone_settings bb;
        rt_backbone_settings_read(&bb, p);
        const rt_adapter_keys *bk = &bb.adapter;
        /* what a backbone built from scratch will be */
        int scratch = !bb.model;
        const char *arch = bb.arch;
        int llama = arch && !strcmp(arch, "llama");
        long max_pos = bb.max_positions;
        long max_seq = bb.max_seq_len;
        int any = 0;
        for (size_t i = 0; i < socfw_pipeline_task_count(p); i++) {
                if (!socfw_pipeline_task_head(p, i))
                        continue;
                rt_task_settings ts;
                rt_task_settings_read(&ts, socfw_pipeline_task(p, i), NULL,
                                      NULL);
                const rt_adapter_keys *tk = &ts.adapter;
                socfw_adapter_config ac;
                int rc = rt_adapter_config_resolve(&ac, tk, bk, err);
                if (rc < 0)
                        return rc;
                if (rt_adapter_from(tk, bk)) {
                        any = 1;
                        continue;       /* its own file says what it is */
                }
                if (ac.type == SOCFW_ADAPTER_NONE)
                        continue;
                any = 1;
                char msg[256];
                if (ac.prefix_projection && ac.type != SOCFW_ADAPTER_PREFIX)
                        return rt_adapter_key_error(
                                tk, bk, RT_AK_PREFIX_PROJECTION,
                                SOCFW_ESCHEMA, err,
                                "an option of prefix adapters; hint: "
                                "adapter.type: prefix, or remove "
                                "prefix_projection");
                if (ac.type == SOCFW_ADAPTER_ADALORA &&
                    ac.target_r > ac.rank) {
                        snprintf(msg, sizeof msg, "target_rank %d is above "
                                 "the initial rank %d; hint: a smaller "
                                 "target_rank or a larger rank", ac.target_r,
                                 ac.rank);
                        return rt_adapter_key_error(tk, bk,
                                                    RT_AK_TARGET_RANK,
                                                    SOCFW_ESCHEMA, err, msg);
                }
                if (scratch && !llama &&
                    (ac.targets & SOCFW_SITE_BIT(SOCFW_SITE_MLP_GATE)) &&
                    ac.type != SOCFW_ADAPTER_PREFIX) {
                        snprintf(msg, sizeof msg, "mlp.gate does not exist "
                                 "in %s blocks; hint: mlp.gate is Llama's "
                                 "gate_proj, use mlp.up / mlp.down", arch);
                        return rt_adapter_key_error(tk, bk, RT_AK_TARGETS,
                                                    SOCFW_ESCHEMA, err, msg);
                }
                if (ac.embed && ac.type != SOCFW_ADAPTER_LORA) {
                        snprintf(msg, sizeof msg, "embed (an adapter on the "
                                 "token embedding) is a LoRA target, not "
                                 "one of %s; hint: adapter.type: lora, or "
                                 "drop embed",
                                 socfw_adapter_type_name(ac.type));
                        return rt_adapter_key_error(tk, bk, RT_AK_TARGETS,
                                                    SOCFW_ESCHEMA, err, msg);
                }
                if (ac.type == SOCFW_ADAPTER_BOTTLENECK &&
                    (ac.targets & ~(SOCFW_SITE_BIT(SOCFW_SITE_ATTN_O) |
                                    SOCFW_SITE_BIT(SOCFW_SITE_MLP_DOWN)))) {
                        int bad = 0;
                        while (!(ac.targets & SOCFW_SITE_BIT(bad)) ||
                               bad == SOCFW_SITE_ATTN_O ||
                               bad == SOCFW_SITE_MLP_DOWN)
                                bad++;
                        snprintf(msg, sizeof msg, "a bottleneck adapter "
                                 "sits after attn.o or mlp.down, not %s",
                                 socfw_site_name((socfw_site)bad));
                        return rt_adapter_key_error(tk, bk, RT_AK_TARGETS,
                                                    SOCFW_ESCHEMA, err, msg);
                }
                if (ac.type == SOCFW_ADAPTER_PREFIX && scratch && !llama &&
                    max_seq + ac.prefix_length > max_pos) {
                        snprintf(msg, sizeof msg, "%d prefix rows and "
                                 "max_seq_len %ld exceed the model's %ld "
                                 "positions; hint: a shorter prefix or "
                                 "backbone.max_seq_len", ac.prefix_length,
                                 max_seq, max_pos);
                        return rt_adapter_key_error(tk, bk,
                                                    RT_AK_PREFIX_LENGTH,
                                                    SOCFW_ESCHEMA, err, msg);
                }
                if (ac.type == SOCFW_ADAPTER_PROMPT && scratch && !llama &&
                    max_seq + ac.num_virtual_tokens > max_pos) {
                        snprintf(msg, sizeof msg, "%d virtual tokens and "
                                 "max_seq_len %ld exceed the model's %ld "
                                 "positions; hint: fewer virtual tokens or "
                                 "a shorter backbone.max_seq_len",
                                 ac.num_virtual_tokens, max_seq, max_pos);
                        return rt_adapter_key_error(
                                tk, bk, RT_AK_NUM_VIRTUAL_TOKENS,
                                SOCFW_ESCHEMA, err, msg);
                }
        }
        const char *freeze = bb.freeze;
        if (any && bb.freeze_given && strcmp(freeze, "all"))
                return socfw_error_set_at(
                        err, SOCFW_ESCHEMA, socfw_config_file(bb.section),
                        socfw_config_line(bb.section, "freeze"),
                        socfw_config_column(bb.section, "freeze"),
                        "backbone.freeze: '%s' trains the backbone, but "
                        "tasks with adapters share it frozen; hint: remove "
                        "freeze (adapters freeze it) or set adapter.type: "
                        "none for full fine-tuning", freeze);
        if (bb.keep_quantized) {
                const char *why =
                        !bb.model_given
                                ? "a backbone built from scratch is "
                                  "float32; hint: remove keep_quantized"
                        : !any && strcmp(freeze, "all")
                                ? "its matrices would stay frozen, but "
                                  "the backbone is fine-tuned; hint: give "
                                  "the tasks an adapter (QLoRA) or set "
                                  "backbone.freeze: all"
                                : NULL;
                if (why)
                        return socfw_error_set_at(
                                err, SOCFW_ESCHEMA,
                                socfw_config_file(bb.section),
                                socfw_config_line(bb.section,
                                                  "keep_quantized"),
                                socfw_config_column(bb.section,
                                                    "keep_quantized"),
                                "backbone.keep_quantized: %s", why);
        }
        return 0;
}

int
rt_build_adapters(socfw_runtime *rt, socfw_error *err)
{
        const rt_adapter_keys *bk = &rt->backbone.adapter;
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (!t->head)
                        continue;
                const rt_adapter_keys *tk = &t->set.adapter;
                socfw_adapter_config ac;
                int rc = rt_adapter_config_resolve(&ac, tk, bk, err);
                if (rc < 0)
                        return rc;
                const char *from = rt_adapter_from(tk, bk);
                if (from) {     /* trained elsewhere: PEFT or socfw files */
                        rc = socfw_adapter_load(&t->adapter, rt->model, from,
                                                true, err);
                        /* socfw's own directory carries the head too */
                        char hp[4300];
                        snprintf(hp, sizeof hp, "%s/head.safetensors", from);
                        if (rc == 0 && access(hp, F_OK) == 0)
                                rc = rt_load_head(t, from, err);
                        if (rc < 0)
                                return socfw_error_prefix(
                                        err, rc, "task '%s': adapter.from",
                                        socfw_task_name(t->ctx));
                        rt_progress(rt, "task %s: %s adapter from %s",
                                    socfw_task_name(t->ctx),
                                    socfw_adapter_type_name(
                                            socfw_adapter_config_of(t->adapter)
                                                    ->type),
                                    from);
                        rt->n_adapters++;
                        continue;
                }
                if (ac.type == SOCFW_ADAPTER_NONE)
                        continue;
                const socfw_model_config *mc =
                        socfw_model_config_of(rt->model);
                if (ac.type == SOCFW_ADAPTER_PREFIX &&
                    mc->arch != SOCFW_ARCH_LLAMA &&
                    rt->max_seq + ac.prefix_length > mc->max_positions) {
                        char msg[256];
                        snprintf(msg, sizeof msg, "%d prefix rows and "
                                 "max_seq_len %d exceed the model's %d "
                                 "positions; hint: a shorter prefix or "
                                 "backbone.max_seq_len", ac.prefix_length,
                                 rt->max_seq, mc->max_positions);
                        return rt_adapter_key_error(tk, bk,
                                                    RT_AK_PREFIX_LENGTH,
                                                    SOCFW_ESCHEMA, err, msg);
                }
                if (ac.type == SOCFW_ADAPTER_PROMPT &&
                    mc->arch != SOCFW_ARCH_LLAMA &&
                    rt->max_seq + ac.num_virtual_tokens > mc->max_positions) {
                        char msg[256];
                        snprintf(msg, sizeof msg, "%d virtual tokens and "
                                 "max_seq_len %d exceed the model's %d "
                                 "positions; hint: fewer virtual tokens or "
                                 "a shorter backbone.max_seq_len",
                                 ac.num_virtual_tokens, rt->max_seq,
                                 mc->max_positions);
                        return rt_adapter_key_error(
                                tk, bk, RT_AK_NUM_VIRTUAL_TOKENS,
                                SOCFW_ESCHEMA, err, msg);
                }
                socfw_rng r;
                socfw_rng_fork(&rt->rng, 2000 + i, &r);
                rc = socfw_adapter_new(&t->adapter, rt->model, &ac,
                                       socfw_rng_next(&r), err);
                if (rc < 0) {
                        /* point at the key the user would change: the
                         * targets where written, else the type */
                        rt_adapter_key key =
                                (tk->given | bk->given) &
                                                (1u << RT_AK_TARGETS)
                                        ? RT_AK_TARGETS
                                        : RT_AK_TYPE;
                        char msg[SOCFW_ERROR_MSG_MAX];
                        snprintf(msg, sizeof msg, "%s", err ? err->message
                                                            : "bad adapter");
                        if (err)
                                *err = (socfw_error){0};
                        return rt_adapter_key_error(tk, bk, key, rc, err,
                                                    msg);
                }
                socfw_params *ps = socfw_adapter_params(t->adapter);
                rt_progress(rt, "task %s: %s adapter, %lld parameters "
                            "(%.3f%% of the backbone's %lld)",
                            socfw_task_name(t->ctx),
                            socfw_adapter_type_name(ac.type),
                            (long long)socfw_params_total_numel(ps),
                            100.0 * (double)socfw_params_total_numel(ps) /
                                    (double)socfw_params_total_numel(
                                            socfw_model_params(rt->model)),
                            (long long)socfw_params_total_numel(
                                    socfw_model_params(rt->model)));
                rt->n_adapters++;
        }
        return 0;
}

int
rt_use_adapter(socfw_runtime *rt, const rt_task *t, socfw_error *err)
{
        socfw_adapter *want = t ? t->adapter : NULL;
        if (socfw_model_attached(rt->model) == want)
                return 0;
        return socfw_model_attach(rt->model, want, err);
}

int
rt_save_adapters(socfw_runtime *rt, socfw_error *err)
{
        const char *src = rt->backbone.model;
        /* a backbone the pipeline pretrained lives in the run */
        char pretrained[4200];
        snprintf(pretrained, sizeof pretrained, "%s/backbone", rt->out_dir);
        if (!src)
                src = pretrained;
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (!t->adapter || t->reused)   /* reused: files untouched */
                        continue;
                char dir[4200], path[4300];
                snprintf(dir, sizeof dir, "%s/adapters/%s", rt->out_dir,
                         socfw_task_name(t->ctx));
                int rc = socfw_adapter_save(t->adapter, rt->model, dir,
                                            socfw_task_name(t->ctx), src,
                                            err);
                if (rc < 0)
                        return rc;
                int n = t->hps ? socfw_params_count(t->hps) : 0;
                socfw_tensor_info *ti = calloc(n ? (size_t)n : 1, sizeof *ti);
                if (!ti)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                for (int k = 0; k < n; k++)
                        socfw_safetensors_tensor_of(&ti[k], t->hps, k, NULL);
                socfw_safetensors_kv kv[2] = {
                        {"format", "socfw-head-1"},
                        {"head", t->head ? t->head->name : ""}};
                snprintf(path, sizeof path, "%s/head.safetensors", dir);
                rc = socfw_safetensors_write(path, ti, (size_t)n, kv, 2, err);
                free(ti);
                if (rc < 0)
                        return rc;
                /* what it was trained on, for composition */
                char fp[65];
                task_fingerprint(rt, t, fp);
                snprintf(path, sizeof path, "%s/meta.json", dir);
                json_t *meta = json_load_file(path, 0, NULL);
                char *text = NULL;
                if (meta && !json_object_set_new(meta, "task_fingerprint",
                                                 json_string(fp)))
                        text = json_dumps(meta, JSON_INDENT(2) |
                                                        JSON_SORT_KEYS);
                json_decref(meta);
                rc = text ? socfw_file_write_atomic(path, text, strlen(text),
                                                    err)
                          : socfw_error_set(err, SOCFW_EFORMAT,
                                            "%s: cannot update", path);
                free(text);
                if (rc < 0)
                        return rc;
                if (socfw_adapter_config_of(t->adapter)->type ==
                    SOCFW_ADAPTER_ADALORA) {   /* where the budget went */
                        char line[1024];
                        size_t len = 0;
                        const socfw_model_config *mc =
                                socfw_model_config_of(rt->model);
                        for (int l = 0; l < mc->n_layers && len < 900; l++)
                                for (int q = 0; q < SOCFW_SITE_COUNT &&
                                                len < 900; q++)
                                        if (socfw_adapter_has(t->adapter, l,
                                                              (socfw_site)q))
                                                len += (size_t)snprintf(
                                                        line + len,
                                                        sizeof line - len,
                                                        " %d.%s=%d", l,
                                                        socfw_site_name((socfw_site)q),
                                                        socfw_adapter_site_rank(
                                                                t->adapter, l,
                                                                (socfw_site)q));
                        rt_progress(rt, "task %s: AdaLoRA ranks per site:%s",
                                    socfw_task_name(t->ctx), line);
                }
                rt_progress(rt, "task %s: adapter written to %s",
                            socfw_task_name(t->ctx), dir);
        }
        return 0;
}

/* ---- composition ---- */

static void
hash_file(crypto_generichash_state *st, const char *path)
{
        unsigned char buf[1 << 16];
        FILE *f = path ? fopen(path, "rb") : NULL;
        uint64_t total = 0;
        size_t n;
        while (f && (n = fread(buf, 1, sizeof buf, f)) > 0) {
                crypto_generichash_update(st, buf, n);
                total += n;
        }
        if (f)
                fclose(f);
        crypto_generichash_update(st, (const unsigned char *)&total,
                                  sizeof total);
}

/* What a task's training depends on: its section (head, loss, adapter,
 * data keys...), its training and validation data, the backbone and the
 * vocabulary. */
static void
task_fingerprint(socfw_runtime *rt, const rt_task *t, char hex[65])
{
        unsigned char d[32];
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, sizeof d);
        socfw_config_digest(t->cfg, d);
        crypto_generichash_update(&st, d, sizeof d);
        crypto_generichash_update(&st, (const unsigned char *)rt->backbone_fp,
                                  strlen(rt->backbone_fp));
        crypto_generichash_update(&st, (const unsigned char *)rt->tokenizer_fp,
                                  strlen(rt->tokenizer_fp));
        hash_file(&st, t->set.data_train);
        hash_file(&st, t->set.data_valid);
        crypto_generichash_final(&st, d, sizeof d);
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int
rt_load_head(rt_task *t, const char *dir, socfw_error *err)
{
        char path[4300];
        snprintf(path, sizeof path, "%s/head.safetensors", dir);
        socfw_modelfile *mf = NULL;
        int rc = socfw_modelfile_open(&mf, path, err);
        for (int k = 0; rc == 0 && t->hps && k < socfw_params_count(t->hps);
             k++) {
                const char *name = socfw_params_name(t->hps, k);
                const socfw_tensor_info *x = socfw_modelfile_find(mf, name);
                if (!x || x->nelem != socfw_params_numel(t->hps, k))
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, path, 0, 0,
                                "head tensor '%s' is missing or has another "
                                "size; hint: --retrain %s",
                                name, socfw_task_name(t->ctx));
                else
                        rc = socfw_modelfile_read_f32(
                                mf, x, socfw_params_data(t->hps, k),
                                (size_t)x->nelem, err);
        }
        socfw_modelfile_close(mf);
        return rc;
}

int
rt_reuse_adapters(socfw_runtime *rt, const char *const *retrain,
                  size_t n_retrain, socfw_error *err)
{
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (!t->adapter)
                        continue;
                const char *name = socfw_task_name(t->ctx);
                int forced = 0;
                for (size_t k = 0; k < n_retrain; k++)
                        forced |= retrain[k] && !strcmp(retrain[k], name);
                char dir[4200], path[4300], fp[65];
                snprintf(dir, sizeof dir, "%s/adapters/%s", rt->out_dir, name);
                snprintf(path, sizeof path, "%s/meta.json", dir);
                json_t *meta = json_load_file(path, 0, NULL);
                const char *had = json_string_value(
                        json_object_get(meta, "task_fingerprint"));
                task_fingerprint(rt, t, fp);
                int same = had && !strcmp(had, fp);
                json_decref(meta);
                if (!same || forced) {
                        if (had)
                                rt_progress(rt, "task %s: %s; training it "
                                            "again", name,
                                            forced ? "--retrain"
                                                   : "its section, data or "
                                                     "backbone changed");
                        continue;
                }
                socfw_adapter *a = NULL;
                int rc = socfw_adapter_load(&a, rt->model, dir, true, err);
                if (rc == 0)
                        rc = rt_load_head(t, dir, err);
                if (rc < 0) {
                        socfw_adapter_free(a);
                        return socfw_error_prefix(err, rc, "task '%s': "
                                                  "reusing %s", name, dir);
                }
                if (socfw_model_attached(rt->model) == t->adapter)
                        socfw_model_attach(rt->model, NULL, NULL);
                socfw_adapter_free(t->adapter);
                t->adapter = a;
                t->reused = 1;
                t->trained = 0;
                rt_progress(rt, "task %s: unchanged since it was trained; "
                            "reusing %s (--retrain %s trains it again)",
                            name, dir, name);
        }
        return 0;
}

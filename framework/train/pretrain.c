/* pretrain.c - a backbone from scratch: train a tokenizer on the corpus,
 * build a randomly initialised model of the pipeline's architecture, and
 * pretrain it as a causal language model; save it in Hugging Face layout
 * so later runs (and other tools) can load it. */
#define _GNU_SOURCE /* asprintf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/config_impl.h"
#include "socfw/data.h"
#include "socfw/io.h"
#include "socfw/nn.h"
#include "socfw/safetensors.h"
#include "train/runtime_impl.h"

#define MAX_CORPUS_BYTES ((size_t)256 << 20)
#define MAX_LINE_BYTES 65536

typedef struct corpus {
        char **lines;
        size_t *lens;
        size_t n, cap, bytes;
} corpus;

static void
corpus_free(corpus *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->lines[i]);
        free(c->lines);
        free(c->lens);
        memset(c, 0, sizeof *c);
}

static int
corpus_add(corpus *c, const char *s, size_t len)
{
        if (len == 0 || c->bytes + len > MAX_CORPUS_BYTES)
                return 0;
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 1024;
                char **l = realloc(c->lines, cap * sizeof *l);
                if (!l)
                        return SOCFW_ENOMEM;
                c->lines = l;
                size_t *n = realloc(c->lens, cap * sizeof *n);
                if (!n)
                        return SOCFW_ENOMEM;
                c->lens = n;
                c->cap = cap;
        }
        char *copy = strndup(s, len);
        if (!copy)
                return SOCFW_ENOMEM;
        c->lines[c->n] = copy;
        c->lens[c->n++] = len;
        c->bytes += len;
        return 0;
}

/* Plain text, one document per line; invalid UTF-8 lines are skipped. */
/* Add a line after the pipeline's privacy stage has cleaned it. */
static int
corpus_add_clean(socfw_runtime *rt, corpus *c, const char *s, size_t len,
                 socfw_error *err)
{
        if (!rt->privacy)
                return corpus_add(c, s, len);
        char *line = strndup(s, len), *clean = NULL;
        if (!line)
                return SOCFW_ENOMEM;
        int rc = rt_anonymise(rt, line, &clean, err);
        if (rc == 0)
                rc = corpus_add(c, clean, strlen(clean));
        free(line);
        free(clean);
        return rc;
}

static int
read_text_file(socfw_runtime *rt, corpus *c, const char *path,
               socfw_error *err)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                          "cannot open the pretraining "
                                          "corpus: %m");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        int rc = 0;
        while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
                while (len > 0 && (line[len - 1] == '\n' ||
                                   line[len - 1] == '\r'))
                        len--;
                if (len > MAX_LINE_BYTES ||
                    !socfw_utf8_valid(line, (size_t)len, NULL))
                        continue;
                rc = corpus_add_clean(rt, c, line, (size_t)len, err);
        }
        free(line);
        fclose(f);
        return rc < 0 ? socfw_error_set(err, rc, "reading %s", path) : 0;
}

/* The texts of the tasks' training data join the corpus. */
static int
add_task_texts(socfw_runtime *rt, corpus *c, socfw_error *err)
{
        for (size_t i = 0; i < socfw_pipeline_task_count(rt->p); i++) {
                const socfw_config *t = socfw_pipeline_task(rt->p, i);
                const char *train = socfw_config_get_string(t, "data.train");
                const socfw_plugin *head = socfw_pipeline_task_head(rt->p, i);
                /* text classification data has one text field; other
                 * shapes (dialog turns, interactions) are left out */
                if (!train || !head || strcmp(head->name, "classifier") != 0)
                        continue;
                socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
                o.text_field = socfw_config_get_string(t, "data.text_field");
                o.reader.bad_rows = SOCFW_BAD_ROWS_SKIP;
                socfw_dataset *ds = NULL;
                socfw_error local = {0};
                if (socfw_dataset_load(&ds, train, &o, &local) < 0)
                        continue; /* e.g. dialog data without a text field */
                int rc = 0;
                for (size_t k = 0; rc == 0 && k < socfw_dataset_size(ds);
                     k++) {
                        const char *s = socfw_dataset_text(ds, k);
                        if (s)
                                rc = corpus_add_clean(rt, c, s, strlen(s),
                                                      err);
                }
                socfw_dataset_free(ds);
                if (rc < 0)
                        return socfw_error_set(err, rc, "reading %s",
                                               train);
        }
        return 0;
}

/* ---- saving a backbone in Hugging Face layout ---- */

static json_t *
hf_config(const socfw_model_config *c)
{
        switch (c->arch) {
        case SOCFW_ARCH_GPT2:
                return json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:f, "
                                 "s:s, s:b, s:i, s:i}",
                                 "model_type", "gpt2", "architectures",
                                 "GPT2LMHeadModel", "vocab_size",
                                 c->vocab_size, "n_embd", c->hidden,
                                 "n_layer", c->n_layers, "n_head", c->n_heads,
                                 "n_positions", c->max_positions,
                                 "layer_norm_epsilon", (double)c->norm_eps,
                                 "activation_function", "gelu_new",
                                 "tie_word_embeddings", c->tie_embeddings,
                                 "bos_token_id", c->bos_id, "eos_token_id",
                                 c->eos_id);
        case SOCFW_ARCH_LLAMA:
                return json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:i, "
                                 "s:i, s:f, s:f, s:s, s:b, s:i, s:i}",
                                 "model_type", "llama", "architectures",
                                 "LlamaForCausalLM", "vocab_size",
                                 c->vocab_size, "hidden_size", c->hidden,
                                 "intermediate_size", c->ffn,
                                 "num_hidden_layers", c->n_layers,
                                 "num_attention_heads", c->n_heads,
                                 "num_key_value_heads", c->n_kv_heads,
                                 "max_position_embeddings", c->max_positions,
                                 "rms_norm_eps", (double)c->norm_eps,
                                 "rope_theta", (double)c->rope_theta,
                                 "hidden_act", "silu", "tie_word_embeddings",
                                 c->tie_embeddings, "bos_token_id", c->bos_id,
                                 "eos_token_id", c->eos_id);
        default:
                return NULL;
        }
}

int
rt_save_backbone(socfw_runtime *rt, const char *dir, socfw_error *err)
{
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        json_t *cfg = hf_config(mc);
        if (!cfg)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "saving a %s backbone is not "
                                       "supported yet",
                                       socfw_arch_name(mc->arch));
        int rc = socfw_dir_make(dir, 0755, err);
        char *text = json_dumps(cfg, JSON_INDENT(2));
        json_decref(cfg);
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", dir);
        if (rc == 0)
                rc = text ? socfw_file_write_atomic(path, text, strlen(text),
                                                    err)
                          : SOCFW_ENOMEM;
        free(text);
        socfw_params *ps = socfw_model_params(rt->model);
        size_t n = (size_t)socfw_params_count(ps);
        socfw_tensor_info *ti = calloc(n ? n : 1, sizeof *ti);
        if (rc == 0 && !ti)
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t k = 0; rc == 0 && k < n; k++)
                rt_tensor_of(&ti[k], ps, (int)k, NULL);
        socfw_safetensors_kv kv[1] = {{"format", "pt"}};
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (rc == 0)
                rc = socfw_safetensors_write(path, ti, n, kv, 1, err);
        free(ti);
        if (rc == 0)
                rc = socfw_tokenizer_save(rt->tok, dir, err);
        return rc;
}

/* ---- pretraining ---- */

static double
seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Causal LM on random windows of the token stream. */
static int
pretrain_clm(socfw_runtime *rt, const int32_t *stream, size_t n_stream,
             socfw_error *err)
{
        const socfw_config *pt = socfw_pipeline_section(rt->p, "pretrain");
        const socfw_config *tr = socfw_pipeline_section(rt->p, "train");
        long steps = (long)socfw_config_get_int(pt, "steps");
        int B = (int)socfw_config_get_int(pt, "batch_size");
        int T = (int)socfw_config_get_int(pt, "seq_len");
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        if (T > mc->max_positions)
                T = mc->max_positions;
        if ((size_t)T + 1 > n_stream)
                T = (int)n_stream - 1;
        if (T < 2 || steps <= 0)
                return 0;
        int V = mc->vocab_size, C = mc->hidden;
        size_t N = (size_t)B * (size_t)T;
        int32_t *ids = malloc(sizeof(int32_t) * N);
        int32_t *tgt = malloc(sizeof(int32_t) * N);
        float *hidden = malloc(sizeof(float) * N * (size_t)C);
        float *dhidden = calloc(N * (size_t)C, sizeof(float));
        float *logits = malloc(sizeof(float) * N * (size_t)V);
        socfw_params *ps = socfw_model_params(rt->model);
        size_t np = (size_t)socfw_params_size(ps);
        socfw_adamw_config ac;
        socfw_adamw_config_default(&ac);
        ac.weight_decay = 0.01f;
        ac.beta2 = 0.95f;
        socfw_adamw *opt = socfw_adamw_new(np, &ac, err);
        int rc = 0;
        if (!ids || !tgt || !hidden || !dhidden || !logits || !opt) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "out of memory for pretraining batches "
                                     "(%d x %d, vocabulary %d)",
                                     B, T, V);
                goto out;
        }
        socfw_adamw_set_decay_range(opt, 0, np, 0, NULL);
        for (int k = 0; k < socfw_params_count(ps); k++)
                if (socfw_params_ndim(ps, k) >= 2)
                        socfw_adamw_set_decay_range(
                                opt, (size_t)socfw_params_offset(ps, k),
                                (size_t)socfw_params_numel(ps, k), 1, NULL);
        socfw_lr_schedule sched;
        double warm = socfw_config_get_float(pt, "warmup");
        rc = socfw_lr_schedule_init(&sched, SOCFW_LR_COSINE, steps,
                                    warm >= 1 ? (long)warm : 0,
                                    warm < 1 ? warm : 0, 0.1, err);
        if (rc < 0)
                goto out;
        double lr = socfw_config_get_float(pt, "lr");
        float clip = (float)socfw_config_get_float(tr, "grad_clip");
        double t0 = seconds(), loss_sum = 0;
        int loss_n = 0;
        rt_progress(rt, "pretraining (causal LM): %ld steps of %d x %d "
                        "tokens over a stream of %zu tokens",
                    steps, B, T, n_stream);
        for (long step = 0; step < steps; step++) {
                for (int b = 0; b < B; b++) {
                        size_t start = (size_t)socfw_rng_below(
                                &rt->rng, n_stream - (size_t)T);
                        memcpy(ids + (size_t)b * T, stream + start,
                               sizeof(int32_t) * (size_t)T);
                        memcpy(tgt + (size_t)b * T, stream + start + 1,
                               sizeof(int32_t) * (size_t)T);
                }
                rc = socfw_model_forward(rt->model, ids, NULL, NULL, B, T,
                                         true, rt->dropout, &rt->rng, hidden,
                                         err);
                if (rc == 0)
                        rc = socfw_model_lm_logits(rt->model, hidden, (int)N,
                                                   logits, err);
                float loss = 0;
                if (rc == 0)
                        rc = socfw_nn_cross_entropy_forward_backward(
                                &loss, NULL, logits, logits, tgt, (int)N, V,
                                NULL, err);
                if (rc == 0) {
                        memset(dhidden, 0, sizeof(float) * N * (size_t)C);
                        rc = socfw_model_lm_logits_backward(
                                rt->model, hidden, logits, (int)N, dhidden,
                                err);
                }
                if (rc == 0)
                        rc = socfw_model_backward(rt->model, dhidden, err);
                if (rc < 0)
                        goto out;
                float *grad = socfw_params_grad_buffer(ps);
                float norm = socfw_grad_clip_norm(grad, np,
                                                  clip > 0 ? clip : INFINITY);
                double cur = lr * socfw_lr_schedule_factor(&sched, step);
                if (isfinite(norm))
                        socfw_adamw_step(opt, socfw_params_data_buffer(ps),
                                         grad, cur);
                socfw_params_zero_grad(ps);
                loss_sum += loss;
                loss_n++;
                if ((step + 1) % 50 == 0 || step + 1 == steps) {
                        double el = seconds() - t0;
                        rt_progress(rt, "pretrain step %ld/%ld loss %.4f lr "
                                        "%.3g %.0f tokens/s ETA %.0fs",
                                    step + 1, steps, loss_sum / loss_n, cur,
                                    (double)(step + 1) * (double)N / el,
                                    el / (double)(step + 1) *
                                            (double)(steps - step - 1));
                        loss_sum = 0;
                        loss_n = 0;
                }
        }
out:
        socfw_adamw_free(opt);
        free(ids);
        free(tgt);
        free(hidden);
        free(dhidden);
        free(logits);
        return rc;
}

int
rt_build_from_scratch(socfw_runtime *rt, socfw_error *err)
{
        const socfw_config *bb = socfw_pipeline_section(rt->p, "backbone");
        const socfw_config *pt = socfw_pipeline_section(rt->p, "pretrain");
        const char *arch = socfw_config_get_string(bb, "arch");
        socfw_arch a = !strcmp(arch, "llama")     ? SOCFW_ARCH_LLAMA
                       : !strcmp(arch, "bert")    ? SOCFW_ARCH_BERT
                       : !strcmp(arch, "roberta") ? SOCFW_ARCH_ROBERTA
                                                  : SOCFW_ARCH_GPT2;
        if (a == SOCFW_ARCH_BERT || a == SOCFW_ARCH_ROBERTA)
                return socfw_error_set_at(
                        err, SOCFW_EUNSUPPORTED, socfw_pipeline_path(rt->p),
                        socfw_config_line(bb, "arch"),
                        socfw_config_column(bb, "arch"),
                        "pretraining an encoder (%s, masked LM) from "
                        "scratch is not available yet; hint: use arch: "
                        "gpt2 or llama, or give backbone.model",
                        arch);
        corpus c = {0};
        int32_t *stream = NULL;
        size_t n_stream = 0, cap = 0;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < socfw_config_list_len(pt, "corpus");
             i++) {
                char *path = socfw_config_join_path(
                        socfw_pipeline_dir(rt->p),
                        socfw_config_list_get(pt, "corpus", i));
                rc = path ? read_text_file(rt, &c, path, err) : SOCFW_ENOMEM;
                free(path);
        }
        if (rc == 0)
                rc = add_task_texts(rt, &c, err);
        if (rc == 0 && c.n == 0)
                rc = socfw_error_set(err, SOCFW_ESCHEMA,
                                     "%s: the backbone is built from scratch "
                                     "but there is no text to pretrain on "
                                     "(hint: set pretrain.corpus, or give "
                                     "backbone.model)",
                                     socfw_pipeline_path(rt->p));
        if (rc < 0)
                goto out;
        rt_progress(rt, "corpus: %zu lines, %.1f MB", c.n,
                    (double)c.bytes / 1e6);

        /* tokenizer */
        static const char *const specials[] = {"<|endoftext|>"};
        socfw_tokenizer_train_options to = {
                .vocab_size = (size_t)socfw_config_get_int(
                        pt, "tokenizer.vocab_size"),
                .min_frequency = 2,
                .special_tokens = specials,
                .n_special_tokens = 1,
        };
        double t0 = seconds();
        rc = socfw_tokenizer_train_bpe(&rt->tok, (const char *const *)c.lines,
                                       c.lens, c.n, &to, err);
        if (rc < 0)
                goto out;
        rt_progress(rt, "tokenizer: byte-level BPE, %zu tokens, trained in "
                        "%.1fs",
                    socfw_tokenizer_vocab_size(rt->tok), seconds() - t0);

        /* the token stream: documents separated by <|endoftext|> */
        int32_t eot = socfw_tokenizer_special_id(rt->tok, SOCFW_TOKENIZER_EOS);
        for (size_t i = 0; rc == 0 && i < c.n; i++) {
                int32_t *ids = NULL;
                size_t n = 0;
                rc = socfw_tokenizer_encode(rt->tok, c.lines[i], c.lens[i], 0,
                                            &ids, &n, err);
                if (rc < 0)
                        break;
                if (n_stream + n + 1 > cap) {
                        size_t ncap = cap ? cap * 2 : 1 << 16;
                        while (ncap < n_stream + n + 1)
                                ncap *= 2;
                        int32_t *g = realloc(stream, ncap * sizeof *g);
                        if (!g) {
                                free(ids);
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                break;
                        }
                        stream = g;
                        cap = ncap;
                }
                if (n)
                        memcpy(stream + n_stream, ids, n * sizeof *ids);
                n_stream += n;
                if (eot >= 0)
                        stream[n_stream++] = eot;
                free(ids);
        }
        if (rc < 0)
                goto out;

        /* the model */
        socfw_model_config mc;
        int hidden = (int)socfw_config_get_int(bb, "hidden");
        int heads = (int)socfw_config_get_int(bb, "heads");
        int ffn = (int)socfw_config_get_int(bb, "ffn");
        if (hidden % heads != 0) {
                rc = socfw_error_set_at(
                        err, SOCFW_ESCHEMA, socfw_pipeline_path(rt->p),
                        socfw_config_line(bb, "heads"),
                        socfw_config_column(bb, "heads"),
                        "backbone.hidden (%d) must be a multiple of "
                        "backbone.heads (%d)",
                        hidden, heads);
                goto out;
        }
        socfw_model_config_default(
                &mc, a, (int)socfw_tokenizer_vocab_size(rt->tok), hidden,
                (int)socfw_config_get_int(bb, "layers"), heads,
                ffn ? ffn : 4 * hidden,
                (int)socfw_config_get_int(bb, "max_positions"));
        int kv = (int)socfw_config_get_int(bb, "kv_heads");
        if (kv > 0)
                mc.n_kv_heads = kv;
        mc.bos_id = mc.eos_id = eot;
        rc = socfw_model_new_random(
                &rt->model, &mc,
                (uint64_t)socfw_config_get_int(
                        socfw_pipeline_section(rt->p, "train"), "seed"),
                err);
        if (rc < 0)
                goto out;
        rt_progress(rt, "backbone: new %s, %d layers, hidden %d, %d heads, "
                        "%.2fM parameters",
                    arch, mc.n_layers, mc.hidden, mc.n_heads,
                    (double)socfw_params_total_numel(
                            socfw_model_params(rt->model)) /
                            1e6);
        rc = pretrain_clm(rt, stream, n_stream, err);
        if (rc == 0 && rt->out_dir) {
                char *dir = socfw_path_join_alloc(rt->out_dir, "backbone");
                rc = dir ? rt_save_backbone(rt, dir, err)
                         : socfw_error_set(err, SOCFW_ENOMEM,
                                           "out of memory");
                if (rc == 0)
                        rt_progress(rt, "backbone saved to %s", dir);
                free(dir);
        }
out:
        free(stream);
        corpus_free(&c);
        return rc;
}

/* bench/bench_peft.c - full fine-tuning against LoRA on a GPT-2 124M shape
 * (random weights, batch 4 x 128, causal-LM loss): the time of a whole
 * training step (forward, LM logits, cross-entropy, backward, AdamW), the
 * trainable parameters and optimizer-state bytes, and the peak resident
 * memory of each setting, each measured in its own child process.  Then
 * the same step in PyTorch with a hand-written LoRA (frozen base,
 * requires_grad off; bench/bench_torch_lora.py) at the same thread count,
 * and the ratios.
 *
 *     bench/bench_peft [threads] [steps] [layers] [--no-torch]
 *
 * Settings: full (every tensor trains), lora-qv (r 8 on attn.q + attn.v),
 * lora-all (r 8 on every linear site).  Defaults 0 (all CPUs) 5 12.  It
 * measures; it does not pass or fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "socfw/model.h"
#include "socfw/nn.h"
#include "socfw/optim.h"
#include "socfw/peft.h"
#include "socfw/threads.h"

#ifndef SOCFW_SRCDIR
#define SOCFW_SRCDIR "."
#endif

enum { FULL, LORA_QV, LORA_ALL, N_MODES };
static const char *const mode_name[N_MODES] = {"full", "lora-qv", "lora-all"};

typedef struct result {
        double step_s;          /* median step */
        double trainable;       /* parameters */
        double opt_bytes;       /* AdamW moments */
        double rss_mib;         /* peak resident memory of the child */
} result;

/* One setting, in this (child) process; writes the result to fd. */
static int
run_mode(int mode, int threads, int steps, int layers, int fd)
{
        (void)threads;
        int B = 4, T = 128, N = B * T;
        socfw_model_config cfg;
        socfw_model_config_default(&cfg, SOCFW_ARCH_GPT2, 50257, 768, layers,
                                   12, 3072, 1024);
        socfw_model *m = NULL;
        socfw_adapter *a = NULL;
        socfw_error err = {0};
        if (socfw_model_new_random(&m, &cfg, 1234, &err) < 0)
                goto fail;
        socfw_params *trained = socfw_model_params(m);
        if (mode != FULL) {
                socfw_adapter_config ac;
                socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
                ac.rank = 8;
                ac.alpha = 16;
                if (mode == LORA_ALL)
                        ac.targets = SOCFW_SITE_ALL &
                                     ~SOCFW_SITE_BIT(SOCFW_SITE_MLP_GATE);
                socfw_model_freeze(m, 0, false);
                if (socfw_adapter_new(&a, m, &ac, 7, &err) < 0 ||
                    socfw_model_attach(m, a, &err) < 0)
                        goto fail;
                trained = socfw_adapter_params(a);
        }
        size_t n = (size_t)socfw_params_size(trained);
        socfw_adamw_config oc;
        socfw_adamw_config_default(&oc);
        socfw_adamw *opt = socfw_adamw_new(n, &oc, &err);
        int C = cfg.hidden, V = cfg.vocab_size;
        int32_t *ids = malloc(sizeof(int32_t) * (N + 1));
        float *h = malloc(sizeof(float) * N * C);
        float *dh = malloc(sizeof(float) * N * C);
        float *logits = malloc(sizeof(float) * (size_t)N * V);
        if (!opt || !ids || !h || !dh || !logits)
                goto fail;
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        for (int i = 0; i <= N; i++)
                ids[i] = (int32_t)socfw_rng_below(&rng, (uint64_t)V);
        double times[64];
        if (steps > 63)
                steps = 63;
        for (int s = 0; s <= steps; s++) {
                float loss = 0.0f;
                double t0 = bench_now();
                int rc = 0;
                socfw_params_zero_grad(trained);
                rc |= socfw_model_forward(m, ids, NULL, NULL, B, T, true, 0.0f,
                                          &rng, h, &err);
                rc |= socfw_model_lm_logits(m, h, N, logits, &err);
                rc |= socfw_nn_cross_entropy_forward_backward(
                        &loss, NULL, logits, logits, ids + 1, N, V, NULL,
                        &err);
                memset(dh, 0, sizeof(float) * N * C);
                rc |= socfw_model_lm_logits_backward(m, h, logits, N, dh,
                                                     &err);
                rc |= socfw_model_backward(m, dh, &err);
                rc |= socfw_adamw_step(opt, socfw_params_data_buffer(trained),
                                       socfw_params_grad_buffer(trained),
                                       1e-4f);
                if (rc < 0)
                        goto fail;
                double dt = bench_now() - t0;
                printf("  %-8s step %d: loss %.4f, %.3f s\n", mode_name[mode],
                       s, loss, dt);
                fflush(stdout);
                if (s > 0)
                        times[s - 1] = dt;
        }
        bench_sort(times, (size_t)steps);
        result r;
        r.step_s = steps % 2 ? times[steps / 2]
                             : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
        r.trainable = (double)socfw_params_total_numel(trained);
        r.opt_bytes = 2.0 * (double)n * sizeof(float);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        r.rss_mib = (double)ru.ru_maxrss / 1024.0;
        if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
                return 1;
        return 0;
fail:
        fprintf(stderr, "bench_peft: %s: %s\n", mode_name[mode],
                err.message[0] ? err.message : "out of memory");
        return 1;
}

static int
measure(int mode, int threads, int steps, int layers, result *r)
{
        int p[2];
        if (pipe(p) < 0)
                return -1;
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                close(p[0]);
                if (threads > 0)
                        socfw_threads_set(threads);
                int rc = run_mode(mode, threads, steps, layers, p[1]);
                fflush(stdout);
                _exit(rc);
        }
        close(p[1]);
        ssize_t got = read(p[0], r, sizeof *r);
        close(p[0]);
        int st = 0;
        waitpid(pid, &st, 0);
        return got == (ssize_t)sizeof *r && WIFEXITED(st) &&
                               WEXITSTATUS(st) == 0
                       ? 0
                       : -1;
}

/* PyTorch full / LoRA steps: tokens/s per setting, or 0. */
static void
run_torch(int threads, int steps, int layers, double tps[N_MODES])
{
        char cmd[8192], line[1024];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 %s/bench/bench_torch_lora.py %d %d %d",
                 SOCFW_SRCDIR, threads, steps, layers);
        FILE *f = popen(cmd, "r");
        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                fputs(line, stdout);
                char name[32];
                double v;
                if (sscanf(line, "torch %31s %lf tokens/s", name, &v) == 2)
                        for (int m = 0; m < N_MODES; m++)
                                if (!strcmp(name, mode_name[m]))
                                        tps[m] = v;
        }
        pclose(f);
}

int
main(int argc, char **argv)
{
        int threads = 0, steps = 5, layers = 12, torch = 1, pos = 0;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--no-torch")) {
                        torch = 0;
                        continue;
                }
                char *end;
                long v = strtol(argv[i], &end, 10);
                if (*end || v < 0 || pos > 2) {
                        fprintf(stderr, "usage: %s [threads] [steps] "
                                "[layers] [--no-torch]\n", argv[0]);
                        return 2;
                }
                if (pos == 0)
                        threads = (int)v;
                else if (pos == 1)
                        steps = v > 0 ? (int)v : 1;
                else
                        layers = v > 0 ? (int)v : 1;
                pos++;
        }
        int shown = threads > 0 ? threads : socfw_threads_get();
        printf("socfw GPT-2 124M shape (%d layers), batch 4 x 128, %d "
               "threads, %d timed steps each (a warm-up first)\n", layers,
               shown, steps);
        result r[N_MODES];
        int ok[N_MODES];
        for (int m = 0; m < N_MODES; m++)
                ok[m] = measure(m, threads, steps, layers, &r[m]) == 0;
        double tt[N_MODES] = {0};
        if (torch)
                run_torch(shown, steps, layers, tt);
        printf("\n%-9s %12s %10s %14s %12s %10s %10s %10s\n", "setting",
               "trainable", "step (s)", "tokens/s", "opt. state",
               "peak RSS", "vs full", "vs torch");
        for (int m = 0; m < N_MODES; m++) {
                if (!ok[m]) {
                        printf("%-9s failed\n", mode_name[m]);
                        continue;
                }
                double tps = 512.0 / r[m].step_s;
                printf("%-9s %12.0f %10.3f %14.1f %9.1f MiB %6.0f MiB "
                       "%9.2fx %9.2fx\n",
                       mode_name[m], r[m].trainable, r[m].step_s, tps,
                       r[m].opt_bytes / 1048576.0, r[m].rss_mib,
                       ok[FULL] ? r[m].step_s / r[FULL].step_s : 0.0,
                       tt[m] > 0 ? tps / tt[m] : 0.0);
        }
        if (ok[FULL])
                for (int m = LORA_QV; m < N_MODES; m++)
                        if (ok[m])
                                printf("%s: step %.2fx, optimizer state "
                                       "%.2f%%, peak RSS %.0f%% of full "
                                       "fine-tuning\n", mode_name[m],
                                       r[m].step_s / r[FULL].step_s,
                                       100.0 * r[m].opt_bytes /
                                               r[FULL].opt_bytes,
                                       100.0 * r[m].rss_mib /
                                               r[FULL].rss_mib);
        socfw_threads_shutdown();
        return 0;
}

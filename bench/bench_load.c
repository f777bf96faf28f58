/* bench/bench_load.c - model load time: writes a GPT-2 124M-shaped model
 * with random weights as safetensors + config.json (about 500 MB of F32)
 * into a fresh directory under /tmp, then times socfw_model_load on it
 * (the file is in the page cache: this measures the mmap + copy path, not
 * the disk).  Removes the directory afterwards.
 *
 *     bench/bench_load [threads] [repeats] [layers]
 *
 * threads 0 = all CPUs; defaults 0 5 12.  Measures; never fails on time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "socfw/model.h"
#include "socfw/modelfile.h"
#include "socfw/params.h"
#include "socfw/safetensors.h"
#include "socfw/threads.h"

static long
arg(int argc, char **argv, int i, long def, long max)
{
        if (argc <= i)
                return def;
        char *end;
        long v = strtol(argv[i], &end, 10);
        return *end == '\0' && v >= 0 && v <= max ? v : def;
}

/* Write <dir>/model.safetensors and <dir>/config.json for model m. */
static int
write_model(const char *dir, socfw_model *m, int layers, socfw_error *err)
{
        socfw_params *ps = socfw_model_params(m);
        int n = socfw_params_count(ps);
        socfw_tensor_info *t = calloc((size_t)n, sizeof *t);
        char path[4096];
        int rc = -1;
        if (!t)
                return -1;
        for (int i = 0; i < n; i++) {
                t[i].name = socfw_params_name(ps, i);
                t[i].dtype = SOCFW_DTYPE_F32;
                t[i].ndim = socfw_params_ndim(ps, i);
                for (int d = 0; d < t[i].ndim; d++)
                        t[i].shape[d] = socfw_params_shape(ps, i)[d];
                t[i].data = socfw_params_data(ps, i);
        }
        socfw_safetensors_kv meta[] = { { "format", "pt" } };
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (socfw_safetensors_write(path, t, (size_t)n, meta, 1, err) < 0)
                goto out;
        snprintf(path, sizeof path, "%s/config.json", dir);
        FILE *f = fopen(path, "w");
        if (!f)
                goto out;
        fprintf(f, "{\"model_type\": \"gpt2\", \"vocab_size\": 50257, "
                "\"n_positions\": 1024, \"n_embd\": 768, \"n_layer\": %d, "
                "\"n_head\": 12, \"layer_norm_epsilon\": 1e-05, "
                "\"activation_function\": \"gelu_new\"}\n", layers);
        rc = fclose(f) == 0 ? 0 : -1;
out:
        free(t);
        return rc;
}

int
main(int argc, char **argv)
{
        int threads = socfw_threads_set((int)arg(argc, argv, 1, 0, 256));
        int reps = (int)arg(argc, argv, 2, 5, 50);
        int layers = (int)arg(argc, argv, 3, 12, 48);
        if (reps < 1)
                reps = 1;
        if (layers < 1)
                layers = 12;
        char dir[] = "/tmp/socfw-bench-load-XXXXXX";
        if (!mkdtemp(dir)) {
                perror("bench_load: mkdtemp");
                return 1;
        }
        socfw_model_config cfg;
        socfw_model_config_default(&cfg, SOCFW_ARCH_GPT2, 50257, 768, layers,
                                   12, 3072, 1024);
        socfw_model *m = NULL;
        socfw_error err = {0};
        int status = 1;
        char st[4096], cj[4096];
        snprintf(st, sizeof st, "%s/model.safetensors", dir);
        snprintf(cj, sizeof cj, "%s/config.json", dir);
        if (socfw_model_new_random(&m, &cfg, 99, &err) < 0 ||
            write_model(dir, m, layers, &err) < 0) {
                fprintf(stderr, "bench_load: cannot write the model: %s\n",
                        err.message);
                goto out;
        }
        long long params = (long long)socfw_params_total_numel(
                socfw_model_params(m));
        socfw_model_free(m);
        m = NULL;
        double mb = (double)params * 4.0 / 1e6;
        printf("socfw model load: GPT-2 shape, %lld parameters (%.0f MB "
               "F32 safetensors in %s), %d threads\n", params, mb, dir,
               threads);

        double t_open[50], t_load[50];
        for (int r = 0; r <= reps; r++) {
                double t0 = bench_now();
                socfw_modelfile *mf = NULL;
                if (socfw_modelfile_open(&mf, dir, &err) < 0) {
                        fprintf(stderr, "bench_load: %s\n", err.message);
                        goto out;
                }
                double t1 = bench_now();
                socfw_modelfile_close(mf);
                double t2 = bench_now();
                if (socfw_model_load(&m, dir, NULL, &err) < 0) {
                        fprintf(stderr, "bench_load: %s\n", err.message);
                        goto out;
                }
                double t3 = bench_now();
                socfw_model_free(m);
                m = NULL;
                printf("  run %d: open %.1f ms, socfw_model_load %.1f ms%s\n",
                       r, 1e3 * (t1 - t0), 1e3 * (t3 - t2),
                       r == 0 ? " (warm-up)" : "");
                if (r > 0) {
                        t_open[r - 1] = t1 - t0;
                        t_load[r - 1] = t3 - t2;
                }
        }
        bench_sort(t_open, (size_t)reps);
        bench_sort(t_load, (size_t)reps);
        double med = t_load[reps / 2];
        printf("load (median of %d): %.1f ms = %.2f GB/s (open + header "
               "%.1f ms)\n", reps, 1e3 * med, mb / 1e3 / med,
               1e3 * t_open[reps / 2]);
        status = 0;
out:
        socfw_model_free(m);
        unlink(st);
        unlink(cj);
        rmdir(dir);
        return status;
}

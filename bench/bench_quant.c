/* bench/bench_quant.c - socfw on weights kept in their file's format:
 * random-weight Llama GGUF files in the SmolLM-135M shape (30 layers, 576
 * wide, 9 heads / 3 KV heads, FFN 1536, vocab 32000, tied embeddings)
 * written in F32, F16, Q8_0, Q4_0 and Q4_K (or Q5_K, Q6_K, BF16, Q5_0 by
 * name; Q5_0 where a row is not whole 256-blocks, as llama.cpp does),
 * each loaded (memory-mapped)
 * in a child process that times prefill (one 128-token prompt) and decode
 * (64 tokens after it), and reports resident memory.  The same run
 * measures the machine's streaming-read bandwidth, which bounds decode:
 * every token reads every weight once, so tokens/s <= bandwidth / weight
 * bytes per token (the roofline printed per type).
 *
 *     bench/bench_quant [threads] [rounds] [layers] [TYPE...]
 *     bench/bench_quant qlora [threads] [steps] [layers] [TYPE...]
 *     bench/bench_quant file [threads] [rounds] FILE.gguf...
 *     bench/bench_quant --shape tinyllama [threads] [rounds] ...
 *
 * --shape tinyllama (or SOCFW_BENCH_SHAPE=tinyllama) writes the
 * TinyLlama-1.1B shape instead (22 layers, 2048 wide, 32 heads / 4 KV
 * heads, FFN 5632, vocab 32000, untied output: 1.1 G weights, a 4.4 GB
 * F32 file); the layers argument then defaults to 22.
 *
 * The file form measures existing GGUF files the same way (the same
 * prompt of 128 tokens and 64 decoded ones as llama.cpp's llama-bench
 * pp128 / tg64), for side-by-side runs with another program.
 *
 * The qlora form trains instead: LoRA (r 8 on attn.q and attn.v) over the
 * frozen model kept in its file's format (QLoRA; F32 is the float32
 * baseline), steps of 4 x 128 tokens (forward, a squared-norm loss on the
 * hidden states, backward through the quantised matrices to the
 * adapters), and reports the median step time and the peak resident
 * memory of each type.
 *
 * threads 0 = all CPUs; defaults 0 3 30 (the shape's layers) F32 F16 Q8_0 Q4_0 Q4_K.  The
 * files go to $TMPDIR (or /tmp) and are removed.  Weights are random
 * blocks (the kernels' speed does not depend on the values), written by
 * this file: it is test tooling, not a quantiser.  It measures; it does
 * not pass or fail. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_clock.h"
#include "socfw/dtype.h"
#include "socfw/model.h"
#include "socfw/peft.h"
#include "socfw/rng.h"
#include "socfw/qtensor.h"
#include "socfw/threads.h"

/* ---- shape ---- */

/* SmolLM-135M by default; TinyLlama-1.1B with --shape tinyllama (or
 * SOCFW_BENCH_SHAPE=tinyllama). */
typedef struct shape {
        const char *name;
        int layers, c, h, kvh, f, v;
        int tied;               /* output = token_embd (no output.weight) */
} shape;

static const shape shapes[] = {
        {"smollm", 30, 576, 9, 3, 1536, 32000, 1},
        {"tinyllama", 22, 2048, 32, 4, 5632, 32000, 0},
};

static int L = 30;
static int C = 576, H = 9, KVH = 3, F = 1536, V = 32000, TIED = 1;
enum { CTX = 512 };
enum { PROMPT = 128, GEN = 64 };

/* ---- GGUF writing ---- */

typedef struct gtype {
        const char *name;
        uint32_t ggml;          /* GGML type id */
        int block;              /* elements per block */
        int bytes;              /* bytes per block */
} gtype;

static const gtype gtypes[] = {
        {"F32", 0, 1, 4},   {"F16", 1, 1, 2},    {"Q8_0", 8, 32, 34},
        {"Q4_0", 2, 32, 18}, {"Q4_K", 12, 256, 144}, {"BF16", 30, 1, 2},
        {"Q5_0", 6, 32, 22}, {"Q5_K", 13, 256, 176}, {"Q6_K", 14, 256, 210},
};

/* Rows that are not whole blocks of t take Q5_0 (K-quants in a 576-wide
 * model: only ffn_down's 1536-long rows are whole 256-blocks; in the
 * 2048-wide TinyLlama shape every row is), as llama.cpp's Q4_K mixes
 * do. */
static const gtype *
fit(const gtype *t, int64_t cols)
{
        return cols % t->block == 0 ? t : &gtypes[6];
}

static uint64_t rs = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(void)
{
        rs ^= rs << 13;
        rs ^= rs >> 7;
        rs ^= rs << 17;
        return (uint32_t)rs;
}

static float
nrand(void)     /* roughly N(0, 1): sum of 4 uniforms, scaled */
{
        float s = 0;
        for (int i = 0; i < 4; i++)
                s += (float)rnd() / 4294967296.0f;
        return (s - 2.0f) * 1.732f;
}

static void
put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

/* n elements of random weights (std ~0.02) of type t into out. */
static void
random_data(const gtype *t, int64_t n, uint8_t *out)
{
        if (t->block == 1) {
                for (int64_t i = 0; i < n; i++) {
                        float w = 0.02f * nrand();
                        if (t->ggml == 0)
                                memcpy(out + 4 * i, &w, 4);
                        else
                                put16(out + 2 * i, t->ggml == 1
                                                           ? socfw_f32_to_f16(w)
                                                           : socfw_f32_to_bf16(w));
                }
                return;
        }
        int64_t nb = n / t->block;
        for (int64_t b = 0; b < nb; b++) {
                uint8_t *p = out + b * t->bytes;
                for (int i = 0; i < t->bytes; i++)
                        p[i] = (uint8_t)rnd();
                switch (t->ggml) {
                case 8:         /* Q8_0: q uniform in [-128,127], std ~74 */
                        put16(p, socfw_f32_to_f16(0.02f / 74.0f));
                        break;
                case 2:         /* Q4_0: q - 8, std ~4.6 */
                        put16(p, socfw_f32_to_f16(0.02f / 4.6f));
                        break;
                case 6:         /* Q5_0: q - 16, std ~9.2 */
                        put16(p, socfw_f32_to_f16(0.02f / 9.2f));
                        break;
                case 12:        /* Q4_K: d sc q - dmin m, sc ~ 32 */
                        put16(p, socfw_f32_to_f16(0.02f / (4.6f * 32.0f)));
                        put16(p + 2, socfw_f32_to_f16(0.02f * 7.5f /
                                                     (4.6f * 32.0f)));
                        break;
                case 13:        /* Q5_K: as Q4_K, q in 0..31, std ~9.2 */
                        put16(p, socfw_f32_to_f16(0.02f / (9.2f * 32.0f)));
                        put16(p + 2, socfw_f32_to_f16(0.02f * 15.5f /
                                                     (9.2f * 32.0f)));
                        break;
                case 14:        /* Q6_K: d sc (q - 32), int8 sc std ~74,
                                 * q - 32 std ~18.5 */
                        put16(p + 208, socfw_f32_to_f16(0.02f /
                                                       (74.0f * 18.5f)));
                        break;
                }
        }
}

static void
w_u32(FILE *f, uint32_t v)
{
        fwrite(&v, 4, 1, f);
}

static void
w_u64(FILE *f, uint64_t v)
{
        fwrite(&v, 8, 1, f);
}

static void
w_str(FILE *f, const char *s)
{
        w_u64(f, strlen(s));
        fwrite(s, 1, strlen(s), f);
}

static void
w_kv_u32(FILE *f, const char *k, uint32_t v)
{
        w_str(f, k);
        w_u32(f, 4);
        w_u32(f, v);
}

static void
w_kv_f32(FILE *f, const char *k, float v)
{
        w_str(f, k);
        w_u32(f, 6);
        fwrite(&v, 4, 1, f);
}

typedef struct tdesc {
        char name[64];
        int64_t rows, cols;     /* cols 0: 1-D of rows */
        const gtype *t;
        uint64_t off, bytes;
} tdesc;

static size_t
tensor_list(tdesc *d, const gtype *t, const gtype *f32)
{
        size_t n = 0;
#define T2(nm, r, c_) do { snprintf(d[n].name, sizeof d[n].name, "%s", nm); \
                d[n].rows = (r); d[n].cols = (c_); d[n].t = fit(t, c_); \
                n++; } while (0)
#define T1(nm, r) do { snprintf(d[n].name, sizeof d[n].name, "%s", nm); \
                d[n].rows = (r); d[n].cols = 0; d[n].t = f32; n++; } while (0)
        T2("token_embd.weight", V, C);
        if (!TIED)
                T2("output.weight", V, C);
        T1("output_norm.weight", C);
        char nm[64];
        for (int l = 0; l < L; l++) {
                snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", l);
                T1(nm, C);
                snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l);
                T1(nm, C);
                snprintf(nm, sizeof nm, "blk.%d.attn_q.weight", l);
                T2(nm, C, C);
                snprintf(nm, sizeof nm, "blk.%d.attn_k.weight", l);
                T2(nm, C / H * KVH, C);
                snprintf(nm, sizeof nm, "blk.%d.attn_v.weight", l);
                T2(nm, C / H * KVH, C);
                snprintf(nm, sizeof nm, "blk.%d.attn_output.weight", l);
                T2(nm, C, C);
                snprintf(nm, sizeof nm, "blk.%d.ffn_gate.weight", l);
                T2(nm, F, C);
                snprintf(nm, sizeof nm, "blk.%d.ffn_up.weight", l);
                T2(nm, F, C);
                /* rows of 1536 are whole 256-blocks too */
                snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
                T2(nm, C, F);
        }
#undef T1
#undef T2
        uint64_t off = 0;
        for (size_t i = 0; i < n; i++) {
                int64_t ne = d[i].rows * (d[i].cols ? d[i].cols : 1);
                d[i].off = off;
                d[i].bytes = (uint64_t)(ne / d[i].t->block) * d[i].t->bytes;
                off += (d[i].bytes + 31) / 32 * 32;
        }
        return n;
}

/* Write the model in type t to path; returns the bytes of its 2-D
 * weights that decode reads per token, or 0 on error. */
static uint64_t
write_gguf(const char *path, const gtype *t)
{
        static tdesc d[16 + 16 * 64];
        const gtype *f32 = &gtypes[0];
        size_t n = tensor_list(d, t, f32);
        FILE *f = fopen(path, "wb");
        if (!f)
                return 0;
        fwrite("GGUF", 1, 4, f);
        w_u32(f, 3);
        w_u64(f, n);
        w_u64(f, 10);
        w_str(f, "general.architecture");
        w_u32(f, 8);
        w_str(f, "llama");
        w_kv_u32(f, "llama.embedding_length", (uint32_t)C);
        w_kv_u32(f, "llama.block_count", (uint32_t)L);
        w_kv_u32(f, "llama.attention.head_count", (uint32_t)H);
        w_kv_u32(f, "llama.attention.head_count_kv", (uint32_t)KVH);
        w_kv_u32(f, "llama.feed_forward_length", (uint32_t)F);
        w_kv_u32(f, "llama.context_length", CTX);
        w_kv_f32(f, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w_kv_f32(f, "llama.rope.freq_base", 10000.0f);
        w_kv_u32(f, "tokenizer.ggml.bos_token_id", 1);
        uint64_t wbytes = 0;
        for (size_t i = 0; i < n; i++) {
                w_str(f, d[i].name);
                w_u32(f, d[i].cols ? 2 : 1);
                if (d[i].cols)
                        w_u64(f, (uint64_t)d[i].cols);
                w_u64(f, (uint64_t)d[i].rows);
                w_u32(f, d[i].t->ggml);
                w_u64(f, d[i].off);
                /* decode reads every matrix once per token, except an
                 * untied token_embd: one row of it */
                if (d[i].cols && (TIED || i > 0))
                        wbytes += d[i].bytes;
        }
        long pos = ftell(f);
        static const uint8_t zeros[32];
        fwrite(zeros, 1, (size_t)((32 - pos % 32) % 32), f);
        for (size_t i = 0; i < n; i++) {
                uint8_t *buf = malloc(d[i].bytes);
                if (!buf) {
                        fclose(f);
                        return 0;
                }
                if (d[i].cols) {
                        random_data(d[i].t, d[i].rows * d[i].cols, buf);
                } else {
                        float one = 1.0f;
                        for (int64_t k = 0; k < d[i].rows; k++)
                                memcpy(buf + 4 * k, &one, 4);
                }
                fwrite(buf, 1, d[i].bytes, f);
                fwrite(zeros, 1, (size_t)((32 - d[i].bytes % 32) % 32), f);
                free(buf);
        }
        if (fclose(f) != 0)
                return 0;
        return wbytes;
}

/* ---- machine ceilings ---- */

typedef struct bw_job {
        const float *p;
        int64_t n;
        double sums[1024];
} bw_job;

static void
bw_body(void *ctx, int64_t b, int64_t e)
{
        bw_job *j = ctx;
        float acc[16] = {0};
        for (int64_t blk = b; blk < e; blk++) {
                const float *p = j->p + blk * 4096;
                for (int i = 0; i < 4096; i += 16)
                        for (int k = 0; k < 16; k++)
                                acc[k] += p[i + k];
        }
        double s = 0;
        for (int k = 0; k < 16; k++)
                s += acc[k];
        j->sums[b % 1024] += s;
}

/* Streaming-read bandwidth (bytes/s) over a 512 MiB buffer, all threads,
 * best of rounds. */
static double
read_bandwidth(int rounds)
{
        int64_t n = (int64_t)512 << 18;         /* floats: 512 MiB */
        float *p = malloc((size_t)n * sizeof *p);
        if (!p)
                return 0;
        for (int64_t i = 0; i < n; i++)
                p[i] = 1.0f;
        bw_job *j = calloc(1, sizeof *j);
        j->p = p;
        j->n = n;
        double best = 0;
        for (int r = 0; r < rounds; r++) {
                double t0 = bench_now();
                socfw_parallel_for(n / 4096, bw_body, j);
                double bw = (double)n * 4 / (bench_now() - t0);
                best = bw > best ? bw : best;
        }
        free(j);
        free(p);
        return best;
}

/* ---- one type, in a child ---- */

static long
status_kb(const char *key)
{
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        long v = -1;
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (!strncmp(line, key, strlen(key)))
                        v = strtol(line + strlen(key), NULL, 10);
        fclose(f);
        return v;
}

static int
run_type(const char *path, const gtype *t, int rounds, uint64_t wbytes,
         double bw, uint64_t fbytes)
{
        socfw_error err = {0};
        socfw_model *m = NULL;
        socfw_model_options mo = {.keep_quantized = true};
        double t0 = bench_now();
        if (socfw_model_load(&m, path, &mo, &err) < 0) {
                fprintf(stderr, "bench_quant: %s\n", err.message);
                return 1;
        }
        double load = bench_now() - t0;
        long rss_load = status_kb("VmRSS:");
        int nv = socfw_model_config_of(m)->vocab_size;
        int32_t ids[PROMPT];
        for (int i = 0; i < PROMPT; i++)
                ids[i] = (int32_t)(1 + (rnd() % (uint64_t)(nv - 1)));
        float *lg = malloc(sizeof(float) * (size_t)nv);
        double pp_best = 0, tg_best = 0;
        for (int r = 0; r < rounds; r++) {
                socfw_model_kv *kv = NULL;
                if (socfw_model_kv_new(&kv, m, PROMPT + GEN + 1, &err) < 0) {
                        fprintf(stderr, "bench_quant: %s\n", err.message);
                        return 1;
                }
                t0 = bench_now();
                socfw_model_decode_step(m, kv, ids, PROMPT, lg, &err);
                double pp = PROMPT / (bench_now() - t0);
                int32_t tok = 7;
                t0 = bench_now();
                for (int g = 0; g < GEN; g++) {
                        socfw_model_decode_step(m, kv, &tok, 1, lg, &err);
                        tok = (int32_t)((tok * 31 + g) % nv);
                }
                double tg = GEN / (bench_now() - t0);
                pp_best = pp > pp_best ? pp : pp_best;
                tg_best = tg > tg_best ? tg : tg_best;
                socfw_model_kv_free(kv);
        }
        long rss = status_kb("VmRSS:"), hwm = status_kb("VmHWM:");
        int nq = 0;
        socfw_model_quantized_bytes(m, &nq);
        printf("%-5s %8.1f %8.1f %8.2f %9.1f %9.1f %8.1f %8.1f %7.1f "
               "%7.0f%% %5.2f\n",
               t->name, (double)fbytes / 1048576.0,
               (double)wbytes / 1048576.0, load, pp_best, tg_best,
               (double)rss_load / 1024.0, (double)rss / 1024.0,
               (double)hwm / 1024.0,
               100.0 * tg_best / (bw / (double)wbytes), bw / (double)wbytes);
        fflush(stdout);
        free(lg);
        socfw_model_free(m);
        return 0;
}

/* QLoRA: LoRA training steps over the model kept in its file's format. */
static int
run_qlora(const char *path, const gtype *t, int steps, uint64_t fbytes)
{
        enum { B = 4, T = 128 };
        socfw_error err = {0};
        socfw_model *m = NULL;
        socfw_model_options mo = {.keep_quantized = true};
        socfw_adapter *a = NULL;
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
        if (socfw_model_load(&m, path, &mo, &err) < 0 ||
            socfw_model_freeze(m, 0, false) < 0 ||
            socfw_adapter_new(&a, m, &ac, 1, &err) < 0 ||
            socfw_model_attach(m, a, &err) < 0) {
                fprintf(stderr, "bench_quant: %s\n", err.message);
                return 1;
        }
        size_t NC = (size_t)B * T * C;
        float *h = malloc(sizeof(float) * NC);
        int32_t *ids = malloc(sizeof(int32_t) * B * T);
        if (!h || !ids)
                return 1;
        for (int i = 0; i < B * T; i++)
                ids[i] = (int32_t)(1 + (rnd() % (uint32_t)(V - 1)));
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        double times[16];
        if (steps > 16)
                steps = 16;
        for (int s = 0; s <= steps; s++) {
                double t0 = bench_now();
                socfw_params_zero_grad(socfw_adapter_params(a));
                if (socfw_model_forward(m, ids, NULL, NULL, B, T, true, 0,
                                        &rng, h, &err) < 0 ||
                    socfw_model_backward(m, h, &err) < 0) { /* d(|h|^2/2) */
                        fprintf(stderr, "bench_quant: %s\n", err.message);
                        return 1;
                }
                if (s > 0)
                        times[s - 1] = bench_now() - t0;
        }
        bench_sort(times, (size_t)steps);
        long hwm = status_kb("VmHWM:");
        int nq = 0;
        socfw_model_quantized_bytes(m, &nq);
        printf("%-5s %8.1f %8d %10.2f %9.0f %8.1f\n", t->name,
               (double)fbytes / 1048576.0, nq, times[steps / 2],
               B * T / times[steps / 2], (double)hwm / 1024.0);
        fflush(stdout);
        socfw_model_attach(m, NULL, NULL);
        socfw_adapter_free(a);
        socfw_model_free(m);
        free(h);
        free(ids);
        return 0;
}

/* bench_quant file THREADS ROUNDS FILE...: existing files, one child each. */
static int
measure_files(int argc, char **argv)
{
        int threads = (int)strtol(argv[0], NULL, 10);
        int rounds = (int)strtol(argv[1], NULL, 10);
        if (rounds < 1)
                rounds = 1;
        socfw_threads_set(threads);
        double bw = read_bandwidth(rounds + 2);
        printf("bench_quant: threads %d; kernels %s; best of %d; streaming "
               "read bandwidth %.2f GB/s\n",
               socfw_threads_get(), socfw_nn_qkernel_name(), rounds,
               bw / 1e9);
        printf("%-5s %8s %8s %8s %9s %9s %8s %8s %7s %8s %5s\n", "file",
               "file MiB", "wts MiB", "load s", "pp128 t/s", "tg64 t/s",
               "RSS load", "RSS end", "HWM MiB", "roofline", "max");
        for (int i = 2; i < argc; i++) {
                FILE *f = fopen(argv[i], "rb");
                if (!f) {
                        fprintf(stderr, "bench_quant: cannot open %s\n",
                                argv[i]);
                        continue;
                }
                fseek(f, 0, SEEK_END);
                uint64_t fbytes = (uint64_t)ftell(f);
                fclose(f);
                const char *base = strrchr(argv[i], '/');
                gtype t = {base ? base + 1 : argv[i], 0, 1, 4};
                fflush(stdout);
                socfw_threads_shutdown();
                pid_t pid = fork();
                if (pid == 0) {
                        socfw_threads_set(threads);
                        _exit(run_type(argv[i], &t, rounds, fbytes, bw,
                                       fbytes));
                }
                int st = 0;
                if (pid > 0)
                        waitpid(pid, &st, 0);
        }
        return 0;
}

/* Select the shape named name; 0, or -1 if there is none. */
static int
shape_set(const char *name)
{
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
                if (!strcmp(shapes[i].name, name)) {
                        const shape *s = &shapes[i];
                        L = s->layers;
                        C = s->c;
                        H = s->h;
                        KVH = s->kvh;
                        F = s->f;
                        V = s->v;
                        TIED = s->tied;
                        return 0;
                }
        fprintf(stderr, "bench_quant: unknown shape '%s' (smollm or "
                "tinyllama)\n", name);
        return -1;
}

int
main(int argc, char **argv)
{
        const char *sh = getenv("SOCFW_BENCH_SHAPE");
        if (argc > 2 && !strcmp(argv[1], "--shape")) {
                sh = argv[2];
                argc -= 2;
                argv += 2;
        }
        if (sh && *sh && shape_set(sh) < 0)
                return 2;
        int L0 = L;
        if (argc > 4 && !strcmp(argv[1], "file"))
                return measure_files(argc - 2, argv + 2);
        int qlora = argc > 1 && !strcmp(argv[1], "qlora");
        if (qlora) {
                argc--;
                argv++;
        }
        int threads = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 0;
        int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 3;
        L = argc > 3 ? (int)strtol(argv[3], NULL, 10) : L0;
        if (rounds < 1)
                rounds = 1;
        if (L < 1 || L > 64)
                L = L0;
        const char *defaults[] = {"F32", "F16", "Q8_0", "Q4_0", "Q4_K"};
        const char **names = argc > 4 ? (const char **)argv + 4 : defaults;
        int nnames = argc > 4 ? argc - 4 : 5;
        socfw_threads_set(threads);
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

        printf("bench_quant: Llama %d layers x %d wide, %d/%d heads, FFN %d, "
               "vocab %d (%s); threads %d; kernels %s; best of %d\n",
               L, C, H, KVH, F, V, TIED ? "tied" : "untied output",
               socfw_threads_get(),
               socfw_nn_qkernel_name(), rounds);
        double bw = qlora ? 1 : read_bandwidth(rounds + 2);
        if (qlora)
                printf("QLoRA: LoRA r 8 on attn.q + attn.v, steps of 4 x 128 "
                       "tokens (median of %d)\n%-5s %8s %8s %10s %9s %8s\n",
                       rounds, "type", "file MiB", "kept", "step s",
                       "tokens/s", "HWM MiB");
        else {
                printf("streaming read bandwidth: %.2f GB/s\n", bw / 1e9);
                printf("%-5s %8s %8s %8s %9s %9s %8s %8s %7s %8s %5s\n",
                       "type", "file MiB", "wts MiB", "load s", "pp128 t/s",
                       "tg64 t/s", "RSS load", "RSS end", "HWM MiB",
                       "roofline", "max");
        }
        for (int i = 0; i < nnames; i++) {
                const gtype *t = NULL;
                for (size_t k = 0; k < sizeof gtypes / sizeof *gtypes; k++)
                        if (!strcmp(gtypes[k].name, names[i]))
                                t = &gtypes[k];
                if (!t) {
                        fprintf(stderr, "bench_quant: unknown type %s\n",
                                names[i]);
                        continue;
                }
                char path[4096];
                snprintf(path, sizeof path, "%s/bench_quant_%d_%s.gguf", tmp,
                         (int)getpid(), t->name);
                uint64_t wbytes = write_gguf(path, t);
                if (!wbytes) {
                        fprintf(stderr, "bench_quant: cannot write %s\n",
                                path);
                        remove(path);
                        continue;
                }
                FILE *f = fopen(path, "rb");
                uint64_t fbytes = 0;
                if (f) {
                        fseek(f, 0, SEEK_END);
                        fbytes = (uint64_t)ftell(f);
                        fclose(f);
                }
                fflush(stdout);
                /* a child per type, so that its peak memory is its own */
                socfw_threads_shutdown();
                pid_t pid = fork();
                if (pid == 0) {
                        socfw_threads_set(threads);
                        _exit(qlora ? run_qlora(path, t, rounds, fbytes)
                                    : run_type(path, t, rounds, wbytes, bw,
                                               fbytes));
                }
                int st = 0;
                if (pid > 0)
                        waitpid(pid, &st, 0);
                remove(path);
        }
        if (!qlora)
                printf("(pp128: one 128-token prompt; tg64: 64 tokens after "
                       "it; roofline: tg64 / (bandwidth / weight bytes per "
                       "token); max: that ceiling in tokens/s)\n");
        return 0;
}

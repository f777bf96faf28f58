/* llamacpp_bench.c - llama.cpp measured as bench/bench_quant measures
 * socfw (`bench_quant file`): prefill of one 128-token prompt, then 64
 * greedy tokens one at a time, best of 3 rounds, resident memory.  Built
 * and run by bench/llamacpp-side-by-side.sh against the prebuilt libllama
 * that the npm package node-llama-cpp ships; not part of socfw's build.
 *
 *     LLBINS=DIR_OF_BACKENDS llamacpp_bench MODEL.gguf [threads] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "llama.h"
#include "ggml-backend.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static long kb(const char *key) { FILE *f = fopen("/proc/self/status", "r"); char l[256]; long v = -1;
  while (f && fgets(l, sizeof l, f)) if (!strncmp(l, key, strlen(key))) v = strtol(l + strlen(key), NULL, 10);
  if (f) fclose(f); return v; }
static void quiet(enum ggml_log_level lv, const char *t, void *u) { (void)lv; (void)t; (void)u; }
int main(int argc, char **argv) {
  const char *path = argv[1]; int threads = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2;
  llama_log_set(quiet, NULL);
  ggml_backend_load_all_from_path(getenv("LLBINS"));
  llama_backend_init();
  struct llama_model_params mp = llama_model_default_params();
  struct llama_model *m = llama_model_load_from_file(path, mp);
  if (!m) { fprintf(stderr, "load failed\n"); return 1; }
  int nv = llama_vocab_n_tokens(llama_model_get_vocab(m));
  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 512; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_threads = threads; cp.n_threads_batch = threads;
  struct llama_context *ctx = llama_init_from_model(m, cp);
  llama_token p[128]; for (int i = 0; i < 128; i++) p[i] = (i * 7 + 11) % nv;
  double pp = 0, tg = 0;
  for (int r = 0; r < 3; r++) {
    llama_memory_clear(llama_get_memory(ctx), true);
    double t0 = now();
    if (llama_decode(ctx, llama_batch_get_one(p, 128))) return 2;
    double t1 = now();
    for (int g = 0; g < 64; g++) {
      const float *lg = llama_get_logits_ith(ctx, -1); llama_token best = 0;
      for (int k = 1; k < nv; k++) if (lg[k] > lg[best]) best = k;
      if (llama_decode(ctx, llama_batch_get_one(&best, 1))) return 3;
    }
    double t2 = now();
    if (128 / (t1 - t0) > pp) pp = 128 / (t1 - t0);
    if (64 / (t2 - t1) > tg) tg = 64 / (t2 - t1);
  }
  printf("llama.cpp %s: pp128 %.1f tok/s, tg64 %.1f tok/s, RSS %.0f MiB, HWM %.0f MiB (%d threads)\n", path, pp, tg, kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0, threads);
  return 0;
}

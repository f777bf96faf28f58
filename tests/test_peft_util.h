/* tests/test_peft_util.h - helpers shared by the tests/test_peft*.c files:
 * the adapter fixtures of tests/fixtures/peft/<case>/ (made by
 * gen_peft_fixtures.py) and tiny random models for finite differences. */
#ifndef TEST_PEFT_UTIL_H
#define TEST_PEFT_UTIL_H

#include <stdint.h>

#include "socfw/model.h"
#include "socfw/modelfile.h"
#include "socfw/peft.h"
#include "socfw/rng.h"

/* Open tests/fixtures/peft/<name>/<file> (asserts on failure). */
socfw_modelfile *peft_fixture_open(const char *name, const char *file);

/* Copy every tensor of `a` from `mf` by name, asserting that each exists
 * with the same shape and that `mf` holds no other tensor. */
void peft_load_tensors(socfw_adapter *a, const socfw_modelfile *mf);

/* A tiny random model of `arch` (hidden 16, 2 layers, 2 heads; Llama with
 * 1 key/value head) whose matrices are N(0, 0.2) so that every path
 * carries signal. */
socfw_model *peft_tiny_model(socfw_arch arch, uint64_t seed);

/* Random non-zero adapter tensors: lora_A, lora_B, down/up weights
 * N(0, 0.3), biases N(0, 0.1), ia3_l 1 + U(-0.3, 0.3). */
void peft_randomize(socfw_adapter *a, uint64_t seed);

/* A snapshot of a parameter store's data (caller frees) and whether the
 * store still holds exactly those bytes. */
float *peft_snapshot(const socfw_params *ps);
int peft_same(const socfw_params *ps, const float *snap);

/* A copy of a parameter store's gradients (caller frees). */
float *peft_grads_copy(const socfw_params *ps);

/* Whether every gradient of `ps` is exactly zero. */
int peft_grads_zero(const socfw_params *ps);

/* Adapters on every site the architecture has (mlp.gate: Llama only):
 * LoRA of rank 2, alpha 3 and the given dropout; AdaLoRA of init rank 3,
 * target 1; (IA)3 on every output and mlp.down's input.  And Houlsby's
 * bottleneck after attn.o and mlp.down, reduction 4, with `act`. */
socfw_adapter_config peft_lora_all(socfw_arch arch, float dropout);
socfw_adapter_config peft_adalora_all(socfw_arch arch);
socfw_adapter_config peft_ia3_all(socfw_arch arch);
socfw_adapter_config peft_houlsby(socfw_adapter_act act);

#endif

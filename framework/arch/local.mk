# arch: transformer backbones (GPT-2, BERT, RoBERTa, Llama family) with
# forward, backward, LM logits, pooler and KV-cache decoding.
# Public header: socfw/model.h.
framework_libsocfw_la_SOURCES += \
	framework/arch/arch_internal.h \
	framework/arch/model.c \
	framework/arch/block.c \
	framework/arch/forward.c \
	framework/arch/decode.c \
	framework/arch/save.c
socfwinclude_HEADERS += framework/socfw/model.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_arch
TESTS += tests/test_arch
endif
tests_test_arch_SOURCES = $(TEST_COMMON) tests/test_arch_util.h \
	tests/test_arch_util.c tests/test_arch_torch.c tests/test_arch_gguf.c \
	tests/test_arch_api.c tests/test_arch_eval.c tests/test_arch_batch.c
tests_test_arch_CFLAGS = $(TEST_CFLAGS)
tests_test_arch_LDADD = $(TEST_LDADD)

# benchmark (measures only; see bench/bench_torch_gpt2.py for PyTorch)
noinst_PROGRAMS += bench/bench_model
bench_bench_model_SOURCES = bench/bench_model.c
bench_bench_model_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_model_LDADD = framework/libsocfw.la
# batched decoding against one sequence at a time (doc/performance.md)
noinst_PROGRAMS += bench/bench_decode_batch
bench_bench_decode_batch_SOURCES = bench/bench_decode_batch.c
bench_bench_decode_batch_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_decode_batch_LDADD = framework/libsocfw.la
EXTRA_DIST += bench/bench_torch_gpt2.py

# weights kept in their file's format: random Llama GGUF files (SmolLM-135M
# shape) per type, prefill/decode tokens/s, memory, bandwidth roofline:
# bench/bench_quant [threads] [rounds] [layers] [TYPE...]
noinst_PROGRAMS += bench/bench_quant
bench_bench_quant_SOURCES = bench/bench_quant.c
bench_bench_quant_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_quant_LDADD = framework/libsocfw.la

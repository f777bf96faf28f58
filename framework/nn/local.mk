# nn: numerical kernels (forward/backward), the parameter store, the RNG and
# the thread pool, element types and the linear layer over quantised
# weights.  Public headers: socfw/nn.h, params.h, rng.h, threads.h, dtype.h,
# qtensor.h.
framework_libsocfw_la_SOURCES += \
	framework/nn/nn_internal.h \
	framework/nn/avx2_sum.h \
	framework/nn/rng.c \
	framework/nn/params.c \
	framework/nn/threads.c \
	framework/nn/ops.c \
	framework/nn/gemv.c \
	framework/nn/attention.c \
	framework/nn/rope.c \
	framework/nn/xent.c \
	framework/nn/dtype.c \
	framework/nn/kquants.c \
	framework/nn/qdot.c \
	framework/nn/qgemm.c \
	framework/nn/qtensor.c
socfwinclude_HEADERS += \
	framework/socfw/nn.h \
	framework/socfw/params.h \
	framework/socfw/rng.h \
	framework/socfw/threads.h \
	framework/socfw/dtype.h \
	framework/socfw/qtensor.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_nn
TESTS += tests/test_nn
endif
tests_test_nn_SOURCES = $(TEST_COMMON) tests/test_nn_util.h tests/test_nn_util.c \
	tests/test_nn_torch.c tests/test_nn_grad.c tests/test_nn_attention.c \
	tests/test_params.c tests/test_nn_threads.c
tests_test_nn_CFLAGS = $(TEST_CFLAGS)
tests_test_nn_LDADD = $(TEST_LDADD)

# The linear layer over quantised / half-precision weights
if HAVE_CRITERION
check_PROGRAMS += tests/test_nn_quant
TESTS += tests/test_nn_quant
endif
tests_test_nn_quant_SOURCES = $(TEST_COMMON) tests/test_nn_quant.c
tests_test_nn_quant_CFLAGS = $(TEST_CFLAGS)
tests_test_nn_quant_LDADD = $(TEST_LDADD)

# The benchmarks' clock and timing sort
noinst_HEADERS += bench/bench_clock.h

# Kernel timings (measures, never fails): bench/bench_kernels [threads]
noinst_PROGRAMS += bench/bench_kernels
bench_bench_kernels_SOURCES = bench/bench_kernels.c
bench_bench_kernels_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_kernels_LDADD = framework/libsocfw.la $(framework_libsocfw_la_LIBADD)

# One-row float32 linear layer of decoding, OpenBLAS sgemv against socfw's
# kernels (measures, never fails): bench/bench_gemv [rounds] [MiB];
# block formats at the TinyLlama shapes: bench/bench_gemv quant [threads]
# [rounds] [MiB] [TYPE...]
noinst_PROGRAMS += bench/bench_gemv
bench_bench_gemv_SOURCES = bench/bench_gemv.c
bench_bench_gemv_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_gemv_LDADD = framework/libsocfw.la $(framework_libsocfw_la_LIBADD)

# Model load time (writes a ~500 MB model under /tmp and removes it):
# bench/bench_load [threads] [repeats] [layers]
noinst_PROGRAMS += bench/bench_load
bench_bench_load_SOURCES = bench/bench_load.c
bench_bench_load_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_load_LDADD = framework/libsocfw.la $(framework_libsocfw_la_LIBADD)

# `make bench`: every benchmark, socfw vs PyTorch for the model figures
# (see doc/performance.md).  BENCH_THREADS=0 means all CPUs.
BENCH_THREADS = 0
bench: bench/bench_kernels bench/bench_load bench/bench_model bench/bench_quant \
	bench/bench_decode_batch bench/bench_gemv bench/bench_qgemm
	uptime
	bench/bench_kernels $(BENCH_THREADS)
	bench/bench_gemv 5
	bench/bench_qgemm 2 5
	bench/bench_load $(BENCH_THREADS)
	bench/bench_model $(BENCH_THREADS) 5 64 12 \
		--torch=$(abs_top_srcdir)/bench/bench_torch_gpt2.py
	bench/bench_quant $(BENCH_THREADS) 3
	uptime
.PHONY: bench

# socfw and llama.cpp side by side on the same GGUF files (downloads the
# npm package node-llama-cpp into $WORK; run by hand, not by make)
EXTRA_DIST += bench/llamacpp-side-by-side.sh bench/llamacpp_bench.c \
	bench/make_random_llama.py

# Prefill products over quantised weights, panels + sgemm against the
# integer GEMM (measures, never fails): bench/bench_qgemm [threads]
# [rounds] [TYPE...]
noinst_PROGRAMS += bench/bench_qgemm
bench_bench_qgemm_SOURCES = bench/bench_qgemm.c
bench_bench_qgemm_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_qgemm_LDADD = framework/libsocfw.la $(framework_libsocfw_la_LIBADD)

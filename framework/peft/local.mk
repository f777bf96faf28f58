# peft: parameter-efficient adapters (LoRA, IA3, bottleneck) at the
# block's named linear sites.  Public header: socfw/peft.h.
framework_libsocfw_la_SOURCES += \
	framework/peft/peft_internal.h \
	framework/peft/adapter_impl.h \
	framework/peft/adapter.c \
	framework/peft/sites.c \
	framework/peft/embedding.c \
	framework/peft/saved.c \
	framework/peft/merge.c \
	framework/peft/adalora.c \
	framework/peft/prefix_projection.c \
	framework/peft/prompt.c \
	framework/peft/peft_file.c
socfwinclude_HEADERS += framework/socfw/peft.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_peft
TESTS += tests/test_peft
endif
tests_test_peft_SOURCES = $(TEST_COMMON) tests/test_arch_util.h \
	tests/test_arch_util.c tests/test_peft_util.h tests/test_peft_util.c \
	tests/test_peft.c tests/test_peft_grad.c tests/test_peft_context.c \
	tests/test_kv_adapter.c
tests_test_peft_CFLAGS = $(TEST_CFLAGS)
tests_test_peft_LDADD = $(TEST_LDADD)

# full fine-tuning against LoRA (measures only; bench/bench_torch_lora.py
# is the PyTorch side)
noinst_PROGRAMS += bench/bench_peft
bench_bench_peft_SOURCES = bench/bench_peft.c
bench_bench_peft_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_peft_LDADD = framework/libsocfw.la
EXTRA_DIST += bench/bench_torch_lora.py

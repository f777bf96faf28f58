# model: weight files (GGUF, safetensors + config.json) and the safetensors
# writer.  Public headers: socfw/modelfile.h, socfw/safetensors.h.
framework_libsocfw_la_SOURCES += \
	framework/model/modelfile_internal.h \
	framework/model/modelfile.c \
	framework/model/dtype.c \
	framework/model/gguf.c \
	framework/model/safetensors_read.c \
	framework/model/safetensors_write.c \
	framework/model/quantize.c \
	framework/model/gguf_write.c
socfwinclude_HEADERS += \
	framework/socfw/modelfile.h \
	framework/socfw/safetensors.h \
	framework/socfw/quantize.h \
	framework/socfw/gguf_write.h
EXTRA_DIST += tests/fuzz

if HAVE_CRITERION
check_PROGRAMS += tests/test_model
TESTS += tests/test_model
endif
tests_test_model_SOURCES = $(TEST_COMMON) tests/test_model_gguf.c \
	tests/test_model_safetensors.c tests/test_model_writer.c \
	tests/test_model_kquants.c
tests_test_model_CFLAGS = $(TEST_CFLAGS)
tests_test_model_LDADD = $(TEST_LDADD)

# quantisation to GGML block formats and the GGUF writer
if HAVE_CRITERION
check_PROGRAMS += tests/test_quantize
TESTS += tests/test_quantize
endif
tests_test_quantize_SOURCES = $(TEST_COMMON) tests/test_quantize.c \
	tests/test_gguf_write.c
tests_test_quantize_CFLAGS = $(TEST_CFLAGS)
tests_test_quantize_LDADD = $(TEST_LDADD)

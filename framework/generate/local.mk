# generate: next-token sampling and the generation loop
# (public headers framework/socfw/sampler.h, framework/socfw/generate.h).
framework_libsocfw_la_SOURCES += \
	framework/generate/sampler.c \
	framework/generate/generate.c \
	framework/generate/perplexity.c
socfwinclude_HEADERS += \
	framework/socfw/sampler.h \
	framework/socfw/generate.h \
	framework/socfw/perplexity.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_generate
TESTS += tests/test_generate
endif
tests_test_generate_SOURCES = $(TEST_COMMON) tests/test_generate_sampler.c \
	tests/test_generate_loop.c tests/test_generate_stories.c
tests_test_generate_CFLAGS = $(TEST_CFLAGS)
tests_test_generate_LDADD = $(TEST_LDADD)

# windowed perplexity (perplexity.c) against PyTorch
if HAVE_CRITERION
check_PROGRAMS += tests/test_perplexity
TESTS += tests/test_perplexity
endif
tests_test_perplexity_SOURCES = $(TEST_COMMON) tests/test_perplexity.c
tests_test_perplexity_CFLAGS = $(TEST_CFLAGS)
tests_test_perplexity_LDADD = $(TEST_LDADD)

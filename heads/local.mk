# heads/: loadable output layers and their losses (one folder each).
include heads/classifier/local.mk
include heads/tagger/local.mk
include heads/lm/local.mk
include heads/ranker/local.mk

# tests/test_heads: loads the heads from the build tree through the registry.
if HAVE_CRITERION
check_PROGRAMS += tests/test_heads
TESTS += tests/test_heads
endif
tests_test_heads_SOURCES = $(TEST_COMMON) tests/test_heads.h \
	tests/test_heads_util.c tests/test_heads_torch.c tests/test_heads_grad.c \
	tests/test_heads_misc.c
tests_test_heads_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_heads_CFLAGS = $(TEST_CFLAGS)
tests_test_heads_LDADD = $(TEST_LDADD)

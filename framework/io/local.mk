# io: atomic file writes, bounded reads, file hashes and checks, mkdir -p,
# paths (socfw/io.h)
framework_libsocfw_la_SOURCES += framework/io/io.c framework/io/lines.c \
	framework/io/digest.c framework/io/io_internal.h
socfwinclude_HEADERS += framework/socfw/io.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_io
TESTS += tests/test_io
endif
tests_test_io_SOURCES = $(TEST_COMMON) tests/test_io.c
tests_test_io_CFLAGS = $(TEST_CFLAGS)
tests_test_io_LDADD = $(TEST_LDADD)

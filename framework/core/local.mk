# core: errors, logging, parameter store, plugin registry, pipelines.
framework_libsocfw_la_SOURCES += \
	framework/core/error.c \
	framework/core/log.c
socfwinclude_HEADERS += \
	framework/socfw/error.h \
	framework/socfw/log.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_core
TESTS += tests/test_core
endif
tests_test_core_SOURCES = $(TEST_COMMON) tests/test_error.c
tests_test_core_CFLAGS = $(TEST_CFLAGS)
tests_test_core_LDADD = $(TEST_LDADD)

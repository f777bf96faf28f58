# core: errors, logging, plugin registry, YAML pipelines and their schema.
framework_libsocfw_la_SOURCES += \
	framework/core/error.c \
	framework/core/log.c \
	framework/core/param.c framework/core/param.h \
	framework/core/registry.c \
	framework/core/yamltree.c framework/core/yamltree.h \
	framework/core/config.c framework/core/config_impl.h \
	framework/core/schema.c \
	framework/core/pipeline.c framework/core/pipeline_impl.h \
	framework/core/resolved.c \
	framework/core/post.c \
	framework/core/task.c framework/core/task_impl.h \
	framework/core/chain.c \
	framework/core/example.c framework/core/example_impl.h
socfwinclude_HEADERS += \
	framework/socfw/error.h \
	framework/socfw/log.h \
	framework/socfw/config.h \
	framework/socfw/plugin.h \
	framework/socfw/registry.h \
	framework/socfw/pipeline.h \
	framework/socfw/chain.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_core
TESTS += tests/test_core
endif
tests_test_core_SOURCES = $(TEST_COMMON) tests/test_error.c \
	tests/test_registry.c tests/test_pipeline.c tests/test_cli.c \
	tests/test_abi_layout.c
tests_test_core_CFLAGS = $(TEST_CFLAGS)
tests_test_core_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_core_LDADD = $(TEST_LDADD)

# the socfw command-line program (links libsocfw; only it prints to stdout)
bin_PROGRAMS += socfw
socfw_SOURCES = \
	framework/cli/cli.h \
	framework/cli/main.c \
	framework/cli/help.c \
	framework/cli/cmd_inspect.c \
	framework/cli/rundir.c \
	framework/cli/runpkg.c \
	framework/cli/cmd_init.c \
	framework/cli/cmd_run.c \
	framework/cli/cmd_chat.c \
	framework/cli/cmd_model.c \
	framework/cli/cmd_adapter.c \
	framework/cli/cmd_pull.c \
	framework/cli/cmd_serve.c \
	framework/cli/cmd_monitor.c
socfw_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/framework
socfw_CFLAGS = $(framework_libsocfw_la_CFLAGS) $(EDIT_CFLAGS)
socfw_LDADD = framework/libsocfw.la $(framework_libsocfw_la_LIBADD) \
	$(EDIT_LIBS)

# end-to-end tests of tokenize / generate / logits (cmd_model.c)
if HAVE_CRITERION
check_PROGRAMS += tests/test_cli_model
TESTS += tests/test_cli_model
endif
tests_test_cli_model_SOURCES = $(TEST_COMMON) tests/test_arch_util.h \
	tests/test_arch_util.c tests/test_cli_model.c
tests_test_cli_model_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_model_LDADD = $(TEST_LDADD)

# `socfw serve` over HTTP, end to end
TESTS += tests/serve-http.sh
EXTRA_DIST += tests/serve-http.sh

# run packages: a moved run predicts and serves without its pipeline/data
TESTS += tests/run-package.sh
EXTRA_DIST += tests/run-package.sh

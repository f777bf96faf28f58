# tests/: each component adds its own Criterion binary tests/test_<area>
# (see framework/*/local.mk).  These are the pieces they share.
TEST_COMMON = tests/testutil.c tests/testutil.h
TEST_CFLAGS = $(framework_libsocfw_la_CFLAGS) $(CRITERION_CFLAGS)
TEST_LDADD = framework/libsocfw.la $(CRITERION_LIBS) $(framework_libsocfw_la_LIBADD)
EXTRA_DIST += tests/fixtures tests/lsan.supp

# Modules for the registry tests (built by make check, never installed).
TEST_MODULE_FLAGS = $(SOCFW_MODULE_FLAGS) -rpath /nowhere
if HAVE_CRITERION
check_LTLIBRARIES += tests/plugins/good/testgood.la \
	tests/plugins/abimajor/testabimajor.la \
	tests/plugins/abiminor/testabiminor.la \
	tests/plugins/nosym/testnosym.la \
	tests/plugins/dup/testgood.la \
	tests/plugins/evalprobe/evalprobe.la
endif
tests_plugins_good_testgood_la_SOURCES = tests/plugins/testplugin.c
tests_plugins_good_testgood_la_CPPFLAGS = $(AM_CPPFLAGS) -DTEST_NAME=testgood
tests_plugins_good_testgood_la_LDFLAGS = $(TEST_MODULE_FLAGS)
tests_plugins_good_testgood_la_LIBADD = $(SOCFW_MODULE_LIBS)
tests_plugins_dup_testgood_la_SOURCES = tests/plugins/testplugin.c
tests_plugins_dup_testgood_la_CPPFLAGS = $(AM_CPPFLAGS) -DTEST_NAME=testgood
tests_plugins_dup_testgood_la_LDFLAGS = $(TEST_MODULE_FLAGS)
tests_plugins_dup_testgood_la_LIBADD = $(SOCFW_MODULE_LIBS)
tests_plugins_abimajor_testabimajor_la_SOURCES = tests/plugins/testplugin.c
tests_plugins_abimajor_testabimajor_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEST_NAME=testabimajor -DTEST_ABI_1_3=1
tests_plugins_abimajor_testabimajor_la_LDFLAGS = $(TEST_MODULE_FLAGS)
tests_plugins_abimajor_testabimajor_la_LIBADD = $(SOCFW_MODULE_LIBS)
tests_plugins_abiminor_testabiminor_la_SOURCES = tests/plugins/testplugin.c
tests_plugins_abiminor_testabiminor_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEST_NAME=testabiminor -DTEST_ABI_MINOR=7
tests_plugins_abiminor_testabiminor_la_LDFLAGS = $(TEST_MODULE_FLAGS)
tests_plugins_abiminor_testabiminor_la_LIBADD = $(SOCFW_MODULE_LIBS)
tests_plugins_nosym_testnosym_la_SOURCES = tests/plugins/testplugin.c
tests_plugins_nosym_testnosym_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEST_NAME=testnosym -DTEST_NO_SYMBOL=1
tests_plugins_nosym_testnosym_la_LDFLAGS = $(TEST_MODULE_FLAGS)
tests_plugins_nosym_testnosym_la_LIBADD = $(SOCFW_MODULE_LIBS)
# A classification task whose evaluate hook writes down what it is given
# (test_train: the hook's records and scores, end to end).
tests_plugins_evalprobe_evalprobe_la_SOURCES = tests/plugins/evalprobe.c
tests_plugins_evalprobe_evalprobe_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_plugins_evalprobe_evalprobe_la_LDFLAGS = $(TEST_MODULE_FLAGS)
tests_plugins_evalprobe_evalprobe_la_LIBADD = $(SOCFW_MODULE_LIBS) \
	$(JANSSON_LIBS)

# End-to-end shell tests.
TESTS += tests/oot-plugin.sh
EXTRA_DIST += tests/oot-plugin.sh doc/examples
TESTS += tests/doc-reference.sh
EXTRA_DIST += tests/doc-reference.sh

# libFuzzer targets (built with clang when present; see tests/fuzz/local.mk)
include tests/fuzz/local.mk

# privacy plugin: pattern recognizers (PCRE2) and anonymisation operators
# (libsodium), built as a convenience library that the plugin module, the
# tests and the benchmark link.
noinst_LTLIBRARIES += plugins/privacy/libpii.la
plugins_privacy_libpii_la_SOURCES = \
	plugins/privacy/pii.c plugins/privacy/pii.h \
	plugins/privacy/buf.c plugins/privacy/buf.h \
	plugins/privacy/recognizers.c plugins/privacy/recognizers.h \
	plugins/privacy/operators.c plugins/privacy/operators.h \
	plugins/privacy/model.c plugins/privacy/model.h \
	plugins/privacy/names.c plugins/privacy/names.h \
	plugins/privacy/names_zh.c plugins/privacy/names_impl.h \
	plugins/privacy/names_zh_translit.c plugins/privacy/names_zh_lists.c \
	plugins/privacy/custom.c plugins/privacy/custom.h \
	plugins/privacy/leaks.c plugins/privacy/leaks.h
plugins_privacy_libpii_la_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(SODIUM_CFLAGS) \
	$(JANSSON_CFLAGS) $(UTF8PROC_CFLAGS) $(YAML_CFLAGS)
plugins_privacy_libpii_la_LIBADD = $(PCRE2_LIBS) $(SODIUM_LIBS) $(JANSSON_LIBS) \
	$(UTF8PROC_LIBS) $(YAML_LIBS) -lm
# libFuzzer targets, built and run by make check (tests/fuzz/local.mk)
EXTRA_DIST += plugins/privacy/fuzz_privacy.c tests/fuzz/fuzz_ner.c \
	tests/fuzz/fuzz_names.c

if HAVE_CRITERION
check_PROGRAMS += tests/test_privacy
TESTS += tests/test_privacy
endif
tests_test_privacy_SOURCES = $(TEST_COMMON) tests/test_privacy_eval.c \
	tests/test_privacy_recognizers.c tests/test_privacy_operators.c \
	tests/test_privacy_plugin.c tests/test_privacy_model.c \
	tests/test_privacy_names.c
tests_test_privacy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/privacy \
	-I$(top_srcdir)/tests
tests_test_privacy_CFLAGS = $(TEST_CFLAGS)
tests_test_privacy_LDADD = plugins/privacy/libpii.la $(TEST_LDADD)

noinst_PROGRAMS += bench/bench_privacy
bench_bench_privacy_SOURCES = bench/bench_privacy.c
bench_bench_privacy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/privacy
bench_bench_privacy_LDADD = plugins/privacy/libpii.la framework/libsocfw.la

# the name recognizer's figures (doc/guide.md, privacy section)
noinst_PROGRAMS += bench/eval_names
bench_eval_names_SOURCES = bench/eval_names.c
bench_eval_names_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/privacy
bench_eval_names_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_eval_names_LDADD = plugins/privacy/libpii.la framework/libsocfw.la \
	$(JANSSON_LIBS)

# the loadable module
plugin_LTLIBRARIES += plugins/privacy/privacy.la
plugins_privacy_privacy_la_SOURCES = plugins/privacy/privacy.c
plugins_privacy_privacy_la_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(SODIUM_CFLAGS)
plugins_privacy_privacy_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
plugins_privacy_privacy_la_LIBADD = plugins/privacy/libpii.la \
	$(SOCFW_MODULE_LIBS) $(PCRE2_LIBS) $(SODIUM_LIBS)

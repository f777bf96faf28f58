# nlu plugin: joint intents + slots, and pattern extractors (PCRE2) built
# as a convenience library that the module, the tests and the fuzz target
# link.
noinst_LTLIBRARIES += plugins/nlu/libnlu.la
plugins_nlu_libnlu_la_SOURCES = \
	plugins/nlu/spans.c plugins/nlu/spans.h \
	plugins/nlu/tickers.c plugins/nlu/tickers.h \
	plugins/nlu/dates.c plugins/nlu/dates.h \
	plugins/nlu/extract.c plugins/nlu/extract.h
plugins_nlu_libnlu_la_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) \
	$(JANSSON_CFLAGS) $(UTF8PROC_CFLAGS)
plugins_nlu_libnlu_la_LIBADD = $(PCRE2_LIBS) $(JANSSON_LIBS) $(UTF8PROC_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_nlu.c

if HAVE_CRITERION
check_PROGRAMS += tests/test_nlu
TESTS += tests/test_nlu
endif
tests_test_nlu_SOURCES = $(TEST_COMMON) tests/test_nlu_extract.c \
	tests/test_nlu_tickers.c tests/test_nlu_spans.c tests/test_nlu_plugin.c
tests_test_nlu_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/nlu \
	-I$(top_srcdir)/tests
tests_test_nlu_CFLAGS = $(TEST_CFLAGS)
tests_test_nlu_LDADD = plugins/nlu/libnlu.la $(TEST_LDADD)

# the loadable module
plugin_LTLIBRARIES += plugins/nlu/nlu.la
plugins_nlu_nlu_la_SOURCES = plugins/nlu/nlu.c
plugins_nlu_nlu_la_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS)
plugins_nlu_nlu_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
plugins_nlu_nlu_la_LIBADD = plugins/nlu/libnlu.la \
	$(SOCFW_MODULE_LIBS) $(PCRE2_LIBS) $(JANSSON_LIBS)

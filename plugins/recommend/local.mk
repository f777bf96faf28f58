# recommend task plugin
plugin_LTLIBRARIES += plugins/recommend/recommend.la
plugins_recommend_recommend_la_SOURCES = plugins/recommend/recommend.c \
	plugins/recommend/catalog.c plugins/recommend/catalog.h
plugins_recommend_recommend_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_recommend_recommend_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
plugins_recommend_recommend_la_LIBADD = $(SOCFW_MODULE_LIBS) $(JANSSON_LIBS)

# catalogue, metrics, the plugin's hooks (fake model) and the runtime end to
# end on tiny synthetic data
if HAVE_CRITERION
check_PROGRAMS += tests/test_recommend
TESTS += tests/test_recommend
endif
tests_test_recommend_SOURCES = $(TEST_COMMON) \
	tests/test_recommend_catalog.c tests/test_recommend_plugin.c \
	tests/test_recommend_train.c \
	plugins/recommend/catalog.c
tests_test_recommend_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/plugins/recommend -I$(top_srcdir)/tests
tests_test_recommend_CFLAGS = $(TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_test_recommend_LDADD = $(TEST_LDADD) $(JANSSON_LIBS)

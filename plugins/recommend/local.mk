# recommend task plugin
plugin_LTLIBRARIES += plugins/recommend/recommend.la
plugins_recommend_recommend_la_SOURCES = plugins/recommend/recommend.c
plugins_recommend_recommend_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_recommend_recommend_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
plugins_recommend_recommend_la_LIBADD = $(SOCFW_MODULE_LIBS) $(JANSSON_LIBS)

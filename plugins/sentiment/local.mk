# sentiment task plugin
plugin_LTLIBRARIES += plugins/sentiment/sentiment.la
plugins_sentiment_sentiment_la_SOURCES = plugins/sentiment/sentiment.c
plugins_sentiment_sentiment_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_sentiment_sentiment_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
plugins_sentiment_sentiment_la_LIBADD = $(SOCFW_MODULE_LIBS) $(JANSSON_LIBS)

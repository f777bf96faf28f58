# adcopy task plugin
plugin_LTLIBRARIES += plugins/adcopy/adcopy.la
plugins_adcopy_adcopy_la_SOURCES = plugins/adcopy/adcopy.c
plugins_adcopy_adcopy_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_adcopy_adcopy_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
plugins_adcopy_adcopy_la_LIBADD = $(SOCFW_MODULE_LIBS) $(JANSSON_LIBS)

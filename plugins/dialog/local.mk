# dialog task plugin
plugin_LTLIBRARIES += plugins/dialog/dialog.la
plugins_dialog_dialog_la_SOURCES = plugins/dialog/dialog.c
plugins_dialog_dialog_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_dialog_dialog_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
plugins_dialog_dialog_la_LIBADD = $(SOCFW_MODULE_LIBS) $(JANSSON_LIBS)

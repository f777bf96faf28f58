# report: metrics, registry, classification report, SVG curves
# (socfw/metrics.h, socfw/report.h)
framework_libsocfw_la_SOURCES += \
	framework/report/metrics.c \
	framework/report/ranking.c \
	framework/report/registry.c \
	framework/report/entities.c
socfwinclude_HEADERS += framework/socfw/metrics.h
framework_libsocfw_la_SOURCES += framework/report/report.c
socfwinclude_HEADERS += framework/socfw/report.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_metrics
TESTS += tests/test_metrics
endif
tests_test_metrics_SOURCES = $(TEST_COMMON) tests/test_metrics.c \
	tests/test_metrics_report.c
tests_test_metrics_CFLAGS = $(TEST_CFLAGS)
tests_test_metrics_LDADD = $(TEST_LDADD)

# report: metrics, registry, classification report, SVG curves
# (socfw/metrics.h, socfw/report.h)
framework_libsocfw_la_SOURCES += \
	framework/report/metrics.c \
	framework/report/ranking.c \
	framework/report/metric_values.c \
	framework/report/entities.c
socfwinclude_HEADERS += framework/socfw/metrics.h
framework_libsocfw_la_SOURCES += framework/report/report.c
socfwinclude_HEADERS += framework/socfw/report.h
framework_libsocfw_la_SOURCES += framework/report/baseline.c \
	framework/report/softmax_lr.c framework/report/softmax_lr.h \
	framework/report/baseline_report.c
socfwinclude_HEADERS += framework/socfw/baseline.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_metrics
TESTS += tests/test_metrics
endif
tests_test_metrics_SOURCES = $(TEST_COMMON) tests/test_metrics.c \
	tests/test_metrics_report.c
tests_test_metrics_CFLAGS = $(TEST_CFLAGS)
tests_test_metrics_LDADD = $(TEST_LDADD)

if HAVE_CRITERION
check_PROGRAMS += tests/test_baseline
TESTS += tests/test_baseline
endif
tests_test_baseline_SOURCES = $(TEST_COMMON) tests/test_baseline.c
tests_test_baseline_CFLAGS = $(TEST_CFLAGS)
tests_test_baseline_LDADD = $(TEST_LDADD)

# the baseline alone on a data set (figures in doc/guide.md)
noinst_PROGRAMS += bench/bench_baseline
bench_bench_baseline_SOURCES = bench/bench_baseline.c
bench_bench_baseline_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_baseline_LDADD = framework/libsocfw.la

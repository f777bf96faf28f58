# tests/: each component adds its own Criterion binary tests/test_<area>
# (see framework/*/local.mk).  These are the pieces they share.
TEST_COMMON = tests/testutil.c tests/testutil.h
TEST_CFLAGS = $(framework_libsocfw_la_CFLAGS) $(CRITERION_CFLAGS)
TEST_LDADD = framework/libsocfw.la $(CRITERION_LIBS) $(framework_libsocfw_la_LIBADD)
EXTRA_DIST += tests/fixtures

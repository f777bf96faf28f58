# tests/fuzz/: libFuzzer targets, one per parser (tests/fuzz/fuzz_*.c and
# plugins/privacy/fuzz_privacy.c).
#
# They are compiled with $(FUZZ_CC) (clang; configure finds it) and linked
# against static archives built from the SAME source lists as libsocfw and
# the privacy plugin's libpii (framework_libsocfw_la_SOURCES and
# plugins_privacy_libpii_la_SOURCES), with the same dependency flags, so a
# source file added to the library is in the fuzz build too.  Everything is
# instrumented for coverage (-fsanitize=fuzzer-no-link) and checked by
# AddressSanitizer and UBSan.  `make check` builds them (so a target that
# stops compiling or linking fails the suite) and tests/fuzz.sh runs each a
# few seconds on its seed corpus; tests/fuzz/run-fuzz.sh runs them longer.
#
# A new target: add tests/fuzz/fuzz_NAME.c, NAME to FUZZ_TARGETS here and
# its seed corpus as tests/fuzz/seeds/NAME/ (or fixtures named in
# run-fuzz.sh); a target without seeds fails the test.
FUZZ_TARGETS = gguf safetensors quant qlinear pipeline data ner privacy adapter baseline names \
	monitor nlu continual serve
FUZZ_BINS = $(FUZZ_TARGETS:%=tests/fuzz/fuzz_%)

FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -g -O1 -pthread -Wall -Wextra -Wno-unused-parameter \
	$(FUZZ_SAN)
FUZZ_CPPFLAGS = $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) \
	$(filter-out $(AM_CFLAGS),$(framework_libsocfw_la_CFLAGS) \
	$(plugins_privacy_libpii_la_CFLAGS) $(plugins_nlu_libnlu_la_CFLAGS))
FUZZ_LIBS = $(framework_libsocfw_la_LIBADD) $(plugins_privacy_libpii_la_LIBADD) \
	$(plugins_nlu_libnlu_la_LIBADD)

FUZZ_LIB_OBJS = $(patsubst %.c,tests/fuzz/obj/%.o,\
	$(filter %.c,$(framework_libsocfw_la_SOURCES)))
FUZZ_PII_OBJS = $(patsubst %.c,tests/fuzz/obj/%.o,\
	$(filter %.c,$(plugins_privacy_libpii_la_SOURCES)))
FUZZ_NLU_OBJS = $(patsubst %.c,tests/fuzz/obj/%.o,\
	$(filter %.c,$(plugins_nlu_libnlu_la_SOURCES)))
# every object is rebuilt when any header of the library changes (no
# dependency tracking for the second compiler; all of them take about 20 s
# on 2 cores)
FUZZ_H_DEPS = config.h $(socfwinclude_HEADERS) $(noinst_HEADERS) \
	$(filter %.h,$(framework_libsocfw_la_SOURCES) \
	$(plugins_privacy_libpii_la_SOURCES) $(plugins_nlu_libnlu_la_SOURCES))

tests/fuzz/obj/%.o: %.c $(FUZZ_H_DEPS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) \
		-fsanitize=fuzzer-no-link -c -o $@ $<

tests/fuzz/libsocfw-fuzz.a: $(FUZZ_LIB_OBJS)
tests/fuzz/libpii-fuzz.a: $(FUZZ_PII_OBJS)
tests/fuzz/libnlu-fuzz.a: $(FUZZ_NLU_OBJS)
tests/fuzz/libsocfw-fuzz.a tests/fuzz/libpii-fuzz.a tests/fuzz/libnlu-fuzz.a:
	$(AM_V_GEN)rm -f $@ && $(AR) cr $@ $^ && $(RANLIB) $@

# fuzz_privacy.c lives with the plugin it fuzzes; a target may compile
# sources of the socfw program with it (FUZZ_EXTRA_<target>)
FUZZ_SRC_privacy = plugins/privacy/fuzz_privacy.c
FUZZ_EXTRA_serve = framework/cli/serve_parse.c
$(FUZZ_BINS): tests/fuzz/fuzz_%: tests/fuzz/libpii-fuzz.a \
		tests/fuzz/libnlu-fuzz.a tests/fuzz/libsocfw-fuzz.a
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CPPFLAGS) -I$(srcdir)/tests/fuzz \
		-I$(srcdir)/plugins/privacy -I$(srcdir)/plugins/nlu \
		$(FUZZ_CFLAGS) -fsanitize=fuzzer \
		-o $@ $(srcdir)/$(or $(FUZZ_SRC_$*),tests/fuzz/fuzz_$*.c) \
		$(FUZZ_EXTRA_$*:%=$(srcdir)/%) \
		tests/fuzz/libpii-fuzz.a tests/fuzz/libnlu-fuzz.a \
		tests/fuzz/libsocfw-fuzz.a $(FUZZ_LIBS)
$(FUZZ_BINS): $(FUZZ_H_DEPS) tests/fuzz/fuzz_common.h tests/fuzz/fuzz_files.h
tests/fuzz/fuzz_privacy: plugins/privacy/fuzz_privacy.c
$(filter-out tests/fuzz/fuzz_privacy,$(FUZZ_BINS)): tests/fuzz/fuzz_%: \
		tests/fuzz/fuzz_%.c
tests/fuzz/fuzz_serve: framework/cli/serve_parse.c framework/cli/serve_parse.h

# `make fuzz` builds the targets in any build with a clang (run-fuzz.sh
# calls it); make check builds them only where configure enabled them.
fuzz:
	@test -n "$(FUZZ_CC)" || { echo "fuzz targets not built: \
$(FUZZ_SKIP_REASON)" >&2; exit 1; }
	@$(MAKE) $(AM_MAKEFLAGS) $(FUZZ_BINS)
.PHONY: fuzz
fuzz-list:
	@echo $(FUZZ_TARGETS)
.PHONY: fuzz-list

if ENABLE_FUZZ
check_DATA = $(FUZZ_BINS)
endif
TESTS += tests/fuzz.sh
EXTRA_DIST += tests/fuzz.sh tests/fuzz/gen_adapter_seeds.py
AM_TESTS_ENVIRONMENT += SOCFW_FUZZ_SKIP='$(FUZZ_SKIP_REASON)'; \
	SOCFW_FUZZ_TARGETS='$(FUZZ_TARGETS)'; \
	export SOCFW_FUZZ_SKIP SOCFW_FUZZ_TARGETS;
CLEANFILES += $(FUZZ_BINS) tests/fuzz/libsocfw-fuzz.a tests/fuzz/libpii-fuzz.a \
	tests/fuzz/libnlu-fuzz.a
clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/obj tests/fuzz-work
.PHONY: clean-fuzz

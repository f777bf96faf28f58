#!/bin/sh
# make check: run every libFuzzer target (built by make check from the
# library's own sources, see tests/fuzz/local.mk) for a few seconds on its
# seed corpus, so a target that stops building, or an input of its seeds or
# a quick mutation that crashes, fails the suite.  SOCFW_FUZZ_SECONDS sets
# the time per target (default 4); tests/fuzz/run-fuzz.sh runs longer.
# Skipped, saying why, when configure found no clang with libFuzzer.
set -eu
if [ -n "${SOCFW_FUZZ_SKIP:-}" ]; then
        echo "SKIP: fuzz targets not run: $SOCFW_FUZZ_SKIP"
        exit 77
fi
FUZZ_BUILDDIR=${SOCFW_BUILDDIR:?} FUZZ_FRESH=1
export FUZZ_BUILDDIR FUZZ_FRESH
exec sh "${SOCFW_SRCDIR:?}/tests/fuzz/run-fuzz.sh" -n "${SOCFW_FUZZ_SECONDS:-4}"

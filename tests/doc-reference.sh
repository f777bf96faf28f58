#!/bin/sh
# doc/pipeline.md is the output of `socfw help pipeline`: the reference
# cannot drift from the schema the validator uses.
set -eu
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"${SOCFW_BUILDDIR:?}/socfw" help pipeline >"$out"
if ! diff -u "${SOCFW_SRCDIR:?}/doc/pipeline.md" "$out"; then
        echo "FAIL: doc/pipeline.md is stale; regenerate it with:" >&2
        echo "  socfw help pipeline > doc/pipeline.md" >&2
        exit 1
fi
echo "ok: doc/pipeline.md matches the schema"

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

# Every environment variable the sources read is documented in both
# `socfw help environment` and socfw(1) (HOME, TMPDIR, XDG_CACHE_HOME are
# the system's; SOCFW_UNINSTALLED / SOCFW_BUILDDIR are the build tree's).
"${SOCFW_BUILDDIR}/socfw" help environment >"$out"
vars=$(grep -rhoE 'getenv\("[A-Z_]+"\)' "${SOCFW_SRCDIR}/framework" \
        "${SOCFW_SRCDIR}/plugins" "${SOCFW_SRCDIR}/heads" |
        sed 's/getenv("\(.*\)")/\1/' | sort -u |
        grep -vxE 'HOME|TMPDIR|XDG_CACHE_HOME|SOCFW_UNINSTALLED|SOCFW_BUILDDIR')
[ -n "$vars" ] || { echo "FAIL: found no getenv calls" >&2; exit 1; }
n=0
for v in $vars; do
        grep -q "^  $v " "$out" || {
                echo "FAIL: $v is read but not in 'socfw help environment'" >&2
                exit 1; }
        grep -q "^\.B $v\$" "${SOCFW_SRCDIR}/doc/socfw.1" || {
                echo "FAIL: $v is read but not in socfw.1's ENVIRONMENT" >&2
                exit 1; }
        n=$((n + 1))
done
echo "ok: $n environment variables documented in help and socfw.1"

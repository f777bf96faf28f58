#!/bin/sh
# The example third-party plugin (doc/examples/mention) builds out of tree
# with `pkg-config --cflags --libs socfw` against this build tree, is listed
# by `socfw inspect` from SOCFW_PLUGIN_PATH, and runs in a chain.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# pkg-config prefers socfw-uninstalled.pc found on PKG_CONFIG_PATH
PKG_CONFIG_PATH=$build; export PKG_CONFIG_PATH
pkg-config --exists socfw || fail "pkg-config does not find socfw"
pkg-config --cflags socfw | grep -q "$src/framework" ||
        fail "pkg-config socfw did not pick the uninstalled tree"
cp -r "$src/doc/examples/mention" "$tmp/src"
chmod -R u+w "$tmp/src"
make -s -C "$tmp/src" mention.so \
        CC="${CC:-cc}" CFLAGS="-O2 -Wall -Wextra -Werror ${SAN_CFLAGS:-}" \
        >/dev/null 2>"$tmp/build.err" || { cat "$tmp/build.err" >&2; fail "build"; }
mkdir "$tmp/plugins"
mv "$tmp/src/mention.so" "$tmp/plugins/"

SOCFW_PLUGIN_PATH=$tmp/plugins; export SOCFW_PLUGIN_PATH
"$build/socfw" inspect >"$tmp/list" 2>&1 || fail "inspect failed"
grep -q "^  mention .*brand names" "$tmp/list" || { cat "$tmp/list"; fail "mention not listed"; }
"$build/socfw" inspect mention >"$tmp/one" 2>&1 || fail "inspect mention"
grep -q "case_sensitive" "$tmp/one" || fail "parameters not shown"

cat >"$tmp/p.yaml" <<'YAML'
socfw: 1
tasks:
  - {name: brands, plugin: mention, brands: [Acme, Globex]}
chain: [brands]
YAML
echo '{"text": "My acme phone broke again"}' >"$tmp/in.jsonl"
"$build/socfw" predict "$tmp/p.yaml" --input "$tmp/in.jsonl" >"$tmp/out" 2>&1 ||
        { cat "$tmp/out"; fail "predict"; }
grep -q '"brands":{"found":\["Acme"\],"count":1' "$tmp/out" ||
        { cat "$tmp/out"; fail "unexpected output"; }
echo "ok: example plugin built out of tree, listed and run"

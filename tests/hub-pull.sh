#!/bin/sh
# `socfw pull` against a local stand-in for the hub (tests/hub-server.py):
# a model directory, sharded weights, a single GGUF file, resuming an
# interrupted download, a damaged download, a gated repository, missing
# repositories, bad names, and hub:ORG/NAME before and after the pull.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
socfw=$build/socfw
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3 for the stand-in hub"; exit 77; }

srv=$tmp/srv
mkdir -p "$srv/acme/tiny/main" "$srv/acme/sharded/main" \
         "$srv/acme/big/main" "$srv/acme/gated/main" "$srv/acme/gguf/v1"
cp "$src/tests/fixtures/arch/gpt2/config.json" \
   "$src/tests/fixtures/arch/gpt2/model.safetensors" "$srv/acme/tiny/main/"
cp "$srv/acme/tiny/main/"* "$srv/acme/gated/main/"
echo s3cret >"$srv/acme/gated/.token"
cp "$src/tests/fixtures/arch/gpt2/config.json" "$srv/acme/sharded/main/"
printf 'first shard' >"$srv/acme/sharded/main/model-00001-of-00002.safetensors"
printf 'second shard' >"$srv/acme/sharded/main/model-00002-of-00002.safetensors"
cat >"$srv/acme/sharded/main/model.safetensors.index.json" <<'JSON'
{"metadata": {}, "weight_map": {
  "a.weight": "model-00001-of-00002.safetensors",
  "b.weight": "model-00002-of-00002.safetensors",
  "c.weight": "model-00001-of-00002.safetensors"}}
JSON
cp "$src/tests/fixtures/arch/gpt2/config.json" "$srv/acme/big/main/"
head -c 1000000 /dev/urandom >"$srv/acme/big/main/model.safetensors"
echo 300000 >"$srv/acme/big/main/model.safetensors.cut"
printf 'GGUF not really' >"$srv/acme/gguf/v1/tiny.Q4_K_M.gguf"

"$py" "$src/tests/hub-server.py" "$srv" "$tmp/port" &
pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
        i=$((i + 1)); [ $i -lt 100 ] || fail "hub server did not start"
        sleep 0.1
done
SOCFW_HUB_ENDPOINT=http://127.0.0.1:$(cat "$tmp/port")
SOCFW_CACHE_DIR=$tmp/cache
export SOCFW_HUB_ENDPOINT SOCFW_CACHE_DIR
unset HF_TOKEN || true

# nothing is downloaded behind the user's back: before the pull, hub:
# names fail and say what to run
if "$socfw" logits --model hub:acme/tiny --ids "1 2" >/dev/null 2>"$tmp/e0"; then
        fail "hub model used before it was pulled"
fi
grep -q "socfw pull acme/tiny" "$tmp/e0" || { cat "$tmp/e0"; fail "hint"; }
test ! -d "$tmp/cache/hub/acme--tiny" || fail "resolve created the cache"

# a model directory
dir=$("$socfw" pull acme/tiny 2>"$tmp/e1") || { cat "$tmp/e1"; fail "pull tiny"; }
test "$dir" = "$tmp/cache/hub/acme--tiny/main" || fail "printed $dir"
cmp "$dir/model.safetensors" "$srv/acme/tiny/main/model.safetensors" ||
        fail "model.safetensors differs"
grep -q "$(sha256sum <"$dir/model.safetensors" | cut -c1-64)" \
        "$dir/socfw-pull.json" || fail "manifest lacks the SHA-256"
test ! -e "$dir/tokenizer.json" || fail "invented an optional file"
"$socfw" logits --model hub:acme/tiny --ids "1 2" >"$tmp/l1" ||
        fail "logits from hub:"
"$socfw" logits --model "$src/tests/fixtures/arch/gpt2" --ids "1 2" >"$tmp/l2"
cmp "$tmp/l1" "$tmp/l2" || fail "hub: and the directory give other logits"
# pulling again fetches nothing and gives the same place
dir2=$("$socfw" pull acme/tiny 2>/dev/null) && test "$dir2" = "$dir" ||
        fail "second pull"

# sharded weights: every shard of the index, once
dir=$("$socfw" pull acme/sharded 2>"$tmp/e2") || { cat "$tmp/e2"; fail "pull sharded"; }
cmp "$dir/model-00002-of-00002.safetensors" \
    "$srv/acme/sharded/main/model-00002-of-00002.safetensors" || fail "shard 2"
test -f "$dir/model-00001-of-00002.safetensors" || fail "shard 1"

# one GGUF file of a revision: the printed path is the file
path=$("$socfw" pull acme/gguf --revision v1 --file tiny.Q4_K_M.gguf 2>"$tmp/e3") ||
        { cat "$tmp/e3"; fail "pull gguf"; }
test "$path" = "$tmp/cache/hub/acme--gguf/v1/tiny.Q4_K_M.gguf" ||
        fail "printed $path"

# an interrupted download fails, keeps its .part, and resumes
if "$socfw" pull acme/big >/dev/null 2>"$tmp/e4"; then
        fail "a cut download succeeded"
fi
grep -q "resume" "$tmp/e4" || { cat "$tmp/e4"; fail "no resume hint"; }
part=$tmp/cache/hub/acme--big/main/model.safetensors.part
test "$(wc -c <"$part")" -eq 300000 || fail ".part has $(wc -c <"$part") bytes"
test ! -e "$tmp/cache/hub/acme--big/main/socfw-pull.json" ||
        fail "manifest written for an unfinished pull"
rm "$srv/acme/big/main/model.safetensors.cut"
dir=$("$socfw" pull acme/big 2>"$tmp/e5") || { cat "$tmp/e5"; fail "resume"; }
cmp "$dir/model.safetensors" "$srv/acme/big/main/model.safetensors" ||
        fail "resumed file differs"
test ! -e "$part" || fail ".part left behind"

# a download whose SHA-256 is not the hub's is removed
rm -rf "$tmp/cache/hub/acme--big"
echo 0000000000000000000000000000000000000000000000000000000000000000 \
        >"$srv/acme/big/main/model.safetensors.badsha"
if "$socfw" pull acme/big >/dev/null 2>"$tmp/e6"; then
        fail "a damaged download was accepted"
fi
grep -q "SHA-256" "$tmp/e6" || { cat "$tmp/e6"; fail "sha message"; }
test ! -e "$tmp/cache/hub/acme--big/main/model.safetensors" ||
        fail "damaged file kept"

# gated: refused without the token, fetched with it
if "$socfw" pull acme/gated >/dev/null 2>"$tmp/e7"; then
        fail "gated model without a token"
fi
grep -q "HF_TOKEN" "$tmp/e7" || { cat "$tmp/e7"; fail "token hint"; }
HF_TOKEN=s3cret "$socfw" pull acme/gated >/dev/null 2>"$tmp/e8" ||
        { cat "$tmp/e8"; fail "gated with token"; }

# missing repository, bad names
if "$socfw" pull acme/nothing >/dev/null 2>"$tmp/e9"; then
        fail "missing repository"
fi
grep -q "not found" "$tmp/e9" || { cat "$tmp/e9"; fail "404 message"; }
for bad in ../etc acme/../x acme noslash/a/b "acme/sp ace"; do
        if "$socfw" pull "$bad" >/dev/null 2>"$tmp/e10"; then
                fail "accepted name '$bad'"
        fi
        grep -q "not a model repository name" "$tmp/e10" ||
                { cat "$tmp/e10"; fail "name message for '$bad'"; }
done
if "$socfw" pull acme/tiny --file ../x >/dev/null 2>"$tmp/e11"; then
        fail "accepted file ../x"
fi
# no server at all: a network error with a hint, not a hang
if SOCFW_HUB_ENDPOINT=http://127.0.0.1:9 "$socfw" pull acme/other \
        >/dev/null 2>"$tmp/e12"; then
        fail "pull without a server"
fi
grep -q "check the network" "$tmp/e12" || { cat "$tmp/e12"; fail "network hint"; }
echo "hub-pull: all checks passed"

#!/bin/sh
# `socfw perplexity` end to end on stories260K (skipped without ../shared):
# a plain and a gzip-compressed copy of a small story text give the same
# line; stride half the window scores more tokens; the Q8_0 and F16
# quantisations of the model (socfw quantize) stay within 2% / 0.5% of the
# F32 perplexity; a window beyond the model's context, an encoder and a
# missing file are refused.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
socfw=$build/socfw
text=$src/tests/fixtures/perplexity/story.txt

if "$socfw" perplexity --model "$src/tests/fixtures/arch/bert" \
        --input "$text" 2>"$tmp/log"; then
        fail "an encoder was accepted"
fi
grep -q "pseudo-perplexity" "$tmp/log" || fail "$(cat "$tmp/log")"

shared=${SOCFW_SHARED_DIR:-$src/../shared}
st=$shared/models/stories260K.gguf
if [ ! -f "$st" ]; then
        echo "SKIP: $st not present"
        exit 0
fi
gzip -c "$text" >"$tmp/story.txt.gz"
a=$("$socfw" perplexity --model "$st" --input "$text" --ctx 128 2>/dev/null)
b=$("$socfw" perplexity --model "$st" --input "$tmp/story.txt.gz" \
        --ctx 128 2>/dev/null)
echo "perplexity stories260K: $a"
[ "$a" = "$b" ] || fail "gzip input differs: '$b' vs '$a'"
case $a in
"ppl "*" windows "*" ctx 128 stride 128") ;;
*) fail "unexpected output '$a'" ;;
esac
ppl() { echo "$1" | awk '{ print $2 }'; }
scored() { echo "$1" | awk '{ print $6 }'; }
h=$("$socfw" perplexity --model "$st" --input "$text" --ctx 128 \
        --stride 64 2>/dev/null)
[ "$(scored "$h")" -gt "$(scored "$a")" ] || fail "stride 64: '$h'"
for spec in q8_0:0.02 f16:0.005; do
        t=${spec%%:*}
        tol=${spec#*:}
        "$socfw" quantize "$st" "$tmp/s.$t.gguf" --type "$t" 2>/dev/null
        q=$("$socfw" perplexity --model "$tmp/s.$t.gguf" --input "$text" \
                --ctx 128 2>/dev/null)
        echo "perplexity stories260K $t: $q"
        awk -v a="$(ppl "$a")" -v q="$(ppl "$q")" -v t="$tol" \
                'BEGIN { d = (q - a) / a; if (d < 0) d = -d; exit !(d <= t) }' ||
                fail "$t perplexity $(ppl "$q") vs F32 $(ppl "$a")"
done
if "$socfw" perplexity --model "$st" --input "$text" --ctx 100000 \
        2>"$tmp/log"; then
        fail "a window beyond the context was accepted"
fi
grep -q "the window must be 2\.\." "$tmp/log" || fail "$(cat "$tmp/log")"
if "$socfw" perplexity --model "$st" --input "$tmp/none.txt" 2>"$tmp/log"
then
        fail "a missing input was accepted"
fi
grep -q "none.txt" "$tmp/log" || fail "$(cat "$tmp/log")"
echo "PASS perplexity-cli"

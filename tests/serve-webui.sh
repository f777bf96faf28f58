#!/bin/sh
# The web page of `socfw serve` in headless Chromium (Debian's chromium):
# a tiny chat-demo run is served, the page loads, sends a chat message
# (#chat=... in the address), shows the streamed reply with the detected
# mood, and a screenshot is taken (kept with KEEP=1).  Skipped with its
# reason when chromium is absent.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || {
        echo "SKIP: chromium is not installed (apt-get install chromium)"
        exit 77
}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
socfw=$build/socfw
yaml=$src/configs/chat-demo.yaml
sets="--set output.dir=$tmp/run --set pretrain.steps=8
      --set pretrain.batch_size=4 --set train.epochs=1 --set train.max_steps=6
      --set tasks.sentiment.data.max_rows=40 --set tasks.reply.data.max_rows=40
      --set tasks.reply.sessions=$tmp/sessions.db
      --set tasks.reply.max_reply_tokens=12 --set threads=1"
# shellcheck disable=SC2086
"$socfw" run "$yaml" $sets >"$tmp/run.log" 2>&1 || fail "socfw run"
# shellcheck disable=SC2086
SOCFW_WEBDIR=$src/web "$socfw" serve "$yaml" $sets --port 0 2>"$tmp/err" &
pid=$!
i=0
while ! grep -q "serving" "$tmp/err"; do
        i=$((i + 1))
        [ $i -lt 300 ] || { cat "$tmp/err"; fail "server did not start"; }
        sleep 0.1
done
url=$(sed -n 's/.*on \(http:[^ ]*\) .*/\1/p' "$tmp/err")
page="$url/#chat=my%20order%20is%20late"
flags="--headless --disable-gpu --no-sandbox --no-first-run
       --user-data-dir=$tmp/profile --virtual-time-budget=15000"
# shellcheck disable=SC2086
timeout 120 "$browser" $flags --dump-dom "$page" >"$tmp/dom.html" \
        2>"$tmp/browser.err" || { tail "$tmp/browser.err"; fail "chromium"; }
grep -q 'you&gt; my order is late' "$tmp/dom.html" ||
        { cat "$tmp/dom.html"; fail "the message is not on the page"; }
grep -q 'id="last-reply"' "$tmp/dom.html" ||
        { cat "$tmp/dom.html"; fail "no streamed reply on the page"; }
grep -q 'class="mood ' "$tmp/dom.html" || fail "no mood shown"
# shellcheck disable=SC2086
timeout 120 "$browser" $flags --window-size=1200,800 \
        --screenshot="$tmp/page.png" "$page" 2>>"$tmp/browser.err" ||
        fail "screenshot"
test -s "$tmp/page.png" || fail "empty screenshot"
kill -TERM "$pid"
wait "$pid" || fail "server exit status $?"
pid=
echo "serve-webui: page, streamed chat reply, mood and screenshot ok"

#!/bin/sh
# The web page of `socfw serve` in headless Chromium (Debian's chromium),
# driven over the DevTools protocol (tests/webui_cdp.py): a tiny chat-demo
# run is served, the page loads, sends a chat message (#chat=... in the
# address), shows the streamed reply with the detected mood, then the
# classify panel's score bars and the anonymise panel's entities; a
# screenshot is taken (kept with KEEP=1).  Skipped with its reason when
# chromium is absent.
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
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3 to drive the browser"; exit 77; }
timeout 120 "$py" "$src/tests/webui_cdp.py" "$browser" "$page" \
        "$tmp/page.png" "$tmp/profile" >"$tmp/state.json" ||
        fail "driving chromium"
"$py" - "$tmp/state.json" <<'PY' || { cat "$tmp/state.json"; fail "page"; }
import json, sys
st = json.load(open(sys.argv[1]))
assert st["you"] == "you> my order is late", st
assert st["reply"] and "bot> " in st["reply"], st      # streamed in
assert st["mood"] in ("negative", "neutral", "positive"), st
assert "privacy -> sentiment -> reply" in st["info"], st
assert st["bars"] == 3, st                  # one per sentiment label
assert "EMAIL_ADDRESS" in st["marks"] and "PHONE_NUMBER" in st["marks"], st
assert "<EMAIL_ADDRESS>" in st["sent"] or "<EMAIL>" in st["sent"], st
assert "jane.doe" not in st["sent"], st
PY
test -s "$tmp/page.png" || fail "no screenshot"
kill -TERM "$pid"
wait "$pid" || fail "server exit status $?"
pid=
echo "serve-webui: page, streamed chat reply, mood and screenshot ok"

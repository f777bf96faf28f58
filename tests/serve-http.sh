#!/bin/sh
# `socfw serve` end to end: the privacy pipeline behind HTTP on a free port;
# health, one record, a batch, and every kind of bad request; SIGTERM stops
# the server cleanly.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3 for the HTTP client"; exit 77; }

"$build/socfw" serve "$src/configs/privacy.yaml" --port 0 \
        --set output.dir="$tmp/run" 2>"$tmp/err" &
pid=$!
i=0
while ! grep -q "serving" "$tmp/err"; do
        i=$((i + 1))
        [ $i -lt 200 ] || { cat "$tmp/err"; fail "server did not start"; }
        kill -0 "$pid" 2>/dev/null || { cat "$tmp/err"; fail "server died"; }
        sleep 0.1
done
url=$(sed -n 's/.*on \(http:[^ ]*\) .*/\1/p' "$tmp/err")
[ -n "$url" ] || { cat "$tmp/err"; fail "no address printed"; }

"$py" - "$url" <<'PY' || fail "HTTP checks"
import json, sys, urllib.request, urllib.error
base = sys.argv[1]

def call(path, body=None, method=None):
    data = body if isinstance(body, (bytes, type(None))) else body.encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)

st, doc = call("/health")
check(st == 200 and doc["status"] == "ok" and doc["stages"] == ["privacy"],
      "health %s %s" % (st, doc))

st, doc = call("/v1/predict", json.dumps(
    {"text": "mail me at jane.doe@example.com", "id": 7}))
check(st == 200, "predict status %s %s" % (st, doc))
check("jane.doe" not in doc["text"] and doc["id"] == 7,
      "e-mail not masked or record not kept: %s" % doc)
ents = doc["privacy"]["entities"]
check(ents and ents[0]["type"] == "EMAIL_ADDRESS", "entities %s" % ents)

st, doc = call("/v1/predict", json.dumps(
    [{"text": "call +1 415 555 0100"}, {"text": "nothing here"}]))
check(st == 200 and len(doc) == 2 and "555 0100" not in doc[0]["text"]
      and doc[1]["text"] == "nothing here", "batch %s %s" % (st, doc))

for body, want, what in [
        ("{not json", 400, "bad JSON"),
        ("", 400, "empty body"),
        ('{"no_text": 1}', 400, "missing text"),
        ("[" + ",".join(['{"text": "a"}'] * 300) + "]", 413, "big batch"),
        ("x" * (2 << 20), 413, "big body")]:
    st, doc = call("/v1/predict", body)
    check(st == want and doc["status"] == want and doc["error"],
          "%s: %s %s" % (what, st, doc))
st, doc = call("/v1/nothing", "{}")
check(st == 404 and "predict" in doc["error"], "404 %s" % doc)
st, doc = call("/v1/predict")
check(st == 405, "GET predict %s" % st)
print("http checks passed")
PY

kill -TERM "$pid"
wait "$pid" || fail "server exit status $?"
pid=
grep -q "stopping" "$tmp/err" || { cat "$tmp/err"; fail "no clean stop"; }
echo "serve-http: all checks passed"

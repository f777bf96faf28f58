#!/bin/sh
# `socfw serve` end to end: the privacy pipeline behind HTTP on a free port;
# health, one record, a batch, every kind of bad request (named), 405 with
# Allow, /metrics, the access log (no post text), bearer-token auth,
# SIGTERM stops the server cleanly, and a chain of record-reading stages
# takes records without a text field.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3 for the HTTP client"; exit 77; }

# no key beyond loopback: refused before loading anything
if "$build/socfw" serve "$src/configs/privacy.yaml" --host 0.0.0.0 \
        --port 0 2>"$tmp/err0"; then
        fail "served beyond loopback without --api-key"
fi
grep -q "api-key" "$tmp/err0" || { cat "$tmp/err0"; fail "no hint"; }

SOCFW_API_KEY= "$build/socfw" serve "$src/configs/privacy.yaml" --port 0 \
        --access-log "$tmp/access.log" \
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
import json, sys, time, urllib.request, urllib.error
base = sys.argv[1]

def call(path, body=None, method=None, headers=False):
    data = body if isinstance(body, (bytes, type(None))) else body.encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            out = r.status, json.loads(r.read())
            h = r.headers
    except urllib.error.HTTPError as e:
        out = e.code, json.loads(e.read())
        h = e.headers
    return out + (h,) if headers else out

def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)

st, doc = call("/health")
check(st == 200 and doc["status"] == "ok" and doc["stages"] == ["privacy"],
      "health %s %s" % (st, doc))
check(doc["pipeline"] == "privacy.yaml", "health shows a path: %s" % doc)

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

# unknown fields are kept and echoed back
st, doc = call("/v1/predict", json.dumps({"text": "hi", "my_id": [1, 2]}))
check(st == 200 and doc["my_id"] == [1, 2], "unknown field %s" % doc)

for body, want, what, says in [
        ('{"text": 42}', 400, "number text", "field 'text' must be a string"),
        ('{"text": "a", "session": 7}', 400, "number session",
         "field 'session' must be a string"),
        ('[{"text": "a"}, 5]', 400, "array of non-objects", "record 1"),
        ('{"text": "a", "text": "b"}', 400, "duplicate key", "duplicate"),
        (b'{"text": "\xff\xfe"}', 400, "invalid UTF-8", "UTF-8"),
        ('"just a string"', 400, "not an object", "JSON object")]:
    st, doc = call("/v1/predict", body)
    check(st == want and says in doc["error"],
          "%s: %s %s" % (what, st, doc))

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
st, doc, h = call("/v1/predict", headers=True)
check(st == 405 and h["Allow"] == "POST", "GET predict %s %s" % (st, h))
st, doc, h = call("/health", "{}", headers=True)
check(st == 405 and "GET" in h["Allow"], "POST health %s %s" % (st, h))
# a privacy-only chain has no chat model
st, doc = call("/v1/chat/completions", json.dumps(
    {"model": "x", "messages": [{"role": "user", "content": "hi"}]}))
check(st == 404 and doc["error"]["code"] == "model_not_found",
      "chat without dialog %s %s" % (st, doc))

# the web page: one self-contained file, nothing from elsewhere
req = urllib.request.Request(base + "/")
with urllib.request.urlopen(req, timeout=30) as r:
    page = r.read().decode()
    check(r.headers["Content-Type"].startswith("text/html") and
          "default-src 'self'" in r.headers["Content-Security-Policy"],
          "page headers %s" % r.headers)
check("<title>socfw</title>" in page and "/v1/predict" in page and
      "http://" not in page and "https://" not in page, "page body")

# metrics count what was answered: the server counts a request when its
# connection completes, which may be just after the client read the answer
# (a 413 is sent before the rest of a big body is read), so wait a little
want = ['socfw_http_requests_total{route="/v1/predict",status="200"} 3',
        'socfw_http_requests_total{route="/v1/predict",status="413"} 2']
for attempt in range(100):
    req = urllib.request.Request(base + "/metrics")
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
        mtype = r.headers["Content-Type"]
    if all(w in text for w in want):
        break
    time.sleep(0.1)
check(mtype.startswith("text/plain"), "metrics type")
check('socfw_http_requests_total{route="/v1/predict",status="200"} 3' in text,
      "predict count in metrics:\n" + text)
check('socfw_http_requests_total{route="/v1/predict",status="413"} 2' in text,
      "413 count in metrics")
# a pipeline that never generates: 16 workers per core by default
import os
cores = os.sysconf("SC_NPROCESSORS_ONLN")
check("socfw_workers %d\n" % min(16 * cores, 256) in text,
      "default workers, %d cores:\n%s" % (cores, text))
check("socfw_http_request_duration_seconds_bucket" in text and
      "socfw_queue_depth 0" in text and
      'socfw_predict_batch_size_bucket{le="+Inf"}' in text, "metrics\n" + text)
print("http checks passed")
PY

kill -TERM "$pid"
wait "$pid" || fail "server exit status $?"
pid=
grep -q "stopping" "$tmp/err" || { cat "$tmp/err"; fail "no clean stop"; }

# the access log: one JSON line per request, never the posts' text
"$py" - "$tmp/access.log" <<'PY' || fail "access log"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) >= 20, len(lines)
for l in lines:
    assert set(l) == {"time", "id", "method", "route", "status", "ms",
                      "bytes_in"}, l
assert any(l["status"] == 413 for l in lines)
PY
grep -q "jane.doe\|555 0100" "$tmp/access.log" && fail "post text in the log"

# with a key: 401 without it, 200 with it; /health stays open
"$build/socfw" serve "$src/configs/privacy.yaml" --port 0 --api-key s3cret \
        --set output.dir="$tmp/run" 2>"$tmp/err2" &
pid=$!
i=0
while ! grep -q "serving" "$tmp/err2"; do
        i=$((i + 1))
        [ $i -lt 200 ] || { cat "$tmp/err2"; fail "server 2 did not start"; }
        sleep 0.1
done
url=$(sed -n 's/.*on \(http:[^ ]*\) .*/\1/p' "$tmp/err2")
"$py" - "$url" <<'PY' || fail "auth checks"
import json, sys, urllib.request, urllib.error
base = sys.argv[1]
def call(path, key=None):
    req = urllib.request.Request(base + path, data=b'{"text": "hi"}'
                                 if path != "/health" else None)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers
st, h = call("/v1/predict")
assert st == 401 and h["WWW-Authenticate"] == "Bearer", st
assert call("/v1/predict", "wrong")[0] == 401
assert call("/v1/predict", "s3cret")[0] == 200
assert call("/health")[0] == 200
PY
kill -TERM "$pid"
wait "$pid" || fail "server 2 exit status $?"
pid=

# a chain whose stages read records of their own (an ad-copy task's brief):
# /v1/predict hands the brief over without a text field (here the task has
# no trained model, which is what the answer says), a text of the wrong
# type is still named
printf 'socfw: 1\ntasks:\n  - {name: ad, plugin: adcopy}\nchain: [ad]\n' \
        >"$tmp/ad.yaml"
"$build/socfw" serve "$tmp/ad.yaml" --port 0 --set output.dir="$tmp/adrun" \
        2>"$tmp/err3" &
pid=$!
i=0
while ! grep -q "serving" "$tmp/err3"; do
        i=$((i + 1))
        [ $i -lt 200 ] || { cat "$tmp/err3"; fail "server 3 did not start"; }
        kill -0 "$pid" 2>/dev/null || { cat "$tmp/err3"; fail "server 3 died"; }
        sleep 0.1
done
url=$(sed -n 's/.*on \(http:[^ ]*\) .*/\1/p' "$tmp/err3")
"$py" - "$url" <<'PY' || fail "record checks"
import json, sys, urllib.request, urllib.error
base = sys.argv[1]
def call(body):
    req = urllib.request.Request(base + "/v1/predict", data=body.encode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
st, doc = call('{"category": "shoes", "advertiser": "Acme", "product": "trail runner"}')
msg = json.dumps(doc)
assert "missing field" not in msg, msg
assert "no language model" in msg and st in (422, 500), (st, msg)
st, doc = call('{"text": 5, "product": "x"}')
assert st == 400 and "'text' must be a string" in json.dumps(doc), (st, doc)
PY
kill -TERM "$pid"
wait "$pid" || fail "server 3 exit status $?"
pid=
echo "serve-http: all checks passed"

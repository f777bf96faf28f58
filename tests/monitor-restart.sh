#!/bin/sh
# `socfw monitor` end to end: a synthetic stream with negative bursts, a
# webhook receiver on loopback (python3 stdlib; its first answer is a 500,
# so a retry is exercised), the monitor killed with kill -9 while the
# stream is still arriving, then started again.  Every alert of an
# uninterrupted reference run must reach the receiver, once per
# Idempotency-Key, and no other alert; the report is written.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
mon= rcv=
trap '[ -n "$mon" ] && kill -9 "$mon" 2>/dev/null; [ -n "$rcv" ] && kill "$rcv" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3 for the receiver"; exit 77; }

"$py" "$src/tests/monitor-stream.py" --posts 30000 --keys 4 --episodes 8 \
        --seed 7 --bad 0.002 --iso --out "$tmp/stream.jsonl" \
        --truth "$tmp/truth.json"
cat >"$tmp/p.yaml" <<'EOF'
socfw: 1
monitor:
  sentiment: {field: label}
  keys: {from: [cashtags]}
  window: {size: 3600, lateness: 300}
  timestamp: {policy: skip}
  sinks:
    webhook: {timeout: 5, retries: 3, backoff: 0.05, max_backoff: 0.2}
EOF

# the receiver: logs "KEY STATUS" per request, 500 on the first one
cat >"$tmp/recv.py" <<'EOF'
import http.server, json, sys
log = open(sys.argv[1], "a")
calls = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        doc = json.loads(body)
        key = self.headers.get("Idempotency-Key", "")
        assert key == doc["id"], (key, doc["id"])
        for f in ("key", "window_start", "window_end", "metric", "value",
                  "baseline", "score", "post_ids"):
            assert f in doc, f
        calls[0] += 1
        status = 500 if calls[0] == 1 else 200
        log.write("%s %d\n" % (key, status))
        log.flush()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
"$py" "$tmp/recv.py" "$tmp/got.log" "$tmp/port" &
rcv=$!
i=0
while [ ! -s "$tmp/port" ]; do
        i=$((i + 1)); [ $i -lt 100 ] || fail "receiver did not start"
        sleep 0.1
done
url="http://127.0.0.1:$(cat "$tmp/port")/alert"

# reference: one uninterrupted run (alerts on stdout, no webhook)
"$build/socfw" monitor "$tmp/p.yaml" --input "$tmp/stream.jsonl" \
        --state "$tmp/ref.sqlite" >"$tmp/ref.jsonl" 2>"$tmp/ref.err" ||
        { cat "$tmp/ref.err"; fail "reference run"; }
n_ref=$(wc -l <"$tmp/ref.jsonl")
[ "$n_ref" -ge 4 ] || fail "only $n_ref alerts in the reference run"

# the stream arrives in pieces while the monitor follows it; kill -9
head -n 6000 "$tmp/stream.jsonl" >"$tmp/in.jsonl"
"$build/socfw" monitor "$tmp/p.yaml" --input "$tmp/in.jsonl" --follow \
        --webhook "$url" --state "$tmp/m.sqlite" >"$tmp/run1.jsonl" \
        2>"$tmp/run1.err" &
mon=$!
total=$(wc -l <"$tmp/stream.jsonl")
line=6000
while [ $line -lt 21000 ]; do
        sed -n "$((line + 1)),$((line + 1500))p" "$tmp/stream.jsonl" \
                >>"$tmp/in.jsonl"
        line=$((line + 1500))
        sleep 0.1
done
kill -9 "$mon"
wait "$mon" 2>/dev/null || true
mon=
n1=$(grep -c ' 200$' "$tmp/got.log" || true)
[ "$n1" -ge 1 ] || { cat "$tmp/run1.err"; fail "no alert delivered before the kill"; }
[ "$n1" -lt "$n_ref" ] || fail "the kill came after the last alert ($n1)"
sed -n "$((line + 1)),${total}p" "$tmp/stream.jsonl" >>"$tmp/in.jsonl"

# restart: continues after the last closed window, then ends the input
"$build/socfw" monitor "$tmp/p.yaml" --input "$tmp/in.jsonl" \
        --webhook "$url" --state "$tmp/m.sqlite" --report "$tmp/r.html" \
        >"$tmp/run2.jsonl" 2>"$tmp/run2.err" ||
        { cat "$tmp/run2.err"; fail "restart"; }
grep -q "continuing" "$tmp/run2.err" || { cat "$tmp/run2.err"; fail "did not resume"; }

# Each alert reaches the receiver once.  The one exception a crash can
# make: the alert whose 200 arrived just before the kill, before the state
# noted it; it comes again with the same Idempotency-Key (the receiver
# drops it by that key), and it can only be the last one accepted before
# the kill.
"$py" - "$tmp/ref.jsonl" "$tmp/got.log" "$n1" <<'EOF' || fail "alerts after the restart"
import collections, json, sys
ref = [json.loads(l)["id"] for l in open(sys.argv[1])]
got = [l.split() for l in open(sys.argv[2])]
n1 = int(sys.argv[3])
accepted = [k for k, st in got if st == "200"]
ok = collections.Counter(accepted)
twice = [k for k, n in ok.items() if n > 1]
in_flight = accepted[n1 - 1] if n1 else None
bad_twice = [k for k in twice if k != in_flight or ok[k] > 2]
missed = [k for k in ref if k not in ok]
extra = [k for k in ok if k not in ref]
print("reference %d alerts, delivered %d, retried %d, in flight at the "
      "kill and repeated with its key: %d" %
      (len(ref), len(ok), sum(1 for k, st in got if st != "200"),
       len(twice)))
if bad_twice or missed or extra:
    print("FAIL: twice %s missed %s extra %s" % (bad_twice, missed, extra),
          file=sys.stderr)
    sys.exit(1)
EOF
# through a chain (privacy) the same posts give the same alerts, epoch
# timestamps included (the chain prints reals with 7 digits)
"$py" "$src/tests/monitor-stream.py" --posts 10000 --keys 2 --episodes 3 \
        --seed 3 --out "$tmp/epoch.jsonl" --truth "$tmp/truth2.json"
sed 's/^socfw: 1$/socfw: 1\nchain: [privacy]\nprivacy: {entities: [EMAIL_ADDRESS], operator: replace}/' \
        "$tmp/p.yaml" >"$tmp/chain.yaml"
grep -q "chain: \[privacy\]" "$tmp/chain.yaml" || fail "chain pipeline"
"$build/socfw" monitor "$tmp/p.yaml" --input "$tmp/epoch.jsonl" \
        --state "$tmp/e1.sqlite" >"$tmp/e1.jsonl" 2>"$tmp/e1.err" ||
        { cat "$tmp/e1.err"; fail "epoch run"; }
"$build/socfw" monitor "$tmp/chain.yaml" --input "$tmp/epoch.jsonl" \
        --state "$tmp/e2.sqlite" >"$tmp/e2.jsonl" 2>"$tmp/e2.err" ||
        { cat "$tmp/e2.err"; fail "chain run"; }
[ -s "$tmp/e1.jsonl" ] || fail "no alert on the epoch stream"
cmp -s "$tmp/e1.jsonl" "$tmp/e2.jsonl" || fail "the chain changed the alerts"

# bad input: a broken line stops with file:line, or is skipped on request;
# an unparsable timestamp under policy error names its line too
printf '%s\n\n%s\n' '{"id": 1, "timestamp": 5, "text": "$A up", "label": "neutral"}' \
        '{not json' >"$tmp/bad.jsonl"
if "$build/socfw" monitor "$tmp/p.yaml" --input "$tmp/bad.jsonl" \
        --state "$tmp/bad.sqlite" >/dev/null 2>"$tmp/bad.err"; then
        fail "a broken line was accepted"
fi
grep -q "bad.jsonl:3" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "no file:line"; }
rm -f "$tmp"/bad.sqlite*
"$build/socfw" monitor "$tmp/p.yaml" --input "$tmp/bad.jsonl" \
        --set monitor.on_bad_record=skip --state "$tmp/bad.sqlite" \
        >/dev/null 2>"$tmp/bad.err" || { cat "$tmp/bad.err"; fail "skip"; }
grep -q "1 bad lines skipped" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "skip count"; }
printf '%s\n%s\n' '{"id": 1, "timestamp": 5, "text": "$A", "label": "x"}' \
        '{"id": 2, "timestamp": "soon", "text": "$A", "label": "x"}' \
        >"$tmp/bad2.jsonl"
if "$build/socfw" monitor "$tmp/p.yaml" --input "$tmp/bad2.jsonl" \
        --set monitor.timestamp.policy=error --state "$tmp/bad2.sqlite" \
        >/dev/null 2>"$tmp/bad.err"; then
        fail "an unparsable timestamp was accepted under policy error"
fi
grep -q "bad2.jsonl:2.*timestamp" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "timestamp error"; }

# --follow stops cleanly on SIGTERM; --report alone charts the state
"$build/socfw" monitor "$tmp/p.yaml" --input "$tmp/epoch.jsonl" --follow \
        --state "$tmp/f.sqlite" >/dev/null 2>"$tmp/f.err" &
mon=$!
i=0
while ! [ -s "$tmp/f.sqlite" ]; do
        i=$((i + 1)); [ $i -lt 100 ] || fail "follow did not start"
        sleep 0.1
done
sleep 0.5
kill -TERM "$mon"
wait "$mon" || { cat "$tmp/f.err"; fail "SIGTERM exit status $?"; }
mon=
grep -q "socfw: monitor: [0-9]* posts (" "$tmp/f.err" || { cat "$tmp/f.err"; fail "follow summary"; }
"$build/socfw" monitor "$tmp/p.yaml" --state "$tmp/m.sqlite" \
        --report "$tmp/r2.html" 2>/dev/null || fail "--report alone"
grep -q "negative_share" "$tmp/r2.html" || fail "report from the state"

grep -q "<svg" "$tmp/r.html" || fail "report without chart"
grep -q "negative_share" "$tmp/r.html" || fail "report without alerts"
echo "ok: kill -9 and restart: $n_ref alerts, each delivered once per Idempotency-Key"

#!/bin/sh
# `socfw serve` OpenAI-compatible API end to end: a tiny chat-demo run (a
# few seconds of training), served; the request shapes the official
# `openai` Python client sends (written by hand from OpenAI's public API
# reference: chat.completions.create with and without stream, content
# parts, completions.create, models.list), their answers' shapes, the
# server-sent events ending with [DONE], seeds, privacy on the history,
# bad requests (named fields, OpenAI's error object), 503 + Retry-After
# when the queue is full, queued requests answered in turn, a client that
# leaves mid-stream, SIGHUP reload and SIGTERM.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3 for the HTTP client"; exit 77; }
socfw=$build/socfw
yaml=$src/configs/chat-demo.yaml

sets="--set output.dir=$tmp/run --set pretrain.steps=8
      --set pretrain.batch_size=4 --set train.epochs=1 --set train.max_steps=6
      --set tasks.sentiment.data.max_rows=40 --set tasks.reply.data.max_rows=40
      --set tasks.reply.sessions=$tmp/sessions.db
      --set tasks.reply.max_reply_tokens=12 --set threads=1"
# shellcheck disable=SC2086
"$socfw" run "$yaml" $sets >"$tmp/run.log" 2>&1 ||
        { tail -20 "$tmp/run.log"; fail "socfw run"; }

# start_server LOG ARGS...: serve the run; sets $pid and $url
start_server() {
        log=$1
        shift
        # shellcheck disable=SC2086
        "$socfw" serve "$yaml" $sets --port 0 "$@" 2>"$log" &
        pid=$!
        i=0
        while ! grep -q "serving" "$log"; do
                i=$((i + 1))
                [ $i -lt 300 ] || { cat "$log"; fail "server did not start"; }
                kill -0 "$pid" 2>/dev/null || { cat "$log"; fail "server died"; }
                sleep 0.1
        done
        url=$(sed -n 's/.*on \(http:[^ ]*\) .*/\1/p' "$log")
}

start_server "$tmp/err" --api-key k-test --set tasks.reply.debug_prompt=true
"$py" - "$url" <<'PY' || { cat "$tmp/err"; fail "OpenAI API checks"; }
import json, socket, sys, urllib.parse, urllib.request, urllib.error
base = sys.argv[1]
# what openai-python 1.x sends besides the body
HEADERS = {"Authorization": "Bearer k-test",
           "Content-Type": "application/json",
           "Accept": "application/json",
           "User-Agent": "OpenAI/Python 1.54.0",
           "X-Stainless-Lang": "python",
           "X-Stainless-Package-Version": "1.54.0",
           "X-Stainless-Retry-Count": "0"}

def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)

def post(path, body, raw=False):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers=HEADERS)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
            return r.status, (text if raw else json.loads(text)), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers

def events(body):
    st, text, h = post("/v1/chat/completions" if "messages" in body
                       else "/v1/completions", body, raw=True)
    check(st == 200 and h["Content-Type"] == "text/event-stream",
          "stream status %s %s" % (st, h))
    blocks = text.decode().split("\n\n")
    check(blocks[-1] == "" and blocks[-2] == "data: [DONE]",
          "stream does not end with [DONE]: %r" % text[-80:])
    out = []
    for b in blocks[:-2]:
        check(b.startswith("data: "), "not an SSE data line: %r" % b)
        out.append(json.loads(b[6:]))
    return out

# models.list()
req = urllib.request.Request(base + "/v1/models", headers=HEADERS)
with urllib.request.urlopen(req, timeout=30) as r:
    models = json.loads(r.read())
check(models["object"] == "list" and
      [m["id"] for m in models["data"]] == ["reply"], "models %s" % models)

# chat.completions.create(model=, messages=[system, user])
st, doc, _ = post("/v1/chat/completions", {
    "messages": [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "my order is late"}],
    "model": "reply"})
check(st == 200, "chat %s %s" % (st, doc))
check(doc["object"] == "chat.completion" and doc["id"].startswith("chatcmpl-")
      and doc["model"] == "reply" and isinstance(doc["created"], int),
      "chat envelope %s" % doc)
ch = doc["choices"][0]
check(ch["index"] == 0 and ch["message"]["role"] == "assistant" and
      isinstance(ch["message"]["content"], str) and
      ch["finish_reason"] in ("stop", "length"), "choice %s" % ch)
u = doc["usage"]
check(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and
      u["prompt_tokens"] > 0, "usage %s" % u)
check(doc["socfw"]["mood"] in ("negative", "neutral", "positive"),
      "mood %s" % doc["socfw"])
check("Be brief." in doc["socfw"]["prompt"], "system message not the persona")

# history: earlier turns reach the prompt, masked by the privacy stage
body = {"model": "reply", "temperature": 0.7, "top_p": 0.9,
        "max_tokens": 5, "seed": 1234, "stop": ["\n\n"], "n": 1,
        "presence_penalty": 0, "frequency_penalty": 0, "user": "u-1",
        "logprobs": False,
        "messages": [
            {"role": "user", "content": "mail me at dana@example.com"},
            {"role": "assistant", "content": "Sure, noted."},
            {"role": "user",
             "content": [{"type": "text", "text": "thanks a lot"}]}]}
st, a, _ = post("/v1/chat/completions", body)
check(st == 200, "chat with options %s %s" % (st, a))
p = a["socfw"]["prompt"]
check("Sure, noted." in p and "thanks a lot" in p, "history in prompt %r" % p)
check("dana@example.com" not in p and "<EMAIL>" in p,
      "history not masked: %r" % p)
check(a["usage"]["completion_tokens"] <= 5 + 1, "max_tokens %s" % a["usage"])
st, b, _ = post("/v1/chat/completions", body)
check(a["choices"][0]["message"]["content"] ==
      b["choices"][0]["message"]["content"], "same seed, other reply")

# stream=True, stream_options={"include_usage": True}
ev = events({"messages": [{"role": "user", "content": "hello there"}],
             "model": "reply", "stream": True,
             "stream_options": {"include_usage": True}})
check(all(e["object"] == "chat.completion.chunk" for e in ev), "chunk type")
check(len({e["id"] for e in ev}) == 1, "one id per stream")
check(ev[0]["choices"][0]["delta"].get("role") == "assistant", "first delta")
fin = [e for e in ev if e["choices"] and e["choices"][0]["finish_reason"]]
check(len(fin) == 1 and fin[0]["choices"][0]["finish_reason"] in
      ("stop", "length"), "finish chunk %s" % fin)
check(ev[-1]["choices"] == [] and ev[-1]["usage"]["completion_tokens"] >= 0,
      "usage chunk %s" % ev[-1])
text = "".join(e["choices"][0]["delta"].get("content", "")
               for e in ev if e["choices"])
check(isinstance(text, str), "content")

# completions.create(model=, prompt=, max_tokens=) and its stream
st, doc, _ = post("/v1/completions", {"model": "reply", "prompt": "hi",
                                      "max_tokens": 4})
check(st == 200 and doc["object"] == "text_completion" and
      isinstance(doc["choices"][0]["text"], str), "completion %s" % doc)
ev = events({"model": "reply", "prompt": ["hi"], "stream": True})
check(all(e["object"] == "text_completion" for e in ev), "completion chunks")

# bad requests: OpenAI's error object, the field named
U = {"role": "user", "content": "hi"}
for body, want, param in [
        (b"{nope", 400, None),
        (b'{"model": "reply", "messages": [{"role": "user", "content": '
         b'"\xff"}]}', 400, None),
        ({"model": "gpt-4o", "messages": [U]}, 404, "model"),
        ({"messages": [U]}, 400, "model"),
        ({"model": "reply", "messages": "hi"}, 400, "messages"),
        ({"model": "reply", "messages": []}, 400, "messages"),
        ({"model": "reply", "messages": [U] * 257}, 400, "messages"),
        ({"model": "reply", "messages": [{"role": "tool", "content": "x"}]},
         400, "messages"),
        ({"model": "reply", "messages": [{"role": "user", "content": 5}]},
         400, "messages"),
        ({"model": "reply", "messages": [U, {"role": "assistant",
                                             "content": "x"}]},
         400, "messages"),
        ({"model": "reply", "messages": [U], "temperature": "hot"}, 400,
         "temperature"),
        ({"model": "reply", "messages": [U], "temperature": 3}, 400,
         "temperature"),
        ({"model": "reply", "messages": [U], "max_tokens": 0}, 400,
         "max_tokens"),
        ({"model": "reply", "messages": [U], "n": 2}, 400, "n"),
        ({"model": "reply", "messages": [U], "stop": ["a"] * 5}, 400, "stop"),
        ({"model": "reply", "messages": [U], "stream": "yes"}, 400,
         "stream")]:
    st, doc, _ = post("/v1/chat/completions", body)
    e = doc.get("error")
    check(st == want and isinstance(e, dict) and e["message"] and
          e["type"] and e.get("param") == param,
          "bad request %s: %s %s" % (str(body)[:60], st, doc))
# a message the dialog stage refuses (over its max_message): 400, named
st, doc, _ = post("/v1/chat/completions", {"model": "reply", "messages": [
    {"role": "user", "content": "x" * 20000}]})
check(st == 400 and "too long" in doc["error"]["message"],
      "long message %s %s" % (st, doc))
st, doc, _ = post("/v1/completions", {"model": "reply", "prompt": 3})
check(st == 400 and doc["error"]["param"] == "prompt", "prompt type %s" % doc)

# /v1/predict on a dialog chain: the input and the reply apart
st, doc, _ = post("/v1/predict", {"text": "mail me at dana@example.com"})
check(st == 200 and doc["input"] == "mail me at dana@example.com" and
      "output" in doc and "text" not in doc and
      doc["privacy"]["entities"][0]["start"] == 11 and
      "dana" not in doc["reply"]["input"], "predict on chat %s" % doc)

# a client that leaves mid-stream: the server goes on answering
u = urllib.parse.urlparse(base)
s = socket.create_connection((u.hostname, u.port))
body = json.dumps({"model": "reply", "stream": True,
                   "messages": [U]}).encode()
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
          b"Authorization: Bearer k-test\r\nContent-Length: %d\r\n\r\n"
          % len(body) + body)
s.recv(64)
s.close()
st, doc, _ = post("/v1/chat/completions", {"model": "reply",
                                           "messages": [U]})
check(st == 200, "after an abandoned stream: %s" % st)

# /metrics: the runtime's batching counters, classification, tagging
# (this pipeline's privacy stage has no tagger) and decoding apart
req = urllib.request.Request(base + "/metrics", headers=HEADERS)
with urllib.request.urlopen(req, timeout=30) as r:
    text = r.read().decode()
check("socfw_batch_forward_passes_total " in text and
      "socfw_tag_forward_passes_total 0" in text and
      "socfw_tag_windows_total 0" in text and
      "socfw_batch_mixed_passes_total 0" in text and
      "socfw_batch_overlapping_passes_total " in text and
      "socfw_decode_tokens_total " in text, "batch counters\n" + text)
# a dialog pipeline's default worker count: each chat holds a KV cache
import os
cores = os.sysconf("SC_NPROCESSORS_ONLN")
want = 16 if cores <= 4 else min(4 * cores, 256)
check("socfw_workers %d\n" % want in text,
      "default workers with a dialog stage, %d cores:\n%s" % (cores, text))
print("openai checks passed")
PY

# SIGHUP reloads the model; requests still answered
kill -HUP "$pid"
i=0
while ! grep -q "reloaded" "$tmp/err"; do
        i=$((i + 1))
        [ $i -lt 300 ] || { cat "$tmp/err"; fail "no reload"; }
        sleep 0.1
done
"$py" - "$url" <<'PY' || fail "after reload"
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/models",
                             headers={"Authorization": "Bearer k-test"})
with urllib.request.urlopen(req, timeout=30) as r:
    assert json.loads(r.read())["data"][0]["id"] == "reply"
PY
kill -TERM "$pid"
wait "$pid" || fail "server exit status $?"
pid=

# one worker, no queue: simultaneous requests get 200 or 503 + Retry-After
start_server "$tmp/err2" --workers 1 --queue 0
"$py" - "$url" <<'PY' || { cat "$tmp/err2"; fail "admission"; }
import json, sys, threading, urllib.request, urllib.error
base = sys.argv[1]
go = threading.Barrier(16)
res = []
def one():
    req = urllib.request.Request(
        base + "/v1/chat/completions", data=json.dumps(
            {"model": "reply", "max_tokens": 12,
             "messages": [{"role": "user", "content": "hello"}]}).encode())
    go.wait()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            res.append((r.status, None))
    except urllib.error.HTTPError as e:
        res.append((e.code, e.headers.get("Retry-After")))
ts = [threading.Thread(target=one) for _ in range(16)]
for t in ts: t.start()
for t in ts: t.join()
codes = sorted(c for c, _ in res)
assert set(codes) <= {200, 503}, codes
assert 200 in codes and 503 in codes, codes
assert all(ra == "1" for c, ra in res if c == 503), res
print("admission:", codes.count(200), "answered,", codes.count(503), "503")
PY
kill -TERM "$pid"
wait "$pid" || fail "server 2 exit status $?"
pid=

# one worker, a queue: requests that wait are all answered in turn (a
# missed wake-up would leave one waiting until --timeout, then 503)
start_server "$tmp/err3" --workers 1 --queue 16 --timeout 20
"$py" - "$url" <<'PY' || { cat "$tmp/err3"; fail "queued admission"; }
import json, sys, threading, urllib.request, urllib.error
base = sys.argv[1]
go = threading.Barrier(8)
res = []
def one():
    go.wait()
    for k in range(3):
        req = urllib.request.Request(
            base + "/v1/chat/completions", data=json.dumps(
                {"model": "reply", "max_tokens": 8, "seed": k,
                 "messages": [{"role": "user", "content": "hello"}]}).encode())
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                res.append(r.status)
        except urllib.error.HTTPError as e:
            res.append(e.code)
ts = [threading.Thread(target=one) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
assert res == [200] * 24, res
with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
    text = r.read().decode()
assert "socfw_queue_depth 0" in text, text
print("queued admission: 24 answered through one worker")
PY
kill -TERM "$pid"
wait "$pid" || fail "server 3 exit status $?"
pid=
echo "serve-openai: all checks passed"

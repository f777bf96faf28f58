#!/usr/bin/env python3
"""bench/serve_load.py - a load generator for `socfw serve` (loopback only).

Sends requests from C concurrent clients (threads, one keep-alive
connection each) until N requests are answered or T seconds pass, then
prints throughput and latency percentiles; for chat, the aggregate tokens
per second (the answers' usage.completion_tokens over the wall time).

    bench/serve_load.py URL predict   [-c 8] [-n 400] [-t 60]
    bench/serve_load.py URL chat      [-c 8] [-n 64]  [--max-tokens 32]
    bench/serve_load.py URL chat-stream ...   (stream: true; tokens from
                                               the usage chunk)
    bench/serve_load.py URL predict --malformed 0.1 --server-pid PID
        (soak: every 10th request is malformed - bad JSON, a wrong type,
         invalid UTF-8, an oversized body - and must get its 4xx status;
         the server's resident memory is read before and after)

URL must be http://127.0.0.1:PORT or http://localhost:PORT.  Measures;
never fails on time.  A non-200 answer is counted and reported.  The
server's /metrics before and after the run give the mean batch sizes of
the run: classification windows per batched forward pass, the same for
the tagger's windows (a pipeline whose privacy stage has a tagger),
classification and tagging forward passes per request and how many of
them served several tasks at once (a chain of several classifiers), and
tokens per batched decoding step (generations decoded together).
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

TEXTS = [
    "my order arrived broken and nobody answers my mails",
    "great service, the parcel came a day early",
    "the app keeps crashing when I open my basket",
    "thanks for the quick refund!",
    "where is my parcel? it has been two weeks",
    "the new phone case looks fine",
    "worst support ever, I want my money back",
    "ok, the delivery was on time",
]


def body_for(kind, i, max_tokens):
    text = TEXTS[i % len(TEXTS)]
    if kind == "predict":
        return "/v1/predict", {"text": text, "id": i}
    b = {"model": MODEL, "max_tokens": max_tokens, "seed": i,
         "messages": [{"role": "user", "content": text}]}
    if kind == "chat-stream":
        b["stream"] = True
        b["stream_options"] = {"include_usage": True}
    return "/v1/chat/completions", b


BAD = [(b"{not json", 400), (b'{"text": 42}', 400),
       (b'{"text": "\xff\xfe"}', 400), (b"[" + b'{"text": "a"},' * 300 +
                                        b'{"text": "a"}]', 413),
       (b"x" * ((1 << 20) + 1), 413)]


def client(host, port, kind, counter, lock, results, deadline, max_tokens,
           key, malformed):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    while True:
        with lock:
            if counter[0] <= 0 or time.monotonic() > deadline:
                return
            counter[0] -= 1
            i = counter[1]
            counter[1] += 1
        path, body = body_for(kind, i, max_tokens)
        data, want = json.dumps(body), 200
        if malformed and i % max(1, round(1 / malformed)) == 0:
            data, want = BAD[i % len(BAD)]
            if kind != "predict" and data.startswith(b"["):
                want = 400  # an array is no chat request: wrong type
        t0 = time.monotonic()
        try:
            conn.request("POST", path, data, headers)
            r = conn.getresponse()
            data = r.read()
            status = r.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=120)
            status, data = 0, b""
        dt = time.monotonic() - t0
        if want != 200:
            with lock:
                results.append(("bad-ok" if status == want else
                                "bad-wrong:%d" % status, dt, 0))
            if status in (0, 413):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=120)
            continue
        tokens = 0
        if status == 200 and kind == "chat":
            tokens = json.loads(data)["usage"]["completion_tokens"]
        elif status == 200 and kind == "chat-stream":
            for block in data.decode().split("\n\n"):
                if block.startswith("data: {"):
                    ev = json.loads(block[6:])
                    if ev.get("usage"):
                        tokens = ev["usage"]["completion_tokens"]
        with lock:
            results.append((status, dt, tokens))


COUNTERS = ("socfw_batch_forward_passes_total", "socfw_batch_windows_total",
            "socfw_tag_forward_passes_total", "socfw_tag_windows_total",
            "socfw_decode_steps_total", "socfw_decode_tokens_total",
            "socfw_batch_mixed_passes_total", "socfw_batch_mixed_tasks_total")


def counters(host, port, key):
    """The server's batching counters (/metrics), or {} if unreadable."""
    try:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        h = {"Authorization": "Bearer " + key} if key else {}
        conn.request("GET", "/metrics", headers=h)
        text = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException, UnicodeDecodeError):
        return {}
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in COUNTERS:
            out[parts[0]] = float(parts[1])
    return out


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def main():
    global MODEL
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("url")
    ap.add_argument("kind", choices=["predict", "chat", "chat-stream"])
    ap.add_argument("-c", "--concurrency", type=int, default=8)
    ap.add_argument("-n", "--requests", type=int, default=400)
    ap.add_argument("-t", "--time", type=float, default=60.0)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--model", default=None,
                    help="chat model (default: the first of /v1/models)")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--malformed", type=float, default=0.0,
                    help="share of malformed requests (0..0.5)")
    ap.add_argument("--server-pid", type=int, default=0,
                    help="report this process's resident memory and CPU "
                         "time per request")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    if u.hostname not in ("127.0.0.1", "localhost") or not u.port:
        sys.exit("serve_load: loopback only (http://127.0.0.1:PORT)")
    if not (1 <= a.concurrency <= 256 and 1 <= a.requests <= 1000000 and
            0 < a.time <= 3600):
        sys.exit("serve_load: -c 1..256, -n 1..1000000, -t up to 3600 s")
    MODEL = a.model
    if a.kind != "predict" and not MODEL:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        h = {"Authorization": "Bearer " + a.api_key} if a.api_key else {}
        conn.request("GET", "/v1/models", headers=h)
        MODEL = json.loads(conn.getresponse().read())["data"][0]["id"]
    def rss():
        if not a.server_pid:
            return 0
        for line in open("/proc/%d/status" % a.server_pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0
    def cpu():
        """The server's CPU seconds so far (user + system)."""
        if not a.server_pid:
            return 0.0
        with open("/proc/%d/stat" % a.server_pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss0 = rss()
    cpu0 = cpu()
    m0 = counters(u.hostname, u.port, a.api_key)
    lock = threading.Lock()
    counter = [a.requests, 0]
    results = []
    t0 = time.monotonic()
    deadline = t0 + a.time
    ts = [threading.Thread(target=client,
                           args=(u.hostname, u.port, a.kind, counter, lock,
                                 results, deadline, a.max_tokens, a.api_key,
                                 a.malformed))
          for _ in range(a.concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    ok = [dt for st, dt, _ in results if st == 200]
    mal = [st for st, _, _ in results if isinstance(st, str)]
    results = [r for r in results if not isinstance(r[0], str)]
    bad = len(results) - len(ok)
    tokens = sum(tk for st, _, tk in results if st == 200)
    line = ("%s c=%d: %d requests in %.2f s, %.1f req/s, p50 %.1f ms, "
            "p99 %.1f ms" % (a.kind, a.concurrency, len(results), wall,
                             len(ok) / wall, pct(ok, 50) * 1000,
                             pct(ok, 99) * 1000))
    if a.kind != "predict":
        line += ", %d tokens, %.1f tokens/s" % (tokens, tokens / wall)
    if bad:
        codes = sorted({st for st, _, _ in results if st != 200})
        line += ", %d not 200 (%s)" % (bad, ",".join(map(str, codes)))
    if mal:
        wrong = [m for m in mal if m != "bad-ok"]
        line += ", %d malformed (%d with the wrong status%s)" % (
            len(mal), len(wrong), ": " + ",".join(sorted(set(wrong)))
            if wrong else "")
    m1 = counters(u.hostname, u.port, a.api_key)
    d = {k: m1.get(k, 0) - m0.get(k, 0) for k in COUNTERS}
    if d["socfw_batch_forward_passes_total"] > 0:
        line += ", mean classification batch %.2f (%d windows / %d passes)" % (
            d["socfw_batch_windows_total"] /
            d["socfw_batch_forward_passes_total"],
            d["socfw_batch_windows_total"],
            d["socfw_batch_forward_passes_total"])
    if d["socfw_tag_forward_passes_total"] > 0:
        line += ", mean tag batch %.2f (%d windows / %d passes)" % (
            d["socfw_tag_windows_total"] /
            d["socfw_tag_forward_passes_total"],
            d["socfw_tag_windows_total"],
            d["socfw_tag_forward_passes_total"])
    passes = (d["socfw_batch_forward_passes_total"] +
              d["socfw_tag_forward_passes_total"])
    if passes > 0 and ok:
        # a pass of classification and tagging windows counts in both
        line += ", %.2f classification/tagging passes per request" % (
            passes / len(ok))
    if d["socfw_batch_mixed_passes_total"] > 0:
        line += ", %d passes of several tasks (%.2f tasks each)" % (
            d["socfw_batch_mixed_passes_total"],
            d["socfw_batch_mixed_tasks_total"] /
            d["socfw_batch_mixed_passes_total"])
    if d["socfw_decode_steps_total"] > 0:
        line += ", mean decoding batch %.2f (%d tokens / %d steps)" % (
            d["socfw_decode_tokens_total"] / d["socfw_decode_steps_total"],
            d["socfw_decode_tokens_total"], d["socfw_decode_steps_total"])
    if a.server_pid and results:
        line += ", server CPU %.2f ms/request" % (
            (cpu() - cpu0) * 1000.0 / len(results))
    if a.server_pid:
        r1 = rss()
        line += ", server RSS %d -> %d KiB (%+.1f%%)" % (
            rss0, r1, 100.0 * (r1 - rss0) / rss0 if rss0 else 0)
    print(line)


MODEL = None
if __name__ == "__main__":
    main()

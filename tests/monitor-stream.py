#!/usr/bin/env python3
"""Synthetic post streams for `socfw monitor` tests and bench/bench_monitor.

Several tickers post at steady rates with a steady sentiment mix; at known
places one ticker gets a negative burst (an "episode": its negative share
jumps and its volume rises for a while).  Each post is
{"id", "timestamp", "text", "label"}: the label stands in for the sentiment
stage so that the monitor alone is measured (monitor.sentiment.field:
label).  Timestamps are mostly in order, a few arrive a little late (within
the lateness the configuration allows), a few very late (to be dropped);
with --bad some have no or an unparsable timestamp.

    monitor-stream.py --posts 100000 --keys 8 --episodes 24 --seed 1 \
        --out stream.jsonl --truth episodes.json

The truth file lists the episodes: key, start, end (epoch seconds), and the
indices of the first and last post of the episode in the stream.
"""
import argparse
import datetime
import json
import random

TICKERS = ["AAPL", "MSFT", "TSLA", "AMZN", "NVDA", "GOOG", "META", "NFLX",
           "AMD", "INTC", "ORCL", "IBM", "SAP", "BABA", "NIO", "UBER"]
NEG = ["{t} misses estimates, shares slide", "selling my {t}, this is ugly",
       "{t} guidance cut again", "lawsuit news hits {t}",
       "{t} recall widens, not good"]
NEU = ["{t} trading flat today", "watching {t} into earnings",
       "{t} volume about average", "anyone following {t}?"]
POS = ["{t} beats on revenue", "bullish on {t} after the call",
       "{t} raises its dividend", "{t} up on strong demand"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=100000)
    ap.add_argument("--keys", type=int, default=8)
    ap.add_argument("--episodes", type=int, default=24)
    ap.add_argument("--rate", type=float, default=30.0,
                    help="posts per key per hour")
    ap.add_argument("--episode-hours", type=float, default=2.0)
    ap.add_argument("--episode-neg", type=float, default=0.6)
    ap.add_argument("--episode-volume", type=float, default=1.5)
    ap.add_argument("--late", type=float, default=0.01,
                    help="share of posts up to 4 minutes late")
    ap.add_argument("--very-late", type=float, default=0.001,
                    help="share of posts 6 hours late")
    ap.add_argument("--bad", type=float, default=0.0,
                    help="share of posts with a missing/bad timestamp")
    ap.add_argument("--iso", action="store_true",
                    help="ISO 8601 timestamps instead of epoch seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--truth", required=True)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    keys = TICKERS[:a.keys]
    base_neg = {k: 0.12 + 0.12 * rnd.random() for k in keys}
    t0 = 1704067200.0  # 2024-01-01T00:00:00Z
    total_rate = a.rate * len(keys) / 3600.0       # posts per second
    span = a.posts / total_rate
    # episodes: evenly spread slots after a warm-up day, random key each
    episodes = []
    warm = 24 * 3600.0
    slot = (span - warm) / max(a.episodes, 1)
    order = []
    while len(order) < a.episodes:      # every key in turn, shuffled
        batch = keys[:]
        rnd.shuffle(batch)
        order += batch
    for i in range(a.episodes):
        start = t0 + warm + i * slot + rnd.uniform(0.1, 0.5) * slot
        episodes.append({"key": order[i], "start": start,
                         "end": start + a.episode_hours * 3600.0,
                         "first_post": None, "last_post": None})

    def active(key, t):
        for e in episodes:
            if e["key"] == key and e["start"] <= t < e["end"]:
                return e
        return None

    posts = []
    t = t0
    while len(posts) < a.posts:
        # rates: each key at `rate`, raised during its episode
        weights = []
        for k in keys:
            w = a.rate
            if active(k, t):
                w *= a.episode_volume
            weights.append(w)
        total = sum(weights) / 3600.0
        t += rnd.expovariate(total)
        k = rnd.choices(keys, weights)[0]
        e = active(k, t)
        pneg = a.episode_neg if e else base_neg[k]
        u = rnd.random()
        if u < pneg:
            label, tmpl = "negative", NEG
        elif u < pneg + (1 - pneg) * 0.45:
            label, tmpl = "positive", POS
        else:
            label, tmpl = "neutral", NEU
        i = len(posts)
        if e:
            if e["first_post"] is None:
                e["first_post"] = i
            e["last_post"] = i
        ts = t
        r = rnd.random()
        if r < a.very_late:
            ts = t - 6 * 3600.0
        elif r < a.very_late + a.late:
            ts = t - rnd.uniform(10, 240)
        text = rnd.choice(tmpl).format(t="$" + k)
        rec = {"id": "p%d" % i, "text": text, "label": label}
        if rnd.random() < a.bad:
            if rnd.random() < 0.5:
                rec["timestamp"] = "yesterday-ish"
        elif a.iso:
            rec["timestamp"] = datetime.datetime.fromtimestamp(
                ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        else:
            rec["timestamp"] = round(ts, 3)
        posts.append(rec)
    with open(a.out, "w") as f:
        for p in posts:
            f.write(json.dumps(p) + "\n")
    with open(a.truth, "w") as f:
        json.dump({"posts": len(posts), "keys": keys, "t0": t0,
                   "t_end": t, "episodes": episodes}, f, indent=1)


if __name__ == "__main__":
    main()

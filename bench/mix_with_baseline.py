#!/usr/bin/python3
"""Does a transformer add anything to the classical baseline?

Trains the multinomial TF-IDF + logistic-regression baseline (the recipe
of socfw/baseline.h, re-implemented here with PyTorch's full-batch
L-BFGS) on TRAIN, and mixes its class probabilities on VALID with a
model's, read from `socfw predict` output, at transformer weights
0.1 .. 0.6, printing the macro-recall of each mix (probabilities and
log-probabilities).  A measurement, not a test: doc/guide.md
("Classification reports") quotes its figures.

    /usr/bin/python3 bench/mix_with_baseline.py TRAIN.jsonl VALID.jsonl \\
        PREDICTIONS.jsonl [--task sentiment] [--C 2]

PREDICTIONS.jsonl: one line per VALID line, in order, each with
{"<task>": {"scores": {label: probability}}}, as written by
    socfw predict RUN --task TASK --input VALID.jsonl --output PREDICTIONS.jsonl
Needs python3-torch and python3-numpy (Debian).
"""
import argparse
import json
import math
import re
from collections import Counter

import numpy as np
import torch

WORD = re.compile(r"(?u)\b\w\w+\b")
SPACES = re.compile(r"\s\s+")


def grams(text):
    t = text.lower()
    w = WORD.findall(t)
    words = w + [w[i] + " " + w[i + 1] for i in range(len(w) - 1)]
    c = SPACES.sub(" ", t)
    chars = [c[i:i + n] for n in range(2, 6) for i in range(len(c) - n + 1)]
    return [("w", g) for g in words], [("c", g) for g in chars]


def load(path):
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            texts.append(o["text"])
            labels.append(o["label"])
    return texts, labels


def vectorise(G, voc, idf):
    rows, cols, vals = [], [], []
    for r, blocks in enumerate(G):
        for blk in blocks:
            c = Counter(g for g in blk if g in voc)
            if not c:
                continue
            v = np.array([(1 + math.log(k)) * idf[voc[g]]
                          for g, k in c.items()])
            v /= np.linalg.norm(v)
            rows += [r] * len(c)
            cols += [voc[g] for g in c]
            vals += list(v)
    return torch.sparse_coo_tensor(torch.tensor([rows, cols]),
                                   torch.tensor(vals, dtype=torch.float32),
                                   (len(G), len(voc))).coalesce()


def macro_recall(pred, y, K):
    return np.mean([np.mean(pred[y == k] == k) for k in range(K)
                    if (y == k).any()])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("valid")
    ap.add_argument("predictions")
    ap.add_argument("--task", default="sentiment")
    ap.add_argument("--C", type=float, default=2.0)
    a = ap.parse_args()
    tt, lt = load(a.train)
    tv, lv = load(a.valid)
    labels = sorted(set(lt))
    yt = np.array([labels.index(x) for x in lt])
    yv = np.array([labels.index(x) for x in lv])
    K, n = len(labels), len(tt)
    Gt = [grams(t) for t in tt]
    df = Counter()
    for w, c in Gt:
        df.update(set(w))
        df.update(set(c))
    voc = {g: i for i, g in enumerate(g for g, d in df.items() if d >= 2)}
    idf = np.zeros(len(voc))
    for g, i in voc.items():
        idf[i] = math.log((1 + n) / (1 + df[g])) + 1
    Xt = vectorise(Gt, voc, idf)
    Xv = vectorise([grams(t) for t in tv], voc, idf)
    count = np.bincount(yt, minlength=K)
    sw = torch.tensor(n / (K * count[yt]), dtype=torch.float32)
    Y = torch.tensor(yt)
    W = torch.zeros(len(voc), K, requires_grad=True)
    b = torch.zeros(K, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], max_iter=300, history_size=20,
                            line_search_fn="strong_wolfe",
                            tolerance_grad=1e-6)

    def loss():
        opt.zero_grad()
        z = torch.sparse.mm(Xt, W) + b
        f = (sw * torch.nn.functional.cross_entropy(z, Y, reduction="none")
             ).sum() + (W * W).sum() / (2 * a.C)
        f.backward()
        return f

    opt.step(loss)
    pb = torch.softmax(torch.sparse.mm(Xv, W) + b, 1).detach().numpy()
    print("%d features; baseline alone: macro-recall %.4f"
          % (len(voc), macro_recall(pb.argmax(1), yv, K)))
    with open(a.predictions, encoding="utf-8") as f:
        P = np.array([[json.loads(line)[a.task]["scores"][c] for c in labels]
                      for line in f])
    assert len(P) == len(yv), "predictions and VALID differ in length"
    print("model alone: macro-recall %.4f" % macro_recall(P.argmax(1), yv, K))
    for w in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        mix = w * P + (1 - w) * pb
        logmix = w * np.log(P + 1e-9) + (1 - w) * np.log(pb)
        print("  model weight %.1f: probabilities %.4f, log-probabilities "
              "%.4f" % (w, macro_recall(mix.argmax(1), yv, K),
                        macro_recall(logmix.argmax(1), yv, K)))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch reference figures for bench/bench_model.c: a GPT-2 124M shape
(plain torch, no transformers), training forward + backward on 4 x 128
tokens, and greedy generation with a KV cache.

    /usr/bin/python3 bench/bench_torch_gpt2.py [threads] [steps] [gen_tokens] [layers]

Prints the median and best training step and the median of 3 generation
runs, in the format bench/bench_model.c parses.
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, P, C, L, H = 50257, 1024, 768, 12, 12


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x, cache=None):
        B, T, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, H, C // H).transpose(1, 2)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        if cache is not None:
            if cache[0] is not None:
                k = torch.cat((cache[0], k), dim=2)
                v = torch.cat((cache[1], v), dim=2)
            cache[0], cache[1] = k, v
        Tk = k.shape[2]
        s = q @ k.transpose(-1, -2) / math.sqrt(C // H)
        mask = torch.ones(T, Tk, dtype=torch.bool).tril(Tk - T)
        s = s.masked_fill(~mask, float("-inf"))
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)),
                                     approximate="tanh"))
        return x


class GPT2(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(P, C)
        self.h = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C)

    def forward(self, ids, pos0=0, caches=None):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(pos0, pos0 + T))
        for i, b in enumerate(self.h):
            x = b(x, caches[i] if caches is not None else None)
        return self.ln_f(x) @ self.wte.weight.T


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    gen = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    global L
    L = int(sys.argv[4]) if len(sys.argv) > 4 else L
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = GPT2()
    with torch.no_grad():       # GPT-2 initialisation scale
        for n, p in m.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.02)
    nparams = sum(p.numel() for p in m.parameters())
    print("torch %s GPT-2 124M shape (%d parameters), %d threads" %
          (torch.__version__, nparams, threads))
    B, T = 4, 128
    ids = torch.randint(0, V, (B, T + 1))
    times = []
    for s in range(steps + 1):
        t0 = time.time()
        m.zero_grad(set_to_none=False)
        logits = m(ids[:, :T])
        loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
        loss.backward()
        dt = time.time() - t0
        if s > 0:
            times.append(dt)
        print("  step %d: loss %.4f, %.3f s" % (s, loss.item(), dt))
    times.sort()
    med = times[len(times) // 2] if len(times) % 2 else \
        0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2])
    print("forward+backward B=%d T=%d: %.1f tokens/s (median of %d steps, "
          "best %.1f)" % (B, T, B * T / med, steps, B * T / times[0]))

    gtimes = []
    with torch.no_grad():
        for r in range(3):
            caches = [[None, None] for _ in range(L)]
            tok = torch.zeros(1, 1, dtype=torch.long)
            logits = m(tok, 0, caches)
            t0 = time.time()
            for i in range(gen):
                tok = logits[:, -1].argmax(-1, keepdim=True)
                logits = m(tok, i + 1, caches)
            gtimes.append(time.time() - t0)
    gtimes.sort()
    print("KV-cache greedy generation: %.1f tokens/s (%d tokens, median of 3)"
          % (gen / gtimes[1], gen))


if __name__ == "__main__":
    main()

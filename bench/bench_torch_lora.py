#!/usr/bin/python3
"""PyTorch reference for bench/bench_peft.c: one training step (forward,
LM logits, cross-entropy, backward, AdamW) of a GPT-2 124M shape on
4 x 128 tokens, fully fine-tuned and with a hand-written LoRA (r 8, alpha
16; frozen base with requires_grad off) on q+v or on every linear site.

    /usr/bin/python3 bench/bench_torch_lora.py [threads] [steps] [layers]

Prints "torch <setting> <tokens/s> tokens/s" lines that bench_peft reads.
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, P, C, H = 50257, 1024, 768, 12


class LoRA(nn.Module):
    """y += s * x A^T B^T over a frozen linear map (A Kaiming-uniform, B
    zero, as PEFT initialises them)."""

    def __init__(self, base, cols, r=8, alpha=16):
        super().__init__()
        self.base, self.cols, self.s = base, cols, alpha / r
        self.A = nn.ParameterList()
        self.B = nn.ParameterList()
        for (c0, c1) in cols:
            a = nn.Parameter(torch.empty(r, base.in_features))
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            self.A.append(a)
            self.B.append(nn.Parameter(torch.zeros(c1 - c0, r)))

    def forward(self, x):
        y = self.base(x)
        if not self.cols:
            return y
        parts = []
        last = 0
        for (c0, c1), a, b in zip(self.cols, self.A, self.B):
            if c0 > last:
                parts.append(y[..., last:c0])
            parts.append(y[..., c0:c1] + self.s * ((x @ a.T) @ b.T))
            last = c1
        if last < y.shape[-1]:
            parts.append(y[..., last:])
        return torch.cat(parts, -1)


class Block(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.ln_2 = nn.LayerNorm(C)
        qkv = nn.Linear(C, 3 * C)
        proj = nn.Linear(C, C)
        fc = nn.Linear(C, 4 * C)
        down = nn.Linear(4 * C, C)
        if mode == "full":
            self.c_attn, self.c_proj, self.c_fc, self.mlp_proj = \
                qkv, proj, fc, down
        elif mode == "lora-qv":
            self.c_attn = LoRA(qkv, [(0, C), (2 * C, 3 * C)])
            self.c_proj, self.c_fc, self.mlp_proj = proj, fc, down
        else:
            self.c_attn = LoRA(qkv, [(0, C), (C, 2 * C), (2 * C, 3 * C)])
            self.c_proj = LoRA(proj, [(0, C)])
            self.c_fc = LoRA(fc, [(0, 4 * C)])
            self.mlp_proj = LoRA(down, [(0, C)])

    def forward(self, x):
        B, T, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, H, C // H).transpose(1, 2)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True) \
            if hasattr(F, "scaled_dot_product_attention") else \
            (q @ k.transpose(-1, -2) / math.sqrt(C // H)).masked_fill(
                ~torch.ones(T, T, dtype=torch.bool).tril(),
                float("-inf")).softmax(-1) @ v
        y = y.transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)),
                                        approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, mode, layers):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(P, C)
        self.h = nn.ModuleList(Block(mode) for _ in range(layers))
        self.ln_f = nn.LayerNorm(C)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x)
        return self.ln_f(x) @ self.wte.weight.T


def run(mode, steps, layers):
    torch.manual_seed(0)
    m = GPT2(mode, layers)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.dim() == 2 and ".A." not in n and ".B." not in n:
                p.normal_(0.0, 0.02)
    if mode != "full":
        for n, p in m.named_parameters():
            p.requires_grad = ".A." in n or ".B." in n
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    B, T = 4, 128
    ids = torch.randint(0, V, (B, T + 1))
    times = []
    for s in range(steps + 1):
        t0 = time.time()
        opt.zero_grad(set_to_none=False)
        logits = m(ids[:, :T])
        loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        dt = time.time() - t0
        if s:
            times.append(dt)
    times.sort()
    med = times[len(times) // 2] if len(times) % 2 else \
        0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2])
    print("torch %s %.1f tokens/s (median of %d steps, %d trainable)" %
          (mode, B * T / med, steps, sum(p.numel() for p in params)),
          flush=True)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    layers = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    torch.set_num_threads(threads)
    print("torch %s, %d threads" % (torch.__version__, threads), flush=True)
    for mode in ("full", "lora-qv", "lora-all"):
        run(mode, steps, layers)


if __name__ == "__main__":
    main()

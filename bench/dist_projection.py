#!/usr/bin/env python3
"""Projected data-parallel step time and efficiency of socfw's gradient sum
(socfw/dist.h: MPI_Reduce to rank 0, then MPI_Bcast, every step) on N
nodes, from a measured one-node step and Open MPI's cost model for large
messages (a pipelined tree: each half costs about latency x log2(N) plus
bytes / bandwidth).  Weak scaling: every node trains its own batch of
4 x 128 tokens per step, so the compute part stays the one-node figure.

    bench/dist_projection.py [full_step_s] [lora_step_s] [full_MB] [lora_MB]

Defaults: the GPT-2 124M shape measured in doc/performance.md (full
fine-tuning 2.43 s, LoRA r 8 on attn.q + attn.v 1.51 s per step of
4 x 128 tokens on 2 cores; 497.8 MB and 1.18 MB of gradients summed)."""
import math
import sys

args = [float(a) for a in sys.argv[1:5]]
full_s, lora_s, full_mb, lora_mb = args + [2.43, 1.51, 497.8, 1.18][len(args):]
nets = (("10 Gbit/s", 1.25e9, 50e-6), ("100 Gbit/s", 12.5e9, 5e-6))


def reduce_bcast(nbytes, n, bw, lat):
    if n == 1:
        return 0.0
    return 2 * (lat * math.ceil(math.log2(n)) + nbytes / bw)


print("| nodes | network | full: sum s | full: step s | full: efficiency "
      "| LoRA: sum ms | LoRA: step s | LoRA: efficiency |")
print("|---|---|---|---|---|---|---|---|")
for name, bw, lat in nets:
    for n in (2, 4, 8, 16, 32, 64):
        f = reduce_bcast(full_mb * 1e6, n, bw, lat)
        l = reduce_bcast(lora_mb * 1e6, n, bw, lat)
        print("| %d | %s | %.2f | %.2f | %.0f%% | %.2f | %.3f | %.1f%% |" % (
            n, name, f, full_s + f, 100 * full_s / (full_s + f), 1e3 * l,
            lora_s + l, 100 * lora_s / (lora_s + l)))

#!/usr/bin/env python3
"""Write the seed corpus of fuzz_quant (tests/fuzz/seeds/quant/): one input
per GGUF tensor type socfw reads, in the target's input layout (see
tests/fuzz/fuzz_quant.c): a 2-D tensor of 2 rows x 2 blocks, read back from
row 1, with deterministic pseudo-random block bytes.

    python3 tests/fuzz/make-seeds.py
"""
import os
import random

# GGML type id -> (name, elements per block, bytes per block)
TYPES = {
    0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18),
    3: ("q4_1", 32, 20), 6: ("q5_0", 32, 22), 7: ("q5_1", 32, 24),
    8: ("q8_0", 32, 34), 9: ("q8_1", 32, 36), 10: ("q2_k", 256, 84),
    11: ("q3_k", 256, 110), 12: ("q4_k", 256, 144), 13: ("q5_k", 256, 176),
    14: ("q6_k", 256, 210), 15: ("q8_k", 256, 292), 24: ("i8", 1, 1),
    25: ("i16", 1, 2), 26: ("i32", 1, 4), 27: ("i64", 1, 8),
    28: ("f64", 1, 8), 30: ("bf16", 1, 2),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds",
                   "quant")
os.makedirs(out, exist_ok=True)
rng = random.Random(14)
for g, (name, block, nbytes) in sorted(TYPES.items()):
    blocks = 2 if block > 1 else 8      # innermost dimension, in blocks
    head = bytes([g, 2 | 4, blocks, 2, 1, 1])  # 2-D, counted in blocks
    body = bytes(rng.randrange(256) for _ in range(2 * blocks * nbytes))
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(head + body)

#!/usr/bin/env python3
"""Write the generated seed corpora of the fuzz targets (deterministic; plain
struct/json, independent of socfw):

  seeds/quant/<type>.bin   fuzz_quant: one input per GGUF tensor type socfw
                           reads, in the target's input layout (see
                           tests/fuzz/fuzz_quant.c): a 2-D tensor of 2 rows x
                           2 blocks (8 elements for plain types), read back
                           from row 1, pseudo-random block bytes
  seeds/gguf/rich.gguf     fuzz_gguf: v3 with alignment 64, metadata of every
                           value type (nested and string arrays too) and
                           Q4_K, Q6_K, Q5_0, F16, BF16 and empty tensors
  seeds/gguf/v2.gguf       the same metadata as GGUF v2
  seeds/safetensors/rich.safetensors
                           fuzz_safetensors: __metadata__ and BF16, F16,
                           I64, U8, BOOL and 0-element tensors

    python3 tests/fuzz/make-seeds.py
"""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

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


def write(sub, name, data):
    d = os.path.join(HERE, "seeds", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def quant_seeds(rng):
    for g, (name, block, nbytes) in sorted(TYPES.items()):
        blocks = 2 if block > 1 else 8  # innermost dimension, in blocks
        head = bytes([g, 2 | 4, blocks, 2, 1, 1])  # 2-D, counted in blocks
        body = bytes(rng.randrange(256) for _ in range(2 * blocks * nbytes))
        write("quant", name + ".bin", head + body)


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, payload):
    return gstr(key) + struct.pack("<I", typ) + payload


def gguf(version, align, rng):
    arr = lambda t, n, body: struct.pack("<IQ", t, n) + body
    meta = [
        kv("general.architecture", 8, gstr("llama")),
        kv("general.alignment", 4, struct.pack("<I", align)),
        kv("u8", 0, b"\x07"), kv("i8", 1, b"\xf9"),
        kv("u16", 2, struct.pack("<H", 65535)),
        kv("i16", 3, struct.pack("<h", -2)),
        kv("llama.block_count", 4, struct.pack("<I", 2)),
        kv("i32", 5, struct.pack("<i", -7)),
        kv("f32", 6, struct.pack("<f", 1.5)), kv("bool", 7, b"\x01"),
        kv("u64", 10, struct.pack("<Q", 2**63 + 5)),
        kv("i64", 11, struct.pack("<q", -(2**40))),
        kv("f64", 12, struct.pack("<d", 1e300)),
        kv("tokenizer.ggml.tokens", 9,
           arr(8, 4, gstr("<unk>") + gstr("a b") + gstr(b"\x00z") +
               gstr("\u4e2d"))),
        kv("tokenizer.ggml.scores", 9,
           arr(6, 4, struct.pack("<4f", 0, -1, -2, float("nan")))),
        kv("tokenizer.ggml.token_type", 9, arr(5, 4, struct.pack("<4i", 1, 1, 3, 6))),
        kv("nested", 9, arr(9, 2, arr(4, 1, struct.pack("<I", 1)) +
                           arr(8, 1, gstr("x")))),
        kv("empty", 9, arr(7, 0, b"")),
    ]
    # (name, ne innermost first, ggml type)
    tensors = [("blk.0.q4_k", [256, 1], 12), ("blk.0.q6_k", [256], 14),
               ("q5_0", [32, 2], 6), ("f16", [3, 2], 1), ("bf16", [4], 30),
               ("empty", [0, 5], 0)]
    infos, data = b"", b""
    for name, ne, typ in tensors:
        block, nbytes = TYPES[typ][1], TYPES[typ][2]
        n = 1
        for x in ne:
            n *= x
        while len(data) % align:
            data += b"\0"
        infos += gstr(name) + struct.pack("<I", len(ne))
        infos += b"".join(struct.pack("<Q", x) for x in ne)
        infos += struct.pack("<IQ", typ, len(data))
        data += bytes(rng.randrange(256) for _ in range(n // block * nbytes))
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(meta))
    head += b"".join(meta) + infos
    while len(head) % align:
        head += b"\0"
    return head + data


def safetensors(rng):
    specs = [("a.bf16", "BF16", [2, 3], 2), ("b.f16", "F16", [4], 2),
             ("c.i64", "I64", [2], 8), ("d.u8", "U8", [5], 1),
             ("e.bool", "BOOL", [3], 1), ("f.empty", "F32", [0, 4], 4)]
    header, data = {"__metadata__": {"format": "pt", "note": "seed"}}, b""
    for name, dt, shape, size in specs:
        n = 1
        for x in shape:
            n *= x
        header[name] = {"dtype": dt, "shape": shape,
                        "data_offsets": [len(data), len(data) + n * size]}
        data += bytes(rng.randrange(256) for _ in range(n * size))
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


rng = random.Random(14)
quant_seeds(rng)
write("gguf", "rich.gguf", gguf(3, 64, rng))
write("gguf", "v2.gguf", gguf(2, 32, rng))
write("safetensors", "rich.safetensors", safetensors(rng))

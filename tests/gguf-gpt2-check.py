#!/usr/bin/env python3
"""Check a GPT-2 GGUF written by `socfw quantize --type f32` against the
Hugging Face safetensors it came from, with a GGUF reader of its own (the
standard library only): llama.cpp's tensor names, its (out, in) orientation
of the Conv1D weights, shapes (ne[] innermost first) and the gpt2.*
metadata.  Usage: gguf-gpt2-check.py MODEL.gguf HF_DIR; exit 1 on mismatch.
"""
import json
import struct
import sys


def read_gguf(path):
    b = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, b, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = b[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    scal = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
            10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(scal[t])

    assert b[:4] == b"GGUF"
    pos = 4
    assert take("I") == 3
    nt, nkv = take("Q"), take("Q")
    kv = {}
    for _ in range(nkv):
        k = string()
        kv[k] = value(take("I"))
    infos = []
    for _ in range(nt):
        name = string()
        nd = take("I")
        ne = [take("Q") for _ in range(nd)]
        infos.append((name, ne, take("I"), take("Q")))
    align = kv.get("general.alignment", 32)
    start = (pos + align - 1) // align * align
    tensors = {}
    for name, ne, typ, off in infos:
        assert typ == 0, "%s: type %d, expected F32" % (name, typ)
        assert off % align == 0
        n = 1
        for d in ne:
            n *= d
        tensors[name] = (ne, struct.unpack_from("<%df" % n, b, start + off))
    return kv, tensors


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack_from("<Q", b, 0)[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for name, info in h.items():
        if name == "__metadata__":
            continue
        a, e = info["data_offsets"]
        cnt = (e - a) // 4
        out[name.replace("transformer.", "")] = (
            info["shape"], struct.unpack_from("<%df" % cnt, b, 8 + n + a))
    return out


def main():
    kv, g = read_gguf(sys.argv[1])
    hf = read_safetensors(sys.argv[2] + "/model.safetensors")
    cfg = json.load(open(sys.argv[2] + "/config.json"))
    C, L = cfg["n_embd"], cfg["n_layer"]
    assert kv["general.architecture"] == "gpt2"
    assert kv["gpt2.embedding_length"] == C
    assert kv["gpt2.block_count"] == L
    assert kv["gpt2.attention.head_count"] == cfg["n_head"]
    assert kv["gpt2.context_length"] == cfg["n_positions"]
    assert "output.weight" not in g     # tied, as llama.cpp's converter
    pairs = [("token_embd.weight", "wte.weight", False),
             ("position_embd.weight", "wpe.weight", False),
             ("output_norm.weight", "ln_f.weight", False),
             ("output_norm.bias", "ln_f.bias", False)]
    for i in range(L):
        for gg, hh, t in [("attn_norm", "ln_1", False),
                          ("attn_qkv", "attn.c_attn", True),
                          ("attn_output", "attn.c_proj", True),
                          ("ffn_norm", "ln_2", False),
                          ("ffn_up", "mlp.c_fc", True),
                          ("ffn_down", "mlp.c_proj", True)]:
            pairs.append(("blk.%d.%s.weight" % (i, gg),
                          "h.%d.%s.weight" % (i, hh), t))
            pairs.append(("blk.%d.%s.bias" % (i, gg),
                          "h.%d.%s.bias" % (i, hh), False))
    assert len(pairs) == len(g), sorted(set(g) - {p[0] for p in pairs})
    for gn, hn, transposed in pairs:
        ne, gv = g[gn]
        shape, hv = hf[hn]
        if transposed:          # HF (in, out) -> GGUF rows of `in`
            rows, cols = shape
            assert ne == [rows, cols], (gn, ne, shape)
            hv = [hv[k * cols + r] for r in range(cols) for k in range(rows)]
        else:
            assert ne == list(reversed(shape)), (gn, ne, shape)
        assert list(gv) == list(hv), gn
    print("gpt2 GGUF matches %s: %d tensors" % (sys.argv[2], len(g)))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Seed inputs for fuzz_adapter: adapter_config.json NUL meta.json NUL
adapter_model.safetensors, in PEFT's layout for the tiny GPT-2 and Llama of
fuzz_adapter.c (hidden 8, 2 layers, FFN 16; Llama with 1 KV head)."""
import json
import os
import random
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds",
                    "adapter")


def safetensors(tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        shape, vals = tensors[name]
        raw = struct.pack("<%df" % len(vals), *vals)
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header).encode()
    return struct.pack("<Q", len(hj)) + hj + b"".join(blobs)


def rnd(n):
    return [random.uniform(-0.5, 0.5) for _ in range(n)]


def seed(name, cfg, tensors, meta=None):
    data = (json.dumps(cfg).encode() + b"\0" +
            (json.dumps(meta).encode() if meta else b"") + b"\0" +
            safetensors(tensors))
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    random.seed(1)
    os.makedirs(HERE, exist_ok=True)
    r = 2
    t = {}
    for l in range(2):
        p = "base_model.model.transformer.h.%d." % l
        t[p + "attn.c_attn.lora_A.weight"] = ([2 * r, 8], rnd(2 * r * 8))
        t[p + "attn.c_attn.lora_B.weight"] = ([24, 2 * r], rnd(24 * 2 * r))
        t[p + "mlp.c_fc.lora_A.weight"] = ([r, 8], rnd(r * 8))
        t[p + "mlp.c_fc.lora_B.weight"] = ([16, r], rnd(16 * r))
    seed("gpt2_lora", {"peft_type": "LORA", "r": r, "lora_alpha": 4,
                       "rank_pattern": {"attn.c_attn": 2 * r},
                       "alpha_pattern": {"attn.c_attn": 8},
                       "target_modules": ["attn.c_attn", "mlp.c_fc"]}, t,
         {"format": "socfw-adapter-1", "type": "lora", "rank": r,
          "sites": ["attn.q", "attn.v", "mlp.up"]})
    t = {}
    for l in range(2):
        p = "base_model.model.model.layers.%d." % l
        t[p + "self_attn.q_proj.lora_A.weight"] = ([r, 8], rnd(r * 8))
        t[p + "self_attn.q_proj.lora_B.weight"] = ([8, r], rnd(8 * r))
        t[p + "mlp.gate_proj.lora_A.weight"] = ([r, 8], rnd(r * 8))
        t[p + "mlp.gate_proj.lora_B.weight"] = ([16, r], rnd(16 * r))
    seed("llama_lora", {"peft_type": "LORA", "r": r, "lora_alpha": 8,
                        "use_rslora": True}, t)
    t = {}
    for l in range(2):
        p = "base_model.model.model.layers.%d." % l
        t[p + "self_attn.k_proj.ia3_l"] = ([4, 1], rnd(4))
        t[p + "mlp.down_proj.ia3_l"] = ([1, 16], rnd(16))
    seed("llama_ia3", {"peft_type": "IA3",
                       "feedforward_modules": ["down_proj"]}, t)
    t = {}
    for l in range(2):
        p = "base_model.model.transformer.h.%d.mlp.c_proj." % l
        t[p + "adapter_down.weight"] = ([2, 8], rnd(16))
        t[p + "adapter_down.bias"] = ([2], rnd(2))
        t[p + "adapter_up.weight"] = ([8, 2], rnd(16))
        t[p + "adapter_up.bias"] = ([8], rnd(8))
    seed("gpt2_bottleneck", {"peft_type": "SOCFW_BOTTLENECK",
                             "reduction_factor": 4,
                             "non_linearity": "gelu"}, t)
    # PEFT's PROMPT_TUNING: P learned input rows (P, hidden)
    seed("gpt2_prompt", {"peft_type": "PROMPT_TUNING",
                         "num_virtual_tokens": 4, "token_dim": 8,
                         "num_transformer_submodules": 1,
                         "prompt_tuning_init": "RANDOM"},
         {"prompt_embeddings": ([4, 8], rnd(32))})
    seed("llama_prompt", {"peft_type": "PROMPT_TUNING",
                          "num_virtual_tokens": 2, "token_dim": 8,
                          "prompt_tuning_init": "SAMPLE_VOCAB"},
         {"prompt_embeddings": ([2, 8], rnd(16))})


if __name__ == "__main__":
    main()

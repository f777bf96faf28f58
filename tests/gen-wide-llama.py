#!/usr/bin/env python3
"""Write a random Llama in Hugging Face layout (config.json +
model.safetensors) wide enough for 256-element K-quant blocks: 8 layers,
hidden 256, FFN 256, 4 heads, vocab 256, weights N(0, 0.05) (norms 1).
Standard library only.  Usage: gen-wide-llama.py DIR"""
import array
import json
import os
import random
import struct
import sys

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
C, F, L, V, H = 256, 256, 8, 256, 4
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
       "hidden_act": "silu", "hidden_size": C, "intermediate_size": F,
       "num_hidden_layers": L, "num_attention_heads": H,
       "num_key_value_heads": H, "max_position_embeddings": 64,
       "vocab_size": V, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
       "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
       "torch_dtype": "float32"}
json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
rng = random.Random(20261206)
shapes = {"model.embed_tokens.weight": [V, C], "model.norm.weight": [C],
          "lm_head.weight": [V, C]}
for i in range(L):
    p = "model.layers.%d." % i
    for n in ["q", "k", "v", "o"]:
        shapes[p + "self_attn.%s_proj.weight" % n] = [C, C]
    shapes[p + "mlp.gate_proj.weight"] = [F, C]
    shapes[p + "mlp.up_proj.weight"] = [F, C]
    shapes[p + "mlp.down_proj.weight"] = [C, F]
    shapes[p + "input_layernorm.weight"] = [C]
    shapes[p + "post_attention_layernorm.weight"] = [C]
header, blobs, off = {}, [], 0
for name in sorted(shapes):
    n = 1
    for s in shapes[name]:
        n *= s
    if len(shapes[name]) == 1:
        a = array.array("f", [1.0] * n)
    else:
        a = array.array("f", (rng.gauss(0.0, 0.05) for _ in range(n)))
    raw = a.tobytes()
    header[name] = {"dtype": "F32", "shape": shapes[name],
                    "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
hj = json.dumps(header).encode()
hj += b" " * ((8 - len(hj) % 8) % 8)
with open(os.path.join(d, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hj)))
    f.write(hj)
    for b in blobs:
        f.write(b)

#!/usr/bin/env python3
"""A random-weight Llama as a Hugging Face directory (config.json +
model.safetensors, N(0, 0.02) matrices, unit norms), vocabulary 50257 so
that GPT-2's vocab.json + merges.txt beside it make `socfw quantize` write
tokenizer metadata that llama.cpp accepts.  Shapes: smol (SmolLM-135M: 30
x 576, 9 / 3 heads, FFN 1536, tied embeddings; the default) and tinyllama
(TinyLlama-1.1B: 22 x 2048, 32 / 4 heads, FFN 5632, untied output; every
width a multiple of 256, so K-quants need no fallback rows).  For
bench/llamacpp-side-by-side.sh; needs numpy (/usr/bin/python3 with
python3-numpy).  Usage: make_random_llama.py DIR [smol|tinyllama]"""
import json
import os
import struct
import sys

import numpy as np

SHAPES = {"smol": (576, 1536, 30, 9, 3, True), "tinyllama": (2048, 5632, 22, 32, 4, False)}
shape = sys.argv[2] if len(sys.argv) > 2 else "smol"
if shape not in SHAPES:
    sys.exit("make_random_llama.py: unknown shape %r (smol or tinyllama)" % shape)
os.chdir(sys.argv[1])
C, F, L, H, KV, TIED = SHAPES[shape]
V = 50257
D = C // H
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": C,
           "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": H,
           "num_key_value_heads": KV, "vocab_size": V, "max_position_embeddings": 2048,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": TIED,
           "hidden_act": "silu", "bos_token_id": 50256, "eos_token_id": 50256,
           "torch_dtype": "float32"}, open("config.json", "w"))
rng = np.random.default_rng(1)
tensors = {"model.embed_tokens.weight": (V, C), "model.norm.weight": (C,)}
if not TIED:
    tensors["lm_head.weight"] = (V, C)
for i in range(L):
    p = "model.layers.%d." % i
    tensors.update({p + "input_layernorm.weight": (C,), p + "post_attention_layernorm.weight": (C,),
                    p + "self_attn.q_proj.weight": (C, C), p + "self_attn.k_proj.weight": (KV * D, C),
                    p + "self_attn.v_proj.weight": (KV * D, C), p + "self_attn.o_proj.weight": (C, C),
                    p + "mlp.gate_proj.weight": (F, C), p + "mlp.up_proj.weight": (F, C),
                    p + "mlp.down_proj.weight": (C, F)})
head, off = {}, 0
for k, shp in tensors.items():  # the header first: each tensor is written as drawn
    n = 4 * int(np.prod(shp))
    head[k] = {"dtype": "F32", "shape": list(shp), "data_offsets": [off, off + n]}
    off += n
h = json.dumps(head).encode(); h += b" " * ((8 - len(h) % 8) % 8)
with open("model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h)
    for k, shp in tensors.items():
        a = np.ones(shp) if len(shp) == 1 else rng.standard_normal(shp) * 0.02
        f.write(a.astype("<f4").tobytes())
print("ok", off / 1e6, "MB")

#!/usr/bin/env python3
"""A random-weight Llama in the SmolLM-135M shape as a Hugging Face
directory (config.json + model.safetensors, N(0, 0.02) matrices, unit
norms, tied embeddings), vocabulary 50257 so that GPT-2's vocab.json +
merges.txt beside it make `socfw quantize` write tokenizer metadata that
llama.cpp accepts.  For bench/llamacpp-side-by-side.sh; needs numpy
(/usr/bin/python3 with python3-numpy).  Usage: make_random_llama.py DIR"""
import json
import os
import struct
import sys

import numpy as np

os.chdir(sys.argv[1])
C, F, L, H, KV, V = 576, 1536, 30, 9, 3, 50257
D = C // H
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": C,
           "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": H,
           "num_key_value_heads": KV, "vocab_size": V, "max_position_embeddings": 2048,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
           "hidden_act": "silu", "bos_token_id": 50256, "eos_token_id": 50256,
           "torch_dtype": "float32"}, open("config.json", "w"))
rng = np.random.default_rng(1)
tensors = {"model.embed_tokens.weight": (V, C), "model.norm.weight": (C,)}
for i in range(L):
    p = "model.layers.%d." % i
    tensors.update({p + "input_layernorm.weight": (C,), p + "post_attention_layernorm.weight": (C,),
                    p + "self_attn.q_proj.weight": (C, C), p + "self_attn.k_proj.weight": (KV * D, C),
                    p + "self_attn.v_proj.weight": (KV * D, C), p + "self_attn.o_proj.weight": (C, C),
                    p + "mlp.gate_proj.weight": (F, C), p + "mlp.up_proj.weight": (F, C),
                    p + "mlp.down_proj.weight": (C, F)})
head, off, blobs = {}, 0, []
for k, shp in tensors.items():
    a = (np.ones(shp) if len(shp) == 1 else rng.standard_normal(shp) * 0.02).astype("<f4")
    b = a.tobytes(); head[k] = {"dtype": "F32", "shape": list(shp), "data_offsets": [off, off + len(b)]}
    off += len(b); blobs.append(b)
h = json.dumps(head).encode(); h += b" " * ((8 - len(h) % 8) % 8)
with open("model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h)
    for b in blobs: f.write(b)
print("ok", off / 1e6, "MB")

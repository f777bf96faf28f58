#!/bin/sh
# `socfw quantize` end to end: the Llama / Llama-3 / Qwen2 fixture models
# (Hugging Face directories) written as GGUF in every type give the logits of
# the original within a per-type tolerance (relative to the largest logit);
# F32 gives them exactly; a GGUF re-quantised to its own type is the same
# file; an existing OUT is refused without --force; unknown types and
# encoders are refused by name; a GPT-2 file matches its safetensors.  With ../shared present,
# stories260K.gguf in each type generates greedily the same text as the F32
# file (6-bit and up: 60 tokens; 4/5-bit: the first sentence).
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
socfw=$build/socfw
fx=$src/tests/fixtures/arch
ids="1 5 7 9 3 11 2"

# largest |a - b| over the largest |a|, of two one-value-a-line files
reldiff() {
        paste "$1" "$2" | awk '{ d = $1 - $2; if (d < 0) d = -d;
                if (d > m) m = d; a = $1 < 0 ? -$1 : $1; if (a > r) r = a }
                END { printf "%.6f\n", (r > 0) ? m / r : m }'
}

# type:tolerance.  The fixtures' N(0, 1) weights in 2 tiny layers amplify
# weight error; measured at most: f16 0.0013, bf16 0.012, q8_0 0.047,
# 5-bit 0.32, 4-bit 0.45.  (A wrong layout or name gives ~1 or worse; F32
# must be exact.)
for spec in f32:0 f16:0.003 bf16:0.03 q8_0:0.1 q6_k:0.1 q5_k:0.5 \
            q5_0:0.5 q5_1:0.5 q4_k:0.8 q4_0:0.8 q4_1:0.8; do
        t=${spec%%:*}
        tol=${spec#*:}
        for m in llama llama3 qwen2; do
                out=$tmp/$m.$t.gguf
                "$socfw" quantize "$fx/$m" "$out" --type "$t" \
                        2>"$tmp/log" || { cat "$tmp/log"; fail "$m $t"; }
                "$socfw" logits --model "$fx/$m" --ids "$ids" >"$tmp/ref"
                "$socfw" logits --model "$out" --ids "$ids" >"$tmp/got" ||
                        fail "logits of $m $t"
                r=$(reldiff "$tmp/ref" "$tmp/got")
                echo "quantize $m $t: max logit difference $r of the largest"
                awk -v r="$r" -v t="$tol" 'BEGIN { exit !(r <= t) }' ||
                        fail "$m $t: relative logit difference $r > $tol"
        done
done
# the fixtures' 48-wide FFN cannot be cut into 32-blocks: F16, noticed
"$socfw" quantize "$fx/llama" "$tmp/n.gguf" --type q8_0 2>"$tmp/log"
grep -q "ffn_down.weight: row length 48 is not a multiple of the Q8_0 block size 32; using F16" \
        "$tmp/log" || fail "no fallback notice: $(cat "$tmp/log")"

# a Llama wide enough for 256-blocks (8 layers of 256): real K-quants and
# llama.cpp's Q4_K_M mix (output, and attn_v/ffn_down of layers 0, 3, 6, 7
# in Q6_K: 9 tensors), logits near the original's (measured: q8_0 0.022,
# q6_k 0.067, q5_k 0.083, q4_k 0.205 of the largest logit)
python3 "$src/tests/gen-wide-llama.py" "$tmp/wide"
"$socfw" logits --model "$tmp/wide" --ids "$ids" >"$tmp/ref"
for spec in q8_0:0.05:"58 Q8_0" q6_k:0.13:"58 Q6_K" \
            q5_k:0.17:"49 Q5_K, 9 Q6_K" q4_k:0.35:"49 Q4_K, 9 Q6_K"; do
        t=${spec%%:*}
        rest=${spec#*:}
        tol=${rest%%:*}
        mix=${rest#*:}
        "$socfw" quantize "$tmp/wide" "$tmp/wide.$t.gguf" --type "$t" \
                2>"$tmp/log"
        grep -q "(17 F32, $mix)" "$tmp/log" ||
                fail "wide $t mix: $(cat "$tmp/log")"
        "$socfw" logits --model "$tmp/wide.$t.gguf" --ids "$ids" >"$tmp/got"
        r=$(reldiff "$tmp/ref" "$tmp/got")
        echo "quantize wide llama $t ($mix): max logit difference $r"
        awk -v r="$r" -v t="$tol" 'BEGIN { exit !(r <= t) }' ||
                fail "wide $t: relative logit difference $r > $tol"
done

# a GGUF re-quantised to its own type: same tensors, same file
"$socfw" quantize "$tmp/llama.q8_0.gguf" "$tmp/again.gguf" --type q8_0 \
        2>/dev/null
cmp -s "$tmp/llama.q8_0.gguf" "$tmp/again.gguf" ||
        fail "re-quantising a Q8_0 GGUF to Q8_0 changed it"

# refusals
if "$socfw" quantize "$fx/llama" "$tmp/again.gguf" --type q8_0 \
        2>"$tmp/log"; then
        fail "an existing OUT was replaced without --force"
fi
grep -q "exists (hint: --force" "$tmp/log" || fail "$(cat "$tmp/log")"
"$socfw" quantize "$fx/llama" "$tmp/again.gguf" --type q4_k --force \
        2>/dev/null || fail "--force did not replace OUT"
if "$socfw" quantize "$fx/llama" "$tmp/x.gguf" --type q3_x 2>"$tmp/log"; then
        fail "unknown type accepted"
fi
grep -q "unknown type 'q3_x'" "$tmp/log" || fail "$(cat "$tmp/log")"
if "$socfw" quantize "$fx/bert" "$tmp/x.gguf" --type q8_0 2>"$tmp/log"; then
        fail "an encoder was accepted"
fi
grep -q "bert model" "$tmp/log" || fail "$(cat "$tmp/log")"

# GPT-2 (what socfw pretrains and `adapter merge` writes): the file itself
# against the safetensors with an independent reader (names, Conv1D
# orientation, data), then socfw loads it back: F32 gives the logits of the
# safetensors exactly, Q8_0 within the Llama fixtures' tolerance
"$socfw" quantize "$fx/gpt2" "$tmp/gpt2.gguf" --type f32 2>/dev/null
python3 "$src/tests/gguf-gpt2-check.py" "$tmp/gpt2.gguf" "$fx/gpt2" ||
        fail "GPT-2 GGUF does not match its safetensors"
"$socfw" quantize "$fx/gpt2" "$tmp/gpt2.q8.gguf" --type q8_0 2>/dev/null ||
        fail "GPT-2 to q8_0"
"$socfw" logits --model "$fx/gpt2" --ids "$ids" >"$tmp/ref"
"$socfw" logits --model "$tmp/gpt2.gguf" --ids "$ids" >"$tmp/got" ||
        fail "socfw does not load its GPT-2 GGUF"
cmp -s "$tmp/ref" "$tmp/got" || fail "GPT-2 F32 GGUF: logits differ"
"$socfw" logits --model "$tmp/gpt2.q8.gguf" --ids "$ids" >"$tmp/got" ||
        fail "socfw does not load its GPT-2 Q8_0 GGUF"
d=$(reldiff "$tmp/ref" "$tmp/got")
awk -v d="$d" 'BEGIN { exit !(d <= 0.1) }' ||
        fail "GPT-2 Q8_0 GGUF: logits differ by $d of the largest"
echo "quantize gpt2: F32 GGUF logits exact, Q8_0 within $d"
[ ! -e "$tmp/x.gguf" ] || fail "a refused run left $tmp/x.gguf"

# a BPE vocabulary smaller than the model's 80 rows is padded, as
# llama.cpp's converter does, and still tokenizes as the original
mkdir "$tmp/small"
cp "$fx/llama/config.json" "$fx/llama/model.safetensors" "$tmp/small/"
printf '{"a": 0, "b": 1, "c": 2, "\\u0120": 3, "ab": 4, "\\u0120c": 5}' \
        >"$tmp/small/vocab.json"
printf '#version: 0.2\na b\n\xc4\xa0 c\n' >"$tmp/small/merges.txt"
"$socfw" quantize "$tmp/small" "$tmp/small.gguf" --type f16 2>"$tmp/log"
grep -q "padded with unused \[PAD\] tokens" "$tmp/log" ||
        fail "no padding notice: $(cat "$tmp/log")"
a=$("$socfw" tokenize --model "$tmp/small" "abc ab c")
b=$("$socfw" tokenize --model "$tmp/small.gguf" "abc ab c")
[ "$a" = "$b" ] || fail "padded BPE: '$b', expected '$a'"

# stories260K: greedy text of each type against F32
shared=${SOCFW_SHARED_DIR:-$src/../shared}
st=$shared/models/stories260K.gguf
if [ ! -f "$st" ]; then
        echo "SKIP stories260K part: $st not present"
        exit 0
fi
"$socfw" generate --model "$st" --temperature 0 --max-tokens 60 \
        >"$tmp/ref.txt" 2>/dev/null
first="Once upon a time, there was a little girl named Lily. She loved to play"
for t in f16 bf16 q8_0 q6_k q5_k q5_0 q4_k q4_0; do
        "$socfw" quantize "$st" "$tmp/s.$t.gguf" --type "$t" 2>/dev/null
        "$socfw" generate --model "$tmp/s.$t.gguf" --temperature 0 \
                --max-tokens 60 >"$tmp/got.txt" 2>/dev/null
        case $t in
        f16|bf16|q8_0|q6_k)
                cmp -s "$tmp/ref.txt" "$tmp/got.txt" ||
                        fail "stories260K $t: greedy text differs:
$(cat "$tmp/got.txt")" ;;
        *)
                case $(cat "$tmp/got.txt") in
                "$first"*) ;;
                *) fail "stories260K $t: $(cat "$tmp/got.txt")" ;;
                esac ;;
        esac
        echo "quantize stories260K $t: $(wc -c <"$tmp/s.$t.gguf") bytes," \
             "greedy text as F32$(cmp -s "$tmp/ref.txt" "$tmp/got.txt" ||
                                  echo ' up to the first sentence')"
done

# tokenizer metadata: the SentencePiece vocabulary of a GGUF is copied, and a
# Hugging Face byte-level BPE (GPT-2's vocab.json + merges.txt, next to the
# Llama fixture's weights) becomes tokenizer.ggml.* that tokenizes the same
text="Hello world, it's a test: naïve café 1234"
[ "$("$socfw" tokenize --model "$st" "$text")" = \
  "$("$socfw" tokenize --model "$tmp/s.q4_k.gguf" "$text")" ] ||
        fail "stories260K tokenizer changed by quantize"
gp=$shared/models/hf/fake_gpt2
if [ -f "$gp/vocab.json" ]; then
        mkdir "$tmp/bpe"
        cp "$fx/llama/config.json" "$fx/llama/model.safetensors" \
           "$gp/vocab.json" "$gp/merges.txt" "$tmp/bpe/"
        "$socfw" quantize "$tmp/bpe" "$tmp/bpe.gguf" --type q8_0 2>/dev/null
        a=$("$socfw" tokenize --model "$gp" "$text")
        b=$("$socfw" tokenize --model "$tmp/bpe.gguf" "$text")
        [ "$a" = "$b" ] || fail "GPT-2 BPE in GGUF: '$b', expected '$a'"
        echo "quantize: BPE tokenizer metadata tokenizes as the original ($b)"
fi
echo "PASS quantize-cli"

# QLoRA: LoRA on a sentiment task over stories260K kept as Q8_0
# (backbone.keep_quantized) trains, predicts from its run, and has the same
# adapter gradients' effect as over the file dequantised (the adapters
# after training agree to float rounding); keep_quantized with a backbone
# that would be fine-tuned is refused by validate with file:line.
python3 - "$tmp" <<'PY'
import json, random, sys
random.seed(5)
pos, neg = ["happy", "good", "fun", "nice"], ["sad", "bad", "mad", "ugly"]
for name, n in (("train", 96), ("valid", 32)):
    with open(sys.argv[1] + "/q" + name + ".jsonl", "w") as f:
        for _ in range(n):
            p = random.random() < 0.5
            f.write(json.dumps({"text": "the dog was " + random.choice(pos if p else neg),
                                "label": "positive" if p else "negative"}) + "\n")
PY
qlora_yaml() { # keep_quantized adapter_type output
        cat <<EOF2
socfw: 1
threads: 1
backbone: {model: $tmp/s.q8_0.gguf, keep_quantized: $1, max_seq_len: 16, dropout: 0.0}
tasks:
  - name: sentiment
    plugin: sentiment
    labels: [negative, positive]
    adapter: {type: $2, rank: 4, alpha: 8, targets: [attn.q, attn.v, mlp.up]}
    data: {train: $tmp/qtrain.jsonl, valid: $tmp/qvalid.jsonl}
train: {lr: 5.0e-3, epochs: 2, batch_size: 16, seed: 3}
output: {dir: $3}
EOF2
}
qlora_yaml true lora "$tmp/qlora" >"$tmp/qlora.yaml"
qlora_yaml false lora "$tmp/lora32" >"$tmp/lora32.yaml"
"$socfw" -q run "$tmp/qlora.yaml" || fail "QLoRA run"
"$socfw" -q run "$tmp/lora32.yaml" || fail "LoRA over the dequantised file"
python3 - "$tmp/qlora" "$tmp/lora32" <<'PY' || fail "QLoRA adapters differ from LoRA over float32"
import json, struct, sys
def tensors(run):
    raw = open(run + "/adapters/sentiment/adapter_model.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for k, v in head.items():
        if k != "__metadata__":
            s, e = v["data_offsets"]
            out[k] = struct.unpack("<%df" % ((e - s) // 4), raw[8 + n + s:8 + n + e])
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys() and a
worst = max(abs(x - y) for k in a for x, y in zip(a[k], b[k]))
big = max(abs(x) for k in a for x in a[k])
print("QLoRA over Q8_0 vs LoRA over float32: max |adapter difference| %.3g (largest value %.3g)" % (worst, big))
assert worst <= 1e-3 * big, worst
PY
"$socfw" -q predict "$tmp/qlora" --task sentiment --input "$tmp/qvalid.jsonl" \
        --output "$tmp/qpred.jsonl" || fail "predict on the QLoRA run"
[ "$(wc -l <"$tmp/qpred.jsonl")" = 32 ] || fail "QLoRA predictions missing"
qlora_yaml true none "$tmp/full" >"$tmp/full.yaml"
if "$socfw" validate "$tmp/full.yaml" 2>"$tmp/full.log"; then
        fail "keep_quantized with full fine-tuning validated"
fi
grep -q "full.yaml:3:.*keep_quantized.*adapter" "$tmp/full.log" ||
        { cat "$tmp/full.log"; fail "no file:line refusal of keep_quantized"; }
echo "ok: QLoRA over a Q8_0 GGUF"

#!/bin/sh
# socfw and llama.cpp on the same GGUF files, same prompt and threads:
# a random-weight Llama (bench/make_random_llama.py) in the SmolLM-135M
# shape (default; written as F32, Q8_0 and Q4_0) or the TinyLlama-1.1B
# shape (Q8_0, Q4_0 and Q4_K: every width a multiple of 256), written by
# `socfw quantize`, then for each file, twice and alternating,
# `bench_quant file` (socfw) and llamacpp_bench (llama.cpp, the prebuilt
# libraries of the npm package node-llama-cpp, whose source bundle gives
# the headers).  TYPES="f32 q8_0 ..." overrides the types.  Downloads from
# the npm registry into $WORK; nothing of it enters the repository.  Run
# from a build directory:
#
#     ../bench/llamacpp-side-by-side.sh [threads] [smol|tinyllama]
set -eu
work=${WORK:-/tmp/socfw-llamacpp}
threads=${1:-2}
shape=${2:-smol}
case $shape in
smol) types=${TYPES:-f32 q8_0 q4_0}; model=$work/model ;;
tinyllama) types=${TYPES:-q8_0 q4_0 q4_k}; model=$work/model-tinyllama ;;
*) echo "unknown shape '$shape' (smol or tinyllama)"; exit 2 ;;
esac
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work"
if [ ! -d "$work/node_modules/node-llama-cpp" ]; then
        (cd "$work" && npm i -E node-llama-cpp@3.21.1 >npm.log 2>&1)
fi
bins=$work/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
[ -d "$work/llama-src" ] ||
        git clone -q "$work/node_modules/node-llama-cpp/llama/gitRelease.bundle" \
                "$work/llama-src" 2>/dev/null
so=$(cd "$bins" && ls libllama.*.so | head -1)
gg=$(cd "$bins" && ls libggml.*.so | head -1)
gcc -O2 "$src/bench/llamacpp_bench.c" -I"$work/llama-src/include" \
        -I"$work/llama-src/ggml/include" -L"$bins" -l:"$so" -l:"$gg" \
        -l:libggml-base.so -Wl,-rpath,"$bins" -o "$work/llamacpp_bench"
mkdir -p "$model"
cp "$src/../shared/models/hf/fake_gpt2/vocab.json" \
   "$src/../shared/models/hf/fake_gpt2/merges.txt" "$model/" 2>/dev/null ||
        { echo "needs ../shared/models/hf/fake_gpt2 (GPT-2's tokenizer)"; exit 77; }
[ -f "$model/model.safetensors" ] ||
        /usr/bin/python3 "$src/bench/make_random_llama.py" "$model" "$shape"
files=
for t in $types; do
        f=$work/$shape.$t.gguf
        [ -f "$f" ] || ./socfw quantize "$model" "$f" --type $t
        files="$files $f"
done
for round in 1 2; do
        echo "== round $round $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
        # shellcheck disable=SC2086
        ./bench/bench_quant file "$threads" 3 $files | tail -n +2
        for f in $files; do
                LLBINS=$bins "$work/llamacpp_bench" "$f" "$threads"
        done
done

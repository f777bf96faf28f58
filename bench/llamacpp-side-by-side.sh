#!/bin/sh
# socfw and llama.cpp on the same GGUF files, same prompt and threads:
# a random-weight Llama in the SmolLM-135M shape (bench/make_random_llama.py)
# written by `socfw quantize` as F32 and Q8_0, then for each file, twice and
# alternating, `bench_quant file` (socfw) and llamacpp_bench (llama.cpp,
# the prebuilt libraries of the npm package node-llama-cpp, whose source
# bundle gives the headers).  Downloads from the npm registry into $WORK;
# nothing of it enters the repository.  Run from a build directory:
#
#     ../bench/llamacpp-side-by-side.sh [threads]
set -eu
threads=${1:-2}
src=$(cd "$(dirname "$0")/.." && pwd)
work=${WORK:-/tmp/socfw-llamacpp}
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
mkdir -p "$work/model"
cp "$src/../shared/models/hf/fake_gpt2/vocab.json" \
   "$src/../shared/models/hf/fake_gpt2/merges.txt" "$work/model/" 2>/dev/null ||
        { echo "needs ../shared/models/hf/fake_gpt2 (GPT-2's tokenizer)"; exit 77; }
[ -f "$work/model/model.safetensors" ] ||
        /usr/bin/python3 "$src/bench/make_random_llama.py" "$work/model"
for t in f32 q8_0; do
        [ -f "$work/smol.$t.gguf" ] ||
                ./socfw quantize "$work/model" "$work/smol.$t.gguf" --type $t
done
for round in 1 2; do
        echo "== round $round $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
        ./bench/bench_quant file "$threads" 3 "$work/smol.f32.gguf" \
                "$work/smol.q8_0.gguf" | tail -2
        for t in f32 q8_0; do
                LLBINS=$bins "$work/llamacpp_bench" "$work/smol.$t.gguf" "$threads"
        done
done

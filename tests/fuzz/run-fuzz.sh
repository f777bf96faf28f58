#!/bin/sh
# Build the model-file fuzz targets with libFuzzer + AddressSanitizer +
# UBSan and run each for N seconds (default 60).  Not part of `make check`.
#
#     tests/fuzz/run-fuzz.sh [seconds] [target...]
#
# targets: gguf safetensors (model files), pipeline (YAML pipelines),
#          data (JSONL/CSV/TSV readers), ner (the privacy plugin's word
#          splitter, NER training records and BIO decoding), nlu (the nlu
#          plugin's company lists, extractors, words and slot spans)
#
# Needs clang (clang-14 is used when present) and the -dev packages the
# project already builds against (jansson).  Work files go to
# ${FUZZ_WORKDIR:-/tmp/socfw-fuzz}; crashes are saved there as crash-*.
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"gguf safetensors pipeline data ner nlu"}

top=$(cd "$(dirname "$0")/../.." && pwd)
work=${FUZZ_WORKDIR:-/tmp/socfw-fuzz}
cc=$(command -v clang-14 || command -v clang)
mkdir -p "$work"

common="$top/framework/core/error.c $top/framework/core/log.c"
model_srcs="$top/framework/model/modelfile.c $top/framework/model/dtype.c
      $top/framework/model/gguf.c $top/framework/model/safetensors_read.c"
pipeline_srcs="$top/framework/core/yamltree.c $top/framework/core/pipeline.c
      $top/framework/core/schema.c $top/framework/core/config.c
      $top/framework/core/param.c $top/framework/core/registry.c"
data_srcs="$top/framework/data/reader.c $top/framework/data/dataset.c
      $top/framework/data/batch.c $top/framework/nn/rng.c"
ner_srcs="$top/plugins/privacy/model.c $top/plugins/privacy/pii.c
      $top/plugins/privacy/buf.c $top/framework/core/example.c
      $top/framework/data/reader.c $top/framework/report/metrics.c"
nlu_srcs="$top/plugins/nlu/extract.c $top/plugins/nlu/tickers.c
      $top/plugins/nlu/dates.c $top/plugins/nlu/spans.c
      $top/framework/report/metrics.c $top/framework/io/io.c"
cflags="-std=c11 -g -O1 -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -D_DEFAULT_SOURCE
        -D_POSIX_C_SOURCE=200809L -I$top/framework -I$top/tests/fuzz
        -I$top/plugins/privacy -I$top/plugins/nlu"
libs="$(pkg-config --libs jansson yaml-0.1 libutf8proc libsodium \
        2>/dev/null || echo -ljansson -lyaml -lutf8proc -lsodium) -lltdl -lm
        -pthread"

status=0
for t in $targets; do
        bin="$work/fuzz_$t"
        extra=
        case $t in
        gguf|safetensors) srcs="$model_srcs" ;;
        pipeline) srcs="$pipeline_srcs" ;;
        data) srcs="$data_srcs" ;;
        ner) srcs="$ner_srcs" ;;
        nlu) srcs="$nlu_srcs"; extra=$(pkg-config --libs libpcre2-8 \
                2>/dev/null || echo -lpcre2-8) ;;
        *) echo "unknown target $t" >&2; exit 2 ;;
        esac
        # shellcheck disable=SC2086
        "$cc" $cflags "$top/tests/fuzz/fuzz_$t.c" $srcs $common $libs \
                ${extra:-} -o "$bin"
        corpus="$work/corpus_$t"
        mkdir -p "$corpus"
        case $t in
        gguf) cp "$top/tests/fixtures/model/tiny.gguf" "$corpus/" ;;
        safetensors) cp "$top/tests/fixtures/model/tiny.safetensors" \
                        "$corpus/" ;;
        pipeline) cp "$top"/configs/*.yaml "$corpus/" ;;
        data) cp "$top"/tests/fixtures/data/* "$corpus/" 2>/dev/null || true ;;
        ner) printf '%s\n' \
                '{"text": "Ann Lee\nAcme", "spans": [{"start": 0, "end": 7, "type": "PERSON"}]}' \
                '{"tokens": ["Empire", "State"], "tags": ["B-location", "I-location"]}' \
                > "$corpus/seed.jsonl" ;;
        nlu) printf 'AAPL\tApple Inc.\nMSFT\tMicrosoft\0$AAPL up 5%% on 2024-03-15, Apple paid $1,200.50 yesterday; order #12345 next Friday' \
                > "$corpus/seed.txt" ;;
        esac
        echo "== fuzz_$t for ${secs}s (corpus $corpus)"
        if ! (cd "$work" && "$bin" -max_total_time="$secs" -max_len=4096 \
                -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
                "$corpus"); then
                echo "fuzz_$t FOUND A PROBLEM (see $work/crash-*)" >&2
                status=1
        fi
done
exit $status

#!/bin/sh
# Run the libFuzzer targets (tests/fuzz/local.mk builds them with clang,
# AddressSanitizer and UBSan from the library's own source lists), each for
# N seconds (default 60) on its seed corpus.
#
#     tests/fuzz/run-fuzz.sh [-n] [seconds] [target...]
#
#   -n        do not run `make fuzz` first (make check's tests/fuzz.sh)
#   targets   gguf safetensors (model files), quant (tensor element types:
#             the GGML block formats, K-quants, half precision), qlinear
#             (the linear layer over those types, every kernel path), pipeline
#             (YAML pipelines), data (JSONL/CSV/TSV readers), ner (the
#             privacy plugin's word splitter, NER records, BIO decoding),
#             privacy (PII recognizers, operators, vault), adapter
#             (adapter directories: PEFT config, meta, tensors), baseline
#             (TF-IDF analysis and both classifiers), names (the
#             privacy plugin's name recognizer and recognizer YAML files),
#             monitor (records and timestamps into the monitor's windows),
#             nlu (company lists, extractors, words, BIO decoding, slots),
#             continual (new data, gate set, the version pointer),
#             serve (socfw serve's request bodies: /v1/predict,
#             /v1/chat/completions, /v1/completions);
#             default: all
#             (FUZZ_TARGETS in tests/fuzz/local.mk)
#
# Needs a configured build tree (FUZZ_BUILDDIR, else the current directory
# when it holds a Makefile, else ./build under the source tree) whose
# configure found clang with libFuzzer.  Work files go to
# ${FUZZ_WORKDIR:-<build>/tests/fuzz-work}: corpus_<target>/ (grows from
# run to run unless FUZZ_FRESH=1) and <target>-crash-* when something is
# found, with the command that replays it.  Prints one line per target:
#
#     fuzz_gguf: 61 s, 1234567 runs, corpus 321 inputs, nothing found
set -eu

nobuild=0
[ "${1:-}" = -n ] && { nobuild=1; shift; }
secs=${1:-60}
[ $# -gt 0 ] && shift

top=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${FUZZ_BUILDDIR:-}" ]; then
        build=$FUZZ_BUILDDIR
elif [ -f Makefile ] && grep -q '^FUZZ_TARGETS' Makefile; then
        build=.
else
        build=$top/build
fi
[ -f "$build/Makefile" ] || {
        echo "run-fuzz.sh: no configured build in $build (hint: mkdir build && cd build && ../configure; or set FUZZ_BUILDDIR)" >&2
        exit 2
}
build=$(cd "$build" && pwd)
work=${FUZZ_WORKDIR:-$build/tests/fuzz-work}
mkdir -p "$work"

all=${SOCFW_FUZZ_TARGETS:-$(make -s --no-print-directory -C "$build" fuzz-list)}
targets=${*:-$all}
if [ $nobuild = 0 ]; then
        nice make -s --no-print-directory -C "$build" fuzz >&2 ||
                { echo "run-fuzz.sh: building the fuzz targets failed" >&2; exit 1; }
fi

# Seed corpus of a target: the files of tests/fuzz/seeds/<target>/ and the
# fixtures named here.
seeds() {
        [ -d "$top/tests/fuzz/seeds/$1" ] && ls -d "$top/tests/fuzz/seeds/$1"/*
        case $1 in
        gguf) ls -d "$top"/tests/fixtures/model/*.gguf ;;
        safetensors) ls -d "$top"/tests/fixtures/model/*.safetensors ;;
        pipeline) ls -d "$top"/configs/*.yaml ;;
        data) ls -d "$top"/tests/fixtures/data/*.jsonl \
                    "$top"/tests/fixtures/data/*.csv \
                    "$top"/tests/fixtures/data/*.tsv ;;
        esac
}

# LeakSanitizer findings count: the suppressions file only names Criterion
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp}
export LSAN_OPTIONS

status=0
for t in $targets; do
        bin="$build/tests/fuzz/fuzz_$t"
        [ -x "$bin" ] || {
                echo "fuzz_$t: not built (known targets: $all)" >&2
                status=1
                continue
        }
        corpus="$work/corpus_$t"
        [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$corpus"
        mkdir -p "$corpus"
        n_seeds=0
        for f in $(seeds "$t" 2>/dev/null); do
                [ -f "$f" ] || continue
                cp "$f" "$corpus/"
                n_seeds=$((n_seeds + 1))
        done
        [ $n_seeds -gt 0 ] || {
                echo "fuzz_$t: no seed corpus (add tests/fuzz/seeds/$t/)" >&2
                status=1
                continue
        }
        log="$work/fuzz_$t.log"
        stamp="$work/.stamp_$t"
        : >"$stamp"     # crash files newer than this are this run's
        start=$(date +%s)
        # -malloc_limit_mb: no single allocation of 128 MiB from a 4 KiB
        # input; -rss_limit_mb: nor 1 GiB in all
        rc=0
        (cd "$work" && "$bin" -max_total_time="$secs" -max_len=4096 \
                -rss_limit_mb=1024 -malloc_limit_mb=128 -timeout=10 \
                -print_final_stats=1 -artifact_prefix="$work/$t-" \
                "$corpus") >"$log" 2>&1 || rc=$?
        took=$(($(date +%s) - start))
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        size=$(ls "$corpus" | wc -l)
        if [ $rc -ne 0 ] || [ -z "$runs" ] || [ "$runs" -lt $n_seeds ]; then
                echo "fuzz_$t: FOUND A PROBLEM after $took s (exit $rc, ${runs:-0} runs); log $log" >&2
                grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==|#[0-9]+ 0x|Test unit written|Seed:' "$log" | head -40 >&2
                find "$work" -maxdepth 1 -name "$t-*" -newer "$stamp" |
                        sed "s|^|  replay: $bin |" >&2
                status=1
        else
                echo "fuzz_$t: $took s, $runs runs, corpus $size inputs, nothing found"
        fi
done
exit $status

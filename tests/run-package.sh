#!/bin/sh
# Run packages, as a user ships one: a finished run keeps its own copy of
# the pipeline, a model card and a manifest, so that `socfw predict` and
# `socfw serve` work on a copy of the run directory after the pipeline file
# and the training data are deleted; a damaged or missing file is refused by
# name; `socfw run` does not train over a finished run without --force;
# `socfw export` copies a run.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
socfw=$build/socfw
mkdir "$tmp/data"
for f in quickstart-train.jsonl quickstart-valid.jsonl quickstart-corpus.txt; do
        head -n 300 "$src/configs/data/$f" >"$tmp/data/$f"
done
cat >"$tmp/p.yaml" <<EOF2
socfw: 1
threads: 1
backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2, max_positions: 64,
           max_seq_len: 32, dropout: 0.0}
pretrain: {corpus: [data/quickstart-corpus.txt], steps: 10, batch_size: 8,
           seq_len: 32, tokenizer: {vocab_size: 400}}
tasks:
  - name: sentiment
    plugin: sentiment
    head: {type: classifier, pooling: mean}
    data: {train: data/quickstart-train.jsonl,
           valid: data/quickstart-valid.jsonl}
privacy: {entities: [EMAIL_ADDRESS]}
chain: [privacy, sentiment]
train: {lr: 5.0e-3, epochs: 1, batch_size: 32, seed: 3}
evaluate: {splits: [valid], baseline: false}
output: {dir: run}
EOF2
"$socfw" run "$tmp/p.yaml" --set train.seed=4 >"$tmp/run.log" 2>&1 ||
        { tail -20 "$tmp/run.log"; fail "socfw run"; }
run=$tmp/run
for f in pipeline.resolved.yaml README.md run.json; do
        test -s "$run/$f" || fail "no $f in the run directory"
done
grep -q '^  seed: 4$' "$run/pipeline.resolved.yaml" ||
        fail "the snapshot lacks the --set override"
grep -q 'labels: \["negative", "neutral", "positive"\]' \
        "$run/pipeline.resolved.yaml" || fail "inferred labels not in the snapshot"
grep -q '# weight_decay: 0.01  (default)' "$run/pipeline.resolved.yaml" ||
        fail "defaults not listed in the snapshot"
for w in "## Task \`sentiment\`" "| valid | macro_f1 |" "fingerprint" \
         "Intended use and limitations" "train: \`$tmp/data/quickstart-train.jsonl\` (300 rows)"; do
        grep -qF "$w" "$run/README.md" || fail "model card lacks '$w'"
done

# training again over a finished run is refused, and names the way out
if "$socfw" run "$tmp/p.yaml" >"$tmp/again.log" 2>&1; then
        fail "socfw run trained over a finished run"
fi
grep -q "already holds a trained run.*--force" "$tmp/again.log" ||
        { cat "$tmp/again.log"; fail "no hint about --force"; }

echo '{"text": "great, mail me at a@b.example"}' >"$tmp/in.jsonl"
"$socfw" predict "$run" --input "$tmp/in.jsonl" >"$tmp/before.jsonl" \
        2>"$tmp/err" || { cat "$tmp/err"; fail "predict on the run"; }

# move it: copy elsewhere, delete the original, the pipeline and the data
"$socfw" export "$run" "$tmp/shipped" 2>"$tmp/err" ||
        { cat "$tmp/err"; fail "export"; }
test ! -e "$tmp/shipped/state.safetensors" || fail "export copied the resume state"
cp -r "$tmp/shipped" "$tmp/moved"
rm -rf "$run" "$tmp/data" "$tmp/p.yaml" "$tmp/shipped"
"$socfw" predict "$tmp/moved" --input "$tmp/in.jsonl" >"$tmp/after.jsonl" \
        2>"$tmp/err" || { cat "$tmp/err"; fail "predict on the moved run"; }
cmp -s "$tmp/before.jsonl" "$tmp/after.jsonl" ||
        fail "the moved run predicts differently"
grep -q '"sentiment":{"label"' "$tmp/after.jsonl" || fail "no sentiment"
grep -q '<EMAIL>' "$tmp/after.jsonl" || fail "privacy stage did not run"

# serve it
"$socfw" serve "$tmp/moved" --port 0 2>"$tmp/serve.err" &
pid=$!
i=0
while ! grep -q "serving" "$tmp/serve.err"; do
        i=$((i + 1))
        [ $i -lt 300 ] || { cat "$tmp/serve.err"; fail "server did not start"; }
        kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.err"; fail "server died"; }
        sleep 0.1
done
url=$(sed -n 's/.*on \(http:[^ ]*\) .*/\1/p' "$tmp/serve.err")
if command -v python3 >/dev/null; then
        python3 - "$url" <<'PY' || fail "serve on the moved run"
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/predict",
                             data=b'{"text": "I love this"}')
with urllib.request.urlopen(req, timeout=30) as r:
    doc = json.loads(r.read())
assert r.status == 200 and doc["sentiment"]["label"] in (
    "negative", "neutral", "positive"), doc
PY
fi
kill -TERM "$pid"
wait "$pid" || fail "server exit status"
pid=

# a damaged file and a missing one are refused by name
cp "$tmp/moved/checkpoint/model.safetensors" "$tmp/ckpt"
printf 'x' >>"$tmp/moved/checkpoint/model.safetensors"
if "$socfw" predict "$tmp/moved" --input "$tmp/in.jsonl" >/dev/null 2>"$tmp/err"; then
        fail "predict accepted a damaged checkpoint"
fi
grep -q "moved/checkpoint/model.safetensors: damaged" "$tmp/err" ||
        { cat "$tmp/err"; fail "the damaged file is not named"; }
cp "$tmp/ckpt" "$tmp/moved/checkpoint/model.safetensors"
rm "$tmp/moved/backbone/tokenizer.json"
if "$socfw" predict "$tmp/moved" --input "$tmp/in.jsonl" >/dev/null 2>"$tmp/err"; then
        fail "predict accepted a run without its tokenizer"
fi
grep -q "moved/backbone/tokenizer.json: missing" "$tmp/err" ||
        { cat "$tmp/err"; fail "the missing file is not named"; }
echo "ok: moved run predicts and serves; damage named; no silent retraining"

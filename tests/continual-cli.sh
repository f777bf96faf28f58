#!/bin/sh
# Continual re-fine-tuning from the command line: a tiny pipeline trains a
# LoRA sentiment task (v1); `socfw run --continue` on new labelled data
# makes v2 and promotes it (predict changes); a continuation on the same
# data with its labels permuted is refused by the gate and v2 stays
# current (predict unchanged); rollback makes v1 current again; data with
# a label the task does not know and a gate set that overlaps the new data
# are refused before anything trains; `socfw serve` picks up a promotion on
# SIGHUP.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
socfw=$build/socfw
data=$src/configs/data

cat >"$tmp/p.yaml" <<EOF
socfw: 1
threads: 1
backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2, max_positions: 64,
           max_seq_len: 32, dropout: 0.0}
pretrain: {corpus: [$data/quickstart-corpus.txt], steps: 20, batch_size: 8,
           seq_len: 32, tokenizer: {vocab_size: 400}}
chain: [sentiment]
tasks:
  - name: sentiment
    plugin: sentiment
    head: {type: classifier, pooling: mean}
    adapter: {type: lora, rank: 4, alpha: 8, targets: [attn.q, attn.v]}
    labels: [negative, neutral, positive]
    data: {train: $data/quickstart-train.jsonl,
           valid: $data/quickstart-valid.jsonl, max_rows: 60}
train: {lr: 5.0e-3, epochs: 1, batch_size: 16, seed: 3}
continual: {replay: 0.5, holdout: 0.3, tolerance: 0.05, l2_sp: 0.01}
evaluate: {splits: [valid], baseline: false}
output: {dir: $tmp/run}
EOF
"$socfw" run "$tmp/p.yaml" >"$tmp/run.log" 2>&1 ||
        { tail -20 "$tmp/run.log"; fail "socfw run"; }
ad=$tmp/run/adapters/sentiment

# new labelled data: the test split (no text shared with the valid split,
# the default gate set)
new=$tmp/new.jsonl
sed -n '1,240p' "$data/quickstart-test.jsonl" >"$new"
printf '{"text": "predict me, I love it"}\n{"text": "awful, broken"}\n' \
        >"$tmp/posts.jsonl"
"$socfw" predict "$tmp/run" --input "$tmp/posts.jsonl" >"$tmp/pred1.jsonl" \
        2>/dev/null || fail "predict v1"

"$socfw" run "$tmp/p.yaml" --continue "$tmp/run" --data "$new" \
        --set train.epochs=3 >"$tmp/c1.out" 2>"$tmp/c1.err" ||
        { cat "$tmp/c1.out"; tail -20 "$tmp/c1.err"; fail "continued run"; }
grep -q "version 2 promoted" "$tmp/c1.out" || fail "v2 not promoted"
grep -q "L2-SP 0.01" "$tmp/c1.err" || fail "no L2-SP"
grep -q "240 rows (168 train, 72 held out) + 60 replayed" "$tmp/c1.err" ||
        { grep continuing "$tmp/c1.err"; fail "held-out part or replay"; }
[ "$(cat "$ad/current")" = 2 ] || fail "current is not 2"
for f in adapter_config.json adapter_model.safetensors head.safetensors \
         meta.json metrics.json; do
        test -s "$ad/versions/v2/$f" || fail "no versions/v2/$f"
done
grep -q '"decision": "promoted"' "$ad/versions/v2/metrics.json" ||
        fail "v2 metrics.json has no decision"
grep -q '"data_fingerprint"' "$ad/versions/v2/metrics.json" ||
        fail "v2 metrics.json has no data fingerprint"
grep -q '"decision": "adopted"' "$ad/versions/v1/metrics.json" ||
        fail "v1 is not the run's adapter"
cmp -s "$ad/adapter_model.safetensors" \
        "$ad/versions/v2/adapter_model.safetensors" ||
        fail "top-level adapter is not v2's"
test ! -e "$tmp/run/continual/sentiment.work" || fail "work dir left behind"
"$socfw" predict "$tmp/run" --input "$tmp/posts.jsonl" >"$tmp/pred2.jsonl" \
        2>/dev/null || fail "predict v2"
cmp -s "$tmp/pred1.jsonl" "$tmp/pred2.jsonl" &&
        fail "predict still gives v1's scores after the promotion"

# a bad update: the same data with its labels permuted
sed -e 's/"negative"/"NEG"/; s/"positive"/"negative"/; s/"neutral"/"positive"/; s/"NEG"/"neutral"/' \
        "$new" >"$tmp/bad.jsonl"
if "$socfw" run "$tmp/p.yaml" --continue "$tmp/run" --data "$tmp/bad.jsonl" \
        --set train.epochs=3 >"$tmp/c2.out" 2>"$tmp/c2.err"; then
        cat "$tmp/c2.out"; fail "the gate promoted shuffled labels"
fi
grep -q "version 3 refused, version 2 stays current: gate set" \
        "$tmp/c2.out" || { cat "$tmp/c2.out"; tail "$tmp/c2.err"; fail "no refusal with reasons"; }
[ "$(cat "$ad/current")" = 2 ] || fail "a refused version became current"
grep -q '"decision": "refused"' "$ad/versions/v3/metrics.json" ||
        fail "v3 metrics.json does not say refused"
"$socfw" predict "$tmp/run" --input "$tmp/posts.jsonl" >"$tmp/pred3.jsonl" \
        2>/dev/null || fail "predict after the refusal"
cmp -s "$tmp/pred2.jsonl" "$tmp/pred3.jsonl" ||
        fail "the refused version changed what predict serves"

"$socfw" adapter versions "$tmp/run" --task sentiment >"$tmp/versions.txt" ||
        fail "adapter versions"
grep -q '^\* v2 ' "$tmp/versions.txt" ||
        { cat "$tmp/versions.txt"; fail "versions: v2 not marked current"; }
grep -q 'v3 .*refused' "$tmp/versions.txt" || fail "versions: no v3"

# serve: started on v2, reloads v1 after a rollback on SIGHUP
py=$(command -v python3 || true)
if [ -n "$py" ]; then
        "$socfw" serve "$tmp/run" --port 0 2>"$tmp/serve.err" &
        pid=$!
        i=0
        while ! grep -q "serving" "$tmp/serve.err"; do
                i=$((i + 1))
                [ $i -lt 300 ] || { cat "$tmp/serve.err"; fail "serve"; }
                kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.err"; fail "serve died"; }
                sleep 0.1
        done
        url=$(sed -n 's/.*on \(http:[^ ]*\) .*/\1/p' "$tmp/serve.err")
        ask() { "$py" -c 'import sys, urllib.request as u
r = u.urlopen(u.Request(sys.argv[1] + "/v1/predict", data=b"{\"text\": \"awful, broken\"}"), timeout=30)
print(r.read().decode())' "$url"; }
        before=$(ask)
fi

"$socfw" adapter rollback "$tmp/run" --task sentiment >"$tmp/rb.out" ||
        fail "rollback"
grep -q "version 1 is current (was 2)" "$tmp/rb.out" || fail "rollback to v1"
"$socfw" predict "$tmp/run" --input "$tmp/posts.jsonl" >"$tmp/pred4.jsonl" \
        2>/dev/null || fail "predict after rollback"
cmp -s "$tmp/pred1.jsonl" "$tmp/pred4.jsonl" ||
        fail "after rollback predict does not give v1's scores again"

if [ -n "$py" ]; then
        kill -HUP "$pid"
        i=0
        while ! grep -q "reloaded: 1 adapter changed" "$tmp/serve.err"; do
                i=$((i + 1))
                [ $i -lt 100 ] || { cat "$tmp/serve.err"; fail "no reload"; }
                sleep 0.1
        done
        after=$(ask)
        [ "$before" != "$after" ] || fail "serve did not pick up the rollback"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        pid=
fi

# refused before training: unknown labels, an overlapping gate set
sed -e '3s/"[a-z]*"}$/"furious"}/; 7s/"[a-z]*"}$/"meh"}/' "$new" \
        >"$tmp/unknown.jsonl"
if "$socfw" run "$tmp/p.yaml" --continue "$tmp/run" \
        --data "$tmp/unknown.jsonl" >/dev/null 2>"$tmp/c3.err"; then
        fail "unknown labels accepted"
fi
grep -q "unknown.jsonl:[0-9]*:1: .*label.* the task does not know: .*'furious'" \
        "$tmp/c3.err" || { cat "$tmp/c3.err"; fail "unknown labels not named"; }
if "$socfw" run "$tmp/p.yaml" --continue "$tmp/run" --data "$new" \
        --set continual.gate="$data/quickstart-test.jsonl" \
        >/dev/null 2>"$tmp/c4.err"; then
        fail "an overlapping gate set was accepted"
fi
grep -q "also in the gate set" "$tmp/c4.err" ||
        { cat "$tmp/c4.err"; fail "overlap not explained"; }
# one continued run of a task at a time
if command -v flock >/dev/null; then
        if flock "$tmp/run/continual/sentiment.lock" "$socfw" run "$tmp/p.yaml" \
                --continue "$tmp/run" --data "$new" >/dev/null 2>"$tmp/c5.err"; then
                fail "a second continued run of the task ran at the same time"
        fi
        grep -q "another continued run of task 'sentiment' is in progress" \
                "$tmp/c5.err" || { cat "$tmp/c5.err"; fail "lock not explained"; }
fi
[ "$(ls "$ad/versions" | wc -l)" = 3 ] || fail "a refused input made a version"
echo "ok: v2 promoted, shuffled labels refused, rollback, serve reload, bad input refused"

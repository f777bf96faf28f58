#!/bin/sh
# Adapters from the command line, as a user meets them: a quickstart-like
# pipeline whose sentiment task trains a LoRA adapter writes it in PEFT's
# layout; `socfw logits --adapter` equals `socfw logits` on the model that
# `socfw adapter merge` writes; adding a second task and running again
# trains only that task and leaves the first task's files byte-identical.
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
socfw=$build/socfw
data=$src/configs/data

task_sentiment="  - name: sentiment
    plugin: sentiment
    head: {type: classifier, pooling: mean}
    adapter: {type: lora, rank: 4, alpha: 8, targets: [attn.q, attn.v]}
    labels: [negative, neutral, positive]
    data: {train: $data/quickstart-train.jsonl,
           valid: $data/quickstart-valid.jsonl, max_rows: 300}"
task_mood="  - name: mood
    plugin: sentiment
    adapter: {type: ia3}
    labels: [negative, neutral, positive]
    data: {train: $data/quickstart-train.jsonl,
           valid: $data/quickstart-valid.jsonl, max_rows: 300}"

pipeline() { # tasks...
        cat <<EOF
socfw: 1
threads: 1
backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2, max_positions: 64,
           max_seq_len: 32, dropout: 0.0}
pretrain: {corpus: [$data/quickstart-corpus.txt], steps: 20, batch_size: 8,
           seq_len: 32, tokenizer: {vocab_size: 400}}
tasks:
EOF
        for t in "$@"; do printf '%s\n' "$t"; done
        cat <<EOF
train: {lr: 5.0e-3, epochs: 1, batch_size: 32, seed: 3}
evaluate: {splits: [valid], baseline: false}
output: {dir: $tmp/run}
EOF
}

pipeline "$task_sentiment" >"$tmp/one.yaml"
"$socfw" run "$tmp/one.yaml" >"$tmp/run1.log" 2>&1 ||
        { tail -20 "$tmp/run1.log"; fail "socfw run (one task)"; }
ad=$tmp/run/adapters/sentiment
for f in adapter_config.json adapter_model.safetensors meta.json \
         head.safetensors; do
        test -s "$ad/$f" || fail "no $ad/$f"
done
grep -q '"peft_type": "LORA"' "$ad/adapter_config.json" ||
        fail "adapter_config.json is not a PEFT LoRA config"
grep -aq 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight' \
        "$ad/adapter_model.safetensors" || fail "no PEFT tensor names"

# the adapted model and the merged one give the same logits
"$socfw" adapter merge "$tmp/run" --task sentiment --output "$tmp/merged" \
        2>"$tmp/merge.err" || { cat "$tmp/merge.err"; fail "adapter merge"; }
ids="5 17 42 3 99"
"$socfw" logits --model "$tmp/run/backbone" --adapter "$ad" --ids "$ids" \
        >"$tmp/adapted.txt" || fail "logits --adapter"
"$socfw" logits --model "$tmp/merged" --ids "$ids" >"$tmp/merged.txt" ||
        fail "logits of the merged model"
"$socfw" logits --model "$tmp/run/backbone" --ids "$ids" >"$tmp/base.txt"
paste "$tmp/adapted.txt" "$tmp/merged.txt" "$tmp/base.txt" | awk '
        { d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d
          e = $1 - $3; if (e < 0) e = -e; if (e > b) b = e; n++ }
        END { printf "%d logits: |adapted - merged| %.3g, |adapted - base| %.3g\n",
                     n, m, b
              exit !(n > 0 && m < 1e-4 && b > 1e-4) }' ||
        fail "merged model differs from the adapted one (or the adapter does nothing)"
# merging again over it: refused without --force; with it the old model
# is swapped out and removed, nothing left beside the new one
"$socfw" adapter merge "$tmp/run" --task sentiment --output "$tmp/merged" \
        2>"$tmp/merge2.err" && fail "merge over an existing output without --force"
"$socfw" adapter merge "$tmp/run" --task sentiment --output "$tmp/merged" \
        --force 2>"$tmp/merge2.err" ||
        { cat "$tmp/merge2.err"; fail "adapter merge --force"; }
ls -d "$tmp"/merged.old-* "$tmp"/merged.tmp-* 2>/dev/null && fail "merge --force left files beside the output"
"$socfw" logits --model "$tmp/merged" --ids "$ids" | cmp -s - "$tmp/merged.txt" ||
        fail "merge --force wrote a different model"
"$socfw" adapter inspect "$ad" | grep -q "rank 8" ||
        fail "inspect: c_attn of rank 2 x 4 expected"

# a second task: only it trains, the first one's files stay as they were
sums=$(cd "$ad" && md5sum ./*)
pipeline "$task_sentiment" "$task_mood" >"$tmp/two.yaml"
"$socfw" run "$tmp/two.yaml" >"$tmp/run2.log" 2>&1 ||
        { tail -20 "$tmp/run2.log"; fail "socfw run (two tasks)"; }
grep -q "task sentiment: unchanged since it was trained" "$tmp/run2.log" ||
        fail "the first task was trained again"
test -s "$tmp/run/adapters/mood/adapter_model.safetensors" ||
        fail "the new task has no adapter"
[ "$(cd "$ad" && md5sum ./*)" = "$sums" ] ||
        fail "the first task's adapter files changed"
# a third task, prefix tuning through PEFT's projection MLP: its written
# adapter is folded (the computed rows, no MLP) and loads on its own
task_lead="  - name: lead
    plugin: sentiment
    adapter: {type: prefix, prefix_length: 4, prefix_projection: true,
              encoder_hidden_size: 16}
    labels: [negative, neutral, positive]
    data: {train: $data/quickstart-train.jsonl,
           valid: $data/quickstart-valid.jsonl, max_rows: 300}"
pipeline "$task_sentiment" "$task_mood" "$task_lead" >"$tmp/three.yaml"
"$socfw" run "$tmp/three.yaml" >"$tmp/run3.log" 2>&1 ||
        { tail -20 "$tmp/run3.log"; fail "socfw run (prefix projection)"; }
pa=$tmp/run/adapters/lead
grep -q '"prefix_projection": true' "$pa/adapter_config.json" ||
        fail "the folded prefix's config does not say prefix_projection"
"$socfw" adapter inspect "$pa" >"$tmp/inspect.txt"
grep -q "projection MLP of width 16" "$tmp/inspect.txt" &&
        grep -q "^parameters   512$" "$tmp/inspect.txt" ||
        { cat "$tmp/inspect.txt"; fail "inspect: 4 x 2 x 2 x 32 folded rows"; }
"$socfw" logits --model "$tmp/run/backbone" --adapter "$pa" --ids "$ids" \
        >"$tmp/prefixed.txt" || fail "logits --adapter (folded prefix)"
paste "$tmp/prefixed.txt" "$tmp/base.txt" | awk '
        { e = $1 - $2; if (e < 0) e = -e; if (e > b) b = e; n++ }
        END { exit !(n > 0 && b > 1e-4) }' ||
        fail "the folded prefix changes nothing"
# socfw validate refuses what socfw run would, before any pretraining:
# a site the from-scratch architecture lacks, named with its line
pipeline "$(printf '%s\n' "$task_sentiment" |
        sed 's/targets: \[attn.q, attn.v\]/targets: [mlp.gate]/')" \
        >"$tmp/bad.yaml"
if "$socfw" validate "$tmp/bad.yaml" >"$tmp/validate.out" 2>&1; then
        fail "validate accepted mlp.gate on GPT-2"
fi
grep -q "bad.yaml:[0-9]*:[0-9]*: .*mlp.gate" "$tmp/validate.out" ||
        { cat "$tmp/validate.out"; fail "validate: no file:line:col"; }
# prompt tuning as the pipeline's default adapter (backbone.adapter): it
# trains and predicts, inspect shows it, merge refuses it, validate
# refuses more virtual tokens than the positions leave room for
task_plain="  - name: cue
    plugin: sentiment
    labels: [negative, neutral, positive]
    data: {train: $data/quickstart-train.jsonl,
           valid: $data/quickstart-valid.jsonl, max_rows: 300}"
pipeline "$task_plain" | sed \
        -e 's|max_seq_len: 32, dropout: 0.0}|max_seq_len: 32, dropout: 0.0,\
           adapter: {type: prompt, num_virtual_tokens: 8, prompt_init: vocab}}|' \
        -e "s|$tmp/run|$tmp/prun|" >"$tmp/prompt.yaml"
"$socfw" run "$tmp/prompt.yaml" >"$tmp/prun.log" 2>&1 ||
        { tail -20 "$tmp/prun.log"; fail "socfw run (prompt tuning)"; }
pad=$tmp/prun/adapters/cue
grep -q '"peft_type": "PROMPT_TUNING"' "$pad/adapter_config.json" ||
        fail "adapter_config.json is not a PEFT prompt-tuning config"
grep -q '"prompt_tuning_init": "SAMPLE_VOCAB"' "$pad/adapter_config.json" ||
        fail "prompt_init: vocab is not PEFT's SAMPLE_VOCAB"
"$socfw" adapter inspect "$pad" >"$tmp/pinspect.txt"
grep -q "8 virtual tokens x 32" "$tmp/pinspect.txt" ||
        { cat "$tmp/pinspect.txt"; fail "inspect: no prompt line"; }
printf '{"text": "great service, love it"}\n{"text": "awful, broken"}\n' \
        >"$tmp/posts.jsonl"
"$socfw" predict "$tmp/prun" --task cue --input "$tmp/posts.jsonl" \
        >"$tmp/ppred.jsonl" \
        2>"$tmp/ppred.err" || { cat "$tmp/ppred.err"; fail "predict (prompt)"; }
[ "$(grep -c '"cue":{"label"' "$tmp/ppred.jsonl")" = 2 ] ||
        { cat "$tmp/ppred.jsonl"; fail "predict: no labels"; }
"$socfw" logits --model "$tmp/prun/backbone" --adapter "$pad" --ids "$ids" \
        >"$tmp/padapted.txt" || fail "logits --adapter (prompt)"
"$socfw" logits --model "$tmp/prun/backbone" --ids "$ids" >"$tmp/pbase.txt"
cmp -s "$tmp/padapted.txt" "$tmp/pbase.txt" &&
        fail "the prompt changes no logit"
if "$socfw" adapter merge "$tmp/prun" --task cue --output "$tmp/pmerged" \
        2>"$tmp/pmerge.err"; then
        fail "adapter merge accepted a prompt adapter"
fi
grep -q "prompt adapter .*cannot be folded" "$tmp/pmerge.err" ||
        { cat "$tmp/pmerge.err"; fail "merge: no clear refusal"; }
sed 's/num_virtual_tokens: 8/num_virtual_tokens: 40/' "$tmp/prompt.yaml" \
        >"$tmp/pbad.yaml"
if "$socfw" validate "$tmp/pbad.yaml" >"$tmp/pvalidate.out" 2>&1; then
        fail "validate accepted 40 virtual tokens + max_seq_len 32 in 64"
fi
grep -q "pbad.yaml:[0-9]*:[0-9]*: .*40 virtual tokens" "$tmp/pvalidate.out" ||
        { cat "$tmp/pvalidate.out"; fail "validate (prompt): no file:line:col"; }
# LoRA on the token embedding too (targets: [..., embed]): PEFT's
# lora_embedding_A/B of wte, inspect names it, logits --adapter moves, and
# merge refuses, since GPT-2's LM head is the embedding table; validate
# refuses embed on another type at its line
pipeline "$(printf '%s\n' "$task_sentiment" |
        sed 's/targets: \[attn.q, attn.v\]/targets: [attn.q, attn.v, embed]/')" |
        sed "s|$tmp/run|$tmp/erun|" >"$tmp/embed.yaml"
"$socfw" run "$tmp/embed.yaml" >"$tmp/erun.log" 2>&1 ||
        { tail -20 "$tmp/erun.log"; fail "socfw run (embedding LoRA)"; }
ead=$tmp/erun/adapters/sentiment
grep -aq 'base_model.model.transformer.wte.lora_embedding_A' \
        "$ead/adapter_model.safetensors" || fail "no lora_embedding_A of wte"
"$socfw" adapter inspect "$ead" | grep -q "wte .*rank 4 (token embedding, 400 rows)" ||
        { "$socfw" adapter inspect "$ead"; fail "inspect: no embedding line"; }
"$socfw" logits --model "$tmp/erun/backbone" --adapter "$ead" --ids "$ids" \
        >"$tmp/eadapted.txt" || fail "logits --adapter (embedding LoRA)"
"$socfw" logits --model "$tmp/erun/backbone" --ids "$ids" >"$tmp/ebase.txt"
cmp -s "$tmp/eadapted.txt" "$tmp/ebase.txt" &&
        fail "the embedding LoRA changes no logit"
if "$socfw" adapter merge "$tmp/erun" --task sentiment \
        --output "$tmp/emerged" 2>"$tmp/emerge.err"; then
        fail "adapter merge folded an embedding LoRA into a tied LM head"
fi
grep -q "LM head shares the embedding table" "$tmp/emerge.err" ||
        { cat "$tmp/emerge.err"; fail "merge (embedding): no clear refusal"; }
sed 's/type: lora, rank: 4, alpha: 8,/type: ia3,/' "$tmp/embed.yaml" \
        >"$tmp/ebad.yaml"
if "$socfw" validate "$tmp/ebad.yaml" >"$tmp/evalidate.out" 2>&1; then
        fail "validate accepted embed on an ia3 adapter"
fi
grep -q "ebad.yaml:[0-9]*:[0-9]*: .*embed .*LoRA target" "$tmp/evalidate.out" ||
        { cat "$tmp/evalidate.out"; fail "validate (embed): no file:line:col"; }
echo "ok: PEFT files, merge equals adapter, adding a task trains only it," \
        "a projected prefix is saved folded, prompt tuning, embedding LoRA"

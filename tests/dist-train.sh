#!/bin/sh
# Data-parallel training (socfw/dist.h): two MPI processes splitting every
# batch make the checkpoint one process makes with the whole batch, within
# float tolerance (the sums run in another order), and both processes end
# with the same bits.  Batches of 16 (8 + 8) and of 15 (8 + 7: the shares
# are weighted by their size).  Dropout (backbone and head) is off: its
# masks are still drawn per process.
set -eu
build=${SOCFW_BUILDDIR:?}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
grep -q "define HAVE_MPI 1" "$build/config.h" ||
        skip "socfw is built without MPI (install libopenmpi-dev; configure finds it)"
command -v mpirun >/dev/null || skip "no mpirun (install openmpi-bin)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
python3 - <<'PY'
import json, random
random.seed(3)
pos = ["great", "love", "awesome", "happy", "wonderful", "excellent"]
neg = ["awful", "hate", "terrible", "broken", "angry", "worst"]
fill = ["the", "phone", "order", "app", "today", "was", "my", "service"]
with open("corpus.txt", "w") as f:
    for i in range(300):
        f.write(" ".join([fill[i % 8], pos[i % 6], fill[(i // 8) % 8], neg[(i // 3) % 6]]) + "\n")
for name, n in (("train", 120), ("valid", 40)):
    with open(name + ".jsonl", "w") as f:
        for _ in range(n):
            p = random.random() < 0.5
            w = random.choice(pos if p else neg)
            f.write(json.dumps({"text": f"{random.choice(fill)} {w} {random.choice(fill)}",
                                "label": "positive" if p else "negative"}) + "\n")
PY
pipeline() { # batch size
        cat <<EOF2
socfw: 1
threads: 1
backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2, max_positions: 32, max_seq_len: 16, dropout: 0.0}
pretrain: {corpus: [corpus.txt], steps: 8, batch_size: 8, seq_len: 16, tokenizer: {vocab_size: 300}}
tasks:
  - name: sentiment
    plugin: sentiment
    head: {type: classifier, dropout: 0.0}
    labels: [negative, positive]
    data: {train: train.jsonl, valid: valid.jsonl}
train: {lr: 3.0e-3, epochs: 2, batch_size: $1, seed: 7}
EOF2
}
# Open MPI as root needs --allow-run-as-root; 2 processes on a small
# machine need --oversubscribe.  (LeakSanitizer would report Open MPI's
# own allocations.)
MPIRUN="mpirun --allow-run-as-root --oversubscribe -np 2"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
export OMPI_MCA_rmaps_base_oversubscribe=1
for B in 16 15; do
        pipeline $B >p$B.yaml
        "$build/tests/dist_train" p$B.yaml one$B || fail "one process, batch $B"
        $MPIRUN "$build/tests/dist_train" p$B.yaml two$B >mpi.log 2>&1 ||
                { cat mpi.log >&2; fail "two processes, batch $B"; }
        python3 - one$B/rank-0 two$B/rank-0 two$B/rank-1 <<'PY' || fail "batch $B: checkpoints differ"
import json, struct, sys
def tensors(run):
    b = open(run + "/checkpoint/model.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = struct.unpack("<%df" % ((e - s) // 4), data[s:e])
    return out
one, r0, r1 = (tensors(d) for d in sys.argv[1:4])
assert one.keys() == r0.keys() == r1.keys(), "different tensors"
worst = max(abs(a - b) for k in one for a, b in zip(one[k], r0[k]))
print("max |one process - two processes| = %.3g over %d tensors" % (worst, len(one)))
assert r0 == r1, "the two processes hold different weights"
assert worst < 5e-5, "two processes drifted from one: %g" % worst
PY
done
echo "ok: two MPI processes train as one"

#!/bin/sh
# Detector settings against the same synthetic streams: for each setting,
# recall, false alerts per 10,000 posts and the median detection delay,
# pooled over seeds 1-6 of tests/monitor-stream.py (100,000 posts, 8
# tickers, 24 episodes each).  The figures in doc/guide.md come from here.
#
#     bench/monitor-sweep.sh BUILD_DIR [WORK_DIR]
set -eu
build=${1:?usage: monitor-sweep.sh BUILD_DIR [WORK_DIR]}
work=${2:-$(mktemp -d)}
src=$(cd "$(dirname "$0")/.." && pwd)
for seed in 1 2 3 4 5 6; do
        [ -s "$work/s$seed.jsonl" ] ||
                python3 "$src/tests/monitor-stream.py" --posts 100000 \
                        --seed "$seed" --out "$work/s$seed.jsonl" \
                        --truth "$work/t$seed.json"
done
sweep() {
        name=$1
        shift
        for seed in 1 2 3 4 5 6; do
                "$build/bench/bench_monitor" "$work/s$seed.jsonl" \
                        "$work/t$seed.json" "$@"
        done | python3 -c '
import re, statistics, sys
found = total = false = posts = 0
delays, pdelays = [], []
for line in sys.stdin:
    m = re.match(r"posts (\d+)", line)
    if m:
        posts += int(m.group(1))
    m = re.search(r"recall [\d.]+ \((\d+)/(\d+)\)  false (\d+)", line)
    if m:
        found += int(m.group(1)); total += int(m.group(2))
        false += int(m.group(3))
    m = re.search(r"delay: (\d+) s .*; (\d+) posts", line)
    if m:
        delays.append(int(m.group(1))); pdelays.append(int(m.group(2)))
print("| %s | %.3f (%d/%d) | %.2f | %.0f s | %.0f |" % (
    sys.argv[1], found / total, found, total, false * 1e4 / posts,
    statistics.median(delays), statistics.median(pdelays)))
' "$name"
}
echo "| setting | recall | false / 10,000 posts | median delay | median delay (posts) |"
echo "|---|---|---|---|---|"
sweep "defaults (1 h tumbling, z 4, CUSUM h 5)"
sweep "z_threshold 3.5" --set monitor.detect.z_threshold=3.5
sweep "z_threshold 5, cusum_h 8" --set monitor.detect.z_threshold=5 \
        --set monitor.detect.cusum_h=8
sweep "EWMA only" --set "monitor.detect.detectors=[ewma]"
sweep "CUSUM only" --set "monitor.detect.detectors=[cusum]"
sweep "alpha 0.05" --set monitor.detect.alpha=0.05
sweep "30 min windows, min_volume 5" --set monitor.window.size=1800 \
        --set monitor.detect.min_volume=5
sweep "sliding 1 h every 15 min" --set monitor.window.type=sliding \
        --set monitor.window.step=900
sweep "sliding 1 h every 15 min, z 4.5" --set monitor.window.type=sliding \
        --set monitor.window.step=900 --set monitor.detect.z_threshold=4.5

#!/bin/sh
# What monitoring costs on the benchmark's workloads: each model's job from
# bench/run.sh's work directory (2M rows x 30 float64 features, Parquet) run
# with and without [monitor], alternating, ROUNDS rounds, against a
# reference built by `batchscore profile` from the bench's 10k-row sample.
#
#   tools/monitor-overhead-bench.sh [ROUNDS] [WORKDIR] [MODELS...]
#       (default: 11 bench/work logreg lgbm200 rf100 mlp)
#
# Run bench/run.sh once first (it makes WORKDIR's models and data). Prints
# the median wall seconds (from the run records) off and on per model, and
# the median CPU time when `perf` is installed. Needs a release build
# (honours CARGO_TARGET_DIR) and python3 for the JSON.
set -eu
rounds=${1:-11}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(cd "${2:-$repo/bench/work}" && pwd)
[ $# -gt 2 ] && shift 2 || set -- logreg lgbm200 rf100 mlp
target=${CARGO_TARGET_DIR:-$repo/target}
(cd "$repo" && cargo build --release --quiet --bin batchscore)
bin="$target/release/batchscore"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for m in "$@"; do
    src="$work/job_${m}_parquet.toml"
    [ -f "$src" ] || { echo "no $src: run bench/run.sh first" >&2; exit 66; }
    # Absolute paths: the jobs are written outside the work directory.
    for v in off on; do
        sed -e "s|^name = \"\(.*\)\"|name = \"\1_monitor_$v\"|" \
            -e "s|^model = \"\(.*\)\"|model = \"$work/\1\"|" \
            -e "s|^path = \"rows|path = \"$work/rows|" \
            -e "s|^path = \"out/\(.*\)\.parquet\"|path = \"$tmp/out/\1-$v.parquet\"|" \
            "$src" > "$tmp/${m}_$v.toml"
        printf 'state_dir = "%s/state"\n' "$tmp" | cat - "$tmp/${m}_$v.toml" > "$tmp/x" && mv "$tmp/x" "$tmp/${m}_$v.toml"
    done
    printf '[monitor]\nreference = "%s/ref_%s.json"\n' "$tmp" "$m" >> "$tmp/${m}_on.toml"
    "$bin" -qq profile "$tmp/${m}_on.toml" --input "$work/sample10k.csv" --out "$tmp/ref_$m.json" >/dev/null
done
perf=$(command -v perf || true)
for r in $(seq "$rounds"); do
    for m in "$@"; do
        for v in off on; do
            cpu=0
            if [ -n "$perf" ]; then
                cpu=$("$perf" stat -x, -e task-clock "$bin" -qq run "$tmp/${m}_$v.toml" --date 2026-11-02 --force 2>&1 >/dev/null | grep task-clock | cut -d, -f1)
            else
                "$bin" -qq run "$tmp/${m}_$v.toml" --date 2026-11-02 --force >/dev/null
            fi
            name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$tmp/${m}_$v.toml")
            python3 -c 'import json, sys; print(sys.argv[2], sys.argv[3], json.load(open(sys.argv[1]))["duration_seconds"], sys.argv[4])' \
                "$tmp/state/$name/2026-11-02.json" "$m" "$v" "$cpu" >> "$tmp/results.txt"
        done
    done
done
python3 - "$tmp/results.txt" <<'PY'
import collections, statistics, sys
wall, cpu = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    m, v, s, c = line.split()
    wall[m, v].append(float(s))
    cpu[m, v].append(float(c))
print("model     rounds  wall off   wall on   overhead   CPU off    CPU on")
for m in dict.fromkeys(k[0] for k in wall):
    off, on = statistics.median(wall[m, "off"]), statistics.median(wall[m, "on"])
    coff, con = statistics.median(cpu[m, "off"]), statistics.median(cpu[m, "on"])
    c = f"{coff:7.0f} ms {con:7.0f} ms" if coff else "        -         -"
    print(f"{m:<9} {len(wall[m, 'on']):>6}  {off:7.3f} s {on:7.3f} s  {100 * (on - off) / off:+6.1f}%   {c}")
PY

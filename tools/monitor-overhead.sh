#!/bin/sh
# What monitoring costs: `run` with and without [monitor] on the demo day
# (1,000 rows) and on a generated day of 2,000,000 rows x 30 float64
# features (Parquet, zstd, 100k-row row groups: the benchmark's shape),
# the demo model, alternating on/off, ROUNDS rounds each.
#
#   tools/monitor-overhead.sh [ROUNDS] [ROWS]      (default: 3 2000000)
#
# Prints each run's wall seconds (from the run record) and peak RSS, and
# the medians. Needs a release build (cargo build --release; honours
# CARGO_TARGET_DIR) and python3 for the JSON.
set -eu
rounds=${1:-3}
rows=${2:-2000000}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
cargo build --release --quiet --bin batchscore --example drift_workload
bin="$target/release/batchscore"
gen="$target/release/examples/drift_workload"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/demo"
cp data/models/demo.onnx "$work/"
"$gen" "$work/in/2026-11-02.parquet" "$rows" 2 >/dev/null
"$gen" "$work/reference.parquet" 200000 1 >/dev/null
cp data/input/2026-11-23.csv "$work/demo/2026-11-23.csv"

features=$(sed -n '/^columns = \[/,/^\]/p' jobs/demo.toml)
job() { # name input output monitor?
    {
        printf 'name = "%s"\nmodel = "demo.onnx"\ntimezone = "UTC"\nstate_dir = "out/_batchscore"\nkeep = ["customer_id", "region"]\n' "$1"
        printf '[input]\npath = "%s"\n[features]\n%s\n' "$2" "$features"
        printf '[outputs]\nlabel = "output_label"\np_malignant = "output_probability[0]"\np_benign = "output_probability[1]"\n'
        printf '[output]\npath = "%s"\n' "$3"
        [ "$4" = on ] && printf '[monitor]\nreference = "reference.json"\n'
        true
    } > "$work/$1.toml"
}
job big-off "in/%Y-%m-%d.parquet" "out/off/%Y-%m-%d.parquet" off
job big-on "in/%Y-%m-%d.parquet" "out/on/%Y-%m-%d.parquet" on
job demo-off "demo/%Y-%m-%d.csv" "out/demo-off/%Y-%m-%d.csv" off
job demo-on "demo/%Y-%m-%d.csv" "out/demo-on/%Y-%m-%d.csv" on
"$bin" -qq profile "$work/big-on.toml" --input "$work/reference.parquet" --out "$work/reference.json" >/dev/null

results="$work/results.txt"
for r in $(seq "$rounds"); do
    for v in off on; do
        for w in demo big; do
            date=2026-11-02
            [ "$w" = demo ] && date=2026-11-23
            "$bin" -qq run "$work/$w-$v.toml" --date "$date" --force >/dev/null
            python3 - "$work/out/_batchscore/$w-$v/$date.json" "$w" "$v" "$r" >> "$results" <<'PY'
import json, sys
rec = json.load(open(sys.argv[1]))
m = rec.get("peak_memory") or {}
print(sys.argv[2], sys.argv[3], sys.argv[4], rec["duration_seconds"], m.get("rss_bytes", 0) >> 20, rec["rows"]["scored"])
PY
        done
    done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print("workload  monitor  round  seconds  peak RSS MB  rows")
for w, v, r, s, m, n in rows:
    print(f"{w:<9} {v:<8} {r:>5}  {float(s):7.3f}  {m:>11}  {n}")
for w in ("demo", "big"):
    off = statistics.median(float(s) for x, v, r, s, m, n in rows if x == w and v == "off")
    on = statistics.median(float(s) for x, v, r, s, m, n in rows if x == w and v == "on")
    moff = max(int(m) for x, v, r, s, m, n in rows if x == w and v == "off")
    mon = max(int(m) for x, v, r, s, m, n in rows if x == w and v == "on")
    print(f"{w}: median {off:.3f} s off, {on:.3f} s on: {100 * (on - off) / off:+.1f}%; peak RSS {moff} MB off, {mon} MB on")
PY

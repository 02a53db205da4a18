#!/usr/bin/env bash
# One command: venv, release build, workload, then batchscore and the Python
# peers side by side, alternating, with a results table at the end.
#   bench/run.sh [--rows N] [--reps 3] [--models logreg,lgbm200,rf100,mlp] [--formats parquet,csv]
# Files go to bench/work, or to $BENCH_WORK. LightGBM models also run
# polars+lleaves (LightGBM compiled through LLVM).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
cargo build --release --bin batchscore --example model_bench
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
# (Re)installed when requirements.txt differs from what the venv was made
# with, so a venv from before a new pin (lleaves) gets it.
if ! cmp -s "$here/requirements.txt" "$here/.venv/requirements.txt"; then
  "$here/.venv/bin/pip" install -q -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$here/.venv/requirements.txt"
fi
rows=2000000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = "--rows" ]; then rows="${args[$((i + 1))]}"; fi
done
"$here/.venv/bin/python" "$here/make_workload.py" --rows "$rows"
exec "$here/.venv/bin/python" "$here/run.py" "$@"

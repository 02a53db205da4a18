#!/usr/bin/env bash
# One command: venv, release build, workload, then batchscore and the Python
# peers side by side, alternating, with a results table at the end.
#   bench/run.sh [--rows N] [--reps 3] [--models logreg,lgbm200,rf100,mlp] [--formats parquet,csv]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
cargo build --release --bin batchscore --example model_bench
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install -q -r "$here/requirements.txt"
fi
rows=2000000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = "--rows" ]; then rows="${args[$((i + 1))]}"; fi
done
"$here/.venv/bin/python" "$here/make_workload.py" --rows "$rows"
exec "$here/.venv/bin/python" "$here/run.py" "$@"

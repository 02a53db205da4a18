#!/bin/sh
# Mutation testing of the modules that carry batchscore's promises, scoped
# to fit a 2-core machine in well under an hour (docs/mutants.md has the
# scope, the score and every survivor with its reason). Not part of CI.
#
#   tools/mutants.sh [OUT_DIR]        (default: mutants-out; needs cargo-mutants)
#
# --in-place mutates this checkout's files one at a time and restores each;
# run it in a clean worktree (git worktree add), not where you are editing.
# Honours CARGO_TARGET_DIR.
set -eu
cd "$(dirname "$0")/.."
out=${1:-mutants-out}
command -v cargo-mutants >/dev/null || { echo "mutants.sh: cargo install --locked cargo-mutants" >&2; exit 2; }
# Compound assignments (x *= y, x -= y) are left out: in these files they
# are counters and offsets whose other mutants already cover them.
skip='with \*=|with -='
# The row accounting, the commit, the dates, the records and locks, the split modes.
cargo mutants --in-place --no-shuffle --timeout 300 -o "$out/promises" --exclude-re "$skip" \
    -f src/run.rs -f src/quarantine.rs -f src/output.rs -f src/cmd/backfill.rs -f src/clock.rs \
    -f src/ledger.rs -f src/ml/tree/parse.rs \
    --re 'score_all|execute|BadRows.*(keep_mask|len|first)|Finished|AtomicFile::commit|sweep_stale|backfill_dates|catchup_dates|RunDateRule::(scored_on|fires_for|date_at)|Ledger::(lock|done)|mode_of' \
    -- -- --skip zoo --skip memory
# The tree kernel's split decision and the post-transforms, with the zoo's onnxruntime parity.
cargo mutants --in-place --no-shuffle --timeout 300 -o "$out/tree" --exclude-re "$skip" \
    -f src/ml/tree/node.rs -f src/ml/tree/finalize.rs \
    --re 'decide|whole_below_mask|transform|logistic' \
    -- -- --skip memory
# The schedule's firings and the Parquet guard's range and page checks.
cargo mutants --in-place --no-shuffle --timeout 300 -o "$out/schedule-guard" --exclude-re "$skip" \
    -f src/schedule.rs -f src/parquet_guard.rs \
    --re 'fires_on|upcoming|check_groups' \
    -- -- --skip zoo --skip memory

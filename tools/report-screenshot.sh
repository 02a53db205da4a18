#!/bin/sh
# Renders the drift report of a drifted demo day and screenshots it in a
# real headless browser, at a desktop and a phone width, to check by eye
# that it looks right (the tests only check that it is well-formed).
#
#   tools/report-screenshot.sh [OUT_DIR]     (default: out/report-screenshot)
#
# Needs chromium (Debian: apt-get install chromium). Makes, in a scratch
# copy of the demo: the reference's day and the demo day as they are, then
# 2026-11-24: the demo day with "mean area" in other units (x100), "mean
# texture" blank on one row in thirty, and runs all three, so the report
# has checks that fire and a three-point trend. Writes OUT_DIR/report.html,
# OUT_DIR/desktop.png (1280 wide) and OUT_DIR/narrow.png (390 wide).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$repo/out/report-screenshot"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no chromium on PATH (apt-get install chromium)" >&2; exit 1; }

cd "$repo"
cargo build --quiet
bin="${CARGO_TARGET_DIR:-$repo/target}/debug/batchscore"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/jobs" "$work/data/models" "$work/data/input" "$work/data/reference"
cp data/models/demo.onnx "$work/data/models/"
cp data/input/2026-11-22.csv data/input/2026-11-23.csv "$work/data/input/"
cp data/reference/demo.profile.json "$work/data/reference/"
# Room for the blank cells: they are rejected rows, and the demo allows 1%.
sed 's/^max_rejected = "1%"/max_rejected = "5%"/' jobs/demo.toml > "$work/jobs/demo.toml"
awk -F, -v OFS=, '
    NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "mean area") a = i; if ($i == "mean texture") t = i }; print; next }
    { $a = sprintf("%.2f", $a * 100); if (NR % 30 == 0) $t = ""; print }
' data/input/2026-11-23.csv > "$work/data/input/2026-11-24.csv"

for d in 2026-11-22 2026-11-23 2026-11-24; do
    "$bin" -qq run "$work/jobs/demo.toml" --date "$d" >/dev/null
done
"$bin" -q report "$work/jobs/demo.toml" --date 2026-11-24 --out "$out/report.html" >/dev/null

shot() {
    profile=$(mktemp -d)
    # No network, no first-run chatter: the page must stand alone.
    "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --hide-scrollbars --user-data-dir="$profile" \
        --screenshot="$1" --window-size="$2" "file://$out/report.html" 2>/dev/null || true
    rm -rf "$profile"
    [ -s "$1" ] || { echo "chromium made no screenshot $1" >&2; exit 1; }
}
shot "$out/desktop.png" 1280,1600
shot "$out/narrow.png" 390,1600
echo "$out/report.html"
echo "$out/desktop.png"
echo "$out/narrow.png"

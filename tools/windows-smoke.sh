#!/usr/bin/env bash
# Windows smoke test: cross-builds the release binary for x86_64-pc-windows-gnu
# and runs it under wine through what a Windows user does (README, Development).
# Every output is compared with the Linux binary's on the same input; exit
# codes and files are what Linux gives (tests/ check those on Linux). Exits
# non-zero on any difference.
#
# Opt-in, not part of .ci/run: each release build takes ~20 minutes on an
# idle 2-core machine the first time (over an hour under load), seconds after.
#
# Needs: the rustup target x86_64-pc-windows-gnu, Debian's gcc-mingw-w64-x86-64
# and wine64 (wine 8). Environment: CARGO_TARGET_DIR as for cargo;
# SMOKE_LINUX_BIN, a Linux release binary of the same source to compare with
# (default: build one in CARGO_TARGET_DIR); SMOKE_DIR, the scratch directory
# (default: a new one under /tmp, removed on success); SMOKE_ROWS, rows of
# the generated slow day (default 500000), for the tests that stop a run
# midway.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

missing=()
rustup target list --installed 2>/dev/null | grep -qx x86_64-pc-windows-gnu || missing+=("rustup target add x86_64-pc-windows-gnu")
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=("apt-get install gcc-mingw-w64-x86-64")
wine=$(command -v wine64 || true)
[ -n "$wine" ] || { [ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64; } || true
[ -n "$wine" ] || missing+=("apt-get install wine64")
if [ ${#missing[@]} -gt 0 ]; then
    printf 'windows-smoke: missing tools; install them with:\n' >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 2
fi

start=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - start)); }
failures=0
ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...: ok if the command succeeds
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}

step "build: Linux release (the reference) and Windows release"
target_dir=${CARGO_TARGET_DIR:-$repo/target}
lin_exe=${SMOKE_LINUX_BIN:-$target_dir/release/batchscore}
[ -n "${SMOKE_LINUX_BIN:-}" ] || nice -n 10 cargo build --release --locked --quiet
nice -n 10 cargo build --release --locked --quiet --target x86_64-pc-windows-gnu
win_exe=$target_dir/x86_64-pc-windows-gnu/release/batchscore.exe
ls -l "$win_exe" | awk '{print $5, $NF}'

smoke=${SMOKE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/batchscore-wine.XXXXXX")}
mkdir -p "$smoke"
export WINEPREFIX=$smoke/prefix WINEDEBUG=-all WINEARCH=win64
# No Mono or Gecko install prompts, no window: batchscore is a console program.
export WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
# Debian's /usr/lib/wine/wine64 needs to know it is the loader when run directly.
export WINELOADER=$wine
wineserver=$(command -v wineserver || echo "$(dirname "$wine")/wineserver")
bg_pids=()
cleanup() {
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    "$wineserver" -k 2>/dev/null || true
}
trap cleanup EXIT

step "wine prefix and the test-only bcryptprimitives.dll"
"$wine" --version
"$wine" wineboot --init >/dev/null 2>&1
drive_c=$WINEPREFIX/drive_c
# The shim goes beside the exe in the scratch directory only: users install
# batchscore.exe alone (see tools/wine/*.c for why wine needs it).
shim=$smoke/bcryptprimitives.dll
x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -shared -o "$shim" \
    tools/wine/processprng.c tools/wine/sigget.c -ladvapi32
x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -o "$smoke/holdopen.exe" tools/wine/holdopen.c

# A Linux tree and a Windows tree with the same job files and data; the
# Windows one is reached through Z:\, as wine maps / there.
for t in lin zwin; do
    mkdir -p "$smoke/$t"
    cp -r jobs data "$smoke/$t/"
done
cp "$win_exe" "$shim" "$smoke/zwin/"
zpath() { local p=${1//\//\\}; printf 'Z:%s' "$p"; }
mkdir -p "$smoke/log"
# lin/win ARGS...: the Linux binary, or batchscore.exe under wine, in its tree.
lin() { (cd "$smoke/lin" && exec "$lin_exe" "$@"); }
win() { (cd "$smoke/zwin" && exec "$wine" "$smoke/zwin/batchscore.exe" "$@"); }
# expect CODE NAME COMMAND...: runs it, keeps stdout and stderr in log/NAME.{out,err}.
expect() {
    local want=$1 name=$2 got=0
    shift 2
    "$@" >"$smoke/log/$name.out" 2>"$smoke/log/$name.err" || got=$?
    if [ "$got" = "$want" ]; then
        ok "$name: exit $got"
    else
        fail "$name: exit $got, expected $want; stderr:"
        sed 's/^/     /' "$smoke/log/$name.err" | tail -n 20
    fi
}
same() { # same DESCRIPTION LINUX_FILE WINDOWS_FILE
    if [ -f "$3" ] && cmp -s "$2" "$3"; then ok "$1"; else fail "$1: $3 differs from $2"; fi
}
has() { grep -qF -- "$2" "$1"; }
# The error line of a run's log, for the record of what Windows said.
show_error() { { grep -o 'error: .*' "$1" || echo "(no error line)"; } | sed 's/^/     /'; }

zjob=$(zpath "$smoke/zwin/jobs/demo.toml")
day=2026-11-23

step "the demo day through $zjob"
expect 0 lin-run lin run jobs/demo.toml --date $day
expect 0 win-run win run "$zjob" --date $day
same "scores equal Linux's" "$smoke/lin/out/demo/scores-$day.csv" "$smoke/zwin/out/demo/scores-$day.csv"
check "stdout names the output" has "$smoke/log/win-run.out" "scores-$day.csv"
check "run record says success" has "$smoke/zwin/out/demo/_batchscore/demo/$day.json" '"status": "success"'
check "metrics textfile written" has "$smoke/zwin/out/demo/batchscore_demo.prom" 'batchscore_last_run_success{job="demo"} 1'

step "rerun is a no-op"
before=$(stat -c '%i %Y' "$smoke/zwin/out/demo/scores-$day.csv")
expect 0 win-rerun win run "$zjob" --date $day
check "output untouched" test "$before" = "$(stat -c '%i %Y' "$smoke/zwin/out/demo/scores-$day.csv")"
check "says already done" has "$smoke/log/win-rerun.err" "already done"

step "a missing day"
expect 66 lin-missing lin run jobs/demo.toml --date 2026-11-20
expect 66 win-missing win run "$zjob" --date 2026-11-20
check "names the expanded path" has "$smoke/log/win-missing.err" '2026-11-20.csv'

step "backfill prints its summary"
expect 0 lin-backfill lin backfill jobs/demo.toml --from 2026-11-22 --to $day
expect 0 win-backfill win backfill "$zjob" --from 2026-11-22 --to $day
cat "$smoke/log/win-backfill.out"
# Everything but the seconds column, which is timing.
table() { awk '{ $NF = ""; print }' "$1"; }
check "summary equals Linux's (but for seconds)" \
    cmp -s <(table "$smoke/log/lin-backfill.out") <(table "$smoke/log/win-backfill.out")

step "a day as 4 shards, committed by a hard link"
# --force: backfill scored the day whole; the shards redo it as parts.
for i in 0 1 2 3; do
    expect 0 "lin-shard-$i" lin run jobs/demo.toml --date 2026-11-22 --shard "$i/4" --force
    expect 0 "win-shard-$i" win run "$zjob" --date 2026-11-22 --shard "$i/4" --force
done
for i in 0 1 2 3; do
    part=out/demo/scores-2026-11-22/part-0000$i-of-00004.csv
    same "part $i equals Linux's" "$smoke/lin/$part" "$smoke/zwin/$part"
done
check "the last shard committed the date" has "$smoke/log/win-shard-3.err" "date committed"
check "_SUCCESS counts every row" has "$smoke/zwin/out/demo/scores-2026-11-22/_SUCCESS" '"scored": 1000'
expect 0 win-shard-rerun win run "$zjob" --date 2026-11-22 --shard 1/4
check "a rerun shard finds the date done" has "$smoke/log/win-shard-rerun.err" "already done"
same "2026-11-22 scores equal Linux's" "$smoke/lin/out/demo/scores-2026-11-22.csv" "$smoke/zwin/out/demo/scores-2026-11-22.csv"

step "--force over an existing output, and over one a reader holds open"
out=$smoke/zwin/out/demo/scores-$day.csv
echo stale >"$out"
inode=$(stat -c %i "$out")
expect 0 win-force win run "$zjob" --date $day --force
same "the forced output replaced the stale file" "$smoke/lin/out/demo/scores-$day.csv" "$out"
check "replaced by a rename (new file), not rewritten in place" test "$inode" != "$(stat -c %i "$out")"
check "no temporary file left" test -z "$(find "$smoke/zwin/out/demo" -maxdepth 1 -name '*.tmp')"
# Windows only: a reader that does not share delete access (Excel does not)
# pins the file, so the rename fails; batchscore must say so and leave the old
# output whole.
"$wine" "$smoke/holdopen.exe" "$(zpath "$out")" 30 >"$smoke/log/holdopen.out" 2>&1 &
hold_pid=$!
bg_pids+=("$hold_pid")
for _ in $(seq 100); do has "$smoke/log/holdopen.out" holding && break; sleep 0.1; done
expect 74 win-force-held win run "$zjob" --date $day --force
show_error "$smoke/log/win-force-held.err"
kill -KILL "$hold_pid" 2>/dev/null || true
wait "$hold_pid" 2>/dev/null || true
same "the held output is whole and unchanged" "$smoke/lin/out/demo/scores-$day.csv" "$out"
check "no temporary file left" test -z "$(find "$smoke/zwin/out/demo" -maxdepth 1 -name '*.tmp')"
expect 0 win-force-again win run "$zjob" --date $day --force

step "a job file with CRLF line endings and backslash paths"
# The demo job as a Windows editor would leave it: the relative paths with
# backslashes (TOML literal strings, where a backslash is just a character),
# writing to its own directory.
awk '
    /^name = / { $0 = "name = \"crlf\"" }
    match($0, /"\.\.\/[^"]*"/) {
        v = substr($0, RSTART + 1, RLENGTH - 2)
        sub("/demo/", "/crlf/", v)
        gsub("/", "\\", v)
        $0 = substr($0, 1, RSTART - 1) "'\''" v "'\''" substr($0, RSTART + RLENGTH)
    }
    { printf "%s\r\n", $0 }
' jobs/demo.toml >"$smoke/zwin/jobs/crlf.toml"
grep -E "^(model|path) " "$smoke/zwin/jobs/crlf.toml" | cat -A | sed 's/^/     /'
check "the job file has CRLF line endings" test "$(grep -c $'\r$' "$smoke/zwin/jobs/crlf.toml")" = "$(wc -l <jobs/demo.toml)"
expect 0 win-crlf win run "$(zpath "$smoke/zwin/jobs/crlf.toml")" --date $day
same "scores equal Linux's" "$smoke/lin/out/demo/scores-$day.csv" "$smoke/zwin/out/crlf/scores-$day.csv"
check "run record beside the output" test -f "$smoke/zwin/out/crlf/_batchscore/crlf/$day.json"

step "the Task Scheduler action of deploy/windows-task.xml, as written"
xml=$(iconv -f UTF-16 -t UTF-8 deploy/windows-task.xml | tr -d '\r')
tag() { sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" <<<"$xml"; }
command=$(tag Command) arguments=$(tag Arguments) workdir=$(tag WorkingDirectory)
printf '     Command: %s\n     Arguments: %s\n     WorkingDirectory: %s\n' "$command" "$arguments" "$workdir"
case "$command$arguments$workdir" in
*'"'* | *"'"*) fail "the action quotes something: this script splits Arguments on spaces only" ;;
esac
# C:\x\y is $drive_c/x/y.
cpath() { local p=${1#[Cc]:\\}; printf '%s/%s' "$drive_c" "${p//\\//}"; }
job_arg=$(tr ' ' '\n' <<<"$arguments" | grep -i '\.toml$')
install_dir=$(dirname "$(cpath "$command")")
mkdir -p "$install_dir" "$(dirname "$(cpath "$job_arg")")" "$(cpath "$workdir")"
cp "$win_exe" "$(cpath "$command")"
cp "$shim" "$install_dir/"
cp jobs/demo.toml "$(cpath "$job_arg")"
cp -r data "$(dirname "$(dirname "$(cpath "$job_arg")")")/"
# 03:00 in London on the 24th: 02:30 has passed, so the 23rd is due. No run
# has succeeded in this install, so catchup scores that one date.
read -ra argv <<<"$arguments"
expect 0 win-task env BATCHSCORE_NOW=2026-11-24T03:00:00Z \
    bash -c 'cd "$1" && shift && exec "$@"' _ "$(cpath "$workdir")" "$wine" "$command" "${argv[@]}"
cat "$smoke/log/win-task.out"
task_out=$drive_c/batchscore/out/demo
same "scores equal Linux's" "$smoke/lin/out/demo/scores-$day.csv" "$task_out/scores-$day.csv"
check "every log line on stderr is JSON" \
    test -z "$(grep -v '^{.*}$' "$smoke/log/win-task.err" | grep -v '^$' || true)"
check "log_file written" test -n "$(find "$task_out/logs" -type f -size +0)"
expect 0 win-task-again env BATCHSCORE_NOW=2026-11-24T03:00:00Z \
    bash -c 'cd "$1" && shift && exec "$@"' _ "$(cpath "$workdir")" "$wine" "$command" "${argv[@]}"
check "the next start has nothing to catch up" has "$smoke/log/win-task-again.err" "nothing to catch up"

step "a second run while the first holds the lock; Ctrl+C; a hard stop"
# A day big enough to take seconds under wine, in small chunks, so that the
# tests below catch the run midway.
slow=2026-11-25 rows=${SMOKE_ROWS:-500000}
for t in lin zwin; do
    mkdir -p "$smoke/$t/data/slow"
    awk -v rows="$rows" 'NR == 1 { print; next } { r[n++] = $0 } END { for (i = 0; i < rows; i++) print r[i % n] }' \
        data/input/$day.csv >"$smoke/$t/data/slow/$slow.csv"
    sed -e 's/^name = .*/name = "slow"/' -e 's/^chunk_rows = .*/chunk_rows = 500/' \
        -e 's:\.\./data/input/:../data/slow/:' -e 's:\.\./out/demo/:../out/slow/:' \
        jobs/demo.toml >"$smoke/$t/jobs/slow.toml"
done
expect 0 lin-slow lin run jobs/slow.toml --date $slow
zslow=$(zpath "$smoke/zwin/jobs/slow.toml")
slow_out=$smoke/zwin/out/slow
# start_slow NAME: a background run of the slow day; waits until it writes its temporary output.
start_slow() {
    # Not through win(): a function in the background is a subshell of its
    # own, and the signals below must reach the process itself.
    (cd "$smoke/zwin" && exec "$wine" "$smoke/zwin/batchscore.exe" run "$zslow" --date $slow --threads 1) \
        >"$smoke/log/$1.out" 2>"$smoke/log/$1.err" &
    slow_pid=$!
    bg_pids+=("$slow_pid")
    for _ in $(seq 600); do
        [ -n "$(find "$slow_out" -maxdepth 1 -name '*.tmp' 2>/dev/null)" ] && return 0
        kill -0 "$slow_pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "$1: the run never started writing (or ended first: raise SMOKE_ROWS)"
    return 1
}
# finish NAME WANT: waits for the background run; checks its exit code.
finish() {
    local got=0
    wait "$slow_pid" || got=$?
    if [ "$got" = "$2" ]; then ok "$1: exit $got"; else fail "$1: exit $got, expected $2"; sed 's/^/     /' "$smoke/log/$1.err" | tail -n 20; fi
}
if start_slow win-slow-a; then
    expect 75 win-locked win run "$zslow" --date $slow
    show_error "$smoke/log/win-locked.err"
    # wine turns SIGINT into the console's CTRL_C_EVENT, which Ctrl+C sends on Windows.
    kill -INT "$slow_pid"
    finish win-slow-a 130
    check "says nothing was committed" has "$smoke/log/win-slow-a.err" "nothing committed"
    check "no output, no temporary file" test -z "$(find "$slow_out" -maxdepth 1 -name "*$slow*")"
    check "run record says failed, exit 130" has "$slow_out/_batchscore/slow/$slow.json" '"exit_code": 130'
fi
# Closing the console window, logging off, Task Scheduler's "End" and its
# time limit end the process without running batchscore's handlers (see
# README, Scheduling). wine cannot close a console; SIGKILL ends the process
# the same way: nothing of batchscore runs.
if start_slow win-slow-b; then
    kill -KILL "$slow_pid"
    wait "$slow_pid" 2>/dev/null || true
    check "hard stop: no output" test ! -e "$slow_out/scores-$slow.csv"
    printf '     left behind: %s\n' "$(cd "$slow_out" && ls -A | grep -v '^_batchscore$' | tr '\n' ' ')"
    expect 0 win-slow-c win run "$zslow" --date $slow
    same "the next run scores the day as Linux does" "$smoke/lin/out/slow/scores-$slow.csv" "$slow_out/scores-$slow.csv"
    check "and leaves no temporary file" test -z "$(find "$slow_out" -maxdepth 1 -name '*.tmp')"
fi

step "done"
trap - EXIT
cleanup
if [ "$failures" -gt 0 ]; then
    printf 'windows-smoke: %d FAILED; files in %s\n' "$failures" "$smoke"
    exit 1
fi
printf 'windows-smoke: all passed in %ds\n' $((SECONDS - start))
[ -n "${SMOKE_DIR:-}" ] || rm -rf "$smoke"

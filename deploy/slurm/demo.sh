#!/usr/bin/env bash
# A one-node Slurm cluster on this Debian machine, and the demo day scored on
# it by deploy/slurm/batchscore.sbatch: a 4-task array, one shard per task.
#
#   deploy/slurm/demo.sh [--fresh] [--cluster-only] [-- SBATCH_OPTION...]
#
#   --fresh         remove the demo date's sharded output and run records
#                   first, so every shard scores again
#   --cluster-only  set up and start the cluster, submit nothing
#   -- ...          more sbatch options, which win over the script's #SBATCH
#                   lines: -- --cpus-per-task=1 runs two shards at once on
#                   two cores, where the script's 2 CPUs run one at a time
#
# Environment:
#   BATCHSCORE  the binary (default: $CARGO_TARGET_DIR/release/batchscore,
#               else target/release/batchscore; build it first, this script
#               builds nothing)
#   RUN_DATE    the date to score (default: 2026-11-23, a day in data/input/)
#
# Run as root on Debian 12 (Slurm 22.05). It installs slurm-wlm, munge,
# slurmdbd and mariadb-server if missing, writes /etc/slurm/slurm.conf and
# /etc/slurm/slurmdbd.conf unless they exist, and starts munged, MariaDB,
# slurmdbd, slurmctld and slurmd, or reuses those already running: a second
# run only submits. The cluster stays up afterwards; each daemon logs under
# /var/log/slurm/. The script exits with sbatch's code: the highest exit code
# of the array's tasks.
set -euo pipefail

die() { echo "demo.sh: $*" >&2; exit 1; }
say() { printf '\n== %s\n' "$*"; }

fresh=0
cluster_only=0
while [ "$#" -gt 0 ]; do
    case $1 in
        --fresh) fresh=1 ;;
        --cluster-only) cluster_only=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done
# What is left goes to sbatch, before the script: it overrides its #SBATCH lines.
sbatch_args=("$@")

[ "$(id -u)" -eq 0 ] || die "run as root: it installs packages and starts daemons"

# The job file's paths, and so the output, are relative to the repository
# root, and Slurm starts each task in the directory sbatch was run from.
cd "$(dirname "$0")/../.."

node=$(hostname -s)
run_date=${RUN_DATE:-2026-11-23}
job_file=jobs/demo.toml
# Where jobs/demo.toml puts them: its output file without the extension,
# and the default state_dir (_batchscore beside the output) / the job's name.
out_dir=out/demo/scores-$run_date
records=out/demo/_batchscore/demo
log_dir=out/demo/slurm

if [ "$cluster_only" -eq 0 ]; then
    if [ -n "${BATCHSCORE:-}" ]; then
        bin=$BATCHSCORE
    elif [ -n "${CARGO_TARGET_DIR:-}" ]; then
        bin=$CARGO_TARGET_DIR/release/batchscore
    else
        bin=target/release/batchscore
    fi
    # Absolute, so that it does not depend on the directory a task starts in.
    case $bin in
        /*) ;;
        */*) bin=$PWD/$bin ;;
        *) bin=$(command -v "$bin") || die "$bin: not on PATH" ;;
    esac
    [ -x "$bin" ] || die "$bin: no such executable (build it first: cargo build --release)"
fi

# --- packages ---------------------------------------------------------------

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# slurmdbd and MariaDB only serve sacct: without an accounting database
# sacct answers "Slurm accounting storage is disabled".
missing=()
for pkg in slurm-wlm munge slurmdbd mariadb-server; do
    installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- configuration ----------------------------------------------------------

# An existing file is kept: it is either ours from an earlier run or a real
# cluster's, which is not ours to overwrite.
marker="# Written by batchscore's deploy/slurm/demo.sh; delete it to have it written again."

wrote_conf=0
if [ ! -e /etc/slurm/slurm.conf ]; then
    say "writing /etc/slurm/slurm.conf"
    wrote_conf=1
    cpus=$(nproc)
    # Memory free now, not installed: what jobs can really have. A node whose
    # RealMemory is above what slurmd finds is drained ("Low RealMemory").
    mem_mb=$(free -m | awk '/^Mem:/ {print $7}')
    cat > /etc/slurm/slurm.conf <<EOF
$marker
ClusterName=demo
# The address in brackets: the name need not resolve (no DNS in a container).
SlurmctldHost=$node(127.0.0.1)
# root runs the daemons and owns their spool directories: nothing to chown.
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups: they need a writable cgroup tree, which a container may not
# have, and on cgroup v2 Slurm 22.05 asks systemd (over D-Bus) for a scope,
# which fails where systemd is not PID 1. linuxproc finds a job's processes
# by parent pid instead, and memory is watched by sampling: every 30 s a
# task's processes are added up, and a task over its --mem is killed.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
MpiDefault=none
SchedulerType=sched/backfill
# Cores and memory are what is shared out, so --cpus-per-task and --mem decide
# how many tasks run at once.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without it a job that asks no --mem gets the whole node, one at a time.
DefMemPerCPU=1024
# A node that was down (slurmd stopped) comes back when slurmd registers.
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=demo Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
fi

if [ ! -e /etc/slurm/slurmdbd.conf ]; then
    say "writing /etc/slurm/slurmdbd.conf"
    wrote_conf=1
    # slurmdbd refuses a config that others can read: it may hold a password.
    install -m 600 /dev/null /etc/slurm/slurmdbd.conf
    # MariaDB's root is authenticated by the unix socket as the OS's root,
    # which slurmdbd runs as: no password to create or store.
    cat > /etc/slurm/slurmdbd.conf <<EOF
$marker
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
fi

mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

# The package makes a key; one copied from elsewhere may have gone missing.
if [ ! -s /etc/munge/munge.key ]; then
    say "creating the munge key"
    mungekey --create --keyfile=/etc/munge/munge.key
fi
# munged runs as munge and refuses a key that others can read.
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key

# --- daemons ----------------------------------------------------------------

alive() { # PIDFILE: its process is running
    local pid state
    pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] || return 1
    # Not a zombie: where PID 1 is no init, a dead daemon may never be reaped.
    read -r _ _ state _ 2>/dev/null < "/proc/$pid/stat" && [ "$state" != Z ]
}

stop() { # PIDFILE: end that daemon and wait until it is gone
    local pid
    pid=$(cat "$1")
    kill "$pid"
    wait_for 30 "stopping $pid" eval "! alive $1"
}

wait_for() { # SECONDS WHAT COMMAND...: retry COMMAND once a second
    local secs=$1 what=$2
    shift 2
    for _ in $(seq "$secs"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "$what: not ready after ${secs}s"
}

if [ -d /run/systemd/system ]; then
    # systemd is PID 1: its units start the daemons, and leave running ones be.
    say "starting the daemons with systemctl"
    # A daemon running on an older configuration reads a new one only when
    # restarted (scontrol reconfigure leaves out plugins and accounting).
    if [ "$wrote_conf" -eq 1 ]; then verb=restart; else verb=start; fi
    systemctl start munge mariadb
    wait_for 30 "munged" munge -n
    systemctl "$verb" slurmdbd
    wait_for 60 "slurmdbd" sacctmgr -n list cluster
    systemctl "$verb" slurmctld slurmd
else
    # No init system to ask (a container, say): start each daemon by hand,
    # unless it answers already. Each forks into the background by itself.
    say "starting the daemons (no systemd: started directly)"
    # A daemon running on an older configuration reads a new one only when
    # restarted (scontrol reconfigure leaves out plugins and accounting).
    if [ "$wrote_conf" -eq 1 ]; then
        for daemon in slurmd slurmctld slurmdbd; do
            if alive "/run/$daemon.pid"; then
                stop "/run/$daemon.pid"
                echo "$daemon: stopped, for the new configuration"
            fi
        done
    fi
    if munge -n >/dev/null 2>&1; then
        echo "munged: running"
    else
        install -d -o munge -g munge -m 755 /run/munge
        runuser -u munge -- /usr/sbin/munged
        wait_for 30 "munged" munge -n
        echo "munged: started"
    fi
    if mariadb-admin ping >/dev/null 2>&1; then
        echo "mariadb: running"
    else
        # Its init script, rather than mariadbd itself: it prepares the
        # socket directory and the data directory and waits until it answers.
        /etc/init.d/mariadb start
    fi
    if alive /run/slurmdbd.pid; then
        echo "slurmdbd: running"
    else
        slurmdbd
        echo "slurmdbd: started"
    fi
    # slurmctld registers the cluster with slurmdbd as it starts: have
    # slurmdbd answer first, or sacct knows no cluster until it retries.
    wait_for 60 "slurmdbd" sacctmgr -n list cluster
    if alive /run/slurmctld.pid; then
        echo "slurmctld: running"
    else
        slurmctld
        echo "slurmctld: started"
    fi
    if alive /run/slurmd.pid; then
        echo "slurmd: running"
    else
        # -N: the node this slurmd is, whatever the host name resolves to.
        slurmd -N "$node"
        echo "slurmd: started"
    fi
fi

say "waiting for node $node"
resumed=0
for i in $(seq 60); do
    state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
    case $state in
        idle|mixed|allocated|completing) break ;;
        drain*|down*|fail*)
            # Left over from an earlier run (a slurmd that was killed, say);
            # resuming is safe on a node that only this demo uses.
            if [ "$resumed" -eq 0 ] && [ "$i" -gt 5 ]; then
                sinfo -h -R -n "$node"
                scontrol update nodename="$node" state=resume || true
                resumed=1
            fi ;;
    esac
    sleep 1
done
sinfo
case $state in
    idle|mixed|allocated|completing) ;;
    *) die "node $node is ${state:-unknown}, not idle (see /var/log/slurm/slurmd.log, sinfo -R)" ;;
esac

if [ "$cluster_only" -eq 1 ]; then
    exit 0
fi

# --- the array --------------------------------------------------------------

if [ "$fresh" -eq 1 ]; then
    # A running shard would lose its lock and its part.
    if [ -n "$(squeue -h -n batchscore -o %i)" ]; then
        squeue -n batchscore
        die "--fresh: batchscore jobs are still queued or running (scancel them first)"
    fi
    say "removing $out_dir and the records of $run_date"
    rm -rf -- "$out_dir" "$records/$run_date.shards" "$records/$run_date.json"
fi

# Slurm does not create the directory of --output: a task whose log
# directory is missing fails with no log at all.
mkdir -p "$log_dir"

# sbatch passes this environment to every task.
export BATCHSCORE=$bin JOB_FILE=$job_file RUN_DATE=$run_date

# A request that no node can meet (more CPUs or --mem than this one has) is
# not refused: it stays PENDING, and sbatch --wait with it, for ever.
if ! fit=$(sbatch --test-only ${sbatch_args[@]+"${sbatch_args[@]}"} deploy/slurm/batchscore.sbatch 2>&1); then
    scontrol show node "$node" | grep -E 'CPUTot|RealMemory'
    die "node $node cannot run a task of the array: $fit"
fi

say "sbatch --wait ${sbatch_args[*]+${sbatch_args[*]} }deploy/slurm/batchscore.sbatch (RUN_DATE=$RUN_DATE, BATCHSCORE=$BATCHSCORE)"
submitted=$(mktemp)
trap 'rm -f "$submitted"' EXIT
start=$(date +%s.%N)
rc=0
# tee: "Submitted batch job N" is shown at once and kept for the job id.
# With pipefail the pipeline's code is sbatch's.
sbatch --wait --output="$log_dir/%x-%A_%a.log" ${sbatch_args[@]+"${sbatch_args[@]}"} deploy/slurm/batchscore.sbatch | tee "$submitted" || rc=$?
end=$(date +%s.%N)
jobid=$(awk '/^Submitted batch job/ {print $4}' "$submitted")
[ -n "$jobid" ] || die "sbatch did not submit (exit $rc)"

# The controller hands the last task's end to slurmdbd a moment after
# sbatch --wait returns.
for _ in $(seq 10); do
    sacct -j "$jobid" -X -n -o State | grep -Eq 'PENDING|RUNNING|REQUEUED' || break
    sleep 1
done

say "sacct -j $jobid --format=JobID,State,ExitCode,Elapsed"
sacct -j "$jobid" --format=JobID,State,ExitCode,Elapsed

# sbatch --wait looks at the job 2, 10 and 42 s after submitting, then every
# 32 s, so it returns up to half a minute after the last task ends. Slurm's
# own times give the array's wall clock: submission to the last task's end.
span=$(sacct -j "$jobid" -X -n -P -o Submit,End | tr '|' '\n' | grep -E '^[0-9]{4}-' |
    xargs -r -n1 date +%s -d | sort -n | awk 'NR == 1 {first = $1} {last = $1} END {if (NR) print last - first}')
say "wall clock"
echo "array, submitted to last task done (sacct): ${span:-?} s"
awk -v s="$start" -v e="$end" 'BEGIN {printf "until sbatch --wait returned: %.1f s\n", e - s}'

say "ls -l $out_dir"
ls -l "$out_dir" 2>&1 || true

say "$out_dir/_SUCCESS"
if [ -e "$out_dir/_SUCCESS" ]; then
    cat "$out_dir/_SUCCESS"
    [ -z "$(tail -c 1 "$out_dir/_SUCCESS")" ] || echo
else
    echo "(none: not every shard succeeded)"
fi

say "logs: $log_dir/batchscore-${jobid}_*.log"
if [ "$rc" -ne 0 ]; then
    # The failed tasks' logs say why; sacct says which.
    for task in $(sacct -j "$jobid" -X -n -P -o JobID,State | awk -F'|' '$2 != "COMPLETED" {print $1}'); do
        echo "--- $log_dir/batchscore-$task.log (last lines)"
        tail -n 20 "$log_dir/batchscore-$task.log" 2>/dev/null || echo "(no log)"
    done
fi
exit "$rc"

#!/usr/bin/env python3
"""Runs batchscore and its Python peers side by side on the same files and
models, alternating, and prints the tables for bench/RESULTS.md.

End to end: wall time (median of --reps), peak RSS of the process, rows/s,
and the ratios batchscore/peer and batchscore/floor. batchscore's own run
record adds its peak anonymous memory (the input file is memory-mapped, so
RSS also counts its cached pages). Model only: batchscore's tree kernel vs
onnxruntime, 1 thread and all threads, on the same real rows.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
TARGET = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")  # an absolute CARGO_TARGET_DIR replaces ROOT
BIN = TARGET / "release" / "batchscore"
MODEL_BENCH = TARGET / "release" / "examples" / "model_bench"
PY = sys.executable


# Each tool is started from this small launcher rather than from the
# harness itself: Linux carries a process's peak RSS across exec, so a child
# forked from the harness (hundreds of MB, with pandas, pyarrow and
# onnxruntime loaded) would report the harness's memory as its own. The
# launcher's footprint (~10 MB) is the floor of every figure.
LAUNCHER = """
import os, sys, time
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t
sys.stderr.write(f"\\nBENCH {wall} {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(cmd, env=None):
    """Wall seconds, peak RSS (bytes) and stdout of one child process."""
    p = subprocess.run([sys.executable, "-c", LAUNCHER, *map(str, cmd)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env)
    err = p.stderr.decode()
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{err}")
    wall, maxrss_kb = err.strip().splitlines()[-1].split()[1:]
    return float(wall), int(maxrss_kb) * 1024, p.stdout.decode()


# Every contender gets the same cores: batchscore's --threads and
# onnxruntime's intra-op threads are both set to this (default: all).
THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count()))
# What the Python contenders pay before their first row: the interpreter
# and the imports. Timed on its own so a ratio can be read with or without it.
STARTUP = {
    "pandas+ort": "import numpy, onnxruntime, pandas, pyarrow.parquet",
    "polars+ort": "import numpy, onnxruntime, polars, pyarrow.parquet",
    "polars read (floor)": "import polars",
}


def job_file(model, src, out):
    features = (WORK / "features.txt").read_text().split()
    cols = ", ".join(f'"{c}"' for c in features)
    path = WORK / f"job_{model}_{src.suffix[1:]}.toml"
    path.write_text(
        f'name = "bench_{model}_{src.suffix[1:]}"\nmodel = "{model}.onnx"\nkeep = ["id"]\n'
        f'[input]\npath = "{src.name}"\n[features]\ncolumns = [{cols}]\n'
        f'[outputs]\nlabel = "label"\nproba = "probabilities"\n[output]\npath = "{out.relative_to(WORK)}"\n'
    )
    return path


TIES = {}


def compare(a, b):
    """Same columns with the same types, same ids, probabilities within
    1e-5, same labels except on exact ties: where the two best classes are
    within 1e-5, the float summation order decides (onnxruntime sums a
    large forest in per-thread batches of trees, so its own answer there
    depends on its thread count)."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.num_rows == tb.num_rows, (a, b, ta.num_rows, tb.num_rows)
    sa = {f.name: str(f.type) for f in ta.schema if f.name != "id"}
    sb = {f.name: str(f.type) for f in tb.schema if f.name != "id"}
    assert sa == sb, f"{a} vs {b}: columns or types differ: {sa} vs {sb}"
    assert set(sa) == {"label"} | {c for c in sa if c.startswith("proba_")}, f"{a}: unexpected columns {sa}"
    # batchscore keeps a CSV's id column as the text it read (it does not
    # guess a type for columns it only carries), the peers parse it as an
    # integer: ids are compared as text.
    ida, idb = (t["id"].cast(pa.string()).to_pylist() for t in (ta, tb))
    assert ida == idb, f"{a} vs {b}: ids differ"
    probs = [c for c in ta.column_names if c.startswith("proba_")]
    pa_ = np.stack([ta[c].to_numpy().astype(np.float64) for c in probs], axis=1)
    pb_ = np.stack([tb[c].to_numpy().astype(np.float64) for c in probs], axis=1)
    worst = float(np.abs(pa_ - pb_).max())
    assert worst < 1e-5, f"{a} vs {b}: probabilities differ by {worst}"
    differ = ta["label"].to_numpy() != tb["label"].to_numpy()
    top2 = np.sort(pa_, axis=1)[:, -2:]
    tie = (top2[:, 1] - top2[:, 0]) <= 1e-5
    assert not (differ & ~tie).any(), f"{a} vs {b}: labels differ away from a tie"
    TIES[(str(a), str(b))] = int(differ.sum())
    return worst


def end_to_end(models, formats, rows, reps):
    table = []
    features = ",".join((WORK / "features.txt").read_text().split())
    for fmt in formats:
        src = WORK / f"rows{rows}.{fmt}"
        for model in models:
            onnx_path = WORK / f"{model}.onnx"
            outs = {k: WORK / "out" / f"{model}-{fmt}-{k}.parquet" for k in ("batchscore", "pandas", "polars")}
            (WORK / "out").mkdir(exist_ok=True)
            job = job_file(model, src, outs["batchscore"])
            threads = str(THREADS)
            tools = {
                "batchscore": [str(BIN), "-q", "run", str(job), "--date", "2026-01-01", "--force", "--threads", threads],
                "pandas+ort": [PY, str(HERE / "peer_pandas.py"), str(onnx_path), str(src), str(outs["pandas"]), features, threads],
                "polars+ort": [PY, str(HERE / "peer_polars.py"), str(onnx_path), str(src), str(outs["polars"]), features, threads],
                "polars read (floor)": [PY, str(HERE / "floor_polars.py"), str(src)],
            }
            times = {k: [] for k in tools}
            rss = {k: [] for k in tools}
            startup = {k: [] for k in STARTUP}
            parity = 0.0
            for _ in range(reps):
                for name, cmd in tools.items():  # alternating: one of each per round
                    w, r, out = run(cmd)
                    times[name].append(w)
                    rss[name].append(r)
                    if name == "polars read (floor)":
                        assert int(out.split()[-1]) == rows, f"the floor read {out.split()[-1]} rows, not {rows}"
                for name, code in STARTUP.items():
                    startup[name].append(run([PY, "-c", code])[0])
                # Every round's outputs are checked, not only the last one's.
                parity = max(parity, compare(outs["batchscore"], outs["pandas"]),
                             compare(outs["batchscore"], outs["polars"]))
            record = json.loads((WORK / "out" / "_batchscore" / f"bench_{model}_{fmt}" / "2026-01-01.json").read_text())
            anon = record.get("peak_memory", {}).get("anon_bytes", 0)
            med = {k: statistics.median(v) for k, v in times.items()}
            start = {k: statistics.median(v) for k, v in startup.items()}
            for name in tools:
                table.append({
                    "format": fmt, "model": model, "tool": name, "seconds": med[name],
                    "startup": start.get(name),
                    "rss_mb": max(rss[name]) / 2**20, "rows_per_s": rows / med[name],
                    "ratio": med[name] / med["batchscore"],
                    "ratio_no_startup": (med[name] - start.get(name, 0.0)) / med["batchscore"],
                    "anon_mb": anon / 2**20 if name == "batchscore" else None,
                    "parity": parity,
                })
            print(f"{fmt} {model}: " + ", ".join(f"{k} {v:.2f}s" for k, v in med.items()), flush=True)
    return table


def model_only(models, rows):
    import onnxruntime as ort
    import pandas as pd

    sample = WORK / "sample10k.csv"
    if not sample.exists():
        src = WORK / f"rows{rows}.parquet"
        pq.read_table(src).slice(0, 10_000).to_pandas().to_csv(sample, index=False)
    x = pd.read_csv(sample).drop(columns=["id"]).to_numpy().astype(np.float32)
    results = []
    zoo = ROOT / "tests" / "fixtures" / "zoo"
    targets = [(m, WORK / f"{m}.onnx", sample, x) for m in models if m in ("lgbm200", "rf100")]
    for meta_path in sorted(zoo.glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        if meta["features"]["kind"] == "tensor" and any("TreeEnsemble" in o for o in meta["ops"]) and meta["features"]["dtype"] == "float32":
            inp = meta_path.parent / "input.csv"
            xz = pd.read_csv(inp).drop(columns=["row_id"]).to_numpy().astype(np.float32)
            targets.append((f"zoo/{meta['name']}", meta_path.parent / "model.onnx", inp, xz))
    def ours_rate(path, csv, n):
        out = subprocess.run([str(MODEL_BENCH), str(path), str(n), str(csv)], capture_output=True, text=True, check=True).stdout
        return float(out.split(":")[1].split()[0])

    def ort_rate(path, batch, threads, n):
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = threads
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        feed = {s.get_inputs()[0].name: batch}
        s.run(None, feed)
        t, done = time.perf_counter(), 0
        while done < n:
            s.run(None, feed)
            done += len(batch)
        return done / (time.perf_counter() - t)

    def side_by_side(runs):
        # Each contender is timed for ~0.5 s (a fixed row count would time a
        # small model for a few milliseconds, all noise), three times,
        # alternating with the others; the median counts.
        sized = []
        for run in runs:
            rate = run(100_000)
            sized.append((run, int(min(max(rate * 0.5, 100_000), 20_000_000)) // 10_000 * 10_000))
        rates = [[] for _ in runs]
        for _ in range(3):
            for k, (run, n) in enumerate(sized):
                rates[k].append(run(n))
        return [statistics.median(r) for r in rates]

    for name, path, csv, xs in targets:
        batch = np.resize(xs, (10_000, xs.shape[1]))
        ours, ort1, ortn = side_by_side([lambda n: ours_rate(path, csv, n), lambda n: ort_rate(path, batch, 1, n),
                                         lambda n: ort_rate(path, batch, os.cpu_count(), n)])
        row = {"model": name, "ours": ours, "ort1": ort1, "ortn": ortn, "ours_rs": None, "ort1_rs": None}
        if name.startswith("zoo/"):
            # The fixtures hold a few hundred rows, so the batch above repeats
            # them ~40 times, and a branchy walk (onnxruntime's) learns their
            # paths. Resampled: 10,000 rows whose every column is drawn
            # independently from the fixture's values, so no row repeats.
            rng = np.random.default_rng(7)
            rs = np.stack([rng.choice(xs[:, j], 10_000) for j in range(xs.shape[1])], axis=1)
            rs_csv = WORK / f"resampled_{name[4:]}.csv"
            frame = pd.DataFrame(rs, columns=[f"f{j}" for j in range(xs.shape[1])])
            frame.insert(0, "row_id", np.arange(len(rs)))
            frame.to_csv(rs_csv, index=False, na_rep="")
            rs32 = rs.astype(np.float32)
            row["ours_rs"], row["ort1_rs"] = side_by_side([lambda n: ours_rate(path, rs_csv, n),
                                                           lambda n: ort_rate(path, rs32, 1, n)])
        results.append(row)
        print(f"model only {name}: ours {ours:.0f} rows/s, ort 1t {ort1:.0f}, ort {os.cpu_count()}t {ortn:.0f}"
              + (f"; resampled: ours {row['ours_rs']:.0f}, ort 1t {row['ort1_rs']:.0f}" if row["ours_rs"] else ""), flush=True)
    return results


def markdown(e2e, mo, rows, reps):
    lines = [f"### End to end: {rows:,} rows × 30 float features, median of {reps} alternating runs, "
             f"{THREADS} threads for batchscore and onnxruntime", "",
             "Python's start-up is the interpreter plus the tool's imports, timed alone in the same rounds; "
             "the last column leaves it out of the Python tool's time.", "",
             "| input | model | tool | seconds | of which Python start-up | rows/s | peak RSS MB | batchscore heap MB | tool ÷ batchscore | without start-up |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in e2e:
        heap = f"{r['anon_mb']:.0f}" if r["anon_mb"] is not None else ""
        start = f"{r['startup']:.2f}" if r["startup"] is not None else ""
        lines.append(f"| {r['format']} | {r['model']} | {r['tool']} | {r['seconds']:.2f} | {start} | {r['rows_per_s']:,.0f} | "
                     f"{r['rss_mb']:.0f} | {heap} | {r['ratio']:.2f}× | {r['ratio_no_startup']:.2f}× |")
    ties = sum(TIES.values())
    lines += ["", "Outputs of the three scorers agree: same ids, probabilities within "
              f"{max((r['parity'] for r in e2e), default=0):.1e}, same labels except {ties} rows (of "
              f"{rows * len({(r['format'], r['model']) for r in e2e}) * 2:,} compared) sitting on an exact "
              "tie between two classes, where the float summation order decides.", "",
              "### Model only: tree kernel vs onnxruntime, rows/s on 10,000-row batches of real rows, median of 3 alternating runs of ~0.5 s each", "",
              "Left: the benchmark's rows (lgbm200, rf100) or a fixture's rows repeated to 10,000 (zoo). Right, for the zoo: "
              "10,000 rows resampled column by column from the fixture, so no row repeats.", "",
              "| model | batchscore 1 thread | onnxruntime 1 thread | onnxruntime all threads | ÷ onnxruntime 1 thread | resampled: batchscore | resampled: onnxruntime 1 thread | resampled ÷ |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in mo:
        rs = (f" {r['ours_rs']:,.0f} | {r['ort1_rs']:,.0f} | {r['ours_rs'] / r['ort1_rs']:.2f}× |" if r["ours_rs"] else "  |  |  |")
        lines.append(f"| {r['model']} | {r['ours']:,.0f} | {r['ort1']:,.0f} | {r['ortn']:,.0f} | {r['ours'] / r['ort1']:.2f}× |" + rs)
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--models", default="logreg,lgbm200,rf100,mlp")
    ap.add_argument("--formats", default="parquet")
    ap.add_argument("--skip-e2e", action="store_true")
    args = ap.parse_args()
    models = args.models.split(",")
    e2e = [] if args.skip_e2e else end_to_end(models, args.formats.split(","), args.rows, args.reps)
    mo = model_only(models, args.rows)
    md = markdown(e2e, mo, args.rows, args.reps)
    (WORK / "results.md").write_text(md)
    print()
    print(md)


if __name__ == "__main__":
    main()

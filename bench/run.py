#!/usr/bin/env python3
"""Runs batchscore and its Python peers side by side on the same files and
models, alternating, and prints the tables for bench/RESULTS.md.

End to end: wall time (median of --reps), peak RSS of the process, rows/s,
and the ratios batchscore/peer and batchscore/floor. batchscore's own run
record adds its peak anonymous memory (the input file is memory-mapped, so
RSS also counts its cached pages). Model only: batchscore's tree kernel vs
onnxruntime, 1 thread and all threads, and vs lleaves (LightGBM compiled
through LLVM, LightGBM models only), 1 thread, on the same real rows.

The work directory is bench/work, or $BENCH_WORK.
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
WORK = Path(os.environ.get("BENCH_WORK") or HERE / "work").resolve()
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


# Every contender gets the same cores: batchscore's --threads,
# onnxruntime's intra-op threads and lleaves' n_jobs are all set to this
# (default: all).
THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count()))
# What the Python contenders pay before their first row: the interpreter
# and the imports. Timed on its own so a ratio can be read with or without it.
STARTUP = {
    "pandas+ort": "import numpy, onnxruntime, pandas, pyarrow.parquet",
    "polars+ort": "import numpy, onnxruntime, polars, pyarrow.parquet",
    "polars+lleaves": "import numpy, lleaves, polars, pyarrow.parquet",
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
# (format, model) -> [largest probability difference, most labels differing
# in one round, rows] between batchscore and polars+lleaves.
LLEAVES_DIFF = {}


def compare(a, b, strict=True):
    """Same columns with the same types, same ids, probabilities within
    1e-5, same labels except on exact ties: where the two best classes are
    within 1e-5, the float summation order decides (onnxruntime sums a
    large forest in per-thread batches of trees, so its own answer there
    depends on its thread count).

    strict=False (lleaves): LightGBM's own model compares features with
    double thresholds, the ONNX export with float ones, so a value between
    the two goes the other way. Columns, types and ids must still agree;
    returns (largest probability difference, labels differing) instead of
    holding them to the bounds."""
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
    differ = ta["label"].to_numpy() != tb["label"].to_numpy()
    if not strict:
        return worst, int(differ.sum())
    assert worst < 1e-5, f"{a} vs {b}: probabilities differ by {worst}"
    top2 = np.sort(pa_, axis=1)[:, -2:]
    tie = (top2[:, 1] - top2[:, 0]) <= 1e-5
    assert not (differ & ~tie).any(), f"{a} vs {b}: labels differ away from a tie"
    TIES[(str(a), str(b))] = int(differ.sum())
    return worst


def lleaves_compile(model):
    """Compiles a LightGBM model (its text form, WORK/<model>.txt) with
    lleaves into a fresh cache file, outside the timed rounds; the timed
    runs load it. Returns the cache and the compile seconds."""
    cache = WORK / f"{model}.lleaves.o"
    cache.unlink(missing_ok=True)  # lleaves would load a stale one unchecked
    out = subprocess.run([PY, str(HERE / "peer_lleaves.py"), str(WORK / f"{model}.txt"), str(cache)],
                         capture_output=True, text=True, check=True).stdout
    return cache, float(out.split()[-1])


LLEAVES_COMPILE = {}


def end_to_end(models, formats, rows, reps):
    table = []
    features = ",".join((WORK / "features.txt").read_text().split())
    for fmt in formats:
        src = WORK / f"rows{rows}.{fmt}"
        for model in models:
            onnx_path = WORK / f"{model}.onnx"
            # LightGBM models (those with a text model beside the ONNX) get lleaves too.
            lleaves = (WORK / f"{model}.txt").exists()
            outs = {k: WORK / "out" / f"{model}-{fmt}-{k}.parquet" for k in ("batchscore", "pandas", "polars", "lleaves")}
            (WORK / "out").mkdir(exist_ok=True)
            job = job_file(model, src, outs["batchscore"])
            threads = str(THREADS)
            tools = {
                "batchscore": [str(BIN), "-q", "run", str(job), "--date", "2026-01-01", "--force", "--threads", threads],
                "pandas+ort": [PY, str(HERE / "peer_pandas.py"), str(onnx_path), str(src), str(outs["pandas"]), features, threads],
                "polars+ort": [PY, str(HERE / "peer_polars.py"), str(onnx_path), str(src), str(outs["polars"]), features, threads],
            }
            if lleaves:
                if model not in LLEAVES_COMPILE:
                    LLEAVES_COMPILE[model] = lleaves_compile(model)
                    print(f"lleaves compiled {model} in {LLEAVES_COMPILE[model][1]:.2f}s", flush=True)
                tools["polars+lleaves"] = [PY, str(HERE / "peer_lleaves.py"), str(WORK / f"{model}.txt"),
                                           str(LLEAVES_COMPILE[model][0]), str(src), str(outs["lleaves"]), features, threads]
            tools["polars read (floor)"] = [PY, str(HERE / "floor_polars.py"), str(src)]
            times = {k: [] for k in tools}
            rss = {k: [] for k in tools}
            startup = {k: [] for k in STARTUP if k in tools}
            parity = 0.0
            for _ in range(reps):
                for name, cmd in tools.items():  # alternating: one of each per round
                    w, r, out = run(cmd)
                    times[name].append(w)
                    rss[name].append(r)
                    if name == "polars read (floor)":
                        assert int(out.split()[-1]) == rows, f"the floor read {out.split()[-1]} rows, not {rows}"
                for name in startup:
                    startup[name].append(run([PY, "-c", STARTUP[name]])[0])
                # Every round's outputs are checked, not only the last one's.
                parity = max(parity, compare(outs["batchscore"], outs["pandas"]),
                             compare(outs["batchscore"], outs["polars"]))
                if lleaves:  # reported, not held to parity's bounds (see compare)
                    worst, labels = compare(outs["batchscore"], outs["lleaves"], strict=False)
                    d = LLEAVES_DIFF.setdefault((fmt, model), [0.0, 0, rows])
                    d[0], d[1] = max(d[0], worst), max(d[1], labels)
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


def model_only(models, rows, zoo_glob="*"):
    import onnxruntime as ort
    import pandas as pd

    sample = WORK / "sample10k.csv"
    if not sample.exists():
        src = WORK / f"rows{rows}.parquet"
        pq.read_table(src).slice(0, 10_000).to_pandas().to_csv(sample, index=False)
    x = pd.read_csv(sample).drop(columns=["id"]).to_numpy().astype(np.float32)
    results = []
    zoo = ROOT / "tests" / "fixtures" / "zoo"
    # The last item: LightGBM's text model, for lleaves (LightGBM models only).
    txt = lambda p: p if p.exists() else None  # noqa: E731
    targets = [(m, WORK / f"{m}.onnx", sample, x, txt(WORK / f"{m}.txt")) for m in models if m in ("lgbm200", "rf100")]
    for meta_path in sorted(zoo.glob(f"{zoo_glob}/meta.json")):
        meta = json.loads(meta_path.read_text())
        if meta["features"]["kind"] == "tensor" and any("TreeEnsemble" in o for o in meta["ops"]) and meta["features"]["dtype"] == "float32":
            inp = meta_path.parent / "input.csv"
            xz = pd.read_csv(inp).drop(columns=["row_id"]).to_numpy().astype(np.float32)
            targets.append((f"zoo/{meta['name']}", meta_path.parent / "model.onnx", inp, xz, txt(meta_path.parent / "model.txt")))
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

    def lleaves_rate(model, batch, n):
        # float64, row-major: what lleaves reads without a copy. Same values
        # as the float32 rows the others get.
        batch = np.ascontiguousarray(batch, dtype=np.float64)
        model.predict(batch, n_jobs=1)
        t, done = time.perf_counter(), 0
        while done < n:
            model.predict(batch, n_jobs=1)
            done += len(batch)
        return done / (time.perf_counter() - t)

    def lleaves_vs_ort(model, path, batch):
        """Largest difference between lleaves' and onnxruntime's scores
        (probabilities or values): lleaves compares with LightGBM's double
        thresholds, the export with float ones."""
        so = ort.SessionOptions()
        so.log_severity_level = 3
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        v = s.run(None, {s.get_inputs()[0].name: batch})[-1]  # probabilities (classifier) or value
        if isinstance(v, list):  # ZipMap
            v = [[row[k] for k in sorted(row)] for row in v]
        v = np.asarray(v, dtype=np.float64).reshape(len(batch), -1)
        p = model.predict(np.ascontiguousarray(batch, dtype=np.float64), n_jobs=1).reshape(len(batch), -1)
        if p.shape[1] == 1 and v.shape[1] == 2:  # binary: lleaves gives P(class 1)
            v = v[:, 1:]
        return float(np.abs(p - v).max())

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

    for name, path, csv, xs, txt_model in targets:
        batch = np.resize(xs, (10_000, xs.shape[1]))
        runs = [lambda n: ours_rate(path, csv, n), lambda n: ort_rate(path, batch, 1, n),
                lambda n: ort_rate(path, batch, os.cpu_count(), n)]
        lgbm = None
        if txt_model is not None:
            import lleaves

            lgbm = lleaves.Model(model_file=str(txt_model))
            t = time.perf_counter()
            lgbm.compile()  # in memory, untimed
            print(f"lleaves compiled {name} in {time.perf_counter() - t:.2f}s", flush=True)
            runs.append(lambda n: lleaves_rate(lgbm, batch, n))
        ours, ort1, ortn, *ll = side_by_side(runs)
        row = {"model": name, "ours": ours, "ort1": ort1, "ortn": ortn, "ours_rs": None, "ort1_rs": None,
               "lleaves": ll[0] if ll else None, "lleaves_rs": None,
               "lleaves_diff": lleaves_vs_ort(lgbm, path, batch) if lgbm else None}
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
            rs_runs = [lambda n: ours_rate(path, rs_csv, n), lambda n: ort_rate(path, rs32, 1, n)]
            if lgbm:
                rs_runs.append(lambda n: lleaves_rate(lgbm, rs32, n))
            row["ours_rs"], row["ort1_rs"], *ll = side_by_side(rs_runs)
            row["lleaves_rs"] = ll[0] if ll else None
        results.append(row)
        ll = (f", lleaves 1t {row['lleaves']:.0f} (|lleaves - ort| <= {row['lleaves_diff']:.1e})" if lgbm else "")
        ll_rs = (f", lleaves 1t {row['lleaves_rs']:.0f}" if row["lleaves_rs"] else "")
        print(f"model only {name}: ours {ours:.0f} rows/s, ort 1t {ort1:.0f}, ort {os.cpu_count()}t {ortn:.0f}{ll}"
              + (f"; resampled: ours {row['ours_rs']:.0f}, ort 1t {row['ort1_rs']:.0f}{ll_rs}" if row["ours_rs"] else ""), flush=True)
    return results


def markdown(e2e, mo, rows, reps):
    lines = [f"### End to end: {rows:,} rows × 30 float features, median of {reps} alternating runs, "
             f"{THREADS} threads for batchscore, onnxruntime and lleaves", "",
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
    lines += ["", "Outputs of batchscore, pandas+ort and polars+ort agree: same ids, probabilities within "
              f"{max((r['parity'] for r in e2e), default=0):.1e}, same labels except {ties} rows (of "
              f"{rows * len({(r['format'], r['model']) for r in e2e}) * 2:,} compared) sitting on an exact "
              "tie between two classes, where the float summation order decides.", ""]
    if LLEAVES_DIFF:
        lines += ["polars+lleaves runs LightGBM's own model, whose thresholds are double (the ONNX export's are float), "
                  "so a feature value between the two goes the other way; it is compared, not held to the bounds above: "
                  + "; ".join(f"{fmt} {model}: probabilities within {w:.1e} of batchscore's, {n:,} of {total:,} labels differ"
                              for (fmt, model), (w, n, total) in LLEAVES_DIFF.items())
                  + ". Its compile time (once, outside the timed runs; the runs load the compiled code from a cache file): "
                  + ", ".join(f"{m} {sec:.1f} s" for m, (_, sec) in LLEAVES_COMPILE.items()) + ".", ""]
    lines += ["### Model only: tree kernel vs onnxruntime and lleaves, rows/s on 10,000-row batches of real rows, median of 3 alternating runs of ~0.5 s each", "",
              "Left: the benchmark's rows (lgbm200, rf100) or a fixture's rows repeated to 10,000 (zoo). Right, for the zoo: "
              "10,000 rows resampled column by column from the fixture, so no row repeats. lleaves (LightGBM models only) "
              "gets the same rows as float64; ÷ columns are batchscore ÷ the other.", "",
              "| model | batchscore 1 thread | onnxruntime 1 thread | onnxruntime all threads | lleaves 1 thread | ÷ onnxruntime 1 thread | ÷ lleaves "
              "| resampled: batchscore | resampled: onnxruntime 1 thread | resampled: lleaves 1 thread | resampled ÷ | resampled ÷ lleaves |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    num = lambda v: f"{v:,.0f}" if v else ""  # noqa: E731
    ratio = lambda a, b: f"{a / b:.2f}×" if a and b else ""  # noqa: E731
    for r in mo:
        lines.append(f"| {r['model']} | {num(r['ours'])} | {num(r['ort1'])} | {num(r['ortn'])} | {num(r['lleaves'])} | "
                     f"{ratio(r['ours'], r['ort1'])} | {ratio(r['ours'], r['lleaves'])} | {num(r['ours_rs'])} | {num(r['ort1_rs'])} | "
                     f"{num(r['lleaves_rs'])} | {ratio(r['ours_rs'], r['ort1_rs'])} | {ratio(r['ours_rs'], r['lleaves_rs'])} |")
    diffs = [f"{r['model']} {r['lleaves_diff']:.1e}" for r in mo if r["lleaves_diff"] is not None]
    if diffs:
        lines += ["", "Largest |lleaves − onnxruntime| score on the left-hand rows (double vs float thresholds; the zoo's "
                  "rows put values exactly on the export's float thresholds): " + ", ".join(diffs) + "."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--models", default="logreg,lgbm200,rf100,mlp")
    ap.add_argument("--formats", default="parquet")
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--zoo", default="*", help="which zoo fixtures the model-only table takes (a glob, e.g. 'lgbm_*')")
    args = ap.parse_args()
    models = args.models.split(",")
    e2e = [] if args.skip_e2e else end_to_end(models, args.formats.split(","), args.rows, args.reps)
    mo = model_only(models, args.rows, args.zoo)
    md = markdown(e2e, mo, args.rows, args.reps)
    (WORK / "results.md").write_text(md)
    print()
    print(md)


if __name__ == "__main__":
    main()

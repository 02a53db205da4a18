#!/usr/bin/env python3
"""Text path throughput: 1,000,000 short support-ticket texts through the
zoo's TfidfVectorizer(1-2 grams) + LogisticRegression model
(tests/fixtures/zoo/skl_tfidf_logreg), batchscore against onnxruntime.

    LOCPATH=<dir with en_US.UTF-8> python bench/text_bench.py [--rows 1000000] [--reps 3]

(onnxruntime's StringNormalizer needs the en_US.UTF-8 locale; see
tools/make_fixtures.py.) Needs a release build (cargo build --release);
honours CARGO_TARGET_DIR.

Model only: onnxruntime on [100000, 1] batches, 1 thread and its default;
batchscore's score stage (tensor building + plan, from its -v log line
"seconds per stage"), 1 thread and 2. End to end: batchscore run (CSV in,
CSV out) against pandas read_csv + onnxruntime + to_csv.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_fixtures  # noqa: E402

MODEL = ROOT / "tests/fixtures/zoo/skl_tfidf_logreg/model.onnx"
BIN = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "batchscore"


def texts(n):
    """n texts drawn from 20,000 generated ones (generating each is slow)."""
    base, _ = make_fixtures.ticket_texts(20_000, 5)
    base[7] = "my parcel is late"  # short texts only
    return np.random.default_rng(6).choice(base, n)


def ort_model_only(x, threads, batch=100_000):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    s = ort.InferenceSession(str(MODEL), so, providers=["CPUExecutionProvider"])
    t = time.perf_counter()
    for i in range(0, len(x), batch):
        s.run(None, {"text": x[i:i + batch].reshape(-1, 1)})
    return time.perf_counter() - t


def batchscore(work, threads):
    job = work / "job.toml"
    job.write_text(
        f'name = "t"\nmodel = "{MODEL}"\nkeep = ["row_id"]\nchunk_rows = 100000\nthreads = {threads}\n'
        '[input]\npath = "in.csv"\n[features.inputs]\ntext = "text"\n'
        '[outputs]\nlabel = "label"\nproba = "probabilities"\n[output]\npath = "out/scores.csv"\n')
    t = time.perf_counter()
    p = subprocess.run([str(BIN), "-v", "run", str(job), "--date", "2026-11-23", "--force"],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    score = float(re.search(r"score=([0-9.]+)", p.stderr).group(1))
    return wall, score


def peer(work):
    t = time.perf_counter()
    df = pd.read_csv(work / "in.csv", keep_default_na=False)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(str(MODEL), so, providers=["CPUExecutionProvider"])
    label, proba = s.run(None, {"text": df["text"].to_numpy().astype(object).reshape(-1, 1)})
    out = pd.DataFrame({"row_id": df["row_id"], "label": label})
    for k in range(proba.shape[1]):
        out[f"probabilities_{k}"] = proba[:, k]
    out.to_csv(work / "peer.csv", index=False)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    x = texts(a.rows)
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        pd.DataFrame({"row_id": np.arange(a.rows), "text": x}).to_csv(work / "in.csv", index=False)
        mb = (work / "in.csv").stat().st_size / 1e6
        print(f"{a.rows:,} texts, mean {np.mean([len(t) for t in x]):.0f} chars, CSV {mb:.0f} MB; "
              f"median of {a.reps}")
        res = {k: [] for k in ["ort1", "ortd", "bs1", "bs2", "bs1s", "bs2s", "peer"]}
        for _ in range(a.reps):
            res["ort1"].append(ort_model_only(x, 1))
            res["ortd"].append(ort_model_only(x, 0))
            w, s = batchscore(work, 1)
            res["bs1"].append(w)
            res["bs1s"].append(s)
            w, s = batchscore(work, 2)
            res["bs2"].append(w)
            res["bs2s"].append(s)
            res["peer"].append(peer(work))
        m = {k: statistics.median(v) for k, v in res.items()}
        rate = lambda s: f"{a.rows / s:>12,.0f}"  # noqa: E731
        print("| | seconds | rows/s |\n|---|---:|---:|")
        for label, k in [("model only: onnxruntime, 1 thread", "ort1"),
                         ("model only: onnxruntime, default threads", "ortd"),
                         ("model only: batchscore score stage, 1 thread", "bs1s"),
                         ("model only: batchscore score stage, 2 threads", "bs2s"),
                         ("end to end: batchscore run, 1 thread", "bs1"),
                         ("end to end: batchscore run, 2 threads", "bs2"),
                         ("end to end: pandas + onnxruntime (default threads)", "peer")]:
            print(f"| {label} | {m[k]:.2f} | {rate(m[k])} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark workload: N rows x 30 float features shaped like breast_cancer,
as Parquet and CSV, plus the benchmark models, in bench/work/ (or in
$BENCH_WORK). The LightGBM model is saved twice: as ONNX and as LightGBM's
own text model (lgbm200.txt, which lleaves compiles from).

    python bench/make_workload.py --rows 2000000
"""
import argparse
import os
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.csv as pacsv
from sklearn.datasets import load_breast_cancer

WORK = Path(os.environ.get("BENCH_WORK") or Path(__file__).resolve().parent / "work").resolve()
MODEL_FILES = ("logreg.onnx", "rf100.onnx", "mlp.onnx", "lgbm200.onnx", "lgbm200.txt")


def models(X, y, names):
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    import lightgbm as lgb
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    out = {}
    lr = Pipeline([("s", StandardScaler()), ("c", LogisticRegression(max_iter=5000))]).fit(X, y)
    out["logreg"] = to_onnx(lr, X[:1], options={id(lr): {"zipmap": False}})
    rf = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0).fit(X, y)
    out["rf100"] = to_onnx(rf, X[:1], options={id(rf): {"zipmap": False}})
    mlp = Pipeline([("s", StandardScaler()), ("c", MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300, random_state=0))]).fit(X, y)
    out["mlp"] = to_onnx(mlp, X[:1], options={id(mlp): {"zipmap": False}})
    gbm = lgb.LGBMClassifier(n_estimators=200, num_leaves=31, verbose=-1, random_state=0).fit(X, y)
    out["lgbm200"] = onnxmltools.convert_lightgbm(gbm, initial_types=[("X", FloatTensorType([None, X.shape[1]]))], zipmap=False, target_opset=15)
    for name, m in out.items():
        onnx.save(m, WORK / f"{name}.onnx")
    gbm.booster_.save_model(WORK / "lgbm200.txt")
    return list(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    data = load_breast_cancer()
    X, y = data.data.astype(np.float32), data.target
    names = [n.replace(" ", "_") for n in data.feature_names]
    # All together (same seeds), so the two forms of lgbm200 are one model
    # (a work dir from before lgbm200.txt existed gets all of them again).
    if not all((WORK / f).exists() for f in MODEL_FILES):
        models(X, y, names)
    rng = np.random.default_rng(0)
    n = args.rows
    stem = f"rows{n}"
    if (WORK / f"{stem}.parquet").exists():
        return
    idx = rng.integers(0, len(X), n)
    Xs = (X[idx] * (1 + 0.02 * rng.standard_normal((n, X.shape[1])).astype(np.float32))).astype(np.float64)
    cols = {"id": np.arange(n, dtype=np.int64)}
    for j, c in enumerate(names):
        cols[c] = Xs[:, j]
    table = pa.table(cols)
    pq.write_table(table, WORK / f"{stem}.parquet", row_group_size=100_000, compression="zstd")
    pacsv.write_csv(table, WORK / f"{stem}.csv")
    (WORK / "features.txt").write_text("\n".join(names) + "\n")


if __name__ == "__main__":
    main()

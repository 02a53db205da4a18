"""polars + lleaves: LightGBM's own model compiled to native code through
LLVM. polars streams the file in 100k-row chunks (as peer_polars.py does),
lleaves scores each in float64, pyarrow appends each to one Parquet file
with the columns the other peers write (id, label, proba_0, proba_1, ...).

    peer_lleaves.py MODEL.txt CACHE                                # compile once into CACHE
    peer_lleaves.py MODEL.txt CACHE SRC DST FEATURES THREADS       # score, loading CACHE

Compiling takes seconds, so bench/run.py does it once before the timed
rounds, and the timed runs load the compiled code from the cache file, as a
production job would. Classifiers only (the benchmark's models): lleaves
returns P(class 1) for a binary model and one column per class otherwise;
the label is the index of the most probable class (first on a tie, as the
ONNX export's ArgMax), which is the class itself for labels 0..k-1.
"""
import sys
import time

import lleaves
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

model_file, cache = sys.argv[1], sys.argv[2]
model = lleaves.Model(model_file=model_file)
t = time.perf_counter()
# Loads the compiled code when the cache file exists; compiles and writes it
# otherwise (lleaves checks nothing: bench/run.py removes a stale one).
model.compile(cache=cache)
if len(sys.argv) == 3:
    print(f"{time.perf_counter() - t:.3f}")
    sys.exit(0)

src, dst, features = sys.argv[3], sys.argv[4], sys.argv[5].split(",")
# The cores batchscore is given (bench/run.py passes the same number to all).
threads = int(sys.argv[6])
lf = pl.scan_parquet(src) if src.endswith(".parquet") else pl.scan_csv(src)
writer = None
for df in lf.select(["id", *features]).collect_batches(chunk_size=100_000):
    # lleaves reads a row-major float64 array (anything else it copies first).
    p = model.predict(df.select(pl.col(features).cast(pl.Float64)).to_numpy(order="c"), n_jobs=threads)
    proba = np.stack([1.0 - p, p], axis=1) if p.ndim == 1 else p
    out = {"id": df["id"].to_numpy(), "label": proba.argmax(axis=1).astype(np.int64)}
    # float32, as onnxruntime's (and batchscore's) probabilities, so the
    # files have the same schema; the difference to float64 is < 1e-7.
    for k in range(proba.shape[1]):
        out[f"proba_{k}"] = proba[:, k].astype(np.float32)
    table = pa.table(out)
    if writer is None:
        writer = pq.ParquetWriter(dst, table.schema, compression="zstd")
    writer.write_table(table)
writer.close()

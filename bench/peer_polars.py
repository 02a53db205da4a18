"""The better Python peer: polars streams the file in 100k-row chunks,
onnxruntime scores each, pyarrow appends each to one Parquet file."""
import sys

import onnxruntime as ort
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

model, src, dst, features = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
so = ort.SessionOptions()
so.log_severity_level = 3
# The cores batchscore is given (bench/run.py passes the same number to both).
so.intra_op_num_threads = int(sys.argv[5])
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
lf = pl.scan_parquet(src) if src.endswith(".parquet") else pl.scan_csv(src)
writer = None
for df in lf.select(["id", *features]).collect_batches(chunk_size=100_000):
    label, proba = sess.run(None, {name: df.select(pl.col(features).cast(pl.Float32)).to_numpy()})
    out = {"id": df["id"].to_numpy(), "label": label.reshape(-1)}
    for k in range(proba.shape[1]):
        out[f"proba_{k}"] = proba[:, k]
    table = pa.table(out)
    if writer is None:
        writer = pq.ParquetWriter(dst, table.schema, compression="zstd")
    writer.write_table(table)
writer.close()

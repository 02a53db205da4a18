"""The Python peer a team would write first: pandas reads the whole file,
onnxruntime scores it, pyarrow writes id + scores."""
import sys

import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

model, src, dst, features = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
so = ort.SessionOptions()
so.log_severity_level = 3
# The cores batchscore is given (bench/run.py passes the same number to both).
so.intra_op_num_threads = int(sys.argv[5])
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
df = pd.read_parquet(src) if src.endswith(".parquet") else pd.read_csv(src)
label, proba = sess.run(None, {sess.get_inputs()[0].name: df[features].to_numpy(dtype=np.float32)})
out = {"id": df["id"].to_numpy(), "label": label.reshape(-1)}
for k in range(proba.shape[1]):
    out[f"proba_{k}"] = proba[:, k]
pq.write_table(pa.table(out), dst, compression="zstd")

#!/usr/bin/env python3
"""Makes batchscore's demo model and data, and the zoo of test models.

Run from the repository root (or anywhere):

    python3 -m venv .venv && .venv/bin/pip install -r tools/requirements.txt
    .venv/bin/python tools/make_fixtures.py

Everything it writes is committed; building, running and testing batchscore
needs no Python. Models are trained on data sets that scikit-learn ships and
exported with the converters users use, with their defaults unless a name
says otherwise. For each zoo model, tests/fixtures/zoo/<name>/ holds:

    model.onnx     the export
    input.csv      row_id + the feature columns (float32 values written exactly)
    expected.csv   row_id + onnxruntime's outputs on input.csv: the reference
    meta.json      converter, estimator, how columns map to inputs, outputs, ops

Deterministic: fixed seeds; CSVs are identical from run to run.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "tests" / "fixtures" / "zoo"
RNG = np.random.default_rng(20261123)

import sklearn  # noqa: E402
import skl2onnx  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine  # noqa: E402

SKIPPED = []


def _patch_bool_attributes():
    """skl2onnx 1.20 passes numpy bools for nodes_missing_value_tracks_true
    (HistGradientBoosting*), which onnx 1.23 refuses ("Expected an int, got
    a boolean"): give make_attribute ints instead."""
    original = helper.make_attribute

    def make_attribute(key, value, *args, **kwargs):
        if isinstance(value, (list, tuple, np.ndarray)) and any(isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) for v in value]
        return original(key, value, *args, **kwargs)

    helper.make_attribute = make_attribute


_patch_bool_attributes()


def fmt32(a):
    """Shortest text that reads back as exactly this float32 (empty for NaN)."""
    return ["" if np.isnan(v) else np.format_float_positional(np.float32(v), unique=True, trim="-") for v in a]


def write_csv(path, columns):
    """columns: list of (name, list-of-strings)."""
    names = [c for c, _ in columns]
    rows = zip(*[v for _, v in columns])

    def q(s):
        return '"' + s.replace('"', '""') + '"' if any(ch in s for ch in ',"\n') else s

    with open(path, "w", newline="") as f:
        f.write(",".join(q(n) for n in names) + "\n")
        for r in rows:
            f.write(",".join(q(str(v)) for v in r) + "\n")


def ops_of(model):
    return sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in model.graph.node})


def opsets_of(model):
    return {(o.domain or "ai.onnx"): o.version for o in model.opset_import}


def zipmap_classes(model):
    for n in model.graph.node:
        if n.op_type == "ZipMap":
            for a in n.attribute:
                if a.name == "classlabels_int64s":
                    return [int(v) for v in a.ints]
                if a.name == "classlabels_strings":
                    return [s.decode() for s in a.strings]
    return None


def classifier_classes(model):
    for n in reversed(model.graph.node):
        if n.op_type in ("TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier"):
            for a in n.attribute:
                if a.name in ("classlabels_int64s", "classlabels_ints"):
                    return [int(v) for v in a.ints]
                if a.name == "classlabels_strings":
                    return [s.decode() for s in a.strings]
    return None


def save_zoo(name, model, feeds_df, features, converter, estimator, dataset, task, tolerance=1e-5, reason=None):
    """feeds_df: DataFrame of feature columns (CSV names). features: meta 'features' dict."""
    d = ZOO / name
    d.mkdir(parents=True, exist_ok=True)
    onnx.save(model, d / "model.onnx")
    n = len(feeds_df)
    cols = [("row_id", [str(i) for i in range(n)])]
    for c in feeds_df.columns:
        v = feeds_df[c]
        if v.dtype.kind == "f":
            cols.append((c, fmt32(v.to_numpy())))
        else:
            cols.append((c, ["" if pd.isna(x) else str(x) for x in v]))
    write_csv(d / "input.csv", cols)
    # Feed onnxruntime exactly what the CSV says.
    back = pd.read_csv(d / "input.csv", keep_default_na=False, na_values=[""])
    sess = ort.InferenceSession(str(d / "model.onnx"), providers=["CPUExecutionProvider"])
    if features["kind"] == "tensor":
        dt = {"float32": np.float32, "float64": np.float64, "int64": np.int64}[features["dtype"]]
        feed = {features["input"]: back[features["columns"]].to_numpy().astype(dt)}
    else:
        feed = {}
        for i in features["inputs"]:
            col = back[i["column"]]
            if i["dtype"] == "string":
                feed[i["input"]] = col.astype(str).to_numpy().reshape(-1, 1).astype(object)
            elif i["dtype"] == "int64":
                feed[i["input"]] = col.to_numpy().astype(np.int64).reshape(-1, 1)
            else:
                feed[i["input"]] = col.to_numpy().astype(np.float32).reshape(-1, 1)
    out_names = [o.name for o in sess.get_outputs()]
    res = dict(zip(out_names, sess.run(None, feed)))
    zm = zipmap_classes(model)
    classes = zm if zm is not None else classifier_classes(model)
    outputs = {"label": None, "proba": None, "value": None}
    exp = [("row_id", [str(i) for i in range(n)])]
    if task in ("binary", "multiclass"):
        label_name = next(o for o in out_names if "label" in o)
        prob_name = next(o for o in out_names if "prob" in o)
        outputs["label"], outputs["proba"] = label_name, prob_name
        labels = res[label_name]
        exp.append(("label", [str(v) for v in labels.reshape(-1)]))
        probs = res[prob_name]
        if isinstance(probs, list):  # ZipMap: a list of {class: p}
            keys = list(probs[0].keys())
            probs = np.array([[row[k] for k in keys] for row in probs], dtype=np.float32)
        probs = np.asarray(probs, dtype=np.float32)
        names = classes if classes is not None and len(classes) == probs.shape[1] else list(range(probs.shape[1]))
        for k, c in enumerate(names):
            exp.append((f"proba_{c}", [repr(float(v)) for v in probs[:, k]]))
    else:
        value_name = out_names[0]
        outputs["value"] = value_name
        v = np.asarray(res[value_name])
        v = v.reshape(n, -1)
        if v.shape[1] == 1:
            exp.append(("value", [repr(float(x)) for x in v[:, 0]]))
        else:
            for k in range(v.shape[1]):
                exp.append((f"value_{k}", [repr(float(x)) for x in v[:, k]]))
    write_csv(d / "expected.csv", exp)
    meta = {
        "name": name,
        "converter": converter,
        "estimator": estimator,
        "dataset": dataset,
        "task": task,
        "features": features,
        "outputs": outputs,
        "zipmap": zm is not None,
        "classes": classes,
        "ops": ops_of(model),
        "opsets": opsets_of(model),
        "has_nan": bool(feeds_df.isna().to_numpy().any()),
        "tolerance": tolerance,
    }
    if reason:
        meta["tolerance_reason"] = reason
    (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"  {name}: {', '.join(meta['ops'])}")


def tensor_features(input_name, columns, dtype="float32"):
    return {"kind": "tensor", "input": input_name, "dtype": dtype, "columns": list(columns)}


def sample(X, n, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=n, replace=True)
    Xs = X[idx] * (1.0 + noise * rng.standard_normal((n, X.shape[1])))
    return Xs.astype(np.float32)


def with_thresholds(model, X, every=7):
    """Sets some values exactly on tree thresholds, where ≤ and < differ."""
    X = X.copy()
    for node in model.graph.node:
        if node.op_type.startswith("TreeEnsemble"):
            a = {x.name: x for x in node.attribute}
            if "nodes_values" not in a:
                return X
            feats = list(a["nodes_featureids"].ints)
            vals = list(a["nodes_values"].floats)
            modes = [m.decode() for m in a["nodes_modes"].strings]
            splits = [(f, v) for f, v, m in zip(feats, vals, modes) if m != "LEAF"]
            for i in range(0, len(X), every):
                f, v = splits[(i * 31) % len(splits)]
                X[i, f] = np.float32(v)
            return X
    return X


def skl(model, X, **kw):
    return to_onnx(model, X[:1], **kw)


# ---------------------------------------------------------------- demo

def demo():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    X, y = data.data.astype(np.float32), data.target
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=5000))]).fit(X, y)
    onx = to_onnx(pipe, X[:1], initial_types=None)
    (ROOT / "data" / "models").mkdir(parents=True, exist_ok=True)
    onnx.save(onx, ROOT / "data" / "models" / "demo.onnx")
    (ROOT / "data" / "input").mkdir(parents=True, exist_ok=True)
    regions = np.array(["north", "south", "east", "west"])
    for day, seed in (("2026-11-22", 22), ("2026-11-23", 23)):
        rng = np.random.default_rng(seed)
        n = 1000
        Xs = sample(X, n, seed=seed)
        ids = rng.choice(np.arange(1, 10_000_000), size=n, replace=False)
        cols = [("customer_id", [f"C{i:07d}" for i in ids]), ("region", list(rng.choice(regions, size=n)))]
        for j, name in enumerate(data.feature_names):
            cols.append((name, [f"{v:.6f}" for v in Xs[:, j]]))
        write_csv(ROOT / "data" / "input" / f"{day}.csv", cols)
    print("demo: data/models/demo.onnx,", ", ".join(ops_of(onx)))


# ---------------------------------------------------------------- zoo

def zoo_sklearn():
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                                  GradientBoostingRegressor, HistGradientBoostingClassifier,
                                  HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR, LinearSVC

    conv = f"skl2onnx {skl2onnx.__version__}"
    bc = load_breast_cancer()
    Xb, yb = bc.data.astype(np.float32), bc.target
    cols_b = list(bc.feature_names)
    wine = load_wine()
    Xw, yw = wine.data.astype(np.float32), wine.target
    cols_w = [c if c != "od280/od315_of_diluted_wines" else c for c in wine.feature_names]
    diab = load_diabetes()
    Xd, yd = diab.data.astype(np.float32), diab.target
    cols_d = [c if c != "bmi" else "ratio (a/b)" for c in diab.feature_names]
    ds_b = "breast_cancer"

    def binary(name, est, estimator, zipmap=True, X=Xb, y=yb, cols=cols_b, thresholds=False, n=300, **kw):
        est.fit(X, y)
        opts = None if zipmap else {id(est): {"zipmap": False}}
        try:
            onx = skl(est, X, options=opts, **kw)
        except NameError as e:  # no probabilities, so no ZipMap option (LinearSVC, SVC)
            SKIPPED.append((name, f"skl2onnx refused the export: {e}"))
            return
        Xs = sample(X, n, seed=len(name))
        if thresholds:
            Xs = with_thresholds(onx, Xs)
        save_zoo(name, onx, pd.DataFrame(Xs, columns=cols), tensor_features(onx.graph.input[0].name, cols), conv,
                 estimator, "breast_cancer" if X is Xb else "wine", "binary" if len(set(y)) == 2 else "multiclass")

    def regression(name, est, estimator, X=Xd, y=yd, cols=cols_d, thresholds=False, n=300):
        est.fit(X, y)
        onx = skl(est, X)
        Xs = sample(X, n, seed=len(name))
        if thresholds:
            Xs = with_thresholds(onx, Xs)
        save_zoo(name, onx, pd.DataFrame(Xs, columns=cols), tensor_features(onx.graph.input[0].name, cols), conv,
                 estimator, "diabetes", "regression")

    LR = lambda: LogisticRegression(max_iter=5000)  # noqa: E731
    binary("skl_logreg_zipmap", LR(), "LogisticRegression()")
    binary("skl_scaler_logreg_zipmap", Pipeline([("s", StandardScaler()), ("c", LR())]), "Pipeline(StandardScaler, LogisticRegression)")
    binary("skl_rf_binary_zipmap", RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0), "RandomForestClassifier(20, depth 6)", thresholds=True)
    binary("skl_logreg", LR(), "LogisticRegression(), zipmap=False", zipmap=False)
    binary("skl_scaler_logreg", Pipeline([("s", StandardScaler()), ("c", LR())]), "Pipeline(StandardScaler, LogisticRegression), zipmap=False", zipmap=False)
    binary("skl_rf_binary", RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0), "RandomForestClassifier(20, depth 6), zipmap=False", zipmap=False, thresholds=True)
    binary("skl_rf_3class", RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0), "RandomForestClassifier 3 classes", zipmap=False, X=Xw, y=yw, cols=cols_w, thresholds=True)
    binary("skl_gbdt_binary", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0), "GradientBoostingClassifier(30)", zipmap=False, thresholds=True)
    binary("skl_gbdt_3class", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0), "GradientBoostingClassifier 3 classes", zipmap=False, X=Xw, y=yw, cols=cols_w)
    binary("skl_et_binary", ExtraTreesClassifier(n_estimators=20, max_depth=6, random_state=0), "ExtraTreesClassifier(20)", zipmap=False, thresholds=True)
    binary("skl_logreg_3class", LR(), "LogisticRegression 3 classes (wine)", zipmap=False, X=Xw, y=np.array(["class_a", "class_b", "class_c"])[yw], cols=cols_w)
    binary("skl_mlp_binary", Pipeline([("s", StandardScaler()), ("c", MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, random_state=0))]), "Pipeline(StandardScaler, MLPClassifier(16))", zipmap=False)
    binary("skl_linsvc", Pipeline([("s", StandardScaler()), ("c", LinearSVC(random_state=0))]), "Pipeline(StandardScaler, LinearSVC)", zipmap=False)
    binary("skl_svc", Pipeline([("s", StandardScaler()), ("c", SVC(probability=False, random_state=0))]), "Pipeline(StandardScaler, SVC(rbf))", zipmap=False)
    try:
        hgb = HistGradientBoostingClassifier(max_iter=30, max_depth=4, random_state=0)
        binary("skl_hgb_binary", hgb, "HistGradientBoostingClassifier(30)", zipmap=False)
    except Exception as e:  # noqa: BLE001
        SKIPPED.append(("skl_hgb_binary", repr(e)))

    regression("skl_linreg", LinearRegression(), "LinearRegression()")
    regression("skl_rf_reg", RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0), "RandomForestRegressor(20)", thresholds=True)
    regression("skl_gbdt_reg", GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0), "GradientBoostingRegressor(30)", thresholds=True)
    regression("skl_et_reg", ExtraTreesRegressor(n_estimators=20, max_depth=6, random_state=0), "ExtraTreesRegressor(20)")
    regression("skl_hgb_reg", HistGradientBoostingRegressor(max_iter=30, max_depth=4, random_state=0), "HistGradientBoostingRegressor(30)")
    regression("skl_mlp_reg", Pipeline([("s", StandardScaler()), ("c", MLPRegressor(hidden_layer_sizes=(16,), max_iter=800, random_state=0))]), "Pipeline(StandardScaler, MLPRegressor(16))")
    regression("skl_svr", Pipeline([("s", StandardScaler()), ("c", SVR())]), "Pipeline(StandardScaler, SVR(rbf))")

    # NaN in the input, routed by the trees' missing-value tracks.
    Xn = Xd.copy()
    rng = np.random.default_rng(5)
    Xn[rng.random(Xn.shape) < 0.1] = np.nan
    hgb = HistGradientBoostingRegressor(max_iter=30, max_depth=4, random_state=0).fit(Xn, yd)
    onx = skl(hgb, Xn)
    Xs = sample(Xd, 300, seed=9)
    Xs[np.random.default_rng(10).random(Xs.shape) < 0.1] = np.nan
    save_zoo("skl_hgb_reg_nan", onx, pd.DataFrame(Xs, columns=cols_d), tensor_features(onx.graph.input[0].name, cols_d),
             conv, "HistGradientBoostingRegressor on data with NaN", "diabetes", "regression")

    # A double model: float64 input, so skl2onnx writes the ai.onnx.ml 3
    # *_as_tensor double attributes. It also declares a double output, which
    # TreeEnsembleRegressor does not have (onnxruntime refuses the model), so
    # that declaration is corrected to float.
    rf = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0).fit(Xd.astype(np.float64), yd)
    onx = to_onnx(rf, Xd[:1].astype(np.float64))
    for o in onx.graph.output:
        o.type.tensor_type.elem_type = TensorProto.FLOAT
    del onx.graph.value_info[:]
    Xs = sample(Xd, 300, seed=11)
    save_zoo("skl_rf_reg_double", onx, pd.DataFrame(Xs, columns=cols_d), tensor_features(onx.graph.input[0].name, cols_d, "float64"),
             conv, "RandomForestRegressor(10), float64 input, *_as_tensor double attributes", "diabetes", "regression")

    return rf, Xd, yd, cols_d


def rewrite_gte(rf_model_onnx):
    """A forest re-encoded with GTE/GT/LT splits: same answers, other modes."""
    m = onnx.ModelProto()
    m.CopyFrom(rf_model_onnx)
    node = next(n for n in m.graph.node if n.op_type.startswith("TreeEnsemble"))
    a = {x.name: x for x in node.attribute}
    modes = list(a["nodes_modes"].strings)
    yes = list(a["nodes_truenodeids"].ints)
    no = list(a["nodes_falsenodeids"].ints)
    vals = list(a["nodes_values"].floats)
    k = 0
    for i, m_ in enumerate(modes):
        if m_ != b"BRANCH_LEQ":
            continue
        k += 1
        if k % 3 == 0:  # x <= t  ==  not (x > t)
            modes[i] = b"BRANCH_GT"
            yes[i], no[i] = no[i], yes[i]
        elif k % 3 == 1:  # x <= t == not (x >= next_up(t))
            modes[i] = b"BRANCH_GTE"
            vals[i] = float(np.nextafter(np.float32(vals[i]), np.float32(np.inf)))
            yes[i], no[i] = no[i], yes[i]
        else:  # x <= t == x < next_up(t)
            modes[i] = b"BRANCH_LT"
            vals[i] = float(np.nextafter(np.float32(vals[i]), np.float32(np.inf)))
    a["nodes_modes"].strings[:] = modes
    a["nodes_truenodeids"].ints[:] = yes
    a["nodes_falsenodeids"].ints[:] = no
    a["nodes_values"].floats[:] = vals
    return m


def to_tree_ensemble5(reg_onnx):
    """Rewrites a TreeEnsembleRegressor (ml 1/3) as the ml-5 TreeEnsemble op."""
    m = onnx.ModelProto()
    m.CopyFrom(reg_onnx)
    node = next(n for n in m.graph.node if n.op_type == "TreeEnsembleRegressor")
    a = {x.name: x for x in node.attribute}
    tids, nids = list(a["nodes_treeids"].ints), list(a["nodes_nodeids"].ints)
    modes = [s.decode() for s in a["nodes_modes"].strings]
    feats, vals = list(a["nodes_featureids"].ints), list(a["nodes_values"].floats)
    yes, no = list(a["nodes_truenodeids"].ints), list(a["nodes_falsenodeids"].ints)
    weights = {}
    for t, nn, w in zip(a["target_treeids"].ints, a["target_nodeids"].ints, a["target_weights"].floats):
        weights[(t, nn)] = weights.get((t, nn), 0.0) + w
    inner = [(t, nn) for t, nn, md in zip(tids, nids, modes) if md != "LEAF"]
    leaves = [(t, nn) for t, nn, md in zip(tids, nids, modes) if md == "LEAF"]
    inner_ix = {k: i for i, k in enumerate(inner)}
    leaf_ix = {k: i for i, k in enumerate(leaves)}
    pos = {(t, nn): i for i, (t, nn) in enumerate(zip(tids, nids))}
    n_f, n_y, n_n, n_yl, n_nl, n_s = [], [], [], [], [], []
    for (t, nn) in inner:
        i = pos[(t, nn)]
        n_f.append(feats[i]); n_s.append(vals[i])
        for child, ids, leafs in ((yes[i], n_y, n_yl), (no[i], n_n, n_nl)):
            if modes[pos[(t, child)]] == "LEAF":
                ids.append(leaf_ix[(t, child)]); leafs.append(1)
            else:
                ids.append(inner_ix[(t, child)]); leafs.append(0)
    roots = []
    for t in sorted(set(tids)):
        root = (t, 0)
        roots.append(inner_ix[root])
    base = list(a["base_values"].floats) if "base_values" in a else []
    lw = [weights.get(k, 0.0) + (base[0] if base and False else 0.0) for k in leaves]
    agg = a["aggregate_function"].s.decode() if "aggregate_function" in a else "SUM"
    new = helper.make_node(
        "TreeEnsemble", list(node.input), list(node.output), domain="ai.onnx.ml",
        aggregate_function={"AVERAGE": 0, "SUM": 1, "MIN": 2, "MAX": 3}[agg],
        leaf_targetids=[0] * len(leaves),
        leaf_weights=numpy_helper.from_array(np.array(lw, dtype=np.float32)),
        n_targets=1,
        nodes_falseleafs=n_nl, nodes_falsenodeids=n_n, nodes_featureids=n_f,
        nodes_modes=numpy_helper.from_array(np.zeros(len(inner), dtype=np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array(n_s, dtype=np.float32)),
        nodes_trueleafs=n_yl, nodes_truenodeids=n_y,
        post_transform=0, tree_roots=roots,
    )
    idx = list(m.graph.node).index(node)
    m.graph.node.remove(node)
    m.graph.node.insert(idx, new)
    del m.opset_import[:]
    m.opset_import.extend([helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    m.ir_version = 10
    return m


def member_model():
    """A hand-built ml-5 TreeEnsemble with BRANCH_MEMBER and BRANCH_LT splits."""
    # tree 0: x0 in {1,3,5} ? (x1 < 0.5 ? 1.0 : 2.0) : 3.0 ; tree 1: x1 < 0.25 ? 10 : 20
    node = helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml",
        aggregate_function=1, n_targets=1, post_transform=0,
        tree_roots=[0, 2],
        nodes_featureids=[0, 1, 1],
        nodes_modes=numpy_helper.from_array(np.array([6, 1, 1], dtype=np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array([0.0, 0.5, 0.25], dtype=np.float32)),
        nodes_truenodeids=[1, 0, 3], nodes_trueleafs=[0, 1, 1],
        nodes_falsenodeids=[2, 1, 4], nodes_falseleafs=[1, 1, 1],
        nodes_missing_value_tracks_true=[0, 1, 0],
        membership_values=numpy_helper.from_array(np.array([1.0, 3.0, 5.0, np.nan], dtype=np.float32)),
        leaf_targetids=[0, 0, 0, 0, 0],
        leaf_weights=numpy_helper.from_array(np.array([1.0, 2.0, 3.0, 10.0, 20.0], dtype=np.float32)),
    )
    g = helper.make_graph([node], "member", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    m.ir_version = 10
    return m


def zoo_rewritten(rf_double, Xd, yd, cols_d):
    from sklearn.ensemble import RandomForestRegressor
    conv = f"skl2onnx {skl2onnx.__version__} + onnx.helper rewrite"
    rf = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=1).fit(Xd, yd)
    base = to_onnx(rf, Xd[:1])
    Xs = with_thresholds(base, sample(Xd, 300, seed=21), every=3)
    m = rewrite_gte(base)
    save_zoo("rf_reg_gte", m, pd.DataFrame(Xs, columns=cols_d), tensor_features(m.graph.input[0].name, cols_d),
             conv, "RandomForestRegressor(10) re-encoded with BRANCH_GTE/GT/LT", "diabetes", "regression")
    m5 = to_tree_ensemble5(base)
    save_zoo("tree5_rf_reg", m5, pd.DataFrame(Xs, columns=cols_d), tensor_features(m5.graph.input[0].name, cols_d),
             conv, "RandomForestRegressor(10) as ai.onnx.ml 5 TreeEnsemble", "diabetes", "regression")
    mm = member_model()
    rng = np.random.default_rng(3)
    Xm = np.stack([rng.integers(0, 7, 200).astype(np.float32), rng.random(200).astype(np.float32)], axis=1)
    Xm[::9, 1] = np.nan
    Xm[::4, 1] = np.float32(0.5)
    save_zoo("tree5_member", mm, pd.DataFrame(Xm, columns=["code", "x"]), tensor_features("X", ["code", "x"]),
             "onnx.helper", "hand-built TreeEnsemble with BRANCH_MEMBER and BRANCH_LT", "synthetic", "regression")


def zoo_boosters():
    import lightgbm as lgb
    import onnxmltools
    import xgboost as xgb
    from onnxmltools.convert.common.data_types import FloatTensorType

    bc = load_breast_cancer()
    Xb, yb = bc.data.astype(np.float32), bc.target
    wine = load_wine()
    Xw, yw = wine.data.astype(np.float32), wine.target
    diab = load_diabetes()
    Xd, yd = diab.data.astype(np.float32), diab.target
    fcols = lambda k: [f"f{i}" for i in range(k)]  # noqa: E731
    conv = f"onnxmltools {onnxmltools.__version__}"

    def lgbm(name, est, X, y, task, zipmap=False):
        est.fit(X, y)
        onx = onnxmltools.convert_lightgbm(est, initial_types=[("input", FloatTensorType([None, X.shape[1]]))], zipmap=zipmap, target_opset=15)
        Xs = with_thresholds(onx, sample(X, 300, seed=len(name)))
        save_zoo(name, onx, pd.DataFrame(Xs, columns=fcols(X.shape[1])), tensor_features("input", fcols(X.shape[1])),
                 f"{conv} (lightgbm {lgb.__version__})", type(est).__name__, "", task)

    lgbm("lgbm_binary", lgb.LGBMClassifier(n_estimators=50, num_leaves=15, verbose=-1, random_state=0), Xb, yb, "binary", zipmap=True)
    lgbm("lgbm_3class", lgb.LGBMClassifier(n_estimators=30, num_leaves=7, verbose=-1, random_state=0), Xw, yw, "multiclass")
    lgbm("lgbm_reg", lgb.LGBMRegressor(n_estimators=50, num_leaves=15, verbose=-1, random_state=0), Xd, yd, "regression")

    def xg(name, est, X, y, task):
        est.fit(X, y)
        onx = onnxmltools.convert_xgboost(est, initial_types=[("input", FloatTensorType([None, X.shape[1]]))], target_opset=15)
        Xs = sample(X, 300, seed=len(name))
        save_zoo(name, onx, pd.DataFrame(Xs, columns=fcols(X.shape[1])), tensor_features("input", fcols(X.shape[1])),
                 f"{conv} (xgboost {xgb.__version__})", type(est).__name__, "", task)

    try:
        xg("xgb_binary", xgb.XGBClassifier(n_estimators=30, max_depth=4, random_state=0), Xb, yb, "binary")
        xg("xgb_reg", xgb.XGBRegressor(n_estimators=30, max_depth=4, random_state=0), Xd, yd, "regression")
    except Exception as e:  # noqa: BLE001
        SKIPPED.append(("xgboost", repr(e)))


def zoo_dense_net():
    """A small dense net built with onnx.helper, standing in for a PyTorch export."""
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((8, 16)).astype(np.float32) * 0.5
    b1 = rng.standard_normal(16).astype(np.float32) * 0.1
    w2 = rng.standard_normal((16, 1)).astype(np.float32) * 0.5
    b2 = rng.standard_normal(1).astype(np.float32) * 0.1
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["z"]), helper.make_node("Sigmoid", ["z"], ["score"])]
    g = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                          [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
                          [numpy_helper.from_array(v, k) for k, v in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    X = rng.standard_normal((300, 8)).astype(np.float32)
    cols = [f"x{i}" for i in range(8)]
    save_zoo("dense_net", m, pd.DataFrame(X, columns=cols), tensor_features("x", cols), "onnx.helper",
             "Gemm-Relu-Gemm-Sigmoid (PyTorch-style export)", "synthetic", "regression")


def zoo_column_transformer():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.ensemble import RandomForestClassifier
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    conv = f"skl2onnx {skl2onnx.__version__}"
    rng = np.random.default_rng(11)
    n = 600
    df = pd.DataFrame({
        "age": rng.integers(18, 80, n).astype(np.float32),
        "income": (rng.lognormal(10, 0.5, n)).astype(np.float32),
        "home city": rng.choice(["paris", "lyon", "nice", "lille"], n),
        "plan": rng.choice(["basic", "plus", "pro"], n),
    })
    df.loc[rng.random(n) < 0.05, "income"] = np.nan
    y = ((df["age"] > 45) ^ (df["plan"] == "pro")).astype(int).to_numpy()
    num, cat = ["age", "income"], ["home city", "plan"]
    pre = ColumnTransformer([
        ("num", Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]), num),
        ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
    ])
    pipe = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=2000))]).fit(df, y)
    in_names = {"age": "age", "income": "income", "home city": "home_city", "plan": "plan"}
    types = [(in_names[c], FloatTensorType([None, 1])) for c in num] + [(in_names[c], StringTensorType([None, 1])) for c in cat]
    X = df.rename(columns=in_names)
    pipe_r = Pipeline([("pre", ColumnTransformer([
        ("num", Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]), ["age", "income"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["home_city", "plan"]),
    ])), ("clf", LogisticRegression(max_iter=2000))]).fit(X, y)
    onx = to_onnx(pipe_r, initial_types=types, options={id(pipe_r): {"zipmap": False}})
    test = df.sample(300, random_state=1, replace=True).reset_index(drop=True)
    test.loc[::17, "home city"] = "marseille"  # never seen in training
    feats = {"kind": "per_column", "inputs": [{"input": in_names[c], "column": c, "dtype": "float32"} for c in num]
             + [{"input": in_names[c], "column": c, "dtype": "string"} for c in cat]}
    save_zoo("skl_coltrans_str", onx, test, feats, conv,
             "Pipeline(ColumnTransformer(SimpleImputer+StandardScaler, OneHotEncoder), LogisticRegression)", "synthetic", "binary")

    # int64 categories and a tree head
    dfi = pd.DataFrame({"store": rng.integers(1, 6, n).astype(np.int64), "weekday": rng.integers(0, 7, n).astype(np.int64),
                        "amount": rng.random(n).astype(np.float32)})
    yi = ((dfi["store"] % 2 == 0) & (dfi["amount"] > 0.3)).astype(int).to_numpy()
    pipe_i = Pipeline([("pre", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["store", "weekday"]),
                                                  ("num", "passthrough", ["amount"])])),
                       ("clf", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0))]).fit(dfi, yi)
    types_i = [("store", Int64TensorType([None, 1])), ("weekday", Int64TensorType([None, 1])), ("amount", FloatTensorType([None, 1]))]
    onx_i = to_onnx(pipe_i, initial_types=types_i, options={id(pipe_i): {"zipmap": False}})
    test_i = dfi.sample(300, random_state=2, replace=True).reset_index(drop=True)
    test_i.loc[::13, "store"] = 9  # unseen
    feats_i = {"kind": "per_column", "inputs": [{"input": "store", "column": "store", "dtype": "int64"},
                                                {"input": "weekday", "column": "weekday", "dtype": "int64"},
                                                {"input": "amount", "column": "amount", "dtype": "float32"}]}
    save_zoo("skl_coltrans_int", onx_i, test_i, feats_i, conv,
             "Pipeline(ColumnTransformer(OneHotEncoder on int64, passthrough), RandomForestClassifier)", "synthetic", "binary")


def main():
    print(f"scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}, onnxruntime {ort.__version__}")
    demo()
    ZOO.mkdir(parents=True, exist_ok=True)
    rf, Xd, yd, cols_d = zoo_sklearn()
    zoo_rewritten(rf, Xd, yd, cols_d)
    zoo_boosters()
    zoo_dense_net()
    try:
        zoo_column_transformer()
    except Exception as e:  # noqa: BLE001
        SKIPPED.append(("column transformer", repr(e)))
    names = sorted(p.name for p in ZOO.iterdir() if (p / "meta.json").exists())
    (ZOO / "manifest.json").write_text(json.dumps(names, indent=2) + "\n")
    for name, why in SKIPPED:
        print(f"skipped {name}: {why}", file=sys.stderr)


if __name__ == "__main__":
    main()

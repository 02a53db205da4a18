#!/usr/bin/env python3
"""Makes batchscore's demo model and data, and the zoo of test models.

Run from the repository root, with the packages of tools/requirements.txt:

    python tools/make_fixtures.py

(for example after `python3 -m venv .venv && .venv/bin/pip install -r
tools/requirements.txt`, as `.venv/bin/python tools/make_fixtures.py`). Paths
are relative to this script's parent directory, so any working directory
does. Exit status 1 if a zoo model could not be made (listed at the end).

Everything it writes is committed; building, running and testing batchscore
needs no Python. It writes:

    data/models/demo.onnx          StandardScaler + LogisticRegression (breast cancer), skl2onnx defaults
    data/input/2026-11-2{2,3}.csv  1,000 rows a day to score with it
    data/README.md
    tests/fixtures/zoo/<name>/     one directory per zoo model:
        model.onnx     the export
        input.csv      row_id + the feature columns; NaN is an empty cell
        expected.csv   row_id + onnxruntime's outputs on input.csv as written
                       (read back with pandas, cast to the model's input type)
        meta.json      converter, estimator, how columns map to inputs, outputs, ops
        model.txt      LightGBM models only: the booster's own text model
                       (booster_.save_model), which lleaves compiles from
    tests/fixtures/zoo/manifest.json   the names, sorted

Models are trained on data sets scikit-learn ships (breast_cancer, wine,
iris, diabetes) or on small synthetic ones, and exported with the converters
users use, with their defaults unless the name says otherwise. Deterministic:
fixed seeds, single-threaded boosters; the CSVs are identical run to run.

Work-arounds for the converter versions pinned in tools/requirements.txt:
  * skl2onnx 1.20 + scikit-learn 1.9: HistGradientBoosting* exports fail with
    "Expected an int, got a boolean" (numpy bools in
    nodes_missing_value_tracks_true); onnx.helper.make_attribute is patched to
    turn them into ints.
  * skl2onnx 1.20: LinearSVC fails with "Option 'zipmap' not in [...]" even
    with default options (its converter is registered without the zipmap
    option the classifier parser always asks for); the option is added. It
    still emits no ZipMap: its "probabilities" output is the [N, 1] decision
    score.
  * skl2onnx 1.20 with float64 input writes float (not *_as_tensor double)
    tree attributes under ai.onnx.ml 1 and declares a double output that
    TreeEnsembleRegressor cannot produce (onnxruntime refuses the model).
    skl_rf_reg_double keeps the converter's attributes and fixes the output
    type; skl_rf_reg_double_attrs rewrites the node into ai.onnx.ml 3 with
    nodes_values_as_tensor / target_weights_as_tensor taken from the fitted
    trees in double precision.
  * No converter emits the ai.onnx.ml 5 TreeEnsemble op or BRANCH_GTE/GT/LT
    modes: tree5_*, tree_modes_* models are rewritten or built with onnx.helper
    and checked against the model they were derived from.

  * onnxruntime's StringNormalizer (text models) refuses to load unless the
    locale it names (skl2onnx: none, so en_US.UTF-8) is installed. Without
    root: `localedef -i en_US -f UTF-8 DIR/en_US.UTF-8` and run this script
    with LOCPATH=DIR.

Skipped:
  * A model using sklearn's LabelEncoder: it only encodes targets and cannot
    sit in a feature pipeline. skl_ordinal_gbdt gets the ONNX LabelEncoder op
    from OrdinalEncoder instead (skl2onnx converts it to LabelEncoder).
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "tests" / "fixtures" / "zoo"
SKIPPED = []  # (name, why)
MADE = []  # zoo names written this run


# ---------------------------------------------------------------- converter work-arounds

def _patch_bool_attributes():
    """skl2onnx 1.20 passes numpy/Python bools for
    nodes_missing_value_tracks_true (HistGradientBoosting*), which onnx 1.23
    refuses ("Expected an int, got a boolean"): make them ints."""
    original = helper.make_attribute

    def make_attribute(key, value, *args, **kwargs):
        if isinstance(value, (list, tuple, np.ndarray)) and any(isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) for v in value]
        return original(key, value, *args, **kwargs)

    helper.make_attribute = make_attribute


_patch_bool_attributes()

import sklearn  # noqa: E402
import skl2onnx  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402
from skl2onnx.common._registration import _converter_pool  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine  # noqa: E402


def _patch_linear_svc_options():
    """skl2onnx 1.20's classifier parser asks every classifier for the zipmap
    option, but LinearSVC's converter does not declare it: declare it."""
    conv = _converter_pool["SklearnLinearSVC"]
    if "zipmap" not in conv._options:
        conv._options = dict(conv._options, zipmap=[True, False, "columns"])


_patch_linear_svc_options()

SKL = f"skl2onnx {skl2onnx.__version__}"


# ---------------------------------------------------------------- CSV and meta helpers

def fmt_f32(a):
    """Shortest text that reads back as exactly this float32; empty for NaN."""
    return ["" if np.isnan(v) else np.format_float_positional(np.float32(v), unique=True, trim="-") for v in a]


def fmt_f64(a):
    return ["" if np.isnan(v) else repr(float(v)) for v in a]


def write_csv(path, columns):
    """columns: list of (name, list of strings)."""
    def q(s):
        return '"' + s.replace('"', '""') + '"' if any(ch in s for ch in ',"\n\r') else s

    with open(path, "w", newline="") as f:
        f.write(",".join(q(n) for n, _ in columns) + "\n")
        for r in zip(*[v for _, v in columns]):
            f.write(",".join(q(str(v)) for v in r) + "\n")


def out_text(a):
    """Model outputs as text: float32 to 9 significant digits, float64 to 17."""
    a = np.asarray(a)
    if a.dtype == np.float32:
        return ["%.9g" % v for v in a]
    if a.dtype == np.float64:
        return ["%.17g" % v for v in a]
    if a.dtype.kind in "iub":
        return [str(int(v)) for v in a]
    return [str(v) for v in a]


def ops_of(model):
    return sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in model.graph.node})


def opsets_of(model):
    return dict(sorted({(o.domain or "ai.onnx"): o.version for o in model.opset_import}.items()))


def _labels(node):
    for a in node.attribute:
        if a.name in ("classlabels_int64s", "classlabels_ints"):
            return [int(v) for v in a.ints]
        if a.name == "classlabels_strings":
            return [s.decode() for s in a.strings]
    return None


def zipmap_classes(model):
    for n in model.graph.node:
        if n.op_type == "ZipMap":
            return _labels(n)
    return None


def classifier_classes(model):
    for n in reversed(model.graph.node):
        if n.op_type in ("TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier"):
            return _labels(n)
    return None


def tree_node(model):
    return next((n for n in model.graph.node if n.op_type.startswith("TreeEnsemble")), None)


def attrs(node):
    return {a.name: a for a in node.attribute}


def session(model):
    so = ort.SessionOptions()
    so.log_severity_level = 3  # onnxmltools declares the label [1]: a warning per run
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def check_runs(model, feed):
    """Every model must load and run in onnxruntime."""
    onnx.checker.check_model(model)
    return session(model).run(None, feed)


def tensor_features(model, columns, dtype="float32"):
    return {"kind": "tensor", "input": model.graph.input[0].name, "dtype": dtype, "columns": list(columns)}


NP = {"float32": np.float32, "float64": np.float64, "int64": np.int64}


def feed_from(back, features):
    """The onnxruntime feed from the CSV as read back."""
    if features["kind"] == "tensor":
        return {features["input"]: back[features["columns"]].to_numpy().astype(NP[features["dtype"]])}
    feed = {}
    for i in features["inputs"]:
        col = back[i["column"]]
        if i["dtype"] == "string":
            feed[i["input"]] = col.astype(str).to_numpy().astype(object).reshape(-1, 1)
        else:
            feed[i["input"]] = col.to_numpy().astype(NP[i["dtype"]]).reshape(-1, 1)
    return feed


def stable(model, name):
    """Byte-stable files: skl2onnx lists opsets in set order, onnxmltools
    names the graph with a random uuid."""
    opsets = sorted(model.opset_import, key=lambda o: (o.domain, o.version))
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    if len(model.graph.name) == 32 and all(ch in "0123456789abcdef" for ch in model.graph.name):
        model.graph.name = name


def save_zoo(name, model, df, features, converter, estimator, dataset, task, tolerance=1e-5, reason=None):
    """df: the feature columns under their CSV names (float columns in the
    model's precision). Writes the four files of one zoo model."""
    d = ZOO / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    stable(model, name)
    onnx.checker.check_model(model)
    onnx.save(model, d / "model.onnx")
    n = len(df)
    cols = [("row_id", [str(i) for i in range(n)])]
    for c in df.columns:
        v = df[c].to_numpy()
        if v.dtype == np.float32:
            cols.append((c, fmt_f32(v)))
        elif v.dtype == np.float64:
            cols.append((c, fmt_f64(v)))
        else:
            cols.append((c, ["" if pd.isna(x) else str(x) for x in v]))
    write_csv(d / "input.csv", cols)

    # Feed onnxruntime exactly what the CSV says.
    back = pd.read_csv(d / "input.csv", keep_default_na=False, na_values=[""])
    assert list(back.columns) == ["row_id"] + list(df.columns), name
    feed = feed_from(back, features)
    if features["kind"] == "tensor":  # the text must be exact
        same = df[features["columns"]].to_numpy().astype(NP[features["dtype"]])
        assert np.array_equal(feed[features["input"]], same, equal_nan=True), name
    sess = session(model)
    out_names = [o.name for o in sess.get_outputs()]
    res = dict(zip(out_names, sess.run(None, feed)))

    zm = zipmap_classes(model)
    classes = zm if zm is not None else classifier_classes(model)
    outputs = {"label": None, "proba": None, "value": None}
    exp = [("row_id", [str(i) for i in range(n)])]
    if task in ("binary", "multiclass"):
        label_name, proba_name = out_names[0], out_names[1]
        outputs["label"], outputs["proba"] = label_name, proba_name
        exp.append(("label", out_text(np.asarray(res[label_name]).reshape(-1))))
        probs = res[proba_name]
        if isinstance(probs, list):  # ZipMap: one {class: p} per row
            probs = np.array([[row[c] for c in zm] for row in probs], dtype=np.float32)
        probs = np.asarray(probs).reshape(n, -1)
        if probs.shape[1] == 1:  # a single score (LinearSVC): one column
            exp.append(("proba", out_text(probs[:, 0])))
        else:
            names = classes if classes is not None and len(classes) == probs.shape[1] else range(probs.shape[1])
            for k, c in enumerate(names):
                exp.append((f"proba_{c}", out_text(probs[:, k])))
    else:
        value_name = out_names[0]
        outputs["value"] = value_name
        v = np.asarray(res[value_name]).reshape(n, -1)
        if v.shape[1] == 1:
            exp.append(("value", out_text(v[:, 0])))
        else:
            for k in range(v.shape[1]):
                exp.append((f"value_{k}", out_text(v[:, k])))
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
        "classes": classes if task != "regression" else None,
        "ops": ops_of(model),
        "opsets": opsets_of(model),
        "has_nan": bool(df.isna().to_numpy().any()),
        "tolerance": tolerance,
    }
    if reason:
        meta["tolerance_reason"] = reason
    (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    MADE.append(name)
    print(f"  {name:<28} {', '.join(meta['ops'])}")


def attempt(name, fn, *args, **kwargs):
    """Runs one zoo entry; a converter or runtime failure is noted, not fatal."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001
        SKIPPED.append((name, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"))
        print(f"  {name:<28} SKIPPED: {SKIPPED[-1][1]}", file=sys.stderr)
        return None


# ---------------------------------------------------------------- data

def sample(X, n, noise=0.02, seed=0, dtype=np.float32):
    """Dataset rows resampled with small multiplicative noise."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=n, replace=True)
    Xs = X[idx] * (1.0 + noise * rng.standard_normal((n, X.shape[1])))
    return Xs.astype(dtype)


def with_thresholds(model, X, every=7, start=0):
    """Puts some values exactly on tree thresholds, where <= and < differ."""
    node = tree_node(model)
    if node is None:
        return X
    a = attrs(node)
    if "nodes_values" not in a:
        return X
    X = X.copy()
    modes = [m.decode() for m in a["nodes_modes"].strings]
    splits = [(f, v) for f, v, m in zip(a["nodes_featureids"].ints, a["nodes_values"].floats, modes) if m != "LEAF"]
    for i in range(start, len(X), every):
        f, v = splits[(i * 31) % len(splits)]
        X[i, f] = X.dtype.type(np.float32(v))
    return X


def datasets():
    bc, wine, iris, diab = load_breast_cancer(), load_wine(), load_iris(), load_diabetes()
    return {
        "breast_cancer": (bc.data.astype(np.float32), bc.target, list(bc.feature_names)),
        # wine keeps its names, among them "od280/od315_of_diluted_wines"
        "wine": (wine.data.astype(np.float32), wine.target, list(wine.feature_names)),
        "iris": (iris.data.astype(np.float32), iris.target, [f"f{i}" for i in range(4)]),
        # diabetes: "bmi" renamed to a name with a slash, parentheses and a space
        "diabetes": (diab.data.astype(np.float32), diab.target,
                     ["ratio (a/b)" if c == "bmi" else c for c in diab.feature_names]),
    }


# ---------------------------------------------------------------- demo

def demo():
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    X, y = data.data.astype(np.float32), data.target
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=5000))]).fit(X, y)
    onx = to_onnx(pipe, initial_types=[("input", FloatTensorType([None, X.shape[1]]))])
    (ROOT / "data" / "models").mkdir(parents=True, exist_ok=True)
    (ROOT / "data" / "input").mkdir(parents=True, exist_ok=True)
    stable(onx, "demo")
    onnx.save(onx, ROOT / "data" / "models" / "demo.onnx")
    regions = np.array(["north", "south", "east", "west"])
    for day, seed in (("2026-11-22", 1122), ("2026-11-23", 1123)):
        rng = np.random.default_rng(seed)
        n = 1000
        Xs = sample(X, n, seed=seed + 1)
        ids = rng.choice(np.arange(1, 10_000_000), size=n, replace=False)
        cols = [("customer_id", [f"C{i:07d}" for i in ids]), ("region", list(rng.choice(regions, size=n)))]
        for j, name in enumerate(data.feature_names):
            cols.append((name, ["%.6f" % v for v in Xs[:, j]]))
        write_csv(ROOT / "data" / "input" / f"{day}.csv", cols)
        check_runs(onx, {"input": Xs[:5]})
    (ROOT / "data" / "README.md").write_text(
        "# Demo data\n\n"
        "`models/demo.onnx` is scikit-learn's `Pipeline(StandardScaler(), LogisticRegression(max_iter=5000))` "
        "trained on the breast-cancer data set that scikit-learn ships (`load_breast_cancer`; label 0 = malignant, "
        "1 = benign) and exported by skl2onnx with its defaults: one float input `input` of shape [N, 30], outputs "
        "`output_label` (int64) and `output_probability` (a ZipMap of class → probability). "
        "`input/2026-11-22.csv` and `input/2026-11-23.csv` each hold 1,000 synthetic patients: a unique "
        "`customer_id`, a made-up `region`, and the 30 features under scikit-learn's names (\"mean radius\", ...), "
        "made by resampling the data set's rows and multiplying every value by 1 + 2% Gaussian noise "
        "(a different seed per date); there are no missing values. Everything here is generated by "
        "`python tools/make_fixtures.py` (see its header) and is deterministic.\n"
    )
    print("demo: data/models/demo.onnx,", ", ".join(ops_of(onx)))


# ---------------------------------------------------------------- zoo: scikit-learn

def zoo_sklearn(D):
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                                  GradientBoostingRegressor, HistGradientBoostingClassifier,
                                  HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import Binarizer, Normalizer, StandardScaler
    from sklearn.svm import SVC, SVR, LinearSVC

    def classifier(name, est, estimator, dataset="breast_cancer", zipmap=True, labels=None, n=300):
        X, y, cols = D[dataset]
        if labels is not None:
            y = np.array(labels)[y]
        est.fit(X, y)
        opts = None if zipmap else {id(est): {"zipmap": False}}
        onx = to_onnx(est, X[:1], options=opts)
        Xs = with_thresholds(onx, sample(X, n, seed=sum(map(ord, name))))
        task = "binary" if len(set(y)) == 2 else "multiclass"
        save_zoo(name, onx, pd.DataFrame(Xs, columns=cols), tensor_features(onx, cols), SKL, estimator, dataset, task)

    def regressor(name, est, estimator, dataset="diabetes", n=300):
        X, y, cols = D[dataset]
        est.fit(X, y)
        onx = to_onnx(est, X[:1])
        Xs = with_thresholds(onx, sample(X, n, seed=sum(map(ord, name))))
        save_zoo(name, onx, pd.DataFrame(Xs, columns=cols), tensor_features(onx, cols), SKL, estimator, dataset,
                 "regression")

    LR = lambda: LogisticRegression(max_iter=5000)  # noqa: E731
    SC_LR = lambda: Pipeline([("scale", StandardScaler()), ("clf", LR())])  # noqa: E731
    RF = lambda: RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0)  # noqa: E731
    jobs = [
        # skl2onnx defaults (ZipMap) and zipmap=False twins
        (classifier, "skl_logreg_zipmap", LR(), "LogisticRegression(max_iter=5000)"),
        (classifier, "skl_scaler_logreg_zipmap", SC_LR(), "Pipeline(StandardScaler, LogisticRegression)"),
        (classifier, "skl_rf_binary_zipmap", RF(), "RandomForestClassifier(20, max_depth=6)"),
        (classifier, "skl_logreg", LR(), "LogisticRegression(max_iter=5000), zipmap=False", "breast_cancer", False),
        (classifier, "skl_scaler_logreg", SC_LR(), "Pipeline(StandardScaler, LogisticRegression), zipmap=False",
         "breast_cancer", False),
        (classifier, "skl_rf_binary", RF(), "RandomForestClassifier(20, max_depth=6), zipmap=False",
         "breast_cancer", False),
        # trees
        (classifier, "skl_rf_3class", RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0),
         "RandomForestClassifier(20, max_depth=5), 3 classes, zipmap=False", "wine", False),
        (classifier, "skl_gbdt_binary", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0),
         "GradientBoostingClassifier(30, max_depth=3), zipmap=False", "breast_cancer", False),
        (classifier, "skl_gbdt_3class", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0),
         "GradientBoostingClassifier(20, max_depth=3), 3 classes, zipmap=False", "wine", False),
        (classifier, "skl_hgb_binary", HistGradientBoostingClassifier(max_iter=30, max_depth=4, random_state=0),
         "HistGradientBoostingClassifier(30, max_depth=4), zipmap=False", "breast_cancer", False),
        (classifier, "skl_et_binary", ExtraTreesClassifier(n_estimators=20, max_depth=6, random_state=0),
         "ExtraTreesClassifier(20, max_depth=6), zipmap=False", "breast_cancer", False),
        (regressor, "skl_rf_reg", RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0),
         "RandomForestRegressor(20, max_depth=6)"),
        (regressor, "skl_gbdt_reg", GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0),
         "GradientBoostingRegressor(30, max_depth=3)"),
        (regressor, "skl_hgb_reg", HistGradientBoostingRegressor(max_iter=30, max_depth=4, random_state=0),
         "HistGradientBoostingRegressor(30, max_depth=4)"),
        (regressor, "skl_et_reg", ExtraTreesRegressor(n_estimators=20, max_depth=6, random_state=0),
         "ExtraTreesRegressor(20, max_depth=6)"),
        # linear, SVM, MLP
        (regressor, "skl_linreg", LinearRegression(), "LinearRegression()"),
        (classifier, "skl_logreg_3class", LR(), "LogisticRegression, 3 string classes class_a/b/c, zipmap=False",
         "wine", False, ["class_a", "class_b", "class_c"]),
        (classifier, "skl_linsvc", Pipeline([("scale", StandardScaler()), ("clf", LinearSVC(random_state=0))]),
         "Pipeline(StandardScaler, LinearSVC); no ZipMap, [N,1] decision score"),
        (classifier, "skl_svc", Pipeline([("scale", StandardScaler()), ("clf", SVC(random_state=0))]),
         "Pipeline(StandardScaler, SVC(rbf)); probabilities are decision scores, zipmap=False", "breast_cancer",
         False),
        (classifier, "skl_svc_proba_zipmap",
         Pipeline([("scale", StandardScaler()), ("clf", SVC(probability=True, random_state=0))]),
         "Pipeline(StandardScaler, SVC(rbf, probability=True))"),
        (regressor, "skl_svr", Pipeline([("scale", StandardScaler()), ("reg", SVR())]),
         "Pipeline(StandardScaler, SVR(rbf))"),
        (classifier, "skl_mlp_binary",
         Pipeline([("scale", StandardScaler()),
                   ("clf", MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, random_state=0))]),
         "Pipeline(StandardScaler, MLPClassifier(16)), zipmap=False", "breast_cancer", False),
        (regressor, "skl_mlp_reg",
         Pipeline([("scale", StandardScaler()),
                   ("reg", MLPRegressor(hidden_layer_sizes=(16,), max_iter=800, random_state=0))]),
         "Pipeline(StandardScaler, MLPRegressor(16))"),
        # preprocessing ops with a linear head, skl2onnx defaults
        (classifier, "skl_binarizer_logreg_zipmap",
         Pipeline([("scale", StandardScaler()), ("bin", Binarizer(threshold=0.0)), ("clf", LR())]),
         "Pipeline(StandardScaler, Binarizer(0), LogisticRegression)"),
        (classifier, "skl_normalizer_logreg_zipmap", Pipeline([("norm", Normalizer()), ("clf", LR())]),
         "Pipeline(Normalizer(l2), LogisticRegression), 3 classes", "iris"),
    ]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter
        for fn, name, *args in jobs:
            attempt(name, fn, name, *args)
    attempt("skl_hgb_reg_nan", hgb_nan, D)
    attempt("skl_rf_reg_double", rf_double, D)
    attempt("skl_rf_reg_double_attrs", rf_double_attrs, D)


def hgb_nan(D):
    """NaN in training and input: the trees route it (nodes_missing_value_tracks_true)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    X, y, cols = D["diabetes"]
    Xn = X.copy()
    Xn[np.random.default_rng(5).random(Xn.shape) < 0.1] = np.nan
    hgb = HistGradientBoostingRegressor(max_iter=30, max_depth=4, random_state=0).fit(Xn, y)
    onx = to_onnx(hgb, Xn[:1])
    assert any(attrs(tree_node(onx))["nodes_missing_value_tracks_true"].ints), "no missing-value tracks"
    Xs = with_thresholds(onx, sample(X, 300, seed=9))
    Xs[np.random.default_rng(10).random(Xs.shape) < 0.1] = np.nan
    save_zoo("skl_hgb_reg_nan", onx, pd.DataFrame(Xs, columns=cols), tensor_features(onx, cols), SKL,
             "HistGradientBoostingRegressor(30, max_depth=4) trained on data with 10% NaN", "diabetes", "regression")


def rf_double(D):
    """float64 input, as skl2onnx writes it (float attributes), output type fixed."""
    from sklearn.ensemble import RandomForestRegressor
    X, y, cols = D["diabetes"]
    X64 = X.astype(np.float64)
    rf = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0).fit(X64, y)
    onx = to_onnx(rf, X64[:1])
    for o in onx.graph.output:  # declared double; TreeEnsembleRegressor only makes float
        o.type.tensor_type.elem_type = TensorProto.FLOAT
    Xs = sample(X64, 300, seed=11, dtype=np.float64)
    save_zoo("skl_rf_reg_double", onx, pd.DataFrame(Xs, columns=cols), tensor_features(onx, cols, "float64"),
             SKL + " (output type corrected to float)",
             "RandomForestRegressor(10, max_depth=5), float64 input, float attributes", "diabetes", "regression")


def rf_double_attrs(D):
    """float64 input with the ai.onnx.ml 3 *_as_tensor double attributes:
    the converter's TreeEnsembleRegressor with its thresholds and leaf values
    replaced by the fitted trees' float64 ones."""
    from sklearn.ensemble import RandomForestRegressor
    X, y, cols = D["diabetes"]
    X64 = X.astype(np.float64)
    rf = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=1).fit(X64, y)
    onx = to_onnx(rf, X64[:1])
    node = tree_node(onx)
    a = attrs(node)
    trees = [e.tree_ for e in rf.estimators_]
    values = [trees[t].threshold[i] if m != b"LEAF" else 0.0
              for t, i, m in zip(a["nodes_treeids"].ints, a["nodes_nodeids"].ints, a["nodes_modes"].strings)]
    weights = [trees[t].value[i, 0, 0] / len(trees) for t, i in zip(a["target_treeids"].ints, a["target_nodeids"].ints)]
    keep = [x for x in node.attribute if x.name not in ("nodes_values", "target_weights", "nodes_hitrates")]
    del node.attribute[:]
    node.attribute.extend(keep)
    node.attribute.extend([
        helper.make_attribute("nodes_values_as_tensor", numpy_helper.from_array(np.array(values, np.float64))),
        helper.make_attribute("target_weights_as_tensor", numpy_helper.from_array(np.array(weights, np.float64))),
    ])
    for o in onx.opset_import:
        if o.domain == "ai.onnx.ml":
            o.version = 3
    for o in onx.graph.output:
        o.type.tensor_type.elem_type = TensorProto.FLOAT
    Xs = sample(X64, 300, seed=12, dtype=np.float64)
    for i in range(0, len(Xs), 5):  # exactly on a double threshold
        t = rf.estimators_[i % 10].tree_
        k = int(np.flatnonzero(t.feature >= 0)[(i * 7) % int((t.feature >= 0).sum())])
        Xs[i, t.feature[k]] = t.threshold[k]
    # scikit-learn casts X to float32 before comparing, so it is no reference
    # on double thresholds: walk the trees in float64 instead.
    def walk(t, x):
        i = 0
        while t.children_left[i] != -1:
            i = t.children_left[i] if x[t.feature[i]] <= t.threshold[i] else t.children_right[i]
        return t.value[i, 0, 0]

    ref = np.array([np.mean([walk(e.tree_, x) for e in rf.estimators_]) for x in Xs])
    got = check_runs(onx, {onx.graph.input[0].name: Xs})[0].reshape(-1)
    assert np.allclose(got, ref, rtol=1e-6, atol=1e-4), "double attributes disagree with the trees"
    save_zoo("skl_rf_reg_double_attrs", onx, pd.DataFrame(Xs, columns=cols), tensor_features(onx, cols, "float64"),
             SKL + " + onnx.helper rewrite (ai.onnx.ml 3 double attributes)",
             "RandomForestRegressor(10, max_depth=5), float64 input, nodes_values_as_tensor/target_weights_as_tensor",
             "diabetes", "regression")


# ---------------------------------------------------------------- zoo: tree encodings made by hand

def rewrite_modes(base):
    """Re-encodes every BRANCH_LEQ (x <= t -> true) of a TreeEnsemble*
    node as an equivalent BRANCH_GT, BRANCH_GTE or BRANCH_LT node."""
    m = onnx.ModelProto()
    m.CopyFrom(base)
    a = attrs(tree_node(m))
    modes = list(a["nodes_modes"].strings)
    yes, no = list(a["nodes_truenodeids"].ints), list(a["nodes_falsenodeids"].ints)
    vals = list(a["nodes_values"].floats)
    miss = list(a["nodes_missing_value_tracks_true"].ints) if "nodes_missing_value_tracks_true" in a else None
    k = 0
    for i, mode in enumerate(modes):
        if mode != b"BRANCH_LEQ":
            continue
        k += 1
        up = float(np.nextafter(np.float32(vals[i]), np.float32(np.inf)))  # the next float32 above t
        if k % 3 == 0:  # x <= t  ==  not (x > t)
            modes[i] = b"BRANCH_GT"
            yes[i], no[i] = no[i], yes[i]
        elif k % 3 == 1:  # x <= t  ==  not (x >= up)
            modes[i], vals[i] = b"BRANCH_GTE", up
            yes[i], no[i] = no[i], yes[i]
        else:  # x <= t  ==  x < up
            modes[i], vals[i] = b"BRANCH_LT", up
            continue
        if miss is not None:  # branches swapped: NaN keeps its side
            miss[i] = 1 - miss[i]
    a["nodes_modes"].strings[:] = modes
    a["nodes_truenodeids"].ints[:] = yes
    a["nodes_falsenodeids"].ints[:] = no
    a["nodes_values"].floats[:] = vals
    if miss is not None:
        a["nodes_missing_value_tracks_true"].ints[:] = miss
    assert {b"BRANCH_GT", b"BRANCH_GTE", b"BRANCH_LT"} <= set(modes)
    return m


def tells_modes_apart(model, X):
    """Fails unless each split mode of `model`, read as its neighbour (GTE
    as GT, GT as GTE, LT as LEQ, LEQ as LT), changes onnxruntime's answer
    on X: the rows must sit on thresholds where the modes differ, or the
    fixture cannot catch a runtime that confuses them."""
    right = session(model).run(None, {"X": X})
    for mode, wrong in ((b"BRANCH_GTE", b"BRANCH_GT"), (b"BRANCH_GT", b"BRANCH_GTE"),
                        (b"BRANCH_LT", b"BRANCH_LEQ"), (b"BRANCH_LEQ", b"BRANCH_LT")):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        modes = attrs(tree_node(m))["nodes_modes"].strings
        if mode not in modes:
            continue
        modes[:] = [wrong if x == mode else x for x in modes]
        got = session(m).run(None, {"X": X})
        assert not all(np.array_equal(p, q) for p, q in zip(right, got)), \
            f"no row tells {mode.decode()} from {wrong.decode()}"


def to_tree_ensemble5(base):
    """Rewrites a TreeEnsembleRegressor (ai.onnx.ml 1/3) as the ai.onnx.ml 5
    TreeEnsemble op: interior nodes in nodes_*, leaves in leaf_*."""
    m = onnx.ModelProto()
    m.CopyFrom(base)
    node = next(n for n in m.graph.node if n.op_type == "TreeEnsembleRegressor")
    a = attrs(node)
    tids, nids = list(a["nodes_treeids"].ints), list(a["nodes_nodeids"].ints)
    modes = [s.decode() for s in a["nodes_modes"].strings]
    feats, vals = list(a["nodes_featureids"].ints), list(a["nodes_values"].floats)
    yes, no = list(a["nodes_truenodeids"].ints), list(a["nodes_falsenodeids"].ints)
    miss = list(a["nodes_missing_value_tracks_true"].ints) if "nodes_missing_value_tracks_true" in a else [0] * len(tids)
    code = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}
    n_targets = a["n_targets"].i
    weights = {}
    for t, nn, tg, w in zip(a["target_treeids"].ints, a["target_nodeids"].ints, a["target_ids"].ints,
                            a["target_weights"].floats):
        weights[(t, nn, tg)] = weights.get((t, nn, tg), 0.0) + w
    inner = [(t, nn) for t, nn, md in zip(tids, nids, modes) if md != "LEAF"]
    inner_ix = {k: i for i, k in enumerate(inner)}
    pos = {(t, nn): i for i, (t, nn) in enumerate(zip(tids, nids))}
    leaf_t, leaf_w, leaf_ix = [], [], {}
    for t, nn, md in zip(tids, nids, modes):
        if md == "LEAF":
            leaf_ix[(t, nn)] = len(leaf_t)
            for tg in range(n_targets):  # one leaf_* entry per (leaf, target); a leaf may feed several
                if tg > 0:
                    raise NotImplementedError("one target only")
                leaf_t.append(tg)
                leaf_w.append(weights.get((t, nn, tg), 0.0))
    n_f, n_s, n_m, n_miss, n_y, n_yl, n_n, n_nl = [], [], [], [], [], [], [], []
    for (t, nn) in inner:
        i = pos[(t, nn)]
        n_f.append(feats[i]); n_s.append(vals[i]); n_m.append(code[modes[i]]); n_miss.append(miss[i])
        for child, ids, leafs in ((yes[i], n_y, n_yl), (no[i], n_n, n_nl)):
            if modes[pos[(t, child)]] == "LEAF":
                ids.append(leaf_ix[(t, child)]); leafs.append(1)
            else:
                ids.append(inner_ix[(t, child)]); leafs.append(0)
    roots = [inner_ix[(t, 0)] for t in sorted(set(tids))]
    assert "base_values" not in a or not any(a["base_values"].floats), "TreeEnsemble has no base_values"
    agg = a["aggregate_function"].s.decode() if "aggregate_function" in a else "SUM"
    post = a["post_transform"].s.decode() if "post_transform" in a else "NONE"
    new = helper.make_node(
        "TreeEnsemble", list(node.input), list(node.output), name="TreeEnsemble", domain="ai.onnx.ml",
        aggregate_function={"AVERAGE": 0, "SUM": 1, "MIN": 2, "MAX": 3}[agg],
        post_transform={"NONE": 0, "SOFTMAX": 1, "LOGISTIC": 2, "SOFTMAX_ZERO": 3, "PROBIT": 4}[post],
        n_targets=n_targets,
        tree_roots=roots,
        nodes_featureids=n_f,
        nodes_modes=numpy_helper.from_array(np.array(n_m, dtype=np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array(n_s, dtype=np.float32)),
        nodes_missing_value_tracks_true=n_miss,
        nodes_truenodeids=n_y, nodes_trueleafs=n_yl,
        nodes_falsenodeids=n_n, nodes_falseleafs=n_nl,
        leaf_targetids=leaf_t,
        leaf_weights=numpy_helper.from_array(np.array(leaf_w, dtype=np.float32)),
    )
    idx = list(m.graph.node).index(node)
    m.graph.node.remove(node)
    m.graph.node.insert(idx, new)
    del m.opset_import[:]
    m.opset_import.extend([helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    m.ir_version = 10
    return m


def member_model():
    """A hand-built ai.onnx.ml 5 TreeEnsemble with BRANCH_MEMBER splits on an
    integer-valued feature (code) and BRANCH_LT / BRANCH_LEQ splits on x.

    tree 0: code in {1, 3, 5} ? (x < 0.5 ? 1 : 2) : (code in {0, 8} ? 3 : 4)
    tree 1: x <= 0.25 ? 10 : 20                  (NaN x: tree 0 true, tree 1 false)
    """
    node = helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], name="TreeEnsemble", domain="ai.onnx.ml",
        aggregate_function=1, n_targets=1, post_transform=0,
        tree_roots=[0, 3],
        nodes_featureids=[0, 1, 0, 1],
        nodes_modes=numpy_helper.from_array(np.array([6, 1, 6, 0], dtype=np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array([0.0, 0.5, 0.0, 0.25], dtype=np.float32)),
        nodes_truenodeids=[1, 0, 2, 4], nodes_trueleafs=[0, 1, 1, 1],
        nodes_falsenodeids=[2, 1, 3, 5], nodes_falseleafs=[0, 1, 1, 1],
        nodes_missing_value_tracks_true=[0, 1, 0, 0],
        membership_values=numpy_helper.from_array(np.array([1, 3, 5, np.nan, 0, 8], dtype=np.float32)),
        leaf_targetids=[0] * 6,
        leaf_weights=numpy_helper.from_array(np.array([1, 2, 3, 4, 10, 20], dtype=np.float32)),
    )
    g = helper.make_graph([node], "member", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    m.ir_version = 10
    return m


def member_reference(X):
    code, x = X[:, 0], X[:, 1]
    t0 = np.where(np.isin(code, [1, 3, 5]), np.where(np.isnan(x) | (x < 0.5), 1.0, 2.0),
                  np.where(np.isin(code, [0, 8]), 3.0, 4.0))
    t1 = np.where(x <= 0.25, 10.0, 20.0)
    return (t0 + t1).astype(np.float32)


def zoo_hand_made(D):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    conv = SKL + " + onnx.helper rewrite"
    X, y, cols = D["diabetes"]
    rf = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=1).fit(X, y)
    base = to_onnx(rf, X[:1])
    Xs = with_thresholds(base, sample(X, 300, seed=21), every=3)
    want = session(base).run(None, {"X": Xs})[0]

    def gte():
        m = rewrite_modes(base)
        # Rows on the rewritten thresholds too: only there do >= and >, < and <= differ.
        Xg = with_thresholds(m, Xs, every=2, start=1)
        assert np.array_equal(check_runs(m, {"X": Xg})[0], session(base).run(None, {"X": Xg})[0]), \
            "GTE/GT/LT rewrite changed the answers"
        tells_modes_apart(m, Xg)
        save_zoo("rf_reg_gte", m, pd.DataFrame(Xg, columns=cols), tensor_features(m, cols), conv,
                 "RandomForestRegressor(10, max_depth=5) re-encoded with BRANCH_GTE/GT/LT", "diabetes", "regression")

    def gte_clf():
        Xb, yb, cb = D["breast_cancer"]
        clf = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=2).fit(Xb, yb)
        b = to_onnx(clf, Xb[:1], options={id(clf): {"zipmap": False}})
        m = rewrite_modes(b)
        Xc = with_thresholds(m, with_thresholds(b, sample(Xb, 300, seed=22), every=3), every=3, start=1)
        w, g = session(b).run(None, {"X": Xc}), check_runs(m, {"X": Xc})
        assert all(np.array_equal(p, q) for p, q in zip(w, g)), "GTE/GT/LT rewrite changed the answers"
        tells_modes_apart(m, Xc)
        save_zoo("rf_binary_gte", m, pd.DataFrame(Xc, columns=cb), tensor_features(m, cb), conv,
                 "RandomForestClassifier(10, max_depth=5) re-encoded with BRANCH_GTE/GT/LT, zipmap=False",
                 "breast_cancer", "binary")

    def tree5():
        m5 = to_tree_ensemble5(base)
        got = check_runs(m5, {"X": Xs})[0]
        assert np.allclose(got, want, rtol=1e-6, atol=1e-4), "TreeEnsemble rewrite changed the answers"
        assert np.allclose(got[:, 0], rf.predict(Xs), rtol=1e-5, atol=1e-3), "TreeEnsemble disagrees with sklearn"
        save_zoo("tree5_rf_reg", m5, pd.DataFrame(Xs, columns=cols), tensor_features(m5, cols), conv,
                 "RandomForestRegressor(10, max_depth=5) as an ai.onnx.ml 5 TreeEnsemble", "diabetes", "regression")

    def member():
        mm = member_model()
        rng = np.random.default_rng(3)
        Xm = np.stack([rng.integers(0, 10, 240).astype(np.float32), rng.random(240).astype(np.float32)], axis=1)
        Xm[::4, 1] = np.float32(0.5)
        Xm[2::8, 1] = np.float32(0.25)
        Xm[::9, 1] = np.nan
        assert np.array_equal(check_runs(mm, {"X": Xm})[0][:, 0], member_reference(Xm)), "BRANCH_MEMBER semantics"
        save_zoo("tree5_member", mm, pd.DataFrame(Xm, columns=["code", "x"]), tensor_features(mm, ["code", "x"]),
                 "onnx.helper", "hand-built TreeEnsemble: BRANCH_MEMBER on an integer code, BRANCH_LT/LEQ on x",
                 "synthetic", "regression")

    for name, fn in (("rf_reg_gte", gte), ("rf_binary_gte", gte_clf), ("tree5_rf_reg", tree5),
                     ("tree5_member", member)):
        attempt(name, fn)


# ---------------------------------------------------------------- zoo: LightGBM and XGBoost

def _booster_common():
    import onnxmltools

    fcols = lambda k: [f"f{i}" for i in range(k)]  # noqa: E731
    conv = f"onnxmltools {onnxmltools.__version__}"
    ds_task = {"breast_cancer": "binary", "wine": "multiclass", "diabetes": "regression"}
    return fcols, conv, ds_task


def zoo_lightgbm(D):
    import lightgbm as lgb
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    fcols, conv, ds_task = _booster_common()

    def lgbm(name, est, dataset, zipmap, estimator, nan=False):
        X, y, _ = D[dataset]
        Xt, Xs = X, sample(X, 300, seed=sum(map(ord, name)))
        if nan:
            Xt = X.copy()
            Xt[np.random.default_rng(6).random(X.shape) < 0.1] = np.nan
        est.fit(Xt, y)
        onx = onnxmltools.convert_lightgbm(est, initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
                                           zipmap=zipmap, target_opset=15)
        if nan:
            Xs[np.random.default_rng(7).random(Xs.shape) < 0.1] = np.nan
            # (before thresholds are added: LightGBM compares with double
            # thresholds, the export with float ones)
            got = check_runs(onx, {"input": Xs})[0].reshape(-1)
            assert np.allclose(got, est.predict(Xs), rtol=1e-4, atol=1e-3), "NaN routing differs from LightGBM"
        Xs = with_thresholds(onx, Xs)
        save_zoo(name, onx, pd.DataFrame(Xs, columns=fcols(X.shape[1])), tensor_features(onx, fcols(X.shape[1])),
                 f"{conv} (lightgbm {lgb.__version__})", estimator, dataset, ds_task[dataset])
        # LightGBM's own text model beside the export: lleaves compiles from
        # it (bench/run.py's model-only table). Its thresholds are double.
        est.booster_.save_model(ZOO / name / "model.txt")

    P = dict(verbose=-1, random_state=0, n_jobs=1, deterministic=True, force_row_wise=True)
    attempt("lgbm_binary", lgbm, "lgbm_binary", lgb.LGBMClassifier(n_estimators=50, num_leaves=15, **P),
            "breast_cancer", True, "LGBMClassifier(50, num_leaves=15)")
    attempt("lgbm_3class", lgbm, "lgbm_3class", lgb.LGBMClassifier(n_estimators=30, num_leaves=7, **P),
            "wine", False, "LGBMClassifier(30, num_leaves=7), 3 classes, zipmap=False")
    attempt("lgbm_reg", lgbm, "lgbm_reg", lgb.LGBMRegressor(n_estimators=50, num_leaves=15, **P),
            "diabetes", True, "LGBMRegressor(50, num_leaves=15)")
    attempt("lgbm_reg_nan", lgbm, "lgbm_reg_nan", lgb.LGBMRegressor(n_estimators=30, num_leaves=15, **P),
            "diabetes", True, "LGBMRegressor(30, num_leaves=15) trained on data with 10% NaN", nan=True)


def zoo_xgboost(D):
    import onnxmltools
    import xgboost as xgb
    from onnxmltools.convert.common.data_types import FloatTensorType

    fcols, conv, ds_task = _booster_common()

    def xg(name, est, dataset, estimator):
        X, y, _ = D[dataset]
        est.fit(X, y)  # numpy arrays: xgboost names the features f0..fN
        onx = onnxmltools.convert_xgboost(est, initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
                                          target_opset=15)
        Xs = with_thresholds(onx, sample(X, 300, seed=sum(map(ord, name))))
        save_zoo(name, onx, pd.DataFrame(Xs, columns=fcols(X.shape[1])), tensor_features(onx, fcols(X.shape[1])),
                 f"{conv} (xgboost {xgb.__version__})", estimator, dataset, ds_task[dataset])

    attempt("xgb_binary", xg, "xgb_binary", xgb.XGBClassifier(n_estimators=30, max_depth=4, random_state=0, n_jobs=1),
            "breast_cancer", "XGBClassifier(30, max_depth=4)")
    attempt("xgb_reg", xg, "xgb_reg", xgb.XGBRegressor(n_estimators=30, max_depth=4, random_state=0, n_jobs=1),
            "diabetes", "XGBRegressor(30, max_depth=4)")


# ---------------------------------------------------------------- zoo: a dense net

def zoo_dense_net():
    """A small dense net built with onnx.helper, standing in for a PyTorch export."""
    rng = np.random.default_rng(7)
    w1 = (rng.standard_normal((8, 16)) * 0.5).astype(np.float32)
    b1 = (rng.standard_normal(16) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((16, 1)) * 0.5).astype(np.float32)
    b2 = (rng.standard_normal(1) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["z"]), helper.make_node("Sigmoid", ["z"], ["score"])]
    g = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                          [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
                          [numpy_helper.from_array(v, k) for k, v in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    X = rng.standard_normal((300, 8)).astype(np.float32)
    cols = [f"x{i}" for i in range(8)]
    save_zoo("dense_net", m, pd.DataFrame(X, columns=cols), tensor_features(m, cols), "onnx.helper",
             "Gemm-Relu-Gemm-Sigmoid, random weights (stands in for a PyTorch export)", "synthetic", "regression")


# ---------------------------------------------------------------- zoo: one input per column

def per_column(spec):
    """spec: (csv column, onnx input, dtype) -> the meta 'features' dict."""
    return {"kind": "per_column", "inputs": [{"input": i, "column": c, "dtype": t} for c, i, t in spec]}


def initial_types(spec):
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    T = {"float32": FloatTensorType, "int64": Int64TensorType, "string": StringTensorType}
    return [(i, T[t]([None, 1])) for _, i, t in spec]


def zoo_column_transformers():
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    def fit_export(pipe, df, spec, y):
        """Trains on the ONNX input names (sanitized: no spaces), exports one
        [N, 1] input per column."""
        pipe.fit(df.rename(columns={c: i for c, i, _ in spec}), y)
        return to_onnx(pipe, initial_types=initial_types(spec), options={id(pipe): {"zipmap": False}})

    # (a) float + string columns, two of them with spaces in their names
    def strings():
        rng = np.random.default_rng(11)
        n = 600
        df = pd.DataFrame({
            "age": rng.integers(18, 80, n).astype(np.float32),
            "annual income": np.round(rng.lognormal(10, 0.5, n)).astype(np.float32),
            "home city": rng.choice(["paris", "lyon", "nice", "lille"], n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
        })
        df.loc[rng.random(n) < 0.05, "annual income"] = np.nan
        y = ((df["age"] > 45) ^ (df["plan"] == "pro")).astype(int).to_numpy()
        spec = [("age", "age", "float32"), ("annual income", "annual_income", "float32"),
                ("home city", "home_city", "string"), ("plan", "plan", "string")]
        pipe = Pipeline([("pre", ColumnTransformer([
            ("num", Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]),
             ["age", "annual_income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["home_city", "plan"]),
        ])), ("clf", LogisticRegression(max_iter=2000))])
        onx = fit_export(pipe, df, spec, y)
        test = df.sample(300, random_state=1, replace=True).reset_index(drop=True)
        test.loc[::17, "home city"] = "marseille"  # never seen in training
        test.loc[5::23, "plan"] = "enterprise"
        save_zoo("skl_coltrans_str", onx, test, per_column(spec), SKL,
                 "Pipeline(ColumnTransformer(SimpleImputer+StandardScaler, OneHotEncoder(handle_unknown='ignore')), "
                 "LogisticRegression), zipmap=False", "synthetic", "binary")

    # (b) int64 category columns, one-hot encoded, and a tree head
    def ints():
        rng = np.random.default_rng(12)
        n = 600
        df = pd.DataFrame({"store": rng.integers(1, 6, n).astype(np.int64),
                           "day of week": rng.integers(0, 7, n).astype(np.int64),
                           "amount": rng.random(n).astype(np.float32)})
        y = ((df["store"] % 2 == 0) & (df["amount"] > 0.3) | (df["day of week"] == 6)).astype(int).to_numpy()
        spec = [("store", "store", "int64"), ("day of week", "day_of_week", "int64"), ("amount", "amount", "float32")]
        pipe = Pipeline([("pre", ColumnTransformer([
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["store", "day_of_week"]),
            ("num", "passthrough", ["amount"])])),
            ("clf", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0))])
        onx = fit_export(pipe, df, spec, y)
        test = df.sample(300, random_state=2, replace=True).reset_index(drop=True)
        test.loc[::13, "store"] = 9  # never seen in training
        save_zoo("skl_coltrans_int", onx, test, per_column(spec), SKL,
                 "Pipeline(ColumnTransformer(OneHotEncoder on int64, passthrough), RandomForestClassifier(10)), "
                 "zipmap=False", "synthetic", "binary")

    # (c) OrdinalEncoder on strings: skl2onnx writes ai.onnx.ml LabelEncoder
    def ordinal():
        rng = np.random.default_rng(13)
        n = 600
        df = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], n),
                           "size band": rng.choice(["S", "M", "L", "XL"], n),
                           "weight": rng.gamma(2.0, 3.0, n).astype(np.float32)})
        y = ((df["colour"] == "red") & (df["size band"] != "S") | (df["weight"] > 9)).astype(int).to_numpy()
        spec = [("colour", "colour", "string"), ("size band", "size_band", "string"), ("weight", "weight", "float32")]
        pipe = Pipeline([("pre", ColumnTransformer([
            ("ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["colour", "size_band"]),
            ("num", "passthrough", ["weight"])])),
            ("clf", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0))])
        onx = fit_export(pipe, df, spec, y)
        test = df.sample(300, random_state=3, replace=True).reset_index(drop=True)
        test.loc[::11, "colour"] = "purple"  # never seen: encoded -1
        save_zoo("skl_ordinal_gbdt", onx, test, per_column(spec), SKL,
                 "Pipeline(ColumnTransformer(OrdinalEncoder(unknown=-1), passthrough), GradientBoostingClassifier(20)), "
                 "zipmap=False", "synthetic", "binary")

    attempt("skl_coltrans_str", strings)
    attempt("skl_coltrans_int", ints)
    attempt("skl_ordinal_gbdt", ordinal)


# ---------------------------------------------------------------- zoo: text

def ticket_texts(n, seed):
    """Short support-ticket texts in three classes (billing, delivery,
    account), with what real ones have: mixed case, punctuation, accented
    Latin, CJK, emoji, digits, texts of stop words only or no words at all,
    and one long text. Labels follow the topic words, with noise."""
    rng = np.random.default_rng(seed)
    topics = [
        ["invoice", "refund", "charged", "twice", "card", "payment", "Factura", "remboursé", "請求書", "💳", "price"],
        ["parcel", "delivery", "late", "courier", "tracking", "Lieferung", "colis", "配達", "📦", "damaged", "box"],
        ["password", "login", "account", "locked", "email", "Konto", "connexion", "ログイン", "🔒", "reset", "2FA"],
    ]
    common = ["the", "a", "is", "my", "and", "please", "help", "THE", "My", "not", "café", "naïve", "Über",
              "thanks", "😀", "日本語", "I", "it", "was", "to", "on", "order", "#123", "ok"]
    stop_only = ["the", "a the", "is my and", "!!!", "...", "😀😀", "?"]
    texts, labels = [], []
    for i in range(n):
        y = int(rng.integers(0, 3))
        if rng.random() < 0.06:
            texts.append(str(rng.choice(stop_only)))
            labels.append(y)
            continue
        k = int(rng.integers(1, 14))
        words = []
        for _ in range(k):
            pool = topics[y] if rng.random() < 0.45 else (topics[int(rng.integers(0, 3))] if rng.random() < 0.3 else common)
            w = str(rng.choice(pool))
            if rng.random() < 0.1:
                w = w.upper()
            words.append(w + str(rng.choice(["", "", "", "", ",", ".", "!", " -", ";"])))
        texts.append(" ".join(words))
        labels.append(y)
    texts[7] = " ".join(str(rng.choice(topics[1] + common)) for _ in range(1500))  # a long text, ~10 KB
    texts[11] = 'said "refund" twice, then\nwrote again'
    return np.array(texts, dtype=object), np.array(labels)


def zoo_text(D=None):
    """CountVectorizer / TfidfVectorizer pipelines: StringNormalizer →
    Tokenizer (com.microsoft) → TfIdfVectorizer → a classifier."""
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    train_x, train_y = ticket_texts(1200, 21)
    test_x, _ = ticket_texts(300, 22)
    stop = ["the", "a", "is", "my", "and", "to", "it", "on", "was"]

    def one(name, vec, clf, estimator, zipmap=False):
        pipe = Pipeline([("vec", vec), ("clf", clf)]).fit(train_x, train_y)
        onx = to_onnx(pipe, initial_types=[("text", StringTensorType([None, 1]))],
                      options={id(pipe): {"zipmap": zipmap}} if zipmap is not None else None)
        df = pd.DataFrame({"text": test_x})
        spec = [("text", "text", "string")]
        save_zoo(name, onx, df, per_column(spec), SKL, estimator, "synthetic tickets", "multiclass")

    attempt("skl_count_logreg", one, "skl_count_logreg",
            CountVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=2000),
            "Pipeline(CountVectorizer(ngram_range=(1, 2)), LogisticRegression), zipmap=False")
    attempt("skl_count_stop_nb", one, "skl_count_stop_nb",
            CountVectorizer(stop_words=stop, lowercase=False), MultinomialNB(),
            "Pipeline(CountVectorizer(stop_words=[9 words], lowercase=False), MultinomialNB), zipmap=False")
    attempt("skl_tfidf_logreg", one, "skl_tfidf_logreg",
            TfidfVectorizer(ngram_range=(1, 2), stop_words=stop), LogisticRegression(max_iter=2000),
            "Pipeline(TfidfVectorizer(ngram_range=(1, 2), stop_words=[9 words]), LogisticRegression), zipmap=False")
    attempt("skl_tfidf_pattern_linsvc", one, "skl_tfidf_pattern_linsvc",
            TfidfVectorizer(token_pattern=r"[a-zA-Z]{2,}|\d+", lowercase=False, sublinear_tf=True),
            LinearSVC(), "Pipeline(TfidfVectorizer(token_pattern=r'[a-zA-Z]{2,}|\\d+', lowercase=False, "
            "sublinear_tf=True), LinearSVC), zipmap=False")
    attempt("skl_tfidf_nb_zipmap", one, "skl_tfidf_nb_zipmap",
            TfidfVectorizer(ngram_range=(1, 2), min_df=2), MultinomialNB(alpha=0.5),
            "Pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2), MultinomialNB(alpha=0.5)), zipmap=True",
            zipmap=True)


# ---------------------------------------------------------------- zoo: the other ai.onnx.ml tensor operators

def zoo_ml_misc():
    """CategoryMapper, ArrayFeatureExtractor on strings, LabelEncoder with
    ai.onnx.ml 4 tensor attributes, and FeatureVectorizer: no converter in
    tools/requirements.txt emits them for a tabular pipeline (skl2onnx
    writes LabelEncoder with list attributes and Concat instead of
    FeatureVectorizer), so one graph built with onnx.helper runs them all."""
    def build():
        rng = np.random.default_rng(31)
        n = 300
        df = pd.DataFrame({
            "home city": rng.choice(["paris", "lyon", "nice", "lille", "Paris"], n),
            "colour": rng.choice(["red", "green", "blue", "mauve"], n),
            "size": rng.gamma(2.0, 1.5, n).astype(np.float32),
        })
        S, F = TensorProto.STRING, TensorProto.FLOAT
        nodes = [
            helper.make_node("Concat", ["home_city", "colour"], ["both"], axis=1),
            helper.make_node("ArrayFeatureExtractor", ["both", "pick"], ["picked"], domain="ai.onnx.ml"),
            helper.make_node("CategoryMapper", ["picked"], ["colour_code"], domain="ai.onnx.ml",
                             cats_strings=["red", "green", "blue"], cats_int64s=[0, 1, 2], default_int64=-1),
            helper.make_node("LabelEncoder", ["home_city"], ["city_value"], domain="ai.onnx.ml",
                             keys_tensor=helper.make_tensor("k", S, [3], [b"paris", b"lyon", b"nice"]),
                             values_tensor=helper.make_tensor("v", F, [3], [1.5, -2.0, 0.25]),
                             default_tensor=helper.make_tensor("d", F, [1], [-9.0])),
            helper.make_node("Cast", ["colour_code"], ["colour_f"], to=TensorProto.FLOAT),
            helper.make_node("FeatureVectorizer", ["colour_f", "city_value", "size"], ["features"],
                             domain="ai.onnx.ml", inputdimensions=[1, 1, 1]),
            helper.make_node("LinearRegressor", ["features"], ["variable"], domain="ai.onnx.ml",
                             coefficients=[0.5, 1.0, 2.0], intercepts=[0.1]),
        ]
        graph = helper.make_graph(
            nodes, "ml_misc",
            [helper.make_tensor_value_info("home_city", S, [None, 1]),
             helper.make_tensor_value_info("colour", S, [None, 1]),
             helper.make_tensor_value_info("size", F, [None, 1])],
            [helper.make_tensor_value_info("variable", F, [None, 1])],
            [numpy_helper.from_array(np.array([1], dtype=np.int64), "pick")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("ai.onnx.ml", 4)])
        model.ir_version = 8
        spec = [("home city", "home_city", "string"), ("colour", "colour", "string"), ("size", "size", "float32")]
        save_zoo("ml_misc_strings", model, df, per_column(spec), "onnx.helper",
                 "hand-built: Concat of strings → ArrayFeatureExtractor → CategoryMapper → Cast; LabelEncoder "
                 "(ai.onnx.ml 4 keys_tensor/values_tensor/default_tensor); FeatureVectorizer → LinearRegressor",
                 "synthetic", "regression")

    attempt("ml_misc_strings", build)


# ---------------------------------------------------------------- main

def main():
    print(f"scikit-learn {sklearn.__version__}, {SKL}, onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    demo()
    ZOO.mkdir(parents=True, exist_ok=True)
    D = datasets()
    print("zoo:")
    zoo_sklearn(D)
    zoo_hand_made(D)
    zoo_lightgbm(D)
    zoo_xgboost(D)
    attempt("dense_net", zoo_dense_net)
    zoo_column_transformers()
    zoo_text(D)
    zoo_ml_misc()
    skipped = {name for name, _ in SKIPPED}
    for p in sorted(ZOO.iterdir()):  # directories of models this script no longer makes
        if p.is_dir() and p.name not in MADE and p.name not in skipped:
            shutil.rmtree(p)
            print(f"  removed stale {p.name}")
    (ZOO / "manifest.json").write_text(json.dumps(sorted(MADE), indent=2) + "\n")
    print(f"{len(MADE)} zoo models")
    for name, why in SKIPPED:
        print(f"skipped {name}: {why}", file=sys.stderr)
    return 1 if SKIPPED else 0


if __name__ == "__main__":
    sys.exit(main())

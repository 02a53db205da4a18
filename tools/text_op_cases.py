#!/usr/bin/env python3
"""Random cases for batchscore's text operators (src/ml/text.rs), answered
by onnxruntime: StringNormalizer, Tokenizer, TfIdfVectorizer, and
Tokenizer → Flatten → TfIdfVectorizer (the pair batchscore fuses).

    LOCPATH=<dir with en_US.UTF-8 and tr_TR.UTF-8> python tools/text_op_cases.py

onnxruntime's StringNormalizer needs the locale it names installed; without
root, `localedef -i en_US -f UTF-8 <dir>/en_US.UTF-8` (and tr_TR) plus
LOCPATH=<dir> does. Writes tests/fixtures/text/ort_cases.json, which
src/ml/text.rs's tests replay. Deterministic (fixed seed).
"""

import json
import random
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "text" / "ort_cases.json"
R = random.Random(17)

PIECES = ["the", "The", "THE", "cat", "Cat", "sat", "on", "a", "mat", "dog", "x", "I", "i", "ab", "a1", "b22",
          "café", "École", "naïve", "Straße", "İstanbul", "ıi", "ΟΔΟΣ", "ǅemal", "日本語", "テキスト", "中文",
          "😀", "👍🏽", "emoji😀word", "x_y", "42", "3.14", "don't", "e-mail", ""]
SEPS = [" ", " ", " ", "  ", ",", ", ", "\t", "-", ".", "!", "\n"]


def text():
    n = R.choice([0, 1, 1, 2, 3, 5, 8])
    return "".join(R.choice(PIECES) + R.choice(SEPS) for _ in range(n)).strip(" ") if n else ""


def attr_list(kw):
    """The attributes as [name, kind, value] for the Rust side."""
    out = []
    for k, v in kw.items():
        if isinstance(v, str):
            out.append([k, "string", v])
        elif isinstance(v, int):
            out.append([k, "int", v])
        elif isinstance(v, list) and all(isinstance(e, str) for e in v) and v:
            out.append([k, "strings", v])
        elif isinstance(v, list) and v and all(isinstance(e, float) for e in v):
            out.append([k, "floats", v])
        elif isinstance(v, list):
            out.append([k, "ints", v])
    return out


def run(nodes, x, in_type=TensorProto.STRING, out_type=TensorProto.STRING):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", in_type, None)],
                          [helper.make_tensor_value_info("y", out_type, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.log_severity_level = 4
    try:
        s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        y = s.run(None, {"x": x})[0]
    except Exception as e:  # noqa: BLE001
        return None, str(e).splitlines()[0][:160]
    return y, None


def case(op, kw, x, y, err):
    c = {"op": op, "attrs": attr_list(kw), "shape": list(x.shape),
         "x": [str(v) if x.dtype == object else int(v) for v in x.reshape(-1)],
         "x_type": "string" if x.dtype == object else "int64"}
    if err is not None:
        c["error"] = err
    else:
        c["y_shape"] = list(y.shape)
        c["y"] = [str(v) if y.dtype == object else float(v) for v in y.reshape(-1)]
    return c


def string_normalizer(n):
    cases = []
    for _ in range(n):
        kw = {"case_change_action": R.choice(["NONE", "LOWER", "UPPER"])}
        if R.random() < 0.8:
            kw["is_case_sensitive"] = R.choice([0, 1])
        if R.random() < 0.3:
            kw["locale"] = R.choice(["en_US.UTF-8", "tr_TR.UTF-8"])
        c = R.choice([1, 1, 2, 4, 7])
        words = [R.choice(PIECES) if R.random() < 0.6 else text() for _ in range(c)]
        if R.random() < 0.5:
            kw["stopwords"] = R.sample(["the", "THE", "a", "İstanbul", "école", "日本語", "😀", "ıi", "Straße"], 3)
        x = np.array(words, dtype=object)
        if R.random() < 0.4:
            x = x.reshape(1, -1)
        y, err = run([helper.make_node("StringNormalizer", ["x"], ["y"], **kw)], x)
        cases.append(case("StringNormalizer", kw, x, y, err))
    return cases


TOKENEXPS = ["[a-zA-Z0-9_]+", r"\b\w\w+\b", r"\w+", r"[^ ,]+", "a*", r"\d+|[a-z]+", r"(?i)[a-z]+", r"\p{L}+",
             "[[:alpha:]]+", r"\S+", r"[\w']+", r"[^\W\d]+", r"\s", r"."]
SEPARATORS = [[" "], [" ", ","], ["[0-9]+"], [""], [r",\s*"], [r"\s+"], ["b*"], ["-", r"\."]]


def tokenizer_kw():
    kw = {"mark": R.choice([0, 1]), "pad_value": R.choice(["#", "", "<pad>"]), "mincharnum": R.choice([1, 1, 2, 3])}
    if R.random() < 0.6:
        kw["tokenexp"] = R.choice(TOKENEXPS)
    else:
        kw["separators"] = R.choice(SEPARATORS)
        if kw["separators"] == [""]:
            kw["mincharnum"] = 1
    return kw


def tokenizer(n):
    cases = []
    for _ in range(n):
        kw = tokenizer_kw()
        shape = R.choice([(3,), (1,), (2, 2), (4, 1), (2, 3)])
        x = np.array([text() for _ in range(int(np.prod(shape)))], dtype=object).reshape(shape)
        y, err = run([helper.make_node("Tokenizer", ["x"], ["y"], domain="com.microsoft", **kw)], x)
        cases.append(case("Tokenizer", kw, x, y, err))
    return cases


def pool(vocab, max_n):
    counts, items, ngrams = [], [], 0
    for n in range(1, max_n + 1):
        counts.append(len(items))
        grams = {tuple(R.choice(vocab) for _ in range(n)) for _ in range(R.randint(0 if n > 1 else 1, 6))}
        for g in sorted(grams, key=str):
            items.extend(g)
            ngrams += 1
    return counts, items, ngrams


def tfidf_kw(vocab, max_n):
    counts, items, ngrams = pool(vocab, max_n)
    width = ngrams + R.choice([0, 0, 2])
    idx = R.sample(range(width), ngrams)
    kw = {"min_gram_length": R.randint(1, max_n), "max_skip_count": R.choice([0, 0, 1, 2]),
          "mode": R.choice(["TF", "IDF", "TFIDF"]), "ngram_counts": counts, "ngram_indexes": idx}
    kw["max_gram_length"] = R.randint(kw["min_gram_length"], max_n)
    if isinstance(items[0], str):
        kw["pool_strings"] = items
    else:
        kw["pool_int64s"] = items
    if R.random() < 0.6:
        kw["weights"] = [float(np.float32(R.uniform(0.1, 3.0))) for _ in range(ngrams)]
    return kw


def tfidf(n):
    cases = []
    for _ in range(n):
        strings = R.random() < 0.7
        vocab = ["a", "b", "c", "d", "#", "é", "日本"] if strings else [1, 2, 3, 4, 5, 7]
        kw = tfidf_kw(vocab, R.choice([1, 2, 3]))
        shape = R.choice([(6,), (2, 5), (3, 8), (1, 0), (2, 0), (4, 1)])
        vals = [R.choice(vocab + (["zz"] if strings else [99])) for _ in range(int(np.prod(shape)))]
        x = np.array(vals, dtype=object if strings else np.int64).reshape(shape)
        y, err = run([helper.make_node("TfIdfVectorizer", ["x"], ["y"], **kw)], x,
                     TensorProto.STRING if strings else TensorProto.INT64, TensorProto.FLOAT)
        cases.append(case("TfIdfVectorizer", kw, x, y, err))
    return cases


def fused(n):
    """Tokenizer → Flatten → TfIdfVectorizer; attributes of the pair in one
    list, the Tokenizer's prefixed as batchscore's fused node has them."""
    cases = []
    for _ in range(n):
        tk = tokenizer_kw()
        vocab = ["the", "cat", "sat", "a", "mat", "caf", "日本語", "42", "dog"]
        if R.random() < 0.3:
            vocab.append(tk["pad_value"])
        if R.random() < 0.2:
            vocab += ["\x02", "\x03"]
        kw = tfidf_kw(vocab, R.choice([1, 2, 3]))
        shape = R.choice([(3,), (5,), (2, 1), (3, 2)])
        x = np.array([text() for _ in range(int(np.prod(shape)))], dtype=object).reshape(shape)
        nodes = [helper.make_node("Tokenizer", ["x"], ["t"], domain="com.microsoft", **tk),
                 helper.make_node("Flatten", ["t"], ["f"], axis=1),
                 helper.make_node("TfIdfVectorizer", ["f"], ["y"], **kw)]
        y, err = run(nodes, x, TensorProto.STRING, TensorProto.FLOAT)
        both = {**kw, **{f"tokenizer.{k}": v for k, v in tk.items()}}
        cases.append(case("fused", both, x, y, err))
    return cases


def main():
    cases = string_normalizer(150) + tokenizer(250) + tfidf(250) + fused(250)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(cases, ensure_ascii=False, separators=(",", ":")) + "\n")
    bad = sum("error" in c for c in cases)
    print(f"{len(cases)} cases ({bad} that onnxruntime refuses) -> {OUT}")


if __name__ == "__main__":
    main()

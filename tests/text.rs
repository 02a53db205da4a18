//! Text models end to end on the real binary: a text column feeding an
//! `[N, 1]` or `[N]` string input, and a long cell that must not make a
//! chunk's memory grow with the longest text times the chunk's rows.

use crate::common::{Workdir, csv_rows, repo};
use prost::Message;
use tract_onnx::pb;

const DATE: &str = "2026-11-23";
const ZOO: &str = "tests/fixtures/zoo/skl_tfidf_logreg";

fn job(extra: &str) -> String {
    format!(
        "name = \"t\"\nmodel = \"model.onnx\"\nkeep = [\"row_id\"]\n{extra}\n[input]\npath = \"in/%Y-%m-%d.csv\"\n[features.inputs]\ntext = \"text\"\n[outputs]\nlabel = \"label\"\nproba = \"probabilities\"\n[output]\npath = \"out/%Y-%m-%d.csv\"\n"
    )
}

/// The zoo model with its input declared `[N]` instead of `[N, 1]`.
fn flat_input_model() -> Vec<u8> {
    let bytes = std::fs::read(repo().join(ZOO).join("model.onnx")).unwrap();
    let mut m = pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let input = &mut m.graph.as_mut().unwrap().input[0];
    let Some(pb::type_proto::Value::TensorType(t)) = input.r#type.as_mut().and_then(|t| t.value.as_mut())
    else {
        panic!("no tensor type")
    };
    t.shape.as_mut().unwrap().dim.truncate(1);
    m.encode_to_vec()
}

#[test]
fn a_text_column_feeds_n_by_1_and_flat_string_inputs_alike() {
    let expected = std::fs::read_to_string(repo().join(ZOO).join("expected.csv")).unwrap();
    for model in [std::fs::read(repo().join(ZOO).join("model.onnx")).unwrap(), flat_input_model()] {
        let wd = Workdir::new();
        wd.write("model.onnx", model);
        wd.copy(&format!("{ZOO}/input.csv"), &format!("in/{DATE}.csv"));
        wd.write("job.toml", job("chunk_rows = 64\nthreads = 2"));
        wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
        let got = csv_rows(&wd.read(&format!("out/{DATE}.csv")));
        let want = csv_rows(&expected);
        assert_eq!(got.len(), want.len());
        assert_eq!(got[0], want[0]);
        for (g, w) in got.iter().zip(&want).skip(1) {
            assert_eq!(g[..2], w[..2], "row_id and label");
            for (a, b) in g[2..].iter().zip(&w[2..]) {
                let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
                assert!((a - b).abs() < 1e-5, "{g:?} vs {w:?}");
            }
        }
    }
}

/// 2,000 short texts and one of 1 MB (about 170,000 tokens). Padded to the
/// longest text, the chunk's token tensor would be 2,000 × 170,000 strings
/// (gigabytes); fused, the run stays near its usual size.
#[test]
#[cfg(target_os = "linux")]
fn a_one_megabyte_cell_does_not_blow_up_its_chunk() {
    let wd = Workdir::new();
    wd.copy(&format!("{ZOO}/model.onnx"), "model.onnx");
    let mut csv = String::from("row_id,text\n");
    for i in 0..2000 {
        if i == 1000 {
            let mut long = String::with_capacity(1 << 20);
            while long.len() < 1 << 20 {
                long.push_str("refund parcel late café 日本語 ");
            }
            csv.push_str(&format!("{i},\"{long}\"\n"));
        } else {
            csv.push_str(&format!("{i},my parcel is late please refund {i}\n"));
        }
    }
    wd.write(&format!("in/{DATE}.csv"), csv);
    wd.write("job.toml", job("chunk_rows = 5000\nthreads = 1"));
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    let rec = wd.record("out/_batchscore/t/2026-11-23.json");
    assert_eq!(rec["rows"]["scored"], 2000);
    let anon = rec["peak_memory"]["anon_bytes"].as_u64().unwrap();
    println!("peak heap {} MB", anon >> 20);
    assert!(anon < 200 << 20, "peak heap {} MB", anon >> 20);
    let rows = csv_rows(&wd.read(&format!("out/{DATE}.csv")));
    assert_eq!(rows.len(), 2001);
}

// ---------------------------------------------------------------- missing values the model handles

/// A job for a zoo model from its meta.json, with `bad_rows` as given
/// (nothing: the default policy).
fn zoo_job(name: &str, bad_rows: &str) -> String {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join(format!("tests/fixtures/zoo/{name}/meta.json"))).unwrap(),
    )
    .unwrap();
    let q = |v: &serde_json::Value| serde_json::to_string(v.as_str().unwrap()).unwrap();
    let f = &meta["features"];
    let features = if f["kind"] == "tensor" {
        let cols: Vec<String> = f["columns"].as_array().unwrap().iter().map(q).collect();
        format!("[features]\ninput = {}\ncolumns = [{}]\n", q(&f["input"]), cols.join(", "))
    } else {
        let mut s = String::from("[features.inputs]\n");
        for i in f["inputs"].as_array().unwrap() {
            s.push_str(&format!("{} = {}\n", q(&i["input"]), q(&i["column"])));
        }
        s
    };
    let mut outputs = String::from("[outputs]\n");
    for key in ["label", "proba", "value"] {
        if meta["outputs"][key].is_string() {
            outputs.push_str(&format!("{key} = {}\n", q(&meta["outputs"][key])));
        }
    }
    format!(
        "name = \"t\"\nmodel = \"model.onnx\"\nkeep = [\"row_id\"]\n[input]\npath = \"in/%Y-%m-%d.csv\"\n{features}{outputs}[output]\npath = \"out/%Y-%m-%d.csv\"\n{bad_rows}"
    )
}

/// Runs a zoo model on its input (edited by `edit`, which gets the data
/// lines) under `bad_rows`; returns the workdir.
fn zoo_run(name: &str, bad_rows: &str, edit: impl Fn(&mut Vec<Vec<String>>), code: i32) -> Workdir {
    let wd = Workdir::new();
    wd.copy(&format!("tests/fixtures/zoo/{name}/model.onnx"), "model.onnx");
    let text = std::fs::read_to_string(repo().join(format!("tests/fixtures/zoo/{name}/input.csv"))).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_owned();
    let mut rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(str::to_owned).collect()).collect();
    edit(&mut rows);
    let body: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
    wd.write(&format!("in/{DATE}.csv"), format!("{header}\n{}\n", body.join("\n")));
    wd.write("job.toml", zoo_job(name, bad_rows));
    wd.cmd(["run", "job.toml", "--date", DATE]).code(code);
    wd
}

fn rows_of(wd: &Workdir) -> (u64, u64) {
    let rec = wd.record(&format!("out/_batchscore/t/{DATE}.json"));
    (rec["rows"]["scored"].as_u64().unwrap(), rec["rows"]["rejected"].as_u64().unwrap())
}

/// The scores equal onnxruntime's on the rows that were scored (but the
/// `edited` ones).
fn matches_expected(wd: &Workdir, name: &str, edited: &[&str]) {
    let got = csv_rows(&wd.read(&format!("out/{DATE}.csv")));
    let want = csv_rows(
        &std::fs::read_to_string(repo().join(format!("tests/fixtures/zoo/{name}/expected.csv"))).unwrap(),
    );
    assert_eq!(got[0], want[0]);
    let want: std::collections::HashMap<&str, &Vec<String>> =
        want[1..].iter().map(|r| (r[0].as_str(), r)).collect();
    for g in got[1..].iter().filter(|g| !edited.contains(&g[0].as_str())) {
        let w = want[g[0].as_str()];
        for (a, b) in g.iter().zip(w.iter()).skip(1) {
            let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "row {}: {a} vs {b}", g[0]);
        }
    }
}

/// skl2onnx's SimpleImputer exports as an Imputer (replaced value NaN):
/// the 16 empty incomes go to the model by default, as in Python; a null
/// in a string column (one-hot encoded) and text in the number column are
/// still rejected.
#[test]
fn by_default_an_imputed_column_passes_nan_and_the_others_reject() {
    let name = "skl_coltrans_str";
    let wd = zoo_run(name, "", |_| {}, 0);
    assert_eq!(rows_of(&wd), (300, 0));
    matches_expected(&wd, name, &[]);

    let wd = zoo_run(
        name,
        "",
        |rows| {
            rows[3][3] = String::new(); // home city: null
            rows[4][2] = "n/a".into(); // annual income: not a number
            rows[5][1] = String::new(); // age: null, imputed
        },
        0,
    );
    assert_eq!(rows_of(&wd), (298, 2));
    let q = wd.read(&format!("out/{DATE}.rejected.csv"));
    assert!(q.contains("missing value") && q.contains("not a valid number"), "{q}");
    // Row 5 is scored, with its age imputed.
    assert!(wd.read(&format!("out/{DATE}.csv")).contains("\n5,"));
    matches_expected(&wd, name, &["5"]);

    // The explicit policy keeps its meaning: every null is rejected.
    let wd = zoo_run(name, "[bad_rows]\npolicy = \"reject\"\nmax_rejected = 100\n", |_| {}, 0);
    assert_eq!(rows_of(&wd), (284, 16));
}

/// `profile` scores the rows a run scores: under `auto`, a row whose NaN
/// the model handles is scored there too, so a reference's score columns
/// count the same rows as the run's.
#[test]
fn profile_scores_the_rows_a_run_scores() {
    let wd = zoo_run("skl_hgb_reg_nan", "", |_| {}, 0);
    assert_eq!(rows_of(&wd), (300, 0));
    let input = format!("in/{DATE}.csv");
    assert!(wd.read(&input).contains(",,"), "the fixture has missing values");
    wd.cmd(["profile", "job.toml", "--input", &input, "--out", "ref.json"]).code(0);
    let reference: serde_json::Value = serde_json::from_str(&wd.read("ref.json")).unwrap();
    let scores: Vec<u64> = reference["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "score")
        .map(|c| c["rows"].as_u64().unwrap())
        .collect();
    assert!(!scores.is_empty());
    assert!(
        scores.iter().all(|&n| n == 300),
        "score columns profiled over {scores:?} rows, the run scored 300"
    );
}

/// HistGradientBoosting with missing-value tracks takes NaN by default; a
/// random forest (no tracks) does not, and its rows with NaN are rejected.
#[test]
fn by_default_trees_with_missing_tracks_take_nan_and_others_reject() {
    let wd = zoo_run("skl_hgb_reg_nan", "", |_| {}, 0);
    assert_eq!(rows_of(&wd), (300, 0));
    matches_expected(&wd, "skl_hgb_reg_nan", &[]);
    let wd = zoo_run("lgbm_reg_nan", "", |_| {}, 0);
    assert_eq!(rows_of(&wd).1, 0);
    matches_expected(&wd, "lgbm_reg_nan", &[]);

    let wd = zoo_run("skl_rf_reg", "", |rows| rows[7][2] = String::new(), 0);
    assert_eq!(rows_of(&wd), (299, 1));
    // Text is a bad value even where NaN passes.
    let wd = zoo_run("skl_hgb_reg_nan", "", |rows| rows[7][2] = "abc".into(), 0);
    assert_eq!(rows_of(&wd), (299, 1));
}

#[test]
fn check_and_inspect_say_what_each_column_gets_and_why() {
    let wd = Workdir::new();
    wd.copy("tests/fixtures/zoo/skl_coltrans_str/model.onnx", "model.onnx");
    wd.copy("tests/fixtures/zoo/skl_coltrans_str/input.csv", &format!("in/{DATE}.csv"));
    wd.write("job.toml", zoo_job("skl_coltrans_str", ""));
    let out = wd.cmd(["check", "job.toml", "--date", DATE]).code(0);
    for needle in [
        "missing   bad_rows.policy = \"auto\"",
        "\"annual income\" -> annual_income[0]: NaN to the model: Imputer node",
        "\"home city\" -> home_city[0]: rejected: a string input cannot carry NaN",
    ] {
        assert!(out.stdout.contains(needle), "check lacks {needle:?}:\n{}", out.stdout);
    }
    let out = wd.cmd(["inspect", "model.onnx"]).code(0);
    assert!(out.stdout.contains("age[0]: NaN to the model: Imputer node"), "{}", out.stdout);
    let wd = Workdir::new();
    wd.copy("tests/fixtures/zoo/skl_rf_reg/model.onnx", "model.onnx");
    let out = wd.cmd(["inspect", "model.onnx"]).code(0);
    assert!(out.stdout.contains("[0]: rejected: TreeEnsembleRegressor node"), "{}", out.stdout);
}

//! Every model of the fixture zoo, scored through a full job (job file →
//! output file) by the real binary, compared with onnxruntime's answers.
//! Labels must be identical; probabilities and values within the model's
//! tolerance (1e-5 absolute or relative unless its meta.json says why not).

use crate::common::{Workdir, repo};
use serde_json::Value;

const DATE: &str = "2026-11-23";

fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = split(lines.next().unwrap_or_default());
    (header, lines.map(split).collect())
}

/// Enough CSV for our fixtures: quoted fields may hold commas.
fn split(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// The job file for one zoo model.
fn job_for(meta: &Value) -> String {
    let f = &meta["features"];
    let features = if f["kind"] == "tensor" {
        let cols: Vec<String> =
            f["columns"].as_array().unwrap().iter().map(|c| toml_str(c.as_str().unwrap())).collect();
        format!(
            "[features]\ninput = {}\ncolumns = [{}]\n",
            toml_str(f["input"].as_str().unwrap()),
            cols.join(", ")
        )
    } else {
        let mut s = String::from("[features.inputs]\n");
        for i in f["inputs"].as_array().unwrap() {
            s.push_str(&format!(
                "{} = {}\n",
                toml_str(i["input"].as_str().unwrap()),
                toml_str(i["column"].as_str().unwrap())
            ));
        }
        s
    };
    let mut outputs = String::from("[outputs]\n");
    for (col, key) in [("label", "label"), ("proba", "proba"), ("value", "value")] {
        if let Some(name) = meta["outputs"][key].as_str() {
            outputs.push_str(&format!("{col} = {}\n", toml_str(name)));
        }
    }
    // NaN in these inputs is meant for the model (trees route it).
    let bad_rows = if meta["has_nan"] == true { "[bad_rows]\npolicy = \"pass\"\n" } else { "" };
    format!(
        "name = \"zoo\"\nmodel = \"model.onnx\"\nkeep = [\"row_id\"]\n[input]\npath = \"in/%Y-%m-%d.csv\"\n{features}{outputs}[output]\npath = \"out/%Y-%m-%d.csv\"\n{bad_rows}"
    )
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol || (a - b).abs() <= tol * b.abs()
}

/// Scores one model; returns the worst difference seen, or what went wrong.
fn check(name: &str) -> Result<f64, String> {
    let dir = format!("tests/fixtures/zoo/{name}");
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join(&dir).join("meta.json")).unwrap()).unwrap();
    let wd = Workdir::new();
    wd.copy(&format!("{dir}/model.onnx"), "model.onnx");
    wd.copy(&format!("{dir}/input.csv"), &format!("in/{DATE}.csv"));
    wd.write("job.toml", job_for(&meta));
    let out = wd.cmd(["run", "job.toml", "--date", DATE]).run();
    if out.code != 0 {
        return Err(format!(
            "exit {}: {}",
            out.code,
            out.stderr.lines().rev().find(|l| l.starts_with("error")).unwrap_or(&out.stderr)
        ));
    }
    let (got_h, got) = read_csv(&wd.read(&format!("out/{DATE}.csv")));
    let (exp_h, exp) = read_csv(&std::fs::read_to_string(repo().join(&dir).join("expected.csv")).unwrap());
    if got_h != exp_h {
        return Err(format!("columns {got_h:?}, expected {exp_h:?}"));
    }
    if got.len() != exp.len() {
        return Err(format!("{} rows, expected {}", got.len(), exp.len()));
    }
    let tol = meta["tolerance"].as_f64().unwrap_or(1e-5);
    let mut worst = 0f64;
    for (r, (g, e)) in got.iter().zip(&exp).enumerate() {
        for (c, name) in exp_h.iter().enumerate() {
            if name == "label" || name == "row_id" {
                if g[c] != e[c] {
                    return Err(format!("row {r}: {name} {} ≠ {}", g[c], e[c]));
                }
                continue;
            }
            let (a, b): (f64, f64) =
                (g[c].parse().map_err(|_| format!("row {r} {name}: {:?}", g[c]))?, e[c].parse().unwrap());
            if !close(a, b, tol) {
                return Err(format!("row {r}: {name} {a} vs {b} (tolerance {tol})"));
            }
            worst = worst.max((a - b).abs() / b.abs().max(1.0));
        }
    }
    Ok(worst)
}

/// The worst difference as a bound a reader can trust across platforms:
/// the next power of ten above it.
fn bound(worst: f64) -> String {
    if worst == 0.0 {
        return "exact".into();
    }
    format!("< 1e{}", worst.log10().ceil() as i32)
}

/// docs/models.md, from the zoo's meta.json files and what this test measured.
fn models_md(rows: &[(String, Result<f64, String>)]) -> String {
    let mut s = String::from(
        "# Models batchscore runs\n\n\
         Generated by `tests/zoo.rs` from `tests/fixtures/zoo/*/meta.json` and the parity it measures: \
         each model is scored through a full job (job file → output file) by the real binary and compared \
         with onnxruntime's outputs on the same input. Labels must be identical; values within 1e-5 \
         (absolute or relative). The test fails if this page does not match; regenerate it with \
         `BATCHSCORE_BLESS=1 cargo test --test main zoo`.\n\n\
         | model | converter | estimator | ONNX operators | status | worst difference |\n|---|---|---|---|---|---|\n",
    );
    for (name, result) in rows {
        let meta: Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join(format!("tests/fixtures/zoo/{name}/meta.json"))).unwrap(),
        )
        .unwrap();
        let ops: Vec<&str> = meta["ops"].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
        let (status, diff) = match result {
            Ok(w) => ("matches onnxruntime", bound(*w)),
            Err(_) => ("FAILS", "-".into()),
        };
        s.push_str(&format!(
            "| `{name}` | {} | {} | {} | {status} | {diff} |\n",
            meta["converter"].as_str().unwrap_or(""),
            meta["estimator"].as_str().unwrap_or("").replace('|', "\\|"),
            ops.join(", ")
        ));
    }
    s
}

#[test]
fn every_zoo_model_matches_onnxruntime() {
    let names: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/zoo/manifest.json")).unwrap(),
    )
    .unwrap();
    assert!(names.len() >= 30, "the zoo lost models: {names:?}");
    let mut failures = vec![];
    let mut rows = vec![];
    for name in &names {
        let result = check(name);
        match &result {
            Ok(worst) => println!("ok    {name:<28} worst difference {worst:.2e}"),
            Err(e) => {
                println!("FAIL  {name:<28} {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
        rows.push((name.clone(), result));
    }
    let md = models_md(&rows);
    let path = repo().join("docs/models.md");
    if std::env::var_os("BATCHSCORE_BLESS").is_some() {
        std::fs::write(&path, &md).unwrap();
    } else {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == md,
            "docs/models.md is out of date; regenerate it with BATCHSCORE_BLESS=1 cargo test --test main zoo\n--- expected\n{md}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} zoo models differ from onnxruntime:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

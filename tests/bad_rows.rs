//! Bad values never lose a row: rejected rows go to the quarantine file,
//! and rows read = rows scored + rows rejected, every run.

use crate::common::{JobToml, Workdir, csv_rows, models};

const DATE: &str = "2026-11-23";

/// 200 rows, three of them bad in different ways; `bad_rows` is merged
/// into the job file.
fn dirty_day(wd: &Workdir, bad_rows: &str) {
    wd.write("m.onnx", models::linear(&[1.0, 1.0], 0.0));
    let mut csv = String::from("id,a,b\n");
    for i in 0..200 {
        let (a, b) = match i {
            10 => ("n/a".to_owned(), "1".to_owned()),
            50 => ("2".to_owned(), String::new()),
            150 => ("NaN".to_owned(), "oops".to_owned()),
            _ => (i.to_string(), "1".to_owned()),
        };
        csv.push_str(&format!("r{i},{a},{b}\n"));
    }
    wd.write(&format!("in/{DATE}.csv"), csv);
    let job = JobToml::new("d").keep(&["id"]).toml("chunk_rows = 64").columns(&["a", "b"]).toml(bad_rows);
    wd.write("job.toml", job.build());
}

fn record(wd: &Workdir) -> serde_json::Value {
    wd.record(&format!("out/_batchscore/d/{DATE}.json"))
}

#[test]
fn rejected_rows_go_to_quarantine_with_file_row_column_and_reason() {
    let wd = Workdir::new();
    dirty_day(
        &wd,
        r#"
[bad_rows]
max_rejected = 5
"#,
    );
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0).stderr_has(&["rows rejected", "rejected.csv"]);
    let out = csv_rows(&wd.read(&format!("out/{DATE}.csv")));
    assert_eq!(out.len(), 1 + 197);
    assert!(!out.iter().any(|r| ["r10", "r50", "r150"].contains(&r[0].as_str())));
    assert_eq!(out[1], ["r0", "1.0"]);
    let q = wd.read(&format!("out/{DATE}.rejected.csv"));
    let lines: Vec<&str> = q.lines().collect();
    assert_eq!(lines[0], "id,a,b,_input_file,_row,_column,_reason");
    assert_eq!(lines.len(), 4, "{q}");
    assert!(
        lines[1].starts_with("r10,n/a,1,")
            && lines[1].contains(",11,a,")
            && lines[1].contains("not a valid number"),
        "{q}"
    );
    assert!(
        lines[2].starts_with("r50,2,,") && lines[2].contains(",51,b,") && lines[2].contains("missing value"),
        "{q}"
    );
    assert!(lines[3].starts_with("r150,NaN,oops,") && lines[3].contains(",151,a; b,"), "{q}");
    assert!(lines[1].contains(&format!("{DATE}.csv")));
    let rec = record(&wd);
    assert_eq!(
        (rec["rows"]["read"].as_u64(), rec["rows"]["scored"].as_u64(), rec["rows"]["rejected"].as_u64()),
        (Some(200), Some(197), Some(3))
    );
    assert_eq!(rec["quarantine"]["rows"], 3);
}

#[test]
fn too_many_rejects_fail_the_run_but_keep_the_quarantine() {
    let wd = Workdir::new();
    dirty_day(
        &wd,
        r#"
[bad_rows]
max_rejected = "1%"
"#,
    );
    wd.cmd(["run", "job.toml", "--date", DATE]).code(65).stderr_has(&[
        "3 of 200 rows rejected",
        "max_rejected (1%)",
        "row 11, column \"a\": \"n/a\"",
        "rejected.csv",
    ]);
    assert!(!wd.exists(&format!("out/{DATE}.csv")));
    assert_eq!(wd.read(&format!("out/{DATE}.rejected.csv")).lines().count(), 4);
    let rec = record(&wd);
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["rows"]["rejected"], 3);
    assert_eq!(rec["error"]["exit_code"], 65);
}

#[test]
fn fill_replaces_values_in_columns_that_have_a_fill() {
    let wd = Workdir::new();
    dirty_day(
        &wd,
        r#"
[bad_rows]
policy = "fill"
max_rejected = 2
fill = { a = -100 }
"#,
    );
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    let out = csv_rows(&wd.read(&format!("out/{DATE}.csv")));
    // Row 10: a filled (-100 + 1). Row 150: a is fillable but b is not, so it is rejected.
    assert_eq!(out[11], ["r10", "-99.0"]);
    assert_eq!(out.len(), 1 + 198, "rows 50 and 150 have a bad b, which has no fill");
    assert_eq!(record(&wd)["rows"]["rejected"], 2);
}

#[test]
fn pass_gives_the_model_nan_for_floats() {
    let wd = Workdir::new();
    dirty_day(
        &wd,
        r#"
[bad_rows]
policy = "pass"
"#,
    );
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    let out = csv_rows(&wd.read(&format!("out/{DATE}.csv")));
    assert_eq!(out.len(), 201);
    assert_eq!(out[11], ["r10", "NaN"]);
    assert_eq!(record(&wd)["rows"]["rejected"], 0);
    assert!(!wd.exists(&format!("out/{DATE}.rejected.csv")));
}

#[test]
fn a_clean_rerun_removes_the_old_quarantine() {
    let wd = Workdir::new();
    dirty_day(
        &wd,
        r#"
[bad_rows]
max_rejected = 5
"#,
    );
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    assert!(wd.exists(&format!("out/{DATE}.rejected.csv")));
    let clean = wd
        .read(&format!("in/{DATE}.csv"))
        .replace("n/a", "1")
        .replace("2,\n", "2,1\n")
        .replace("NaN,oops", "1,1");
    wd.write(&format!("in/{DATE}.csv"), clean);
    wd.cmd(["run", "job.toml", "--date", DATE, "--force"]).code(0);
    assert!(!wd.exists(&format!("out/{DATE}.rejected.csv")));
    assert_eq!(record(&wd)["rows"]["scored"], 200);
}

/// Only a cell polars cannot parse sends a CSV day into a second, text
/// read; a path or a column whose name contains "parse" must not.
#[test]
fn a_path_that_says_parse_does_not_read_the_day_twice() {
    let wd = Workdir::new();
    wd.write("m.onnx", models::linear(&[1.0, 1.0], 0.0));
    // Nulls only: bad values, but none that polars fails to parse.
    let mut csv = String::from("id,sparse_a,b\n");
    for i in 0..100 {
        csv.push_str(&format!("r{i},{},1\n", if i % 10 == 0 { "" } else { "2" }));
    }
    wd.write(&format!("parsed/{DATE}.csv"), csv);
    let job = JobToml::new("d").keep(&["id"]).input("parsed/%Y-%m-%d.csv").columns(&["sparse_a", "b"]);
    wd.write("job.toml", job.build());
    let out = wd.cmd(["run", "job.toml", "--date", DATE]).code(65);
    out.stderr_has(&["10 of 100 rows rejected"]);
    assert!(!out.stderr.contains("reading the input again as text"), "{}", out.stderr);
    // A cell that does not parse still does.
    wd.write(&format!("parsed/{DATE}.csv"), "id,sparse_a,b\nr0,x,1\nr1,2,1\n");
    let out = wd.cmd(["run", "job.toml", "--date", DATE]).code(65);
    out.stderr_has(&["reading the input again as text", "1 of 2 rows rejected"]);
}

/// A CSV day is cut into pieces that polars parses side by side: bad
/// values spread through many chunks and pieces are each rejected with
/// their own row number, on the typed read and on the text re-read that
/// finds them, and every other row is scored once, in order. Quoted ids
/// with delimiters, doubled quotes and line feeds straddle the cuts.
#[test]
fn bad_values_spread_through_many_pieces_keep_their_rows() {
    let wd = Workdir::new();
    wd.write("m.onnx", models::linear(&[1.0, 1.0], 0.0));
    let n = 3_000;
    let bad = |i: usize| i % 97 == 13 || i == n - 1;
    let mut csv = String::from("id,a,b\r\n");
    for i in 0..n {
        let id = match i % 4 {
            0 => format!("\"r{i},\"\"x\"\"\""),
            1 => format!("\"r{i}\nline\""),
            _ => format!("r{i}"),
        };
        let a = if bad(i) { "1.5.2".to_owned() } else { i.to_string() };
        csv.push_str(&format!("{id},{a},1\r\n"));
    }
    wd.write(&format!("in/{DATE}.csv"), csv);
    let job = JobToml::new("d")
        .keep(&["id"])
        .toml("chunk_rows = 250")
        .columns(&["a", "b"])
        .toml("[bad_rows]\nmax_rejected = \"5%\"");
    wd.write("job.toml", job.build());
    let rejected: Vec<usize> = (0..n).filter(|&i| bad(i)).collect();
    for piece in ["61", "1000", "4194304"] {
        let out = wd
            .cmd(["run", "job.toml", "--date", DATE, "--force"])
            .env("BATCHSCORE_TEST_CSV_PIECE_BYTES", piece)
            .code(0);
        out.stderr_has(&["reading the input again as text", "rows rejected"]);
        let rows = csv_rows(&wd.read(&format!("out/{DATE}.csv")));
        let scored: Vec<usize> = (0..n).filter(|&i| !bad(i)).collect();
        assert_eq!(rows.len(), 1 + scored.len(), "piece {piece}");
        for (row, &i) in rows[1..].iter().zip(&scored) {
            let id = match i % 4 {
                0 => format!("r{i},\"x\""),
                1 => format!("r{i}\nline"),
                _ => format!("r{i}"),
            };
            assert_eq!(row, &[id, format!("{:.1}", i as f64 + 1.0)], "piece {piece}");
        }
        let q = csv_rows(&wd.read(&format!("out/{DATE}.rejected.csv")));
        let q_rows: Vec<usize> = q[1..].iter().map(|r| r[4].parse::<usize>().unwrap() - 1).collect();
        assert_eq!(q_rows, rejected, "piece {piece}");
        assert!(
            q[1..].iter().all(|r| r[1] == "1.5.2" && r[5] == "a" && r[6].contains("not a valid number")),
            "{q:?}"
        );
        let rec = record(&wd);
        assert_eq!(
            (rec["rows"]["read"].as_u64(), rec["rows"]["scored"].as_u64(), rec["rows"]["rejected"].as_u64()),
            (Some(n as u64), Some(scored.len() as u64), Some(rejected.len() as u64))
        );
    }
}

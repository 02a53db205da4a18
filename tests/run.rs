//! The run path end to end, on the real binary.

use crate::common::{JobToml, Workdir, csv_rows, models, parquet_day};
use polars::prelude::*;

const DATE: &str = "2026-11-23";

fn sigmoid_free_score(x: &[f32], w: &[f32], b: f32) -> f32 {
    x.iter().zip(w).map(|(a, b)| a * b).sum::<f32>() + b
}

const W: [f32; 3] = [0.5, -2.0, 1.0];

/// A job over `rows` rows of CSV with an id column that must survive as
/// text; `extra` is merged into its job file.
fn csv_day(wd: &Workdir, rows: usize, extra: &str) {
    wd.write("m.onnx", models::linear(&W, 0.25));
    let mut csv = String::from("id,a b,c/d (e),z\n");
    for i in 0..rows {
        csv.push_str(&format!("00{i},{},{},{}\n", i as f32 * 0.5, i % 7, -(i as f32) / 3.0));
    }
    wd.write(&format!("in/{DATE}.csv"), csv);
    let job = JobToml::new("t")
        .toml(r#"timezone = "UTC""#)
        .keep(&["id"])
        .columns(&["a b", "c/d (e)", "z"])
        .output("out/scores-%Y-%m-%d.csv")
        .toml(extra);
    wd.write("job.toml", job.build());
}

fn expected(i: usize) -> f32 {
    sigmoid_free_score(&[i as f32 * 0.5, (i % 7) as f32, -(i as f32) / 3.0], &W, 0.25)
}

#[test]
fn csv_day_is_scored_in_row_order_across_chunks_and_threads() {
    let wd = Workdir::new();
    csv_day(
        &wd,
        1000,
        r#"
chunk_rows = 64
threads = 2
"#,
    );
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    let rows = csv_rows(&wd.read(&format!("out/scores-{DATE}.csv")));
    assert_eq!(rows[0], ["id", "score"]);
    assert_eq!(rows.len(), 1001);
    for (i, r) in rows[1..].iter().enumerate() {
        assert_eq!(r[0], format!("00{i}"), "ids keep their text and their order");
        let got: f32 = r[1].parse().unwrap();
        assert!((got - expected(i)).abs() < 1e-4, "row {i}: {got} vs {}", expected(i));
    }
    let rec = wd.record(&format!("out/_batchscore/t/{DATE}.json"));
    assert_eq!(rec["status"], "success");
    assert_eq!(rec["rows"]["read"], 1000);
    assert_eq!(rec["rows"]["scored"], 1000);
    assert_eq!(rec["rows"]["rejected"], 0);
    assert_eq!(rec["inputs"][0]["rows"], 1000);
    assert_eq!(rec["model"]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn a_csv_under_a_name_with_url_characters_is_read() {
    // Local CSV files are read through polars' object reader as file://
    // URLs, which decode percent escapes: "%20" must stay "%20".
    let wd = Workdir::new();
    csv_day(&wd, 300, "");
    let dir = "in/100% #1 %20x";
    wd.write(&format!("{dir}/{DATE}.csv"), wd.read(&format!("in/{DATE}.csv")));
    std::fs::remove_file(wd.path(&format!("in/{DATE}.csv"))).unwrap();
    // A literal % is %% in the path template.
    let template = format!("{}/%Y-%m-%d.csv", dir.replace('%', "%%"));
    wd.write("job.toml", wd.read("job.toml").replace("in/%Y-%m-%d.csv", &template));
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    let rows = csv_rows(&wd.read(&format!("out/scores-{DATE}.csv")));
    assert_eq!(rows.len(), 301);
    let rec = wd.record(&format!("out/_batchscore/t/{DATE}.json"));
    assert_eq!(rec["rows"]["scored"], 300);
    assert!(rec["inputs"][0]["path"].as_str().unwrap().contains("100% #1 %20x"), "{}", rec["inputs"]);
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let wd = Workdir::new();
    // One 20,000-row chunk: 1 thread scores it in 4 blocks of 5,000 rows,
    // 3 threads in 5 blocks of 4,000, so the block edges differ.
    csv_day(&wd, 20_000, "chunk_rows = 20000");
    wd.cmd(["run", "job.toml", "--date", DATE, "--threads", "1"]).code(0);
    let one = wd.read(&format!("out/scores-{DATE}.csv"));
    wd.cmd(["run", "job.toml", "--date", DATE, "--threads", "3", "--force"]).code(0);
    assert_eq!(one, wd.read(&format!("out/scores-{DATE}.csv")));
}

fn write_parquet(wd: &Workdir, rel: &str, ids: &[i64], a: &[f64]) {
    wd.write(rel, parquet_day(ids, a));
}

fn read_parquet(wd: &Workdir, rel: &str) -> DataFrame {
    ParquetReader::new(std::fs::File::open(wd.path(rel)).unwrap()).finish().unwrap()
}

#[test]
fn multi_file_parquet_day_keeps_file_then_row_order() {
    let wd = Workdir::new();
    wd.write("m.onnx", models::linear(&W, 0.0));
    // Written out of name order on purpose: files are read sorted by name.
    write_parquet(&wd, &format!("in/{DATE}/part-1.parquet"), &[3, 4], &[3.0, 4.0]);
    write_parquet(&wd, &format!("in/{DATE}/part-0.parquet"), &[1, 2], &[1.0, 2.0]);
    wd.write("in/other/part-9.parquet", "not for this day");
    let job = JobToml::new("p")
        .keep(&["id"])
        .input("in/%Y-%m-%d/*.parquet")
        .columns(&["a b", "c/d (e)", "z"])
        .output("out/%Y/%m/%d/scores.parquet");
    wd.write("job.toml", job.build());
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    let df = read_parquet(&wd, "out/2026/11/23/scores.parquet");
    let ids: Vec<i64> = df.column("id").unwrap().i64().unwrap().into_no_null_iter().collect();
    assert_eq!(ids, [1, 2, 3, 4], "Parquet ids keep their integer type and file order");
    let scores: Vec<f32> = df.column("score").unwrap().f32().unwrap().into_no_null_iter().collect();
    assert_eq!(scores, [0.5 - 2.0 + 0.5, 1.0 - 2.0 + 0.5, 1.5 - 2.0 + 0.5, 2.0 - 2.0 + 0.5]);
    let rec = wd.record(&format!("out/_batchscore/p/{DATE}.json"));
    assert_eq!(rec["inputs"].as_array().unwrap().len(), 2);
    assert!(rec["inputs"][0]["path"].as_str().unwrap().ends_with("part-0.parquet"));
}

#[test]
fn multi_input_model_with_a_string_column() {
    let wd = Workdir::new();
    wd.write("m.onnx", models::with_string_input());
    wd.write(&format!("in/{DATE}.csv"), "key,amount,home city\nk1,1.5,a\nk2,2,c\nk3,0,zz\n");
    let job = JobToml::new("s").keep(&["key"]).toml(
        r#"
[features.inputs]
num = "amount"
city = ["home city"]
"#,
    );
    wd.write("job.toml", job.build());
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    assert_eq!(wd.read(&format!("out/{DATE}.csv")), "key,score\nk1,2.5\nk2,5.0\nk3,0.0\n");
}

#[test]
fn rerun_is_a_no_op_and_force_redoes_it() {
    let wd = Workdir::new();
    csv_day(&wd, 10, "");
    let out = format!("out/scores-{DATE}.csv");
    let rec = format!("out/_batchscore/t/{DATE}.json");
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    let first = wd.record(&rec);
    // Tamper with the output: a no-op re-run must not touch it.
    wd.write(&out, "sentinel\n");
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0).stderr_has(&["already done"]);
    assert_eq!(wd.read(&out), "sentinel\n");
    assert_eq!(wd.record(&rec)["started_at"], first["started_at"]);
    wd.cmd(["run", "job.toml", "--date", DATE, "--force"]).code(0);
    assert!(wd.read(&out).starts_with("id,score\n000,"));
    assert_eq!(wd.record(&rec)["forced"], true);
}

#[test]
fn a_missing_output_means_not_done() {
    let wd = Workdir::new();
    csv_day(&wd, 10, "");
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    std::fs::remove_file(wd.path(&format!("out/scores-{DATE}.csv"))).unwrap();
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    assert!(wd.exists(&format!("out/scores-{DATE}.csv")));
}

#[test]
fn a_run_that_fails_part_way_leaves_no_output() {
    let wd = Workdir::new();
    csv_day(
        &wd,
        300,
        r#"
chunk_rows = 50

[bad_rows]
policy = "fail"
"#,
    );
    // Row 250 is bad: five chunks are written to the temporary file first.
    let path = format!("in/{DATE}.csv");
    let text = wd.read(&path).replace("\n00249,", "\n00249x,").replace("00249x,124.5,", "00249,n/a,");
    wd.write(&path, text);
    let out = wd.cmd(["run", "job.toml", "--date", DATE]).code(65);
    out.stderr_has(&[&format!("{DATE}.csv"), "row 250", "\"a b\"", "\"n/a\""]);
    assert_eq!(
        wd.files("out"),
        [format!("_batchscore/t/{DATE}.json"), format!("_batchscore/t/{DATE}.lock")],
        "no output, no temporary file"
    );
    assert_eq!(wd.record(&format!("out/_batchscore/t/{DATE}.json"))["status"], "failed");
}

#[test]
fn default_date_is_yesterday_in_the_jobs_zone() {
    let wd = Workdir::new();
    csv_day(
        &wd,
        3,
        r#"
timezone = "Asia/Tokyo"
run_date = "yesterday"
"#,
    );
    // 2026-11-24 16:00 UTC is already the 25th in Tokyo, so "yesterday" is the 24th: no input for it.
    wd.cmd(["run", "job.toml"])
        .env("BATCHSCORE_NOW", "2026-11-24T16:00:00Z")
        .code(66)
        .stderr_has(&["2026-11-24"]);
    // At 10:00 UTC it's the 24th in Tokyo: yesterday is the 23rd, which exists.
    wd.cmd(["run", "job.toml"]).env("BATCHSCORE_NOW", "2026-11-24T10:00:00Z").code(0);
    assert!(wd.exists(&format!("out/scores-{DATE}.csv")));
}

#[test]
fn parquet_output_reads_back() {
    let wd = Workdir::new();
    csv_day(
        &wd,
        100,
        r#"
[output]
path = "out/scores-%Y-%m-%d.parquet"
"#,
    );
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    let df = read_parquet(&wd, &format!("out/scores-{DATE}.parquet"));
    assert_eq!(df.height(), 100);
    assert_eq!(df.column("id").unwrap().str().unwrap().get(7), Some("007"));
}

#[test]
fn json_logs_carry_job_date_and_rows() {
    let wd = Workdir::new();
    csv_day(&wd, 5, "");
    let out = wd.cmd(["--log-format", "json", "run", "job.toml", "--date", DATE]).code(0);
    let last: serde_json::Value = serde_json::from_str(out.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["message"], "run finished");
    assert_eq!(last["job"], "t");
    assert_eq!(last["date"], DATE);
    assert_eq!(last["rows_scored"], 5);
}

/// A CSV saved by Excel starts with a UTF-8 byte order mark: the first
/// column's name is still `id`, and its values read as written.
#[test]
fn a_byte_order_mark_is_not_part_of_the_first_column() {
    let wd = Workdir::new();
    wd.write("m.onnx", models::linear(&[1.0, 1.0], 0.0));
    wd.write(&format!("in/{DATE}.csv"), "\u{feff}id,a,b\r\n007,1,2\r\n008,3,4\r\n");
    wd.write("job.toml", JobToml::new("bom").keep(&["id"]).columns(&["a", "b"]).build());
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    assert_eq!(wd.read(&format!("out/{DATE}.csv")), "id,score\n007,3.0\n008,7.0\n");
    // Without a header the mark would be the first value's.
    wd.write(&format!("in/{DATE}.csv"), "\u{feff}007,1,2\r\n008,3,4\r\n");
    let job = JobToml::new("bom")
        .keep(&["column_1"])
        .columns(&["column_2", "column_3"])
        .toml("[input.csv]\nheader = false");
    wd.write("job.toml", job.build());
    wd.cmd(["run", "job.toml", "--date", DATE, "--force"]).code(0);
    assert_eq!(wd.read(&format!("out/{DATE}.csv")), "column_1,score\n007,3.0\n008,7.0\n");
}

/// An empty text cell is missing, quoted (`""`) or not, as the default
/// `null_values = [""]` says; a cell of spaces is text.
#[test]
fn an_empty_text_cell_is_missing_quoted_or_not() {
    let wd = Workdir::new();
    wd.write("m.onnx", models::linear(&[1.0, 1.0], 0.0));
    wd.write(&format!("in/{DATE}.csv"), "id,a,b\n\"\",1,2\n,3,4\n\" \",5,6\nx,7,\"\"\n");
    let job = JobToml::new("e").keep(&["id"]).columns(&["a", "b"]);
    wd.write("job.toml", job.build());
    wd.cmd(["run", "job.toml", "--date", DATE]).code(65).stderr_has(&["1 of 4 rows rejected"]);
    wd.write("job.toml", job.toml("[bad_rows]\nmax_rejected = 1").build());
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    assert_eq!(wd.read(&format!("out/{DATE}.csv")), "id,score\n,3.0\n,7.0\n ,11.0\n");
}

//! Watching the data: profiles, the reference, drift checks, the quality
//! gate and the report, on the real binary.

use crate::common::{Workdir, models};
use serde_json::Value;

/// A day of `rows` rows: `amount` in euros (10..110), `age` (20..80), `city`
/// a/b/c, from a small deterministic generator seeded by `seed`.
/// `shift` changes the day: amounts in cents, a third of ages null, a fifth of cities "d".
fn day(rows: usize, seed: u64, shift: bool) -> String {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut csv = String::from("id,amount,age,city\n");
    for i in 0..rows {
        let amount = 10.0 + 100.0 * next();
        let age = 20.0 + 60.0 * next();
        let c = next();
        let city = if c < 0.5 {
            "a"
        } else if c < 0.8 {
            "b"
        } else {
            "c"
        };
        let r = next();
        let (amount, age, city) = if shift {
            let age = if r < 0.33 { String::new() } else { format!("{age:.1}") };
            let city = if r > 0.8 { "d" } else { city };
            (format!("{:.0}", amount * 100.0), age, city)
        } else {
            (format!("{amount:.2}"), format!("{age:.1}"), city)
        };
        csv.push_str(&format!("{i},{amount},{age},{city}\n"));
    }
    csv
}

fn job(wd: &Workdir, monitor: &str) {
    wd.write("m.onnx", models::floats_and_string(&[0.01, 0.02]));
    wd.write(
        "job.toml",
        format!(
            r#"name = "t"
model = "m.onnx"
timezone = "UTC"
keep = ["id"]
metrics = "out/t.prom"
[input]
path = "in/%Y-%m-%d.csv"
[features.inputs]
num = ["amount", "age"]
city = "city"
[output]
path = "out/scores-%Y-%m-%d.csv"
[bad_rows]
policy = "fill"
fill = {{ age = 40.0 }}
[monitor]
reference = "ref/t.profile.json"
{monitor}
"#
        ),
    );
}

/// Three days: two good (the reference and a stable day) and one shifted.
fn setup(monitor: &str) -> Workdir {
    let wd = Workdir::new();
    job(&wd, monitor);
    wd.write("in/2026-11-01.csv", day(4000, 1, false));
    wd.write("in/2026-11-02.csv", day(4000, 2, false));
    wd.write("in/2026-11-03.csv", day(4000, 3, true));
    let out = wd.cmd(["profile", "job.toml", "--from", "2026-11-01", "--to", "2026-11-01"]).code(0);
    assert!(out.stdout.trim().ends_with("t.profile.json"), "{}", out.stdout);
    wd
}

fn column<'a>(rec: &'a Value, name: &str) -> &'a Value {
    rec["monitor"]["columns"].as_array().unwrap().iter().find(|c| c["column"] == name).unwrap()
}

fn fired(rec: &Value) -> Vec<(String, String, String)> {
    rec["monitor"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_owned(),
                c["column"].as_str().unwrap().to_owned(),
                c["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_day_like_the_reference_is_stable() {
    let wd = setup("");
    wd.cmd(["run", "job.toml", "--date", "2026-11-02"]).code(0);
    let rec = wd.record("out/_batchscore/t/2026-11-02.json");
    let m = &rec["monitor"];
    assert_eq!(m["status"], "ok", "{m:#}");
    assert!(fired(&rec).is_empty(), "{:?}", fired(&rec));
    assert_eq!(m["columns"].as_array().unwrap().len(), 4, "amount, age, city and the score");
    for c in m["columns"].as_array().unwrap() {
        assert!(c["psi"].as_f64().unwrap() < 0.1, "{c}");
        assert_eq!(c["band"], "stable");
    }
    assert_eq!(column(&rec, "city")["unseen"], 0.0);
    assert!(wd.exists("out/_batchscore/t/2026-11-02.profile.json"));
    let profile: Value = serde_json::from_str(&wd.read("out/_batchscore/t/2026-11-02.profile.json")).unwrap();
    assert_eq!(profile["rows"], 4000);
    assert_eq!(profile["dates"][0], "2026-11-02");
}

#[test]
fn a_shifted_day_fires_each_check_and_names_the_feature() {
    let wd = setup("");
    let out = wd.cmd(["run", "job.toml", "--date", "2026-11-03"]).code(0);
    // on_alert = "warn" (the default): scored and committed, but said loudly.
    assert!(wd.exists("out/scores-2026-11-03.csv"));
    out.stderr_has(&["drift against the reference", "\"amount\"", "\"age\"", "\"city\""]);
    let rec = wd.record("out/_batchscore/t/2026-11-03.json");
    assert_eq!(rec["status"], "success");
    assert_eq!(rec["monitor"]["status"], "alert");
    assert_eq!(rec["monitor"]["withheld"], false);
    let f = fired(&rec);
    for (check, col) in [
        ("psi", "amount"),
        ("out_of_range", "amount"),
        ("null_rate", "age"),
        ("unseen", "city"),
        ("psi", "city"),
    ] {
        assert!(
            f.iter().any(|(c, n, l)| c == check && n == col && l == "alert"),
            "{check} on {col} did not fire: {f:?}"
        );
    }
    // Units: the whole column moved above the reference's max.
    assert!(column(&rec, "amount")["out_of_range"].as_f64().unwrap() > 0.95);
    assert!(column(&rec, "amount")["psi"].as_f64().unwrap() > 1.0);
    // Nulls: counted as they arrive, although the fill policy repaired them for the model.
    let age = column(&rec, "age");
    assert!((0.25..0.45).contains(&age["null_rate"].as_f64().unwrap()), "{age}");
    assert_eq!(age["reference_null_rate"], 0.0);
    // The new category, by name.
    let msg = rec["monitor"]["checks"].as_array().unwrap().iter().find(|c| c["check"] == "unseen").unwrap()
        ["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("\"d\""), "{msg}");
    // The worst column comes first, in the record and in `status`.
    assert_eq!(rec["monitor"]["worst"]["column"], "amount");
    let status = wd.cmd(["status", "job.toml"]).code(0);
    assert!(status.stdout.contains("\"amount\" (ALERT"), "{}", status.stdout);
    // Metrics: one series per column, labelled with the job.
    let prom = wd.read("out/t.prom");
    for needle in [
        "batchscore_monitor_status{job=\"t\"} 2",
        "batchscore_monitor_psi{job=\"t\",column=\"amount\",role=\"feature\"}",
        "batchscore_monitor_null_rate{job=\"t\",column=\"age\",role=\"feature\"}",
        "batchscore_monitor_unseen_ratio{job=\"t\",column=\"city\",role=\"feature\"}",
        "batchscore_monitor_psi{job=\"t\",column=\"score\",role=\"score\"}",
        "batchscore_monitor_withheld{job=\"t\"} 0",
    ] {
        assert!(prom.contains(needle), "{needle} not in:\n{prom}");
    }
}

#[test]
fn the_quality_gate_withholds_the_output() {
    let wd = setup("on_alert = \"fail\"");
    wd.cmd(["run", "job.toml", "--date", "2026-11-02"]).code(0);
    let out = wd.cmd(["run", "job.toml", "--date", "2026-11-03"]).code(65);
    out.stderr_has(&["quality gate", "output withheld", "\"amount\""]);
    assert!(!wd.exists("out/scores-2026-11-03.csv"), "nothing committed");
    let leftovers: Vec<String> = wd.files("out").into_iter().filter(|f| f.ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let rec = wd.record("out/_batchscore/t/2026-11-03.json");
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["error"]["exit_code"], 65);
    assert!(rec["error"]["message"].as_str().unwrap().contains("quality gate"));
    assert_eq!(rec["monitor"]["withheld"], true);
    assert!(wd.read("out/t.prom").contains("batchscore_monitor_withheld{job=\"t\"} 1"));
    // The report says why, too.
    let html = report(&wd, "2026-11-03");
    assert!(html.contains("withheld by the quality gate"));
    // A gated date is not done: the next run tries again (and is gated again).
    wd.cmd(["run", "job.toml", "--date", "2026-11-03"]).code(65);
    // Sharded, the day as a whole is judged when the last shard commits:
    // it withholds the commit, and the date's record says why.
    std::fs::remove_file(wd.path("out/t.prom")).unwrap();
    wd.cmd(["run", "job.toml", "--date", "2026-11-03", "--shard", "0/2"]).code(0);
    assert!(!wd.exists("out/t.prom"), "a shard alone does not write the job's metrics");
    let out = wd.cmd(["run", "job.toml", "--date", "2026-11-03", "--shard", "1/2"]).code(65);
    out.stderr_has(&["quality gate"]);
    assert!(!wd.exists("out/scores-2026-11-03/_SUCCESS"), "nothing committed");
    let rec = wd.record("out/_batchscore/t/2026-11-03.json");
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["monitor"]["withheld"], true);
    assert!(wd.read("out/t.prom").contains("batchscore_monitor_withheld{job=\"t\"} 1"));
}

/// The page as XML (HTML5's `<!DOCTYPE html>` is a DTD to an XML parser).
fn parse(html: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    roxmltree::Document::parse_with_options(html, opts).unwrap_or_else(|e| panic!("not well-formed: {e}"))
}

/// Writes the report for `date`, checks it is well-formed XML with one
/// histogram per profiled column, and returns it.
fn report(wd: &Workdir, date: &str) -> String {
    let out = wd.cmd(["report", "job.toml", "--date", date]).code(0);
    let path = out.stdout.trim().to_owned();
    assert!(path.ends_with(&format!("{date}.report.html")), "{path}");
    let html = std::fs::read_to_string(&path).unwrap();
    let doc = parse(&html);
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("http://") || !html.contains("src=\"http"), "no network");
    let profile: Value =
        serde_json::from_str(&wd.read(&format!("out/_batchscore/t/{date}.profile.json"))).unwrap();
    let names: Vec<&str> =
        profile["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    let charts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("svg") && n.attribute("class") == Some("hist"))
        .filter_map(|n| n.attribute("data-column"))
        .collect();
    for n in &names {
        assert_eq!(charts.iter().filter(|c| *c == n).count(), 1, "one chart for {n}: {charts:?}");
    }
    html
}

#[test]
fn the_report_leads_with_what_fired_and_trends_each_column() {
    let wd = setup("");
    wd.cmd(["run", "job.toml", "--date", "2026-11-01"]).code(0);
    wd.cmd(["run", "job.toml", "--date", "2026-11-02"]).code(0);
    wd.cmd(["run", "job.toml", "--date", "2026-11-03"]).code(0);
    let html = report(&wd, "2026-11-03");
    let doc = parse(&html);
    // The checks come before the table, and the table is sorted by PSI.
    let checks = html.find("id=\"checks\"").unwrap();
    let table = html.find("id=\"table\"").unwrap();
    assert!(checks < table);
    let rows: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("tbody"))
        .flat_map(|b| b.children().filter(|r| r.has_tag_name("tr")))
        .map(|r| {
            r.descendants().find(|n| n.has_tag_name("a")).and_then(|a| a.text()).unwrap_or("").to_owned()
        })
        .collect();
    assert_eq!(rows.first().map(String::as_str), Some("amount"), "{rows:?}");
    // Three days of profiles: each trend has three points.
    let trend =
        doc.descendants().find(|n| n.has_tag_name("svg") && n.attribute("class") == Some("trend")).unwrap();
    assert_eq!(trend.descendants().filter(|n| n.has_tag_name("circle")).count(), 3);
    // The stable day's report says nothing fired.
    assert!(report(&wd, "2026-11-02").contains("No check fired"));
}

#[test]
fn profiles_of_shards_merge_into_the_days_profile() {
    // One file or the same rows split over two files (read chunk by chunk):
    // the same counts and histograms.
    let wd = setup("");
    wd.cmd(["run", "job.toml", "--date", "2026-11-02"]).code(0);
    let whole: Value = serde_json::from_str(&wd.read("out/_batchscore/t/2026-11-02.profile.json")).unwrap();
    let text = wd.read("in/2026-11-02.csv");
    let lines: Vec<&str> = text.lines().collect();
    let (head, rest) = (lines[0], &lines[1..]);
    let wd2 = Workdir::new();
    job(&wd2, "");
    wd2.write("ref/t.profile.json", wd.read("ref/t.profile.json"));
    wd2.write("in/2026-11-02/a.csv", format!("{head}\n{}\n", rest[..1234].join("\n")));
    wd2.write("in/2026-11-02/b.csv", format!("{head}\n{}\n", rest[1234..].join("\n")));
    let toml = wd2.read("job.toml").replace("in/%Y-%m-%d.csv", "in/%Y-%m-%d/*.csv") + "";
    wd2.write("job.toml", toml.replace("name = \"t\"", "name = \"t\"\nchunk_rows = 500"));
    wd2.cmd(["run", "job.toml", "--date", "2026-11-02"]).code(0);
    let split: Value = serde_json::from_str(&wd2.read("out/_batchscore/t/2026-11-02.profile.json")).unwrap();
    same_profile(&whole, &split);
    // The same two files as two real shards: each profiles its file, and
    // the shard that commits the date merges them into the day's profile.
    std::fs::remove_dir_all(wd2.path("out")).unwrap();
    for i in 0..2 {
        let out = wd2.cmd(["run", "job.toml", "--date", "2026-11-02", "--shard", &format!("{i}/2")]).code(0);
        assert!(!out.stderr.contains("unreadable"), "a shard's profile is not a record: {}", out.stderr);
    }
    assert!(wd2.exists("out/_batchscore/t/2026-11-02.shards/part-00001-of-00002.profile.json"));
    let sharded: Value =
        serde_json::from_str(&wd2.read("out/_batchscore/t/2026-11-02.profile.json")).unwrap();
    same_profile(&whole, &sharded);
    let rec = wd2.record("out/_batchscore/t/2026-11-02.json");
    assert_eq!(rec["monitor"]["status"], "ok", "the day's checks, in the date's record");
    assert!(rec["monitor"]["profile"].as_str().unwrap().ends_with("2026-11-02.profile.json"));
}

fn same_profile(whole: &Value, split: &Value) {
    for (a, b) in whole["columns"].as_array().unwrap().iter().zip(split["columns"].as_array().unwrap()) {
        for key in ["rows", "nulls", "nan"] {
            assert_eq!(a[key], b[key], "{key} of {}", a["name"]);
        }
        for kind in ["numeric", "categorical"] {
            assert_eq!(a[kind]["counts"], b[kind]["counts"], "{}", a["name"]);
            assert_eq!(a[kind]["min"], b[kind]["min"]);
            assert_eq!(a[kind]["max"], b[kind]["max"]);
        }
        if let (Some(x), Some(y)) = (a["numeric"]["mean"].as_f64(), b["numeric"]["mean"].as_f64()) {
            assert!((x - y).abs() <= 1e-9 * x.abs(), "{x} {y}");
        }
    }
}

#[test]
fn a_chunk_whose_every_row_is_rejected_is_still_profiled() {
    // Rows 500..1000 lack `amount` (no fill value: rejected): with 500-row
    // chunks the second chunk is rejected whole and nothing of it is scored.
    let wd = setup("");
    let text = day(1000, 4, false);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for line in &mut lines[501..] {
        let mut cells: Vec<&str> = line.split(',').collect();
        cells[1] = "";
        *line = cells.join(",");
    }
    wd.write("in/2026-11-04.csv", lines.join("\n") + "\n");
    let toml = wd.read("job.toml").replace("name = \"t\"", "name = \"t\"\nchunk_rows = 500");
    wd.write("job.toml", toml.replace("[bad_rows]", "[bad_rows]\nmax_rejected = \"60%\""));
    wd.cmd(["run", "job.toml", "--date", "2026-11-04"]).code(0);
    let rec = wd.record("out/_batchscore/t/2026-11-04.json");
    assert_eq!((rec["rows"]["read"].as_u64(), rec["rows"]["rejected"].as_u64()), (Some(1000), Some(500)));
    let profile: Value = serde_json::from_str(&wd.read("out/_batchscore/t/2026-11-04.profile.json")).unwrap();
    assert_eq!(profile["rows"], 1000);
    let columns = profile["columns"].as_array().unwrap();
    let amount = columns.iter().find(|c| c["name"] == "amount").unwrap();
    assert_eq!((amount["rows"].as_u64(), amount["nulls"].as_u64()), (Some(1000), Some(500)), "{amount}");
    let age = columns.iter().find(|c| c["name"] == "age").unwrap();
    assert_eq!(
        age["numeric"]["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum::<u64>(),
        1000
    );
    let score = columns.iter().find(|c| c["role"] == "score").unwrap();
    assert_eq!(score["rows"], 500, "scores are profiled over the rows scored: {score}");
}

#[test]
fn the_demo_ships_a_reference_and_its_day_is_stable() {
    let wd = Workdir::new();
    for f in [
        "jobs/demo.toml",
        "data/models/demo.onnx",
        "data/input/2026-11-22.csv",
        "data/input/2026-11-23.csv",
        "data/reference/demo.profile.json",
    ] {
        wd.copy(f, f);
    }
    wd.cmd(["run", "jobs/demo.toml", "--date", "2026-11-23"]).code(0);
    let rec = wd.record("out/demo/_batchscore/demo/2026-11-23.json");
    let m = &rec["monitor"];
    assert_eq!(m["status"], "ok", "{m:#}");
    assert_eq!(m["columns"].as_array().unwrap().len(), 33, "30 features, the label and two probabilities");
    assert!(m["worst"]["psi"].as_f64().unwrap() < 0.1, "{m:#}");
    assert!(wd.read("out/demo/batchscore_demo.prom").contains("batchscore_monitor_worst_psi{job=\"demo\"}"));
    // The committed reference is what `profile` makes from the demo's first day.
    let out = wd
        .cmd([
            "profile",
            "jobs/demo.toml",
            "--from",
            "2026-11-22",
            "--to",
            "2026-11-22",
            "--out",
            "again.json",
        ])
        .code(0);
    assert!(out.stdout.trim().ends_with("again.json"));
    let again: Value = serde_json::from_str(&wd.read("again.json")).unwrap();
    let shipped: Value = serde_json::from_str(&wd.read("data/reference/demo.profile.json")).unwrap();
    assert_eq!(
        again, shipped,
        "data/reference/demo.profile.json is stale: rebuild it with `batchscore profile`"
    );
}

#[test]
fn a_reference_from_a_file_and_bad_monitor_settings() {
    let wd = setup("");
    wd.write("train.csv", day(3000, 9, false));
    let out = wd.cmd(["profile", "job.toml", "--input", "train.csv", "--out", "ref/train.json"]).code(0);
    assert!(out.stdout.trim().ends_with("train.json"));
    let r: Value = serde_json::from_str(&wd.read("ref/train.json")).unwrap();
    assert_eq!(r["rows"], 3000);
    assert!(r["input"].as_str().unwrap().ends_with("train.csv"));
    // Ten bins between min and max, and one on each side.
    assert_eq!(r["columns"][0]["numeric"]["counts"].as_array().unwrap().len(), 12);
    assert_eq!(r["columns"][2]["categorical"]["categories"], serde_json::json!(["a", "b", "c"]));
    // A typo in [monitor] is a job-file error, like any other.
    job(&wd, "psi_significant = 0.05");
    wd.cmd(["run", "job.toml", "--date", "2026-11-02"]).code(78).stderr_has(&["psi_moderate"]);
    job(&wd, "on_alrt = \"fail\"");
    wd.cmd(["run", "job.toml", "--date", "2026-11-02"]).code(78).stderr_has(&["on_alrt"]);
    job(&wd, "");
    wd.write("ref/t.profile.json", "{}");
    wd.cmd(["run", "job.toml", "--date", "2026-11-02"]).code(78).stderr_has(&["not a batchscore profile"]);
}

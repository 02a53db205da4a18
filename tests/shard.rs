//! A day scored as N shards: every row in exactly one part, the date
//! committed once, reruns of one index, and counts that do not match.

use std::collections::BTreeMap;

use crate::common::{JobToml, Workdir, models};
use polars::prelude::*;

const DATE: &str = "2026-11-23";
const W: [f32; 3] = [0.5, -2.0, 1.0];

/// Rows `ids` of the jobs' three features, as Parquet row groups of `group` rows.
fn parquet(ids: std::ops::Range<i64>, group: usize) -> Vec<u8> {
    let ids: Vec<i64> = ids.collect();
    let a: Vec<f64> = ids.iter().map(|&i| i as f64 * 0.25).collect();
    let c: Vec<i64> = ids.iter().map(|&i| i % 5).collect();
    let z: Vec<f32> = ids.iter().map(|&i| -(i as f32) / 7.0).collect();
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("id".into(), ids),
        Column::new("a b".into(), a),
        Column::new("c/d (e)".into(), c),
        Column::new("z".into(), z),
    ])
    .unwrap();
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf).with_row_group_size(Some(group)).finish(&mut df).unwrap();
    buf
}

fn job(wd: &Workdir, input: &str, output: &str) {
    wd.write("m.onnx", models::linear(&W, 0.25));
    let job = JobToml::new("s")
        .toml("timezone = \"UTC\"\nchunk_rows = 50")
        .keep(&["id"])
        .columns(&["a b", "c/d (e)", "z"])
        .input(input)
        .output(output);
    wd.write("job.toml", job.build());
}

/// A day of five Parquet files of different sizes, 40-row row groups.
fn many_files(wd: &Workdir) {
    let sizes = [130i64, 40, 500, 7, 260];
    let mut start = 0;
    for (k, n) in sizes.iter().enumerate() {
        wd.write(&format!("in/{DATE}/f{k}.parquet"), parquet(start..start + n, 40));
        start += n;
    }
    job(wd, "in/%Y-%m-%d/*.parquet", "out/scores-%Y-%m-%d.parquet");
}

/// One Parquet file of 937 rows in 19 row groups.
fn one_file(wd: &Workdir) {
    wd.write(&format!("in/{DATE}.parquet"), parquet(0..937, 50));
    job(wd, "in/%Y-%m-%d.parquet", "out/scores-%Y-%m-%d.parquet");
}

fn read(wd: &Workdir, rel: &str) -> DataFrame {
    ParquetReader::new(std::fs::File::open(wd.path(rel)).unwrap()).finish().unwrap()
}

/// id → score, asserting no id twice.
fn scores(df: &DataFrame) -> BTreeMap<i64, u32> {
    let ids = df.column("id").unwrap().i64().unwrap();
    let s = df.column("score").unwrap().f32().unwrap();
    let mut out = BTreeMap::new();
    for (id, s) in ids.into_no_null_iter().zip(s.into_no_null_iter()) {
        assert!(out.insert(id, s.to_bits()).is_none(), "id {id} is in the output twice");
    }
    out
}

/// The directory read as one table by polars, as a user would read it.
fn read_dir(wd: &Workdir, dir: &str) -> DataFrame {
    let pattern = wd.path(dir).join("*.parquet");
    LazyFrame::scan_parquet(PlRefPath::new(pattern.to_str().unwrap()), ScanArgsParquet::default())
        .unwrap()
        .collect()
        .unwrap()
}

/// Waits for shards started at once, asserting each succeeded; how many said they committed the date.
pub fn commits(children: Vec<std::process::Child>) -> usize {
    let mut commits = 0;
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "shard {i}: {stderr}");
        commits += stderr.matches("date committed").count();
    }
    commits
}

fn manifest(wd: &Workdir) -> serde_json::Value {
    wd.record(&format!("out/scores-{DATE}/_SUCCESS"))
}

#[test]
fn the_parts_together_are_the_unsharded_output_for_any_count() {
    for (name, setup) in [("many files", many_files as fn(&Workdir)), ("one file", one_file)] {
        let whole = Workdir::new();
        setup(&whole);
        whole.cmd(["run", "job.toml", "--date", DATE]).code(0);
        let expected = scores(&read(&whole, &format!("out/scores-{DATE}.parquet")));
        for n in [1usize, 2, 3, 7] {
            let wd = Workdir::new();
            setup(&wd);
            let mut busy = 0;
            for i in 0..n {
                let out = wd.cmd(["run", "job.toml", "--date", DATE, "--shard", &format!("{i}/{n}")]).code(0);
                let part = format!("out/scores-{DATE}/part-{i:05}-of-{n:05}.parquet");
                assert!(out.stdout.trim().ends_with(&part), "{name}, {i}/{n}: stdout {:?}", out.stdout);
                assert_eq!(
                    wd.exists(&format!("out/scores-{DATE}/_SUCCESS")),
                    i == n - 1,
                    "{name}: committed by the last"
                );
                busy += (read(&wd, &part).height() > 0) as usize;
            }
            // Split within files, not only by file: even one file keeps every shard busy up to its groups.
            assert_eq!(busy, n, "{name}: every one of {n} shards had rows");
            let table = read_dir(&wd, &format!("out/scores-{DATE}"));
            assert_eq!(
                scores(&table),
                expected,
                "{name}, {n} shards: the union is the unsharded output, row for row"
            );
            let m = manifest(&wd);
            assert_eq!(m["shards"], n);
            assert_eq!(m["rows"]["read"], expected.len());
            assert_eq!(m["rows"]["scored"], expected.len());
            assert_eq!(m["parts"].as_array().unwrap().len(), n);
            let part_rows: u64 =
                m["parts"].as_array().unwrap().iter().map(|p| p["rows"].as_u64().unwrap()).sum();
            assert_eq!(part_rows, expected.len() as u64);
            // Each shard's record says what it read; the date's record sums them.
            let date = wd.record(&format!("out/_batchscore/s/{DATE}.json"));
            assert_eq!(date["status"], "success");
            assert_eq!(date["rows"]["scored"], expected.len());
            assert_eq!(date["shards"]["count"], n);
            let shard = wd.record(&format!("out/_batchscore/s/{DATE}.shards/part-00000-of-{n:05}.json"));
            assert_eq!(shard["shard"]["index"], 0);
            assert!(!shard["shard"]["ranges"].as_array().unwrap().is_empty());
        }
    }
}

#[test]
fn an_empty_parquet_file_in_the_day_has_a_shard_too() {
    let wd = Workdir::new();
    wd.write(&format!("in/{DATE}/a.parquet"), parquet(0..200, 50));
    wd.write(&format!("in/{DATE}/b.parquet"), parquet(0..0, 50));
    job(&wd, "in/%Y-%m-%d/*.parquet", "out/scores-%Y-%m-%d.parquet");
    for i in 0..3 {
        wd.cmd(["run", "job.toml", "--date", DATE, "--shard", &format!("{i}/3")]).code(0);
    }
    let m = manifest(&wd);
    assert_eq!(m["rows"]["scored"], 200);
    assert_eq!(m["inputs"][1]["rows"], 0);
}

#[test]
fn a_csv_day_is_split_by_file() {
    let wd = Workdir::new();
    wd.write("m.onnx", models::linear(&W, 0.25));
    for k in 0..3 {
        let mut csv = String::from("id,a b,c/d (e),z\n");
        for i in 0..100 {
            csv.push_str(&format!("0{k}{i:03},{},{},{}\n", i as f32, i % 3, 0.5));
        }
        wd.write(&format!("in/{DATE}/{k}.csv"), csv);
    }
    let job = JobToml::new("s")
        .toml("timezone = \"UTC\"")
        .keep(&["id"])
        .columns(&["a b", "c/d (e)", "z"])
        .input("in/%Y-%m-%d/*.csv")
        .output("out/scores-%Y-%m-%d.csv");
    wd.write("job.toml", job.build());
    for i in 0..3 {
        wd.cmd(["run", "job.toml", "--date", DATE, "--shard", &format!("{i}/3")]).code(0);
    }
    let mut ids = Vec::new();
    for i in 0..3 {
        let text = wd.read(&format!("out/scores-{DATE}/part-{i:05}-of-00003.csv"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id,score");
        assert_eq!(lines.len(), 101, "shard {i} has one whole file");
        ids.extend(lines[1..].iter().map(|l| l.split(',').next().unwrap().to_owned()));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 300, "ids keep their text, none twice");
    assert_eq!(manifest(&wd)["rows"]["scored"], 300);
    // The manifest is as readable as the parts it describes (the umask applies to both).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |rel: &str| std::fs::metadata(wd.path(rel)).unwrap().permissions().mode() & 0o777;
        let dir = format!("out/scores-{DATE}");
        assert_eq!(mode(&format!("{dir}/_SUCCESS")), mode(&format!("{dir}/part-00000-of-00003.csv")));
    }
}

#[test]
fn shards_finishing_together_commit_exactly_once() {
    for round in 0..3 {
        let wd = Workdir::new();
        one_file(&wd);
        let n = 5;
        let children: Vec<_> = (0..n)
            .map(|i| {
                wd.cmd(["run", "job.toml", "--date", DATE, "--shard", &format!("{i}/{n}"), "--threads", "1"])
                    .spawn()
            })
            .collect();
        assert_eq!(commits(children), 1, "round {round}: one shard commits the date");
        let m = manifest(&wd);
        // A shard run again after the commit finds it and commits nothing.
        wd.cmd(["run", "job.toml", "--date", DATE, "--shard", &format!("{}/{n}", round % n)])
            .code(0)
            .stderr_has(&["already done"]);
        // The committer died between the manifest and the date's record: a
        // rerun finds the manifest, leaves it be, and writes the record.
        std::fs::remove_file(wd.path(&format!("out/_batchscore/s/{DATE}.json"))).unwrap();
        wd.cmd(["run", "job.toml", "--date", DATE, "--shard", "0/5"])
            .code(0)
            .stderr_has(&["shard already done", "committed by another shard"]);
        assert_eq!(
            manifest(&wd)["committed_at"],
            m["committed_at"],
            "round {round}: the manifest was written once"
        );
        assert_eq!(wd.record(&format!("out/_batchscore/s/{DATE}.json"))["shards"]["count"], 5);
        assert_eq!(m["rows"]["scored"], 937, "round {round}");
        // One manifest, whole, from one shard; no temporary file beside it.
        let files = wd.files(&format!("out/scores-{DATE}"));
        assert_eq!(files.iter().filter(|f| f.contains("_SUCCESS")).count(), 1, "{files:?}");
        assert!(files.iter().all(|f| !f.ends_with(".tmp")), "{files:?}");
        assert_eq!(scores(&read_dir(&wd, &format!("out/scores-{DATE}"))).len(), 937);
    }
}

#[test]
fn a_killed_shard_is_rerun_alone_then_the_date_commits() {
    let wd = Workdir::new();
    one_file(&wd);
    wd.cmd(["run", "job.toml", "--date", DATE, "--shard", "0/3"]).code(0);
    wd.cmd(["run", "job.toml", "--date", DATE, "--shard", "2/3"]).code(0);
    // Shard 1 stops part-way through its rows, and is killed there.
    let mut child = wd
        .cmd(["run", "job.toml", "--date", DATE, "--shard", "1/3"])
        .env("BATCHSCORE_TEST_READ_PAUSE", "100")
        .env("BATCHSCORE_TEST_UPLOAD_PAUSE_SECONDS", "60")
        .spawn();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("paused") {
            break;
        }
    }
    assert!(seen.contains("paused"), "the shard never reached its pause:\n{seen}");
    child.kill().unwrap();
    child.wait().unwrap();
    let files = wd.files(&format!("out/scores-{DATE}"));
    assert!(!files.iter().any(|f| f.contains("part-00001") && !f.starts_with('.')), "{files:?}");
    assert!(!wd.exists(&format!("out/scores-{DATE}/_SUCCESS")));
    let status = wd.cmd(["status", "job.toml"]).code(0);
    assert!(status.stdout.contains("not committed: 2 of 3 shards done; not done: 1"), "{}", status.stdout);
    // The whole array rerun: shards 0 and 2 are done and skip; 1 is redone and commits.
    for i in [0, 2] {
        let out = wd.cmd(["run", "job.toml", "--date", DATE, "--shard", &format!("{i}/3")]).code(0);
        out.stderr_has(&["shard already done"]);
    }
    assert!(!wd.exists(&format!("out/scores-{DATE}/_SUCCESS")));
    wd.cmd(["run", "job.toml", "--date", DATE, "--shard", "1/3"]).code(0);
    assert_eq!(manifest(&wd)["rows"]["scored"], 937);
    assert_eq!(scores(&read_dir(&wd, &format!("out/scores-{DATE}"))).len(), 937);
    let status = wd.cmd(["status", "job.toml"]).code(0);
    assert!(status.stdout.contains("3 shards, committed"), "{}", status.stdout);
    assert!(!status.stdout.contains("not committed"), "{}", status.stdout);
}

#[test]
fn another_shard_count_is_refused_and_force_redoes_the_date() {
    let wd = Workdir::new();
    one_file(&wd);
    wd.cmd(["run", "job.toml", "--date", DATE, "--shard", "0/3"]).code(0);
    let out = wd.cmd(["run", "job.toml", "--date", DATE, "--shard", "1/4"]).code(78);
    out.stderr_has(&["started as 3 shards", "shard 1/4", "--force"]);
    assert!(!wd.exists(&format!("out/scores-{DATE}/part-00001-of-00004.parquet")));
    // --force on every shard of the new count: the old count's parts go.
    for i in 0..4 {
        wd.cmd(["run", "job.toml", "--date", DATE, "--shard", &format!("{i}/4"), "--force"]).code(0);
    }
    let files = wd.files(&format!("out/scores-{DATE}"));
    assert!(files.iter().all(|f| !f.contains("-of-00003")), "{files:?}");
    assert_eq!(manifest(&wd)["shards"], 4);
    assert_eq!(scores(&read_dir(&wd, &format!("out/scores-{DATE}"))).len(), 937);
    // A committed date is done for any count.
    wd.cmd(["run", "job.toml", "--date", DATE, "--shard", "0/2"]).code(0).stderr_has(&["already done"]);
}

#[test]
fn shards_that_saw_different_input_do_not_commit() {
    let wd = Workdir::new();
    many_files(&wd);
    wd.cmd(["run", "job.toml", "--date", DATE, "--shard", "0/2"]).code(0);
    // A late file: shard 1 splits another listing than shard 0 did.
    wd.write(&format!("in/{DATE}/f9.parquet"), parquet(5000..5100, 40));
    let out = wd.cmd(["run", "job.toml", "--date", DATE, "--shard", "1/2"]).code(65);
    out.stderr_has(&["saw different input", "--force"]);
    assert!(!wd.exists(&format!("out/scores-{DATE}/_SUCCESS")));
}

#[test]
fn sharded_backfill_and_catchup_commit_each_date() {
    let wd = Workdir::new();
    wd.write("m.onnx", models::linear(&W, 0.25));
    for (k, d) in ["2026-11-21", "2026-11-22", "2026-11-23"].iter().enumerate() {
        wd.write(&format!("in/{d}.parquet"), parquet(k as i64 * 1000..k as i64 * 1000 + 300, 50));
    }
    job(&wd, "in/%Y-%m-%d.parquet", "out/scores-%Y-%m-%d.parquet");
    for i in 0..2 {
        wd.cmd([
            "backfill",
            "job.toml",
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-23",
            "--shard",
            &format!("{i}/2"),
        ])
        .code(0);
    }
    for d in ["2026-11-21", "2026-11-22", "2026-11-23"] {
        assert_eq!(wd.record(&format!("out/scores-{d}/_SUCCESS"))["rows"]["scored"], 300, "{d}");
    }
    // The engine's variables: a Kubernetes index and the count beside it.
    wd.write("in/2026-11-24.parquet", parquet(0..120, 50));
    for i in 0..2 {
        wd.cmd(["catchup", "job.toml"])
            .env("BATCHSCORE_NOW", "2026-11-25T12:00:00Z")
            .env("JOB_COMPLETION_INDEX", &i.to_string())
            .env("BATCHSCORE_SHARDS", "2")
            .code(0);
    }
    assert_eq!(wd.record("out/scores-2026-11-24/_SUCCESS")["rows"]["scored"], 120);
    let status = wd.cmd(["status", "job.toml"]).code(0);
    assert_eq!(status.stdout.matches("2 shards, committed").count(), 4, "{}", status.stdout);
}

#[test]
fn shards_into_a_bucket_commit_once_with_records_and_locks_there() {
    use crate::common::s3server::S3Server;
    let s3 = S3Server::start();
    s3.bucket("exports").bucket("scores");
    s3.put("exports", &format!("daily/{DATE}.parquet"), parquet(0..937, 50));
    let wd = Workdir::new();
    job(&wd, "s3://exports/daily/%Y-%m-%d.parquet", "s3://scores/out/scores-%Y-%m-%d.parquet");
    let text = wd.read("job.toml");
    wd.write("job.toml", format!("{text}\n[storage]\nendpoint = \"{}\"\npath_style = true\n", s3.endpoint));
    let n = 3;
    let children: Vec<_> = (0..n)
        .map(|i| {
            let mut c = wd.cmd(["run", "job.toml", "--date", DATE, "--threads", "1"]);
            for (k, v) in s3.env() {
                c = c.env(k, &v);
            }
            // As a Kubernetes Indexed Job starts its pods: an index, and the count beside it.
            c.env("JOB_COMPLETION_INDEX", &i.to_string()).env("BATCHSCORE_SHARDS", &n.to_string()).spawn()
        })
        .collect();
    assert_eq!(commits(children), 1);
    let keys = s3.keys("scores", "out/");
    let parts: Vec<&String> =
        keys.iter().filter(|k| k.starts_with(&format!("out/scores-{DATE}/part-"))).collect();
    assert_eq!(parts.len(), n, "{keys:?}");
    let m: serde_json::Value =
        serde_json::from_slice(&s3.get("scores", &format!("out/scores-{DATE}/_SUCCESS")).unwrap()).unwrap();
    assert_eq!(m["rows"]["scored"], 937);
    let mut ids = Vec::new();
    for p in parts {
        let df = ParquetReader::new(std::io::Cursor::new(s3.get("scores", p).unwrap())).finish().unwrap();
        ids.extend(df.column("id").unwrap().i64().unwrap().into_no_null_iter());
    }
    ids.sort();
    assert_eq!(ids, (0..937).collect::<Vec<i64>>(), "every row once");
    // Shard records and the date's record in the bucket; no lock left behind.
    assert!(keys.iter().any(|k| k.ends_with(&format!("_batchscore/s/{DATE}.json"))), "{keys:?}");
    assert_eq!(
        keys.iter().filter(|k| k.contains(".shards/part-") && k.ends_with(".json")).count(),
        n,
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.ends_with(".lock")), "{keys:?}");
    let status = wd.cmd(["status", "job.toml"]);
    let status = s3.env().into_iter().fold(status, |c, (k, v)| c.env(k, &v)).code(0);
    assert!(status.stdout.contains("3 shards, committed"), "{}", status.stdout);
}

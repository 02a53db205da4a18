//! Schedule-aware commands: next, backfill, catchup, status, the lock, metrics.

use crate::common::{JobToml, Workdir, models};

/// A daily job (02:30 London, scores yesterday) with inputs for `days`;
/// `extra` is merged into its job file.
fn daily_job(wd: &Workdir, days: &[&str], extra: &str) {
    wd.write("m.onnx", models::linear(&[1.0], 0.0));
    for d in days {
        wd.write(&format!("in/{d}.csv"), "id,x\n1,1\n2,2\n");
    }
    let job = JobToml::new("n")
        .toml(
            r#"
timezone = "Europe/London"
schedule = "30 2 * * *"
run_date = "yesterday"
metrics = "out/n.prom"
"#,
        )
        .keep(&["id"])
        .columns(&["x"])
        .toml(extra);
    wd.write("job.toml", job.build());
}

#[test]
fn next_shows_fire_times_and_the_dates_they_score() {
    let wd = Workdir::new();
    daily_job(&wd, &[], "");
    let out = wd.cmd(["next", "job.toml", "-n", "2"]).env("BATCHSCORE_NOW", "2026-03-28T12:00:00Z").code(0);
    assert_eq!(
        out.stdout,
        "schedule \"30 2 * * *\" in Europe/London (daily at 02:30)\n2026-03-29 Sun 02:30 BST  scores 2026-03-28\n2026-03-30 Mon 02:30 BST  scores 2026-03-29\n"
    );
}

#[test]
fn backfill_goes_on_past_a_bad_date_and_reports_it() {
    let wd = Workdir::new();
    daily_job(&wd, &["2026-11-20", "2026-11-21", "2026-11-23"], "");
    let out = wd
        .cmd([
            "backfill",
            "job.toml",
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-23",
            "--keep-going",
            "--jobs",
            "2",
        ])
        .code(66);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[1].starts_with("2026-11-20  ok"), "{}", out.stdout);
    assert!(lines[2].starts_with("2026-11-21  ok"), "{}", out.stdout);
    assert!(
        lines[3].starts_with("2026-11-22  FAILED 66") && lines[3].contains("no input for 2026-11-22"),
        "{}",
        out.stdout
    );
    assert!(lines[4].starts_with("2026-11-23  ok"), "{}", out.stdout);
    for d in ["2026-11-20", "2026-11-21", "2026-11-23"] {
        assert!(wd.exists(&format!("out/{d}.csv")));
    }
    // Again: done dates are skipped, the bad one fails again.
    let out = wd
        .cmd(["backfill", "job.toml", "--from", "2026-11-20", "--to", "2026-11-23", "--keep-going"])
        .code(66);
    assert!(out.stdout.lines().nth(1).unwrap().starts_with("2026-11-20  done"), "{}", out.stdout);
}

#[test]
fn backfill_stops_at_the_first_failure_without_keep_going() {
    let wd = Workdir::new();
    daily_job(&wd, &["2026-11-21", "2026-11-22"], "");
    let out = wd.cmd(["backfill", "job.toml", "--from", "2026-11-20", "--to", "2026-11-22"]).code(66);
    assert!(
        out.stdout.contains("2026-11-21  not run") && out.stdout.contains("2026-11-22  not run"),
        "{}",
        out.stdout
    );
}

#[test]
fn backfill_follows_the_schedule_unless_every_day() {
    let wd = Workdir::new();
    let days = ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"];
    // Weekdays only: runs fire Mon–Fri and score the day before, so Friday 20th
    // (scored on Saturday) and Saturday 21st (scored on Sunday) are not selected.
    daily_job(&wd, &days, r#"schedule = "30 2 * * 1-5""#);
    let out = wd.cmd(["backfill", "job.toml", "--from", "2026-11-20", "--to", "2026-11-23"]).code(0);
    let dates: Vec<&str> = out.stdout.lines().skip(1).map(|l| &l[..10]).collect();
    assert_eq!(dates, ["2026-11-22", "2026-11-23"]);
    let out =
        wd.cmd(["backfill", "job.toml", "--from", "2026-11-20", "--to", "2026-11-23", "--every-day"]).code(0);
    assert_eq!(out.stdout.lines().count(), 5);
}

#[test]
fn catchup_scores_every_missed_night_oldest_first() {
    let wd = Workdir::new();
    daily_job(&wd, &["2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"], "");
    // The last success: the run of the 20th at 02:30 scored the 19th.
    wd.cmd(["run", "job.toml", "--date", "2026-11-19"]).code(0);
    // The machine was off for three nights; it is back on the 23rd at 03:00.
    let now = "2026-11-23T03:00:00Z";
    let out = wd.cmd(["catchup", "job.toml"]).env("BATCHSCORE_NOW", now).code(0);
    let dates: Vec<&str> = out.stdout.lines().skip(1).map(|l| &l[..10]).collect();
    assert_eq!(dates, ["2026-11-20", "2026-11-21", "2026-11-22"], "{}", out.stdout);
    // Nothing left to do.
    let out = wd.cmd(["catchup", "job.toml"]).env("BATCHSCORE_NOW", now).code(0);
    assert!(out.stdout.is_empty());
    out.stderr_has(&["nothing to catch up"]);
    // Before 02:30 on the 24th, the 23rd is not due yet.
    let out = wd.cmd(["catchup", "job.toml"]).env("BATCHSCORE_NOW", "2026-11-24T02:00:00Z").code(0);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    // status lists them, newest first.
    let out = wd.cmd(["status", "job.toml", "--last", "2"]).code(0);
    let rows: Vec<&str> = out.stdout.lines().collect();
    assert!(rows[1].starts_with("2026-11-22  ok") && rows[2].starts_with("2026-11-21  ok"), "{}", out.stdout);
    assert_eq!(rows.len(), 3);
}

/// A schedule that fires twice a day scores each missed date once, not once per firing.
#[test]
fn catchup_runs_each_date_once_when_the_schedule_fires_more_often() {
    let wd = Workdir::new();
    daily_job(
        &wd,
        &["2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"],
        r#"schedule = "30 2,14 * * *""#,
    );
    wd.cmd(["run", "job.toml", "--date", "2026-11-19"]).code(0);
    let out = wd.cmd(["catchup", "job.toml"]).env("BATCHSCORE_NOW", "2026-11-23T03:00:00Z").code(0);
    let dates: Vec<&str> = out.stdout.lines().skip(1).map(|l| &l[..10]).collect();
    assert_eq!(dates, ["2026-11-20", "2026-11-21", "2026-11-22"], "{}", out.stdout);
}

/// A job that never succeeded catches up only the latest due date, not
/// every date its inputs happen to cover.
#[test]
fn catchup_on_a_fresh_job_scores_only_the_latest_due_date() {
    let wd = Workdir::new();
    daily_job(&wd, &["2026-11-20", "2026-11-21", "2026-11-22"], "");
    let out = wd.cmd(["catchup", "job.toml"]).env("BATCHSCORE_NOW", "2026-11-23T03:00:00Z").code(0);
    let dates: Vec<&str> = out.stdout.lines().skip(1).map(|l| &l[..10]).collect();
    assert_eq!(dates, ["2026-11-22"], "{}", out.stdout);
    assert!(!wd.exists("out/_batchscore/n/2026-11-21.json"));
}

#[test]
fn a_held_lock_means_exit_75_and_names_the_holder() {
    let wd = Workdir::new();
    daily_job(&wd, &["2026-11-22"], "");
    let dir = wd.path("out/_batchscore/n");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.join("2026-11-22.lock"))
        .unwrap();
    std::io::Write::write_all(&mut &lock, b"pid 4242 on testhost since 2026-11-23T02:30:00Z").unwrap();
    lock.try_lock().unwrap();
    wd.cmd(["run", "job.toml", "--date", "2026-11-22"])
        .code(75)
        .stderr_has(&["2026-11-22 is being scored by pid 4242 on testhost"]);
    assert!(!wd.exists("out/2026-11-22.csv"));
    drop(lock);
    wd.cmd(["run", "job.toml", "--date", "2026-11-22"]).code(0);
}

#[test]
fn two_runs_of_the_same_date_score_it_once() {
    let wd = Workdir::new();
    daily_job(&wd, &[], "chunk_rows = 1000");
    let mut csv = String::from("id,x\n");
    for i in 0..300_000 {
        csv.push_str(&format!("{i},{}\n", i % 97));
    }
    wd.write("in/2026-11-22.csv", csv);
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_batchscore"))
            .args(["run", "job.toml", "--date", "2026-11-22"])
            .current_dir(wd.path(""))
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut codes = [a.status.code().unwrap(), b.status.code().unwrap()];
    codes.sort();
    let stderr = format!("{}{}", String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr));
    // Either the second found the lock held (75), or it started after the
    // first finished and found the date done (0, "already done").
    assert!(codes == [0, 75] || (codes == [0, 0] && stderr.contains("already done")), "{codes:?}\n{stderr}");
    assert_eq!(stderr.matches("run finished").count(), 1, "scored exactly once:\n{stderr}");
    assert_eq!(wd.read("out/2026-11-22.csv").lines().count(), 300_001);
}

#[test]
fn metrics_last_success_only_moves_on_success() {
    let wd = Workdir::new();
    daily_job(&wd, &["2026-11-22"], "");
    wd.cmd(["run", "job.toml", "--date", "2026-11-22"]).env("BATCHSCORE_NOW", "2026-11-23T03:00:00Z").code(0);
    let prom = wd.read("out/n.prom");
    let value = |text: &str, name: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(value(&prom, "batchscore_last_run_success"), "1");
    assert_eq!(value(&prom, "batchscore_rows_scored"), "2");
    assert!(prom.contains("job=\"n\""));
    let success = value(&prom, "batchscore_last_success_timestamp_seconds");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    wd.cmd(["run", "job.toml", "--date", "2026-11-21"]).code(66);
    let prom = wd.read("out/n.prom");
    assert_eq!(value(&prom, "batchscore_last_run_success"), "0");
    assert_eq!(value(&prom, "batchscore_last_run_exit_code"), "66");
    assert_eq!(value(&prom, "batchscore_last_success_timestamp_seconds"), success);
}

#[test]
fn log_file_receives_the_logs() {
    let wd = Workdir::new();
    daily_job(&wd, &["2026-11-22"], r#"log_file = "logs/job.log""#);
    wd.cmd(["run", "job.toml", "--date", "2026-11-22"]).code(0);
    let files = wd.files("logs");
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("job.log."), "rotated daily: {files:?}");
    assert!(wd.read(&format!("logs/{}", files[0])).contains("run finished"));
}

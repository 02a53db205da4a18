//! The shipped scheduler definitions parse, agree with the job file's
//! schedule, and name a job file that exists.

use crate::common::{Workdir, repo};

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap()
}

/// The job's schedule as the binary reads it: (expr, "HH:MM").
fn job_schedule() -> (String, String) {
    let wd = Workdir::new();
    let out = wd.cmd(["next", repo().join("jobs/demo.toml").to_str().unwrap(), "-n", "1"]).code(0);
    let first = out.stdout.lines().next().unwrap().to_owned();
    let expr = first.split('"').nth(1).unwrap().to_owned();
    let time = first.split("daily at ").nth(1).unwrap().trim_end_matches(')').to_owned();
    (expr, time)
}

#[test]
fn crontab_entry_matches_the_job_and_names_it() {
    let text = read("deploy/crontab");
    assert!(text.ends_with('\n'), "cron ignores a last line without a newline");
    let lines: Vec<&str> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(lines.contains(&"SHELL=/bin/sh"));
    assert!(lines.iter().any(|l| l.starts_with("PATH=")));
    let entries: Vec<&&str> =
        lines.iter().filter(|l| !l.contains('=') || l.split_whitespace().count() > 6).collect();
    assert_eq!(entries.len(), 1, "one schedule line: {entries:?}");
    let fields: Vec<&str> = entries[0].split_whitespace().collect();
    let (expr, _) = job_schedule();
    assert_eq!(fields[..5].join(" "), expr, "crontab schedule vs job schedule");
    assert_eq!(fields[5], "batchscore", "the /etc/cron.d user field");
    assert!(fields[6].ends_with("batchscore"));
    assert_eq!(fields[7], "catchup");
    let job = fields[8];
    assert!(job.starts_with('/'), "cron needs absolute paths: {job}");
    assert!(
        repo().join("jobs").join(job.rsplit('/').next().unwrap()).is_file(),
        "{job} is not a job file in jobs/"
    );
    assert!(!entries[0].contains('%'), "an unescaped % is a newline in crontab");
}

#[test]
fn windows_task_matches_the_job_and_is_encoded_for_schtasks() {
    let bytes = std::fs::read(repo().join("deploy/windows-task.xml")).unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xFE], "UTF-16LE byte order mark");
    let units: Vec<u16> = bytes[2..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let text = String::from_utf16(&units).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-16\"?>"));
    assert!(text.contains("\r\n") && !text.replace("\r\n", "").contains('\n'), "CRLF line endings only");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let find = |name: &str| {
        doc.descendants().find(|n| n.has_tag_name(name)).unwrap_or_else(|| panic!("no <{name}>"))
    };
    let text_of = |name: &str| find(name).text().unwrap_or_default().trim().to_owned();
    let (_, time) = job_schedule();
    let start = text_of("StartBoundary");
    assert_eq!(&start[11..16], time, "trigger time vs job schedule");
    assert_eq!(text_of("DaysInterval"), "1");
    assert_eq!(text_of("MultipleInstancesPolicy"), "IgnoreNew");
    assert_eq!(text_of("StartWhenAvailable"), "true");
    let principal = find("Principal").attribute("id").unwrap();
    assert_eq!(find("Actions").attribute("Context"), Some(principal));
    let args = text_of("Arguments");
    assert!(args.starts_with("catchup "));
    let job = args.split_whitespace().nth(1).unwrap();
    assert!(
        repo().join("jobs").join(job.rsplit('\\').next().unwrap()).is_file(),
        "{job} is not a job file in jobs/"
    );
}

#[test]
fn systemd_timer_matches_the_job() {
    let timer = read("deploy/systemd/batchscore-demo.timer");
    let (_, time) = job_schedule();
    assert!(timer.contains(&format!("OnCalendar=*-*-* {time}:00")), "{timer}");
    assert!(timer.contains("Persistent=true"));
    let service = read("deploy/systemd/batchscore-demo.service");
    assert!(service.contains("catchup /opt/batchscore/jobs/demo.toml"));
}

/// The sbatch script run as Slurm runs an array's tasks: `bash` on the
/// script, once per index, with the variables Slurm sets, from the
/// directory sbatch was called in (a copy of the demo's files here).
#[cfg(unix)]
#[test]
fn the_slurm_array_script_scores_the_demo_day_in_shards() {
    let script = read("deploy/slurm/batchscore.sbatch");
    let array = script.lines().find_map(|l| l.strip_prefix("#SBATCH --array=")).expect("#SBATCH --array");
    let (first, last) = array.split_once('-').expect("an index range");
    let shards: usize = script
        .lines()
        .find_map(|l| l.strip_prefix("export BATCHSCORE_SHARDS=\"${BATCHSCORE_SHARDS:-")?.strip_suffix("}\""))
        .expect("a BATCHSCORE_SHARDS default")
        .parse()
        .unwrap();
    assert_eq!((first, last.parse::<usize>().unwrap()), ("0", shards - 1), "--array=0-(N-1) for N shards");
    let wd = Workdir::new();
    for f in [
        "jobs/demo.toml",
        "data/models/demo.onnx",
        "data/input/2026-11-23.csv",
        "data/reference/demo.profile.json",
    ] {
        wd.copy(f, f);
    }
    let run = |index: usize, count: usize| {
        std::process::Command::new("bash")
            .arg(repo().join("deploy/slurm/batchscore.sbatch"))
            .current_dir(wd.path(""))
            .env("BATCHSCORE", env!("CARGO_BIN_EXE_batchscore"))
            .env("RUN_DATE", "2026-11-23")
            .env("SLURM_ARRAY_TASK_ID", index.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", count.to_string())
            .env("SLURM_CPUS_PER_TASK", "1")
            .env_remove("BATCHSCORE_SHARDS")
            .output()
            .unwrap()
    };
    for i in 0..shards - 1 {
        let out = run(i, shards);
        assert!(out.status.success(), "task {i}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(!wd.exists("out/demo/scores-2026-11-23/_SUCCESS"));
    // The last index resubmitted alone (`sbatch --array=3`): Slurm counts 1
    // task, the script's BATCHSCORE_SHARDS keeps the count, and it commits.
    let out = run(shards - 1, 1);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = wd.record("out/demo/scores-2026-11-23/_SUCCESS");
    assert_eq!(manifest["shards"], shards);
    assert_eq!(manifest["rows"]["scored"], 1000);
}

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

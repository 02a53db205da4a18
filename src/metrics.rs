//! A Prometheus textfile per job, for node_exporter's (or
//! windows_exporter's) textfile collector: alerts can fire on a stale
//! `last_success` without anyone reading logs.

use std::fmt::Write;

use crate::ledger::{Record, Status};
use crate::output::write_atomic;
use crate::storage::{self, Location};

const LAST_SUCCESS: &str = "batchscore_last_success_timestamp_seconds";

/// Rewrites the file for `record`. `last_success` moves only on success;
/// otherwise it keeps the value the file already had.
pub fn write(path: &Location, record: &Record) -> anyhow::Result<()> {
    let job = record.job.replace('\\', "\\\\").replace('"', "\\\"");
    let previous = match path {
        Location::Local(p) => std::fs::read_to_string(p).ok(),
        Location::Object(u) => {
            storage::get(u, storage::Op::Read)?.map(|b| String::from_utf8_lossy(&b).into_owned())
        }
    };
    let previous_success = previous.and_then(|text| {
        text.lines()
            .find(|l| l.starts_with(LAST_SUCCESS))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    });
    let ok = record.status == Status::Success;
    let finished = record.finished_at.timestamp() as f64;
    let last_success = if ok { Some(finished) } else { previous_success };
    let mut s = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{job=\"{job}\"}} {value}");
    };
    gauge("batchscore_last_run_timestamp_seconds", "When the last run finished (Unix time).", finished);
    gauge("batchscore_last_run_success", "1 if the last run succeeded, else 0.", if ok { 1.0 } else { 0.0 });
    if let Some(e) = &record.error {
        gauge("batchscore_last_run_exit_code", "Exit code of the last run.", f64::from(e.exit_code));
    } else {
        gauge("batchscore_last_run_exit_code", "Exit code of the last run.", 0.0);
    }
    if let Some(t) = last_success {
        gauge(LAST_SUCCESS, "When the last successful run finished (Unix time).", t);
    }
    let date = record.date.and_hms_opt(0, 0, 0).map_or(0.0, |d| d.and_utc().timestamp() as f64);
    gauge(
        "batchscore_last_run_date_timestamp_seconds",
        "The date the last run scored (midnight UTC, Unix time).",
        date,
    );
    gauge("batchscore_rows_read", "Rows read by the last run.", record.rows.read as f64);
    gauge("batchscore_rows_scored", "Rows scored by the last run.", record.rows.scored as f64);
    gauge(
        "batchscore_rows_rejected",
        "Rows rejected (quarantined) by the last run.",
        record.rows.rejected as f64,
    );
    gauge("batchscore_run_duration_seconds", "Duration of the last run.", record.duration_seconds);
    write_atomic(path, s.as_bytes())
}

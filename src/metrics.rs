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
    if let Some(m) = &record.monitor {
        monitor(&mut s, &job, m);
    }
    write_atomic(path, s.as_bytes())
}

/// Columns with their own series, at most: the highest PSI first. Labels
/// are column names from the reference, never values from the data, so a
/// job's series are bounded by its columns whatever arrives.
pub const MAX_MONITOR_COLUMNS: usize = 200;

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The drift checks of the last run: one family per measure, a series per column.
fn monitor(s: &mut String, job: &str, m: &crate::monitor::MonitorEntry) {
    use crate::monitor::drift::Level;
    let mut family = |name: &str, help: &str, rows: Vec<(String, f64)>| {
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in rows {
            let _ = writeln!(s, "{name}{{job=\"{job}\"{labels}}} {value}");
        }
    };
    let alerts = m.checks.iter().filter(|c| c.level == Level::Alert).count();
    let status = match m.status {
        Level::Ok => 0.0,
        Level::Warning => 1.0,
        Level::Alert => 2.0,
    };
    family(
        "batchscore_monitor_status",
        "Drift checks of the last run: 0 ok, 1 warning (moderate PSI), 2 alert.",
        vec![(String::new(), status)],
    );
    family(
        "batchscore_monitor_alerts",
        "Drift and quality checks at alert level in the last run.",
        vec![(String::new(), alerts as f64)],
    );
    family(
        "batchscore_monitor_warnings",
        "Drift checks at warning level in the last run.",
        vec![(String::new(), (m.checks.len() - alerts) as f64)],
    );
    family(
        "batchscore_monitor_withheld",
        "1 if the last run's output was withheld by the quality gate (on_alert = fail).",
        vec![(String::new(), if m.withheld { 1.0 } else { 0.0 })],
    );
    if let Some(w) = &m.worst {
        family(
            "batchscore_monitor_worst_psi",
            "Highest PSI of any feature or score column in the last run.",
            vec![(String::new(), w.psi)],
        );
    }
    let cols = &m.columns[..m.columns.len().min(MAX_MONITOR_COLUMNS)];
    let per = |f: &dyn Fn(&crate::monitor::drift::ColumnDrift) -> Option<f64>| -> Vec<(String, f64)> {
        cols.iter()
            .filter_map(|c| {
                f(c).map(|v| (format!(",column=\"{}\",role=\"{}\"", label(&c.column), c.role), v))
            })
            .collect()
    };
    family(
        "batchscore_monitor_psi",
        "Population stability index of the column against the reference (< 0.1 stable, > 0.25 significant).",
        per(&|c| c.psi),
    );
    family(
        "batchscore_monitor_null_rate",
        "Share of the column's values that were null or NaN in the last run.",
        per(&|c| Some(c.null_rate)),
    );
    family(
        "batchscore_monitor_out_of_range_ratio",
        "Share of the column's values outside the reference's min..max.",
        per(&|c| c.out_of_range),
    );
    family(
        "batchscore_monitor_unseen_ratio",
        "Share of the column's values in categories the reference never saw.",
        per(&|c| c.unseen),
    );
    family(
        "batchscore_monitor_class_share_change",
        "Largest change of a class's share of the rows against the reference (score labels).",
        per(&|c| c.class_share_change),
    );
}

//! `batchscore status JOB`: recent runs, from the run records.

use std::fmt::Write;

use crate::job::Job;
use crate::ledger::{Ledger, Status};
use crate::monitor::drift::Level;

pub fn status(job: &Job, last: usize) -> anyhow::Result<u8> {
    super::print(&table(job, last)?)?;
    Ok(0)
}

fn table(job: &Job, last: usize) -> anyhow::Result<String> {
    let ledger = Ledger::new(&job.state_dir, &job.name);
    let records = ledger.all()?;
    let mut s = String::new();
    let sharded = ledger.sharded_dates()?;
    if records.is_empty() && sharded.is_empty() {
        writeln!(s, "no runs recorded for {} in {}", job.name, job.state_dir.join(&job.name).display())?;
        return Ok(s);
    }
    writeln!(
        s,
        "{:<10}  {:<7}  {:>10}  {:>10}  {:>8}  {:>8}  {:<12}  {:<20}  worst PSI",
        "date", "status", "read", "scored", "rejected", "seconds", "model", "finished"
    )?;
    for r in records.iter().rev().take(last) {
        let status = match r.status {
            Status::Success => "ok".to_owned(),
            Status::Failed => format!("FAILED {}", r.error.as_ref().map_or(0, |e| e.exit_code)),
        };
        let model = r.model.as_ref().map_or("-".into(), |m| m.sha256.chars().take(12).collect::<String>());
        // The drift at a glance: the worst column's PSI and the checks' level.
        let drift = r.monitor.as_ref().map_or("-".to_owned(), |m| {
            let worst = m.worst.as_ref().map_or("-".to_owned(), |w| format!("{:.3} {:?}", w.psi, w.column));
            match m.status {
                Level::Ok => worst,
                Level::Warning => format!("{worst} (warning)"),
                Level::Alert => format!("{worst} (ALERT: {} checks fired)", m.checks.len()),
            }
        });
        writeln!(
            s,
            "{:<10}  {:<7}  {:>10}  {:>10}  {:>8}  {:>8.1}  {:<12}  {:<20}  {}",
            r.date,
            status,
            r.rows.read,
            r.rows.scored,
            r.rows.rejected,
            r.duration_seconds,
            model,
            r.finished_at.format("%Y-%m-%d %H:%M:%SZ"),
            drift
        )?;
        if let Some(e) = &r.error {
            writeln!(s, "            {}", e.message.lines().next().unwrap_or_default())?;
        }
        if let Some(sh) = &r.shards {
            writeln!(s, "            {} shards, committed: {}", sh.count, sh.manifest.display())?;
        }
    }
    // Sharded dates not committed yet: which shards are missing or failed.
    for date in sharded {
        if ledger.done(date)?.is_some() {
            continue;
        }
        let shards = ledger.shard_records(date)?;
        let Some(count) = shards.iter().filter_map(|r| r.shard.as_ref()).map(|s| s.count).max() else {
            continue;
        };
        let ok = |i: usize| {
            shards.iter().any(|r| {
                r.status == Status::Success
                    && r.shard.as_ref().is_some_and(|s| s.index == i && s.count == count)
            })
        };
        let missing: Vec<String> = (0..count).filter(|i| !ok(*i)).map(|i| i.to_string()).collect();
        writeln!(
            s,
            "{date}  not committed: {} of {count} shards done; not done: {}",
            count - missing.len(),
            missing.join(", ")
        )?;
        for r in shards.iter().filter(|r| r.status == Status::Failed) {
            if let (Some(sh), Some(e)) = (&r.shard, &r.error) {
                writeln!(
                    s,
                    "            shard {}/{} FAILED {}: {}",
                    sh.index,
                    sh.count,
                    e.exit_code,
                    e.message.lines().next().unwrap_or_default()
                )?;
            }
        }
    }
    Ok(s)
}

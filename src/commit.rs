//! A sharded date committed exactly once, without a coordinator.
//!
//! Each shard commits its own part (atomically, like any output) and its
//! own record. Then it reads every shard record of the date: the shard
//! that sees all of them say success writes the date's `_SUCCESS`
//! manifest with a create-only write. Two shards finishing together may
//! both see all records, but only one create succeeds; a shard that
//! finishes while another still runs sees a record missing and leaves the
//! commit to that one. Records are written before they are read, so the
//! last shard to finish always sees every record: some shard commits.
//!
//! Readers wait for `_SUCCESS` (Hadoop's convention, which Spark and
//! Airflow sensors follow); batchscore's own `status`, `catchup` and
//! `backfill` count the date done only while it exists.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::{Kind, ResultExt, failure};
use crate::job::Job;
use crate::ledger::{FileEntry, InputRange, Ledger, ModelEntry, Record, Rows, ShardsEntry, Status};
use crate::output::{remove, write_atomic, write_new};
use crate::shard::{self, Shard};
use crate::storage::Location;

/// The `_SUCCESS` file: what the date's parts hold, for readers and audits.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub committer: String,
    pub batchscore_version: String,
    pub job: String,
    pub date: NaiveDate,
    pub shards: usize,
    pub committed_at: DateTime<Utc>,
    /// The shard whose create won.
    pub committed_by: usize,
    pub rows: Rows,
    /// The parts' bytes, summed.
    pub bytes: u64,
    pub model: Option<ModelEntry>,
    /// The day's listing, as every shard saw it, with the rows read from each file.
    pub inputs: Vec<FileEntry>,
    pub parts: Vec<Part>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Part {
    /// The file's name in the date's directory.
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub read: u64,
    pub rejected: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<String>,
    pub ranges: Vec<InputRange>,
    /// When the shard that wrote the part started: tells one run of a
    /// part from the next (a forced rerun).
    pub started_at: DateTime<Utc>,
}

/// Before a shard scores: parts of another shard count for the same date
/// cannot be mixed with this run's. Without `force` that is refused; with
/// it, the other count's parts and records go. A forced shard also takes
/// the manifest down, so no reader takes the date for done while it is redone.
pub fn prepare(ledger: &Ledger, job: &Job, date: NaiveDate, shard: Shard, force: bool) -> anyhow::Result<()> {
    let records = ledger.shard_records(date)?;
    let mut others: Vec<usize> = records.iter().filter_map(|r| r.shard.as_ref()).map(|s| s.count).collect();
    others.retain(|&n| n != shard.count);
    others.sort_unstable();
    others.dedup();
    let output = job.output.expand(date);
    let dir = shard::output_dir(&output);
    if let Some(&n) = others.first() {
        if !force {
            return Err(failure(
                Kind::Config,
                format!(
                    "{date} was started as {n} shards ({}), but this is shard {shard}: run it as shard INDEX/{n}, or redo the whole date as {} shards with --force on every shard",
                    ledger.shard_dir(date).display(),
                    shard.count
                ),
            ));
        }
        warn!(%date, "--force: removing the parts and records of {} other shard count(s)", others.len());
        ledger.remove_shard_records(date, shard.count)?;
        for n in &others {
            for i in 0..*n {
                let other = Shard { index: i, count: *n };
                for ext in ["parquet", "csv"] {
                    remove(&dir.join(&other.part_name(ext)))?;
                }
                remove(&dir.join(&format!("_{}", other.part_name("rejected.csv"))))?;
            }
        }
    }
    if force {
        remove(&shard::manifest_path(&output))?;
    }
    Ok(())
}

/// After a shard's record is written: commits the date if every shard of
/// it has succeeded. Returns the date's record when this shard committed it.
pub fn finish(
    ledger: &Ledger,
    job: &Job,
    date: NaiveDate,
    shard: Shard,
    forced: bool,
) -> anyhow::Result<Option<Record>> {
    let clock = std::time::Instant::now();
    let records: Vec<Record> = ledger
        .shard_records(date)?
        .into_iter()
        .filter(|r| r.shard.as_ref().is_some_and(|s| s.count == shard.count))
        .collect();
    let done = records.iter().filter(|r| r.status == Status::Success).count();
    if done < shard.count {
        info!(%date, %shard, done, of = shard.count, "shard done; the last shard to finish commits the date");
        return Ok(None);
    }
    let mut records = records;
    records.sort_by_key(|r| r.shard.as_ref().map_or(0, |s| s.index));
    check_agree(&records, date)?;
    let output = job.output.expand(date);
    let manifest_path = shard::manifest_path(&output);
    let manifest = build(job, date, shard, &records)?;
    let mut monitor = watch(job, date, &records)?;
    if let Some(m) = &mut monitor
        && let Err(e) = crate::monitor::gate(m)
    {
        // Withheld: the parts stay (a forced rerun replaces them), the
        // date is not committed, and its record says why.
        let mut record = date_record(job, date, &records, &manifest, manifest_path);
        record.status = Status::Failed;
        record.shards = None;
        record.monitor = monitor;
        let kind = crate::error::kind_of(&e);
        record.error = Some(crate::ledger::ErrorEntry {
            kind: kind.label().into(),
            exit_code: kind.exit_code(),
            message: crate::storage::redact(&format!("{e:#}")),
        });
        ledger.write(&record)?;
        if let Some(path) = &job.metrics
            && let Err(e) = crate::metrics::write(path, &record)
        {
            warn!("cannot write metrics file {}: {e:#}", path.display());
        }
        return Err(e);
    }
    let mut json =
        serde_json::to_vec_pretty(&manifest).with_kind(Kind::Internal, || "encoding the manifest")?;
    json.push(b'\n');
    let created = write_new(&manifest_path, &json).map_err(|e| e.context("committing the date"))?;
    let how = if created {
        "date committed"
    } else if forced && stale(&manifest_path, &manifest)? {
        // A forced rerun's parts replaced parts the manifest describes:
        // the last forced shard to finish brings it up to date.
        write_atomic(&manifest_path, &json)?;
        "date committed again (forced)"
    } else {
        info!(%date, %shard, manifest = %manifest_path.display(), "the date was committed by another shard");
        if ledger.done(date)?.is_some() {
            return Ok(None);
        }
        // That shard is writing the date's record, or died before it did.
        "wrote the date's record after its committer"
    };
    let mut record = date_record(job, date, &records, &manifest, manifest_path.clone());
    record.monitor = monitor;
    ledger.write(&record)?;
    let seconds = format!("{:.3}", clock.elapsed().as_secs_f64());
    info!(%date, shards = shard.count, rows_scored = record.rows.scored, manifest = %manifest_path.display(), seconds, "{how}");
    Ok(Some(record))
}

/// For jobs with `[monitor]`: the day's profile from its shards', judged as a whole.
fn watch(
    job: &Job,
    date: NaiveDate,
    records: &[Record],
) -> anyhow::Result<Option<crate::monitor::MonitorEntry>> {
    let Some(config) = &job.monitor else { return Ok(None) };
    let entries: Vec<&crate::monitor::MonitorEntry> =
        records.iter().filter_map(|r| r.monitor.as_ref()).collect();
    if entries.len() != records.len() {
        warn!(%date, "some shards ran without [monitor]: the day is not profiled; rerun them with --force to profile it");
        return Ok(None);
    }
    crate::monitor::merge_shards(config, job, date, &entries).map(Some)
}

/// Whether the manifest at `path` describes other parts than `now`.
fn stale(path: &Location, now: &Manifest) -> anyhow::Result<bool> {
    let bytes = match path {
        Location::Local(p) => std::fs::read(p).ok(),
        Location::Object(u) => crate::storage::get(u, crate::storage::Op::Read)?,
    };
    let old: Option<Manifest> = bytes.and_then(|b| serde_json::from_slice(&b).ok());
    Ok(old.is_none_or(|m| m.parts != now.parts))
}

/// The shards must have split the same listing with the same model, and
/// their pieces must tile every file exactly once; else the parts do not
/// add up to the day and must not be committed.
fn check_agree(records: &[Record], date: NaiveDate) -> anyhow::Result<()> {
    let first = &records[0];
    let listing =
        |r: &Record| -> Vec<(Location, u64)> { r.inputs.iter().map(|f| (f.path.clone(), f.bytes)).collect() };
    let sha = |r: &Record| r.model.as_ref().map(|m| m.sha256.clone());
    for r in &records[1..] {
        let i = r.shard.as_ref().map_or(0, |s| s.index);
        if listing(r) != listing(first) {
            return Err(failure(
                Kind::Data,
                format!(
                    "shards of {date} saw different input (shard 0: {} files, shard {i}: {}): a file arrived or changed while they ran; nothing committed: redo the date with --force on every shard",
                    first.inputs.len(),
                    r.inputs.len()
                ),
            ));
        }
        if sha(r) != sha(first) {
            return Err(failure(
                Kind::Data,
                format!(
                    "shards of {date} scored with different models (shard {i}'s sha256 differs from shard 0's); nothing committed: redo the date with --force on every shard"
                ),
            ));
        }
    }
    for (f, entry) in first.inputs.iter().enumerate() {
        let mut ranges: Vec<Option<[u64; 2]>> = records
            .iter()
            .flat_map(|r| r.shard.iter().flat_map(|s| s.ranges.iter()))
            .filter(|p| p.path == entry.path)
            .map(|p| p.rows)
            .collect();
        ranges.sort();
        let tiled = match ranges.as_slice() {
            [None] => true,
            rs if rs.iter().all(Option::is_some) && !rs.is_empty() => {
                let rs: Vec<[u64; 2]> = rs.iter().flatten().copied().collect();
                rs[0][0] == 0 && rs.windows(2).all(|w| w[0][1] == w[1][0])
            }
            _ => false,
        };
        if !tiled {
            return Err(failure(
                Kind::Internal,
                format!(
                    "the shards of {date} did not read input {} (file {f}) exactly once; nothing committed",
                    entry.path.display()
                ),
            ));
        }
    }
    Ok(())
}

fn build(job: &Job, date: NaiveDate, shard: Shard, records: &[Record]) -> anyhow::Result<Manifest> {
    let mut rows = Rows::default();
    let mut parts = Vec::new();
    let mut inputs: Vec<FileEntry> = records[0]
        .inputs
        .iter()
        .map(|f| FileEntry { path: f.path.clone(), bytes: f.bytes, rows: Some(0) })
        .collect();
    for r in records {
        rows.read += r.rows.read;
        rows.scored += r.rows.scored;
        rows.rejected += r.rows.rejected;
        for (sum, f) in inputs.iter_mut().zip(&r.inputs) {
            if let (Some(s), Some(n)) = (sum.rows.as_mut(), f.rows) {
                *s += n;
            }
        }
        let out = r.output.as_ref().ok_or_else(|| {
            failure(
                Kind::Internal,
                format!(
                    "the record of shard {:?} of {date} names no output",
                    r.shard.as_ref().map(|s| s.index)
                ),
            )
        })?;
        parts.push(Part {
            name: out.path.file_name(),
            rows: out.rows.unwrap_or(r.rows.scored),
            bytes: out.bytes,
            read: r.rows.read,
            rejected: r.rows.rejected,
            quarantine: r.quarantine.as_ref().map(|q| q.path.file_name()),
            ranges: r.shard.as_ref().map(|s| s.ranges.clone()).unwrap_or_default(),
            started_at: r.started_at,
        });
    }
    if rows.read != rows.scored + rows.rejected {
        return Err(failure(
            Kind::Internal,
            format!(
                "the shards of {date} do not add up: read {}, scored {}, rejected {}; nothing committed",
                rows.read, rows.scored, rows.rejected
            ),
        ));
    }
    Ok(Manifest {
        committer: "batchscore".into(),
        batchscore_version: env!("CARGO_PKG_VERSION").into(),
        job: job.name.clone(),
        date,
        shards: shard.count,
        committed_at: Utc::now(),
        committed_by: shard.index,
        bytes: parts.iter().map(|p| p.bytes).sum(),
        rows,
        model: records[0].model.clone(),
        inputs,
        parts,
    })
}

/// The date's own record, which `status` and `catchup` read: the shards' sums.
fn date_record(job: &Job, date: NaiveDate, records: &[Record], m: &Manifest, manifest: Location) -> Record {
    let started_at = records.iter().map(|r| r.started_at).min().unwrap_or_else(Utc::now);
    let finished_at = Utc::now();
    let last = &records[records.len() - 1];
    Record {
        record_version: crate::ledger::RECORD_VERSION,
        job: job.name.clone(),
        job_file: last.job_file.clone(),
        date,
        status: Status::Success,
        batchscore_version: env!("CARGO_PKG_VERSION").into(),
        model: m.model.clone(),
        inputs: m.inputs.clone(),
        rows: m.rows.clone(),
        output: Some(FileEntry {
            path: shard::output_dir(&job.output.expand(date)),
            bytes: m.bytes,
            rows: Some(m.rows.scored),
        }),
        quarantine: None,
        started_at,
        finished_at,
        duration_seconds: (finished_at - started_at).num_milliseconds() as f64 / 1000.0,
        forced: records.iter().any(|r| r.forced),
        threads: records.iter().map(|r| r.threads).sum(),
        chunk_rows: last.chunk_rows,
        host: crate::ledger::hostname(),
        pid: std::process::id(),
        peak_memory: None,
        error: None,
        monitor: None,
        shard: None,
        shards: Some(ShardsEntry { count: m.shards, manifest }),
    }
}

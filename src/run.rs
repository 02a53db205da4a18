//! One job, one date: plan → read chunk → score → write → commit → record.

use std::time::Instant;

use chrono::{NaiveDate, Utc};
use polars::prelude::*;
use tracing::{info, warn};

use crate::error::{Kind, failure, kind_of};
use crate::input::{ChunkReader, UnparsableCell};
use crate::job::{Job, Policy};
use crate::ledger::{
    ErrorEntry, FileEntry, InputRange, Ledger, Lock, ModelEntry, Record, Rows, ShardEntry, Status,
};
use crate::monitor::Watch;
use crate::output::{BackgroundWriter, TableWriter, sweep_stale};
use crate::plan::{self, Plan};
use crate::quarantine::{BadRows, Quarantine};
use crate::shard::Shard;
use crate::{score, signals};

pub struct RunOptions {
    pub force: bool,
    pub threads: Option<usize>,
    /// Score only this shard of the date, into a part; commit the date if it is the last.
    pub shard: Option<Shard>,
}

pub struct Outcome {
    pub record: Record,
    /// The date was already done: nothing was read or written.
    pub skipped: bool,
}

/// What a run learned, kept for the record even when it fails half-way.
#[derive(Default)]
struct Progress {
    model: Option<ModelEntry>,
    inputs: Vec<FileEntry>,
    rows: Rows,
    output: Option<FileEntry>,
    quarantine: Option<FileEntry>,
    /// The first rejected row, described, for the message if too many are.
    first_rejected: Option<String>,
    timing: Timing,
    monitor: Option<crate::monitor::MonitorEntry>,
    shard: Option<ShardEntry>,
}

/// Where the time went, for `-v` and for tuning.
#[derive(Default, Debug)]
struct Timing {
    read: f64,
    convert: f64,
    score: f64,
    write: f64,
    /// Profiling for `[monitor]`: the features' profile runs beside the
    /// scoring, so this overlaps `score`.
    monitor: f64,
}

pub fn threads_for(job: &Job, opts: &RunOptions) -> usize {
    opts.threads
        .or(job.threads)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub fn run(job: &Job, date: NaiveDate, opts: &RunOptions) -> anyhow::Result<Outcome> {
    let ledger = Ledger::new(&job.state_dir, &job.name);
    let lock = match opts.shard {
        Some(s) => ledger.lock_shard(date, s)?,
        None => ledger.lock(date)?,
    };
    if !opts.force
        && let Some(done) = ledger.done(date)?
    {
        info!(job = %job.name, %date, rows = done.rows.scored, output = %done.output.as_ref().map(|o| o.path.display().to_string()).unwrap_or_default(),
            "already done; skipping (use --force to redo)");
        return Ok(Outcome { record: done, skipped: true });
    }
    if let Some(shard) = opts.shard {
        crate::commit::prepare(&ledger, job, date, shard, opts.force)?;
        if !opts.force
            && let Some(own) = ledger.shard_done(date, shard)?
        {
            info!(job = %job.name, %date, %shard, "shard already done; skipping (use --force to redo)");
            // The shards that finished after it may have died before committing.
            if let Some(committed) = crate::commit::finish(&ledger, job, date, shard, false)? {
                write_metrics(job, &committed);
            }
            return Ok(Outcome { record: own, skipped: true });
        }
    }
    let threads = threads_for(job, opts);
    let started_at = Utc::now();
    let clock = Instant::now();
    info!(job = %job.name, %date, forced = opts.force, threads, "run started");
    let mut progress = Progress::default();
    let sampler = crate::memory::Sampler::start();
    let result = execute(job, date, threads, opts.shard, &lock, &mut progress);
    let peak_memory = sampler.finish();
    let t = &progress.timing;
    tracing::debug!(
        read = t.read,
        convert = t.convert,
        score = t.score,
        write = t.write,
        monitor = t.monitor,
        "seconds per stage"
    );
    let duration = clock.elapsed().as_secs_f64();
    let record = Record {
        record_version: crate::ledger::RECORD_VERSION,
        job: job.name.clone(),
        job_file: std::path::absolute(&job.path).unwrap_or_else(|_| job.path.clone()),
        date,
        status: if result.is_ok() { Status::Success } else { Status::Failed },
        batchscore_version: env!("CARGO_PKG_VERSION").into(),
        model: progress.model,
        inputs: progress.inputs,
        rows: progress.rows,
        output: progress.output,
        quarantine: progress.quarantine,
        started_at,
        finished_at: Utc::now(),
        duration_seconds: duration,
        forced: opts.force,
        threads,
        chunk_rows: job.chunk_rows,
        host: crate::ledger::hostname(),
        pid: std::process::id(),
        peak_memory,
        error: result.as_ref().err().map(|e| ErrorEntry {
            kind: kind_of(e).label().into(),
            exit_code: kind_of(e).exit_code(),
            message: crate::storage::redact(&format!("{e:#}")),
        }),
        monitor: progress.monitor,
        shard: progress.shard,
        shards: None,
    };
    // The record goes last: a date is done only once it says so.
    // A run that lost its lock leaves the record and metrics to the run
    // that took the date over.
    let held = lock.ensure_held();
    let written = held.and_then(|()| ledger.write(&record));
    // A shard's metrics would overwrite its siblings': the date's go out
    // when it is committed.
    if written.is_ok() && opts.shard.is_none() {
        write_metrics(job, &record);
    }
    result?;
    let path = written?;
    if let Some(shard) = opts.shard
        && let Some(committed) = crate::commit::finish(&ledger, job, date, shard, opts.force)?
    {
        write_metrics(job, &committed);
    }
    info!(job = %job.name, %date, rows_read = record.rows.read, rows_scored = record.rows.scored, rows_rejected = record.rows.rejected,
        seconds = format!("{duration:.3}"),
        peak_rss_mb = record.peak_memory.map(|m| m.rss_bytes >> 20), peak_heap_mb = record.peak_memory.map(|m| m.anon_bytes >> 20), output = %record.output.as_ref().map(|o| o.path.display().to_string()).unwrap_or_default(),
        record = %path.display(), "run finished");
    Ok(Outcome { record, skipped: false })
}

fn write_metrics(job: &Job, record: &Record) {
    if let Some(path) = &job.metrics
        && let Err(e) = crate::metrics::write(path, record)
    {
        warn!("cannot write metrics file {}: {e:#}", path.display());
    }
}

fn execute(
    job: &Job,
    date: NaiveDate,
    threads: usize,
    shard: Option<Shard>,
    lock: &Lock,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let plan = plan::build_shard(job.clone(), date, shard)?;
    progress.shard = shard.map(|s| ShardEntry {
        index: s.index,
        count: s.count,
        ranges: plan
            .pieces
            .iter()
            .map(|p| InputRange {
                path: plan.files[p.file].path.clone(),
                rows: p.rows.clone().map(|r| [r.start, r.end]),
            })
            .collect(),
    });
    progress.model = Some(ModelEntry {
        path: plan.model.info.path.clone(),
        sha256: plan.model.info.sha256.clone(),
        bytes: plan.model.info.bytes,
    });
    progress.inputs =
        plan.files.iter().map(|f| FileEntry { path: f.path.clone(), bytes: f.bytes, rows: None }).collect();
    sweep_stale(&plan.output_path);
    match score_all(&plan, threads, false, lock, progress) {
        // A typed CSV read stops at the first cell it cannot parse, without
        // saying which row; read the text and convert it ourselves to find out.
        Err(e) if e.chain().any(|c| c.is::<UnparsableCell>()) => {
            let first_line = format!("{e:#}").lines().next().unwrap_or_default().to_owned();
            warn!("{first_line}; reading the input again as text to find each bad row");
            progress.rows = Rows::default();
            progress.quarantine = None;
            progress.first_rejected = None;
            progress.monitor = None;
            score_all(&plan, threads, true, lock, progress)
        }
        other => other,
    }
}

/// Adds a chunk's columns to the run's profile; the seconds it took.
fn profile(watch: &mut Option<Watch>, chunk: Option<crate::monitor::Chunk>) -> anyhow::Result<f64> {
    let t = Instant::now();
    if let (Some(w), Some(chunk)) = (watch, chunk) {
        w.add(chunk)?;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Reads, checks, scores and writes every chunk of the day, then commits
/// the quarantine and the output if the rows add up and the rejects are
/// within the limit.
fn score_all(
    plan: &Plan,
    threads: usize,
    as_text: bool,
    lock: &Lock,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let read = plan.read_spec(as_text);
    let bad = &plan.job.bad_rows;
    let mut watch = Watch::start(plan, threads)?;
    let mut quarantine = Quarantine::open(&plan.quarantine_path);
    let mut writer = BackgroundWriter::spawn(TableWriter::create(
        &plan.output_path,
        plan.job.output_format,
        &plan.output_schema,
    )?)?;
    // A chunk's scores are profiled beside the next chunk's scoring.
    let mut scores_to_profile: Option<crate::monitor::Chunk> = None;
    for piece in &plan.pieces {
        let (ix, file) = (piece.file, &plan.files[piece.file]);
        let mut file_rows = 0u64;
        let mut reader = ChunkReader::open(file, &read, plan.job.chunk_rows, piece.rows.clone(), threads)?;
        loop {
            let t = Instant::now();
            let Some(chunk) = reader.next() else { break };
            progress.timing.read += t.elapsed().as_secs_f64();
            signals::check()?;
            let chunk = chunk?;
            let t = Instant::now();
            let n = chunk.df.height() as u64;
            progress.rows.read += n;
            file_rows += n;
            let mut problems = Vec::new();
            let converted = plan.convert(file, &chunk, &mut problems)?;
            // Taken before rejected rows go: a null is what monitoring wants to see.
            let to_profile = watch.as_ref().map(|w| w.features(&chunk.df, &converted));
            let bad_rows = BadRows::new(&problems);
            let (df, converted) = if bad_rows.is_empty() {
                (chunk.df, converted)
            } else {
                let first = bad_rows.first(&file.path, chunk.first_row);
                if bad.policy == Policy::Fail {
                    return Err(failure(Kind::Data, first.unwrap_or_default()));
                }
                if progress.first_rejected.is_none() {
                    progress.first_rejected = first;
                }
                quarantine.write(&plan.read.columns, &chunk.df, file, chunk.first_row, &bad_rows)?;
                progress.rows.rejected += bad_rows.len() as u64;
                let converted = bad_rows.keep_rows(&converted, chunk.df.height())?;
                (chunk.df.filter(&bad_rows.keep_mask(chunk.df.height()))?, converted)
            };
            progress.timing.convert += t.elapsed().as_secs_f64();
            if df.height() == 0 {
                progress.timing.monitor += profile(&mut watch, to_profile)?;
                continue;
            }
            let t = Instant::now();
            // The features' profile (and the previous chunk's scores') is
            // built beside the scoring, on the same threads: it fills the
            // gaps in the scoring's parallelism rather than adding a stage.
            let (scored, profiled) = score::pool(threads).install(|| {
                rayon::join(
                    || score::score(&plan.model, &plan.feeds, &converted, &plan.outs, threads),
                    || {
                        anyhow::Ok(
                            profile(&mut watch, to_profile)? + profile(&mut watch, scores_to_profile.take())?,
                        )
                    },
                )
            });
            progress.timing.monitor += profiled?;
            let scored = scored.map_err(|e| {
                failure(
                    Kind::Model,
                    format!(
                        "model {} failed on {} rows {}..{}: {e:#}",
                        plan.model.info.path.display(),
                        file.path.display(),
                        chunk.first_row + 1,
                        chunk.first_row + n
                    ),
                )
            })?;
            progress.timing.score += t.elapsed().as_secs_f64();
            scores_to_profile = watch.as_ref().map(|w| w.scores(&scored));
            let t = Instant::now();
            let mut frame = output_frame(plan, &df, scored)?;
            if let Some(n) = crate::faults::drop_rows().filter(|_| progress.rows.scored == 0) {
                frame = frame.head(Some(frame.height().saturating_sub(n as usize)));
            }
            writer.write(frame)?;
            progress.timing.write += t.elapsed().as_secs_f64();
            progress.rows.scored += df.height() as u64;
        }
        if file_rows == 0 && piece.rows.is_none() {
            warn!(file = %file.path.display(), "input has a header but no rows");
        }
        if let Some(entry) = progress.inputs.get_mut(ix) {
            entry.rows = Some(entry.rows.unwrap_or(0) + file_rows);
        }
    }
    progress.timing.monitor += profile(&mut watch, scores_to_profile)?;
    let (file, written) = writer.finish()?;
    let quarantined = quarantine.finish()?;
    let rows = progress.rows.clone();
    if rows.read != rows.scored + rows.rejected
        || written != rows.scored
        || quarantined.rows() != rows.rejected
    {
        return Err(failure(
            Kind::Internal,
            format!(
                "row accounting does not add up: read {}, scored {}, rejected {}, written {written}, quarantined {}; output not committed",
                rows.read,
                rows.scored,
                rows.rejected,
                quarantined.rows()
            ),
        ));
    }
    progress.monitor = watch.map(|w| w.finish(plan)).transpose()?;
    // The quarantine is committed even when the run fails on it: it is what
    // tells the user why.
    progress.quarantine = quarantined.commit()?;
    if let Some(q) = &progress.quarantine {
        warn!(rejected = rows.rejected, quarantine = %q.path.display(), "rows rejected; see the quarantine file");
    }
    if !bad.max_rejected.allows(rows.rejected, rows.read) {
        return Err(failure(
            Kind::Data,
            format!(
                "{} of {} rows rejected, more than bad_rows.max_rejected ({}); no output written; the first: {}; all of them: {}",
                rows.rejected,
                rows.read,
                bad.max_rejected,
                progress.first_rejected.as_deref().unwrap_or("?"),
                plan.quarantine_path.display()
            ),
        ));
    }
    // A shard's rows are a slice of the day: the day's profile, merged
    // when the date is committed, is what the gate judges.
    if let Some(m) = &mut progress.monitor
        && plan.shard.is_none()
    {
        crate::monitor::gate(m)?;
    }
    let path = file.path().clone();
    // A lock in a bucket can be lost (cut off from the store past its
    // lease, another run took over): then this run must not commit.
    lock.ensure_held()?;
    let bytes = file.commit()?;
    progress.output = Some(FileEntry { path, bytes, rows: Some(written) });
    Ok(())
}

/// Keep columns (cast to the output schema) followed by the score columns.
fn output_frame(plan: &Plan, input: &DataFrame, scored: Vec<Column>) -> anyhow::Result<DataFrame> {
    let mut cols = Vec::with_capacity(plan.job.keep.len() + scored.len());
    for name in &plan.job.keep {
        let c = input.column(name)?;
        let want = plan.output_schema.get(name).cloned().unwrap_or(DataType::String);
        cols.push(if c.dtype() == &want { c.clone() } else { c.cast(&want)? });
    }
    cols.extend(scored);
    Ok(DataFrame::new(input.height(), cols)?)
}

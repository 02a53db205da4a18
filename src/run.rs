//! One job, one date: plan → read chunk → score → write → commit → record.

use std::time::Instant;

use chrono::{NaiveDate, Utc};
use polars::prelude::*;
use tracing::{info, warn};

use crate::error::{Kind, failure, kind_of};
use crate::features::{self, NanRule};
use crate::input::ChunkReader;
use crate::job::{Format, Job};
use crate::ledger::{ErrorEntry, FileEntry, Ledger, ModelEntry, Record, Rows, Status};
use crate::output::{TableWriter, sweep_stale};
use crate::plan::{self, Plan};
use crate::score;

pub struct RunOptions {
    pub force: bool,
    pub threads: Option<usize>,
}

pub enum Outcome {
    Scored(Record),
    AlreadyDone(Record),
}

/// What a run learned, kept for the record even when it fails half-way.
#[derive(Default)]
struct Progress {
    model: Option<ModelEntry>,
    inputs: Vec<FileEntry>,
    rows: Rows,
    output: Option<FileEntry>,
}

pub fn threads_for(job: &Job, opts: &RunOptions) -> usize {
    opts.threads
        .or(job.threads)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub fn run(job: &Job, date: NaiveDate, opts: &RunOptions) -> anyhow::Result<Outcome> {
    let ledger = Ledger::new(&job.state_dir, &job.name);
    let _lock = ledger.lock(date)?;
    if !opts.force
        && let Some(done) = ledger.done(date)?
    {
        info!(job = %job.name, %date, rows = done.rows.scored, output = %done.output.as_ref().map(|o| o.path.display().to_string()).unwrap_or_default(),
            "already done; skipping (use --force to redo)");
        return Ok(Outcome::AlreadyDone(done));
    }
    let threads = threads_for(job, opts);
    let started_at = Utc::now();
    let clock = Instant::now();
    info!(job = %job.name, %date, forced = opts.force, threads, "run started");
    let mut progress = Progress::default();
    let result = execute(job, date, threads, &mut progress);
    let duration = clock.elapsed().as_secs_f64();
    let record = Record {
        record_version: crate::ledger::RECORD_VERSION,
        job: job.name.clone(),
        job_file: std::path::absolute(&job.path).unwrap_or_else(|_| job.path.clone()),
        date,
        status: if result.is_ok() {
            Status::Success
        } else {
            Status::Failed
        },
        batchscore_version: env!("CARGO_PKG_VERSION").into(),
        model: progress.model,
        inputs: progress.inputs,
        rows: progress.rows,
        output: progress.output,
        quarantine: None,
        started_at,
        finished_at: Utc::now(),
        duration_seconds: duration,
        forced: opts.force,
        threads,
        chunk_rows: job.chunk_rows,
        host: crate::ledger::hostname(),
        pid: std::process::id(),
        error: result.as_ref().err().map(|e| ErrorEntry {
            kind: kind_of(e).label().into(),
            exit_code: kind_of(e).exit_code(),
            message: format!("{e:#}"),
        }),
    };
    // The record goes last: a date is done only once it says so.
    let written = ledger.write(&record);
    result?;
    let path = written?;
    info!(job = %job.name, %date, rows_read = record.rows.read, rows_scored = record.rows.scored, rows_rejected = record.rows.rejected,
        seconds = format!("{duration:.3}"), output = %record.output.as_ref().map(|o| o.path.display().to_string()).unwrap_or_default(),
        record = %path.display(), "run finished");
    Ok(Outcome::Scored(record))
}

fn execute(
    job: &Job,
    date: NaiveDate,
    threads: usize,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let plan = plan::build(job.clone(), date)?;
    progress.model = Some(ModelEntry {
        path: plan.model.info.path.clone(),
        sha256: plan.model.info.sha256.clone(),
        bytes: plan.model.info.bytes,
    });
    progress.inputs = plan
        .files
        .iter()
        .map(|f| FileEntry {
            path: f.path.clone(),
            bytes: f.bytes,
            rows: None,
        })
        .collect();
    sweep_stale(&plan.output_path);
    match score_all(&plan, threads, false, progress) {
        // A typed CSV read stops at the first cell it cannot parse, without
        // saying which row; read the text and convert it ourselves to find out.
        Err(e)
            if kind_of(&e) == Kind::Data
                && plan.files.iter().any(|f| f.format == Format::Csv)
                && is_parse_error(&e) =>
        {
            warn!("{e:#}; reading again as text to find the row");
            progress.rows = Rows::default();
            score_all(&plan, threads, true, progress)
        }
        other => other,
    }
}

fn is_parse_error(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("could not parse") || text.contains("parse")
}

fn score_all(
    plan: &Plan,
    threads: usize,
    as_text: bool,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let mut read = plan.read.clone();
    if as_text {
        read.csv_dtypes = vec![DataType::String; read.columns.len()];
    }
    let mut writer = TableWriter::create(
        &plan.output_path,
        plan.job.output_format,
        &plan.output_schema,
    )?;
    for (ix, file) in plan.files.iter().enumerate() {
        let mut file_rows = 0u64;
        for chunk in ChunkReader::open(ix, file, &read, plan.job.chunk_rows)? {
            let chunk = chunk?;
            let n = chunk.df.height() as u64;
            progress.rows.read += n;
            file_rows += n;
            let mut problems = Vec::new();
            let converted =
                features::convert(&chunk.df, &plan.feeds, NanRule::Reject, &mut problems).map_err(
                    |e| {
                        failure(
                            Kind::Data,
                            format!(
                                "{}: rows {}..: {e:#}",
                                file.path.display(),
                                chunk.first_row + 1
                            ),
                        )
                    },
                )?;
            if let Some(p) = problems.iter().min_by_key(|p| p.row) {
                let value = p
                    .value
                    .as_deref()
                    .map_or("null".to_owned(), |v| format!("{v:?}"));
                return Err(failure(
                    Kind::Data,
                    format!(
                        "{}: row {}, column {:?}: {value}: {}",
                        file.path.display(),
                        chunk.first_row + p.row as u64 + 1,
                        p.column,
                        p.reason
                    ),
                ));
            }
            let mut out = if chunk.df.height() == 0 {
                continue;
            } else {
                let scored =
                    score::score(&plan.model, &plan.feeds, &converted, &plan.outs, threads)
                        .map_err(|e| {
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
                output_frame(plan, &chunk.df, scored)?
            };
            writer.write(&mut out)?;
            progress.rows.scored += n;
        }
        if file_rows == 0 {
            warn!(file = %file.path.display(), "input has a header but no rows");
        }
        if let Some(entry) = progress.inputs.get_mut(ix) {
            entry.rows = Some(file_rows);
        }
    }
    let (file, written) = writer.finish()?;
    let rows = &progress.rows;
    if rows.read != rows.scored + rows.rejected || written != rows.scored {
        return Err(failure(
            Kind::Internal,
            format!(
                "row accounting does not add up: read {} ≠ scored {} + rejected {} (written {written}); output not committed",
                rows.read, rows.scored, rows.rejected
            ),
        ));
    }
    let path = file.path().to_owned();
    file.commit()?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    progress.output = Some(FileEntry {
        path,
        bytes,
        rows: Some(written),
    });
    Ok(())
}

/// Keep columns (cast to the output schema) followed by the score columns.
fn output_frame(plan: &Plan, input: &DataFrame, scored: Vec<Column>) -> anyhow::Result<DataFrame> {
    let mut cols = Vec::with_capacity(plan.job.keep.len() + scored.len());
    for name in &plan.job.keep {
        let c = input.column(name)?;
        let want = plan
            .output_schema
            .get(name)
            .cloned()
            .unwrap_or(DataType::String);
        cols.push(if c.dtype() == &want {
            c.clone()
        } else {
            c.cast(&want)?
        });
    }
    cols.extend(scored);
    Ok(DataFrame::new(input.height(), cols)?)
}

//! `batchscore profile JOB --from D --to D` (or `--input FILE`): a reference
//! for `[monitor]`, from known-good days or a file such as the training set.
//!
//! Two passes over the data, both scored, because exact reference bins need
//! the edges before the counts: the first samples each numeric column (for
//! its deciles) and counts each categorical one's values, the second is the
//! same profile a run makes, on those edges. It writes no scores.

use std::path::Path;

use polars::prelude::*;
use tracing::{info, warn};

use crate::cli::ProfileArgs;
use crate::error::{Kind, failure, kind_of};
use crate::input::{ChunkReader, UnparsableCell};
use crate::job::Job;
use crate::monitor::profile::{Profile, Sampler};
use crate::monitor::{Binding, add_all};
use crate::plan::{self, Plan};
use crate::quarantine::BadRows;
use crate::template::Template;
use crate::{clock, score, signals};

pub fn profile(job: &Job, args: &ProfileArgs) -> anyhow::Result<u8> {
    let out = match (&args.out, &job.monitor) {
        (Some(o), _) => std::path::absolute(o).unwrap_or_else(|_| o.clone()),
        (None, Some(m)) => m.reference.clone(),
        (None, None) => {
            return Err(failure(
                crate::error::Kind::Usage,
                "where should the reference go? give --out FILE, or set [monitor] reference in the job file",
            ));
        }
    };
    let threads = args.threads.map_or_else(|| crate::run::threads_for(job, &no_opts()), |n| n.get());
    let plans = plans(job, args)?;
    let columns = Binding::columns(&plans[0]);

    let mut sampler = Sampler::new(&columns);
    for plan in &plans {
        let (binding, _, _) = Binding::new(plan, &columns);
        each_day(plan, threads, &mut sampler, &|sampler, raw, converted, scored| {
            let series = match scored {
                None => binding.features(raw, converted),
                Some(s) => binding.scores(s),
            };
            for (i, s) in series.iter().enumerate() {
                if let Some(s) = s {
                    sampler.add(i, s)?;
                }
            }
            Ok(())
        })?;
    }
    let spec = sampler.finish(&job.name);
    // Each day is profiled as a run would profile it, and the days merged.
    let mut reference = Profile::empty_like(&spec, &job.name, vec![]);
    for plan in &plans {
        let (binding, _, _) = Binding::new(plan, &columns);
        let mut day = Profile::empty_like(&spec, &job.name, vec![]);
        each_day(plan, threads, &mut day, &|day, raw, converted, scored| {
            let series = match scored {
                None => {
                    day.rows += raw.height() as u64;
                    binding.features(raw, converted)
                }
                Some(s) => binding.scores(s),
            };
            add_all(day, &series, threads)
        })?;
        reference.merge(&day)?;
    }
    match &args.input {
        Some(file) => reference.input = Some(std::path::absolute(file).unwrap_or_else(|_| file.clone())),
        None => reference.dates = plans.iter().map(|p| p.date).collect(),
    }
    reference.save(&crate::storage::Location::Local(out.clone()))?;
    info!(rows = reference.rows, columns = reference.columns.len(), reference = %out.display(), "reference written");
    super::print(&format!("{}\n", out.display()))?;
    Ok(0)
}

fn no_opts() -> crate::run::RunOptions {
    crate::run::RunOptions { force: false, threads: None, shard: None }
}

/// One plan per date with input (dates without any are skipped, with a
/// warning), or one for `--input`.
fn plans(job: &Job, args: &ProfileArgs) -> anyhow::Result<Vec<Plan>> {
    let mut job = job.clone();
    // Only features and scores are profiled: keep columns need not be in the file.
    job.keep.clear();
    job.monitor = None;
    if let Some(file) = &args.input {
        let file = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        let raw = file.to_string_lossy().replace('%', "%%");
        job.input = Template::new("--input", &raw, Path::new("/"))?;
        job.input_format = None;
        let date = args.to.or(args.from).map_or_else(|| clock::now().map(|n| job.date_at(n)), Ok)?;
        return Ok(vec![plan::build(job, date)?]);
    }
    let (Some(from), Some(to)) = (args.from, args.to) else {
        return Err(failure(Kind::Usage, "give --from D --to D (known-good days), or --input FILE"));
    };
    if from > to {
        return Err(failure(Kind::Usage, format!("--from {from} is after --to {to}")));
    }
    let mut plans = Vec::new();
    for date in from.iter_days().take_while(|d| *d <= to) {
        match plan::build(job.clone(), date) {
            Ok(p) => plans.push(p),
            Err(e) if kind_of(&e) == Kind::NoInput => {
                warn!(%date, "no input; left out of the reference: {e:#}")
            }
            Err(e) => return Err(e),
        }
    }
    if plans.is_empty() {
        return Err(failure(Kind::NoInput, format!("no input for any date from {from} to {to}")));
    }
    Ok(plans)
}

type Add<'a, S> = dyn Fn(&mut S, &DataFrame, &[Vec<Series>], Option<&[Column]>) -> anyhow::Result<()> + 'a;

/// One day into `state`, read as a run reads it (typed, so the values are
/// the very ones a run profiles); a CSV cell that does not parse sends the
/// day back to the start, read as text, as a run does.
fn each_day<S: Clone>(plan: &Plan, threads: usize, state: &mut S, add: &Add<'_, S>) -> anyhow::Result<()> {
    let mut trial = state.clone();
    match each_chunk(plan, threads, false, &mut |r, c, s| add(&mut trial, r, c, s)) {
        Ok(()) => {
            *state = trial;
            Ok(())
        }
        Err(e) if e.chain().any(|c| c.is::<UnparsableCell>()) => {
            warn!(date = %plan.date, "a cell does not parse; reading the day again as text");
            each_chunk(plan, threads, true, &mut |r, c, s| add(state, r, c, s))
        }
        Err(e) => Err(e),
    }
}

type Visit<'a> = dyn FnMut(&DataFrame, &[Vec<Series>], Option<&[Column]>) -> anyhow::Result<()> + 'a;

/// Reads and scores every chunk of a plan's files, calling `visit` with the
/// chunk as read and converted (every row), then with its scores (the rows
/// without a bad value), as a run would.
fn each_chunk(plan: &Plan, threads: usize, as_text: bool, visit: &mut Visit<'_>) -> anyhow::Result<()> {
    let read = plan.read_spec(as_text);
    for file in &plan.files {
        info!(date = %plan.date, file = %file.path.display(), "profiling");
        for chunk in ChunkReader::open(file, &read, plan.job.chunk_rows, None, threads)? {
            signals::check()?;
            let chunk = chunk?;
            let mut problems = Vec::new();
            let converted = plan.convert(file, &chunk, &mut problems)?;
            visit(&chunk.df, &converted, None)?;
            let bad_rows = BadRows::new(&problems);
            let good = if bad_rows.is_empty() {
                converted
            } else {
                bad_rows.keep_rows(&converted, chunk.df.height())?
            };
            if good.first().and_then(|c| c.first()).is_none_or(|s| s.is_empty()) {
                continue;
            }
            let scored = score::score(&plan.model, &plan.feeds, &good, &plan.outs, threads).map_err(|e| {
                failure(Kind::Model, format!("model failed on {}: {e:#}", file.path.display()))
            })?;
            visit(&chunk.df, &good, Some(&scored))?;
        }
    }
    Ok(())
}

//! `batchscore backfill` (a range of dates, by hand) and `batchscore
//! catchup` (every scheduled date since the last success, what the nightly
//! entry calls): many dates, run a few at a time, and a summary table.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use tracing::{info, warn};

use crate::cli::{BackfillArgs, CatchupArgs, ManyArgs};
use crate::error::{Kind, failure, kind_of};
use crate::job::Job;
use crate::ledger::Ledger;
use crate::run::{self, RunOptions};
use crate::schedule::Schedule;
use crate::{clock, signals};

pub fn backfill(job: &Job, args: &BackfillArgs) -> anyhow::Result<u8> {
    let dates = backfill_dates(job, args.from, args.to, args.every_day)?;
    many(job, &dates, &args.many)
}

pub fn catchup(job: &Job, args: &CatchupArgs) -> anyhow::Result<u8> {
    let dates = catchup_dates(job, args.since, clock::now()?)?;
    if dates.is_empty() {
        info!(job = %job.name, "nothing to catch up: every scheduled date is done");
        return Ok(0);
    }
    info!(job = %job.name, dates = dates.len(), first = %dates[0], "catching up");
    many(job, &dates, &args.many)
}

fn many(job: &Job, dates: &[NaiveDate], args: &ManyArgs) -> anyhow::Result<u8> {
    let opts = ManyOptions {
        shard: args.shard.resolve()?,
        force: args.force,
        jobs: args.jobs.get(),
        keep_going: args.keep_going,
        threads: args.threads.map(|n| n.get()),
    };
    let results = run_many(job, dates, &opts);
    let (table, code) = summary(dates, &results);
    super::print(&table)?;
    signals::check()?;
    Ok(code)
}

struct ManyOptions {
    shard: Option<crate::shard::Shard>,
    force: bool,
    /// Dates run at once.
    jobs: usize,
    keep_going: bool,
    threads: Option<usize>,
}

/// What happened to one date.
struct DateResult {
    date: NaiveDate,
    outcome: Result<(bool, u64, u64, f64), (u8, String)>,
}

/// The dates of `from..=to` the schedule selects (all of them with `every_day`
/// or when the job has no schedule). A date is selected when the schedule
/// fires on the day that scores it (the date plus the job's run_date offset).
fn backfill_dates(
    job: &Job,
    from: NaiveDate,
    to: NaiveDate,
    every_day: bool,
) -> anyhow::Result<Vec<NaiveDate>> {
    if from > to {
        return Err(failure(Kind::Usage, format!("--from {from} is after --to {to}")));
    }
    Ok(from
        .iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| every_day || job.schedule.as_ref().is_none_or(|s| s.fires_on(job.run_date.fires_for(*d))))
        .collect())
}

/// Every date a scheduled run should have scored since `since` (default:
/// the day after the last success; with no success at all, only the latest
/// due date), up to `now`, that has no successful record yet.
fn catchup_dates(job: &Job, since: Option<NaiveDate>, now: DateTime<Utc>) -> anyhow::Result<Vec<NaiveDate>> {
    let ledger = Ledger::new(&job.state_dir, &job.name);
    let latest_due = job.date_at(now);
    let since = match since {
        Some(d) => d,
        None => match ledger.last_success()? {
            Some(d) => d.succ_opt().unwrap_or(d),
            None => latest_due,
        },
    };
    let daily;
    let schedule = match &job.schedule {
        Some(s) => s,
        None => {
            daily = Schedule::parse("0 0 * * *")?;
            &daily
        }
    };
    let tz = job.timezone;
    let first_fire_day = job.run_date.fires_for(since);
    let start = tz
        .from_local_datetime(&first_fire_day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .unwrap_or_else(|| now.with_timezone(&tz))
        - chrono::Duration::minutes(1);
    let now_local = now.with_timezone(&tz);
    let mut dates: Vec<NaiveDate> = Vec::new();
    for fire in schedule.upcoming(start).take_while(|t| *t <= now_local) {
        let date = job.run_date.scored_on(fire.date_naive());
        if date >= since && dates.last() != Some(&date) {
            dates.push(date);
        }
    }
    let mut due = Vec::new();
    for d in dates {
        if ledger.done(d)?.is_none() {
            due.push(d);
        }
    }
    Ok(due)
}

/// Runs `dates` (oldest first), `opts.jobs` at a time, sharing the cores
/// between them; a progress bar on a terminal, log lines otherwise.
fn run_many(job: &Job, dates: &[NaiveDate], opts: &ManyOptions) -> Vec<DateResult> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = opts.jobs.clamp(1, dates.len().max(1));
    // Don't oversubscribe: each concurrent date gets its share of the cores.
    let threads = opts.threads.unwrap_or_else(|| (cores / jobs).max(1));
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(dates.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} dates {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results = Mutex::new(Vec::with_capacity(dates.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    if stop.load(Ordering::Relaxed) || signals::check().is_err() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&date) = dates.get(i) else { break };
                    let started = std::time::Instant::now();
                    let r = run::run(
                        job,
                        date,
                        &RunOptions { force: opts.force, threads: Some(threads), shard: opts.shard },
                    );
                    let secs = started.elapsed().as_secs_f64();
                    let outcome = match r {
                        Ok(o) => Ok((o.skipped, o.record.rows.scored, o.record.rows.rejected, secs)),
                        Err(e) => {
                            let k = kind_of(&e);
                            warn!(job = %job.name, %date, exit_code = k.exit_code(), "{e:#}");
                            if !opts.keep_going {
                                stop.store(true, Ordering::Relaxed);
                            }
                            Err((k.exit_code(), format!("{e:#}")))
                        }
                    };
                    if let Some(b) = &bar {
                        b.inc(1);
                        b.set_message(date.to_string());
                    }
                    if let Ok(mut v) = results.lock() {
                        v.push(DateResult { date, outcome });
                    }
                }
            });
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|r| r.date);
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    let not_run = dates.len() - results.len();
    info!(job = %job.name, dates = dates.len(), failed, not_run, "all dates done");
    results
}

/// The summary table, and the exit code: the first failed date's, else 0.
fn summary(dates: &[NaiveDate], results: &[DateResult]) -> (String, u8) {
    let mut s = String::new();
    let _ =
        writeln!(s, "{:<10}  {:<8}  {:>10}  {:>8}  {:>8}", "date", "status", "rows", "rejected", "seconds");
    let mut code = 0;
    for d in dates {
        match results.iter().find(|r| r.date == *d).map(|r| &r.outcome) {
            Some(Ok((true, rows, rej, secs))) => {
                let _ = writeln!(s, "{d}  {:<8}  {rows:>10}  {rej:>8}  {secs:>8.2}", "done");
            }
            Some(Ok((false, rows, rej, secs))) => {
                let _ = writeln!(s, "{d}  {:<8}  {rows:>10}  {rej:>8}  {secs:>8.2}", "ok");
            }
            Some(Err((c, msg))) => {
                if code == 0 {
                    code = *c;
                }
                let _ = writeln!(
                    s,
                    "{d}  {:<8}  {}",
                    format!("FAILED {c}"),
                    msg.lines().next().unwrap_or_default()
                );
            }
            None => {
                let _ = writeln!(s, "{d}  {:<8}", "not run");
            }
        }
    }
    (s, code)
}

//! Command dispatch: parse the command line, run the command, return its exit code.

use std::io::Write;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{Kind, ResultExt, failure, kind_of};
use crate::job::Job;
use crate::{backfill, check, clock, inspect, logging, run, signals, status};

pub fn run() -> anyhow::Result<u8> {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() { Kind::Usage.exit_code() } else { 0 });
        }
    };
    // The job is read before logging starts, so its log_file can take the logs.
    let job_path = match &cli.command {
        Command::Run(a) => Some(&a.target.job),
        Command::Check(a) => Some(&a.job),
        Command::Next { job, .. } | Command::Status { job, .. } => Some(job),
        Command::Backfill(a) => Some(&a.job),
        Command::Catchup(a) => Some(&a.job),
        Command::Inspect { .. } => None,
    };
    let job = job_path.map(|p| Job::load(p));
    let log_file = job.as_ref().and_then(|j| j.as_ref().ok()).and_then(|j| j.log_file.clone());
    let _log_guard = logging::init(cli.log_format, cli.verbose, cli.quiet, log_file.as_deref());
    signals::install().with_kind(Kind::Internal, || "installing signal handlers")?;
    let job = || -> anyhow::Result<Job> {
        match &job {
            Some(Ok(j)) => Ok(j.clone()),
            Some(Err(e)) => Err(failure(kind_of(e), format!("{e:#}"))),
            None => Err(failure(Kind::Internal, "no job file")),
        }
    };
    match cli.command {
        Command::Run(args) => {
            let job = job()?;
            let date = match args.target.date {
                Some(d) => d,
                None => {
                    clock::default_date(&job, clock::now().with_kind(Kind::Usage, || "reading the clock")?)
                }
            };
            let opts = run::RunOptions { force: args.force, threads: args.threads.map(|n| n.get()) };
            let outcome = run::run(&job, date, &opts)?;
            // stdout carries the result, for scripts: the output's path.
            if let Some(out) = &outcome.record.output {
                print(&format!("{}\n", out.path.display()))?;
            }
        }
        Command::Check(args) => {
            let job = job()?;
            let date = match args.date {
                Some(d) => d,
                None => {
                    clock::default_date(&job, clock::now().with_kind(Kind::Usage, || "reading the clock")?)
                }
            };
            print(&check::check(job, date)?)?;
        }
        Command::Inspect { model } => print(&inspect::inspect(&model)?)?,
        Command::Next { count, .. } => print(&next(&job()?, count)?)?,
        Command::Status { last, .. } => print(&status::status(&job()?, last)?)?,
        Command::Backfill(args) => {
            let job = job()?;
            let dates = backfill::backfill_dates(&job, args.from, args.to, args.every_day)?;
            return many(&job, &dates, &args.many);
        }
        Command::Catchup(args) => {
            let job = job()?;
            let now = clock::now().with_kind(Kind::Usage, || "reading the clock")?;
            let dates = backfill::catchup_dates(&job, args.since, now)?;
            if dates.is_empty() {
                tracing::info!(job = %job.name, "nothing to catch up: every scheduled date is done");
                return Ok(0);
            }
            tracing::info!(job = %job.name, dates = dates.len(), first = %dates[0], "catching up");
            return many(&job, &dates, &args.many);
        }
    }
    Ok(0)
}

fn many(job: &Job, dates: &[chrono::NaiveDate], args: &crate::cli::ManyArgs) -> anyhow::Result<u8> {
    let opts = backfill::ManyOptions {
        force: args.force,
        jobs: args.jobs.get(),
        keep_going: args.keep_going,
        threads: args.threads.map(|n| n.get()),
    };
    let results = backfill::run_many(job, dates, &opts);
    let (table, code) = backfill::summary(dates, &results);
    print(&table)?;
    signals::check()?;
    Ok(code)
}

/// `next`: upcoming fire times and the date each scores.
fn next(job: &Job, count: usize) -> anyhow::Result<String> {
    let Some(schedule) = &job.schedule else {
        return Err(failure(Kind::Config, format!("job {} has no schedule", job.name)));
    };
    let now = clock::now().with_kind(Kind::Usage, || "reading the clock")?.with_timezone(&job.timezone);
    let mut s = format!("schedule {:?} in {}", schedule.expr(), job.timezone);
    if let Some((h, m)) = schedule.daily_time() {
        s.push_str(&format!(" (daily at {h:02}:{m:02})"));
    }
    s.push('\n');
    for t in schedule.upcoming(now).take(count) {
        let date = t
            .date_naive()
            .checked_sub_days(chrono::Days::new(u64::from(job.run_date.days_back)))
            .unwrap_or(t.date_naive());
        s.push_str(&format!("{}  scores {date}\n", t.format("%Y-%m-%d %a %H:%M %Z")));
    }
    Ok(s)
}

fn print(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a non-zero exit.
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.with_kind(Kind::Io, || "writing to stdout"),
    }
}

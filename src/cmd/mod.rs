//! The commands, one file each. This module parses the command line, loads
//! the job, starts logging, runs one command and returns its exit code;
//! `main` turns an error into its message and code.

mod backfill;
mod check;
mod inspect;
mod next;
mod profile;
mod report;
mod run;
mod status;

use std::io::Write;

use clap::Parser;

use crate::cli::{Cli, Command, LogFormat};
use crate::error::{Kind, LAST_PANIC, ResultExt, failure, kind_of};
use crate::job::Job;
use crate::{logging, signals};

/// Runs the command line and returns the process's exit code. A failure
/// prints one message, whole, with its kind and code; a panic (a bug, or a
/// library choking on input the readers did not catch) is an internal
/// error with one line, not a stack of frames.
pub fn main() -> u8 {
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        tracing::debug!("panic: {msg}");
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(msg);
        }
    }));
    match std::panic::catch_unwind(run) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            let kind = kind_of(&err);
            // polars' and object_store's messages may quote a URL whole.
            let err = anyhow::anyhow!("{}", crate::storage::redact(&format!("{err:#}")));
            match logging::format() {
                LogFormat::Json => {
                    tracing::error!(kind = kind.label(), exit_code = kind.exit_code(), "{err:#}")
                }
                LogFormat::Human => {
                    eprintln!("error: {err:#}\n({}, exit code {})", kind.label(), kind.exit_code())
                }
            }
            kind.exit_code()
        }
        Err(_) => {
            let msg = LAST_PANIC.lock().ok().and_then(|m| m.clone()).unwrap_or_default();
            eprintln!(
                "error: internal error, please report it: {msg}\n({}, exit code {})",
                Kind::Internal.label(),
                Kind::Internal.exit_code()
            );
            Kind::Internal.exit_code()
        }
    }
}

fn run() -> anyhow::Result<u8> {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() { Kind::Usage.exit_code() } else { 0 });
        }
    };
    // The job is read before logging starts, so its log_file can take the
    // logs, and a bad job file is reported through that log too.
    let job = cli.command.job_file().map(Job::load);
    let log_file = job.as_ref().and_then(|j| j.as_ref().ok()).and_then(|j| j.log_file.clone());
    let _log_guard = logging::init(cli.log_format, cli.verbose, cli.quiet, log_file.as_deref());
    if let Some(Ok(j)) = &job {
        crate::storage::configure(&j.storage);
    }
    signals::install().with_kind(Kind::Internal, || "installing signal handlers")?;
    let job = || -> anyhow::Result<Job> {
        match job {
            Some(Ok(j)) => Ok(j),
            Some(Err(e)) => Err(failure(kind_of(&e), format!("{e:#}"))),
            None => Err(failure(Kind::Internal, "no job file")),
        }
    };
    match cli.command {
        Command::Run(args) => run::run(&job()?, &args),
        Command::Check(args) => check::check(job()?, &args),
        Command::Inspect { model } => inspect::inspect(&model),
        Command::Next { count, .. } => next::next(&job()?, count),
        Command::Status { last, .. } => status::status(&job()?, last),
        Command::Backfill(args) => backfill::backfill(&job()?, &args),
        Command::Catchup(args) => backfill::catchup(&job()?, &args),
        Command::Profile(args) => profile::profile(&job()?, &args),
        Command::Report(args) => report::report(&job()?, &args),
    }
}

/// Writes a command's result to stdout (logs go to stderr).
fn print(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a non-zero exit.
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.with_kind(Kind::Io, || "writing to stdout"),
    }
}

//! Command dispatch: parse the command line, run the command, return its exit code.

use std::io::Write;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{Kind, ResultExt};
use crate::job::Job;
use crate::{check, clock, inspect, logging, run, signals};

pub fn run() -> anyhow::Result<u8> {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() { Kind::Usage.exit_code() } else { 0 });
        }
    };
    logging::init(cli.log_format, cli.verbose, cli.quiet);
    signals::install().with_kind(Kind::Internal, || "installing signal handlers")?;
    match cli.command {
        Command::Run(args) => {
            let job = Job::load(&args.target.job)?;
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
            let job = Job::load(&args.job)?;
            let date = match args.date {
                Some(d) => d,
                None => {
                    clock::default_date(&job, clock::now().with_kind(Kind::Usage, || "reading the clock")?)
                }
            };
            print(&check::check(job, date)?)?;
        }
        Command::Inspect { model } => print(&inspect::inspect(&model)?)?,
    }
    Ok(0)
}

fn print(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a non-zero exit.
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.with_kind(Kind::Io, || "writing to stdout"),
    }
}

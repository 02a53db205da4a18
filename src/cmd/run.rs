//! `batchscore run JOB`: score one date.

use crate::cli::RunArgs;
use crate::job::Job;
use crate::{clock, run};

pub fn run(job: &Job, args: &RunArgs) -> anyhow::Result<u8> {
    let date = match args.target.date {
        Some(d) => d,
        None => job.date_at(clock::now()?),
    };
    let opts = run::RunOptions {
        force: args.force,
        threads: args.threads.map(|n| n.get()),
        shard: args.shard.resolve()?,
    };
    let outcome = run::run(job, date, &opts)?;
    // stdout carries the result, for scripts: the output's path.
    if let Some(out) = &outcome.record.output {
        super::print(&format!("{}\n", out.path.display()))?;
    }
    Ok(0)
}

//! The command line.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "batchscore",
    version,
    about = "Score a day's data through an ONNX model, atomically and on a schedule."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    /// More log detail (-v debug, -vv trace). RUST_LOG, when set, wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log detail (-q warnings and errors only, -qq errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score one date: read its input, run the model, write the output and the run record.
    Run(RunArgs),
    /// Pre-flight: load the model, resolve the inputs, read only their headers, print the plan. Writes nothing.
    Check(DateArgs),
    /// Show a model's inputs, outputs, types, shapes, opsets and operators.
    Inspect {
        /// The .onnx file.
        model: PathBuf,
    },
    /// The next run times of the job's schedule and the date each would score.
    Next {
        /// The job file (TOML).
        job: PathBuf,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 5)]
        count: usize,
    },
    /// Score a range of past dates (those the schedule selects), skipping dates already done.
    Backfill(BackfillArgs),
    /// Score every scheduled date since the last success that has no successful run yet, oldest first.
    /// This is what the nightly scheduler entry calls: a machine that was off for three nights scores all three.
    Catchup(CatchupArgs),
    /// Build a monitoring reference from known-good days (or a file such as the training set).
    Profile(ProfileArgs),
    /// Write a self-contained HTML drift report for one date.
    Report(ReportArgs),
    /// Recent runs of a job, from its run records.
    Status {
        /// The job file (TOML).
        job: PathBuf,
        /// How many runs to show.
        #[arg(long, default_value_t = 10)]
        last: usize,
    },
}

impl Command {
    /// The job file the command reads, if it reads one.
    pub fn job_file(&self) -> Option<&std::path::Path> {
        match self {
            Command::Run(a) => Some(&a.target.job),
            Command::Check(a) => Some(&a.job),
            Command::Next { job, .. } | Command::Status { job, .. } => Some(job),
            Command::Backfill(a) => Some(&a.job),
            Command::Catchup(a) => Some(&a.job),
            Command::Profile(a) => Some(&a.job),
            Command::Report(a) => Some(&a.job),
            Command::Inspect { .. } => None,
        }
    }
}

/// Which shard of the date this process scores.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Score shard INDEX of COUNT (0-based, e.g. 2/4) into a part of the date's output;
    /// the last shard to finish commits the date. Default: from the engine's variables
    /// (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX,
    /// CLOUD_RUN_TASK_INDEX) when set; `off` ignores them.
    #[arg(long, value_name = "INDEX/COUNT")]
    pub shard: Option<crate::shard::ShardArg>,
    /// The number of shards, where the engine gives only an index (Kubernetes, AWS Batch).
    /// Default: $BATCHSCORE_SHARDS, else the engine's count.
    #[arg(long, value_name = "COUNT")]
    pub shards: Option<std::num::NonZeroUsize>,
}

impl ShardArgs {
    /// The shard, from the flags or this process's environment.
    pub fn resolve(&self) -> anyhow::Result<Option<crate::shard::Shard>> {
        crate::shard::resolve(self.shard, self.shards.map(|n| n.get()), &|k| std::env::var(k).ok())
    }
}

#[derive(Debug, Args)]
pub struct ManyArgs {
    /// Redo dates that are already done.
    #[arg(long)]
    pub force: bool,
    /// Dates to run at once (they share the cores).
    #[arg(long, default_value = "1")]
    pub jobs: std::num::NonZeroUsize,
    /// Go on after a date fails (the exit code still reports it).
    #[arg(long)]
    pub keep_going: bool,
    /// Scoring threads per date (default: the cores divided by --jobs).
    #[arg(long)]
    pub threads: Option<std::num::NonZeroUsize>,
    #[command(flatten)]
    pub shard: ShardArgs,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The job file (TOML).
    pub job: PathBuf,
    /// First date (YYYY-MM-DD), included.
    #[arg(long)]
    pub from: NaiveDate,
    /// Last date (YYYY-MM-DD), included.
    #[arg(long)]
    pub to: NaiveDate,
    /// Every date in the range, not only those the schedule selects.
    #[arg(long)]
    pub every_day: bool,
    #[command(flatten)]
    pub many: ManyArgs,
}

#[derive(Debug, Args)]
pub struct CatchupArgs {
    /// The job file (TOML).
    pub job: PathBuf,
    /// Look back to this date instead of the day after the last success.
    #[arg(long)]
    pub since: Option<NaiveDate>,
    #[command(flatten)]
    pub many: ManyArgs,
}

#[derive(Debug, Args)]
pub struct DateArgs {
    /// The job file (TOML).
    pub job: PathBuf,
    /// The date to score (YYYY-MM-DD). Default: the job's run_date rule, in its time zone.
    #[arg(long)]
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: DateArgs,
    /// Redo the date even if a successful run record exists.
    #[arg(long)]
    pub force: bool,
    /// Scoring threads (default: the job's `threads`, else every core).
    #[arg(long)]
    pub threads: Option<std::num::NonZeroUsize>,
    #[command(flatten)]
    pub shard: ShardArgs,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The job file (TOML).
    pub job: PathBuf,
    /// First known-good date (YYYY-MM-DD), included.
    #[arg(long, requires = "to", conflicts_with = "input")]
    pub from: Option<NaiveDate>,
    /// Last known-good date (YYYY-MM-DD), included.
    #[arg(long, requires = "from")]
    pub to: Option<NaiveDate>,
    /// Profile this file (CSV or Parquet, e.g. the training set) instead of dates.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Where to write the reference (default: the job's [monitor] reference).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Scoring threads (default: the job's `threads`, else every core).
    #[arg(long)]
    pub threads: Option<std::num::NonZeroUsize>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The job file (TOML).
    pub job: PathBuf,
    /// The date to report on (YYYY-MM-DD). Default: the job's run_date rule, in its time zone.
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// Where to write the HTML (default: <state_dir>/<job>/<date>.report.html).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

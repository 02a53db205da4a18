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
}

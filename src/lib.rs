//! batchscore: score a day's data through an ONNX model, on a schedule.
//!
//! The binary is the product; the library exists so that the binary, the
//! tests, the fuzz target and the example drive the same code. Its modules
//! are private: the few items those need are re-exported below, hidden
//! from the docs, and nothing else is a promise.

// The edge: the command line, the commands, and what every step shares.
mod cli;
mod cmd;
mod error;
mod logging;
mod memory;
mod signals;

// The pipeline, in the order data flows through it:
// job file → plan → read chunk → check & convert → score → write → commit → record.
mod clock; // "now", and the date a run scores
mod commit; // a sharded date committed once, by the shard that finishes last
mod features; // each chunk checked and converted to the model's types
mod input; // the day's files, read in chunks
mod job; // the job file, parsed and checked
mod ledger; // run records and per-date locks
mod metrics;
mod ml; // batchscore's ONNX-ML operators, registered into tract
mod model; // the ONNX model, loaded once and typed for any batch size
mod monitor; // each run profiled and checked against a reference: drift and quality
mod output; // the output written to a temporary file, then committed
mod parquet_guard; // a Parquet file's sizes checked before polars trusts them
mod plan; // everything checked before the first row is read
mod quarantine; // rejected rows, beside the output
mod run; // one date, from plan to commit
mod schedule; // its crontab schedule, for next / catchup / backfill
mod score; // the model run on a chunk, on every core
mod shard; // a day split into N shards: this process's index, and its rows
mod storage; // URLs where paths go: object storage for input, output, model, records, locks
mod template; // its path templates, expanded for a date // the Prometheus textfile

mod faults; // the faults tests inject, in debug builds only
mod probe; // the input path alone, for the property tests and the fuzz target

#[doc(hidden)]
pub use cmd::main;
#[doc(hidden)]
pub use job::{Format, Job};
#[doc(hidden)]
pub use ml::{TreePath, set_tree_path};
#[doc(hidden)]
pub use model::ModelInfo;
#[doc(hidden)]
pub use probe::{Counts, read_and_convert};

//! batchscore: score a day's data through an ONNX model, on a schedule.
//!
//! The binary is the product; the library exists so that tests, the fuzz
//! target and benchmarks can drive the same code in-process. Data flows one
//! way: job file → plan → read chunk → score → write → commit → record.

pub mod app;
pub mod backfill;
pub mod check;
pub mod cli;
pub mod clock;
pub mod error;
pub mod features;
pub mod input;
pub mod inspect;
pub mod job;
pub mod ledger;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod ml;
pub mod model;
pub mod output;
pub mod parquet_guard;
pub mod plan;
pub mod probe;
pub mod run;
pub mod schedule;
pub mod score;
pub mod signals;
pub mod status;

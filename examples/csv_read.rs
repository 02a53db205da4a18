//! polars' CSV read alone, as batchscore builds polars (stable Rust), with
//! nothing of batchscore's: where a CSV day's time goes before any scoring.
//! docs/csv-read-profile.md has what it showed.
//!
//!     cargo build --release --example csv_read
//!     target/release/examples/csv_read FILE.csv [eager|stream|batches]
//!
//! A `file://` URL for FILE reads it in pieces, as batchscore reads local
//! CSV files; a plain path memory-maps it. `batches` is what a run does:
//! the streaming engine's `sink_batches` in 100,000-row chunks, in order.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use polars::prelude::*;

fn main() -> PolarsResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), mode) = (args.get(1), args.get(2).map_or("batches", String::as_str)) else {
        eprintln!("usage: csv_read FILE.csv [eager|stream|batches]");
        std::process::exit(64);
    };
    let started = Instant::now();
    let lf = LazyCsvReader::new(PlRefPath::new(path.as_str())).with_has_header(true).finish()?;
    let rows = Arc::new(AtomicUsize::new(0));
    match mode {
        "eager" => rows.store(lf.collect()?.height(), Ordering::Relaxed),
        "stream" => {
            rows.store(lf.collect_with_engine(Engine::Streaming)?.unwrap_single().height(), Ordering::Relaxed)
        }
        _ => {
            let seen = rows.clone();
            lf.sink_batches(
                PlanCallback::new(move |df: DataFrame| {
                    seen.fetch_add(df.height(), Ordering::Relaxed);
                    Ok(false)
                }),
                true,
                NonZeroUsize::new(100_000),
            )?
            .collect_with_engine(Engine::Streaming)?;
        }
    }
    println!(
        "{mode} {path}: {} rows in {:.2} s",
        rows.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

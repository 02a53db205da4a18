//! Memory does not grow with the input: 2M and 20M rows, same chunk size,
//! peak memory within 10% (the first million rows see the peak rise while
//! the reader, the scorers and the writer fill their queues; after that it
//! stays). Slow (it writes and scores 22M rows), so opt-in, and best in release:
//!
//!     cargo test --release --test main -- memory --ignored --nocapture
//!
//! Linux only: the run record has `peak_memory` only there (src/memory.rs).
#![cfg(target_os = "linux")]

use crate::common::{JobToml, Workdir, models};
use polars::prelude::*;

const FEATURES: usize = 30;

/// `rows` rows of an id and 30 float columns, written in 500k-row pieces.
fn write_parquet(wd: &Workdir, rel: &str, rows: usize) {
    let file = std::fs::File::create(wd.path(rel)).unwrap();
    let mut cols: Vec<Column> = vec![Column::new("id".into(), Vec::<i64>::new())];
    for j in 0..FEATURES {
        cols.push(Column::new(format!("f{j}").into(), Vec::<f64>::new()));
    }
    let schema = DataFrame::new_infer_height(cols).unwrap().schema().clone();
    let mut w = ParquetWriter::new(file).batched(&schema).unwrap();
    let piece = 500_000;
    for start in (0..rows).step_by(piece) {
        let n = piece.min(rows - start);
        let mut cols = vec![Column::new("id".into(), (start as i64..(start + n) as i64).collect::<Vec<_>>())];
        for j in 0..FEATURES {
            cols.push(Column::new(
                format!("f{j}").into(),
                (0..n).map(|i| ((start + i) * (j + 1) % 1000) as f64 / 1000.0).collect::<Vec<_>>(),
            ));
        }
        w.write_batch(&DataFrame::new_infer_height(cols).unwrap()).unwrap();
    }
    w.finish().unwrap();
}

fn peak(rows: usize) -> (u64, u64) {
    let wd = Workdir::new();
    wd.write("m.onnx", models::linear(&[0.5; FEATURES], 0.0));
    write_parquet(&wd, "in.parquet", rows);
    let cols: Vec<String> = (0..FEATURES).map(|j| format!("f{j}")).collect();
    let job = JobToml::new("m")
        .keep(&["id"])
        .toml("chunk_rows = 100000")
        .input("in.parquet")
        .columns(&cols)
        .output("out.parquet");
    wd.write("job.toml", job.build());
    wd.cmd(["run", "job.toml", "--date", "2026-01-01"]).code(0);
    let rec = wd.record("_batchscore/m/2026-01-01.json");
    assert_eq!(rec["rows"]["scored"], rows as u64);
    let rss = rec["peak_memory"]["rss_bytes"].as_u64().unwrap();
    let anon = rec["peak_memory"]["anon_bytes"].as_u64().unwrap();
    println!("{rows} rows: peak RSS {} MB, peak heap {} MB", rss >> 20, anon >> 20);
    (rss, anon)
}

#[test]
#[ignore = "slow: writes and scores 22M rows; run with --ignored"]
fn peak_memory_does_not_grow_with_the_file() {
    let (rss2, anon2) = peak(2_000_000);
    let (rss20, anon20) = peak(20_000_000);
    // The bound: a few chunks in flight, not the file (20M rows × 31
    // columns would be 5 GB in memory).
    assert!(rss2 < 300 << 20, "peak RSS {} MB at 2M rows", rss2 >> 20);
    assert!((rss20 as f64) < rss2 as f64 * 1.10, "RSS grew from {} MB to {} MB", rss2 >> 20, rss20 >> 20);
    assert!(
        (anon20 as f64) < anon2 as f64 * 1.10,
        "heap grew from {} MB to {} MB",
        anon2 >> 20,
        anon20 >> 20
    );
}

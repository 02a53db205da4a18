//! The monitoring overhead workload: the demo day's rows resampled with a
//! little noise to N rows of `customer_id`, `region` and the demo's 30
//! features (float64), as Parquet (zstd, 100k-row row groups), the shape
//! of the benchmark's workload.
//!
//!     cargo run --release --example drift_workload -- OUT.parquet [ROWS] [SEED]
//!
//! tools/monitor-overhead.sh times `run` on it with and without `[monitor]`.

use polars::prelude::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out =
        args.get(1).ok_or_else(|| anyhow::anyhow!("usage: drift_workload OUT.parquet [ROWS] [SEED]"))?;
    let rows: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2_000_000);
    let mut seed: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("data/input/2026-11-23.csv"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let base: Vec<Vec<f64>> =
        lines.map(|l| l.split(',').skip(2).map(|v| v.parse().unwrap_or(0.0)).collect()).collect();
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let width = header.len() - 2;
    let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(rows); width];
    let mut ids = Vec::with_capacity(rows);
    let mut regions = Vec::with_capacity(rows);
    for i in 0..rows {
        let r = &base[(next() % base.len() as u64) as usize];
        for (c, v) in cols.iter_mut().zip(r) {
            let noise = 1.0 + ((next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.02;
            c.push(v * noise);
        }
        ids.push(format!("C{i:08}"));
        regions.push(["north", "south", "east", "west"][i % 4]);
    }
    let mut columns = vec![Column::new("customer_id".into(), ids), Column::new("region".into(), regions)];
    for (name, c) in header[2..].iter().zip(cols) {
        columns.push(Column::new((*name).into(), c));
    }
    let mut df = DataFrame::new(rows, columns)?;
    ParquetWriter::new(std::fs::File::create(out)?)
        .with_compression(ParquetCompression::Zstd(None))
        .with_row_group_size(Some(100_000))
        .finish(&mut df)?;
    println!("{out}: {rows} rows");
    Ok(())
}

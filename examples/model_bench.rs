//! Model-only throughput: a model's plan on random rows, one thread,
//! batches of 10,000 rows, as the benchmark's "model only" table reports it.
//!
//!     cargo run --release --example model_bench -- MODEL.onnx [ROWS] [INPUT.csv]
//!
//! With an input CSV (row_id + features, as the zoo has), its rows are
//! repeated; otherwise features are uniform in [0, 1).

use std::time::Instant;

use batchscore::ModelInfo;
use tract_onnx::prelude::*;

// The allocator the binary runs with, so the kernel is timed as it runs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path =
        args.get(1).ok_or_else(|| anyhow::anyhow!("usage: model_bench MODEL.onnx [ROWS] [INPUT.csv]"))?;
    let rows: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    // BATCHSCORE_TREE_PATH=walk|complete|quick times one way through tree models.
    batchscore::set_tree_path(batchscore::TreePath::from_env()?);
    let info = ModelInfo::load(std::path::Path::new(path))?;
    let width = info.inputs[0].width().unwrap_or(30);
    let model = info.compile(&[width])?;
    let base: Vec<f32> = match args.get(3) {
        Some(csv) => std::fs::read_to_string(csv)?
            .lines()
            .skip(1)
            .flat_map(|l| {
                l.split(',').skip(1).map(|v| v.parse::<f32>().unwrap_or(f32::NAN)).collect::<Vec<_>>()
            })
            .collect(),
        None => {
            let mut x = 0x9E3779B97F4A7C15u64;
            (0..width * 4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 40) as f32 / (1u64 << 24) as f32
                })
                .collect()
        }
    };
    let batch = 10_000;
    let data: Vec<f32> = base.iter().copied().cycle().take(batch * width).collect();
    // One shared input, as onnxruntime's benchmark feeds the same array each run.
    let input = TValue::from_const(std::sync::Arc::new(Tensor::from_shape(&[batch, width], &data)?));
    // Warm up, then time.
    model.plan.run(tvec!(input.clone()))?;
    let start = Instant::now();
    let mut done = 0;
    while done < rows {
        model.plan.run(tvec!(input.clone()))?;
        done += batch;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{path}: {:.0} rows/s ({done} rows in {secs:.3} s, 1 thread)", done as f64 / secs);
    Ok(())
}

//! Running the model on a chunk and turning its outputs into columns.

use anyhow::{Context, bail};
use polars::prelude::*;
use tract_onnx::prelude::{DatumType, IntoTValue, Tensor};

use crate::error::{Kind, failure};
use crate::features::{self, InputFeed};
use crate::job::OutputMap;
use crate::ml::ClassLabels;
use crate::model::Model;

/// One output column: which model output, which of its columns.
#[derive(Clone, Debug)]
pub struct OutColumn {
    pub name: String,
    pub output: usize,
    /// `None`: the output is `[N]` or `[N, 1]`.
    pub index: Option<usize>,
    pub dtype: DataType,
}

/// Decides the output columns from the job's `[outputs]` (or every model
/// output when it has none). A `[N, C]` output becomes C columns named
/// after the classes when the model names them, else after the index.
pub fn plan_outputs(model: &Model, maps: &[OutputMap]) -> anyhow::Result<Vec<OutColumn>> {
    let default: Vec<OutputMap>;
    let maps = if maps.is_empty() {
        default = model
            .info
            .outputs
            .iter()
            .map(|o| OutputMap { column: o.name.clone(), from: o.name.clone(), index: None })
            .collect();
        &default
    } else {
        maps
    };
    let mut out = Vec::new();
    for m in maps {
        let Some(ix) = model.info.outputs.iter().position(|o| o.name == m.from) else {
            let names: Vec<&str> = model.info.outputs.iter().map(|o| o.name.as_str()).collect();
            return Err(failure(
                Kind::Config,
                format!(
                    "outputs.{}: the model has no output {:?}; it has {}",
                    m.column,
                    m.from,
                    names.join(", ")
                ),
            ));
        };
        let (dt, width) = model.output_types[ix];
        let dtype = polars_type(dt).ok_or_else(|| {
            failure(
                Kind::Model,
                format!(
                    "model output {:?} has type {}, which batchscore cannot write",
                    m.from,
                    type_name(dt)
                ),
            )
        })?;
        match (m.index, width) {
            (Some(k), Some(w)) if k >= w => {
                return Err(failure(
                    Kind::Config,
                    format!("outputs.{}: {:?} has {w} columns, so [{k}] is out of range", m.column, m.from),
                ));
            }
            (Some(k), _) => out.push(OutColumn { name: m.column.clone(), output: ix, index: Some(k), dtype }),
            (None, Some(1)) => out.push(OutColumn { name: m.column.clone(), output: ix, index: None, dtype }),
            (None, Some(w)) => {
                let names = class_names(model.info.classes.get(&m.from), w);
                for (k, class) in names.into_iter().enumerate() {
                    out.push(OutColumn {
                        name: format!("{}_{class}", m.column),
                        output: ix,
                        index: Some(k),
                        dtype: dtype.clone(),
                    });
                }
            }
            (None, None) => {
                return Err(failure(
                    Kind::Model,
                    format!(
                        "model output {:?} has no fixed width; map single columns with outputs.<name> = \"{}[k]\"",
                        m.from, m.from
                    ),
                ));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &out {
        if !seen.insert(c.name.as_str()) {
            return Err(failure(
                Kind::Config,
                format!("output column {:?} is produced twice; rename it in [outputs]", c.name),
            ));
        }
    }
    Ok(out)
}

fn class_names(classes: Option<&ClassLabels>, width: usize) -> Vec<String> {
    match classes {
        Some(ClassLabels::Int(v)) if v.len() == width => v.iter().map(|c| c.to_string()).collect(),
        Some(ClassLabels::Str(v)) if v.len() == width => v.clone(),
        _ => (0..width).map(|k| k.to_string()).collect(),
    }
}

fn polars_type(dt: DatumType) -> Option<DataType> {
    Some(match dt {
        DatumType::F32 => DataType::Float32,
        DatumType::F64 => DataType::Float64,
        DatumType::I64
        | DatumType::I32
        | DatumType::I16
        | DatumType::I8
        | DatumType::U8
        | DatumType::U16
        | DatumType::U32
        | DatumType::TDim => DataType::Int64,
        DatumType::Bool => DataType::Boolean,
        DatumType::String => DataType::String,
        _ => return None,
    })
}

const BLOCKS_PER_THREAD: usize = 4;

/// Scores converted feature columns, splitting the rows into contiguous
/// blocks scored side by side; the blocks are put back in order, so the
/// result does not depend on the thread count.
pub fn score(
    model: &Model,
    feeds: &[InputFeed],
    columns: &[Vec<Series>],
    outs: &[OutColumn],
    threads: usize,
) -> anyhow::Result<Vec<Column>> {
    let rows = columns.first().and_then(|c| c.first()).map_or(0, |s| s.len());
    // A few blocks per thread, so a thread slowed by the reader or the
    // writer (they share the cores) leaves its share to the others instead
    // of holding up the chunk; below a few thousand rows a block costs more
    // than it saves.
    let blocks = (threads * BLOCKS_PER_THREAD).clamp(1, rows.div_ceil(4096).max(1));
    let per = rows.div_ceil(blocks).max(1).min(model.block_rows);
    let run_block = |start: usize| -> anyhow::Result<Vec<Series>> {
        let len = per.min(rows - start);
        let sliced: Vec<Vec<Series>> =
            columns.iter().map(|cols| cols.iter().map(|s| s.slice(start as i64, len)).collect()).collect();
        let mut inputs = features::tensors(&sliced, feeds)?;
        // A one-column feed is built [N, 1]; a model that declares the
        // input [N] (a text vectorizer's, often) wants it flat.
        for (t, feed) in inputs.iter_mut().zip(feeds) {
            let flat = model
                .info
                .inputs
                .iter()
                .any(|p| p.name == feed.input && matches!(p.shape.as_deref(), Some([_])));
            if flat && t.rank() == 2 {
                let n = t.shape()[0] * t.shape()[1];
                t.set_shape(&[n])?;
            }
        }
        let result = model.plan.run(inputs.into_iter().map(|t| t.into_tvalue()).collect())?;
        for c in outs {
            let got = result[c.output].shape().first().copied().unwrap_or(1);
            if got != len {
                bail!("model output for column {:?} has {got} rows for {len} input rows", c.name);
            }
        }
        outs.iter().map(|c| extract(&result[c.output], c)).collect()
    };
    let starts: Vec<usize> = (0..rows).step_by(per).collect();
    // A pool that lives for the whole run: new threads per chunk would each
    // get their own allocator arena and keep its memory.
    let parts: Vec<anyhow::Result<Vec<Series>>> = if starts.len() <= 1 {
        vec![run_block(0)]
    } else {
        use rayon::prelude::*;
        pool(threads).install(|| starts.par_iter().map(|&st| run_block(st)).collect())
    };
    let mut merged: Option<Vec<Series>> = None;
    for part in parts {
        let part = part?;
        match merged.as_mut() {
            None => merged = Some(part),
            Some(m) => {
                for (a, b) in m.iter_mut().zip(&part) {
                    a.append(b)?;
                }
            }
        }
    }
    let merged = merged.context("no rows were scored")?;
    Ok(merged.into_iter().map(Column::from).collect())
}

/// The scoring thread pool, built once for the run's thread count.
pub(crate) fn pool(threads: usize) -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("score-{i}"))
            .build()
            .unwrap_or_else(|_| {
                rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool")
            })
    })
}

fn extract(t: &Tensor, c: &OutColumn) -> anyhow::Result<Series> {
    let name: PlSmallStr = c.name.as_str().into();
    let t = match t.datum_type() {
        DatumType::F32 | DatumType::F64 | DatumType::I64 | DatumType::String | DatumType::Bool => {
            std::borrow::Cow::Borrowed(t)
        }
        _ => std::borrow::Cow::Owned(t.cast_to::<i64>()?.into_owned()),
    };
    // Plain slices with a stride, not ndarray iterators: this runs once per
    // output column per chunk and the iterator version showed up in profiles.
    let (width, k) = match (t.shape(), c.index) {
        ([_], None | Some(0)) => (1, 0),
        ([_, 1], None) => (1, 0),
        ([_, w], Some(k)) if k < *w => (*w, k),
        (shape, _) => {
            bail!("model output has shape {shape:?}, expected [N] or [N, C] for column {:?}", c.name)
        }
    };
    macro_rules! column_of {
        ($ty:ty) => {{
            let plain = t.try_as_plain_ram()?;
            let v = plain.as_slice::<$ty>()?;
            if width == 1 {
                v.to_vec()
            } else {
                v.iter().skip(k).step_by(width).cloned().collect::<Vec<$ty>>()
            }
        }};
    }
    Ok(match t.datum_type() {
        DatumType::F32 => Series::new(name, column_of!(f32)),
        DatumType::F64 => Series::new(name, column_of!(f64)),
        DatumType::I64 => Series::new(name, column_of!(i64)),
        DatumType::Bool => Series::new(name, column_of!(bool)),
        DatumType::String => Series::new(name, column_of!(String)),
        other => bail!("model output type {} cannot be written", type_name(other)),
    })
}

/// A tensor type as ONNX names it (tract's own names are Rust variants).
fn type_name(dt: DatumType) -> String {
    match dt {
        DatumType::F16 => "float16".into(),
        DatumType::F32 => "float32".into(),
        DatumType::F64 => "float64".into(),
        DatumType::I8 => "int8".into(),
        DatumType::I16 => "int16".into(),
        DatumType::I32 => "int32".into(),
        DatumType::I64 => "int64".into(),
        DatumType::U8 => "uint8".into(),
        DatumType::U16 => "uint16".into(),
        DatumType::U32 => "uint32".into(),
        DatumType::U64 => "uint64".into(),
        DatumType::Bool => "bool".into(),
        DatumType::String => "string".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_named_as_onnx_names_them() {
        assert_eq!(type_name(DatumType::F16), "float16");
        assert_eq!(type_name(DatumType::U8), "uint8");
    }
}

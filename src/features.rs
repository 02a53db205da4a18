//! Columns → model input tensors.
//!
//! Every value is checked before it reaches the model: a null, a NaN, or a
//! value that does not convert to the type the model declares is a
//! [`Problem`] with its row and column, never a silent default. The clean
//! path (no nulls, no NaN, types already right) costs one scan per column
//! plus the transpose into the row-major `[N, F]` buffer tract wants.

use polars::prelude::*;
use tract_onnx::prelude::{IntoTensor, Tensor, tract_ndarray};

use crate::model::Elem;

/// One model input and the columns that feed it, in order.
#[derive(Clone, Debug)]
pub struct InputFeed {
    pub input: String,
    pub elem: Elem,
    pub columns: Vec<String>,
}

/// Something wrong with one value of one row.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// Row index within the chunk.
    pub row: usize,
    pub column: String,
    /// The value as text, `None` for a null.
    pub value: Option<String>,
    pub reason: String,
}

/// What to do with a bad value instead of reporting it.
#[derive(Clone, Debug, PartialEq)]
pub enum Repair {
    /// Report it: the row is rejected (or the run fails).
    None,
    /// Give the model NaN, for models that route missing values (trees).
    /// Only float inputs can carry it; elsewhere the value is still reported.
    Nan,
    /// Give the model NaN for a null or a NaN (the model handles a missing
    /// value in this column); text that is not a number is still reported.
    MissingAsNan,
    /// Replace it with this value (converted to the input's type).
    Fill(Fill),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fill {
    Number(f64),
    Text(String),
}

/// The polars type a feature column is converted to for a model input.
pub fn polars_dtype(elem: Elem) -> Option<DataType> {
    Some(match elem {
        Elem::F32 => DataType::Float32,
        Elem::F64 => DataType::Float64,
        Elem::I64 => DataType::Int64,
        Elem::I32 => DataType::Int32,
        Elem::Bool => DataType::Boolean,
        Elem::String => DataType::String,
        Elem::Other(_) => return None,
    })
}

/// Can a column of `from` feed an input of `elem` at all? (Values may still
/// fail one by one, e.g. text in a numeric column.)
pub fn castable(from: &DataType, elem: Elem) -> bool {
    match elem {
        Elem::String => from.is_primitive_numeric() || from.is_string() || from.is_bool(),
        Elem::F32 | Elem::F64 | Elem::I64 | Elem::I32 => {
            from.is_primitive_numeric() || from.is_string() || from.is_bool() || from.is_null()
        }
        Elem::Bool => from.is_bool() || from.is_string() || from.is_integer(),
        Elem::Other(_) => false,
    }
}

/// Converts every feature column to its input's type and lists each bad value.
/// Returns the converted columns (same order as the feeds' columns).
pub fn convert(
    df: &DataFrame,
    feeds: &[InputFeed],
    repair: &dyn Fn(&str) -> Repair,
    problems: &mut Vec<Problem>,
) -> anyhow::Result<Vec<Vec<Series>>> {
    feeds
        .iter()
        .map(|feed| {
            let target = polars_dtype(feed.elem).ok_or_else(|| {
                anyhow::anyhow!("model input {:?} has unsupported type {}", feed.input, feed.elem)
            })?;
            feed.columns
                .iter()
                .map(|name| {
                    convert_column(
                        df.column(name)?.as_materialized_series(),
                        &target,
                        &repair(name),
                        problems,
                    )
                })
                .collect()
        })
        .collect()
}

fn convert_column(
    s: &Series,
    target: &DataType,
    repair: &Repair,
    problems: &mut Vec<Problem>,
) -> anyhow::Result<Series> {
    // A numeric column feeding a float input is converted while it is
    // transposed into the tensor (one pass, no copy); anything else is cast here.
    let in_transpose = target.is_float()
        && matches!(s.dtype(), DataType::Float32 | DataType::Float64 | DataType::Int64 | DataType::Int32);
    let converted = if s.dtype() == target || in_transpose { s.clone() } else { s.cast(target)? };
    let name = s.name().as_str();
    let mut found = Vec::new();
    if s.null_count() > 0 || converted.null_count() > 0 {
        for (row, (orig, conv)) in s.is_null().iter().zip(converted.is_null().iter()).enumerate() {
            if orig == Some(true) {
                found.push(Problem { row, column: name.into(), value: None, reason: "missing value".into() });
            } else if conv == Some(true) {
                let value = s.str_value(row).map(|v| v.into_owned()).unwrap_or_default();
                found.push(Problem {
                    row,
                    column: name.into(),
                    value: Some(value),
                    reason: format!("not a valid {}", type_word(target)),
                });
            }
        }
    }
    // Float → int would truncate 2.5 to 2: a wrong score, so it's a problem.
    if target.is_integer() && s.dtype().is_float() {
        let f = s.cast(&DataType::Float64)?;
        for (row, v) in f.f64()?.iter().enumerate() {
            if let Some(v) = v
                && v.is_finite()
                && v.fract() != 0.0
            {
                found.push(Problem {
                    row,
                    column: name.into(),
                    value: Some(v.to_string()),
                    reason: format!("not a whole number, the model wants {}", type_word(target)),
                });
            }
        }
    }
    let nan_ok = matches!(repair, Repair::Nan | Repair::MissingAsNan);
    if target.is_float() && !nan_ok && has_nan(&converted)? {
        let mut mark = |row: usize| {
            found.push(Problem {
                row,
                column: name.into(),
                value: Some("NaN".into()),
                reason: "NaN (not a number)".into(),
            })
        };
        match converted.dtype() {
            DataType::Float32 => converted
                .f32()?
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_some_and(f32::is_nan))
                .for_each(|(r, _)| mark(r)),
            _ => converted
                .f64()?
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_some_and(f64::is_nan))
                .for_each(|(r, _)| mark(r)),
        }
    }
    if found.is_empty() {
        return Ok(converted);
    }
    let mut others_stay = false;
    if *repair == Repair::MissingAsNan && target.is_float() {
        // Only the missing ones become NaN; the rest stay problems (their
        // rows are dropped, so their nulls may stay).
        let (missing, other): (Vec<Problem>, Vec<Problem>) =
            found.into_iter().partition(|p| p.value.is_none());
        others_stay = !other.is_empty();
        problems.extend(other);
        if missing.is_empty() {
            return Ok(converted);
        }
        found = missing;
    }
    let fill = match repair {
        Repair::None => None,
        Repair::Nan | Repair::MissingAsNan if target.is_float() => Some(AnyValue::Float64(f64::NAN)),
        Repair::Nan | Repair::MissingAsNan => None,
        Repair::Fill(Fill::Number(v)) => Some(AnyValue::Float64(*v)),
        Repair::Fill(Fill::Text(t)) => Some(AnyValue::StringOwned(t.as_str().into())),
    };
    let Some(fill) = fill else {
        problems.extend(found);
        return Ok(converted);
    };
    let mut bad = vec![false; converted.len()];
    for p in &found {
        bad[p.row] = true;
    }
    replace(&converted, &bad, fill, target, others_stay)
}

/// Any NaN at all? A scan over the raw values (nulls included, whatever
/// their slot holds: a null's slot is never NaN in practice, and a false
/// alarm only sends the column down the exact per-row check).
fn has_nan(s: &Series) -> PolarsResult<bool> {
    Ok(match s.dtype() {
        DataType::Float32 => s.f32()?.downcast_iter().any(|a| a.values().iter().any(|v| v.is_nan())),
        DataType::Float64 => s.f64()?.downcast_iter().any(|a| a.values().iter().any(|v| v.is_nan())),
        _ => false,
    })
}

/// `s` with the `bad` positions set to `fill`, converted to `target`.
fn replace(
    s: &Series,
    bad: &[bool],
    fill: AnyValue<'_>,
    target: &DataType,
    nulls_allowed: bool,
) -> anyhow::Result<Series> {
    let cast;
    let s = if s.dtype() == target {
        s
    } else {
        cast = s.cast(target)?;
        &cast
    };
    let fill = Series::from_any_values(s.name().clone(), &[fill], false)?.cast(target)?;
    let fill = fill.get(0)?;
    let values: Vec<AnyValue<'_>> = (0..s.len())
        .map(|i| if bad[i] { Ok(fill.clone()) } else { s.get(i) })
        .collect::<PolarsResult<_>>()?;
    let out = Series::from_any_values_and_dtype(s.name().clone(), &values, target, true)?;
    if out.null_count() > 0 && !nulls_allowed {
        anyhow::bail!("column {:?}: the fill value does not convert to {target}", s.name().as_str());
    }
    Ok(out)
}

fn type_word(t: &DataType) -> &'static str {
    match t {
        DataType::Float32 | DataType::Float64 => "number",
        DataType::Int64 | DataType::Int32 => "integer",
        DataType::Boolean => "boolean",
        _ => "value",
    }
}

/// Builds one tensor per input from converted, problem-free columns.
pub fn tensors(columns: &[Vec<Series>], feeds: &[InputFeed]) -> anyhow::Result<Vec<Tensor>> {
    columns
        .iter()
        .zip(feeds)
        .map(|(cols, feed)| {
            let rows = cols.first().map_or(0, |s| s.len());
            let width = cols.len();
            Ok(match feed.elem {
                Elem::F32 => floats::<f32>(cols, rows)?.into_tensor(),
                Elem::F64 => floats::<f64>(cols, rows)?.into_tensor(),
                Elem::I64 => numeric::<Int64Type>(cols, rows)?.into_tensor(),
                Elem::I32 => numeric::<Int32Type>(cols, rows)?.into_tensor(),
                Elem::Bool => {
                    let mut out = Vec::with_capacity(rows * width);
                    let cas: Vec<_> = cols.iter().map(|s| s.bool()).collect::<PolarsResult<_>>()?;
                    for r in 0..rows {
                        out.extend(cas.iter().map(|c| c.get(r).unwrap_or(false)));
                    }
                    tract_ndarray::Array2::from_shape_vec((rows, width), out)?.into_tensor()
                }
                Elem::String => {
                    let cas: Vec<_> = cols.iter().map(|s| s.str()).collect::<PolarsResult<_>>()?;
                    let mut out = Vec::with_capacity(rows * width);
                    for r in 0..rows {
                        out.extend(cas.iter().map(|c| c.get(r).unwrap_or("").to_owned()));
                    }
                    tract_ndarray::Array2::from_shape_vec((rows, width), out)?.into_tensor()
                }
                Elem::Other(_) => {
                    anyhow::bail!("model input {:?} has unsupported type {}", feed.input, feed.elem)
                }
            })
        })
        .collect()
}

/// A float target that numeric columns convert into as they are copied.
trait FloatTarget: Copy + Default + Send + 'static {
    fn from_f32(v: f32) -> Self;
    fn from_f64(v: f64) -> Self;
    fn from_i64(v: i64) -> Self;
    fn from_i32(v: i32) -> Self;
}

impl FloatTarget for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_i64(v: i64) -> Self {
        v as f32
    }
    fn from_i32(v: i32) -> Self {
        v as f32
    }
}

impl FloatTarget for f64 {
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn from_i64(v: i64) -> Self {
        v as f64
    }
    fn from_i32(v: i32) -> Self {
        f64::from(v)
    }
}

/// A column's values as (first row, slice) per chunk, whatever its numeric type.
enum Segments<'a> {
    F32(Vec<(usize, &'a [f32])>),
    F64(Vec<(usize, &'a [f64])>),
    I64(Vec<(usize, &'a [i64])>),
    I32(Vec<(usize, &'a [i32])>),
}

fn segments_of<T: PolarsNumericType>(ca: &ChunkedArray<T>) -> Vec<(usize, &[T::Native])> {
    let mut row = 0;
    ca.downcast_iter()
        .map(|a| {
            let at = row;
            row += a.len();
            (at, a.values().as_slice())
        })
        .collect()
}

/// Copies rows `start..end` of one column into column `j` of the row-major block.
fn fill<S: Copy, T>(
    segs: &[(usize, &[S])],
    start: usize,
    end: usize,
    j: usize,
    width: usize,
    out: &mut [T],
    conv: impl Fn(S) -> T,
) {
    for &(at, vals) in segs {
        let (lo, hi) = (start.max(at), end.min(at + vals.len()));
        if lo >= hi {
            continue;
        }
        // (Whole rows, so the bound on `j` is checked once, not per value.)
        let rows = out[(lo - start) * width..].chunks_exact_mut(width);
        for (row, &v) in rows.zip(&vals[lo - at..hi - at]) {
            row[j] = conv(v);
        }
    }
}

/// Row-major `[rows, cols]` floats from numeric columns of any of the usual
/// types, converting as it copies. Rows go in blocks so the block being
/// written stays in cache while each column streams through once; chunks
/// are read where they lie, never concatenated first.
fn floats<T: FloatTarget>(cols: &[Series], rows: usize) -> anyhow::Result<tract_ndarray::Array2<T>> {
    const BLOCK: usize = 256;
    let width = cols.len();
    let segs: Vec<Segments<'_>> = cols
        .iter()
        .map(|s| {
            Ok(match s.dtype() {
                DataType::Float32 => Segments::F32(segments_of(s.f32()?)),
                DataType::Float64 => Segments::F64(segments_of(s.f64()?)),
                DataType::Int64 => Segments::I64(segments_of(s.i64()?)),
                DataType::Int32 => Segments::I32(segments_of(s.i32()?)),
                other => anyhow::bail!("column {:?} is {other}, not numeric", s.name().as_str()),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let mut out = vec![T::default(); rows * width];
    for start in (0..rows).step_by(BLOCK) {
        let end = (start + BLOCK).min(rows);
        let block = &mut out[start * width..end * width];
        for (j, seg) in segs.iter().enumerate() {
            match seg {
                Segments::F32(v) => fill(v, start, end, j, width, block, T::from_f32),
                Segments::F64(v) => fill(v, start, end, j, width, block, T::from_f64),
                Segments::I64(v) => fill(v, start, end, j, width, block, T::from_i64),
                Segments::I32(v) => fill(v, start, end, j, width, block, T::from_i32),
            }
        }
    }
    Ok(tract_ndarray::Array2::from_shape_vec((rows, width), out)?)
}

/// Row-major `[rows, cols]` from column slices. Rows go in blocks so the
/// block of output being written stays in cache while each column is
/// streamed through once.
fn numeric<T>(cols: &[Series], rows: usize) -> anyhow::Result<tract_ndarray::Array2<T::Native>>
where
    T: PolarsNumericType,
{
    const BLOCK: usize = 256;
    let width = cols.len();
    let chunked: Vec<ChunkedArray<T>> = cols
        .iter()
        .map(|s| s.unpack::<T>().map(|ca| ca.rechunk().into_owned()))
        .collect::<PolarsResult<_>>()?;
    let slices: Vec<&[T::Native]> = chunked.iter().map(|ca| ca.cont_slice()).collect::<PolarsResult<_>>()?;
    let mut out = vec![T::Native::default(); rows * width];
    for start in (0..rows).step_by(BLOCK) {
        let end = (start + BLOCK).min(rows);
        let block = &mut out[start * width..end * width];
        for (j, col) in slices.iter().enumerate() {
            for (dst, &v) in block.iter_mut().skip(j).step_by(width).zip(&col[start..end]) {
                *dst = v;
            }
        }
    }
    Ok(tract_ndarray::Array2::from_shape_vec((rows, width), out)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(elem: Elem, cols: &[&str]) -> InputFeed {
        InputFeed { input: "x".into(), elem, columns: cols.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn transposes_columns_into_rows() {
        let n = 600; // more than one block
        let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let b: Vec<i64> = (0..n).map(|i| -(i as i64)).collect();
        let df =
            DataFrame::new_infer_height(vec![Column::new("a b".into(), a), Column::new("c/d (e)".into(), b)])
                .unwrap();
        let feeds = [feed(Elem::F32, &["a b", "c/d (e)"])];
        let mut problems = vec![];
        let cols = convert(&df, &feeds, &|_| Repair::None, &mut problems).unwrap();
        assert!(problems.is_empty());
        let t = tensors(&cols, &feeds).unwrap();
        let v = t[0].to_plain_array_view::<f32>().unwrap();
        assert_eq!(v.shape(), &[n, 2]);
        assert_eq!(v[[599, 0]], 599.0);
        assert_eq!(v[[599, 1]], -599.0);
        assert_eq!(v[[3, 1]], -3.0);
    }

    #[test]
    fn reports_nulls_text_nan_and_fractions_with_their_rows() {
        let df = DataFrame::new_infer_height(vec![
            Column::new("txt".into(), [Some("1.5"), Some("n/a"), None, Some("2")]),
            Column::new("f".into(), [1.0f64, f64::NAN, 2.0, 3.0]),
            Column::new("i".into(), [1.0f64, 2.0, 2.5, 3.0]),
        ])
        .unwrap();
        let mut problems = vec![];
        convert(
            &df,
            &[feed(Elem::F32, &["txt", "f"]), feed(Elem::I64, &["i"])],
            &|_| Repair::None,
            &mut problems,
        )
        .unwrap();
        let found: Vec<(usize, &str, Option<&str>)> =
            problems.iter().map(|p| (p.row, p.column.as_str(), p.value.as_deref())).collect();
        assert_eq!(
            found,
            vec![(1, "txt", Some("n/a")), (2, "txt", None), (1, "f", Some("NaN")), (2, "i", Some("2.5"))]
        );
    }

    #[test]
    fn nan_passes_when_asked() {
        let df = DataFrame::new_infer_height(vec![Column::new("f".into(), [1.0f32, f32::NAN])]).unwrap();
        let mut problems = vec![];
        let cols = convert(&df, &[feed(Elem::F32, &["f"])], &|_| Repair::Nan, &mut problems).unwrap();
        assert!(problems.is_empty());
        let t = tensors(&cols, &[feed(Elem::F32, &["f"])]).unwrap();
        assert!(t[0].to_plain_array_view::<f32>().unwrap()[[1, 0]].is_nan());
    }

    #[test]
    fn fill_replaces_bad_values_and_reports_none() {
        let df =
            DataFrame::new_infer_height(vec![Column::new("txt".into(), [Some("1.5"), Some("n/a"), None])])
                .unwrap();
        let feeds = [feed(Elem::F32, &["txt"])];
        let mut problems = vec![];
        let cols = convert(&df, &feeds, &|_| Repair::Fill(Fill::Number(-1.0)), &mut problems).unwrap();
        assert!(problems.is_empty());
        let t = tensors(&cols, &feeds).unwrap();
        assert_eq!(
            t[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect::<Vec<_>>(),
            [1.5, -1.0, -1.0]
        );
    }

    #[test]
    fn nan_repair_only_applies_to_floats() {
        let df = DataFrame::new_infer_height(vec![
            Column::new("f".into(), [Some(1.0f64), None]),
            Column::new("i".into(), [Some(1i64), None]),
        ])
        .unwrap();
        let mut problems = vec![];
        let cols = convert(
            &df,
            &[feed(Elem::F32, &["f"]), feed(Elem::I64, &["i"])],
            &|_| Repair::Nan,
            &mut problems,
        )
        .unwrap();
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].row, problems[0].column.as_str()), (1, "i"));
        assert!(cols[0][0].f32().unwrap().get(1).unwrap().is_nan());
    }

    #[test]
    fn strings_become_a_string_tensor() {
        let df = DataFrame::new_infer_height(vec![Column::new("city".into(), ["a", "b"])]).unwrap();
        let feeds = [feed(Elem::String, &["city"])];
        let mut problems = vec![];
        let cols = convert(&df, &feeds, &|_| Repair::None, &mut problems).unwrap();
        let t = tensors(&cols, &feeds).unwrap();
        assert_eq!(t[0].to_plain_array_view::<String>().unwrap()[[1, 0]], "b");
    }
}

//! Column-wise preprocessing: `Scaler`, `Imputer`, `Binarizer`, `Normalizer`.

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::attrs::Attrs;
use super::op::{Kernel, boxed, rows_and_width};

pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("Scaler", scaler);
    reg.insert("Imputer", imputer);
    reg.insert("Binarizer", binarizer);
    reg.insert("Normalizer", normalizer);
    reg.insert("FeatureVectorizer", feature_vectorizer);
}

/// Concatenates its inputs' columns into one float tensor, each input
/// cut or zero-padded to its `inputdimensions` width, as onnxruntime does.
#[derive(Clone, Debug, PartialEq)]
struct FeatureVectorizer {
    dims: Vec<usize>,
}

fn feature_vectorizer(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    let dims = a.ints("inputdimensions");
    if dims.len() != node.input.len() || dims.iter().any(|&d| d < 0) {
        bail!("{}: inputdimensions {dims:?} for {} inputs", a.who(), node.input.len());
    }
    Ok((boxed(FeatureVectorizer { dims: dims.into_iter().map(|d| d as usize).collect() }), vec![]))
}

impl Kernel for FeatureVectorizer {
    fn name(&self) -> &'static str {
        "FeatureVectorizer"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.dims.len())?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.dims.iter().sum::<usize>().to_dim())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = if inputs[0].rank() == 1 { 1.to_dim() } else { inputs[0].shape[0].clone() };
        Ok(tvec!(f32::datum_type().fact([rows, self.dims.iter().sum::<usize>().to_dim()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let rows = match inputs[0].shape() {
            [_] => 1,
            [n, ..] => *n,
            [] => 1,
        };
        let width: usize = self.dims.iter().sum();
        let mut out = vec![0f32; rows * width];
        let mut at = 0;
        for (x, &d) in inputs.iter().zip(&self.dims) {
            let (n, w) = rows_and_width(x)?;
            let (n, w) = if x.rank() == 1 { (1, n) } else { (n, w) };
            if n != rows {
                bail!("FeatureVectorizer: an input has {n} rows, the first has {rows}");
            }
            let x = x.cast_to::<f32>()?;
            let v = x.try_as_plain_ram()?.as_slice::<f32>()?;
            for r in 0..rows {
                for c in 0..d.min(w) {
                    out[r * width + at + c] = v[r * w + c];
                }
            }
            at += d;
        }
        Ok(tvec!(Tensor::from_shape(&[rows, width], &out)?.into_tvalue()))
    }
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// y = (x − offset) · scale, per column (one value broadcasts).
    Scaler { offset: Vec<f32>, scale: Vec<f32> },
    /// Values equal to `replaced` (or NaN, when it is NaN) become `imputed`, per column.
    Imputer { imputed: Vec<f32>, replaced: f32 },
    /// y = 1 if x > threshold else 0.
    Binarizer { threshold: f32 },
    /// Each row divided by its max, L1 or L2 norm (left as is when that is 0).
    Normalizer { norm: Norm },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Norm {
    Max,
    L1,
    L2,
}

#[derive(Clone, Debug, PartialEq)]
struct Pre {
    name: &'static str,
    kind: Kind,
}

fn scaler(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    let offset = a.floats("offset");
    let scale = a.floats("scale");
    Ok((boxed(Pre { name: "Scaler", kind: Kind::Scaler { offset, scale } }), vec![]))
}

fn imputer(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    let mut imputed = a.floats("imputed_value_floats");
    let mut replaced = a.float("replaced_value_float").unwrap_or(0.0);
    if imputed.is_empty() {
        imputed = a.ints("imputed_value_int64s").into_iter().map(|v| v as f32).collect();
        replaced = a.int("replaced_value_int64").unwrap_or(0) as f32;
    }
    if imputed.is_empty() {
        bail!("{}: no imputed_value_floats or imputed_value_int64s", a.who());
    }
    Ok((boxed(Pre { name: "Imputer", kind: Kind::Imputer { imputed, replaced } }), vec![]))
}

fn binarizer(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    Ok((
        boxed(Pre {
            name: "Binarizer",
            kind: Kind::Binarizer { threshold: a.float("threshold").unwrap_or(0.0) },
        }),
        vec![],
    ))
}

fn normalizer(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    let norm = match a.string("norm").as_deref().unwrap_or("MAX") {
        "MAX" => Norm::Max,
        "L1" => Norm::L1,
        "L2" => Norm::L2,
        other => bail!("{}: unknown norm {other:?}", a.who()),
    };
    Ok((boxed(Pre { name: "Normalizer", kind: Kind::Normalizer { norm } }), vec![]))
}

/// Per-column parameter: one value broadcasts to every column.
fn at(v: &[f32], j: usize, default: f32) -> f32 {
    match v.len() {
        0 => default,
        1 => v[0],
        _ => v.get(j).copied().unwrap_or(default),
    }
}

impl Pre {
    /// Imputer and Binarizer keep the input type; the others give floats.
    fn keeps_type(&self) -> bool {
        matches!(self.kind, Kind::Imputer { .. } | Kind::Binarizer { .. })
    }

    fn apply(&self, x: &mut [f32], width: usize) {
        match &self.kind {
            Kind::Scaler { offset, scale } => {
                let off: Vec<f32> = (0..width).map(|j| at(offset, j, 0.0)).collect();
                let sc: Vec<f32> = (0..width).map(|j| at(scale, j, 1.0)).collect();
                for row in x.chunks_exact_mut(width) {
                    for ((v, o), s) in row.iter_mut().zip(&off).zip(&sc) {
                        *v = (*v - o) * s;
                    }
                }
            }
            Kind::Imputer { imputed, replaced } => {
                for row in x.chunks_exact_mut(width) {
                    for (j, v) in row.iter_mut().enumerate() {
                        if (replaced.is_nan() && v.is_nan()) || *v == *replaced {
                            *v = at(imputed, j, 0.0);
                        }
                    }
                }
            }
            Kind::Binarizer { threshold } => {
                x.iter_mut().for_each(|v| *v = if *v > *threshold { 1.0 } else { 0.0 })
            }
            Kind::Normalizer { norm } => {
                for row in x.chunks_exact_mut(width) {
                    let d = match norm {
                        Norm::Max => row.iter().copied().fold(f32::MIN, f32::max),
                        Norm::L1 => row.iter().map(|v| v.abs()).sum(),
                        Norm::L2 => row.iter().map(|v| v * v).sum::<f32>().sqrt(),
                    };
                    if d != 0.0 {
                        row.iter_mut().for_each(|v| *v /= d);
                    }
                }
            }
        }
    }
}

impl Kernel for Pre {
    fn name(&self) -> &'static str {
        self.name
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        if self.keeps_type() {
            s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        } else {
            s.equals(&outputs[0].datum_type, f32::datum_type())?;
        }
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let dt = if self.keeps_type() { inputs[0].datum_type } else { f32::datum_type() };
        Ok(tvec!(dt.fact(inputs[0].shape.clone())))
    }

    fn eval(&self, mut inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.remove(0);
        let (_, width) = rows_and_width(&input)?;
        let dt = input.datum_type();
        // Work in place when the input is already f32 and ours alone.
        let mut x =
            if dt == f32::datum_type() { input.into_tensor() } else { input.cast_to::<f32>()?.into_owned() };
        self.apply(x.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?, width.max(1));
        let out =
            if self.keeps_type() && dt != f32::datum_type() { x.cast_to_dt(dt)?.into_owned() } else { x };
        Ok(tvec!(out.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: Kind, x: &[f32], width: usize) -> Vec<f32> {
        let mut x = x.to_vec();
        Pre { name: "t", kind }.apply(&mut x, width);
        x
    }

    #[test]
    fn scaler_per_column_and_broadcast() {
        assert_eq!(
            run(Kind::Scaler { offset: vec![1.0, 2.0], scale: vec![2.0, 0.5] }, &[3.0, 4.0], 2),
            [4.0, 1.0]
        );
        assert_eq!(run(Kind::Scaler { offset: vec![1.0], scale: vec![3.0] }, &[3.0, 4.0], 2), [6.0, 9.0]);
    }

    #[test]
    fn imputer_replaces_nan_or_a_value() {
        assert_eq!(
            run(
                Kind::Imputer { imputed: vec![7.0, 8.0], replaced: f32::NAN },
                &[f32::NAN, 1.0, 2.0, f32::NAN],
                2
            ),
            [7.0, 1.0, 2.0, 8.0]
        );
        assert_eq!(run(Kind::Imputer { imputed: vec![5.0], replaced: -1.0 }, &[-1.0, 3.0], 2), [5.0, 3.0]);
    }

    #[test]
    fn binarizer_and_normalizer() {
        assert_eq!(run(Kind::Binarizer { threshold: 0.5 }, &[0.5, 0.6, -1.0], 3), [0.0, 1.0, 0.0]);
        assert_eq!(
            run(Kind::Normalizer { norm: Norm::L1 }, &[1.0, -3.0, 0.0, 0.0], 2),
            [0.25, -0.75, 0.0, 0.0]
        );
        assert_eq!(run(Kind::Normalizer { norm: Norm::L2 }, &[3.0, 4.0], 2), [0.6, 0.8]);
        assert_eq!(run(Kind::Normalizer { norm: Norm::Max }, &[2.0, 4.0], 2), [0.5, 1.0]);
    }

    #[test]
    fn feature_vectorizer_cuts_and_pads_each_input_to_its_width() {
        let op = FeatureVectorizer { dims: vec![2, 3] };
        let a = Tensor::from_shape(&[2, 3], &[1f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap().into_tvalue();
        let b = Tensor::from_shape(&[2, 1], &[7i64, 8]).unwrap().into_tvalue();
        let out = op.eval(tvec!(a, b)).unwrap();
        assert_eq!(out[0].shape(), &[2, 5]);
        assert_eq!(
            out[0].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
            &[1.0, 2.0, 7.0, 0.0, 0.0, 4.0, 5.0, 8.0, 0.0, 0.0]
        );
    }
}

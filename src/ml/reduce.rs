//! `ReduceLogSumExp`, computed as onnxruntime does: log(Σ exp(x − max)) + max.
//!
//! tract 0.23.9 expands it to exp → sum → ln, which overflows to ±inf as
//! soon as the values are large: a naive Bayes text model's joint
//! log-likelihoods on a long text are in the thousands below zero, exp of
//! them is 0, and every probability became inf where onnxruntime says 0.

use std::sync::OnceLock;

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::attrs::Attrs;
use super::op::{Kernel, boxed};

type Builder = fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// tract's own builder, for axes only known at run time (never seen in
/// converter output, which writes them as an initializer or attribute).
static TRACT: OnceLock<Option<Builder>> = OnceLock::new();

pub fn register(reg: &mut OnnxOpRegister) {
    let _ = TRACT.set(reg.0.get("ReduceLogSumExp").copied());
    reg.insert("ReduceLogSumExp", log_sum_exp);
}

#[derive(Clone, Debug, PartialEq)]
struct LogSumExp {
    /// Empty: every axis.
    axes: Vec<i64>,
    keepdims: bool,
    /// Opset 18+: empty axes means "do nothing" when this is set.
    noop: bool,
}

fn log_sum_exp(ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let a = Attrs::new(node);
    let keepdims = a.int("keepdims").unwrap_or(1) != 0;
    let noop = a.int("noop_with_empty_axes").unwrap_or(0) != 0;
    let axes = match node.input.get(1).filter(|n| !n.is_empty()) {
        None => a.ints("axes"),
        Some(name) => {
            let init = ctx.model.graph.as_ref().and_then(|g| g.initializer.iter().find(|t| &t.name == name));
            match init {
                Some(t) => {
                    let t = ctx.load_tensor(t).with_context(|| format!("{}: axes", a.who()))?;
                    t.cast_to::<i64>()?.try_as_plain_ram()?.as_slice::<i64>()?.to_vec()
                }
                None => match TRACT.get().copied().flatten() {
                    Some(b) => return b(ctx, node),
                    None => bail!("{}: axes {name:?} must be a constant", a.who()),
                },
            }
        }
    };
    Ok((boxed(LogSumExp { axes, keepdims, noop }), vec![]))
}

impl LogSumExp {
    fn axes_for(&self, rank: usize) -> TractResult<Vec<usize>> {
        if self.axes.is_empty() {
            return Ok(if self.noop { vec![] } else { (0..rank).collect() });
        }
        let mut v = self
            .axes
            .iter()
            .map(|&a| {
                let a = if a < 0 { a + rank as i64 } else { a };
                if a < 0 || a >= rank as i64 {
                    bail!("ReduceLogSumExp: axis {a} out of range for rank {rank}");
                }
                Ok(a as usize)
            })
            .collect::<TractResult<Vec<_>>>()?;
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    fn out_shape<D: Clone + From<usize>>(&self, shape: &[D]) -> TractResult<Vec<D>> {
        let axes = self.axes_for(shape.len())?;
        Ok(shape
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match (axes.contains(&i), self.keepdims) {
                (false, _) => Some(d.clone()),
                (true, true) => Some(D::from(1)),
                (true, false) => None,
            })
            .collect())
    }
}

impl Kernel for LogSumExp {
    fn name(&self) -> &'static str {
        "ReduceLogSumExp"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        if inputs.is_empty() || inputs.len() > 2 {
            bail!("ReduceLogSumExp takes 1 or 2 inputs, got {}", inputs.len());
        }
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given(&inputs[0].shape, move |s, shape| {
            let out = self.out_shape(&shape)?;
            s.equals(&outputs[0].shape, ShapeFactoid::from(out))
        })
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape: Vec<TDim> = inputs[0].shape.to_tvec().into_iter().collect();
        Ok(tvec!(inputs[0].datum_type.fact(self.out_shape(&shape)?)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let dt = x.datum_type();
        let x64 = x.cast_to::<f64>()?;
        let view = x64.to_plain_array_view::<f64>()?;
        let axes = self.axes_for(x.rank())?;
        let mut out = view.to_owned();
        // One axis at a time, highest first so the others keep their index.
        for &ax in axes.iter().rev() {
            let ax = tract_ndarray::Axis(ax);
            let max = out.fold_axis(ax, f64::NEG_INFINITY, |m, v| m.max(*v));
            let mut sums = max.clone();
            sums.fill(0.0);
            for (lane, (s, m)) in out.lanes(ax).into_iter().zip(sums.iter_mut().zip(max.iter())) {
                // All -inf (or inf) along the lane: the max alone is the answer.
                *s =
                    if m.is_finite() { lane.iter().map(|v| (v - m).exp()).sum::<f64>().ln() + m } else { *m };
            }
            out = sums;
        }
        let shape = self.out_shape(x.shape())?;
        let t = out.into_shape_with_order(shape)?.into_tensor().cast_to_dt(dt)?.into_owned();
        Ok(tvec!(t.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_do_not_overflow() {
        let op = LogSumExp { axes: vec![1], keepdims: false, noop: false };
        let x = Tensor::from_shape(&[2, 3], &[-5000f32, -5001.0, -6000.0, 1.0, 2.0, 3.0]).unwrap();
        let y = op.eval(tvec!(x.into_tvalue())).unwrap();
        let y = y[0].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        let want0 = -5000.0 + (1.0 + (-1f64).exp()).ln();
        let want1 = 3.0 + ((-2f64).exp() + (-1f64).exp() + 1.0).ln();
        assert!((f64::from(y[0]) - want0).abs() < 1e-3, "{y:?}");
        assert!((f64::from(y[1]) - want1).abs() < 1e-5, "{y:?}");
    }

    #[test]
    fn keepdims_and_all_axes() {
        let op = LogSumExp { axes: vec![], keepdims: true, noop: false };
        let x = Tensor::from_shape(&[2, 2], &[0f32, 0.0, 0.0, 0.0]).unwrap();
        let y = op.eval(tvec!(x.into_tvalue())).unwrap();
        assert_eq!(y[0].shape(), &[1, 1]);
        let v = y[0].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap()[0];
        assert!((v - 4f32.ln()).abs() < 1e-6);
    }
}

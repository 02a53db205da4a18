//! One wrapper that turns a small kernel into a tract operator, for both
//! of tract's stages: inference rules while the graph is being typed, and
//! a typed, evaluable op in the optimized plan.

use std::fmt::Debug;

use tract_hir::internal::*;

pub trait Kernel: Debug + Clone + PartialEq + Send + Sync + 'static {
    fn name(&self) -> &'static str;

    fn n_outputs(&self) -> usize {
        1
    }

    /// Output types and shapes from input ones, while the graph is typed.
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult;

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>>;

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct MlOp<K: Kernel>(pub K);

// tract compares ops to merge duplicates; a kernel holding a NaN parameter
// is merely never merged.
impl<K: Kernel> Eq for MlOp<K> {}

impl<K: Kernel> Op for MlOp<K> {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    op_as_typed_op!();
}

impl<K: Kernel> EvalOp for MlOp<K> {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.0.eval(inputs)
    }

    op_out_of_plan!();
}

impl<K: Kernel> TypedOp for MlOp<K> {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.0.output_facts(inputs)
    }

    as_op!();
}

impl<K: Kernel> InferenceRulesOp for MlOp<K> {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        self.0.rules(s, inputs, outputs)
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.0.n_outputs())
    }

    as_op!();
    to_typed!();
}

/// The boxed form tract's op registry wants.
pub fn boxed<K: Kernel>(k: K) -> Box<dyn InferenceOp> {
    Box::new(MlOp(k))
}

/// The rows of a `[N, F]` (or `[N]`) input as f32 or f64, whatever the
/// numeric type it arrives in.
pub fn rows_and_width(t: &Tensor) -> TractResult<(usize, usize)> {
    Ok(match t.shape() {
        [n] => (*n, 1),
        [n, f] => (*n, *f),
        [n, rest @ ..] => (*n, rest.iter().product()),
        [] => (1, 1),
    })
}

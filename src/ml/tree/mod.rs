//! Tree ensembles: `TreeEnsembleClassifier` and `TreeEnsembleRegressor`
//! (ai.onnx.ml 1 and 3) and `TreeEnsemble` (ai.onnx.ml 5), with
//! onnxruntime's semantics, including its expansion of the binary case.
//!
//! `parse` reads the three attribute forms into one neutral [`Forest`];
//! `kernel` lays it out for speed and sums leaf weights; `finalize` turns
//! per-row sums into labels, probabilities or values.

mod finalize;
mod kernel;
mod parse;

use std::sync::Arc;

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::ClassLabels;
use super::op::{Kernel, boxed};
pub use finalize::{Aggregate, PostTransform, logistic, transform};
use kernel::Trees;

pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("TreeEnsembleClassifier", classifier);
    reg.insert("TreeEnsembleRegressor", regressor);
    reg.insert("TreeEnsemble", ensemble5);
}

/// How a node splits, as ONNX names the modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Member,
    Leaf,
}

/// One node, before layout. Children are indices into `Forest::nodes`.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub mode: Mode,
    pub feature: usize,
    pub value: f64,
    pub yes: usize,
    pub no: usize,
    pub missing_true: bool,
    /// BRANCH_MEMBER: the set.
    pub members: Vec<f64>,
    /// Leaves: (target or class, weight).
    pub weights: Vec<(usize, f64)>,
}

impl NodeSpec {
    pub fn leaf() -> NodeSpec {
        NodeSpec {
            mode: Mode::Leaf,
            feature: 0,
            value: 0.0,
            yes: 0,
            no: 0,
            missing_true: false,
            members: vec![],
            weights: vec![],
        }
    }
}

/// A whole ensemble as the attributes describe it.
#[derive(Clone, Debug)]
pub struct Forest {
    pub nodes: Vec<NodeSpec>,
    pub roots: Vec<usize>,
    pub n_targets: usize,
    pub aggregate: Aggregate,
    pub post: PostTransform,
    pub base_values: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
enum Role {
    /// Labels `[N]` and probabilities `[N, C]`.
    Classifier(ClassLabels),
    /// `[N, n_targets]` float32 (ml 1 and 3).
    Regressor,
    /// `[N, n_targets]` in the input's float type (ml 5).
    Ensemble,
}

#[derive(Clone, Debug)]
pub struct TreeOp {
    name: &'static str,
    role: Role,
    forest: Arc<Forest>,
    f32_trees: Arc<Trees<f32>>,
    f64_trees: Arc<Trees<f64>>,
    finalizer: Arc<finalize::Finalizer>,
}

impl PartialEq for TreeOp {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.role == other.role && Arc::ptr_eq(&self.forest, &other.forest)
    }
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

fn build(name: &'static str, role: Role, forest: Forest, who: &str) -> Built {
    let f32_trees = Arc::new(Trees::<f32>::compile(&forest).with_context(|| who.to_owned())?);
    let f64_trees = Arc::new(Trees::<f64>::compile(&forest).with_context(|| who.to_owned())?);
    let classes = match &role {
        Role::Classifier(l) => Some(l.len()),
        _ => None,
    };
    let finalizer = Arc::new(finalize::Finalizer::new(&forest, classes));
    Ok((boxed(TreeOp { name, role, forest: Arc::new(forest), f32_trees, f64_trees, finalizer }), vec![]))
}

fn who(node: &NodeProto) -> String {
    format!("node {:?} ({})", node.name, node.op_type)
}

fn classifier(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let (forest, labels) = parse::classifier(ctx, node)?;
    build("TreeEnsembleClassifier", Role::Classifier(labels), forest, &who(node))
}

fn regressor(ctx: &ParsingContext, node: &NodeProto) -> Built {
    build("TreeEnsembleRegressor", Role::Regressor, parse::regressor(ctx, node)?, &who(node))
}

fn ensemble5(ctx: &ParsingContext, node: &NodeProto) -> Built {
    build("TreeEnsemble", Role::Ensemble, parse::ensemble5(ctx, node)?, &who(node))
}

impl TreeOp {
    fn n_columns(&self) -> usize {
        match &self.role {
            Role::Classifier(l) => l.len(),
            _ => self.forest.n_targets,
        }
    }

    fn label_type(&self) -> DatumType {
        match &self.role {
            Role::Classifier(ClassLabels::Str(_)) => String::datum_type(),
            _ => i64::datum_type(),
        }
    }

    fn value_type(&self, input: DatumType) -> DatumType {
        match self.role {
            Role::Ensemble if input == f64::datum_type() => f64::datum_type(),
            _ => f32::datum_type(),
        }
    }
}

impl Kernel for TreeOp {
    fn name(&self) -> &'static str {
        self.name
    }

    fn n_outputs(&self) -> usize {
        if matches!(self.role, Role::Classifier(_)) { 2 } else { 1 }
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, self.n_outputs())?;
        let cols = self.n_columns().to_dim();
        let values = if matches!(self.role, Role::Classifier(_)) { &outputs[1] } else { &outputs[0] };
        if let Role::Classifier(_) = self.role {
            s.equals(&outputs[0].datum_type, self.label_type())?;
            s.equals(&outputs[0].rank, 1)?;
            s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        }
        if self.role == Role::Ensemble {
            s.given(&inputs[0].datum_type, move |s, dt| {
                let out = if dt == f64::datum_type() { dt } else { f32::datum_type() };
                s.equals(&values.datum_type, out)
            })?;
        } else {
            s.equals(&values.datum_type, f32::datum_type())?;
        }
        s.equals(&values.rank, 2)?;
        s.equals(&values.shape[0], &inputs[0].shape[0])?;
        s.equals(&values.shape[1], cols)?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape.iter().next().cloned().unwrap_or_else(|| 1.to_dim());
        let values = self.value_type(inputs[0].datum_type).fact([n.clone(), self.n_columns().to_dim()]);
        Ok(match self.role {
            Role::Classifier(_) => tvec!(self.label_type().fact([n]), values),
            _ => tvec!(values),
        })
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, width) = super::op::rows_and_width(x)?;
        // Thresholds in the input's precision, as onnxruntime compares them.
        let sums: kernel::Sums = if x.datum_type() == f64::datum_type() {
            self.f64_trees.sums(x.try_as_plain_ram()?.as_slice::<f64>()?, rows, width)?
        } else if x.datum_type() == f32::datum_type() {
            self.f32_trees.sums(x.try_as_plain_ram()?.as_slice::<f32>()?, rows, width)?
        } else {
            let cast = x.cast_to::<f32>()?;
            self.f32_trees.sums(cast.try_as_plain_ram()?.as_slice::<f32>()?, rows, width)?
        };
        let cols = self.n_columns();
        let mut values = vec![0f64; rows * cols];
        match &self.role {
            Role::Classifier(labels) => {
                let mut winners = Vec::with_capacity(rows);
                for (r, out) in values.chunks_mut(cols.max(1)).enumerate().take(rows) {
                    winners.push(self.finalizer.classify(sums.row(r), sums.has_row(r), out));
                }
                let labels = match labels {
                    ClassLabels::Int(v) => {
                        tract_ndarray::Array1::from_iter(winners.iter().map(|&w| v[w])).into_tensor()
                    }
                    ClassLabels::Str(v) => {
                        tract_ndarray::Array1::from_iter(winners.iter().map(|&w| v[w].clone())).into_tensor()
                    }
                };
                let probs: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
                let probs = tract_ndarray::Array2::from_shape_vec((rows, cols), probs)?.into_tensor();
                Ok(tvec!(labels.into_tvalue(), probs.into_tvalue()))
            }
            Role::Regressor | Role::Ensemble => {
                for (r, out) in values.chunks_mut(cols.max(1)).enumerate().take(rows) {
                    self.finalizer.regress(sums.row(r), sums.has_row(r), out);
                }
                let t = if self.value_type(x.datum_type()) == f64::datum_type() {
                    tract_ndarray::Array2::from_shape_vec((rows, cols), values)?.into_tensor()
                } else {
                    let v: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
                    tract_ndarray::Array2::from_shape_vec((rows, cols), v)?.into_tensor()
                };
                Ok(tvec!(t.into_tvalue()))
            }
        }
    }
}

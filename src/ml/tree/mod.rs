//! Tree ensembles: `TreeEnsembleClassifier` and `TreeEnsembleRegressor`
//! (ai.onnx.ml 1 and 3) and `TreeEnsemble` (ai.onnx.ml 5), with
//! onnxruntime's semantics, including its expansion of the binary case.
//!
//! `parse` reads the three attribute forms into one neutral [`Forest`]
//! (`forest`); `kernel` lays it out for speed and sums leaf weights;
//! `finalize` turns per-row sums into labels, probabilities or values.
//!
//! The kernel is in layers, each importing only those below it: `node`
//! (how a split is encoded, shared by all three ways), then the ways
//! themselves, the pointer `walk`, `complete` trees and `quick`
//! (QuickScorer), beside `leaves` (the weights every way adds the same),
//! and on top `kernel`, which chooses between the ways and times them.
//! `tests` checks every way against the walk and the spec.

mod complete;
mod finalize;
mod forest;
mod kernel;
mod leaves;
mod node;
mod parse;
mod quick;
#[cfg(test)]
mod tests;
mod walk;

use std::sync::{Arc, PoisonError, RwLock};

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::ClassLabels;
use super::op::{Kernel, boxed};
pub use finalize::{logistic, transform};
use forest::Forest;
pub use forest::PostTransform;
pub use kernel::TreePath;
use kernel::Trees;

/// The way tree operators built from now on take through their trees: the
/// binary's edge sets it from BATCHSCORE_TREE_PATH; everything else
/// (tests included) gets the timed choice, whatever the environment holds.
static TREE_PATH: RwLock<TreePath> = RwLock::new(TreePath::Timed);

/// Sets the way through the trees for every tree model loaded after.
#[doc(hidden)]
pub fn set_tree_path(path: TreePath) {
    *TREE_PATH.write().unwrap_or_else(PoisonError::into_inner) = path;
}

fn tree_path() -> TreePath {
    *TREE_PATH.read().unwrap_or_else(PoisonError::into_inner)
}

impl TreePath {
    /// The developer knob BATCHSCORE_TREE_PATH: `walk`, `complete` or
    /// `quick` forces that way; unset (or empty), the timed choice. Any
    /// other value is an error that names it, not a silent timed choice
    /// the developer would measure instead.
    pub fn from_env() -> anyhow::Result<TreePath> {
        Self::named(std::env::var_os("BATCHSCORE_TREE_PATH").as_deref())
    }

    /// `from_env`, given the variable's value.
    fn named(value: Option<&std::ffi::OsStr>) -> anyhow::Result<TreePath> {
        let Some(value) = value else { return Ok(TreePath::Timed) };
        Ok(match value.to_str() {
            Some("") => TreePath::Timed,
            Some("walk") => TreePath::Walk,
            Some("complete") => TreePath::Complete,
            Some("quick") => TreePath::Quick,
            _ => anyhow::bail!("BATCHSCORE_TREE_PATH={value:?} is not walk, complete or quick"),
        })
    }
}

pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("TreeEnsembleClassifier", classifier);
    reg.insert("TreeEnsembleRegressor", regressor);
    reg.insert("TreeEnsemble", ensemble5);
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
    let path = tree_path();
    let f32_trees = Arc::new(Trees::<f32>::compile(&forest, path).with_context(|| who.to_owned())?);
    let f64_trees = Arc::new(Trees::<f64>::compile(&forest, path).with_context(|| who.to_owned())?);
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
        let mut sums: kernel::Sums = if x.datum_type() == f64::datum_type() {
            self.f64_trees.sums(x.try_as_plain_ram()?.as_slice::<f64>()?, rows, width)?
        } else if x.datum_type() == f32::datum_type() {
            self.f32_trees.sums(x.try_as_plain_ram()?.as_slice::<f32>()?, rows, width)?
        } else {
            let cast = x.cast_to::<f32>()?;
            self.f32_trees.sums(cast.try_as_plain_ram()?.as_slice::<f32>()?, rows, width)?
        };
        if self.value_type(x.datum_type()) == f32::datum_type() {
            sums.round_to_f32();
        }
        let cols = self.n_columns();
        let f64_out = self.value_type(x.datum_type()) == f64::datum_type();
        let column = if self.finalizer.by_column() { sums.column(0) } else { None };
        match &self.role {
            Role::Classifier(labels) => {
                let (probs, winners) = match column.and_then(|c| self.finalizer.binary_column(&c)) {
                    Some(column) => column,
                    None => {
                        let mut values = vec![0f64; rows * cols];
                        let mut winners = Vec::with_capacity(rows);
                        for (r, out) in values.chunks_mut(cols.max(1)).enumerate().take(rows) {
                            winners.push(self.finalizer.classify(sums.row(r), sums.has_row(r), out));
                        }
                        (values.into_iter().map(|v| v as f32).collect(), winners)
                    }
                };
                let labels = match labels {
                    ClassLabels::Int(v) => {
                        tract_ndarray::Array1::from_iter(winners.iter().map(|&w| v[w])).into_tensor()
                    }
                    ClassLabels::Str(v) => {
                        tract_ndarray::Array1::from_iter(winners.iter().map(|&w| v[w].clone())).into_tensor()
                    }
                };
                let probs = tract_ndarray::Array2::from_shape_vec((rows, cols), probs)?.into_tensor();
                Ok(tvec!(labels.into_tvalue(), probs.into_tvalue()))
            }
            Role::Regressor | Role::Ensemble => {
                let values = match column.and_then(|c| self.finalizer.regress_column(&c)) {
                    Some(values) => values,
                    None => {
                        let mut values = vec![0f64; rows * cols];
                        for (r, out) in values.chunks_mut(cols.max(1)).enumerate().take(rows) {
                            self.finalizer.regress(sums.row(r), sums.has_row(r), out);
                        }
                        values
                    }
                };
                let t = if f64_out {
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

#[cfg(test)]
mod op_tests {
    use super::TreePath;
    use crate::ml::testutil::*;

    #[test]
    fn the_tree_path_knob_names_a_value_it_does_not_know() {
        let named = |v: &str| TreePath::named(Some(v.as_ref()));
        assert_eq!(TreePath::named(None).unwrap(), TreePath::Timed);
        assert_eq!(named("").unwrap(), TreePath::Timed);
        assert_eq!(named("walk").unwrap(), TreePath::Walk);
        assert_eq!(named("complete").unwrap(), TreePath::Complete);
        assert_eq!(named("quick").unwrap(), TreePath::Quick);
        let err = named("quik").unwrap_err().to_string();
        assert_eq!(err, "BATCHSCORE_TREE_PATH=\"quik\" is not walk, complete or quick");
    }

    /// One stump on feature 0 at 0.5: left leaf (x <= 0.5) and right leaf.
    fn stump(weights: (&str, Vec<i64>, Vec<f32>)) -> Vec<tract_onnx::pb::AttributeProto> {
        let (kind, ids, w) = weights;
        vec![
            ints("nodes_treeids", &[0, 0, 0]),
            ints("nodes_nodeids", &[0, 1, 2]),
            ints("nodes_featureids", &[0, 0, 0]),
            floats("nodes_values", &[0.5, 0.0, 0.0]),
            strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF"]),
            ints("nodes_truenodeids", &[1, 0, 0]),
            ints("nodes_falsenodeids", &[2, 0, 0]),
            ints(&format!("{kind}_treeids"), &vec![0; ids.len()]),
            ints(&format!("{kind}_nodeids"), &ids),
            ints(&format!("{kind}_ids"), &vec![0; ids.len()]),
            floats(&format!("{kind}_weights"), &w),
        ]
    }

    #[test]
    fn binary_forest_votes_expand_to_two_columns_and_the_right_label() {
        // A random forest's single score: P(class 1) = 0.3 on the left, 0.8 on the right.
        let mut attrs = stump(("class", vec![1, 2], vec![0.3, 0.8]));
        attrs.push(ints("classlabels_int64s", &[10, 20]));
        let out = run_node("TreeEnsembleClassifier", attrs, 2, &[0.0, 1.0], 1);
        assert_eq!(out[0].try_as_plain_ram().unwrap().as_slice::<i64>().unwrap(), &[10, 20]);
        let p = out[1].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        assert!(
            (p[0] - 0.7).abs() < 1e-6
                && (p[1] - 0.3).abs() < 1e-6
                && (p[2] - 0.2).abs() < 1e-6
                && (p[3] - 0.8).abs() < 1e-6,
            "{p:?}"
        );
    }

    #[test]
    fn binary_boosting_margin_with_one_base_value_and_logistic() {
        // A GBDT's margin: -1 left, +2 right, base 0.5, LOGISTIC: labels on the margin's sign.
        let mut attrs = stump(("class", vec![1, 2], vec![-1.0, 2.0]));
        attrs.push(strings("classlabels_strings", &["no", "yes"]));
        attrs.push(floats("base_values", &[0.5]));
        attrs.push(string("post_transform", "LOGISTIC"));
        let out = run_node("TreeEnsembleClassifier", attrs, 2, &[0.0, 1.0], 1);
        assert_eq!(
            out[0].try_as_plain_ram().unwrap().as_slice::<String>().unwrap(),
            &["no".to_string(), "yes".to_string()]
        );
        let p = out[1].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        let s = |v: f32| 1.0 / (1.0 + (-v).exp());
        assert!((p[1] - s(-0.5)).abs() < 1e-6 && (p[0] - s(0.5)).abs() < 1e-6, "{p:?}");
        assert!((p[3] - s(2.5)).abs() < 1e-6 && (p[2] - s(-2.5)).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn regressor_aggregates() {
        // Two trees: the same stump, with leaves (1, 5) and (3, 2).
        let two_trees = |agg: &str| {
            let mut a = vec![
                ints("nodes_treeids", &[0, 0, 0, 1, 1, 1]),
                ints("nodes_nodeids", &[0, 1, 2, 0, 1, 2]),
                ints("nodes_featureids", &[0; 6]),
                floats("nodes_values", &[0.5, 0.0, 0.0, 0.5, 0.0, 0.0]),
                strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"]),
                ints("nodes_truenodeids", &[1, 0, 0, 1, 0, 0]),
                ints("nodes_falsenodeids", &[2, 0, 0, 2, 0, 0]),
                ints("target_treeids", &[0, 0, 1, 1]),
                ints("target_nodeids", &[1, 2, 1, 2]),
                ints("target_ids", &[0; 4]),
                floats("target_weights", &[1.0, 5.0, 3.0, 2.0]),
                floats("base_values", &[10.0]),
            ];
            a.push(string("aggregate_function", agg));
            let out = run_node("TreeEnsembleRegressor", a, 1, &[0.0, 1.0], 1);
            out[0].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec()
        };
        assert_eq!(two_trees("SUM"), [14.0, 17.0]);
        assert_eq!(two_trees("AVERAGE"), [12.0, 13.5]);
        assert_eq!(two_trees("MIN"), [11.0, 12.0]);
        assert_eq!(two_trees("MAX"), [13.0, 15.0]);
    }

    #[test]
    fn three_classes_softmax_and_argmax() {
        // Each leaf votes for one class; base values break nothing.
        let attrs = vec![
            ints("nodes_treeids", &[0, 0, 0]),
            ints("nodes_nodeids", &[0, 1, 2]),
            ints("nodes_featureids", &[0, 0, 0]),
            floats("nodes_values", &[0.5, 0.0, 0.0]),
            strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF"]),
            ints("nodes_truenodeids", &[1, 0, 0]),
            ints("nodes_falsenodeids", &[2, 0, 0]),
            ints("class_treeids", &[0, 0]),
            ints("class_nodeids", &[1, 2]),
            ints("class_ids", &[0, 2]),
            floats("class_weights", &[2.0, 1.0]),
            ints("classlabels_int64s", &[0, 1, 2]),
            string("post_transform", "SOFTMAX"),
        ];
        let out = run_node("TreeEnsembleClassifier", attrs, 2, &[0.0, 1.0], 1);
        assert_eq!(out[0].try_as_plain_ram().unwrap().as_slice::<i64>().unwrap(), &[0, 2]);
        let p = out[1].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        let e2 = 2f32.exp();
        assert!((p[0] - e2 / (e2 + 2.0)).abs() < 1e-6 && (p[1] - 1.0 / (e2 + 2.0)).abs() < 1e-6, "{p:?}");
        let e1 = 1f32.exp();
        assert!((p[5] - e1 / (e1 + 2.0)).abs() < 1e-6, "{p:?}");
    }
}

//! Our ONNX-ML operator layer, registered into tract's op registry by op
//! name. tract 0.23.9 lacks most ai.onnx.ml operators and gets tree
//! ensembles wrong (binary labels, BRANCH_GTE) and slow; these replace or
//! add them with onnxruntime's semantics. No tract code is copied or forked:
//! each op is a small kernel behind one wrapper (`op`).

mod attrs;
mod encoding;
mod linear;
pub mod missing;
mod op;
mod preprocess;
mod reduce;
#[cfg(test)]
mod testutil;
mod text;
mod tree;
mod zipmap;

use tract_onnx::pb;

pub use text::fuse as fuse_text;
#[doc(hidden)]
pub use tree::{TreePath, set_tree_path};
pub use zipmap::strip_zipmap;

/// Op types this layer implements (and so, where tract has its own, replaces).
pub const OUR_OPS: &[&str] = &[
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "TreeEnsemble",
    "Scaler",
    "Imputer",
    "Binarizer",
    "Normalizer",
    "FeatureVectorizer",
    "OneHotEncoder",
    "LabelEncoder",
    "LinearClassifier",
    "LinearRegressor",
    "SVMClassifier",
    "SVMRegressor",
    "StringNormalizer",
    "Tokenizer",
    "TfIdfVectorizer",
    "ReduceLogSumExp",
];

/// tract's ONNX loader with our operators in its registry.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    tree::register(&mut onnx.op_register);
    preprocess::register(&mut onnx.op_register);
    encoding::register(&mut onnx.op_register);
    linear::register(&mut onnx.op_register);
    text::register(&mut onnx.op_register);
    reduce::register(&mut onnx.op_register);
    onnx
}

/// A classifier's class labels, which name its probability columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClassLabels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl ClassLabels {
    pub fn len(&self) -> usize {
        match self {
            ClassLabels::Int(v) => v.len(),
            ClassLabels::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const CLASSIFIERS: &[&str] = &["TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier"];

/// The classes of the graph's last classifier node, for naming probability
/// columns when there is no ZipMap to name them.
pub fn class_labels(model: &pb::ModelProto) -> Option<ClassLabels> {
    let graph = model.graph.as_ref()?;
    let node = graph.node.iter().rev().find(|n| CLASSIFIERS.contains(&n.op_type.as_str()))?;
    let a = attrs::Attrs::new(node);
    if a.has("classlabels_strings") {
        Some(ClassLabels::Str(a.strings("classlabels_strings")))
    } else if a.has("classlabels_ints") {
        Some(ClassLabels::Int(a.ints("classlabels_ints")))
    } else if a.has("classlabels_int64s") {
        Some(ClassLabels::Int(a.ints("classlabels_int64s")))
    } else {
        None
    }
}

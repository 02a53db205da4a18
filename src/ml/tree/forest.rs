//! A tree ensemble as its attributes describe it, before any layout: what
//! `parse` makes of the three attribute forms and everything downstream
//! reads. Its own module, below all of them, so none imports another's
//! types to name it.

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    pub fn parse(s: &str) -> anyhow::Result<PostTransform> {
        Ok(match s {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            other => anyhow::bail!("unknown post_transform {other:?}"),
        })
    }
}

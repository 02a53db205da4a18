//! Attributes → [`Forest`], for the three ONNX forms of a tree ensemble.

use std::collections::HashMap;

use tract_hir::internal::*;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;

use super::forest::{Aggregate, Forest, Mode, NodeSpec, PostTransform};
use crate::ml::ClassLabels;
use crate::ml::attrs::Attrs;

fn mode_of(a: &Attrs, s: &str) -> TractResult<Mode> {
    Ok(match s {
        "BRANCH_LEQ" => Mode::Leq,
        "BRANCH_LT" => Mode::Lt,
        "BRANCH_GTE" => Mode::Gte,
        "BRANCH_GT" => Mode::Gt,
        "BRANCH_EQ" => Mode::Eq,
        "BRANCH_NEQ" => Mode::Neq,
        "LEAF" => Mode::Leaf,
        other => bail!("{}: unknown node mode {other:?}", a.who()),
    })
}

/// Nodes of the ml 1/3 forms, addressed by (tree id, node id), with the
/// leaf weights of `prefix` ("class" or "target") attached.
fn nodes_v3(ctx: &ParsingContext, a: &Attrs, prefix: &str) -> TractResult<(Vec<NodeSpec>, Vec<usize>)> {
    let tree_ids = a.ints("nodes_treeids");
    let node_ids = a.ints("nodes_nodeids");
    let n = tree_ids.len();
    let features = a.ints("nodes_featureids");
    let values = a.doubles(ctx, "nodes_values")?;
    let modes = a.strings("nodes_modes");
    let yes = a.ints("nodes_truenodeids");
    let no = a.ints("nodes_falsenodeids");
    let missing = a.ints("nodes_missing_value_tracks_true");
    a.expect_len("nodes_nodeids", &node_ids, n)?;
    a.expect_len("nodes_featureids", &features, n)?;
    a.expect_len("nodes_modes", &modes, n)?;
    a.expect_len("nodes_truenodeids", &yes, n)?;
    a.expect_len("nodes_falsenodeids", &no, n)?;
    if !values.is_empty() {
        a.expect_len("nodes_values", &values, n)?;
    }
    if !missing.is_empty() {
        a.expect_len("nodes_missing_value_tracks_true", &missing, n)?;
    }
    let mut index = HashMap::with_capacity(n);
    for i in 0..n {
        if index.insert((tree_ids[i], node_ids[i]), i).is_some() {
            bail!("{}: node ({}, {}) is defined twice", a.who(), tree_ids[i], node_ids[i]);
        }
    }
    let child = |i: usize, id: i64, which: &str| -> TractResult<usize> {
        index.get(&(tree_ids[i], id)).copied().with_context(|| {
            format!(
                "{}: node ({}, {}) has {which} child {id}, which does not exist",
                a.who(),
                tree_ids[i],
                node_ids[i]
            )
        })
    };
    let mut nodes = Vec::with_capacity(n);
    let mut is_child = vec![false; n];
    for i in 0..n {
        let mode = mode_of(a, &modes[i])?;
        let mut spec = NodeSpec::leaf();
        if mode != Mode::Leaf {
            spec = NodeSpec {
                mode,
                feature: usize::try_from(features[i])
                    .map_err(|_| format_err!("{}: negative feature id", a.who()))?,
                value: values.get(i).copied().unwrap_or(0.0),
                yes: child(i, yes[i], "true")?,
                no: child(i, no[i], "false")?,
                missing_true: missing.get(i).is_some_and(|&m| m != 0),
                members: vec![],
                weights: vec![],
            };
            is_child[spec.yes] = true;
            is_child[spec.no] = true;
        }
        nodes.push(spec);
    }
    // Leaf weights.
    let w_trees = a.ints(&format!("{prefix}_treeids"));
    let w_nodes = a.ints(&format!("{prefix}_nodeids"));
    let w_ids = a.ints(&format!("{prefix}_ids"));
    let w = a.doubles(ctx, &format!("{prefix}_weights"))?;
    a.expect_len(&format!("{prefix}_nodeids"), &w_nodes, w_trees.len())?;
    a.expect_len(&format!("{prefix}_ids"), &w_ids, w_trees.len())?;
    a.expect_len(&format!("{prefix}_weights"), &w, w_trees.len())?;
    for k in 0..w_trees.len() {
        let i = *index.get(&(w_trees[k], w_nodes[k])).with_context(|| {
            format!(
                "{}: weight {k} points at node ({}, {}), which does not exist",
                a.who(),
                w_trees[k],
                w_nodes[k]
            )
        })?;
        let target =
            usize::try_from(w_ids[k]).map_err(|_| format_err!("{}: negative {prefix} id", a.who()))?;
        nodes[i].weights.push((target, w[k]));
    }
    // Roots: nodes no other node points at, one per tree, in the order the trees appear.
    let mut roots = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..n {
        if !is_child[i] {
            if !seen.insert(tree_ids[i]) {
                bail!("{}: tree {} has more than one root", a.who(), tree_ids[i]);
            }
            roots.push(i);
        }
    }
    Ok((nodes, roots))
}

fn base_values(ctx: &ParsingContext, a: &Attrs) -> TractResult<Vec<f64>> {
    a.doubles(ctx, "base_values")
}

fn post_of(a: &Attrs) -> TractResult<PostTransform> {
    PostTransform::parse(a.string("post_transform").as_deref().unwrap_or("NONE")).with_context(|| a.who())
}

fn check_targets(a: &Attrs, nodes: &[NodeSpec], n: usize, what: &str) -> TractResult<()> {
    if let Some((t, _)) = nodes.iter().flat_map(|n| n.weights.iter()).find(|(t, _)| *t >= n) {
        bail!("{}: a leaf names {what} {t}, but there are only {n}", a.who());
    }
    Ok(())
}

pub fn classifier(ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Forest, ClassLabels)> {
    let a = Attrs::new(node);
    let (nodes, roots) = nodes_v3(ctx, &a, "class")?;
    let labels = if a.has("classlabels_strings") {
        ClassLabels::Str(a.strings("classlabels_strings"))
    } else {
        ClassLabels::Int(a.ints("classlabels_int64s"))
    };
    if labels.is_empty() {
        bail!("{}: no classlabels_int64s or classlabels_strings", a.who());
    }
    check_targets(&a, &nodes, labels.len(), "class")?;
    let forest = Forest {
        nodes,
        roots,
        n_targets: labels.len(),
        aggregate: Aggregate::Sum,
        post: post_of(&a)?,
        base_values: base_values(ctx, &a)?,
    };
    Ok((forest, labels))
}

pub fn regressor(ctx: &ParsingContext, node: &NodeProto) -> TractResult<Forest> {
    let a = Attrs::new(node);
    let (nodes, roots) = nodes_v3(ctx, &a, "target")?;
    let n_targets = usize::try_from(a.int("n_targets").unwrap_or(1))
        .map_err(|_| format_err!("{}: bad n_targets", a.who()))?;
    check_targets(&a, &nodes, n_targets, "target")?;
    let aggregate = match a.string("aggregate_function").as_deref().unwrap_or("SUM") {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => bail!("{}: unknown aggregate_function {other:?}", a.who()),
    };
    let base_values = base_values(ctx, &a)?;
    if !base_values.is_empty() && base_values.len() != n_targets {
        bail!("{}: {} base_values for {n_targets} targets", a.who(), base_values.len());
    }
    Ok(Forest { nodes, roots, n_targets, aggregate, post: post_of(&a)?, base_values })
}

/// ai.onnx.ml 5 `TreeEnsemble`: leaves are a separate list; node modes and
/// aggregate/post-transform are integers.
pub fn ensemble5(ctx: &ParsingContext, node: &NodeProto) -> TractResult<Forest> {
    let a = Attrs::new(node);
    let splits =
        a.tensor_f64(ctx, "nodes_splits")?.with_context(|| format!("{}: no nodes_splits", a.who()))?;
    let n = splits.len();
    let modes = a.tensor_f64(ctx, "nodes_modes")?.with_context(|| format!("{}: no nodes_modes", a.who()))?;
    let features = a.ints("nodes_featureids");
    let yes = a.ints("nodes_truenodeids");
    let no = a.ints("nodes_falsenodeids");
    let yes_leaf = a.ints("nodes_trueleafs");
    let no_leaf = a.ints("nodes_falseleafs");
    let missing = a.ints("nodes_missing_value_tracks_true");
    for (name, len) in [
        ("nodes_modes", modes.len()),
        ("nodes_featureids", features.len()),
        ("nodes_truenodeids", yes.len()),
        ("nodes_falsenodeids", no.len()),
        ("nodes_trueleafs", yes_leaf.len()),
        ("nodes_falseleafs", no_leaf.len()),
    ] {
        if len != n {
            bail!("{}: attribute {name} has {len} values, expected {n}", a.who());
        }
    }
    let leaf_targets = a.ints("leaf_targetids");
    let leaf_weights = a.tensor_f64(ctx, "leaf_weights")?.unwrap_or_default();
    a.expect_len("leaf_weights", &leaf_weights, leaf_targets.len())?;
    let mut members = a.tensor_f64(ctx, "membership_values")?.unwrap_or_default().into_iter();
    let n_leaves = leaf_targets.len();
    let mut nodes = Vec::with_capacity(n + n_leaves);
    let child = |ix: i64, leaf: bool| -> TractResult<usize> {
        let ix = usize::try_from(ix).map_err(|_| format_err!("{}: negative child index", a.who()))?;
        let (limit, at) = if leaf { (n_leaves, n + ix) } else { (n, ix) };
        if ix >= limit {
            bail!(
                "{}: child {ix} is out of range ({limit} {})",
                a.who(),
                if leaf { "leaves" } else { "nodes" }
            );
        }
        Ok(at)
    };
    for i in 0..n {
        let mode = match modes[i] as i64 {
            0 => Mode::Leq,
            1 => Mode::Lt,
            2 => Mode::Gte,
            3 => Mode::Gt,
            4 => Mode::Eq,
            5 => Mode::Neq,
            6 => Mode::Member,
            m => bail!("{}: unknown node mode {m}", a.who()),
        };
        let set = if mode == Mode::Member {
            members.by_ref().take_while(|v| !v.is_nan()).collect()
        } else {
            vec![]
        };
        nodes.push(NodeSpec {
            mode,
            feature: usize::try_from(features[i])
                .map_err(|_| format_err!("{}: negative feature id", a.who()))?,
            value: splits[i],
            yes: child(yes[i], yes_leaf[i] != 0)?,
            no: child(no[i], no_leaf[i] != 0)?,
            missing_true: missing.get(i).is_some_and(|&m| m != 0),
            members: set,
            weights: vec![],
        });
    }
    let n_targets = usize::try_from(a.int("n_targets").unwrap_or(1))
        .map_err(|_| format_err!("{}: bad n_targets", a.who()))?;
    for k in 0..n_leaves {
        let mut leaf = NodeSpec::leaf();
        let t =
            usize::try_from(leaf_targets[k]).map_err(|_| format_err!("{}: negative leaf target", a.who()))?;
        leaf.weights.push((t, leaf_weights[k]));
        nodes.push(leaf);
    }
    check_targets(&a, &nodes, n_targets, "target")?;
    let roots = a.ints("tree_roots").into_iter().map(|r| child(r, false)).collect::<TractResult<Vec<_>>>()?;
    let aggregate = match a.int("aggregate_function").unwrap_or(1) {
        0 => Aggregate::Average,
        1 => Aggregate::Sum,
        2 => Aggregate::Min,
        3 => Aggregate::Max,
        m => bail!("{}: unknown aggregate_function {m}", a.who()),
    };
    let post = match a.int("post_transform").unwrap_or(0) {
        0 => PostTransform::None,
        1 => PostTransform::Softmax,
        2 => PostTransform::Logistic,
        3 => PostTransform::SoftmaxZero,
        4 => PostTransform::Probit,
        m => bail!("{}: unknown post_transform {m}", a.who()),
    };
    Ok(Forest { nodes, roots, n_targets, aggregate, post, base_values: vec![] })
}

//! Which features does the model itself handle when missing?
//!
//! An imputing pipeline (`Imputer` with NaN as its replaced value) or a
//! tree ensemble trained with missing values (splits that carry
//! `nodes_missing_value_tracks_true`) is built to take NaN; anything else
//! (a linear model, a scaler, a one-hot encoder) turns NaN into a NaN score
//! or a silent zero. Each feature is followed from its graph input through
//! the ops that only move columns (Cast, Identity, Concat, column
//! selections, width-1 reshapes) to the ops that read it. It passes as NaN
//! only when every op that reads it handles a missing value; when a path
//! cannot be followed (a width we cannot tell, an op that mixes columns)
//! the answer is "reject".

use std::collections::HashMap;

use tract_onnx::pb;

use super::attrs::Attrs;

/// What happens to a null or NaN in one feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Treatment {
    /// The model handles it: pass NaN.
    pub pass: bool,
    /// Why, in words for `check` and `inspect`.
    pub why: String,
}

impl Treatment {
    fn reject(why: impl Into<String>) -> Treatment {
        Treatment { pass: false, why: why.into() }
    }
}

const TREES: &[&str] = &["TreeEnsembleRegressor", "TreeEnsembleClassifier", "TreeEnsemble"];

pub struct Graph<'a> {
    nodes: &'a [pb::NodeProto],
    inits: HashMap<&'a str, &'a pb::TensorProto>,
    outputs: Vec<&'a str>,
    /// Known widths (axis 1) of values, from the inputs' widths forward.
    widths: HashMap<String, usize>,
}

fn who(n: &pb::NodeProto) -> String {
    format!("{} node {:?}", n.op_type, n.name)
}

fn ints_of(t: &pb::TensorProto) -> Option<Vec<i64>> {
    if !t.int64_data.is_empty() {
        return Some(t.int64_data.clone());
    }
    if !t.int32_data.is_empty() {
        return Some(t.int32_data.iter().map(|&v| i64::from(v)).collect());
    }
    match t.data_type {
        7 => Some(
            t.raw_data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect(),
        ),
        6 => Some(
            t.raw_data
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes(b.try_into().unwrap_or([0; 4]))))
                .collect(),
        ),
        _ => None,
    }
}

impl<'a> Graph<'a> {
    /// `widths`: the number of columns fed to each graph input.
    pub fn new(model: &'a pb::ModelProto, widths: &HashMap<String, usize>) -> Option<Graph<'a>> {
        let g = model.graph.as_ref()?;
        let mut graph = Graph {
            nodes: &g.node,
            inits: g.initializer.iter().map(|t| (t.name.as_str(), t)).collect(),
            outputs: g.output.iter().map(|o| o.name.as_str()).collect(),
            widths: widths.clone(),
        };
        // Widths forward, in graph order (ONNX nodes are topologically sorted).
        for n in graph.nodes {
            let w = match n.op_type.as_str() {
                "Cast" | "Identity" | "Imputer" | "Scaler" | "Normalizer" | "Binarizer" => {
                    n.input.first().and_then(|i| graph.widths.get(i)).copied()
                }
                "Concat" if Self::axis1(n) => {
                    n.input.iter().map(|i| graph.widths.get(i).copied()).sum::<Option<usize>>()
                }
                "ArrayFeatureExtractor" | "Gather" => {
                    n.input.get(1).and_then(|i| graph.const_ints(i)).map(|v| v.len())
                }
                _ => None,
            };
            if let (Some(w), Some(o)) = (w, n.output.first()) {
                graph.widths.insert(o.clone(), w);
            }
        }
        Some(graph)
    }

    fn axis1(n: &pb::NodeProto) -> bool {
        matches!(Attrs::new(n).int("axis"), Some(1) | Some(-1))
    }

    fn const_ints(&self, name: &str) -> Option<Vec<i64>> {
        if let Some(t) = self.inits.get(name) {
            return ints_of(t);
        }
        // A Constant node's value.
        let n = self
            .nodes
            .iter()
            .find(|n| n.op_type == "Constant" && n.output.first().is_some_and(|o| o == name))?;
        n.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref()).and_then(ints_of)
    }

    /// The treatment of column `j` of graph input `input`.
    pub fn treatment(&self, input: &str, j: usize) -> Treatment {
        let mut reasons = Vec::new();
        match self.follow(input, j, 0, &mut reasons) {
            Err(t) => t,
            Ok(()) if reasons.is_empty() => Treatment::reject("the model does not read it"),
            Ok(()) => Treatment { pass: true, why: reasons.join("; ") },
        }
    }

    /// Follows (value, column) to every reader; Ok when all of them handle a
    /// missing value (their reasons collected), Err at the first that does not.
    fn follow(&self, value: &str, j: usize, depth: usize, why: &mut Vec<String>) -> Result<(), Treatment> {
        if depth > 64 {
            return Err(Treatment::reject("the graph is too deep to follow"));
        }
        if self.outputs.contains(&value) {
            return Err(Treatment::reject(format!("it reaches the model output {value:?} as it is")));
        }
        for n in self.nodes.iter().filter(|n| n.input.iter().any(|i| i == value)) {
            let slot = n.input.iter().position(|i| i == value).unwrap_or(0);
            let out = n.output.first().map(String::as_str).unwrap_or_default();
            match n.op_type.as_str() {
                "Cast" | "Identity" => self.follow(out, j, depth + 1, why)?,
                "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze"
                    if self.widths.get(value) == Some(&1) && slot == 0 =>
                {
                    self.follow(out, j, depth + 1, why)?
                }
                "Concat" if Self::axis1(n) => {
                    let mut offset = 0;
                    for i in &n.input[..slot] {
                        let Some(w) = self.widths.get(i) else {
                            return Err(Treatment::reject(format!(
                                "batchscore cannot tell its column after {} (the width of {i:?} is not known)",
                                who(n)
                            )));
                        };
                        offset += w;
                    }
                    self.follow(out, offset + j, depth + 1, why)?
                }
                "ArrayFeatureExtractor" | "Gather" if slot == 0 => {
                    let axis_ok = n.op_type == "ArrayFeatureExtractor" || Self::axis1(n);
                    let Some(idx) = n.input.get(1).and_then(|i| self.const_ints(i)).filter(|_| axis_ok)
                    else {
                        return Err(Treatment::reject(format!(
                            "batchscore cannot follow it through {}",
                            who(n)
                        )));
                    };
                    for (k, _) in idx.iter().enumerate().filter(|(_, v)| **v == j as i64) {
                        self.follow(out, k, depth + 1, why)?;
                    }
                }
                "Imputer" => {
                    let a = Attrs::new(n);
                    let replaced = a.float("replaced_value_float").unwrap_or(0.0);
                    let imputed = a.floats("imputed_value_floats");
                    let value = match imputed.len() {
                        0 => None,
                        1 => Some(imputed[0]),
                        _ => imputed.get(j).copied(),
                    };
                    match value {
                        Some(v) if replaced.is_nan() && !v.is_nan() => {
                            why.push(format!("{} replaces it with {v}", who(n)))
                        }
                        _ => {
                            return Err(Treatment::reject(format!(
                                "{} does not replace NaN in this column",
                                who(n)
                            )));
                        }
                    }
                }
                op if TREES.contains(&op) => why.push(self.tree_handles(n, j)?),
                _ => {
                    return Err(Treatment::reject(format!(
                        "{} reads it and does not handle a missing value",
                        who(n)
                    )));
                }
            }
        }
        Ok(())
    }

    /// A tree ensemble handles a missing feature when it was exported with
    /// missing-value tracks and routes this feature by them (or never splits
    /// on it).
    fn tree_handles(&self, n: &pb::NodeProto, j: usize) -> Result<String, Treatment> {
        let a = Attrs::new(n);
        let features = a.ints("nodes_featureids");
        let modes = a.strings("nodes_modes");
        let tracks = a.ints("nodes_missing_value_tracks_true");
        let splits: Vec<usize> = (0..features.len())
            .filter(|&k| features[k] == j as i64 && modes.get(k).is_none_or(|m| m != "LEAF"))
            .collect();
        if splits.is_empty() {
            return Ok(format!("{} never splits on it", who(n)));
        }
        if tracks.is_empty() || !tracks.contains(&1) {
            return Err(Treatment::reject(format!(
                "{} has no missing-value tracks (nodes_missing_value_tracks_true): it was not built for missing values",
                who(n)
            )));
        }
        let with = splits.iter().filter(|&&k| tracks.get(k) == Some(&1)).count();
        Ok(format!(
            "{} routes it by its missing-value tracks ({with} of its {} splits on it send a missing value to the true branch)",
            who(n),
            splits.len()
        ))
    }
}

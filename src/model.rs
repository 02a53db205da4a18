//! Loading an ONNX model: decode, drop ZipMap, refuse what we can't run,
//! then type and optimize it once with a symbolic batch dimension.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::{Kind, ResultExt, failure};
use crate::ml::{self, ClassLabels};
use crate::storage::Location;

/// Element types as ONNX declares them, narrowed to what tabular models use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Elem {
    F32,
    F64,
    I64,
    I32,
    Bool,
    String,
    Other(i32),
}

impl Elem {
    fn from_onnx(code: i32) -> Elem {
        match code {
            1 => Elem::F32,
            11 => Elem::F64,
            7 => Elem::I64,
            6 => Elem::I32,
            9 => Elem::Bool,
            8 => Elem::String,
            other => Elem::Other(other),
        }
    }

    pub fn datum_type(self) -> Option<DatumType> {
        Some(match self {
            Elem::F32 => f32::datum_type(),
            Elem::F64 => f64::datum_type(),
            Elem::I64 => i64::datum_type(),
            Elem::I32 => i32::datum_type(),
            Elem::Bool => bool::datum_type(),
            Elem::String => String::datum_type(),
            Elem::Other(_) => return None,
        })
    }
}

impl std::fmt::Display for Elem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Elem::F32 => f.write_str("float32"),
            Elem::F64 => f.write_str("float64"),
            Elem::I64 => f.write_str("int64"),
            Elem::I32 => f.write_str("int32"),
            Elem::Bool => f.write_str("bool"),
            Elem::String => f.write_str("string"),
            // 0 is "undefined": the value is a sequence or a map, not a tensor.
            Elem::Other(0) => f.write_str("not a tensor"),
            Elem::Other(c) => write!(f, "onnx type {c}"),
        }
    }
}

/// The operators tract and batchscore's own layer can run, by name.
pub fn runnable_ops() -> std::collections::HashSet<String> {
    ml::onnx().op_register.0.keys().cloned().collect()
}

/// A dimension as declared: a number, a name (symbolic) or nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    Named(String),
    Unknown,
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Named(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Port {
    pub name: String,
    pub elem: Elem,
    /// `None`: the model does not declare a shape.
    pub shape: Option<Vec<Dim>>,
}

impl Port {
    pub fn shape_string(&self) -> String {
        match &self.shape {
            None => "[?]".into(),
            Some(dims) => format!("[{}]", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
        }
    }

    /// The declared width of a `[N, F]` input, when the model fixes it.
    pub fn width(&self) -> Option<usize> {
        match self.shape.as_deref() {
            Some([_, Dim::Fixed(f)]) => usize::try_from(*f).ok(),
            Some([_]) => Some(1),
            _ => None,
        }
    }
}

/// What we know of a model before running it.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub path: Location,
    pub sha256: String,
    pub bytes: u64,
    pub producer: String,
    pub inputs: Vec<Port>,
    /// Graph outputs after ZipMap removal, in graph order.
    pub outputs: Vec<Port>,
    /// Class names for outputs that carry one column per class.
    pub classes: BTreeMap<String, ClassLabels>,
    /// Outputs that were a ZipMap in the file.
    pub zipmapped: Vec<String>,
    pub opsets: Vec<(String, i64)>,
    /// "domain:op" → number of nodes.
    pub ops: BTreeMap<String, usize>,
    proto: pb::ModelProto,
}

/// The runnable plan and, per output, its element type and width.
type Compiled = (Arc<TypedRunnableModel>, Vec<(DatumType, Option<usize>)>);

/// A model typed for a batch dimension and ready to run.
pub struct Model {
    pub info: ModelInfo,
    pub plan: Arc<TypedRunnableModel>,
    /// Output facts after typing: element type and the known width of `[N, C]` outputs.
    pub output_types: Vec<(DatumType, Option<usize>)>,
    /// The most rows to score at once: a TfIdfVectorizer's output is dense,
    /// one float per vocabulary n-gram, so a block of rows costs rows × V.
    pub block_rows: usize,
}

/// A block's dense text features stay under this.
const TEXT_BLOCK_BYTES: usize = 64 << 20;

/// The block size that keeps every TfIdfVectorizer's `[rows, V]` output
/// under [`TEXT_BLOCK_BYTES`] (unbounded without one).
fn block_rows(proto: &pb::ModelProto) -> usize {
    let widest = proto
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .filter(|n| n.op_type == "TfIdfVectorizer")
        .filter_map(|n| n.attribute.iter().find(|a| a.name == "ngram_indexes"))
        .filter_map(|a| a.ints.iter().max().map(|&m| usize::try_from(m).unwrap_or(0) + 1))
        .max();
    match widest {
        Some(v) => (TEXT_BLOCK_BYTES / (4 * v.max(1))).max(64),
        None => usize::MAX,
    }
}

impl ModelInfo {
    pub fn load(path: &Path) -> anyhow::Result<ModelInfo> {
        Self::load_from(&Location::Local(path.to_owned()))
    }

    /// From a file or a URL. A model is read whole either way: tract
    /// decodes the protobuf from memory.
    pub fn load_from(path: &Location) -> anyhow::Result<ModelInfo> {
        let bytes = match path {
            Location::Local(p) => std::fs::read(p)
                .map_err(|e| failure(Kind::Model, format!("cannot read model {}: {e}", path.display())))?,
            Location::Object(u) => crate::storage::get(u, crate::storage::Op::Read)?
                .ok_or_else(|| failure(Kind::Model, format!("cannot read model {u}: no such object")))?,
        };
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        let mut proto =
            tract_onnx::onnx().proto_model_for_read(&mut bytes.as_slice()).with_kind(Kind::Model, || {
                format!("model {} is not a valid ONNX file (truncated or another format?)", path.display())
            })?;
        let Some(graph) = proto.graph.as_ref() else {
            return Err(failure(Kind::Model, format!("model {} has no graph", path.display())));
        };
        if graph.node.is_empty() && graph.output.is_empty() {
            return Err(failure(
                Kind::Model,
                format!("model {} is empty (no nodes, no outputs)", path.display()),
            ));
        }
        let zipmaps = ml::strip_zipmap(&mut proto)
            .with_kind(Kind::Model, || format!("model {}: removing ZipMap", path.display()))?;
        let graph = proto.graph.as_ref().context("graph vanished")?;

        let initializers: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs =
            graph.input.iter().filter(|i| !initializers.contains(i.name.as_str())).map(port).collect();
        let mut outputs: Vec<Port> = graph.output.iter().map(port).collect();
        // The file still declares a ZipMap's output as a sequence of maps;
        // what takes its place is the ZipMap's input, a float32 [N, C].
        for o in outputs.iter_mut().filter(|o| zipmaps.iter().any(|z| z.output == o.name)) {
            o.elem = Elem::F32;
            o.shape = Some(vec![Dim::Unknown, Dim::Unknown]);
        }

        let mut classes = BTreeMap::new();
        for z in &zipmaps {
            classes.insert(z.output.clone(), z.classes.clone());
        }
        if classes.is_empty()
            && let Some(labels) = ml::class_labels(&proto)
        {
            // No ZipMap: the probabilities are the float [N, C] output.
            for o in &outputs {
                if o.elem == Elem::F32 && o.name.to_ascii_lowercase().contains("prob") {
                    classes.insert(o.name.clone(), labels.clone());
                }
            }
        }
        let mut ops = BTreeMap::new();
        for n in &graph.node {
            let domain = if n.domain.is_empty() { "ai.onnx" } else { n.domain.as_str() };
            *ops.entry(format!("{domain}:{}", n.op_type)).or_insert(0) += 1;
        }
        let opsets = proto
            .opset_import
            .iter()
            .map(|o| (if o.domain.is_empty() { "ai.onnx".to_owned() } else { o.domain.clone() }, o.version))
            .collect();
        let producer = format!("{} {}", proto.producer_name, proto.producer_version).trim().to_owned();
        Ok(ModelInfo {
            path: path.clone(),
            sha256,
            bytes: bytes.len() as u64,
            producer,
            inputs,
            outputs,
            classes,
            zipmapped: zipmaps.iter().map(|z| z.output.clone()).collect(),
            opsets,
            ops,
            proto,
        })
    }

    /// The graph, for following each input column to what reads it;
    /// `widths`: columns fed per input.
    pub fn missing_graph(
        &self,
        widths: &std::collections::HashMap<String, usize>,
    ) -> Option<ml::missing::Graph<'_>> {
        ml::missing::Graph::new(&self.proto, widths)
    }

    /// Operators that neither tract nor our layer can run, with the node
    /// that uses each: refused at load, never a wrong score.
    pub fn unsupported(&self) -> Vec<String> {
        let runnable = runnable_ops();
        let Some(graph) = self.proto.graph.as_ref() else {
            return vec![];
        };
        graph
            .node
            .iter()
            .filter(|n| !runnable.contains(n.op_type.as_str()))
            .map(|n| {
                let domain = if n.domain.is_empty() { "ai.onnx" } else { n.domain.as_str() };
                format!("operator {} ({domain}) in node {:?}", n.op_type, n.name)
            })
            .collect()
    }

    /// Type and optimize the graph once for any batch size. `widths` gives
    /// the number of columns fed to each input, for inputs whose declared
    /// shape leaves it open.
    pub fn compile(self, widths: &[usize]) -> anyhow::Result<Model> {
        let unsupported = self.unsupported();
        if !unsupported.is_empty() {
            return Err(failure(
                Kind::Model,
                format!(
                    "model {} uses {} that batchscore cannot run: {}",
                    self.path.display(),
                    plural(unsupported.len(), "operator"),
                    unsupported.join("; ")
                ),
            ));
        }
        let path = self.path.display().to_string();
        let build = || -> anyhow::Result<Compiled> {
            let mut proto = self.proto.clone();
            ml::fuse_text(&mut proto);
            let mut model = ml::onnx().model_for_proto_model(&proto)?;
            let n = model.sym("N");
            for (ix, p) in self.inputs.iter().enumerate() {
                let dt = p
                    .elem
                    .datum_type()
                    .with_context(|| format!("input {:?} has unsupported element type {}", p.name, p.elem))?;
                let width = widths.get(ix).copied().unwrap_or(1);
                let shape: TVec<TDim> = match p.shape.as_deref() {
                    Some([_]) => tvec![n.to_dim()],
                    Some(dims) if dims.len() >= 2 => {
                        let mut s = tvec![n.to_dim()];
                        for (k, d) in dims[1..].iter().enumerate() {
                            s.push(match d {
                                Dim::Fixed(v) => (*v).to_dim(),
                                _ if k == 0 => width.to_dim(),
                                _ => 1.to_dim(),
                            });
                        }
                        s
                    }
                    _ => tvec![n.to_dim(), width.to_dim()],
                };
                model.set_input_fact(ix, InferenceFact::dt_shape(dt, shape))?;
            }
            let typed = model.into_optimized()?;
            let output_types = (0..typed.outputs.len())
                .map(|i| {
                    let fact = typed.output_fact(i)?;
                    let width = match fact.shape.len() {
                        0 | 1 => Some(1),
                        2 => tract_onnx::tract_hir::internal::DimLike::to_usize(&fact.shape[1]).ok(),
                        _ => None,
                    };
                    Ok((fact.datum_type, width))
                })
                .collect::<TractResult<Vec<_>>>()?;
            Ok((typed.into_runnable()?, output_types))
        };
        let (plan, output_types) =
            build().with_kind(Kind::Model, || format!("model {path}: cannot prepare it for scoring"))?;
        let block_rows = block_rows(&self.proto);
        Ok(Model { info: self, plan, output_types, block_rows })
    }
}

fn port(v: &pb::ValueInfoProto) -> Port {
    use pb::tensor_shape_proto::dimension::Value as D;
    use pb::type_proto::Value as T;
    let (elem, shape) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(T::TensorType(t)) => (
            Elem::from_onnx(t.elem_type),
            t.shape.as_ref().map(|s| {
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(D::DimValue(v)) => Dim::Fixed(*v),
                        Some(D::DimParam(p)) if !p.is_empty() => Dim::Named(p.clone()),
                        _ => Dim::Unknown,
                    })
                    .collect()
            }),
        ),
        None => (Elem::Other(0), None),
    };
    Port { name: v.name.clone(), elem, shape }
}

pub fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_tfidf(width: i64) -> pb::ModelProto {
        let node = pb::NodeProto {
            op_type: "TfIdfVectorizer".into(),
            attribute: vec![pb::AttributeProto {
                name: "ngram_indexes".into(),
                ints: vec![0, width - 1],
                ..Default::default()
            }],
            ..Default::default()
        };
        pb::ModelProto {
            graph: Some(pb::GraphProto { node: vec![node], ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn blocks_of_dense_text_features_stay_bounded() {
        // 50,000 n-grams: 335 rows of floats per 64 MB block, not a chunk of 100,000 rows (20 GB).
        assert_eq!(block_rows(&with_tfidf(50_000)), 335);
        assert_eq!(block_rows(&with_tfidf(10_000_000)), 64);
        assert_eq!(block_rows(&pb::ModelProto::default()), usize::MAX);
    }
}

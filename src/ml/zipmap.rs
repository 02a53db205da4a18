//! ZipMap turns a probability tensor into a list of {class: probability}
//! maps, which is not a tensor and which tract will not run. We take it out
//! of the graph before tract sees it: its input, the `[N, C]` probability
//! tensor, becomes the graph output under ZipMap's output name (e.g.
//! skl2onnx's `output_probability`), and its class labels name the columns.

use super::ClassLabels;
use super::attrs::Attrs;
use tract_onnx::pb;

#[derive(Clone, Debug)]
pub struct ZipMapInfo {
    /// The graph output ZipMap produced; the probabilities now carry this name.
    pub output: String,
    pub classes: ClassLabels,
}

pub fn strip_zipmap(model: &mut pb::ModelProto) -> anyhow::Result<Vec<ZipMapInfo>> {
    let Some(graph) = model.graph.as_mut() else { return Ok(vec![]) };
    let mut found = Vec::new();
    while let Some(ix) = graph.node.iter().position(|n| n.op_type == "ZipMap") {
        let node = graph.node.remove(ix);
        let (Some(input), Some(output)) = (node.input.first(), node.output.first()) else {
            anyhow::bail!("ZipMap node {:?} has no input or output", node.name);
        };
        let a = Attrs::new(&node);
        let classes = if a.has("classlabels_strings") {
            ClassLabels::Str(a.strings("classlabels_strings"))
        } else {
            ClassLabels::Int(a.ints("classlabels_int64s"))
        };
        // The probabilities take ZipMap's output name, the one users know
        // from onnxruntime, and everything that read either reads them.
        let (input, output) = (input.clone(), output.clone());
        for n in graph.node.iter_mut() {
            for name in n.input.iter_mut().chain(n.output.iter_mut()) {
                if *name == input {
                    *name = output.clone();
                }
            }
        }
        for o in graph.output.iter_mut() {
            if o.name == output {
                // It was a sequence of maps; tract infers the tensor type.
                o.r#type = None;
            }
        }
        graph.output.retain(|o| o.name != input);
        found.push(ZipMapInfo { output, classes });
    }
    Ok(found)
}

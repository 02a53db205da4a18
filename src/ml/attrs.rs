//! Reading ONNX node attributes, with errors that name the node.

use tract_hir::internal::*;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::{AttributeProto, NodeProto};

pub struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    pub fn new(node: &'a NodeProto) -> Attrs<'a> {
        Attrs { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// "node 'X' (Op)": how errors name the node.
    pub fn who(&self) -> String {
        format!("node {:?} ({})", self.node.name, self.node.op_type)
    }

    pub fn ints(&self, name: &str) -> Vec<i64> {
        self.get(name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    pub fn floats(&self, name: &str) -> Vec<f32> {
        self.get(name).map(|a| a.floats.clone()).unwrap_or_default()
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
            .unwrap_or_default()
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|a| a.i)
    }

    pub fn float(&self, name: &str) -> Option<f32> {
        self.get(name).map(|a| a.f)
    }

    /// A tensor attribute as f64 values (any numeric element type).
    pub fn tensor_f64(&self, ctx: &ParsingContext, name: &str) -> TractResult<Option<Vec<f64>>> {
        let Some(a) = self.get(name) else { return Ok(None) };
        let Some(t) = a.t.as_ref() else { bail!("{}: attribute {name} has no tensor", self.who()) };
        let t = ctx.load_tensor(t).with_context(|| format!("{}: attribute {name}", self.who()))?;
        let t = t.cast_to::<f64>()?;
        Ok(Some(t.try_as_plain_ram()?.as_slice::<f64>()?.to_vec()))
    }

    /// The double `<name>_as_tensor` form when present (ai.onnx.ml 3), else
    /// the float `<name>` list.
    pub fn doubles(&self, ctx: &ParsingContext, name: &str) -> TractResult<Vec<f64>> {
        match self.tensor_f64(ctx, &format!("{name}_as_tensor"))? {
            Some(v) => Ok(v),
            None => Ok(self.floats(name).into_iter().map(f64::from).collect()),
        }
    }

    /// Checks that a per-node list has the expected length (or is absent when optional).
    pub fn expect_len<T>(&self, name: &str, v: &[T], n: usize) -> TractResult<()> {
        if v.len() != n {
            bail!("{}: attribute {name} has {} values, expected {n}", self.who(), v.len());
        }
        Ok(())
    }
}

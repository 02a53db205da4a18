//! Placeholder for the ONNX-ML operator layer (being written separately).
#![allow(dead_code)]
use tract_onnx::pb;

pub const OUR_OPS: &[&str] = &[];

pub fn onnx() -> tract_onnx::Onnx {
    tract_onnx::onnx()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClassLabels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct ZipMapInfo {
    pub output: String,
    pub probabilities: String,
    pub classes: ClassLabels,
}

pub fn strip_zipmap(_model: &mut pb::ModelProto) -> anyhow::Result<Vec<ZipMapInfo>> {
    Ok(vec![])
}

pub fn class_labels(_model: &pb::ModelProto) -> Option<ClassLabels> {
    None
}

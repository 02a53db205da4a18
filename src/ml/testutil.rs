//! Hand-built single-node ONNX graphs, run through tract with our
//! registry: the same path a real model takes.

use tract_onnx::pb;
use tract_onnx::prelude::*;

pub fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub fn floats(name: &str, v: &[f32]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Floats as i32,
        floats: v.to_vec(),
        ..Default::default()
    }
}

pub fn strings(name: &str, v: &[&str]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Strings as i32,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

pub fn string(name: &str, v: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn io(name: &str) -> pb::ValueInfoProto {
    pb::ValueInfoProto { name: name.into(), ..Default::default() }
}

fn float_input(name: &str) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Runs one ai.onnx.ml node on a float `[rows, width]` input; returns its outputs.
pub fn run_node(
    op: &str,
    attrs: Vec<pb::AttributeProto>,
    n_outputs: usize,
    x: &[f32],
    width: usize,
) -> TVec<TValue> {
    let outputs: Vec<String> = (0..n_outputs).map(|i| format!("y{i}")).collect();
    let node = pb::NodeProto {
        op_type: op.into(),
        domain: "ai.onnx.ml".into(),
        name: "n".into(),
        input: vec!["x".into()],
        output: outputs.clone(),
        attribute: attrs,
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![
            pb::OperatorSetIdProto { domain: String::new(), version: 13 },
            pb::OperatorSetIdProto { domain: "ai.onnx.ml".into(), version: 3 },
        ],
        graph: Some(pb::GraphProto {
            node: vec![node],
            input: vec![float_input("x")],
            output: outputs.iter().map(|o| io(o)).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let rows = x.len() / width;
    let mut m = super::onnx().model_for_proto_model(&model).expect("model");
    m.set_input_fact(0, f32::fact([rows, width]).into()).expect("fact");
    let plan = m.into_optimized().expect("typed").into_runnable().expect("plan");
    plan.run(tvec!(Tensor::from_shape(&[rows, width], x).expect("tensor").into_tvalue())).expect("run")
}

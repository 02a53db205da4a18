//! Small ONNX models built in code, for tests of the pipeline itself
//! (the converter-made models live in tests/fixtures/zoo).

use prost::Message;
use tract_onnx::pb;

fn value_info(name: &str, elem: i32, dims: &[Option<i64>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(v) => Value::DimValue(*v),
                                None => Value::DimParam("N".into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], v: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: 1,
        float_data: v.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: format!("{op}_{}", outputs[0]),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

fn model(
    nodes: Vec<pb::NodeProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    init: Vec<pb::TensorProto>,
) -> Vec<u8> {
    pb::ModelProto {
        ir_version: 8,
        producer_name: "batchscore-tests".into(),
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        graph: Some(pb::GraphProto {
            name: "g".into(),
            node: nodes,
            input: inputs,
            output: outputs,
            initializer: init,
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// `score = x · w + b` for a float `[N, F]` input named `x`: easy to check by hand.
pub fn linear(w: &[f32], b: f32) -> Vec<u8> {
    let f = w.len() as i64;
    model(
        vec![node("Gemm", &["x", "w", "b"], &["score"], vec![])],
        vec![value_info("x", 1, &[None, Some(f)])],
        vec![value_info("score", 1, &[None, Some(1)])],
        vec![floats("w", &[f, 1], w), floats("b", &[1], &[b])],
    )
}

/// Two inputs, one of them text: `score = num + code(city)` where
/// code is 1, 2, 3 for "a", "b", "c" and 0 otherwise (CategoryMapper).
pub fn with_string_input() -> Vec<u8> {
    let attr_strings = |name: &str, v: &[&str]| pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Strings as i32,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    };
    let attr_ints = |name: &str, v: &[i64]| pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    };
    let attr_int = |name: &str, v: i64| pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    };
    let mut mapper = node(
        "CategoryMapper",
        &["city"],
        &["code"],
        vec![
            attr_strings("cats_strings", &["a", "b", "c"]),
            attr_ints("cats_int64s", &[1, 2, 3]),
            attr_int("default_int64", 0),
        ],
    );
    mapper.domain = "ai.onnx.ml".into();
    let mut bytes = pb::ModelProto::decode(
        model(
            vec![
                mapper,
                node("Cast", &["code"], &["codef"], vec![attr_int("to", 1)]),
                node("Add", &["num", "codef"], &["score"], vec![]),
            ],
            vec![value_info("num", 1, &[None, Some(1)]), value_info("city", 8, &[None, Some(1)])],
            vec![value_info("score", 1, &[None, Some(1)])],
            vec![],
        )
        .as_slice(),
    )
    .expect("decode");
    bytes.opset_import.push(pb::OperatorSetIdProto { domain: "ai.onnx.ml".into(), version: 1 });
    bytes.encode_to_vec()
}

/// A graph with an operator nobody implements, for the load-time refusal.
pub fn unsupported_op() -> Vec<u8> {
    let mut n = node("DictVectorizer", &["x"], &["score"], vec![]);
    n.domain = "ai.onnx.ml".into();
    n.name = "vectorize_me".into();
    model(
        vec![n],
        vec![value_info("x", 1, &[None, Some(1)])],
        vec![value_info("score", 1, &[None, Some(1)])],
        vec![],
    )
}

/// Floats and a text input: `score = num · w + code(city)` for a float
/// `[N, F]` input `num` and a text `[N, 1]` input `city` (code 1, 2, 3 for
/// "a", "b", "c", 0 otherwise), for the drift tests.
pub fn floats_and_string(w: &[f32]) -> Vec<u8> {
    let f = w.len() as i64;
    let mut m = pb::ModelProto::decode(with_string_input().as_slice()).expect("decode");
    let g = m.graph.as_mut().expect("graph");
    g.input[0] = value_info("num", 1, &[None, Some(f)]);
    g.node.retain(|n| n.op_type != "Add");
    g.node.push(node("Gemm", &["num", "w", "b"], &["lin"], vec![]));
    g.node.push(node("Add", &["lin", "codef"], &["score"], vec![]));
    g.initializer.push(floats("w", &[f, 1], w));
    g.initializer.push(floats("b", &[1], &[0.0]));
    m.encode_to_vec()
}

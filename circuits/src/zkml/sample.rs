//! Small ONNX models made from a seed, for the devnet, tests and benchmarks: real ONNX
//! bytes (protobuf, FLOAT initializers) that any ONNX runtime reads, with weights drawn
//! deterministically so every peer builds the same model.

use super::pb::{self, tensor_proto::DataType};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| pb::tensor_shape_proto::Dimension {
                            denotation: String::new(),
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(*d)),
                        })
                        .collect(),
                }),
            })),
        }),
    }
}

fn initializer(name: &str, dims: &[i64], values: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: values,
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn int_attr(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        i,
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        ..Default::default()
    }
}

fn ints_attr(name: &str, ints: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        ints: ints.to_vec(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ..Default::default()
    }
}

/// Uniform weights in `±sqrt(6 / fan_in)` (He-style), so activations stay in range.
fn weights(rng: &mut ChaCha20Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let bound = (6.0 / fan_in as f32).sqrt();
    (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
}

fn model(graph: pb::GraphProto) -> Vec<u8> {
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "lagrange-node".into(),
        graph: Some(graph),
    }
    .encode_to_vec()
}

/// A multilayer perceptron `sizes[0] → sizes[1] → … → sizes[n]`, `Gemm` (transposed
/// weights, as PyTorch exports) and `Relu` between layers, raw logits out.
pub fn mlp(seed: u64, sizes: &[usize]) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut flowing = "input".to_string();
    let last = sizes.len().saturating_sub(2);
    for (i, pair) in sizes.windows(2).enumerate() {
        let (n, m) = (pair[0], pair[1]);
        let (w, b) = (format!("w{i}"), format!("b{i}"));
        inits.push(initializer(
            &w,
            &[m as i64, n as i64],
            weights(&mut rng, n * m, n),
        ));
        inits.push(initializer(&b, &[m as i64], weights(&mut rng, m, n * 16)));
        let out = format!("gemm{i}");
        let mut gemm = node("Gemm", &out, &[&flowing, &w, &b], &out);
        gemm.attribute.push(int_attr("transB", 1));
        nodes.push(gemm);
        flowing = out;
        if i < last {
            let out = format!("relu{i}");
            nodes.push(node("Relu", &out, &[&flowing], &out));
            flowing = out;
        }
    }
    let outputs = *sizes.last().unwrap_or(&0) as i64;
    model(pb::GraphProto {
        name: "mlp".into(),
        node: nodes,
        initializer: inits,
        input: vec![value_info(
            "input",
            &[1, sizes.first().copied().unwrap_or(0) as i64],
        )],
        output: vec![value_info(&flowing, &[1, outputs])],
    })
}

/// A small convolutional network on one `side × side` plane: `Conv` (channels, 3×3,
/// stride `stride`, padding 1) → `Relu` → `Flatten` → `Gemm` to `classes` logits.
pub fn cnn(seed: u64, side: usize, channels: usize, stride: usize, classes: usize) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut conv = node("Conv", "conv", &["input", "cw", "cb"], "conv");
    conv.attribute.push(ints_attr("kernel_shape", &[3, 3]));
    conv.attribute
        .push(ints_attr("strides", &[stride as i64, stride as i64]));
    conv.attribute.push(ints_attr("pads", &[1, 1, 1, 1]));
    let out_side = (side + 2 - 3) / stride + 1;
    let flat = channels * out_side * out_side;
    let mut flatten = node("Flatten", "flatten", &["relu"], "flatten");
    flatten.attribute.push(int_attr("axis", 1));
    let mut gemm = node("Gemm", "gemm", &["flatten", "w", "b"], "logits");
    gemm.attribute.push(int_attr("transB", 1));
    let c = channels as i64;
    model(pb::GraphProto {
        name: "cnn".into(),
        node: vec![conv, node("Relu", "relu", &["conv"], "relu"), flatten, gemm],
        initializer: vec![
            initializer("cw", &[c, 1, 3, 3], weights(&mut rng, channels * 9, 9)),
            initializer("cb", &[c], weights(&mut rng, channels, 9 * 16)),
            initializer(
                "w",
                &[classes as i64, flat as i64],
                weights(&mut rng, classes * flat, flat),
            ),
            initializer(
                "b",
                &[classes as i64],
                weights(&mut rng, classes, flat * 16),
            ),
        ],
        input: vec![value_info("input", &[1, 1, side as i64, side as i64])],
        output: vec![value_info("logits", &[1, classes as i64])],
    })
}

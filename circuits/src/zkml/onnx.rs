//! ONNX models in: a chain of supported operators, read from the model's protobuf
//! ([`super::pb`]), quantized into a [`QuantizedModel`]; and, with the `float-reference`
//! feature, tract's own float evaluation of the same bytes, the reference a quantized
//! inference is compared with.
//!
//! Supported, as a chain from the graph's one input to its one output (batch size 1):
//! `Gemm` (alpha = beta = 1, no transposed A), `MatMul` by a constant followed by `Add`
//! of a constant, `Conv` (2-D, one group, no dilation, one stride and symmetric padding),
//! `Relu` (fused into the layer before it), and `Flatten` / `Reshape` to a flat vector.
//! Weights are FLOAT initializers. Anything else is refused with an error that names it.

use std::collections::HashMap;

use prost::Message;

use super::pb::{self, tensor_proto::DataType};

use super::ZkmlError;
use super::model::{Layer, QuantizedModel};

/// Largest ONNX file read.
pub const MAX_MODEL_BYTES: usize = 256 << 20;

fn malformed(e: impl std::fmt::Display) -> ZkmlError {
    ZkmlError::Malformed(e.to_string())
}

/// A FLOAT initializer's shape and values.
fn tensor(t: &pb::TensorProto) -> Result<(Vec<usize>, Vec<f32>), ZkmlError> {
    if t.data_type != DataType::Float as i32 {
        return Err(ZkmlError::Unsupported {
            op: "initializer".into(),
            node: t.name.clone(),
            reason: format!("data type {} (only FLOAT weights)", t.data_type),
        });
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|d| usize::try_from(*d).map_err(|_| malformed(format!("{}: dim {d}", t.name))))
        .collect::<Result<_, _>>()?;
    let len = dims.iter().try_fold(1usize, |a, d| a.checked_mul(*d));
    let values = if !t.float_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    if len != Some(values.len()) {
        return Err(malformed(format!(
            "{}: {} values for shape {dims:?}",
            t.name,
            values.len()
        )));
    }
    Ok((dims, values))
}

/// An INT64 initializer's values (empty for another type).
fn int64s(t: &pb::TensorProto) -> Vec<i64> {
    if t.data_type != DataType::Int64 as i32 {
        return Vec::new();
    }
    if !t.int64_data.is_empty() {
        return t.int64_data.clone();
    }
    t.raw_data
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect()
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// The shape flowing between layers: a flat vector or channel-major planes.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Flat(usize),
    Planes { ch: usize, h: usize, w: usize },
}

impl Shape {
    fn len(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Planes { ch, h, w } => ch * h * w,
        }
    }
}

/// A float layer before quantization.
enum FloatLayer {
    Dense {
        inputs: usize,
        outputs: usize,
        /// Row-major `outputs × inputs`.
        weights: Vec<f32>,
        bias: Vec<f32>,
    },
    Conv {
        input: (usize, usize, usize),
        out_ch: usize,
        kernel: (usize, usize),
        stride: usize,
        pad: usize,
        weights: Vec<f32>,
        bias: Vec<f32>,
    },
}

/// Reads an ONNX model and quantizes it with `scale_bits` fractional bits.
pub fn load(bytes: &[u8], scale_bits: u32) -> Result<QuantizedModel, ZkmlError> {
    if bytes.len() > MAX_MODEL_BYTES {
        return Err(malformed(format!(
            "{} bytes is over the limit",
            bytes.len()
        )));
    }
    let proto = pb::ModelProto::decode(bytes).map_err(malformed)?;
    let graph = proto.graph.ok_or_else(|| malformed("no graph"))?;
    let consts: HashMap<&str, &pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !consts.contains_key(i.name.as_str()))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(ZkmlError::Unsupported {
            op: "graph".into(),
            node: graph.name.clone(),
            reason: format!("{} inputs (exactly one supported)", inputs.len()),
        });
    };
    let mut shape = input_shape(input)?;
    let mut flowing = input.name.clone();
    let mut layers: Vec<(FloatLayer, bool)> = Vec::new();
    let mut nodes = graph.node.iter().peekable();
    while let Some(node) = nodes.next() {
        let unsupported = |reason: String| ZkmlError::Unsupported {
            op: node.op_type.clone(),
            node: node.name.clone(),
            reason,
        };
        let data: Vec<&String> = node
            .input
            .iter()
            .filter(|i| !consts.contains_key(i.as_str()) && !i.is_empty())
            .collect();
        if data.len() != 1 || *data[0] != flowing || node.output.len() != 1 {
            return Err(unsupported(
                "the graph is not a chain of one-input operators".into(),
            ));
        }
        let constant = |i: usize| -> Result<(Vec<usize>, Vec<f32>), ZkmlError> {
            let name = node
                .input
                .get(i)
                .ok_or_else(|| unsupported(format!("missing input {i}")))?;
            let t = consts
                .get(name.as_str())
                .ok_or_else(|| unsupported(format!("input {name} is not a constant")))?;
            tensor(t)
        };
        match node.op_type.as_str() {
            "Gemm" | "MatMul" => {
                let Shape::Flat(n) = shape else {
                    return Err(unsupported("needs a flat input (add a Flatten)".into()));
                };
                let gemm = node.op_type == "Gemm";
                let int = |name: &str, default: i64| attr(node, name).map_or(default, |a| a.i);
                let float = |name: &str| attr(node, name).map_or(1.0, |a| a.f);
                if gemm && (float("alpha") != 1.0 || float("beta") != 1.0 || int("transA", 0) != 0)
                {
                    return Err(unsupported(
                        "alpha, beta or transA other than 1, 1, 0".into(),
                    ));
                }
                let trans_b = gemm && int("transB", 0) != 0;
                let (dims, w) = constant(1)?;
                let [a, b] = dims.as_slice() else {
                    return Err(unsupported(format!("weight of shape {dims:?}")));
                };
                let (k, m) = if trans_b { (*b, *a) } else { (*a, *b) };
                if k != n {
                    return Err(unsupported(format!("weight {dims:?} for an input of {n}")));
                }
                // Row-major outputs × inputs.
                let weights = if trans_b {
                    w
                } else {
                    (0..m)
                        .flat_map(|o| (0..k).map(move |i| (o, i)))
                        .map(|(o, i)| w[i * m + o])
                        .collect()
                };
                let mut bias = if gemm && node.input.len() > 2 {
                    constant(2)?.1
                } else {
                    vec![0.0; m]
                };
                let mut out = node.output[0].clone();
                // MatMul then Add of a constant: one dense layer.
                if !gemm
                    && let Some(add) = nodes.peek()
                    && add.op_type == "Add"
                    && add.input.contains(&out)
                {
                    let other = add.input.iter().find(|i| **i != out).cloned();
                    let t = other
                        .as_deref()
                        .and_then(|o| consts.get(o))
                        .ok_or_else(|| unsupported("Add of a non-constant".into()))?;
                    bias = tensor(t)?.1;
                    out = add.output.first().cloned().unwrap_or_default();
                    nodes.next();
                }
                if bias.len() != m {
                    return Err(unsupported(format!(
                        "{} biases for {m} outputs",
                        bias.len()
                    )));
                }
                layers.push((
                    FloatLayer::Dense {
                        inputs: k,
                        outputs: m,
                        weights,
                        bias,
                    },
                    false,
                ));
                shape = Shape::Flat(m);
                flowing = out;
                continue;
            }
            "Conv" => {
                let Shape::Planes { ch, h, w } = shape else {
                    return Err(unsupported("needs a [1, C, H, W] input".into()));
                };
                let ints = |name: &str| attr(node, name).map(|a| a.ints.clone());
                if ints("dilations").is_some_and(|d| d.iter().any(|x| *x != 1))
                    || attr(node, "group").is_some_and(|g| g.i != 1)
                {
                    return Err(unsupported("dilation or groups".into()));
                }
                let strides = ints("strides").unwrap_or_else(|| vec![1, 1]);
                let pads = ints("pads").unwrap_or_else(|| vec![0; 4]);
                if strides.len() != 2
                    || strides[0] != strides[1]
                    || strides[0] < 1
                    || pads.len() != 4
                    || pads.iter().any(|p| *p != pads[0] || *p < 0)
                {
                    return Err(unsupported(format!(
                        "strides {strides:?} and pads {pads:?} (one stride, equal pads)"
                    )));
                }
                if attr(node, "auto_pad").is_some_and(|a| !a.s.is_empty() && a.s != b"NOTSET") {
                    return Err(unsupported("auto_pad".into()));
                }
                let (dims, weights) = constant(1)?;
                let [oc, ic, kh, kw] = dims.as_slice() else {
                    return Err(unsupported(format!("weight of shape {dims:?}")));
                };
                if *ic != ch {
                    return Err(unsupported(format!("{ic} input channels, input has {ch}")));
                }
                let bias = if node.input.len() > 2 {
                    constant(2)?.1
                } else {
                    vec![0.0; *oc]
                };
                let (stride, pad) = (strides[0] as usize, pads[0] as usize);
                if kh > &(h + 2 * pad) || kw > &(w + 2 * pad) || bias.len() != *oc {
                    return Err(unsupported(format!("kernel {kh}x{kw} on {h}x{w}")));
                }
                let (oh, ow) = (
                    (h + 2 * pad - kh) / stride + 1,
                    (w + 2 * pad - kw) / stride + 1,
                );
                layers.push((
                    FloatLayer::Conv {
                        input: (ch, h, w),
                        out_ch: *oc,
                        kernel: (*kh, *kw),
                        stride,
                        pad,
                        weights,
                        bias,
                    },
                    false,
                ));
                shape = Shape::Planes {
                    ch: *oc,
                    h: oh,
                    w: ow,
                };
            }
            "Relu" => match layers.last_mut() {
                Some((_, relu @ false)) => *relu = true,
                _ => {
                    return Err(unsupported(
                        "a ReLU must follow a Gemm, MatMul or Conv".into(),
                    ));
                }
            },
            "Flatten" => {
                if attr(node, "axis").is_some_and(|a| a.i != 1) {
                    return Err(unsupported("axis other than 1".into()));
                }
                shape = Shape::Flat(shape.len());
            }
            "Reshape" => {
                let target = node
                    .input
                    .get(1)
                    .and_then(|name| consts.get(name.as_str()))
                    .map(|t| int64s(t))
                    .ok_or_else(|| unsupported("a shape that is not a constant".into()))?;
                let n = shape.len() as i64;
                let flat = match target.as_slice() {
                    [d] | [1, d] | [-1, d] => *d == n || *d == -1,
                    _ => false,
                };
                if !flat {
                    return Err(unsupported(format!(
                        "reshape to {target:?} (only to a flat [1, {n}])"
                    )));
                }
                shape = Shape::Flat(shape.len());
            }
            other => {
                return Err(unsupported(format!(
                    "{other} is not supported (Gemm, MatMul + Add, Conv, Relu, Flatten, Reshape are)"
                )));
            }
        }
        flowing = node.output[0].clone();
    }
    if !graph.output.iter().any(|o| o.name == flowing) {
        return Err(ZkmlError::Unsupported {
            op: "graph".into(),
            node: graph.name.clone(),
            reason: "the chain does not end at the graph's output".into(),
        });
    }
    quantize(layers, scale_bits)
}

/// The graph input's shape, without its batch dimension of 1.
fn input_shape(input: &pb::ValueInfoProto) -> Result<Shape, ZkmlError> {
    let unsupported = |reason: String| ZkmlError::Unsupported {
        op: "input".into(),
        node: input.name.clone(),
        reason,
    };
    let Some(pb::type_proto::Value::TensorType(t)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(unsupported("not a tensor".into()));
    };
    if t.elem_type != DataType::Float as i32 {
        return Err(unsupported(format!(
            "element type {} (FLOAT only)",
            t.elem_type
        )));
    }
    let dims: Vec<usize> = t
        .shape
        .iter()
        .flat_map(|s| &s.dim)
        .map(|d| match d.value {
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => Ok(v as usize),
            // A symbolic batch dimension is taken as 1.
            Some(pb::tensor_shape_proto::dimension::Value::DimParam(_)) => Ok(1),
            _ => Err(unsupported(
                "a dimension that is not a positive number".into(),
            )),
        })
        .collect::<Result<_, _>>()?;
    match dims.as_slice() {
        [n] | [1, n] => Ok(Shape::Flat(*n)),
        [1, ch, h, w] => Ok(Shape::Planes {
            ch: *ch,
            h: *h,
            w: *w,
        }),
        other => Err(unsupported(format!(
            "shape {other:?} ([1, N] or [1, C, H, W] with batch 1)"
        ))),
    }
}

fn quantize(layers: Vec<(FloatLayer, bool)>, scale_bits: u32) -> Result<QuantizedModel, ZkmlError> {
    let s = f64::from(1u32 << scale_bits.min(30));
    let w = |v: &[f32]| -> Vec<i64> {
        v.iter()
            .map(|x| (f64::from(*x) * s).round() as i64)
            .collect()
    };
    // Biases at the accumulator's scale, plus a half step so the floor rounds half up.
    let half = 1i64 << scale_bits.saturating_sub(1);
    let b = |v: &[f32]| -> Vec<i64> {
        v.iter()
            // `as` saturates a huge or infinite value; validation then refuses it.
            .map(|x| ((f64::from(*x) * s * s).round() as i64).saturating_add(half))
            .collect()
    };
    let layers = layers
        .into_iter()
        .map(|(layer, relu)| match layer {
            FloatLayer::Dense {
                inputs,
                outputs,
                weights,
                bias,
            } => Layer::Dense {
                inputs,
                outputs,
                weights: w(&weights),
                bias: b(&bias),
                relu,
            },
            FloatLayer::Conv {
                input: (in_ch, height, width),
                out_ch,
                kernel,
                stride,
                pad,
                weights,
                bias,
            } => Layer::Conv2d {
                in_ch,
                out_ch,
                height,
                width,
                kernel,
                stride,
                pad,
                weights: w(&weights),
                bias: b(&bias),
                relu,
            },
        })
        .collect();
    let model = QuantizedModel { scale_bits, layers };
    model.validate()?;
    Ok(model)
}

/// Runs the ONNX model in floating point with tract on one input (flat, in the input's
/// element order); returns the flat output. The reference a quantized inference is
/// compared with.
#[cfg(feature = "float-reference")]
pub fn float_reference(bytes: &[u8], input: &[f32]) -> Result<Vec<f32>, ZkmlError> {
    use tract_onnx::prelude::*;
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(malformed)?;
    let proto = pb::ModelProto::decode(bytes).map_err(malformed)?;
    let graph = proto.graph.ok_or_else(|| malformed("no graph"))?;
    let first = graph
        .input
        .iter()
        .find(|i| !graph.initializer.iter().any(|t| t.name == i.name))
        .ok_or_else(|| malformed("no input"))?;
    let shape: Vec<usize> = match input_shape(first)? {
        Shape::Flat(n) => vec![1, n],
        Shape::Planes { ch, h, w } => vec![1, ch, h, w],
    };
    let runnable = model
        .with_input_fact(0, f32::fact(&shape).into())
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(malformed)?;
    let tensor = Tensor::from_shape(&shape, input).map_err(malformed)?;
    let out = runnable.run(tvec!(tensor.into())).map_err(malformed)?;
    let values = out[0]
        .to_plain_array_view::<f32>()
        .map_err(malformed)?
        .iter()
        .copied()
        .collect();
    Ok(values)
}

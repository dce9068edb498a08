//! zkML: proving that a quantized neural network produced an output.
//!
//! A model arrives as ONNX ([`onnx`]), is quantized to fixed point ([`model`]) and
//! committed with Poseidon ([`commit`]). An inference is proven in slices of consecutive
//! layers ([`circuit`]), each slice's proof binding the commitments to its input and output
//! activations, so that several provers prove one deep model in parallel and the chain of
//! commitments ([`check_chain`]) ties the slices together, as the coprocessor's chunk
//! chain does. [`task`] turns a batch of inputs into slice jobs, their proofs into a
//! result, and checks a result offline.

pub mod circuit;
pub mod commit;
pub mod keys;
pub mod model;
pub mod onnx;
pub mod pb;
pub mod sample;
pub mod task;

pub use circuit::{SliceCircuit, SliceStatement};
pub use keys::{ModelKeys, ModelVerifyingKeys};
pub use model::{Layer, QuantizedModel};
pub use task::{Inference, ServedModel, SliceJob, SliceProof, ZkmlResult};

use ark_bn254::Fr;

/// Why a model, an input or a chain of slices was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZkmlError {
    /// The ONNX bytes do not decode.
    #[error("malformed ONNX model: {0}")]
    Malformed(String),
    /// An operator this prover does not support.
    #[error("unsupported operator {op} (node {node}): {reason}")]
    Unsupported {
        /// The ONNX operator.
        op: String,
        /// The node's name.
        node: String,
        /// What is missing.
        reason: String,
    },
    /// Layer sizes that do not chain, or a malformed layer.
    #[error("layer {layer}: {reason}")]
    Shape {
        /// The layer.
        layer: usize,
        /// What is wrong.
        reason: String,
    },
    /// A model too large to prove.
    #[error("the model has {macs} multiply-accumulates, more than supported")]
    TooLarge {
        /// Its size.
        macs: usize,
    },
    /// An input of the wrong length.
    #[error("the input has {got} values, the model reads {expected}")]
    InputLength {
        /// What the model reads.
        expected: usize,
        /// What came.
        got: usize,
    },
    /// A real input outside the quantized range.
    #[error("input {index} is {value}, outside the quantized range (-{limit}, {limit})")]
    InputRange {
        /// Which.
        index: usize,
        /// Its value.
        value: f32,
        /// The range's bound.
        limit: f64,
    },
    /// A quantized value outside the activation range.
    #[error("{what} is {value}, outside the 24-bit activation range")]
    OutOfRange {
        /// Which value.
        what: String,
        /// Its value.
        value: i64,
    },
    /// Slices that do not cover a model, or a bad model name.
    #[error("slices: {0}")]
    Slices(String),
    /// A job that does not decode or does not fit the model.
    #[error("zkml job: {0}")]
    Job(String),
    /// A chain of slice statements that does not link up.
    #[error("slice chain: {0}")]
    Chain(String),
    /// A keys file that does not decode or does not fit the model.
    #[error("zkml keys: {0}")]
    Keys(String),
}

/// The index of the largest value, the first of equals: the class logits predict.
pub fn argmax<T: PartialOrd>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Checks that slice statements, in order, prove one inference of the model `model` from
/// the input committed to as `input` to the output committed to as `output`: every slice
/// names the model, the first reads `input`, each reads what the one before wrote, and the
/// last writes `output`.
pub fn check_chain(
    statements: &[SliceStatement],
    model: Fr,
    input: Fr,
    output: Fr,
) -> Result<(), ZkmlError> {
    let (Some(first), Some(last)) = (statements.first(), statements.last()) else {
        return Err(ZkmlError::Chain("no slices".into()));
    };
    if let Some(i) = statements.iter().position(|s| s.model != model) {
        return Err(ZkmlError::Chain(format!(
            "slice {i} is about another model"
        )));
    }
    if first.input != input {
        return Err(ZkmlError::Chain(
            "the first slice does not read the input".into(),
        ));
    }
    for (i, pair) in statements.windows(2).enumerate() {
        if pair[0].output != pair[1].input {
            return Err(ZkmlError::Chain(format!(
                "slice {} does not read what slice {i} wrote",
                i + 1
            )));
        }
    }
    if last.output != output {
        return Err(ZkmlError::Chain(
            "the last slice does not write the output".into(),
        ));
    }
    Ok(())
}

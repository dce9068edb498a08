//! A zkML task: a batch of inputs to one served model, proven as slice jobs (every input
//! through every slice), and what the task delivers.
//!
//! The gateway runs the quantized model natively when it splits a task (cheap next to
//! proving), so every slice's input is known at once and the slices of one inference are
//! proven in parallel by different provers. A job is one slice of one inference
//! ([`SliceJob`]); its statement is computed from the job alone. The result lists, per
//! inference, the output and each slice's proof; [`ServedModel::check`] verifies every
//! proof with its slice's key and the chain of commitments from the input to the output.

use std::ops::Range;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof};
use serde::{Deserialize, Serialize};

use super::circuit::{SliceCircuit, SliceStatement};
use super::model::QuantizedModel;
use super::{ZkmlError, check_chain, commit};
use crate::encoding::{self, ark_bytes, fr_hex};
use crate::verify;

/// Most inputs one task may carry.
pub const MAX_ZKML_INPUTS: usize = 256;

/// Largest encoded slice job.
pub const MAX_SLICE_JOB_BYTES: usize = 1 << 20;

/// A model served in slices of consecutive layers that cover it in order.
#[derive(Debug, Clone)]
pub struct ServedModel {
    name: String,
    model: QuantizedModel,
    commitment: Fr,
    slices: Vec<Range<usize>>,
}

/// One job: one slice of one inference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceJob {
    /// The slice, by its index in the served model's slices.
    pub slice: u32,
    /// What the slice's first layer reads, quantized.
    pub input: Vec<i64>,
}

impl SliceJob {
    /// The job's bytes (bincode).
    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, bincode::config::standard()).unwrap_or_default()
    }

    /// Reads a job, with a size limit and nothing left over.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ZkmlError> {
        encoding::bincode_exact::<_, MAX_SLICE_JOB_BYTES>(bytes, "slice job")
            .map_err(ZkmlError::Job)
    }
}

/// One slice's proof in a result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SliceProof {
    /// The slice's circuit id.
    pub circuit: String,
    /// The commitment to the slice's input.
    #[serde(with = "fr_hex")]
    pub input: Fr,
    /// The commitment to the slice's output.
    #[serde(with = "fr_hex")]
    pub output: Fr,
    /// The Groth16 proof.
    #[serde(with = "ark_bytes")]
    pub proof: Proof<Bn254>,
}

/// One proven inference.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inference {
    /// The commitment to the quantized input.
    #[serde(with = "fr_hex")]
    pub input_commitment: Fr,
    /// The quantized output.
    pub output: Vec<i64>,
    /// The slices' proofs, in order.
    pub slices: Vec<SliceProof>,
}

/// What a zkML task delivers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZkmlResult {
    /// The model's id (`zkml/<name>`).
    pub model: String,
    /// The model commitment.
    #[serde(with = "fr_hex")]
    pub model_commitment: Fr,
    /// Fractional bits of the fixed-point values.
    pub scale_bits: u32,
    /// One per input, in order.
    pub inferences: Vec<Inference>,
}

impl ServedModel {
    /// Serves `model` as `zkml/<name>` in `slices`, which must cover its layers in order.
    pub fn new(
        name: &str,
        model: QuantizedModel,
        slices: Vec<Range<usize>>,
    ) -> Result<Self, ZkmlError> {
        model.validate()?;
        let mut next = 0;
        for s in &slices {
            if s.start != next || s.end <= s.start {
                return Err(ZkmlError::Slices(format!(
                    "{slices:?} do not cover layers 0..{} in order",
                    model.layers.len()
                )));
            }
            next = s.end;
        }
        if next != model.layers.len() {
            return Err(ZkmlError::Slices(format!(
                "{slices:?} do not cover layers 0..{next}"
            )));
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ZkmlError::Slices(format!(
                "model name {name:?} (letters, digits and '-')"
            )));
        }
        let commitment = commit::model(&model);
        Ok(Self {
            name: name.to_owned(),
            model,
            commitment,
            slices,
        })
    }

    /// Serves the ONNX model `onnx` as `zkml/<name>`, quantized with `scale_bits` and cut
    /// into `slices`, as its keys file says.
    pub fn load(
        name: &str,
        onnx: &[u8],
        scale_bits: u32,
        slices: Vec<Range<usize>>,
    ) -> Result<Self, ZkmlError> {
        let model = super::onnx::load(onnx, scale_bits)?;
        Self::new(name, model, slices)
    }

    /// The model's id, `zkml/<name>`.
    pub fn id(&self) -> String {
        format!("zkml/{}", self.name)
    }

    /// Slice `i`'s circuit id, `zkml/<name>/<from>-<to>`.
    pub fn slice_id(&self, i: usize) -> Option<String> {
        let s = self.slices.get(i)?;
        Some(format!("zkml/{}/{}-{}", self.name, s.start, s.end))
    }

    /// The slices.
    pub fn slices(&self) -> &[Range<usize>] {
        &self.slices
    }

    /// The quantized model.
    pub fn model(&self) -> &QuantizedModel {
        &self.model
    }

    /// The model commitment.
    pub fn commitment(&self) -> Fr {
        self.commitment
    }

    /// Slice `i`'s circuit, with its input when proving (none for key generation).
    pub fn circuit(&self, i: usize, input: Option<Vec<i64>>) -> Option<SliceCircuit<'_>> {
        Some(SliceCircuit {
            model: &self.model,
            model_commitment: self.commitment,
            layers: self.slices.get(i)?.clone(),
            input,
        })
    }

    /// The jobs of a task, in order: for each input, for each slice, the slice index and
    /// the job's bytes. Runs the model natively to know every slice's input.
    pub fn split(&self, inputs: &[Vec<i64>]) -> Result<Vec<(usize, Vec<u8>)>, ZkmlError> {
        if inputs.is_empty() {
            return Err(ZkmlError::Job("the task has no input".into()));
        }
        if inputs.len() > MAX_ZKML_INPUTS {
            return Err(ZkmlError::Job(format!(
                "{} inputs, more than the limit of {MAX_ZKML_INPUTS}",
                inputs.len()
            )));
        }
        let mut jobs = Vec::with_capacity(inputs.len() * self.slices.len());
        for input in inputs {
            self.model.check_input(input)?;
            let acts = self
                .model
                .evaluate_layers(0, self.model.layers.len(), input)?;
            for (i, s) in self.slices.iter().enumerate() {
                let reads = if s.start == 0 {
                    input.clone()
                } else {
                    acts[s.start - 1].clone()
                };
                let job = SliceJob {
                    slice: i as u32,
                    input: reads,
                };
                jobs.push((i, job.to_bytes()));
            }
        }
        Ok(jobs)
    }

    /// The statement a job's proof must prove, computed from the job alone, and its slice.
    pub fn statement(&self, job: &[u8]) -> Result<(usize, SliceStatement), ZkmlError> {
        self.run(job).map(|(i, statement, _)| (i, statement))
    }

    /// Runs a job's slice: its index, its statement and its output.
    fn run(&self, job: &[u8]) -> Result<(usize, SliceStatement, Vec<i64>), ZkmlError> {
        let job = SliceJob::from_bytes(job)?;
        let i = job.slice as usize;
        let s = self
            .slices
            .get(i)
            .ok_or_else(|| ZkmlError::Job(format!("no slice {i}")))?;
        let output = self
            .model
            .evaluate_layers(s.start, s.end, &job.input)?
            .pop()
            .unwrap_or_default();
        let statement = SliceStatement {
            model: self.commitment,
            input: commit::activations(&job.input),
            output: commit::activations(&output),
        };
        Ok((i, statement, output))
    }

    /// The result of a task from its jobs' bytes and verified proofs, in job order (as
    /// [`ServedModel::split`] made them).
    pub fn aggregate(&self, jobs: &[(&[u8], Proof<Bn254>)]) -> Result<ZkmlResult, ZkmlError> {
        let per = self.slices.len();
        if jobs.is_empty() || !jobs.len().is_multiple_of(per) {
            return Err(ZkmlError::Chain(format!(
                "{} proofs for {per} slices per inference",
                jobs.len()
            )));
        }
        let mut inferences = Vec::with_capacity(jobs.len() / per);
        for chunk in jobs.chunks(per) {
            let mut slices = Vec::with_capacity(per);
            let mut output = Vec::new();
            let mut input_commitment = Fr::from(0u64);
            for (k, (bytes, proof)) in chunk.iter().enumerate() {
                let (i, statement, out) = self.run(bytes)?;
                if i != k {
                    return Err(ZkmlError::Chain(format!(
                        "job {k} of an inference is slice {i}"
                    )));
                }
                if k == 0 {
                    input_commitment = statement.input;
                }
                output = out;
                slices.push(SliceProof {
                    circuit: self.slice_id(i).unwrap_or_default(),
                    input: statement.input,
                    output: statement.output,
                    proof: proof.clone(),
                });
            }
            inferences.push(Inference {
                input_commitment,
                output,
                slices,
            });
        }
        Ok(ZkmlResult {
            model: self.id(),
            model_commitment: self.commitment,
            scale_bits: self.model.scale_bits,
            inferences,
        })
    }

    /// Checks a result offline: that it is about this model, every slice proof against
    /// its slice's key (`pvk(i)`), each inference's chain from its input commitment to the
    /// commitment of its output, and, when the client gives `inputs`, that the inferences
    /// are of those inputs. Returns the proven outputs.
    pub fn check<'k>(
        &self,
        result: &ZkmlResult,
        pvk: impl Fn(usize) -> Option<&'k PreparedVerifyingKey<Bn254>>,
        inputs: Option<&[Vec<i64>]>,
    ) -> Result<Vec<Vec<i64>>, ZkmlError> {
        if result.model != self.id() || result.model_commitment != self.commitment {
            return Err(ZkmlError::Chain(format!(
                "the result is about {} ({}), not {} ({})",
                result.model,
                encoding::fr_to_hex(&result.model_commitment),
                self.id(),
                encoding::fr_to_hex(&self.commitment)
            )));
        }
        let outputs = result.check(self.slices.len(), pvk, inputs)?;
        if let Some(n) = outputs
            .iter()
            .position(|o| o.len() != self.model.output_len())
        {
            return Err(ZkmlError::Chain(format!(
                "inference {n} has {} outputs, the model writes {}",
                outputs[n].len(),
                self.model.output_len()
            )));
        }
        Ok(outputs)
    }
}

impl ZkmlResult {
    /// Checks a result with its model's slice keys alone (`pvk(i)` for slice `i` of
    /// `slices`): every slice proof, each inference's chain from its input commitment to the
    /// commitment of its output and, when the client gives `inputs`, that the inferences
    /// are of those inputs. The weights are constants of each slice's circuit, so a proof
    /// that verifies names the model its key was made for: the keys are what a verifier
    /// trusts. Returns the proven outputs.
    pub fn check<'k>(
        &self,
        slices: usize,
        pvk: impl Fn(usize) -> Option<&'k PreparedVerifyingKey<Bn254>>,
        inputs: Option<&[Vec<i64>]>,
    ) -> Result<Vec<Vec<i64>>, ZkmlError> {
        if let Some(inputs) = inputs
            && inputs.len() != self.inferences.len()
        {
            return Err(ZkmlError::Chain(format!(
                "{} inferences for {} inputs",
                self.inferences.len(),
                inputs.len()
            )));
        }
        if self.inferences.is_empty() {
            return Err(ZkmlError::Chain("the result has no inference".into()));
        }
        let mut outputs = Vec::with_capacity(self.inferences.len());
        for (n, inference) in self.inferences.iter().enumerate() {
            if inference.slices.len() != slices {
                return Err(ZkmlError::Chain(format!(
                    "inference {n} has {} slices, the model {slices}",
                    inference.slices.len(),
                )));
            }
            let mut statements = Vec::with_capacity(slices);
            for (i, slice) in inference.slices.iter().enumerate() {
                let statement = SliceStatement {
                    model: self.model_commitment,
                    input: slice.input,
                    output: slice.output,
                };
                let key = pvk(i).ok_or_else(|| ZkmlError::Keys(format!("no key for slice {i}")))?;
                verify::verify(key, &slice.proof, &statement.public_inputs())
                    .map_err(|e| ZkmlError::Chain(format!("inference {n}, slice {i}: {e}")))?;
                statements.push(statement);
            }
            let output = commit::activations(&inference.output);
            check_chain(
                &statements,
                self.model_commitment,
                inference.input_commitment,
                output,
            )
            .map_err(|e| ZkmlError::Chain(format!("inference {n}: {e}")))?;
            if let Some(inputs) = inputs
                && commit::activations(&inputs[n]) != inference.input_commitment
            {
                return Err(ZkmlError::Chain(format!(
                    "inference {n} is not of input {n}"
                )));
            }
            outputs.push(inference.output.clone());
        }
        Ok(outputs)
    }

    /// The result as delivered (pretty JSON).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

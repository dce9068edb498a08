//! The zkML family: a served model, whose tasks are inferences, and its slices, the
//! circuits its jobs are proven with.
//!
//! A zkML task names the model (`zkml/<name>`): [`ZkmlModelFamily`] quantizes each input,
//! runs it through the model natively and splits it into one job per slice, aggregates the
//! slices' proofs into the result and checks a result's chains
//! ([`crate::zkml::ServedModel`] does the math). Each job names the slice that proves it
//! (`zkml/<name>/<from>-<to>`), and that slice is a [`JobCircuit`] like any other circuit
//! ([`ZkmlSliceCircuit`]): it computes a job's statement from the job alone, proves it with
//! its key through the MSM backend and holds the verifying key the gateway checks proofs
//! with.

use std::ops::Range;
use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey, prepare_verifying_key};
use ark_std::rand::RngCore;

use super::{Checked, Family, FamilyError, JobCircuit, Task, TaskResult, check_size, wrong_kind};
use crate::prover::groth16::{ProveError, prove_random};
use crate::prover::key_id;
use crate::prover::msm::{KeyId, MsmBackend, MsmError};
use crate::zkml::task::MAX_ZKML_INPUTS;
use crate::zkml::{ModelKeys, ModelVerifyingKeys, ServedModel, SliceJob, ZkmlError};
use crate::{ProofWithInputs, encoding};

/// One slice of a served model, its proving key (where this node proves it) preloaded into
/// an MSM backend.
pub struct ZkmlSliceCircuit {
    model: Arc<ServedModel>,
    index: usize,
    id: String,
    /// None on a node that only verifies this slice.
    pk: Option<Arc<ProvingKey<Bn254>>>,
    pvk: PreparedVerifyingKey<Bn254>,
    key: KeyId,
    backend: Arc<dyn MsmBackend>,
}

impl std::fmt::Debug for ZkmlSliceCircuit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkmlSliceCircuit")
            .field("id", &self.id)
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

impl ZkmlSliceCircuit {
    /// Every slice of `model` with its key from `keys`, each preloaded into `backend`.
    pub fn all(
        model: &Arc<ServedModel>,
        keys: &ModelKeys,
        backend: &Arc<dyn MsmBackend>,
    ) -> Result<Vec<Self>, FamilyError> {
        same_cut(model, keys.scale_bits, &keys.slices)?;
        keys.keys
            .iter()
            .enumerate()
            .map(|(index, pk)| {
                let key = key_id(&pk.vk);
                backend
                    .preload(key, pk)
                    .map_err(|e: MsmError| FamilyError::Prove(ProveError::Msm(e).into()))?;
                Ok(Self::slice(model, index, Some(pk.clone()), &pk.vk, backend))
            })
            .collect()
    }

    /// Every slice of `model` with only its verifying key from `keys`: a node that checks
    /// the slices' proofs and never proves them.
    pub fn verifying(
        model: &Arc<ServedModel>,
        keys: &ModelVerifyingKeys,
        backend: &Arc<dyn MsmBackend>,
    ) -> Result<Vec<Self>, FamilyError> {
        same_cut(model, keys.scale_bits, &keys.slices)?;
        Ok(keys
            .vks
            .iter()
            .enumerate()
            .map(|(index, vk)| Self::slice(model, index, None, vk, backend))
            .collect())
    }

    fn slice(
        model: &Arc<ServedModel>,
        index: usize,
        pk: Option<Arc<ProvingKey<Bn254>>>,
        vk: &VerifyingKey<Bn254>,
        backend: &Arc<dyn MsmBackend>,
    ) -> Self {
        Self {
            model: model.clone(),
            index,
            id: model.slice_id(index).unwrap_or_default(),
            pk,
            pvk: prepare_verifying_key(vk),
            key: key_id(vk),
            backend: backend.clone(),
        }
    }

    /// The slice's index in its model.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The model the slice belongs to.
    pub fn model(&self) -> &Arc<ServedModel> {
        &self.model
    }

    fn own(&self, slice: usize) -> Result<(), FamilyError> {
        if slice != self.index {
            return Err(ZkmlError::Job(format!(
                "a job of slice {slice}, sent to {} (slice {})",
                self.id, self.index
            ))
            .into());
        }
        Ok(())
    }
}

/// Keys made for the model as it is served: the same scale and the same slices.
fn same_cut(
    model: &ServedModel,
    scale_bits: u32,
    slices: &[Range<usize>],
) -> Result<(), FamilyError> {
    if slices != model.slices() || scale_bits != model.model().scale_bits {
        return Err(ZkmlError::Keys(format!(
            "keys for slices {slices:?} at {scale_bits} bits, the model is served in {:?} at {}",
            model.slices(),
            model.model().scale_bits
        ))
        .into());
    }
    Ok(())
}

impl JobCircuit for ZkmlSliceCircuit {
    fn circuit(&self) -> &str {
        &self.id
    }

    fn statement(&self, input: &[u8]) -> Result<Vec<Fr>, FamilyError> {
        let (slice, statement) = self.model.statement(input)?;
        self.own(slice)?;
        Ok(statement.public_inputs())
    }

    fn prove(
        &self,
        input: &[u8],
        mut rng: &mut dyn RngCore,
    ) -> Result<ProofWithInputs, FamilyError> {
        let job = SliceJob::from_bytes(input)?;
        self.own(job.slice as usize)?;
        let circuit = self
            .model
            .circuit(self.index, Some(job.input))
            .ok_or_else(|| ZkmlError::Job(format!("no slice {}", self.index)))?;
        let pk = self
            .pk
            .as_ref()
            .ok_or_else(|| ZkmlError::Keys(format!("{} is served here to verify only", self.id)))?;
        prove_random(self.backend.as_ref(), self.key, pk, circuit, &mut rng)
            .map_err(|e| FamilyError::Prove(e.into()))
    }

    fn verifying_key(&self) -> &PreparedVerifyingKey<Bn254> {
        &self.pvk
    }
}

impl Drop for ZkmlSliceCircuit {
    fn drop(&mut self) {
        self.backend.release(self.key);
    }
}

/// A served model as a family: its tasks are inferences, its jobs its slices'.
pub struct ZkmlModelFamily {
    model: Arc<ServedModel>,
    id: String,
    /// Slice `i`'s prepared verifying key at `i`.
    pvks: Vec<PreparedVerifyingKey<Bn254>>,
}

impl std::fmt::Debug for ZkmlModelFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkmlModelFamily")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A model commitment as a Supernet pins it and a client names it (32 bytes,
/// little-endian).
pub fn commitment_bytes(commitment: &Fr) -> [u8; 32] {
    let bytes = encoding::to_bytes(commitment);
    let mut out = [0u8; 32];
    let n = out.len().min(bytes.len());
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

impl ZkmlModelFamily {
    /// `model`, whose slice `i` verifies with `pvks[i]`.
    pub fn new(model: Arc<ServedModel>, pvks: Vec<PreparedVerifyingKey<Bn254>>) -> Self {
        Self {
            id: model.id(),
            model,
            pvks,
        }
    }

    /// The model.
    pub fn model(&self) -> &Arc<ServedModel> {
        &self.model
    }

    /// The client's real inputs (`f32` bit patterns), quantized for the model; an error
    /// names the input.
    pub fn quantize(&self, inputs: &[Vec<u32>]) -> Result<Vec<Vec<i64>>, FamilyError> {
        inputs
            .iter()
            .enumerate()
            .map(|(n, bits)| {
                let real: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
                self.model
                    .model()
                    .quantize_input(&real)
                    .map_err(|e| FamilyError::Input(format!("zkml.inputs[{n}]: {e}")))
            })
            .collect()
    }

    fn inputs<'t>(&self, task: &Task<'t>) -> Result<&'t [Vec<u32>], FamilyError> {
        match *task {
            Task::Zkml { inputs, .. } => Ok(inputs),
            _ => Err(wrong_kind(&self.id, task)),
        }
    }

    /// Checks a result of this model with its slice keys, and against the client's
    /// `inputs` when given; returns the proven outputs.
    fn check_outputs(
        &self,
        result: &TaskResult,
        inputs: Option<&[Vec<i64>]>,
    ) -> Result<Checked, FamilyError> {
        let TaskResult::Zkml(result) = result else {
            return Err(FamilyError::Mismatch(format!(
                "not a result of {}",
                self.id
            )));
        };
        let outputs = self.model.check(result, |i| self.pvks.get(i), inputs)?;
        Ok(Checked::Zkml {
            model: result.model.clone(),
            commitment: encoding::fr_to_hex(&result.model_commitment),
            scale_bits: result.scale_bits,
            outputs,
        })
    }
}

impl Family for ZkmlModelFamily {
    fn id(&self) -> &str {
        &self.id
    }

    fn split(&self, task: &Task<'_>, max_input: usize) -> Result<Vec<Vec<u8>>, FamilyError> {
        let Task::Zkml { inputs, commitment } = *task else {
            return Err(wrong_kind(&self.id, task));
        };
        let actual = commitment_bytes(&self.model.commitment());
        if let Some(expected) = commitment
            && expected != actual
        {
            return Err(FamilyError::Mismatch(format!(
                "{} is committed to as {}, not {}: the Supernet serves another model",
                self.id,
                hex::encode(actual),
                hex::encode(expected)
            )));
        }
        super::check_count("zkml inputs", inputs.len(), MAX_ZKML_INPUTS)?;
        let quantized = self.quantize(inputs)?;
        let jobs = self.model.split(&quantized)?;
        jobs.into_iter()
            .map(|(slice, input)| {
                check_size(|| format!("slice {slice}'s input"), input.len(), max_input)?;
                Ok(input)
            })
            .collect()
    }

    fn job_circuit(&self, input: &[u8]) -> Result<String, FamilyError> {
        let slice = SliceJob::from_bytes(input)?.slice as usize;
        self.model
            .slice_id(slice)
            .ok_or_else(|| ZkmlError::Job(format!("{} has no slice {slice}", self.id)).into())
    }

    fn aggregate(
        &self,
        task: &Task<'_>,
        proofs: &[(&[u8], Proof<Bn254>)],
    ) -> Result<TaskResult, FamilyError> {
        self.inputs(task)?;
        let result = TaskResult::Zkml(Box::new(self.model.aggregate(proofs)?));
        // Checked once more, as the client will check it.
        self.check_outputs(&result, None)?;
        Ok(result)
    }

    fn check(&self, task: &Task<'_>, result: &TaskResult) -> Result<Checked, FamilyError> {
        let inputs = self.inputs(task)?;
        if !matches!(result, TaskResult::Zkml(_)) {
            return Err(FamilyError::Mismatch(format!(
                "not a result of {}",
                self.id
            )));
        }
        let quantized = self.quantize(inputs)?;
        let inputs = (!quantized.is_empty()).then_some(quantized.as_slice());
        self.check_outputs(result, inputs)
    }
}

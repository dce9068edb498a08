//! The zkML family: one slice of a served model, the circuit its slice jobs are proven with.
//!
//! A zkML task names the model (`zkml/<name>`) and is split, aggregated and checked by the
//! model itself ([`crate::zkml::ServedModel`]); each of its jobs names the slice that proves
//! it (`zkml/<name>/<from>-<to>`), and that slice is a [`Family`] like any other circuit: it
//! computes a job's statement from the job alone, proves it with its key through the MSM
//! backend and holds the verifying key the gateway checks proofs with.

use std::ops::Range;
use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey, prepare_verifying_key};
use ark_std::rand::RngCore;

use super::{Checked, Family, FamilyError, Task, TaskResult, wrong_kind};
use crate::ProofWithInputs;
use crate::prover::groth16::{ProveError, prove_random};
use crate::prover::key_id;
use crate::prover::msm::{KeyId, MsmBackend, MsmError};
use crate::zkml::{ModelKeys, ModelVerifyingKeys, ServedModel, SliceJob, ZkmlError};

/// One slice of a served model, its proving key (where this node proves it) preloaded into
/// an MSM backend.
pub struct ZkmlSliceFamily {
    model: Arc<ServedModel>,
    index: usize,
    id: String,
    /// None on a node that only verifies this slice.
    pk: Option<Arc<ProvingKey<Bn254>>>,
    pvk: PreparedVerifyingKey<Bn254>,
    key: KeyId,
    backend: Arc<dyn MsmBackend>,
}

impl std::fmt::Debug for ZkmlSliceFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkmlSliceFamily")
            .field("id", &self.id)
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

impl ZkmlSliceFamily {
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

    fn serves_no_tasks(&self, task: &Task<'_>) -> FamilyError {
        wrong_kind(&self.id, task)
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

impl Family for ZkmlSliceFamily {
    fn circuit(&self) -> &str {
        &self.id
    }

    fn split(&self, task: &Task<'_>, _max_input: usize) -> Result<Vec<Vec<u8>>, FamilyError> {
        Err(self.serves_no_tasks(task))
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

    fn aggregate(
        &self,
        task: &Task<'_>,
        _proofs: &[(&[u8], Proof<Bn254>)],
    ) -> Result<TaskResult, FamilyError> {
        Err(self.serves_no_tasks(task))
    }

    fn check(&self, task: &Task<'_>, _result: &TaskResult) -> Result<Checked, FamilyError> {
        Err(self.serves_no_tasks(task))
    }
}

impl Drop for ZkmlSliceFamily {
    fn drop(&mut self) {
        self.backend.release(self.key);
    }
}

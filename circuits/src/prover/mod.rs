//! Proving: the preloaded [`Prover`], the Groth16 prover behind it and the MSM seam
//! with its backends: batched-affine Pippenger on the CPU ([`CpuMsm`], [`pippenger`]),
//! the bucket MSM on the GPU (`cuda`, with the `cuda` feature) and that GPU algorithm's
//! CPU twin ([`twin`]), chosen at start-up by [`select_msm`].

pub mod bucket;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod groth16;
pub mod msm;
pub mod pippenger;
pub mod select;
pub mod twin;

use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey, prepare_verifying_key};
use ark_relations::gr1cs::ConstraintSynthesizer;
use ark_std::rand::RngCore;

pub use groth16::{ProofWithInputs, ProveError};
pub use msm::{BasesRef, CpuMsm, KeyId, MsmBackend, MsmError, Query, ScalarRepr};
pub use select::{CUDA_COMPILED, MsmChoice, MsmSelection, UnknownMsmChoice, select_msm};

use crate::{
    circuit_id::{CircuitSpec, JobError, JobInput},
    encoding,
    verify::{self, VerifyError},
};

/// A job the prover refuses before proving.
#[derive(Debug, thiserror::Error)]
pub enum JobRejected {
    /// The job is for another circuit.
    #[error("job is for circuit {job}, this prover holds {prover}")]
    WrongCircuit {
        /// The job's circuit id.
        job: String,
        /// The prover's circuit id.
        prover: String,
    },
    /// The job's inputs are malformed.
    #[error(transparent)]
    Invalid(#[from] JobError),
    /// Proving failed.
    #[error(transparent)]
    Prove(#[from] ProveError),
}

/// Holds one circuit's keys, preloaded into an MSM backend, and proves its jobs.
pub struct Prover {
    spec: CircuitSpec,
    pk: Arc<ProvingKey<Bn254>>,
    pvk: PreparedVerifyingKey<Bn254>,
    key: KeyId,
    backend: Arc<dyn MsmBackend>,
    /// The circuit's matrices, built at the first proof and kept for the next ones (a
    /// prover that only verifies, as a gateway's does, never builds them).
    constraints: std::sync::OnceLock<Option<groth16::Constraints>>,
}

impl std::fmt::Debug for Prover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prover")
            .field("circuit", &self.spec.id())
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

/// The id of a proving key: blake3 of its compressed verifying key.
pub fn key_id(vk: &VerifyingKey<Bn254>) -> KeyId {
    KeyId(*blake3::hash(&encoding::encode_verifying_key(vk)).as_bytes())
}

impl Prover {
    /// Preloads `pk` into `backend`.
    pub fn new(
        spec: CircuitSpec,
        pk: Arc<ProvingKey<Bn254>>,
        backend: Arc<dyn MsmBackend>,
    ) -> Result<Self, MsmError> {
        let key = key_id(&pk.vk);
        backend.preload(key, &pk)?;
        let pvk = prepare_verifying_key(&pk.vk);
        Ok(Self {
            constraints: std::sync::OnceLock::new(),
            spec,
            pk,
            pvk,
            key,
            backend,
        })
    }

    /// A prover on the CPU backend.
    pub fn cpu(spec: CircuitSpec, pk: Arc<ProvingKey<Bn254>>) -> Self {
        let key = key_id(&pk.vk);
        let pvk = prepare_verifying_key(&pk.vk);
        Self {
            constraints: std::sync::OnceLock::new(),
            spec,
            pk,
            pvk,
            key,
            backend: Arc::new(CpuMsm),
        }
    }

    /// The memory the circuit's matrices take once a proof has built them (shared by
    /// every later proof).
    pub fn constraints_bytes(&self) -> usize {
        self.constraints
            .get()
            .and_then(Option::as_ref)
            .map_or(0, groth16::Constraints::heap_bytes)
    }

    /// The circuit this prover proves.
    pub fn spec(&self) -> CircuitSpec {
        self.spec
    }

    /// The proving key.
    pub fn proving_key(&self) -> &ProvingKey<Bn254> {
        &self.pk
    }

    /// The verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey<Bn254> {
        &self.pk.vk
    }

    /// The prepared verifying key.
    pub fn prepared_verifying_key(&self) -> &PreparedVerifyingKey<Bn254> {
        &self.pvk
    }

    /// The MSM backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Validates and proves a job; returns the proof and its public inputs.
    pub fn prove(
        &self,
        job: &JobInput,
        rng: &mut impl RngCore,
    ) -> Result<ProofWithInputs, JobRejected> {
        if job.spec() != self.spec {
            return Err(JobRejected::WrongCircuit {
                job: job.spec().id(),
                prover: self.spec.id(),
            });
        }
        job.validate()?;
        Ok(self.prove_circuit(job.circuit(), rng)?)
    }

    /// Proves any circuit that matches the key (same draw of `r`, `s` as ark-groth16).
    pub fn prove_circuit<C: ConstraintSynthesizer<Fr>>(
        &self,
        circuit: C,
        rng: &mut impl RngCore,
    ) -> Result<ProofWithInputs, ProveError> {
        match self.constraints.get_or_init(|| constraints_of(self.spec)) {
            Some(constraints) => groth16::prove_random_with(
                self.backend.as_ref(),
                self.key,
                &self.pk,
                constraints,
                circuit,
                rng,
            ),
            None => groth16::prove_random(self.backend.as_ref(), self.key, &self.pk, circuit, rng),
        }
    }

    /// Checks a proof against this prover's key.
    pub fn verify(&self, proof: &Proof<Bn254>, public_inputs: &[Fr]) -> Result<(), VerifyError> {
        verify::verify(&self.pvk, proof, public_inputs)
    }
}

/// The matrices of `spec`'s circuit, from a blank job (as the key was generated). A circuit
/// that cannot be synthesized blank has none: its proofs build them as they go.
fn constraints_of(spec: CircuitSpec) -> Option<groth16::Constraints> {
    groth16::Constraints::of(spec.blank_job().circuit()).ok()
}

impl Drop for Prover {
    fn drop(&mut self) {
        self.backend.release(self.key);
    }
}

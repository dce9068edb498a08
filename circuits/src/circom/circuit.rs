//! A circom circuit ready to prove and verify: its key preloaded into an MSM backend, its
//! constraints, its prepared verifying key.

use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof, prepare_verifying_key};
use ark_std::rand::RngCore;

use super::{CircomError, CircomKey, R1cs, Witness};
use crate::prover::msm::{KeyId, MsmBackend};
use crate::prover::{ProofWithInputs, key_id};
use crate::verify::VerifyError;

/// A circom circuit: `.zkey` and `.r1cs` read, checked to belong together, and the key
/// preloaded into `backend`.
pub struct CircomCircuit {
    key: CircomKey,
    r1cs: R1cs,
    generator: Option<super::WitnessGenerator>,
    key_id: KeyId,
    pvk: PreparedVerifyingKey<Bn254>,
    backend: Arc<dyn MsmBackend>,
}

impl std::fmt::Debug for CircomCircuit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircomCircuit")
            .field("wires", &self.key.wires)
            .field("public", &self.key.public)
            .field("constraints", &self.key.constraints)
            .finish_non_exhaustive()
    }
}

impl CircomCircuit {
    /// Reads the artifacts and preloads the key.
    pub fn new(
        zkey: &[u8],
        r1cs: &[u8],
        backend: Arc<dyn MsmBackend>,
    ) -> Result<Self, CircomError> {
        let key = CircomKey::from_bytes(zkey)?;
        let r1cs = R1cs::from_bytes(r1cs)?;
        key.matches(&r1cs)?;
        let key_id = key_id(&key.pk.vk);
        backend
            .preload(key_id, &key.pk)
            .map_err(|e| CircomError::Prove(e.to_string()))?;
        let pvk = prepare_verifying_key(&key.pk.vk);
        Ok(Self {
            key,
            r1cs,
            generator: None,
            key_id,
            pvk,
            backend,
        })
    }

    /// Computes witnesses from input signals with this witness generator (`.wasm`).
    pub fn with_generator(mut self, wasm: &[u8]) -> Result<Self, CircomError> {
        self.generator = Some(super::WitnessGenerator::new(wasm)?);
        Ok(self)
    }

    /// Computes the witness for an `input.json` object with the circuit's witness
    /// generator and checks it against the constraints.
    pub fn witness_from_inputs(&self, inputs: &str) -> Result<Witness, CircomError> {
        let generator = self.generator.as_ref().ok_or_else(|| {
            CircomError::Mismatch(
                "this circuit has no witness generator (.wasm) pinned: send witnesses".into(),
            )
        })?;
        let witness = generator.witness(inputs, self.r1cs.inputs)?;
        self.r1cs.check(&witness.values)?;
        Ok(witness)
    }

    /// The proving key (its `vk` is the verifying key).
    pub fn key(&self) -> &CircomKey {
        &self.key
    }

    /// Constraints in all.
    pub fn constraints(&self) -> usize {
        self.key.constraints
    }

    /// Reads a `.wtns` and checks it is a satisfying assignment of this circuit: the
    /// client's input, checked before anything is auctioned.
    pub fn witness(&self, wtns: &[u8]) -> Result<Witness, CircomError> {
        let witness = Witness::from_bytes(wtns)?;
        self.r1cs.check(&witness.values)?;
        Ok(witness)
    }

    /// The public signals of a witness (outputs, then public inputs), as the verifier
    /// takes them.
    pub fn public_signals<'w>(&self, witness: &'w Witness) -> Result<&'w [Fr], CircomError> {
        witness.values.get(1..=self.key.public).ok_or_else(|| {
            CircomError::Mismatch("the witness is shorter than the public signals".into())
        })
    }

    /// Proves a witness (checked or not: an unsatisfying one gives a proof that fails to
    /// verify).
    pub fn prove(
        &self,
        witness: &Witness,
        rng: &mut impl RngCore,
    ) -> Result<ProofWithInputs, CircomError> {
        super::prove(self.backend.as_ref(), self.key_id, &self.key, witness, rng)
    }

    /// Checks a proof for the given public signals.
    pub fn verify(&self, proof: &Proof<Bn254>, public: &[Fr]) -> Result<(), VerifyError> {
        crate::verify::verify(&self.pvk, proof, public)
    }

    /// The prepared verifying key, for batch verification.
    pub fn prepared_verifying_key(&self) -> &PreparedVerifyingKey<Bn254> {
        &self.pvk
    }
}

impl Drop for CircomCircuit {
    fn drop(&mut self) {
        self.backend.release(self.key_id);
    }
}

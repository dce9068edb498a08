//! Proving a circom circuit as snarkjs does, through the MSM seam.
//!
//! The full assignment is the witness itself (wire 0 is the constant one, then the public
//! signals, then the private wires), so there is nothing to synthesize. The quotient uses
//! snarkjs' QAP witness map (ark-circom's `CircomReduction`: the odd coefficients of
//! `A·B − C` over a domain twice as large, matching the `H` query in a `.zkey`); the five
//! MSMs and the blinding go through [`crate::prover`]'s assembly, the same code the
//! network's own circuits use, so the CPU and CUDA backends both serve circom jobs.

use ark_bn254::Fr;
use ark_circom::CircomReduction;
use ark_ff::UniformRand;
use ark_groth16::r1cs_to_qap::R1CSToQAP;
use ark_poly::GeneralEvaluationDomain;
use ark_std::rand::RngCore;

use super::{CircomError, CircomKey, Witness};
use crate::prover::ProofWithInputs;
use crate::prover::groth16::assemble;
use crate::prover::msm::{KeyId, MsmBackend};

/// Proves that `witness` is an assignment of `key`'s circuit. The witness should have been
/// checked against the constraints first ([`super::R1cs::check`]): a witness that breaks
/// them yields a proof that does not verify.
pub fn prove(
    backend: &dyn MsmBackend,
    key_id: KeyId,
    key: &CircomKey,
    witness: &Witness,
    rng: &mut impl RngCore,
) -> Result<ProofWithInputs, CircomError> {
    let values = &witness.values;
    if values.len() != key.wires {
        return Err(CircomError::Mismatch(format!(
            "the witness has {} wires; the key is for {}",
            values.len(),
            key.wires
        )));
    }
    let inputs = key.public + 1;
    let h = CircomReduction::witness_map_from_matrices::<Fr, GeneralEvaluationDomain<Fr>>(
        &key.matrices,
        inputs,
        key.constraints,
        values,
    )
    .map_err(|e| CircomError::Prove(e.to_string()))?;
    let r = Fr::rand(rng);
    let s = Fr::rand(rng);
    let (instance, private) = values.split_at(inputs);
    assemble(backend, key_id, &key.pk, r, s, &h, instance, private)
        .map_err(|e| CircomError::Prove(e.to_string()))
}

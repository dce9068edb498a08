//! Verifying one Groth16 proof.

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof};

use super::VerifyError;
use crate::{circuit_id::JobInput, encoding};

/// Checks the number of public inputs against the key (ark-groth16 would silently
/// ignore extra or missing ones).
pub(crate) fn check_input_count(
    pvk: &PreparedVerifyingKey<Bn254>,
    inputs: usize,
) -> Result<(), VerifyError> {
    let expected = pvk.vk.gamma_abc_g1.len().saturating_sub(1);
    if inputs == expected {
        Ok(())
    } else {
        Err(VerifyError::InputCount {
            expected,
            got: inputs,
        })
    }
}

/// Verifies one proof: `e(A, B) = e(α, β)·e(Σ x_i·IC_i, γ)·e(C, δ)`.
pub fn verify(
    pvk: &PreparedVerifyingKey<Bn254>,
    proof: &Proof<Bn254>,
    public_inputs: &[Fr],
) -> Result<(), VerifyError> {
    check_input_count(pvk, public_inputs.len())?;
    match Groth16::<Bn254>::verify_proof(pvk, proof, public_inputs) {
        Ok(true) => Ok(()),
        _ => Err(VerifyError::Invalid),
    }
}

/// Decodes (with full validation) and verifies a proof given as bytes, with public
/// inputs as concatenated 32-byte scalars.
pub fn verify_bytes(
    pvk: &PreparedVerifyingKey<Bn254>,
    proof: &[u8],
    public_inputs: &[u8],
) -> Result<(), VerifyError> {
    let proof = encoding::decode_proof(proof)?;
    let inputs = encoding::decode_public_inputs(public_inputs)?;
    verify(pvk, &proof, &inputs)
}

/// Verifies a prover's submission for `job`: the proof bytes are decoded with full
/// validation and checked against the public inputs computed natively from the job,
/// never against inputs the prover supplies.
pub fn verify_job(
    pvk: &PreparedVerifyingKey<Bn254>,
    job: &JobInput,
    proof: &[u8],
) -> Result<(), VerifyError> {
    let proof = encoding::decode_proof(proof)?;
    verify(pvk, &proof, &job.public_inputs())
}

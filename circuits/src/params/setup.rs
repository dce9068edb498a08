//! Groth16 key generation (circuit-specific setup).
//!
//! Both functions here are *single-party* setups: whoever knows the randomness can
//! forge proofs. [`setup_insecure_seeded`] derives it from a public seed, so anyone
//! can; it exists so devnet peers can regenerate identical keys without transfers.
//! Production keys need a multi-party ceremony (out of scope here).

use std::sync::Arc;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_relations::gr1cs::SynthesisError;
use ark_std::rand::{CryptoRng, RngCore};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::CircuitParams;
use crate::circuit_id::CircuitSpec;

/// A key-generation failure.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The circuit could not be synthesized.
    #[error("setup of {circuit} failed: {source}")]
    Synthesis {
        /// Circuit id.
        circuit: String,
        /// Cause.
        #[source]
        source: SynthesisError,
    },
}

/// Single-party setup with caller-supplied randomness. The caller must destroy the rng
/// state afterwards; anyone who knows it can forge proofs.
pub fn setup<R: RngCore + CryptoRng>(
    spec: CircuitSpec,
    rng: &mut R,
) -> Result<CircuitParams, SetupError> {
    let circuit = spec.blank_job().circuit();
    let result = Groth16::<Bn254>::generate_random_parameters_with_reduction(circuit, rng);
    let pk = result.map_err(|source| SetupError::Synthesis {
        circuit: spec.id(),
        source,
    })?;
    Ok(CircuitParams {
        spec,
        pk: Arc::new(pk),
    })
}

/// **INSECURE**: setup whose toxic waste is derived from a public `seed`. Anyone with the
/// seed can forge proofs for these keys. For devnets and tests only, where every peer
/// must derive the same keys offline.
pub fn setup_insecure_seeded(spec: CircuitSpec, seed: u64) -> Result<CircuitParams, SetupError> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"lagrange/insecure-devnet-setup/v1");
    hasher.update(spec.id().as_bytes());
    hasher.update(&seed.to_le_bytes());
    let mut rng = ChaCha20Rng::from_seed(*hasher.finalize().as_bytes());
    setup(spec, &mut rng)
}

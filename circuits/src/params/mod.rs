//! Circuit parameters: key generation, decoding with full validation, and content
//! digests. (Where keys live on disk is the node's business.)

pub mod decode;
pub mod digest;
pub mod setup;

use std::sync::Arc;

use ark_bn254::Bn254;
use ark_groth16::{PreparedVerifyingKey, ProvingKey, VerifyingKey, prepare_verifying_key};

pub use decode::{decode_proving_key, decode_verifying_key_of};
pub use digest::{ParamDigest, digest_bytes};
pub use setup::{SetupError, setup, setup_insecure_seeded};

use crate::circuit_id::CircuitSpec;

/// A circuit's Groth16 keys.
#[derive(Clone, Debug)]
pub struct CircuitParams {
    /// Which circuit.
    pub spec: CircuitSpec,
    /// The proving key (it contains the verifying key).
    pub pk: Arc<ProvingKey<Bn254>>,
}

impl CircuitParams {
    /// The verifying key.
    pub fn vk(&self) -> &VerifyingKey<Bn254> {
        &self.pk.vk
    }

    /// The prepared verifying key.
    pub fn pvk(&self) -> PreparedVerifyingKey<Bn254> {
        prepare_verifying_key(&self.pk.vk)
    }
}

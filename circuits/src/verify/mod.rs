//! Verification: one proof at a time, or many at once by random linear combination.

pub mod batch;
pub mod single;

pub use batch::{batch_verify, find_invalid};
pub use single::{verify, verify_bytes, verify_job};

use crate::encoding::DecodeError;

/// Why a proof (or a batch) was rejected.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Wrong number of public inputs for the key.
    #[error("expected {expected} public inputs, got {got}")]
    InputCount {
        /// What the key takes.
        expected: usize,
        /// What was supplied.
        got: usize,
    },
    /// The pairing check failed.
    #[error("proof does not verify")]
    Invalid,
    /// The batch equation failed: at least one proof is invalid.
    #[error("batch of {0} proofs does not verify")]
    BatchInvalid(usize),
    /// Malformed proof or input bytes.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

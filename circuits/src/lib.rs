//! Pure proving math for the lagrange-node network.
//!
//! Groth16 on BN254 (arkworks 0.6): the circuits ([`coprocessor`] chunk jobs and the
//! [`synthetic`] load circuit), their ids ([`circuit_id`]), parameter generation and
//! caching ([`params`]), proving through a pluggable MSM backend ([`prover`]),
//! verification and batch verification ([`mod@verify`]), aggregation of a task's chunk
//! proofs ([`aggregate`]), snarkjs export ([`snarkjs`]), and circuits brought as circom and
//! snarkjs artifacts ([`circom`]). No networking.

#![warn(missing_docs)]

pub mod aggregate;
pub mod circom;
pub mod circuit_id;
pub mod coprocessor;
pub mod encoding;
pub mod gadgets;
pub mod params;
pub mod poseidon;
pub mod prover;
pub mod snarkjs;
pub mod synthetic;
pub mod verify;

pub use aggregate::{AggregateError, AggregatedProof, ChunkProof};
pub use circuit_id::{CircuitSpec, JobError, JobInput, UnknownCircuit};
pub use coprocessor::{
    Answer, Category, ChunkJob, ChunkStatement, Commitment, DataSet, Query, Row,
};
pub use encoding::DecodeError;
pub use params::{CircuitParams, ParamDigest, ParamsError};
pub use prover::{
    CpuMsm, JobRejected, MsmBackend, MsmChoice, MsmSelection, ProofWithInputs, ProveError, Prover,
    select_msm,
};
pub use verify::{VerifyError, batch_verify, verify};

/// Re-exported curve types, so callers need not depend on arkworks directly.
pub mod curve {
    pub use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
    pub use ark_groth16::{
        PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey, prepare_verifying_key as prepare,
    };
}

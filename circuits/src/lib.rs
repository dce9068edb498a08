//! Pure proving math for the lagrange-node network.
//!
//! Groth16 on BN254 (arkworks 0.6): the circuits ([`coprocessor`] chunk jobs and the
//! [`synthetic`] load circuit), their ids ([`circuit_id`]), parameter generation and
//! validation ([`params`]), proving through a pluggable MSM backend ([`prover`]),
//! verification and batch verification ([`mod@verify`]), aggregation of a task's chunk
//! proofs ([`aggregate`]), snarkjs' JSON formats ([`snarkjs`]), keys and proofs as EVM words for the
//! on-chain verifier ([`evm`]) and the Poseidon hash as Solidity ([`solidity`]), circuits brought as circom
//! and snarkjs artifacts ([`circom`]), and per kind of task the split, statement, proof,
//! aggregation and result format behind one trait ([`family`]). No networking, no files,
//! no terminal: the node does all I/O.

#![warn(missing_docs)]

pub mod aggregate;
pub mod circom;
pub mod circuit_id;
pub mod coprocessor;
pub mod encoding;
pub mod evm;
pub mod family;
pub mod gadgets;
pub mod params;
pub mod poseidon;
pub mod prover;
pub mod snarkjs;
pub mod solidity;
pub mod synthetic;
pub mod verify;
pub mod zkml;

pub use aggregate::{AggregateError, AggregatedProof, ChunkProof};
pub use circuit_id::{CircuitSpec, JobError, JobInput, UnknownCircuit};
pub use coprocessor::{
    Answer, Category, ChunkJob, ChunkStatement, Commitment, DataSet, DataSetError, Query, Row,
};
pub use encoding::DecodeError;
pub use params::{CircuitParams, ParamDigest};
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

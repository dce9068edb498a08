//! The chain side of the network: the contracts the node embeds, as compiled once and
//! committed ([`contracts`]); a JSON-RPC client that deploys the verifier for a circuit and
//! asks it about proofs ([`rpc`]); coprocessor results checked whole and stored on chain,
//! over data sets kept on chain ([`query`]); a gateway's own deliveries of its results
//! ([`deliver`]); zkML inferences checked whole, slice chain and all, by ZkmlResults
//! ([`zkml`]). Keys, proofs and inputs as EVM words, and the
//! Solidity Poseidon, are pure and live in `lagrange_circuits::{evm, solidity}`.

pub mod contracts;
pub mod deliver;
pub mod query;
pub mod rpc;
pub mod zkml;

pub use contracts::{Groth16Verifier, QueryResults, RowLog, ZkmlResults};
pub use query::{Delivered, ProvenAnswer, task_key};
pub use rpc::{ChainError, Deployed, Evm, Verdict};

//! The lagrange-node library: the mesh (`net`), the gateway and prover roles over their
//! stores, the client API, the chain side (verifier contracts on an EVM chain), configuration, the node's key file and the node's wiring;
//! `tools` holds the operator's tools built on top, and `main.rs` is the command line.

pub mod api;
#[cfg(feature = "chain")]
pub mod chain;
pub mod circuit_workload;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod evidence_files;
pub mod gateway;
pub mod http;
pub mod keyfile;
pub mod launch;
pub mod metrics;
pub mod model;
pub mod net;
pub mod prover;
pub mod run;
pub mod store;
pub mod tools;
pub mod workload;

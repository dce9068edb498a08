//! The lagrange-node library: the networking layer today; the gateway and prover roles,
//! storage and the client API build on it.

pub mod api;
pub mod circuit_workload;
pub mod cli;
pub mod clock;
pub mod config;
pub mod devnet;
pub mod gateway;
pub mod http;
pub mod launch;
pub mod metrics;
pub mod net;
pub mod param_files;
pub mod prover;
pub mod report;
pub mod run;
pub mod store;
pub mod workload;

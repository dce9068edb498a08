//! The lagrange-node library: the mesh (`net`), the gateway and prover roles over their
//! stores, the client API, configuration and the node's wiring; `main.rs` is the command
//! line on top.

pub mod api;
pub mod chart;
pub mod circuit_workload;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod devnet;
pub mod economics;
pub mod evidence_files;
pub mod gateway;
pub mod gpu_check;
pub mod http;
pub mod launch;
pub mod metrics;
pub mod model;
pub mod net;
pub mod param_files;
pub mod prover;
pub mod report;
pub mod run;
pub mod soak;
pub mod store;
pub mod workload;

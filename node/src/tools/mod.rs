//! The operator's tools, built on the node but not part of it: nothing under `tools` runs
//! inside a gateway or a prover. They are the libraries behind the binary's commands that a
//! person runs around a network: a local devnet, client calls to a gateway and offline checks
//! of its files, an audit report over gateways, a soak-run judge, a GPU check, a token
//! economics simulation, and the charts the last two draw.

pub mod chart;
pub mod client;
#[cfg(feature = "chain")]
pub mod devchain;
pub mod devnet;
pub mod economics;
pub mod gpu_check;
pub mod report;
pub mod soak;

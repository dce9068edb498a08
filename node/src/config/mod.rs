//! The node's own configuration: who it is, where it listens, which Supernet it joins and
//! which role it runs there.
//!
//! Every field has a default. A value comes from, in rising order of precedence: the
//! default, the config file (`node.toml`, TOML), the environment (`LAGRANGE_*`), and the
//! command line. `lagrange-node init` writes a commented file with every field; the operator
//! guide (`docs/operator-guide.md`) lists them all.
//!
//! Relative paths in the file are relative to the file's directory; relative paths given by
//! flag or environment are relative to the working directory. An invalid value stops the
//! node at start with one line naming the field.
//!
//! This file holds the role and the settings a node runs with; `file` is the file's format
//! (its sections and their defaults, parsing, and the commented file `init` writes);
//! `settle` is the flags and variables over it, and the layering of them all into checked
//! settings.

mod file;
mod settle;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Result;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use lagrange_protocol::config::SupernetConfig;

pub use file::{GatewayRole, JoinConfig, NodeConfig, ProverRole};
pub use settle::Overrides;

/// The role a node runs in its Supernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes client tasks, runs auctions, verifies and aggregates.
    Gateway,
    /// Bids on jobs and proves them.
    Prover,
}

impl Role {
    /// `gateway` or `prover`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Prover => "prover",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gateway" => Ok(Role::Gateway),
            "prover" => Ok(Role::Prover),
            other => Err(format!("`{other}` is not a role: gateway or prover")),
        }
    }
}

/// How long a gateway keeps finished tasks and auctions unless configured otherwise: a week.
pub const DEFAULT_RETENTION_SECS: u64 = 7 * 24 * 3600;

/// The shortest retention a gateway accepts (other than 0, forever), seconds: time for
/// clients to fetch results and provers to fetch transcripts.
pub const MIN_RETENTION_SECS: u64 = 60;

/// One Supernet the node is in, and its role there.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The role.
    pub role: Role,
    /// The Supernet config file.
    pub supernet_file: PathBuf,
    /// The Supernet.
    pub supernet: SupernetConfig,
    /// libp2p listen addresses of its swarm.
    pub listen: Vec<Multiaddr>,
    /// Its bootnodes.
    pub bootnodes: Vec<Multiaddr>,
}

/// The settings a node runs with, after defaults, file, environment and flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Supernets it is in: the top-level `supernet` first, then each `[[join]]`.
    pub memberships: Vec<Membership>,
    /// The node key file.
    pub key_file: PathBuf,
    /// The state directory.
    pub data_dir: PathBuf,
    /// The parameter directory.
    pub params_dir: PathBuf,
    /// The metrics endpoint.
    pub metrics: SocketAddr,
    /// Gateway settings (for gateway memberships).
    pub gateway: GatewayRole,
    /// Prover settings (for prover memberships).
    pub prover: ProverRole,
}

impl Settings {
    /// The roles it runs, e.g. `gateway` or `gateway+prover`.
    pub fn roles(&self) -> String {
        let mut roles: Vec<&str> = self.memberships.iter().map(|m| m.role.as_str()).collect();
        roles.sort_unstable();
        roles.dedup();
        roles.join("+")
    }
}

//! The node's own configuration (`node.toml`): who it is, where it listens, which Supernet it
//! joins and which roles it runs there.
//!
//! ```toml
//! key_file = "node.key"            # from `lagrange-node keygen`
//! data_dir = "data"                # the gateway's sled store lives in data/store
//! params_dir = "params"            # circuit parameters, checked against the Supernet's pins
//! supernet = "supernet.toml"       # the Supernet's config (see docs/protocol.md)
//! listen = ["/ip4/0.0.0.0/tcp/9000"]
//! bootnodes = ["/ip4/203.0.113.7/tcp/9000/p2p/12D3KooW..."]
//!
//! [gateway]                        # present: run a gateway
//! grpc = "127.0.0.1:50051"
//!
//! [prover]                         # present: run a prover
//! capacity = 2
//! price_per_second = 100
//! margin_percent = 10
//! categories = ["small"]
//! ```
//!
//! Relative paths are relative to the config file's directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use lagrange_protocol::JobCategory;
use lagrange_protocol::config::SupernetConfig;

/// The gateway role's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayRole {
    /// Where the gRPC client API listens.
    pub grpc: SocketAddr,
}

/// The prover role's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProverRole {
    /// Jobs proven at once.
    pub capacity: u32,
    /// Price asked per second of measured proving time.
    pub price_per_second: u64,
    /// Margin on top, in percent.
    #[serde(default)]
    pub margin_percent: u64,
    /// Categories to bid on (default: every category the Supernet has).
    #[serde(default)]
    pub categories: Vec<JobCategory>,
}

/// A node's configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node key (hex), written by `lagrange-node keygen`.
    pub key_file: PathBuf,
    /// Where the node keeps its state.
    pub data_dir: PathBuf,
    /// Where circuit parameters are kept.
    pub params_dir: PathBuf,
    /// The Supernet's config file.
    pub supernet: PathBuf,
    /// libp2p listen addresses.
    #[serde(default = "default_listen")]
    pub listen: Vec<Multiaddr>,
    /// Bootnodes, each ending in `/p2p/<peer id>`.
    #[serde(default)]
    pub bootnodes: Vec<Multiaddr>,
    /// Run a gateway.
    #[serde(default)]
    pub gateway: Option<GatewayRole>,
    /// Run a prover.
    #[serde(default)]
    pub prover: Option<ProverRole>,
}

fn default_listen() -> Vec<Multiaddr> {
    vec![
        "/ip4/0.0.0.0/tcp/9000"
            .parse()
            .expect("a valid literal address"),
    ]
}

impl NodeConfig {
    /// Reads, resolves relative paths against the file's directory, and checks the config.
    pub fn load(path: &Path) -> Result<(Self, SupernetConfig)> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut cfg: NodeConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut cfg.key_file,
            &mut cfg.data_dir,
            &mut cfg.params_dir,
            &mut cfg.supernet,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if cfg.gateway.is_none() && cfg.prover.is_none() {
            bail!(
                "{}: no role: add a [gateway] or a [prover] section",
                path.display()
            );
        }
        if let Some(p) = &cfg.prover
            && p.capacity == 0
        {
            bail!("{}: prover.capacity must be at least 1", path.display());
        }
        if cfg.listen.is_empty() {
            bail!("{}: listen must name at least one address", path.display());
        }
        let supernet_text = std::fs::read_to_string(&cfg.supernet)
            .with_context(|| format!("reading {}", cfg.supernet.display()))?;
        let supernet = SupernetConfig::from_toml(&supernet_text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.supernet.display()))?;
        Ok((cfg, supernet))
    }
}

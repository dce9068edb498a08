//! `lagrange-node init`: writes a commented `node.toml` for a role and, unless one is
//! already there, a new node key beside it.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::config::{NodeConfig, Role};
use lagrange_node::keyfile;

/// Write a commented node config and a new key into a directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory (created if missing).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// gateway or prover.
    #[arg(long, default_value = "prover")]
    role: Role,
    /// The Supernet config the node joins (path as written into the config).
    #[arg(long = "supernet-config", default_value = "supernet.toml")]
    supernet: PathBuf,
    /// Bootnodes, each ending in /p2p/<peer id>.
    #[arg(long = "bootnode")]
    bootnodes: Vec<libp2p::Multiaddr>,
    /// Replace an existing node.toml (an existing key is always kept).
    #[arg(long)]
    force: bool,
    /// Derive the key from this public seed (INSECURE: testnets only).
    #[arg(long)]
    insecure_seed: Option<u64>,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        dir,
        role,
        supernet,
        bootnodes,
        force,
        insecure_seed,
    } = args;
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("node.toml");
    if config.exists() && !force {
        anyhow::bail!("{} already exists (--force replaces it)", config.display());
    }
    let key_path = dir.join("node.key");
    let (key, key_note) = if key_path.exists() {
        (keyfile::read(&key_path)?, "kept the existing")
    } else {
        (keyfile::create(&key_path, insecure_seed)?, "wrote")
    };
    std::fs::write(&config, NodeConfig::commented(role, &supernet, &bootnodes))?;
    println!(
        "wrote {}; {key_note} {}
peer id {}
public key {}",
        config.display(),
        key_path.display(),
        key.peer_id(),
        key.public()
    );
    Ok(())
}

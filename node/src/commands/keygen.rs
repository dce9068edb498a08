//! `lagrange-node keygen`: writes a new node key file and prints who it makes the node.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::keyfile;

/// Generate a node key (random) and print its peer id and public key.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the key (hex); never overwritten.
    #[arg(long, default_value = "node.key")]
    out: PathBuf,
    /// Derive the key from this public seed (INSECURE: testnets only).
    #[arg(long)]
    insecure_seed: Option<u64>,
}

pub fn run(args: Args) -> Result<()> {
    let Args { out, insecure_seed } = args;
    let key = keyfile::create(&out, insecure_seed)?;
    println!(
        "wrote {}; peer id {}; public key {}",
        out.display(),
        key.peer_id(),
        key.public()
    );
    Ok(())
}

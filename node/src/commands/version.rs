//! `lagrange-node version`: the node's and the protocol's versions, one line.

use anyhow::Result;

/// Print the node and protocol versions.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    println!(
        "lagrange-node {} (protocol v{})",
        env!("CARGO_PKG_VERSION"),
        lagrange_protocol::PROTOCOL_VERSION
    );
    Ok(())
}

//! `lagrange-node accounts`: prints the accounts of a gateway's Supernets.

use anyhow::Result;
use lagrange_node::tools::client;

/// List the accounts of a gateway's Supernets: stake, earnings and, where the Supernet
/// runs the token rules, native tokens liquid, staked, delegated, unbonding, vesting
/// and vested.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The gateway's gRPC address.
    #[arg(
        long,
        env = "LAGRANGE_GATEWAY",
        default_value = "http://127.0.0.1:50051"
    )]
    gateway: String,
    /// Only this Supernet.
    #[arg(long, default_value = "")]
    supernet: String,
}

pub fn run(args: Args) -> Result<()> {
    let Args { gateway, supernet } = args;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(client::accounts(&gateway, &supernet))?;
    Ok(())
}

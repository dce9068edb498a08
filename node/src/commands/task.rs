//! `lagrange-node task`: shows one task's status on a gateway and saves its result once it
//! is done.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::tools::client;

/// Show a task's status; save its result if it is done.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    id: String,
    /// The gateway's gRPC address.
    #[arg(
        long,
        env = "LAGRANGE_GATEWAY",
        default_value = "http://127.0.0.1:50051"
    )]
    gateway: String,
    /// Where to save the result.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Args { id, gateway, out } = args;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(client::task(&gateway, &id, out.as_deref()))?;
    Ok(())
}

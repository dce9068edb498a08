//! The `lagrange-node` binary: parses the command line and runs the chosen role.

use anyhow::Result;
use clap::{Parser, Subcommand};

/// A node of the lagrange proving network.
#[derive(Debug, Parser)]
#[command(name = "lagrange-node", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the protocol version this node speaks.
    Version,
    /// Run a gateway and provers in one process and prove a sample task.
    Devnet,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!(
                "lagrange-node {} (protocol v{})",
                env!("CARGO_PKG_VERSION"),
                lagrange_protocol::PROTOCOL_VERSION
            );
        }
        Command::Devnet => {
            anyhow::bail!(
                "the in-process devnet is not part of this build yet: it arrives with the \
                 gateway and prover roles"
            );
        }
    }
    Ok(())
}

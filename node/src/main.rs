//! The `lagrange-node` binary: parses the command line and runs the chosen command.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use lagrange_node::devnet::{self, DevnetOptions};
use lagrange_protocol::JobCategory;

/// A node of the lagrange proving network.
#[derive(Debug, Parser)]
#[command(name = "lagrange-node", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the node and protocol versions.
    Version,
    /// Run a gateway and provers in one process on loopback and prove sample coprocessor
    /// queries end to end (insecure seeded keys and parameters: local use only).
    Devnet {
        /// Number of provers.
        #[arg(long, default_value_t = 3)]
        provers: usize,
        /// Number of query tasks.
        #[arg(long, default_value_t = 1)]
        tasks: usize,
        /// Rows in each task's data set.
        #[arg(long, default_value_t = 100)]
        rows: usize,
        /// Job category, which sets the chunk size: small, medium or large.
        #[arg(long, default_value = "small")]
        category: JobCategory,
        /// Where circuit parameters are cached (default: under the system temp dir).
        #[arg(long)]
        params_dir: Option<PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libp2p_kad=error")),
        )
        .init();
    match cli.command {
        Command::Version => {
            println!(
                "lagrange-node {} (protocol v{})",
                env!("CARGO_PKG_VERSION"),
                lagrange_protocol::PROTOCOL_VERSION
            );
        }
        Command::Devnet {
            provers,
            tasks,
            rows,
            category,
            params_dir,
            timeout_secs,
        } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let report = runtime.block_on(devnet::run(DevnetOptions {
                provers,
                tasks,
                rows,
                category,
                params_dir,
                timeout: Duration::from_secs(timeout_secs),
            }))?;
            println!(
                "devnet: {} task(s) proven, aggregated and verified; every answer matches the native evaluator",
                report.tasks.len()
            );
        }
    }
    Ok(())
}

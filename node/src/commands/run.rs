//! `lagrange-node run`: settles the node's settings (config file, then `LAGRANGE_*`
//! variables, then flags), applies the test-only fault knobs, and runs the node until it is
//! told to stop.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::config::{NodeConfig, Overrides};

/// Run the node until SIGINT or SIGTERM. Settings come from the config file, then
/// LAGRANGE_* variables, then these flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node config (TOML). Without it, defaults plus variables and flags.
    #[arg(long, env = "LAGRANGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Box<Overrides>,
}

/// Exits with status 2 when the settings do not settle.
pub fn run(args: Args) -> Result<()> {
    let Args { config, overrides } = args;
    let explicit = config.is_some();
    let path = config.unwrap_or_else(|| PathBuf::from("node.toml"));
    let settings = match NodeConfig::settle(&path, explicit, &overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    if let Some(skew) = overrides.clock_skew_ms {
        lagrange_node::clock::set_skew_ms(skew);
    }
    if let Some(percent) = overrides.drop_results_percent {
        lagrange_node::gateway::driver::drop_results_percent(percent);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(lagrange_node::run::run_node(settings))?;
    Ok(())
}

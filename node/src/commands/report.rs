//! `lagrange-node report`: its flags, the audit printed as a table (and optionally JSON),
//! and the exit status that says whether every check passed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use lagrange_node::tools::report::{self, ReportOptions};

/// Audit gateways: wait for their tasks to end, check every result, payment and the
/// ledger, and print a summary. Exits non-zero if any check fails.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The gateways' gRPC addresses.
    #[arg(long = "gateway", required = true)]
    gateways: Vec<String>,
    /// Directory with the circuits' verifying keys, to check every result offline.
    #[arg(long)]
    params_dir: Option<PathBuf>,
    /// Wait this long for tasks to end (and for gateways that are restarting).
    #[arg(long, default_value_t = 0)]
    wait_secs: u64,
    /// Wait until at least this many tasks are listed.
    #[arg(long, default_value_t = 0)]
    expect_tasks: usize,
    /// Peer ids that must never win or be paid.
    #[arg(long = "intruder")]
    intruders: Vec<String>,
    /// Peer ids of honest provers, which must never be slashed or penalized.
    #[arg(long = "honest")]
    honest: Vec<String>,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only print the public keys of provers holding an assigned job now.
    #[arg(long)]
    holders: bool,
}

/// Exits with status 1 when a check fails.
pub fn run(args: Args) -> Result<()> {
    let Args {
        gateways,
        params_dir,
        wait_secs,
        expect_tasks,
        intruders,
        honest,
        json,
        holders,
    } = args;
    let runtime = tokio::runtime::Runtime::new()?;
    if holders {
        for gw in &gateways {
            for key in runtime.block_on(report::holders(gw))? {
                println!("{key}");
            }
        }
        return Ok(());
    }
    let report = runtime.block_on(report::collect(&ReportOptions {
        gateways,
        params_dir,
        wait: Duration::from_secs(wait_secs),
        expect_tasks,
        intruders,
        honest,
    }))?;
    print!("{}", report.table());
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
    }
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}

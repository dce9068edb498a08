//! `lagrange-node devnet`: its flags, and the one-line verdict printed after
//! [`lagrange_node::tools::devnet::run`] has proven every task.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use lagrange_node::tools::devnet::{self, DevnetOptions, DevnetWorkload};
use lagrange_protocol::JobCategory;

/// Run a gateway and provers in one process on loopback and prove sample coprocessor
/// queries end to end (insecure seeded keys and parameters: local use only).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the tasks prove: query (coprocessor SUM/COUNT), circom (a bundled circom
    /// circuit, proofs in snarkjs' format), zkml (a bundled model) or chain (queries over
    /// rows recorded on an EVM chain, delivered back to it: on the node at --rpc, else on
    /// an EVM inside this process).
    #[arg(long, value_enum, default_value = "query")]
    workload: DevnetWorkload,
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
    /// Write each task's verified result (JSON) into this directory.
    #[arg(long)]
    results_dir: Option<PathBuf>,
    /// `--workload chain`: the JSON-RPC endpoint of the EVM node to run on (default: an
    /// EVM inside this process, its one account funded at genesis).
    #[arg(long)]
    rpc: Option<String>,
    /// `--workload chain`: a file holding the hex key that deploys the contracts, records
    /// the rows and delivers the results (else read from LAGRANGE_ETH_KEY).
    #[arg(long)]
    eth_key_file: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        workload,
        provers,
        tasks,
        rows,
        category,
        params_dir,
        timeout_secs,
        results_dir,
        rpc,
        eth_key_file,
    } = args;
    let chain = rpc.map(|rpc| devnet::DevnetChain { rpc, eth_key_file });
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(devnet::run(DevnetOptions {
        workload,
        provers,
        tasks,
        rows,
        category,
        params_dir,
        timeout: Duration::from_secs(timeout_secs),
        results_dir,
        chain,
    }))?;
    match workload {
        DevnetWorkload::Query => println!(
            "devnet: {} task(s) proven, aggregated and verified; every answer matches the native evaluator",
            report.tasks.len()
        ),
        DevnetWorkload::Circom => println!(
            "devnet: {} circom task(s) proven and every proof verified",
            report.tasks.len()
        ),
        DevnetWorkload::Chain => println!(
            "devnet: {} task(s) over rows recorded on chain proven, delivered by the gateway and checked on chain; every answer the contract holds matches the native evaluator",
            report.tasks.len()
        ),
        DevnetWorkload::Zkml => println!(
            "devnet: {} zkML task(s) proven in slices, every chain verified; every output matches the quantized evaluator",
            report.tasks.len()
        ),
    }
    Ok(())
}

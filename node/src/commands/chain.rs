//! `lagrange-node chain`: what an operator or a client does on an EVM chain around the
//! network's results. `deploy` puts a coprocessor circuit's verifier and a `QueryResults`
//! over it on chain; `record` appends rows to a `RowLog` (a data set on chain, committed to as
//! the coprocessor commits); `answer` reads the answer a `QueryResults` holds for a query over
//! a log's rows, and with `--expect` checks it against a result file.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use anyhow::{Context, Result, bail};
use lagrange_circuits::CircuitSpec;
use lagrange_circuits::coprocessor::{Query, Row};
use lagrange_circuits::family::TaskResult;
use lagrange_node::chain::Evm;
use lagrange_node::circuit_workload::verifier_keys;
use lagrange_node::keyfile;

/// Contracts on an EVM chain: deploy a verifier and QueryResults, record rows in a RowLog,
/// read an answer a QueryResults holds.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// The chain's JSON-RPC endpoint.
    #[arg(long, global = true)]
    rpc: Option<String>,
    /// The chain id the endpoint must serve; another is refused before anything is sent.
    #[arg(long, global = true)]
    chain_id: Option<u64>,
    /// A file holding the hex secp256k1 key that signs transactions; without it, the key is
    /// read from LAGRANGE_ETH_KEY.
    #[arg(long, global = true)]
    eth_key_file: Option<PathBuf>,
}

// The actions (no doc comment: clap would take it as help).
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Deploy a coprocessor circuit's verifier and a QueryResults over it; prints their
    /// addresses.
    Deploy {
        /// The coprocessor circuit (`coprocessor-sum-v1/small`, …).
        #[arg(long)]
        circuit: String,
        /// Directory with the circuit's verifying key.
        #[arg(long)]
        params_dir: PathBuf,
    },
    /// Append rows to a RowLog (a new one unless --contract names one); prints its address
    /// and the commitment it then holds.
    Record {
        /// The RowLog to append to.
        #[arg(long)]
        contract: Option<String>,
        /// CSV file of rows (`key,value` per line).
        #[arg(long, conflicts_with = "sample_rows")]
        rows_file: Option<PathBuf>,
        /// This many deterministic sample rows (those of `submit query --sample-rows`).
        #[arg(long)]
        sample_rows: Option<usize>,
    },
    /// Print the answer a QueryResults holds for a query over a RowLog's rows; exit 1 if it
    /// holds none, or another than --expect's.
    Answer {
        /// The QueryResults contract.
        #[arg(long)]
        contract: String,
        /// The RowLog whose rows the query is over.
        #[arg(long)]
        source: String,
        /// Lowest key counted.
        #[arg(long)]
        lo: u64,
        /// Highest key counted.
        #[arg(long)]
        hi: u64,
        /// A result file whose answer the contract must hold.
        #[arg(long)]
        expect: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> Result<()> {
    let rpc = args
        .rpc
        .clone()
        .context("give the chain's JSON-RPC endpoint with --rpc")?;
    let signs = !matches!(args.action, Action::Answer { .. });
    let signer = signs
        .then(|| keyfile::read_eth_key(args.eth_key_file.as_deref()))
        .transpose()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let evm = Evm::connect(&rpc, signer, args.chain_id).await?;
        match args.action {
            Action::Deploy {
                circuit,
                params_dir,
            } => deploy(&evm, &circuit, &params_dir).await,
            Action::Record {
                contract,
                rows_file,
                sample_rows,
            } => {
                let rows = match (rows_file, sample_rows) {
                    (Some(path), _) => lagrange_node::tools::client::read_rows(&path)?,
                    (None, Some(n)) => lagrange_circuits::coprocessor::sample_task(0, n).0,
                    (None, None) => bail!("give --rows-file or --sample-rows"),
                };
                let contract = contract.as_deref().map(address).transpose()?;
                let rows: Vec<Row> = rows
                    .into_iter()
                    .map(|(key, value)| Row { key, value })
                    .collect();
                record(&evm, contract, &rows).await
            }
            Action::Answer {
                contract,
                source,
                lo,
                hi,
                expect,
            } => {
                answer(
                    &evm,
                    address(&contract)?,
                    address(&source)?,
                    Query { lo, hi },
                    expect.as_deref(),
                )
                .await
            }
        }
    })
}

/// An address given on the command line.
fn address(text: &str) -> Result<Address> {
    text.parse()
        .with_context(|| format!("{text:?} is not an address"))
}

/// Deploys the verifier of a coprocessor circuit and a `QueryResults` over it.
async fn deploy(evm: &Evm, circuit: &str, params_dir: &Path) -> Result<()> {
    let chunk_rows = match CircuitSpec::parse(circuit)? {
        CircuitSpec::Coprocessor(shape) => shape.rows as u64,
        other => bail!("{other} is not a coprocessor circuit: QueryResults checks query results"),
    };
    let (_, vk) = verifier_keys(params_dir, circuit)?
        .into_iter()
        .next()
        .with_context(|| format!("{circuit} has no verifying key in {}", params_dir.display()))?;
    let verifier = evm.deploy_verifier(&vk).await?;
    let results = evm
        .deploy_query_results(verifier.address, chunk_rows)
        .await?;
    println!(
        "verifier of {circuit} at {} ({} gas)",
        verifier.address, verifier.gas_used
    );
    println!(
        "QueryResults at {} ({} gas)",
        results.address, results.gas_used
    );
    Ok(())
}

/// Appends `rows` to the log at `log` (a new one if none), 64 a transaction.
async fn record(evm: &Evm, log: Option<Address>, rows: &[Row]) -> Result<()> {
    let log = match log {
        Some(log) => evm.code_at(log).await?,
        None => evm.deploy_row_log().await?.address,
    };
    let gas = evm.record_all_rows(log, rows).await?;
    let commitment = evm.row_log_commitment(log).await?;
    println!("{} rows recorded ({gas} gas)", rows.len());
    println!("RowLog at {log}, commitment {commitment}");
    Ok(())
}

/// Prints the answer `results` holds for `query` over `source`'s rows, checked against
/// `expect`'s if given.
async fn answer(
    evm: &Evm,
    results: Address,
    source: Address,
    query: Query,
    expect: Option<&Path>,
) -> Result<()> {
    let (held, rows) = evm.query_answer_over_log(results, source, query).await?;
    let held = held.with_context(|| {
        format!(
            "{results} holds no answer for [{}, {}] over RowLog {source}'s {rows} rows",
            query.lo, query.hi
        )
    })?;
    println!(
        "SUM={} COUNT={} over {} rows",
        held.answer.sum, held.answer.count, held.rows
    );
    if let Some(path) = expect {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let Ok(TaskResult::Query(result)) = TaskResult::from_json(&bytes) else {
            bail!("{}: not a query result file", path.display());
        };
        if result.answer != held.answer || result.query != query {
            bail!(
                "{results} holds SUM={} COUNT={}, {} says SUM={} COUNT={} for [{}, {}]",
                held.answer.sum,
                held.answer.count,
                path.display(),
                result.answer.sum,
                result.answer.count,
                result.query.lo,
                result.query.hi
            );
        }
        println!("matches {}", path.display());
    }
    Ok(())
}

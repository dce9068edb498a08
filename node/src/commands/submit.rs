//! `lagrange-node submit`: builds a task from the command line and files (CSV rows or
//! sample rows, synthetic jobs, zkML inputs, circom witnesses or input signals) and sends
//! it to a gateway, optionally following it to its result.

use std::path::PathBuf;

use anyhow::{Context, Result};
use lagrange_node::tools::client::{self, Submission};
use lagrange_protocol::JobCategory;

/// Submit a task to a gateway over gRPC.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    task: Kind,
    /// The gateway's gRPC address.
    #[arg(
        long,
        env = "LAGRANGE_GATEWAY",
        default_value = "http://127.0.0.1:50051"
    )]
    gateway: String,
    /// The Supernet.
    #[arg(long, env = "LAGRANGE_SUPERNET", default_value = "devnet")]
    supernet: String,
    /// Job category: small, medium or large.
    #[arg(long, default_value = "small")]
    category: JobCategory,
    /// The most to pay per job.
    #[arg(long, default_value_t = 2000)]
    max_fee: u64,
    /// Fail the task if it is not done within this many seconds.
    #[arg(long, default_value_t = 600)]
    deadline_secs: u64,
    /// Follow the task until it ends and save its result.
    #[arg(long)]
    wait: bool,
    /// Where to save the result (default `<task>.result.json`).
    #[arg(long)]
    out: Option<PathBuf>,
}

// The kinds of task a client can submit (no doc comment: clap would take it as help).
#[derive(Debug, clap::Subcommand)]
enum Kind {
    /// SUM and COUNT of values whose key is in [lo, hi], over rows from a CSV file
    /// (`key,value` per line), generated sample rows, or a data set kept on an EVM chain.
    Query {
        /// CSV file of rows.
        #[arg(long, conflicts_with_all = ["sample_rows", "from_chain"])]
        rows_file: Option<PathBuf>,
        /// Use this many deterministic sample rows instead of a file.
        #[arg(long, conflicts_with = "from_chain")]
        sample_rows: Option<usize>,
        /// Read the rows from the `RowAppended` events of a RowLog contract (`--rpc`,
        /// `--contract`), and check them against the commitment the contract holds for
        /// them before anything is sent.
        #[arg(long, requires_all = ["rpc", "contract"])]
        from_chain: bool,
        /// The chain's JSON-RPC endpoint.
        #[arg(long)]
        rpc: Option<String>,
        /// The RowLog contract.
        #[arg(long)]
        contract: Option<String>,
        /// The chain id the endpoint must serve.
        #[arg(long)]
        chain_id: Option<u64>,
        /// The first block whose events are read (the log's first row must be in it or
        /// after it).
        #[arg(long)]
        from_block: Option<u64>,
        /// The last block whose events are read (default: the latest): the query is over
        /// the rows recorded up to it.
        #[arg(long)]
        to_block: Option<u64>,
        /// Lowest key counted.
        #[arg(long)]
        lo: u64,
        /// Highest key counted.
        #[arg(long)]
        hi: u64,
        /// Have the gateway deliver the result to this QueryResults contract when the task
        /// is done (with `--from-chain`, checked against the RowLog the rows came from); the
        /// transaction shows in the task's events.
        #[arg(long)]
        deliver_to: Option<String>,
    },
    /// Independent proofs of the synthetic circuit (load tests).
    Synthetic {
        /// How many jobs.
        #[arg(long)]
        jobs: u32,
    },
    /// Inferences of a zkML model the Supernet serves, each proven in slices.
    Zkml {
        /// The model, as the Supernet names it (`zkml/<name>`, or just `<name>`).
        #[arg(long)]
        model_id: String,
        /// The inputs: a JSON array of numbers (one input, flattened), an array of such
        /// arrays, or ezkl's `{"input_data": [[...]]}`.
        #[arg(long)]
        input: PathBuf,
        /// The model commitment you expect (from the Supernet config); the task is refused
        /// if the Supernet serves another model under this id.
        #[arg(long, default_value = "")]
        model_commitment: String,
    },
    /// One proof per witness of a circom circuit the Supernet serves.
    Circom {
        /// The circuit, as the Supernet names it (`circom/<name>`, or just `<name>`).
        #[arg(long)]
        circuit: String,
        /// A witness (`.wtns`, as circom's witness generator or snarkjs writes it); repeat.
        #[arg(long = "wtns", required_unless_present = "input")]
        wtns: Vec<PathBuf>,
        /// Input signals (an `input.json` object), whose witness the gateway computes with
        /// the circuit's pinned generator; repeat.
        #[arg(long = "input")]
        input: Vec<PathBuf>,
    },
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        task,
        gateway,
        supernet,
        category,
        max_fee,
        deadline_secs,
        wait,
        out,
    } = args;
    let task = submission(task)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(client::submit(
        &gateway,
        &supernet,
        task,
        category,
        max_fee,
        deadline_secs,
        wait,
        out.as_deref(),
    ))?;
    Ok(())
}

/// Reads what the task needs from files (or makes sample rows) and names its circuit or
/// model in full.
fn submission(task: Kind) -> Result<Submission> {
    Ok(match task {
        Kind::Query {
            rows_file,
            sample_rows,
            from_chain,
            rpc,
            contract,
            chain_id,
            from_block,
            to_block,
            lo,
            hi,
            deliver_to,
        } => {
            let source = contract.clone().filter(|_| from_chain);
            let deliver_to = deliver_to.map(|to| (to, source));
            let rows = match (rows_file, sample_rows, rpc, contract) {
                (Some(path), ..) => client::read_rows(&path)?,
                (None, Some(n), ..) => lagrange_circuits::coprocessor::sample_task(0, n).0,
                (None, None, Some(rpc), Some(contract)) if from_chain => {
                    chain_rows(&rpc, &contract, chain_id, from_block, to_block)?
                }
                _ => anyhow::bail!("give --rows-file, --sample-rows or --from-chain"),
            };
            Submission::Query {
                rows,
                lo,
                hi,
                deliver_to,
            }
        }
        Kind::Synthetic { jobs } => Submission::Synthetic { jobs },
        Kind::Circom {
            circuit,
            wtns,
            input,
        } => {
            let prefix = lagrange_protocol::config::CIRCOM_PREFIX;
            let circuit = if circuit.starts_with(prefix) {
                circuit
            } else {
                format!("{prefix}{circuit}")
            };
            let witnesses = wtns
                .iter()
                .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
                .collect::<Result<_>>()?;
            let inputs = input
                .iter()
                .map(|p| {
                    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
                })
                .collect::<Result<_>>()?;
            Submission::Circom {
                circuit,
                witnesses,
                inputs,
            }
        }
        Kind::Zkml {
            model_id,
            input,
            model_commitment,
        } => {
            let prefix = lagrange_protocol::config::ZKML_PREFIX;
            let model = if model_id.starts_with(prefix) {
                model_id
            } else {
                format!("{prefix}{model_id}")
            };
            Submission::Zkml {
                model,
                inputs: client::read_zkml_inputs(&input)?,
                commitment: model_commitment,
            }
        }
    })
}

/// The rows of a RowLog on an EVM chain, checked against its commitment.
#[cfg(feature = "chain")]
fn chain_rows(
    rpc: &str,
    contract: &str,
    chain_id: Option<u64>,
    from_block: Option<u64>,
    to_block: Option<u64>,
) -> Result<Vec<(u64, u64)>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let rows = runtime.block_on(client::rows_from_chain(
        rpc, contract, chain_id, from_block, to_block,
    ))?;
    Ok(rows.into_iter().map(|row| (row.key, row.value)).collect())
}

/// Without the `chain` feature, no chain to read from.
#[cfg(not(feature = "chain"))]
fn chain_rows(
    _rpc: &str,
    _contract: &str,
    _chain_id: Option<u64>,
    _from_block: Option<u64>,
    _to_block: Option<u64>,
) -> Result<Vec<(u64, u64)>> {
    anyhow::bail!("--from-chain needs a lagrange-node built with the `chain` feature")
}

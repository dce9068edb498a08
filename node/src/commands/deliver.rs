//! `lagrange-node deliver`: sends a result to its contract on an EVM chain, which checks it
//! whole and keeps it for other contracts to read. A coprocessor result goes to a
//! `QueryResults` (every chunk proof in one pairing check, the chain of chunks from genesis
//! to the data set's commitment, the answer); a zkML result to its model's `ZkmlResults`
//! (every slice proof, the chain of activations from the input to the output values). The
//! result is first tried as a call, so a result the contract refuses is reported with its
//! reason and costs no gas.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use lagrange_circuits::family::TaskResult;
use lagrange_node::chain::{Delivered, Evm, task_key};
use lagrange_node::keyfile;

/// Deliver a query result to a QueryResults contract, or a zkML result to its model's
/// ZkmlResults contract, on an EVM chain.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The result file (`task --result` wrote it).
    result: PathBuf,
    /// The chain's JSON-RPC endpoint.
    #[arg(long)]
    rpc: String,
    /// The QueryResults contract.
    #[arg(long)]
    contract: String,
    /// The chain id the endpoint must serve; another is refused before anything is sent.
    #[arg(long)]
    chain_id: Option<u64>,
    /// A file holding the hex secp256k1 key that signs the transaction; without it, the
    /// key is read from LAGRANGE_ETH_KEY.
    #[arg(long)]
    eth_key_file: Option<PathBuf>,
    /// The data source the result is over, for a query submitted `--from-chain`: the
    /// contract then checks the proofs against the commitment the source holds for the rows
    /// they cover, not only against the one the result names.
    #[arg(long)]
    source: Option<String>,
    /// The task id the answer is emitted under (by default the result's digest).
    #[arg(long)]
    task: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let bytes = std::fs::read(&args.result)
        .with_context(|| format!("reading {}", args.result.display()))?;
    let result = TaskResult::from_json(&bytes)
        .with_context(|| format!("{}: not a result file", args.result.display()))?;
    let query = match result {
        TaskResult::Query(query) => query,
        TaskResult::Zkml(zkml) => return deliver_inferences(&args, &zkml),
        _ => bail!(
            "{}: only coprocessor query results (to QueryResults) and zkML results (to ZkmlResults) are delivered",
            args.result.display()
        ),
    };
    let contract = args
        .contract
        .parse()
        .with_context(|| format!("--contract {:?} is not an address", args.contract))?;
    let source = args
        .source
        .as_deref()
        .map(|s| {
            s.parse()
                .with_context(|| format!("--source {s:?} is not an address"))
        })
        .transpose()?;
    let signer = keyfile::read_eth_key(args.eth_key_file.as_deref())?;
    let task = args.task.unwrap_or_else(|| hex::encode(query.digest()));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let evm = Evm::connect(&args.rpc, Some(signer), args.chain_id).await?;
        let delivered = evm.submit_query(contract, source, &task, &query).await?;
        println!(
            "delivered: SUM={} COUNT={} over {} rows, {}",
            query.answer.sum,
            query.answer.count,
            query.rows,
            receipt(&task, &delivered)
        );
        Ok(())
    })
}

/// A zkML result's inferences delivered to the model's `ZkmlResults`.
fn deliver_inferences(args: &Args, result: &lagrange_circuits::zkml::ZkmlResult) -> Result<()> {
    if args.source.is_some() {
        bail!("--source names a data source: a zkML result has none");
    }
    let contract = args
        .contract
        .parse()
        .with_context(|| format!("--contract {:?} is not an address", args.contract))?;
    let signer = keyfile::read_eth_key(args.eth_key_file.as_deref())?;
    let task = args
        .task
        .clone()
        .unwrap_or_else(|| hex::encode(blake3::hash(&result.to_json()).as_bytes()));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let evm = Evm::connect(&args.rpc, Some(signer), args.chain_id).await?;
        let delivered = evm.submit_inferences(contract, &task, result).await?;
        println!(
            "delivered: {} inference(s) of {}, {}",
            result.inferences.len(),
            result.model,
            receipt(&task, &delivered)
        );
        Ok(())
    })
}

/// The task, its key on chain, and the transaction that delivered it.
fn receipt(task: &str, delivered: &Delivered) -> String {
    format!(
        "task {task} (key {}), transaction {} in block {}, {} gas",
        task_key(task),
        delivered.tx,
        delivered
            .block
            .map_or_else(|| "?".to_string(), |b| b.to_string()),
        delivered.gas_used
    )
}

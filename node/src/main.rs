//! The `lagrange-node` binary: parses the command line and runs the chosen command.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use lagrange_node::circuit_workload::Checked;
use lagrange_node::cli;
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
        /// Write each task's verified result (JSON) into this directory.
        #[arg(long)]
        results_dir: Option<PathBuf>,
    },
    /// Run the roles a node config file describes, until Ctrl-C.
    Run {
        /// The node config (TOML).
        #[arg(long, default_value = "node.toml")]
        config: PathBuf,
    },
    /// Generate circuit parameters from a public seed, for devnets and testnets only
    /// (INSECURE: anyone who knows the seed can forge proofs), and print the digests to pin
    /// in a Supernet config.
    SetupInsecure {
        /// Circuit ids, e.g. coprocessor-sum-v1/small.
        #[arg(required = true)]
        circuits: Vec<String>,
        /// Where to write the parameter files.
        #[arg(long, default_value = "params")]
        params_dir: PathBuf,
        /// The public seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Generate a node key (random) and print its peer id.
    Keygen {
        /// Where to write the key (hex); never overwritten.
        #[arg(long, default_value = "node.key")]
        out: PathBuf,
    },
    /// Submit a task to a gateway over gRPC.
    Submit {
        #[command(subcommand)]
        task: SubmitKind,
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
    },
    /// Show a task's status; save its result if it is done.
    Task {
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
    },
    /// Check a result file offline: every proof, the chain of chunks and the answer.
    Verify {
        /// The result file.
        result: PathBuf,
        /// Directory with the circuits' verifying keys (`.vk` files).
        #[arg(long)]
        params_dir: PathBuf,
    },
    /// Write a result's proofs in snarkjs's JSON formats, one directory per proof.
    ExportSnarkjs {
        /// The result file.
        result: PathBuf,
        /// Directory with the circuits' verifying keys.
        #[arg(long)]
        params_dir: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "snarkjs")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SubmitKind {
    /// SUM and COUNT of values whose key is in [lo, hi], over rows from a CSV file
    /// (`key,value` per line) or generated sample rows.
    Query {
        /// CSV file of rows.
        #[arg(long, conflicts_with = "sample_rows")]
        rows_file: Option<PathBuf>,
        /// Use this many deterministic sample rows instead of a file.
        #[arg(long)]
        sample_rows: Option<usize>,
        /// Lowest key counted.
        #[arg(long)]
        lo: u64,
        /// Highest key counted.
        #[arg(long)]
        hi: u64,
    },
    /// Independent proofs of the synthetic circuit (load tests).
    Synthetic {
        /// How many jobs.
        #[arg(long)]
        jobs: u32,
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
            results_dir,
        } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let report = runtime.block_on(devnet::run(DevnetOptions {
                provers,
                tasks,
                rows,
                category,
                params_dir,
                timeout: Duration::from_secs(timeout_secs),
                results_dir,
            }))?;
            println!(
                "devnet: {} task(s) proven, aggregated and verified; every answer matches the native evaluator",
                report.tasks.len()
            );
        }
        Command::Run { config } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(lagrange_node::launch::run_node(&config))?;
        }
        Command::SetupInsecure {
            circuits,
            params_dir,
            seed,
        } => {
            std::fs::create_dir_all(&params_dir)?;
            let specs = circuits
                .iter()
                .map(|c| lagrange_circuits::CircuitSpec::parse(c))
                .collect::<Result<Vec<_>, _>>()?;
            let (_, pins) = lagrange_node::circuit_workload::CircuitWorkload::insecure_devnet(
                &params_dir,
                &specs,
                seed,
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            for ((id, digest), spec) in pins.into_iter().zip(specs) {
                let category = match spec {
                    lagrange_circuits::CircuitSpec::Coprocessor(shape) => {
                        shape.category().map(|c| c.as_str().to_string())
                    }
                    lagrange_circuits::CircuitSpec::Synthetic { log2 } => JobCategory::ALL
                        .into_iter()
                        .find(|c| lagrange_node::circuit_workload::synthetic_log2(*c) == log2)
                        .map(|c| c.to_string()),
                };
                println!("[[circuits]]\nid = \"{id}\"");
                if let Some(category) = category {
                    println!("category = \"{category}\"");
                }
                println!("params_digest = \"{digest}\"\n");
            }
        }
        Command::Keygen { out } => {
            let key = cli::keygen(&out)?;
            println!("wrote {}; peer id {}", out.display(), key.peer_id());
        }
        Command::Submit {
            task,
            gateway,
            supernet,
            category,
            max_fee,
            deadline_secs,
            wait,
            out,
        } => {
            let task = match task {
                SubmitKind::Query {
                    rows_file,
                    sample_rows,
                    lo,
                    hi,
                } => {
                    let rows = match (rows_file, sample_rows) {
                        (Some(path), _) => cli::read_rows(&path)?,
                        (None, Some(n)) => devnet::sample_task(0, n).0,
                        (None, None) => anyhow::bail!("give --rows-file or --sample-rows"),
                    };
                    cli::Submission::Query { rows, lo, hi }
                }
                SubmitKind::Synthetic { jobs } => cli::Submission::Synthetic { jobs },
            };
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(cli::submit(
                &gateway,
                &supernet,
                task,
                category,
                max_fee,
                deadline_secs,
                wait,
                out.as_deref(),
            ))?;
        }
        Command::Task { id, gateway, out } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(cli::task(&gateway, &id, out.as_deref()))?;
        }
        Command::Verify { result, params_dir } => match cli::verify(&params_dir, &result)? {
            Checked::Query {
                sum,
                count,
                commitment,
                rows,
            } => println!(
                "valid: SUM={sum} COUNT={count} over {rows} rows committed to {commitment}"
            ),
            Checked::Synthetic { proofs } => println!("valid: {proofs} synthetic proofs"),
        },
        Command::ExportSnarkjs {
            result,
            params_dir,
            out,
        } => {
            let n = cli::export(&params_dir, &result, &out)?;
            println!(
                "wrote {n} proof(s) in snarkjs format under {}",
                out.display()
            );
        }
    }
    Ok(())
}

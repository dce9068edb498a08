//! The `lagrange-node` binary: parses the command line and runs the chosen command.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lagrange_node::circuit_workload::Checked;
use lagrange_node::cli;
use lagrange_node::config::{NodeConfig, Overrides, Role};
use lagrange_node::devnet::{self, DevnetOptions};
use lagrange_node::report::{self, ReportOptions};
use lagrange_protocol::JobCategory;

/// A node of the lagrange proving network.
#[derive(Debug, Parser)]
#[command(name = "lagrange-node", version, about)]
struct Cli {
    /// Log format: text (for people) or json (one object per line, for log shippers).
    /// Levels and targets come from RUST_LOG.
    #[arg(
        long,
        global = true,
        env = "LAGRANGE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum EconomicsCommand {
    /// Simulate Supernets with delegated stake, client demand and provers for a number of
    /// epochs; write `economics.csv` and SVG charts (supply, client-paid share, buybacks and
    /// pool price, prover income) into `--out`.
    Simulate {
        /// The scenario (TOML: a `[tokenomics]` table and `[[supernets]]`; see
        /// docs/economics.md and docs/economics-example.toml).
        #[arg(long)]
        config: PathBuf,
        /// Epochs to run.
        #[arg(long, default_value_t = 365)]
        epochs: u64,
        /// Where the CSV and charts go.
        #[arg(long, default_value = "economics")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the node and protocol versions.
    Version,
    /// Run a gateway and provers in one process on loopback and prove sample coprocessor
    /// queries end to end (insecure seeded keys and parameters: local use only).
    Devnet {
        /// What the tasks prove: query (coprocessor SUM/COUNT) or circom (a bundled circom
        /// circuit, proofs in snarkjs' format).
        #[arg(long, value_enum, default_value = "query")]
        workload: devnet::DevnetWorkload,
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
    /// Write a commented node config and a new key into a directory.
    Init {
        /// The directory (created if missing).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// gateway or prover.
        #[arg(long, default_value = "prover")]
        role: Role,
        /// The Supernet config the node joins (path as written into the config).
        #[arg(long = "supernet-config", default_value = "supernet.toml")]
        supernet: PathBuf,
        /// Bootnodes, each ending in /p2p/<peer id>.
        #[arg(long = "bootnode")]
        bootnodes: Vec<libp2p::Multiaddr>,
        /// Replace an existing node.toml (an existing key is always kept).
        #[arg(long)]
        force: bool,
        /// Derive the key from this public seed (INSECURE: testnets only).
        #[arg(long)]
        insecure_seed: Option<u64>,
    },
    /// Run the node until SIGINT or SIGTERM. Settings come from the config file, then
    /// LAGRANGE_* variables, then these flags.
    Run {
        /// The node config (TOML). Without it, defaults plus variables and flags.
        #[arg(long, env = "LAGRANGE_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        overrides: Box<Overrides>,
    },
    /// Audit gateways: wait for their tasks to end, check every result, payment and the
    /// ledger, and print a summary. Exits non-zero if any check fails.
    Report {
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
    /// Generate a node key (random) and print its peer id and public key.
    Keygen {
        /// Where to write the key (hex); never overwritten.
        #[arg(long, default_value = "node.key")]
        out: PathBuf,
        /// Derive the key from this public seed (INSECURE: testnets only).
        #[arg(long)]
        insecure_seed: Option<u64>,
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
    /// Circom circuits a Supernet serves.
    Circuit {
        #[command(subcommand)]
        action: CircuitAction,
    },
    /// zkML models (ONNX) a Supernet serves.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// List the accounts of a gateway's Supernets: stake, earnings and, where the Supernet
    /// runs the token rules, native tokens liquid, staked, delegated, unbonding, vesting
    /// and vested.
    Accounts {
        /// The gateway's gRPC address.
        #[arg(
            long,
            env = "LAGRANGE_GATEWAY",
            default_value = "http://127.0.0.1:50051"
        )]
        gateway: String,
        /// Only this Supernet.
        #[arg(long, default_value = "")]
        supernet: String,
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
    /// Check an auction's evidence file offline: recompute the award and every promise the
    /// gateway signed (closed commit set, bid receipts, capacities). Exits 0 when the
    /// gateway kept them, 1 when the file proves a deviation, 2 when it binds nobody.
    ///
    /// A gateway's `.equivocation` file (a prover's two different commits for one batch) is
    /// checked too: exit 1 when it proves the equivocation, 2 when it does not.
    ///
    /// With `--gateway`, `--supernet` and `--batch` instead, fetch that batch's transcript
    /// from the gateway's API and audit it (the award, the closed set, attribution).
    Audit {
        /// The evidence file (as a node keeps it under `<data>/<supernet>/evidence/`).
        #[arg(required_unless_present = "batch", conflicts_with = "batch")]
        evidence: Option<PathBuf>,
        /// The gateway's API (with --batch).
        #[arg(long, requires = "batch", default_value = "http://127.0.0.1:50051")]
        gateway: String,
        /// The Supernet (with --batch).
        #[arg(long, requires = "batch")]
        supernet: Option<String>,
        /// A batch id, as the task's events name it.
        #[arg(long, requires = "supernet")]
        batch: Option<String>,
        /// Also write the fetched transcript as an evidence file here (with --batch).
        #[arg(long, requires = "batch")]
        out: Option<PathBuf>,
    },
    /// Check this host's GPU before joining a GPU Supernet: start it as a prover would,
    /// self-test it against the CPU (field, curve, G1 and G2 MSMs, whole proofs bit for
    /// bit), time MSMs and proofs on both, and print a table. Without a usable GPU it says
    /// what is missing and exits 0, or 1 with --require-gpu.
    GpuCheck {
        /// Exit non-zero unless a GPU is usable and passes the self-test.
        #[arg(long)]
        require_gpu: bool,
        /// Fewer and smaller sizes.
        #[arg(long)]
        quick: bool,
        /// The self-test's random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Judge a testnet soak run (`testnet/run.sh --soak`): join its samples, submissions and
    /// final report into soak.csv and soak.svg, and exit non-zero if a task was lost or
    /// memory, open files, the store per task or the backlog grew without bound.
    SoakCheck {
        /// The run's directory (samples.csv, submitted.tsv, report.json).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Token economics: run a scenario through the token rules.
    Economics {
        #[command(subcommand)]
        command: EconomicsCommand,
    },
    /// Check a result file offline: every proof, the chain of chunks and the answer.
    Verify {
        /// The result file.
        result: PathBuf,
        /// Directory with the circuits' verifying keys (`.vk` files; a zkML model's
        /// `zkml/<name>.keys`).
        #[arg(long)]
        params_dir: PathBuf,
        /// For a zkML result: the inputs the client sent (the `submit zkml --input` file);
        /// the result must be of them.
        #[arg(long)]
        input: Option<PathBuf>,
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

#[derive(Debug, Subcommand)]
enum CircuitAction {
    /// Checks a circom circuit's .zkey and .r1cs, copies them into the parameter directory
    /// and prints the [[circuits]] entry (with their digests) for the Supernet config.
    Add {
        /// The circuit's name; its id is `circom/<name>` (lowercase letters, digits, '-').
        name: String,
        /// The proving key, as `snarkjs groth16 setup` (and contributions) wrote it.
        #[arg(long)]
        zkey: PathBuf,
        /// The constraints, as the circom compiler wrote them.
        #[arg(long)]
        r1cs: PathBuf,
        /// The witness generator the circom compiler wrote (`<name>_js/<name>.wasm`), so
        /// clients may send input signals instead of witnesses.
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// The category its jobs are auctioned in.
        #[arg(long, default_value = "small")]
        category: JobCategory,
        /// The node's parameter directory.
        #[arg(long, default_value = "params")]
        params_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ModelAction {
    /// Checks and quantizes an ONNX model, cuts it into slices, makes each slice's keys
    /// (one-party setup), writes the model and keys into the parameter directory and prints
    /// the [[circuits]] entry (with their digests and the model commitment) for the
    /// Supernet config.
    Add {
        /// The model's name; its id is `zkml/<name>` (letters, digits, '-').
        name: String,
        /// The ONNX file.
        #[arg(long)]
        onnx: PathBuf,
        /// A layer where a new slice starts (repeat; none: one slice per layer).
        #[arg(long = "cut")]
        cuts: Vec<usize>,
        /// The category its jobs are auctioned in.
        #[arg(long, default_value = "small")]
        category: JobCategory,
        /// The node's parameter directory.
        #[arg(long, default_value = "params")]
        params_dir: PathBuf,
    },
}

/// Runs the command; an error is printed as its message and its causes, one per line, with
/// no stack trace whatever `RUST_BACKTRACE` says (it is the user's input, not a bug).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    // The constraint-system crates trace every gadget call under the `gr1cs` and `r1cs`
    // targets, formatting whole constraint systems: a proof would take minutes. Those targets
    // stay off whatever RUST_LOG says.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libp2p_kad=error"))
        .add_directive("gr1cs=off".parse()?)
        .add_directive("r1cs=off".parse()?);
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match cli.command {
        Command::Version => {
            println!(
                "lagrange-node {} (protocol v{})",
                env!("CARGO_PKG_VERSION"),
                lagrange_protocol::PROTOCOL_VERSION
            );
        }
        Command::Devnet {
            workload,
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
                workload,
                provers,
                tasks,
                rows,
                category,
                params_dir,
                timeout: Duration::from_secs(timeout_secs),
                results_dir,
            }))?;
            match workload {
                devnet::DevnetWorkload::Query => println!(
                    "devnet: {} task(s) proven, aggregated and verified; every answer matches the native evaluator",
                    report.tasks.len()
                ),
                devnet::DevnetWorkload::Circom => println!(
                    "devnet: {} circom task(s) proven and every proof verified",
                    report.tasks.len()
                ),
                devnet::DevnetWorkload::Zkml => println!(
                    "devnet: {} zkML task(s) proven in slices, every chain verified; every output matches the quantized evaluator",
                    report.tasks.len()
                ),
            }
        }
        Command::Init {
            dir,
            role,
            supernet,
            bootnodes,
            force,
            insecure_seed,
        } => {
            std::fs::create_dir_all(&dir)?;
            let config = dir.join("node.toml");
            if config.exists() && !force {
                anyhow::bail!("{} already exists (--force replaces it)", config.display());
            }
            let key_path = dir.join("node.key");
            let (key, key_note) = if key_path.exists() {
                (cli::read_key(&key_path)?, "kept the existing")
            } else {
                (cli::keygen(&key_path, insecure_seed)?, "wrote")
            };
            std::fs::write(&config, NodeConfig::commented(role, &supernet, &bootnodes))?;
            println!(
                "wrote {}; {key_note} {}
peer id {}
public key {}",
                config.display(),
                key_path.display(),
                key.peer_id(),
                key.public()
            );
        }
        Command::Run { config, overrides } => {
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
        }
        Command::Report {
            gateways,
            params_dir,
            wait_secs,
            expect_tasks,
            intruders,
            honest,
            json,
            holders,
        } => {
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
        Command::Keygen { out, insecure_seed } => {
            let key = cli::keygen(&out, insecure_seed)?;
            println!(
                "wrote {}; peer id {}; public key {}",
                out.display(),
                key.peer_id(),
                key.public()
            );
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
                SubmitKind::Circom {
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
                        .map(|p| {
                            std::fs::read(p).with_context(|| format!("reading {}", p.display()))
                        })
                        .collect::<Result<_>>()?;
                    let inputs = input
                        .iter()
                        .map(|p| {
                            std::fs::read_to_string(p)
                                .with_context(|| format!("reading {}", p.display()))
                        })
                        .collect::<Result<_>>()?;
                    cli::Submission::Circom {
                        circuit,
                        witnesses,
                        inputs,
                    }
                }
                SubmitKind::Zkml {
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
                    cli::Submission::Zkml {
                        model,
                        inputs: cli::read_zkml_inputs(&input)?,
                        commitment: model_commitment,
                    }
                }
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
        Command::Circuit {
            action:
                CircuitAction::Add {
                    name,
                    zkey,
                    r1cs,
                    wasm,
                    category,
                    params_dir,
                },
        } => {
            print!(
                "{}",
                cli::circuit_add(&name, category, &zkey, &r1cs, wasm.as_deref(), &params_dir)?
            );
        }
        Command::Model {
            action:
                ModelAction::Add {
                    name,
                    onnx,
                    cuts,
                    category,
                    params_dir,
                },
        } => {
            print!(
                "{}",
                cli::model_add(&name, category, &onnx, &cuts, &params_dir)?
            );
        }
        Command::Accounts { gateway, supernet } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(cli::accounts(&gateway, &supernet))?;
        }
        Command::Task { id, gateway, out } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(cli::task(&gateway, &id, out.as_deref()))?;
        }
        Command::GpuCheck {
            require_gpu,
            quick,
            seed,
            json,
        } => {
            let report =
                lagrange_node::gpu_check::run(lagrange_node::gpu_check::Options { quick, seed });
            print!("{}", report.text());
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if report.gpu.is_some() && !report.passed() {
                anyhow::bail!("the GPU failed its self-test");
            }
            if require_gpu && report.gpu.is_none() {
                anyhow::bail!("no usable GPU (--require-gpu)");
            }
        }
        Command::SoakCheck { dir } => {
            let outcome = lagrange_node::soak::check_dir(&dir)?;
            for v in &outcome.verdicts {
                let mark = if v.ok { "ok  " } else { "FAIL" };
                println!("{mark} {}: {}", v.check, v.detail);
            }
            for path in &outcome.written {
                println!("wrote {}", path.display());
            }
            if outcome.verdicts.iter().any(|v| !v.ok) {
                anyhow::bail!("the soak run failed its checks");
            }
        }
        Command::Economics {
            command:
                EconomicsCommand::Simulate {
                    config,
                    epochs,
                    out,
                },
        } => {
            let started = std::time::Instant::now();
            for path in lagrange_node::economics::run(&config, epochs, &out)? {
                println!("wrote {}", path.display());
            }
            println!(
                "{epochs} epochs simulated in {:.2}s",
                started.elapsed().as_secs_f64()
            );
        }
        Command::Audit {
            evidence,
            gateway,
            supernet,
            batch,
            out,
        } => {
            let verdict = match (evidence, supernet, batch) {
                (Some(file), _, _) => cli::audit(&file)?,
                (None, Some(supernet), Some(batch)) => {
                    let runtime = tokio::runtime::Runtime::new()?;
                    runtime.block_on(cli::audit_batch(
                        &gateway,
                        &supernet,
                        &batch,
                        out.as_deref(),
                    ))?
                }
                _ => anyhow::bail!("give an evidence file, or --supernet and --batch"),
            };
            match verdict {
                cli::Finding::Auction(Ok(award)) => println!(
                    "no deviation: the award follows the rule ({} jobs awarded, {} unawarded, {} non-revealers)",
                    award.awarded.len(),
                    award.unawarded.len(),
                    award.non_revealers.len()
                ),
                cli::Finding::Auction(Err(
                    e @ lagrange_protocol::audit::AuditError::Deviation { .. },
                )) => {
                    println!("{e}");
                    std::process::exit(1);
                }
                cli::Finding::Equivocation(Ok((prover, batch))) => {
                    println!(
                        "prover {prover} equivocated in batch {batch}: two different signed commits"
                    );
                    std::process::exit(1);
                }
                cli::Finding::Auction(Err(e)) => {
                    println!("{e}");
                    std::process::exit(2);
                }
                cli::Finding::Equivocation(Err(e)) => {
                    println!("not an equivocation: {e}");
                    std::process::exit(2);
                }
            }
        }
        Command::Verify {
            result,
            params_dir,
            input,
        } => match cli::verify(&params_dir, &result, input.as_deref())? {
            Checked::Query {
                sum,
                count,
                commitment,
                rows,
            } => println!(
                "valid: SUM={sum} COUNT={count} over {rows} rows committed to {commitment}"
            ),
            Checked::Synthetic { proofs } => println!("valid: {proofs} synthetic proofs"),
            Checked::Circom { circuit, proofs } => {
                println!("valid: {proofs} proofs of {circuit}")
            }
            Checked::Zkml {
                model,
                commitment,
                scale_bits,
                outputs,
            } => {
                println!(
                    "valid: {} inference(s) of {model} (commitment {commitment}), every slice proof and chain",
                    outputs.len()
                );
                for (n, output) in outputs.iter().enumerate() {
                    let real: Vec<String> = output
                        .iter()
                        .map(|v| format!("{:.4}", *v as f64 / f64::from(1u32 << scale_bits)))
                        .collect();
                    println!(
                        "inference {n}: class {} of outputs [{}]",
                        lagrange_circuits::zkml::argmax(output),
                        real.join(", ")
                    );
                }
            }
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

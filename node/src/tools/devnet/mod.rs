//! `lagrange-node devnet`: a gateway and provers in one process, on real libp2p over
//! loopback, with a temporary sled store, proving sample coprocessor queries end to end,
//! (`--workload circom`) witnesses of a bundled circom circuit, or (`--workload zkml`)
//! inferences of a bundled MNIST-size perceptron, each layer a slice proven by its own job,
//! or (`--workload chain`) queries over rows recorded on an EVM chain, delivered back to it by
//! the gateway and read from the contract.
//!
//! The chain side lives in [`chain`]. Keys and circuit parameters come from public seeds: **insecure**, for local use only.
//! Parameters are cached in a directory (by default under the system temp dir), so only
//! the first run pays for their setup.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use lagrange_circuits::coprocessor::{DataSet, Query, Row, sample_task};
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::HardwareSummary;
use lagrange_protocol::{CircuitId, Digest, JobCategory, Keypair, PublicKey, SupernetId, TaskId};

mod chain;

pub use chain::DevnetChain;

use crate::circuit_workload::{CircuitWorkload, KeySource, circuit_for, prepare_zkml};
use crate::clock::now_ms;
use crate::gateway::driver::GatewayHandle;
use crate::launch::{self, ParamFiles};
use crate::model::{TaskEventKind, TaskSpec, TaskStatus};
use crate::net::NetConfig;
use crate::prover::{CostModel, ProverSettings};
use crate::store::Store;
use crate::workload::Workload;

/// Which workload a devnet proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DevnetWorkload {
    /// SUM/COUNT queries over sample rows, split into coprocessor chunk jobs.
    #[default]
    Query,
    /// The bundled circom circuit (a chain of 64 squarings, from
    /// `circuits/fixtures/circom`): three witnesses and one set of input signals (whose
    /// witness the gateway computes) per task, one job each.
    Circom,
    /// The bundled zkML model (an MNIST-size perceptron, 784 → 64 → 32 → 10, made from a
    /// fixed seed): two inputs per task, each proven in three slices, one per layer.
    Zkml,
    /// SUM/COUNT queries over sample rows recorded on an EVM chain (`--rpc`): the chunk
    /// verifier and a QueryResults deployed, each task's rows recorded in a RowLog and read
    /// back from its events, the result delivered on chain by the gateway itself, and the
    /// answer read from the contract.
    Chain,
}

/// The bundled zkML model: its ONNX bytes are made by
/// [`lagrange_circuits::zkml::sample::mlp`] from a fixed seed, so nothing is downloaded and
/// every run serves the same model.
pub mod zkml_bundle {
    use rand::{Rng, SeedableRng};

    /// Its id.
    pub const ID: &str = "zkml/mnist-mlp";
    /// Layer widths.
    pub const SIZES: [usize; 4] = [784, 64, 32, 10];
    /// Inputs per task.
    pub const INPUTS_PER_TASK: usize = 2;

    /// The ONNX model.
    pub fn onnx() -> Vec<u8> {
        lagrange_circuits::zkml::sample::mlp(0x6d6e6973, &SIZES)
    }

    /// Input `n` of task `t`: a 28×28 "image" of values in `[0, 1)`, from a fixed seed.
    pub fn input(t: usize, n: usize) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64((t * INPUTS_PER_TASK + n) as u64);
        (0..SIZES[0]).map(|_| rng.r#gen::<f32>()).collect()
    }
}

/// The bundled circom circuit, as the fixture script made it.
mod bundled {
    pub const ID: &str = "circom/square-chain";
    pub const ZKEY: &[u8] =
        include_bytes!("../../../../circuits/fixtures/circom/square_chain.zkey");
    pub const R1CS: &[u8] =
        include_bytes!("../../../../circuits/fixtures/circom/square_chain.r1cs");
    pub const WASM: &[u8] =
        include_bytes!("../../../../circuits/fixtures/circom/square_chain.wasm");
    pub const INPUTS: &str = r#"{"x": "6", "c": "7"}"#;
    pub const WITNESSES: [&[u8]; 3] = [
        include_bytes!("../../../../circuits/fixtures/circom/witness.wtns"),
        include_bytes!("../../../../circuits/fixtures/circom/witness-4.wtns"),
        include_bytes!("../../../../circuits/fixtures/circom/witness-5.wtns"),
    ];
}

/// What to run.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// What the tasks prove.
    pub workload: DevnetWorkload,
    /// Number of provers.
    pub provers: usize,
    /// Number of query tasks.
    pub tasks: usize,
    /// Rows per task's data set.
    pub rows: usize,
    /// Job category (chunk size).
    pub category: JobCategory,
    /// Where circuit parameters are cached.
    pub params_dir: Option<PathBuf>,
    /// Give up after this long.
    pub timeout: Duration,
    /// Write each task's verified result here, if set.
    pub results_dir: Option<PathBuf>,
    /// The EVM node of a `--workload chain` run; none: an EVM inside this process.
    pub chain: Option<DevnetChain>,
}

impl Default for DevnetOptions {
    fn default() -> Self {
        Self {
            workload: DevnetWorkload::Query,
            provers: 3,
            tasks: 1,
            rows: 100,
            category: JobCategory::Small,
            params_dir: None,
            timeout: Duration::from_secs(120),
            results_dir: None,
            chain: None,
        }
    }
}

/// One task's outcome.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    /// The task.
    pub task: TaskId,
    /// SUM and COUNT proven by the aggregated proof.
    pub proven: (u128, u64),
    /// SUM and COUNT from the native evaluator.
    pub native: (u128, u64),
    /// SUM and COUNT the `QueryResults` contract holds after the gateway's delivery
    /// (`--workload chain`).
    pub on_chain: Option<(u128, u64)>,
    /// Submission to verified result.
    pub latency: Duration,
}

/// What a devnet run did.
#[derive(Debug, Clone)]
pub struct DevnetReport {
    /// Each task's outcome.
    pub tasks: Vec<TaskOutcome>,
    /// Per prover name: (amount paid, jobs paid for, stake left).
    pub ledger: BTreeMap<String, (u64, u64, u64)>,
}

fn say(start: Instant, line: impl std::fmt::Display) {
    println!("[{:>6.2}s] {line}", start.elapsed().as_secs_f64());
}

/// Runs the devnet and returns each task's outcome; fails if any task fails or its proven
/// answer differs from the native evaluator's.
pub async fn run(opts: DevnetOptions) -> Result<DevnetReport> {
    let start = Instant::now();
    if opts.provers == 0 || opts.tasks == 0 || opts.rows == 0 {
        bail!("--provers, --tasks and --rows must all be at least 1");
    }
    let params_dir = opts
        .params_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("lagrange-node-devnet-params"));
    std::fs::create_dir_all(&params_dir)
        .with_context(|| format!("creating {}", params_dir.display()))?;

    // Circuit parameters: an insecure seeded setup, cached, or the bundled circom circuit.
    let (workload, circuits) = match opts.workload {
        DevnetWorkload::Query | DevnetWorkload::Chain => {
            let spec = circuit_for(true, opts.category);
            say(
                start,
                format!(
                    "loading parameters for {spec} (insecure devnet setup, cached in {})",
                    params_dir.display()
                ),
            );
            let dir = params_dir.clone();
            let (workload, pins) = tokio::task::spawn_blocking(move || {
                CircuitWorkload::insecure_devnet(&dir, &[spec], 0xdeu64)
            })
            .await?
            .map_err(|e| anyhow!(e))?;
            let circuits = pins
                .iter()
                .map(|(id, digest)| CircuitConfig {
                    id: id.clone(),
                    category: opts.category,
                    params_digest: *digest,
                    r1cs_digest: None,
                    wasm_digest: None,
                    model: None,
                })
                .collect();
            (workload, circuits)
        }
        DevnetWorkload::Circom => {
            say(
                start,
                format!(
                    "loading the bundled circom circuit {} (a chain of 64 squarings)",
                    bundled::ID
                ),
            );
            let id = CircuitId::new(bundled::ID)?;
            let category = opts.category;
            let dir = params_dir.clone();
            let workload = tokio::task::spawn_blocking(move || -> Result<CircuitWorkload> {
                let backend: Arc<dyn lagrange_circuits::MsmBackend> =
                    Arc::new(lagrange_circuits::CpuMsm);
                let mut w = CircuitWorkload::load_with(&dir, &[], backend.clone())
                    .map_err(|e| anyhow!(e))?;
                w.add_circom(
                    &id,
                    category,
                    bundled::ZKEY,
                    bundled::R1CS,
                    Some(bundled::WASM),
                    backend,
                )
                .map_err(|e| anyhow!(e))?;
                Ok(w)
            })
            .await??;
            let digest = |bytes: &[u8]| Digest(*blake3::hash(bytes).as_bytes());
            let circuits = vec![CircuitConfig {
                id: CircuitId::new(bundled::ID)?,
                category: opts.category,
                params_digest: digest(bundled::ZKEY),
                r1cs_digest: Some(digest(bundled::R1CS)),
                wasm_digest: Some(digest(bundled::WASM)),
                model: None,
            }];
            (workload, circuits)
        }
        DevnetWorkload::Zkml => {
            say(
                start,
                format!(
                    "loading the bundled model {} ({:?}, insecure devnet keys, cached in {})",
                    zkml_bundle::ID,
                    zkml_bundle::SIZES,
                    params_dir.display()
                ),
            );
            let id = CircuitId::new(zkml_bundle::ID)?;
            let category = opts.category;
            let dir = params_dir.clone();
            tokio::task::spawn_blocking(move || -> Result<(CircuitWorkload, Vec<CircuitConfig>)> {
                let prepared = prepare_zkml(
                    &dir,
                    &id,
                    category,
                    &zkml_bundle::onnx(),
                    &[],
                    KeySource::InsecureSeeded(0xde),
                )
                .map_err(|e| anyhow!(e))?;
                let mut w =
                    CircuitWorkload::load_with(&dir, &[], Arc::new(lagrange_circuits::CpuMsm))
                        .map_err(|e| anyhow!(e))?;
                let entry = prepared.entry;
                w.serve_zkml(
                    &id,
                    category,
                    prepared.model,
                    &prepared.keys,
                    entry.model.map(|m| m.commitment),
                    Arc::new(lagrange_circuits::CpuMsm),
                )
                .map_err(|e| anyhow!(e))?;
                Ok((w, vec![entry]))
            })
            .await??
        }
    };
    let workload = Arc::new(workload);

    // Keys and the Supernet.
    let gw_key = Keypair::insecure_from_seed(0);
    let prover_keys: Vec<Keypair> = (1..=opts.provers as u64)
        .map(Keypair::insecure_from_seed)
        .collect();
    let mut names: BTreeMap<PublicKey, String> = BTreeMap::new();
    names.insert(gw_key.public(), "gateway".into());
    for (i, k) in prover_keys.iter().enumerate() {
        names.insert(k.public(), format!("prover-{}", i + 1));
    }
    let supernet = SupernetConfig {
        id: SupernetId::new("devnet")?,
        gateways: vec![gw_key.peer_id()],
        allowlist: Some(
            std::iter::once(&gw_key)
                .chain(&prover_keys)
                .map(Keypair::peer_id)
                .collect(),
        ),
        auction: AuctionConfig::default(),
        economics: EconomicsConfig::default(),
        categories: vec![CategoryConfig {
            category: opts.category,
            proving_deadline_ms: 30_000,
            reserve_price: 1000,
        }],
        circuits,
    };
    supernet.validate()?;
    let supernet = Arc::new(supernet);

    // The gateway.
    let gw = launch::start_gateway(
        &gw_key,
        supernet.clone(),
        Store::temporary()?,
        workload.clone(),
        NetConfig::local(),
        None,
        ParamFiles::default(),
    )
    .await?;
    let bootnode = gw.p2p_addr.clone();
    let gateway = gw.gateway.clone();
    say(
        start,
        format!("gateway {} listening on {bootnode}", gw_key.peer_id()),
    );

    // The chain side: contracts deployed, and the gateway delivering its own results.
    let stop_delivery = tokio_util::sync::CancellationToken::new();
    let chain = match opts.workload {
        DevnetWorkload::Chain => Some(
            chain::setup(
                opts.chain.as_ref(),
                opts.category,
                &params_dir,
                &gateway,
                &stop_delivery,
                |line| say(start, line),
            )
            .await?,
        ),
        _ => None,
    };

    // Calibrate the cost model once: prove one sample job and time it.
    let plan = workload
        .split(&task_spec(&opts, 0)?)
        .map_err(|e| anyhow!(e))?;
    let sample = plan.first().context("the sample task has no jobs")?.clone();
    let w = workload.clone();
    let t0 = Instant::now();
    tokio::task::spawn_blocking(move || w.prove(&sample.circuit, &sample.input))
        .await?
        .map_err(|e| anyhow!(e))?;
    let proving_ms = t0.elapsed().as_millis().max(1) as u64;
    say(
        start,
        format!(
            "calibrated: one {} job proves in {proving_ms} ms",
            opts.category
        ),
    );

    // The provers: same hardware, different price per second, so the auction has a winner.
    let mut nets = Vec::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    for (i, key) in prover_keys.iter().enumerate() {
        let settings = ProverSettings {
            capacity: 2,
            cost: CostModel {
                proving_ms: [(opts.category, proving_ms)].into(),
                price_per_second: 100 + 40 * i as u64,
                margin_percent: 10,
            },
            hardware: HardwareSummary {
                cpu_cores: cores,
                memory_mib: 0,
                gpu: None,
                msm_backend: "cpu".into(),
            },
            announce_every_ms: 5_000,
        };
        let price = settings.cost.price(opts.category).unwrap_or(0);
        say(
            start,
            format!(
                "prover-{} {} asks {price} per {} job",
                i + 1,
                key.peer_id(),
                opts.category
            ),
        );
        nets.push(launch::start_prover(
            key,
            supernet.clone(),
            workload.clone(),
            vec![bootnode.clone()],
            settings,
            ParamFiles::default(),
        )?);
    }

    // Submit the tasks and follow them.
    let mut followers = Vec::new();
    for t in 0..opts.tasks {
        let mut spec = task_spec(&opts, t)?;
        let delivery = chain::record(chain.as_ref(), &mut spec, |line| say(start, line)).await?;
        let task = gateway
            .submit_delivered(
                spec.clone(),
                2000,
                now_ms() + opts.timeout.as_millis() as u64,
                delivery,
            )
            .await?;
        let what = match &spec {
            TaskSpec::Query { rows, lo, hi, .. } => format!(
                "SUM and COUNT of values with key in [{lo}, {hi}] over {} rows",
                rows.len()
            ),
            TaskSpec::Circom {
                circuit,
                witnesses,
                inputs,
            } => format!(
                "{} witnesses and {} input sets of {circuit}",
                witnesses.len(),
                inputs.len()
            ),
            TaskSpec::Synthetic { .. } => "synthetic proofs".into(),
            TaskSpec::Zkml { model, inputs, .. } => {
                format!("{} inferences of {model}", inputs.len())
            }
        };
        say(
            start,
            format!("task {} submitted: {what}, {} jobs", task.id, task.jobs),
        );
        followers.push(tokio::spawn(follow(
            gateway.clone(),
            task.id,
            names.clone(),
            start,
            opts.timeout,
        )));
    }

    let mut outcomes = Vec::new();
    for (t, follower) in followers.into_iter().enumerate() {
        let (task, latency) = follower.await??;
        let record = gateway
            .store()
            .task(&task)?
            .context("task vanished from the store")?;
        if let TaskStatus::Failed { reason } = &record.status {
            bail!("task {task} failed: {reason}");
        }
        let result = gateway.store().result(&task)?.context("no result stored")?;
        if let Some(dir) = &opts.results_dir {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("{task}.result.json"));
            std::fs::write(&path, &result)?;
            say(
                start,
                format!("task {task}: result written to {}", path.display()),
            );
        }
        let w = workload.clone();
        let spec = gateway
            .store()
            .task_spec(&task)?
            .context("the task's spec is gone")?;
        if opts.workload == DevnetWorkload::Zkml {
            report_inferences(&workload, &task_spec(&opts, t)?, &result, start)?;
        }
        let answer = tokio::task::spawn_blocking(move || w.check_result(&spec, &result))
            .await?
            .map_err(|e| anyhow!("the aggregated proof does not verify: {e}"))?;
        let native = match opts.workload {
            DevnetWorkload::Query | DevnetWorkload::Chain => {
                let (rows, lo, hi) = sample_task(t, opts.rows);
                let native = DataSet::new(
                    rows.iter()
                        .map(|&(key, value)| Row { key, value })
                        .collect(),
                )
                .map_err(|e| anyhow!(e.to_string()))?
                .evaluate(Query { lo, hi });
                (native.sum, native.count)
            }
            // Every bundled witness proven and verified, in snarkjs' format.
            DevnetWorkload::Circom => (0, bundled::WITNESSES.len() as u64 + 1),
            // Every inference proven, its chain checked, against the client's inputs.
            DevnetWorkload::Zkml => (0, zkml_bundle::INPUTS_PER_TASK as u64),
        };
        let (_, lo, hi) = sample_task(t, opts.rows);
        let on_chain = chain::answer(chain.as_ref(), &gateway, &task, Query { lo, hi }).await?;
        let outcome = TaskOutcome {
            task,
            proven: (answer.sum, answer.count),
            native,
            on_chain,
            latency,
        };
        let line = match opts.workload {
            DevnetWorkload::Query | DevnetWorkload::Chain => format!(
                "task {task}: verified answer SUM={} COUNT={}; native evaluator SUM={} COUNT={}",
                answer.sum, answer.count, native.0, native.1
            ),
            DevnetWorkload::Circom => format!(
                "task {task}: {} of {} proofs verified against the circuit's key (snarkjs format)",
                answer.count, native.1
            ),
            DevnetWorkload::Zkml => format!(
                "task {task}: {} of {} inferences verified, every slice proof and chain",
                answer.count, native.1
            ),
        };
        let verdict = if outcome.proven == outcome.native {
            "match"
        } else {
            "MISMATCH"
        };
        say(start, format!("{line}: {verdict}"));
        if outcome.proven != outcome.native {
            bail!("task {task}: the proven answer differs from what was expected");
        }
        if let Some((sum, count)) = on_chain {
            say(
                start,
                format!("task {task}: the contract holds SUM={sum} COUNT={count}: match"),
            );
            if on_chain != Some(native) {
                bail!("task {task}: the answer on chain differs from the native evaluator's");
            }
        }
        outcomes.push(outcome);
    }
    let mut ledger = BTreeMap::new();
    for (key, account) in gateway.store().accounts()? {
        let name = names.get(&key).cloned().unwrap_or_else(|| key.to_string());
        ledger.insert(
            name.clone(),
            (account.balance, account.jobs_paid, account.stake),
        );
        say(
            start,
            format!(
                "ledger {name}: paid {} for {} jobs, stake {}, slashed {}",
                account.balance, account.jobs_paid, account.stake, account.slashed
            ),
        );
    }
    drop(nets);
    stop_delivery.cancel();
    gw.shutdown().await;
    Ok(DevnetReport {
        tasks: outcomes,
        ledger,
    })
}

/// Task `t` of the run.
fn task_spec(opts: &DevnetOptions, t: usize) -> Result<TaskSpec> {
    Ok(match opts.workload {
        DevnetWorkload::Query | DevnetWorkload::Chain => {
            let (rows, lo, hi) = sample_task(t, opts.rows);
            TaskSpec::Query {
                rows,
                lo,
                hi,
                category: opts.category,
            }
        }
        DevnetWorkload::Circom => TaskSpec::Circom {
            circuit: CircuitId::new(bundled::ID)?,
            witnesses: bundled::WITNESSES.iter().map(|w| w.to_vec()).collect(),
            inputs: vec![bundled::INPUTS.to_string()],
        },
        DevnetWorkload::Zkml => TaskSpec::Zkml {
            model: CircuitId::new(zkml_bundle::ID)?,
            inputs: (0..zkml_bundle::INPUTS_PER_TASK)
                .map(|n| {
                    zkml_bundle::input(t, n)
                        .into_iter()
                        .map(f32::to_bits)
                        .collect()
                })
                .collect(),
            commitment: None,
        },
    })
}

/// Checks a zkML task's result against the inputs the client sent (every slice proof,
/// every chain, every input commitment), prints each proven inference's class next to the
/// float reference's (tract), and fails unless the proven outputs are exactly the quantized
/// evaluator's.
fn report_inferences(
    workload: &CircuitWorkload,
    spec: &TaskSpec,
    result: &[u8],
    start: Instant,
) -> Result<()> {
    let TaskSpec::Zkml { model, inputs, .. } = spec else {
        return Ok(());
    };
    let served = workload
        .zkml_model(model.as_str())
        .context("the bundled model is not served")?;
    let result = crate::circuit_workload::TaskResult::from_json(result)?;
    let proven = workload.check_zkml(model.as_str(), inputs, &result)?;
    for (n, (bits, output)) in inputs.iter().zip(&proven).enumerate() {
        let real: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
        let expected = served
            .model()
            .evaluate(&served.model().quantize_input(&real)?)?;
        if *output != expected {
            bail!("input {n}: the proven output differs from the quantized evaluator's");
        }
        let class = lagrange_circuits::zkml::argmax(output);
        let logits: Vec<String> = output
            .iter()
            .map(|v| format!("{:.3}", served.model().dequantize(*v)))
            .collect();
        say(
            start,
            format!(
                "input {n}: predicted class {class}{}; logits [{}]",
                float_class(&real)?,
                logits.join(", ")
            ),
        );
    }
    Ok(())
}

/// The class tract's float run of the bundled model gives `input`, as the report prints it
/// (nothing without the `float-reference` feature).
#[cfg(feature = "float-reference")]
fn float_class(input: &[f32]) -> Result<String> {
    let float = lagrange_circuits::zkml::onnx::float_reference(&zkml_bundle::onnx(), input)?;
    Ok(format!(
        " (float reference, tract: {})",
        lagrange_circuits::zkml::argmax(&float)
    ))
}

#[cfg(not(feature = "float-reference"))]
fn float_class(_input: &[f32]) -> Result<String> {
    Ok(String::new())
}

/// Prints a task's history as it happens, until it is done or failed.
async fn follow(
    gateway: GatewayHandle,
    task: TaskId,
    names: BTreeMap<PublicKey, String>,
    start: Instant,
    timeout: Duration,
) -> Result<(TaskId, Duration)> {
    let begun = Instant::now();
    let mut changes = gateway.changes();
    let mut seen = 0u64;
    let deadline = tokio::time::Instant::now() + timeout;
    let name = |k: &PublicKey| names.get(k).cloned().unwrap_or_else(|| k.to_string());
    let short = |t: &TaskId| t.to_string()[..8].to_string();
    loop {
        for event in gateway.store().events(&task, seen)? {
            seen = event.seq + 1;
            let line = match event.kind {
                TaskEventKind::Submitted { jobs } => format!("stored with {jobs} jobs"),
                TaskEventKind::Offered {
                    job,
                    batch,
                    reserve_price,
                } => format!(
                    "job {} offered in batch {} (reserve {reserve_price})",
                    job.index,
                    &batch.to_string()[..8]
                ),
                TaskEventKind::AuctionClosed {
                    batch,
                    commits,
                    reveals,
                    non_revealers,
                } => format!(
                    "batch {}: {commits} sealed commits, {reveals} reveals, {non_revealers} non-revealers",
                    &batch.to_string()[..8]
                ),
                TaskEventKind::Awarded { job, prover, price } => {
                    format!("job {} awarded to {} at {price}", job.index, name(&prover))
                }
                TaskEventKind::Unawarded { job } => {
                    format!("job {} drew no valid bid; re-offered", job.index)
                }
                TaskEventKind::Proven { job, prover, price } => format!(
                    "job {} proof verified; {} paid {price}",
                    job.index,
                    name(&prover)
                ),
                TaskEventKind::Failed {
                    job,
                    prover,
                    reason,
                } => format!(
                    "job {} failed by {}: {reason}; slashed and re-auctioned",
                    job.index,
                    name(&prover)
                ),
                TaskEventKind::Completed => "all proofs verified and aggregated".into(),
                TaskEventKind::Aborted { reason } => format!("failed: {reason}"),
                TaskEventKind::Delivered {
                    contract,
                    tx,
                    block,
                } => crate::model::delivery_note(&contract, tx.as_ref(), block),
                TaskEventKind::DeliveryFailed { reason } => {
                    format!("delivery on chain failed: {reason}")
                }
            };
            say(start, format!("task {}: {line}", short(&task)));
        }
        if gateway.settled(&task) && gateway.store().events(&task, seen)?.is_empty() {
            return Ok((task, begun.elapsed()));
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .map_or(true, |r| r.is_err())
        {
            bail!("task {task} did not finish within {timeout:?}");
        }
    }
}

//! `lagrange-node run`: a long-lived node from its [`Settings`]. It serves the metrics
//! endpoint at once (not ready yet), loads, or fetches from its bootnodes, the parameters of
//! the circuits its Supernets need, checked against their pins, starts its role in each
//! Supernet (one swarm each, one gRPC API for all its gateways), and runs until SIGINT or
//! SIGTERM.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tracing::{info, warn};

use lagrange_protocol::messages::HardwareSummary;
use lagrange_protocol::{CircuitId, JobCategory, Keypair};

use lagrange_circuits::{MsmChoice, MsmSelection};

use crate::circuit_workload::{CircuitWorkload, circom_paths, zkml_paths};
use crate::config::{Membership, Role, Settings};
use crate::gateway::Misbehavior;
use crate::http;
use crate::launch::{
    GatewayNode, NodeContext, ProverNode, join_as_gateway, join_as_prover, serve_grpc,
};
use crate::metrics::NodeMetrics;
use crate::net::{NetConfig, Network, params};
use crate::prover::{CostModel, ProverSettings};
use crate::store::Store;
use crate::workload::{Loading, Workload};

/// Picks the MSM backend, saying what was chosen and, for a fallback, why.
fn select_msm(choice: MsmChoice) -> Result<MsmSelection> {
    let selected = lagrange_circuits::select_msm(choice)
        .map_err(|e| anyhow::anyhow!("prover.msm = \"{choice}\": {e}"))?;
    match (&selected.gpu, &selected.fallback_reason) {
        (Some(gpu), _) => info!(backend = selected.backend.name(), %gpu, "MSM on the GPU"),
        (None, Some(reason)) => {
            info!(backend = selected.backend.name(), %reason, "MSM on the CPU")
        }
        (None, None) => info!(backend = selected.backend.name(), "MSM on the CPU"),
    }
    Ok(selected)
}

/// Waits for SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn stopped() -> Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok(())
    }
}

/// The categories a membership needs circuits for: all of the Supernet's for a gateway;
/// for a prover, those of `prover.categories` the Supernet has (all, if none are named).
fn wanted_categories(s: &Settings, m: &Membership) -> Vec<JobCategory> {
    m.supernet
        .categories
        .iter()
        .map(|c| c.category)
        .filter(|c| {
            m.role == Role::Gateway
                || s.prover.categories.is_empty()
                || s.prover.categories.contains(c)
        })
        .collect()
}

/// Makes sure every wanted parameter file is present, fetching missing ones from the
/// bootnodes, and returns the files by digest.
async fn ensure_params(
    s: &Settings,
    m: &Membership,
    key: &Keypair,
    categories: &[JobCategory],
) -> Result<BTreeMap<lagrange_protocol::Digest, std::path::PathBuf>> {
    let supernet = &m.supernet;
    let mut files = BTreeMap::new();
    let mut missing = Vec::new();
    for c in supernet
        .circuits
        .iter()
        .filter(|c| categories.contains(&c.category))
    {
        if c.is_circom() {
            // A circom circuit's .zkey, .r1cs and (if pinned) .wasm, by their own digests.
            let paths = circom_paths(&s.params_dir, c.id.as_str());
            let r1cs_digest = c
                .r1cs_digest
                .ok_or_else(|| anyhow::anyhow!("circom circuit {} pins no .r1cs", c.id))?;
            let mut pinned = vec![(c.params_digest, paths.zkey), (r1cs_digest, paths.r1cs)];
            if let Some(wasm) = c.wasm_digest {
                pinned.push((wasm, paths.wasm));
            }
            for (digest, path) in pinned {
                files.insert(digest, path.clone());
                if !path.exists() {
                    missing.push((digest, path));
                }
            }
            continue;
        }
        if let Some(model) = c.model {
            // A zkML model's ONNX file and its slices' keys, by their own digests.
            let paths = zkml_paths(&s.params_dir, c.id.as_str());
            for (digest, path) in [
                (model.onnx_digest, paths.onnx),
                (c.params_digest, paths.keys),
            ] {
                files.insert(digest, path.clone());
                if !path.exists() {
                    missing.push((digest, path));
                }
            }
            continue;
        }
        let spec = lagrange_circuits::CircuitSpec::parse(c.id.as_str())
            .map_err(|e| anyhow::anyhow!("supernet circuit {}: {e}", c.id))?;
        let path = crate::circuit_workload::param_files::params_path(&s.params_dir, &spec);
        files.insert(c.params_digest, path.clone());
        if !path.exists() {
            missing.push((c.params_digest, path));
        }
    }
    if files.is_empty() {
        bail!(
            "supernet {} has no circuit for categories {categories:?}",
            supernet.id
        );
    }
    if missing.is_empty() {
        return Ok(files);
    }
    let (mut fetcher, _events) = Network::new(key.to_libp2p(), 64);
    let handle = fetcher.join(supernet.clone(), fetcher_config(&m.bootnodes))?;
    for (digest, dest) in missing {
        // A circom circuit's or zkML model's files live in a folder of their own.
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // A bootnode that is still starting (a gateway loading its keys) is asked again,
        // with growing pauses, for a while.
        let give_up = tokio::time::Instant::now() + PARAM_FETCH_PATIENCE;
        let mut pause = Duration::from_millis(500);
        let mut fetched = false;
        while !fetched {
            for boot in &m.bootnodes {
                let Some(peer) = crate::net::peer_of(boot) else {
                    continue;
                };
                info!(%digest, %peer, "fetching parameters");
                let bar = crate::circuit_workload::param_files::download_bar(&dest);
                let progress = |held: u64, total: u64| {
                    bar.set_length(total);
                    bar.set_position(held);
                };
                let fetched_now =
                    params::fetch_with_progress(&handle, peer, digest, &dest, &progress).await;
                bar.finish_and_clear();
                match fetched_now {
                    Ok(report) => {
                        info!(%digest, bytes = report.total_len, "parameters fetched and verified");
                        fetched = true;
                        break;
                    }
                    Err(e) => warn!(%digest, %peer, error = %e, "parameter fetch failed"),
                }
            }
            if !fetched && tokio::time::Instant::now() + pause > give_up {
                bail!(
                    "parameters {digest} are missing from {} and no bootnode served them within {}s",
                    s.params_dir.display(),
                    PARAM_FETCH_PATIENCE.as_secs()
                );
            }
            if !fetched {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
        }
    }
    fetcher.leave(&supernet.id);
    Ok(files)
}

/// The network settings of the short-lived membership that fetches missing parameters at
/// start: it only dials its bootnodes, so it listens nowhere (a listener would open a port
/// the operator's `--listen` never named).
fn fetcher_config(bootnodes: &[libp2p::Multiaddr]) -> NetConfig {
    NetConfig {
        listen: Vec::new(),
        bootnodes: bootnodes.to_vec(),
        ..NetConfig::default()
    }
}

/// How long a node keeps asking its bootnodes for missing parameters.
const PARAM_FETCH_PATIENCE: Duration = Duration::from_secs(60);

/// Measures the proving time of each category, for the cost model: the slowest of one job
/// of each circuit that proves its tasks (see [`CircuitWorkload::calibration_jobs`]).
async fn calibrate(
    workload: &Arc<CircuitWorkload>,
    categories: &[JobCategory],
) -> Result<BTreeMap<JobCategory, u64>> {
    let mut proving_ms = BTreeMap::new();
    for category in categories {
        let w = workload.clone();
        let category = *category;
        let ms = tokio::task::spawn_blocking(move || -> Result<Option<u64>> {
            let mut slowest = None;
            for (circuit, input) in w.calibration_jobs(category) {
                let bar = crate::circuit_workload::param_files::spinner(format!(
                    "calibrating: proving one {category} job of {circuit}"
                ));
                let started = std::time::Instant::now();
                let proven = w.prove(&circuit, &input);
                bar.finish_and_clear();
                proven.map_err(|e| anyhow::anyhow!(e))?;
                let ms = started.elapsed().as_millis().max(1) as u64;
                slowest = slowest.max(Some(ms));
            }
            Ok(slowest)
        })
        .await??;
        if let Some(ms) = ms {
            info!(%category, ms, "calibrated proving time");
            proving_ms.insert(category, ms);
        }
    }
    Ok(proving_ms)
}

/// A circom circuit a node serves, as its Supernet pins it.
#[derive(Debug, Clone)]
struct CircomPin {
    id: CircuitId,
    category: JobCategory,
    zkey: lagrange_protocol::Digest,
    r1cs: lagrange_protocol::Digest,
    wasm: Option<lagrange_protocol::Digest>,
}

/// A zkML model a node serves, as its Supernet pins it.
#[derive(Debug, Clone)]
struct ZkmlPin {
    id: CircuitId,
    category: JobCategory,
    keys: lagrange_protocol::Digest,
    model: lagrange_protocol::config::ModelPin,
    /// A prover membership proves it: its proving keys are read; otherwise only the
    /// verifying keys.
    proving: bool,
}

/// Reads a file and checks it against its pinned digest.
fn read_pinned(path: &std::path::Path, digest: &lagrange_protocol::Digest) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let actual = blake3::hash(&bytes);
    if actual.as_bytes() != &digest.0 {
        bail!(
            "{} has digest {}, but the supernet pins {digest}",
            path.display(),
            actual.to_hex()
        );
    }
    Ok(bytes)
}

/// Reads a zkML model's ONNX file and keys, checks them and the model's commitment against
/// their pins and serves the model from `workload` (blocking: files, parsing, hashing).
fn load_zkml(
    workload: &mut CircuitWorkload,
    params_dir: &std::path::Path,
    pin: &ZkmlPin,
    backend: Arc<dyn lagrange_circuits::MsmBackend>,
) -> Result<()> {
    let paths = zkml_paths(params_dir, pin.id.as_str());
    let onnx = read_pinned(&paths.onnx, &pin.model.onnx_digest)?;
    let keys = read_pinned(&paths.keys, &pin.keys)?;
    let slices = workload
        .add_zkml(
            &pin.id,
            pin.category,
            &onnx,
            &keys,
            Some(pin.model.commitment),
            backend,
            pin.proving,
        )
        .map_err(|e| anyhow::anyhow!(e))?;
    info!(model = %pin.id, slices, proving = pin.proving, "serving zkML model");
    Ok(())
}

/// Reads a circom circuit's artifacts, checks them against their pins and serves the
/// circuit from `workload` (blocking: files and parsing).
fn load_circom(
    workload: &mut CircuitWorkload,
    params_dir: &std::path::Path,
    pin: &CircomPin,
    backend: Arc<dyn lagrange_circuits::MsmBackend>,
) -> Result<()> {
    let paths = circom_paths(params_dir, pin.id.as_str());
    let zkey = read_pinned(&paths.zkey, &pin.zkey)?;
    let r1cs = read_pinned(&paths.r1cs, &pin.r1cs)?;
    let wasm = pin.wasm.map(|d| read_pinned(&paths.wasm, &d)).transpose()?;
    workload
        .add_circom(
            &pin.id,
            pin.category,
            &zkey,
            &r1cs,
            wasm.as_deref(),
            backend,
        )
        .map_err(|e| anyhow::anyhow!(e))
}

/// Runs the node until SIGINT or SIGTERM.
pub async fn run_node(s: Settings) -> Result<()> {
    let key = crate::keyfile::read(&s.key_file)?;
    for dir in [&s.params_dir, &s.data_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let metrics = NodeMetrics::new(&s.roles());
    let (metrics_addr, _server) = http::serve(s.metrics, metrics.clone()).await?;
    let joined: Vec<String> = s
        .memberships
        .iter()
        .map(|m| format!("{} in {}", m.role, m.supernet.id))
        .collect();
    println!(
        "node {}: {}; metrics http://{metrics_addr}/metrics",
        key.peer_id(),
        joined.join(", ")
    );

    // Parameters of every circuit any membership needs, each pinned digest checked.
    let mut files = BTreeMap::new();
    let mut pins: BTreeMap<CircuitId, lagrange_protocol::Digest> = BTreeMap::new();
    let mut circom: Vec<CircomPin> = Vec::new();
    let mut models: Vec<ZkmlPin> = Vec::new();
    let mut proving_categories = Vec::new();
    for m in &s.memberships {
        let categories = wanted_categories(&s, m);
        if m.role == Role::Prover {
            proving_categories.extend(categories.iter().copied());
        }
        files.extend(ensure_params(&s, m, &key, &categories).await?);
        for c in m
            .supernet
            .circuits
            .iter()
            .filter(|c| categories.contains(&c.category))
        {
            if let Some(other) = pins.insert(c.id.clone(), c.params_digest)
                && other != c.params_digest
            {
                bail!(
                    "circuit {} is pinned to different parameters in two supernets",
                    c.id
                );
            }
            if let Some(model) = c.model {
                let proving = m.role == Role::Prover;
                match models.iter_mut().find(|p| p.id == c.id) {
                    Some(pin) => pin.proving |= proving,
                    None => models.push(ZkmlPin {
                        id: c.id.clone(),
                        category: c.category,
                        keys: c.params_digest,
                        model,
                        proving,
                    }),
                }
            } else if let Some(r1cs) = c.r1cs_digest
                && !circom.iter().any(|p| p.id == c.id)
            {
                circom.push(CircomPin {
                    id: c.id.clone(),
                    category: c.category,
                    zkey: c.params_digest,
                    r1cs,
                    wasm: c.wasm_digest,
                });
            }
        }
    }
    proving_categories.sort();
    proving_categories.dedup();
    let msm = if proving_categories.is_empty() {
        select_msm(MsmChoice::Cpu)?
    } else {
        select_msm(s.prover.msm)?
    };
    let dir = s.params_dir.clone();
    let backend = msm.backend.clone();
    let pins: Vec<_> = pins
        .into_iter()
        .filter(|(id, _)| {
            !circom.iter().any(|p| p.id == *id) && !models.iter().any(|p| p.id == *id)
        })
        .collect();
    // Loading may take seconds (keys decoded, models quantized). Provers join at once with a
    // workload that waits for it, and no proving times: so a prover restarted between its
    // commit and its reveal reveals in time, and announces and bids only once it is ready.
    let load = tokio::task::spawn_blocking(move || -> Result<CircuitWorkload> {
        let mut workload = CircuitWorkload::load_with(&dir, &pins, backend.clone())
            .map_err(|e| anyhow::anyhow!(e))?;
        for pin in &circom {
            load_circom(&mut workload, &dir, pin, backend.clone())?;
        }
        for pin in &models {
            load_zkml(&mut workload, &dir, pin, backend.clone())?;
        }
        Ok(workload)
    });
    let ctx = NodeContext {
        key: key.clone(),
        files: Arc::new(files),
        metrics: metrics.clone(),
    };
    let loading = Arc::new(Loading::<CircuitWorkload>::default());
    // The operator's prices with the proving times measured (none before calibration).
    let cost = |proving_ms: BTreeMap<JobCategory, u64>| CostModel {
        proving_ms,
        price_per_second: s.prover.price_per_second,
        margin_percent: s.prover.margin_percent,
    };
    let mut prover_nodes: Vec<(ProverNode, Vec<JobCategory>)> = Vec::new();
    for m in s.memberships.iter().filter(|m| m.role == Role::Prover) {
        let supernet = Arc::new(m.supernet.clone());
        let settings = ProverSettings {
            capacity: s.prover.capacity,
            cost: cost(BTreeMap::new()),
            hardware: HardwareSummary {
                cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
                memory_mib: 0,
                gpu: msm.gpu.clone(),
                msm_backend: msm.backend.name().into(),
            },
            announce_every_ms: 5_000,
        };
        let dir = s.data_dir.join(supernet.id.as_str());
        let store = open_store(dir.join("prover"), crate::store::DEFAULT_CACHE_MB).await?;
        let node = join_as_prover(
            &ctx,
            supernet.clone(),
            loading.clone(),
            net_config(m),
            settings,
            Some(store),
        )?;
        println!("prover in {} (loading parameters)", supernet.id);
        prover_nodes.push((node, wanted_categories(&s, m)));
    }

    let workload = Arc::new(load.await??);
    loading.set(workload.clone());
    metrics.readiness.set_params_loaded();
    let proving_ms = calibrate(&workload, &proving_categories).await?;
    for (node, categories) in &prover_nodes {
        let measured = proving_ms
            .iter()
            .filter(|(c, _)| categories.contains(c))
            .map(|(c, ms)| (*c, *ms))
            .collect();
        if node.prover.ready(cost(measured)).await {
            println!("prover in {} ready", node.net.supernet());
        }
    }

    let mut gateway_nodes: Vec<GatewayNode> = Vec::new();
    let mut gateways = BTreeMap::new();
    for m in s.memberships.iter().filter(|m| m.role == Role::Gateway) {
        let supernet = Arc::new(m.supernet.clone());
        let dir = s.data_dir.join(supernet.id.as_str());
        let store = open_store(dir.join("store"), s.gateway.store_cache_mb).await?;
        let node = join_as_gateway(
            &ctx,
            supernet.clone(),
            store,
            workload.clone(),
            net_config(m),
            s.gateway.retention_secs.saturating_mul(1000),
            Misbehavior::default(),
        )
        .await?;
        println!("gateway of {} at {}", supernet.id, node.p2p_addr);
        gateways.insert(supernet.id.clone(), node.gateway.clone());
        gateway_nodes.push(node);
    }
    let api_stop = tokio_util::sync::CancellationToken::new();
    let deliveries = deliver_results(&s.gateway, &gateways, &api_stop).await?;
    let grpc = if gateways.is_empty() {
        None
    } else {
        let (addr, task) = serve_grpc(
            s.gateway.grpc,
            gateways,
            s.gateway.api_limits(),
            api_stop.clone(),
        )
        .await?;
        println!("gateway running: grpc {addr}");
        Some(task)
    };
    stopped().await?;
    // Graceful: the API stops taking requests, provers stop taking work, and gateways answer
    // the proofs they are verifying and flush their stores before the process exits.
    api_stop.cancel();
    if let Some(task) = grpc {
        let _ = task.await;
    }
    for task in deliveries {
        let _ = task.await;
    }
    for (node, _) in prover_nodes {
        node.shutdown().await;
    }
    for node in gateway_nodes {
        node.shutdown().await;
    }
    Ok(())
}

/// Starts each gateway's own deliveries to the chain its settings name (none if they name
/// none), before the API takes tasks that ask for them.
#[cfg(feature = "chain")]
async fn deliver_results(
    settings: &crate::config::GatewayRole,
    gateways: &BTreeMap<lagrange_protocol::SupernetId, crate::gateway::driver::GatewayHandle>,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let Some(rpc) = &settings.deliver_rpc else {
        return Ok(Vec::new());
    };
    if gateways.is_empty() {
        return Ok(Vec::new());
    }
    let signer = crate::keyfile::read_eth_key(settings.deliver_key_file.as_deref())
        .context("gateway.deliver_rpc is set: deliveries need a key")?;
    let evm = crate::chain::Evm::connect(rpc, Some(signer), settings.deliver_chain_id)
        .await
        .context("gateway.deliver_rpc")?;
    println!(
        "delivering results to chain {} at {rpc} from {}",
        evm.chain_id(),
        evm.sender().map_or_else(String::new, |a| a.to_string())
    );
    Ok(gateways
        .values()
        .map(|g| crate::chain::deliver::spawn(g.clone(), evm.clone(), stop.clone()))
        .collect())
}

#[cfg(not(feature = "chain"))]
async fn deliver_results(
    settings: &crate::config::GatewayRole,
    _gateways: &BTreeMap<lagrange_protocol::SupernetId, crate::gateway::driver::GatewayHandle>,
    _stop: &tokio_util::sync::CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    if settings.deliver_rpc.is_some() {
        bail!("gateway.deliver_rpc needs a lagrange-node built with the `chain` feature");
    }
    Ok(Vec::new())
}

/// A membership's network settings.
fn net_config(m: &Membership) -> NetConfig {
    NetConfig {
        listen: m.listen.clone(),
        bootnodes: m.bootnodes.clone(),
        ..NetConfig::default()
    }
}

/// Opens a membership's store off the runtime: opening may wait for the directory's lock.
async fn open_store(dir: std::path::PathBuf, cache_mb: u64) -> Result<Store> {
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Store::open_with_cache(&dir, cache_mb)
            .with_context(|| format!("opening the store in {}", dir.display()))
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../circuits/fixtures/circom");

    #[test]
    fn fetching_parameters_opens_no_listener() {
        let boot: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/9000".parse().unwrap();
        let cfg = super::fetcher_config(std::slice::from_ref(&boot));
        assert!(cfg.listen.is_empty());
        assert_eq!(cfg.bootnodes, vec![boot]);
    }

    #[test]
    fn circom_artifacts_that_do_not_match_their_pins_are_refused_by_name() {
        let params = tempfile::tempdir().unwrap();
        let fixture = |name: &str| std::path::Path::new(FIXTURES).join(name);
        crate::tools::client::circuit_add(
            "square-chain",
            JobCategory::Small,
            &fixture("square_chain.zkey"),
            &fixture("square_chain.r1cs"),
            None,
            params.path(),
        )
        .unwrap();
        let digest = |path: &std::path::Path| {
            lagrange_protocol::Digest(*blake3::hash(&std::fs::read(path).unwrap()).as_bytes())
        };
        let paths = circom_paths(params.path(), "circom/square-chain");
        let pin = CircomPin {
            id: CircuitId::new("circom/square-chain").unwrap(),
            category: JobCategory::Small,
            zkey: digest(&paths.zkey),
            r1cs: digest(&paths.r1cs),
            wasm: None,
        };
        let backend: Arc<dyn lagrange_circuits::MsmBackend> = Arc::new(lagrange_circuits::CpuMsm);
        let mut workload = CircuitWorkload::load_with(params.path(), &[], backend.clone()).unwrap();
        load_circom(&mut workload, params.path(), &pin, backend.clone()).unwrap();
        // The .r1cs on disk is not the one pinned.
        let wrong = CircomPin {
            r1cs: lagrange_protocol::Digest([7; 32]),
            ..pin.clone()
        };
        let err = load_circom(&mut workload, params.path(), &wrong, backend.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("square-chain.r1cs") && err.contains("but the supernet pins"),
            "{err}"
        );
        // A pinned witness generator that is not there.
        let missing = CircomPin {
            wasm: Some(lagrange_protocol::Digest([1; 32])),
            ..pin
        };
        let err = load_circom(&mut workload, params.path(), &missing, backend)
            .unwrap_err()
            .to_string();
        assert!(err.contains("square-chain.wasm"), "{err}");
    }
}

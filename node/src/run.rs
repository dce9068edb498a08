//! `lagrange-node run`: a long-lived node from its [`Settings`]. It serves the metrics
//! endpoint at once (not ready yet), loads, or fetches from its bootnodes, the parameters of
//! the circuits it needs, checked against the Supernet's pins, starts its role, and runs
//! until SIGINT or SIGTERM.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tracing::{info, warn};

use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::messages::HardwareSummary;
use lagrange_protocol::{JobCategory, Keypair};

use lagrange_circuits::{MsmChoice, MsmSelection};

use crate::circuit_workload::CircuitWorkload;
use crate::config::{Role, Settings};
use crate::http::{self, MetricsSlot};
use crate::launch::{ParamFiles, start_gateway, start_prover_with};
use crate::metrics::NodeMetrics;
use crate::net::{NetConfig, Network, params};
use crate::prover::{CostModel, ProverSettings};
use crate::store::{Store, TaskSpec};
use crate::workload::Workload;

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

/// The circuits a node needs: all of the Supernet's for a gateway, its categories' for a
/// prover.
fn wanted_categories(s: &Settings) -> Vec<JobCategory> {
    match s.role {
        Role::Prover if !s.prover.categories.is_empty() => s.prover.categories.clone(),
        _ => s.supernet.categories.iter().map(|c| c.category).collect(),
    }
}

/// Makes sure every wanted parameter file is present, fetching missing ones from the
/// bootnodes, and returns the files by digest.
async fn ensure_params(
    s: &Settings,
    key: &Keypair,
    supernet: &Arc<SupernetConfig>,
    categories: &[JobCategory],
) -> Result<BTreeMap<lagrange_protocol::Digest, std::path::PathBuf>> {
    let mut files = BTreeMap::new();
    let mut missing = Vec::new();
    for c in supernet
        .circuits
        .iter()
        .filter(|c| categories.contains(&c.category))
    {
        let spec = lagrange_circuits::CircuitSpec::parse(c.id.as_str())
            .map_err(|e| anyhow::anyhow!("supernet circuit {}: {e}", c.id))?;
        let path = lagrange_circuits::params::params_path(&s.params_dir, &spec);
        files.insert(c.params_digest, path.clone());
        if !path.exists() {
            missing.push((c.params_digest, path));
        }
    }
    if files.is_empty() {
        bail!("the supernet has no circuit for categories {categories:?}");
    }
    if missing.is_empty() {
        return Ok(files);
    }
    let (mut fetcher, _events) = Network::new(key.to_libp2p(), 64);
    let net_cfg = NetConfig {
        listen: vec!["/ip4/0.0.0.0/tcp/0".parse()?],
        bootnodes: s.bootnodes.clone(),
        ..NetConfig::default()
    };
    let handle = fetcher.join((**supernet).clone(), net_cfg)?;
    for (digest, dest) in missing {
        let mut fetched = false;
        for boot in &s.bootnodes {
            let Some(peer) = crate::net::peer_of(boot) else {
                continue;
            };
            info!(%digest, %peer, "fetching parameters");
            match params::fetch(&handle, peer, digest, &dest).await {
                Ok(report) => {
                    info!(%digest, bytes = report.total_len, "parameters fetched and verified");
                    fetched = true;
                    break;
                }
                Err(e) => warn!(%digest, %peer, error = %e, "parameter fetch failed"),
            }
        }
        if !fetched {
            bail!(
                "parameters {digest} are missing from {} and no bootnode served them",
                s.params_dir.display()
            );
        }
    }
    fetcher.leave(&supernet.id);
    Ok(files)
}

/// Measures one proof per category, for the cost model.
async fn calibrate(
    workload: &Arc<CircuitWorkload>,
    categories: &[JobCategory],
) -> Result<BTreeMap<JobCategory, u64>> {
    let mut proving_ms = BTreeMap::new();
    for category in categories {
        let rows = crate::devnet::sample_task(0, 8).0;
        let plans = workload
            .split(&TaskSpec::Query {
                rows,
                lo: 0,
                hi: u64::MAX,
                category: *category,
            })
            .map_err(|e| anyhow::anyhow!(e))?;
        let Some(plan) = plans.into_iter().next() else {
            continue;
        };
        let w = workload.clone();
        let started = std::time::Instant::now();
        tokio::task::spawn_blocking(move || w.prove(&plan.circuit, &plan.input))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?;
        let ms = started.elapsed().as_millis().max(1) as u64;
        info!(%category, ms, "calibrated proving time");
        proving_ms.insert(*category, ms);
    }
    Ok(proving_ms)
}

/// Runs the node until SIGINT or SIGTERM.
pub async fn run_node(s: Settings) -> Result<()> {
    let key = crate::cli::read_key(&s.key_file)?;
    let supernet = Arc::new(s.supernet.clone());
    for dir in [&s.params_dir, &s.data_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let slot = MetricsSlot::new(NodeMetrics::new(s.role.as_str()));
    let (metrics_addr, _server) = http::serve(s.metrics, slot.clone()).await?;
    println!(
        "{} {} of supernet {}: metrics http://{metrics_addr}/metrics",
        s.role,
        key.peer_id(),
        supernet.id
    );

    let categories = wanted_categories(&s);
    let files = ensure_params(&s, &key, &supernet, &categories).await?;
    let pins: Vec<_> = supernet
        .circuits
        .iter()
        .filter(|c| categories.contains(&c.category))
        .map(|c| (c.id.clone(), c.params_digest))
        .collect();
    let msm = match s.role {
        Role::Prover => select_msm(s.prover.msm)?,
        Role::Gateway => select_msm(MsmChoice::Cpu)?,
    };
    let dir = s.params_dir.clone();
    let backend = msm.backend.clone();
    let workload = Arc::new(
        tokio::task::spawn_blocking(move || CircuitWorkload::load_with(&dir, &pins, backend))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?,
    );
    let files: ParamFiles = Arc::new(files);
    let net_cfg = NetConfig {
        listen: s.listen.clone(),
        bootnodes: s.bootnodes.clone(),
        ..NetConfig::default()
    };

    match s.role {
        Role::Gateway => {
            let store_dir = s.data_dir.join("store");
            std::fs::create_dir_all(&store_dir)?;
            let store = Store::open(&store_dir)
                .with_context(|| format!("opening the store in {}", store_dir.display()))?;
            let node = start_gateway(
                &key,
                supernet.clone(),
                store,
                workload,
                net_cfg,
                Some(s.gateway.grpc),
                files,
            )
            .await?;
            slot.replace(node.metrics.clone());
            println!(
                "gateway running: p2p {} grpc {}",
                node.p2p_addr,
                node.grpc_addr.map(|a| a.to_string()).unwrap_or_default()
            );
            stopped().await?;
            node.shutdown().await;
        }
        Role::Prover => {
            let proving_ms = calibrate(&workload, &categories).await?;
            let settings = ProverSettings {
                capacity: s.prover.capacity,
                cost: CostModel {
                    proving_ms,
                    price_per_second: s.prover.price_per_second,
                    margin_percent: s.prover.margin_percent,
                },
                hardware: HardwareSummary {
                    cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
                    memory_mib: 0,
                    gpu: msm.gpu.clone(),
                    msm_backend: msm.backend.name().into(),
                },
                announce_every_ms: 5_000,
            };
            let store_dir = s.data_dir.join("prover");
            std::fs::create_dir_all(&store_dir)?;
            let store = Store::open(&store_dir)
                .with_context(|| format!("opening the store in {}", store_dir.display()))?;
            let node = start_prover_with(
                &key,
                supernet.clone(),
                workload,
                net_cfg,
                settings,
                files,
                Some(store),
            )?;
            slot.replace(node.metrics.clone());
            println!("prover running");
            stopped().await?;
            node.kill().await;
        }
    }
    Ok(())
}

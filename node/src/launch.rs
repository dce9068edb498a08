//! Starting a node's roles: the network membership, the gateway with its gRPC API, and the
//! router that hands each network event to the part that handles it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tracing::{info, warn};

use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::messages::{Request, Response};
use lagrange_protocol::{Digest, Keypair};

use crate::api::server::GatewayService;
use crate::gateway::GatewayCore;
use crate::gateway::driver::{self, GatewayHandle};
use crate::net::{NetConfig, NetEvent, Network, SupernetHandle, params};
use crate::store::Store;
use crate::workload::Workload;

/// A running gateway node.
pub struct GatewayNode {
    /// The gateway.
    pub gateway: GatewayHandle,
    /// Its Supernet membership.
    pub net: SupernetHandle,
    /// Its libp2p address, ending in `/p2p/<peer id>`.
    pub p2p_addr: Multiaddr,
    /// Where its gRPC API listens, if it serves one.
    pub grpc_addr: Option<SocketAddr>,
    parts: Parts,
}

impl GatewayNode {
    /// Stops every part of the node and waits until they are gone, so the store can be
    /// opened again.
    pub async fn shutdown(self) {
        self.parts.stop().await;
    }
}

/// The running parts of a node: its network and its tasks. Dropping it aborts them;
/// [`Parts::stop`] also waits until they are gone.
struct Parts {
    network: Network,
    tasks: Vec<JoinHandle<()>>,
}

impl Parts {
    async fn stop(mut self) {
        for s in self.network.supernets() {
            self.network.leave(&s);
        }
        let tasks: Vec<_> = self.tasks.drain(..).collect();
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for Parts {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Parameter files this node serves to peers, by digest.
pub type ParamFiles = Arc<BTreeMap<Digest, PathBuf>>;

/// Hands gossip and requests to `role`, parameter chunk requests to the parameter server,
/// and drops the rest.
pub fn route(
    mut events: mpsc::Receiver<NetEvent>,
    role: mpsc::Sender<NetEvent>,
    net: SupernetHandle,
    files: ParamFiles,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let forward = match event {
                NetEvent::Request {
                    token,
                    request:
                        Request::ParamChunk {
                            digest,
                            offset,
                            max_len,
                        },
                    ..
                } => {
                    let net = net.clone();
                    let path = files.get(&digest).cloned();
                    tokio::spawn(async move {
                        let response = match path {
                            Some(path) => tokio::task::spawn_blocking(move || {
                                params::read_chunk(&path, digest, offset, max_len)
                            })
                            .await
                            .unwrap_or_else(|e| Response::Refused {
                                reason: e.to_string(),
                            }),
                            None => Response::Refused {
                                reason: format!("no parameter file {digest} here"),
                            },
                        };
                        net.respond(token, response).await;
                    });
                    continue;
                }
                event @ (NetEvent::Gossip { .. } | NetEvent::Request { .. }) => event,
                _ => continue,
            };
            if role.send(forward).await.is_err() {
                return;
            }
        }
    })
}

/// Starts a gateway: joins the Supernet, recovers the store, and serves gRPC on `grpc`
/// (port 0 picks a free port; read it back from [`GatewayNode::grpc_addr`]).
pub async fn start_gateway<W: Workload>(
    key: &Keypair,
    supernet: Arc<SupernetConfig>,
    store: Store,
    workload: Arc<W>,
    net_cfg: NetConfig,
    grpc: Option<SocketAddr>,
    files: ParamFiles,
) -> Result<GatewayNode> {
    let (mut network, mut events) = Network::new(key.to_libp2p(), 1024);
    let net = network.join((*supernet).clone(), net_cfg)?;
    let addr = loop {
        match events.recv().await {
            Some(NetEvent::Listening { address, .. }) => break address,
            Some(_) => continue,
            None => bail!("the network stopped before it listened"),
        }
    };
    let p2p_addr = addr.with(Protocol::P2p(key.peer_id()));
    let (role_tx, role_rx) = mpsc::channel(1024);
    let mut tasks = vec![route(events, role_tx, net.clone(), files)];
    let core = GatewayCore::new(supernet.clone(), key.clone(), store, workload.clone());
    let (gateway, task) = driver::spawn(core, workload, net.clone(), role_rx);
    tasks.push(task);

    let grpc_addr = match grpc {
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("binding the gRPC API on {bind}"))?;
            let local = listener.local_addr()?;
            let service = GatewayService::new([(supernet.id.clone(), gateway.clone())].into());
            tasks.push(tokio::spawn(async move {
                let served = tonic::transport::Server::builder()
                    .add_service(service.into_server())
                    .serve_with_incoming(TcpListenerStream::new(listener))
                    .await;
                if let Err(e) = served {
                    warn!(error = %e, "gRPC server stopped");
                }
            }));
            info!(%local, "gRPC API listening");
            Some(local)
        }
        None => None,
    };
    Ok(GatewayNode {
        gateway,
        net,
        p2p_addr,
        grpc_addr,
        parts: Parts { network, tasks },
    })
}

/// A running prover node.
pub struct ProverNode {
    /// Its Supernet membership.
    pub net: SupernetHandle,
    parts: Parts,
}

impl ProverNode {
    /// Stops the prover at once, as a crash would (no goodbye, jobs in hand abandoned), and
    /// waits until every part is gone, so its store can be opened again.
    pub async fn kill(self) {
        self.parts.stop().await;
    }
}

/// Starts a prover on loopback that knows `bootnodes`, proving with `workload`.
pub fn start_prover<W: Workload>(
    key: &Keypair,
    supernet: Arc<SupernetConfig>,
    workload: Arc<W>,
    bootnodes: Vec<Multiaddr>,
    settings: crate::prover::ProverSettings,
    files: ParamFiles,
) -> Result<ProverNode> {
    let mut cfg = NetConfig::local();
    cfg.bootnodes = bootnodes;
    start_prover_with(key, supernet, workload, cfg, settings, files, None)
}

/// Starts a prover with the given network settings; with a `store`, held jobs survive a
/// restart.
pub fn start_prover_with<W: Workload>(
    key: &Keypair,
    supernet: Arc<SupernetConfig>,
    workload: Arc<W>,
    cfg: NetConfig,
    settings: crate::prover::ProverSettings,
    files: ParamFiles,
    store: Option<Store>,
) -> Result<ProverNode> {
    let (mut network, events) = Network::new(key.to_libp2p(), 1024);
    let net = network.join((*supernet).clone(), cfg)?;
    let (role_tx, role_rx) = mpsc::channel(1024);
    let capacity = settings.capacity as usize;
    let core = crate::prover::ProverCore::new(
        supernet,
        key.clone(),
        settings,
        Box::new(rand::random::<[u8; 32]>),
    );
    let tasks = vec![
        route(events, role_tx, net.clone(), files),
        crate::prover::driver::spawn(core, capacity, workload, net.clone(), role_rx, store),
    ];
    Ok(ProverNode {
        net,
        parts: Parts { network, tasks },
    })
}

/// Runs the node a config file describes until Ctrl-C: loads (or fetches from its bootnodes)
/// the parameters of the circuits it needs, checked against the Supernet's pins, then starts
/// its role.
pub async fn run_node(path: &std::path::Path) -> Result<()> {
    use crate::circuit_workload::CircuitWorkload;
    use crate::config::NodeConfig;
    use lagrange_protocol::JobCategory;

    let (cfg, supernet) = NodeConfig::load(path)?;
    if cfg.gateway.is_some() && cfg.prover.is_some() {
        bail!(
            "{}: run the gateway and the prover as two nodes (two config files, two keys)",
            path.display()
        );
    }
    let key = crate::cli::read_key(&cfg.key_file)?;
    let supernet = Arc::new(supernet);
    std::fs::create_dir_all(&cfg.params_dir)
        .with_context(|| format!("creating {}", cfg.params_dir.display()))?;

    // The circuits this node needs: all of them for a gateway, its categories' for a prover.
    let categories: Vec<JobCategory> = match &cfg.prover {
        Some(p) if !p.categories.is_empty() => p.categories.clone(),
        _ => supernet.categories.iter().map(|c| c.category).collect(),
    };
    let wanted: Vec<_> = supernet
        .circuits
        .iter()
        .filter(|c| categories.contains(&c.category))
        .collect();
    if wanted.is_empty() {
        bail!("the supernet has no circuit for categories {categories:?}");
    }

    // Fetch missing parameter files from the bootnodes, checked against their pinned digests.
    let mut files = BTreeMap::new();
    let missing: Vec<_> = wanted
        .iter()
        .filter_map(|c| {
            let spec = lagrange_circuits::CircuitSpec::parse(c.id.as_str()).ok()?;
            let path = lagrange_circuits::params::params_path(&cfg.params_dir, &spec);
            files.insert(c.params_digest, path.clone());
            (!path.exists()).then_some((c.params_digest, path))
        })
        .collect();
    if !missing.is_empty() {
        let (mut fetcher, _events) = Network::new(key.to_libp2p(), 64);
        let net_cfg = NetConfig {
            listen: vec!["/ip4/0.0.0.0/tcp/0".parse()?],
            bootnodes: cfg.bootnodes.clone(),
            ..NetConfig::default()
        };
        let handle = fetcher.join((*supernet).clone(), net_cfg)?;
        for (digest, dest) in missing {
            let mut fetched = false;
            for boot in &cfg.bootnodes {
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
                    cfg.params_dir.display()
                );
            }
        }
        fetcher.leave(&supernet.id);
    }
    let pins: Vec<_> = wanted
        .iter()
        .map(|c| (c.id.clone(), c.params_digest))
        .collect();
    let dir = cfg.params_dir.clone();
    let workload = Arc::new(
        tokio::task::spawn_blocking(move || CircuitWorkload::load(&dir, &pins))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?,
    );
    let files: ParamFiles = Arc::new(files);
    let net_cfg = NetConfig {
        listen: cfg.listen.clone(),
        bootnodes: cfg.bootnodes.clone(),
        ..NetConfig::default()
    };

    if let Some(role) = &cfg.gateway {
        let store_dir = cfg.data_dir.join("store");
        std::fs::create_dir_all(&store_dir)?;
        let store = Store::open(&store_dir)?;
        let node = start_gateway(
            &key,
            supernet.clone(),
            store,
            workload,
            net_cfg,
            Some(role.grpc),
            files,
        )
        .await?;
        println!(
            "gateway of supernet {} running: p2p {} grpc {}",
            supernet.id,
            node.p2p_addr,
            node.grpc_addr.map(|a| a.to_string()).unwrap_or_default()
        );
        tokio::signal::ctrl_c().await?;
        node.shutdown().await;
    } else if let Some(role) = &cfg.prover {
        // Measure proving time per category once, for the cost model.
        let mut proving_ms = BTreeMap::new();
        for category in &categories {
            let rows = crate::devnet::sample_task(0, 8).0;
            let plans = workload
                .split(&crate::store::TaskSpec::Query {
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
        let settings = crate::prover::ProverSettings {
            capacity: role.capacity,
            cost: crate::prover::CostModel {
                proving_ms,
                price_per_second: role.price_per_second,
                margin_percent: role.margin_percent,
            },
            hardware: lagrange_protocol::messages::HardwareSummary {
                cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
                memory_mib: 0,
                gpu: None,
                msm_backend: "cpu".into(),
            },
            announce_every_ms: 5_000,
        };
        let store_dir = cfg.data_dir.join("prover");
        std::fs::create_dir_all(&store_dir)?;
        let store = Store::open(&store_dir)?;
        let node = start_prover_with(
            &key,
            supernet.clone(),
            workload,
            net_cfg,
            settings,
            files,
            Some(store),
        )?;
        println!(
            "prover in supernet {} running as {}",
            supernet.id,
            key.peer_id()
        );
        tokio::signal::ctrl_c().await?;
        node.kill().await;
    }
    Ok(())
}

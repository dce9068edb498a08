//! Starting a node's roles: the network membership, the gateway with its gRPC API, and the
//! router that hands each network event to the part that handles it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use lagrange_protocol::Keypair;
use lagrange_protocol::config::SupernetConfig;

use crate::api::server::GatewayService;
use crate::gateway::driver::{self, GatewayHandle};
use crate::gateway::{GatewayCore, Misbehavior};
use crate::metrics::NodeMetrics;
use crate::net::params::ParamServer;
use crate::net::{NetConfig, NetEvent, Network, SupernetHandle};
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
    /// Its metrics and readiness.
    pub metrics: Arc<NodeMetrics>,
    parts: Parts,
}

impl GatewayNode {
    /// Stops the node gracefully (the verification in flight is finished and answered, the
    /// store flushed) and waits until every part is gone, so the store can be opened again.
    pub async fn shutdown(self) {
        self.parts.stop().await;
    }
}

/// How long a graceful stop waits for a node's tasks before aborting them.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The running parts of a node: its network and its tasks, and the token that asks them to
/// stop. Dropping it aborts them; [`Parts::stop`] stops them gracefully and [`Parts::kill`]
/// at once, and both wait until they are gone.
struct Parts {
    network: Network,
    tasks: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

impl Parts {
    fn new(network: Network, stop: CancellationToken) -> Self {
        Self {
            network,
            tasks: Vec::new(),
            stop,
        }
    }

    /// Asks every task to stop, waits for them (aborting any still running after
    /// [`STOP_WAIT`]), then leaves the network.
    async fn stop(mut self) {
        self.stop.cancel();
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        for (i, mut task) in self.tasks.drain(..).enumerate() {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                warn!(task = i, "a task did not stop in time; aborting it");
                task.abort();
                let _ = task.await;
            }
        }
        for s in self.network.supernets() {
            self.network.leave(&s);
        }
    }

    /// Stops everything at once, as a crash would.
    async fn kill(mut self) {
        self.stop.cancel();
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
pub use crate::net::params::ParamFiles;

/// Hands gossip, the roles' requests and new connections to `role`, parameter requests to
/// the parameter server, and drops the rest, until `stop` is cancelled.
pub fn route(
    mut events: mpsc::Receiver<NetEvent>,
    role: mpsc::Sender<NetEvent>,
    net: SupernetHandle,
    files: ParamFiles,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut params = ParamServer::new(files);
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = events.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
            };
            let forward = match event {
                NetEvent::ParamRequest {
                    token,
                    peer,
                    request,
                    ..
                } => {
                    params.serve(&net, peer, token, request).await;
                    continue;
                }
                event @ (NetEvent::Gossip { .. }
                | NetEvent::Request { .. }
                | NetEvent::PeerConnected { .. }) => event,
                _ => continue,
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                sent = role.send(forward) => if sent.is_err() {
                    return;
                },
            }
        }
    })
}

/// What every role of one node shares: its key, the parameter files it serves to peers,
/// and its metrics registry.
#[derive(Clone)]
pub struct NodeContext {
    /// The node's key (its peer id, and the key it signs with).
    pub key: Keypair,
    /// Parameter files served to peers, by digest.
    pub files: ParamFiles,
    /// The process's metrics and readiness.
    pub metrics: Arc<NodeMetrics>,
}

/// Joins `supernet` as its gateway: recovers the store and starts the gateway, which prunes
/// finished tasks and auctions `retention_ms` after they ended (0: never). Serves no gRPC;
/// see [`serve_grpc`].
pub async fn join_as_gateway<W: Workload>(
    ctx: &NodeContext,
    supernet: Arc<SupernetConfig>,
    store: Store,
    workload: Arc<W>,
    net_cfg: NetConfig,
    retention_ms: u64,
    misbehavior: Misbehavior,
) -> Result<GatewayNode> {
    let key = &ctx.key;
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
    let metrics = ctx.metrics.clone();
    metrics.add_net(&supernet.id, net.shared_stats());
    let gateway_metrics = metrics.add_gateway(&supernet.id, store.clone());
    let (role_tx, role_rx) = mpsc::channel(1024);
    let mut parts = Parts::new(network, CancellationToken::new());
    parts.tasks.push(route(
        events,
        role_tx,
        net.clone(),
        ctx.files.clone(),
        parts.stop.clone(),
    ));
    // Proofs of provers' equivocations go beside the store: `<supernet dir>/evidence`.
    let evidence_dir = store
        .dir()
        .and_then(Path::parent)
        .map(|d| d.join("evidence"));
    let mut core = GatewayCore::new(supernet.clone(), key.clone(), store)
        .with_metrics(gateway_metrics)
        .with_retention(retention_ms)
        .misbehaving(misbehavior);
    if let Some(dir) = evidence_dir {
        core = core.with_evidence_dir(dir);
    }
    let (gateway, task) = driver::spawn(core, workload, net.clone(), role_rx, parts.stop.clone());
    parts.tasks.push(task);
    Ok(GatewayNode {
        gateway,
        net,
        p2p_addr,
        grpc_addr: None,
        metrics,
        parts,
    })
}

/// Serves the gRPC client API for `gateways` (one per Supernet) on `bind` (port 0 picks a
/// free port) until `stop` is cancelled. Returns the bound address and the server task.
pub async fn serve_grpc(
    bind: SocketAddr,
    gateways: BTreeMap<lagrange_protocol::SupernetId, GatewayHandle>,
    limits: crate::api::ApiLimits,
    stop: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
        format!(
            "binding the gRPC API on {bind} (is another gateway on this host using it? \
                 give each its own --grpc)"
        )
    })?;
    let local = listener.local_addr()?;
    let service = GatewayService::with_limits(gateways, limits);
    let task = tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(crate::api::SizeLimited(service.into_server()))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            warn!(error = %e, "gRPC server stopped");
        }
    });
    info!(%local, "gRPC API listening");
    Ok((local, task))
}

/// Starts a gateway node of its own (its own metrics): joins the Supernet, recovers the
/// store, and serves gRPC on `grpc` (port 0 picks a free port; read it back from
/// [`GatewayNode::grpc_addr`]).
pub async fn start_gateway<W: Workload>(
    key: &Keypair,
    supernet: Arc<SupernetConfig>,
    store: Store,
    workload: Arc<W>,
    net_cfg: NetConfig,
    grpc: Option<SocketAddr>,
    files: ParamFiles,
) -> Result<GatewayNode> {
    start_misbehaving_gateway(
        key,
        supernet,
        store,
        workload,
        net_cfg,
        grpc,
        files,
        Misbehavior::default(),
    )
    .await
}

/// **Testing only**: [`start_gateway`] for a gateway that cheats as `misbehavior` says.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub async fn start_misbehaving_gateway<W: Workload>(
    key: &Keypair,
    supernet: Arc<SupernetConfig>,
    store: Store,
    workload: Arc<W>,
    net_cfg: NetConfig,
    grpc: Option<SocketAddr>,
    files: ParamFiles,
    misbehavior: Misbehavior,
) -> Result<GatewayNode> {
    let ctx = NodeContext {
        key: key.clone(),
        files,
        metrics: NodeMetrics::new("gateway"),
    };
    ctx.metrics.readiness.set_params_loaded();
    let mut node = join_as_gateway(
        &ctx,
        supernet.clone(),
        store,
        workload,
        net_cfg,
        0,
        misbehavior,
    )
    .await?;
    if let Some(bind) = grpc {
        let handles = [(supernet.id.clone(), node.gateway.clone())].into();
        let (local, task) = serve_grpc(
            bind,
            handles,
            crate::api::ApiLimits::default(),
            node.parts.stop.clone(),
        )
        .await?;
        node.grpc_addr = Some(local);
        node.parts.tasks.push(task);
    }
    Ok(node)
}

/// A running prover node.
pub struct ProverNode {
    /// Its Supernet membership.
    pub net: SupernetHandle,
    /// Its metrics and readiness.
    pub metrics: Arc<NodeMetrics>,
    /// The running prover.
    pub prover: crate::prover::driver::ProverHandle,
    parts: Parts,
}

impl ProverNode {
    /// Stops the prover at once, as a crash would (no goodbye, jobs in hand abandoned), and
    /// waits until every part is gone, so its store can be opened again.
    pub async fn kill(self) {
        self.parts.kill().await;
    }

    /// Stops the prover gracefully: it takes no new work and leaves; the jobs it holds are
    /// saved (as after every change) and resumed at the next start.
    pub async fn shutdown(self) {
        self.parts.stop().await;
    }
}

/// Starts a prover node of its own (its own metrics) on loopback that knows `bootnodes`,
/// proving with `workload`.
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

/// Starts a prover node of its own with the given network settings; with a `store`, held
/// jobs survive a restart.
pub fn start_prover_with<W: Workload>(
    key: &Keypair,
    supernet: Arc<SupernetConfig>,
    workload: Arc<W>,
    cfg: NetConfig,
    settings: crate::prover::ProverSettings,
    files: ParamFiles,
    store: Option<Store>,
) -> Result<ProverNode> {
    let ctx = NodeContext {
        key: key.clone(),
        files,
        metrics: NodeMetrics::new("prover"),
    };
    ctx.metrics.readiness.set_params_loaded();
    join_as_prover(&ctx, supernet, workload, cfg, settings, store)
}

/// Joins `supernet` as a prover; with a `store`, held jobs survive a restart.
pub fn join_as_prover<W: Workload>(
    ctx: &NodeContext,
    supernet: Arc<SupernetConfig>,
    workload: Arc<W>,
    cfg: NetConfig,
    settings: crate::prover::ProverSettings,
    store: Option<Store>,
) -> Result<ProverNode> {
    let (mut network, events) = Network::new(ctx.key.to_libp2p(), 1024);
    let net = network.join((*supernet).clone(), cfg)?;
    let metrics = ctx.metrics.clone();
    metrics.add_net(&supernet.id, net.shared_stats());
    let prover_metrics = metrics.add_prover(&supernet.id);
    let (role_tx, role_rx) = mpsc::channel(1024);
    let capacity = settings.capacity as usize;
    let mut core = crate::prover::ProverCore::new(
        supernet,
        ctx.key.clone(),
        settings,
        Box::new(rand::random::<[u8; 32]>),
    )
    .with_metrics(prover_metrics);
    // Evidence of a gateway's deviation goes beside the store: `<supernet dir>/evidence`.
    if let Some(dir) = store.as_ref().and_then(Store::dir).and_then(Path::parent) {
        core = core.with_evidence_dir(dir.join("evidence"));
    }
    let mut parts = Parts::new(network, CancellationToken::new());
    let (prover, driver) = crate::prover::driver::spawn(
        core,
        capacity,
        workload,
        net.clone(),
        role_rx,
        store,
        parts.stop.clone(),
    );
    parts.tasks = vec![
        route(
            events,
            role_tx,
            net.clone(),
            ctx.files.clone(),
            parts.stop.clone(),
        ),
        driver,
    ];
    Ok(ProverNode {
        net,
        metrics,
        prover,
        parts,
    })
}

//! A harness for in-process multi-node tests: real TCP on 127.0.0.1 with port 0, seeded
//! keys, and waits on events with timeouts.
#![allow(dead_code)]

pub mod stand_in;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lagrange_node::net::{NetConfig, NetEvent, Network, SupernetHandle};
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, Deposit, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::{
    BatchAnnouncement, GossipMessage, HardwareSummary, JobSpec, ParamRequest, ParamResponse,
    ProverAvailability, Request, Response,
};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, Signed, SupernetId, TaskId,
};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

/// How long any single wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn key(seed: u64) -> Keypair {
    Keypair::insecure_from_seed(seed)
}

pub fn peer(seed: u64) -> PeerId {
    key(seed).peer_id()
}

/// A Supernet named `name` whose gateway is node `gateway`, with an allowlist of the given
/// seeds or open.
pub fn supernet(name: &str, gateway: u64, allowlist: Option<&[u64]>) -> SupernetConfig {
    SupernetConfig {
        id: SupernetId::new(name).unwrap(),
        gateways: vec![peer(gateway)],
        allowlist: allowlist.map(|seeds| seeds.iter().map(|s| peer(*s)).collect()),
        auction: AuctionConfig::default(),
        economics: EconomicsConfig::default(),
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: 10_000,
            reserve_price: 1000,
        }],
        circuits: vec![CircuitConfig {
            id: CircuitId::new("synthetic.small").unwrap(),
            category: JobCategory::Small,
            params_digest: Digest([0; 32]),
            r1cs_digest: None,
            wasm_digest: None,
            model: None,
        }],
    }
}

/// Economics with a recorded deposit of 1000 for each of the provers `seeds`: an open
/// Supernet gives a key no stake of its own.
pub fn staked(seeds: impl IntoIterator<Item = u64>) -> EconomicsConfig {
    EconomicsConfig {
        deposits: seeds
            .into_iter()
            .map(|s| Deposit {
                prover: peer(s),
                amount: 1000,
            })
            .collect(),
        ..EconomicsConfig::default()
    }
}

/// A prover's settings for the end-to-end tests: two jobs at once, 500 ms a small job,
/// priced at `price_per_second`.
pub fn prover_settings(price_per_second: u64) -> lagrange_node::prover::ProverSettings {
    lagrange_node::prover::ProverSettings {
        capacity: 2,
        cost: lagrange_node::prover::CostModel {
            proving_ms: [(JobCategory::Small, 500)].into(),
            price_per_second,
            margin_percent: 0,
        },
        hardware: lagrange_protocol::messages::HardwareSummary::default(),
        announce_every_ms: 2_000,
    }
}

/// Answers a node's inbound requests. Runs on the blocking pool.
pub type Handler = Arc<dyn Fn(PeerId, Request) -> Response + Send + Sync>;

/// Answers a node's inbound parameter requests. Runs on the blocking pool.
pub type ParamHandler = Arc<dyn Fn(PeerId, ParamRequest) -> ParamResponse + Send + Sync>;

pub fn refuse_all() -> Handler {
    Arc::new(|_, _| Response::Refused {
        reason: "no handler".into(),
    })
}

/// Answers one inbound request with `handler` on the blocking pool, then sends the answer
/// with `respond` through the handle of the Supernet it came in on. Without a handle or a
/// handler the request is left unanswered.
fn answer<Q, A, F, Fut>(
    handle: Option<SupernetHandle>,
    handler: Option<Arc<dyn Fn(PeerId, Q) -> A + Send + Sync>>,
    peer: PeerId,
    request: Q,
    respond: F,
) where
    Q: Send + 'static,
    A: Send + 'static,
    F: FnOnce(SupernetHandle, A) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (Some(h), Some(handler)) = (handle, handler) else {
        return;
    };
    tokio::spawn(async move {
        let response = tokio::task::spawn_blocking(move || handler(peer, request))
            .await
            .unwrap();
        respond(h, response).await;
    });
}

/// One node in one or more Supernets.
pub struct TestNode {
    pub seed: u64,
    pub net: Network,
    /// Every event except requests, which the handler answers.
    pub events: mpsc::Receiver<NetEvent>,
    handles: Handles,
}

type Handles = Arc<std::sync::Mutex<HashMap<SupernetId, SupernetHandle>>>;

/// The address of a Supernet's swarm, read back from its `Listening` event.
pub struct Joined {
    pub handle: SupernetHandle,
    pub addr: Multiaddr,
}

impl TestNode {
    /// A node with no Supernet yet; `handler` answers its requests.
    pub fn new(seed: u64, handler: Handler) -> Self {
        Self::with_handler(seed, Some(handler), None)
    }

    /// A node with no Supernet yet; `params` answers its parameter requests and it refuses
    /// every other request.
    pub fn serving_params(seed: u64, params: ParamHandler) -> Self {
        Self::with_handler(seed, Some(refuse_all()), Some(params))
    }

    /// A node that never answers a request (an application that drops them).
    pub fn silent(seed: u64) -> Self {
        Self::with_handler(seed, None, None)
    }

    fn with_handler(seed: u64, handler: Option<Handler>, params: Option<ParamHandler>) -> Self {
        let (net, mut raw) = Network::new(key(seed).to_libp2p(), 1024);
        let (tx, events) = mpsc::channel(4096);
        let handles: Handles = Arc::default();
        let pump_handles = handles.clone();
        // The pump answers requests (through the handle of the Supernet they came in on) and
        // forwards everything else to the test.
        tokio::spawn(async move {
            while let Some(event) = raw.recv().await {
                match event {
                    NetEvent::Request {
                        supernet,
                        peer,
                        token,
                        request,
                    } => {
                        let h = pump_handles.lock().unwrap().get(&supernet).cloned();
                        answer(h, handler.clone(), peer, request, move |h, r| async move {
                            h.respond(token, r).await
                        });
                    }
                    NetEvent::ParamRequest {
                        supernet,
                        peer,
                        token,
                        request,
                    } => {
                        let h = pump_handles.lock().unwrap().get(&supernet).cloned();
                        answer(h, params.clone(), peer, request, move |h, r| async move {
                            h.respond_params(token, r).await
                        });
                    }
                    other => {
                        let _ = tx.send(other).await;
                    }
                }
            }
        });
        Self {
            seed,
            net,
            events,
            handles,
        }
    }

    pub fn peer(&self) -> PeerId {
        peer(self.seed)
    }

    /// Joins `supernet` on 127.0.0.1, port 0, and waits for the listening address.
    pub async fn join(
        &mut self,
        supernet: SupernetConfig,
        bootnodes: Vec<Multiaddr>,
        tweak: impl FnOnce(&mut NetConfig),
    ) -> Joined {
        let id = supernet.id.clone();
        let mut cfg = NetConfig::local();
        cfg.bootnodes = bootnodes;
        tweak(&mut cfg);
        let handle = self.net.join(supernet, cfg).unwrap();
        self.handles
            .lock()
            .unwrap()
            .insert(id.clone(), handle.clone());
        let addr = self
            .wait(|e| match e {
                NetEvent::Listening { supernet, address } if *supernet == id => {
                    Some(address.clone())
                }
                _ => None,
            })
            .await;
        let addr = addr.with(Protocol::P2p(self.peer()));
        Joined { handle, addr }
    }

    /// Waits for the first event `pick` accepts, dropping the others.
    pub async fn wait<T>(&mut self, mut pick: impl FnMut(&NetEvent) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("node {} timed out waiting for an event", self.seed))
                .expect("event channel closed");
            if let Some(t) = pick(&event) {
                return t;
            }
        }
    }

    /// Waits until connected to every peer in `peers` in `supernet`.
    pub async fn wait_connected(&mut self, supernet: &SupernetId, peers: &[PeerId]) {
        let handle = self.net.handle(supernet).unwrap().clone();
        let mut have: std::collections::HashSet<PeerId> =
            handle.connected_peers().await.into_iter().collect();
        while !peers.iter().all(|p| have.contains(p)) {
            let p = self
                .wait(|e| match e {
                    NetEvent::PeerConnected { supernet: s, peer } if s == supernet => Some(*peer),
                    _ => None,
                })
                .await;
            have.insert(p);
        }
    }

    /// Waits for a gossip message in `supernet` that `pick` accepts.
    pub async fn wait_gossip<T>(
        &mut self,
        supernet: &SupernetId,
        mut pick: impl FnMut(&PeerId, &GossipMessage) -> Option<T>,
    ) -> T {
        self.wait(|e| match e {
            NetEvent::Gossip {
                supernet: s,
                source,
                message,
            } if s == supernet => pick(source, message),
            _ => None,
        })
        .await
    }
}

/// A signed batch of `n` small jobs from gateway `gateway` in `supernet`, sequence `seq`.
pub fn batch(supernet: &SupernetId, gateway: u64, seq: u64, n: u32) -> Signed<BatchAnnouncement> {
    let gw = key(gateway);
    let task = TaskId([seq as u8; 16]);
    Signed::sign(
        BatchAnnouncement {
            supernet: supernet.clone(),
            batch_id: BatchId::derive(supernet, &gw.public(), seq),
            seq,
            jobs: (0..n)
                .map(|i| JobSpec {
                    job_id: JobId::new(task, i),
                    circuit: CircuitId::new("synthetic.small").unwrap(),
                    category: JobCategory::Small,
                    reserve_price: 1000,
                    proving_window_ms: 10_000,
                    input_digest: Digest([i as u8; 32]),
                    input_size: 64,
                })
                .collect(),
            announced_at: 1,
            commit_deadline: 2,
            reveal_deadline: 3,
            weights: lagrange_protocol::merkle::WeightTree::empty().root(),
        },
        &gw,
    )
}

/// A signed availability announcement from node `seed`.
pub fn availability(supernet: &SupernetId, seed: u64, at: u64) -> Signed<ProverAvailability> {
    Signed::sign(
        ProverAvailability {
            supernet: supernet.clone(),
            categories: vec![JobCategory::Small],
            capacity: 2,
            hardware: HardwareSummary {
                cpu_cores: 2,
                memory_mib: 1024,
                gpu: None,
                msm_backend: "cpu".into(),
            },
            node_version: "test".into(),
            announced_at: at,
        },
        &key(seed),
    )
}

/// A Supernet proving the small coprocessor circuit with real (insecure, seeded) keys.
pub struct Proving {
    pub workload: Arc<lagrange_node::circuit_workload::CircuitWorkload>,
    pub supernet: Arc<SupernetConfig>,
    _params: tempfile::TempDir,
}

/// Sets up [`Proving`] for Supernet `name` with gateway seed 0 and the given proving deadline.
pub async fn proving_supernet(name: &str, proving_deadline_ms: u64) -> Proving {
    use lagrange_node::circuit_workload::{CircuitWorkload, circuit_for};
    let params = tempfile::tempdir().unwrap();
    let spec = circuit_for(true, JobCategory::Small);
    let dir = params.path().to_path_buf();
    let (workload, pins) =
        tokio::task::spawn_blocking(move || CircuitWorkload::insecure_devnet(&dir, &[spec], 7))
            .await
            .unwrap()
            .unwrap();
    let supernet = Arc::new(SupernetConfig {
        id: SupernetId::new(name).unwrap(),
        gateways: vec![peer(0)],
        allowlist: None,
        auction: AuctionConfig::default(),
        economics: staked(1..=16),
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms,
            reserve_price: 1000,
        }],
        circuits: pins
            .into_iter()
            .map(|(id, params_digest)| CircuitConfig {
                id,
                category: JobCategory::Small,
                params_digest,
                r1cs_digest: None,
                wasm_digest: None,
                model: None,
            })
            .collect(),
    });
    Proving {
        workload: Arc::new(workload),
        supernet,
        _params: params,
    }
}

/// A gateway (seed 0) with a temporary store, on loopback, for the proving Supernet.
pub async fn start_gateway(net: &Proving) -> lagrange_node::launch::GatewayNode {
    lagrange_node::launch::start_gateway(
        &Keypair::insecure_from_seed(0),
        net.supernet.clone(),
        lagrange_node::store::Store::temporary().unwrap(),
        net.workload.clone(),
        NetConfig::local(),
        None,
        lagrange_node::launch::ParamFiles::default(),
    )
    .await
    .unwrap()
}

/// The real workload with hooks: `before` runs first when proving (on the blocking pool),
/// `after` may alter the proof, `checking` runs before the gateway verifies.
pub struct Hooked {
    pub inner: Arc<lagrange_node::circuit_workload::CircuitWorkload>,
    pub before: Box<dyn Fn() + Send + Sync>,
    pub after: Box<dyn Fn(&mut lagrange_node::workload::ProofBytes) + Send + Sync>,
    pub checking: Box<dyn Fn() + Send + Sync>,
}

impl Hooked {
    /// The real workload with hooks that do nothing.
    pub fn new(inner: Arc<lagrange_node::circuit_workload::CircuitWorkload>) -> Self {
        Self {
            inner,
            before: Box::new(|| {}),
            after: Box::new(|_| {}),
            checking: Box::new(|| {}),
        }
    }
}

impl lagrange_node::workload::Workload for Hooked {
    fn split(
        &self,
        spec: &lagrange_node::model::TaskSpec,
    ) -> Result<Vec<lagrange_node::workload::JobPlan>, lagrange_node::workload::WorkloadError> {
        self.inner.split(spec)
    }
    fn prove(
        &self,
        circuit: &CircuitId,
        input: &[u8],
    ) -> Result<lagrange_node::workload::ProofBytes, lagrange_node::workload::WorkloadError> {
        (self.before)();
        let mut proof = self.inner.prove(circuit, input)?;
        (self.after)(&mut proof);
        Ok(proof)
    }
    fn verify(
        &self,
        items: &[(
            lagrange_node::model::JobRecord,
            Vec<u8>,
            lagrange_protocol::messages::ProofSubmission,
        )],
    ) -> Vec<lagrange_node::workload::Check> {
        (self.checking)();
        self.inner.verify(items)
    }
    fn aggregate(
        &self,
        task: &lagrange_node::model::TaskRecord,
        proofs: &[(
            lagrange_node::model::JobRecord,
            Vec<u8>,
            lagrange_node::store::ProofRecord,
        )],
    ) -> Result<Vec<u8>, lagrange_node::workload::WorkloadError> {
        self.inner.aggregate(task, proofs)
    }
}

/// A client's task handed to a gateway core as the driver hands it: split by `workload`, in an
/// [`Input::Submit`](lagrange_node::gateway::Input::Submit), answered by its `Submitted` output.
pub trait SubmitTask {
    fn submit_task<W: lagrange_node::workload::Workload>(
        &mut self,
        workload: &W,
        spec: lagrange_node::model::TaskSpec,
        max_fee_per_job: u64,
        deadline: u64,
        now: u64,
    ) -> Result<lagrange_node::model::TaskRecord, lagrange_node::gateway::SubmitError>;
}

impl SubmitTask for lagrange_node::gateway::GatewayCore {
    fn submit_task<W: lagrange_node::workload::Workload>(
        &mut self,
        workload: &W,
        spec: lagrange_node::model::TaskSpec,
        max_fee_per_job: u64,
        deadline: u64,
        now: u64,
    ) -> Result<lagrange_node::model::TaskRecord, lagrange_node::gateway::SubmitError> {
        use lagrange_node::gateway::{Input, Output, Submission};
        let submission = Submission::split(workload, 0, spec, max_fee_per_job, deadline);
        let out = self
            .handle(Input::Submit(Box::new(submission)), now)
            .expect("the store works");
        match out.into_iter().last() {
            Some(Output::Submitted { result, .. }) => result,
            other => panic!("a submission is answered: {other:?}"),
        }
    }
}

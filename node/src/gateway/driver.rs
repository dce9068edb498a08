//! Runs a [`GatewayCore`] against the network, a clock and the blocking pool.
//!
//! The core lives on a thread of its own: every input means sled transactions, and a slow
//! disk must never stall the runtime that carries the node's network. That thread flushes the
//! store before it hands back anything that tells the outside world (a publish, an answer, a
//! task's news to its watchers), so nothing is announced, acknowledged or shown to a client
//! that a crash could take back.
//!
//! Time is one monotonic clock ([`Monotonic`]): every message is stamped with it when the
//! loop takes it from the network, and the core judges lateness by that stamp, not by when
//! it gets round to the message. Requests that only read the store (a transcript, a
//! prover's assignments) are answered on the blocking pool, a bounded number at once, never
//! on the core's thread.
//!
//! One async task feeds the core thread ticks, network events, client submissions and
//! finished CPU work, and carries out what comes back: publishes and assignment deliveries
//! in tracked tasks of their own (a slow peer never stalls the loop), answers, and
//! verification and aggregation on the blocking pool. Waiting verifications are checked
//! together, in one batch.
//!
//! Stopping is graceful: once the cancellation token fires, no new input is taken, the
//! verification batch in flight is finished and its verdicts are sent, the core thread
//! flushes the store and ends, and the tracked tasks get a moment to finish. Aggregations in
//! flight are dropped: a restarted gateway starts them again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use lagrange_protocol::messages::ProofSubmission;
use lagrange_protocol::messages::{GossipMessage, JobAssignment, Request, Response};
use lagrange_protocol::{Signed, UnixMillis};
use libp2p::PeerId;

use super::core::{GatewayCore, Input, Output, Reader, Submission, SubmitError};
use super::handle::Command;
pub use super::handle::GatewayHandle;
use crate::clock::{Monotonic, TICK, now_ms};
use crate::model::{JobRecord, TaskRecord};
use crate::net::{NetEvent, RequestToken, SupernetHandle};
use crate::workload::{Check, Workload};

static DROP_RESULTS_PERCENT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Testing: drop this percentage of auction results instead of gossiping them (every
/// gateway of the process), to show that winners learn of their jobs anyway.
pub fn drop_results_percent(percent: u32) {
    DROP_RESULTS_PERCENT.store(percent.min(100), std::sync::atomic::Ordering::Relaxed);
}

fn dropped(message: &GossipMessage) -> bool {
    let percent = DROP_RESULTS_PERCENT.load(std::sync::atomic::Ordering::Relaxed);
    matches!(message, GossipMessage::Result(_))
        && percent > 0
        && rand::random::<u32>() % 100 < percent
}

/// Finished CPU work coming back to the loop.
enum Done {
    /// Feed this to the core.
    Core(Box<Input>),
    /// A client task, split.
    Split(ToCore),
    /// A verification batch has been fed back entirely.
    BatchFinished,
}

struct Pending {
    token: RequestToken,
    job: JobRecord,
    input: Vec<u8>,
    submission: Signed<ProofSubmission>,
}

/// What the async side hands the core thread: an input, when it arrived, and for a client's
/// submission where its answer goes.
struct ToCore {
    input: Box<Input>,
    arrived: UnixMillis,
    reply: Option<Reply>,
}

type Reply = oneshot::Sender<Result<TaskRecord, SubmitError>>;

impl ToCore {
    fn new(input: Input, arrived: UnixMillis) -> Self {
        Self {
            input: Box::new(input),
            arrived,
            reply: None,
        }
    }
}

/// Inputs the core thread handles before one flush.
const MAX_BATCHED: usize = 64;

/// Inputs waiting for the core thread, at most: past this the loop stops taking network
/// events and commands (their own bounded channels then fill, and the network layer's
/// policies for a full channel apply).
const MAX_WAITING: usize = 256;

/// Read-only requests (transcripts, assignment lists) answered at once on the blocking pool.
const MAX_READS: usize = 4;

/// Read-only requests answered or waiting their turn; past this, a request is refused with a
/// word to ask again.
const MAX_READS_WAITING: usize = 256;

/// How long a stopping gateway waits for its publishes and deliveries.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The core thread: recovers, then turns each message into outputs, flushing the store
/// before handing back anything that tells the outside world.
fn run_core(
    mut core: GatewayCore,
    clock: Arc<Monotonic>,
    mut inputs: mpsc::Receiver<ToCore>,
    outputs: mpsc::Sender<Vec<Output>>,
) {
    let recovered = match core.recover(clock.now()) {
        Ok(out) => out,
        Err(e) => {
            error!(error = %e, "gateway cannot recover its store");
            return;
        }
    };
    if core.store().flush_blocking().is_err() || outputs.blocking_send(recovered).is_err() {
        return;
    }
    while let Some(first) = inputs.blocking_recv() {
        // Take what else is already waiting, up to a bound, and make it all durable with
        // one flush: a batch's commits and reveals arrive together.
        let mut out = Vec::new();
        let mut replies = Vec::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(ToCore {
            input,
            arrived,
            reply,
        }) = next.take()
        {
            if let (Input::Submit(submission), Some(reply)) = (&*input, reply) {
                replies.push((submission.ticket, reply));
            }
            match core.handle_arrived(*input, arrived, clock.now()) {
                Ok(o) => out.extend(o),
                Err(e) => {
                    error!(error = %e, "gateway store failure; stopping");
                    return;
                }
            }
            taken += 1;
            if taken < MAX_BATCHED {
                next = inputs.try_recv().ok();
            }
        }
        // Answers to submissions go to their clients, after the flush.
        let mut answers = Vec::new();
        let out: Vec<Output> = out
            .into_iter()
            .filter_map(|o| match o {
                Output::Submitted { ticket, result } => {
                    answers.push((ticket, result));
                    None
                }
                o => Some(o),
            })
            .collect();
        let tells = !answers.is_empty() || out.iter().any(tells_the_world);
        if tells && let Err(e) = core.store().flush_blocking() {
            error!(error = %e, "gateway cannot flush its store; stopping");
            return;
        }
        for (ticket, result) in answers {
            if let Some(at) = replies.iter().position(|(t, _)| *t == ticket) {
                let _ = replies.swap_remove(at).1.send(result);
            }
        }
        if !out.is_empty() && outputs.blocking_send(out).is_err() {
            return;
        }
    }
    if let Err(e) = core.store().flush_blocking() {
        error!(error = %e, "gateway cannot flush its store on the way out");
    }
    info!("gateway stopped");
}

/// Whether `output` tells someone outside what the store holds, so the store must be durable
/// first: a publish, an answer, an assignment, or a task's news (a watcher may see the task
/// done and hand its result on).
fn tells_the_world(output: &Output) -> bool {
    matches!(
        output,
        Output::Publish(_)
            | Output::Respond { .. }
            | Output::Assign { .. }
            | Output::TaskChanged(_)
    )
}

/// Starts the gateway. `events` carries this Supernet's network events for the gateway;
/// cancelling `stop` stops it gracefully.
pub fn spawn<W: Workload>(
    core: GatewayCore,
    workload: Arc<W>,
    net: SupernetHandle,
    mut events: mpsc::Receiver<NetEvent>,
    stop: CancellationToken,
) -> (GatewayHandle, JoinHandle<()>) {
    let (commands, mut command_rx) = mpsc::channel(64);
    let changes_tx = Arc::new(watch::Sender::new(0u64));
    let handle = GatewayHandle::new(commands, changes_tx.clone(), core.store().clone());
    let metrics = core.metrics().clone();
    let reader = core.reader();
    let reads = Reads {
        running: Arc::new(tokio::sync::Semaphore::new(MAX_READS)),
        admitted: Arc::new(tokio::sync::Semaphore::new(MAX_READS_WAITING)),
    };
    let clock = Arc::new(Monotonic::default());
    let core_clock = clock.clone();
    // Its own token: the gateway may stop itself (its channels closed) without stopping
    // the rest of the node.
    let stop = stop.child_token();
    let task = tokio::spawn(async move {
        let (to_core, core_inputs) = mpsc::channel::<ToCore>(64);
        let (core_outputs, mut from_core) = mpsc::channel::<Vec<Output>>(64);
        let thread = std::thread::Builder::new()
            .name(format!("gateway {}", net.supernet()))
            .spawn(move || run_core(core, core_clock, core_inputs, core_outputs));
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                error!(error = %e, "cannot start the gateway's thread");
                return;
            }
        };
        let mut to_core = Some(to_core);
        let (done_tx, mut done_rx) = mpsc::channel::<Done>(64);
        let tracker = TaskTracker::new();
        let mut queue: Vec<Pending> = Vec::new();
        let mut waiting: VecDeque<ToCore> = VecDeque::new();
        let mut tick_waiting = false;
        let mut tickets = 0u64;
        let mut verifying = false;
        let mut stopping = false;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let room = !stopping && waiting.len() < MAX_WAITING;
            tokio::select! {
                biased;
                outputs = from_core.recv() => {
                    let Some(outputs) = outputs else { break };
                    for output in outputs {
                        match output {
                            Output::Publish(message) if dropped(&message) => {
                                warn!("testing: auction result dropped instead of gossiped");
                            }
                            Output::Publish(message) => {
                                let net = net.clone();
                                tracker.spawn(async move {
                                    if let Err(e) = net.publish(message).await {
                                        warn!(error = %e, "publish failed");
                                    }
                                });
                            }
                            Output::Respond { token, response } => net.respond(token, response).await,
                            Output::Verify {
                                token,
                                job,
                                input,
                                submission,
                            } => queue.push(Pending {
                                token,
                                job,
                                input,
                                submission,
                            }),
                            Output::Aggregate { task, proofs } => {
                                let workload = workload.clone();
                                let done = done_tx.clone();
                                tokio::spawn(async move {
                                    let id = task.id;
                                    let result = tokio::task::spawn_blocking(move || {
                                        workload.aggregate(&task, &proofs).map_err(|e| e.to_string())
                                    })
                                    .await
                                    .unwrap_or_else(|e| Err(format!("aggregation panicked: {e}")));
                                    let _ = done
                                        .send(Done::Core(Box::new(Input::Aggregated { task: id, result })))
                                        .await;
                                });
                            }
                            Output::Assign { prover, assignment } => {
                                let (net, stop) = (net.clone(), stop.clone());
                                tracker.spawn(async move {
                                    tokio::select! {
                                        _ = deliver(net, prover, assignment) => {}
                                        _ = stop.cancelled() => {}
                                    }
                                });
                            }
                            Output::TaskChanged(_) => changes_tx.send_modify(|n| *n += 1),
                            Output::Equivocation { evidence, dir: Some(dir) } => {
                                let name = format!(
                                    "{}-{}.equivocation",
                                    evidence.first.signer, evidence.first.payload.batch_id
                                );
                                tracker.spawn_blocking(move || {
                                    crate::evidence_files::keep(&dir, &name, &evidence.to_bytes());
                                });
                            }
                            Output::Equivocation { dir: None, .. } => {}
                            // Answered by the core thread itself, after its flush.
                            Output::Submitted { .. } => {}
                        }
                    }
                }
                permit = async { to_core.as_ref()?.reserve().await.ok() }, if !waiting.is_empty() => {
                    let Some(message) = waiting.pop_front() else { continue };
                    if matches!(*message.input, Input::Tick) {
                        tick_waiting = false;
                    }
                    // Once the core is closing, what still arrives is dropped (a client's
                    // reply channel with it); the loop ends when the core thread has.
                    if let Some(permit) = permit {
                        permit.send(message);
                    }
                }
                Some(done) = done_rx.recv() => match done {
                    Done::Core(input) => waiting.push_back(ToCore { input, arrived: clock.now(), reply: None }),
                    Done::Split(submit) => waiting.push_back(submit),
                    Done::BatchFinished => verifying = false,
                },
                _ = ticker.tick(), if room && !tick_waiting => {
                    tick_waiting = true;
                    waiting.push_back(ToCore::new(Input::Tick, clock.now()));
                }
                command = command_rx.recv(), if room => match command {
                    // Splitting may be long (circom witnesses computed and checked): on the
                    // blocking pool, then to the core.
                    Some(Command::Submit { spec, max_fee_per_job, deadline, delivery, reply }) => {
                        let (workload, done) = (workload.clone(), done_tx.clone());
                        tickets += 1;
                        let ticket = tickets;
                        let clock = clock.clone();
                        tokio::spawn(async move {
                            let split = tokio::task::spawn_blocking(move || {
                                Submission::split(&*workload, ticket, spec, max_fee_per_job, deadline)
                                    .delivering(delivery)
                            })
                            .await;
                            let Ok(submission) = split else { return };
                            let submit = ToCore {
                                input: Box::new(Input::Submit(Box::new(submission))),
                                arrived: clock.now(),
                                reply: Some(reply),
                            };
                            let _ = done.send(Done::Split(submit)).await;
                        });
                    }
                    None => stop.cancel(),
                },
                event = events.recv(), if room => match event {
                    // Stamped as it is taken from the network: the core judges lateness by it.
                    Some(NetEvent::Gossip { message, .. }) => {
                        let arrived = clock.now();
                        waiting.push_back(ToCore::new(Input::Gossip(message), arrived));
                    }
                    Some(NetEvent::Request { peer, token, request, .. }) if Reader::serves(&request) => {
                        serve_read(&reader, &reads, &net, &tracker, peer, token, request);
                    }
                    Some(NetEvent::Request { peer, token, request, .. }) => {
                        let arrived = clock.now();
                        waiting.push_back(ToCore::new(Input::Request { peer, token, request }, arrived));
                    }
                    Some(_) => {}
                    None => stop.cancel(),
                },
                _ = stop.cancelled(), if !stopping => stopping = true,
            }
            // Verify everything waiting, in one batch, one batch at a time.
            if !verifying && !queue.is_empty() {
                verifying = true;
                let batch = std::mem::take(&mut queue);
                tokio::spawn(verify_batch(
                    batch,
                    workload.clone(),
                    done_tx.clone(),
                    metrics.clone(),
                ));
            }
            // Stopping: once the last verdicts are in the core's hands, let it finish.
            if stopping && !verifying && queue.is_empty() && waiting.is_empty() {
                to_core = None;
            }
        }
        drop(from_core);
        tracker.close();
        if tokio::time::timeout(STOP_GRACE, tracker.wait())
            .await
            .is_err()
        {
            warn!("publishes or deliveries still running when the gateway stopped");
        }
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    });
    (handle, task)
}

/// Bounds on the read-only requests answered off the core's thread.
struct Reads {
    /// Answered at once.
    running: Arc<tokio::sync::Semaphore>,
    /// Answered or waiting.
    admitted: Arc<tokio::sync::Semaphore>,
}

/// Answers a read-only request on the blocking pool, off the core's thread, [`MAX_READS`] at
/// once, or refuses it when [`MAX_READS_WAITING`] are answered or waiting already.
fn serve_read(
    reader: &Reader,
    reads: &Reads,
    net: &SupernetHandle,
    tracker: &TaskTracker,
    peer: PeerId,
    token: RequestToken,
    request: Request,
) {
    let net = net.clone();
    let Ok(admitted) = reads.admitted.clone().try_acquire_owned() else {
        tracker.spawn(async move {
            let reason = "the gateway is answering as many reads as it can; ask again".into();
            net.respond(token, Response::Refused { reason }).await;
        });
        return;
    };
    let (reader, running) = (reader.clone(), reads.running.clone());
    tracker.spawn(async move {
        let _admitted = admitted;
        let Ok(permit) = running.acquire_owned().await else {
            return;
        };
        let answer = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            reader.answer(peer, &request)
        })
        .await;
        let response = match answer {
            Ok(Ok(Some(response))) => response,
            Ok(Ok(None)) => Response::Refused {
                reason: "not a read".into(),
            },
            Ok(Err(e)) => {
                error!(error = %e, peer = %peer, "cannot read the store for a peer");
                Response::Refused {
                    reason: "the gateway cannot read its store".into(),
                }
            }
            Err(e) => {
                error!(error = %e, "a read panicked");
                Response::Refused {
                    reason: "the gateway cannot read its store".into(),
                }
            }
        };
        net.respond(token, response).await;
    });
}

/// Checks a batch of submissions off the runtime and feeds each verdict back to the loop.
async fn verify_batch<W: Workload>(
    batch: Vec<Pending>,
    workload: Arc<W>,
    done: mpsc::Sender<Done>,
    metrics: crate::metrics::GatewayMetrics,
) {
    let started = std::time::Instant::now();
    let items: Vec<_> = batch
        .iter()
        .map(|p| (p.job.clone(), p.input.clone(), p.submission.payload.clone()))
        .collect();
    // A verifier that panics is the gateway's fault: every proof in the batch is unchecked,
    // never invalid.
    let verdicts = tokio::task::spawn_blocking(move || workload.verify(&items))
        .await
        .unwrap_or_else(|e| {
            error!(error = %e, "the verifier panicked");
            Vec::new()
        });
    metrics.verified_batch(batch.len(), started.elapsed().as_secs_f64());
    for (i, p) in batch.into_iter().enumerate() {
        let outcome = verdicts
            .get(i)
            .cloned()
            .unwrap_or_else(|| Check::Unchecked("verification did not complete".into()));
        let input = Input::Verified {
            token: p.token,
            submission: p.submission,
            outcome,
        };
        if done.send(Done::Core(Box::new(input))).await.is_err() {
            return;
        }
    }
    let _ = done.send(Done::BatchFinished).await;
}

/// Tells a winner of its job over request-response, retrying with backoff until it
/// acknowledges, refuses, or the proving deadline passes. Gossip may lose the auction result;
/// this may not.
async fn deliver(net: SupernetHandle, prover: PeerId, assignment: Signed<JobAssignment>) {
    let job = assignment.payload.job_id;
    let deadline = assignment.payload.proving_deadline;
    let mut wait = Duration::from_millis(200);
    loop {
        match net
            .request(prover, Request::Assign(assignment.clone()))
            .await
        {
            Ok(Response::Ack) => return,
            Ok(other) => {
                warn!(job_id = %job, peer = %prover, answer = ?other, "winner did not take its assignment");
                return;
            }
            Err(e) if now_ms() < deadline => {
                tracing::debug!(job_id = %job, peer = %prover, error = %e, "assignment not delivered yet");
            }
            Err(e) => {
                warn!(job_id = %job, peer = %prover, error = %e, "could not tell a winner of its job before the deadline");
                return;
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobRecord, TaskRecord, TaskSpec, TaskStatus};
    use crate::store::ProofRecord;
    use crate::store::Store;
    use crate::workload::{JobPlan, ProofBytes, WorkloadError};
    use lagrange_protocol::config::{
        AuctionConfig, CategoryConfig, CircuitConfig, EconomicsConfig, SupernetConfig,
    };
    use lagrange_protocol::{CircuitId, Digest, JobCategory, Keypair, SupernetId};

    /// Splits every task into one job; nothing here is ever proven.
    struct OneJob;

    impl Workload for OneJob {
        fn split(&self, _: &TaskSpec) -> Result<Vec<JobPlan>, WorkloadError> {
            Ok(vec![JobPlan {
                circuit: CircuitId::new("synthetic.small").expect("a valid id"),
                category: JobCategory::Small,
                input: vec![1],
            }])
        }
        fn prove(&self, _: &CircuitId, _: &[u8]) -> Result<ProofBytes, WorkloadError> {
            Err(WorkloadError::Refused("not proven here".into()))
        }
        fn verify(&self, items: &[(JobRecord, Vec<u8>, ProofSubmission)]) -> Vec<Check> {
            items.iter().map(|_| Check::Valid).collect()
        }
        fn aggregate(
            &self,
            _: &TaskRecord,
            _: &[(JobRecord, Vec<u8>, ProofRecord)],
        ) -> Result<Vec<u8>, WorkloadError> {
            Ok(vec![])
        }
    }

    fn supernet() -> Arc<SupernetConfig> {
        Arc::new(SupernetConfig {
            id: SupernetId::new("driver").expect("a valid id"),
            gateways: vec![Keypair::insecure_from_seed(1).peer_id()],
            allowlist: None,
            auction: AuctionConfig::default(),
            economics: EconomicsConfig {
                genesis_stake: 1000,
                min_stake: 100,
                slash_amount: 300,
                non_reveal_penalty: 50,
                deposits: Vec::new(),
                tokens: None,
            },
            categories: vec![CategoryConfig {
                category: JobCategory::Small,
                proving_deadline_ms: 5000,
                reserve_price: 100,
            }],
            circuits: vec![CircuitConfig {
                id: CircuitId::new("synthetic.small").expect("a valid id"),
                category: JobCategory::Small,
                params_digest: Digest([0; 32]),
                r1cs_digest: None,
                wasm_digest: None,
                model: None,
            }],
        })
    }

    #[test]
    fn a_task_is_durable_before_its_watchers_hear_it_ended() {
        let store = Store::temporary().expect("a temporary store");
        let mut core = GatewayCore::new(supernet(), Keypair::insecure_from_seed(1), store.clone());
        // A task whose deadline is long past when the core thread first ticks.
        let then = now_ms() - 10_000;
        let spec = TaskSpec::Synthetic {
            jobs: 1,
            category: JobCategory::Small,
        };
        let submission = Submission::split(&OneJob, 1, spec, 10, then + 1);
        let out = core
            .handle(Input::Submit(Box::new(submission)), then)
            .expect("handled");
        let Some(Output::Submitted {
            result: Ok(task), ..
        }) = out.last()
        else {
            panic!("not stored: {out:?}");
        };
        let task = task.id;
        let (to_core, inputs) = mpsc::channel(8);
        let (outputs_tx, mut outputs) = mpsc::channel(8);
        let clock = Arc::new(Monotonic::default());
        let thread = std::thread::spawn(move || run_core(core, clock, inputs, outputs_tx));
        outputs.blocking_recv().expect("recovered");
        let flushed = store.flushes();
        let tick = ToCore::new(Input::Tick, now_ms());
        to_core.blocking_send(tick).expect("the core runs");
        let out = outputs.blocking_recv().expect("the tick's outputs");
        // Only the task's news comes out: nothing else would have made the core flush.
        assert!(
            !out.is_empty()
                && out
                    .iter()
                    .all(|o| matches!(o, Output::TaskChanged(t) if *t == task)),
            "{out:?}"
        );
        let record = store.task(&task).expect("readable").expect("kept");
        assert!(matches!(record.status, TaskStatus::Failed { .. }));
        assert!(
            store.flushes() > flushed,
            "the task's end was shown to its watchers before it was durable"
        );
        drop(to_core);
        thread.join().expect("the core thread ends");
    }

    #[test]
    fn transcripts_and_assignment_lists_never_reach_the_core() {
        let supernet = SupernetId::new("driver").expect("a valid id");
        let batch_id = lagrange_protocol::BatchId([0; 16]);
        assert!(Reader::serves(&Request::Transcript {
            supernet: supernet.clone(),
            batch_id
        }));
        assert!(Reader::serves(&Request::Assignments { supernet }));
    }
}

//! Runs a [`GatewayCore`] against the network, a clock and the blocking pool.
//!
//! One task owns the core. It feeds it ticks, network events, client submissions and
//! finished CPU work, and carries out its outputs: publishes (in their own tasks, so a slow
//! publish never stalls the loop), responses, and verification and aggregation on the
//! blocking pool. Waiting verifications are checked together, in one batch.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, warn};

use lagrange_protocol::messages::{GossipMessage, JobAssignment, Request, Response};
use lagrange_protocol::{Price, Signed, TaskId, UnixMillis};
use libp2p::PeerId;

use super::core::{GatewayCore, Input, Output, SubmitError};
use crate::clock::{TICK, now_ms};
use crate::net::{NetEvent, RequestToken, SupernetHandle};
use crate::store::{Store, TaskRecord, TaskSpec};
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

enum Command {
    Submit {
        spec: TaskSpec,
        max_fee_per_job: Price,
        deadline: UnixMillis,
        reply: oneshot::Sender<Result<TaskRecord, SubmitError>>,
    },
}

/// The client-facing side of a running gateway.
#[derive(Clone)]
pub struct GatewayHandle {
    commands: mpsc::Sender<Command>,
    changes: watch::Receiver<u64>,
    store: Store,
}

impl GatewayHandle {
    /// Stores a task and returns it once it is durable.
    pub async fn submit(
        &self,
        spec: TaskSpec,
        max_fee_per_job: Price,
        deadline: UnixMillis,
    ) -> Result<TaskRecord, SubmitError> {
        let (reply, rx) = oneshot::channel();
        let command = Command::Submit {
            spec,
            max_fee_per_job,
            deadline,
            reply,
        };
        if self.commands.send(command).await.is_err() {
            return Err(SubmitError::Invalid("the gateway has stopped".into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(SubmitError::Invalid("the gateway has stopped".into())))
    }

    /// The store, for reading tasks, events and results.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A receiver that changes whenever some task's history grows.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Waits until `task` is done or failed, or `timeout` passes.
    pub async fn wait_final(&self, task: &TaskId, timeout: Duration) -> Option<TaskRecord> {
        let mut changes = self.changes();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(record)) = self.store.task(task)
                && record.status.is_final()
            {
                return Some(record);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .map_or(true, |r| r.is_err())
            {
                return None;
            }
        }
    }
}

/// Finished CPU work coming back to the loop.
enum Done {
    /// Feed this to the core.
    Core(Box<Input>),
    /// A verification batch has been fed back entirely.
    BatchFinished,
}

struct Pending {
    token: RequestToken,
    job: crate::store::JobRecord,
    input: Vec<u8>,
    submission: lagrange_protocol::Signed<lagrange_protocol::messages::ProofSubmission>,
}

/// Starts the gateway. `events` carries this Supernet's network events for the gateway.
pub fn spawn<W: Workload>(
    mut core: GatewayCore<W>,
    workload: Arc<W>,
    net: SupernetHandle,
    mut events: mpsc::Receiver<NetEvent>,
) -> (GatewayHandle, JoinHandle<()>) {
    let (commands, mut command_rx) = mpsc::channel(64);
    let (changes_tx, changes) = watch::channel(0u64);
    let handle = GatewayHandle {
        commands,
        changes,
        store: core.store().clone(),
    };
    let task = tokio::spawn(async move {
        let (done_tx, mut done_rx) = mpsc::channel::<Done>(64);
        let mut queue: Vec<Pending> = Vec::new();
        let metrics = core.metrics().clone();
        let mut verifying = false;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let mut outputs = match core.recover(now_ms()) {
            Ok(out) => out,
            Err(e) => {
                error!(error = %e, "gateway cannot recover its store");
                return;
            }
        };
        loop {
            // Nothing is announced or acknowledged before it is durable.
            let tells = outputs
                .iter()
                .any(|o| matches!(o, Output::Publish(_) | Output::Respond { .. }));
            if tells && let Err(e) = core.store().flush().await {
                error!(error = %e, "gateway cannot flush its store; stopping");
                return;
            }
            for output in outputs.drain(..) {
                match output {
                    Output::Publish(message) if dropped(&message) => {
                        warn!("testing: auction result dropped instead of gossiped");
                    }
                    Output::Publish(message) => {
                        let net = net.clone();
                        tokio::spawn(async move {
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
                                workload.aggregate(&task, &proofs)
                            })
                            .await
                            .unwrap_or_else(|e| Err(format!("aggregation panicked: {e}")));
                            let _ = done
                                .send(Done::Core(Box::new(Input::Aggregated { task: id, result })))
                                .await;
                        });
                    }
                    Output::Assign { prover, assignment } => {
                        tokio::spawn(deliver(net.clone(), prover, assignment));
                    }
                    Output::TaskChanged(_) => changes_tx.send_modify(|n| *n += 1),
                }
            }
            // Verify everything waiting, in one batch, one batch at a time.
            if !verifying && !queue.is_empty() {
                verifying = true;
                let batch = std::mem::take(&mut queue);
                let workload = workload.clone();
                let done = done_tx.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    let items: Vec<_> = batch
                        .iter()
                        .map(|p| (p.job.clone(), p.input.clone(), p.submission.payload.clone()))
                        .collect();
                    // A verifier that panics is the gateway's fault: every proof in the batch
                    // is unchecked, never invalid.
                    let verdicts = tokio::task::spawn_blocking(move || workload.verify(&items))
                        .await
                        .unwrap_or_else(|e| {
                            error!(error = %e, "the verifier panicked");
                            Vec::new()
                        });
                    metrics.verified_batch(batch.len(), started.elapsed().as_secs_f64());
                    for (i, p) in batch.into_iter().enumerate() {
                        let outcome = verdicts.get(i).cloned().unwrap_or_else(|| {
                            Check::Unchecked("verification did not complete".into())
                        });
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
                });
            }

            let input = tokio::select! {
                _ = ticker.tick() => Input::Tick,
                Some(done) = done_rx.recv() => match done {
                    Done::Core(input) => *input,
                    Done::BatchFinished => {
                        verifying = false;
                        continue;
                    }
                },
                command = command_rx.recv() => match command {
                    Some(Command::Submit { spec, max_fee_per_job, deadline, reply }) => {
                        let result = core.submit(spec, max_fee_per_job, deadline, now_ms());
                        let result = match result {
                            Ok(task) => match core.store().flush().await {
                                Ok(()) => {
                                    changes_tx.send_modify(|n| *n += 1);
                                    Ok(task)
                                }
                                Err(e) => Err(SubmitError::Store(e)),
                            },
                            Err(e) => Err(e),
                        };
                        let _ = reply.send(result);
                        continue;
                    }
                    None => break,
                },
                event = events.recv() => match event {
                    Some(NetEvent::Gossip { message, .. }) => Input::Gossip(message),
                    Some(NetEvent::Request { peer, token, request, .. }) => {
                        Input::Request { peer, token, request }
                    }
                    Some(_) => continue,
                    None => break,
                },
            };
            match core.handle(input, now_ms()) {
                Ok(out) => outputs = out,
                Err(e) => {
                    error!(error = %e, "gateway store failure; stopping");
                    break;
                }
            }
        }
    });
    (handle, task)
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

/// Whether a request belongs to the gateway (rather than the node's parameter server).
pub fn is_gateway_request(request: &Request) -> bool {
    !matches!(request, Request::ParamChunk { .. })
}

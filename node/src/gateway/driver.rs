//! Runs a [`GatewayCore`] against the network, a clock and the blocking pool.
//!
//! One task owns the core. It feeds it ticks, network events, client submissions and
//! finished CPU work, and carries out its outputs: publishes (in their own tasks, so a slow
//! publish never stalls the loop), responses, and verification and aggregation on the
//! blocking pool. Waiting verifications are checked together, in one batch.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, warn};

use lagrange_protocol::messages::Request;
use lagrange_protocol::{Price, TaskId, UnixMillis};

use super::core::{GatewayCore, Input, Output, SubmitError};
use crate::net::{NetEvent, RequestToken, SupernetHandle};
use crate::store::{Store, TaskRecord, TaskSpec};
use crate::workload::Workload;

/// How often the gateway looks at its clocks (batches, windows, deadlines).
pub const TICK: Duration = Duration::from_millis(25);

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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

        let mut outputs = match core.recover() {
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
                    let verdicts = tokio::task::spawn_blocking(move || workload.verify(&items))
                        .await
                        .unwrap_or_default();
                    metrics.verified_batch(batch.len(), started.elapsed().as_secs_f64());
                    for (i, p) in batch.into_iter().enumerate() {
                        let outcome = verdicts
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| Err("verification did not complete".into()));
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

/// Whether a request belongs to the gateway (rather than the node's parameter server).
pub fn is_gateway_request(request: &Request) -> bool {
    !matches!(request, Request::ParamChunk { .. })
}

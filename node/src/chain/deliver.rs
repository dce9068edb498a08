//! The gateway's own deliveries ("Query Executor"): a task submitted with a
//! [`Delivery`](crate::model::Delivery) has its result sent to the `QueryResults` contract the
//! client named as soon as the task is done, and the outcome (the transaction and its block,
//! or why not) appended to the task's events.
//!
//! The deliverer runs beside the gateway and reads only its store: it wakes when some task's
//! history grows, and every few seconds for retries. Each delivery first asks the contract
//! whether it holds the answer already (a delivery sent before a crash is not sent twice),
//! then tries the transaction as a call, so a refused result costs no gas and reports the
//! contract's reason. A node that does not answer is tried again with backoff, in the round
//! and across rounds; a revert, a wrong contract or a result the contract refuses ends the
//! delivery at once. Either way the task's result stands.

use std::collections::HashMap;
use std::time::Duration;

use alloy::primitives::Address;
use backon::{ExponentialBuilder, Retryable};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use lagrange_circuits::family::TaskResult;
use lagrange_protocol::TaskId;

use super::{ChainError, Evm};
use crate::clock::now_ms;
use crate::gateway::driver::GatewayHandle;
use crate::model::{DeliveryRecord, DeliveryState, TaskEventKind, TaskStatus, hex0x};
use crate::store::{Store, StoreError};

/// How often pending deliveries are looked at when nothing else wakes the deliverer.
const ROUND_EVERY: Duration = Duration::from_secs(2);

/// Rounds in which the node did not answer before a delivery is given up.
pub const MAX_ROUNDS: u32 = 8;

/// Tries of one transaction within a round when the node does not answer.
const TRIES_PER_ROUND: usize = 3;

/// Starts delivering `gateway`'s results through `evm` until `stop`; from now on the gateway
/// takes tasks that ask for delivery.
pub fn spawn(gateway: GatewayHandle, evm: Evm, stop: CancellationToken) -> JoinHandle<()> {
    gateway.delivering();
    tokio::spawn(async move {
        let mut changes = gateway.changes();
        let mut deliverer = Deliverer::new(gateway.store().clone(), evm);
        loop {
            match deliverer.round(&stop).await {
                Ok(ended) if ended > 0 => gateway.changed(),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "deliveries: the store failed; trying again"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = changes.changed() => {}
                _ = tokio::time::sleep(ROUND_EVERY) => {}
            }
        }
    })
}

/// Delivers the results a gateway's store holds for delivery, one round at a time.
pub struct Deliverer {
    store: Store,
    evm: Evm,
    /// Deliveries whose node did not answer, and when to try them again.
    not_before: HashMap<TaskId, Instant>,
}

impl Deliverer {
    /// A deliverer of `store`'s pending deliveries through `evm`.
    pub fn new(store: Store, evm: Evm) -> Self {
        Self {
            store,
            evm,
            not_before: HashMap::new(),
        }
    }

    /// One look at every pending delivery whose task has ended (unless `stop`): each is
    /// delivered, refused, cancelled with its failed task, or left for a later round if the
    /// node did not answer. Returns how many ended (their events are written and flushed).
    pub async fn round(&mut self, stop: &CancellationToken) -> Result<usize, StoreError> {
        let store = self.store.clone();
        let pending = blocking(move || store.pending_deliveries()).await?;
        let mut ended_here = 0;
        for (task, record) in pending {
            if stop.is_cancelled() {
                break;
            }
            if self
                .not_before
                .get(&task)
                .is_some_and(|t| Instant::now() < *t)
            {
                continue;
            }
            let Some(status) = self.store.task(&task)?.map(|t| t.status) else {
                continue;
            };
            let ended = match status {
                TaskStatus::Proving => continue,
                TaskStatus::Failed { .. } => Some((DeliveryState::Cancelled, None)),
                TaskStatus::Done => match deliver(&self.store, &self.evm, &task, &record).await {
                    Ok(ended) => Some(ended),
                    Err(e) => {
                        let store = self.store.clone();
                        let tries = blocking(move || store.delivery_attempted(&task)).await?;
                        if tries >= MAX_ROUNDS {
                            let reason = format!("the node did not answer in {tries} rounds: {e}");
                            Some(failed(reason))
                        } else {
                            let wait = ROUND_EVERY * 2u32.saturating_pow(tries.min(5));
                            warn!(task_id = %task, tries, error = %e, "delivery: no answer; trying again later");
                            self.not_before.insert(task, Instant::now() + wait);
                            None
                        }
                    }
                },
            };
            if let Some((state, event)) = ended {
                self.not_before.remove(&task);
                let store = self.store.clone();
                blocking(move || {
                    store.finish_delivery(&task, state, event, now_ms())?;
                    store.flush_blocking()
                })
                .await?;
                ended_here += 1;
            }
        }
        Ok(ended_here)
    }
}

/// A store operation on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Corrupt {
            what: "delivery",
            reason: format!("the store task failed: {e}"),
        })?
}

fn failed(reason: String) -> (DeliveryState, Option<TaskEventKind>) {
    (
        DeliveryState::Failed {
            reason: reason.clone(),
        },
        Some(TaskEventKind::DeliveryFailed { reason }),
    )
}

/// Delivers a done task's result: `Ok` with how the delivery ended, or the transient error
/// that stopped this round.
async fn deliver(
    store: &Store,
    evm: &Evm,
    task: &TaskId,
    record: &DeliveryRecord,
) -> Result<(DeliveryState, Option<TaskEventKind>), ChainError> {
    let contract = Address::from(record.to.contract);
    let source = record.to.source.map(Address::from);
    let result = match store.result(task) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(failed("the task has no stored result".into())),
        Err(e) => return Ok(failed(format!("reading the result: {e}"))),
    };
    let query = match TaskResult::from_json(&result) {
        Ok(TaskResult::Query(query)) => query,
        Ok(_) => return Ok(failed("only a query task's result is delivered".into())),
        Err(e) => return Ok(failed(format!("the stored result does not read: {e}"))),
    };
    let id = task.to_string();
    let attempt = || async {
        // Sent before a crash, or by the client itself: the contract holds it already.
        if let Some(held) = evm
            .query_answer(contract, &query.commitment, query.query)
            .await?
            && held.answer == query.answer
        {
            return Ok(None);
        }
        evm.submit_query(contract, source, &id, &query)
            .await
            .map(Some)
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(8))
        .with_max_times(TRIES_PER_ROUND - 1);
    match attempt.retry(backoff).when(ChainError::is_transient).await {
        Ok(sent) => {
            let (tx, block) = match sent {
                Some(d) => (Some(d.tx.0), d.block),
                None => (None, None),
            };
            info!(
                task_id = %task,
                contract = %hex0x(&record.to.contract),
                tx = tx.map(|t| hex0x(&t)).unwrap_or_else(|| "none (already held)".into()),
                "result delivered on chain"
            );
            Ok((
                DeliveryState::Delivered { tx, block },
                Some(TaskEventKind::Delivered {
                    contract: record.to.contract,
                    tx,
                    block,
                }),
            ))
        }
        Err(e) if e.is_transient() => Err(e),
        Err(e) => {
            warn!(task_id = %task, error = %e, "delivery refused");
            Ok(failed(e.to_string()))
        }
    }
}

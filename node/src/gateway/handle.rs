//! The client-facing side of a running gateway: submitting tasks (answered once they are
//! durable), reading the store, and waiting on a task's history. The driver
//! ([`super::driver`]) makes one and serves its commands.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use lagrange_protocol::{Price, TaskId, UnixMillis};

use super::core::SubmitError;
use crate::model::{Delivery, TaskRecord, TaskSpec};
use crate::store::Store;

pub(super) enum Command {
    Submit {
        spec: TaskSpec,
        max_fee_per_job: Price,
        deadline: UnixMillis,
        delivery: Option<Delivery>,
        reply: oneshot::Sender<Result<TaskRecord, SubmitError>>,
    },
}

/// The client-facing side of a running gateway.
#[derive(Clone)]
pub struct GatewayHandle {
    commands: mpsc::Sender<Command>,
    changes: Arc<watch::Sender<u64>>,
    store: Store,
    /// Whether something delivers results to a chain ([`GatewayHandle::delivering`]).
    delivers: Arc<std::sync::atomic::AtomicBool>,
}

impl GatewayHandle {
    pub(super) fn new(
        commands: mpsc::Sender<Command>,
        changes: Arc<watch::Sender<u64>>,
        store: Store,
    ) -> Self {
        Self {
            commands,
            changes,
            store,
            delivers: Default::default(),
        }
    }

    /// Stores a task and returns it once it is durable.
    pub async fn submit(
        &self,
        spec: TaskSpec,
        max_fee_per_job: Price,
        deadline: UnixMillis,
    ) -> Result<TaskRecord, SubmitError> {
        self.submit_delivered(spec, max_fee_per_job, deadline, None)
            .await
    }

    /// [`GatewayHandle::submit`], asking that the gateway deliver the result to a chain when
    /// the task is done; refused unless something delivers for this gateway.
    pub async fn submit_delivered(
        &self,
        spec: TaskSpec,
        max_fee_per_job: Price,
        deadline: UnixMillis,
        delivery: Option<Delivery>,
    ) -> Result<TaskRecord, SubmitError> {
        if delivery.is_some() && !self.delivers() {
            return Err(SubmitError::Invalid(
                "this gateway delivers to no chain (its operator configures one)".into(),
            ));
        }
        let (reply, rx) = oneshot::channel();
        let command = Command::Submit {
            spec,
            max_fee_per_job,
            deadline,
            delivery,
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
        self.changes.subscribe()
    }

    /// Tells the watchers that some task's history grew outside the core (a delivery).
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Marks this gateway as delivering results to a chain: from now on, clients may ask it
    /// to ([`GatewayHandle::submit_delivered`]).
    pub fn delivering(&self) {
        self.delivers
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether results submitted now can be delivered to a chain.
    pub fn delivers(&self) -> bool {
        self.delivers.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether `task`'s history has ended: the task is done or failed (or gone), and no
    /// delivery of its result is still to come.
    pub fn settled(&self, task: &TaskId) -> bool {
        let store = &self.store;
        let ended = store
            .task(task)
            .ok()
            .flatten()
            .is_none_or(|t| t.status.is_final());
        let delivering =
            self.delivers()
                && store.delivery(task).ok().flatten().is_some_and(|d| {
                    matches!(d.state, crate::model::DeliveryState::Pending { .. })
                });
        ended && !delivering
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

//! Deliveries to a chain: the requests stored with their tasks, the ones still to do, and
//! each outcome written with the task event that tells the client.

use sled::Transactional;

use lagrange_protocol::{TaskId, UnixMillis};

use super::retention;
use super::schema::{abort, dec, enc, tx_get};
use super::tasks::tx_event;
use super::{Store, StoreError};
use crate::model::{DeliveryRecord, DeliveryState, TaskEventKind, TaskRecord};

impl Store {
    /// A task's delivery request and its state, if the client asked for one.
    pub fn delivery(&self, id: &TaskId) -> Result<Option<DeliveryRecord>, StoreError> {
        self.deliveries
            .get(id.as_bytes())?
            .map(|v| dec("delivery", &v))
            .transpose()
    }

    /// Every delivery still pending, whatever its task's state.
    pub fn pending_deliveries(&self) -> Result<Vec<(TaskId, DeliveryRecord)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.deliveries.iter() {
            let (key, value) = entry?;
            let record: DeliveryRecord = dec("delivery", &value)?;
            if let (DeliveryState::Pending { .. }, Ok(id)) =
                (&record.state, <[u8; 16]>::try_from(key.as_ref()))
            {
                out.push((TaskId(id), record));
            }
        }
        Ok(out)
    }

    /// Counts one more try of a pending delivery that found no chain to take it.
    pub fn delivery_attempted(&self, id: &TaskId) -> Result<u32, StoreError> {
        let Some(mut record) = self.delivery(id)? else {
            return Err(StoreError::UnknownTask(*id));
        };
        let DeliveryState::Pending { attempts } = &mut record.state else {
            return Ok(0);
        };
        *attempts = attempts.saturating_add(1);
        let n = *attempts;
        self.deliveries.insert(id.as_bytes(), enc(&record))?;
        Ok(n)
    }

    /// Ends a pending delivery in `state`, with `event` (if any) appended to the task's
    /// history in the same transaction. A finished task kept for its delivery is filed for
    /// pruning again from `at`. Ending one that is no longer pending changes nothing.
    pub fn finish_delivery(
        &self,
        id: &TaskId,
        state: DeliveryState,
        event: Option<TaskEventKind>,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        (&self.tasks, &self.events, &self.deliveries, &self.expiry).transaction(
            |(tasks, events, deliveries, expiry)| {
                let Some(mut record) =
                    tx_get::<DeliveryRecord>(deliveries, "delivery", id.as_bytes())?
                else {
                    return abort(StoreError::UnknownTask(*id));
                };
                if !matches!(record.state, DeliveryState::Pending { .. }) {
                    return Ok(());
                }
                let Some(task) = tx_get::<TaskRecord>(tasks, "task", id.as_bytes())? else {
                    return abort(StoreError::UnknownTask(*id));
                };
                record.state = state.clone();
                deliveries.insert(id.as_bytes().as_slice(), enc(&record))?;
                if task.status.is_final() {
                    expiry.insert(&retention::task_expiry(id, at)[..], &[][..])?;
                }
                match &event {
                    Some(kind) => tx_event(tasks, events, id, at, kind.clone()),
                    None => Ok(()),
                }
            },
        )?;
        Ok(())
    }
}

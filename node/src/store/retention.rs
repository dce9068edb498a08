//! Retention: what the gateway forgets once it is old enough, so that its store (and the
//! memory the store's engine keeps beside its cache, which grows with the number of pages)
//! stays the size of the recent past instead of the whole history.
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `expiry` | `t` ‖ finished at (u64 BE) ‖ task id | empty: a done or failed task |
//! | `expiry` | `b` ‖ reveal deadline (u64 BE) ‖ batch id | empty: an announced batch |
//!
//! A task is filed when it finishes, a batch when it is announced. [`Store::prune`] takes
//! the oldest entries before a cutoff and removes everything kept for them: a task's record,
//! rows, jobs (and their counts), inputs, proofs, result, events and token payments; a
//! batch's record and bids. Live tasks are never filed, so never pruned.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sled::Transactional;

use super::{Store, StoreError, dec, enc, get, job_key, state_code, tx_bump_count, tx_get};

use crate::model::{DeliveryRecord, DeliveryState, JobRecord, JobState, TaskRecord, TaskStatus};
use lagrange_protocol::{BatchId, TaskId, UnixMillis};

const TASK: u8 = b't';
const BATCH: u8 = b'b';
/// Set in `meta` once every finished task and every batch of an older store is filed.
const INDEXED: &[u8] = b"expiry_indexed";
/// [`PrunedTotals`] in `meta`.
const TOTALS: &[u8] = b"pruned";

pub(super) fn expiry_key(kind: u8, at: UnixMillis, id: &[u8; 16]) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[0] = kind;
    k[1..9].copy_from_slice(&at.to_be_bytes());
    k[9..].copy_from_slice(id);
    k
}

pub(super) fn task_expiry(task: &TaskId, finished_at: UnixMillis) -> [u8; 25] {
    expiry_key(TASK, finished_at, task.as_bytes())
}

pub(super) fn batch_expiry(batch: &BatchId, reveal_deadline: UnixMillis) -> [u8; 25] {
    expiry_key(BATCH, reveal_deadline, batch.as_bytes())
}

/// Everything pruned so far, kept so that an audit still reconciles the ledger (which keeps
/// every payment) with the task histories that are left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedTotals {
    /// Finished tasks removed.
    pub tasks: u64,
    /// Of them, tasks that were done.
    pub done: u64,
    /// Jobs of theirs that were verified and paid.
    pub jobs_paid: u64,
    /// What those jobs were paid, in fee units.
    pub paid: u64,
}

/// What one [`Store::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Finished tasks, with all they held.
    pub tasks: usize,
    /// Batches, with their bids.
    pub batches: usize,
}

impl Store {
    /// Files the finished tasks and the batches of a store written before retention existed,
    /// once. A task's finishing time is its last event's.
    pub(super) fn index_expiry_once(&self) -> Result<(), StoreError> {
        if self.meta.contains_key(INDEXED)? {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for value in self.tasks.iter().values() {
            let task: TaskRecord = dec("task", &value?)?;
            if matches!(task.status, TaskStatus::Done | TaskStatus::Failed { .. }) {
                let at = self
                    .events(&task.id, task.events.saturating_sub(1))?
                    .last()
                    .map_or(task.created_at, |e| e.at);
                batch.insert(&task_expiry(&task.id, at)[..], &[][..]);
            }
        }
        for value in self.batches.iter().values() {
            let record: super::BatchRecord = dec("batch", &value?)?;
            let b = &record.batch.payload;
            batch.insert(&batch_expiry(&b.batch_id, b.reveal_deadline)[..], &[][..]);
        }
        self.expiry.apply_batch(batch)?;
        self.meta.insert(INDEXED, &[][..])?;
        Ok(())
    }

    /// Removes up to `limit` tasks that finished before `task_cutoff` and up to `limit`
    /// batches whose reveal deadline was before `batch_cutoff`, except the batches in `keep`
    /// (auctions still running). Oldest first; a later call goes on where this one stopped.
    pub fn prune(
        &self,
        task_cutoff: UnixMillis,
        batch_cutoff: UnixMillis,
        keep: &BTreeSet<BatchId>,
        limit: usize,
    ) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        for key in self.due(TASK, task_cutoff, limit)? {
            if self.prune_task(&TaskId(id_of(&key)), &key)? {
                pruned.tasks += 1;
            }
        }
        for key in self.due(BATCH, batch_cutoff, limit + keep.len())? {
            let id = BatchId(id_of(&key));
            if keep.contains(&id) {
                continue;
            }
            if pruned.batches == limit {
                break;
            }
            self.prune_batch(&id, &key)?;
            pruned.batches += 1;
        }
        Ok(pruned)
    }

    /// Everything pruned so far.
    pub fn pruned_totals(&self) -> Result<PrunedTotals, StoreError> {
        Ok(get(&self.meta, "pruned totals", TOTALS)?.unwrap_or_default())
    }

    /// Up to `limit` expiry keys of `kind` filed before `cutoff`, oldest first.
    fn due(&self, kind: u8, cutoff: UnixMillis, limit: usize) -> Result<Vec<[u8; 25]>, StoreError> {
        let from = expiry_key(kind, 0, &[0; 16]);
        let to = expiry_key(kind, cutoff, &[0; 16]);
        let mut out = Vec::new();
        for key in self.expiry.range(from..to).keys().take(limit) {
            let key = key?;
            if let Ok(k) = <[u8; 25]>::try_from(key.as_ref()) {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// Everything a finished task holds, in one transaction with its expiry entry. A failed
    /// task with an assignment still running (a proof under it is still paid) is filed again
    /// at that assignment's deadline instead; one whose result is still to be delivered to a
    /// chain waits for its delivery to end. Returns whether the task was removed.
    fn prune_task(&self, id: &TaskId, expiry: &[u8; 25]) -> Result<bool, StoreError> {
        let jobs: Vec<JobRecord> = self.jobs_of(id)?;
        let events: Vec<sled::IVec> = self
            .events
            .scan_prefix(id.as_bytes())
            .keys()
            .collect::<Result<_, _>>()?;
        let payments = super::tokens::task_key(id);
        (
            &self.tasks,
            &self.task_rows,
            &self.jobs,
            &self.job_index,
            &self.inputs,
            &self.proofs,
            &self.results,
            &self.events,
            &self.tokens,
            &self.expiry,
            &self.meta,
            &self.task_ages,
            &self.deliveries,
        )
            .transaction(
                |(
                    tasks,
                    rows,
                    jt,
                    index,
                    inputs,
                    proofs,
                    results,
                    ev,
                    tokens,
                    exp,
                    meta,
                    ages,
                    dl,
                )| {
                    let task = tx_get::<TaskRecord>(tasks, "task", id.as_bytes())?;
                    // A result still to deliver stays: the delivery files the task again
                    // when it ends (`finish_delivery`).
                    if let Some(DeliveryRecord {
                        state: DeliveryState::Pending { .. },
                        ..
                    }) = tx_get::<DeliveryRecord>(dl, "delivery", id.as_bytes())?
                    {
                        exp.remove(&expiry[..])?;
                        return Ok(false);
                    }
                    // Finished tasks only: a task that is live again (never, today) stays.
                    if let Some(task) = &task
                        && !matches!(task.status, TaskStatus::Done | TaskStatus::Failed { .. })
                    {
                        exp.remove(&expiry[..])?;
                        return Ok(false);
                    }
                    let mut held_until: Option<UnixMillis> = None;
                    for job in &jobs {
                        if let Some(JobRecord {
                            state: JobState::Assigned { deadline, .. },
                            ..
                        }) = tx_get::<JobRecord>(jt, "job", &job_key(&job.id))?
                        {
                            held_until = Some(held_until.map_or(deadline, |h| h.max(deadline)));
                        }
                    }
                    if let Some(until) = held_until {
                        exp.remove(&expiry[..])?;
                        exp.insert(&task_expiry(id, until)[..], &[][..])?;
                        return Ok(false);
                    }
                    if let Some(task) = &task {
                        let mut totals: PrunedTotals =
                            tx_get(meta, "pruned totals", TOTALS)?.unwrap_or_default();
                        totals.tasks += 1;
                        totals.done += u64::from(task.status == TaskStatus::Done);
                        totals.jobs_paid += u64::from(task.verified);
                        totals.paid = totals.paid.saturating_add(task.fees);
                        meta.insert(TOTALS, enc(&totals))?;
                        ages.remove(&super::task_age_key(task.created_at, id)[..])?;
                    }
                    tasks.remove(id.as_bytes().as_slice())?;
                    rows.remove(id.as_bytes().as_slice())?;
                    results.remove(id.as_bytes().as_slice())?;
                    dl.remove(id.as_bytes().as_slice())?;
                    for job in &jobs {
                        let key = job_key(&job.id);
                        if jt.remove(&key[..])?.is_some() {
                            tx_bump_count(index, state_code(&job.state), false)?;
                        }
                        for tag in [super::OPEN, super::ASSIGNED] {
                            index.remove(&super::index_key(tag, &job.id)[..])?;
                        }
                        inputs.remove(&key[..])?;
                        proofs.remove(&key[..])?;
                    }
                    for key in &events {
                        ev.remove(key)?;
                    }
                    tokens.remove(payments.as_slice())?;
                    exp.remove(&expiry[..])?;
                    Ok(true)
                },
            )
            .map_err(StoreError::from)
    }

    /// A batch's record and bids, with its expiry entry.
    fn prune_batch(&self, id: &BatchId, expiry: &[u8; 25]) -> Result<(), StoreError> {
        let bids: Vec<sled::IVec> = self
            .bids
            .scan_prefix(id.as_bytes())
            .keys()
            .collect::<Result<_, _>>()?;
        (&self.batches, &self.bids, &self.expiry).transaction(|(batches, b, exp)| {
            batches.remove(id.as_bytes().as_slice())?;
            for key in &bids {
                b.remove(key)?;
            }
            exp.remove(&expiry[..])?;
            Ok(())
        })?;
        Ok(())
    }
}

fn id_of(key: &[u8; 25]) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&key[9..]);
    id
}

//! Tasks: creating one with its jobs and inputs, reading and paging them, finishing or
//! failing them, and each task's event history.

use sled::Transactional;
use sled::transaction::TransactionalTree;

use lagrange_protocol::{JobId, TaskId, UnixMillis};

use super::jobs::{tx_job, tx_put_job};
use super::retention;
use super::schema::{TxResult, abort, dec, enc, event_key, get, job_key, task_age_key, tx_get};
use super::{Store, StoreError};
use crate::model::{
    Delivery, DeliveryRecord, DeliveryState, JobRecord, JobState, TaskEvent, TaskEventKind,
    TaskRecord, TaskSpec, TaskStatus,
};

/// Everything needed to create one job.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The record, in state [`JobState::Open`].
    pub record: JobRecord,
    /// Its input.
    pub input: Vec<u8>,
}

/// Appends an event to a task's history inside a transaction.
pub(super) fn tx_event(
    tasks: &TransactionalTree,
    events: &TransactionalTree,
    task: &TaskId,
    at: UnixMillis,
    kind: TaskEventKind,
) -> TxResult<()> {
    let Some(mut record) = tx_get::<TaskRecord>(tasks, "task", task.as_bytes())? else {
        return abort(StoreError::UnknownTask(*task));
    };
    let seq = record.events;
    record.events += 1;
    tasks.insert(task.as_bytes().as_slice(), enc(&record))?;
    events.insert(&event_key(task, seq)[..], enc(&TaskEvent { seq, at, kind }))?;
    Ok(())
}

impl Store {
    /// Stores written before tasks were indexed by age get the index here, once.
    pub(super) fn index_task_ages_once(&self) -> Result<(), StoreError> {
        const AGED: &[u8] = b"task ages indexed";
        if self.meta.contains_key(AGED)? {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for value in self.tasks.iter().values() {
            let task: TaskRecord = dec("task", &value?)?;
            batch.insert(&task_age_key(task.created_at, &task.id)[..], &[][..]);
        }
        self.task_ages.apply_batch(batch)?;
        self.meta.insert(AGED, &[][..])?;
        Ok(())
    }
    /// Stores a new task with its jobs and inputs, and its `Submitted` event. The record
    /// holds no bulk payload ([`TaskSpec::for_storage`]); a query's `rows` are kept apart
    /// ([`Store::task_spec`] puts them back).
    pub fn create_task(
        &self,
        task: &TaskRecord,
        rows: Option<&[(u64, u64)]>,
        jobs: &[NewJob],
    ) -> Result<(), StoreError> {
        self.create_task_delivered(task, rows, jobs, None)
    }

    /// [`Store::create_task`], with the client's request that the result be delivered to a
    /// chain when the task is done, stored in the same transaction: a task the client was
    /// told of never loses its delivery.
    pub fn create_task_delivered(
        &self,
        task: &TaskRecord,
        rows: Option<&[(u64, u64)]>,
        jobs: &[NewJob],
        delivery: Option<&Delivery>,
    ) -> Result<(), StoreError> {
        let rows = rows.map(|r| enc(&r));
        let delivery = delivery.map(|to| {
            enc(&DeliveryRecord {
                to: *to,
                state: DeliveryState::Pending { attempts: 0 },
            })
        });
        let mut record = task.clone();
        record.spec = task.spec.for_storage();
        record.events = 0;
        record.verified = 0;
        record.fees = 0;
        let record = enc(&record);
        (
            &self.tasks,
            &self.jobs,
            &self.job_index,
            &self.inputs,
            &self.events,
            &self.live,
            &self.task_rows,
            &self.task_ages,
            &self.deliveries,
        )
            .transaction(
                |(tasks, jt, index, inputs, events, live, task_rows, ages, deliveries)| {
                    live.insert(task.id.as_bytes().as_slice(), &[][..])?;
                    ages.insert(&task_age_key(task.created_at, &task.id)[..], &[][..])?;
                    tasks.insert(task.id.as_bytes().as_slice(), record.as_slice())?;
                    if let Some(rows) = &rows {
                        task_rows.insert(task.id.as_bytes().as_slice(), rows.as_slice())?;
                    }
                    if let Some(delivery) = &delivery {
                        deliveries.insert(task.id.as_bytes().as_slice(), delivery.as_slice())?;
                    }
                    for job in jobs {
                        tx_put_job(jt, index, &job.record)?;
                        inputs.insert(&job_key(&job.record.id)[..], job.input.as_slice())?;
                    }
                    tx_event(
                        tasks,
                        events,
                        &task.id,
                        task.created_at,
                        TaskEventKind::Submitted { jobs: task.jobs },
                    )
                },
            )?;
        Ok(())
    }

    /// A task's whole spec: its record's, with a query's rows put back.
    pub fn task_spec(&self, id: &TaskId) -> Result<Option<TaskSpec>, StoreError> {
        let Some(record) = self.task(id)? else {
            return Ok(None);
        };
        let mut spec = record.spec;
        if let TaskSpec::Query { rows, .. } = &mut spec
            && let Some(kept) = get::<Vec<(u64, u64)>>(&self.task_rows, "task rows", id.as_bytes())?
        {
            *rows = kept;
        }
        Ok(Some(spec))
    }

    /// A task.
    pub fn task(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        get(&self.tasks, "task", id.as_bytes())
    }

    /// Every task, oldest id first.
    pub fn tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.tasks
            .iter()
            .values()
            .map(|v| dec("task", &v?))
            .collect()
    }

    /// Up to `limit` tasks, newest first (by creation time, then id), from just after
    /// `after` (a task's creation time and id, as the last page ended; none: the newest).
    /// Reads only the tasks it returns.
    pub fn tasks_newest_first(
        &self,
        after: Option<(UnixMillis, TaskId)>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let keys = match after {
            Some((at, id)) => self.task_ages.range(..task_age_key(at, &id).to_vec()),
            None => self.task_ages.iter(),
        };
        let mut out = Vec::new();
        for item in keys.rev() {
            if out.len() == limit {
                break;
            }
            let (key, _) = item?;
            // A task pruned since the index was read is skipped.
            if let Some(id) = key.get(8..24)
                && let Some(task) = get::<TaskRecord>(&self.tasks, "task", id)?
            {
                out.push(task);
            }
        }
        Ok(out)
    }

    /// Tasks that are neither done nor failed: what a restarted gateway resumes.
    pub fn unfinished_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let mut out = Vec::new();
        for key in self.live.iter().keys() {
            if let Some(task) = get::<TaskRecord>(&self.tasks, "task", &key?)? {
                out.push(task);
            }
        }
        Ok(out)
    }

    /// Marks a task done with its aggregated result.
    pub fn complete_task(
        &self,
        id: &TaskId,
        result: &[u8],
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        (
            &self.tasks,
            &self.results,
            &self.events,
            &self.live,
            &self.expiry,
        )
            .transaction(|(tasks, results, events, live, expiry)| {
                let Some(mut record) = tx_get::<TaskRecord>(tasks, "task", id.as_bytes())? else {
                    return abort(StoreError::UnknownTask(*id));
                };
                live.remove(id.as_bytes().as_slice())?;
                expiry.insert(&retention::task_expiry(id, at)[..], &[][..])?;
                record.status = TaskStatus::Done;
                tasks.insert(id.as_bytes().as_slice(), enc(&record))?;
                results.insert(id.as_bytes().as_slice(), result)?;
                tx_event(tasks, events, id, at, TaskEventKind::Completed)
            })?;
        Ok(())
    }

    /// Fails a task and cancels its unproven jobs.
    pub fn fail_task(&self, id: &TaskId, reason: &str, at: UnixMillis) -> Result<(), StoreError> {
        self.fail_task_keeping(id, reason, at, &std::collections::BTreeSet::new())
    }

    /// Fails a task and cancels its unproven jobs, except the assigned jobs in `keep`, which
    /// stay assigned (a proof under their assignment can still be paid) until
    /// [`Store::cancel_job`] or [`Store::credit_proof`].
    pub fn fail_task_keeping(
        &self,
        id: &TaskId,
        reason: &str,
        at: UnixMillis,
        keep: &std::collections::BTreeSet<JobId>,
    ) -> Result<(), StoreError> {
        let jobs = self.jobs_of(id)?;
        (
            &self.tasks,
            &self.jobs,
            &self.job_index,
            &self.events,
            &self.live,
            &self.expiry,
        )
            .transaction(|(tasks, jt, index, events, live, expiry)| {
                let Some(mut record) = tx_get::<TaskRecord>(tasks, "task", id.as_bytes())? else {
                    return abort(StoreError::UnknownTask(*id));
                };
                live.remove(id.as_bytes().as_slice())?;
                expiry.insert(&retention::task_expiry(id, at)[..], &[][..])?;
                record.status = TaskStatus::Failed {
                    reason: reason.to_string(),
                };
                tasks.insert(id.as_bytes().as_slice(), enc(&record))?;
                for job in &jobs {
                    let mut job = tx_job(jt, &job.id)?;
                    let kept =
                        keep.contains(&job.id) && matches!(job.state, JobState::Assigned { .. });
                    if !kept && !matches!(job.state, JobState::Verified { .. }) {
                        job.state = JobState::Cancelled;
                        tx_put_job(jt, index, &job)?;
                    }
                }
                tx_event(
                    tasks,
                    events,
                    id,
                    at,
                    TaskEventKind::Aborted {
                        reason: reason.to_string(),
                    },
                )
            })?;
        Ok(())
    }

    /// A task's aggregated result.
    pub fn result(&self, id: &TaskId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.results.get(id.as_bytes())?.map(|v| v.to_vec()))
    }

    /// A task's events from `from` on.
    pub fn events(&self, id: &TaskId, from: u64) -> Result<Vec<TaskEvent>, StoreError> {
        self.events
            .range(event_key(id, from)..=event_key(id, u64::MAX))
            .values()
            .map(|v| dec("event", &v?))
            .collect()
    }
}

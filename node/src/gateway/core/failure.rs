//! How tasks and jobs fail: a failed task keeps the assignments it still honours, a failed
//! job slashes its prover and goes back to auction, and a late task's failure names its cause.

use std::collections::BTreeSet;

use tracing::info;

use lagrange_protocol::{JobId, PublicKey, TaskId, UnixMillis};

use super::{FEE_CAP_TOO_LOW, GatewayCore, NO_ROOM_BEFORE_DEADLINE, Unplaced};
use crate::metrics::FailReason;
use crate::model::{JobRecord, JobState, TaskRecord};
use crate::store::StoreError;

impl GatewayCore {
    /// Why a task whose deadline passed with `unproven` jobs failed: priced out by its own
    /// fee cap only when every one of them drew no bid at or below the cap while a prover
    /// had room; otherwise the lack of room before the deadline, jobs still being proven,
    /// or a reserve still rising toward the cap, whichever applies, with counts.
    pub(super) fn failure_reason(&self, task: &TaskRecord, unproven: &[&JobRecord]) -> String {
        let cap = task.max_fee_per_job;
        let done = task.jobs as usize - unproven.len().min(task.jobs as usize);
        let passed = format!("deadline passed with {done} of {} jobs proven", task.jobs);
        let (mut capped, mut rising, mut no_room, mut bid_within, mut proving, mut other) =
            (0, 0, 0, 0, 0, 0);
        for job in unproven {
            match (&job.state, self.unplaced.get(&job.id)) {
                (JobState::Assigned { .. }, _) => proving += 1,
                (_, Some(Unplaced::Priced { reserve })) if *reserve >= cap => capped += 1,
                (_, Some(Unplaced::Priced { .. })) => rising += 1,
                (_, Some(Unplaced::NoRoom { bid_within: b })) => {
                    no_room += 1;
                    bid_within += usize::from(*b);
                }
                // Never offered: no prover had room for it while the deadline allowed.
                (JobState::Open, None) if job.auctions == 0 => no_room += 1,
                _ => other += 1,
            }
        }
        let n = unproven.len();
        if capped == n && n > 0 && !self.provers.is_empty() {
            return format!(
                "{FEE_CAP_TOO_LOW} of {cap} per job (max_fee_per_job): {passed}; a higher cap \
                 may find provers"
            );
        }
        let mut details = Vec::new();
        if no_room > 0 {
            let mut d = format!("{no_room} waited for a prover with room");
            if bid_within > 0 {
                d.push_str(&format!(
                    " ({bid_within} drew bids at or below the fee cap of {cap})"
                ));
            }
            details.push(d);
        }
        if proving > 0 {
            details.push(format!("{proving} still being proven"));
        }
        if capped > 0 {
            details.push(format!(
                "{capped} drew no bid at or below the fee cap of {cap}"
            ));
        }
        if rising > 0 {
            details.push(format!(
                "{rising} drew no bid within a reserve still rising toward the fee cap of {cap}"
            ));
        }
        if other > 0 {
            details.push(format!("{other} not placed"));
        }
        let details = details.join(", ");
        if no_room > 0 {
            format!("{NO_ROOM_BEFORE_DEADLINE}: {passed}; {details}; a later deadline may fit")
        } else if details.is_empty() {
            passed
        } else {
            format!("{passed}; {details}")
        }
    }

    /// Fails a task (once). Its assignments still running, or whose proof came in time and
    /// is being (or could not be) checked, are kept: a valid proof under them is still paid.
    /// `lost` is an assigned job that cannot be proven (its input is gone): it is cancelled.
    pub(super) fn fail_task(
        &mut self,
        task: &TaskId,
        reason: &str,
        now: UnixMillis,
        lost: Option<&JobId>,
    ) -> Result<(), StoreError> {
        if self.store.task(task)?.is_none_or(|t| t.status.is_final()) {
            return Ok(());
        }
        let mut kept = BTreeSet::new();
        for job in self.store.jobs_of(task)? {
            if let JobState::Assigned { deadline, .. } = job.state
                && Some(&job.id) != lost
                && (deadline >= now
                    || self.verifying.contains(&job.id)
                    || self.unchecked.contains(&job.id))
            {
                kept.insert(job.id);
            }
        }
        self.store.fail_task_keeping(task, reason, now, &kept)?;
        self.unchecked
            .retain(|j| j.task != *task || kept.contains(j));
        self.retries.remove(task);
        self.forget_jobs_of(task);
        if !kept.is_empty() {
            info!(task_id = %task, jobs = kept.len(), "task failed; its running assignments are honoured");
        }
        Ok(())
    }

    /// Forgets why a finished task's jobs went unawarded.
    pub(super) fn forget_jobs_of(&mut self, task: &TaskId) {
        let first = JobId::new(*task, 0);
        let last = JobId::new(*task, u32::MAX);
        let ids: Vec<JobId> = self.unplaced.range(first..=last).map(|(j, _)| *j).collect();
        for id in ids {
            self.unplaced.remove(&id);
        }
    }

    /// Slashes `prover` for failing `job` and reopens the job for auction.
    pub(super) fn fail_job(
        &self,
        job: &JobId,
        prover: &PublicKey,
        reason: FailReason,
        text: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let slash = self.supernet.economics.slash_amount;
        let cut = self.store.fail_job(job, prover, slash, text, now)?;
        self.metrics.job_failed(reason, cut);
        Ok(())
    }
}

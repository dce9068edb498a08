//! What happens as time passes: the heartbeat, proving and client deadlines that fall due,
//! stalls of the gateway taken as outages, and the pruning of what ended long ago.

use std::collections::BTreeSet;

use tracing::{debug, info, warn};

use lagrange_protocol::{BatchId, JobId, TaskId, UnixMillis};

use super::{
    AVAILABILITY_TTL_MS, GatewayCore, HEARTBEAT_MS, Output, PRUNE_PER_BEAT, RECOVERY_GRACE_MS,
    UNCHECKED_GRACE_MS,
};
use crate::gateway::deadlines::Due;
use crate::metrics::FailReason;
use crate::model::{JobRecord, JobState};
use crate::store::StoreError;

impl GatewayCore {
    /// Time passed: `arrived` is when the tick was queued (deadlines are judged by it, so a
    /// proof queued before it is always handled before its deadline is), `now` when it is
    /// handled.
    pub(super) fn tick(
        &mut self,
        arrived: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        if now >= self.last_beat.saturating_add(HEARTBEAT_MS) {
            self.beat(now)?;
            // Forget provers long gone, so the maps stay the size of the live network.
            let gone = now.saturating_sub(10 * AVAILABILITY_TTL_MS);
            self.heard.retain(|_, at| *at >= gone);
            let heard = &self.heard;
            self.provers.retain(|k, _| heard.contains_key(k));
            self.prune(now)?;
            // Failed aggregations whose backoff is over are tried again.
            let due: Vec<TaskId> = self
                .retries
                .iter()
                .filter(|(_, r)| r.at <= now)
                .map(|(t, _)| *t)
                .collect();
            for task in due {
                self.maybe_aggregate(&task, now, out)?;
            }
        }
        // Token epochs that are over: emissions into the budget, unbonding released.
        if let Some((epochs, ended)) = &mut self.tokens
            && epochs.due(*ended, now)
        {
            let emitted = epochs.catch_up(&self.store, now)?;
            *ended = self.store.tokens()?.map_or(*ended, |s| s.ledger.epoch());
            info!(epoch = *ended, emitted, "token epoch ended");
        }
        // Missed proving deadlines and client deadlines: only what is due is read.
        for due in self.deadlines.take_due(arrived) {
            match due {
                Due::Job(id) => self.job_due(&id, arrived, now, out)?,
                Due::Task(id) => self.task_due(&id, arrived, now, out)?,
            }
        }
        // Commit windows that are over: the closed set is signed and published before any
        // auction is decided.
        let closing: Vec<BatchId> = self
            .books
            .iter()
            .filter(|(id, b)| b.commits_are_closed(now) && !self.closed.contains(*id))
            .map(|(id, _)| *id)
            .collect();
        for id in closing {
            self.close_commits(&id, out)?;
        }
        // Auctions that are decided: every committer revealed, or the grace is over.
        let closed: Vec<BatchId> = self
            .books
            .iter()
            .filter(|(_, b)| b.can_close(now))
            .map(|(id, _)| *id)
            .collect();
        for id in closed {
            if let Some(book) = self.books.remove(&id) {
                self.closed.remove(&id);
                self.award(book, now, out)?;
            }
        }
        // A new batch.
        if now >= self.next_batch_at {
            self.next_batch_at = now + self.supernet.auction.batch_interval_ms;
            self.announce(now, out)?;
        }
        Ok(())
    }

    /// The gateway took no input from `since` to `now`, longer than it ever should (a stall
    /// or a suspension): like an outage, nobody could hand it a proof meanwhile, so every
    /// proving deadline still running at `since` moves later by the gap, to at least
    /// [`RECOVERY_GRACE_MS`] from now, and the winners are told their new deadlines.
    pub(super) fn stalled(
        &mut self,
        since: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let gap = now.saturating_sub(since);
        let extended =
            self.store
                .extend_deadlines(since, gap, now.saturating_add(RECOVERY_GRACE_MS))?;
        warn!(
            gap_ms = gap,
            jobs = extended.len(),
            "the gateway stalled; proving deadlines extended by the gap"
        );
        for job in &extended {
            if let JobState::Assigned { deadline, .. } = job.state {
                self.deadlines.add(deadline, Due::Job(job.id));
            }
            out.extend(self.assign(job));
        }
        Ok(())
    }

    /// Forgets finished tasks and auctions older than the retention period, a bounded number
    /// a heartbeat (a backlog, after retention is first turned on, goes over a few beats).
    fn prune(&mut self, now: UnixMillis) -> Result<(), StoreError> {
        if self.retention_ms == 0 {
            return Ok(());
        }
        let cutoff = now.saturating_sub(self.retention_ms);
        // An auction is kept at least as long as a job won in it can still be proven (its
        // result is published again on recovery while one is).
        let a = &self.supernet.auction;
        let longest = self
            .supernet
            .categories
            .iter()
            .map(|c| c.proving_deadline_ms)
            .max()
            .unwrap_or(0)
            .saturating_add(a.reveal_grace_ms)
            .saturating_add(HEARTBEAT_MS);
        let batch_cutoff = cutoff.min(now.saturating_sub(longest));
        let running: BTreeSet<BatchId> = self.books.keys().copied().collect();
        let pruned = self
            .store
            .prune(cutoff, batch_cutoff, &running, PRUNE_PER_BEAT)?;
        if pruned.tasks + pruned.batches > 0 {
            self.metrics.pruned(pruned.tasks, pruned.batches);
            debug!(
                tasks = pruned.tasks,
                batches = pruned.batches,
                "pruned what ended before the retention period"
            );
        }
        Ok(())
    }

    /// A job whose proving deadline was due: slashed, barred and reopened if it is still
    /// assigned and past its deadline. A proof that arrived in time but that the gateway is
    /// checking, or could not check, is not held against its prover; the job is looked at
    /// again a heartbeat later. Nobody is slashed for an assignment whose deadline was the
    /// task's own (the task is over, and fails now), nor for one of a task already finished:
    /// that job is cancelled.
    fn job_due(
        &mut self,
        id: &JobId,
        due_at: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let Some(job) = self.store.job(id)? else {
            return Ok(());
        };
        let JobState::Assigned {
            prover, deadline, ..
        } = job.state
        else {
            return Ok(());
        };
        if deadline >= due_at {
            self.deadlines.add(deadline, Due::Job(job.id));
            return Ok(());
        }
        let task = self.store.task(&id.task)?;
        // A proof that came in time and could not be checked may be submitted again; for a
        // task already over, only for a while.
        let waiting = self.verifying.contains(id)
            || (self.unchecked.contains(id)
                && (task.as_ref().is_some_and(|t| !t.status.is_final())
                    || now <= deadline.saturating_add(UNCHECKED_GRACE_MS)));
        if waiting {
            self.deadlines
                .add(now.saturating_add(HEARTBEAT_MS), Due::Job(job.id));
            return Ok(());
        }
        self.unchecked.remove(id);
        match task {
            Some(task) if !task.status.is_final() && task.deadline <= deadline => {
                // The assignment ended with its task: the task fails, the job with it.
                self.task_due(&task.id, due_at, now, out)?;
                if self.store.cancel_job(id)? {
                    out.push(Output::TaskChanged(id.task));
                }
            }
            Some(task) if !task.status.is_final() => {
                warn!(job_id = %job.id, peer = %prover, "proving deadline missed");
                self.fail_job(
                    &job.id,
                    &prover,
                    FailReason::Deadline,
                    "proving deadline missed",
                    now,
                )?;
                self.unplaced.remove(id);
                out.push(Output::TaskChanged(job.id.task));
            }
            _ => {
                // Its task failed while the assignment ran; no proof came: nobody needs it.
                info!(job_id = %job.id, peer = %prover, "assignment of a failed task ended unproven; cancelled");
                if self.store.cancel_job(id)? {
                    out.push(Output::TaskChanged(id.task));
                }
            }
        }
        Ok(())
    }

    /// A task whose client deadline was due: failed if it is still unfinished, with the
    /// cause named. One being aggregated (or waiting to be again), or whose last proofs are
    /// being checked, is looked at again a heartbeat later.
    fn task_due(
        &mut self,
        id: &TaskId,
        due_at: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let Some(task) = self.store.task(id)? else {
            return Ok(());
        };
        if task.status.is_final() {
            return Ok(());
        }
        if task.deadline >= due_at {
            self.deadlines.add(task.deadline, Due::Task(task.id));
            return Ok(());
        }
        let jobs = self.store.jobs_of(&task.id)?;
        let unproven: Vec<&JobRecord> = jobs
            .iter()
            .filter(|j| !matches!(j.state, JobState::Verified { .. }))
            .collect();
        // Every proof is in and the result is being made, or the last proofs came in time
        // and are being checked: the task is not late.
        if self.aggregating.contains(id)
            || self.retries.contains_key(id)
            || (!unproven.is_empty() && unproven.iter().all(|j| self.verifying.contains(&j.id)))
        {
            self.deadlines
                .add(now.saturating_add(HEARTBEAT_MS), Due::Task(task.id));
            return Ok(());
        }
        let reason = self.failure_reason(&task, &unproven);
        warn!(task_id = %task.id, %reason, "task failed");
        self.fail_task(&task.id, &reason, now, None)?;
        self.metrics
            .task_finished(false, now.saturating_sub(task.created_at) as f64 / 1000.0);
        out.push(Output::TaskChanged(task.id));
        Ok(())
    }
}

//! A task's last step: once all its proofs are verified, their aggregation is asked for, and
//! its result completes the task or, after failures retried with a backoff, fails it.

use tracing::{info, warn};

use lagrange_protocol::{TaskId, UnixMillis};

use super::{AGGREGATION_ATTEMPTS, AGGREGATION_BACKOFF_MS, AggregationRetry, GatewayCore, Output};
use crate::model::JobState;
use crate::store::StoreError;

impl GatewayCore {
    /// Asks for a task's aggregation once all its jobs are verified (and, after a failed
    /// aggregation, once its backoff is over).
    pub(super) fn maybe_aggregate(
        &mut self,
        task: &TaskId,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let Some(record) = self.store.task(task)? else {
            self.retries.remove(task);
            return Ok(());
        };
        if record.status.is_final()
            || self.aggregating.contains(task)
            || record.verified < record.jobs
            || self.retries.get(task).is_some_and(|r| r.at > now)
        {
            return Ok(());
        }
        let jobs = self.store.jobs_of(task)?;
        if !jobs
            .iter()
            .all(|j| matches!(j.state, JobState::Verified { .. }))
        {
            return Ok(());
        }
        let mut proofs = Vec::with_capacity(jobs.len());
        for job in jobs {
            let input = self.store.input(&job.id)?.unwrap_or_default();
            let Some(proof) = self.store.proof(&job.id)? else {
                return Ok(());
            };
            proofs.push((job, input, proof));
        }
        self.aggregating.insert(*task);
        // The aggregation needs the whole spec (a query's rows), read once, here.
        let mut record = record;
        if let Some(spec) = self.store.task_spec(task)? {
            record.spec = spec;
        }
        out.push(Output::Aggregate {
            task: record,
            proofs,
        });
        Ok(())
    }

    /// An aggregation came back: the task is done, or the aggregation is tried again after a
    /// backoff, up to [`AGGREGATION_ATTEMPTS`] in all, before the task fails.
    pub(super) fn on_aggregated(
        &mut self,
        task: TaskId,
        result: Result<Vec<u8>, String>,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        self.aggregating.remove(&task);
        let Some(record) = self.store.task(&task)? else {
            self.retries.remove(&task);
            return Ok(());
        };
        if record.status.is_final() {
            // Failed meanwhile (the gateway lost an input): a result no longer changes it.
            self.retries.remove(&task);
            return Ok(());
        }
        let secs = now.saturating_sub(record.created_at) as f64 / 1000.0;
        match result {
            Ok(bytes) => {
                self.retries.remove(&task);
                self.store.complete_task(&task, &bytes, now)?;
                self.forget_jobs_of(&task);
                self.metrics.task_finished(true, secs);
                info!(task_id = %task, "task complete");
            }
            Err(reason) => {
                let failures = self.retries.get(&task).map_or(0, |r| r.failures) + 1;
                if failures < AGGREGATION_ATTEMPTS {
                    let wait = AGGREGATION_BACKOFF_MS.saturating_mul(1 << (failures - 1).min(16));
                    warn!(task_id = %task, %reason, failures, retry_in_ms = wait, "aggregation failed; trying again");
                    self.retries.insert(
                        task,
                        AggregationRetry {
                            failures,
                            at: now.saturating_add(wait),
                        },
                    );
                    return Ok(());
                }
                self.retries.remove(&task);
                let reason = format!("aggregation failed {failures} times: {reason}");
                warn!(task_id = %task, %reason, "task failed");
                self.fail_task(&task, &reason, now, None)?;
                self.metrics.task_finished(false, secs);
            }
        }
        out.push(Output::TaskChanged(task));
        Ok(())
    }
}

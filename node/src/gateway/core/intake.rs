//! Where work enters the gateway: a client's task split into jobs and stored, and the
//! recovery that picks up the store's state after a restart.

use std::collections::BTreeSet;

use tracing::info;

use lagrange_protocol::messages::GossipMessage;
use lagrange_protocol::{Digest, JobId, Price, PublicKey, TaskId, UnixMillis};

use super::{GatewayCore, Output, RECOVERY_GRACE_MS, Submission, SubmitError};
use crate::gateway::deadlines::Due;
use crate::gateway::tokens::Epochs;
use crate::model::{Delivery, JobRecord, JobState, TaskRecord, TaskSpec, TaskStatus};
use crate::store::{NewJob, StoreError};

impl GatewayCore {
    /// Answers a submission: the task stored with its jobs, or why it was refused. The
    /// driver flushes the store before it tells the client the task id.
    pub(super) fn on_submit(
        &mut self,
        submission: Submission,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) {
        let Submission {
            ticket,
            spec,
            plans,
            max_fee_per_job,
            deadline,
            delivery,
        } = submission;
        let result = self.submit_split(spec, plans, max_fee_per_job, deadline, delivery, now);
        if let Ok(task) = &result {
            out.push(Output::TaskChanged(task.id));
        }
        out.push(Output::Submitted { ticket, result });
    }

    /// Stores a client task whose split (`plans`, the workload's answer for `spec`) was
    /// computed elsewhere: splitting may be long (circom witnesses computed and checked), and
    /// a driver does it off the core's thread.
    fn submit_split(
        &mut self,
        spec: TaskSpec,
        plans: Result<Vec<crate::workload::JobPlan>, SubmitError>,
        max_fee_per_job: Price,
        deadline: UnixMillis,
        delivery: Option<Delivery>,
        now: UnixMillis,
    ) -> Result<TaskRecord, SubmitError> {
        let now = self.clock(now);
        if delivery.is_some() && !matches!(spec, TaskSpec::Query { .. }) {
            return Err(SubmitError::Invalid(
                "only a query task's result is delivered to a chain".into(),
            ));
        }
        if max_fee_per_job == 0 {
            return Err(SubmitError::Invalid(
                "max_fee_per_job must be positive".into(),
            ));
        }
        if deadline <= now {
            return Err(SubmitError::Invalid(
                "the deadline has already passed".into(),
            ));
        }
        let plans = plans?;
        if plans.is_empty() {
            return Err(SubmitError::Invalid("the task has no work".into()));
        }
        if max_fee_per_job.checked_mul(plans.len() as u64).is_none() {
            return Err(SubmitError::Invalid(format!(
                "max_fee_per_job {max_fee_per_job} times {} jobs does not fit in 64 bits",
                plans.len()
            )));
        }
        let seq = self.store.next_task_seq()?;
        let id = task_id(&self.key.public(), seq, now);
        let mut jobs = Vec::with_capacity(plans.len());
        for (i, plan) in plans.into_iter().enumerate() {
            let terms = self
                .supernet
                .circuit(&plan.circuit)
                .and_then(|_| self.supernet.category(plan.category))
                .ok_or_else(|| {
                    SubmitError::Invalid(format!(
                        "circuit {} ({}) is not served by supernet {}",
                        plan.circuit, plan.category, self.supernet.id
                    ))
                })?;
            jobs.push(NewJob {
                record: JobRecord {
                    id: JobId::new(id, i as u32),
                    circuit: plan.circuit,
                    category: plan.category,
                    input_digest: Digest(*blake3::hash(&plan.input).as_bytes()),
                    input_size: plan.input.len() as u64,
                    reserve_price: terms.reserve_price.min(max_fee_per_job),
                    state: JobState::Open,
                    auctions: 0,
                    excluded: BTreeSet::new(),
                },
                input: plan.input,
            });
        }
        if let Some(to) = &delivery {
            info!(task_id = %id, contract = %crate::model::hex0x(&to.contract), "result to be delivered on chain");
        }
        let task = TaskRecord {
            id,
            supernet: self.supernet.id.clone(),
            spec: spec.for_storage(),
            max_fee_per_job,
            deadline,
            created_at: now,
            jobs: jobs.len() as u32,
            status: TaskStatus::Proving,
            events: 0,
            verified: 0,
            fees: 0,
        };
        self.store
            .create_task_delivered(&task, spec.rows_apart(), &jobs, delivery.as_ref())?;
        self.deadlines.add(task.deadline, Due::Task(task.id));
        self.metrics.task_submitted();
        info!(task_id = %id, jobs = task.jobs, "task stored");
        Ok(task)
    }

    /// Picks up after a restart at `now`: auctions that were running are lost with the
    /// process, so their jobs go into the next batch; assigned jobs keep their deadlines,
    /// moved later by the outage (the gateway could not take a proof while it was down);
    /// every winner is told of its assignment again, directly and by republishing its
    /// result; tasks whose jobs were all verified are aggregated.
    pub fn recover(&mut self, now: UnixMillis) -> Result<Vec<Output>, StoreError> {
        let reopened = self.store.reopen_interrupted_auctions()?;
        let since = self.store.last_beat()?.unwrap_or(now);
        let outage = now.saturating_sub(since);
        // The last beat is never earlier than a time the gateway signed (it beats whenever
        // it announces or awards): a clock set back while it was down moves nothing back.
        let now = self.clock(now.max(since));
        self.last_input = now;
        let extended =
            self.store
                .extend_deadlines(since, outage, now.saturating_add(RECOVERY_GRACE_MS))?;
        if !extended.is_empty() {
            info!(
                jobs = extended.len(),
                outage_ms = outage,
                "proving deadlines extended by the gateway's outage"
            );
        }
        self.beat(now)?;
        if let Some(epochs) = Epochs::start(&self.supernet, self.key.public(), &self.store, now)? {
            let ended = self.store.tokens()?.map_or(0, |s| s.ledger.epoch());
            self.tokens = Some((epochs, ended));
        }
        let unfinished = self.store.unfinished_tasks()?;
        info!(
            supernet = %self.supernet.id,
            tasks = unfinished.len(),
            reopened,
            "gateway resumed"
        );
        let mut out = Vec::new();
        let assigned = self.store.assigned_jobs()?;
        let mut results = BTreeSet::new();
        for job in &assigned {
            if let JobState::Assigned {
                batch, deadline, ..
            } = job.state
            {
                results.insert(batch);
                self.deadlines.add(deadline, Due::Job(job.id));
            }
            out.extend(self.assign(job));
        }
        for batch in results {
            if let Some(result) = self.store.batch(&batch)?.and_then(|b| b.result) {
                out.push(Output::Publish(GossipMessage::Result(result)));
            }
        }
        for task in unfinished {
            self.deadlines.add(task.deadline, Due::Task(task.id));
            self.maybe_aggregate(&task.id, now, &mut out)?;
        }
        Ok(out)
    }
}

fn task_id(gateway: &PublicKey, seq: u64, now: UnixMillis) -> TaskId {
    let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 task id");
    h.update(gateway.as_bytes());
    h.update(&seq.to_le_bytes());
    h.update(&now.to_le_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize().as_bytes()[..16]);
    TaskId(id)
}

//! Won jobs: taking an assignment (from the auction's result or the gateway directly),
//! retrying a fetch or submission while the gateway is unreachable, releasing a job once
//! it is settled, and the jobs held saved across a restart.

use libp2p::PeerId;
use tracing::{debug, info, warn};

use lagrange_protocol::messages::JobAssignment;
use lagrange_protocol::{BatchId, JobId, Signed, UnixMillis};

use serde::{Deserialize, Serialize};

use super::{Held, OUTAGE_ALLOWANCE_MS, Output, ProverCore, Stage};

/// Retries of a fetch whose deadline is not known yet, at most.
const MAX_BLIND_ATTEMPTS: u32 = 8;

/// Jobs remembered as finished, so a late copy of an assignment does not revive one.
const FINISHED_MEMORY: usize = 1024;

/// A job the prover holds, as saved across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldJob {
    /// The job.
    pub job: JobId,
    /// The gateway's peer id, as bytes.
    pub gateway: Vec<u8>,
    /// The batch it was won in.
    pub batch: BatchId,
    /// Its proving deadline on this prover's clock (`u64::MAX` until known).
    pub deadline: UnixMillis,
}

impl ProverCore {
    /// The jobs this prover holds, for saving across a restart.
    pub fn held_jobs(&self) -> Vec<HeldJob> {
        self.held
            .iter()
            .map(|(job, h)| HeldJob {
                job: *job,
                gateway: h.gateway.to_bytes(),
                batch: h.batch,
                deadline: h.deadline,
            })
            .collect()
    }

    /// Takes back jobs held before a restart: each one still within reach of its deadline
    /// is fetched again and proven (its assignment stands at the gateway); the others are
    /// released.
    pub fn resume(&mut self, jobs: Vec<HeldJob>, now: UnixMillis) -> Vec<Output> {
        let mut out = Vec::new();
        for held in jobs {
            let Ok(gateway) = PeerId::from_bytes(&held.gateway) else {
                continue;
            };
            if held.deadline.saturating_add(OUTAGE_ALLOWANCE_MS) < now {
                info!(job_id = %held.job, "releasing a job whose deadline passed while stopped");
                continue;
            }
            info!(job_id = %held.job, "resuming a job held before the restart");
            self.held.insert(
                held.job,
                Held {
                    gateway,
                    batch: held.batch,
                    deadline: held.deadline,
                    stage: Stage::Fetching,
                    attempts: 0,
                    retry_at: now,
                },
            );
            out.push(Output::FetchInput {
                gateway,
                job: held.job,
            });
        }
        out
    }

    /// Takes a job told of directly by a gateway (or in its answer to
    /// [`Output::AskAssignments`]): holds it if it is new, or moves its deadline if the
    /// gateway extended it. `Err` says why the assignment was not taken.
    pub(super) fn on_assignment(
        &mut self,
        gateway: PeerId,
        assignment: &Signed<JobAssignment>,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), String> {
        let a = &assignment.payload;
        if assignment.verify_for(&self.supernet.id).is_err()
            || assignment.signer.peer_id().ok() != Some(gateway)
            || !self.is_gateway(&gateway)
        {
            return Err("not signed by this supernet's gateway".into());
        }
        if a.prover != self.key.public() {
            return Err("assigned to another prover".into());
        }
        let deadline = self.local(&gateway, a.proving_deadline);
        if let Some(held) = self.held.get_mut(&a.job_id) {
            // The gateway's word on the deadline stands: after an outage it is later. It is
            // up now, so whatever was waiting to be retried goes at once.
            held.deadline = deadline;
            if held.attempts > 0 {
                held.retry_at = now;
            }
            return Ok(());
        }
        self.take(gateway, a.batch_id, a.job_id, deadline, now, out);
        Ok(())
    }

    /// Holds a won job and fetches its input, unless it is held or finished already.
    pub(super) fn take(
        &mut self,
        gateway: PeerId,
        batch: BatchId,
        job: JobId,
        deadline: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) {
        // A job finished here may come back in a later batch (re-auctioned after its bars
        // were lifted): only the same assignment is not taken twice.
        if self.held.contains_key(&job) || self.finished.contains(&(job, batch)) {
            return;
        }
        info!(job_id = %job, batch_id = %batch, "won job");
        self.metrics.win();
        self.held.insert(
            job,
            Held {
                gateway,
                batch,
                deadline,
                stage: Stage::Fetching,
                attempts: 0,
                retry_at: now,
            },
        );
        out.push(Output::FetchInput { gateway, job });
    }

    pub(super) fn release(&mut self, job: JobId) {
        if let Some(held) = self.held.remove(&job) {
            if self.finished.len() == FINISHED_MEMORY {
                self.finished.pop_front();
            }
            self.finished.push_back((job, held.batch));
        }
    }

    pub(super) fn retry_later(&mut self, job: JobId, now: UnixMillis, reason: &str) {
        let Some(held) = self.held.get_mut(&job) else {
            return;
        };
        held.attempts = held.attempts.saturating_add(1);
        let blind = held.deadline == UnixMillis::MAX && held.attempts > MAX_BLIND_ATTEMPTS;
        if blind || now > held.deadline.saturating_add(OUTAGE_ALLOWANCE_MS) {
            warn!(job_id = %job, %reason, "giving up on the job");
            self.release(job);
        } else {
            debug!(job_id = %job, %reason, attempts = held.attempts, "will retry");
            held.retry_at = now + 200 * u64::from(1u32 << held.attempts.min(4));
        }
    }
}

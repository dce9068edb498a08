//! Proofs from provers: a submission checked against its assignment and handed out to be
//! verified, then the verdict: a valid proof paid, an invalid one slashed, one the gateway
//! could not check left to be submitted again.

use tracing::{error, info, warn};

use lagrange_protocol::messages::{ProofOutcome, ProofSubmission, ProofVerdict, Response};
use lagrange_protocol::{JobId, PublicKey, Signed, UnixMillis};

use super::{GatewayCore, Output};
use crate::metrics::FailReason;
use crate::model::{JobRecord, JobState};
use crate::net::RequestToken;
use crate::store::{ProofRecord, StoreError};
use crate::workload::Check;

impl GatewayCore {
    /// A proof that `arrived` at the gateway: late only if it arrived after the deadline,
    /// however long it waited to be handled.
    pub(super) fn on_submission(
        &mut self,
        token: RequestToken,
        submission: Signed<ProofSubmission>,
        arrived: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let job_id = submission.payload.job_id;
        let prover = submission.signer;
        let Some(job) = self.store.job(&job_id)? else {
            out.push(self.verdict(token, job_id, prover, ProofOutcome::NotAssigned));
            return Ok(());
        };
        match job.state {
            JobState::Assigned {
                prover: p,
                deadline,
                ..
            } if p == prover => {
                // A proof the gateway could not check in time is not late when it comes back.
                if arrived > deadline && !self.unchecked.contains(&job_id) {
                    self.fail_job(
                        &job_id,
                        &prover,
                        FailReason::Late,
                        "proof arrived after the deadline",
                        now,
                    )?;
                    out.push(Output::TaskChanged(job_id.task));
                    out.push(self.verdict(token, job_id, prover, ProofOutcome::Late));
                } else if self.verifying.contains(&job_id) {
                    out.push(Output::Respond {
                        token,
                        response: Response::Refused {
                            reason: "a proof for this job is already being verified".into(),
                        },
                    });
                } else if let Some(input) = self.store.input(&job_id)? {
                    self.verifying.insert(job_id);
                    out.push(Output::Verify {
                        token,
                        job,
                        input,
                        submission,
                    });
                } else {
                    // The gateway lost what it would check the proof against: its fault, so
                    // the task fails and the prover keeps its stake.
                    let reason = format!("the gateway lost the input of job {job_id}");
                    error!(job_id = %job_id, "job input missing from the store; failing its task");
                    self.fail_task(&job_id.task, &reason, now, Some(&job_id))?;
                    out.push(Output::TaskChanged(job_id.task));
                    out.push(Output::Respond {
                        token,
                        response: Response::Refused { reason },
                    });
                }
            }
            _ => out.push(self.verdict(token, job_id, prover, ProofOutcome::NotAssigned)),
        }
        Ok(())
    }

    pub(super) fn on_verified(
        &mut self,
        token: RequestToken,
        submission: Signed<ProofSubmission>,
        outcome: Check,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let job_id = submission.payload.job_id;
        let prover = submission.signer;
        self.verifying.remove(&job_id);
        match outcome {
            Check::Valid => {
                let record = ProofRecord {
                    prover,
                    proof: submission.payload.proof.clone(),
                    public_inputs: submission.payload.public_inputs.clone(),
                };
                let assigned_at = match self.store.job(&job_id)? {
                    Some(JobRecord {
                        category,
                        state: JobState::Assigned { deadline, .. },
                        ..
                    }) => {
                        let window = self
                            .supernet
                            .category(category)
                            .map_or(0, |c| c.proving_deadline_ms);
                        Some((category, deadline.saturating_sub(window)))
                    }
                    _ => None,
                };
                match self.store.credit_proof(&job_id, &record, now) {
                    Ok(paid) => {
                        self.unchecked.remove(&job_id);
                        if let Some((category, at)) = assigned_at {
                            let secs = now.saturating_sub(at) as f64 / 1000.0;
                            self.metrics.proof_valid(category, paid, secs);
                        }
                        info!(job_id = %job_id, peer = %prover, paid, "proof verified, prover paid");
                        out.push(self.verdict(
                            token,
                            job_id,
                            prover,
                            ProofOutcome::Accepted { paid },
                        ));
                        out.push(Output::TaskChanged(job_id.task));
                        self.maybe_aggregate(&job_id.task, now, out)?;
                    }
                    Err(StoreError::NotAssigned { .. }) => {
                        out.push(self.verdict(token, job_id, prover, ProofOutcome::NotAssigned));
                    }
                    Err(e @ (StoreError::Overflow(_) | StoreError::Tokens(_))) => {
                        // The gateway cannot pay: its problem, not the prover's. The proof
                        // came in time, so the deadline is not held against it.
                        error!(job_id = %job_id, peer = %prover, error = %e, "cannot pay a valid proof");
                        self.unchecked.insert(job_id);
                        out.push(Output::Respond {
                            token,
                            response: Response::Refused {
                                reason: format!("the gateway cannot pay for this proof: {e}"),
                            },
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            Check::Invalid(reason) => {
                warn!(job_id = %job_id, peer = %prover, %reason, "invalid proof");
                self.metrics.proof_invalid();
                let text = format!("invalid proof: {reason}");
                match self.fail_job(&job_id, &prover, FailReason::Invalid, &text, now) {
                    Ok(()) | Err(StoreError::NotAssigned { .. }) => {}
                    Err(e) => return Err(e),
                }
                self.unchecked.remove(&job_id);
                out.push(Output::TaskChanged(job_id.task));
                out.push(self.verdict(token, job_id, prover, ProofOutcome::Rejected { reason }));
            }
            Check::Unchecked(reason) => {
                // Nobody's fault that can be shown: no penalty, and the deadline is not held
                // against a proof that came in time. The prover submits again.
                warn!(job_id = %job_id, peer = %prover, %reason, "could not check a proof; the prover may resubmit");
                self.unchecked.insert(job_id);
                out.push(Output::Respond {
                    token,
                    response: Response::Refused {
                        reason: format!(
                            "the gateway could not check this proof, submit again: {reason}"
                        ),
                    },
                });
            }
        }
        Ok(())
    }

    fn verdict(
        &self,
        token: RequestToken,
        job: JobId,
        prover: PublicKey,
        outcome: ProofOutcome,
    ) -> Output {
        Output::Respond {
            token,
            response: Response::Verdict(Signed::sign(
                ProofVerdict {
                    supernet: self.supernet.id.clone(),
                    job_id: job,
                    prover,
                    outcome,
                },
                &self.key,
            )),
        }
    }
}

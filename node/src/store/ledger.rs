//! Proofs and the prover ledger: paying a verified proof exactly once, cancelling or failing
//! an assigned job (with its slash), and the provers' accounts.

use serde::{Deserialize, Serialize};
use sled::Transactional;

use lagrange_protocol::{JobId, Price, PublicKey, UnixMillis};

use super::jobs::{tx_job, tx_put_job};
use super::schema::{abort, dec, enc, get, job_key, tx_get};
use super::tasks::tx_event;
use super::{Store, StoreError, tokens};
use crate::model::{Account, JobState, Penalty, TaskEventKind, TaskRecord};

/// A verified proof as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofRecord {
    /// Who proved it.
    pub prover: PublicKey,
    /// The compressed proof.
    pub proof: Vec<u8>,
    /// The compressed public inputs.
    pub public_inputs: Vec<u8>,
}

impl Store {
    /// Records a verified proof and pays its prover its price, exactly once: the job must be
    /// assigned to `prover`, and moves to [`JobState::Verified`] in the same transaction as
    /// the payment. Returns the amount paid.
    pub fn credit_proof(
        &self,
        job: &JobId,
        proof: &ProofRecord,
        at: UnixMillis,
    ) -> Result<Price, StoreError> {
        let price = (
            &self.jobs,
            &self.job_index,
            &self.proofs,
            &self.ledger,
            &self.tasks,
            &self.events,
            &self.tokens,
        )
            .transaction(|(jt, index, proofs, ledger, tasks, events, tokens)| {
                let mut rec = tx_job(jt, job)?;
                let JobState::Assigned { prover, price, .. } = rec.state else {
                    return abort(StoreError::NotAssigned {
                        job: *job,
                        prover: proof.prover,
                    });
                };
                if prover != proof.prover {
                    return abort(StoreError::NotAssigned {
                        job: *job,
                        prover: proof.prover,
                    });
                }
                rec.state = JobState::Verified { prover, price };
                tx_put_job(jt, index, &rec)?;
                proofs.insert(&job_key(job)[..], enc(proof))?;
                let mut account =
                    tx_get::<Account>(ledger, "account", prover.as_bytes())?.unwrap_or_default();
                if account.pay(price).is_none() {
                    return abort(StoreError::Overflow("the prover's balance"));
                }
                ledger.insert(prover.as_bytes().as_slice(), enc(&account))?;
                tokens::tx_pay(tokens, &self.token_rules, &job.task, &prover, price)?;
                let Some(mut task) = tx_get::<TaskRecord>(tasks, "task", job.task.as_bytes())?
                else {
                    return abort(StoreError::UnknownTask(job.task));
                };
                let Some(fees) = task.fees.checked_add(price) else {
                    return abort(StoreError::Overflow("the task's fees"));
                };
                task.verified += 1;
                task.fees = fees;
                tasks.insert(job.task.as_bytes().as_slice(), enc(&task))?;
                tx_event(
                    tasks,
                    events,
                    &job.task,
                    at,
                    TaskEventKind::Proven {
                        job: *job,
                        prover,
                        price,
                    },
                )?;
                Ok(price)
            })?;
        Ok(price)
    }

    /// Cancels an assigned job (one its failed task kept, whose assignment ended without a
    /// proof): no slash, no pay. Returns whether it was assigned.
    pub fn cancel_job(&self, job: &JobId) -> Result<bool, StoreError> {
        let cancelled = (&self.jobs, &self.job_index).transaction(|(jt, index)| {
            let mut rec = tx_job(jt, job)?;
            if !matches!(rec.state, JobState::Assigned { .. }) {
                return Ok(false);
            }
            rec.state = JobState::Cancelled;
            tx_put_job(jt, index, &rec)?;
            Ok(true)
        })?;
        Ok(cancelled)
    }

    /// A job's assigned prover failed it (invalid proof or missed deadline): slash it, pay
    /// nothing, bar it from the job, and reopen the job for the next batch. Returns the stake
    /// actually slashed (at most what the prover had left).
    pub fn fail_job(
        &self,
        job: &JobId,
        prover: &PublicKey,
        slash: u64,
        reason: &str,
        at: UnixMillis,
    ) -> Result<u64, StoreError> {
        (
            &self.jobs,
            &self.job_index,
            &self.ledger,
            &self.tasks,
            &self.events,
            &self.tokens,
        )
            .transaction(|(jt, index, ledger, tasks, events, tokens)| {
                let mut rec = tx_job(jt, job)?;
                match rec.state {
                    JobState::Assigned { prover: p, .. } if p == *prover => {}
                    _ => {
                        return abort(StoreError::NotAssigned {
                            job: *job,
                            prover: *prover,
                        });
                    }
                }
                rec.state = JobState::Open;
                rec.excluded.insert(*prover);
                tx_put_job(jt, index, &rec)?;
                let mut account =
                    tx_get::<Account>(ledger, "account", prover.as_bytes())?.unwrap_or_default();
                let cut = account.slash(slash, Penalty::Failure);
                ledger.insert(prover.as_bytes().as_slice(), enc(&account))?;
                tokens::tx_slash(tokens, &self.token_rules, prover, cut)?;
                tx_event(
                    tasks,
                    events,
                    &job.task,
                    at,
                    TaskEventKind::Failed {
                        job: *job,
                        prover: *prover,
                        reason: reason.to_string(),
                    },
                )?;
                Ok(cut)
            })
            .map_err(StoreError::from)
    }

    /// Gives `prover` an account with `stake` if it has none yet.
    pub fn ensure_account(&self, prover: &PublicKey, stake: u64) -> Result<(), StoreError> {
        let fresh = enc(&Account {
            stake,
            ..Account::default()
        });
        // Only inserts when absent; an existing account is never reset.
        let _ =
            self.ledger
                .compare_and_swap(prover.as_bytes(), None as Option<&[u8]>, Some(fresh))?;
        Ok(())
    }

    /// A prover's account.
    pub fn account(&self, prover: &PublicKey) -> Result<Option<Account>, StoreError> {
        get(&self.ledger, "account", prover.as_bytes())
    }

    /// Every account.
    pub fn accounts(&self) -> Result<Vec<(PublicKey, Account)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.ledger.iter() {
            let (k, v) = kv?;
            let key: [u8; 32] = k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                what: "ledger key",
                reason: "not 32 bytes".into(),
            })?;
            out.push((PublicKey(key), dec("account", &v)?));
        }
        Ok(out)
    }
}

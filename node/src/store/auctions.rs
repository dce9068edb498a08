//! Batches and their auctions: announcing a batch, the commits and reveals it takes, its
//! closed commit set and transcript, and recording its award (every job's new state and the
//! non-reveal penalties) in one transaction.

use serde::{Deserialize, Serialize};
use sled::Transactional;

use lagrange_protocol::auction::Eligibility;
use lagrange_protocol::messages::{
    AuctionResult, AuctionTranscript, BatchAnnouncement, BidCommit, BidReveal, CommitsClosed,
};
use lagrange_protocol::{BatchId, JobId, Price, PublicKey, Signed, TaskId, UnixMillis};

use super::jobs::{tx_job, tx_put_job};
use super::schema::{COMMIT, REVEAL, abort, bid_key, dec, enc, get, tx_get};
use super::tasks::tx_event;
use super::{Store, StoreError, retention, tokens};
use crate::model::{Account, JobState, Penalty, TaskEventKind};

/// A batch and, once awarded, its result and the eligibility it was computed against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// The signed announcement.
    pub batch: Signed<BatchAnnouncement>,
    /// The signed result, once awarded.
    pub result: Option<Signed<AuctionResult>>,
    /// The eligibility snapshot of the award.
    pub eligibility: Option<Eligibility>,
    /// The signed closed commit set, once the commit window is over.
    pub closed: Option<Signed<CommitsClosed>>,
}

/// What an award does to one job.
#[derive(Debug, Clone)]
pub enum AwardOutcome {
    /// Won: assign it.
    Assigned {
        /// The job.
        job: JobId,
        /// The winner.
        prover: PublicKey,
        /// Its bid.
        price: Price,
        /// Deadline for the proof.
        deadline: UnixMillis,
    },
    /// Not won: reopen it at a new reserve price.
    Unawarded {
        /// The job.
        job: JobId,
        /// Reserve price for the next batch.
        next_reserve: Price,
        /// Clear the provers barred from it (every prover able to take it is barred).
        lift_bars: bool,
    },
}

impl Store {
    /// Records an announced batch and moves its jobs to auction, with an `Offered` event each.
    pub fn offer_batch(
        &self,
        batch: &Signed<BatchAnnouncement>,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        let record = BatchRecord {
            batch: batch.clone(),
            result: None,
            eligibility: None,
            closed: None,
        };
        (
            &self.batches,
            &self.jobs,
            &self.job_index,
            &self.tasks,
            &self.events,
            &self.expiry,
        )
            .transaction(|(batches, jt, index, tasks, events, expiry)| {
                batches.insert(batch.payload.batch_id.as_bytes().as_slice(), enc(&record))?;
                let b = &batch.payload;
                expiry.insert(
                    &retention::batch_expiry(&b.batch_id, b.reveal_deadline)[..],
                    &[][..],
                )?;
                for spec in &batch.payload.jobs {
                    let mut job = tx_job(jt, &spec.job_id)?;
                    job.state = JobState::Auctioning {
                        batch: batch.payload.batch_id,
                    };
                    job.auctions = job.auctions.saturating_add(1);
                    tx_put_job(jt, index, &job)?;
                    // The job's history records that it went on the market, not every
                    // round it waits there: re-offers at the same reserve are not events.
                    if job.auctions > 1 {
                        continue;
                    }
                    tx_event(
                        tasks,
                        events,
                        &spec.job_id.task,
                        at,
                        TaskEventKind::Offered {
                            job: spec.job_id,
                            batch: batch.payload.batch_id,
                            reserve_price: spec.reserve_price,
                        },
                    )?;
                }
                Ok(())
            })?;
        Ok(())
    }

    /// Reopens jobs whose auction was running when the gateway stopped: the in-memory bid
    /// book is gone, so they go into the next batch. Returns how many.
    pub fn reopen_interrupted_auctions(&self) -> Result<usize, StoreError> {
        let mut reopened = 0;
        for task in self.unfinished_tasks()? {
            for mut job in self.jobs_of(&task.id)? {
                if matches!(job.state, JobState::Auctioning { .. }) {
                    job.state = JobState::Open;
                    (&self.jobs, &self.job_index)
                        .transaction(|(jt, index)| tx_put_job(jt, index, &job))?;
                    reopened += 1;
                }
            }
        }
        Ok(reopened)
    }

    /// A batch.
    pub fn batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, StoreError> {
        get(&self.batches, "batch", id.as_bytes())
    }

    /// Records a batch's signed closed commit set.
    pub fn close_commits(&self, closed: &Signed<CommitsClosed>) -> Result<(), StoreError> {
        let id = closed.payload.batch_id;
        let Some(mut record) = self.batch(&id)? else {
            return Err(StoreError::Corrupt {
                what: "batch",
                reason: format!("closed set for unknown batch {id}"),
            });
        };
        record.closed = Some(closed.clone());
        self.batches.insert(id.as_bytes(), enc(&record))?;
        Ok(())
    }

    /// An awarded batch's transcript: everything the award used, as signed. `None` until
    /// the batch is awarded (or for an unknown batch).
    pub fn transcript(&self, id: &BatchId) -> Result<Option<AuctionTranscript>, StoreError> {
        let Some(record) = self.batch(id)? else {
            return Ok(None);
        };
        let (Some(closed), Some(eligibility), Some(result)) =
            (record.closed, record.eligibility, record.result)
        else {
            return Ok(None);
        };
        let (commits, reveals) = self.bids(id)?;
        Ok(Some(AuctionTranscript {
            batch: record.batch,
            closed,
            commits,
            reveals,
            eligibility,
            result,
        }))
    }

    /// Stores an accepted commit.
    pub fn put_commit(&self, c: &Signed<BidCommit>) -> Result<(), StoreError> {
        self.bids
            .insert(bid_key(&c.payload.batch_id, COMMIT, &c.signer), enc(c))?;
        Ok(())
    }

    /// Forgets the commit of `prover` in `batch` (a full batch's commit outranked by
    /// another).
    pub fn remove_commit(&self, batch: &BatchId, prover: &PublicKey) -> Result<(), StoreError> {
        self.bids.remove(bid_key(batch, COMMIT, prover))?;
        Ok(())
    }

    /// Stores an accepted reveal.
    pub fn put_reveal(&self, r: &Signed<BidReveal>) -> Result<(), StoreError> {
        self.bids
            .insert(bid_key(&r.payload.batch_id, REVEAL, &r.signer), enc(r))?;
        Ok(())
    }

    /// The accepted commits and reveals of a batch.
    #[allow(clippy::type_complexity)]
    pub fn bids(
        &self,
        batch: &BatchId,
    ) -> Result<(Vec<Signed<BidCommit>>, Vec<Signed<BidReveal>>), StoreError> {
        let mut commits = Vec::new();
        let mut reveals = Vec::new();
        for kv in self.bids.scan_prefix(batch.as_bytes()) {
            let (k, v) = kv?;
            match k.get(16) {
                Some(&COMMIT) => commits.push(dec("commit", &v)?),
                Some(&REVEAL) => reveals.push(dec("reveal", &v)?),
                _ => {}
            }
        }
        Ok((commits, reveals))
    }

    /// Records an award: the signed result and eligibility, every job's new state, and the
    /// non-reveal penalties, in one transaction.
    ///
    /// Only jobs still in this batch's auction move: a job cancelled while its auction ran
    /// stays cancelled. A task's history gets an `AuctionClosed` event only when one of its
    /// jobs changed (won, or back on the market at a new reserve or without its bars), so a
    /// job waiting for a free prover writes nothing round after round.
    pub fn record_award(
        &self,
        result: &Signed<AuctionResult>,
        eligibility: &Eligibility,
        outcomes: &[AwardOutcome],
        non_reveal_penalty: u64,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        let batch_id = result.payload.batch_id;
        let (commits, reveals) = self.bids(&batch_id)?;
        let closed = TaskEventKind::AuctionClosed {
            batch: batch_id,
            commits: commits.len() as u32,
            reveals: reveals.len() as u32,
            non_revealers: result.payload.award.non_revealers.len() as u32,
        };
        (
            &self.batches,
            &self.jobs,
            &self.job_index,
            &self.tasks,
            &self.events,
            &self.ledger,
            &self.tokens,
        )
            .transaction(|(batches, jt, index, tasks, events, ledger, tokens)| {
                let Some(mut record) =
                    tx_get::<BatchRecord>(batches, "batch", batch_id.as_bytes())?
                else {
                    return abort(StoreError::Corrupt {
                        what: "batch",
                        reason: format!("award for unknown batch {batch_id}"),
                    });
                };
                record.result = Some(result.clone());
                record.eligibility = Some(eligibility.clone());
                batches.insert(batch_id.as_bytes().as_slice(), enc(&record))?;
                // Decide every job's new record first, then write in event order.
                let mut moves = Vec::new();
                for outcome in outcomes {
                    let job = match outcome {
                        AwardOutcome::Assigned { job, .. }
                        | AwardOutcome::Unawarded { job, .. } => job,
                    };
                    let mut rec = tx_job(jt, job)?;
                    if rec.state != (JobState::Auctioning { batch: batch_id }) {
                        continue;
                    }
                    let event = match outcome {
                        AwardOutcome::Assigned {
                            job,
                            prover,
                            price,
                            deadline,
                        } => {
                            rec.state = JobState::Assigned {
                                batch: batch_id,
                                prover: *prover,
                                price: *price,
                                deadline: *deadline,
                            };
                            Some(TaskEventKind::Awarded {
                                job: *job,
                                prover: *prover,
                                price: *price,
                            })
                        }
                        AwardOutcome::Unawarded {
                            job,
                            next_reserve,
                            lift_bars,
                        } => {
                            let changed = rec.reserve_price != *next_reserve
                                || (*lift_bars && !rec.excluded.is_empty());
                            rec.state = JobState::Open;
                            rec.reserve_price = *next_reserve;
                            if *lift_bars {
                                rec.excluded.clear();
                            }
                            changed.then_some(TaskEventKind::Unawarded { job: *job })
                        }
                    };
                    moves.push((rec, event));
                }
                let touched: std::collections::BTreeSet<TaskId> = moves
                    .iter()
                    .filter(|(_, event)| event.is_some())
                    .map(|(rec, _)| rec.id.task)
                    .collect();
                for task in &touched {
                    tx_event(tasks, events, task, at, closed.clone())?;
                }
                for (rec, event) in moves {
                    tx_put_job(jt, index, &rec)?;
                    if let Some(event) = event {
                        tx_event(tasks, events, &rec.id.task, at, event)?;
                    }
                }
                for prover in &result.payload.award.non_revealers {
                    let mut account = tx_get::<Account>(ledger, "account", prover.as_bytes())?
                        .unwrap_or_default();
                    let penalty = account.slash(non_reveal_penalty, Penalty::NonReveal);
                    ledger.insert(prover.as_bytes().as_slice(), enc(&account))?;
                    tokens::tx_slash(tokens, &self.token_rules, prover, penalty)?;
                }
                Ok(())
            })?;
        Ok(())
    }
}

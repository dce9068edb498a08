//! What peers say to the gateway: gossip (bids, provers' announcements) and requests (bids
//! sent directly, job inputs, proofs, catch-up), and the store-only requests that a [`Reader`]
//! answers off the core's thread, with the signed assignments they hand out.

use libp2p::PeerId;
use tracing::{debug, error};

use lagrange_protocol::messages::MAX_ASSIGNMENTS;
use lagrange_protocol::messages::{
    BidKind, BidReceipt, GossipMessage, JobAssignment, Request, Response,
};
use lagrange_protocol::{BatchId, JobId, Keypair, PublicKey, Signed, SignedPayload, UnixMillis};

use super::{GatewayCore, Output, Reader};
use crate::model::{JobRecord, JobState};
use crate::net::RequestToken;
use crate::store::StoreError;

impl GatewayCore {
    pub(super) fn on_gossip(
        &mut self,
        message: GossipMessage,
        arrived: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        match message {
            bid @ (GossipMessage::Commit(_) | GossipMessage::Reveal(_)) => {
                if let Err(reason) = self.accept_bid(bid, arrived, out)? {
                    debug!(%reason, "bid refused");
                }
            }
            GossipMessage::Availability(a) => {
                // A key with neither an account nor a recorded stake has no place in the
                // auction: its announcement is not kept (nor is an account opened for it).
                let initial = a
                    .signer
                    .peer_id()
                    .map_or(0, |peer| self.supernet.initial_stake(&peer));
                if initial == 0 && self.store.account(&a.signer)?.is_none() {
                    return Ok(());
                }
                let newer = self
                    .provers
                    .get(&a.signer)
                    .is_none_or(|old| old.payload.announced_at < a.payload.announced_at);
                // Liveness is judged on the gateway's clock: any signed announcement counts,
                // even one whose (prover-chosen) time went backwards.
                self.heard.insert(a.signer, now);
                if newer {
                    self.store.ensure_account(&a.signer, initial)?;
                    self.provers.insert(a.signer, a);
                }
            }
            // Other gateways' batches, closed sets and results are for provers and auditors.
            GossipMessage::Batch(_)
            | GossipMessage::Result(_)
            | GossipMessage::CommitsClosed(_) => {}
        }
        Ok(())
    }

    pub(super) fn on_request(
        &mut self,
        peer: PeerId,
        token: RequestToken,
        request: Request,
        arrived: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let refuse = |reason: String| Output::Respond {
            token,
            response: Response::Refused { reason },
        };
        let signed_by_peer = |signer: &PublicKey| signer.peer_id().is_ok_and(|p| p == peer);
        match request {
            Request::Commit(_) | Request::Reveal(_) => {
                // The signature itself is checked once, strictly, as the book takes the bid.
                let (receipt, bid) = match request {
                    Request::Commit(c) => (
                        receipt(&c, c.payload.batch_id, BidKind::Commit),
                        GossipMessage::Commit(c),
                    ),
                    Request::Reveal(r) => (
                        receipt(&r, r.payload.batch_id, BidKind::Reveal),
                        GossipMessage::Reveal(r),
                    ),
                    _ => return Ok(()),
                };
                let verdict = if !signed_by_peer(&receipt.bidder) {
                    Err("bid not signed by its sender".to_string())
                } else {
                    self.accept_bid(bid, arrived, out)?
                };
                // A commit's receipt proves the weight its slot is ranked with.
                let mut receipt = receipt;
                if receipt.kind == BidKind::Commit {
                    receipt.weight = self
                        .books
                        .get(&receipt.batch_id)
                        .and_then(|book| book.slot_weight(&receipt.bidder));
                }
                // An accepted bid gets a signed receipt: evidence, should the award ignore it.
                out.push(match verdict {
                    Ok(()) => Output::Respond {
                        token,
                        response: Response::Receipt(Signed::sign(receipt, &self.key)),
                    },
                    Err(reason) => refuse(reason),
                });
            }
            Request::Transcript { .. } | Request::Assignments { .. } => {
                // A driver serves these itself (see [`Reader`]); a caller that hands them to
                // the core gets the same answer.
                if let Some(response) = self.reader().answer(peer, &request)? {
                    out.push(Output::Respond { token, response });
                }
            }
            Request::JobInput { job_id, .. } => {
                let answer = self.job_input(peer, token, job_id, now, out)?;
                out.push(answer);
            }
            Request::SubmitProof(submission) => {
                if !signed_by_peer(&submission.signer) || submission.verify().is_err() {
                    out.push(refuse("submission not signed by its sender".into()));
                    return Ok(());
                }
                self.on_submission(token, submission, arrived, now, out)?;
            }
            Request::CatchUp { .. } => {
                // The gateway re-signs nothing: it serves its own signed announcements.
                let batches = self
                    .books
                    .keys()
                    .filter_map(|id| self.store.batch(id).ok().flatten())
                    .map(|b| b.batch)
                    .collect();
                out.push(Output::Respond {
                    token,
                    response: Response::CatchUp { batches },
                });
            }
            Request::Assign(_) => out.push(refuse("a gateway is not assigned jobs".into())),
        }
        Ok(())
    }

    fn job_input(
        &mut self,
        peer: PeerId,
        token: RequestToken,
        job_id: JobId,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<Output, StoreError> {
        let refuse = |reason: &str| Output::Respond {
            token,
            response: Response::Refused {
                reason: reason.into(),
            },
        };
        let Some(job) = self.store.job(&job_id)? else {
            return Ok(refuse("unknown job"));
        };
        let JobState::Assigned { prover, .. } = job.state else {
            return Ok(refuse("job is not assigned"));
        };
        if prover.peer_id().ok() != Some(peer) {
            return Ok(refuse("job is assigned to another prover"));
        }
        let Some(input) = self.store.input(&job_id)? else {
            // The gateway lost it: its fault, so the task fails and the prover is free.
            let reason = format!("the gateway lost the input of job {job_id}");
            error!(job_id = %job_id, "job input missing from the store; failing its task");
            self.fail_task(&job_id.task, &reason, now, Some(&job_id))?;
            out.push(Output::TaskChanged(job_id.task));
            return Ok(refuse(&reason));
        };
        let Some(assignment) = self.assignment(&job) else {
            return Ok(refuse("job is not assigned"));
        };
        Ok(Output::Respond {
            token,
            response: Response::JobInput { assignment, input },
        })
    }

    /// The signed assignment of an assigned job.
    fn assignment(&self, job: &JobRecord) -> Option<Signed<JobAssignment>> {
        sign_assignment(&self.supernet.id, &self.key, job)
    }

    /// Tells an assigned job's prover of it directly.
    pub(super) fn assign(&self, job: &JobRecord) -> Option<Output> {
        let assignment = self.assignment(job)?;
        let prover = assignment.payload.prover.peer_id().ok()?;
        Some(Output::Assign { prover, assignment })
    }

    /// What answers the requests that only read the store, away from the core's thread.
    pub fn reader(&self) -> Reader {
        Reader {
            supernet: self.supernet.id.clone(),
            key: self.key.clone(),
            store: self.store.clone(),
        }
    }
}

impl Reader {
    /// Whether `request` is one this answers.
    pub fn serves(request: &Request) -> bool {
        matches!(
            request,
            Request::Transcript { .. } | Request::Assignments { .. }
        )
    }

    /// The answer to `request` from `peer` (the transport's authenticated sender), or none
    /// if it is not one this answers.
    pub fn answer(&self, peer: PeerId, request: &Request) -> Result<Option<Response>, StoreError> {
        Ok(Some(match request {
            Request::Transcript { batch_id, .. } => match self.store.transcript(batch_id)? {
                Some(t) => Response::Transcript(Box::new(t)),
                None => Response::Refused {
                    reason: format!(
                        "no transcript for batch {batch_id} (not awarded, or past the retention period)"
                    ),
                },
            },
            Request::Assignments { .. } => {
                let mut assignments = Vec::new();
                // The asker's key, read from its peer id (no curve arithmetic per job).
                let asker = PublicKey::from_peer_id(&peer).ok();
                for job in self.store.assigned_jobs()? {
                    let mine = matches!(job.state, JobState::Assigned { prover, .. }
                        if Some(prover) == asker);
                    if mine && let Some(a) = sign_assignment(&self.supernet, &self.key, &job) {
                        assignments.push(a);
                        if assignments.len() == MAX_ASSIGNMENTS {
                            break;
                        }
                    }
                }
                Response::Assignments { assignments }
            }
            _ => return Ok(None),
        }))
    }
}

/// The signed assignment of an assigned job.
fn sign_assignment(
    supernet: &lagrange_protocol::SupernetId,
    key: &Keypair,
    job: &JobRecord,
) -> Option<Signed<JobAssignment>> {
    let JobState::Assigned {
        batch,
        prover,
        price,
        deadline,
    } = job.state
    else {
        return None;
    };
    Some(Signed::sign(
        JobAssignment {
            supernet: supernet.clone(),
            batch_id: batch,
            job_id: job.id,
            circuit: job.circuit.clone(),
            prover,
            price,
            input_digest: job.input_digest,
            proving_deadline: deadline,
        },
        key,
    ))
}

/// The receipt for a bid of batch `batch_id`: who signed it, its digest.
fn receipt<T: SignedPayload>(bid: &Signed<T>, batch_id: BatchId, kind: BidKind) -> BidReceipt {
    BidReceipt {
        supernet: bid.payload.supernet().clone(),
        batch_id,
        kind,
        bidder: bid.signer,
        bid: bid.digest(),
        weight: None,
    }
}

//! The prover as a state machine: it announces itself, bids on batches from its cost model
//! within its free capacity, reveals once commits have closed, fetches the inputs of jobs it
//! wins, proves them off the runtime and submits the proofs, retrying while the gateway is
//! unreachable and the deadline allows.
//!
//! It never trusts its own clock to agree with the gateway's: every time the gateway names
//! (commit and reveal deadlines, proving deadlines) is turned into local time by the offset
//! observed on the gateway's announcements ([`crate::clock::Offset`]). Bids go to the
//! gateway directly as well as over gossip, and a reveal the gateway refuses or never
//! acknowledges is sent again until the auction closes. It learns of its wins from the
//! gateway's result, from the gateway telling it directly, and by asking when a result is
//! overdue or the gateway (re)connects; it only takes a result for a batch it bid in and has
//! not settled, so replayed gossip cannot make it hold finished jobs.
//!
//! A sealed bid outlives a crash: the record needed to reveal it ([`SealedBid`]) is handed
//! to the driver to save durably ([`Output::SaveBid`]) before the commit goes out, and a
//! prover started again over the same store takes the open ones back
//! ([`ProverCore::resume_bids`]) and reveals them, so a restart between commit and reveal
//! does not make it a non-revealer. Once the auction is settled the record is forgotten
//! ([`Output::ForgetBid`]).
//!
//! It audits every auction it bid in: once the result is out it fetches the transcript
//! from the gateway and hands it, with the gateway's receipts for its bids, its bids and
//! its recent availability announcements, to [`lagrange_protocol::audit::audit`]
//! ([`Output::Audit`]); the driver keeps the evidence of a deviation on disk.
//!
//! The state machine is one type, [`ProverCore`], whose methods are spread by topic: this
//! file holds its inputs and outputs, its state, and the dispatch of an input
//! ([`ProverCore::handle`]); `bidding` prices, seals, commits and reveals bids; `jobs`
//! takes, retries and releases won jobs; `tick` is what the passing of time does (announcing,
//! revealing, retrying); `audit` hands a settled auction to the audit.

mod audit;
mod bidding;
mod jobs;
mod tick;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use libp2p::PeerId;
use tracing::{info, warn};

use lagrange_protocol::audit::Evidence;
use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::messages::{
    AuctionTranscript, BidCommit, BidReceipt, BidReveal, GossipMessage, JobAssignment,
    ProofOutcome, ProofSubmission, ProverAvailability, Request, Response,
};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, Price, Signed, UnixMillis,
};

use crate::clock::Offset;
use crate::metrics::ProverMetrics;
use crate::net::RequestToken;
use crate::workload::ProofBytes;

pub use bidding::{CostModel, ProverSettings, SealedBid};
pub use jobs::HeldJob;

/// Something the prover reacts to.
#[derive(Debug)]
pub enum Input {
    /// Time passed.
    Tick,
    /// A validated gossip message.
    Gossip {
        /// Its author.
        source: PeerId,
        /// The message.
        message: GossipMessage,
    },
    /// A peer of the Supernet connected (a gateway coming back is asked for assignments).
    Connected(PeerId),
    /// The prover's parameters are loaded and its proving times measured: from now on it
    /// announces itself and bids with `cost`. Until then (a core made with no proving times)
    /// it neither announces nor bids, but it reveals the sealed bids it saved before a
    /// restart and takes back the jobs it held.
    Ready(CostModel),
    /// A request from a peer: a gateway telling of an assignment (`Request::Assign`), or
    /// anything else, which a prover refuses. Answered by [`Output::Respond`].
    Request {
        /// The peer, authenticated by the transport.
        peer: PeerId,
        /// The token to answer with.
        token: RequestToken,
        /// The request.
        request: Request,
    },
    /// A gateway's signed assignments: told directly, or in answer to
    /// [`Output::AskAssignments`].
    Assignments {
        /// The gateway that sent them (authenticated by the transport).
        gateway: PeerId,
        /// The assignments.
        assignments: Vec<Signed<JobAssignment>>,
    },
    /// What became of a bid sent directly.
    BidAnswered {
        /// The batch.
        batch: BatchId,
        /// A reveal (or else a commit).
        reveal: bool,
        /// The gateway's answer, or that none came.
        result: BidAnswer,
    },
    /// The gateway answered a job input request.
    JobInput {
        /// The signed assignment.
        assignment: Signed<JobAssignment>,
        /// The input.
        input: Vec<u8>,
    },
    /// Fetching a job's input failed.
    JobInputFailed {
        /// The job.
        job: JobId,
        /// Why.
        reason: String,
        /// The gateway answered, and said no (rather than being unreachable).
        refused: bool,
    },
    /// A proof finished (or failed).
    Proved {
        /// The job.
        job: JobId,
        /// The proof, or why proving failed.
        result: Result<ProofBytes, String>,
    },
    /// The gateway answered a transcript request ([`Output::FetchTranscript`]).
    Transcript {
        /// The batch.
        batch: BatchId,
        /// The transcript, or why there is none.
        result: Result<Box<AuctionTranscript>, String>,
    },
    /// The gateway answered a submission.
    Verdict {
        /// The job.
        job: JobId,
        /// The decision.
        outcome: ProofOutcome,
    },
    /// A submission could not reach the gateway, or it could not take it yet.
    SubmitFailed {
        /// The job.
        job: JobId,
        /// Why.
        reason: String,
    },
}

/// Something the driver must do, in order.
#[derive(Debug)]
pub enum Output {
    /// Answer a peer's request.
    Respond {
        /// The request.
        token: RequestToken,
        /// The answer.
        response: Response,
    },
    /// Save a sealed bid durably (flushed to disk) before doing anything that follows it:
    /// the commit that follows must be revealable after a crash.
    SaveBid(Box<SealedBid>),
    /// Forget a saved sealed bid: its auction is settled, or it was never taken.
    ForgetBid(BatchId),
    /// Publish on gossip.
    Publish(GossipMessage),
    /// Send a commit straight to `gateway`, then feed back [`Input::BidAnswered`].
    SendCommit {
        /// The gateway.
        gateway: PeerId,
        /// The commit.
        commit: Signed<BidCommit>,
    },
    /// Send a reveal straight to `gateway`, then feed back [`Input::BidAnswered`].
    SendReveal {
        /// The gateway.
        gateway: PeerId,
        /// The reveal.
        reveal: Signed<BidReveal>,
    },
    /// Ask `gateway` for every job assigned to this prover, then feed back
    /// [`Input::Assignments`].
    AskAssignments {
        /// The gateway.
        gateway: PeerId,
    },
    /// Ask `gateway` for a job's input.
    FetchInput {
        /// The gateway.
        gateway: PeerId,
        /// The job.
        job: JobId,
    },
    /// Prove off the runtime, then feed back [`Input::Proved`].
    Prove {
        /// The job.
        job: JobId,
        /// Its circuit.
        circuit: CircuitId,
        /// Its input.
        input: Vec<u8>,
    },
    /// Send a proof to `gateway`, then feed back [`Input::Verdict`] or
    /// [`Input::SubmitFailed`].
    Submit {
        /// The gateway.
        gateway: PeerId,
        /// The signed submission.
        submission: Signed<ProofSubmission>,
    },
    /// Ask `gateway` for an awarded batch's transcript, then feed back
    /// [`Input::Transcript`].
    FetchTranscript {
        /// The gateway.
        gateway: PeerId,
        /// The batch.
        batch: BatchId,
    },
    /// Audit an auction off the runtime; keep the evidence of a deviation in `dir`.
    Audit {
        /// The transcript and what this prover holds about it.
        evidence: Box<Evidence>,
        /// Where evidence files go (none: only logged and counted).
        dir: Option<PathBuf>,
    },
}

/// What became of a bid sent straight to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BidAnswer {
    /// The gateway holds it, and signed a receipt for it.
    Taken(Box<Signed<BidReceipt>>),
    /// The gateway answered, and would not take it.
    Refused(String),
    /// No answer (the gateway is unreachable, or the request timed out): the gossip copy
    /// may still have reached it.
    Unanswered(String),
}

/// Where one of the prover's jobs stands.
#[derive(Debug, Clone)]
enum Stage {
    Fetching,
    Proving,
    Submitting(Box<Signed<ProofSubmission>>),
}

#[derive(Debug, Clone)]
struct Held {
    gateway: PeerId,
    batch: BatchId,
    /// The proving deadline on this prover's clock.
    deadline: UnixMillis,
    stage: Stage,
    attempts: u32,
    retry_at: UnixMillis,
}

/// A bid whose auction has not settled. Times are on this prover's clock.
#[derive(Debug)]
struct PendingBid {
    gateway: PeerId,
    commit: Signed<BidCommit>,
    reveal: Signed<BidReveal>,
    /// The gateway's receipts for the commit and the reveal.
    receipts: Vec<Signed<BidReceipt>>,
    /// When commits have closed at the gateway: the reveal goes out then.
    reveal_at: UnixMillis,
    /// The last moment the gateway counts a reveal.
    closes_at: UnixMillis,
    /// Proving window of each job bid on.
    windows: BTreeMap<JobId, u64>,
    published: bool,
    acked: bool,
    attempts: u32,
    retry_at: UnixMillis,
}

/// An auction waiting for its transcript, to be audited.
#[derive(Debug)]
struct PendingAudit {
    gateway: PeerId,
    commit: Signed<BidCommit>,
    reveal: Signed<BidReveal>,
    receipts: Vec<Signed<BidReceipt>>,
}

/// Auctions waiting for their transcript, at most (the oldest is dropped).
const MAX_PENDING_AUDITS: usize = 64;

/// How long past its deadline a prover keeps trying to reach a gateway that is down: a
/// restarted gateway extends deadlines by its outage.
pub const OUTAGE_ALLOWANCE_MS: u64 = 10 * 60 * 1000;

/// The prover of one Supernet.
pub struct ProverCore {
    supernet: Arc<SupernetConfig>,
    key: Keypair,
    settings: ProverSettings,
    salt_source: Box<dyn FnMut() -> [u8; 32] + Send>,
    bids: BTreeMap<BatchId, PendingBid>,
    held: BTreeMap<JobId, Held>,
    finished: VecDeque<(JobId, BatchId)>,
    offsets: BTreeMap<PeerId, Offset>,
    next_announce: UnixMillis,
    earned: Price,
    metrics: ProverMetrics,
    audits: BTreeMap<BatchId, PendingAudit>,
    announcements: VecDeque<Signed<ProverAvailability>>,
    evidence_dir: Option<PathBuf>,
}

impl ProverCore {
    /// A prover. `salt_source` draws the random salts that seal bids.
    pub fn new(
        supernet: Arc<SupernetConfig>,
        key: Keypair,
        settings: ProverSettings,
        salt_source: Box<dyn FnMut() -> [u8; 32] + Send>,
    ) -> Self {
        Self {
            supernet,
            key,
            settings,
            salt_source,
            bids: BTreeMap::new(),
            held: BTreeMap::new(),
            finished: VecDeque::new(),
            offsets: BTreeMap::new(),
            next_announce: 0,
            earned: 0,
            metrics: ProverMetrics::default(),
            audits: BTreeMap::new(),
            announcements: VecDeque::new(),
            evidence_dir: None,
        }
    }

    /// Keeps the evidence of auctions whose audit finds a deviation in `dir`.
    pub fn with_evidence_dir(mut self, dir: PathBuf) -> Self {
        self.evidence_dir = Some(dir);
        self
    }

    /// Reports to `metrics` (by default, to a set nobody reads).
    pub fn with_metrics(mut self, metrics: ProverMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Where the prover reports.
    pub fn metrics(&self) -> &ProverMetrics {
        &self.metrics
    }

    /// The category a circuit of this Supernet proves, if it has it.
    pub fn category_of(&self, circuit: &CircuitId) -> Option<JobCategory> {
        self.supernet.circuit(circuit).map(|c| c.category)
    }

    /// Jobs held (fetching, proving or submitting).
    pub fn in_flight(&self) -> usize {
        self.held.len()
    }

    /// The jobs held, by id.
    pub fn held(&self) -> BTreeSet<JobId> {
        self.held.keys().copied().collect()
    }

    /// Batches bid in whose auction has not settled.
    pub fn open_bids(&self) -> BTreeSet<BatchId> {
        self.bids.keys().copied().collect()
    }

    /// Total paid to this prover so far, by its verdicts.
    pub fn earned(&self) -> Price {
        self.earned
    }

    fn is_gateway(&self, peer: &PeerId) -> bool {
        self.supernet.gateways.contains(peer)
    }

    /// A time on `gateway`'s clock, on ours.
    fn local(&self, gateway: &PeerId, remote: UnixMillis) -> UnixMillis {
        self.offsets
            .get(gateway)
            .map_or(remote, |o| o.to_local(remote))
    }

    /// Reacts to one input.
    pub fn handle(&mut self, input: Input, now: UnixMillis) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick => self.tick(now, &mut out),
            Input::Ready(cost) => {
                self.settings.cost = cost;
                self.next_announce = now;
                self.tick(now, &mut out);
            }
            Input::Gossip { source, message } => match message {
                GossipMessage::Batch(b) if self.is_gateway(&source) => {
                    self.on_batch(source, &b, now, &mut out)
                }
                GossipMessage::Result(r) => {
                    // Only a result for a batch this prover bid in and has not settled: a
                    // replayed old result must not make it hold finished jobs again.
                    let Some(bid) = self.bids.remove(&r.payload.batch_id) else {
                        return out;
                    };
                    if bid.gateway != source {
                        self.bids.insert(r.payload.batch_id, bid);
                        return out;
                    }
                    out.push(Output::ForgetBid(r.payload.batch_id));
                    // Audit the auction once its transcript is in.
                    if self.audits.len() >= MAX_PENDING_AUDITS {
                        self.audits.pop_first();
                    }
                    self.audits.insert(
                        r.payload.batch_id,
                        PendingAudit {
                            gateway: source,
                            commit: bid.commit.clone(),
                            reveal: bid.reveal.clone(),
                            receipts: bid.receipts.clone(),
                        },
                    );
                    out.push(Output::FetchTranscript {
                        gateway: source,
                        batch: r.payload.batch_id,
                    });
                    for won in &r.payload.award.awarded {
                        if won.prover != self.key.public() {
                            continue;
                        }
                        let window = bid.windows.get(&won.job_id).copied().unwrap_or(0);
                        self.take(
                            source,
                            r.payload.batch_id,
                            won.job_id,
                            now.saturating_add(window),
                            now,
                            &mut out,
                        );
                    }
                }
                _ => {}
            },
            Input::Connected(peer) => {
                if self.is_gateway(&peer) {
                    // A gateway (back) in reach: catch up on what it assigned us, and retry
                    // what was waiting for it now rather than at the end of a backoff.
                    out.push(Output::AskAssignments { gateway: peer });
                    for held in self.held.values_mut() {
                        if held.gateway == peer && held.attempts > 0 {
                            held.retry_at = now;
                        }
                    }
                    for bid in self.bids.values_mut() {
                        if bid.gateway == peer && !bid.acked && bid.attempts > 0 {
                            bid.retry_at = now;
                        }
                    }
                }
            }
            Input::Request {
                peer,
                token,
                request,
            } => {
                let mut taken = Vec::new();
                let response = match request {
                    Request::Assign(assignment) => {
                        match self.on_assignment(peer, &assignment, now, &mut taken) {
                            Ok(()) => Response::Ack,
                            Err(reason) => Response::Refused { reason },
                        }
                    }
                    _ => Response::Refused {
                        reason: "a prover serves no such request".into(),
                    },
                };
                out.push(Output::Respond { token, response });
                out.append(&mut taken);
            }
            Input::Assignments {
                gateway,
                assignments,
            } => {
                for a in assignments {
                    if let Err(reason) = self.on_assignment(gateway, &a, now, &mut out) {
                        warn!(job_id = %a.payload.job_id, %reason, "assignment refused");
                    }
                }
            }
            Input::BidAnswered {
                batch,
                reveal,
                result,
            } => self.on_bid_answer(batch, reveal, result, now, &mut out),
            Input::Transcript { batch, result } => self.on_transcript(batch, result, &mut out),
            Input::JobInput { assignment, input } => {
                let a = &assignment.payload;
                let Some(held) = self.held.get(&a.job_id) else {
                    return out;
                };
                let digest = Digest(*blake3::hash(&input).as_bytes());
                let genuine = assignment.verify_for(&self.supernet.id).is_ok()
                    && assignment.signer.peer_id().ok() == Some(held.gateway)
                    && a.prover == self.key.public()
                    && digest == a.input_digest;
                if !genuine {
                    warn!(job_id = %a.job_id, "input or assignment does not check out; releasing");
                    self.held.remove(&a.job_id);
                    return out;
                }
                let deadline = self.local(&held.gateway, a.proving_deadline);
                if let Some(held) = self.held.get_mut(&a.job_id) {
                    held.deadline = deadline;
                    held.stage = Stage::Proving;
                    held.attempts = 0;
                }
                out.push(Output::Prove {
                    job: a.job_id,
                    circuit: a.circuit.clone(),
                    input,
                });
            }
            Input::JobInputFailed {
                job,
                reason,
                refused,
            } => {
                if refused {
                    // The gateway is up and says the job is not ours (any more).
                    warn!(job_id = %job, %reason, "the gateway will not give the job's input; releasing");
                    self.release(job);
                } else {
                    self.retry_later(job, now, &reason);
                }
            }
            Input::Proved { job, result } => {
                let Some(held) = self.held.get_mut(&job) else {
                    return out;
                };
                match result {
                    Ok(proof) => {
                        let submission = Signed::sign(
                            ProofSubmission {
                                supernet: self.supernet.id.clone(),
                                batch_id: held.batch,
                                job_id: job,
                                proof: proof.proof,
                                public_inputs: proof.public_inputs,
                            },
                            &self.key,
                        );
                        held.stage = Stage::Submitting(Box::new(submission.clone()));
                        held.attempts = 0;
                        out.push(Output::Submit {
                            gateway: held.gateway,
                            submission,
                        });
                    }
                    Err(reason) => {
                        warn!(job_id = %job, %reason, "proving failed; releasing the job");
                        self.release(job);
                    }
                }
            }
            Input::Verdict { job, outcome } => {
                let (label, paid) = match &outcome {
                    ProofOutcome::Accepted { paid } => ("accepted", *paid),
                    ProofOutcome::Rejected { .. } => ("rejected", 0),
                    ProofOutcome::Late => ("late", 0),
                    ProofOutcome::NotAssigned => ("not_assigned", 0),
                };
                self.metrics.verdict(label, paid);
                if let ProofOutcome::Accepted { paid } = outcome {
                    self.earned = self.earned.saturating_add(paid);
                    info!(job_id = %job, paid, "proof accepted");
                } else {
                    warn!(job_id = %job, ?outcome, "proof not accepted");
                }
                self.release(job);
            }
            Input::SubmitFailed { job, reason } => self.retry_later(job, now, &reason),
        }
        out
    }
}

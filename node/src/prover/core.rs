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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use libp2p::PeerId;
use tracing::{debug, info, warn};

use lagrange_protocol::audit::Evidence;
use lagrange_protocol::commit::seal_bids;
use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::messages::{
    AuctionTranscript, BatchAnnouncement, Bid, BidCommit, BidReceipt, BidReveal, GossipMessage,
    HardwareSummary, JobAssignment, ProofOutcome, ProofSubmission, ProverAvailability, Salt,
};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, Price, Signed, UnixMillis,
};

use serde::{Deserialize, Serialize};

use crate::clock::Offset;
use crate::metrics::ProverMetrics;
use crate::workload::ProofBytes;

/// How a prover prices a job: its measured proving time for the category, times a price per
/// second, plus a margin. Categories without a measurement are not bid on.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    /// Measured proving time per category, in milliseconds.
    pub proving_ms: BTreeMap<JobCategory, u64>,
    /// Price asked per second of proving.
    pub price_per_second: u64,
    /// Margin on top, in percent.
    pub margin_percent: u64,
}

impl CostModel {
    /// The price asked for one job of `category`, or `None` if the prover does not serve it
    /// (or its price does not fit in 64 bits).
    pub fn price(&self, category: JobCategory) -> Option<Price> {
        let ms = u128::from(*self.proving_ms.get(&category)?);
        let base = (ms * u128::from(self.price_per_second))
            .div_ceil(1000)
            .max(1);
        let price = base + (base * u128::from(self.margin_percent)).div_ceil(100);
        Price::try_from(price).ok()
    }
}

/// What the prover announces about itself.
#[derive(Debug, Clone)]
pub struct ProverSettings {
    /// Jobs proven at once.
    pub capacity: u32,
    /// The pricing.
    pub cost: CostModel,
    /// The hardware summary it reports.
    pub hardware: HardwareSummary,
    /// How often it re-announces, in milliseconds.
    pub announce_every_ms: u64,
}

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

/// A sealed bid, as saved across restarts: all a prover needs to reveal it after a crash.
/// Times are on this prover's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBid {
    /// The batch bid in.
    pub batch: BatchId,
    /// The gateway's peer id, as bytes.
    pub gateway: Vec<u8>,
    /// The signed commit sent.
    pub commit: Signed<BidCommit>,
    /// The signed reveal that opens it (the bids and the salt).
    pub reveal: Signed<BidReveal>,
    /// When commits have closed at the gateway: the reveal goes out then.
    pub reveal_at: UnixMillis,
    /// The last moment the gateway counts a reveal.
    pub closes_at: UnixMillis,
    /// Proving window of each job bid on.
    pub windows: Vec<(JobId, u64)>,
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

/// Own availability announcements kept for audits.
const KEPT_ANNOUNCEMENTS: usize = 16;

/// Retries of a fetch whose deadline is not known yet, at most.
const MAX_BLIND_ATTEMPTS: u32 = 8;

/// How long past its deadline a prover keeps trying to reach a gateway that is down: a
/// restarted gateway extends deadlines by its outage.
pub const OUTAGE_ALLOWANCE_MS: u64 = 10 * 60 * 1000;

/// How long after the reveal window's close (and its grace) a missing result is asked for.
const RESULT_OVERDUE_MS: u64 = 500;

/// Jobs remembered as finished, so a late copy of an assignment does not revive one.
const FINISHED_MEMORY: usize = 1024;

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

    /// Takes back the sealed bids saved before a restart: each one whose auction still counts
    /// reveals is revealed as usual (at once, if commits have closed), over gossip and
    /// directly, again until the gateway takes it; the others are forgotten.
    pub fn resume_bids(&mut self, saved: Vec<SealedBid>, now: UnixMillis) -> Vec<Output> {
        let mut out = Vec::new();
        for sealed in saved {
            let batch = sealed.batch;
            let gateway = PeerId::from_bytes(&sealed.gateway).ok();
            let ours = sealed.commit.signer == self.key.public()
                && sealed.commit.payload.batch_id == batch
                && sealed.reveal.payload.batch_id == batch;
            let (Some(gateway), true) = (gateway, ours) else {
                warn!(batch_id = %batch, "forgetting a saved sealed bid that is not ours");
                out.push(Output::ForgetBid(batch));
                continue;
            };
            if now > sealed.closes_at {
                info!(batch_id = %batch, "forgetting a sealed bid whose reveal window closed while stopped");
                out.push(Output::ForgetBid(batch));
                continue;
            }
            if self.bids.contains_key(&batch) {
                continue;
            }
            info!(batch_id = %batch, "resuming a sealed bid committed before the restart");
            let bid = self.bids.entry(batch).or_insert(PendingBid {
                gateway,
                commit: sealed.commit,
                reveal: sealed.reveal,
                receipts: Vec::new(),
                reveal_at: sealed.reveal_at,
                closes_at: sealed.closes_at,
                windows: sealed.windows.into_iter().collect(),
                published: false,
                acked: false,
                attempts: 0,
                retry_at: sealed.reveal_at,
            });
            reveal_if_due(bid, now, &mut out);
        }
        out
    }

    /// Total paid to this prover so far, by its verdicts.
    pub fn earned(&self) -> Price {
        self.earned
    }

    /// Jobs this prover may still bid on: capacity minus jobs held minus jobs bid on in
    /// auctions that have not settled.
    fn free_capacity(&self) -> usize {
        let bid: usize = self.bids.values().map(|b| b.windows.len()).sum();
        (self.settings.capacity as usize).saturating_sub(self.held.len() + bid)
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
            Input::Gossip { source, message } => match message {
                GossipMessage::Batch(b) if self.is_gateway(&source) => {
                    self.on_batch(source, &b.payload, now, &mut out)
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

    /// Takes a job told of directly by a gateway (or in its answer to
    /// [`Output::AskAssignments`]): holds it if it is new, or moves its deadline if the
    /// gateway extended it. `Err` says why the assignment was not taken.
    pub fn on_assignment(
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
    fn take(
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

    fn release(&mut self, job: JobId) {
        if let Some(held) = self.held.remove(&job) {
            if self.finished.len() == FINISHED_MEMORY {
                self.finished.pop_front();
            }
            self.finished.push_back((job, held.batch));
        }
    }

    fn on_transcript(
        &mut self,
        batch: BatchId,
        result: Result<Box<AuctionTranscript>, String>,
        out: &mut Vec<Output>,
    ) {
        let Some(pending) = self.audits.remove(&batch) else {
            return;
        };
        match result {
            Ok(transcript) if transcript.batch.payload.batch_id == batch => {
                out.push(Output::Audit {
                    evidence: Box::new(Evidence {
                        transcript: *transcript,
                        receipts: pending.receipts,
                        commits: vec![pending.commit],
                        reveals: vec![pending.reveal],
                        availability: self.announcements.iter().cloned().collect(),
                    }),
                    dir: self.evidence_dir.clone(),
                });
            }
            Ok(_) => {
                warn!(batch_id = %batch, peer = %pending.gateway, "the gateway sent the transcript of another batch");
                self.metrics.audited("unavailable");
            }
            Err(reason) => {
                debug!(batch_id = %batch, %reason, "no transcript to audit");
                self.metrics.audited("unavailable");
            }
        }
    }

    fn on_bid_answer(
        &mut self,
        batch: BatchId,
        reveal: bool,
        result: BidAnswer,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) {
        let Some(bid) = self.bids.get_mut(&batch) else {
            return;
        };
        // Keep a receipt only if it names this bid and the gateway's key; its signature is
        // checked by the audit, which ignores one that does not verify.
        if let BidAnswer::Taken(receipt) = &result {
            let digest = if reveal {
                bid.reveal.digest()
            } else {
                bid.commit.digest()
            };
            let for_this_bid = receipt.payload.bid == digest
                && receipt
                    .signer
                    .peer_id()
                    .is_ok_and(|peer| peer == bid.gateway);
            if for_this_bid {
                bid.receipts.push((**receipt).clone());
            }
        }
        match (reveal, result) {
            (true, BidAnswer::Taken(_)) => bid.acked = true,
            (false, BidAnswer::Taken(_)) => {
                info!(batch_id = %batch, peer = %bid.gateway, "bid committed");
            }
            (false, BidAnswer::Refused(reason)) => {
                // The gateway holds no commit of ours: there is no bid; free the capacity.
                warn!(batch_id = %batch, %reason, "the gateway did not take the commit");
                self.bids.remove(&batch);
                out.push(Output::ForgetBid(batch));
            }
            // The gossip copy may be in the book: keep the bid, and reveal as usual.
            (false, BidAnswer::Unanswered(reason)) => {
                debug!(batch_id = %batch, %reason, "no answer to the commit");
            }
            (true, BidAnswer::Refused(reason) | BidAnswer::Unanswered(reason)) => {
                bid.attempts = bid.attempts.saturating_add(1);
                if bid.attempts == 1 {
                    warn!(batch_id = %batch, %reason, "reveal not taken yet; sending it again");
                } else {
                    debug!(batch_id = %batch, %reason, attempts = bid.attempts, "reveal not taken yet");
                }
                bid.retry_at = now + 50 * u64::from(1u32 << bid.attempts.min(4));
            }
        }
    }

    fn retry_later(&mut self, job: JobId, now: UnixMillis, reason: &str) {
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

    fn tick(&mut self, now: UnixMillis, out: &mut Vec<Output>) {
        if now >= self.next_announce {
            self.next_announce = now + self.settings.announce_every_ms;
            let announcement = Signed::sign(
                ProverAvailability {
                    supernet: self.supernet.id.clone(),
                    categories: self.settings.cost.proving_ms.keys().copied().collect(),
                    capacity: self.settings.capacity,
                    hardware: self.settings.hardware.clone(),
                    node_version: env!("CARGO_PKG_VERSION").to_string(),
                    announced_at: now,
                },
                &self.key,
            );
            if self.announcements.len() >= KEPT_ANNOUNCEMENTS {
                self.announcements.pop_front();
            }
            self.announcements.push_back(announcement.clone());
            out.push(Output::Publish(GossipMessage::Availability(announcement)));
        }
        // Reveals: once commits have closed at the gateway, over gossip (for every peer to
        // audit) and directly (for an answer), again until the gateway takes it.
        let mut ask = BTreeSet::new();
        self.bids.retain(|batch, bid| {
            if now > bid.closes_at.saturating_add(RESULT_OVERDUE_MS) {
                // No result heard: ask the gateway what this prover holds, and settle.
                debug!(batch_id = %batch, "auction result overdue; asking the gateway");
                ask.insert(bid.gateway);
                out.push(Output::ForgetBid(*batch));
                return false;
            }
            reveal_if_due(bid, now, out);
            true
        });
        out.extend(
            ask.into_iter()
                .map(|gateway| Output::AskAssignments { gateway }),
        );
        // Retries.
        for (job, held) in self.held.iter_mut() {
            if held.attempts == 0 || now < held.retry_at {
                continue;
            }
            held.retry_at = UnixMillis::MAX;
            match &held.stage {
                Stage::Fetching => out.push(Output::FetchInput {
                    gateway: held.gateway,
                    job: *job,
                }),
                Stage::Submitting(s) => out.push(Output::Submit {
                    gateway: held.gateway,
                    submission: (**s).clone(),
                }),
                Stage::Proving => {}
            }
        }
    }

    fn on_batch(
        &mut self,
        gateway: PeerId,
        batch: &BatchAnnouncement,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) {
        // The gateway's clock, seen from here: its announcement time against our receipt.
        self.offsets
            .entry(gateway)
            .or_default()
            .observe(batch.announced_at, now);
        let commit_deadline = self.local(&gateway, batch.commit_deadline);
        if now > commit_deadline || self.bids.contains_key(&batch.batch_id) {
            return;
        }
        // Bid on at most `free` jobs. Which ones: an order keyed by this prover's key, so
        // provers spread over a batch instead of all bidding on its first jobs.
        let free = self.free_capacity();
        let me = self.key.public();
        let mut affordable: Vec<(blake3::Hash, Bid, u64)> = batch
            .jobs
            .iter()
            .filter_map(|spec| {
                let price = self.settings.cost.price(spec.category)?;
                (price <= spec.reserve_price).then(|| {
                    let mut h = blake3::Hasher::new();
                    h.update(me.as_bytes());
                    h.update(spec.job_id.task.as_bytes());
                    h.update(&spec.job_id.index.to_le_bytes());
                    (
                        h.finalize(),
                        Bid {
                            job_id: spec.job_id,
                            price,
                        },
                        spec.proving_window_ms,
                    )
                })
            })
            .collect();
        affordable.sort_by_key(|(rank, _, _)| *rank.as_bytes());
        affordable.truncate(free);
        if affordable.is_empty() {
            return;
        }
        let windows: BTreeMap<JobId, u64> =
            affordable.iter().map(|(_, b, w)| (b.job_id, *w)).collect();
        let bids: Vec<Bid> = affordable.into_iter().map(|(_, b, _)| b).collect();
        let jobs = bids.len();
        let salt = Salt((self.salt_source)());
        let (commit, reveal) = seal_bids(batch, &self.key.public(), bids, salt);
        debug!(batch_id = %batch.batch_id, jobs, "bidding");
        self.metrics.bid(jobs);
        // Reveal a little after commits close, measured on our clock from when we heard of
        // the batch, so neither skew nor a slow announcement makes it early.
        let reveal_window = batch.reveal_deadline.saturating_sub(batch.commit_deadline);
        let reveal_at = commit_deadline.saturating_add((reveal_window / 10).clamp(1, 100));
        let closes_at = self
            .local(&gateway, batch.reveal_deadline)
            .saturating_add(self.supernet.auction.reveal_grace_ms);
        let commit = Signed::sign(commit, &self.key);
        let reveal = Signed::sign(reveal, &self.key);
        // Saved before the commit goes out: a crash from here on still reveals.
        out.push(Output::SaveBid(Box::new(SealedBid {
            batch: batch.batch_id,
            gateway: gateway.to_bytes(),
            commit: commit.clone(),
            reveal: reveal.clone(),
            reveal_at,
            closes_at,
            windows: windows.iter().map(|(job, w)| (*job, *w)).collect(),
        })));
        self.bids.insert(
            batch.batch_id,
            PendingBid {
                gateway,
                commit: commit.clone(),
                reveal,
                receipts: Vec::new(),
                reveal_at,
                closes_at,
                windows,
                published: false,
                acked: false,
                attempts: 0,
                retry_at: reveal_at,
            },
        );
        out.push(Output::Publish(GossipMessage::Commit(commit.clone())));
        out.push(Output::SendCommit { gateway, commit });
    }
}

/// Reveals `bid` if commits have closed and the gateway still counts reveals: over gossip
/// once (for every peer to audit), and directly (for an answer) whenever a retry is due.
fn reveal_if_due(bid: &mut PendingBid, now: UnixMillis, out: &mut Vec<Output>) {
    if now < bid.reveal_at || now > bid.closes_at {
        return;
    }
    if !bid.published {
        bid.published = true;
        out.push(Output::Publish(GossipMessage::Reveal(bid.reveal.clone())));
    }
    if !bid.acked && now >= bid.retry_at {
        bid.retry_at = UnixMillis::MAX;
        out.push(Output::SendReveal {
            gateway: bid.gateway,
            reveal: bid.reveal.clone(),
        });
    }
}

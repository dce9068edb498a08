//! The prover as a state machine: it announces itself, bids on batches from its cost model
//! within its free capacity, reveals after the commit deadline, fetches the inputs of jobs it
//! wins, proves them off the runtime and submits the proofs, retrying while the gateway is
//! unreachable and the deadline allows.

use std::collections::BTreeMap;
use std::sync::Arc;

use libp2p::PeerId;
use tracing::{debug, info, warn};

use lagrange_protocol::commit::seal_bids;
use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::messages::{
    BatchAnnouncement, Bid, BidReveal, GossipMessage, HardwareSummary, JobAssignment, ProofOutcome,
    ProofSubmission, ProverAvailability, Salt,
};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, Price, Signed, UnixMillis,
};

use crate::metrics::ProverMetrics;
use crate::store::HeldJob;
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
    /// The price asked for one job of `category`, or `None` if the prover does not serve it.
    pub fn price(&self, category: JobCategory) -> Option<Price> {
        let ms = *self.proving_ms.get(&category)?;
        let base = (ms * self.price_per_second).div_ceil(1000).max(1);
        Some(base + (base * self.margin_percent).div_ceil(100))
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
    },
    /// A proof finished (or failed).
    Proved {
        /// The job.
        job: JobId,
        /// The proof, or why proving failed.
        result: Result<ProofBytes, String>,
    },
    /// The gateway answered a submission.
    Verdict {
        /// The job.
        job: JobId,
        /// The decision.
        outcome: ProofOutcome,
    },
    /// A submission could not reach the gateway.
    SubmitFailed {
        /// The job.
        job: JobId,
        /// Why.
        reason: String,
    },
}

/// Something the driver must do.
#[derive(Debug)]
pub enum Output {
    /// Publish on gossip.
    Publish(GossipMessage),
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
    deadline: UnixMillis,
    stage: Stage,
    attempts: u32,
    retry_at: UnixMillis,
}

/// A reveal waiting for its window.
struct PendingReveal {
    reveal: Signed<BidReveal>,
    commit_deadline: UnixMillis,
    reveal_deadline: UnixMillis,
    jobs: usize,
    sent: bool,
}

/// Retries of a failed fetch or submission, at most.
const MAX_ATTEMPTS: u32 = 8;

/// The prover of one Supernet.
pub struct ProverCore {
    supernet: Arc<SupernetConfig>,
    key: Keypair,
    settings: ProverSettings,
    salt_source: Box<dyn FnMut() -> [u8; 32] + Send>,
    reveals: BTreeMap<BatchId, PendingReveal>,
    held: BTreeMap<JobId, Held>,
    next_announce: UnixMillis,
    earned: Price,
    metrics: ProverMetrics,
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
            reveals: BTreeMap::new(),
            held: BTreeMap::new(),
            next_announce: 0,
            earned: 0,
            metrics: ProverMetrics::default(),
        }
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

    /// Takes back jobs held before a restart: each one still within its deadline is fetched
    /// again and proven (its assignment stands at the gateway); the others are released.
    pub fn resume(&mut self, jobs: Vec<HeldJob>, now: UnixMillis) -> Vec<Output> {
        let mut out = Vec::new();
        for held in jobs {
            let Ok(gateway) = PeerId::from_bytes(&held.gateway) else {
                continue;
            };
            if held.deadline < now {
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

    /// Total paid to this prover so far, by its verdicts.
    pub fn earned(&self) -> Price {
        self.earned
    }

    /// Jobs this prover may still bid on: capacity minus jobs held minus jobs bid on in
    /// auctions that are still running.
    fn free_capacity(&self) -> usize {
        let bid: usize = self.reveals.values().map(|r| r.jobs).sum();
        (self.settings.capacity as usize).saturating_sub(self.held.len() + bid)
    }

    /// Reacts to one input.
    pub fn handle(&mut self, input: Input, now: UnixMillis) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick => self.tick(now, &mut out),
            Input::Gossip { source, message } => match message {
                GossipMessage::Batch(b) => self.on_batch(&b.payload, now, &mut out),
                GossipMessage::Result(r) => {
                    for won in &r.payload.award.awarded {
                        if won.prover != self.key.public() || self.held.contains_key(&won.job_id) {
                            continue;
                        }
                        info!(job_id = %won.job_id, price = won.price, "won job");
                        self.metrics.win();
                        self.held.insert(
                            won.job_id,
                            Held {
                                gateway: source,
                                batch: r.payload.batch_id,
                                deadline: UnixMillis::MAX,
                                stage: Stage::Fetching,
                                attempts: 0,
                                retry_at: now,
                            },
                        );
                        out.push(Output::FetchInput {
                            gateway: source,
                            job: won.job_id,
                        });
                    }
                    self.reveals.remove(&r.payload.batch_id);
                }
                _ => {}
            },
            Input::JobInput { assignment, input } => {
                let a = &assignment.payload;
                let Some(held) = self.held.get_mut(&a.job_id) else {
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
                held.deadline = a.proving_deadline;
                held.stage = Stage::Proving;
                out.push(Output::Prove {
                    job: a.job_id,
                    circuit: a.circuit.clone(),
                    input,
                });
            }
            Input::JobInputFailed { job, reason } => {
                self.retry_later(job, now, &reason);
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
                        out.push(Output::Submit {
                            gateway: held.gateway,
                            submission,
                        });
                    }
                    Err(reason) => {
                        warn!(job_id = %job, %reason, "proving failed; releasing the job");
                        self.held.remove(&job);
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
                    self.earned += paid;
                    info!(job_id = %job, paid, "proof accepted");
                } else {
                    warn!(job_id = %job, ?outcome, "proof not accepted");
                }
                self.held.remove(&job);
            }
            Input::SubmitFailed { job, reason } => self.retry_later(job, now, &reason),
        }
        out
    }

    fn retry_later(&mut self, job: JobId, now: UnixMillis, reason: &str) {
        if let Some(held) = self.held.get_mut(&job) {
            held.attempts += 1;
            if held.attempts > MAX_ATTEMPTS || now > held.deadline {
                warn!(job_id = %job, %reason, "giving up on the job");
                self.held.remove(&job);
            } else {
                debug!(job_id = %job, %reason, attempts = held.attempts, "will retry");
                held.retry_at = now + 200 * u64::from(1u32 << held.attempts.min(5));
            }
        }
    }

    fn tick(&mut self, now: UnixMillis, out: &mut Vec<Output>) {
        if now >= self.next_announce {
            self.next_announce = now + self.settings.announce_every_ms;
            out.push(Output::Publish(GossipMessage::Availability(Signed::sign(
                ProverAvailability {
                    supernet: self.supernet.id.clone(),
                    categories: self.settings.cost.proving_ms.keys().copied().collect(),
                    capacity: self.settings.capacity,
                    hardware: self.settings.hardware.clone(),
                    node_version: env!("CARGO_PKG_VERSION").to_string(),
                    announced_at: now,
                },
                &self.key,
            ))));
        }
        // Reveals whose window has opened. A batch whose result never arrived stops holding
        // capacity one batch interval after its reveal window.
        let grace = self.supernet.auction.batch_interval_ms;
        self.reveals
            .retain(|_, r| now <= r.reveal_deadline.saturating_add(grace));
        for r in self.reveals.values_mut() {
            if !r.sent && now > r.commit_deadline && now <= r.reveal_deadline {
                r.sent = true;
                out.push(Output::Publish(GossipMessage::Reveal(r.reveal.clone())));
            }
        }
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

    fn on_batch(&mut self, batch: &BatchAnnouncement, now: UnixMillis, out: &mut Vec<Output>) {
        if now > batch.commit_deadline || self.reveals.contains_key(&batch.batch_id) {
            return;
        }
        // Bid on at most `free` jobs. Which ones: an order keyed by this prover's key, so
        // provers spread over a batch instead of all bidding on its first jobs.
        let free = self.free_capacity();
        let me = self.key.public();
        let mut affordable: Vec<(blake3::Hash, Bid)> = batch
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
                    )
                })
            })
            .collect();
        affordable.sort_by_key(|(rank, _)| *rank.as_bytes());
        let bids: Vec<Bid> = affordable.into_iter().take(free).map(|(_, b)| b).collect();
        if bids.is_empty() {
            return;
        }
        let jobs = bids.len();
        let salt = Salt((self.salt_source)());
        let (commit, reveal) = seal_bids(batch, &self.key.public(), bids, salt);
        debug!(batch_id = %batch.batch_id, jobs, "bidding");
        self.metrics.bid(jobs);
        self.reveals.insert(
            batch.batch_id,
            PendingReveal {
                reveal: Signed::sign(reveal, &self.key),
                commit_deadline: batch.commit_deadline,
                reveal_deadline: batch.reveal_deadline,
                jobs,
                sent: false,
            },
        );
        out.push(Output::Publish(GossipMessage::Commit(Signed::sign(
            commit, &self.key,
        ))));
    }
}
